//! The hashvm virtual machine: loader, interpreter, generational GC, builtin types and IO.
//!
//! - [`value`]: the 16-byte value layout shared with the JIT.
//! - `heap`: object layouts and the generational collector (copying nursery, mark-compact old generation).
//! - [`vm`]: machine state, frames, allocation, errors.
//! - [`frames`]: the frame stack and the one function that pushes a frame.
//! - [`interp`]: the dispatch loop and the calling convention.
//! - [`jit`]: the host interface for a tracing JIT (hook, counters, register block).
//! - [`loader`]: turning a verified module into running state.
//! - [`display`]: printing, equality and ordering of values.

#![warn(missing_docs)]

pub mod display;
pub mod ffi;
pub mod frames;
mod heap;
pub mod interp;
pub mod jit;
#[cfg(test)]
mod link_in_tests;
pub mod loader;
mod net;
mod ops;
pub mod reify;
pub mod value;
pub mod vm;

pub use heap::{GcStats, MAX_TENURE_AGE};
pub use jit::{Anchor, HotAction, JitHook, RecordPoint, Recording, TraceId, VmState};
pub use value::{Tag, Value};
pub use vm::{Config, RuntimeError, Trap, Vm};

use hashvm_format::Verified;

/// How a program run ended.
#[derive(Debug)]
pub enum Outcome {
    /// `main` returned; the exit status (its i64 result, or 0).
    Exit(i32),
    /// A runtime error, already flushed output; print it and exit 1.
    Error(RuntimeError),
}

/// Loads a verified program and runs its initialisers and entry point. Standard output
/// is flushed before returning.
pub fn run_program(vm: &mut Vm, m: Verified<'_>) -> Outcome {
    let r = (|| -> Result<i32, Trap> {
        vm.load(m)?;
        for &f in &m.inits {
            vm.call(Value::func(f), &[])?;
        }
        match m.entry {
            Some(e) => {
                let v = vm.call(Value::func(e), &[])?;
                Ok(if v.tag == Tag::I64 {
                    v.bits as i64 as i32
                } else {
                    0
                })
            }
            None => Ok(0),
        }
    })();
    // What the program wrote must reach its file: a full disk is an error, not a
    // silent loss (a closed pipe is not: its reader wanted no more).
    if let Err(e) = vm.try_flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe && !matches!(r, Err(Trap::Error(_))) {
            return Outcome::Error(
                vm.error_at_exit(format!("cannot write to standard output: {e}")),
            );
        }
    }
    match r {
        Ok(code) => Outcome::Exit(code),
        Err(Trap::Exit(code)) => Outcome::Exit(code as i32),
        Err(Trap::Error(e)) => Outcome::Error(e),
    }
}
