//! Loop peeling (LuaJIT's `lj_opt_loop.c`, in this IR's terms): a recorded loop trace
//! becomes a *pre-roll*, the iteration as recorded (slot loads with their tag guards,
//! the slot stores where the interpreter writes), followed by a *loop body*: the same
//! instructions re-emitted through the [`TraceBuilder`] with their operands
//! substituted, after `phi`s that carry the slots' values from one iteration to the
//! next in registers.
//!
//! Because the body goes through the builder's CSE table, which holds the pre-roll,
//! everything the body computes from values that do not change across iterations is
//! the pre-roll's instruction: invariant arithmetic, constant loads, header and kind
//! guards, global loads and the guards of invariant values are hoisted, and a guard
//! whose pre-roll twin is identical disappears (it held once on the same operands).
//!
//! Slots in the body:
//! - A slot the trace writes (`sstore`) is not written in the body: its value stays in
//!   a register and is an entry of every body snapshot, so an exit from the body writes
//!   it (every written slot, with the value the interpreter would have there). A slot
//!   read in the body before the iteration writes it is the value the previous
//!   iteration wrote: the slot's `phi`, with no load and no tag check. The back-edge
//!   moves each slot's new value into its `phi`'s register ([`Trace::phis`]).
//! - A slot the trace never writes keeps its pre-roll load (invariant).
//! - A slot cleared (`sclear`, `sunit`: an inlined callee's fresh slots) holds the
//!   unit constant from there, like any written slot. A slot whose last write in the
//!   iteration is a clear is unit in memory from the pre-roll on (no phi); the body
//!   loads it from there where it reads it before clearing it.
//! - Where the body's code reads the frame in memory (the callee guards of inlined
//!   `call`s, `guard.func` and `guard.closure`), the slot's value is stored first.
//! - Snapshot entries name only slots of a frame: where no inlined frame is live,
//!   slots from [`Trace::frame_slots`] up belong to none (an inlined callee's, after
//!   it returned), and a phi that nothing in the body reads is dropped.
//!
//! Traces that call out (helper calls, C calls, native recursion) read and write the
//! whole frame in memory and lose every register at the call: they are not peeled, nor
//! are function-entry and side traces (which are not loops of their own). A trace
//! whose loop-carried slot changes type from one iteration to the next (the body's
//! read of it would always fail its guard) is not peeled either: it runs as recorded.

