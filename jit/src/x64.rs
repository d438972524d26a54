//! The x86-64 backend: register allocation and machine code for a [`Trace`], with
//! dynasm.
//!
//! # Calling convention of compiled code
//!
//! `extern "sysv64" fn(slots: *mut Value, interrupt: *const u8) -> u32`: `slots` is
//! the running frame's slot 0 (the VM's 16-byte value layout: payload at +0, tag at
//! +8, aux at +12), `interrupt` the VM's interrupt flag (non-zero: stop). The code runs
//! the loop until a guard fails or the flag is set, writes the failing guard's
//! snapshot to the slots, and returns the snapshot's number; the VM then resumes the
//! interpreter at that snapshot's instruction. Besides the slots, the code writes heap
//! objects' fields (`hstore`, with the write barrier), the objects it allocates and
//! the register block's bump pointer and frame records. No heap address is held
//! across anything that can collect: the code only bumps the nursery pointer (exiting
//! when it is full) and calls nothing that allocates.
//!
//! `rdi` (slots) and `rsi` (interrupt) stay fixed, `r12` holds the register block and
//! `r11` is scratch; values live in the six other caller-saved general registers, in
//! `r13`–`r15` (saved by the prologue) and in `xmm0`–`xmm15`. When a class has too few
//! registers for a trace, it spills: three of its registers become temporaries, and
//! the values the linear scan leaves without a register live in the spill area, a
//! fixed block of the native frame the prologue reserves (`[rbx - SPILL_BYTES ..]`),
//! each loaded into a temporary by the instructions that use it and stored after the
//! one that computes it; exits write them to their slots from there. Constants left
//! without a register get no slot: they are rematerialised ([`Home::Const`]).

// dynasm!'s expansion converts dynamic register numbers with `.into()`.
#![allow(clippy::useless_conversion)]

use crate::ir::{flag, IrOp, IrType, Ref, SlotProof, Trace};
use dynasmrt::x64::{Assembler, X64Relocation};
use dynasmrt::{
    dynasm, AssemblyOffset, DynamicLabel, DynasmApi, DynasmLabelApi, ExecutableBuffer, VecAssembler,
};
use hashvm_vm::jit::layout;
use hashvm_vm::{Tag, Value, VmState};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// General registers values may use (`rdi` and `rsi` hold the arguments, `r11` is
/// the emitter's scratch register).
const GPRS: [u8; 9] = [
    0, /* rax */
    1, /* rcx */
    2, /* rdx */
    8, 9, 10, 13, 14, 15, /* r13-r15: callee-saved, saved by the prologue */
];
/// Scratch for materialising float constants.
pub(crate) const SCRATCH: u8 = 11;
/// Float registers (all caller-saved in the System V ABI).
const XMMS: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// The slots base register (`rdi`).
pub(crate) const BASE: u8 = 7;
/// The interrupt flag register (`rsi`).
pub(crate) const INTR: u8 = 6;
/// The VM's register block (`r12`, saved by the prologue).
pub(crate) const STATE: u8 = 12;

/// Why a trace was not compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompileError {
    /// More values are live at once than there are registers.
    TooManyLiveValues,
    /// A slot number too large to address with a 32-bit displacement.
    SlotOutOfRange(u64),
    /// The assembler could not allocate or finalise executable memory.
    Memory(String),
    /// A value would be live across a real call (a recorder bug, refused).
    LiveAcrossCall,
    /// More snapshots than an exit code can name.
    TooManyExits,
    /// An operation of whole-function code (`aot`), which traces never contain.
    NotInTraces(&'static str),
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::TooManyLiveValues => {
                f.write_str("too many live values for the registers")
            }
            CompileError::SlotOutOfRange(s) => write!(f, "slot {s} out of range"),
            CompileError::Memory(e) => write!(f, "executable memory: {e}"),
            CompileError::LiveAcrossCall => f.write_str("a value live across a call"),
            CompileError::TooManyExits => f.write_str("too many exits"),
            CompileError::NotInTraces(m) => write!(f, "`{m}` is not a trace operation"),
        }
    }
}

/// The exit code of a function-entry trace whose outermost activation returned
/// natively (its result is in the caller's slot, its frame popped).
pub const RETURNED: u32 = u32::MAX;

/// Bytes of native stack the recursive calls of one trace entry may use (8 bytes a
/// `call.rec`): deeper recursion exits to the interpreter, which enters the trace again at
/// the next call with a fresh budget.
const NATIVE_BUDGET: i32 = 256 * 1024;

/// How a trace is linked into the code around it. The default is a root trace
/// linked to nothing, with no counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ctx {
    /// The trace's number in the JIT (exit codes carry it: `tid << 16 | snapshot`).
    pub tid: u32,
    /// For a side trace: the address of its root trace's loop header or function
    /// entry, where its back-edge jumps and its `call.rec` calls. `None` for a root.
    pub root_top: Option<usize>,
    /// The address of the tree's iteration counter (a `u64` the back-edge
    /// increments; 0: none), which tells loops that run a few iterations per entry.
    pub counter: usize,
    /// The count at which the back-edge stops incrementing `counter` (and
    /// `side_counter`): the hook judges a tree by its first iterations only. A
    /// read-modify-write of one memory word every iteration chains each iteration to
    /// the last through store forwarding (about 5 cycles on Intel cores, where it
    /// doubled sieve's time); a load and a compare do not.
    pub counter_cap: u32,
    /// For a side trace of a peeled root: the address of the tree's count of
    /// iterations ended by side traces (a `u64` this trace's back-edge increments;
    /// 0: none).
    pub side_counter: usize,
    /// The address of this trace's own pass counter (a `u64` incremented at each
    /// completed pass: back-edge, native return; 0: none), for `--jit-stats`.
    pub passes: usize,
    /// For a trace that ends in a `link` to a loop with a compiled tree: that tree, to
    /// jump into directly ([`CompiledTrace::set_direct`]).
    pub link: Option<DirectLink>,
    /// For a side trace of a function-entry root with a fast entry: that entry, which
    /// its `call.rec`s call when their stores prove the arguments' kinds.
    pub root_fast: Option<FastEntry>,
    /// For a function-entry root: its function makes non-tail calls of itself, so
    /// its side traces may hold `call.rec`s even where the root holds none (permute
    /// records its base case first: every `call.rec` of its tree is in a side
    /// trace). The prologue then raises the native floor for the frame stack's room
    /// ([`raise_frame_floor`]), and the side traces' calls count on it. For a side
    /// trace: whether its root's prologue did ([`CompiledTrace::frame_floor`]).
    pub recursive: bool,
    /// The processor runs AVX (VEX-encoded) instructions: the f64 `add`/`sub`/`mul`/
    /// `div` whose result takes another register than its first operand are the
    /// three-operand `vaddsd r, a, b` instead of `movapd r, a; addsd r, b`. A trace is
    /// compiled where it runs, so the JIT asks the processor ([`avx_available`]);
    /// whole-function code is compiled ahead of time for any x86-64 and never uses it.
    pub avx: bool,
}

/// Whether this processor runs AVX instructions ([`Ctx::avx`]; the operating system
/// saves the registers' upper halves, which `is_x86_feature_detected` checks too).
pub fn avx_available() -> bool {
    std::arch::is_x86_feature_detected!("avx")
}

/// A function-entry root's *fast entry* ([`CompiledTrace::fast_entry`]): the address
/// after the guards of its leading argument loads, and what those guards prove, so
/// that a side trace's `call.rec` skips the guards as the root's own do.
#[derive(Clone, Copy, Debug)]
pub struct FastEntry {
    /// The entry's address.
    pub addr: usize,
    /// The argument slots the guards check and what they prove of each, in the
    /// root's order (a root that guards more than [`MAX_FAST_ARGS`] has no fast entry
    /// for its side traces).
    pub args: FastArgs,
}

/// A fast entry's arguments ([`FastEntry::args`]): slot and proof, in order.
pub type FastArgs = [Option<(u16, SlotProof)>; MAX_FAST_ARGS];

/// The most argument slots a fast entry handed to side traces ([`FastEntry`]) names.
pub const MAX_FAST_ARGS: usize = 8;

/// The target of a direct link: a root loop trace's header, and the room its tree
/// needs.
///
/// Lifetime: the target's code must outlive the linking trace's. The JIT drops traces
/// only all together (a flush on load), so a plain address is enough.
#[derive(Clone, Copy, Debug)]
pub struct DirectLink {
    /// The target root's loop header ([`CompiledTrace::top`]).
    pub top: usize,
    /// The address of the target tree's [`Reach`], read at each link (side traces
    /// grow it after the link is compiled).
    pub reach: usize,
    /// The address of a `u64` counting the links taken (0: none), for `--jit-stats`.
    pub count: usize,
}

/// What entering a tree needs beyond its frame's slot 0: the frames an exit of the
/// tree may push (`depth`) and the value-stack slots it names (`extent`), as the hook
/// checks them before entering (`Trace::depth`, `Trace::extent` of the root, grown by
/// its side traces). A direct link checks them in machine code.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Reach {
    /// Frames an exit of the tree may push.
    pub depth: std::sync::atomic::AtomicU32,
    /// Value-stack slots the tree names from its frame's slot 0.
    pub extent: std::sync::atomic::AtomicU32,
}

/// Set in an exit code when a helper call (`call.insn`) did not answer OK: the exit is
/// taken directly (never through the exit table, so no side trace starts at an
/// instruction that may have run), and the VM may hold the fault it ended in.
pub const HELPER_EXIT: u32 = 1 << 31;

/// A compiled trace: executable code, its entry point, and its exit table (one
/// jump target per snapshot: the exit's own stub until a side trace is linked there).
pub struct CompiledTrace {
    code: ExecutableBuffer,
    entry: AssemblyOffset,
    top: AssemblyOffset,
    /// A function-entry root's entry for `call.tree` when it differs from `top` (see
    /// [`CompiledTrace::call_entry`]).
    cross: Option<AssemblyOffset>,
    /// A function-entry root's fast entry and its arguments ([`FastEntry`]).
    fast: Option<(AssemblyOffset, FastArgs)>,
    table: Box<[AtomicUsize]>,
    /// For a trace compiled with [`Ctx::link`]: the link's snapshot, the address of
    /// the code that jumps into the target, and the snapshot's own stub (the hook's
    /// path).
    direct: Option<(usize, usize, usize)>,
}

impl CompiledTrace {
    /// Runs a root trace on a frame's slots until it exits; returns the exit's code
    /// (`tid << 16 | snapshot`) or [`RETURNED`].
    ///
    /// # Safety
    /// `slots` must point at a frame with every slot the trace names (its loads,
    /// snapshots and tail), valid for reads and writes, `interrupt` at a readable
    /// byte, and `state` at the VM's synced register block, whose innermost frame
    /// record is the one `slots` belongs to; nothing else may access them while the
    /// trace runs. `vm` is the VM that block belongs to, for the helpers the trace
    /// calls ([`hashvm_vm::jit::jit_call_insn`]'s contract): the caller uses no
    /// reference to it until this returns (null only for traces without `call.insn`).
    pub unsafe fn run(
        &self,
        slots: *mut Value,
        interrupt: *const u8,
        state: *mut VmState,
        vm: *mut hashvm_vm::Vm,
    ) -> u32 {
        // SAFETY: `entry` is the start of a function the assembler finished, with the
        // signature below; the caller vouches for the pointers.
        let f: extern "sysv64" fn(*mut Value, *const u8, *mut VmState, *mut hashvm_vm::Vm) -> u32 =
            unsafe { std::mem::transmute(self.code.ptr(self.entry)) };
        f(slots, interrupt, state, vm)
    }

    /// The address of the loop header (function entry): where side traces go back to.
    pub fn top(&self) -> usize {
        self.code.ptr(self.top) as usize
    }

    /// The address a `call.tree` of this function-entry root calls, with the callee's
    /// frame pushed and the base register at its slot 0, from inside another tree's
    /// code (its prologue ran): the function entry, or for a tree whose native
    /// recursion counts on the prologue's frame-stack floor, an entry that sets that
    /// floor for the call first.
    pub fn call_entry(&self) -> usize {
        self.code.ptr(self.cross.unwrap_or(self.top)) as usize
    }

    /// Whether this root's prologue (and its `call.tree` entry) raises the native
    /// floor for the frame stack's room: its side traces' `call.rec`s then check
    /// only `rsp` against it (`Ctx::recursive`).
    pub fn frame_floor(&self) -> bool {
        self.cross.is_some()
    }

    /// A function-entry root's fast entry, for its side traces' `call.rec`s.
    pub fn fast_entry(&self) -> Option<FastEntry> {
        self.fast.map(|(o, args)| FastEntry {
            addr: self.code.ptr(o) as usize,
            args,
        })
    }

    /// The address of the trace's first instruction (a side trace's, for linking).
    pub fn start(&self) -> usize {
        self.code.ptr(self.entry) as usize
    }

    /// Sends exit `k` to `target` (the start of a side trace) from now on.
    pub fn link(&self, k: usize, target: usize) {
        if let Some(e) = self.table.get(k) {
            e.store(target, Ordering::Relaxed);
        }
    }

    /// Whether the trace's `link` jumps straight into its target's code (`on`) or
    /// returns to the hook, which enters the target (a no-op without [`Ctx::link`]).
    pub fn set_direct(&self, on: bool) {
        if let Some((k, jump, stub)) = self.direct {
            self.table[k].store(if on { jump } else { stub }, Ordering::Relaxed);
        }
    }

    /// The machine code (for `--jit-dump`'s disassembly).
    pub fn code(&self) -> &[u8] {
        &self.code
    }
}

/// Where each value lives: a register number in its class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Loc {
    None,
    Gpr(u8),
    Xmm(u8),
}

/// Register assignment: one forward pass over the body, freeing a register after its
/// value's last use (uses by guards' snapshots and by the loop tail count).
pub(crate) fn allocate(t: &Trace) -> Result<Vec<Loc>, CompileError> {
    allocate_avoiding(t, &[])
}

/// [`allocate`] without the registers `avoid` (whole-function code's home registers).
pub(crate) fn allocate_avoiding(t: &Trace, avoid: &[Loc]) -> Result<Vec<Loc>, CompileError> {
    let last = last_uses(t)?;
    assign(t, &last, Spill::default(), avoid).map(|homes| {
        homes
            .into_iter()
            .map(|h| match h {
                Home::Reg(l) => l,
                Home::Spill(_) | Home::Const(_) => Loc::None,
            })
            .collect()
    })
}

/// The index of each value's last use, `t.ins.len()` for a value the tail or the
/// back-edge reads: what the register allocator frees registers by, and what native
/// code's register choices after it (a free register for a copy, a carried
/// register read in place) must agree with.
pub(crate) fn last_reads(t: &Trace) -> Vec<usize> {
    let mut last = reads(t, true);
    let end = t.ins.len();
    for (_, r) in &t.tail {
        last[r.0 as usize] = end;
    }
    // The back-edge moves each carried value into its phi's register: both live to it.
    for &(p, v) in &t.phis {
        last[p.0 as usize] = end;
        last[v.0 as usize] = end;
    }
    last
}

/// The index of each value's last use ([`last_reads`]); refuses a value live across
/// a real call.
fn last_uses(t: &Trace) -> Result<Vec<usize>, CompileError> {
    let last = last_reads(t);
    // Registers do not survive a real call: the recorder reloads every value after
    // one, and a value that would live across it is refused, not miscompiled.
    let mut open: usize = 0;
    for (i, ins) in t.ins.iter().enumerate() {
        if ins.op.is_call() {
            if (open..i).any(|v| last[v] > i) {
                return Err(CompileError::LiveAcrossCall);
            }
            open = i;
        }
    }
    Ok(last)
}

/// The index of the last instruction that reads each value (itself when none does):
/// as an operand, or in a guard's snapshot. With `carry`, a value from before a
/// peeled loop's body that the body reads is read by every iteration: up to the
/// back-edge (`t.ins.len()`); without, where the body reads it (what a phi's
/// register is free after, `assign`).
pub(crate) fn reads(t: &Trace, carry: bool) -> Vec<usize> {
    let n = t.ins.len();
    let mut last = vec![0usize; n];
    let end = n;
    let body = match t.loop_start {
        Some(b) if carry => b as usize,
        _ => usize::MAX,
    };
    let mut use_at = |r: Ref, i: usize| {
        let r = r.0 as usize;
        let at = if i >= body && r < body { end } else { i };
        last[r] = last[r].max(at);
    };
    for (i, ins) in t.ins.iter().enumerate() {
        use_at(Ref(i as u32), i);
        // A sunk store has no code: its value is used where an exit needs it (a
        // snapshot entry), its object nowhere.
        if ins.op == IrOp::HStoreSunk {
            continue;
        }
        if ins.op.nargs() >= 1 {
            use_at(ins.a, i);
        }
        if ins.op.nargs() == 2 {
            use_at(ins.b, i);
        }
        // A constant field index is an immediate of the store, not a register.
        if ins.op == IrOp::HStore && t.ins[ins.k as usize].op != IrOp::KInt {
            use_at(Ref(ins.k as u32), i);
        }
        if ins.op.flags() & flag::GUARD != 0 {
            for (_, r) in &t.snaps[ins.snap as usize].entries {
                if !sunk(t, *r) {
                    use_at(*r, i);
                }
            }
        }
    }
    last
}

/// The 16-bit constant that `ctor.index` `c` is compared with when that compare is
/// fused into it: the index is read only by the guard that follows it (past
/// constants, which emit at most a `mov`, leaving the flags), an `EqI` or `NeI` with a
/// constant from 0 to 0xffff. Then the index is never in a register: `ctor.index`
/// compares the object's header tag with the constant in memory (`cmp word [obj +
/// TAG], k`, where `movzx` and `cmp` stood; an immediate's payload likewise, out of
/// line) and the guard only jumps on the flags. Only whole-function code has
/// `ctor.index` (SPEC.md §11.6); for a trace this is always `None`.
pub(crate) fn fused_ctor_test(t: &Trace, c: usize) -> Option<i32> {
    if t.ins.get(c)?.op != IrOp::CtorIdx {
        return None;
    }
    let r = Ref(c as u32);
    let j = (c + 1..t.ins.len()).find(|&j| !matches!(t.ins[j].op, IrOp::KInt | IrOp::KF64))?;
    let g = &t.ins[j];
    if !matches!(g.op, IrOp::EqI | IrOp::NeI) || g.a != r || g.b == r {
        return None;
    }
    let k = imm32(t, g.b).filter(|k| (0..=0xffff).contains(k))?;
    let reads =
        |x: &crate::ir::Ins| (x.op.nargs() >= 1 && x.a == r) || (x.op.nargs() == 2 && x.b == r);
    let read_elsewhere = t.ins[j + 1..].iter().any(reads)
        || t.snaps.iter().any(|s| s.entries.iter().any(|e| e.1 == r))
        || t.tail.iter().any(|e| e.1 == r)
        || t.phis.iter().any(|&(p, v)| p == r || v == r);
    (!read_elsewhere).then_some(k)
}

/// The value of constant `r` when an instruction can take it as a 32-bit immediate
/// (the processor sign-extends it to 64 bits): an i64 constant from -2^31 to 2^31-1.
fn imm32(t: &Trace, r: Ref) -> Option<i32> {
    let k = t.ins.get(r.0 as usize)?;
    if k.op == IrOp::KInt {
        i32::try_from(k.k as i64).ok()
    } else {
        None
    }
}

/// Whether instruction `ins` emits its operand `r` (`second`: as its operand `b`, else
/// as `a`) as an immediate when `r` is an [`imm32`] constant: the second operand of
/// an integer compare, guard or arithmetic (shift counts and power-of-two divisors
/// too), and the value of a slot store. The emitter's arms for these operations test
/// [`imm32`] themselves; this is the one list the register assignment consults.
fn takes_imm(t: &Trace, ins: &crate::ir::Ins, second: bool) -> bool {
    if second {
        match ins.op {
            IrOp::LtI
            | IrOp::LeI
            | IrOp::GtI
            | IrOp::GeI
            | IrOp::EqI
            | IrOp::NeI
            | IrOp::CmpEqI
            | IrOp::CmpNeI
            | IrOp::CmpLtI
            | IrOp::CmpLeI
            | IrOp::AddI
            | IrOp::SubI
            | IrOp::MulI
            | IrOp::AndI
            | IrOp::OrI
            | IrOp::XorI
            | IrOp::ShlI
            | IrOp::ShrI => true,
            IrOp::DivI | IrOp::RemI => {
                pow2_divisor(t, ins.b).is_some() || magic_divisor(t, ins.b).is_some()
            }
            _ => false,
        }
    } else {
        // (`ret.val` moves a constant into `rax` as an immediate: `reti`.)
        // (So does `arg.set`: `mov r, imm`.)
        matches!(
            ins.op,
            IrOp::SStore | IrOp::SStoreP | IrOp::RetVal | IrOp::ArgSet
        )
    }
}

/// The constants no register is given to: [`imm32`] constants every use of which
/// takes them as an immediate ([`takes_imm`]); a constant named by a snapshot, the
/// back-edge or any other operation is materialised as before.
fn immediate_only(t: &Trace) -> Vec<bool> {
    let mut only: Vec<bool> = (0..t.ins.len())
        .map(|i| imm32(t, Ref(i as u32)).is_some())
        .collect();
    let mut kill = |r: Ref| {
        if let Some(o) = only.get_mut(r.0 as usize) {
            *o = false;
        }
    };
    for ins in &t.ins {
        if ins.op == IrOp::HStoreSunk {
            continue;
        }
        if ins.op.nargs() >= 1 && !takes_imm(t, ins, false) {
            kill(ins.a);
        }
        if ins.op.nargs() == 2 && !takes_imm(t, ins, true) {
            kill(ins.b);
        }
        // (A constant field index of a heap store is an immediate already.)
    }
    for s in &t.snaps {
        for &(_, r) in &s.entries {
            kill(r);
        }
    }
    for &(_, r) in &t.tail {
        kill(r);
    }
    for &(p, v) in &t.phis {
        kill(p);
        kill(v);
    }
    // A sunk allocation has no value in code (its exits allocate it).
    for (o, ins) in only.iter_mut().zip(&t.ins) {
        *o |= ins.op == IrOp::NewSunk;
    }
    only
}

/// Whether `r` is a sunk allocation (`new.sink`): no code computes it, an exit whose
/// snapshot names it allocates it (the hook, from [`crate::ir::Snapshot::sunk`]), so
/// no exit stores it to its slot.
pub(crate) fn sunk(t: &Trace, r: Ref) -> bool {
    t.ins
        .get(r.0 as usize)
        .is_some_and(|i| i.op == IrOp::NewSunk)
}

/// Which register classes may spill (values kept in the spill area, [`Home::Spill`]).
#[derive(Clone, Copy, Debug, Default)]
struct Spill {
    gpr: bool,
    xmm: bool,
}

/// Where a value lives for its whole life in compiled code: a register, or a slot of
/// the spill area (`[rbx - SPILL_BYTES + 8 * k]`, reloaded into a reserved temporary
/// register by each instruction that uses it), or, for a constant left without a
/// register, nowhere: its bits are rematerialised (LuaJIT's rule: a constant never
/// needs a spill slot), as an immediate where the instruction takes one, else moved
/// into the temporary, and exits and the back-edge write them as immediates.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Home {
    Reg(Loc),
    Spill(u16),
    Const(u64),
}

/// Spill slots (8 bytes each) in every trace's native frame, below the prologue's.
const SPILL_SLOTS: usize = 128;
const SPILL_BYTES: i32 = 8 * SPILL_SLOTS as i32;
/// The temporaries spilled operands and results use when a class spills (taken out of
/// that class's registers): first operand, second operand (or a stored value),
/// third (a store's index) or result.
const GPR_TEMPS: [u8; 3] = [13, 14, 15];
const XMM_TEMPS: [u8; 3] = [13, 14, 15];

/// The disp of spill slot `k` from `rbx`.
fn spill_disp(k: u16) -> i32 {
    -SPILL_BYTES + 8 * k as i32
}

/// Linear-scan assignment over the instruction list (last uses in `last`): a value gets
/// a free register of its class; when there is none and the class may spill, the live
/// value of that class (or the new one) whose last use is furthest goes to a spill
/// slot for its whole life (Poletto and Sarkar's linear scan).
fn assign(
    t: &Trace,
    last: &[usize],
    spill: Spill,
    avoid: &[Loc],
) -> Result<Vec<Home>, CompileError> {
    let n = t.ins.len();
    let mut home = vec![Home::Reg(Loc::None); n];
    let pool = |regs: &[u8], temps: &[u8], on: bool| -> Vec<u8> {
        regs.iter()
            .rev()
            .copied()
            .filter(|r| !on || !temps.contains(r))
            .collect()
    };
    let mut free_g = pool(&GPRS, &GPR_TEMPS, spill.gpr);
    let mut free_x = pool(&XMMS, &XMM_TEMPS, spill.xmm);
    free_g.retain(|r| !avoid.contains(&Loc::Gpr(*r)));
    free_x.retain(|r| !avoid.contains(&Loc::Xmm(*r)));
    // Free spill slots, with the instruction after which each was freed: a value
    // spilled when its register is taken (after its definition) needs a slot free
    // since before its definition.
    let mut free_s: Vec<(u16, Option<usize>)> =
        (0..SPILL_SLOTS as u16).rev().map(|k| (k, None)).collect();
    let take_slot = |free_s: &mut Vec<(u16, Option<usize>)>, def: usize| {
        let k = free_s
            .iter()
            .rposition(|&(_, at)| at.is_none_or(|at| at < def))?;
        Some(free_s.remove(k).0)
    };
    // Values in registers, per class.
    let mut active_g: Vec<usize> = Vec::new();
    let mut active_x: Vec<usize> = Vec::new();
    // Values whose last use is instruction i, released after i is allocated (so a
    // result never shares a register with its own operands).
    let mut dying: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
    let imm_only = immediate_only(t);
    // Each value of a peeled loop's body that the back-edge moves into a phi → that
    // phi, and where the body last reads each phi: the value takes the phi's
    // register when the phi is read no more, and the move is no move.
    let body = t.loop_start.map_or(n, |b| b as usize);
    let mut phi_of: HashMap<usize, usize> = HashMap::new();
    for &(p, v) in &t.phis {
        if v.0 as usize >= body {
            phi_of.entry(v.0 as usize).or_insert(p.0 as usize);
        }
    }
    let phi_reads = if phi_of.is_empty() {
        Vec::new()
    } else {
        // The back-edge writes the tail's slots, and moves each carried value (which
        // may be another phi: a swap), before any phi's register is overwritten:
        // those are reads at the end.
        let mut r = reads(t, false);
        let moved = t.phis.iter().map(|&(_, v)| v);
        for v in t.tail.iter().map(|&(_, v)| v).chain(moved) {
            r[v.0 as usize] = n;
        }
        r
    };
    for i in 0..n {
        if imm_only[i] {
            // An immediate of each instruction that uses it: no register.
            release(i, &dying, &mut home, &mut free_g, &mut free_x, &mut free_s);
            continue;
        }
        let (xmm, free, active, may) = match t.ty(Ref(i as u32)) {
            IrType::I64 | IrType::Bool | IrType::Ptr | IrType::Val => {
                (false, &mut free_g, &mut active_g, spill.gpr)
            }
            IrType::F64 => (true, &mut free_x, &mut active_x, spill.xmm),
            IrType::None => {
                release(i, &dying, &mut home, &mut free_g, &mut free_x, &mut free_s);
                continue;
            }
        };
        if last[i] == i && matches!(t.ins[i].op, IrOp::GLoadI | IrOp::GLoadF | IrOp::GLoadB) {
            // A global read for its tag guard alone (whole-function code takes a
            // global that holds one constant as that constant): no register, no load.
            release(i, &dying, &mut home, &mut free_g, &mut free_x, &mut free_s);
            continue;
        }
        let wrap = |r: u8| Home::Reg(if xmm { Loc::Xmm(r) } else { Loc::Gpr(r) });
        if t.ins[i].op == IrOp::ArgGet {
            // A register argument where its caller left it (`arg.get`s come first in
            // the fragment, so their registers are free; a register the block may not
            // use, or one taken, is refused rather than read wrong).
            let r = (t.ins[i].k >> 16) as u8;
            let k = free
                .iter()
                .position(|&x| x == r)
                .ok_or(CompileError::NotInTraces("argument register taken"))?;
            home[i] = wrap(free.remove(k));
            active.push(i);
        } else if let Some((p, r)) = phi_register(t, i, &phi_of, &phi_reads, &home) {
            // The phi is dead from here (its register no victim): its value lives on
            // in this one, which the back-edge leaves where the phi needs it.
            // (Its register is never freed: it lives to the back-edge.)
            active.retain(|&v| v != p);
            home[i] = r;
            active.push(i);
        } else if let Some(k) = wanted(t, i, last)
            .filter(|_| !xmm)
            .and_then(|r| free.iter().position(|&x| x == r))
        {
            // Computed where its last reader wants it: a returned value in `rax`, an
            // argument in its register (before the first operand's register: a `lea`,
            // or a copy into it that the reader would have made anyway).
            home[i] = wrap(free.remove(k));
            active.push(i);
        } else if let Some(r) = reusable(t, i, last, &home) {
            // The result in the register of its first operand, which dies here: the
            // two-operand `addsd`/`subsd`/`mulsd`/`divsd` and `add`/`sub`/`imul`/
            // `and`/`or`/`xor` then need no copy first.
            let first = t.ins[i].a.0 as usize;
            dying[i].retain(|&v| v != first);
            home[i] = Home::Reg(r);
            active.push(i);
        } else if let Some(k) = ((t.ins[i].op == IrOp::CallRes || returned(t, i, last)) && !xmm)
            .then(|| free.iter().position(|&r| r == 0 /* rax */))
            .flatten()
        {
            // A direct call's result where the call left it, a returned value where
            // the return leaves it: no move. (Nothing is live across the call, so
            // `rax` is free unless a value defined since took it.)
            home[i] = wrap(free.remove(k));
            active.push(i);
        } else if let Some(r) = free.pop() {
            home[i] = wrap(r);
            active.push(i);
        } else if may {
            // The furthest last use among the class's live values and this one (a
            // constant among those furthest first: it costs no store and no slot,
            // each use one `mov` of its bits, as a reload would).
            let victim = active
                .iter()
                .copied()
                .max_by_key(|&v| (last[v], t.konst(Ref(v as u32)).is_some()))
                .filter(|&v| {
                    (last[v], t.konst(Ref(v as u32)).is_some())
                        > (last[i], t.konst(Ref(i as u32)).is_some())
                });
            let spilled = victim.unwrap_or(i);
            let to = match t.konst(Ref(spilled as u32)) {
                Some(bits) => Home::Const(bits),
                None => Home::Spill(
                    take_slot(&mut free_s, spilled).ok_or(CompileError::TooManyLiveValues)?,
                ),
            };
            match victim {
                Some(v) => {
                    home[i] = home[v];
                    home[v] = to;
                    active.retain(|&w| w != v);
                    active.push(i);
                }
                None => home[i] = to,
            }
        } else {
            return Err(CompileError::TooManyLiveValues);
        }
        dying[last[i].min(n)].push(i);
        active_g.retain(|&v| last[v] > i);
        active_x.retain(|&v| last[v] > i);
        release(i, &dying, &mut home, &mut free_g, &mut free_x, &mut free_s);
    }
    Ok(home)
}

