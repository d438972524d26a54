//! The final pass of checking: substitutes the solved types into every node, fills in
//! deferred field indices and `for`-loop kinds, and assembles the [`TypedProgram`].

use super::{Checker, ItemKindState};
use crate::tast::*;
use crate::types::Scheme;

pub(super) fn finish(
    c: &mut Checker<'_>,
    main: Option<ItemRef>,
    main_returns_i64: bool,
) -> Option<TypedProgram> {
    let graph = c.graph;
    let mut modules_by_id = Vec::new();
    for pm in &graph.modules {
        let m = pm.id;
        let mut items = Vec::new();
        let mut init_order = Vec::new();
        let nitems = c.mods[m.0 as usize].items.len();
        for i in 0..nitems {
            let st = c.mods[m.0 as usize].items[i].clone();
            let kind = match st.kind {
                ItemKindState::Type(a) => TItemKind::Type(a),
                ItemKindState::Import(crate::modgraph::ImportTarget::Module(t)) => {
                    TItemKind::Import(t)
                }
                ItemKindState::Import(crate::modgraph::ImportTarget::Broken) => return None,
                ItemKindState::Value { is_fn } => {
                    let scheme = match &st.scheme {
                        Some(s) => zonk_scheme(c, s),
                        None => Scheme::mono(Type::unit()),
                    };
                    let mut e = st.texpr.clone()?;
                    zonk_expr(c, &mut e);
                    match (is_fn, e.kind) {
                        (true, TExprKind::Lambda(l)) => TItemKind::Function { lambda: *l, scheme },
                        (_, kind) => {
                            init_order.push(i as u32);
                            TItemKind::Value {
                                expr: TExpr {
                                    kind,
                                    ty: e.ty,
                                    span: e.span,
                                },
                                scheme,
                            }
                        }
                    }
                }
            };
            items.push(TItem {
                name: st.name,
                span: st.span,
                exported: st.exported,
                kind,
            });
        }
        modules_by_id.push(TModule {
            id: m,
            name: pm.name.clone(),
            path: pm.path.clone(),
            file: pm.file,
            kind: pm.kind.clone(),
            items,
            init_order,
            adts: c.mods[m.0 as usize].adts.clone(),
            deps: pm.deps.clone(),
        });
    }
    let locals = (0..c.locals.len())
        .map(|i| {
            let l = &c.locals[i];
            LocalInfo {
                name: l.name.clone(),
                span: l.span,
                mutable: l.mutable,
                captured: l.captured,
                ty: zonk_ty(c, &l.scheme.ty),
            }
        })
        .collect();
    let adts = c.adts.clone();
    Some(TypedProgram {
        sources: c.sources.clone(),
        modules_by_id,
        modules: graph.order.clone(),
        root: graph.root,
        prelude: graph.prelude,
        adts,
        locals,
        main,
        main_returns_i64,
    })
}

fn zonk_scheme(c: &Checker<'_>, s: &Scheme) -> Scheme {
    let ty = zonk_ty(c, &s.ty);
    let mut fv = Vec::new();
    ty.free_vars(&mut fv);
    let vars = s.vars.iter().copied().filter(|v| fv.contains(v)).collect();
    Scheme { vars, ty }
}

fn field_index(c: &Checker<'_>, slot: u32) -> u32 {
    c.field_slots
        .get(slot as usize)
        .copied()
        .flatten()
        .unwrap_or(0)
}

fn zonk_pat(c: &Checker<'_>, p: &mut TPat) {
    p.ty = zonk_ty(c, &p.ty);
    match &mut p.kind {
        TPatKind::Tuple(ps) | TPatKind::Ctor { args: ps, .. } | TPatKind::Or(ps) => {
            ps.iter_mut().for_each(|p| zonk_pat(c, p))
        }
        TPatKind::Wild | TPatKind::Bind(_) | TPatKind::Lit(_) | TPatKind::Range { .. } => {}
    }
}

fn zonk_lambda(c: &Checker<'_>, l: &mut TLambda) {
    for t in l.param_tys.iter_mut() {
        *t = zonk_ty(c, t);
    }
    l.ret_ty = zonk_ty(c, &l.ret_ty);
    zonk_expr(c, &mut l.body);
}

