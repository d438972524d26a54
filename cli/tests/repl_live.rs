//! The live session on a pseudo-terminal (issue 12): values computed once and kept,
//! mutations kept, shadowing, `:load` errors at the file's lines, and an input's
//! latency not growing with the cost of earlier bindings.

#[path = "pty/mod.rs"]
mod common;

use common::Repl;
use std::time::{Duration, Instant};

#[test]
fn a_value_is_computed_once_across_ten_inputs() {
    let mut r = Repl::start();
    r.prompt();
    r.line("noisy := { println(\"computing noisy\"); 42 };");
    r.expect("noisy : i64 = 42");
    for k in 0..10 {
        r.prompt();
        r.line(&format!("noisy + {k}"));
        r.expect(&format!("{} : i64", 42 + k));
    }
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
    let screen = r.screen();
    assert_eq!(
        screen.matches("computing noisy\n").count(),
        1,
        "side effect repeated:\n{screen}"
    );
}

#[test]
fn a_mutation_is_visible_in_the_next_input() {
    let mut r = Repl::start();
    r.prompt();
    r.line("cnt := array.make(1, 0);");
    r.expect("cnt : Array<i64> = #[0]");
    r.prompt();
    r.line("cnt[0] += 1");
    r.prompt();
    r.line("cnt[0] += 1");
    r.prompt();
    r.line("cnt");
    r.expect("#[2] : Array<i64>");
    r.prompt();
    // A mutable session variable.
    r.line("mut total := 10;");
    r.expect("total : i64 = 10");
    r.prompt();
    r.line("total += 5");
    r.prompt();
    r.line("total * 2");
    r.expect("30 : i64");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn a_redefinition_shadows_and_earlier_definitions_keep_theirs() {
    let mut r = Repl::start();
    r.prompt();
    r.line("g := (x: i64) -> i64 => x + 1;");
    r.expect("g : (i64) -> i64");
    r.prompt();
    r.line("f := (x: i64) -> i64 => g(x) * 10;");
    r.expect("f : (i64) -> i64");
    r.prompt();
    // A new type: accepted (no error located in `f`).
    r.line("g := (s: str) -> str => s + \"!\";");
    let shown = r.expect("g : (str) -> str");
    assert!(!shown.contains("error"), "{shown}");
    r.prompt();
    r.line("f(1)");
    r.expect("20 : i64");
    r.prompt();
    r.line("g(\"hi\")");
    r.expect("\"hi!\" : str");
    r.prompt();
    r.line(":defs");
    let shown = r.prompt();
    assert!(
        shown.contains("f : (i64) -> i64") && shown.contains("g : (str) -> str"),
        "{shown}"
    );
    assert!(!shown.contains("g : (i64) -> i64"), "{shown}");
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn an_error_in_a_loaded_file_is_reported_at_its_line() {
    let dir = common::Scratch::new("live-load");
    let file = dir.0.join("shapes.hash");
    std::fs::write(
        &file,
        "// Shapes.\n\n/// The area of a square of side `s`.\narea := (s: f64) -> f64 => s * s;\n\nbad := area(\"two\");\n",
    )
    .unwrap();
    let mut r = Repl::start();
    r.prompt();
    r.line(&format!(":load {}", file.display()));
    r.expect("shapes.hash:6:");
    r.prompt();
    // Fixed on disk, :reload takes it.
    std::fs::write(
        &file,
        "// Shapes.\n\n/// The area of a square of side `s`.\narea := (s: f64) -> f64 => s * s;\n\ngood := area(2.0);\n",
    )
    .unwrap();
    r.line(":reload");
    r.expect("loaded 2 declarations");
    r.prompt();
    r.line("good");
    r.expect("4.0 : f64");
    r.prompt();
    r.line(":doc area");
    r.expect("area : (f64) -> f64");
    r.expect("The area of a square of side `s`.");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

/// After a binding that takes well over a second to compute, a trivial input answers
/// at once: it does not recompute the binding. (Before the live session, each input
/// recomputed every binding.) The bound is generous: a second.
#[test]
fn a_trivial_input_answers_quickly_after_a_slow_binding() {
    let mut r = Repl::start();
    r.prompt();
    // Spins for two seconds of the VM's clock, whatever the machine's speed.
    r.line(
        "slow := { t0 := io.clock(); mut n := 0; while io.clock() - t0 < 2.0 { n += 1; } n > 0 };",
    );
    r.expect("slow : bool = true");
    r.prompt();
    let t = Instant::now();
    r.line("3 * 3");
    r.expect("9 : i64");
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "a trivial input took {took:?} after a slow binding"
    );
    r.prompt();
    r.line(":time slow");
    r.expect("s CPU");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn ctrl_c_stops_a_loop_and_the_session_lives_on() {
    let mut r = Repl::start();
    r.prompt();
    r.line("kept := array.make(1, 7);");
    r.expect("kept : Array<i64> = #[7]");
    r.prompt();
    r.line("{ println(\"looping\"); io.flush(); mut i := 0; while true { i += 1; kept[0] = i; } }");
    r.expect("looping");
    std::thread::sleep(Duration::from_millis(200));
    r.send("\x03");
    r.expect("interrupted");
    r.prompt();
    // The values of the session are still there, and the loop's writes to them too.
    r.line("kept[0] > 7");
    r.expect("true : bool");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

/// A loop of the shape the tracing JIT compiles (integer arithmetic and a compare-and-
/// jump: `hashvm run --jit-log` shows it compiled) runs as machine code in the
/// session's VM; Ctrl-C still stops it, through the interrupt poll at its back-edge.
#[test]
fn ctrl_c_stops_a_compiled_loop() {
    let mut r = Repl::start();
    r.prompt();
    r.line("{ println(\"counting\"); io.flush(); mut i := 0; mut s := 0; while i >= 0 { s += i * 3; i += 1; } s }");
    r.expect("counting");
    std::thread::sleep(Duration::from_millis(300));
    r.send("\x03");
    r.expect("interrupted");
    r.prompt();
    r.line("2 * 21");
    r.expect("42 : i64");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn an_incomplete_line_continues_and_errors_quote_the_input_as_typed() {
    let mut r = Repl::start();
    r.prompt();
    r.line("1 +");
    r.expect("...> ");
    r.line("2");
    r.expect("3 : i64");
    r.prompt();
    r.line("x := 1 + \"a\"");
    let shown = r.expect("`i64` + `str`");
    // Line 1, the column as typed, and the line quoted without an added `;`.
    assert!(shown.contains("repl.hash:1:6:"), "{shown}");
    assert!(shown.contains("| x := 1 + \"a\"\n"), "{shown}");
    r.prompt();
    r.line("[1, 2] + 3");
    let shown = r.expect("error");
    let shown = shown + &r.prompt();
    assert!(
        shown.contains("repl.hash:1:1:") && !shown.contains(";\n"),
        "{shown}"
    );
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}
