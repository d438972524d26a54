//! The in-memory form of a `.hbc` file: what the reader produces, the writer consumes,
//! the builder API fills in, the assembler and disassembler print, and the linker merges.

use crate::bignum::{BigInt, BigRatio};

/// Type ids below this are the machine's builtin types (see [`builtin`]); the `i`-th
/// entry of a module's type table has id `FIRST_USER_TYPE + i`.
pub const FIRST_USER_TYPE: u32 = 16;

/// The builtin types every module may name without declaring them. Their constructor
/// order is fixed, so a front end can pattern-match on them by index.
pub mod builtin {
    /// `List<T>`: constructor 0 `Nil`, 1 `Cons(head, tail)`.
    pub const LIST: u32 = 0;
    /// `Option<T>`: 0 `None`, 1 `Some(x)`.
    pub const OPTION: u32 = 1;
    /// `Result<T, E>`: 0 `Ok(x)`, 1 `Err(e)`.
    pub const RESULT: u32 = 2;
    /// Anonymous tuples: the single constructor 0, any arity.
    pub const TUPLE: u32 = 3;

    /// Names and constructors (name, arity) of the builtin types, indexed by id.
    pub const TYPES: &[(&str, &[(&str, u16)])] = &[
        ("List", &[("Nil", 0), ("Cons", 2)]),
        ("Option", &[("None", 0), ("Some", 1)]),
        ("Result", &[("Ok", 1), ("Err", 1)]),
        ("Tuple", &[("", u16::MAX)]),
    ];
}

/// Bit of [`Module::flags`]: the file is an executable (all symbols resolved, has an
/// entry point) rather than a linkable object.
pub const FLAG_EXECUTABLE: u32 = 1;

/// A whole `.hbc` file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Module {
    /// [`FLAG_EXECUTABLE`] or 0; other bits are reserved and must be zero.
    pub flags: u32,
    /// User-defined and imported types.
    pub types: Vec<TypeDef>,
    /// Functions; an index into this table is a function index.
    pub functions: Vec<Function>,
    /// Globals: constants, variables set by initialisers, and imports.
    pub globals: Vec<Global>,
    /// Exported symbols.
    pub exports: Vec<Export>,
    /// Libraries this object needs, by name, found through the search path at link time.
    pub libraries: Vec<String>,
    /// Functions of no arguments run once, in order, when the program starts, before
    /// `entry` (top-level initialisers).
    pub inits: Vec<u32>,
    /// Foreign (C) functions the code calls with `ffi.call`; an index into this table
    /// is a foreign index. Resolved by the VM at load time (SPEC.md §2.7).
    pub foreigns: Vec<Foreign>,
    /// The program's entry point, a function of no arguments whose `i64` result, if it
    /// returns one, is the exit status.
    pub entry: Option<u32>,
    /// Source file names and per-function line tables.
    pub debug: DebugInfo,
}

/// A type declared by or imported into a module.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeDef {
    /// Declared here.
    Defined {
        /// The type's name, used in printing and diagnostics.
        name: String,
        /// Its constructors, in tag order.
        ctors: Vec<Ctor>,
    },
    /// Exported by another object under this symbol name; resolved by the linker.
    Import {
        /// The symbol name.
        symbol: String,
    },
}

/// One constructor of a sum type (a struct is a type with one constructor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctor {
    /// The constructor's name, as printed by `to_str`.
    pub name: String,
    /// How many fields it carries.
    pub arity: u16,
    /// Field names (empty, or exactly `arity` names, for structs).
    pub fields: Vec<String>,
}

/// One function of the code section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The name printed in stack traces and disassembly.
    pub name: String,
    /// Number of parameters; they arrive in slots `0..arity`.
    pub arity: u16,
    /// Number of captured values a closure of this function carries.
    pub ncaptures: u16,
    /// Frame size in slots (at least `arity`).
    pub nslots: u16,
    /// The bytecode.
    pub code: Vec<u8>,
}

/// One global.
#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    /// A name for disassembly and diagnostics (may be empty).
    pub name: String,
    /// How the global gets its value.
    pub init: GlobalInit,
}

/// How a global gets its value.
#[derive(Clone, Debug, PartialEq)]
pub enum GlobalInit {
    /// Built by the loader from an encoded constant.
    Const(Const),
    /// `()` until an initialiser stores into it.
    Uninit,
    /// The value of a symbol exported by another object, bound by the linker.
    Import(String),
}

/// An encoded constant value: everything a global can be initialised to, so that a
/// compiler's compile-time evaluation can store any value it computed.
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    /// `()`.
    Unit,
    /// A bool.
    Bool(bool),
    /// An i64.
    I64(i64),
    /// A u64.
    U64(u64),
    /// An f64, as bits (NaN payloads round-trip).
    F64(u64),
    /// A char (a Unicode scalar value; the reader checks).
    Char(u32),
    /// A UTF-8 string.
    Str(String),
    /// A byte array.
    Bytes(Vec<u8>),
    /// An arbitrary-precision integer.
    Big(BigInt),
    /// An exact rational in lowest terms with a positive denominator.
    Ratio(BigRatio),
    /// A constructor value of a user or builtin type.
    Data {
        /// The type id.
        ty: u32,
        /// The constructor index.
        tag: u16,
        /// The fields (as many as the constructor's arity).
        fields: Vec<Const>,
    },
    /// A tuple.
    Tuple(Vec<Const>),
    /// A cons list.
    List(Vec<Const>),
    /// A mutable array.
    Array(Vec<Const>),
    /// A closure of `func` with its captured values.
    Closure {
        /// The function index.
        func: u32,
        /// As many values as the function's capture count.
        captures: Vec<Const>,
    },
    /// A function with no captures, as a value.
    Func(u32),
    /// A mutable cell.
    Ref(Box<Const>),
    /// The value of another global (shares the object; may form cycles).
    Global(u32),
}

