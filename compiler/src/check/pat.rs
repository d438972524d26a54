//! Patterns: resolution of constructor names, types, and the variables they bind.

use super::expr::{lit_to_tast, PathRes};
use super::{Checker, Res};
use crate::ast::{self, PatKind};
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::tast::*;
use crate::types::{AdtId, Prim, Type};

/// Bindings collected while checking one pattern.
struct PatCtx {
    binds: Vec<(String, LocalId)>,
    /// Inside the second and later alternatives of an or-pattern: the bindings of the
    /// first alternative, which must be bound again (same names, same locals).
    reuse: Option<Vec<(String, LocalId)>>,
    mutable: bool,
}

impl Checker<'_> {
    /// A constructor named `name` usable in a pattern, without reporting anything.
    pub(crate) fn lookup_ctor_pattern_quiet(&mut self, name: &str) -> Option<(AdtId, u16)> {
        let saved = self.pending_ambiguity.take();
        let r = match self.lookup_value(name) {
            Some(Res::Ctor(a, t)) => Some((a, t)),
            _ => None,
        };
        self.pending_ambiguity = saved;
        r
    }

    /// Checks a pattern against `expected` and brings its variables into scope.
    pub(crate) fn check_pat_bind(&mut self, p: &ast::Pat, expected: &Type, mutable: bool) -> TPat {
        let mut ctx = PatCtx {
            binds: Vec::new(),
            reuse: None,
            mutable,
        };
        let tp = self.pat(p, expected, &mut ctx);
        for (n, id) in ctx.binds {
            self.bind_local(&n, id);
        }
        tp
    }

    fn bind_name(&mut self, name: &str, span: Span, ty: &Type, ctx: &mut PatCtx) -> TPatKind {
        if ctx.binds.iter().any(|(n, _)| n == name) {
            self.error(
                span,
                format!("`{name}` is bound more than once in this pattern"),
            );
            return TPatKind::Wild;
        }
        if let Some(reuse) = &ctx.reuse {
            return match reuse.iter().find(|(n, _)| n == name) {
                Some(&(_, id)) => {
                    let lt = self.locals[id.0 as usize].scheme.ty.clone();
                    self.expect_ty(
                        &lt,
                        ty,
                        span,
                        "an or-pattern binds this name with different types",
                    );
                    ctx.binds.push((name.to_string(), id));
                    TPatKind::Bind(id)
                }
                None => {
                    self.report(
                        Diagnostic::error(
                            span,
                            format!("`{name}` is not bound in every alternative of the or-pattern"),
                        )
                        .with_help("each alternative of `p | q` must bind the same names"),
                    );
                    TPatKind::Wild
                }
            };
        }
        let id = self.new_local(name, span, ctx.mutable, ty.clone());
        ctx.binds.push((name.to_string(), id));
        TPatKind::Bind(id)
    }

    fn pat(&mut self, p: &ast::Pat, expected: &Type, ctx: &mut PatCtx) -> TPat {
        let span = p.span;
        let kind = match &p.kind {
            PatKind::Error | PatKind::Wild => TPatKind::Wild,
            PatKind::Name(n) => match self.lookup_ctor_pattern_quiet(n) {
                Some((adt, tag)) => {
                    let _ = self.lookup_value(n);
                    if let Some(msg) = self.pending_ambiguity.take() {
                        self.error(span, msg);
                    }
                    self.ctor_pat(adt, tag, None, expected, span, ctx)
                }
                None => self.bind_name(n, span, expected, ctx),
            },
            PatKind::Lit(l) => {
                let (lit, t) = lit_to_tast(l);
                match &lit {
                    Lit::F64(_) => {
                        self.report(
                            Diagnostic::error(span, "`f64` values cannot be matched by a pattern")
                                .with_help("compare with `==` in a guard: `x if x == 1.5 => ...`"),
                        );
                    }
                    Lit::IBig(_) => {
                        self.report(
                            Diagnostic::error(span, "`ibig` values cannot be matched by a pattern")
                                .with_help("compare with `==` in a guard"),
                        );
                    }
                    _ => {
                        self.expect_ty(expected, &t, span, "mismatched types in pattern");
                    }
                }
                match lit {
                    Lit::Unit => TPatKind::Tuple(Vec::new()),
                    l => TPatKind::Lit(l),
                }
            }
            PatKind::Range(lo, hi, inclusive) => self.range_pat(lo, hi, *inclusive, expected, span),
            PatKind::Tuple(ps) => {
                let tys: Vec<Type> = ps.iter().map(|_| self.fresh()).collect();
                self.expect_ty(
                    expected,
                    &Type::Tuple(tys.clone()),
                    span,
                    "mismatched types in pattern",
                );
                TPatKind::Tuple(
                    ps.iter()
                        .zip(tys.iter())
                        .map(|(p, t)| self.pat(p, t, ctx))
                        .collect(),
                )
            }
            PatKind::Ctor(path, args) => match self.pattern_path(path) {
                Some((adt, tag)) => self.ctor_pat(adt, tag, args.as_deref(), expected, span, ctx),
                None => {
                    if let Some(ps) = args {
                        for p in ps {
                            let t = self.fresh();
                            self.pat(p, &t, ctx);
                        }
                    }
                    TPatKind::Wild
                }
            },
            PatKind::List(ps, rest) => {
                let elem = self.fresh();
                let lt = Type::list(elem.clone());
                self.expect_ty(expected, &lt, span, "mismatched types in pattern");
                let heads: Vec<TPat> = ps.iter().map(|p| self.pat(p, &elem, ctx)).collect();
                let mut tail = match rest {
                    None => TPat {
                        kind: TPatKind::Ctor {
                            ctor: CtorRef {
                                adt: AdtId::LIST,
                                tag: 0,
                            },
                            args: Vec::new(),
                        },
                        ty: lt.clone(),
                        span,
                    },
                    Some(None) => TPat {
                        kind: TPatKind::Wild,
                        ty: lt.clone(),
                        span,
                    },
                    Some(Some(r)) => self.pat(r, &lt, ctx),
                };
                for h in heads.into_iter().rev() {
                    let sp = h.span.to(span);
                    tail = TPat {
                        kind: TPatKind::Ctor {
                            ctor: CtorRef {
                                adt: AdtId::LIST,
                                tag: 1,
                            },
                            args: vec![h, tail],
                        },
                        ty: lt.clone(),
                        span: sp,
                    };
                }
                return TPat {
                    kind: tail.kind,
                    ty: expected.clone(),
                    span,
                };
            }
            PatKind::Or(alts) => {
                let start = ctx.binds.len();
                let mut out = Vec::new();
                let mut first_binds: Option<Vec<(String, LocalId)>> = None;
                for (i, a) in alts.iter().enumerate() {
                    if i == 0 {
                        out.push(self.pat(a, expected, ctx));
                        first_binds = Some(ctx.binds[start..].to_vec());
                    } else {
                        let fb = first_binds.clone().unwrap_or_default();
                        let mut sub = PatCtx {
                            binds: Vec::new(),
                            reuse: Some(fb.clone()),
                            mutable: ctx.mutable,
                        };
                        out.push(self.pat(a, expected, &mut sub));
                        for (n, _) in &fb {
                            if !sub.binds.iter().any(|(m, _)| m == n) {
                                self.report(
                                    Diagnostic::error(
                                        a.span,
                                        format!("`{n}` is not bound in this alternative"),
                                    )
                                    .with_help(
                                        "each alternative of `p | q` must bind the same names",
                                    ),
                                );
                            }
                        }
                    }
                }
                TPatKind::Or(out)
            }
        };
        TPat {
            kind,
            ty: expected.clone(),
            span,
        }
    }

    /// Resolves the path of a constructor pattern (`Some`, `Shape.Rect`, `m.T.C`,
    /// `Point`).
    fn pattern_path(&mut self, path: &[ast::Ident]) -> Option<(AdtId, u16)> {
        let last = path.last()?;
        let span = path[0].span.to(last.span);
        // Build the equivalent expression to reuse the path resolver.
        let mut e = ast::Expr {
            kind: ast::ExprKind::Var(path[0].name.clone()),
            span: path[0].span,
        };
        for seg in &path[1..] {
            let sp = e.span.to(seg.span);
            e = ast::Expr {
                kind: ast::ExprKind::Field(Box::new(e), seg.clone()),
                span: sp,
            };
        }
        match self.path_res(&e) {
            PathRes::Res(Res::Ctor(a, t)) => Some((a, t)),
            PathRes::Res(Res::Type(a)) if self.adts[a.0 as usize].is_struct => Some((a, 0)),
            PathRes::Error | PathRes::Res(Res::BrokenModule) => None,
            _ => {
                let shown: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
                self.report(
                    Diagnostic::error(span, format!("`{}` is not a constructor", shown.join(".")))
                        .with_label("expected an enum constructor or a struct name"),
                );
                None
            }
        }
    }

    fn ctor_pat(
        &mut self,
        adt: AdtId,
        tag: u16,
        args: Option<&[ast::Pat]>,
        expected: &Type,
        span: Span,
        ctx: &mut PatCtx,
    ) -> TPatKind {
        let nparams = self.adts[adt.0 as usize].params.len();
        let targs: Vec<Type> = (0..nparams).map(|_| self.fresh()).collect();
        let fields = self.adts[adt.0 as usize].ctor_fields(tag as usize, &targs);
        let ty = Type::Adt(adt, targs);
        self.expect_ty(expected, &ty, span, "mismatched types in pattern");
        let decl = &self.adts[adt.0 as usize];
        let cname = if decl.is_struct {
            decl.name.clone()
        } else {
            format!("{}.{}", decl.name, decl.ctors[tag as usize].name)
        };
        let ctor = CtorRef { adt, tag };
        let given = args.map(|a| a.len()).unwrap_or(0);
        if given != fields.len() {
            let help = if fields.is_empty() {
                format!("write `{cname}` without parentheses")
            } else {
                let us: Vec<&str> = fields.iter().map(|_| "_").collect();
                format!("write `{cname}({})`", us.join(", "))
            };
            self.report(
                Diagnostic::error(
                    span,
                    format!(
                        "`{cname}` has {} field(s), but the pattern has {given}",
                        fields.len()
                    ),
                )
                .with_help(help),
            );
            if let Some(ps) = args {
                for p in ps {
                    let t = self.fresh();
                    self.pat(p, &t, ctx);
                }
            }
            let wild: Vec<TPat> = fields
                .iter()
                .map(|f| TPat {
                    kind: TPatKind::Wild,
                    ty: f.clone(),
                    span,
                })
                .collect();
            return TPatKind::Ctor { ctor, args: wild };
        }
        let ps: Vec<TPat> = match args {
            Some(ps) => ps
                .iter()
                .zip(fields.iter())
                .map(|(p, f)| self.pat(p, f, ctx))
                .collect(),
            None => Vec::new(),
        };
        TPatKind::Ctor { ctor, args: ps }
    }

    fn range_pat(
        &mut self,
        lo: &ast::Lit,
        hi: &ast::Lit,
        inclusive: bool,
        expected: &Type,
        span: Span,
    ) -> TPatKind {
        match (lo, hi) {
            (ast::Lit::I64(a), ast::Lit::I64(b)) => {
                self.expect_ty(
                    expected,
                    &Type::Prim(Prim::I64),
                    span,
                    "mismatched types in pattern",
                );
                let hi = if inclusive {
                    Some(*b)
                } else {
                    b.checked_sub(1)
                };
                match hi {
                    Some(h) if *a <= h => TPatKind::Range {
                        lo: Lit::I64(*a),
                        hi: Lit::I64(h),
                    },
                    _ => {
                        self.error(span, "this range pattern is empty");
                        TPatKind::Wild
                    }
                }
            }
            (ast::Lit::Char(a), ast::Lit::Char(b)) => {
                self.expect_ty(
                    expected,
                    &Type::Prim(Prim::Char),
                    span,
                    "mismatched types in pattern",
                );
                let hi = if inclusive {
                    Some(*b)
                } else {
                    match *b as u32 {
                        0 => None,
                        0xE000 => char::from_u32(0xD7FF),
                        v => char::from_u32(v - 1),
                    }
                };
                match hi {
                    Some(h) if *a <= h => TPatKind::Range {
                        lo: Lit::Char(*a),
                        hi: Lit::Char(h),
                    },
                    _ => {
                        self.error(span, "this range pattern is empty");
                        TPatKind::Wild
                    }
                }
            }
            _ => {
                self.report(
                    Diagnostic::error(span, "range patterns need two `i64` or two `char` literals")
                        .with_help("e.g. `0..10`, `1..=9`, `'a'..='z'`"),
                );
                TPatKind::Wild
            }
        }
    }
}
