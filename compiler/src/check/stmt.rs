//! Assignment, loops, blocks and `let` statements: mutable places, `for` over ranges
//! and collections, `break`/`continue` scoping, and bindings with their patterns.

use super::expr::*;
use super::{Checker, Deferred, Res};
use crate::ast::{self, BinOp, ExprKind};
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::tast::*;
use crate::types::{NumClass, Type};

impl Checker<'_> {
    pub(super) fn iter_error(&mut self, container: &Type, span: Span) {
        let shown = self.show(container);
        self.report(
            Diagnostic::error(
                span,
                format!("cannot iterate over a value of type `{shown}`"),
            )
            .with_help("a `for` loop runs over a range `a..b` / `a..=b`, a `List` or an `Array`"),
        );
    }

    pub(super) fn assign(
        &mut self,
        op: Option<BinOp>,
        target: &ast::Expr,
        value: &ast::Expr,
        span: Span,
    ) -> TExpr {
        let (place, place_ty) = match &target.kind {
            ExprKind::Var(n) => match self.lookup_value(n) {
                Some(Res::Local(id)) => {
                    self.check_run_local(id, target.span);
                    let info = &self.locals[id.0 as usize];
                    if !info.mutable {
                        let decl = info.span;
                        let name = info.name.clone();
                        self.report(
                            Diagnostic::error(
                                target.span,
                                format!("cannot assign to `{name}`, which is not mutable"),
                            )
                            .with_label("assignment to an immutable binding")
                            .with_note(Some(decl), format!("`{name}` is bound here without `mut`"))
                            .with_help(format!("declare it mutable: `mut {name} := ...`")),
                        );
                    }
                    self.use_local(id);
                    self.locals[id.0 as usize].assigned = true;
                    let t = self.locals[id.0 as usize].scheme.ty.clone();
                    (Some(TPlace::Local(id)), t)
                }
                Some(Res::Item(m, i)) if self.mods[m.0 as usize].items[i as usize].mutable => {
                    let te = self.infer(target);
                    (
                        Some(TPlace::Item(ItemRef {
                            module: m,
                            index: i,
                        })),
                        te.ty,
                    )
                }
                Some(Res::Item(..)) => {
                    self.report(
                        Diagnostic::error(target.span, format!("cannot assign to the top-level binding `{n}`"))
                            .with_help("top-level bindings are immutable; keep mutable state in an array or a struct field"),
                    );
                    (None, self.fresh())
                }
                Some(_) => {
                    self.error(target.span, format!("cannot assign to `{n}`"));
                    (None, self.fresh())
                }
                None => {
                    if op.is_none() {
                        self.report(
                            Diagnostic::error(target.span, format!("cannot find `{n}` in this scope"))
                                .with_label("not declared")
                                .with_help(format!("to declare a new variable, write `{n} := ...` (or `mut {n} := ...`)")),
                        );
                    } else {
                        self.unbound(n, target.span);
                    }
                    (None, self.fresh())
                }
            },
            ExprKind::Field(base, name) => match self.path_res(target) {
                PathRes::NotPath => {
                    let b = self.infer(base);
                    let fe = self.field_access(b, name, target.span);
                    let t = fe.ty.clone();
                    match fe.kind {
                        TExprKind::Field { base, index, .. } => {
                            // Tuples and enum payloads are immutable values (the code
                            // generator relies on it: their fields are read lazily).
                            let mutable = match self.shallow(&base.ty) {
                                Type::Adt(a, _) => self.adts[a.0 as usize].is_struct,
                                Type::Tuple(_) => false,
                                _ => true,
                            };
                            if !mutable {
                                self.error(target.span, "only struct fields can be assigned");
                            }
                            (Some(TPlace::Field { base, index }), t)
                        }
                        _ => (None, t),
                    }
                }
                PathRes::Error => (None, self.fresh()),
                PathRes::Res(_) => {
                    self.report(
                        Diagnostic::error(
                            target.span,
                            "cannot assign to a module member, type or constructor",
                        )
                        .with_help("top-level bindings are immutable"),
                    );
                    (None, self.fresh())
                }
            },
            ExprKind::Index(base, idx) => {
                let b = self.infer(base);
                let elem = self.fresh();
                if self
                    .unify(&Type::Array(Box::new(elem.clone())), &b.ty)
                    .is_err()
                {
                    let shown = self.show(&b.ty);
                    self.error(base.span, format!("cannot index into a value of type `{shown}`; only arrays can be indexed"));
                }
                let i = self.check(idx, &Type::i64(), "an array index must be an `i64`");
                (
                    Some(TPlace::Index {
                        base: Box::new(b),
                        index: Box::new(i),
                    }),
                    elem,
                )
            }
            _ => {
                self.report(
                    Diagnostic::error(target.span, "invalid left-hand side of an assignment")
                        .with_help("assign to a `mut` variable, a struct field `a.f` or an array element `a[i]`"),
                );
                (None, self.fresh())
            }
        };
        let v = self.check(
            value,
            &place_ty,
            "the assigned value does not match the type of the place",
        );
        if let Some(op) = op {
            let class = match op {
                BinOp::Add => NumClass::NUM_OR_STR,
                BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => NumClass::NUM,
                _ => NumClass::BITS,
            };
            if self.constrain(&place_ty, class).is_err() {
                let shown = self.show(&place_ty);
                self.error(
                    span,
                    format!(
                        "`{}=` cannot be applied to a value of type `{shown}`",
                        op.as_str()
                    ),
                );
            }
        }
        match place {
            Some(place) => mk(
                TExprKind::Assign {
                    place,
                    op,
                    operand_ty: place_ty,
                    value: Box::new(v),
                },
                Type::unit(),
                span,
            ),
            None => mk(TExprKind::Lit(Lit::Unit), Type::unit(), span),
        }
    }

    pub(super) fn push_loop(&mut self) {
        if let Some(f) = self.fn_stack.last_mut() {
            f.loops.push(false);
        }
    }

    pub(super) fn pop_loop(&mut self) -> bool {
        self.fn_stack
            .last_mut()
            .and_then(|f| f.loops.pop())
            .unwrap_or(false)
    }

    pub(super) fn for_loop(
        &mut self,
        p: &ast::Pat,
        it: &ast::ForIter,
        b: &ast::Block,
        span: Span,
    ) -> TExpr {
        let (iter, elem) = match it {
            ast::ForIter::Range {
                start,
                end,
                inclusive,
            } => {
                let s = self.check(
                    start,
                    &Type::i64(),
                    "a range in a `for` loop runs over `i64`",
                );
                let e = self.check(end, &Type::i64(), "a range in a `for` loop runs over `i64`");
                (
                    TForIter::Range {
                        start: Box::new(s),
                        end: Box::new(e),
                        inclusive: *inclusive,
                    },
                    Type::i64(),
                )
            }
            ast::ForIter::Expr(x) => {
                let c = self.infer(x);
                let elem = self.fresh();
                let d = Deferred::Iter {
                    container: c.ty.clone(),
                    elem: elem.clone(),
                    span: x.span,
                };
                if !self.try_deferred(&d, false) {
                    self.deferred.push(d);
                }
                (TForIter::List(Box::new(c)), elem)
            }
        };
        let mark = self.scopes.len();
        let pat = self.check_pat_bind(p, &elem, false);
        self.push_loop();
        let body = self.block_expr(b);
        self.pop_loop();
        self.scopes.truncate(mark);
        mk(
            TExprKind::For {
                pat,
                iter,
                body: Box::new(body),
            },
            Type::unit(),
            span,
        )
    }

    pub(super) fn block_expr(&mut self, b: &ast::Block) -> TExpr {
        self.block(b)
    }

    pub(crate) fn block(&mut self, b: &ast::Block) -> TExpr {
        let mark = self.scopes.len();
        let mut stmts = Vec::new();
        for s in &b.stmts {
            match s {
                ast::Stmt::Expr(e) => {
                    let te = self.infer(e);
                    stmts.push(TStmt::Expr(te));
                }
                ast::Stmt::Let {
                    pat,
                    mutable,
                    ty,
                    value,
                    span,
                } => {
                    let st = self.let_stmt(pat, *mutable, ty.as_ref(), value, *span);
                    stmts.push(st);
                }
            }
        }
        let tail = b.tail.as_ref().map(|t| Box::new(self.infer(t)));
        self.scopes.truncate(mark);
        let ty = tail
            .as_ref()
            .map(|t| t.ty.clone())
            .unwrap_or_else(Type::unit);
        mk(TExprKind::Block(TBlock { stmts, tail }), ty, b.span)
    }

    pub(super) fn let_stmt(
        &mut self,
        pat: &ast::Pat,
        mutable: bool,
        ty: Option<&ast::TypeExpr>,
        value: &ast::Expr,
        _span: Span,
    ) -> TStmt {
        let simple = match &pat.kind {
            ast::PatKind::Name(n) if self.lookup_ctor_pattern_quiet(n).is_none() => Some(n.clone()),
            _ => None,
        };
        self.level += 1;
        let var_start = self.vars.len();
        let ann = ty.map(|t| self.resolve_type(t, true));
        let expected = ann.clone().unwrap_or_else(|| self.fresh());
        // A lambda bound to a name may call itself through it.
        let rec_local = match (&simple, &value.kind, mutable) {
            (Some(n), ExprKind::Lambda(_), false) => {
                let id = self.new_local(n, pat.span, false, expected.clone());
                self.locals[id.0 as usize].let_bound = true;
                self.bind_local(n, id);
                Some(id)
            }
            _ => None,
        };
        let tv = self.check_expr_named(value, &expected, simple.clone(), rec_local);
        self.process_deferred(false);
        let _ = var_start;
        self.level -= 1;
        // A value that did not parse stays an unknown to be inferred from its uses (as
        // generic it would clash with them: "expected `a`, found `(b, c)`").
        let generalise = !mutable && self.is_value(&tv) && !matches!(value.kind, ExprKind::Error);
        let scheme = if generalise {
            self.generalize(&expected)
        } else {
            self.weaken(&expected);
            crate::types::Scheme::mono(expected.clone())
        };
        match (simple, rec_local) {
            (Some(_), Some(id)) => {
                // Already in scope (for the recursion); now with its final scheme.
                self.locals[id.0 as usize].scheme = scheme;
                let tp = TPat {
                    kind: TPatKind::Bind(id),
                    ty: expected,
                    span: pat.span,
                };
                TStmt::Let { pat: tp, value: tv }
            }
            (Some(n), None) => {
                let id = self.new_local(&n, pat.span, mutable, expected.clone());
                self.locals[id.0 as usize].scheme = scheme;
                self.locals[id.0 as usize].let_bound = true;
                self.bind_local(&n, id);
                let tp = TPat {
                    kind: TPatKind::Bind(id),
                    ty: expected,
                    span: pat.span,
                };
                TStmt::Let { pat: tp, value: tv }
            }
            _ => {
                if mutable {
                    self.error(pat.span, "`mut` needs a single name: `mut x := ...`");
                }
                let tp = self.check_pat_bind(pat, &expected, mutable);
                TStmt::Let { pat: tp, value: tv }
            }
        }
    }
}
