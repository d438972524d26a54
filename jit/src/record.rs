//! The recorder: follows the interpreter one instruction at a time (it is called
//! before each instruction runs, with the frame's slots) and translates what runs
//! into IR, from a loop's back-edge around to the same back-edge.
//!
//! Values come from the slots the first time a slot is read (an `sload` with a tag
//! guard, typed by the value actually there) and from the IR after the trace writes
//! the slot; branch directions come from the values the interpreter is about to
//! compare, and become guards of the direction taken.
//!
//! The trace writes a slot when the interpreter would (`sstore`), so memory always
//! holds the interpreter's state for the instruction being run; each guard's snapshot
//! is the instruction it guards, where the interpreter resumes on an exit and takes
//! the other path itself.
//!
//! Calls (`callk`, `callself`, and `call` of a function value or closure, guarded on
//! the function index) are inlined: the recorder follows the interpreter into the
//! callee, whose frame is virtual in the trace. Its slots are addressed from the
//! trace frame's slot 0 (the callee's slot `s` is slot `base + s` of the trace, where
//! the interpreter would put it), the slots its arguments do not fill are cleared as
//! the interpreter's push clears them, and a `ret` writes the caller's result slot.
//! Every snapshot lists the inlined frames live at its guard, so that an exit pushes
//! them on the VM's frame stack exactly as the interpreter would have. A return from
//! the trace's own frame, and a loop inside a callee, end the recording.
//!
//! Values of every type are carried: a slot, field, element or global is loaded with a
//! guard on the tag (and a constructor's type id) it had when recorded, so the IR knows
//! each value's type, and stores write the same tag back. Data reads (`field`,
//! `getenv`, `head`/`tail`, `refget`, `aget`) guard the object's kind, and what else the
//! interpreter checks, before loading; pattern matching (`switch`, `jntag`, `gettag`,
//! `jnil`/`jcons`) guards the constructor seen. Heap stores go through `hstore` (the
//! write barrier).
//!
//! Allocations (`con`, `cons`, `tuple`, `alit`, `closure`) are recorded as an inline
//! `new` followed by the stores of its fields; header guards and loads on such an
//! object fold to what was stored (so that allocation sinking, `opt`, can remove it).
//!
//! Anything the recorder cannot translate (other IO, inner loops without a trace)
//! aborts the recording with the reason; the VM backs the anchor off and keeps
//! interpreting.

use crate::ir::{
    tagword_of, BuildError, CCall, CRet, ClosureSrc, HelperCall, IrOp, IrType, Ref, SnapFrame,
    Trace, TraceBuilder,
};
use crate::kinds::FieldKinds;
use hashvm_format::builtin;
use hashvm_format::insn::{Insn, Operand};
use hashvm_format::liveness::Liveness;
use hashvm_format::opcode::Op;
use hashvm_vm::jit::layout;
use hashvm_vm::{Tag, Value};
use std::rc::Rc;

/// Instructions after which a recording gives up (a loop body this long is not a
/// good trace for this backend yet).
pub const MAX_TRACE_INSNS: usize = 500;

/// Values an object allocated in a trace may hold (each is live in a register until
/// stored).
pub const MAX_INLINE_FIELDS: usize = 8;

/// Calls a trace inlines at most at once: deeper recursion aborts the recording
/// (each level is a frame an exit may have to push, and a longer trace). 12 rather
/// than 8 lets awfy_storage's tree builder (array.init, a lambda, the recursive
/// builder: three frames a level) inline four levels (4,388 exits against 19,331);
/// 24 gained nothing more on pmap, awfy_storage or awfy_list and doubled pmap's
/// compile time (benches/NOTES.md, 2026-12-05). The trace length limit bounds the rest.
pub const MAX_INLINE_DEPTH: usize = 12;

/// What the recorder answers for one instruction.
#[derive(Debug)]
pub enum Step {
    /// Run it and call again before the next one.
    Continue,
    /// The loop closed: here is its trace (enter it at the anchor from now on), boxed:
    /// a step is answered for every instruction, a trace once.
    Done(Box<Trace>),
    /// The recording failed, for this reason.
    Abort(String),
}

/// What the recorder asks the VM about values and functions.
pub trait Probe {
    /// Element `i` of the array `a` (`None`: not an array, or out of range).
    fn elem(&self, a: Value, i: i64) -> Option<Value>;
    /// Arity and frame size of function `f`.
    fn shape(&self, f: u32) -> Option<(u16, u16)>;
    /// The function a call of `v` runs directly (a FUNC value or a closure).
    fn callee(&self, v: Value) -> Option<u32>;
    /// Global `g`'s value.
    fn global(&self, g: u32) -> Option<Value>;
    /// The header of the object `v` (`None`: not an object).
    fn header(&self, v: Value) -> Option<ObjHeader>;
    /// Value field `i` of the object `v` (`None`: none such).
    fn field(&self, v: Value, i: usize) -> Option<Value>;
    /// Foreign function `fi`, if a trace may call it directly.
    fn direct_foreign(&self, _fi: u32) -> Option<hashvm_vm::ffi::DirectForeign> {
        None
    }
    /// The frame record `i` places under the innermost (0: the innermost).
    fn frame(&self, _i: usize) -> Option<hashvm_vm::vm::Frame> {
        None
    }
    /// The anchor of the back-edge at `ip` of `func`, if a trace is installed there.
    fn loop_trace(&self, _func: u32, _ip: u32) -> Option<hashvm_vm::jit::Anchor> {
        None
    }
    /// The JIT's index of the root of `func`'s function-entry tree, if one is compiled
    /// (a call of `func` then calls it: `call.tree`).
    fn entry_tree(&self, _func: u32) -> Option<u32> {
        None
    }
    /// Whether `func` calls itself (see [`is_self_recursive`]) and its entry may still
    /// get a function-entry tree (its anchor is not blacklisted).
    fn self_recursive(&self, _func: u32) -> bool {
        false
    }
    /// Bit `j`: no path from function `f`'s entry reads its slot `j` before writing
    /// it (the bytecode's liveness at offset 0; 0 when unknown).
    fn entry_unread(&self, _f: u32) -> u64 {
        0
    }
}

/// The most `ne.i64` guards one field store gets to tell its object from others
/// (`Recorder::disambiguate`): each is a compare and a branch on every pass; n-body
/// needs one.
pub const MAX_DISTINCT: usize = 2;

/// Returns below the trace's frame (`ret.down`) one trace may follow.
pub const MAX_RET_DOWN: u32 = 4;

pub use hashvm_vm::jit::ObjHeader;

/// The instruction about to run, as the recorder sees it: the VM's own record of it
/// (one type, so the recorder and the VM cannot disagree on what a point holds).
pub use hashvm_vm::jit::RecordPoint as Point;

/// Whether the function with bytecode `code` (index `func`) calls itself: only such
/// functions get function-entry traces (entering a trace costs more than the
/// interpreter spends on a small function's call).
pub fn is_self_recursive(func: u32, code: &[u8]) -> bool {
    self_calls(func, code, true)
}

/// Whether the function with bytecode `code` (index `func`) calls itself other than in
/// tail position (`callself`, or `callk` of itself): the calls a function-entry tree
/// makes real (`call.rec`), in its root or in side traces recorded later.
pub fn calls_itself(func: u32, code: &[u8]) -> bool {
    self_calls(func, code, false)
}

/// Whether `code` (function `func`) has a call of itself: `callself` or `callk` of
/// `func`, and with `tail` also `tcallself` or `tcallk` of `func`.
fn self_calls(func: u32, code: &[u8], tail: bool) -> bool {
    let mut ip = 0;
    while let Ok((insn, len)) = Insn::decode(code, ip) {
        let callee = |k: usize| matches!(insn.args.get(k), Some(Operand::Func(f)) if *f == func);
        let hit = match insn.op.unfused() {
            Op::CallSelf => true,
            Op::CallK => callee(1),
            Op::TCallSelf => tail,
            Op::TCallK => tail && callee(0),
            _ => false,
        };
        if hit {
            return true;
        }
        ip += len;
        if len == 0 {
            break;
        }
    }
    false
}

/// Records one loop trace anchored at the back-edge instruction at `anchor_ip` of
/// function `func`.
pub struct Recorder {
    func: u32,
    anchor_ip: u32,
    b: TraceBuilder,
    /// Per slot (from the trace frame's slot 0): the IR value the trace holds for it.
    map: Vec<Option<Ref>>,
    /// Header facts of the objects in slots (absolute numbers, as `map`'s) that a
    /// real call (`call.rec`) leaves as they were, carried over the call to their
    /// reload after it ([`Recorder::get_abs`]): kind, meta word (a data object's
    /// only: an array's elements kind changes when a callee converts it), and the
    /// largest `k` its field count exceeds. Forgotten when the slot is written or
    /// cleared (an inlined callee's push clears its frame's slots), and all at a
    /// helper call, a `call.tree`, `ret.down` or a new recording.
    kept: Vec<(usize, KeptFacts)>,
    /// The facts a `call.rec` being skipped captured, [`Recorder::kept`] once the
    /// trace resumes after it.
    kept_next: Vec<(usize, KeptFacts)>,
    started: bool,
    steps: usize,
    /// The trace frame's base and the frame count at the anchor.
    start: Option<(usize, usize)>,
    /// The inlined frames, outermost first.
    frames: Vec<SnapFrame>,
    /// The trace is anchored at a loop's back-edge (not at a function entry): it ends
    /// when the recording reaches the anchor again in the trace's frame.
    loop_root: bool,
    /// A function-entry trace (or a side trace of one): its recursive calls are real.
    entry: bool,
    /// A side trace (recorded from an exit of a root): it ends where its root would
    /// go on, and needs no recursion of its own.
    side: bool,
    /// The liveness of the trace's function (a function-entry trace's, computed at
    /// its first `call.rec`; `Some(None)`: its code does not decode).
    liveness: Option<Option<Liveness>>,
    /// Per function inlined in a function-entry trace: its slots no path from its
    /// entry reads before writing them ([`Probe::entry_unread`], asked once).
    unread: Vec<(u32, u64)>,
    /// A function-entry root's arity, until its first step loads the arguments that
    /// are i64, f64 or bool values: their guarded loads lead the trace, where the
    /// backend guards them before its fast entry (`jit/src/x64.rs`, `entry_prefix`).
    preload: u16,
    /// While the interpreter runs a call the trace makes for real (`call.rec`,
    /// `call.tree`): the instruction the calling frame resumes at.
    skip: Option<u32>,
    /// After a root loop recording left its loop: instructions seen since, waiting
    /// for the anchor to start again.
    waiting: Option<usize>,
    /// How often this recording started again.
    restarts: u32,
    /// For a side trace: its tree already calls the VM's helper / C directly (the two
    /// do not mix in one tree: see `helper`).
    root_helpers: bool,
    root_ccalls: bool,
    /// The loop's body holds calls or helper instructions besides `ffi.call`: its
    /// foreign calls go through the helper too (see `direct_calls_fit`).
    prefer_helper: bool,
    /// The function of the frame the trace runs in (its own function, until a return
    /// below it or a tail call there).
    base_func: u32,
    /// The frame the trace runs in is not the one it was entered in (`ret.down`,
    /// `tcall.base`): the trace can only end by linking to a loop trace.
    displaced: bool,
    /// Returns below the trace's frame so far.
    pops: u32,
    /// The recording aborted at code that has no trace yet and should get one first
    /// (an inner loop, a recursion): worth retrying once it has one.
    pub waits_for: Option<Waits>,
    /// A side trace of a short root loop may unroll it ([`Recorder::set_unroll`]):
    /// `Some(inherited)`, where `inherited` says its parent trace unrolled it already.
    unroll: Option<bool>,
    /// The side trace passed the back-edge of a loop that encloses its root's loop
    /// (it left the root's loop and came back around).
    went_around: bool,
    /// Times the side trace went through its root's back-edge (unrolled the loop).
    unrolled: u32,
    /// Of those, the ones since it last came around an enclosing loop: the
    /// iterations of the pass it unrolls now.
    pass_unrolled: u32,
    /// The trace as it was at the root's back-edge, before the first pass unrolled
    /// (the builder, and the instructions recorded): what the recording ends with
    /// when unrolling does not work out ([`Recorder::fallback`]).
    checkpoint: Option<(TraceBuilder, usize)>,
    /// The closed program's field kinds (a native executable's, [`crate::kinds`]): a
    /// field of a proven kind is loaded with no tag guard once its object's type is
    /// guarded. `None` under `hashvm run`, where a later load could add stores.
    pub fields: Option<Rc<FieldKinds>>,
}

/// Passes of its short root loop a side trace unrolls at most (LuaJIT's
/// `loopunroll` is 15).
pub const MAX_UNROLL: u32 = 15;

/// Iterations of one pass of its root loop a side trace unrolls at most: a pass that
/// runs longer ends the recording at once, as it was before the first pass unrolled
/// (the loop is not as short as its exits made it look: fannkuchredux's flips).
pub const MAX_PASS_UNROLL: u32 = 4;

/// What the trace's guards established of the header of the object in a slot, kept
/// over a `call.rec` that cannot change the slot ([`Recorder::kept`]): the values `k`
/// of its `guard.kind`, `guard.meta` and `guard.len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeptFacts {
    kind: Option<u64>,
    meta: Option<u64>,
    len: Option<u64>,
}

/// What an aborted recording waits for (the VM's `Recording::Wait`): the code it met
/// that should be compiled first, after which the recording is tried again and links
/// to it or calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waits {
    /// A trace of the loop whose back-edge is at this (function, offset).
    Loop(u32, u32),
    /// The function-entry tree of this function, whose recursion the recording met
    /// (a self tail call at this offset, its loop, when `Some`: a loop trace there
    /// would do, should the function's entry never get a tree).
    Entry(u32, Option<u32>),
}