/// For an f64 `add`/`sub`/`mul`/`div` at `i` whose first operand is in a register
/// and used last here: that register, for the result (the emitter then computes in
/// place: `subsd a, b` rather than `movapd r, a; subsd r, b`). Not when the second
/// operand is another value in that register (it cannot be: both live here).
fn reusable(t: &Trace, i: usize, last: &[usize], home: &[Home]) -> Option<Loc> {
    let ins = &t.ins[i];
    if !reads_first_operand_first(t, ins) {
        return None;
    }
    let a = ins.a.0 as usize;
    if last[a] != i {
        return None;
    }
    match home[a] {
        Home::Reg(l @ (Loc::Xmm(_) | Loc::Gpr(_)))
            if ins.b == ins.a || home[ins.b.0 as usize] != home[a] =>
        {
            Some(l)
        }
        _ => None,
    }
}

/// The general register value `i`'s last reader takes it in: `rax` for a `ret.val`
/// ([`returned`]), its register for an `arg.set`.
fn wanted(t: &Trace, i: usize, last: &[usize]) -> Option<u8> {
    if returned(t, i, last) {
        return Some(0);
    }
    t.ins
        .get(last[i])
        .filter(|r| r.op == IrOp::ArgSet && r.a.0 as usize == i)
        .map(|r| r.k as u8)
}

/// Whether value `i` is read last as the operand of a `ret.val`, which returns it in
/// `rax`: given `rax`, it needs no move there (fib's sum).
fn returned(t: &Trace, i: usize, last: &[usize]) -> bool {
    t.ins
        .get(last[i])
        .is_some_and(|r| r.op == IrOp::RetVal && r.a.0 as usize == i)
}

/// For the value at `i` that the back-edge moves into phi `p` (`phi_of`): `p` and
/// its register when the body reads `p` no more after `i` (`phi_reads`), or reads it
/// last as the first operand of an operation whose code reads that operand before it
/// writes its result ([`reads_first_operand_first`]: a loop counter's `i + 1` is then
/// `lea rax, [rax + 1]`, with no back-edge `mov`); `None` otherwise, or when the phi
/// is spilled or of the other class.
fn phi_register(
    t: &Trace,
    i: usize,
    phi_of: &HashMap<usize, usize>,
    phi_reads: &[usize],
    home: &[Home],
) -> Option<(usize, Home)> {
    let &p = phi_of.get(&i)?;
    let ins = &t.ins[i];
    let free = phi_reads[p] < i
        || (phi_reads[p] == i
            && reads_first_operand_first(t, ins)
            && ins.a.0 as usize == p
            && ins.b != ins.a);
    let xmm = t.ty(Ref(i as u32)) == IrType::F64;
    match home[p] {
        Home::Reg(Loc::Xmm(_)) if free && xmm => Some((p, home[p])),
        Home::Reg(Loc::Gpr(_)) if free && !xmm && t.ty(Ref(i as u32)) != IrType::None => {
            Some((p, home[p]))
        }
        _ => None,
    }
}

/// Whether the emitter's code for `ins` may write its result to its first operand's
/// register: it reads that operand first and its second operand (another value,
/// or an immediate) is not in that register. The f64 `add`/`sub`/`mul`/`div`
/// (`movapd r, a` left out, then `addsd r, b`) and the integer `add`/`sub`/`mul`/
/// `and`/`or`/`xor` (`lea r, [a + k]`, `imul r, a, k`, or `mov r, a` then `op r, b`).
pub(crate) fn reads_first_operand_first(t: &Trace, ins: &crate::ir::Ins) -> bool {
    match ins.op {
        IrOp::AddF | IrOp::SubF | IrOp::MulF | IrOp::DivF => true,
        IrOp::AddI | IrOp::SubI | IrOp::MulI | IrOp::AndI | IrOp::OrI | IrOp::XorI => {
            t.ty(ins.a) == IrType::I64
        }
        _ => false,
    }
}

/// Frees the registers and spill slots of the values whose last use is instruction `i`.
fn release(
    i: usize,
    dying: &[Vec<usize>],
    home: &mut [Home],
    free_g: &mut Vec<u8>,
    free_x: &mut Vec<u8>,
    free_s: &mut Vec<(u16, Option<usize>)>,
) {
    for &v in &dying[i] {
        match home[v] {
            Home::Reg(Loc::Gpr(r)) => free_g.push(r),
            Home::Reg(Loc::Xmm(r)) => free_x.push(r),
            Home::Spill(k) => free_s.push((k, Some(i))),
            Home::Reg(Loc::None) | Home::Const(_) => {}
        }
    }
}

