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
use crate::lexer::{Kw, NumSuffix, Tok, Token, P};
use crate::span::{FileId, Span};

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

fn prec_of(p: P) -> Option<(u8, BinOp)> {
    Some(match p {
        P::OrOr => (1, BinOp::Or),
        P::AndAnd => (2, BinOp::And),
        P::EqEq => (3, BinOp::Eq),
        P::Ne => (3, BinOp::Ne),
        P::Lt => (3, BinOp::Lt),
        P::Le => (3, BinOp::Le),
        P::Gt => (3, BinOp::Gt),
        P::Ge => (3, BinOp::Ge),
        P::Pipe => (4, BinOp::BitOr),
        P::Caret => (5, BinOp::BitXor),
        P::Amp => (6, BinOp::BitAnd),
        P::Shl => (7, BinOp::Shl),
        P::Shr => (7, BinOp::Shr),
        P::Plus => (8, BinOp::Add),
        P::Minus => (8, BinOp::Sub),
        P::Star => (9, BinOp::Mul),
        P::Slash => (9, BinOp::Div),
        P::Percent => (9, BinOp::Rem),
        _ => return None,
    })
}

fn compound_op(p: P) -> Option<Option<BinOp>> {
    Some(match p {
        P::Eq => None,
        P::PlusEq => Some(BinOp::Add),
        P::MinusEq => Some(BinOp::Sub),
        P::StarEq => Some(BinOp::Mul),
        P::SlashEq => Some(BinOp::Div),
        P::PercentEq => Some(BinOp::Rem),
        P::AmpEq => Some(BinOp::BitAnd),
        P::PipeEq => Some(BinOp::BitOr),
        P::CaretEq => Some(BinOp::BitXor),
        P::ShlEq => Some(BinOp::Shl),
        P::ShrEq => Some(BinOp::Shr),
        _ => return None,
    })
}

