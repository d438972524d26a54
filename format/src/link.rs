//! The linker core (in progress).
