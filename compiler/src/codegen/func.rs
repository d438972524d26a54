//! Compiling one function body: slot allocation, expressions, conditions, loops,
//! calls (tail calls included) and closures.
//!
//! Slots are allocated like a stack: parameters first, then locals as they are
//! declared, then temporaries above them, released at the end of each scope. A call's
//! arguments go to a window at the current top, so the callee's frame starts there and
//! nothing live is above it (the VM clobbers slots from the window up).

use super::{CodegenError, ObjectGen};
use crate::span::Span;
use crate::tast::*;
use hashvm_format::{Arg, FunctionBuilder, Label, Op, Operand};
use std::collections::HashMap;

/// A `#run` expression to evaluate at compile time: the zero-argument function that
/// computes it, and whether it is the whole initialiser of a top-level value (then the
/// value can be read from that item's global after the initialisers ran).
#[derive(Clone, Debug)]
pub struct RunSite {
    /// The `#run` expression's span (the key of its constant).
    pub span: Span,
    /// The function computing it.
    pub func: u32,
    /// The top-level value item it initialises, if it is one's whole initialiser.
    pub item: Option<u32>,
}

/// Where a local variable lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc {
    /// A frame slot.
    Slot(u16),
    /// A frame slot holding a `ref` cell (a `mut` local some closure captures).
    Boxed(u16),
    /// Capture `i` of the running closure.
    Env(u16),
    /// Capture `i`, which is a `ref` cell.
    BoxedEnv(u16),
    /// The running closure itself (a local recursive closure's own name).
    SelfFn,
}

/// Where a compiled expression's value goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dest {
    /// Into this slot.
    Slot(u16),
    /// Returned from the function (tail position).
    Tail,
}

pub(crate) struct FnCx<'a, 'p> {
    pub og: &'a mut ObjectGen<'p>,
    pub fb: FunctionBuilder,
    pub locs: HashMap<LocalId, Loc>,
    pub next: u16,
    /// (continue target, break target) of the enclosing loops.
    pub loops: Vec<(Label, Label)>,
    pub error: Option<CodegenError>,
    /// The index of the function being compiled, when it is a top-level function (its
    /// calls to itself in tail position restart it in place).
    pub self_func: Option<u32>,
}

pub(crate) type R<T> = Result<T, CodegenError>;

/// List literals longer than this are built element by element (see `TExprKind::List`
/// in [`FnCx::expr`]) rather than in one window of slots.
const LIST_WINDOW: usize = 64;

fn s(i: u16) -> Operand {
    Operand::Slot(i)
}
fn a(o: Operand) -> Arg {
    Arg::Op(o)
}
fn cnt(n: u16) -> Operand {
    Operand::U16(n)
}

/// Compiles a top-level function or a lifted lambda.
pub(crate) fn compile_function<'p>(
    og: &mut ObjectGen<'p>,
    index: u32,
    l: &'p TLambda,
    top: bool,
) -> R<FunctionBuilder> {
    let name = l.name.clone().unwrap_or_else(|| "<lambda>".into());
    let name = if top { og.fn_name(&name) } else { name };
    let ncap = if top { 0 } else { l.captures.len() as u16 };
    let fb = FunctionBuilder::new(name, l.params.len() as u16, ncap);
    let mut cx = FnCx {
        og,
        fb,
        locs: HashMap::new(),
        next: l.params.len() as u16,
        loops: Vec::new(),
        error: None,
        self_func: None,
    };
    if top {
        cx.self_func = Some(index);
    }
    cx.loc(l.span);
    for (i, &p) in l.params.iter().enumerate() {
        let i = i as u16;
        if cx.boxed(p) {
            cx.fb.op(Op::RefNew, [s(i), s(i)]);
            cx.locs.insert(p, Loc::Boxed(i));
        } else {
            cx.locs.insert(p, Loc::Slot(i));
        }
    }
    if !top {
        for (j, &c) in l.captures.iter().enumerate() {
            let loc = if Some(c) == l.self_local {
                Loc::SelfFn
            } else if cx.boxed(c) {
                Loc::BoxedEnv(j as u16)
            } else {
                Loc::Env(j as u16)
            };
            cx.locs.insert(c, loc);
        }
    }
    if let Some(sl) = l.self_local {
        cx.locs.entry(sl).or_insert(Loc::SelfFn);
    }
    cx.expr_dest(&l.body, Dest::Tail)?;
    cx.finish()
}

