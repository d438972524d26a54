//! The recorder: follows the interpreter one instruction at a time (it is called
//! before each instruction runs, with the frame's slots) and translates what runs
//! into IR, from a loop's back-edge around to the same back-edge.
//!
//! Values come from the slots the first time a slot is read (an `sload` with a tag
//! guard, typed by the value actually there) and from the IR after the trace writes
//! the slot; branch directions come from the values the interpreter is about to
//! compare, and become guards of the direction taken.
//!
//! The trace writes a slot when the interpreter would (`sstore`), so memory always
//! holds the interpreter's state for the instruction being run; each guard's snapshot
//! is the instruction it guards, where the interpreter resumes on an exit and takes
//! the other path itself. (Sinking the stores into the exits, LuaJIT-style, is the
//! next optimisation; it needs snapshots that carry values again.) Anything the recorder cannot translate (calls, heap
//! access, allocation, IO, inner loops) aborts the recording with the reason; the VM
//! backs the anchor off and keeps interpreting.

use crate::ir::{BuildError, IrOp, IrType, Ref, Trace, TraceBuilder};
use hashvm_format::insn::{Insn, Operand};
use hashvm_format::opcode::Op;
use hashvm_vm::{Tag, Value};

/// Instructions after which a recording gives up (a loop body this long is not a
/// good trace for this backend yet).
pub const MAX_TRACE_INSNS: usize = 500;

/// What the recorder answers for one instruction.
#[derive(Debug)]
pub enum Step {
    /// Run it and call again before the next one.
    Continue,
    /// The loop closed: here is its trace (enter it at the anchor from now on).
    Done(Trace),
    /// The recording failed, for this reason.
    Abort(String),
}

/// Records one loop trace anchored at the back-edge instruction at `anchor_ip` of
/// function `func`.
pub struct Recorder {
    func: u32,
    anchor_ip: u32,
    b: TraceBuilder,
    /// Per slot: the IR value the trace holds for it (loaded or written).
    map: Vec<Option<Ref>>,
    started: bool,
    steps: usize,
    /// For the instruction being recorded: which slots hold non-empty arrays (an
    /// object slot is loaded as an array only then).
    arrays: Vec<bool>,
}

fn slot_of(a: &Operand) -> usize {
    match a {
        Operand::Slot(s) => *s as usize,
        _ => usize::MAX,
    }
}

fn imm_of(a: &Operand) -> i64 {
    match a {
        Operand::Imm32(v) => *v as i64,
        Operand::Imm64(v) => *v,
        Operand::F64(b) => *b as i64,
        _ => 0,
    }
}

/// The IR operation and operand type of a typed arithmetic instruction.
fn arith_of(op: Op) -> Option<(IrOp, IrType)> {
    Some(match op {
        Op::AddI64 => (IrOp::AddI, IrType::I64),
        Op::SubI64 => (IrOp::SubI, IrType::I64),
        Op::MulI64 => (IrOp::MulI, IrType::I64),
        Op::AndI64 => (IrOp::AndI, IrType::I64),
        Op::OrI64 => (IrOp::OrI, IrType::I64),
        Op::XorI64 => (IrOp::XorI, IrType::I64),
        Op::AddF64 => (IrOp::AddF, IrType::F64),
        Op::SubF64 => (IrOp::SubF, IrType::F64),
        Op::MulF64 => (IrOp::MulF, IrType::F64),
        Op::DivF64 => (IrOp::DivF, IrType::F64),
        _ => return None,
    })
}

/// A compare-and-jump instruction: the guard when the jump is taken, the guard when
/// it is not, and the operand type.
fn branch_of(op: Op) -> Option<(IrOp, IrOp, IrType)> {
    use IrOp::*;
    Some(match op {
        Op::JLtI64 | Op::JLtIImm => (LtI, GeI, IrType::I64),
        Op::JLeI64 | Op::JLeIImm => (LeI, GtI, IrType::I64),
        Op::JGtI64 | Op::JGtIImm => (GtI, LeI, IrType::I64),
        Op::JGeI64 | Op::JGeIImm => (GeI, LtI, IrType::I64),
        Op::JEqI64 | Op::JEqIImm => (EqI, NeI, IrType::I64),
        Op::JNeI64 | Op::JNeIImm => (NeI, EqI, IrType::I64),
        Op::JLtF64 => (LtF, NLtF, IrType::F64),
        Op::JLeF64 => (LeF, NLeF, IrType::F64),
        Op::JNLtF64 => (NLtF, LtF, IrType::F64),
        Op::JNLeF64 => (NLeF, LeF, IrType::F64),
        _ => return None,
    })
}

