//! Unit tests of the REPL session: inputs, shadowing, commands, persistence.

use super::*;

/// A session whose programs print into a buffer.
fn session() -> (Session, SharedBuf) {
    let mut s = Session::new();
    let buf = SharedBuf::default();
    s.output = Some(buf.clone());
    (s, buf)
}

fn out(msgs: &[Msg]) -> String {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Out(s) => Some(s.as_str()),
            Msg::Err(_) => None,
        })
        .collect()
}

fn err(msgs: &[Msg]) -> String {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Err(s) => Some(s.as_str()),
            Msg::Out(_) => None,
        })
        .collect()
}

/// Runs `input`; returns (results, errors, program output).
fn run(s: &mut Session, buf: &SharedBuf, input: &str) -> (String, String, String) {
    let (m, next) = s.run(input);
    assert_eq!(next, Next::Continue, "{input}");
    (out(&m), err(&m), buf.take())
}

#[test]
fn expressions_print_value_and_type() {
    let (mut s, b) = session();
    assert_eq!(run(&mut s, &b, "42").0, "42 : i64\n");
    assert_eq!(run(&mut s, &b, "[1, 2]").0, "[1, 2] : List<i64>\n");
    assert_eq!(run(&mut s, &b, "\"hi\\n\"").0, "\"hi\\n\" : str\n");
    assert_eq!(run(&mut s, &b, "'c'").0, "'c' : char\n");
    assert_eq!(run(&mut s, &b, "[\"a\"]").0, "[\"a\"] : List<str>\n");
    assert_eq!(
        run(&mut s, &b, "(1, 2.5, true)").0,
        "(1, 2.5, true) : (i64, f64, bool)\n"
    );
    assert_eq!(run(&mut s, &b, "Some(3u64)").0, "Some(3) : Option<u64>\n");
    assert_eq!(run(&mut s, &b, "1 + 2; // sum").0, "3 : i64\n");
    // Unit results print nothing; program output goes to the program's stdout.
    assert_eq!(
        run(&mut s, &b, "println(\"x\")"),
        ("".into(), "".into(), "x\n".into())
    );
    assert_eq!(run(&mut s, &b, "()"), ("".into(), "".into(), "".into()));
}

#[test]
fn declarations_persist_and_are_replaced() {
    let (mut s, b) = session();
    let (o, e, _) = run(&mut s, &b, "f := (x: i64) -> i64 => {\n  x * 2\n};");
    assert_eq!((o.as_str(), e.as_str()), ("f : (i64) -> i64\n", ""));
    assert_eq!(run(&mut s, &b, "f(21)").0, "42 : i64\n");
    assert_eq!(
        run(&mut s, &b, "x := 1; y := x + 1; y").0,
        "x : i64 = 1\ny : i64 = 2\n2 : i64\n"
    );
    // A new binding: `y` keeps the `x` it was computed from (as in ghci).
    assert_eq!(run(&mut s, &b, "x := 5").0, "x : i64 = 5\n");
    assert_eq!(run(&mut s, &b, "y").0, "2 : i64\n");
    assert_eq!(run(&mut s, &b, "x").0, "5 : i64\n");
    // A function keeps calling the definition it was checked against, even when
    // the new one has another type.
    run(&mut s, &b, "g := (x: i64) -> i64 => x + 1;");
    run(&mut s, &b, "h := (x: i64) -> i64 => g(x) * 2;");
    assert_eq!(
        run(&mut s, &b, "g := (s: str) -> str => s + \"!\";").0,
        "g : (str) -> str\n"
    );
    assert_eq!(run(&mut s, &b, "h(1)").0, "4 : i64\n");
    assert_eq!(run(&mut s, &b, "g(\"a\")").0, "\"a!\" : str\n");
    // Declarations of one input see each other (mutual recursion).
    assert_eq!(
        run(
            &mut s,
            &b,
            "ev := (n: i64) -> bool => if n == 0 { true } else { od(n - 1) }; od := (n: i64) -> bool => if n == 0 { false } else { ev(n - 1) }; ev(10)"
        )
        .0,
        "ev : (i64) -> bool\nod : (i64) -> bool\ntrue : bool\n"
    );
    // :defs lists each name in scope once, with its newest type.
    let (o, _, _) = run(&mut s, &b, ":defs");
    assert_eq!(o.matches("g : ").count(), 1, "{o}");
    assert!(
        o.contains("g : (str) -> str\n") && o.contains("x : i64\n"),
        "{o}"
    );
    // Types and imports.
    assert_eq!(
        run(&mut s, &b, "Point := struct(x: f64, y: f64);").0,
        "Point : type\n"
    );
    assert_eq!(
        run(&mut s, &b, "Point(1.0, 2.0)").0,
        "Point(1.0, 2.0) : Point\n"
    );
    assert_eq!(run(&mut s, &b, "l := import(\"list\")").0, "l : module\n");
    assert_eq!(run(&mut s, &b, "l.len([1, 2])").0, "2 : i64\n");
    // Generic functions stay generic.
    assert_eq!(
        run(&mut s, &b, "id := (v) => v; id(1); id(\"a\")").0,
        "id : (a) -> a\n1 : i64\n\"a\" : str\n"
    );
    // A line comment at the end of a declaration does not swallow its `;`.
    assert_eq!(run(&mut s, &b, "c := 3 // three").0, "c : i64 = 3\n");
    assert_eq!(run(&mut s, &b, "c").0, "3 : i64\n");
}

