//! hashvm's tracing JIT (issue 9): the trace IR with folding and CSE as it is emitted
//! ([`ir`], every operation declared once in one table), the recorder ([`record`]),
//! the optimisations ([`opt`]), the x86-64 backend ([`x64`], dynasm) and the [`Jit`]
//! hook that ties them to the VM (`hashvm run --jit=on`, the default on x86-64); the
//! ahead-of-time compiler of native executables ([`aot`]) shares the IR and emitter.
//!
//! What it compiles: hot loops (from a back-edge around to it) and the entries of
//! self-recursive functions, whose recursive calls run natively (`call.rec`), with
//! calls inlined (their frames virtual, pushed by the exits that need them) and the
//! function-entry trees of other functions called natively (`call.tree`). Values of
//! every type are carried, each load guarded on the tag it had when recorded: typed
//! i64/f64/bool arithmetic and comparisons, globals, array reads and writes (flat
//! arrays included), field access and pattern tests on data values, and allocation
//! (`con`, `cons`, `tuple`, `alit`, `closure`: inline bump allocation, `new`, with its
//! fields stored at once). Foreign calls, `print`, `tostr`, `scat` and the `net.*`
//! instructions run inside traces through the VM's helper (`call.insn`); foreign
//! functions with i64/f64 signatures are called directly (`call.c`). Exits taken often
//! grow side traces, linked into their parent's exit; a trace reaching another loop's
//! compiled header links to it.
//!
//! The optimisations: load forwarding with alias analysis, header guards decided on
//! objects the trace allocated, and CSE in the builder; loop peeling with loop-carried
//! values in registers (`phi`s), dead slot stores dropped by bytecode liveness, slot
//! stores sunk into the exits that need them, bounds checks merged, and *allocation
//! sinking* (`opt::sink_allocations`, LuaJIT's `lj_opt_sink.c`): an allocation that
//! only the trace's exits can see (a tuple or `Option` returned and destructured at
//! once, a constructor only matched) is not made on the trace; an exit whose state
//! holds one rebuilds it (`hook`, `Vm::jit_unsink`). A register allocator with
//! spilling, then machine code per trace, exits materialising the interpreter's state.
//!
//! What stays interpreted: inner loops a trace meets without a trace of their own yet
//! (it waits for them), more than 12 inlined frames, other IO, and anything the
//! recorder cannot follow (it aborts, and the anchor backs off).
//! `cli/tests/jit_differential` runs the conformance examples, benchmark programs and
//! the JIT's own programs (`cli/tests/jit`, which make every kind of guard fail) with
//! the JIT off, on, at hotness 1 and under GC stress, and requires identical output.

pub mod aot;
#[cfg(target_arch = "x86_64")]
pub mod disasm;
pub mod fxhash;
#[cfg(target_arch = "x86_64")]
pub mod hook;
pub mod ir;
pub mod kinds;
pub mod opt;
pub mod record;
#[cfg(target_arch = "x86_64")]
pub mod x64;

#[cfg(target_arch = "x86_64")]
pub use hook::{Jit, JitStats};
