//! Loading a verified, fully linked module into a [`Vm`]: functions, type metadata, and
//! globals built from their encoded constants.
//!
//! Constants may share objects and even form cycles through `Const::Global` (a closure
//! that captures itself, computed by `#run`). Globals are therefore built in three
//! passes: allocate each container global as an empty shell, resolve aliases, then fill
//! the shells' fields, by which time every global a field can name already exists.

use crate::heap::{self, Kind};
use crate::value::Value;
use crate::vm::{CtorInfo, FuncInfo, Trap, TypeInfo, Vm, HOT_THRESHOLD};
use hashvm_format::{builtin, Const, GlobalInit, Module, TypeDef, FIRST_USER_TYPE};

impl Vm {
    /// Installs `m` (verified and linked: no imports) and returns its entry point and
    /// initialisers. Replaces any program loaded before.
    pub fn load(&mut self, m: &Module) -> Result<(), Trap> {
        self.funcs = m
            .functions
            .iter()
            .map(|f| FuncInfo {
                name: f.name.clone(),
                code: f.code.clone().into_boxed_slice(),
                arity: f.arity,
                ncaptures: f.ncaptures,
                nslots: f.nslots,
            })
            .collect();
        self.hot_calls = vec![HOT_THRESHOLD; self.funcs.len()];
        self.types.truncate(FIRST_USER_TYPE as usize);
        for t in &m.types {
            self.types.push(match t {
                TypeDef::Defined { name, ctors } => TypeInfo {
                    name: name.clone(),
                    ctors: ctors
                        .iter()
                        .map(|c| CtorInfo {
                            name: c.name.clone(),
                            arity: c.arity,
                        })
                        .collect(),
                },
                TypeDef::Import { symbol } => TypeInfo {
                    name: symbol.clone(),
                    ctors: Vec::new(),
                },
            });
        }
        self.globals = vec![Value::UNIT; m.globals.len()];
        // Pass 1: shells and leaves.
        for (i, g) in m.globals.iter().enumerate() {
            if let GlobalInit::Const(c) = &g.init {
                let v = match c {
                    Const::Global(_) => Value::UNIT,
                    _ => self.shell(c)?,
                };
                self.globals[i] = v;
            }
        }
        // Pass 2: aliases (`Const::Global` at the top), followed to their end.
        for (i, g) in m.globals.iter().enumerate() {
            if let GlobalInit::Const(Const::Global(mut j)) = &g.init {
                let mut steps = 0;
                while let Some(GlobalInit::Const(Const::Global(k))) =
                    m.globals.get(j as usize).map(|g| &g.init)
                {
                    j = *k;
                    steps += 1;
                    if steps > m.globals.len() {
                        return Err(self.error_plain(format!("global {i} is an alias cycle")));
                    }
                }
                self.globals[i] = self.globals[j as usize];
            }
        }
        // Pass 3: fill the shells.
        for (i, g) in m.globals.iter().enumerate() {
            if let GlobalInit::Const(c) = &g.init {
                self.fill(i, c)?;
            }
        }
        self.debug = Module {
            functions: Vec::new(),
            debug: m.debug.clone(),
            ..Module::default()
        };
        Ok(())
    }

    /// Builds the top of a constant: leaves completely, containers with unit fields.
    fn shell(&mut self, c: &Const) -> Result<Value, Trap> {
        let n = |v: &Vec<Const>| v.len();
        Ok(match c {
            Const::Data { ty, tag, fields } => {
                self.new_data(*ty, *tag, &vec![Value::UNIT; n(fields)])?
            }
            Const::Tuple(v) => {
                self.new_values(Kind::DATA, 0, builtin::TUPLE, &vec![Value::UNIT; n(v)])?
            }
            Const::Array(v) => self.new_values(Kind::ARRAY, 0, 0, &vec![Value::UNIT; n(v)])?,
            Const::List(v) => self.new_list(&vec![Value::UNIT; n(v)])?,
            Const::Closure { func, captures } => {
                self.new_values(Kind::CLOSURE, 0, *func, &vec![Value::UNIT; n(captures)])?
            }
            Const::Ref(_) => self.new_values(Kind::REF, 0, 0, &[Value::UNIT])?,
            other => self.build(other)?,
        })
    }

