//! The `.hbc` bytecode format of hashvm: everything a compiler writer needs to produce a
//! program for the machine, and everything the machine needs to read one.
//!
//! - [`opcode`]: the instruction set, one table from which all else is derived.
//! - [`insn`]: decoded instructions (for tools; the interpreter reads bytes).
//! - [`module`]: the in-memory form of a file.
//! - [`binary`]: the byte encoding (`read`, `write`).
//! - [`builder`]: the Rust API a front end emits code through.

#![warn(missing_docs)]

pub mod binary;
pub mod builder;
pub mod insn;
pub mod module;
pub mod opcode;

pub use binary::{read, write, FormatError};
pub use builder::{Arg, BuildError, FunctionBuilder, Label, ModuleBuilder};
pub use insn::{DecodeError, Insn, Operand};
pub use module::*;
pub use opcode::{Op, OperandKind};
