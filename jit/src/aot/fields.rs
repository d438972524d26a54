//! The whole-program analysis of field kinds (SPEC.md §11.6, "Field kinds"): for each
//! field of each of the program's own types, the kind (i64, f64, bool, or array:
//! [`Kind::Arr`], an `anew`'s result) of every value that can ever be stored there,
//! when they all have one. A native executable's
//! module is the whole program (nothing links to it later), so the facts hold for
//! every run; the executable carries them to the tracing JIT ([`crate::kinds`]).
//!
//! Every way a value gets into a field of a program's own type, and what the analysis
//! reads of it:
//! - `con` (and `con.ret`, which is `con` then `ret`; the only instructions with a type
//!   operand): the kinds of the slots it takes, from the kind inference of its
//!   function, reached instructions only (an unreached one never runs);
//! - `setfield`: the kind of the value stored, into that field of the object's type
//!   when its slot is known to hold an object of one of the program's types
//!   ([`Kind::Obj`], which holds for every run), else of *every* type;
//! - the constants the loader builds (globals' constants, the shared constants and
//!   `#run` values among them): every data constant at any depth, each field by its
//!   constant's kind (a number or bool constant; anything else, another global's
//!   value included, unknown);
//! - nothing else: the runtime builds only builtin types' objects (`Some`/`Ok`/`Err`,
//!   cons cells, tuples), the loader's constants above, and stores into no field but
//!   through `setfield`; traces and native code run the same instructions with the
//!   same values; the collector moves objects without changing a field.
//!
//! The parameters of a function every call of which is a direct call in the program
//! (`callk`, `tcallk`, `callself`, `tcallself`: no `loadfn`, `closure` or other
//! instruction names it, no constant holds it except the global of its own name, which
//! nothing reads) have the join of the kinds its reached calls pass: a least fixed
//! point from "never called". Any other function (entry, initialiser, a function
//! value) has parameters of unknown kind. This is what makes `Body(x, y, z, ...)` in a
//! `new_body(x, ...)` whose every caller passes f64 constants a store of f64s.
//!
//! Call results come from the inference with every parameter unknown (`rets`, sound
//! for every run); a field read is unknown here (this fixed point feeds nothing
//! back), and a field this analysis leaves unknown takes the number or bool kind
//! the second fixed point below proves for it, which reads fields back: `Map.Node`'s
//! height, stored as `1`, as `h + 1` and as another node's height read from its field.
//!
//! A second fixed point of the same shape ([`closed_facts`]) gives the whole-function
//! compiler what the closed program proves of its objects: the closed functions'
//! parameters that always hold a data object of one of the program's types
//! ([`Kind::Obj`]: a `con` of that type with fields, passed on by direct calls and
//! moves) or an `Option` value of one ([`Kind::Opt`]), and the kinds of those and of
//! numbers and bools in fields ([`super::Heap`]), fed back into the inference at every
//! `field`, with every function's results. Its code then reads their fields with no tag, kind or
//! field-count test the type answers, a field of a kind this table proves with no tag
//! compare, and tells `None` from `Some` by one compare (SPEC.md §11.6, "Field
//! kinds").
//!
//! The same fixed point finds which arrays keep their elements kind (SPEC.md §11.6,
//! "Elements kinds"): an `anew`'s array of an i64, f64 or bool ([`Kind::ArrOf`]) is
//! flat of that kind until a store of another kind converts it, and only a reached
//! `aset` or `array.fill` of a function a run can call ([`function_sources`]) can
//! ([`converts`]). The tags no such store may convert are [`Heap::elems`]' answer: the
//! inference gives an `aget` of such an array that kind, the compiled code reads and
//! writes its elements with no test of the kind, and the table carries it for an
//! array field whose every array is one (codes 5 to 7, [`crate::kinds`]).

use super::{
    constant_functions, infer_seeded, returns, slot, stored_globals, Fun, Heap, Kind, ELEMS,
};
use crate::kinds::{FieldKind, FieldKinds};
use hashvm_format::insn::{decode_all, Operand};
use hashvm_format::opcode::Op;
use hashvm_format::{Const, GlobalInit, Module, TypeDef, FIRST_USER_TYPE};
use hashvm_vm::Tag;

