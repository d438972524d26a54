//! Name resolution and Hindley–Milner type inference: from the parsed modules of a
//! [`Graph`] to the [`TypedProgram`] of [`crate::tast`].
//!
//! - Modules are checked in dependency order, so the schemes of imported items are
//!   final when a module uses them.
//! - Within a module, top-level value bindings are inferred in dependency order, one
//!   strongly connected component at a time (mutually recursive functions together,
//!   monomorphically), then generalised (LANGUAGE.md §2–§3).
//! - Let-polymorphism: local immutable bindings whose value is a syntactic value are
//!   generalised; `mut` locals never are (the value restriction, as in OCaml).
//! - Operators put numeric classes on type variables; a class variable still open when
//!   its binding is generalised, or at the end of its top-level group, becomes `i64`.
//! - Field accesses on a value whose type is not yet known are deferred until the end
//!   of the group (or resolved at once when only one struct has that field).
//! - Every expression gets its type; a final pass (`zonk`) substitutes the solution
//!   everywhere and fills in deferred field indices; then [`crate::exhaust`] checks
//!   matches.

mod call;
mod deps;
mod expr;
mod names;
mod pat;
mod stmt;
pub mod unify;
mod zonk;

use crate::ast;
use crate::diag::Diagnostic;
use crate::modgraph::{Graph, ImportTarget};
use crate::span::{SourceMap, Span};
use crate::tast::*;
use crate::types::{AdtDecl, AdtId, CtorDecl, Prim, Scheme, TyVar, Type};
use std::collections::HashMap;
use unify::VarState;

/// What a top-level name of a module denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TopName {
    /// An item (value, function, type or import) by index.
    Item(u32),
}

/// What a name or path resolves to in an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Res {
    Local(LocalId),
    Item(ModuleId, u32),
    Module(ModuleId),
    /// A module that failed to load (errors already reported).
    BrokenModule,
    Type(AdtId),
    Ctor(AdtId, u16),
}

#[derive(Clone, Debug)]
pub(crate) enum ItemKindState {
    Value { is_fn: bool },
    Type(AdtId),
    Import(ImportTarget),
}

/// The most type parts the typed program may hold in all. Every node of the typed
/// program carries its own copy of its type (types are trees), so a chain of values
/// each nesting the one before (`x2 := Some(x1)`, thousands of times) needs space
/// quadratic in its length: past this, a clean error rather than gigabytes.
pub const MAX_PROGRAM_TYPE_PARTS: usize = 8_000_000;

/// The most parts (type constructors and variables) an item's type may have.
pub const MAX_TYPE_SIZE: usize = 10_000;

#[derive(Clone, Debug)]
pub(crate) struct ItemState {
    pub name: String,
    pub span: Span,
    pub exported: bool,
    pub kind: ItemKindState,
    /// The monomorphic type while its group is being inferred.
    pub mono: Option<Type>,
    /// The generalised type once its group is done.
    pub scheme: Option<Scheme>,
    /// The checked value (before the final substitution).
    pub texpr: Option<TExpr>,
    /// Declared `mut` (a session variable): assignable, never generalised.
    pub mutable: bool,
}

pub(crate) struct ModState {
    pub names: HashMap<String, TopName>,
    pub items: Vec<ItemState>,
    pub adts: Vec<AdtId>,
    pub checked: bool,
    /// Names of declarations that did not parse (`ast::File::broken`) and are not
    /// declared otherwise: uses resolve to "already reported", not "cannot find".
    pub broken: std::collections::HashSet<String>,
}

pub(crate) struct LocalState {
    pub name: String,
    pub span: Span,
    pub mutable: bool,
    pub captured: bool,
    /// Read somewhere (for the "unused variable" warning).
    pub read: bool,
    /// Assigned to somewhere (for the "does not need to be mutable" warning).
    pub assigned: bool,
    /// Bound by a `x := ...` statement (only those get unused-variable warnings).
    pub let_bound: bool,
    pub scheme: Scheme,
    /// Index into `fn_stack` of the function that binds it.
    pub fn_depth: usize,
}

