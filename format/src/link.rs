//! The linker core: merges objects, and the libraries they need, into one module.
//!
//! It exists so that each source file can be compiled on its own into a linkable
//! object, and a program assembled from objects and libraries found on a search path.
//! `hashld` and the VM's load-time linking are thin layers over [`link`]; finding
//! library files is the caller's business (the `resolve` callback), so this module does
//! no IO.
//!
//! What it does, in order (SPEC.md, "Linking and symbol resolution", is the reference):
//!
//! 1. **Units.** Each object's needed libraries are loaded through `resolve`,
//!    recursively, each library once, depth first, and placed *before* the first unit
//!    that needs them, so that a library's initialisers run before its users'. A library
//!    that one of the `objects` defines ([`defined_library`]) is taken from there, not
//!    resolved, and moved to that place: an object given to the linker satisfies its
//!    library whatever its file is called. A cycle among libraries is an error that
//!    names it.
//! 2. **Symbols.** Every export of every unit goes into one table; a name exported twice
//!    is an error naming both files.
//! 3. **Numbering.** Functions are concatenated. Globals and types *defined* by the units
//!    are concatenated in unit order; imported globals and types are **dropped** and
//!    every reference to one is rewritten to the exported global or type it resolves to
//!    (following re-exports). The output therefore has no dead slots and, when complete,
//!    no imports at all.
//! 4. **Relocation.** Every global, function and type index in code (decoded and
//!    re-encoded in place: operand widths are fixed, so offsets do not move), in
//!    constants, initialisers, the entry, exports and debug tables is rewritten. Debug
//!    file tables are merged (equal names share one entry).
//!
//! The output's entry is the one entry point among the units (two are an error). When
//! there is an entry every import must resolve, and the output is an executable. With no
//! entry the link is *partial*: symbols no unit exports stay imports (one global or type
//! per symbol, placed after the defined ones) and the output is a linkable object.
//!
//! Inputs should have passed [`crate::verify::verify`]; the linker never panics on one
//! that has not, but reports the first bad index it meets as [`LinkError::BadObject`].

use crate::binary::MAX_CONST_DEPTH;
use crate::insn::{decode_all, Insn, Operand};
use crate::module::*;
use std::collections::HashMap;
use std::fmt;

