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
//! - Snapshot entries name only slots *live* at the snapshot's resume point in the
//!   bytecode ([`Lives`], LuaJIT's `snap_usedef`, from `hashvm_format::liveness`): an
//!   exit leaves a dead slot as it is in memory (an older value of the same slot,
//!   which the pre-roll or an earlier run wrote: always a valid value, which is all
//!   the collector needs), and the interpreter never reads it before writing it. So
//!   a bytecode temporary (written and read within one iteration) is in no snapshot,
//!   its phi is read by nothing and is dropped: no register carried across the
//!   back-edge, no move, no store at the exits.
//!
//! Traces that call out (helper calls, C calls, native recursion) read and write the
//! whole frame in memory and lose every register at the call: they are not peeled, nor
//! are function-entry and side traces (which are not loops of their own). A trace
//! whose loop-carried slot changes type from one iteration to the next (the body's
//! read of it would always fail its guard) is not peeled either: it runs as recorded.

use crate::fxhash::FxHashMap;
use crate::ir::{
    flag, heap_load, ClosureSrc, IrOp, Ref, Snapshot, SunkObject, Trace, TraceBuilder, NONE,
};
use hashvm_format::liveness::Liveness;
use hashvm_vm::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// The bytecode liveness a trace's snapshots are filtered by: the function of the
/// trace's frame and the liveness of every function the trace runs in (its own and
/// the inlined ones; a function missing from the map has every slot live).
#[derive(Clone, Copy)]
pub struct Lives<'a> {
    /// The function of the trace's frame (its anchor's).
    pub func: u32,
    /// Per function: its liveness (computed once per function per load: the JIT's cache).
    /// `None`: no liveness known, every slot is live.
    pub by_func: Option<&'a FxHashMap<u32, Rc<Liveness>>>,
}

impl Lives<'_> {
    /// No liveness known: every slot is live.
    pub fn unknown() -> Lives<'static> {
        Lives {
            func: u32::MAX,
            by_func: None,
        }
    }

    /// Whether slot `s` (from the trace frame's slot 0) may be read by the interpreter
    /// after an exit through `snap` before it writes it: its frame (the innermost one
    /// whose base is at or below `s`) is live there at the instruction that frame
    /// resumes at (the snapshot's for the innermost, the call's next instruction for
    /// a caller). True when unknown (a frame run by another function than the trace
    /// recorded, a function without liveness), and for a slot an inlined frame's
    /// closure is read from at the exit.
    pub fn slot_live(&self, snap: &Snapshot, s: u16) -> bool {
        let Some(by_func) = self.by_func else {
            return true;
        };
        let s = s as u32;
        // An exit reads an inlined frame's closure from the caller's slot that named it.
        if snap.displaced.is_some() || snap.frames.iter().any(|f| f.closure == ClosureSrc::Slot(s))
        {
            return true;
        }
        // The innermost frame holding the slot: a slot above an inlined frame's
        // extent is its caller's (the callee never touches it), so the caller's
        // liveness after the call decides (main's locals above a small callee's
        // frame were all live at every exit inside the callee, and kept their
        // objects from being sunk).
        let mut inner = snap.frames.iter().rposition(|f| f.base <= s);
        loop {
            let (func, ip, rel) = match inner {
                None => (
                    self.func,
                    snap.frames.first().map_or(snap.resume_ip, |f| f.resume),
                    s,
                ),
                Some(i) => (
                    snap.frames[i].func,
                    snap.frames.get(i + 1).map_or(snap.resume_ip, |f| f.resume),
                    s - snap.frames[i].base,
                ),
            };
            let Some(l) = by_func.get(&func) else {
                return true;
            };
            match inner {
                Some(i) if rel as usize >= l.nslots() => inner = i.checked_sub(1),
                _ => return l.live(ip, rel as usize),
            }
        }
    }
}

/// The peeled form of the loop trace `t`, or `None` when it is not peeled (see the
/// module's documentation for which).
pub fn peel(t: &Trace, lives: Lives<'_>) -> Option<Trace> {
    // Values of the pre-roll the body reads through load forwarding and that change
    // across iterations: each gets a phi. Found by peeling, then peeling again with
    // them carried (a few rounds at most: the set only grows).
    let mut carried = BTreeSet::new();
    for _ in 0..4 {
        match peel_with(t, &carried, lives)? {
            Ok(p) => return Some(p),
            Err(more) => carried.extend(more),
        }
    }
    None
}

/// [`peel`] with the pre-roll values `carried` in phis; `Err` with more such values
/// when the body reads others.
fn peel_with(
    t: &Trace,
    carried: &BTreeSet<Ref>,
    lives: Lives<'_>,
) -> Option<Result<Trace, BTreeSet<Ref>>> {
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
            body_snap(&mut b, t, &t.snaps[ins.snap as usize], &cur, &sub, lives)
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
        .filter(|(&s, _)| live(t, anchor, s) && lives.slot_live(anchor, s))
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
    // The phis nothing reads go: each would hold its pre-roll value alive up to it
    // (register pressure in the pre-roll, which made spectralnorm's loops spill their
    // invariants for the whole trace) for a copy no one uses.
    // (A snapshot no guard uses, made for a body guard that then folded into its
    // pre-roll twin, still gets exit code: a phi it names stays, unmoved.)
    let mut named = vec![false; out.ins.len()];
    for s in &out.snaps {
        for &(_, r) in &s.entries {
            named[r.0 as usize] = true;
        }
    }
    let dead: Vec<bool> = out
        .ins
        .iter()
        .enumerate()
        .map(|(i, ins)| ins.op == IrOp::Phi && !read[i] && !named[i])
        .collect();
    remove(&mut out, &dead);
    Some(Ok(out))
}

/// The most guards a sunk slot store's value may be written at (see
/// [`sink_slot_stores`]).
const SINK_MAX_EXITS: usize = 12;

/// The most guards a sunk slot store's range may span (see [`sink_slot_stores`]).
const SINK_MAX_SCAN: usize = 64;

/// Whether `op` reads or writes the frame slot `k` (and nothing else in memory): the
/// slot loads and stores that store sinking and scratch-slot numbering look at.
fn slot_op(op: IrOp) -> bool {
    matches!(
        op,
        IrOp::SLoadI
            | IrOp::SLoadF
            | IrOp::SLoadB
            | IrOp::SLoad
            | IrOp::SStore
            | IrOp::SClear
            | IrOp::SUnit
    )
}

