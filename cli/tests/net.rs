//! The `net` module end to end: the echo server and client of `examples/` on the
//! loopback interface (127.0.0.1, ports the system picks), as separate `hashvm`
//! processes. 100 clients one after the other, a 10 MB transfer that must come back
//! intact, and a server dropping a connection in the middle of a transfer, which the
//! client must report as an error (exit status 1, no crash). Every process has a
//! timeout, so a hang fails the test instead of stalling the suite.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// A running echo server and the address it listens on.
struct Server {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `examples/echo_server.hash` with `args` after the address and waits
    /// (at most 60 s) for its `listening on ADDR` line.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(bin("hashvm"))
            .arg("run")
            .arg(root().join("examples/echo_server.hash"))
            .arg("127.0.0.1:0")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the echo server");
        // Closed at once: an empty input, not /dev/null's (see `common::run`).
        drop(child.stdin.take());
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = match rx.recv_timeout(T) {
            Ok(l) => l,
            Err(e) => {
                let _ = child.kill();
                panic!("the echo server did not start: {e}");
            }
        };
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Server {
            child,
            addr,
            lines: rx,
        }
    }

    /// Waits (at most 60 s) for the server to end; its exit status, the rest of its
    /// output and its standard error.
    fn finish(mut self) -> (i32, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break s.code().unwrap_or(-1);
            }
            if start.elapsed() > T {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the echo server did not finish");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        let rest: Vec<String> = self.lines.try_iter().collect();
        let mut rest = rest.join("\n");
        // The reader thread may still be delivering the last line.
        if rest.is_empty() {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
                rest = l;
            }
        }
        (status, rest, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(addr: &str, mode: &str, arg: &str) -> Run {
    run(
        Command::new(bin("hashvm"))
            .arg("run")
            .arg(root().join("examples/echo_client.hash"))
            .args([addr, mode, arg]),
        T,
    )
}

#[test]
fn echo_a_line() {
    let s = Server::start(&["1"]);
    let r = client(&s.addr, "send", "héllo, wörld");
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "héllo, wörld\n"),
        "{}",
        r.stderr
    );
    let (code, out, err) = s.finish();
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "served 1 clients", "")
    );
}

#[test]
fn a_hundred_clients_one_after_the_other() {
    let s = Server::start(&["100"]);
    let r = client(&s.addr, "many", "100");
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "ok 100 clients\n"),
        "{}",
        r.stderr
    );
    let (code, out, err) = s.finish();
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "served 100 clients", "")
    );
}

#[test]
fn ten_megabytes_come_back_intact() {
    let s = Server::start(&["1"]);
    let r = client(&s.addr, "bulk", "10000000");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("ok 100"), "{}", r.stdout);
    let sent: u64 = r.stdout.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(sent >= 10_000_000, "{sent}");
    let (code, out, _) = s.finish();
    assert_eq!((code, out.as_str()), (0, "served 1 clients"));
}

#[test]
fn a_server_closing_mid_transfer_is_an_error_for_the_client() {
    // The server drops the connection after 100 000 bytes of a 10 MB transfer.
    let s = Server::start(&["1", "100000"]);
    let r = client(&s.addr, "bulk", "10000000");
    assert_eq!(r.code, 1, "stdout {}\nstderr {}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(
        [
            "connection reset",
            "broken pipe",
            "the server closed the connection"
        ]
        .iter()
        .any(|m| r.stderr.contains(m)),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let (code, out, _) = s.finish();
    assert_eq!((code, out.as_str()), (0, "served 1 clients"));
}

#[test]
fn nobody_listening_is_connection_refused() {
    // A port that was free a moment ago: bind it, note it, let it go.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let r = client(&addr, "send", "x");
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        format!("error: connect: {addr}: connection refused\n")
    );
}

#[test]
fn one_program_talks_to_itself() {
    let r = run(
        Command::new(bin("hashvm"))
            .arg("run")
            .arg(root().join("examples/net_loopback.hash")),
        T,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "200 messages, 2890 bytes\nErr(\"timed out\")\nOk(\"bye\")\nOk(())\nErr(\"handle 2 is not open\")\nrefused\nping 0 from a\nping 1 from a\nping 2 from a\nErr(\"timed out\")\n"
    );
}
