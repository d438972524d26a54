//! The host interface a tracing JIT builds on (SPEC.md §4.6, "The JIT host interface").
//!
//! The VM knows nothing about traces beyond a number per *anchor*: every loop back-edge
//! (`loop`, `tcallself`) and every function entry has a [`HotSlot`] holding a countdown
//! counter, an abort count and a trace slot. The interpreter's hot path only
//! decrements the counter and tests it for zero; an anchor with a trace keeps its
//! counter at 1, so it reaches the cold path at every pass, which enters the trace.
//! Everything else — asking the hook what to do, re-arming, backoff and blacklisting —
//! runs in cold code when a counter expires. The hook ([`JitHook`]) is what a JIT crate implements: it is
//! told when an anchor is hot and answers [`HotAction`]; while recording it is called
//! before every instruction ([`JitHook::record`]); and it runs compiled traces
//! ([`JitHook::enter`]) against the `#[repr(C)]` [`VmState`] block.
//!
//! Back-edges are found by the loader: a function's back-edge at byte offset `off` owns
//! entry `off / BACKEDGE_MIN_LEN` of the function's edge table, which holds the edge's
//! index in the VM-wide table of loop slots. Back-edge instructions never overlap and
//! are at least [`BACKEDGE_MIN_LEN`] bytes long, so two of them never share an entry:
//! the hot path finds its slot with one division by a constant and two loads, never a
//! hash or a search.

use crate::value::{Tag, Value};
use crate::vm::{Frame, Trap, Vm};
use hashvm_format::opcode::Op;
use std::sync::atomic::AtomicBool;

/// A compiled trace, as numbered by the JIT. Never zero: zero in a trace slot means
/// "no trace".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId(pub std::num::NonZeroU32);

/// Where a counter fired or a trace is anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// The back-edge instruction (`loop` or `tcallself`) at byte offset `ip` of function
    /// `func`; `index` is its loop slot (see [`Vm::loop_slot`]).
    Loop {
        /// The function holding the back-edge.
        func: u32,
        /// Byte offset of the back-edge instruction.
        ip: u32,
        /// Its index in the VM's table of loop slots.
        index: u32,
    },
    /// Entry of function `func` (its frame has just been pushed, ip 0).
    Call {
        /// The function entered.
        func: u32,
    },
}

/// What the hook answers when an anchor becomes hot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotAction {
    /// Keep interpreting; the counter is re-armed with the configured threshold.
    Continue,
    /// Switch the interpreter to its recording instance, starting with the instruction
    /// at the anchor: [`JitHook::record`] is called before every instruction until it
    /// answers [`Recording::Done`] or [`Recording::Abort`].
    Record,
    /// Install trace `T` in the anchor's trace slot and enter it now.
    Enter(TraceId),
}

/// What the recorder answers before each instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    /// Execute this instruction in recording mode, and call again before the next.
    Continue,
    /// The trace is complete: install it in the anchor's slot. The interpreter returns
    /// to its normal instance before this instruction (it is not executed twice); the
    /// trace is entered the next time the anchor is reached.
    Done(TraceId),
    /// The recording failed: the anchor backs off (its counter is re-armed with a
    /// threshold doubled for each abort so far) and is blacklisted after
    /// [`BLACKLIST_AFTER`] aborts. The interpreter returns to its normal instance.
    Abort,
    /// The recording cannot go on before the anchor given (an inner loop's back-edge,
    /// or the entry of a function whose recursion the recording met) has a trace of
    /// its own: it ends as an abort does, but the recording's anchor is never
    /// blacklisted for it (its abort count stops one short of [`BLACKLIST_AFTER`]),
    /// and the given anchor's counter fires at its next pass, so that the inner code is
    /// recorded first (LuaJIT's "inner loops first"). When the given anchor is
    /// blacklisted (it will not get a trace) this is a plain [`Recording::Abort`]. The
    /// JIT gives the recording's anchor a fresh start ([`Vm::jit_retry`]) once the
    /// inner anchor has its trace.
    Wait(Anchor),
    /// Execute this instruction in recording mode, and do not call again before the
    /// frame count is back at or below the number given: the interpreter runs the
    /// callee of a call the trace makes for real (a recursive call of a
    /// function-entry trace), where every answer would be [`Recording::Continue`].
    /// awfy_towers' recordings ran 373,000 such instructions, each through the
    /// hook (about 210 machine instructions a step, 3.7% of the program).
    Skip(usize),
}

/// One instruction about to run in recording mode: what the recorder reads.
pub struct RecordPoint<'a> {
    /// The function running.
    pub func: u32,
    /// Byte offset of the instruction in the function's code.
    pub ip: u32,
    /// The function's bytecode (decode with `hashvm_format::insn::Insn::decode`).
    pub code: &'a [u8],
    /// The running frame's slots, read-only (the frame's full extent).
    pub slots: &'a [Value],
    /// Index in the value stack of the running frame's slot 0 (a recorder following
    /// calls tells frames apart by it).
    pub base: usize,
    /// How many frames are live (the running one included).
    pub depth: usize,
    /// The running frame's closure (a FUNC value or a closure object).
    pub closure: Value,
    /// The anchor the recording started at.
    pub anchor: Anchor,
}

/// What a JIT attaches to the interpreter with [`Vm::set_jit`]. While a method runs,
/// the hook is detached from the VM it is given (so `vm.set_jit` inside it affects
/// nothing and the VM never calls it re-entrantly).
pub trait JitHook {
    /// Anchor `at` became hot (its counter expired; not called for blacklisted
    /// anchors). The VM is at the anchor: for a loop, before its back-edge instruction;
    /// for a call, with the callee's frame pushed at ip 0.
    fn hot(&mut self, vm: &mut Vm, at: Anchor) -> HotAction;

    /// Called before each instruction while recording (only from the recording
    /// instance of the interpreter, so it costs nothing otherwise).
    fn record(&mut self, vm: &Vm, at: &RecordPoint<'_>) -> Recording;

    /// Recording was cut short by the VM, not by the recorder: the program returned
    /// to the host, faulted, or another program was loaded. Counts as an abort.
    fn cancel(&mut self, _vm: &Vm, _at: Anchor) {}

    /// Runs trace `trace`, anchored at `at`, reached in the state the anchor describes.
    /// (`at` by reference: copying it by value stalled every entry on store
    /// forwarding.)
    /// On `Ok`, the innermost frame must be a NORMAL frame whose `ip` is the exact
    /// instruction to resume at (the snapshot of the exit taken); the interpreter
    /// reloads it. On `Err`, the trap propagates as if the interpreter had raised it.
    /// Use [`Vm::jit_state`] to get the register block the code runs against, and
    /// [`Vm::jit_state_commit`] before returning.
    fn enter(&mut self, vm: &mut Vm, trace: TraceId, at: &Anchor) -> Result<(), Trap>;

    /// Every trace was invalidated (a program was loaded): drop them all.
    fn flush(&mut self) {}

    /// A program was loaded (after [`JitHook::flush`]; its functions are in place, its
    /// globals not yet built): code compiled ahead of time for it installs its entries
    /// here with [`Vm::install_trace`], so that they run from the first pass.
    fn loaded(&mut self, _vm: &mut Vm) {}
}

/// The heap object layout generated code reads (SPEC.md §1.4): a 16-byte header, then
/// the payload. Derived from the collector's own definitions, never written twice.
pub mod layout {
    use crate::heap::{Header, Kind};

    /// Offset of the header's kind byte.
    pub const KIND: usize = std::mem::offset_of!(Header, kind);
    /// Offset of the header's `u64` length (values for an array).
    pub const LEN: usize = std::mem::offset_of!(Header, len);
    /// Offset of the first payload value (16-byte values follow the header).
    pub const FIELDS: usize = std::mem::size_of::<Header>();
    /// The kind byte of an array.
    pub const KIND_ARRAY: u8 = Kind::ARRAY;
    /// An array's meta word: its elements kind ([`crate::heap::Elems`]). General:
    /// 16-byte values at `FIELDS + 16 * i`.
    pub const ELEMS_GENERAL: u32 = crate::heap::Elems::GENERAL;
    /// A converted array's meta word: its first value is the general array holding
    /// the elements now. Any other meta word of an array is a flat kind: the tag of
    /// every element, whose 8-byte payloads lie at `FIELDS + 8 * i`.
    pub const ELEMS_MOVED: u32 = crate::heap::Elems::MOVED;
    /// The first flat elements kind (the tags from it to [`ELEMS_FLAT_LAST`] are
    /// those whose values an array stores as 8-byte payloads); any other tag's
    /// values go to a general array.
    pub const ELEMS_FLAT_FIRST: u32 = crate::heap::Elems::FLAT_FIRST;
    /// The last flat elements kind (see [`ELEMS_FLAT_FIRST`]).
    pub const ELEMS_FLAT_LAST: u32 = crate::heap::Elems::FLAT_LAST;
    /// The elements kind of a new array of `n > 0` copies of a value of tag `tag`, as
    /// `anew` decides it ([`crate::heap::Elems::of_tag`]): the JIT's inline `anew`
    /// lays the array out the same way.
    pub const fn elems_of_tag(tag: u32) -> u32 {
        crate::heap::Elems::of_tag(tag)
    }
    /// Whether an object of `size` bytes is allocated in the young generation's eden
    /// when the nursery is at its smallest (`--nursery 1K`): generated code that
    /// bump-allocates objects of up to such a size puts them where the collector's
    /// own allocation would, whatever the nursery (see `Heap::is_large`).
    pub const fn young_at_any_nursery(size: usize) -> bool {
        size <= crate::heap::MIN_NURSERY / 4
    }
    /// Offset of the header's `u32` meta word (a closure's function index, an
    /// array's elements kind).
    pub const META: usize = std::mem::offset_of!(Header, meta);
    /// The kind byte of a closure.
    pub const KIND_CLOSURE: u8 = Kind::CLOSURE;
    /// Offset of the header's `u16` tag (a DATA object's constructor index).
    pub const TAG: usize = std::mem::offset_of!(Header, tag);
    /// Offset of the header's flags byte (the collector's remembered bit).
    pub const FLAGS: usize = std::mem::offset_of!(Header, flags);
    /// The kind byte of a constructor value, tuple or cons cell.
    pub const KIND_DATA: u8 = Kind::DATA;
    /// The kind byte of a mutable cell.
    pub const KIND_REF: u8 = Kind::REF;
    /// The flags bit of an old object in the remembered set (the write barrier's slow
    /// path sets it once; a store into an object that has it needs nothing more).
    pub const FLAG_REMEMBERED: u8 = crate::heap::FLAG_REMEMBERED;

