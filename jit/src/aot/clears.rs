//! Which slots a direct call's push need not clear (SPEC.md §11.6, "Calls").
//!
//! The interpreter's push clears every slot of the new frame past its arguments, so
//! that the collector, which scans the value stack up to the live top, never sees a
//! stale pointer from a frame long popped. A direct call of a compiled function paid
//! one store per such slot (fib: three of its twenty-odd instructions a call), yet
//! most of these slots are written by the callee before anything can look at them:
//! the argument slots of its own direct calls, and the frames of those calls.
//!
//! A slot `s` past the arguments is left uncleared ("kept") when, on every path from
//! the function's entry, it is *covered* before anything but an exit can observe it:
//! a direct native call whose frame holds `s` (its arguments are stored before the
//! call; its other slots are the callee's, which leaves them valid, by this same rule,
//! before anything can observe them and before it returns). Before that, a path may
//! write `s` (bytecode writes of a kept slot are only stores of valid values or no
//! store at all) but not read it unwritten; the observers are every other call (an
//! inlined one too: its exits push a frame) and a helper call (it may collect). A
//! return or a tail call is not one ([`observes`]): the slots it leaves lie past the
//! frames below, above the live top the collector scans, or are a caller's own, which
//! its caller's clears track (a direct tail call's push clears the slots its callee
//! does not keep, as a call's does). An exit to the interpreter before the slot
//! is covered clears it in its stub, when it was never written or is dead there (a
//! dead slot's value is read by no one; a live written one holds its value or has it
//! pending): the interpreter then finds the frame a push would have left, and so does
//! the collector. So every compiled function leaves its whole frame valid at every
//! call, helper call and return, and the collector's contract is unchanged.
//!
//! A slot outside a direct call's frame that is not covered at the call (fib's sum,
//! below its first call's frame) is still kept when it is dead there: that call clears
//! it before its push ([`Clears::before_calls`]), so the store is paid only on the
//! paths that reach the call (fib's recursive case, not its base case, half of its
//! calls), and the callee finds it valid.
//!
//! It is kept too when it is written on every path to the call and live there
//! (pmap's `bal` holds its rotation's pieces across its rare calls of `create`): the
//! native call writes every pending value live at it back to its slot first
//! (`Tx::flush`, because an exit inside the callee leaves the rest of this function to
//! the interpreter, which reads those slots after the call), so the slot holds the
//! value last written, a valid one, in memory while the callee runs; the call writes no
//! slot outside its frame but its result's, and nothing writes the slot after it but
//! this function's own code. Where only the collector sees such a slot, the same holds.

use super::{Fun, Liveness};
use hashvm_format::liveness::{successors, use_def};
use hashvm_format::opcode::Op;

/// The most direct calls that may clear one kept slot before their push
/// ([`Clears::before_calls`]): those stores are inline, in the calls' paths. An exit's
/// clears are not bounded: an exit stub that clears more than two slots calls one
/// shared routine with their mask (`emit::clear_exit`), so a stub's clears cost at most
/// a few bytes of cold code however many slots the function keeps.
const MAX_CALL_CLEARS: usize = 20;

/// A kept slot's state at one point, the meet over the paths from the entry (the
/// lowest state wins).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum State {
    /// Not written yet on some path: it may hold a stale value.
    Unwritten,
    /// Written on every path, covered on some path not.
    Written,
    /// Covered on every path: it holds a valid value.
    Covered,
}

/// The slots a function's direct calls need not clear, and what its exits clear.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clears {
    /// Bit `s`: the push of a direct call of this function leaves slot `s` as it is.
    pub keep: u64,
    /// Per instruction offset (ascending): the kept slots an exit to the interpreter
    /// there clears (omitted when none).
    pub exits: Vec<(u32, u64)>,
    /// Per direct call's offset (ascending): the callee's slots its push clears
    /// whatever the callee keeps, because this function reads them after the call
    /// (bit `t`: the callee's slot `t`; omitted when none).
    pub calls: Vec<(u32, u64)>,
    /// Per direct call's offset (ascending): this function's kept slots outside the
    /// callee's frame that the call clears before its push, because they are not
    /// covered yet and dead there (bit `s`: slot `s`; omitted when none). Clearing them
    /// there rather than at this function's push costs the store only on the paths
    /// that reach the call: fib's sum slot, cleared at its first call, not on its base
    /// case, half of its calls.
    pub before_calls: Vec<(u32, u64)>,
    /// Per direct native call's offset (ascending): the callee's slots that hold a
    /// valid value in memory there ([`valid_at_calls`]; bit `t`: the callee's slot `t`;
    /// omitted when none). Set for every compiled function that makes native calls.
    pub valid: Vec<(u32, u64)>,
    /// Bit `s`: this function's slot `s` past its arguments is read on no path from its
    /// entry before it is written ([`Shape::fresh`]). Set for every compiled function.
    pub fresh: u64,
}

