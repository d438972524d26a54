//! The JIT as the VM sees it: a [`JitHook`] that records a hot loop, compiles the
//! trace, and runs it whenever the loop's back-edge is reached again.

use crate::fxhash::FxHashMap;
use crate::ir::{ClosureSrc, Trace};
use crate::record::{Probe, Recorder, Step};
use crate::x64::{self, CompiledTrace};
use hashvm_format::liveness::Liveness;
use hashvm_vm::jit::{Anchor, HotAction, JitHook, RecordPoint, Recording, TraceId};
use hashvm_vm::{Trap, Value, Vm};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Counters for `--jit-stats`.
#[derive(Clone, Debug, Default)]
pub struct JitStats {
    /// Recordings started.
    pub recordings: u64,
    /// Recordings that aborted.
    pub aborts: u64,
    /// Traces compiled (root and side traces).
    pub traces: u64,
    /// Of those, side traces (grown from exits taken often, linked to their parent).
    pub side_traces: u64,
    /// Times a trace was entered.
    pub entries: u64,
    /// Exits back to the interpreter (an exit into a linked side trace stays in
    /// machine code and is not counted).
    pub exits: u64,
    /// Time spent recording and compiling, in seconds.
    pub compile_seconds: f64,
    /// Of the entries, those straight from another trace's link (`link`), without
    /// going back to the interpreter.
    pub links: u64,
    /// Links taken in machine code (direct links, counted when [`Jit::count`] is
    /// set): not entries, since the hook never sees them.
    pub direct_links: Arc<AtomicU64>,
    /// Of the exits, those of helper calls that did not complete (the instruction
    /// faulted, or was left to the interpreter).
    pub helper_exits: u64,
    /// Allocations sunk (`new.sink`) in the traces compiled: each allocates nothing
    /// on the trace, only at the exits that need its object.
    pub sunk_allocs: u64,
    /// Exits that rebuilt sunk objects (`Vm::jit_unsink`).
    pub unsink_exits: u64,
    /// Per compiled trace (when [`Jit::count`] is set): the bytecode instructions one
    /// pass runs, and the passes completed so far (the trace's code counts them).
    pub passes: Vec<(u32, Arc<AtomicU64>)>,
}

impl JitStats {
    /// Bytecode instructions run inside traces: per trace, instructions per pass times
    /// completed passes (a pass cut short by an exit is not counted; the interpreter
    /// counts the instructions it then runs).
    pub fn traced_insns(&self) -> u64 {
        self.passes
            .iter()
            .map(|(n, c)| (*n as u64).saturating_mul(c.load(Ordering::Relaxed)))
            .fold(0u64, u64::saturating_add)
    }
}

struct Installed {
    trace: Trace,
    code: CompiledTrace,
    /// The root trace of this one's tree (itself for a root).
    root: usize,
    /// The anchor of the root.
    anchor: Anchor,
    /// Times each exit was taken, and whether a side trace was tried there.
    exits: Vec<(u32, bool)>,
    /// Side traces in this tree (counted at the root).
    sides: u32,
    /// Loop iterations the tree ran (its back-edges count them), and its entries
    /// (counted at the root).
    iters: Box<AtomicU64>,
    /// Of those iterations, the ones that ended in a side trace's back-edge (which
    /// jumps to the root's loop header: in a peeled root, its pre-roll).
    side_iters: Box<AtomicU64>,
    /// A peeled root was judged by [`Jit::judge_peeling`].
    peel_judged: bool,
    /// A side trace that unrolled its root's loop (`Recorder::set_unroll`): its own
    /// side traces may unroll it from their start.
    unrolled: bool,
    entered: u64,
    /// Whether an entry must sync the VM's register block first (the tree holds an
    /// operation that reads what only a sync makes exact; see `Trace::needs_sync`).
    sync: bool,
    /// The tree calls the VM's helper / C directly (never both: an entry of a tree
    /// that calls C flushes the program's output first, and no helper prints more
    /// while it runs).
    helpers: bool,
    ccalls: bool,
    /// The room entering this tree needs (a root's: depth and extent of the tree), in
    /// memory where the direct links into the tree read it.
    reach: Box<x64::Reach>,
    /// For a trace whose `link` was compiled to jump into its target's code: the
    /// target's root. Whether the jump is taken is decided by [`Jit::relink`].
    link_root: Option<usize>,
    /// The tree holds a direct link (a root's flag): its entries sync the register
    /// block and commit the frame count and bump pointer, for whatever the trees it
    /// jumps into do.
    direct: bool,
    /// The tree calls other functions' trees (`call.tree`, a root's flag): its entries
    /// commit the frame count (an exit inside a callee leaves its records pushed) and
    /// the bump pointer (the callees may allocate).
    calls: bool,
}

/// Entries after which a loop tree is judged by its iterations per entry.
const JUDGE_AFTER: u64 = 4096;
/// Iterations per entry below which a loop tree costs more (entering and leaving
/// through the VM's cold path) than it saves: it is dropped and its anchor left to
/// the interpreter.
const MIN_ITERS_PER_ENTRY: u64 = 2;

/// Exits taken before a side trace is recorded from there.
const SIDE_HOT: u32 = 8;
/// A peeled root tree whose side traces run at least two thirds of its iterations (each
/// coming back to the root's pre-roll) after this many is recorded again unpeeled
/// (see [`Jit::judge_peeling`]).
const JUDGE_PEELING_AFTER: u64 = 4096;
/// The iterations a tree's counters count up to: enough for both judgements above
/// (the counts stop there, so that a long-running loop pays a load and a compare per
/// iteration, not a store; see [`x64::Ctx::counter_cap`]). A peeled root is judged
/// by the share of side traces in its first iterations.
const COUNT_UP_TO: u64 = {
    let short = MIN_ITERS_PER_ENTRY * JUDGE_AFTER;
    if short > JUDGE_PEELING_AFTER {
        short
    } else {
        JUDGE_PEELING_AFTER
    }
};
/// Side traces a root may grow.
const MAX_SIDES: u32 = 16;

