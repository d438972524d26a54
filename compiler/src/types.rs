//! Types of Hash programs (LANGUAGE.md §2), as the checker infers them and as the typed
//! program ([`crate::tast`]) records them.
//!
//! One representation serves both: during inference a [`Type::Var`] is a unification
//! variable; in the finished typed program every variable has been substituted away
//! except those that are genuinely polymorphic (the quantified variables of a generic
//! function's [`Scheme`], or a type nothing constrains). The code generator can treat
//! any remaining variable as "some value": the machine is dynamically tagged.

use crate::span::Span;
use std::collections::HashMap;
use std::fmt::Write as _;

/// A type variable. Ids are unique across the whole program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TyVar(pub u32);

/// The primitive types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prim {
    /// 64-bit signed, wrapping.
    I64,
    /// 64-bit unsigned, wrapping.
    U64,
    /// IEEE double.
    F64,
    /// Arbitrary-precision integer.
    IBig,
    /// Exact rational.
    Ratio,
    /// `true` / `false`.
    Bool,
    /// A Unicode scalar value.
    Char,
    /// Immutable UTF-8 string.
    Str,
    /// An opaque C pointer, from and for foreign functions (`#foreign`).
    Ptr,
}

impl Prim {
    /// The type's name in Hash syntax.
    pub fn name(self) -> &'static str {
        match self {
            Prim::I64 => "i64",
            Prim::U64 => "u64",
            Prim::F64 => "f64",
            Prim::IBig => "ibig",
            Prim::Ratio => "ratio",
            Prim::Bool => "bool",
            Prim::Char => "char",
            Prim::Str => "str",
            Prim::Ptr => "ptr",
        }
    }

    /// The primitive named `name`, if any.
    pub fn from_name(name: &str) -> Option<Prim> {
        Some(match name {
            "i64" => Prim::I64,
            "u64" => Prim::U64,
            "f64" => Prim::F64,
            "ibig" => Prim::IBig,
            "ratio" => Prim::Ratio,
            "bool" => Prim::Bool,
            "char" => Prim::Char,
            "str" => Prim::Str,
            "ptr" => Prim::Ptr,
            _ => return None,
        })
    }

    /// Bit of this primitive in a numeric-class mask (see [`NumClass`]).
    pub fn class_bit(self) -> u8 {
        match self {
            Prim::I64 => 1,
            Prim::U64 => 2,
            Prim::F64 => 4,
            Prim::IBig => 8,
            Prim::Ratio => 16,
            Prim::Str => 32,
            Prim::Bool | Prim::Char | Prim::Ptr => 0,
        }
    }
}

/// Which primitive types an operator accepts, as a bit mask over
/// [`Prim::class_bit`]. Inference attaches a class to a type variable that an operator
/// constrains (`n * n`); a variable still undetermined when its binding is generalised
/// defaults to `i64` (every class includes `i64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NumClass(pub u8);

impl NumClass {
    /// `+ - * / %` and unary `-`: `i64 u64 f64 ibig ratio`.
    pub const NUM: NumClass = NumClass(1 | 2 | 4 | 8 | 16);
    /// `+`: the numbers and `str`.
    pub const NUM_OR_STR: NumClass = NumClass(1 | 2 | 4 | 8 | 16 | 32);
    /// `& | ^ << >> ~`: `i64 u64`.
    pub const BITS: NumClass = NumClass(1 | 2);

    /// The class of operand types an arithmetic or bitwise operator accepts (`None`
    /// for comparisons, which take any type, and for `&&`/`||`, which take `bool`).
    /// The checker enforces it and the code generator's instruction table is tested
    /// against it.
    pub fn of_binop(op: crate::ast::BinOp) -> Option<NumClass> {
        use crate::ast::BinOp::*;
        match op {
            Add => Some(NumClass::NUM_OR_STR),
            Sub | Mul | Div | Rem => Some(NumClass::NUM),
            BitAnd | BitOr | BitXor | Shl | Shr => Some(NumClass::BITS),
            Eq | Ne | Lt | Le | Gt | Ge | And | Or => None,
        }
    }