/// Why objects could not be linked. Every variant names the files involved, so a user
/// can tell which object to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// Two units export the same name.
    DuplicateSymbol {
        /// The symbol.
        symbol: String,
        /// The unit that exported it first.
        first: String,
        /// The unit that exported it again.
        second: String,
    },
    /// An import no unit exports, in a link that must be complete (it has an entry).
    UndefinedSymbol {
        /// The symbol.
        symbol: String,
        /// The unit importing it.
        wanted_by: String,
    },
    /// An import of a global resolved to a type, or the other way round.
    KindMismatch {
        /// The symbol.
        symbol: String,
        /// The unit exporting it.
        defined_in: String,
        /// What it exports: `"global"` or `"type"`.
        defined_as: &'static str,
        /// The unit importing it.
        wanted_by: String,
    },
    /// Following re-exports of a symbol leads back to where it started.
    ImportCycle {
        /// The symbol.
        symbol: String,
        /// The unit importing it.
        wanted_by: String,
    },
    /// `resolve` found no library of this name.
    LibraryNotFound {
        /// The library name.
        library: String,
        /// The unit that needs it.
        wanted_by: String,
    },
    /// `resolve` failed (unreadable or invalid file).
    Library {
        /// The library name.
        library: String,
        /// What went wrong, as `resolve` put it.
        message: String,
    },
    /// Libraries that need each other, in order, the first repeated at the end.
    LibraryCycle(Vec<String>),
    /// Two units have an entry point.
    TwoEntries {
        /// The unit with the first entry.
        first: String,
        /// The unit with the second.
        second: String,
    },
    /// An input holds an index out of range or undecodable code: it was not verified.
    BadObject {
        /// The unit.
        file: String,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::DuplicateSymbol {
                symbol,
                first,
                second,
            } => write!(
                f,
                "duplicate symbol `{symbol}`: defined in {first} and {second}"
            ),
            LinkError::UndefinedSymbol { symbol, wanted_by } => {
                write!(f, "undefined symbol `{symbol}` wanted by {wanted_by}")
            }
            LinkError::KindMismatch {
                symbol,
                defined_in,
                defined_as,
                wanted_by,
            } => {
                let wanted = if *defined_as == "type" {
                    "global"
                } else {
                    "type"
                };
                write!(
                    f,
                    "symbol `{symbol}` is a {defined_as} in {defined_in} but {wanted_by} imports it as a {wanted}"
                )
            }
            LinkError::ImportCycle { symbol, wanted_by } => write!(
                f,
                "symbol `{symbol}` wanted by {wanted_by} is only ever re-exported: its imports form a cycle"
            ),
            LinkError::LibraryNotFound { library, wanted_by } => {
                write!(f, "library `{library}` not found (needed by {wanted_by})")
            }
            LinkError::Library { library, message } => write!(f, "library `{library}`: {message}"),
            LinkError::LibraryCycle(names) => {
                write!(f, "libraries need each other: {}", names.join(" -> "))
            }
            LinkError::TwoEntries { first, second } => write!(
                f,
                "two entry points: one in {first} and one in {second}"
            ),
            LinkError::BadObject { file, message } => write!(f, "{file}: {message}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// What `resolve` hands back for a library name: `Some((display name, module))`, the
/// display name (usually the path) being what error messages call the library; `None`
/// when no library has that name.
pub type Resolved = Option<(String, Module)>;

/// The library an object on the command line defines, so that it satisfies a
/// `.library` need of another unit without a search (as `ld` and `ocamlc` use the
/// objects they are given, whatever their files are called):
///
/// - the common prefix `NAME` of its exports when every export is `NAME::symbol` (the
///   names `hashc` gives: `util.hash` exports `util::scale`, the bundled
///   `std/list.hash` exports `std.list::map`);
/// - otherwise, the file name of `display` without its `.hbc` extension (the file a
///   search for `NAME` would find).
pub fn defined_library(display: &str, m: &Module) -> Option<String> {
    let mut prefix: Option<&str> = None;
    let by_exports = !m.exports.is_empty()
        && m.exports.iter().all(|e| match e.name.split_once("::") {
            Some((p, _)) if !p.is_empty() => *prefix.get_or_insert(p) == p,
            _ => false,
        });
    if by_exports {
        return prefix.map(str::to_string);
    }
    let file = display.rsplit(['/', '\\']).next()?;
    file.strip_suffix(".hbc")
        .filter(|stem| !stem.is_empty())
        .map(str::to_string)
}

/// Where a unit comes from: a library `resolve` found, or an object of the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Lib(usize),
    Obj(usize),
}

/// Orders the units: each unit after the libraries it needs (recursively, each once).
/// A library that an object of the command line defines ([`defined_library`]) is that
/// object, moved before its first user, and is not looked up.
fn order_units(
    objects: &[(String, Module)],
    libs: &mut Vec<(String, Module)>,
    resolve: &mut dyn FnMut(&str) -> Result<Resolved, String>,
    errors: &mut Vec<LinkError>,
) -> Vec<Source> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Visiting,
        Done,
        Failed,
    }
    // The first object defining each library name satisfies it.
    let mut defined: HashMap<String, usize> = HashMap::new();
    for (oi, (oname, obj)) in objects.iter().enumerate() {
        if let Some(name) = defined_library(oname, obj) {
            defined.entry(name).or_insert(oi);
        }
    }
    let unit = |src: Source, libs: &[(String, Module)]| -> (String, Vec<String>) {
        let (disp, m) = match src {
            Source::Lib(i) => &libs[i],
            Source::Obj(i) => &objects[i],
        };
        (disp.clone(), m.libraries.clone())
    };
    let mut state: HashMap<String, State> = HashMap::new();
    let mut placed = vec![false; objects.len()];
    let mut units = Vec::new();
    for oi in 0..objects.len() {
        if placed[oi] {
            continue;
        }
        // The object being placed is a library in the making: a library that needs
        // it back is a cycle.
        let own =
            defined_library(&objects[oi].0, &objects[oi].1).filter(|n| defined.get(n) == Some(&oi));
        // Iterative depth-first search: (library name, unit, next child).
        let mut stack: Vec<(String, Source, usize)> =
            vec![(own.clone().unwrap_or_default(), Source::Obj(oi), 0)];
        if let Some(n) = &own {
            state.insert(n.clone(), State::Visiting);
        }
        let mut want: Option<(String, String)> = None;
        loop {
            if let Some((name, wanted_by)) = want.take() {
                match state.get(&name) {
                    Some(State::Done) | Some(State::Failed) => {}
                    Some(State::Visiting) => {
                        let from = stack.iter().position(|s| s.0 == name).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|s| s.0.clone()).collect();
                        cycle.push(name.clone());
                        errors.push(LinkError::LibraryCycle(cycle));
                    }
                    None => match defined.get(&name) {
                        Some(&di) => {
                            state.insert(name.clone(), State::Visiting);
                            stack.push((name, Source::Obj(di), 0));
                        }
                        None => match resolve(&name) {
                            Ok(Some((disp, m))) => {
                                state.insert(name.clone(), State::Visiting);
                                libs.push((disp, m));
                                stack.push((name, Source::Lib(libs.len() - 1), 0));
                            }
                            Ok(None) => {
                                state.insert(name.clone(), State::Failed);
                                errors.push(LinkError::LibraryNotFound {
                                    library: name,
                                    wanted_by,
                                });
                            }
                            Err(message) => {
                                state.insert(name.clone(), State::Failed);
                                errors.push(LinkError::Library {
                                    library: name,
                                    message,
                                });
                            }
                        },
                    },
                }
            }
            let Some(top) = stack.last_mut() else { break };
            let (disp, needs) = unit(top.1, libs);
            if let Some(child) = needs.get(top.2) {
                top.2 += 1;
                want = Some((child.clone(), disp));
            } else {
                let (name, src, _) = top.clone();
                stack.pop();
                if !name.is_empty() {
                    state.insert(name, State::Done);
                }
                if let Source::Obj(i) = src {
                    placed[i] = true;
                }
                units.push(src);
            }
        }
    }
    units
}

