//! Pattern-match checking (LANGUAGE.md §4): a non-exhaustive `match` is an error that
//! shows one missing pattern; an arm that can never be reached is a warning; the
//! patterns of `:=` bindings and `for` loops must be irrefutable.
//!
//! The algorithm is Maranget's usefulness ("Warnings for pattern matching", JFP 2007)
//! over a pattern matrix, with the refinements rustc uses for integer ranges: the
//! values of an `i64`, `u64` or `char` column are split at the boundaries of the ranges
//! and literals that appear in it, so that `0..10` after `0..=20` is found unreachable
//! and a missing value can be shown. Guards are honoured: an arm with a guard covers
//! nothing (it may fail), but can itself be unreachable. Or-patterns are expanded row
//! by row. Strings and floats have infinitely many values: only `_` covers them.

use crate::diag::Diagnostic;
use crate::span::Span;
use crate::tast::*;

/// A deconstructed pattern.
#[derive(Clone, Debug)]
enum Pat {
    Wild,
    Con(Con, Vec<Pat>),
    Or(Vec<Pat>),
}

/// A constructor of the matrix algorithm.
#[derive(Clone, Debug, PartialEq)]
enum Con {
    /// An enum/struct/builtin data constructor by tag.
    Variant(u16),
    /// The single constructor of a tuple type.
    Tuple,
    /// `false` / `true`.
    Bool(bool),
    /// An inclusive range of an integer-like type (`i64`, `u64` or `char` codes).
    Int(i128, i128),
    /// A string literal.
    Str(String),
}

/// A witness of a value not covered.
#[derive(Clone, Debug)]
enum W {
    Wild,
    Con(Con, Vec<W>),
}

/// What the values of a type look like to the algorithm.
enum Shape {
    /// Finitely many data constructors, with their field types.
    Data(Vec<Vec<Type>>),
    /// A tuple with these element types.
    Tuple(Vec<Type>),
    Bool,
    /// Integers in `lo..=hi` (with `char`'s surrogate gap marked).
    Int {
        lo: i128,
        hi: i128,
        is_char: bool,
    },
    /// Too many values to enumerate (`str`, `f64`, functions, type variables, ...).
    Infinite,
}

const BUDGET: u32 = 200_000;

struct Ctx<'p> {
    prog: &'p TypedProgram,
    budget: u32,
    gave_up: bool,
}

/// Checks every match and irrefutable pattern of the program; returns the errors
/// (non-exhaustive matches, refutable bindings) and warnings (unreachable arms).
pub fn check_program(prog: &TypedProgram) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut cx = Ctx {
        prog,
        budget: BUDGET,
        gave_up: false,
    };
    for m in &prog.modules_by_id {
        for it in &m.items {
            match &it.kind {
                TItemKind::Function { lambda, .. } => cx.expr(&lambda.body, &mut out),
                TItemKind::Value { expr, .. } => cx.expr(expr, &mut out),
                _ => {}
            }
        }
    }
    out
}

fn is_surrogate(lo: i128, hi: i128) -> bool {
    lo >= 0xD800 && hi <= 0xDFFF
}

impl<'p> Ctx<'p> {
    fn shape(&self, t: &Type) -> Shape {
        match t {
            Type::Adt(a, args) => {
                let d = self.prog.adt(*a);
                let fields: Vec<Vec<Type>> =
                    (0..d.ctors.len()).map(|i| d.ctor_fields(i, args)).collect();
                Shape::Data(fields)
            }
            Type::Tuple(ts) => Shape::Tuple(ts.clone()),
            Type::Prim(Prim::Bool) => Shape::Bool,
            Type::Prim(Prim::I64) => Shape::Int {
                lo: i64::MIN as i128,
                hi: i64::MAX as i128,
                is_char: false,
            },
            Type::Prim(Prim::U64) => Shape::Int {
                lo: 0,
                hi: u64::MAX as i128,
                is_char: false,
            },
            Type::Prim(Prim::Char) => Shape::Int {
                lo: 0,
                hi: 0x10FFFF,
                is_char: true,
            },
            _ => Shape::Infinite,
        }
    }

