//! The machine state: the VM stack and its frames, globals, the heap, loaded code, and
//! the allocation and collection entry points every instruction goes through.

use crate::frames::Frames;
use crate::heap::{self, Header, Heap, Kind};
use crate::jit::{Anchor, HotSlot, JitHook, VmState};
use crate::value::Value;
use hashvm_format::{builtin, Module, FIRST_USER_TYPE};
use rug::{Integer, Rational};
use std::io::Write;

/// A loaded function, as the interpreter reads it.
pub struct FuncInfo {
    /// Name for stack traces.
    pub name: String,
    /// The bytecode (verified), with its edge table in front of it.
    pub code: Code,
    /// Parameters.
    pub arity: u16,
    /// Captured values its closures carry.
    pub ncaptures: u16,
    /// Frame size.
    pub nslots: u16,
}

/// A function's bytecode (it derefs to the bytes) and its edge table, the loop-slot
/// index of each back-edge at entry `offset / BACKEDGE_MIN_LEN` (see [`crate::jit`];
/// empty when the function has no back-edge), in one allocation: the table's entries
/// lie in reverse order just below the code's first byte, entry `i` at
/// `code_ptr() as *const u32 - (i + 1)`. So the interpreter finds a back-edge's slot
/// from the code pointer it keeps anyway, and needs no pointer to the table in its
/// dispatch loop: that pointer, a loop-carried local the compiler kept in the loop's
/// stack frame, cost a load and a store at every call and return (binary-trees).
pub struct Code {
    /// The table's `nedges` entries reversed, then the code's bytes in words (the last
    /// one padded with zeros).
    buf: Box<[u32]>,
    /// The code's first byte in `buf` (word `nedges`), kept rather than computed at
    /// every call and return (two instructions each).
    start: *const u8,
    /// Bytes of code.
    len: usize,
}

// SAFETY: `start` points into `buf`, which the `Code` owns and never writes after
// `new`: sending or sharing a `Code` is sending or sharing that immutable buffer.
unsafe impl Send for Code {}
// SAFETY: as for `Send`: nothing writes through `start`.
unsafe impl Sync for Code {}

impl Code {
    /// `code` with the edge table `edges`.
    pub fn new(code: &[u8], edges: &[u32]) -> Code {
        let mut buf: Vec<u32> = edges.iter().rev().copied().collect();
        buf.extend(code.chunks(4).map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_ne_bytes(w)
        }));
        let buf = buf.into_boxed_slice();
        // SAFETY: the first `edges.len()` words are the table's, so the result is
        // inside the buffer or one past its end. Moving the box later does not move
        // its heap buffer.
        let start = unsafe { buf.as_ptr().add(edges.len()) as *const u8 };
        Code {
            buf,
            start,
            len: code.len(),
        }
    }

    /// The code's first byte, with the provenance of the whole allocation (the edge
    /// table below it is read through this pointer, see [`Code`]).
    #[inline(always)]
    pub fn code_ptr(&self) -> *const u8 {
        self.start
    }

    /// Entries of the edge table.
    fn nedges(&self) -> usize {
        self.buf.len() - self.len.div_ceil(4)
    }

    /// Entry `i` of the edge table (`None` past its end).
    pub fn edge(&self, i: usize) -> Option<u32> {
        let k = self.nedges().checked_sub(i.checked_add(1)?)?;
        Some(self.buf[k])
    }

    /// Entry `i` of the edge table of the code starting at `code`, without a bound
    /// check: the interpreter's read at a back-edge.
    ///
    /// # Safety
    /// `code` was returned by [`Code::code_ptr`] of a live `Code` whose table has more
    /// than `i` entries.
    #[inline(always)]
    pub(crate) unsafe fn edge_at(code: *const u8, i: usize) -> u32 {
        // SAFETY: the caller's contract: entry `i` is the word `i + 1` below `code`,
        // inside the allocation `code` derives from, aligned as the words are.
        unsafe { *(code as *const u32).sub(i + 1) }
    }
}

impl std::ops::Deref for Code {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the words after the table hold the code's `len` bytes (`new`), and a
        // byte has no alignment to keep.
        unsafe { std::slice::from_raw_parts(self.code_ptr(), self.len) }
    }
}

/// Printing metadata of one constructor.
#[derive(Clone, Debug)]
pub struct CtorInfo {
    /// Its name.
    pub name: String,
    /// Its arity (`u16::MAX` for the variadic tuple constructor).
    pub arity: u16,
}

/// Printing metadata of one type.
#[derive(Clone, Debug, Default)]
pub struct TypeInfo {
    /// Its name.
    pub name: String,
    /// Its constructors in tag order.
    pub ctors: Vec<CtorInfo>,
}

/// Frame kinds (see SPEC.md, "Calling convention").
pub struct FrameKind;