/// The homes of `t`'s values for compiled code: registers only if they suffice,
/// else with the classes that overflow spilling.
fn homes(t: &Trace) -> Result<Vec<Home>, CompileError> {
    let last = last_uses(t)?;
    let mut spill = Spill::default();
    loop {
        match assign(t, &last, spill, &[]) {
            Ok(h) => return Ok(h),
            Err(CompileError::TooManyLiveValues) if !(spill.gpr && spill.xmm) => {
                // Spill the class that ran out (both, when the first try with one
                // spilling still runs out).
                if spill.gpr || spill.xmm {
                    spill = Spill {
                        gpr: true,
                        xmm: true,
                    };
                } else {
                    spill = class_short(t, &last);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether `t`'s values need more registers than a class has at some point (the
/// trace then spills): what the optimiser weighs a pass that lengthens value lives
/// against (`opt::sink_slot_stores`).
pub(crate) fn spills(t: &Trace) -> bool {
    excess(t) > 0
}

/// How many more values than its class has registers `t` holds at its busiest point
/// (0: it spills nothing; `usize::MAX` when its values' lives cannot be found).
pub(crate) fn excess(t: &Trace) -> usize {
    last_uses(t).map_or(usize::MAX, |last| {
        let (g, x) = peaks(t, &last);
        g.saturating_sub(GPRS.len())
            .max(x.saturating_sub(XMMS.len()))
    })
}

/// Which class runs out of registers first in `t`.
fn class_short(t: &Trace, last: &[usize]) -> Spill {
    let (mg, mx) = peaks(t, last);
    Spill {
        gpr: mg > GPRS.len(),
        xmm: mx > XMMS.len(),
    }
}

/// The most general-purpose and f64 values `t` holds at once.
fn peaks(t: &Trace, last: &[usize]) -> (usize, usize) {
    let (mut g, mut x) = (0usize, 0usize);
    let (mut mg, mut mx) = (0usize, 0usize);
    let mut dying: Vec<Vec<usize>> = vec![Vec::new(); t.ins.len() + 1];
    for i in 0..t.ins.len() {
        match t.ty(Ref(i as u32)) {
            IrType::F64 => x += 1,
            IrType::None => {}
            _ => g += 1,
        }
        mg = mg.max(g);
        mx = mx.max(x);
        dying[last[i].min(t.ins.len())].push(i);
        for &v in &dying[i] {
            match t.ty(Ref(v as u32)) {
                IrType::F64 => x -= 1,
                IrType::None => {}
                _ => g -= 1,
            }
        }
    }
    (mg, mx)
}

pub(crate) fn disp(slot: u64) -> Result<i32, CompileError> {
    i32::try_from(slot * 16)
        .ok()
        .filter(|d| *d <= i32::MAX - 12)
        .ok_or(CompileError::SlotOutOfRange(slot))
}

/// Raises the native-stack floor in `rbp` to where the frame stack would be short: a
/// `call.rec` takes 8 bytes of native stack (its return address: nothing is pushed,
/// [`CallConv::Trace`]) and one frame record, and needs room for 12 more an exit
/// inside the callee may push, so that one compare of `rsp` at each call covers both
/// stacks (the AOT trampoline's rule). Depth k may call when 8k + 8 <= rsp - floor,
/// that is when k <= records free - 13. Clobbers rax, rcx.
///
/// (The value stack stays checked at each call: a floor that also covered it, one
/// compare fewer a call, refused calls within a frame or two of the stack's end that
/// the interpreter then made without growing the stack, so every later call there
/// exited again: ackermann with the JIT on ran 38% of its instructions in traces
/// instead of 97%.)
fn raise_frame_floor(a: &mut Assembler) {
    let shift = FRAME_SHIFT.unwrap_or(5);
    dynasm!(a ; .arch x64
        ; mov rax, QWORD [r12 + layout::ST_FRAME_LIMIT as i32]
        ; sub rax, QWORD [r12 + layout::ST_FRAME_TOP as i32]
        ; sar rax, shift
        ; sub rax, 1 + crate::record::MAX_INLINE_DEPTH as i32
        ; lea rax, [rax * 8 + 8]
        ; mov rcx, rsp
        ; sub rcx, rax
        ; cmp rcx, rbp
        ; cmova rbp, rcx);
}

/// Compiles a trace (see [`Ctx`] for how it is linked).
///
/// Every trace is entered through the same prologue: it saves `rbx`, `rbp`, `r12` and
/// `r13`–`r15` (the last three hold values), puts the register block in `r12`, the
/// VM's address at `[rbx]` (for helper calls), the native stack pointer in `rbx`
/// (exits restore it, however deep in native recursion they happen) and the native
/// stack budget's floor in `rbp`, and calls the body at its loop header / function
/// entry (`top`).
/// A function-entry trace's outermost `ret.rec` returns there ([`RETURNED`]); every
/// exit jumps through the trace's exit table, to its own stub (which returns its
/// code) or to the side trace linked there.
pub fn compile(t: &Trace, ctx: Ctx) -> Result<CompiledTrace, CompileError> {
    if t.snaps.len() > 0xffff || ctx.tid > 0x7fff {
        return Err(CompileError::TooManyExits);
    }
    let homes = homes(t)?;
    let mut a = Assembler::new().map_err(|e| CompileError::Memory(e.to_string()))?;
    let table: Box<[AtomicUsize]> = t.snaps.iter().map(|_| AtomicUsize::new(0)).collect();
    let exits: Vec<DynamicLabel> = t.snaps.iter().map(|_| a.new_dynamic_label()).collect();
    let stubs: Vec<DynamicLabel> = t.snaps.iter().map(|_| a.new_dynamic_label()).collect();
    let top = a.new_dynamic_label();
    let out = a.new_dynamic_label();
    let entry = a.offset();
    // Whether the prologue turns the frame stack's room into native budget: only for a
    // root function-entry trace with a `call.rec` (its side traces check the frame
    // stack at their own calls), so that trees without native recursion (a tail
    // recursion's entry tree, entered millions of times) do not pay for it.
    // A root whose function calls itself (not in tail position) raises it too, for
    // its side traces' calls (`Ctx::recursive`): one floor compute per entry from
    // the interpreter against three instructions at every side trace's `call.rec`.
    let floor = ctx.root_top.is_none()
        && t.entry.is_some()
        && FRAME_SHIFT.is_some()
        && (ctx.recursive
            || t.ins
                .iter()
                .any(|i| matches!(i.op, IrOp::CallRecK | IrOp::CallRecSelf)));
    if ctx.root_top.is_none() {
        dynasm!(a ; .arch x64
            ; push rbx
            ; push rbp
            ; push r12
            ; push r13
            ; push r14
            ; push r15
            ; push rcx
            ; mov r12, rdx
            ; mov rbx, rsp
            // The spill area, shared by the tree's traces (no value lives across a
            // call, so recursive activations share it too).
            ; sub rsp, SPILL_BYTES
            ; lea rbp, [rsp - NATIVE_BUDGET]
        );
        if floor {
            // A function-entry root with a `call.rec`: one compare of `rsp` at each
            // call covers both stacks.
            raise_frame_floor(&mut a);
        }
        let done = a.new_dynamic_label();
        dynasm!(a ; .arch x64
            // Returns here from an exit (through `out`: the exit code in eax, edx
            // all ones, a tag word no value has) or from the outermost `ret.rec`
            // (the result in rax/rdx, the frame top in r11, the callee's record still
            // pushed and its caller's checked to be a bytecode frame): that return
            // does what the interpreter's does, the result into the caller's slot
            // the records name, the record popped (a `call.rec` stores it into its
            // own slot instead, [`pop_native_frame`]).
            ; call =>top
            ; cmp edx, -1
            ; je =>done
        );
        return_to_caller(&mut a, 1 /* rcx */, 8 /* r8 */);
        dynasm!(a ; .arch x64
            ; =>done
            ; add rsp, SPILL_BYTES + 8
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop r12
            ; pop rbp
            ; pop rbx
            ; ret);
    }
    // A root function-entry tree is also called natively from other traces
    // (`call.tree`): a tree whose native recursion relies on the floor above gets an
    // entry that raises the floor for the frame stack's room as the prologue does,
    // from the stack pointer of that call, and puts the caller's floor back when the
    // tree returns (exits leave through the prologue, which restores its own).
    let cross = if floor {
        let off = a.offset();
        dynasm!(a ; .arch x64
            ; push rbp);
        raise_frame_floor(&mut a);
        dynasm!(a ; .arch x64
            ; call =>top
            ; pop rbp
            ; ret);
        Some(off)
    } else {
        None
    };
    let side_entry = a.offset();
    let entry = if ctx.root_top.is_some() {
        side_entry
    } else {
        entry
    };
    dynasm!(a ; .arch x64 ; =>top);
    let top_off = a.offset();
    // A function-entry root's leading argument loads are guarded here, before its
    // *fast entry*: a `call.rec` whose stores prove those arguments' kinds calls the
    // fast entry and skips the guards (SPEC.md §4.6).
    let (prefix, prefix_args) = if ctx.root_top.is_none() {
        entry_prefix(t)
    } else {
        (0, Vec::new())
    };
    // The slot whose object the scratch register holds (a kind guard's load serves
    // the type guard after it).
    let mut scratch_slot = None;
    for ins in &t.ins[..prefix] {
        let exit = exits[ins.snap as usize];
        match ins.op {
            IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB => {
                let off = disp(ins.k)?;
                dynasm!(a ; .arch x64
                    ; cmp DWORD [Rq(BASE) + off + 8], sload_tag(ins.op)
                    ; jne =>exit);
            }
            IrOp::SLoad => guard_tw(&mut a, BASE, disp(ins.k)?, ins.tw, exit),
            _ => {
                // `guard.kind`/`guard.meta` of an object the prefix loaded (and
                // guarded OBJ before): the object from its slot into the scratch
                // register; the fast entry loads it again as the `sload`'s value.
                let slot = t.ins[ins.a.0 as usize].k;
                if scratch_slot != Some(slot) {
                    let off = disp(slot)?;
                    dynasm!(a ; .arch x64 ; mov Rq(SCRATCH), QWORD [Rq(BASE) + off]);
                    scratch_slot = Some(slot);
                }
                if ins.op == IrOp::GKind {
                    dynasm!(a ; .arch x64
                        ; cmp BYTE [Rq(SCRATCH) + layout::KIND as i32], ins.k as u8 as i8
                        ; jne =>exit);
                } else {
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(SCRATCH) + layout::META as i32], ins.k as u32 as i32
                        ; jne =>exit);
                }
            }
        }
    }
    let fast = a.new_dynamic_label();
    dynasm!(a ; .arch x64 ; =>fast);
    // The value stack must hold the frames this trace inlines (the outermost entry
    // reserved them; a native recursive activation checks here). A root exits at its
    // header (snapshot 0), a side trace where it starts (snapshot 1).
    if t.entry.is_some() && t.extent > 0 {
        let ext = disp(t.extent as u64)?;
        let first = exits[if ctx.root_top.is_some() {
            1.min(t.snaps.len() - 1)
        } else {
            0
        }];
        dynasm!(a ; .arch x64
            ; lea r11, [Rq(BASE) + ext]
            ; cmp r11, QWORD [Rq(STATE) + layout::ST_STACK_LIMIT as i32]
            ; ja =>first);
    }
    // A function-entry trace polls the interrupt flag at every (recursive) entry.
    if t.entry.is_some() && ctx.root_top.is_none() {
        let exit0 = exits[0];
        dynasm!(a ; .arch x64 ; cmp BYTE [Rq(INTR)], 0 ; jne =>exit0);
    }
    // The root's fast entry for its side traces, when its arguments fit.
    let fast_args = (prefix > 0 && prefix_args.len() <= MAX_FAST_ARGS)
        .then(|| {
            let mut m = [None; MAX_FAST_ARGS];
            for (m, &(slot, arg)) in m.iter_mut().zip(&prefix_args) {
                *m = Some((u16::try_from(slot).ok()?, arg));
            }
            Some(m)
        })
        .flatten();
    let mut cx = TraceTarget {
        ctx,
        top,
        fast: if prefix > 0 {
            Some((FastTarget::Label(fast), prefix_args))
        } else {
            ctx.root_fast.map(|f| {
                let args = f
                    .args
                    .iter()
                    .flatten()
                    .map(|&(slot, arg)| (slot as u64, arg))
                    .collect();
                (FastTarget::Addr(f.addr), args)
            })
        },
        // A side trace runs inside its root's activation: the root's floor holds.
        floor: if ctx.root_top.is_some() {
            ctx.recursive
        } else {
            floor
        },
        helper_exits: Vec::new(),
    };
    // A peeled trace's back-edge jumps to its loop body.
    let body = a.new_dynamic_label();
    emit_ops_homes(&mut a, &mut cx, t, &homes, &exits, Some(body), prefix)?;
    let helper_exits = cx.helper_exits;
    if !t.returns && t.link.is_none() {
        // The back-edge: write the loop-carried slots, then poll the interrupt flag;
        // the slots are now exactly the loop header's state (snapshot 0).
        for &(slot, r) in &t.tail {
            store_home(&mut a, slot as u32, homes[r.0 as usize], t.tagword(r))?;
        }
        let moves: Vec<(Home, Home)> = t
            .phis
            .iter()
            .map(|&(p, v)| (homes[v.0 as usize], homes[p.0 as usize]))
            .collect();
        parallel_move(&mut a, moves);
        // A peeled loop's poll exits with the carried slots in their phis.
        let exit0 = exits[if t.loop_start.is_some() {
            t.loop_snap as usize
        } else {
            0
        }];
        if ctx.counter != 0 {
            dynasm!(a ; .arch x64
                ; mov r11, QWORD ctx.counter as i64
                ; cmp QWORD [r11], ctx.counter_cap as i32
                ; jae >counted
                ; add QWORD [r11], 1);
            if ctx.side_counter != 0 {
                dynasm!(a ; .arch x64
                    ; mov r11, QWORD ctx.side_counter as i64
                    ; add QWORD [r11], 1);
            }
            dynasm!(a ; .arch x64 ; counted:);
        }
        if ctx.passes != 0 {
            dynasm!(a ; .arch x64
                ; mov r11, QWORD ctx.passes as i64
                ; add QWORD [r11], 1);
        }
        dynasm!(a ; .arch x64
            ; cmp BYTE [Rq(INTR)], 0
            ; jne =>exit0);
        match ctx.root_top {
            None if t.loop_start.is_some() => dynasm!(a ; .arch x64 ; jmp =>body),
            None => dynasm!(a ; .arch x64 ; jmp =>top),
            Some(addr) => dynasm!(a ; .arch x64
                ; mov r11, QWORD addr as i64
                ; jmp r11),
        }
    }
    for (k, s) in t.snaps.iter().enumerate() {
        dynasm!(a ; .arch x64 ; =>exits[k]);
        for &(slot, r) in &s.entries {
            if !sunk(t, r) {
                store_home(&mut a, slot as u32, homes[r.0 as usize], t.tagword(r))?;
            }
        }
        let slot = table[k].as_ptr() as i64;
        dynasm!(a ; .arch x64
            ; mov r11, QWORD slot
            ; jmp QWORD [r11]
            ; =>stubs[k]
            ; mov eax, (ctx.tid << 16 | k as u32) as i32
            ; jmp =>out);
    }
    // A direct link: after the link's snapshot is written (its exit code), push the
    // frames it inlined and jump into the target's loop header; the checks the hook
    // makes before entering a trace fail to the snapshot's stub (the hook's path).
    let direct = match (ctx.link, t.link) {
        (Some(dl), Some((k, _))) => {
            let jump = a.new_dynamic_label();
            dynasm!(a ; .arch x64 ; =>jump);
            direct_link(&mut a, &t.snaps[k as usize], dl, stubs[k as usize])?;
            Some((k as usize, jump, ()))
        }
        _ => None,
    };
    for (l, k) in helper_exits {
        dynasm!(a ; .arch x64
            ; =>l
            ; mov eax, (HELPER_EXIT | ctx.tid << 16 | k) as i32
            ; jmp =>out);
    }
    // Leave from any depth of native recursion: back to the prologue's stack, and
    // return into the prologue through the address its `call` pushed (a `ret` that
    // pairs with that `call` keeps the processor's return predictions in step: the
    // returns of the VM's frames that called the trace are then predicted, which
    // halves the cost of an entry and exit).
    dynasm!(a ; .arch x64
        ; =>out
        ; lea rsp, [rbx - SPILL_BYTES - 8]
        ; mov edx, -1
        ; ret);
    let fast = match fast_args {
        Some(kinds) => Some((
            a.labels()
                .resolve_dynamic(fast)
                .map_err(|e| CompileError::Memory(e.to_string()))?,
            kinds,
        )),
        None => None,
    };
    let offs: Vec<AssemblyOffset> = stubs
        .iter()
        .map(|l| a.labels().resolve_dynamic(*l))
        .collect::<Result<_, _>>()
        .map_err(|e| CompileError::Memory(e.to_string()))?;
    let direct = direct
        .map(|(k, jump, _)| {
            a.labels()
                .resolve_dynamic(jump)
                .map(|o| (k, o))
                .map_err(|e| CompileError::Memory(e.to_string()))
        })
        .transpose()?;
    let code = a
        .finalize()
        .map_err(|_| CompileError::Memory("finalize failed".into()))?;
    for (e, o) in table.iter().zip(offs) {
        e.store(code.ptr(o) as usize, Ordering::Relaxed);
    }
    let direct =
        direct.map(|(k, jump)| (k, code.ptr(jump) as usize, table[k].load(Ordering::Relaxed)));
    Ok(CompiledTrace {
        code,
        entry,
        top: top_off,
        cross,
        fast,
        table,
        direct,
    })
}

/// The assemblers the emitter writes into: the JIT's executable
/// [`dynasmrt::x64::Assembler`] and the ahead-of-time compiler's
/// [`dynasmrt::VecAssembler`] (whose bytes go to a file).
pub trait Emitter: DynasmApi + DynasmLabelApi<Relocation = X64Relocation> {
    /// A new dynamic label (the assemblers' inherent `new_dynamic_label`).
    fn new_label(&mut self) -> DynamicLabel;
}

impl Emitter for Assembler {
    fn new_label(&mut self) -> DynamicLabel {
        self.new_dynamic_label()
    }
}

impl Emitter for VecAssembler<X64Relocation> {
    fn new_label(&mut self) -> DynamicLabel {
        self.new_dynamic_label()
    }
}

/// What a trace and a block of whole-function code differ in, for [`emit_ops`]: where
/// a recursive call goes, how a helper call's failure leaves, what counts passes, and
/// the operations of whole-function code (which traces never contain).
pub(crate) trait Target<A: Emitter> {
    /// Emits the call of `call.rec`'s callee (the frame and arguments are set up).
    fn call_rec(&mut self, a: &mut A) -> Result<(), CompileError>;
    /// Emits the call of the callee of the `call.rec` at instruction `i` of `t`: where
    /// a target has a cheaper entry for arguments whose kinds `t` proves, there.
    fn call_rec_at(&mut self, a: &mut A, t: &Trace, i: usize) -> Result<(), CompileError> {
        let _ = (t, i);
        self.call_rec(a)
    }
    /// Whether the native stack budget's floor also covers the frame stack (room for
    /// a `call.rec` and the records an exit in its callee may push): no check of its
    /// own at each call then.
    fn frame_floor(&self) -> bool {
        false
    }
    /// The label a helper call that did not answer OK jumps to, for snapshot `snap`.
    fn helper_exit(&mut self, a: &mut A, snap: u32) -> Result<DynamicLabel, CompileError>;
    /// Emits the increment of the pass counter at a native return (if any).
    /// Answers whether it emitted code (which writes `r11`).
    fn count_pass(&mut self, a: &mut A) -> bool;
    /// The write barrier's slow path ([`heap_store`]): `None` (traces) exits before the
    /// store; whole-function code gives the label of a routine to `call` with the old
    /// object's address pushed, which remembers it and returns with every register as
    /// it was (and pops the address).
    fn remember_stub(&self) -> Option<DynamicLabel> {
        None
    }
    /// The registers of `rax`, `rcx`, `rdx` and `r8` to `r10` (bit `r`) that may hold a
    /// value read after instruction `i` of the trace being emitted, or a register the
    /// code around it reserves: code at `i` that borrows one of these must save it.
    /// Every one by default (a trace); whole-function code knows from the register
    /// allocator's own liveness (`aot::emit`'s `busy_gprs`), and a division borrows
    /// `rax` and `rdx` with no `push`/`pop` where neither is live.
    fn live_gprs(&self, i: usize) -> u16 {
        let _ = i;
        u16::MAX
    }
    /// Whether the code may use AVX's three-operand f64 arithmetic ([`Ctx::avx`]):
    /// a trace's context says; whole-function code never does.
    fn avx(&self) -> bool {
        false
    }
    /// The helper `call.insn` calls: `hashvm_vm::jit::jit_call_insn` by address in a
    /// trace.
    fn call_insn_fn(&self) -> HelperFn {
        let f: unsafe extern "C" fn(*mut hashvm_vm::Vm, u64, *mut Value, *mut Value) -> u32 =
            hashvm_vm::jit::jit_call_insn;
        HelperFn::Addr(f as usize)
    }
    /// The label the exits of instruction `i` jump to, given its snapshot's exit
    /// `exit`: whole-function code's flat versions send it through a stub that first
    /// writes the element copies they keep in registers (`aot::emit::Deferred`);
    /// every other target, `exit` itself.
    fn exit_at(&mut self, a: &mut A, i: usize, exit: DynamicLabel) -> DynamicLabel {
        let _ = (a, i);
        exit
    }
    /// Emits instruction `i`, an operation of whole-function code.
    fn function_op(
        &mut self,
        a: &mut A,
        t: &Trace,
        loc: &[Loc],
        i: usize,
        exit: DynamicLabel,
    ) -> Result<(), CompileError>;
}

/// A trace's [`Target`]: calls go to its own top (a root) or its root's (a side
/// trace), by absolute address; helper exits are collected for their stubs.
struct TraceTarget {
    ctx: Ctx,
    top: DynamicLabel,
    /// The fast entry of the tree's function-entry root (after the guards of its
    /// leading argument loads: its own label in the root, its address in a side
    /// trace), and those loads' slots and what their guards prove.
    fast: Option<(FastTarget, Vec<(u64, SlotProof)>)>,
    /// The prologue set the native floor from the frame stack's room.
    floor: bool,
    /// The direct exits of helper calls: (label, snapshot).
    helper_exits: Vec<(DynamicLabel, u32)>,
}

/// Where a trace finds its root's fast entry.
enum FastTarget {
    /// In the root itself.
    Label(DynamicLabel),
    /// A side trace: the root's code, at this address.
    Addr(usize),
}

impl Target<Assembler> for TraceTarget {
    fn call_rec_at(&mut self, a: &mut Assembler, t: &Trace, i: usize) -> Result<(), CompileError> {
        if let Some((fast, kinds)) = &self.fast {
            let a0 = t.ins[i].k & 0xffff;
            if kinds
                .iter()
                .all(|&(slot, arg)| fast_arg_proven(t, i, a0 + slot, arg))
            {
                match *fast {
                    FastTarget::Label(l) => dynasm!(a ; .arch x64 ; call =>l),
                    FastTarget::Addr(addr) => dynasm!(a ; .arch x64
                        ; mov r11, QWORD addr as i64
                        ; call r11),
                }
                return Ok(());
            }
        }
        self.call_rec(a)
    }

    fn frame_floor(&self) -> bool {
        self.floor
    }

    fn call_rec(&mut self, a: &mut Assembler) -> Result<(), CompileError> {
        match self.ctx.root_top {
            None => dynasm!(a ; .arch x64 ; call =>self.top),
            Some(addr) => dynasm!(a ; .arch x64
                ; mov r11, QWORD addr as i64
                ; call r11),
        }
        Ok(())
    }

    fn helper_exit(&mut self, a: &mut Assembler, snap: u32) -> Result<DynamicLabel, CompileError> {
        let fail = a.new_dynamic_label();
        self.helper_exits.push((fail, snap));
        Ok(fail)
    }

    fn count_pass(&mut self, a: &mut Assembler) -> bool {
        if self.ctx.passes != 0 {
            dynasm!(a ; .arch x64
                ; mov r11, QWORD self.ctx.passes as i64
                ; add QWORD [r11], 1);
        }
        self.ctx.passes != 0
    }

    fn avx(&self) -> bool {
        self.ctx.avx
    }

    fn function_op(
        &mut self,
        _: &mut Assembler,
        t: &Trace,
        _: &[Loc],
        i: usize,
        _: DynamicLabel,
    ) -> Result<(), CompileError> {
        Err(CompileError::NotInTraces(t.ins[i].op.mnemonic()))
    }
}

/// Emits the instructions of a trace or of a block of whole-function code
/// ([`crate::aot`]), one after the other: the one emitter of both. `exits` holds the
/// label of each snapshot's exit; `cx` emits what the two differ in ([`Target`]).
pub(crate) fn emit_ops<A: Emitter, T: Target<A>>(
    a: &mut A,
    cx: &mut T,
    t: &Trace,
    loc: &[Loc],
    exits: &[DynamicLabel],
) -> Result<(), CompileError> {
    let homes: Vec<Home> = loc.iter().map(|&l| Home::Reg(l)).collect();
    emit_ops_homes(a, cx, t, &homes, exits, None, 0)
}

/// The shift `s` (1 to 62) when `divisor` is the constant 2^s: such a division or
/// remainder is emitted as shifts, which can neither fault nor wrap.
fn pow2_divisor(t: &Trace, divisor: Ref) -> Option<u32> {
    let k = t.ins.get(divisor.0 as usize)?;
    let v = k.k as i64;
    (k.op == IrOp::KInt && (2..=1 << 62).contains(&v) && v & (v - 1) == 0)
        .then(|| v.trailing_zeros())
}

/// Whether a division must save `rax` and `rdx` (which `imul`/`idiv` write) around
/// itself, given the registers that may hold a live value there
/// ([`Target::live_gprs`]). Its operands are read (copied to `r11`, or into `rax`
/// before `cqo`) before either is written, and its result written after both are
/// restored, so only a value read after the division needs saving.
fn saved_rax_rdx(live: u16) -> (bool, bool) {
    (live & 1 != 0, live & 1 << 2 != 0)
}

/// For a constant divisor `d` that is an [`imm32`], neither 0, -1, 1 nor a power of
/// two [`pow2_divisor`] takes: the multiplier `m` and shift `s` of the signed
/// division by multiplication (Hacker's Delight 10-4; Granlund and Montgomery): the
/// quotient is `(mulhi(m, n) [+ n if d > 0 > m] [- n if d < 0 < m]) >> s`, plus one
/// when that is negative. An `idiv` costs 40+ cycles; fasta's `% IM` divides by
/// 139968 per character.
fn magic_divisor(t: &Trace, divisor: Ref) -> Option<(i64, i64, u32)> {
    let d = imm32(t, divisor)? as i64;
    if pow2_divisor(t, divisor).is_some() || (-1..=1).contains(&d) {
        return None;
    }
    let (m, s) = magic(d);
    Some((d, m, s))
}

/// The multiplier and shift of the signed division by `d` (2 <= |d| < 2^63), by
/// Hacker's Delight's `magic` for 64 bits: the least shift whose multiplier gives the
/// exact truncated quotient for every i64 dividend ([`magic_div`] is the sequence).
fn magic(d: i64) -> (i64, u32) {
    const TWO63: u64 = 1 << 63;
    let ad = d.unsigned_abs();
    let t = TWO63 + ((d as u64) >> 63);
    let anc = t - 1 - t % ad;
    let mut p = 63u32;
    let (mut q1, mut r1) = (TWO63 / anc, TWO63 - (TWO63 / anc) * anc);
    let (mut q2, mut r2) = (TWO63 / ad, TWO63 - (TWO63 / ad) * ad);
    loop {
        p += 1;
        q1 = q1.wrapping_mul(2);
        r1 = r1.wrapping_mul(2);
        if r1 >= anc {
            q1 = q1.wrapping_add(1);
            r1 = r1.wrapping_sub(anc);
        }
        q2 = q2.wrapping_mul(2);
        r2 = r2.wrapping_mul(2);
        if r2 >= ad {
            q2 = q2.wrapping_add(1);
            r2 = r2.wrapping_sub(ad);
        }
        let delta = ad - r2;
        if !(q1 < delta || (q1 == delta && r1 == 0)) {
            break;
        }
    }
    let m = q2.wrapping_add(1) as i64;
    (if d < 0 { m.wrapping_neg() } else { m }, p - 64)
}

/// The quotient the code [`magic_divisor`] selects computes, step for step (the unit
/// tests hold it to `wrapping_div`).
#[cfg(test)]
fn magic_div(n: i64, d: i64, m: i64, s: u32) -> i64 {
    let mut q = ((m as i128 * n as i128) >> 64) as i64;
    if d > 0 && m < 0 {
        q = q.wrapping_add(n);
    } else if d < 0 && m > 0 {
        q = q.wrapping_sub(n);
    }
    q >>= s;
    q.wrapping_add(((q as u64) >> 63) as i64)
}

/// [`emit_ops`] for values with [`Home`]s (spilled ones loaded into temporaries
/// around each instruction); `body` is the label a peeled trace's back-edge jumps to.
fn emit_ops_homes<A: Emitter, T: Target<A>>(
    a: &mut A,
    cx: &mut T,
    t: &Trace,
    homes: &[Home],
    exits: &[DynamicLabel],
    body: Option<DynamicLabel>,
    guarded: usize,
) -> Result<(), CompileError> {
    // Each value's register for the instruction being emitted: its home, or for a
    // spilled operand or result the temporary it is loaded into or computed in.
    let mut view: Vec<Loc> = homes
        .iter()
        .map(|h| match h {
            Home::Reg(l) => *l,
            Home::Spill(_) | Home::Const(_) => Loc::None,
        })
        .collect();
    // The spilled result of the instruction before, still in the temporary it was
    // computed in (and stored from): its next instruction reads it there.
    let mut held: Option<(usize, Loc)> = None;
    let needless = needless_clears(t);
    for (i, ins) in t.ins.iter().enumerate() {
        // Only a guard has an exit (its snapshot's stub is emitted).
        let exit = if ins.op.flags() & flag::GUARD != 0 {
            cx.exit_at(a, i, exits[ins.snap as usize])
        } else {
            exits[ins.snap as usize]
        };
        if t.loop_start == Some(i as u32) {
            // The back-edge jumps here: no temporary is known to hold anything.
            held = None;
        }
        if let Some(body) = body.filter(|_| t.loop_start == Some(i as u32)) {
            dynasm!(a ; .arch x64 ; =>body);
        }
        let spilled = unspill(a, t, homes, &mut view, i, held);
        held = spilled.map(|_| (i, view[i]));
        let loc = &view[..];
        let d = loc[i];
        let g = |r: Ref| match loc[r.0 as usize] {
            Loc::Gpr(x) => x,
            _ => 0,
        };
        let x = |r: Ref| match loc[r.0 as usize] {
            Loc::Xmm(x) => x,
            _ => 0,
        };
        match ins.op {
            IrOp::Phi => move_loc(a, loc[ins.a.0 as usize], d),
            IrOp::KInt | IrOp::KF64 => load_const(a, d, ins.k),
            IrOp::KBool => {
                if let Loc::Gpr(r) = d {
                    dynasm!(a ; .arch x64 ; mov Rq(r), ins.k as i32);
                }
            }
            IrOp::CmpEqI | IrOp::CmpNeI | IrOp::CmpLtI | IrOp::CmpLeI => {
                let (r, p, q) = (g(Ref(i as u32)), g(ins.a), g(ins.b));
                match imm32(t, ins.b) {
                    Some(k) => dynasm!(a ; .arch x64 ; cmp Rq(p), k),
                    None => dynasm!(a ; .arch x64 ; cmp Rq(p), Rq(q)),
                }
                match ins.op {
                    IrOp::CmpEqI => dynasm!(a ; .arch x64 ; sete Rb(r)),
                    IrOp::CmpNeI => dynasm!(a ; .arch x64 ; setne Rb(r)),
                    IrOp::CmpLtI => dynasm!(a ; .arch x64 ; setl Rb(r)),
                    _ => dynasm!(a ; .arch x64 ; setle Rb(r)),
                }
                dynasm!(a ; .arch x64 ; movzx Rq(r), Rb(r));
            }
            IrOp::NotB => {
                let (r, p) = (g(Ref(i as u32)), g(ins.a));
                dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p) ; xor Rq(r), 1);
            }
            IrOp::IsTrue | IrOp::IsFalse => {
                let p = g(ins.a);
                dynasm!(a ; .arch x64 ; test Rq(p), Rq(p));
                if ins.op == IrOp::IsTrue {
                    dynasm!(a ; .arch x64 ; jz =>exit);
                } else {
                    dynasm!(a ; .arch x64 ; jnz =>exit);
                }
            }
            IrOp::SqrtF => {
                let (r, p) = (x(Ref(i as u32)), x(ins.a));
                // As `cvtsi2sd` below: the upper lane of `r` is an input unless `r` is
                // `p` (then it is `p`'s own).
                if r != p {
                    dynasm!(a ; .arch x64 ; xorps Rx(r), Rx(r));
                }
                dynasm!(a ; .arch x64 ; sqrtsd Rx(r), Rx(p));
            }
            IrOp::NegF => {
                let (r, p) = (x(Ref(i as u32)), x(ins.a));
                dynasm!(a ; .arch x64
                    ; movq Rq(SCRATCH), Rx(p)
                    ; btc Rq(SCRATCH), 63
                    ; movq Rx(r), Rq(SCRATCH));
            }
            IrOp::CmpLtF | IrOp::CmpLeF => {
                // a < b is "b above a": ucomisd b, a; unordered sets CF, so NaN gives
                // false for both.
                let (r, p, q) = (g(Ref(i as u32)), x(ins.a), x(ins.b));
                dynasm!(a ; .arch x64 ; ucomisd Rx(q), Rx(p));
                if ins.op == IrOp::CmpLtF {
                    dynasm!(a ; .arch x64 ; seta Rb(r));
                } else {
                    dynasm!(a ; .arch x64 ; setae Rb(r));
                }
                dynasm!(a ; .arch x64 ; movzx Rq(r), Rb(r));
            }
            IrOp::CmpEqF | IrOp::CmpNeF => {
                // Equal: ZF=1 and ordered (PF=0); not equal is its negation.
                let (r, p, q) = (g(Ref(i as u32)), x(ins.a), x(ins.b));
                dynasm!(a ; .arch x64 ; ucomisd Rx(p), Rx(q));
                if ins.op == IrOp::CmpEqF {
                    dynasm!(a ; .arch x64 ; sete Rb(r) ; setnp Rb(SCRATCH) ; and Rb(r), Rb(SCRATCH));
                } else {
                    dynasm!(a ; .arch x64 ; setne Rb(r) ; setp Rb(SCRATCH) ; or Rb(r), Rb(SCRATCH));
                }
                dynasm!(a ; .arch x64 ; movzx Rq(r), Rb(r));
            }
            IrOp::ItoF => {
                let (r, p) = (x(Ref(i as u32)), g(ins.a));
                // `cvtsi2sd` writes only the low lane: the rest of `r` is an input, a
                // false dependency on whatever last wrote `r` (in spectralnorm's loop,
                // the accumulator of the previous iteration, which serialised every
                // iteration's division behind it: 2.3x slower). Zeroing `r` first
                // breaks it (a zeroing idiom, no execution unit).
                dynasm!(a ; .arch x64 ; xorps Rx(r), Rx(r) ; cvtsi2sd Rx(r), Rq(p));
            }
            IrOp::SStore => match imm32(t, ins.a) {
                Some(k) => {
                    let off = disp(ins.k)?;
                    dynasm!(a ; .arch x64 ; mov QWORD [Rq(BASE) + off], k);
                    store_tw(a, BASE, off, t.tagword(ins.a));
                }
                None => store(a, ins.k as u32, loc[ins.a.0 as usize], t.tagword(ins.a))?,
            },
            // The slot holds a tag of this kind already: the payload only.
            IrOp::SStoreP => {
                let off = disp(ins.k)?;
                match (imm32(t, ins.a), loc[ins.a.0 as usize]) {
                    (Some(k), _) => dynasm!(a ; .arch x64 ; mov QWORD [Rq(BASE) + off], k),
                    (None, Loc::Gpr(r)) => {
                        dynasm!(a ; .arch x64 ; mov QWORD [Rq(BASE) + off], Rq(r))
                    }
                    (None, Loc::Xmm(r)) => {
                        dynasm!(a ; .arch x64 ; movsd QWORD [Rq(BASE) + off], Rx(r))
                    }
                    (None, Loc::None) => {}
                }
            }
            IrOp::SClear if needless.get(i) == Some(&true) => {}
            IrOp::SClear => {
                let off = disp(ins.k)?;
                dynasm!(a ; .arch x64 ; mov DWORD [Rq(BASE) + off + 8], Tag::UNIT as i32);
            }
            IrOp::SUnit => {
                let off = disp(ins.k)?;
                dynasm!(a ; .arch x64
                    ; mov QWORD [Rq(BASE) + off], 0
                    ; mov QWORD [Rq(BASE) + off + 8], Tag::UNIT as i32);
            }
            IrOp::CallRecK | IrOp::CallRecSelf => {
                let Some((func, arity, nslots)) = t.entry else {
                    return Err(CompileError::LiveAcrossCall);
                };
                let a0 = (ins.k & 0xffff) as u32;
                let dst = ((ins.k >> 16) & 0xffff) as i16;
                let resume = (ins.k >> 32) as i32;
                let fsz = layout::FRAME_SIZE as i32;
                // Room for as many records as an exit inside the callee may push:
                // checked by the native stack budget's floor where the root's
                // prologue set it from that room, else here.
                let room = if cx.frame_floor() {
                    0
                } else {
                    fsz * (1 + crate::record::MAX_INLINE_DEPTH as i32)
                };
                let call = NativeCall {
                    func,
                    a0: a0 as u64,
                    arity,
                    nslots,
                    dst,
                    resume,
                    room,
                    closure_is_func: ins.op == IrOp::CallRecK,
                    conv: CallConv::Trace,
                    keep: call_rec_keep(t, i),
                    lazy: false,
                    lazy_closure: false,
                    record_kept: false,
                    top_pushed: false,
                    top_kept: false,
                };
                push_native_frame(a, &call, exit)?;
                cx.call_rec_at(a, t, i)?;
                // `tw` bit 0: the result slot is dead at the resume point (the
                // recorder's liveness), nothing reads the result.
                pop_native_frame(a, &call, ins.tw & 1 == 0)?;
            }
            IrOp::CallTree => {
                let c = t
                    .tree_calls
                    .get(ins.k as usize)
                    .ok_or(CompileError::LiveAcrossCall)?;
                let s = &t.snaps[ins.snap as usize];
                for &(slot, r) in &s.entries {
                    store_home(a, slot as u32, homes[r.0 as usize], t.tagword(r))?;
                }
                call_tree(a, c, s, exit)?;
            }
            IrOp::RetDown | IrOp::TailBase => frame_op(a, ins, exit)?,
            IrOp::Link => {
                // A completed pass (for `--jit-stats`), then out through the link's
                // snapshot: the hook enters the linked trace.
                let _ = cx.count_pass(a);
                dynasm!(a ; .arch x64 ; jmp =>exit);
            }
            IrOp::CallC => {
                let c = t
                    .ccalls
                    .get(ins.k as usize)
                    .ok_or(CompileError::LiveAcrossCall)?;
                call_c(a, c)?;
            }
            IrOp::CallInsn => {
                let h = t
                    .helpers
                    .get(ins.k as usize)
                    .ok_or(CompileError::LiveAcrossCall)?;
                // The snapshot's values go to their slots first: the helper (and a
                // collection) sees the exit's state, and registers do not survive.
                for &(slot, r) in &t.snaps[ins.snap as usize].entries {
                    store_home(a, slot as u32, homes[r.0 as usize], t.tagword(r))?;
                }
                let fail = cx.helper_exit(a, ins.snap)?;
                call_helper(
                    a,
                    cx.call_insn_fn(),
                    [
                        HelperArg::Imm((h.func as u64) << 32 | h.ip as u64),
                        HelperArg::Slot(disp(h.base as u64)?),
                        HelperArg::Slot(disp(h.live as u64)?),
                    ],
                    fail,
                );
            }
            IrOp::RetRec => {
                // The caller must be a bytecode frame (else the interpreter returns);
                // then the result goes back in `rax` (payload) and `rdx` (tag word),
                // the frame top in `r11` with the callee's record still pushed, as
                // whole-function code returns (`ret.slot`): a `call.rec` pops the
                // record and stores the result into its own slot
                // ([`pop_native_frame`]); at the outermost level the prologue does
                // the interpreter's return through the records.
                let v = loc[ins.a.0 as usize];
                let fsz = layout::FRAME_SIZE as i32;
                dynasm!(a ; .arch x64
                    ; mov r11, QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]
                    ; cmp BYTE [r11 - 2 * fsz + layout::FRAME_KIND as i32], layout::FRAME_NORMAL as i8
                    ; jne =>exit);
                match v {
                    Loc::Gpr(0) => {}
                    Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov rax, Rq(r)),
                    Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movq rax, Rx(r)),
                    Loc::None => dynasm!(a ; .arch x64 ; xor eax, eax),
                }
                let tw = t.tagword(ins.a);
                if tw <= i32::MAX as u64 {
                    dynasm!(a ; .arch x64 ; mov edx, tw as i32);
                } else {
                    dynasm!(a ; .arch x64 ; mov rdx, QWORD tw as i64);
                }
                if cx.count_pass(a) {
                    dynasm!(a ; .arch x64
                        ; mov r11, QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]);
                }
                dynasm!(a ; .arch x64 ; ret);
            }
            IrOp::GFunc => {
                let off = disp(ins.k & 0xffff_ffff)?;
                let f = (ins.k >> 32) as i32;
                dynasm!(a ; .arch x64
                    ; cmp DWORD [Rq(BASE) + off + 8], Tag::FUNC as i32
                    ; jne =>exit
                    ; cmp QWORD [Rq(BASE) + off], f
                    ; jne =>exit);
            }
            IrOp::GClosure => {
                // The object's address is used only here, between two loads: nothing
                // that can collect runs in between.
                let off = disp(ins.k & 0xffff_ffff)?;
                let f = (ins.k >> 32) as i32;
                dynasm!(a ; .arch x64
                    ; cmp DWORD [Rq(BASE) + off + 8], Tag::OBJ as i32
                    ; jne =>exit
                    ; mov Rq(SCRATCH), QWORD [Rq(BASE) + off]
                    ; cmp BYTE [Rq(SCRATCH) + layout::KIND as i32], layout::KIND_CLOSURE as i8
                    ; jne =>exit
                    ; cmp DWORD [Rq(SCRATCH) + layout::META as i32], f
                    ; jne =>exit);
            }
            IrOp::ALen => {
                let (r, p) = (g(Ref(i as u32)), g(ins.a));
                dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(p) + layout::LEN as i32]);
            }
            IrOp::AGetI | IrOp::AGetF | IrOp::AGetB => {
                // Bounds (unsigned: a negative index is huge), then the element's address
                // in the scratch register: array + FIELDS + 16 * index.
                let (p, q) = (g(ins.a), g(ins.b));
                element_addr(a, p, q, Some(exit));
                let f = layout::FIELDS as i32;
                match ins.op {
                    IrOp::AGetI | IrOp::AGetB => {
                        let tag = if ins.op == IrOp::AGetI {
                            Tag::I64
                        } else {
                            Tag::BOOL
                        } as i32;
                        let r = g(Ref(i as u32));
                        dynasm!(a ; .arch x64
                            ; cmp DWORD [Rq(SCRATCH) + f + 8], tag
                            ; jne =>exit
                            ; mov Rq(r), QWORD [Rq(SCRATCH) + f]);
                    }
                    _ => {
                        let r = x(Ref(i as u32));
                        dynasm!(a ; .arch x64
                            ; cmp DWORD [Rq(SCRATCH) + f + 8], Tag::F64 as i32
                            ; jne =>exit
                            ; movsd Rx(r), QWORD [Rq(SCRATCH) + f]);
                    }
                }
            }
            IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB => {
                let off = disp(ins.k)?;
                // The guards of a function-entry root's leading loads are emitted
                // before its fast entry ([`compile`]).
                if i >= guarded && !load_proven(t, i) {
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(BASE) + off + 8], sload_tag(ins.op)
                        ; jne =>exit);
                }
                match d {
                    Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(BASE) + off]),
                    Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd Rx(r), QWORD [Rq(BASE) + off]),
                    Loc::None => {}
                }
            }
            IrOp::SLoadKI | IrOp::SLoadKF | IrOp::SLoadKB | IrOp::SLoadKP => {
                // A slot whose kind is proven (whole-function code): no guard.
                let off = disp(ins.k)?;
                load_payload(a, d, BASE, off);
            }
            IrOp::AddI | IrOp::SubI | IrOp::MulI | IrOp::AndI | IrOp::OrI | IrOp::XorI
                if imm32(t, ins.b).is_some() =>
            {
                // The constant as an immediate (sign-extended, as the interpreter's
                // 64-bit operand): an addition is one `lea` (no flags are read after it).
                let (r, p) = (g(Ref(i as u32)), g(ins.a));
                let k = imm32(t, ins.b).unwrap_or(0);
                match ins.op {
                    IrOp::AddI => dynasm!(a ; .arch x64 ; lea Rq(r), [Rq(p) + k]),
                    IrOp::SubI if k != i32::MIN => {
                        let nk = -k;
                        dynasm!(a ; .arch x64 ; lea Rq(r), [Rq(p) + nk])
                    }
                    IrOp::SubI => dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p) ; sub Rq(r), k),
                    IrOp::MulI => dynasm!(a ; .arch x64 ; imul Rq(r), Rq(p), k),
                    IrOp::AndI => dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p) ; and Rq(r), k),
                    IrOp::OrI => dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p) ; or Rq(r), k),
                    _ => dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p) ; xor Rq(r), k),
                }
            }
            IrOp::AddI | IrOp::SubI | IrOp::MulI | IrOp::AndI | IrOp::OrI | IrOp::XorI => {
                let (r, p, q) = (g(Ref(i as u32)), g(ins.a), g(ins.b));
                if r != p {
                    dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p));
                }
                match ins.op {
                    IrOp::AddI => dynasm!(a ; .arch x64 ; add Rq(r), Rq(q)),
                    IrOp::SubI => dynasm!(a ; .arch x64 ; sub Rq(r), Rq(q)),
                    IrOp::MulI => dynasm!(a ; .arch x64 ; imul Rq(r), Rq(q)),
                    IrOp::AndI => dynasm!(a ; .arch x64 ; and Rq(r), Rq(q)),
                    IrOp::OrI => dynasm!(a ; .arch x64 ; or Rq(r), Rq(q)),
                    _ => dynasm!(a ; .arch x64 ; xor Rq(r), Rq(q)),
                }
            }
            IrOp::DivI | IrOp::RemI if pow2_divisor(t, ins.b).is_some() => {
                // By a constant 2^s (s >= 1): the interpreter's truncating division
                // (`wrapping_div`) as shifts, a negative dividend biased by 2^s - 1
                // first (its sign bits shifted down); `idiv` costs 40+ cycles.
                // The remainder is the dividend less the quotient times 2^s.
                let s = pow2_divisor(t, ins.b).unwrap_or(1);
                let (r, p) = (g(Ref(i as u32)), g(ins.a));
                dynasm!(a ; .arch x64
                    ; mov r11, Rq(p)
                    ; sar r11, 63
                    ; shr r11, (64 - s) as i8
                    ; add r11, Rq(p)
                    ; sar r11, s as i8);
                if ins.op == IrOp::DivI {
                    dynasm!(a ; .arch x64 ; mov Rq(r), r11);
                } else {
                    dynasm!(a ; .arch x64
                        ; shl r11, s as i8
                        ; mov Rq(r), Rq(p)
                        ; sub Rq(r), r11);
                }
            }
            IrOp::DivI | IrOp::RemI if magic_divisor(t, ins.b).is_some() => {
                // By a constant that is not a power of two: the high half of a
                // multiplication (`imul` takes rax, writes rdx:rax; each saved around
                // when it may hold a live value, [`Target::live_gprs`]), no exit (the
                // divisor is neither 0 nor -1). The dividend is copied to r11 first: it
                // may live in rax or rdx.
                let (d, m, s) = magic_divisor(t, ins.b).unwrap_or((3, 0, 0));
                let (r, p) = (g(Ref(i as u32)), g(ins.a));
                let (save_ax, save_dx) = saved_rax_rdx(cx.live_gprs(i));
                dynasm!(a ; .arch x64 ; mov r11, Rq(p));
                if save_ax {
                    dynasm!(a ; .arch x64 ; push rax);
                }
                if save_dx {
                    dynasm!(a ; .arch x64 ; push rdx);
                }
                dynasm!(a ; .arch x64
                    ; mov rax, QWORD m
                    ; imul r11);
                if d > 0 && m < 0 {
                    dynasm!(a ; .arch x64 ; add rdx, r11);
                } else if d < 0 && m > 0 {
                    dynasm!(a ; .arch x64 ; sub rdx, r11);
                }
                if s > 0 {
                    dynasm!(a ; .arch x64 ; sar rdx, s as i8);
                }
                dynasm!(a ; .arch x64
                    ; mov rax, rdx
                    ; shr rax, 63
                    ; add rdx, rax);
                if ins.op == IrOp::DivI {
                    dynasm!(a ; .arch x64 ; mov r11, rdx);
                } else {
                    dynasm!(a ; .arch x64
                        ; imul rdx, rdx, d as i32
                        ; sub r11, rdx);
                }
                if save_dx {
                    dynasm!(a ; .arch x64 ; pop rdx);
                }
                if save_ax {
                    dynasm!(a ; .arch x64 ; pop rax);
                }
                dynasm!(a ; .arch x64 ; mov Rq(r), r11);
            }
            IrOp::DivI | IrOp::RemI => {
                // idiv takes rdx:rax; each saved around when it may hold a live value
                // ([`Target::live_gprs`]). The divisor is checked first (0 faults and
                // -1 wraps in the interpreter, and either would trap here).
                let (r, p, q) = (g(Ref(i as u32)), g(ins.a), g(ins.b));
                let (save_ax, save_dx) = saved_rax_rdx(cx.live_gprs(i));
                dynasm!(a ; .arch x64
                    ; test Rq(q), Rq(q)
                    ; jz =>exit
                    ; cmp Rq(q), -1
                    ; je =>exit);
                if save_ax {
                    dynasm!(a ; .arch x64 ; push rax);
                }
                if save_dx {
                    dynasm!(a ; .arch x64 ; push rdx);
                }
                dynasm!(a ; .arch x64
                    ; mov r11, Rq(q)
                    ; mov rax, Rq(p)
                    ; cqo
                    ; idiv r11);
                if ins.op == IrOp::DivI {
                    dynasm!(a ; .arch x64 ; mov r11, rax);
                } else {
                    dynasm!(a ; .arch x64 ; mov r11, rdx);
                }
                if save_dx {
                    dynasm!(a ; .arch x64 ; pop rdx);
                }
                if save_ax {
                    dynasm!(a ; .arch x64 ; pop rax);
                }
                dynasm!(a ; .arch x64 ; mov Rq(r), r11);
            }
            IrOp::ShlI | IrOp::ShrI if imm32(t, ins.b).is_some() => {
                // A constant count, masked by 63 as the interpreter does.
                let (r, p) = (g(Ref(i as u32)), g(ins.a));
                let c = (imm32(t, ins.b).unwrap_or(0) & 63) as i8;
                dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p));
                if ins.op == IrOp::ShlI {
                    dynasm!(a ; .arch x64 ; shl Rq(r), c);
                } else {
                    dynasm!(a ; .arch x64 ; sar Rq(r), c);
                }
            }
            IrOp::ShlI | IrOp::ShrI => {
                // The count goes in cl (the hardware masks it by 63, as the
                // interpreter does); rcx may hold a live value: saved around.
                let (r, p, q) = (g(Ref(i as u32)), g(ins.a), g(ins.b));
                dynasm!(a ; .arch x64
                    ; mov r11, Rq(p)
                    ; push rcx
                    ; mov rcx, Rq(q));
                if ins.op == IrOp::ShlI {
                    dynasm!(a ; .arch x64 ; shl r11, cl);
                } else {
                    dynasm!(a ; .arch x64 ; sar r11, cl);
                }
                dynasm!(a ; .arch x64 ; pop rcx ; mov Rq(r), r11);
            }
            IrOp::GLoadI | IrOp::GLoadF | IrOp::GLoadB => {
                let off = disp(ins.k)?;
                let tag = match ins.op {
                    IrOp::GLoadI => Tag::I64,
                    IrOp::GLoadF => Tag::F64,
                    _ => Tag::BOOL,
                } as i32;
                dynasm!(a ; .arch x64
                    ; mov r11, QWORD [Rq(STATE) + layout::ST_GLOBALS as i32]
                    ; cmp DWORD [r11 + off + 8], tag
                    ; jne =>exit);
                match d {
                    Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [r11 + off]),
                    Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd Rx(r), QWORD [r11 + off]),
                    Loc::None => {}
                }
            }
            // A function-entry root's leading object load and its header guards:
            // guarded before the fast entry ([`compile`]), the value loaded here.
            IrOp::SLoad if i < guarded => load_payload(a, d, BASE, disp(ins.k)?),
            IrOp::GKind | IrOp::GMeta if i < guarded || header_proven(t, i) => {}
            IrOp::SLoad
            | IrOp::GLoad
            | IrOp::FLoad
            | IrOp::FLoadK
            | IrOp::ALoad
            | IrOp::AGetFlat
            | IrOp::FrameClo
            | IrOp::KVal
            | IrOp::GKind
            | IrOp::GMeta
            | IrOp::GLen
            | IrOp::GIndex
            | IrOp::HTag
            | IrOp::Payload
            | IrOp::New
            | IrOp::NewArr => data_op(a, t, loc, i, exit)?,
            IrOp::NewArrSlot => new_array_slot(a, t, loc, i, exit)?,
            // Sunk: no code (see `opt::sink_allocations`).
            IrOp::NewSunk | IrOp::HStoreSunk => {}
            // An element store of a kind known only at run time: whole-function code's
            // (which lays out its slow path out of line).
            IrOp::HStore if ins.tw == crate::ir::HSTORE_ELEM => {
                cx.function_op(a, t, loc, i, exit)?
            }
            IrOp::HStore => heap_store(a, t, loc, *ins, exit, cx.remember_stub())?,
            IrOp::AddF | IrOp::SubF | IrOp::MulF | IrOp::DivF
                if loc[ins.b.0 as usize] == Loc::None =>
            {
                // The second operand read from its spill slot ([`unspill`]).
                let (r, p) = (x(Ref(i as u32)), x(ins.a));
                let Home::Spill(k) = homes[ins.b.0 as usize] else {
                    return Err(CompileError::TooManyLiveValues);
                };
                let m = spill_disp(k);
                if r != p && cx.avx() {
                    // Three operands: no copy of the first into the result.
                    match ins.op {
                        IrOp::AddF => dynasm!(a ; .arch x64 ; vaddsd Rx(r), Rx(p), QWORD [rbx + m]),
                        IrOp::SubF => dynasm!(a ; .arch x64 ; vsubsd Rx(r), Rx(p), QWORD [rbx + m]),
                        IrOp::MulF => dynasm!(a ; .arch x64 ; vmulsd Rx(r), Rx(p), QWORD [rbx + m]),
                        _ => dynasm!(a ; .arch x64 ; vdivsd Rx(r), Rx(p), QWORD [rbx + m]),
                    }
                } else {
                    if r != p {
                        dynasm!(a ; .arch x64 ; movapd Rx(r), Rx(p));
                    }
                    match ins.op {
                        IrOp::AddF => dynasm!(a ; .arch x64 ; addsd Rx(r), QWORD [rbx + m]),
                        IrOp::SubF => dynasm!(a ; .arch x64 ; subsd Rx(r), QWORD [rbx + m]),
                        IrOp::MulF => dynasm!(a ; .arch x64 ; mulsd Rx(r), QWORD [rbx + m]),
                        _ => dynasm!(a ; .arch x64 ; divsd Rx(r), QWORD [rbx + m]),
                    }
                }
            }
            IrOp::AddF | IrOp::SubF | IrOp::MulF | IrOp::DivF if cx.avx() => {
                let (r, p, q) = (x(Ref(i as u32)), x(ins.a), x(ins.b));
                if r == p {
                    // In place: the two-operand form is shorter.
                    match ins.op {
                        IrOp::AddF => dynasm!(a ; .arch x64 ; addsd Rx(r), Rx(q)),
                        IrOp::SubF => dynasm!(a ; .arch x64 ; subsd Rx(r), Rx(q)),
                        IrOp::MulF => dynasm!(a ; .arch x64 ; mulsd Rx(r), Rx(q)),
                        _ => dynasm!(a ; .arch x64 ; divsd Rx(r), Rx(q)),
                    }
                } else {
                    match ins.op {
                        IrOp::AddF => dynasm!(a ; .arch x64 ; vaddsd Rx(r), Rx(p), Rx(q)),
                        IrOp::SubF => dynasm!(a ; .arch x64 ; vsubsd Rx(r), Rx(p), Rx(q)),
                        IrOp::MulF => dynasm!(a ; .arch x64 ; vmulsd Rx(r), Rx(p), Rx(q)),
                        _ => dynasm!(a ; .arch x64 ; vdivsd Rx(r), Rx(p), Rx(q)),
                    }
                }
            }
            IrOp::AddF | IrOp::SubF | IrOp::MulF | IrOp::DivF => {
                let (r, p, q) = (x(Ref(i as u32)), x(ins.a), x(ins.b));
                if r != p {
                    dynasm!(a ; .arch x64 ; movapd Rx(r), Rx(p));
                }
                match ins.op {
                    IrOp::AddF => dynasm!(a ; .arch x64 ; addsd Rx(r), Rx(q)),
                    IrOp::SubF => dynasm!(a ; .arch x64 ; subsd Rx(r), Rx(q)),
                    IrOp::MulF => dynasm!(a ; .arch x64 ; mulsd Rx(r), Rx(q)),
                    _ => dynasm!(a ; .arch x64 ; divsd Rx(r), Rx(q)),
                }
            }
            IrOp::LtI | IrOp::LeI | IrOp::GtI | IrOp::GeI | IrOp::EqI | IrOp::NeI => {
                let (p, q) = (g(ins.a), g(ins.b));
                // A constructor test's `ctor.index` left the compare's flags.
                let fused = fused_ctor_test(t, ins.a.0 as usize).is_some();
                match imm32(t, ins.b) {
                    _ if fused => {}
                    Some(k) => dynasm!(a ; .arch x64 ; cmp Rq(p), k),
                    None => dynasm!(a ; .arch x64 ; cmp Rq(p), Rq(q)),
                }
                // Exit when the guarded condition is false.
                match ins.op {
                    IrOp::LtI => dynasm!(a ; .arch x64 ; jge =>exit),
                    IrOp::LeI => dynasm!(a ; .arch x64 ; jg =>exit),
                    IrOp::GtI => dynasm!(a ; .arch x64 ; jle =>exit),
                    IrOp::GeI => dynasm!(a ; .arch x64 ; jl =>exit),
                    IrOp::EqI => dynasm!(a ; .arch x64 ; jne =>exit),
                    _ => dynasm!(a ; .arch x64 ; je =>exit),
                }
            }
            IrOp::SCopy
            | IrOp::Jump
            | IrOp::Exit
            | IrOp::Poll
            | IrOp::CallAotK
            | IrOp::CallAotSelf
            | IrOp::CallRes
            | IrOp::ArgGet
            | IrOp::ArgSet
            | IrOp::TCallAot
            | IrOp::CallAotInd
            | IrOp::CallAotKv
            | IrOp::TCallAotInd
            | IrOp::EnvSlot
            | IrOp::SMove
            | IrOp::RetSlot
            | IrOp::RetVal
            | IrOp::AGetSlot
            | IrOp::GCopy
            | IrOp::FieldSlot
            | IrOp::FieldPtr
            | IrOp::ASetSlot
            | IrOp::SetFieldSlot
            | IrOp::InitSlot
            | IrOp::CtorIdx
            | IrOp::IsNil
            | IrOp::HeadSlot
            | IrOp::HGetI
            | IrOp::HGetF
            | IrOp::HGetB
            | IrOp::HGetP
            | IrOp::HGetC
            | IrOp::Room
            | IrOp::AGetAny
            | IrOp::HSet => cx.function_op(a, t, loc, i, exit)?,
            IrOp::LtF | IrOp::LeF | IrOp::NLtF | IrOp::NLeF => {
                // ucomisd b, a compares b with a: a < b is "above" (CF=0, ZF=0), and
                // an unordered result sets ZF, PF and CF.
                let (p, q) = (x(ins.a), x(ins.b));
                dynasm!(a ; .arch x64 ; ucomisd Rx(q), Rx(p));
                match ins.op {
                    IrOp::LtF => dynasm!(a ; .arch x64 ; jbe =>exit),
                    IrOp::LeF => dynasm!(a ; .arch x64 ; jb =>exit ; jp =>exit),
                    IrOp::NLtF => dynasm!(a ; .arch x64 ; ja =>exit),
                    _ => {
                        // !(a <= b): exit when a <= b, ordered: CF=0 and PF=0.
                        let keep = a.new_label();
                        dynasm!(a ; .arch x64 ; jp =>keep ; jae =>exit ; =>keep);
                    }
                }
            }
        }
        respill(a, t, homes, &mut view, i, spilled);
    }
    Ok(())
}

