//! The `.hbc` bytecode format of hashvm: everything a compiler writer needs to produce a
//! program for the machine, and everything the machine needs to read one.
//!
//! - [`opcode`]: the instruction set, one table from which all else is derived.
//! - [`insn`]: decoded instructions (for tools; the interpreter reads bytes).
//! - [`module`]: the in-memory form of a file.
//! - [`binary`]: the byte encoding (`read`, `write`).
//! - [`builder`]: the Rust API a front end emits code through.
//! - [`mod@verify`]: the static checks run on every load; [`clobber`] is its check that
//!   no slot a call clobbered is read before it is written.
//! - [`hasm`]: the `.hasm` text form (assembler and disassembler).
//! - [`link`]: the linker core, which merges objects and libraries into one module.
//! - [`liveness`]: which frame slots are live before each instruction (for JITs and
//!   compilers that keep slots in registers).

#![warn(missing_docs)]

pub mod bignum;
pub mod binary;
pub mod builder;
pub mod clobber;
pub mod hasm;
pub mod insn;
pub mod link;
pub mod liveness;
pub mod module;
pub mod opcode;
pub mod verify;

pub use bignum::{BigInt, BigRatio};
pub use binary::{read, write, FormatError};
pub use builder::{Arg, BuildError, FunctionBuilder, Label, LabelError, Labels, ModuleBuilder};
pub use insn::{DecodeError, Insn, Operand};
pub use module::*;
pub use opcode::{Op, OperandKind};
pub use verify::{verify, verify_owned, Verified, VerifiedModule, VerifyError};