/// Per-lambda (or per-top-level-item) context.
pub(crate) struct FnCtx {
    pub captures: Vec<LocalId>,
    /// The return type (`None` at the top level of an item: `return` is an error).
    pub ret: Option<Type>,
    /// One entry per enclosing loop of this function: whether it contains a `break`.
    pub loops: Vec<bool>,
}

/// A constraint that needs a type that is not known yet.
#[derive(Clone, Debug)]
pub(crate) enum Deferred {
    Field {
        slot: u32,
        base: Type,
        name: String,
        result: Type,
        span: Span,
    },
    Iter {
        container: Type,
        elem: Type,
        span: Span,
    },
}

impl Deferred {
    pub fn types(&self) -> Vec<Type> {
        match self {
            Deferred::Field { base, result, .. } => vec![base.clone(), result.clone()],
            Deferred::Iter {
                container, elem, ..
            } => vec![container.clone(), elem.clone()],
        }
    }
}

/// The checker's state for a whole program.
pub struct Checker<'g> {
    /// Type parts the final substitution may still produce (see
    /// [`MAX_PROGRAM_TYPE_PARTS`]); 0 once exhausted.
    pub(crate) zonk_budget: std::cell::Cell<usize>,
    pub(crate) graph: &'g Graph,
    pub(crate) sources: &'g SourceMap,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) vars: Vec<VarState>,
    pub(crate) level: u32,
    pub(crate) adts: Vec<AdtDecl>,
    pub(crate) mods: Vec<ModState>,
    pub(crate) locals: Vec<LocalState>,
    pub(crate) scopes: Vec<(String, LocalId)>,
    pub(crate) fn_stack: Vec<FnCtx>,
    pub(crate) cur: ModuleId,
    pub(crate) deferred: Vec<Deferred>,
    /// Field index per field-access slot (filled when the base type is known).
    pub(crate) field_slots: Vec<Option<u32>>,
    /// Type parameters in scope in annotations.
    pub(crate) tparams: Vec<(String, Type)>,
    /// Errors already reported at these spans (to avoid duplicates).
    reported: std::collections::HashSet<(u32, u32, u32)>,
    /// An ambiguity found by the last constructor lookup, reported by the caller that
    /// knows the span.
    pub(crate) pending_ambiguity: Option<String>,
    /// Inside `#run`: the first local id bound inside it (locals below it are not
    /// available at compile time).
    pub(crate) run_boundary: Option<u32>,
    /// Import items `(module, item)` that some name resolved through (for the
    /// "unused import" warning).
    pub(crate) used_imports: std::collections::HashSet<(u32, u32)>,
    /// Session modules by the top-level names they declare, and by the constructors
    /// of their enums: (position in the session, module), oldest first. A lookup from
    /// the session module at position `k` takes the newest entry before `k`, in
    /// logarithmic time however long the session.
    session_names: HashMap<String, Vec<(usize, ModuleId)>>,
    session_ctors: HashMap<String, Vec<(usize, ModuleId)>>,
}

/// Checks every module of `graph`; returns the typed program (when there is no error)
/// and all diagnostics.
pub fn check(graph: &Graph, sources: &SourceMap) -> (Option<TypedProgram>, Vec<Diagnostic>) {
    let mut c = Checker {
        graph,
        sources,
        diags: Vec::new(),
        vars: Vec::new(),
        level: 0,
        adts: Vec::new(),
        mods: Vec::new(),
        locals: Vec::new(),
        scopes: Vec::new(),
        fn_stack: Vec::new(),
        cur: graph.root,
        deferred: Vec::new(),
        field_slots: Vec::new(),
        tparams: Vec::new(),
        reported: Default::default(),
        pending_ambiguity: None,
        run_boundary: None,
        used_imports: Default::default(),
        session_names: HashMap::new(),
        session_ctors: HashMap::new(),
        zonk_budget: std::cell::Cell::new(MAX_PROGRAM_TYPE_PARTS),
    };
    let t = c.generic_var();
    let _e = c.generic_var();
    c.adts = AdtDecl::builtins(t.0);
    for m in &graph.modules {
        c.mods.push(ModState {
            names: HashMap::new(),
            items: Vec::new(),
            adts: Vec::new(),
            checked: false,
            broken: m.ast.broken.iter().cloned().collect(),
        });
    }
    // Every module, in dependency order (any module the order misses, last).
    let mut order = graph.order.clone();
    for pm in &graph.modules {
        if !order.contains(&pm.id) {
            order.push(pm.id);
        }
    }
    // Declare every module's names and types first, so that types of other modules
    // are known whatever the order.
    for &m in &order {
        c.cur = m;
        c.declare_module(m);
    }
    c.index_session();
    for &m in &order {
        c.cur = m;
        c.define_types(m);
    }
    for &m in &order {
        c.cur = m;
        c.check_module(m);
        c.mods[m.0 as usize].checked = true;
    }
    c.cur = graph.root;
    let (main, main_i64) = c.check_main();
    let has_errors = c.diags.iter().any(|d| d.is_error());
    if has_errors {
        return (None, c.diags);
    }
    c.unused_warnings();
    let prog = c.finish(main, main_i64);
    if c.zonk_budget.get() == 0 {
        c.diags.push(Diagnostic::error_nowhere(format!(
            "the program's types are too large: more than {MAX_PROGRAM_TYPE_PARTS} parts in all \
             (a long chain of values each nesting the one before?)"
        )));
        return (None, c.diags);
    }
    let mut diags = c.diags;
    if let Some(p) = &prog {
        diags.extend(crate::exhaust::check_program(p));
    }
    if diags.iter().any(|d| d.is_error()) {
        return (None, diags);
    }
    (prog, diags)
}

