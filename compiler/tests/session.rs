//! Checking and compiling a live session's pieces (the REPL): each sees the earlier
//! ones' names, the newest first, and earlier pieces keep what they saw.

use hashvm_compiler::driver;
use hashvm_compiler::modgraph::SessionFile;
use hashvm_compiler::{check_session, check_source, TypedProgram};

fn pieces(texts: &[&str]) -> Vec<SessionFile> {
    texts
        .iter()
        .enumerate()
        .map(|(k, t)| SessionFile {
            path: "repl.hash".into(),
            key: format!("repl-{k}"),
            text: t.to_string(),
            prefix: 0,
        })
        .collect()
}

fn check(texts: &[&str]) -> Result<TypedProgram, String> {
    check_session(&pieces(texts), &[])
        .map(|(p, _)| p)
        .map_err(|r| r.render())
}

fn ty(texts: &[&str], name: &str) -> String {
    let p = check(texts).unwrap_or_else(|e| panic!("{e}"));
    driver::item_type(&p, name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn a_later_piece_shadows_an_earlier_one() {
    assert_eq!(ty(&["x := 1;", "x := \"s\";", "y := x;"], "y"), "str");
    // `g` keeps the `f` it was checked against.
    assert_eq!(
        ty(
            &[
                "f := () -> i64 => 1;",
                "g := () -> i64 => f() + 1;",
                "f := () -> str => \"s\";",
                "h := (g(), f());",
            ],
            "h"
        ),
        "(i64, str)"
    );
}

#[test]
fn types_and_constructors_of_earlier_pieces() {
    let s = ["S := enum(A, B(i64));", "T := enum(B(str));"];
    assert_eq!(ty(&[s[0], s[1], "v := B(\"x\");"], "v"), "T");
    assert_eq!(ty(&[s[0], s[1], "v := A;"], "v"), "S");
    assert_eq!(ty(&[s[0], "v := B(1);"], "v"), "S");
    assert_eq!(ty(&[s[0], "v := (x: S) -> S => x;"], "v"), "(S) -> S");
    // Builtin constructors still work after many pieces.
    assert_eq!(ty(&[s[0], s[1], "o := Some(1);"], "o"), "Option<i64>");
}

#[test]
fn mut_session_variables() {
    assert_eq!(ty(&["mut n := 0;", "it := { n += 1; n };"], "it"), "i64");
    let e = check(&["mut xs := [];"]).unwrap_err();
    assert!(e.contains("not fully known"), "{e}");
    assert_eq!(
        ty(
            &["mut xs: List<i64> := [];", "it := { xs = [1]; xs };"],
            "it"
        ),
        "List<i64>"
    );
    let e = check(&["mut xs: List<i64> := [];", "it := { xs = [\"a\"]; 0 };"]).unwrap_err();
    assert!(
        e.contains("mismatched") || e.contains("does not match"),
        "{e}"
    );
    let e = check(&["mut f := (x: i64) => x;"]).unwrap_err();
    assert!(e.contains("function cannot be `mut`"), "{e}");
    // Outside a session, top-level `mut` stays an error.
    let e = match check_source("p.hash", "mut x := 1;\nmain := () => {};\n") {
        Ok(_) => panic!("top-level mut accepted outside a session"),
        Err(r) => r.render(),
    };
    assert!(e.contains("cannot be `mut`"), "{e}");
}

#[test]
fn private_names_are_visible_to_later_pieces() {
    assert_eq!(ty(&["_a := 2;", "b := _a * 3;"], "b"), "i64");
}
