//! `list.map`, `list.filter` and `list.foldr` are bytecode loops in the standard library
//! (issue 9: a tracing JIT must see the calls of their function argument), with constant
//! frame depth and the output and errors the native instructions had.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);

const LONG: &str = r#"
main := () => {
    xs := list.range(0, 1000000);
    ys := list.map(xs, (x) => x + 1);
    zs := list.filter(ys, (y) => y % 2 == 0);
    s := list.foldr(zs, 0, (z, acc) => acc + z);
    println(to_str(list.len(ys)) + " " + to_str(list.len(zs)) + " " + to_str(s));
    println(to_str(list.map([1, 2, 3], (x) => x * 10)));
    println(to_str(list.filter([1, 2, 3, 4], (x) => x > 2)));
    println(to_str(list.foldr(["a", "b", "c"], "", (x, acc) => acc + x)));
    println(to_str(list.map([], (x: i64) => x)));
    println(to_str(list.filter([1, 2], (x) => false)));
    println(to_str(list.foldr([], 7, (x: i64, acc) => acc + x)));
};
"#;

/// A million elements through each function with a 100-frame stack limit: the depth
/// does not grow with the length; order and results as before.
#[test]
fn million_elements_in_constant_frame_depth() {
    let dir = Scratch::new("listfun");
    std::fs::write(dir.0.join("long.hash"), LONG).unwrap();
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "--stack-limit", "100", "long.hash"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            "1000000 500000 250000500000\n[10, 20, 30]\n[3, 4]\ncba\n[]\n[]\n7\n"
        ),
        "{}",
        r.stderr
    );
}

/// The three are compiled bytecode functions: no `list.map`/`list.filter`/`list.foldr`
/// instruction is left in a program, and a fault in the callback reports the same
/// message and location as before, with the library function in the trace.
#[test]
fn bytecode_not_native_and_faults_unchanged() {
    let dir = Scratch::new("listfun_dis");
    std::fs::write(dir.0.join("long.hash"), LONG).unwrap();
    let r = run(
        Command::new(bin("hashc"))
            .args(["long.hash", "-o", "long.hbc"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(
        Command::new(bin("hashvm"))
            .args(["dis", "long.hbc"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in ["list.map/2", "list.filter/2", "list.foldr/3"] {
        assert!(
            r.stdout.contains(&format!(".func {f}")),
            "{f} is not bytecode"
        );
    }
    for line in r.stdout.lines() {
        let insn = line.trim_start();
        for op in ["list.map ", "list.filter ", "list.foldr "] {
            assert!(
                !(line.starts_with(char::is_whitespace) && insn.starts_with(op)),
                "native instruction left: {line}"
            );
        }
    }
    std::fs::write(
        dir.0.join("err.hash"),
        "main := () => {\n    xs := list.map([1, 2, 0, 4], (x) => 10 / x);\n    println(to_str(xs));\n};\n",
    )
    .unwrap();
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "err.hash"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    assert!(
        r.stderr
            .starts_with("error: err.hash:2:41: division by zero\nstack trace (innermost first):\n  at <lambda> (err.hash:2:41)\n"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("  at list.map ("), "{}", r.stderr);
    assert!(
        r.stderr.ends_with("  at main (err.hash:2:11)\n"),
        "{}",
        r.stderr
    );
}
