//! Diagnostics: errors and warnings, collected (never fatal on the first one) and
//! rendered the way users of rustc and Elm expect:
//!
//! ```text
//! prog.hash:6:20: error: cannot find `helpr` in this scope
//!   |
//! 6 |     println(to_str(a + helpr(2)));
//!   |                        ^^^^^ not found
//!   = help: a name that exists: `helper`
//! ```
//!
//! The first line always has the form `file:line:col: error: message` (or `warning:`),
//! which is what the conformance tests and editors look for.

use crate::span::{SourceMap, Span};
use std::fmt::Write as _;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The program is accepted; something is probably wrong (an unreachable match arm).
    Warning,
    /// The program is rejected.
    Error,
}

/// A secondary location shown under the main one, e.g. "first defined here".
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    /// Where, if anywhere.
    pub span: Option<Span>,
    /// What to say.
    pub message: String,
}

/// One error or warning about the program.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The headline, e.g. "mismatched types: expected `i64`, found `f64`".
    pub message: String,
    /// The main location, if one is known (a missing root file has none).
    pub span: Option<Span>,
    /// A short text printed after the `^^^` underline.
    pub label: Option<String>,
    /// Secondary locations.
    pub notes: Vec<Note>,
    /// A suggestion printed as `= help: ...` when the fix is obvious.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            label: None,
            notes: Vec::new(),
            help: None,
        }
    }

    /// An error with no location (e.g. the root file cannot be read).
    pub fn error_nowhere(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            label: None,
            notes: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// Sets the text printed after the underline.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Adds a `= help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary location.
    pub fn with_note(mut self, span: Option<Span>, message: impl Into<String>) -> Diagnostic {
        self.notes.push(Note {
            span,
            message: message.into(),
        });
        self
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders this diagnostic against the files in `sources`, ending with a newline.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.span.filter(|s| sources.get(s.file).is_some()) {
            Some(span) => {
                let (line, col) = sources.line_col(span);
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {}: {}",
                    sources.name(span),
                    line,
                    col,
                    kind,
                    self.message
                );
                render_snippet(&mut out, sources, span, '^', self.label.as_deref());
            }
            None => {
                let _ = writeln!(out, "{}: {}", kind, self.message);
            }
        }
        for note in &self.notes {
            match note.span.filter(|s| sources.get(s.file).is_some()) {
                Some(span) => {
                    let (line, col) = sources.line_col(span);
                    let _ = writeln!(
                        out,
                        "note: {}:{}:{}: {}",
                        sources.name(span),
                        line,
                        col,
                        note.message
                    );
                    render_snippet(&mut out, sources, span, '-', None);
                }
                None => {
                    let _ = writeln!(out, "note: {}", note.message);
                }
            }
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// Prints the first line of `span` with the span underlined by `mark` characters.
fn render_snippet(
    out: &mut String,
    sources: &SourceMap,
    span: Span,
    mark: char,
    label: Option<&str>,
) {
    let file = sources.file(span.file);
    let (line, col) = file.line_col(span.lo);
    let (end_line, end_col) = file.line_col(span.hi);
    let text = file.line_text(line);
    let width = line.to_string().len();
    let pad = " ".repeat(width);
    // Tabs are shown as four spaces so that the underline lines up.
    let shown: String = text.replace('\t', "    ");
    let prefix_chars: usize = text
        .chars()
        .take(col as usize - 1)
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum();
    let underline_len = if end_line == line {
        let covered: usize = text
            .chars()
            .skip(col as usize - 1)
            .take(end_col.saturating_sub(col) as usize)
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum();
        covered.max(1)
    } else {
        // A multi-line span: underline to the end of its first line.
        shown.chars().count().saturating_sub(prefix_chars).max(1)
    };
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line} | {shown}");
    let marks: String = std::iter::repeat_n(mark, underline_len).collect();
    match label {
        Some(l) => {
            let _ = writeln!(out, "{pad} | {}{} {}", " ".repeat(prefix_chars), marks, l);
        }
        None => {
            let _ = writeln!(out, "{pad} | {}{}", " ".repeat(prefix_chars), marks);
        }
    }
}

/// Renders a list of diagnostics, in order, separated by blank lines.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&d.render(sources));
    }
    out
}

/// Collects diagnostics while a pass runs, so that passes report many problems per run.
#[derive(Clone, Debug, Default)]
pub struct Diags {
    /// Everything reported so far, in order.
    pub list: Vec<Diagnostic>,
}

impl Diags {
    /// Records a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    /// Whether any error (not warning) was reported.
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.is_error())
    }

    /// Number of errors reported.
    pub fn error_count(&self) -> usize {
        self.list.iter().filter(|d| d.is_error()).count()
    }
}

// ----- colour ----------------------------------------------------------------------

