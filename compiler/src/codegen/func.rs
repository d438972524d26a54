//! Compiling one function body: the function context ([`FnCx`]), slot allocation and
//! access to locals, and the helpers the other parts share. The rest of the body
//! compiler is one file per concern: `expr` (expressions and calls), `binop`
//! (operators), `cond` (branches), `assign`, `loops` (statements and loops) and `run`
//! (`#run` sites), each an `impl FnCx` block.
//!
//! Slots are allocated like a stack: parameters first, then locals as they are
//! declared, then temporaries above them, released at the end of each scope. A call's
//! arguments go to a window at the current top, so the callee's frame starts there and
//! nothing live is above it (the VM clobbers slots from the window up).

use super::asm::Asm;
use super::{CodegenError, ObjectGen};
use crate::span::Span;
use crate::tast::*;
use hashvm_format::{Arg, FunctionBuilder, Label, Op, Operand};
use std::collections::HashMap;

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
    pub fb: Asm,
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
pub(super) const LIST_WINDOW: usize = 64;

pub(super) fn s(i: u16) -> Operand {
    Operand::Slot(i)
}
pub(super) fn a(o: Operand) -> Arg {
    Arg::Op(o)
}
pub(super) fn cnt(n: u16) -> Operand {
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
    let fb = Asm::new(name, l.params.len() as u16, ncap);
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

/// The name of a module's initialiser, as stack traces show it: a runtime error while
/// computing a top-level value reads `at top level (prog.hash:3:9)`, not an internal
/// name.
pub(crate) const INIT_NAME: &str = "top level";

/// Compiles the module initialiser: each value item's initialiser, stored in its
/// global, in order.
pub(crate) fn compile_init<'p>(og: &mut ObjectGen<'p>, items: &[u32]) -> R<FunctionBuilder> {
    let name = og.fn_name(INIT_NAME);
    let prog = og.prog;
    let module = og.module;
    let mut cx = FnCx {
        og,
        fb: Asm::new(name, 0, 0),
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
    pub(super) fn finish(self) -> R<FunctionBuilder> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.fb.finish()),
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

    pub(super) fn local_loc(&self, l: LocalId, span: Span) -> R<Loc> {
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
    pub(super) fn capture_value(&mut self, l: LocalId, dst: u16, span: Span) -> R<()> {
        match self.local_loc(l, span)? {
            Loc::Boxed(t) => self.fb.op(Op::Mov, [s(dst), s(t)]),
            Loc::BoxedEnv(j) => self.fb.op(Op::GetEnv, [s(dst), cnt(j)]),
            _ => self.load_local(l, dst, span)?,
        }
        Ok(())
    }

    /// Stores `src` into local `l` (an assignment).
    pub(super) fn store_local(&mut self, l: LocalId, src: u16, span: Span) -> R<()> {
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
pub(super) fn f64_lit(e: &TExpr) -> Option<f64> {
    match fold(e) {
        Some(Lit::F64(v)) => Some(v),
        _ => None,
    }
}

/// An i64 literal that fits an `i32` immediate.
pub(super) fn small_i64(e: &TExpr) -> Option<i32> {
    match fold(e) {
        Some(Lit::I64(v)) => i32::try_from(v).ok(),
        _ => None,
    }
}

pub(super) fn negate(op: BinOp) -> BinOp {
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
