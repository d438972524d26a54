//! Running code compiled ahead of time: a [`JitHook`] that installs the image's entries
//! in the VM's anchor slots when the program is loaded (function entries at their
//! call anchor, loop entries at their back-edge), enters them through the image's
//! trampoline, and hands every other anchor to an inner hook (the tracing JIT).

use super::emit::{Trampoline, RETURNED};
use super::Entry;
use hashvm_vm::jit::{Anchor, HotAction, JitHook, RecordPoint, Recording, TraceId};
use hashvm_vm::{Trap, Value, Vm};
use std::cell::{Cell, RefCell};
use std::num::NonZeroU32;
use std::rc::Rc;

/// The runtime functions compiled code calls, by address from this table (passed to
/// the trampoline on every entry), so that the code stays position independent and
/// knows nothing of where the runtime was loaded.
#[repr(C)]
pub struct AotHelpers {
    /// The write barrier's slow path ([`hashvm_vm::jit::jit_remember`]).
    pub remember: unsafe extern "C" fn(*mut Vm, *mut u8),
    /// `call.insn`: one instruction run by the VM ([`hashvm_vm::jit::aot_call_insn`]).
    pub call_insn: unsafe extern "C" fn(*mut Vm, u64, *mut Value, *mut Value) -> u32,
    /// The tier-up counters, one `u32` per loop entry, then one per function
    /// ([`AotHook`]'s `counters`): a counted back-edge or function entry decrements its
    /// own and leaves at zero.
    pub counters: *mut u32,
    /// Completes the frame records of the native calls on the native stack when the
    /// code leaves to the interpreter ([`super::emit::fill_records`]).
    pub fill: unsafe extern "C" fn(*const usize, *const usize, *const u8, *mut u8),
}

/// Offset of [`AotHelpers::remember`].
pub const HELPER_REMEMBER: usize = std::mem::offset_of!(AotHelpers, remember);
/// Offset of [`AotHelpers::call_insn`].
pub const HELPER_CALL_INSN: usize = std::mem::offset_of!(AotHelpers, call_insn);

/// Offset of [`AotHelpers::counters`].
pub const HELPER_COUNTERS: usize = std::mem::offset_of!(AotHelpers, counters);
/// Offset of [`AotHelpers::fill`].
pub const HELPER_FILL: usize = std::mem::offset_of!(AotHelpers, fill);

/// Attempts at recording a trace for a compiled loop or function (each after its
/// counter ran out again, the threshold doubled) before it stays native for good.
const TIER_TRIES: u8 = 3;

/// Where a compiled loop or function is in its tier-up (SPEC.md §11.6, "Tier-up").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    /// Running natively, counting its passes (or calls).
    Native,
    /// Handed over: its entry is out of the anchor's slot, so that the interpreter
    /// runs the back-edge and the tracing JIT records a trace there.
    Handed,
    /// The tracing JIT installed a trace at the anchor: the compiled loop leaves to it
    /// at its first back-edge, the function at its entry.
    Traced,
    /// Stays native (no tracing JIT, its recordings failed, its trace was dropped):
    /// the counter is as good as stopped.
    Refused,
    /// A loop of a function whose entry was handed over: its entry is out of the
    /// anchor's slot (until the function stays native) and the interpreter runs it,
    /// never recorded: once the function has its tree, each native call of it from the
    /// compiled loop would leave at its entry; the interpreter running the loop calls
    /// the tree directly.
    Ceded,
}

/// Trace ids of ahead-of-time entries have this bit set (the tracing JIT numbers its
/// traces from 1 up, far below it).
const AOT_BIT: u32 = 1 << 31;

