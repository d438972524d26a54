//! Statements, irrefutable bindings, `for`/`while`/`loop`, and expressions compiled
//! only for their effect.

use super::func::*;
use crate::tast::*;
use hashvm_format::{Arg, Label, Op, Operand};

impl<'a, 'p> FnCx<'a, 'p> {
    /// Compiles a statement; locals it declares stay allocated until the enclosing
    /// scope ends.
    pub(crate) fn stmt(&mut self, st: &'p TStmt) -> R<()> {
        match st {
            TStmt::Expr(e) => self.effect(e),
            TStmt::Let { pat, value } => {
                if let TPatKind::Bind(l) = pat.kind {
                    let slot = self.declare(l);
                    // The local is not in scope in its own initialiser (except as a
                    // recursive closure's self, handled by the lambda).
                    self.expr_fresh(value, slot)?;
                    self.box_local(l, slot);
                    return Ok(());
                }
                let v = self.temp();
                self.expr_fresh(value, v)?;
                self.bind_irrefutable(pat, v)
            }
        }
    }

    /// Binds the variables of an irrefutable pattern to parts of the value in `v`.
    pub(crate) fn bind_irrefutable(&mut self, pat: &'p TPat, v: u16) -> R<()> {
        match &pat.kind {
            TPatKind::Wild | TPatKind::Lit(_) | TPatKind::Range { .. } => Ok(()),
            TPatKind::Bind(l) => {
                let slot = self.declare(*l);
                self.fb.op(Op::Mov, [s(slot), s(v)]);
                self.box_local(*l, slot);
                Ok(())
            }
            TPatKind::Tuple(ps) | TPatKind::Ctor { args: ps, .. } => {
                for (i, p) in ps.iter().enumerate() {
                    if matches!(p.kind, TPatKind::Wild) {
                        continue;
                    }
                    let t = self.temp();
                    self.fb.op(Op::Field, [s(t), s(v), cnt(i as u16)]);
                    self.bind_irrefutable(p, t)?;
                }
                Ok(())
            }
            TPatKind::Or(alts) => match alts.first() {
                Some(p) => self.bind_irrefutable(p, v),
                None => Ok(()),
            },
        }
    }

    pub(super) fn for_loop(&mut self, pat: &'p TPat, iter: &'p TForIter, body: &'p TExpr) -> R<()> {
        let top = self.fb.new_label();
        let step = self.fb.new_label();
        let exit = self.fb.new_label();
        match iter {
            TForIter::Range {
                start,
                end,
                inclusive,
            } => {
                let i = self.temp();
                self.expr(start, i)?;
                // The end is evaluated once; a local that nothing in the loop
                // assigns is used in place.
                let n = self.operand(end, &[body])?;
                self.fb.bind(top);
                let o = if *inclusive { Op::JGtI64 } else { Op::JGeI64 };
                self.fb.emit(o, [a(s(i)), a(s(n)), Arg::Label(exit)]);
                let mark = self.next;
                // The loop variable is immutable and the counter only changes after
                // the body, so the variable can live in the counter's slot unless a
                // closure captures it.
                let v = match pat.kind {
                    TPatKind::Bind(l) if !self.og.prog.local(l).captured => i,
                    _ => {
                        let v = self.temp();
                        self.fb.op(Op::Mov, [s(v), s(i)]);
                        v
                    }
                };
                self.bind_loop_var(pat, v)?;
                self.loop_body(body, step, exit)?;
                self.next = mark;
                self.fb.bind(step);
                if *inclusive {
                    // Stop before overflowing when the end is i64::MAX.
                    self.fb.emit(Op::JEq, [a(s(i)), a(s(n)), Arg::Label(exit)]);
                }
                self.fb.op(Op::AddIImm, [s(i), s(i), Operand::Imm32(1)]);
                self.fb.emit(Op::Loop, [Arg::Label(top)]);
            }
            TForIter::List(xs) => {
                let cur = self.temp();
                self.expr(xs, cur)?;
                self.fb.bind(top);
                self.fb.emit(Op::JNil, [a(s(cur)), Arg::Label(exit)]);
                let mark = self.next;
                let v = self.temp();
                self.fb.op(Op::Head, [s(v), s(cur)]);
                self.fb.op(Op::Tail, [s(cur), s(cur)]);
                self.bind_loop_var(pat, v)?;
                self.loop_body(body, step, exit)?;
                self.next = mark;
                self.fb.bind(step);
                self.fb.emit(Op::Loop, [Arg::Label(top)]);
            }
            TForIter::Array(arr) => {
                let ar = self.temp();
                self.expr(arr, ar)?;
                let i = self.temp();
                self.fb.op(Op::LoadI, [s(i), Operand::Imm32(0)]);
                let n = self.temp();
                self.fb.bind(top);
                self.fb.op(Op::ALen, [s(n), s(ar)]);
                self.fb
                    .emit(Op::JGeI64, [a(s(i)), a(s(n)), Arg::Label(exit)]);
                let mark = self.next;
                let v = self.temp();
                self.fb.op(Op::AGet, [s(v), s(ar), s(i)]);
                self.bind_loop_var(pat, v)?;
                self.loop_body(body, step, exit)?;
                self.next = mark;
                self.fb.bind(step);
                self.fb.op(Op::AddIImm, [s(i), s(i), Operand::Imm32(1)]);
                self.fb.emit(Op::Loop, [Arg::Label(top)]);
            }
        }
        self.fb.bind(exit);
        Ok(())
    }

