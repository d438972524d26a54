//! The code buffer of one function: the body compiler emits into an [`Asm`], which
//! keeps the instructions (with their labels and source positions) until the function
//! is complete, cleans up the control flow the syntax-directed code generator leaves
//! behind, and only then encodes them with a [`FunctionBuilder`].
//!
//! Why: every instruction the interpreter dispatches costs about the same, and the
//! decision trees of `match` and the joins of `if` leave jumps to jumps, jumps to the
//! next instruction and unreachable `matchfail`s (a two-armed `match` ran a `jntag`
//! *and* a `jmp` per test). The clean-up, in [`optimize`]:
//! - **jump threading**: a jump to a `jmp` goes to its target instead, and a `jmp` to a
//!   `ret`/`retu` becomes that return;
//! - **conditional jump over a jump**: `jlt a, b, L0; jmp L1; L0:` becomes
//!   `jge a, b, L1; L0:`;
//! - **block layout**: the code is cut into runs of instructions control enters only at
//!   the top (a run ends at an instruction that never falls through); a run that ends
//!   with `jmp L` is followed by the run starting at `L` when nothing falls into that
//!   one, and the `jmp` is dropped; runs no jump reaches are dropped (dead code);
//! - **jumps to the next instruction** are dropped;
//! - **stored fields forwarded**: a `field` reading what the `setfield` just before it
//!   stored becomes a `mov` ([`forward_stored_fields`]);
//! - then, over a slot liveness analysis: **lazy field extraction**
//!   ([`sink_fields`]): a pattern's `field` moves into the one branch that reads it
//!   (dropped when none does), or down to its first reader; **copy coalescing**
//!   ([`coalesce_copies`]); **tail-call arguments** evaluated straight into the
//!   parameter slots when an order of the moves exists ([`tail_args_in_place`]:
//!   `tcallself r0, n` moves nothing); **constructor windows in place**
//!   ([`windows_in_place`]: a `con` whose fields are copies of consecutive slots reads
//!   them there); `mov`s to themselves or to dead slots dropped; then, on the cleaned
//!   code, **scheduled tail-call arguments** ([`tail_args_scheduled`]: the copied
//!   arguments as one parallel move, placed before an inner call or ordered through a
//!   scratch slot, when that adds no instruction); last, **a field of a field** read
//!   with one `field2` ([`fuse_fields`]), a return of a constant with one `reti`
//!   ([`fuse_returns`]), and a `con`, `add.i64` or `loadg` whose value the next
//!   instruction returns, a `jntag` falling through to a `reti`, or a `field` or
//!   `subi.i64` before a `callk`, marked `con.ret`/`add.i64.ret`/`loadg.ret`/
//!   `jntag.reti`/`field.callk`/`subi.i64.callk` ([`fuse_next_pairs`]); then the
//!   **slots renumbered densely** ([`compact_slots`]): the frame is only the slots the
//!   code still names.
//!
//! Every instruction keeps the source position it was emitted with, so error locations
//! and stack traces are those of the unoptimised code. The control-flow passes only
//! remove, invert or retarget jumps (and replace a `jmp` by the return it jumps to);
//! the liveness passes move or drop only instructions that cannot fault (`field` of a
//! known constructor, `mov`) and rename destinations, and never make a slot hold a
//! pointer longer than before (SPEC.md §1.4, "Dead slots are roots too").

use hashvm_format::{Arg, FunctionBuilder, Label, Op, Operand};
use std::collections::HashMap;

/// A source position: (file, line, column).
type Pos = (u32, u32, u32);

#[derive(Clone, Debug)]
struct Ins {
    /// Labels bound just before this instruction.
    labels: Vec<Label>,
    op: Op,
    args: Vec<Arg>,
    pos: Option<Pos>,
    /// For a `field`: the object read is immutable (a tuple or an enum constructor's
    /// payload, never a struct), so the read gives the same value after any call or
    /// store, and [`sink_fields`] may move it past them.
    frozen: bool,
}

/// A function's code while it is being generated (see the module documentation).
pub(crate) struct Asm {
    fb: FunctionBuilder,
    code: Vec<Ins>,
    /// Labels bound after the last instruction so far.
    pending: Vec<Label>,
    pos: Option<Pos>,
    arity: u16,
    /// The most slots the code generator reserved (see [`Asm::reserve_slots`]).
    reserved: u32,
}

impl Asm {
    /// Starts a function taking `arity` arguments whose closures carry `ncaptures`.
    pub(crate) fn new(name: impl Into<String>, arity: u16, ncaptures: u16) -> Asm {
        Asm {
            fb: FunctionBuilder::new(name, arity, ncaptures),
            code: Vec::new(),
            pending: Vec::new(),
            pos: None,
            arity,
            reserved: 0,
        }
    }

    /// A fresh, unbound label.
    pub(crate) fn new_label(&mut self) -> Label {
        self.fb.new_label()
    }

    /// Binds `l` to the next instruction emitted.
    pub(crate) fn bind(&mut self, l: Label) {
        self.pending.push(l);
    }

    /// Notes that the code generator reserved `n` slots. The frame size is not that:
    /// it is what the optimised code names (the function builder counts every slot
    /// and window an instruction names, and the arity), because the passes in
    /// [`optimize`] leave many reserved temporaries unused, and every slot of a frame
    /// costs at each call (`Frames::push` clears it) and at each collection (it is
    /// scanned). The reservation only decides whether the function is too large
    /// (past 65 535 slots: the builder then rejects it).
    pub(crate) fn reserve_slots(&mut self, n: u32) {
        self.reserved = self.reserved.max(n);
    }

    /// Attributes the instructions emitted from now on to this source position.
    pub(crate) fn set_location(&mut self, file: u32, line: u32, col: u32) {
        self.pos = Some((file, line, col));
    }

    /// Appends one instruction.
    pub(crate) fn emit(&mut self, op: Op, args: impl IntoIterator<Item = Arg>) {
        self.code.push(Ins {
            labels: std::mem::take(&mut self.pending),
            op,
            args: args.into_iter().collect(),
            pos: self.pos,
            frozen: false,
        });
    }

    /// Appends `field d, s, k` reading a field of an immutable object (a tuple, or the
    /// payload of an enum's constructor): see [`Ins::frozen`].
    pub(crate) fn frozen_field(&mut self, d: Operand, s: Operand, k: Operand) {
        self.op(Op::Field, [d, s, k]);
        if let Some(ins) = self.code.last_mut() {
            ins.frozen = true;
        }
    }

    /// Appends an instruction whose operands are all final.
    pub(crate) fn op(&mut self, op: Op, args: impl IntoIterator<Item = Operand>) {
        self.emit(op, args.into_iter().map(Arg::Op));
    }

    /// Optimises the control flow and encodes the function.
    pub(crate) fn finish(self) -> FunctionBuilder {
        let Asm {
            mut fb,
            mut code,
            pending,
            arity,
            reserved,
            ..
        } = self;
        if reserved > u32::from(u16::MAX) {
            fb.reserve_slots(reserved);
        }
        optimize(&mut code, arity);
        for ins in code {
            for l in ins.labels {
                fb.bind(l);
            }
            if let Some((f, l, c)) = ins.pos {
                fb.set_location(f, l, c);
            }
            fb.emit(ins.op, ins.args);
        }
        for l in pending {
            fb.bind(l);
        }
        fb
    }
}

/// The conditional jump taken exactly when `op` is not (same operands, same faults).
fn inverse(op: Op) -> Option<Op> {
    use Op::*;
    let pairs = [
        (Jt, Jf),
        (JNil, JCons),
        (JEq, JNe),
        (JEqChar, JNeChar),
        (JLtI64, JGeI64),
        (JLeI64, JGtI64),
        (JEqI64, JNeI64),
        (JLtIImm, JGeIImm),
        (JLeIImm, JGtIImm),
        (JEqIImm, JNeIImm),
        (JLtU64, JGeU64),
        (JLeU64, JGtU64),
        (JLtF64, JNLtF64),
        (JLeF64, JNLeF64),
        (JEqF64, JNeF64),
    ];
    pairs.iter().find_map(|&(a, b)| {
        if a == op {
            Some(b)
        } else if b == op {
            Some(a)
        } else {
            None
        }
    })
}

/// The labels an instruction jumps to.
fn targets(ins: &Ins) -> impl Iterator<Item = Label> + '_ {
    ins.args.iter().flat_map(|a| match a {
        Arg::Label(l) => vec![*l],
        Arg::Table(d, cs) => std::iter::once(*d).chain(cs.iter().copied()).collect(),
        Arg::Op(_) => Vec::new(),
    })
}

fn targets_mut(ins: &mut Ins) -> impl Iterator<Item = &mut Label> + '_ {
    ins.args.iter_mut().flat_map(|a| -> Vec<&mut Label> {
        match a {
            Arg::Label(l) => vec![l],
            Arg::Table(d, cs) => std::iter::once(d).chain(cs.iter_mut()).collect(),
            Arg::Op(_) => Vec::new(),
        }
    })
}

/// The label a `jmp` goes to.
fn jmp_target(ins: &Ins) -> Option<Label> {
    match (ins.op, ins.args.as_slice()) {
        (Op::Jmp, [Arg::Label(l)]) => Some(*l),
        _ => None,
    }
}

/// Where each label is bound (instruction index; `code.len()` for the end).
fn label_map(code: &[Ins]) -> HashMap<Label, usize> {
    let mut m = HashMap::new();
    for (i, ins) in code.iter().enumerate() {
        for &l in &ins.labels {
            m.insert(l, i);
        }
    }
    m
}