/// How many values past its registers a trace whose stores are sunk may hold at its
/// busiest point and still be compiled sunk when it would not spill with its stores
/// ([`crate::opt::sink_slot_stores`]): one spilled value costs a store and a reload
/// or two, each sunk store two stores a pass. awfy_bounce's hot side trace (15 stores
/// sunk, 10 values live at once for 9 registers, 8 unsunk) ran 157.5 M instructions
/// sunk and 177.5 M with its stores; no other benchmark's trace spills by sinking.
const SINK_SPILL_SLACK: usize = 1;
/// Iterations per exit of a root loop up to which its side traces may unroll it
/// (`Recorder::set_unroll`): a loop whose passes end after this many iterations on
/// average (its exits count the passes that end in it) is short enough that running
/// its passes inside an outer loop's side trace beats entering its pre-roll each
/// pass. nbody's pair loop runs 2 (4, 3, 2, 1, 0 a step); spectralnorm's inner loops
/// run hundreds, mandelbrot's tens.
const UNROLL_ITERS_PER_EXIT: u64 = 4;

/// The recorder's view of the VM, of the JIT's function-entry trees (function →
/// its root trace's index), and how many traces the JIT has (trace ids up to it are
/// its own).
struct VmProbe<'a>(&'a Vm, &'a HashMap<u32, usize>, usize);

impl Probe for VmProbe<'_> {
    fn elem(&self, a: Value, i: i64) -> Option<Value> {
        self.0.array_element(a, i)
    }
    fn shape(&self, f: u32) -> Option<(u16, u16)> {
        self.0.func_shape(f)
    }
    fn callee(&self, v: Value) -> Option<u32> {
        self.0.callee_of(v)
    }
    fn global(&self, g: u32) -> Option<Value> {
        self.0.global(g)
    }
    fn header(&self, v: Value) -> Option<crate::record::ObjHeader> {
        self.0.object_header(v)
    }
    fn field(&self, v: Value, i: usize) -> Option<Value> {
        self.0.object_field(v, i)
    }
    fn direct_foreign(&self, fi: u32) -> Option<hashvm_vm::ffi::DirectForeign> {
        self.0.direct_foreign(fi)
    }
    fn frame(&self, i: usize) -> Option<hashvm_vm::vm::Frame> {
        self.0.jit_frame(i)
    }
    fn entry_tree(&self, func: u32) -> Option<u32> {
        self.1.get(&func).map(|&t| t as u32)
    }
    fn self_recursive(&self, func: u32) -> bool {
        self.0
            .hot_slot(Anchor::Call { func })
            .is_some_and(|s| !s.blacklisted)
            && self
                .0
                .func_code(func)
                .is_some_and(|c| crate::record::is_self_recursive(func, c))
    }
    fn entry_unread(&self, f: u32) -> u64 {
        let Some((_, nslots)) = self.0.func_shape(f) else {
            return 0;
        };
        self.0
            .func_code(f)
            .and_then(|c| Liveness::of_code(c, nslots))
            .map_or(0, |l| {
                (0..(nslots as usize).min(64))
                    .filter(|&j| !l.live(0, j))
                    .fold(0u64, |m, j| m | 1 << j)
            })
    }
    fn loop_trace(&self, func: u32, ip: u32) -> Option<Anchor> {
        let index = self.0.loop_slot(func, ip)?;
        let at = Anchor::Loop { func, ip, index };
        // Only this JIT's traces: an anchor may hold another hook's entry (a native
        // executable's loop compiled ahead of time, `aot::hook`), which a trace must
        // never link to (it would leave the trace for that code at every pass); such
        // a loop is recorded first when it tiers up, as a loop without a trace is.
        own_trace(self.0.hot_slot(at)?.trace, self.2).map(|_| at)
    }
}

/// The trace an anchor slot's `trace` field `t` names if it is one of this JIT's
/// `count` traces (ids `1..=count`); else `None`: no trace, or another hook's entry (a
/// native executable's code compiled ahead of time, `aot::hook`), which a trace never
/// links to.
fn own_trace(t: u32, count: usize) -> Option<TraceId> {
    NonZeroU32::new(t)
        .filter(|t| t.get() as usize <= count)
        .map(TraceId)
}

/// The tracing JIT, attached to a VM with [`Vm::set_jit`].
#[derive(Default)]
pub struct Jit {
    recorder: Option<Recorder>,
    /// While a side trace is recorded: the trace and exit it starts from.
    side: Option<(usize, usize)>,
    /// Loop anchors whose trees ran too few iterations per entry: not recorded again.
    refused: HashSet<Anchor>,
    /// Anchors whose recordings waited for code that had no trace yet (an inner loop,
    /// a recursion's function entry), with that code's anchor: given a fresh start
    /// (`Vm::jit_retry`) once a root trace is installed there.
    retry: Vec<(Anchor, Anchor)>,
    /// Anchors to give a fresh start at the next chance (the hook has `&mut Vm`).
    retry_due: Vec<Anchor>,
    /// Loop anchors whose root is recorded again and compiled unpeeled (see
    /// [`Jit::judge_peeling`]).
    no_peel: HashSet<Anchor>,
    /// Loop anchors whose root is recorded again and compiled without allocation
    /// sinking: an exit of it that rebuilds sunk objects was taken often (such an
    /// exit grows no side trace; see [`Jit::exit_taken_often`]).
    no_sink: HashSet<Anchor>,
    /// Exits (trace, snapshot) whose side trace unrolled its root's loop and did not
    /// compile (a recording that fails falls back instead: `Recorder::fallback`):
    /// recorded again without unrolling.
    no_unroll: HashSet<(usize, usize)>,
    /// Exits (trace, snapshot) whose side trace waited for code without a trace (see
    /// `retry`), with that code's anchor: tried again once a root trace is installed
    /// there.
    side_retry: Vec<(usize, usize, Anchor)>,
    traces: Vec<Installed>,
    /// The function-entry trees: function → its root trace's index in `traces` (calls
    /// of the function from other traces call it, `call.tree`).
    entry_trees: HashMap<u32, usize>,
    /// Per function: its bytecode liveness (`hashvm_format::liveness`), computed the
    /// first time a trace of or through it is compiled, dropped on load (`flush`).
    /// `None`: the code did not decode (every slot live).
    liveness: FxHashMap<u32, Option<Rc<Liveness>>>,
    /// What happened so far (shared, so that the caller can read it after handing the
    /// JIT to the VM).
    pub stats: Rc<RefCell<JitStats>>,
    /// Print trace events to standard error (`--jit-log`).
    pub log: bool,
    /// Print each compiled trace's IR (`--jit-dump`).
    pub dump: bool,
    /// Count each trace's passes, for the share of instructions run in traces
    /// (`--jit-stats`; one memory increment a pass, so off by default).
    pub count: bool,
    /// The closed program's field kinds, which every recording reads
    /// ([`crate::kinds`]): set only by a native executable's runtime, whose program
    /// is the whole program; never under `hashvm run`.
    pub fields: Option<Rc<crate::kinds::FieldKinds>>,
}

