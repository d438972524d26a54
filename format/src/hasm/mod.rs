//! The `.hasm` text form of a module: an assembler ([`assemble`]) and a disassembler
//! ([`disassemble`]).
//!
//! It exists so that people can read what a compiler produced, write test programs and
//! runtime pieces by hand, and so that tests can state bytecode legibly. The text
//! expresses *everything* a `.hbc` file can hold, including files the verifier would
//! reject, so that `write(assemble(disassemble(m))) == write(m)` for every module that
//! decodes: where a label or a name cannot say something (a jump into the middle of an
//! instruction, an undecodable byte, a name shared by two functions), the disassembler
//! falls back to numbers, `$+N` offsets and `.bytes` escapes.
//!
//! SPEC.md ("Assembly language (.hasm)") is the reference for the syntax; in brief:
//!
//! ```
//! use hashvm_format::hasm::{assemble, disassemble};
//! let src = r#"
//! ; comments run from `;` to the end of the line
//! .module executable
//! .type Shape
//!   | Circle(radius)
//!   | Rect/2
//! .global origin = (0.0, 0.0)
//! .func area/1 slots=3
//!     jntag r0, 0, rect          ; not a Circle?
//!     field r1, r0, 0
//!     mul.f64 r1, r1, r1
//!     ret r1
//! rect:
//!     field r1, r0, 0
//!     field r2, r0, 1
//!     mul.f64 r1, r1, r2
//!     ret r1
//! .end
//! .func main/0
//!     loadf r0, 2.0
//!     con r1, Shape, Circle, r0, 1
//!     callk r2, area, r1, 1
//!     f64.to_i64 r2, r2
//!     ret r2
//! .end
//! .entry main
//! "#;
//! let m = assemble(src, "area.hasm").expect("assembles");
//! hashvm_format::verify(&m).expect("verifies");
//! let again = assemble(&disassemble(&m), "dis.hasm").expect("reassembles");
//! assert_eq!(hashvm_format::write(&again), hashvm_format::write(&m));
//! ```

use crate::bignum::{BigInt, BigRatio};
use crate::binary::MAX_CONST_DEPTH;
use crate::builder::{Label, LabelError, Labels};
use crate::insn::{DecodeError, Insn, Operand};
use crate::module::*;
use crate::opcode::{jump_table, Op, OperandKind};
use std::collections::HashMap;
use std::fmt::{self, Write as _};

mod asm;
mod dis;
mod lexer;
mod number;

pub use asm::assemble;
use asm::*;
pub use dis::{disassemble, disassemble_function, function_index};
use lexer::*;
use number::*;

/// One assembly error, with the position it was found at. `assemble` returns all the
/// errors it could find in one run (up to a limit), sorted by position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// The file name given to [`assemble`], for display.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for AsmError {}

/// At most this many errors are reported by one run.
pub(super) const MAX_ERRORS: usize = 100;

/// The bits of the canonical NaN, written `nan` (other NaNs are written `bits 0x...`).
pub(super) const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Words that have a meaning of their own where a name may stand; the disassembler
/// quotes names equal to one of them.
pub(super) const KEYWORDS: &[&str] = &[
    "import",
    "uninit",
    "true",
    "false",
    "i64",
    "u64",
    "f64",
    "big",
    "ratio",
    "bits",
    "inf",
    "nan",
    "NaN",
    "infinity",
    "closure",
    "fn",
    "ref",
    "global",
    "type",
    "type_index",
    "else",
    "executable",
    "linkable",
];