/// Sinks the slot stores of a trace's straight part (a peeled trace's pre-roll, a
/// whole unpeeled or side trace) into the snapshots of the exits after them (LuaJIT
/// keeps slot values in snapshots the same way): `sstore s := v` is dropped, and every
/// guard after it, up to the next write of `s`, exits through a copy of its snapshot
/// that also writes `v` to `s` (where `s` is live there); at the trace's end the
/// value goes to its link's snapshot (a guard like the others) or to the back-edge's
/// write-back ([`Trace::tail`]); a peeled body carries it in its phi already. A store
/// stays when the trace reads the slot in memory before writing it again (a slot
/// load, a callee guard) or moves its frame (`ret.down`, `tcall.base`, which
/// renumber the slots). An exit where the slot is dead leaves it as it is in memory
/// only for the trace frame's own slots (below [`Trace::frame_slots`]: memory there
/// always holds a valid value, the one the slot had before, for the collector) and
/// the slots the trace cleared in memory before (unit there); any other slot (an
/// inlined frame's argument) is written at every exit of the store's range, so
/// that each exit finds memory as the store would have left it. Traces that call out
/// of the trace (every slot in memory at the call) sink nothing. nbody's trees
/// stored 25 slots (two words each) in each pass of the pair loop's pre-roll and 60
/// in the outer loop's side trace: their exits write them now, and the exits are
/// rare. Returns how many stores were sunk.
pub fn sink_slot_stores(t: &mut Trace, lives: Lives<'_>) -> usize {
    let sinkable_trace = t.entry.is_none()
        && !t.returns
        && t.ins.iter().all(|i| {
            i.op.flags() & (flag::LOAD | flag::STORE) == 0
                || heap_op(i.op)
                || slot_op(i.op)
                || matches!(
                    i.op,
                    IrOp::GFunc
                        | IrOp::GClosure
                        | IrOp::Link
                        | IrOp::Phi
                        | IrOp::RetDown
                        | IrOp::TailBase
                )
        });
    if !sinkable_trace {
        return 0;
    }
    let n = t.ins.len();
    let end = t.loop_start.map_or(n, |l| l as usize);
    // A frame move (`ret.down`, `tcall.base`) renumbers the slots: no store is sunk
    // across one.
    let moves = |op: IrOp| matches!(op, IrOp::RetDown | IrOp::TailBase);
    // Which stores can go: a backward sweep finds, for each, what the trace does
    // next with its slot (a read in memory keeps it, a write ends its range) and
    // whether a frame move comes first (which keeps it).
    // Per store that may go: where its range ends (the next write of its slot, or
    // the trace's end).
    let mut sinks: Vec<Option<usize>> = vec![None; end];
    {
        // Per slot: its next event, a read (`true`) or a write, and where.
        let mut next: FxHashMap<u16, (bool, usize)> = FxHashMap::default();
        let mut moves_after = false;
        for p in (0..end).rev() {
            let ins = t.ins[p];
            match ins.op {
                op if moves(op) => {
                    moves_after = true;
                    next.clear();
                }
                IrOp::SStore => {
                    if let Some(s) = slot16(ins.k) {
                        let q = match next.get(&s) {
                            Some(&(false, q)) => Some(q),
                            Some(&(true, _)) => None,
                            None => (!moves_after).then_some(end),
                        };
                        sinks[p] = q;
                        next.insert(s, (false, p));
                    }
                }
                IrOp::SClear | IrOp::SUnit => {
                    if let Some(s) = slot16(ins.k) {
                        next.insert(s, (false, p));
                    }
                }
                IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB | IrOp::SLoad => {
                    if let Some(s) = slot16(ins.k) {
                        next.insert(s, (true, p));
                    }
                }
                IrOp::GFunc | IrOp::GClosure => {
                    if let Some(s) = slot16(ins.k & 0xffff_ffff) {
                        next.insert(s, (true, p));
                    }
                }
                _ => {}
            }
        }
    }
    // (store position, slot, value, whether an exit where the slot is dead may leave
    // it as it is in memory).
    let mut sunk: Vec<(usize, u16, Ref, bool)> = Vec::new();
    let mut moved = false;
    // Slots written in memory (`sclear`, `sunit`) since the last frame move: they
    // hold a valid value there from then on.
    let mut cleared: BTreeSet<u16> = BTreeSet::new();
    for (p, &range) in sinks.iter().enumerate() {
        let ins = t.ins[p];
        if moves(ins.op) {
            moved = true;
            cleared.clear();
        }
        if matches!(ins.op, IrOp::SClear | IrOp::SUnit) {
            if let Some(s) = slot16(ins.k) {
                cleared.insert(s);
            }
        }
        let (Some(q), Some(s)) = (range, slot16(ins.k)) else {
            continue;
        };
        // A slot of the trace's own frame (before any frame move) always holds a
        // valid value in memory, so an exit where it is dead may leave it, as may
        // one of a slot the trace cleared in memory before (an inlined frame's
        // unfilled slot: unit there); any other (an inlined frame's argument, whose
        // memory may hold what an older frame left there) is written at every exit
        // of its range, dead or not.
        let own = (!moved && (s as u32) < t.frame_slots) || cleared.contains(&s);
        // A store whose value more than `SINK_MAX_EXITS` exits would write stays
        // (exit code grows with ranges times guards; pmap's long traces doubled their
        // code sinking all). Exits where the slot is dead do not count: in a long
        // straight trace (a side trace that unrolled its root's loop) a temporary's
        // range runs to its next write, a pass later, and is mostly dead.
        // (Looked at up to `SINK_MAX_SCAN` guards on: a longer range stays, so that
        // the look stays linear in the trace.)
        let mut guards = (p + 1..q).filter(|&g| t.ins[g].op.flags() & flag::GUARD != 0);
        let writes = guards
            .by_ref()
            .take(SINK_MAX_SCAN)
            .filter(|&g| writes_at(t, &t.snaps[t.ins[g].snap as usize], s, own, lives))
            .take(SINK_MAX_EXITS + 1)
            .count();
        if writes <= SINK_MAX_EXITS && guards.next().is_none() {
            sunk.push((p, s, ins.a, own));
        }
    }
    if sunk.is_empty() {
        return 0;
    }
    // Each guard's snapshot with the values pending at it: one sweep, the pending
    // stores by slot; a copy per snapshot and pending set (`version` counts the
    // changes of the set), shared by the guards that name both.
    let mut at: Vec<Option<usize>> = vec![None; end];
    for (x, &(p, ..)) in sunk.iter().enumerate() {
        at[p] = Some(x);
    }
    let mut pending: BTreeMap<u16, (Ref, bool)> = BTreeMap::new();
    let mut version = 0u64;
    let mut copies: FxHashMap<(u32, u64), u32> = FxHashMap::default();
    for (g, &here) in at.iter().enumerate() {
        let ins = t.ins[g];
        if ins.op.flags() & flag::GUARD != 0 && !pending.is_empty() {
            let k = ins.snap;
            let c = match copies.get(&(k, version)) {
                Some(&c) => c,
                None => {
                    let snap = &t.snaps[k as usize];
                    let add: Vec<(u16, Ref)> = pending
                        .iter()
                        .filter(|&(&s, &(_, own))| writes_at(t, snap, s, own, lives))
                        .map(|(&s, &(v, _))| (s, v))
                        .collect();
                    let c = if add.is_empty() {
                        k
                    } else {
                        let mut copy = snap.clone();
                        copy.entries.extend(add);
                        copy.entries.sort_unstable_by_key(|e| e.0);
                        t.snaps.push(copy);
                        t.snaps.len() as u32 - 1
                    };
                    copies.insert((k, version), c);
                    c
                }
            };
            t.ins[g].snap = c;
            if ins.op == IrOp::Link {
                if let Some(l) = &mut t.link {
                    l.0 = c;
                }
            }
        }
        if matches!(ins.op, IrOp::SStore | IrOp::SClear | IrOp::SUnit) {
            if let Some(s) = slot16(ins.k) {
                if pending.remove(&s).is_some() {
                    version += 1;
                }
            }
        }
        if let Some(x) = here {
            let (_, s, v, own) = sunk[x];
            pending.insert(s, (v, own));
            version += 1;
        }
    }
    // The values still pending at the end of an unpeeled loop go to the back-edge's
    // write-back (a trace that links has written them at its link's exit), those of
    // slots the loop header (snapshot 0, where the back-edge's interrupt exit
    // resumes and the next pass starts) reads: the rule of every exit
    // ([`writes_at`]). A slot dead there is written before it is read on every path
    // from the header, by the next pass's code or the interpreter after its exit
    // (which then writes it where that exit names it); until then memory keeps a
    // valid value for the collector: an own slot's older one, and above the frame,
    // where no frame is live at the header, a slot no collection scans before a
    // frame covering it writes or clears it. awfy_bounce's loop wrote the inlined
    // `bounce`'s argument and locals and the loop's cached length back every pass
    // (7 of its 8 tail slots, 14 stores).
    if t.loop_start.is_none() && t.link.is_none() {
        let back = &t.snaps[0];
        let tail: Vec<(u16, Ref)> = pending
            .iter()
            .filter(|&(&s, &(_, own))| writes_at(t, back, s, own, lives))
            .map(|(&s, &(v, _))| (s, v))
            .collect();
        t.tail.extend(tail);
    }
    let mut dead = vec![false; n];
    for &(p, ..) in &sunk {
        dead[p] = true;
    }
    remove(t, &dead);
    sunk.len()
}

