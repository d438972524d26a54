//! The JIT host interface (SPEC.md §4.6): hot counters per back-edge and per function,
//! the hook's answers (continue, record, enter), backoff and blacklisting, the
//! recording instance, trace entry through the `VmState` register block.

mod common;
use common::*;
use hashvm_format::*;
use hashvm_vm::jit::{HotSlot, BLACKLIST_AFTER};
use hashvm_vm::{
    run_program, Anchor, Config, HotAction, JitHook, Outcome, RecordPoint, Recording, TraceId,
    Value, Vm, VmState,
};
use std::cell::RefCell;
use std::rc::Rc;

/// What a scripted hook saw.
#[derive(Default)]
struct Log {
    hot: Vec<Anchor>,
    recorded: Vec<(u32, u32)>,
    entered: Vec<(TraceId, Anchor)>,
    cancelled: Vec<Anchor>,
    flushed: usize,
    /// The frame count at each recorded point (`Script::SkipCalls`).
    depths: Vec<usize>,
    /// Passes of the anchor the recording saw (`Script::SkipCalls`).
    passes: usize,
}

/// How the scripted hook answers.
#[derive(Clone, Copy, PartialEq)]
enum Script {
    /// `Continue` to every hot anchor.
    Watch,
    /// `Record` every hot loop; the recorder aborts at once.
    AbortAll,
    /// `Record` the first hot loop; complete the trace when the recording comes back
    /// to the anchor; the trace runs the summing loop to its end natively.
    RecordThenRun,
    /// `Record` at the first hot function entry, done after `n` instructions.
    RecordCall(usize),
    /// `Enter` a trace at the first hot entry of the function, which returns its
    /// doubled argument natively (popping its frame).
    EnterCall,
    /// `Record` every hot loop; at each `callk` answer `Skip` (the trace calls for
    /// real); abort when the recording comes back to the anchor the third time.
    SkipCalls,
}

struct Hook {
    log: Rc<RefCell<Log>>,
    script: Script,
}

fn tid(n: u32) -> TraceId {
    TraceId(std::num::NonZeroU32::new(n).unwrap())
}

impl JitHook for Hook {
    fn hot(&mut self, _vm: &mut Vm, at: Anchor) -> HotAction {
        let mut log = self.log.borrow_mut();
        log.hot.push(at);
        match (self.script, at) {
            (Script::AbortAll, Anchor::Loop { .. }) => HotAction::Record,
            (Script::RecordThenRun, Anchor::Loop { .. }) => HotAction::Record,
            (Script::RecordCall(_), Anchor::Call { .. }) if log.hot.len() == 1 => HotAction::Record,
            (Script::EnterCall, Anchor::Call { .. }) => HotAction::Enter(tid(7)),
            (Script::SkipCalls, Anchor::Loop { .. }) => HotAction::Record,
            _ => HotAction::Continue,
        }
    }

    fn record(&mut self, _vm: &Vm, at: &RecordPoint<'_>) -> Recording {
        let mut log = self.log.borrow_mut();
        let first = log.recorded.is_empty();
        log.recorded.push((at.func, at.ip));
        assert!(at.ip < at.code.len() as u32);
        match self.script {
            Script::AbortAll => Recording::Abort,
            Script::RecordThenRun => match at.anchor {
                Anchor::Loop { ip, .. } if !first && at.ip == ip => Recording::Done(tid(3)),
                _ => Recording::Continue,
            },
            Script::RecordCall(n) if log.recorded.len() > n => Recording::Done(tid(5)),
            Script::SkipCalls => {
                log.depths.push(at.depth);
                let (insn, _) = hashvm_format::insn::Insn::decode(at.code, at.ip as usize).unwrap();
                match at.anchor {
                    _ if insn.op == Op::CallK => Recording::Skip(at.depth),
                    Anchor::Loop { ip, .. } if !first && at.ip == ip => {
                        log.passes += 1;
                        if log.passes >= 3 {
                            Recording::Abort
                        } else {
                            Recording::Continue
                        }
                    }
                    _ => Recording::Continue,
                }
            }
            _ => Recording::Continue,
        }
    }

    fn cancel(&mut self, _vm: &Vm, at: Anchor) {
        self.log.borrow_mut().cancelled.push(at);
    }