/// The clean-up passes (module documentation), repeated while they find something.
fn optimize(code: &mut Vec<Ins>, arity: u16) {
    for _ in 0..4 {
        let mut changed = thread_jumps(code);
        changed |= jump_over_jump(code);
        changed |= drop_jumps_to_next(code);
        changed |= layout(code);
        if !changed {
            break;
        }
    }
    drop_unused_labels(code);
    let mut changed = forward_stored_fields(code);
    changed |= sink_fields(code);
    changed |= coalesce_copies(code);
    if tail_args_in_place(code) {
        coalesce_copies(code);
        changed = true;
    }
    changed |= windows_in_place(code);
    // `mov r1, r1` left by an argument passed on in its own position, or by coalescing.
    changed |= drop_self_moves(code);
    changed |= drop_dead_moves(code);
    // On the cleaned-up code: it counts the instructions it would add.
    if tail_args_scheduled(code, arity) {
        drop_self_moves(code);
        drop_dead_moves(code);
        changed = true;
    }
    if changed {
        drop_jumps_to_next(code);
    }
    // Last: the passes above know `field`, `loadi` and `ret`, not what they fuse into.
    fuse_fields(code);
    fuse_returns(code);
    fuse_next_pairs(code);
    // After everything that drops instructions: the slots left are the frame.
    compact_slots(code, arity);
}

/// Renumbers the slots the code names densely, in their order, and the parameters in
/// place: a slot no instruction names any more (a pattern binding whose `field` moved
/// into the call it feeds, a temporary coalesced away) no longer sits below the used
/// ones, where it made the frame bigger, and every slot of a frame costs at each call
/// (the push clears it; binary-trees' `item_check` named slots 0 and 3-5 in a frame of
/// 6) and at each collection (it is scanned). The map keeps the order of slots, so a
/// window stays consecutive (its slots are all named) and what was below a call's
/// window stays below it; a zero-length window's base, named by no run, maps to the
/// number of named slots below it (everything above it stays above it). Only slot
/// numbers change: no instruction, offset or source position.
fn compact_slots(code: &mut [Ins], arity: u16) {
    use hashvm_format::OperandKind as K;
    let mut named: Vec<bool> = vec![true; arity as usize];
    let mut name = |s: usize| {
        if named.len() <= s {
            named.resize(s + 1, false);
        }
        named[s] = true;
    };
    for ins in code.iter() {
        let mut base = None;
        for (k, a) in ins.op.operands().iter().zip(&ins.args) {
            match (k, a) {
                (K::Dst | K::Src, Arg::Op(Operand::Slot(x))) => name(*x as usize),
                (K::Base, Arg::Op(Operand::Slot(x))) => base = Some(*x as usize),
                (K::Count, Arg::Op(Operand::U16(n))) => {
                    if let Some(b) = base.take() {
                        (b..b + *n as usize).for_each(&mut name);
                    }
                }
                _ => {}
            }
        }
    }
    // `below[s]`: the named slots below `s`, which is `s`'s new number when it is named.
    // Counted in u32: a frame may name all 65,536 slots, one more than a u16 holds
    // (then nothing moves, and the function returns before any count is used).
    let mut below: Vec<u16> = Vec::with_capacity(named.len());
    let mut count: u32 = 0;
    for &n in &named {
        // At most the slot's own number, which is a u16.
        below.push(count as u16);
        count += u32::from(n);
    }
    if count as usize == named.len() {
        return;
    }
    // Some slot below `named.len()` (at most 65,536) is unnamed, so `count` < 65,536.
    let count = count as u16;
    let map = |s: u16| below.get(s as usize).copied().unwrap_or(count);
    for ins in code.iter_mut() {
        for (k, a) in ins.op.operands().iter().zip(ins.args.iter_mut()) {
            if let (K::Dst | K::Src | K::Base, Arg::Op(Operand::Slot(x))) = (k, a) {
                *x = map(*x);
            }
        }
    }
}

/// An instruction followed by the instruction that its fused form needs after it
/// (`Op::with_next`) becomes that fused form: one whose result the next instruction
/// returns (`con d, T, c, base, n; ret d` is `con.ret`, `add.i64 d, a, b; ret d` is
/// `add.i64.ret`, `loadg d, g; ret d` is `loadg.ret`), a constructor test that
/// falls through to a `reti` (`jntag s, t, L; reti k` is `jntag.reti`: a match whose
/// first case returns a constant), and a `field` or `subi.i64` followed by a `callk`
/// (`field.callk`, `subi.i64.callk`: usually the call's argument, binary-trees'
/// `item_check(left)` and `bottom_up_tree(depth - 1)`). The interpreter runs the pair
/// in one dispatch (binary-trees' nodes, its check's sums, its shared leaf, its check
/// of `Empty` and its calls' arguments: about a third of its dispatches; AWFY
/// Storage's nodes; pmap's heights). The second instruction stays where it was (a
/// jump may enter it; the tracing recorder and the native compiler run the pair as it
/// was, `Op::unfused`), so no offset, source position, fault or stack trace changes.
/// Whether anything changed.
fn fuse_next_pairs(code: &mut [Ins]) -> bool {
    let mut changed = false;
    for k in 1..code.len() {
        let (done, rest) = code.split_at_mut(k);
        let (first, next) = (&mut done[k - 1], &rest[0]);
        let Some((fused, want)) = first.op.with_next() else {
            continue;
        };
        let follows = next.op == want
            && match (want, first.args.first(), next.args.as_slice()) {
                (Op::Ret, Some(Arg::Op(Operand::Slot(d))), [Arg::Op(Operand::Slot(r))]) => d == r,
                (Op::Ret, _, _) => false,
                _ => true,
            };
        if follows {
            first.op = fused;
            changed = true;
        }
    }
    changed
}

/// A return of a small integer constant (`loadi r, k; ret r`, the `ret` entered only
/// from the `loadi`) becomes `reti k`: one dispatch instead of two. binary-trees'
/// `Empty => 0` is one in six of its dispatches. `r` is not written (nothing reads a
/// returning frame's slots). It keeps the `loadi`'s source position (neither faults).
fn fuse_returns(code: &mut Vec<Ins>) -> bool {
    fuse_pairs(code, |code, k| {
        match (
            (code[k].op, code[k].args.as_slice()),
            (code[k + 1].op, code[k + 1].args.as_slice()),
        ) {
            (
                (Op::LoadI, [Arg::Op(Operand::Slot(r)), Arg::Op(Operand::Imm32(v))]),
                (Op::Ret, [Arg::Op(Operand::Slot(s))]),
            ) if r == s => Some((Op::RetI, vec![Arg::Op(Operand::Imm32(*v))])),
            _ => None,
        }
    })
}

/// Replaces each pair of consecutive instructions `k`, `k + 1` (the second entered only
/// from the first) for which `fuse(code, k)` gives one instruction by that
/// instruction, at the first's place with its source position; the pairs do not
/// overlap. Whether anything changed.
fn fuse_pairs(code: &mut Vec<Ins>, fuse: impl Fn(&[Ins], usize) -> Option<(Op, Vec<Arg>)>) -> bool {
    let plan: Vec<Option<(Op, Vec<Arg>)>> = (0..code.len())
        .map(|k| {
            code.get(k + 1)
                .filter(|next| next.labels.is_empty())
                .and_then(|_| fuse(code, k))
        })
        .collect();
    if plan.iter().all(Option::is_none) {
        return false;
    }
    let mut out = Vec::with_capacity(code.len());
    let mut skip = false;
    for (mut ins, p) in std::mem::take(code).into_iter().zip(plan) {
        if std::mem::take(&mut skip) {
            continue;
        }
        if let Some((op, args)) = p {
            ins.op = op;
            ins.args = args;
            ins.frozen = false;
            skip = true;
        }
        out.push(ins);
    }
    *code = out;
    true
}

/// A field of a field (`field t, s, i; field d, t, j`, the second instruction entered
/// only from the first, `t` dead after it or the same slot as `d`) becomes `field2 d,
/// s, i, j`: one dispatch instead of two. `Some(x) => x.next` reads an enum payload
/// and then its struct's field (awfy_list's `is_shorter_than`, twice per iteration).
/// `t` is not written: it keeps its older value, one the function held there anyway
/// (as [`drop_dead_moves`] leaves). The pair's faults are `field2`'s, in the same
/// order; it keeps the first instruction's source position (a `field` hashc emits
/// cannot fault anyway: see [`sink_fields`]).
fn fuse_fields(code: &mut Vec<Ins>) -> bool {
    let Some(live) = live_out(code) else {
        return false;
    };
    let field = |ins: &Ins| match (ins.op, ins.args.as_slice()) {
        (
            Op::Field,
            [Arg::Op(Operand::Slot(d)), Arg::Op(Operand::Slot(s)), Arg::Op(Operand::U16(i))],
        ) => Some((*d, *s, *i)),
        _ => None,
    };
    fuse_pairs(code, |code, k| {
        let (t, s, i) = field(&code[k])?;
        let (d, t2, j) = field(&code[k + 1])?;
        (t2 == t && (t == d || !live[k + 1].has(t))).then(|| {
            let args = [
                Operand::Slot(d),
                Operand::Slot(s),
                Operand::U16(i),
                Operand::U16(j),
            ];
            (Op::Field2, args.into_iter().map(Arg::Op).collect())
        })
    })
}