    /// Whether `p` is in the class.
    pub fn allows(self, p: Prim) -> bool {
        self.0 & p.class_bit() != 0
    }

    /// The intersection.
    pub fn meet(self, other: NumClass) -> NumClass {
        NumClass(self.0 & other.0)
    }

    /// A description for error messages.
    pub fn describe(self) -> &'static str {
        if self == NumClass::BITS {
            "an integer type (`i64` or `u64`)"
        } else if self == NumClass::NUM_OR_STR {
            "a number type or `str`"
        } else {
            "a number type (`i64`, `u64`, `f64`, `ibig` or `ratio`)"
        }
    }
}

/// Identifies a data type (enum or struct): an index into
/// [`crate::tast::TypedProgram::adts`]. The builtin types come first, at fixed ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AdtId(pub u32);

impl AdtId {
    /// `List<T>`: constructors `Nil` (tag 0), `Cons(T, List<T>)` (tag 1).
    pub const LIST: AdtId = AdtId(0);
    /// `Option<T>`: `None` (0), `Some(T)` (1).
    pub const OPTION: AdtId = AdtId(1);
    /// `Result<T, E>`: `Ok(T)` (0), `Err(E)` (1).
    pub const RESULT: AdtId = AdtId(2);
    /// Number of builtin data types (user types start here).
    pub const FIRST_USER: u32 = 3;
}

/// A type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// A type variable (see the module documentation).
    Var(TyVar),
    /// A primitive.
    Prim(Prim),
    /// A tuple; the empty tuple is the unit type `()`.
    Tuple(Vec<Type>),
    /// A function `(A, B) -> R`.
    Fn(Vec<Type>, Box<Type>),
    /// `Array<T>`.
    Array(Box<Type>),
    /// A data type applied to its type arguments: `List<i64>`, `Shape`, `Map<str, i64>`.
    Adt(AdtId, Vec<Type>),
}

impl Type {
    /// The unit type `()`.
    pub fn unit() -> Type {
        Type::Tuple(Vec::new())
    }

    /// `i64`.
    pub fn i64() -> Type {
        Type::Prim(Prim::I64)
    }

    /// `bool`.
    pub fn bool() -> Type {
        Type::Prim(Prim::Bool)
    }

    /// `str`.
    pub fn str() -> Type {
        Type::Prim(Prim::Str)
    }

    /// `List<t>`.
    pub fn list(t: Type) -> Type {
        Type::Adt(AdtId::LIST, vec![t])
    }

    /// `Option<t>`.
    pub fn option(t: Type) -> Type {
        Type::Adt(AdtId::OPTION, vec![t])
    }

    /// Whether this is `()`.
    pub fn is_unit(&self) -> bool {
        matches!(self, Type::Tuple(v) if v.is_empty())
    }

    /// The primitive, if this is one.
    pub fn prim(&self) -> Option<Prim> {
        match self {
            Type::Prim(p) => Some(*p),
            _ => None,
        }
    }

    /// Replaces the variables of `subst` (e.g. a data type's parameters by its
    /// arguments, or a scheme's variables by fresh ones).
    pub fn subst(&self, subst: &HashMap<TyVar, Type>) -> Type {
        match self {
            Type::Var(v) => subst.get(v).cloned().unwrap_or(Type::Var(*v)),
            Type::Prim(p) => Type::Prim(*p),
            Type::Tuple(ts) => Type::Tuple(ts.iter().map(|t| t.subst(subst)).collect()),
            Type::Fn(ps, r) => Type::Fn(
                ps.iter().map(|t| t.subst(subst)).collect(),
                Box::new(r.subst(subst)),
            ),
            Type::Array(t) => Type::Array(Box::new(t.subst(subst))),
            Type::Adt(a, ts) => Type::Adt(*a, ts.iter().map(|t| t.subst(subst)).collect()),
        }
    }