use crate::ir::{flag, heap_load, IrOp, Ref, Snapshot, Trace, TraceBuilder, NONE};
use hashvm_vm::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The peeled form of the loop trace `t`, or `None` when it is not peeled (see the
/// module's documentation for which).
pub fn peel(t: &Trace) -> Option<Trace> {
    // Values of the pre-roll the body reads through load forwarding and that change
    // across iterations: each gets a phi. Found by peeling, then peeling again with
    // them carried (a few rounds at most: the set only grows).
    let mut carried = BTreeSet::new();
    for _ in 0..4 {
        match peel_with(t, &carried)? {
            Ok(p) => return Some(p),
            Err(more) => carried.extend(more),
        }
    }
    None
}

/// [`peel`] with the pre-roll values `carried` in phis; `Err` with more such values
/// when the body reads others.
fn peel_with(t: &Trace, carried: &BTreeSet<Ref>) -> Option<Result<Trace, BTreeSet<Ref>>> {
    // A trace that ends in a link, or changes the frame it runs in, is not a loop.
    if t.entry.is_some()
        || t.returns
        || t.loop_start.is_some()
        || !t.tail.is_empty()
        || t.link.is_some()
        || t.pops
    {
        return None;
    }
    if t.ins.iter().any(|i| {
        matches!(
            i.op,
            IrOp::CallRecK
                | IrOp::CallRecSelf
                | IrOp::RetRec
                | IrOp::CallInsn
                | IrOp::CallC
                | IrOp::Phi
                | IrOp::RetDown
                | IrOp::Link
                | IrOp::TailBase
        ) || i.op.flags() & (flag::LOAD | flag::STORE) == (flag::LOAD | flag::STORE)
    }) {
        return None;
    }
    // The state of each written slot after one iteration: `Some(v)` when its last
    // write is `sstore v`, `None` when a memory write (`sclear`, `sunit`).
    let mut after: BTreeMap<u16, Option<Ref>> = BTreeMap::new();
    for i in &t.ins {
        match i.op {
            IrOp::SStore => {
                after.insert(slot16(i.k)?, Some(i.a));
            }
            IrOp::SClear | IrOp::SUnit => {
                after.insert(slot16(i.k)?, None);
            }
            _ => {}
        }
    }
    let written: BTreeSet<u16> = after.keys().copied().collect();
    // The body writes a slot in memory only before a callee guard reads it there; a
    // slot cleared last in the iteration is read from memory (unit since the
    // pre-roll) before the body clears it: no callee guard may have stored to it.
    if t.ins.iter().any(|i| {
        matches!(i.op, IrOp::GFunc | IrOp::GClosure)
            && matches!(after.get(&((i.k & 0xffff_ffff) as u16)), Some(None))
    }) {
        return None;
    }
    let mut b = TraceBuilder::resume(t.clone());
    // The loop-carried slots' registers.
    let mut phi_of: BTreeMap<u16, Ref> = BTreeMap::new();
    for (&s, v) in &after {
        if let Some(v) = *v {
            let tw = b.tagword(v);
            phi_of.insert(s, b.emit_raw_tw(IrOp::Phi, v, NONE, 0, tw, 0));
        }
    }
    // The forwarded values of the previous iteration (see `peel`).
    let mut phi_val: BTreeMap<Ref, Ref> = BTreeMap::new();
    for &r in carried {
        let tw = b.tagword(r);
        phi_val.insert(r, b.emit_raw_tw(IrOp::Phi, r, NONE, 0, tw, 0));
    }
    let loop_start = b.len() as u32;
    // Pre-roll values the body's loads were forwarded to.
    let mut hits: BTreeSet<Ref> = BTreeSet::new();
    // Each written slot's value in registers at this point of the body (the slots not
    // here are in memory).
    let mut cur: BTreeMap<u16, Ref> = phi_of.clone();
    let mut sub: Vec<Ref> = vec![NONE; t.ins.len()];
    let map = |sub: &[Ref], r: Ref| {
        if r == NONE {
            NONE
        } else {
            sub[r.0 as usize]
        }
    };
    for (j, ins) in t.ins.iter().enumerate() {
        let guard = ins.op.flags() & flag::GUARD != 0;
        let snap = if guard {
            body_snap(&mut b, t, &t.snaps[ins.snap as usize], &cur, &sub)
        } else {
            0
        };
        match ins.op {
            IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB | IrOp::SLoad => {
                let s = slot16(ins.k)?;
                sub[j] = if let Some(&v) = cur.get(&s) {
                    // The previous iteration's (or this one's) value: its type must be
                    // the one the load guards, or the loop is not type-stable.
                    if b.tagword(v) != t.tagword(Ref(j as u32)) {
                        return None;
                    }
                    v
                } else if !written.contains(&s) {
                    Ref(j as u32)
                } else {
                    b.emit_raw_tw(ins.op, NONE, NONE, ins.k, ins.tw, snap)
                };
            }
            IrOp::SStore => {
                cur.insert(slot16(ins.k)?, map(&sub, ins.a));
            }
            IrOp::SClear | IrOp::SUnit => {
                // The slot holds unit from here, as a value in a register like any
                // other written slot (`sclear` leaves the old payload under the unit
                // tag, but nothing reads a unit's payload: the collector and every
                // instruction go by the tag).
                let unit = b.kval(Value::UNIT).ok()?;
                cur.insert(slot16(ins.k)?, unit);
            }
            IrOp::GFunc | IrOp::GClosure => {
                let s = slot16(ins.k & 0xffff_ffff)?;
                if let Some(&v) = cur.get(&s) {
                    b.emit_raw_tw(IrOp::SStore, v, NONE, s as u64, 0, 0);
                }
                b.emit_raw_tw(ins.op, NONE, NONE, ins.k, ins.tw, snap);
            }
            _ => {
                let k = if ins.op == IrOp::HStore {
                    map(&sub, Ref(ins.k as u32)).0 as u64
                } else {
                    ins.k
                };
                let (a, bb) = (map(&sub, ins.a), map(&sub, ins.b));
                let mut r = b.reemit(ins.op, a, bb, k, ins.tw, snap);
                if (r.0 as usize) < t.ins.len() && heap_load(ins.op) {
                    // In the body, the pre-roll's value is the previous iteration's.
                    hits.insert(r);
                    if let Some(&p) = phi_val.get(&r) {
                        r = p;
                    }
                }
                sub[j] = r;
            }
        }
    }
    let variant: BTreeSet<Ref> = hits
        .into_iter()
        .filter(|r| sub[r.0 as usize] != *r && !carried.contains(r))
        .collect();
    if !variant.is_empty() {
        return Some(Err(variant));
    }
    let anchor = &t.snaps[0];
    let entries: Vec<(u16, Ref)> = phi_of
        .iter()
        .filter(|(&s, _)| live(t, anchor, s))
        .map(|(&s, &p)| (s, p))
        .collect();
    let loop_snap = b.snapshot_in(anchor.resume_ip, entries, &anchor.frames);
    let mut out = b.into_trace();
    // A phi nothing in the body reads (no operand, no snapshot entry, no move into a
    // phi that is read) is dropped: its slot's value from the previous iteration is
    // never observed (a slot of an inlined frame, cleared before it is read).
    let mut read = vec![false; out.ins.len()];
    for ins in &out.ins[loop_start as usize..] {
        for r in [ins.a, ins.b] {
            if let Some(x) = read.get_mut(r.0 as usize) {
                *x = true;
            }
        }
        if ins.op == IrOp::HStore {
            read[ins.k as usize] = true;
        }
        if ins.op.flags() & flag::GUARD != 0 {
            for &(_, r) in &out.snaps[ins.snap as usize].entries {
                read[r.0 as usize] = true;
            }
        }
    }
    for &(_, r) in &out.snaps[loop_snap as usize].entries {
        read[r.0 as usize] = true;
    }
    let mut moves = Vec::with_capacity(phi_of.len());
    for (s, &p) in &phi_of {
        moves.push((p, *cur.get(s)?));
    }
    for (&r, &p) in &phi_val {
        moves.push((p, sub[r.0 as usize]));
    }
    loop {
        let mut changed = false;
        for &(p, v) in &moves {
            if read[p.0 as usize] && !read[v.0 as usize] {
                read[v.0 as usize] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let phis: Vec<(Ref, Ref)> = moves
        .into_iter()
        .filter(|&(p, _)| read[p.0 as usize])
        .collect();
    out.loop_start = Some(loop_start);
    out.phis = phis;
    out.loop_snap = loop_snap;
    Some(Ok(out))
}

/// Whether slot `s` belongs to a frame at snapshot `snap`: the trace frame's, or, where
/// inlined frames are live, any (a slot above every frame is never read before a call
/// clears it).
fn live(t: &Trace, snap: &Snapshot, s: u16) -> bool {
    t.frame_slots == 0 || !snap.frames.is_empty() || (s as u32) < t.frame_slots
}

/// A slot number that fits a snapshot entry.
fn slot16(k: u64) -> Option<u16> {
    u16::try_from(k).ok()
}

/// The body's copy of snapshot `s`: its resume point and frames, and as entries every
/// written slot's value in registers at this point (`cur`) over the recorded entries.
fn body_snap(
    b: &mut TraceBuilder,
    t: &Trace,
    s: &Snapshot,
    cur: &BTreeMap<u16, Ref>,
    sub: &[Ref],
) -> u32 {
    let mut e: BTreeMap<u16, Ref> = s
        .entries
        .iter()
        .map(|&(slot, r)| (slot, sub[r.0 as usize]))
        .collect();
    e.extend(
        cur.iter()
            .filter(|(&slot, _)| live(t, s, slot))
            .map(|(&s, &r)| (s, r)),
    );
    b.snapshot_in(s.resume_ip, e.into_iter().collect(), &s.frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::IrType;

    /// `r0 += 1; r1 := r2 * 3` while `r0 < r2` (r2 invariant).
    fn counting_loop() -> Trace {
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let i = b.sload(0, IrType::I64, s);
        let one = b.kint(1);
        let i1 = b.arith(IrOp::AddI, i, one).unwrap();
        b.sstore(0, i1);
        let n = b.sload(2, IrType::I64, s);
        let three = b.kint(3);
        let m = b.arith(IrOp::MulI, n, three).unwrap();
        b.sstore(1, m);
        let s2 = b.snapshot(7, vec![]);
        b.guard(IrOp::LtI, i1, n, s2).unwrap();
        b.finish(vec![])
    }

    #[test]
    fn invariants_are_hoisted_and_carried_slots_become_phis() {
        let t = counting_loop();
        let p = peel(&t).expect("peeled");
        let ls = p.loop_start.unwrap() as usize;
        let body = &p.ins[ls..];
        // No slot load, no slot store, no multiplication in the body: r2 * 3 is the
        // pre-roll's, the slots stay in registers.
        assert!(body
            .iter()
            .all(|i| !matches!(i.op, IrOp::SLoadI | IrOp::SStore | IrOp::MulI)));
        // One add and one guard: the counter's increment on its phi.
        assert_eq!(body.len(), 2);
        assert_eq!(body[0].op, IrOp::AddI);
        assert_eq!(body[1].op, IrOp::LtI);
        let phis: Vec<_> = p.ins[..ls]
            .iter()
            .enumerate()
            .filter(|(_, i)| i.op == IrOp::Phi)
            .map(|(k, _)| Ref(k as u32))
            .collect();
        assert_eq!(phis.len(), 2, "r0 and r1 are carried");
        assert!(body[0].a == phis[0] || body[0].b == phis[0]);
        // The back-edge carries the new counter into r0's phi, and r1's invariant
        // value into its own.
        assert_eq!(p.phis[0], (phis[0], Ref(ls as u32)));
        assert_eq!(p.phis[1].0, phis[1]);
        assert_eq!(p.ins[p.phis[1].1 .0 as usize].op, IrOp::MulI);
        // The body's guard exits with both slots written back.
        let snap = &p.snaps[body[1].snap as usize];
        assert_eq!(snap.resume_ip, 7);
        assert_eq!(snap.entries, vec![(0, Ref(ls as u32)), (1, p.phis[1].1)]);
        // The back-edge's poll resumes at the header with the phis written back.
        let ls_snap = &p.snaps[p.loop_snap as usize];
        assert_eq!(ls_snap.entries, vec![(0, phis[0]), (1, phis[1])]);
    }

    #[test]
    fn a_field_stored_each_iteration_is_carried_and_invariant_fields_hoisted() {
        // `o.0 := o.0 + o.1` while `o.0 < r1`, o in slot 0 (never written).
        let f = hashvm_vm::Tag::F64 as u64;
        let mut b = TraceBuilder::new(0);
        b.set_forwarding();
        let s = b.snapshot(0, vec![]);
        let o = b.sload_tw(0, hashvm_vm::Tag::OBJ as u64, s);
        let x = b.fload(o, 0, f, s).unwrap();
        let y = b.fload(o, 1, f, s).unwrap();
        let x1 = b.arith(IrOp::AddF, x, y).unwrap();
        let k0 = b.kint(0);
        b.hstore(o, k0, x1, s).unwrap();
        let n = b.sload(1, IrType::F64, s);
        let s2 = b.snapshot(3, vec![]);
        b.guard(IrOp::LtF, x1, n, s2).unwrap();
        let p = peel(&b.finish(vec![])).expect("peeled");
        let ls = p.loop_start.unwrap() as usize;
        let ops: Vec<IrOp> = p.ins[ls..].iter().map(|i| i.op).collect();
        // No load: o.1 is the pre-roll's, o.0 the previous iteration's store.
        assert_eq!(ops, vec![IrOp::AddF, IrOp::HStore, IrOp::LtF], "{ops:?}");
        let add = p.ins[ls];
        assert_eq!(p.ins[add.a.0 as usize].op, IrOp::Phi);
        assert_eq!(add.b, y);
        assert_eq!(p.phis, vec![(add.a, Ref(ls as u32))]);
    }

    #[test]
    fn a_slot_that_changes_type_is_not_peeled() {
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::I64, s);
        let f = b.unary(IrOp::ItoF, x).unwrap();
        b.sstore(0, f);
        assert!(peel(&b.finish(vec![])).is_none());
    }

    #[test]
    fn traces_that_call_out_are_not_peeled() {
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::I64, s);
        b.sstore(1, x);
        b.call_insn(
            crate::ir::HelperCall {
                func: 0,
                ip: 0,
                base: 0,
                live: 2,
            },
            s,
        );
        assert!(peel(&b.finish(vec![])).is_none());
    }

    #[test]
    fn cleared_slots_are_unit_constants_in_the_body() {
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        // Slot 4 is read, then cleared: its read in the body loads the unit the
        // pre-roll's clear left in memory. Slot 3 is written, cleared, read.
        let z = b.sload_tw(4, hashvm_vm::Tag::UNIT as u64, s);
        let x = b.sload(0, IrType::I64, s);
        b.sstore(3, x);
        b.sclear(3);
        b.sclear(4);
        let s2 = b.snapshot(5, vec![]);
        let y = b.sload_tw(3, hashvm_vm::Tag::UNIT as u64, s2);
        let _ = (y, z);
        let p = peel(&b.finish(vec![])).expect("peeled");
        let ls = p.loop_start.unwrap() as usize;
        let ops: Vec<IrOp> = p.ins[ls..].iter().map(|i| i.op).collect();
        // The reload of slot 4 and the unit constant: no store, no clear, and slot 3's
        // read is the constant.
        assert_eq!(ops, vec![IrOp::SLoad, IrOp::KVal], "{ops:?}");
        assert_eq!(p.ins[ls].k, 4);
        assert!(p.phis.is_empty(), "slots 3 and 4 end cleared");
    }
}