    fn field_tys(&self, t: &Type, c: &Con) -> Vec<Type> {
        match (self.shape(t), c) {
            (Shape::Data(fs), Con::Variant(tag)) => {
                fs.get(*tag as usize).cloned().unwrap_or_default()
            }
            (Shape::Tuple(ts), Con::Tuple) => ts,
            _ => Vec::new(),
        }
    }

    fn lower(&self, p: &TPat) -> Pat {
        match &p.kind {
            TPatKind::Wild | TPatKind::Bind(_) => Pat::Wild,
            TPatKind::Lit(l) => match lit_con(l) {
                Some(c) => Pat::Con(c, Vec::new()),
                None => Pat::Wild,
            },
            TPatKind::Range { lo, hi } => match (lit_con(lo), lit_con(hi)) {
                (Some(Con::Int(a, _)), Some(Con::Int(_, b))) => {
                    Pat::Con(Con::Int(a, b), Vec::new())
                }
                _ => Pat::Wild,
            },
            TPatKind::Tuple(ps) => Pat::Con(Con::Tuple, ps.iter().map(|p| self.lower(p)).collect()),
            TPatKind::Ctor { ctor, args } => Pat::Con(
                Con::Variant(ctor.tag),
                args.iter().map(|p| self.lower(p)).collect(),
            ),
            TPatKind::Or(ps) => Pat::Or(ps.iter().map(|p| self.lower(p)).collect()),
        }
    }

    // ----- the usefulness algorithm ---------------------------------------------------

    /// Whether `v` matches some value that no row of `rows` matches; if so, a witness
    /// (one pattern per column).
    fn useful(&mut self, rows: &[Vec<Pat>], v: &[Pat], tys: &[Type]) -> Option<Vec<W>> {
        if self.budget == 0 {
            self.gave_up = true;
            return None;
        }
        self.budget -= 1;
        let Some(head) = v.first() else {
            return if rows.is_empty() {
                Some(Vec::new())
            } else {
                None
            };
        };
        if let Pat::Or(alts) = head {
            for a in alts {
                let mut v2 = vec![a.clone()];
                v2.extend_from_slice(&v[1..]);
                if let Some(w) = self.useful(rows, &v2, tys) {
                    return Some(w);
                }
            }
            return None;
        }
        let rows = expand_or(rows);
        let ty = &tys[0];
        match head {
            Pat::Con(c, args) => {
                let pieces = match c {
                    Con::Int(lo, hi) => split_range(*lo, *hi, &rows),
                    _ => vec![c.clone()],
                };
                for piece in pieces {
                    let ftys = self.field_tys(ty, &piece);
                    let srows = specialize(&rows, &piece, ftys.len());
                    let mut v2: Vec<Pat> = if matches!(piece, Con::Int(..)) {
                        Vec::new()
                    } else {
                        args.clone()
                    };
                    v2.extend_from_slice(&v[1..]);
                    let mut t2 = ftys.clone();
                    t2.extend_from_slice(&tys[1..]);
                    if let Some(w) = self.useful(&srows, &v2, &t2) {
                        return Some(rebuild(piece, ftys.len(), w));
                    }
                }
                None
            }
            _ => {
                let heads: Vec<&Con> = rows
                    .iter()
                    .filter_map(|r| match r.first() {
                        Some(Pat::Con(c, _)) => Some(c),
                        _ => None,
                    })
                    .collect();
                match self.complete(ty, &heads) {
                    Ok(all) => {
                        for c in all {
                            let ftys = self.field_tys(ty, &c);
                            let srows = specialize(&rows, &c, ftys.len());
                            let mut v2: Vec<Pat> = vec![Pat::Wild; ftys.len()];
                            v2.extend_from_slice(&v[1..]);
                            let mut t2 = ftys.clone();
                            t2.extend_from_slice(&tys[1..]);
                            if let Some(w) = self.useful(&srows, &v2, &t2) {
                                return Some(rebuild(c, ftys.len(), w));
                            }
                        }
                        None
                    }
                    Err(missing) => {
                        let drows: Vec<Vec<Pat>> = rows
                            .iter()
                            .filter(|r| matches!(r.first(), Some(Pat::Wild)))
                            .map(|r| r[1..].to_vec())
                            .collect();
                        let w = self.useful(&drows, &v[1..], &tys[1..])?;
                        let mut out = vec![missing];
                        out.extend(w);
                        Some(out)
                    }
                }
            }
        }
    }