/// A read of the field just stored (`setfield b, i, v; field d, b, i`, the `field`
/// entered only from the `setfield`) becomes `mov d, v` (dropped later when `d` is
/// `v` or dead): a field holds the 16-byte value stored into it as it is, and the
/// store has just shown that `b` has field `i`, so the read can neither fault nor see
/// another value. awfy_storage's `next_random` (`r.seed = ...; r.seed`, inlined into
/// its caller) reads back the seed it stores, once per leaf. The `mov` keeps the
/// `field`'s source position. Whether anything changed.
fn forward_stored_fields(code: &mut [Ins]) -> bool {
    let mut changed = false;
    for k in 1..code.len() {
        let (done, rest) = code.split_at_mut(k);
        let (store, load) = (&done[k - 1], &mut rest[0]);
        if !load.labels.is_empty() {
            continue;
        }
        let (
            Op::SetField,
            [Arg::Op(Operand::Slot(b)), Arg::Op(Operand::U16(i)), Arg::Op(Operand::Slot(v))],
        ) = (store.op, store.args.as_slice())
        else {
            continue;
        };
        let (
            Op::Field,
            [Arg::Op(Operand::Slot(d)), Arg::Op(Operand::Slot(b2)), Arg::Op(Operand::U16(j))],
        ) = (load.op, load.args.as_slice())
        else {
            continue;
        };
        if b2 == b && j == i {
            load.op = Op::Mov;
            load.args = vec![Arg::Op(Operand::Slot(*d)), Arg::Op(Operand::Slot(*v))];
            load.frozen = false;
            changed = true;
        }
    }
    changed
}

/// Forgets the labels no jump targets any more (so that they do not cut straight-line
/// code into pieces for [`coalesce_copies`]).
fn drop_unused_labels(code: &mut [Ins]) {
    let used: std::collections::HashSet<Label> = code.iter().flat_map(targets).collect();
    for ins in code.iter_mut() {
        ins.labels.retain(|l| used.contains(l));
    }
}

/// Jump threading: a jump to a `jmp` goes to its target; a `jmp` to a return is it.
fn thread_jumps(code: &mut [Ins]) -> bool {
    let at = label_map(code);
    let mut changed = false;
    let final_target = |mut l: Label| -> Label {
        // A cycle of `jmp`s (an empty infinite loop) stops after a few hops.
        for _ in 0..8 {
            match at.get(&l).and_then(|&i| code.get(i)).and_then(jmp_target) {
                Some(m) if m != l => l = m,
                _ => break,
            }
        }
        l
    };
    let mut retargets = Vec::new();
    for (i, ins) in code.iter().enumerate() {
        for (k, l) in targets(ins).enumerate() {
            let m = final_target(l);
            if m != l {
                retargets.push((i, k, m));
            }
        }
    }
    for (i, k, m) in retargets {
        if let Some(l) = targets_mut(&mut code[i]).nth(k) {
            *l = m;
            changed = true;
        }
    }
    // `jmp L` where L is a return: the return itself (it cannot fault).
    for i in 0..code.len() {
        let Some(l) = jmp_target(&code[i]) else {
            continue;
        };
        let Some(&j) = at.get(&l) else { continue };
        if let Some(t) = code.get(j) {
            if matches!(t.op, Op::Ret | Op::RetU | Op::RetI) {
                let (op, args) = (t.op, t.args.clone());
                code[i].op = op;
                code[i].args = args;
                changed = true;
            }
        }
    }
    changed
}

/// `jcc .., L0; jmp L1; L0:` becomes `jncc .., L1; L0:`.
fn jump_over_jump(code: &mut Vec<Ins>) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i + 1 < code.len() {
        let inv = inverse(code[i].op);
        let over = match (inv, code[i].args.last(), jmp_target(&code[i + 1])) {
            (Some(inv), Some(Arg::Label(l0)), Some(l1))
                if code[i + 1].labels.is_empty()
                    && code.get(i + 2).is_some_and(|n| n.labels.contains(l0)) =>
            {
                Some((inv, l1))
            }
            _ => None,
        };
        if let Some((inv, l1)) = over {
            code[i].op = inv;
            if let Some(Arg::Label(l)) = code[i].args.last_mut() {
                *l = l1;
            }
            code.remove(i + 1);
            changed = true;
        }
        i += 1;
    }
    changed
}

/// Drops each `jmp` to the instruction right after it.
fn drop_jumps_to_next(code: &mut Vec<Ins>) -> bool {
    drop_where(code, |code, i| match jmp_target(&code[i]) {
        Some(l) => code[i + 1].labels.contains(&l),
        None => false,
    })
}

/// Drops every instruction but the last for which `doomed(code, i)` holds, its labels
/// moving onto the instruction after it (which a jump to it then reaches: the dropped
/// instruction must be one whose removal keeps the meaning, e.g. a jump to the next
/// instruction or a `mov` to itself). Whether anything was dropped.
fn drop_where(code: &mut Vec<Ins>, doomed: impl Fn(&[Ins], usize) -> bool) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i + 1 < code.len() {
        if doomed(code, i) {
            let labels = code.remove(i).labels;
            code[i].labels.splice(0..0, labels);
            changed = true;
        } else {
            i += 1;
        }
    }
    changed
}

/// Block layout and dead code (module documentation).
fn layout(code: &mut Vec<Ins>) -> bool {
    // Source positions must be known for every instruction that could move.
    // and the code must end with an instruction that does not fall off its end.
    if code.is_empty()
        || code.iter().any(|i| i.pos.is_none())
        || !code[code.len() - 1].op.is_terminator()
    {
        return false;
    }
    // Runs: [start, end) ranges, each starting at a label or after an instruction that
    // never falls through, so that every jump enters a run at its top.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for (i, ins) in code.iter().enumerate() {
        if i > start && !ins.labels.is_empty() {
            runs.push((start, i));
            start = i;
        }
        if ins.op.is_terminator() {
            runs.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < code.len() {
        runs.push((start, code.len()));
    }
    let mut run_of = vec![0usize; code.len()];
    for (r, &(a, b)) in runs.iter().enumerate() {
        for x in &mut run_of[a..b] {
            *x = r;
        }
    }
    // Whether control falls from run r into run r + 1.
    let falls: Vec<bool> = runs
        .iter()
        .map(|&(_, b)| !code[b - 1].op.is_terminator())
        .collect();
    let at = label_map(code);
    let run_at = |l: Label| -> Option<usize> {
        let &i = at.get(&l)?;
        (i < code.len()).then(|| run_of[i])
    };
    // Reachable runs, from the first.
    let mut reach = vec![false; runs.len()];
    let mut work = vec![0usize];
    reach[0] = true;
    while let Some(r) = work.pop() {
        let (a, b) = runs[r];
        let mut next: Vec<usize> = code[a..b]
            .iter()
            .flat_map(targets)
            .filter_map(run_at)
            .collect();
        if falls[r] && r + 1 < runs.len() {
            next.push(r + 1);
        }
        for n in next {
            if !reach[n] {
                reach[n] = true;
                work.push(n);
            }
        }
    }
    let mut placed = vec![false; runs.len()];
    let mut order: Vec<(usize, bool)> = Vec::new(); // (run, drop its final jmp)
    for r in 0..runs.len() {
        if placed[r] || !reach[r] {
            continue;
        }
        let mut cur = r;
        loop {
            placed[cur] = true;
            if falls[cur] && cur + 1 < runs.len() {
                order.push((cur, false));
                cur += 1;
                continue;
            }
            // A run nothing falls into can follow the run that jumps to it.
            let last = &code[runs[cur].1 - 1];
            let next = jmp_target(last)
                .and_then(run_at)
                .filter(|&t| t > 0 && !placed[t] && reach[t] && !falls[t - 1]);
            match next {
                Some(t) => {
                    order.push((cur, true));
                    cur = t;
                }
                None => {
                    order.push((cur, false));
                    break;
                }
            }
        }
    }
    let identity = order.len() == runs.len()
        && order
            .iter()
            .enumerate()
            .all(|(k, &(r, drop))| k == r && !drop);
    if identity {
        return false;
    }
    let old = std::mem::take(code);
    let mut slots: Vec<Option<Ins>> = old.into_iter().map(Some).collect();
    for (r, drop) in order {
        let (a, b) = runs[r];
        for (i, slot) in slots.iter_mut().enumerate().take(b).skip(a) {
            if let Some(ins) = slot.take() {
                if drop && i + 1 == b {
                    // The dropped jump's labels (if any) go to the next run's head.
                    code.push(Ins {
                        op: Op::Nop,
                        args: Vec::new(),
                        ..ins
                    });
                } else {
                    code.push(ins);
                }
            }
        }
    }
    // Move the labels of placeholder `nop`s (dropped jumps) onto the next instruction.
    drop_where(code, |code, i| {
        code[i].op == Op::Nop && code[i].args.is_empty()
    });
    true
}

/// The slots an instruction reads, writes and clobbers, from the opcode table's
/// operand roles (`Src`, `Dst`, and `Base`/`Count` runs).
#[derive(Default)]
struct Effects {
    reads: Vec<u16>,
    /// The `Dst` operand, if any.
    write: Option<u16>,
    /// A call's window base: every slot from it up is garbage after the call.
    clobber_from: Option<u16>,
}

fn effects(ins: &Ins) -> Effects {
    use hashvm_format::OperandKind as K;
    let mut e = Effects::default();
    let kinds = ins.op.operands();
    let mut base = None;
    for (k, a) in kinds.iter().zip(&ins.args) {
        match (k, a) {
            (K::Dst, Arg::Op(Operand::Slot(x))) => e.write = Some(*x),
            (K::Src, Arg::Op(Operand::Slot(x))) => e.reads.push(*x),
            (K::Base, Arg::Op(Operand::Slot(x))) => base = Some(*x),
            (K::Count, Arg::Op(Operand::U16(n))) => {
                if let Some(b) = base.take() {
                    e.reads.extend((0..*n).map(|i| b.saturating_add(i)));
                    if matches!(ins.op, Op::Call | Op::CallK | Op::CallSelf | Op::FfiCall) {
                        e.clobber_from = Some(b);
                    }
                }
            }
            _ => {}
        }
    }
    e
}

/// A set of slots.
#[derive(Clone, PartialEq)]
struct Slots(Vec<u64>);

impl Slots {
    fn new(n: usize) -> Slots {
        Slots(vec![0; n.div_ceil(64)])
    }
    fn has(&self, s: u16) -> bool {
        self.0
            .get(s as usize / 64)
            .is_some_and(|w| w & (1 << (s % 64)) != 0)
    }
    fn add(&mut self, s: u16) {
        if let Some(w) = self.0.get_mut(s as usize / 64) {
            *w |= 1 << (s % 64);
        }
    }
    fn remove(&mut self, s: u16) {
        if let Some(w) = self.0.get_mut(s as usize / 64) {
            *w &= !(1 << (s % 64));
        }
    }
    fn remove_from(&mut self, s: u16) {
        let (w, b) = (s as usize / 64, s % 64);
        if let Some(x) = self.0.get_mut(w) {
            *x &= (1u64 << b) - 1;
        }
        for x in self.0.iter_mut().skip(w + 1) {
            *x = 0;
        }
    }
    fn union(&mut self, o: &Slots) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }
}