    /// The two 8-byte words of a new object's header (kind, tag, meta and length), as
    /// the collector's allocation writes them ([`Header::new`]): the JIT's inline
    /// allocation stores these.
    pub fn header_words(kind: u8, tag: u16, meta: u32, len: u64) -> [u64; 2] {
        // SAFETY: `Header` is `#[repr(C)]`, 16 bytes of integers without padding (u8,
        // u8, u16, u32, u64), so every bit pattern of it is two valid `u64`s.
        unsafe { std::mem::transmute::<Header, [u64; 2]>(Header::new(kind, tag, meta, len)) }
    }

    /// The kind, tag, meta word and length in the header words `w` (the inverse of
    /// [`header_words`]): what the JIT decides header guards on an object it
    /// allocated with, and what an exit allocates a sunk object with.
    pub fn header_fields(w: [u64; 2]) -> (u8, u16, u32, u64) {
        // SAFETY: as in `header_words`: any two `u64`s are a valid `Header`.
        let h = unsafe { std::mem::transmute::<[u64; 2], Header>(w) };
        (h.kind, h.tag, h.meta, h.len)
    }

    use crate::vm::{Frame, FrameKind};
    /// The size of a frame record.
    pub const FRAME_SIZE: usize = std::mem::size_of::<Frame>();
    /// Offset of a frame record's `u32` function index.
    pub const FRAME_FUNC: usize = std::mem::offset_of!(Frame, func);
    /// Offset of a frame record's `u32` resume offset.
    pub const FRAME_IP: usize = std::mem::offset_of!(Frame, ip);
    /// Offset of a frame record's `u32` base (a value-stack index).
    pub const FRAME_BASE: usize = std::mem::offset_of!(Frame, base);
    /// Offset of a frame record's `u16` result slot.
    pub const FRAME_RET: usize = std::mem::offset_of!(Frame, ret);
    /// Offset of a frame record's kind byte.
    pub const FRAME_KIND: usize = std::mem::offset_of!(Frame, kind);
    /// Offset of a frame record's padding byte.
    pub const FRAME_PAD: usize = std::mem::offset_of!(Frame, pad);
    /// Offset of a frame record's closure value.
    pub const FRAME_CLOSURE: usize = std::mem::offset_of!(Frame, closure);
    /// The kind byte of a bytecode function's frame.
    pub const FRAME_NORMAL: u8 = FrameKind::NORMAL;

    use super::VmState;
    /// Offset of [`VmState::stack_base`].
    pub const ST_STACK_BASE: usize = std::mem::offset_of!(VmState, stack_base);
    /// Offset of [`VmState::stack_limit`].
    pub const ST_STACK_LIMIT: usize = std::mem::offset_of!(VmState, stack_limit);
    /// Offset of [`VmState::frame_top`].
    pub const ST_FRAME_TOP: usize = std::mem::offset_of!(VmState, frame_top);
    /// Offset of [`VmState::globals`].
    pub const ST_GLOBALS: usize = std::mem::offset_of!(VmState, globals);
    /// Offset of [`VmState::frame_limit`].
    pub const ST_FRAME_LIMIT: usize = std::mem::offset_of!(VmState, frame_limit);
    /// Offset of [`VmState::heap_ptr`].
    pub const ST_HEAP_PTR: usize = std::mem::offset_of!(VmState, heap_ptr);
    /// Offset of [`VmState::heap_limit`].
    pub const ST_HEAP_LIMIT: usize = std::mem::offset_of!(VmState, heap_limit);
    /// Offset of [`VmState::nursery`].
    pub const ST_NURSERY: usize = std::mem::offset_of!(VmState, nursery);
    /// Offset of [`VmState::nursery_size`].
    pub const ST_NURSERY_SIZE: usize = std::mem::offset_of!(VmState, nursery_size);
}

/// A field of an object a trace exit rebuilds ([`Vm::jit_unsink`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SunkField {
    /// The value in this value-stack index (written by the exit).
    Slot(usize),
    /// Another object of the same exit (its index in the list).
    Object(usize),
}

/// An object's header as a recorder sees it ([`Vm::object_header`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjHeader {
    /// The kind byte (the `layout::KIND_*` constants).
    pub kind: u8,
    /// A DATA object's constructor index.
    pub tag: u16,
    /// A DATA object's type id; a closure's function index.
    pub meta: u32,
    /// Values (or bytes) in the payload.
    pub len: u64,
}

/// Aborted recordings after which an anchor is blacklisted: its hook is never called
/// again (the counter still runs, to poll interrupts).
pub const BLACKLIST_AFTER: u8 = 6;

/// The shortest back-edge instruction: the divisor that maps a back-edge's offset to
/// its entry in the function's edge table (see the module documentation).
pub const BACKEDGE_MIN_LEN: usize = {
    let a = Op::Loop.encoded_len();
    let b = Op::TCallSelf.encoded_len();
    if a < b {
        a
    } else {
        b
    }
};

/// No back-edge at this edge-table entry.
pub(crate) const NO_EDGE: u32 = u32::MAX;

/// The counter, backoff state and trace slot of one anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct HotSlot {
    /// The installed trace (0: none). Checked on every pass over the anchor.
    pub trace: u32,
    /// Passes left before the counter fires.
    pub count: u16,
    /// Recordings of this anchor that aborted.
    pub aborts: u8,
    /// Whether the hook is no longer told about this anchor.
    pub blacklisted: bool,
}

impl HotSlot {
    /// Re-arms an expired counter: at 1 while a trace is installed (so that every pass
    /// reaches the cold path, which enters it, and the hot path needs no second test),
    /// at the threshold otherwise, at the maximum once blacklisted.
    pub(crate) fn rearm(&mut self, threshold: u16) {
        self.count = if self.trace != 0 {
            1
        } else if self.blacklisted {
            u16::MAX
        } else {
            threshold.max(1)
        };
    }

    /// Installs trace `t` (see [`HotSlot::rearm`]).
    pub(crate) fn install(&mut self, t: TraceId) {
        self.trace = t.0.get();
        self.count = 1;
    }

    /// A fresh slot counting down from `threshold` (at least 1).
    pub(crate) fn new(threshold: u16) -> HotSlot {
        HotSlot {
            trace: 0,
            count: threshold.max(1),
            aborts: 0,
            blacklisted: false,
        }
    }

    /// Records a recording that must wait for another anchor's trace
    /// ([`Recording::Wait`]): backs off as [`HotSlot::abort`] does, but never as far as
    /// blacklisting.
    pub(crate) fn wait(&mut self, threshold: u16) {
        self.aborts = self.aborts.saturating_add(1).min(BLACKLIST_AFTER - 1);
        let t = (threshold.max(1) as u32) << self.aborts;
        self.count = t.min(u16::MAX as u32) as u16;
    }

    /// Records an aborted recording: backs off exponentially, blacklists after
    /// [`BLACKLIST_AFTER`] aborts.
    pub(crate) fn abort(&mut self, threshold: u16) {
        self.aborts = self.aborts.saturating_add(1);
        if self.aborts >= BLACKLIST_AFTER {
            self.blacklisted = true;
            self.count = u16::MAX;
        } else {
            let t = (threshold.max(1) as u32) << self.aborts;
            self.count = t.min(u16::MAX as u32) as u16;
        }
    }
}