/// Counters (`HASHVM_AOT_STATS=1` prints them at exit).
#[derive(Clone, Debug, Default)]
pub struct AotStats {
    /// Times compiled code was entered from the interpreter.
    pub entries: u64,
    /// Of those, how many left to the interpreter mid-function (an unsupported
    /// instruction, a failed check, a full stack).
    pub exits: u64,
    /// The exits per place, `(function, bytecode offset)` of the innermost frame
    /// where the interpreter resumed: where compiled code loses time.
    pub sites: std::collections::BTreeMap<(u32, u32), u64>,
    /// Hand-overs of compiled loops and functions to the tracing JIT to record a trace
    /// (tier-up).
    pub handed: u64,
    /// Recordings at handed-over loops and functions that got their trace.
    pub traced: u64,
    /// Compiled loops and functions left for good to native code (their recordings
    /// failed or their trace was dropped).
    pub refused: u64,
    /// Exits of compiled loops at their back-edge, and of functions at their entry, to
    /// the trace installed there.
    pub to_traces: u64,
}

impl AotStats {
    /// The `HASHVM_AOT_STATS` report: the counts, then the places most left at (up to
    /// `n`, most frequent first), each named by `name`.
    pub fn report(&self, n: usize, name: &dyn Fn(u32) -> String) -> String {
        let mut s = format!(
            "aot: {} entries into compiled code, {} left early to the interpreter\n\
             aot: tier-up: {} hand-overs of loops and functions to the tracing JIT, {} traced, {} kept native; {} exits to their traces\n",
            self.entries, self.exits, self.handed, self.traced, self.refused, self.to_traces
        );
        let mut v: Vec<(&(u32, u32), &u64)> = self.sites.iter().collect();
        v.sort_by_key(|(k, c)| (std::cmp::Reverse(**c), **k));
        for ((f, ip), c) in v.into_iter().take(n) {
            s.push_str(&format!("aot:   {c} at {} +{ip}\n", name(*f)));
        }
        s
    }
}

/// The hook of a native executable whose program has compiled code.
pub struct AotHook {
    text: Box<dyn std::ops::Deref<Target = [u8]>>,
    entries: Vec<Entry>,
    nfuncs: usize,
    active: bool,
    inner: Option<Box<dyn JitHook>>,
    /// Per entry: its tier-up counter (an index into `counters`): a loop entry's, or a
    /// function entry's.
    counter_of: Vec<usize>,
    /// The tier-up counters, one per loop entry in (function, offset) order (as
    /// `emit::counted_loops` numbers them), then one per function (its entry's, which
    /// only the prologue of a function whose entry counts decrements), written by the
    /// code through `helpers`.
    counters: Box<[Cell<u32>]>,
    /// Per entry: where its loop is in its tier-up, and its failed recordings.
    tier: Vec<(Tier, u8)>,
    /// The table every entry passes (it points at `counters`).
    helpers: Box<AotHelpers>,
    /// What happened so far.
    pub stats: Rc<RefCell<AotStats>>,
}

impl AotHook {
    /// A hook running `entries` of `text` for a program of `nfuncs` functions, and
    /// `inner` for everything else.
    ///
    /// # Safety
    /// `text` must be mapped executable and hold the machine code that
    /// [`super::compile`] produced, with these `entries`, for exactly the program the
    /// VM will load (the runtime checks the code section's hash of the program before
    /// calling this): the code trusts the program's frame sizes and call targets.
    pub unsafe fn new(
        text: Box<dyn std::ops::Deref<Target = [u8]>>,
        entries: Vec<Entry>,
        nfuncs: usize,
        inner: Option<Box<dyn JitHook>>,
    ) -> Result<AotHook, String> {
        let len = text.len();
        if len == 0 && !entries.is_empty() {
            return Err("the code section is empty".into());
        }
        for e in &entries {
            if e.offset as usize >= len || e.func as usize >= nfuncs {
                return Err("an entry outside the code or the program".into());
            }
        }
        let mut sorted = entries.clone();
        sorted.sort_by_key(|e| (e.func, e.ip));
        sorted.dedup_by_key(|e| (e.func, e.ip));
        if sorted.len() != entries.len() || entries.len() >= AOT_BIT as usize {
            return Err("duplicate entries".into());
        }
        let nloops = sorted.iter().filter(|e| e.ip != 0).count();
        let mut n = 0;
        let counter_of: Vec<usize> = sorted
            .iter()
            .map(|e| {
                if e.ip == 0 {
                    nloops + e.func as usize
                } else {
                    n += 1;
                    n - 1
                }
            })
            .collect();
        let counters: Box<[Cell<u32>]> =
            (0..nloops + nfuncs).map(|_| Cell::new(u32::MAX)).collect();
        let helpers = Box::new(AotHelpers {
            remember: hashvm_vm::jit::jit_remember,
            call_insn: hashvm_vm::jit::aot_call_insn,
            // `Cell<u32>` has `u32`'s layout and lets the code write through a shared
            // borrow (the hook writes them only while no code runs).
            counters: counters.as_ptr() as *mut u32,
            fill: super::emit::fill_records,
        });
        Ok(AotHook {
            tier: vec![(Tier::Native, 0); sorted.len()],
            text,
            entries: sorted,
            nfuncs,
            active: true,
            inner,
            counter_of,
            counters,
            helpers,
            stats: Rc::default(),
        })
    }

