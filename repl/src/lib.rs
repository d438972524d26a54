//! The interactive Hash REPL (`hashvm repl`, or `hashvm` with no arguments).
//!
//! - [`scan`]: when an input is finished, and splitting it into declarations and
//!   expressions.
//! - [`command`]: the `:` commands.
//! - [`complete`]: tab completion.

#![warn(missing_docs)]

pub mod command;
pub mod complete;
pub mod scan;

/// Runs the REPL on the terminal; returns the exit status.
pub fn main() -> i32 {
    eprintln!("error: the REPL is not built yet");
    1
}