    fn enter(&mut self, vm: &mut Vm, trace: TraceId, at: &Anchor) -> Result<(), hashvm_vm::Trap> {
        self.log.borrow_mut().entered.push((trace, *at));
        let st: *mut VmState = vm.jit_state();
        // SAFETY: the register block was just synced; the test programs' frames are
        // known (see `sum_module` and `call_module`), and what is written is a valid
        // state for the interpreter to resume in.
        unsafe {
            let fr = (*st).frame_top.sub(1);
            let base = (*st).stack_base.add((*fr).base as usize);
            match self.script {
                Script::RecordThenRun => {
                    // The whole summing loop at once: acc += i + (i-1) + ... + 1, i = 0,
                    // resume at the loop header (whose test then leaves the loop).
                    let i = (*base).bits() as i64;
                    let acc = (*base.add(1)).bits() as i64;
                    *base.add(1) = Value::i64(acc + i * (i + 1) / 2);
                    *base = Value::i64(0);
                    (*fr).ip = sum_header();
                }
                Script::EnterCall => {
                    // `dbl` at entry: return 2 * argument to the caller's result slot
                    // and pop the frame.
                    let x = (*base).bits() as i64;
                    let caller = fr.sub(1);
                    let cbase = (*st).stack_base.add((*caller).base as usize);
                    *cbase.add((*fr).ret as usize) = Value::i64(2 * x);
                    (*st).frame_top = fr;
                }
                _ => unreachable!("no trace is installed by this script"),
            }
            vm.jit_state_commit().expect("a valid exit state");
        }
        Ok(())
    }

    fn flush(&mut self) {
        self.log.borrow_mut().flushed += 1;
    }
}

fn run_hooked(
    m: &Module,
    config: Config,
    script: Script,
) -> (Result<i32, String>, Rc<RefCell<Log>>, Vm) {
    let log = Rc::new(RefCell::new(Log::default()));
    let mut vm = Vm::new(config);
    vm.set_output(Box::new(std::io::sink()));
    vm.set_jit(Some(Box::new(Hook {
        log: log.clone(),
        script,
    })));
    let r = match run_program(&mut vm, verify(m).expect("verifies")) {
        Outcome::Exit(c) => Ok(c),
        Outcome::Error(e) => Err(e.message),
    };
    (r, log, vm)
}

fn hot(n: u16) -> Config {
    Config {
        jit_hot: n,
        ..Config::default()
    }
}

/// Where the loop header of [`sum_module`] is: after two `loadi`.
fn sum_header() -> u32 {
    2 * Op::LoadI.encoded_len() as u32
}

/// `main`: i = n, acc = 0; while i > 0 { acc += i; i -= 1 }; exit status acc.
fn sum_module(n: i32) -> Module {
    let mb = ModuleBuilder::new();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    let done = m.new_label();
    m.op(Op::LoadI, [s(0), imm(n)]);
    m.op(Op::LoadI, [s(1), imm(0)]);
    m.bind(top);
    m.emit(Op::JLeIImm, [a(s(0)), a(imm(0)), l(done)]);
    m.op(Op::AddI64, [s(1), s(1), s(0)]);
    m.op(Op::SubIImm, [s(0), s(0), imm(1)]);
    m.emit(Op::Loop, [l(top)]);
    m.bind(done);
    m.op(Op::Ret, [s(1)]);
    executable(mb, m)
}

/// A function with a loop of `n` passes, the same code in two functions (so their
/// back-edges are at the same offset); `main` calls both.
fn twin_loops_module(n: i32) -> Module {
    let mut mb = ModuleBuilder::new();
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let mut f = FunctionBuilder::new(name, 0, 0);
        let top = f.new_label();
        let done = f.new_label();
        f.op(Op::LoadI, [s(0), imm(n)]);
        f.bind(top);
        f.emit(Op::JLeIImm, [a(s(0)), a(imm(0)), l(done)]);
        f.op(Op::SubIImm, [s(0), s(0), imm(1)]);
        f.emit(Op::Loop, [l(top)]);
        f.bind(done);
        f.op(Op::Ret, [s(0)]);
        ids.push(mb.add_function(f).unwrap());
    }
    let mut m = FunctionBuilder::new("main", 0, 0);
    for &f in &ids {
        m.op(Op::CallK, [s(0), Operand::Func(f), s(0), cnt(0)]);
    }
    m.op(Op::RetU, []);
    executable(mb, m)
}