/// Whether an exit through `snap` writes the sunk value of slot `s` (`own`: a slot
/// memory holds a valid value of, which an exit where it is dead leaves as it is; see
/// [`sink_slot_stores`]).
fn writes_at(t: &Trace, snap: &Snapshot, s: u16, own: bool, lives: Lives<'_>) -> bool {
    !snap.entries.iter().any(|e| e.0 == s)
        && (snap.displaced.is_some() || live(t, snap, s))
        && (!own || lives.slot_live(snap, s))
}

/// Merges the bounds checks of a field access (`guard.len`) on one object: a later
/// `guard.len a, k2` becomes the earlier `guard.len a, k1` (k1 < k2) raised to k2.
/// An object's length never changes, so the merged guard fails exactly when one of
/// the two would; it fails earlier, before anything the trace does between the two
/// accesses (heap and slot stores, allocations, calls: none has run when it exits),
/// and the interpreter, resuming at the earlier access, runs those for itself and
/// faults at the later one with the same error and stack trace (LuaJIT's ABC
/// elimination, for constant indexes; guard strengthening). nbody's pair loop checked
/// body j's length four times an iteration (`x`, `y`, `z`, `mass`), and body i's
/// four times in the pre-roll, between its velocity stores: once each now. A peeled
/// trace's pre-roll and body are merged apart (the body runs again). Returns how
/// many guards went.
pub fn merge_len_guards(t: &mut Trace) -> usize {
    let n = t.ins.len();
    let ls = t.loop_start.map_or(usize::MAX, |l| l as usize);
    let mut dead = vec![false; n];
    for p in 0..n {
        if t.ins[p].op != IrOp::GLen || dead[p] {
            continue;
        }
        let obj = t.ins[p].a;
        let mut k = t.ins[p].k;
        // A pre-roll's guard up to the peeled body's start; others to the end.
        let end = if p < ls { ls.min(n) } else { n };
        for (q, d) in dead.iter_mut().enumerate().take(end).skip(p + 1) {
            let ins = t.ins[q];
            if ins.op == IrOp::GLen && ins.a == obj {
                k = k.max(ins.k);
                *d = true;
            }
        }
        t.ins[p].k = k;
    }
    let merged = dead.iter().filter(|&&d| d).count();
    if merged > 0 {
        remove(t, &dead);
    }
    merged
}

/// Drops the slot stores of a trace (a loop tree's, root or side, recorded in the
/// anchor's function, `lives.func`; or a function-entry tree's, in that function)
/// whose value no one can read: the store of slot `s` is dead when, before the trace
/// writes `s` again, no exit it can take has `s` live at its resume point
/// ([`Lives::slot_live`]), nothing reads `s` from memory (a slot load, a callee
/// guard, a call out of the trace) and the trace does not end with `s` live at its
/// end (its loop header, snapshot 0, or its link's target; a `ret.rec` pops the
/// frame, so only its own exit's liveness counts). A recursive call (`call.rec`)
/// reads the frame as its exit would: a slot dead at the call (not an argument, not
/// read after it before written) is read by neither the callee, which runs in its
/// own frame from the arguments up, nor the caller after it. The slot then keeps an
/// older value, written before by the trace or the interpreter (or unit, from the
/// clearing of an inlined callee's slots): a valid value, never read again. Traces
/// that move their frame (`ret.down`, a tail call there) are left as they are.
///
/// In a function-entry tree's trace (never peeled) a store that is not dead but
/// whose slot only exits read before the trace writes it again is *sunk* into those
/// exits ([`sink_store`]): it becomes an entry of their snapshots, which the exit
/// writes, and the code stores nothing (permute's inlined `swap`, whose slots only
/// its own guards' exits read). Returns how many stores were dropped or sunk.
pub fn drop_dead_stores(t: &mut Trace, lives: Lives<'_>) -> usize {
    if lives.by_func.is_none()
        || t.pops
        || t.loop_start.is_some()
        || t.snaps.iter().any(|s| s.displaced.is_some())
    {
        return 0;
    }
    let dead: Vec<bool> = t
        .ins
        .iter()
        .enumerate()
        .map(|(p, ins)| {
            // A function-entry tree's `sunit` (an inlined `retu`'s result, which its
            // caller often overwrites at once) is a store like any other.
            let store = ins.op == IrOp::SStore || (ins.op == IrOp::SUnit && t.entry.is_some());
            store && slot16(ins.k).is_some_and(|s| store_is_dead(t, p, s, lives))
        })
        .collect();
    let mut dead = dead;
    if t.entry.is_some() {
        let users = snapshot_users(t);
        // (A store's snapshots lie between it and the next write of its slot: two
        // sunk stores of one slot never share one.)
        let mut sunk = Vec::new();
        for (p, ins) in t.ins.iter().enumerate() {
            if ins.op != IrOp::SStore || dead[p] {
                continue;
            }
            let Some(s) = slot16(ins.k) else { continue };
            if let Some(snaps) = sink_store(t, p, s, lives, &users) {
                sunk.push((snaps, s, ins.a));
                dead[p] = true;
            }
        }
        for (snaps, s, v) in sunk {
            for k in snaps {
                t.snaps[k].entries.push((s, v));
            }
        }
    }
    let dropped = dead.iter().filter(|&&d| d).count();
    if dropped == 0 {
        return 0;
    }
    remove(t, &dead);
    dropped
}