impl Clears {
    /// The kept slots an exit to the interpreter at `ip` clears.
    pub fn at_exit(&self, ip: u32) -> u64 {
        find(&self.exits, ip)
    }

    /// The callee's slots the push of the direct call at `ip` clears in any case.
    pub fn at_call(&self, ip: u32) -> u64 {
        find(&self.calls, ip)
    }

    /// This function's kept slots the direct call at `ip` clears before its push.
    pub fn before_call(&self, ip: u32) -> u64 {
        find(&self.before_calls, ip)
    }

    /// The callee's slots that hold a valid value in memory at the direct call at `ip`.
    pub fn valid_at(&self, ip: u32) -> u64 {
        find(&self.valid, ip)
    }
}

/// The mask of `ip` in a table ascending by offset, 0 when absent.
fn find(v: &[(u32, u64)], ip: u32) -> u64 {
    v.binary_search_by_key(&ip, |e| e.0).map_or(0, |k| v[k].1)
}

/// Whether instruction `i` may observe a slot the function has not covered, other
/// than a native call (handled apart): a call (a call the compiler inlines may leave
/// to the interpreter with a frame pushed over the caller's) and a helper call (it may
/// collect). A return or a tail call does not: the slots it leaves lie past the frames
/// below, above the live top the collector scans, or are their callers' own, which
/// those track; an exit clears in its stub.
fn observes(op: Op) -> bool {
    matches!(op, Op::Call | Op::CallK | Op::CallSelf) || super::helper(op)
}

