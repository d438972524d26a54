//! The verifier: the static checks that make a decoded [`Module`] safe to run.
//!
//! The reader ([`crate::binary::read`]) only checks the *encoding*; this module checks
//! *meaning*: that every index names something, every slot is inside its frame, every
//! jump lands on an instruction, every constructor is built with its arity, and control
//! can never run off the end of a function. The machine runs it on every load, so once it
//! passes, the interpreter may index frames, globals, functions and types without bounds
//! checks. SPEC.md ("What the verifier guarantees") lists the guarantees one by one.
//!
//! It is linear in the size of the module: one decoding pass per function plus one pass
//! over its jump targets, with a bitmap of instruction starts; then, for a function that
//! makes a non-tail call, the clobbered-slot data-flow of [`crate::clobber`], linear in
//! its instructions times the slots its calls clobber and capped by
//! [`crate::clobber::MAX_WORDS`].
//!
//! Objects (linkable modules) may import types; a constructor of an imported type cannot
//! be checked against its arity until the linker has bound it, so those checks are
//! skipped in objects and made again when the linked output is verified. Executables may
//! import nothing, so an executable that passes is fully checked.

use crate::binary::MAX_CONST_DEPTH;
use crate::clobber::{self, Clobbered};
use crate::insn::{Insn, Operand};
use crate::module::*;
use crate::opcode::{Op, OperandKind};
use std::collections::HashSet;
use std::fmt;

/// Where a verification error was found: the section and item of the file, so that a
/// tool can point at it and a person can find it in the disassembly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The file header (flags).
    Header,
    /// A type of the TYPE section, by index into the type table.
    Type {
        /// Index into the module's type table (the type id is 16 more).
        index: u32,
        /// The type's name, or the imported symbol.
        name: String,
    },
    /// A function of the CODE section, optionally at an instruction.
    Code {
        /// The function index.
        func: u32,
        /// The function's name.
        name: String,
        /// The byte offset of the offending instruction, when there is one.
        offset: Option<u32>,
    },
    /// A global of the GLOB section.
    Glob {
        /// The global index.
        index: u32,
        /// The global's name.
        name: String,
    },
    /// An exported symbol of the SYMB section.
    Export(String),
    /// The `index`-th initialiser of the SYMB section.
    Init(u32),
    /// The entry point of the SYMB section.
    Entry,
    /// A foreign function of the SYMB section, by index.
    Foreign {
        /// The foreign index.
        index: u32,
        /// Its C symbol.
        symbol: String,
    },
    /// The module as a whole (executable without entry, imports in an executable...).
    Module,
    /// The DBUG section: a file name or a line table (by position in the section).
    Debug {
        /// Position of the line table in the section, or `None` for the file table.
        table: Option<u32>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Header => write!(f, "header"),
            Location::Type { index, name } => {
                write!(
                    f,
                    "TYPE type {} '{}'",
                    FIRST_USER_TYPE as u64 + *index as u64,
                    name
                )
            }
            Location::Code { func, name, offset } => {
                write!(f, "CODE function {func} '{name}'")?;
                if let Some(o) = offset {
                    write!(f, " offset {o}")?;
                }
                Ok(())
            }
            Location::Glob { index, name } => write!(f, "GLOB global {index} '{name}'"),
            Location::Export(name) => write!(f, "SYMB export '{name}'"),
            Location::Init(i) => write!(f, "SYMB init {i}"),
            Location::Entry => write!(f, "SYMB entry"),
            Location::Foreign { index, symbol } => {
                write!(f, "SYMB foreign function {index} '{symbol}'")
            }
            Location::Module => write!(f, "module"),
            Location::Debug { table: None } => write!(f, "DBUG files"),
            Location::Debug { table: Some(t) } => write!(f, "DBUG line table {t}"),
        }
    }
}

