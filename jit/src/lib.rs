//! hashvm's tracing JIT (issue 9), being built in this order: the trace IR with
//! folding and CSE as it is emitted ([`ir`]), the x86-64 backend ([`x64`], dynasm),
//! then the recorder on the VM's JIT host interface, snapshots of inlined frames, side
//! traces and the optimisations (loop peeling with loop-carried values in registers,
//! allocation sinking).
//!
//! What exists now: the IR (declared once in one table), its builder, the recorder
//! (single-frame loops and self tail calls over i64, f64, bool and array values:
//! moves, constants, typed arithmetic and comparisons, array reads and writes,
//! compare-and-jumps), a backend that compiles such traces to machine code running on
//! the frame's slots, with an exit per guard that resumes the interpreter at the
//! guarded instruction, and the [`Jit`] hook that ties them to the VM (`hashvm run
//! --jit=on`, the default on x86-64). Everything else a loop does (calls, field
//! access, allocation, IO) aborts its recording, and the loop stays interpreted.
//! `cli/tests/jit_differential` runs the conformance examples and benchmark programs
//! with the JIT off, on, at hotness 1 and under GC stress, and requires identical
//! output.

#[cfg(target_arch = "x86_64")]
pub mod hook;
pub mod ir;
pub mod record;
#[cfg(target_arch = "x86_64")]
pub mod x64;

#[cfg(target_arch = "x86_64")]
pub use hook::{Jit, JitStats};