/// Activations of one self-recursive function a recording inlines at most (the trace's
/// own frame included): a call that would add one more waits for the function's
/// entry tree instead (`Waits::Entry`), which the trace then calls (LuaJIT's
/// `recunroll`, 2: a recursion inlined level after level, as binarytrees' `for` loop
/// inlined `bottom_up_tree` 12 levels deep, gives long traces specific to one depth).
pub const MAX_RECURSION_UNROLL: usize = 2;

/// Whether the foreign calls of the loop whose back-edge `edge` is at `ip` may be
/// direct: its body (from the back-edge's target, or the function's start for a self
/// tail call, to the back-edge) holds no call and no instruction the VM's helper runs
/// other than an `ffi.call` that can be direct. A trace never mixes the two (C's output must follow what
/// the program printed, which the VM buffers), so a loop that prints keeps its foreign
/// calls on the helper rather than aborting when it meets the print.
fn direct_calls_fit(code: &[u8], edge: &Insn, ip: u32, probe: &dyn Probe) -> bool {
    let start = match (edge.op, edge.args.first()) {
        (Op::Loop, Some(Operand::Jump(j))) => (ip as i64 + *j as i64).max(0) as usize,
        _ => 0,
    };
    let mut at = start;
    while at < ip as usize {
        let Ok((i, len)) = Insn::decode(code, at) else {
            return false;
        };
        let call = matches!(
            i.op,
            Op::Call | Op::CallK | Op::CallSelf | Op::TCall | Op::TCallK | Op::TCallSelf
        );
        // A foreign call that cannot be direct (a str argument) runs on the helper.
        let helper = match (i.op, i.args.get(1)) {
            (Op::FfiCall, Some(Operand::Foreign(f))) => probe.direct_foreign(*f).is_none(),
            (op, _) => hashvm_vm::jit::helper_runs(op),
        };
        if call || helper {
            return false;
        }
        at += len.max(1);
    }
    true
}

/// Instructions a recording that left its loop waits for the anchor before it gives
/// up.
pub const MAX_WAIT_INSNS: usize = 100_000;

/// Times a recording starts again after leaving its loop before it gives up.
pub const MAX_RESTARTS: u32 = 4;

/// Where the `loop` back-edge `insn` at `ip` jumps (`i64::MAX` for anything else).
fn loop_target(insn: &Insn, ip: u32) -> i64 {
    match (insn.op, insn.args.first()) {
        (Op::Loop, Some(Operand::Jump(j))) => ip as i64 + *j as i64,
        _ => i64::MAX,
    }
}

/// The header of the loop whose back-edge is at `anchor_ip` in `code` (`i64::MIN`
/// when that is no `loop`: a self tail call's loop is enclosed by none).
fn root_header(code: &[u8], anchor_ip: u32) -> i64 {
    match Insn::decode(code, anchor_ip as usize) {
        Ok((i, _)) if i.op == Op::Loop => loop_target(&i, anchor_ip),
        _ => i64::MIN,
    }
}

fn slot_of(a: &Operand) -> usize {
    match a {
        Operand::Slot(s) => *s as usize,
        _ => usize::MAX,
    }
}

/// Field `i` of `v` when `v` is a data object (a constructor value, tuple or cons
/// cell) with such a field: what `field` would read; `None` where it faults.
fn data_field(probe: &dyn Probe, v: Value, i: usize) -> Option<Value> {
    probe
        .header(v)
        .filter(|h| h.kind == layout::KIND_DATA)
        .and_then(|_| probe.field(v, i))
}

fn count_of(a: Option<&Operand>) -> usize {
    match a {
        Some(Operand::U16(n)) => *n as usize,
        _ => 0,
    }
}

fn imm_of(a: &Operand) -> i64 {
    match a {
        Operand::Imm32(v) => *v as i64,
        Operand::Imm64(v) => *v,
        Operand::F64(b) => *b as i64,
        _ => 0,
    }
}

/// The IR operation and operand type of a typed arithmetic instruction (also the
/// ahead-of-time compiler's).
pub(crate) fn arith_of(op: Op) -> Option<(IrOp, IrType)> {
    Some(match op {
        Op::AddI64 => (IrOp::AddI, IrType::I64),
        Op::SubI64 => (IrOp::SubI, IrType::I64),
        Op::MulI64 => (IrOp::MulI, IrType::I64),
        Op::AndI64 => (IrOp::AndI, IrType::I64),
        Op::OrI64 => (IrOp::OrI, IrType::I64),
        Op::XorI64 => (IrOp::XorI, IrType::I64),
        Op::ShlI64 => (IrOp::ShlI, IrType::I64),
        Op::ShrI64 => (IrOp::ShrI, IrType::I64),
        Op::AddF64 => (IrOp::AddF, IrType::F64),
        Op::SubF64 => (IrOp::SubF, IrType::F64),
        Op::MulF64 => (IrOp::MulF, IrType::F64),
        Op::DivF64 => (IrOp::DivF, IrType::F64),
        _ => return None,
    })
}

/// A compare-and-jump instruction: the guard when the jump is taken, the guard when
/// it is not, and the operand type (also the ahead-of-time compiler's).
pub(crate) fn branch_of(op: Op) -> Option<(IrOp, IrOp, IrType)> {
    use IrOp::*;
    Some(match op {
        Op::JLtI64 | Op::JLtIImm => (LtI, GeI, IrType::I64),
        Op::JLeI64 | Op::JLeIImm => (LeI, GtI, IrType::I64),
        Op::JGtI64 | Op::JGtIImm => (GtI, LeI, IrType::I64),
        Op::JGeI64 | Op::JGeIImm => (GeI, LtI, IrType::I64),
        Op::JEqI64 | Op::JEqIImm => (EqI, NeI, IrType::I64),
        Op::JNeI64 | Op::JNeIImm => (NeI, EqI, IrType::I64),
        Op::JLtF64 => (LtF, NLtF, IrType::F64),
        Op::JLeF64 => (LeF, NLeF, IrType::F64),
        Op::JNLtF64 => (NLtF, LtF, IrType::F64),
        Op::JNLeF64 => (NLeF, LeF, IrType::F64),
        _ => return None,
    })
}

impl Recorder {
    /// A recorder for the back-edge at `anchor_ip` of `func`; the first instruction
    /// it sees must be that back-edge.
    pub fn new(func: u32, anchor_ip: u32) -> Recorder {
        Recorder {
            func,
            anchor_ip,
            b: {
                let mut b = TraceBuilder::new(anchor_ip);
                b.set_forwarding();
                b
            },
            map: Vec::new(),
            kept: Vec::new(),
            kept_next: Vec::new(),
            started: false,
            steps: 0,
            start: None,
            frames: Vec::new(),
            loop_root: true,
            entry: false,
            side: false,
            liveness: None,
            unread: Vec::new(),
            preload: 0,
            skip: None,
            waiting: None,
            restarts: 0,
            root_helpers: false,
            root_ccalls: false,
            prefer_helper: false,
            base_func: func,
            displaced: false,
            pops: 0,
            waits_for: None,
            unroll: None,
            went_around: false,
            unrolled: 0,
            pass_unrolled: 0,
            checkpoint: None,
            fields: None,
        }
    }

    /// A recorder for the entry of the self-recursive function `func` (arity,
    /// frame size): its first instruction is the function's first. The trace ends at
    /// the function's `ret` (a native return) or its self tail call (a loop); its
    /// recursive calls become real calls of the trace itself (`call.rec`).
    pub fn new_entry(func: u32, arity: u16, nslots: u16) -> Recorder {
        let mut r = Recorder::new(func, 0);
        r.loop_root = false;
        r.entry = true;
        r.started = true;
        r.preload = arity;
        r.b.set_entry(func, arity, nslots);
        r
    }

    /// A recorder for a side trace of `root` (the trace of `func`, anchored at
    /// `anchor_ip` for a loop) from its exit through `snap`: it starts there, inside
    /// the snapshot's inlined frames, and ends where the root would go on (its loop
    /// header, its function's return or self tail call). Its snapshot 1 is its start.
    pub fn new_side(
        func: u32,
        anchor_ip: u32,
        root: &Trace,
        snap: &crate::ir::Snapshot,
    ) -> Recorder {
        let mut r = Recorder::new(func, anchor_ip);
        r.started = true;
        r.side = true;
        if let Some((f, arity, nslots)) = root.entry {
            r.loop_root = false;
            r.entry = true;
            r.b.set_entry(f, arity, nslots);
        }
        r.frames = snap.frames.clone();
        if let Some(f) = snap.displaced {
            // The exit is past a return below the root's frame (or a tail call
            // there): the frame runs another function, and never reaches the root's
            // loop header again.
            r.base_func = f;
            r.displaced = true;
            r.b.set_displaced(f);
        }
        r.b.snapshot_in(snap.resume_ip, Vec::new(), &snap.frames);
        r
    }

    /// Tells a side trace's recorder what its tree already calls: the VM's helper
    /// (`helpers`), C directly (`ccalls`).
    pub fn set_tree_calls(&mut self, helpers: bool, ccalls: bool) {
        self.root_helpers = helpers;
        self.root_ccalls = ccalls;
    }

    /// Lets a side trace of a root loop that runs few iterations a pass (the hook's
    /// judgement) go on through the root's back-edge instead of ending there, once it
    /// left the loop and came back around an enclosing loop, or at once when its
    /// parent trace (`inherited`) unrolled the loop already: the passes of the short
    /// inner loop then run in one straight trace, with each body's values forwarded
    /// from pass to pass, instead of each entering the root's pre-roll, which loads
    /// and guards everything again (nbody's pair loop runs 4, 3, 2, 1 and 0 times
    /// a pass). The trace must end by linking where it reaches the root in another
    /// activation (a call of the loop's function inlined). One that comes back to the
    /// root's back-edge in its own frame after unrolling (past [`MAX_UNROLL`] passes or
    /// half of [`MAX_TRACE_INSNS`], where it stops unrolling), unrolls a pass longer
    /// than [`MAX_PASS_UNROLL`], or fails for any other reason after the first pass
    /// unrolled ends as it would have without unrolling: at the root's back-edge,
    /// where it first reached it ([`Recorder::fallback`]).
    pub fn set_unroll(&mut self, inherited: bool) {
        self.unroll = Some(inherited);
    }

    /// Times the recording went through its root's back-edge (see `set_unroll`).
    pub fn unrolled(&self) -> u32 {
        self.unrolled
    }

    /// For a side trace that unrolled its root's loop and did not end well (see
    /// `set_unroll`): the trace as it was where it first reached the root's
    /// back-edge, ending there as a side trace that does not unroll ends (the
    /// instructions recorded since ran in the interpreter, as they do while any
    /// recording runs).
    pub fn fallback(&mut self) -> Option<Trace> {
        let (b, steps) = self.checkpoint.take()?;
        self.b = b;
        self.unrolled = 0;
        // The back-edge is the next pass's first instruction.
        self.b.set_insns(steps.saturating_sub(1) as u32);
        Some(std::mem::take(&mut self.b).finish(Vec::new()))
    }

    /// Whether the side trace goes on through its root's back-edge now (see
    /// `set_unroll`).
    fn unrolls_here(&self) -> bool {
        self.unroll
            .is_some_and(|inherited| inherited || self.went_around)
            && self.unrolled < MAX_UNROLL
            && self.steps <= MAX_TRACE_INSNS / 2
    }

    /// Ends the recording with the trace, whose pass ran every instruction recorded.
    fn finish(&mut self) -> Trace {
        self.b.set_insns(self.steps as u32);
        std::mem::take(&mut self.b).finish(Vec::new())
    }

    /// Slot 0 of the running frame, counted from the trace frame's slot 0.
    fn cur(&self) -> usize {
        self.frames.last().map_or(0, |f| f.base as usize)
    }

    /// A snapshot of the state before the instruction at `ip` of the running frame.
    /// The slots the trace wrote are in memory already (see [`Recorder::put`]): the
    /// resume point and the inlined frames.
    fn snap(&mut self, ip: u32) -> u32 {
        self.b.snapshot_in(ip, Vec::new(), &self.frames)
    }

    /// The IR value of the running frame's slot `s`, loading (and guarding) it on first
    /// use; a failed type guard resumes at the instruction at `ip`.
    fn get(&mut self, s: usize, ip: u32, slots: &[Value]) -> Result<(Ref, IrType), String> {
        let abs = self.cur() + s;
        if let Some(Some(r)) = self.map.get(abs) {
            let r = *r;
            return Ok((r, self.b.ty(r)));
        }
        let v = *slots.get(s).ok_or("slot outside the frame")?;
        let r = self.get_abs(abs, ip, v)?;
        Ok((r, self.b.ty(r)))
    }

    fn remember(&mut self, abs: usize, r: Option<Ref>) {
        self.kept.retain(|&(a, _)| a != abs);
        if self.map.len() <= abs {
            self.map.resize(abs + 1, None);
        }
        self.map[abs] = r;
    }

    /// The trace writes the running frame's slot `s` as the interpreter does, when it
    /// does: memory then holds the interpreter's exact state at every instruction, so
    /// an exit needs to write nothing, and no value stays in a register only to be
    /// written back.
    fn put(&mut self, s: usize, r: Ref) {
        self.put_abs(self.cur() + s, r);
    }

    fn put_abs(&mut self, abs: usize, r: Ref) {
        self.remember(abs, Some(r));
        self.b.sstore(abs as u32, r);
    }

    fn operand(&mut self, s: usize, want: IrType, ip: u32, slots: &[Value]) -> Result<Ref, String> {
        let (r, ty) = self.get(s, ip, slots)?;
        if ty != want {
            // The instruction would fault in the interpreter: not a trace.
            return Err("an operand of the wrong type".into());
        }
        Ok(r)
    }

