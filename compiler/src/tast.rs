//! The typed, resolved program: the interface between the front end and the code
//! generator.
//!
//! # What the front end guarantees
//!
//! A [`TypedProgram`] is only produced when checking found no error, and then:
//!
//! - **Every expression has its final type** ([`TExpr::ty`]): inference variables are
//!   substituted, operands of arithmetic that inference left open are defaulted to
//!   `i64`. A [`Type::Var`] that remains is genuinely polymorphic (a quantified variable
//!   of a generic function, or a type nothing constrains, e.g. the element type of an
//!   unused `[]`); the machine is dynamically tagged, so it needs no special code.
//! - **Every name is resolved** ([`VarRef`]): a local variable by its unique
//!   [`LocalId`] (with [`LocalInfo`] telling whether it is `mut` and whether a closure
//!   captures it), a top-level item by [`ItemRef`] (module and index), a constructor by
//!   [`CtorRef`] (data type and tag). Modules and type names have disappeared: `m.f` is
//!   an [`ItemRef`] into module `m`, `Shape.Circle(2.0)` a [`TExprKind::Ctor`].
//! - **Closures list their free variables** ([`TLambda::captures`]), in first-use
//!   order; a closure bound to a local and calling itself records that local in
//!   [`TLambda::self_local`].
//! - **Patterns are resolved to constructor tags**; list patterns `[a, ..rest]` are
//!   desugared to `Cons`/`Nil` constructor patterns of [`AdtId::LIST`]; struct patterns
//!   are the struct's single constructor (tag 0).
//! - **Field accesses are field indices** ([`TExprKind::Field`]): struct fields by
//!   declaration order, tuple fields by position. Named constructor arguments
//!   (`Point(y = 2.0, x = 1.0)`) are reordered to positional ([`TExprKind::Ctor`]
//!   always has its fields in declaration order; the evaluation order of the written
//!   arguments is kept in [`TExprKind::Ctor::eval_order`]).
//! - **`for` loops, compound assignments, `&&`/`||`, `#run` and `#op` stay explicit**;
//!   lowering them is the code generator's job.
//! - **Matches are exhaustive** (the checker rejected any that is not), so a
//!   `matchfail` at the end of a decision tree is unreachable in practice.
//! - **Top-level items of each module are in source order**, which is the order in
//!   which non-function values are initialised; [`TModule::init_order`] lists the
//!   value items that need an initialiser, in that order. [`TypedProgram::modules`]
//!   lists modules so that every module comes after the modules it uses (initialise
//!   them in that order), the root last.
//!
//! # Representation notes for the code generator
//!
//! - The builtin data types `List`, `Option` and `Result` are [`AdtId::LIST`],
//!   [`AdtId::OPTION`], [`AdtId::RESULT`]; their [`AdtDecl::builtin_type_id`] is the
//!   machine's builtin type id (List 0, Option 1, Result 2), with the constructor order
//!   of `hashvm_format::builtin`. Tuples are [`Type::Tuple`] (machine type 3). A
//!   `Cons(h, t)` construction should become the `cons` instruction, `Nil` `loadnil`.
//! - User data types are [`AdtDecl`]s with `module: Some(m)`; give each module a type
//!   table of the types it declares ([`TModule::adts`]) and import the others.
//! - A `mut` local that some closure captures ([`LocalInfo::captured`] and
//!   [`LocalInfo::mutable`]) must live in a shared cell (`refnew`/`refget`/`refset`),
//!   since the closure and its scope share it. Immutable captured locals are captured
//!   by value.
//! - Tail calls are not marked: a call is in tail position when it is the body of a
//!   lambda, the tail of a block in tail position, a branch of an `if`/`match` in tail
//!   position, or the operand of `return`.

use crate::span::{SourceMap, Span};
pub use crate::types::{AdtDecl, AdtId, CtorDecl, Prim, Scheme, TyVar, Type};
use std::path::PathBuf;

/// Identifies a module (one source file): an index into [`TypedProgram::modules_by_id`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub u32);

/// Identifies a local variable (a `let`, a parameter, a pattern binding, a `for`
/// variable): an index into [`TypedProgram::locals`]. Unique across the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalId(pub u32);

/// A top-level item: the `index`-th declaration of module `module`
/// (an index into [`TModule::items`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemRef {
    /// The module.
    pub module: ModuleId,
    /// The item's index in the module's item list.
    pub index: u32,
}

/// A constructor: the data type and the constructor's tag (its index in
/// [`AdtDecl::ctors`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CtorRef {
    /// The data type.
    pub adt: AdtId,
    /// The tag.
    pub tag: u16,
}

