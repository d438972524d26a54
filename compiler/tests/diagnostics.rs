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
    // Declarations of every kind that do not parse: each is one error, and its uses
    // (as a value, a type, a constructor, a pattern, a module, a field's base) are
    // not reported again.
    for (name, src, at) in [
        (
            "struct.hash",
            "Point := struct(x: i64, y: );\nmain := () => {\n    p := Point(1, 2);\n    q: Point := p;\n    println(to_str(q.x));\n};\n",
            "struct.hash:1:28: error: expected a type",
        ),
        (
            "enum.hash",
            "Shape := enum(Circle(f64), Rect(f64 f64));\nf := (s: Shape) -> f64 => match s { Shape.Circle(r) => r, Shape.Rect(w, h) => w * h };\nmain := () => { println(to_str(f(Shape.Circle(1.0)))); };\n",
            "enum.hash:1:37: error: expected `)` to close the constructor's fields",
        ),
        (
            "import.hash",
            "u := import(\"util\")\nmain := () => { println(to_str(u.double(1))); };\n",
            "import.hash:1:20: error: expected `;` after the declaration",
        ),
        (
            "tuple.hash",
            "main := () => {\n    (a, b) := (1,;\n    println(to_str(a + b));\n};\n",
            "tuple.hash:2:18: error: expected an expression",
        ),
    ] {
        let e = errors(name, src);
        assert!(e.starts_with(at), "{e}");
        assert_eq!(count(&e), 1, "{e}");
    }
}

/// Warnings (the program still compiles): the rendered warnings of `src` as `main.hash`.
fn warnings(src: &str) -> String {
    let dir = std::env::temp_dir().join(format!("hashc-warn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("util.hash"),
        "double := (x: i64) -> i64 => x * 2;\n",
    )
    .unwrap();
    let path = dir.join("main.hash");
    std::fs::write(&path, src).unwrap();
    let r = compile_program(&path, &Options::default());
    let _ = std::fs::remove_dir_all(&dir);
    match r {
        Ok(c) => hashvm_compiler::driver::render(&c.program, &c.warnings)
            .replace(&format!("{}/", dir.display()), ""),
        Err(f) => panic!("did not compile:\n{}", f.rendered),
    }
}

#[test]
fn unused_variables_imports_and_needless_mut_are_warned() {
    let w = warnings(
        "u := import(\"util\");\nv := import(\"util\");\nmain := () => {\n    x := 1;\n    mut y := 2;\n    mut z := 0;\n    z = 3;\n    mut w := 0;\n    w += 1;\n    _quiet := 5;\n    f := (a: i64, b: i64) => a;\n    for i in 0..2 { }\n    println(to_str(y + f(1, 2) + z + u.double(2)));\n};\n",
    );
    let lines: Vec<&str> = w.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(
        lines,
        [
            "main.hash:2:1: warning: the import `v` is never used",
            "main.hash:4:5: warning: the variable `x` is never used",
            "main.hash:5:9: warning: `y` is declared `mut` but never assigned",
            "main.hash:8:9: warning: the variable `w` is assigned to, but never read",
        ],
        "{w}"
    );
    assert!(
        w.contains("= help: if that is intended, name it `_x`"),
        "{w}"
    );
    // An import used through a member is used.
    let w = warnings(
        "u := import(\"util\");\nmain := () => {\n    g: (i64) -> i64 := u.double;\n    println(to_str(g(1)));\n};\n",
    );
    assert_eq!(w, "");
}
