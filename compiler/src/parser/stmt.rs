//! Blocks and statements: bindings (`x := e`, `mut x := e`, destructuring), and the
//! expression-to-pattern conversion a destructuring binding needs.

use super::*;

impl Parser {
    pub(super) fn block(&mut self) -> PResult<Block> {
        self.enter()?;
        let r = self.with_guard(false, |p| p.block_inner());
        self.leave();
        r
    }

    pub(super) fn block_inner(&mut self) -> PResult<Block> {
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

    pub(super) fn stmt(&mut self) -> PResult<StmtOrTail> {
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
    pub(super) fn let_value(&mut self) -> Expr {
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

    pub(super) fn expect_stmt_semi(&mut self) -> PResult<()> {
        if self.eat(P::Semi) {
            return Ok(());
        }
        self.missing(
            "`;` after the binding",
            "a binding `x := value` ends with `;`",
        )
    }

    /// Reinterprets the expression on the left of `:=` as a pattern.
    pub(super) fn expr_to_pat(&mut self, e: Expr) -> PResult<Pat> {
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

    pub(super) fn expr_to_path(&mut self, e: Expr) -> PResult<Vec<Ident>> {
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
}
