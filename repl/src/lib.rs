//! The interactive Hash REPL (`hashvm repl`, or `hashvm` with no arguments).
//!
//! Type an expression to see its value and type (`42 : i64`; `()` results print
//! nothing), or a top-level declaration (`f := (x: i64) -> i64 => x * 2;`) to add it to
//! the session. See [`session`] for how evaluation works (one live VM per session: each
//! input is compiled against the earlier ones, linked into the running VM and run once)
//! and [`command::HELP`] for the `:` commands.
//!
//! - [`scan`]: when an input is finished, and splitting it into declarations and
//!   expressions.
//! - [`command`]: the `:` commands.
//! - [`complete`]: tab completion.
//! - [`session`]: the live VM and the pieces compiled into it; compiling and running
//!   inputs.
//! - [`info`]: `:info` / `:doc`.
//! - [`cputime`]: the CPU clock `:time` reads.
//!
//! Terminal behaviour: line editing and history by rustyline (history in
//! `$HASH_HISTORY`, else `~/.hash_history`; an unreadable or unwritable history file is
//! ignored, and `HASH_HISTORY=` (empty) turns it off); prompt `hash> `, continuation
//! prompt `...> `; Ctrl-C at the prompt clears the input, Ctrl-C while a program runs
//! interrupts it (a runtime error "interrupted", back to the prompt); Ctrl-D at an
//! empty prompt leaves with status 0. When standard input is not a terminal the REPL
//! reads it line by line without prompts (scripts, pipes).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod command;
pub mod complete;
pub mod cputime;
pub mod info;
pub mod scan;
pub mod session;

use complete::ReplHelper;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;
use session::{Msg, Next, Session};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// The prompt for a new input.
pub const PROMPT: &str = "hash> ";
/// The prompt while an input continues (an open bracket, string, char or comment, or a
/// line ending in an operator).
pub const CONTINUE: &str = "...> ";

/// Where history is kept: `$HASH_HISTORY` (empty: nowhere), else `~/.hash_history`.
pub fn history_path() -> Option<PathBuf> {
    match std::env::var_os("HASH_HISTORY") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".hash_history")),
    }
}

/// Whether a (partial) input needs more lines: Hash source or `:t`/`:time EXPR` with
/// an open bracket, literal or comment, or whose last line ends in an operator (`1 +`,
/// `x :=`, `(a) =>`). Other commands are always one line.
pub fn needs_more(input: &str) -> bool {
    let t = input.trim_start();
    let checked = match t.strip_prefix(':') {
        None => input,
        Some(rest) => {
            let (name, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            match name {
                "t" | "type" | "time" => arg,
                _ => return false,
            }
        }
    };
    !scan::is_complete(checked) || ends_in_operator(checked)
}

/// Whether the input's last token, outside comments and literals, is a binary or
/// prefix operator, `:=`, `=>`, `->` or `,`: an expression cannot end there.
fn ends_in_operator(input: &str) -> bool {
    let masked = scan::scan(input).masked;
    let text = String::from_utf8_lossy(&masked);
    let t = text.trim_end();
    // `..`/`..=` (a range) and `.` (a member) are not waited on: `x.` is an error
    // best reported at once.
    t.ends_with(|c: char| "+-*/%=<>!&|^,:".contains(c))
}

/// Prints the session's messages: results on standard output, errors on standard
/// error (after flushing standard output, so they appear in order).
pub fn print_msgs(msgs: &[Msg]) {
    let mut out = std::io::stdout().lock();
    for m in msgs {
        match m {
            Msg::Out(s) => {
                let _ = out.write_all(s.as_bytes());
            }
            Msg::Err(s) => {
                let _ = out.flush();
                // Coloured as the command-line tools colour them (on a terminal,
                // unless NO_COLOR is set).
                let painted;
                let s = if hashvm_compiler::diag::colour_stderr() {
                    painted = hashvm_compiler::diag::paint(s);
                    &painted
                } else {
                    s
                };
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(s.as_bytes());
                if !s.ends_with('\n') {
                    let _ = err.write_all(b"\n");
                }
                let _ = err.flush();
            }
        }
    }
    let _ = out.flush();
}

/// How reading one input ended.
enum Read {
    /// A complete input.
    Input(String),
    /// Ctrl-C: the input was dropped.
    Cancelled,
    /// End of input (Ctrl-D on an empty line), with whatever unfinished input was
    /// pending.
    End(String),
}

fn read_input(rl: &mut Editor<ReplHelper, FileHistory>) -> Result<Read, ReadlineError> {
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() { PROMPT } else { CONTINUE };
        match rl.readline(prompt) {
            Ok(line) => {
                if !buf.is_empty() {
                    buf.push('\n');
                }
                buf.push_str(&line);
                if !needs_more(&buf) {
                    return Ok(Read::Input(buf));
                }
            }
            Err(ReadlineError::Interrupted) => return Ok(Read::Cancelled),
            Err(ReadlineError::Eof) => return Ok(Read::End(buf)),
            Err(e) => return Err(e),
        }
    }
}