/// `main` calls `dbl` on 1..=n and returns the sum of the results.
fn call_module(n: i32) -> Module {
    let mut mb = ModuleBuilder::new();
    let mut dbl = FunctionBuilder::new("dbl", 1, 0);
    dbl.op(Op::AddI64, [s(0), s(0), s(0)]);
    dbl.op(Op::Ret, [s(0)]);
    let dbl = mb.add_function(dbl).unwrap();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    let done = m.new_label();
    m.op(Op::LoadI, [s(0), imm(n)]);
    m.op(Op::LoadI, [s(1), imm(0)]);
    m.bind(top);
    m.emit(Op::JLeIImm, [a(s(0)), a(imm(0)), l(done)]);
    // The argument window is the top of the frame (the callee's frame starts there).
    m.op(Op::Mov, [s(3), s(0)]);
    m.op(Op::CallK, [s(2), Operand::Func(dbl), s(3), cnt(1)]);
    m.op(Op::AddI64, [s(1), s(1), s(2)]);
    m.op(Op::SubIImm, [s(0), s(0), imm(1)]);
    m.emit(Op::Loop, [l(top)]);
    m.bind(done);
    m.op(Op::Ret, [s(1)]);
    executable(mb, m)
}

fn loop_hots(log: &Log) -> Vec<Anchor> {
    log.hot
        .iter()
        .copied()
        .filter(|a| matches!(a, Anchor::Loop { .. }))
        .collect()
}

/// Loops at the same offset of different functions have counters of their own: with
/// a threshold of 5 and 3 passes each, neither fires (a shared counter would see 6).
#[test]
fn loops_at_the_same_offset_count_separately() {
    let (r, log, _) = run_hooked(&twin_loops_module(3), hot(5), Script::Watch);
    assert_eq!(r, Ok(0));
    assert_eq!(loop_hots(&log.borrow()), vec![]);
    // With threshold 3, each fires once, at its own anchor.
    let (r, log, vm) = run_hooked(&twin_loops_module(3), hot(3), Script::Watch);
    assert_eq!(r, Ok(0));
    let hots = loop_hots(&log.borrow());
    assert_eq!(hots.len(), 2);
    let (
        Anchor::Loop {
            func: fa,
            ip: ia,
            index: xa,
        },
        Anchor::Loop {
            func: fb,
            ip: ib,
            index: xb,
        },
    ) = (hots[0], hots[1])
    else {
        unreachable!()
    };
    assert_ne!(fa, fb);
    assert_eq!(ia, ib, "the twin loops' back-edges are at the same offset");
    assert_ne!(xa, xb);
    assert_eq!(vm.loop_slot(fa, ia), Some(xa));
    assert_eq!(vm.loop_slot(fb, ib), Some(xb));
    assert_eq!(vm.loop_slot(fa, 0), None, "offset 0 is no back-edge");
}

/// Threshold 1: every pass over the back-edge and every call asks the hook, and the
/// result is the interpreter's.
#[test]
fn threshold_one_fires_on_every_pass() {
    let (r, log, _) = run_hooked(&sum_module(10), hot(1), Script::Watch);
    assert_eq!(r, Ok(55));
    assert_eq!(loop_hots(&log.borrow()).len(), 10);
    let (r, log, _) = run_hooked(&call_module(10), hot(1), Script::Watch);
    assert_eq!(r, Ok(110));
    let calls = log
        .borrow()
        .hot
        .iter()
        .filter(|a| matches!(a, Anchor::Call { .. }))
        .count();
    // `main` once, `dbl` ten times.
    assert_eq!(calls, 11);
}

