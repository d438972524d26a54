//! The Rust builder API through which a front end emits a module: functions with
//! labels and line info, types, globals, symbols. It computes frame sizes, resolves
//! labels to offsets, and never produces an encoding the reader would reject.

use crate::insn::{Insn, Operand};
use crate::module::*;
use crate::opcode::{jump_table, Op};
use std::collections::HashMap;

/// A jump target inside one function, bound to an offset with [`FunctionBuilder::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(u32);

/// An operand as a front end supplies it: a final operand, or a label to resolve.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// Used as is.
    Op(Operand),
    /// A `Jump` operand that targets a label.
    Label(Label),
    /// A `Table` operand whose default and cases target labels.
    Table(Label, Vec<Label>),
}

impl From<Operand> for Arg {
    fn from(o: Operand) -> Arg {
        Arg::Op(o)
    }
}

/// Why a function or module could not be finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// A label was jumped to but never bound.
    UnboundLabel(String),
    /// An instruction's operands do not match its opcode.
    BadOperands(String, &'static str),
    /// A jump is farther than an `i32` reaches, or a table longer than `u16` counts.
    TooLarge(String),
    /// A declared function was never defined.
    Undefined(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::UnboundLabel(fun) => write!(f, "{fun}: jump to a label never bound"),
            BuildError::BadOperands(fun, m) => write!(f, "{fun}: operands do not fit `{m}`"),
            BuildError::TooLarge(fun) => write!(f, "{fun}: function too large to encode"),
            BuildError::Undefined(fun) => write!(f, "function {fun} declared but not defined"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why a jump to a label could not be written ([`Labels::resolve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelError {
    /// The label was never bound.
    Unbound,
    /// The distance does not fit an `i32` offset.
    TooFar,
}

/// The labels of one function's code and the jump offsets waiting for them: the one
/// label mechanism of the builder and of the assembler (`crate::hasm`). Each pending
/// jump carries a note of type `T` that comes back with it if it cannot be resolved
/// (the assembler's is the reference's source position and label name).
#[derive(Clone, Debug)]
pub struct Labels<T = ()> {
    bound: Vec<Option<usize>>,
    jumps: Vec<Jump<T>>,
}

/// A 4-byte jump offset at `at`, relative to the instruction at `insn`, to `label`.
#[derive(Clone, Debug)]
struct Jump<T> {
    at: usize,
    insn: usize,
    label: Label,
    note: T,
}

impl<T> Default for Labels<T> {
    fn default() -> Labels<T> {
        Labels {
            bound: Vec::new(),
            jumps: Vec::new(),
        }
    }
}

impl<T> Labels<T> {
    /// A fresh, unbound label.
    pub fn new_label(&mut self) -> Label {
        self.bound.push(None);
        Label(self.bound.len() as u32 - 1)
    }

    /// Binds `l` to code offset `offset` (the last binding counts); `false` if it was
    /// bound already (the assembler's "defined twice") or is not a label of this set.
    pub fn bind(&mut self, l: Label, offset: usize) -> bool {
        match self.bound.get_mut(l.0 as usize) {
            Some(b) => b.replace(offset).is_none(),
            None => false,
        }
    }

    /// Records that the four bytes at code offset `at` are the jump offset, relative
    /// to the instruction at `insn`, of a jump to `label`.
    pub fn jump(&mut self, at: usize, insn: usize, label: Label, note: T) {
        self.jumps.push(Jump {
            at,
            insn,
            label,
            note,
        });
    }

    /// Records the targets of the jump table (`crate::opcode::jump_table` layout)
    /// that starts at code offset `at` in the instruction at `insn`.
    pub fn table(&mut self, at: usize, insn: usize, def: Label, cases: &[Label], note: T)
    where
        T: Clone,
    {
        self.jump(at + jump_table::DEFAULT, insn, def, note.clone());
        for (i, &c) in cases.iter().enumerate() {
            self.jump(at + jump_table::case(i), insn, c, note.clone());
        }
    }

    /// Writes every recorded jump offset into `code`, in the order recorded; returns
    /// the jumps that could not be written, with their notes.
    pub fn resolve(self, code: &mut [u8]) -> Vec<(T, LabelError)> {
        let mut errors = Vec::new();
        for j in self.jumps {
            let target = match self.bound.get(j.label.0 as usize) {
                Some(&Some(t)) => t,
                _ => {
                    errors.push((j.note, LabelError::Unbound));
                    continue;
                }
            };
            match i32::try_from(target as i64 - j.insn as i64) {
                Ok(d) => {
                    if let Some(dst) = code.get_mut(j.at..j.at + 4) {
                        dst.copy_from_slice(&d.to_le_bytes());
                    }
                }
                Err(_) => errors.push((j.note, LabelError::TooFar)),
            }
        }
        errors
    }
}

/// Builds the body of one function.
pub struct FunctionBuilder {
    name: String,
    arity: u16,
    ncaptures: u16,
    nslots: u32,
    code: Vec<u8>,
    labels: Labels,
    lines: Vec<LineEntry>,
    cur_line: Option<(u32, u32, u32)>,
    error: Option<BuildError>,
}

impl FunctionBuilder {
    /// Starts a function taking `arity` arguments in slots `0..arity`, whose closures
    /// carry `ncaptures` values.
    pub fn new(name: impl Into<String>, arity: u16, ncaptures: u16) -> FunctionBuilder {
        FunctionBuilder {
            name: name.into(),
            arity,
            ncaptures,
            nslots: arity as u32,
            code: Vec::new(),
            labels: Labels::default(),
            lines: Vec::new(),
            cur_line: None,
            error: None,
        }
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A fresh, unbound label.
    pub fn new_label(&mut self) -> Label {
        self.labels.new_label()
    }

    /// Binds `l` to the current end of the code.
    pub fn bind(&mut self, l: Label) {
        self.labels.bind(l, self.code.len());
    }

    /// The offset the next instruction will have.
    pub fn offset(&self) -> usize {
        self.code.len()
    }

    /// Makes the frame at least `n` slots big (slots the code names are counted
    /// automatically; this is for slots used only by callees' argument windows).
    pub fn reserve_slots(&mut self, n: u32) {
        self.nslots = self.nslots.max(n);
    }

    /// Attributes the instructions emitted from now on to this source position
    /// (`file` indexes the module's debug file table; see [`ModuleBuilder::file`]).
    pub fn set_location(&mut self, file: u32, line: u32, col: u32) {
        if self.cur_line == Some((file, line, col)) {
            return;
        }
        self.cur_line = Some((file, line, col));
        let offset = self.code.len() as u32;
        if let Some(last) = self.lines.last_mut() {
            if last.offset == offset {
                *last = LineEntry {
                    offset,
                    file,
                    line,
                    col,
                };
                return;
            }
        }
        self.lines.push(LineEntry {
            offset,
            file,
            line,
            col,
        });
    }

    /// Appends one instruction.
    pub fn emit(&mut self, op: Op, args: impl IntoIterator<Item = Arg>) {
        let args: Vec<Arg> = args.into_iter().collect();
        let kinds = op.operands();
        if kinds.len() != args.len() {
            self.error
                .get_or_insert(BuildError::BadOperands(self.name.clone(), op.mnemonic()));
            return;
        }
        let start = self.code.len();
        let mut ops = Vec::with_capacity(args.len());
        // Jumps to labels: (operand offset, target), or a table's (offset, default, cases).
        let mut jumps = Vec::new();
        let mut tables = Vec::new();
        let mut pos = start + op.opcode_len();
        for (k, a) in kinds.iter().zip(args) {
            let operand = match a {
                Arg::Op(o) => o,
                Arg::Label(l) => {
                    jumps.push((pos, l));
                    Operand::Jump(0)
                }
                Arg::Table(def, cases) => {
                    let n = cases.len();
                    tables.push((pos, def, cases));
                    Operand::Table(0, vec![0; n])
                }
            };
            pos += match (k.width(), &operand) {
                (Some(w), _) => w,
                (None, Operand::Table(_, v)) => jump_table::len(v.len()),
                _ => 0,
            };
            ops.push(operand);
        }
        let insn = Insn::new(op, ops);
        if !insn.is_well_formed() {
            self.error
                .get_or_insert(BuildError::BadOperands(self.name.clone(), op.mnemonic()));
            return;
        }
        for run in insn.slot_runs() {
            self.nslots = self.nslots.max(run.end());
        }
        if let Some(Operand::Table(_, v)) =
            insn.args.iter().find(|a| matches!(a, Operand::Table(..)))
        {
            if v.len() > u16::MAX as usize {
                self.error
                    .get_or_insert(BuildError::TooLarge(self.name.clone()));
                return;
            }
        }
        insn.encode(&mut self.code);
        for (at, l) in jumps {
            self.labels.jump(at, start, l, ());
        }
        for (at, def, cases) in tables {
            self.labels.table(at, start, def, &cases, ());
        }
    }

    /// Convenience: emits an instruction whose operands are all final.
    pub fn op(&mut self, op: Op, args: impl IntoIterator<Item = Operand>) {
        self.emit(op, args.into_iter().map(Arg::Op));
    }

    /// Resolves labels and returns the function with its line table.
    pub fn finish(mut self) -> Result<(Function, Vec<LineEntry>), BuildError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let labels = std::mem::take(&mut self.labels);
        if let Some(((), e)) = labels.resolve(&mut self.code).into_iter().next() {
            return Err(match e {
                LabelError::Unbound => BuildError::UnboundLabel(self.name.clone()),
                LabelError::TooFar => BuildError::TooLarge(self.name.clone()),
            });
        }
        let nslots = u16::try_from(self.nslots.max(1))
            .map_err(|_| BuildError::TooLarge(self.name.clone()))?;
        Ok((
            Function {
                name: self.name,
                arity: self.arity,
                ncaptures: self.ncaptures,
                nslots,
                code: self.code,
            },
            self.lines,
        ))
    }
}

/// Builds a whole module.
#[derive(Default)]
pub struct ModuleBuilder {
    module: Module,
    defined: Vec<bool>,
    files: HashMap<String, u32>,
    lines: Vec<(u32, Vec<LineEntry>)>,
}

impl ModuleBuilder {
    /// An empty linkable object.
    pub fn new() -> ModuleBuilder {
        ModuleBuilder::default()
    }

    /// Declares a type and returns its type id (usable in `con` and `Const::Data`).
    pub fn add_type(&mut self, def: TypeDef) -> u32 {
        self.module.types.push(def);
        FIRST_USER_TYPE + self.module.types.len() as u32 - 1
    }

    /// Reserves a function index before its body exists (for recursion).
    pub fn declare_function(&mut self, name: impl Into<String>) -> u32 {
        self.module.functions.push(Function {
            name: name.into(),
            arity: 0,
            ncaptures: 0,
            nslots: 1,
            code: Vec::new(),
        });
        self.defined.push(false);
        self.module.functions.len() as u32 - 1
    }

    /// Supplies the body of a declared function.
    pub fn define_function(&mut self, index: u32, f: FunctionBuilder) -> Result<(), BuildError> {
        let (func, lines) = f.finish()?;
        self.module.functions[index as usize] = func;
        self.defined[index as usize] = true;
        if !lines.is_empty() {
            self.lines.push((index, lines));
        }
        Ok(())
    }

    /// Declares and defines a function in one step, returning its index.
    pub fn add_function(&mut self, f: FunctionBuilder) -> Result<u32, BuildError> {
        let i = self.declare_function(f.name().to_string());
        self.define_function(i, f)?;
        Ok(i)
    }

    /// Adds a global and returns its index.
    pub fn add_global(&mut self, name: impl Into<String>, init: GlobalInit) -> u32 {
        self.module.globals.push(Global {
            name: name.into(),
            init,
        });
        self.module.globals.len() as u32 - 1
    }

    /// Adds a global bound by the linker to another object's export `symbol`.
    pub fn import_global(&mut self, symbol: impl Into<String>) -> u32 {
        let s = symbol.into();
        self.add_global(s.clone(), GlobalInit::Import(s))
    }

    /// Exports a global or type under `name`.
    pub fn export(&mut self, name: impl Into<String>, target: ExportTarget) {
        self.module.exports.push(Export {
            name: name.into(),
            target,
        });
    }

    /// Records that this object needs the library `name` (found on the search path).
    pub fn need_library(&mut self, name: impl Into<String>) {
        let n = name.into();
        if !self.module.libraries.contains(&n) {
            self.module.libraries.push(n);
        }
    }

    /// Declares a foreign (C) function and returns its foreign index, for
    /// `ffi.call`'s `Operand::Foreign`. An identical declaration made before is
    /// reused.
    pub fn add_foreign(&mut self, f: Foreign) -> u32 {
        if let Some(i) = self.module.foreigns.iter().position(|g| *g == f) {
            return i as u32;
        }
        self.module.foreigns.push(f);
        self.module.foreigns.len() as u32 - 1
    }

    /// Adds an initialiser run at program start, in the order added.
    pub fn add_init(&mut self, func: u32) {
        self.module.inits.push(func);
    }

    /// Sets the entry point and marks the module executable.
    pub fn set_entry(&mut self, func: u32) {
        self.module.entry = Some(func);
    }

    /// Marks the module executable (or not).
    pub fn set_executable(&mut self, yes: bool) {
        if yes {
            self.module.flags |= FLAG_EXECUTABLE;
        } else {
            self.module.flags &= !FLAG_EXECUTABLE;
        }
    }

    /// The debug file index for a source file name, adding it if new.
    pub fn file(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.files.get(name) {
            return i;
        }
        let i = self.module.debug.files.len() as u32;
        self.module.debug.files.push(name.to_string());
        self.files.insert(name.to_string(), i);
        i
    }

    /// The module built so far, for inspection.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Finishes the module.
    pub fn finish(mut self) -> Result<Module, BuildError> {
        if let Some(i) = self.defined.iter().position(|d| !d) {
            return Err(BuildError::Undefined(self.module.functions[i].name.clone()));
        }
        self.lines.sort_by_key(|l| l.0);
        self.module.debug.lines = self
            .lines
            .into_iter()
            .map(|(func, entries)| FuncLines { func, entries })
            .collect();
        Ok(self.module)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcode::Op;

    /// A foreign function declared through the builder is called by `ffi.call` with its
    /// foreign index; declaring it again reuses the entry.
    #[test]
    fn foreign_functions() {
        let mut mb = ModuleBuilder::new();
        let cos = Foreign {
            library: "libm.so.6".into(),
            symbol: "cos".into(),
            params: vec![FfiType::F64],
            ret: FfiType::F64,
        };
        let f = mb.add_foreign(cos.clone());
        assert_eq!(mb.add_foreign(cos.clone()), f);
        let g = mb.add_foreign(Foreign {
            symbol: "sin".into(),
            ..cos
        });
        assert_eq!((f, g), (0, 1));
        let mut fb = FunctionBuilder::new("main", 0, 0);
        fb.op(Op::LoadF, [Operand::Slot(0), Operand::F64(0f64.to_bits())]);
        fb.op(
            Op::FfiCall,
            [
                Operand::Slot(1),
                Operand::Foreign(g),
                Operand::Slot(0),
                Operand::U16(1),
            ],
        );
        fb.op(Op::Ret, [Operand::Slot(1)]);
        let main = mb.add_function(fb).unwrap();
        mb.set_entry(main);
        let m = mb.finish().unwrap();
        assert_eq!(m.foreigns.len(), 2);
        crate::verify(&m).unwrap();
    }

    /// Jumps are written relative to their instruction, table entries at the layout's
    /// offsets; an unbound label and a jump beyond `i32` come back with their notes.
    #[test]
    fn labels_resolve_jumps_and_tables_and_report_failures() {
        let mut ls: Labels<&str> = Labels::default();
        let (a, b, never) = (ls.new_label(), ls.new_label(), ls.new_label());
        assert!(ls.bind(a, 2));
        assert!(ls.bind(b, 20));
        let mut code = vec![0u8; 8 + jump_table::len(2)];
        ls.jump(0, 10, a, "back");
        ls.jump(4, 10, never, "lost");
        ls.table(8, 4, b, &[a, b], "table");
        let errors = ls.resolve(&mut code);
        assert_eq!(errors, [("lost", LabelError::Unbound)]);
        let at = |p: usize| i32::from_le_bytes(code[p..p + 4].try_into().unwrap());
        assert_eq!(at(0), -8);
        assert_eq!(at(4), 0, "an unresolved jump is left as it was");
        assert_eq!(at(8 + jump_table::DEFAULT), 16);
        assert_eq!(at(8 + jump_table::case(0)), -2);
        assert_eq!(at(8 + jump_table::case(1)), 16);

        let mut far: Labels<()> = Labels::default();
        let l = far.new_label();
        far.bind(l, 1 << 32);
        far.jump(0, 0, l, ());
        assert_eq!(far.resolve(&mut [0; 4]), [((), LabelError::TooFar)]);
    }

    /// Binding twice reports it (the assembler's "defined twice") and the last binding
    /// counts, as the builder always did.
    #[test]
    fn rebinding_is_reported_and_the_last_binding_counts() {
        let mut ls: Labels<()> = Labels::default();
        let l = ls.new_label();
        assert!(ls.bind(l, 4));
        assert!(!ls.bind(l, 8));
        ls.jump(0, 0, l, ());
        let mut code = [0u8; 4];
        assert!(ls.resolve(&mut code).is_empty());
        assert_eq!(i32::from_le_bytes(code), 8);
    }
}
