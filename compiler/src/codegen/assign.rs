//! Assignment and compound assignment to locals, captured variables, struct fields
//! and array elements.

use super::func::*;
use crate::span::Span;
use crate::tast::*;
use hashvm_format::{Op, Operand};

impl<'a, 'p> FnCx<'a, 'p> {
    pub(super) fn assign(
        &mut self,
        place: &'p TPlace,
        op: Option<BinOp>,
        ty: &Type,
        value: &'p TExpr,
        span: Span,
    ) -> R<()> {
        let p = prim(ty);
        match place {
            TPlace::Local(l) => {
                let loc = self.local_loc(*l, span)?;
                match (op, loc) {
                    (None, Loc::Slot(t)) => self.expr(value, t)?,
                    (None, _) => {
                        let v = self.expr_any(value)?;
                        self.store_local(*l, v, span)?;
                    }
                    (Some(o), Loc::Slot(t))
                        if !may_assign(value) || Self::immediate(o, p, value).is_some() =>
                    {
                        self.update(o, p, t, value, span)?;
                    }
                    (Some(o), _) => {
                        let cur = self.temp();
                        self.load_local(*l, cur, span)?;
                        self.update(o, p, cur, value, span)?;
                        self.store_local(*l, cur, span)?;
                    }
                }
            }
            TPlace::Item(r) => {
                let g = self.og.item_global(*r);
                match op {
                    None => {
                        let v = self.expr_any(value)?;
                        self.fb.op(Op::StoreG, [Operand::Global(g), s(v)]);
                    }
                    Some(o) => {
                        let cur = self.temp();
                        self.fb.op(Op::LoadG, [s(cur), Operand::Global(g)]);
                        self.update(o, p, cur, value, span)?;
                        self.fb.op(Op::StoreG, [Operand::Global(g), s(cur)]);
                    }
                }
            }
            TPlace::Field { base, index } => {
                let b = self.operand(base, &[value])?;
                let i = cnt(*index as u16);
                match op {
                    None => {
                        let v = self.expr_any(value)?;
                        self.fb.op(Op::SetField, [s(b), i, s(v)]);
                    }
                    Some(o) => {
                        let cur = self.temp();
                        self.fb.op(Op::Field, [s(cur), s(b), i.clone()]);
                        self.update(o, p, cur, value, span)?;
                        self.fb.op(Op::SetField, [s(b), i, s(cur)]);
                    }
                }
            }
            TPlace::Index { base, index } => {
                let b = self.operand(base, &[index, value])?;
                let i = self.operand(index, &[value])?;
                match op {
                    None => {
                        let v = self.expr_any(value)?;
                        self.fb.op(Op::ASet, [s(b), s(i), s(v)]);
                    }
                    Some(o) => {
                        let cur = self.temp();
                        self.fb.op(Op::AGet, [s(cur), s(b), s(i)]);
                        self.update(o, p, cur, value, span)?;
                        self.fb.op(Op::ASet, [s(b), s(i), s(cur)]);
                    }
                }
            }
        }
        Ok(())
    }

    /// The immediate instruction for `cur op= value`, when `value` is a small i64
    /// literal and `op` is `+`, `-` or `*` on i64.
    fn immediate(op: BinOp, p: Option<Prim>, value: &TExpr) -> Option<(Op, i32)> {
        let k = small_i64(value)?;
        let o = match (op, p) {
            (BinOp::Add, Some(Prim::I64)) => Op::AddIImm,
            (BinOp::Sub, Some(Prim::I64)) => Op::SubIImm,
            (BinOp::Mul, Some(Prim::I64)) => Op::MulIImm,
            _ => return None,
        };
        Some((o, k))
    }

    /// `cur := cur op value` for a compound assignment: one immediate instruction for
    /// `+= k`, `-= k`, `*= k` (a field or element update `s.count += 1` is then a
    /// `field`, an `addi` and a `setfield`), else the value into a temporary and the
    /// operator's instruction.
    fn update(
        &mut self,
        op: BinOp,
        p: Option<Prim>,
        cur: u16,
        value: &'p TExpr,
        span: Span,
    ) -> R<()> {
        if let Some((o, k)) = Self::immediate(op, p, value) {
            self.fb.op(o, [s(cur), s(cur), Operand::Imm32(k)]);
            return Ok(());
        }
        let v = self.expr_any(value)?;
        self.binop(op, p, cur, v, cur, span)
    }
}
