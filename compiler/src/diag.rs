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
}