/// The block generated code addresses through one fixed register. `#[repr(C)]`: the
/// offsets are part of the JIT contract and listed in SPEC.md §4.6 (a test checks them
/// against `offset_of!`). Every pointer is derived from public APIs of the containers
/// (`as_mut_ptr`, `len`, `capacity`), never from a `Vec`'s private layout.
///
/// The VM rewrites the block at every *sync point*: value-stack growth, frame-stack
/// growth, collection, loading, a change of the trace constants, and
/// [`Vm::jit_state`]. The heap bump pointer moves with every interpreter allocation,
/// so `heap_ptr` is exact at sync points and while a trace runs; a trace that
/// allocates inline hands it back with [`Vm::jit_state_commit`].
#[repr(C)]
#[derive(Debug)]
pub struct VmState {
    /// Slot 0 of the value stack.
    pub stack_base: *mut Value,
    /// One past the last slot of the value stack.
    pub stack_limit: *mut Value,
    /// The outermost frame record.
    pub frame_base: *mut Frame,
    /// One past the innermost live frame (`frame_base + frame count`).
    pub frame_top: *mut Frame,
    /// One past the last frame the frame vector has room for without reallocating
    /// (and never past the configured frame limit): a trace that pushes inlined frames
    /// exits before reaching it.
    pub frame_limit: *mut Frame,
    /// The heap's bump pointer: the next object goes here.
    pub heap_ptr: *mut u8,
    /// The end of the allocatable space; equal to `heap_ptr` when the next allocation
    /// must take the slow path (stress mode, or a collection is due).
    pub heap_limit: *mut u8,
    /// Global 0.
    pub globals: *mut Value,
    /// The interrupt flag, read as one byte (non-zero: stop with "interrupted"). Points
    /// at a flag that is never raised when none was set with `Vm::set_interrupt`.
    pub interrupt: *const AtomicBool,
    /// The trace constants (a root set the collector updates): see
    /// [`Vm::push_trace_const`].
    pub consts: *mut Value,
    /// The number of globals.
    pub nglobals: u32,
    /// The number of trace constants.
    pub nconsts: u32,
    /// The nursery's first byte: with `nursery_size`, what the write barrier calls
    /// young (generated code's inline barrier, SPEC.md §1.4).
    pub nursery: *mut u8,
    /// The nursery's capacity in bytes (an address `a` is young when
    /// `a - nursery < nursery_size`, unsigned).
    pub nursery_size: u64,
}

/// The byte offsets of [`VmState`]'s fields, as documented in SPEC.md §4.6.
pub const VM_STATE_OFFSETS: [(&str, usize); 14] = [
    ("stack_base", 0),
    ("stack_limit", 8),
    ("frame_base", 16),
    ("frame_top", 24),
    ("frame_limit", 32),
    ("heap_ptr", 40),
    ("heap_limit", 48),
    ("globals", 56),
    ("interrupt", 64),
    ("consts", 72),
    ("nglobals", 80),
    ("nconsts", 84),
    ("nursery", 88),
    ("nursery_size", 96),
];

/// An interrupt flag that is never raised, for [`VmState::interrupt`] when none is set.
pub(crate) static NEVER_INTERRUPTED: AtomicBool = AtomicBool::new(false);

impl Default for VmState {
    fn default() -> VmState {
        VmState {
            stack_base: std::ptr::null_mut(),
            stack_limit: std::ptr::null_mut(),
            frame_base: std::ptr::null_mut(),
            frame_top: std::ptr::null_mut(),
            frame_limit: std::ptr::null_mut(),
            heap_ptr: std::ptr::null_mut(),
            heap_limit: std::ptr::null_mut(),
            globals: std::ptr::null_mut(),
            interrupt: &NEVER_INTERRUPTED,
            consts: std::ptr::null_mut(),
            nglobals: 0,
            nconsts: 0,
            nursery: std::ptr::null_mut(),
            nursery_size: 0,
        }
    }
}

/// Builds the edge table of one function: entry `off / BACKEDGE_MIN_LEN` of each
/// back-edge (`loop`, `tcallself`) gets the next loop-slot index, from `next`. Returns
/// an empty table for a function without back-edges. `code` is verified.
pub(crate) fn edge_table(code: &[u8], next: &mut u32) -> Box<[u32]> {
    let mut edges: Vec<u32> = Vec::new();
    let mut off = 0;
    while off < code.len() {
        let Ok((insn, len)) = hashvm_format::insn::Insn::decode(code, off) else {
            break;
        };
        if matches!(insn.op, Op::Loop | Op::TCallSelf) {
            if edges.is_empty() {
                edges = vec![NO_EDGE; code.len() / BACKEDGE_MIN_LEN + 1];
            }
            edges[off / BACKEDGE_MIN_LEN] = *next;
            *next += 1;
        }
        off += len.max(1);
    }
    edges.into_boxed_slice()
}

/// What the interpreter does after a cold JIT event (crate-internal).
pub(crate) enum Go {
    /// Carry on with the instruction at hand, locals unchanged.
    On,
    /// A trace ran: reload the interpreter's locals from the innermost frame.
    Reload,
    /// Switch interpreter instance (recording on or off): the innermost frame's ip is
    /// the exact instruction to resume at.
    Switch,
}

impl Vm {
    /// Rewrites the register block from the machine's real state (a sync point).
    pub(crate) fn sync_jit_state(&mut self) {
        let (fb, flen, fcap) = self.frames.raw_parts();
        let room = fcap.min(self.config.max_frames.max(flen));
        let (hp, hl) = self.heap.bump_window();
        let st = &mut *self.jit_state;
        let sb = self.stack.as_mut_ptr();
        st.stack_base = sb;
        // SAFETY: one past the end of the stack's initialised slots.
        st.stack_limit = unsafe { sb.add(self.stack.len()) };
        st.frame_base = fb;
        // SAFETY: `flen <= room <= fcap`: inside or one past the frame vector's buffer.
        st.frame_top = unsafe { fb.add(flen) };
        // SAFETY: as above.
        st.frame_limit = unsafe { fb.add(room) };
        st.heap_ptr = hp;
        st.heap_limit = hl;
        st.globals = self.globals.as_mut_ptr();
        st.nglobals = self.globals.len() as u32;
        st.interrupt = match &self.interrupt {
            Some(f) => std::sync::Arc::as_ptr(f),
            None => &NEVER_INTERRUPTED,
        };
        st.consts = self.trace_consts.as_mut_ptr();
        st.nconsts = self.trace_consts.len() as u32;
        let (nb, ns) = self.heap.nursery_bounds();
        st.nursery = nb;
        st.nursery_size = ns as u64;
    }

    /// The register block, synced now: its address is stable for the machine's life.
    /// Generated code runs against it inside [`JitHook::enter`].
    pub fn jit_state(&mut self) -> *mut VmState {
        self.sync_jit_state();
        &mut *self.jit_state
    }

    /// The register block without a sync: `stack_base`, `stack_limit`, `frame_base`,
    /// `globals`, `nglobals`, `interrupt`, `consts` and `nconsts` are exact (they
    /// change only at sync points); `frame_top`, `frame_limit`, `heap_ptr` and
    /// `heap_limit` may be stale. For entering a trace that reads only the former.
    pub fn jit_state_unsynced(&mut self) -> *mut VmState {
        // Debug builds (the test suite) check the claim at every such entry.
        debug_assert!(
            self.jit_state.stack_base == self.stack.as_mut_ptr()
                && self.jit_state.stack_limit as usize
                    == self.stack.as_ptr() as usize + 16 * self.stack.len()
                && self.jit_state.globals == self.globals.as_mut_ptr()
                && self.jit_state.nglobals as usize == self.globals.len(),
            "the register block's stack or globals are out of sync"
        );
        &mut *self.jit_state
    }

    /// Adopts what generated code changed in the register block: the heap bump pointer
    /// and the frame count. Fails (changing nothing) if either is out of range.
    ///
    /// # Safety
    /// Every frame record between the count at the last sync and `frame_top` was
    /// written as a valid frame (function index in range, base and extent inside the
    /// value stack, every slot of its extent holding a live value), and every object
    /// between the old and new bump pointer is a valid, fully initialised object.
    pub unsafe fn jit_state_commit(&mut self) -> Result<(), String> {
        let st = &*self.jit_state;
        let (fb, _, fcap) = self.frames.raw_parts();
        let (top, hp) = (st.frame_top, st.heap_ptr);
        if st.frame_base != fb || top < fb {
            return Err("frame pointer outside the frame stack".into());
        }
        // SAFETY: both point into (or one past) the same allocation, checked above.
        let n = unsafe { top.offset_from(fb) } as usize;
        if n > fcap.min(self.config.max_frames) {
            return Err("frame count past the frame stack".into());
        }
        if !self.heap.set_bump(hp) {
            return Err("heap pointer outside the allocatable space".into());
        }
        // SAFETY: `n <= capacity`, and the caller's contract covers the records.
        unsafe { self.frames.set_len(n) };
        self.sync_jit_state();
        Ok(())
    }

