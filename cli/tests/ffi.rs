//! Foreign functions end to end, through the binaries: the refusal without
//! `--allow-ffi` (for `hashvm run` and for `#run` under `hashc`), calls into libm and
//! libc, and a small C library this test builds with `cc` into a scratch directory
//! (every argument and result type, integer and float arguments interleaved, all
//! registers of the calling scheme, pointers to C-side state), also in a hot loop that
//! must give the same output with the JIT off, on and at hotness 1.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

fn hashvm_run(flags: &[&str], file: &Path) -> Run {
    run(
        Command::new(bin("hashvm")).arg("run").args(flags).arg(file),
        T,
    )
}

const LIBM: &str = "cos := #foreign(\"libm.so.6\", \"cos\") (x: f64) -> f64;\n\
    pow := #foreign(\"libm.so.6\", \"pow\") (x: f64, y: f64) -> f64;\n\
    getpid := #foreign(\"libc.so.6\", \"getpid\") () -> i32;\n\
    strlen := #foreign(\"libc.so.6\", \"strlen\") (s: str) -> u64;\n\
    main := () => {\n\
        println(to_str(cos(0.0)) + \" \" + to_str(pow(2.0, 0.5)));\n\
        println(to_str(strlen(\"héllo\")) + \" \" + to_str(getpid() > 1));\n\
    };\n";

#[test]
fn run_refuses_foreign_functions_without_allow_ffi() {
    let dir = Scratch::new("ffi-refuse");
    let f = dir.0.join("p.hash");
    std::fs::write(&f, LIBM).unwrap();
    let r = hashvm_run(&[], &f);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "error: the program declares the foreign function `cos` from `libm.so.6`: foreign calls can break every guarantee of the verifier, so they must be allowed with --allow-ffi\n"
    );
    // A compiled executable is refused alike.
    let hbc = dir.0.join("p.hbc");
    let c = run(Command::new(bin("hashc")).arg(&f).arg("-o").arg(&hbc), T);
    assert_eq!(c.code, 0, "{}", c.stderr);
    let r = hashvm_run(&[], &hbc);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("`cos` from `libm.so.6`"), "{}", r.stderr);
}

#[test]
fn libm_and_libc() {
    let dir = Scratch::new("ffi-libc");
    let f = dir.0.join("p.hash");
    std::fs::write(&f, LIBM).unwrap();
    let r = hashvm_run(&["--allow-ffi"], &f);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "1.0 1.4142135623730951\n6 true\n", "")
    );
}

#[test]
fn compile_time_evaluation_needs_allow_ffi_too() {
    let dir = Scratch::new("ffi-run");
    let f = dir.0.join("p.hash");
    std::fs::write(
        &f,
        "cos := #foreign(\"libm.so.6\", \"cos\") (x: f64) -> f64;\nC := #run cos(0.0);\nmain := () => println(to_str(C));\n",
    )
    .unwrap();
    let out = dir.0.join("p.hbc");
    let r = run(Command::new(bin("hashc")).arg(&f).arg("-o").arg(&out), T);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("`cos` from `libm.so.6`") && r.stderr.contains("--allow-ffi"),
        "{}",
        r.stderr
    );
    let r = run(
        Command::new(bin("hashc"))
            .arg("--allow-ffi")
            .arg(&f)
            .arg("-o")
            .arg(&out),
        T,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The value was computed at compile time: the program itself declares `cos` still
    // (it is a top-level value), so running it needs the permission as well.
    let r = hashvm_run(&["--allow-ffi"], &out);
    assert_eq!((r.code, r.stdout.as_str()), (0, "1.0\n"), "{}", r.stderr);
}

const C_LIB: &str = r#"
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

int64_t add3(int64_t a, int64_t b, int64_t c) { return a + b + c; }
double mix(int64_t a, double x, int64_t b, double y) { return (double)a * x + (double)b * y; }
bool is_even(int64_t n) { return n % 2 == 0; }
int32_t negate(int32_t x) { return -x; }
uint64_t twice(uint64_t x) { return x * 2; }
uint32_t next_char(uint32_t c) { return c + 1; }
const char *greet(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "hello, %s!", name);
    return buf;
}
const char *nothing(void) { return NULL; }
void *counter_new(int64_t start) {
    int64_t *p = malloc(sizeof *p);
    *p = start;
    return p;
}
int64_t counter_bump(void *p) { return ++*(int64_t *)p; }
void counter_free(void *p) { free(p); }
double all_registers(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f,
                     double g, double h, double i, double j, double k, double l,
                     double m, double n) {
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f
        + 7 * g + 8 * h + 9 * i + 10 * j + 11 * k + 12 * l + 13 * m + 14 * n;
}
"#;