/// An argument of a helper call: an immediate, or the address of a slot of the
/// running frame (`slots + disp`).
#[derive(Clone, Copy, Debug)]
pub enum HelperArg {
    /// This value.
    Imm(u64),
    /// The address `disp` bytes from the frame's slot 0 (the `BASE` register).
    Slot(i32),
}

/// Where a helper call finds its function.
#[derive(Clone, Copy, Debug)]
pub enum HelperFn {
    /// At this address (a trace: the process's own function).
    Addr(usize),
    /// In the table whose address the trampoline keeps at `[rbx + 8]`, at this byte
    /// offset (code compiled ahead of time, which is position independent).
    Table(i32),
}

/// Emits a call of the `extern "C"` helper `f`, of type
/// `unsafe extern "C" fn(*mut Vm, u64, u64, u64) -> u32` (pointer arguments are
/// `u64`-sized): the VM's address (saved by the prologue at `[rbx]`) and `args`, and
/// jumps to `fail` when it returns a status other than 0 (OK).
///
/// The contract, for every helper a trace calls:
/// - Before the call the trace has stored every value the helper or a collection may
///   see (its slots hold the exit's state; the caller writes the snapshot's entries
///   first). No register survives the call except `BASE`, `INTR`, `STATE`, `rbx` and
///   `rbp`: the register allocator refuses a value live across it
///   ([`CompileError::LiveAcrossCall`]), and the recorder reloads every value after it.
/// - The helper may allocate (and so collect: objects move, the register block is
///   resynced) but must not grow the value stack or push frame records, because the
///   trace's frame pointer and the frames of native recursion stay in machine
///   registers and on the native stack.
/// - It returns a status (`hashvm_vm::jit::status`), never panics or unwinds: 0 means
///   the work is done; anything else means the trace must exit at `fail` with the
///   machine as the helper left it (nothing done, or a fault held by the VM).
///
/// The native stack is aligned to 16 bytes for the call whatever the depth of native
/// recursion; `BASE` and `INTR` (caller-saved) are saved around it.
pub fn call_helper<A: Emitter>(a: &mut A, f: HelperFn, args: [HelperArg; 3], fail: DynamicLabel) {
    native_call_enter(a);
    // rsi, rdx, rcx from BASE before rdi (BASE) is overwritten with the VM.
    for (reg, arg) in [6u8, 2, 1].into_iter().zip(args) {
        match arg {
            HelperArg::Imm(v) => dynasm!(a ; .arch x64 ; mov Rq(reg), QWORD v as i64),
            HelperArg::Slot(d) => dynasm!(a ; .arch x64 ; lea Rq(reg), [Rq(BASE) + d]),
        }
    }
    dynasm!(a ; .arch x64 ; mov rdi, QWORD [rbx]);
    match f {
        HelperFn::Addr(f) => dynasm!(a ; .arch x64
            ; mov rax, QWORD f as i64
            ; call rax),
        // Code compiled ahead of time keeps the frame top in `rbp` and writes it to
        // the register block only where the runtime reads it (`CallConv::Aot`): the
        // helper adopts the records up to it.
        HelperFn::Table(off) => dynasm!(a ; .arch x64
            ; mov QWORD [r12 + layout::ST_FRAME_TOP as i32], rbp
            ; mov rax, QWORD [rbx + 8]
            ; call QWORD [rax + off]),
    }
    native_call_leave(a);
    dynasm!(a ; .arch x64 ; test eax, eax ; jnz =>fail);
}

/// Before a call out of generated code (a helper, a C function): saves `BASE` and
/// `INTR` (caller-saved) and aligns the native stack to 16 bytes whatever the depth of
/// native recursion, keeping the old stack pointer to restore.
fn native_call_enter<A: Emitter>(a: &mut A) {
    dynasm!(a ; .arch x64
        ; push Rq(BASE)
        ; push Rq(INTR)
        ; mov rax, rsp
        ; and rsp, -16
        ; sub rsp, 8
        ; push rax);
}

/// After the call [`native_call_enter`] prepared: the stack pointer, `INTR` and `BASE`
/// back (`rax`, the result, untouched).
fn native_call_leave<A: Emitter>(a: &mut A) {
    dynasm!(a ; .arch x64
        ; pop rsp
        ; pop Rq(INTR)
        ; pop Rq(BASE));
}

/// Emits a direct call of a C function with the fixed scheme of `ffi.call` (see
/// [`crate::ir::CCall`]): the arguments loaded from their slots (whose tags the trace
/// guarded), the native stack aligned, `BASE` and `INTR` saved around the call, and
/// the result stored to its slot with its tag as the interpreter converts it. No
/// register survives it (the register allocator refuses a value live across).
fn call_c<A: Emitter>(a: &mut A, c: &crate::ir::CCall) -> Result<(), CompileError> {
    const INT_ARGS: [u8; 6] = [7, 6, 2, 1, 8, 9];
    if c.ints.len() > INT_ARGS.len() || c.floats.len() > 8 {
        return Err(CompileError::LiveAcrossCall);
    }
    native_call_enter(a);
    dynasm!(a ; .arch x64 ; mov r11, Rq(BASE));
    for (j, &slot) in c.floats.iter().enumerate() {
        let d = disp(slot as u64)?;
        dynasm!(a ; .arch x64 ; movsd Rx(j as u8), QWORD [r11 + d]);
    }
    for (&reg, &slot) in INT_ARGS.iter().zip(&c.ints) {
        let d = disp(slot as u64)?;
        dynasm!(a ; .arch x64 ; mov Rq(reg), QWORD [r11 + d]);
    }
    let dst = disp(c.dst as u64)?;
    dynasm!(a ; .arch x64
        ; mov rax, QWORD c.addr as i64
        ; call rax);
    native_call_leave(a);
    match c.ret {
        crate::ir::CRet::I64 | crate::ir::CRet::I32 => {
            if c.ret == crate::ir::CRet::I32 {
                dynasm!(a ; .arch x64 ; movsxd rax, eax);
            }
            dynasm!(a ; .arch x64
                ; mov QWORD [Rq(BASE) + dst], rax
                ; mov QWORD [Rq(BASE) + dst + 8], Tag::I64 as i32);
        }
        crate::ir::CRet::F64 => dynasm!(a ; .arch x64
            ; movsd QWORD [Rq(BASE) + dst], xmm0
            ; mov QWORD [Rq(BASE) + dst + 8], Tag::F64 as i32),
        crate::ir::CRet::Unit => dynasm!(a ; .arch x64
            ; mov QWORD [Rq(BASE) + dst], 0
            ; mov QWORD [Rq(BASE) + dst + 8], Tag::UNIT as i32),
    }
    Ok(())
}

/// Copies a value between two registers of its class.
fn move_loc<A: Emitter>(a: &mut A, from: Loc, to: Loc) {
    match (from, to) {
        (Loc::Gpr(p), Loc::Gpr(r)) if p != r => dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p)),
        (Loc::Xmm(p), Loc::Xmm(r)) if p != r => dynasm!(a ; .arch x64 ; movapd Rx(r), Rx(p)),
        _ => {}
    }
}

/// Copies a value between two homes (of one class).
fn move_home<A: Emitter>(a: &mut A, from: Home, to: Home) {
    match (from, to) {
        (Home::Reg(f), Home::Reg(t)) => move_loc(a, f, t),
        (Home::Reg(f), Home::Spill(k)) => from_reg_to_spill(a, f, k),
        (Home::Spill(k), Home::Reg(t)) => load_spill(a, t, k),
        (Home::Const(bits), Home::Reg(t)) => load_const(a, t, bits),
        (Home::Const(bits), Home::Spill(k)) => dynasm!(a ; .arch x64
            ; mov Rq(SCRATCH), QWORD bits as i64
            ; mov QWORD [rbx + spill_disp(k)], Rq(SCRATCH)),
        (Home::Spill(j), Home::Spill(k)) if j != k => {
            // Through the stack: no register is free here (the scratch register may
            // hold a value of a cycle being broken).
            dynasm!(a ; .arch x64
                ; push QWORD [rbx + spill_disp(j)]
                ; pop QWORD [rbx + spill_disp(k)]);
        }
        _ => {}
    }
}

/// Stores a register to spill slot `k`.
fn from_reg_to_spill<A: Emitter>(a: &mut A, f: Loc, k: u16) {
    let d = spill_disp(k);
    match f {
        Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov QWORD [rbx + d], Rq(r)),
        Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd QWORD [rbx + d], Rx(r)),
        Loc::None => {}
    }
}

/// Materialises constant bits in a register (a float's through the scratch register).
fn load_const<A: Emitter>(a: &mut A, t: Loc, bits: u64) {
    match t {
        Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD bits as i64),
        Loc::Xmm(r) => dynasm!(a ; .arch x64
            ; mov Rq(SCRATCH), QWORD bits as i64
            ; movq Rx(r), Rq(SCRATCH)),
        Loc::None => {}
    }
}

/// Loads spill slot `k` into a register.
fn load_spill<A: Emitter>(a: &mut A, t: Loc, k: u16) {
    let d = spill_disp(k);
    match t {
        Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [rbx + d]),
        Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd Rx(r), QWORD [rbx + d]),
        Loc::None => {}
    }
}

/// Loads instruction `i`'s spilled operands into temporaries and gives a spilled
/// result a temporary (`view` names them); returns the result's spill slot, for
/// [`respill`]. `held`: the previous instruction's spilled result and the temporary
/// that still holds it (read there, unless this result is computed in that one). A
/// spilled second operand of an f64 `add`/`sub`/`mul`/`div` is left in its slot
/// (no register in `view`): the emitter reads it as a memory operand.
fn unspill<A: Emitter>(
    a: &mut A,
    t: &Trace,
    homes: &[Home],
    view: &mut [Loc],
    i: usize,
    held: Option<(usize, Loc)>,
) -> Option<u16> {
    let ins = t.ins[i];
    // The result's register: its home, or a temporary when it is spilled.
    let result = match homes[i] {
        Home::Spill(_) if t.ty(Ref(i as u32)) == IrType::F64 => Loc::Xmm(XMM_TEMPS[2]),
        Home::Spill(_) => Loc::Gpr(GPR_TEMPS[2]),
        Home::Reg(l) => l,
        // A rematerialised constant's definition emits nothing.
        Home::Const(_) => Loc::None,
    };
    let mut ops: Vec<(Ref, bool)> = Vec::with_capacity(3);
    if ins.op.nargs() >= 1 {
        ops.push((ins.a, false));
    }
    if ins.op.nargs() == 2 {
        ops.push((ins.b, true));
    }
    if ins.op == IrOp::HStore && t.ins[ins.k as usize].op != IrOp::KInt {
        ops.push((Ref(ins.k as u32), true));
    }
    let (mut ng, mut nx) = (0, 0);
    for (r, second) in ops {
        let ri = r.0 as usize;
        if matches!(homes[ri], Home::Reg(_)) || view[ri] != Loc::None {
            continue; // in its register, or the same operand twice
        }
        if imm32(t, r).is_some() && takes_imm(t, &ins, second) {
            continue; // the emitter writes it as an immediate
        }
        if let Some((_, l)) = held.filter(|&(v, l)| v == ri && l != result) {
            view[ri] = l;
            continue;
        }
        if second
            && ins.a != r
            && matches!(homes[ri], Home::Spill(_))
            && matches!(ins.op, IrOp::AddF | IrOp::SubF | IrOp::MulF | IrOp::DivF)
        {
            continue; // `addsd xmm_r, [spill]`
        }
        view[ri] = if !second && reads_first_operand_first(t, &ins) && result != Loc::None {
            // Straight into the result's register, which the code computes in:
            // `movsd xmm_r, [spill]; mulsd xmm_r, b`, not a temporary and a copy.
            // (No other operand is there: a result's register is no live value's.)
            result
        } else if t.ty(r) == IrType::F64 {
            nx += 1;
            Loc::Xmm(XMM_TEMPS[nx - 1])
        } else {
            ng += 1;
            Loc::Gpr(GPR_TEMPS[ng - 1])
        };
        match homes[ri] {
            Home::Spill(k) => load_spill(a, view[ri], k),
            Home::Const(bits) => load_const(a, view[ri], bits),
            Home::Reg(_) => {}
        }
    }
    match homes[i] {
        Home::Spill(k) => {
            view[i] = result;
            Some(k)
        }
        Home::Reg(_) | Home::Const(_) => None,
    }
}

/// The tag a guarded slot load (`sload.i64`, `sload.f64`, `sload.bool`) checks.
fn sload_tag(op: IrOp) -> i32 {
    (match op {
        IrOp::SLoadI => Tag::I64,
        IrOp::SLoadF => Tag::F64,
        _ => Tag::BOOL,
    }) as i32
}

/// How many of a function-entry trace's first instructions are guarded loads of its
/// arguments (and header guards of the objects among them) that can be guarded
/// before everything else: loads of argument slots, and `guard.kind`/`guard.meta` of
/// an object so loaded ([`SlotProof::Obj`]), whose snapshots write nothing (nothing has
/// changed yet), before any loop body. Their guards go before the trace's fast entry;
/// also answers what they prove of each argument slot, in order.
fn entry_prefix(t: &Trace) -> (usize, Vec<(u64, SlotProof)>) {
    let Some((_, arity, _)) = t.entry else {
        return (0, Vec::new());
    };
    let mut args: Vec<(u64, SlotProof)> = Vec::new();
    // The prefix's object loads: (instruction, index in `args`).
    let mut objs: Vec<(u32, usize)> = Vec::new();
    let mut n = 0;
    for (i, ins) in t.ins.iter().enumerate() {
        let clean = t.loop_start.is_none_or(|l| (i as u32) < l)
            && t.snaps
                .get(ins.snap as usize)
                .is_some_and(|s| s.entries.is_empty());
        let arg = ins.k < arity as u64 && args.iter().all(|&(s, _)| s != ins.k);
        let obj = objs.iter().find(|&&(r, _)| r == ins.a.0).map(|&(_, j)| j);
        match (ins.op, obj) {
            _ if !clean => break,
            (IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB, _) if arg => {
                args.push((ins.k, SlotProof::Typed(ins.op)))
            }
            (IrOp::SLoad, _) if arg && ins.tw == Tag::OBJ as u64 => {
                objs.push((i as u32, args.len()));
                args.push((
                    ins.k,
                    SlotProof::Obj {
                        kind: None,
                        meta: None,
                    },
                ));
            }
            (IrOp::GKind, Some(j)) => match &mut args[j].1 {
                SlotProof::Obj { kind: k @ None, .. } => *k = Some(ins.k as u8),
                _ => break,
            },
            (IrOp::GMeta, Some(j)) => match &mut args[j].1 {
                SlotProof::Obj {
                    kind: Some(layout::KIND_DATA),
                    meta: m @ None,
                } => *m = Some(ins.k as u32),
                _ => break,
            },
            _ => break,
        }
        n = i + 1;
    }
    (n, args)
}

/// Whether the value a `call.rec` (instruction `i` of `t`) passes in slot `slot` is
/// proven to pass the fast entry's guards for that argument (`arg`): the last
/// `sstore` to the slot before `i` ([`stored_ref`]) stores an i64, f64 or bool of the
/// guarded load's kind, or an object (tag word OBJ) whose header `t` guarded earlier
/// to the same kind and type id. The trace runs straight through to `i`, so every
/// earlier guard passed on its way; an object's kind and a data object's type id
/// never change (a collection moves the object with its header).
fn fast_arg_proven(t: &Trace, i: usize, slot: u64, arg: SlotProof) -> bool {
    let Some(r) = stored_ref(t, i, slot) else {
        return false;
    };
    let guarded = |op: IrOp, k: u64| {
        let floor = loop_floor(t, i);
        t.ins[floor..i]
            .iter()
            .any(|g| g.op == op && g.a == r && g.k == k)
    };
    match arg {
        SlotProof::Typed(op) => {
            let kind = match t.ty(r) {
                IrType::I64 => IrOp::SLoadI,
                IrType::F64 => IrOp::SLoadF,
                IrType::Bool => IrOp::SLoadB,
                _ => return false,
            };
            kind == op
        }
        SlotProof::Obj { kind, meta } => {
            // Or what proves the loaded object's header where its load read it (a
            // side trace's parent's guards: [`slot_proof`]).
            let (pk, pm) = match t.ins.get(r.0 as usize) {
                Some(l) if l.op == IrOp::SLoad && l.tw == Tag::OBJ as u64 => {
                    match slot_proof(t, r.0 as usize, l.k) {
                        Some(SlotProof::Obj { kind, meta }) => (kind, meta),
                        _ => (None, None),
                    }
                }
                _ => (None, None),
            };
            t.tagword(r) == Tag::OBJ as u64
                && kind.is_none_or(|k| pk == Some(k) || guarded(IrOp::GKind, k as u64))
                && meta.is_none_or(|m| pm == Some(m) || guarded(IrOp::GMeta, m as u64))
        }
    }
}