/// The clears of function `me` (`fun`, with `arity` parameters and `nslots` slots),
/// given its direct calls compiled as native calls (`native`: byte offset and callee,
/// ascending by offset: the calls not inlined, `callk`, `callself` and `call`s of a
/// known function) and every function's `(arity, nslots)`.
pub(super) fn clears(
    fun: &Fun,
    me: u32,
    arity: u16,
    nslots: u16,
    shapes: &[(u16, u16)],
    native: &[(u32, u32)],
    live: &Liveness,
) -> Clears {
    // Slots past the arguments, within the mask's 64 bits.
    let first = arity as usize;
    let end = (nslots as usize).min(64);
    if first >= end {
        return Clears::default();
    }
    let n = fun.insns.len();
    let code_len = fun.insns.last().map_or(0, |(ip, _, len)| ip + len);
    let mut before: Vec<Option<Vec<State>>> = vec![None; n];
    before[0] = Some(vec![State::Unwritten; end]);
    let mut failed = vec![false; end];
    // The callee of the native call at instruction `x`, if it is one.
    let callee = |x: usize| -> Option<u32> {
        let ip = fun.insns[x].0;
        let k = native.binary_search_by_key(&ip, |c| c.0).ok()?;
        Some(native[k].1)
    };
    // The native call at instruction `x`, if it is one: its frame's first slot and
    // end, its argument count and its result slot. A `call` of a known function
    // (`call.aot.v`) pushes its callee's frame at its argument base, as `callk` does.
    let call = |x: usize| -> Option<(usize, usize, usize, usize)> {
        let i = &fun.insns[x].1;
        let f = callee(x)?;
        let (a0, n) = match i.op {
            Op::CallK | Op::Call => (super::slot(i, 2), super::slot(i, 3)),
            Op::CallSelf => (super::slot(i, 1), super::slot(i, 2)),
            _ => return None,
        };
        let (_, ns) = shapes.get(f as usize)?;
        Some((a0, a0 + *ns as usize, n, super::slot(i, 0)))
    };
    // The slots of the callee's frame past its arguments that this function reads
    // after the call at `x` before writing them (as callee slot numbers): the push
    // clears them whatever the callee covers, as the interpreter's push would.
    let forced = |x: usize| -> u64 {
        let Some((a0, hi, n, dst)) = call(x) else {
            return 0;
        };
        (a0 + n..hi.min(nslots as usize))
            .filter(|&s| s != dst && s - a0 < 64 && x + 1 < fun.insns.len() && live.live(x + 1, s))
            .fold(0u64, |m, s| m | 1 << (s - a0))
    };
    // Whether a direct call at `x` clears slot `s` (outside its callee's frame) before
    // its push, the slot being in state `v` there: when it is not covered yet and dead
    // there (no path from the call reads it before writing it), so the clear changes
    // nothing the function reads, and the slot then holds a valid value in memory,
    // covered. A live one that is not covered fails as before (a slot unwritten on
    // one path may hold a live value written on another).
    //
    // Not at a call inside a loop (a backward jump, or `tcallself`, spans it): the
    // slot would be cleared at every iteration instead of once at the push. But at a
    // call of this function itself: each clear there is followed by an entry of this
    // function, whose push would have cleared the slot (tak loops by `tcallself`
    // around three such calls).
    let spans: Vec<(u32, u32)> = fun
        .insns
        .iter()
        .flat_map(|(ip, i, len)| {
            let back = successors(*ip, *len, i, code_len)
                .into_iter()
                .filter(|t| t <= ip)
                .map(|t| (t, *ip));
            let selfcall = (i.op == Op::TCallSelf).then_some((0, *ip));
            back.chain(selfcall).collect::<Vec<_>>()
        })
        .collect();
    let in_loop = |x: usize| {
        let ip = fun.insns[x].0;
        spans.iter().any(|&(t, b)| (t..=b).contains(&ip))
    };
    let recursive = |x: usize| callee(x) == Some(me);
    let lazy = |x: usize, s: usize, v: State| {
        v != State::Covered && !live.live(x, s) && (!in_loop(x) || recursive(x))
    };
    // Whether slot `s` (outside the callee's frame of the direct call at `x`, in state
    // `v` there) holds a valid value in memory while the callee runs: written on every
    // path and live at the call, not its result, so the call writes it back before its
    // push (`Tx::flush` of the values live there) and leaves it as it is.
    let held = |x: usize, s: usize, v: State| {
        v == State::Written && call(x).is_some_and(|c| s != c.3) && live.live(x, s)
    };
    // Applies instruction `x` to `st`, marking the slots it finds observed unwritten
    // or uncovered.
    let step = |x: usize, st: &mut [State], failed: &mut [bool]| {
        let i = &fun.insns[x].1;
        let ud = use_def(i);
        for &r in &ud.reads {
            let r = r as usize;
            if r >= first && r < end && st[r] == State::Unwritten {
                failed[r] = true;
            }
        }
        if let Some((a0, hi, n, dst)) = call(x) {
            // The arguments are stored before the call, the slots the push clears
            // are valid, the callee's others hold what they held or a value the
            // callee wrote, and the result is stored after it; the rest of the frame
            // must be valid when the callee runs.
            let force = forced(x);
            for (s, v) in st.iter_mut().enumerate().skip(first) {
                if (a0..a0 + n).contains(&s) {
                    *v = State::Covered;
                } else if (a0..hi).contains(&s) {
                    if s == dst || (s - a0 < 64 && force & 1 << (s - a0) != 0) {
                        *v = State::Covered;
                    }
                } else if lazy(x, s, *v) {
                    // Below or past the callee's frame (the result slot too, written
                    // only when the call returns), not written yet or dead: the call
                    // clears it before its push.
                    *v = State::Covered;
                } else if held(x, s, *v) {
                    // Written and live: in memory, valid, before the push and after.
                    *v = State::Covered;
                } else {
                    if *v != State::Covered {
                        failed[s] = true;
                    }
                    if s == dst {
                        *v = State::Covered;
                    }
                }
            }
            return;
        }
        if observes(i.op) {
            for (s, v) in st.iter().enumerate().skip(first) {
                if *v != State::Covered {
                    failed[s] = true;
                }
            }
        }
        for &w in &ud.writes {
            let w = w as usize;
            if w < end && st[w] == State::Unwritten {
                st[w] = State::Written;
            }
        }
    };
    let mut work = vec![0usize];
    let mut queued = vec![false; n];
    queued[0] = true;
    let mut scratch = vec![false; end];
    while let Some(x) = work.pop() {
        queued[x] = false;
        let Some(mut st) = before[x].clone() else {
            continue;
        };
        step(x, &mut st, &mut scratch);
        let (ip, i, len) = &fun.insns[x];
        for t in successors(*ip, *len, i, code_len) {
            let Some(&y) = fun.at.get(t as usize).filter(|&&y| y != usize::MAX) else {
                continue;
            };
            let merged: Vec<State> = match &before[y] {
                Some(old) => old.iter().zip(&st).map(|(a, b)| *a.min(b)).collect(),
                None => st.clone(),
            };
            if before[y].as_ref() != Some(&merged) {
                before[y] = Some(merged);
                if !queued[y] {
                    queued[y] = true;
                    work.push(y);
                }
            }
        }
    }
    for (x, b) in before.iter().enumerate() {
        if let Some(b) = b {
            step(x, &mut b.clone(), &mut failed);
        }
    }
    let keep = (first..end)
        .filter(|&s| !failed[s])
        .fold(0u64, |m, s| m | 1 << s);
    if keep == 0 {
        return Clears::default();
    }
    let exits: Vec<(u32, u64)> = before
        .iter()
        .enumerate()
        .filter_map(|(x, b)| {
            let b = b.as_ref()?;
            let m = (first..end)
                .filter(|&s| keep & 1 << s != 0)
                .filter(|&s| match b[s] {
                    State::Unwritten => true,
                    State::Written => !live.live(x, s),
                    State::Covered => false,
                })
                .fold(0u64, |m, s| m | 1 << s);
            (m != 0).then_some((fun.insns[x].0, m))
        })
        .collect();
    // A slot that many calls would clear before their push stays cleared by this
    // function's push: one store a call of this function against a store at each of
    // those calls. The exits' clears cost a stub a few bytes at most, whatever it
    // clears (`emit::clear_exit`): pmap's `bal` keeps its 18 slots past its arguments,
    // which each exit of its sixty-odd instructions may have to clear.
    // The kept slots each direct call clears before its push: those outside its
    // callee's frame that are not covered there and not held in memory (the analysis
    // let them be only when `lazy` allowed it).
    let before_calls: Vec<(u32, u64)> = (0..n)
        .filter_map(|x| {
            let b = before[x].as_ref()?;
            let (a0, hi, _, _) = call(x)?;
            let m = (first..end)
                .filter(|&s| keep & 1 << s != 0 && !(a0..hi).contains(&s))
                .filter(|&s| b[s] != State::Covered && !held(x, s, b[s]))
                .fold(0u64, |m, s| m | 1 << s);
            (m != 0).then_some((fun.insns[x].0, m))
        })
        .collect();
    let keep = (first..end)
        .filter(|&s| keep & 1 << s != 0)
        .filter(|&s| before_calls.iter().filter(|e| e.1 & 1 << s != 0).count() <= MAX_CALL_CLEARS)
        .fold(0u64, |m, s| m | 1 << s);
    if keep == 0 {
        return Clears::default();
    }
    let exits = exits
        .into_iter()
        .map(|(ip, m)| (ip, m & keep))
        .filter(|e| e.1 != 0)
        .collect();
    let calls = (0..n)
        .filter(|&x| before[x].is_some())
        .map(|x| (fun.insns[x].0, forced(x)))
        .filter(|c| c.1 != 0)
        .collect();
    let before_calls = before_calls
        .into_iter()
        .map(|(ip, m)| (ip, m & keep))
        .filter(|e| e.1 != 0)
        .collect();
    Clears {
        keep,
        exits,
        calls,
        before_calls,
        ..Clears::default()
    }
}

