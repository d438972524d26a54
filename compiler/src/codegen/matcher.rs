//! Pattern matching compiled to decision trees (the clause-matrix scheme): rows are the
//! arms' patterns, columns the parts of the scrutinee being looked at (each in a slot).
//! Testing a column specialises the matrix, removing the column, so on any path each
//! constructor tag or literal is tested at most once. Constructor tests use `switch`
//! (a jump table) or `jntag`/`jnil`; literals use fused compare-and-branch instructions.
//! Arm bodies are compiled once, after the tree; leaves bind variables and jump there.
//! A guard that fails continues with the remaining rows of the *current* matrix, so
//! even then nothing already tested is tested again.

use super::func::{Dest, FnCx, R};
use crate::span::Span;
use crate::tast::*;
use hashvm_format::{Arg, Label, Op, Operand};

#[derive(Clone)]
struct Row<'t> {
    pats: Vec<&'t TPat>,
    binds: Vec<(LocalId, u16)>,
    arm: usize,
}

static WILD: TPat = TPat {
    kind: TPatKind::Wild,
    ty: Type::Tuple(Vec::new()),
    span: Span {
        file: crate::span::FileId(0),
        lo: 0,
        hi: 0,
    },
};

fn is_wild(p: &TPat) -> bool {
    matches!(p.kind, TPatKind::Wild | TPatKind::Bind(_))
}

fn s(i: u16) -> Operand {
    Operand::Slot(i)
}

impl<'a, 'p> FnCx<'a, 'p> {
    /// Compiles `match scrutinee { arms }` with its value going to `dest`.
    pub(crate) fn compile_match(
        &mut self,
        scrutinee: &'p TExpr,
        arms: &'p [TArm],
        dest: Dest,
        _span: Span,
    ) -> R<()> {
        let mark = self.next;
        let guards: Vec<&'p TExpr> = arms.iter().filter_map(|a| a.guard.as_ref()).collect();
        let v = self.operand(scrutinee, &guards)?;
        // Every arm's variables get a slot before the tree is built.
        for arm in arms {
            let mut b = Vec::new();
            arm.pat.bindings(&mut b);
            for l in b {
                self.declare(l);
            }
        }
        let end = self.fb.new_label();
        let bodies: Vec<Label> = arms.iter().map(|_| self.fb.new_label()).collect();
        let rows: Vec<Row> = arms
            .iter()
            .enumerate()
            .map(|(k, arm)| Row {
                pats: vec![&arm.pat],
                binds: Vec::new(),
                arm: k,
            })
            .collect();
        self.tree(rows, vec![v], arms, &bodies)?;
        for (k, arm) in arms.iter().enumerate() {
            self.fb.bind(bodies[k]);
            match dest {
                Dest::Slot(d) => {
                    self.expr(&arm.body, d)?;
                    self.fb.emit(Op::Jmp, [Arg::Label(end)]);
                }
                Dest::Tail => self.tail(&arm.body)?,
            }
        }
        self.fb.bind(end);
        if let Dest::Slot(_) = dest {
            self.next = mark;
        }
        Ok(())
    }

