//! Structural printing, equality and ordering over every value kind. All three walk
//! values with an explicit work list, never Rust recursion, so a list of millions of
//! elements (or a deeply nested tree) cannot overflow the Rust stack.

use crate::heap::{self, Kind};
use crate::value::{Tag, Value};
use crate::vm::{Trap, Vm};
use hashvm_format::builtin;
use std::cmp::Ordering;
use std::fmt::Write;

enum Item {
    Val(Value, bool),
    Lit(&'static str),
}

impl Vm {
    /// The printed form of a value (`to_str`): strings and chars bare at the top level,
    /// quoted with escapes inside containers.
    pub fn display(&self, v: Value) -> String {
        if !self.is_valid(v) {
            return "<invalid value>".into();
        }
        self.display_bounded(v, usize::MAX).unwrap_or_default()
    }

    /// [`Vm::display`] for the running program: fails with "out of memory" when the
    /// text would pass the heap limit or the system refuses memory for it. Printed
    /// text can be far larger than the value (a list holding one big string a million
    /// times), so its growth is checked rather than left to Rust's abort.
    pub fn display_checked(&self, v: Value) -> Result<String, Trap> {
        self.display_bounded(v, self.heap.limit)
            .ok_or_else(|| self.error_plain("out of memory (to_str result too large)"))
    }

    /// The printed form, or `None` once it would pass `max` bytes or memory for it is
    /// refused. Before each piece, room for the most text that piece can print is
    /// reserved fallibly, so that writing it never grows the string infallibly.
    pub fn display_bounded(&self, v: Value, max: usize) -> Option<String> {
        if !self.is_valid(v) {
            return Some("<invalid value>".into());
        }
        // The work stack is memory the display needs as much as the text: a wide array
        // or list queues two items per element (each also printing at least a byte), so
        // the text plus the stack's bytes stay within `max`; else the stack alone could
        // grow many times past the limit before the text does.
        let past = |out: &String, work: &Vec<Item>, more: usize| {
            work.len()
                .saturating_add(more)
                .saturating_mul(std::mem::size_of::<Item>())
                .saturating_add(out.len())
                > max
        };
        let mut out = String::new();
        let mut work = vec![Item::Val(v, false)];
        while let Some(it) = work.pop() {
            if out.len() > max {
                return None;
            }
            let (v, nested) = match it {
                Item::Lit(s) => {
                    out.push_str(s);
                    continue;
                }
                Item::Val(v, n) => (v, n),
            };
            // An upper bound of what this value prints before its children (`{:?}`
            // of a str prints at most 10 bytes per byte: `\u{10ffff}`).
            let need = if v.tag == Tag::OBJ {
                // SAFETY: OBJ values point at live objects.
                unsafe {
                    let h = v.ptr();
                    match (*h).kind {
                        Kind::STR if !nested => (*h).len as usize,
                        Kind::STR | Kind::BYTES => ((*h).len as usize).saturating_mul(10),
                        Kind::BIG => heap::big(h).significant_bits() as usize / 3,
                        Kind::RAT => {
                            let r = heap::rat(h);
                            (r.numer().significant_bits() + r.denom().significant_bits()) as usize
                                / 3
                        }
                        _ => 0,
                    }
                }
            } else {
                0
            };
            if out.len().saturating_add(need) > max {
                return None;
            }
            out.try_reserve(need.saturating_add(256)).ok()?;
            if work.capacity() == work.len() {
                work.try_reserve(work.len().max(16)).ok()?;
            }
            match v.tag {
                Tag::UNIT => out.push_str("()"),
                Tag::BOOL => out.push_str(if v.bits != 0 { "true" } else { "false" }),
                Tag::I64 => {
                    let _ = write!(out, "{}", v.bits as i64);
                }
                Tag::U64 => {
                    let _ = write!(out, "{}", v.bits);
                }
                Tag::F64 => {
                    let _ = write!(out, "{:?}", f64::from_bits(v.bits));
                }
                Tag::CHAR => {
                    let c = char::from_u32(v.bits as u32).unwrap_or('\u{fffd}');
                    if nested {
                        let _ = write!(out, "{c:?}");
                    } else {
                        out.push(c);
                    }
                }
                Tag::CTOR0 => {
                    if v.aux == builtin::LIST {
                        out.push_str("[]");
                    } else {
                        out.push_str(self.ctor_name(v.aux, v.bits as u16));
                    }
                }
                Tag::FUNC => {
                    let _ = write!(out, "<fn {}>", self.func_name(v.bits as u32));
                }
                Tag::PTR => {
                    let _ = write!(out, "<ptr 0x{:x}>", v.bits);
                }
                Tag::OBJ => {
                    let h = v.ptr();
                    // SAFETY: OBJ values point at live objects; nothing allocates here.
                    unsafe {
                        match (*h).kind {
                            Kind::STR => {
                                if nested {
                                    let _ = write!(out, "{:?}", heap::str(h));
                                } else {
                                    out.push_str(heap::str(h));
                                }
                            }
                            Kind::BIG => {
                                let _ = write!(out, "{}", heap::big(h));
                            }
                            Kind::RAT => {
                                let r = heap::rat(h);
                                let _ = write!(out, "{}/{}", r.numer(), r.denom());
                            }
                            Kind::BYTES => {
                                let _ = write!(out, "{:?}", heap::bytes(h));
                            }
                            Kind::DATA if (*h).meta == builtin::LIST => {
                                // Collect the elements iteratively.
                                let mut elems = Vec::new();
                                let mut c = v;
                                while c.tag == Tag::OBJ
                                    && (*c.ptr()).kind == Kind::DATA
                                    && (*c.ptr()).meta == builtin::LIST
                                {
                                    if elems.len() == elems.capacity() {
                                        elems.try_reserve(elems.len().max(16)).ok()?;
                                    }
                                    elems.push(*heap::fields(c.ptr()));
                                    c = *heap::fields(c.ptr()).add(1);
                                }
                                if past(&out, &work, 2 * elems.len() + 1) {
                                    return None;
                                }
                                work.try_reserve(2 * elems.len() + 1).ok()?;
                                work.push(Item::Lit("]"));
                                for (i, e) in elems.iter().enumerate().rev() {
                                    work.push(Item::Val(*e, true));
                                    if i > 0 {
                                        work.push(Item::Lit(", "));
                                    }
                                }
                                out.push('[');
                            }
                            Kind::DATA | Kind::ARRAY => {
                                let n = (*h).len as usize;
                                let (open, close) = if (*h).kind == Kind::ARRAY {
                                    ("#[", "]")
                                } else if (*h).meta == builtin::TUPLE {
                                    ("(", if n == 1 { ",)" } else { ")" })
                                } else {
                                    out.push_str(self.ctor_name((*h).meta, (*h).tag));
                                    ("(", ")")
                                };
                                out.push_str(open);
                                if past(&out, &work, 2 * n + 1) {
                                    return None;
                                }
                                work.try_reserve(2 * n + 1).ok()?;
                                work.push(Item::Lit(close));
                                // An array's elements are read by its kind.
                                let e = if (*h).kind == Kind::ARRAY {
                                    heap::array_target(h)
                                } else {
                                    h
                                };
                                for i in (0..n).rev() {
                                    let x = if (*h).kind == Kind::ARRAY {
                                        heap::array_get(e, i)
                                    } else {
                                        *heap::fields(h).add(i)
                                    };
                                    work.push(Item::Val(x, true));
                                    if i > 0 {
                                        work.push(Item::Lit(", "));
                                    }
                                }
                            }
                            Kind::CLOSURE => {
                                let _ = write!(out, "<fn {}>", self.func_name((*h).meta));
                            }
                            Kind::PAP => {
                                work.push(Item::Val(*heap::fields(h), nested));
                            }
                            Kind::REF => {
                                out.push_str("ref(");
                                work.push(Item::Lit(")"));
                                work.push(Item::Val(*heap::fields(h), true));
                            }
                            Kind::THUNK => {
                                if (*h).tag == heap::THUNK_DONE {
                                    work.push(Item::Val(*heap::fields(h), nested));
                                } else {
                                    out.push_str("<thunk>");
                                }
                            }
                            _ => out.push_str("<object>"),
                        }
                    }
                }
                _ => out.push_str("<invalid>"),
            }
        }
        (out.len() <= max).then_some(out)
    }

