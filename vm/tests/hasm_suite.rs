//! The bytecode-level test suite: every `.hasm` program under `vm/tests/hasm/` is
//! assembled, verified and run, in the normal mode and again under GC stress (a
//! collection at every allocation, `heap_initial` 4096), and its output is compared with
//! the expectations written in its comments.
//!
//! # Header convention
//!
//! Directives are comment lines of the form `; KEY: VALUE` (or `; KEY` for flags) and
//! may appear anywhere in the file; writing them next to the code that produces the
//! output is encouraged. Expected standard output is built from the `expect-stdout`
//! lines in file order.
//!
//! | Directive | Meaning |
//! |---|---|
//! | `; expect-stdout: TEXT` | TEXT followed by a newline is the next piece of standard output |
//! | `; expect-stdout-noeol: TEXT` | TEXT without a newline is the next piece |
//! | `; expect-exit: N` | the program ends with status N (default 0 when no error is expected) |
//! | `; expect-error: FRAGMENT` | the program ends with a runtime error whose printed form (`error: FILE:LINE: MESSAGE`, then the stack trace `at FUNC (FILE:LINE)`) contains FRAGMENT; may be repeated, all must occur |
//! | `; args: A B ...` | program arguments (whitespace separated); `{tmp}` stands for a fresh empty temporary directory, made for each run and removed after |
//! | `; config: KEY=N ...` | `Config` overrides: `max_frames`, `heap_limit`, `heap_initial`, `allow_ffi` (1: load foreign functions); a `heap_limit` implies `no-stress` |
//! | `; no-stress` | skip the GC stress run (memory-limit tests, long loops) |
//! | `; stdin: TEXT` | a line (TEXT and a newline) of standard input; such programs run in a child process of this test binary with the text piped in (`; stdin-noeol: TEXT` adds no newline) |
//! | `; env: NAME=VALUE` | an environment variable for the program; such programs run in a child process (the environment of this one is shared by parallel tests) |
//! | `; bug: EXPLANATION` | a known VM bug: the program's test is ignored (it runs with `-- --ignored`, always in a child process) |
//!
//! Standard output must match exactly (an empty expectation means no output). In TEXT,
//! FRAGMENT and VALUE, `\n`, `\t`, `\r`, `\\` and `\s` (a space, for significant
//! trailing blanks) are escapes. A directive whose key starts with `expect` but is not
//! one of the above is an error, so a typo cannot silently drop an expectation. After
//! every run the heap is walked with `Heap::check` (no dangling pointers).
//!
//! # Writing programs
//!
//! Follow the calling convention of SPEC.md (§4): a call clobbers every slot from its
//! window up, so keep live values below call windows. (A caller's slots above its
//! callee's frame are scanned too: regress_gc_stale_slot_above_call.hasm.)
//!
//! # Other checks
//!
//! Besides running the programs, the suite checks that every opcode of `Op::ALL` occurs
//! in at least one program (a new instruction needs a test), that every program survives
//! a disassembly/assembly round trip byte for byte, that a loop making millions of short-lived big integers runs in a
//! bounded heap, and (on Linux) that their GMP limbs are freed.
//!
//! The suite has its own harness (`main` at the end, libtest-mimic): every program is a
//! test named `program::FILE` (`cargo test -p hashvm-vm --test hasm_suite arrays` runs
//! the programs whose name contains `arrays`), and the other checks are named tests too.
//! Known bugs (`; bug:` programs) are ignored trials: run them with `-- --ignored`. To
//! see what one program does, `HASM_SUITE_CHILD=PATH HASM_SUITE_CHILD_SHOW=1 cargo test
//! -p hashvm-vm --test hasm_suite` runs just that file in this binary's child mode and
//! prints its output (add `HASM_SUITE_CHILD_STRESS=1` for GC stress).

mod common;

