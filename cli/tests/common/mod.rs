//! Helpers shared by the end-to-end tests of the binaries: their paths, running them
//! with a timeout, scratch directories, and the repository and shared folders.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

pub mod corpus;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// The shared contract directory beside the checkout (`../shared`).
pub fn shared() -> PathBuf {
    root()
        .parent()
        .expect("checkout has a parent")
        .join("shared")
}

/// The path of a binary of this package (`hashvm`, `hashc`, `hashld`, `hashvm-rt`), as Cargo built
/// it for these tests (`CARGO_BIN_EXE_*`): no test builds anything itself.
pub fn bin(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "hashvm" => env!("CARGO_BIN_EXE_hashvm"),
        "hashc" => env!("CARGO_BIN_EXE_hashc"),
        "hashld" => env!("CARGO_BIN_EXE_hashld"),
        "hashvm-rt" => env!("CARGO_BIN_EXE_hashvm-rt"),
        other => panic!("no binary named {other}"),
    })
}

/// Starts `cmd`. A test that has just written an executable (a native one) may find
/// it "busy": another test thread forked while the file was open for writing, and its
/// child holds the descriptor until it execs (Linux's ETXTBSY race). That clears within
/// milliseconds, so it is retried a few times.
pub fn spawn(cmd: &mut Command) -> Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r.expect("spawn"),
        }
    }
}

/// The result of running a command.
#[derive(Debug)]
pub struct Run {
    /// Exit status (-1 if killed by a signal or the timeout).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` with empty standard input, killing it after `timeout`.
///
/// Standard input is a pipe closed at once, not `Stdio::null()`: that opens
/// `/dev/null`, which on some machines (CI's among them) is a regular file holding
/// whatever a build script last wrote there, and a program that reads its input
/// would read that.
pub fn run(cmd: &mut Command, timeout: Duration) -> Run {
    let mut child = spawn(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    drop(child.stdin.take());
    // The pipes are drained while the child runs: one that fills its pipe's buffer
    // (64 KiB of `--jit-dump`) would otherwise block until the timeout.
    let drain = |p: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let Output { status, .. } = child.wait_with_output().expect("wait");
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A fresh empty directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// Makes one whose name starts with `tag`.
    pub fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("hashvm-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A VM's standard output, captured (`Vm::set_output(Box::new(buf.clone()))`), for
/// tests that run the VM in-process.
#[derive(Clone, Default)]
pub struct Buf(pub std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