/// Marks in `funcs` every function the constant `c` holds (a function constant, a
/// closure's function, at any depth) and in `globals` every global it reads: what
/// [`function_sources`] needs from the loader's constants.
fn walk(c: &Const, funcs: &mut [bool], globals: &mut [bool]) {
    let mark = |v: &mut [bool], i: u32| {
        if let Some(x) = v.get_mut(i as usize) {
            *x = true;
        }
    };
    match c {
        Const::Func(f) => mark(funcs, *f),
        Const::Closure { func, captures } => {
            mark(funcs, *func);
            captures.iter().for_each(|x| walk(x, funcs, globals));
        }
        Const::Global(g) => mark(globals, *g),
        Const::Data { fields: v, .. } | Const::Tuple(v) | Const::List(v) | Const::Array(v) => {
            v.iter().for_each(|x| walk(x, funcs, globals));
        }
        Const::Ref(x) => walk(x, funcs, globals),
        _ => {}
    }
}

/// The functions whose value may exist at run time (called other than by a direct
/// call): those a run calls whatever the program does and those some function's code
/// can make a value of ([`function_sources`]: named by any operand but a direct call's
/// callee, held by a constant other than an unread global's own `fn` value, the entry
/// or an initialiser). `None` when a function does not decode or the program imports
/// a global.
fn escaping(m: &Module) -> Option<Vec<bool>> {
    let (mut esc, names) = function_sources(m)?;
    for f in names.into_iter().flatten() {
        if let Some(x) = esc.get_mut(f) {
            *x = true;
        }
    }
    Some(esc)
}

/// What decides which functions a run can ever call (for [`closed_facts`]' elements
/// kinds): the functions called whatever the program does (the entry, the
/// initialisers, every function a constant holds but an own `fn` global's, and those
/// whose own global a constant reads), and per function the functions its code can
/// make a value of (every operand naming one but a direct call's callee: `loadfn`,
/// `closure`; and the function of each own `fn` global it reads). With the callees of
/// the reached direct calls, these are every way a function comes to run (the
/// interpreter, the runtime and the tracing JIT call a function only through those
/// instructions or a function value). `None` when a function does not decode or the
/// program imports a global.
fn function_sources(m: &Module) -> Option<(Vec<bool>, Vec<Vec<usize>>)> {
    let n = m.functions.len();
    let mut always = vec![false; n];
    let mut names: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut reads: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (f, func) in m.functions.iter().enumerate() {
        for (_, i) in decode_all(&func.code).ok()? {
            let op = i.op.unfused();
            for (k, a) in i.args.iter().enumerate() {
                match a {
                    Operand::Func(_)
                        if (op == Op::CallK && k == 1) || (op == Op::TCallK && k == 0) => {}
                    Operand::Func(g) => names[f].push(*g as usize),
                    Operand::Global(g) => reads[f].push(*g as usize),
                    _ => {}
                }
            }
        }
    }
    let mut read_by_const = vec![false; m.globals.len()];
    let mut own = vec![None; m.globals.len()];
    for (g, gl) in m.globals.iter().enumerate() {
        match &gl.init {
            GlobalInit::Const(Const::Func(f)) => own[g] = Some(*f as usize),
            GlobalInit::Const(c) => walk(c, &mut always, &mut read_by_const),
            GlobalInit::Uninit => {}
            GlobalInit::Import(_) => return None,
        }
    }
    for (g, f) in own.iter().enumerate() {
        if let (Some(f), true) = (f, read_by_const[g]) {
            *always.get_mut(*f)? = true;
        }
    }
    for (f, rs) in reads.iter().enumerate() {
        for &g in rs {
            if let Some(Some(h)) = own.get(g) {
                names[f].push(*h);
            }
        }
    }
    for &f in m.inits.iter().chain(&m.entry) {
        *always.get_mut(f as usize)? = true;
    }
    Some((always, names))
}