impl<'g> Checker<'g> {
    pub(crate) fn report(&mut self, d: Diagnostic) {
        if d.is_error() {
            if let Some(s) = d.span {
                if !self.reported.insert((s.file.0, s.lo, s.hi)) {
                    return;
                }
            }
        }
        self.diags.push(d);
    }

    /// Whether the lexer or parser reported an error in `file`.
    pub(crate) fn has_syntax_errors(&self, file: crate::span::FileId) -> bool {
        self.graph
            .modules
            .iter()
            .any(|m| m.file == file && m.syntax_errors)
    }

    pub(crate) fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.report(Diagnostic::error(span, msg));
    }

    pub(super) fn module_name(&self, m: ModuleId) -> &str {
        &self.graph.modules[m.0 as usize].name
    }

    pub(super) fn declare_module(&mut self, m: ModuleId) {
        let pm = &self.graph.modules[m.0 as usize];
        let mut items = Vec::new();
        let mut names: HashMap<String, TopName> = HashMap::new();
        let mut adts = Vec::new();
        // A session module exports every name: later inputs see even `_x`.
        let session = matches!(pm.kind, crate::tast::ModuleKind::Session(_));
        for (i, it) in pm.ast.items.iter().enumerate() {
            let name = it.name.name.clone();
            let exported = !name.starts_with('_') || session;
            let mutable = matches!(it.kind, ast::ItemKind::Value { mutable: true, .. });
            if mutable && !session {
                self.report(
                    Diagnostic::error(
                        it.name.span,
                        "top-level bindings cannot be `mut`; use a local inside a function, or an array",
                    ),
                );
            } else if mutable
                && matches!(&it.kind, ast::ItemKind::Value { expr, .. } if matches!(expr.kind, ast::ExprKind::Lambda(_)))
            {
                self.report(
                    Diagnostic::error(it.name.span, "a top-level function cannot be `mut`")
                        .with_help("declare it again to replace it for later inputs"),
                );
            }
            let kind = match &it.kind {
                ast::ItemKind::Value { expr, .. } => ItemKindState::Value {
                    is_fn: matches!(expr.kind, ast::ExprKind::Lambda(_)),
                },
                ast::ItemKind::Import { .. } => ItemKindState::Import(
                    pm.imports.get(&i).copied().unwrap_or(ImportTarget::Broken),
                ),
                ast::ItemKind::Type { params, body } => {
                    let id = AdtId(self.adts.len() as u32);
                    let pvars: Vec<TyVar> = params.iter().map(|_| self.generic_var()).collect();
                    let is_struct = matches!(body, ast::TypeBody::Struct(_));
                    let ctors = match body {
                        ast::TypeBody::Struct(fs) => vec![CtorDecl {
                            name: name.clone(),
                            fields: Vec::new(),
                            field_names: fs.iter().map(|(f, _)| f.name.clone()).collect(),
                        }],
                        ast::TypeBody::Enum(vs) => vs
                            .iter()
                            .map(|v| CtorDecl {
                                name: v.name.name.clone(),
                                fields: Vec::new(),
                                field_names: Vec::new(),
                            })
                            .collect(),
                    };
                    self.adts.push(AdtDecl {
                        name: name.clone(),
                        module: Some(m),
                        span: it.name.span,
                        params: pvars,
                        param_names: params.iter().map(|p| p.name.clone()).collect(),
                        is_struct,
                        ctors,
                        builtin_type_id: None,
                        exported,
                    });
                    adts.push(id);
                    ItemKindState::Type(id)
                }
            };
            if let Some(TopName::Item(prev)) = names.get(&name) {
                let prev_span: Span = items
                    .get(*prev as usize)
                    .map(|p: &ItemState| p.span)
                    .unwrap_or(it.name.span);
                self.report(
                    Diagnostic::error(
                        it.name.span,
                        format!("`{name}` is declared twice in this file"),
                    )
                    .with_note(Some(prev_span), "first declared here")
                    .with_help("top-level names must be unique; rename one of them"),
                );
            } else {
                names.insert(name.clone(), TopName::Item(i as u32));
            }
            items.push(ItemState {
                name,
                span: it.name.span,
                exported,
                kind,
                mono: None,
                scheme: None,
                texpr: None,
                mutable,
            });
        }
        let st = &mut self.mods[m.0 as usize];
        st.names = names;
        st.items = items;
        st.adts = adts;
    }

    pub(super) fn define_types(&mut self, m: ModuleId) {
        let pm = &self.graph.modules[m.0 as usize];
        for (i, it) in pm.ast.items.iter().enumerate() {
            let ast::ItemKind::Type { params, body } = &it.kind else {
                continue;
            };
            let ItemKindState::Type(id) = self.mods[m.0 as usize].items[i].kind else {
                continue;
            };
            let pvars = self.adts[id.0 as usize].params.clone();
            let mark = self.tparams.len();
            for (p, v) in params.iter().zip(pvars.iter()) {
                if self.tparams[mark..].iter().any(|(n, _)| *n == p.name) {
                    self.error(
                        p.span,
                        format!("the type parameter `{}` is declared twice", p.name),
                    );
                }
                self.tparams.push((p.name.clone(), Type::Var(*v)));
            }
            match body {
                ast::TypeBody::Struct(fs) => {
                    let mut seen: Vec<&str> = Vec::new();
                    let mut tys = Vec::new();
                    for (f, t) in fs {
                        if seen.contains(&f.name.as_str()) {
                            self.error(f.span, format!("the field `{}` is declared twice", f.name));
                        }
                        seen.push(&f.name);
                        tys.push(self.resolve_type(t, false));
                    }
                    self.adts[id.0 as usize].ctors[0].fields = tys;
                }
                ast::TypeBody::Enum(vs) => {
                    let mut seen: Vec<&str> = Vec::new();
                    for (ci, v) in vs.iter().enumerate() {
                        if seen.contains(&v.name.name.as_str()) {
                            self.error(
                                v.name.span,
                                format!("the constructor `{}` is declared twice", v.name.name),
                            );
                        }
                        seen.push(&v.name.name);
                        let tys: Vec<Type> = v
                            .fields
                            .iter()
                            .map(|t| self.resolve_type(t, false))
                            .collect();
                        self.adts[id.0 as usize].ctors[ci].fields = tys;
                    }
                    if vs.len() > u16::MAX as usize {
                        self.error(it.name.span, "too many constructors");
                    }
                }
            }
            self.tparams.truncate(mark);
        }
    }

    /// Converts a written type. `allow_infer`: whether `_` is allowed (annotations yes,
    /// declarations no).
    pub(crate) fn resolve_type(&mut self, t: &ast::TypeExpr, allow_infer: bool) -> Type {
        match &t.kind {
            ast::TypeExprKind::Error => self.fresh(),
            ast::TypeExprKind::Infer => {
                if !allow_infer {
                    self.error(
                        t.span,
                        "`_` is not allowed in a type declaration; name the type",
                    );
                }
                self.fresh()
            }
            ast::TypeExprKind::Tuple(ts) => Type::Tuple(
                ts.iter()
                    .map(|t| self.resolve_type(t, allow_infer))
                    .collect(),
            ),
            ast::TypeExprKind::Fn(ps, r) => Type::Fn(
                ps.iter()
                    .map(|t| self.resolve_type(t, allow_infer))
                    .collect(),
                Box::new(self.resolve_type(r, allow_infer)),
            ),
            ast::TypeExprKind::Named(path, args) => {
                let args: Vec<Type> = args
                    .iter()
                    .map(|t| self.resolve_type(t, allow_infer))
                    .collect();
                self.resolve_named_type(path, args, t.span)
            }
        }
    }

    pub(super) fn resolve_named_type(
        &mut self,
        path: &[ast::Ident],
        args: Vec<Type>,
        span: Span,
    ) -> Type {
        let Some(last) = path.last() else {
            return self.fresh();
        };
        let adt = if path.len() == 1 {
            let name = last.name.as_str();
            if let Some((_, t)) = self.tparams.iter().rev().find(|(n, _)| n == name) {
                let t = t.clone();
                if !args.is_empty() {
                    self.error(
                        span,
                        format!("the type parameter `{name}` takes no type arguments"),
                    );
                }
                return t;
            }
            if let Some(p) = Prim::from_name(name) {
                if !args.is_empty() {
                    self.error(span, format!("`{name}` takes no type arguments"));
                }
                return Type::Prim(p);
            }
            if name == "Array" {
                return match <[Type; 1]>::try_from(args) {
                    Ok([a]) => Type::Array(Box::new(a)),
                    Err(_) => {
                        self.error(span, "`Array` takes one type argument: `Array<T>`");
                        Type::Array(Box::new(self.fresh()))
                    }
                };
            }
            match self.lookup_type_name(name) {
                Some(a) => a,
                None if self.mods[self.cur.0 as usize].broken.contains(name) => {
                    return self.fresh();
                }
                None => {
                    let d = Diagnostic::error(last.span, format!("cannot find the type `{name}`"))
                        .with_label("not a type in scope")
                        .with_help(
                            "types are `i64 u64 f64 ibig ratio bool char str`, `List<T> Option<T> Result<T, E> Array<T> Map<K, V>`, tuples, functions and the types declared in this file or a module (`m.Type`)",
                        );
                    self.report(d);
                    return self.fresh();
                }
            }
        } else {
            // m.Type (or m.sub.Type)
            let mut res = match self.lookup_value(&path[0].name) {
                Some(Res::Module(m)) => Res::Module(m),
                Some(Res::BrokenModule) => return self.fresh(),
                _ => {
                    self.error(path[0].span, format!("`{}` is not a module", path[0].name));
                    return self.fresh();
                }
            };
            for seg in &path[1..] {
                res = match res {
                    Res::Module(m) => match self.member(m, &seg.name, seg.span) {
                        Some(r) => r,
                        None => return self.fresh(),
                    },
                    Res::BrokenModule => return self.fresh(),
                    _ => {
                        self.error(seg.span, "expected a module before `.` in a type");
                        return self.fresh();
                    }
                };
            }
            match res {
                Res::Type(a) => a,
                Res::BrokenModule => return self.fresh(),
                _ => {
                    self.error(last.span, format!("`{}` is not a type", last.name));
                    return self.fresh();
                }
            }
        };
        let decl = &self.adts[adt.0 as usize];
        let want = decl.params.len();
        if args.len() != want {
            let name = decl.name.clone();
            let msg = if want == 0 {
                format!("`{name}` takes no type arguments")
            } else {
                format!(
                    "`{name}` takes {want} type argument(s), but {} were given",
                    args.len()
                )
            };
            self.error(span, msg);
            let args = (0..want).map(|_| self.fresh()).collect();
            return Type::Adt(adt, args);
        }
        Type::Adt(adt, args)
    }

    pub(super) fn check_module(&mut self, m: ModuleId) {
        let pm = &self.graph.modules[m.0 as usize];
        // Value items and their dependencies within the module.
        let values: Vec<usize> = pm
            .ast
            .items
            .iter()
            .enumerate()
            .filter(|(_, it)| matches!(it.kind, ast::ItemKind::Value { .. }))
            .map(|(i, _)| i)
            .collect();
        let pos_of: HashMap<usize, usize> =
            values.iter().enumerate().map(|(p, &i)| (i, p)).collect();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); values.len()];
        for (p, &i) in values.iter().enumerate() {
            let ast::ItemKind::Value { expr, .. } = &pm.ast.items[i].kind else {
                continue;
            };
            let is_fn = matches!(expr.kind, ast::ExprKind::Lambda(_));
            for u in deps::free_names(expr) {
                let Some(TopName::Item(j)) = self.mods[m.0 as usize].names.get(&u.name).copied()
                else {
                    continue;
                };
                let j = j as usize;
                if let Some(&q) = pos_of.get(&j) {
                    if !succ[p].contains(&q) {
                        succ[p].push(q);
                    }
                    // A value initialised in source order may not use a later value.
                    let j_is_fn = matches!(
                        self.mods[m.0 as usize].items[j].kind,
                        ItemKindState::Value { is_fn: true }
                    );
                    if !is_fn && u.direct && !j_is_fn && j >= i {
                        let name = u.name.clone();
                        let d = if j == i {
                            Diagnostic::error(u.span, format!("`{name}` is used in its own initialiser"))
                                .with_help("a top-level value cannot refer to itself; only functions can be recursive")
                        } else {
                            Diagnostic::error(u.span, format!("`{name}` is used before it is initialised"))
                                .with_note(Some(self.mods[m.0 as usize].items[j].span), "declared later here")
                                .with_help("top-level values are initialised in source order; move this declaration after it")
                        };
                        self.report(d);
                    }
                }
            }
        }
        let groups = deps::sccs(values.len(), &succ);
        for g in groups {
            let idxs: Vec<usize> = g.iter().map(|&p| values[p]).collect();
            self.check_group(m, &idxs);
        }
        // A session variable's type must be settled by its own input: a later input,
        // checked on its own, could otherwise settle it differently each time.
        for i in 0..self.mods[m.0 as usize].items.len() {
            let it = &self.mods[m.0 as usize].items[i];
            if !it.mutable {
                continue;
            }
            let (span, name) = (it.span, it.name.clone());
            let ty = it.scheme.as_ref().map(|s| s.ty.clone());
            if ty.is_some_and(|t| !self.free_vars(&t).is_empty()) {
                self.report(
                    Diagnostic::error(span, format!("the type of `{name}` is not fully known"))
                        .with_help(format!("a `mut` session variable needs a complete type: annotate it, e.g. `mut {name}: List<i64> := ...`")),
                );
            }
        }
    }

    /// Infers one group of mutually dependent top-level values.
    pub(super) fn check_group(&mut self, m: ModuleId, idxs: &[usize]) {
        let pm = &self.graph.modules[m.0 as usize];
        let var_start = self.vars.len();
        self.level = 1;
        // Monomorphic types for the group.
        for &i in idxs {
            let ast::ItemKind::Value { ty, .. } = &pm.ast.items[i].kind else {
                continue;
            };
            let t = match ty {
                Some(te) => self.resolve_type(te, true),
                None => self.fresh(),
            };
            self.mods[m.0 as usize].items[i].mono = Some(t);
        }
        for &i in idxs {
            let it = &pm.ast.items[i];
            let ast::ItemKind::Value { expr, .. } = &it.kind else {
                continue;
            };
            let mono = self.mods[m.0 as usize].items[i]
                .mono
                .clone()
                .unwrap_or_else(|| self.fresh());
            self.fn_stack.push(FnCtx {
                captures: Vec::new(),
                ret: None,
                loops: Vec::new(),
            });
            let te = self.check_expr_named(expr, &mono, Some(it.name.name.clone()), None);
            self.fn_stack.pop();
            self.mods[m.0 as usize].items[i].texpr = Some(te);
        }
        self.process_deferred(true);
        self.default_numeric_since(var_start);
        self.level = 0;
        for &i in idxs {
            let mono = self.mods[m.0 as usize].items[i]
                .mono
                .clone()
                .unwrap_or_else(Type::unit);
            let value_like = !self.mods[m.0 as usize].items[i].mutable
                && self.mods[m.0 as usize].items[i]
                    .texpr
                    .as_ref()
                    .map(|e| self.is_value(e))
                    .unwrap_or(false);
            let mut scheme = if value_like {
                self.generalize(&mono)
            } else {
                self.weaken(&mono);
                Scheme::mono(self.resolve(&mono))
            };
            if self.type_larger_than(&scheme.ty, MAX_TYPE_SIZE) {
                // Types are trees: `a1 := (a0, a0); a2 := (a1, a1); ...` doubles the
                // type with every line, and each use copies it, so forty such lines
                // would take the checker hours and more memory than the machine has.
                let (span, name) = {
                    let it = &self.mods[m.0 as usize].items[i];
                    (it.span, it.name.clone())
                };
                self.report(
                    Diagnostic::error(span, format!("the type of `{name}` is too large"))
                        .with_help(format!(
                            "a type may have at most {MAX_TYPE_SIZE} parts; annotate or restructure the value"
                        )),
                );
                scheme = Scheme::mono(Type::unit());
            }
            self.mods[m.0 as usize].items[i].scheme = Some(scheme);
        }
    }

    pub(super) fn check_main(&mut self) -> (Option<ItemRef>, bool) {
        let root = self.graph.root;
        let Some(TopName::Item(i)) = self.mods[root.0 as usize].names.get("main").copied() else {
            return (None, false);
        };
        let it = self.mods[root.0 as usize].items[i as usize].clone();
        let span = it.span;
        // A `main` whose definition did not parse has had its error reported; saying
        // that it "must be a function" as well would mislead.
        if let Some(ast::ItemKind::Value { expr, .. }) = self.graph.modules[root.0 as usize]
            .ast
            .items
            .get(i as usize)
            .map(|a| &a.kind)
        {
            if matches!(expr.kind, ast::ExprKind::Error) {
                return (None, false);
            }
        }
        match it.kind {
            ItemKindState::Value { is_fn: true } => {}
            _ => {
                self.report(
                    Diagnostic::error(span, "`main` must be a function")
                        .with_help("declare it as `main := () => { ... };`"),
                );
                return (None, false);
            }
        }
        let Some(scheme) = it.scheme else {
            return (None, false);
        };
        let t = self.resolve(&scheme.ty);
        let Type::Fn(ps, ret) = t else {
            return (None, false);
        };
        if !ps.is_empty() {
            self.report(
                Diagnostic::error(
                    span,
                    format!("`main` must take no arguments, but it takes {}", ps.len()),
                )
                .with_help("use `io.args()` for the command-line arguments"),
            );
        }
        let ret = self.shallow(&ret);
        let returns_i64 = match ret {
            Type::Var(v) => {
                // Never returns normally (e.g. ends in a loop): treat as `()`.
                self.vars[v.0 as usize] = VarState::Bound(Type::unit());
                false
            }
            Type::Prim(Prim::I64) => true,
            t if t.is_unit() => false,
            t => {
                let shown = self.show(&t);
                self.report(
                    Diagnostic::error(
                        span,
                        format!("`main` must return `()` or `i64`, but it returns `{shown}`"),
                    )
                    .with_help(
                        "an `i64` result is the exit status; end the body with `;` to return `()`",
                    ),
                );
                false
            }
        };
        (
            Some(ItemRef {
                module: root,
                index: i,
            }),
            returns_i64,
        )
    }

    /// Resolves deferred constraints whose types became known; with `last`, reports
    /// those that remain.
    pub(crate) fn process_deferred(&mut self, last: bool) {
        loop {
            let mut progress = false;
            let pending = std::mem::take(&mut self.deferred);
            let mut keep = Vec::new();
            for d in pending {
                if self.try_deferred(&d, false) {
                    progress = true;
                } else {
                    keep.push(d);
                }
            }
            self.deferred.extend(keep);
            if !progress {
                break;
            }
        }
        if last {
            let pending = std::mem::take(&mut self.deferred);
            for d in pending {
                self.try_deferred(&d, true);
            }
        }
    }

    pub(super) fn finish(
        &mut self,
        main: Option<ItemRef>,
        main_returns_i64: bool,
    ) -> Option<TypedProgram> {
        zonk::finish(self, main, main_returns_i64)
    }
}

/// Levenshtein distance (for "did you mean" suggestions).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}
