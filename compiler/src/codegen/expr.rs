//! Expressions: values into slots or tail position, literals, constructors, closures,
//! calls (tail calls included) and `#op` primitives.

use super::func::*;
use crate::span::Span;
use crate::tast::*;
use hashvm_format::{Arg, Op, Operand};

impl<'a, 'p> FnCx<'a, 'p> {
    /// Compiles `e` and returns a slot holding its value: the local's own slot for an
    /// immutable local, else a fresh temporary.
    pub(crate) fn expr_any(&mut self, e: &'p TExpr) -> R<u16> {
        self.operand(e, &[])
    }

    /// Compiles an operand whose value must survive the evaluation of `later`
    /// operands: a local in a slot is used in place unless it is `mut` and one of the
    /// later operands may assign to something (only an assignment can change a local
    /// that lives in a slot: closures see captured `mut` locals through cells).
    pub(crate) fn operand(&mut self, e: &'p TExpr, later: &[&'p TExpr]) -> R<u16> {
        if let TExprKind::Var(VarRef::Local(l)) = &e.kind {
            if let Some(Loc::Slot(t)) = self.locs.get(l) {
                if !self.og.prog.local(*l).mutable || !later.iter().any(|x| may_assign(x)) {
                    return Ok(*t);
                }
            }
        }
        let t = self.temp();
        self.expr_fresh(e, t)?;
        Ok(t)
    }

    /// Compiles `e` into `dst`, a slot whose old value is dead (a fresh temporary, an
    /// argument slot, a local being declared): nothing reads it before `e` writes it.
    /// A call then puts its window at `dst` when `dst` is the top slot (see
    /// [`FnCx::call`]), so that the dead value is overwritten before the callee runs.
    pub(crate) fn expr_fresh(&mut self, e: &'p TExpr, dst: u16) -> R<()> {
        match &e.kind {
            TExprKind::Call { callee, args } => {
                let mark = self.next;
                self.loc(e.span);
                let r = self.call(callee, args, dst, false, true, e.span);
                self.next = mark;
                r
            }
            _ => self.expr(e, dst),
        }
    }

    pub(crate) fn expr_dest(&mut self, e: &'p TExpr, d: Dest) -> R<()> {
        match d {
            Dest::Slot(t) => self.expr(e, t),
            Dest::Tail => self.tail(e),
        }
    }

    /// Compiles `e` in tail position: its value is returned, calls become tail calls.
    pub(crate) fn tail(&mut self, e: &'p TExpr) -> R<()> {
        match &e.kind {
            TExprKind::Call { callee, args } => {
                self.loc(e.span);
                let t = self.next;
                self.call(callee, args, t, true, false, e.span)
            }
            TExprKind::If { cond, then, els } => {
                self.loc(e.span);
                let l_else = self.fb.new_label();
                self.cond(cond, false, l_else)?;
                self.tail(then)?;
                self.fb.bind(l_else);
                match els {
                    Some(x) => self.tail(x),
                    None => {
                        self.fb.op(Op::RetU, []);
                        Ok(())
                    }
                }
            }
            TExprKind::Block(b) => {
                let mark = self.next;
                for st in &b.stmts {
                    self.stmt(st)?;
                }
                match &b.tail {
                    Some(t) => self.tail(t)?,
                    None => self.fb.op(Op::RetU, []),
                }
                self.next = mark;
                Ok(())
            }
            TExprKind::Match { scrutinee, arms } => {
                self.loc(e.span);
                self.compile_match(scrutinee, arms, Dest::Tail, e.span)
            }
            TExprKind::Return(v) => match v {
                Some(v) => self.tail(v),
                None => {
                    self.fb.op(Op::RetU, []);
                    Ok(())
                }
            },
            TExprKind::And(x, y) | TExprKind::Or(x, y) => {
                // The right operand is in tail position: `p(x) && rec(rest)` loops.
                let is_and = matches!(e.kind, TExprKind::And(..));
                let short = self.fb.new_label();
                self.cond(x, !is_and, short)?;
                self.tail(y)?;
                self.fb.bind(short);
                let t = self.temp();
                self.fb
                    .op(if is_and { Op::LoadFalse } else { Op::LoadTrue }, [s(t)]);
                self.fb.op(Op::Ret, [s(t)]);
                Ok(())
            }
            _ => {
                let mark = self.next;
                let t = self.expr_any(e)?;
                self.fb.op(Op::Ret, [s(t)]);
                self.next = mark;
                Ok(())
            }
        }
    }

    /// Compiles `e` with its value left in `dst`.
    pub(crate) fn expr(&mut self, e: &'p TExpr, dst: u16) -> R<()> {
        let mark = self.next;
        self.loc(e.span);
        let r = self.expr_inner(e, dst);
        self.next = mark;
        r
    }

    pub(super) fn expr_inner(&mut self, e: &'p TExpr, dst: u16) -> R<()> {
        match &e.kind {
            TExprKind::Lit(l) => self.lit(l, dst),
            TExprKind::Var(VarRef::Local(l)) => self.load_local(*l, dst, e.span)?,
            TExprKind::Var(VarRef::Item(r)) => {
                if r.module == self.og.module {
                    if let Some(&f) = self.og.item_funcs.get(&r.index) {
                        self.fb.op(Op::LoadFn, [s(dst), Operand::Func(f)]);
                        return Ok(());
                    }
                }
                let g = self.og.item_global(*r);
                self.fb.op(Op::LoadG, [s(dst), Operand::Global(g)]);
            }
            TExprKind::Ctor {
                ctor,
                args,
                eval_order,
            } => self.ctor(*ctor, args, eval_order, dst)?,
            TExprKind::CtorFn(c) => {
                let f = self.og.ctor_fn(*c);
                self.fb.op(Op::LoadFn, [s(dst), Operand::Func(f)]);
            }
            TExprKind::Tuple(es) => {
                let base = match self.window_in_place(es) {
                    Some(b) => b,
                    None => {
                        let base = self.window(es.len());
                        for (i, x) in es.iter().enumerate() {
                            self.expr_fresh(x, base + i as u16)?;
                        }
                        base
                    }
                };
                self.fb
                    .op(Op::Tuple, [s(dst), s(base), cnt(es.len() as u16)]);
            }
            TExprKind::List(es) if es.len() > LIST_WINDOW => {
                // A long literal is built without a slot per element (a frame has at
                // most 65 535 slots): elements are evaluated left to right, each consed
                // onto a reversed accumulator, and the result reversed once.
                let acc = self.temp();
                self.fb.op(Op::LoadNil, [s(acc)]);
                let t = self.temp();
                for x in es {
                    self.expr(x, t)?;
                    self.fb.op(Op::Cons, [s(acc), s(t), s(acc)]);
                }
                self.fb.op(Op::ListRev, [s(dst), s(acc)]);
            }
            TExprKind::List(es) => {
                let base = self.window(es.len());
                for (i, x) in es.iter().enumerate() {
                    self.expr_fresh(x, base + i as u16)?;
                }
                let acc = self.temp();
                self.fb.op(Op::LoadNil, [s(acc)]);
                for i in (0..es.len()).rev() {
                    self.fb.op(Op::Cons, [s(acc), s(base + i as u16), s(acc)]);
                }
                self.fb.op(Op::Mov, [s(dst), s(acc)]);
            }
            TExprKind::Lambda(l) => self.lambda(l, dst)?,
            TExprKind::Call { callee, args } => {
                self.call(callee, args, dst, false, false, e.span)?
            }
            TExprKind::Field { base, index, .. } => {
                let b = self.expr_any(base)?;
                self.fb.op(Op::Field, [s(dst), s(b), cnt(*index as u16)]);
            }
            TExprKind::Index { base, index } => {
                let b = self.operand(base, &[index])?;
                let i = self.expr_any(index)?;
                self.fb.op(Op::AGet, [s(dst), s(b), s(i)]);
            }
            TExprKind::Unary { .. } | TExprKind::Binary { .. } if fold(e).is_some() => {
                if let Some(l) = fold(e) {
                    self.lit(&l, dst);
                }
            }
            TExprKind::Unary { op, operand } => {
                let v = self.expr_any(operand)?;
                let o = match (op, prim(&operand.ty)) {
                    (UnOp::Not, _) => Op::Not,
                    (UnOp::Neg, Some(Prim::I64)) => Op::NegI64,
                    (UnOp::Neg, Some(Prim::U64)) => Op::NegU64,
                    (UnOp::Neg, Some(Prim::F64)) => Op::NegF64,
                    (UnOp::Neg, Some(Prim::IBig)) => Op::NegBig,
                    (UnOp::Neg, Some(Prim::Ratio)) => Op::NegRat,
                    (UnOp::BitNot, Some(Prim::U64)) => Op::BNotU64,
                    (UnOp::BitNot, _) => Op::BNotI64,
                    (UnOp::Neg, _) => Op::NegI64,
                };
                self.fb.op(o, [s(dst), s(v)]);
            }
            TExprKind::Binary {
                op,
                operand_ty,
                lhs,
                rhs,
            } => self.binary(*op, operand_ty, lhs, rhs, dst, e.span)?,
            TExprKind::And(x, y) | TExprKind::Or(x, y) => {
                // `x && y`: if x is false the value is false, else it is y's (so x is
                // a condition and can use a fused compare-and-branch).
                let is_and = matches!(e.kind, TExprKind::And(..));
                let short = self.fb.new_label();
                let end = self.fb.new_label();
                self.cond(x, !is_and, short)?;
                self.expr(y, dst)?;
                self.fb.emit(Op::Jmp, [Arg::Label(end)]);
                self.fb.bind(short);
                self.fb
                    .op(if is_and { Op::LoadFalse } else { Op::LoadTrue }, [s(dst)]);
                self.fb.bind(end);
            }
            TExprKind::Assign {
                place,
                op,
                operand_ty,
                value,
            } => {
                self.assign(place, *op, operand_ty, value, e.span)?;
                self.fb.op(Op::LoadUnit, [s(dst)]);
            }
            TExprKind::Block(b) => {
                for st in &b.stmts {
                    self.stmt(st)?;
                }
                match &b.tail {
                    Some(t) => self.expr(t, dst)?,
                    None => self.fb.op(Op::LoadUnit, [s(dst)]),
                }
            }
            TExprKind::If { cond, then, els } => {
                let l_else = self.fb.new_label();
                let l_end = self.fb.new_label();
                self.cond(cond, false, l_else)?;
                self.expr(then, dst)?;
                self.fb.emit(Op::Jmp, [Arg::Label(l_end)]);
                self.fb.bind(l_else);
                match els {
                    Some(x) => self.expr(x, dst)?,
                    None => self.fb.op(Op::LoadUnit, [s(dst)]),
                }
                self.fb.bind(l_end);
            }
            TExprKind::While { .. } | TExprKind::Loop { .. } | TExprKind::For { .. } => {
                self.loop_expr(e)?;
                self.fb.op(Op::LoadUnit, [s(dst)]);
            }
            TExprKind::Break | TExprKind::Continue => {
                let Some(&(cont, brk)) = self.loops.last() else {
                    return self.err(e.span, "`break` or `continue` outside a loop");
                };
                let target = if matches!(e.kind, TExprKind::Break) {
                    brk
                } else {
                    cont
                };
                self.fb.emit(Op::Jmp, [Arg::Label(target)]);
            }
            TExprKind::Return(v) => match v {
                Some(v) => self.tail(v)?,
                None => self.fb.op(Op::RetU, []),
            },
            TExprKind::Match { scrutinee, arms } => {
                self.compile_match(scrutinee, arms, Dest::Slot(dst), e.span)?
            }
            TExprKind::Run(inner) => self.run_site(inner, e.span, dst, None)?,
            TExprKind::Op { op, args } => self.prim_op(*op, args, dst, e.span)?,
            TExprKind::Foreign { decl, args } => self.foreign_call(decl, args, dst, e.span)?,
        }
        Ok(())
    }

    pub(super) fn lit(&mut self, l: &Lit, dst: u16) {
        match l {
            Lit::I64(v) => match i32::try_from(*v) {
                Ok(x) => self.fb.op(Op::LoadI, [s(dst), Operand::Imm32(x)]),
                Err(_) => self.fb.op(Op::LoadI64, [s(dst), Operand::Imm64(*v)]),
            },
            Lit::U64(v) => self.fb.op(Op::LoadU64, [s(dst), Operand::Imm64(*v as i64)]),
            Lit::F64(v) => self.fb.op(Op::LoadF, [s(dst), Operand::F64(v.to_bits())]),
            Lit::IBig(v) => {
                let g = self.og.big(v);
                self.fb.op(Op::LoadG, [s(dst), Operand::Global(g)]);
            }
            Lit::Bool(true) => self.fb.op(Op::LoadTrue, [s(dst)]),
            Lit::Bool(false) => self.fb.op(Op::LoadFalse, [s(dst)]),
            Lit::Char(c) => self
                .fb
                .op(Op::LoadChar, [s(dst), Operand::Imm32(*c as i32)]),
            Lit::Str(t) => {
                let g = self.og.string(t);
                self.fb.op(Op::LoadG, [s(dst), Operand::Global(g)]);
            }
            Lit::Unit => self.fb.op(Op::LoadUnit, [s(dst)]),
        }
    }

    /// The first of `slots` when they are consecutive slots (`t, t + 1, ...`): a
    /// window that is already in place.
    fn run_of(slots: impl IntoIterator<Item = Option<u16>>) -> Option<u16> {
        let mut first = None;
        for (i, t) in slots.into_iter().enumerate() {
            let t = t?;
            match first {
                None => first = Some(t),
                Some(f) if u32::from(f) + i as u32 == u32::from(t) => {}
                Some(_) => return None,
            }
        }
        first
    }

    /// The slot an expression that is just an unboxed local in a slot reads.
    fn local_in_slot(&self, e: &TExpr) -> Option<u16> {
        match &e.kind {
            TExprKind::Var(VarRef::Local(l)) => match self.locs.get(l) {
                Some(Loc::Slot(t)) => Some(*t),
                _ => None,
            },
            _ => None,
        }
    }

    /// The window of a constructor, tuple or closure whose values are locals already
    /// in consecutive slots (`Node(left, right)` after `left := ...; right := ...`):
    /// those slots themselves, as these instructions only read their window.
    fn window_in_place(&self, es: &[TExpr]) -> Option<u16> {
        if es.is_empty() {
            return None;
        }
        Self::run_of(es.iter().map(|e| self.local_in_slot(e)))
    }

    pub(super) fn ctor(&mut self, c: CtorRef, args: &'p [TExpr], order: &[u32], dst: u16) -> R<()> {
        // A constant application is one shared constant, built once by the loader.
        if let Some(g) = self.og.shared_ctor(c, args) {
            self.fb.op(Op::LoadG, [s(dst), Operand::Global(g)]);
            return Ok(());
        }
        let n = args.len() as u16;
        let base = match self.window_in_place(args) {
            Some(b) => b,
            None => {
                let base = self.window(args.len());
                let order: Vec<usize> = if order.len() == args.len() {
                    order.iter().map(|&i| i as usize).collect()
                } else {
                    (0..args.len()).collect()
                };
                for i in order {
                    self.expr_fresh(&args[i], base + i as u16)?;
                }
                base
            }
        };
        if c.adt == AdtId::LIST {
            if c.tag == 0 {
                self.fb.op(Op::LoadNil, [s(dst)]);
            } else {
                self.fb.op(Op::Cons, [s(dst), s(base), s(base + 1)]);
            }
            return Ok(());
        }
        let ty = self.og.type_id(c.adt);
        self.fb.op(
            Op::Con,
            [s(dst), Operand::Type(ty), cnt(c.tag), s(base), cnt(n)],
        );
        Ok(())
    }

    pub(super) fn lambda(&mut self, l: &'p TLambda, dst: u16) -> R<()> {
        let f = self
            .og
            .mb
            .declare_function(l.name.clone().unwrap_or_else(|| "<lambda>".into()));
        self.og.pending.push((f, l));
        if l.captures.is_empty() {
            self.fb.op(Op::LoadFn, [s(dst), Operand::Func(f)]);
            return Ok(());
        }
        let n = l.captures.len() as u16;
        // Captured values already in consecutive slots (a local or a cell) are the
        // window as they are.
        let in_place = Self::run_of(l.captures.iter().map(|&c| {
            if Some(c) == l.self_local {
                return None;
            }
            match self.locs.get(&c) {
                Some(Loc::Slot(t)) | Some(Loc::Boxed(t)) => Some(*t),
                _ => None,
            }
        }));
        let base = match in_place {
            Some(b) => b,
            None => {
                let base = self.window(l.captures.len());
                for (j, &c) in l.captures.iter().enumerate() {
                    if Some(c) == l.self_local {
                        self.fb.op(Op::LoadUnit, [s(base + j as u16)]);
                    } else {
                        self.capture_value(c, base + j as u16, l.span)?;
                    }
                }
                base
            }
        };
        self.fb
            .op(Op::Closure, [s(dst), Operand::Func(f), s(base), cnt(n)]);
        Ok(())
    }

    /// Compiles a call; in tail position it becomes a tail call (and `dst` is unused).
    ///
    /// `fresh`: `dst`'s old value is dead and no argument reads it ([`FnCx::expr_fresh`]).
    /// When `dst` is then also the top slot, the call overwrites it before the callee
    /// runs: a known callee's window starts at `dst` (`callk r3, F, r3, 1`), a function
    /// value is computed into `dst` itself (`call r3, r3, r4, 1`). Otherwise a dead
    /// pointer left in `dst` (say the previous iteration's result, or the argument of an
    /// earlier call) would keep its whole structure alive for as long as the callee
    /// runs: the collector scans every slot of every frame (SPEC.md §1.4). This costs no
    /// instruction and saves a slot.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call(
        &mut self,
        callee: &'p TExpr,
        args: &'p [TExpr],
        dst: u16,
        tail: bool,
        fresh: bool,
        span: Span,
    ) -> R<()> {
        // `dst` is the top slot, dead until the call writes it: it can be reused.
        let reuse_dst = fresh && !tail && dst.checked_add(1) == Some(self.next);
        let mark = self.next;
        let n = args.len() as u16;
        enum Target {
            Known(u32),
            SelfCall,
            Value(u16),
        }
        // A call of a function whose whole body is one instruction on its parameters
        // (the standard library's wrappers over VM primitives) is that instruction.
        // A call of a `#foreign` function item is its `ffi.call`, without the wrapper's
        // frame.
        if let Some(decl) = self.foreign_wrapper(callee, args.len()) {
            let out = if tail { self.temp() } else { dst };
            self.foreign_call(&decl, args, out, span)?;
            if tail {
                self.fb.op(Op::Ret, [s(out)]);
            }
            self.next = mark;
            return Ok(());
        }
        if let Some(op) = self.prim_wrapper(callee, args.len()) {
            self.loc(span);
            let out = if tail { self.temp() } else { dst };
            self.prim_op(op, args, out, span)?;
            if tail && !op.is_terminator() {
                self.fb.op(Op::Ret, [s(out)]);
            }
            self.next = mark;
            return Ok(());
        }
        if let Some(lambda) = self.inline_candidate(callee, args.len()) {
            return self.inline_call(lambda, args, dst, tail, span);
        }
        let target = match &callee.kind {
            TExprKind::Var(VarRef::Item(r))
                if r.module == self.og.module && self.og.item_funcs.contains_key(&r.index) =>
            {
                Target::Known(self.og.item_funcs[&r.index])
            }
            TExprKind::Var(VarRef::Local(l)) if matches!(self.locs.get(l), Some(Loc::SelfFn)) => {
                Target::SelfCall
            }
            TExprKind::CtorFn(c) => {
                let order: Vec<u32> = (0..args.len() as u32).collect();
                if tail {
                    let t = self.temp();
                    self.ctor(*c, args, &order, t)?;
                    self.fb.op(Op::Ret, [s(t)]);
                } else {
                    self.ctor(*c, args, &order, dst)?;
                }
                self.next = mark;
                return Ok(());
            }
            _ if reuse_dst => {
                self.expr_fresh(callee, dst)?;
                Target::Value(dst)
            }
            _ => {
                let t = self.temp();
                self.expr_fresh(callee, t)?;
                Target::Value(t)
            }
        };
        if reuse_dst && !matches!(target, Target::Value(_)) {
            self.next = dst;
        }
        let base = self.window(args.len());
        for (i, x) in args.iter().enumerate() {
            self.expr_fresh(x, base + i as u16)?;
        }
        self.loc(span);
        match (target, tail) {
            (Target::Known(f), false) => self
                .fb
                .op(Op::CallK, [s(dst), Operand::Func(f), s(base), cnt(n)]),
            (Target::Known(f), true) if Some(f) == self.self_func => {
                self.fb.op(Op::TCallSelf, [s(base), cnt(n)])
            }
            (Target::Known(f), true) => self.fb.op(Op::TCallK, [Operand::Func(f), s(base), cnt(n)]),
            (Target::SelfCall, false) => self.fb.op(Op::CallSelf, [s(dst), s(base), cnt(n)]),
            (Target::SelfCall, true) => self.fb.op(Op::TCallSelf, [s(base), cnt(n)]),
            (Target::Value(t), false) => self.fb.op(Op::Call, [s(dst), s(t), s(base), cnt(n)]),
            (Target::Value(t), true) => self.fb.op(Op::TCall, [s(t), s(base), cnt(n)]),
        }
        self.next = mark;
        Ok(())
    }

    /// Emits instruction `op` with `args` (evaluated left to right into a window) as its
    /// `Src` operands and `dst` as its `Dst`; an instruction without a result leaves
    /// `()` in `dst`. Used by `#op(...)` and by calls of one-instruction functions.
    pub(super) fn prim_op(&mut self, op: Op, args: &'p [TExpr], dst: u16, span: Span) -> R<()> {
        let base = self.window(args.len());
        for (i, x) in args.iter().enumerate() {
            self.expr_fresh(x, base + i as u16)?;
        }
        let mut next_arg = base;
        let mut has_dst = false;
        let mut ops = Vec::new();
        for k in op.operands() {
            match k {
                hashvm_format::OperandKind::Dst => {
                    has_dst = true;
                    ops.push(s(dst));
                }
                hashvm_format::OperandKind::Src => {
                    ops.push(s(next_arg));
                    next_arg += 1;
                }
                _ => {
                    return self.err(
                        span,
                        format!("#op(\"{}\") takes non-slot operands", op.mnemonic()),
                    )
                }
            }
        }
        self.fb.op(op, ops);
        if !has_dst && !op.is_terminator() {
            self.fb.op(Op::LoadUnit, [s(dst)]);
        }
        Ok(())
    }

    /// `ffi.call` of the C function `decl` (declared once per module) with `args`
    /// evaluated left to right into a window.
    pub(super) fn foreign_call(
        &mut self,
        decl: &hashvm_format::Foreign,
        args: &'p [TExpr],
        dst: u16,
        span: Span,
    ) -> R<()> {
        let f = self.og.mb.add_foreign(decl.clone());
        let mark = self.next;
        let base = self.window(args.len());
        for (i, x) in args.iter().enumerate() {
            self.expr_fresh(x, base + i as u16)?;
        }
        self.loc(span);
        self.fb.op(
            Op::FfiCall,
            [s(dst), Operand::Foreign(f), s(base), cnt(args.len() as u16)],
        );
        self.next = mark;
        Ok(())
    }

    /// The foreign function a function item calls, when it is a `#foreign` declaration
    /// (a lambda whose body calls the C function with its parameters in order).
    pub(super) fn foreign_wrapper(
        &self,
        callee: &TExpr,
        nargs: usize,
    ) -> Option<hashvm_format::Foreign> {
        let TExprKind::Var(VarRef::Item(r)) = &callee.kind else {
            return None;
        };
        let TItemKind::Function { lambda, .. } = &self.og.prog.item(*r).kind else {
            return None;
        };
        let TExprKind::Foreign { decl, args } = &lambda.body.kind else {
            return None;
        };
        if args.len() != nargs || lambda.params.len() != nargs {
            return None;
        }
        let in_order = args
            .iter()
            .zip(&lambda.params)
            .all(|(a, p)| matches!(a.kind, TExprKind::Var(VarRef::Local(l)) if l == *p));
        in_order.then(|| decl.clone())
    }

    /// The instruction a function item consists of, when its body is exactly
    /// `#op("m", p1, ..., pn)` over its own parameters in order and the op has only
    /// slot operands.
    pub(super) fn prim_wrapper(&self, callee: &TExpr, nargs: usize) -> Option<Op> {
        let TExprKind::Var(VarRef::Item(r)) = &callee.kind else {
            return None;
        };
        let TItemKind::Function { lambda, .. } = &self.og.prog.item(*r).kind else {
            return None;
        };
        let mut body = &*lambda.body;
        while let TExprKind::Block(b) = &body.kind {
            match (&b.stmts[..], &b.tail) {
                ([], Some(t)) => body = t,
                _ => return None,
            }
        }
        let TExprKind::Op { op, args } = &body.kind else {
            return None;
        };
        if args.len() != nargs || lambda.params.len() != nargs {
            return None;
        }
        for (a, p) in args.iter().zip(&lambda.params) {
            if !matches!(a.kind, TExprKind::Var(VarRef::Local(l)) if l == *p) {
                return None;
            }
        }
        let kinds = op.operands();
        let slots_only = kinds.iter().all(|k| {
            matches!(
                k,
                hashvm_format::OperandKind::Dst | hashvm_format::OperandKind::Src
            )
        });
        let srcs = kinds
            .iter()
            .filter(|k| **k == hashvm_format::OperandKind::Src)
            .count();
        (slots_only && srcs == nargs).then_some(*op)
    }
}