/// The kind of a constant held in a field: a number or bool; a data constant of one
/// of the program's types with fields is a data object of that type ([`Kind::Obj`]:
/// the loader builds it so, with its constructor's arity, and its fields go into the
/// table by [`const_fields`]), a field-less one a value of that type ([`Kind::Of`],
/// when `nz` says its other constructors all have fields); any other data constant a
/// constructed value ([`Kind::Ctor`]: a field-less constructor's immediate, or a data
/// object).
fn const_kind(c: &Const, nz: &[bool]) -> Kind {
    match c {
        Const::Bool(_) => Kind::Bool,
        Const::I64(_) => Kind::I64,
        Const::F64(_) => Kind::F64,
        Const::Data { ty, fields, .. } if *ty >= FIRST_USER_TYPE && !fields.is_empty() => {
            Kind::Obj(*ty)
        }
        Const::Data { ty, .. }
            if ty
                .checked_sub(FIRST_USER_TYPE)
                .and_then(|x| nz.get(x as usize))
                .copied()
                .unwrap_or(false) =>
        {
            Kind::Of(*ty)
        }
        Const::Data { .. } => Kind::Ctor,
        _ => Kind::Any,
    }
}

/// Per type of `m` from `FIRST_USER_TYPE`: whether its constructors other than 0 all
/// have fields ([`Heap::nz_types`]; an imported type, unknown, has not).
pub(crate) fn nz_types(m: &Module) -> Vec<bool> {
    m.types
        .iter()
        .map(|t| match t {
            TypeDef::Defined { ctors, .. } => ctors.iter().skip(1).all(|c| c.arity > 0),
            TypeDef::Import { .. } => false,
        })
        .collect()
}

/// Per global of `m`, what every `loadg` of it reads ([`Heap::globals`]): the
/// constant the loader built for it, by [`const_kind`] but only a data object of one
/// of the program's types ([`Kind::Obj`]), when no `storeg` of the program writes it
/// (the loader and `storeg` are the only writers of globals, and a native
/// executable's module is the whole program); `Any` otherwise, and for every global
/// when a function does not decode. binarytrees' shared leaf `Node(Empty, Empty)`.
pub(crate) fn constant_globals(m: &Module) -> Vec<Kind> {
    let Some(stored) = stored_globals(m) else {
        return vec![Kind::Any; m.globals.len()];
    };
    m.globals
        .iter()
        .zip(stored)
        .map(|(g, stored)| match &g.init {
            GlobalInit::Const(c) if !stored => match const_kind(c, &[]) {
                k @ Kind::Obj(_) => k,
                _ => Kind::Any,
            },
            _ => Kind::Any,
        })
        .collect()
}

/// Joins into `f` (per type from `FIRST_USER_TYPE`, per field) the fields of every
/// data constant inside `c` (`nz`: [`nz_types`]).
fn const_fields(c: &Const, f: &mut [Option<Vec<Kind>>], nz: &[bool]) {
    match c {
        Const::Data { ty, fields, .. } => {
            for (fi, x) in fields.iter().enumerate() {
                store(f, Some(*ty), fi, const_kind(x, nz));
                const_fields(x, f, nz);
            }
        }
        Const::Tuple(v) | Const::List(v) | Const::Array(v) => {
            v.iter().for_each(|x| const_fields(x, f, nz))
        }
        Const::Closure { captures, .. } => captures.iter().for_each(|x| const_fields(x, f, nz)),
        Const::Ref(x) => const_fields(x, f, nz),
        _ => {}
    }
}

/// Joins `k` into field `fi` of type `ty` (of every type when `None`).
fn store(f: &mut [Option<Vec<Kind>>], ty: Option<u32>, fi: usize, k: Kind) {
    for (t, fields) in f.iter_mut().enumerate() {
        if ty.is_some_and(|ty| ty.checked_sub(FIRST_USER_TYPE) != Some(t as u32)) {
            continue;
        }
        if let Some(x) = fields.as_mut().and_then(|v| v.get_mut(fi)) {
            *x = x.join(k);
        }
    }
}