use common::Sink;
use hashvm_format::hasm::{assemble, disassemble};
use hashvm_format::{insn, verify, write, Module, Op};
use hashvm_vm::{run_program, Config, Outcome, Vm};
use libtest_mimic::{Failed, Trial};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What a program expects, from its header comments.
#[derive(Debug, Default, Clone)]
struct Spec {
    name: String,
    stdout: String,
    exit: Option<i32>,
    errors: Vec<String>,
    args: Vec<String>,
    max_frames: Option<usize>,
    heap_limit: Option<usize>,
    heap_initial: Option<usize>,
    allow_ffi: bool,
    no_stress: bool,
    stdin: Option<String>,
    env: Vec<(String, String)>,
    bug: Option<String>,
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            other => return Err(format!("bad escape `\\{}`", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

fn parse_spec(src: &str) -> Result<Spec, String> {
    let mut spec = Spec::default();
    for (no, line) in src.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}", no + 1);
        let Some(rest) = line.trim_start().strip_prefix(';') else {
            continue;
        };
        let rest = rest.trim_start();
        let (key, value) = match rest.split_once(':') {
            Some((k, v)) if !k.contains(char::is_whitespace) => {
                (k, v.strip_prefix(' ').unwrap_or(v))
            }
            _ => (rest.trim_end(), ""),
        };
        match key {
            "expect-stdout" => {
                spec.stdout += &unescape(value).map_err(err)?;
                spec.stdout.push('\n');
            }
            "expect-stdout-noeol" => spec.stdout += &unescape(value).map_err(err)?,
            "expect-exit" => {
                spec.exit = Some(value.trim().parse().map_err(|e| err(format!("{e}")))?)
            }
            "expect-error" => spec.errors.push(unescape(value).map_err(err)?),
            "args" => spec.args = value.split_whitespace().map(String::from).collect(),
            "config" => {
                for kv in value.split_whitespace() {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| err(format!("bad config `{kv}`")))?;
                    let v: usize = v
                        .replace('_', "")
                        .parse()
                        .map_err(|e| err(format!("{kv}: {e}")))?;
                    match k {
                        "max_frames" => spec.max_frames = Some(v),
                        "heap_limit" => spec.heap_limit = Some(v),
                        "heap_initial" => spec.heap_initial = Some(v),
                        "allow_ffi" => spec.allow_ffi = v != 0,
                        _ => return Err(err(format!("unknown config key `{k}`"))),
                    }
                }
            }
            "no-stress" => spec.no_stress = true,
            "stdin" | "stdin-noeol" => {
                let s = spec.stdin.get_or_insert_with(String::new);
                *s += &unescape(value).map_err(err)?;
                if key == "stdin" {
                    s.push('\n');
                }
            }
            "env" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| err(format!("bad env `{value}`")))?;
                spec.env.push((k.to_string(), unescape(v).map_err(err)?));
            }
            "bug" => spec.bug = Some(value.to_string()),
            k if k.starts_with("expect") => {
                return Err(err(format!("unknown directive `{k}`")));
            }
            _ => {}
        }
    }
    if spec.exit.is_some() && !spec.errors.is_empty() {
        return Err("both expect-exit and expect-error".into());
    }
    if spec.heap_limit.is_some() {
        spec.no_stress = true;
    }
    Ok(spec)
}

fn hasm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hasm")
}

/// Every test program, sorted by name.
fn programs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(hasm_dir())
        .expect("vm/tests/hasm exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "hasm"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .hasm programs found");
    v
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Reads, assembles and verifies one program.
fn load(path: &Path) -> Result<(Module, Spec), String> {
    let name = file_name(path);
    let src = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let mut spec = parse_spec(&src).map_err(|e| format!("{name}: {e}"))?;
    spec.name = name.clone();
    let m = assemble(&src, &name).map_err(|es| {
        es.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    verify(&m).map_err(|e| format!("{name}: verify: {e}"))?;
    Ok((m, spec))
}

/// A fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "hasm_suite-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a run ended, as compared with a [`Spec`].
struct Run {
    stdout: String,
    result: Result<i32, String>,
}

/// The programs running right now, named by the panic hook: a VM crash aborts the
/// whole test binary (a failed unsafe precondition does not unwind), and this says
/// which program did it.
static IN_FLIGHT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn install_crash_note() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(v) = IN_FLIGHT.try_lock() {
                if !v.is_empty() {
                    eprintln!("hasm_suite: programs running in this process at this panic: {v:?}");
                }
            }
            prev(info);
        }));
    });
}