impl FrameKind {
    /// An ordinary bytecode frame.
    pub const NORMAL: u8 = 0;
    /// The boundary where a Rust caller entered the interpreter: returning into it
    /// leaves the interpreter with the value.
    pub const HOST: u8 = 1;
    /// Over-application: when the callee above returns, apply its result to the extra
    /// arguments held in `closure` (a tuple).
    pub const APPLY_REST: u8 = 2;
    /// Forcing a thunk (in `closure`): when the callee returns, memoise the result.
    pub const FORCE: u8 = 3;
    /// `list.map` in progress: scratch slots hold f, the rest of the list and the
    /// reversed results.
    pub const MAP: u8 = 4;
    /// `list.filter` in progress: scratch slots hold f, the rest, the reversed results
    /// and the element being tested.
    pub const FILTER: u8 = 5;
    /// `list.foldr` in progress: scratch slots hold f, the reversed rest and the
    /// accumulator.
    pub const FOLDR: u8 = 6;
}

/// Slots a continuation frame (MAP, FILTER, FOLDR, FORCE, APPLY_REST) owns from its base;
/// the callee it starts runs above them.
pub const SCRATCH_SLOTS: usize = 4;

/// One activation record. Frames live in one contiguous buffer beside the value stack,
/// never on the Rust stack, so recursion depth is bounded only by the configured limit.
/// `#[repr(C)]` so that JIT code can read and write it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// The running function (NORMAL frames).
    pub func: u32,
    /// Byte offset in the function's code where execution resumes when a callee returns.
    pub ip: u32,
    /// Index in the value stack of slot 0.
    pub base: u32,
    /// The slot of the frame below (the caller) that receives this frame's result.
    pub ret: u16,
    /// See [`FrameKind`].
    pub kind: u8,
    /// Padding, zero.
    pub pad: u8,
    /// The running closure (its captures are read by `getenv`), or a FUNC value; for
    /// APPLY_REST the pending arguments, for FORCE the thunk.
    pub closure: Value,
}

/// Why execution stopped early.
#[derive(Debug)]
pub enum Trap {
    /// A runtime error: message and stack trace.
    Error(RuntimeError),
    /// `io.exit(status)`.
    Exit(i64),
}

/// A runtime error as printed: `error: <message>`, then one line per frame.
#[derive(Debug, Clone)]
pub struct RuntimeError {
    /// What went wrong.
    pub message: String,
    /// Innermost first: function name and source location if known.
    pub trace: Vec<TraceLine>,
}

/// One line of a stack trace.
#[derive(Debug, Clone)]
pub struct TraceLine {
    /// The function's name.
    pub func: String,
    /// `file:line:col` (`file:line` when the column is unknown), when the debug info
    /// knows it.
    pub location: Option<String>,
    /// How many more frames just outside this one are the same function at the same
    /// place (a deep recursion), folded into this line.
    pub repeats: usize,
}

/// How many distinct lines a stack trace shows; frames past them are counted.
pub const TRACE_LINES: usize = 64;

impl RuntimeError {
    /// Where the error is reported: the innermost frame in the user's code. Frames in
    /// files whose names start with `<` (the bundled standard library, `<stdlib>/...`)
    /// are skipped, so that a failed `assert` or a `list.nth` misuse points at the line
    /// that called it, not into the library; the trace still shows them.
    pub fn location(&self) -> Option<&str> {
        let mut locs = self.trace.iter().filter_map(|t| t.location.as_deref());
        let first = locs.clone().next();
        locs.find(|l| !l.starts_with('<')).or(first)
    }
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location() {
            Some(l) => writeln!(f, "error: {l}: {}", self.message)?,
            None => writeln!(f, "error: {}", self.message)?,
        }
        if self.trace.is_empty() {
            return Ok(());
        }
        writeln!(f, "stack trace (innermost first):")?;
        for t in &self.trace {
            match &t.location {
                Some(l) => writeln!(f, "  at {} ({l})", t.func)?,
                None => writeln!(f, "  {}", t.func)?,
            }
            if t.repeats > 0 {
                let s = if t.repeats == 1 { "" } else { "s" };
                writeln!(f, "  … {} more frame{s} of `{}`", t.repeats, t.func)?;
            }
        }
        Ok(())
    }
}

/// Tunable limits and modes, from command-line flags or the environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// Maximum live heap bytes (`--heap-limit`).
    pub heap_limit: usize,
    /// Eden's size (where objects are born; `--nursery`), SPEC.md §1.4.
    pub heap_initial: usize,
    /// The minor collections an object survives in a survivor space before it is
    /// promoted (`--gc-age`; 0: promoted at its first, with no survivor spaces).
    pub gc_age: u8,
    /// Each of the two survivor spaces' size (`--survivor`).
    pub gc_survivor: usize,
    /// Maximum frames (`--stack-limit`): past it, "stack overflow".
    pub max_frames: usize,
    /// Collect at every allocation (`HASHVM_GC_STRESS=1`).
    pub gc_stress: bool,
    /// Passes over a loop back-edge, or calls of a function, before the JIT hook hears
    /// of it (`--jit-hot N`; tests use 1). Also how often interrupts are polled.
    pub jit_hot: u16,
    /// Load programs that declare foreign (C) functions (`--allow-ffi`). Off by
    /// default: C code can break every guarantee the verifier gives.
    pub allow_ffi: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            heap_limit: default_heap_limit(),
            heap_initial: heap::DEFAULT_INITIAL,
            gc_age: heap::DEFAULT_TENURE_AGE,
            gc_survivor: heap::DEFAULT_SURVIVOR,
            max_frames: 10_000_000,
            gc_stress: std::env::var_os("HASHVM_GC_STRESS").is_some_and(|v| v != "0"),
            jit_hot: HOT_THRESHOLD,
            allow_ffi: false,
        }
    }
}