/// The typed slot load (`sload.i64`/`.f64`/`.bool`) whose tag guard a value of type
/// `ty` written to the slot passes; none for other types (their tag words vary).
fn typed_load(ty: IrType) -> Option<IrOp> {
    match ty {
        IrType::I64 => Some(IrOp::SLoadI),
        IrType::F64 => Some(IrOp::SLoadF),
        IrType::Bool => Some(IrOp::SLoadB),
        _ => None,
    }
}

/// Where a backward search from instruction `i` of `t` stops: a loop body is not
/// searched past its start (its first pass comes from the pre-roll, later ones from
/// the back-edge).
fn loop_floor(t: &Trace, i: usize) -> usize {
    t.loop_start
        .map_or(0, |l| if i >= l as usize { l as usize } else { 0 })
}

/// The value the last `sstore` to slot `slot` before instruction `i` of `t` stored,
/// when nothing else may have written the slot since (any other store, a call, a
/// frame change); `None` also when no store is in sight ([`loop_floor`]).
fn stored_ref(t: &Trace, i: usize, slot: u64) -> Option<Ref> {
    for ins in t.ins[loop_floor(t, i)..i].iter().rev() {
        if ins.op == IrOp::SStore {
            if ins.k == slot {
                return Some(ins.a);
            }
        } else if ins.op.flags() & flag::STORE != 0
            || matches!(
                ins.op,
                IrOp::RetDown | IrOp::TailBase | IrOp::Link | IrOp::Phi
            )
        {
            return None;
        }
    }
    None
}

/// Whether the tag guard of the slot load `i` (`sload.i64`/`.f64`/`.bool`, or `sload`
/// with its tag word) is proven to pass: the last instruction before `i` that loads or
/// stores its slot is a load of it with the same guard, or (for the typed loads) a
/// store of a value of that kind; nothing in between writes the
/// slot. A `call.rec` in between leaves the caller's slots below its callee's frame
/// as they were, but for its result slot: the callee's code runs in its own frame
/// (slots from the arguments' up), returns only through `ret.rec` (which writes the
/// result slot), and an exit inside it never comes back here; a collection moves
/// objects, never changes a slot's kind. So the reload of an argument after a
/// recursive call (fib's `n`) needs no guard. Anything else that may write slots
/// (helper calls, frame moves, a loop body's start) ends the search unproven.
fn load_proven(t: &Trace, i: usize) -> bool {
    let me = t.ins[i];
    let slot = me.k;
    let floor = loop_floor(t, i);
    for ins in t.ins[floor..i].iter().rev() {
        match ins.op {
            IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB | IrOp::SLoad if ins.k == slot => {
                return ins.op == me.op && (me.op != IrOp::SLoad || ins.tw == me.tw);
            }
            IrOp::SLoadKI | IrOp::SLoadKF | IrOp::SLoadKB if ins.k == slot => {
                let want = match ins.op {
                    IrOp::SLoadKI => IrOp::SLoadI,
                    IrOp::SLoadKF => IrOp::SLoadF,
                    _ => IrOp::SLoadB,
                };
                return want == me.op;
            }
            IrOp::SStore if ins.k == slot => return typed_load(t.ty(ins.a)) == Some(me.op),
            IrOp::SClear | IrOp::SUnit if ins.k == slot => return false,
            IrOp::SStore | IrOp::SClear | IrOp::SUnit | IrOp::HStore => {}
            IrOp::CallRecK | IrOp::CallRecSelf => {
                let (a0, dst) = (ins.k & 0xffff, (ins.k >> 16) & 0xffff);
                if slot >= a0 || slot == dst {
                    return false;
                }
            }
            op if op.flags() & flag::STORE != 0
                || matches!(op, IrOp::RetDown | IrOp::TailBase | IrOp::Link | IrOp::Phi) =>
            {
                return false;
            }
            _ => {}
        }
    }
    // Nothing in the trace touched the slot before `i`: a side trace's parent may
    // have proved its tag where the side trace starts ([`Trace::known_in`]).
    floor == 0
        && t.known_in.iter().any(|&(s, p)| {
            s == slot
                && match p {
                    SlotProof::Typed(op) => op == me.op,
                    SlotProof::Obj { .. } => me.op == IrOp::SLoad && me.tw == Tag::OBJ as u64,
                }
        })
}

/// What memory's slot `slot` is proven to hold just before instruction `i` of `t`
/// runs, by `t`'s guards and (back to the trace's start) its parent's
/// ([`Trace::known_in`]): the window back from `i` to the last instruction that may
/// have written the slot holds one value in it, so what a load of the slot in the
/// window guarded (its tag; for an object, `guard.kind` and `guard.meta` on the
/// load, each passed on the way to `i`: the trace runs straight) holds of it; a
/// store that opens the window proves the stored value's kind (i64, f64, bool).
/// What may write the slot ends the window as in [`load_proven`]: a store or clear
/// of it, a `call.rec` whose callee frame covers it or whose result it is, any
/// other instruction that stores (helper calls) or moves the frame, a loop body's
/// start. An object's kind and a data object's type id never change (a collection
/// moves the object with its header).
fn slot_proof(t: &Trace, i: usize, slot: u64) -> Option<SlotProof> {
    let floor = loop_floor(t, i);
    // The latest load's proof, the window's start, the loads of the slot in it.
    let mut found: Option<SlotProof> = None;
    let mut opened: Option<Option<SlotProof>> = None;
    let mut lo = floor;
    let mut loads: Vec<Ref> = Vec::new();
    for j in (floor..i).rev() {
        let ins = t.ins[j];
        let typed = |ty: IrType| typed_load(ty).map(SlotProof::Typed);
        let end = match ins.op {
            IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB if ins.k == slot => {
                found = found.or(Some(SlotProof::Typed(ins.op)));
                None
            }
            IrOp::SLoadKI | IrOp::SLoadKF | IrOp::SLoadKB if ins.k == slot => {
                found = found.or(typed(t.ty(Ref(j as u32))));
                None
            }
            IrOp::SLoad if ins.k == slot && ins.tw == Tag::OBJ as u64 => {
                found = found.or(Some(SlotProof::Obj {
                    kind: None,
                    meta: None,
                }));
                loads.push(Ref(j as u32));
                None
            }
            IrOp::SStore if ins.k == slot => Some(typed(t.ty(ins.a))),
            IrOp::SLoad | IrOp::SLoadKP | IrOp::SClear | IrOp::SUnit if ins.k == slot => Some(None),
            IrOp::SStore | IrOp::SClear | IrOp::SUnit | IrOp::HStore => None,
            IrOp::CallRecK | IrOp::CallRecSelf => {
                let (a0, dst) = (ins.k & 0xffff, (ins.k >> 16) & 0xffff);
                (slot >= a0 || slot == dst).then_some(None)
            }
            op if op.flags() & flag::STORE != 0
                || matches!(op, IrOp::RetDown | IrOp::TailBase | IrOp::Link | IrOp::Phi) =>
            {
                Some(None)
            }
            _ => None,
        };
        if let Some(e) = end {
            opened = Some(e);
            lo = j + 1;
            break;
        }
    }
    // Reached the start: what the parent proved, for a trace not in a loop body.
    let base = match opened {
        Some(p) => p,
        None if floor == 0 => t
            .known_in
            .iter()
            .find(|&&(s, _)| s == slot)
            .map(|&(_, p)| p),
        None => None,
    };
    match (found, base) {
        (Some(SlotProof::Obj { .. }), b) => {
            let (mut kind, mut meta) = match b {
                Some(SlotProof::Obj { kind, meta }) => (kind, meta),
                _ => (None, None),
            };
            for g in &t.ins[lo..i] {
                if loads.contains(&g.a) {
                    match g.op {
                        IrOp::GKind => kind = Some(g.k as u8),
                        IrOp::GMeta => meta = Some(g.k as u32),
                        _ => {}
                    }
                }
            }
            // A type id is a data object's only (an array's meta word changes).
            let meta = meta.filter(|_| kind == Some(layout::KIND_DATA));
            Some(SlotProof::Obj { kind, meta })
        }
        (Some(p), _) => Some(p),
        (None, b) => b,
    }
}

/// Whether the header guard `i` (`guard.kind`, `guard.meta`) of `t` is proven to
/// pass: its object is a load of a slot whose value [`slot_proof`] proves of that
/// kind or type id where the load reads it (in a side trace, what its parent
/// guarded: awfy_permute's `p`, guarded by the root at every activation's start).
fn header_proven(t: &Trace, i: usize) -> bool {
    let ins = t.ins[i];
    let Some(load) = t.ins.get(ins.a.0 as usize) else {
        return false;
    };
    if load.op != IrOp::SLoad || load.tw != Tag::OBJ as u64 {
        return false;
    }
    match slot_proof(t, ins.a.0 as usize, load.k) {
        Some(SlotProof::Obj { kind, meta }) => match ins.op {
            IrOp::GKind => kind == Some(ins.k as u8),
            IrOp::GMeta => meta == Some(ins.k as u32),
            _ => false,
        },
        _ => false,
    }
}

/// What `t` (any trace) proves of the frame's slots wherever it leaves through its
/// exit `k` ([`slot_proof`] at each instruction that exits there, over the slots it
/// loads and stores and those its own start knew; the exit's snapshot entries, which
/// its stub writes, replace those slots' proofs by the stored values' kinds): what a
/// side trace linked there starts with ([`Trace::known_in`]). Its stub writes only
/// the snapshot's values and jumps to the side trace, which nothing else enters.
/// Snapshots 0 and 1 (entry and interrupt checks, a side trace's start) and those of
/// calls and displaced exits give nothing, as does an exit after the trace's frame
/// moved.
pub(crate) fn known_at_exit(t: &Trace, k: u32) -> Vec<(u64, SlotProof)> {
    let Some(snap) = t.snaps.get(k as usize) else {
        return Vec::new();
    };
    if k <= 1 || snap.displaced.is_some() || !snap.sunk.is_empty() {
        return Vec::new();
    }
    let slots: std::collections::BTreeSet<u64> = t
        .ins
        .iter()
        .filter(|ins| {
            matches!(
                ins.op,
                IrOp::SLoadI
                    | IrOp::SLoadF
                    | IrOp::SLoadB
                    | IrOp::SLoadKI
                    | IrOp::SLoadKF
                    | IrOp::SLoadKB
                    | IrOp::SLoad
                    | IrOp::SStore
            )
        })
        .map(|ins| ins.k)
        .chain(t.known_in.iter().map(|&(s, _)| s))
        .collect();
    let mut out: Option<Vec<(u64, SlotProof)>> = None;
    let mut moved = false;
    for (i, ins) in t.ins.iter().enumerate() {
        if ins.snap == k {
            if moved || ins.op.is_call() {
                return Vec::new();
            }
            let mut here: Vec<(u64, SlotProof)> = slots
                .iter()
                .filter_map(|&s| slot_proof(t, i, s).map(|p| (s, p)))
                .filter(|&(s, _)| snap.entries.iter().all(|e| e.0 as u64 != s))
                .collect();
            for &(s, r) in &snap.entries {
                if let Some(op) = typed_load(t.ty(r)) {
                    here.push((s as u64, SlotProof::Typed(op)));
                }
            }
            out = Some(match out {
                None => here,
                Some(o) => o.into_iter().filter(|e| here.contains(e)).collect(),
            });
        }
        if matches!(ins.op, IrOp::RetDown | IrOp::TailBase) {
            moved = true;
        }
    }
    let mut out = out.unwrap_or_default();
    out.sort_unstable_by_key(|e| e.0);
    out
}

/// After instruction `i`: stores a spilled result to its slot, and forgets the
/// temporaries of the spilled values [`unspill`] gave one (instruction `i`'s operands
/// and result: only those, so that emitting a trace stays linear in its length; a
/// sweep of the whole view here made pmap's long traces quadratic).
fn respill<A: Emitter>(
    a: &mut A,
    t: &Trace,
    homes: &[Home],
    view: &mut [Loc],
    i: usize,
    slot: Option<u16>,
) {
    if let Some(k) = slot {
        from_reg_to_spill(a, view[i], k);
    }
    let ins = t.ins[i];
    let mut forget = |r: usize| {
        if matches!(homes.get(r), Some(Home::Spill(_) | Home::Const(_))) {
            view[r] = Loc::None;
        }
    };
    if ins.op.nargs() >= 1 {
        forget(ins.a.0 as usize);
    }
    if ins.op.nargs() == 2 {
        forget(ins.b.0 as usize);
    }
    if ins.op == IrOp::HStore && t.ins[ins.k as usize].op != IrOp::KInt {
        forget(ins.k as usize);
    }
    forget(i);
}

/// Performs the moves `(from, to)` as if at once (the back-edge's phi moves: a value
/// may move into a register another move reads). A move whose destination no other
/// pending move reads goes first; when only cycles are left, one destination's value
/// is saved in the scratch register and the moves that read it read it there.
fn parallel_move<A: Emitter>(a: &mut A, moves: Vec<(Home, Home)>) {
    // Constants read no location: they go last, when every other move has read its
    // source and the scratch register (which a float constant goes through) is free.
    let (konst, moves): (Vec<_>, Vec<_>) = moves
        .into_iter()
        .filter(|(f, t)| f != t && *t != Home::Reg(Loc::None))
        .partition(|(f, _)| matches!(f, Home::Const(_)));
    // `None` as a source: the scratch register (holding a general or float value).
    let mut pending: Vec<(Option<Home>, Home)> =
        moves.into_iter().map(|(f, t)| (Some(f), t)).collect();
    while !pending.is_empty() {
        let ready =
            (0..pending.len()).find(|&k| !pending.iter().any(|(f, _)| *f == Some(pending[k].1)));
        match ready {
            Some(k) => {
                let (f, t) = pending.swap_remove(k);
                match (f, t) {
                    (Some(f), t) => move_home(a, f, t),
                    (None, Home::Reg(Loc::Gpr(r))) => {
                        dynasm!(a ; .arch x64 ; mov Rq(r), Rq(SCRATCH))
                    }
                    (None, Home::Reg(Loc::Xmm(r))) => {
                        dynasm!(a ; .arch x64 ; movq Rx(r), Rq(SCRATCH))
                    }
                    (None, Home::Spill(k)) => {
                        dynasm!(a ; .arch x64 ; mov QWORD [rbx + spill_disp(k)], Rq(SCRATCH))
                    }
                    (None, Home::Reg(Loc::None) | Home::Const(_)) => {}
                }
            }
            None => {
                // Every pending destination is read by another move: a cycle. Save
                // one destination's value; its readers read the scratch register.
                let t = pending[0].1;
                match t {
                    Home::Reg(Loc::Gpr(r)) => dynasm!(a ; .arch x64 ; mov Rq(SCRATCH), Rq(r)),
                    Home::Reg(Loc::Xmm(r)) => dynasm!(a ; .arch x64 ; movq Rq(SCRATCH), Rx(r)),
                    Home::Spill(k) => {
                        dynasm!(a ; .arch x64 ; mov Rq(SCRATCH), QWORD [rbx + spill_disp(k)])
                    }
                    Home::Reg(Loc::None) | Home::Const(_) => {}
                }
                for m in pending.iter_mut() {
                    if m.0 == Some(t) {
                        m.0 = None;
                    }
                }
            }
        }
    }
    for (f, t) in konst {
        move_home(a, f, t);
    }
}

/// Writes a value from its home to a slot as the interpreter would.
fn store_home<A: Emitter>(a: &mut A, slot: u32, h: Home, tw: u64) -> Result<(), CompileError> {
    match h {
        Home::Reg(l) => store(a, slot, l, tw),
        Home::Spill(k) => {
            let off = disp(slot as u64)?;
            dynasm!(a ; .arch x64
                ; mov Rq(SCRATCH), QWORD [rbx + spill_disp(k)]
                ; mov QWORD [Rq(BASE) + off], Rq(SCRATCH));
            store_tw(a, BASE, off, tw);
            Ok(())
        }
        Home::Const(bits) => {
            let off = disp(slot as u64)?;
            match i32::try_from(bits as i64) {
                // Sign-extended, as the processor does.
                Ok(k) => dynasm!(a ; .arch x64 ; mov QWORD [Rq(BASE) + off], k),
                Err(_) => dynasm!(a ; .arch x64
                    ; mov Rq(SCRATCH), QWORD bits as i64
                    ; mov QWORD [Rq(BASE) + off], Rq(SCRATCH)),
            }
            store_tw(a, BASE, off, tw);
            Ok(())
        }
    }
}

/// Writes a value to a slot as the interpreter would: payload, then tag and aux
/// (the tag word `tw`).
pub(crate) fn store<A: Emitter>(a: &mut A, slot: u32, l: Loc, tw: u64) -> Result<(), CompileError> {
    let off = disp(slot as u64)?;
    match l {
        Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov QWORD [Rq(BASE) + off], Rq(r)),
        Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd QWORD [Rq(BASE) + off], Rx(r)),
        Loc::None => return Ok(()),
    }
    store_tw(a, BASE, off, tw);
    Ok(())
}

/// Writes the tag word `tw` (tag, and aux in the high half) of the value at
/// `[reg + off]`.
pub(crate) fn store_tw<A: Emitter>(a: &mut A, reg: u8, off: i32, tw: u64) {
    if tw <= i32::MAX as u64 {
        // Tag and aux (0) in one store.
        dynasm!(a ; .arch x64 ; mov QWORD [Rq(reg) + off + 8], tw as i32);
    } else {
        dynasm!(a ; .arch x64
            ; mov DWORD [Rq(reg) + off + 8], tw as u32 as i32
            ; mov DWORD [Rq(reg) + off + 12], (tw >> 32) as u32 as i32);
    }
}

/// Exits unless the value at `[reg + off]` has the tag word `tw`: its tag, and for a
/// field-less constructor (whose aux is its type id) its aux.
fn guard_tw<A: Emitter>(a: &mut A, reg: u8, off: i32, tw: u64, exit: DynamicLabel) {
    dynasm!(a ; .arch x64 ; cmp DWORD [Rq(reg) + off + 8], tw as u32 as i32 ; jne =>exit);
    if tw as u32 == Tag::CTOR0 {
        dynasm!(a ; .arch x64 ; cmp DWORD [Rq(reg) + off + 12], (tw >> 32) as u32 as i32 ; jne =>exit);
    }
}

/// Loads the payload at `[reg + off]` into the value's register.
fn load_payload<A: Emitter>(a: &mut A, d: Loc, reg: u8, off: i32) {
    match d {
        Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(reg) + off]),
        Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd Rx(r), QWORD [Rq(reg) + off]),
        Loc::None => {}
    }
}

/// The displacement of value field `i` from its object's header.
pub(crate) fn field_disp(i: u64) -> Result<i32, CompileError> {
    i.checked_mul(16)
        .and_then(|d| d.checked_add(layout::FIELDS as u64 + 8))
        .filter(|d| *d <= i32::MAX as u64)
        .map(|d| (d - 8) as i32)
        .ok_or(CompileError::SlotOutOfRange(i))
}

/// The displacement of element `i` of a flat array (8-byte payloads) from its header.
fn flat_disp(i: u64) -> Result<i32, CompileError> {
    i.checked_mul(8)
        .and_then(|d| d.checked_add(layout::FIELDS as u64))
        .filter(|d| *d <= i32::MAX as u64)
        .map(|d| d as i32)
        .ok_or(CompileError::SlotOutOfRange(i))
}

/// log2 of the frame record's size when it is a power of two: the prologue of a
/// function-entry tree then turns the frame stack's room into native stack budget.
const FRAME_SHIFT: Option<i8> = if layout::FRAME_SIZE.is_power_of_two() {
    Some(layout::FRAME_SIZE.trailing_zeros() as i8)
} else {
    None
};

/// Whether the frame record is laid out as function (u32), ip (u32), base (u32), result
/// slot (u16), kind (u8), padding (u8) from offset 0: then a call writes those fields
/// with two 8-byte stores. Checked against the VM's own layout, never assumed.
const PACKED_RECORD: bool = layout::FRAME_FUNC == 0
    && layout::FRAME_IP == 4
    && layout::FRAME_BASE == 8
    && layout::FRAME_RET == 12
    && layout::FRAME_KIND == 14
    && layout::FRAME_PAD == 15;

/// Element `q` of the array `p` (registers): its value is at `[r11 + FIELDS]` after
/// this, r11 (the scratch register) = array + 16 × index, an element being one 16-byte
/// value. With `bounds`, an index at or past the length (unsigned: a negative one is
/// huge) first jumps there.
pub(crate) fn element_addr<A: Emitter>(a: &mut A, p: u8, q: u8, bounds: Option<DynamicLabel>) {
    if let Some(exit) = bounds {
        dynasm!(a ; .arch x64
            ; cmp Rq(q), QWORD [Rq(p) + layout::LEN as i32]
            ; jae =>exit);
    }
    dynasm!(a ; .arch x64
        ; mov Rq(SCRATCH), Rq(q)
        ; shl Rq(SCRATCH), 4
        ; add Rq(SCRATCH), Rq(p));
}

/// The slots (from the trace frame's slot 0) above the trace's frame that hold values
/// valid for the collector at a point of a function-entry trace (or a side trace of
/// one), because this trace wrote them since its last instruction that may collect:
/// cleared (`sclear`, `sunit`), or in the frame of a `call.rec`, which was live
/// through the call and so forwarded by any collection in it.
struct Valid(std::collections::BTreeSet<u64>);

impl Valid {
    /// Where `t` starts: a side trace's parent's exit left [`Trace::valid_in`].
    fn start(t: &Trace) -> Valid {
        Valid(t.valid_in.iter().copied().collect())
    }

    /// The slots valid after `ins`, from those valid before it; `false` when the
    /// trace's frame moved (`ret.down`, `tcall.base`: nothing is known from there).
    fn step(&mut self, ins: &crate::ir::Ins, nslots: u16) -> bool {
        let valid = &mut self.0;
        match ins.op {
            // A clear left out ([`needless_clears`]) leaves a slot that was valid.
            IrOp::SClear | IrOp::SUnit => {
                valid.insert(ins.k);
            }
            IrOp::CallRecK | IrOp::CallRecSelf => {
                // The callee's frame was live through the call, so forwarded by any
                // collection in it; nothing else is known after it.
                let b = ins.k & 0xffff;
                *valid = (b..b + nslots as u64).collect();
            }
            IrOp::CallInsn | IrOp::CallC | IrOp::CallTree => valid.clear(),
            // The trace's frame is another (never before a `call.rec`, which only
            // the function's own level records): keep nothing.
            IrOp::RetDown | IrOp::TailBase => return false,
            op if op.flags() & flag::NOSYNC != 0 => {}
            // Bump allocations and heap stores exit rather than collect; frame
            // reads do neither.
            IrOp::New | IrOp::NewArr | IrOp::HStore | IrOp::FrameClo => {}
            _ => valid.clear(),
        }
        true
    }
}

/// The slots [`Valid`] wherever `t` (a function-entry trace or a side trace of one)
/// leaves through its exit `k`: what a side trace linked there starts with
/// ([`Trace::valid_in`]). Its stub writes only the snapshot's values (valid ones) and
/// jumps to the side trace, which nothing else enters, so nothing collects in
/// between. The exits that do not belong to an instruction (snapshot 0, the root's
/// entry and interrupt checks; 1, a side trace's stack check where it starts) and
/// those of the calls (a callee may have collected) start with none; an exit after
/// the trace's frame moved, likewise.
pub(crate) fn valid_at_exit(t: &Trace, k: u32) -> Vec<u64> {
    let Some((_, _, nslots)) = t.entry else {
        return Vec::new();
    };
    if k <= 1 || t.loop_start.is_some() {
        return Vec::new();
    }
    let mut valid = Valid::start(t);
    let mut moved = false;
    let mut out: Option<std::collections::BTreeSet<u64>> = None;
    for ins in &t.ins {
        if ins.snap == k {
            let here = if moved || ins.op.is_call() {
                Default::default()
            } else {
                valid.0.clone()
            };
            out = Some(match out {
                None => here,
                Some(o) => o.intersection(&here).copied().collect(),
            });
        }
        if !moved && !valid.step(ins, nslots) {
            moved = true;
        }
    }
    out.map_or_else(Vec::new, |o| o.into_iter().collect())
}

/// The `sclear`s of `t` left out (per instruction; empty: none). An inlined callee's push clears
/// its slots past the arguments for the same readers as a `call.rec`'s push
/// ([`call_rec_keep`]): the callee's bytecode, which may read one before writing it,
/// and the collector. An `sclear` marked unread (`tw` bit 0, by the recorder) names
/// a slot above every frame the trace runs in outside the callee, which the callee
/// writes before reading on every path from its entry: no code reads what the clear
/// left there (the trace's code follows the bytecode; the interpreter after an exit
/// inside the callee reads it only where the snapshot names it, the slot being live
/// there only after a write on the path; the callers read nothing of the callee's
/// window after it returns, SPEC.md §4.2). That leaves the collector, which meets the
/// slot while the callee is live (in the frame records an exit inside it pushes, and
/// in a `call.tree`'s or `call.insn`'s roots) and then in any frame pushed over it
/// later: it needs a valid value, which the slot holds when it is [`Valid`] there
/// (the trace's own frame is never marked), and keeps while a collection that scans
/// it forwards it; a collection that does not scan it (the callee returned) makes it invalid for
/// [`Valid`] and for this function from there, like a cleared one. Only in a trace
/// that is not a loop (a function-entry trace and its side traces): a loop body's
/// clear follows the end of the iteration before.
fn needless_clears(t: &Trace) -> Vec<bool> {
    let Some((_, _, nslots)) = t.entry else {
        return Vec::new();
    };
    if t.loop_start.is_some() {
        return Vec::new();
    }
    let mut out = vec![false; t.ins.len()];
    let mut valid = Valid::start(t);
    for (i, ins) in t.ins.iter().enumerate() {
        if ins.op == IrOp::SClear && ins.tw & 1 != 0 && valid.0.contains(&ins.k) {
            out[i] = true;
        }
        if !valid.step(ins, nslots) {
            break;
        }
    }
    out
}

/// The callee's slots a `call.rec` (instruction `i` of `t`) need not clear (bit `j`:
/// the callee's slot `j`, past its arguments). A push clears a slot for two readers:
/// the callee's own bytecode, which may read it before writing it (in the
/// interpreter, after an exit inside the callee), and the collector, which scans
/// every slot of every live frame and must find a valid value there, not a pointer
/// left above the live top by an earlier frame and not forwarded since (the exits
/// and the trace code read no other slot: snapshots name only slots live at their
/// resume point, which the callee's path wrote, and stack traces read the records).
/// (The caller reads none of them after the call: every slot from the window's base
/// up but the result holds garbage then, SPEC.md §4.2.) A slot is left as it is when
/// the callee writes it before reading it on every path from its entry (the
/// recorder's liveness: `tw` bit `j + 1` of the `call.rec`) and it holds a valid
/// value: it is a
/// slot of the trace's own frame (below the live top since that frame was pushed,
/// so forwarded by every collection), or this trace cleared it (`sclear`, `sunit`:
/// an inlined callee's push) or it lay in the frame of an earlier `call.rec`, with
/// no instruction since that may collect (a call out of the trace: `call.insn`,
/// `call.c`, `call.tree`, another `call.rec`) or move the trace's frame. In
/// awfy_permute, the four slots each inlined `swap` clears and the slot of the
/// calling frame under the callee's: 5 of the 6 clears of most calls.
fn call_rec_keep(t: &Trace, i: usize) -> u64 {
    let Some((_, arity, nslots)) = t.entry else {
        return 0;
    };
    let (a0, unread) = (t.ins[i].k & 0xffff, t.ins[i].tw >> 1);
    // The slots (from the trace frame's slot 0) that hold valid values because this
    // trace wrote them since its last instruction that may collect.
    let mut valid = Valid::start(t);
    for ins in &t.ins[..i] {
        if !valid.step(ins, nslots) {
            return 0;
        }
    }
    let valid = valid.0;
    let mut keep = 0;
    for j in arity as u64..(nslots as u64).min(64) {
        let s = a0 + j;
        if unread & 1 << j != 0 && (s < nslots as u64 || valid.contains(&s)) {
            keep |= 1 << j;
        }
    }
    keep
}

