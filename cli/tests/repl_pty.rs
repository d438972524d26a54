//! The REPL as a person uses it: the real `hashvm` binary on a pseudo-terminal, typed
//! into, its screen read back.

#[path = "pty/mod.rs"]
mod common;

use common::Repl;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn multi_line_definition_then_call() {
    let mut r = Repl::start();
    r.prompt();
    r.line("f := (x: i64) -> i64 => {");
    r.expect("...> ");
    r.line("x * 2");
    r.expect("...> ");
    r.line("};");
    r.expect("f : (i64) -> i64");
    r.prompt();
    r.line("f(21)");
    r.expect("42 : i64");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn an_error_then_a_correct_input() {
    let mut r = Repl::start();
    r.prompt();
    r.line("x := 20;");
    r.expect("x : i64 = 20");
    r.prompt();
    r.line("1 + \"a\"");
    let shown = r.expect("error");
    assert!(!shown.contains(" : i64"), "{shown}");
    r.prompt();
    r.line("x + 22");
    r.expect("42 : i64");
    r.prompt();
    // A runtime error too: the session goes on, definitions intact.
    r.line("x / 0");
    r.expect("division by zero");
    r.prompt();
    r.line("[x, x]");
    r.expect("[20, 20] : List<i64>");
    r.prompt();
    r.line(":q");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn type_command_does_not_evaluate() {
    let mut r = Repl::start();
    r.prompt();
    r.line(":t list.map");
    r.expect("list.map : (List<");
    r.expect("-> List<");
    r.prompt();
    r.line(":t println(\"boom\")");
    let shown = r.expect("hash> ");
    assert!(shown.contains(": ()"), "{shown}");
    assert!(!shown.contains("\nboom"), "{shown}");
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn values_print_with_their_types() {
    let mut r = Repl::start();
    r.prompt();
    r.line("\"hi\"");
    r.expect("\"hi\" : str");
    r.prompt();
    r.line("'c'");
    r.expect("'c' : char");
    r.prompt();
    r.line("println(\"hello\" + \" world\")");
    r.expect("hello world");
    let after = r.prompt();
    assert!(!after.contains(": ()"), "{after}");
    r.line("Point := struct(x: f64, y: f64);");
    r.expect("Point : type");
    r.prompt();
    r.line("Point(1.0, 2.5)");
    r.expect("Point(1.0, 2.5) : Point");
    r.prompt();
    r.send("\x04"); // Ctrl-D at an empty prompt
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn quit_exits_with_status_zero() {
    let mut r = Repl::start_with(&[], None); // `hashvm` with no arguments
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn ctrl_c_interrupts_a_running_program() {
    let mut r = Repl::start();
    r.prompt();
    r.line(
        "spin := () => { println(\"spinning\"); io.flush(); mut i := 0; while true { i += 1; } };",
    );
    r.expect("spin : () -> ()");
    r.prompt();
    r.line("spin()");
    // Once it runs (not while it compiles), Ctrl-C.
    r.expect("spinning");
    std::thread::sleep(Duration::from_millis(100));
    r.send("\x03");
    r.expect("interrupted");
    r.prompt();
    r.line("1 + 1");
    r.expect("2 : i64");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn ctrl_c_at_the_prompt_clears_the_input() {
    let mut r = Repl::start();
    r.prompt();
    r.line("g(1,");
    r.expect("...> ");
    r.send("2");
    r.send("\x03");
    r.prompt();
    r.line("7");
    r.expect("7 : i64");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn tab_completes_module_functions() {
    let mut r = Repl::start();
    r.prompt();
    r.send("list.fil\t");
    r.expect("list.filter");
    r.line("([1, 2, 3], (x) => x > 1)");
    r.expect("[2, 3] : List<i64>");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn history_is_kept_in_the_history_file() {
    let mut r = Repl::start();
    r.prompt();
    r.line("40 + 2");
    r.expect("42 : i64");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
    let h = std::fs::read_to_string(r.history_file()).unwrap_or_default();
    assert!(h.contains("40 + 2"), "history file: {h:?}");
}

#[test]
fn load_adds_a_files_declarations() {
    let dir = common::Scratch::new("load");
    std::fs::write(
        dir.0.join("helper.hash"),
        "/// Doubles.\ndouble := (x: i64) -> i64 => x * 2;\n",
    )
    .expect("write helper");
    std::fs::write(
        dir.0.join("lib.hash"),
        "h := import(\"helper\");\nquad := (x: i64) -> i64 => h.double(h.double(x));\nmain := () => {};\n",
    )
    .expect("write lib");
    let mut r = Repl::start();
    r.prompt();
    r.line(&format!(":load {}", dir.0.join("lib.hash").display()));
    r.expect("loaded 3 declarations");
    r.prompt();
    r.line("quad(5)");
    r.expect("20 : i64");
    r.prompt();
    r.line(":reset");
    r.expect("session cleared");
    r.prompt();
    r.line("quad(5)");
    r.expect("error");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

/// Runs `hashvm repl` with `input` piped to its standard input (no terminal).
fn piped(input: &[u8]) -> std::process::Output {
    let mut child = Command::new(common::hashvm())
        .arg("repl")
        .env("HASH_HISTORY", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hashvm repl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write input");
    child.wait_with_output().expect("wait")
}

/// Without a terminal the REPL reads standard input line by line (no prompts), so it
/// can be scripted.
#[test]
fn piped_input_works_without_a_terminal() {
    let out = piped(b"sq := (n) => n * n;\nsq(\n  12)\n1 + true\nsq(3)\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stdout, "sq : (i64) -> i64\n144 : i64\n9 : i64\n",
        "{stderr}"
    );
    assert!(stderr.contains("error"), "{stderr}");
}

#[test]
fn output_without_a_final_newline_is_not_erased_by_the_prompt() {
    let mut r = Repl::start();
    r.prompt();
    r.line("print(\"no newline\")");
    r.expect("no newline\n");
    r.prompt();
    r.line(":quit");
    assert_eq!(r.wait_exit(), 0);
}

/// A program reading standard input takes one line; the following lines are still
/// REPL inputs.
#[test]
fn programs_read_only_the_input_they_ask_for() {
    let out = piped(b"io.read_line()\nhello there\n:t io.read_line\n1 + 1\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "Some(\"hello there\") : Option<str>\nio.read_line : () -> Option<str>\n2 : i64\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ctrl_d_in_a_continuation_drops_the_input_then_leaves() {
    let mut r = Repl::start();
    r.prompt();
    r.line("[1,");
    r.expect("...> ");
    r.send("\x04");
    r.prompt();
    r.line("3");
    r.expect("3 : i64");
    r.prompt();
    r.send("\x04");
    assert_eq!(r.wait_exit(), 0);
}

/// Errors are coloured on the terminal, as the command-line tools colour them.
#[test]
fn errors_are_coloured() {
    let mut r = Repl::start();
    r.prompt();
    r.line("1 + \"a\"");
    r.expect("error");
    r.prompt();
    let raw = r.raw_screen();
    assert!(raw.contains("\x1b[1;31merror:\x1b[0m"), "{raw:?}");
    r.line(":q");
    assert_eq!(r.wait_exit(), 0);
}
