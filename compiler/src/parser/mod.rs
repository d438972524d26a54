//! The parser (LANGUAGE.md §3–§4): recursive descent, with precedence climbing for
//! binary operators, producing the [`crate::ast`] tree.
//!
//! Error recovery: a syntax error abandons the current statement (or top-level
//! declaration, or match arm) and the parser resynchronises at the next `;` or `}` (or
//! the next `name :=` at the top level), so one run reports several errors. Errors that
//! do not confuse the structure (an out-of-range literal, chained comparisons) are
//! reported without abandoning anything. Nesting depth is bounded: deeper input gets
//! `error: nesting too deep` instead of overflowing the stack.

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::lexer::{Kw, Tok, Token, P};
use crate::span::{FileId, Span};

mod expr;
mod item;
mod pat;
mod stmt;
mod ty;

/// How deeply expressions, blocks, patterns and types may nest (the parser recurses
/// once per level).
pub const MAX_DEPTH: u32 = 256;

/// How long a chain of binary operators or postfix operations (`a + b + c`,
/// `f(x)(y).z[0]`) may be: the parser handles chains in a loop, but the tree they
/// build is as deep as the chain is long, and later passes recurse over it.
pub const MAX_CHAIN: u32 = 4096;

/// Raised to abandon the current construct; the error has already been recorded.
#[derive(Debug)]
struct Bail;

type PResult<T> = Result<T, Bail>;

/// Parses the tokens of one file (as produced by [`crate::lexer::lex`]).
pub fn parse_file(file: FileId, toks: Vec<Token>) -> (File, Vec<Diagnostic>) {
    let mut p = Parser::new(file, toks);
    let f = p.file();
    (f, p.diags)
}

/// Parses one expression (used by tests and the REPL); trailing tokens are an error.
pub fn parse_expr(file: FileId, toks: Vec<Token>) -> (Option<Expr>, Vec<Diagnostic>) {
    let mut p = Parser::new(file, toks);
    let e = p.expr().ok();
    if !p.at_eof() {
        let found = p.peek().describe();
        let _ = p.fail::<()>(format!("expected end of input, found {found}"));
    }
    (e, p.diags)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    diags: Vec<Diagnostic>,
    depth: u32,
    chain: u32,
    last_err: Option<usize>,
    too_deep: bool,
    /// Parsing a match guard at its own level (not inside brackets): the guard ends at
    /// the arm's `=>`, so a parenthesised operand that ends the guard (`n if n > (5) =>`)
    /// is not taken for a lambda's parameter list (Rust restricts struct literals in
    /// `if` conditions the same way).
    guard: bool,
}

impl Parser {
    pub(super) fn new(file: FileId, mut toks: Vec<Token>) -> Parser {
        if toks.last().map(|t| t.tok != Tok::Eof).unwrap_or(true) {
            let end = toks.last().map(|t| t.span.hi).unwrap_or(0);
            toks.push(Token {
                tok: Tok::Eof,
                span: Span::new(file, end, end),
            });
        }
        Parser {
            toks,
            pos: 0,
            diags: Vec::new(),
            depth: 0,
            chain: 0,
            last_err: None,
            too_deep: false,
            guard: false,
        }
    }