/// Why a module must not be run. Displays as `<location>: <what is wrong>`, e.g.
/// `CODE function 3 'fib' offset 17: slot r9 is outside the frame of 4 slots`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for VerifyError {}

type Res = Result<(), VerifyError>;

fn err<T>(location: Location, message: impl Into<String>) -> Result<T, VerifyError> {
    Err(VerifyError {
        location,
        message: message.into(),
    })
}

/// The shape of a type id as the verifier sees it.
enum TypeShape {
    /// Builtin or defined: constructor arities, `None` arity meaning "any" (tuples).
    Known(Vec<Option<u16>>),
    /// An imported type of an object: its constructors are unknown until linked.
    Imported,
    /// Not a type: the message says why.
    Invalid(&'static str),
}

fn type_shape(m: &Module, ty: u32) -> TypeShape {
    if ty == builtin::TUPLE {
        return TypeShape::Known(vec![None]);
    }
    if ty < FIRST_USER_TYPE {
        return match builtin::TYPES.get(ty as usize) {
            Some((_, cs)) => TypeShape::Known(cs.iter().map(|c| Some(c.1)).collect()),
            None => TypeShape::Invalid("is a reserved builtin type id"),
        };
    }
    match m.types.get((ty - FIRST_USER_TYPE) as usize) {
        Some(TypeDef::Defined { ctors, .. }) => {
            TypeShape::Known(ctors.iter().map(|c| Some(c.arity)).collect())
        }
        Some(TypeDef::Import { .. }) => TypeShape::Imported,
        None => TypeShape::Invalid("is not in the type table"),
    }
}

/// Checks that constructor `tag` of type `ty` exists and takes `n` fields.
fn check_ctor(m: &Module, ty: u32, tag: u16, n: usize) -> Result<(), String> {
    match type_shape(m, ty) {
        TypeShape::Invalid(why) => Err(format!("type id {ty} {why}")),
        TypeShape::Imported => Ok(()),
        TypeShape::Known(arities) => match arities.get(tag as usize) {
            None => Err(format!(
                "constructor {tag} of type {ty} does not exist (the type has {} constructors)",
                arities.len()
            )),
            Some(Some(a)) if *a as usize != n => Err(format!(
                "constructor {tag} of type {ty} takes {a} fields, not {n}"
            )),
            Some(_) => Ok(()),
        },
    }
}

/// The platform-independent rules of a foreign declaration (the calling scheme's
/// limits are the loader's: SPEC.md §2.7).
fn check_foreign(f: &Foreign) -> Result<(), String> {
    for (what, s) in [("library", &f.library), ("symbol", &f.symbol)] {
        if s.is_empty() {
            return Err(format!("the {what} name is empty"));
        }
        if s.contains('\0') {
            return Err(format!("the {what} name contains a NUL byte"));
        }
    }
    if f.params.contains(&FfiType::Unit) {
        return Err("a parameter of type unit (C has no void parameter)".into());
    }
    if f.ret == FfiType::Bytes {
        return Err("a bytes result (C returns no length: return a ptr)".into());
    }
    if f.params.len() > u16::MAX as usize {
        return Err("more than 65535 parameters".into());
    }
    Ok(())
}

fn check_type_id(m: &Module, ty: u32) -> Result<(), String> {
    match type_shape(m, ty) {
        TypeShape::Invalid(why) => Err(format!("type id {ty} {why}")),
        _ => Ok(()),
    }
}

/// Checks one constant (iteratively, so hand-built deep values cannot overflow the
/// stack; depth is capped as the reader caps it).
fn check_const(m: &Module, c: &Const) -> Result<(), String> {
    let nfun = m.functions.len();
    let mut stack: Vec<(&Const, usize)> = vec![(c, 0)];
    while let Some((c, depth)) = stack.pop() {
        if depth > MAX_CONST_DEPTH {
            return Err(format!("constant nested deeper than {MAX_CONST_DEPTH}"));
        }
        let children: &[Const] = match c {
            Const::Unit
            | Const::Bool(_)
            | Const::I64(_)
            | Const::U64(_)
            | Const::F64(_)
            | Const::Str(_)
            | Const::Bytes(_)
            // A BigRatio is canonical by construction (positive denominator, lowest
            // terms): nothing to check.
            | Const::Big(_)
            | Const::Ratio(_) => &[],
            Const::Char(v) => {
                if char::from_u32(*v).is_none() {
                    return Err(format!(
                        "char constant 0x{v:x} is not a Unicode scalar value"
                    ));
                }
                &[]
            }
            Const::Data { ty, tag, fields } => {
                check_ctor(m, *ty, *tag, fields.len())?;
                fields
            }
            Const::Tuple(v) | Const::List(v) | Const::Array(v) => v,
            Const::Closure { func, captures } => {
                let f = m
                    .functions
                    .get(*func as usize)
                    .ok_or_else(|| format!("closure of function {func}, but there are {nfun}"))?;
                if captures.len() != f.ncaptures as usize {
                    return Err(format!(
                        "closure of function {func} '{}' has {} captures, the function takes {}",
                        f.name,
                        captures.len(),
                        f.ncaptures
                    ));
                }
                captures
            }
            Const::Func(func) => {
                let f = m
                    .functions
                    .get(*func as usize)
                    .ok_or_else(|| format!("function {func} does not exist (there are {nfun})"))?;
                if f.ncaptures != 0 {
                    return Err(format!(
                        "function {func} '{}' captures {} values and cannot be a plain function value",
                        f.name, f.ncaptures
                    ));
                }
                &[]
            }
            Const::Ref(inner) => {
                stack.push((inner, depth + 1));
                &[]
            }
            Const::Global(g) => {
                if *g as usize >= m.globals.len() {
                    return Err(format!(
                        "global {g} does not exist (there are {})",
                        m.globals.len()
                    ));
                }
                &[]
            }
        };
        stack.extend(children.iter().map(|c| (c, depth + 1)));
    }
    Ok(())
}

/// Checks that a function may be called with no arguments at program start.
fn check_nullary(m: &Module, func: u32, what: Location) -> Res {
    let Some(f) = m.functions.get(func as usize) else {
        return err(
            what,
            format!(
                "function {func} does not exist (there are {})",
                m.functions.len()
            ),
        );
    };
    if f.arity != 0 || f.ncaptures != 0 {
        return err(
            what,
            format!(
                "function {func} '{}' must take no arguments and capture nothing (it has arity {} and {} captures)",
                f.name, f.arity, f.ncaptures
            ),
        );
    }
    Ok(())
}

/// A module the verifier has passed: the only thing the machine loads.
///
/// It borrows the module, so the module cannot change after it was checked, and only
/// [`verify`] makes one; code that must run a module without checking it (a loader
/// test, say) has to say so with the `unsafe` [`Verified::new_unchecked`].
///
/// ```compile_fail,E0451
/// // A `Verified` cannot be built by hand: its field is private.
/// let m = hashvm_format::Module::default();
/// let v = hashvm_format::verify::Verified { module: &m };
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Verified<'a> {
    module: &'a Module,
}

