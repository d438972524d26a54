//! Binary operators: constant folding, immediate forms, and the one table from
//! `(operator, operand type)` to instruction ([`binop_instr`]).

use super::func::*;
use crate::span::Span;
use crate::tast::*;
use hashvm_format::{Op, Operand};

impl<'a, 'p> FnCx<'a, 'p> {
    pub(super) fn binary(
        &mut self,
        op: BinOp,
        ty: &Type,
        lhs: &'p TExpr,
        rhs: &'p TExpr,
        dst: u16,
        span: Span,
    ) -> R<()> {
        let p = prim(ty);
        // `x + k`, `x - k`, `x * k` with a small i64 literal: immediate forms.
        if p == Some(Prim::I64) && matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul) {
            if let Some(k) = small_i64(rhs) {
                let l = self.expr_any(lhs)?;
                let o = match op {
                    BinOp::Add => Op::AddIImm,
                    BinOp::Sub => Op::SubIImm,
                    _ => Op::MulIImm,
                };
                self.fb.op(o, [s(dst), s(l), Operand::Imm32(k)]);
                return Ok(());
            }
            // `k + x`, `k * x`: the same, operands swapped (a literal has no effects,
            // and wrapping addition and multiplication commute), so `1 + f(x)` is one
            // instruction after the call, not a `loadi` and an `add`.
            if let (Some(k), BinOp::Add | BinOp::Mul) = (small_i64(lhs), op) {
                let r = self.expr_any(rhs)?;
                let o = if op == BinOp::Add {
                    Op::AddIImm
                } else {
                    Op::MulIImm
                };
                self.fb.op(o, [s(dst), s(r), Operand::Imm32(k)]);
                return Ok(());
            }
        }
        if p == Some(Prim::F64) && matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) {
            // A literal operand becomes an immediate (a literal has no effects, so
            // the evaluation order is kept).
            let form = match (f64_lit(lhs), f64_lit(rhs), op) {
                (_, Some(k), BinOp::Add) => Some((Op::AddKF64, lhs, k)),
                (_, Some(k), BinOp::Sub) => Some((Op::SubKF64, lhs, k)),
                (_, Some(k), BinOp::Mul) => Some((Op::MulKF64, lhs, k)),
                (_, Some(k), BinOp::Div) => Some((Op::DivKF64, lhs, k)),
                (Some(k), _, BinOp::Add) => Some((Op::AddKF64, rhs, k)),
                (Some(k), _, BinOp::Mul) => Some((Op::MulKF64, rhs, k)),
                (Some(k), _, BinOp::Sub) => Some((Op::RSubKF64, rhs, k)),
                (Some(k), _, BinOp::Div) => Some((Op::RDivKF64, rhs, k)),
                _ => None,
            };
            if let Some((o, x, k)) = form {
                let v = self.expr_any(x)?;
                self.loc(span);
                self.fb.op(o, [s(dst), s(v), Operand::F64(k.to_bits())]);
                return Ok(());
            }
        }
        let l = self.operand(lhs, &[rhs])?;
        let r = self.expr_any(rhs)?;
        self.loc(span);
        self.binop(op, p, l, r, dst, span)
    }

    /// Emits `dst := l op r` for operands of primitive type `p` (`None`: any type,
    /// structural comparison). A pairing without an instruction is an internal error,
    /// never a silently different instruction ([`binop_instr`]).
    pub(crate) fn binop(
        &mut self,
        op: BinOp,
        p: Option<Prim>,
        l: u16,
        r: u16,
        dst: u16,
        span: Span,
    ) -> R<()> {
        // Comparisons: > and >= swap their operands.
        let (op, l, r) = match op {
            BinOp::Gt => (BinOp::Lt, r, l),
            BinOp::Ge => (BinOp::Le, r, l),
            o => (o, l, r),
        };
        match binop_instr(op, p) {
            Some(o) => {
                self.fb.op(o, [s(dst), s(l), s(r)]);
                Ok(())
            }
            None => self.err(
                span,
                format!(
                    "internal error: no instruction for `{}` on {}",
                    op.as_str(),
                    p.map_or("a non-primitive type", |p| p.name())
                ),
            ),
        }
    }
}

