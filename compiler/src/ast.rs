//! The untyped syntax tree the parser produces: close to the source, names not yet
//! resolved. The checker (`check`) turns it into the typed, resolved tree of `tast`.

use crate::span::Span;

/// A name and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// One parsed source file.
#[derive(Clone, Debug, Default)]
pub struct File {
    /// Its top-level declarations, in source order.
    pub items: Vec<Item>,
    /// Names of top-level declarations that did not parse (their error is reported):
    /// the checker treats their uses as already reported, so that one syntax error does
    /// not cascade into "cannot find" errors.
    pub broken: Vec<String>,
}

/// A top-level declaration `name := ...;`.
#[derive(Clone, Debug)]
pub struct Item {
    /// The declared name.
    pub name: Ident,
    /// What it declares.
    pub kind: ItemKind,
    /// The whole declaration.
    pub span: Span,
}

/// The kinds of top-level declaration.
#[derive(Clone, Debug)]
pub enum ItemKind {
    /// `name [: T] := expr;` (a function when `expr` is a lambda).
    Value {
        /// The annotation, if any.
        ty: Option<TypeExpr>,
        /// The value.
        expr: Expr,
        /// Declared `mut name := ...`: allowed only in a REPL session (a mutable
        /// session variable); the checker rejects it elsewhere.
        mutable: bool,
    },
    /// `Name := [<T, U> =>] struct(...)` or `enum(...)`.
    Type {
        /// Type parameters.
        params: Vec<Ident>,
        /// The definition.
        body: TypeBody,
    },
    /// `name := import("path");`
    Import {
        /// The path as written (no extension).
        path: String,
        /// Where the path string is.
        path_span: Span,
    },
}

/// The right-hand side of a type declaration.
#[derive(Clone, Debug)]
pub enum TypeBody {
    /// `struct(x: T, y: U)`.
    Struct(Vec<(Ident, TypeExpr)>),
    /// `enum(A, B(T, U))`.
    Enum(Vec<Variant>),
}

/// One constructor of an `enum` declaration.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Its name.
    pub name: Ident,
    /// Its field types (positional).
    pub fields: Vec<TypeExpr>,
}

/// A type as written in an annotation.
#[derive(Clone, Debug)]
pub struct TypeExpr {
    /// What it says.
    pub kind: TypeExprKind,
    /// Where.
    pub span: Span,
}

/// The forms of written types.
#[derive(Clone, Debug)]
pub enum TypeExprKind {
    /// `i64`, `Point`, `m.Vec2`, `List<T>`, `Map<K, V>`: a (possibly qualified) name and
    /// type arguments.
    Named(Vec<Ident>, Vec<TypeExpr>),
    /// `(A, B)`; `()` is the unit type.
    Tuple(Vec<TypeExpr>),
    /// `(A, B) -> R`.
    Fn(Vec<TypeExpr>, Box<TypeExpr>),
    /// `_`: a type left to inference.
    Infer,
    /// A type that failed to parse (already reported).
    Error,
}

/// A literal as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// An `i64`.
    I64(i64),
    /// A `u64`.
    U64(u64),
    /// An `f64`.
    F64(f64),
    /// An `ibig`, as decimal digits with an optional leading `-`.
    IBig(String),
    /// A `bool`.
    Bool(bool),
    /// A `char`.
    Char(char),
    /// A `str`.
    Str(String),
    /// `()`.
    Unit,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `-x` (numbers).
    Neg,
    /// `!b` (bool).
    Not,
    /// `~n` (bitwise complement of `i64`/`u64`).
    BitNot,
}