    /// If the constructors in `heads` cover the type, every constructor to try (ranges
    /// split); otherwise a witness for a value they miss.
    fn complete(&self, ty: &Type, heads: &[&Con]) -> Result<Vec<Con>, W> {
        match self.shape(ty) {
            Shape::Tuple(_) => Ok(vec![Con::Tuple]),
            Shape::Data(fs) => {
                if fs.len() == 1 {
                    return Ok(vec![Con::Variant(0)]);
                }
                let missing: Vec<usize> = (0..fs.len())
                    .filter(|t| !heads.iter().any(|c| **c == Con::Variant(*t as u16)))
                    .collect();
                match missing.first() {
                    None => Ok((0..fs.len()).map(|t| Con::Variant(t as u16)).collect()),
                    Some(&t) if heads.is_empty() => {
                        let _ = t;
                        Err(W::Wild)
                    }
                    Some(&t) => Err(W::Con(Con::Variant(t as u16), vec![W::Wild; fs[t].len()])),
                }
            }
            Shape::Bool => {
                let has = |b: bool| heads.iter().any(|c| **c == Con::Bool(b));
                match (has(false), has(true)) {
                    (true, true) => Ok(vec![Con::Bool(false), Con::Bool(true)]),
                    (false, _) if !heads.is_empty() => Err(W::Con(Con::Bool(false), Vec::new())),
                    (_, false) if !heads.is_empty() => Err(W::Con(Con::Bool(true), Vec::new())),
                    _ => Err(W::Wild),
                }
            }
            Shape::Int { lo, hi, is_char } => {
                let ranges: Vec<(i128, i128)> = heads
                    .iter()
                    .filter_map(|c| match c {
                        Con::Int(a, b) => Some((*a, *b)),
                        _ => None,
                    })
                    .collect();
                if ranges.is_empty() {
                    return Err(W::Wild);
                }
                let pieces = split_points(lo, hi, &ranges);
                let mut all = Vec::new();
                for (a, b) in pieces {
                    let covered = ranges.iter().any(|(x, y)| *x <= a && b <= *y);
                    if covered {
                        all.push(Con::Int(a, b));
                    } else if is_char && is_surrogate(a, b) {
                        continue;
                    } else {
                        return Err(W::Con(Con::Int(a, b), Vec::new()));
                    }
                }
                Ok(all)
            }
            Shape::Infinite => Err(W::Wild),
        }
    }

    // ----- traversal --------------------------------------------------------------------