#[test]
fn errors_leave_the_session_unchanged() {
    let (mut s, b) = session();
    run(&mut s, &b, "x := 1;");
    let (o, e, _) = run(&mut s, &b, "1 + \"a\"");
    assert_eq!(o, "");
    assert!(e.contains("error") && e.contains("mismatched types"), "{e}");
    // A bad declaration is not kept, nor is the rest of its input run.
    let (o, e, _) = run(&mut s, &b, "x := \"one\" + 1; x");
    assert_eq!(o, "");
    assert!(e.contains("error"), "{e}");
    assert_eq!(run(&mut s, &b, "x").0, "1 : i64\n");
    // Messages give lines and columns as typed, for any piece of an input.
    let (_, e, _) = run(&mut s, &b, "1 + 1; z := \"a\" + 1");
    assert!(e.contains("repl.hash:1:13:"), "{e}");
    let (_, e, _) = run(&mut s, &b, "x;\n  x + \"a\"");
    assert!(e.contains("repl.hash:2:3:"), "{e}");
    // A declaration whose initialiser fails at run time is not kept either.
    let (o, e, _) = run(&mut s, &b, "bad := 1 / 0;");
    assert_eq!(o, "");
    assert!(e.contains("division by zero"), "{e}");
    assert_eq!(s.names(), vec!["x"]);
    // Runtime errors in expressions.
    let (_, e, _) = run(&mut s, &b, "[1, 2, 3].nope");
    assert!(e.contains("error"), "{e}");
    let (_, e, _) = run(&mut s, &b, "panic(\"boom\")");
    assert!(e.contains("boom"), "{e}");
    assert_eq!(run(&mut s, &b, "x + 1").0, "2 : i64\n");
}

#[test]
fn a_result_too_large_to_print_is_not_built() {
    let (mut s, b) = session();
    // A hundred thousand references to one megabyte: 100 GB of text.
    let (o, e, _) = run(
        &mut s,
        &b,
        "{ s := str.repeat(\"x\", 1000000); list.map(list.range(0, 100000), (i) => s) }",
    );
    assert_eq!(
        o, "<more than 16 MiB of text; not shown> : List<str>\n",
        "{e}"
    );
}

#[test]
fn output_before_an_error_is_shown() {
    let (mut s, b) = session();
    let (_, e, printed) = run(&mut s, &b, "{ println(\"before\"); 1 / 0 }");
    assert_eq!(printed, "before\n");
    assert!(e.contains("division by zero"), "{e}");
}