/// Binary operators (`&&` and `||` included; they short-circuit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`: addition (or `str` concatenation).
    Add,
    /// `-`: subtraction.
    Sub,
    /// `*`: multiplication.
    Mul,
    /// `/`: division (truncating on integers).
    Div,
    /// `%`: remainder (sign of the dividend).
    Rem,
    /// `<<`: shift left (count modulo 64).
    Shl,
    /// `>>`: shift right (arithmetic on i64, logical on u64).
    Shr,
    /// `&`: bitwise and.
    BitAnd,
    /// `^`: bitwise exclusive or.
    BitXor,
    /// `|`: bitwise or.
    BitOr,
    /// `==`: structural equality.
    Eq,
    /// `!=`: structural inequality.
    Ne,
    /// `<`: structural less-than.
    Lt,
    /// `<=`: structural less-or-equal.
    Le,
    /// `>`: structural greater-than.
    Gt,
    /// `>=`: structural greater-or-equal.
    Ge,
    /// `&&`: short-circuit and.
    And,
    /// `||`: short-circuit or.
    Or,
}

impl BinOp {
    /// Every operator.
    pub const ALL: [BinOp; 18] = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Rem,
        BinOp::Shl,
        BinOp::Shr,
        BinOp::BitAnd,
        BinOp::BitXor,
        BinOp::BitOr,
        BinOp::Eq,
        BinOp::Ne,
        BinOp::Lt,
        BinOp::Le,
        BinOp::Gt,
        BinOp::Ge,
        BinOp::And,
        BinOp::Or,
    ];

    /// The operator's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::BitAnd => "&",
            BinOp::BitXor => "^",
            BinOp::BitOr => "|",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    /// Whether this is one of `== != < <= > >=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }

    /// Whether this is one of `+ - * / %`.
    pub fn is_arith(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem
        )
    }

    /// Whether this is one of `& | ^ << >>`.
    pub fn is_bit(self) -> bool {
        matches!(
            self,
            BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::Shl | BinOp::Shr
        )
    }
}

/// An expression.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// A block `{ stmts; tail }`.
#[derive(Clone, Debug)]
pub struct Block {
    /// The statements.
    pub stmts: Vec<Stmt>,
    /// The final expression without `;`, whose value is the block's; `()` when absent.
    pub tail: Option<Box<Expr>>,
    /// From `{` to `}`.
    pub span: Span,
}

/// A statement of a block.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// `[mut] pat [: T] := value;`
    Let {
        /// What is bound (a plain name, or an irrefutable pattern).
        pat: Pat,
        /// `mut`.
        mutable: bool,
        /// The annotation.
        ty: Option<TypeExpr>,
        /// The value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
    /// An expression statement (`;`-terminated, or a block-like expression).
    Expr(Expr),
}

/// A lambda parameter `x` or `x: T`.
#[derive(Clone, Debug)]
pub struct Param {
    /// The name.
    pub name: Ident,
    /// The annotation.
    pub ty: Option<TypeExpr>,
}

/// A foreign (C) function's signature, and the arguments of one call of it
/// (`ExprKind::Foreign`).
#[derive(Clone, Debug)]
pub struct ForeignCall {
    /// The shared library, as `dlopen` takes it.
    pub library: String,
    /// The C symbol.
    pub symbol: String,
    /// The parameter types as written (`i32` is allowed here: a C `int`, an `i64` in
    /// Hash).
    pub params: Vec<TypeExpr>,
    /// The result type as written (`()` for `void`).
    pub ret: TypeExpr,
    /// The arguments: the wrapping lambda's parameters.
    pub args: Vec<Expr>,
}

/// A lambda `[<T> =>] (params) [-> R] => body`.
#[derive(Clone, Debug)]
pub struct Lambda {
    /// Type variables named in the annotations (extension: `<T> => (x: T) -> T => x`).
    pub generics: Vec<Ident>,
    /// The parameters.
    pub params: Vec<Param>,
    /// The return annotation.
    pub ret: Option<TypeExpr>,
    /// The body.
    pub body: Box<Expr>,
}