    fn find(&self, func: u32, ip: u32) -> Option<usize> {
        if !self.active {
            return None;
        }
        self.entries
            .binary_search_by_key(&(func, ip), |e| (e.func, e.ip))
            .ok()
    }

    fn id(k: usize) -> TraceId {
        TraceId(NonZeroU32::new(AOT_BIT | (k as u32 + 1)).unwrap_or(NonZeroU32::MIN))
    }

    fn run(&mut self, vm: &mut Vm, k: usize) -> Result<(), Trap> {
        let e = self.entries[k];
        let Some(top) = vm.jit_top_frame() else {
            return Err(vm.error_plain("native code entered without a frame"));
        };
        let Some((_, nslots)) = vm.func_shape(e.func) else {
            return Err(vm.error_plain("native code of a function that does not exist"));
        };
        if top.func != e.func || top.ip != e.ip {
            return Err(vm.error_plain("native code entered at the wrong place"));
        }
        // The frame's slots are in the value stack already (the interpreter pushed
        // it); this only makes the bound explicit before the block is synced.
        vm.jit_reserve_stack(top.base as usize + nslots as usize)?;
        self.stats.borrow_mut().entries += 1;
        let st = vm.jit_state();
        let code = self.text.as_ptr();
        let vm_ptr: *mut Vm = vm;
        // SAFETY: offset 0 of the code is the trampoline (`emit::program`), with the
        // `Trampoline` signature; `e.offset` is inside the code (checked in `new`) and
        // is the start of the block compiled for `(e.func, e.ip)` (the constructor's
        // contract). `jit_state` just synced the block: the innermost frame is the
        // NORMAL frame of `e.func` at `e.ip` (checked above), whose `nslots` slots
        // are in the value stack; the code writes only slots of the frames it pushes
        // after checking the stack limits in the block, frame records below the
        // block's frame limit, objects it allocated from the nursery through the block's
        // bump pointer (every field written) and fields and elements of objects (with
        // the collector's write barrier, whose slow path calls `jit_remember` with
        // `vm`, which the caller does not use until the code returns). Nothing else
        // touches them while it runs.
        let r = unsafe {
            let tramp: Trampoline = std::mem::transmute::<*const u8, Trampoline>(code);
            let slots = (*st).stack_base.add(top.base as usize);
            tramp(
                slots,
                (*st).interrupt as *const u8,
                st,
                code.add(e.offset as usize),
                vm_ptr,
                &*self.helpers,
            )
        };
        // SAFETY: the code moved `frame_top` only by pushing whole NORMAL frame
        // records of functions of the program (bases inside the value stack, every
        // slot of their extent written) or by popping them, and moved the bump pointer
        // only over objects it allocated and initialised whole (`new`, then every field).
        if let Err(msg) = unsafe { vm.jit_state_commit() } {
            return Err(vm.error_plain(format!("native code: {msg}")));
        }
        if r != RETURNED {
            vm.jit_set_ip(r);
            {
                let mut st = self.stats.borrow_mut();
                st.exits += 1;
                if let Some(f) = vm.jit_top_frame() {
                    *st.sites.entry((f.func, f.ip)).or_insert(0) += 1;
                }
            }
            // A helper call that ended in a fault: raised here, at the instruction,
            // with the stack trace of the frames as the code left them.
            if let Some(t) = vm.jit_take_trap() {
                return Err(t);
            }
            if let Some(f) = vm.jit_top_frame() {
                self.counted_out(vm, f.func, f.ip);
            }
        }
        vm.check_interrupt()
    }