/// Per direct native call of `fun` (offset, ascending): the callee's slots, as callee
/// slot numbers (bit `t`: the callee's slot `t`), that hold a value valid for the
/// collector in memory when the call pushes its frame, so that its push need not clear
/// those of them no path from the callee's entry reads before writing ([`Shape::fresh`]):
/// the callee then finds a valid value, which nothing reads, where the interpreter's
/// push would have left unit (SPEC.md §11.6, "Calls"; the tracing JIT's `call.rec`
/// leaves such slots too). awfy_list's `tail` makes three calls of itself whose
/// frames cover the same slots past its own frame: the second and third find there
/// what the first call's callee left, and clear nothing.
///
/// A slot is valid (a forward analysis over the bytecode, the meet over the paths):
/// - at the entry, and at every loop head the interpreter may enter at (the target
///   of a backward jump), the function's slots but those it keeps (`keep_self`, which
///   its own push may leave stale): the push cleared them or the arguments are there;
/// - after a native call of a callee whose frame stays its own while it runs
///   ([`Shape::stays`]: no tail call to another function, whose frame could be
///   smaller and leave the rest above the live top): the callee's frame, but the slots
///   the callee keeps that were not valid before (a return may leave them stale); the
///   collector scanned that frame whenever it ran, the callee wrote only valid values;
/// - a slot of this function's frame stays valid over anything: the collector scans
///   and updates it, and code writes only valid values (or leaves a pending one in a
///   register, the slot holding its older valid value);
/// - a slot past this function's frame stays valid only over instructions that cannot
///   collect ([`calm`]) and over an inlined call of a callee whose code cannot
///   ([`Shape::calm`]): a collection does not update slots above the live top.
///
/// An exit ends the native code (the interpreter then runs the rest, pushing frames as
/// it does), so it is no successor here.
pub(super) fn valid_at_calls(
    fun: &Fun,
    nslots: u16,
    keep_self: u64,
    shapes: &[(u16, u16)],
    callees: &[Shape],
    native: &[(u32, u32)],
) -> Vec<(u32, u64)> {
    let n = fun.insns.len();
    if n == 0 || native.is_empty() {
        return Vec::new();
    }
    let code_len = fun.insns.last().map_or(0, |(ip, _, len)| ip + len);
    let range = |lo: usize, hi: usize| -> u128 {
        (lo.min(128)..hi.min(128)).fold(0u128, |m, s| m | 1 << s)
    };
    let own = range(0, nslots as usize);
    let init = own & !(keep_self as u128);
    // The loop heads the interpreter may enter at: targets of backward jumps, and the
    // entry (a `tcallself` goes there).
    let mut head = vec![false; n];
    head[0] = true;
    for (ip, i, len) in &fun.insns {
        for t in successors(*ip, *len, i, code_len) {
            if t <= *ip {
                if let Some(&y) = fun.at.get(t as usize).filter(|&&y| y != usize::MAX) {
                    head[y] = true;
                }
            }
        }
    }
    // The native call at instruction `x`: its callee, frame's first slot and argument count.
    let call = |x: usize| -> Option<(u32, usize, usize)> {
        let (ip, i, _) = &fun.insns[x];
        let k = native.binary_search_by_key(ip, |c| c.0).ok()?;
        let (a0, args) = match i.op {
            Op::CallK | Op::Call => (super::slot(i, 2), super::slot(i, 3)),
            Op::CallSelf => (super::slot(i, 1), super::slot(i, 2)),
            _ => return None,
        };
        Some((native[k].1, a0, args))
    };
    let step = |x: usize, v: u128| -> u128 {
        let i = &fun.insns[x].1;
        if let Some((f, a0, args)) = call(x) {
            let (Some(&(_, ns)), Some(sh)) = (shapes.get(f as usize), callees.get(f as usize))
            else {
                return v & own;
            };
            if !sh.stays {
                return v & own;
            }
            let frame = range(a0, a0 + ns as usize);
            let kept = (0..(ns as usize).min(64))
                .filter(|&t| sh.keep & 1 << t != 0)
                .fold(0u128, |m, t| m | range(a0 + t, a0 + t + 1));
            return (v & (own | frame)) | range(a0, a0 + args) | (frame & !kept);
        }
        let inlined = matches!(i.op, Op::CallK)
            && callees
                .get(super::imm(i, 1) as usize)
                .is_some_and(|sh| sh.calm);
        if calm(i.op) || inlined {
            v
        } else {
            v & own
        }
    };
    let mut before: Vec<Option<u128>> = vec![None; n];
    before[0] = Some(init);
    let mut work = vec![0usize];
    while let Some(x) = work.pop() {
        let Some(v) = before[x] else { continue };
        let out = step(x, v);
        let (ip, i, len) = &fun.insns[x];
        for t in successors(*ip, *len, i, code_len) {
            let Some(&y) = fun.at.get(t as usize).filter(|&&y| y != usize::MAX) else {
                continue;
            };
            let into = if head[y] { out & init } else { out };
            let merged = before[y].map_or(into, |old| old & into);
            if before[y] != Some(merged) {
                before[y] = Some(merged);
                work.push(y);
            }
        }
    }
    (0..n)
        .filter_map(|x| {
            let v = before[x]?;
            let (_, a0, _) = call(x)?;
            let m = (0..64usize)
                .filter(|&t| a0 + t < 128 && v & 1 << (a0 + t) != 0)
                .fold(0u64, |m, t| m | 1 << t);
            (m != 0).then_some((fun.insns[x].0, m))
        })
        .collect()
}