/// A recorder that always aborts: the threshold doubles after each abort, and after
/// `BLACKLIST_AFTER` aborts the anchor is blacklisted and the hook never hears of it
/// again. Passes consumed: 1 + 2 + 4 + ... (threshold 1 << aborts).
#[test]
fn aborted_recordings_back_off_then_blacklist() {
    let (r, log, vm) = run_hooked(&sum_module(1000), hot(1), Script::AbortAll);
    assert_eq!(r, Ok(500500));
    let log = log.borrow();
    let hots = loop_hots(&log);
    assert_eq!(hots.len(), BLACKLIST_AFTER as usize);
    assert!(hots.iter().all(|&h| h == hots[0]));
    // One `record` call per recording (the first instruction aborts it).
    assert_eq!(log.recorded.len(), BLACKLIST_AFTER as usize);
    let slot: HotSlot = vm.hot_slot(hots[0]).unwrap();
    assert!(slot.blacklisted);
    assert_eq!(slot.aborts, BLACKLIST_AFTER);
    assert_eq!(slot.trace, 0);
    // Before blacklisting, the passes between recordings grew: 1, 2, 4, 8, 16.
    let mut consumed = 1u32;
    for k in 1..BLACKLIST_AFTER as u32 {
        consumed += 1 << k;
    }
    assert!(
        consumed < 1000,
        "the test loop runs long enough to blacklist"
    );
    // Too short a loop does not blacklist: 1 + 2 + 4 = 7 passes give 3 aborts only.
    let (r, log, _) = run_hooked(&sum_module(7), hot(1), Script::AbortAll);
    assert_eq!(r, Ok(28));
    assert_eq!(loop_hots(&log.borrow()).len(), 3);
}