/// Runs the REPL on the terminal; returns the exit status (0 after `:quit` or Ctrl-D,
/// the program's status if it calls `io.exit`, 1 if the terminal cannot be used).
pub fn main() -> i32 {
    main_with_jit(None)
}

/// [`main`], with the session's VM and `#run` running with the JIT `jit` makes (the
/// `hashvm` binary attaches the tracing JIT; this crate does not depend on it).
pub fn main_with_jit(jit: Option<hashvm_compiler::driver::JitFactory>) -> i32 {
    main_with(jit, false)
}

/// [`main_with_jit`], allowing inputs to declare foreign (C) functions when
/// `allow_ffi` (`hashvm repl --allow-ffi`).
pub fn main_with(jit: Option<hashvm_compiler::driver::JitFactory>, allow_ffi: bool) -> i32 {
    let mut session = Session::with_jit(jit);
    session.set_allow_ffi(allow_ffi);
    // Ctrl-C while a program runs: raise the VM's interrupt flag. (At the prompt the
    // terminal is in raw mode and rustyline sees Ctrl-C as a key instead.)
    let flag = session.interrupt.clone();
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("warning: Ctrl-C will not interrupt programs: {e}");
    }
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)
        .and_then(|b| b.history_ignore_dups(true))
        // Tab completes the common prefix, a second Tab lists the candidates (as bash).
        .map(|b| b.completion_type(rustyline::CompletionType::List).build())
        .unwrap_or_default();
    let mut rl: Editor<ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("error: cannot use the terminal: {e}");
            return 1;
        }
    };
    rl.set_helper(Some(ReplHelper::new()));
    let history = history_path();
    if let Some(p) = &history {
        let _ = rl.load_history(p);
    }
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        println!("Hash REPL: type an expression or a declaration; :help for help, :quit to leave.");
    }
    let status = loop {
        let read = match read_input(&mut rl) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: reading input: {e}");
                break 1;
            }
        };
        let (input, last) = match read {
            Read::Input(s) => (s, false),
            Read::Cancelled => continue,
            // Ctrl-D on an empty continuation line drops the unfinished input (a second
            // Ctrl-D leaves); at the end of piped input it is run, to show its error.
            Read::End(s) if interactive && !s.trim().is_empty() => continue,
            Read::End(s) => (s, true),
        };
        if !input.trim().is_empty() {
            let _ = rl.add_history_entry(input.as_str());
            if let Some(p) = &history {
                let _ = rl.append_history(p);
            }
        }
        let (msgs, next) = session.run(&input);
        if session.take_open_line() {
            println!();
        }
        print_msgs(&msgs);
        if let Some(h) = rl.helper_mut() {
            h.names = session.names();
        }
        match next {
            Next::Exit(code) => break code,
            Next::Continue if last => break 0,
            Next::Continue => {}
        }
    };
    if interactive && status == 0 {
        // Leave the shell's prompt on a fresh line after Ctrl-D.
        println!();
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert!(needs_more("f := (x) => {"));
        assert!(!needs_more("f := (x) => {\n x };"));
        assert!(needs_more(":t list.map(["));
        assert!(needs_more(":type ("));
        assert!(!needs_more(":t list.map"));
        assert!(!needs_more(":load it's.hash"));
        assert!(!needs_more(":dis ("));
        assert!(!needs_more(":help"));
        assert!(!needs_more(""));
        // An operator at the end of the line: the expression goes on.
        assert!(needs_more("1 +"));
        assert!(needs_more("x :=  "));
        assert!(needs_more("f := (x) =>"));
        assert!(needs_more("a &&\n  b ||"));
        assert!(needs_more(":t 1 *"));
        assert!(!needs_more("1 +\n 2"));
        assert!(!needs_more("\"a +\""));
        assert!(!needs_more("1 // +"));
        assert!(!needs_more("x := 1;"));
        assert!(!needs_more(":load a+"));
    }
}
