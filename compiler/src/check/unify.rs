//! Type variables, unification with numeric classes, levels for let-generalisation,
//! instantiation, defaulting, and type-error messages.

use super::Checker;
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::types::{NumClass, Prim, Scheme, TyVar, Type, TypePrinter};
use std::collections::HashMap;

/// The level of a generalised variable: never unified again, only instantiated.
pub const GENERIC: u32 = u32::MAX;

/// The state of one type variable.
#[derive(Clone, Debug)]
pub enum VarState {
    /// Not yet known. `level` is the let-nesting depth it was created at (Rémy's
    /// levels); `class` restricts it to some primitives (an operator's operand).
    Unbound {
        /// Binding depth.
        level: u32,
        /// Numeric class, if an operator constrains it.
        class: Option<NumClass>,
    },
    /// Known to be this type.
    Bound(Type),
}

/// Why two types do not unify.
#[derive(Clone, Debug)]
pub enum UnifyError {
    /// Different shapes.
    Mismatch,
    /// A type would contain itself.
    Occurs,
    /// A primitive outside an operator's class.
    Class(Prim, NumClass),
    /// Two functions of different arities.
    Arity(usize, usize),
}

impl Checker<'_> {
    /// A fresh variable at the current level.
    pub fn fresh(&mut self) -> Type {
        Type::Var(self.fresh_var(None))
    }

    pub(crate) fn fresh_var(&mut self, class: Option<NumClass>) -> TyVar {
        let v = TyVar(self.vars.len() as u32);
        self.vars.push(VarState::Unbound {
            level: self.level,
            class,
        });
        v
    }

    /// A fresh variable with a numeric class.
    pub fn fresh_class(&mut self, class: NumClass) -> Type {
        Type::Var(self.fresh_var(Some(class)))
    }

    /// A variable that is already generic (for data type parameters).
    pub(crate) fn generic_var(&mut self) -> TyVar {
        let v = TyVar(self.vars.len() as u32);
        self.vars.push(VarState::Unbound {
            level: GENERIC,
            class: None,
        });
        v
    }

    /// Follows bound variables at the top of `t`.
    pub fn shallow(&self, t: &Type) -> Type {
        let mut t = t.clone();
        loop {
            match t {
                Type::Var(v) => match self.vars.get(v.0 as usize) {
                    Some(VarState::Bound(b)) => t = b.clone(),
                    _ => return t,
                },
                other => return other,
            }
        }
    }

    /// Follows bound variables at the top of `t`, without copying anything: the
    /// copying [`Checker::shallow`] made resolving a type of depth d copy it d times
    /// (a chain of a few hundred `x2 := Some(x1)` took minutes to check).
    pub(crate) fn shallow_ref<'t>(&'t self, mut t: &'t Type) -> &'t Type {
        while let Type::Var(v) = t {
            match self.vars.get(v.0 as usize) {
                Some(VarState::Bound(b)) => t = b,
                _ => break,
            }
        }
        t
    }

    /// Whether `t`, with its bound variables substituted, has more than `max` parts.
    /// Counts through the bindings without copying and stops early, so it costs at
    /// most `max` steps however large the type is.
    pub(crate) fn type_larger_than(&self, t: &Type, max: usize) -> bool {
        self.type_parts_upto(t, max + 1) > max
    }

    /// The number of parts of `t` with its bound variables substituted, counting no
    /// further than `max` (so it costs at most `max` steps).
    pub(crate) fn type_parts_upto(&self, t: &Type, max: usize) -> usize {
        let mut work = vec![t];
        let mut n = 0;
        while let Some(t) = work.pop() {
            n += 1;
            if n >= max {
                return n;
            }
            match self.shallow_ref(t) {
                Type::Var(_) | Type::Prim(_) => {}
                Type::Tuple(ts) | Type::Adt(_, ts) => work.extend(ts),
                Type::Fn(ps, r) => {
                    work.extend(ps);
                    work.push(r);
                }
                Type::Array(t) => work.push(t),
            }
        }
        n
    }

    /// Substitutes every bound variable in `t`.
    pub fn resolve(&self, t: &Type) -> Type {
        match self.shallow_ref(t) {
            Type::Var(v) => Type::Var(*v),
            Type::Prim(p) => Type::Prim(*p),
            Type::Tuple(ts) => Type::Tuple(ts.iter().map(|t| self.resolve(t)).collect()),
            Type::Fn(ps, r) => Type::Fn(
                ps.iter().map(|t| self.resolve(t)).collect(),
                Box::new(self.resolve(r)),
            ),
            Type::Array(t) => Type::Array(Box::new(self.resolve(t))),
            Type::Adt(a, ts) => Type::Adt(*a, ts.iter().map(|t| self.resolve(t)).collect()),
        }
    }

    fn var_info(&self, v: TyVar) -> (u32, Option<NumClass>) {
        match self.vars.get(v.0 as usize) {
            Some(VarState::Unbound { level, class }) => (*level, *class),
            _ => (GENERIC, None),
        }
    }

    /// Unifies `a` and `b`.
    pub fn unify(&mut self, a: &Type, b: &Type) -> Result<(), UnifyError> {
        let a = self.shallow(a);
        let b = self.shallow(b);
        match (&a, &b) {
            (Type::Var(x), Type::Var(y)) if x == y => Ok(()),
            (Type::Var(x), _) => self.bind(*x, &b),
            (_, Type::Var(y)) => self.bind(*y, &a),
            (Type::Prim(p), Type::Prim(q)) if p == q => Ok(()),
            (Type::Tuple(ts), Type::Tuple(us)) if ts.len() == us.len() => {
                for (t, u) in ts.iter().zip(us.iter()) {
                    self.unify(t, u)?;
                }
                Ok(())
            }
            (Type::Fn(ps, r), Type::Fn(qs, s)) => {
                if ps.len() != qs.len() {
                    return Err(UnifyError::Arity(ps.len(), qs.len()));
                }
                for (t, u) in ps.iter().zip(qs.iter()) {
                    self.unify(t, u)?;
                }
                self.unify(r, s)
            }
            (Type::Array(t), Type::Array(u)) => self.unify(t, u),
            (Type::Adt(x, ts), Type::Adt(y, us)) if x == y && ts.len() == us.len() => {
                for (t, u) in ts.iter().zip(us.iter()) {
                    self.unify(t, u)?;
                }
                Ok(())
            }
            _ => Err(UnifyError::Mismatch),
        }
    }

    fn bind(&mut self, x: TyVar, t: &Type) -> Result<(), UnifyError> {
        let (level, class) = self.var_info(x);
        if level == GENERIC {
            // A generic variable (a data type parameter seen through a non-instantiated
            // path): never bind it.
            return Err(UnifyError::Mismatch);
        }
        match t {
            Type::Var(y) => {
                let (ly, cy) = self.var_info(*y);
                if ly == GENERIC {
                    return Err(UnifyError::Mismatch);
                }
                let class = match (class, cy) {
                    (Some(a), Some(b)) => {
                        let m = a.meet(b);
                        if m.0 == 0 {
                            return Err(UnifyError::Mismatch);
                        }
                        Some(m)
                    }
                    (a, b) => a.or(b),
                };
                self.vars[y.0 as usize] = VarState::Unbound {
                    level: level.min(ly),
                    class,
                };
                self.vars[x.0 as usize] = VarState::Bound(t.clone());
                Ok(())
            }
            _ => {
                if let Some(c) = class {
                    match t {
                        Type::Prim(p) if c.allows(*p) => {}
                        Type::Prim(p) => return Err(UnifyError::Class(*p, c)),
                        _ => return Err(UnifyError::Mismatch),
                    }
                }
                if self.occurs_and_adjust(x, level, t) {
                    return Err(UnifyError::Occurs);
                }
                self.vars[x.0 as usize] = VarState::Bound(t.clone());
                Ok(())
            }
        }
    }

    /// Whether `x` occurs in `t`; lowers the levels of `t`'s variables to `level`.
    fn occurs_and_adjust(&mut self, x: TyVar, level: u32, t: &Type) -> bool {
        // Walks `t` without copying it (see `shallow_ref`), collecting the variables
        // whose level must drop to `level`.
        let mut lower = Vec::new();
        let mut work = vec![t];
        let mut found = false;
        while let Some(t) = work.pop() {
            match self.shallow_ref(t) {
                Type::Var(y) => {
                    if *y == x {
                        found = true;
                        break;
                    }
                    lower.push(*y);
                }
                Type::Prim(_) => {}
                Type::Tuple(ts) | Type::Adt(_, ts) => work.extend(ts.iter().rev()),
                Type::Fn(ps, r) => {
                    work.push(r);
                    work.extend(ps.iter().rev());
                }
                Type::Array(t) => work.push(t),
            }
        }
        for y in lower {
            if let Some(VarState::Unbound { level: ly, class }) =
                self.vars.get(y.0 as usize).cloned()
            {
                if ly != GENERIC && ly > level {
                    self.vars[y.0 as usize] = VarState::Unbound { level, class };
                }
            }
        }
        found
    }

    /// Restricts `t` to the primitives of `class` (an operator's operand).
    pub fn constrain(&mut self, t: &Type, class: NumClass) -> Result<(), UnifyError> {
        match self.shallow(t) {
            Type::Var(v) => {
                let (level, c) = self.var_info(v);
                if level == GENERIC {
                    return Err(UnifyError::Mismatch);
                }
                let m = match c {
                    Some(c) => c.meet(class),
                    None => class,
                };
                if m.0 == 0 {
                    return Err(UnifyError::Mismatch);
                }
                self.vars[v.0 as usize] = VarState::Unbound {
                    level,
                    class: Some(m),
                };
                Ok(())
            }
            Type::Prim(p) if class.allows(p) => Ok(()),
            Type::Prim(p) => Err(UnifyError::Class(p, class)),
            _ => Err(UnifyError::Mismatch),
        }
    }

    /// Prints a type (resolved) in Hash syntax with a fresh variable naming.
    pub fn show(&self, t: &Type) -> String {
        let t = self.resolve(t);
        TypePrinter::new().print(&t, &self.adts)
    }

    /// Prints two types with one variable naming (for "expected X, found Y").
    pub fn show2(&self, a: &Type, b: &Type) -> (String, String) {
        let mut p = TypePrinter::new();
        let a = self.resolve(a);
        let b = self.resolve(b);
        (p.print(&a, &self.adts), p.print(&b, &self.adts))
    }

    /// Unifies `expected` with `found` (the type of the expression at `span`),
    /// reporting a mismatch as "`what`: expected X, found Y".
    pub fn expect_ty(&mut self, expected: &Type, found: &Type, span: Span, what: &str) -> bool {
        match self.unify(expected, found) {
            Ok(()) => true,
            Err(e) => {
                let d = self.mismatch(expected, found, span, what, e);
                self.report(d);
                false
            }
        }
    }

    /// Builds the diagnostic for a failed unification.
    pub fn mismatch(
        &self,
        expected: &Type,
        found: &Type,
        span: Span,
        what: &str,
        e: UnifyError,
    ) -> Diagnostic {
        let (x, y) = self.show2(expected, found);
        let headline = if what.is_empty() {
            "mismatched types".to_string()
        } else {
            what.to_string()
        };
        let mut d = Diagnostic::error(span, format!("{headline}: expected `{x}`, found `{y}`"));
        match e {
            UnifyError::Occurs => {
                d = d.with_help("the type would have to contain itself (an infinite type)");
            }
            UnifyError::Class(p, c) => {
                d = d.with_label(format!("`{}` is not {}", p.name(), c.describe()));
            }
            UnifyError::Arity(a, b) => {
                d = d.with_label(format!(
                    "a function of {a} parameter(s) is not a function of {b}"
                ));
            }
            UnifyError::Mismatch => {
                let rx = self.resolve(expected);
                let ry = self.resolve(found);
                let num = |t: &Type| {
                    matches!(
                        t,
                        Type::Prim(Prim::I64 | Prim::U64 | Prim::F64 | Prim::IBig | Prim::Ratio)
                    )
                };
                if num(&rx) && num(&ry) {
                    d = d.with_help(format!(
                        "there are no implicit numeric conversions; convert explicitly, e.g. with `{}.to_{}(...)`",
                        y, x
                    ));
                } else {
                    d = d.with_label(format!("this has type `{y}`"));
                }
            }
        }
        d
    }

    /// Instantiates a scheme with fresh variables at the current level.
    pub fn instantiate(&mut self, s: &Scheme) -> Type {
        if s.vars.is_empty() {
            return s.ty.clone();
        }
        let mut subst = HashMap::new();
        for v in &s.vars {
            let f = self.fresh();
            subst.insert(*v, f);
        }
        self.subst_resolved(&s.ty, &subst)
    }

    /// Substitutes through bound variables.
    pub fn subst_resolved(&self, t: &Type, subst: &HashMap<TyVar, Type>) -> Type {
        match self.shallow(t) {
            Type::Var(v) => subst.get(&v).cloned().unwrap_or(Type::Var(v)),
            Type::Prim(p) => Type::Prim(p),
            Type::Tuple(ts) => {
                Type::Tuple(ts.iter().map(|t| self.subst_resolved(t, subst)).collect())
            }
            Type::Fn(ps, r) => Type::Fn(
                ps.iter().map(|t| self.subst_resolved(t, subst)).collect(),
                Box::new(self.subst_resolved(&r, subst)),
            ),
            Type::Array(t) => Type::Array(Box::new(self.subst_resolved(&t, subst))),
            Type::Adt(a, ts) => Type::Adt(
                a,
                ts.iter().map(|t| self.subst_resolved(t, subst)).collect(),
            ),
        }
    }

    /// The unbound variables of `t` (resolved), in order.
    pub fn free_vars(&self, t: &Type) -> Vec<TyVar> {
        // Walked through the bindings, without resolving `t` into a copy first.
        let mut out = Vec::new();
        let mut work = vec![t];
        while let Some(t) = work.pop() {
            match self.shallow_ref(t) {
                Type::Var(v) => {
                    if !out.contains(v) {
                        out.push(*v)
                    }
                }
                Type::Prim(_) => {}
                Type::Tuple(ts) | Type::Adt(_, ts) => work.extend(ts.iter().rev()),
                Type::Fn(ps, r) => {
                    work.push(r);
                    work.extend(ps.iter().rev());
                }
                Type::Array(t) => work.push(t),
            }
        }
        out
    }

    /// Generalises `t` over the variables created deeper than the current level:
    /// first defaults those with a numeric class to `i64` (LANGUAGE.md §4), and keeps
    /// monomorphic the variables that pending field or iteration constraints mention.
    pub fn generalize(&mut self, t: &Type) -> Scheme {
        self.pin_deferred_vars();
        let fv = self.free_vars(t);
        let mut vars = Vec::new();
        for v in fv {
            let (level, class) = self.var_info(v);
            if level != GENERIC && level > self.level {
                if class.is_some() {
                    self.vars[v.0 as usize] = VarState::Bound(Type::i64());
                } else {
                    self.vars[v.0 as usize] = VarState::Unbound {
                        level: GENERIC,
                        class: None,
                    };
                    vars.push(v);
                }
            }
        }
        // A scheme that quantifies nothing keeps `t` as it is (its variables are
        // bound in the substitution): resolving it would store a full copy of the
        // type for every such binding, quadratic space for a chain of nested values.
        let ty = if vars.is_empty() {
            t.clone()
        } else {
            self.resolve(t)
        };
        Scheme { vars, ty }
    }

    /// Lowers the levels of `t`'s variables to the current level: a binding that is
    /// not generalised (a `mut` local, or a value that is not a syntactic value).
    pub fn weaken(&mut self, t: &Type) {
        for v in self.free_vars(t) {
            let (level, class) = self.var_info(v);
            if level != GENERIC && level > self.level {
                self.vars[v.0 as usize] = VarState::Unbound {
                    level: self.level,
                    class,
                };
            }
        }
    }

    /// Binds to `i64` every unbound variable with a numeric class created at index
    /// `from` or later.
    pub fn default_numeric_since(&mut self, from: usize) {
        for i in from..self.vars.len() {
            if let VarState::Unbound {
                class: Some(_),
                level,
            } = self.vars[i]
            {
                if level != GENERIC {
                    self.vars[i] = VarState::Bound(Type::i64());
                }
            }
        }
    }

    /// The level-adjusted variables mentioned by pending deferred constraints are made
    /// monomorphic at the current level.
    fn pin_deferred_vars(&mut self) {
        let tys: Vec<Type> = self.deferred.iter().flat_map(|d| d.types()).collect();
        for t in tys {
            self.weaken(&t);
        }
    }
}
