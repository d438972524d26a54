//! Loading a verified, fully linked module into a [`Vm`]: functions, type metadata, and
//! globals built from their encoded constants.
//!
//! Constants may share objects and even form cycles through `Const::Global` (a closure
//! that captures itself, computed by `#run`). Globals are therefore built in three
//! passes: allocate each container global as an empty shell, resolve aliases, then fill
//! the shells' fields, by which time every global a field can name already exists.

use crate::heap::{self, Elems, Kind};
use crate::value::Value;
use crate::vm::{CtorInfo, FuncInfo, Trap, TypeInfo, Vm};
use hashvm_format::link::{self, Resolved};
use hashvm_format::{
    builtin, Const, Ctor, Export, ExportTarget, Function, Global, GlobalInit, Module, TypeDef,
    Verified, FIRST_USER_TYPE,
};
use std::collections::{HashMap, HashSet};

/// What a running VM has loaded, as the linker sees it: the symbols its code exports
/// (in the VM's numbering) and the names of the libraries linked in by
/// [`Vm::link_in`]. [`Vm::load`] starts it afresh.
#[derive(Clone, Debug, Default)]
pub struct Image {
    /// Exported symbols: global index or type-table index (type id minus
    /// [`FIRST_USER_TYPE`]).
    symbols: HashMap<String, ExportTarget>,
    /// Names of the objects and libraries linked in, so they are not linked twice.
    libraries: HashSet<String>,
}

/// The result of [`Vm::link_in`]: the new initialisers to run (in order) and the entry
/// point, if the new code has one, in the VM's numbering.
#[derive(Clone, Debug, Default)]
pub struct LinkedIn {
    /// Initialisers of the new code, in link order (libraries first).
    pub inits: Vec<u32>,
    /// The new code's entry point.
    pub entry: Option<u32>,
    /// The first function index of the new code (functions before it were loaded
    /// already).
    pub first_function: u32,
    /// Where each linked unit's functions, globals and types are in the VM's
    /// numbering, by display name (the loaded program is the unit `<loaded>`).
    pub map: link::LinkMap,
}

/// What the interpreter keeps of a loaded function; its back-edges take loop-slot
/// numbers from `nedges` on.
fn func_info(f: &Function, nedges: &mut u32) -> FuncInfo {
    FuncInfo {
        name: f.name.clone(),
        code: crate::vm::Code::new(&f.code, &crate::jit::edge_table(&f.code, nedges)),
        arity: f.arity,
        ncaptures: f.ncaptures,
        nslots: f.nslots,
    }
}

impl Vm {
    /// Installs `m` (verified, and linked: it must import nothing) and builds its
    /// globals. Replaces any program loaded before. Running code that was not verified
    /// takes an explicit `unsafe` [`Verified::new_unchecked`].
    ///
    /// ```compile_fail,E0308
    /// // An unverified module does not load: `load` takes a `Verified`.
    /// let m = hashvm_format::Module::default();
    /// hashvm_vm::Vm::new(hashvm_vm::Config::default()).load(&m);
    /// ```
    pub fn load(&mut self, m: Verified<'_>) -> Result<(), Trap> {
        if self.in_hook {
            return Err(self.error_plain("cannot load a program from inside the JIT hook"));
        }
        if !m.is_linked() {
            return Err(
                self.error_plain("cannot load a module with unresolved imports: link it first")
            );
        }
        let m: &Module = m.module();
        let foreigns = self
            .resolve_foreigns(&m.foreigns)
            .map_err(|e| self.error_plain(e))?;
        self.foreigns = foreigns;
        // The sockets of the program loaded before, if any, close with it.
        self.net = Default::default();
        self.frames.truncate(0);
        let mut nedges = 0u32;
        self.funcs = m
            .functions
            .iter()
            .map(|f| func_info(f, &mut nedges))
            .collect();
        self.reset_jit(nedges as usize);
        self.types.truncate(FIRST_USER_TYPE as usize);
        for t in &m.types {
            self.types.push(type_info(t));
        }
        self.globals = vec![Value::UNIT; m.globals.len()];
        // The initialisers may run traces, which read the globals through the block.
        self.sync_jit_state();
        self.init_globals(m, 0)?;
        self.debug = Module {
            functions: Vec::new(),
            debug: m.debug.clone(),
            ..Module::default()
        };
        self.image = Image {
            symbols: m
                .exports
                .iter()
                .map(|e| (e.name.clone(), e.target))
                .collect(),
            libraries: HashSet::new(),
        };
        self.sync_jit_state();
        Ok(())
    }

    /// The global or type that the loaded code exports as `symbol` (`repl-3::x`).
    pub fn symbol(&self, symbol: &str) -> Option<ExportTarget> {
        self.image.symbols.get(symbol).copied()
    }

    /// Whether an object or library of this name has been linked in by
    /// [`Vm::link_in`].
    pub fn has_library(&self, name: &str) -> bool {
        self.image.libraries.contains(name)
    }