/// Removes the instructions marked in `dead` (none of which any operand, snapshot
/// entry, back-edge move or tail names) and renumbers every reference to the others.
/// Should one of them be named after all (a bug), nothing is removed.
fn remove(t: &mut Trace, dead: &[bool]) {
    let n = t.ins.len();
    let named = |r: Ref| r != NONE && dead.get(r.0 as usize) == Some(&true);
    let mut refs = t.ins.iter().flat_map(|ins| {
        let k = (ins.op == IrOp::HStore).then_some(Ref(ins.k as u32));
        [
            (ins.op.nargs() >= 1).then_some(ins.a),
            (ins.op.nargs() == 2).then_some(ins.b),
            k,
        ]
    });
    if refs.any(|r| r.is_some_and(named))
        || t.snaps.iter().flat_map(|s| &s.entries).any(|e| named(e.1))
        || t.tail.iter().any(|e| named(e.1))
        || t.phis.iter().any(|&(p, v)| named(p) || named(v))
    {
        return;
    }
    let mut new_ref = vec![NONE; n];
    let mut next = 0u32;
    for (p, d) in dead.iter().enumerate() {
        if !*d {
            new_ref[p] = Ref(next);
            next += 1;
        }
    }
    let map = |r: Ref| {
        if r == NONE {
            NONE
        } else {
            new_ref[r.0 as usize]
        }
    };
    let old = std::mem::take(&mut t.ins);
    for (p, mut ins) in old.into_iter().enumerate() {
        if dead[p] {
            continue;
        }
        if ins.op.nargs() >= 1 {
            ins.a = map(ins.a);
        }
        if ins.op.nargs() == 2 {
            ins.b = map(ins.b);
        }
        if ins.op == IrOp::HStore {
            ins.k = map(Ref(ins.k as u32)).0 as u64;
        }
        t.ins.push(ins);
    }
    for snap in &mut t.snaps {
        for e in &mut snap.entries {
            e.1 = map(e.1);
        }
    }
    for e in &mut t.tail {
        e.1 = map(e.1);
    }
    for (p, v) in &mut t.phis {
        *p = map(*p);
        *v = map(*v);
    }
    if let Some(ls) = &mut t.loop_start {
        *ls = dead[..*ls as usize].iter().filter(|d| !**d).count() as u32;
    }
}

/// Whether the store of slot `s` at instruction `p` of `t` is dead (see
/// [`drop_dead_stores`]).
fn store_is_dead(t: &Trace, p: usize, s: u16, lives: Lives<'_>) -> bool {
    for ins in &t.ins[p + 1..] {
        match ins.op {
            IrOp::SStore | IrOp::SClear | IrOp::SUnit if ins.k == s as u64 => return true,
            IrOp::SStore | IrOp::SClear | IrOp::SUnit => {}
            IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB | IrOp::SLoad => {
                if ins.k == s as u64 {
                    return false;
                }
                if !lives.slot_live(&t.snaps[ins.snap as usize], s) {
                    continue;
                }
                return false;
            }
            IrOp::GFunc | IrOp::GClosure => {
                if ins.k & 0xffff_ffff == s as u64
                    || lives.slot_live(&t.snaps[ins.snap as usize], s)
                {
                    return false;
                }
            }
            IrOp::Link | IrOp::RetRec => return !lives.slot_live(&t.snaps[ins.snap as usize], s),
            IrOp::CallRecK | IrOp::CallRecSelf => {
                if lives.slot_live(&t.snaps[ins.snap as usize], s) {
                    return false;
                }
            }
            op if op.flags() & (flag::LOAD | flag::STORE) == 0 || heap_op(op) => {
                if op.flags() & flag::GUARD != 0 && lives.slot_live(&t.snaps[ins.snap as usize], s)
                {
                    return false;
                }
            }
            // Anything else (calls out of the trace, frame moves) may read the frame.
            _ => return false,
        }
    }
    t.link.is_none() && !lives.slot_live(&t.snaps[0], s)
}

/// The first and last instruction that can exit through each snapshot (any
/// instruction naming it); snapshots 0 and 1 count as used before the first
/// instruction too (a tree's entry checks exit through them, and snapshot 0 is where
/// a trace that loops goes on).
fn snapshot_users(t: &Trace) -> Vec<Option<(usize, usize)>> {
    let mut users: Vec<Option<(usize, usize)>> = vec![None; t.snaps.len()];
    for (i, ins) in t.ins.iter().enumerate() {
        if let Some(u) = users.get_mut(ins.snap as usize) {
            *u = Some(u.map_or((i, i), |(f, _)| (f, i)));
        }
    }
    for u in users.iter_mut().take(2) {
        *u = Some(u.map_or((0, 0), |(_, l)| (0, l)));
    }
    users
}

/// The snapshots the store at `p` of slot `s` (function-entry trees only) can be sunk
/// into, or `None` when it must stay a store. It can when, up to the trace's next
/// write of `s` (or its `ret.rec`, which pops the frame), nothing reads `s` in memory
/// (no load or callee guard of it, no call with it live, no link or loop back to the
/// entry with it live), no call comes before an exit that needs it (a register does
/// not survive a call), and every exit with `s` live there goes through a snapshot
/// used only between the store and that next write and not naming `s` already: each
/// such exit then writes the value itself. An exit that has `s` dead leaves it as it
/// is in memory (a valid value, as for a dropped store).
fn sink_store(
    t: &Trace,
    p: usize,
    s: u16,
    lives: Lives<'_>,
    users: &[Option<(usize, usize)>],
) -> Option<Vec<usize>> {
    let mut snaps: Vec<usize> = Vec::new();
    let mut after_call = false;
    let mut end = t.ins.len();
    let need = |k: usize, after_call: bool, snaps: &mut Vec<usize>| -> Option<()> {
        if !live(t, &t.snaps[k], s) || !lives.slot_live(&t.snaps[k], s) {
            return Some(());
        }
        if after_call {
            return None;
        }
        if !snaps.contains(&k) {
            snaps.push(k);
        }
        Some(())
    };
    let mut closed = false;
    for (j, ins) in t.ins.iter().enumerate().skip(p + 1) {
        let k = ins.snap as usize;
        match ins.op {
            IrOp::SStore | IrOp::SClear | IrOp::SUnit if ins.k == s as u64 => {
                end = j;
                closed = true;
                break;
            }
            IrOp::SStore | IrOp::SClear | IrOp::SUnit => {}
            IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB | IrOp::SLoad => {
                if ins.k == s as u64 {
                    return None;
                }
                need(k, after_call, &mut snaps)?;
            }
            IrOp::GFunc | IrOp::GClosure => {
                if ins.k & 0xffff_ffff == s as u64 {
                    return None;
                }
                need(k, after_call, &mut snaps)?;
            }
            IrOp::RetRec => {
                need(k, after_call, &mut snaps)?;
                end = j + 1;
                closed = true;
                break;
            }
            IrOp::CallRecK | IrOp::CallRecSelf => {
                if live(t, &t.snaps[k], s) && lives.slot_live(&t.snaps[k], s) {
                    return None;
                }
                after_call = true;
            }
            op if op.flags() & (flag::LOAD | flag::STORE) == 0 || heap_op(op) => {
                if op.flags() & flag::GUARD != 0 {
                    need(k, after_call, &mut snaps)?;
                }
            }
            // Anything else (helper and C calls, links, frame moves) reads the frame.
            _ => return None,
        }
    }
    if !closed && (t.link.is_some() || lives.slot_live(&t.snaps[0], s)) {
        return None;
    }
    let fits = |k: &usize| {
        users[*k].is_some_and(|(f, l)| f > p && l < end)
            && !t.snaps[*k].entries.iter().any(|e| e.0 == s)
    };
    snaps.iter().all(fits).then_some(snaps)
}

