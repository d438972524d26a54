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
                        if p == Some(Prim::I64)
                            && matches!(o, BinOp::Add | BinOp::Sub | BinOp::Mul)
                            && small_i64(value).is_some() =>
                    {
                        let k = small_i64(value).unwrap_or(0);
                        let oo = match o {
                            BinOp::Add => Op::AddIImm,
                            BinOp::Sub => Op::SubIImm,
                            _ => Op::MulIImm,
                        };
                        self.fb.op(oo, [s(t), s(t), Operand::Imm32(k)]);
                    }
                    (Some(o), Loc::Slot(t)) if !may_assign(value) => {
                        let v = self.expr_any(value)?;
                        self.binop(o, p, t, v, t, span)?;
                    }
                    (Some(o), _) => {
                        let cur = self.temp();
                        self.load_local(*l, cur, span)?;
                        let v = self.expr_any(value)?;
                        self.binop(o, p, cur, v, cur, span)?;
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
                        let v = self.expr_any(value)?;
                        self.binop(o, p, cur, v, cur, span)?;
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
                        let v = self.expr_any(value)?;
                        self.binop(o, p, cur, v, cur, span)?;
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
                        let v = self.expr_any(value)?;
                        self.binop(o, p, cur, v, cur, span)?;
                        self.fb.op(Op::ASet, [s(b), s(i), s(cur)]);
                    }
                }
            }
        }
        Ok(())
    }
}