/// A call made natively from compiled code (the JIT's native recursion, `call.rec`,
/// and the AOT compiler's direct calls): what [`push_native_frame`] needs.
pub(crate) struct NativeCall {
    /// The callee.
    pub func: u32,
    /// The first argument's slot (the callee's slot 0), in the caller's frame.
    pub a0: u64,
    /// The callee's arity and slot count (slots past the arguments are cleared).
    pub arity: u16,
    pub nslots: u16,
    /// The caller's slot that receives the result.
    pub dst: i16,
    /// The caller's instruction after the call (its frame record's ip).
    pub resume: i32,
    /// Bytes of frame stack the call needs free (its record, and any an exit inside
    /// the callee may push); 0 when the caller's native stack budget covers it (the AOT
    /// trampoline sets its budget so that the frame stack cannot run out first).
    pub room: i32,
    /// The callee's closure slot holds the FUNC value `func` (a known call), rather
    /// than a copy of the caller's closure (a self call).
    pub closure_is_func: bool,
    /// Where the frame top and the native stack's floor are.
    pub conv: CallConv,
    /// Bit `s`: the callee's slot `s` (past its arguments) is not cleared, the callee
    /// covering it before anything can observe it (`aot::clears`); 0 for the JIT.
    pub keep: u64,
    /// The push writes only the callee's function (ip 0) and closure, the fields its
    /// own code reads or rewrites (`getenv`, `callself`, `tcallk`): the caller's
    /// resume offset and the callee's base, result slot and kind are constant per
    /// call site, and the AOT trampoline's shared exit writes them from the return
    /// addresses on the native stack (`aot::emit::fill_records`) before anything can
    /// read them. Only whole-function code whose callee makes no helper call, so
    /// that an exit is the only way anything observes the records; false for the JIT.
    pub lazy: bool,
    /// With `lazy` and `closure_is_func`: the closure is not written either, the
    /// callee's code reading none (no `getenv` or `callself`): the shared exit writes
    /// the FUNC value of the record's function (`aot::emit::fill_records`). False for
    /// the JIT.
    pub lazy_closure: bool,
    /// With `lazy`: the record at the frame top already holds the callee's function
    /// and ip 0, so they are not written: the previous direct call of the same callee
    /// from this frame wrote them, the callee rewrites nothing in its own record (no
    /// tail call to another function, no helper call) and nothing since wrote there
    /// (`aot::emit::record_kept`). False for the JIT.
    pub record_kept: bool,
    /// The frame top (`rbp`) is already one record up, past the record this push
    /// writes: the direct call before it in the fragment left it there
    /// ([`NativeCall::top_kept`]), so the push writes its record at `rbp - FRAME_SIZE`
    /// and does not move `rbp`. False for the JIT.
    pub top_pushed: bool,
    /// The pop leaves the frame top (`rbp`) one record up, for the next direct call of
    /// the fragment, which pushes its record where this call's was (its `top_pushed`):
    /// nothing between the two reads `rbp` (no exit, no helper call,
    /// `aot::emit::top_shared`). False for the JIT.
    pub top_kept: bool,
}

/// How [`frame_record`] finds the callee's base (the caller's plus the first
/// argument's slot).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordBase {
    /// From the caller's record, the innermost, complete.
    Caller,
    /// From `BASE` (the caller's slot 0) and the value stack's base: an AOT exit
    /// stub's push of an inlined callee's frame, whose caller's record may be lazy
    /// ([`NativeCall::lazy`]) and so not yet hold its base.
    Slots,
    /// Not written: a lazy push ([`NativeCall::lazy`]).
    Lazy,
    /// Not written, nor the closure (the FUNC value of `f`): a lazy push of a callee
    /// that reads no closure ([`NativeCall::lazy_closure`]).
    LazyFunc,
}

/// Where a native call finds the frame top and the native stack's floor. The frame
/// top is the one value every call reads and writes: kept only in the register block,
/// each call's load waits on the previous call's store (store forwarding, about 5
/// cycles), a chain through every call of a recursion. In both, nothing is pushed
/// but the return address: the callee returns with `BASE` at its slot 0 and `INTR`
/// unchanged (the caller moves `BASE` back by the argument's offset), its result in
/// `rax` (payload) and `rdx` (tag word) and its frame record still pushed, for the
/// caller to pop ([`pop_native_frame`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallConv {
    /// The tracing JIT's: the frame top read from the register block, the floor in
    /// `rbp`; `ret.rec` returns with the frame top in `r11`.
    Trace,
    /// Whole-function code's (`aot::emit`): the frame top in `rbp`, written to the
    /// register block only where the runtime reads it (every exit, helper call and
    /// return to the trampoline), not at each push and pop; the caller checks the
    /// limits before the push (one compare with a floor in the native stack that
    /// covers the value stack and the frame stack, `aot::emit`).
    Aot,
}

/// Pushes the interpreter's frame record for a native call exactly as the
/// interpreter's push does (limits checked, by the caller with [`CallConv::Aot`], the
/// caller's ip saved, the callee's slots
/// past its arguments cleared, the record and frame top written), then points `BASE`
/// at the callee's slot 0: the caller emits the `call`, then [`pop_native_frame`].
/// Any limit reached jumps to `exit` (the interpreter makes the call). One copy for
/// the JIT and the AOT compiler, so both push the same record.
pub(crate) fn push_native_frame<A: Emitter>(
    a: &mut A,
    c: &NativeCall,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let fsz = layout::FRAME_SIZE as i32;
    let end = disp(c.a0 + c.nslots as u64)?;
    let (f, dst, resume, room) = (c.func, c.dst, c.resume, c.room);
    // Room for the callee's slots, its frame record and native stack: otherwise the
    // interpreter makes the call. Whole-function code checked before.
    if c.conv == CallConv::Trace {
        dynasm!(a ; .arch x64
            ; lea r11, [Rq(BASE) + end]
            ; cmp r11, QWORD [Rq(STATE) + layout::ST_STACK_LIMIT as i32]
            ; ja =>exit);
    }
    // The register holding the frame top.
    let top = match c.conv {
        CallConv::Trace => {
            dynasm!(a ; .arch x64 ; mov r11, QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]);
            SCRATCH
        }
        CallConv::Aot => 5, /* rbp */
    };
    if room != 0 {
        dynasm!(a ; .arch x64
            ; lea rax, [Rq(top) + room]
            ; cmp rax, QWORD [Rq(STATE) + layout::ST_FRAME_LIMIT as i32]
            ; ja =>exit);
    }
    if c.conv == CallConv::Trace {
        dynasm!(a ; .arch x64 ; cmp rsp, rbp ; jb =>exit);
    }
    // The caller resumes after the call (written later from the return address, for
    // a lazy push).
    // Where the frame top is, relative to `top`, and the records from it.
    let bias = if c.top_pushed { -fsz } else { 0 };
    if !c.lazy {
        dynasm!(a ; .arch x64 ; mov DWORD [Rq(top) + bias - fsz + layout::FRAME_IP as i32], resume);
    }
    // The callee's slots past its arguments, cleared as a push clears them (but
    // those the callee covers first).
    for s in c.arity as u64..c.nslots as u64 {
        if s < 64 && c.keep & 1 << s != 0 {
            continue;
        }
        let off = disp(c.a0 + s)?;
        dynasm!(a ; .arch x64 ; mov DWORD [Rq(BASE) + off + 8], Tag::UNIT as i32);
    }
    let base = if c.lazy && c.lazy_closure && c.closure_is_func {
        RecordBase::LazyFunc
    } else if c.lazy {
        RecordBase::Lazy
    } else {
        RecordBase::Caller
    };
    frame_record(
        a,
        top,
        f,
        c.a0,
        dst,
        c.closure_is_func,
        base,
        c.lazy && c.record_kept,
        bias,
    );
    let argoff = disp(c.a0)?;
    if !c.top_pushed {
        dynasm!(a ; .arch x64 ; add Rq(top), fsz);
    }
    if c.conv == CallConv::Trace {
        dynasm!(a ; .arch x64 ; mov QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32], Rq(top));
    }
    dynasm!(a ; .arch x64 ; lea Rq(BASE), [Rq(BASE) + argoff]);
    Ok(())
}

/// Writes the frame record of a call of function `f` at `[top + bias]`, `top + bias`
/// being the frame top (the caller's record the innermost): its base the caller's plus `a0`, its
/// result slot `dst`, ip 0, a NORMAL frame, and its closure the FUNC value of `f`
/// (`closure_is_func`) or the caller's. One copy for [`push_native_frame`] and the
/// exits of whole-function code inside an inlined callee, which push the frame the
/// call would have pushed. `base` says where the callee's base comes from, or that
/// only the function (ip 0) and the closure are written; `func_kept` (a lazy `base`
/// only) that the record holds the function and ip 0 already
/// ([`NativeCall::record_kept`]); `bias` is 0, or `-FRAME_SIZE` when `top` is one
/// record up already ([`NativeCall::top_pushed`]).
/// Clobbers `rax`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn frame_record<A: Emitter>(
    a: &mut A,
    top: u8,
    f: u32,
    a0: u64,
    dst: i16,
    closure_is_func: bool,
    base: RecordBase,
    func_kept: bool,
    bias: i32,
) {
    let fsz = layout::FRAME_SIZE as i32;
    let clo = layout::FRAME_CLOSURE as i32;
    // The callee's base: the caller's (its record is the innermost, and `BASE` is
    // its slot 0) plus the first argument's slot.
    match base {
        RecordBase::Caller => dynasm!(a ; .arch x64
            ; mov eax, DWORD [Rq(top) + bias - fsz + layout::FRAME_BASE as i32]
            ; add eax, a0 as i32),
        RecordBase::Slots => dynasm!(a ; .arch x64
            ; mov rax, Rq(BASE)
            ; sub rax, QWORD [Rq(STATE) + layout::ST_STACK_BASE as i32]
            ; shr rax, 4
            ; add eax, a0 as i32),
        RecordBase::Lazy | RecordBase::LazyFunc => {}
    }
    if matches!(base, RecordBase::Lazy | RecordBase::LazyFunc) {
        if func_kept {
            // Already there.
        } else if PACKED_RECORD && f <= i32::MAX as u32 {
            // Function and ip (0) in one store (at `top` itself in the short form).
            if bias == 0 {
                dynasm!(a ; .arch x64 ; mov QWORD [Rq(top)], f as i32);
            } else {
                dynasm!(a ; .arch x64 ; mov QWORD [Rq(top) + bias], f as i32);
            }
        } else {
            dynasm!(a ; .arch x64
                ; mov DWORD [Rq(top) + bias + layout::FRAME_FUNC as i32], f as i32
                ; mov DWORD [Rq(top) + bias + layout::FRAME_IP as i32], 0);
        }
    } else if PACKED_RECORD && f <= i32::MAX as u32 {
        // Function and ip (0) in one store; base in another, result slot, kind and
        // padding in a third.
        let hi = (dst as u16 as u32 | (layout::FRAME_NORMAL as u32) << 16) as i32;
        if bias == 0 {
            dynasm!(a ; .arch x64 ; mov QWORD [Rq(top)], f as i32);
        } else {
            dynasm!(a ; .arch x64 ; mov QWORD [Rq(top) + bias], f as i32);
        }
        dynasm!(a ; .arch x64
            ; mov DWORD [Rq(top) + bias + 8], eax
            ; mov DWORD [Rq(top) + bias + 12], hi);
    } else {
        dynasm!(a ; .arch x64
            ; mov DWORD [Rq(top) + bias + layout::FRAME_FUNC as i32], f as i32
            ; mov DWORD [Rq(top) + bias + layout::FRAME_IP as i32], 0
            ; mov DWORD [Rq(top) + bias + layout::FRAME_BASE as i32], eax
            ; mov WORD [Rq(top) + bias + layout::FRAME_RET as i32], dst
            ; mov BYTE [Rq(top) + bias + layout::FRAME_KIND as i32], layout::FRAME_NORMAL as i8
            ; mov BYTE [Rq(top) + bias + layout::FRAME_PAD as i32], 0);
    }
    if base == RecordBase::LazyFunc {
        // The shared exit writes it.
    } else if closure_is_func {
        dynasm!(a ; .arch x64
            ; mov QWORD [Rq(top) + bias + clo], f as i32
            ; mov QWORD [Rq(top) + bias + clo + 8], Tag::FUNC as i32);
    } else {
        dynasm!(a ; .arch x64
            ; mov rax, QWORD [Rq(top) + bias - fsz + clo]
            ; mov QWORD [Rq(top) + bias + clo], rax
            ; mov rax, QWORD [Rq(top) + bias - fsz + clo + 8]
            ; mov QWORD [Rq(top) + bias + clo + 8], rax);
    }
}

/// A native return to a bytecode caller, as the interpreter's `ret` does: the result
/// (`rax`/`rdx`) into the caller's slot the callee's record names (its base in the
/// caller's record, its return slot in its own), the record popped. `r11` holds the
/// frame top (the callee's record the last) and is left at the new one; `eax` becomes
/// [`RETURNED`]; `s1` and `s2` are free scratch registers. One copy for the trace
/// prologue's outermost `ret.rec` and the AOT trampoline's return.
pub(crate) fn return_to_caller<A: Emitter>(a: &mut A, s1: u8, s2: u8) {
    let fsz = layout::FRAME_SIZE as i32;
    dynasm!(a ; .arch x64
        ; mov Rd(s1), DWORD [r11 - 2 * fsz + layout::FRAME_BASE as i32]
        ; movzx Rd(s2), WORD [r11 - fsz + layout::FRAME_RET as i32]
        ; add Rq(s1), Rq(s2)
        ; shl Rq(s1), 4
        ; add Rq(s1), QWORD [r12 + layout::ST_STACK_BASE as i32]
        ; mov QWORD [Rq(s1)], rax
        ; mov QWORD [Rq(s1) + 8], rdx
        ; sub r11, fsz
        ; mov QWORD [r12 + layout::ST_FRAME_TOP as i32], r11
        ; mov eax, RETURNED as i32);
}

/// What follows the `call` of a [`push_native_frame`]: the callee returned with its
/// result in `rax`/`rdx`, its record still pushed, `BASE` at its slot 0 and the frame
/// top in a register ([`CallConv`]). Pops the record, moves `BASE` back to the
/// caller's slot 0 and stores the result into the caller's slot: what the
/// interpreter's return does, with the result slot and the base known here rather
/// than read from the records (one copy for the JIT's `call.rec` and `call.tree` and
/// the AOT compiler's direct calls). With [`CallConv::Trace`], `r11` is left at the
/// new frame top. Without `store`, the result stays in `rax`/`rdx` only (whole-function
/// code's `call.res` takes it from there).
pub(crate) fn pop_native_frame<A: Emitter>(
    a: &mut A,
    c: &NativeCall,
    store: bool,
) -> Result<(), CompileError> {
    let fsz = layout::FRAME_SIZE as i32;
    let top = match c.conv {
        CallConv::Trace => SCRATCH,
        CallConv::Aot => 5, /* rbp */
    };
    let d = disp(c.dst as u16 as u64)?;
    let argoff = disp(c.a0)?;
    if !c.top_kept {
        dynasm!(a ; .arch x64 ; sub Rq(top), fsz);
    }
    if c.conv == CallConv::Trace {
        dynasm!(a ; .arch x64 ; mov QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32], Rq(top));
    }
    dynasm!(a ; .arch x64 ; lea Rq(BASE), [Rq(BASE) - argoff]);
    if store {
        dynasm!(a ; .arch x64
            ; mov QWORD [Rq(BASE) + d], rax
            ; mov QWORD [Rq(BASE) + d + 8], rdx);
    }
    Ok(())
}

/// The code of a direct link ([`Ctx::link`]), entered with snapshot `s` written to
/// the slots: what the hook does between a `link` exit and the target's entry, in
/// machine code. First the checks the hook makes (the interrupt flag, the value stack
/// holding the target tree's extent from the frame it runs in, the frame stack holding
/// the frames pushed here plus those an exit of the target may push), each failing to
/// `stub`, the snapshot's own exit (the hook then does it all in Rust); then the
/// frames the snapshot inlined are pushed as `materialise` pushes them (each caller
/// resuming after its call, the innermost frame at the target's anchor), the slots
/// base register moves to the innermost frame, and the code jumps to the target's
/// loop header, in the same native frame (every root's prologue is the same). Only
/// `rax`, `rcx` and `r11` are written: every value of this trace is dead here.
fn direct_link<A: Emitter>(
    a: &mut A,
    s: &crate::ir::Snapshot,
    dl: DirectLink,
    stub: DynamicLabel,
) -> Result<(), CompileError> {
    let fsz = layout::FRAME_SIZE as i32;
    let n = s.frames.len() as i32;
    let new_base = disp(s.frames.last().map_or(0, |f| f.base as u64))?;
    dynasm!(a ; .arch x64
        ; cmp BYTE [Rq(INTR)], 0
        ; jne =>stub
        ; mov r11, QWORD dl.reach as i64
        ; mov eax, DWORD [r11 + std::mem::offset_of!(Reach, extent) as i32]
        ; shl rax, 4
        ; lea rcx, [Rq(BASE) + new_base]
        ; add rax, rcx
        ; cmp rax, QWORD [Rq(STATE) + layout::ST_STACK_LIMIT as i32]
        ; ja =>stub
        ; mov eax, DWORD [r11 + std::mem::offset_of!(Reach, depth) as i32]
        ; add eax, n
        ; imul eax, eax, fsz
        ; add rax, QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]
        ; cmp rax, QWORD [Rq(STATE) + layout::ST_FRAME_LIMIT as i32]
        ; ja =>stub
        ; mov r11, QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]);
    push_inlined_frames(a, &s.frames, s.resume_ip)?;
    if dl.count != 0 {
        dynasm!(a ; .arch x64
            ; mov r11, QWORD dl.count as i64
            ; add QWORD [r11], 1);
    }
    dynasm!(a ; .arch x64
        ; mov r11, QWORD dl.top as i64
        ; jmp r11);
    Ok(())
}

/// Writes the frame records of the inlined `frames` (a snapshot's, outermost first)
/// as an exit materialises them: the running frame's record (the innermost, `r11` =
/// the register block's frame top on entry) resumes at the first inlined frame's
/// return point, each inlined frame at the next one's, the innermost at `resume_ip`;
/// then the frame top moves past them and the slots base register to the innermost
/// frame's slot 0. Writes `rax`, `rcx`, `r11` (the new frame top) and the base.
fn push_inlined_frames<A: Emitter>(
    a: &mut A,
    frames: &[crate::ir::SnapFrame],
    resume_ip: u32,
) -> Result<(), CompileError> {
    use crate::ir::ClosureSrc;
    let fsz = layout::FRAME_SIZE as i32;
    let clo = layout::FRAME_CLOSURE as i32;
    let n = frames.len() as i32;
    let new_base = disp(frames.last().map_or(0, |f| f.base as u64))?;
    dynasm!(a ; .arch x64
        ; mov DWORD [r11 - fsz + layout::FRAME_IP as i32],
            frames.first().map_or(resume_ip, |f| f.resume) as i32);
    if !frames.is_empty() {
        // rcx: the running frame's base (slot index).
        dynasm!(a ; .arch x64
            ; mov rcx, Rq(BASE)
            ; sub rcx, QWORD [Rq(STATE) + layout::ST_STACK_BASE as i32]
            ; shr rcx, 4);
        for (i, f) in frames.iter().enumerate() {
            let at = i as i32 * fsz;
            let ip = frames.get(i + 1).map_or(resume_ip, |g| g.resume);
            dynasm!(a ; .arch x64
                ; mov DWORD [r11 + at + layout::FRAME_FUNC as i32], f.func as i32
                ; mov DWORD [r11 + at + layout::FRAME_IP as i32], ip as i32
                ; mov eax, ecx
                ; add eax, f.base as i32
                ; mov DWORD [r11 + at + layout::FRAME_BASE as i32], eax
                ; mov WORD [r11 + at + layout::FRAME_RET as i32], f.ret as i16
                ; mov BYTE [r11 + at + layout::FRAME_KIND as i32], layout::FRAME_NORMAL as i8
                ; mov BYTE [r11 + at + layout::FRAME_PAD as i32], 0);
            match f.closure {
                ClosureSrc::Func(g) => dynasm!(a ; .arch x64
                    ; mov rax, QWORD g as i64
                    ; mov QWORD [r11 + at + clo], rax
                    ; mov QWORD [r11 + at + clo + 8], Tag::FUNC as i32),
                ClosureSrc::Base => dynasm!(a ; .arch x64
                    ; mov rax, QWORD [r11 - fsz + clo]
                    ; mov QWORD [r11 + at + clo], rax
                    ; mov rax, QWORD [r11 - fsz + clo + 8]
                    ; mov QWORD [r11 + at + clo + 8], rax),
                ClosureSrc::Slot(k) => {
                    let off = disp(k as u64)?;
                    dynasm!(a ; .arch x64
                        ; mov rax, QWORD [Rq(BASE) + off]
                        ; mov QWORD [r11 + at + clo], rax
                        ; mov rax, QWORD [Rq(BASE) + off + 8]
                        ; mov QWORD [r11 + at + clo + 8], rax);
                }
            }
        }
        dynasm!(a ; .arch x64
            ; add r11, n * fsz
            ; mov QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32], r11
            ; lea Rq(BASE), [Rq(BASE) + new_base]);
    }
    Ok(())
}

/// A call of another function's function-entry tree (`call.tree`) from a trace whose
/// snapshot there is `s` (the call instruction, with the inlined frames live at it):
/// the checks first (the value stack holding the callee's frame, the frame stack
/// holding the inlined frames' records, the callee's, and those an exit inside it may
/// push, the native stack budget), each exiting through `exit` before anything is
/// written (the interpreter then makes the call); then the inlined frames' records
/// ([`push_inlined_frames`]), the callee's ([`push_native_frame`], as `call.rec`), the
/// call of the tree's entry, and after its native return the callee's record popped
/// and its result stored ([`pop_native_frame`]), then the inlined frames' records
/// popped again and the base register back at the trace's frame. An exit
/// inside the callee leaves from there, every record it needs written.
fn call_tree<A: Emitter>(
    a: &mut A,
    c: &crate::ir::TreeCall,
    s: &crate::ir::Snapshot,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let fsz = layout::FRAME_SIZE as i32;
    let n = s.frames.len() as i32;
    let inner = s.frames.last().map_or(0, |f| f.base);
    let rel =
        c.a0.checked_sub(inner)
            .ok_or(CompileError::SlotOutOfRange(c.a0 as u64))?;
    let room = fsz * (n + 1 + crate::record::MAX_INLINE_DEPTH as i32);
    if n > 0 {
        let end = disp(c.a0 as u64 + c.nslots as u64)?;
        dynasm!(a ; .arch x64
            ; lea r11, [Rq(BASE) + end]
            ; cmp r11, QWORD [Rq(STATE) + layout::ST_STACK_LIMIT as i32]
            ; ja =>exit
            ; mov r11, QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]
            ; lea rax, [r11 + room]
            ; cmp rax, QWORD [Rq(STATE) + layout::ST_FRAME_LIMIT as i32]
            ; ja =>exit
            ; cmp rsp, rbp
            ; jb =>exit);
        push_inlined_frames(a, &s.frames, c.resume)?;
    }
    // With inlined frames, `push_native_frame`'s own checks repeat the ones above on
    // the same values (the base register moved to the innermost frame, and the
    // argument slot with it): they cannot fail after those passed.
    let call = NativeCall {
        func: c.func,
        a0: rel as u64,
        arity: c.arity,
        nslots: c.nslots,
        dst: c.dst as i16,
        resume: c.resume as i32,
        room: if n > 0 { 0 } else { room },
        closure_is_func: c.closure_is_func,
        conv: CallConv::Trace,
        keep: 0,
        lazy: false,
        lazy_closure: false,
        record_kept: false,
        top_pushed: false,
        top_kept: false,
    };
    push_native_frame(a, &call, exit)?;
    dynasm!(a ; .arch x64
        ; mov r11, QWORD c.addr as i64
        ; call r11);
    pop_native_frame(a, &call, true)?;
    if n > 0 {
        let back = disp(inner as u64)?;
        dynasm!(a ; .arch x64
            ; sub r11, n * fsz
            ; mov QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32], r11
            ; sub Rq(BASE), back);
    }
    Ok(())
}

/// The operations that change which frame the trace runs in: a return below its
/// frame (`ret.down`), a tail call at its level (`tcall.base`). Only `r11` and the
/// slots base register are written (values stay in their registers across them).
fn frame_op<A: Emitter>(
    a: &mut A,
    ins: &crate::ir::Ins,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let fsz = layout::FRAME_SIZE as i32;
    match ins.op {
        IrOp::RetDown => {
            let func = (ins.k & 0xffff_ffff) as i32;
            let ip = (ins.k >> 32) as i32;
            let ret = (ins.tw & 0xffff) as i16;
            let delta = (ins.tw >> 16) as u32;
            let shift = i32::try_from(delta as u64 * 16)
                .map_err(|_| CompileError::SlotOutOfRange(delta as u64))?;
            // What the interpreter's `ret` finds: the caller's record under the
            // innermost one, a bytecode frame of that function at that return point,
            // and the innermost record's result slot and base (so that the caller's
            // slot numbers are the recorded ones). Every check exits before anything
            // changed (the interpreter then runs the `ret`).
            dynasm!(a ; .arch x64
                ; mov r11, QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]
                ; cmp BYTE [r11 - 2 * fsz + layout::FRAME_KIND as i32], layout::FRAME_NORMAL as i8
                ; jne =>exit
                ; cmp DWORD [r11 - 2 * fsz + layout::FRAME_FUNC as i32], func
                ; jne =>exit
                ; cmp DWORD [r11 - 2 * fsz + layout::FRAME_IP as i32], ip
                ; jne =>exit
                ; cmp WORD [r11 - fsz + layout::FRAME_RET as i32], ret
                ; jne =>exit
                // base(innermost) - base(caller) == delta, through the base register
                // (restored before the jump: an exit stores relative to it).
                ; push Rq(BASE)
                ; mov Rd(BASE), DWORD [r11 - fsz + layout::FRAME_BASE as i32]
                ; sub Rd(BASE), DWORD [r11 - 2 * fsz + layout::FRAME_BASE as i32]
                ; cmp Rd(BASE), delta as i32
                ; pop Rq(BASE)
                ; jne =>exit
                // Pop the record; the caller's slot 0 is `delta` slots down.
                ; sub r11, fsz
                ; mov QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32], r11
                ; sub Rq(BASE), shift);
        }
        IrOp::TailBase => {
            let func = ins.k as i32;
            let clo = layout::FRAME_CLOSURE as i32 - fsz;
            dynasm!(a ; .arch x64
                ; mov r11, QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]
                ; mov DWORD [r11 - fsz + layout::FRAME_FUNC as i32], func
                ; mov DWORD [r11 - fsz + layout::FRAME_IP as i32], 0
                ; mov QWORD [r11 + clo], func
                ; mov QWORD [r11 + clo + 8], Tag::FUNC as i32);
        }
        _ => {}
    }
    Ok(())
}