#[test]
fn warnings_are_shown_once() {
    let (mut s, b) = session();
    let (o, e, _) = run(
        &mut s,
        &b,
        "w := (n: i64) -> i64 => match n { _ => 1, 2 => 3 };",
    );
    assert_eq!(o, "w : (i64) -> i64\n");
    assert!(e.contains("warning") && e.contains("unreachable"), "{e}");
    // Not again for later inputs.
    let (o, e, _) = run(&mut s, &b, "w(2)");
    assert_eq!((o.as_str(), e.as_str()), ("1 : i64\n", ""));
    let (_, e, _) = run(&mut s, &b, "match 1 { _ => 1, 2 => 3 }");
    assert!(e.contains("unreachable"), "{e}");
}

#[test]
fn it_is_an_ordinary_name() {
    let (mut s, b) = session();
    assert_eq!(run(&mut s, &b, "it := 3").0, "it : i64 = 3\n");
    assert_eq!(run(&mut s, &b, "it + 1").0, "4 : i64\n");
    assert_eq!(run(&mut s, &b, ":t it").0, "it : i64\n");
}

#[test]
fn type_command() {
    let (mut s, b) = session();
    let (o, _, printed) = run(&mut s, &b, ":t println(\"no\")");
    assert_eq!(
        (o.as_str(), printed.as_str()),
        ("println(\"no\") : ()\n", "")
    );
    assert_eq!(
        run(&mut s, &b, ":t list.map").0,
        "list.map : (List<a>, (a) -> b) -> List<b>\n"
    );
    let (o, e, _) = run(&mut s, &b, ":t nope");
    assert!(o.is_empty() && e.contains("error"), "{e}");
}

#[test]
fn dis_command() {
    let (mut s, b) = session();
    run(&mut s, &b, "double := (x: i64) -> i64 => x * 2;");
    let (o, e, _) = run(&mut s, &b, ":dis double");
    assert!(
        o.starts_with(".func double/1") && o.contains(".end"),
        "{o}{e}"
    );
    assert_eq!(o.matches(".func").count(), 1, "{o}");
    // Redefined: the newest definition only.
    run(&mut s, &b, "double := (x: i64) -> i64 => x + x;");
    let (o, _, _) = run(&mut s, &b, ":dis double");
    assert_eq!(o.matches(".func").count(), 1, "{o}");
    assert!(o.contains("add") && !o.contains("mul"), "{o}");
    let (o, _, _) = run(&mut s, &b, ":dis list.map");
    assert!(o.contains(".func list.map/2"), "{o}");
    let (o, e, _) = run(&mut s, &b, ":dis nothing_here");
    assert!(o.is_empty() && e.contains("error"), "{e}");
}

