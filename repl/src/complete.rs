//! Tab completion: command names, the session's names, the prelude, the standard
//! modules and, after `MODULE.`, that module's functions; file names after `:load`.

use crate::command;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

/// Names in scope everywhere without an import (LANGUAGE.md §7).
pub const PRELUDE: &[&str] = &[
    "print", "println", "eprintln", "to_str", "panic", "assert", "Some", "None", "Ok", "Err",
    "Cons", "Nil",
];

/// Keywords worth completing at the start of an expression.
const KEYWORDS: &[&str] = &[
    "mut", "if", "else", "match", "loop", "while", "for", "in", "break", "continue", "return",
    "import", "enum", "struct", "true", "false",
];

/// The standard modules usable by name (every bundled module but the prelude).
pub fn modules() -> Vec<&'static str> {
    hashvm_stdlib::MODULES
        .iter()
        .copied()
        .filter(|m| *m != hashvm_stdlib::PRELUDE)
        .collect()
}

/// The public top-level names of a standard module, read off its source: every line
/// that starts with `name := ` or `name: T := ` (names starting with `_` are private).
pub fn module_functions(module: &str) -> Vec<String> {
    let Some(src) = hashvm_stdlib::source(module) else {
        return Vec::new();
    };
    let mut out: Vec<String> = src.lines().filter_map(top_level_name).collect();
    out.sort();
    out.dedup();
    out
}

fn top_level_name(line: &str) -> Option<String> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    let name = &line[..end];
    let first = name.chars().next()?;
    if !(first.is_ascii_alphabetic()) {
        return None;
    }
    let rest = line[end..].trim_start();
    if rest.starts_with(":=") || (rest.starts_with(':') && rest.contains(":=")) {
        Some(name.to_string())
    } else {
        None
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The completions of the word that ends at byte `pos` of `line`: the byte offset where
/// the replaced word starts, and the candidates (sorted, without duplicates). `names`
/// are the names the session defines. File names after `:load` are not handled here.
pub fn candidates(line: &str, pos: usize, names: &[String]) -> (usize, Vec<String>) {
    let pos = pos.min(line.len());
    let Some(before) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word_char(*c))
        .last()
        .map(|(i, _)| i)
        .unwrap_or(pos);
    let word = &before[start..];
    let mut out: Vec<String> = Vec::new();
    // A command name at the start of the line.
    if before.trim_start().starts_with(':') && !before.trim_start().contains(char::is_whitespace) {
        let cstart = before.find(':').unwrap_or(0);
        let typed = &before[cstart..];
        out = command::NAMES
            .iter()
            .filter(|n| n.starts_with(typed))
            .map(|n| n.to_string())
            .collect();
        out.sort();
        out.dedup();
        return (cstart, out);
    }
    // `MODULE.prefix`: that module's functions.
    if start > 0 && before[..start].ends_with('.') {
        let mbefore = &before[..start - 1];
        let mstart = mbefore
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_word_char(*c))
            .last()
            .map(|(i, _)| i)
            .unwrap_or(mbefore.len());
        let module = &mbefore[mstart..];
        // Only a module name standing on its own (not `x.y.` nor a number `1.`).
        let dotted = mbefore[..mstart].ends_with('.');
        if !dotted && modules().contains(&module) {
            out = module_functions(module)
                .into_iter()
                .filter(|f| f.starts_with(word))
                .collect();
        }
        return (start, out);
    }
    if word.is_empty() {
        return (start, Vec::new());
    }
    let builtin = PRELUDE
        .iter()
        .chain(KEYWORDS.iter())
        .map(|s| s.to_string())
        .chain(modules().into_iter().map(String::from));
    out = builtin
        .chain(names.iter().cloned())
        .filter(|n| n.starts_with(word))
        .collect();
    out.sort();
    out.dedup();
    (start, out)
}

/// The rustyline helper: completion only (no hints, highlighting or validation; the
/// REPL decides itself when an input continues, to show its own `...> ` prompt).
pub struct ReplHelper {
    /// The names the session defines, refreshed after each input.
    pub names: Vec<String>,
    files: FilenameCompleter,
}

impl ReplHelper {
    /// A helper with no session names yet.
    pub fn new() -> ReplHelper {
        ReplHelper {
            names: Vec::new(),
            files: FilenameCompleter::new(),
        }
    }
}

impl Default for ReplHelper {
    fn default() -> Self {
        ReplHelper::new()
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let trimmed = line.trim_start();
        if trimmed.starts_with(":load ") || trimmed.starts_with(":l ") {
            return self.files.complete(line, pos, ctx);
        }
        let (start, c) = candidates(line, pos, &self.names);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(line: &str) -> (usize, Vec<String>) {
        candidates(line, line.len(), &["fact".to_string(), "foo".to_string()])
    }

    #[test]
    fn commands_complete() {
        assert_eq!(c(":lo"), (0, vec![":load".to_string()]));
        assert_eq!(c(":q"), (0, vec![":q".to_string(), ":quit".to_string()]));
        assert_eq!(c(":ty").1, vec![":type".to_string()]);
        assert_eq!(c(":t").1.len(), 3); // :t :time :type
        assert_eq!(c(":").1.len(), command::NAMES.len());
    }

    #[test]
    fn names_complete() {
        assert_eq!(
            c("f").1,
            vec!["fact", "false", "foo", "for", "f64"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
                .tap_sorted()
        );
        assert_eq!(
            c("1 + fa"),
            (4, vec!["fact".to_string(), "false".to_string()])
        );
        assert_eq!(
            c("prin").1,
            vec!["print".to_string(), "println".to_string()]
        );
        assert_eq!(c("So").1, vec!["Some".to_string()]);
        assert!(c("li").1.contains(&"list".to_string()));
        assert_eq!(c("").1, Vec::<String>::new());
        assert_eq!(c("x + ").1, Vec::<String>::new());
        assert_eq!(
            c(":t pri").1,
            vec!["print".to_string(), "println".to_string()]
        );
    }

    #[test]
    fn module_members_complete() {
        let (start, v) = c("list.ma");
        assert_eq!(start, 5);
        assert!(v.contains(&"map".to_string()), "{v:?}");
        assert!(v.iter().all(|n| n.starts_with("ma")));
        let (_, all) = c("xs := list.");
        assert!(all.contains(&"filter".to_string()) && all.contains(&"foldl".to_string()));
        assert!(all.iter().all(|n| !n.starts_with('_')));
        assert!(c("i64.").1.contains(&"MAX".to_string()));
        assert_eq!(c("nosuch.").1, Vec::<String>::new());
        assert_eq!(c("a.list.").1, Vec::<String>::new());
    }

    #[test]
    fn never_panics_at_odd_positions() {
        let line = "é list.m :t";
        for pos in 0..=line.len() + 2 {
            let _ = candidates(line, pos, &[]);
        }
    }

    #[test]
    fn module_function_scan() {
        assert_eq!(top_level_name("map := <A> => 1;"), Some("map".into()));
        assert_eq!(top_level_name("MAX: i64 := 1;"), Some("MAX".into()));
        assert_eq!(top_level_name("_hidden := 1;"), None);
        assert_eq!(top_level_name("    x := 1;"), None);
        assert_eq!(top_level_name("// map := 1"), None);
        for m in modules() {
            assert!(!module_functions(m).is_empty(), "{m}");
        }
    }

    trait TapSorted {
        fn tap_sorted(self) -> Self;
    }
    impl TapSorted for Vec<String> {
        fn tap_sorted(mut self) -> Self {
            self.sort();
            self
        }
    }
}
