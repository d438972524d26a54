//! The JIT as the VM sees it: a [`JitHook`] that records a hot loop, compiles the
//! trace, and runs it whenever the loop's back-edge is reached again.

use crate::ir::Trace;
use crate::record::{Recorder, Step};
use crate::x64::{self, CompiledTrace};
use hashvm_vm::jit::{Anchor, HotAction, JitHook, RecordPoint, Recording, TraceId};
use hashvm_vm::{Trap, Vm};
use std::cell::RefCell;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::time::Instant;

/// Counters for `--jit-stats`.
#[derive(Clone, Debug, Default)]
pub struct JitStats {
    /// Recordings started.
    pub recordings: u64,
    /// Recordings that aborted.
    pub aborts: u64,
    /// Traces compiled.
    pub traces: u64,
    /// Times a trace was entered.
    pub entries: u64,
    /// Exits taken (one per entry).
    pub exits: u64,
    /// Time spent recording and compiling, in seconds.
    pub compile_seconds: f64,
}

struct Installed {
    trace: Trace,
    code: CompiledTrace,
}

/// The tracing JIT, attached to a VM with [`Vm::set_jit`].
#[derive(Default)]
pub struct Jit {
    recorder: Option<Recorder>,
    traces: Vec<Installed>,
    /// What happened so far (shared, so that the caller can read it after handing the
    /// JIT to the VM).
    pub stats: Rc<RefCell<JitStats>>,
    /// Print trace events to standard error (`--jit-log`).
    pub log: bool,
    /// Print each compiled trace's IR (`--jit-dump`).
    pub dump: bool,
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

impl JitHook for Jit {
    fn hot(&mut self, _vm: &mut Vm, at: Anchor) -> HotAction {
        match at {
            Anchor::Loop { func, ip, .. } => {
                self.recorder = Some(Recorder::new(func, ip));
                self.stats.borrow_mut().recordings += 1;
                self.note(format_args!("record loop at function {func} offset {ip}"));
                HotAction::Record
            }
            // Function-entry traces come with calls in the recorder.
            Anchor::Call { .. } => HotAction::Continue,
        }
    }

    fn record(&mut self, vm: &Vm, at: &RecordPoint<'_>) -> Recording {
        let start = Instant::now();
        let Some(r) = self.recorder.as_mut() else {
            return Recording::Abort;
        };
        let elem = |a, i| vm.array_element(a, i);
        let answer = match r.step(at.func, at.ip, at.code, at.slots, &elem) {
            Step::Continue => Recording::Continue,
            Step::Done(trace) => {
                self.recorder = None;
                match x64::compile(&trace) {
                    Ok(code) => {
                        if self.dump {
                            eprint!("[jit] trace {}:\n{trace}", self.traces.len() + 1);
                        }
                        self.traces.push(Installed { trace, code });
                        self.stats.borrow_mut().traces += 1;
                        let id = NonZeroU32::new(self.traces.len() as u32)
                            .map(TraceId)
                            .unwrap_or(TraceId(NonZeroU32::MIN));
                        self.note(format_args!("compiled trace {}", id.0));
                        Recording::Done(id)
                    }
                    Err(e) => {
                        self.stats.borrow_mut().aborts += 1;
                        self.note(format_args!("abort: {e}"));
                        Recording::Abort
                    }
                }
            }
            Step::Abort(why) => {
                self.recorder = None;
                self.stats.borrow_mut().aborts += 1;
                self.note(format_args!("abort at offset {}: {why}", at.ip));
                Recording::Abort
            }
        };
        self.stats.borrow_mut().compile_seconds += start.elapsed().as_secs_f64();
        answer
    }

    fn cancel(&mut self, _vm: &Vm, _at: Anchor) {
        self.recorder = None;
        self.stats.borrow_mut().aborts += 1;
    }

    fn enter(&mut self, vm: &mut Vm, trace: TraceId, _at: Anchor) -> Result<(), Trap> {
        let Some(t) = self.traces.get(trace.0.get() as usize - 1) else {
            return Err(vm.error_plain("JIT: no such trace"));
        };
        self.stats.borrow_mut().entries += 1;
        let st = vm.jit_state();
        // SAFETY: `jit_state` just synced the block: `frame_top - 1` is the innermost
        // frame, the NORMAL frame of the function the trace was recorded in, at its
        // anchor; its slots start at `stack_base + base` and extend over the function's
        // frame size inside the value stack, which covers every slot the trace names
        // (the recorder only names slots the verified instructions name). `interrupt`
        // points at a live flag. Nothing else touches the slots while the code runs.
        let exit = unsafe {
            let frame = (*st).frame_top.sub(1);
            let slots = (*st).stack_base.add((*frame).base as usize);
            let exit = t.code.run(slots, (*st).interrupt as *const u8);
            match t.trace.snaps.get(exit as usize) {
                Some(s) => (*frame).ip = s.resume_ip,
                None => return Err(vm.error_plain("JIT: a trace exit without a snapshot")),
            }
            exit
        };
        self.stats.borrow_mut().exits += 1;
        if self.log {
            self.note(format_args!("exit {exit} of trace {}", trace.0));
        }
        // The trace pushed no frame and allocated nothing, so there is nothing to
        // commit back (`Vm::jit_state_commit` is for traces that do). Only exit 0 (the
        // loop header) can be the interrupt exit: stop there if the flag is up.
        if exit == 0 {
            vm.check_interrupt()?;
        }
        Ok(())
    }

    fn flush(&mut self) {
        self.recorder = None;
        self.traces.clear();
    }
}
