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

enum Fixup {
    Jump {
        at: usize,
        insn: usize,
        label: Label,
    },
    Table {
        at: usize,
        insn: usize,
        def: Label,
        cases: Vec<Label>,
    },
}

/// Builds the body of one function.
pub struct FunctionBuilder {
    name: String,
    arity: u16,
    ncaptures: u16,
    nslots: u32,
    code: Vec<u8>,
    labels: Vec<Option<usize>>,
    fixups: Vec<Fixup>,
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
            labels: Vec::new(),
            fixups: Vec::new(),
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
        self.labels.push(None);
        Label(self.labels.len() as u32 - 1)
    }

    /// Binds `l` to the current end of the code.
    pub fn bind(&mut self, l: Label) {
        self.labels[l.0 as usize] = Some(self.code.len());
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
        let mut pending = Vec::new();
        let mut pos = start + op.opcode_len();
        for (k, a) in kinds.iter().zip(args) {
            let operand = match a {
                Arg::Op(o) => o,
                Arg::Label(l) => {
                    pending.push(Fixup::Jump {
                        at: pos,
                        insn: start,
                        label: l,
                    });
                    Operand::Jump(0)
                }
                Arg::Table(def, cases) => {
                    let n = cases.len();
                    pending.push(Fixup::Table {
                        at: pos,
                        insn: start,
                        def,
                        cases,
                    });
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
        self.fixups.extend(pending);
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
        let resolve = |labels: &Vec<Option<usize>>, l: Label, insn: usize, name: &str| {
            let target =
                labels[l.0 as usize].ok_or_else(|| BuildError::UnboundLabel(name.into()))?;
            i32::try_from(target as i64 - insn as i64)
                .map_err(|_| BuildError::TooLarge(name.into()))
        };
        for f in std::mem::take(&mut self.fixups) {
            match f {
                Fixup::Jump { at, insn, label } => {
                    let d = resolve(&self.labels, label, insn, &self.name)?;
                    self.code[at..at + 4].copy_from_slice(&d.to_le_bytes());
                }
                Fixup::Table {
                    at,
                    insn,
                    def,
                    cases,
                } => {
                    let d = resolve(&self.labels, def, insn, &self.name)?;
                    let p = at + jump_table::DEFAULT;
                    self.code[p..p + 4].copy_from_slice(&d.to_le_bytes());
                    for (i, c) in cases.iter().enumerate() {
                        let d = resolve(&self.labels, *c, insn, &self.name)?;
                        let p = at + jump_table::case(i);
                        self.code[p..p + 4].copy_from_slice(&d.to_le_bytes());
                    }
                }
            }
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
}