    /// Checks the register block against the machine's real state: `Err` names the
    /// first field that disagrees. The heap pointer is compared too, so call it at a
    /// sync point (after growth, collection, loading, or [`Vm::jit_state`]).
    pub fn check_jit_state(&mut self) -> Result<(), String> {
        let st: &VmState = &self.jit_state;
        let (nb, ns) = (st.nursery, st.nursery_size);
        let (sb, sl, fb, ft, fl, hp, hl, g, ng, i, c, nc) = (
            st.stack_base,
            st.stack_limit,
            st.frame_base,
            st.frame_top,
            st.frame_limit,
            st.heap_ptr,
            st.heap_limit,
            st.globals,
            st.nglobals,
            st.interrupt,
            st.consts,
            st.nconsts,
        );
        let (rfb, flen, fcap) = self.frames.raw_parts();
        let (rhp, rhl) = self.heap.bump_window();
        let want_int: *const AtomicBool = match &self.interrupt {
            Some(f) => std::sync::Arc::as_ptr(f),
            None => &NEVER_INTERRUPTED,
        };
        let room = fcap.min(self.config.max_frames.max(flen));
        let (rnb, rns) = self.heap.nursery_bounds();
        let checks: [(&str, bool); 14] = [
            ("stack_base", sb == self.stack.as_mut_ptr()),
            (
                "stack_limit",
                sl as usize == sb as usize + 16 * self.stack.len(),
            ),
            ("frame_base", fb == rfb),
            ("frame_top", ft as usize == rfb as usize + 32 * flen),
            ("frame_limit", fl as usize == rfb as usize + 32 * room),
            ("heap_ptr", hp == rhp),
            ("heap_limit", hl == rhl),
            ("globals", g == self.globals.as_mut_ptr()),
            ("nglobals", ng as usize == self.globals.len()),
            ("interrupt", i == want_int),
            ("consts", c == self.trace_consts.as_mut_ptr()),
            ("nconsts", nc as usize == self.trace_consts.len()),
            ("nursery", nb == rnb),
            ("nursery_size", ns as usize == rns),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((name, _)) => Err(format!("VmState.{name} is out of sync")),
            None => Ok(()),
        }
    }

    /// Adds a constant for traces (a root the collector keeps up to date; generated
    /// code reads it through [`VmState::consts`]) and returns its index; `None` if the
    /// value does not belong to this machine.
    pub fn push_trace_const(&mut self, v: Value) -> Option<u32> {
        if !self.is_valid(v) {
            return None;
        }
        self.trace_consts.push(v);
        self.sync_jit_state();
        Some(self.trace_consts.len() as u32 - 1)
    }

    /// Trace constant `i`, as the last collection left it.
    pub fn trace_const(&self, i: u32) -> Option<Value> {
        self.trace_consts.get(i as usize).copied()
    }

    /// The header of the object `v` (`None` unless `v` is an object of this machine):
    /// a recorder guards on what it holds.
    pub fn object_header(&self, v: Value) -> Option<ObjHeader> {
        if v.tag != Tag::OBJ || !self.is_valid(v) {
            return None;
        }
        // SAFETY: `is_valid` checked that the object is in a live heap space, where
        // every object starts with a header.
        let h = unsafe { &*v.ptr() };
        Some(ObjHeader {
            kind: h.kind,
            tag: h.tag,
            meta: h.meta,
            len: h.len,
        })
    }

    /// Value field `i` of the object `v` (a DATA, ARRAY, CLOSURE or PAP value, or the
    /// one value of a REF or THUNK); `None` for anything else or out of range.
    pub fn object_field(&self, v: Value, i: usize) -> Option<Value> {
        use crate::heap::Kind;
        let h = self.object_header(v)?;
        if h.kind == Kind::ARRAY {
            // SAFETY: a live array (checked by `object_header`).
            return unsafe { vm_array_get(v.ptr(), i) };
        }
        let n = match h.kind {
            Kind::DATA | Kind::CLOSURE | Kind::PAP => h.len as usize,
            Kind::REF | Kind::THUNK => 1,
            _ => 0,
        };
        if i >= n {
            return None;
        }
        // SAFETY: a live object of a kind whose payload is `n > i` values.
        Some(unsafe { *crate::heap::fields(v.ptr()).add(i) })
    }

    /// Arity and frame size of function `func` (a recorder inlining a call needs the
    /// callee's frame); `None` for an index out of range.
    pub fn func_shape(&self, func: u32) -> Option<(u16, u16)> {
        self.funcs.get(func as usize).map(|f| (f.arity, f.nslots))
    }

    /// The bytecode of function `func` (a JIT deciding what to record).
    pub fn func_code(&self, func: u32) -> Option<&[u8]> {
        self.funcs.get(func as usize).map(|f| &f.code[..])
    }

    /// The function a call of `v` runs without building a partial application or
    /// splitting arguments: a FUNC value's index, or a closure object's function.
    /// `None` for anything else (PAPs included).
    pub fn callee_of(&self, v: Value) -> Option<u32> {
        if v.tag == Tag::FUNC {
            return (v.bits < self.funcs.len() as u64).then_some(v.bits as u32);
        }
        if v.tag != Tag::OBJ || !self.is_valid(v) {
            return None;
        }
        // SAFETY: `is_valid` checked that the object is in the current heap space, where
        // every object starts with a header.
        let h = unsafe { &*v.ptr() };
        (h.kind == crate::heap::Kind::CLOSURE).then_some(h.meta)
    }

    /// Makes the value stack at least `n` slots long (a trace about to write the slots
    /// of frames it inlines). Invalidates raw pointers into the stack: call it before
    /// [`Vm::jit_state`].
    pub fn jit_reserve_stack(&mut self, n: usize) -> Result<(), Trap> {
        if n > self.stack.len() {
            self.grow_stack(n)?;
        }
        Ok(())
    }

    /// Frames that can still be pushed before the configured limit.
    pub fn jit_frame_room(&self) -> usize {
        self.config.max_frames.saturating_sub(self.frames.len())
    }

    /// Switches to the recording instance when the running [`JitHook::enter`] returns,
    /// at the innermost frame's ip (a side trace recorded from an exit taken often).
    /// The recording belongs to `at`, the anchor of the trace being run: on
    /// [`Recording::Done`] the id given is installed there.
    pub fn jit_request_recording(&mut self, at: Anchor) {
        self.recording = Some(at);
        self.record_skip = usize::MAX;
    }

    /// Sets the innermost frame's resume offset (a trace exit).
    pub fn jit_set_ip(&mut self, ip: u32) {
        self.frames.set_ip(ip);
    }

    /// The value in the value stack at index `i` (unit outside it): a trace exit reads
    /// the closure an inlined `call` named.
    pub fn jit_slot(&self, i: usize) -> Value {
        self.stack.get(i).copied().unwrap_or(Value::UNIT)
    }

    /// The innermost frame (a trace exit reads the closure of the frame it ran in).
    pub fn jit_top_frame(&self) -> Option<Frame> {
        self.frames.last().copied()
    }

    /// The frame record `i` places under the innermost (0: the innermost): a recorder
    /// following a return below its trace's frame reads the caller's record.
    pub fn jit_frame(&self, i: usize) -> Option<Frame> {
        let f = self.frames.as_slice();
        f.len().checked_sub(i + 1).map(|j| f[j])
    }

    /// Gives an anchor whose recordings aborted a fresh start: no aborts counted, not
    /// blacklisted, counting down from the threshold. A JIT calls it when what made
    /// them abort has changed (an inner loop they met got a trace to link to).
    pub fn jit_retry(&mut self, at: Anchor) {
        let t = self.config.jit_hot;
        if let Some(s) = self.slot_mut(at) {
            if s.trace == 0 {
                *s = HotSlot::new(t);
            }
        }
    }

    /// Pushes a NORMAL frame a trace exit materialises: the frame of a call the trace
    /// inlined. Every slot of its extent must already hold a live value (the trace
    /// wrote the arguments and cleared the rest as the interpreter's push does), so
    /// none is cleared here. Fails with the interpreter's own "stack overflow".
    pub fn jit_push_frame(
        &mut self,
        func: u32,
        ip: u32,
        base: u32,
        ret: u16,
        closure: Value,
    ) -> Result<(), Trap> {
        let Some(f) = self.funcs.get(func as usize) else {
            return Err(self.error_plain("JIT: a frame of a function that does not exist"));
        };
        let n = f.nslots as usize;
        if base as usize + n > self.stack.len() {
            return Err(self.error_plain("JIT: an inlined frame outside the value stack"));
        }
        self.enter(
            Frame {
                func,
                ip,
                base,
                ret,
                kind: crate::vm::FrameKind::NORMAL,
                pad: 0,
                closure,
            },
            n,
        )
    }

    /// Allocates the objects a trace exit rebuilds (the JIT's allocation sinking:
    /// objects the trace never allocated because nothing but its exits could see
    /// them) and writes them to their slots. `objs` are the objects, each with its
    /// header words ([`layout::header_words`]) and fields: the value of a slot (an
    /// index in the value stack, which the exit wrote) or another of `objs` (so an
    /// object two slots or fields name is one object, and cycles are possible);
    /// `writes` are `(value-stack index, object)`. Every value read from a slot is
    /// rooted before the first allocation and every object after its own, so a
    /// collection in any allocation moves them all; each object's fields are unit
    /// until all are allocated, then filled through the write barrier (an earlier
    /// object may have been promoted by a later allocation's collection). The
    /// frames the exit restores must be pushed first: the slots read and written
    /// are then live for the collector.
    pub fn jit_unsink(
        &mut self,
        objs: &[([u64; 2], Vec<SunkField>)],
        writes: &[(usize, usize)],
    ) -> Result<(), Trap> {
        let nvals: usize = objs.iter().map(|o| o.1.len()).sum();
        let mark = self.roots.len();
        if self.roots.try_reserve(nvals + objs.len()).is_err() {
            return Err(self.error_plain("out of memory"));
        }
        for (_, fields) in objs {
            for f in fields {
                if let SunkField::Slot(i) = *f {
                    let v = self.jit_slot(i);
                    self.roots.push(v);
                }
            }
        }
        let r = self.unsink_rooted(objs, writes, mark);
        self.roots.truncate(mark);
        r
    }