    /// The values of the `n` slots from `a0` of the running frame (loaded first, so
    /// that the guards come before an allocation that stores them).
    fn values(
        &mut self,
        a0: usize,
        n: usize,
        ip: u32,
        slots: &[Value],
    ) -> Result<Vec<Ref>, String> {
        if n > MAX_INLINE_FIELDS {
            return Err(format!("an object of more than {MAX_INLINE_FIELDS} values"));
        }
        (a0..a0 + n)
            .map(|s| self.get(s, ip, slots).map(|(r, _)| r))
            .collect()
    }

    /// A new object (kind, tag, meta) holding `vals`, allocated inline as the
    /// interpreter's fast path does (exiting to it, before the allocating instruction
    /// at `ip`, when the nursery is full), its fields written at once.
    fn allocate(
        &mut self,
        kind: u8,
        tag: u16,
        meta: u32,
        vals: &[Ref],
        ip: u32,
    ) -> Result<Ref, String> {
        let err = |e: BuildError| e.to_string();
        let [w0, w1] = layout::header_words(kind, tag, meta, vals.len() as u64);
        let snap = self.snap(ip);
        let obj = self.b.new_object(w0, w1, snap);
        for (i, &v) in vals.iter().enumerate() {
            let k = self.b.kint(i as i64);
            self.b.hstore(obj, k, v, snap).map_err(err)?;
        }
        Ok(obj)
    }

    /// `anew d, n, x` allocated inline (`new.array`) when the length it has now is
    /// one the trace can allocate inline (`ir::max_inline_array`; a guard keeps it
    /// so, any other length leaving for a side trace, which runs it through the
    /// VM's helper): returns whether it did. The array's elements kind is the one
    /// the interpreter derives from the fill value's tag, which the trace knows.
    fn new_array(&mut self, insn: &Insn, ip: u32, slots: &[Value]) -> Result<bool, String> {
        let a = &insn.args;
        let (d, ls, fs) = (slot_of(&a[0]), slot_of(&a[1]), slot_of(&a[2]));
        let (Some(n), Some(x)) = (slots.get(ls), slots.get(fs)) else {
            return Ok(false);
        };
        let elems = layout::elems_of_tag(x.tag());
        let max = crate::ir::max_inline_array(elems);
        if n.tag() != Tag::I64 || !(1..=max).contains(&n.bits()) {
            return Ok(false);
        }
        let len = self.operand(ls, IrType::I64, ip, slots)?;
        let (fill, _) = self.get(fs, ip, slots)?;
        // The trace's value is the slot's (its load guarded that tag): the layout
        // chosen from the value seen is the one the trace keeps.
        if self.b.tagword(fill) as u32 != x.tag() {
            return Err("an array fill whose tag the trace does not know".into());
        }
        let snap = self.snap(ip);
        let r = self
            .b
            .new_array(len, fill, elems, snap)
            .map_err(|e| e.to_string())?;
        self.put(d, r);
        Ok(true)
    }

    /// The data object in the running frame's slot `s`, guarded to be one with a
    /// field `i`, and the snapshot (before the instruction at `ip`) its guards and
    /// the field's load share.
    fn data_with_field(
        &mut self,
        s: usize,
        i: usize,
        ip: u32,
        slots: &[Value],
        probe: &dyn Probe,
    ) -> Result<(Ref, u32), String> {
        let obj = self.object(s, layout::KIND_DATA, ip, slots, probe)?;
        let snap = self.snap(ip);
        let ov = slots.get(s).copied().unwrap_or(Value::UNIT);
        self.guard_field(obj, ov, i, snap, probe)?;
        Ok((obj, snap))
    }

    /// Guards the data object `obj` (its value now `ov`) to have field `i`: by its
    /// length (`guard.len`), or, in a native executable whose program gives every
    /// data object of `ov`'s type that field ([`FieldKinds::has_field`]), by its type
    /// (`guard.meta`), the guard [`Recorder::known_field`] emits for the object's
    /// fields of a known kind anyway (one compare of the header for all of them, where
    /// the length was a second).
    ///
    /// [`FieldKinds::has_field`]: crate::kinds::FieldKinds::has_field
    fn guard_field(
        &mut self,
        obj: Ref,
        ov: Value,
        i: usize,
        snap: u32,
        probe: &dyn Probe,
    ) -> Result<(), String> {
        let ty = self.fields.as_ref().and_then(|kinds| {
            let h = probe.header(ov).filter(|h| h.kind == layout::KIND_DATA)?;
            kinds.has_field(h.meta, i).then_some(h.meta)
        });
        match ty {
            Some(t) => self.b.guard_header(IrOp::GMeta, obj, t as u64, snap),
            None => self.b.guard_header(IrOp::GLen, obj, i as u64, snap),
        }
        .map_err(|e| e.to_string())
    }

    /// The object in the running frame's slot `s`, guarded to have kind `kind` (the
    /// interpreter's check; the recording aborts if it would fault now).
    fn object(
        &mut self,
        s: usize,
        kind: u8,
        ip: u32,
        slots: &[Value],
        probe: &dyn Probe,
    ) -> Result<Ref, String> {
        let v = slots.get(s).copied().unwrap_or(Value::UNIT);
        if probe.header(v).map(|h| h.kind) != Some(kind) {
            return Err("an object of the wrong kind".into());
        }
        let r = self.operand(s, IrType::Ptr, ip, slots)?;
        let snap = self.snap(ip);
        self.b
            .guard_header(IrOp::GKind, r, kind as u64, snap)
            .map_err(|e| e.to_string())?;
        Ok(r)
    }

    /// The elements kind of the array in slot `s` (its header's meta word), which the
    /// trace guards.
    fn elements(&self, s: usize, slots: &[Value], probe: &dyn Probe) -> Result<u32, String> {
        let v = slots.get(s).copied().unwrap_or(Value::UNIT);
        match probe.header(v) {
            Some(h) if h.kind == layout::KIND_ARRAY => Ok(h.meta),
            _ => Err("an array access on no array".into()),
        }
    }

    /// Guards the array `arr` to have the elements kind `elems` it has now, and
    /// returns the array holding its elements with their kind: itself, or for a
    /// converted array the general array its first value points at (a general array
    /// never changes kind, so that one needs no guard of its own).
    fn array_elements(&mut self, arr: Ref, elems: u32, snap: u32) -> Result<(Ref, u32), String> {
        let err = |e: BuildError| e.to_string();
        self.b
            .guard_header(IrOp::GMeta, arr, elems as u64, snap)
            .map_err(err)?;
        if elems != layout::ELEMS_MOVED {
            return Ok((arr, elems));
        }
        let target = self.b.fload(arr, 0, Tag::OBJ as u64, snap).map_err(err)?;
        Ok((target, layout::ELEMS_GENERAL))
    }

    /// The cons cell in slot `s`, guarded to be one (a DATA object of type List).
    fn cons(
        &mut self,
        s: usize,
        ip: u32,
        slots: &[Value],
        probe: &dyn Probe,
    ) -> Result<Ref, String> {
        let v = slots.get(s).copied().unwrap_or(Value::UNIT);
        if probe.header(v).map(|h| h.meta) != Some(builtin::LIST) {
            return Err("a list operation on a value that is not a list".into());
        }
        let r = self.object(s, layout::KIND_DATA, ip, slots, probe)?;
        let snap = self.snap(ip);
        self.b
            .guard_header(IrOp::GMeta, r, builtin::LIST as u64, snap)
            .map_err(|e| e.to_string())?;
        Ok(r)
    }

    /// The constructor index of the value in slot `s` (a field-less constructor's
    /// payload, or a DATA object's header tag), and the index it has now.
    fn ctor_index(
        &mut self,
        s: usize,
        ip: u32,
        slots: &[Value],
        probe: &dyn Probe,
    ) -> Result<(Ref, i64), String> {
        let v = slots.get(s).copied().unwrap_or(Value::UNIT);
        let err = |e: BuildError| e.to_string();
        match v.tag() {
            Tag::CTOR0 => {
                let (r, _) = self.get(s, ip, slots)?;
                Ok((self.b.payload(r).map_err(err)?, v.bits() as i64))
            }
            Tag::OBJ => {
                let h = probe.header(v).ok_or("not an object")?;
                let r = self.object(s, layout::KIND_DATA, ip, slots, probe)?;
                Ok((self.b.htag(r).map_err(err)?, h.tag as i64))
            }
            _ => Err("a constructor test on a value that is not a constructor".into()),
        }
    }

    /// The closure object of the running frame (`closure` is its value now).
    fn closure(&mut self, ip: u32, closure: Value) -> Result<Ref, String> {
        if !closure.is_obj() {
            return Err("the running closure is not an object".into());
        }
        let r = match self.frames.last().map_or(ClosureSrc::Base, |f| f.closure) {
            ClosureSrc::Func(_) => return Err("a capture of a function value".into()),
            ClosureSrc::Slot(s) => self.get_abs(s as usize, ip, closure)?,
            ClosureSrc::Base => {
                let snap = self.snap(ip);
                self.b.frame_closure(tagword_of(closure), snap)
            }
        };
        if self.b.ty(r) != IrType::Ptr {
            return Err("the running closure is not an object".into());
        }
        Ok(r)
    }

    /// The value of slot `abs` (counted from the trace frame's slot 0; `v` is its
    /// value now), loaded with a guard on its tag word on first use.
    fn get_abs(&mut self, abs: usize, ip: u32, v: Value) -> Result<Ref, String> {
        if let Some(Some(r)) = self.map.get(abs) {
            return Ok(*r);
        }
        let snap = self.snap(ip);
        let r = match v.tag() {
            Tag::I64 => self.b.sload(abs as u32, IrType::I64, snap),
            Tag::F64 => self.b.sload(abs as u32, IrType::F64, snap),
            Tag::BOOL => self.b.sload(abs as u32, IrType::Bool, snap),
            _ => self.b.sload_tw(abs as u32, tagword_of(v), snap),
        };
        let kept = self.kept.iter().find(|&&(a, _)| a == abs).map(|&(_, f)| f);
        self.remember(abs, Some(r));
        if let Some(f) = kept {
            // The object the slot held before the call: what was guarded of its
            // header then holds still (headers never change while an object lives;
            // a collection moves it, and the load reads its new address).
            if self.b.ty(r) != IrType::Ptr {
                return Err("a slot a call left unchanged holds another kind".into());
            }
            let err = |e: BuildError| e.to_string();
            for (op, k) in [
                (IrOp::GKind, f.kind),
                (IrOp::GMeta, f.meta),
                (IrOp::GLen, f.len),
            ] {
                if let Some(k) = k {
                    self.b.known_header(op, r, k).map_err(err)?;
                }
            }
        }
        Ok(r)
    }

    /// The header facts of the objects in the calling frame's slots below `a0` (but
    /// the result slot `d`) that a `call.rec` with its window at `a0` cannot change:
    /// its callee runs in its own frame, from `a0` up, and writes nothing below it but
    /// the result (SPEC.md §4.6, "Function-entry traces"), and every exit inside it
    /// leaves the trace for good. Taken before the call's barrier forgets them.
    fn capture_kept(&self, a0: usize, d: usize) -> Vec<(usize, KeptFacts)> {
        let cur = self.cur();
        (0..a0)
            .filter(|&s| s != d)
            .filter_map(|s| {
                let r = (*self.map.get(cur + s)?)?;
                if self.b.ty(r) != IrType::Ptr {
                    return None;
                }
                let (kind, meta, len) = self.b.header_facts(r);
                let meta = meta.filter(|_| kind == Some(layout::KIND_DATA as u64));
                let f = KeptFacts { kind, meta, len };
                (kind.is_some() || len.is_some()).then_some((cur + s, f))
            })
            .collect()
    }

    /// While the trace makes a real call: the frame depth of the calling frame,
    /// above which every instruction is the callee's (the hook answers
    /// `Recording::Skip` with it, and the VM runs the callee without asking).
    pub fn skip_depth(&self) -> Option<usize> {
        match (self.skip, self.start) {
            (Some(_), Some((_, d0))) => Some(d0 + self.frames.len()),
            _ => None,
        }
    }

    /// Called before each instruction runs, with the running frame's slots and a
    /// [`Probe`] into the VM (which decides, for instance, the type an `aget` is
    /// guarded to).
    pub fn step(&mut self, at: &Point<'_>, probe: &dyn Probe) -> Step {
        match self.step_inner(at, probe) {
            Ok(Some(t)) => Step::Done(Box::new(t)),
            Ok(None) => Step::Continue,
            Err(why) => Step::Abort(why),
        }
    }