impl<'a> Verified<'a> {
    /// Vouches for `m` without checking it.
    ///
    /// # Safety
    /// `m` must pass [`verify`] (or be a module for which every guarantee of SPEC.md
    /// §8 holds); the machine indexes frames, globals, functions and types without
    /// bounds checks on that promise, so a module that breaks it is undefined behaviour.
    pub unsafe fn new_unchecked(m: &'a Module) -> Verified<'a> {
        Verified { module: m }
    }

    /// The module.
    pub fn module(self) -> &'a Module {
        self.module
    }

    /// Whether the module imports nothing (no imported type or global), as a linked
    /// program must before it runs.
    pub fn is_linked(self) -> bool {
        !self
            .module
            .types
            .iter()
            .any(|t| matches!(t, TypeDef::Import { .. }))
            && !self
                .module
                .globals
                .iter()
                .any(|g| matches!(g.init, GlobalInit::Import(_)))
    }
}

impl std::ops::Deref for Verified<'_> {
    type Target = Module;
    fn deref(&self) -> &Module {
        self.module
    }
}

/// An owned module the verifier has passed: what a tool that reads or links a module
/// and then runs it keeps, so that the module is verified once per load (`hashvm run`
/// verified each program twice before: once when it read it, once to run it). Only
/// [`verify_owned`] makes one, and [`VerifiedModule::verified`] lends the [`Verified`]
/// proof that `Vm::load` takes; the module cannot be changed in between.
///
/// ```compile_fail,E0451
/// // A `VerifiedModule` cannot be built by hand: its field is private.
/// let v = hashvm_format::verify::VerifiedModule { module: hashvm_format::Module::default() };
/// ```
#[derive(Clone, Debug)]
pub struct VerifiedModule {
    module: Module,
}

