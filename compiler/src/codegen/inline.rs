//! Inlining small functions that cannot fail.
//!
//! A direct call of a top-level function of the same module whose body is small and
//! can neither fault, allocate, call nor loop (pmap's `height`: a `match` returning a
//! field or `0`; awfy_storage's `next_random`: a store into a struct's field and a read
//! of it) is compiled as its body, with the parameters bound to the argument
//! slots. The interpreter then saves the argument window, the `callk`, the frame push
//! and the `ret` (pmap: a fifth of its dispatches).
//!
//! It is invisible: such a body has no fault whose stack trace would miss the callee's
//! frame (no division, indexing, allocation that could run out of memory, `panic`,
//! structural comparison or conversion), no call, and so no deeper recursion. The only
//! difference is one frame less at the moment of the call, which matters only to a
//! program that reaches `--stack-limit` exactly there. The callee stays a function of
//! its own (its value may be used).

use super::func::{s, FnCx, Loc, R};
use crate::span::Span;
use crate::tast::*;
use crate::types::{Prim, Type};
use hashvm_format::Op;

/// Most expression and pattern nodes an inlined body may have.
const MAX_NODES: usize = 40;

impl<'a, 'p> FnCx<'a, 'p> {
    /// The function a call of `callee` with `nargs` arguments may be replaced by
    /// ([module documentation](self)).
    pub(super) fn inline_candidate(&self, callee: &TExpr, nargs: usize) -> Option<&'p TLambda> {
        let TExprKind::Var(VarRef::Item(r)) = &callee.kind else {
            return None;
        };
        if r.module != self.og.module {
            // Its spans would be read against this module's file.
            return None;
        }
        let prog: &'p TypedProgram = self.og.prog;
        let TItemKind::Function { lambda, .. } = &prog.item(*r).kind else {
            return None;
        };
        if lambda.params.len() != nargs || !lambda.captures.is_empty() {
            return None;
        }
        let mut budget = MAX_NODES;
        safe_expr(&lambda.body, &mut budget).then_some(lambda)
    }

    /// Compiles a call of `lambda` (an [`FnCx::inline_candidate`]) as its body: the
    /// arguments evaluated left to right as for a call, the body into `dst` (or
    /// returned, in tail position).
    pub(super) fn inline_call(
        &mut self,
        lambda: &'p TLambda,
        args: &'p [TExpr],
        dst: u16,
        tail: bool,
        span: Span,
    ) -> R<()> {
        let mark = self.next;
        let mut slots = Vec::with_capacity(args.len());
        for (i, x) in args.iter().enumerate() {
            let later: Vec<&'p TExpr> = args[i + 1..].iter().collect();
            slots.push(self.operand(x, &later)?);
        }
        for (&p, &t) in lambda.params.iter().zip(&slots) {
            self.locs.insert(p, Loc::Slot(t));
        }
        if tail {
            self.tail(&lambda.body)?;
        } else if slots.contains(&dst) {
            // The body must not overwrite an argument it may still read.
            let t = self.temp();
            self.expr(&lambda.body, t)?;
            self.fb.op(Op::Mov, [s(dst), s(t)]);
        } else {
            self.expr(&lambda.body, dst)?;
        }
        for p in &lambda.params {
            self.locs.remove(p);
        }
        // The instructions after the call are attributed to the call, as they were.
        self.loc(span);
        self.next = mark;
        Ok(())
    }
}

/// Whether `t` is a primitive whose operators and comparisons are single typed
/// instructions that cannot fault (not `ibig`, `ratio`, `str`: those allocate or call).
fn scalar(t: &Type) -> bool {
    matches!(
        t,
        Type::Prim(Prim::I64 | Prim::U64 | Prim::F64 | Prim::Bool | Prim::Char)
    )
}

/// Whether evaluating `e` can neither fault, allocate, call nor loop, and it has at
/// most `budget` nodes (counted down).
fn safe_expr(e: &TExpr, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match &e.kind {
        TExprKind::Lit(l) => !matches!(l, Lit::IBig(_) | Lit::Str(_)),
        TExprKind::Var(VarRef::Local(_)) => true,
        // A constructor without fields is an immediate value: no allocation.
        TExprKind::Ctor { args, .. } => args.is_empty(),
        TExprKind::Field { base, .. } => safe_expr(base, budget),
        TExprKind::Unary { op, operand } => {
            scalar(&operand.ty)
                && matches!(op, UnOp::Neg | UnOp::Not | UnOp::BitNot)
                && safe_expr(operand, budget)
        }
        TExprKind::Binary {
            op,
            operand_ty,
            lhs,
            rhs,
        } => {
            // Integer division and remainder fault on zero; the rest wrap.
            scalar(operand_ty)
                && !matches!(op, BinOp::Div | BinOp::Rem)
                && safe_expr(lhs, budget)
                && safe_expr(rhs, budget)
        }
        // A store into a struct or tuple field (awfy_storage's `next_random`: `r.seed =
        // ...; r.seed`): `setfield` on a base the checker typed cannot fault, and its
        // write barrier records the object in the remembered set without allocating on
        // the heap. A compound operator is the scalar one `Binary` allows. Stores into
        // locals are not inlined: a parameter is bound to the caller's argument slot,
        // which may be one of the caller's locals.
        TExprKind::Assign {
            place: TPlace::Field { base, .. },
            op,
            operand_ty,
            value,
        } => {
            op.is_none_or(|o| scalar(operand_ty) && !matches!(o, BinOp::Div | BinOp::Rem))
                && safe_expr(base, budget)
                && safe_expr(value, budget)
        }
        TExprKind::And(a, b) | TExprKind::Or(a, b) => safe_expr(a, budget) && safe_expr(b, budget),
        TExprKind::If { cond, then, els } => {
            safe_expr(cond, budget)
                && safe_expr(then, budget)
                && els.as_ref().is_none_or(|x| safe_expr(x, budget))
        }
        TExprKind::Block(b) => {
            b.stmts.iter().all(|s| match s {
                TStmt::Let { pat, value } => safe_pat(pat, budget) && safe_expr(value, budget),
                TStmt::Expr(x) => safe_expr(x, budget),
            }) && b.tail.as_ref().is_none_or(|x| safe_expr(x, budget))
        }
        // Exhaustive (the checker rejects other matches): no `matchfail` is reached.
        TExprKind::Match { scrutinee, arms } => {
            safe_expr(scrutinee, budget)
                && arms.iter().all(|a| {
                    safe_pat(&a.pat, budget)
                        && a.guard.as_ref().is_none_or(|g| safe_expr(g, budget))
                        && safe_expr(&a.body, budget)
                })
        }
        _ => false,
    }
}

/// Whether matching `p` cannot fault (its literal tests are typed compares) and it has
/// at most `budget` nodes (counted down).
fn safe_pat(p: &TPat, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match &p.kind {
        TPatKind::Wild | TPatKind::Bind(_) => true,
        TPatKind::Lit(_) | TPatKind::Range { .. } => scalar(&p.ty),
        TPatKind::Tuple(ps) | TPatKind::Ctor { args: ps, .. } => {
            ps.iter().all(|q| safe_pat(q, budget))
        }
        TPatKind::Or(ps) => ps.iter().all(|q| safe_pat(q, budget)),
    }
}