impl Jit {
    /// A JIT with logging off.
    pub fn new() -> Jit {
        Jit::default()
    }

    fn note(&self, what: std::fmt::Arguments<'_>) {
        if self.log {
            eprintln!("[jit] {what}");
        }
    }
}

impl Jit {
    /// Compiles a recorded trace and installs it: a root gets a new id for its
    /// anchor; a side trace is linked into the exit it was recorded from, and the
    /// anchor keeps its root.
    fn install(
        &mut self,
        vm: &Vm,
        trace: Trace,
        side: Option<(usize, usize)>,
        anchor: Anchor,
        unrolled: u32,
    ) -> Result<TraceId, String> {
        let tid = self.traces.len();
        let root = side.map_or(tid, |(p, _)| self.traces[p].root);
        let (helpers, ccalls) = (!trace.helpers.is_empty(), !trace.ccalls.is_empty());
        let calls = !trace.tree_calls.is_empty();
        let mut trace = trace;
        // The trees the trace calls: each the root of a function-entry tree of this
        // JIT (traces are dropped only all together, so their code outlives this
        // trace's).
        for c in &mut trace.tree_calls {
            let t = self
                .traces
                .get(c.tree as usize)
                .filter(|t| t.root == c.tree as usize)
                .filter(|t| t.trace.entry.map(|e| e.0) == Some(c.func))
                .ok_or("a call of a tree that is not compiled")?;
            c.addr = t.code.call_entry();
        }
        if let Some((p, k)) = side {
            let r = &self.traces[self.traces[p].root];
            if (r.helpers || helpers) && (r.ccalls || ccalls) {
                return Err("a helper call and a direct C call in one tree".into());
            }
            // The slots the parent's exit leaves valid for the collector: this
            // trace's clears of them may be left out (`x64::needless_clears`).
            if trace.entry.is_some() {
                trace.valid_in = x64::valid_at_exit(&self.traces[p].trace, k as u32);
            }
            // What the parent's guards proved of the slots there: this trace's loads
            // and header guards of them need no check (`x64::known_at_exit`).
            trace.known_in = x64::known_at_exit(&self.traces[p].trace, k as u32);
        }
        let root_top = side.map(|_| self.traces[root].code.top());
        let root_fast = side.and_then(|_| self.traces[root].code.fast_entry());
        // A function-entry root whose function calls itself raises the native floor
        // for its side traces' `call.rec`s too; they count on it.
        let recursive = match (side, trace.entry) {
            (Some(_), _) => self.traces[root].code.frame_floor(),
            (None, Some((func, ..))) => vm
                .func_code(func)
                .is_some_and(|c| crate::record::calls_itself(func, c)),
            (None, None) => false,
        };
        let iters = Box::new(AtomicU64::new(0));
        let side_iters = Box::new(AtomicU64::new(0));
        let counter = if side.is_some() {
            self.traces[root].iters.as_ptr() as usize
        } else {
            iters.as_ptr() as usize
        };
        // Side traces of a peeled root count their back-edges apart.
        let side_counter = match side {
            Some(_) if self.traces[root].trace.loop_start.is_some() => {
                self.traces[root].side_iters.as_ptr() as usize
            }
            _ => 0,
        };
        let passes = Arc::new(AtomicU64::new(0));
        // A link to a loop whose tree is compiled jumps straight into it when the
        // trace's own tree is a loop tree (function-entry trees run native recursion).
        let loop_tree = match side {
            Some(_) => self.traces[root].trace.entry.is_none(),
            None => trace.entry.is_none(),
        };
        // (Only into loop trees: a function-entry tree a self tail call links to is
        // entered through the hook, its prologue setting up its native recursion.)
        let link_root = trace
            .link
            .filter(|_| loop_tree)
            .and_then(|(_, at)| vm.hot_slot(at))
            .and_then(|s| (s.trace as usize).checked_sub(1))
            .filter(|&r| {
                r < self.traces.len()
                    && self.traces[r].root == r
                    && self.traces[r].trace.entry.is_none()
            });
        let link = link_root.map(|r| x64::DirectLink {
            top: self.traces[r].code.top(),
            reach: &*self.traces[r].reach as *const x64::Reach as usize,
            count: if self.count {
                self.stats.borrow().direct_links.as_ptr() as usize
            } else {
                0
            },
        });
        let ctx = x64::Ctx {
            tid: tid as u32,
            root_top,
            counter,
            counter_cap: COUNT_UP_TO as u32,
            side_counter,
            passes: if self.count {
                passes.as_ptr() as usize
            } else {
                0
            },
            link,
            root_fast,
            recursive,
            avx: x64::avx_available(),
        };
        // A root loop is peeled (`opt`); should its peeled form not compile (more
        // values live at once than the spill area holds), it runs as recorded.
        let peel = side.is_none() && !self.no_peel.contains(&anchor);
        // The bytecode liveness of the functions the trace runs in (a loop tree's
        // trace: its frame runs the anchor's function).
        let lives = match anchor {
            Anchor::Loop { func, .. } if trace.entry.is_none() => Some(func),
            Anchor::Call { func } if trace.entry.is_some_and(|e| e.0 == func) => Some(func),
            _ => None,
        };
        let lives = match lives {
            Some(func) => {
                let funcs: BTreeSet<u32> = std::iter::once(func)
                    .chain(
                        trace
                            .snaps
                            .iter()
                            .flat_map(|s| s.frames.iter().map(|f| f.func)),
                    )
                    .collect();
                Some((func, self.liveness_of(vm, funcs)))
            }
            _ => None,
        };
        let lives = lives
            .as_ref()
            .map_or(crate::opt::Lives::unknown(), |(func, m)| {
                crate::opt::Lives {
                    func: *func,
                    by_func: Some(m),
                }
            });
        let dropped = crate::opt::drop_dead_stores(&mut trace, lives);
        let dropped = if dropped > 0 {
            format!(" ({dropped} dead slot stores dropped)")
        } else {
            String::new()
        };
        // The last passes over the trace to compile: slot stores sunk into the exits'
        // snapshots, then bounds checks merged (a sunk store no longer separates two).
        // Should the sunk form not compile (more values live at once than the spill
        // area holds), the trace compiles with its stores.
        // A sunk value lives up to the last exit that writes it: where that makes the
        // trace spill more than `SINK_SPILL_SLACK` values at its busiest point and it
        // did not spill before, it keeps its stores (pmap's long traces ran 27% more
        // instructions sunk, reloading spilled values).
        // Then, in a root loop trace, allocations sunk (exits that rebuild sunk
        // objects grow no side traces, so side traces keep theirs).
        let sink_allocs = side.is_none() && !self.no_sink.contains(&anchor);
        let finish = |t: crate::ir::Trace| {
            let unsunk = t.clone();
            let mut t = t;
            let mut sunk = crate::opt::sink_slot_stores(&mut t, lives);
            if sunk > 0 && x64::excess(&t) > SINK_SPILL_SLACK && !x64::spills(&unsunk) {
                t = unsunk.clone();
                sunk = 0;
            }
            let merged = crate::opt::merge_len_guards(&mut t);
            let allocs = if sink_allocs {
                crate::opt::sink_allocations(&mut t)
            } else {
                0
            };
            match x64::compile(&t, ctx) {
                Ok(c) => Ok((t, c, sunk, merged, allocs)),
                Err(_) if sunk > 0 || allocs > 0 => {
                    let mut t = unsunk;
                    let merged = crate::opt::merge_len_guards(&mut t);
                    x64::compile(&t, ctx).map(|c| (t, c, 0, merged, 0))
                }
                Err(e) => Err(e),
            }
        };
        // A side trace runs in its root's frame (unless displaced, which its
        // snapshots say): the same slots are the frame's own.
        if side.is_some()
            && trace.frame_slots == 0
            && trace.snaps.get(1).is_some_and(|s| s.displaced.is_none())
        {
            trace.frame_slots = self.traces[root].trace.frame_slots;
        }
        let peeled = match peel.then(|| crate::opt::peel(&trace, lives)).flatten() {
            Some(p) => match finish(p) {
                Ok(x) => Some(x),
                Err(e) => {
                    self.note(format_args!("trace {} not peeled: {e}", tid + 1));
                    None
                }
            },
            None => None,
        };
        let (trace, code, sunk, merged, allocs) = match peeled {
            Some(x) => x,
            None => finish(trace).map_err(|e| e.to_string())?,
        };
        let dropped = if sunk > 0 {
            format!("{dropped} ({sunk} slot stores sunk)")
        } else {
            dropped
        };
        let dropped = if merged > 0 {
            format!("{dropped} ({merged} length guards merged)")
        } else {
            dropped
        };
        let dropped = if allocs > 0 {
            format!("{dropped} ({allocs} allocations sunk)")
        } else {
            dropped
        };
        let dropped = if unrolled > 0 {
            format!("{dropped} (its root's loop unrolled {unrolled} times)")
        } else {
            dropped
        };
        self.stats.borrow_mut().sunk_allocs += allocs as u64;
        if self.count {
            // The Arc keeps the counter alive as long as the stats (the code is
            // dropped with the trace, first).
            self.stats.borrow_mut().passes.push((trace.insns, passes));
        }
        if self.dump {
            eprint!(
                "[jit] trace {}:\n{trace}[jit] trace {} machine code ({} bytes):\n{}",
                tid + 1,
                tid + 1,
                code.code().len(),
                crate::disasm::listing(code.code())
            );
        }
        if let Some((p, k)) = side {
            self.traces[p].code.link(k, code.start());
            self.traces[root].sides += 1;
            self.stats.borrow_mut().side_traces += 1;
            // Entries of the root reserve room for the whole tree's inlined frames.
            let sync = trace.needs_sync();
            self.traces[root].sync |= sync;
            self.traces[root].helpers |= helpers;
            self.traces[root].ccalls |= ccalls;
            self.traces[root].calls |= calls;
            let r = &mut self.traces[root].trace;
            r.depth = r.depth.max(trace.depth);
            r.extent = r.extent.max(trace.extent);
            // The root's entries commit the bump pointer if any trace of the tree
            // allocates, and the frame count if any pops a frame record.
            r.allocates |= trace.allocates;
            r.pops |= trace.pops;
            let (depth, extent) = (r.depth, r.extent);
            let root_reach = &self.traces[root].reach;
            root_reach.depth.store(depth, Ordering::Relaxed);
            root_reach.extent.store(extent, Ordering::Relaxed);
            self.traces[root].direct |= link_root.is_some();
            self.note(format_args!(
                "compiled side trace {} at exit {k} of trace {}{dropped}",
                tid + 1,
                p + 1
            ));
        } else {
            self.note(format_args!("compiled trace {}{dropped}", tid + 1));
        }
        let mut exits = vec![(0, false); trace.snaps.len()];
        if let Some((k, _)) = trace.link {
            // A link is not an exit: no side trace grows there.
            exits[k as usize].1 = true;
        }
        if side.is_none() {
            self.release_waiters(anchor);
        }
        let anchor = if side.is_some() {
            self.traces[root].anchor
        } else {
            anchor
        };
        if let (None, Anchor::Call { func }, Some(_)) = (side, anchor, trace.entry) {
            self.entry_trees.insert(func, tid);
        }
        let sync = trace.needs_sync();
        let reach = Box::new(x64::Reach::default());
        reach.depth.store(trace.depth, Ordering::Relaxed);
        reach.extent.store(trace.extent, Ordering::Relaxed);
        self.traces.push(Installed {
            sync,
            helpers,
            ccalls,
            reach,
            link_root,
            direct: side.is_none() && link_root.is_some(),
            calls,
            trace,
            code,
            root,
            anchor,
            exits,
            sides: 0,
            iters,
            side_iters,
            peel_judged: false,
            unrolled: unrolled > 0,
            entered: 0,
        });
        self.stats.borrow_mut().traces += 1;
        self.relink();
        let id = NonZeroU32::new(root as u32 + 1).unwrap_or(NonZeroU32::MIN);
        Ok(TraceId(id))
    }

