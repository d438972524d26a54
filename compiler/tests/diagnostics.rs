//! Compile-time diagnostics as a user meets them (issue 11, item 6): each error points
//! at its cause, in the user's file, and is not followed by echoes of itself.

use hashvm_compiler::driver::{compile_program, Options};

/// Compiles `src` as the file `name` in a fresh directory; the rendered errors.
fn errors(name: &str, src: &str) -> String {
    let dir = std::env::temp_dir().join(format!(
        "hashc-diag-{}-{}",
        std::process::id(),
        name.replace('.', "_")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, src).unwrap();
    let r = compile_program(&path, &Options::default());
    let _ = std::fs::remove_dir_all(&dir);
    match r {
        Ok(_) => panic!("{name} compiled"),
        // Messages name the file as it was given: drop the directory.
        Err(f) => f.rendered.replace(&format!("{}/", dir.display()), ""),
    }
}

/// How many errors a rendering holds.
fn count(rendered: &str) -> usize {
    rendered.matches(": error: ").count()
}

#[test]
fn an_empty_file_is_blamed_not_the_prelude() {
    let e = errors("empty.hash", "");
    assert!(
        e.starts_with("empty.hash:1:1: error: the program has no `main` function"),
        "{e}"
    );
    assert!(!e.contains("prelude"), "{e}");
    let e = errors("nomain.hash", "// nothing\nf := () => 1;\n");
    assert!(
        e.starts_with("nomain.hash:1:1: error: the program has no `main`"),
        "{e}"
    );
}

#[test]
fn a_missing_brace_points_at_the_unclosed_brace() {
    let e = errors(
        "brace.hash",
        "main := () => {\n    println(\"a\");\n    if true {\n        println(\"b\");\n\n",
    );
    assert!(
        e.starts_with("brace.hash:3:13: error: this `{` is never closed"),
        "{e}"
    );
    assert!(e.contains("the file ends here"), "{e}");
    assert!(!e.contains("must be a function"), "{e}");
    assert_eq!(count(&e), 1, "{e}");
}

#[test]
fn an_unterminated_string_is_one_error_at_its_start() {
    let e = errors("str.hash", "main := () => {\n    println(\"abc);\n};\n");
    assert!(
        e.starts_with("str.hash:2:13: error: unterminated string literal"),
        "{e}"
    );
    assert!(!e.contains("must be a function"), "{e}");
    assert!(!e.contains("end of file"), "{e}");
    assert_eq!(count(&e), 1, "{e}");
    let e = errors(
        "cmt.hash",
        "main := () => { 1 };\n/* never closed\nx := 2;\n",
    );
    assert_eq!(count(&e), 1, "{e}");
    assert!(e.contains("unterminated block comment"), "{e}");
}

#[test]
fn a_syntax_error_does_not_cascade_into_unknown_names() {
    let e = errors(
        "casc.hash",
        "helper := (n: i64) -> i64 => n +;\nmain := () => {\n    x := 1 +;\n    println(to_str(helper(x)));\n};\n",
    );
    assert!(!e.contains("cannot find"), "{e}");
    assert_eq!(count(&e), 2, "{e}");
}