/// Per type of `m`, per field (the widest constructor's count), the join of what the
/// loader's constants store there (`Bot` where none does; `None` for an imported
/// type): where both fixed points ([`field_kinds`], [`closed_facts`]) start.
fn constant_fields(m: &Module) -> Vec<Option<Vec<Kind>>> {
    let mut f: Vec<Option<Vec<Kind>>> = m
        .types
        .iter()
        .map(|t| match t {
            TypeDef::Defined { ctors, .. } => {
                let n = ctors.iter().map(|c| c.arity as usize).max().unwrap_or(0);
                Some(vec![Kind::Bot; n])
            }
            TypeDef::Import { .. } => None,
        })
        .collect();
    let nz = nz_types(m);
    for g in &m.globals {
        if let GlobalInit::Const(c) = &g.init {
            const_fields(c, &mut f, &nz);
        }
    }
    f
}

/// The field kinds of the whole program `m` (see the module's documentation); `rets`
/// are the return kinds of the inference with every parameter unknown, `heap` what
/// [`closed_facts`] proves (an array field's elements kind comes from there). Anything the
/// analysis cannot follow (a function that does not decode, an imported type or
/// global, no fixed point within the bound) leaves the fields it touches, or all,
/// unknown.
pub(crate) fn field_kinds(m: &Module, rets: &[Kind], heap: &Heap) -> FieldKinds {
    let none = FieldKinds::default();
    let mut f = constant_fields(m);
    if f.iter().flatten().all(|v| v.is_empty()) {
        return none;
    }
    let Some(esc) = escaping(m) else {
        return none;
    };
    let Some((funs, _)) = closed_params(m, rets, &esc) else {
        return none;
    };
    // The fixed point: what every reached `con` and `setfield` stores.
    for fun in &funs {
        for (n, (_, i, _)) in fun.insns.iter().enumerate() {
            if !fun.reached[n] {
                continue;
            }
            let at = |s: usize| fun.before[n].get(s).copied().unwrap_or(Kind::Any);
            match i.op {
                Op::Con => {
                    let Some(Operand::Type(ty)) = i.args.get(1) else {
                        return none;
                    };
                    let (b, count) = (slot(i, 3), slot(i, 4));
                    for fi in 0..count {
                        store(&mut f, Some(*ty), fi, at(b + fi));
                    }
                }
                // Into the one type the object slot is known to hold ([`Kind::Obj`],
                // sound for every run), else into that field of every type.
                Op::SetField => store(&mut f, at(slot(i, 0)).obj(), slot(i, 1), at(slot(i, 2))),
                _ => {}
            }
        }
    }
    let tag = |k: &Kind| match k {
        Kind::I64 => Some(FieldKind::Tag(Tag::I64)),
        Kind::F64 => Some(FieldKind::Tag(Tag::F64)),
        Kind::Bool => Some(FieldKind::Tag(Tag::BOOL)),
        Kind::Arr | Kind::ArrOf(_) => Some(FieldKind::Array(None)),
        _ => None,
    };
    // An array field whose every array keeps an elements kind (the second fixed point,
    // [`closed_facts`], which reads the elements back): that kind too.
    let elems = |t: usize, fi: usize| {
        let k = heap.fields.get(t)?.get(fi)?;
        heap.elems(*k).map(|e| FieldKind::Array(Some(e)))
    };
    // A number or bool the second fixed point proves where this one, which reads no
    // field back, does not: both join every value that can be stored (sound for
    // every run), so the field holds only that kind.
    let numbers = |t: usize, fi: usize| {
        let k = *heap.fields.get(t)?.get(fi)?;
        k.ir().and_then(|_| tag(&k))
    };
    FieldKinds::new(
        f.iter()
            .enumerate()
            .map(|(t, v)| {
                v.iter()
                    .flatten()
                    .enumerate()
                    .map(|(fi, k)| elems(t, fi).or_else(|| tag(k)).or_else(|| numbers(t, fi)))
                    .collect()
            })
            .collect(),
    )
}