    /// The bytecode liveness of each of `funcs`, from the cache (computed on first use).
    fn liveness_of(&mut self, vm: &Vm, funcs: BTreeSet<u32>) -> FxHashMap<u32, Rc<Liveness>> {
        funcs
            .into_iter()
            .filter_map(|f| {
                let l = self.liveness.entry(f).or_insert_with(|| {
                    let (_, nslots) = vm.func_shape(f)?;
                    Liveness::of_code(vm.func_code(f)?, nslots).map(Rc::new)
                });
                Some((f, l.clone()?))
            })
            .collect()
    }

    /// Decides, for every direct link, whether it jumps into its target or returns to
    /// the hook: run after each install, since a side trace can change what a tree
    /// does. A chain of direct links runs inside the entry of the first tree, so the
    /// trees it reaches must need nothing that entry does not do: no tree it jumps into
    /// calls the VM's helpers (a collection there would see the frame count of that
    /// entry, not the frames pushed since) or C (the hook flushes the output before
    /// entering such a tree), and a tree that calls C links through the hook only.
    fn relink(&self) {
        for t in &self.traces {
            if let Some(r) = t.link_root {
                let target = &self.traces[r];
                let on = !target.helpers && !target.ccalls && !self.traces[t.root].ccalls;
                t.code.set_direct(on);
            }
        }
    }