/// One past the highest slot any instruction reads or writes.
fn slot_count(effs: &[Effects]) -> usize {
    effs.iter()
        .flat_map(|e| e.reads.iter().chain(e.write.iter()))
        .map(|&s| s as usize + 1)
        .max()
        .unwrap_or(0)
}

/// The slots live after each instruction (read on some path before being written),
/// or `None` when the function is too large to analyse cheaply.
fn live_out(code: &[Ins]) -> Option<Vec<Slots>> {
    let effs: Vec<Effects> = code.iter().map(effects).collect();
    let nslots = slot_count(&effs);
    if code.len().saturating_mul(nslots.div_ceil(64)) > 1 << 22 {
        return None;
    }
    let at = label_map(code);
    let succ: Vec<Vec<usize>> = code
        .iter()
        .enumerate()
        .map(|(i, ins)| {
            let mut v: Vec<usize> = targets(ins).filter_map(|l| at.get(&l).copied()).collect();
            if !ins.op.is_terminator() && i + 1 < code.len() {
                v.push(i + 1);
            }
            v.retain(|&j| j < code.len());
            v
        })
        .collect();
    let mut live_in = vec![Slots::new(nslots); code.len()];
    let mut out = vec![Slots::new(nslots); code.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for i in (0..code.len()).rev() {
            let mut o = Slots::new(nslots);
            for &j in &succ[i] {
                o.union(&live_in[j]);
            }
            let mut inn = o.clone();
            let e = &effs[i];
            if let Some(b) = e.clobber_from {
                inn.remove_from(b);
            }
            if let Some(w) = e.write {
                inn.remove(w);
            }
            for &r in &e.reads {
                inn.add(r);
            }
            if inn != live_in[i] {
                live_in[i] = inn;
                changed = true;
            }
            out[i] = o;
        }
    }
    Some(out)
}

/// Copy coalescing: `op B, ...; ...; mov A, B` with `B` dead after the `mov` becomes
/// `op A, ...; ...` when the instructions in between (straight-line code) do not
/// touch `A` and read `B` only as stores' plain operands (those then read `A`), and
/// `op` is not a call (a call's destination inside its
/// window is how the dead argument is overwritten, SPEC.md §1.4). The `mov`s this
/// removes are those of pattern-bound fields passed on to a call or constructor, and of
/// values computed into a temporary and then copied into a window.
fn coalesce_copies(code: &mut Vec<Ins>) -> bool {
    let Some(live) = live_out(code) else {
        return false;
    };
    let mut effs: Vec<Effects> = code.iter().map(effects).collect();
    let mut remove = vec![false; code.len()];
    for i in 0..code.len() {
        let (a, b) = match (code[i].op, code[i].args.as_slice()) {
            (Op::Mov, [Arg::Op(Operand::Slot(a)), Arg::Op(Operand::Slot(b))]) if a != b => (*a, *b),
            _ => continue,
        };
        if live[i].has(b) {
            continue;
        }
        // Walk back to the definition of `b` in the same straight-line run; the
        // instructions between that read `b` through plain operands read `a` instead
        // (awfy_storage's inlined `next_random`: `and.i64 t, ..; setfield r, 0, t;
        // mov d, t`).
        let mut j = i;
        let mut found = None;
        let mut readers = Vec::new();
        while j > 0 {
            if !code[j].labels.is_empty() {
                break;
            }
            j -= 1;
            if remove[j] {
                continue;
            }
            let e = &effs[j];
            let jumps = targets(&code[j]).next().is_some() || code[j].op.is_terminator();
            if jumps {
                break;
            }
            if e.write == Some(b) {
                let call = e.clobber_from.is_some();
                // An instruction reading `a` may write it too (`field r0, r0, 1`)
                // unless it reads a window (`con`, `tuple`: kept conservative).
                let window = code[j]
                    .op
                    .operands()
                    .contains(&hashvm_format::OperandKind::Base);
                let reads_a = e.reads.contains(&a) && window;
                if !call && !reads_a {
                    found = Some(j);
                }
                break;
            }
            let touches_a = e.reads.contains(&a)
                || e.write == Some(a)
                || e.clobber_from.is_some_and(|c| a >= c);
            if touches_a || e.clobber_from.is_some_and(|c| b >= c) {
                break;
            }
            if e.reads.contains(&b) {
                // Only stores (no result, no window: `setfield`, `aset`, `storeg`).
                // A window's read cannot be renamed alone, and a reader with a result
                // (`mov d, b`) would leave a copy of `a` that [`windows_in_place`]
                // mistakes for the source of a window's field when `a` is the next
                // one (`mov r5, r6; tuple r2, r5, 2`).
                let kinds = code[j].op.operands();
                if kinds.contains(&hashvm_format::OperandKind::Base) || e.write.is_some() {
                    break;
                }
                readers.push(j);
            }
        }
        let Some(j) = found else { continue };
        for &r in &readers {
            let kinds = code[r].op.operands();
            for (k, arg) in kinds.iter().zip(code[r].args.iter_mut()) {
                if let (hashvm_format::OperandKind::Src, Arg::Op(Operand::Slot(x))) = (k, arg) {
                    if *x == b {
                        *x = a;
                    }
                }
            }
            effs[r] = effects(&code[r]);
        }
        let kinds = code[j].op.operands();
        for (k, arg) in kinds.iter().zip(code[j].args.iter_mut()) {
            if let (hashvm_format::OperandKind::Dst, Arg::Op(Operand::Slot(x))) = (k, arg) {
                *x = a;
            }
        }
        effs[j] = effects(&code[j]);
        remove[i] = true;
    }
    if !remove.iter().any(|&r| r) {
        return false;
    }
    let old = std::mem::take(code);
    let mut carried: Vec<Label> = Vec::new();
    for (ins, r) in old.into_iter().zip(remove) {
        if r {
            carried.extend(ins.labels);
        } else {
            let mut ins = ins;
            if !carried.is_empty() {
                ins.labels.splice(0..0, carried.drain(..));
            }
            code.push(ins);
        }
    }
    true
}

/// The window of a tail call (`tcallself`, `tcallk`, `tcall`): its base slot, its
/// argument count, and the slot of the called function for `tcall`.
fn tail_call_window(ins: &Ins) -> Option<(u16, u16, Option<u16>)> {
    match (ins.op, ins.args.as_slice()) {
        (Op::TCallSelf, [Arg::Op(Operand::Slot(b)), Arg::Op(Operand::U16(n))])
        | (Op::TCallK, [_, Arg::Op(Operand::Slot(b)), Arg::Op(Operand::U16(n))]) => {
            Some((*b, *n, None))
        }
        (
            Op::TCall,
            [Arg::Op(Operand::Slot(f)), Arg::Op(Operand::Slot(b)), Arg::Op(Operand::U16(n))],
        ) => Some((*b, *n, Some(*f))),
        _ => None,
    }
}

/// The first instruction of the straight-line run that ends at `at`: control enters
/// the run only there (no label inside it, no jump or terminator before `at` in it).
fn run_start(code: &[Ins], at: usize) -> usize {
    let mut start = at;
    while start > 0 && code[start].labels.is_empty() {
        let p = &code[start - 1];
        if targets(p).next().is_some() || p.op.is_terminator() {
            break;
        }
        start -= 1;
    }
    start
}