    /// [`Vm::jit_unsink`] once the slot values are rooted from `roots[mark..]`.
    fn unsink_rooted(
        &mut self,
        objs: &[([u64; 2], Vec<SunkField>)],
        writes: &[(usize, usize)],
        mark: usize,
    ) -> Result<(), Trap> {
        let at = self.roots.len();
        for (w, fields) in objs {
            let (kind, tag, meta, len) = layout::header_fields(*w);
            // Only objects of value fields are ever sunk (what the recorder
            // allocates inline: constructors, tuples, cons cells, closures, arrays).
            use crate::heap::Kind;
            let values = matches!(kind, Kind::DATA | Kind::ARRAY | Kind::CLOSURE | Kind::REF);
            if len != fields.len() as u64 || !values {
                return Err(self.error_plain("JIT: a sunk object of a bad shape"));
            }
            let p = self.alloc(16 * fields.len(), kind, tag, meta, len)?;
            // SAFETY: `p` was just allocated with `fields.len()` value slots, which
            // must hold values before the next allocation can collect.
            unsafe {
                for i in 0..fields.len() {
                    *crate::heap::fields(p).add(i) = Value::UNIT;
                }
            }
            self.roots.push(Value::obj(p));
        }
        let mut leaf = mark;
        for (j, (_, fields)) in objs.iter().enumerate() {
            let obj = self.roots[at + j];
            for (i, f) in fields.iter().enumerate() {
                let v = match *f {
                    SunkField::Slot(_) => {
                        leaf += 1;
                        self.roots[leaf - 1]
                    }
                    SunkField::Object(m) => match self.roots.get(at..).and_then(|r| r.get(m)) {
                        Some(&v) if m < objs.len() => v,
                        _ => return Err(self.error_plain("JIT: a sunk object names no object")),
                    },
                };
                // SAFETY: `obj` is the live object allocated above with
                // `fields.len()` value fields (rooted, so up to date).
                unsafe { self.heap.store(obj.ptr(), i, v) };
            }
        }
        for &(slot, m) in writes {
            let v = match (m < objs.len()).then(|| self.roots[at + m]) {
                Some(v) => v,
                None => return Err(self.error_plain("JIT: a sunk object names no object")),
            };
            match self.stack.get_mut(slot) {
                Some(s) => *s = v,
                None => return Err(self.error_plain("JIT: a sunk object outside the stack")),
            }
        }
        Ok(())
    }

    /// The loop slot of the back-edge at byte offset `ip` of function `func`, if there
    /// is a back-edge there.
    pub fn loop_slot(&self, func: u32, ip: u32) -> Option<u32> {
        let f = self.funcs.get(func as usize)?;
        let code = f.code.get(ip as usize..)?;
        let op = hashvm_format::insn::Insn::decode(code, 0).ok()?.0.op;
        if !matches!(op, Op::Loop | Op::TCallSelf) {
            return None;
        }
        f.code
            .edge(ip as usize / BACKEDGE_MIN_LEN)
            .filter(|&e| e != NO_EDGE)
    }

    /// The counter state of an anchor (tests, `--jit-stats`).
    pub fn hot_slot(&self, at: Anchor) -> Option<HotSlot> {
        match at {
            Anchor::Loop { index, .. } => self.hot_loops.get(index as usize).copied(),
            Anchor::Call { func } => self.hot_calls.get(func as usize).copied(),
        }
    }

    /// The anchor being recorded, if the recording instance is running.
    pub fn recording(&self) -> Option<Anchor> {
        self.recording
    }

    /// Removes the trace installed at `at` (after the JIT invalidated it); its counter
    /// restarts from the threshold.
    pub fn uninstall_trace(&mut self, at: Anchor) {
        let t = self.config.jit_hot.max(1);
        self.empty_slot(at, t);
    }

    /// Takes the entry installed at `at` out of its slot (a native executable's
    /// compiled loop handing over to the tracing JIT, SPEC.md §11.6): the anchor's
    /// next pass asks the hook again at once, which may record a trace there. Not an
    /// abort, and a trace that hands over is not one that made no progress.
    pub fn jit_hand_over(&mut self, at: Anchor) {
        self.empty_slot(at, 1);
    }

    /// Empties the trace slot of `at`, its counter firing after `count` passes.
    fn empty_slot(&mut self, at: Anchor, count: u16) {
        if let Some(s) = self.slot_mut(at) {
            s.trace = 0;
            s.count = count;
        }
    }

    fn slot_mut(&mut self, at: Anchor) -> Option<&mut HotSlot> {
        match at {
            Anchor::Loop { index, .. } => self.hot_loops.get_mut(index as usize),
            Anchor::Call { func } => self.hot_calls.get_mut(func as usize),
        }
    }

    /// Counters for functions and back-edges added to the running program
    /// ([`Vm::link_in`]): the existing ones, and their traces, are kept.
    pub(crate) fn grow_jit(&mut self, nedges: usize) {
        let t = self.config.jit_hot;
        self.hot_calls.resize(self.funcs.len(), HotSlot::new(t));
        self.hot_loops.resize(nedges, HotSlot::new(t));
        self.sync_jit_state();
    }

    /// New counters for a newly loaded program; every trace is flushed.
    pub(crate) fn reset_jit(&mut self, nedges: usize) {
        let t = self.config.jit_hot;
        self.hot_calls = vec![HotSlot::new(t); self.funcs.len()];
        self.hot_loops = vec![HotSlot::new(t); nedges];
        self.jit_request = None;
        if let Some(at) = self.recording.take() {
            self.with_hook(|h, vm| h.cancel(vm, at));
        }
        self.trace_consts.clear();
        self.with_hook(|h, _| h.flush());
        self.with_hook(|h, vm| h.loaded(vm));
    }

    /// Installs trace `t` at anchor `at` (code the hook already has, e.g. compiled
    /// ahead of time): the next pass over the anchor enters it. Ignored for an anchor
    /// that does not exist.
    pub fn install_trace(&mut self, at: Anchor, t: TraceId) {
        if let Some(s) = self.slot_mut(at) {
            s.install(t);
        }
    }

    /// Runs `f` with the hook detached (so it may take `&mut Vm`); `None` without one.
    #[inline]
    fn with_hook<R>(&mut self, f: impl FnOnce(&mut dyn JitHook, &mut Vm) -> R) -> Option<R> {
        let mut h = self.hook.take()?;
        let was = std::mem::replace(&mut self.in_hook, true);
        let r = f(&mut *h, self);
        self.in_hook = was;
        if self.hook.is_none() {
            self.hook = Some(h);
        }
        Some(r)
    }

    /// A recording ended without the recorder's say (host return, fault): counts as
    /// an abort.
    pub(crate) fn cancel_recording(&mut self) {
        self.record_skip = usize::MAX;
        if let Some(at) = self.recording.take() {
            self.with_hook(|h, vm| h.cancel(vm, at));
            let t = self.config.jit_hot;
            if let Some(s) = self.slot_mut(at) {
                if s.trace != 0 {
                    s.count = 1;
                } else {
                    s.abort(t);
                }
            }
        }
    }

    /// A function's entry counter expired or it has a trace: queue the request for the
    /// interpreter (acted on in [`Vm::take_jit_request`] when it reloads the frame),
    /// and poll interrupts.
    #[cold]
    #[inline(never)]
    pub(crate) fn fire_hot_call(&mut self, func: u32) -> Result<(), Trap> {
        let t = self.config.jit_hot;
        let s = &mut self.hot_calls[func as usize];
        s.rearm(t);
        let wanted = s.trace != 0 || (!s.blacklisted && self.hook.is_some());
        if wanted && self.recording.is_none() {
            self.jit_request = Some((Anchor::Call { func }, self.frames.len()));
        }
        self.check_interrupt()
    }

    /// Acts on a queued function-entry request if the innermost frame is still the
    /// entry it was raised for (otherwise the request is dropped).
    #[cold]
    #[inline(never)]
    pub(crate) fn take_jit_request(&mut self) -> Result<Go, Trap> {
        let Some((at, depth)) = self.jit_request.take() else {
            return Ok(Go::On);
        };
        let Anchor::Call { func } = at else {
            return Ok(Go::On);
        };
        match self.frames.last() {
            Some(f)
                if self.frames.len() == depth
                    && f.kind == crate::vm::FrameKind::NORMAL
                    && f.func == func
                    && f.ip == 0 => {}
            _ => return Ok(Go::On),
        }
        self.act(at, 0)
    }

    /// A back-edge counter expired or its loop has a trace. The innermost frame's ip
    /// is `off + 1` (inside the back-edge, for an "interrupted" trace).
    #[cold]
    #[inline(never)]
    pub(crate) fn fire_hot_loop(&mut self, func: u32, off: u32, index: u32) -> Result<Go, Trap> {
        let t = self.config.jit_hot;
        self.hot_loops[index as usize].rearm(t);
        self.check_interrupt()?;
        let s = self.hot_loops[index as usize];
        if self.recording.is_some() || (s.trace == 0 && (s.blacklisted || self.hook.is_none())) {
            return Ok(Go::On);
        }
        self.frames.set_ip(off);
        let at = Anchor::Loop {
            func,
            ip: off,
            index,
        };
        let r = match std::num::NonZeroU32::new(s.trace) {
            // An installed trace (every pass of a compiled loop's header): straight in.
            Some(t) => self.run_trace(at, TraceId(t), off),
            None => self.act(at, off),
        };
        if let Ok(Go::On) = r {
            self.frames.set_ip(off + 1);
        }
        r
    }