/// A blacklisted loop still polls interrupts (its counter keeps running).
#[test]
fn blacklisted_loop_is_still_interruptible() {
    let mb = ModuleBuilder::new();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    m.bind(top);
    m.emit(Op::Loop, [l(top)]);
    let md = executable(mb, m);
    let log = Rc::new(RefCell::new(Log::default()));
    let mut vm = Vm::new(hot(1));
    vm.set_jit(Some(Box::new(Hook {
        log: log.clone(),
        script: Script::AbortAll,
    })));
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    vm.set_interrupt(Some(flag.clone()));
    // Raised by the recorder once the loop is blacklisted: from then on only the
    // counter can notice it.
    struct Raise(Hook, std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl JitHook for Raise {
        fn hot(&mut self, vm: &mut Vm, at: Anchor) -> HotAction {
            self.0.hot(vm, at)
        }
        fn record(&mut self, vm: &Vm, at: &RecordPoint<'_>) -> Recording {
            let r = self.0.record(vm, at);
            if self.0.log.borrow().recorded.len() == BLACKLIST_AFTER as usize {
                self.1.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            r
        }
        fn enter(&mut self, vm: &mut Vm, t: TraceId, at: &Anchor) -> Result<(), hashvm_vm::Trap> {
            self.0.enter(vm, t, at)
        }
    }
    vm.set_jit(Some(Box::new(Raise(
        Hook {
            log: log.clone(),
            script: Script::AbortAll,
        },
        flag,
    ))));
    match run_program(&mut vm, verify(&md).expect("verifies")) {
        Outcome::Error(e) => assert!(e.message.contains("interrupted"), "{}", e.message),
        other => panic!("{other:?}"),
    }
    assert_eq!(loop_hots(&log.borrow()).len(), BLACKLIST_AFTER as usize);
}

/// Record at the loop, complete the trace when the recording returns to the anchor:
/// the recorder saw every instruction of one iteration, in order, starting with the
/// back-edge; the next pass enters the trace (no hash lookup: the slot holds it), which
/// runs the rest of the loop natively through `VmState`, and the interpreter resumes
/// where the trace left the frame.
#[test]
fn record_then_enter_a_loop_trace() {
    let (r, log, vm) = run_hooked(&sum_module(100), hot(3), Script::RecordThenRun);
    assert_eq!(r, Ok(5050));
    let log = log.borrow();
    let hots = loop_hots(&log);
    assert_eq!(
        hots.len(),
        1,
        "the hook is asked once; then the slot holds the trace"
    );
    let Anchor::Loop { ip: back, .. } = hots[0] else {
        unreachable!()
    };
    let h = sum_header();
    let jle = Op::JLeIImm.encoded_len() as u32;
    let add = Op::AddI64.encoded_len() as u32;
    let sub = Op::SubIImm.encoded_len() as u32;
    assert_eq!(back, h + jle + add + sub);
    let ips: Vec<u32> = log.recorded.iter().map(|&(_, ip)| ip).collect();
    assert_eq!(ips, vec![back, h, h + jle, h + jle + add, back]);
    assert_eq!(log.entered, vec![(tid(3), hots[0])]);
    assert_eq!(vm.hot_slot(hots[0]).unwrap().trace, 3);
    assert!(vm.recording().is_none());
}

/// Recording from a function entry starts at ip 0 of the callee and follows the
/// interpreter through the return into the caller.
#[test]
fn record_from_a_function_entry() {
    let (r, log, _) = run_hooked(&call_module(4), hot(1), Script::RecordCall(3));
    assert_eq!(r, Ok(20));
    let log = log.borrow();
    let Anchor::Call { func } = log.hot[0] else {
        panic!("{:?}", log.hot[0])
    };
    assert_eq!(log.recorded[0], (func, 0));
    assert_eq!(log.recorded.len(), 4);
    assert!(log.cancelled.is_empty());
}

/// `Recording::Skip(d)`: the interpreter runs the callee without asking the recorder
/// while the frame count is above `d`, and asks again at the caller's next
/// instruction.
#[test]
fn skip_runs_a_real_call_without_asking() {
    let (r, log, _) = run_hooked(&call_module(20), hot(1), Script::SkipCalls);
    assert_eq!(r, Ok(420));
    let log = log.borrow();
    let main = match loop_hots(&log)[0] {
        Anchor::Loop { func, .. } => func,
        other => panic!("{other:?}"),
    };
    let mut calls = 0;
    for (k, &(func, ip)) in log.recorded.iter().enumerate() {
        // Never a point inside `dbl`, nor one deeper than the recorded frame.
        assert_eq!(func, main, "point {k} at {ip} is not main's");
        assert_eq!(log.depths[k], log.depths[0], "point {k}");
        let code = call_module(20).functions[main as usize].code.clone();
        let (insn, len) = hashvm_format::insn::Insn::decode(&code, ip as usize).unwrap();
        if insn.op == Op::CallK {
            calls += 1;
            // The next point the recorder sees is the caller's, right after the call.
            if let Some(&(f, next)) = log.recorded.get(k + 1) {
                assert_eq!((f, next), (main, ip + len as u32));
            }
        }
    }
    assert!(calls >= 3, "{calls} calls recorded");
}

/// A function-entry trace that returns natively (pops its frame through the register
/// block): the result is the interpreter's; the trace is entered on every later call.
#[test]
fn enter_a_function_entry_trace() {
    let (r, log, _) = run_hooked(&call_module(10), hot(2), Script::EnterCall);
    assert_eq!(r, Ok(110));
    let log = log.borrow();
    // Call 1 counts `dbl` down to 1, call 2 fires: Enter; calls 2..=10 run the trace.
    assert_eq!(log.entered.len(), 9);
    assert_eq!(
        log.hot
            .iter()
            .filter(|a| matches!(a, Anchor::Call { .. }))
            .count(),
        1
    );
}

/// A recording still running when the program returns to the host is cancelled and
/// counts as an abort; loading a program flushes the hook's traces.
#[test]
fn unfinished_recording_is_cancelled_and_load_flushes() {
    let (r, log, vm) = run_hooked(&call_module(3), hot(1), Script::RecordCall(1_000_000));
    assert_eq!(r, Ok(12));
    let log = log.borrow();
    assert_eq!(log.cancelled.len(), 1);
    assert_eq!(vm.hot_slot(log.cancelled[0]).unwrap().aborts, 1);
    assert_eq!(log.flushed, 1, "the load flushed once");
}

/// The layout of `VmState` documented in SPEC.md §4.6 is the real one.
#[test]
fn vm_state_offsets_match_spec() {
    use std::mem::offset_of;
    let real = [
        ("stack_base", offset_of!(VmState, stack_base)),
        ("stack_limit", offset_of!(VmState, stack_limit)),
        ("frame_base", offset_of!(VmState, frame_base)),
        ("frame_top", offset_of!(VmState, frame_top)),
        ("frame_limit", offset_of!(VmState, frame_limit)),
        ("heap_ptr", offset_of!(VmState, heap_ptr)),
        ("heap_limit", offset_of!(VmState, heap_limit)),
        ("globals", offset_of!(VmState, globals)),
        ("interrupt", offset_of!(VmState, interrupt)),
        ("consts", offset_of!(VmState, consts)),
        ("nglobals", offset_of!(VmState, nglobals)),
        ("nconsts", offset_of!(VmState, nconsts)),
        ("nursery", offset_of!(VmState, nursery)),
        ("nursery_size", offset_of!(VmState, nursery_size)),
    ];
    assert_eq!(real.to_vec(), hashvm_vm::jit::VM_STATE_OFFSETS.to_vec());
    assert_eq!(std::mem::size_of::<VmState>(), 104);
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../SPEC.md"))
        .expect("SPEC.md");
    let sec = spec
        .split("#### The register block")
        .nth(1)
        .expect("SPEC.md documents the register block");
    let mut documented = Vec::new();
    for line in sec.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let (Some(name), Some(off)) = (cells.get(1), cells.get(2)) {
            if let Ok(off) = off.parse::<usize>() {
                documented.push((name.trim_matches('`'), off));
            }
        }
    }
    assert_eq!(documented, real.to_vec());
}

/// The hook may not load a program while the interpreter below it runs (it holds
/// pointers into the loaded code): `load` fails and the run goes on unharmed.
#[test]
fn load_from_inside_the_hook_is_refused() {
    struct Loader(Rc<RefCell<Vec<String>>>);
    impl JitHook for Loader {
        fn hot(&mut self, vm: &mut Vm, _at: Anchor) -> HotAction {
            let m = sum_module(1);
            if let Err(hashvm_vm::Trap::Error(e)) = vm.load(verify(&m).unwrap()) {
                self.0.borrow_mut().push(e.message);
            }
            HotAction::Continue
        }
        fn record(&mut self, _vm: &Vm, _at: &RecordPoint<'_>) -> Recording {
            Recording::Abort
        }
        fn enter(&mut self, _: &mut Vm, _: TraceId, _: &Anchor) -> Result<(), hashvm_vm::Trap> {
            unreachable!()
        }
    }
    let errs = Rc::new(RefCell::new(Vec::new()));
    let mut vm = Vm::new(hot(4));
    vm.set_jit(Some(Box::new(Loader(errs.clone()))));
    match run_program(&mut vm, verify(&sum_module(10)).unwrap()) {
        Outcome::Exit(c) => assert_eq!(c, 55),
        Outcome::Error(e) => panic!("{e}"),
    }
    let errs = errs.borrow();
    assert!(!errs.is_empty());
    assert!(
        errs.iter().all(|e| e.contains("inside the JIT hook")),
        "{errs:?}"
    );
}

/// `main`: for i = n down to 1 { for j = 1 down to 1 {} }: an outer loop whose every
/// pass runs an inner loop's back-edge once. Returns the module and the two
/// back-edges' offsets (inner, outer).
fn nested_module(n: i32) -> (Module, u32, u32) {
    let mb = ModuleBuilder::new();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let (top, inner, inner_done, done) =
        (m.new_label(), m.new_label(), m.new_label(), m.new_label());
    m.op(Op::LoadI, [s(0), imm(n)]);
    m.bind(top);
    m.emit(Op::JLeIImm, [a(s(0)), a(imm(0)), l(done)]);
    m.op(Op::LoadI, [s(1), imm(1)]);
    m.bind(inner);
    m.emit(Op::JLeIImm, [a(s(1)), a(imm(0)), l(inner_done)]);
    m.op(Op::SubIImm, [s(1), s(1), imm(1)]);
    m.emit(Op::Loop, [l(inner)]);
    m.bind(inner_done);
    m.op(Op::SubIImm, [s(0), s(0), imm(1)]);
    m.emit(Op::Loop, [l(top)]);
    m.bind(done);
    m.op(Op::Ret, [s(0)]);
    let (li, jl, si, lo) = (
        Op::LoadI.encoded_len() as u32,
        Op::JLeIImm.encoded_len() as u32,
        Op::SubIImm.encoded_len() as u32,
        Op::Loop.encoded_len() as u32,
    );
    let inner_edge = li + jl + li + jl + si;
    let outer_edge = inner_edge + lo + si;
    (executable(mb, m), inner_edge, outer_edge)
}

/// What [`Waiter`] saw: the outer loop's value of `i` at each `Wait`, and at each hot
/// pass of the inner loop.
#[derive(Default)]
struct WaitLog {
    waited_at: Vec<i64>,
    inner_hot_at: Vec<i64>,
    outer_hots: usize,
}

/// Records the outer loop of [`nested_module`] and answers `Wait` for the inner one;
/// the inner loop is never recorded (`hopeless == false`: its anchor stays hopeful),
/// or recorded and aborted until it is blacklisted (`hopeless == true`).
struct Waiter {
    log: Rc<RefCell<WaitLog>>,
    edges: (u32, u32),
    hopeless: bool,
}

impl JitHook for Waiter {
    fn hot(&mut self, vm: &mut Vm, at: Anchor) -> HotAction {
        let Anchor::Loop { ip, .. } = at else {
            return HotAction::Continue;
        };
        if ip == self.edges.1 {
            self.log.borrow_mut().outer_hots += 1;
            return HotAction::Record;
        }
        let top = vm.jit_top_frame().unwrap();
        let i = vm.jit_slot(top.base as usize).bits() as i64;
        self.log.borrow_mut().inner_hot_at.push(i);
        if self.hopeless {
            HotAction::Record
        } else {
            HotAction::Continue
        }
    }

    fn record(&mut self, vm: &Vm, at: &RecordPoint<'_>) -> Recording {
        match at.anchor {
            Anchor::Loop { func, ip, .. } if ip == self.edges.1 => {
                let index = vm.loop_slot(func, self.edges.0).unwrap();
                self.log
                    .borrow_mut()
                    .waited_at
                    .push(at.slots[0].bits() as i64);
                Recording::Wait(Anchor::Loop {
                    func,
                    ip: self.edges.0,
                    index,
                })
            }
            _ => Recording::Abort,
        }
    }

    fn enter(&mut self, _: &mut Vm, _: TraceId, _: &Anchor) -> Result<(), hashvm_vm::Trap> {
        unreachable!("no trace is installed")
    }
}

fn run_waiter(hopeless: bool) -> (Rc<RefCell<WaitLog>>, Vm, (u32, u32)) {
    let (m, inner, outer) = nested_module(200_000);
    let log = Rc::new(RefCell::new(WaitLog::default()));
    let mut vm = Vm::new(hot(1000));
    vm.set_output(Box::new(std::io::sink()));
    vm.set_jit(Some(Box::new(Waiter {
        log: log.clone(),
        edges: (inner, outer),
        hopeless,
    })));
    match run_program(&mut vm, verify(&m).expect("verifies")) {
        Outcome::Exit(c) => assert_eq!(c, 0),
        Outcome::Error(e) => panic!("{e}"),
    }
    (log, vm, (inner, outer))
}

/// A recording that must wait for an inner loop's trace (`Recording::Wait`) backs its
/// anchor off but never blacklists it, and the inner loop's counter fires at its next
/// pass (in the same pass of the outer loop), so that the inner loop is recorded
/// first.
#[test]
fn waits_back_off_without_blacklisting_and_make_the_inner_loop_hot() {
    let (log, vm, (inner, outer)) = run_waiter(false);
    let log = log.borrow();
    // 1000, 2000, ..., 32000 passes, then 32000 again: more waits than would blacklist.
    assert!(
        log.outer_hots > BLACKLIST_AFTER as usize + 2,
        "{}",
        log.outer_hots
    );
    assert_eq!(log.waited_at.len(), log.outer_hots);
    for i in &log.waited_at {
        assert!(
            log.inner_hot_at.contains(i),
            "no inner pass fired at i = {i}"
        );
    }
    let slot_of = |ip: u32| {
        (0..4)
            .find_map(|f| vm.loop_slot(f, ip).map(|index| (f, index)))
            .map(|(func, index)| vm.hot_slot(Anchor::Loop { func, ip, index }).unwrap())
            .unwrap()
    };
    let o = slot_of(outer);
    assert!(!o.blacklisted);
    assert_eq!(o.aborts, BLACKLIST_AFTER - 1);
    assert!(!slot_of(inner).blacklisted);
}

/// When the inner loop's own recordings abort until it is blacklisted, a `Wait` for
/// it is a plain abort: the outer loop is blacklisted too.
#[test]
fn a_wait_for_a_blacklisted_anchor_is_an_abort() {
    let (_, vm, (inner, outer)) = run_waiter(true);
    let slot_of = |ip: u32| {
        (0..4)
            .find_map(|f| vm.loop_slot(f, ip).map(|index| (f, index)))
            .map(|(func, index)| vm.hot_slot(Anchor::Loop { func, ip, index }).unwrap())
            .unwrap()
    };
    assert!(slot_of(inner).blacklisted);
    assert!(slot_of(outer).blacklisted);
}
