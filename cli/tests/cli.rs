//! The three binaries end to end, as a user meets them: the README's separate
//! compilation pattern, where libraries are found, `--help`/`--version`, the `-o`
//! rules, arguments that are not UTF-8, and output to a closed pipe or a full disk.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hashvm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashvm"))
}
fn hashc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashc"))
}
fn hashld() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashld"))
}

/// Exit status, standard output and standard error of a finished command.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn go(cmd: &mut Command, dir: &Path) -> Out {
    let o = cmd
        .current_dir(dir)
        // An empty pipe, not /dev/null: see `common::run`.
        .stdin(Stdio::piped())
        .output()
        .expect("spawn");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A fresh scratch directory, removed on drop.
struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("hashvm-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn put(&self, name: &str, text: &str) {
        let p = self.0.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const UTIL: &str = "double := (x: i64) -> i64 => x * 2;\n";
const APP: &str = "u := import(\"util\");\nmain := () => { println(to_str(u.double(21))); };\n";

fn ok(o: &Out, what: &str) {
    assert_eq!(o.code, 0, "{what}: {}", o.stderr);
}

/// The README's pattern links with or without `-L .`, and an object satisfies the
/// library it defines whatever its file is called.
#[test]
fn objects_on_the_command_line_satisfy_their_libraries() {
    let s = Scratch::new("readme");
    s.put("util.hash", UTIL);
    s.put("app.hash", APP);
    ok(
        &go(hashc().args(["-c", "util.hash", "-o", "util.hbc"]), &s.0),
        "util",
    );
    ok(
        &go(hashc().args(["-c", "app.hash", "-o", "app.hbc"]), &s.0),
        "app",
    );
    for args in [
        vec!["app.hbc", "util.hbc", "-o", "out.hbc"],
        vec!["app.hbc", "util.hbc", "-o", "out.hbc", "-L", "."],
        vec!["util.hbc", "app.hbc", "./util.hbc", "-o", "out.hbc"],
    ] {
        ok(&go(hashld().args(&args), &s.0), &format!("hashld {args:?}"));
        let r = go(hashvm().args(["run", "out.hbc"]), &s.0);
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, "42\n"),
            "{args:?}: {}",
            r.stderr
        );
    }
    std::fs::create_dir_all(s.0.join("build")).unwrap();
    std::fs::rename(s.0.join("util.hbc"), s.0.join("build/util.o.hbc")).unwrap();
    ok(
        &go(
            hashld().args(["app.hbc", "build/util.o.hbc", "-o", "out2.hbc"]),
            &s.0,
        ),
        "renamed object",
    );
    assert_eq!(
        std::fs::read(s.0.join("out.hbc")).unwrap(),
        std::fs::read(s.0.join("out2.hbc")).unwrap()
    );
}

/// `hashvm run` of a linkable object finds its libraries beside it, after `-L`, and
/// says where it looked when one is missing.
#[test]
fn run_looks_beside_the_file_and_says_where_it_looked() {
    let s = Scratch::new("beside");
    s.put("lib/util.hash", UTIL);
    s.put("lib/app.hash", APP);
    let lib = s.0.join("lib");
    ok(
        &go(hashc().args(["-c", "util.hash", "-o", "util.hbc"]), &lib),
        "util",
    );
    ok(
        &go(hashc().args(["-c", "app.hash", "-o", "app.hbc"]), &lib),
        "app",
    );
    let r = go(hashvm().args(["run", "lib/app.hbc"]), &s.0);
    assert_eq!((r.code, r.stdout.as_str()), (0, "42\n"), "{}", r.stderr);
    // -L comes first: a different util there wins.
    s.put("other/util.hash", "double := (x: i64) -> i64 => x * 3;\n");
    ok(
        &go(
            hashc().args(["-c", "util.hash", "-o", "util.hbc"]),
            &s.0.join("other"),
        ),
        "other util",
    );
    let r = go(hashvm().args(["run", "-L", "other", "lib/app.hbc"]), &s.0);
    assert_eq!((r.code, r.stdout.as_str()), (0, "63\n"), "{}", r.stderr);
    std::fs::remove_file(lib.join("util.hbc")).unwrap();
    let r = go(hashvm().args(["run", "-L", "nowhere", "lib/app.hbc"]), &s.0);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("error: library `util` not found")
            && r.stderr
                .contains("looked for util.hbc in: nowhere (-L), lib (beside lib/app.hbc)")
            && r.stderr.contains("the bundled standard library"),
        "{}",
        r.stderr
    );
    // An object with nothing to run says so, not "no `main`".
    let r = go(hashvm().args(["run", "util.hbc"]), &s.0.join("other"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("without an entry point"), "{}", r.stderr);
    // A function called `main` without `.entry` is not an entry point, and the error
    // says why.
    s.put("m.hasm", ".func main/0\n    retu\n.end\n");
    ok(&go(hashvm().args(["asm", "m.hasm"]), &s.0), "asm");
    let r = go(hashvm().args(["run", "m.hbc"]), &s.0);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("it has a function `main`, but a program starts at its entry point"),
        "{}",
        r.stderr
    );
}