#[test]
fn load_reset_defs() {
    let dir = std::env::temp_dir().join(format!("hashvm-repl-unit-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(
        dir.join("dep.hash"),
        "triple := (x: i64) -> i64 => 3 * x;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("top.hash"),
        "d := import(\"dep\");\n// nine times\nnine := (x: i64) -> i64 => d.triple(d.triple(x));\nmain := () => { println(\"main\"); };\n",
    )
    .unwrap();
    std::fs::write(dir.join("bad.hash"), "ok := 1;\n\nno := ok + \"a\";\n").unwrap();
    let (mut s, b) = session();
    let top = dir.join("top.hash").display().to_string();
    let (o, e, _) = run(&mut s, &b, &format!(":load {top}"));
    assert_eq!(o, format!("loaded 3 declarations from {top}\n"), "{e}");
    assert_eq!(run(&mut s, &b, "nine(2)").0, "18 : i64\n");
    // `main` is kept but not run by evaluations.
    assert_eq!(run(&mut s, &b, "1").2, "");
    let (o, _, _) = run(&mut s, &b, ":defs");
    assert!(
        o.contains("nine : (i64) -> i64\n") && o.contains("d : module\n"),
        "{o}"
    );
    let (o, e, _) = run(
        &mut s,
        &b,
        &format!(":load {}", dir.join("bad.hash").display()),
    );
    // Reported against the file's own line, and nothing of it kept.
    assert!(o.is_empty() && e.contains("bad.hash:3:"), "{e}");
    assert!(!s.names().contains(&"ok".to_string()));
    // :reload loads the last file again: fixed on disk, it now loads, and its
    // definitions shadow the earlier ones.
    std::fs::write(dir.join("bad.hash"), "ok := 1;\n\nno := ok + 2;\n").unwrap();
    let (o, e, _) = run(&mut s, &b, ":reload");
    assert!(o.starts_with("loaded 2 declarations"), "{o}{e}");
    assert_eq!(run(&mut s, &b, "no").0, "3 : i64\n");
    let (_, e, _) = run(&mut s, &b, ":load /no/such/file.hash");
    assert!(e.contains("error"), "{e}");
    assert_eq!(run(&mut s, &b, ":reset").0, "session cleared\n");
    assert!(s.defs().is_empty());
    assert!(run(&mut s, &b, "nine(2)").1.contains("error"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Session values live in VM globals across inputs: they must survive collections
/// (here one at every allocation) and code linked in later. (Regression: a
/// collection while linking in new constants, between calls, left stale pointers
/// in the host frame's scratch slots, which the next call's collections followed:
/// `[1, <invalid>, 3]`.)
#[test]
fn values_survive_collections_across_inputs() {
    let (mut s, b) = session();
    s.vm.set_gc_stress(true);
    run(&mut s, &b, "P := struct(name: str, xs: List<i64>);");
    run(&mut s, &b, "p := P(\"pt\", [1, 2, 3]);");
    run(
        &mut s,
        &b,
        "mk := (k: i64) -> (i64) -> i64 => (x) => x + k;",
    );
    run(&mut s, &b, "add5 := mk(5);");
    run(&mut s, &b, "arr := array.make(3, \"\");");
    for k in 0..3 {
        let (_, e, _) = run(&mut s, &b, &format!("arr[{k}] = \"v\" + to_str({k})"));
        assert_eq!(e, "");
        // Allocate plenty in between.
        run(&mut s, &b, "list.map(list.range(0, 200), (i) => [i, i])");
    }
    run(&mut s, &b, "m := import(\"map\");");
    assert_eq!(
        run(&mut s, &b, "(p, add5(1), arr)").0,
        "(P(\"pt\", [1, 2, 3]), 6, #[\"v0\", \"v1\", \"v2\"]) : (P, i64, Array<str>)\n"
    );
}

#[test]
fn exit_and_quit() {
    let (mut s, _) = session();
    assert_eq!(s.run("io.exit(3)").1, Next::Exit(3));
    assert_eq!(s.run(":quit").1, Next::Exit(0));
    assert_eq!(s.run(":q").1, Next::Exit(0));
    assert_eq!(s.run("").1, Next::Continue);
}

/// Raises the session's interrupt flag after `ms` milliseconds, as Ctrl-C would.
fn interrupt_after(s: &Session, ms: u64) -> std::thread::JoinHandle<()> {
    let flag = s.interrupt.clone();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        flag.store(true, Ordering::SeqCst);
    })
}

#[test]
fn interrupt_stops_a_running_program() {
    let (mut s, b) = session();
    run(&mut s, &b, "spin := () => { while true {} };");
    let t = interrupt_after(&s, 200);
    let (_, e, _) = run(&mut s, &b, "spin()");
    t.join().unwrap();
    assert!(e.contains("interrupted"), "{e}");
    // A stale flag does not stop the next evaluation.
    s.interrupt.store(true, Ordering::SeqCst);
    assert_eq!(run(&mut s, &b, "1 + 1").0, "2 : i64\n");
}

/// `#run` is evaluated in the session's VM: it sees the live values of earlier
/// inputs, and does not compute them again.
#[test]
fn run_uses_the_live_session() {
    let (mut s, b) = session();
    let (_, _, printed) = run(&mut s, &b, "noisy := { println(\"computing\"); 42 };");
    assert_eq!(printed, "computing\n");
    run(&mut s, &b, "cell := array.make(1, 1);");
    run(&mut s, &b, "cell[0] = 7");
    let (o, e, printed) = run(&mut s, &b, "k := #run noisy + cell[0];");
    assert_eq!(
        (o.as_str(), e.as_str(), printed.as_str()),
        ("k : i64 = 49\n", "", "")
    );
    // The constant was stored: later mutations do not change `k`.
    run(&mut s, &b, "cell[0] = 0");
    assert_eq!(run(&mut s, &b, "k").0, "49 : i64\n");
    // A #run in the same input as the value it uses.
    assert_eq!(
        run(&mut s, &b, "a := 5; c := #run a * 2; c").0,
        "a : i64 = 5\nc : i64 = 10\n10 : i64\n"
    );
    // A failing #run is an error located at it; the session goes on.
    let (_, e, _) = run(&mut s, &b, "#run noisy / 0");
    assert!(
        e.contains("division by zero") && e.contains("repl.hash:1:"),
        "{e}"
    );
    assert_eq!(run(&mut s, &b, "noisy").0, "42 : i64\n");
}

#[test]
fn interrupt_stops_compile_time_evaluation() {
    let (mut s, b) = session();
    run(&mut s, &b, "spin := () -> i64 => { while true {} 0 };");
    let t = interrupt_after(&s, 300);
    let (_, e, _) = run(&mut s, &b, "#run spin()");
    t.join().unwrap();
    assert!(e.contains("interrupted"), "{e}");
    assert_eq!(run(&mut s, &b, "2 + 2").0, "4 : i64\n");
}

#[test]
fn odd_inputs_do_not_panic() {
    let (mut s, _) = session();
    for input in [
        ")",
        "(",
        "\"",
        "'",
        "/*",
        ":",
        ":t )",
        ":dis )",
        ":dis",
        ";",
        ";;",
        "x :=",
        ":= 1",
        "main := 5",
        "main",
        "it := it",
        "#run 1",
        "é",
        "\u{0}",
        "x := 1; )",
        "{",
        "}",
        "import(\"nowhere\")",
        "q := import(\"nowhere\")",
    ] {
        let _ = s.run(input);
    }
}

#[test]
fn dis_functions_match_names_and_follow_closures() {
    let src = ".module executable\n.func f/1 slots=2\n    closure r1, 3, r0, 1\n    ret r1\n.end\n.func ff/0 slots=1\n    ret r0\n.end\n.func list.map/2 slots=5\n    ret r0\n.end\n.func \"<lambda>\"/1 captures=1 slots=1\n    ret r0\n.end\n.entry ff\n";
    let m = hashvm_format::hasm::assemble(src, "t.hasm").expect("assembles");
    assert_eq!(dis_functions(&m, "f", "f", None), vec![0, 3]);
    assert_eq!(dis_functions(&m, "ff", "ff", None), vec![1]);
    assert_eq!(dis_functions(&m, "list.map", "map", None), vec![2]);
    assert_eq!(dis_functions(&m, "map", "map", None), vec![2]);
    assert!(dis_functions(&m, "g", "g", None).is_empty());
    assert_eq!(dis_functions(&m, "f", "f", Some(1)), vec![1]);
    let text = hashvm_format::hasm::disassemble_function(&m, 0).unwrap_or_default();
    assert!(text.starts_with(".func f/1"), "{text}");
}

#[test]
fn foreign_functions_need_permission() {
    let (mut s, b) = session();
    let decl = "cos := #foreign(\"libm.so.6\", \"cos\") (x: f64) -> f64;";
    let (_, e, _) = run(&mut s, &b, decl);
    assert!(
        e.contains("`cos` from `libm.so.6`") && e.contains("--allow-ffi"),
        "{e}"
    );
    // The refused input left the session usable.
    assert_eq!(run(&mut s, &b, "1 + 1").0, "2 : i64\n");
    s.set_allow_ffi(true);
    let (o, e, _) = run(&mut s, &b, decl);
    assert_eq!((o.as_str(), e.as_str()), ("cos : (f64) -> f64\n", ""));
    assert_eq!(run(&mut s, &b, "cos(0.0)").0, "1.0 : f64\n");
    // #run code of an input may call it too.
    assert_eq!(run(&mut s, &b, "K := #run cos(0.0); K").1, "");
}
