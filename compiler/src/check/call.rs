//! Calls, constructors and field access: checking arguments against a function's or
//! constructor's parameters (named and positional), struct construction, and the
//! deferred checks that wait for a type to be known.

use super::expr::*;
use super::{Checker, Deferred, Res};
use crate::ast::{self, ExprKind};
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::tast::*;
use crate::types::{AdtId, Type};

impl Checker<'_> {
    /// Fresh type arguments for `adt`, the instantiated field types of constructor
    /// `tag`, and the data type.
    pub(super) fn inst_ctor(&mut self, adt: AdtId, tag: u16) -> (Vec<Type>, Type) {
        let nparams = self.adts[adt.0 as usize].params.len();
        let args: Vec<Type> = (0..nparams).map(|_| self.fresh()).collect();
        let fields = self.adts[adt.0 as usize].ctor_fields(tag as usize, &args);
        (fields, Type::Adt(adt, args))
    }

    pub(super) fn ctor_value(&mut self, adt: AdtId, tag: u16, span: Span) -> TExpr {
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

    pub(super) fn call(&mut self, callee: &ast::Expr, args: &[ast::Arg], span: Span) -> TExpr {
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
    pub(super) fn construct(
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
    pub(super) fn field_access(&mut self, base: TExpr, name: &ast::Ident, span: Span) -> TExpr {
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

    pub(super) fn unique_struct_with_field(&self, name: &str) -> Option<AdtId> {
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
                        // In a file with a syntax error the value is most likely one
                        // whose expression did not parse: an echo, not news.
                        if !self.has_syntax_errors(span.file) {
                            self.report(
                                Diagnostic::error(*span, format!("cannot infer the type of the value whose field `{name}` is used"))
                                    .with_help("add a type annotation, e.g. on the parameter: `(p: Point) => p.x`"),
                            );
                        }
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
}