/// Per-unit renumbering tables, filled before any relocation.
struct Maps {
    func_base: Vec<u32>,
    /// Output index of each unit's first foreign function (the tables are
    /// concatenated in unit order).
    foreign_base: Vec<u32>,
    /// Output global index of each global of each unit (imports included, once
    /// resolved); `u32::MAX` until known.
    global: Vec<Vec<u32>>,
    /// Output type-table index of each type-table entry of each unit.
    types: Vec<Vec<u32>>,
}

impl Maps {
    fn get(&mut self, kind: Kind) -> &mut Vec<Vec<u32>> {
        match kind {
            Kind::Global => &mut self.global,
            Kind::Type => &mut self.types,
        }
    }
}

/// The two kinds of importable item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Global = 0,
    Type = 1,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Global => "global",
            Kind::Type => "type",
        }
    }
    fn count(self, m: &Module) -> usize {
        match self {
            Kind::Global => m.globals.len(),
            Kind::Type => m.types.len(),
        }
    }
    /// `None` if item `i` does not exist, `Some(None)` for a definition, `Some(Some(s))`
    /// for an import of symbol `s`.
    fn import_of(self, m: &Module, i: usize) -> Option<Option<&str>> {
        match self {
            Kind::Global => m.globals.get(i).map(|g| match &g.init {
                GlobalInit::Import(s) => Some(s.as_str()),
                _ => None,
            }),
            Kind::Type => m.types.get(i).map(|t| match t {
                TypeDef::Import { symbol } => Some(symbol.as_str()),
                TypeDef::Defined { .. } => None,
            }),
        }
    }
}

/// Where an import leads.
enum Bound {
    /// To item `.1` of unit `.0`, a definition.
    Def(usize, usize),
    /// To a symbol no unit exports (partial links only).
    Unresolved(String),
}