/// The data operations: loads of any value (guarded on their tag word), header
/// guards, and the one heap store with its write barrier. Object addresses live in
/// registers only between instructions that cannot collect (nothing in a trace
/// does; exits leave the trace).
fn data_op<A: Emitter>(
    a: &mut A,
    t: &Trace,
    loc: &[Loc],
    i: usize,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let ins = t.ins[i];
    let d = loc[i];
    let g = |r: Ref| match loc[r.0 as usize] {
        Loc::Gpr(x) => x,
        _ => 0,
    };
    match ins.op {
        IrOp::SLoad => {
            let off = disp(ins.k)?;
            if !load_proven(t, i) {
                guard_tw(a, BASE, off, ins.tw, exit);
            }
            load_payload(a, d, BASE, off);
        }
        IrOp::GLoad => {
            let off = disp(ins.k)?;
            dynasm!(a ; .arch x64 ; mov Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_GLOBALS as i32]);
            guard_tw(a, SCRATCH, off, ins.tw, exit);
            load_payload(a, d, SCRATCH, off);
        }
        IrOp::FrameClo => {
            let off = layout::FRAME_CLOSURE as i32 - layout::FRAME_SIZE as i32;
            dynasm!(a ; .arch x64 ; mov Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_FRAME_TOP as i32]);
            guard_tw(a, SCRATCH, off, ins.tw, exit);
            load_payload(a, d, SCRATCH, off);
        }
        IrOp::FLoad => {
            let off = field_disp(ins.k)?;
            let p = g(ins.a);
            guard_tw(a, p, off, ins.tw, exit);
            load_payload(a, d, p, off);
        }
        IrOp::FLoadK => {
            // The tag is proven (`kinds`): the payload alone.
            let off = field_disp(ins.k)?;
            load_payload(a, d, g(ins.a), off);
        }
        IrOp::ALoad => {
            let (p, q) = (g(ins.a), g(ins.b));
            let f = layout::FIELDS as i32;
            element_addr(a, p, q, Some(exit));
            guard_tw(a, SCRATCH, f, ins.tw, exit);
            load_payload(a, d, SCRATCH, f);
        }
        IrOp::AGetFlat => {
            // Bounds, then one load of the 8-byte payload: no tag to check.
            let (p, q) = (g(ins.a), g(ins.b));
            dynasm!(a ; .arch x64
                ; cmp Rq(q), QWORD [Rq(p) + layout::LEN as i32]
                ; jae =>exit);
            let f = layout::FIELDS as i32;
            match d {
                Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(p) + Rq(q) * 8 + f]),
                Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd Rx(r), QWORD [Rq(p) + Rq(q) * 8 + f]),
                Loc::None => {}
            }
        }
        IrOp::KVal => {
            if let Loc::Gpr(r) = d {
                dynasm!(a ; .arch x64 ; mov Rq(r), QWORD ins.k as i64);
            }
        }
        IrOp::GKind => {
            let p = g(ins.a);
            dynasm!(a ; .arch x64
                ; cmp BYTE [Rq(p) + layout::KIND as i32], ins.k as u8 as i8
                ; jne =>exit);
        }
        IrOp::GMeta => {
            let p = g(ins.a);
            dynasm!(a ; .arch x64
                ; cmp DWORD [Rq(p) + layout::META as i32], ins.k as u32 as i32
                ; jne =>exit);
        }
        IrOp::GLen => {
            let p = g(ins.a);
            let k = i32::try_from(ins.k).map_err(|_| CompileError::SlotOutOfRange(ins.k))?;
            dynasm!(a ; .arch x64
                ; cmp QWORD [Rq(p) + layout::LEN as i32], k
                ; jbe =>exit);
        }
        IrOp::GIndex => {
            let (p, q) = (g(ins.a), g(ins.b));
            dynasm!(a ; .arch x64
                ; cmp Rq(q), QWORD [Rq(p) + layout::LEN as i32]
                ; jae =>exit);
        }
        IrOp::HTag => {
            let (r, p) = (g(Ref(i as u32)), g(ins.a));
            dynasm!(a ; .arch x64 ; movzx Rd(r), WORD [Rq(p) + layout::TAG as i32]);
        }
        IrOp::Payload => {
            let (r, p) = (g(Ref(i as u32)), g(ins.a));
            dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p));
        }
        IrOp::New => {
            // The nursery's bump pointer and limit, as `Heap::try_alloc` uses them (the
            // limit is the pointer itself when the next allocation must collect:
            // stress mode, a forced collection), so that every allocation the
            // interpreter would make on its slow path exits here to the interpreter.
            let r = g(Ref(i as u32));
            let size = ins
                .tw
                .checked_mul(16)
                .and_then(|b| b.checked_add(16))
                .and_then(|b| i32::try_from(b).ok())
                .ok_or(CompileError::SlotOutOfRange(ins.tw))?;
            let len = i32::try_from(ins.tw).map_err(|_| CompileError::SlotOutOfRange(ins.tw))?;
            dynasm!(a ; .arch x64
                ; mov Rq(r), QWORD [Rq(STATE) + layout::ST_HEAP_PTR as i32]
                ; lea Rq(SCRATCH), [Rq(r) + size]
                ; cmp Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_HEAP_LIMIT as i32]
                ; ja =>exit
                ; mov QWORD [Rq(STATE) + layout::ST_HEAP_PTR as i32], Rq(SCRATCH)
                ; mov Rq(SCRATCH), QWORD ins.k as i64
                ; mov QWORD [Rq(r)], Rq(SCRATCH)
                ; mov QWORD [Rq(r) + 8], len);
        }
        IrOp::NewArr => new_array(a, t, loc, i, exit)?,
        _ => {}
    }
    Ok(())
}

/// `new.array`: an array of `a` copies of `b` bumped from the nursery as `new` bumps
/// an object (the same exit when it has no room), its size and layout the
/// interpreter's `anew`'s (`Elems::payload`: 16-byte values, or 8-byte payloads
/// rounded up to 16 bytes), filled from its end down in one loop that also writes
/// over the header's words, which are written last. Exits first unless the length
/// is in `1..=max_inline_array`: the interpreter then allocates (or faults on a
/// negative length).
fn new_array<A: Emitter>(
    a: &mut A,
    t: &Trace,
    loc: &[Loc],
    i: usize,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let ins = t.ins[i];
    let (Loc::Gpr(r), Loc::Gpr(n)) = (loc[i], loc[ins.a.0 as usize]) else {
        return Err(CompileError::LiveAcrossCall);
    };
    let (_, _, elems, _) = layout::header_fields([ins.k, 0]);
    let general = elems == layout::ELEMS_GENERAL;
    let max = i32::try_from(crate::ir::max_inline_array(elems))
        .map_err(|_| CompileError::SlotOutOfRange(ins.k))?;
    let fields = layout::FIELDS as i32;
    dynasm!(a ; .arch x64
        ; lea Rq(SCRATCH), [Rq(n) - 1]
        ; cmp Rq(SCRATCH), max - 1
        ; ja =>exit);
    if general {
        dynasm!(a ; .arch x64
            ; mov Rq(SCRATCH), Rq(n)
            ; shl Rq(SCRATCH), 4
            ; add Rq(SCRATCH), fields);
    } else {
        dynasm!(a ; .arch x64
            ; lea Rq(SCRATCH), [Rq(n) * 8 + fields + 15]
            ; and Rq(SCRATCH), -16);
    }
    let top = a.new_label();
    bump_sized(a, r, exit);
    dynasm!(a ; .arch x64
        ; =>top
        ; sub Rq(SCRATCH), if general { 16 } else { 8 });
    match loc[ins.b.0 as usize] {
        Loc::Gpr(x) => dynasm!(a ; .arch x64 ; mov QWORD [Rq(SCRATCH)], Rq(x)),
        Loc::Xmm(x) => dynasm!(a ; .arch x64 ; movsd QWORD [Rq(SCRATCH)], Rx(x)),
        // A value without a payload (in a general array only: the builder checks).
        Loc::None => dynasm!(a ; .arch x64 ; mov QWORD [Rq(SCRATCH)], 0),
    }
    if general {
        store_tw(a, SCRATCH, 0, t.tagword(ins.b));
    }
    dynasm!(a ; .arch x64
        ; cmp Rq(SCRATCH), Rq(r)
        ; ja =>top
        ; mov Rq(SCRATCH), QWORD ins.k as i64
        ; mov QWORD [Rq(r)], Rq(SCRATCH)
        ; mov QWORD [Rq(r) + layout::LEN as i32], Rq(n));
    Ok(())
}

/// The bump of an object whose size in bytes is in `SCRATCH`, as `new`'s (the same
/// register block fields, the same exit when the nursery has no room): its start in
/// `r`, its end in `SCRATCH`, the bump pointer moved past it.
fn bump_sized<A: Emitter>(a: &mut A, r: u8, exit: DynamicLabel) {
    dynasm!(a ; .arch x64
        ; mov Rq(r), QWORD [Rq(STATE) + layout::ST_HEAP_PTR as i32]
        ; add Rq(SCRATCH), Rq(r)
        ; cmp Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_HEAP_LIMIT as i32]
        ; ja =>exit
        ; mov QWORD [Rq(STATE) + layout::ST_HEAP_PTR as i32], Rq(SCRATCH));
}

/// `new.array.slot` (whole-function code): `new.array` of the value in slot `k`,
/// whose tag decides the layout at run time, as `Elems::of_tag` does for the
/// interpreter's `anew`. Every exit (a length out of range, no room) comes before the
/// fill, which copies the value from its slot through one or two registers saved on
/// the native stack around the loop (any of them may hold a live value).
fn new_array_slot<A: Emitter>(
    a: &mut A,
    t: &Trace,
    loc: &[Loc],
    i: usize,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let ins = t.ins[i];
    let (Loc::Gpr(r), Loc::Gpr(n)) = (loc[i], loc[ins.a.0 as usize]) else {
        return Err(CompileError::LiveAcrossCall);
    };
    let off = disp(ins.k)?;
    let mut temps = [0u8, 1, 2, 8].into_iter().filter(|&x| x != r && x != n);
    let (Some(t1), Some(t2)) = (temps.next(), temps.next()) else {
        return Err(CompileError::LiveAcrossCall);
    };
    let (first, last) = (
        layout::ELEMS_FLAT_FIRST as i32,
        layout::ELEMS_FLAT_LAST as i32,
    );
    let general_max = crate::ir::max_inline_array(layout::ELEMS_GENERAL) as i32;
    let flat_max = crate::ir::max_inline_array(layout::ELEMS_FLAT_FIRST) as i32;
    let [k, _] = layout::header_words(layout::KIND_ARRAY, 0, layout::ELEMS_GENERAL, 0);
    let fields = layout::FIELDS as i32;
    let (flat, done) = (a.new_label(), a.new_label());
    let (gloop, floop) = (a.new_label(), a.new_label());
    dynasm!(a ; .arch x64
        ; mov Rd(SCRATCH), DWORD [Rq(BASE) + off + 8]
        ; sub Rd(SCRATCH), first
        ; cmp Rd(SCRATCH), last - first
        ; jbe =>flat
        // General: 16-byte values, copied whole (a field-less constructor's aux too).
        ; lea Rq(SCRATCH), [Rq(n) - 1]
        ; cmp Rq(SCRATCH), general_max - 1
        ; ja =>exit
        ; mov Rq(SCRATCH), Rq(n)
        ; shl Rq(SCRATCH), 4
        ; add Rq(SCRATCH), fields);
    bump_sized(a, r, exit);
    dynasm!(a ; .arch x64
        ; push Rq(t1)
        ; push Rq(t2)
        ; mov Rq(t1), QWORD [Rq(BASE) + off]
        ; mov Rq(t2), QWORD [Rq(BASE) + off + 8]
        ; =>gloop
        ; sub Rq(SCRATCH), 16
        ; mov QWORD [Rq(SCRATCH)], Rq(t1)
        ; mov QWORD [Rq(SCRATCH) + 8], Rq(t2)
        ; cmp Rq(SCRATCH), Rq(r)
        ; ja =>gloop
        ; pop Rq(t2)
        ; pop Rq(t1)
        ; mov Rq(SCRATCH), QWORD k as i64
        ; mov QWORD [Rq(r)], Rq(SCRATCH)
        ; jmp =>done
        // Flat: 8-byte payloads, the elements kind the value's tag.
        ; =>flat
        ; lea Rq(SCRATCH), [Rq(n) - 1]
        ; cmp Rq(SCRATCH), flat_max - 1
        ; ja =>exit
        ; lea Rq(SCRATCH), [Rq(n) * 8 + fields + 15]
        ; and Rq(SCRATCH), -16);
    bump_sized(a, r, exit);
    dynasm!(a ; .arch x64
        ; push Rq(t1)
        ; mov Rq(t1), QWORD [Rq(BASE) + off]
        ; =>floop
        ; sub Rq(SCRATCH), 8
        ; mov QWORD [Rq(SCRATCH)], Rq(t1)
        ; cmp Rq(SCRATCH), Rq(r)
        ; ja =>floop
        ; pop Rq(t1)
        ; mov Rq(SCRATCH), QWORD k as i64
        ; mov QWORD [Rq(r)], Rq(SCRATCH)
        ; mov Rd(SCRATCH), DWORD [Rq(BASE) + off + 8]
        ; mov DWORD [Rq(r) + layout::META as i32], Rd(SCRATCH)
        ; =>done
        ; mov QWORD [Rq(r) + layout::LEN as i32], Rq(n));
    Ok(())
}

/// The one heap store: value field `Ref(k)` of the object `a` := `b`, with the
/// generational collector's write barrier (`Heap::barrier`, SPEC.md §1.4).
///
/// The barrier remembers an old object when a young object is stored into it; once
/// remembered, further stores need nothing. The inline check is exactly that
/// condition (value an object in the nursery, target outside it, target not yet
/// remembered). In a trace its slow path is an exit *before* the store: the
/// interpreter re-executes the instruction, storing through `Heap::store`, which
/// remembers the object. That costs one exit per old object per minor collection,
/// needs no call out of generated code, and keeps the remembered set's code in one
/// place. Whole-function code, whose exits cost the rest of the function and of its
/// native callers, calls `remember` instead (see [`Target::remember_stub`]) and goes
/// on. A value that is not an object (statically known from its type) needs no
/// barrier at all.
fn heap_store<A: Emitter>(
    a: &mut A,
    t: &Trace,
    loc: &[Loc],
    ins: crate::ir::Ins,
    exit: DynamicLabel,
    remember: Option<DynamicLabel>,
) -> Result<(), CompileError> {
    let obj = match loc[ins.a.0 as usize] {
        Loc::Gpr(r) => r,
        _ => return Err(CompileError::LiveAcrossCall),
    };
    match ins.tw {
        crate::ir::HSTORE_FLAT => flat_store(a, t, loc, ins, obj),
        _ => value_store(a, t, loc, ins, obj, exit, remember),
    }
}

/// `hstore` into an object of 16-byte values (the write barrier for a pointer).
pub(crate) fn value_store<A: Emitter>(
    a: &mut A,
    t: &Trace,
    loc: &[Loc],
    ins: crate::ir::Ins,
    obj: u8,
    exit: DynamicLabel,
    remember: Option<DynamicLabel>,
) -> Result<(), CompileError> {
    let v = loc[ins.b.0 as usize];
    // An object the trace allocated is young (no collection runs in a trace): its
    // initialising stores need no barrier, as the interpreter's need none.
    let fresh = t.ins[ins.a.0 as usize].op == IrOp::New;
    if t.ty(ins.b) == IrType::Ptr && !fresh {
        let Loc::Gpr(vr) = v else {
            return Err(CompileError::LiveAcrossCall);
        };
        let done = a.new_label();
        dynasm!(a ; .arch x64
            ; mov Rq(SCRATCH), Rq(vr)
            ; sub Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_NURSERY as i32]
            ; cmp Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_NURSERY_SIZE as i32]
            ; jae =>done
            ; mov Rq(SCRATCH), Rq(obj)
            ; sub Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_NURSERY as i32]
            ; cmp Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_NURSERY_SIZE as i32]
            ; jb =>done
            ; test BYTE [Rq(obj) + layout::FLAGS as i32], layout::FLAG_REMEMBERED as i8);
        match remember {
            None => dynasm!(a ; .arch x64 ; jz =>exit),
            Some(stub) => dynasm!(a ; .arch x64
                ; jnz =>done
                ; push Rq(obj)
                ; call =>stub),
        }
        dynasm!(a ; .arch x64 ; =>done);
    }
    let idx = Ref(ins.k as u32);
    let (reg, off) = match t.ins[idx.0 as usize] {
        k if k.op == IrOp::KInt => (obj, field_disp(k.k)?),
        _ => {
            let Loc::Gpr(q) = loc[idx.0 as usize] else {
                return Err(CompileError::LiveAcrossCall);
            };
            element_addr(a, obj, q, None);
            (SCRATCH, layout::FIELDS as i32)
        }
    };
    match v {
        Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov QWORD [Rq(reg) + off], Rq(r)),
        Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd QWORD [Rq(reg) + off], Rx(r)),
        Loc::None => {}
    }
    if ins.tw != crate::ir::HSTORE_PAYLOAD {
        store_tw(a, reg, off, t.tagword(ins.b));
    }
    Ok(())
}