impl VerifiedModule {
    /// The proof, borrowed.
    pub fn verified(&self) -> Verified<'_> {
        Verified {
            module: &self.module,
        }
    }

    /// The module, given up (changing it needs a new verification).
    pub fn into_module(self) -> Module {
        self.module
    }
}

impl std::ops::Deref for VerifiedModule {
    type Target = Module;
    fn deref(&self) -> &Module {
        &self.module
    }
}

/// [`verify`] for a module the caller gives up: the same checks, kept as a
/// [`VerifiedModule`].
pub fn verify_owned(m: Module) -> Result<VerifiedModule, VerifyError> {
    check(&m)?;
    Ok(VerifiedModule { module: m })
}

/// Checks the whole module; see the module documentation and SPEC.md for what passing
/// guarantees. The [`Verified`] it returns is what `hashvm_vm::Vm::load` takes.
pub fn verify(m: &Module) -> Result<Verified<'_>, VerifyError> {
    check(m)?;
    Ok(Verified { module: m })
}

fn check(m: &Module) -> Res {
    if m.flags & !FLAG_EXECUTABLE != 0 {
        return err(
            Location::Header,
            format!("reserved flag bits set: 0x{:08x}", m.flags),
        );
    }
    if m.types.len() as u64 + FIRST_USER_TYPE as u64 > u32::MAX as u64 {
        return err(Location::Module, "too many types");
    }
    for (i, t) in m.types.iter().enumerate() {
        if let TypeDef::Defined { name, ctors } = t {
            for c in ctors {
                if !c.fields.is_empty() && c.fields.len() != c.arity as usize {
                    return err(
                        Location::Type {
                            index: i as u32,
                            name: name.clone(),
                        },
                        format!(
                            "constructor '{}' has {} field names but arity {}",
                            c.name,
                            c.fields.len(),
                            c.arity
                        ),
                    );
                }
            }
        }
    }
    for (i, f) in m.foreigns.iter().enumerate() {
        if let Err(e) = check_foreign(f) {
            return err(
                Location::Foreign {
                    index: i as u32,
                    symbol: f.symbol.clone(),
                },
                e,
            );
        }
    }
    for (i, g) in m.globals.iter().enumerate() {
        let loc = || Location::Glob {
            index: i as u32,
            name: g.name.clone(),
        };
        match &g.init {
            GlobalInit::Const(c) => {
                if let Err(e) = check_const(m, c) {
                    return err(loc(), e);
                }
            }
            GlobalInit::Uninit => {}
            GlobalInit::Import(sym) => {
                if m.is_executable() {
                    return err(
                        loc(),
                        format!("an executable may not import (this global imports `{sym}`)"),
                    );
                }
            }
        }
    }
    if m.is_executable() {
        if let Some((i, TypeDef::Import { symbol })) = m
            .types
            .iter()
            .enumerate()
            .find(|(_, t)| matches!(t, TypeDef::Import { .. }))
        {
            return err(
                Location::Type {
                    index: i as u32,
                    name: symbol.clone(),
                },
                format!("an executable may not import (this type imports `{symbol}`)"),
            );
        }
        if m.entry.is_none() {
            return err(Location::Module, "an executable must have an entry point");
        }
    }
    let mut names = HashSet::new();
    for e in &m.exports {
        let loc = || Location::Export(e.name.clone());
        if !names.insert(e.name.as_str()) {
            return err(loc(), "exported twice");
        }
        match e.target {
            ExportTarget::Global(g) if g as usize >= m.globals.len() => {
                return err(
                    loc(),
                    format!("global {g} does not exist (there are {})", m.globals.len()),
                )
            }
            ExportTarget::Type(t) if t as usize >= m.types.len() => {
                return err(
                    loc(),
                    format!(
                        "type table index {t} does not exist (there are {} types)",
                        m.types.len()
                    ),
                )
            }
            _ => {}
        }
    }
    for (i, &f) in m.inits.iter().enumerate() {
        check_nullary(m, f, Location::Init(i as u32))?;
    }
    if let Some(f) = m.entry {
        check_nullary(m, f, Location::Entry)?;
    }
    let mut starts = Vec::new();
    let mut tape = clobber::Tape::default();
    for (i, f) in m.functions.iter().enumerate() {
        verify_function(m, i as u32, f, &mut starts, &mut tape)?;
    }
    verify_debug(m)
}