/// The default `--heap-limit`: a third of what the machine can give the process (the
/// smallest of its physical memory, its address-space and data-segment limits and its
/// container's memory limit),
/// after a margin of 128 MiB for the code, thread stacks and the C library.
///
/// A third, because a major collection holds two old spaces at once (each up to the
/// limit), and the rest (the VM's value and frame stacks, GMP limbs, text built by
/// `to_str`) needs room too: a runaway program is then stopped by the VM with "out of
/// memory" before the system refuses memory or the kernel's OOM killer steps in.
pub fn default_heap_limit() -> usize {
    heap_limit_for(machine_memory())
}

/// [`default_heap_limit`] for a process that may use `budget` bytes: at least 16 MiB.
pub fn heap_limit_for(budget: u64) -> usize {
    let limit = budget.saturating_sub(128 << 20) / 3;
    usize::try_from(limit).unwrap_or(usize::MAX).max(16 << 20)
}

/// The most memory this process can use: physical memory, lowered by `RLIMIT_AS` and
/// `RLIMIT_DATA` (`ulimit -v`, `ulimit -d`) and by a container's cgroup memory limit
/// when they are set.
pub fn machine_memory() -> u64 {
    let mut budget = u64::MAX;
    // SAFETY: sysconf only reads system configuration.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && page > 0 {
        budget = (pages as u64).saturating_mul(page as u64);
    }
    for res in [libc::RLIMIT_AS, libc::RLIMIT_DATA] {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` through the valid pointer it is given.
        if unsafe { libc::getrlimit(res, &mut rl) } == 0 && rl.rlim_cur != libc::RLIM_INFINITY {
            // `rlim_t` is `u64` here but not on every platform.
            #[allow(clippy::unnecessary_cast)]
            let cur = rl.rlim_cur as u64;
            budget = budget.min(cur);
        }
    }
    // A container's memory limit (cgroup v2, then v1): "max" or a huge number when
    // there is none.
    for path in [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ] {
        if let Some(n) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            budget = budget.min(n);
        }
    }
    if budget == u64::MAX {
        // Nothing known (no sysconf): the old fixed default, 48 GiB / 3 = 16 GiB.
        budget = 48 << 30;
    }
    budget
}

/// The default hotness threshold ([`Config::jit_hot`]).
pub const HOT_THRESHOLD: u16 = 1000;

/// The bytes of a cons cell: a header and two values.
const LIST_CELL: usize = 48;

/// The virtual machine. Its state is private: a program enters it only through
/// [`Vm::load`], which takes a [`hashvm_format::Verified`] module, and values enter
/// it only through its constructors, so safe code cannot break the invariants the
/// interpreter relies on (in-range indices, values of kind OBJ pointing at objects).
///
/// ```compile_fail,E0616
/// let mut vm = hashvm_vm::Vm::new(hashvm_vm::Config::default());
/// vm.globals.push(hashvm_vm::Value::UNIT);
/// ```
pub struct Vm {
    /// The value stack: frames' slots, contiguous. Always fully initialised (len ==
    /// the usable size); grown by doubling.
    pub(crate) stack: Vec<Value>,
    /// Activation records, innermost last.
    pub(crate) frames: Frames,
    /// Global values.
    pub(crate) globals: Vec<Value>,
    /// Loaded functions.
    pub(crate) funcs: Vec<FuncInfo>,
    /// Type metadata indexed by type id.
    pub(crate) types: Vec<TypeInfo>,
    /// The heap.
    pub(crate) heap: Heap,
    /// Extra roots held by Rust code across allocations.
    pub(crate) roots: Vec<Value>,
    /// While a call is being set up, arguments may sit above the current frame's
    /// slots; the collector treats the stack up to here as live too.
    pub(crate) scratch_top: usize,
    /// Limits.
    pub(crate) config: Config,
    /// Buffered standard output.
    pub(crate) out: std::io::BufWriter<Box<dyn Write>>,
    /// Program arguments (`io.args()`).
    pub(crate) args: Vec<String>,
    /// Debug information of the loaded program, for stack traces.
    pub(crate) debug: Module,
    /// Function-entry counters and trace slots, by function index.
    pub(crate) hot_calls: Vec<HotSlot>,
    /// Loop back-edge counters and trace slots, by loop-slot index (see
    /// [`crate::jit`]: each function's edge table maps a back-edge to its index).
    pub(crate) hot_loops: Vec<HotSlot>,
    /// The JIT's hook, if one is attached.
    pub(crate) hook: Option<Box<dyn JitHook>>,
    /// The anchor being recorded, if the recording instance of the interpreter is on.
    pub(crate) recording: Option<Anchor>,
    /// While recording: the frame count above which the recording instance runs
    /// without asking the recorder ([`crate::jit::Recording::Skip`]: the callee of a
    /// real call the trace makes, which may run long); `usize::MAX` otherwise.
    pub(crate) record_skip: usize,
    /// A function-entry request raised in `push_frame` for the interpreter to act on
    /// (record, or enter a trace) when it next reloads its frame.
    pub(crate) jit_request: Option<(Anchor, usize)>,
    /// The fault an instruction a trace ran through a helper ended in (`status::TRAP`,
    /// `crate::jit`), raised by the hook at the trace's exit with the stack trace of
    /// that instruction.
    pub(crate) jit_trap: Option<Trap>,
    /// Whether the interpreter counts the instructions it runs (`--jit-stats`).
    pub(crate) count_insns: bool,
    /// Instructions the interpreter ran while counting (and while recording).
    pub(crate) interpreted: u64,
    /// Per-opcode counts of the instructions the interpreter ran while counting, when
    /// asked for ([`Vm::set_count_opcodes`]): index = the opcode byte, 256 + the second
    /// byte for the `0xFE` extension, 512 + it for `0xFF`.
    pub(crate) op_counts: Option<Box<[u64; 768]>>,
    /// The register block for generated code (boxed: its address never changes).
    pub(crate) jit_state: Box<VmState>,
    /// Constants traces refer to (roots the collector updates).
    pub(crate) trace_consts: Vec<Value>,
    /// Whether a hook method is running: `load` is refused meanwhile (the interpreter
    /// below holds pointers into the loaded code).
    pub(crate) in_hook: bool,
    /// Start of the monotonic clock.
    pub(crate) clock0: std::time::Instant,
    /// Standard input, buffered, for `io.read_line`.
    pub(crate) stdin: Option<std::io::BufReader<std::io::Stdin>>,
    /// Set from another thread (a Ctrl-C handler) to stop the running program with
    /// "interrupted". Checked when a hot counter fires (every `Config::jit_hot` calls
    /// or loop iterations, blacklisted anchors included), so it costs nothing on the
    /// fast path. Generated code reads it through `VmState::interrupt`.
    pub(crate) interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// What is loaded, as the linker sees it (exported symbols, linked library
    /// names), so that more code can be linked into the running program
    /// ([`Vm::link_in`]).
    pub(crate) image: crate::loader::Image,
    /// The loaded program's foreign functions, resolved, by foreign index.
    pub(crate) foreigns: Vec<std::sync::Arc<crate::ffi::ForeignFn>>,
    /// Libraries opened for foreign functions (`dlopen` handles by name), kept open
    /// for the life of the process.
    pub(crate) ffi_libs: std::collections::HashMap<String, usize>,
    /// Open network handles (`net.*`).
    pub(crate) net: crate::net::Handles,
}

impl Vm {
    /// An empty machine (no program loaded).
    pub fn new(config: Config) -> Vm {
        let mut heap = Heap::new(
            config.heap_initial,
            config.heap_limit,
            config.gc_age,
            config.gc_survivor,
        );
        heap.set_stress(config.gc_stress);
        let mut types: Vec<TypeInfo> = builtin::TYPES
            .iter()
            .map(|(n, cs)| TypeInfo {
                name: n.to_string(),
                ctors: cs
                    .iter()
                    .map(|(c, a)| CtorInfo {
                        name: c.to_string(),
                        arity: *a,
                    })
                    .collect(),
            })
            .collect();
        types.resize(FIRST_USER_TYPE as usize, TypeInfo::default());
        Vm {
            stack: vec![Value::UNIT; 1024],
            frames: Frames::with_capacity(256, config.max_frames),
            globals: Vec::new(),
            funcs: Vec::new(),
            types,
            heap,
            roots: Vec::new(),
            scratch_top: 0,
            config,
            out: std::io::BufWriter::with_capacity(1 << 16, Box::new(std::io::stdout())),
            args: Vec::new(),
            debug: Module::default(),
            hot_calls: Vec::new(),
            hot_loops: Vec::new(),
            hook: None,
            recording: None,
            record_skip: usize::MAX,
            jit_request: None,
            jit_trap: None,
            count_insns: false,
            interpreted: 0,
            op_counts: None,
            jit_state: Box::default(),
            trace_consts: Vec::new(),
            in_hook: false,
            clock0: std::time::Instant::now(),
            stdin: None,
            interrupt: None,
            image: Default::default(),
            foreigns: Vec::new(),
            ffi_libs: Default::default(),
            net: Default::default(),
        }
    }

    /// Allows or refuses loading code that declares foreign functions from now on
    /// ([`Config::allow_ffi`]; what is loaded stays loaded).
    pub fn set_allow_ffi(&mut self, yes: bool) {
        self.config.allow_ffi = yes;
    }

    /// Sets the program's arguments (`io.args()`).
    #[inline]
    pub fn set_args(&mut self, args: Vec<String>) {
        self.args = args;
    }

    /// Makes `io.read_line` read standard input through `r` (the REPL passes a
    /// one-byte buffer, so that a program takes only the lines it asks for).
    #[inline]
    pub fn set_stdin(&mut self, r: std::io::BufReader<std::io::Stdin>) {
        self.stdin = Some(r);
    }

    /// Sets the flag that another thread (a Ctrl-C handler) raises to stop the running
    /// program with "interrupted".
    #[inline]
    pub fn set_interrupt(&mut self, flag: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>) {
        self.interrupt = flag;
        self.sync_jit_state();
    }

    /// Turns collection at every allocation on or off (what `HASHVM_GC_STRESS=1` sets
    /// at start-up), for tests that stress one part of a longer run.
    pub fn set_gc_stress(&mut self, on: bool) {
        self.heap.set_stress(on);
    }

    /// Attaches (or detaches) the JIT's hook.
    #[inline]
    pub fn set_jit(&mut self, hook: Option<Box<dyn JitHook>>) {
        self.hook = hook;
    }

    /// The limits and modes the machine runs with.
    #[inline]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The value of global `i` of the loaded program, if there is such a global.
    #[inline]
    pub fn global(&self, i: u32) -> Option<Value> {
        self.globals.get(i as usize).copied()
    }

    /// The live frames, outermost first (for a JIT recorder or a debugger).
    #[inline]
    pub fn frames(&self) -> &[Frame] {
        self.frames.as_slice()
    }

    /// Collector statistics (`--gc-stats`).
    #[inline]
    pub fn gc_stats(&self) -> heap::GcStats {
        // `stats.allocated` counts eden only at collections: add its bytes since.
        let mut s = self.heap.stats.clone();
        s.allocated = self.heap.allocated();
        s
    }

    /// Walks the heap and checks every object and pointer (tests: no dangling
    /// pointer after a run).
    pub fn check_heap(&mut self) -> Result<(), String> {
        self.heap.check()
    }

    /// Sends the program's standard output to `w` instead (tests, the REPL).
    pub fn set_output(&mut self, w: Box<dyn Write>) {
        self.flush();
        self.out = std::io::BufWriter::with_capacity(1 << 16, w);
    }

    // ------------------------------------------------------------ collection

    /// The first stack index above every live slot.
    ///
    /// Every frame counts, not only the innermost: a callee's frame may end below its
    /// caller's, and the caller's higher slots (dead temporaries, by convention) must
    /// still be forwarded, or they would dangle when the caller's frame is scanned
    /// again after the callee returns.
    pub(crate) fn live_top(&self) -> usize {
        let mut top = self.scratch_top;
        for f in self.frames.as_slice() {
            top = top.max(f.base as usize + crate::frames::extent(&self.funcs, f));
        }
        top.min(self.stack.len())
    }

    /// Runs a collection that leaves room for a `needed`-byte object (in the nursery,
    /// or in the old generation when it is large): minor, or major when the old
    /// generation passes its threshold (and on the stress schedule). Fails with "out
    /// of memory" when live data would pass the heap limit.
    #[cold]
    #[inline(never)]
    pub(crate) fn collect(&mut self, needed: usize) -> Result<(), Trap> {
        let needed_old = if self.heap.is_large(needed) {
            needed
        } else {
            0
        };
        let major = self.heap.wants_major(needed_old);
        let major = self.collect_once(major, needed_old)?;
        // The old generation's garbage counts only until a major collection frees it.
        if !major && self.heap.old_used() + needed > self.heap.limit {
            self.collect_once(true, needed_old)?;
        }
        if self.heap.old_used() + needed > self.heap.limit || !self.heap.old_fits(needed_old) {
            return Err(self.error_plain("out of memory"));
        }
        Ok(())
    }

    /// One collection from the VM's roots: its minor part (the nursery's survivors
    /// promoted), then, if `major` or if the old generation needs it (see
    /// `Heap::needs_major`) with `needed_old` more bytes, its major part
    /// (mark-compact of the old generation). Returns whether it was major. Under
    /// stress the heap verifier runs before it (where the remembered set must be
    /// complete) and after it (every pointer into a live space), at every collection
    /// while the heap is small (see `Heap::verify_now`); a failure is a collector or
    /// barrier bug and stops the VM with an internal-error panic.
    pub(crate) fn collect_once(&mut self, major: bool, needed_old: usize) -> Result<bool, Trap> {
        /// Applies `$f` to every root: the stack up to the live top, the frames'
        /// closures, the globals, the VM's temporary roots and the JIT's constants.
        macro_rules! each_root {
            ($heap:ident, $top:ident, $v:ident => $body:expr) => {{
                let $heap = &mut self.heap;
                for $v in self.stack[..$top].iter_mut() {
                    $body;
                }
                for $v in self.frames.closures_mut() {
                    $body;
                }
                for $v in self.globals.iter_mut() {
                    $body;
                }
                for $v in self.roots.iter_mut() {
                    $body;
                }
                for $v in self.trace_consts.iter_mut() {
                    $body;
                }
            }};
        }
        let verify = self.heap.stress() && self.heap.verify_now();
        if verify {
            if let Err(e) = self.heap.check() {
                panic!("heap verifier, before a collection: {e}");
            }
        }
        let t0 = std::time::Instant::now();
        let top = self.live_top();
        // The minor part; before a major part it promotes every survivor, so that the
        // major part starts with an empty young generation (it marks and compacts the
        // old generation only). When the old generation turns out to need one only
        // after a minor part that kept survivors young, a second minor part promotes
        // them (it copies at most a survivor space).
        let mut major = major;
        loop {
            if !self.heap.begin(major) {
                return Err(self.error_plain("out of memory"));
            }
            // Slots above the live top are dead and are not touched: they may hold
            // stale pointers, but no slot is ever read before it is written, because a
            // new frame clears every slot its arguments do not fill (see
            // `crate::frames`).
            each_root!(heap, top, v => heap.forward(v));
            self.heap.finish_minor();
            if major || !self.heap.needs_major(needed_old) {
                break;
            }
            major = true;
            if self.heap.young_is_empty() {
                break;
            }
        }
        if major {
            let t1 = std::time::Instant::now();
            if !self.heap.begin_major(needed_old) {
                self.heap.end(false);
                self.sync_jit_state();
                return Err(self.error_plain("out of memory"));
            }
            each_root!(heap, top, v => heap.mark(*v));
            self.heap.trace();
            self.heap.plan();
            each_root!(heap, top, v => heap.relocate(v));
            self.heap.compact(needed_old);
            self.heap.stats.major_time += t1.elapsed();
        }
        self.heap.end(major);
        self.heap.stats.record_pause(t0.elapsed());
        self.sync_jit_state();
        if verify {
            if let Err(e) = self.heap.check() {
                panic!("heap verifier, after a collection: {e}");
            }
        }
        Ok(major)
    }

    /// Allocates an object, collecting first if needed. Every pointer held in a Rust
    /// local is invalid afterwards: re-read values from slots or `roots`. The object
    /// is young unless it is large (then it is born remembered): either way its
    /// creator may fill it without the write barrier, before the next allocation.
    #[inline]
    pub(crate) fn alloc(
        &mut self,
        payload: usize,
        kind: u8,
        tag: u16,
        meta: u32,
        len: u64,
    ) -> Result<*mut Header, Trap> {
        let size = Heap::object_size(payload);
        if let Some(p) = self.heap.try_alloc(size, kind, tag, meta, len) {
            return Ok(p);
        }
        self.alloc_slow(size, kind, tag, meta, len)
    }

    /// [`Vm::alloc`]'s collection and retry when [`Heap::try_alloc`] failed; called
    /// directly by the interpreter's inline allocation fast path (`alloc_window!`),
    /// which saves the ip for a trace only on this path.
    #[cold]
    #[inline(never)]
    pub(crate) fn alloc_slow(
        &mut self,
        size: usize,
        kind: u8,
        tag: u16,
        meta: u32,
        len: u64,
    ) -> Result<*mut Header, Trap> {
        if size > self.heap.limit {
            return Err(self.error_plain("out of memory"));
        }
        if self.heap.is_large(size) {
            if !self.heap.stress() && self.heap.old_may_alloc(size) {
                if let Some(p) = self.heap.try_alloc_old(size, kind, tag, meta, len) {
                    return Ok(p);
                }
            }
            self.collect(size)?;
            return self
                .heap
                .try_alloc_old(size, kind, tag, meta, len)
                .ok_or_else(|| self.error_plain("out of memory"));
        }
        self.collect(size)?;
        self.heap
            .try_alloc_collected(size, kind, tag, meta, len)
            .ok_or_else(|| self.error_plain("out of memory"))
    }

    // ------------------------------------------------------------ constructors

    /// A new string object.
    pub fn new_str(&mut self, s: &str) -> Result<Value, Trap> {
        let p = self.alloc(s.len(), Kind::STR, 0, 0, s.len() as u64)?;
        // SAFETY: the object has room for `s.len()` bytes after its header.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), (p as *mut u8).add(16), s.len()) };
        Ok(Value::obj(p))
    }

    /// A new byte array.
    pub fn new_bytes(&mut self, b: &[u8]) -> Result<Value, Trap> {
        let p = self.alloc(b.len(), Kind::BYTES, 0, 0, b.len() as u64)?;
        // SAFETY: room for `b.len()` bytes after the header.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), (p as *mut u8).add(16), b.len()) };
        Ok(Value::obj(p))
    }

    /// A new big integer.
    pub fn new_big(&mut self, v: Integer) -> Result<Value, Trap> {
        self.heap.note_external(v.significant_bits() as usize / 8);
        let p = self.alloc(std::mem::size_of::<Integer>(), Kind::BIG, 0, 0, 0)?;
        // SAFETY: the payload has room for an Integer; the heap drops it when it dies.
        unsafe { ((p as *mut u8).add(16) as *mut Integer).write(v) };
        Ok(Value::obj(p))
    }

    /// A new rational.
    pub fn new_rat(&mut self, v: Rational) -> Result<Value, Trap> {
        let bits = v.numer().significant_bits() + v.denom().significant_bits();
        self.heap.note_external(bits as usize / 8);
        let p = self.alloc(std::mem::size_of::<Rational>(), Kind::RAT, 0, 0, 0)?;
        // SAFETY: the payload has room for a Rational; the heap drops it when it dies.
        unsafe { ((p as *mut u8).add(16) as *mut Rational).write(v) };
        Ok(Value::obj(p))
    }

    /// An object with `vals.len()` value fields. `vals` must not hold heap pointers
    /// that a collection could invalidate (they are rooted here for the allocation).
    pub(crate) fn new_values(
        &mut self,
        kind: u8,
        tag: u16,
        meta: u32,
        vals: &[Value],
    ) -> Result<Value, Trap> {
        let mark = self.roots.len();
        if self.roots.try_reserve(vals.len()).is_err() {
            return Err(self.error_plain("out of memory"));
        }
        self.roots.extend_from_slice(vals);
        let r = self.alloc(vals.len() * 16, kind, tag, meta, vals.len() as u64);
        let p = match r {
            Ok(p) => p,
            Err(e) => {
                self.roots.truncate(mark);
                return Err(e);
            }
        };
        // SAFETY: the object has `vals.len()` value slots; the rooted copies are
        // up to date after any collection.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.roots.as_ptr().add(mark),
                heap::fields(p),
                vals.len(),
            );
        }
        self.roots.truncate(mark);
        Ok(Value::obj(p))
    }

    /// A constructor value: an immediate when it has no fields.
    pub(crate) fn new_data(&mut self, ty: u32, tag: u16, vals: &[Value]) -> Result<Value, Trap> {
        if vals.is_empty() && ty != builtin::TUPLE {
            return Ok(Value::ctor0(ty, tag));
        }
        self.new_values(Kind::DATA, tag, ty, vals)
    }

    /// `Some(v)`.
    pub(crate) fn some(&mut self, v: Value) -> Result<Value, Trap> {
        self.new_data(builtin::OPTION, 1, &[v])
    }

    /// `Ok(v)` or `Err(v)`.
    pub(crate) fn result(&mut self, ok: bool, v: Value) -> Result<Value, Trap> {
        self.new_data(builtin::RESULT, if ok { 0 } else { 1 }, &[v])
    }

    /// Builds a list from values (rooted while building).
    pub(crate) fn new_list(&mut self, vals: &[Value]) -> Result<Value, Trap> {
        self.new_list_onto(vals, Value::NIL)
    }

    /// Builds the list `vals` followed by the existing list `tail`, which is shared, not
    /// copied (`list.append`). Everything is rooted while the cells are allocated.
    pub(crate) fn new_list_onto(&mut self, vals: &[Value], tail: Value) -> Result<Value, Trap> {
        let mark = self.roots.len();
        if self.roots.try_reserve(vals.len() + 1).is_err() {
            return Err(self.error_plain("out of memory"));
        }
        self.roots.extend_from_slice(vals);
        self.list_of_roots(mark, tail)
    }

    /// Builds a list of the elements of the array `h` (`array.to_list`), read straight
    /// from the array into the cells: only the array and the list so far are rooted
    /// (fasta converts a 60-character line per `println`; copying the elements into
    /// the roots first cost 7 instructions an element). The cells are allocated in
    /// blocks from the end, as [`Vm::list_of_roots`] does, and the array is found
    /// again from its root after each block's allocation, which may have moved it.
    /// (The block loop is `list_of_roots`' with the array as the source: one loop
    /// shared through a reader closure was tried and cost fasta 1.4% more
    /// instructions, 2.4 an element.)
    ///
    /// # Safety
    /// `h` must point at a live ARRAY object.
    pub(crate) unsafe fn new_list_of_array(&mut self, h: *mut heap::Header) -> Result<Value, Trap> {
        // SAFETY: per the caller's contract. Nothing changes an array's length.
        let n = unsafe { (*heap::array_target(h)).len as usize };
        let mark = self.roots.len();
        if self.roots.try_reserve(2).is_err() {
            return Err(self.error_plain("out of memory"));
        }
        self.roots.push(Value::obj(h));
        self.roots.push(Value::NIL);
        let (arr, acc) = (mark, mark + 1);
        let block = ((self.heap.nursery_size() / 4).min(heap::LARGE_MIN - 16) / LIST_CELL).max(1);
        let mut i = n;
        while i > 0 {
            let k = i.min(block);
            let p = match self.alloc(k * LIST_CELL - 16, Kind::DATA, 1, builtin::LIST, 2) {
                Ok(p) => p,
                Err(e) => {
                    self.roots.truncate(mark);
                    return Err(e);
                }
            };
            let mut next = self.roots[acc];
            // SAFETY: the array is rooted, so its current address is in the root, and
            // it has `n > i - 1` elements laid out as its `meta` says. The block holds
            // `k` cells of `LIST_CELL` bytes (a header and two values) from `p`, whose
            // first header `alloc` wrote; each is a whole young cons cell by the time
            // anything can see it (nothing allocates until the block is filled).
            unsafe {
                let a = heap::array_target(self.roots[arr].ptr());
                let m = (*a).meta;
                let flat = (a as *mut u8).add(16) as *const u64;
                for j in (0..k).rev() {
                    let e = i - k + j;
                    let v = if m == heap::Elems::GENERAL {
                        *heap::fields(a).add(e)
                    } else {
                        Value {
                            bits: *flat.add(e),
                            tag: m,
                            aux: 0,
                        }
                    };
                    let c = (p as *mut u8).add(LIST_CELL * j) as *mut heap::Header;
                    if j > 0 {
                        c.write(heap::Header {
                            kind: Kind::DATA,
                            flags: 0,
                            tag: 1,
                            meta: builtin::LIST,
                            len: 2,
                        });
                    }
                    *heap::fields(c) = v;
                    *heap::fields(c).add(1) = next;
                    next = Value::obj(c);
                }
            }
            self.roots[acc] = next;
            i -= k;
        }
        let r = self.roots[acc];
        self.roots.truncate(mark);
        Ok(r)
    }

    /// The list of the values in the roots from `mark` up, followed by `tail`; the
    /// roots are truncated to `mark` again. Room for one more root is reserved.
    fn list_of_roots(&mut self, mark: usize, tail: Value) -> Result<Value, Trap> {
        let nvals = self.roots.len() - mark;
        self.roots.push(tail);
        let acc = self.roots.len() - 1;
        const CELL: usize = LIST_CELL;
        // The cells are allocated in blocks of up to a quarter of the nursery (one
        // allocation, then one header per cell), from the end: fewer trips through
        // the allocator, and under stress one collection per block rather than per
        // cell (each scans the values rooted here: per cell, that was quadratic).
        let block = (self.heap.nursery_size() / 4).min(heap::LARGE_MIN - 16) / CELL;
        let block = block.max(1);
        let mut i = nvals;
        while i > 0 {
            let k = i.min(block);
            let p = match self.alloc(k * CELL - 16, Kind::DATA, 1, builtin::LIST, 2) {
                Ok(p) => p,
                Err(e) => {
                    self.roots.truncate(mark);
                    return Err(e);
                }
            };
            // The list so far, in a local while the block is filled (nothing
            // allocates until then), rooted again after it.
            let mut next = self.roots[acc];
            for (j, v) in self.roots[mark + i - k..mark + i].iter().enumerate().rev() {
                // SAFETY: the block holds `k` cells of `CELL` bytes (a header and two
                // values) from `p`, whose first header `alloc` wrote; each is a young
                // cons cell by the time anything can see it (no allocation until the
                // block is filled).
                unsafe {
                    let c = (p as *mut u8).add(CELL * j) as *mut heap::Header;
                    if j > 0 {
                        c.write(heap::Header {
                            kind: Kind::DATA,
                            flags: 0,
                            tag: 1,
                            meta: builtin::LIST,
                            len: 2,
                        });
                    }
                    *heap::fields(c) = *v;
                    *heap::fields(c).add(1) = next;
                    next = Value::obj(c);
                }
            }
            self.roots[acc] = next;
            i -= k;
        }
        let r = self.roots[acc];
        self.roots.truncate(mark);
        Ok(r)
    }

    /// Builds a list of strings.
    pub fn new_str_list<S: AsRef<str>>(&mut self, items: &[S]) -> Result<Value, Trap> {
        let mark = self.roots.len();
        for s in items {
            match self.new_str(s.as_ref()) {
                Ok(v) => self.roots.push(v),
                Err(e) => {
                    self.roots.truncate(mark);
                    return Err(e);
                }
            }
        }
        let vals: Vec<Value> = self.roots[mark..].to_vec();
        self.roots.truncate(mark);
        self.new_list(&vals)
    }

    // ------------------------------------------------------------ errors

    /// A runtime error with the current stack trace.
    #[cold]
    pub fn error_plain(&self, msg: impl Into<String>) -> Trap {
        Trap::Error(RuntimeError {
            message: msg.into(),
            trace: self.trace(),
        })
    }

    /// The stack trace of the current frames, innermost first: consecutive frames of
    /// the same function at the same place (a deep recursion) fold into one line, and
    /// past [`TRACE_LINES`] lines the remaining frames are only counted.
    pub fn trace(&self) -> Vec<TraceLine> {
        let mut out: Vec<TraceLine> = Vec::new();
        let mut frames = self
            .frames
            .as_slice()
            .iter()
            .rev()
            .filter(|f| f.kind == FrameKind::NORMAL);
        for f in frames.by_ref() {
            let Some(func) = self.funcs.get(f.func as usize) else {
                continue;
            };
            // A frame's ip is either a return address (just past its call instruction)
            // or one byte into the faulting instruction: the byte before it is always
            // inside the instruction to report.
            let ip = f.ip.saturating_sub(1);
            let location = self
                .debug
                .location(f.func, ip)
                .map(|(file, line, col)| match col {
                    0 => format!("{file}:{line}"),
                    _ => format!("{file}:{line}:{col}"),
                });
            if let Some(last) = out.last_mut() {
                if last.func == func.name && last.location == location {
                    last.repeats += 1;
                    continue;
                }
            }
            if out.len() == TRACE_LINES {
                let rest = 1 + frames.count();
                let s = if rest == 1 { "" } else { "s" };
                out.push(TraceLine {
                    func: format!("… {rest} more frame{s}"),
                    location: None,
                    repeats: 0,
                });
                break;
            }
            out.push(TraceLine {
                func: func.name.clone(),
                location,
                repeats: 0,
            });
        }
        out
    }

    /// Fails with "interrupted" (and clears the flag) if an interrupt was requested.
    /// Inline: every pass over a compiled loop's header polls it.
    #[inline]
    pub fn check_interrupt(&mut self) -> Result<(), Trap> {
        match &self.interrupt {
            Some(flag) if flag.load(std::sync::atomic::Ordering::Relaxed) => self.interrupted(),
            _ => Ok(()),
        }
    }

    #[cold]
    #[inline(never)]
    fn interrupted(&mut self) -> Result<(), Trap> {
        if let Some(flag) = &self.interrupt {
            if flag.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Err(self.error_plain("interrupted"));
            }
        }
        Ok(())
    }

    /// Flushes standard output (before exit or an error message).
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// Flushes standard output, saying whether it worked (at program exit, where a
    /// full disk must not go unnoticed).
    pub fn try_flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// A runtime error found after the program ended: no frames, so no trace.
    pub fn error_at_exit(&self, msg: String) -> RuntimeError {
        RuntimeError {
            message: msg,
            trace: Vec::new(),
        }
    }
}
