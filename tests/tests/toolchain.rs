//! The command-line tools end to end: separate compilation and linking, load-time
//! linking, exit statuses, bad usage and bad input.

use hashvm_tests::*;
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
