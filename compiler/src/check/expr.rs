//! Inference for expressions, statements and lambdas.

use super::{Checker, FnCtx, Res};
use crate::ast::{self, BinOp, ExprKind, UnOp};
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::tast::*;
use crate::types::{NumClass, Prim, Type};

/// The result of resolving an expression as a static path (`m.f`, `Shape.Circle`).
pub(crate) enum PathRes {
    /// Not a path to a module member, type or constructor: check it as a value.
    NotPath,
    /// Resolved.
    Res(Res),
    /// An error was reported (or the module is broken).
    Error,
}

pub(super) fn mk(kind: TExprKind, ty: Type, span: Span) -> TExpr {
    TExpr { kind, ty, span }
}

pub(super) fn lit_of(l: &ast::Lit) -> (Lit, Type) {
    match l {
        ast::Lit::I64(v) => (Lit::I64(*v), Type::Prim(Prim::I64)),
        ast::Lit::U64(v) => (Lit::U64(*v), Type::Prim(Prim::U64)),
        ast::Lit::F64(v) => (Lit::F64(*v), Type::Prim(Prim::F64)),
        ast::Lit::IBig(s) => (
            Lit::IBig(rug::Integer::from_str_radix(s, 10).unwrap_or_default()),
            Type::Prim(Prim::IBig),
        ),
        ast::Lit::Bool(b) => (Lit::Bool(*b), Type::Prim(Prim::Bool)),
        ast::Lit::Char(c) => (Lit::Char(*c), Type::Prim(Prim::Char)),
        ast::Lit::Str(s) => (Lit::Str(s.clone()), Type::Prim(Prim::Str)),
        ast::Lit::Unit => (Lit::Unit, Type::unit()),
    }
}

pub(crate) fn lit_to_tast(l: &ast::Lit) -> (Lit, Type) {
    lit_of(l)
}

