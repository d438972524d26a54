//! The `net.*` instructions: TCP and UDP sockets on `std::net`, as VM IO instructions
//! rather than foreign calls, so that networking keeps every guarantee of the verifier
//! and works wherever the standard library does (SPEC.md §3, system extension).
//!
//! A socket is an `i64` handle into a table the VM owns; the program never sees a file
//! descriptor, so a stale or forged handle is an `Err("... is not open")`, not a read
//! of someone else's socket. Handles are never reused. Every operation that can wait
//! takes a timeout in milliseconds (`<= 0`: no limit) and reports failures as
//! `Err(message)`, with the common cases spelled plainly: `connection refused`,
//! `timed out`, `connection reset`, `broken pipe`.
//!
//! Data is text: `net.read` returns a str. A read that ends inside a UTF-8 sequence
//! keeps the partial sequence for the next read, so a stream of text can be read in
//! chunks of any size without corrupting a character; bytes that are not UTF-8 are an
//! error.

use crate::heap::Kind;
use crate::value::{Tag, Value};
use crate::vm::{Trap, Vm};
use hashvm_format::builtin;
use hashvm_format::opcode::ext_sys as s;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

/// The most one `net.read` returns (a bigger request gets at most this much, as a
/// read may return less than asked anyway): the buffer is allocated per read.
const MAX_READ: usize = 1 << 20;

/// The largest UDP payload (IPv4: 65 535 minus the IP and UDP headers; IPv6 jumbograms
/// aside).
const MAX_DATAGRAM: usize = 65_507;

/// One open socket.
enum Sock {
    Listener(TcpListener),
    /// A connected stream and the bytes of a UTF-8 sequence its last read split.
    Stream(TcpStream, Vec<u8>),
    Udp(UdpSocket),
}

/// The VM's table of open sockets.
#[derive(Default)]
pub(crate) struct Handles {
    open: HashMap<i64, Sock>,
    next: i64,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handles({} open)", self.open.len())
    }
}

/// Whether the system-extension byte `sub` is a `net.*` instruction.
pub(crate) fn is_net(sub: u8) -> bool {
    (s::NET_TCP_LISTEN..=s::NET_UDP_RECV).contains(&sub)
}

/// A plain message for an IO error: the common kinds by name, others as the system
/// says them without the `(os error N)` suffix.
fn message(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        ErrorKind::ConnectionAborted => "connection aborted".into(),
        ErrorKind::BrokenPipe => "broken pipe".into(),
        ErrorKind::AddrInUse => "address in use".into(),
        ErrorKind::AddrNotAvailable => "address not available".into(),
        ErrorKind::NotConnected => "not connected".into(),
        _ => {
            let t = e.to_string();
            let t = match t.find(" (os error") {
                Some(i) => t[..i].to_string(),
                None => t,
            };
            let mut c = t.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => t,
            }
        }
    }
}

/// `t` milliseconds as a timeout (`None`: no limit).
fn timeout(t: i64) -> Option<Duration> {
    (t > 0).then(|| Duration::from_millis(t as u64))
}

fn addrs(a: &str) -> Result<Vec<SocketAddr>, String> {
    match a.to_socket_addrs() {
        Ok(v) => {
            let v: Vec<SocketAddr> = v.collect();
            if v.is_empty() {
                Err(format!("{a}: no address"))
            } else {
                Ok(v)
            }
        }
        Err(e) => Err(format!("{a}: {}", message(&e))),
    }
}

/// Waits until `fd` is readable or `t` passes (`None`: no limit). `Ok(false)` on
/// timeout.
#[cfg(unix)]
fn wait_readable(fd: std::os::fd::RawFd, t: Option<Duration>) -> std::io::Result<bool> {
    let deadline = t.map(|d| Instant::now() + d);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                left.as_millis().min(i32::MAX as u128) as i32
            }
        };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r > 0 {
            return Ok(true);
        }
        if r == 0 {
            return Ok(false);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Accepts the next connection, waiting at most `t`.
fn accept(l: &TcpListener, t: Option<Duration>) -> std::io::Result<TcpStream> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        if !wait_readable(l.as_raw_fd(), t)? {
            return Err(ErrorKind::TimedOut.into());
        }
        l.accept().map(|(s, _)| s)
    }
    #[cfg(not(unix))]
    {
        let start = Instant::now();
        l.set_nonblocking(true)?;
        let r = loop {
            match l.accept() {
                Ok((s, _)) => break Ok(s),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if t.is_some_and(|t| start.elapsed() >= t) {
                        break Err(ErrorKind::TimedOut.into());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => break Err(e),
            }
        };
        l.set_nonblocking(false)?;
        let s = r?;
        s.set_nonblocking(false)?;
        Ok(s)
    }
}