/// The whole checked program.
#[derive(Clone, Debug)]
pub struct TypedProgram {
    /// All source files (for line tables and messages).
    pub sources: SourceMap,
    /// The modules, indexed by [`ModuleId`].
    pub modules_by_id: Vec<TModule>,
    /// The modules in initialisation order: each after every module it uses; the root
    /// module last. (The prelude and the standard-library modules the program uses
    /// are included.)
    pub modules: Vec<ModuleId>,
    /// The root module (the file given to the compiler).
    pub root: ModuleId,
    /// The prelude module (`print`, `println`, `to_str`, ...), always present.
    pub prelude: ModuleId,
    /// Every data type of the program, indexed by [`AdtId`]; the builtins first.
    pub adts: Vec<AdtDecl>,
    /// Every local variable of the program, indexed by [`LocalId`].
    pub locals: Vec<LocalInfo>,
    /// The root module's `main`, if it has one (an executable needs one).
    pub main: Option<ItemRef>,
    /// Whether `main` returns `i64` (its result is the exit status) rather than `()`.
    pub main_returns_i64: bool,
}

impl TypedProgram {
    /// A program with no modules that only carries `sources`: what a failed check
    /// returns through [`crate::check_path`], so that its diagnostics can be rendered.
    /// Its `root`, `prelude` and `modules` name nothing; do not compile it.
    pub fn sources_only(sources: SourceMap) -> TypedProgram {
        TypedProgram {
            sources,
            modules_by_id: Vec::new(),
            modules: Vec::new(),
            root: ModuleId(0),
            prelude: ModuleId(0),
            adts: Vec::new(),
            locals: Vec::new(),
            main: None,
            main_returns_i64: false,
        }
    }

    /// The module with id `id`.
    pub fn module(&self, id: ModuleId) -> &TModule {
        &self.modules_by_id[id.0 as usize]
    }

    /// The item `r`.
    pub fn item(&self, r: ItemRef) -> &TItem {
        &self.modules_by_id[r.module.0 as usize].items[r.index as usize]
    }

    /// The data type `id`.
    pub fn adt(&self, id: AdtId) -> &AdtDecl {
        &self.adts[id.0 as usize]
    }

    /// The constructor `c`.
    pub fn ctor(&self, c: CtorRef) -> &CtorDecl {
        &self.adts[c.adt.0 as usize].ctors[c.tag as usize]
    }

    /// The local `id`.
    pub fn local(&self, id: LocalId) -> &LocalInfo {
        &self.locals[id.0 as usize]
    }
}

/// Where a module's source came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    /// A file of the program (the root or an import).
    User,
    /// A module of the bundled standard library, by name (`list`, `map`, ...).
    Stdlib(String),
    /// The bundled prelude.
    Prelude,
    /// One input (or `:load`ed file) of a live REPL session, with its module key: its
    /// top-level names are visible unqualified in later session modules, the newest
    /// first (see [`crate::modgraph::SessionFile`]).
    Session(String),
}

/// One module (source file).
#[derive(Clone, Debug)]
pub struct TModule {
    /// Its id.
    pub id: ModuleId,
    /// Its display name (the path as the user or importer spelled it, or
    /// `<stdlib>/NAME.hash`).
    pub name: String,
    /// The path it was loaded from.
    pub path: PathBuf,
    /// The source file.
    pub file: crate::span::FileId,
    /// User file, standard-library module or prelude.
    pub kind: ModuleKind,
    /// Its top-level declarations, in source order (indexed by [`ItemRef::index`]).
    pub items: Vec<TItem>,
    /// The value items (not functions, types or imports) in initialisation order
    /// (= source order): each needs its initialiser run once before `main`.
    pub init_order: Vec<u32>,
    /// The data types it declares.
    pub adts: Vec<AdtId>,
    /// The modules it uses (imports and standard-library modules named in it, and the
    /// prelude), without duplicates.
    pub deps: Vec<ModuleId>,
}

/// A top-level declaration.
#[derive(Clone, Debug)]
pub struct TItem {
    /// The declared name.
    pub name: String,
    /// The declaration's span (the name's span for messages).
    pub span: Span,
    /// Whether other modules may use it (its name does not start with `_`).
    pub exported: bool,
    /// What it is.
    pub kind: TItemKind,
}