    /// The tier-up threshold: passes of a compiled loop before it is handed to the
    /// tracing JIT (the interpreter's hotness, so `HASHVM_JIT_HOT` moves both).
    fn threshold(vm: &Vm) -> u32 {
        vm.config().jit_hot.max(1) as u32
    }

    /// The anchor of entry `k`: a function's call, or a loop's back-edge.
    fn anchor(&self, vm: &Vm, k: usize) -> Option<Anchor> {
        let e = self.entries[k];
        if e.ip == 0 {
            return Some(Anchor::Call { func: e.func });
        }
        let index = vm.loop_slot(e.func, e.ip)?;
        Some(Anchor::Loop {
            func: e.func,
            ip: e.ip,
            index,
        })
    }

    /// Entry `k` stays native for good: its counter as good as stopped (it leaves
    /// again after 2^32 passes or calls, to be stopped again), its entry in the slot;
    /// a function's loops it had ceded to the tracing JIT are compiled code again
    /// (those the tracing JIT has no trace at).
    fn refuse(&mut self, vm: &mut Vm, k: usize, at: Anchor) {
        self.stop_counting(k);
        Self::put_back(vm, k, at);
        if self.entries[k].ip == 0 {
            for j in self.loops_of(self.entries[k].func) {
                if self.tier[j].0 != Tier::Ceded {
                    continue;
                }
                self.tier[j].0 = Tier::Native;
                if let Some(l) = self.anchor(vm, j) {
                    Self::put_back(vm, j, l);
                }
            }
        }
    }

    /// Entry `k`'s code back in its anchor `at`'s slot, unless the tracing JIT has a
    /// trace there.
    fn put_back(vm: &mut Vm, k: usize, at: Anchor) {
        if vm.hot_slot(at).is_some_and(|s| s.trace == 0) {
            vm.install_trace(at, Self::id(k));
        }
    }

    /// The loop entries of function `func`.
    fn loops_of(&self, func: u32) -> std::ops::Range<usize> {
        let lo = self
            .entries
            .partition_point(|e| (e.func, e.ip) <= (func, 0));
        let hi = self.entries.partition_point(|e| e.func <= func);
        lo..hi.max(lo)
    }

    /// Function `func`'s entry is handed over: its loops' entries leave their anchors'
    /// slots ([`Tier::Ceded`]), each loop then run by the interpreter (once the
    /// function has its tree, a pass of compiled code would call the function natively
    /// and leave at its entry, at every call).
    fn cede_loops(&mut self, vm: &mut Vm, func: u32) {
        for j in self.loops_of(func) {
            if self.tier[j].0 == Tier::Ceded {
                continue;
            }
            self.tier[j].0 = Tier::Ceded;
            if let Some(l) = self.anchor(vm, j) {
                if vm
                    .hot_slot(l)
                    .is_some_and(|s| s.trace == Self::id(j).0.get())
                {
                    vm.uninstall_trace(l);
                }
            }
        }
    }

    /// Loop entry `k` is refused (counted once) and its counter as good as stopped;
    /// its entry is the caller's to put back.
    fn stop_counting(&mut self, k: usize) {
        if self.tier[k].0 != Tier::Refused {
            self.stats.borrow_mut().refused += 1;
        }
        self.tier[k].0 = Tier::Refused;
        self.counters[self.counter_of[k]].set(u32::MAX);
    }