/// The parameters' kinds of every function (see the module's documentation: a closed
/// function's are the join of what its reached direct calls pass, any other's
/// unknown), and each function's inference with them. `None` when a function does
/// not decode, a call names no function, or no fixed point is found within the bound.
fn closed_params(m: &Module, rets: &[Kind], esc: &[bool]) -> Option<(Vec<Fun>, Vec<Vec<Kind>>)> {
    let arity = |g: usize| m.functions[g].arity as usize;
    let consts = constant_functions(m);
    let mut params: Vec<Vec<Kind>> = (0..m.functions.len())
        .map(|g| vec![if esc[g] { Kind::Any } else { Kind::Bot }; arity(g)])
        .collect();
    // Each parameter rises at most three times (never called, an object of one type,
    // a kind or constructed, unknown): a bound only a bug reaches, and then nothing is
    // known.
    for _ in 0..3 * m.functions.len() + 2 {
        let mut funs = Vec::with_capacity(m.functions.len());
        for (g, func) in m.functions.iter().enumerate() {
            funs.push(infer_seeded(
                &func.code,
                func.nslots,
                rets,
                g as u32,
                &params[g],
                &Heap::NONE,
                &consts,
            )?);
        }
        let mut next = params.clone();
        for (g, fun) in funs.iter().enumerate() {
            for (n, (_, i, _)) in fun.insns.iter().enumerate() {
                if !fun.reached[n] {
                    continue;
                }
                let (callee, a0) = match i.op {
                    Op::CallK => match i.args.get(1) {
                        Some(Operand::Func(c)) => (*c as usize, slot(i, 2)),
                        _ => return None,
                    },
                    Op::TCallK => match i.args.first() {
                        Some(Operand::Func(c)) => (*c as usize, slot(i, 1)),
                        _ => return None,
                    },
                    Op::CallSelf => (g, slot(i, 1)),
                    Op::TCallSelf => (g, slot(i, 0)),
                    _ => continue,
                };
                let ps = next.get_mut(callee)?;
                for (p, k) in ps.iter_mut().enumerate() {
                    let passed = fun.before[n].get(a0 + p).copied().unwrap_or(Kind::Any);
                    *k = k.join(passed);
                }
            }
        }
        if next == params {
            return Some((funs, params));
        }
        params = next;
    }
    None
}

/// The most rounds [`closed_facts`] runs before it gives up (and proves nothing):
/// each round re-infers every function, and facts travel one call or one field per
/// round, so real programs settle in a few.
const MAX_FACT_ROUNDS: usize = 100;