    /// Fills the fields of global `i`'s shell.
    fn fill(&mut self, i: usize, c: &Const) -> Result<(), Trap> {
        let items: &[Const] = match c {
            Const::Data { fields, .. } => fields,
            Const::Tuple(v) | Const::Array(v) | Const::List(v) => v,
            Const::Closure { captures, .. } => captures,
            Const::Ref(inner) => std::slice::from_ref(&**inner),
            _ => return Ok(()),
        };
        let is_list = matches!(c, Const::List(_));
        // A list's shell is filled cell by cell through a cursor kept in `roots`
        // (building an item may move the cells), so that a list of a million items
        // loads in linear time, not by walking the spine again for every item.
        let cursor = self.roots.len();
        self.roots.push(self.globals[i]);
        for (k, item) in items.iter().enumerate() {
            let v = match self.build(item) {
                Ok(v) => v,
                Err(e) => {
                    self.roots.truncate(cursor);
                    return Err(e);
                }
            };
            // Re-read the shell: building may have moved it.
            // SAFETY: the shell was built with exactly `items.len()` slots (or cells),
            // and the cursor is the list's cell `k` while `k < items.len()`.
            unsafe {
                if is_list {
                    let cell = self.roots[cursor];
                    *heap::fields(cell.ptr()) = v;
                    self.roots[cursor] = *heap::fields(cell.ptr()).add(1);
                } else {
                    *heap::fields(self.globals[i].ptr()).add(k) = v;
                }
            }
        }
        self.roots.truncate(cursor);
        Ok(())
    }

    /// Builds a constant completely. Its parts are rooted while it is built.
    pub fn build(&mut self, c: &Const) -> Result<Value, Trap> {
        Ok(match c {
            Const::Unit => Value::UNIT,
            Const::Bool(b) => Value::bool(*b),
            Const::I64(v) => Value::i64(*v),
            Const::U64(v) => Value::u64(*v),
            Const::F64(b) => Value::f64(f64::from_bits(*b)),
            Const::Char(c) => Value::char(char::from_u32(*c).unwrap_or('\u{fffd}')),
            Const::Str(s) => self.new_str(s)?,
            Const::Bytes(b) => self.new_bytes(b)?,
            Const::Big(v) => self.new_big(v.clone())?,
            Const::Ratio(r) => self.new_rat(r.clone())?,
            Const::Func(f) => Value::func(*f),
            Const::Global(g) => self.globals[*g as usize],
            Const::Data { ty, tag, fields } => {
                let vals = self.build_all(fields)?;
                let items: Vec<Value> = self.roots[vals..].to_vec();
                let r = self.new_data(*ty, *tag, &items);
                self.roots.truncate(vals);
                r?
            }
            Const::Tuple(v) | Const::Array(v) | Const::List(v) => {
                let vals = self.build_all(v)?;
                let items = self.roots[vals..].to_vec();
                let r = match c {
                    Const::Tuple(_) => self.new_values(Kind::DATA, 0, builtin::TUPLE, &items),
                    Const::Array(_) => self.new_values(Kind::ARRAY, 0, 0, &items),
                    _ => self.new_list(&items),
                };
                self.roots.truncate(vals);
                r?
            }
            Const::Closure { func, captures } => {
                let vals = self.build_all(captures)?;
                let items = self.roots[vals..].to_vec();
                let r = self.new_values(Kind::CLOSURE, 0, *func, &items);
                self.roots.truncate(vals);
                r?
            }
            Const::Ref(inner) => {
                let v = self.build(inner)?;
                self.new_values(Kind::REF, 0, 0, &[v])?
            }
        })
    }

    /// Builds each constant and leaves the values on `roots`; returns where they start.
    fn build_all(&mut self, cs: &[Const]) -> Result<usize, Trap> {
        let mark = self.roots.len();
        for c in cs {
            match self.build(c) {
                Ok(v) => self.roots.push(v),
                Err(e) => {
                    self.roots.truncate(mark);
                    return Err(e);
                }
            }
        }
        Ok(mark)
    }
}