fn connect(a: &str, t: Option<Duration>) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for addr in addrs(a)? {
        let r = match t {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match r {
            Ok(s) => return Ok(s),
            Err(e) => last = message(&e),
        }
    }
    Err(last)
}

/// Reads at least one whole char (or the end of the stream) into a str: the bytes
/// `pending` from the last read, then at most `max` more.
fn read_text(s: &mut TcpStream, pending: &mut Vec<u8>, max: usize) -> Result<String, String> {
    let mut buf = std::mem::take(pending);
    loop {
        let have = buf.len();
        buf.resize(have + max, 0);
        let n = match s.read(&mut buf[have..]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => 0,
            Err(e) => {
                buf.truncate(have);
                *pending = buf;
                return Err(message(&e));
            }
        };
        buf.truncate(have + n);
        if n == 0 {
            if buf.is_empty() {
                return Ok(String::new());
            }
            return Err("the stream ended inside a UTF-8 sequence".into());
        }
        match std::str::from_utf8(&buf) {
            Ok(_) => return String::from_utf8(buf).map_err(|_| "invalid UTF-8 data".into()),
            Err(e) if e.error_len().is_none() => {
                let k = e.valid_up_to();
                if k > 0 {
                    *pending = buf.split_off(k);
                    return String::from_utf8(buf).map_err(|_| "invalid UTF-8 data".into());
                }
                // Only part of one char so far: read on.
            }
            Err(_) => return Err("invalid UTF-8 data".into()),
        }
    }
}

impl Vm {
    fn net_int(&self, v: Value, what: &str) -> Result<i64, Trap> {
        if v.tag != Tag::I64 {
            return Err(self.error_plain(format!("{what} expects i64, got {}", self.type_name(v))));
        }
        Ok(v.bits as i64)
    }

    fn net_str(&self, v: Value, what: &str) -> Result<String, Trap> {
        if !crate::interp::is_str(v) {
            return Err(self.error_plain(format!("{what} expects str, got {}", self.type_name(v))));
        }
        // SAFETY: a live STR object (checked above); copied before any allocation.
        Ok(unsafe { crate::heap::str(v.ptr()) }.to_owned())
    }

    fn add_sock(&mut self, s: Sock) -> i64 {
        self.net.next += 1;
        let h = self.net.next;
        self.net.open.insert(h, s);
        h
    }

