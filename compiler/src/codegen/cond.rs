//! Conditions: expressions compiled as branches (fused compare-and-jump instructions,
//! short-circuit `&&`/`||`, negation by swapping targets).

use super::func::*;
use crate::tast::*;
use hashvm_format::{Arg, Label, Op, Operand};

impl<'a, 'p> FnCx<'a, 'p> {
    /// Jumps to `target` when `e` evaluates to `when`; falls through otherwise.
    /// Comparisons of numbers become fused compare-and-branch instructions.
    pub(crate) fn cond(&mut self, e: &'p TExpr, when: bool, target: Label) -> R<()> {
        let mark = self.next;
        let r = self.cond_inner(e, when, target);
        self.next = mark;
        r
    }

    pub(super) fn cond_inner(&mut self, e: &'p TExpr, when: bool, target: Label) -> R<()> {
        if let Some(Lit::Bool(b)) = fold(e) {
            if b == when {
                self.fb.emit(Op::Jmp, [Arg::Label(target)]);
            }
            return Ok(());
        }
        match &e.kind {
            TExprKind::Lit(Lit::Bool(b)) => {
                if *b == when {
                    self.fb.emit(Op::Jmp, [Arg::Label(target)]);
                }
                return Ok(());
            }
            TExprKind::Unary {
                op: UnOp::Not,
                operand,
            } => return self.cond(operand, !when, target),
            TExprKind::And(x, y) => {
                if !when {
                    self.cond(x, false, target)?;
                    return self.cond(y, false, target);
                }
                let skip = self.fb.new_label();
                self.cond(x, false, skip)?;
                self.cond(y, true, target)?;
                self.fb.bind(skip);
                return Ok(());
            }
            TExprKind::Or(x, y) => {
                if when {
                    self.cond(x, true, target)?;
                    return self.cond(y, true, target);
                }
                let skip = self.fb.new_label();
                self.cond(x, true, skip)?;
                self.cond(y, false, target)?;
                self.fb.bind(skip);
                return Ok(());
            }
            TExprKind::Binary {
                op,
                operand_ty,
                lhs,
                rhs,
            } if op.is_comparison() => {
                let p = prim(operand_ty);
                // Normalise to "jump if (l OP r)" with OP possibly negated.
                let op = if when { *op } else { negate(*op) };
                match p {
                    Some(Prim::I64) => {
                        if let Some(k) = small_i64(rhs) {
                            let l = self.expr_any(lhs)?;
                            let o = match op {
                                BinOp::Lt => Op::JLtIImm,
                                BinOp::Le => Op::JLeIImm,
                                BinOp::Gt => Op::JGtIImm,
                                BinOp::Ge => Op::JGeIImm,
                                BinOp::Eq => Op::JEqIImm,
                                _ => Op::JNeIImm,
                            };
                            self.fb
                                .emit(o, [a(s(l)), a(Operand::Imm32(k)), Arg::Label(target)]);
                            return Ok(());
                        }
                        let l = self.operand(lhs, &[rhs])?;
                        let r = self.expr_any(rhs)?;
                        let o = match op {
                            BinOp::Lt => Op::JLtI64,
                            BinOp::Le => Op::JLeI64,
                            BinOp::Gt => Op::JGtI64,
                            BinOp::Ge => Op::JGeI64,
                            BinOp::Eq => Op::JEqI64,
                            _ => Op::JNeI64,
                        };
                        self.fb.emit(o, [a(s(l)), a(s(r)), Arg::Label(target)]);
                        return Ok(());
                    }
                    Some(Prim::U64) if !matches!(op, BinOp::Eq | BinOp::Ne) => {
                        let l = self.operand(lhs, &[rhs])?;
                        let r = self.expr_any(rhs)?;
                        let o = match op {
                            BinOp::Lt => Op::JLtU64,
                            BinOp::Le => Op::JLeU64,
                            BinOp::Gt => Op::JGtU64,
                            _ => Op::JGeU64,
                        };
                        self.fb.emit(o, [a(s(l)), a(s(r)), Arg::Label(target)]);
                        return Ok(());
                    }
                    Some(Prim::F64) => {
                        // NaN makes every ordered comparison false, so negations are
                        // the "jump unless" forms, not the opposite comparison.
                        let l = self.operand(lhs, &[rhs])?;
                        let r = self.expr_any(rhs)?;
                        let orig = if when { op } else { negate(op) };
                        let (o, x, y) = match (orig, when) {
                            (BinOp::Lt, true) => (Op::JLtF64, l, r),
                            (BinOp::Le, true) => (Op::JLeF64, l, r),
                            (BinOp::Gt, true) => (Op::JLtF64, r, l),
                            (BinOp::Ge, true) => (Op::JLeF64, r, l),
                            (BinOp::Lt, false) => (Op::JNLtF64, l, r),
                            (BinOp::Le, false) => (Op::JNLeF64, l, r),
                            (BinOp::Gt, false) => (Op::JNLtF64, r, l),
                            (BinOp::Ge, false) => (Op::JNLeF64, r, l),
                            (BinOp::Eq, true) | (BinOp::Ne, false) => (Op::JEqF64, l, r),
                            _ => (Op::JNeF64, l, r),
                        };
                        self.fb.emit(o, [a(s(x)), a(s(y)), Arg::Label(target)]);
                        return Ok(());
                    }
                    Some(Prim::Char) if matches!(op, BinOp::Eq | BinOp::Ne) => {
                        if let TExprKind::Lit(Lit::Char(c)) = rhs.kind {
                            let l = self.expr_any(lhs)?;
                            let o = if op == BinOp::Eq {
                                Op::JEqChar
                            } else {
                                Op::JNeChar
                            };
                            self.fb.emit(
                                o,
                                [a(s(l)), a(Operand::Imm32(c as i32)), Arg::Label(target)],
                            );
                            return Ok(());
                        }
                    }
                    _ => {}
                }
                if matches!(op, BinOp::Eq | BinOp::Ne) {
                    let l = self.operand(lhs, &[rhs])?;
                    let r = self.expr_any(rhs)?;
                    let o = if op == BinOp::Eq { Op::JEq } else { Op::JNe };
                    self.fb.emit(o, [a(s(l)), a(s(r)), Arg::Label(target)]);
                    return Ok(());
                }
            }
            _ => {}
        }
        let t = self.expr_any(e)?;
        let o = if when { Op::Jt } else { Op::Jf };
        self.fb.emit(o, [a(s(t)), Arg::Label(target)]);
        Ok(())
    }
}