fn zonk_expr(c: &Checker<'_>, e: &mut TExpr) {
    e.ty = zonk_ty(c, &e.ty);
    match &mut e.kind {
        TExprKind::Lit(_)
        | TExprKind::Var(_)
        | TExprKind::CtorFn(_)
        | TExprKind::Break
        | TExprKind::Continue => {}
        TExprKind::Ctor { args, .. }
        | TExprKind::Tuple(args)
        | TExprKind::List(args)
        | TExprKind::Op { args, .. }
        | TExprKind::Foreign { args, .. } => args.iter_mut().for_each(|a| zonk_expr(c, a)),
        TExprKind::Lambda(l) => zonk_lambda(c, l),
        TExprKind::Call { callee, args } => {
            zonk_expr(c, callee);
            args.iter_mut().for_each(|a| zonk_expr(c, a));
        }
        TExprKind::Field { base, index, .. } => {
            zonk_expr(c, base);
            *index = field_index(c, *index);
        }
        TExprKind::Index { base, index } => {
            zonk_expr(c, base);
            zonk_expr(c, index);
        }
        TExprKind::Unary { operand, .. } => zonk_expr(c, operand),
        TExprKind::Binary {
            operand_ty,
            lhs,
            rhs,
            ..
        } => {
            *operand_ty = zonk_ty(c, operand_ty);
            zonk_expr(c, lhs);
            zonk_expr(c, rhs);
        }
        TExprKind::And(a, b) | TExprKind::Or(a, b) => {
            zonk_expr(c, a);
            zonk_expr(c, b);
        }
        TExprKind::Assign {
            place,
            operand_ty,
            value,
            ..
        } => {
            *operand_ty = zonk_ty(c, operand_ty);
            match place {
                TPlace::Local(_) | TPlace::Item(_) => {}
                TPlace::Field { base, index } => {
                    zonk_expr(c, base);
                    *index = field_index(c, *index);
                }
                TPlace::Index { base, index } => {
                    zonk_expr(c, base);
                    zonk_expr(c, index);
                }
            }
            zonk_expr(c, value);
        }
        TExprKind::Block(b) => {
            for s in b.stmts.iter_mut() {
                match s {
                    TStmt::Let { pat, value } => {
                        zonk_pat(c, pat);
                        zonk_expr(c, value);
                    }
                    TStmt::Expr(e) => zonk_expr(c, e),
                }
            }
            if let Some(t) = &mut b.tail {
                zonk_expr(c, t);
            }
        }
        TExprKind::If { cond, then, els } => {
            zonk_expr(c, cond);
            zonk_expr(c, then);
            if let Some(e) = els {
                zonk_expr(c, e);
            }
        }
        TExprKind::While { cond, body } => {
            zonk_expr(c, cond);
            zonk_expr(c, body);
        }
        TExprKind::For { pat, iter, body } => {
            zonk_pat(c, pat);
            match iter {
                TForIter::Range { start, end, .. } => {
                    zonk_expr(c, start);
                    zonk_expr(c, end);
                }
                TForIter::List(x) | TForIter::Array(x) => {
                    zonk_expr(c, x);
                    let is_array = matches!(x.ty, Type::Array(_));
                    let inner = std::mem::replace(
                        x,
                        Box::new(TExpr {
                            kind: TExprKind::Break,
                            ty: Type::unit(),
                            span: x.span,
                        }),
                    );
                    *iter = if is_array {
                        TForIter::Array(inner)
                    } else {
                        TForIter::List(inner)
                    };
                }
            }
            zonk_expr(c, body);
        }
        TExprKind::Loop { body } => zonk_expr(c, body),
        TExprKind::Return(v) => {
            if let Some(v) = v {
                zonk_expr(c, v);
            }
        }
        TExprKind::Match { scrutinee, arms } => {
            zonk_expr(c, scrutinee);
            for a in arms.iter_mut() {
                zonk_pat(c, &mut a.pat);
                if let Some(g) = &mut a.guard {
                    zonk_expr(c, g);
                }
                zonk_expr(c, &mut a.body);
            }
        }
        TExprKind::Run(x) => zonk_expr(c, x),
    }
}

/// `t` with its variables substituted, charged to the program's type budget; once the
/// budget is spent, `()` (checking then fails with "types are too large").
fn zonk_ty(c: &Checker<'_>, t: &Type) -> Type {
    let left = c.zonk_budget.get();
    if left == 0 {
        return Type::unit();
    }
    let parts = c.type_parts_upto(t, left);
    if parts >= left {
        c.zonk_budget.set(0);
        return Type::unit();
    }
    c.zonk_budget.set(left - parts);
    c.resolve(t)
}