/// Checks one function. `starts` and `tape` are scratch reused across functions to
/// keep verification allocation-light; `tape` records what the clobbered-slot check
/// needs (and the jump targets) in the one decoding pass.
fn verify_function(
    m: &Module,
    index: u32,
    f: &Function,
    starts: &mut Vec<bool>,
    tape: &mut clobber::Tape,
) -> Res {
    let at = |offset: Option<u32>| Location::Code {
        func: index,
        name: f.name.clone(),
        offset,
    };
    if f.nslots < f.arity.max(1) {
        return err(
            at(None),
            format!(
                "frame of {} slots is smaller than max(arity {}, 1)",
                f.nslots, f.arity
            ),
        );
    }
    if f.code.is_empty() {
        return err(at(None), "code is empty");
    }
    if f.code.len() > u32::MAX as usize {
        return err(at(None), "code is longer than 4 GiB");
    }
    let nslots = f.nslots as u32;
    starts.clear();
    starts.resize(f.code.len(), false);
    tape.clear(f.code.len());
    let mut pc = 0usize;
    let mut last = Op::Nop;
    // The instruction a fused one (`con.ret`, `add.i64.ret`, `loadg.ret`,
    // `jntag.reti`, `field.callk`, `subi.i64.callk`; `Op::unfused`) just read needs
    // after it: `ret` of its result slot, a `reti` or a `callk`. The interpreter runs
    // that instruction in the fused one's dispatch.
    let mut ret_of: Option<(Op, Option<u16>)> = None;
    while pc < f.code.len() {
        let (insn, len) = Insn::decode(&f.code, pc).map_err(|e| VerifyError {
            location: at(Some(pc as u32)),
            message: e.to_string(),
        })?;
        starts[pc] = true;
        check_insn(m, f, &insn, nslots).map_err(|message| VerifyError {
            location: at(Some(pc as u32)),
            message,
        })?;
        if let Some((want, d)) = ret_of.take() {
            let slot = d.map(Operand::Slot);
            if insn.op != want || (slot.is_some() && insn.args.first() != slot.as_ref()) {
                let what = match d {
                    Some(d) => format!("{} r{d}", want.mnemonic()),
                    None => want.mnemonic().to_string(),
                };
                return err(
                    at(Some(pc as u32)),
                    format!("`{}` must be followed by `{what}`", last.mnemonic()),
                );
            }
        }
        if let Some(want) = insn.op.fused_next() {
            let d = match (want, insn.args.first()) {
                (Op::Ret, Some(&Operand::Slot(d))) => Some(d),
                _ => None,
            };
            ret_of = Some((want, d));
        }
        last = insn.op;
        tape.push(pc as u32, &insn);
        pc += len;
    }
    if !last.is_terminator() {
        let last_at = (0..f.code.len()).rev().find(|&p| starts[p]).unwrap_or(0);
        return err(
            at(Some(last_at as u32)),
            format!(
                "the last instruction `{}` is not a terminator: control would run off the end",
                last.mnemonic()
            ),
        );
    }
    for &(from, to) in tape.targets() {
        let ok = to >= 0 && (to as u64) < f.code.len() as u64 && starts[to as usize];
        if !ok {
            return err(
                at(Some(from)),
                format!("jump target {to} is not the start of an instruction of this function"),
            );
        }
    }
    match tape.check(f.nslots as usize) {
        Ok(()) => Ok(()),
        Err(Clobbered::Read { at: ip, slot, call }) => err(
            at(Some(ip)),
            match call {
                Some(c) => format!(
                    "reads r{slot}, which the call at offset {c} clobbered (slots from a call's window up hold garbage until written)"
                ),
                None => format!(
                    "reads r{slot}, which a call clobbered (slots from a call's window up hold garbage until written)"
                ),
            },
        ),
        Err(Clobbered::TooLarge { words }) => err(
            at(None),
            format!(
                "too large to check for reads of clobbered slots: {words} words of state (instructions times 64-slot words from the lowest call window up), the limit is {}",
                clobber::MAX_WORDS
            ),
        ),
    }
}

