//! The command-line tools end to end: separate compilation and linking, load-time
//! linking, exit statuses, bad usage and bad input.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// `hashc -c` of each module, then `hashld`, gives exactly the bytes `hashc` gives for
/// the whole program; a linkable object also runs directly (linked at load time).
#[test]
fn separate_compilation_equals_whole_program() {
    let dir = Scratch::new("sep");
    let src = shared().join("conformance/s5_modules");
    std::fs::create_dir_all(dir.0.join("lib")).unwrap();
    for f in [
        "main.hash",
        "util.hash",
        "lib/shapes.hash",
        "lib/consts.hash",
    ] {
        std::fs::copy(src.join(f), dir.0.join(f)).unwrap();
    }
    let hashc = |args: &[&str]| run(Command::new(bin("hashc")).args(args).current_dir(&dir.0), T);
    for (input, out) in [
        ("util.hash", "util.hbc"),
        ("lib/shapes.hash", "shapes.hbc"),
        ("lib/consts.hash", "consts.hbc"),
        ("main.hash", "main.o"),
    ] {
        let r = hashc(&["-c", input, "-o", out]);
        assert_eq!(r.code, 0, "{input}: {}", r.stderr);
    }
    let r = run(
        Command::new(bin("hashld"))
            .args(["main.o", "-o", "linked.hbc", "-L", "."])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = hashc(&["main.hash", "-o", "whole.hbc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let linked = std::fs::read(dir.0.join("linked.hbc")).unwrap();
    let whole = std::fs::read(dir.0.join("whole.hbc")).unwrap();
    assert!(
        linked == whole,
        "hashld output differs from the whole-program compile"
    );
    let expected = std::fs::read_to_string(src.join("main.out")).unwrap();
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "linked.hbc"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(r.stdout, expected);
    // The linkable object runs too, its libraries found through -L at load time.
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "-L", ".", "main.o"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, expected.as_str()),
        "{}",
        r.stderr
    );
    // A missing library is reported by name.
    std::fs::remove_file(dir.0.join("util.hbc")).unwrap();
    let r = run(
        Command::new(bin("hashld"))
            .args(["main.o", "-o", "x.hbc", "-L", "."])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("error:") && r.stderr.contains("util"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_usage_exits_2_and_bad_files_exit_1() {
    let dir = Scratch::new("cli");
    for (b, args) in [
        ("hashvm", vec!["frobnicate"]),
        ("hashvm", vec!["run"]),
        ("hashvm", vec!["run", "--heap-limit"]),
        ("hashc", vec![]),
        ("hashc", vec!["--bogus", "x.hash"]),
        ("hashld", vec![]),
    ] {
        let r = run(Command::new(bin(b)).args(&args).current_dir(&dir.0), T);
        assert_eq!(r.code, 2, "{b} {args:?}: {}", r.stderr);
        assert!(r.stderr.contains("error:"), "{b} {args:?}: {}", r.stderr);
    }
    std::fs::write(dir.0.join("junk.hbc"), b"\x7fHBC\r\n\x1a\nnot really").unwrap();
    std::fs::write(dir.0.join("bad.hash"), "main := () => { x := ; };").unwrap();
    for (b, args) in [
        ("hashvm", vec!["run", "junk.hbc"]),
        ("hashvm", vec!["dis", "junk.hbc"]),
        ("hashvm", vec!["run", "missing.hbc"]),
        ("hashvm", vec!["run", "bad.hash"]),
        ("hashc", vec!["bad.hash"]),
    ] {
        let r = run(Command::new(bin(b)).args(&args).current_dir(&dir.0), T);
        assert_eq!(r.code, 1, "{b} {args:?}: {}", r.stderr);
        assert!(r.stderr.contains("error:"), "{b} {args:?}: {}", r.stderr);
    }
}

/// A program that reads a slot its call clobbered is refused at load, by `hashvm asm`
/// and by `hashvm run` of the file assembled without verification: exit 1 and the
/// verifier's message naming the function, the reading instruction, the slot and the
/// call, never a run whose output would depend on the JIT.
#[test]
fn a_read_of_a_clobbered_slot_is_refused_at_load() {
    let dir = Scratch::new("clobbered");
    let src = root().join("cli/tests/malformed/read_clobbered.hasm");
    let msg = "CODE function 1 'main' offset 25: reads r3, which the call at offset 14 clobbered";
    let r = run(
        Command::new(bin("hashvm"))
            .arg("asm")
            .arg(&src)
            .arg("-o")
            .arg(dir.0.join("a.hbc")),
        T,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(msg), "{}", r.stderr);
    let r = run(
        Command::new(bin("hashvm"))
            .args(["asm", "--no-verify"])
            .arg(&src)
            .arg("-o")
            .arg(dir.0.join("b.hbc")),
        T,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for jit in ["--jit=off", "--jit=on"] {
        let r = run(
            Command::new(bin("hashvm"))
                .args(["run", jit])
                .arg(dir.0.join("b.hbc")),
            T,
        );
        assert_eq!((r.code, r.stdout.as_str()), (1, ""), "{jit}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("error: ") && r.stderr.contains(msg),
            "{jit}: {}",
            r.stderr
        );
    }
}

#[test]
fn runtime_limits_and_gc_stats() {
    let dir = Scratch::new("limits");
    std::fs::write(
        dir.0.join("deep.hash"),
        "d := (n: i64) -> i64 => if n == 0 { 0 } else { 1 + d(n - 1) };\nmain := () => { println(to_str(d(1000000))); };\n",
    )
    .unwrap();
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "deep.hash"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "1000000\n"),
        "{}",
        r.stderr
    );
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "--stack-limit", "1000", "deep.hash"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("error:") && r.stderr.contains("stack overflow"),
        "{}",
        r.stderr
    );
    std::fs::write(
        dir.0.join("hog.hash"),
        "main := () => { mut xs: List<str> := []; loop { xs = Cons(str.repeat(\"x\", 1000), xs); } };\n",
    )
    .unwrap();
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "--heap-limit", "16M", "--gc-stats", "hog.hash"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("error:") && r.stderr.contains("out of memory"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("gc:"), "{}", r.stderr);
}

/// Arrays allocated and dropped in a loop, a million small ones (nursery) and two
/// thousand large ones (160 KB each: the large-object space, SPEC.md §1.4), leave the
/// heap bounded: the peak that `--gc-stats` reports stays a few MiB although ~500 MB
/// are allocated, so dead large objects are unmapped (or their mappings reused).
#[test]
fn dropped_arrays_keep_the_heap_bounded() {
    let dir = Scratch::new("arrays");
    std::fs::write(
        dir.0.join("arrays.hash"),
        "main := () => {\n    mut total := 0;\n    for i in 0..1000000 {\n        a := array.make(10, i);\n        total += a[9];\n    }\n    for i in 0..2000 {\n        b := array.make(10000, i);\n        total += b[9999];\n    }\n    println(to_str(total));\n};\n",
    )
    .unwrap();
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "--jit=off", "--gc-stats", "arrays.hash"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "500001499000\n"),
        "{}",
        r.stderr
    );
    let field = |name: &str| -> u64 {
        let line = r
            .stderr
            .lines()
            .find(|l| l.starts_with("gc:"))
            .expect("gc line");
        let (before, _) = line.split_once(name).expect(name);
        before
            .rsplit(' ')
            .find(|w| !w.is_empty())
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {line}"))
    };
    let allocated = field(" bytes allocated");
    // (The arrays hold i64s: flat, 8 bytes an element, so about 256 MB in all.)
    assert!(allocated > 200_000_000, "{}", r.stderr);
    let peak = r
        .stderr
        .split("peak heap ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("peak heap");
    assert!(peak < 16 << 20, "peak heap {peak} bytes: {}", r.stderr);
}

/// `hashvm asm` refuses what the verifier rejects, unless `--no-verify` (issue 11): the
/// file is written, disassembles, assembles back to the same bytes (SPEC.md §6.7), and
/// `hashvm run` refuses it with an error instead of running it.
#[test]
fn asm_no_verify_writes_what_the_verifier_rejects() {
    let dir = Scratch::new("noverify");
    std::fs::write(
        dir.0.join("bad.hasm"),
        ".module executable\n.func main/0 slots=1\n    loadg r0, 100000\n    ret r0\n.end\n.entry main\n",
    )
    .unwrap();
    let hashvm = |args: &[&str]| {
        run(
            Command::new(bin("hashvm")).args(args).current_dir(&dir.0),
            T,
        )
    };
    let r = hashvm(&["asm", "bad.hasm", "-o", "bad.hbc"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("error:") && r.stderr.contains("global"),
        "{}",
        r.stderr
    );
    assert!(!dir.0.join("bad.hbc").exists());

    let r = hashvm(&["asm", "--no-verify", "bad.hasm", "-o", "bad.hbc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bytes = std::fs::read(dir.0.join("bad.hbc")).expect("written");

    let r = hashvm(&["dis", "bad.hbc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("100000"), "{}", r.stdout);
    std::fs::write(dir.0.join("again.hasm"), &r.stdout).unwrap();
    let r = hashvm(&["asm", "again.hasm", "-o", "again.hbc", "--no-verify"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(std::fs::read(dir.0.join("again.hbc")).unwrap(), bytes);

    let r = hashvm(&["run", "bad.hbc"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("error:") && r.stderr.contains("global"),
        "{}",
        r.stderr
    );
}

/// Issue 11's GC hole, exactly as reported: the program of
/// vm/tests/hasm/regress_gc_force_frame_scratch.hasm, assembled and run by the binaries
/// with `HASHVM_GC_STRESS=1`, printed `(5,)object<object>`.
#[test]
fn force_frame_gc_hole_under_stress_env() {
    let dir = Scratch::new("forcegc");
    let src = root().join("vm/tests/hasm/regress_gc_force_frame_scratch.hasm");
    let out = dir.0.join("p.hbc");
    let r = run(
        Command::new(bin("hashvm"))
            .arg("asm")
            .arg(&src)
            .arg("-o")
            .arg(&out),
        T,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for stress in ["0", "1"] {
        let r = run(
            Command::new(bin("hashvm"))
                .arg("run")
                .arg(&out)
                .env("HASHVM_GC_STRESS", stress),
            T,
        );
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, "(5,)thunk(5,)"),
            "HASHVM_GC_STRESS={stress}: {}",
            r.stderr
        );
    }
}

/// `scripts/test` ends with one line summing the results of every test binary.
#[test]
fn scripts_test_ends_with_a_summary_line() {
    let r = run(
        Command::new("bash")
            .args([
                "scripts/test",
                "-p",
                "hashvm-cli",
                "--lib",
                "--",
                "--exact",
                "tests::sizes",
            ])
            .current_dir(root()),
        Duration::from_secs(600),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().last(),
        Some("1 passed, 0 failed, 0 skipped"),
        "{}",
        r.stdout
    );
}