/// What a caller's [`valid_at_calls`] needs to know of one function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// The slots its direct callers' pushes leave ([`Clears::keep`]).
    pub keep: u64,
    /// Its frame stays its own while a call of it runs: it tail-calls no other function.
    pub stays: bool,
    /// Its code cannot collect: a callee the translator inlines ([`super::leaf`],
    /// [`super::inline::path`]), none of whose instructions calls, allocates or calls
    /// the runtime.
    pub calm: bool,
    /// Bit `s`: slot `s` past its arguments is read on no path from its entry before
    /// it is written (the bytecode's liveness at offset 0), so its value at the entry
    /// is never seen but by the collector.
    pub fresh: u64,
}

/// Whether `op`, run by native code, cannot collect: moves, constants, arithmetic,
/// comparisons and branches, field and element reads (no allocation, helper or call;
/// a failing check exits, which ends the native code).
fn calm(op: Op) -> bool {
    use Op::*;
    matches!(
        op,
        Jmp | Jt
            | Jf
            | JNTag
            | JNil
            | JCons
            | JLtI64
            | JLeI64
            | JGtI64
            | JGeI64
            | JEqI64
            | JNeI64
            | JLtIImm
            | JLeIImm
            | JGtIImm
            | JGeIImm
            | JEqIImm
            | JNeIImm
            | JLtF64
            | JLeF64
            | JNLtF64
            | JNLeF64
            | JEqF64
            | JNeF64
            | Mov
            | LoadI
            | LoadI64
            | LoadF
            | LoadTrue
            | LoadFalse
            | LoadNil
            | LoadUnit
            | AddI64
            | SubI64
            | MulI64
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
            | AddF64
            | SubF64
            | MulF64
            | DivF64
            | NegF64
            | Not
            | I64ToF64
            | Field
            | Field2
            | AGet
            | ALen
    )
}