    /// Executes a `net.*` instruction whose slot operands are `o` (`o[0]` the
    /// destination), in the frame at stack index `b`.
    pub(crate) fn net_op(&mut self, sub: u8, b: usize, o: &[usize; 4]) -> Result<(), Trap> {
        let arg = |vm: &Vm, i: usize| vm.stack[b + o[i]];
        let name = hashvm_format::Op::decode(&[hashvm_format::opcode::EXT_SYS, sub])
            .map_or("net", |(op, _)| op.mnemonic());
        // Each arm gives Ok(value for Ok(..)) or Err(message for Err(..)); faults (ill-
        // typed operands) return at once.
        let r: Result<Value, String> = match sub {
            s::NET_TCP_LISTEN | s::NET_UDP_BIND => {
                let a = self.net_str(arg(self, 1), name)?;
                match addrs(&a) {
                    Err(e) => Err(e),
                    Ok(v) => {
                        let r = if sub == s::NET_TCP_LISTEN {
                            TcpListener::bind(&v[..]).map(Sock::Listener)
                        } else {
                            UdpSocket::bind(&v[..]).map(Sock::Udp)
                        };
                        match r {
                            Ok(sock) => Ok(Value::i64(self.add_sock(sock))),
                            Err(e) => Err(format!("{a}: {}", message(&e))),
                        }
                    }
                }
            }
            s::NET_TCP_ACCEPT => {
                let h = self.net_int(arg(self, 1), name)?;
                let t = timeout(self.net_int(arg(self, 2), name)?);
                match self.net.open.get(&h) {
                    Some(Sock::Listener(l)) => match accept(l, t) {
                        Ok(st) => Ok(Value::i64(self.add_sock(Sock::Stream(st, Vec::new())))),
                        Err(e) => Err(message(&e)),
                    },
                    _ => Err(format!("handle {h} is not an open TCP listener")),
                }
            }
            s::NET_TCP_CONNECT => {
                let a = self.net_str(arg(self, 1), name)?;
                let t = timeout(self.net_int(arg(self, 2), name)?);
                match connect(&a, t) {
                    Ok(st) => Ok(Value::i64(self.add_sock(Sock::Stream(st, Vec::new())))),
                    Err(e) => Err(format!("{a}: {e}")),
                }
            }
            s::NET_READ | s::NET_UDP_RECV => {
                let h = self.net_int(arg(self, 1), name)?;
                let n = self.net_int(arg(self, 2), name)?;
                let t = timeout(self.net_int(arg(self, 3), name)?);
                if n < 1 {
                    return Err(self.error_plain(format!(
                        "{name}: the byte count must be at least 1, not {n}"
                    )));
                }
                let n = (n as u64).min(MAX_READ as u64) as usize;
                match (sub, self.net.open.get_mut(&h)) {
                    (s::NET_READ, Some(Sock::Stream(st, pending))) => {
                        match st.set_read_timeout(t) {
                            Err(e) => Err(message(&e)),
                            Ok(()) => match read_text(st, pending, n) {
                                Ok(text) => Ok(self.new_str(&text)?),
                                Err(e) => Err(e),
                            },
                        }
                    }
                    (s::NET_UDP_RECV, Some(Sock::Udp(u))) => {
                        let n = n.min(MAX_DATAGRAM);
                        let mut buf = vec![0u8; n];
                        match u.set_read_timeout(t).and_then(|()| u.recv_from(&mut buf)) {
                            Err(e) => Err(message(&e)),
                            Ok((k, from)) => match String::from_utf8(buf[..k.min(n)].to_vec()) {
                                Err(_) => Err("a datagram that is not UTF-8".into()),
                                Ok(text) => Ok(self.new_str_pair(&text, &from.to_string())?),
                            },
                        }
                    }
                    (s::NET_READ, _) => Err(format!("handle {h} is not an open TCP stream")),
                    _ => Err(format!("handle {h} is not an open UDP socket")),
                }
            }
            s::NET_WRITE => {
                let h = self.net_int(arg(self, 1), name)?;
                let text = self.net_str(arg(self, 2), name)?;
                let t = timeout(self.net_int(arg(self, 3), name)?);
                match self.net.open.get_mut(&h) {
                    Some(Sock::Stream(st, _)) => {
                        match st
                            .set_write_timeout(t)
                            .and_then(|()| st.write_all(text.as_bytes()))
                            .and_then(|()| st.flush())
                        {
                            Ok(()) => Ok(Value::UNIT),
                            Err(e) => Err(message(&e)),
                        }
                    }
                    _ => Err(format!("handle {h} is not an open TCP stream")),
                }
            }
            s::NET_UDP_SEND => {
                let h = self.net_int(arg(self, 1), name)?;
                let text = self.net_str(arg(self, 2), name)?;
                let a = self.net_str(arg(self, 3), name)?;
                match (self.net.open.get(&h), addrs(&a)) {
                    (Some(Sock::Udp(u)), Ok(v)) => match u.send_to(text.as_bytes(), &v[..]) {
                        Ok(_) => Ok(Value::UNIT),
                        Err(e) => Err(format!("{a}: {}", message(&e))),
                    },
                    (Some(Sock::Udp(_)), Err(e)) => Err(e),
                    _ => Err(format!("handle {h} is not an open UDP socket")),
                }
            }
            s::NET_CLOSE => {
                let h = self.net_int(arg(self, 1), name)?;
                match self.net.open.remove(&h) {
                    Some(_) => Ok(Value::UNIT),
                    None => Err(format!("handle {h} is not open")),
                }
            }
            s::NET_LOCAL_ADDR => {
                let h = self.net_int(arg(self, 1), name)?;
                let a = match self.net.open.get(&h) {
                    Some(Sock::Listener(l)) => l.local_addr(),
                    Some(Sock::Stream(st, _)) => st.local_addr(),
                    Some(Sock::Udp(u)) => u.local_addr(),
                    None => Err(std::io::Error::other(format!("handle {h} is not open"))),
                };
                match a {
                    Ok(a) => Ok(self.new_str(&a.to_string())?),
                    Err(e) => Err(message(&e)),
                }
            }
            _ => return Err(self.error_plain(format!("unknown net instruction 0x{sub:02x}"))),
        };
        let v = match r {
            Ok(v) => self.result(true, v)?,
            Err(m) => {
                let m = self.new_str(&m)?;
                self.result(false, m)?
            }
        };
        self.stack[b + o[0]] = v;
        Ok(())
    }

    /// The tuple `(a, b)` of two new strs.
    fn new_str_pair(&mut self, a: &str, b: &str) -> Result<Value, Trap> {
        let mark = self.roots.len();
        let r = (|| {
            let x = self.new_str(a)?;
            self.roots.push(x);
            let y = self.new_str(b)?;
            self.roots.push(y);
            let vals = [self.roots[mark], self.roots[mark + 1]];
            self.new_values(Kind::DATA, 0, builtin::TUPLE, &vals)
        })();
        self.roots.truncate(mark);
        r
    }
}