/// Runs a loaded program once in this process.
fn run_once(m: &Module, spec: &Spec, stress: bool) -> Run {
    install_crash_note();
    let label = format!(
        "{} ({})",
        spec.name,
        if stress { "gc stress" } else { "normal" }
    );
    IN_FLIGHT.lock().unwrap().push(label.clone());
    let run = run_once_inner(m, spec, stress);
    IN_FLIGHT.lock().unwrap().retain(|l| *l != label);
    run
}

fn run_once_inner(m: &Module, spec: &Spec, stress: bool) -> Run {
    let tmp = TempDir::new();
    let mut config = Config {
        gc_stress: stress,
        ..Config::default()
    };
    if stress {
        config.heap_initial = 4096;
    }
    if let Some(v) = spec.max_frames {
        config.max_frames = v;
    }
    if let Some(v) = spec.heap_limit {
        config.heap_limit = v;
    }
    if let Some(v) = spec.heap_initial {
        config.heap_initial = v;
    }
    config.allow_ffi = spec.allow_ffi;
    let sink = Sink::default();
    let mut vm = Vm::new(config);
    vm.set_output(Box::new(sink.clone()));
    let t = tmp.0.to_string_lossy().into_owned();
    vm.set_args(spec.args.iter().map(|a| a.replace("{tmp}", &t)).collect());
    let m = verify(m).expect("verified when the program was read");
    let result = match run_program(&mut vm, m) {
        Outcome::Exit(c) => Ok(c),
        Outcome::Error(e) => Err(e.to_string()),
    };
    // The heap must be consistent after the run, whatever happened.
    if let Err(e) = vm.check_heap() {
        return Run {
            stdout: String::new(),
            result: Err(format!("heap check failed after the run: {e}")),
        };
    }
    let stdout = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    Run { stdout, result }
}

/// At most `n` bytes of `s` (on a char boundary), noting how much was left out.
fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more bytes)", &s[..end], s.len() - end)
}

/// Compares a run with the expectations; `None` when it matches.
fn mismatch(spec: &Spec, run: &Run) -> Option<String> {
    let mut why = Vec::new();
    if run.stdout != spec.stdout {
        why.push(format!(
            "stdout differs\n--- expected\n{}\n--- actual\n{}\n---",
            clip(&spec.stdout, 4000),
            clip(&run.stdout, 4000)
        ));
    }
    match (&run.result, spec.errors.is_empty()) {
        (Ok(c), true) => {
            if *c != spec.exit.unwrap_or(0) {
                why.push(format!(
                    "exit status {c}, expected {}",
                    spec.exit.unwrap_or(0)
                ));
            }
        }
        (Ok(c), false) => why.push(format!(
            "exited with {c}, expected an error containing {:?}",
            spec.errors
        )),
        (Err(e), true) => why.push(format!("unexpected runtime error:\n{e}")),
        (Err(e), false) => {
            for f in &spec.errors {
                if !e.contains(f.as_str()) {
                    why.push(format!("error does not contain {f:?}:\n{e}"));
                }
            }
        }
    }
    (!why.is_empty()).then(|| why.join("\n"))
}

/// Runs a program in the ways its spec asks for; returns the failures.
fn check_program(path: &Path) -> Vec<String> {
    let name = file_name(path);
    let (m, spec) = match load(path) {
        Ok(x) => x,
        Err(e) => return vec![e],
    };
    let mut fails = Vec::new();
    let modes: &[bool] = if spec.no_stress {
        &[false]
    } else {
        &[false, true]
    };
    for &stress in modes {
        let mode = if stress { "gc stress" } else { "normal" };
        // Known bugs may crash the process: they always run in a child.
        if spec.stdin.is_some() || spec.bug.is_some() || !spec.env.is_empty() {
            if let Err(e) = run_in_child(path, stress) {
                fails.push(format!("{name} ({mode}, child process): {e}"));
            }
            continue;
        }
        let run = run_once(&m, &spec, stress);
        if let Some(w) = mismatch(&spec, &run) {
            fails.push(format!("{name} ({mode}): {w}"));
        }
    }
    fails
}