    pub(super) fn bind_loop_var(&mut self, pat: &'p TPat, v: u16) -> R<()> {
        if let TPatKind::Bind(l) = pat.kind {
            self.locs.insert(l, Loc::Slot(v));
            self.box_local(l, v);
            return Ok(());
        }
        self.bind_irrefutable(pat, v)
    }

    pub(super) fn loop_body(&mut self, body: &'p TExpr, cont: Label, exit: Label) -> R<()> {
        self.loops.push((cont, exit));
        let r = self.effect(body);
        self.loops.pop();
        r
    }

    /// Compiles `e` for its effects only: a statement, a loop body. Values of type `()`
    /// are never materialised and pure leaves are skipped.
    pub(crate) fn effect(&mut self, e: &'p TExpr) -> R<()> {
        let mark = self.next;
        self.loc(e.span);
        let r = match &e.kind {
            TExprKind::Lit(_) | TExprKind::Var(_) | TExprKind::CtorFn(_) => Ok(()),
            TExprKind::Assign {
                place,
                op,
                operand_ty,
                value,
            } => self.assign(place, *op, operand_ty, value, e.span),
            TExprKind::Block(b) => {
                let mut r = Ok(());
                for st in &b.stmts {
                    r = self.stmt(st);
                    if r.is_err() {
                        break;
                    }
                }
                match (&b.tail, r) {
                    (Some(t), Ok(())) => self.effect(t),
                    (_, r) => r,
                }
            }
            TExprKind::If { cond, then, els } => (|| {
                let l_else = self.fb.new_label();
                self.cond(cond, false, l_else)?;
                self.effect(then)?;
                match els {
                    Some(x) => {
                        let l_end = self.fb.new_label();
                        self.fb.emit(Op::Jmp, [Arg::Label(l_end)]);
                        self.fb.bind(l_else);
                        self.effect(x)?;
                        self.fb.bind(l_end);
                    }
                    None => self.fb.bind(l_else),
                }
                Ok(())
            })(),
            TExprKind::While { .. } | TExprKind::Loop { .. } | TExprKind::For { .. } => {
                self.loop_expr(e)
            }
            _ => {
                let t = self.temp();
                self.expr_fresh(e, t)
            }
        };
        self.next = mark;
        r
    }

    /// A `while`, `loop` or `for`, whose value is always `()`.
    pub(super) fn loop_expr(&mut self, e: &'p TExpr) -> R<()> {
        let (cond, body) = match &e.kind {
            TExprKind::While { cond, body } => (Some(&**cond), body),
            TExprKind::Loop { body } => (None, body),
            TExprKind::For { pat, iter, body } => return self.for_loop(pat, iter, body),
            _ => return Ok(()),
        };
        let top = self.fb.new_label();
        let exit = self.fb.new_label();
        self.fb.bind(top);
        if let Some(c) = cond {
            self.cond(c, false, exit)?;
        }
        self.loop_body(body, top, exit)?;
        self.fb.emit(Op::Loop, [Arg::Label(top)]);
        self.fb.bind(exit);
        Ok(())
    }
}