    fn expr(&mut self, e: &TExpr, out: &mut Vec<Diagnostic>) {
        match &e.kind {
            TExprKind::Lit(_)
            | TExprKind::Var(_)
            | TExprKind::CtorFn(_)
            | TExprKind::Break
            | TExprKind::Continue => {}
            TExprKind::Ctor { args, .. }
            | TExprKind::Tuple(args)
            | TExprKind::List(args)
            | TExprKind::Op { args, .. }
            | TExprKind::Foreign { args, .. } => args.iter().for_each(|a| self.expr(a, out)),
            TExprKind::Lambda(l) => self.expr(&l.body, out),
            TExprKind::Call { callee, args } => {
                self.expr(callee, out);
                args.iter().for_each(|a| self.expr(a, out));
            }
            TExprKind::Field { base, .. } => self.expr(base, out),
            TExprKind::Index { base, index } => {
                self.expr(base, out);
                self.expr(index, out);
            }
            TExprKind::Unary { operand, .. } => self.expr(operand, out),
            TExprKind::Binary { lhs, rhs, .. }
            | TExprKind::And(lhs, rhs)
            | TExprKind::Or(lhs, rhs) => {
                self.expr(lhs, out);
                self.expr(rhs, out);
            }
            TExprKind::Assign { place, value, .. } => {
                match place {
                    TPlace::Local(_) | TPlace::Item(_) => {}
                    TPlace::Field { base, .. } => self.expr(base, out),
                    TPlace::Index { base, index } => {
                        self.expr(base, out);
                        self.expr(index, out);
                    }
                }
                self.expr(value, out);
            }
            TExprKind::Block(b) => {
                for s in &b.stmts {
                    match s {
                        TStmt::Let { pat, value } => {
                            self.expr(value, out);
                            self.irrefutable(pat, "a binding `:=`", out);
                        }
                        TStmt::Expr(e) => self.expr(e, out),
                    }
                }
                if let Some(t) = &b.tail {
                    self.expr(t, out);
                }
            }
            TExprKind::If { cond, then, els } => {
                self.expr(cond, out);
                self.expr(then, out);
                if let Some(e) = els {
                    self.expr(e, out);
                }
            }
            TExprKind::While { cond, body } => {
                self.expr(cond, out);
                self.expr(body, out);
            }
            TExprKind::For { pat, iter, body } => {
                match iter {
                    TForIter::Range { start, end, .. } => {
                        self.expr(start, out);
                        self.expr(end, out);
                    }
                    TForIter::List(x) | TForIter::Array(x) => self.expr(x, out),
                }
                self.irrefutable(pat, "a `for` loop", out);
                self.expr(body, out);
            }
            TExprKind::Loop { body } => self.expr(body, out),
            TExprKind::Return(v) => {
                if let Some(v) = v {
                    self.expr(v, out);
                }
            }
            TExprKind::Run(x) => self.expr(x, out),
            TExprKind::Match { scrutinee, arms } => {
                self.expr(scrutinee, out);
                for a in arms {
                    if let Some(g) = &a.guard {
                        self.expr(g, out);
                    }
                    self.expr(&a.body, out);
                }
                let header = Span {
                    hi: scrutinee.span.hi.max(e.span.lo),
                    ..e.span
                };
                self.check_match(&scrutinee.ty, arms, header, out);
            }
        }
    }

    fn check_match(&mut self, ty: &Type, arms: &[TArm], header: Span, out: &mut Vec<Diagnostic>) {
        self.budget = BUDGET;
        self.gave_up = false;
        let tys = vec![ty.clone()];
        let mut rows: Vec<Vec<Pat>> = Vec::new();
        for a in arms {
            let p = self.lower(&a.pat);
            self.budget = BUDGET;
            let reachable = self.useful(&rows, std::slice::from_ref(&p), &tys).is_some();
            if !reachable && !self.gave_up {
                out.push(
                    Diagnostic::warning(a.pat.span, "unreachable pattern")
                        .with_label("this arm can never be taken")
                        .with_help("the arms above already match every value this pattern matches; remove it or move it up"),
                );
            }
            if a.guard.is_none() {
                rows.push(vec![p]);
            }
        }
        self.budget = BUDGET;
        self.gave_up = false;
        if let Some(w) = self.useful(&rows, &[Pat::Wild], &tys) {
            let shown = self.show(w.first().unwrap_or(&W::Wild), ty);
            out.push(
                Diagnostic::error(
                    header,
                    format!("non-exhaustive match: the pattern `{shown}` is not covered"),
                )
                .with_label(format!("`{shown}` not covered"))
                .with_help(format!(
                    "add an arm for `{shown}`, or a catch-all arm `_ => ...`"
                )),
            );
        }
    }

