//! Inlining direct calls of small callees that can exit (a field or element access
//! that faults, an operand of another kind, a `match` arm that panics): permute's
//! `swap`, list's `next_of`, towers' `pop_disk_from`, and any short function of field,
//! array and arithmetic instructions whose one path may only branch off to fail. A direct call
//! costs about twenty instructions (the limit check, the frame record, the slots
//! cleared, the result through memory) plus the callee's loads of its arguments from
//! their slots; inlined, the callee's instructions run in the caller's fragment on its
//! registers.
//!
//! Unlike a [`super::Leaf`], such a callee's code can leave to the interpreter, which
//! must then find the callee's frame as the call would have left it: so the callee is
//! translated with its slots numbered from the caller's slot 0 (its slot `s` is the
//! caller's `a0 + s`, where the call would have put its frame), its instructions write
//! the slots a call would write, and every snapshot inside it names the frame
//! ([`crate::ir::SnapFrame`]): the exit's stub writes the pending values (the callee's
//! all, the caller's live after the call), then pushes the frame record the call would
//! have pushed (`emit::push_inlined_frames`), and the interpreter resumes in the callee
//! at the instruction, with the stack trace a fault would have had. The call's limit
//! check stays (`call.room`), so the frame an exit pushes fits, and at the stack limit
//! the interpreter makes the call and fails as always.

use super::{
    imm, next_object, next_read, slot, targets, Fun, Kind, Step, Tx, MAX_LEAF_INSNS, NONE,
};
use crate::ir::{BuildError, ClosureSrc, IrOp, IrType, SnapFrame};
use hashvm_format::insn::{Insn, Operand};
use hashvm_format::opcode::{Op, OperandKind};

/// The call being inlined while its callee is translated ([`Tx::inline_body`]).
pub(super) struct Inlining {
    /// The callee.
    func: u32,
    /// The callee's slot 0 in the caller's frame.
    a0: usize,
    /// One past the callee's last slot, in the caller's numbering.
    end: usize,
    /// The caller's instruction after the call.
    next: u32,
    /// The frame an exit inside the callee pushes.
    pub(super) frame: SnapFrame,
}

/// Whether the instructions of `fun` from index `n` only fail: constants, moves and
/// global loads, then `panic` or `matchfail` (a `match` arm that raises an error).
fn fails(fun: &Fun, n: usize) -> bool {
    use Op::*;
    for (_, i, _) in fun.insns.iter().skip(n) {
        match i.op {
            Panic | MatchFail => return true,
            LoadG | LoadI | LoadI64 | LoadF | LoadTrue | LoadFalse | LoadNil | LoadUnit | Mov => {}
            _ => return false,
        }
    }
    false
}

/// A step of the path an inlined callee runs ([`path`]).
pub(super) enum Walk {
    /// Translate the instruction, then go on with the next one on the path.
    Insn(usize),
    /// `jntag` whose other way only fails: guard that it goes on by jumping
    /// (`jumps`) or by falling through, as the path does.
    Branch { at: usize, jumps: bool },
    /// The return (`ret`, `retu` or `reti`).
    Ret(usize),
}

/// The path through `fun` (of `arity` parameters and `nslots` slots) that an inlined
/// call runs, if its calls may be inlined with exits: at most [`MAX_LEAF_INSNS`]
/// instructions that the translator handles without calls, helper calls or allocation
/// (moves, constants, global loads, arithmetic and comparisons, conversions, `field`,
/// `setfield`, `aget`, `aset`, `alen`, field-less constructors), forward `jmp`s, and `jntag`s one of
/// whose ways only fails ([`fails`]: a `match` arm that panics, left to the
/// interpreter by a guard), ending in `ret`, `retu` or `reti`, reading no slot it has not
/// written but its parameters (a pushed frame's other slots would be unit, the inlined
/// callee's hold what the caller left there).
pub(super) fn path(fun: &Fun, arity: u16, nslots: u16) -> Option<Vec<Walk>> {
    use Op::*;
    if arity > nslots {
        return None;
    }
    let mut set = vec![false; nslots as usize];
    set[..arity as usize].fill(true);
    let mut out = Vec::new();
    let mut n = 0;
    while out.len() < MAX_LEAF_INSNS {
        let (ip, i, _) = fun.insns.get(n)?;
        let empty = matches!(i.op, Con) && slot(i, 4) == 0;
        let ok = matches!(
            i.op,
            Ret | RetU
                | RetI
                | Jmp
                | JNTag
                | Mov
                | LoadI
                | LoadI64
                | LoadF
                | LoadTrue
                | LoadFalse
                | LoadNil
                | LoadUnit
                | LoadG
                | AddI64
                | SubI64
                | MulI64
                | DivI64
                | RemI64
                | AndI64
                | OrI64
                | XorI64
                | ShlI64
                | ShrI64
                | AddIImm
                | SubIImm
                | MulIImm
                | NegI64
                | BNotI64
                | EqI64
                | NeI64
                | LtI64
                | LeI64
                | Eq
                | Ne
                | AddF64
                | SubF64
                | MulF64
                | DivF64
                | AddKF64
                | SubKF64
                | MulKF64
                | DivKF64
                | RSubKF64
                | RDivKF64
                | NegF64
                | Sqrt
                | EqF64
                | NeF64
                | LtF64
                | LeF64
                | Not
                | I64ToF64
                | Field
                | Field2
                | SetField
                | AGet
                | ASet
                | ALen
        ) || empty;
        if !ok {
            return None;
        }
        for (kind, a) in i.op.operands().iter().zip(&i.args) {
            match (kind, a) {
                (OperandKind::Src, Operand::Slot(x))
                    if !set.get(*x as usize).copied().unwrap_or(false) =>
                {
                    return None
                }
                (OperandKind::Base, _) if !empty => return None,
                _ => {}
            }
        }
        for (kind, a) in i.op.operands().iter().zip(&i.args) {
            if let (OperandKind::Dst, Operand::Slot(x)) = (kind, a) {
                *set.get_mut(*x as usize)? = true;
            }
        }
        let forward = |to: u32| {
            (to > *ip)
                .then(|| fun.at.get(to as usize).copied())
                .flatten()
                .filter(|&m| m != usize::MAX)
        };
        match i.op {
            Ret | RetU | RetI => {
                out.push(Walk::Ret(n));
                return Some(out);
            }
            Jmp => n = forward(*targets(*ip, i).first()?)?,
            JNTag => {
                let (fall, to) = (n + 1, forward(*targets(*ip, i).first()?)?);
                let jumps = match (fails(fun, fall), fails(fun, to)) {
                    (true, false) => true,
                    (false, true) => false,
                    _ => return None,
                };
                out.push(Walk::Branch { at: n, jumps });
                n = if jumps { to } else { fall };
            }
            _ => {
                out.push(Walk::Insn(n));
                n += 1;
            }
        }
    }
    None
}