    /// Adds the variables occurring in this type to `out` (in order of first occurrence).
    pub fn free_vars(&self, out: &mut Vec<TyVar>) {
        match self {
            Type::Var(v) => {
                if !out.contains(v) {
                    out.push(*v)
                }
            }
            Type::Prim(_) => {}
            Type::Tuple(ts) | Type::Adt(_, ts) => ts.iter().for_each(|t| t.free_vars(out)),
            Type::Fn(ps, r) => {
                ps.iter().for_each(|t| t.free_vars(out));
                r.free_vars(out)
            }
            Type::Array(t) => t.free_vars(out),
        }
    }
}

/// A possibly polymorphic type: `forall vars. ty`. Monomorphic types have no `vars`.
#[derive(Clone, Debug, PartialEq)]
pub struct Scheme {
    /// The quantified variables.
    pub vars: Vec<TyVar>,
    /// The type.
    pub ty: Type,
}

impl Scheme {
    /// A monomorphic scheme.
    pub fn mono(ty: Type) -> Scheme {
        Scheme {
            vars: Vec::new(),
            ty,
        }
    }
}

/// One constructor of a data type.
#[derive(Clone, Debug, PartialEq)]
pub struct CtorDecl {
    /// Its name (`Some`, `Circle`; a struct's one constructor has the struct's name).
    pub name: String,
    /// Field types, in terms of the data type's [`AdtDecl::params`].
    pub fields: Vec<Type>,
    /// Field names: the struct's field names, or empty for an enum constructor.
    pub field_names: Vec<String>,
}

/// A data type: a builtin (`List`, `Option`, `Result`), a `struct` (one constructor
/// with named fields) or an `enum`.
#[derive(Clone, Debug, PartialEq)]
pub struct AdtDecl {
    /// The type's name.
    pub name: String,
    /// The module that declares it; `None` for the builtin types.
    pub module: Option<crate::tast::ModuleId>,
    /// Where it is declared (a default span for the builtins).
    pub span: Span,
    /// The type parameters, as the variables the constructor field types use.
    pub params: Vec<TyVar>,
    /// The parameters' names as written (`T`, `K`).
    pub param_names: Vec<String>,
    /// Whether it was declared with `struct(...)`.
    pub is_struct: bool,
    /// The constructors, in declaration order: the constructor's index in this vector
    /// is its tag.
    pub ctors: Vec<CtorDecl>,
    /// For the builtins, the machine's builtin type id (`hashvm_format::builtin`):
    /// List 0, Option 1, Result 2.
    pub builtin_type_id: Option<u32>,
    /// Whether the name is exported (does not start with `_`).
    pub exported: bool,
}

impl AdtDecl {
    /// The declarations of the builtin types, in [`AdtId`] order.
    pub fn builtins(first_var: u32) -> Vec<AdtDecl> {
        let t = TyVar(first_var);
        let e = TyVar(first_var + 1);
        let tv = Type::Var(t);
        let mk =
            |name: &str, params: Vec<TyVar>, names: Vec<&str>, ctors: Vec<CtorDecl>, id: u32| {
                AdtDecl {
                    name: name.to_string(),
                    module: None,
                    span: Span::default(),
                    params,
                    param_names: names.into_iter().map(String::from).collect(),
                    is_struct: false,
                    ctors,
                    builtin_type_id: Some(id),
                    exported: true,
                }
            };
        let c = |name: &str, fields: Vec<Type>| CtorDecl {
            name: name.to_string(),
            fields,
            field_names: Vec::new(),
        };
        vec![
            mk(
                "List",
                vec![t],
                vec!["T"],
                vec![
                    c("Nil", vec![]),
                    c(
                        "Cons",
                        vec![tv.clone(), Type::Adt(AdtId::LIST, vec![tv.clone()])],
                    ),
                ],
                0,
            ),
            mk(
                "Option",
                vec![t],
                vec!["T"],
                vec![c("None", vec![]), c("Some", vec![tv.clone()])],
                1,
            ),
            mk(
                "Result",
                vec![t, e],
                vec!["T", "E"],
                vec![c("Ok", vec![tv.clone()]), c("Err", vec![Type::Var(e)])],
                2,
            ),
        ]
    }