/// A call argument, positional or named (`x = 1.0`, struct construction only).
#[derive(Clone, Debug)]
pub struct Arg {
    /// The field name, for named construction.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// One arm of a `match`.
#[derive(Clone, Debug)]
pub struct Arm {
    /// The pattern.
    pub pat: Pat,
    /// `if cond`.
    pub guard: Option<Expr>,
    /// The body.
    pub body: Expr,
    /// The whole arm.
    pub span: Span,
}

/// What a `for` loop runs over.
#[derive(Clone, Debug)]
pub enum ForIter {
    /// `a..b` or `a..=b`.
    Range {
        /// Start.
        start: Box<Expr>,
        /// End.
        end: Box<Expr>,
        /// `..=`.
        inclusive: bool,
    },
    /// A list or an array.
    Expr(Box<Expr>),
}

/// The forms of expressions.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A literal.
    Lit(Lit),
    /// A name.
    Var(String),
    /// `{ ... }`.
    Block(Block),
    /// `(a, b)` (at least one comma; `(a)` is just `a`).
    Tuple(Vec<Expr>),
    /// `[a, b]`.
    List(Vec<Expr>),
    /// A lambda.
    Lambda(Lambda),
    /// `f(args)`.
    Call(Box<Expr>, Vec<Arg>),
    /// `e.name` or `e.0`.
    Field(Box<Expr>, Ident),
    /// `e[i]`.
    Index(Box<Expr>, Box<Expr>),
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `place = value` or `place op= value`.
    Assign {
        /// The compound operator, if any.
        op: Option<BinOp>,
        /// The place.
        target: Box<Expr>,
        /// The value.
        value: Box<Expr>,
    },
    /// `if c { } else ...`.
    If(Box<Expr>, Block, Option<Box<Expr>>),
    /// `while c { }`.
    While(Box<Expr>, Block),
    /// `for pat in iter { }`.
    For(Pat, ForIter, Block),
    /// `loop { }`.
    Loop(Block),
    /// `break`.
    Break,
    /// `continue`.
    Continue,
    /// `return [e]`.
    Return(Option<Box<Expr>>),
    /// `match e { arms }`.
    Match(Box<Expr>, Vec<Arm>),
    /// `#run e`.
    Run(Box<Expr>),
    /// `#op("mnemonic", args)`.
    Op(Ident, Vec<Expr>),
    /// The body of `#foreign("library", "symbol") (x: T, ...) -> R`, which the parser
    /// turns into a lambda over its parameters: the call of the C function with them.
    Foreign(Box<ForeignCall>),
    /// `_` in expression position (only valid on the left of `:=`).
    Wildcard,
    /// Something that failed to parse (already reported).
    Error,
}

impl ExprKind {
    /// Whether this expression ends with a block, so that as a statement it needs no
    /// `;` (as in Rust).
    pub fn is_block_like(&self) -> bool {
        matches!(
            self,
            ExprKind::Block(_)
                | ExprKind::If(..)
                | ExprKind::While(..)
                | ExprKind::For(..)
                | ExprKind::Loop(_)
                | ExprKind::Match(..)
        )
    }
}

/// A pattern.
#[derive(Clone, Debug)]
pub struct Pat {
    /// What it is.
    pub kind: PatKind,
    /// Where.
    pub span: Span,
}

/// The forms of patterns.
#[derive(Clone, Debug)]
pub enum PatKind {
    /// `_`.
    Wild,
    /// A single name: a binding, or a nullary constructor if one of that name is in
    /// scope (`None`, `Empty`).
    Name(String),
    /// A literal (numbers possibly negative).
    Lit(Lit),
    /// `lo..hi` or `lo..=hi`.
    Range(Lit, Lit, bool),
    /// `(p, q)`; `()` is the unit pattern.
    Tuple(Vec<Pat>),
    /// `A.B.C(p, q)` or a qualified nullary constructor `Shape.Empty` (args `None`),
    /// or `Name(p, q)` with a single segment.
    Ctor(Vec<Ident>, Option<Vec<Pat>>),
    /// `[p, q]` or `[p, ..rest]`: the elements and the rest pattern (`Some(None)` for a
    /// bare `..`).
    List(Vec<Pat>, Option<Option<Box<Pat>>>),
    /// `p | q`.
    Or(Vec<Pat>),
    /// A pattern that failed to parse (already reported).
    Error,
}
