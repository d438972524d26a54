//! The Hash compiler (hashc). Filled in by the compiler work.