    /// The field types of constructor `tag` for the type applied to `args`.
    pub fn ctor_fields(&self, tag: usize, args: &[Type]) -> Vec<Type> {
        let subst: HashMap<TyVar, Type> = self
            .params
            .iter()
            .copied()
            .zip(args.iter().cloned())
            .collect();
        self.ctors
            .get(tag)
            .map(|c| c.fields.iter().map(|f| f.subst(&subst)).collect())
            .unwrap_or_default()
    }
}

/// Prints types in Hash syntax (`List<i64>`, `(i64, str) -> bool`), naming variables
/// `a`, `b`, ... consistently for as long as the printer lives, so that the expected and
/// found types of one message agree.
#[derive(Default)]
pub struct TypePrinter {
    names: HashMap<TyVar, String>,
}

impl TypePrinter {
    /// A fresh printer.
    pub fn new() -> TypePrinter {
        TypePrinter::default()
    }

    fn var_name(&mut self, v: TyVar) -> String {
        let n = self.names.len();
        self.names
            .entry(v)
            .or_insert_with(|| {
                let letter = (b'a' + (n % 26) as u8) as char;
                if n < 26 {
                    letter.to_string()
                } else {
                    format!("{letter}{}", n / 26)
                }
            })
            .clone()
    }

    /// Prints `t`, looking data type names up in `adts`.
    pub fn print(&mut self, t: &Type, adts: &[AdtDecl]) -> String {
        let mut s = String::new();
        self.write(&mut s, t, adts);
        s
    }

    fn write(&mut self, s: &mut String, t: &Type, adts: &[AdtDecl]) {
        match t {
            Type::Var(v) => {
                let n = self.var_name(*v);
                s.push_str(&n)
            }
            Type::Prim(p) => s.push_str(p.name()),
            Type::Tuple(ts) => {
                s.push('(');
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    self.write(s, t, adts);
                }
                if ts.len() == 1 {
                    s.push(',');
                }
                s.push(')');
            }
            Type::Fn(ps, r) => {
                s.push('(');
                for (i, t) in ps.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    self.write(s, t, adts);
                }
                s.push_str(") -> ");
                self.write(s, r, adts);
            }
            Type::Array(t) => {
                s.push_str("Array<");
                self.write(s, t, adts);
                s.push('>');
            }
            Type::Adt(a, ts) => {
                let name = adts
                    .get(a.0 as usize)
                    .map(|d| d.name.as_str())
                    .unwrap_or("?");
                let _ = write!(s, "{name}");
                if !ts.is_empty() {
                    s.push('<');
                    for (i, t) in ts.iter().enumerate() {
                        if i > 0 {
                            s.push_str(", ");
                        }
                        self.write(s, t, adts);
                    }
                    s.push('>');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_in_hash_syntax() {
        let adts = AdtDecl::builtins(1000);
        let mut p = TypePrinter::new();
        let t = Type::Fn(
            vec![Type::list(Type::i64()), Type::Var(TyVar(7))],
            Box::new(Type::Tuple(vec![Type::str(), Type::Var(TyVar(7))])),
        );
        assert_eq!(p.print(&t, &adts), "(List<i64>, a) -> (str, a)");
        assert_eq!(p.print(&Type::unit(), &adts), "()");
        assert_eq!(
            p.print(
                &Type::Array(Box::new(Type::option(Type::Var(TyVar(8))))),
                &adts
            ),
            "Array<Option<b>>"
        );
    }
}