    fn ctor_name(&self, ty: u32, tag: u16) -> &str {
        self.types
            .get(ty as usize)
            .and_then(|t| t.ctors.get(tag as usize))
            .map(|c| c.name.as_str())
            .unwrap_or("?")
    }

    fn func_name(&self, f: u32) -> &str {
        self.funcs
            .get(f as usize)
            .map(|f| f.name.as_str())
            .unwrap_or("?")
    }

    /// Structural equality. Functions cannot be compared (a runtime error).
    pub fn equal(&self, a: Value, b: Value) -> Result<bool, Trap> {
        Ok(self.walk(a, b, true)? == Some(Ordering::Equal))
    }

    /// Structural ordering; `None` when a NaN makes the values unordered.
    pub fn compare(&self, a: Value, b: Value) -> Result<Option<Ordering>, Trap> {
        self.walk(a, b, false)
    }

    /// Compares two values depth-first, left to right. With `eq_only`, values of
    /// different shapes are simply unequal (reported as `Less`).
    fn walk(&self, a: Value, b: Value, eq_only: bool) -> Result<Option<Ordering>, Trap> {
        if !self.is_valid(a) || !self.is_valid(b) {
            return Err(self.error_plain("comparison of a value that is not valid in this machine"));
        }
        let mut work = vec![(a, b)];
        while let Some((a, b)) = work.pop() {
            let o = self.cmp_one(a, b, eq_only, &mut work)?;
            match o {
                Some(Ordering::Equal) => {}
                other => return Ok(other),
            }
        }
        Ok(Some(Ordering::Equal))
    }