    /// Sets the innermost real frame's resume point for exit `k` of trace `tid` and
    /// pushes the frames the snapshot inlined (cold: only exits inside inlined or
    /// recursive frames).
    #[cold]
    #[inline(never)]
    fn materialise(&self, vm: &mut Vm, tid: usize, k: usize) -> Result<(), Trap> {
        let s = &self.traces[tid].trace.snaps[k];
        let Some(top) = vm.jit_top_frame() else {
            return Err(vm.error_plain("JIT: a trace exit left no frame"));
        };
        // Materialise the inlined frames live at the exit, as the interpreter's calls
        // would have pushed them: each caller resumes after its call, the innermost
        // frame at the guarded instruction. Their slots are in memory already (the
        // trace wrote the arguments, cleared the rest at the call, and stores where
        // the interpreter writes).
        match s.frames.first() {
            None => vm.jit_set_ip(s.resume_ip),
            Some(f) => vm.jit_set_ip(f.resume),
        }
        for (i, f) in s.frames.iter().enumerate() {
            let ip = s.frames.get(i + 1).map_or(s.resume_ip, |g| g.resume);
            let closure = match f.closure {
                ClosureSrc::Func(g) => Value::func(g),
                ClosureSrc::Base => top.closure,
                ClosureSrc::Slot(k) => vm.jit_slot(top.base as usize + k as usize),
            };
            vm.jit_push_frame(f.func, ip, top.base + f.base, f.ret, closure)?;
        }
        Ok(())
    }

    /// Rebuilds the objects exit `k` of trace `tid` sank (LuaJIT's `snap_unsink`) and
    /// writes them to their slots, from the trace frame's slot 0 at `base`: each
    /// field's value is in the slot the exit wrote it to (an entry of the snapshot,
    /// a scratch slot for a value no live slot holds) or another sunk object.
    #[cold]
    #[inline(never)]
    fn unsink(&self, vm: &mut Vm, tid: usize, k: usize, base: usize) -> Result<(), Trap> {
        use hashvm_vm::jit::SunkField;
        let t = &self.traces[tid].trace;
        let s = &t.snaps[k];
        let index: HashMap<crate::ir::Ref, usize> =
            s.sunk.iter().enumerate().map(|(i, o)| (o.obj, i)).collect();
        let field = |v: crate::ir::Ref| match index.get(&v) {
            Some(&m) => Some(SunkField::Object(m)),
            None => s
                .entries
                .iter()
                .find(|e| e.1 == v)
                .map(|e| SunkField::Slot(base + e.0 as usize)),
        };
        let objs: Option<Vec<([u64; 2], Vec<SunkField>)>> = s
            .sunk
            .iter()
            .map(|o| {
                let ins = t.ins.get(o.obj.0 as usize)?;
                let fields = o.fields.iter().map(|&v| field(v)).collect::<Option<_>>()?;
                Some(([ins.k, ins.tw], fields))
            })
            .collect();
        let Some(objs) = objs else {
            return Err(vm.error_plain("JIT: a sunk object's field is in no slot"));
        };
        let writes: Vec<(usize, usize)> = s
            .entries
            .iter()
            .filter_map(|&(slot, r)| index.get(&r).map(|&m| (base + slot as usize, m)))
            .collect();
        vm.jit_unsink(&objs, &writes)
    }

    /// Logs exit `k` of trace `tid`, and records a side trace from there once it is
    /// taken often (the VM switches to its recording instance when `enter` returns).
    #[cold]
    #[inline(never)]
    fn exit_taken_often(&mut self, vm: &mut Vm, tid: usize, k: usize) {
        if self.log {
            self.note(format_args!("exit {k} of trace {}", tid + 1));
        }
        let root = self.traces[tid].root;
        let sides = self.traces[root].sides;
        // Neither interrupt exit (the header's, snapshot 0, and a peeled loop's
        // back-edge's) grows a side trace.
        // A peeled root has each guard twice (pre-roll and loop body), so each path
        // off it may need two side traces.
        let max_sides = if self.traces[root].trace.loop_start.is_some() {
            2 * MAX_SIDES
        } else {
            MAX_SIDES
        };
        let poll = self.traces[tid].trace.loop_start.is_some()
            && k == self.traces[tid].trace.loop_snap as usize;
        let sunk = !self.traces[tid].trace.snaps[k].sunk.is_empty();
        let (taken, tried) = &mut self.traces[tid].exits[k];
        if sunk && *taken >= SIDE_HOT && !*tried {
            // Its state is not all in memory for a side trace to start from: the
            // root (the only kind of trace that sinks) is recorded again without
            // sinking, and grows its side trace there (as `judge_peeling` does).
            *tried = true;
            let at = self.traces[root].anchor;
            self.no_sink.insert(at);
            vm.uninstall_trace(at);
            self.note(format_args!(
                "exit {k} of trace {} rebuilds sunk objects and is taken often: recorded again without sinking",
                tid + 1
            ));
            return;
        }
        if k != 0 && !poll && *taken >= SIDE_HOT && !*tried && sides < max_sides {
            *tried = true;
            let r = &self.traces[root];
            let (func, anchor_ip) = match r.anchor {
                Anchor::Loop { func, ip, .. } => (func, ip),
                Anchor::Call { func } => (func, 0),
            };
            let snap = self.traces[tid].trace.snaps[k].clone();
            let mut rec = Recorder::new_side(func, anchor_ip, &r.trace, &snap);
            rec.fields = self.fields.clone();
            rec.set_tree_calls(r.helpers, r.ccalls);
            if self.short_loop(root) && !self.no_unroll.contains(&(tid, k)) {
                rec.set_unroll(self.traces[tid].unrolled);
            }
            self.recorder = Some(rec);
            self.side = Some((tid, k));
            self.stats.borrow_mut().recordings += 1;
            self.note(format_args!(
                "record side trace from exit {k} of trace {}",
                tid + 1
            ));
            vm.jit_request_recording(r.anchor);
        }
    }
}

