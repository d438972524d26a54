//! hashvm's tracing JIT (issue 9), being built in this order: the trace IR with
//! folding and CSE as it is emitted ([`ir`]), the x86-64 backend ([`x64`], dynasm),
//! then the recorder on the VM's JIT host interface, snapshots of inlined frames, side
//! traces and the optimisations (loop peeling with loop-carried values in registers,
//! allocation sinking).
//!
//! What exists now: the IR (declared once in one table), its builder, and a backend
//! that compiles single-frame loop traces over i64 and f64 values to machine code that
//! runs on a frame's slots, exits through snapshots that write the interpreter's
//! state back, and polls the interrupt flag at every back-edge. It is tested by
//! compiling hand-built traces and comparing their effect with the interpreter's
//! semantics; the VM does not call it yet.

pub mod ir;
pub mod record;
#[cfg(target_arch = "x86_64")]
pub mod x64;