/// A C function declared in the SYMB section: found with `dlopen(library)` and
/// `dlsym(symbol)` when the VM loads the program, called by `ffi.call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    /// The shared library as `dlopen` takes it (`libm.so.6`, a path).
    pub library: String,
    /// The C symbol.
    pub symbol: String,
    /// The parameter types, in order (never [`FfiType::Unit`]).
    pub params: Vec<FfiType>,
    /// The result type (never [`FfiType::Bytes`]).
    pub ret: FfiType,
}

/// The value types that cross to C and back (SPEC.md §2.7 gives the C type of each).
/// The discriminant is the byte the SYMB section stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FfiType {
    /// `void`: a result only.
    Unit = 0,
    /// C `bool` (`_Bool`).
    Bool = 1,
    /// `int64_t` (also any narrower signed integer the callee reads from it).
    I64 = 2,
    /// `uint64_t`.
    U64 = 3,
    /// `double`.
    F64 = 4,
    /// `uint32_t` holding a Unicode scalar value.
    Char = 5,
    /// `const char *`: a NUL-terminated copy of the str; a result is copied back.
    Str = 6,
    /// `uint8_t *` to a copy of the bytes object's contents, copied back after the
    /// call (a parameter only; the length goes in a separate argument).
    Bytes = 7,
    /// `void *`: the VM's opaque pointer value.
    Ptr = 8,
    /// C `int` (`int32_t`): an i64 that must fit, passed in 32 bits; a result is
    /// sign-extended (the ABI leaves the upper half of `rax` undefined).
    I32 = 9,
}

impl FfiType {
    /// Every type, in code order.
    pub const ALL: [FfiType; 10] = [
        FfiType::Unit,
        FfiType::Bool,
        FfiType::I64,
        FfiType::U64,
        FfiType::F64,
        FfiType::Char,
        FfiType::Str,
        FfiType::Bytes,
        FfiType::Ptr,
        FfiType::I32,
    ];

    /// The type with byte code `b`.
    pub fn from_code(b: u8) -> Option<FfiType> {
        FfiType::ALL.get(b as usize).copied()
    }

    /// The name in `.hasm` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            FfiType::Unit => "unit",
            FfiType::Bool => "bool",
            FfiType::I64 => "i64",
            FfiType::U64 => "u64",
            FfiType::F64 => "f64",
            FfiType::Char => "char",
            FfiType::Str => "str",
            FfiType::Bytes => "bytes",
            FfiType::Ptr => "ptr",
            FfiType::I32 => "i32",
        }
    }

    /// The type named `name`.
    pub fn from_name(name: &str) -> Option<FfiType> {
        FfiType::ALL.iter().copied().find(|t| t.name() == name)
    }
}

/// An exported symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The symbol name, unique among all objects of a program.
    pub name: String,
    /// What it names.
    pub target: ExportTarget,
}

/// What an exported symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportTarget {
    /// A global (functions are exported as globals holding them).
    Global(u32),
    /// A type, by index into the module's type table.
    Type(u32),
}

/// Debug information: which source line each instruction came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugInfo {
    /// Source file names, indexed by `LineEntry::file`.
    pub files: Vec<String>,
    /// One table per function that has one, in any order.
    pub lines: Vec<FuncLines>,
}

/// The line table of one function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncLines {
    /// The function index.
    pub func: u32,
    /// Entries sorted by strictly increasing code offset; an entry covers the
    /// instructions from its offset up to the next entry's.
    pub entries: Vec<LineEntry>,
}

/// One row of a line table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineEntry {
    /// Code offset of the first instruction the row covers.
    pub offset: u32,
    /// Index into [`DebugInfo::files`].
    pub file: u32,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub col: u32,
}

impl Module {
    /// Whether the module is an executable.
    pub fn is_executable(&self) -> bool {
        self.flags & FLAG_EXECUTABLE != 0
    }

    /// The number of constructors and their arities for a type id, builtin or not;
    /// `None` for an unknown id or an unresolved import.
    pub fn ctor_arities(&self, ty: u32) -> Option<Vec<u16>> {
        if ty < FIRST_USER_TYPE {
            let (_, cs) = builtin::TYPES.get(ty as usize)?;
            return Some(cs.iter().map(|c| c.1).collect());
        }
        match self.types.get((ty - FIRST_USER_TYPE) as usize)? {
            TypeDef::Defined { ctors, .. } => Some(ctors.iter().map(|c| c.arity).collect()),
            TypeDef::Import { .. } => None,
        }
    }

    /// The source location of the instruction at `offset` of function `func`, if the
    /// debug info has one: `(file, line, col)`.
    pub fn location(&self, func: u32, offset: u32) -> Option<(&str, u32, u32)> {
        let fl = self.debug.lines.iter().find(|l| l.func == func)?;
        let idx = match fl.entries.binary_search_by_key(&offset, |e| e.offset) {
            Ok(i) => i,
            Err(0) => return None,
            Err(i) => i - 1,
        };
        let e = fl.entries[idx];
        Some((
            self.debug.files.get(e.file as usize)?.as_str(),
            e.line,
            e.col,
        ))
    }
}
