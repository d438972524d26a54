//! The interactive REPL. Filled in by the REPL work.
