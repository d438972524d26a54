//! hashvm's tracing JIT (issue 9), being built in this order: the trace IR with
//! folding and CSE as it is emitted ([`ir`]), the x86-64 backend ([`x64`], dynasm),
//! then the recorder on the VM's JIT host interface, snapshots of inlined frames, side
//! traces and the optimisations: load forwarding in the builder, loop peeling with
//! loop-carried values in registers ([`opt`]) and spilling in the register allocator
//! are done; allocation sinking is not.
//!
//! What exists now: the IR (declared once in one table), its builder, the recorder
//! (loops and self tail calls over i64, f64, bool and array values: moves, constants,
//! globals, typed arithmetic and comparisons, array reads and writes, compare-and-jumps,
//! and calls inlined with their frames virtual; function-entry traces of self-recursive
//! functions, whose recursive calls run natively; side traces from exits taken often),
//! a backend that compiles such traces to machine code running on the frames' slots,
//! with an exit per guard that materialises the inlined frames and resumes the
//! interpreter at the guarded instruction, and the [`Jit`] hook that ties them to the
//! VM (`hashvm run --jit=on`, the default on x86-64). Foreign calls, `print`, `tostr`,
//! `scat` and the `net.*` instructions run inside loop traces through the VM's helper
//! (`call.insn`: state written back before, every value reloaded after, a status code
//! back; `x64::call_helper` emits such calls; foreign functions with i64/f64 signatures
//! are called directly, `call.c`), and untyped values (strings, functions)
//! are moved as copies in memory. Everything else (field access, allocation, other IO,
//! inner loops) aborts its recording, and the code stays interpreted.
//! `cli/tests/jit_differential` runs the conformance examples, benchmark programs and
//! the JIT's own programs (`cli/tests/jit`, which make every kind of guard fail) with
//! the JIT off, on, at hotness 1 and under GC stress, and requires identical output.

pub mod aot;
#[cfg(target_arch = "x86_64")]
pub mod disasm;
#[cfg(target_arch = "x86_64")]
pub mod hook;
pub mod ir;
pub mod opt;
pub mod record;
#[cfg(target_arch = "x86_64")]
pub mod x64;

#[cfg(target_arch = "x86_64")]
pub use hook::{Jit, JitStats};
