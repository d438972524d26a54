//! Code generation: one linkable `.hbc` object per module of a [`TypedProgram`].
//!
//! Each module becomes an object whose symbols are named `KEY::name` (see
//! [`module_key`]); the objects of the modules it uses are its needed libraries, so the
//! same objects link into the same program whether `hashc` links them in memory or
//! `hashld` links files compiled separately.
//!
//! Inside a module:
//! - every top-level function is a bytecode function without captures, and a global
//!   holding it (exported unless private);
//! - every top-level value is a global computed by the module's initialiser, in source
//!   order (or a constant, when `#run` computed it);
//! - lambdas are lifted to functions whose closures capture their free variables;
//!   a `mut` local that a closure captures lives in a `ref` cell;
//! - references to other modules' items and types are imports.

mod asm;
mod assign;
mod binop;
mod cond;
mod expr;
mod func;
mod inline;
mod loops;
mod matcher;
mod run;

use crate::tast::*;
use hashvm_format::{
    builtin, Const, Ctor, ExportTarget, FunctionBuilder, GlobalInit, Module, ModuleBuilder, Op,
    Operand, TypeDef, FIRST_USER_TYPE,
};
use std::collections::HashMap;

pub use run::RunSite;

/// The name under which a module's symbols are exported and by which other objects ask
/// for it as a library: the file stem for user modules (`geometry` for
/// `lib/geometry.hash`), `std.NAME` for the standard library and `std.prelude`.
pub fn module_key(m: &TModule) -> String {
    match &m.kind {
        ModuleKind::User => m
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| m.name.clone()),
        ModuleKind::Stdlib(n) => format!("std.{n}"),
        ModuleKind::Prelude => "std.prelude".into(),
        ModuleKind::Session(key) => key.clone(),
    }
}

/// Why a module could not be compiled (a compiler limit, rare).
#[derive(Debug, Clone)]
pub struct CodegenError {
    /// Where.
    pub span: crate::span::Span,
    /// What.
    pub message: String,
}

/// Compile-time values of `#run` sites, supplied by the driver after evaluating them:
/// a constant per site (by the site's span), plus extra shared globals.
#[derive(Default, Clone, Debug)]
pub struct RunValues {
    /// The constant computed for each `#run` expression, keyed by its span.
    pub values: HashMap<crate::span::Span, Const>,
    /// Shared objects the constants refer to with `Const::Global(base + i)`, where
    /// `base` is [`RunValues::global_base`].
    pub shared: Vec<Const>,
    /// The global index the first shared object must have.
    pub global_base: u32,
}

/// The state of one module's object while it is generated.
pub(crate) struct ObjectGen<'p> {
    pub prog: &'p TypedProgram,
    pub module: ModuleId,
    pub key: String,
    pub mb: ModuleBuilder,
    pub file: u32,
    /// Function index of each top-level function item.
    pub item_funcs: HashMap<u32, u32>,
    /// Global of each top-level item (functions and values).
    pub item_globals: HashMap<u32, u32>,
    /// Import globals by symbol.
    pub imports: HashMap<String, u32>,
    /// Type id of each data type used.
    pub type_ids: HashMap<AdtId, u32>,
    /// String and big-integer constants, deduplicated.
    pub strings: HashMap<String, u32>,
    pub bigs: HashMap<String, u32>,
    /// Shared constant constructor applications and their globals, deduplicated
    /// ([`ObjectGen::shared_ctor`]); few per module, so a list compared by value.
    pub consts: Vec<(Const, u32)>,
    /// Wrapper functions of constructors used as values.
    pub ctor_fns: HashMap<CtorRef, u32>,
    /// Lambdas waiting to be compiled: (function index, lambda).
    pub pending: Vec<(u32, &'p TLambda)>,
    /// `#run` sites found (when compiling for evaluation) and their values (when
    /// compiling the final object).
    pub runs: Vec<RunSite>,
    pub run_values: Option<&'p RunValues>,
    pub errors: Vec<CodegenError>,
}

