//! Shared plumbing of the command-line tools.