    /// Inlines a call of `func` from the running frame: result to slot `d`, the `n`
    /// arguments from slot `a0`, resuming at `resume`.
    #[allow(clippy::too_many_arguments)]
    fn inline_call(
        &mut self,
        func: u32,
        d: usize,
        a0: usize,
        n: usize,
        resume: u32,
        closure: ClosureSrc,
        probe: &dyn Probe,
    ) -> Result<(), String> {
        let (arity, nslots) = probe.shape(func).ok_or("a call of a missing function")?;
        if arity as usize != n {
            return Err("a call that is not an exact application".into());
        }
        // A recursion unrolled as far as it may be (the function-entry recording of
        // `func` itself inlines on, since its tree is what it builds).
        let own = self.entry && func == self.func;
        if !own && probe.self_recursive(func) {
            let level = self.frames.iter().filter(|f| f.func == func).count()
                + (self.base_func == func) as usize;
            if level >= MAX_RECURSION_UNROLL {
                self.waits_for = Some(Waits::Entry(func, None));
                return Err(format!(
                    "a recursion unrolled {level} levels (its function-entry tree is not compiled yet)"
                ));
            }
        }
        if self.frames.len() >= MAX_INLINE_DEPTH {
            return Err(format!("calls nested deeper than {MAX_INLINE_DEPTH}"));
        }
        let base = self.cur() + a0;
        let end = base + nslots as usize;
        if end > u16::MAX as usize {
            return Err("inlined frames too far from the trace's frame".into());
        }
        // The interpreter's push clears the slots the arguments do not fill. A slot
        // above every frame the trace runs in here, which the callee writes before
        // reading it, is marked: only the collector can tell whether it was cleared
        // (no enclosing frame's code reads it; the callee's, in the trace or in the
        // interpreter after an exit inside it, writes it first), and the backend
        // leaves out the clear where the slot holds a valid value already.
        let mut outer = probe
            .shape(self.base_func)
            .map_or(u32::MAX, |(_, n)| n as u32);
        for f in &self.frames {
            let (_, fs) = probe.shape(f.func).ok_or("a frame of a missing function")?;
            outer = outer.max(f.base + fs as u32);
        }
        // Only a function-entry trace's clears are ever left out (`x64::Valid`
        // knows nothing of a loop's slots above its frame): other traces do not ask.
        let unread = if !self.entry {
            0
        } else if let Some(&(_, m)) = self.unread.iter().find(|u| u.0 == func) {
            m
        } else {
            let m = probe.entry_unread(func);
            self.unread.push((func, m));
            m
        };
        for abs in base + n..end {
            let j = abs - base;
            let mark = abs as u32 >= outer && j < 64 && unread >> j & 1 != 0;
            self.b.sclear(abs as u32, mark);
            self.remember(abs, None);
        }
        self.frames.push(SnapFrame {
            func,
            base: base as u32,
            ret: d as u16,
            resume,
            closure,
        });
        self.b.set_shape(end as u32, self.frames.len() as u32);
        Ok(())
    }

    /// A call of `func` (result to slot `d`, the `n` arguments from slot `a0` of the
    /// running frame, resuming at `resume`) when `func` has a compiled function-entry
    /// tree: the trace calls that tree natively (`call.tree`, the callee's frame closure
    /// its FUNC value when `closure_is_func`, else the caller's) instead of inlining
    /// the callee, and goes on when the interpreter, which runs the callee during the
    /// recording, returns to the calling frame. `Ok(false)`: no such tree (inline).
    #[allow(clippy::too_many_arguments)]
    fn call_tree(
        &mut self,
        func: u32,
        d: usize,
        a0: usize,
        n: usize,
        resume: u32,
        closure_is_func: bool,
        ip: u32,
        probe: &dyn Probe,
    ) -> Result<bool, String> {
        let Some(tree) = probe.entry_tree(func) else {
            return Ok(false);
        };
        let (arity, nslots) = probe.shape(func).ok_or("a call of a missing function")?;
        if arity as usize != n {
            return Ok(false);
        }
        let a0 = self.cur() + a0;
        if a0 + nslots as usize > u16::MAX as usize || d > u16::MAX as usize {
            return Err("a called tree's frame too far from the trace's frame".into());
        }
        let snap = self.snap(ip);
        self.b.call_tree(
            crate::ir::TreeCall {
                func,
                tree,
                arity,
                nslots,
                a0: a0 as u32,
                dst: d as u16,
                resume,
                closure_is_func,
                addr: 0,
            },
            snap,
        );
        self.skip = Some(resume);
        Ok(true)
    }