#[test]
fn help_and_version_on_every_binary() {
    let s = Scratch::new("help");
    for (mut cmd, name) in [
        (hashvm(), "hashvm"),
        (hashc(), "hashc"),
        (hashld(), "hashld"),
    ] {
        let r = go(cmd.arg("--help"), &s.0);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert!(r.stdout.starts_with("usage:"), "{name}: {}", r.stdout);
        let r = go(cmd_of(name).arg("--version"), &s.0);
        assert_eq!(r.code, 0);
        assert_eq!(r.stdout, format!("{name} {}\n", env!("CARGO_PKG_VERSION")));
        let r = go(cmd_of(name).arg("--frobnicate"), &s.0);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr.starts_with("error: invalid option '--frobnicate'"),
            "{}",
            r.stderr
        );
    }
    let r = go(hashvm().args(["run", "--help"]), &s.0);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("--heap-limit"));
}

fn cmd_of(name: &str) -> Command {
    match name {
        "hashvm" => hashvm(),
        "hashc" => hashc(),
        _ => hashld(),
    }
}

/// `-o` is required where the usage says so; defaults are the documented ones.
#[test]
fn output_file_rules() {
    let s = Scratch::new("dash-o");
    s.put("x.hash", "main := () => { println(\"x\"); };\n");
    let r = go(hashc().args(["-c", "x.hash"]), &s.0);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("-c needs an output file"), "{}", r.stderr);
    ok(&go(hashc().arg("x.hash"), &s.0), "default output");
    assert!(s.0.join("x.hbc").is_file());
    let r = go(hashvm().args(["dis", "x.hbc"]), &s.0);
    ok(&r, "dis");
    s.put("y.hasm", &r.stdout);
    ok(&go(hashvm().args(["asm", "y.hasm"]), &s.0), "asm default");
    assert_eq!(
        std::fs::read(s.0.join("x.hbc")).unwrap(),
        std::fs::read(s.0.join("y.hbc")).unwrap()
    );
    let r = go(hashld().args(["x.hbc"]), &s.0);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no output file"), "{}", r.stderr);
    // `hashvm dis` of a source compiles it first.
    let r = go(hashvm().args(["dis", "x.hash"]), &s.0);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        std::fs::read_to_string(s.0.join("y.hasm")).unwrap()
    );
}

/// File names and program arguments need not be UTF-8.
#[cfg(unix)]
#[test]
fn arguments_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new("utf8");
    let src = std::ffi::OsStr::from_bytes(b"caf\xe9.hash");
    let obj = std::ffi::OsStr::from_bytes(b"caf\xe9.hbc");
    std::fs::write(
        s.0.join(src),
        "main := () => { println(to_str(list.len(io.args()))); };\n",
    )
    .unwrap();
    ok(&go(hashc().arg(src).arg("-o").arg(obj), &s.0), "hashc");
    let r = go(hashvm().arg("run").arg(obj).arg(obj).arg("x"), &s.0);
    assert_eq!((r.code, r.stdout.as_str()), (0, "2\n"), "{}", r.stderr);
    let r = go(
        hashvm()
            .arg("run")
            .arg(std::ffi::OsStr::from_bytes(b"n\xffo.hbc")),
        &s.0,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: n\u{fffd}o.hbc: "),
        "{}",
        r.stderr
    );
}

