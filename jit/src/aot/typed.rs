//! Typed entries (SPEC.md §11.6, "Typed entries"): a compiled function whose direct
//! compiled callers all pass some parameter as a value of one proven kind (i64, f64 or
//! bool) is compiled with that kind known at its entry, so no load of the parameter
//! checks its tag. Callers that prove the kinds enter at the *typed entry* (block 0);
//! every other way in (the interpreter's call, a function value, a caller that does not
//! prove them, a self tail call of other kinds) goes through the *checked entry*, which
//! compares each such parameter's tag once and leaves to the interpreter at offset 0
//! when one differs (the interpreter then runs the function and faults, if it faults,
//! where it always does). A function entered by the interpreter at a loop's back-edge
//! has its frame checked there too, for every slot whose kind the seeded inference
//! knows and the unseeded one does not ([`entry_checks`]): the interpreter may be
//! running the function with other kinds after an exit.
//!
//! The kinds are a least fixed point over the program's direct calls (a parameter's
//! *seed* is the join of the proven kinds its callers pass, starting from "no
//! caller"), so a recursion that passes its own parameters on (tak's `y` and `z`)
//! keeps them typed.

use super::{imm, infer_seeded, known_callee, slot, Fun, Heap, Kind};
use crate::ir::IrType;
use hashvm_format::opcode::Op;
use hashvm_format::Module;

/// The direct calls of `fun` (function `me`) that may enter their callee at its typed
/// entry, as (instruction index, callee, first argument's slot): `callk`, `callself`,
/// `tcallk`, `tcallself`, and a `call` of a function value known at compile time.
pub(crate) fn sites(fun: &Fun, me: u32, consts: &[Option<u32>]) -> Vec<(usize, u32, usize)> {
    let mut out = Vec::new();
    for (n, (_, i, _)) in fun.insns.iter().enumerate() {
        if !fun.reached[n] {
            continue;
        }
        let site = match i.op {
            Op::CallK => (imm(i, 1) as u32, slot(i, 2)),
            Op::CallSelf => (me, slot(i, 1)),
            Op::TCallK => (imm(i, 0) as u32, slot(i, 1)),
            Op::TCallSelf => (me, slot(i, 0)),
            Op::Call => match known_callee(fun, n, consts) {
                Some(f) => (f, slot(i, 2)),
                None => continue,
            },
            _ => continue,
        };
        out.push((n, site.0, site.1));
    }
    out
}

/// What one function's direct calls pass: (callee, the kind passed for each of its
/// parameters, `Bot` where no kind is proven).
type Passes = Vec<(u32, Vec<Kind>)>;

/// The most rounds of the seeds' fixed point: each seed rises at most twice (no
/// caller, a kind, unknown), so only a bug reaches it; then nothing is seeded.
fn max_rounds(m: &Module) -> usize {
    2 * m.functions.len() + 2
}

