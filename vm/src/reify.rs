//! Turning a runtime value back into an encoded constant, so that a compiler's
//! compile-time evaluation (`#run`) can store whatever it computed — closures, data,
//! lists, arrays, big numbers — in the output file's globals.
//!
//! Objects reached more than once (shared, or on a cycle) become globals of their own,
//! referred to with `Const::Global`, so sharing and cycles survive the round trip.

use crate::heap::{self, Kind, THUNK_DONE};
use crate::value::{Tag, Value};
use crate::vm::Vm;
use hashvm_format::{binary::MAX_CONST_DEPTH, builtin, BigInt, BigRatio, Const, FIRST_USER_TYPE};
use rug::integer::Order;
use rug::{Integer, Rational};
use std::collections::HashMap;

/// The GMP integer of a file's integer constant.
pub fn integer_of(b: &BigInt) -> Integer {
    let v = Integer::from_digits(b.magnitude(), Order::Lsf);
    if b.is_negative() {
        -v
    } else {
        v
    }
}

/// The file constant of a GMP integer.
pub fn big_const(v: &Integer) -> BigInt {
    BigInt::from_sign_magnitude(
        v.cmp0() == std::cmp::Ordering::Less,
        v.to_digits::<u8>(Order::Lsf),
    )
}

/// The GMP rational of a file's ratio constant.
pub fn rational_of(r: &BigRatio) -> Rational {
    Rational::from((integer_of(r.numer()), integer_of(r.denom())))
}

/// The file constant of a GMP rational (whose denominator GMP keeps positive).
pub fn ratio_const(r: &Rational) -> BigRatio {
    BigRatio::new(big_const(r.numer()), big_const(r.denom()))
        .unwrap_or_else(|| BigRatio::from_integer(BigInt::default()))
}

/// A reified value: the constant for the value itself, plus the constants of the shared
/// objects it refers to, which the caller must append as globals numbered from the
/// `global_base` it passed (in order).
#[derive(Debug, Clone)]
pub struct Reified {
    /// The value.
    pub root: Const,
    /// Shared objects, to become globals `global_base..`.
    pub shared: Vec<Const>,
}

/// How runtime indices map back to the indices of the object being written.
pub struct ReifyMap<'a> {
    /// Function index in the running program → function index in the output, or
    /// `None` if the function cannot be named there.
    pub func: &'a dyn Fn(u32) -> Option<u32>,
    /// User type id in the running program → type id in the output.
    pub ty: &'a dyn Fn(u32) -> Option<u32>,
    /// The index the first shared object's global will have.
    pub global_base: u32,
}

struct Reifier<'a, 'm> {
    vm: &'a Vm,
    map: &'a ReifyMap<'m>,
    counts: HashMap<u64, u32>,
    shared: HashMap<u64, u32>,
    out: Vec<Option<Const>>,
}

impl Vm {
    /// Reifies `v` (see the module documentation).
    pub fn reify(&self, v: Value, map: &ReifyMap) -> Result<Reified, String> {
        if !self.is_valid(v) {
            return Err(format!("{v:?} is not a valid value of this machine"));
        }
        let mut r = Reifier {
            vm: self,
            map,
            counts: HashMap::new(),
            shared: HashMap::new(),
            out: Vec::new(),
        };
        r.count(v);
        // Objects referenced more than once become shared globals.
        let mut many: Vec<u64> = r
            .counts
            .iter()
            .filter(|(_, &c)| c > 1)
            .map(|(&p, _)| p)
            .collect();
        many.sort_unstable();
        for p in many {
            let i = r.out.len() as u32;
            r.shared.insert(p, i);
            r.out.push(None);
        }
        let mut order: Vec<(u64, u32)> = r.shared.iter().map(|(&p, &i)| (p, i)).collect();
        order.sort_by_key(|&(_, i)| i);
        for (p, i) in order {
            let c = r.object(Value::obj(p as *mut heap::Header), 0)?;
            r.out[i as usize] = Some(c);
        }
        let root = r.value(v, 0)?;
        Ok(Reified {
            root,
            shared: r
                .out
                .into_iter()
                .map(|c| c.unwrap_or(Const::Unit))
                .collect(),
        })
    }
}