#[cfg(test)]
mod tests {
    use super::super::{infer, Liveness};
    use super::*;
    use hashvm_format::hasm;

    /// The clears of function `name` of `src`, all its direct calls (and its `call`s
    /// of a function loaded by `loadfn`) taken as native.
    fn of(src: &str, name: &str) -> Clears {
        let m = hasm::assemble(src, "t.hasm").expect("assembles");
        let (me, f) = m
            .functions
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name)
            .expect("function");
        let fun = infer(&f.code, f.nslots, &[], me as u32).expect("decodes");
        let shapes: Vec<(u16, u16)> = m.functions.iter().map(|f| (f.arity, f.nslots)).collect();
        let native: Vec<(u32, u32)> = fun
            .insns
            .iter()
            .enumerate()
            .filter_map(|(n, (ip, i, _))| match i.op {
                Op::CallK => Some((*ip, super::super::imm(i, 1) as u32)),
                Op::CallSelf => Some((*ip, me as u32)),
                Op::Call => super::super::known_callee(&fun, n, &[]).map(|f| (*ip, f)),
                _ => None,
            })
            .collect();
        let live = Liveness::new(&fun, f.nslots as usize);
        clears(&fun, me as u32, f.arity, f.nslots, &shapes, &native, &live)
    }

    const FIB: &str = "