/// Per function, the kind each parameter has at its typed entry: i64, f64 or bool
/// when every reachable direct call of it in the program ([`sites`]) that passes a
/// value of proven kind there passes that kind (with the callers' own seeds; a call
/// passing one of no proven kind takes the checked entry: ackermann's `main` calls
/// `ack(3, n)` with `n` parsed from the command line, every other call is ack's own),
/// `Any` otherwise (a function no compiled code calls directly has none). `rets` are
/// the return kinds of the unseeded inference.
pub(crate) fn seeds(
    m: &Module,
    rets: &[Kind],
    consts: &[Option<u32>],
    heap: &Heap,
) -> Vec<Vec<Kind>> {
    let none: Vec<Vec<Kind>> = m
        .functions
        .iter()
        .map(|f| vec![Kind::Any; f.arity as usize])
        .collect();
    let mut seeds: Vec<Vec<Kind>> = m
        .functions
        .iter()
        .map(|f| vec![Kind::Bot; f.arity as usize])
        .collect();
    // Per function, the kinds its sites pass to each callee (`Bot` where a site passes
    // no proven kind), from its inference with its own seeds: kept while those seeds
    // stay the same, since the inference reads nothing else that changes here.
    let mut passes: Vec<Option<Passes>> = vec![None; m.functions.len()];
    for _ in 0..max_rounds(m) {
        let mut next: Vec<Vec<Kind>> = seeds.iter().map(|s| vec![Kind::Bot; s.len()]).collect();
        for (g, f) in m.functions.iter().enumerate() {
            let passed = passes[g].get_or_insert_with(|| {
                let Some(fun) =
                    infer_seeded(&f.code, f.nslots, rets, g as u32, &seeds[g], heap, consts)
                else {
                    return Vec::new();
                };
                sites(&fun, g as u32, consts)
                    .into_iter()
                    .filter_map(|(n, callee, a0)| {
                        let arity = m.functions.get(callee as usize)?.arity as usize;
                        // A caller that passes a value of no proven kind takes the
                        // checked entry and constrains nothing.
                        let kinds = (0..arity)
                            .map(|p| match fun.before[n].get(a0 + p) {
                                Some(k) if k.ir().is_some() => *k,
                                _ => Kind::Bot,
                            })
                            .collect();
                        Some((callee, kinds))
                    })
                    .collect()
            });
            for (callee, kinds) in passed.iter() {
                // Two proven kinds join to unknown.
                for (k, p) in next[*callee as usize].iter_mut().zip(kinds) {
                    *k = k.join(*p);
                }
            }
        }
        if next == seeds {
            return seeds
                .into_iter()
                .map(|s| {
                    s.into_iter()
                        .map(|k| if k.ir().is_some() { k } else { Kind::Any })
                        .collect()
                })
                .collect();
        }
        for (g, p) in passes.iter_mut().enumerate() {
            if next[g] != seeds[g] {
                *p = None;
            }
        }
        seeds = next;
    }
    none
}

/// The parameters the checked entry of a function with seeds `seeds` compares: (slot,
/// type) of each seeded one.
pub(crate) fn checked(seeds: &[Kind]) -> Vec<(u16, IrType)> {
    seeds
        .iter()
        .enumerate()
        .filter_map(|(p, k)| Some((p as u16, k.ir()?)))
        .collect()
}

