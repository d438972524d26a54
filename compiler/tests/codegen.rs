//! Code-generation golden checks: what the compiler emits for small programs (constant
//! folding, fused branches, immediates, tail calls), read back with the disassembler.

use hashvm_compiler::driver::{compile_source, Options};

/// The disassembly of function `name` of the compiled program.
fn dis(src: &str, name: &str) -> String {
    let c = compile_source("golden.hash", src, &Options::default())
        .unwrap_or_else(|f| panic!("{}", f.rendered));
    let text = hashvm_format::hasm::disassemble(&c.module);
    let start = text
        .find(&format!(".func {name}/"))
        .unwrap_or_else(|| panic!("no function {name}:\n{text}"));
    let end = text[start..]
        .find(".end")
        .map(|e| start + e)
        .unwrap_or(text.len());
    text[start..end].to_string()
}

#[test]
fn constants_are_folded() {
    let f = dis(
        "f := () -> i64 => 2 + 3 * 4 - (10 / 2);\nmain := () => { println(to_str(f())); };",
        "f",
    );
    assert!(f.contains("loadi") && f.contains(", 9"), "{f}");
    assert!(
        !f.contains("mul.i64") && !f.contains("add.i64") && !f.contains("div.i64"),
        "{f}"
    );
    // Division by zero is left to run time, where it faults at its line.
    let g = dis(
        "g := () -> i64 => 1 / 0;\nmain := () => { println(to_str(g())); };",
        "g",
    );
    assert!(g.contains("div.i64"), "{g}");
}

#[test]
fn comparisons_branch_and_recursion_loops() {
    let src =
        "count := (n: i64, acc: i64) -> i64 => if n <= 0 { acc } else { count(n - 1, acc + 2) };\n\
               main := () => { println(to_str(count(10, 0))); };";
    let f = dis(src, "count");
    assert!(
        f.contains("jgti.i64"),
        "fused compare with an immediate expected:\n{f}"
    );
    assert!(f.contains("subi.i64") && f.contains("addi.i64"), "{f}");
    assert!(f.contains("tcallself"), "self tail call expected:\n{f}");
    assert!(!f.contains("le.i64") && !f.contains("jf "), "{f}");
}

#[test]
fn float_literals_become_immediates() {
    let f = dis(
        "h := (x: f64) -> f64 => 2.0 * x + 1.0 / x;\nmain := () => { println(to_str(h(2.0))); };",
        "h",
    );
    assert!(f.contains("mulk.f64") && f.contains("rdivk.f64"), "{f}");
    assert!(!f.contains("loadf"), "{f}");
}