/// Tail-call arguments straight into the parameter slots: `...; mov r6, r2; mov r7,
/// r1; tcallself r6, 2` becomes `...; mov r0, r2; tcallself r0, 2` (the `mov r1, r1`
/// dropped), and the same for `tcallk` and `tcall`. A tail call's window at slot 0 is
/// where the callee's frame starts, so the interpreter moves nothing (AWFY List's
/// `is_shorter_than` spent 18% of its time in `tcallself`'s `memmove`).
///
/// Each window slot `B + i` is renamed to `i` from its last definition `d` before the
/// call (in the same straight-line run) to the call, when nothing in between reads,
/// writes or clobbers slot `i`, and nothing but the call reads `B + i`. The renames
/// are checked one after the other on the renamed code, last argument first, which
/// finds an order for the moves when one exists without a spare slot (a swap of two
/// parameters has none: it is left as it is); all or none of a call's arguments are
/// renamed. A slot `i` written earlier than before holds a parameter the tail call
/// replaces anyway, so no pointer is kept alive longer (SPEC.md §1.4).
fn tail_args_in_place(code: &mut [Ins]) -> bool {
    let mut changed = false;
    for c in 0..code.len() {
        let Some((base, n, fslot)) = tail_call_window(&code[c]) else {
            continue;
        };
        // The window must not overlap the parameter slots it moves to, nor the function.
        if n == 0 || base < n || fslot.is_some_and(|f| f < n) {
            continue;
        }
        // The straight-line run ending at the call: control enters it only at `start`.
        let start = run_start(code, c);
        let mut run: Vec<Ins> = code[start..c].to_vec();
        let mut ok = true;
        for i in (0..n).rev() {
            let (from, to) = (base + i, i);
            let effs: Vec<Effects> = run.iter().map(effects).collect();
            let Some(d) = effs.iter().rposition(|e| e.write == Some(from)) else {
                ok = false;
                break;
            };
            // `mov B + i, i` (the parameter passed on in its place) leaves slot `i`
            // as it was: later reads of it still see the same value.
            let in_place = run[d].op == Op::Mov && effs[d].reads == [to];
            let clean = effs[d + 1..].iter().all(|e| {
                (in_place || !e.reads.contains(&to))
                    && !e.reads.contains(&from)
                    && e.write != Some(to)
                    && e.clobber_from.is_none_or(|b| to < b)
            });
            if !clean {
                ok = false;
                break;
            }
            let kinds = run[d].op.operands();
            for (k, arg) in kinds.iter().zip(run[d].args.iter_mut()) {
                if let (hashvm_format::OperandKind::Dst, Arg::Op(Operand::Slot(x))) = (k, arg) {
                    *x = to;
                }
            }
        }
        if !ok {
            continue;
        }
        for (k, ins) in run.into_iter().enumerate() {
            code[start + k] = ins;
        }
        let b = match code[c].op {
            Op::TCallSelf => 0,
            _ => 1,
        };
        code[c].args[b] = Arg::Op(Operand::Slot(0));
        changed = true;
    }
    changed
}

/// Drops `mov a, a` (its labels go to the next instruction).
fn drop_self_moves(code: &mut Vec<Ins>) -> bool {
    drop_where(code, |code, i| {
        matches!(
            (code[i].op, code[i].args.as_slice()),
            (Op::Mov, [Arg::Op(Operand::Slot(a)), Arg::Op(Operand::Slot(b))]) if a == b
        )
    })
}

/// Drops a `mov` whose destination nothing reads before it is written again (left
/// by windows filled twice, as `remove_min`'s was). Its slot keeps its older value
/// longer, a value the function held there anyway.
fn drop_dead_moves(code: &mut Vec<Ins>) -> bool {
    let mut changed = false;
    for _ in 0..4 {
        let Some(live) = live_out(code) else {
            return changed;
        };
        let dead: Vec<bool> = code
            .iter()
            .zip(&live)
            .map(|(ins, l)| match (ins.op, ins.args.as_slice()) {
                (Op::Mov, [Arg::Op(Operand::Slot(a)), _]) => !l.has(*a),
                _ => false,
            })
            .collect();
        if !dead.iter().any(|&d| d) {
            break;
        }
        let old = std::mem::take(code);
        let mut carried: Vec<Label> = Vec::new();
        for (ins, d) in old.into_iter().zip(dead) {
            if d {
                carried.extend(ins.labels);
            } else {
                let mut ins = ins;
                ins.labels.splice(0..0, carried.drain(..));
                code.push(ins);
            }
        }
        changed = true;
    }
    changed
}

/// Whether `op` may store into an existing object or run code that may: calls, the
/// stores, `force` (a thunk's code) and the list functions that call closures.
fn may_store(op: Op) -> bool {
    use Op::*;
    matches!(
        op,
        Call | CallK
            | CallSelf
            | TCall
            | TCallK
            | TCallSelf
            | FfiCall
            | SetField
            | ASet
            | RefSet
            | SetEnv
            | StoreG
            | Force
            | ArrayFill
            | ListMap
            | ListFilter
            | ListFoldr
    )
}

/// Lazy field extraction: a `field d, s, k` (a pattern's bound field, extracted by the
/// match compiler as soon as the constructor is known) moves down its straight-line
/// run to the branch that ends it, and then into the one successor that reads `d`,
/// when control enters that successor only from this branch; repeated, it reaches the
/// arm that uses it. A field no successor reads is dropped. pmap's `find` read four
/// fields where each path uses two.
///
/// The instructions it moves past neither touch `d` nor write `s` (so `s` still holds
/// the same object), nor, unless the object is immutable ([`Ins::frozen`]: binary-trees'
/// second subtree is then read straight into the second call's window), store into any
/// object or run code that could (a struct's fields are mutable; [`may_store`]), so the
/// value read is the same. A
/// `field` hashc emits cannot fault (the value's constructor is known, or its type is
/// a struct), so moving or dropping it changes no error or stack trace. `d` is
/// written later than before, never earlier: no pointer stays alive longer.
fn sink_fields(code: &mut Vec<Ins>) -> bool {
    // Each move needs the liveness of the code it changed; large functions are left.
    if code.len() > 4000 {
        return false;
    }
    let mut changed = false;
    for _ in 0..256 {
        let Some(live) = live_out(code) else {
            return changed;
        };
        let at = label_map(code);
        // How many edges enter each instruction (jumps, and falling into it).
        let mut preds = vec![0usize; code.len() + 1];
        for (i, ins) in code.iter().enumerate() {
            for l in targets(ins) {
                if let Some(&t) = at.get(&l) {
                    preds[t] += 1;
                }
            }
            if !ins.op.is_terminator() {
                preds[i + 1] += 1;
            }
        }
        let live_in = |j: usize, x: u16| -> bool {
            // Live into j: read by j, or live after j and not written by it.
            let e = effects(&code[j]);
            e.reads.contains(&x)
                || (live[j].has(x) && e.write != Some(x) && e.clobber_from.is_none_or(|b| x < b))
        };
        let mut action = None;
        'fields: for i in 0..code.len() {
            let (d, src) = match (code[i].op, code[i].args.as_slice()) {
                (Op::Field, [Arg::Op(Operand::Slot(d)), Arg::Op(Operand::Slot(s)), _]) => (*d, *s),
                _ => continue,
            };
            // Down the run to the instruction that ends it.
            let mut j = i + 1;
            loop {
                let Some(ins) = code.get(j) else {
                    continue 'fields;
                };
                if !ins.labels.is_empty() {
                    continue 'fields;
                }
                let e = effects(ins);
                // A struct's fields are mutable: nothing that may store into an object
                // (or run code that may) is crossed, so the field reads the same value.
                // A tuple's or an enum payload's never change: those cross anything.
                if may_store(ins.op) && !code[i].frozen {
                    continue 'fields;
                }
                let touches = e.reads.contains(&d)
                    || e.write == Some(d)
                    || e.write == Some(src)
                    || e.clobber_from.is_some_and(|b| d >= b || src >= b);
                if touches {
                    // Down to its first reader, where copy coalescing can then read
                    // it straight into a window.
                    if j > i + 1 && e.reads.contains(&d) && e.write != Some(src) {
                        action = Some((i, Some(j)));
                        break 'fields;
                    }
                    continue 'fields;
                }
                if targets(ins).next().is_some() || ins.op.is_terminator() {
                    if e.write.is_some() || e.clobber_from.is_some() {
                        continue 'fields;
                    }
                    break;
                }
                j += 1;
            }
            // The successors of the branch at j that read d.
            let mut succ: Vec<usize> = targets(&code[j])
                .filter_map(|l| at.get(&l).copied())
                .collect();
            if !code[j].op.is_terminator() {
                succ.push(j + 1);
            }
            if succ.iter().any(|&t| t >= code.len()) {
                continue;
            }
            let users: Vec<usize> = succ.iter().copied().filter(|&t| live_in(t, d)).collect();
            match users.as_slice() {
                [] => {
                    action = Some((i, None));
                    break;
                }
                [t] if *t != i
                    && preds[*t] == 1
                    && succ.iter().filter(|&&u| u == *t).count() == 1 =>
                {
                    action = Some((i, Some(*t)));
                    break;
                }
                _ => {}
            }
        }
        let Some((i, to)) = action else {
            return changed;
        };
        changed = true;
        let mut f = code.remove(i);
        let carried = std::mem::take(&mut f.labels);
        // `i` had no labels of its own unless it started a block: they stay there.
        if !carried.is_empty() {
            code[i].labels.splice(0..0, carried);
        }
        if let Some(t) = to {
            // One instruction above a forward target was removed.
            let t = if t > i { t - 1 } else { t };
            f.labels = std::mem::take(&mut code[t].labels);
            code.insert(t, f);
        }
    }
    changed
}

