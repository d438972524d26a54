//! A small lexical scanner for REPL input: it knows just enough of Hash's lexical
//! syntax (strings, chars, escapes, line comments, nested block comments, brackets) to
//! tell whether an input is finished, to split it into top-level pieces at `;`, and to
//! recognise a top-level declaration `NAME := ...` / `NAME: T := ...`.
//!
//! It never rejects anything: malformed input (a stray `)`, a bad char literal) counts
//! as complete so that the compiler, which has the real lexer, reports the error.

/// What the scanner found at the end of an input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Brackets `( [ {` still open, innermost last.
    pub open: Vec<char>,
    /// The input ends inside a string literal.
    pub in_string: bool,
    /// The input ends inside a char literal.
    pub in_char: bool,
    /// Nesting depth of the block comment the input ends in (0: not in one).
    pub comment_depth: usize,
    /// A closing bracket did not match (the input is wrong; the compiler will say so).
    pub mismatched: bool,
    /// `text` with comments and the contents of string and char literals replaced by
    /// spaces (newlines kept), byte for byte: offsets into it are offsets into the
    /// input, and every remaining byte outside those regions is as typed.
    pub masked: Vec<u8>,
}

impl Scan {
    /// Whether the input is finished: no bracket, literal or comment is left open.
    /// Mismatched brackets count as finished (there is nothing more to wait for).
    pub fn is_complete(&self) -> bool {
        self.mismatched
            || (self.open.is_empty() && !self.in_string && !self.in_char && self.comment_depth == 0)
    }
}