impl Jit {
    /// Whether the root loop tree `root` runs so few iterations per pass that its
    /// side traces may unroll it ([`UNROLL_ITERS_PER_EXIT`]): judged by its first
    /// iterations (the count stops at [`COUNT_UP_TO`]; a loop that ran that many is
    /// long) against the exits taken from the root (each ends a pass).
    fn short_loop(&self, root: usize) -> bool {
        let r = &self.traces[root];
        if r.trace.entry.is_some() {
            return false;
        }
        let iters = r.iters.load(Ordering::Relaxed);
        let exits: u64 = r.exits.iter().map(|&(n, _)| n as u64).sum();
        iters < COUNT_UP_TO && iters <= UNROLL_ITERS_PER_EXIT * exits
    }

    /// Ends the recording with `trace`: installs it (as the side trace of the exit
    /// being recorded, if any). One that does not compile counts as an abort, and if
    /// it `unrolled` its root's loop, its exit is recorded again without unrolling.
    fn finish_recording(
        &mut self,
        vm: &Vm,
        trace: Trace,
        anchor: Anchor,
        unrolled: u32,
    ) -> Recording {
        self.recorder = None;
        let side = self.side.take();
        match self.install(vm, trace, side, anchor, unrolled) {
            Ok(id) => Recording::Done(id),
            Err(e) => {
                self.retry_unrolled(side, unrolled);
                self.stats.borrow_mut().aborts += 1;
                self.note(format_args!("abort: {e}"));
                Recording::Abort
            }
        }
    }

    /// A side trace that unrolled its root's loop did not compile: its exit is
    /// recorded again, without unrolling, once taken often again.
    fn retry_unrolled(&mut self, side: Option<(usize, usize)>, unrolled: u32) {
        let Some((t, k)) = side.filter(|_| unrolled > 0) else {
            return;
        };
        if self.no_unroll.insert((t, k)) {
            if let Some(e) = self.traces.get_mut(t).and_then(|x| x.exits.get_mut(k)) {
                *e = (0, false);
            }
        }
    }

    /// Judges a peeled root tree by where its iterations end: when side traces end at
    /// least two thirds of them (after [`JUDGE_PEELING_AFTER`]), each of those left the
    /// loop body through an exit that wrote the carried slots back, and re-entered at
    /// the pre-roll, which loads and guards every slot again: a loop that branches
    /// every iteration (awfy_bounce) runs slower peeled than as recorded, where the
    /// side trace's jump lands on a header that does that anyway. Such a root is
    /// uninstalled and recorded again, unpeeled (once per anchor). An inner loop that
    /// exits to its outer loop and back (spectralnorm: once per 1000 iterations) keeps
    /// its peeling.
    fn judge_peeling(&mut self, vm: &mut Vm, root: usize) {
        let r = &self.traces[root];
        if r.trace.loop_start.is_none() || r.peel_judged {
            return;
        }
        let (all, sides) = (
            r.iters.load(Ordering::Relaxed),
            r.side_iters.load(Ordering::Relaxed),
        );
        if all < JUDGE_PEELING_AFTER {
            return;
        }
        self.traces[root].peel_judged = true;
        // Two thirds, not half: awfy_mandelbrot (52%) and awfy_queens (55%) ran
        // slower unpeeled (awfy_mandelbrot 0.30 -> 0.42 s); awfy_bounce (99%), fasta
        // (91%) and fannkuchredux (72%) faster.
        if 3 * sides >= 2 * all {
            // The interpreter counts up to the threshold again, then records; the old
            // tree stays valid for the links into it.
            let at = self.traces[root].anchor;
            self.no_peel.insert(at);
            vm.uninstall_trace(at);
            self.note(format_args!(
                "trace {}: {sides} of {all} iterations in side traces: recorded again unpeeled",
                root + 1
            ));
        }
    }

    /// The recordings that waited for `target` (see `retry`) are tried again: a root
    /// trace was installed there (they now link to it or call it), or its own recording
    /// failed (they may wait again, until `target` is blacklisted, and then go on
    /// without it: a recursion whose function-entry recording cannot succeed, such as
    /// nqueens' `queens`, whose loop has a trace of its own, is inlined again).
    fn release_waiters(&mut self, target: Anchor) {
        let (due, keep) = self.retry.drain(..).partition(|(_, t)| *t == target);
        self.retry = keep;
        self.retry_due.extend(due.into_iter().map(|(a, _)| a));
        let traces = &mut self.traces;
        self.side_retry.retain(|&(t, k, tg)| {
            if tg != target {
                return true;
            }
            if let Some(e) = traces.get_mut(t).and_then(|x| x.exits.get_mut(k)) {
                *e = (0, false);
            }
            false
        });
    }

    /// The anchor a recording that aborted waiting for `w` waits for: the inner loop's
    /// back-edge, or the function entry whose tree it should call (failing that, when
    /// that entry is blacklisted, the loop of its self tail call). `None` when that
    /// code will not get a trace (its loop tree was dropped as too short, its function
    /// does not recurse, its anchor is blacklisted): the recording then just aborts.
    fn wait_anchor(&self, vm: &Vm, w: crate::record::Waits) -> Option<Anchor> {
        use crate::record::Waits;
        let lp = |func: u32, ip: u32| {
            let index = vm.loop_slot(func, ip)?;
            let a = Anchor::Loop { func, ip, index };
            (!self.refused.contains(&a)).then_some(a)
        };
        match w {
            Waits::Loop(func, ip) => lp(func, ip),
            Waits::Entry(func, tail) => {
                let a = Anchor::Call { func };
                let hopeful = vm.hot_slot(a).is_some_and(|s| !s.blacklisted)
                    && vm
                        .func_code(func)
                        .is_some_and(|c| crate::record::is_self_recursive(func, c));
                if hopeful {
                    Some(a)
                } else {
                    tail.and_then(|ip| lp(func, ip))
                }
            }
        }
    }

    /// Gives the anchors that aborted at an inner loop without a trace a fresh start
    /// (a root trace was installed since: perhaps theirs).
    fn serve_retries(&mut self, vm: &mut Vm) {
        for at in self.retry_due.drain(..) {
            vm.jit_retry(at);
        }
    }

