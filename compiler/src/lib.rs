//! hashc's front end: the Hash language compiler from source text to a typed, resolved
//! program that the code generator lowers to bytecode.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod ast;
pub mod diag;
pub mod lexer;
pub mod parser;
pub mod span;