/// Runs `path` in a child process of this test binary (the `stdin_child` test) with
/// the program's stdin text piped to it.
fn run_in_child(path: &Path, stress: bool) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let src = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let spec = parse_spec(&src)?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .env("HASM_SUITE_CHILD", path)
        .env("HASM_SUITE_CHILD_STRESS", if stress { "1" } else { "0" })
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    {
        let mut i = child.stdin.take().expect("piped stdin");
        let _ = i.write_all(spec.stdin.unwrap_or_default().as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("HASM-CHILD-OK") {
        return Err(format!(
            "child failed ({})\n{}\n{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The child side of [`run_in_child`]: `main` runs it instead of the tests when
/// `HASM_SUITE_CHILD` names a file. Also a debugging aid: `HASM_SUITE_CHILD=FILE
/// HASM_SUITE_CHILD_SHOW=1 cargo test -p hashvm-vm --test hasm_suite` runs one file and
/// prints what it did.
fn stdin_child() {
    let path = std::env::var_os("HASM_SUITE_CHILD")
        .expect("HASM_SUITE_CHILD names the .hasm file to run (see run_in_child)");
    let stress = std::env::var("HASM_SUITE_CHILD_STRESS").is_ok_and(|v| v == "1");
    let path = PathBuf::from(path);
    let (m, spec) = load(&path).unwrap();
    let run = run_once(&m, &spec, stress);
    if std::env::var_os("HASM_SUITE_CHILD_SHOW").is_some() {
        println!("stdout:\n{}\nresult: {:?}", run.stdout, run.result);
    }
    if let Some(w) = mismatch(&spec, &run) {
        panic!("{w}");
    }
    println!("HASM-CHILD-OK");
}

/// Every instruction of the machine occurs in at least one test program.
fn every_opcode_is_tested() {
    let mut seen = BTreeSet::new();
    for p in programs() {
        let (m, _) = load(&p).unwrap_or_else(|e| panic!("{e}"));
        for f in &m.functions {
            let code = insn::decode_all(&f.code)
                .unwrap_or_else(|e| panic!("{}: {}: {e:?}", file_name(&p), f.name));
            seen.extend(code.into_iter().map(|(_, i)| i.op));
        }
    }
    let missing: Vec<&str> = Op::ALL
        .iter()
        .filter(|o| !seen.contains(*o))
        .map(|o| o.mnemonic())
        .collect();
    assert!(
        missing.is_empty(),
        "opcodes without a .hasm test: {}",
        missing.join(", ")
    );
}

/// `disassemble` then `assemble` gives back the identical bytes for every program.
fn disassembly_round_trips() {
    for p in programs() {
        let (m, _) = load(&p).unwrap_or_else(|e| panic!("{e}"));
        let text = disassemble(&m);
        let again = assemble(&text, "dis.hasm").unwrap_or_else(|es| {
            panic!(
                "{}: the disassembly does not assemble:\n{}\n{text}",
                file_name(&p),
                es.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(
            write(&again) == write(&m),
            "{}: round trip changed the bytes\n{text}",
            file_name(&p)
        );
    }
}

/// `n` iterations, each making three short-lived big integers (a conversion, a square
/// and a running sum); prints the sum of the squares below `n`.
fn bigint_loop(n: i64) -> Module {
    let src = format!(
        r#"
.module executable
.global nl = "\n"
.func main/0 slots=6
    loadi r0, 0
    i64.to_ibig r2, r0
    loadi64 r3, {n}
top:
    jge.i64 r0, r3, done
    i64.to_ibig r4, r0
    mul.ibig r4, r4, r4
    add.ibig r2, r2, r4
    addi.i64 r0, r0, 1
    loop top
done:
    tostr r2, r2
    print r2
    loadg r2, nl
    print r2
    retu
.end
.entry main
"#
    );
    let m = assemble(&src, "bigloop.hasm").unwrap_or_else(|e| panic!("{e:?}"));
    verify(&m).unwrap();
    m
}

/// Runs `m` with `config`; returns (stdout, exit status, the VM's heap statistics).
fn run_with_stats(m: &Module, config: Config) -> (String, i32, hashvm_vm::GcStats) {
    let sink = Sink::default();
    let mut vm = Vm::new(config);
    vm.set_output(Box::new(sink.clone()));
    let code = match run_program(&mut vm, verify(m).expect("verifies")) {
        Outcome::Exit(c) => c,
        Outcome::Error(e) => panic!("{e}"),
    };
    let out = String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned();
    (out, code, vm.gc_stats())
}

/// Millions of short-lived big integers run in a small, bounded heap.
fn bigint_loop_heap_is_bounded() {
    let n: i64 = 2_000_000;
    let t = std::time::Instant::now();
    let (out, code, stats) = run_with_stats(&bigint_loop(n), Config::default());
    let expect = (n - 1) as i128 * n as i128 * (2 * n - 1) as i128 / 6;
    assert_eq!((out, code), (format!("{expect}\n"), 0));
    eprintln!("bigint loop: {:?}, {stats:?}", t.elapsed());
    assert!(stats.collections > 10, "{stats:?}");
    assert!(stats.allocated > 50 << 20, "{stats:?}");
    assert!(stats.max_space < 64 << 20, "{stats:?}");
}

/// `n` iterations each making two big integers of `bits` bits (their limbs live
/// outside the heap, in GMP's allocations).
fn bigint_limb_loop(n: i64, bits: i64) -> Module {
    let src = format!(
        r#"
.module executable
.func main/0 slots=8
    loadi r0, 0
    loadi r5, 1
    i64.to_ibig r5, r5
    loadi64 r6, {bits}
    loadi64 r3, {n}
top:
    jge.i64 r0, r3, done
    shl.ibig r4, r5, r6
    add.ibig r4, r4, r5
    addi.i64 r0, r0, 1
    loop top
done:
    retu
.end
.entry main
"#
    );
    let m = assemble(&src, "limbs.hasm").unwrap_or_else(|e| panic!("{e:?}"));
    verify(&m).unwrap();
    m
}

/// The peak resident set size of this process in KiB (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The child side of [`limb_rss_growth`] (`main` runs it when `HASM_SUITE_RSS` is set):
/// runs the limb loop (60,000
/// iterations of 16,384-bit numbers: 240 MB of limbs if none were freed) and prints the
/// growth of the peak RSS.
fn rss_child() {
    let mode = std::env::var("HASM_SUITE_RSS")
        .expect("HASM_SUITE_RSS is `small` or `default` (see limb_rss_growth)");
    let mut config = Config {
        gc_stress: false,
        ..Config::default()
    };
    if mode == "small" {
        config.heap_initial = 64 << 10;
    }
    let m = bigint_limb_loop(60_000, 16_384);
    let before = peak_rss_kib().expect("VmHWM");
    let (_, code, stats) = run_with_stats(&m, config);
    let after = peak_rss_kib().expect("VmHWM");
    assert_eq!(code, 0);
    println!("HASM-RSS {} {stats:?}", after.saturating_sub(before));
}

/// Runs [`rss_child`] in a child process; returns the peak RSS growth in KiB. Needs
/// /proc (Linux): its callers are ignored elsewhere, and fail on Linux without it.
fn limb_rss_growth(mode: &str) -> u64 {
    assert!(
        peak_rss_kib().is_some(),
        "/proc/self/status has no VmHWM line: cannot measure the peak RSS"
    );
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .env("HASM_SUITE_RSS", mode)
        .output()
        .expect("run the child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find_map(|l| l.split_once("HASM-RSS ").map(|x| x.1))
        .unwrap_or_else(|| panic!("no report from the child:\n{text}"));
    eprintln!("limb loop ({mode} heap): peak RSS grew by {line}");
    line.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("bad report from the child: {line}"))
}

/// The GMP limbs of dead big integers are freed: the peak RSS stays far below the
/// 240 MB that leaking them would take (with a 64 KiB semispace, so that collections,
/// and hence finalisation, happen often).
fn bigint_limbs_are_freed() {
    let kib = limb_rss_growth("small");
    assert!(kib < 64 << 10, "peak RSS grew by {kib} KiB");
}

/// Limb memory is invisible to the collector: with the default 4 MiB semispace a
/// collection comes only every ~130,000 big integers however large they are, so the
/// same loop peaks at ~240 MB (and larger numbers exhaust memory) although almost
/// nothing is live.
// Regression (fixed): GMP memory does not count toward collection pressure (RSS far above live data).
fn regress_bigint_limbs_not_counted_by_gc() {
    let kib = limb_rss_growth("default");
    assert!(kib < 64 << 10, "peak RSS grew by {kib} KiB");
}

/// The semispace should grow only when live data plus the request exceed half of it
/// (SPEC.md §1.4), but `Heap::begin` sizes each new to-space as `from.top + needed`,
/// and `from.top` is the whole space when a collection is forced by a full space: every
/// such collection allocates (and zeroes) a fresh, slightly larger space and the spare
/// is never reused. With a 16 KiB first space and ~100 bytes live, this loop ends with
/// a semispace of ~110 KiB.
// Regression (fixed): the semispace grows by the request size at every collection, however little is live.
fn regress_semispace_grows_every_collection() {
    let config = Config {
        gc_stress: false,
        heap_initial: 16 << 10,
        ..Config::default()
    };
    let (_, code, stats) = run_with_stats(&bigint_loop(2_000_000), config);
    assert_eq!(code, 0);
    // With the generational collector (SPEC.md §1.4) the space that grows is the old
    // generation: a major collection runs when it passes the live data and half of it
    // again, at least four nurseries (16 KiB each here), plus the one nursery a minor
    // collection may promote past that threshold; ~30 KiB are live here.
    assert!(stats.max_space <= 96 << 10, "{stats:?}");
}

/// A test body that fails by panicking, as a trial.
fn trial(name: &str, f: fn()) -> Trial {
    Trial::test(name, move || {
        std::panic::catch_unwind(f).map_err(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into());
            Failed::from(msg)
        })
    })
}

/// The suite's own harness (libtest-mimic): every program is a test of its own named
/// after its file (`cargo test -p hashvm-vm --test hasm_suite arrays` runs one), run
/// normally and under GC stress; the suite's other checks follow. A child process of
/// this binary (the stdin/env programs, the RSS measurements) runs its one job instead.
fn main() {
    if std::env::var_os("HASM_SUITE_CHILD").is_some() {
        stdin_child();
        return;
    }
    if std::env::var_os("HASM_SUITE_RSS").is_some() {
        rss_child();
        return;
    }
    let args = libtest_mimic::Arguments::from_args();
    let mut trials: Vec<Trial> = programs()
        .into_iter()
        .map(|p| {
            let name = file_name(&p).trim_end_matches(".hasm").to_string();
            let bug = std::fs::read_to_string(&p)
                .ok()
                .and_then(|src| parse_spec(&src).ok())
                .and_then(|s| s.bug);
            Trial::test(format!("program::{name}"), move || {
                let fails = check_program(&p);
                if fails.is_empty() {
                    Ok(())
                } else {
                    Err(fails.join("\n\n").into())
                }
            })
            // A known bug runs only when asked for (`-- --ignored`).
            .with_ignored_flag(bug.is_some())
        })
        .collect();
    let linux = cfg!(target_os = "linux");
    trials.extend([
        trial("every_opcode_is_tested", every_opcode_is_tested),
        trial("disassembly_round_trips", disassembly_round_trips),
        trial("bigint_loop_heap_is_bounded", bigint_loop_heap_is_bounded),
        // These measure the peak RSS through /proc.
        trial("bigint_limbs_are_freed", bigint_limbs_are_freed).with_ignored_flag(!linux),
        trial(
            "regress_bigint_limbs_not_counted_by_gc",
            regress_bigint_limbs_not_counted_by_gc,
        )
        .with_ignored_flag(!linux),
        trial(
            "regress_semispace_grows_every_collection",
            regress_semispace_grows_every_collection,
        ),
        trial("no_test_attribute_is_silently_skipped", || {
            // This file has its own harness: a test attribute here would never run.
            let me = include_str!("hasm_suite.rs");
            let attr = concat!("#[", "test]");
            assert!(
                !me.contains(attr),
                "hasm_suite.rs uses its own harness: add a trial in main() instead of {attr}"
            );
        }),
    ]);
    libtest_mimic::run(&args, trials).exit();
}