    /// Enters the anchor's trace, or asks the hook what to do. The innermost frame's
    /// ip is `off`, the anchor's exact position.
    fn act(&mut self, at: Anchor, off: u32) -> Result<Go, Trap> {
        let Some(s) = self.hot_slot(at) else {
            return Ok(Go::On);
        };
        let action = match std::num::NonZeroU32::new(s.trace) {
            Some(t) => HotAction::Enter(TraceId(t)),
            None => match self.with_hook(|h, vm| h.hot(vm, at)) {
                Some(a) => a,
                None => return Ok(Go::On),
            },
        };
        match action {
            HotAction::Continue => Ok(Go::On),
            HotAction::Record => {
                self.recording = Some(at);
                self.record_skip = usize::MAX;
                Ok(Go::Switch)
            }
            HotAction::Enter(t) => {
                if let Some(s) = self.slot_mut(at) {
                    s.install(t);
                }
                self.run_trace(at, t, off)
            }
        }
    }

    /// Runs trace `t` through the hook and checks where it left the machine. Inlined
    /// into its callers, so that the anchor goes to the hook in registers (a copy
    /// through memory stalled every entry on store forwarding).
    #[inline(always)]
    fn run_trace(&mut self, at: Anchor, t: TraceId, off: u32) -> Result<Go, Trap> {
        let depth = self.frames.len();
        let func = self.frames.last().map(|f| f.func);
        let r = self.with_hook(|h, vm| h.enter(vm, t, &at));
        match r {
            None => {
                // No JIT to run it: forget the trace.
                self.uninstall_trace(at);
                return Ok(Go::On);
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(())) => {}
        }
        match self.frames.last() {
            Some(f) if f.kind == crate::vm::FrameKind::NORMAL => {
                let looped = matches!(at, Anchor::Loop { .. });
                if looped
                    && self.frames.len() == depth
                    && Some(f.func) == func
                    && f.ip == off
                    && self.hot_slot(at).is_some_and(|s| s.trace == t.0.get())
                {
                    // The trace made no progress: entering it again would never end
                    // (unless the hook took it out of the slot itself: a hand-over,
                    // [`Vm::jit_hand_over`]).
                    // Uninstall it and interpret the anchor. (A function-entry trace
                    // is entered again only at the next call: the interpreter runs the
                    // entry in between.) It counts as an abort: an anchor whose traces
                    // keep making no progress is blacklisted like one whose recordings
                    // keep failing, instead of being recorded again forever.
                    self.uninstall_trace(at);
                    let t = self.config.jit_hot;
                    if let Some(s) = self.slot_mut(at) {
                        s.abort(t);
                    }
                }
                if self.recording.is_some() {
                    // The hook asked for a side trace from this exit.
                    return Ok(Go::Switch);
                }
                Ok(Go::Reload)
            }
            _ => Err(self.error_plain("JIT trace exit left no bytecode frame to resume")),
        }
    }

    /// Before one instruction in recording mode: asks the recorder, and ends the
    /// recording when it says so (installing the trace, or backing off on abort).
    /// Returns whether to switch back to the normal instance before the instruction.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_step(&mut self, func: u32, ip: u32, base: usize) -> bool {
        self.record_skip = usize::MAX;
        let Some(anchor) = self.recording else {
            return true;
        };
        let Some(mut h) = self.hook.take() else {
            self.recording = None;
            return true;
        };
        let f = &self.funcs[func as usize];
        let end = (base + f.nslots as usize).min(self.stack.len());
        let point = RecordPoint {
            func,
            ip,
            code: &f.code,
            slots: &self.stack[base..end],
            base,
            depth: self.frames.len(),
            closure: self.frames.last().map_or(Value::UNIT, |f| f.closure),
            anchor,
        };
        self.in_hook = true;
        let r = h.record(self, &point);
        self.in_hook = false;
        if self.hook.is_none() {
            self.hook = Some(h);
        }
        let t = self.config.jit_hot;
        match r {
            Recording::Continue => false,
            Recording::Skip(depth) => {
                self.record_skip = depth;
                false
            }
            Recording::Done(id) => {
                self.recording = None;
                if let Some(s) = self.slot_mut(anchor) {
                    // The aborts so far stay counted (see `run_trace`).
                    s.install(id);
                }
                true
            }
            Recording::Abort => {
                self.recording = None;
                if let Some(s) = self.slot_mut(anchor) {
                    // A side trace of an installed trace failed: the trace stays
                    // entered at every pass (the JIT limits its own retries).
                    if s.trace != 0 {
                        s.count = 1;
                    } else {
                        s.abort(t);
                    }
                }
                true
            }
            Recording::Wait(inner) => {
                self.recording = None;
                // An inner anchor that will never get a trace makes this an abort.
                let hopeless = self.hot_slot(inner).is_none_or(|s| s.blacklisted);
                if let Some(s) = self.slot_mut(anchor) {
                    if s.trace != 0 {
                        s.count = 1;
                    } else if hopeless {
                        s.abort(t);
                    } else {
                        s.wait(t);
                    }
                }
                if !hopeless && inner != anchor {
                    if let Some(s) = self.slot_mut(inner) {
                        if s.trace == 0 {
                            s.count = 1;
                        }
                    }
                }
                true
            }
        }
    }
}

/// Helper calls: what a trace runs through the VM instead of compiling it (SPEC.md §4.6,
/// "Helper calls"). A trace calls [`jit_call_insn`] for one bytecode instruction it
/// cannot compile (a foreign call, a string operation, `print`, a `net.*` instruction);
/// the VM runs that instruction with the interpreter's own code and answers with one of
/// these status codes. A helper never panics or unwinds into machine code: every path
/// returns a code.
pub mod status {
    /// The instruction ran to completion: the trace goes on (and reloads every value
    /// from its slot: a collection may have moved objects).
    pub const OK: u32 = 0;
    /// Nothing happened: the trace exits at the instruction, which the interpreter
    /// then runs itself (what the helper cannot do, e.g. a call whose state it does
    /// not recognise).
    pub const EXIT: u32 = 1;
    /// The instruction ran and ended in a fault (or `io.exit`), exactly as the
    /// interpreter's run of it would have: the trace exits at the instruction, and the
    /// hook raises the fault there ([`Vm::jit_take_trap`]) with that instruction's
    /// stack trace. Nothing is run twice.
    pub const TRAP: u32 = 2;
}

/// Whether a trace may run `op` through [`jit_call_insn`]: instructions whose
/// interpreter handler is a VM method that neither pushes frames nor grows the value
/// stack (the trace's frame pointer stays valid across the call).
pub fn helper_runs(op: Op) -> bool {
    matches!(
        op,
        Op::FfiCall | Op::ANew | Op::Print | Op::ToStr | Op::SCat
    ) || runtime_ext(op)
}

/// The extended instructions (`0xFE`, `0xFF`: numeric conversions and functions,
/// `ibig` and `ratio` arithmetic, strings, characters, IO, the list and array
/// functions, the network) whose handler ([`Vm::ext_num`], [`Vm::ext_sys`]) is a
/// runtime function of its slot operands: all but `list.map`, `list.filter` and
/// `list.foldr`, which call closures (they push frames), and `io.exit`, which ends
/// the program. So a loop that slices strings, converts arrays to lists or reverses
/// a list is a trace calling the VM there, and native code calls it, instead of
/// leaving to the interpreter at each.
fn runtime_ext(op: Op) -> bool {
    use hashvm_format::opcode::{EXT_NUM, EXT_SYS};
    let prefix = (op as u16 >> 8) as u8;
    (prefix == EXT_NUM || prefix == EXT_SYS)
        && !matches!(op, Op::ListMap | Op::ListFilter | Op::ListFoldr | Op::Exit)
}

/// The helper a trace calls to run one bytecode instruction (see [`status`]): the
/// instruction at byte offset `at & 0xffff_ffff` of function `at >> 32`, in the frame
/// whose slot 0 is at `slots`. The slots from the trace frame's slot 0 up to
/// `live_end` are the live slots of every frame the trace runs in at that point
/// (its own and the calls it inlined, which are not on the VM's frame stack): a
/// collection inside the helper treats them as roots and updates them.
///
/// Before the call the trace has written every live value to its slot (the frame
/// state is exactly an exit's); after it, it reloads every value from the slots and
/// holds no heap address from before. On return the register block's heap window is
/// exact (a collection syncs the whole block; nothing else a helper runs changes it).
///
/// # Safety
/// `vm` is the VM whose hook is running the trace (inside [`JitHook::enter`], the
/// block synced at entry, no frame record pushed since), with no other reference to
/// it in use; `slots` and `live_end` point into its value stack.
pub unsafe extern "C" fn jit_call_insn(
    vm: *mut Vm,
    at: u64,
    slots: *mut Value,
    live_end: *mut Value,
) -> u32 {
    // SAFETY: the caller's contract: the running VM, not otherwise borrowed meanwhile.
    let vm = unsafe { &mut *vm };
    vm.helper_call((at >> 32) as u32, at as u32, slots, live_end)
}