.module executable
.func fib/1 slots=4
    jgei.i64 r0, 2, rec
    ret r0
rec:
    subi.i64 r2, r0, 1
    callself r2, r2, 1
    subi.i64 r3, r0, 2
    callself r3, r3, 1
    add.i64 r1, r2, r3
    ret r1
.end
.func peek/1 slots=6
    loadi r3, 77
    mov r1, r0
    callk r1, fib, r1, 1
    mov r0, r3
    ret r0
.end
.func byval/1 slots=6
    loadfn r5, fib
    mov r1, r0
    call r1, r5, r1, 1
    ret r1
.end
.func main/0 slots=1
    retu
.end
.entry main
";

    /// fib keeps the slots its calls cover (their argument and frame) and the sum's
    /// slot, which its first call clears before its push (the callee could observe
    /// it; dead there); its entry's exit clears the three kept slots, the first
    /// call's the two not written yet.
    #[test]
    fn fib_keeps_its_calls_slots() {
        let c = of(FIB, "fib");
        assert_eq!(c.keep, 0b1110);
        assert_eq!(c.at_exit(0), 0b1110);
        assert_eq!(c.at_exit(23), 0b1010, "slot 2 is the call's argument");
        assert_eq!(
            c.at_exit(39),
            0,
            "covered by the first call or cleared before it"
        );
        assert_eq!(c.before_call(23), 0b10, "the sum's slot, dead there");
        assert_eq!(c.before_call(39), 0);
    }

    /// A slot of the callee's frame read after the call is cleared by that call's
    /// push, whatever the callee keeps (the interpreter's push would clear it).
    #[test]
    fn a_slot_read_after_the_call_is_cleared_by_its_push() {
        let c = of(FIB, "peek");
        // fib's frame is slots 1 to 4: the slot read after the call is fib's slot 2.
        assert_eq!(c.at_call(12), 0b100);
    }

    /// `exits` holds two dozen `add.i64 r1, r0, r0` (each may exit: its operand's tag is
    /// checked) before slot 7 is written.
    fn held_src() -> String {
        format!(
            "
.module executable
.func leaf/1 slots=2
    ret r0
.end
.func held/2 slots=8
    add.i64 r2, r0, r1
    mov r4, r0
    callk r4, leaf, r4, 1
    add.i64 r3, r2, r4
    ret r3
.end
.func partial/2 slots=6
    jlt.i64 r0, r1, skip
    loadi r2, 5
skip:
    mov r3, r0
    callk r3, leaf, r3, 1
    ret r2
.end
.func exits/1 slots=8
{ADDS}    loadi r7, 1
    add.i64 r1, r1, r7
    ret r1
.end
.func main/0 slots=1
    retu
.end
.entry main
",
            ADDS = "    add.i64 r1, r0, r0\n".repeat(24)
        )
    }

    /// A slot written on every path and live across a native call is in memory
    /// there (the call writes it back first): kept, and never cleared by that call,
    /// whose push clears only the dead slots outside its frame.
    #[test]
    fn a_written_slot_live_across_a_call_is_kept_and_not_cleared() {
        let c = of(&held_src(), "held");
        assert_ne!(c.keep & 0b100, 0, "slot 2, written and live at the call");
        assert!(
            c.before_calls.iter().all(|e| e.1 & 0b100 == 0),
            "slot 2 cleared before the call: {:?}",
            c.before_calls
        );
        assert!(
            c.before_calls.iter().any(|e| e.1 & 0b1000 != 0),
            "slot 3, unwritten and dead at the call, is cleared there: {:?}",
            c.before_calls
        );
    }

    /// A slot live at a call but written on one path only may hold a stale value on
    /// the other: not kept.
    #[test]
    fn a_slot_written_on_one_path_and_live_at_a_call_is_not_kept() {
        let c = of(&held_src(), "partial");
        assert_eq!(c.keep & 0b100, 0);
    }

    /// No bound on the exits that clear a kept slot (an exit stub clears many slots
    /// through one shared routine, `emit::clear_exit`): slot 7, unwritten at two dozen
    /// instructions that may exit, is kept, and each of those exits clears it.
    #[test]
    fn a_slot_many_exits_clear_is_kept() {
        let c = of(&held_src(), "exits");
        assert_ne!(c.keep & 1 << 7, 0, "{c:?}");
        let clearing = c.exits.iter().filter(|e| e.1 & 1 << 7 != 0).count();
        assert!(clearing >= 24, "{c:?}");
    }

    /// A `call` of a function known at compile time is the native call `callk`
    /// would be (`call.aot.v`): the callee's frame is covered by it, so its caller's
    /// push need not clear it.
    #[test]
    fn a_call_of_a_known_function_covers_its_frame() {
        let c = of(FIB, "byval");
        assert_eq!(c.keep & 0b11110, 0b11110, "fib's frame, slots 1 to 4");
    }

    const TWICE: &str = "