    /// Compiled code left at `(func, ip)`: when that is a counted loop's back-edge, or
    /// a counted function's entry, whose counter ran out, the loop or function is hot.
    /// Native, it is handed to the tracing JIT (its entry out of the anchor's slot,
    /// whose counter fires at the interpreter's next pass or call, which asks
    /// [`JitHook::hot`] and records); with a trace, the exit was the hand-off to it,
    /// and the next pass of the compiled loop (or native call of the function) leaves
    /// again.
    fn counted_out(&mut self, vm: &mut Vm, func: u32, ip: u32) {
        let Some(k) = self.find(func, ip) else { return };
        let c = self.counter_of[k];
        if self.counters[c].get() != 0 {
            return;
        }
        let Some(at) = self.anchor(vm, k) else {
            self.counters[c].set(u32::MAX);
            return;
        };
        let slot = vm.hot_slot(at);
        let jit_trace = slot.is_some_and(|s| s.trace != 0 && s.trace & AOT_BIT == 0);
        match self.tier[k].0 {
            Tier::Native if self.inner.is_some() && slot.is_some_and(|s| !s.blacklisted) => {
                self.tier[k].0 = Tier::Handed;
                self.stats.borrow_mut().handed += 1;
                // Other activations of the loop go on counting meanwhile.
                self.counters[c].set(Self::threshold(vm));
                vm.jit_hand_over(at);
                self.record_entry(vm, k, at);
            }
            Tier::Traced if jit_trace => {
                self.stats.borrow_mut().to_traces += 1;
                self.counters[c].set(1);
            }
            // Handed over, or its trace taken out by the tracing JIT to be recorded
            // again (`Jit::judge_peeling`): the interpreter runs this pass, and other
            // activations go on counting.
            Tier::Handed | Tier::Traced if slot.is_some_and(|s| !s.blacklisted && s.trace == 0) => {
                self.tier[k].0 = Tier::Handed;
                self.counters[c].set(Self::threshold(vm));
                self.record_entry(vm, k, at);
            }
            _ => self.refuse(vm, k, at),
        }
    }

    /// A function handed over at its entry (`at`, entry `k`) records its entry tree at
    /// once, from the frame its native call pushed (the interpreter at offset 0, as
    /// after an interpreted call whose counter fired): the interpreter may well never
    /// call it (a recursion whose calls were all native returns from there), and would
    /// never reach an anchor to record at. A loop's back-edge is that anchor itself.
    /// The function's loops are interpreted from then on ([`Tier::Ceded`]).
    fn record_entry(&mut self, vm: &mut Vm, k: usize, at: Anchor) {
        if self.entries[k].ip != 0 || vm.recording().is_some() {
            return;
        }
        self.cede_loops(vm, self.entries[k].func);
        match self.inner.as_mut().map(|h| h.hot(vm, at)) {
            Some(HotAction::Record) => vm.jit_request_recording(at),
            _ => self.refuse(vm, k, at),
        }
    }

    /// The entry whose anchor is `at` (every entry has a counter).
    fn counted(&self, at: Anchor) -> Option<usize> {
        let (func, ip) = place(at);
        self.find(func, ip)
    }
}

impl JitHook for AotHook {
    fn hot(&mut self, vm: &mut Vm, at: Anchor) -> HotAction {
        if let Some(k) = self.counted(at) {
            // A loop handed over, or whose trace the tracing JIT took out, records
            // (again) unless the tracing JIT declines (it dropped the trace): then it
            // goes back to its compiled code for good.
            if let Tier::Handed | Tier::Traced = self.tier[k].0 {
                if let Some(HotAction::Record) = self.inner.as_mut().map(|h| h.hot(vm, at)) {
                    self.tier[k].0 = Tier::Handed;
                    return HotAction::Record;
                }
                self.refuse(vm, k, at);
            }
            // A loop ceded by its function is interpreted, and never recorded: a
            // recording there follows the function's calls into the interpreter
            // (recording instances do not enter trees), and one at awfy_permute's loop
            // ran 6.7 million steps before it aborted (4 times the program's
            // instructions at 300 iterations).
            if self.tier[k].0 == Tier::Ceded {
                return HotAction::Continue;
            }
            return HotAction::Enter(Self::id(k));
        }
        match &mut self.inner {
            Some(h) => h.hot(vm, at),
            None => HotAction::Continue,
        }
    }