/// The kinds of top-level declaration.
#[derive(Clone, Debug)]
pub enum TItemKind {
    /// `name := (params) => body;`: a function. Top-level functions capture nothing
    /// (their `captures` is empty: other items are referenced by [`VarRef::Item`]) and
    /// need no initialiser; they may be referenced before any initialiser runs.
    Function {
        /// The function (its `name` is the item's name).
        lambda: TLambda,
        /// Its type (generalised: the scheme's variables are its type parameters).
        scheme: Scheme,
    },
    /// `name := expr;` where `expr` is not a lambda: evaluated once, in source order,
    /// before `main` (`#run expr` included: that one is evaluated by the compiler).
    Value {
        /// The initialiser.
        expr: TExpr,
        /// Its type (generalised only when `expr` is a syntactic value).
        scheme: Scheme,
    },
    /// `Name := struct(...)` / `enum(...)`.
    Type(AdtId),
    /// `name := import("path")`.
    Import(ModuleId),
}

/// A local variable.
#[derive(Clone, Debug)]
pub struct LocalInfo {
    /// Its name as written (`_` for a wildcard parameter).
    pub name: String,
    /// Where it is bound.
    pub span: Span,
    /// Declared `mut`.
    pub mutable: bool,
    /// Referenced from inside a closure other than the one (or the item) that binds it.
    pub captured: bool,
    /// Its type. For a let-polymorphic local (`id := (x) => x;`) this is the generic
    /// type, its variables quantified; each use has its own instance as the type of
    /// the [`TExprKind::Var`] expression.
    pub ty: Type,
}

/// A reference to a value by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VarRef {
    /// A local variable.
    Local(LocalId),
    /// A top-level item (function or value) of some module.
    Item(ItemRef),
}

/// A literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// `i64`.
    I64(i64),
    /// `u64`.
    U64(u64),
    /// `f64`.
    F64(f64),
    /// `ibig`.
    IBig(rug::Integer),
    /// `bool`.
    Bool(bool),
    /// `char`.
    Char(char),
    /// `str`.
    Str(String),
    /// `()`.
    Unit,
}

pub use crate::ast::{BinOp, UnOp};

/// A typed expression.
#[derive(Clone, Debug)]
pub struct TExpr {
    /// What it computes.
    pub kind: TExprKind,
    /// Its type.
    pub ty: Type,
    /// Where it is in the source.
    pub span: Span,
}

/// A block.
#[derive(Clone, Debug)]
pub struct TBlock {
    /// The statements, in order.
    pub stmts: Vec<TStmt>,
    /// The final expression, whose value is the block's; `None` means `()`.
    pub tail: Option<Box<TExpr>>,
}

/// A statement.
#[derive(Clone, Debug)]
pub enum TStmt {
    /// `pat := value;` (`pat` is irrefutable: a binding, `_`, tuples, structs...).
    Let {
        /// What is bound.
        pat: TPat,
        /// The value.
        value: TExpr,
    },
    /// An expression evaluated for its effect.
    Expr(TExpr),
}

/// A function value: a top-level function or a closure.
#[derive(Clone, Debug)]
pub struct TLambda {
    /// The name for `<fn NAME>` and stack traces: the item or local it is bound to,
    /// else `None` (anonymous).
    pub name: Option<String>,
    /// The parameters, one local each (their types are the function's parameter types).
    pub params: Vec<LocalId>,
    /// The body.
    pub body: Box<TExpr>,
    /// The free local variables of the body (defined outside this lambda), in order of
    /// first use; a closure value carries one capture per entry. `self_local`, if any,
    /// is among them.
    pub captures: Vec<LocalId>,
    /// When the lambda is the value of `name := (...) => ...` and its body refers to
    /// `name` (a local recursive closure), the local `name`: the closure captures
    /// itself (for instance through `setenv` after `closure`).
    pub self_local: Option<LocalId>,
    /// The parameter types.
    pub param_tys: Vec<Type>,
    /// The result type.
    pub ret_ty: Type,
    /// The whole lambda.
    pub span: Span,
}

/// What a `for` loop iterates over.
#[derive(Clone, Debug)]
pub enum TForIter {
    /// `start..end` or `start..=end` over `i64`.
    Range {
        /// Start (evaluated once, first).
        start: Box<TExpr>,
        /// End (evaluated once, before the first iteration).
        end: Box<TExpr>,
        /// Whether `end` is included.
        inclusive: bool,
    },
    /// The elements of a `List<T>`, in order.
    List(Box<TExpr>),
    /// The elements of an `Array<T>`, by index from 0 while the index is below the
    /// array's length.
    Array(Box<TExpr>),
}