/// What the closed program proves of its objects and `Option` values, for every run
/// (SPEC.md §11.6, "Field kinds"): per function, per parameter, a [`Kind::Obj`],
/// [`Kind::SomeOf`], [`Kind::Opt`] or [`Kind::NoneOpt`] where every call of a closed
/// function passes one (`Any` everywhere else), and the field kinds ([`Heap`]) that
/// the inference reads back at a `field`. One least fixed point, from "never called,
/// never stored, never returned", over the parameters, every function's result and
/// every field of the program's types together: the field `Element.next` holds what
/// `make_list` returns, which is a `None` or a `Some` of the `Element` it builds, and
/// `tail`'s parameters hold what `next_of` reads from that field and what `tail`
/// returns. Sound because each fact joins everything that can reach it: a closed
/// function is called only by the direct calls the analysis saw (the runtime, the
/// tracing JIT and the interpreter call a function only through those instructions or
/// through a function value, which a closed function never is); a field is written
/// only by `con`, `setfield` (joined into that field of every type) and the loader's
/// constants (this module's documentation); an object's type never changes while it
/// lives; and a `Some`'s field is written only by its `con` unless a `setfield` of
/// field 0 may reach it ([`Heap::some_kept`]).
pub(crate) fn closed_facts(m: &Module) -> (Vec<Vec<Kind>>, Heap) {
    let any = || {
        let params = m
            .functions
            .iter()
            .map(|f| vec![Kind::Any; f.arity as usize])
            .collect();
        (params, Heap::NONE)
    };
    let Some(esc) = escaping(m) else {
        return any();
    };
    let n = m.functions.len();
    let consts = constant_functions(m);
    let mut f = constant_fields(m);
    let mut params: Vec<Vec<Kind>> = (0..n)
        .map(|g| {
            let k = if esc[g] { Kind::Any } else { Kind::Bot };
            vec![k; m.functions[g].arity as usize]
        })
        .collect();
    let mut rets = vec![Kind::Bot; n];
    let mut kept = true;
    let (always, names) =
        function_sources(m).unwrap_or_else(|| (vec![true; n], vec![Vec::new(); n]));
    // Per tag of [`ELEMS`], whether an `aset` or `array.fill` may convert an `anew`'s
    // array of it: only rises, from "none".
    let mut spoiled = [false; 3];
    let globals = constant_globals(m);
    let nz = nz_types(m);
    let heap_of = |f: &[Option<Vec<Kind>>], kept: bool, spoiled: [bool; 3]| Heap {
        fields: f.iter().map(|v| v.clone().unwrap_or_default()).collect(),
        some_kept: kept,
        elems_kept: spoiled.map(|s| !s),
        globals: globals.clone(),
        nz_types: nz.clone(),
    };
    for _ in 0..MAX_FACT_ROUNDS {
        let heap = heap_of(&f, kept, spoiled);
        let (mut nparams, mut nrets, mut nf, mut nkept) =
            (params.clone(), rets.clone(), f.clone(), kept);
        // Per function, its reached direct calls' callees and what its reached stores
        // into arrays may convert ([`converts`]); counted only for the functions the
        // program can call (below).
        let mut calls: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut converts_in = vec![[false; 3]; n];
        for (g, func) in m.functions.iter().enumerate() {
            let Some(fun) = infer_seeded(
                &func.code,
                func.nslots,
                &rets,
                g as u32,
                &params[g],
                &heap,
                &consts,
            ) else {
                return any();
            };
            nrets[g] = nrets[g].join(returns(&fun, &rets, g as u32));
            for (x, (_, i, _)) in fun.insns.iter().enumerate() {
                if !fun.reached[x] {
                    continue;
                }
                let at = |s: usize| fun.before[x].get(s).copied().unwrap_or(Kind::Any);
                let (callee, a0) = match i.op {
                    Op::CallK => match i.args.get(1) {
                        Some(Operand::Func(c)) => (*c as usize, slot(i, 2)),
                        _ => return any(),
                    },
                    Op::TCallK => match i.args.first() {
                        Some(Operand::Func(c)) => (*c as usize, slot(i, 1)),
                        _ => return any(),
                    },
                    Op::CallSelf => (g, slot(i, 1)),
                    Op::TCallSelf => (g, slot(i, 0)),
                    Op::Con => {
                        let Some(Operand::Type(ty)) = i.args.get(1) else {
                            return any();
                        };
                        let (b, count) = (slot(i, 3), slot(i, 4));
                        for fi in 0..count {
                            store(&mut nf, Some(*ty), fi, at(b + fi));
                        }
                        continue;
                    }
                    Op::SetField => {
                        let fi = slot(i, 1);
                        store(&mut nf, None, fi, at(slot(i, 2)));
                        // Only an object of a known type is surely not a `Some`.
                        if fi == 0 && at(slot(i, 0)).obj().is_none() {
                            nkept = false;
                        }
                        continue;
                    }
                    Op::ASet | Op::ArrayFill => {
                        let v = at(slot(i, if i.op == Op::ASet { 2 } else { 1 }));
                        let c = converts(at(slot(i, 0)), v);
                        for (x, y) in converts_in[g].iter_mut().zip(c) {
                            *x |= y;
                        }
                        continue;
                    }
                    _ => continue,
                };
                calls[g].push(callee);
                let Some(ps) = nparams.get_mut(callee) else {
                    return any();
                };
                for (p, k) in ps.iter_mut().enumerate() {
                    *k = k.join(at(a0 + p));
                }
            }
        }
        // The functions a run can call ([`function_sources`]): those called whatever
        // runs, and from there the reached direct calls' callees and the functions
        // whose values the code makes, transitively. No other ever runs.
        let mut live = always.clone();
        let mut work: Vec<usize> = (0..n).filter(|&g| always[g]).collect();
        while let Some(g) = work.pop() {
            for &c in calls[g].iter().chain(&names[g]) {
                if let Some(l) = live.get_mut(c).filter(|l| !**l) {
                    *l = true;
                    work.push(c);
                }
            }
        }
        let mut nspoiled = spoiled;
        for (g, c) in converts_in.iter().enumerate() {
            if live[g] {
                for (x, y) in nspoiled.iter_mut().zip(c) {
                    *x |= *y;
                }
            }
        }
        if nparams == params && nrets == rets && nf == f && nkept == kept && nspoiled == spoiled {
            // `Bot` in the answer (never called, never stored): nothing the compiled
            // code may rely on.
            let params = params
                .into_iter()
                .map(|ps| {
                    ps.into_iter()
                        .map(|k| match k {
                            Kind::Obj(_)
                            | Kind::Of(_)
                            | Kind::SomeOf(_)
                            | Kind::Opt(_)
                            | Kind::NoneOpt => k,
                            _ => Kind::Any,
                        })
                        .collect()
                })
                .collect();
            let mut heap = heap_of(&f, kept, spoiled);
            for k in heap.fields.iter_mut().flatten() {
                if *k == Kind::Bot {
                    *k = Kind::Any;
                }
            }
            return (params, heap);
        }
        (params, rets, f, kept, spoiled) = (nparams, nrets, nf, nkept, nspoiled);
    }
    any()
}