    fn irrefutable(&mut self, p: &TPat, what: &str, out: &mut Vec<Diagnostic>) {
        if matches!(p.kind, TPatKind::Bind(_) | TPatKind::Wild) {
            return;
        }
        self.budget = BUDGET;
        self.gave_up = false;
        let rows = vec![vec![self.lower(p)]];
        if let Some(w) = self.useful(&rows, &[Pat::Wild], std::slice::from_ref(&p.ty)) {
            let shown = self.show(w.first().unwrap_or(&W::Wild), &p.ty);
            out.push(
                Diagnostic::error(
                    p.span,
                    format!("refutable pattern in {what}: `{shown}` is not covered"),
                )
                .with_help("use `match` to handle every case"),
            );
        }
    }

    // ----- printing witnesses -----------------------------------------------------------

    fn show(&self, w: &W, ty: &Type) -> String {
        match w {
            W::Wild => "_".to_string(),
            W::Con(c, args) => match c {
                Con::Bool(b) => b.to_string(),
                Con::Str(s) => format!("{s:?}"),
                Con::Int(a, b) => {
                    let is_char = matches!(ty, Type::Prim(Prim::Char));
                    let one = |v: i128| {
                        if is_char {
                            match char::from_u32(v as u32) {
                                Some(ch) => format!("'{}'", ch.escape_debug()),
                                None => v.to_string(),
                            }
                        } else if matches!(ty, Type::Prim(Prim::U64)) {
                            format!("{v}u64")
                        } else {
                            v.to_string()
                        }
                    };
                    if a == b {
                        one(*a)
                    } else {
                        format!("{}..={}", one(*a), one(*b))
                    }
                }
                Con::Tuple => {
                    let ftys = self.field_tys(ty, c);
                    let parts: Vec<String> = args
                        .iter()
                        .zip(ftys.iter())
                        .map(|(w, t)| self.show(w, t))
                        .collect();
                    if parts.len() == 1 {
                        format!("({},)", parts[0])
                    } else {
                        format!("({})", parts.join(", "))
                    }
                }
                Con::Variant(tag) => {
                    let Type::Adt(adt, _) = ty else {
                        return "_".into();
                    };
                    if *adt == AdtId::LIST {
                        return self.show_list(w, ty);
                    }
                    let d = self.prog.adt(*adt);
                    let Some(cd) = d.ctors.get(*tag as usize) else {
                        return "_".into();
                    };
                    let name = if d.is_struct || d.builtin_type_id.is_some() {
                        cd.name.clone()
                    } else {
                        format!("{}.{}", d.name, cd.name)
                    };
                    if args.is_empty() {
                        name
                    } else {
                        let ftys = self.field_tys(ty, c);
                        let parts: Vec<String> = args
                            .iter()
                            .zip(ftys.iter())
                            .map(|(w, t)| self.show(w, t))
                            .collect();
                        format!("{name}({})", parts.join(", "))
                    }
                }
            },
        }
    }

    fn show_list(&self, w: &W, ty: &Type) -> String {
        let elem = match ty {
            Type::Adt(_, args) => args.first().cloned().unwrap_or_else(Type::unit),
            _ => Type::unit(),
        };
        let mut items = Vec::new();
        let mut cur = w;
        loop {
            match cur {
                W::Con(Con::Variant(0), _) => return format!("[{}]", items.join(", ")),
                W::Con(Con::Variant(1), args) if args.len() == 2 => {
                    items.push(self.show(&args[0], &elem));
                    cur = &args[1];
                }
                _ => {
                    items.push("..".to_string());
                    return format!("[{}]", items.join(", "));
                }
            }
        }
    }
}

