//! The Hash standard library, embedded. Filled in by the standard-library work.