/// Whether diagnostics written to standard error should be coloured now:
/// [`colour_wanted`] for this process's standard error and environment.
pub fn colour_stderr() -> bool {
    colour_wanted(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

/// Whether to colour diagnostics: only on a terminal, and not when `NO_COLOR` is set to
/// anything non-empty (<https://no-color.org>) or `TERM` is `dumb`.
pub fn colour_wanted(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const CYAN: &str = "\x1b[1;36m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Colours rendered diagnostics with ANSI escapes, as rustc does: the `error`,
/// `warning`, `note` and `help` keywords, the message after them in bold, the `|`
/// gutter and line numbers in blue, and the carets under the source in the colour of
/// the diagnostic. Text is otherwise unchanged, so stripping the escapes gives back
/// the input.
pub fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut colour = RED;
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        // `PREFIX KEYWORD: MESSAGE`, where PREFIX is empty or a location `FILE:L:C: `.
        let keyword = ["error", "warning", "note"].iter().find_map(|k| {
            let at = if body.starts_with(&format!("{k}:")) {
                Some(0)
            } else {
                body.find(&format!(": {k}: ")).map(|i| i + 2)
            }?;
            Some((at, *k))
        });
        if let Some((at, k)) = keyword {
            let c = match k {
                "error" => RED,
                "warning" => YELLOW,
                _ => CYAN,
            };
            if k != "note" {
                colour = c;
            }
            let end = at + k.len() + 1;
            out += &format!(
                "{}{c}{k}:{RESET}{BOLD}{}{RESET}{nl}",
                &body[..at],
                &body[end..]
            );
            continue;
        }
        // Gutter lines: `  |`, `12 | source`, `  | ^^^ label`, `  = help: ...`.
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        let digits = trimmed.len()
            - trimmed
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        let after_digits = &trimmed[digits..];
        if let Some(rest) = after_digits
            .strip_prefix(" |")
            .or_else(|| after_digits.strip_prefix('|').filter(|_| digits == 0))
        {
            let bar = &trimmed[..trimmed.len() - rest.len()];
            let rest_painted = if digits == 0 && rest.trim_start().starts_with(['^', '-']) {
                format!("{colour}{rest}{RESET}")
            } else {
                rest.to_string()
            };
            out += &format!("{indent}{BLUE}{bar}{RESET}{rest_painted}{nl}");
        } else if let Some(rest) = trimmed.strip_prefix("= help:") {
            out += &format!("{indent}{BLUE}={RESET} {CYAN}help:{RESET}{rest}{nl}");
        } else {
            out += line;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_and_underline() {
        let mut sm = SourceMap::new();
        let f = sm.add(
            "t.hash".into(),
            "t.hash".into(),
            "x := 1;\ny := helpr(2);\n".into(),
        );
        let d = Diagnostic::error(Span::new(f, 13, 18), "cannot find `helpr` in this scope")
            .with_label("not found")
            .with_help("a name that exists: `helper`");
        let s = d.render(&sm);
        assert!(
            s.starts_with("t.hash:2:6: error: cannot find `helpr`"),
            "{s}"
        );
        assert!(s.contains("2 | y := helpr(2);"), "{s}");
        assert!(s.contains("  |      ^^^^^ not found"), "{s}");
        assert!(s.contains("= help: a name that exists"), "{s}");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(colour_wanted(true, None, Some(OsStr::new("xterm"))));
        assert!(colour_wanted(true, Some(OsStr::new("")), None));
        assert!(!colour_wanted(false, None, None));
        assert!(!colour_wanted(true, Some(OsStr::new("1")), None));
        assert!(!colour_wanted(true, None, Some(OsStr::new("dumb"))));
    }

    /// Removes ANSI escapes.
    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '\x1b' {
                for d in it.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn paint_colours_keywords_gutters_and_carets_only() {
        let text = "x.hash:3:13: error: this `{` is never closed\n  |\n3 |     if true {\n  |             ^ here\nnote: x.hash:6:1: the file ends here\n  = help: close it\nwarning: unused\nerror: x.hash: compilation failed\nplain line";
        let p = paint(text);
        assert_eq!(strip(&p), text);
        assert!(p.starts_with(&format!("x.hash:3:13: {RED}error:{RESET}{BOLD} this")));
        assert!(p.contains(&format!("{BLUE}3 |{RESET}     if true {{")));
        assert!(p.contains(&format!("\n  {BLUE}|{RESET}\n")));
        assert!(p.contains(&format!("{RED}             ^ here{RESET}")));
        assert!(p.contains(&format!("{CYAN}note:{RESET}")));
        assert!(p.contains(&format!("{CYAN}help:{RESET}")));
        assert!(p.contains(&format!("{YELLOW}warning:{RESET}")));
        assert!(p.ends_with("plain line"));
        // A runtime error and its trace.
        let rt = "error: p.hash:1:5: division by zero\nstack trace (innermost first):\n  at main (p.hash:1:5)\n";
        assert_eq!(strip(&paint(rt)), rt);
    }
}
