//! Expressions: precedence climbing for binary operators, unary and postfix
//! operators, calls, lambdas, primaries, `if` and `match` with its arms and guards.

use super::*;
use crate::lexer::NumSuffix;

impl Parser {
    pub(super) fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = self.assign_expr();
        self.leave();
        r
    }

    /// Parses with [`Parser::guard`] set to `guard`, restoring it afterwards (also when
    /// the construct is abandoned, so recovery continues in the right mode).
    pub(super) fn with_guard<T>(
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
    pub(super) fn nested_expr(&mut self) -> PResult<Expr> {
        self.with_guard(false, |p| p.expr())
    }

    pub(super) fn assign_expr(&mut self) -> PResult<Expr> {
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

    pub(super) fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        let saved = self.chain;
        let r = self.binary_loop(&mut lhs, min_prec);
        self.chain = saved;
        r.map(|_| lhs)
    }

    pub(super) fn binary_loop(&mut self, lhs: &mut Expr, min_prec: u8) -> PResult<()> {
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

    pub(super) fn unary(&mut self) -> PResult<Expr> {
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

    pub(super) fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        let saved = self.chain;
        let r = self.postfix_loop(&mut e);
        self.chain = saved;
        r.map(|_| e)
    }

    pub(super) fn wrap(e: &mut Expr, span: Span, f: impl FnOnce(Box<Expr>) -> ExprKind) {
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

    pub(super) fn postfix_loop(&mut self, e: &mut Expr) -> PResult<()> {
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

    pub(super) fn call_args(&mut self) -> PResult<Vec<Arg>> {
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
    pub(super) fn paren_starts_lambda(&self) -> bool {
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

    pub(super) fn lambda(&mut self, generics: Vec<Ident>, start: Span) -> PResult<Expr> {
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

    pub(super) fn lambda_after_generics(
        &mut self,
        generics: Vec<Ident>,
        start: Span,
    ) -> PResult<Expr> {
        if !self.is(P::LParen) {
            let found = self.peek().describe();
            return self.fail(format!(
                "expected `struct`, `enum` or a function `(params) => body` after the type parameters, found {found}"
            ));
        }
        self.lambda(generics, start)
    }

    pub(super) fn primary(&mut self) -> PResult<Expr> {
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
            Tok::Directive(d) if d == "foreign" => self.foreign(start),
            Tok::Directive(d) => self.fail(format!(
                "unknown directive `#{d}` (expected `#run`, `#op` or `#foreign`)"
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

    /// `#foreign("library", "symbol") (x: T, ...) -> R`: a function value that calls the
    /// C function; every parameter and the result are annotated. Parsed as the lambda
    /// `(x: T, ...) -> R => <call of symbol with x, ...>`, with a C `int` written `i32`
    /// (an `i64` in Hash).
    pub(super) fn foreign(&mut self, start: Span) -> PResult<Expr> {
        self.bump();
        self.expect(P::LParen, "after `#foreign`")?;
        let mut names = Vec::new();
        for what in ["the library name", "the C symbol"] {
            match self.peek().clone() {
                Tok::Str(s) => {
                    self.bump();
                    names.push(s);
                }
                t => {
                    return self.fail(format!(
                        "expected {what} as a string, found {}",
                        t.describe()
                    ))
                }
            }
            if names.len() == 1 {
                self.expect(P::Comma, "after the library name")?;
            }
        }
        self.expect(P::RParen, "to close `#foreign(...)`")?;
        self.expect(P::LParen, "to start the C function's parameters")?;
        let mut params = Vec::new();
        let mut tys = Vec::new();
        while !self.is(P::RParen) {
            let name = self.ident("a parameter name")?;
            self.expect(
                P::Colon,
                "after the parameter name (foreign parameters need a type)",
            )?;
            let ty = self.type_expr()?;
            params.push(Param {
                name,
                ty: Some(hash_type_of_c(&ty)),
            });
            tys.push(ty);
            if !self.eat(P::Comma) {
                break;
            }
        }
        self.expect(P::RParen, "to close the parameters")?;
        self.expect(P::Arrow, "before the C function's result type")?;
        let ret = self.type_expr()?;
        let span = start.to(self.prev_span());
        let args = params
            .iter()
            .map(|p| Expr {
                kind: ExprKind::Var(p.name.name.clone()),
                span: p.name.span,
            })
            .collect();
        let [library, symbol]: [String; 2] = names.try_into().unwrap_or_default();
        let body = Expr {
            kind: ExprKind::Foreign(Box::new(ForeignCall {
                library,
                symbol,
                params: tys,
                ret: ret.clone(),
                args,
            })),
            span,
        };
        Ok(Expr {
            kind: ExprKind::Lambda(Lambda {
                generics: Vec::new(),
                params,
                ret: Some(hash_type_of_c(&ret)),
                body: Box::new(body),
            }),
            span,
        })
    }

    pub(super) fn if_expr(&mut self) -> PResult<Expr> {
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

    pub(super) fn match_expr(&mut self) -> PResult<Expr> {
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
    pub(super) fn arm(&mut self) -> PResult<(Arm, bool)> {
        self.with_guard(false, |p| p.arm_inner())
    }

    pub(super) fn arm_inner(&mut self) -> PResult<(Arm, bool)> {
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
}

/// The Hash type of a type written in a `#foreign` signature: `i32` (a C `int`) is an
/// `i64`, everything else is itself.
fn hash_type_of_c(t: &TypeExpr) -> TypeExpr {
    match &t.kind {
        TypeExprKind::Named(path, args)
            if args.is_empty() && path.len() == 1 && path[0].name == "i32" =>
        {
            TypeExpr {
                kind: TypeExprKind::Named(
                    vec![Ident {
                        name: "i64".into(),
                        span: path[0].span,
                    }],
                    Vec::new(),
                ),
                span: t.span,
            }
        }
        _ => t.clone(),
    }
}

pub(super) fn prec_of(p: P) -> Option<(u8, BinOp)> {
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

pub(super) fn compound_op(p: P) -> Option<Option<BinOp>> {
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