/// Generates the object of `module`. With `run_values`, `#run` expressions become
/// their constants; without, each becomes a call of a zero-argument function listed in
/// the returned sites (so the driver can evaluate them).
pub fn compile_module(
    prog: &TypedProgram,
    module: ModuleId,
    run_values: Option<&RunValues>,
) -> Result<(Module, Vec<RunSite>), Vec<CodegenError>> {
    let m = prog.module(module);
    let mut og = ObjectGen {
        prog,
        module,
        key: module_key(m),
        mb: ModuleBuilder::new(),
        file: 0,
        item_funcs: HashMap::new(),
        item_globals: HashMap::new(),
        imports: HashMap::new(),
        type_ids: HashMap::new(),
        strings: HashMap::new(),
        bigs: HashMap::new(),
        consts: Vec::new(),
        ctor_fns: HashMap::new(),
        pending: Vec::new(),
        runs: Vec::new(),
        run_values,
        errors: Vec::new(),
    };
    og.file = og.mb.file(&m.name);
    // The module's own types, exported as KEY::Name.
    for &adt in &m.adts {
        let d = prog.adt(adt);
        let id = og.mb.add_type(TypeDef::Defined {
            name: d.name.clone(),
            ctors: d
                .ctors
                .iter()
                .map(|c| Ctor {
                    name: c.name.clone(),
                    arity: c.fields.len() as u16,
                    fields: if c.field_names.len() == c.fields.len() {
                        c.field_names.clone()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        });
        og.type_ids.insert(adt, id);
        og.mb.export(
            format!("{}::{}", og.key, d.name),
            ExportTarget::Type(id - FIRST_USER_TYPE),
        );
    }
    // Shared #run objects must have fixed global numbers: they come first.
    if let Some(rv) = run_values {
        for (i, c) in rv.shared.iter().enumerate() {
            let g = og
                .mb
                .add_global(format!("run.shared.{i}"), GlobalInit::Const(c.clone()));
            debug_assert_eq!(g, rv.global_base + i as u32);
        }
    }
    // Declare every function item and the globals of all items.
    for (i, item) in m.items.iter().enumerate() {
        match &item.kind {
            TItemKind::Function { .. } => {
                let f = og.mb.declare_function(og.fn_name(&item.name));
                og.item_funcs.insert(i as u32, f);
                let g = og
                    .mb
                    .add_global(item.name.clone(), GlobalInit::Const(Const::Func(f)));
                og.item_globals.insert(i as u32, g);
            }
            TItemKind::Value { .. } => {
                let g = og.mb.add_global(item.name.clone(), GlobalInit::Uninit);
                og.item_globals.insert(i as u32, g);
            }
            _ => {}
        }
        if item.exported {
            if let Some(&g) = og.item_globals.get(&(i as u32)) {
                og.mb.export(
                    format!("{}::{}", og.key, item.name),
                    ExportTarget::Global(g),
                );
            }
        }
    }
    // Function bodies.
    for (i, item) in m.items.iter().enumerate() {
        if let TItemKind::Function { lambda, .. } = &item.kind {
            let f = og.item_funcs[&(i as u32)];
            og.compile_lambda(f, lambda, true);
        }
    }
    // The initialiser: top-level values in source order (a `#run` value loads its
    // constant). It exists whenever there are values, in both `#run` phases, so that
    // function numbering is the same in both.
    if !m.init_order.is_empty() {
        let f = og.mb.declare_function(og.fn_name(func::INIT_NAME));
        let body = func::compile_init(&mut og, &m.init_order);
        og.define(f, body);
        og.mb.add_init(f);
    }
    og.drain_pending();
    // The entry point.
    if prog.root == module {
        if let Some(main) = prog.main {
            if main.module == module {
                if let Some(&f) = og.item_funcs.get(&main.index) {
                    og.mb.set_entry(f);
                }
            }
        }
    }
    // Needed libraries: the modules this one uses.
    for &d in &m.deps {
        if d != module {
            og.mb.need_library(module_key(prog.module(d)));
        }
    }
    if !og.errors.is_empty() {
        return Err(og.errors);
    }
    let runs = std::mem::take(&mut og.runs);
    match og.mb.finish() {
        Ok(m) => Ok((m, runs)),
        Err(e) => Err(vec![CodegenError {
            span: m.items.first().map(|i| i.span).unwrap_or_default(),
            message: e.to_string(),
        }]),
    }
}

impl<'p> ObjectGen<'p> {
    fn fn_name(&self, name: &str) -> String {
        match &self.prog.module(self.module).kind {
            ModuleKind::User | ModuleKind::Session(_) => name.to_string(),
            _ => format!("{}.{name}", self.key.trim_start_matches("std.")),
        }
    }

    pub(crate) fn define(&mut self, f: u32, body: Result<FunctionBuilder, CodegenError>) {
        match body {
            Ok(fb) => {
                if let Err(e) = self.mb.define_function(f, fb) {
                    self.errors.push(CodegenError {
                        span: Default::default(),
                        message: e.to_string(),
                    });
                }
            }
            Err(e) => {
                self.errors.push(e);
                // Keep the module well formed.
                let mut fb = FunctionBuilder::new("<error>", 0, 0);
                fb.op(Op::RetU, []);
                let _ = self.mb.define_function(f, fb);
            }
        }
    }

    fn compile_lambda(&mut self, f: u32, lambda: &'p TLambda, top: bool) {
        let body = func::compile_function(self, f, lambda, top);
        self.define(f, body);
        self.drain_pending();
    }

    fn drain_pending(&mut self) {
        while let Some((f, l)) = self.pending.pop() {
            let body = func::compile_function(self, f, l, false);
            self.define(f, body);
        }
    }

    /// The type id for a data type in this object (builtin, own, or imported).
    pub(crate) fn type_id(&mut self, adt: AdtId) -> u32 {
        if let Some(&t) = self.type_ids.get(&adt) {
            return t;
        }
        let d = self.prog.adt(adt);
        let id = match (d.builtin_type_id, d.module) {
            (Some(b), _) => b,
            (None, Some(m)) => {
                let sym = format!("{}::{}", module_key(self.prog.module(m)), d.name);
                self.mb.add_type(TypeDef::Import { symbol: sym })
            }
            (None, None) => builtin::TUPLE,
        };
        self.type_ids.insert(adt, id);
        id
    }

    /// The global through which an item is read: its own, or an import.
    pub(crate) fn item_global(&mut self, r: ItemRef) -> u32 {
        if r.module == self.module {
            if let Some(&g) = self.item_globals.get(&r.index) {
                return g;
            }
        }
        let m = self.prog.module(r.module);
        let sym = format!("{}::{}", module_key(m), self.prog.item(r).name);
        if let Some(&g) = self.imports.get(&sym) {
            return g;
        }
        let g = self.mb.import_global(sym.clone());
        self.imports.insert(sym, g);
        g
    }

    /// A global holding a string constant.
    pub(crate) fn string(&mut self, s: &str) -> u32 {
        if let Some(&g) = self.strings.get(s) {
            return g;
        }
        let g = self
            .mb
            .add_global("", GlobalInit::Const(Const::Str(s.to_string())));
        self.strings.insert(s.to_string(), g);
        g
    }

    /// A global holding a big-integer constant.
    pub(crate) fn big(&mut self, v: &rug::Integer) -> u32 {
        let key = v.to_string();
        if let Some(&g) = self.bigs.get(&key) {
            return g;
        }
        let g = self.mb.add_global(
            "",
            GlobalInit::Const(Const::Big(hashvm_vm::reify::big_const(v))),
        );
        self.bigs.insert(key, g);
        g
    }

    /// The global holding constructor `c` applied to `args` as one shared constant,
    /// when the application is a *constant application*: the constructor has fields,
    /// is not a struct's, and every argument is a literal, a field-less constructor, a
    /// list literal of such, or a constant application itself. `None` otherwise, and
    /// the caller builds the value with `con` as before. Equal constants of a module
    /// share one global. This is ocamlc's structured constants: binary-trees' leaf
    /// `Node(Empty, Empty)` is then loaded, not allocated at every evaluation.
    ///
    /// Why nobody can tell a shared value from a fresh one:
    /// - Its objects are immutable. Only a struct's fields can be assigned
    ///   (`docs/LANGUAGE.md`, "Structs and enums"), so a struct is never shared, nor
    ///   anything containing one (a struct application is not constant). A
    ///   constructor's payload, a tuple's elements, a list's cells and a `str` cannot
    ///   be changed; arrays and `mut`/captured cells have no literal form, so they never
    ///   occur in a constant. The standard library's `#op` escape hatch never stores
    ///   into a constructor's payload (no `setfield` in `stdlib/hash`), the same
    ///   assumption `asm`'s field motion makes (`Ins::frozen`).
    /// - Hash has no identity: `==` and the other comparisons are structural, `to_str`
    ///   prints structure, and no operation exposes an address but a foreign `ptr`
    ///   (which has no literal form).
    /// - Evaluating a constant application has no effect but allocation: no code runs,
    ///   nothing can fail but running out of memory.
    /// - The value is an ordinary heap object that the loader builds from the global's
    ///   constant (SPEC.md §2.6, "Constants"), and globals are roots of the collector
    ///   (§1.4): it lives as long as the program, like a string literal's global, and
    ///   a young object pointing to it needs no barrier. The REPL links each input's
    ///   constants into the running VM like any other globals, and a `#run` value that
    ///   contains one is reified like any other value.
    pub(crate) fn shared_ctor(&mut self, c: CtorRef, args: &[TExpr]) -> Option<u32> {
        if args.is_empty() {
            // A field-less constructor is an immediate (or `loadnil`): no allocation.
            return None;
        }
        let k = self.ctor_const(c, args)?;
        if let Some(&(_, g)) = self.consts.iter().find(|(x, _)| *x == k) {
            return Some(g);
        }
        let g = self.mb.add_global("#const", GlobalInit::Const(k.clone()));
        self.consts.push((k, g));
        Some(g)
    }

    /// The constant of a constant application of `c` to `args` (see
    /// [`ObjectGen::shared_ctor`]).
    fn ctor_const(&mut self, c: CtorRef, args: &[TExpr]) -> Option<Const> {
        if self.prog.adt(c.adt).is_struct {
            // Mutable fields: every evaluation must make a new struct.
            return None;
        }
        if c.adt == AdtId::LIST {
            if c.tag == 0 {
                return Some(Const::List(Vec::new()));
            }
            let head = self.const_of(&args[0])?;
            let Const::List(mut tail) = self.const_of(&args[1])? else {
                return None;
            };
            tail.insert(0, head);
            return Some(Const::List(tail));
        }
        let fields = args
            .iter()
            .map(|a| self.const_of(a))
            .collect::<Option<Vec<_>>>()?;
        Some(Const::Data {
            ty: self.type_id(c.adt),
            tag: c.tag,
            fields,
        })
    }

    /// The constant value of `e` when it is a literal or a constant application.
    fn const_of(&mut self, e: &TExpr) -> Option<Const> {
        Some(match &e.kind {
            TExprKind::Lit(l) => match l {
                Lit::I64(v) => Const::I64(*v),
                Lit::U64(v) => Const::U64(*v),
                Lit::F64(v) => Const::F64(v.to_bits()),
                Lit::IBig(v) => Const::Big(hashvm_vm::reify::big_const(v)),
                Lit::Bool(b) => Const::Bool(*b),
                Lit::Char(c) => Const::Char(*c as u32),
                Lit::Str(s) => Const::Str(s.clone()),
                Lit::Unit => Const::Unit,
            },
            TExprKind::Ctor { ctor, args, .. } => self.ctor_const(*ctor, args)?,
            TExprKind::List(es) => Const::List(
                es.iter()
                    .map(|x| self.const_of(x))
                    .collect::<Option<Vec<_>>>()?,
            ),
            _ => return None,
        })
    }

    /// A function that builds constructor `c` from its arguments (a constructor used as
    /// a function value).
    pub(crate) fn ctor_fn(&mut self, c: CtorRef) -> u32 {
        if let Some(&f) = self.ctor_fns.get(&c) {
            return f;
        }
        let decl = self.prog.ctor(c);
        let n = decl.fields.len() as u16;
        let name = decl.name.clone();
        let ty = self.type_id(c.adt);
        let mut fb = FunctionBuilder::new(name, n, 0);
        if c.adt == AdtId::LIST && c.tag == 1 {
            fb.op(
                Op::Cons,
                [Operand::Slot(0), Operand::Slot(0), Operand::Slot(1)],
            );
        } else {
            fb.op(
                Op::Con,
                [
                    Operand::Slot(0),
                    Operand::Type(ty),
                    Operand::U16(c.tag),
                    Operand::Slot(0),
                    Operand::U16(n),
                ],
            );
        }
        fb.op(Op::Ret, [Operand::Slot(0)]);
        let f = self.mb.declare_function(fb.name().to_string());
        self.define(f, Ok(fb));
        self.ctor_fns.insert(c, f);
        f
    }
}