/// Follows the import `start` (unit, item) through exports and re-exports, at most
/// `limit` steps (more means a cycle).
fn follow(
    units: &[(&str, &Module)],
    symbols: &HashMap<&str, (usize, ExportTarget)>,
    kind: Kind,
    start: (usize, usize),
    limit: usize,
    complete: bool,
) -> Result<Bound, LinkError> {
    let (mut u, mut i) = start;
    let mut first = None;
    for _ in 0..=limit {
        let Some(import) = kind.import_of(units[u].1, i) else {
            return Err(LinkError::BadObject {
                file: units[u].0.to_string(),
                message: format!("exports {} {i}, which does not exist", kind.name()),
            });
        };
        let Some(sym) = import else {
            return Ok(Bound::Def(u, i));
        };
        first.get_or_insert(sym);
        match symbols.get(sym) {
            Some(&(eu, target)) => match (kind, target) {
                (Kind::Global, ExportTarget::Global(x)) | (Kind::Type, ExportTarget::Type(x)) => {
                    (u, i) = (eu, x as usize)
                }
                _ => {
                    return Err(LinkError::KindMismatch {
                        symbol: sym.to_string(),
                        defined_in: units[eu].0.to_string(),
                        defined_as: match kind {
                            Kind::Global => Kind::Type.name(),
                            Kind::Type => Kind::Global.name(),
                        },
                        wanted_by: units[u].0.to_string(),
                    })
                }
            },
            None if complete => {
                return Err(LinkError::UndefinedSymbol {
                    symbol: sym.to_string(),
                    wanted_by: units[u].0.to_string(),
                })
            }
            None => return Ok(Bound::Unresolved(sym.to_string())),
        }
    }
    Err(LinkError::ImportCycle {
        symbol: first.unwrap_or_default().to_string(),
        wanted_by: units[start.0].0.to_string(),
    })
}

struct Linker<'a> {
    units: Vec<(&'a str, &'a Module)>,
    maps: Maps,
    file_map: Vec<Vec<u32>>,
}

const UNSET: u32 = u32::MAX;

impl Linker<'_> {
    fn bad(&self, u: usize, message: String) -> LinkError {
        LinkError::BadObject {
            file: self.units.get(u).map_or("?", |x| x.0).to_string(),
            message,
        }
    }

    fn func(&self, u: usize, f: u32) -> Result<u32, LinkError> {
        let n = self.units[u].1.functions.len();
        if f as usize >= n {
            return Err(self.bad(u, format!("function {f} out of range ({n} functions)")));
        }
        Ok(self.maps.func_base[u] + f)
    }

    fn foreign(&self, u: usize, f: u32) -> Result<u32, LinkError> {
        let n = self.units[u].1.foreigns.len();
        if f as usize >= n {
            return Err(self.bad(
                u,
                format!("foreign function {f} out of range ({n} declared)"),
            ));
        }
        Ok(self.maps.foreign_base[u] + f)
    }

    fn global(&self, u: usize, g: u32) -> Result<u32, LinkError> {
        match self.maps.global[u].get(g as usize) {
            Some(&o) if o != UNSET => Ok(o),
            _ => Err(self.bad(u, format!("global {g} out of range"))),
        }
    }

    fn type_index(&self, u: usize, t: u32) -> Result<u32, LinkError> {
        match self.maps.types[u].get(t as usize) {
            Some(&o) if o != UNSET => Ok(o),
            _ => Err(self.bad(u, format!("type table index {t} out of range"))),
        }
    }

    fn type_id(&self, u: usize, id: u32) -> Result<u32, LinkError> {
        if id < FIRST_USER_TYPE {
            return Ok(id);
        }
        Ok(self.type_index(u, id - FIRST_USER_TYPE)? + FIRST_USER_TYPE)
    }

    fn konst(&self, u: usize, c: &Const, depth: usize) -> Result<Const, LinkError> {
        if depth > MAX_CONST_DEPTH {
            return Err(self.bad(u, format!("constant nested deeper than {MAX_CONST_DEPTH}")));
        }
        let list = |v: &[Const]| -> Result<Vec<Const>, LinkError> {
            v.iter().map(|c| self.konst(u, c, depth + 1)).collect()
        };
        Ok(match c {
            Const::Data { ty, tag, fields } => Const::Data {
                ty: self.type_id(u, *ty)?,
                tag: *tag,
                fields: list(fields)?,
            },
            Const::Tuple(v) => Const::Tuple(list(v)?),
            Const::List(v) => Const::List(list(v)?),
            Const::Array(v) => Const::Array(list(v)?),
            Const::Closure { func, captures } => Const::Closure {
                func: self.func(u, *func)?,
                captures: list(captures)?,
            },
            Const::Func(f) => Const::Func(self.func(u, *f)?),
            Const::Ref(c) => Const::Ref(Box::new(self.konst(u, c, depth + 1)?)),
            Const::Global(g) => Const::Global(self.global(u, *g)?),
            c => c.clone(),
        })
    }

    fn code(&self, u: usize, fi: usize, code: &[u8]) -> Result<Vec<u8>, LinkError> {
        let insns = decode_all(code)
            .map_err(|(at, e)| self.bad(u, format!("function {fi}: offset {at}: {e}")))?;
        let mut out = Vec::with_capacity(code.len());
        for (_, insn) in insns {
            let mut args = insn.args.clone();
            for a in args.iter_mut() {
                match a {
                    Operand::Global(g) => *g = self.global(u, *g)?,
                    Operand::Func(f) => *f = self.func(u, *f)?,
                    Operand::Foreign(f) => *f = self.foreign(u, *f)?,
                    Operand::Type(t) => *t = self.type_id(u, *t)?,
                    _ => {}
                }
            }
            Insn { op: insn.op, args }.encode(&mut out);
        }
        Ok(out)
    }
}