    /// Links more code into the running program: `objects` (display name = the name
    /// other objects ask for it by, e.g. its module key) and the libraries they need
    /// that are not loaded yet (found through `resolve`, as for [`link::link`]).
    /// Their imports may name any symbol already loaded. Functions, globals and types
    /// are appended; everything loaded before keeps its index and every global its
    /// value. The new code is verified in the context of the loaded code before
    /// anything is installed, so a link or verification error leaves the VM unchanged
    /// (only running out of memory while building the new constants, after
    /// installing, leaves new code that nothing refers to).
    ///
    /// How: the loaded program is presented to the linker as a first object that
    /// defines exactly the loaded functions, globals and types and exports the loaded
    /// symbols; linked first, it keeps its numbering, so the new code comes out
    /// numbered after it and referring to it. The whole result is verified, then its
    /// tail installed. The initialisers of the new code are returned, not run.
    pub fn link_in(
        &mut self,
        objects: &[(String, Module)],
        resolve: &mut dyn FnMut(&str) -> Result<Resolved, String>,
    ) -> Result<LinkedIn, String> {
        let loaded = self.image.libraries.clone();
        let strip = |m: &mut Module| m.libraries.retain(|l| !loaded.contains(l));
        let mut units: Vec<(String, Module)> = vec![("<loaded>".into(), self.image_object())];
        for (n, m) in objects {
            let mut m = m.clone();
            strip(&mut m);
            units.push((n.clone(), m));
        }
        let mut linked_libs: Vec<String> = Vec::new();
        let mut wrapped = |name: &str| -> Result<Resolved, String> {
            Ok(match resolve(name)? {
                Some((d, mut m)) => {
                    strip(&mut m);
                    linked_libs.push(name.to_string());
                    Some((d, m))
                }
                None => None,
            })
        };
        let (m, map) = link::link_mapped(&units, &mut wrapped).map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let (nf, ng, nt) = (
            self.funcs.len(),
            self.globals.len(),
            self.types.len() - FIRST_USER_TYPE as usize,
        );
        if let Some(g) = m.globals.iter().find_map(|g| match &g.init {
            GlobalInit::Import(s) => Some(s.clone()),
            _ => None,
        }) {
            return Err(format!("unresolved symbol `{g}`"));
        }
        if let Some(TypeDef::Import { symbol }) =
            m.types.iter().find(|t| matches!(t, TypeDef::Import { .. }))
        {
            return Err(format!("unresolved type `{symbol}`"));
        }
        if m.functions.len() < nf || m.globals.len() < ng || m.types.len() < nt {
            return Err("internal error: the linked code lost part of the loaded program".into());
        }
        hashvm_format::verify::verify(&m).map_err(|e| format!("verification failed: {e}"))?;
        let nff = self.foreigns.len();
        if m.foreigns.len() < nff {
            return Err("internal error: the linked code lost foreign functions".into());
        }
        let new_foreigns = self.resolve_foreigns(&m.foreigns[nff..])?;
        // Install the tail: functions, types, then globals (whose constants may name
        // any of them).
        // New functions get their own back-edge numbers and counters after the loaded
        // ones (traces of the loaded code stay valid: nothing they use moved).
        let mut nedges = self.hot_loops.len() as u32;
        for f in &m.functions[nf..] {
            self.funcs.push(func_info(f, &mut nedges));
        }
        self.grow_jit(nedges as usize);
        self.foreigns.extend(new_foreigns);
        for t in &m.types[nt..] {
            self.types.push(type_info(t));
        }
        self.globals.resize(m.globals.len(), Value::UNIT);
        // The initialisers may run traces, which read the globals through the block.
        self.sync_jit_state();
        if let Err(t) = self.init_globals(&m, ng) {
            return Err(match t {
                Trap::Error(e) => e.message,
                Trap::Exit(c) => format!("exit({c}) while building constants"),
            });
        }
        // Debug tables of the new functions, their file indices renumbered.
        let mut file_map = Vec::new();
        for name in &m.debug.files {
            let files = &mut self.debug.debug.files;
            let k = match files.iter().position(|f| f == name) {
                Some(k) => k,
                None => {
                    files.push(name.clone());
                    files.len() - 1
                }
            };
            file_map.push(k as u32);
        }
        for fl in m.debug.lines.iter().filter(|fl| fl.func as usize >= nf) {
            let mut fl = fl.clone();
            for e in &mut fl.entries {
                e.file = file_map.get(e.file as usize).copied().unwrap_or(e.file);
            }
            self.debug.debug.lines.push(fl);
        }
        for e in &m.exports {
            self.image.symbols.insert(e.name.clone(), e.target);
        }
        self.image
            .libraries
            .extend(objects.iter().map(|(n, _)| n.clone()).chain(linked_libs));
        Ok(LinkedIn {
            inits: m.inits.clone(),
            entry: m.entry,
            first_function: nf as u32,
            map,
        })
    }