fn ir_type_of(v: Value) -> Option<IrType> {
    match v.tag() {
        Tag::I64 => Some(IrType::I64),
        Tag::F64 => Some(IrType::F64),
        Tag::BOOL => Some(IrType::Bool),
        // An object slot is loaded as an array (its load guards the kind); the
        // instructions that use it decide whether that is right.
        Tag::OBJ => Some(IrType::Ptr),
        _ => None,
    }
}

impl Recorder {
    /// A recorder for the back-edge at `anchor_ip` of `func`; the first instruction
    /// it sees must be that back-edge.
    pub fn new(func: u32, anchor_ip: u32) -> Recorder {
        Recorder {
            func,
            anchor_ip,
            b: TraceBuilder::new(anchor_ip),
            map: Vec::new(),
            started: false,
            steps: 0,
            arrays: Vec::new(),
        }
    }

    /// A snapshot of the state before the instruction at `ip`. The slots the trace
    /// wrote are in memory already (see [`Recorder::put`]): only the resume point.
    fn snap(&mut self, ip: u32) -> u32 {
        self.b.snapshot(ip, Vec::new())
    }

    /// The IR value of slot `s`, loading (and guarding) it on first use; a failed type
    /// guard resumes at the instruction at `ip`.
    fn get(&mut self, s: usize, ip: u32, slots: &[Value]) -> Result<(Ref, IrType), String> {
        if let Some(Some(r)) = self.map.get(s) {
            let r = *r;
            return Ok((r, self.b.ty(r)));
        }
        let v = *slots.get(s).ok_or("slot outside the frame")?;
        let ty = ir_type_of(v).ok_or("a slot that is not an i64, f64, bool or array")?;
        if ty == IrType::Ptr && !self.arrays.get(s).copied().unwrap_or(false) {
            return Err("an object slot that is not a non-empty array".into());
        }
        let snap = self.snap(ip);
        let r = self.b.sload(s as u16, ty, snap);
        self.remember(s, r);
        Ok((r, ty))
    }

    fn ensure(&mut self, s: usize) {
        if self.map.len() <= s {
            self.map.resize(s + 1, None);
        }
    }

    fn remember(&mut self, s: usize, r: Ref) {
        self.ensure(s);
        self.map[s] = Some(r);
    }

    /// The trace writes slot `s` as the interpreter does, when it does: memory then
    /// holds the interpreter's exact state at every instruction, so an exit needs to
    /// write nothing, and no value stays in a register only to be written back.
    fn put(&mut self, s: usize, r: Ref) {
        self.remember(s, r);
        self.b.sstore(s as u16, r);
    }

    fn operand(&mut self, s: usize, want: IrType, ip: u32, slots: &[Value]) -> Result<Ref, String> {
        let (r, ty) = self.get(s, ip, slots)?;
        if ty != want {
            // The instruction would fault in the interpreter: not a trace.
            return Err("an operand of the wrong type".into());
        }
        Ok(r)
    }

    /// Called before the instruction at `ip` of `func` runs, with the frame's slots and
    /// a way to read an array's element (`Vm::array_element`), which decides the type
    /// an `aget` is guarded to.
    pub fn step(
        &mut self,
        func: u32,
        ip: u32,
        code: &[u8],
        slots: &[Value],
        elem: &dyn Fn(Value, i64) -> Option<Value>,
    ) -> Step {
        match self.step_inner(func, ip, code, slots, elem) {
            Ok(Some(t)) => Step::Done(t),
            Ok(None) => Step::Continue,
            Err(why) => Step::Abort(why),
        }
    }

