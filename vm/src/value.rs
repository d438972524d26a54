//! The machine's one value layout, shared by the interpreter, the GC and (later) the JIT.
//!
//! # Glossary
//! - **value**: a 16-byte [`Value`], `{ bits: u64, tag: u32, aux: u32 }`, in a frame slot,
//!   a global, or a field of a heap object.
//! - **immediate**: a value whose `bits` hold all of it (unit, bool, i64, u64, f64, char,
//!   a field-less constructor, a function with no captures).
//! - **object**: a heap block starting with a 16-byte header (`heap::Header`); a value
//!   with tag [`Tag::OBJ`] points at it.
//!
//! Tags live beside the payload, not inside it, so `i64`/`u64` keep their full range and
//! `f64` is never boxed (NaN-boxing or OCaml's low-bit tagging would box 64-bit integers).
//! Typed instructions check the tag with one compare and branch (a JIT guard does the
//! same), so a typed front end pays no dispatch on type while ill-typed bytecode faults
//! instead of corrupting memory.

/// Value tags. Immediates first, the heap pointer last.
pub struct Tag;

impl Tag {
    /// `()`. `bits` is 0.
    pub const UNIT: u32 = 0;
    /// A bool: `bits` is 0 or 1.
    pub const BOOL: u32 = 1;
    /// A two's-complement i64 in `bits`.
    pub const I64: u32 = 2;
    /// A u64 in `bits`.
    pub const U64: u32 = 3;
    /// An f64: `bits` is its IEEE-754 encoding.
    pub const F64: u32 = 4;
    /// A char: `bits` is a Unicode scalar value.
    pub const CHAR: u32 = 5;
    /// A constructor without fields: `bits` is the constructor index, `aux` the type id.
    /// (`Nil`, `None`, enum constants never allocate.)
    pub const CTOR0: u32 = 6;
    /// A function with no captures: `bits` is the function index.
    pub const FUNC: u32 = 7;
    /// A heap object: `bits` is the address of its header.
    pub const OBJ: u32 = 8;
    /// An opaque pointer from or for C code (`ffi.call`): `bits` is the address. The
    /// collector never follows it; the VM never reads through it.
    pub const PTR: u32 = 9;
}

/// One machine value. `#[repr(C)]` and 16 bytes: JIT code reads `bits` at offset 0,
/// `tag` at 8 and `aux` at 12.
///
/// The fields are private to the machine: a value of kind [`Tag::OBJ`] is a heap
/// address, and safe code outside the VM can only obtain one from the VM (never
/// make one from an integer, which would let it read any memory):
///
/// ```compile_fail,E0451
/// let v = hashvm_vm::Value { bits: 16, tag: hashvm_vm::Tag::OBJ, aux: 0 };
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value {
    /// The payload (see [`Tag`]).
    pub(crate) bits: u64,
    /// What the payload is.
    pub(crate) tag: u32,
    /// Extra payload: the type id of a [`Tag::CTOR0`] value; 0 otherwise.
    pub(crate) aux: u32,
}

const _: () = assert!(std::mem::size_of::<Value>() == 16);

impl Value {
    /// `()`.
    pub const UNIT: Value = Value {
        bits: 0,
        tag: Tag::UNIT,
        aux: 0,
    };
    /// The empty list.
    pub const NIL: Value = Value {
        bits: 0,
        tag: Tag::CTOR0,
        aux: hashvm_format::builtin::LIST,
    };
    /// `None`.
    pub const NONE: Value = Value {
        bits: 0,
        tag: Tag::CTOR0,
        aux: hashvm_format::builtin::OPTION,
    };

    /// An opaque C pointer (never dereferenced by the VM, never followed by the GC).
    pub const fn c_ptr(addr: u64) -> Value {
        Value {
            bits: addr,
            tag: Tag::PTR,
            aux: 0,
        }
    }

    /// An i64.
    #[inline(always)]
    pub const fn i64(v: i64) -> Value {
        Value {
            bits: v as u64,
            tag: Tag::I64,
            aux: 0,
        }
    }
    /// A u64.
    #[inline(always)]
    pub const fn u64(v: u64) -> Value {
        Value {
            bits: v,
            tag: Tag::U64,
            aux: 0,
        }
    }
    /// An f64.
    #[inline(always)]
    pub fn f64(v: f64) -> Value {
        Value {
            bits: v.to_bits(),
            tag: Tag::F64,
            aux: 0,
        }
    }
    /// A bool.
    #[inline(always)]
    pub const fn bool(v: bool) -> Value {
        Value {
            bits: v as u64,
            tag: Tag::BOOL,
            aux: 0,
        }
    }
    /// A char.
    #[inline(always)]
    pub const fn char(c: char) -> Value {
        Value {
            bits: c as u64,
            tag: Tag::CHAR,
            aux: 0,
        }
    }
    /// A constructor without fields.
    #[inline(always)]
    pub const fn ctor0(ty: u32, tag: u16) -> Value {
        Value {
            bits: tag as u64,
            tag: Tag::CTOR0,
            aux: ty,
        }
    }
    /// A capture-less function.
    #[inline(always)]
    pub const fn func(f: u32) -> Value {
        Value {
            bits: f as u64,
            tag: Tag::FUNC,
            aux: 0,
        }
    }
    /// A heap object (only the machine makes these, from live objects).
    #[inline(always)]
    pub(crate) fn obj(p: *mut crate::heap::Header) -> Value {
        Value {
            bits: p as u64,
            tag: Tag::OBJ,
            aux: 0,
        }
    }

    /// The payload (see [`Tag`]).
    #[inline(always)]
    pub fn bits(self) -> u64 {
        self.bits
    }
    /// What the payload is: one of the [`Tag`] constants.
    #[inline(always)]
    pub fn tag(self) -> u32 {
        self.tag
    }
    /// The type id of a [`Tag::CTOR0`] value; 0 otherwise.
    #[inline(always)]
    pub fn aux(self) -> u32 {
        self.aux
    }
    /// The f64 payload (meaningful when `tag == F64`).
    #[inline(always)]
    pub fn as_f64(self) -> f64 {
        f64::from_bits(self.bits)
    }
    /// The i64 payload.
    #[inline(always)]
    pub fn as_i64(self) -> i64 {
        self.bits as i64
    }
    /// Whether this is a heap object.
    #[inline(always)]
    pub fn is_obj(self) -> bool {
        self.tag == Tag::OBJ
    }
    /// The object header address (meaningful when `is_obj()`).
    #[inline(always)]
    pub(crate) fn ptr(self) -> *mut crate::heap::Header {
        self.bits as *mut crate::heap::Header
    }
}
