//! A pseudo-terminal harness: starts the real `hashvm` binary on a pty, types into it
//! and reads the screen, as a person would use the REPL.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one expectation may wait (generous: two shared cores, debug build).
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// The `hashvm` binary Cargo built for these tests.
pub fn hashvm() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hashvm"))
}

/// A fresh scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new empty directory named after `tag`.
    pub fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!(
            "hashvm-repl-{tag}-{}-{:?}",
            std::process::id(),
            Instant::now()
        ));
        let p = PathBuf::from(p.to_string_lossy().replace(
            |c: char| !(c.is_ascii_alphanumeric() || "/-_.".contains(c)),
            "_",
        ));
        std::fs::create_dir_all(&p).expect("create scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opening a pty and spawning on it happen under this lock, so that no other test's
/// child inherits our descriptors between `openpty` and marking them close-on-exec.
static SPAWN: Mutex<()> = Mutex::new(());

/// The REPL running on a pseudo-terminal.
pub struct Repl {
    master: File,
    child: Child,
    screen: Arc<Mutex<Vec<u8>>>,
    /// Where the next expectation starts looking (an index into the cleaned screen).
    cursor: usize,
    /// Keeps the history file's directory alive.
    pub scratch: Scratch,
}

fn cloexec(fd: i32) {
    // SAFETY: fcntl on a descriptor we own, with valid flag arguments.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
    }
}

impl Repl {
    /// Starts `hashvm repl` (or `hashvm` with `args` empty) in `dir` on a 200-column pty.
    pub fn start_with(args: &[&str], dir: Option<&Path>) -> Repl {
        let bin = hashvm();
        let scratch = Scratch::new("pty");
        let guard = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
        let mut master: i32 = -1;
        let mut slave: i32 = -1;
        let ws = libc::winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the given out-pointers; the name
        // and termios pointers may be null; `ws` outlives the call.
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(r, 0, "openpty failed: {}", std::io::Error::last_os_error());
        cloexec(master);
        cloexec(slave);
        // SAFETY: openpty just returned these descriptors; nothing else owns them.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR") // as a user's terminal: errors coloured
            .env("HASH_HISTORY", scratch.0.join("history"))
            .env_remove("HASH_PATH")
            .stdin(Stdio::from(slave.try_clone().expect("dup slave")))
            .stdout(Stdio::from(slave.try_clone().expect("dup slave")))
            .stderr(Stdio::from(slave));
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        // SAFETY: between fork and exec the closure only calls async-signal-safe
        // functions (setsid, ioctl) and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                // A new session whose controlling terminal is the pty (standard input),
                // so that Ctrl-C typed into it raises SIGINT in the REPL.
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn hashvm on a pty");
        drop(cmd); // closes our copies of the slave side
        drop(guard);
        let master = File::from(master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break, // EIO once the child has closed the pty
                    Ok(n) => sink
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]),
                }
            }
        });
        Repl {
            master,
            child,
            screen,
            cursor: 0,
            scratch,
        }
    }

    /// Starts `hashvm repl` in the current directory.
    pub fn start() -> Repl {
        Repl::start_with(&["repl"], None)
    }

    /// Everything shown so far, with terminal escape sequences and carriage returns
    /// removed.
    pub fn screen(&self) -> String {
        let raw = self
            .screen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        clean(&String::from_utf8_lossy(&raw))
    }

    /// Everything shown so far, escape sequences included.
    pub fn raw_screen(&self) -> String {
        let raw = self
            .screen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        String::from_utf8_lossy(&raw).into_owned()
    }

    /// Types `text` (use `\r` for Enter, `\x03` for Ctrl-C, `\x04` for Ctrl-D).
    pub fn send(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("write to pty");
        self.master.flush().expect("flush pty");
    }

    /// Types a line and Enter.
    pub fn line(&mut self, text: &str) {
        self.send(&format!("{text}\r"));
    }

    /// Waits until `what` appears on the screen after the previous match; returns the
    /// screen text between the previous match and the end of this one.
    pub fn expect(&mut self, what: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if let Some(k) = s.get(self.cursor..).and_then(|t| t.find(what)) {
                let end = self.cursor + k + what.len();
                let seen = s[self.cursor..end].to_string();
                self.cursor = end;
                return seen;
            }
            if start.elapsed() > TIMEOUT {
                panic!(
                    "timed out waiting for {what:?}; screen after the last match:\n{}",
                    s.get(self.cursor..).unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the main prompt.
    pub fn prompt(&mut self) -> String {
        self.expect("hash> ")
    }

    /// Waits for the process to exit; returns its status.
    pub fn wait_exit(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code().unwrap_or(-1);
            }
            if start.elapsed() > TIMEOUT {
                let _ = self.child.kill();
                panic!("the REPL did not exit; screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The history file this REPL uses.
    pub fn history_file(&self) -> PathBuf {
        self.scratch.0.join("history")
    }

    /// The raw descriptor of the master side (for window-size tweaks).
    pub fn master_fd(&self) -> i32 {
        self.master.as_raw_fd()
    }
}

impl Drop for Repl {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `s` without ANSI escape sequences (CSI, OSC, two-byte escapes) and without `\r`.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\x1b' => match it.next() {
                Some('[') => {
                    // Parameters and intermediates, then one final byte @..~.
                    for d in it.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    // OSC: up to BEL or ESC \.
                    while let Some(d) = it.next() {
                        if d == '\x07' {
                            break;
                        }
                        if d == '\x1b' {
                            it.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' | '\x07' => {}
            _ => out.push(c),
        }
    }
    out
}