    /// The loaded code as a module (for disassembly): functions, types and exported
    /// symbols; the globals are there by number only (no values).
    pub fn loaded_module(&self) -> Module {
        let mut m = self.image_object();
        m.debug = self.debug.debug.clone();
        m
    }

    /// The loaded program as a linkable object: its functions (with their code, so
    /// that the linked whole verifies), its globals (values are not needed: the
    /// linker only numbers them), its types and its exported symbols.
    fn image_object(&self) -> Module {
        let mut exports: Vec<Export> = self
            .image
            .symbols
            .iter()
            .map(|(n, t)| Export {
                name: n.clone(),
                target: *t,
            })
            .collect();
        exports.sort_by(|a, b| a.name.cmp(&b.name));
        Module {
            types: self.types[FIRST_USER_TYPE as usize..]
                .iter()
                .map(|t| TypeDef::Defined {
                    name: t.name.clone(),
                    ctors: t
                        .ctors
                        .iter()
                        .map(|c| Ctor {
                            name: c.name.clone(),
                            arity: c.arity,
                            fields: Vec::new(),
                        })
                        .collect(),
                })
                .collect(),
            functions: self
                .funcs
                .iter()
                .map(|f| Function {
                    name: f.name.clone(),
                    arity: f.arity,
                    ncaptures: f.ncaptures,
                    nslots: f.nslots,
                    code: f.code.to_vec(),
                })
                .collect(),
            globals: (0..self.globals.len())
                .map(|_| Global {
                    name: String::new(),
                    init: GlobalInit::Uninit,
                })
                .collect(),
            exports,
            foreigns: self.foreigns.iter().map(|f| f.decl.clone()).collect(),
            ..Module::default()
        }
    }

    /// Builds the globals `from..` of `m` from their constants (the others exist
    /// already and keep their values).
    fn init_globals(&mut self, m: &Module, from: usize) -> Result<(), Trap> {
        // Pass 1: shells and leaves.
        for (i, g) in m.globals.iter().enumerate().skip(from) {
            if let GlobalInit::Const(c) = &g.init {
                let v = match c {
                    Const::Global(_) => Value::UNIT,
                    _ => self.shell(c)?,
                };
                self.globals[i] = v;
            }
        }
        // Pass 2: aliases (`Const::Global` at the top), followed to their end.
        for (i, g) in m.globals.iter().enumerate().skip(from) {
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
        for (i, g) in m.globals.iter().enumerate().skip(from) {
            if let GlobalInit::Const(c) = &g.init {
                self.fill(i, c)?;
            }
        }
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
            // An array of scalars of one kind is built whole, flat (nothing in it can
            // refer to a global); any other starts general and is filled in pass 3.
            Const::Array(v) if flat_consts(v) => self.build(c)?,
            Const::Array(v) => {
                self.new_values(Kind::ARRAY, 0, Elems::GENERAL, &vec![Value::UNIT; n(v)])?
            }
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
            Const::Array(v) if flat_consts(v) => return Ok(()),
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
                    self.heap.store(cell.ptr(), 0, v);
                    self.roots[cursor] = *heap::fields(cell.ptr()).add(1);
                } else {
                    self.heap.store(self.globals[i].ptr(), k, v);
                }
            }
        }
        self.roots.truncate(cursor);
        Ok(())
    }

    /// Builds a constant completely. Its parts are rooted while it is built.
    pub(crate) fn build(&mut self, c: &Const) -> Result<Value, Trap> {
        Ok(match c {
            Const::Unit => Value::UNIT,
            Const::Bool(b) => Value::bool(*b),
            Const::I64(v) => Value::i64(*v),
            Const::U64(v) => Value::u64(*v),
            Const::F64(b) => Value::f64(f64::from_bits(*b)),
            Const::Char(c) => Value::char(char::from_u32(*c).unwrap_or('\u{fffd}')),
            Const::Str(s) => self.new_str(s)?,
            Const::Bytes(b) => self.new_bytes(b)?,
            Const::Big(v) => self.new_big(crate::reify::integer_of(v))?,
            Const::Ratio(r) => self.new_rat(crate::reify::rational_of(r))?,
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
                    Const::Array(_) => self.new_array_of(&items),
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

/// The VM's metadata of a type of a module's type table.
fn type_info(t: &TypeDef) -> TypeInfo {
    match t {
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
    }
}

/// Whether the constants of an array are scalars of one flat elements kind (the
/// array is then built whole and flat by `shell`, never filled).
fn flat_consts(v: &[Const]) -> bool {
    let kind = |c: &Const| match c {
        Const::Bool(_) => 1,
        Const::I64(_) => 2,
        Const::U64(_) => 3,
        Const::F64(_) => 4,
        Const::Char(_) => 5,
        _ => 0,
    };
    match v.first() {
        Some(c) => kind(c) != 0 && v.iter().all(|d| kind(d) == kind(c)),
        None => false,
    }
}