/// The target of an assignment.
#[derive(Clone, Debug)]
pub enum TPlace {
    /// A `mut` local.
    Local(LocalId),
    /// A `mut` top-level value (a REPL session variable).
    Item(ItemRef),
    /// Field `index` of a struct (or tuple) value.
    Field {
        /// The struct or tuple.
        base: Box<TExpr>,
        /// The field's index.
        index: u32,
    },
    /// An element of an array.
    Index {
        /// The array.
        base: Box<TExpr>,
        /// The index (`i64`).
        index: Box<TExpr>,
    },
}

/// A match arm.
#[derive(Clone, Debug)]
pub struct TArm {
    /// The pattern.
    pub pat: TPat,
    /// The guard, if any (`bool`).
    pub guard: Option<TExpr>,
    /// The body.
    pub body: TExpr,
}

/// The forms of typed expressions.
#[derive(Clone, Debug)]
pub enum TExprKind {
    /// A literal.
    Lit(Lit),
    /// A local variable or a top-level item.
    Var(VarRef),
    /// A constructor applied to all its fields (a nullary one to none): enum values,
    /// struct values, `Some(x)`, `Cons(h, t)`, `None`, `Nil`.
    Ctor {
        /// Which constructor.
        ctor: CtorRef,
        /// The fields, in declaration order.
        args: Vec<TExpr>,
        /// The order in which to evaluate `args` (indices into `args`): the order they
        /// were written, which differs from `0..n` only for named construction.
        eval_order: Vec<u32>,
    },
    /// A constructor with fields used as a function value (`list.map(xs, Some)`): a
    /// function of the constructor's fields.
    CtorFn(CtorRef),
    /// A tuple (at least one element; `()` is [`Lit::Unit`]).
    Tuple(Vec<TExpr>),
    /// A list literal `[a, b]` (build with `loadnil` and `cons` from the end, after
    /// evaluating the elements left to right).
    List(Vec<TExpr>),
    /// A lambda (a closure if `captures` is non-empty).
    Lambda(Box<TLambda>),
    /// A call of a function value with exactly as many arguments as it takes. When
    /// `callee` is a [`VarRef::Item`] of a [`TItemKind::Function`], the callee is known
    /// statically.
    Call {
        /// The function.
        callee: Box<TExpr>,
        /// The arguments, evaluated left to right after the callee.
        args: Vec<TExpr>,
    },
    /// Field `index` of a struct (`base.ty` is a struct type) or of a tuple (`base.ty`
    /// is a tuple type).
    Field {
        /// The struct or tuple.
        base: Box<TExpr>,
        /// The field's index.
        index: u32,
        /// The field's name as written (`x`, or `0` for a tuple).
        name: String,
    },
    /// `base[index]` on an `Array<T>`.
    Index {
        /// The array.
        base: Box<TExpr>,
        /// The index (`i64`).
        index: Box<TExpr>,
    },
    /// `-x`, `!b`, `~n`. The operand's type is `operand.ty` (a number for `-`, `bool`
    /// for `!`, `i64`/`u64` for `~`).
    Unary {
        /// The operator.
        op: UnOp,
        /// The operand.
        operand: Box<TExpr>,
    },
    /// A binary operator other than `&&`/`||`. Both operands have type `operand_ty`:
    /// for `+ - * / %` one of `i64 u64 f64 ibig ratio` (or `str` for `+`, meaning
    /// concatenation), for `& | ^ << >>` `i64` or `u64`, for comparisons any type
    /// (structural comparison; use the typed instructions when it is a primitive).
    Binary {
        /// The operator.
        op: BinOp,
        /// The operands' type.
        operand_ty: Type,
        /// Left operand (evaluated first).
        lhs: Box<TExpr>,
        /// Right operand.
        rhs: Box<TExpr>,
    },
    /// `lhs && rhs` (`rhs` evaluated only if `lhs` is true).
    And(Box<TExpr>, Box<TExpr>),
    /// `lhs || rhs` (`rhs` evaluated only if `lhs` is false).
    Or(Box<TExpr>, Box<TExpr>),
    /// `place = value` or `place op= value` (type `()`). For a compound assignment the
    /// operator applies to `operand_ty` as in [`TExprKind::Binary`]; the place's base
    /// and index are evaluated once.
    Assign {
        /// The target.
        place: TPlace,
        /// The compound operator (`+=` is `Some(Add)`), or `None` for `=`.
        op: Option<BinOp>,
        /// The type of the place (and of the value).
        operand_ty: Type,
        /// The value.
        value: Box<TExpr>,
    },
    /// A block.
    Block(TBlock),
    /// `if cond { then } else { els }`; without `else`, `els` is `None` and the type
    /// is `()`.
    If {
        /// The condition (`bool`).
        cond: Box<TExpr>,
        /// The then branch.
        then: Box<TExpr>,
        /// The else branch.
        els: Option<Box<TExpr>>,
    },
    /// `while cond { body }` (type `()`).
    While {
        /// The condition.
        cond: Box<TExpr>,
        /// The body.
        body: Box<TExpr>,
    },
    /// `for pat in iter { body }` (type `()`); `continue` goes to the next element.
    For {
        /// The loop variable's pattern (irrefutable; usually a single binding).
        pat: TPat,
        /// What to iterate over.
        iter: TForIter,
        /// The body.
        body: Box<TExpr>,
    },
    /// `loop { body }`: type `()` when a `break` leaves it, else it never finishes
    /// normally and its type is unconstrained.
    Loop {
        /// The body.
        body: Box<TExpr>,
    },
    /// `break` out of the innermost loop.
    Break,
    /// `continue` with the innermost loop's next iteration.
    Continue,
    /// `return value` from the innermost lambda (`value` is `None` for `return` alone,
    /// which returns `()`).
    Return(Option<Box<TExpr>>),
    /// `match scrutinee { arms }`: the first arm whose pattern matches and whose guard
    /// holds is taken.
    Match {
        /// The value matched on (evaluated once).
        scrutinee: Box<TExpr>,
        /// The arms, in order.
        arms: Vec<TArm>,
    },
    /// `#run expr`: evaluate `expr` at compile time and use its value as a constant.
    Run(Box<TExpr>),
    /// `#op("mnemonic", args)`: the machine instruction `op`, whose `Src` operands are
    /// the `args` (evaluated left to right) and whose `Dst` operand, if it has one, is
    /// the expression's value. An instruction without a `Dst` produces `()` (or never
    /// returns, like `panic` and `io.exit`).
    Op {
        /// The instruction.
        op: hashvm_format::Op,
        /// Its source operands.
        args: Vec<TExpr>,
    },
    /// A call of a foreign (C) function (`#foreign`): `ffi.call`.
    Foreign {
        /// The declaration, as the SYMB section stores it.
        decl: hashvm_format::Foreign,
        /// The arguments, one per parameter.
        args: Vec<TExpr>,
    },
}