/// The write barrier's slow path for code compiled ahead of time (SPEC.md §11.6): the
/// old object `obj`, not yet remembered, just got (or is about to get) a young object
/// in one of its fields, so it joins the remembered set ([`crate::heap::Heap::barrier`]'s
/// slow path). Compiled code calls it instead of leaving to the interpreter, saving
/// every register it uses around the call: it allocates nothing, collects nothing and
/// touches no frame. When the remembered set cannot grow, the heap forces the next
/// collection: the register block's allocation limit then falls to its bump pointer,
/// so that the next inline allocation leaves to the interpreter, which collects.
///
/// # Safety
/// `vm` is the VM whose hook is running the code (no other reference to it in use) and
/// `obj` one of its live heap objects outside the nursery.
pub unsafe extern "C" fn jit_remember(vm: *mut Vm, obj: *mut u8) {
    // SAFETY: the caller's contract: the running VM, not otherwise borrowed meanwhile.
    let vm = unsafe { &mut *vm };
    vm.heap.remember(obj.cast());
    if vm.heap.must_collect() {
        vm.jit_state.heap_limit = vm.jit_state.heap_ptr;
    }
}

/// [`jit_call_insn`] for code compiled ahead of time (SPEC.md §11.6): the same helper,
/// after adopting the frame records the code pushed natively for its direct calls
/// (the register block's frame top above the VM's frame count), as the runtime adopts
/// them when the code returns ([`Vm::jit_state_commit`]): the instruction then runs,
/// collects and faults with the frames exactly as the interpreter would have them.
///
/// # Safety
/// [`jit_call_insn`]'s contract; besides, every frame record between the VM's frame
/// count and the register block's frame top is a whole NORMAL record of a function of
/// the program, its slots in the value stack (what compiled code pushes).
pub unsafe extern "C" fn aot_call_insn(
    vm: *mut Vm,
    at: u64,
    slots: *mut Value,
    live_end: *mut Value,
) -> u32 {
    // SAFETY: the caller's contract: the running VM, not otherwise borrowed meanwhile.
    let vm = unsafe { &mut *vm };
    let (fb, flen, fcap) = vm.frames.raw_parts();
    let ftop = vm.jit_state.frame_top;
    if ftop < fb || vm.jit_state.frame_base != fb {
        return status::EXIT;
    }
    // SAFETY: both point into (or one past) the frame stack's allocation, checked
    // above and below.
    let n = unsafe { ftop.offset_from(fb) } as usize;
    if n > fcap.min(vm.config.max_frames) {
        return status::EXIT;
    }
    if n > flen {
        // SAFETY: `n <= capacity`, and the caller's contract covers the records.
        unsafe { vm.frames.set_len(n) };
    }
    vm.helper_call((at >> 32) as u32, at as u32, slots, live_end)
}

impl Vm {
    /// [`jit_call_insn`]'s body: checks the state it is called in, runs the
    /// instruction with its live slots rooted, and resyncs the block.
    fn helper_call(&mut self, func: u32, ip: u32, slots: *mut Value, end: *mut Value) -> u32 {
        let sb = self.stack.as_mut_ptr() as usize;
        let len = self.stack.len();
        let index = |p: *mut Value| {
            (p as usize)
                .checked_sub(sb)
                .filter(|d| d % 16 == 0)
                .map(|d| d / 16)
                .filter(|&i| i <= len)
        };
        let (Some(b), Some(top)) = (index(slots), index(end)) else {
            return status::EXIT;
        };
        // The frame records must be the VM's own (no native recursion pending a
        // commit), and no earlier fault may be waiting to be raised. Records a trace
        // popped (`ret.down`) are adopted first, as its exit would: the VM's frame
        // stack is then exactly the interpreter's, the running frame the caller the
        // trace returned to.
        let (fb, flen, _) = self.frames.raw_parts();
        let ftop = self.jit_state.frame_top;
        if ftop < fb || ftop > fb.wrapping_add(flen) || self.jit_trap.is_some() {
            return status::EXIT;
        }
        if ftop != fb.wrapping_add(flen) {
            // SAFETY: `fb <= ftop < fb + flen`, both in the frame stack's allocation.
            let n = unsafe { ftop.offset_from(fb) } as usize;
            self.frames.truncate(n);
        }
        // Objects the trace allocated before the call are the heap's from here: the
        // handler (and a collection) must see them, and allocate after them. Only the
        // bump pointer needs adopting (the frame count was checked above; a full
        // `jit_state_commit` would also resync the whole block, which the return path
        // below does for what a helper can change). Every object the trace bumped is
        // whole: its fields are stored right after `new`, before any guard, helper
        // call or exit.
        if !self.heap.set_bump(self.jit_state.heap_ptr) {
            return status::EXIT;
        }
        let saved = self.scratch_top;
        self.scratch_top = saved.max(top);
        let r = self.helper_insn(func, ip, b);
        self.scratch_top = saved;
        // A collection synced the block; an allocation without one moved only the
        // bump pointer, and nothing a helper runs changes the rest.
        let (hp, hl) = self.heap.bump_window();
        self.jit_state.heap_ptr = hp;
        self.jit_state.heap_limit = hl;
        match r {
            None => status::EXIT,
            Some(Ok(())) => status::OK,
            Some(Err(t)) => {
                self.jit_trap = Some(t);
                status::TRAP
            }
        }
    }

    /// Runs the instruction at `ip` of `func` in the frame at stack index `b` with the
    /// interpreter's handler; `None` (nothing done) for an instruction
    /// [`helper_runs`] does not list or operands outside the value stack.
    fn helper_insn(&mut self, func: u32, ip: u32, b: usize) -> Option<Result<(), Trap>> {
        use hashvm_format::opcode::OperandKind as K;
        // Operands are read at the offsets the opcode table's widths give, as the
        // interpreter reads them (a full `Insn::decode` cost more than the foreign call
        // itself). The offsets are summed in one walk over the operand kinds, each
        // read checked against the code's end: `Op::operand_offset` and
        // `Op::encoded_len` walk the kinds again for every operand, about 200
        // instructions a call, a fifth of fasta's 4 helper calls a line.
        let code = &self.funcs.get(func as usize)?.code;
        let bytes = code.get(ip as usize..)?;
        let (op, mut at) = Op::decode(bytes)?;
        if !helper_runs(op) {
            return None;
        }
        let mut o = [0usize; 4];
        let mut n = 0;
        let mut foreign = None;
        let mut count = 0;
        for k in op.operands() {
            let w = k.width()?;
            let field = bytes.get(at..at + w)?;
            at += w;
            let u16at = || u16::from_le_bytes([field[0], field[1]]) as usize;
            match k {
                K::Dst | K::Src | K::Base => {
                    let s = u16at();
                    if b + s >= self.stack.len() || n == o.len() {
                        return None;
                    }
                    o[n] = s;
                    n += 1;
                }
                K::Count => count = u16at(),
                K::Foreign => {
                    foreign = Some(u32::from_le_bytes([field[0], field[1], field[2], field[3]]))
                }
                _ => return None,
            }
        }
        Some(match op {
            Op::Print => self.print_str(self.stack[b + o[0]]),
            Op::ToStr => self.display_str(self.stack[b + o[1]]).map(|v| {
                self.stack[b + o[0]] = v;
            }),
            Op::SCat => self.concat(b, o[1], o[2]).map(|v| {
                self.stack[b + o[0]] = v;
            }),
            // The interpreter's own allocation (layout, fill, and its faults for a
            // bad length), so that a trace knows nothing of an array's layout.
            Op::ANew => self.new_array(self.stack[b + o[1]], b, o[2]).map(|v| {
                self.stack[b + o[0]] = v;
            }),
            Op::FfiCall => {
                if b + o[1] + count > self.stack.len() {
                    return None;
                }
                self.ffi_call(b + o[0], foreign?, b + o[1], count)
            }
            op if (op as u16 >> 8) as u8 == hashvm_format::opcode::EXT_NUM => {
                self.ext_num(op as u16 as u8, b, &o)
            }
            // `0xFF` (see `runtime_ext`), the network's instructions among them.
            op => self.ext_sys(op as u16 as u8, b, &o),
        })
    }

    /// Makes the interpreter count the instructions it runs (a slower instance of its
    /// dispatch loop, for `--jit-stats`), or stop counting.
    pub fn set_count_instructions(&mut self, on: bool) {
        self.count_insns = on;
    }

    /// Makes the counting interpreter (see [`Vm::set_count_instructions`]) also count
    /// each opcode it runs: the dynamic instruction mix a front end's code generation
    /// is tuned against (`HASHVM_OPCODE_COUNTS`, SPEC.md §10.4). Costs nothing when
    /// not counting: only the counting instance of the dispatch loop looks.
    pub fn set_count_opcodes(&mut self, on: bool) {
        self.op_counts = on.then(|| Box::new([0u64; 768]));
    }