/// The window (base, count) an instruction reads, if it has one.
fn window(ins: &Ins) -> Option<(u16, u16)> {
    use hashvm_format::OperandKind as K;
    let mut base = None;
    for (k, a) in ins.op.operands().iter().zip(&ins.args) {
        match (k, a) {
            (K::Base, Arg::Op(Operand::Slot(x))) => base = Some(*x),
            (K::Count, Arg::Op(Operand::U16(n))) => return base.map(|b| (b, *n)),
            _ => {}
        }
    }
    None
}

/// Whether `op`'s result is never a heap pointer (an i64, u64, f64, bool, char or
/// unit): a slot holding it keeps nothing alive, so it may be renamed into any slot
/// whose value is dead (SPEC.md §1.4, "Dead slots are roots too").
fn scalar_result(op: Op) -> bool {
    use Op::*;
    let m = op.mnemonic();
    matches!(
        op,
        LoadI | LoadI64 | LoadU64 | LoadF | LoadUnit | LoadTrue | LoadFalse | LoadChar
    ) || (op.operands().first() == Some(&hashvm_format::OperandKind::Dst)
        && (m.ends_with(".i64") || m.ends_with(".u64") || m.ends_with(".f64"))
        && window(&Ins {
            labels: Vec::new(),
            op,
            args: Vec::new(),
            pos: None,
            frozen: false,
        })
        .is_none())
}

/// The control-flow graph: successors and predecessors of each instruction.
fn cfg(code: &[Ins]) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let at = label_map(code);
    let mut succ = vec![Vec::new(); code.len()];
    let mut pred = vec![Vec::new(); code.len()];
    for (i, ins) in code.iter().enumerate() {
        let mut v: Vec<usize> = targets(ins).filter_map(|l| at.get(&l).copied()).collect();
        if !ins.op.is_terminator() {
            v.push(i + 1);
        }
        v.retain(|&j| j < code.len());
        for &j in &v {
            pred[j].push(i);
        }
        succ[i] = v;
    }
    (succ, pred)
}

/// The definitions of slot `x` reaching instruction `c`, and the instructions on the
/// paths from them to `c`; `None` when a path reaches the function's entry or a call
/// clobbering `x`.
fn reaching(
    effs: &[Effects],
    pred: &[Vec<usize>],
    c: usize,
    x: u16,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let mut defs = Vec::new();
    let mut between = Vec::new();
    let mut visited = vec![false; effs.len()];
    let mut stack: Vec<usize> = pred[c].clone();
    if c == 0 {
        return None;
    }
    while let Some(p) = stack.pop() {
        if std::mem::replace(&mut visited[p], true) {
            continue;
        }
        if effs[p].write == Some(x) {
            defs.push(p);
            continue;
        }
        if effs[p].clobber_from.is_some_and(|b| x >= b) || p == 0 {
            return None;
        }
        between.push(p);
        stack.extend(pred[p].iter().copied());
    }
    Some((defs, between))
}

/// Renames the value that slot `x` holds when instruction `c` reads it (its web: the
/// definitions reaching that read and every read they reach) into slot `y`, when
/// that is possible without changing what any instruction computes: every definition
/// yields a scalar ([`scalar_result`]), no read other than `c`'s is through a window,
/// and `y` holds nothing live, is not written and is not clobbered wherever the value
/// is live. `c`'s own read is left to the caller (it moves `c`'s window). Whether it
/// renamed.
fn rename_web(code: &mut [Ins], c: usize, x: u16, y: u16) -> bool {
    let Some(live) = live_out(code) else {
        return false;
    };
    let (succ, pred) = cfg(code);
    let effs: Vec<Effects> = code.iter().map(effects).collect();
    let clobbers = |i: usize, s: u16| effs[i].clobber_from.is_some_and(|b| s >= b);
    let mut defs: Vec<usize> = Vec::new();
    let mut uses: Vec<usize> = vec![c];
    let mut seen_use = 0;
    let mut seen_def = 0;
    while seen_use < uses.len() || seen_def < defs.len() {
        // The definitions reaching each new read.
        while seen_use < uses.len() {
            let u = uses[seen_use];
            seen_use += 1;
            let mut stack: Vec<usize> = pred[u].clone();
            if u == 0 {
                return false; // reaches the function's entry
            }
            let mut visited = vec![false; code.len()];
            while let Some(p) = stack.pop() {
                if std::mem::replace(&mut visited[p], true) {
                    continue;
                }
                if effs[p].write == Some(x) {
                    if !defs.contains(&p) {
                        defs.push(p);
                    }
                    continue;
                }
                if clobbers(p, x) || p == 0 {
                    return false;
                }
                stack.extend(pred[p].iter().copied());
            }
        }
        // The reads each new definition reaches.
        while seen_def < defs.len() {
            let d = defs[seen_def];
            seen_def += 1;
            let mut stack: Vec<usize> = succ[d].clone();
            let mut visited = vec![false; code.len()];
            while let Some(s) = stack.pop() {
                if std::mem::replace(&mut visited[s], true) {
                    continue;
                }
                if effs[s].reads.contains(&x) && !uses.contains(&s) {
                    uses.push(s);
                }
                if effs[s].write == Some(x) || clobbers(s, x) || !live[s].has(x) {
                    continue;
                }
                stack.extend(succ[s].iter().copied());
            }
        }
    }
    // What the renamed code would compute differently.
    for &d in &defs {
        let scalar_def = scalar_result(code[d].op);
        if !scalar_def || live[d].has(y) {
            return false;
        }
    }
    for &u in &uses {
        if u != c && window(&code[u]).is_some_and(|(b, n)| x >= b && x < b + n) {
            return false;
        }
    }
    // Where the value is live: after each definition, until it is dead.
    let mut stack: Vec<usize> = defs.clone();
    let mut visited = vec![false; code.len()];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        if !live[i].has(x) {
            continue;
        }
        let writes_y = effs[i].write == Some(y) && !defs.contains(&i);
        if live[i].has(y) || writes_y || clobbers(i, y) {
            return false;
        }
        for &s in &succ[i] {
            if effs[s].write != Some(x) && !clobbers(s, x) {
                stack.push(s);
            } else if effs[s].reads.contains(&x) && effs[s].reads.contains(&y) {
                return false;
            }
        }
    }
    use hashvm_format::OperandKind as K;
    for &i in defs.iter().chain(uses.iter().filter(|&&u| u != c)) {
        let kinds = code[i].op.operands();
        let is_def = defs.contains(&i);
        let is_use = uses.contains(&i);
        for (k, arg) in kinds.iter().zip(code[i].args.iter_mut()) {
            match (k, arg) {
                (K::Dst, Arg::Op(Operand::Slot(s))) if is_def && *s == x => *s = y,
                (K::Src, Arg::Op(Operand::Slot(s))) if is_use && *s == x => *s = y,
                _ => {}
            }
        }
    }
    true
}

/// Constructor windows built in place: `mov r7, r0; mov r8, r1; mov r9, r2; mov r10,
/// r3; ...; addi.i64 r11, ..; con r6, T, C, r7, 5` becomes `...; addi.i64 r4, ..;
/// con r6, T, C, r0, 5` (pmap's `create`, whose four parameters are the first four
/// fields: 4 of its 6 `mov`s). The same for every instruction reading a window that
/// is not a call (`con`, `tuple`, `alit`, `closure`: a call's window is the callee's
/// frame).
///
/// A window at `B` moves to `P` when, for each field `i`, either the last definition
/// of `B + i` before the instruction (in its straight-line run) is `mov B + i, P + i`
/// and nothing in between writes or clobbers `P + i` (the `mov` is then dead and
/// [`drop_dead_moves`] drops it), or the value of `B + i` can be renamed into `P + i`
/// ([`rename_web`]: scalars only, so that no slot holds a pointer longer than before).
/// `P` is tried from the sources of those `mov`s. The instruction itself does not
/// move, so its faults and source position are unchanged.
fn windows_in_place(code: &mut [Ins]) -> bool {
    if code.len() > 2000 {
        return false;
    }
    let mut changed = false;
    for c in 0..code.len() {
        if matches!(
            code[c].op,
            Op::Call
                | Op::CallK
                | Op::CallSelf
                | Op::TCall
                | Op::TCallK
                | Op::TCallSelf
                | Op::FfiCall
        ) {
            continue;
        }
        let Some((base, n)) = window(&code[c]) else {
            continue;
        };
        if n == 0 {
            continue;
        }
        // For each field: the `mov` that is its only reaching definition, its source,
        // and whether that source is unchanged on every path from the `mov` to `c`.
        let movs: Vec<Option<(u16, bool)>> = window_copies(code, c, base, n);
        let mut candidates: Vec<u16> = Vec::new();
        for (i, m) in movs.iter().enumerate() {
            if let Some((s, _)) = m {
                if let Some(p) = s.checked_sub(i as u16) {
                    if p != base && !candidates.contains(&p) {
                        candidates.push(p);
                    }
                }
            }
        }
        'candidate: for p in candidates {
            if p.checked_add(n).is_none() {
                continue;
            }
            let mut trial = code.to_vec();
            for i in 0..n {
                let (from, to) = (base + i, p + i);
                let by_mov = movs[i as usize] == Some((to, true));
                if !by_mov && !rename_web(&mut trial, c, from, to) {
                    continue 'candidate;
                }
            }
            // A rename may have moved the value a field's `mov` copies out of `P + i`
            // (when `P + i` is another field's old slot): each field kept by its
            // `mov` must still be a copy of `P + i` that holds until `c`.
            let after = window_copies(&trial, c, base, n);
            for i in 0..n as usize {
                if movs[i] == Some((p + i as u16, true)) && after[i] != movs[i] {
                    continue 'candidate;
                }
            }
            let kinds = trial[c].op.operands();
            for (k, arg) in kinds.iter().zip(trial[c].args.iter_mut()) {
                if let (hashvm_format::OperandKind::Base, Arg::Op(Operand::Slot(b))) = (k, arg) {
                    *b = p;
                }
            }
            code.clone_from_slice(&trial);
            changed = true;
            break;
        }
    }
    changed
}