/// Allocation sinking (LuaJIT's `lj_opt_sink.c`, with `lj_snap.c`'s `snap_unsink` in
/// the hook): a `new` whose object nothing but the trace's exits can see becomes a
/// `new.sink`, and the `hstore`s into it `hstore.sink`s, which emit no code. An exit
/// whose snapshot names such an object (a slot entry, or a field of another sunk
/// object it names) allocates it then, with the field values the trace had at that
/// exit ([`Snapshot::sunk`], filled by the hook through `Vm::jit_unsink`).
///
/// A `new` stays when its object *escapes*: any use other than a store into it at a
/// constant field index (the general layout), a store of it into another sunk
/// object, or a snapshot entry of a guard's exit; so an operand of any other
/// operation (a store into an object that is not sunk, a header read left in code,
/// a load not forwarded), a value the back-edge writes or carries (`tail`, a phi),
/// the link's snapshot (a direct link enters the target trace in machine code, which
/// cannot allocate). In a peeled trace a pre-roll `new` used by the loop body stays
/// too (its fields could change from one iteration to the next). Traces that call
/// out (helpers, C, native recursion, other trees) or change frames sink nothing:
/// the VM reads their slots between instructions. Only root loop traces are passed
/// here by the hook; an exit of such a trace that names a sunk object never grows a
/// side trace (its state is not in memory for one to start from): the hook records
/// the root again without sinking when one is taken often.
///
/// Each guard's exit gets the fields as the stores before it left them: a snapshot
/// shared by guards that see different field values is copied. The values of the
/// fields that are not constants or slot entries already are written by the exit to
/// scratch slots above the trace's extent (which grows to hold them), where the hook
/// reads them. Returns how many allocations were sunk.
pub fn sink_allocations(t: &mut Trace) -> usize {
    if t.entry.is_some()
        || t.returns
        || t.pops
        || t.ins.iter().any(|i| {
            matches!(
                i.op,
                IrOp::CallRecK
                    | IrOp::CallRecSelf
                    | IrOp::CallTree
                    | IrOp::CallInsn
                    | IrOp::CallC
                    | IrOp::RetRec
                    | IrOp::RetDown
                    | IrOp::TailBase
            )
        })
    {
        return 0;
    }
    let n = t.ins.len();
    let mut cand: Vec<bool> = t.ins.iter().map(|i| i.op == IrOp::New).collect();
    if !cand.contains(&true) {
        return 0;
    }
    loop {
        escape_allocations(t, &mut cand);
        if !cand.contains(&true) {
            return 0;
        }
        match plan_sunk_exits(t, &cand) {
            Ok(plan) => {
                apply_sinking(t, &cand, plan);
                return cand.iter().take(n).filter(|&&c| c).count();
            }
            Err(obj) => cand[obj.0 as usize] = false,
        }
    }
}

/// The field index of a store into a candidate `obj` that may be sunk: a constant
/// index in range, the general layout.
fn sunk_field(t: &Trace, ins: &crate::ir::Ins) -> Option<usize> {
    let k = t.ins.get(ins.k as usize).filter(|k| k.op == IrOp::KInt)?.k;
    let len = t.ins.get(ins.a.0 as usize)?.tw;
    (ins.tw == 0 && k < len).then_some(k as usize)
}

/// Clears `cand` for every allocation that escapes (see [`sink_allocations`]), to a
/// fixed point: an object stored into one that escapes escapes too.
fn escape_allocations(t: &Trace, cand: &mut [bool]) {
    let ls = t.loop_start.map_or(usize::MAX, |l| l as usize);
    let link = t.link.map(|l| l.0);
    loop {
        let mut changed = false;
        let mut esc = |r: Ref, cand: &mut [bool]| {
            if let Some(c) = cand.get_mut(r.0 as usize).filter(|c| **c) {
                *c = false;
                changed = true;
            }
        };
        for (p, ins) in t.ins.iter().enumerate() {
            let into = ins.op == IrOp::HStore
                && cand.get(ins.a.0 as usize) == Some(&true)
                && sunk_field(t, ins).is_some();
            if into {
                // A value stored into a sunk object may be sunk too; the index is a
                // constant.
            } else {
                if ins.op.nargs() >= 1 {
                    esc(ins.a, cand);
                }
                if ins.op.nargs() == 2 {
                    esc(ins.b, cand);
                }
            }
            let guard =
                ins.op.flags() & flag::GUARD != 0 && !(ins.op == IrOp::New && cand[p]) && !into;
            if guard && (Some(ins.snap) == link || ins.op == IrOp::Link) {
                for &(_, r) in &t.snaps[ins.snap as usize].entries {
                    esc(r, cand);
                }
            }
            // A pre-roll object the loop body sees.
            if p >= ls {
                let body_uses = [ins.a, ins.b]
                    .into_iter()
                    .take(ins.op.nargs())
                    .chain(
                        guard
                            .then(|| t.snaps[ins.snap as usize].entries.iter().map(|e| e.1))
                            .into_iter()
                            .flatten(),
                    )
                    .filter(|r| (r.0 as usize) < ls)
                    .collect::<Vec<_>>();
                for r in body_uses {
                    esc(r, cand);
                }
            }
        }
        for &(_, r) in &t.tail {
            esc(r, cand);
        }
        for &(p, v) in &t.phis {
            esc(p, cand);
            esc(v, cand);
        }
        if !changed {
            return;
        }
    }
}

/// What sinking changes in the snapshots: the guards (by position) that exit through
/// a copy, and its number; the snapshots that get their sunk objects in place (their
/// first guard's); the copies; the first scratch slot and how many the largest exit
/// uses.
struct SinkPlan {
    snap_of: Vec<(usize, u32)>,
    replace: Vec<(u32, Snapshot)>,
    copies: Vec<Snapshot>,
    base: u32,
    scratch: u32,
}

/// Each guard's exit with the sunk objects it materialises, or `Err` with an object
/// that cannot be sunk (an exit would need a field not stored yet).
fn plan_sunk_exits(t: &Trace, cand: &[bool]) -> Result<SinkPlan, Ref> {
    let is_cand = |r: Ref| cand.get(r.0 as usize) == Some(&true);
    // Scratch slots start above every slot the trace names: its extent counts only
    // inlined frames' slots (0 when it inlines none), its frame's size may be unknown.
    let named = t
        .snaps
        .iter()
        .flat_map(|s| s.entries.iter().map(|e| e.0 as u32 + 1))
        .chain(t.tail.iter().map(|e| e.0 as u32 + 1))
        .chain(t.ins.iter().filter_map(|i| match i.op {
            op if slot_op(op) => Some((i.k as u32).saturating_add(1)),
            IrOp::GFunc | IrOp::GClosure => Some(((i.k & 0xffff_ffff) as u32).saturating_add(1)),
            _ => None,
        }))
        .max()
        .unwrap_or(0);
    let base = t.extent.max(t.frame_slots).max(named);
    // The fields of each candidate as the stores so far left them.
    let mut fields: FxHashMap<Ref, Vec<Option<Ref>>> = FxHashMap::default();
    // (snapshot, its sunk objects) -> the snapshot that exits with them.
    let mut made: FxHashMap<(u32, Vec<SunkObject>), u32> = FxHashMap::default();
    let mut taken: BTreeSet<u32> = BTreeSet::new();
    let mut plan = SinkPlan {
        snap_of: Vec::new(),
        replace: Vec::new(),
        copies: Vec::new(),
        base,
        scratch: 0,
    };
    for (p, ins) in t.ins.iter().enumerate() {
        if ins.op == IrOp::New && is_cand(Ref(p as u32)) {
            fields.insert(Ref(p as u32), vec![None; ins.tw as usize]);
            continue;
        }
        if ins.op == IrOp::HStore && is_cand(ins.a) {
            if let (Some(i), Some(f)) = (sunk_field(t, ins), fields.get_mut(&ins.a)) {
                f[i] = Some(ins.b);
                continue;
            }
        }
        if ins.op.flags() & flag::GUARD == 0 {
            continue;
        }
        let snap = &t.snaps[ins.snap as usize];
        // The objects the exit names, through entries and then fields; in
        // allocation order.
        let mut objs: BTreeSet<Ref> = BTreeSet::new();
        let mut work: Vec<Ref> = snap
            .entries
            .iter()
            .map(|e| e.1)
            .filter(|&r| is_cand(r))
            .collect();
        while let Some(o) = work.pop() {
            if !objs.insert(o) {
                continue;
            }
            for v in fields.get(&o).ok_or(o)? {
                let v = v.ok_or(o)?;
                if is_cand(v) {
                    work.push(v);
                }
            }
        }
        if objs.is_empty() {
            continue;
        }
        let sunk: Vec<SunkObject> = objs
            .iter()
            .map(|&o| SunkObject {
                obj: o,
                fields: fields[&o].iter().flatten().copied().collect(),
            })
            .collect();
        let key = (ins.snap, sunk);
        if let Some(&k) = made.get(&key) {
            plan.snap_of.push((p, k));
            continue;
        }
        // The snapshot with scratch entries for the fields' values no entry holds
        // (constants included: the hook reads every value from a slot).
        let mut s = snap.clone();
        let mut j = 0u32;
        for v in key.1.iter().flat_map(|o| o.fields.iter().copied()) {
            if is_cand(v) || s.entries.iter().any(|e| e.1 == v) {
                continue;
            }
            let slot = u16::try_from(base + j).map_err(|_| key.1[0].obj)?;
            s.entries.push((slot, v));
            j += 1;
        }
        plan.scratch = plan.scratch.max(j);
        s.sunk = key.1.clone();
        let k = if taken.insert(ins.snap) {
            plan.replace.push((ins.snap, s));
            ins.snap
        } else {
            plan.copies.push(s);
            (t.snaps.len() + plan.copies.len() - 1) as u32
        };
        made.insert(key, k);
        plan.snap_of.push((p, k));
    }
    Ok(plan)
}