    fn tree<'t>(
        &mut self,
        rows: Vec<Row<'t>>,
        cols: Vec<u16>,
        arms: &'p [TArm],
        bodies: &[Label],
    ) -> R<()>
    where
        'p: 't,
    {
        let mark = self.next;
        let r = self.tree_inner(rows, cols, arms, bodies);
        self.next = mark;
        r
    }

    fn tree_inner<'t>(
        &mut self,
        rows: Vec<Row<'t>>,
        cols: Vec<u16>,
        arms: &'p [TArm],
        bodies: &[Label],
    ) -> R<()>
    where
        'p: 't,
    {
        // Expand or-patterns at the top of any cell into several rows, and record
        // variable bindings (then treat them as wildcards).
        let mut norm: Vec<Row<'t>> = Vec::new();
        let mut work: Vec<Row<'t>> = rows.into_iter().rev().collect();
        while let Some(mut row) = work.pop() {
            if let Some(j) = row
                .pats
                .iter()
                .position(|p| matches!(p.kind, TPatKind::Or(_)))
            {
                if let TPatKind::Or(alts) = &row.pats[j].kind {
                    for alt in alts.iter().rev() {
                        let mut r2 = row.clone();
                        r2.pats[j] = alt;
                        work.push(r2);
                    }
                }
                continue;
            }
            for (j, p) in row.pats.iter().enumerate() {
                if let TPatKind::Bind(l) = p.kind {
                    row.binds.push((l, cols[j]));
                }
            }
            norm.push(row);
        }
        let rows = norm;
        let Some(first) = rows.first() else {
            self.fb.op(Op::MatchFail, []);
            return Ok(());
        };
        let Some(j) = first.pats.iter().position(|p| !is_wild(p)) else {
            // The first row matches: bind, check the guard, go to the body.
            let first = first.clone();
            for &(l, slot) in &first.binds {
                let target = self.local_slot(l)?;
                if target != slot {
                    self.fb.op(Op::Mov, [s(target), s(slot)]);
                }
            }
            match &arms[first.arm].guard {
                Some(g) => {
                    let fail = self.fb.new_label();
                    self.cond(g, false, fail)?;
                    self.fb.emit(Op::Jmp, [Arg::Label(bodies[first.arm])]);
                    self.fb.bind(fail);
                    let rest: Vec<Row> = rows[1..].to_vec();
                    self.tree(rest, cols, arms, bodies)?;
                }
                None => self.fb.emit(Op::Jmp, [Arg::Label(bodies[first.arm])]),
            }
            return Ok(());
        };
        let col = cols[j];
        let head = first.pats[j];
        match &head.kind {
            TPatKind::Tuple(_) => {
                let n = match &head.kind {
                    TPatKind::Tuple(ps) => ps.len(),
                    _ => 0,
                };
                self.expand(rows, cols, j, n, None, arms, bodies)
            }
            TPatKind::Ctor { ctor, .. } if self.og.prog.adt(ctor.adt).ctors.len() == 1 => {
                let n = self.og.prog.ctor(*ctor).fields.len();
                self.expand(rows, cols, j, n, None, arms, bodies)
            }
            TPatKind::Ctor { ctor, .. } => {
                let adt = ctor.adt;
                let nctors = self.og.prog.adt(adt).ctors.len();
                let present: Vec<u16> = {
                    let mut v: Vec<u16> = rows
                        .iter()
                        .filter_map(|r| match &r.pats[j].kind {
                            TPatKind::Ctor { ctor, .. } => Some(ctor.tag),
                            _ => None,
                        })
                        .collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                };
                let labels: Vec<Label> = (0..nctors).map(|_| self.fb.new_label()).collect();
                let default = self.fb.new_label();
                if nctors == 2 {
                    self.fb.emit(
                        Op::JNTag,
                        [
                            Arg::Op(s(col)),
                            Arg::Op(Operand::U16(0)),
                            Arg::Label(labels[1]),
                        ],
                    );
                    // Falls through to constructor 0, bound next.
                } else {
                    self.fb.emit(
                        Op::Switch,
                        [Arg::Op(s(col)), Arg::Table(default, labels.clone())],
                    );
                }
                let mut default_needed = nctors != 2;
                for (tag, &label) in labels.iter().enumerate() {
                    self.fb.bind(label);
                    if present.contains(&(tag as u16)) {
                        let arity = self.og.prog.adt(adt).ctors[tag].fields.len();
                        self.expand(
                            rows.clone(),
                            cols.clone(),
                            j,
                            arity,
                            Some(tag as u16),
                            arms,
                            bodies,
                        )?;
                    } else {
                        self.fb.emit(Op::Jmp, [Arg::Label(default)]);
                        default_needed = true;
                    }
                }
                self.fb.bind(default);
                if default_needed {
                    let rest: Vec<Row> = rows
                        .iter()
                        .filter(|r| is_wild(r.pats[j]))
                        .cloned()
                        .map(|mut r| {
                            r.pats.remove(j);
                            r
                        })
                        .collect();
                    let mut c2 = cols.clone();
                    c2.remove(j);
                    self.tree(rest, c2, arms, bodies)?;
                } else {
                    self.fb.op(Op::MatchFail, []);
                }
                Ok(())
            }
            TPatKind::Lit(Lit::Bool(_)) => {
                let l_false = self.fb.new_label();
                self.fb.emit(Op::Jf, [Arg::Op(s(col)), Arg::Label(l_false)]);
                for (b, label) in [(true, None), (false, Some(l_false))] {
                    if let Some(l) = label {
                        self.fb.bind(l);
                    }
                    let sub: Vec<Row> = rows
                        .iter()
                        .filter(|r| match &r.pats[j].kind {
                            TPatKind::Lit(Lit::Bool(x)) => *x == b,
                            _ => true,
                        })
                        .cloned()
                        .map(|mut r| {
                            r.pats.remove(j);
                            r
                        })
                        .collect();
                    let mut c2 = cols.clone();
                    c2.remove(j);
                    self.tree(sub, c2, arms, bodies)?;
                }
                Ok(())
            }
            TPatKind::Lit(lit) => {
                let lit = lit.clone();
                let no = self.fb.new_label();
                self.jump_unless_eq(col, &lit, &head.ty, no)?;
                let yes_rows: Vec<Row> = rows
                    .iter()
                    .filter_map(|r| {
                        let p = r.pats[j];
                        let keep_as_wild = match &p.kind {
                            TPatKind::Lit(l2) => {
                                if *l2 == lit {
                                    true
                                } else {
                                    return None;
                                }
                            }
                            TPatKind::Range { lo, hi } => {
                                if in_range(&lit, lo, hi) {
                                    true
                                } else {
                                    return None;
                                }
                            }
                            _ => true,
                        };
                        let mut r = r.clone();
                        if keep_as_wild {
                            r.pats[j] = &WILD;
                        }
                        Some(r)
                    })
                    .collect();
                self.tree(yes_rows, cols.clone(), arms, bodies)?;
                self.fb.bind(no);
                let no_rows: Vec<Row> = rows
                    .iter()
                    .filter(|r| !matches!(&r.pats[j].kind, TPatKind::Lit(l2) if *l2 == lit))
                    .cloned()
                    .collect();
                self.tree(no_rows, cols, arms, bodies)
            }
            TPatKind::Range { lo, hi } => {
                let (lo, hi) = (lo.clone(), hi.clone());
                let no = self.fb.new_label();
                self.jump_unless_in_range(col, &lo, &hi, no)?;
                let same = |p: &TPat| matches!(&p.kind, TPatKind::Range { lo: a, hi: b } if *a == lo && *b == hi);
                let yes_rows: Vec<Row> = rows
                    .iter()
                    .filter_map(|r| {
                        let p = r.pats[j];
                        let mut r = r.clone();
                        match &p.kind {
                            _ if same(p) => r.pats[j] = &WILD,
                            TPatKind::Lit(l) if !in_range(l, &lo, &hi) => return None,
                            TPatKind::Range { lo: a, hi: b } if !overlaps(a, b, &lo, &hi) => {
                                return None
                            }
                            _ => {}
                        }
                        Some(r)
                    })
                    .collect();
                self.tree(yes_rows, cols.clone(), arms, bodies)?;
                self.fb.bind(no);
                let no_rows: Vec<Row> = rows
                    .iter()
                    .filter(|r| {
                        let p = r.pats[j];
                        !(same(p) || matches!(&p.kind, TPatKind::Lit(l) if in_range(l, &lo, &hi)))
                    })
                    .cloned()
                    .collect();
                self.tree(no_rows, cols, arms, bodies)
            }
            TPatKind::Wild | TPatKind::Bind(_) | TPatKind::Or(_) => {
                // Unreachable: wildcards were skipped and or-patterns expanded.
                self.fb.op(Op::MatchFail, []);
                Ok(())
            }
        }
    }

    /// Replaces column `j` by its `n` fields, for the rows whose pattern there is a
    /// tuple, a constructor with tag `tag` (or any single constructor when `tag` is
    /// `None`), or a wildcard.
    #[allow(clippy::too_many_arguments)]
    fn expand<'t>(
        &mut self,
        rows: Vec<Row<'t>>,
        cols: Vec<u16>,
        j: usize,
        n: usize,
        tag: Option<u16>,
        arms: &'p [TArm],
        bodies: &[Label],
    ) -> R<()>
    where
        'p: 't,
    {
        let mark = self.next;
        let col = cols[j];
        // The rows that survive this expansion, with their patterns for the fields.
        let sub_pats = |r: &Row<'t>| -> Option<Vec<&'t TPat>> {
            match &r.pats[j].kind {
                TPatKind::Tuple(ps) => Some(ps.iter().collect()),
                TPatKind::Ctor { ctor, args } if tag.is_none_or(|t| t == ctor.tag) => {
                    Some(args.iter().collect())
                }
                TPatKind::Ctor { .. } => None,
                _ => Some(vec![&WILD; n]),
            }
        };
        let live: Vec<(&Row<'t>, Vec<&'t TPat>)> = rows
            .iter()
            .filter_map(|r| sub_pats(r).map(|p| (r, p)))
            .collect();
        // A tuple's and an enum payload's fields never change (only a struct's can be
        // assigned), so their reads may be moved past calls (`Asm::frozen_field`).
        let frozen = rows.iter().any(|r| match &r.pats[j].kind {
            TPatKind::Tuple(_) => true,
            TPatKind::Ctor { ctor, .. } => !self.og.prog.adt(ctor.adt).is_struct,
            _ => false,
        });
        let mut subs = Vec::with_capacity(n);
        for i in 0..n {
            // A field no surviving row looks at is not extracted at all.
            if live
                .iter()
                .all(|(_, ps)| matches!(ps[i].kind, TPatKind::Wild))
            {
                subs.push(col);
                continue;
            }
            // When the first surviving row binds the field to a variable of an arm with
            // no guard and no or-pattern, the field goes straight into the variable's
            // slot (no leaf can overwrite it before the arm's body runs).
            let direct = live.first().and_then(|(r, ps)| match ps[i].kind {
                TPatKind::Bind(l) if arms[r.arm].guard.is_none() && !has_or(&arms[r.arm].pat) => {
                    match self.locs.get(&l) {
                        Some(super::func::Loc::Slot(t)) => Some(*t),
                        _ => None,
                    }
                }
                _ => None,
            });
            let t = match direct {
                Some(t) => t,
                None => self.temp(),
            };
            if frozen {
                self.fb.frozen_field(s(t), s(col), Operand::U16(i as u16));
            } else {
                self.fb
                    .op(Op::Field, [s(t), s(col), Operand::U16(i as u16)]);
            }
            subs.push(t);
        }
        let mut out = Vec::new();
        for r in rows {
            let p = r.pats[j];
            let args: Vec<&'t TPat> = match &p.kind {
                TPatKind::Tuple(ps) => ps.iter().collect(),
                TPatKind::Ctor { ctor, args } => {
                    if tag.is_some_and(|t| t != ctor.tag) {
                        continue;
                    }
                    args.iter().collect()
                }
                _ => vec![&WILD; n],
            };
            let mut r = r.clone();
            r.pats.splice(j..j + 1, args);
            out.push(r);
        }
        let mut c2 = cols;
        c2.splice(j..j + 1, subs);
        let res = self.tree(out, c2, arms, bodies);
        self.next = mark;
        res
    }

    fn local_slot(&self, l: LocalId) -> R<u16> {
        match self.locs.get(&l) {
            Some(super::func::Loc::Slot(t)) => Ok(*t),
            _ => self.err(
                Span::default(),
                "internal error: pattern variable without a slot",
            ),
        }
    }

    fn jump_unless_eq(&mut self, col: u16, lit: &Lit, _ty: &Type, no: Label) -> R<()> {
        match lit {
            Lit::I64(v) => match i32::try_from(*v) {
                Ok(k) => self.fb.emit(
                    Op::JNeIImm,
                    [Arg::Op(s(col)), Arg::Op(Operand::Imm32(k)), Arg::Label(no)],
                ),
                Err(_) => {
                    let t = self.temp();
                    self.fb.op(Op::LoadI64, [s(t), Operand::Imm64(*v)]);
                    self.fb
                        .emit(Op::JNeI64, [Arg::Op(s(col)), Arg::Op(s(t)), Arg::Label(no)]);
                }
            },
            Lit::Char(c) => self.fb.emit(
                Op::JNeChar,
                [
                    Arg::Op(s(col)),
                    Arg::Op(Operand::Imm32(*c as i32)),
                    Arg::Label(no),
                ],
            ),
            other => {
                let t = self.temp();
                match other {
                    Lit::U64(v) => self.fb.op(Op::LoadU64, [s(t), Operand::Imm64(*v as i64)]),
                    Lit::Str(x) => {
                        let g = self.og.string(x);
                        self.fb.op(Op::LoadG, [s(t), Operand::Global(g)]);
                    }
                    Lit::IBig(v) => {
                        let g = self.og.big(v);
                        self.fb.op(Op::LoadG, [s(t), Operand::Global(g)]);
                    }
                    Lit::F64(v) => self.fb.op(Op::LoadF, [s(t), Operand::F64(v.to_bits())]),
                    Lit::Unit => self.fb.op(Op::LoadUnit, [s(t)]),
                    Lit::Bool(b) => self
                        .fb
                        .op(if *b { Op::LoadTrue } else { Op::LoadFalse }, [s(t)]),
                    Lit::I64(_) | Lit::Char(_) => {}
                }
                self.fb
                    .emit(Op::JNe, [Arg::Op(s(col)), Arg::Op(s(t)), Arg::Label(no)]);
            }
        }
        Ok(())
    }

    fn jump_unless_in_range(&mut self, col: u16, lo: &Lit, hi: &Lit, no: Label) -> R<()> {
        let (v, lo, hi) = match (lo, hi) {
            (Lit::I64(a), Lit::I64(b)) => (col, *a, *b),
            (Lit::Char(a), Lit::Char(b)) => {
                let t = self.temp();
                self.fb.op(Op::CharToI64, [s(t), s(col)]);
                (t, *a as i64, *b as i64)
            }
            _ => {
                return self.err(
                    Span::default(),
                    "internal error: range pattern of an unsupported type",
                )
            }
        };
        for (bound, imm_op, reg_op) in
            [(lo, Op::JLtIImm, Op::JLtI64), (hi, Op::JGtIImm, Op::JGtI64)]
        {
            match i32::try_from(bound) {
                Ok(k) => self.fb.emit(
                    imm_op,
                    [Arg::Op(s(v)), Arg::Op(Operand::Imm32(k)), Arg::Label(no)],
                ),
                Err(_) => {
                    let t = self.temp();
                    self.fb.op(Op::LoadI64, [s(t), Operand::Imm64(bound)]);
                    self.fb
                        .emit(reg_op, [Arg::Op(s(v)), Arg::Op(s(t)), Arg::Label(no)]);
                }
            }
        }
        Ok(())
    }
}

fn has_or(p: &TPat) -> bool {
    match &p.kind {
        TPatKind::Or(_) => true,
        TPatKind::Tuple(ps) | TPatKind::Ctor { args: ps, .. } => ps.iter().any(has_or),
        _ => false,
    }
}

fn lit_key(l: &Lit) -> Option<i64> {
    match l {
        Lit::I64(v) => Some(*v),
        Lit::Char(c) => Some(*c as i64),
        _ => None,
    }
}

fn in_range(l: &Lit, lo: &Lit, hi: &Lit) -> bool {
    match (lit_key(l), lit_key(lo), lit_key(hi)) {
        (Some(v), Some(a), Some(b)) => a <= v && v <= b,
        _ => false,
    }
}

fn overlaps(a: &Lit, b: &Lit, lo: &Lit, hi: &Lit) -> bool {
    match (lit_key(a), lit_key(b), lit_key(lo), lit_key(hi)) {
        (Some(a), Some(b), Some(lo), Some(hi)) => a <= hi && lo <= b,
        _ => true,
    }
}