/// For each of the `n` slots of the window at `base` that instruction `c` reads: the
/// source of the `mov` that is its only reaching definition, and whether that source
/// is unchanged (neither written nor clobbered) on every path from the `mov` to `c`.
fn window_copies(code: &[Ins], c: usize, base: u16, n: u16) -> Vec<Option<(u16, bool)>> {
    let (_, pred) = cfg(code);
    let effs: Vec<Effects> = code.iter().map(effects).collect();
    (0..n)
        .map(|i| {
            let slot = base + i;
            let (defs, between) = reaching(&effs, &pred, c, slot)?;
            let [d] = defs.as_slice() else { return None };
            match (code[*d].op, code[*d].args.as_slice()) {
                (Op::Mov, [_, Arg::Op(Operand::Slot(s))]) => {
                    let kept = between.iter().all(|&j| {
                        effs[j].write != Some(*s) && effs[j].clobber_from.is_none_or(|b| *s < b)
                    });
                    Some((*s, kept))
                }
                _ => None,
            }
        })
        .collect()
}

/// A value in [`tail_args_scheduled`]'s symbolic run: what a slot held when the run
/// began, what the instruction at an index of the original run computed, or what a
/// call left in a slot it clobbered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sym {
    Init(u16),
    /// What a slot no path from the function's entry has written holds: the unit
    /// the frame was cleared with (not a pointer).
    Clean,
    Def(usize),
    Garbage(usize, u16),
}

/// A frame in [`trace`]: the slots written so far, and the calls so far (index,
/// first clobbered slot), which leave garbage in every slot from there up.
#[derive(Clone, Default)]
struct Frame {
    slots: HashMap<u16, Sym>,
    clobbers: Vec<(usize, u16)>,
    /// The slots still clean when the run began ([`Sym::Clean`]).
    clean: Option<std::rc::Rc<Slots>>,
}

impl Frame {
    fn get(&self, s: u16) -> Sym {
        if let Some(v) = self.slots.get(&s) {
            return *v;
        }
        match self.clobbers.iter().rev().find(|(_, b)| s >= *b) {
            Some(&(k, _)) => Sym::Garbage(k, s),
            None if self.clean.as_ref().is_some_and(|c| c.has(s)) => Sym::Clean,
            None => Sym::Init(s),
        }
    }
}

/// What a straight-line run does, symbolically: for each instruction that is not a
/// `mov` (by its index in the original run), the values it reads and the frame when
/// it runs (what the collector sees as roots there); and the frame at the end.
struct Trace {
    reads: HashMap<usize, Vec<Sym>>,
    frames: HashMap<usize, Frame>,
    end: Frame,
}

/// Runs `run` symbolically; `orig[k]` is the original index of `run[k]` (`None`
/// for a `mov` inserted by the scheduler).
fn trace(run: &[Ins], orig: &[Option<usize>], clean: &std::rc::Rc<Slots>) -> Trace {
    let mut st = Frame {
        clean: Some(clean.clone()),
        ..Frame::default()
    };
    let mut t = Trace {
        reads: HashMap::new(),
        frames: HashMap::new(),
        end: Frame::default(),
    };
    for (ins, o) in run.iter().zip(orig) {
        if let (Op::Mov, [Arg::Op(Operand::Slot(d)), Arg::Op(Operand::Slot(s))]) =
            (ins.op, ins.args.as_slice())
        {
            let v = st.get(*s);
            st.slots.insert(*d, v);
            continue;
        }
        let Some(k) = *o else { continue };
        let e = effects(ins);
        t.reads
            .insert(k, e.reads.iter().map(|&r| st.get(r)).collect());
        t.frames.insert(k, st.clone());
        if let Some(b) = e.clobber_from {
            st.slots.retain(|&s, _| s < b);
            st.clobbers.push((k, b));
        }
        if let Some(w) = e.write {
            st.slots.insert(w, Sym::Def(k));
        }
    }
    t.end = st;
    t
}

/// Tail-call arguments into the parameter slots when [`tail_args_in_place`] finds no
/// order for them: the arguments that are copies (`mov B + i, s`) become one parallel
/// move into the parameter slots, placed where it is correct (as late as possible)
/// and ordered with one scratch slot when the moves form a cycle; the other
/// arguments are computed straight into their parameter slot. pmap's `bal(l, mk, mv,
/// add(r, k, v))`: the copies of `l`, `mk`, `mv` go before the inner call (they must
/// follow its window's reads of `k` and `v`, and `l` must be read before the call's
/// result goes to r3), and the tail call moves nothing.
///
/// Only `mov`s move; every other instruction keeps its place, its source position and
/// (checked by running both versions symbolically, [`trace`]) the values it reads. At
/// every instruction the frame holds no value it did not hold before (SPEC.md §1.4:
/// no pointer is kept alive longer), and at the call the parameter slots hold what
/// the window held.
fn tail_args_scheduled(code: &mut Vec<Ins>, arity: u16) -> bool {
    let mut changed = false;
    let mut c = 0;
    while c < code.len() {
        let at = c;
        c += 1;
        let Some((base, n, fslot)) = tail_call_window(&code[at]) else {
            continue;
        };
        if n == 0 || base < n || fslot.is_some_and(|f| f < n) {
            continue;
        }
        let start = run_start(code, at);
        if at - start > 64 {
            continue;
        }
        let run: Vec<Ins> = code[start..at].to_vec();
        let orig: Vec<Option<usize>> = (0..run.len()).map(Some).collect();
        let Some(clean) = clean_slots(code, arity).map(|c| std::rc::Rc::new(c[start].clone()))
        else {
            continue;
        };

        let old = trace(&run, &orig, &clean);
        let want: Vec<Sym> = (0..n).map(|i| old.end.get(base + i)).collect();
        // Each argument's last definition: a copy to move, or an instruction whose
        // destination becomes the parameter slot.
        let effs: Vec<Effects> = run.iter().map(effects).collect();
        let mut copy_at = vec![false; run.len()];
        let mut rename: Vec<(usize, u16)> = Vec::new();
        let mut ok = true;
        for i in 0..n {
            let slot = base + i;
            let Some(d) = effs
                .iter()
                .rposition(|e| e.write == Some(slot) || e.clobber_from.is_some_and(|b| slot >= b))
            else {
                ok = false;
                break;
            };
            if effs[d].write != Some(slot) {
                ok = false;
                break;
            }
            if run[d].op == Op::Mov {
                copy_at[d] = true;
            } else {
                rename.push((d, i));
            }
        }
        if !ok || !copy_at.iter().any(|&x| x) {
            continue;
        }
        let mut body: Vec<Ins> = Vec::new();
        let mut body_orig: Vec<Option<usize>> = Vec::new();
        for (k, ins) in run.iter().enumerate() {
            if copy_at[k] {
                continue;
            }
            let mut ins = ins.clone();
            if k == 0 {
                ins.labels.clear();
            }
            if let Some(&(_, to)) = rename.iter().find(|(d, _)| *d == k) {
                let kinds = ins.op.operands();
                for (kd, arg) in kinds.iter().zip(ins.args.iter_mut()) {
                    if let (hashvm_format::OperandKind::Dst, Arg::Op(Operand::Slot(x))) = (kd, arg)
                    {
                        *x = to;
                    }
                }
            }
            body.push(ins);
            body_orig.push(Some(k));
        }
        let copies: Vec<u16> = (0..n)
            .filter(|&i| {
                let slot = base + i;
                effs.iter()
                    .rposition(|e| e.write == Some(slot))
                    .is_some_and(|d| copy_at[d])
            })
            .collect();
        let max_slot = code
            .iter()
            .flat_map(|ins| {
                let e = effects(ins);
                e.reads.into_iter().chain(e.write)
            })
            .max()
            .unwrap_or(0);
        let mut scratches: Vec<u16> = (base..base + n).collect();
        scratches.push(max_slot.saturating_add(1));
        let pos_of = |i: u16| {
            let slot = base + i;
            effs.iter()
                .rposition(|e| e.write == Some(slot))
                .and_then(|d| run[d].pos)
        };
        let mut found: Option<(Vec<Ins>, Vec<Option<usize>>)> = None;
        'place: for p in (0..=body.len()).rev() {
            let before = trace(&body[..p], &body_orig[..p], &clean);
            let val = |s: u16| before.end.get(s);
            // The slot each copy reads at p.
            let mut moves: Vec<(u16, u16)> = Vec::new();
            for &i in &copies {
                let v = want[i as usize];
                let src = if val(i) == v {
                    Some(i)
                } else {
                    let mut slots: Vec<u16> = before.end.slots.keys().copied().collect();
                    slots.sort_unstable();
                    slots.into_iter().find(|&s| val(s) == v).or(match v {
                        Sym::Init(s) if val(s) == v => Some(s),
                        _ => None,
                    })
                };
                let Some(src) = src else { continue 'place };
                if src != i {
                    moves.push((i, src));
                }
            }
            for &scratch in &scratches {
                let Some(seq) = sequence_moves(&moves, scratch) else {
                    continue;
                };
                let mut new = body[..p].to_vec();
                let mut new_orig = body_orig[..p].to_vec();
                for (d, s) in seq {
                    new.push(Ins {
                        labels: Vec::new(),
                        op: Op::Mov,
                        args: vec![Arg::Op(Operand::Slot(d)), Arg::Op(Operand::Slot(s))],
                        pos: pos_of(if d == scratch { moves[0].0 } else { d }),
                        frozen: false,
                    });
                    new_orig.push(None);
                }
                new.extend_from_slice(&body[p..]);
                new_orig.extend_from_slice(&body_orig[p..]);
                let t = trace(&new, &new_orig, &clean);
                let same_reads = old
                    .reads
                    .iter()
                    .all(|(k, r)| run[*k].op == Op::Mov || t.reads.get(k) == Some(r));
                // The slots either version names: every other holds the same in both.
                let named: Vec<u16> = run
                    .iter()
                    .chain(&new)
                    .flat_map(|ins| {
                        let e = effects(ins);
                        e.reads.into_iter().chain(e.write)
                    })
                    .chain(0..n)
                    .collect();
                let fewer_roots = t.frames.iter().all(|(k, f)| {
                    let o = &old.frames[k];
                    let held: Vec<Sym> = named.iter().map(|&s| o.get(s)).collect();
                    named.iter().all(|&s| {
                        let v = f.get(s);
                        v == Sym::Clean || held.contains(&v)
                    })
                });
                let args_ok = (0..n).all(|i| t.end.get(i) == want[i as usize]);
                let f_ok = fslot.is_none_or(|f| t.end.get(f) == old.end.get(f));
                // Never more dispatches than before (the tail call's copy is saved).
                let shorter = new.len() <= run.len();
                if same_reads && fewer_roots && args_ok && f_ok && shorter {
                    found = Some((new, new_orig));
                    break 'place;
                }
            }
        }
        let Some((mut new, _)) = found else { continue };

        if let Some(first) = new.first_mut() {
            first.labels = run[0].labels.clone();
        } else {
            code[at].labels.splice(0..0, run[0].labels.iter().copied());
        }
        let b = match code[at].op {
            Op::TCallSelf => 0,
            _ => 1,
        };
        code[at].args[b] = Arg::Op(Operand::Slot(0));
        let len = new.len();
        code.splice(start..at, new);
        c = start + len + 1;
        changed = true;
    }
    changed
}