fn lit_con(l: &Lit) -> Option<Con> {
    Some(match l {
        Lit::I64(v) => Con::Int(*v as i128, *v as i128),
        Lit::U64(v) => Con::Int(*v as i128, *v as i128),
        Lit::Char(c) => Con::Int(*c as i128, *c as i128),
        Lit::Bool(b) => Con::Bool(*b),
        Lit::Str(s) => Con::Str(s.clone()),
        Lit::Unit => Con::Tuple,
        Lit::F64(_) | Lit::IBig(_) => return None,
    })
}

/// Rows with or-patterns in the first column expanded into one row per alternative.
fn expand_or(rows: &[Vec<Pat>]) -> Vec<Vec<Pat>> {
    let mut out = Vec::new();
    for r in rows {
        push_expanded(r, &mut out);
    }
    out
}

fn push_expanded(r: &[Pat], out: &mut Vec<Vec<Pat>>) {
    match r.first() {
        Some(Pat::Or(alts)) => {
            for a in alts {
                let mut r2 = vec![a.clone()];
                r2.extend_from_slice(&r[1..]);
                push_expanded(&r2, out);
            }
        }
        _ => out.push(r.to_vec()),
    }
}

/// Whether a row's head constructor `have` matches every value of `want`.
fn covers(have: &Con, want: &Con) -> bool {
    match (have, want) {
        (Con::Int(a, b), Con::Int(x, y)) => a <= x && y <= b,
        _ => have == want,
    }
}

/// The rows that match constructor `c` (of `arity` fields), with the head replaced by
/// its fields.
fn specialize(rows: &[Vec<Pat>], c: &Con, arity: usize) -> Vec<Vec<Pat>> {
    let mut out = Vec::new();
    for r in rows {
        match r.first() {
            Some(Pat::Con(h, args)) => {
                if covers(h, c) {
                    let mut nr: Vec<Pat> = if matches!(c, Con::Int(..)) {
                        Vec::new()
                    } else {
                        args.clone()
                    };
                    nr.resize(arity, Pat::Wild);
                    nr.extend_from_slice(&r[1..]);
                    out.push(nr);
                }
            }
            Some(Pat::Wild) => {
                let mut nr = vec![Pat::Wild; arity];
                nr.extend_from_slice(&r[1..]);
                out.push(nr);
            }
            Some(Pat::Or(_)) | None => {}
        }
    }
    out
}

/// `c(w[0..arity])` followed by the rest of `w`.
fn rebuild(c: Con, arity: usize, w: Vec<W>) -> Vec<W> {
    let mut w = w;
    let rest = w.split_off(arity.min(w.len()));
    let mut out = vec![W::Con(c, w)];
    out.extend(rest);
    out
}

/// Splits `lo..=hi` at the boundaries of the integer ranges in the first column.
fn split_range(lo: i128, hi: i128, rows: &[Vec<Pat>]) -> Vec<Con> {
    let ranges: Vec<(i128, i128)> = rows
        .iter()
        .filter_map(|r| match r.first() {
            Some(Pat::Con(Con::Int(a, b), _)) => Some((*a, *b)),
            _ => None,
        })
        .collect();
    split_points(lo, hi, &ranges)
        .into_iter()
        .map(|(a, b)| Con::Int(a, b))
        .collect()
}

/// Partitions `lo..=hi` into maximal pieces inside which every range of `ranges` is
/// either fully present or absent.
fn split_points(lo: i128, hi: i128, ranges: &[(i128, i128)]) -> Vec<(i128, i128)> {
    let mut cuts: Vec<i128> = vec![lo, hi + 1];
    for &(a, b) in ranges {
        if a > lo && a <= hi {
            cuts.push(a);
        }
        if b + 1 > lo && b < hi {
            cuts.push(b + 1);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| (w[0], w[1] - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(
            split_points(0, 100, &[(10, 20), (15, 30)]),
            vec![(0, 9), (10, 14), (15, 20), (21, 30), (31, 100)]
        );
        assert_eq!(split_points(0, 10, &[]), vec![(0, 10)]);
        assert_eq!(split_points(0, 10, &[(0, 10)]), vec![(0, 10)]);
    }
}