    pub(super) fn cur(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    pub(super) fn peek(&self) -> &Tok {
        &self.cur().tok
    }

    pub(super) fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    pub(super) fn span(&self) -> Span {
        self.cur().span
    }

    pub(super) fn prev_span(&self) -> Span {
        if self.pos == 0 {
            self.span()
        } else {
            self.toks[(self.pos - 1).min(self.toks.len() - 1)].span
        }
    }

    pub(super) fn at_eof(&self) -> bool {
        matches!(self.peek(), Tok::Eof)
    }

    pub(super) fn bump(&mut self) -> Token {
        let t = self.cur().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    pub(super) fn is(&self, p: P) -> bool {
        matches!(self.peek(), Tok::P(q) if *q == p)
    }

    pub(super) fn is_kw(&self, k: Kw) -> bool {
        matches!(self.peek(), Tok::Kw(q) if *q == k)
    }

    pub(super) fn eat(&mut self, p: P) -> bool {
        if self.is(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    pub(super) fn eat_kw(&mut self, k: Kw) -> bool {
        if self.is_kw(k) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Records an error at `sp` (at most one per token position, so that one mistake
    /// does not produce a cascade).
    pub(super) fn error_at(&mut self, sp: Span, msg: impl Into<String>) {
        self.report(Diagnostic::error(sp, msg));
    }

    pub(super) fn report(&mut self, d: Diagnostic) {
        if self.last_err == Some(self.pos) {
            return;
        }
        self.last_err = Some(self.pos);
        self.diags.push(d);
    }

    pub(super) fn push_diag(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(super) fn fail<T>(&mut self, msg: impl Into<String>) -> PResult<T> {
        let sp = self.span();
        self.error_at(sp, msg);
        Err(Bail)
    }

    pub(super) fn expect(&mut self, p: P, context: &str) -> PResult<Span> {
        if self.is(p) {
            return Ok(self.bump().span);
        }
        let found = self.peek().describe();
        self.fail(format!(
            "expected `{}` {context}, found {found}",
            p.as_str()
        ))
    }

    /// Reports a missing terminator right after the previous token.
    pub(super) fn missing(&mut self, what: &str, help: &str) -> PResult<()> {
        let found = self.peek().describe();
        let sp = self.prev_span();
        self.report(
            Diagnostic::error(
                Span::new(sp.file, sp.hi, sp.hi),
                format!("expected {what}, found {found}"),
            )
            .with_help(help),
        );
        Err(Bail)
    }

    /// Expects a `>` closing type arguments, splitting `>>`, `>=` and `>>=`.
    pub(super) fn expect_gt(&mut self) -> PResult<()> {
        let t = self.cur().clone();
        let rest = match t.tok {
            Tok::P(P::Gt) => {
                self.bump();
                return Ok(());
            }
            Tok::P(P::Shr) => P::Gt,
            Tok::P(P::Ge) => P::Eq,
            Tok::P(P::ShrEq) => P::Ge,
            _ => {
                let found = t.tok.describe();
                return self.fail(format!(
                    "expected `>` to close the type arguments, found {found}"
                ));
            }
        };
        let sp = Span::new(t.span.file, t.span.lo + 1, t.span.hi);
        let idx = self.pos.min(self.toks.len() - 1);
        self.toks[idx] = Token {
            tok: Tok::P(rest),
            span: sp,
        };
        Ok(())
    }

    pub(super) fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let sp = self.bump().span;
                Ok(Ident { name, span: sp })
            }
            t => self.fail(format!("expected {what}, found {}", t.describe())),
        }
    }

    pub(super) fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            if !self.too_deep {
                self.too_deep = true;
                let sp = self.span();
                self.diags
                    .push(Diagnostic::error(sp, "nesting too deep").with_help(format!(
                    "expressions, blocks, patterns and types may nest at most {MAX_DEPTH} levels"
                )));
            }
            return Err(Bail);
        }
        Ok(())
    }

    /// Counts one more link of an operator chain.
    pub(super) fn link(&mut self) -> PResult<()> {
        self.chain += 1;
        if self.chain > MAX_CHAIN {
            self.chain -= 1;
            if !self.too_deep {
                self.too_deep = true;
                let sp = self.span();
                self.diags.push(Diagnostic::error(sp, "nesting too deep").with_help(format!(
                    "a chain of operators, calls, fields or indexing may have at most {MAX_CHAIN} links; split it with `:=`"
                )));
            }
            return Err(Bail);
        }
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Skips to just after the next `;`, or to the `}` closing the current block (not
    /// consumed), at bracket depth 0.
    pub(super) fn recover_stmt(&mut self) {
        self.recover_to(P::Semi)
    }

    /// Skips to just after the next `sep` at bracket depth 0, or to the `}` closing the
    /// enclosing block or match (not consumed).
    pub(super) fn recover_to(&mut self, sep: P) {
        let mut depth = 0u32;
        loop {
            match self.peek() {
                Tok::Eof => return,
                Tok::P(P::LParen) | Tok::P(P::LBracket) | Tok::P(P::LBrace) => depth += 1,
                Tok::P(P::RParen) | Tok::P(P::RBracket) => depth = depth.saturating_sub(1),
                Tok::P(P::RBrace) => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                }
                Tok::P(p) if *p == sep && depth == 0 => {
                    self.bump();
                    return;
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// Skips to the next top-level declaration: after a `;` at depth 0, or before a
    /// `name :=` at depth 0.
    pub(super) fn recover_top(&mut self) {
        let mut depth = 0u32;
        loop {
            match self.peek() {
                Tok::Eof => return,
                Tok::P(P::LParen) | Tok::P(P::LBracket) | Tok::P(P::LBrace) => depth += 1,
                Tok::P(P::RParen) | Tok::P(P::RBracket) | Tok::P(P::RBrace) => {
                    depth = depth.saturating_sub(1)
                }
                Tok::P(P::Semi) if depth == 0 => {
                    self.bump();
                    return;
                }
                Tok::Ident(_) if depth == 0 && matches!(self.peek_at(1), Tok::P(P::ColonEq)) => {
                    return
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// Skips to just after the next `,`, or to the closing `}` of a match, at depth 0.
    pub(super) fn recover_arm(&mut self) {
        self.recover_to(P::Comma)
    }
}

enum StmtOrTail {
    Stmt(Stmt),
    Tail(Expr),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::lex;

    fn parse(src: &str) -> (File, Vec<String>) {
        let (toks, mut d) = lex(FileId(0), src);
        let (f, d2) = parse_file(FileId(0), toks);
        d.extend(d2);
        (f, d.into_iter().map(|d| d.message).collect())
    }

    fn ok(src: &str) -> File {
        let (f, e) = parse(src);
        assert!(e.is_empty(), "errors: {e:?}");
        f
    }

    #[test]
    fn declarations() {
        let f = ok(r#"
            PI := 3.14;
            square := (x: i64) -> i64 => x * x;
            Point := struct(x: f64, y: f64,);
            Shape := enum(Circle(f64), Rect(f64, f64), Empty);
            Tree := <T> => enum(Leaf, Node(Tree<T>, T, Tree<T>));
            m: Map<str, List<i64>> := map.empty();
            geo := import("geometry");
            id := <T> => (x: T) -> T => x;
            main := () => { println("hi"); };
        "#);
        assert_eq!(f.items.len(), 9);
        assert!(
            matches!(f.items[2].kind, ItemKind::Type { body: TypeBody::Struct(ref fs), .. } if fs.len() == 2)
        );
        assert!(matches!(f.items[4].kind, ItemKind::Type { ref params, .. } if params.len() == 1));
        assert!(matches!(f.items[6].kind, ItemKind::Import { ref path, .. } if path == "geometry"));
        assert!(
            matches!(f.items[7].kind, ItemKind::Value { expr: Expr { kind: ExprKind::Lambda(ref l), .. }, .. } if l.generics.len() == 1)
        );
    }

    fn expr_of(src: &str) -> Expr {
        let f = ok(&format!("x := {src};"));
        match f.items.into_iter().next().map(|i| i.kind) {
            Some(ItemKind::Value { expr, .. }) => expr,
            _ => panic!("no value"),
        }
    }

    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.as_str(), show(b)),
            ExprKind::Unary(op, a) => format!("({op:?} {})", show(a)),
            ExprKind::Lit(Lit::I64(v)) => v.to_string(),
            ExprKind::Lit(Lit::Bool(v)) => v.to_string(),
            ExprKind::Var(v) => v.clone(),
            ExprKind::Field(b, n) => format!("{}.{}", show(b), n.name),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(show(&expr_of("1 + 2 << 3")), "((1 + 2) << 3)");
        assert_eq!(show(&expr_of("1 | 2 ^ 3 & 4")), "(1 | (2 ^ (3 & 4)))");
        assert_eq!(show(&expr_of("10 - 4 - 3")), "((10 - 4) - 3)");
        assert_eq!(show(&expr_of("6 & 3 == 2")), "((6 & 3) == 2)");
        assert_eq!(
            show(&expr_of("true || false && false")),
            "(true || (false && false))"
        );
        assert_eq!(show(&expr_of("-2 * -3")), "(-2 * -3)");
        assert_eq!(
            show(&expr_of("-9223372036854775808")),
            "-9223372036854775808"
        );
        assert_eq!(show(&expr_of("t.0.1")), "t.0.1");
        assert_eq!(show(&expr_of("~1 & 3")), "((BitNot 1) & 3)");
    }

    #[test]
    fn statements_and_patterns() {
        ok(r#"
            main := () => {
                x := 1;
                mut i: i64 := 0;
                (a, (b, _)) := (1, (2, 3));
                i += 1; a.f -= 1.0; arr[i] *= 2; t.0 = 5;
                while i < 10 { i += 1; }
                for k in 0..=10 { }
                for v in xs { }
                loop { if i > 20 { break; } else if i > 5 { continue; } i += 1; }
                q := Point(x = 1.0, y = 2.0,);
                r := match e {
                    0 | 1 => "small",
                    4..10 => "mid",
                    'a'..='z' => "c",
                    -5 => "neg",
                    Shape.Rect(w, _) if w > 1.0 => { "rect" }
                    [a, b, ..rest] => "list",
                    [_, ..] => "l",
                    (Some(x), None) => "t",
                    _ => "other",
                };
                f := (n: i64) -> i64 => if n < 2 { 1 } else { n * f(n - 1) };
                g := () => ();
                return;
            };
        "#);
    }

    #[test]
    fn chained_comparison_is_an_error() {
        let (_, e) = parse("main := () => { bad := a < 2 < 3; };");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("cannot be chained"));
    }

    #[test]
    fn out_of_range_literal() {
        let (_, e) = parse(
            "a := 9223372036854775808; b := -9223372036854775808; c := 18446744073709551616u64;",
        );
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn recovers_and_reports_several_errors() {
        let (f, e) = parse(
            r#"
            a := (1 + ;
            b := 2;
            main := () => {
                x := ;
                y := 3;
                z := [1, 2;
                w := 4;
            };
            c := 3
            d := 4;
        "#,
        );
        assert!(e.len() >= 4, "{e:?}");
        let names: Vec<&str> = f.items.iter().map(|i| i.name.name.as_str()).collect();
        assert!(
            names.contains(&"b") && names.contains(&"main") && names.contains(&"d"),
            "{names:?}"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("x := {}1{};", "(".repeat(5000), ")".repeat(5000));
        let (_, e) = parse(&src);
        assert!(e.iter().any(|m| m.contains("nesting too deep")), "{e:?}");
        let src = format!("x := 1{};", " + 1".repeat(5000));
        let (_, e) = parse(&src);
        assert!(e.iter().any(|m| m.contains("nesting too deep")), "{e:?}");
    }
}