    /// Runs one trace (see [`JitHook::enter`]); `Some` when it ended in a link: the
    /// trace to enter next, at its anchor (the state the link left). `linked`: the
    /// trace is entered from a link (not counted for judging short loops).
    fn enter_one(
        &mut self,
        vm: &mut Vm,
        trace: TraceId,
        at: &Anchor,
        linked: bool,
    ) -> Result<Option<(TraceId, Anchor)>, Trap> {
        let Some(t) = self.traces.get_mut(trace.0.get() as usize - 1) else {
            return Err(vm.error_plain("JIT: no such trace"));
        };
        // A loop trace that only links to its function's entry tree (see the
        // recorder's self tail calls) has no iterations of its own to judge.
        let to_entry = matches!(t.trace.link, Some((_, Anchor::Call { .. })));
        if t.trace.entry.is_none() && !linked && !to_entry {
            t.entered += 1;
            if t.entered == JUDGE_AFTER && self.log {
                let i = t.iters.load(Ordering::Relaxed);
                // The count stops at `COUNT_UP_TO`.
                let at_least = if i >= COUNT_UP_TO { "at least " } else { "" };
                eprintln!(
                    "[jit] trace {}: {at_least}{i} iterations in {JUDGE_AFTER} entries",
                    trace.0
                );
            }
            if t.entered == JUDGE_AFTER
                && t.iters.load(Ordering::Relaxed) < MIN_ITERS_PER_ENTRY * JUDGE_AFTER
            {
                // Judged once: too short a loop for its entry and exit costs.
                let n = trace.0.get();
                self.refused.insert(*at);
                vm.uninstall_trace(*at);
                self.note(format_args!(
                    "dropped trace {n}: too few iterations per entry"
                ));
                return Ok(None);
            }
        }
        let t = &self.traces[trace.0.get() as usize - 1];
        let Some(top) = vm.jit_top_frame() else {
            return Err(vm.error_plain("JIT: a trace entered without a frame"));
        };
        // An exit may push as many frames as the trace inlines: if the frame limit is
        // that close, leave the anchor to the interpreter (which reports the overflow
        // where it happens). The VM uninstalls a trace that makes no progress.
        if (t.trace.depth as usize) > vm.jit_frame_room() {
            return Ok(None);
        }
        // The slots of the inlined frames are written where the interpreter would put
        // them: the value stack must hold them (growing it moves it, so before the
        // block is synced).
        vm.jit_reserve_stack(top.base as usize + t.trace.extent as usize)?;
        let entry_tree = t.trace.entry.is_some();
        // Trees that pop frame records (`ret.down`) commit the frame count too.
        // A tree with direct links commits both for the trees it jumps into (and the
        // frames its links push).
        // Trees that call other trees commit both, for what the callees did.
        let commit = entry_tree || t.trace.allocates || t.trace.pops || t.direct || t.calls;
        if t.ccalls {
            // As the interpreter's `ffi.call` does before each call.
            vm.jit_flush_output();
        }
        // Most loop trees read nothing a sync updates: the block's stack and globals
        // are exact between sync points.
        let st = if t.sync || t.direct {
            vm.jit_state()
        } else {
            vm.jit_state_unsynced()
        };
        let vmp: *mut Vm = vm;
        // SAFETY: the block's `stack_base` and `interrupt` are exact (they change only
        // at sync points), and `jit_state` synced the rest for a tree that reads it
        // (`frame_top - 1` is then the innermost frame). The innermost frame is the
        // NORMAL frame of the function the trace was recorded in, at its anchor; its
        // slots start at `stack_base + base`, and the value stack holds
        // `extent` slots from there (reserved above), which covers every slot the trace
        // names: the frame's own (the recorder only names slots the verified
        // instructions name) and those of the frames it inlines; native recursive
        // activations check their own room against the block's limits. `interrupt`
        // points at a live flag. Nothing else touches the slots, the frame records or
        // the block while the code runs, except the helpers it calls with `vmp`, while
        // this function holds no reference into the VM.
        let code = unsafe {
            let slots = (*st).stack_base.add(top.base as usize);
            t.code.run(slots, (*st).interrupt as *const u8, st, vmp)
        };
        // Only function-entry trees push or pop frame records (`call.rec`, `ret.rec`),
        // and only trees that allocate move the bump pointer: a loop tree that does
        // neither changed nothing in the block, and skips the commit's checks.
        if commit {
            // SAFETY: the code moved `frame_top` only by pushing frame records it
            // wrote whole (a NORMAL frame of the trace's function, its base inside the
            // value stack, every slot of its extent written: the arguments where the
            // caller stored them, the rest cleared), or by popping them; it moved the
            // bump pointer only over objects it initialised whole (`new` writes the
            // header, and its fields are stored before any guard can exit).
            if let Err(e) = unsafe { vm.jit_state_commit() } {
                return Err(vm.error_plain(format!("JIT: {e}")));
            }
        }
        if code == x64::RETURNED {
            // The function returned natively: its caller resumes after the call.
            self.stats.borrow_mut().entries += 1;
            return Ok(None);
        }
        let helper = code & x64::HELPER_EXIT != 0;
        let code = code & !x64::HELPER_EXIT;
        let (tid, k) = ((code >> 16) as usize, (code & 0xffff) as usize);
        if let Some(r) = self.traces.get(tid).map(|t| t.root) {
            self.judge_peeling(vm, r);
        }
        let Some(s) = self.traces.get(tid).and_then(|x| x.trace.snaps.get(k)) else {
            return Err(vm.error_plain("JIT: a trace exit without a snapshot"));
        };
        let link = self.traces[tid]
            .trace
            .link
            .filter(|(lk, _)| !helper && *lk as usize == k)
            .map(|(_, a)| a);
        {
            let mut st = self.stats.borrow_mut();
            st.entries += 1;
            st.exits += link.is_none() as u64;
            st.links += link.is_some() as u64;
        }
        // The frame the exiting trace ran in (a direct link may have entered another
        // tree's, in another frame, since this entry).
        let exit_base = vm.jit_top_frame().map_or(0, |f| f.base as usize);
        if !s.frames.is_empty() || entry_tree {
            self.materialise(vm, tid, k)?;
        } else {
            vm.jit_set_ip(s.resume_ip);
        }
        if !s.sunk.is_empty() {
            // After the frames: the slots the objects go to are then live.
            self.stats.borrow_mut().unsink_exits += 1;
            self.unsink(vm, tid, k, exit_base)?;
        }
        if let Some(target) = link {
            // The machine is at the target loop's back-edge, its frames pushed: enter
            // its trace if it still has one (else the interpreter runs the back-edge).
            // Only one of this JIT's traces: the anchor may hold another hook's entry
            // (a native executable's code compiled ahead of time, `aot::hook`), which the
            // interpreter's dispatch at the back-edge enters through that hook.
            return Ok(vm
                .hot_slot(target)
                .and_then(|s| own_trace(s.trace, self.traces.len()))
                .map(|t| (t, target)));
        }
        if helper {
            // A helper call that did not complete: the interpreter runs the
            // instruction, or the fault it ended in is raised there. Never a side
            // trace from here (the instruction may have run).
            self.stats.borrow_mut().helper_exits += 1;
            if self.log {
                self.note(format_args!("helper exit {k} of trace {}", tid + 1));
            }
            return match vm.jit_take_trap() {
                Some(t) => Err(t),
                None => Ok(None),
            };
        }
        let (taken, tried) = &mut self.traces[tid].exits[k];
        *taken += 1;
        if self.log || (k != 0 && *taken >= SIDE_HOT && !*tried) {
            self.exit_taken_often(vm, tid, k);
        }
        // Only exit 0 (the loop header, the function entry) can be the interrupt
        // exit: stop there if the flag is up.
        if k == 0 {
            vm.check_interrupt()?;
        }
        Ok(None)
    }
}

