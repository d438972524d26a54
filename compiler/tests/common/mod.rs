//! Helpers shared by the compiler's integration tests.
// Each test file uses a different subset.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// `../shared/conformance` beside the workspace root (`CARGO_MANIFEST_DIR/..`); a
/// missing folder fails the test, it is never a reason to test less.
pub fn conformance_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    assert!(
        dir.join("README.md").is_file(),
        "the conformance examples are missing: no {}/README.md (the shared folder must be \
         ../shared relative to the workspace root)",
        dir.display()
    );
    dir
}

/// A VM's standard output, captured (`Vm::set_output(Box::new(sink.clone()))`).
#[derive(Clone, Default)]
pub struct Sink(pub Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