/// Builds the test library with `cc`; fails (does not skip) when there is no C
/// compiler, saying so.
fn build_c_library(dir: &Path) -> PathBuf {
    let src = dir.join("tiny.c");
    let lib = dir.join("libtiny.so");
    std::fs::write(&src, C_LIB).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .output();
    match out {
        Err(e) => panic!("this test needs a C compiler: running `cc` failed: {e}"),
        Ok(o) if !o.status.success() => panic!(
            "cc could not build the test library:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => lib,
    }
}

fn c_program(lib: &Path) -> String {
    let l = lib.to_string_lossy();
    format!(
        r#"add3 := #foreign("{l}", "add3") (a: i64, b: i64, c: i64) -> i64;
mix := #foreign("{l}", "mix") (a: i64, x: f64, b: i64, y: f64) -> f64;
is_even := #foreign("{l}", "is_even") (n: i64) -> bool;
negate := #foreign("{l}", "negate") (x: i32) -> i32;
twice := #foreign("{l}", "twice") (x: u64) -> u64;
next_char := #foreign("{l}", "next_char") (c: char) -> char;
greet := #foreign("{l}", "greet") (name: str) -> str;
nothing := #foreign("{l}", "nothing") () -> str;
counter_new := #foreign("{l}", "counter_new") (start: i64) -> ptr;
counter_bump := #foreign("{l}", "counter_bump") (p: ptr) -> i64;
counter_free := #foreign("{l}", "counter_free") (p: ptr) -> ();
all_registers := #foreign("{l}", "all_registers") (a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: f64, h: f64, i: f64, j: f64, k: f64, l: f64, m: f64, n: f64) -> f64;

main := () => {{
    println(to_str(add3(1, 20, 300)) + " " + to_str(mix(2, 1.5, 3, 0.25)));
    println(to_str(is_even(10)) + " " + to_str(is_even(7)) + " " + to_str(negate(5)) + " " + to_str(negate(-2147483648 + 1)));
    println(to_str(twice(9223372036854775808u64)) + " " + to_str(next_char('a')) + " " + greet("wörld"));
    println(to_str(all_registers(1, 2, 3, 4, 5, 6, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0)));
    c := counter_new(40);
    counter_bump(c);
    mut last := 0;
    mut s := 0.0;
    mut i := 0;
    while i < 3000 {{
        last = counter_bump(c);
        s += mix(i, 0.5, 1, 0.25);
        i += 1;
    }}
    counter_free(c);
    println(to_str(last) + " " + to_str(s));
    println(nothing());
}};
"#
    )
}

#[test]
fn a_c_library_built_by_the_test() {
    let dir = Scratch::new("ffi-cc");
    let lib = build_c_library(&dir.0);
    let f = dir.0.join("p.hash");
    std::fs::write(&f, c_program(&lib)).unwrap();
    let want_out =
        "321 3.75\ntrue false -5 2147483647\n0 b hello, wörld!\n1015.0\n3041 2250000.0\n";
    let mut results = Vec::new();
    for flags in [
        &["--allow-ffi", "--jit=off"][..],
        &["--allow-ffi", "--jit=on"],
        &["--allow-ffi", "--jit=on", "--jit-hot", "1"],
    ] {
        let r = hashvm_run(flags, &f);
        assert_eq!(r.code, 1, "{flags:?}: {}", r.stderr);
        assert_eq!(r.stdout, want_out, "{flags:?}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("error: ")
                && r.stderr.contains(
                    "p.hash:31:13: foreign function `nothing` returned NULL for a str result"
                )
                && r.stderr.contains("at main ("),
            "{flags:?}: {}",
            r.stderr
        );
        results.push(r.stderr);
    }
    assert!(results.iter().all(|e| *e == results[0]), "{results:?}");
}

/// A hot loop calling libm and libc compiles, foreign calls included (they run through
/// the JIT's helper, SPEC.md §4.6): `--jit-stats` counts one trace per loop and no
/// aborted recording, with the interpreter's output.
#[test]
fn foreign_calls_compile_in_traces() {
    if !cfg!(target_arch = "x86_64") {
        return;
    }
    let dir = Scratch::new("ffi-jit");
    let f = dir.0.join("p.hash");
    std::fs::write(
        &f,
        "cos := #foreign(\"libm.so.6\", \"cos\") (x: f64) -> f64;\n\
         labs := #foreign(\"libc.so.6\", \"labs\") (x: i64) -> i64;\n\
         main := () => {\n    mut s := 0.0;\n    mut i := 0;\n    \
         while i < 5000 { s += cos(i64.to_f64(i) * 0.001); i += 1; }\n    \
         mut t := 0;\n    mut j := 0;\n    while j < 5000 { t += labs(j - 2500); j += 1; }\n    \
         println(to_str(s) + \" \" + to_str(t));\n};\n",
    )
    .unwrap();
    let off = hashvm_run(&["--allow-ffi", "--jit=off"], &f);
    let on = hashvm_run(&["--allow-ffi", "--jit=on", "--jit-stats"], &f);
    assert_eq!((off.code, &off.stdout), (0, &on.stdout), "{}", on.stderr);
    assert!(
        on.stderr.contains("2 recordings, 0 aborted, 2 traces"),
        "{}",
        on.stderr
    );
}

/// `hashvm repl ARGS` reading `input` (piped, not a terminal), with a timeout.
fn repl(args: &[&str], input: &str) -> (i32, String, String) {
    let dir = Scratch::new("ffi-repl");
    let inp = dir.0.join("input");
    std::fs::write(&inp, input).unwrap();
    let mut child = Command::new(bin("hashvm"))
        .arg("repl")
        .args(args)
        .stdin(std::fs::File::open(&inp).unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the REPL");
    let start = std::time::Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if start.elapsed() > T {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_repl_refuses_foreign_functions_unless_allowed() {
    let input = "cos := #foreign(\"libm.so.6\", \"cos\") (x: f64) -> f64;\ncos(0.0)\n";
    let (code, out, err) = repl(&[], input);
    assert_eq!(code, 0);
    assert!(
        err.contains("the program declares the foreign function `cos` from `libm.so.6`")
            && err.contains("--allow-ffi"),
        "{err}"
    );
    assert!(!out.contains("1.0 : f64"), "{out}");
    let (code, out, err) = repl(&["--allow-ffi"], input);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "cos : (f64) -> f64\n1.0 : f64\n");
}