    fn step_inner(
        &mut self,
        func: u32,
        ip: u32,
        code: &[u8],
        slots: &[Value],
        elem: &dyn Fn(Value, i64) -> Option<Value>,
    ) -> Result<Option<Trace>, String> {
        if func != self.func {
            return Err("left the function (calls are not recorded yet)".into());
        }
        self.arrays.clear();
        self.arrays
            .extend(slots.iter().map(|v| v.is_obj() && elem(*v, 0).is_some()));
        self.steps += 1;
        if self.steps > MAX_TRACE_INSNS {
            return Err(format!("longer than {MAX_TRACE_INSNS} instructions"));
        }
        let (insn, _) = Insn::decode(code, ip as usize).map_err(|e| e.to_string())?;
        if ip == self.anchor_ip {
            if !matches!(insn.op, Op::Loop | Op::TCallSelf) {
                return Err(format!("anchored at `{}`, not a loop", insn.op.mnemonic()));
            }
            if self.started {
                let b = std::mem::take(&mut self.b);
                let tail = Vec::new();
                return Ok(Some(b.finish(tail)));
            }
            self.started = true;
            if insn.op == Op::TCallSelf {
                // A self tail call is the loop's back-edge: its arguments move down to
                // slots 0.. and the function restarts. The moves are the first thing an
                // iteration does (the trace is entered at this instruction).
                let base = slot_of(&insn.args[0]);
                let n = match insn.args.get(1) {
                    Some(Operand::U16(n)) => *n as usize,
                    _ => 0,
                };
                let mut moved = Vec::with_capacity(n);
                for i in 0..n {
                    moved.push(self.get(base + i, ip, slots)?.0);
                }
                for (i, r) in moved.into_iter().enumerate() {
                    self.put(i, r);
                }
            }
            return Ok(None);
        }
        let a = &insn.args;
        let err = |e: BuildError| e.to_string();
        match insn.op {
            Op::Nop | Op::Jmp => {}
            Op::Mov => {
                let (r, _) = self.get(slot_of(&a[1]), ip, slots)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadI | Op::LoadI64 => {
                let r = self.b.kint(imm_of(&a[1]));
                self.put(slot_of(&a[0]), r);
            }
            Op::LoadTrue | Op::LoadFalse => {
                let r = self.b.kbool(insn.op == Op::LoadTrue);
                self.put(slot_of(&a[0]), r);
            }
            Op::EqI64 | Op::NeI64 | Op::LtI64 | Op::LeI64 => {
                let x = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let y = self.operand(slot_of(&a[2]), IrType::I64, ip, slots)?;
                let op = match insn.op {
                    Op::EqI64 => IrOp::CmpEqI,
                    Op::NeI64 => IrOp::CmpNeI,
                    Op::LtI64 => IrOp::CmpLtI,
                    _ => IrOp::CmpLeI,
                };
                let r = self.b.compare(op, x, y).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::Not => {
                let x = self.operand(slot_of(&a[1]), IrType::Bool, ip, slots)?;
                let r = self.b.unary(IrOp::NotB, x).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::I64ToF64 => {
                let x = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let r = self.b.unary(IrOp::ItoF, x).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::Jt | Op::Jf => {
                let x = self.operand(slot_of(&a[0]), IrType::Bool, ip, slots)?;
                let v = slots
                    .get(slot_of(&a[0]))
                    .copied()
                    .unwrap_or(Value::UNIT)
                    .bits()
                    != 0;
                let snap = self.snap(ip);
                let g = if v { IrOp::IsTrue } else { IrOp::IsFalse };
                self.b.guard_bool(g, x, snap).map_err(err)?;
            }
            Op::LoadF => {
                let r = self.b.kf64(f64::from_bits(imm_of(&a[1]) as u64));
                self.put(slot_of(&a[0]), r);
            }
            Op::AddIImm | Op::SubIImm | Op::MulIImm => {
                let x = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let k = self.b.kint(imm_of(&a[2]));
                let op = match insn.op {
                    Op::AddIImm => IrOp::AddI,
                    Op::SubIImm => IrOp::SubI,
                    _ => IrOp::MulI,
                };
                let r = self.b.arith(op, x, k).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::AddKF64 | Op::SubKF64 | Op::MulKF64 | Op::DivKF64 | Op::RSubKF64 | Op::RDivKF64 => {
                let x = self.operand(slot_of(&a[1]), IrType::F64, ip, slots)?;
                let k = self.b.kf64(f64::from_bits(imm_of(&a[2]) as u64));
                let r = match insn.op {
                    Op::AddKF64 => self.b.arith(IrOp::AddF, x, k),
                    Op::SubKF64 => self.b.arith(IrOp::SubF, x, k),
                    Op::MulKF64 => self.b.arith(IrOp::MulF, x, k),
                    Op::DivKF64 => self.b.arith(IrOp::DivF, x, k),
                    Op::RSubKF64 => self.b.arith(IrOp::SubF, k, x),
                    _ => self.b.arith(IrOp::DivF, k, x),
                }
                .map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            op if arith_of(op).is_some() => {
                let (irop, ty) = arith_of(op).unwrap_or((IrOp::AddI, IrType::I64));
                let x = self.operand(slot_of(&a[1]), ty, ip, slots)?;
                let y = self.operand(slot_of(&a[2]), ty, ip, slots)?;
                let r = self.b.arith(irop, x, y).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            op if branch_of(op).is_some() => {
                let (taken_op, not_op, ty) =
                    branch_of(op).unwrap_or((IrOp::LtI, IrOp::GeI, IrType::I64));
                let x = self.operand(slot_of(&a[0]), ty, ip, slots)?;
                let y = match &a[1] {
                    Operand::Imm32(k) => self.b.kint(*k as i64),
                    s => self.operand(slot_of(s), ty, ip, slots)?,
                };
                // The direction the interpreter is about to take, from the real values.
                let xv = slots
                    .get(slot_of(&a[0]))
                    .copied()
                    .unwrap_or(Value::UNIT)
                    .bits();
                let yv = match &a[1] {
                    Operand::Imm32(k) => *k as i64 as u64,
                    s => slots.get(slot_of(s)).copied().unwrap_or(Value::UNIT).bits(),
                };
                let taken = crate::ir::guard_holds(taken_op, xv, yv);
                let g = if taken { taken_op } else { not_op };
                let snap = self.snap(ip);
                self.b.guard(g, x, y, snap).map_err(err)?;
            }
            Op::ALen => {
                let arr = self.operand(slot_of(&a[1]), IrType::Ptr, ip, slots)?;
                let v = slots.get(slot_of(&a[1])).copied().unwrap_or(Value::UNIT);
                if elem(v, 0).is_none() && v.is_obj() {
                    // Not an array (or empty, which cannot be told apart here).
                    return Err("alen of an empty array or a non-array".into());
                }
                let r = self.b.alen(arr).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::AGet => {
                let av = slots.get(slot_of(&a[1])).copied().unwrap_or(Value::UNIT);
                let iv = slots.get(slot_of(&a[2])).copied().unwrap_or(Value::UNIT);
                let e = elem(av, iv.bits() as i64)
                    .filter(|_| iv.tag() == Tag::I64)
                    .ok_or("aget that faults, or not on an array")?;
                let ty = match e.tag() {
                    Tag::I64 => IrType::I64,
                    Tag::F64 => IrType::F64,
                    Tag::BOOL => IrType::Bool,
                    _ => return Err("an array element that is not an i64, f64 or bool".into()),
                };
                let arr = self.operand(slot_of(&a[1]), IrType::Ptr, ip, slots)?;
                let i = self.operand(slot_of(&a[2]), IrType::I64, ip, slots)?;
                let snap = self.snap(ip);
                let r = self.b.aget(arr, i, ty, snap).map_err(err)?;
                self.put(slot_of(&a[0]), r);
            }
            Op::ASet => {
                let av = slots.get(slot_of(&a[0])).copied().unwrap_or(Value::UNIT);
                let iv = slots.get(slot_of(&a[1])).copied().unwrap_or(Value::UNIT);
                if iv.tag() != Tag::I64 || elem(av, iv.bits() as i64).is_none() {
                    return Err("aset that faults, or not on an array".into());
                }
                let arr = self.operand(slot_of(&a[0]), IrType::Ptr, ip, slots)?;
                let i = self.operand(slot_of(&a[1]), IrType::I64, ip, slots)?;
                let (v, vt) = self.get(slot_of(&a[2]), ip, slots)?;
                if !matches!(vt, IrType::I64 | IrType::F64 | IrType::Bool) {
                    return Err("storing a value that is not an i64, f64 or bool".into());
                }
                let snap = self.snap(ip);
                self.b.aset(arr, i, v, snap).map_err(err)?;
            }
            Op::Loop => return Err("an inner loop".into()),
            other => return Err(format!("`{}` is not recorded yet", other.mnemonic())),
        }
        Ok(None)
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::x64;
    use hashvm_format::{Arg, FunctionBuilder};

    fn s(i: u16) -> Operand {
        Operand::Slot(i)
    }

    /// The interpreter's semantics for the instructions these tests use (the real
    /// interpreter is driven through the VM's JIT host interface in the VM's tests).
    fn exec(code: &[u8], ip: usize, sl: &mut [Value]) -> Option<usize> {
        let (insn, len) = Insn::decode(code, ip).ok()?;
        let a = &insn.args;
        let get = |sl: &[Value], o: &Operand| sl[slot_of(o)];
        let jump = |o: &Operand| match o {
            Operand::Jump(j) => (ip as i64 + *j as i64) as usize,
            _ => ip,
        };
        let next = ip + len;
        match insn.op {
            Op::LoadI => sl[slot_of(&a[0])] = Value::i64(imm_of(&a[1])),
            Op::LoadF => sl[slot_of(&a[0])] = Value::f64(f64::from_bits(imm_of(&a[1]) as u64)),
            Op::Mov => sl[slot_of(&a[0])] = get(sl, &a[1]),
            Op::AddI64 => {
                sl[slot_of(&a[0])] = Value::i64(
                    get(sl, &a[1])
                        .as_i64()
                        .wrapping_add(get(sl, &a[2]).as_i64()),
                )
            }
            Op::MulIImm => {
                sl[slot_of(&a[0])] = Value::i64(get(sl, &a[1]).as_i64().wrapping_mul(imm_of(&a[2])))
            }
            Op::AddIImm => {
                sl[slot_of(&a[0])] = Value::i64(get(sl, &a[1]).as_i64().wrapping_add(imm_of(&a[2])))
            }
            Op::MulF64 => {
                sl[slot_of(&a[0])] = Value::f64(get(sl, &a[1]).as_f64() * get(sl, &a[2]).as_f64())
            }
            Op::AddKF64 => {
                sl[slot_of(&a[0])] =
                    Value::f64(get(sl, &a[1]).as_f64() + f64::from_bits(imm_of(&a[2]) as u64))
            }
            Op::JGeIImm => {
                if get(sl, &a[0]).as_i64() >= imm_of(&a[1]) {
                    return Some(jump(&a[2]));
                }
            }
            Op::JGeI64 => {
                if get(sl, &a[0]).as_i64() >= get(sl, &a[1]).as_i64() {
                    return Some(jump(&a[2]));
                }
            }
            Op::JNLtF64 => {
                if get(sl, &a[0])
                    .as_f64()
                    .partial_cmp(&get(sl, &a[1]).as_f64())
                    != Some(std::cmp::Ordering::Less)
                {
                    return Some(jump(&a[2]));
                }
            }
            Op::Loop | Op::Jmp => return Some(jump(&a[0])),
            Op::Ret => return None,
            other => panic!("test interpreter: {other:?}"),
        }
        Some(next)
    }

    /// Runs `code` from ip 0; at the first back-edge, records a trace, compiles it and
    /// from then on runs the trace at the anchor. Returns the final slots and whether a
    /// trace ran; the same program run without the JIT must end in the same slots.
    fn run(code: &[u8], init: &[Value], jit: bool) -> (Vec<Value>, bool) {
        let mut sl = init.to_vec();
        let mut ip = 0;
        let mut rec: Option<Recorder> = None;
        let mut compiled: Option<(usize, x64::CompiledTrace)> = None;
        let mut traces = Trace::default();
        let mut ran = false;
        for _ in 0..1_000_000 {
            if let Some((anchor, t)) = &compiled {
                if ip == *anchor {
                    let flag = 0u8;
                    // SAFETY: the slot array covers every slot the trace names.
                    let exit = unsafe { t.run(sl.as_mut_ptr(), &flag) };
                    ran = true;
                    // Resume at the guarded instruction: the interpreter takes the
                    // other path itself.
                    ip = traces.snaps[exit as usize].resume_ip as usize;
                    assert_ne!(ip, *anchor, "an exit resumes where its guard failed");
                    compiled = None;
                }
            }
            if let Some(r) = rec.as_mut() {
                match r.step(0, ip as u32, code, &sl, &|_, _| None) {
                    Step::Continue => {}
                    Step::Done(t) => {
                        compiled = Some((ip, x64::compile(&t).expect("compiles")));
                        traces = t;
                        rec = None;
                        continue;
                    }
                    Step::Abort(why) => panic!("aborted: {why}"),
                }
            } else if jit && compiled.is_none() && !ran {
                if let Ok((i, _)) = Insn::decode(code, ip) {
                    if i.op == Op::Loop {
                        let mut r = Recorder::new(0, ip as u32);
                        assert!(matches!(
                            r.step(0, ip as u32, code, &sl, &|_, _| None),
                            Step::Continue
                        ));
                        rec = Some(r);
                    }
                }
            }
            match exec(code, ip, &mut sl) {
                Some(n) => ip = n,
                None => return (sl, ran),
            }
        }
        panic!("did not finish");
    }

    fn assemble(f: FunctionBuilder) -> Vec<u8> {
        f.finish().expect("function").0.code
    }

    /// `s = 0; i = 0; while i < n { s += i * 3; i += 1 }` with n in slot 2.
    fn sum_code() -> Vec<u8> {
        let mut f = FunctionBuilder::new("sum", 0, 0);
        let top = f.new_label();
        let done = f.new_label();
        f.op(Op::LoadI, [s(0), Operand::Imm32(0)]);
        f.op(Op::LoadI, [s(1), Operand::Imm32(0)]);
        f.bind(top);
        f.emit(Op::JGeI64, [Arg::Op(s(1)), Arg::Op(s(2)), Arg::Label(done)]);
        f.op(Op::MulIImm, [s(3), s(1), Operand::Imm32(3)]);
        f.op(Op::AddI64, [s(0), s(0), s(3)]);
        f.op(Op::AddIImm, [s(1), s(1), Operand::Imm32(1)]);
        f.emit(Op::Loop, [Arg::Label(top)]);
        f.bind(done);
        f.op(Op::Ret, [s(0)]);
        assemble(f)
    }

    #[test]
    fn a_recorded_loop_gives_the_interpreters_result() {
        let code = sum_code();
        let init = [Value::UNIT, Value::UNIT, Value::i64(100_000), Value::UNIT];
        let (plain, _) = run(&code, &init, false);
        let (jitted, ran) = run(&code, &init, true);
        assert!(ran, "the trace ran");
        assert_eq!(plain[0].as_i64(), 3 * (99_999 * 100_000 / 2));
        for (p, j) in plain.iter().zip(&jitted) {
            assert_eq!((p.bits(), p.tag()), (j.bits(), j.tag()));
        }
    }

    #[test]
    fn a_float_loop_with_a_negated_compare() {
        // x = 1.0; while x < lim { x = x * x + 0.25 }  (jnlt.f64 exits the loop)
        let mut f = FunctionBuilder::new("grow", 0, 0);
        let top = f.new_label();
        let done = f.new_label();
        f.bind(top);
        f.emit(
            Op::JNLtF64,
            [Arg::Op(s(0)), Arg::Op(s(1)), Arg::Label(done)],
        );
        f.op(Op::MulF64, [s(0), s(0), s(0)]);
        f.op(Op::AddKF64, [s(0), s(0), Operand::F64(0.25f64.to_bits())]);
        f.emit(Op::Loop, [Arg::Label(top)]);
        f.bind(done);
        f.op(Op::Ret, [s(0)]);
        let code = assemble(f);
        let init = [Value::f64(1.0), Value::f64(1e300)];
        let (plain, _) = run(&code, &init, false);
        let (jitted, ran) = run(&code, &init, true);
        assert!(ran);
        assert_eq!(plain[0].bits(), jitted[0].bits());
        // With NaN the loop never runs: the jump is taken at once in both.
        let init = [Value::f64(f64::NAN), Value::f64(1.0)];
        assert_eq!(
            run(&code, &init, false).0[0].bits(),
            run(&code, &init, true).0[0].bits()
        );
    }

    #[test]
    fn unrecordable_instructions_abort_with_a_reason() {
        let mut f = FunctionBuilder::new("f", 0, 0);
        let top = f.new_label();
        f.bind(top);
        f.op(Op::Print, [s(0)]);
        f.emit(Op::Loop, [Arg::Label(top)]);
        let code = assemble(f);
        let mut r = Recorder::new(0, 3);
        let slots = [Value::UNIT];
        assert!(matches!(
            r.step(0, 3, &code, &slots, &|_, _| None),
            Step::Continue
        ));
        match r.step(0, 0, &code, &slots, &|_, _| None) {
            Step::Abort(why) => assert!(why.contains("print"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A slot of a type traces do not carry yet aborts too.
        let mut f = FunctionBuilder::new("g", 0, 0);
        let top = f.new_label();
        f.bind(top);
        f.op(Op::AddIImm, [s(0), s(0), Operand::Imm32(1)]);
        f.emit(Op::Loop, [Arg::Label(top)]);
        let code = assemble(f);
        let anchor = Op::AddIImm.encoded_len() as u32;
        let mut r = Recorder::new(0, anchor);
        let slots = [Value::bool(true)];
        assert!(matches!(
            r.step(0, anchor, &code, &slots, &|_, _| None),
            Step::Continue
        ));
        assert!(matches!(
            r.step(0, 0, &code, &slots, &|_, _| None),
            Step::Abort(_)
        ));
    }
}