/// Which elements kinds of [`ELEMS`] a store of a value of kind `v` into an array of
/// kind `arr` (an `aset`, or an `array.fill`) may take from an `anew`'s array
/// ([`Kind::ArrOf`]) by converting it (SPEC.md §1.1): into an `anew`'s array of tag
/// `t`, `t` unless the value is a `t`; into any other array, which may be an `anew`'s
/// of any tag, every tag but the value's. Nothing from a slot not reached yet in the
/// fixed point (`Bot`; at the end, a store that never runs).
fn converts(arr: Kind, v: Kind) -> [bool; 3] {
    if arr == Kind::Bot || v == Kind::Bot {
        return [false; 3];
    }
    let vt = v.elem_tag();
    ELEMS.map(|e| match arr {
        Kind::ArrOf(t) => t == e && vt != Some(e),
        _ => vt != Some(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashvm_format::hasm::assemble;

    /// What the table proves: an `anew`'s array stored by every `con` of a field makes
    /// it an array field, an array in one and an i64 in another makes it unknown; a
    /// `setfield` through a slot known to hold a U (a `con`'s result) changes U's field
    /// only, one through a parameter of unknown kind (`poke`'s, a function value's)
    /// that field of every type.
    #[test]
    fn array_fields_and_setfields_into_a_known_type() {
        let src = "
.module executable
.type T | T(a, n)
.type U | U(a, n)
.type V | V(a, n)
.func poke/1 slots=2
    loadi r1, 9
    setfield r0, 1, r1
    retu
.end
.func main/0 slots=7
    loadi r1, 3
    loadi r2, 0
    anew r0, r1, r2
    loadi r1, 5
    con r3, T, 0, r0, 2
    con r4, U, 0, r0, 2
    loadf r5, 2.5
    setfield r4, 1, r5
    con r5, V, 0, r0, 2
    con r5, V, 0, r1, 2
    loadfn r6, poke
    retu
.end
.entry main
";
        let m = assemble(src, "t.hasm").unwrap();
        let (_, rets) = super::super::infer_program(&m);
        let k = field_kinds(&m, &rets, &Heap::NONE);
        let t = FIRST_USER_TYPE;
        assert!(k.array(t, 0), "T.a: only ever the array");
        assert_eq!(k.tag(t, 0), Some(Tag::OBJ));
        assert_eq!(k.tag(t, 1), Some(Tag::I64), "T.n: U's setfield is not T's");
        assert!(k.array(t + 1, 0));
        assert_eq!(k.tag(t + 1, 1), None, "U.n: an i64 and an f64");
        assert!(!k.array(t + 2, 0), "V.a: an array and an i64");
        assert_eq!(k.tag(t + 2, 0), None);
        // `poke` is a function value: its parameter is unknown, so its `setfield`
        // of field 1 reaches every type's: an f64 there spoils T's too.
        let src2 = src.replace("loadi r1, 9", "loadf r1, 2.5");
        let m2 = assemble(&src2, "t.hasm").unwrap();
        let (_, rets2) = super::super::infer_program(&m2);
        let k2 = field_kinds(&m2, &rets2, &Heap::NONE);
        assert_eq!(k2.tag(t, 1), None, "T.n: poke's f64 may land there");
        assert!(k2.array(t, 0));
    }

    /// A `call` of a function loaded from a global that always holds it (how another
    /// module's function is called) returns what that function returns: `B.v` is
    /// written only with `myabs`'s results, i64s. A `storeg` of the global anywhere in
    /// the program makes its calls' results unknown, and the field with them.
    #[test]
    fn calls_through_constant_globals_return_their_functions_kinds() {
        let src = "
.module executable
.type B | B(v)
.global absg = fn myabs
.func myabs/1 slots=2
    jgei.i64 r0, 0, pos
    neg.i64 r1, r0
    ret r1
pos:
    ret r0
.end
.func main/0 slots=4
    loadi r1, 5
    con r0, B, 0, r1, 1
    loadg r2, absg
    loadi r3, -4
    call r2, r2, r3, 1
    setfield r0, 0, r2
    retu
.end
.entry main
";
        let t = FIRST_USER_TYPE;
        let m = assemble(src, "t.hasm").unwrap();
        let (_, rets) = super::super::infer_program(&m);
        assert_eq!(
            field_kinds(&m, &rets, &Heap::NONE).tag(t, 0),
            Some(Tag::I64)
        );
        let src2 = src.replace(
            "    retu\n.end\n.entry",
            "    loadfn r3, main\n    storeg absg, r3\n    retu\n.end\n.entry",
        );
        let m2 = assemble(&src2, "t.hasm").unwrap();
        let (_, rets2) = super::super::infer_program(&m2);
        assert_eq!(
            field_kinds(&m2, &rets2, &Heap::NONE).tag(t, 0),
            None,
            "absg may hold main"
        );
    }

    /// fasta's `line[i] = chars[j]`: a value of unknown kind stored into an `anew`'s
    /// array of chars converts no array of f64s, so `cumulative`'s elements stay f64s;
    /// the same store into an array of unknown origin (the fill's kind unknown) may
    /// convert any `anew`'s array; one into an array of f64s spoils f64s.
    #[test]
    fn a_store_into_an_array_of_chars_converts_no_array_of_numbers() {
        let src = "
.module executable
.func main/0 slots=8
    loadi r1, 4
    loadf r2, 0.5
    anew r0, r1, r2
    loadchar r3, 'a'
    anew r4, r1, r3
    loadi r5, 0
    tostr r6, r1
    aset r4, r5, r6
    aget r7, r0, r5
    retu
.end
.entry main
";
        let elems = |src: &str| {
            let m = assemble(src, "t.hasm").unwrap();
            closed_facts(&m).1.elems(Kind::ArrOf(Tag::F64))
        };
        assert_eq!(elems(src), Some(Tag::F64), "a string into the chars");
        let unknown = src.replace("loadchar r3, 'a'", "tostr r3, r1");
        assert_eq!(elems(&unknown), None, "into an array of any elements");
        let into_f64s = src.replace("aset r4, r5, r6", "aset r0, r5, r6");
        assert_eq!(elems(&into_f64s), None, "a string into the f64s");
        // The chars' own kind is no kind of an `aget`: a char array's elements are
        // read as they are.
        let m = assemble(src, "t.hasm").unwrap();
        assert_eq!(closed_facts(&m).1.elems(Kind::ArrOf(Tag::CHAR)), None);
    }
}