fn children(v: Value) -> Vec<Value> {
    if v.tag != Tag::OBJ {
        return Vec::new();
    }
    let h = v.ptr();
    // SAFETY: OBJ values point at live objects; nothing allocates while reifying.
    unsafe {
        match (*h).kind {
            Kind::ARRAY => heap::array_values(h),
            Kind::DATA | Kind::CLOSURE | Kind::PAP => {
                std::slice::from_raw_parts(heap::fields(h), (*h).len as usize).to_vec()
            }
            Kind::REF | Kind::THUNK => vec![*heap::fields(h)],
            _ => Vec::new(),
        }
    }
}

impl Reifier<'_, '_> {
    fn count(&mut self, v: Value) {
        let mut work = vec![v];
        while let Some(v) = work.pop() {
            if v.tag != Tag::OBJ {
                continue;
            }
            let c = self.counts.entry(v.bits).or_insert(0);
            *c += 1;
            if *c == 1 {
                work.extend(children(v));
            }
        }
    }

    fn value(&mut self, v: Value, depth: usize) -> Result<Const, String> {
        if depth > MAX_CONST_DEPTH {
            return Err(format!(
                "value nested deeper than {MAX_CONST_DEPTH} levels cannot be stored"
            ));
        }
        Ok(match v.tag {
            Tag::UNIT => Const::Unit,
            Tag::BOOL => Const::Bool(v.bits != 0),
            Tag::I64 => Const::I64(v.bits as i64),
            Tag::U64 => Const::U64(v.bits),
            Tag::F64 => Const::F64(v.bits),
            Tag::CHAR => Const::Char(v.bits as u32),
            Tag::CTOR0 => Const::Data {
                ty: self.ty(v.aux)?,
                tag: v.bits as u16,
                fields: Vec::new(),
            },
            Tag::FUNC => Const::Func(self.func(v.bits as u32)?),
            Tag::OBJ => match self.shared.get(&v.bits) {
                Some(&i) => Const::Global(self.map.global_base + i),
                None => self.object(v, depth)?,
            },
            Tag::PTR => return Err("a C pointer (ptr) cannot be stored as a constant".into()),
            t => return Err(format!("cannot store a value with tag {t}")),
        })
    }

    fn values(&mut self, vs: &[Value], depth: usize) -> Result<Vec<Const>, String> {
        vs.iter().map(|&v| self.value(v, depth + 1)).collect()
    }

    fn object(&mut self, v: Value, depth: usize) -> Result<Const, String> {
        let h = v.ptr();
        // SAFETY: OBJ values point at live objects; nothing allocates while reifying.
        let (kind, tag, meta) = unsafe { ((*h).kind, (*h).tag, (*h).meta) };
        let kids = children(v);
        Ok(match kind {
            // SAFETY: a live STR object (kind checked by the match).
            Kind::STR => Const::Str(unsafe { heap::str(h) }.to_string()),
            // SAFETY: a live BYTES object (kind checked by the match).
            Kind::BYTES => Const::Bytes(unsafe { heap::bytes(h) }.to_vec()),
            // SAFETY: a live BIG object (kind checked by the match).
            Kind::BIG => Const::Big(big_const(unsafe { heap::big(h) })),
            // SAFETY: a live RAT object (kind checked by the match).
            Kind::RAT => Const::Ratio(ratio_const(unsafe { heap::rat(h) })),
            Kind::DATA if meta == builtin::LIST => {
                // Flatten the spine while its cells are not shared.
                let mut items = vec![kids[0]];
                let mut rest = kids[1];
                loop {
                    let is_cons = rest.tag == Tag::OBJ
                        && !self.shared.contains_key(&rest.bits)
                        // SAFETY: the tag is OBJ, and OBJ values point at live objects.
                        && unsafe {
                            (*rest.ptr()).kind == Kind::DATA && (*rest.ptr()).meta == builtin::LIST
                        };
                    if !is_cons {
                        break;
                    }
                    let k = children(rest);
                    items.push(k[0]);
                    rest = k[1];
                }
                let items = self.values(&items, depth)?;
                if rest.tag == Tag::CTOR0 {
                    Const::List(items)
                } else {
                    // A shared tail: rebuild as nested cons constants.
                    let mut acc = self.value(rest, depth + 1)?;
                    for it in items.into_iter().rev() {
                        acc = Const::Data {
                            ty: builtin::LIST,
                            tag: 1,
                            fields: vec![it, acc],
                        };
                    }
                    acc
                }
            }
            Kind::DATA if meta == builtin::TUPLE => Const::Tuple(self.values(&kids, depth)?),
            Kind::DATA => Const::Data {
                ty: self.ty(meta)?,
                tag,
                fields: self.values(&kids, depth)?,
            },
            Kind::ARRAY => Const::Array(self.values(&kids, depth)?),
            Kind::CLOSURE => Const::Closure {
                func: self.func(meta)?,
                captures: self.values(&kids, depth)?,
            },
            Kind::REF => Const::Ref(Box::new(self.value(kids[0], depth + 1)?)),
            Kind::THUNK if tag == THUNK_DONE => self.value(kids[0], depth + 1)?,
            Kind::THUNK => return Err("cannot store an unevaluated thunk".into()),
            Kind::PAP => return Err("cannot store a partial application".into()),
            k => return Err(format!("cannot store an object of kind {k}")),
        })
    }