impl JitHook for Jit {
    fn hot(&mut self, _vm: &mut Vm, at: Anchor) -> HotAction {
        if !self.retry_due.is_empty() {
            self.serve_retries(_vm);
        }
        match at {
            Anchor::Loop { func, ip, .. } if !self.refused.contains(&at) => {
                let mut rec = Recorder::new(func, ip);
                rec.fields = self.fields.clone();
                self.recorder = Some(rec);
                self.side = None;
                self.stats.borrow_mut().recordings += 1;
                self.note(format_args!("record loop at function {func} offset {ip}"));
                HotAction::Record
            }
            Anchor::Loop { .. } => HotAction::Continue,
            Anchor::Call { func } => {
                let Some((arity, nslots)) = _vm.func_shape(func) else {
                    return HotAction::Continue;
                };
                let recursive = _vm
                    .func_code(func)
                    .is_some_and(|c| crate::record::is_self_recursive(func, c));
                if !recursive {
                    return HotAction::Continue;
                }
                let mut rec = Recorder::new_entry(func, arity, nslots);
                rec.fields = self.fields.clone();
                self.recorder = Some(rec);
                self.side = None;
                self.stats.borrow_mut().recordings += 1;
                self.note(format_args!("record entry of function {func}"));
                HotAction::Record
            }
        }
    }

    fn record(&mut self, vm: &Vm, at: &RecordPoint<'_>) -> Recording {
        let Some(r) = self.recorder.as_mut() else {
            return Recording::Abort;
        };
        if let Some(d) = r.skip_depth().filter(|&d| at.depth > d) {
            // The callee of a real call runs (interpreted): not recording time, and
            // the VM need not ask again until it returns.
            return Recording::Skip(d);
        }
        let start = Instant::now();
        let step = r.step(at, &VmProbe(vm, &self.entry_trees, self.traces.len()));
        let unrolled = r.unrolled();
        let answer = match step {
            // A real call starts: its callee runs without asking.
            Step::Continue => match r.skip_depth() {
                Some(d) => Recording::Skip(d),
                None => Recording::Continue,
            },
            Step::Done(trace) => self.finish_recording(vm, *trace, at.anchor, unrolled),
            Step::Abort(why) => {
                let waits = r.waits_for;
                let wait = waits.and_then(|w| self.wait_anchor(vm, w));
                // A side trace that unrolled its root's loop and failed ends where it
                // first reached the root instead (one that waits for other code is
                // tried again as it was once that code has its trace).
                let fallback = match wait {
                    None => self.recorder.as_mut().and_then(|r| r.fallback()),
                    Some(_) => None,
                };
                if let Some(trace) = fallback {
                    self.note(format_args!(
                        "side trace unrolled its root's loop {unrolled} times and stopped at offset {}: {why}; it ends where it first reached the root",
                        at.ip
                    ));
                    let answer = self.finish_recording(vm, trace, at.anchor, 0);
                    self.stats.borrow_mut().compile_seconds += start.elapsed().as_secs_f64();
                    return answer;
                }
                match (wait, self.side) {
                    (Some(target), None) if !self.retry.contains(&(at.anchor, target)) => {
                        self.retry.push((at.anchor, target));
                    }
                    (Some(target), Some((t, k))) => self.side_retry.push((t, k, target)),
                    _ => {}
                }
                if self.side.is_none() {
                    self.release_waiters(at.anchor);
                }
                self.recorder = None;
                self.side = None;
                self.stats.borrow_mut().aborts += 1;
                self.note(format_args!("abort at offset {}: {why}", at.ip));
                match wait {
                    Some(a) => Recording::Wait(a),
                    None => Recording::Abort,
                }
            }
        };
        self.stats.borrow_mut().compile_seconds += start.elapsed().as_secs_f64();
        answer
    }

    fn cancel(&mut self, _vm: &Vm, at: Anchor) {
        if self.side.is_none() {
            self.release_waiters(at);
        }
        self.recorder = None;
        self.side = None;
        self.stats.borrow_mut().aborts += 1;
    }

    fn enter(&mut self, vm: &mut Vm, trace: TraceId, at: &Anchor) -> Result<(), Trap> {
        if !self.retry_due.is_empty() {
            self.serve_retries(vm);
        }
        let (mut trace, mut at) = (trace, *at);
        let mut linked = false;
        // A trace that ends in a link is followed at once by the trace it links to,
        // without going back to the interpreter's dispatch; the interrupt flag is
        // polled at each link, so a cycle of links stays interruptible.
        while let Some((t, a)) = self.enter_one(vm, trace, &at, linked)? {
            vm.check_interrupt()?;
            (trace, at, linked) = (t, a, true);
        }
        Ok(())
    }

    fn flush(&mut self) {
        self.recorder = None;
        self.retry.clear();
        self.retry_due.clear();
        self.side_retry.clear();
        self.no_peel.clear();
        self.no_sink.clear();
        self.no_unroll.clear();
        self.refused.clear();
        self.traces.clear();
        self.entry_trees.clear();
        self.liveness.clear();
    }
}