    fn step_inner(&mut self, at: &Point<'_>, probe: &dyn Probe) -> Result<Option<Trace>, String> {
        let (func, ip, code, slots) = (at.func, at.ip, at.code, at.slots);
        if self.start.is_none() {
            let b0 = at.base.checked_sub(self.cur());
            let d0 = at.depth.checked_sub(self.frames.len());
            match (b0, d0) {
                (Some(b), Some(d)) => self.start = Some((b, d)),
                _ => return Err("started outside the snapshot's frames".into()),
            }
        }
        if let Some(waited) = self.waiting {
            // The recording left its loop (the loop exited while it was recorded):
            // start again when the interpreter comes back to the anchor, in this
            // activation of the loop's function or a later one.
            if func != self.func || ip != self.anchor_ip {
                if waited >= MAX_WAIT_INSNS {
                    return Err(format!(
                        "left the loop, and not back within {MAX_WAIT_INSNS} instructions"
                    ));
                }
                self.waiting = Some(waited + 1);
                return Ok(None);
            }
            self.waiting = None;
            self.start = Some((at.base, at.depth));
            self.b = TraceBuilder::new(self.anchor_ip);
            self.b.set_forwarding();
            self.map.clear();
            self.kept.clear();
            self.started = false;
            self.steps = 0;
        }
        let (b0, d0) = self.start.unwrap_or((0, 0));
        if self.preload > 0 {
            // The arguments' loads first (each guard exits at the entry, before
            // anything happened): a `call.rec` that proves their kinds skips them.
            for s in 0..std::mem::take(&mut self.preload) as usize {
                let tag = slots.get(s).map_or(Tag::UNIT, |v| v.tag());
                if matches!(tag, Tag::I64 | Tag::F64 | Tag::BOOL) {
                    self.get(s, ip, slots)?;
                }
            }
        }
        let expect = self.frames.last().map_or(self.base_func, |f| f.func);
        if let Some(resume) = self.skip {
            // The interpreter runs the callee of a real call (`call.rec`, `call.tree`):
            // the trace resumes when it returns to the calling frame.
            let depth = d0 + self.frames.len();
            if at.depth > depth {
                return Ok(None);
            }
            if at.depth < depth || func != expect || at.base != b0 + self.cur() || ip != resume {
                return Err("a real call that did not return to its caller".into());
            }
            self.skip = None;
            // The registers do not survive the call: every slot is reloaded, with
            // the facts a `call.rec` cannot change.
            self.map.clear();
            self.kept = std::mem::take(&mut self.kept_next);
        }
        if func != expect
            || at.base.checked_sub(b0) != Some(self.cur())
            || at.depth.checked_sub(d0) != Some(self.frames.len())
        {
            return Err("left the recorded frames".into());
        }
        self.steps += 1;
        if self.steps > MAX_TRACE_INSNS {
            return Err(format!("longer than {MAX_TRACE_INSNS} instructions"));
        }
        let (mut insn, len) = Insn::decode(code, ip as usize).map_err(|e| e.to_string())?;
        // A fused instruction is recorded as its first half; the rest follows in the
        // code and is recorded as its own step (`con.ret` is `con`, then its `ret`).
        insn.op = insn.op.unfused();
        let next = ip + len as u32;
        if self.entry && self.frames.is_empty() {
            // The function of a function-entry trace, at its own level (after a tail
            // call there, `displaced`, the frame runs another function: its calls
            // are inlined, and its `ret` still returns from the trace's activation).
            let recursive = !self.displaced
                && match insn.op {
                    Op::CallSelf => true,
                    Op::CallK => matches!(insn.args[1], Operand::Func(f) if f == self.func),
                    _ => false,
                };
            if recursive {
                let a = &insn.args;
                let (d, a0) = if insn.op == Op::CallSelf {
                    (slot_of(&a[0]), slot_of(&a[1]))
                } else {
                    (slot_of(&a[0]), slot_of(&a[2]))
                };
                // A result slot the code after the call writes before it reads it
                // (awfy_permute's calls, whose unit results are never read) is not
                // stored: nothing can read the value left there (a live slot of the
                // calling frame, so a valid one for the collector).
                let nslots = self.b.entry().map_or(0, |e| e.2);
                let lv = self
                    .liveness
                    .get_or_insert_with(|| Liveness::of_code(code, nslots))
                    .as_ref();
                let dead = !lv.is_none_or(|l| l.live(next, d));
                // The callee's slots whose clearing its bytecode cannot see: no path
                // from its entry reads them before writing them. (Its caller cannot
                // either: every slot of the window's base up but the result holds
                // garbage after a call, SPEC.md §4.2.)
                let unread = lv.map_or(0, |l| {
                    (0..nslots.min(63) as usize)
                        .filter(|&j| !l.live(0, j))
                        .fold(0u64, |m, j| m | 1 << j)
                });
                let snap = self.snap(ip);
                self.kept_next = self.capture_kept(a0, d);
                self.b.call_rec(
                    a0 as u16,
                    d as u16,
                    next,
                    insn.op == Op::CallSelf,
                    dead,
                    unread,
                    snap,
                );
                self.skip = Some(next);
                return Ok(None);
            }
            match insn.op {
                Op::Ret | Op::RetI => {
                    let r = self
                        .returned(&insn, ip, slots)?
                        .ok_or("no value returned")?;
                    let snap = self.snap(ip);
                    self.b.ret_rec(r, snap);
                    return Ok(Some(self.finish()));
                }
                Op::TCallSelf if self.displaced => {
                    return Err("a self tail call of a function a tail call reached".into());
                }
                Op::TCallSelf => {
                    // A self tail call loops back to the function's entry. A slot that
                    // already holds its argument (hashc evaluates arguments straight
                    // into the parameter slots when it can) is not stored again: the
                    // trace stored or loaded that very value there, and nothing wrote
                    // the slot since (every write goes through `put`, which the map
                    // follows).
                    let base = slot_of(&insn.args[0]);
                    let n = count_of(insn.args.get(1));
                    let mut moved = Vec::with_capacity(n);
                    for i in 0..n {
                        moved.push(self.get(base + i, ip, slots)?.0);
                    }
                    for (i, r) in moved.into_iter().enumerate() {
                        if self.map.get(i).copied().flatten() != Some(r) {
                            self.put(i, r);
                        }
                    }
                    return Ok(Some(self.finish()));
                }
                Op::RetU => {
                    let r = self.b.kval(Value::UNIT).map_err(|e| e.to_string())?;
                    let snap = self.snap(ip);
                    self.b.ret_rec(r, snap);
                    return Ok(Some(self.finish()));
                }
                _ => {}
            }
        }
        let at_anchor =
            self.loop_root && ip == self.anchor_ip && self.frames.is_empty() && !self.displaced;
        let unroll = at_anchor
            && self.side
            && self.started
            && self.steps > 1
            && insn.op == Op::Loop
            && self.unrolls_here();
        if unroll {
            // Recorded as a jump (the `Op::Loop` arm below).
            if self.unrolled == 0 {
                self.checkpoint = Some((self.b.clone(), self.steps));
            }
            self.unrolled += 1;
            self.pass_unrolled += 1;
            if self.pass_unrolled > MAX_PASS_UNROLL {
                return Err(format!(
                    "a pass of its root's loop longer than {MAX_PASS_UNROLL} iterations unrolled"
                ));
            }
        }
        if at_anchor && !unroll {
            if !matches!(insn.op, Op::Loop | Op::TCallSelf) {
                return Err(format!("anchored at `{}`, not a loop", insn.op.mnemonic()));
            }
            if self.started {
                if self.side && self.steps == 1 {
                    // A side trace from an exit that resumes at the loop header (a
                    // guard of the header's own loads) would be empty: it would jump
                    // back to the root, whose same guard fails on the same state,
                    // forever. That exit stays an exit.
                    return Err("a side trace from the loop header itself".into());
                }
                if let Some(t) = self.fallback() {
                    // The unrolled passes did not lead back to the loop in another
                    // activation (a loop whose trip count varies from pass to pass,
                    // mandelbrot's): each would end in exits where the root's own
                    // iterations run on. The trace ends where it first reached the
                    // back-edge instead.
                    return Ok(Some(t));
                }
                // The back-edge seen again is the next pass's first instruction.
                self.b.set_insns(self.steps.saturating_sub(1) as u32);
                let b = std::mem::take(&mut self.b);
                let tail = Vec::new();
                return Ok(Some(b.finish(tail)));
            }
            self.started = true;
            self.b.set_frame_slots(slots.len() as u32);
            self.prefer_helper = !direct_calls_fit(code, &insn, ip, probe);
            if insn.op == Op::TCallSelf {
                // A self tail call is the loop's back-edge: its arguments move down to
                // slots 0.. and the function restarts. The moves are the first thing an
                // iteration does (the trace is entered at this instruction).
                let base = slot_of(&insn.args[0]);
                let n = count_of(insn.args.get(1));
                if base == 0 && probe.entry_tree(func).is_some() {
                    // The function has a function-entry tree, which loops on this
                    // self tail call itself: the interpreter reaches the back-edge
                    // only after an exit of that tree, and a loop trace of its own
                    // would repeat the tree's guards (its first loads exiting at once
                    // on the arguments' other kinds, uninstalled for no progress and
                    // recorded again, as nqueens' `safe` and awfy_list's
                    // `is_shorter_than` were). With the arguments in place (nothing to
                    // move) the frame is at the function's entry after the back-edge:
                    // link to the tree there instead.
                    self.b.link(0, &[], hashvm_vm::jit::Anchor::Call { func });
                    self.b.set_insns(1);
                    return Ok(Some(std::mem::take(&mut self.b).finish(Vec::new())));
                }
                let mut moved = Vec::with_capacity(n);
                for i in 0..n {
                    moved.push(self.get(base + i, ip, slots)?.0);
                }
                for (i, r) in moved.into_iter().enumerate() {
                    self.put(i, r);
                }
            }
            return Ok(None);
        }
        let a = &insn.args;
        let err = |e: BuildError| e.to_string();
        match insn.op {
            Op::Nop | Op::Jmp => {}
            Op::CallK => {
                let f = match a[1] {
                    Operand::Func(f) => f,
                    _ => return Err("callk without a function".into()),
                };
                let n = count_of(a.get(3));
                let (d, a0) = (slot_of(&a[0]), slot_of(&a[2]));
                if self.call_tree(f, d, a0, n, next, true, ip, probe)? {
                    return Ok(None);
                }
                self.inline_call(
                    f,
                    slot_of(&a[0]),
                    slot_of(&a[2]),
                    n,
                    next,
                    ClosureSrc::Func(f),
                    probe,
                )?;
            }
            Op::CallSelf => {
                let closure = self.frames.last().map_or(ClosureSrc::Base, |f| f.closure);
                let n = count_of(a.get(2));
                let (d, a0) = (slot_of(&a[0]), slot_of(&a[1]));
                if self.call_tree(func, d, a0, n, next, false, ip, probe)? {
                    return Ok(None);
                }
                self.inline_call(
                    func,
                    slot_of(&a[0]),
                    slot_of(&a[1]),
                    n,
                    next,
                    closure,
                    probe,
                )?;
            }
            Op::Call => {
                let (fs, a0) = (slot_of(&a[1]), slot_of(&a[2]));
                let v = slots.get(fs).copied().unwrap_or(Value::UNIT);
                let callee = probe
                    .callee(v)
                    .ok_or("a call of a value that is not a function or closure")?;
                // The closure stays in the caller's slot for exits to read: it must not
                // be a slot the callee's frame covers.
                if fs >= a0 {
                    return Err("a call whose function slot is in the callee's frame".into());
                }
                // The guard reads the slot in memory, which holds what the trace put
                // there (every write is stored where the interpreter writes it).
                let abs = self.cur() + fs;
                let snap = self.snap(ip);
                let closure = if v.tag() == Tag::FUNC {
                    self.b.guard_callee(abs as u32, callee, false, snap);
                    let n = count_of(a.get(3));
                    if self.call_tree(callee, slot_of(&a[0]), a0, n, next, true, ip, probe)? {
                        return Ok(None);
                    }
                    ClosureSrc::Func(callee)
                } else {
                    self.b.guard_callee(abs as u32, callee, true, snap);
                    ClosureSrc::Slot(abs as u32)
                };
                let n = count_of(a.get(3));
                self.inline_call(callee, slot_of(&a[0]), a0, n, next, closure, probe)?;
            }
            Op::Ret | Op::RetU | Op::RetI => {
                let Some(fr) = self.frames.last().copied() else {
                    self.ret_down(&insn, ip, slots, probe)?;
                    return Ok(None);
                };
                let r = self.returned(&insn, ip, slots)?;
                self.frames.pop();
                let dst = self.cur() + fr.ret as usize;
                match r {
                    Some(r) => self.put_abs(dst, r),
                    None => {
                        self.b.sunit(dst as u32);
                        self.remember(dst, None);
                    }
                }
            }
            Op::Mov => {
                let (r, _) = self.get(slot_of(&a[1]), ip, slots)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadI | Op::LoadI64 => {
                let r = self.b.kint(imm_of(&a[1]));
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadUnit if self.frames.is_empty() => {
                // In the trace's own frame the unit is a constant the trace knows,
                // not only a store: a later read of the slot (awfy_permute's
                // `loadunit r4; ret r4`) takes the constant instead of loading the
                // slot and guarding its tag, and the store itself may sink into the
                // exits that need it. (In an inlined callee's frame, awfy_towers'
                // `push_disk`, the constant would be defined there and held in a
                // register up to the trace's `ret.rec`, which CSE gives the same
                // constant: one instruction more a pass, measured. There the store
                // stays `sunit`.)
                let r = self.b.kval(Value::UNIT).map_err(|e| e.to_string())?;
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadUnit => {
                let abs = self.cur() + slot_of(&a[0]);
                self.b.sunit(abs as u32);
                self.remember(abs, None);
            }
            Op::LoadG => {
                let g = match a[1] {
                    Operand::Global(g) => g,
                    _ => return Err("loadg without a global".into()),
                };
                let v = probe.global(g).ok_or("loadg of a missing global")?;
                let snap = self.snap(ip);
                let r = match v.tag() {
                    Tag::I64 => self.b.gload(g, IrType::I64, snap),
                    Tag::F64 => self.b.gload(g, IrType::F64, snap),
                    Tag::BOOL => self.b.gload(g, IrType::Bool, snap),
                    _ => self.b.gload_tw(g, tagword_of(v), snap),
                };
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadTrue | Op::LoadFalse => {
                let r = self.b.kbool(insn.op == Op::LoadTrue);
                self.put(slot_of(&a[0]), r);
            }
            Op::EqI64 | Op::NeI64 | Op::LtI64 | Op::LeI64 => {
                let x = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let y = self.operand(slot_of(&a[2]), IrType::I64, ip, slots)?;
                let op = match insn.op {
                    Op::EqI64 => IrOp::CmpEqI,
                    Op::NeI64 => IrOp::CmpNeI,
                    Op::LtI64 => IrOp::CmpLtI,
                    _ => IrOp::CmpLeI,
                };
                let r = self.b.compare(op, x, y).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::DivI64 | Op::RemI64 => {
                let d = slots.get(slot_of(&a[2])).copied().unwrap_or(Value::UNIT);
                if d.tag() == Tag::I64 && matches!(d.bits() as i64, 0 | -1) {
                    // The trace's guard would always exit here.
                    return Err("a division by 0 or -1 (the interpreter's)".into());
                }
                let x = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let y = self.operand(slot_of(&a[2]), IrType::I64, ip, slots)?;
                let op = if insn.op == Op::DivI64 {
                    IrOp::DivI
                } else {
                    IrOp::RemI
                };
                let snap = self.snap(ip);
                let r = self.b.divrem(op, x, y, snap).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::Not => {
                let x = self.operand(slot_of(&a[1]), IrType::Bool, ip, slots)?;
                let r = self.b.unary(IrOp::NotB, x).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::Sqrt => {
                let x = self.operand(slot_of(&a[1]), IrType::F64, ip, slots)?;
                let r = self.b.unary(IrOp::SqrtF, x).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::NegI64 => {
                // -x wraps as 0 - x does.
                let x = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let z = self.b.kint(0);
                let r = self.b.arith(IrOp::SubI, z, x).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::I64ToF64 => {
                let x = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let r = self.b.unary(IrOp::ItoF, x).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::Jt | Op::Jf => {
                let x = self.operand(slot_of(&a[0]), IrType::Bool, ip, slots)?;
                let v = slots
                    .get(slot_of(&a[0]))
                    .copied()
                    .unwrap_or(Value::UNIT)
                    .bits()
                    != 0;
                let snap = self.snap(ip);
                let g = if v { IrOp::IsTrue } else { IrOp::IsFalse };
                self.b.guard_bool(g, x, snap).map_err(err)?;
            }
            Op::JEq | Op::JNe => self.struct_jump(&insn, ip, slots, probe)?,
            Op::JEqF64 | Op::JNeF64 => {
                // IEEE equality as a bool, guarded to the value it has now.
                let x = self.operand(slot_of(&a[0]), IrType::F64, ip, slots)?;
                let y = self.operand(slot_of(&a[1]), IrType::F64, ip, slots)?;
                let v = |s: usize| f64::from_bits(slots.get(s).map_or(0, |v| v.bits()));
                let eq = v(slot_of(&a[0])) == v(slot_of(&a[1]));
                let c = self.b.compare_f(IrOp::CmpEqF, x, y).map_err(err)?;
                let snap = self.snap(ip);
                let g = if eq { IrOp::IsTrue } else { IrOp::IsFalse };
                self.b.guard_bool(g, c, snap).map_err(err)?;
            }
            Op::JEqChar | Op::JNeChar => {
                let s = slot_of(&a[0]);
                let v = slots.get(s).copied().unwrap_or(Value::UNIT);
                if v.tag() != Tag::CHAR {
                    // The interpreter faults on anything but a char.
                    return Err("`jeq.char` of a value that is not a char".into());
                }
                // The load's guard on the tag word keeps it a char.
                let (x, _) = self.get(s, ip, slots)?;
                let p = self.b.payload(x).map_err(err)?;
                let want = imm_of(&a[1]);
                let k = self.b.kint(want);
                let snap = self.snap(ip);
                let g = if v.bits() as i64 == want {
                    IrOp::EqI
                } else {
                    IrOp::NeI
                };
                self.b.guard(g, p, k, snap).map_err(err)?;
            }
            Op::LoadF => {
                let r = self.b.kf64(f64::from_bits(imm_of(&a[1]) as u64));
                self.put(slot_of(&a[0]), r);
            }
            Op::AddIImm | Op::SubIImm | Op::MulIImm => {
                let x = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let k = self.b.kint(imm_of(&a[2]));
                let op = match insn.op {
                    Op::AddIImm => IrOp::AddI,
                    Op::SubIImm => IrOp::SubI,
                    _ => IrOp::MulI,
                };
                let r = self.b.arith(op, x, k).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::AddKF64 | Op::SubKF64 | Op::MulKF64 | Op::DivKF64 | Op::RSubKF64 | Op::RDivKF64 => {
                let x = self.operand(slot_of(&a[1]), IrType::F64, ip, slots)?;
                let k = self.b.kf64(f64::from_bits(imm_of(&a[2]) as u64));
                let r = match insn.op {
                    Op::AddKF64 => self.b.arith(IrOp::AddF, x, k),
                    Op::SubKF64 => self.b.arith(IrOp::SubF, x, k),
                    Op::MulKF64 => self.b.arith(IrOp::MulF, x, k),
                    Op::DivKF64 => self.b.arith(IrOp::DivF, x, k),
                    Op::RSubKF64 => self.b.arith(IrOp::SubF, k, x),
                    _ => self.b.arith(IrOp::DivF, k, x),
                }
                .map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            op if arith_of(op).is_some() => {
                let (irop, ty) = arith_of(op).unwrap_or((IrOp::AddI, IrType::I64));
                let x = self.operand(slot_of(&a[1]), ty, ip, slots)?;
                let y = self.operand(slot_of(&a[2]), ty, ip, slots)?;
                let r = self.b.arith(irop, x, y).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            op if branch_of(op).is_some() => {
                let (taken_op, not_op, ty) =
                    branch_of(op).unwrap_or((IrOp::LtI, IrOp::GeI, IrType::I64));
                let x = self.operand(slot_of(&a[0]), ty, ip, slots)?;
                let y = match &a[1] {
                    Operand::Imm32(k) => self.b.kint(*k as i64),
                    s => self.operand(slot_of(s), ty, ip, slots)?,
                };
                // The direction the interpreter is about to take, from the real values.
                let xv = slots
                    .get(slot_of(&a[0]))
                    .copied()
                    .unwrap_or(Value::UNIT)
                    .bits();
                let yv = match &a[1] {
                    Operand::Imm32(k) => *k as i64 as u64,
                    s => slots.get(slot_of(s)).copied().unwrap_or(Value::UNIT).bits(),
                };
                let taken = crate::ir::guard_holds(taken_op, xv, yv);
                let g = if taken { taken_op } else { not_op };
                let snap = self.snap(ip);
                self.b.guard(g, x, y, snap).map_err(err)?;
            }
            Op::ALen => {
                let arr = self.object(slot_of(&a[1]), layout::KIND_ARRAY, ip, slots, probe)?;
                let r = self.b.alen(arr).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::AGet => {
                let av = slots.get(slot_of(&a[1])).copied().unwrap_or(Value::UNIT);
                let iv = slots.get(slot_of(&a[2])).copied().unwrap_or(Value::UNIT);
                let e = probe
                    .elem(av, iv.bits() as i64)
                    .filter(|_| iv.tag() == Tag::I64)
                    .ok_or("aget that faults, or not on an array")?;
                let elems = self.elements(slot_of(&a[1]), slots, probe)?;
                let arr = self.object(slot_of(&a[1]), layout::KIND_ARRAY, ip, slots, probe)?;
                let i = self.operand(slot_of(&a[2]), IrType::I64, ip, slots)?;
                let snap = self.snap(ip);
                let (arr, elems) = self.array_elements(arr, elems, snap)?;
                let r = if elems != layout::ELEMS_GENERAL {
                    // A flat array: one load of the payload, its tag the array's.
                    self.b.aget_flat(arr, i, elems as u64, snap)
                } else {
                    match e.tag() {
                        Tag::I64 => self.b.aget(arr, i, IrType::I64, snap),
                        Tag::F64 => self.b.aget(arr, i, IrType::F64, snap),
                        Tag::BOOL => self.b.aget(arr, i, IrType::Bool, snap),
                        _ => self.b.aload(arr, i, tagword_of(e), snap),
                    }
                }
                .map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::ASet => {
                let av = slots.get(slot_of(&a[0])).copied().unwrap_or(Value::UNIT);
                let iv = slots.get(slot_of(&a[1])).copied().unwrap_or(Value::UNIT);
                if iv.tag() != Tag::I64 || probe.elem(av, iv.bits() as i64).is_none() {
                    return Err("aset that faults, or not on an array".into());
                }
                let elems = self.elements(slot_of(&a[0]), slots, probe)?;
                let arr = self.object(slot_of(&a[0]), layout::KIND_ARRAY, ip, slots, probe)?;
                let i = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let (v, _) = self.get(slot_of(&a[2]), ip, slots)?;
                if elems != layout::ELEMS_GENERAL
                    && elems != layout::ELEMS_MOVED
                    && self.b.tagword(v) != elems as u64
                {
                    // The interpreter converts the array to the general layout.
                    return Err("aset converting a flat array".into());
                }
                let snap = self.snap(ip);
                let (arr, elems) = self.array_elements(arr, elems, snap)?;
                self.b.guard_index(arr, i, snap).map_err(err)?;
                if elems != layout::ELEMS_GENERAL {
                    self.b.hstore_flat(arr, i, v, snap).map_err(err)?;
                } else {
                    self.b.hstore(arr, i, v, snap).map_err(err)?;
                }
            }
            Op::Field | Op::SetField => {
                let (os, fi) = if insn.op == Op::Field {
                    (slot_of(&a[1]), count_of(a.get(2)))
                } else {
                    (slot_of(&a[0]), count_of(a.get(1)))
                };
                let ov = slots.get(os).copied().unwrap_or(Value::UNIT);
                let fv = data_field(probe, ov, fi).ok_or("a field access that faults")?;
                let (obj, snap) = self.data_with_field(os, fi, ip, slots, probe)?;
                let (load, slot) = if insn.op == Op::Field {
                    (true, slot_of(&a[0]))
                } else {
                    self.disambiguate(obj, ov, fi, snap, slots)?;
                    (false, slot_of(&a[2]))
                };
                let known = if load {
                    self.known_field(obj, ov, fi, fv, snap, probe)?
                } else {
                    None
                };
                self.field_access(obj, fi, fv, load, slot, ip, snap, slots, known)?;
            }
            Op::Field2 => {
                // d := s.i.j: the intermediate object is an IR value in no slot, and
                // one snapshot, taken before both loads, serves every guard: an exit
                // resumes the interpreter at this instruction, which faults before
                // writing `d` or runs it whole.
                let (os, fi, fj) = (slot_of(&a[1]), count_of(a.get(2)), count_of(a.get(3)));
                let ov = slots.get(os).copied().unwrap_or(Value::UNIT);
                let (mv, fv) = data_field(probe, ov, fi)
                    .and_then(|mv| Some((mv, data_field(probe, mv, fj)?)))
                    .ok_or("a field access that faults")?;
                let (obj, snap) = self.data_with_field(os, fi, ip, slots, probe)?;
                let mid = self
                    .b
                    .fload(obj, fi as u32, tagword_of(mv), snap)
                    .map_err(err)?;
                self.b
                    .guard_header(IrOp::GKind, mid, layout::KIND_DATA as u64, snap)
                    .map_err(err)?;
                self.guard_field(mid, mv, fj, snap, probe)?;
                let known = self.known_field(mid, mv, fj, fv, snap, probe)?;
                self.field_access(mid, fj, fv, true, slot_of(&a[0]), ip, snap, slots, known)?;
            }
            Op::GetEnv | Op::SetEnv => {
                let fi = if insn.op == Op::GetEnv {
                    count_of(a.get(1))
                } else {
                    count_of(a.first())
                };
                let fv = probe
                    .field(at.closure, fi)
                    .ok_or("getenv of a closure without that capture")?;
                let clo = self.closure(ip, at.closure)?;
                let snap = self.snap(ip);
                let (load, slot) = if insn.op == Op::GetEnv {
                    (true, slot_of(&a[0]))
                } else {
                    (false, slot_of(&a[1]))
                };
                self.field_access(clo, fi, fv, load, slot, ip, snap, slots, None)?;
            }
            Op::LoadSelf => {
                let r = match self.frames.last().map_or(ClosureSrc::Base, |f| f.closure) {
                    ClosureSrc::Func(f) => self.b.kval(Value::func(f)).map_err(err)?,
                    ClosureSrc::Slot(s) => self.get_abs(s as usize, ip, at.closure)?,
                    ClosureSrc::Base => {
                        let snap = self.snap(ip);
                        self.b.frame_closure(tagword_of(at.closure), snap)
                    }
                };
                self.put(slot_of(&a[0]), r);
            }
            Op::RefGet | Op::RefSet => {
                let rs = slot_of(&a[if insn.op == Op::RefGet { 1 } else { 0 }]);
                let rv = slots.get(rs).copied().unwrap_or(Value::UNIT);
                let cell = probe
                    .header(rv)
                    .filter(|h| h.kind == layout::KIND_REF)
                    .and_then(|_| probe.field(rv, 0))
                    .ok_or("refget/refset of a value that is not a ref")?;
                let obj = self.object(rs, layout::KIND_REF, ip, slots, probe)?;
                let snap = self.snap(ip);
                if insn.op == Op::RefGet {
                    let r = self.b.fload(obj, 0, tagword_of(cell), snap).map_err(err)?;
                    self.put(slot_of(&a[0]), r);
                } else {
                    let (v, _) = self.get(slot_of(&a[1]), ip, slots)?;
                    let k = self.b.kint(0);
                    self.b.hstore(obj, k, v, snap).map_err(err)?;
                }
            }
            Op::Head | Op::Tail => {
                let ls = slot_of(&a[1]);
                let lv = slots.get(ls).copied().unwrap_or(Value::UNIT);
                let i = (insn.op == Op::Tail) as usize;
                let e = probe
                    .header(lv)
                    .filter(|h| h.kind == layout::KIND_DATA && h.meta == builtin::LIST)
                    .and_then(|_| probe.field(lv, i))
                    .ok_or("head/tail that faults")?;
                let cell = self.cons(ls, ip, slots, probe)?;
                let snap = self.snap(ip);
                let r = self
                    .b
                    .fload(cell, i as u32, tagword_of(e), snap)
                    .map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::JNil | Op::JCons => {
                let ls = slot_of(&a[0]);
                let lv = slots.get(ls).copied().unwrap_or(Value::UNIT);
                if lv == Value::NIL {
                    // The load's guard on the tag word (a constructor of List) decides.
                    self.get(ls, ip, slots)?;
                } else {
                    self.cons(ls, ip, slots, probe)?;
                }
            }
            Op::Switch | Op::JNTag | Op::GetTag => {
                let vs = slot_of(&a[if insn.op == Op::GetTag { 1 } else { 0 }]);
                let (idx, seen) = self.ctor_index(vs, ip, slots, probe)?;
                let snap = self.snap(ip);
                match insn.op {
                    Op::GetTag => self.put(slot_of(&a[0]), idx),
                    Op::JNTag => {
                        let want = count_of(a.get(1)) as i64;
                        let k = self.b.kint(want);
                        let g = if seen == want { IrOp::EqI } else { IrOp::NeI };
                        self.b.guard(g, idx, k, snap).map_err(err)?;
                    }
                    _ => {
                        // The case taken depends only on the index: guard it.
                        let k = self.b.kint(seen);
                        self.b.guard(IrOp::EqI, idx, k, snap).map_err(err)?;
                    }
                }
            }
            Op::Con | Op::Tuple | Op::ALit | Op::Closure => {
                let (d, a0, n, kind, tag, meta) = match insn.op {
                    Op::Con => {
                        let ty = match a[1] {
                            Operand::Type(t) => t,
                            _ => return Err("con without a type".into()),
                        };
                        let tag = count_of(a.get(2)) as u16;
                        let n = count_of(a.get(4));
                        if n == 0 && ty != builtin::TUPLE {
                            // A field-less constructor is an immediate.
                            let r = self.b.kval(Value::ctor0(ty, tag)).map_err(err)?;
                            self.put(slot_of(&a[0]), r);
                            return Ok(None);
                        }
                        (
                            slot_of(&a[0]),
                            slot_of(&a[3]),
                            n,
                            layout::KIND_DATA,
                            tag,
                            ty,
                        )
                    }
                    Op::Closure => {
                        let f = match a[1] {
                            Operand::Func(f) => f,
                            _ => return Err("closure without a function".into()),
                        };
                        let n = count_of(a.get(3));
                        (
                            slot_of(&a[0]),
                            slot_of(&a[2]),
                            n,
                            layout::KIND_CLOSURE,
                            0,
                            f,
                        )
                    }
                    op => {
                        let n = count_of(a.get(2));
                        let (kind, meta) = if op == Op::Tuple {
                            (layout::KIND_DATA, builtin::TUPLE)
                        } else {
                            (layout::KIND_ARRAY, layout::ELEMS_GENERAL)
                        };
                        (slot_of(&a[0]), slot_of(&a[1]), n, kind, 0, meta)
                    }
                };
                let vals = self.values(a0, n, ip, slots)?;
                let r = self.allocate(kind, tag, meta, &vals, ip)?;
                self.put(d, r);
            }
            Op::Cons => {
                let ts = slot_of(&a[2]);
                let tv = slots.get(ts).copied().unwrap_or(Value::UNIT);
                if tv == Value::NIL {
                    self.get(ts, ip, slots)?;
                } else {
                    // Not a list: the interpreter faults (the recording aborts).
                    self.cons(ts, ip, slots, probe)?;
                }
                let (h, _) = self.get(slot_of(&a[1]), ip, slots)?;
                let (t, _) = self.get(ts, ip, slots)?;
                let r = self.allocate(layout::KIND_DATA, 1, builtin::LIST, &[h, t], ip)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadNil => {
                let r = self.b.kval(Value::NIL).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadFn => {
                let f = match a[1] {
                    Operand::Func(f) => f,
                    _ => return Err("loadfn without a function".into()),
                };
                let r = self.b.kval(Value::func(f)).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadChar => {
                let c = imm_of(&a[1]) as u32;
                let c = char::from_u32(c).ok_or("loadchar of a non-character")?;
                let r = self.b.kval(Value::char(c)).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadU64 => {
                let r = self.b.kval(Value::u64(imm_of(&a[1]) as u64)).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::Loop | Op::TCallSelf if self.link_target(func, ip, &insn, probe).is_some() => {
                let at = self
                    .link_target(func, ip, &insn, probe)
                    .ok_or("a link target that went away")?;
                self.b.link(ip, &self.frames, at);
                // The back-edge is the linked trace's first instruction.
                self.b.set_insns(self.steps.saturating_sub(1) as u32);
                return Ok(Some(std::mem::take(&mut self.b).finish(Vec::new())));
            }
            Op::Loop if self.displaced && self.frames.is_empty() => {
                // The back-edge of a loop of the caller the trace returned to, with no
                // trace of its own: a jump, recorded through.
            }
            Op::Loop if self.side && self.frames.is_empty() => {
                // A side trace from an inner loop's exit follows the outer loop's
                // back-edge (a jump) around to the inner loop again, where its root is
                // (and, unrolling, its root's own back-edge).
                if ip > self.anchor_ip
                    && loop_target(&insn, ip) <= root_header(code, self.anchor_ip)
                {
                    self.went_around = true;
                    self.pass_unrolled = 0;
                }
            }
            Op::Loop
                if self.loop_root
                    && !self.side
                    && self.frames.is_empty()
                    && self.restarts < MAX_RESTARTS =>
            {
                // The back-edge of an outer loop: this recording left its loop (it
                // exited while recorded, which a short inner loop does often). Not a
                // trace: wait for the anchor and record the next iteration instead.
                self.restarts += 1;
                self.waiting = Some(0);
            }
            Op::Loop | Op::TCallSelf => {
                if probe.loop_trace(func, ip).is_some() {
                    // A loop of the trace's own frame that has a trace: not linked
                    // (see `link_target`), and no later trace there changes that.
                    return Err("an inner loop of the trace's own frame".into());
                }
                if (func, ip) != (self.func, self.anchor_ip) {
                    // A self tail call in an inlined frame is the callee's recursion:
                    // its function-entry tree (called, `call.tree`) is what to wait
                    // for, not a loop trace at that back-edge (the function is entered
                    // through that tree, so such a loop trace is never entered).
                    self.waits_for = Some(if insn.op == Op::TCallSelf && !self.frames.is_empty() {
                        Waits::Entry(func, Some(ip))
                    } else {
                        Waits::Loop(func, ip)
                    });
                }
                return Err("an inner loop (no trace there yet to link to)".into());
            }
            Op::TCallK | Op::TCall => self.tail_call(&insn, ip, slots, probe)?,
            Op::FfiCall if !self.b.has_helper() && !self.root_helpers && !self.prefer_helper => {
                if !self.direct_ffi(a, ip, slots, probe)? {
                    self.helper(func, ip, &insn, probe)?;
                }
            }
            Op::ANew => {
                if !self.new_array(&insn, ip, slots)? {
                    self.helper(func, ip, &insn, probe)?;
                }
            }
            op if hashvm_vm::jit::helper_runs(op) => {
                self.helper(func, ip, &insn, probe)?;
            }
            other => return Err(format!("`{}` is not recorded yet", other.mnemonic())),
        }
        Ok(None)
    }

    /// Where a recording that reached the back-edge `insn` at `ip` of `func` (not its
    /// own anchor in its own frame) ends by linking: the back-edge's anchor, when a
    /// trace is installed there and the recording is in an inlined callee, in a
    /// caller it returned to, or at a self tail call. In the trace's own frame a
    /// `loop` back-edge is followed as before (a side trace goes around an enclosing
    /// loop back to its root, a root recording waits for its anchor), which keeps a
    /// loop nest one tree rooted at its innermost loop: linking an outer loop's
    /// trace to the inner one split fasta's nest into two trees, the outer one
    /// entered for one iteration at a time (dropped as too short).
    fn link_target(
        &self,
        func: u32,
        ip: u32,
        insn: &Insn,
        probe: &dyn Probe,
    ) -> Option<hashvm_vm::jit::Anchor> {
        if !self.started {
            return None;
        }
        if self.frames.is_empty() && !self.displaced && insn.op != Op::TCallSelf {
            return None;
        }
        probe.loop_trace(func, ip)
    }

    /// Before a store to field `fi` of the record `obj` (the object `ov` now): guards
    /// it to be another object than each record whose field `fi` the trace holds
    /// from a load or store, when that record is in a slot of the running frame and
    /// is another object now, so that the store leaves the trace that value (load
    /// forwarding; across a peeled loop's iterations, a phi) instead of reloading it
    /// (`TraceBuilder::guard_distinct`). At most [`MAX_DISTINCT`] guards a store.
    fn disambiguate(
        &mut self,
        obj: Ref,
        ov: Value,
        fi: usize,
        snap: u32,
        slots: &[Value],
    ) -> Result<(), String> {
        let cur = self.cur();
        let mut guarded = 0;
        for o in self.b.field_aliases(obj, fi as u64) {
            let seen = (0..slots.len()).find(|&s| self.map.get(cur + s) == Some(&Some(o)));
            let Some(s) = seen else { continue };
            if slots[s].bits() == ov.bits() || guarded == MAX_DISTINCT {
                continue;
            }
            self.b
                .guard_distinct(obj, o, snap)
                .map_err(|e| e.to_string())?;
            guarded += 1;
        }
        Ok(())
    }

    /// The tag word of field `fi` of the data object `obj` (its value now `ov`, the
    /// field's `fv`) when the closed program's field kinds prove it for the object's
    /// type ([`Recorder::fields`]), after guarding that type (`guard.meta`, shared by
    /// every such load of the object), whether the field is an array one (its value
    /// then an object of the array kind), and the elements kind the program keeps for
    /// its arrays, if any ([`FieldKinds::elems`]); `None` (and no guard) otherwise. The
    /// caller guarded the object's kind (DATA) and that it has the field.
    fn known_field(
        &mut self,
        obj: Ref,
        ov: Value,
        fi: usize,
        fv: Value,
        snap: u32,
        probe: &dyn Probe,
    ) -> Result<Option<(u64, bool, Option<u32>)>, String> {
        let Some(kinds) = &self.fields else {
            return Ok(None);
        };
        let Some(h) = probe.header(ov).filter(|h| h.kind == layout::KIND_DATA) else {
            return Ok(None);
        };
        let tw = tagword_of(fv);
        // A value of another tag there would contradict the fact; it never happens
        // when the fact holds, and the guarded load is right either way.
        if kinds.tag(h.meta, fi).map(u64::from) != Some(tw) {
            return Ok(None);
        }
        let array = kinds.array(h.meta, fi);
        self.b
            .guard_header(IrOp::GMeta, obj, h.meta as u64, snap)
            .map_err(|e| e.to_string())?;
        Ok(Some((tw, array, kinds.elems(h.meta, fi))))
    }

    /// Field `fi` of `obj` (a record's field, a closure's capture; its value now is
    /// `fv`) read into `slot` when `load`, else written from `slot`: one path for
    /// `field`/`getenv` and `setfield`/`setenv`, the store through `hstore` and its
    /// write barrier. A load whose tag word `known` is proven ([`Recorder::known_field`])
    /// compares no tag, an array field's value needs no kind guard, and one whose
    /// elements kind the program keeps no `guard.meta` of it.
    #[allow(clippy::too_many_arguments)]
    fn field_access(
        &mut self,
        obj: Ref,
        fi: usize,
        fv: Value,
        load: bool,
        slot: usize,
        ip: u32,
        snap: u32,
        slots: &[Value],
        known: Option<(u64, bool, Option<u32>)>,
    ) -> Result<(), String> {
        let err = |e: BuildError| e.to_string();
        if load {
            let r = match known {
                Some((tw, ..)) => self.b.fload_known(obj, fi as u32, tw),
                None => self.b.fload(obj, fi as u32, tagword_of(fv), snap),
            }
            .map_err(err)?;
            if let Some((_, true, elems)) = known {
                self.b
                    .known_header(IrOp::GKind, r, layout::KIND_ARRAY as u64)
                    .map_err(err)?;
                // An array whose elements kind the program keeps: flat of that kind
                // (its meta word, `Elems::of_tag`) or empty, which every access's
                // index check fails first. No `guard.meta` of the elements kind.
                if let Some(e) = elems {
                    self.b.known_header(IrOp::GMeta, r, e as u64).map_err(err)?;
                }
            }
            self.put(slot, r);
        } else {
            let (v, _) = self.get(slot, ip, slots)?;
            let k = self.b.kint(fi as i64);
            self.b.hstore(obj, k, v, snap).map_err(err)?;
        }
        Ok(())
    }

    /// The value the return `insn` gives: its slot's (`ret`), its constant (`reti`), or
    /// `None` for `retu`'s unit.
    fn returned(&mut self, insn: &Insn, ip: u32, slots: &[Value]) -> Result<Option<Ref>, String> {
        Ok(match insn.op {
            Op::Ret => Some(self.get(slot_of(&insn.args[0]), ip, slots)?.0),
            Op::RetI => Some(self.b.kint(imm_of(&insn.args[0]))),
            _ => None,
        })
    }

    /// `ret`/`retu`/`reti` in the frame the trace runs in: the trace follows the return
    /// into the caller (`ret.down`, guarded on the caller's frame record as the
    /// interpreter finds it) and goes on recording there.
    fn ret_down(
        &mut self,
        insn: &Insn,
        ip: u32,
        slots: &[Value],
        probe: &dyn Probe,
    ) -> Result<(), String> {
        if self.pops >= MAX_RET_DOWN {
            return Err(format!(
                "more than {MAX_RET_DOWN} returns below the trace's frame"
            ));
        }
        let (Some(callee), Some(caller)) = (probe.frame(0), probe.frame(1)) else {
            return Err("a return from the trace's frame".into());
        };
        if caller.kind != hashvm_vm::vm::FrameKind::NORMAL {
            return Err("a return from the trace's frame to a frame that is not bytecode".into());
        }
        let delta = callee
            .base
            .checked_sub(caller.base)
            .ok_or("a return to a caller above its callee")?;
        let (b0, d0) = self.start.ok_or("a return before the recording started")?;
        if b0 != callee.base as usize || d0 < 2 {
            return Err("a return from a frame the trace does not run in".into());
        }
        let r = self.returned(insn, ip, slots)?;
        let snap = self.snap(ip);
        self.b
            .ret_down(caller.func, caller.ip, callee.ret, delta, snap);
        self.pops += 1;
        self.displaced = true;
        self.base_func = caller.func;
        self.map.clear();
        self.kept.clear();
        self.start = Some((caller.base as usize, d0 - 1));
        let dst = callee.ret as usize;
        match r {
            Some(r) => self.put(dst, r),
            None => {
                self.b.sunit(dst as u32);
                self.remember(dst, None);
            }
        }
        Ok(())
    }

    /// `tcallk F, a0, n` (or `tcall` of a FUNC value): the arguments move down to
    /// slot 0 and `F`'s frame takes the running frame's place (its caller, result
    /// slot and return point stay), the slots past the arguments cleared as the
    /// interpreter's push clears them. An inlined frame is replaced in the
    /// snapshots; the trace's own frame record is rewritten (`tcall.base`).
    fn tail_call(
        &mut self,
        insn: &Insn,
        ip: u32,
        slots: &[Value],
        probe: &dyn Probe,
    ) -> Result<(), String> {
        let a = &insn.args;
        let (f, a0, n) = if insn.op == Op::TCallK {
            match a.first() {
                Some(Operand::Func(f)) => (*f, slot_of(&a[1]), count_of(a.get(2))),
                _ => return Err("tcallk without a function".into()),
            }
        } else {
            let fs = slot_of(&a[0]);
            let v = slots.get(fs).copied().unwrap_or(Value::UNIT);
            if v.tag() != Tag::FUNC {
                return Err("a tail call of a value that is not a function".into());
            }
            let f = probe.callee(v).ok_or("a tail call of a missing function")?;
            let abs = self.cur() + fs;
            let snap = self.snap(ip);
            self.b.guard_callee(abs as u32, f, false, snap);
            (f, slot_of(&a[1]), count_of(a.get(2)))
        };
        // In a function-entry trace's own frame, the frame becomes the callee's
        // (`tcall.base`) as in a loop trace's: its `ret` is still the trace's
        // `ret.rec`, and its calls are inlined, not the trace's recursion.
        let (arity, nslots) = probe.shape(f).ok_or("a tail call of a missing function")?;
        if arity as usize != n {
            return Err("a tail call that is not an exact application".into());
        }
        let cur = self.cur();
        if cur + nslots as usize > u16::MAX as usize {
            return Err("inlined frames too far from the trace's frame".into());
        }
        let mut moved = Vec::with_capacity(n);
        for i in 0..n {
            moved.push(self.get(a0 + i, ip, slots)?.0);
        }
        for (i, r) in moved.into_iter().enumerate() {
            self.put(i, r);
        }
        match self.frames.last_mut() {
            Some(fr) => {
                fr.func = f;
                fr.closure = ClosureSrc::Func(f);
            }
            None => {
                self.b.tail_base(f);
                self.base_func = f;
                self.displaced = true;
            }
        }
        for abs in cur + n..cur + nslots as usize {
            self.b.sclear(abs as u32, false);
            self.remember(abs, None);
        }
        self.b
            .set_shape((cur + nslots as usize) as u32, self.frames.len() as u32);
        Ok(())
    }

    /// `ffi.call` of a foreign function with only i64 and f64 parameters, called
    /// directly from the trace (`call.c`): the arguments' tags guarded first, the
    /// result stored typed. `Ok(false)`: the function does not fit (the helper runs
    /// the call instead).
    fn direct_ffi(
        &mut self,
        a: &[Operand],
        ip: u32,
        slots: &[Value],
        probe: &dyn Probe,
    ) -> Result<bool, String> {
        let (d, fi, a0) = match (a.first(), a.get(1), a.get(2)) {
            (Some(d), Some(Operand::Foreign(f)), Some(a0)) => (slot_of(d), *f, slot_of(a0)),
            _ => return Err("ffi.call without its operands".into()),
        };
        let Some(df) = probe.direct_foreign(fi) else {
            return Ok(false);
        };
        if self.entry {
            return Ok(false);
        }
        let (mut ints, mut floats) = (Vec::new(), Vec::new());
        for (i, t) in df.params.iter().enumerate() {
            let ty = if *t == hashvm_format::FfiType::F64 {
                IrType::F64
            } else {
                IrType::I64
            };
            // The interpreter faults on an argument of another type: guarded here,
            // before the call (an exit then lets the interpreter fault).
            self.operand(a0 + i, ty, ip, slots)?;
            let abs = (self.cur() + a0 + i) as u32;
            if ty == IrType::F64 {
                floats.push(abs);
            } else {
                ints.push(abs);
            }
        }
        let ret = match df.ret {
            hashvm_format::FfiType::I64 => CRet::I64,
            hashvm_format::FfiType::I32 => CRet::I32,
            hashvm_format::FfiType::F64 => CRet::F64,
            _ => CRet::Unit,
        };
        let dst = self.cur() + d;
        self.b.call_c(CCall {
            addr: df.addr as u64,
            ints,
            floats,
            ret,
            dst: dst as u32,
        });
        // Registers do not survive the call: every value is reloaded.
        self.map.clear();
        self.kept.clear();
        Ok(true)
    }

    /// `jeq`/`jne` (structural equality) on the kinds a trace knows from its guards:
    /// two i64s, f64s (IEEE, as the interpreter's structural walk compares them),
    /// chars, u64s, C pointers or constructors of one type as a typed compare; two
    /// bools by a guard on each; unit against unit, and values of different tags (an
    /// immediate against another or against an object, whose kind is guarded), as the
    /// outcome their guards already fix. Two objects (strings, bignums, structures)
    /// and constructors against objects end the recording (the interpreter walks
    /// them); functions fault in the interpreter, so they abort too. The guard is the
    /// direction the interpreter is about to take: an exit resumes at the
    /// instruction, which the interpreter then runs.
    fn struct_jump(
        &mut self,
        insn: &Insn,
        ip: u32,
        slots: &[Value],
        probe: &dyn Probe,
    ) -> Result<(), String> {
        let err = |e: BuildError| e.to_string();
        let (sa, sb) = (slot_of(&insn.args[0]), slot_of(&insn.args[1]));
        let va = slots.get(sa).copied().unwrap_or(Value::UNIT);
        let vb = slots.get(sb).copied().unwrap_or(Value::UNIT);
        if va.tag() == Tag::FUNC || vb.tag() == Tag::FUNC {
            return Err("`jeq` of a function (the interpreter's fault)".into());
        }
        let (ra, ta) = self.get(sa, ip, slots)?;
        let (rb, tb) = self.get(sb, ip, slots)?;
        let snap = self.snap(ip);
        match (ta, tb) {
            (IrType::I64, IrType::I64) => {
                let g = if va.bits() == vb.bits() {
                    IrOp::EqI
                } else {
                    IrOp::NeI
                };
                self.b.guard(g, ra, rb, snap).map_err(err)?;
            }
            (IrType::F64, IrType::F64) => {
                let eq = f64::from_bits(va.bits()) == f64::from_bits(vb.bits());
                let c = self.b.compare_f(IrOp::CmpEqF, ra, rb).map_err(err)?;
                let g = if eq { IrOp::IsTrue } else { IrOp::IsFalse };
                self.b.guard_bool(g, c, snap).map_err(err)?;
            }
            (IrType::Bool, IrType::Bool) => {
                for (r, v) in [(ra, va), (rb, vb)] {
                    let g = if v.bits() != 0 {
                        IrOp::IsTrue
                    } else {
                        IrOp::IsFalse
                    };
                    self.b.guard_bool(g, r, snap).map_err(err)?;
                }
            }
            (IrType::Ptr, IrType::Ptr) => {
                return Err("`jeq` of two objects (a structural walk)".into());
            }
            (IrType::Ptr, _) | (_, IrType::Ptr) => {
                let (ro, vo, other) = if ta == IrType::Ptr {
                    (ra, va, vb)
                } else {
                    (rb, vb, va)
                };
                if other.tag() == Tag::CTOR0 {
                    return Err("`jeq` of a constructor and an object".into());
                }
                // An object of any kind but a closure's is unequal to an immediate;
                // the guard on its kind keeps a closure (which faults) out.
                let kind = probe.header(vo).map(|h| h.kind);
                let k = match kind {
                    Some(k @ (layout::KIND_DATA | layout::KIND_ARRAY | layout::KIND_REF)) => k,
                    _ => return Err("`jeq` of an object of this kind and an immediate".into()),
                };
                self.b
                    .guard_header(IrOp::GKind, ro, k as u64, snap)
                    .map_err(err)?;
            }
            _ => {
                // Immediates whose tag words the loads guarded (or constants fixed).
                let (twa, twb) = (self.b.tagword(ra), self.b.tagword(rb));
                if twa != twb {
                    // Different tags, or constructors of different types: unequal.
                    return Ok(());
                }
                match twa as u32 {
                    Tag::UNIT => {}
                    Tag::CHAR | Tag::U64 | Tag::CTOR0 | Tag::PTR => {
                        let g = if va.bits() == vb.bits() {
                            IrOp::EqI
                        } else {
                            IrOp::NeI
                        };
                        let pa = self.b.payload(ra).map_err(err)?;
                        let pb = self.b.payload(rb).map_err(err)?;
                        self.b.guard(g, pa, pb, snap).map_err(err)?;
                    }
                    _ => return Err("`jeq` of values of this kind".into()),
                }
            }
        }
        Ok(())
    }

    /// An instruction the VM's helper runs (`call.insn`).
    fn helper(&mut self, func: u32, ip: u32, insn: &Insn, probe: &dyn Probe) -> Result<(), String> {
        let op = insn.op;
        if self.b.has_ccall() || self.root_ccalls {
            // C's output must follow the program's, which a helper (`print`)
            // may buffer between two direct calls.
            return Err(format!(
                "`{}` (a helper call) in a trace that calls C directly",
                op.mnemonic()
            ));
        }
        // After `ret.down` (a displaced trace) the VM's frame count still holds the
        // records the trace popped: the helper adopts the trace's count first, as an
        // exit does (`hashvm_vm::jit::jit_call_insn`).
        if self.entry {
            // Its native recursion pushes frame records the VM has not
            // adopted: a helper (or a collection) would not see them.
            return Err(format!(
                "`{}` (a helper call) in a function-entry trace",
                op.mnemonic()
            ));
        }
        // The frames live here: the trace's own, and each inlined one.
        let mut live = probe.shape(self.base_func).map_or(0, |(_, n)| n as u32);
        for f in &self.frames {
            let (_, n) = probe.shape(f.func).ok_or("a frame of a missing function")?;
            live = live.max(f.base + n as u32);
        }
        let h = HelperCall {
            func,
            ip,
            base: self.cur() as u32,
            live,
        };
        let snap = self.snap(ip);
        self.b.call_insn(h, snap);
        // The helper may write any slot it names and move any object: every
        // value is reloaded from its slot after it.
        self.map.clear();
        self.kept.clear();
        Ok(())
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::x64;
    use hashvm_format::{Arg, FunctionBuilder};

    fn s(i: u16) -> Operand {
        Operand::Slot(i)
    }

    /// A VM with no arrays and no functions.
    struct NoProbe;

    impl Probe for NoProbe {
        fn elem(&self, _: Value, _: i64) -> Option<Value> {
            None
        }
        fn shape(&self, _: u32) -> Option<(u16, u16)> {
            None
        }
        fn callee(&self, _: Value) -> Option<u32> {
            None
        }
        fn global(&self, _: u32) -> Option<Value> {
            None
        }
        fn header(&self, _: Value) -> Option<ObjHeader> {
            None
        }
        fn field(&self, _: Value, _: usize) -> Option<Value> {
            None
        }
    }

    /// One step of a single-frame program at `ip`.
    fn step(r: &mut Recorder, ip: usize, code: &[u8], slots: &[Value]) -> Step {
        let at = Point {
            func: 0,
            ip: ip as u32,
            code,
            slots,
            base: 0,
            depth: 1,
            closure: Value::UNIT,
            anchor: hashvm_vm::jit::Anchor::Call { func: 0 },
        };
        r.step(&at, &NoProbe)
    }

    /// The interpreter's semantics for the instructions these tests use (the real
    /// interpreter is driven through the VM's JIT host interface in the VM's tests).
    fn exec(code: &[u8], ip: usize, sl: &mut [Value]) -> Option<usize> {
        let (insn, len) = Insn::decode(code, ip).ok()?;
        let a = &insn.args;
        let get = |sl: &[Value], o: &Operand| sl[slot_of(o)];
        let jump = |o: &Operand| match o {
            Operand::Jump(j) => (ip as i64 + *j as i64) as usize,
            _ => ip,
        };
        let next = ip + len;
        match insn.op {
            Op::LoadI => sl[slot_of(&a[0])] = Value::i64(imm_of(&a[1])),
            Op::LoadF => sl[slot_of(&a[0])] = Value::f64(f64::from_bits(imm_of(&a[1]) as u64)),
            Op::Mov => sl[slot_of(&a[0])] = get(sl, &a[1]),
            Op::AddI64 => {
                sl[slot_of(&a[0])] = Value::i64(
                    get(sl, &a[1])
                        .as_i64()
                        .wrapping_add(get(sl, &a[2]).as_i64()),
                )
            }
            Op::MulIImm => {
                sl[slot_of(&a[0])] = Value::i64(get(sl, &a[1]).as_i64().wrapping_mul(imm_of(&a[2])))
            }
            Op::AddIImm => {
                sl[slot_of(&a[0])] = Value::i64(get(sl, &a[1]).as_i64().wrapping_add(imm_of(&a[2])))
            }
            Op::MulF64 => {
                sl[slot_of(&a[0])] = Value::f64(get(sl, &a[1]).as_f64() * get(sl, &a[2]).as_f64())
            }
            Op::AddKF64 => {
                sl[slot_of(&a[0])] =
                    Value::f64(get(sl, &a[1]).as_f64() + f64::from_bits(imm_of(&a[2]) as u64))
            }
            Op::JGeIImm => {
                if get(sl, &a[0]).as_i64() >= imm_of(&a[1]) {
                    return Some(jump(&a[2]));
                }
            }
            Op::JGeI64 => {
                if get(sl, &a[0]).as_i64() >= get(sl, &a[1]).as_i64() {
                    return Some(jump(&a[2]));
                }
            }
            Op::JNLtF64 => {
                if get(sl, &a[0])
                    .as_f64()
                    .partial_cmp(&get(sl, &a[1]).as_f64())
                    != Some(std::cmp::Ordering::Less)
                {
                    return Some(jump(&a[2]));
                }
            }
            Op::Loop | Op::Jmp => return Some(jump(&a[0])),
            Op::Ret => return None,
            other => panic!("test interpreter: {other:?}"),
        }
        Some(next)
    }

    /// Runs `code` from ip 0; at the first back-edge, records a trace, compiles it and
    /// from then on runs the trace at the anchor. Returns the final slots and whether a
    /// trace ran; the same program run without the JIT must end in the same slots.
    fn run(code: &[u8], init: &[Value], jit: bool) -> (Vec<Value>, bool) {
        let mut sl = init.to_vec();
        let mut ip = 0;
        let mut rec: Option<Recorder> = None;
        let mut compiled: Option<(usize, x64::CompiledTrace)> = None;
        let mut traces = Trace::default();
        let mut ran = false;
        for _ in 0..1_000_000 {
            if let Some((anchor, t)) = &compiled {
                if ip == *anchor {
                    let flag = 0u8;
                    let mut st = hashvm_vm::VmState::default();
                    // SAFETY: the slot array covers every slot the trace names.
                    let exit =
                        unsafe { t.run(sl.as_mut_ptr(), &flag, &mut st, std::ptr::null_mut()) };
                    ran = true;
                    // Resume at the guarded instruction: the interpreter takes the
                    // other path itself.
                    ip = traces.snaps[exit as usize].resume_ip as usize;
                    assert_ne!(ip, *anchor, "an exit resumes where its guard failed");
                    compiled = None;
                }
            }
            if let Some(r) = rec.as_mut() {
                match step(r, ip, code, &sl) {
                    Step::Continue => {}
                    Step::Done(t) => {
                        compiled = Some((
                            ip,
                            x64::compile(
                                &t,
                                x64::Ctx {
                                    tid: 0,
                                    root_top: None,
                                    counter: 0,
                                    counter_cap: 0,
                                    side_counter: 0,
                                    passes: 0,
                                    link: None,
                                    root_fast: None,
                                    recursive: false,
                                    avx: false,
                                },
                            )
                            .expect("compiles"),
                        ));
                        traces = *t;
                        rec = None;
                        continue;
                    }
                    Step::Abort(why) => panic!("aborted: {why}"),
                }
            } else if jit && compiled.is_none() && !ran {
                if let Ok((i, _)) = Insn::decode(code, ip) {
                    if i.op == Op::Loop {
                        let mut r = Recorder::new(0, ip as u32);
                        assert!(matches!(step(&mut r, ip, code, &sl), Step::Continue));
                        rec = Some(r);
                    }
                }
            }
            match exec(code, ip, &mut sl) {
                Some(n) => ip = n,
                None => return (sl, ran),
            }
        }
        panic!("did not finish");
    }

    fn assemble(f: FunctionBuilder) -> Vec<u8> {
        f.finish().expect("function").0.code
    }

    /// `s = 0; i = 0; while i < n { s += i * 3; i += 1 }` with n in slot 2.
    fn sum_code() -> Vec<u8> {
        let mut f = FunctionBuilder::new("sum", 0, 0);
        let top = f.new_label();
        let done = f.new_label();
        f.op(Op::LoadI, [s(0), Operand::Imm32(0)]);
        f.op(Op::LoadI, [s(1), Operand::Imm32(0)]);
        f.bind(top);
        f.emit(Op::JGeI64, [Arg::Op(s(1)), Arg::Op(s(2)), Arg::Label(done)]);
        f.op(Op::MulIImm, [s(3), s(1), Operand::Imm32(3)]);
        f.op(Op::AddI64, [s(0), s(0), s(3)]);
        f.op(Op::AddIImm, [s(1), s(1), Operand::Imm32(1)]);
        f.emit(Op::Loop, [Arg::Label(top)]);
        f.bind(done);
        f.op(Op::Ret, [s(0)]);
        assemble(f)
    }

    #[test]
    fn a_recorded_loop_gives_the_interpreters_result() {
        let code = sum_code();
        let init = [Value::UNIT, Value::UNIT, Value::i64(100_000), Value::UNIT];
        let (plain, _) = run(&code, &init, false);
        let (jitted, ran) = run(&code, &init, true);
        assert!(ran, "the trace ran");
        assert_eq!(plain[0].as_i64(), 3 * (99_999 * 100_000 / 2));
        for (p, j) in plain.iter().zip(&jitted) {
            assert_eq!((p.bits(), p.tag()), (j.bits(), j.tag()));
        }
    }

    #[test]
    fn a_float_loop_with_a_negated_compare() {
        // x = 1.0; while x < lim { x = x * x + 0.25 }  (jnlt.f64 exits the loop)
        let mut f = FunctionBuilder::new("grow", 0, 0);
        let top = f.new_label();
        let done = f.new_label();
        f.bind(top);
        f.emit(
            Op::JNLtF64,
            [Arg::Op(s(0)), Arg::Op(s(1)), Arg::Label(done)],
        );
        f.op(Op::MulF64, [s(0), s(0), s(0)]);
        f.op(Op::AddKF64, [s(0), s(0), Operand::F64(0.25f64.to_bits())]);
        f.emit(Op::Loop, [Arg::Label(top)]);
        f.bind(done);
        f.op(Op::Ret, [s(0)]);
        let code = assemble(f);
        let init = [Value::f64(1.0), Value::f64(1e300)];
        let (plain, _) = run(&code, &init, false);
        let (jitted, ran) = run(&code, &init, true);
        assert!(ran);
        assert_eq!(plain[0].bits(), jitted[0].bits());
        // With NaN the loop never runs: the jump is taken at once in both.
        let init = [Value::f64(f64::NAN), Value::f64(1.0)];
        assert_eq!(
            run(&code, &init, false).0[0].bits(),
            run(&code, &init, true).0[0].bits()
        );
    }

    #[test]
    fn unrecordable_instructions_abort_with_a_reason() {
        let mut f = FunctionBuilder::new("f", 0, 0);
        let top = f.new_label();
        f.bind(top);
        f.op(Op::Panic, [s(0)]);
        f.emit(Op::Loop, [Arg::Label(top)]);
        let code = assemble(f);
        let mut r = Recorder::new(0, Op::Panic.encoded_len() as u32);
        let slots = [Value::UNIT];
        let at = Op::Panic.encoded_len();
        assert!(matches!(step(&mut r, at, &code, &slots), Step::Continue));
        match step(&mut r, 0, &code, &slots) {
            Step::Abort(why) => assert!(why.contains("panic"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A slot of a type traces do not carry yet aborts too.
        let mut f = FunctionBuilder::new("g", 0, 0);
        let top = f.new_label();
        f.bind(top);
        f.op(Op::AddIImm, [s(0), s(0), Operand::Imm32(1)]);
        f.emit(Op::Loop, [Arg::Label(top)]);
        let code = assemble(f);
        let anchor = Op::AddIImm.encoded_len() as u32;
        let mut r = Recorder::new(0, anchor);
        let slots = [Value::bool(true)];
        assert!(matches!(
            step(&mut r, anchor as usize, &code, &slots),
            Step::Continue
        ));
        assert!(matches!(step(&mut r, 0, &code, &slots), Step::Abort(_)));
    }
}