/// Where one unit of a link (an object or a library) went in the output: a caller
/// that needs to find an object's functions, globals or types after linking asks this
/// rather than planting marker symbols to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitMap {
    /// The unit's display name: the name given with an object, or the one `resolve`
    /// returned for a library.
    pub name: String,
    /// The output index of the unit's function 0 (its functions are consecutive).
    pub first_function: u32,
    /// How many functions the unit has.
    pub functions: u32,
    /// The output index of each of the unit's globals, imports included (resolved to
    /// the global they are bound to).
    pub globals: Vec<u32>,
    /// The output type-table index of each of the unit's type-table entries, imports
    /// included (resolved likewise).
    pub types: Vec<u32>,
}

impl UnitMap {
    /// The output index of the unit's function `f`.
    pub fn function(&self, f: u32) -> Option<u32> {
        (f < self.functions).then(|| self.first_function + f)
    }

    /// The output index of the unit's global `g`.
    pub fn global(&self, g: u32) -> Option<u32> {
        self.globals.get(g as usize).copied()
    }
}

/// Where every unit of a link went, in link order ([`link_mapped`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkMap {
    /// One entry per unit, in the order the units were linked.
    pub units: Vec<UnitMap>,
}

impl LinkMap {
    /// The unit of display name `name`.
    pub fn unit(&self, name: &str) -> Option<&UnitMap> {
        self.units.iter().find(|u| u.name == name)
    }
}

/// Links `objects` (each with a display name for messages, usually its path) and the
/// libraries they need into one module. `resolve(name)` finds a library by name:
/// `Ok(Some((display name, module)))`, `Ok(None)` when there is none, `Err(message)`
/// when it exists but cannot be used. Returns every error found.
pub fn link(
    objects: &[(String, Module)],
    resolve: &mut dyn FnMut(&str) -> Result<Resolved, String>,
) -> Result<Module, Vec<LinkError>> {
    link_mapped(objects, resolve).map(|(m, _)| m)
}