/// Per function, the byte offsets of its calls ([`sites`]) whose arguments have the
/// callee's seeded kinds before the call (inference `funs`, seeded): they enter the
/// callee at its typed entry. Calls of functions with no seeded parameter are left
/// out (their two entries are one).
pub(crate) fn typed_sites(
    funs: &[Option<Fun>],
    seeds: &[Vec<Kind>],
    consts: &[Option<u32>],
) -> Vec<Vec<u32>> {
    funs.iter()
        .enumerate()
        .map(|(g, fun)| {
            let Some(fun) = fun else { return Vec::new() };
            let mut v: Vec<u32> = sites(fun, g as u32, consts)
                .into_iter()
                .filter(|&(n, callee, a0)| {
                    let Some(s) = seeds.get(callee as usize) else {
                        return false;
                    };
                    s.iter().any(|k| k.ir().is_some())
                        && s.iter()
                            .enumerate()
                            .all(|(p, k)| k.ir().is_none() || fun.before[n].get(a0 + p) == Some(k))
                })
                .map(|(n, _, _)| fun.insns[n].0)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect()
}

/// What the interpreter's entry at the instruction at byte offset `ip` (a loop's
/// back-edge) must check of the frame: every slot whose kind there the seeded
/// inference (`seeded`) proves and the unseeded one (`plain`, sound for every run of
/// the function) does not, as (slot, type). `None` when such a slot's kind is not a
/// number or bool (no tag compare proves it): the interpreter then does not enter
/// there.
pub(crate) fn entry_checks(plain: &Fun, seeded: &Fun, ip: u32) -> Option<Vec<(u16, IrType)>> {
    let n = *seeded.at.get(ip as usize)?;
    let (p, s) = (plain.before.get(n)?, seeded.before.get(n)?);
    let mut out = Vec::new();
    for (slot, (&a, &b)) in p.iter().zip(s.iter()).enumerate() {
        if a == b {
            continue;
        }
        out.push((slot as u16, b.ir()?));
    }
    Some(out)
}

/// Per parameter of a function with seeds `seeds` (inference `fun`, seeded; `rets` the
/// return kinds it was made with), the type whose tag word its slot always holds while
/// the function's compiled code runs, so that a store of that type there writes the
/// payload only (`sstore.payload`): a seeded parameter that every reachable
/// instruction writing it writes with its kind (a `tcallself`: the argument it moves
/// there), below every window of a non-tail call (whose callee's frame would cover it).
/// Every way into the code finds that tag there: the typed entry (its callers proved
/// the kind and stored it, or hold it in a slot of this rule), the checked entry
/// (compared), the interpreter's entry at a back-edge (where both inferences prove the
/// kind, the interpreter holds it; where only the seeded one does, [`entry_checks`]
/// compares it); inside, only the function's own instructions write the slot (a
/// collection changes no tag, an exit never comes back but through an entry).
pub(crate) fn fixed_tags(
    fun: &Fun,
    seeds: &[Kind],
    rets: &[Kind],
    me: u32,
    heap: &Heap,
) -> Vec<Option<IrType>> {
    let mut out: Vec<Option<IrType>> = seeds.iter().map(|k| k.ir()).collect();
    for (n, (_, i, _)) in fun.insns.iter().enumerate() {
        if !fun.reached[n] {
            continue;
        }
        let before = &fun.before[n];
        let mut after = before.clone();
        super::transfer(&mut after, i, rets, me, heap);
        let ud = hashvm_format::liveness::use_def(i);
        let base =
            i.op.operands()
                .iter()
                .zip(i.args.iter())
                .find_map(|(k, a)| match (k, a) {
                    (
                        hashvm_format::opcode::OperandKind::Base,
                        hashvm_format::insn::Operand::Slot(b),
                    ) => Some(*b as usize),
                    _ => None,
                });
        for (p, t) in out.iter_mut().enumerate() {
            let Some(ty) = *t else { continue };
            let k = seeds[p];
            let keeps = match i.op {
                // Moves its arguments down to the parameters.
                Op::TCallSelf => base.is_some_and(|b| before.get(b + p) == Some(&k)),
                // The frame becomes the callee's: this code runs no more in it.
                Op::TCallK | Op::TCall => true,
                // Any window covering the slot (a call's callee frame) but those only
                // read (constructors, tuples, closures).
                op if base.is_some_and(|b| b <= p)
                    && !matches!(op, Op::Con | Op::Tuple | Op::Closure) =>
                {
                    false
                }
                _ => !ud.writes.contains(&(p as u16)) || after.get(p) == Some(&k),
            };
            if !keeps || k.ir() != Some(ty) {
                *t = None;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aot::{constant_functions, infer_program, infer_program_seeded};
    use hashvm_format::insn::Operand;
    use hashvm_format::{FunctionBuilder, ModuleBuilder};

    /// `f(x, y)` calls itself with `x - 1` and its own `y`, and `main` calls it with two
    /// i64 constants: both parameters are seeded i64s (the self call's `y` is one only
    /// through the seed: a least fixed point), its self call enters typed, and so does
    /// `main`'s. `g(a)` is called with an i64 and an f64: no seed. `h(b)` is called
    /// with an i64 and with `f`'s result of unknown kind (a field): seeded, that call
    /// checked.
    #[test]
    fn seeds_are_the_proven_kinds_callers_pass() {
        let s = Operand::Slot;
        let mut f = FunctionBuilder::new("f", 2, 4);
        f.op(Op::SubIImm, [s(2), s(0), Operand::Imm32(1)]);
        f.op(Op::Mov, [s(3), s(1)]);
        f.op(Op::CallSelf, [s(2), s(2), Operand::U16(2)]);
        f.op(Op::Ret, [s(2)]);
        let mut g = FunctionBuilder::new("g", 1, 1);
        g.op(Op::Ret, [s(0)]);
        let mut h = FunctionBuilder::new("h", 1, 1);
        h.op(Op::Ret, [s(0)]);
        let mut main = FunctionBuilder::new("main", 0, 4);
        main.op(Op::LoadI, [s(1), Operand::Imm32(3)]);
        main.op(Op::LoadI, [s(2), Operand::Imm32(4)]);
        main.op(Op::CallK, [s(0), Operand::Func(0), s(1), Operand::U16(2)]);
        main.op(Op::LoadI, [s(1), Operand::Imm32(3)]);
        main.op(Op::CallK, [s(0), Operand::Func(1), s(1), Operand::U16(1)]);
        main.op(Op::LoadF, [s(1), Operand::F64(2.5f64.to_bits())]);
        main.op(Op::CallK, [s(0), Operand::Func(1), s(1), Operand::U16(1)]);
        main.op(Op::LoadI, [s(1), Operand::Imm32(3)]);
        main.op(Op::CallK, [s(0), Operand::Func(2), s(1), Operand::U16(1)]);
        main.op(Op::Tuple, [s(2), s(1), Operand::U16(1)]);
        main.op(Op::Field, [s(1), s(2), Operand::U16(0)]);
        main.op(Op::CallK, [s(0), Operand::Func(2), s(1), Operand::U16(1)]);
        main.op(Op::RetU, []);
        let mut mb = ModuleBuilder::new();
        mb.add_function(f).unwrap();
        mb.add_function(g).unwrap();
        mb.add_function(h).unwrap();
        let mi = mb.add_function(main).unwrap();
        mb.set_entry(mi);
        mb.set_executable(true);
        let m = mb.finish().unwrap();
        let (plain, rets) = infer_program(&m);
        let consts = constant_functions(&m);
        let seeds = seeds(&m, &rets, &consts, &Heap::NONE);
        assert_eq!(
            seeds[0],
            vec![Kind::I64, Kind::I64],
            "f: through its own call"
        );
        assert_eq!(seeds[1], vec![Kind::Any], "g: an i64 and an f64");
        assert_eq!(seeds[2], vec![Kind::I64], "h: the field constrains nothing");
        assert_eq!(checked(&seeds[0]), vec![(0, IrType::I64), (1, IrType::I64)]);
        let (funs, srets) = infer_program_seeded(&m, &seeds, &Heap::NONE);
        let fixed = |fi: usize| {
            fixed_tags(
                funs[fi].as_ref().unwrap(),
                &seeds[fi],
                &srets,
                fi as u32,
                &Heap::NONE,
            )
        };
        assert_eq!(
            fixed(0),
            vec![Some(IrType::I64); 2],
            "f writes neither parameter"
        );
        assert_eq!(fixed(1), vec![None], "g: not seeded");
        assert_eq!(fixed(2), vec![Some(IrType::I64)], "h");
        let typed = typed_sites(&funs, &seeds, &consts);
        let ip = |fi: usize, n: usize| funs[fi].as_ref().unwrap().insns[n].0;
        assert_eq!(typed[0], vec![ip(0, 2)], "f's self call");
        assert_eq!(
            typed[3],
            vec![ip(3, 2), ip(3, 8)],
            "main's calls of f and of h(3)"
        );
        let f = funs[0].as_ref().unwrap();
        assert_eq!(f.before[2][3], Kind::I64, "y, seeded");
        let pf = plain[0].as_ref().unwrap();
        assert_eq!(pf.before[2][3], Kind::Any, "y, unseeded");
        assert_eq!(
            entry_checks(pf, f, ip(0, 2)),
            Some(vec![(1, IrType::I64), (3, IrType::I64)]),
            "what only the seeds know before the call"
        );
    }
}