/// Rewrites `t` as planned: sunk `new`s and stores, the guards' snapshots, the extent.
fn apply_sinking(t: &mut Trace, cand: &[bool], plan: SinkPlan) {
    for (k, s) in plan.replace {
        t.snaps[k as usize] = s;
    }
    t.snaps.extend(plan.copies);
    for (p, k) in plan.snap_of {
        t.ins[p].snap = k;
    }
    for p in 0..t.ins.len() {
        let ins = t.ins[p];
        if ins.op == IrOp::New && cand[p] {
            t.ins[p].op = IrOp::NewSunk;
            t.ins[p].snap = 0;
        } else if ins.op == IrOp::HStore && cand.get(ins.a.0 as usize) == Some(&true) {
            t.ins[p].op = IrOp::HStoreSunk;
            t.ins[p].snap = 0;
        }
    }
    t.extent = t.extent.max(plan.base + plan.scratch);
    // The bump pointer moves only if an allocation is left (the hook commits it
    // after such a trace, and enters it synced).
    t.allocates = t.ins.iter().any(|i| i.op == IrOp::New);
}

/// Operations that read or write the heap or the globals, never a frame slot.
fn heap_op(op: IrOp) -> bool {
    heap_load(op)
        || matches!(
            op,
            IrOp::ALen
                | IrOp::GLoadI
                | IrOp::GLoadF
                | IrOp::GLoadB
                | IrOp::GLoad
                | IrOp::New
                | IrOp::NewArr
                | IrOp::NewArrSlot
                | IrOp::HStore
                | IrOp::FrameClo
        )
}