impl Checker<'_> {
    pub(super) fn error_expr(&mut self, span: Span) -> TExpr {
        let t = self.fresh();
        mk(TExprKind::Lit(Lit::Unit), t, span)
    }

    pub(super) fn take_ambiguity(&mut self, span: Span) {
        if let Some(msg) = self.pending_ambiguity.take() {
            self.error(span, msg);
        }
    }

    /// Checks `e` against `expected` (reporting a mismatch at `e`'s span).
    pub(crate) fn check(&mut self, e: &ast::Expr, expected: &Type, what: &str) -> TExpr {
        let te = self.infer(e);
        self.expect_ty(expected, &te.ty, e.span, what);
        te
    }

    /// Checks `e`, telling a lambda its name (for `<fn NAME>` and recursion).
    pub(crate) fn check_expr_named(
        &mut self,
        e: &ast::Expr,
        expected: &Type,
        name: Option<String>,
        self_local: Option<LocalId>,
    ) -> TExpr {
        let te = match &e.kind {
            ExprKind::Lambda(l) => self.lambda(l, e.span, name, self_local, Some(expected)),
            _ => self.infer(e),
        };
        self.expect_ty(expected, &te.ty, e.span, "mismatched types");
        te
    }

    /// Infers the type of `e`.
    pub(crate) fn infer(&mut self, e: &ast::Expr) -> TExpr {
        let span = e.span;
        match &e.kind {
            ExprKind::Error => self.error_expr(span),
            ExprKind::Wildcard => {
                self.error(span, "`_` can only be used in patterns");
                self.error_expr(span)
            }
            ExprKind::Lit(l) => {
                let (l, t) = lit_of(l);
                mk(TExprKind::Lit(l), t, span)
            }
            ExprKind::Var(name) => match self.lookup_value(name) {
                Some(r) => {
                    self.take_ambiguity(span);
                    self.res_expr(r, span, name)
                }
                None => {
                    self.unbound(name, span);
                    self.error_expr(span)
                }
            },
            ExprKind::Field(base, name) => match self.path_res(e) {
                PathRes::Res(r) => self.res_expr(r, span, &name.name),
                PathRes::Error => self.error_expr(span),
                PathRes::NotPath => {
                    let b = self.infer(base);
                    self.field_access(b, name, span)
                }
            },
            ExprKind::Block(b) => self.block(b),
            ExprKind::Tuple(es) => {
                let ts: Vec<TExpr> = es.iter().map(|e| self.infer(e)).collect();
                let ty = Type::Tuple(ts.iter().map(|t| t.ty.clone()).collect());
                mk(TExprKind::Tuple(ts), ty, span)
            }
            ExprKind::List(es) => {
                let elem = self.fresh();
                let ts: Vec<TExpr> = es
                    .iter()
                    .map(|e| self.check(e, &elem, "the elements of a list must have one type"))
                    .collect();
                mk(TExprKind::List(ts), Type::list(elem), span)
            }
            ExprKind::Lambda(l) => self.lambda(l, span, None, None, None),
            ExprKind::Call(callee, args) => {
                let t = self.call(callee, args, span);
                // Nested calls of a generic function can double a type each time
                // (`f(f(f(...)))` with `f := (x) => (x, x)`); the type is shared
                // while inferred but copied in full later, so stop it here.
                if self.type_larger_than(&t.ty, crate::check::MAX_TYPE_SIZE) {
                    self.error(
                        span,
                        format!(
                            "the type of this call is too large (more than {} parts)",
                            crate::check::MAX_TYPE_SIZE
                        ),
                    );
                    return self.error_expr(span);
                }
                t
            }
            ExprKind::Index(base, idx) => {
                let b = self.infer(base);
                let elem = self.fresh();
                let arr = Type::Array(Box::new(elem.clone()));
                if self.unify(&arr, &b.ty).is_err() {
                    let shown = self.show(&b.ty);
                    self.report(
                        Diagnostic::error(
                            base.span,
                            format!("cannot index into a value of type `{shown}`"),
                        )
                        .with_help("only arrays can be indexed; for a list use `list.nth(xs, i)`"),
                    );
                }
                let i = self.check(idx, &Type::i64(), "an array index must be an `i64`");
                mk(
                    TExprKind::Index {
                        base: Box::new(b),
                        index: Box::new(i),
                    },
                    elem,
                    span,
                )
            }
            ExprKind::Unary(op, x) => {
                let t = self.infer(x);
                let (class, what) = match op {
                    UnOp::Neg => (Some(NumClass::NUM), "-"),
                    UnOp::BitNot => (Some(NumClass::BITS), "~"),
                    UnOp::Not => (None, "!"),
                };
                match class {
                    Some(c) => {
                        if self.constrain(&t.ty, c).is_err() {
                            let shown = self.show(&t.ty);
                            self.report(
                                Diagnostic::error(
                                    span,
                                    format!(
                                        "`{what}` cannot be applied to a value of type `{shown}`"
                                    ),
                                )
                                .with_label(format!("expected {}", c.describe())),
                            );
                        }
                    }
                    None => {
                        self.expect_ty(&Type::bool(), &t.ty, x.span, "`!` needs a `bool`");
                    }
                }
                let ty = t.ty.clone();
                mk(
                    TExprKind::Unary {
                        op: *op,
                        operand: Box::new(t),
                    },
                    ty,
                    span,
                )
            }
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, span),
            ExprKind::Assign { op, target, value } => self.assign(*op, target, value, span),
            ExprKind::If(c, t, els) => {
                let cond = self.check(c, &Type::bool(), "the condition of `if` must be a `bool`");
                let then = self.block_expr(t);
                match els {
                    Some(els) => {
                        let e2 = self.infer(els);
                        if let Err(err) = self.unify(&then.ty, &e2.ty) {
                            let d = self.mismatch(
                                &then.ty,
                                &e2.ty,
                                els.span,
                                "`if` and `else` have incompatible types",
                                err,
                            );
                            self.report(d.with_note(Some(t.span), "the `if` branch is here"));
                        }
                        let ty = then.ty.clone();
                        mk(
                            TExprKind::If {
                                cond: Box::new(cond),
                                then: Box::new(then),
                                els: Some(Box::new(e2)),
                            },
                            ty,
                            span,
                        )
                    }
                    None => {
                        if let Err(err) = self.unify(&Type::unit(), &then.ty) {
                            let d = self.mismatch(
                                &Type::unit(),
                                &then.ty,
                                t.span,
                                "`if` without `else` must have type `()`",
                                err,
                            );
                            self.report(
                                d.with_help("add an `else` branch, or end the block with `;`"),
                            );
                        }
                        mk(
                            TExprKind::If {
                                cond: Box::new(cond),
                                then: Box::new(then),
                                els: None,
                            },
                            Type::unit(),
                            span,
                        )
                    }
                }
            }
            ExprKind::While(c, b) => {
                let cond = self.check(
                    c,
                    &Type::bool(),
                    "the condition of `while` must be a `bool`",
                );
                self.push_loop();
                let body = self.block_expr(b);
                self.pop_loop();
                mk(
                    TExprKind::While {
                        cond: Box::new(cond),
                        body: Box::new(body),
                    },
                    Type::unit(),
                    span,
                )
            }
            ExprKind::For(p, it, b) => self.for_loop(p, it, b, span),
            ExprKind::Loop(b) => {
                self.push_loop();
                let body = self.block_expr(b);
                let broke = self.pop_loop();
                let ty = if broke { Type::unit() } else { self.fresh() };
                mk(
                    TExprKind::Loop {
                        body: Box::new(body),
                    },
                    ty,
                    span,
                )
            }
            ExprKind::Break | ExprKind::Continue => {
                let is_break = matches!(e.kind, ExprKind::Break);
                let in_loop = self
                    .fn_stack
                    .last()
                    .map(|f| !f.loops.is_empty())
                    .unwrap_or(false);
                if !in_loop {
                    let w = if is_break { "break" } else { "continue" };
                    self.report(
                        Diagnostic::error(span, format!("`{w}` outside of a loop"))
                            .with_help("`break` and `continue` work in `while`, `for` and `loop`, not across a closure"),
                    );
                } else if is_break {
                    if let Some(l) = self.fn_stack.last_mut().and_then(|f| f.loops.last_mut()) {
                        *l = true;
                    }
                }
                let t = self.fresh();
                mk(
                    if is_break {
                        TExprKind::Break
                    } else {
                        TExprKind::Continue
                    },
                    t,
                    span,
                )
            }
            ExprKind::Return(v) => {
                let ret = self.fn_stack.last().and_then(|f| f.ret.clone());
                let value = match v {
                    Some(v) => {
                        let tv = self.infer(v);
                        if let Some(r) = &ret {
                            self.expect_ty(
                                r,
                                &tv.ty,
                                v.span,
                                "the returned value does not match the function's return type",
                            );
                        }
                        Some(Box::new(tv))
                    }
                    None => {
                        if let Some(r) = &ret {
                            if let Err(err) = self.unify(r, &Type::unit()) {
                                let d = self.mismatch(
                                    r,
                                    &Type::unit(),
                                    span,
                                    "`return` without a value returns `()`",
                                    err,
                                );
                                self.report(d);
                            }
                        }
                        None
                    }
                };
                if ret.is_none() {
                    self.error(span, "`return` outside of a function");
                }
                let t = self.fresh();
                mk(TExprKind::Return(value), t, span)
            }
            ExprKind::Match(s, arms) => self.match_expr(s, arms, span),
            ExprKind::Run(x) => {
                // Locals bound outside the `#run` do not exist at compile time.
                let saved = self.run_boundary.replace(self.locals.len() as u32);
                let t = self.infer(x);
                self.run_boundary = saved;
                let ty = t.ty.clone();
                mk(TExprKind::Run(Box::new(t)), ty, span)
            }
            ExprKind::Op(name, args) => self.op_expr(name, args, span),
            ExprKind::Foreign(fc) => self.foreign_expr(fc, span),
        }
    }

    pub(super) fn unbound(&mut self, name: &str, span: Span) {
        let cands = self.visible_names();
        let mut d = Diagnostic::error(span, format!("cannot find `{name}` in this scope"))
            .with_label("not found");
        if let Some(s) = self.similar(cands.iter(), name) {
            d = d.with_help(format!("a name with a similar spelling exists: `{s}`"));
        } else if crate::modgraph::implicit_module_names().any(|m| m == name) {
            d = d.with_help(format!(
                "the module `{name}` is used through its members, like `{name}.len`"
            ));
        }
        self.report(d);
    }

    /// Resolves `e` as a static path through modules and types.
    pub(crate) fn path_res(&mut self, e: &ast::Expr) -> PathRes {
        match &e.kind {
            ExprKind::Var(n) => match self.lookup_value(n) {
                Some(r) => {
                    self.take_ambiguity(e.span);
                    PathRes::Res(r)
                }
                None => PathRes::NotPath,
            },
            ExprKind::Field(b, name) => match self.path_res(b) {
                PathRes::Res(Res::Module(m)) => match self.member(m, &name.name, name.span) {
                    Some(r) => PathRes::Res(r),
                    None => PathRes::Error,
                },
                PathRes::Res(Res::BrokenModule) => PathRes::Error,
                PathRes::Res(Res::Type(adt)) => {
                    let d = &self.adts[adt.0 as usize];
                    match d.ctors.iter().position(|c| c.name == name.name) {
                        Some(t) if !d.is_struct => PathRes::Res(Res::Ctor(adt, t as u16)),
                        _ => {
                            let tname = d.name.clone();
                            let ctors: Vec<String> = if d.is_struct {
                                Vec::new()
                            } else {
                                d.ctors
                                    .iter()
                                    .map(|c| format!("`{tname}.{}`", c.name))
                                    .collect()
                            };
                            let mut diag = Diagnostic::error(
                                name.span,
                                format!("`{tname}` has no constructor `{}`", name.name),
                            );
                            if !ctors.is_empty() {
                                diag = diag.with_help(format!(
                                    "its constructors are {}",
                                    ctors.join(", ")
                                ));
                            } else {
                                diag = diag.with_help(format!(
                                    "`{tname}` is a struct: build one with `{tname}(...)`"
                                ));
                            }
                            self.report(diag);
                            PathRes::Error
                        }
                    }
                }
                PathRes::Res(_) | PathRes::NotPath => PathRes::NotPath,
                PathRes::Error => PathRes::Error,
            },
            _ => PathRes::NotPath,
        }
    }

    /// The expression for a resolved name.
    pub(super) fn res_expr(&mut self, r: Res, span: Span, name: &str) -> TExpr {
        match r {
            Res::Local(id) => {
                self.check_run_local(id, span);
                self.use_local(id);
                self.locals[id.0 as usize].read = true;
                let s = self.locals[id.0 as usize].scheme.clone();
                let t = self.instantiate(&s);
                mk(TExprKind::Var(VarRef::Local(id)), t, span)
            }
            Res::Item(m, i) => {
                let it = &self.mods[m.0 as usize].items[i as usize];
                let t = match (&it.scheme, &it.mono) {
                    (Some(s), _) => {
                        let s = s.clone();
                        self.instantiate(&s)
                    }
                    (None, Some(t)) => t.clone(),
                    (None, None) => self.fresh(),
                };
                mk(
                    TExprKind::Var(VarRef::Item(ItemRef {
                        module: m,
                        index: i,
                    })),
                    t,
                    span,
                )
            }
            Res::Module(_) | Res::BrokenModule => {
                if r != Res::BrokenModule {
                    self.report(
                        Diagnostic::error(span, format!("the module `{name}` is not a value"))
                            .with_help(format!("use one of its members, like `{name}.something`")),
                    );
                }
                self.error_expr(span)
            }
            Res::Type(adt) => {
                let d = &self.adts[adt.0 as usize];
                if d.is_struct {
                    self.ctor_value(adt, 0, span)
                } else {
                    let tname = d.name.clone();
                    let first = d.ctors.first().map(|c| c.name.clone()).unwrap_or_default();
                    self.report(
                        Diagnostic::error(span, format!("`{tname}` is a type, not a value"))
                            .with_help(format!(
                                "use one of its constructors, like `{tname}.{first}`"
                            )),
                    );
                    self.error_expr(span)
                }
            }
            Res::Ctor(adt, tag) => self.ctor_value(adt, tag, span),
        }
    }

    pub(super) fn binary(&mut self, op: BinOp, l: &ast::Expr, r: &ast::Expr, span: Span) -> TExpr {
        if matches!(op, BinOp::And | BinOp::Or) {
            let what = format!("the operands of `{}` must be `bool`", op.as_str());
            let a = self.check(l, &Type::bool(), &what);
            let b = self.check(r, &Type::bool(), &what);
            let kind = if op == BinOp::And {
                TExprKind::And(Box::new(a), Box::new(b))
            } else {
                TExprKind::Or(Box::new(a), Box::new(b))
            };
            return mk(kind, Type::bool(), span);
        }
        let a = self.infer(l);
        let b = self.infer(r);
        if let Err(err) = self.unify(&a.ty, &b.ty) {
            let (x, y) = self.show2(&a.ty, &b.ty);
            let mut d = Diagnostic::error(
                span,
                if op.is_comparison() {
                    format!("cannot compare a `{x}` with a `{y}`")
                } else {
                    format!("mismatched types: `{}` needs both operands of one type, found `{x}` and `{y}`", op.as_str())
                },
            )
            .with_label(format!("`{x}` {} `{y}`", op.as_str()));
            let num = |t: &Type| {
                matches!(
                    t,
                    Type::Prim(Prim::I64 | Prim::U64 | Prim::F64 | Prim::IBig | Prim::Ratio)
                )
            };
            let (ra, rb) = (self.resolve(&a.ty), self.resolve(&b.ty));
            if num(&ra) && num(&rb) {
                d = d.with_help(format!(
                    "there are no implicit numeric conversions; convert one side, e.g. `{x}.to_{y}(...)` or `{y}.to_{x}(...)`"
                ));
            } else if let super::unify::UnifyError::Class(..) = err {
            }
            self.report(d);
        } else if let Some(class) = NumClass::of_binop(op) {
            if self.constrain(&a.ty, class).is_err() {
                let shown = self.show(&a.ty);
                self.report(
                    Diagnostic::error(
                        span,
                        format!(
                            "`{}` cannot be applied to values of type `{shown}`",
                            op.as_str()
                        ),
                    )
                    .with_label(format!("expected {}", class.describe())),
                );
            }
        }
        let operand_ty = a.ty.clone();
        let ty = if op.is_comparison() {
            Type::bool()
        } else {
            a.ty.clone()
        };
        mk(
            TExprKind::Binary {
                op,
                operand_ty,
                lhs: Box::new(a),
                rhs: Box::new(b),
            },
            ty,
            span,
        )
    }

    pub(super) fn match_expr(&mut self, s: &ast::Expr, arms: &[ast::Arm], span: Span) -> TExpr {
        let scrut = self.infer(s);
        let result = self.fresh();
        let mut tarms = Vec::new();
        let mut first_body: Option<Span> = None;
        for a in arms {
            let mark = self.scopes.len();
            let pat = self.check_pat_bind(&a.pat, &scrut.ty, false);
            let guard = a
                .guard
                .as_ref()
                .map(|g| self.check(g, &Type::bool(), "a match guard must be a `bool`"));
            let body = self.infer(&a.body);
            if let Err(err) = self.unify(&result, &body.ty) {
                let mut d = self.mismatch(
                    &result,
                    &body.ty,
                    a.body.span,
                    "match arms have incompatible types",
                    err,
                );
                if let Some(f) = first_body {
                    d = d.with_note(Some(f), "the first arm's value is here");
                }
                self.report(d);
            }
            if first_body.is_none() {
                first_body = Some(a.body.span);
            }
            self.scopes.truncate(mark);
            tarms.push(TArm { pat, guard, body });
        }
        mk(
            TExprKind::Match {
                scrutinee: Box::new(scrut),
                arms: tarms,
            },
            result,
            span,
        )
    }

    pub(super) fn op_expr(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span) -> TExpr {
        use hashvm_format::{Op, OperandKind};
        let targs: Vec<TExpr> = args.iter().map(|a| self.infer(a)).collect();
        let t = self.fresh();
        let Some(op) = Op::from_mnemonic(&name.name) else {
            let all: Vec<String> = Op::ALL.iter().map(|o| o.mnemonic().to_string()).collect();
            let mut d =
                Diagnostic::error(name.span, format!("unknown instruction `{}`", name.name));
            if let Some(s) = self.similar(all.iter(), &name.name) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.report(d);
            return mk(TExprKind::Lit(Lit::Unit), t, span);
        };
        let kinds = op.operands();
        let srcs = kinds.iter().filter(|k| **k == OperandKind::Src).count();
        let dsts = kinds.iter().filter(|k| **k == OperandKind::Dst).count();
        let other = kinds
            .iter()
            .find(|k| !matches!(k, OperandKind::Src | OperandKind::Dst));
        if let Some(k) = other {
            self.error(
                name.span,
                format!(
                    "`#op` cannot supply the operands of `{}` (it has a `{}` operand)",
                    name.name,
                    k.name()
                ),
            );
        } else if dsts > 1 || (dsts == 1 && kinds.first() != Some(&OperandKind::Dst)) {
            self.error(
                name.span,
                format!("`#op` cannot be used with `{}`", name.name),
            );
        } else if srcs != targs.len() {
            self.error(
                span,
                format!(
                    "the instruction `{}` takes {} operand(s), but {} were given",
                    name.name,
                    srcs,
                    targs.len()
                ),
            );
        }
        mk(TExprKind::Op { op, args: targs }, t, span)
    }

    /// The body of `#foreign(...)`: each parameter and the result must be a type that
    /// crosses to C (`i64`, `i32` (a C `int`, an `i64` here), `u64`, `f64`, `bool`,
    /// `char`, `str`, `ptr`; `()` as the result only).
    pub(super) fn foreign_expr(&mut self, fc: &ast::ForeignCall, span: Span) -> TExpr {
        use hashvm_format::FfiType;
        let ffi = |c: &mut Self, t: &ast::TypeExpr, result: bool| -> (FfiType, Type) {
            if let ast::TypeExprKind::Named(path, args) = &t.kind {
                if path.len() == 1 && path[0].name == "i32" && args.is_empty() {
                    return (FfiType::I32, Type::i64());
                }
            }
            let ty = c.resolve_type(t, false);
            let f = match c.shallow_ref(&ty) {
                Type::Prim(Prim::I64) => Some(FfiType::I64),
                Type::Prim(Prim::U64) => Some(FfiType::U64),
                Type::Prim(Prim::F64) => Some(FfiType::F64),
                Type::Prim(Prim::Bool) => Some(FfiType::Bool),
                Type::Prim(Prim::Char) => Some(FfiType::Char),
                Type::Prim(Prim::Str) => Some(FfiType::Str),
                Type::Prim(Prim::Ptr) => Some(FfiType::Ptr),
                t if t.is_unit() && result => Some(FfiType::Unit),
                _ => None,
            };
            match f {
                Some(f) => (f, ty),
                None => {
                    c.error(
                        t.span,
                        format!(
                            "a foreign {} cannot have this type: use i64, i32, u64, f64, bool, char, str or ptr{}",
                            if result { "result" } else { "parameter" },
                            if result { ", or () for none" } else { "" }
                        ),
                    );
                    (FfiType::I64, ty)
                }
            }
        };
        let mut params = Vec::new();
        let mut targs = Vec::new();
        for (t, a) in fc.params.iter().zip(&fc.args) {
            let (f, ty) = ffi(self, t, false);
            params.push(f);
            targs.push(self.check(a, &ty, "a foreign argument"));
        }
        let (ret, ret_ty) = ffi(self, &fc.ret, true);
        let limit = |n: usize, max: usize| n > max;
        let floats = params.iter().filter(|p| **p == FfiType::F64).count();
        if limit(params.len() - floats, hashvm_vm::ffi::MAX_INT_PARAMS)
            || limit(floats, hashvm_vm::ffi::MAX_F64_PARAMS)
        {
            self.error(
                span,
                format!(
                    "a foreign function takes at most {} integer-class and {} f64 parameters (they are passed in registers)",
                    hashvm_vm::ffi::MAX_INT_PARAMS,
                    hashvm_vm::ffi::MAX_F64_PARAMS
                ),
            );
        }
        for (what, s) in [("library", &fc.library), ("symbol", &fc.symbol)] {
            if s.is_empty() || s.contains('\0') {
                self.error(
                    span,
                    format!("the {what} name must be non-empty and without NUL"),
                );
            }
        }
        let decl = hashvm_format::Foreign {
            library: fc.library.clone(),
            symbol: fc.symbol.clone(),
            params,
            ret,
        };
        mk(TExprKind::Foreign { decl, args: targs }, ret_ty, span)
    }

    /// A lambda. `expected` (when known) seeds the parameter types.
    pub(crate) fn lambda(
        &mut self,
        l: &ast::Lambda,
        span: Span,
        name: Option<String>,
        self_local: Option<LocalId>,
        expected: Option<&Type>,
    ) -> TExpr {
        let tmark = self.tparams.len();
        for g in &l.generics {
            let v = self.fresh();
            self.tparams.push((g.name.clone(), v));
        }
        let param_tys: Vec<Type> = l
            .params
            .iter()
            .map(|p| match &p.ty {
                Some(t) => self.resolve_type(t, true),
                None => self.fresh(),
            })
            .collect();
        let ret_ty = match &l.ret {
            Some(t) => self.resolve_type(t, true),
            None => self.fresh(),
        };
        if let Some(exp) = expected {
            if let Type::Fn(eps, er) = self.shallow(exp) {
                if eps.len() == param_tys.len() {
                    for (a, b) in param_tys.iter().zip(eps.iter()) {
                        let _ = self.unify(a, b);
                    }
                    let _ = self.unify(&ret_ty, &er);
                }
            }
        }
        self.fn_stack.push(FnCtx {
            captures: Vec::new(),
            ret: Some(ret_ty.clone()),
            loops: Vec::new(),
        });
        let mark = self.scopes.len();
        let mut params = Vec::new();
        for (p, t) in l.params.iter().zip(param_tys.iter()) {
            if p.name.name != "_"
                && l.params
                    .iter()
                    .filter(|q| q.name.name == p.name.name)
                    .count()
                    > 1
            {
                self.error(
                    p.name.span,
                    format!("the parameter `{}` is declared twice", p.name.name),
                );
            }
            let id = self.new_local(&p.name.name, p.name.span, false, t.clone());
            self.bind_local(&p.name.name, id);
            params.push(id);
        }
        let body = self.infer(&l.body);
        if let Err(err) = self.unify(&ret_ty, &body.ty) {
            let what = if l.ret.is_some() {
                "the function's body does not match its declared return type"
            } else {
                "the function's body does not match its return type"
            };
            let d = self.mismatch(&ret_ty, &body.ty, l.body.span, what, err);
            self.report(d);
        }
        self.scopes.truncate(mark);
        let ctx = self.fn_stack.pop();
        self.tparams.truncate(tmark);
        let captures = ctx.map(|c| c.captures).unwrap_or_default();
        let self_local = self_local.filter(|id| captures.contains(id));
        let ty = Type::Fn(param_tys.clone(), Box::new(ret_ty.clone()));
        let lam = TLambda {
            name,
            params,
            body: Box::new(body),
            captures,
            self_local,
            param_tys,
            ret_ty,
            span,
        };
        mk(TExprKind::Lambda(Box::new(lam)), ty, span)
    }

    /// Whether a checked expression may be generalised (a syntactic value).
    pub(crate) fn is_value(&self, e: &TExpr) -> bool {
        match &e.kind {
            TExprKind::Lit(_) | TExprKind::Var(_) | TExprKind::Lambda(_) | TExprKind::CtorFn(_) => {
                true
            }
            TExprKind::Tuple(es) | TExprKind::List(es) => es.iter().all(|e| self.is_value(e)),
            TExprKind::Ctor { ctor, args, .. } => {
                !self.adts[ctor.adt.0 as usize].is_struct && args.iter().all(|e| self.is_value(e))
            }
            _ => false,
        }
    }

    /// Reports a use, inside `#run`, of a local bound outside it.
    pub(crate) fn check_run_local(&mut self, id: LocalId, span: Span) {
        if let Some(b) = self.run_boundary {
            if id.0 < b {
                let name = self.locals[id.0 as usize].name.clone();
                self.report(
                    Diagnostic::error(span, format!("`#run` cannot use the local variable `{name}`"))
                        .with_label("bound outside the `#run` expression")
                        .with_help("`#run` is evaluated while compiling, before any local exists; use top-level items and literals"),
                );
            }
        }
    }
}