/// Runs `cmd` with standard output a pipe whose reader has already gone, like
/// `cmd | head -0`; kills it after a minute (a hang fails the test).
fn into_closed_pipe(cmd: &mut Command, dir: &Path) -> (i32, String) {
    let mut child = cmd
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    drop(child.stdout.take());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("still running a minute after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), err)
}

/// `hashvm dis prog.hbc | head -1` and a program printing forever into a closed pipe
/// end quietly: no panic, no hang.
#[test]
fn closed_pipe_ends_output_quietly() {
    let s = Scratch::new("pipe");
    s.put("x.hash", "main := () => { println(\"x\"); };\n");
    s.put("yes.hash", "main := () => { loop { println(\"y\"); } };\n");
    ok(&go(hashc().arg("x.hash"), &s.0), "hashc");
    for args in [
        vec!["dis", "x.hbc"],
        vec!["--help"],
        vec!["run", "yes.hash"],
        vec!["run", "x.hbc"],
    ] {
        let (code, err) = into_closed_pipe(hashvm().args(&args), &s.0);
        assert_eq!((code, err.as_str()), (0, ""), "hashvm {args:?}");
    }
    let (code, err) = into_closed_pipe(hashc().arg("--version"), &s.0);
    assert_eq!((code, err.as_str()), (0, ""));
}

/// A full disk is an error, exit status 1, not a panic or silent success.
#[cfg(target_os = "linux")]
#[test]
fn full_disk_is_an_error() {
    let s = Scratch::new("full");
    s.put("x.hash", "main := () => { println(\"x\"); };\n");
    ok(&go(hashc().arg("x.hash"), &s.0), "hashc");
    for args in [vec!["dis", "x.hbc"], vec!["run", "x.hbc"]] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let r = go(hashvm().args(&args).stdout(full), &s.0);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(
            r.stderr.starts_with("error: ") && r.stderr.contains("No space left"),
            "{args:?}: {}",
            r.stderr
        );
    }
    for (mut cmd, args) in [
        (hashc(), vec!["x.hash", "-o", "/dev/full/x.hbc"]),
        (hashld(), vec!["x.hbc", "-o", "/dev/full"]),
    ] {
        let r = go(cmd.args(&args), &s.0);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    }
}