/// The slots no path from the function's entry to each instruction writes (a call
/// or a tail call to another function clears a frame's slots past its arguments when
/// it enters it; `tcallself` does not, so a function using it has none), or `None`
/// for a function too large to analyse.
fn clean_slots(code: &[Ins], arity: u16) -> Option<Vec<Slots>> {
    let effs: Vec<Effects> = code.iter().map(effects).collect();
    let nslots = slot_count(&effs).max(arity as usize);
    if code.len().saturating_mul(nslots.div_ceil(64)) > 1 << 22 {
        return None;
    }
    // A self tail call restarts the function without clearing its frame: whatever
    // the last pass left is still there, so no slot is known clean.
    if code.iter().any(|ins| ins.op == Op::TCallSelf) {
        return Some(vec![Slots::new(nslots); code.len()]);
    }
    let (succ, _) = cfg(code);
    let all = |from: u16| {
        let mut s = Slots::new(nslots);
        for x in from as usize..nslots {
            s.add(x as u16);
        }
        s
    };
    // Possibly written before each instruction; the complement is returned.
    let mut written: Vec<Option<Slots>> = vec![None; code.len()];
    if code.is_empty() {
        return Some(Vec::new());
    }
    let mut entry = Slots::new(nslots);
    for x in 0..arity {
        entry.add(x);
    }
    written[0] = Some(entry);
    let mut work = vec![0usize];
    while let Some(i) = work.pop() {
        let mut out = written[i].clone()?;
        if let Some(b) = effs[i].clobber_from {
            out.union(&all(b));
        }
        if let Some(w) = effs[i].write {
            out.add(w);
        }
        for &s in &succ[i] {
            let next = match &written[s] {
                Some(w) => {
                    let mut u = w.clone();
                    u.union(&out);
                    if &u == w {
                        continue;
                    }
                    u
                }
                None => out.clone(),
            };
            written[s] = Some(next);
            work.push(s);
        }
    }
    let full = all(0);
    Some(
        written
            .into_iter()
            .map(|w| {
                let mut c = Slots::new(nslots);
                for x in 0..nslots as u16 {
                    if full.has(x) && !w.as_ref().is_some_and(|w| w.has(x)) {
                        c.add(x);
                    }
                }
                c
            })
            .collect(),
    )
}

/// Orders the parallel move `moves` (destination, source; destinations distinct)
/// into a sequence of single moves, breaking each cycle through `scratch` (which
/// must then be neither a destination nor a source). `None` when a cycle needs it
/// and it is taken.
fn sequence_moves(moves: &[(u16, u16)], scratch: u16) -> Option<Vec<(u16, u16)>> {
    let mut pending: Vec<(u16, u16)> = moves.iter().copied().filter(|(d, s)| d != s).collect();
    let mut out = Vec::new();
    while !pending.is_empty() {
        // A move whose destination no other pending move reads.
        if let Some(k) = pending
            .iter()
            .position(|&(d, _)| !pending.iter().any(|&(_, s)| s == d))
        {
            out.push(pending.remove(k));
            continue;
        }
        // Only cycles are left: park one source in the scratch slot.
        if pending.iter().any(|&(d, s)| d == scratch || s == scratch) {
            return None;
        }
        let (d, s) = pending[0];
        out.push((scratch, s));
        pending[0] = (d, scratch);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(op: Op, args: &[Operand]) -> Ins {
        Ins {
            labels: Vec::new(),
            op,
            args: args.iter().cloned().map(Arg::Op).collect(),
            pos: None,
            frozen: false,
        }
    }

    /// Slots no instruction names are squeezed out: the named ones keep their order,
    /// the parameters their numbers, a window stays consecutive and a zero-length
    /// window's base lands just above the named slots below it.
    #[test]
    fn unnamed_slots_are_squeezed_out_of_the_frame() {
        use Operand::*;
        // Two parameters (r1 named by nothing), r2 unnamed, r3..r5, a window r4..r5,
        // a zero-length window at r7 (r6 unnamed) and one past every slot (r9).
        let mut code = vec![
            ins(Op::LoadI, &[Slot(3), Imm32(1)]),
            ins(Op::AddIImm, &[Slot(4), Slot(0), Imm32(1)]),
            ins(Op::Mov, &[Slot(5), Slot(3)]),
            ins(Op::CallK, &[Slot(8), Func(0), Slot(7), U16(0)]),
            ins(Op::CallK, &[Slot(3), Func(0), Slot(9), U16(0)]),
            ins(Op::Tuple, &[Slot(3), Slot(4), U16(2)]),
            ins(Op::Ret, &[Slot(3)]),
        ];
        compact_slots(&mut code, 2);
        let slots: Vec<Vec<u16>> = code
            .iter()
            .map(|i| {
                i.args
                    .iter()
                    .filter_map(|a| match a {
                        Arg::Op(Slot(s)) => Some(*s),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        // Named: r0, r1 (parameters), r3, r4, r5, r8 -> r0, r1, r2, r3, r4, r5.
        assert_eq!(
            slots,
            vec![
                vec![2],
                vec![3, 0],
                vec![4, 2],
                vec![5, 5],
                vec![2, 6],
                vec![2, 3],
                vec![2],
            ]
        );
        // Already dense: nothing changes.
        let before: Vec<String> = code.iter().map(|i| format!("{:?}", i.args)).collect();
        compact_slots(&mut code, 2);
        let after: Vec<String> = code.iter().map(|i| format!("{:?}", i.args)).collect();
        assert_eq!(before, after);
    }

    /// A window one of whose fields is a copy of the slot just above it: moving the
    /// window onto that slot while renaming the other field's value away would leave
    /// the first field reading a slot nothing writes any more.
    #[test]
    fn a_window_over_a_copied_neighbour_keeps_its_values() {
        use Operand::*;
        let mut code = vec![
            ins(Op::LoadI, &[Slot(5), Imm32(7)]),
            ins(Op::AddIImm, &[Slot(11), Slot(5), Imm32(1)]),
            ins(Op::Mov, &[Slot(10), Slot(11)]),
            ins(Op::Tuple, &[Slot(6), Slot(10), U16(2)]),
            ins(Op::Ret, &[Slot(6)]),
        ];
        windows_in_place(&mut code);
        // Whatever the pass did, the tuple's two fields must both hold r5 + 1.
        let (base, n) = window(&code[3]).unwrap();
        assert_eq!(n, 2);
        let mut vals: HashMap<u16, String> = HashMap::new();
        vals.insert(5, "r5".into());
        for i in &code[..3] {
            let s = |k: usize| match &i.args[k] {
                Arg::Op(Slot(s)) => *s,
                _ => u16::MAX,
            };
            let v = match i.op {
                Op::LoadI => "r5".to_string(),
                Op::AddIImm => format!("{}+1", vals.get(&s(1)).cloned().unwrap_or_default()),
                Op::Mov => vals.get(&s(1)).cloned().unwrap_or_default(),
                _ => unreachable!(),
            };
            vals.insert(s(0), v);
        }
        assert_eq!(vals.get(&base).map(String::as_str), Some("r5+1"));
        assert_eq!(vals.get(&(base + 1)).map(String::as_str), Some("r5+1"));
    }
}