/// The instruction computing `l op r` for operands of primitive type `p`, or `None`
/// where there is none: `>`/`>=` (the emitter swaps them into `<`/`<=`), `&&`/`||`
/// (compiled as branches), and operators the checker rejects for that type. An open or
/// non-primitive type (`p` is `None`) gets the structural comparisons, and i64
/// arithmetic (the checker's default for an unconstrained numeric type). The test
/// `binop_table_covers_the_checker` fails when a pairing the checker accepts is missing.
pub(crate) fn binop_instr(op: BinOp, p: Option<Prim>) -> Option<Op> {
    use BinOp::*;
    let arithmetic = !op.is_comparison() && !matches!(op, And | Or);
    let p = match p {
        None if arithmetic => Some(Prim::I64),
        p => p,
    };
    Some(match (op, p) {
        (Add, Some(Prim::I64)) => Op::AddI64,
        (Sub, Some(Prim::I64)) => Op::SubI64,
        (Mul, Some(Prim::I64)) => Op::MulI64,
        (Div, Some(Prim::I64)) => Op::DivI64,
        (Rem, Some(Prim::I64)) => Op::RemI64,
        (BitAnd, Some(Prim::I64)) => Op::AndI64,
        (BitOr, Some(Prim::I64)) => Op::OrI64,
        (BitXor, Some(Prim::I64)) => Op::XorI64,
        (Shl, Some(Prim::I64)) => Op::ShlI64,
        (Shr, Some(Prim::I64)) => Op::ShrI64,
        (Eq, Some(Prim::I64)) => Op::EqI64,
        (Ne, Some(Prim::I64)) => Op::NeI64,
        (Lt, Some(Prim::I64)) => Op::LtI64,
        (Le, Some(Prim::I64)) => Op::LeI64,
        (Add, Some(Prim::U64)) => Op::AddU64,
        (Sub, Some(Prim::U64)) => Op::SubU64,
        (Mul, Some(Prim::U64)) => Op::MulU64,
        (Div, Some(Prim::U64)) => Op::DivU64,
        (Rem, Some(Prim::U64)) => Op::RemU64,
        (BitAnd, Some(Prim::U64)) => Op::AndU64,
        (BitOr, Some(Prim::U64)) => Op::OrU64,
        (BitXor, Some(Prim::U64)) => Op::XorU64,
        (Shl, Some(Prim::U64)) => Op::ShlU64,
        (Shr, Some(Prim::U64)) => Op::ShrU64,
        (Eq, Some(Prim::U64)) => Op::EqU64,
        (Ne, Some(Prim::U64)) => Op::NeU64,
        (Lt, Some(Prim::U64)) => Op::LtU64,
        (Le, Some(Prim::U64)) => Op::LeU64,
        (Add, Some(Prim::F64)) => Op::AddF64,
        (Sub, Some(Prim::F64)) => Op::SubF64,
        (Mul, Some(Prim::F64)) => Op::MulF64,
        (Div, Some(Prim::F64)) => Op::DivF64,
        (Rem, Some(Prim::F64)) => Op::RemF64,
        (Eq, Some(Prim::F64)) => Op::EqF64,
        (Ne, Some(Prim::F64)) => Op::NeF64,
        (Lt, Some(Prim::F64)) => Op::LtF64,
        (Le, Some(Prim::F64)) => Op::LeF64,
        (Add, Some(Prim::IBig)) => Op::AddBig,
        (Sub, Some(Prim::IBig)) => Op::SubBig,
        (Mul, Some(Prim::IBig)) => Op::MulBig,
        (Div, Some(Prim::IBig)) => Op::DivBig,
        (Rem, Some(Prim::IBig)) => Op::RemBig,
        (Eq, Some(Prim::IBig)) => Op::EqBig,
        (Ne, Some(Prim::IBig)) => Op::NeBig,
        (Lt, Some(Prim::IBig)) => Op::LtBig,
        (Le, Some(Prim::IBig)) => Op::LeBig,
        (Add, Some(Prim::Ratio)) => Op::AddRat,
        (Sub, Some(Prim::Ratio)) => Op::SubRat,
        (Mul, Some(Prim::Ratio)) => Op::MulRat,
        (Div, Some(Prim::Ratio)) => Op::DivRat,
        (Rem, Some(Prim::Ratio)) => Op::RemRat,
        (Eq, Some(Prim::Ratio)) => Op::EqRat,
        (Ne, Some(Prim::Ratio)) => Op::NeRat,
        (Lt, Some(Prim::Ratio)) => Op::LtRat,
        (Le, Some(Prim::Ratio)) => Op::LeRat,
        (Add, Some(Prim::Str)) => Op::SCat,
        (Eq, _) => Op::Eq,
        (Ne, _) => Op::Ne,
        (Lt, _) => Op::Lt,
        (Le, _) => Op::Le,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::NumClass;
    use hashvm_format::OperandKind;

    const PRIMS: [Prim; 8] = [
        Prim::I64,
        Prim::U64,
        Prim::F64,
        Prim::IBig,
        Prim::Ratio,
        Prim::Bool,
        Prim::Char,
        Prim::Str,
    ];

    /// Every operator the checker accepts on a primitive type has an instruction of
    /// the shape `d := a op b`, and none that it rejects pretends to.
    #[test]
    fn binop_table_covers_the_checker() {
        for op in BinOp::ALL {
            for p in PRIMS {
                let accepted = match NumClass::of_binop(op) {
                    Some(class) => class.allows(p),
                    // Comparisons take any type; > and >= are emitted as swapped < and
                    // <=, && and || as branches.
                    None => matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le),
                };
                let instr = binop_instr(op, Some(p));
                assert_eq!(
                    instr.is_some(),
                    accepted,
                    "`{}` on {}: {instr:?}",
                    op.as_str(),
                    p.name()
                );
                if let Some(o) = instr {
                    assert_eq!(
                        o.operands(),
                        [OperandKind::Dst, OperandKind::Src, OperandKind::Src],
                        "{o:?}"
                    );
                }
            }
            // Open types: structural comparison, or the default i64 arithmetic.
            let open = binop_instr(op, None);
            match op {
                BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le => {
                    assert!(matches!(open, Some(Op::Eq | Op::Ne | Op::Lt | Op::Le)))
                }
                BinOp::Gt | BinOp::Ge | BinOp::And | BinOp::Or => assert_eq!(open, None),
                _ => assert_eq!(open, binop_instr(op, Some(Prim::I64))),
            }
        }
    }
}