    /// Compares the heads of two values; pushes their children (in reverse order) when
    /// the heads are equal.
    fn cmp_one(
        &self,
        a: Value,
        b: Value,
        eq_only: bool,
        work: &mut Vec<(Value, Value)>,
    ) -> Result<Option<Ordering>, Trap> {
        let is_fn = |v: Value| {
            v.tag == Tag::FUNC
                || (v.tag == Tag::OBJ
                    // SAFETY: the tag is OBJ, and OBJ values point at live objects.
                    && unsafe { matches!((*v.ptr()).kind, Kind::CLOSURE | Kind::PAP) })
        };
        if is_fn(a) || is_fn(b) {
            return Err(self.error_plain("cannot compare functions"));
        }
        // Constructor values (immediate or boxed) compare by constructor index first.
        let ctor = |v: Value| -> Option<(u32, u16)> {
            if v.tag == Tag::CTOR0 {
                Some((v.aux, v.bits as u16))
            // SAFETY: the tag is OBJ, and OBJ values point at live objects.
            } else if v.tag == Tag::OBJ && unsafe { (*v.ptr()).kind == Kind::DATA } {
                // SAFETY: as above: a live DATA object's header.
                unsafe { Some(((*v.ptr()).meta, (*v.ptr()).tag)) }
            } else {
                None
            }
        };
        if let (Some((ya, ta)), Some((yb, tb))) = (ctor(a), ctor(b)) {
            // Values of different types are never equal (a typed front end never
            // compares them; for ordering, the type id decides first).
            if ya != yb {
                return Ok(Some(ya.cmp(&yb)));
            }
            if ta != tb {
                return Ok(Some(ta.cmp(&tb)));
            }
            if a.tag == Tag::CTOR0 || b.tag == Tag::CTOR0 {
                return Ok(Some(Ordering::Equal));
            }
            // SAFETY: both are live DATA objects.
            unsafe {
                let (ha, hb) = (a.ptr(), b.ptr());
                let (na, nb) = ((*ha).len as usize, (*hb).len as usize);
                if na != nb {
                    // Tuples of different arity: compare common prefix, then length.
                    let n = na.min(nb);
                    work.push((Value::i64(na as i64), Value::i64(nb as i64)));
                    for i in (0..n).rev() {
                        work.push((*heap::fields(ha).add(i), *heap::fields(hb).add(i)));
                    }
                    return Ok(Some(Ordering::Equal));
                }
                for i in (0..na).rev() {
                    work.push((*heap::fields(ha).add(i), *heap::fields(hb).add(i)));
                }
            }
            return Ok(Some(Ordering::Equal));
        }
        if a.tag != b.tag {
            if eq_only {
                return Ok(Some(Ordering::Less));
            }
            return Err(self.error_plain(format!(
                "cannot compare {} with {}",
                self.type_name(a),
                self.type_name(b)
            )));
        }
        Ok(match a.tag {
            Tag::UNIT => Some(Ordering::Equal),
            Tag::BOOL | Tag::U64 | Tag::CHAR => Some(a.bits.cmp(&b.bits)),
            Tag::I64 => Some((a.bits as i64).cmp(&(b.bits as i64))),
            Tag::F64 => f64::from_bits(a.bits).partial_cmp(&f64::from_bits(b.bits)),
            Tag::OBJ => {
                let (ha, hb) = (a.ptr(), b.ptr());
                // SAFETY: live objects; nothing allocates during comparison.
                unsafe {
                    if (*ha).kind != (*hb).kind {
                        if eq_only {
                            return Ok(Some(Ordering::Less));
                        }
                        return Err(self.error_plain(format!(
                            "cannot compare {} with {}",
                            self.type_name(a),
                            self.type_name(b)
                        )));
                    }
                    match (*ha).kind {
                        Kind::STR | Kind::BYTES => Some(heap::bytes(ha).cmp(heap::bytes(hb))),
                        Kind::BIG => Some(heap::big(ha).cmp(heap::big(hb))),
                        Kind::RAT => Some(heap::rat(ha).cmp(heap::rat(hb))),
                        Kind::ARRAY => {
                            let (na, nb) = ((*ha).len as usize, (*hb).len as usize);
                            work.push((Value::i64(na as i64), Value::i64(nb as i64)));
                            // Arrays of different elements kinds with equal contents
                            // are equal: elements are compared as values.
                            let (ea, eb) = (heap::array_target(ha), heap::array_target(hb));
                            for i in (0..na.min(nb)).rev() {
                                work.push((heap::array_get(ea, i), heap::array_get(eb, i)));
                            }
                            Some(Ordering::Equal)
                        }
                        Kind::REF | Kind::THUNK => {
                            work.push((*heap::fields(ha), *heap::fields(hb)));
                            Some(Ordering::Equal)
                        }
                        _ => Some((ha as usize).cmp(&(hb as usize))),
                    }
                }
            }
            _ => Some(a.bits.cmp(&b.bits)),
        })
    }
}