    /// The opcodes the interpreter ran while counting them, most frequent first:
    /// (instruction, count), with the counts of one opcode summed.
    pub fn opcode_counts(&self) -> Vec<(hashvm_format::Op, u64)> {
        let Some(h) = &self.op_counts else {
            return Vec::new();
        };
        let mut v: Vec<(hashvm_format::Op, u64)> = h
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .filter_map(|(i, &n)| {
                let bytes: &[u8] = match i {
                    0..=255 => &[i as u8],
                    256..=511 => &[0xFE, (i - 256) as u8],
                    _ => &[0xFF, (i - 512) as u8],
                };
                hashvm_format::Op::decode(bytes).map(|(op, _)| (op, n))
            })
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.mnemonic().cmp(b.0.mnemonic())));
        v
    }

    /// Instructions the interpreter ran while counting (see
    /// [`Vm::set_count_instructions`]; recordings always count).
    pub fn instructions_interpreted(&self) -> u64 {
        self.interpreted
    }

    /// After a trace exit through a helper that answered [`status::TRAP`]: the fault
    /// the instruction ended in, with the stack trace of the frames as the exit left
    /// them (the innermost at the instruction). `None` when no fault is pending.
    pub fn jit_take_trap(&mut self) -> Option<Trap> {
        let mut t = self.jit_trap.take()?;
        // As the interpreter records a faulting instruction: one byte into it.
        if let Some(f) = self.frames.last() {
            let ip = f.ip + 1;
            self.frames.set_ip(ip);
        }
        if let Trap::Error(e) = &mut t {
            e.trace = self.trace();
        }
        Some(t)
    }
}

/// Element `i` of the live array `h` (resolved if converted), `None` out of range.
///
/// # Safety
/// `h` must point at a live ARRAY object.
unsafe fn vm_array_get(h: *mut crate::heap::Header, i: usize) -> Option<Value> {
    // SAFETY: per the caller's contract.
    unsafe {
        if i as u64 >= (*h).len {
            return None;
        }
        Some(crate::heap::array_get(crate::heap::array_target(h), i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::{Config, FrameKind};
    use hashvm_format::{FunctionBuilder, Module, ModuleBuilder};

    fn module() -> Module {
        let mut mb = ModuleBuilder::new();
        mb.add_global(
            "g",
            hashvm_format::GlobalInit::Const(hashvm_format::Const::Str("x".into())),
        );
        let mut m = FunctionBuilder::new("main", 0, 0);
        m.op(Op::RetU, []);
        let main = mb.add_function(m).unwrap();
        mb.set_entry(main);
        mb.set_executable(true);
        mb.finish().unwrap()
    }

    fn loaded() -> Vm {
        let mut vm = Vm::new(Config::default());
        let m = module();
        vm.load(hashvm_format::verify(&m).unwrap()).unwrap();
        vm
    }

    /// Loading syncs the block (globals, frames, heap).
    #[test]
    fn load_syncs_the_block() {
        let mut vm = Vm::new(Config::default());
        assert!(vm.jit_state.globals.is_null() || vm.globals.is_empty());
        let m = module();
        vm.load(hashvm_format::verify(&m).unwrap()).unwrap();
        assert_eq!(vm.check_jit_state(), Ok(()));
        assert_eq!(vm.jit_state.nglobals, 1);
        assert!(!vm.jit_state.globals.is_null());
    }

    /// Growing the value stack moves it; the block follows.
    #[test]
    fn stack_growth_syncs_the_block() {
        let mut vm = loaded();
        let n = vm.stack.len() * 4;
        vm.grow_stack(n).unwrap();
        assert_eq!(vm.check_jit_state(), Ok(()));
        assert_eq!(
            vm.jit_state.stack_limit as usize - vm.jit_state.stack_base as usize,
            16 * vm.stack.len()
        );
        assert!(vm.stack.len() >= n);
    }

    /// Pushing frames past the frame vector's room grows it on the slow path, which
    /// syncs; `frame_top` is exact after a sync.
    #[test]
    fn frame_growth_syncs_the_block() {
        let mut vm = loaded();
        let room = vm.frames.raw_parts().2;
        for i in 0..room + 5 {
            let fr = Frame {
                func: 0,
                ip: 0,
                base: i as u32,
                ret: 0,
                kind: FrameKind::NORMAL,
                pad: 0,
                closure: Value::UNIT,
            };
            vm.enter(fr, 0).unwrap();
        }
        assert!(vm.frames.raw_parts().2 > room, "the frame vector grew");
        // The count moved since the growth: sync, as at trace entry, then check.
        vm.jit_state();
        assert_eq!(vm.check_jit_state(), Ok(()));
        assert_eq!(
            vm.jit_state.frame_top as usize - vm.jit_state.frame_base as usize,
            32 * (room + 5)
        );
    }

    /// A collection moves objects: the block's heap window and the trace constants
    /// follow, and a constant still holds the (moved) string.
    #[test]
    fn collection_syncs_the_block_and_forwards_constants() {
        let mut vm = loaded();
        let s = vm.new_str("constant").unwrap();
        let k = vm.push_trace_const(s).unwrap();
        assert_eq!(vm.check_jit_state(), Ok(()));
        let old = vm.trace_const(k).unwrap();
        vm.collect(0).unwrap();
        assert_eq!(vm.check_jit_state(), Ok(()));
        let new = vm.trace_const(k).unwrap();
        assert_ne!(old.bits(), new.bits(), "the constant was moved");
        assert_eq!(vm.display(new), "constant");
        // SAFETY: the block is synced; `consts` points at `nconsts` values.
        let via_block = unsafe { *vm.jit_state.consts.add(k as usize) };
        assert_eq!(via_block.bits(), new.bits());
        // A value from nowhere is refused.
        assert_eq!(vm.push_trace_const(Value::func(99)), None);
    }

    /// Interpreter allocations move the bump pointer without a sync; `jit_state()`
    /// resyncs, and a commit adopts what generated code allocated (and refuses a
    /// pointer outside the space).
    #[test]
    fn commit_adopts_the_bump_pointer() {
        let mut vm = loaded();
        vm.jit_state();
        vm.new_str("moves the bump pointer").unwrap();
        assert!(vm.check_jit_state().is_err());
        let st = vm.jit_state();
        assert_eq!(vm.check_jit_state(), Ok(()));
        // SAFETY: the test writes no object: it moves the pointer by zero, then by an
        // impossible amount (refused).
        unsafe {
            assert_eq!(vm.jit_state_commit(), Ok(()));
            (*st).heap_ptr = (*st).heap_ptr.sub(16);
            assert!(vm.jit_state_commit().is_err());
        }
        assert_eq!(std::mem::size_of::<VmState>(), 104);
    }

    /// The edge table maps each back-edge to its own slot.
    #[test]
    fn edge_tables_number_back_edges() {
        let mut f = FunctionBuilder::new("f", 0, 0);
        let top = f.new_label();
        f.bind(top);
        f.emit(Op::Loop, [hashvm_format::Arg::Label(top)]);
        f.emit(Op::Loop, [hashvm_format::Arg::Label(top)]);
        let mut mb = ModuleBuilder::new();
        let fi = mb.add_function(f).unwrap();
        mb.set_entry(fi);
        mb.set_executable(true);
        let m = mb.finish().unwrap();
        let mut next = 10;
        let t = edge_table(&m.functions[0].code, &mut next);
        assert_eq!(next, 12);
        let l = Op::Loop.encoded_len();
        assert_eq!(t[0], 10);
        assert_eq!(t[l / BACKEDGE_MIN_LEN], 11);
        assert_eq!(t.iter().filter(|&&e| e != NO_EDGE).count(), 2);
    }

    /// A function's `Code` keeps its bytes, and the interpreter's read below the code
    /// pointer (`Code::edge_at`) finds every entry of the edge table, as `Code::edge`
    /// does: loops of several lengths, so that the table has gaps and more than one
    /// word per back-edge.
    #[test]
    fn code_holds_its_edge_table_below_its_bytes() {
        use hashvm_format::insn::Operand;
        let mut f = FunctionBuilder::new("f", 0, 1);
        let top = f.new_label();
        f.bind(top);
        f.emit(Op::Loop, [hashvm_format::Arg::Label(top)]);
        f.emit(
            Op::LoadI,
            [Operand::Slot(0).into(), Operand::Imm32(7).into()],
        );
        f.emit(Op::Loop, [hashvm_format::Arg::Label(top)]);
        f.emit(
            Op::LoadI,
            [Operand::Slot(0).into(), Operand::Imm32(8).into()],
        );
        f.emit(Op::Loop, [hashvm_format::Arg::Label(top)]);
        let mut mb = ModuleBuilder::new();
        let fi = mb.add_function(f).unwrap();
        mb.set_entry(fi);
        mb.set_executable(true);
        let m = mb.finish().unwrap();
        let bytes = &m.functions[0].code;
        let mut next = 3;
        let t = edge_table(bytes, &mut next);
        assert_eq!(next, 6);
        let code = crate::vm::Code::new(bytes, &t);
        assert_eq!(&code[..], &bytes[..]);
        assert_eq!(code.edge(t.len()), None);
        let mut seen = Vec::new();
        for (i, &e) in t.iter().enumerate() {
            assert_eq!(code.edge(i), Some(e));
            // SAFETY: `code` is live and its table has `t.len() > i` entries.
            assert_eq!(unsafe { crate::vm::Code::edge_at(code.code_ptr(), i) }, e);
            if e != NO_EDGE {
                seen.push(e);
            }
        }
        assert_eq!(seen, [3, 4, 5]);
        let empty = crate::vm::Code::new(bytes, &[]);
        assert_eq!(&empty[..], &bytes[..]);
        assert_eq!(empty.edge(0), None);
    }
}