impl Parser {
    fn new(file: FileId, mut toks: Vec<Token>) -> Parser {
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

    // ----- token access -------------------------------------------------------------

    fn cur(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek(&self) -> &Tok {
        &self.cur().tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn span(&self) -> Span {
        self.cur().span
    }

    fn prev_span(&self) -> Span {
        if self.pos == 0 {
            self.span()
        } else {
            self.toks[(self.pos - 1).min(self.toks.len() - 1)].span
        }
    }

    fn at_eof(&self) -> bool {
        matches!(self.peek(), Tok::Eof)
    }

    fn bump(&mut self) -> Token {
        let t = self.cur().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is(&self, p: P) -> bool {
        matches!(self.peek(), Tok::P(q) if *q == p)
    }

    fn is_kw(&self, k: Kw) -> bool {
        matches!(self.peek(), Tok::Kw(q) if *q == k)
    }

    fn eat(&mut self, p: P) -> bool {
        if self.is(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, k: Kw) -> bool {
        if self.is_kw(k) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Records an error at `sp` (at most one per token position, so that one mistake
    /// does not produce a cascade).
    fn error_at(&mut self, sp: Span, msg: impl Into<String>) {
        self.report(Diagnostic::error(sp, msg));
    }

    fn report(&mut self, d: Diagnostic) {
        if self.last_err == Some(self.pos) {
            return;
        }
        self.last_err = Some(self.pos);
        self.diags.push(d);
    }

    fn push_diag(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn fail<T>(&mut self, msg: impl Into<String>) -> PResult<T> {
        let sp = self.span();
        self.error_at(sp, msg);
        Err(Bail)
    }

    fn expect(&mut self, p: P, context: &str) -> PResult<Span> {
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
    fn missing(&mut self, what: &str, help: &str) -> PResult<()> {
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
    fn expect_gt(&mut self) -> PResult<()> {
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

    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let sp = self.bump().span;
                Ok(Ident { name, span: sp })
            }
            t => self.fail(format!("expected {what}, found {}", t.describe())),
        }
    }

    fn enter(&mut self) -> PResult<()> {
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
    fn link(&mut self) -> PResult<()> {
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

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    // ----- recovery -----------------------------------------------------------------

    /// Skips to just after the next `;`, or to the `}` closing the current block (not
    /// consumed), at bracket depth 0.
    fn recover_stmt(&mut self) {
        self.recover_to(P::Semi)
    }

    /// Skips to just after the next `sep` at bracket depth 0, or to the `}` closing the
    /// enclosing block or match (not consumed).
    fn recover_to(&mut self, sep: P) {
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
    fn recover_top(&mut self) {
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
    fn recover_arm(&mut self) {
        self.recover_to(P::Comma)
    }

    // ----- top level ----------------------------------------------------------------

    fn file(&mut self) -> File {
        let mut items = Vec::new();
        let mut broken = Vec::new();
        loop {
            while self.eat(P::Semi) {}
            if self.at_eof() {
                break;
            }
            let before = self.pos;
            // `NAME :=` or `NAME :`: the name this item declares, if it fails to parse.
            let name = match (self.peek(), self.peek_at(1)) {
                (Tok::Ident(n), Tok::P(P::ColonEq | P::Colon)) => Some(n.clone()),
                _ => None,
            };
            match self.item() {
                Ok(it) => items.push(it),
                Err(Bail) => {
                    broken.extend(name);
                    self.recover_top();
                    if self.pos == before {
                        self.bump();
                    }
                }
            }
        }
        File { items, broken }
    }

    fn item(&mut self) -> PResult<Item> {
        // `mut` is parsed here and judged by the checker (a REPL session allows it).
        let mutable = self.is_kw(Kw::Mut);
        if mutable {
            self.bump();
        }
        let name = match self.peek().clone() {
            Tok::Ident(_) => self.ident("a name")?,
            t => {
                return self.fail(format!(
                    "expected a top-level declaration `name := ...;`, found {}",
                    t.describe()
                ))
            }
        };
        let ty = if self.eat(P::Colon) {
            Some(self.type_expr()?)
        } else {
            None
        };
        self.expect(P::ColonEq, "after the declared name")?;
        let start = name.span;
        // import("path")
        if self.is_kw(Kw::Import) {
            self.bump();
            self.expect(P::LParen, "after `import`")?;
            let (path, path_span) = match self.peek().clone() {
                Tok::Str(s) => (s, self.bump().span),
                t => {
                    return self.fail(format!(
                        "expected the module path as a string, found {}",
                        t.describe()
                    ))
                }
            };
            self.expect(P::RParen, "after the module path")?;
            self.expect_semi_top()?;
            if mutable {
                self.push_diag(Diagnostic::error(start, "an import cannot be `mut`"));
            }
            return Ok(Item {
                name,
                kind: ItemKind::Import { path, path_span },
                span: start.to(self.prev_span()),
            });
        }
        // <T, U> => struct/enum/lambda
        let mut generics = Vec::new();
        let gen_start = self.span();
        if self.is(P::Lt) {
            generics = self.generic_params()?;
        }
        if self.is_kw(Kw::Struct) || self.is_kw(Kw::Enum) {
            let body = self.type_body()?;
            self.expect_semi_top()?;
            if ty.is_some() {
                self.push_diag(Diagnostic::error(
                    start,
                    "a type declaration cannot have a type annotation",
                ));
            }
            if mutable {
                self.push_diag(Diagnostic::error(
                    start,
                    "a type declaration cannot be `mut`",
                ));
            }
            return Ok(Item {
                name,
                kind: ItemKind::Type {
                    params: generics,
                    body,
                },
                span: start.to(self.prev_span()),
            });
        }
        let value_start = self.span();
        let parsed = if !generics.is_empty() {
            self.lambda_after_generics(generics, gen_start)
        } else {
            self.expr()
        };
        // A value that fails to parse still declares the name (see `let_value`).
        let expr = match parsed {
            Ok(e) => {
                if self.expect_semi_top().is_err() {
                    self.recover_top();
                }
                e
            }
            Err(Bail) => {
                self.recover_top();
                Expr {
                    kind: ExprKind::Error,
                    span: value_start,
                }
            }
        };
        Ok(Item {
            name,
            kind: ItemKind::Value { ty, expr, mutable },
            span: start.to(self.prev_span()),
        })
    }

    fn expect_semi_top(&mut self) -> PResult<()> {
        if self.eat(P::Semi) {
            return Ok(());
        }
        self.missing(
            "`;` after the declaration",
            "every top-level declaration ends with `;`",
        )
    }

    fn generic_params(&mut self) -> PResult<Vec<Ident>> {
        self.expect(P::Lt, "to start type parameters")?;
        let mut ps = Vec::new();
        loop {
            if self.is(P::Gt) {
                break;
            }
            ps.push(self.ident("a type parameter name")?);
            if !self.eat(P::Comma) {
                break;
            }
        }
        self.expect_gt()?;
        self.expect(P::FatArrow, "after the type parameters")?;
        if ps.is_empty() {
            let sp = self.prev_span();
            self.push_diag(Diagnostic::error(
                sp,
                "expected at least one type parameter between `<` and `>`",
            ));
        }
        Ok(ps)
    }

    fn type_body(&mut self) -> PResult<TypeBody> {
        if self.eat_kw(Kw::Struct) {
            self.expect(P::LParen, "after `struct`")?;
            let mut fields = Vec::new();
            while !self.is(P::RParen) {
                let f = self.ident("a field name")?;
                self.expect(P::Colon, "after the field name")?;
                let t = self.type_expr()?;
                fields.push((f, t));
                if !self.eat(P::Comma) {
                    break;
                }
            }
            self.expect(P::RParen, "to close the struct fields")?;
            Ok(TypeBody::Struct(fields))
        } else {
            self.bump(); // enum
            self.expect(P::LParen, "after `enum`")?;
            let mut vs = Vec::new();
            while !self.is(P::RParen) {
                let name = self.ident("a constructor name")?;
                let mut fields = Vec::new();
                if self.eat(P::LParen) {
                    while !self.is(P::RParen) {
                        fields.push(self.type_expr()?);
                        if !self.eat(P::Comma) {
                            break;
                        }
                    }
                    self.expect(P::RParen, "to close the constructor's fields")?;
                }
                vs.push(Variant { name, fields });
                if !self.eat(P::Comma) {
                    break;
                }
            }
            self.expect(P::RParen, "to close the enum constructors")?;
            Ok(TypeBody::Enum(vs))
        }
    }

    // ----- types --------------------------------------------------------------------

    fn type_expr(&mut self) -> PResult<TypeExpr> {
        self.enter()?;
        let r = self.type_expr_inner();
        self.leave();
        r
    }

    fn type_expr_inner(&mut self) -> PResult<TypeExpr> {
        let start = self.span();
        match self.peek().clone() {
            Tok::P(P::Underscore) => {
                self.bump();
                Ok(TypeExpr {
                    kind: TypeExprKind::Infer,
                    span: start,
                })
            }
            Tok::Ident(_) => {
                let mut path = vec![self.ident("a type name")?];
                while self.is(P::Dot) && matches!(self.peek_at(1), Tok::Ident(_)) {
                    self.bump();
                    path.push(self.ident("a type name")?);
                }
                let mut args = Vec::new();
                if self.eat(P::Lt) {
                    loop {
                        if matches!(
                            self.peek(),
                            Tok::P(P::Gt) | Tok::P(P::Shr) | Tok::P(P::Ge) | Tok::P(P::ShrEq)
                        ) {
                            break;
                        }
                        args.push(self.type_expr()?);
                        if !self.eat(P::Comma) {
                            break;
                        }
                    }
                    self.expect_gt()?;
                }
                Ok(TypeExpr {
                    kind: TypeExprKind::Named(path, args),
                    span: start.to(self.prev_span()),
                })
            }
            Tok::P(P::LParen) => {
                self.bump();
                let mut elems = Vec::new();
                let mut trailing_comma = false;
                while !self.is(P::RParen) {
                    elems.push(self.type_expr()?);
                    trailing_comma = false;
                    if !self.eat(P::Comma) {
                        break;
                    }
                    trailing_comma = true;
                }
                self.expect(P::RParen, "to close the type")?;
                if self.eat(P::Arrow) {
                    let ret = self.type_expr()?;
                    return Ok(TypeExpr {
                        kind: TypeExprKind::Fn(elems, Box::new(ret)),
                        span: start.to(self.prev_span()),
                    });
                }
                if elems.len() == 1 && !trailing_comma {
                    let mut t = elems.pop().ok_or(Bail)?;
                    t.span = start.to(self.prev_span());
                    return Ok(t);
                }
                Ok(TypeExpr {
                    kind: TypeExprKind::Tuple(elems),
                    span: start.to(self.prev_span()),
                })
            }
            t => self.fail(format!("expected a type, found {}", t.describe())),
        }
    }

    // ----- expressions --------------------------------------------------------------

    fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = self.assign_expr();
        self.leave();
        r
    }

    /// Parses with [`Parser::guard`] set to `guard`, restoring it afterwards (also when
    /// the construct is abandoned, so recovery continues in the right mode).
    fn with_guard<T>(
        &mut self,
        guard: bool,
        f: impl FnOnce(&mut Self) -> PResult<T>,
    ) -> PResult<T> {
        let saved = std::mem::replace(&mut self.guard, guard);
        let r = f(self);
        self.guard = saved;
        r
    }

    /// An expression inside brackets (parentheses, `[]`, `{}`, call arguments): the
    /// delimiter ends any enclosing guard, so `(params) =>` is a lambda again.
    fn nested_expr(&mut self) -> PResult<Expr> {
        self.with_guard(false, |p| p.expr())
    }

    fn assign_expr(&mut self) -> PResult<Expr> {
        let lhs = self.binary(0)?;
        if let Tok::P(p) = self.peek() {
            if let Some(op) = compound_op(*p) {
                self.bump();
                let value = self.expr()?;
                let span = lhs.span.to(value.span);
                return Ok(Expr {
                    kind: ExprKind::Assign {
                        op,
                        target: Box::new(lhs),
                        value: Box::new(value),
                    },
                    span,
                });
            }
        }
        Ok(lhs)
    }

    fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        let saved = self.chain;
        let r = self.binary_loop(&mut lhs, min_prec);
        self.chain = saved;
        r.map(|_| lhs)
    }

    fn binary_loop(&mut self, lhs: &mut Expr, min_prec: u8) -> PResult<()> {
        loop {
            let Tok::P(p) = self.peek() else {
                return Ok(());
            };
            let Some((prec, op)) = prec_of(*p) else {
                return Ok(());
            };
            if prec < min_prec {
                return Ok(());
            }
            let op_span = self.bump().span;
            self.link()?;
            let rhs = self.binary(prec + 1)?;
            let span = lhs.span.to(rhs.span);
            let old = std::mem::replace(
                lhs,
                Expr {
                    kind: ExprKind::Error,
                    span,
                },
            );
            *lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(old), Box::new(rhs)),
                span,
            };
            if op.is_comparison() {
                if let Tok::P(q) = self.peek() {
                    if let Some((3, op2)) = prec_of(*q) {
                        // Reported, then the rest of the chain is parsed left-associatively.
                        let sp = self.span();
                        self.push_diag(
                            Diagnostic::error(sp, "comparison operators cannot be chained")
                                .with_label(format!("`{}` follows `{}`", op2.as_str(), op.as_str()))
                                .with_note(Some(op_span), "the first comparison")
                                .with_help("split the comparison with `&&`: `a < b && b < c`"),
                        );
                    }
                }
            }
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        let start = self.span();
        let op = match self.peek() {
            Tok::P(P::Minus) => UnOp::Neg,
            Tok::P(P::Bang) => UnOp::Not,
            Tok::P(P::Tilde) => UnOp::BitNot,
            Tok::Directive(d) if d == "run" => {
                self.bump();
                self.enter()?;
                let e = self.unary();
                self.leave();
                let e = e?;
                let span = start.to(e.span);
                return Ok(Expr {
                    kind: ExprKind::Run(Box::new(e)),
                    span,
                });
            }
            _ => return self.postfix(),
        };
        self.bump();
        // A negative integer literal is folded (so that -9223372036854775808 is valid).
        if op == UnOp::Neg {
            if let Tok::Int {
                digits,
                radix,
                suffix,
            } = self.peek().clone()
            {
                let next_is_postfix = matches!(
                    self.peek_at(1),
                    Tok::P(P::LParen) | Tok::P(P::Dot) | Tok::P(P::LBracket)
                );
                if !next_is_postfix && suffix != NumSuffix::U64 {
                    let t = self.bump();
                    let span = start.to(t.span);
                    let lit = self.int_lit(&digits, radix, suffix, true, span);
                    return Ok(Expr {
                        kind: ExprKind::Lit(lit),
                        span,
                    });
                }
            }
        }
        self.enter()?;
        let e = self.unary();
        self.leave();
        let e = e?;
        let span = start.to(e.span);
        Ok(Expr {
            kind: ExprKind::Unary(op, Box::new(e)),
            span,
        })
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        let saved = self.chain;
        let r = self.postfix_loop(&mut e);
        self.chain = saved;
        r.map(|_| e)
    }

    fn wrap(e: &mut Expr, span: Span, f: impl FnOnce(Box<Expr>) -> ExprKind) {
        let old = std::mem::replace(
            e,
            Expr {
                kind: ExprKind::Error,
                span,
            },
        );
        *e = Expr {
            kind: f(Box::new(old)),
            span,
        };
    }

    fn postfix_loop(&mut self, e: &mut Expr) -> PResult<()> {
        loop {
            match self.peek().clone() {
                Tok::P(P::LParen) => {
                    self.link()?;
                    self.bump();
                    let args = self.call_args()?;
                    let span = e.span.to(self.prev_span());
                    Self::wrap(e, span, |b| ExprKind::Call(b, args));
                }
                Tok::P(P::LBracket) => {
                    self.link()?;
                    self.bump();
                    let idx = self.nested_expr()?;
                    self.expect(P::RBracket, "to close the index")?;
                    let span = e.span.to(self.prev_span());
                    Self::wrap(e, span, |b| ExprKind::Index(b, Box::new(idx)));
                }
                Tok::P(P::Dot) => {
                    self.link()?;
                    self.bump();
                    let t = self.cur().clone();
                    let names: Vec<Ident> = match &t.tok {
                        Tok::Ident(n) => vec![Ident {
                            name: n.clone(),
                            span: t.span,
                        }],
                        Tok::Int {
                            digits,
                            radix: 10,
                            suffix: NumSuffix::None,
                        } => {
                            vec![Ident {
                                name: digits.clone(),
                                span: t.span,
                            }]
                        }
                        Tok::Float { text, .. }
                            if text.split('.').count() == 2
                                && text.chars().all(|c| c.is_ascii_digit() || c == '.') =>
                        {
                            // `t.0.1` is lexed as `t` `.` `0.1`.
                            let (a, b) = text.split_once('.').unwrap_or(("0", "0"));
                            let mid = t.span.lo + a.len() as u32;
                            vec![
                                Ident {
                                    name: a.to_string(),
                                    span: Span::new(t.span.file, t.span.lo, mid),
                                },
                                Ident {
                                    name: b.to_string(),
                                    span: Span::new(t.span.file, mid + 1, t.span.hi),
                                },
                            ]
                        }
                        other => {
                            let msg = format!(
                                "expected a field name or tuple index after `.`, found {}",
                                other.describe()
                            );
                            return self.fail(msg);
                        }
                    };
                    self.bump();
                    for name in names {
                        let span = e.span.to(name.span);
                        Self::wrap(e, span, |b| ExprKind::Field(b, name));
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn call_args(&mut self) -> PResult<Vec<Arg>> {
        let mut args = Vec::new();
        while !self.is(P::RParen) {
            let name = if matches!(self.peek(), Tok::Ident(_))
                && matches!(self.peek_at(1), Tok::P(P::Eq))
            {
                let id = self.ident("a field name")?;
                self.bump();
                Some(id)
            } else {
                None
            };
            let value = self.nested_expr()?;
            args.push(Arg { name, value });
            if !self.eat(P::Comma) {
                break;
            }
        }
        self.expect(P::RParen, "to close the argument list")?;
        Ok(args)
    }

    /// Whether the `(` at the current position starts a lambda's parameter list: its
    /// matching `)` is followed by `=>` or `->`.
    fn paren_starts_lambda(&self) -> bool {
        let mut depth = 0usize;
        let mut i = self.pos;
        while i < self.toks.len() {
            match &self.toks[i].tok {
                Tok::P(P::LParen) | Tok::P(P::LBracket) | Tok::P(P::LBrace) => depth += 1,
                Tok::P(P::RParen) | Tok::P(P::RBracket) | Tok::P(P::RBrace) => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return matches!(
                            self.toks.get(i + 1).map(|t| &t.tok),
                            Some(Tok::P(P::FatArrow)) | Some(Tok::P(P::Arrow))
                        );
                    }
                }
                Tok::P(P::Semi) | Tok::Eof => return false,
                _ => {}
            }
            i += 1;
        }
        false
    }

    fn lambda(&mut self, generics: Vec<Ident>, start: Span) -> PResult<Expr> {
        self.expect(P::LParen, "to start the parameters")?;
        let mut params = Vec::new();
        while !self.is(P::RParen) {
            let name = match self.peek().clone() {
                Tok::P(P::Underscore) => {
                    let sp = self.bump().span;
                    Ident {
                        name: "_".into(),
                        span: sp,
                    }
                }
                _ => self.ident("a parameter name")?,
            };
            let ty = if self.eat(P::Colon) {
                Some(self.type_expr()?)
            } else {
                None
            };
            params.push(Param { name, ty });
            if !self.eat(P::Comma) {
                break;
            }
        }
        self.expect(P::RParen, "to close the parameters")?;
        let ret = if self.eat(P::Arrow) {
            Some(self.type_expr()?)
        } else {
            None
        };
        self.expect(P::FatArrow, "before the function body")?;
        let body = self.expr()?;
        let span = start.to(body.span);
        Ok(Expr {
            kind: ExprKind::Lambda(Lambda {
                generics,
                params,
                ret,
                body: Box::new(body),
            }),
            span,
        })
    }

    fn lambda_after_generics(&mut self, generics: Vec<Ident>, start: Span) -> PResult<Expr> {
        if !self.is(P::LParen) {
            let found = self.peek().describe();
            return self.fail(format!(
                "expected `struct`, `enum` or a function `(params) => body` after the type parameters, found {found}"
            ));
        }
        self.lambda(generics, start)
    }

    fn primary(&mut self) -> PResult<Expr> {
        let start = self.span();
        let t = self.peek().clone();
        let lit = |p: &mut Parser, l: Lit| {
            let sp = p.bump().span;
            Ok(Expr {
                kind: ExprKind::Lit(l),
                span: sp,
            })
        };
        match t {
            Tok::Int {
                digits,
                radix,
                suffix,
            } => {
                let l = self.int_lit(&digits, radix, suffix, false, start);
                lit(self, l)
            }
            Tok::Float { value, .. } => lit(self, Lit::F64(value)),
            Tok::Char(c) => lit(self, Lit::Char(c)),
            Tok::Str(s) => lit(self, Lit::Str(s)),
            Tok::Kw(Kw::True) => lit(self, Lit::Bool(true)),
            Tok::Kw(Kw::False) => lit(self, Lit::Bool(false)),
            Tok::Ident(name) => {
                self.bump();
                Ok(Expr {
                    kind: ExprKind::Var(name),
                    span: start,
                })
            }
            Tok::P(P::Underscore) => {
                self.bump();
                Ok(Expr {
                    kind: ExprKind::Wildcard,
                    span: start,
                })
            }
            Tok::P(P::LParen) => {
                // In a guard, `(…) =>` at the guard's own level is a parenthesised
                // operand followed by the arm's `=>`, never a lambda.
                if !self.guard && self.paren_starts_lambda() {
                    return self.lambda(Vec::new(), start);
                }
                self.bump();
                if self.eat(P::RParen) {
                    return Ok(Expr {
                        kind: ExprKind::Lit(Lit::Unit),
                        span: start.to(self.prev_span()),
                    });
                }
                let first = self.nested_expr()?;
                if self.eat(P::RParen) {
                    // Parentheses only group.
                    return Ok(Expr {
                        kind: first.kind,
                        span: start.to(self.prev_span()),
                    });
                }
                let mut elems = vec![first];
                while self.eat(P::Comma) {
                    if self.is(P::RParen) {
                        break;
                    }
                    elems.push(self.nested_expr()?);
                }
                self.expect(P::RParen, "to close the tuple")?;
                Ok(Expr {
                    kind: ExprKind::Tuple(elems),
                    span: start.to(self.prev_span()),
                })
            }
            Tok::P(P::LBracket) => {
                self.bump();
                let mut elems = Vec::new();
                while !self.is(P::RBracket) {
                    elems.push(self.nested_expr()?);
                    if !self.eat(P::Comma) {
                        break;
                    }
                }
                self.expect(P::RBracket, "to close the list")?;
                Ok(Expr {
                    kind: ExprKind::List(elems),
                    span: start.to(self.prev_span()),
                })
            }
            Tok::P(P::LBrace) => {
                let b = self.block()?;
                let span = b.span;
                Ok(Expr {
                    kind: ExprKind::Block(b),
                    span,
                })
            }
            Tok::P(P::Lt) => {
                let generics = self.generic_params()?;
                self.lambda_after_generics(generics, start)
            }
            Tok::Kw(Kw::If) => self.if_expr(),
            Tok::Kw(Kw::Match) => self.match_expr(),
            Tok::Kw(Kw::While) => {
                self.bump();
                let cond = self.expr()?;
                let body = self.block()?;
                let span = start.to(body.span);
                Ok(Expr {
                    kind: ExprKind::While(Box::new(cond), body),
                    span,
                })
            }
            Tok::Kw(Kw::Loop) => {
                self.bump();
                let body = self.block()?;
                let span = start.to(body.span);
                Ok(Expr {
                    kind: ExprKind::Loop(body),
                    span,
                })
            }
            Tok::Kw(Kw::For) => {
                self.bump();
                let pat = self.pattern()?;
                if !self.eat_kw(Kw::In) {
                    let found = self.peek().describe();
                    return self.fail(format!(
                        "expected `in` after the loop pattern, found {found}"
                    ));
                }
                let first = self.expr()?;
                let iter = if self.is(P::DotDot) || self.is(P::DotDotEq) {
                    let inclusive = self.bump().tok == Tok::P(P::DotDotEq);
                    let end = self.expr()?;
                    ForIter::Range {
                        start: Box::new(first),
                        end: Box::new(end),
                        inclusive,
                    }
                } else {
                    ForIter::Expr(Box::new(first))
                };
                let body = self.block()?;
                let span = start.to(body.span);
                Ok(Expr {
                    kind: ExprKind::For(pat, iter, body),
                    span,
                })
            }
            Tok::Kw(Kw::Break) => {
                self.bump();
                Ok(Expr {
                    kind: ExprKind::Break,
                    span: start,
                })
            }
            Tok::Kw(Kw::Continue) => {
                self.bump();
                Ok(Expr {
                    kind: ExprKind::Continue,
                    span: start,
                })
            }
            Tok::Kw(Kw::Return) => {
                self.bump();
                let value = if matches!(
                    self.peek(),
                    Tok::P(P::Semi)
                        | Tok::P(P::RBrace)
                        | Tok::P(P::RParen)
                        | Tok::P(P::Comma)
                        | Tok::P(P::RBracket)
                        | Tok::Eof
                ) {
                    None
                } else {
                    Some(Box::new(self.expr()?))
                };
                let span = match &value {
                    Some(v) => start.to(v.span),
                    None => start,
                };
                Ok(Expr {
                    kind: ExprKind::Return(value),
                    span,
                })
            }
            Tok::Directive(d) if d == "op" => {
                self.bump();
                self.expect(P::LParen, "after `#op`")?;
                let name = match self.peek().clone() {
                    Tok::Str(s) => {
                        let sp = self.bump().span;
                        Ident { name: s, span: sp }
                    }
                    t => {
                        return self.fail(format!(
                            "expected the instruction mnemonic as a string, found {}",
                            t.describe()
                        ))
                    }
                };
                let mut args = Vec::new();
                while self.eat(P::Comma) {
                    if self.is(P::RParen) {
                        break;
                    }
                    args.push(self.nested_expr()?);
                }
                self.expect(P::RParen, "to close `#op(...)`")?;
                Ok(Expr {
                    kind: ExprKind::Op(name, args),
                    span: start.to(self.prev_span()),
                })
            }
            Tok::Directive(d) => self.fail(format!(
                "unknown directive `#{d}` (expected `#run` or `#op`)"
            )),
            Tok::Kw(Kw::Import) => self.fail(
                "`import` is only allowed in a top-level declaration `name := import(\"path\");`",
            ),
            Tok::Kw(Kw::Struct) | Tok::Kw(Kw::Enum) => {
                self.fail("types can only be declared at the top level: `Name := struct(...);`")
            }
            t => self.fail(format!("expected an expression, found {}", t.describe())),
        }
    }

    fn if_expr(&mut self) -> PResult<Expr> {
        let start = self.bump().span; // if
        let cond = self.expr()?;
        let then = self.block()?;
        let mut end = then.span;
        let els = if self.eat_kw(Kw::Else) {
            if self.is_kw(Kw::If) {
                self.enter()?;
                let e = self.if_expr();
                self.leave();
                let e = e?;
                end = e.span;
                Some(Box::new(e))
            } else {
                let b = self.block()?;
                end = b.span;
                let sp = b.span;
                Some(Box::new(Expr {
                    kind: ExprKind::Block(b),
                    span: sp,
                }))
            }
        } else {
            None
        };
        Ok(Expr {
            kind: ExprKind::If(Box::new(cond), then, els),
            span: start.to(end),
        })
    }

    fn match_expr(&mut self) -> PResult<Expr> {
        let start = self.bump().span; // match
        let scrut = self.expr()?;
        self.expect(P::LBrace, "to start the match arms")?;
        let mut arms = Vec::new();
        while !self.is(P::RBrace) && !self.at_eof() {
            let before = self.pos;
            match self.arm() {
                Ok((arm, needs_comma)) => {
                    arms.push(arm);
                    if self.eat(P::Comma) || self.is(P::RBrace) {
                        continue;
                    }
                    if needs_comma {
                        let _ = self.missing(
                            "`,` or `}` after the match arm",
                            "match arms are separated by commas",
                        );
                        self.recover_arm();
                    }
                }
                Err(Bail) => {
                    self.recover_arm();
                    if self.pos == before {
                        self.bump();
                    }
                }
            }
        }
        self.expect(P::RBrace, "to close the match")?;
        Ok(Expr {
            kind: ExprKind::Match(Box::new(scrut), arms),
            span: start.to(self.prev_span()),
        })
    }

    /// One arm; the flag says whether a comma is required after it (not after a block).
    fn arm(&mut self) -> PResult<(Arm, bool)> {
        self.with_guard(false, |p| p.arm_inner())
    }

    fn arm_inner(&mut self) -> PResult<(Arm, bool)> {
        let pat = self.pattern()?;
        let guard = if self.eat_kw(Kw::If) {
            // The guard ends at the arm's `=>`: see [`Parser::guard`].
            Some(self.with_guard(true, |p| p.expr())?)
        } else {
            None
        };
        self.expect(P::FatArrow, "after the pattern")?;
        // A block body ends the arm: no operator or postfix may follow it.
        let body = if self.is(P::LBrace) {
            let b = self.block()?;
            let sp = b.span;
            Expr {
                kind: ExprKind::Block(b),
                span: sp,
            }
        } else {
            self.expr()?
        };
        let needs_comma = !matches!(body.kind, ExprKind::Block(_));
        let span = pat.span.to(body.span);
        Ok((
            Arm {
                pat,
                guard,
                body,
                span,
            },
            needs_comma,
        ))
    }

    fn block(&mut self) -> PResult<Block> {
        self.enter()?;
        let r = self.with_guard(false, |p| p.block_inner());
        self.leave();
        r
    }

    fn block_inner(&mut self) -> PResult<Block> {
        let start = self.expect(P::LBrace, "to start a block")?;
        let mut stmts = Vec::new();
        let mut tail: Option<Box<Expr>> = None;
        loop {
            if self.is(P::RBrace) || self.at_eof() {
                break;
            }
            if self.eat(P::Semi) {
                continue;
            }
            if let Some(t) = tail.take() {
                // A block-like expression statement followed by more statements.
                stmts.push(Stmt::Expr(*t));
            }
            let before = self.pos;
            match self.stmt() {
                Ok(StmtOrTail::Stmt(s)) => stmts.push(s),
                Ok(StmtOrTail::Tail(e)) => tail = Some(Box::new(e)),
                Err(Bail) => {
                    self.recover_stmt();
                    if self.pos == before && !self.is(P::RBrace) {
                        self.bump();
                    }
                }
            }
        }
        if self.at_eof() {
            // Point at what is unclosed, as rustc does: the end of the file says nothing.
            let eof = self.span();
            self.report(
                Diagnostic::error(start, "this `{` is never closed")
                    .with_label("the block starting here has no `}`")
                    .with_note(Some(eof), "the file ends here"),
            );
            return Err(Bail);
        }
        self.expect(P::RBrace, "to close the block")?;
        Ok(Block {
            stmts,
            tail,
            span: start.to(self.prev_span()),
        })
    }

    fn stmt(&mut self) -> PResult<StmtOrTail> {
        let start = self.span();
        // mut x [: T] := e
        if self.eat_kw(Kw::Mut) {
            let name = self.ident("a variable name after `mut`")?;
            let ty = if self.eat(P::Colon) {
                Some(self.type_expr()?)
            } else {
                None
            };
            self.expect(P::ColonEq, "in a `mut` binding")?;
            let value = self.let_value();
            let pat = Pat {
                kind: PatKind::Name(name.name),
                span: name.span,
            };
            return Ok(StmtOrTail::Stmt(Stmt::Let {
                pat,
                mutable: true,
                ty,
                value,
                span: start.to(self.prev_span()),
            }));
        }
        // Hash has no `let`/`var`: say so instead of a puzzling parse error.
        if let Tok::Ident(kw) = self.peek().clone() {
            if matches!(kw.as_str(), "let" | "var" | "const")
                && matches!(self.peek_at(1), Tok::Ident(_) | Tok::Kw(Kw::Mut))
            {
                let sp = self.span();
                self.report(
                    Diagnostic::error(sp, format!("Hash has no `{kw}`"))
                        .with_help("bind with `name := value;` (or `mut name := value;` for a variable you will assign)"),
                );
                return Err(Bail);
            }
        }
        // x := e, x: T := e
        if let Tok::Ident(name) = self.peek().clone() {
            if matches!(self.peek_at(1), Tok::P(P::ColonEq) | Tok::P(P::Colon)) {
                let sp = self.bump().span;
                let ty = if self.eat(P::Colon) {
                    Some(self.type_expr()?)
                } else {
                    None
                };
                self.expect(P::ColonEq, "after the annotated name")?;
                let value = self.let_value();
                let pat = Pat {
                    kind: PatKind::Name(name),
                    span: sp,
                };
                return Ok(StmtOrTail::Stmt(Stmt::Let {
                    pat,
                    mutable: false,
                    ty,
                    value,
                    span: start.to(self.prev_span()),
                }));
            }
        }
        let block_like_start = matches!(
            self.peek(),
            Tok::P(P::LBrace)
                | Tok::Kw(Kw::If)
                | Tok::Kw(Kw::Match)
                | Tok::Kw(Kw::While)
                | Tok::Kw(Kw::For)
                | Tok::Kw(Kw::Loop)
        );
        let e = if block_like_start {
            self.enter()?;
            let e = self.primary();
            self.leave();
            let e = e?;
            if !(self.is(P::Semi) || self.is(P::RBrace)) {
                // A block-like statement: no `;` needed, and no operator may follow.
                return Ok(StmtOrTail::Tail(e));
            }
            e
        } else {
            self.expr()?
        };
        // (a, b) := e
        if self.is(P::ColonEq) {
            self.bump();
            let pat = self.expr_to_pat(e)?;
            let value = self.let_value();
            return Ok(StmtOrTail::Stmt(Stmt::Let {
                pat,
                mutable: false,
                ty: None,
                value,
                span: start.to(self.prev_span()),
            }));
        }
        if self.eat(P::Semi) {
            return Ok(StmtOrTail::Stmt(Stmt::Expr(e)));
        }
        if self.is(P::RBrace) {
            return Ok(StmtOrTail::Tail(e));
        }
        if e.kind.is_block_like() {
            return Ok(StmtOrTail::Stmt(Stmt::Expr(e)));
        }
        self.missing("`;` or `}` after the expression", "statements end with `;`")?;
        Err(Bail)
    }

    /// The value of a binding and its `;`. A value that fails to parse still binds the
    /// name (to an error expression), so that later uses of the name are not reported
    /// as undeclared.
    fn let_value(&mut self) -> Expr {
        let start = self.span();
        match self.expr() {
            Ok(v) => {
                if self.expect_stmt_semi().is_err() {
                    self.recover_stmt();
                }
                v
            }
            Err(Bail) => {
                self.recover_stmt();
                Expr {
                    kind: ExprKind::Error,
                    span: start,
                }
            }
        }
    }

    fn expect_stmt_semi(&mut self) -> PResult<()> {
        if self.eat(P::Semi) {
            return Ok(());
        }
        self.missing(
            "`;` after the binding",
            "a binding `x := value` ends with `;`",
        )
    }

    /// Reinterprets the expression on the left of `:=` as a pattern.
    fn expr_to_pat(&mut self, e: Expr) -> PResult<Pat> {
        let span = e.span;
        let kind = match e.kind {
            ExprKind::Var(n) => PatKind::Name(n),
            ExprKind::Wildcard => PatKind::Wild,
            ExprKind::Lit(l) => PatKind::Lit(l),
            ExprKind::Tuple(es) => {
                let mut ps = Vec::new();
                for e in es {
                    ps.push(self.expr_to_pat(e)?);
                }
                PatKind::Tuple(ps)
            }
            ExprKind::List(es) => {
                let mut ps = Vec::new();
                for e in es {
                    ps.push(self.expr_to_pat(e)?);
                }
                PatKind::List(ps, None)
            }
            ExprKind::Call(callee, args) => {
                let path = self.expr_to_path(*callee)?;
                let mut ps = Vec::new();
                for a in args {
                    if let Some(n) = a.name {
                        self.push_diag(Diagnostic::error(
                            n.span,
                            "named fields are not allowed in patterns; list the fields positionally",
                        ));
                        return Err(Bail);
                    }
                    ps.push(self.expr_to_pat(a.value)?);
                }
                PatKind::Ctor(path, Some(ps))
            }
            ExprKind::Field(..) => {
                let path = self.expr_to_path(e)?;
                PatKind::Ctor(path, None)
            }
            ExprKind::Error => PatKind::Error,
            _ => {
                self.push_diag(Diagnostic::error(
                    span,
                    "expected a pattern on the left of `:=` (a name, `_`, a tuple or a constructor)",
                ));
                return Err(Bail);
            }
        };
        Ok(Pat { kind, span })
    }

    fn expr_to_path(&mut self, e: Expr) -> PResult<Vec<Ident>> {
        match e.kind {
            ExprKind::Var(n) => Ok(vec![Ident {
                name: n,
                span: e.span,
            }]),
            ExprKind::Field(base, name) => {
                let mut p = self.expr_to_path(*base)?;
                p.push(name);
                Ok(p)
            }
            _ => {
                self.push_diag(Diagnostic::error(
                    e.span,
                    "expected a constructor name in the pattern",
                ));
                Err(Bail)
            }
        }
    }

    // ----- patterns -----------------------------------------------------------------

    fn pattern(&mut self) -> PResult<Pat> {
        self.enter()?;
        let r = self.or_pattern();
        self.leave();
        r
    }

    fn or_pattern(&mut self) -> PResult<Pat> {
        let first = self.pat_atom()?;
        if !self.is(P::Pipe) {
            return Ok(first);
        }
        let mut alts = vec![first];
        while self.eat(P::Pipe) {
            alts.push(self.pat_atom()?);
        }
        let span = alts[0].span.to(alts[alts.len() - 1].span);
        Ok(Pat {
            kind: PatKind::Or(alts),
            span,
        })
    }

    fn pat_lit(&mut self) -> PResult<Option<(Lit, Span)>> {
        let start = self.span();
        let neg = if self.is(P::Minus)
            && matches!(self.peek_at(1), Tok::Int { .. } | Tok::Float { .. })
        {
            self.bump();
            true
        } else {
            false
        };
        let t = self.peek().clone();
        let l = match t {
            Tok::Int {
                digits,
                radix,
                suffix,
            } => {
                let sp = start.to(self.span());
                if neg && suffix == NumSuffix::U64 {
                    self.push_diag(Diagnostic::error(sp, "a `u64` pattern cannot be negative"));
                }
                self.int_lit(&digits, radix, suffix, neg, sp)
            }
            Tok::Float { value, .. } => Lit::F64(if neg { -value } else { value }),
            Tok::Char(c) => Lit::Char(c),
            Tok::Str(s) => Lit::Str(s),
            Tok::Kw(Kw::True) => Lit::Bool(true),
            Tok::Kw(Kw::False) => Lit::Bool(false),
            _ => {
                if neg {
                    return self.fail("expected a number after `-` in a pattern");
                }
                return Ok(None);
            }
        };
        let sp = self.bump().span;
        Ok(Some((l, start.to(sp))))
    }

    fn pat_atom(&mut self) -> PResult<Pat> {
        let start = self.span();
        if let Some((l, sp)) = self.pat_lit()? {
            if self.is(P::DotDot) || self.is(P::DotDotEq) {
                let inclusive = self.bump().tok == Tok::P(P::DotDotEq);
                let Some((hi, hsp)) = self.pat_lit()? else {
                    return self.fail("expected the end of the range pattern (a literal)");
                };
                return Ok(Pat {
                    kind: PatKind::Range(l, hi, inclusive),
                    span: sp.to(hsp),
                });
            }
            return Ok(Pat {
                kind: PatKind::Lit(l),
                span: sp,
            });
        }
        match self.peek().clone() {
            Tok::P(P::Underscore) => {
                self.bump();
                Ok(Pat {
                    kind: PatKind::Wild,
                    span: start,
                })
            }
            Tok::Ident(_) => {
                let mut path = vec![self.ident("a name")?];
                while self.is(P::Dot) {
                    self.bump();
                    path.push(self.ident("a constructor name after `.`")?);
                }
                let args = if self.eat(P::LParen) {
                    let mut ps = Vec::new();
                    while !self.is(P::RParen) {
                        if matches!(self.peek(), Tok::Ident(_))
                            && matches!(self.peek_at(1), Tok::P(P::Eq))
                        {
                            return self.fail("named fields are not allowed in patterns; list the fields positionally");
                        }
                        ps.push(self.pattern()?);
                        if !self.eat(P::Comma) {
                            break;
                        }
                    }
                    self.expect(P::RParen, "to close the constructor pattern")?;
                    Some(ps)
                } else {
                    None
                };
                let span = start.to(self.prev_span());
                if path.len() == 1 && args.is_none() {
                    let name = path.pop().map(|i| i.name).unwrap_or_default();
                    return Ok(Pat {
                        kind: PatKind::Name(name),
                        span,
                    });
                }
                Ok(Pat {
                    kind: PatKind::Ctor(path, args),
                    span,
                })
            }
            Tok::P(P::LParen) => {
                self.bump();
                let mut elems = Vec::new();
                let mut trailing = false;
                while !self.is(P::RParen) {
                    elems.push(self.pattern()?);
                    trailing = false;
                    if !self.eat(P::Comma) {
                        break;
                    }
                    trailing = true;
                }
                self.expect(P::RParen, "to close the tuple pattern")?;
                let span = start.to(self.prev_span());
                if elems.len() == 1 && !trailing {
                    let mut p = elems.pop().ok_or(Bail)?;
                    p.span = span;
                    return Ok(p);
                }
                Ok(Pat {
                    kind: PatKind::Tuple(elems),
                    span,
                })
            }
            Tok::P(P::LBracket) => {
                self.bump();
                let mut elems = Vec::new();
                let mut rest = None;
                while !self.is(P::RBracket) {
                    if self.is(P::DotDot) {
                        let dd = self.bump().span;
                        let r = match self.peek().clone() {
                            Tok::Ident(n) => {
                                let sp = self.bump().span;
                                Some(Box::new(Pat {
                                    kind: PatKind::Name(n),
                                    span: dd.to(sp),
                                }))
                            }
                            Tok::P(P::Underscore) => {
                                let sp = self.bump().span;
                                Some(Box::new(Pat {
                                    kind: PatKind::Wild,
                                    span: dd.to(sp),
                                }))
                            }
                            _ => None,
                        };
                        rest = Some(r);
                        self.eat(P::Comma);
                        if !self.is(P::RBracket) {
                            return self
                                .fail("`..rest` must be the last element of a list pattern");
                        }
                        break;
                    }
                    elems.push(self.pattern()?);
                    if !self.eat(P::Comma) {
                        break;
                    }
                }
                self.expect(P::RBracket, "to close the list pattern")?;
                Ok(Pat {
                    kind: PatKind::List(elems, rest),
                    span: start.to(self.prev_span()),
                })
            }
            t => self.fail(format!("expected a pattern, found {}", t.describe())),
        }
    }

    // ----- literals -----------------------------------------------------------------

    /// Converts an integer literal, reporting out-of-range values (and returning 0).
    fn int_lit(
        &mut self,
        digits: &str,
        radix: u32,
        suffix: NumSuffix,
        negative: bool,
        span: Span,
    ) -> Lit {
        match suffix {
            NumSuffix::IBig => {
                let v = rug::Integer::from_str_radix(digits, radix as i32).unwrap_or_default();
                let v = if negative { -v } else { v };
                Lit::IBig(v.to_string())
            }
            NumSuffix::F64 => {
                let v = rug::Integer::from_str_radix(digits, radix as i32)
                    .unwrap_or_default()
                    .to_f64();
                Lit::F64(if negative { -v } else { v })
            }
            NumSuffix::U64 => match u64::from_str_radix(digits, radix) {
                Ok(v) => Lit::U64(v),
                Err(_) => {
                    self.push_diag(
                        Diagnostic::error(span, "integer literal is out of range for `u64`")
                            .with_label("does not fit in 64 bits")
                            .with_help("the largest u64 is 18446744073709551615; use the suffix `ibig` for bigger integers"),
                    );
                    Lit::U64(0)
                }
            },
            NumSuffix::None | NumSuffix::I64 => {
                let v = u128::from_str_radix(digits, radix).ok();
                let limit: u128 = if negative {
                    1u128 << 63
                } else {
                    (1u128 << 63) - 1
                };
                match v {
                    Some(v) if v <= limit => {
                        let v = if negative {
                            (v as i128).wrapping_neg() as i64
                        } else {
                            v as i64
                        };
                        Lit::I64(v)
                    }
                    _ => {
                        self.push_diag(
                            Diagnostic::error(span, "integer literal is out of range for `i64`")
                                .with_label("does not fit in an i64")
                                .with_help(
                                    "the largest i64 is 9223372036854775807; use the suffix `ibig` for bigger integers, or `u64`",
                                ),
                        );
                        Lit::I64(0)
                    }
                }
            }
        }
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