fn check_insn(m: &Module, f: &Function, insn: &Insn, nslots: u32) -> Result<(), String> {
    let kinds = insn.op.operands();
    let mut ty: Option<u32> = None;
    let mut tag: Option<u16> = None;
    let mut func: Option<u32> = None;
    let mut foreign: Option<(u32, &Foreign)> = None;
    for run in insn.slot_runs() {
        if run.end() > nslots {
            return Err(if run.window {
                format!(
                    "slots r{}..r{} run past the frame of {nslots} slots",
                    run.first,
                    run.end()
                )
            } else {
                format!("slot r{} is outside the frame of {nslots} slots", run.first)
            });
        }
    }
    for (k, a) in kinds.iter().zip(insn.args.iter()) {
        match (k, a) {
            (OperandKind::Global, Operand::Global(g)) if *g as usize >= m.globals.len() => {
                return Err(format!(
                    "global {g} does not exist (there are {})",
                    m.globals.len()
                ));
            }
            (OperandKind::Func, Operand::Func(fi)) => {
                if *fi as usize >= m.functions.len() {
                    return Err(format!(
                        "function {fi} does not exist (there are {})",
                        m.functions.len()
                    ));
                }
                func = Some(*fi);
            }
            (OperandKind::Type, Operand::Type(t)) => {
                check_type_id(m, *t)?;
                ty = Some(*t);
            }
            (OperandKind::Foreign, Operand::Foreign(fi)) => match m.foreigns.get(*fi as usize) {
                None => {
                    return Err(format!(
                        "foreign function {fi} does not exist (there are {})",
                        m.foreigns.len()
                    ))
                }
                Some(ff) => foreign = Some((*fi, ff)),
            },
            (OperandKind::Tag, Operand::U16(t)) => tag = Some(*t),
            (OperandKind::Char, Operand::Imm32(c)) if char::from_u32(*c as u32).is_none() => {
                return Err(format!(
                    "char immediate 0x{:x} is not a Unicode scalar value",
                    *c as u32
                ));
            }
            _ => {}
        }
    }
    let count = || {
        kinds
            .iter()
            .zip(insn.args.iter())
            .find_map(|(k, a)| match (k, a) {
                (OperandKind::Count, Operand::U16(n)) => Some(*n),
                _ => None,
            })
            .unwrap_or(0)
    };
    let target = || func.and_then(|i| m.functions.get(i as usize).map(|t| (i, t)));
    match insn.op {
        Op::FfiCall => {
            if let Some((i, ff)) = foreign {
                if ff.params.len() != count() as usize {
                    return Err(format!(
                        "foreign function {i} '{}' takes {} arguments, not {}",
                        ff.symbol,
                        ff.params.len(),
                        count()
                    ));
                }
            }
        }
        Op::Con | Op::ConRet => {
            if let (Some(ty), Some(tag)) = (ty, tag) {
                check_ctor(m, ty, tag, count() as usize)?;
            }
        }
        Op::CallK | Op::TCallK => {
            if let Some((i, t)) = target() {
                if t.arity != count() {
                    return Err(format!(
                        "function {i} '{}' takes {} arguments, not {}",
                        t.name,
                        t.arity,
                        count()
                    ));
                }
                if t.ncaptures != 0 {
                    return Err(format!(
                        "function {i} '{}' captures {} values and cannot be called as a known function",
                        t.name, t.ncaptures
                    ));
                }
            }
        }
        Op::Closure => {
            if let Some((i, t)) = target() {
                if t.ncaptures != count() {
                    return Err(format!(
                        "function {i} '{}' captures {} values, not {}",
                        t.name,
                        t.ncaptures,
                        count()
                    ));
                }
            }
        }
        Op::LoadFn => {
            if let Some((i, t)) = target() {
                if t.ncaptures != 0 {
                    return Err(format!(
                        "function {i} '{}' captures {} values and cannot be loaded as a plain function",
                        t.name, t.ncaptures
                    ));
                }
            }
        }
        Op::GetEnv | Op::SetEnv => {
            let idx = insn.args.iter().find_map(|a| match a {
                Operand::U16(i) => Some(*i),
                _ => None,
            });
            if let Some(i) = idx {
                if i >= f.ncaptures {
                    return Err(format!(
                        "capture {i} does not exist (this function captures {})",
                        f.ncaptures
                    ));
                }
            }
        }
        Op::CallSelf | Op::TCallSelf if count() != f.arity => {
            return Err(format!(
                "calls itself with {} arguments but takes {}",
                count(),
                f.arity
            ));
        }
        _ => {}
    }
    Ok(())
}