/// An unreadable input (a directory, a missing file) is an error naming it.
#[test]
fn unreadable_inputs_are_errors() {
    let s = Scratch::new("unreadable");
    std::fs::create_dir_all(s.0.join("d.hbc")).unwrap();
    std::fs::create_dir_all(s.0.join("d.hash")).unwrap();
    for (mut cmd, args) in [
        (hashvm(), vec!["run", "d.hbc"]),
        (hashvm(), vec!["dis", "d.hbc"]),
        (hashvm(), vec!["asm", "d.hbc", "-o", "x.hbc"]),
        (hashvm(), vec!["run", "d.hash"]),
        (hashc(), vec!["d.hash", "-o", "x.hbc"]),
        (hashld(), vec!["d.hbc", "-o", "x.hbc"]),
    ] {
        let r = go(cmd.args(&args), &s.0);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("error:") && r.stderr.contains("d.h"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

/// Runtime errors: a failed `assert` is reported at the caller's line (with a column),
/// a top-level value's failure shows no internal frame name, and a deep recursion is
/// one folded line, not 64 copies.
#[test]
fn runtime_error_locations_and_traces() {
    let s = Scratch::new("trace");
    s.put(
        "as.hash",
        "f := (n: i64) => {\n  assert(n > 0, \"positive\");\n};\nmain := () => {\n    f(1);\n    f(0);\n};\n",
    );
    let r = go(hashvm().args(["run", "as.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("error: as.hash:2:3: panic: positive\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("  at f (as.hash:2:3)\n  at main (as.hash:6:5)\n"),
        "{}",
        r.stderr
    );
    s.put(
        "init.hash",
        "X := 1 / 0;\nmain := () => { println(to_str(X)); };\n",
    );
    let r = go(hashvm().args(["run", "init.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("error: init.hash:1:6: division by zero"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("  at top level (init.hash:1:6)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains('<'), "{}", r.stderr);
    s.put(
        "deep.hash",
        "d := (n: i64) -> i64 => if n == 0 { 1 / n } else { 1 + d(n - 1) };\nmain := () => { println(to_str(d(100))); };\n",
    );
    let r = go(hashvm().args(["run", "deep.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: deep.hash:1:37: division by zero\nstack trace (innermost first):\n  at d (deep.hash:1:37)\n  at d (deep.hash:1:56)\n  … 99 more frames of `d`\n  at main (deep.hash:2:32)\n"
    );
    // A fault right after code hashc's clean-up changed (a match falling into its
    // arm, fields coalesced into a call window): the same locations as before it.
    s.put("layout.hash", include_str!("jit/match_layout.hash"));
    let r = go(hashvm().args(["run", "layout.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "103\n7\n");
    assert_eq!(
        r.stderr,
        "error: layout.hash:11:27: division by zero\nstack trace (innermost first):\n  at depth (layout.hash:11:27)\n  at depth (layout.hash:11:13)\n  at main (layout.hash:21:20)\n"
    );
    // A fault in a tail call's last argument after the first ones were evaluated
    // straight into the parameter slots: the location of the division, the caller's.
    s.put("tail_args.hash", include_str!("jit/tail_args.hash"));
    let r = go(hashvm().args(["run", "tail_args.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "4994800\n-68927999\n21\n1291\n7\n-96\n");
    assert_eq!(
        r.stderr,
        "error: tail_args.hash:23:88: division by zero\nstack trace (innermost first):\n  at split (tail_args.hash:23:88)\n  at main (tail_args.hash:36:20)\n"
    );
    // A fault right after a field extracted in the arm that uses it.
    s.put("lazy_fields.hash", include_str!("jit/lazy_fields.hash"));
    let r = go(hashvm().args(["run", "lazy_fields.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "1\n8\n374250\n500\n-16\n60\n3\n529\n");
    assert_eq!(
        r.stderr,
        "error: lazy_fields.hash:24:86: division by zero\nstack trace (innermost first):\n  at at (lazy_fields.hash:24:86)\n  at main (lazy_fields.hash:56:20)\n"
    );
    // Calls of small functions that cannot fail, compiled as their bodies: the same
    // results (an argument that is the assigned local included), and a fault right
    // after one is the caller's, at the caller's location.
    s.put("inline_leaf.hash", include_str!("jit/inline_leaf.hash"));
    let r = go(hashvm().args(["run", "inline_leaf.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "11 4035713\n149000 2248875125.0 17 32\n3\n");
    assert_eq!(
        r.stderr,
        "error: inline_leaf.hash:38:20: division by zero\nstack trace (innermost first):\n  at main (inline_leaf.hash:38:20)\n"
    );
    // Faults right after moves hashc scheduled: a tail call's copied arguments placed
    // before its inner call, a constructor built in its fields' slots, a swap through
    // a scratch slot.
    s.put(
        "moves_in_place.hash",
        include_str!("jit/moves_in_place.hash"),
    );
    let r = go(hashvm().args(["run", "moves_in_place.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stdout,
        "39007749\n21\n213\n123\n73\n6\n39077751\n38989752\n"
    );
    assert_eq!(
        r.stderr,
        "error: moves_in_place.hash:20:33: division by zero\nstack trace (innermost first):\n  at add (moves_in_place.hash:20:33)\n  at add (moves_in_place.hash:24:25)\n  … 9 more frames of `add`\n  at main (moves_in_place.hash:56:26)\n"
    );
    s.put(
        "moves_ctor_fault.hash",
        include_str!("jit/moves_ctor_fault.hash"),
    );
    let r = go(hashvm().args(["run", "moves_ctor_fault.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "6\n");
    assert_eq!(
        r.stderr,
        "error: moves_ctor_fault.hash:7:5: division by zero\nstack trace (innermost first):\n  at mkf (moves_ctor_fault.hash:7:5)\n  at main (moves_ctor_fault.hash:12:20)\n"
    );
    s.put(
        "moves_scratch_fault.hash",
        include_str!("jit/moves_scratch_fault.hash"),
    );
    let r = go(hashvm().args(["run", "moves_scratch_fault.hash"]), &s.0);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "123\n");
    assert_eq!(
        r.stderr,
        "error: moves_scratch_fault.hash:5:73: division by zero\nstack trace (innermost first):\n  at rotf (moves_scratch_fault.hash:5:73)\n  at main (moves_scratch_fault.hash:10:20)\n"
    );
}

/// Runs `hashvm ARGS` in `dir` with standard error on a pseudo-terminal (and `NO_COLOR`
/// set to `no_color`, or unset); what it wrote there.
#[cfg(unix)]
/// `field2` (d := s.i.j) faults as the two `field`s it stands for would, before
/// writing `d`: the interpreter's message and stack trace for each check (the outer
/// object's kind and field count, the intermediate object's, and a tag guard of the
/// compiled loop that exits to an `add.i64` fault), with the JIT off and on (the
/// differential suite and the native tests run these programs in every other mode).
#[test]
fn field2_faults_like_its_two_fields() {
    let s = Scratch::new("field2");
    let cases = [
        (
            "field2_fault_outer",
            include_str!("jit/field2_fault_outer.hasm"),
            "field 1 of a value that has none: i64",
            "inner\n  sum\n  main",
        ),
        (
            "field2_fault_outer_len",
            include_str!("jit/field2_fault_outer_len.hasm"),
            "field 1 of a value that has none: Cell",
            "inner\n  sum\n  main",
        ),
        (
            "field2_fault_mid",
            include_str!("jit/field2_fault_mid.hasm"),
            "field 0 of a value that has none: str",
            "inner\n  sum\n  main",
        ),
        (
            "field2_fault_mid_len",
            include_str!("jit/field2_fault_mid_len.hasm"),
            "field 1 of a value that has none: Cell",
            "sum\n  main",
        ),
        (
            "field2_fault_tag",
            include_str!("jit/field2_fault_tag.hasm"),
            "add.i64 expects two i64 operands, got i64 and f64",
            "sum\n  main",
        ),
    ];
    for (name, text, message, trace) in cases {
        s.put(&format!("{name}.hasm"), text);
        let hbc = format!("{name}.hbc");
        ok(
            &go(
                hashvm().args(["asm", &format!("{name}.hasm"), "-o", &hbc]),
                &s.0,
            ),
            name,
        );
        for jit in ["--jit=off", "--jit=on"] {
            let r = go(hashvm().args(["run", jit, &hbc]), &s.0);
            assert_eq!(r.code, 1, "{name} {jit}");
            assert_eq!(r.stdout, "", "{name} {jit}");
            assert_eq!(
                r.stderr,
                format!("error: {message}\nstack trace (innermost first):\n  {trace}\n"),
                "{name} {jit}"
            );
        }
    }
    s.put("field2.hasm", include_str!("jit/field2.hasm"));
    ok(&go(hashvm().args(["asm", "field2.hasm"]), &s.0), "field2");
    for jit in ["--jit=off", "--jit=on"] {
        let r = go(hashvm().args(["run", jit, "field2.hbc"]), &s.0);
        ok(&r, "field2");
        assert_eq!(r.stdout, "8997000\n3000\n", "field2 {jit}");
    }
}

fn stderr_on_a_terminal(args: &[&str], dir: &Path, no_color: Option<&str>) -> String {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors into the given ints; the other arguments
    // may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty failed");
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    let (master, slave) = unsafe {
        for fd in [master, slave] {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut cmd = hashvm();
    cmd.args(args)
        .current_dir(dir)
        .env("TERM", "xterm")
        .stdin(Stdio::piped()) // closed by `status`; /dev/null may be a file (`common::run`)
        .stdout(Stdio::null())
        .stderr(slave);
    match no_color {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let status = cmd.status().expect("spawn");
    drop(cmd); // closes our copy of the slave, so reading the master ends
    assert_eq!(status.code(), Some(1));
    let mut out = Vec::new();
    let mut master = master;
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO once the slave side is closed
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Diagnostics are coloured on a terminal, and not with `NO_COLOR` set (nor on a pipe:
/// every other test reads plain text).
#[cfg(unix)]
#[test]
fn colour_on_a_terminal_unless_no_color() {
    let s = Scratch::new("colour");
    s.put("bad.hash", "main := () => {\n");
    let coloured = stderr_on_a_terminal(&["run", "bad.hash"], &s.0, None);
    assert!(coloured.contains("\x1b[1;31merror:\x1b[0m"), "{coloured:?}");
    let plain = stderr_on_a_terminal(&["run", "bad.hash"], &s.0, Some("1"));
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(
        plain.contains("error: this `{` is never closed"),
        "{plain:?}"
    );
    // An empty NO_COLOR is unset (no-color.org).
    let empty = stderr_on_a_terminal(&["run", "bad.hash"], &s.0, Some(""));
    assert!(empty.contains('\x1b'), "{empty:?}");
}
