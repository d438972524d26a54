//! The data instructions' out-of-line parts and the value-shape tests the handlers
//! share: `anew` (array creation), the structural comparisons (`eq`, `ne`, `lt`, `le`,
//! `cmp` on values of any type), the constructor index of a value (`switch`, `jntag`,
//! `gettag`), its `kindof` code, and whether it is a list or a string.

use super::*;
use crate::heap::Elems;
use std::cmp::Ordering;

impl Vm {
    /// `anew`: an array of `n` (an `i64` value) copies of slot `fill` of the frame at
    /// `b`, which is read after the allocation (a collection may move what it holds).
    /// Inline in the dispatch loop, its faults out of line: as a call it cost about 15
    /// instructions of entry and exit and a result returned through memory, per array
    /// (awfy_storage makes 546 K of 1 to 10 elements at 100 1).
    #[inline(always)]
    pub(crate) fn new_array(&mut self, n: Value, b: usize, fill: usize) -> Result<Value, Trap> {
        if n.tag != Tag::I64 || n.bits > 1 << 40 {
            return Err(self.array_length_fault(n));
        }
        let n = n.bits as usize;
        // The elements kind is the fill value's (an empty array is general: it can
        // never be stored into, so its kind does not matter).
        let elems = if n == 0 {
            Elems::GENERAL
        } else {
            Elems::of_tag(self.stack[b + fill].tag)
        };
        let p = self.alloc(Elems::payload(elems, n), Kind::ARRAY, 0, elems, n as u64)?;
        let v = self.stack[b + fill];
        // SAFETY: `alloc` returned an array object with room for `n` elements of its
        // kind.
        unsafe {
            if elems == Elems::GENERAL {
                let f = heap::fields(p);
                for i in 0..n {
                    *f.add(i) = v;
                }
            } else {
                let f = (p as *mut u8).add(16) as *mut u64;
                std::slice::from_raw_parts_mut(f, n).fill(v.bits);
            }
        }
        Ok(Value::obj(p))
    }

    /// The fault of an `anew` whose length `n` is not an `i64` from 0 to 2^40.
    #[cold]
    #[inline(never)]
    fn array_length_fault(&self, n: Value) -> Trap {
        if n.tag != Tag::I64 {
            return self.error_plain(format!(
                "array length must be an i64, not {}",
                self.type_name(n)
            ));
        }
        let n = n.bits as i64;
        if n < 0 {
            self.error_plain(format!("negative array length {n}"))
        } else {
            self.error_plain(format!("out of memory: array of {n} elements"))
        }
    }

    /// A new array of the elements `vals`, of the elements kind they share
    /// ([`Elems::of_values`]). `vals` are rooted across the allocation, as for
    /// [`Vm::new_values`].
    pub(crate) fn new_array_of(&mut self, vals: &[Value]) -> Result<Value, Trap> {
        let elems = Elems::of_values(vals);
        if elems == Elems::GENERAL {
            return self.new_values(Kind::ARRAY, 0, Elems::GENERAL, vals);
        }
        // Flat elements hold no pointers: nothing to root.
        let n = vals.len();
        let p = self.alloc(Elems::payload(elems, n), Kind::ARRAY, 0, elems, n as u64)?;
        // SAFETY: a fresh array of `n` elements of the kind of `vals`.
        unsafe { heap::array_fill_new(p, vals) };
        Ok(Value::obj(p))
    }

    /// Element `i` of the array `arr` := `v`, for every case but the two fast ones
    /// the handlers inline (a general array, or a flat one and a value of its tag):
    /// a converted array (the store goes to the general array it points at), or a
    /// flat array and a value of another tag, which converts the array first. May
    /// collect: pointers held across it are invalid afterwards.
    ///
    /// # Safety
    /// `arr` must be a live ARRAY with more than `i` elements.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn array_store_slow(
        &mut self,
        arr: *mut heap::Header,
        i: usize,
        v: Value,
    ) -> Result<(), Trap> {
        // SAFETY: per the caller's contract.
        unsafe {
            let m = (*arr).meta;
            if m == Elems::GENERAL || m == Elems::MOVED {
                self.heap.store(heap::array_target(arr), i, v);
                return Ok(());
            }
            if m == v.tag {
                *((arr as *mut u8).add(16) as *mut u64).add(i) = v.bits;
                return Ok(());
            }
            // The value is rooted across the conversion's allocation.
            let mark = self.roots.len();
            self.roots.push(v);
            let r = self.array_convert(arr);
            let v = self.roots[mark];
            self.roots.truncate(mark);
            self.heap.store(r?, i, v);
        }
        Ok(())
    }

    /// Converts the flat array `arr` to the general layout: a general array of its
    /// elements is allocated, and `arr` becomes MOVED, pointing at it (through the
    /// write barrier: `arr` may be old). Returns the general array. Values held in
    /// Rust across it must be rooted by the caller, except `arr`'s own.
    ///
    /// # Safety
    /// `arr` must be a live flat ARRAY (so with at least one element once stored into).
    pub(crate) unsafe fn array_convert(
        &mut self,
        arr: *mut heap::Header,
    ) -> Result<*mut heap::Header, Trap> {
        // SAFETY: per the caller's contract; `arr` is rooted across the allocation and
        // re-read from the root after it.
        unsafe {
            let n = (*arr).len as usize;
            debug_assert!(n > 0 && Elems::is_flat((*arr).meta));
            let mark = self.roots.len();
            self.roots.push(Value::obj(arr));
            let r = self.alloc(n * 16, Kind::ARRAY, 0, Elems::GENERAL, n as u64);
            let arr = self.roots[mark].ptr();
            self.roots.truncate(mark);
            let g = r?;
            let f = heap::fields(g);
            for j in 0..n {
                *f.add(j) = heap::array_get(arr, j);
            }
            (*arr).meta = Elems::MOVED;
            // The flat payload (at least 16 bytes) now holds one value.
            *heap::fields(arr) = Value::obj(g);
            self.heap.barrier(arr, Value::obj(g));
            Ok(g)
        }
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
