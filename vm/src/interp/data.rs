//! The data instructions' out-of-line parts and the value-shape tests the handlers
//! share: `anew` (array creation), the structural comparisons (`eq`, `ne`, `lt`, `le`,
//! `cmp` on values of any type), the constructor index of a value (`switch`, `jntag`,
//! `gettag`), its `kindof` code, and whether it is a list or a string.

use super::*;
use std::cmp::Ordering;

impl Vm {
    /// `anew`: an array of `n` (an `i64` value) copies of slot `fill` of the frame at
    /// `b`, which is read after the allocation (a collection may move what it holds).
    pub(crate) fn new_array(&mut self, n: Value, b: usize, fill: usize) -> Result<Value, Trap> {
        if n.tag != Tag::I64 {
            return Err(self.error_plain(format!(
                "array length must be an i64, not {}",
                self.type_name(n)
            )));
        }
        let n = n.bits as i64;
        if n < 0 {
            return Err(self.error_plain(format!("negative array length {n}")));
        }
        if n as u64 > (1 << 40) {
            return Err(self.error_plain(format!("out of memory: array of {n} elements")));
        }
        let n = n as usize;
        let p = self.alloc(n * 16, Kind::ARRAY, 0, 0, n as u64)?;
        let v = self.stack[b + fill];
        // SAFETY: `alloc` returned an array object with room for `n` fields.
        unsafe {
            let f = heap::fields(p);
            for i in 0..n {
                *f.add(i) = v;
            }
        }
        Ok(Value::obj(p))
    }

    /// The structural comparison `op` (`prim::EQ`, `NE`, `LT`, `LE` or `CMP`) of two
    /// values: a bool, or for `cmp` the `i64` -1, 0 or 1; `cmp` faults on NaN.
    pub(super) fn compare_op(&self, op: u8, a: Value, b: Value) -> Result<Value, Trap> {
        Ok(match op {
            prim::EQ => Value::bool(self.equal(a, b)?),
            prim::NE => Value::bool(!self.equal(a, b)?),
            _ => {
                let c = self.compare(a, b)?;
                match op {
                    prim::LT => Value::bool(c == Some(Ordering::Less)),
                    prim::LE => Value::bool(matches!(c, Some(Ordering::Less | Ordering::Equal))),
                    _ => Value::i64(match c {
                        Some(Ordering::Less) => -1,
                        Some(Ordering::Equal) => 0,
                        Some(Ordering::Greater) => 1,
                        None => return Err(self.error_plain("cannot order NaN")),
                    }),
                }
            }
        })
    }
}

/// The constructor index of a sum, tuple or list value.
#[inline(always)]
pub(super) fn ctor_index(v: Value) -> Option<usize> {
    if v.tag == Tag::CTOR0 {
        Some(v.bits as usize)
    // SAFETY: the tag is OBJ, and OBJ values point at live objects.
    } else if v.tag == Tag::OBJ && unsafe { (*v.ptr()).kind == Kind::DATA } {
        // SAFETY: as above; a DATA object's tag is its constructor index.
        Some(unsafe { (*v.ptr()).tag } as usize)
    } else {
        None
    }
}

/// The `kindof` code of a value (`hashvm_format::opcode::kind`).
#[inline]
pub(crate) fn kind_code(v: Value) -> i64 {
    use hashvm_format::opcode::kind;
    match v.tag {
        Tag::UNIT => kind::UNIT,
        Tag::BOOL => kind::BOOL,
        Tag::I64 => kind::I64,
        Tag::U64 => kind::U64,
        Tag::F64 => kind::F64,
        Tag::CHAR => kind::CHAR,
        Tag::CTOR0 => kind::DATA + v.aux as i64,
        Tag::FUNC => kind::FUNCTION,
        Tag::PTR => kind::PTR,
        _ => {
            // SAFETY: every other tag is OBJ, and OBJ values point at live objects.
            let (k, meta) = unsafe { ((*v.ptr()).kind, (*v.ptr()).meta) };
            match k {
                Kind::DATA => kind::DATA + meta as i64,
                Kind::ARRAY => kind::ARRAY,
                Kind::CLOSURE | Kind::PAP => kind::FUNCTION,
                Kind::REF => kind::REF,
                Kind::THUNK => kind::THUNK,
                Kind::STR => kind::STR,
                Kind::BYTES => kind::BYTES,
                Kind::BIG => kind::IBIG,
                Kind::RAT => kind::RATIO,
                // No live value has another kind.
                _ => -1,
            }
        }
    }
}

/// Whether a value is a list (the empty list or a cons cell).
#[inline(always)]
pub(super) fn is_list(v: Value) -> bool {
    (v.tag == Tag::CTOR0 && v.aux == builtin::LIST)
        || (v.tag == Tag::OBJ
            // SAFETY: the tag is OBJ, and OBJ values point at live objects.
            && unsafe { (*v.ptr()).kind == Kind::DATA && (*v.ptr()).meta == builtin::LIST })
}

/// Whether a value is a string.
#[inline(always)]
pub(crate) fn is_str(v: Value) -> bool {
    // SAFETY: the tag is OBJ, and OBJ values point at live objects.
    v.tag == Tag::OBJ && unsafe { (*v.ptr()).kind == Kind::STR }
}