    fn ty(&self, t: u32) -> Result<u32, String> {
        if t < FIRST_USER_TYPE {
            return Ok(t);
        }
        (self.map.ty)(t).ok_or_else(|| {
            let name = self
                .vm
                .types
                .get(t as usize)
                .map(|t| t.name.as_str())
                .unwrap_or("?");
            format!("cannot store a value of type {name}, which this module cannot name")
        })
    }

    fn func(&self, f: u32) -> Result<u32, String> {
        (self.map.func)(f).ok_or_else(|| {
            let name = self
                .vm
                .funcs
                .get(f as usize)
                .map(|f| f.name.as_str())
                .unwrap_or("?");
            format!("cannot store function {name}, which belongs to another module")
        })
    }
}

/// Values survive reify → encode → load, sharing and cycles included.
#[cfg(test)]
mod tests {
    use super::ReifyMap;
    use crate::heap::Kind;
    use crate::{Config, Value, Vm};
    use hashvm_format::*;

    fn roundtrip(vm: &Vm, v: Value) -> String {
        let id = |x: u32| Some(x);
        let map = ReifyMap {
            func: &id,
            ty: &id,
            global_base: 1,
        };
        let r = vm.reify(v, &map).expect("reify");
        let mut m = Module::default();
        m.globals.push(Global {
            name: "root".into(),
            init: GlobalInit::Const(r.root),
        });
        for c in r.shared {
            m.globals.push(Global {
                name: String::new(),
                init: GlobalInit::Const(c),
            });
        }
        let mut vm2 = Vm::new(Config::default());
        vm2.load(verify(&m).expect("verifies"))
            .map_err(|e| format!("{e:?}"))
            .expect("load");
        vm2.display(vm2.globals[0])
    }

    #[test]
    fn nested_values_roundtrip() {
        let mut vm = Vm::new(Config::default());
        // Every object is kept in a global (a root) and read back from it after the
        // next allocation: under HASHVM_GC_STRESS=1 each allocation collects and moves
        // every object, so a Rust local would go stale.
        let s = vm.new_str("hi").unwrap();
        vm.globals.push(s);
        let b = vm
            .new_big(rug::Integer::from(rug::Integer::u_pow_u(10, 30)))
            .unwrap();
        vm.globals.push(b);
        let some = vm.some(vm.globals[0]).unwrap();
        vm.globals.push(some);
        let l = vm
            .new_list(&[Value::i64(1), vm.globals[2], vm.globals[1]])
            .unwrap();
        vm.globals.push(l);
        let t = vm
            .new_data(
                builtin::TUPLE,
                0,
                &[vm.globals[3], Value::f64(2.5), Value::char('x')],
            )
            .unwrap();
        let shown = vm.display(t);
        assert_eq!(
            shown,
            "([1, Some(\"hi\"), 1000000000000000000000000000000], 2.5, 'x')"
        );
        assert_eq!(roundtrip(&vm, t), shown);
    }

    #[test]
    fn shared_and_cyclic_values_roundtrip() {
        let mut vm = Vm::new(Config::default());
        let inner = vm.new_list(&[Value::i64(7)]).unwrap();
        vm.globals.push(inner);
        let t = vm.new_data(builtin::TUPLE, 0, &[inner, inner]).unwrap();
        assert_eq!(roundtrip(&vm, t), "([7], [7])");
        // A ref cell that contains itself.
        let r = vm.new_values(Kind::REF, 0, 0, &[Value::UNIT]).unwrap();
        // SAFETY: a REF object has one value field.
        unsafe { vm.heap.store(r.ptr(), 0, r) };
        let id = |x: u32| Some(x);
        let map = ReifyMap {
            func: &id,
            ty: &id,
            global_base: 1,
        };
        let out = vm.reify(r, &map).unwrap();
        assert_eq!(out.shared.len(), 1);
        assert_eq!(out.root, Const::Global(1));
    }
}