    fn record(&mut self, vm: &Vm, at: &RecordPoint<'_>) -> Recording {
        let answer = match &mut self.inner {
            Some(h) => h.record(vm, at),
            None => Recording::Abort,
        };
        // Called at every step of a recording: only its end concerns a handed entry.
        if let Recording::Continue | Recording::Skip(_) = answer {
            return answer;
        }
        let Some(k) = self.counted(at.anchor) else {
            return answer;
        };
        if self.tier[k].0 != Tier::Handed {
            return answer;
        }
        match answer {
            Recording::Continue | Recording::Skip(_) => answer,
            Recording::Done(_) => {
                self.tier[k].0 = Tier::Traced;
                self.stats.borrow_mut().traced += 1;
                self.counters[self.counter_of[k]].set(1);
                answer
            }
            // A handed-over loop whose recording failed goes back to its compiled
            // code (installed again as if it were the trace: no abort counted at the
            // anchor, whose interpreted passes would back off), counting again from a
            // threshold doubled for each failure, and stays there after
            // `TIER_TRIES`.
            Recording::Abort | Recording::Wait(_) => {
                let tries = self.tier[k].1.saturating_add(1);
                self.tier[k].1 = tries;
                if tries >= TIER_TRIES {
                    self.stop_counting(k);
                } else {
                    self.tier[k].0 = Tier::Native;
                    self.counters[self.counter_of[k]].set(Self::threshold(vm) << tries);
                }
                Recording::Done(Self::id(k))
            }
        }
    }

    fn cancel(&mut self, vm: &Vm, at: Anchor) {
        if let Some(h) = &mut self.inner {
            h.cancel(vm, at);
        }
        // The VM counts it an abort at the anchor, left without an entry: the loop's
        // next hot pass in the interpreter asks `hot`, which records again or
        // installs the entry (`counted_out` does, if the anchor is blacklisted).
        if let Some(k) = self.counted(at) {
            if self.tier[k].0 == Tier::Handed {
                self.tier[k].1 = self.tier[k].1.saturating_add(1);
            }
        }
    }

    fn enter(&mut self, vm: &mut Vm, trace: TraceId, at: &Anchor) -> Result<(), Trap> {
        let t = trace.0.get();
        if t & AOT_BIT != 0 {
            let k = (t & !AOT_BIT) as usize - 1;
            if k >= self.entries.len() || !self.active {
                return Err(vm.error_plain("native code: no such entry"));
            }
            return self.run(vm, k);
        }
        match &mut self.inner {
            Some(h) => h.enter(vm, trace, at),
            None => Err(vm.error_plain("JIT: no such trace")),
        }
    }

    fn flush(&mut self) {
        if let Some(h) = &mut self.inner {
            h.flush();
        }
    }

    fn loaded(&mut self, vm: &mut Vm) {
        if let Some(h) = &mut self.inner {
            h.loaded(vm);
        }
        // The code belongs to one program: a VM that loaded another one (a function
        // count that differs) never runs it.
        self.active = vm.func_shape(self.nfuncs as u32).is_none()
            && (self.nfuncs == 0 || vm.func_shape(self.nfuncs as u32 - 1).is_some());
        if !self.active {
            return;
        }
        for (k, e) in self.entries.iter().enumerate() {
            let at = if e.ip == 0 {
                Anchor::Call { func: e.func }
            } else {
                match vm.loop_slot(e.func, e.ip) {
                    Some(index) => Anchor::Loop {
                        func: e.func,
                        ip: e.ip,
                        index,
                    },
                    None => continue,
                }
            };
            vm.install_trace(at, Self::id(k));
        }
        // Loops and functions count down to their tier-up only with a tracing JIT to
        // hand them to; a function without an entry (not compiled whole) never.
        let start = match self.inner {
            Some(_) => Self::threshold(vm),
            None => u32::MAX,
        };
        for c in self.counters.iter() {
            c.set(u32::MAX);
        }
        for &c in &self.counter_of {
            self.counters[c].set(start);
        }
        for t in &mut self.tier {
            *t = (Tier::Native, 0);
        }
    }
}

/// The function and bytecode offset an anchor stands for (a function's call at 0).
fn place(at: Anchor) -> (u32, u32) {
    match at {
        Anchor::Call { func } => (func, 0),
        Anchor::Loop { func, ip, .. } => (func, ip),
    }
}
