//! Inference for expressions, statements and lambdas.

use super::{Checker, Deferred, FnCtx, Res};
use crate::ast::{self, BinOp, ExprKind, UnOp};
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::tast::*;
use crate::types::{AdtId, NumClass, Prim, Type};

/// The result of resolving an expression as a static path (`m.f`, `Shape.Circle`).
pub(crate) enum PathRes {
    /// Not a path to a module member, type or constructor: check it as a value.
    NotPath,
    /// Resolved.
    Res(Res),
    /// An error was reported (or the module is broken).
    Error,
}

fn mk(kind: TExprKind, ty: Type, span: Span) -> TExpr {
    TExpr { kind, ty, span }
}

fn lit_of(l: &ast::Lit) -> (Lit, Type) {
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
    fn error_expr(&mut self, span: Span) -> TExpr {
        let t = self.fresh();
        mk(TExprKind::Lit(Lit::Unit), t, span)
    }

    fn take_ambiguity(&mut self, span: Span) {
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
        }
    }

    fn unbound(&mut self, name: &str, span: Span) {
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
    fn res_expr(&mut self, r: Res, span: Span, name: &str) -> TExpr {
        match r {
            Res::Local(id) => {
                self.check_run_local(id, span);
                self.use_local(id);
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

    /// Fresh type arguments for `adt`, the instantiated field types of constructor
    /// `tag`, and the data type.
    fn inst_ctor(&mut self, adt: AdtId, tag: u16) -> (Vec<Type>, Type) {
        let nparams = self.adts[adt.0 as usize].params.len();
        let args: Vec<Type> = (0..nparams).map(|_| self.fresh()).collect();
        let fields = self.adts[adt.0 as usize].ctor_fields(tag as usize, &args);
        (fields, Type::Adt(adt, args))
    }

    fn ctor_value(&mut self, adt: AdtId, tag: u16, span: Span) -> TExpr {
        let (fields, ty) = self.inst_ctor(adt, tag);
        let ctor = CtorRef { adt, tag };
        if fields.is_empty() {
            mk(
                TExprKind::Ctor {
                    ctor,
                    args: Vec::new(),
                    eval_order: Vec::new(),
                },
                ty,
                span,
            )
        } else {
            mk(
                TExprKind::CtorFn(ctor),
                Type::Fn(fields, Box::new(ty)),
                span,
            )
        }
    }

    fn call(&mut self, callee: &ast::Expr, args: &[ast::Arg], span: Span) -> TExpr {
        if matches!(callee.kind, ExprKind::Var(_) | ExprKind::Field(..)) {
            match self.path_res(callee) {
                PathRes::Res(Res::Ctor(adt, tag)) => {
                    return self.construct(adt, tag, args, span, callee.span)
                }
                PathRes::Res(Res::Type(adt)) if self.adts[adt.0 as usize].is_struct => {
                    return self.construct(adt, 0, args, span, callee.span)
                }
                PathRes::Error => {
                    for a in args {
                        self.infer(&a.value);
                    }
                    return self.error_expr(span);
                }
                _ => {}
            }
        }
        let f = self.infer(callee);
        if let Some(a) = args.iter().find_map(|a| a.name.as_ref()) {
            self.report(
                Diagnostic::error(a.span, "named arguments are only for constructing structs")
                    .with_help("pass the arguments positionally"),
            );
        }
        let fty = self.shallow(&f.ty);
        let (params, ret) = match fty {
            Type::Fn(ps, r) => (ps, *r),
            Type::Var(_) => {
                let ps: Vec<Type> = args.iter().map(|_| self.fresh()).collect();
                let r = self.fresh();
                let ft = Type::Fn(ps.clone(), Box::new(r.clone()));
                let _ = self.unify(&f.ty, &ft);
                (ps, r)
            }
            other => {
                let shown = self.show(&other);
                self.report(
                    Diagnostic::error(
                        callee.span,
                        format!("this is not a function: its type is `{shown}`"),
                    )
                    .with_label("called here"),
                );
                for a in args {
                    self.infer(&a.value);
                }
                return self.error_expr(span);
            }
        };
        if params.len() != args.len() {
            let fname = match &callee.kind {
                ExprKind::Var(n) => format!("`{n}`"),
                ExprKind::Field(_, n) => format!("`{}`", n.name),
                _ => "this function".to_string(),
            };
            let sig = self.show(&f.ty);
            self.report(
                Diagnostic::error(
                    span,
                    format!(
                        "{fname} takes {} argument{} but {} {} supplied",
                        params.len(),
                        if params.len() == 1 { "" } else { "s" },
                        args.len(),
                        if args.len() == 1 { "was" } else { "were" }
                    ),
                )
                .with_label(format!("its type is `{sig}`"))
                .with_help("functions are not curried: pass every argument, or write a closure `(y) => f(x, y)`"),
            );
            let targs: Vec<TExpr> = args.iter().map(|a| self.infer(&a.value)).collect();
            // The result is unknown (not `ret`), so that the mistake does not cascade.
            let t = self.fresh();
            return mk(
                TExprKind::Call {
                    callee: Box::new(f),
                    args: targs,
                },
                t,
                span,
            );
        }
        let mut targs = Vec::new();
        for (a, p) in args.iter().zip(params.iter()) {
            let ta = match &a.value.kind {
                ExprKind::Lambda(l) => {
                    let te = self.lambda(l, a.value.span, None, None, Some(p));
                    self.expect_ty(p, &te.ty, a.value.span, "mismatched types");
                    te
                }
                _ => self.check(&a.value, p, "mismatched types"),
            };
            targs.push(ta);
        }
        mk(
            TExprKind::Call {
                callee: Box::new(f),
                args: targs,
            },
            ret,
            span,
        )
    }

    /// `Ctor(args)` or `Struct(args)` / `Struct(x = .., y = ..)`.
    fn construct(
        &mut self,
        adt: AdtId,
        tag: u16,
        args: &[ast::Arg],
        span: Span,
        callee_span: Span,
    ) -> TExpr {
        let (fields, ty) = self.inst_ctor(adt, tag);
        let decl = &self.adts[adt.0 as usize];
        let cname = if decl.is_struct {
            decl.name.clone()
        } else {
            format!("{}.{}", decl.name, decl.ctors[tag as usize].name)
        };
        let field_names = decl.ctors[tag as usize].field_names.clone();
        let is_struct = decl.is_struct;
        let named = args.iter().filter(|a| a.name.is_some()).count();
        if fields.is_empty() && args.is_empty() {
            self.report(
                Diagnostic::error(span, format!("`{cname}` has no fields"))
                    .with_help(format!("write `{cname}` without parentheses")),
            );
        }
        if named > 0 && (!is_struct || named != args.len()) {
            let msg = if !is_struct {
                "named arguments are only for struct fields; enum constructors take their fields positionally"
            } else {
                "give either all fields by name or all positionally"
            };
            self.error(span, msg);
            for a in args {
                self.infer(&a.value);
            }
            return mk(
                TExprKind::Ctor {
                    ctor: CtorRef { adt, tag },
                    args: Vec::new(),
                    eval_order: Vec::new(),
                },
                ty,
                span,
            );
        }
        let ctor = CtorRef { adt, tag };
        if named == 0 {
            if args.len() != fields.len() {
                self.report(
                    Diagnostic::error(
                        span,
                        format!(
                            "`{cname}` has {} field(s), but {} were given",
                            fields.len(),
                            args.len()
                        ),
                    )
                    .with_note(Some(callee_span), "constructed here"),
                );
                for a in args {
                    self.infer(&a.value);
                }
                return mk(
                    TExprKind::Ctor {
                        ctor,
                        args: Vec::new(),
                        eval_order: Vec::new(),
                    },
                    ty,
                    span,
                );
            }
            let targs: Vec<TExpr> = args
                .iter()
                .zip(fields.iter())
                .map(|(a, f)| self.check(&a.value, f, "mismatched types"))
                .collect();
            let order = (0..targs.len() as u32).collect();
            return mk(
                TExprKind::Ctor {
                    ctor,
                    args: targs,
                    eval_order: order,
                },
                ty,
                span,
            );
        }
        // Named construction: reorder to declaration order.
        let mut slots: Vec<Option<TExpr>> = vec![None; fields.len()];
        let mut order = Vec::new();
        let mut ok = true;
        for a in args {
            let Some(n) = &a.name else { continue };
            match field_names.iter().position(|f| *f == n.name) {
                Some(i) => {
                    let ft = fields.get(i).cloned().unwrap_or_else(|| self.fresh());
                    let te = self.check(&a.value, &ft, "mismatched types");
                    if slots[i].is_some() {
                        self.error(n.span, format!("the field `{}` is given twice", n.name));
                        ok = false;
                    }
                    slots[i] = Some(te);
                    order.push(i as u32);
                }
                None => {
                    let mut d =
                        Diagnostic::error(n.span, format!("`{cname}` has no field `{}`", n.name));
                    if let Some(s) = self.similar(field_names.iter(), &n.name) {
                        d = d.with_help(format!("a field with a similar name exists: `{s}`"));
                    }
                    self.report(d);
                    self.infer(&a.value);
                    ok = false;
                }
            }
        }
        let missing: Vec<String> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| {
                format!(
                    "`{}`",
                    field_names.get(i).map(String::as_str).unwrap_or("?")
                )
            })
            .collect();
        if ok && !missing.is_empty() {
            self.error(
                span,
                format!("missing field(s) {} in `{cname}`", missing.join(", ")),
            );
            ok = false;
        }
        if !ok {
            return mk(
                TExprKind::Ctor {
                    ctor,
                    args: Vec::new(),
                    eval_order: Vec::new(),
                },
                ty,
                span,
            );
        }
        let targs: Vec<TExpr> = slots.into_iter().flatten().collect();
        mk(
            TExprKind::Ctor {
                ctor,
                args: targs,
                eval_order: order,
            },
            ty,
            span,
        )
    }

    /// `base.name` where `base` is a value.
    fn field_access(&mut self, base: TExpr, name: &ast::Ident, span: Span) -> TExpr {
        let slot = self.field_slots.len() as u32;
        self.field_slots.push(None);
        let result = self.fresh();
        let d = Deferred::Field {
            slot,
            base: base.ty.clone(),
            name: name.name.clone(),
            result: result.clone(),
            span: name.span,
        };
        if !self.try_deferred(&d, false) {
            // Unknown type: one struct with that field decides it.
            if !name.name.chars().all(|c| c.is_ascii_digit()) {
                if let Some(adt) = self.unique_struct_with_field(&name.name) {
                    let nparams = self.adts[adt.0 as usize].params.len();
                    let args: Vec<Type> = (0..nparams).map(|_| self.fresh()).collect();
                    let _ = self.unify(&base.ty, &Type::Adt(adt, args));
                }
            }
            if !self.try_deferred(&d, false) {
                self.deferred.push(d);
            }
        }
        mk(
            TExprKind::Field {
                base: Box::new(base),
                index: slot,
                name: name.name.clone(),
            },
            result,
            span,
        )
    }

    fn unique_struct_with_field(&self, name: &str) -> Option<AdtId> {
        let mut found = None;
        for (i, d) in self.adts.iter().enumerate() {
            if d.is_struct
                && d.ctors
                    .first()
                    .map(|c| c.field_names.iter().any(|f| f == name))
                    .unwrap_or(false)
            {
                if found.is_some() {
                    return None;
                }
                found = Some(AdtId(i as u32));
            }
        }
        found
    }

    /// Tries to discharge a deferred constraint; with `last`, reports it if it cannot
    /// be. Returns whether it is done.
    pub(crate) fn try_deferred(&mut self, d: &Deferred, last: bool) -> bool {
        match d {
            Deferred::Field {
                slot,
                base,
                name,
                result,
                span,
            } => {
                let bt = self.shallow(base);
                match bt {
                    Type::Var(_) => {
                        if !last {
                            return false;
                        }
                        if !name.chars().all(|c| c.is_ascii_digit()) {
                            if let Some(adt) = self.unique_struct_with_field(name) {
                                let nparams = self.adts[adt.0 as usize].params.len();
                                let args: Vec<Type> = (0..nparams).map(|_| self.fresh()).collect();
                                let _ = self.unify(base, &Type::Adt(adt, args));
                                return self.try_deferred(d, true);
                            }
                        }
                        self.report(
                            Diagnostic::error(*span, format!("cannot infer the type of the value whose field `{name}` is used"))
                                .with_help("add a type annotation, e.g. on the parameter: `(p: Point) => p.x`"),
                        );
                        true
                    }
                    Type::Adt(adt, args) if self.adts[adt.0 as usize].is_struct => {
                        let decl = &self.adts[adt.0 as usize];
                        match decl.ctors[0].field_names.iter().position(|f| f == name) {
                            Some(i) => {
                                let ft = decl.ctor_fields(0, &args).get(i).cloned();
                                self.field_slots[*slot as usize] = Some(i as u32);
                                if let Some(ft) = ft {
                                    let _ = self.unify(result, &ft);
                                }
                            }
                            None => {
                                let tname = decl.name.clone();
                                let fields = decl.ctors[0].field_names.clone();
                                let mut diag = Diagnostic::error(
                                    *span,
                                    format!("the struct `{tname}` has no field `{name}`"),
                                );
                                diag = match self.similar(fields.iter(), name) {
                                    Some(s) => diag.with_help(format!("did you mean `{s}`?")),
                                    None => diag
                                        .with_help(format!("its fields are {}", fields.join(", "))),
                                };
                                self.report(diag);
                            }
                        }
                        true
                    }
                    Type::Tuple(ts) if name.chars().all(|c| c.is_ascii_digit()) => {
                        match name.parse::<usize>().ok().filter(|&i| i < ts.len()) {
                            Some(i) => {
                                self.field_slots[*slot as usize] = Some(i as u32);
                                let _ = self.unify(result, &ts[i]);
                            }
                            None => {
                                let shown = self.show(&Type::Tuple(ts.clone()));
                                self.error(
                                    *span,
                                    format!("the tuple type `{shown}` has no field `{name}`"),
                                );
                            }
                        }
                        true
                    }
                    other => {
                        let shown = self.show(&other);
                        let what = if name.chars().all(|c| c.is_ascii_digit()) {
                            "tuple field"
                        } else {
                            "field"
                        };
                        self.report(Diagnostic::error(
                            *span,
                            format!("no {what} `{name}` on a value of type `{shown}`"),
                        ));
                        true
                    }
                }
            }
            Deferred::Iter {
                container,
                elem,
                span,
            } => match self.shallow(container) {
                Type::Var(_) => {
                    if !last {
                        return false;
                    }
                    let _ = self.unify(container, &Type::list(elem.clone()));
                    true
                }
                Type::Adt(AdtId::LIST, args) if !args.is_empty() => {
                    let _ = self.unify(elem, &args[0]);
                    true
                }
                Type::Array(t) => {
                    let _ = self.unify(elem, &t);
                    true
                }
                _ => {
                    self.iter_error(container, *span);
                    true
                }
            },
        }
    }

    fn iter_error(&mut self, container: &Type, span: Span) {
        let shown = self.show(container);
        self.report(
            Diagnostic::error(
                span,
                format!("cannot iterate over a value of type `{shown}`"),
            )
            .with_help("a `for` loop runs over a range `a..b` / `a..=b`, a `List` or an `Array`"),
        );
    }

    fn binary(&mut self, op: BinOp, l: &ast::Expr, r: &ast::Expr, span: Span) -> TExpr {
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
        } else if !op.is_comparison() {
            let class = match op {
                BinOp::Add => NumClass::NUM_OR_STR,
                BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => NumClass::NUM,
                _ => NumClass::BITS,
            };
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

    fn assign(
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
                    let t = self.locals[id.0 as usize].scheme.ty.clone();
                    (Some(TPlace::Local(id)), t)
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
                            if let Type::Adt(a, _) = self.shallow(&base.ty) {
                                if !self.adts[a.0 as usize].is_struct {
                                    self.error(target.span, "only struct fields can be assigned");
                                }
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

    fn push_loop(&mut self) {
        if let Some(f) = self.fn_stack.last_mut() {
            f.loops.push(false);
        }
    }

    fn pop_loop(&mut self) -> bool {
        self.fn_stack
            .last_mut()
            .and_then(|f| f.loops.pop())
            .unwrap_or(false)
    }

    fn for_loop(&mut self, p: &ast::Pat, it: &ast::ForIter, b: &ast::Block, span: Span) -> TExpr {
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

    fn match_expr(&mut self, s: &ast::Expr, arms: &[ast::Arm], span: Span) -> TExpr {
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

    fn op_expr(&mut self, name: &ast::Ident, args: &[ast::Expr], span: Span) -> TExpr {
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

    // ----- blocks -------------------------------------------------------------------

    fn block_expr(&mut self, b: &ast::Block) -> TExpr {
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

    fn let_stmt(
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
                self.bind_local(n, id);
                Some(id)
            }
            _ => None,
        };
        let tv = self.check_expr_named(value, &expected, simple.clone(), rec_local);
        self.process_deferred(false);
        let _ = var_start;
        self.level -= 1;
        let generalise = !mutable && self.is_value(&tv);
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