/// [`link`], also returning where each unit's functions, globals and types went.
pub fn link_mapped(
    objects: &[(String, Module)],
    resolve: &mut dyn FnMut(&str) -> Result<Resolved, String>,
) -> Result<(Module, LinkMap), Vec<LinkError>> {
    let mut errors = Vec::new();
    let mut libs = Vec::new();
    let order = order_units(objects, &mut libs, resolve, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let units: Vec<(&str, &Module)> = order
        .iter()
        .map(|&src| {
            let (n, m) = match src {
                Source::Lib(i) => &libs[i],
                Source::Obj(i) => &objects[i],
            };
            (n.as_str(), m)
        })
        .collect();

    // Symbols.
    let mut symbols: HashMap<&str, (usize, ExportTarget)> = HashMap::new();
    for (u, (uname, m)) in units.iter().enumerate() {
        for e in &m.exports {
            if let Some((first, _)) = symbols.get(e.name.as_str()) {
                errors.push(LinkError::DuplicateSymbol {
                    symbol: e.name.clone(),
                    first: units[*first].0.to_string(),
                    second: uname.to_string(),
                });
            } else {
                symbols.insert(&e.name, (u, e.target));
            }
        }
    }

    // Entry.
    let mut entry: Option<(usize, u32)> = None;
    for (u, (uname, m)) in units.iter().enumerate() {
        if let Some(e) = m.entry {
            if let Some((first, _)) = entry {
                errors.push(LinkError::TwoEntries {
                    first: units[first].0.to_string(),
                    second: uname.to_string(),
                });
            } else {
                entry = Some((u, e));
            }
        }
    }
    let complete = entry.is_some();

    // Numbering of definitions.
    let mut maps = Maps {
        func_base: Vec::new(),
        foreign_base: Vec::new(),
        global: Vec::new(),
        types: Vec::new(),
    };
    let (mut nf, mut ng, mut nt, mut nff) = (0u64, 0u32, 0u32, 0u64);
    for (_, m) in &units {
        maps.func_base.push(nf as u32);
        nf += m.functions.len() as u64;
        maps.foreign_base.push(nff as u32);
        nff += m.foreigns.len() as u64;
        maps.global.push(
            m.globals
                .iter()
                .map(|g| match g.init {
                    GlobalInit::Import(_) => UNSET,
                    _ => {
                        ng += 1;
                        ng - 1
                    }
                })
                .collect(),
        );
        maps.types.push(
            m.types
                .iter()
                .map(|t| match t {
                    TypeDef::Import { .. } => UNSET,
                    _ => {
                        nt += 1;
                        nt - 1
                    }
                })
                .collect(),
        );
    }
    if nf > u32::MAX as u64 || nff > u32::MAX as u64 {
        errors.push(LinkError::BadObject {
            file: "(output)".into(),
            message: "more than 2^32 functions or foreign functions".into(),
        });
        return Err(errors);
    }

    // Import resolution: follow re-exports until a definition. Unresolved imports of a
    // partial link are kept, one per symbol, after the definitions.
    let mut kept: [Vec<(String, String)>; 2] = [Vec::new(), Vec::new()];
    let mut kept_ix: [HashMap<String, u32>; 2] = [HashMap::new(), HashMap::new()];
    for kind in [Kind::Global, Kind::Type] {
        let k = kind as usize;
        let defined = [ng, nt][k];
        let limit: usize = units.iter().map(|u| kind.count(u.1)).sum();
        for u in 0..units.len() {
            for i in 0..kind.count(units[u].1) {
                if !matches!(kind.import_of(units[u].1, i), Some(Some(_))) {
                    continue;
                }
                let ix = match follow(&units, &symbols, kind, (u, i), limit, complete) {
                    Ok(Bound::Def(du, di)) => maps.get(kind)[du][di],
                    Ok(Bound::Unresolved(sym)) => {
                        let next = defined + kept[k].len() as u32;
                        *kept_ix[k].entry(sym.clone()).or_insert_with(|| {
                            let name = match kind {
                                Kind::Global => units[u].1.globals[i].name.clone(),
                                Kind::Type => String::new(),
                            };
                            kept[k].push((sym, name));
                            next
                        })
                    }
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                maps.get(kind)[u][i] = ix;
            }
        }
    }
    let [kept_globals, kept_types] = kept;
    if !errors.is_empty() {
        errors.dedup();
        return Err(errors);
    }

    // Debug file tables, merged by name.
    let mut files: Vec<String> = Vec::new();
    let mut file_ix: HashMap<&str, u32> = HashMap::new();
    let mut file_map = Vec::new();
    for (_, m) in &units {
        file_map.push(
            m.debug
                .files
                .iter()
                .map(|f| {
                    *file_ix.entry(f).or_insert_with(|| {
                        files.push(f.clone());
                        files.len() as u32 - 1
                    })
                })
                .collect::<Vec<u32>>(),
        );
    }

    let l = Linker {
        units,
        maps,
        file_map,
    };
    match l.assemble(entry, files, kept_globals, kept_types) {
        Ok(m) => Ok((m, l.map())),
        Err(e) => Err(vec![e]),
    }
}

impl Linker<'_> {
    /// Where each unit went (every index is known: imports are resolved).
    fn map(&self) -> LinkMap {
        LinkMap {
            units: self
                .units
                .iter()
                .enumerate()
                .map(|(u, (name, m))| UnitMap {
                    name: name.to_string(),
                    first_function: self.maps.func_base[u],
                    functions: m.functions.len() as u32,
                    globals: self.maps.global[u].clone(),
                    types: self.maps.types[u].clone(),
                })
                .collect(),
        }
    }

    /// Builds the output once every index is known.
    fn assemble(
        &self,
        entry: Option<(usize, u32)>,
        files: Vec<String>,
        kept_globals: Vec<(String, String)>,
        kept_types: Vec<(String, String)>,
    ) -> Result<Module, LinkError> {
        let mut out = Module::default();
        for (u, (_, m)) in self.units.iter().enumerate() {
            for t in &m.types {
                if let TypeDef::Defined { .. } = t {
                    out.types.push(t.clone());
                }
            }
            for (fi, f) in m.functions.iter().enumerate() {
                out.functions.push(Function {
                    code: self.code(u, fi, &f.code)?,
                    ..f.clone()
                });
            }
            for g in &m.globals {
                let init = match &g.init {
                    GlobalInit::Import(_) => continue,
                    GlobalInit::Uninit => GlobalInit::Uninit,
                    GlobalInit::Const(c) => GlobalInit::Const(self.konst(u, c, 0)?),
                };
                out.globals.push(Global {
                    name: g.name.clone(),
                    init,
                });
            }
            for e in &m.exports {
                let target = match e.target {
                    ExportTarget::Global(g) => ExportTarget::Global(self.global(u, g)?),
                    ExportTarget::Type(t) => ExportTarget::Type(self.type_index(u, t)?),
                };
                out.exports.push(Export {
                    name: e.name.clone(),
                    target,
                });
            }
            for &f in &m.inits {
                out.inits.push(self.func(u, f)?);
            }
            out.foreigns.extend(m.foreigns.iter().cloned());
            for fl in &m.debug.lines {
                let mut entries = Vec::with_capacity(fl.entries.len());
                for e in &fl.entries {
                    let file = match self.file_map[u].get(e.file as usize) {
                        Some(&f) => f,
                        None => {
                            return Err(self.bad(u, format!("debug file {} out of range", e.file)))
                        }
                    };
                    entries.push(LineEntry { file, ..*e });
                }
                out.debug.lines.push(FuncLines {
                    func: self.func(u, fl.func)?,
                    entries,
                });
            }
        }
        for (symbol, name) in kept_globals {
            out.globals.push(Global {
                name,
                init: GlobalInit::Import(symbol),
            });
        }
        for (symbol, _) in kept_types {
            out.types.push(TypeDef::Import { symbol });
        }
        out.debug.files = files;
        if let Some((u, e)) = entry {
            out.entry = Some(self.func(u, e)?);
        }
        let has_imports = out
            .globals
            .iter()
            .any(|g| matches!(g.init, GlobalInit::Import(_)))
            || out
                .types
                .iter()
                .any(|t| matches!(t, TypeDef::Import { .. }));
        if out.entry.is_some() && !has_imports {
            out.flags = FLAG_EXECUTABLE;
        }
        Ok(out)
    }
}