/// `hstore` into a flat array: the payload alone, at array + FIELDS + 8 * index; no
/// barrier (no pointer is stored).
pub(crate) fn flat_store<A: Emitter>(
    a: &mut A,
    t: &Trace,
    loc: &[Loc],
    ins: crate::ir::Ins,
    obj: u8,
) -> Result<(), CompileError> {
    let v = loc[ins.b.0 as usize];
    let idx = Ref(ins.k as u32);
    let f = layout::FIELDS as i32;
    match (t.ins[idx.0 as usize], v) {
        (k, Loc::Gpr(r)) if k.op == IrOp::KInt => {
            let off = flat_disp(k.k)?;
            dynasm!(a ; .arch x64 ; mov QWORD [Rq(obj) + off], Rq(r));
        }
        (k, Loc::Xmm(r)) if k.op == IrOp::KInt => {
            let off = flat_disp(k.k)?;
            dynasm!(a ; .arch x64 ; movsd QWORD [Rq(obj) + off], Rx(r));
        }
        (_, v) => {
            let Loc::Gpr(q) = loc[idx.0 as usize] else {
                return Err(CompileError::LiveAcrossCall);
            };
            match v {
                Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov QWORD [Rq(obj) + Rq(q) * 8 + f], Rq(r)),
                Loc::Xmm(r) => {
                    dynasm!(a ; .arch x64 ; movsd QWORD [Rq(obj) + Rq(q) * 8 + f], Rx(r))
                }
                // Every flat kind has a payload (unit is never flat).
                Loc::None => return Err(CompileError::LiveAcrossCall),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{IrType, TraceBuilder};

    /// Which of a `call.rec`'s callee slots stay uncleared ([`call_rec_keep`]), in
    /// awfy_permute's shape: a function of 2 arguments and 8 slots calling itself
    /// with its window at slot 5, so that the callee's slot 2 is the calling frame's
    /// slot 7 and its slots 3 to 7 lie above that frame.
    #[test]
    fn call_rec_leaves_only_valid_unread_slots() {
        use crate::ir::{Ins, NONE};
        let ins = |op, k, tw| Ins {
            op,
            a: NONE,
            b: NONE,
            k,
            snap: 0,
            tw,
        };
        // Every slot unread at the callee's entry but those in `read`.
        let call =
            |a0: u64, read: u64| ins(IrOp::CallRecK, a0 | 5 << 16 | 127 << 32, 1 | !read << 1);
        let mut t = Trace {
            entry: Some((0, 2, 8)),
            ..Default::default()
        };
        // Nothing written before: only the calling frame's slot is valid.
        t.ins = vec![call(5, 0)];
        assert_eq!(call_rec_keep(&t, 0), 1 << 2);
        // An inlined callee's push cleared slots 8 to 11: the callee's 3 to 6.
        t.ins = (8..12).map(|s| ins(IrOp::SClear, s, 0)).collect();
        t.ins.push(call(5, 0));
        assert_eq!(call_rec_keep(&t, 4), 0b111_1100);
        // A slot the callee may read before writing it is cleared, whatever it holds.
        t.ins[4] = call(5, 1 << 3 | 1 << 2);
        assert_eq!(call_rec_keep(&t, 4), 0b111_0000);
        // A helper call may collect: slots above the frame cleared before it are not
        // valid after it.
        t.ins[4] = ins(IrOp::CallInsn, 0, 0);
        t.ins.push(call(5, 0));
        assert_eq!(call_rec_keep(&t, 5), 1 << 2);
        // An earlier call's frame (slots 3 to 10), with nothing that collects since.
        t.ins = vec![call(3, 0), ins(IrOp::KInt, 1, 0), call(5, 0)];
        assert_eq!(call_rec_keep(&t, 2), 0b11_1100);
        // Not in a trace whose frame moved.
        t.ins[1] = ins(IrOp::TailBase, 0, 0);
        assert_eq!(call_rec_keep(&t, 2), 0);
    }

    /// Which clears of an inlined callee are left out ([`needless_clears`]) and what a
    /// side trace starts with ([`valid_at_exit`]), in awfy_permute's shape: `permute`
    /// (2 arguments, 8 slots) inlines `swap` at slot 5, whose slots 3 to 6 (the
    /// trace's 8 to 11) lie above the calling frame.
    /// Which leading instructions of a function-entry root its fast entry guards
    /// ([`entry_prefix`]), and which `call.rec` arguments are proven to pass them
    /// ([`fast_arg_proven`]): awfy_permute's `p` (an object, its kind and its type
    /// guarded where the root begins) and `n`.
    #[test]
    fn fast_entries_take_objects_whose_kind_and_type_the_caller_guarded() {
        use crate::ir::{Ins, Snapshot, NONE};
        let op = |op, a: u32, k, tw| Ins {
            op,
            a: if a == u32::MAX { NONE } else { Ref(a) },
            b: NONE,
            k,
            snap: 1,
            tw,
        };
        let obj = Tag::OBJ as u64;
        let data = layout::KIND_DATA as u64;
        let snap = Snapshot {
            resume_ip: 0,
            entries: Vec::new(),
            frames: Vec::new(),
            displaced: None,
            sunk: Vec::new(),
        };
        let mut t = Trace {
            entry: Some((75, 2, 8)),
            snaps: vec![snap.clone(), snap.clone()],
            ..Default::default()
        };
        // sload.i64 r1; sload r0 (OBJ); guard.kind; guard.meta 16; then a field load.
        t.ins = vec![
            op(IrOp::SLoadI, u32::MAX, 1, 0),
            op(IrOp::SLoad, u32::MAX, 0, obj),
            op(IrOp::GKind, 1, data, 0),
            op(IrOp::GMeta, 1, 16, 0),
            op(IrOp::FLoadK, 1, 0, 2),
        ];
        let p = SlotProof::Obj {
            kind: Some(layout::KIND_DATA),
            meta: Some(16),
        };
        assert_eq!(
            entry_prefix(&t),
            (4, vec![(1, SlotProof::Typed(IrOp::SLoadI)), (0, p)])
        );
        // An array's elements kind (its meta) is no part of it: the prefix ends there.
        t.ins[2].k = layout::KIND_ARRAY as u64;
        let arr = SlotProof::Obj {
            kind: Some(layout::KIND_ARRAY),
            meta: None,
        };
        assert_eq!(
            entry_prefix(&t),
            (3, vec![(1, SlotProof::Typed(IrOp::SLoadI)), (0, arr)])
        );
        // Nor is a guard after a snapshot that writes something.
        t.ins[2].k = data;
        t.ins[2].snap = 0;
        t.snaps[0].entries.push((3, Ref(0)));
        assert_eq!(entry_prefix(&t).0, 2);
        // A caller: the object in slot 5 and the i64 in slot 6, then the call.
        let caller = |guards: &[(IrOp, u64)]| {
            let mut ins = vec![
                op(IrOp::SLoad, u32::MAX, 0, obj),
                op(IrOp::KInt, u32::MAX, 3, 0),
            ];
            for &(g, k) in guards {
                ins.push(op(g, 0, k, 0));
            }
            ins.push(op(IrOp::SStore, 0, 5, 0));
            ins.push(op(IrOp::SStore, 1, 6, 0));
            ins.push(op(IrOp::CallRecK, u32::MAX, 5 | 5 << 16 | 127 << 32, 0));
            Trace {
                entry: Some((75, 2, 8)),
                ins,
                ..Default::default()
            }
        };
        let both = [(IrOp::GKind, data), (IrOp::GMeta, 16)];
        let c = caller(&both);
        let call = c.ins.len() - 1;
        assert!(fast_arg_proven(&c, call, 5, p));
        assert!(fast_arg_proven(&c, call, 6, SlotProof::Typed(IrOp::SLoadI)));
        assert!(!fast_arg_proven(
            &c,
            call,
            6,
            SlotProof::Typed(IrOp::SLoadF)
        ));
        // Unguarded, or guarded to another kind or type: the guarded entry.
        for guards in [
            &[][..],
            &both[..1],
            &both[1..],
            &[(IrOp::GKind, data), (IrOp::GMeta, 17)][..],
            &[(IrOp::GKind, layout::KIND_ARRAY as u64), (IrOp::GMeta, 16)][..],
        ] {
            let c = caller(guards);
            assert!(!fast_arg_proven(&c, c.ins.len() - 1, 5, p), "{guards:?}");
        }
        // A store between the argument's and the call may have written the slot.
        let mut c = caller(&both);
        c.ins.insert(call, op(IrOp::HStore, 0, 0, 0));
        assert!(!fast_arg_proven(&c, call + 1, 5, p));
    }

    #[test]
    fn side_traces_start_with_what_their_parents_exit_proved() {
        use crate::ir::{Ins, Snapshot, NONE};
        let op = |op, a: u32, k, tw, snap| Ins {
            op,
            a: if a == u32::MAX { NONE } else { Ref(a) },
            b: if op == IrOp::EqI { Ref(a) } else { NONE },
            k,
            snap,
            tw,
        };
        let obj = Tag::OBJ as u64;
        let data = layout::KIND_DATA as u64;
        let snap = Snapshot {
            resume_ip: 0,
            entries: Vec::new(),
            frames: Vec::new(),
            displaced: None,
            sunk: Vec::new(),
        };
        let p = SlotProof::Obj {
            kind: Some(layout::KIND_DATA),
            meta: Some(16),
        };
        let int = SlotProof::Typed(IrOp::SLoadI);
        // The parent: sload.i64 r1; sload r0 (OBJ); its kind and type guarded; r2 :=
        // the i64; then a guard that exits through snapshot 2.
        let mut t = Trace {
            entry: Some((75, 2, 8)),
            snaps: vec![snap.clone(), snap.clone(), snap.clone()],
            ..Default::default()
        };
        t.ins = vec![
            op(IrOp::SLoadI, u32::MAX, 1, 0, 1),
            op(IrOp::SLoad, u32::MAX, 0, obj, 1),
            op(IrOp::GKind, 1, data, 0, 1),
            op(IrOp::GMeta, 1, 16, 0, 1),
            op(IrOp::SStore, 0, 2, 0, 0),
            op(IrOp::EqI, 0, 0, 0, 2),
        ];
        assert_eq!(known_at_exit(&t, 2), vec![(0, p), (1, int), (2, int)]);
        // Snapshots 0 and 1 (entry checks, a side trace's start) give nothing.
        assert!(known_at_exit(&t, 1).is_empty());
        // The exit writes slot 0: the object's proof goes, an i64 written is proved.
        t.snaps[2].entries = vec![(0, Ref(1))];
        assert_eq!(known_at_exit(&t, 2), vec![(1, int), (2, int)]);
        t.snaps[2].entries = vec![(0, Ref(0))];
        assert_eq!(known_at_exit(&t, 2), vec![(0, int), (1, int), (2, int)]);
        t.snaps[2].entries.clear();
        // A `call.rec` whose callee frame starts at slot 2: only slot 2 is lost.
        t.ins
            .insert(5, op(IrOp::CallRecK, u32::MAX, 2 | 7 << 16, 0, 0));
        assert_eq!(known_at_exit(&t, 2), vec![(0, p), (1, int)]);
        // A store of slot 0 after its guards: nothing of the object.
        t.ins[5] = op(IrOp::SStore, 1, 0, 0, 0);
        assert_eq!(known_at_exit(&t, 2), vec![(1, int), (2, int)]);

        // The side trace: its loads of slots 0 and 1 and the object's header guards
        // are proven, then what its own parent proved of its start passes on.
        let mut side = Trace {
            entry: Some((75, 2, 8)),
            snaps: vec![snap.clone(), snap.clone(), snap],
            known_in: vec![(0, p), (1, int)],
            ..Default::default()
        };
        side.ins = vec![
            op(IrOp::SLoad, u32::MAX, 0, obj, 1),
            op(IrOp::GKind, 0, data, 0, 1),
            op(IrOp::GMeta, 0, 16, 0, 1),
            op(IrOp::SLoadI, u32::MAX, 1, 0, 1),
            op(IrOp::EqI, 3, 0, 0, 2),
        ];
        assert!(load_proven(&side, 0) && load_proven(&side, 3));
        assert!(header_proven(&side, 1) && header_proven(&side, 2));
        assert_eq!(known_at_exit(&side, 2), vec![(0, p), (1, int)]);
        // Another type id is checked; so is anything without the parent's proof.
        side.ins[2].k = 17;
        assert!(!header_proven(&side, 2));
        side.ins[2].k = 16;
        side.known_in.clear();
        assert!(!load_proven(&side, 0) && !header_proven(&side, 1));
        // A slot written before the load: its own store decides.
        side.known_in = vec![(0, p), (1, int)];
        side.ins = vec![
            op(IrOp::SClear, u32::MAX, 0, 0, 0),
            op(IrOp::SLoad, u32::MAX, 0, obj, 1),
            op(IrOp::GKind, 1, data, 0, 1),
        ];
        assert!(!load_proven(&side, 1) && !header_proven(&side, 2));
    }

    #[test]
    fn inlined_clears_left_out_only_over_valid_slots() {
        use crate::ir::{Ins, NONE};
        let at = |op, k, tw, snap| Ins {
            op,
            a: NONE,
            b: NONE,
            k,
            snap,
            tw,
        };
        let ins = |op, k, tw| at(op, k, tw, 0);
        // A clear the recorder marked (above the outer frames, unread by the callee).
        let clear = |s| ins(IrOp::SClear, s, 1);
        let call = |a0: u64| ins(IrOp::CallRecK, a0 | 5 << 16 | 127 << 32, !0);
        let mut t = Trace {
            entry: Some((0, 2, 8)),
            ..Default::default()
        };
        // Nothing known valid where the trace starts: every clear is made.
        t.ins = (8..12).map(clear).collect();
        assert_eq!(needless_clears(&t), vec![false; 4]);
        // After a `call.rec` at slot 5 (slots 5 to 12 valid): a marked clear there is
        // left out; an unmarked one, or one above that frame, is made.
        t.ins = vec![call(5), clear(8), ins(IrOp::SClear, 9, 0), clear(13)];
        assert_eq!(needless_clears(&t), vec![false, true, false, false]);
        // A call that may collect in between: made.
        t.ins = vec![call(5), ins(IrOp::CallTree, 0, 0), clear(8)];
        assert_eq!(needless_clears(&t), vec![false; 3]);
        // The trace's frame moved in between: made.
        t.ins = vec![call(5), ins(IrOp::TailBase, 0, 0), clear(8)];
        assert_eq!(needless_clears(&t), vec![false; 3]);
        // Not in a loop trace.
        t.ins = vec![call(5), clear(8)];
        t.loop_start = Some(0);
        assert_eq!(needless_clears(&t), Vec::<bool>::new());
        t.loop_start = None;
        // A side trace whose parent's exit left slots 8 to 11 valid.
        t.valid_in = vec![8, 9, 10, 11];
        t.ins = vec![clear(8), clear(12)];
        assert_eq!(needless_clears(&t), vec![true, false]);
        // The exits of a parent: clears of 8 to 11, then a guard (exit 2), the
        // `call.rec` (exit 3), a guard (exit 4), the frame moved, a guard (exit 5).
        let guard = |snap| at(IrOp::GeI, 0, 0, snap);
        t.valid_in = Vec::new();
        t.ins = (8..12).map(|s| ins(IrOp::SClear, s, 0)).collect();
        t.ins.extend([
            guard(2),
            at(IrOp::CallRecK, 5 | 5 << 16 | 127 << 32, 1, 3),
            guard(4),
            ins(IrOp::TailBase, 0, 0),
            guard(5),
        ]);
        assert_eq!(valid_at_exit(&t, 2), vec![8, 9, 10, 11]);
        assert_eq!(valid_at_exit(&t, 3), Vec::<u64>::new());
        assert_eq!(valid_at_exit(&t, 4), (5..13).collect::<Vec<u64>>());
        assert_eq!(valid_at_exit(&t, 5), Vec::<u64>::new());
        // Snapshots 0 and 1 are also the entry checks' exits.
        t.ins[4].snap = 1;
        assert_eq!(valid_at_exit(&t, 1), Vec::<u64>::new());
        // An exit taken from two places: what both leave valid.
        t.ins.insert(0, guard(4));
        assert_eq!(valid_at_exit(&t, 4), Vec::<u64>::new());
        // A side trace's exits start from what its own start had.
        t.ins = vec![guard(2)];
        t.valid_in = vec![9, 10];
        assert_eq!(valid_at_exit(&t, 2), vec![9, 10]);
    }

    fn run(t: &Trace, slots: &mut [Value], interrupt: bool) -> u32 {
        run_with(t, slots, interrupt, false).0
    }

    /// [`run`] with AVX's three-operand arithmetic on or off; also the code.
    fn run_with(t: &Trace, slots: &mut [Value], interrupt: bool, avx: bool) -> (u32, Vec<u8>) {
        let c = compile(
            t,
            Ctx {
                tid: 0,
                root_top: None,
                counter: 0,
                counter_cap: 0,
                side_counter: 0,
                passes: 0,
                link: None,
                root_fast: None,
                recursive: false,
                avx,
            },
        )
        .expect("compiles");
        let flag = interrupt as u8;
        let mut st = VmState::default();
        // SAFETY: the slots cover every slot the test traces name; the flag is a byte;
        // the traces make no call and no return, so the block is not read.
        let exit = unsafe { c.run(slots.as_mut_ptr(), &flag, &mut st, std::ptr::null_mut()) };
        (exit, c.code().to_vec())
    }

    /// `while i < n { s += i * k; i += 1 }` with s, i, n, k in slots 0..4: the loop
    /// guard exits through a snapshot resuming at the loop's exit instruction.
    fn sum_loop() -> Trace {
        let mut b = TraceBuilder::new(10);
        let s0 = 0u32;
        let i = b.sload(1, IrType::I64, s0);
        let n = b.sload(2, IrType::I64, s0);
        let exit = b.snapshot(40, vec![]);
        b.guard(IrOp::LtI, i, n, exit).unwrap();
        let s = b.sload(0, IrType::I64, s0);
        let k = b.sload(3, IrType::I64, s0);
        let ik = b.arith(IrOp::MulI, i, k).unwrap();
        let s2 = b.arith(IrOp::AddI, s, ik).unwrap();
        let one = b.kint(1);
        let i2 = b.arith(IrOp::AddI, i, one).unwrap();
        b.finish(vec![(0, s2), (1, i2)])
    }

    #[test]
    fn an_integer_loop_runs_to_its_exit() {
        let t = sum_loop();
        let mut slots = [
            Value::i64(0),
            Value::i64(0),
            Value::i64(1000),
            Value::i64(3),
        ];
        assert_eq!(run(&t, &mut slots, false), 1);
        assert_eq!(slots[0].as_i64(), 3 * (999 * 1000 / 2));
        assert_eq!(slots[1].as_i64(), 1000);
        assert_eq!(slots[1].tag(), Tag::I64);
        assert_eq!(t.snaps[1].resume_ip, 40);
    }

    /// Divisors of the multiply-by-reciprocal path ([`magic_divisor`]), and dividends at
    /// the edges (the signs, the extremes, around multiples of the divisor).
    const MAGIC_DIVISORS: [i64; 12] = [
        3,
        5,
        7,
        10,
        641,
        139968,
        i32::MAX as i64,
        -3,
        -7,
        -139968,
        i32::MIN as i64 + 1,
        i32::MIN as i64,
    ];

    fn dividends(d: i64) -> Vec<i64> {
        let mut v = vec![0, 1, -1, i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1];
        for k in [1i64, 2, 1000, 1 << 40, i64::MAX / d.abs()] {
            let m = d.wrapping_mul(k);
            let n = m.wrapping_neg();
            v.extend([
                m,
                m.wrapping_sub(1),
                m.wrapping_add(1),
                n,
                n.wrapping_sub(1),
                n.wrapping_add(1),
            ]);
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as i64);
            v.push((x as i64) >> (x % 63));
        }
        v
    }

    #[test]
    fn the_magic_multipliers_divide_exactly() {
        for d in MAGIC_DIVISORS
            .iter()
            .copied()
            .chain(3..2000)
            .chain(-2000..-1)
        {
            if d > 0 && d & (d - 1) == 0 {
                continue;
            }
            let (m, s) = magic(d);
            for n in dividends(d) {
                assert_eq!(magic_div(n, d, m, s), n.wrapping_div(d), "{n} / {d}");
            }
        }
    }

    /// A straight-line trace dividing slots 0..6 by the constant `d` into slots 6..18
    /// (quotient, remainder), every result live at its one exit (slot 18 holds
    /// i64::MIN: `x < i64::MIN` fails), so that rax and rdx hold live values across
    /// each division.
    fn divisions(d: i64) -> Trace {
        let mut b = TraceBuilder::new(0);
        let xs: Vec<Ref> = (0..6).map(|k| b.sload(k, IrType::I64, 0)).collect();
        let min = b.sload(18, IrType::I64, 0);
        let k = b.kint(d);
        let mut out = Vec::new();
        for (j, &x) in xs.iter().enumerate() {
            let q = b.divrem(IrOp::DivI, x, k, 0).unwrap();
            let r = b.divrem(IrOp::RemI, x, k, 0).unwrap();
            out.push((6 + 2 * j as u16, q));
            out.push((7 + 2 * j as u16, r));
        }
        let exit = b.snapshot(40, out);
        b.guard(IrOp::LtI, xs[0], min, exit).unwrap();
        b.finish(Vec::new())
    }

    #[test]
    fn constant_divisions_match_the_interpreter() {
        for d in MAGIC_DIVISORS {
            let t = divisions(d);
            for ns in dividends(d).chunks(6).filter(|c| c.len() == 6) {
                let mut slots = vec![Value::i64(0); 19];
                for (k, &n) in ns.iter().enumerate() {
                    slots[k] = Value::i64(n);
                }
                slots[18] = Value::i64(i64::MIN);
                assert_eq!(run(&t, &mut slots, false), 1);
                for (k, &n) in ns.iter().enumerate() {
                    assert_eq!(slots[6 + 2 * k].as_i64(), n.wrapping_div(d), "{n} / {d}");
                    assert_eq!(slots[7 + 2 * k].as_i64(), n.wrapping_rem(d), "{n} % {d}");
                }
            }
        }
    }

    #[test]
    fn arithmetic_wraps_like_the_interpreter() {
        let t = sum_loop();
        let mut slots = [
            Value::i64(i64::MAX),
            Value::i64(1),
            Value::i64(2),
            Value::i64(1),
        ];
        run(&t, &mut slots, false);
        assert_eq!(slots[0].as_i64(), i64::MIN);
    }

    #[test]
    fn a_type_guard_exits_before_anything_is_written() {
        let t = sum_loop();
        let mut slots = [
            Value::i64(5),
            Value::f64(0.5),
            Value::i64(10),
            Value::i64(1),
        ];
        assert_eq!(run(&t, &mut slots, false), 0);
        assert_eq!(slots[0].as_i64(), 5);
        assert_eq!(slots[1].tag(), Tag::F64);
    }

    #[test]
    fn the_interrupt_flag_stops_the_loop_at_its_header() {
        let t = sum_loop();
        let mut slots = [
            Value::i64(0),
            Value::i64(0),
            Value::i64(1 << 40),
            Value::i64(1),
        ];
        // One iteration, then the back-edge sees the flag and exits at the header.
        assert_eq!(run(&t, &mut slots, true), 0);
        assert_eq!(slots[1].as_i64(), 1);
        assert_eq!(slots[0].as_i64(), 0);
    }

    /// A float loop whose exit snapshot carries a value computed in the iteration:
    /// `x = x * 0.5 + c; if !(x < lim) exit with y = x + 1`.
    #[test]
    fn float_guards_and_snapshots_write_back_computed_values() {
        let mut b = TraceBuilder::new(0);
        let x = b.sload(0, IrType::F64, 0);
        let c = b.sload(1, IrType::F64, 0);
        let half = b.kf64(0.5);
        let xh = b.arith(IrOp::MulF, x, half).unwrap();
        let x2 = b.arith(IrOp::AddF, xh, c).unwrap();
        let lim = b.sload(2, IrType::F64, 0);
        let one = b.kf64(1.0);
        let y = b.arith(IrOp::AddF, x2, one).unwrap();
        let snap = b.snapshot(99, vec![(0, x2), (3, y)]);
        b.guard(IrOp::LtF, x2, lim, snap).unwrap();
        let t = b.finish(vec![(0, x2)]);
        let mut slots = [
            Value::f64(0.0),
            Value::f64(3.0),
            Value::f64(5.9),
            Value::UNIT,
        ];
        assert_eq!(run(&t, &mut slots, false), snap);
        // x converges to 6 from below: the first x >= 5.9, and y = x + 1 beside it.
        let mut xr = 0.0f64;
        loop {
            xr = xr * 0.5 + 3.0;
            if xr >= 5.9 {
                break;
            }
        }
        assert_eq!(slots[0].as_f64(), xr);
        assert_eq!(slots[3].as_f64(), xr + 1.0);
        assert_eq!(slots[3].tag(), Tag::F64);
    }

    /// AVX's three-operand f64 arithmetic ([`Ctx::avx`]) computes what the SSE form
    /// does: `sub`/`div` (operands not swappable) whose first operand stays live (so
    /// the result takes another register: `vsubsd r, a, b`), first with few values
    /// live, then with so many that some spill (second operands read from the spill
    /// area: `vsubsd r, a, [rbx - d]`). The results and their exit are compared with
    /// Rust's arithmetic, bit for bit, with AVX off and (where the processor has it)
    /// on; the VEX-encoded code is checked to be there. Sums of `x / d * y + d`, so
    /// that a wrong `d` shows (`x / d * d` would be `x` whatever `d` is).
    #[test]
    fn three_operand_f64_arithmetic_matches_the_two_operand_form() {
        // First, with few values live (all in registers): acc = x / (x - z) + 0.25.
        const N: usize = 16;
        let mut b = TraceBuilder::new(0);
        let x = b.sload(N as u32, IrType::F64, 0);
        let z = b.sload(N as u32 + 2, IrType::F64, 0);
        let e = b.arith(IrOp::SubF, x, z).unwrap();
        let f = b.arith(IrOp::DivF, x, e).unwrap();
        let quarter = b.kf64(0.25);
        let mut acc = b.arith(IrOp::AddF, f, quarter).unwrap();
        // Then y_0..y_15 live to the end (some spill); per k: d = x - y_k (x read
        // again after: the result takes another register), q = x / d (d read again),
        // then acc += q * y_k + d; at the end acc += y_0 + .. + y_15.
        let ys: Vec<Ref> = (0..N).map(|j| b.sload(j as u32, IrType::F64, 0)).collect();
        for &y in &ys {
            let d = b.arith(IrOp::SubF, x, y).unwrap();
            let q = b.arith(IrOp::DivF, x, d).unwrap();
            let m = b.arith(IrOp::MulF, q, y).unwrap();
            let m = b.arith(IrOp::AddF, m, d).unwrap();
            acc = b.arith(IrOp::AddF, acc, m).unwrap();
        }
        for &y in &ys {
            acc = b.arith(IrOp::AddF, acc, y).unwrap();
        }
        let lim = b.kf64(-1e300);
        let snap = b.snapshot(5, vec![(N as u16 + 1, acc)]);
        b.guard(IrOp::LtF, acc, lim, snap).unwrap();
        let t = b.finish(vec![]);
        let input: Vec<f64> = (0..N).map(|j| 1.5 + (j * j) as f64 * 0.37).collect();
        let (xv, zv) = (0.3125, 7.75);
        let mut want = xv / (xv - zv) + 0.25;
        for &y in &input {
            let d = xv - y;
            want += xv / d * y + d;
        }
        for &y in &input {
            want += y;
        }
        let modes: &[bool] = if avx_available() {
            &[false, true]
        } else {
            &[false]
        };
        for &avx in modes {
            let mut slots: Vec<Value> = input.iter().map(|&v| Value::f64(v)).collect();
            slots.extend([Value::f64(xv), Value::UNIT, Value::f64(zv)]);
            let (exit, code) = run_with(&t, &mut slots, false, avx);
            assert_eq!(exit, snap, "avx {avx}");
            assert_eq!(slots[N + 1].as_f64().to_bits(), want.to_bits(), "avx {avx}");
            let listing = crate::disasm::listing(&code);
            assert_eq!(listing.contains("vsubsd"), avx, "{listing}");
            assert_eq!(listing.contains("vdivsd"), avx, "{listing}");
            if avx {
                // Both operands in registers, a spilled second operand read as a
                // memory operand, and no copies.
                let subs: Vec<&str> = listing.lines().filter(|l| l.contains("vsubsd")).collect();
                assert!(subs.iter().any(|l| !l.contains('[')), "{listing}");
                assert!(subs.iter().any(|l| l.contains("[rbx-")), "{listing}");
                assert!(!listing.contains("movapd"), "{listing}");
            }
        }
    }

    #[test]
    fn nan_fails_ordered_guards_and_passes_negated_ones() {
        for (op, expect_exit) in [
            (IrOp::LtF, true),
            (IrOp::LeF, true),
            (IrOp::NLtF, false),
            (IrOp::NLeF, false),
        ] {
            let mut b = TraceBuilder::new(0);
            let a = b.sload(0, IrType::F64, 0);
            let z = b.sload(1, IrType::F64, 0);
            let snap = b.snapshot(7, vec![]);
            b.guard(op, a, z, snap).unwrap();
            // Count iterations in slot 2 so a passing guard still terminates.
            let n = b.sload(2, IrType::I64, 0);
            let lim = b.kint(3);
            let done = b.snapshot(8, vec![]);
            b.guard(IrOp::LtI, n, lim, done).unwrap();
            let one = b.kint(1);
            let n2 = b.arith(IrOp::AddI, n, one).unwrap();
            let t = b.finish(vec![(2, n2)]);
            let mut slots = [Value::f64(f64::NAN), Value::f64(0.0), Value::i64(0)];
            let exit = run(&t, &mut slots, false);
            assert_eq!(exit == snap, expect_exit, "{op:?}");
        }
    }

    /// Booleans: a comparison kept as a bool value, guarded with `istrue`, negated,
    /// and written back with the bool tag; and an i64 converted to f64 each iteration.
    #[test]
    fn bools_and_conversions() {
        let mut b = TraceBuilder::new(0);
        let i = b.sload(0, IrType::I64, 0);
        let n = b.sload(1, IrType::I64, 0);
        let c = b.compare(IrOp::CmpLtI, i, n).unwrap();
        let nc = b.unary(IrOp::NotB, c).unwrap();
        let exit = b.snapshot(12, vec![(3, c), (4, nc)]);
        b.guard_bool(IrOp::IsTrue, c, exit).unwrap();
        let acc = b.sload(2, IrType::F64, 0);
        let fi = b.unary(IrOp::ItoF, i).unwrap();
        let acc2 = b.arith(IrOp::AddF, acc, fi).unwrap();
        let one = b.kint(1);
        let i2 = b.arith(IrOp::AddI, i, one).unwrap();
        let t = b.finish(vec![(0, i2), (2, acc2), (3, c)]);
        let mut slots = [
            Value::i64(0),
            Value::i64(100),
            Value::f64(0.5),
            Value::bool(true),
            Value::UNIT,
        ];
        assert_eq!(run(&t, &mut slots, false), exit);
        assert_eq!(slots[0].as_i64(), 100);
        assert_eq!(slots[2].as_f64(), 0.5 + 4950.0);
        assert_eq!((slots[3].tag(), slots[3].bits()), (Tag::BOOL, 0));
        assert_eq!((slots[4].tag(), slots[4].bits()), (Tag::BOOL, 1));
        // A bool slot loads with its own tag guard.
        let mut b = TraceBuilder::new(0);
        let f = b.sload(0, IrType::Bool, 0);
        let snap = b.snapshot(5, vec![]);
        b.guard_bool(IrOp::IsFalse, f, snap).unwrap();
        let t = b.finish(vec![]);
        let mut slots = [Value::bool(true)];
        assert_eq!(run(&t, &mut slots, false), snap);
        let mut slots = [Value::i64(0)];
        assert_eq!(run(&t, &mut slots, false), 0, "the tag guard exits first");
    }

    /// Slots 0..N hold i64s, N..2N f64s, 2N a counter, 2N+1 its limit; each iteration
    /// loads them all, then sets `v[j] := v[j] + v[j+1]` (`f[j] := f[j] * 0.5 +
    /// f[j+1]`), so every value is live at once: more than the registers hold.
    const N: usize = 24;

    fn pressure_loop() -> Trace {
        let mut b = TraceBuilder::new(0);
        let iv: Vec<Ref> = (0..N).map(|s| b.sload(s as u32, IrType::I64, 0)).collect();
        let fv: Vec<Ref> = (0..N)
            .map(|s| b.sload((N + s) as u32, IrType::F64, 0))
            .collect();
        let half = b.kf64(0.5);
        let mut out = Vec::new();
        for j in 0..N {
            let x = b.arith(IrOp::AddI, iv[j], iv[(j + 1) % N]).unwrap();
            let h = b.arith(IrOp::MulF, fv[j], half).unwrap();
            let y = b.arith(IrOp::AddF, h, fv[(j + 1) % N]).unwrap();
            out.push((x, y));
        }
        for (j, &(x, y)) in out.iter().enumerate() {
            b.sstore(j as u32, x);
            b.sstore((N + j) as u32, y);
        }
        let i = b.sload(2 * N as u32, IrType::I64, 0);
        let one = b.kint(1);
        let i1 = b.arith(IrOp::AddI, i, one).unwrap();
        b.sstore(2 * N as u32, i1);
        let n = b.sload(2 * N as u32 + 1, IrType::I64, 0);
        let s = b.snapshot(99, vec![]);
        b.guard(IrOp::LtI, i1, n, s).unwrap();
        b.finish(vec![])
    }

    fn pressure_slots(k: i64) -> Vec<Value> {
        let mut v: Vec<Value> = (0..N as i64).map(|j| Value::i64(j * 7 - 50)).collect();
        v.extend((0..N).map(|j| Value::f64(j as f64 * 0.25 - 1.0)));
        v.push(Value::i64(0));
        v.push(Value::i64(k));
        v
    }

    fn pressure_reference(k: i64) -> Vec<Value> {
        let mut v = pressure_slots(k);
        for _ in 0..k {
            let (iv, fv): (Vec<i64>, Vec<f64>) = (
                (0..N).map(|j| v[j].as_i64()).collect(),
                (0..N).map(|j| v[N + j].as_f64()).collect(),
            );
            for j in 0..N {
                v[j] = Value::i64(iv[j].wrapping_add(iv[(j + 1) % N]));
                v[N + j] = Value::f64(fv[j] * 0.5 + fv[(j + 1) % N]);
            }
            v[2 * N] = Value::i64(v[2 * N].as_i64() + 1);
        }
        v
    }

    #[test]
    fn a_trace_with_more_live_values_than_registers_spills() {
        let t = pressure_loop();
        assert_eq!(allocate(&t).err(), Some(CompileError::TooManyLiveValues));
        let h = homes(&t).expect("spills");
        assert!(h.iter().any(|h| matches!(h, Home::Spill(_))));
        let want = pressure_reference(1000);
        let mut slots = pressure_slots(1000);
        run(&t, &mut slots, false);
        assert_eq!(slots, want);
    }

    #[test]
    fn a_peeled_trace_spills_and_its_exit_writes_every_carried_slot() {
        let t = crate::opt::peel(&pressure_loop(), crate::opt::Lives::unknown()).expect("peeled");
        assert!(homes(&t)
            .expect("spills")
            .iter()
            .any(|h| matches!(h, Home::Spill(_))));
        for k in [1, 2, 3, 1000] {
            let want = pressure_reference(k);
            let mut slots = pressure_slots(k);
            let code = run(&t, &mut slots, false);
            assert_eq!(t.snaps[code as usize].resume_ip, 99);
            assert_eq!(slots, want, "after {k} iterations");
        }
    }

    #[test]
    fn carried_values_take_their_phis_registers() {
        // x := x * 0.5 + y; y := y - x (the new x); i += 1 while i < n. The body reads
        // phi x before the new x exists, and phi y last as the first operand of the
        // new y's `sub`, and phi i last as the first operand of the `add` making the
        // new i (`lea`): all three new values take their phi's register (no back-edge
        // move).
        let t = counted(|b| {
            let x = b.sload(0, IrType::F64, 0);
            let y = b.sload(1, IrType::F64, 0);
            let half = b.kf64(0.5);
            let xh = b.arith(IrOp::MulF, x, half).unwrap();
            let x2 = b.arith(IrOp::AddF, xh, y).unwrap();
            let y2 = b.arith(IrOp::SubF, y, x2).unwrap();
            b.sstore(0, x2);
            b.sstore(1, y2);
        });
        let h = homes(&t).unwrap();
        let same = |k: usize| h[t.phis[k].0 .0 as usize] == h[t.phis[k].1 .0 as usize];
        assert_eq!(t.phis.len(), 3);
        assert!(same(0) && same(1) && same(2), "{:?} {h:?}", t.phis);
        for k in [1i64, 2, 5, 100] {
            let (mut rx, mut ry) = (1.0f64, 3.0f64);
            for _ in 0..k {
                rx = rx * 0.5 + ry;
                ry -= rx;
            }
            let slots = run_counted(&t, 1.0, 3.0, k);
            assert_eq!(
                (slots[0].as_f64(), slots[1].as_f64()),
                (rx, ry),
                "after {k}"
            );
        }
    }

    #[test]
    fn an_integer_operation_on_its_phi_computes_in_the_phis_register() {
        // s := s - d while i < n: phi s is read last as the first operand of the
        // register-form `sub` making the new s (`mov r, s; sub r, d`), which reads s
        // before it writes: the new s takes s's register (as the new i does, `lea`).
        let t = counted(|b| {
            let s = b.sload(0, IrType::I64, 0);
            let d = b.sload(1, IrType::I64, 0);
            let s2 = b.arith(IrOp::SubI, s, d).unwrap();
            b.sstore(0, s2);
        });
        let h = homes(&t).unwrap();
        assert_eq!(t.phis.len(), 2);
        assert!(
            t.phis
                .iter()
                .all(|&(p, v)| h[p.0 as usize] == h[v.0 as usize]),
            "{:?} {h:?}",
            t.phis
        );
        for k in [1i64, 2, 7, 100] {
            let want = 5 + 2 * k;
            let mut slots = vec![Value::i64(5), Value::i64(-2), Value::i64(0), Value::i64(k)];
            let code = run(&t, &mut slots, false);
            assert_eq!(t.snaps[code as usize].resume_ip, 99);
            assert_eq!(
                (slots[0].as_i64(), slots[2].as_i64()),
                (want, k),
                "after {k}"
            );
        }
    }

    /// A loop of `body` while `i < n` (slots 2 and 3, guarded first), `i += 1`,
    /// peeled.
    fn counted(body: impl FnOnce(&mut TraceBuilder)) -> Trace {
        let mut b = TraceBuilder::new(0);
        let i = b.sload(2, IrType::I64, 0);
        let n = b.sload(3, IrType::I64, 0);
        let s = b.snapshot(99, vec![]);
        b.guard(IrOp::LtI, i, n, s).unwrap();
        body(&mut b);
        let one = b.kint(1);
        let i1 = b.arith(IrOp::AddI, i, one).unwrap();
        b.sstore(2, i1);
        crate::opt::peel(&b.finish(vec![]), crate::opt::Lives::unknown()).expect("peeled")
    }

    /// Runs a [`counted`] loop of two f64 slots `x`, `y` for `k` iterations.
    fn run_counted(t: &Trace, x: f64, y: f64, k: i64) -> Vec<Value> {
        let mut slots = vec![Value::f64(x), Value::f64(y), Value::i64(0), Value::i64(k)];
        let code = run(t, &mut slots, false);
        assert_eq!(t.snaps[code as usize].resume_ip, 99);
        assert_eq!(slots[2].as_i64(), k);
        slots
    }

    #[test]
    fn a_phi_the_back_edge_moves_keeps_its_register_to_the_end() {
        // (a, b) := (b, a + 1.5) while i < n: phi b is read by nothing in the body but
        // the back-edge's move into phi a, so the new b must not take its register.
        let t = counted(|b| {
            let x = b.sload(0, IrType::F64, 0);
            let y = b.sload(1, IrType::F64, 0);
            let k = b.kf64(1.5);
            let x2 = b.arith(IrOp::AddF, x, k).unwrap();
            b.sstore(0, y);
            b.sstore(1, x2);
        });
        for k in [1i64, 2, 3, 10] {
            let (mut ra, mut rb) = (1.0f64, 4.0f64);
            for _ in 0..k {
                (ra, rb) = (rb, ra + 1.5);
            }
            let slots = run_counted(&t, 1.0, 4.0, k);
            assert_eq!(
                (slots[0].as_f64(), slots[1].as_f64()),
                (ra, rb),
                "after {k}"
            );
        }
    }

    #[test]
    fn parallel_moves_swap_through_the_scratch_register() {
        // Peeled `(a, b) := (b, a)`: the back-edge's moves form a cycle.
        let mut b = TraceBuilder::new(0);
        let x = b.sload(0, IrType::I64, 0);
        let y = b.sload(1, IrType::I64, 0);
        b.sstore(0, y);
        b.sstore(1, x);
        let i = b.sload(2, IrType::I64, 0);
        let one = b.kint(1);
        let i1 = b.arith(IrOp::AddI, i, one).unwrap();
        b.sstore(2, i1);
        let n = b.sload(3, IrType::I64, 0);
        let s = b.snapshot(9, vec![]);
        b.guard(IrOp::LtI, i1, n, s).unwrap();
        let t = crate::opt::peel(&b.finish(vec![]), crate::opt::Lives::unknown()).expect("peeled");
        for (k, swapped) in [(1, true), (2, false), (5, true), (8, false)] {
            let mut slots = [Value::i64(10), Value::i64(20), Value::i64(0), Value::i64(k)];
            run(&t, &mut slots, false);
            let (p, q) = if swapped { (20, 10) } else { (10, 20) };
            assert_eq!((slots[0].as_i64(), slots[1].as_i64()), (p, q), "{k}");
            assert_eq!(slots[2].as_i64(), k);
        }
    }
}