/// Scans `text` (see [`Scan`]).
pub fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut s = Scan {
        masked: bytes.to_vec(),
        ..Scan::default()
    };
    let blank = |m: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut m[from..to.min(bytes.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map(|k| i + k).unwrap_or(bytes.len());
                blank(&mut s.masked, i, end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = i;
                let mut depth = 1usize;
                i += 2;
                while i < bytes.len() && depth > 0 {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                blank(&mut s.masked, start, i);
                if depth > 0 {
                    s.comment_depth = depth;
                }
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            closed = true;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                blank(&mut s.masked, start, i);
                if closed {
                    i += 1;
                } else {
                    s.in_string = true;
                    i = bytes.len();
                }
            }
            b'\'' => match char_literal_end(text, i) {
                CharLit::Closed(end) => {
                    blank(&mut s.masked, i + 1, end - 1);
                    i = end;
                }
                CharLit::Unterminated => {
                    blank(&mut s.masked, i + 1, bytes.len());
                    s.in_char = true;
                    i = bytes.len();
                }
                // Not a well-formed literal (`'ab'`): skip to its closing quote on the
                // same line, if any, and leave the error to the compiler.
                CharLit::Bad => {
                    let line = text[i + 1..].split('\n').next().unwrap_or("");
                    i += 1 + line.find('\'').map(|k| k + 1).unwrap_or(0);
                }
            },
            b'(' | b'[' | b'{' => {
                s.open.push(c as char);
                i += 1;
            }
            b')' | b']' | b'}' => {
                let want = match c {
                    b')' => '(',
                    b']' => '[',
                    _ => '{',
                };
                if s.open.last() == Some(&want) {
                    s.open.pop();
                } else {
                    s.mismatched = true;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    s
}

enum CharLit {
    /// A literal ending just before this byte offset.
    Closed(usize),
    /// The input ends inside the literal.
    Unterminated,
    /// Not a well-formed literal.
    Bad,
}

/// Looks at a char literal starting with the quote at byte `at`.
fn char_literal_end(text: &str, at: usize) -> CharLit {
    let rest = &text[at + 1..];
    let mut chars = rest.char_indices();
    let body_end = match chars.next() {
        None => return CharLit::Unterminated,
        Some((_, '\n')) | Some((_, '\'')) => return CharLit::Bad,
        Some((_, '\\')) => match chars.next() {
            None => return CharLit::Unterminated,
            Some((_, 'u')) => {
                // `\u{...}`: up to the closing brace.
                match rest.find('}') {
                    Some(k) if !rest[..k].contains('\n') && !rest[..k].contains('\'') => k + 1,
                    Some(_) => return CharLit::Bad,
                    None if !rest.contains('\n') && !rest.contains('\'') => {
                        return CharLit::Unterminated
                    }
                    None => return CharLit::Bad,
                }
            }
            Some((k, c)) => k + c.len_utf8(),
        },
        Some((k, c)) => k + c.len_utf8(),
    };
    match rest[body_end..].chars().next() {
        Some('\'') => CharLit::Closed(at + 1 + body_end + 1),
        None => CharLit::Unterminated,
        Some(_) => CharLit::Bad,
    }
}

/// Whether `text` is a finished input (see [`Scan::is_complete`]).
pub fn is_complete(text: &str) -> bool {
    scan(text).is_complete()
}

/// One top-level piece of an input: a declaration or an expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// `NAME := ...` (or `NAME: T := ...`): the name and the text, without the final `;`.
    Def(String, String),
    /// Anything else (an expression or statement), without the final `;`.
    Expr(String),
}

/// Splits `text` at the `;`s that are outside brackets, literals and comments, and
/// classifies each non-blank piece. Comments before a piece stay with it.
pub fn split(text: &str) -> Vec<Piece> {
    split_spans(text).into_iter().map(|(p, _)| p).collect()
}

/// [`split`], with where each piece is in `text` (the byte range of its trimmed text).
pub fn split_spans(text: &str) -> Vec<(Piece, std::ops::Range<usize>)> {
    let s = scan(text);
    let m = &s.masked;
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let push = |from: usize, to: usize, out: &mut Vec<(Piece, std::ops::Range<usize>)>| {
        let piece = &text[from..to];
        let masked = &m[from..to];
        if masked.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        let lead = piece.len() - piece.trim_start().len();
        let trimmed = piece.trim();
        let range = from + lead..from + lead + trimmed.len();
        match def_name(masked) {
            Some(name) => out.push((Piece::Def(name, trimmed.to_string()), range)),
            None => out.push((Piece::Expr(trimmed.to_string()), range)),
        }
    };
    for (i, &b) in m.iter().enumerate() {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b';' if depth == 0 => {
                push(start, i, &mut out);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(start, text.len(), &mut out);
    out
}

/// `text` with every character but newlines replaced by a space: put before a piece of
/// an input, it keeps the piece's lines and columns as typed.
pub fn blanked(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect()
}

const KEYWORDS: &[&str] = &[
    "mut", "if", "else", "match", "loop", "while", "for", "in", "break", "continue", "return",
    "import", "enum", "struct", "true", "false",
];

/// The declared name if the masked piece is `NAME := ...` or `NAME: T := ...` (with the
/// `:=` outside brackets), or either after `mut` (a mutable session variable).
fn def_name(masked: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < masked.len() && masked[i].is_ascii_whitespace() {
        i += 1;
    }
    if masked[i..].starts_with(b"mut") && masked.get(i + 3).is_some_and(u8::is_ascii_whitespace) {
        i += 3;
        while i < masked.len() && masked[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    let start = i;
    if i < masked.len() && (masked[i].is_ascii_alphabetic() || masked[i] == b'_') {
        i += 1;
        while i < masked.len() && (masked[i].is_ascii_alphanumeric() || masked[i] == b'_') {
            i += 1;
        }
    } else {
        return None;
    }
    let name = std::str::from_utf8(&masked[start..i]).ok()?.to_string();
    if KEYWORDS.contains(&name.as_str()) {
        return None;
    }
    while i < masked.len() && masked[i].is_ascii_whitespace() {
        i += 1;
    }
    if masked[i..].starts_with(b":=") {
        return Some(name);
    }
    if masked.get(i) != Some(&b':') {
        return None;
    }
    // An annotation: look for `:=` outside brackets.
    let mut depth = 0usize;
    let mut k = i + 1;
    while k < masked.len() {
        match masked[k] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && masked.get(k + 1) == Some(&b'=') => return Some(name),
            // `=>`, `==`, or an assignment before any `:=`: not a declaration.
            b'=' if depth == 0 => return None,
            _ => {}
        }
        k += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_simple() {
        assert!(is_complete(""));
        assert!(is_complete("1 + 2"));
        assert!(is_complete("f := (x) => x + 1;"));
        assert!(is_complete("[1, 2, (3)]"));
    }

    #[test]
    fn open_brackets_continue() {
        assert!(!is_complete("f := (x: i64) -> i64 => {"));
        assert!(!is_complete("f := (x: i64) -> i64 => {\n  x * 2"));
        assert!(is_complete("f := (x: i64) -> i64 => {\n  x * 2\n};"));
        assert!(!is_complete("[1, 2,"));
        assert!(!is_complete("g(1,"));
        assert_eq!(scan("({[").open, vec!['(', '{', '[']);
    }

    #[test]
    fn brackets_in_strings_chars_comments_do_not_count() {
        assert!(is_complete("\"(\""));
        assert!(is_complete("'('"));
        assert!(is_complete("'{' == c"));
        assert!(is_complete("1 // (\n"));
        assert!(is_complete("1 /* ( */"));
        assert!(is_complete("\"\\\"(\""));
        assert!(is_complete("'\\''"));
        assert!(is_complete("'\\\\'"));
        assert!(is_complete("'\\u{1F600}'"));
        assert!(is_complete("'é'"));
    }

    #[test]
    fn unterminated_literals_continue() {
        let s = scan("\"abc");
        assert!(s.in_string && !s.is_complete());
        assert!(!is_complete("\"abc\\\""));
        assert!(is_complete("\"abc\ndef\""));
        let c = scan("'");
        assert!(c.in_char && !c.is_complete());
        assert!(!is_complete("'\\"));
        assert!(!is_complete("'a"));
        assert!(!is_complete("'\\u{1F6"));
    }

    #[test]
    fn block_comments_nest() {
        let s = scan("1 /* a /* b */");
        assert_eq!(s.comment_depth, 1);
        assert!(!s.is_complete());
        assert!(is_complete("1 /* a /* b */ c */"));
        assert!(is_complete("/**/"));
        assert!(!is_complete("/*/"));
    }

    #[test]
    fn mismatched_is_complete() {
        assert!(scan(")").mismatched);
        assert!(is_complete(")"));
        assert!(is_complete("(]"));
        assert!(is_complete("{ ( }"));
    }

    #[test]
    fn bad_char_literal_is_left_to_the_compiler() {
        assert!(is_complete("'ab'"));
        assert!(is_complete("''"));
        assert!(is_complete("'\n"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "\\", "'\\u", "'\\u{", "\"\\", "/", "/*", "*/", "'é", "\"é", "é", "'\\é'", ":=",
            ": :=", "x :", "x : ", ";;;", "'\\u{'", "'\\u}'",
        ] {
            let _ = scan(s);
            let _ = split(s);
        }
    }

    /// Every string of up to four characters over an alphabet of the characters the
    /// scanner treats specially (multi-byte ones included): no panic, and the masked
    /// text keeps the input's length.
    #[test]
    fn exhaustive_short_inputs() {
        let alphabet = [
            '\'', '"', '\\', 'u', '{', '}', '/', '*', 'é', '\n', '(', ':', '=', 'x', ';', ')',
        ];
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            let mut longer = Vec::new();
            for s in &inputs {
                for c in alphabet {
                    let mut t = s.clone();
                    t.push(c);
                    longer.push(t);
                }
            }
            for t in &longer {
                let s = scan(t);
                assert_eq!(s.masked.len(), t.len(), "{t:?}");
                let _ = split(t);
                let _ = crate::complete::candidates(t, t.len(), &[]);
                let _ = crate::command::parse(t);
            }
            inputs = longer;
        }
    }

    #[test]
    fn masked_keeps_offsets() {
        let t = "a \"x;y\" 'é' // c;\nb /* ; */ c";
        let s = scan(t);
        assert_eq!(s.masked.len(), t.len());
        assert!(!s.masked.contains(&b';'));
        assert_eq!(s.masked[0], b'a');
    }

    fn def(n: &str, t: &str) -> Piece {
        Piece::Def(n.into(), t.into())
    }
    fn expr(t: &str) -> Piece {
        Piece::Expr(t.into())
    }

    #[test]
    fn split_and_classify() {
        assert_eq!(split("x := 1;"), vec![def("x", "x := 1")]);
        assert_eq!(split("x := 1"), vec![def("x", "x := 1")]);
        assert_eq!(split("mut n := 0;"), vec![def("n", "mut n := 0")]);
        let spans: Vec<_> = split_spans(" x := 1;\n  y ;")
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        assert_eq!(spans, vec![1..7, 11..12]);
        assert_eq!(blanked("ab\né;"), "  \n  ");
        assert_eq!(split("mutant := 0;"), vec![def("mutant", "mutant := 0")]);
        assert_eq!(split("  x: i64 := 1 ; "), vec![def("x", "x: i64 := 1")]);
        assert_eq!(
            split("m: Map<str, i64> := map.empty();"),
            vec![def("m", "m: Map<str, i64> := map.empty()")]
        );
        assert_eq!(
            split("x := 1; x + 1"),
            vec![def("x", "x := 1"), expr("x + 1")]
        );
        assert_eq!(
            split("f := (x) => { y := x; y };"),
            vec![def("f", "f := (x) => { y := x; y }")]
        );
        assert_eq!(split("println(\"a;b\");"), vec![expr("println(\"a;b\")")]);
        assert_eq!(split("1 + 2"), vec![expr("1 + 2")]);
        assert_eq!(split(""), vec![]);
        assert_eq!(split(" ; ;"), vec![]);
        assert_eq!(split("// only a comment"), vec![]);
        assert_eq!(split("/// doc\nf := 1;"), vec![def("f", "/// doc\nf := 1")]);
        assert_eq!(
            split("Point := struct(x: f64, y: f64);"),
            vec![def("Point", "Point := struct(x: f64, y: f64)")]
        );
        assert_eq!(
            split("m := import(\"path\")"),
            vec![def("m", "m := import(\"path\")")]
        );
        assert_eq!(
            split("Tree := <T> => enum(Leaf, Node(Tree<T>, T, Tree<T>));"),
            vec![def(
                "Tree",
                "Tree := <T> => enum(Leaf, Node(Tree<T>, T, Tree<T>))"
            )]
        );
    }

    #[test]
    fn not_declarations() {
        assert_eq!(split("x == 1"), vec![expr("x == 1")]);
        assert_eq!(split("(a, b) := (1, 2)"), vec![expr("(a, b) := (1, 2)")]);
        assert_eq!(split("if := 1"), vec![expr("if := 1")]);
        assert_eq!(split("x : y = 1 := 2"), vec![expr("x : y = 1 := 2")]);
        assert_eq!(split("\"x := 1\""), vec![expr("\"x := 1\"")]);
        assert_eq!(split("f(x := 1)"), vec![expr("f(x := 1)")]);
    }
}