/// Whether slot `s` belongs to a frame at snapshot `snap`: the trace frame's, or, where
/// inlined frames are live, any (a slot above every frame is never read before a call
/// clears it).
fn live(t: &Trace, snap: &Snapshot, s: u16) -> bool {
    // A function-entry trace's frame is its function's.
    let top = match t.frame_slots {
        0 => t.entry.map_or(0, |e| e.2 as u32),
        n => n,
    };
    top == 0 || !snap.frames.is_empty() || (s as u32) < top
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
    lives: Lives<'_>,
) -> u32 {
    let mut e: BTreeMap<u16, Ref> = s
        .entries
        .iter()
        .map(|&(slot, r)| (slot, sub[r.0 as usize]))
        .collect();
    e.extend(
        cur.iter()
            .filter(|(&slot, _)| live(t, s, slot) && lives.slot_live(s, slot))
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
        let p = peel(&t, Lives::unknown()).expect("peeled");
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
        let p = peel(&b.finish(vec![]), Lives::unknown()).expect("peeled");
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
        assert!(peel(&b.finish(vec![]), Lives::unknown()).is_none());
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
        assert!(peel(&b.finish(vec![]), Lives::unknown()).is_none());
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
        b.sclear(3, false);
        b.sclear(4, false);
        let s2 = b.snapshot(5, vec![]);
        let y = b.sload_tw(3, hashvm_vm::Tag::UNIT as u64, s2);
        let _ = (y, z);
        let p = peel(&b.finish(vec![]), Lives::unknown()).expect("peeled");
        let ls = p.loop_start.unwrap() as usize;
        let ops: Vec<IrOp> = p.ins[ls..].iter().map(|i| i.op).collect();
        // The reload of slot 4 and the unit constant: no store, no clear, and slot 3's
        // read is the constant.
        assert_eq!(ops, vec![IrOp::SLoad, IrOp::KVal], "{ops:?}");
        assert_eq!(p.ins[ls].k, 4);
        assert!(p.phis.is_empty(), "slots 3 and 4 end cleared");
    }

    #[test]
    fn length_guards_merge_across_effects() {
        let f = hashvm_vm::Tag::F64 as u64;
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let o = b.sload_tw(0, hashvm_vm::Tag::OBJ as u64, s);
        let s1 = b.snapshot(3, vec![]);
        b.guard_header(IrOp::GLen, o, 0, s1).unwrap();
        let x = b.fload(o, 0, f, s1).unwrap();
        let s2 = b.snapshot(5, vec![]);
        b.guard_header(IrOp::GLen, o, 2, s2).unwrap();
        let y = b.fload(o, 2, f, s2).unwrap();
        let z = b.arith(IrOp::AddF, x, y).unwrap();
        // A slot store the first guard's snapshot does not name: it runs after that
        // guard, which exits before it (the interpreter then stores).
        b.sstore(1, z);
        let s3 = b.snapshot(7, vec![]);
        b.guard_header(IrOp::GLen, o, 5, s3).unwrap();
        let w = b.fload(o, 5, f, s3).unwrap();
        b.sstore(2, w);
        let mut t = b.finish(vec![]);
        assert_eq!(merge_len_guards(&mut t), 2);
        let lens: Vec<(u64, u32)> = t
            .ins
            .iter()
            .filter(|i| i.op == IrOp::GLen)
            .map(|i| (i.k, i.snap))
            .collect();
        // The first guard checks for field 5, through its own (earlier) snapshot.
        assert_eq!(lens, vec![(5, s1)]);
        // Every reference still names what it named.
        let loads: Vec<u64> = t
            .ins
            .iter()
            .filter(|i| i.op == IrOp::FLoad)
            .map(|i| i.k)
            .collect();
        assert_eq!(loads, vec![0, 2, 5]);
        let add = t.ins.iter().find(|i| i.op == IrOp::AddF).unwrap();
        assert_eq!(
            (t.ins[add.a.0 as usize].k, t.ins[add.b.0 as usize].k),
            (0, 2)
        );
    }

    #[test]
    fn slot_stores_sink_into_later_exits_and_the_back_edge() {
        let (mut b, x, x1) = slot_0_plus_one();
        b.sstore(0, x1);
        // Slot 1 is written, then read in memory: its store stays.
        b.sstore(1, x1);
        let s2 = b.snapshot(5, vec![]);
        let y = b.sload(1, IrType::I64, s2);
        let s3 = b.snapshot(7, vec![]);
        b.guard(IrOp::LtI, y, x, s3).unwrap();
        let mut t = b.finish(vec![]);
        assert_eq!(sink_slot_stores(&mut t, Lives::unknown()), 1);
        assert_eq!(slot_stores(&t), vec![(1, x1)]);
        // Both guards after the sunk store write slot 0 at their exits; the first
        // guard (before it) does not; the back-edge writes it.
        let add = Ref(t.ins.iter().position(|i| i.op == IrOp::AddI).unwrap() as u32);
        for ins in t.ins.iter().filter(|i| i.op.flags() & flag::GUARD != 0) {
            let e = &t.snaps[ins.snap as usize].entries;
            let after = ins.op != IrOp::SLoadI || ins.k == 1;
            assert_eq!(e.contains(&(0, add)), after, "{ins:?} {e:?}");
        }
        assert_eq!(t.tail, vec![(0, add)]);
        // A trace that calls out keeps its stores.
        let mut b = TraceBuilder::new(0);
        b.set_frame_slots(4);
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
        let mut t = b.finish(vec![]);
        assert_eq!(sink_slot_stores(&mut t, Lives::unknown()), 0);
    }

    #[test]
    fn a_store_sinks_when_few_of_the_exits_in_its_range_would_write_it() {
        // Slot 1 (the frame's, live at every exit: no liveness known) and slot 6 (above
        // the frame, and no inlined frame at any exit: no exit needs it), each stored
        // before 20 guards and then written again.
        let (mut b, x, x1) = slot_0_plus_one();
        b.sstore(1, x1);
        b.sstore(6, x1);
        for k in 0..20 {
            let sk = b.snapshot(10 + k, vec![]);
            let c = b.kint(1000 + k as i64);
            b.guard(IrOp::LtI, x1, c, sk).unwrap();
        }
        b.sstore(1, x);
        b.sstore(6, x);
        let mut t = b.finish(vec![]);
        sink_slot_stores(&mut t, Lives::unknown());
        // Slot 1's first store would be written at 20 exits: it stays. Slot 6's is
        // written at none: it goes (the trace's last stores go to the back-edge).
        assert_eq!(slot_stores(&t), vec![(1, x1)]);
    }

    /// A builder of a 4-slot frame holding `x` (slot 0, an i64) and `x + 1`.
    fn slot_0_plus_one() -> (TraceBuilder, Ref, Ref) {
        let mut b = TraceBuilder::new(0);
        b.set_frame_slots(4);
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::I64, s);
        let one = b.kint(1);
        let x1 = b.arith(IrOp::AddI, x, one).unwrap();
        (b, x, x1)
    }

    /// The trace's slot stores: (slot, value).
    fn slot_stores(t: &Trace) -> Vec<(u64, Ref)> {
        t.ins
            .iter()
            .filter(|i| i.op == IrOp::SStore)
            .map(|i| (i.k, i.a))
            .collect()
    }

    /// The header words of a DATA object of type 77 with `len` fields.
    fn data_header(len: u64) -> [u64; 2] {
        hashvm_vm::jit::layout::header_words(hashvm_vm::jit::layout::KIND_DATA, 0, 77, len)
    }

    fn ops(t: &Trace) -> Vec<IrOp> {
        t.ins.iter().map(|i| i.op).collect()
    }

    #[test]
    fn an_allocation_only_exits_see_is_sunk() {
        let (i64t, f64t) = (hashvm_vm::Tag::I64 as u64, hashvm_vm::Tag::F64 as u64);
        let mut b = TraceBuilder::new(0);
        b.set_forwarding();
        b.set_shape(4, 0);
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::I64, s);
        let y = b.sload(1, IrType::F64, s);
        let n = b.sload(3, IrType::I64, s);
        let [w0, w1] = data_header(2);
        let o = b.new_object(w0, w1, s);
        let (k0, k1) = (b.kint(0), b.kint(1));
        b.hstore(o, k0, x, s).unwrap();
        b.hstore(o, k1, y, s).unwrap();
        // Its header guards are decided, its loads forwarded: no use left in code.
        let kind = hashvm_vm::jit::layout::KIND_DATA as u64;
        b.guard_header(IrOp::GKind, o, kind, s).unwrap();
        b.guard_header(IrOp::GMeta, o, 77, s).unwrap();
        b.guard_header(IrOp::GLen, o, 1, s).unwrap();
        assert_eq!(b.fload(o, 0, i64t, s).unwrap(), x);
        assert_eq!(b.fload(o, 1, f64t, s).unwrap(), y);
        // An exit with the object live in slot 2 (and x in slot 0, y nowhere).
        let g = b.snapshot(5, vec![(0, x), (2, o)]);
        b.guard(IrOp::LtI, x, n, g).unwrap();
        let mut t = b.finish(vec![]);
        assert_eq!(sink_allocations(&mut t), 1);
        assert_eq!(
            ops(&t),
            vec![
                IrOp::SLoadI,
                IrOp::SLoadF,
                IrOp::SLoadI,
                IrOp::NewSunk,
                IrOp::KInt,
                IrOp::KInt,
                IrOp::HStoreSunk,
                IrOp::HStoreSunk,
                IrOp::LtI
            ]
        );
        assert!(!t.allocates && !t.needs_sync());
        let snap = &t.snaps[t.ins[8].snap as usize];
        assert_eq!(
            snap.sunk,
            vec![SunkObject {
                obj: o,
                fields: vec![x, y]
            }]
        );
        // y goes to a scratch slot above the trace's slots, which grow by one.
        assert_eq!(snap.entries, vec![(0, x), (2, o), (4, y)]);
        assert_eq!(t.extent, 5);
        // The dump marks it.
        let dump = t.to_string();
        assert!(dump.contains("new.sink") && dump.contains(&format!("{o}{{{x} {y}}}")));
    }

    /// A forwarding builder with its entry snapshot, i64 slots 0 (`x`) and 1 (`n`),
    /// the constant 0 and the header of a one-field DATA object: what the sinking
    /// tests start from.
    fn sink_setup() -> (TraceBuilder, u32, Ref, Ref, Ref, [u64; 2]) {
        let mut b = TraceBuilder::new(0);
        b.set_forwarding();
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::I64, s);
        let n = b.sload(1, IrType::I64, s);
        let k0 = b.kint(0);
        (b, s, x, n, k0, data_header(1))
    }

    #[test]
    fn allocations_that_escape_stay_and_nested_ones_sink_together() {
        let (mut b, s, x, n, k0, [w0, w1]) = sink_setup();
        let p = b.sload_tw(2, hashvm_vm::Tag::OBJ as u64, s);
        // Stored into an object the trace did not allocate: escapes.
        let a = b.new_object(w0, w1, s);
        b.hstore(a, k0, x, s).unwrap();
        b.hstore(p, k0, a, s).unwrap();
        // Stored into an object that is sunk: sunk with it.
        let inner = b.new_object(w0, w1, s);
        b.hstore(inner, k0, x, s).unwrap();
        let outer = b.new_object(w0, w1, s);
        b.hstore(outer, k0, inner, s).unwrap();
        // Written back at the back-edge: escapes, and the object in it too.
        let i2 = b.new_object(w0, w1, s);
        b.hstore(i2, k0, x, s).unwrap();
        let o2 = b.new_object(w0, w1, s);
        b.hstore(o2, k0, i2, s).unwrap();
        let g = b.snapshot(5, vec![(4, outer), (5, o2)]);
        b.guard(IrOp::LtI, x, n, g).unwrap();
        let mut t = b.finish(vec![(6, o2)]);
        assert_eq!(sink_allocations(&mut t), 2);
        let op = |r: Ref| t.ins[r.0 as usize].op;
        assert_eq!(op(a), IrOp::New);
        assert_eq!((op(inner), op(outer)), (IrOp::NewSunk, IrOp::NewSunk));
        assert_eq!((op(i2), op(o2)), (IrOp::New, IrOp::New));
        let guard = t.ins.iter().find(|i| i.op == IrOp::LtI).unwrap();
        let snap = &t.snaps[guard.snap as usize];
        assert_eq!(
            snap.sunk,
            vec![
                SunkObject {
                    obj: inner,
                    fields: vec![x]
                },
                SunkObject {
                    obj: outer,
                    fields: vec![inner]
                }
            ]
        );
        // A trace that calls out sinks nothing.
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::I64, s);
        let o = b.new_object(w0, w1, s);
        let k0 = b.kint(0);
        b.hstore(o, k0, x, s).unwrap();
        let h = crate::ir::HelperCall {
            func: 0,
            ip: 0,
            base: 0,
            live: 2,
        };
        let g = b.snapshot(3, vec![(1, o)]);
        b.call_insn(h, g);
        let mut t = b.finish(vec![]);
        assert_eq!(sink_allocations(&mut t), 0);
    }

    #[test]
    fn each_exit_rebuilds_the_fields_as_the_stores_before_it_left_them() {
        let (mut b, s, x, n, k0, [w0, w1]) = sink_setup();
        let z = b.sload(2, IrType::I64, s);
        let o = b.new_object(w0, w1, s);
        b.hstore(o, k0, x, s).unwrap();
        // One snapshot, two guards: before and after a store into the object.
        let g = b.snapshot(5, vec![(3, o), (4, o)]);
        b.guard(IrOp::LtI, x, n, g).unwrap();
        b.hstore(o, k0, z, s).unwrap();
        b.guard(IrOp::LtI, z, n, g).unwrap();
        let mut t = b.finish(vec![]);
        assert_eq!(sink_allocations(&mut t), 1);
        let guards: Vec<u32> = t
            .ins
            .iter()
            .filter(|i| i.op == IrOp::LtI)
            .map(|i| i.snap)
            .collect();
        assert_ne!(guards[0], guards[1], "the second exit gets a copy");
        let fields = |k: u32| t.snaps[k as usize].sunk[0].fields.clone();
        assert_eq!((fields(guards[0]), fields(guards[1])), (vec![x], vec![z]));
        // One object in two slots: one sunk object, written to both.
        let e = &t.snaps[guards[1] as usize].entries;
        assert!(e.contains(&(3, o)) && e.contains(&(4, o)));
        assert_eq!(t.snaps[guards[1] as usize].sunk.len(), 1);
    }

    /// The liveness of `main` in `src`, and its instruction offsets.
    fn liveness_of(src: &str) -> (FxHashMap<u32, Rc<Liveness>>, Vec<u32>) {
        let m = hashvm_format::hasm::assemble(src, "t.hasm").expect("assembles");
        let f = &m.functions[0];
        let offs = hashvm_format::insn::decode_all(&f.code)
            .unwrap()
            .into_iter()
            .map(|(ip, _)| ip as u32)
            .collect();
        let l = Liveness::of_code(&f.code, f.nslots).unwrap();
        (FxHashMap::from_iter([(0, Rc::new(l))]), offs)
    }

    /// `r2 := r0 + 1; r0 := r2` while `r0 < r1`: r2 is a temporary, dead at the header
    /// and at the guard; r0 and r1 are live.
    const TEMP_LOOP: &str = ".module executable\n.func main/0 slots=4\n  loadi r0, 0\n  \
        loadi r1, 100\ntop:\n  jge.i64 r0, r1, done\n  addi.i64 r2, r0, 1\n  mov r0, r2\n  \
        loop top\ndone:\n  ret r0\n.end\n.entry main\n";

    fn temp_loop(offs: &[u32]) -> Trace {
        let (jge, back) = (offs[2], offs[5]);
        let mut b = TraceBuilder::new(back);
        let s = b.snapshot(back, vec![]);
        let i = b.sload(0, IrType::I64, s);
        let n = b.sload(1, IrType::I64, s);
        let g = b.snapshot(jge, vec![]);
        b.guard(IrOp::LtI, i, n, g).unwrap();
        let one = b.kint(1);
        let i1 = b.arith(IrOp::AddI, i, one).unwrap();
        b.sstore(2, i1);
        b.sstore(0, i1);
        b.finish(vec![])
    }

    #[test]
    fn dead_slots_get_no_phi_and_no_store() {
        let (m, offs) = liveness_of(TEMP_LOOP);
        let lives = Lives {
            func: 0,
            by_func: Some(&m),
        };
        // Without liveness, r2 and r0 are carried; with it, r0 only.
        let p = peel(&temp_loop(&offs), Lives::unknown()).expect("peeled");
        assert_eq!(p.phis.len(), 2);
        let p = peel(&temp_loop(&offs), lives).expect("peeled");
        assert_eq!(p.phis.len(), 1);
        // The unread phi is not even emitted (its operand would live up to it).
        assert_eq!(p.ins.iter().filter(|i| i.op == IrOp::Phi).count(), 1);
        for s in &p.snaps[1..] {
            assert!(s.entries.iter().all(|&(slot, _)| slot == 0), "{s:?}");
        }
        // The store to r2 is dead (r2 is written again before any read on every
        // path from the trace's exits and its end); the store to r0 is not.
        let mut t = temp_loop(&offs);
        assert_eq!(drop_dead_stores(&mut t, lives), 1);
        let stores: Vec<u64> = t
            .ins
            .iter()
            .filter(|i| i.op == IrOp::SStore)
            .map(|i| i.k)
            .collect();
        assert_eq!(stores, vec![0]);
        assert_eq!(drop_dead_stores(&mut temp_loop(&offs), Lives::unknown()), 0);
    }

    #[test]
    fn a_slot_live_at_one_exit_keeps_its_store() {
        // As TEMP_LOOP, but the loop's exit returns r2: r2 is live at the guard (its
        // exit path reads it), so its store stays and it is an entry of the body's
        // guard snapshot.
        let (m, offs) = liveness_of(&TEMP_LOOP.replace("ret r0", "ret r2"));
        let lives = Lives {
            func: 0,
            by_func: Some(&m),
        };
        let mut t = temp_loop(&offs);
        // The guard exits to `done` (ret r2) only through the interpreter taking the
        // jump; liveness before the jge has r2 live.
        assert!(m[&0].live(offs[2], 2));
        assert_eq!(drop_dead_stores(&mut t, lives), 0);
        let p = peel(&temp_loop(&offs), lives).expect("peeled");
        assert_eq!(p.phis.len(), 2);
    }
}