/// A typed pattern.
#[derive(Clone, Debug)]
pub struct TPat {
    /// What it matches.
    pub kind: TPatKind,
    /// The type of the values it matches.
    pub ty: Type,
    /// Where.
    pub span: Span,
}

/// The forms of typed patterns.
#[derive(Clone, Debug)]
pub enum TPatKind {
    /// `_`: matches anything, binds nothing.
    Wild,
    /// A variable: matches anything and binds it.
    Bind(LocalId),
    /// A literal of type `i64`, `u64`, `char`, `str` or `bool` (compare with `==`).
    Lit(Lit),
    /// An inclusive range `lo..=hi` of `i64` or `char` (`lo..hi` is stored as
    /// `lo..=hi-1`); `lo <= hi`.
    Range {
        /// Lowest value matched.
        lo: Lit,
        /// Highest value matched.
        hi: Lit,
    },
    /// A tuple of patterns (the unit pattern `()` is an empty tuple).
    Tuple(Vec<TPat>),
    /// A constructor with a pattern per field (in declaration order). Also struct
    /// patterns (tag 0) and list patterns (`Nil` tag 0, `Cons(head, tail)` tag 1 of
    /// [`AdtId::LIST`]).
    Ctor {
        /// Which constructor.
        ctor: CtorRef,
        /// One pattern per field.
        args: Vec<TPat>,
    },
    /// `p | q | ...`: matches if any alternative matches. Every alternative binds the
    /// same variables, with the same [`LocalId`]s.
    Or(Vec<TPat>),
}

impl TPat {
    /// The locals the pattern binds, in order of appearance (for an or-pattern, those
    /// of its first alternative).
    pub fn bindings(&self, out: &mut Vec<LocalId>) {
        match &self.kind {
            TPatKind::Bind(l) => out.push(*l),
            TPatKind::Tuple(ps) | TPatKind::Ctor { args: ps, .. } => {
                ps.iter().for_each(|p| p.bindings(out))
            }
            TPatKind::Or(alts) => {
                if let Some(a) = alts.first() {
                    a.bindings(out)
                }
            }
            TPatKind::Wild | TPatKind::Lit(_) | TPatKind::Range { .. } => {}
        }
    }
}