.module executable
.func callee/1 slots=4
    ret r0
.end
.func twice/1 slots=2
    mov r1, r0
    callk r1, callee, r1, 1
    mov r1, r0
    callk r1, callee, r1, 1
    ret r1
.end
.func apart/1 slots=2
    mov r1, r0
    callk r1, callee, r1, 1
    tostr r1, r0
    mov r1, r0
    callk r1, callee, r1, 1
    ret r1
.end
.func main/0 slots=1
    retu
.end
.entry main
";

    /// The valid slots of `name`'s calls of `callee` (which keeps `keep`, and whose frame
    /// stays its own when `stays`).
    fn valid_of(name: &str, keep: u64, stays: bool) -> Vec<(u32, u64)> {
        let m = hasm::assemble(TWICE, "t.hasm").expect("assembles");
        let find = |n: &str| {
            m.functions
                .iter()
                .position(|f| f.name == n)
                .expect("function")
        };
        let (me, callee) = (find(name), find("callee"));
        let f = &m.functions[me];
        let fun = infer(&f.code, f.nslots, &[], me as u32).expect("decodes");
        let shapes: Vec<(u16, u16)> = m.functions.iter().map(|f| (f.arity, f.nslots)).collect();
        let mut callees = vec![Shape::default(); m.functions.len()];
        callees[callee] = Shape {
            keep,
            stays,
            calm: false,
            fresh: 0b1110,
        };
        let native: Vec<(u32, u32)> = fun
            .insns
            .iter()
            .filter(|(_, i, _)| i.op == Op::CallK)
            .map(|(ip, _, _)| (*ip, callee as u32))
            .collect();
        valid_at_calls(&fun, f.nslots, 0, &shapes, &callees, &native)
    }

    /// The second of two calls whose frames cover the same slots past the caller's
    /// frame finds there what the first call's callee left: all valid, none of them
    /// cleared by its push; the first finds only its argument's slot (the caller's).
    #[test]
    fn a_second_call_finds_the_first_calls_frame_valid() {
        assert_eq!(valid_of("twice", 0, true), vec![(5, 0b1), (21, 0b1111)]);
    }

    /// What a callee keeps may be stale when it returns, so not valid after the call.
    #[test]
    fn a_callees_kept_slots_are_not_valid_after_it() {
        assert_eq!(
            valid_of("twice", 0b0100, true),
            vec![(5, 0b1), (21, 0b1011)]
        );
    }

    /// A helper call between the calls may collect, and a collection leaves the slots
    /// past the caller's frame (above the live top) as they were: no longer valid.
    #[test]
    fn a_collection_between_the_calls_ends_their_validity() {
        assert_eq!(valid_of("apart", 0, true), vec![(5, 0b1), (26, 0b1)]);
    }

    /// A callee that tail-calls another function may end in a smaller frame, leaving
    /// the rest of its own above the live top while it runs: nothing past the caller's
    /// frame is valid after it.
    #[test]
    fn a_callee_that_tail_calls_another_leaves_nothing_valid() {
        assert_eq!(valid_of("twice", 0, false), vec![(5, 0b1), (21, 0b1)]);
    }
}