/// `i` with its slots numbered from the caller's slot 0 (`None` past the `u16` range).
fn shifted(i: &Insn, a0: usize) -> Option<Insn> {
    let mut j = i.clone();
    for a in j.args.iter_mut() {
        if let Operand::Slot(x) = a {
            *x = u16::try_from(*x as usize + a0).ok()?;
        }
    }
    Some(j)
}

impl Tx<'_> {
    /// Whether slot `s` must hold its value at an exit resuming at `ip`: inside an
    /// inlined callee, every slot of its frame (the interpreter goes on in it), and the
    /// caller's slots live after the call.
    pub(super) fn live_at(&self, ip: u32, s: usize) -> bool {
        match &self.inl {
            Some(c) => (c.a0..c.end).contains(&s) || (self.live)(c.next, s),
            None => (self.live)(ip, s),
        }
    }

    /// [`next_read`] for the function being translated (inside an inlined callee,
    /// the callee's, its slots renumbered).
    pub(super) fn read_hint(&self, ip: u32, s: usize) -> Option<IrType> {
        match &self.inl {
            Some(c) => {
                let fun = self.funs.get(c.func as usize)?.as_ref()?;
                next_read(fun, c.func, ip, s.checked_sub(c.a0)?)
            }
            None => (self.next_read)(ip, s),
        }
    }

    /// [`next_object`] likewise.
    pub(super) fn object_hint(&self, ip: u32, s: usize) -> bool {
        match &self.inl {
            Some(c) => self
                .funs
                .get(c.func as usize)
                .and_then(Option::as_ref)
                .zip(s.checked_sub(c.a0))
                .is_some_and(|(fun, s)| next_object(fun, ip, s)),
            None => (self.next_object)(ip, s),
        }
    }

    /// The `jntag` at `ip` of an inlined callee, testing slot `s` (the caller's
    /// numbering) against constructor `tag`, one of whose ways only fails: a guard that
    /// it goes the way the path goes (`jumps`: the constructor is not `tag`), whose exit
    /// resumes at the `jntag` with the callee's frame pushed (the interpreter then
    /// takes the failing way and raises its error). The value is tested in its slot,
    /// as a `jntag` in the caller is. False: not translated (one of proven
    /// i64/f64/bool kind faults, or the guard always fails).
    fn fail_guard(&mut self, ip: u32, s: usize, tag: usize, jumps: bool) -> bool {
        if self.kinds[s].ir().is_some() {
            return false;
        }
        self.flush_slots(&[s]);
        let snap = self.snap(ip);
        let idx = self
            .b
            .emit_raw(IrOp::CtorIdx, NONE, NONE, self.ctor_k(s), snap);
        let k = self.b.kint(tag as i64);
        let op = if jumps { IrOp::NeI } else { IrOp::EqI };
        let ok = self.b.guard(op, idx, k, snap).is_ok();
        if ok {
            // Past the guard, as past a `jntag`: a constructed value, whose index is
            // not 0 when the path is the way that proves it (`nonzero_edge`).
            self.kinds[s] = if jumps == (tag == 0) {
                self.kinds[s].nonzero(tag)
            } else {
                self.kinds[s].constructed_past()
            };
        }
        ok
    }

    /// Inlines the `callk` at `ip` if its callee may be inlined with exits ([`path`])
    /// and the translator handles all of its instructions here: the call's limit
    /// check, the slots of the callee's frame past the caller's cleared (as a push
    /// clears them: an exit's collection scans them), the callee's instructions on its
    /// slots in the caller's numbering, each snapshot naming the callee's frame, and
    /// its result into the destination. `None`: not inlined (nothing emitted).
    pub(super) fn inline_body(
        &mut self,
        ip: u32,
        i: &Insn,
        next: u32,
        shapes: &[(u16, u16)],
    ) -> Result<Option<Step>, BuildError> {
        let (f, a0, dst) = (imm(i, 1) as u32, slot(i, 2), slot(i, 0));
        if self.inl.is_some() || self.home.is_some() {
            return Ok(None);
        }
        let (Some(Some(fun)), Some(Some(walk)), Some(&(arity, nslots))) = (
            self.funs.get(f as usize),
            self.bodies.get(f as usize),
            shapes.get(f as usize),
        ) else {
            return Ok(None);
        };
        let (arity, end) = (arity as usize, a0 + nslots as usize);
        if end > u16::MAX as usize {
            return Ok(None);
        }
        let saved = (
            self.b.clone(),
            self.map.clone(),
            self.kinds.clone(),
            self.data.clone(),
            self.tags.clone(),
        );
        let mine = self.map.len();
        let s = self.snap(ip);
        self.b.emit_raw(IrOp::Room, NONE, NONE, end as u64, s);
        if end > mine {
            self.map.resize(end, None);
            self.kinds.resize(end, Kind::Any);
        }
        // The callee's slots past its arguments get the unit tag, as the interpreter's
        // push clears them (`sclear`: the tag word alone; nothing reads a unit's
        // payload, and the push leaves the old one too).
        for s in (a0 + arity).max(mine)..end {
            self.b.sclear(s as u32, false);
            self.written(s);
        }
        for k in &mut self.kinds[a0 + arity..end] {
            *k = Kind::Any;
        }
        self.inl = Some(Inlining {
            func: f,
            a0,
            end,
            next,
            frame: SnapFrame {
                func: f,
                base: a0 as u32,
                ret: dst as u16,
                resume: next,
                closure: ClosureSrc::Func(f),
            },
        });
        let caller_func = std::mem::replace(&mut self.func, f);
        let caller_fall = self.fall.take();
        // The slot the callee returns (`None` for `retu`), once every instruction
        // on its path before its return was translated.
        let mut result: Option<Option<usize>> = None;
        for w in walk {
            match *w {
                Walk::Ret(n) => {
                    let ci = &fun.insns[n].1;
                    result = Some(match ci.op {
                        Op::Ret => Some(a0 + slot(ci, 0)),
                        // The constant in the callee's slot 0, dead after the call,
                        // as a pending value: it is the result's register.
                        Op::RetI => {
                            let k = self.b.kint(imm(ci, 0));
                            self.set(a0, k);
                            Some(a0)
                        }
                        _ => None,
                    });
                    break;
                }
                Walk::Insn(n) => {
                    let (cip, ci, clen) = &fun.insns[n];
                    let Some(ci) = shifted(ci, a0) else { break };
                    if !matches!(self.step(*cip, &ci, *clen, shapes), Ok(Step::Next)) {
                        break;
                    }
                }
                Walk::Branch { at, jumps } => {
                    let (cip, ci, _) = &fun.insns[at];
                    if !self.fail_guard(*cip, a0 + slot(ci, 0), slot(ci, 1), jumps) {
                        break;
                    }
                }
            }
        }
        self.inl = None;
        self.func = caller_func;
        self.fall = caller_fall;
        let Some(result) = result else {
            (self.b, self.map, self.kinds, self.data, self.tags) = saved;
            return Ok(None);
        };
        // The result into the destination, as the callee's `ret` writes it.
        let kind = match result {
            Some(r) => match self.map[r] {
                Some((v, _)) => {
                    self.set(dst, v);
                    self.kind(dst)
                }
                None => {
                    // A result the callee's last operation copied into its slot whole
                    // (`field.ptr`: next_of's `e.next`) is copied into the destination
                    // instead: nothing runs between that copy and the return, so no
                    // exit sees the destination written before the return writes it,
                    // and the callee's slot, dead after the call, keeps the valid value
                    // it held before (the clear of the frame's slots). A slot past the
                    // caller's frame (`mine`) is one its code never reads.
                    let dead = r >= mine || !(self.live)(next, r);
                    if r != dst && !(dead && self.b.redirect_field_ptr(r, dst)) {
                        self.b
                            .emit_raw(IrOp::SCopy, NONE, NONE, (dst | r << 16) as u64, 0);
                    }
                    if r != dst {
                        self.written(dst);
                    }
                    Kind::Any
                }
            },
            None => {
                if (self.live)(next, dst) {
                    self.b.sunit(dst as u32);
                }
                self.written(dst);
                Kind::Any
            }
        };
        // As after a call: the slots from the callee's base up hold what it left
        // there (pending values stay pending), of no known kind but the result.
        self.map.truncate(mine);
        self.kinds.truncate(mine);
        Ok(self.end_inlined(a0, dst, kind, next))
    }
}