/// Compiles the module initialiser: each value item's initialiser, stored in its
/// global, in order.
pub(crate) fn compile_init<'p>(og: &mut ObjectGen<'p>, items: &[u32]) -> R<FunctionBuilder> {
    let name = og.fn_name("<init>");
    let prog = og.prog;
    let module = og.module;
    let mut cx = FnCx {
        og,
        fb: FunctionBuilder::new(name, 0, 0),
        locs: HashMap::new(),
        next: 0,
        loops: Vec::new(),
        error: None,
        self_func: None,
    };
    for &i in items {
        let item = &prog.module(module).items[i as usize];
        if let TItemKind::Value { expr, .. } = &item.kind {
            cx.loc(expr.span);
            let site_item = matches!(expr.kind, TExprKind::Run(_)).then_some(i);
            match (&expr.kind, site_item) {
                (TExprKind::Run(inner), Some(item)) => {
                    cx.run_site(inner, expr.span, 0, Some(item))?
                }
                _ => cx.expr(expr, 0)?,
            }
            let g = cx.og.item_globals[&i];
            cx.fb.op(Op::StoreG, [Operand::Global(g), s(0)]);
        }
    }
    cx.fb.op(Op::RetU, []);
    cx.finish()
}

impl<'a, 'p> FnCx<'a, 'p> {
    fn finish(self) -> R<FunctionBuilder> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.fb),
        }
    }

    pub(crate) fn err<T>(&self, span: Span, msg: impl Into<String>) -> R<T> {
        Err(CodegenError {
            span,
            message: msg.into(),
        })
    }

    /// Attributes the next instructions to `span`'s line.
    pub(crate) fn loc(&mut self, span: Span) {
        let (line, col) = self.og.prog.sources.line_col(span);
        if line > 0 {
            self.fb.set_location(self.og.file, line, col);
        }
    }

    pub(crate) fn boxed(&self, l: LocalId) -> bool {
        let info = self.og.prog.local(l);
        info.mutable && info.captured
    }

    /// A fresh temporary slot.
    pub(crate) fn temp(&mut self) -> u16 {
        self.window(1)
    }

    /// Reserves `n` consecutive slots and returns the first.
    ///
    /// A frame has at most 65 535 slots. Past that, the slots are still reserved (so
    /// that the function builder rejects the function: "too large", a clean compile
    /// error) but slot 0 is returned and nothing advances, so that the code generated
    /// meanwhile, which is thrown away, never overflows a `u16` slot number.
    pub(crate) fn window(&mut self, n: usize) -> u16 {
        let b = self.next;
        let end = b as usize + n;
        self.fb
            .reserve_slots(u32::try_from(end).unwrap_or(u32::MAX));
        match u16::try_from(end) {
            Ok(e) => {
                self.next = e;
                b
            }
            Err(_) => 0,
        }
    }

    /// Binds a new local to a fresh slot, boxing it if a closure captures it mutably.
    /// The caller computes the initial value into the returned slot first when
    /// `boxed`, then calls [`FnCx::box_local`].
    pub(crate) fn declare(&mut self, l: LocalId) -> u16 {
        let t = self.temp();
        self.locs.insert(l, Loc::Slot(t));
        t
    }

    /// Finishes a local whose value is in its slot: wraps it in a cell if needed.
    pub(crate) fn box_local(&mut self, l: LocalId, slot: u16) {
        if self.boxed(l) {
            self.fb.op(Op::RefNew, [s(slot), s(slot)]);
            self.locs.insert(l, Loc::Boxed(slot));
        }
    }

    fn local_loc(&self, l: LocalId, span: Span) -> R<Loc> {
        match self.locs.get(&l) {
            Some(&loc) => Ok(loc),
            None => self.err(
                span,
                format!(
                    "internal error: local `{}` has no location",
                    self.og.prog.local(l).name
                ),
            ),
        }
    }

    /// Loads a local's value into `dst`.
    pub(crate) fn load_local(&mut self, l: LocalId, dst: u16, span: Span) -> R<()> {
        match self.local_loc(l, span)? {
            Loc::Slot(t) => {
                if t != dst {
                    self.fb.op(Op::Mov, [s(dst), s(t)]);
                }
            }
            Loc::Boxed(t) => self.fb.op(Op::RefGet, [s(dst), s(t)]),
            Loc::Env(j) => self.fb.op(Op::GetEnv, [s(dst), cnt(j)]),
            Loc::BoxedEnv(j) => {
                self.fb.op(Op::GetEnv, [s(dst), cnt(j)]);
                self.fb.op(Op::RefGet, [s(dst), s(dst)]);
            }
            Loc::SelfFn => self.fb.op(Op::LoadSelf, [s(dst)]),
        }
        Ok(())
    }

    /// What a closure capturing `l` stores: the cell for a boxed local, else the value.
    fn capture_value(&mut self, l: LocalId, dst: u16, span: Span) -> R<()> {
        match self.local_loc(l, span)? {
            Loc::Boxed(t) => self.fb.op(Op::Mov, [s(dst), s(t)]),
            Loc::BoxedEnv(j) => self.fb.op(Op::GetEnv, [s(dst), cnt(j)]),
            _ => self.load_local(l, dst, span)?,
        }
        Ok(())
    }

    /// Stores `src` into local `l` (an assignment).
    fn store_local(&mut self, l: LocalId, src: u16, span: Span) -> R<()> {
        match self.local_loc(l, span)? {
            Loc::Slot(t) => {
                if t != src {
                    self.fb.op(Op::Mov, [s(t), s(src)]);
                }
            }
            Loc::Boxed(t) => self.fb.op(Op::RefSet, [s(t), s(src)]),
            Loc::BoxedEnv(j) => {
                let t = self.temp();
                self.fb.op(Op::GetEnv, [s(t), cnt(j)]);
                self.fb.op(Op::RefSet, [s(t), s(src)]);
            }
            Loc::Env(_) | Loc::SelfFn => {
                return self.err(span, "internal error: assignment to a captured immutable")
            }
        }
        Ok(())
    }

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
        self.expr(e, t)?;
        Ok(t)
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
                self.call(callee, args, t, true, e.span)
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

    fn expr_inner(&mut self, e: &'p TExpr, dst: u16) -> R<()> {
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
                let base = self.window(es.len());
                for (i, x) in es.iter().enumerate() {
                    self.expr(x, base + i as u16)?;
                }
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
                    self.expr(x, base + i as u16)?;
                }
                let acc = self.temp();
                self.fb.op(Op::LoadNil, [s(acc)]);
                for i in (0..es.len()).rev() {
                    self.fb.op(Op::Cons, [s(acc), s(base + i as u16), s(acc)]);
                }
                self.fb.op(Op::Mov, [s(dst), s(acc)]);
            }
            TExprKind::Lambda(l) => self.lambda(l, dst)?,
            TExprKind::Call { callee, args } => self.call(callee, args, dst, false, e.span)?,
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
        }
        Ok(())
    }

    fn lit(&mut self, l: &Lit, dst: u16) {
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

    fn ctor(&mut self, c: CtorRef, args: &'p [TExpr], order: &[u32], dst: u16) -> R<()> {
        let n = args.len() as u16;
        let base = self.window(args.len());
        let order: Vec<usize> = if order.len() == args.len() {
            order.iter().map(|&i| i as usize).collect()
        } else {
            (0..args.len()).collect()
        };
        for i in order {
            self.expr(&args[i], base + i as u16)?;
        }
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

    fn lambda(&mut self, l: &'p TLambda, dst: u16) -> R<()> {
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
        let base = self.window(l.captures.len());
        for (j, &c) in l.captures.iter().enumerate() {
            if Some(c) == l.self_local {
                self.fb.op(Op::LoadUnit, [s(base + j as u16)]);
            } else {
                self.capture_value(c, base + j as u16, l.span)?;
            }
        }
        self.fb
            .op(Op::Closure, [s(dst), Operand::Func(f), s(base), cnt(n)]);
        Ok(())
    }

    /// Compiles a call; in tail position it becomes a tail call (and `dst` is unused).
    fn call(
        &mut self,
        callee: &'p TExpr,
        args: &'p [TExpr],
        dst: u16,
        tail: bool,
        span: Span,
    ) -> R<()> {
        let mark = self.next;
        let n = args.len() as u16;
        enum Target {
            Known(u32),
            SelfCall,
            Value(u16),
        }
        // A call of a function whose whole body is one instruction on its parameters
        // (the standard library's wrappers over VM primitives) is that instruction.
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
            _ => {
                let t = self.temp();
                self.expr(callee, t)?;
                Target::Value(t)
            }
        };
        let base = self.window(args.len());
        for (i, x) in args.iter().enumerate() {
            self.expr(x, base + i as u16)?;
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
    fn prim_op(&mut self, op: Op, args: &'p [TExpr], dst: u16, span: Span) -> R<()> {
        let base = self.window(args.len());
        for (i, x) in args.iter().enumerate() {
            self.expr(x, base + i as u16)?;
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

    /// The instruction a function item consists of, when its body is exactly
    /// `#op("m", p1, ..., pn)` over its own parameters in order and the op has only
    /// slot operands.
    fn prim_wrapper(&self, callee: &TExpr, nargs: usize) -> Option<Op> {
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

    fn binary(
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
        self.binop(op, p, l, r, dst);
        Ok(())
    }

    /// Emits `dst := l op r` for operands of primitive type `p` (`None`: any type,
    /// structural comparison).
    pub(crate) fn binop(&mut self, op: BinOp, p: Option<Prim>, l: u16, r: u16, dst: u16) {
        use BinOp::*;
        // Comparisons: > and >= swap their operands.
        let (op, l, r) = match op {
            Gt => (Lt, r, l),
            Ge => (Le, r, l),
            o => (o, l, r),
        };
        let o = match (op, p) {
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
            (BitAnd, Some(Prim::IBig)) => Op::AndBig,
            (BitOr, Some(Prim::IBig)) => Op::OrBig,
            (BitXor, Some(Prim::IBig)) => Op::XorBig,
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
            // Other operators on other types cannot pass the checker; i64 is the
            // checker's default.
            (Add, _) => Op::AddI64,
            (Sub, _) => Op::SubI64,
            (Mul, _) => Op::MulI64,
            (Div, _) => Op::DivI64,
            (Rem, _) => Op::RemI64,
            (BitAnd, _) => Op::AndI64,
            (BitOr, _) => Op::OrI64,
            (BitXor, _) => Op::XorI64,
            (Shl, _) => Op::ShlI64,
            (Shr, _) => Op::ShrI64,
            (Gt | Ge | And | Or, _) => Op::Eq,
        };
        self.fb.op(o, [s(dst), s(l), s(r)]);
    }

    /// Jumps to `target` when `e` evaluates to `when`; falls through otherwise.
    /// Comparisons of numbers become fused compare-and-branch instructions.
    pub(crate) fn cond(&mut self, e: &'p TExpr, when: bool, target: Label) -> R<()> {
        let mark = self.next;
        let r = self.cond_inner(e, when, target);
        self.next = mark;
        r
    }

    fn cond_inner(&mut self, e: &'p TExpr, when: bool, target: Label) -> R<()> {
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

    fn assign(
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
                        self.binop(o, p, t, v, t);
                    }
                    (Some(o), _) => {
                        let cur = self.temp();
                        self.load_local(*l, cur, span)?;
                        let v = self.expr_any(value)?;
                        self.binop(o, p, cur, v, cur);
                        self.store_local(*l, cur, span)?;
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
                        self.binop(o, p, cur, v, cur);
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
                        self.binop(o, p, cur, v, cur);
                        self.fb.op(Op::ASet, [s(b), s(i), s(cur)]);
                    }
                }
            }
        }
        Ok(())
    }

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
                    self.expr(value, slot)?;
                    self.box_local(l, slot);
                    return Ok(());
                }
                let v = self.temp();
                self.expr(value, v)?;
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

    fn for_loop(&mut self, pat: &'p TPat, iter: &'p TForIter, body: &'p TExpr) -> R<()> {
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

    fn bind_loop_var(&mut self, pat: &'p TPat, v: u16) -> R<()> {
        if let TPatKind::Bind(l) = pat.kind {
            self.locs.insert(l, Loc::Slot(v));
            self.box_local(l, v);
            return Ok(());
        }
        self.bind_irrefutable(pat, v)
    }

    fn loop_body(&mut self, body: &'p TExpr, cont: Label, exit: Label) -> R<()> {
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
                self.expr(e, t)
            }
        };
        self.next = mark;
        r
    }

    /// A `while`, `loop` or `for`, whose value is always `()`.
    fn loop_expr(&mut self, e: &'p TExpr) -> R<()> {
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

    /// A `#run` site. With known values it loads its constant; otherwise the expression
    /// is lifted into a function the driver evaluates at compile time.
    pub(crate) fn run_site(
        &mut self,
        inner: &'p TExpr,
        span: Span,
        dst: u16,
        item: Option<u32>,
    ) -> R<()> {
        // The lifted function exists in both phases (so that function numbering does
        // not change between them); with a known value it is simply never called.
        let f = self.og.mb.declare_function("#run");
        let mut cx = FnCx {
            og: &mut *self.og,
            fb: FunctionBuilder::new("#run", 0, 0),
            locs: HashMap::new(),
            next: 0,
            loops: Vec::new(),
            error: None,
            self_func: None,
        };
        cx.loc(span);
        let r = cx.tail(inner).and_then(|_| cx.finish());
        self.og.define(f, r);
        if let Some(rv) = self.og.run_values {
            if let Some(c) = rv.values.get(&span) {
                let g = self
                    .og
                    .mb
                    .add_global("#run", hashvm_format::GlobalInit::Const(c.clone()));
                self.fb.op(Op::LoadG, [s(dst), Operand::Global(g)]);
                return Ok(());
            }
        }
        self.og.runs.push(RunSite {
            span,
            func: f,
            item,
        });
        let base = self.next;
        self.fb
            .op(Op::CallK, [s(dst), Operand::Func(f), s(base), cnt(0)]);
        Ok(())
    }
}

/// The primitive a type is, if it is one.
pub(crate) fn prim(t: &Type) -> Option<Prim> {
    match t {
        Type::Prim(p) => Some(*p),
        _ => None,
    }
}

/// Whether evaluating `e` may assign to a local (conservatively: it contains an
/// assignment anywhere, or a loop/block that could).
pub(crate) fn may_assign(e: &TExpr) -> bool {
    use TExprKind as K;
    match &e.kind {
        K::Lit(_) | K::Var(_) | K::CtorFn(_) | K::Break | K::Continue | K::Lambda(_) => false,
        K::Assign { .. } => true,
        K::Ctor { args, .. } | K::Tuple(args) | K::List(args) | K::Op { args, .. } => {
            args.iter().any(may_assign)
        }
        K::Call { callee, args } => may_assign(callee) || args.iter().any(may_assign),
        K::Field { base, .. } => may_assign(base),
        K::Index { base, index } => may_assign(base) || may_assign(index),
        K::Unary { operand, .. } => may_assign(operand),
        K::Binary { lhs, rhs, .. } | K::And(lhs, rhs) | K::Or(lhs, rhs) => {
            may_assign(lhs) || may_assign(rhs)
        }
        K::Run(_) => false,
        _ => true,
    }
}

/// Constant folding: the value of an expression made only of literals and operators on
/// `i64`, `u64`, `f64` and `bool`, computed as the VM would (wrapping integer
/// arithmetic, IEEE floats). Division or remainder by zero is left to run time, so the
/// program still reports the fault where it happens.
/// Folds a binary operator on two integer literals of one type (wrapping, shifts mod
/// 64, division by zero left to run time); `None` when it cannot be folded.
macro_rules! fold_int {
    ($op:expr, $x:expr, $y:expr, $lit:path) => {{
        use BinOp::*;
        let (x, y) = ($x, $y);
        match $op {
            Add => Some($lit(x.wrapping_add(y))),
            Sub => Some($lit(x.wrapping_sub(y))),
            Mul => Some($lit(x.wrapping_mul(y))),
            Div if y != 0 => Some($lit(x.wrapping_div(y))),
            Rem if y != 0 => Some($lit(x.wrapping_rem(y))),
            BitAnd => Some($lit(x & y)),
            BitOr => Some($lit(x | y)),
            BitXor => Some($lit(x ^ y)),
            Shl => Some($lit(x.wrapping_shl((y & 63) as u32))),
            Shr => Some($lit(x.wrapping_shr((y & 63) as u32))),
            Eq => Some(Lit::Bool(x == y)),
            Ne => Some(Lit::Bool(x != y)),
            Lt => Some(Lit::Bool(x < y)),
            Le => Some(Lit::Bool(x <= y)),
            Gt => Some(Lit::Bool(x > y)),
            Ge => Some(Lit::Bool(x >= y)),
            _ => None,
        }
    }};
}

pub(crate) fn fold(e: &TExpr) -> Option<Lit> {
    use BinOp::*;
    match &e.kind {
        TExprKind::Lit(l @ (Lit::I64(_) | Lit::U64(_) | Lit::F64(_) | Lit::Bool(_))) => {
            Some(l.clone())
        }
        TExprKind::Unary { op, operand } => Some(match (op, fold(operand)?) {
            (UnOp::Neg, Lit::I64(v)) => Lit::I64(v.wrapping_neg()),
            (UnOp::Neg, Lit::U64(v)) => Lit::U64(v.wrapping_neg()),
            (UnOp::Neg, Lit::F64(v)) => Lit::F64(-v),
            (UnOp::Not, Lit::Bool(b)) => Lit::Bool(!b),
            (UnOp::BitNot, Lit::I64(v)) => Lit::I64(!v),
            (UnOp::BitNot, Lit::U64(v)) => Lit::U64(!v),
            _ => return None,
        }),
        TExprKind::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (fold(lhs)?, fold(rhs)?);
            Some(match (a, b) {
                (Lit::I64(x), Lit::I64(y)) => fold_int!(op, x, y, Lit::I64)?,
                (Lit::U64(x), Lit::U64(y)) => fold_int!(op, x, y, Lit::U64)?,
                (Lit::F64(x), Lit::F64(y)) => match op {
                    Add => Lit::F64(x + y),
                    Sub => Lit::F64(x - y),
                    Mul => Lit::F64(x * y),
                    Div => Lit::F64(x / y),
                    Rem => Lit::F64(x % y),
                    Eq => Lit::Bool(x == y),
                    Ne => Lit::Bool(x != y),
                    Lt => Lit::Bool(x < y),
                    Le => Lit::Bool(x <= y),
                    Gt => Lit::Bool(x > y),
                    Ge => Lit::Bool(x >= y),
                    _ => return None,
                },
                (Lit::Bool(x), Lit::Bool(y)) => match op {
                    Eq => Lit::Bool(x == y),
                    Ne => Lit::Bool(x != y),
                    _ => return None,
                },
                _ => return None,
            })
        }
        _ => None,
    }
}

/// An f64 literal's value (folded constants included).
fn f64_lit(e: &TExpr) -> Option<f64> {
    match fold(e) {
        Some(Lit::F64(v)) => Some(v),
        _ => None,
    }
}

/// An i64 literal that fits an `i32` immediate.
fn small_i64(e: &TExpr) -> Option<i32> {
    match fold(e) {
        Some(Lit::I64(v)) => i32::try_from(v).ok(),
        _ => None,
    }
}

fn negate(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Ge,
        BinOp::Le => BinOp::Gt,
        BinOp::Gt => BinOp::Le,
        BinOp::Ge => BinOp::Lt,
        BinOp::Eq => BinOp::Ne,
        BinOp::Ne => BinOp::Eq,
        o => o,
    }
}