fn verify_debug(m: &Module) -> Res {
    let mut seen = vec![false; m.functions.len()];
    for (t, fl) in m.debug.lines.iter().enumerate() {
        let loc = || Location::Debug {
            table: Some(t as u32),
        };
        let Some(f) = m.functions.get(fl.func as usize) else {
            return err(
                loc(),
                format!(
                    "function {} does not exist (there are {})",
                    fl.func,
                    m.functions.len()
                ),
            );
        };
        if std::mem::replace(&mut seen[fl.func as usize], true) {
            return err(
                loc(),
                format!("second line table for function {} '{}'", fl.func, f.name),
            );
        }
        let mut prev: Option<u32> = None;
        for e in &fl.entries {
            if prev.is_some_and(|p| e.offset <= p) {
                return err(
                    loc(),
                    format!(
                        "offset {} does not follow offset {} (offsets must strictly increase)",
                        e.offset,
                        prev.unwrap_or(0)
                    ),
                );
            }
            prev = Some(e.offset);
            if e.offset as usize >= f.code.len() {
                return err(
                    loc(),
                    format!(
                        "offset {} is past the end of function {} '{}' ({} bytes)",
                        e.offset,
                        fl.func,
                        f.name,
                        f.code.len()
                    ),
                );
            }
            if e.file as usize >= m.debug.files.len() {
                return err(
                    loc(),
                    format!(
                        "file {} does not exist (there are {})",
                        e.file,
                        m.debug.files.len()
                    ),
                );
            }
        }
    }
    Ok(())
}
