//! Whole-function compilation ahead of time (issue 14, phase 2; SPEC.md §11.6): the
//! machine code `hashc --native` and `hashld --native` put in a native executable.
//!
//! It is built from the JIT's own pieces: each basic block of a function becomes an IR
//! fragment built with the trace [`TraceBuilder`] (so constant folding, algebraic
//! identities and CSE apply within the block), registers come from the trace register
//! allocator ([`crate::x64::allocate`]), and [`emit`] writes x86-64 code for the block
//! with dynasm into one [`dynasmrt::VecAssembler`] for the whole program.
//!
//! What it does, and what it does not do yet:
//! - **Types without profiles.** A forward dataflow over each function's control-flow
//!   graph ([`infer`]) gives every slot a kind (i64, f64, bool, or unknown) at every
//!   instruction where one is provable: from constants, typed results, and the typed
//!   instructions' operands (which the interpreter checks, so past them they are
//!   known). A load of a slot of proven kind is unguarded (`sload.*.known`); any other
//!   keeps one tag compare whose failure leaves to the interpreter *at that
//!   instruction*, which then does exactly what it always does (faults with its own
//!   message and stack trace, or carries on).
//! - **Blocks and slots.** Values live in registers within a block; at block
//!   boundaries, calls and exits every value is written back to its bytecode slot
//!   (the interpreter's frame layout, on the VM's own value and frame stacks), so the
//!   collector, stack traces and the interpreter see exactly the interpreter's state.
//!   The exception: an innermost loop's slots of proven kind stay in home registers
//!   across its blocks ([`HomeLoop`]), written back on every way out of the loop, and
//!   so do the addresses of the arrays and data objects it reads but never assigns,
//!   checked once where the loop is entered.
//! - **Calls.** `callk`/`callself` of a fully compiled function push the frame record
//!   the interpreter would push and `call` the callee's code directly (the result
//!   comes back in `rax`/`rdx`, the caller pops the record); `tcallk` reuses
//!   the frame and jumps; `tcallself` and `loop` are jumps (polling the interrupt
//!   flag). A full value, frame or native stack leaves to the interpreter at the call,
//!   which grows the stack or reports the overflow.
//! - **Helper calls.** `print`, `tostr`, `scat` and the `net.*` instructions
//!   are run by the VM through `call.insn` (the tracing JIT's helper call, reached
//!   through the trampoline's table), every value in its slot before and reloaded
//!   after; so is the write barrier's slow path (`jit_remember`). `anew` is allocated
//!   inline (`new.array.slot`, its layout by the fill value's tag at run time) at the
//!   lengths the tracing JIT allocates inline; another length leaves to the
//!   interpreter.
//! - **Fallback.** Any instruction outside the supported subset (lists, closures,
//!   unknown calls, `switch`...) is an exit to the interpreter at
//!   that instruction. A function with none is *fully compiled*; others are *partly
//!   compiled* (their loops whose bodies are fully supported are still entered
//!   natively from the interpreter's back-edge) and reported with the reason.
//! - **GC contract (the JIT's).** `con` and `tuple` bump the nursery inline (`new`;
//!   a full nursery, or GC stress, leaves to the interpreter at the instruction, which
//!   collects); only a helper call collects, so heap addresses live in registers only
//!   within a block, written to their slots before any exit, call or helper call.
//!   Stores into objects go through the write barrier.

use crate::ir::{BuildError, IrOp, IrType, Ref, Trace, TraceBuilder};
use crate::record::{arith_of, branch_of};
use hashvm_format::builtin;
use hashvm_format::insn::{Insn, Operand};
use hashvm_format::liveness::use_def;
use hashvm_format::opcode::{Op, OperandKind};
use hashvm_format::{Module, Verified, FIRST_USER_TYPE};
use hashvm_vm::jit::layout;
use hashvm_vm::Tag;

pub mod clears;
#[cfg(target_arch = "x86_64")]
pub mod emit;
mod fields;
#[cfg(target_arch = "x86_64")]
pub mod hook;
mod inline;
mod typed;

/// The most fields an allocation compiled inline has (a larger one leaves to the
/// interpreter).
const MAX_INLINE_FIELDS: usize = 64;

/// Set in a snapshot's `resume_ip` when the "exit" is a jump to the block starting at
/// the rest of the offset, not a return to the interpreter.
pub const JUMP_BIT: u32 = 1 << 31;

/// Set in the `k` of a `jump` to offset 0 (a self tail call) whose arguments are not
/// proven to have the function's seeded kinds: it goes through the checked entry
/// ([`typed`]).
pub const CHECKED_ENTRY: u64 = 1 << 32;

/// Set in the `k` of a `jump` to offset 0 (a self tail call into the typed entry)
/// that the `arg.set`s before it give every register argument of the function
/// ([`FuncIr::args`]): it goes past the loads of its first block.
pub const ARGS_SET: u64 = 1 << 33;

/// The general registers that carry a function's register arguments, in parameter
/// order ([`register_args`]): none of them is written by a direct call's push
/// (`x64::frame_record` uses `rax`, the limit checks `r11`) or holds anything else
/// between the `arg.set`s and the callee's first block.
pub(crate) const ARG_REGS: [u8; 3] = [1 /* rcx */, 2 /* rdx */, 8 /* r8 */];

const NONE: Ref = Ref(u32::MAX);

/// What is known about a slot's value at one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not reached (yet).
    Bot,
    /// An i64.
    I64,
    /// An f64.
    F64,
    /// A bool.
    Bool,
    /// A char: a `loadchar`'s constant. Nothing typed reads one (a slot of this kind
    /// is [`Kind::untyped`]); it tells an `anew` filled with chars, whose array is no
    /// array of an i64, f64 or bool ([`Kind::ArrOf`] of `Tag::CHAR`).
    Char,
    /// A constructed value: a field-less constructor's immediate (`CTOR0`, the empty
    /// list among them) or a data object. Past a `jntag`, `jnil`/`jcons`, `head`/`tail`,
    /// `field`, `field2` or `setfield` (the interpreter faults on anything else, so
    /// this holds for every run, the interpreter's included), and a `con`'s or `cons`'s
    /// result. A `field` of such a slot found to be an object needs no kind check.
    Ctor,
    /// A constructed value whose constructor index is not 0: past the way of a
    /// `jntag` that proves it (its target for constructor 0, its fall-through for any
    /// other). Such a value, when it is an object, has at least one field, so a read
    /// of field 0 needs no field-count check either: a constructor without fields is
    /// always an immediate, and the only data objects allocated without fields are
    /// empty tuples, constructor 0 of type 3 (SPEC.md §1.2; the verifier accepts no
    /// other constructor of type 3, and every path that builds data, `con`, constants,
    /// `#run` values, the runtime's `Some`/`Ok`/`Err` and cons cells, follows the rule).
    CtorNz,
    /// A data object of the program's own type `T` (an id from `FIRST_USER_TYPE`), of
    /// any of its constructors: the result of a `con` of `T` with fields (a
    /// constructor with fields is always allocated, SPEC.md §1.2), and the parameter
    /// of a closed function every reached call of which passes one
    /// ([`fields::closed_facts`]). Its tag (an object), kind (data) and meta word
    /// (`T`) are known, so are its fields of a kind the closed program proves
    /// ([`ObjFacts`]) and its field count up to the fewest fields of `T`'s
    /// constructors with fields (the verifier builds every object with its
    /// constructor's arity).
    Obj(u32),
    /// `None`: the immediate of `Option`'s constructor 0 (tag word `CTOR0`), the result
    /// of a `con` of it.
    NoneOpt,
    /// A `Some` object (a data object of `Option`'s constructor 1, one field) whose field
    /// holds a data object of the program's own type `T` ([`Kind::Obj`]): the result of
    /// a `con` of `Some` with such a value, in a program where nothing can write another
    /// value into a `Some`'s field ([`Heap::some_kept`]). Past a `jntag` that proves a
    /// [`Kind::Opt`] not to be `None`.
    SomeOf(u32),
    /// An `Option` value of the program's own type `T`: [`Kind::NoneOpt`] or
    /// [`Kind::SomeOf`] `T`, so its tag word alone tells which (`CTOR0` or `OBJ`): a
    /// `jntag` on it is one compare, and the `Some`'s field is read with no check. The
    /// field-kinds table ([`Heap`]) proves it of fields such as awfy_list's
    /// `Element.next`; calls pass it on to closed functions' parameters and results.
    Opt(u32),
    /// A value of the program's own type `T` whose constructors other than 0 all have
    /// fields ([`Heap::nz_types`]): the immediate of `T`'s constructor 0 when it has
    /// none, or a data object of `T` ([`Kind::Obj`]). A field-less `con` of `T` and a
    /// field-less constant of it, joined with objects of `T` (binarytrees' `Tree`:
    /// `Empty` or a `Node`). Past a `jntag` that proves its index is not 0 it is an
    /// object of `T` (a constructor with fields is always allocated).
    Of(u32),
    /// An array (an object of the array kind, of any elements kind): an `anew`'s
    /// result. The closed program's field kinds read it ([`fields::field_kinds`]: a
    /// field every stored value of which is one needs no tag or kind test); to the
    /// translation it is a slot of no number or bool kind, like `Any`.
    Arr,
    /// An array made by an `anew` whose fill value had the tag `t` (`Tag::I64`,
    /// `Tag::F64`, `Tag::BOOL` or `Tag::CHAR`): flat of that elements kind when made
    /// with elements, general when empty. Where it came from, which every run keeps;
    /// what an array of an i64, f64 or bool holds now is known only when no `aset` or
    /// `array.fill` of the program can store a value of another kind into such an
    /// array ([`Heap::elems`], SPEC.md §11.6 "Elements kinds"): then an `aget` of it
    /// gives a `t` and an `aset` of a `t` into it tests no elements kind. An array of
    /// chars is tracked for what it is not: no `anew`'s array of an i64, f64 or bool,
    /// so a store into it converts none of those ([`fields`]' `converts`): fasta's
    /// `line[i] = chars[j]`, a char of unknown kind stored into an array of chars,
    /// leaves its array of f64s (`cumulative`) flat.
    ArrOf(u32),
    /// Anything.
    Any,
}

impl Kind {
    fn join(self, o: Kind) -> Kind {
        match (self, o) {
            (Kind::Bot, x) | (x, Kind::Bot) => x,
            (x, y) if x == y => x,
            (Kind::Ctor, Kind::CtorNz) | (Kind::CtorNz, Kind::Ctor) => Kind::Ctor,
            // `None` or a `Some` of one type: an `Option` value of that type.
            (x, y) if x.option() && y.option() => match (x.opt_type(), y.opt_type()) {
                (Some(a), Some(b)) if a != b => Kind::Ctor,
                (Some(a), _) | (_, Some(a)) => Kind::Opt(a),
                (None, None) => Kind::NoneOpt,
            },
            // Two constructors other than 0.
            (Kind::SomeOf(_), Kind::CtorNz) | (Kind::CtorNz, Kind::SomeOf(_)) => Kind::CtorNz,
            // Any value of `T`.
            (Kind::Obj(a), Kind::Of(b)) | (Kind::Of(a), Kind::Obj(b)) if a == b => Kind::Of(a),
            // Objects of two types, or an object and any constructed value: still a
            // constructed value, nothing more.
            (x, y) if x.constructed() && y.constructed() => Kind::Ctor,
            // Arrays from `anew`s of two tags, or from one and from anywhere.
            (Kind::ArrOf(_) | Kind::Arr, Kind::ArrOf(_) | Kind::Arr) => Kind::Arr,
            _ => Kind::Any,
        }
    }

    fn ir(self) -> Option<IrType> {
        match self {
            Kind::I64 => Some(IrType::I64),
            Kind::F64 => Some(IrType::F64),
            Kind::Bool => Some(IrType::Bool),
            _ => None,
        }
    }

    /// Whether nothing is known that a number's or bool's test would need (a
    /// constructed value's slot, as one of no kind, holds no number or bool).
    fn untyped(self) -> bool {
        matches!(self, Kind::Any | Kind::Char | Kind::Arr | Kind::ArrOf(_)) || self.constructed()
    }

    /// Whether the slot holds a constructed value ([`Kind::Ctor`], [`Kind::CtorNz`]
    /// or [`Kind::Obj`]): an object there is a data object.
    fn constructed(self) -> bool {
        matches!(
            self,
            Kind::Ctor
                | Kind::CtorNz
                | Kind::Obj(_)
                | Kind::Of(_)
                | Kind::NoneOpt
                | Kind::SomeOf(_)
                | Kind::Opt(_)
        )
    }

    /// What a slot of this kind holds past an instruction that found it constructed
    /// (a `field`, `jntag`...): [`Kind::CtorNz`] and [`Kind::Obj`] stay, anything else
    /// is [`Kind::Ctor`] but `Bot` (a parameter of a function not called so far in a
    /// fixed point over the program's calls, [`fields::closed_facts`]: staying `Bot`
    /// keeps the transfer monotone, so that a later `Obj` is not lost to a `Ctor` the
    /// earlier round made up).
    fn constructed_past(self) -> Kind {
        match self {
            Kind::CtorNz
            | Kind::Obj(_)
            | Kind::Of(_)
            | Kind::Bot
            | Kind::NoneOpt
            | Kind::SomeOf(_)
            | Kind::Opt(_) => self,
            _ => Kind::Ctor,
        }
    }

    /// What a slot of this kind holds on the way of a `jntag` testing constructor
    /// `tag` that proves its index is not 0: an `Option` value of type `T` is then its
    /// `Some` ([`Kind::SomeOf`]) when the test is for `None` or `Some`; `Bot` stays;
    /// anything else [`Kind::CtorNz`].
    fn nonzero(self, tag: usize) -> Kind {
        match self {
            Kind::Opt(t) | Kind::SomeOf(t) if tag <= 1 => Kind::SomeOf(t),
            // A value of `T` whose index is not 0 is an object of `T`; an object of `T`
            // stays one (it has field 0 as a [`Kind::CtorNz`] does: `T`'s constructors
            // with fields have at least one).
            Kind::Of(t) | Kind::Obj(t) => Kind::Obj(t),
            // Not reached yet in a fixed point: stays so (monotone, as
            // [`Kind::constructed_past`]).
            Kind::Bot => Kind::Bot,
            _ => Kind::CtorNz,
        }
    }

    /// The type `T` of a [`Kind::SomeOf`] or [`Kind::Opt`].
    fn opt_type(self) -> Option<u32> {
        match self {
            Kind::SomeOf(t) | Kind::Opt(t) => Some(t),
            _ => None,
        }
    }

    /// Whether the slot holds an `Option` value whose tag word alone tells `None`
    /// (`CTOR0`) from `Some` (`OBJ`): [`Kind::NoneOpt`], [`Kind::SomeOf`], [`Kind::Opt`].
    fn option(self) -> bool {
        matches!(self, Kind::NoneOpt | Kind::SomeOf(_) | Kind::Opt(_))
    }

    /// The type of the data object the slot is known to hold ([`Kind::Obj`]).
    fn obj(self) -> Option<u32> {
        match self {
            Kind::Obj(t) => Some(t),
            _ => None,
        }
    }
}

/// What the closed program proves of the values in its objects' fields, for the kind
/// inference ([`transfer`]) to read back at a `field` or `field2` (SPEC.md §11.6,
/// "Field kinds"): the least fixed point [`fields::closed_facts`] computes together
/// with the closed functions' parameters and every function's results. Sound for
/// every run: it joins every value any `con`, `setfield` or constant can put in a
/// field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Heap {
    /// Per type from `FIRST_USER_TYPE`, per field: the kind of every value ever stored
    /// there. Constructed kinds ([`Kind::constructed`]), an `anew`'s array and the
    /// numbers and bools ([`Kind::ir`]) are read back, so a field read feeds the fixed
    /// point it is part of: a height copied from one node into another is an i64
    /// (the tracing JIT's and `fload.known`'s table, [`crate::kinds::FieldKinds`],
    /// takes these numbers where its own analysis, which reads no field back, knows
    /// none).
    fields: Vec<Vec<Kind>>,
    /// Whether a `Some` built with an object of type `T` keeps it: no reached `setfield`
    /// of field 0 may write into a `Some` (its object is of no known type, or of
    /// `Option`). Without it, `con` makes no [`Kind::SomeOf`].
    some_kept: bool,
    /// Per tag of [`ELEMS`]: whether an array an `anew` made with a fill of that tag
    /// ([`Kind::ArrOf`]) keeps that elements kind on every run: no reached `aset` or
    /// `array.fill` of a function the program can call may store a value of another
    /// kind into one ([`fields::closed_facts`]).
    elems_kept: [bool; 3],
    /// Per global, what a `loadg` of it reads ([`fields::constant_globals`]): the
    /// data object of one of the program's types the loader built for it and
    /// nothing replaces ([`Kind::Obj`]); `Any` (or absent) for any other.
    globals: Vec<Kind>,
    /// Per type from `FIRST_USER_TYPE`: whether its constructors other than 0 all have
    /// fields, so that a field-less constructor of it is constructor 0 and a value of
    /// it with another index an object ([`Kind::Of`]).
    nz_types: Vec<bool>,
}

/// The tags of the elements kinds [`Heap::elems_kept`] tracks, in its order.
pub(crate) const ELEMS: [u32; 3] = [Tag::I64, Tag::F64, Tag::BOOL];

/// The kind of a value of tag `t` of [`ELEMS`] (`Any` for another).
fn kind_of_tag(t: u32) -> Kind {
    match t {
        Tag::I64 => Kind::I64,
        Tag::F64 => Kind::F64,
        Tag::BOOL => Kind::Bool,
        _ => Kind::Any,
    }
}

impl Kind {
    /// The tag of [`ELEMS`] of an i64, f64 or bool.
    fn elem_tag(self) -> Option<u32> {
        match self {
            Kind::I64 => Some(Tag::I64),
            Kind::F64 => Some(Tag::F64),
            Kind::Bool => Some(Tag::BOOL),
            _ => None,
        }
    }

    /// The tag an `anew` filled with a value of this kind makes its array of
    /// ([`Kind::ArrOf`]): [`Kind::elem_tag`]'s, or `Tag::CHAR` for a char.
    fn fill_tag(self) -> Option<u32> {
        match self {
            Kind::Char => Some(Tag::CHAR),
            k => k.elem_tag(),
        }
    }
}

impl Heap {
    /// Nothing known: every field read unknown, no [`Kind::SomeOf`].
    const NONE: Heap = Heap {
        fields: Vec::new(),
        some_kept: false,
        elems_kept: [false; 3],
        globals: Vec::new(),
        nz_types: Vec::new(),
    };

    /// The elements kind (a tag of [`ELEMS`]) of every array a slot of kind `k` can
    /// hold: flat of that kind, or empty (general; every access of it fails its index
    /// check first). Only for an `anew`'s array ([`Kind::ArrOf`]) of a kind the program
    /// never converts ([`Heap::elems_kept`]).
    pub(crate) fn elems(&self, k: Kind) -> Option<u32> {
        match k {
            Kind::ArrOf(t) => ELEMS
                .iter()
                .position(|&e| e == t)
                .filter(|&p| self.elems_kept[p])
                .map(|_| t),
            _ => None,
        }
    }

    /// What a `loadg` of global `g` reads.
    fn global(&self, g: usize) -> Kind {
        self.globals.get(g).copied().unwrap_or(Kind::Any)
    }

    /// The kind of a field-less constructor's value of type `ty`: [`Kind::Of`] for a
    /// type whose other constructors all have fields, else constructed.
    fn field_less(&self, ty: u32) -> Kind {
        let nz = ty
            .checked_sub(FIRST_USER_TYPE)
            .and_then(|x| self.nz_types.get(x as usize))
            .copied()
            .unwrap_or(false);
        if nz {
            Kind::Of(ty)
        } else {
            Kind::Ctor
        }
    }

    /// The kind of field `fi` of a value of kind `k` (past the read, which faults on
    /// anything without that field): a field of an object of type `T` as the table
    /// says (its constructed kinds, an `anew`'s array, and its numbers and bools:
    /// `Map.Node`'s height, stored only as `1`, `h + 1` or another node's height, is
    /// an i64), field 0 of a `Some` of `T` (or of an `Option` value of `T`, which the
    /// read found a `Some`) an object of `T`; `Bot` from `Bot` (a value not reached
    /// yet in the fixed point, which keeps it monotone).
    fn field(&self, k: Kind, fi: usize) -> Kind {
        match k {
            Kind::Bot => Kind::Bot,
            // (A value of `T` with the field is an object of `T`.)
            Kind::Obj(t) | Kind::Of(t) => t
                .checked_sub(FIRST_USER_TYPE)
                .and_then(|x| self.fields.get(x as usize))
                .and_then(|v| v.get(fi))
                .copied()
                .filter(|k| {
                    *k == Kind::Bot
                        || k.constructed()
                        || k.ir().is_some()
                        || matches!(k, Kind::ArrOf(_))
                })
                .unwrap_or(Kind::Any),
            Kind::SomeOf(t) | Kind::Opt(t) if fi == 0 && self.some_kept => Kind::Obj(t),
            _ => Kind::Any,
        }
    }
}

/// Flags of a `field.slot`'s or `setfield.slot`'s `k` (bits 48 and up; the slots
/// below are `u16`s): the object slot holds a constructed value (its kind is not
/// checked), ...
pub(crate) const SLOT_CONSTRUCTED: u64 = 1 << 48;
/// ... it has the field (its field count is not checked), ...
pub(crate) const SLOT_HAS_FIELD: u64 = 1 << 49;
/// ... it holds an object (its tag is not checked).
pub(crate) const SLOT_OBJECT: u64 = 1 << 50;

/// Flag of a `ctor.index`'s `k` (bit 33): the slot holds an `Option` value whose tag
/// word alone tells its constructor ([`Kind::option`]: `CTOR0` for `None`, `OBJ` for
/// `Some`), so a test of index 0 or 1 compares the tag word only.
pub(crate) const CTOR_OPTION: u64 = 1 << 33;

/// Flag of a `ret.val`'s `k`: it is a `reti` returning its constant, not a `ret` of
/// slot `k & 0xffff`, so the returns table cannot name it ([`emit`]'s `ret_row`).
pub(crate) const RET_VAL_RETI: u64 = 1 << 32;

/// One decoded instruction: byte offset, instruction, length.
type Decoded = (u32, Insn, u32);

fn slot(i: &Insn, n: usize) -> usize {
    match i.args.get(n) {
        Some(Operand::Slot(s)) => *s as usize,
        Some(Operand::U16(s)) => *s as usize,
        _ => 0,
    }
}
fn imm(i: &Insn, n: usize) -> i64 {
    match i.args.get(n) {
        Some(Operand::Imm32(v)) => *v as i64,
        Some(Operand::Imm64(v)) => *v,
        Some(Operand::F64(v)) => *v as i64,
        Some(Operand::Func(v)) => *v as i64,
        Some(Operand::Global(v)) => *v as i64,
        _ => 0,
    }
}
/// The jump targets of an instruction (byte offsets), in operand order.
fn targets(ip: u32, i: &Insn) -> Vec<u32> {
    let mut v = Vec::new();
    for a in &i.args {
        match a {
            Operand::Jump(j) => v.push((ip as i64 + *j as i64) as u32),
            Operand::Table(d, cases) => {
                v.push((ip as i64 + *d as i64) as u32);
                v.extend(cases.iter().map(|c| (ip as i64 + *c as i64) as u32));
            }
            _ => {}
        }
    }
    v
}
/// Whether function `fi`'s entry counts its calls and tiers up to the tracing JIT's
/// entry tree (SPEC.md §11.6, "Tier-up"): a function that calls itself and returns no
/// value (every return a `retu`, or a `ret` of the unit `loadunit` just wrote, reached
/// only through it; no tail call but `tcallself`), run for its effects on objects. The
/// tracing JIT's tree of such a recursion inlines the callees native code calls
/// (towers' `push_disk`, whose branches join) and keeps the objects it works on checked
/// once per trace: towers 36% and permute 31% fewer instructions than native code. A
/// recursion that computes a value (fib, tak, ackermann, nqueens' `queens`,
/// binarytrees' `check`, list's and pmap's) stays native, where its calls pass the
/// result in registers: traced, fib took 42% more instructions, nqueens 3.7 times as
/// many.
fn tiers_up_at_entry(fi: u32, fun: &Fun, code: &[u8]) -> bool {
    let unit_ret = |n: usize| {
        n > 0
            && fun.preds[n] == 1
            && fun.insns[n - 1].1.op == Op::LoadUnit
            && fun.insns[n - 1].1.args.first() == fun.insns[n].1.args.first()
    };
    crate::record::is_self_recursive(fi, code)
        && fun
            .insns
            .iter()
            .enumerate()
            .all(|(n, (_, i, _))| match i.op {
                Op::Ret => unit_ret(n),
                Op::RetI | Op::TCall | Op::TCallK => false,
                _ => true,
            })
}

/// Whether a value of IR type `t` is a number or bool: what a self tail call moves
/// through a register and `ret.val` returns from one (its tag word follows from `t`;
/// `ret.val` also returns an object made in its block, `IrType::Ptr`, tag word `OBJ`).
fn number_or_bool(t: IrType) -> bool {
    matches!(t, IrType::I64 | IrType::F64 | IrType::Bool)
}

/// Whether `op` calls a function (directly, through a value, or itself; a tail call
/// included).
fn is_call(op: Op) -> bool {
    matches!(
        op,
        Op::CallK | Op::CallSelf | Op::Call | Op::TCallK | Op::TCall | Op::TCallSelf
    )
}

/// Whether control can continue with the next instruction.
fn falls_through(op: Op) -> bool {
    !matches!(
        op,
        Op::Jmp
            | Op::Loop
            | Op::Switch
            | Op::SwitchI
            | Op::Ret
            | Op::RetU
            | Op::RetI
            | Op::Panic
            | Op::MatchFail
            | Op::TCall
            | Op::TCallK
            | Op::TCallSelf
    )
}

/// The kinds every slot has *after* instruction `i` completes without faulting.
/// `rets` gives the kind each function returns (a call's result; `Any` when unknown),
/// `me` is the running function (for `callself`).
/// The kinds after a call of function `f` whose result goes to slot `dst` and whose
/// frame starts at the caller's slot `a0` (a `callk`, a `callself`, or a `call` of a
/// function known at compile time, [`known_callee`]): the callee may overwrite every
/// slot of its frame, and its result is what `f` returns (`Bot`: `f` never returns, so
/// far in the fixed point, and nothing flows on from here).
fn call_kinds(st: &mut [Kind], f: u32, dst: usize, a0: usize, rets: &[Kind]) {
    for x in st.iter_mut().skip(a0) {
        *x = Kind::Any;
    }
    if let Some(x) = st.get_mut(dst) {
        *x = rets.get(f as usize).copied().unwrap_or(Kind::Any);
    }
}

fn transfer(st: &mut [Kind], i: &Insn, rets: &[Kind], me: u32, heap: &Heap) {
    use Op::*;
    let k = |st: &mut [Kind], s: usize, v: Kind| {
        if let Some(x) = st.get_mut(s) {
            *x = v;
        }
    };
    let (s0, s1, s2) = (slot(i, 0), slot(i, 1), slot(i, 2));
    let past = |st: &[Kind], s: usize| st.get(s).map_or(Kind::Ctor, |k| k.constructed_past());
    match i.op {
        Mov => {
            let v = st.get(s1).copied().unwrap_or(Kind::Any);
            k(st, s0, v);
        }
        LoadI | LoadI64 => k(st, s0, Kind::I64),
        LoadF => k(st, s0, Kind::F64),
        LoadTrue | LoadFalse => k(st, s0, Kind::Bool),
        LoadChar => k(st, s0, Kind::Char),
        AddI64 | SubI64 | MulI64 | DivI64 | RemI64 | AndI64 | OrI64 | XorI64 | ShlI64 | ShrI64 => {
            k(st, s1, Kind::I64);
            k(st, s2, Kind::I64);
            k(st, s0, Kind::I64);
        }
        AddIImm | SubIImm | MulIImm | NegI64 | BNotI64 => {
            k(st, s1, Kind::I64);
            k(st, s0, Kind::I64);
        }
        EqI64 | NeI64 | LtI64 | LeI64 => {
            k(st, s1, Kind::I64);
            k(st, s2, Kind::I64);
            k(st, s0, Kind::Bool);
        }
        JLtI64 | JLeI64 | JGtI64 | JGeI64 | JEqI64 | JNeI64 => {
            k(st, s0, Kind::I64);
            k(st, s1, Kind::I64);
        }
        JLtIImm | JLeIImm | JGtIImm | JGeIImm | JEqIImm | JNeIImm => k(st, s0, Kind::I64),
        AddF64 | SubF64 | MulF64 | DivF64 => {
            k(st, s1, Kind::F64);
            k(st, s2, Kind::F64);
            k(st, s0, Kind::F64);
        }
        AddKF64 | SubKF64 | MulKF64 | DivKF64 | RSubKF64 | RDivKF64 | NegF64 | Sqrt => {
            k(st, s1, Kind::F64);
            k(st, s0, Kind::F64);
        }
        EqF64 | NeF64 | LtF64 | LeF64 => {
            k(st, s1, Kind::F64);
            k(st, s2, Kind::F64);
            k(st, s0, Kind::Bool);
        }
        JLtF64 | JLeF64 | JNLtF64 | JNLeF64 => {
            k(st, s0, Kind::F64);
            k(st, s1, Kind::F64);
        }
        Jt | Jf => k(st, s0, Kind::Bool),
        Not => {
            k(st, s1, Kind::Bool);
            k(st, s0, Kind::Bool);
        }
        I64ToF64 => {
            k(st, s1, Kind::I64);
            k(st, s0, Kind::F64);
        }
        ALen => k(st, s0, Kind::I64),
        JNTag | JNil | JCons | SetField => {
            let c = past(st, s0);
            k(st, s0, c);
        }
        // A `con` of one of the program's own types with fields allocates a data
        // object of that type; a field-less one is an immediate (`None` among them);
        // `Some` of an object of a known type is a [`Kind::SomeOf`] where nothing
        // writes into a `Some`.
        Con => {
            let (ty, tag, n) = (i.args.get(1), slot(i, 2), slot(i, 4));
            let v = match ty {
                Some(Operand::Type(t)) if *t >= FIRST_USER_TYPE && n > 0 => Kind::Obj(*t),
                Some(Operand::Type(t)) if *t >= FIRST_USER_TYPE => heap.field_less(*t),
                Some(Operand::Type(builtin::OPTION)) if tag == 0 && n == 0 => Kind::NoneOpt,
                Some(Operand::Type(builtin::OPTION)) if tag == 1 && n == 1 && heap.some_kept => {
                    match st.get(slot(i, 3)) {
                        Some(Kind::Obj(t)) => Kind::SomeOf(*t),
                        Some(Kind::Bot) => Kind::Bot,
                        _ => Kind::Ctor,
                    }
                }
                _ => Kind::Ctor,
            };
            k(st, s0, v);
        }
        Cons | LoadNil => k(st, s0, Kind::Ctor),
        LoadG => k(st, s0, heap.global(imm(i, 1) as usize)),
        // `anew` allocates an array (a negative count faults), flat of its fill's
        // kind when it has elements.
        ANew => {
            let fill = st.get(s2).and_then(|x| x.fill_tag());
            k(st, s0, fill.map_or(Kind::Arr, Kind::ArrOf));
        }
        Head | Tail => {
            let c = past(st, s1);
            k(st, s1, c);
            k(st, s0, Kind::Any);
        }
        // What the field table proves of the field read ([`Heap::field`]); the object
        // was found to have the field: an `Option` value of `T` is a `Some`.
        Field | Field2 => {
            let o = st.get(s1).copied().unwrap_or(Kind::Any);
            let v = if i.op == Field {
                heap.field(o, s2)
            } else {
                heap.field(heap.field(o, s2), slot(i, 3))
            };
            let c = match o {
                Kind::Opt(t) if heap.some_kept => Kind::SomeOf(t),
                _ => o.constructed_past(),
            };
            k(st, s1, c);
            k(st, s0, v);
        }
        CallK => call_kinds(st, imm(i, 1) as u32, s0, s2, rets),
        CallSelf => call_kinds(st, me, s0, s1, rets),
        Eq | Ne => {
            let both = st.get(s1) == Some(&Kind::I64) && st.get(s2) == Some(&Kind::I64);
            k(st, s0, if both { Kind::Bool } else { Kind::Any });
        }
        // An element of an array whose elements kind the program keeps
        // ([`Heap::elems`]) has that kind.
        AGet => {
            let e = st.get(s1).and_then(|a| heap.elems(*a));
            k(st, s2, Kind::I64);
            k(st, s0, e.map_or(Kind::Any, kind_of_tag));
        }
        ASet => k(st, s1, Kind::I64),
        _ => {
            // Anything else: every slot it writes becomes unknown, and a call's
            // callee may clobber every slot from its argument base up.
            for (kind, a) in i.op.operands().iter().zip(i.args.iter()) {
                if let Operand::Slot(s) = a {
                    match kind {
                        OperandKind::Dst => k(st, *s as usize, Kind::Any),
                        OperandKind::Base => {
                            for x in st.iter_mut().skip(*s as usize) {
                                *x = Kind::Any;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// The state `st` after the `jntag` `i` on its way `jumps` (its target) or not,
/// when that way proves the constructor index is not 0 (the target of a test for
/// constructor 0, the fall-through of a test for any other): the tested slot is
/// [`Kind::CtorNz`] there. `None`: `st` as it is.
fn nonzero_edge(st: &[Kind], i: &Insn, jumps: bool) -> Option<Vec<Kind>> {
    if i.op != Op::JNTag || jumps != (slot(i, 1) == 0) {
        return None;
    }
    let mut e = st.to_vec();
    let x = e.get_mut(slot(i, 0))?;
    *x = x.nonzero(slot(i, 1));
    Some(e)
}

/// One function, decoded, with its control-flow facts.
struct Fun {
    insns: Vec<Decoded>,
    /// Instruction index of each byte offset (`usize::MAX` inside an instruction).
    at: Vec<usize>,
    /// Kinds of the slots before each instruction.
    before: Vec<Vec<Kind>>,
    /// Whether each instruction is reachable from the entry.
    reached: Vec<bool>,
    /// How many ways each instruction is reached: control-flow edges, plus one for the
    /// entry and for every back-edge (the interpreter may enter there).
    preds: Vec<u32>,
    /// Block starts (byte offsets), ascending.
    leaders: Vec<u32>,
}

/// Decodes `code` and runs the kind inference: the entry state has every slot unknown
/// (the parameters come from callers, the other slots are unit).
#[cfg(test)]
fn infer(code: &[u8], nslots: u16, rets: &[Kind], me: u32) -> Option<Fun> {
    infer_seeded(code, nslots, rets, me, &[], &Heap::NONE, &[])
}

/// [`infer`] with the parameters' kinds at the entry `seeds` (the typed entry's,
/// [`typed`]; a parameter past them is unknown), the field facts `heap`, and `consts`,
/// the function each global always holds ([`constant_functions`]): the result of a
/// `call` of a function loaded from such a global ([`known_callee`]; a call of another
/// module's function, `i64.abs(x)`, is one) is what that function returns, as for a
/// `callk`.
fn infer_seeded(
    code: &[u8],
    nslots: u16,
    rets: &[Kind],
    me: u32,
    seeds: &[Kind],
    heap: &Heap,
    consts: &[Option<u32>],
) -> Option<Fun> {
    let insns: Vec<Decoded> = hashvm_format::insn::decode_all(code)
        .ok()?
        .into_iter()
        .map(|(ip, mut i)| {
            // A fused instruction is compiled as its first half; the rest follows in
            // the code (`con.ret` is `con`, then its `ret`).
            i.op = i.op.unfused();
            let len = i.len() as u32;
            (ip as u32, i, len)
        })
        .collect();
    if insns.is_empty() || code.len() >= JUMP_BIT as usize {
        return None;
    }
    let mut at = vec![usize::MAX; code.len() + 1];
    for (n, (ip, _, _)) in insns.iter().enumerate() {
        at[*ip as usize] = n;
    }
    let mut leaders = vec![0u32];
    for (n, (ip, i, len)) in insns.iter().enumerate() {
        let ts = targets(*ip, i);
        leaders.extend(ts.iter().copied());
        let ends = !ts.is_empty()
            || !falls_through(i.op)
            || matches!(i.op, Op::CallK | Op::CallSelf | Op::Call);
        if ends && n + 1 < insns.len() {
            leaders.push(ip + len);
        }
        // Every back-edge starts a block: the interpreter may enter there.
        if matches!(i.op, Op::Loop | Op::TCallSelf) {
            leaders.push(*ip);
        }
    }
    leaders.sort_unstable();
    leaders.dedup();
    if leaders
        .iter()
        .any(|&l| at.get(l as usize).is_none_or(|&x| x == usize::MAX))
    {
        return None;
    }
    let callees: Vec<Option<u32>> = (0..insns.len())
        .map(|x| known_callee_in(&insns, &leaders, x, consts))
        .collect();
    let n = nslots as usize;
    let mut before = vec![vec![Kind::Bot; n]; insns.len()];
    before[0] = vec![Kind::Any; n];
    for (x, k) in before[0].iter_mut().zip(seeds) {
        *x = *k;
    }
    let mut reached = vec![false; insns.len()];
    reached[0] = true;
    let mut work = vec![0usize];
    let mut queued = vec![false; insns.len()];
    queued[0] = true;
    while let Some(x) = work.pop() {
        queued[x] = false;
        let (ip, i, len) = &insns[x];
        let mut st = before[x].clone();
        match callees[x] {
            Some(f) => call_kinds(&mut st, f, slot(i, 0), slot(i, 2), rets),
            None => transfer(&mut st, i, rets, me, heap),
        }
        let mut succ: Vec<(usize, bool)> = targets(*ip, i)
            .iter()
            .map(|t| (at[*t as usize], true))
            .collect();
        if falls_through(i.op) && x + 1 < insns.len() {
            succ.push((at[(ip + len) as usize], false));
        }
        for (s, jumps) in succ {
            let mut changed = !reached[s];
            reached[s] = true;
            let edge = nonzero_edge(&st, i, jumps);
            for (a, b) in before[s].iter_mut().zip(edge.as_deref().unwrap_or(&st)) {
                let j = a.join(*b);
                if j != *a {
                    *a = j;
                    changed = true;
                }
            }
            if changed && !queued[s] {
                queued[s] = true;
                work.push(s);
            }
        }
    }
    let mut preds = vec![0u32; insns.len()];
    preds[0] += 1;
    for (n, (ip, i, len)) in insns.iter().enumerate() {
        if matches!(i.op, Op::Loop | Op::TCallSelf) {
            preds[n] += 1;
        }
        for t in targets(*ip, i) {
            preds[at[t as usize]] += 1;
        }
        if falls_through(i.op) && n + 1 < insns.len() {
            preds[at[(ip + len) as usize]] += 1;
        }
    }
    Some(Fun {
        insns,
        at,
        before,
        reached,
        preds,
        leaders,
    })
}

/// Whether the compiler translates `op` (given whether `callee`, for a known call, is
/// fully compiled).
fn supported(i: &Insn, kinds: &[Kind], compiled: &dyn Fn(u32) -> bool) -> bool {
    use Op::*;
    let int = |n: usize| kinds.get(slot(i, n)) == Some(&Kind::I64);
    match i.op {
        // Structural equality of two proven i64s is integer equality.
        JEq | JNe => int(0) && int(1),
        Eq | Ne => int(1) && int(2),
        CallK | TCallK => {
            let f = if i.op == CallK { imm(i, 1) } else { imm(i, 0) };
            compiled(f as u32)
        }
        // Through the function value, to whole-compiled code found at run time
        // (`call.aot.ind`); any other callee leaves to the interpreter at the call.
        Call | TCall => true,
        // The running closure's capture, from the frame record; a closure allocated
        // inline as a constructor is.
        GetEnv | Closure => true,
        Mov | LoadI | LoadI64 | LoadF | LoadTrue | LoadFalse | LoadUnit | Jmp | Jt | Jf | Loop
        | Ret | RetU | RetI | Not | AddI64 | SubI64 | MulI64 | DivI64 | RemI64 | NegI64
        | AndI64 | OrI64 | XorI64 | ShlI64 | ShrI64 | BNotI64 | AddIImm | SubIImm | MulIImm
        | EqI64 | NeI64 | LtI64 | LeI64 | JLtI64 | JLeI64 | JGtI64 | JGeI64 | JEqI64 | JNeI64
        | JLtIImm | JLeIImm | JGtIImm | JGeIImm | JEqIImm | JNeIImm | AddF64 | SubF64 | MulF64
        | DivF64 | NegF64 | EqF64 | NeF64 | LtF64 | LeF64 | JLtF64 | JLeF64 | JNLtF64 | JNLeF64
        | AddKF64 | SubKF64 | MulKF64 | DivKF64 | RSubKF64 | RDivKF64 | I64ToF64 | Sqrt
        | CallSelf | TCallSelf | ALen | AGet | ASet | LoadG | Field | Field2 | SetField | Con
        | Tuple | LoadNil | JNTag | JNil | JCons | Head | Tail | Cons | LoadFn | LoadU64 => true,
        // The verifier checks the code point; the translator checks it again.
        LoadChar => char::from_u32(imm(i, 1) as u32).is_some(),
        // A runtime error: an exit to the interpreter at the instruction, which raises
        // it (same message, same stack trace).
        Panic | MatchFail => true,
        // Run by the VM through a helper call (`call.insn`).
        op => helper(op),
    }
}

/// Whether `op` is compiled as a helper call (`call.insn`: the VM runs the instruction
/// with the interpreter's handler): what the tracing JIT runs so
/// (`hashvm_vm::jit::helper_runs`) but foreign calls, which stay to the interpreter
/// and the tracing JIT, whose traces call the C function directly (`call.c`).
fn helper(op: Op) -> bool {
    op != Op::FfiCall && hashvm_vm::jit::helper_runs(op)
}

/// How much of a function was compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every instruction is compiled: the interpreter runs none of it (unless a check
    /// fails or a stack is full, when it takes over at that instruction).
    Full,
    /// Compiled, but these instructions (mnemonics, each once) leave to the interpreter.
    Partial(Vec<String>),
}

/// The outcome for one function.
#[derive(Clone, Debug)]
pub struct FuncReport {
    /// Its name.
    pub name: String,
    /// How much was compiled.
    pub status: Status,
}

/// An entry point the interpreter enters: function `func` at byte offset `ip` (0: its
/// call; otherwise a back-edge), at `offset` in the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The function.
    pub func: u32,
    /// The bytecode offset.
    pub ip: u32,
    /// The machine-code offset.
    pub offset: u32,
}

/// A compiled program: position-independent machine code and its entry points.
#[derive(Clone, Debug, Default)]
pub struct Image {
    /// The machine code. Offset 0 is the trampoline the runtime calls (see
    /// [`emit::trampoline_signature`]).
    pub text: Vec<u8>,
    /// The entries, ordered by function then offset.
    pub entries: Vec<Entry>,
    /// Per function, in module order.
    pub report: Vec<FuncReport>,
    /// How many loops keep values in home registers ([`HomeLoop`]).
    pub home_loops: usize,
    /// How many calls were inlined ([`Leaf`]).
    pub inlined: usize,
    /// The program's field kinds ([`fields`]), which the executable hands to the
    /// runtime's tracing JIT.
    pub fields: crate::kinds::FieldKinds,
}

impl Image {
    /// The `--native-stats` text: a summary, then one line per function that is not
    /// fully compiled, with the reason.
    pub fn stats(&self) -> String {
        let n = self.report.len();
        let full = self
            .report
            .iter()
            .filter(|r| r.status == Status::Full)
            .count();
        let mut s = format!(
            "native: {n} functions: {full} compiled ahead of time, {} interpreted (entered as \
             machine code only at loops that compile whole; the instructions keeping each one \
             interpreted are listed), {} bytes of machine code, {} entries, {} loops keeping \
             values in registers, {} calls inlined, {} fields of a known kind ({} arrays of a \
             known elements kind)\n",
            n - full,
            self.text.len(),
            self.entries.len(),
            self.home_loops,
            self.inlined,
            self.fields.known(),
            self.fields.known_elems()
        );
        for r in &self.report {
            match &r.status {
                Status::Full => s.push_str(&format!("  compiled     {}\n", r.name)),
                Status::Partial(why) => {
                    s.push_str(&format!("  interpreted  {}: {}\n", r.name, why.join(", ")))
                }
            }
        }
        s
    }
}

/// A basic block, translated: its start offset and its IR.
pub struct Block {
    /// Byte offset of its first instruction.
    pub ip: u32,
    /// The IR (guards' snapshots resume in the interpreter, or with [`JUMP_BIT`], at
    /// another block).
    pub trace: Trace,
    /// Its register arguments, (slot, register) ([`block_args`]): the i64 slots its
    /// fragment takes from [`ARG_REGS`] (`arg.get`), which the loads at its start set
    /// for every way in but the branches that set them (`arg.set`s after their guard).
    pub args: Vec<(u16, u8)>,
}

/// The longest function body inlined at a direct call.
const MAX_LEAF_INSNS: usize = 40;

/// A function whose calls are inlined ([`inline_kind`]): straight-line code of
/// arithmetic, comparisons, conversions and moves ending in `ret` of a slot, so that
/// with its arguments of proven kinds it cannot fault, allocate, call or loop. Inlined,
/// it needs no frame (nothing can observe one: no exit, collection or stack trace can
/// happen inside it); only the limit check its call would make stays (`call.room`, or
/// once in the preheader of a loop with home registers), so that a program at the
/// frame or value stack limit fails where the interpreter fails.
pub(crate) struct Leaf {
    insns: Vec<Decoded>,
    arity: u16,
    nslots: u16,
}

/// The function `fun` (of `arity` parameters and `nslots` slots) as a [`Leaf`], if it
/// is one.
fn leaf(fun: &Fun, arity: u16, nslots: u16) -> Option<Leaf> {
    use Op::*;
    let n = fun.insns.len();
    if n > MAX_LEAF_INSNS || arity as usize > nslots as usize {
        return None;
    }
    for (k, (_, i, _)) in fun.insns.iter().enumerate() {
        let last = k + 1 == n;
        let ok = match i.op {
            Ret | RetI => last,
            Mov | LoadI | LoadI64 | LoadF | LoadTrue | LoadFalse | AddI64 | SubI64 | MulI64
            | DivI64 | RemI64 | AndI64 | OrI64 | XorI64 | ShlI64 | ShrI64 | AddIImm | SubIImm
            | MulIImm | NegI64 | BNotI64 | EqI64 | NeI64 | LtI64 | LeI64 | Eq | Ne | AddF64
            | SubF64 | MulF64 | DivF64 | AddKF64 | SubKF64 | MulKF64 | DivKF64 | RSubKF64
            | RDivKF64 | NegF64 | Sqrt | EqF64 | NeF64 | LtF64 | LeF64 | Not | I64ToF64 => !last,
            _ => false,
        };
        if !ok {
            return None;
        }
    }
    Some(Leaf {
        insns: fun.insns.clone(),
        arity,
        nslots,
    })
}

/// The kind a call of `leaf` returns when its arguments have the kinds `args`, if the
/// call can be inlined: every argument and every operand is of a proven kind, the one
/// its instruction reads (so no tag check, which could fail, is needed), and every
/// division is by a constant other than 0 and -1 (so it cannot fault).
fn inline_kind(leaf: &Leaf, args: &[Kind]) -> Option<Kind> {
    use Op::*;
    if args.len() != leaf.arity as usize || args.iter().any(|k| k.ir().is_none()) {
        return None;
    }
    let mut st = vec![Kind::Any; leaf.nslots as usize];
    st[..args.len()].copy_from_slice(args);
    let mut konst: Vec<Option<i64>> = vec![None; leaf.nslots as usize];
    for (_, i, _) in &leaf.insns {
        let srcs: Vec<usize> =
            i.op.operands()
                .iter()
                .zip(i.args.iter())
                .filter_map(|(k, a)| match (k, a) {
                    (OperandKind::Src, Operand::Slot(x)) => Some(*x as usize),
                    _ => None,
                })
                .collect();
        if srcs
            .iter()
            .any(|&x| st.get(x).is_none_or(|k| k.ir().is_none()))
        {
            return None;
        }
        if i.op == Ret {
            return Some(st[slot(i, 0)]);
        }
        if i.op == RetI {
            return Some(Kind::I64);
        }
        if matches!(i.op, DivI64 | RemI64)
            && konst
                .get(slot(i, 2))
                .copied()
                .flatten()
                .is_none_or(|k| k == 0 || k == -1)
        {
            return None;
        }
        // An operand of another kind than the instruction reads would fault.
        let reads = match i.op {
            Mov => None,
            Not => Some(Kind::Bool),
            AddF64 | SubF64 | MulF64 | DivF64 | AddKF64 | SubKF64 | MulKF64 | DivKF64
            | RSubKF64 | RDivKF64 | NegF64 | Sqrt | EqF64 | NeF64 | LtF64 | LeF64 => {
                Some(Kind::F64)
            }
            _ => Some(Kind::I64),
        };
        if reads.is_some_and(|k| srcs.iter().any(|&x| st[x] != k)) {
            return None;
        }
        transfer(&mut st, i, &[], 0, &Heap::NONE);
        let d = slot(i, 0);
        if let Some(k) = konst.get_mut(d) {
            *k = match i.op {
                LoadI | LoadI64 => Some(imm(i, 1)),
                _ => None,
            };
        }
    }
    None
}

/// The callee and its frame size when `i` (a `callk`, with the slot kinds `kinds`
/// before it) calls a [`Leaf`] that can be inlined there.
fn inline_call(i: &Insn, kinds: &[Kind], leaves: &[Option<Leaf>]) -> Option<(u32, u16)> {
    if i.op != Op::CallK {
        return None;
    }
    let (f, a0) = (imm(i, 1) as u32, slot(i, 2));
    let leaf = leaves.get(f as usize)?.as_ref()?;
    let args = kinds.get(a0..a0 + leaf.arity as usize)?;
    inline_kind(leaf, args).map(|_| (f, leaf.nslots))
}

/// An innermost loop whose slots of one proven kind live in registers ("home
/// registers") across its blocks, instead of going back to memory at every block
/// boundary: the loop-carried values of numeric loops.
///
/// The loop is the code from `head` (the target of its `loop` instruction) to `back`
/// (that instruction), entered only at `head` (from outside: through a preheader that
/// loads the homes, guarding their tags) and at `back` (the interpreter's back-edge:
/// through a stub that loads them the same way). Every way out (a jump or branch to a
/// block outside, an exit to the interpreter) first writes the homes to their slots
/// (those the loop writes and that are live where it resumes, [`HomeLoop::stores`]),
/// so outside the loop, and to the interpreter, the collector and stack traces, the
/// frame is exactly the interpreter's. Inside, every write of a home slot is a value
/// of its kind (checked by [`home_loops`]), and the loop returns nothing and calls only
/// functions it inlines ([`Leaf`]), so no one else reads the slots while the homes hold
/// them. A home of type `Ptr` is a loop-invariant array: a slot the loop never writes,
/// held as the array's address (checked to be one where the loop is entered) and
/// never written back.
#[derive(Clone, Debug, PartialEq)]
pub struct HomeLoop {
    /// Byte offset of the loop header.
    pub head: u32,
    /// Byte offset of the back-edge (`loop`).
    pub back: u32,
    /// The slots kept in registers, with their kind and register.
    pub(crate) homes: Vec<(u16, IrType, crate::x64::Loc)>,
    /// Of the `Ptr` homes, the loop-invariant data objects (the object of a `field`
    /// or `setfield`, rather than an array), each with the number of fields the loop
    /// reads or writes at least: where the loop is entered the object is checked to be
    /// of the data kind with that many fields (headers never change while an object
    /// lives), so its accesses in the loop check neither.
    pub(crate) objects: Vec<(u16, u32)>,
    /// The number and bool homes whose tags are compared where the loop is entered:
    /// those of no proven kind at the header (a parameter the loop reads as one kind,
    /// below). A home of a kind proven at the header needs no compare: every path
    /// into the header wrote its slot with a value of that kind (a slot no path
    /// writes is of no kind at the function's entry), which every other load of a
    /// slot of proven kind trusts too (`sload.*.known`); the interpreter's entries at
    /// a back-edge compare first what a typed entry's seeds alone prove
    /// ([`FuncIr::entry_checks`]).
    pub(crate) checked: Vec<u16>,
    /// The largest frame end (argument base plus frame size, in slots) of the calls
    /// the loop inlines, 0 if none: the preheader and the back-edge entry check once
    /// that such a frame and its record fit, for every inlined call of the loop (its
    /// slot 0 and frame top do not move inside it).
    pub room: u32,
    /// Where a way out of the loop resumes (each instruction of the loop, where an
    /// exit resumes the interpreter, and each target outside it of the loop's
    /// branches), sorted by offset: the homes (bit `k`: `homes[k]`) written back
    /// there ([`HomeLoop::stored_at`]). Only number and bool homes that some
    /// instruction of the loop writes and that are live there: a home the loop never
    /// writes is what its slot holds (loaded from it where the loop is entered, and
    /// nothing in the loop stores to the slot), and a dead slot is read by no one but
    /// the collector, which finds the number of that kind it held where the loop was
    /// entered (or an older write-back), as it finds any dead slot whose write-back a
    /// block skips.
    pub(crate) stores: Vec<(u32, u16)>,
    /// The number and bool homes some instruction of the loop writes (bit `k`:
    /// `homes[k]`): what a way out whose resume point is not in `stores` writes back.
    pub(crate) written: u16,
}

impl HomeLoop {
    /// Whether the block starting at `ip` is inside the loop.
    pub fn contains(&self, ip: u32) -> bool {
        (self.head..=self.back).contains(&ip)
    }

    /// The loop with its number and bool homes only (no loop-invariant arrays or
    /// objects), each keeping its register: the bits of `stores` and `written`, which
    /// name homes by their index, renumbered to the kept homes' new indices. (Keeping
    /// the old bits named the wrong homes once a `Ptr` home before a number was
    /// dropped: a loop summing into its fourth home, after two arrays, wrote the sum
    /// back at no exit.)
    pub(crate) fn without_objects(mut self) -> HomeLoop {
        let kept: Vec<usize> = (0..self.homes.len())
            .filter(|&k| self.homes[k].1 != IrType::Ptr)
            .collect();
        let renumber = |m: u16| {
            kept.iter()
                .enumerate()
                .fold(0u16, |n, (new, &old)| n | ((m >> old) & 1) << new)
        };
        self.homes = kept.iter().map(|&k| self.homes[k]).collect();
        self.objects.clear();
        for st in &mut self.stores {
            st.1 = renumber(st.1);
        }
        self.written = renumber(self.written);
        self
    }

    /// The home register of slot `s`, if it has one.
    pub(crate) fn home(&self, s: usize) -> Option<(IrType, crate::x64::Loc)> {
        self.homes
            .iter()
            .find(|h| h.0 as usize == s)
            .map(|h| (h.1, h.2))
    }

    /// The number of fields checked where the loop is entered, if slot `s` is a
    /// loop-invariant data object held in a home register.
    pub(crate) fn object(&self, s: usize) -> Option<u32> {
        self.objects
            .iter()
            .find(|o| o.0 as usize == s)
            .map(|o| o.1)
            .filter(|_| self.home(s).is_some())
    }

    /// The homes (bit `k`: `homes[k]`) a way out of the loop that resumes at `ip` (in
    /// the loop's own function) writes back ([`HomeLoop::stores`]); with no `ip` (an
    /// exit inside an inlined callee, which resumes in the callee's code) or an offset
    /// not listed, every number and bool home the loop writes ([`HomeLoop::written`]).
    pub(crate) fn stored_at(&self, ip: Option<u32>) -> u16 {
        ip.and_then(|ip| {
            self.stores
                .binary_search_by_key(&ip, |s| s.0)
                .ok()
                .map(|k| self.stores[k].1)
        })
        .unwrap_or(self.written)
    }
}

/// The home registers: four general ones and six float ones, taken from the end of
/// the trace allocator's preference order (which hands out `rax` and `xmm0` first).
/// `r10` is caller-saved, which is no matter: a loop with homes makes no real call,
/// and the write barrier's slow path saves every caller-saved register.
const HOME_GPRS: [u8; 4] = [15, 14, 13, 10];
const HOME_XMMS: [u8; 6] = [15, 14, 13, 12, 11, 10];

/// The loops of `fun` that keep slots in home registers (see [`HomeLoop`]).
fn home_loops(
    fun: &Fun,
    full: &dyn Fn(u32) -> bool,
    leaves: &[Option<Leaf>],
    liveness: &Liveness,
) -> Vec<HomeLoop> {
    use crate::x64::Loc;
    let mut out = Vec::new();
    for (ln, (lip, li, _)) in fun.insns.iter().enumerate() {
        if li.op != Op::Loop || !fun.reached[ln] {
            continue;
        }
        let head = targets(*lip, li)[0];
        let back = *lip;
        if head == 0 || head >= back {
            continue;
        }
        let body: Vec<usize> = (0..fun.insns.len())
            .filter(|&n| (head..=back).contains(&fun.insns[n].0))
            .collect();
        // Innermost, fully compiled, returning nothing and calling only what it
        // inlines.
        let mut room = 0u32;
        let simple = body.iter().all(|&n| {
            let (ip, i, _) = &fun.insns[n];
            let inlined = inline_call(i, &fun.before[n], leaves);
            if let Some((_, nslots)) = inlined {
                room = room.max(slot(i, 2) as u32 + nslots as u32);
            }
            fun.reached[n]
                && supported(i, &fun.before[n], full)
                && (inlined.is_some()
                    || !(is_call(i.op) || matches!(i.op, Op::Ret | Op::RetU | Op::RetI)))
                && !helper(i.op)
                && (i.op != Op::Loop || *ip == back)
        });
        // Entered only at its header.
        let closed = fun.insns.iter().all(|(ip, i, _)| {
            (head..=back).contains(ip)
                || targets(*ip, i)
                    .iter()
                    .all(|t| *t == head || !(head..=back).contains(t))
        });
        if !simple || !closed {
            continue;
        }
        // Candidates: slots proven of one kind at the header (on the way in and on
        // the back-edge); then only those every instruction keeps of that kind.
        // (A slot first written inside the loop is not one: on the way in it may hold
        // anything, which the interpreter would see if an exit wrote the home back.)
        // Only slots live at the header: a dead one may hold a stale value of another
        // kind in memory (its write-back skipped), which the preheader's check would
        // refuse every time.
        let mut cand: Vec<(usize, Kind)> = fun.before[body[0]]
            .iter()
            .enumerate()
            .filter(|(s, k)| k.ir().is_some() && liveness.live(body[0], *s))
            .map(|(s, k)| (s, *k))
            .collect();
        loop {
            let before = cand.len();
            for &n in &body {
                let mut st = fun.before[n].clone();
                for &(s, k) in &cand {
                    st[s] = k;
                }
                transfer(&mut st, &fun.insns[n].1, &[], 0, &Heap::NONE);
                cand.retain(|&(s, k)| st[s] == k);
            }
            if cand.len() == before {
                break;
            }
        }
        // Loop-invariant arrays: slots read as an array (`aget`, `aset`, `alen`) that
        // no instruction of the loop writes (an inlined call's frame, from its
        // argument base up, counts as written). Kept as addresses, checked once where
        // the loop is entered to be an object of the array kind: each access then
        // skips the slot's load and its tag and kind checks. Their slots never change
        // inside the loop, so no way out writes them back; nothing collects inside
        // (no calls but inlined leaves, no helper calls; a full nursery leaves), so
        // the address stays valid; and compiled code never converts an array's
        // elements kind, which each access still tests.
        // Likewise the data objects of `field`/`setfield`, with the number of fields
        // the loop uses (a slot used both ways is neither: one of them faults).
        let mut arrays: Vec<usize> = Vec::new();
        let mut objects: Vec<(usize, u32)> = Vec::new();
        for &n in &body {
            let i = &fun.insns[n].1;
            let (s, field) = match i.op {
                Op::AGet | Op::ALen => (slot(i, 1), None),
                Op::ASet => (slot(i, 0), None),
                Op::Field => (slot(i, 1), Some(slot(i, 2))),
                Op::SetField => (slot(i, 0), Some(slot(i, 1))),
                _ => continue,
            };
            if !fun.before[body[0]].get(s).is_some_and(|k| k.untyped()) {
                continue;
            }
            match field {
                None if !arrays.contains(&s) => arrays.push(s),
                Some(f) if f < 0x7fff_ffff / 16 => match objects.iter_mut().find(|o| o.0 == s) {
                    Some(o) => o.1 = o.1.max(f as u32 + 1),
                    None => objects.push((s, f as u32 + 1)),
                },
                _ => {}
            }
        }
        let both: Vec<usize> = arrays
            .iter()
            .copied()
            .filter(|s| objects.iter().any(|o| o.0 == *s))
            .collect();
        let invariant = |s: usize| {
            !both.contains(&s)
                && body.iter().all(|&n| {
                    let i = &fun.insns[n].1;
                    let window = matches!(i.op, Op::CallK | Op::CallSelf) && slot(i, 2) <= s;
                    !window && !use_def(i).writes.contains(&(s as u16))
                })
        };
        arrays.retain(|&s| invariant(s));
        objects.retain(|&(s, _)| invariant(s));
        // Likewise a slot of no proven kind at the header (a parameter the loop is the
        // first to read as a number) that the loop never writes and reads as one kind
        // wherever it reads it as a number: its tag is checked where the loop is
        // entered instead of at each block that reads it.
        let mut typed: Vec<(usize, Option<Kind>)> = Vec::new();
        for &n in &body {
            let i = &fun.insns[n].1;
            for s in use_def(i).reads {
                let s = s as usize;
                if !fun.before[body[0]].get(s).is_some_and(|k| k.untyped()) {
                    continue;
                }
                let mut st = fun.before[n].clone();
                st[s] = Kind::Any;
                transfer(&mut st, i, &[], 0, &Heap::NONE);
                if st[s].ir().is_none() {
                    continue;
                }
                match typed.iter_mut().find(|t| t.0 == s) {
                    Some(t) if t.1 != Some(st[s]) => t.1 = None,
                    Some(_) => {}
                    None => typed.push((s, Some(st[s]))),
                }
            }
        }
        let mut unproven: Vec<usize> = Vec::new();
        for (s, k) in typed {
            if let Some(k) = k.filter(|_| invariant(s) && !arrays.contains(&s)) {
                if !objects.iter().any(|o| o.0 == s) {
                    cand.push((s, k));
                    unproven.push(s);
                }
            }
        }
        // The most used first, as many as there are home registers.
        let uses = |s: usize| {
            body.iter()
                .filter(|&&n| {
                    fun.insns[n]
                        .1
                        .args
                        .iter()
                        .any(|a| matches!(a, Operand::Slot(x) if *x as usize == s))
                })
                .count()
        };
        let mut cand: Vec<(usize, Option<IrType>)> =
            cand.into_iter().map(|(s, k)| (s, k.ir())).collect();
        cand.extend(arrays.into_iter().map(|s| (s, Some(IrType::Ptr))));
        cand.extend(objects.iter().map(|&(s, _)| (s, Some(IrType::Ptr))));
        cand.sort_by_key(|&(s, _)| (std::cmp::Reverse(uses(s)), s));
        let (mut g, mut x) = (0, 0);
        let mut homes = Vec::new();
        for (s, ty) in cand {
            let Some(ty) = ty else { continue };
            // A slot no instruction of the loop names gains nothing from a register:
            // it would cost its load and tag compare where the loop is entered and its
            // store on every way out (fasta's `todo` around the `r >= cumulative[j]`
            // scan, entered once a character). It stays in its slot, as any slot
            // that is not a home.
            if uses(s) == 0 {
                continue;
            }
            let loc = if ty == IrType::F64 {
                let Some(&r) = HOME_XMMS.get(x) else { continue };
                x += 1;
                Loc::Xmm(r)
            } else {
                let Some(&r) = HOME_GPRS.get(g) else { continue };
                g += 1;
                Loc::Gpr(r)
            };
            homes.push((s as u16, ty, loc));
        }
        if !homes.is_empty() {
            objects.retain(|o| homes.iter().any(|h| h.0 as usize == o.0));
            let checked = homes
                .iter()
                .filter(|h| h.1 != IrType::Ptr && unproven.contains(&(h.0 as usize)))
                .map(|h| h.0)
                .collect();
            // The homes each way out writes back ([`HomeLoop::stores`]): those the
            // loop writes (an inlined call's frame counts as written, as above) that
            // are live where it resumes.
            let writes = |s: usize| {
                body.iter().any(|&n| {
                    let i = &fun.insns[n].1;
                    (matches!(i.op, Op::CallK | Op::CallSelf) && slot(i, 2) <= s)
                        || use_def(i).writes.contains(&(s as u16))
                })
            };
            let mask = |keep: &dyn Fn(usize) -> bool| {
                homes.iter().enumerate().fold(0u16, |m, (k, h)| {
                    let s = h.0 as usize;
                    if h.1 != IrType::Ptr && writes(s) && keep(s) {
                        m | 1 << k
                    } else {
                        m
                    }
                })
            };
            let written = mask(&|_| true);
            let mut resumes: Vec<usize> = body.clone();
            for &n in &body {
                let (ip, i, _) = &fun.insns[n];
                for t in targets(*ip, i) {
                    if !(head..=back).contains(&t) {
                        if let Ok(k) = fun.insns.binary_search_by_key(&t, |x| x.0) {
                            resumes.push(k);
                        }
                    }
                }
            }
            resumes.sort_unstable();
            resumes.dedup();
            let stores = resumes
                .into_iter()
                .map(|n| (fun.insns[n].0, mask(&|s| liveness.live(n, s))))
                .collect();
            out.push(HomeLoop {
                head,
                back,
                homes,
                objects: objects.iter().map(|&(s, n)| (s as u16, n)).collect(),
                checked,
                room,
                stores,
                written,
            });
        }
    }
    out
}

/// The parameters of a self-tail-call loop carried in registers across the back-edge
/// ([`FuncIr::carried`]), each with its two registers (payload, tag word): the
/// slots `p` (parameters of no proven kind at the entry) that the loop reads as the
/// object of a `field` or `field2` and that only `field`s and `field2`s into `p` write
/// (a list walk through `Option` links, awfy_list's; a tree walk, pmap's `find`).
/// The loop is the whole
/// function: every way back to its entry is a `tcallself` whose arguments are in place
/// already (argument base 0: no move), nothing else jumps to offset 0 (no `loop`), and
/// it makes no call (but the self tail call) and no helper call, so nothing collects
/// while it runs (a full nursery, a poll, a fault leave to the interpreter) and no
/// callee overwrites the registers.
///
/// The registers are *written back*, not through: each such `field2` writes its
/// result into the registers only, and the slot is stale until something can read it.
/// So the function's own instructions may read `p` only where the code reads the
/// registers (a `field2`'s object, `jntag`/`jnil`/`jcons`, the `tcallself` that leaves
/// it in place), and every other reader is an exit's: the exit stubs to the
/// interpreter (guards, faults, a full nursery, the poll, tier-up counts) store the
/// registers first, and a self tail call to the checked entry (which compares the
/// slots) goes through a stub that stores them. Returns read no carried slot (a `ret`
/// of `p` is a reader: not carried), and nothing collects while the code runs (no
/// calls). Every way in (the function's entries, the interpreter's at the back-edge)
/// loads the registers from the slots. What the registers save is the reload of the
/// slot the previous iteration stored, and now the stores too: awfy_list's
/// `is_shorter_than` walks two lists, and each iteration's next address was loaded
/// through the previous one's store (a store-to-load forwarding on the loop's critical
/// path), its tag compared there too. At most two parameters (the four home
/// registers).
fn carried_slots(fun: &Fun, arity: u16) -> Vec<(u16, u8, u8)> {
    let selfloop = fun.insns.iter().any(|(_, i, _)| i.op == Op::TCallSelf);
    let simple = fun.insns.iter().all(|(ip, i, _)| match i.op {
        Op::TCallSelf => slot(i, 0) == 0,
        Op::Loop => false,
        op => !is_call(op) && !helper(op) && !targets(*ip, i).contains(&0),
    });
    if !selfloop || !simple {
        return Vec::new();
    }
    let mut out = Vec::new();
    for p in 0..arity as usize {
        if !fun.before[0].get(p).is_some_and(|k| k.untyped()) {
            continue;
        }
        let field = |i: &Insn| matches!(i.op, Op::Field | Op::Field2);
        let read = fun
            .insns
            .iter()
            .any(|(_, i, _)| field(i) && slot(i, 1) == p);
        let writes_only_fields = fun.insns.iter().all(|(_, i, _)| {
            !use_def(i).writes.contains(&(p as u16)) || (field(i) && slot(i, 0) == p)
        });
        // Read only where the code takes the registers (no stale slot is read).
        let reads_in_registers = fun.insns.iter().all(|(_, i, _)| {
            !use_def(i).reads.contains(&(p as u16))
                || match i.op {
                    Op::Field | Op::Field2 => slot(i, 1) == p,
                    Op::JNTag | Op::JNil | Op::JCons => slot(i, 0) == p,
                    Op::TCallSelf => true,
                    _ => false,
                }
        });
        if read && writes_only_fields && reads_in_registers {
            let (Some(&r), Some(&t)) = (
                HOME_GPRS.get(2 * out.len()),
                HOME_GPRS.get(2 * out.len() + 1),
            ) else {
                break;
            };
            out.push((p as u16, r, t));
        }
    }
    out
}

/// Which slots are live before each instruction of `fun` (one bit per slot): read by
/// some instruction on a path from there before being written. A pending value of a
/// slot dead where it would be written back (an exit, a call, the end of a fragment) is
/// not written: no one can read it (a stale value in a slot is an older value of the
/// same frame, which the collector scans as before).
pub(crate) struct Liveness(hashvm_format::liveness::Liveness);

impl Liveness {
    /// The bytecode liveness of `fun` (`hashvm_format::liveness`: one analysis, derived
    /// from the opcode table's operand roles, shared with the tracing JIT).
    fn new(fun: &Fun, nslots: usize) -> Liveness {
        let insns: Vec<(u32, &Insn, u32)> = fun
            .insns
            .iter()
            .map(|(ip, i, len)| (*ip, i, *len))
            .collect();
        Liveness(hashvm_format::liveness::Liveness::new(&insns, nslots))
    }

    /// Whether slot `s` is live before instruction `n` (true when unknown).
    fn live(&self, n: usize, s: usize) -> bool {
        self.0.live_index(n, s)
    }
}

/// One function, translated.
pub struct FuncIr {
    /// Its blocks, in code order (block 0 is the function entry).
    pub blocks: Vec<Block>,
    /// Its loops with home registers.
    pub loops: Vec<HomeLoop>,
    /// Instructions left to the interpreter (mnemonics, deduplicated).
    pub fallbacks: Vec<String>,
    /// Calls inlined ([`Leaf`]).
    pub inlined: usize,
    /// The slots its direct callers' pushes leave and its exits clear
    /// ([`clears::clears`]; none for a function that is not fully compiled).
    pub clears: clears::Clears,
    /// The parameters its checked entry compares, (slot, type): those its code takes
    /// as of a proven kind ([`typed`]); none when it has a single entry.
    pub checked: Vec<(u16, IrType)>,
    /// The byte offsets of its direct calls and tail calls whose callee is entered at
    /// its typed entry, ascending.
    pub typed: Vec<u32>,
    /// Per loop entry of the interpreter (a back-edge's offset, ascending): the slots
    /// it compares first, (slot, type) ([`typed::entry_checks`]).
    pub entry_checks: Vec<(u32, Vec<(u16, IrType)>)>,
    /// The parameters a self-tail-call loop carries in registers across its
    /// back-edge, (slot, payload register, tag word register) ([`carried_slots`]):
    /// loaded at every way in, updated by the `field2`s that write them (which write
    /// the slots too), never allocated by the function's blocks.
    pub carried: Vec<(u16, u8, u8)>,
    /// Its register arguments, (slot, register) ([`register_args`]): the i64
    /// parameters its typed entry takes in [`ARG_REGS`] as well as in their slots.
    pub args: Vec<(u16, u8)>,
}

/// The register arguments of function `fi` (SPEC.md §11.6, "Register arguments"): its
/// first three parameters that its typed entry takes as i64s ([`typed::checked`]),
/// each in its register of [`ARG_REGS`], when every caller that enters the typed entry
/// natively can set them there: none for a function whose entry counts its calls (its
/// callers enter at the prologue, [`tiers_up_at_entry`]) or that carries parameters in
/// registers ([`carried_slots`]: its first block begins with their loads), and only
/// parameters its code reads before its first call or jump, along the fall-throughs
/// from offset 0 (what its first fragment can take from the register: another is
/// reloaded anyway, and its caller's move or load would be paid for nothing). The
/// callers that prove the seeded kinds (`typed`) set the registers right before the
/// call and enter past the loads, so the callee's first block reads the argument from
/// its register, not from the slot the caller has just written (a store forwarded to
/// a load on the recursion's critical path: ackermann's `n`, fib's `n`); every other way
/// into the first block goes through the loads.
fn register_args(fi: u32, fun: &Fun, code: &[u8], arity: u16, seeds: &[Kind]) -> Vec<(u16, u8)> {
    if tiers_up_at_entry(fi, fun, code) || !carried_slots(fun, arity).is_empty() {
        return Vec::new();
    }
    // The parameters read before anything writes them on the straight way from 0.
    let early = read_before_written(fun.insns.iter().map(|(_, i, _)| i), arity as usize);
    typed::checked(seeds)
        .into_iter()
        .filter(|&(p, ty)| p < arity && ty == IrType::I64 && early[p as usize])
        .zip(ARG_REGS)
        .map(|((p, _), r)| (p, r))
        .collect()
}

/// Which of slots `0..n` the straight-line code `insns` reads before it writes them,
/// up to and including its first call or instruction that does not fall through:
/// the values a fragment needs from its start (a function's register arguments,
/// [`register_args`], and a block's, [`block_args`]).
fn read_before_written<'a>(insns: impl Iterator<Item = &'a Insn>, n: usize) -> Vec<bool> {
    let (mut early, mut written) = (vec![false; n], vec![false; n]);
    for i in insns {
        let ud = use_def(i);
        for s in ud.reads {
            if let (Some(e), Some(false)) = (early.get_mut(s as usize), written.get(s as usize)) {
                *e = true;
            }
        }
        for s in ud.writes {
            if let Some(w) = written.get_mut(s as usize) {
                *w = true;
            }
        }
        if is_call(i.op) || !falls_through(i.op) {
            break;
        }
    }
    early
}

/// The register arguments of the block starting at byte offset `start` of `fun`
/// (SPEC.md §11.6, "Block arguments"), a block with one way in: the slots, at most
/// three, that hold a proven i64 where the block starts and that its fragment reads
/// before writing them and before its first call or jump (along the fall-throughs
/// that continue the fragment: those with no other way in, when `merge`), each in a
/// register of [`ARG_REGS`] (a parameter of the function in its own register
/// argument's, `own`; the others in slot order). A branch whose fragment holds those
/// values in registers moves them there and jumps past the loads the block starts
/// with (fib's recursive case reads `n`, ackermann's its `m` and `n`: each a store
/// forwarded to a load on the recursion's critical path, when read back from the
/// slot). None for block 0 (the function's own register arguments,
/// [`register_args`]).
fn block_args(
    fun: &Fun,
    start: u32,
    nslots: u16,
    merge: bool,
    own: &[(u16, u8)],
) -> Vec<(u16, u8)> {
    let Some(&first) = fun.at.get(start as usize) else {
        return Vec::new();
    };
    // Only a block with one way in (a branch's target, never a join, a loop's head or
    // an interpreter's entry): a block that a branch cannot enter with its values
    // would load them all at its start, in registers that its calls' arguments may
    // then have to be moved out of (awfy_queens' loop head: +5.4% instructions).
    if start == 0 || first == usize::MAX || fun.preds.get(first) != Some(&1) {
        return Vec::new();
    }
    let n = nslots as usize;
    // Another block that does not continue this fragment starts a fragment of its own.
    let fragment = fun
        .insns
        .iter()
        .enumerate()
        .skip(first)
        .take_while(|&(k, (ip, _, _))| {
            k == first
                || fun.leaders.binary_search(ip).is_err()
                || (merge && fun.preds.get(k) == Some(&1))
        })
        .map(|(_, (_, i, _))| i);
    let early = read_before_written(fragment, n);
    let kinds = &fun.before[first];
    let slots: Vec<u16> = (0..n)
        .filter(|&s| early[s] && kinds.get(s) == Some(&Kind::I64))
        .take(ARG_REGS.len())
        .map(|s| s as u16)
        .collect();
    // A parameter of the function keeps its own register argument's register (where
    // the branches find it when they still hold the `arg.get`: no move), the others
    // take the registers left, in order.
    let mut left = ARG_REGS
        .into_iter()
        .filter(|r| !slots.iter().any(|&s| own.contains(&(s, *r))));
    slots
        .iter()
        .filter_map(|&s| match own.iter().find(|o| o.0 == s) {
            Some(&(_, r)) => Some((s, r)),
            None => Some((s, left.next()?)),
        })
        .collect()
}

/// The per-block translator: a slot map from slots to IR values (and whether the
/// value still has to be written back), and the kinds of the slots not in the map.
struct Tx<'a> {
    b: TraceBuilder,
    map: Vec<Option<(Ref, bool)>>,
    kinds: Vec<Kind>,
    full: &'a dyn Fn(u32) -> bool,
    func: u32,
    /// Whether the block starting at this offset may continue the current fragment
    /// (its one way in is the fall-through of a branch here).
    mergeable: &'a dyn Fn(u32) -> bool,
    /// The inferred kind of a slot before the instruction at a byte offset (`Any` off
    /// an instruction).
    kind_at: &'a dyn Fn(u32, usize) -> Kind,
    /// Per parameter, the type whose tag its slot always holds ([`typed::fixed_tags`]).
    fixed: &'a [Option<IrType>],
    /// Per function, per parameter: the type whose tag word its slot holds when a
    /// native call of the function returns ([`returned_tags`]).
    returned: &'a [Vec<Option<IrType>>],
    /// The instruction at a byte offset.
    next_op: &'a dyn Fn(u32) -> Option<Op>,
    /// The block [`Tx::fall`] names is translated as a copy (it stays a block of its
    /// own too).
    copy: bool,
    /// The type the instruction after byte offset `ip` that next mentions slot `s`, in
    /// the same basic block, reads it as (i64, f64, bool, or a pointer for an array
    /// operand), if it reads it first.
    next_read: &'a dyn Fn(u32, usize) -> Option<IrType>,
    /// Set by a branch whose fall-through continues this fragment.
    fall: Option<u32>,
    /// The loop with home registers this block is in, if any.
    home: Option<&'a HomeLoop>,
    /// Per function: its body if it is a [`Leaf`] (its calls are inlined).
    leaves: &'a [Option<Leaf>],
    /// Whether slot `s` is live before the instruction at byte offset `ip`.
    live: &'a dyn Fn(u32, usize) -> bool,
    /// Calls inlined so far.
    inlined: usize,
    /// Whether a guard's snapshot names the pending values (its exit stub writes them)
    /// rather than having them written before the guard ([`Tx::snap`]).
    lazy: bool,
    /// Whether the instruction after byte offset `ip` that next mentions slot `s`, in
    /// the same basic block, reads it first as the object of a `field` or `setfield`.
    next_object: &'a dyn Fn(u32, usize) -> bool,
    /// Whether the instruction after byte offset `ip` that next mentions slot `s`, in
    /// the same basic block, is `ret s` ([`next_returns`]).
    next_ret: &'a dyn Fn(u32, usize) -> bool,
    /// Values that are addresses of DATA objects (a field read next as an object),
    /// never arrays: [`Tx::get`] does not hand them out as arrays.
    data: Vec<Ref>,
    /// Every function's decoded code (for the hints of a callee being inlined).
    funs: &'a [Option<Fun>],
    /// Per function: the path its calls run when inlined with exits
    /// ([`inline::path`]), if they may be.
    bodies: &'a [Option<Vec<inline::Walk>>],
    /// The call being inlined with exits, while its callee is translated.
    inl: Option<inline::Inlining>,
    /// The function a `call` at this byte offset certainly calls ([`known_callee`]).
    known: &'a dyn Fn(u32) -> Option<u32>,
    /// The offsets of the function's calls that enter their callee at its typed entry
    /// ([`FuncIr::typed`]).
    typed: &'a [u32],
    /// Whether every field-less constructor of the program has index 0
    /// ([`nonzero_ctors_have_fields`]): then a slot of kind [`Kind::CtorNz`] holds an
    /// object.
    nz_object: bool,
    /// Per global, the constant it holds once initialised ([`constant_numbers`]).
    numbers: &'a [Option<(IrType, u64)>],
    /// Per global, whether it is initialised before this function can run
    /// ([`initialised_early`]; empty in an initialiser).
    early: &'a [bool],
    /// The function's carried parameters ([`FuncIr::carried`]).
    carried: &'a [(u16, u8, u8)],
    /// Per function, its register arguments ([`FuncIr::args`]).
    args: &'a [Vec<(u16, u8)>],
    /// Per block of the function (its byte offset, ascending): the register
    /// arguments it may take ([`block_args`]).
    block_args: &'a [(u32, Vec<(u16, u8)>)],
    /// The blocks (byte offsets) whose branch sets their register arguments
    /// ([`Tx::set_block_args`]): those take them ([`Block::args`]); another takes none
    /// and loads its slots where it reads them, as before.
    passed: &'a std::cell::RefCell<Vec<u32>>,
    /// The byte offset of the block this fragment starts at.
    start: u32,
    /// The tag words the fragment's code proves in memory ([`Tx::tag_in_memory`]).
    tags: TagMem,
    /// What the closed program proves about its data objects (for [`Kind::Obj`]).
    objs: &'a ObjFacts,
}

/// What a closed program proves about the data objects of its own types (SPEC.md §11.6,
/// "Field kinds"), read where a slot is known to hold one ([`Kind::Obj`]).
pub(crate) struct ObjFacts {
    /// Per type from `FIRST_USER_TYPE`: the fewest fields of its constructors with
    /// fields (an object is always built with its constructor's arity: the verifier
    /// checks every `con` and constant), 0 for an imported type.
    min_fields: Vec<usize>,
    /// The kind of every value ever stored in each field ([`fields::field_kinds`]).
    fields: crate::kinds::FieldKinds,
    /// The field kinds the inference reads back ([`fields::closed_facts`]).
    heap: Heap,
}

impl ObjFacts {
    fn new(m: &Module, fields: crate::kinds::FieldKinds, heap: Heap) -> ObjFacts {
        let min_fields = crate::kinds::min_fields(m);
        ObjFacts {
            min_fields,
            fields,
            heap,
        }
    }

    /// Whether every data object of type `ty` has field `fi`.
    fn has_field(&self, ty: u32, fi: usize) -> bool {
        ty.checked_sub(FIRST_USER_TYPE)
            .and_then(|i| self.min_fields.get(i as usize))
            .is_some_and(|&n| fi < n)
    }

    /// The tag every value in field `fi` of a data object of type `ty` has, if proven:
    /// `Tag::OBJ` only for a field every value of which is an array
    /// ([`crate::kinds::FieldKinds::tag`]).
    fn field_tag(&self, ty: u32, fi: usize) -> Option<u32> {
        self.fields.tag(ty, fi)
    }
}

/// Whether every constructor of index other than 0, over every type a value of the
/// program can have, has fields: the builtin ones (`List`'s `Nil` and `Option`'s
/// `None`, the field-less ones, are constructor 0; tuples have only constructor 0)
/// and the program's own (an imported type, unknown, counts as one that has not).
/// Then a constructed value whose constructor index is not 0 is a data object, never
/// a field-less constructor's immediate: the verifier checks every `con` and every
/// constant against the type table, and the runtime builds no other immediates.
fn nonzero_ctors_have_fields(m: &Module) -> bool {
    m.types.iter().all(|t| match t {
        hashvm_format::module::TypeDef::Defined { ctors, .. } => {
            ctors.iter().skip(1).all(|c| c.arity > 0)
        }
        hashvm_format::module::TypeDef::Import { .. } => false,
    })
}

enum Step {
    Next,
    /// The block is finished (terminator emitted).
    End,
    /// The instruction is not translated: leave to the interpreter there.
    Unsupported,
}

impl Tx<'_> {
    fn dirty(&self) -> Vec<(u16, Ref)> {
        self.map
            .iter()
            .enumerate()
            .filter_map(|(s, e)| match e {
                Some((r, true)) => Some((s as u16, *r)),
                _ => None,
            })
            .collect()
    }

    /// A snapshot resuming in the interpreter at `ip`. With `lazy`, the pending values
    /// of slots live at `ip` are its entries, written by the exit's stub, and stay
    /// pending (a later write-back stores them once): a guard costs no stores on the
    /// path that passes it, which is nearly always taken. Without, they are written
    /// back first, so no value stays live in a register only for an exit that is
    /// rarely taken (the fallback when a fragment's values do not fit the registers).
    /// Home registers are set either way (an exit writes the home registers back).
    /// An operation that reads a slot in memory writes that slot back first
    /// ([`Tx::flush_slots`]).
    fn snap(&mut self, ip: u32) -> u32 {
        if !self.lazy {
            self.flush(&[ip]);
            return match &self.inl {
                Some(c) => self
                    .b
                    .snapshot_in(ip, Vec::new(), std::slice::from_ref(&c.frame)),
                None => self.b.snapshot(ip, Vec::new()),
            };
        }
        let mut entries = Vec::new();
        for (s, r) in self.dirty() {
            if self.home.and_then(|h| h.home(s as usize)).is_some() {
                self.b.emit_raw(IrOp::HSet, r, NONE, s as u64, 0);
                if let Some(e) = &mut self.map[s as usize] {
                    e.1 = false;
                }
            } else if self.live_at(ip, s as usize) {
                entries.push((s, r));
            }
        }
        match &self.inl {
            Some(c) => self
                .b
                .snapshot_in(ip, entries, std::slice::from_ref(&c.frame)),
            None => self.b.snapshot(ip, entries),
        }
    }

    /// Writes the pending values of `slots` back, for an operation that reads them in
    /// memory (`ctor.index`, `field.slot`...), whether or not they are live after it.
    fn flush_slots(&mut self, slots: &[usize]) {
        for (s, r) in self.dirty() {
            if !slots.contains(&(s as usize)) {
                continue;
            }
            if self.home.and_then(|h| h.home(s as usize)).is_some() {
                self.b.emit_raw(IrOp::HSet, r, NONE, s as u64, 0);
            } else {
                self.store(s as usize, r);
            }
            if let Some(e) = &mut self.map[s as usize] {
                e.1 = false;
            }
        }
    }

    /// Writes every pending value back to its slot (or its home register), for one of
    /// the instructions at `ips` to run next (here or in the interpreter): a value of a
    /// slot dead at all of them is left pending (a later write-back writes it if it is
    /// live there; a fragment's end drops it).
    fn flush(&mut self, ips: &[u32]) {
        for (s, r) in self.dirty() {
            if self.home.and_then(|h| h.home(s as usize)).is_some() {
                self.b.emit_raw(IrOp::HSet, r, NONE, s as u64, 0);
            } else if ips.iter().any(|&ip| self.live_at(ip, s as usize)) {
                self.store(s as usize, r);
            } else {
                continue;
            }
            if let Some(e) = &mut self.map[s as usize] {
                e.1 = false;
            }
        }
    }

    /// Writes the value `r` to slot `s`: its payload only when the slot always holds a
    /// tag of its type ([`typed::fixed_tags`]; not inside an inlined callee, whose
    /// slots these are not).
    fn store(&mut self, s: usize, r: Ref) {
        let ty = self.b.ty(r);
        if self.inl.is_none()
            && (self.fixed.get(s) == Some(&Some(ty))
                || (matches!(ty, IrType::I64 | IrType::F64 | IrType::Bool)
                    && self.tag_in_memory(s, self.b.tagword(r))))
        {
            self.b.sstore_payload(s as u32, r);
        } else {
            self.b.sstore(s as u32, r);
        }
    }

    /// Whether slot `s` holds tag word `want` in memory at this point of the
    /// fragment, as the fragment's own code proves it ([`TagMem`]; SPEC.md §11.6,
    /// "Argument tag words already in place"). A slot below the frames of the direct
    /// calls since it was last written, dead at the first or the last of them, gets
    /// the i64 tag word from that call when `want` is it: the call writes it before
    /// its push (bit `s` of its `tw`), and the store asking writes the payload only.
    fn tag_in_memory(&mut self, s: usize, want: u64) -> bool {
        self.tags.catch_up(&self.b, self.returned);
        match self.tags.at(&self.b, self.returned, s) {
            InMem::Tag(tw) => tw == want,
            InMem::Below { first, last } => {
                if want != Tag::I64 as u64 || s >= 64 {
                    return false;
                }
                // The first call, whose clears before its push (`Clears::before_calls`)
                // may write the slot anyway, else the last.
                let Some((call, _)) = [first, last].into_iter().find(|c| !(self.live)(c.1, s))
                else {
                    return false;
                };
                self.b.or_tw(Ref(call), 1 << s);
                true
            }
            InMem::Unknown => false,
        }
    }

    fn exit(&mut self, ip: u32) {
        let s = self.snap(ip);
        self.b.emit_raw(IrOp::Exit, NONE, NONE, 0, s);
    }

    fn jump(&mut self, ip: u32) {
        self.b.emit_raw(IrOp::Jump, NONE, NONE, ip as u64, 0);
    }

    /// The number or bool in slot `s` when it needs no guard: its value pending in a
    /// register (or loaded in this fragment), or a load of its proven kind. `None` for
    /// anything else (a value of unknown kind, an address, a home register's slot).
    fn typed_value(&mut self, s: usize, ip: u32) -> Option<Ref> {
        if self.home.and_then(|h| h.home(s)).is_some() {
            return None;
        }
        if let Some((r, _)) = self.map.get(s).copied().flatten() {
            return (number_or_bool(self.b.ty(r)) && !self.data.contains(&r)).then_some(r);
        }
        let ty = self.kinds.get(s)?.ir()?;
        self.get(s, ty, ip)
    }

    /// The object pending in slot `s`'s register that a `ret` returns from there
    /// ([`IrOp::RetVal`]): an address (`Ptr`: its tag word is `OBJ`: a `new`, a
    /// guarded load of tag word `OBJ` such as a constant global's `gload`, an object
    /// result `call.res`). Not a home slot's value.
    fn returned_object(&self, s: usize) -> Option<Ref> {
        if self.home.and_then(|h| h.home(s)).is_some() {
            return None;
        }
        let (r, _) = self.map.get(s).copied().flatten()?;
        (self.b.ty(r) == IrType::Ptr && self.b.tagword(r) == Tag::OBJ as u64).then_some(r)
    }

    /// The value of slot `s` as a `ty`, loading it (unguarded if its kind is proven);
    /// `None` if it is known to be of another type (the instruction faults).
    fn get(&mut self, s: usize, ty: IrType, ip: u32) -> Option<Ref> {
        if let Some((r, _)) = self.map.get(s).copied().flatten() {
            return (self.b.ty(r) == ty && !self.data.contains(&r)).then_some(r);
        }
        if let Some((hty, _)) = self.home.and_then(|h| h.home(s)) {
            // A data object is no array (the access faults).
            if hty != ty || self.home.is_some_and(|h| h.object(s).is_some()) {
                return None;
            }
            let op = match ty {
                IrType::F64 => IrOp::HGetF,
                IrType::Bool => IrOp::HGetB,
                IrType::Ptr => IrOp::HGetP,
                _ => IrOp::HGetI,
            };
            let r = self.b.emit_raw(op, NONE, NONE, s as u64, 0);
            self.map[s] = Some((r, false));
            return Some(r);
        }
        let known = self.kinds.get(s).and_then(|k| k.ir());
        let r = if known == Some(ty) {
            let op = match ty {
                IrType::F64 => IrOp::SLoadKF,
                IrType::Bool => IrOp::SLoadKB,
                _ => IrOp::SLoadKI,
            };
            self.b.pure(op, NONE, NONE, s as u64)
        } else if known.is_some() {
            return None;
        } else {
            let snap = self.snap(ip);
            let r = self.b.sload(s as u32, ty, snap);
            if ty == IrType::Ptr {
                // Objects are loaded only as arrays (`alen`, `aget`, `aset`).
                self.b
                    .guard_header(IrOp::GKind, r, layout::KIND_ARRAY as u64, snap)
                    .ok()?;
            }
            r
        };
        self.map[s] = Some((r, false));
        Some(r)
    }

    /// A new DATA object (constructor `tag` of type `ty`) whose fields are the values
    /// of the slots `fields`, bumped from the nursery (a full nursery leaves to the
    /// interpreter at `ip`, which collects); each field from its register where the
    /// value is (pending, or in a home register), else whole from its slot. The object
    /// is young: no barrier. Nothing can collect before its address is in its slot
    /// (the next snapshot writes it back). `None`: a field's value cannot be had.
    fn allocate(
        &mut self,
        tag: u16,
        ty: u32,
        fields: &[usize],
        ip: u32,
    ) -> Result<Option<Ref>, BuildError> {
        self.allocate_kind(layout::KIND_DATA, tag, ty, fields, ip)
    }

    /// As [`Self::allocate`], an object of kind `kind` whose meta word is `meta` (a
    /// closure: its function).
    fn allocate_kind(
        &mut self,
        kind: u8,
        tag: u16,
        meta: u32,
        fields: &[usize],
        ip: u32,
    ) -> Result<Option<Ref>, BuildError> {
        let snap = self.snap(ip);
        let n = fields.len() as u64;
        let [w0, w1] = layout::header_words(kind, tag, meta, n);
        let obj = self.b.new_object(w0, w1, snap);
        for (f, &s) in fields.iter().enumerate() {
            let v = match (self.map[s], self.home.and_then(|h| h.home(s))) {
                (Some((r, _)), _) => Some(r),
                (None, Some((t, _))) => match self.get(s, t, ip) {
                    Some(r) => Some(r),
                    None => return Ok(None),
                },
                (None, None) => None,
            };
            match v {
                Some(v) => {
                    let k = self.b.kint(f as i64);
                    self.b.hstore(obj, k, v, snap)?;
                }
                None => {
                    self.b
                        .emit_raw(IrOp::InitSlot, obj, NONE, s as u64 | (f as u64) << 16, 0);
                }
            }
        }
        Ok(Some(obj))
    }

    fn set(&mut self, s: usize, r: Ref) {
        self.map[s] = Some((r, true));
    }

    /// Slot `s` was written in memory directly.
    fn written(&mut self, s: usize) {
        self.map[s] = None;
        self.b.slot_barrier();
    }

    /// A branch to `target` when the guard `op` on `(a, b)` *fails*; else falls
    /// through to `next`.
    fn branch(
        &mut self,
        op: IrOp,
        a: Ref,
        b: Ref,
        target: u32,
        next: u32,
    ) -> Result<(), BuildError> {
        // The fall-through block continues this fragment (its values stay in
        // registers) when this is its only way in: then only the values live at the
        // target are written back here; those live only on the fall-through stay
        // pending, written back where the fragment leaves to a place that reads them
        // (nqueens' `safe` stored `c` before each of its `&&`'s compares).
        let merge = (self.mergeable)(next);
        if merge {
            self.flush(&[target]);
        } else {
            self.flush(&[target, next]);
        }
        let s = self.b.snapshot(target | JUMP_BIT, Vec::new());
        let r = if matches!(op, IrOp::IsTrue | IrOp::IsFalse) {
            self.b.guard_bool(op, a, s)
        } else {
            self.b.guard(op, a, b, s)
        };
        if r.is_ok() {
            self.set_block_args(target, s);
        }
        match r {
            Ok(()) if merge => self.fall = Some(next),
            Ok(()) => self.jump(next),
            Err(BuildError::AlwaysExits(_)) => self.jump(target),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// After the guard of a branch to the block at `target` (its snapshot `snap`): the
    /// `arg.set`s of that block's register arguments ([`Block::args`]), tagged with the
    /// snapshot, when this fragment holds every one of them as an i64 value (the flush
    /// before the guard wrote their slots: the registers are a copy). The guard's
    /// exit then moves them into their registers and enters past the block's loads
    /// (`emit::block`); without them it enters at the loads. They emit no code where
    /// they stand, and they keep the values in their registers up to the guard.
    fn set_block_args(&mut self, target: u32, snap: u32) {
        if self.inl.is_some() || self.home.is_some() || !self.carried.is_empty() {
            return;
        }
        let Ok(k) = self.block_args.binary_search_by_key(&target, |b| b.0) else {
            return;
        };
        let want = &self.block_args[k].1;
        let vals: Vec<Ref> = want
            .iter()
            .filter_map(|&(p, _)| self.map.get(p as usize).copied().flatten())
            .map(|e| e.0)
            .filter(|&v| self.b.ty(v) == IrType::I64)
            .collect();
        // (A block with one way in that is a branch's target follows the branch: it is
        // translated later, and takes its arguments when this branch sets them.)
        if want.is_empty() || vals.len() != want.len() || self.start >= target {
            return;
        }
        for (&v, &(_, r)) in vals.iter().zip(want) {
            self.b.emit_raw(IrOp::ArgSet, v, NONE, r as u64, snap);
        }
        self.passed.borrow_mut().push(target);
    }

    /// The kind of slot `s` as the translation knows it (a pending value's type, else
    /// the inferred kind).
    fn kind(&self, s: usize) -> Kind {
        match self.map.get(s).copied().flatten() {
            Some((r, _)) => match self.b.ty(r) {
                IrType::I64 => Kind::I64,
                IrType::F64 => Kind::F64,
                IrType::Bool => Kind::Bool,
                _ => Kind::Any,
            },
            None => self.kinds.get(s).copied().unwrap_or(Kind::Any),
        }
    }

    /// Inlines the `callk` at `ip` if its callee is a [`Leaf`] that can be inlined with
    /// these arguments: the limit check the call would make (unless the loop's
    /// preheader made it), the arguments from their registers or slots, the callee's
    /// instructions translated into this fragment with its slots renamed to fresh
    /// values, and the result into the destination. `None`: not inlined (nothing
    /// emitted).
    fn inline(
        &mut self,
        ip: u32,
        i: &Insn,
        next: u32,
        shapes: &[(u16, u16)],
    ) -> Result<Option<Step>, BuildError> {
        let (f, a0, dst) = (imm(i, 1) as u32, slot(i, 2), slot(i, 0));
        let Some(Some(leaf)) = self.leaves.get(f as usize) else {
            return Ok(None);
        };
        let args: Vec<Kind> = (0..leaf.arity as usize)
            .map(|k| self.kind(a0 + k))
            .collect();
        let Some(kind) = inline_kind(leaf, &args) else {
            return Ok(None);
        };
        let (saved_b, saved_map) = (self.b.clone(), self.map.clone());
        let saved_tags = self.tags.clone();
        let end = (a0 + leaf.nslots as usize) as u64;
        if self.home.is_none_or(|h| (h.room as u64) < end) {
            let s = self.snap(ip);
            self.b.emit_raw(IrOp::Room, NONE, NONE, end, s);
        }
        let mut vals = Vec::with_capacity(args.len());
        for (k, a) in args.iter().enumerate() {
            match a.ir().and_then(|t| self.get(a0 + k, t, ip)) {
                Some(r) => vals.push(r),
                None => {
                    self.b = saved_b;
                    self.map = saved_map;
                    self.tags = saved_tags;
                    return Ok(None);
                }
            }
        }
        // The callee's slots: its arguments, then the values it computes. Nothing in a
        // leaf writes memory, exits or reads a home register.
        let n = leaf.nslots as usize;
        let caller_map = std::mem::replace(&mut self.map, vec![None; n]);
        let caller_kinds = std::mem::replace(&mut self.kinds, vec![Kind::Any; n]);
        let caller_func = std::mem::replace(&mut self.func, f);
        let caller_home = self.home.take();
        let caller_fall = self.fall.take();
        for (k, &r) in vals.iter().enumerate() {
            self.map[k] = Some((r, false));
            self.kinds[k] = args[k];
        }
        let mut result = None;
        for (cip, ci, clen) in &leaf.insns {
            if ci.op == Op::Ret {
                result = self.map.get(slot(ci, 0)).copied().flatten().map(|e| e.0);
                break;
            }
            if ci.op == Op::RetI {
                result = Some(self.b.kint(imm(ci, 0)));
                break;
            }
            match self.step(*cip, ci, *clen, shapes) {
                Ok(Step::Next) => {}
                _ => break,
            }
        }
        let written: Vec<(usize, Ref)> =
            self.dirty().iter().map(|&(s, r)| (s as usize, r)).collect();
        self.map = caller_map;
        self.kinds = caller_kinds;
        self.func = caller_func;
        self.home = caller_home;
        self.fall = caller_fall;
        let Some(result) = result.filter(|&r| kind.ir() == Some(self.b.ty(r))) else {
            self.b = saved_b;
            self.map = saved_map;
            self.tags = saved_tags;
            return Ok(None);
        };
        // The caller's slots the callee's frame overlaps hold what the callee left in
        // them, as after an interpreted call; then the result.
        for (s, r) in written {
            if a0 + s < self.map.len() && a0 + s != dst {
                self.set(a0 + s, r);
            }
        }
        self.set(dst, result);
        Ok(self.end_inlined(a0, dst, kind, next))
    }

    /// The end of an inlined call (of a leaf, or of a callee with exits): the slots
    /// from the callee's base `a0` up are of no known kind but the result's (`dst`),
    /// and the block after the call continues this fragment when the call is its only
    /// way in.
    fn end_inlined(&mut self, a0: usize, dst: usize, kind: Kind, next: u32) -> Option<Step> {
        for k in self.kinds.iter_mut().skip(a0) {
            *k = Kind::Any;
        }
        if let Some(k) = self.kinds.get_mut(dst) {
            *k = kind;
        }
        self.inlined += 1;
        if (self.mergeable)(next) {
            self.fall = Some(next);
        } else {
            self.flush(&[next]);
            self.jump(next);
        }
        Some(Step::End)
    }

    /// The object of a `field`/`setfield`/`field2` reading field `fi` of slot `o`:
    /// whether its kind and field count are known (a loop-invariant data object in a
    /// home register, checked where the loop was entered), and the register holding
    /// it, if any.
    fn data_object(&mut self, o: usize, fi: usize) -> (bool, Option<Ref>) {
        let checked = self
            .home
            .and_then(|h| h.object(o))
            .is_some_and(|n| (fi as u32) < n);
        if checked && self.map[o].is_none() {
            let r = self.b.emit_raw(IrOp::HGetP, NONE, NONE, o as u64, 0);
            self.map[o] = Some((r, false));
        }
        (checked, self.map[o].map(|(r, _)| r))
    }

    /// The `k` of a `ctor.index` or `list.isnil` of slot `s`: bit 32 set when the slot
    /// holds a constructed value ([`Kind::Ctor`]), so an object there needs no kind
    /// check.
    fn ctor_k(&self, s: usize) -> u64 {
        let k = self.kinds.get(s).copied().unwrap_or(Kind::Any);
        s as u64 | (k.constructed() as u64) << 32 | (k.option() as u64 * CTOR_OPTION)
    }

    /// The address of the object in slot `o`, read as the object of a `field`,
    /// `field2` or `setfield` (not in a register): with no guard when the slot is
    /// known to hold a data object ([`Tx::is_object`]), else guarded to be an object.
    fn object_of(&mut self, o: usize, snap: u32) -> Ref {
        let known = self.is_object(o);
        if self.inl.is_none() && self.carried.iter().any(|c| c.0 as usize == o) {
            // Its address from the carried register, its tag compared in the other
            // (the slot holds the same value), not reloaded from the slot.
            self.b.emit_raw(
                IrOp::HGetC,
                NONE,
                NONE,
                o as u64 | (known as u64) << 32,
                snap,
            )
        } else if known {
            self.b.emit_raw(IrOp::SLoadKP, NONE, NONE, o as u64, 0)
        } else {
            self.b.sload_tw(o as u32, Tag::OBJ as u64, snap)
        }
    }

    /// Whether slot `o` is known to hold an object when it is constructed: a data
    /// object of a known type ([`Kind::Obj`]), or [`Kind::CtorNz`] in a program whose
    /// field-less constructors are all constructor 0 ([`Tx::nz_object`]).
    fn is_object(&self, o: usize) -> bool {
        match self.kinds.get(o) {
            Some(Kind::Obj(_) | Kind::SomeOf(_)) => true,
            Some(Kind::CtorNz) => self.nz_object,
            _ => false,
        }
    }

    /// Whether the data object in slot `o` (constructed, found an object) is known to
    /// have field `fi`: field 0 of [`Kind::CtorNz`], or a field every constructor with
    /// fields of its known type has ([`Kind::Obj`]).
    fn has_field(&self, o: usize, fi: usize) -> bool {
        self.kind_has_field(self.kinds.get(o).copied().unwrap_or(Kind::Any), fi)
    }

    /// Whether a data object of kind `k` has field `fi`: field 0 of a constructor
    /// other than 0 ([`Kind::CtorNz`], [`Kind::SomeOf`]), a field every constructor
    /// with fields of its type has ([`Kind::Obj`]).
    fn kind_has_field(&self, k: Kind, fi: usize) -> bool {
        match k {
            Kind::Obj(t) => self.objs.has_field(t, fi),
            Kind::CtorNz | Kind::SomeOf(_) => fi == 0,
            _ => false,
        }
    }

    /// What the kinds prove about the object slot `o` of a `field.slot` or
    /// `setfield.slot` of field `fi`, as the flags of its `k`, so that the copy path
    /// drops the checks [`Tx::object_of`] and [`Tx::guard_data`] drop on the register
    /// path: [`SLOT_CONSTRUCTED`] (no kind check), [`SLOT_HAS_FIELD`] (no field-count
    /// check, [`Tx::has_field`]) and [`SLOT_OBJECT`] (no tag check, [`Tx::is_object`]).
    fn slot_known(&self, o: usize, fi: usize) -> u64 {
        let kind = self.kinds.get(o).copied().unwrap_or(Kind::Any);
        (kind.constructed() as u64 * SLOT_CONSTRUCTED)
            | (self.has_field(o, fi) as u64 * SLOT_HAS_FIELD)
            | (self.is_object(o) as u64 * SLOT_OBJECT)
    }

    /// Guards `obj`, the object (its tag guarded or known) of slot `o`, to be a data
    /// object with field `fi`. Its kind is not tested when the slot holds a
    /// constructed value ([`Kind::Ctor`]: an earlier `jntag`, `field`... on the slot
    /// found it a field-less constructor or a data object, and it is an object):
    /// headers never change while an object lives. Its field count is, but for field
    /// 0 of a slot whose constructor index is known not to be 0 ([`Kind::CtorNz`]:
    /// such an object has a field) and for a field every constructor with fields of
    /// the slot's known type has ([`Kind::Obj`], [`Tx::has_field`]).
    fn guard_data(&mut self, o: usize, obj: Ref, fi: usize, snap: u32) -> Result<(), BuildError> {
        let kind = self.kinds.get(o).copied().unwrap_or(Kind::Any);
        if !kind.constructed() {
            self.b
                .guard_header(IrOp::GKind, obj, layout::KIND_DATA as u64, snap)?;
        }
        if self.has_field(o, fi) {
            return Ok(());
        }
        self.b.guard_header(IrOp::GLen, obj, fi as u64, snap)
    }

    /// Field `fi` of the data object `obj` (kind and field count guarded) into slot
    /// `s0`: read next as an i64 or f64, loaded into a register with a guard on its
    /// tag (a field of another kind leaves to the interpreter at this instruction,
    /// which copies it and goes on); a field the closed program proves a number or
    /// bool (`known`, [`proven_number`]), into a register with no guard, however it
    /// is read next (a whole copy would move it through memory and leave its tag to
    /// be compared again where it is read); read next as an array, its address, guarded to
    /// be an object of the array kind (the slot map's objects are arrays, but for
    /// `data`); read next as the object of a field, its address, guarded to be an
    /// object (its kind is guarded where it is read), kept in `data`. Otherwise the
    /// field copied whole into its slot (`field.ptr`).
    fn field_into(
        &mut self,
        ip: u32,
        s0: usize,
        obj: Ref,
        fi: usize,
        known: Option<u32>,
        snap: u32,
    ) -> Result<(), BuildError> {
        // A carried parameter is written whole (`field.ptr` updates its register).
        let carried = self.inl.is_none() && self.carried.iter().any(|c| c.0 as usize == s0);
        let typed = self
            .read_hint(ip, s0)
            .or_else(|| proven_number(known))
            .filter(|_| !carried);
        let object = self.object_hint(ip, s0) && !carried;
        if typed.is_none() && !object {
            let k = fi as u64 | (s0 as u64) << 32;
            self.b.emit_raw(IrOp::FieldPtr, obj, NONE, k, 0);
            self.written(s0);
            return Ok(());
        }
        let tw = match typed {
            Some(IrType::F64) => Tag::F64,
            Some(IrType::Bool) => Tag::BOOL,
            Some(IrType::I64) => Tag::I64,
            _ => Tag::OBJ,
        } as u64;
        // A field the closed program proves of the kind read (`known`: the object's
        // type is known, [`Kind::Obj`]) is loaded with no tag compare; an array read
        // as one (`known` is then `Tag::OBJ`, [`ObjFacts::field_tag`]) with no kind
        // test either.
        let proven = known == Some(tw as u32) && typed.is_some();
        let r = if proven {
            self.b.fload_known(obj, fi as u32, tw)?
        } else {
            self.b.fload(obj, fi as u32, tw, snap)?
        };
        if typed == Some(IrType::Ptr) && !proven {
            self.b
                .guard_header(IrOp::GKind, r, layout::KIND_ARRAY as u64, snap)?;
        } else if typed.is_none() {
            self.data.push(r);
        }
        self.set(s0, r);
        Ok(())
    }

    /// A direct call (`i` a `callk` or `callself`; `op` the IR operation of its native
    /// call: `call.aot.v` for a `call` of a known function, which `i` then stands for
    /// as a `callk`): inlined when the callee is a leaf or its path may be inlined with
    /// exits, else a native call with everything in its slot before and reloaded after.
    /// The `arg.set`s of a call (or self tail call) that enters function `f`'s typed
    /// entry with its arguments from slot `a0` (written to their slots already): each
    /// register argument of `f` ([`FuncIr::args`]) from the value of its slot, pending
    /// in a register or, with `load`, loaded (of proven kind i64: the call proves the
    /// seeded kinds). All of them or none (then the call enters through the loads):
    /// whether they were emitted. (A self tail call alone in its block loads nothing:
    /// it stays a back-edge block of a poll and a jump, which the jumps to it bypass,
    /// `emit::back_edge`.)
    fn set_args(&mut self, f: u32, a0: usize, ip: u32, load: bool) -> bool {
        let Some(args) = self.args.get(f as usize).filter(|a| !a.is_empty()) else {
            return false;
        };
        if self.inl.is_some() || self.home.is_some() {
            return false;
        }
        let mut vals = Vec::with_capacity(args.len());
        for &(p, r) in args {
            let s = a0 + p as usize;
            let v = match self.map.get(s).copied().flatten() {
                Some((v, _)) => Some(v),
                None if load && self.kinds.get(s) == Some(&Kind::I64) => {
                    self.get(s, IrType::I64, ip)
                }
                None => None,
            };
            match v.filter(|&v| self.b.ty(v) == IrType::I64 && !self.data.contains(&v)) {
                Some(v) => vals.push((v, r)),
                None => return false,
            }
        }
        for (v, r) in vals {
            self.b.emit_raw(IrOp::ArgSet, v, NONE, r as u64, 0);
        }
        true
    }

    fn direct_call(
        &mut self,
        ip: u32,
        i: &Insn,
        next: u32,
        shapes: &[(u16, u16)],
        op: IrOp,
    ) -> Result<Step, BuildError> {
        if i.op == Op::CallK {
            if let Some(step) = self.inline(ip, i, next, shapes)? {
                return Ok(step);
            }
            if let Some(step) = self.inline_body(ip, i, next, shapes)? {
                return Ok(step);
            }
        }
        let (f, a0) = if i.op == Op::CallK {
            (imm(i, 1) as u32, slot(i, 2))
        } else {
            (self.func, slot(i, 1))
        };
        if shapes.get(f as usize).is_none() {
            return Ok(Step::Unsupported);
        }
        self.flush(&[ip]);
        let s = self.b.snapshot(ip, Vec::new());
        let dst = slot(i, 0);
        let k = f as u64 | (a0 as u64) << 32 | (dst as u64) << 48;
        if self.typed.binary_search(&ip).is_ok() {
            self.set_args(f, a0, ip, true);
        }
        self.b.emit_raw(op, NONE, NONE, k, s);
        self.b.barrier();
        self.map.iter_mut().for_each(|e| *e = None);
        // A number or bool result (the kind the callee returns, which a native return
        // proves) is taken from `rax` as a value of this fragment when the block after
        // the call has no other way in and continues it: no store of the result, no
        // load of it by the next block (it is written back where a pending value is).
        let kind = (self.kind_at)(next, dst);
        let ty = kind.ir();
        // A `tcallself` right after the call is a block of its own (the interpreter may
        // enter at the back-edge) but only one instruction: this fragment translates a
        // copy of it, so that the result goes on to the new arguments from its register.
        // (A function with a `tcallself` counts no loop passes: nothing is skipped.)
        let tail = (self.next_op)(next) == Some(Op::TCallSelf);
        match ty {
            Some(ty)
                if ((self.mergeable)(next) || tail)
                    && self.home.is_none()
                    && self.inl.is_none() =>
            {
                let tw = match ty {
                    IrType::F64 => Tag::F64,
                    IrType::Bool => Tag::BOOL,
                    _ => Tag::I64,
                } as u64;
                let r = self.b.call_result(dst as u16, tw);
                self.set(dst, r);
                self.fall = Some(next);
                self.copy = tail && !(self.mergeable)(next);
            }
            // A data object (the callee's every return is one: [`Kind::Obj`],
            // [`Kind::SomeOf`]; a native return comes from the callee's own `ret`,
            // an exit never comes back) likewise, its address from `rax` (tag word
            // `OBJ`, so `rdx` is not needed), kept among the data objects (never an
            // array). It is a pointer in a register only until the next write-back,
            // call or exit stores it, as a `new`'s is: nothing collects in between.
            // Binarytrees' `bottom_up_tree` puts its second result into its `con`
            // from the register, and its first chains the second call.
            None if matches!(kind, Kind::Obj(_) | Kind::SomeOf(_))
                && (self.mergeable)(next)
                && self.home.is_none()
                && self.inl.is_none() =>
            {
                let r = self.b.call_result(dst as u16, Tag::OBJ as u64);
                self.data.push(r);
                self.set(dst, r);
                self.fall = Some(next);
            }
            // Any other result is stored whole by the call (its slot holds it, as
            // after an interpreted call); the block after it still continues this
            // fragment when the call is its only way in, so that a second direct
            // call there chains with this one (one limit check, the frame record
            // kept).
            None if (self.mergeable)(next) && self.home.is_none() && self.inl.is_none() => {
                self.fall = Some(next);
            }
            _ => self.jump(next),
        }
        Ok(Step::End)
    }

    fn step(
        &mut self,
        ip: u32,
        i: &Insn,
        len: u32,
        shapes: &[(u16, u16)],
    ) -> Result<Step, BuildError> {
        use Op::*;
        if !supported(i, &self.kinds, self.full) {
            return Ok(Step::Unsupported);
        }
        let next = ip + len;
        let (s0, s1, s2) = (slot(i, 0), slot(i, 1), slot(i, 2));
        macro_rules! get {
            ($s:expr, $t:expr) => {
                match self.get($s, $t, ip) {
                    Some(r) => r,
                    None => return Ok(Step::Unsupported),
                }
            };
        }
        let target = targets(ip, i).first().copied().unwrap_or(0);
        match i.op {
            Mov => {
                if let Some((r, _)) = self.map[s1] {
                    self.set(s0, r);
                } else if let Some(t) = self.kinds[s1].ir() {
                    let r = get!(s1, t);
                    self.set(s0, r);
                } else if s0 != s1 {
                    self.b
                        .emit_raw(IrOp::SCopy, NONE, NONE, (s0 | s1 << 16) as u64, 0);
                    self.written(s0);
                }
            }
            LoadI | LoadI64 => {
                let r = self.b.kint(imm(i, 1));
                self.set(s0, r);
            }
            LoadF => {
                let r = self.b.kf64(f64::from_bits(imm(i, 1) as u64));
                self.set(s0, r);
            }
            LoadTrue | LoadFalse => {
                let r = self.b.kbool(i.op == LoadTrue);
                self.set(s0, r);
            }
            LoadUnit => {
                self.b.sunit(s0 as u32);
                self.written(s0);
            }
            JNTag | JNil | JCons => {
                // The value is tested in its slot (pending values are written back
                // before the test's exit); one of proven i64/f64/bool kind faults.
                if self.kinds[s0].ir().is_some() {
                    return Ok(Step::Unsupported);
                }
                self.flush_slots(&[s0]);
                let snap = self.snap(ip);
                if i.op == JNTag {
                    let idx = self
                        .b
                        .emit_raw(IrOp::CtorIdx, NONE, NONE, self.ctor_k(s0), snap);
                    let k = self.b.kint(slot(i, 1) as i64);
                    self.branch(IrOp::EqI, idx, k, target, next)?;
                } else {
                    let nil = self
                        .b
                        .emit_raw(IrOp::IsNil, NONE, NONE, self.ctor_k(s0), snap);
                    let op = if i.op == JNil {
                        IrOp::IsFalse
                    } else {
                        IrOp::IsTrue
                    };
                    self.branch(op, nil, NONE, target, next)?;
                }
                return Ok(Step::End);
            }
            Head | Tail => {
                if self.kinds[s1].ir().is_some() {
                    return Ok(Step::Unsupported);
                }
                self.flush_slots(&[s1]);
                let snap = self.snap(ip);
                let k = s1 as u64 | ((i.op == Tail) as u64) << 16 | (s0 as u64) << 32;
                self.b.emit_raw(IrOp::HeadSlot, NONE, NONE, k, snap);
                self.written(s0);
            }
            LoadNil | LoadChar | LoadFn | LoadU64 => {
                // Constants of the other immediate kinds, as the recorder makes them.
                let v = match i.op {
                    LoadChar => match char::from_u32(imm(i, 1) as u32) {
                        Some(c) => hashvm_vm::Value::char(c),
                        None => return Ok(Step::Unsupported),
                    },
                    LoadFn => hashvm_vm::Value::func(imm(i, 1) as u32),
                    LoadU64 => hashvm_vm::Value::u64(imm(i, 1) as u64),
                    _ => hashvm_vm::Value::NIL,
                };
                let r = self.b.kval(v)?;
                self.set(s0, r);
            }
            Con | Tuple => {
                let (ty, tag, a0, n) = if i.op == Con {
                    let Some(Operand::Type(ty)) = i.args.get(1) else {
                        return Ok(Step::Unsupported);
                    };
                    (*ty, slot(i, 2) as u16, slot(i, 3), slot(i, 4))
                } else {
                    (builtin::TUPLE, 0, s1, s2)
                };
                if n == 0 && ty != builtin::TUPLE {
                    // A field-less constructor is an immediate.
                    let r = self.b.kval(hashvm_vm::Value::ctor0(ty, tag))?;
                    self.set(s0, r);
                } else {
                    if n > MAX_INLINE_FIELDS {
                        return Ok(Step::Unsupported);
                    }
                    let fields: Vec<usize> = (a0..a0 + n).collect();
                    let Some(obj) = self.allocate(tag, ty, &fields, ip)? else {
                        return Ok(Step::Unsupported);
                    };
                    self.set(s0, obj);
                }
            }
            Closure => {
                // A closure object: function `f` in its meta word, the captures as
                // fields (the verifier checked their count against `f`'s).
                let (f, a0, n) = (imm(i, 1) as u32, slot(i, 2), slot(i, 3));
                if n > MAX_INLINE_FIELDS {
                    return Ok(Step::Unsupported);
                }
                let fields: Vec<usize> = (a0..a0 + n).collect();
                let Some(obj) = self.allocate_kind(layout::KIND_CLOSURE, 0, f, &fields, ip)? else {
                    return Ok(Step::Unsupported);
                };
                self.set(s0, obj);
            }
            Cons => {
                // The tail must be a list (the interpreter faults otherwise): tested in
                // its slot, the answer unused.
                if self.kinds[s2].ir().is_some() {
                    return Ok(Step::Unsupported);
                }
                self.flush_slots(&[s2]);
                let snap = self.snap(ip);
                self.b.emit_raw(IrOp::IsNil, NONE, NONE, s2 as u64, snap);
                let Some(obj) = self.allocate(1, builtin::LIST, &[s1, s2], ip)? else {
                    return Ok(Step::Unsupported);
                };
                self.set(s0, obj);
            }
            LoadG => {
                let g = imm(i, 1) as u64;
                if g > 0x7fff_ffff / 16 {
                    return Ok(Step::Unsupported);
                }
                match self.read_hint(ip, s0) {
                    // Read next as an i64, f64 or bool (the interpreter faults on any
                    // other value there): its payload into a register, its tag
                    // guarded (`gload`, as the tracing JIT loads it), another tag
                    // (or an uninitialised global) leaving to the interpreter at this
                    // instruction. fasta's `random` reads three constants so.
                    // A global initialised to its one constant before this function
                    // can run ([`initialised_early`]): the constant, with no guard
                    // (the guard could never fail). fasta's `IM`, `IA`, `IC`.
                    Some(ty)
                        if self.early.get(g as usize) == Some(&true)
                            && matches!(self.numbers.get(g as usize), Some(Some((t, _))) if *t == ty)
                            && matches!(ty, IrType::I64 | IrType::F64 | IrType::Bool) =>
                    {
                        let k = self.numbers[g as usize].map_or(0, |(_, k)| k);
                        let r = match ty {
                            IrType::I64 => self.b.kint(k as i64),
                            IrType::F64 => self.b.kf64(f64::from_bits(k)),
                            _ => self.b.kbool(k != 0),
                        };
                        self.set(s0, r);
                    }
                    Some(ty @ (IrType::I64 | IrType::F64 | IrType::Bool)) => {
                        let snap = self.snap(ip);
                        let r = self.b.gload(g as u32, ty, snap);
                        // A global that holds one constant whenever it is initialised
                        // ([`constant_numbers`]) is that constant past the tag guard
                        // (an uninitialised one fails it).
                        let r = match self.numbers.get(g as usize).copied().flatten() {
                            Some((t, k)) if t == ty => match t {
                                IrType::I64 => self.b.kint(k as i64),
                                IrType::F64 => self.b.kf64(f64::from_bits(k)),
                                _ => self.b.kbool(k != 0),
                            },
                            _ => r,
                        };
                        self.set(s0, r);
                    }
                    // Returned next (`loadg.ret`), a global that always holds the object
                    // the loader built for it ([`constant_numbers`]): its address into a
                    // register, the tag guarded (`gload`), and returned from there with
                    // its tag word, no slot written (binarytrees' `bottom_up_tree` at
                    // depth 0 returns its constant leaf so).
                    _ if self.inl.is_none()
                        && self.home.is_none()
                        && (self.next_ret)(ip, s0)
                        && matches!(self.numbers.get(g as usize), Some(Some((IrType::Ptr, _)))) =>
                    {
                        let snap = self.snap(ip);
                        let r = self.b.gload_tw(g as u32, Tag::OBJ as u64, snap);
                        // A data object: never handed out as an array.
                        self.data.push(r);
                        self.set(s0, r);
                    }
                    _ => {
                        self.b
                            .emit_raw(IrOp::GCopy, NONE, NONE, s0 as u64 | g << 16, 0);
                        self.written(s0);
                    }
                }
            }
            ALen => {
                let a = get!(s1, IrType::Ptr);
                let r = self.b.alen(a)?;
                self.set(s0, r);
            }
            AGet if self.objs.heap.elems(self.kinds[s1]).is_some() => {
                // An array flat of an elements kind the program keeps, or empty
                // ([`Heap::elems`]): the element's payload read with that kind as its
                // tag, after the index's check (`aget.flat`, which an empty array
                // fails, as the interpreter's access faults), with no test of the kind.
                let e = self.objs.heap.elems(self.kinds[s1]).unwrap_or(Tag::I64);
                let (a, x) = (get!(s1, IrType::Ptr), get!(s2, IrType::I64));
                let snap = self.snap(ip);
                let r = self.b.aget_flat(a, x, e as u64, snap)?;
                self.set(s0, r);
            }
            AGet => {
                let (a, x) = (get!(s1, IrType::Ptr), get!(s2, IrType::I64));
                let snap = self.snap(ip);
                // The index guarded on its own (`aget.slot` and `aget.any` check only
                // the kind), so that the block's later accesses of the array at that
                // index share the guard: `a[i] = a[j]; a[j] = t` checks each index once.
                // Before the kind's test, as the interpreter's fault: a converted
                // array keeps its length.
                self.b.guard_index(a, x, snap)?;
                let tw = match self.read_hint(ip, s0) {
                    Some(IrType::I64) => Some(Tag::I64),
                    Some(IrType::F64) => Some(Tag::F64),
                    Some(IrType::Bool) => Some(Tag::BOOL),
                    _ => None,
                };
                match tw {
                    // Read next as an i64, f64 or bool (which the interpreter would
                    // fault on otherwise): into a register (`aget.any`), an element of
                    // another tag or kind leaving to the interpreter at this
                    // instruction.
                    Some(tw) => {
                        let r = self.b.aget_any(a, x, tw as u64, snap)?;
                        self.set(s0, r);
                    }
                    None => {
                        self.b.emit_raw(IrOp::AGetSlot, a, x, s0 as u64, snap);
                        self.written(s0);
                    }
                }
            }
            Field | SetField => {
                // The object must be a data value in memory: never a pending value
                // (the snapshot writes pending values back), never an i64/f64/bool.
                let o = if i.op == Field { s1 } else { s0 };
                let fi = slot(i, if i.op == Field { 2 } else { 1 });
                if self.kinds[o].ir().is_some() || fi > 0x7fff_ffff / 16 {
                    return Ok(Step::Unsupported);
                }
                let known = self.kinds[o].obj().and_then(|t| self.objs.field_tag(t, fi));
                let typed = self.read_hint(ip, s0).or_else(|| proven_number(known));
                let object = self.object_hint(ip, s0);
                let (checked, held) = self.data_object(o, fi);
                // A carried parameter, as the object or the destination, goes through
                // its registers: its slot may be stale, and is written back only at the
                // ways out ([`carried_slots`]).
                let carried = self.inl.is_none()
                    && self
                        .carried
                        .iter()
                        .any(|c| c.0 as usize == o || c.0 as usize == s0);
                if i.op == Field
                    && (typed.is_some() || object || held.is_some() || carried)
                    && held.is_none_or(|r| self.b.ty(r) == IrType::Ptr)
                {
                    // The object in a register (its address is not kept in the slot
                    // map), the field read as `field_into` says.
                    let snap = self.snap(ip);
                    let obj = match held {
                        Some(r) => r,
                        None => self.object_of(o, snap),
                    };
                    if !checked {
                        self.guard_data(o, obj, fi, snap)?;
                    }
                    self.field_into(ip, s0, obj, fi, known, snap)?;
                } else if i.op == Field {
                    self.flush_slots(&[o]);
                    let snap = self.snap(ip);
                    let k = o as u64 | (fi as u64) << 16 | (s0 as u64) << 32;
                    let k = k | self.slot_known(o, fi);
                    self.b.emit_raw(IrOp::FieldSlot, NONE, NONE, k, snap);
                    self.written(s0);
                } else {
                    // A value of proven kind from its register, stored in place
                    // through `hstore` (no barrier): into the object from its home
                    // register (checked where the loop was entered), from a register,
                    // or loaded from its slot, guarded to be a data object with that
                    // field (the block's earlier loads and guards of it are shared).
                    // Any other value (a pointer, a value of unknown kind) whole from
                    // its slot, through the write barrier.
                    let v = match (self.map[s2], self.kinds[s2].ir()) {
                        (Some((r, _)), _) => Some(r),
                        (None, Some(t)) => Some(get!(s2, t)),
                        (None, None) => None,
                    }
                    .filter(|&r| self.b.ty(r) != IrType::Ptr);
                    match (v, held) {
                        (Some(v), held) => {
                            let snap = self.snap(ip);
                            let obj = match held {
                                Some(r) if self.b.ty(r) == IrType::Ptr => r,
                                // A number: the interpreter faults.
                                Some(_) => return Ok(Step::Unsupported),
                                None => self.object_of(o, snap),
                            };
                            if !checked {
                                self.guard_data(o, obj, fi, snap)?;
                            }
                            let k = self.b.kint(fi as i64);
                            self.b.hstore(obj, k, v, snap)?;
                        }
                        (None, _) => {
                            // `setfield.slot` reads the object and the value in their
                            // slots.
                            self.flush_slots(&[o, s2]);
                            let snap = self.snap(ip);
                            let k = o as u64 | (fi as u64) << 16 | (s2 as u64) << 32;
                            let k = k | self.slot_known(o, fi);
                            self.b.emit_raw(IrOp::SetFieldSlot, NONE, NONE, k, snap);
                        }
                    }
                }
            }
            Field2 => {
                // d := s.i.j as `field`'s register path, twice: the intermediate object
                // is an IR value in no slot, and one snapshot serves every guard (an
                // exit resumes the interpreter at this instruction, which faults before
                // writing `d` or runs it whole).
                let (fi, fj) = (slot(i, 2), slot(i, 3));
                if self.kinds[s1].ir().is_some() || fi.max(fj) > 0x7fff_ffff / 16 {
                    return Ok(Step::Unsupported);
                }
                let (checked, held) = self.data_object(s1, fi);
                let snap = self.snap(ip);
                let obj = match held {
                    Some(r) if self.b.ty(r) == IrType::Ptr => r,
                    // A number: the interpreter faults.
                    Some(_) => return Ok(Step::Unsupported),
                    None => self.object_of(s1, snap),
                };
                if !checked {
                    self.guard_data(s1, obj, fi, snap)?;
                }
                // What the field table proves of the intermediate object: an object
                // of a known type, or the `Some`'s object of a known type, is loaded
                // with no tag compare (`fload.known`); any constructed value found an
                // object is a data object (no kind guard); its field count as
                // [`Tx::kind_has_field`] says.
                let mk = self.objs.heap.field(self.kinds[s1], fi);
                let mid = if matches!(mk, Kind::Obj(_) | Kind::SomeOf(_)) {
                    self.b.fload_known(obj, fi as u32, Tag::OBJ as u64)?
                } else {
                    self.b.fload(obj, fi as u32, Tag::OBJ as u64, snap)?
                };
                if !mk.constructed() {
                    self.b
                        .guard_header(IrOp::GKind, mid, layout::KIND_DATA as u64, snap)?;
                }
                if !self.kind_has_field(mk, fj) {
                    self.b.guard_header(IrOp::GLen, mid, fj as u64, snap)?;
                }
                let known = mk.obj().and_then(|t| self.objs.field_tag(t, fj));
                self.field_into(ip, s0, mid, fj, known, snap)?;
            }
            ASet => {
                let (a, x) = (get!(s0, IrType::Ptr), get!(s1, IrType::I64));
                // A value in a register through `hstore` (with the write barrier for
                // a pointer); a value of unknown kind whole from its slot, likewise.
                let v = match (self.map[s2], self.kinds[s2].ir()) {
                    (Some((r, _)), _) => Some(r),
                    (None, Some(t)) => Some(get!(s2, t)),
                    (None, None) => None,
                };
                let snap = self.snap(ip);
                self.b.guard_index(a, x, snap)?;
                // A value of the elements kind the program keeps for the array
                // ([`Heap::elems`]; the index checked, so the array is not empty): its
                // payload stored with no test of the kind.
                let flat = self.objs.heap.elems(self.kinds[s0]).map(kind_of_tag);
                match v {
                    Some(v) if flat.and_then(|k| k.ir()) == Some(self.b.ty(v)) => {
                        self.b.hstore_flat(a, x, v, snap)?
                    }
                    Some(v) => self.b.hstore_elem(a, x, v, snap)?,
                    None => {
                        let r = self.b.emit_raw(IrOp::ASetSlot, a, x, s2 as u64, snap);
                        // The value slot dead after the store: a flat version may
                        // keep the copied element in a register and never write it
                        // (`emit::Deferred`).
                        if !self.live_at(next, s2) {
                            self.b.or_tw(r, crate::ir::ASET_SLOT_DEAD);
                        }
                    }
                }
            }
            AddI64 | SubI64 | MulI64 | AndI64 | OrI64 | XorI64 | ShlI64 | ShrI64 | DivI64
            | RemI64 => {
                let (a, b) = (get!(s1, IrType::I64), get!(s2, IrType::I64));
                let op = match (i.op, arith_of(i.op)) {
                    (_, Some((op, _))) => op,
                    (DivI64, None) => IrOp::DivI,
                    _ => IrOp::RemI,
                };
                let r = if matches!(op, IrOp::DivI | IrOp::RemI) {
                    // A constant divisor other than 0 and -1 needs no exit.
                    let safe = self
                        .b
                        .constant(b)
                        .is_some_and(|k| k as i64 != 0 && k as i64 != -1);
                    let snap = if safe { 0 } else { self.snap(ip) };
                    match self.b.divrem(op, a, b, snap) {
                        Ok(r) => r,
                        Err(BuildError::AlwaysExits(_)) => return Ok(Step::Unsupported),
                        Err(e) => return Err(e),
                    }
                } else if matches!(op, IrOp::ShlI | IrOp::ShrI) {
                    self.b.pure(op, a, b, 0)
                } else {
                    self.b.arith(op, a, b)?
                };
                self.set(s0, r);
            }
            AddIImm | SubIImm | MulIImm => {
                let a = get!(s1, IrType::I64);
                let k = self.b.kint(imm(i, 2));
                let op = match i.op {
                    AddIImm => IrOp::AddI,
                    SubIImm => IrOp::SubI,
                    _ => IrOp::MulI,
                };
                let r = self.b.arith(op, a, k)?;
                self.set(s0, r);
            }
            NegI64 | BNotI64 => {
                let a = get!(s1, IrType::I64);
                let r = if i.op == NegI64 {
                    let z = self.b.kint(0);
                    self.b.arith(IrOp::SubI, z, a)?
                } else {
                    let m = self.b.kint(-1);
                    self.b.arith(IrOp::XorI, a, m)?
                };
                self.set(s0, r);
            }
            JEq | JNe => {
                let (a, b) = (get!(s0, IrType::I64), get!(s1, IrType::I64));
                let op = if i.op == JEq { IrOp::NeI } else { IrOp::EqI };
                self.branch(op, a, b, target, next)?;
                return Ok(Step::End);
            }
            Eq | Ne => {
                let (a, b) = (get!(s1, IrType::I64), get!(s2, IrType::I64));
                let op = if i.op == Eq {
                    IrOp::CmpEqI
                } else {
                    IrOp::CmpNeI
                };
                let r = self.b.compare(op, a, b)?;
                self.set(s0, r);
            }
            EqI64 | NeI64 | LtI64 | LeI64 => {
                let (a, b) = (get!(s1, IrType::I64), get!(s2, IrType::I64));
                let op = match i.op {
                    EqI64 => IrOp::CmpEqI,
                    NeI64 => IrOp::CmpNeI,
                    LtI64 => IrOp::CmpLtI,
                    _ => IrOp::CmpLeI,
                };
                let r = self.b.compare(op, a, b)?;
                self.set(s0, r);
            }
            JLtI64 | JLeI64 | JGtI64 | JGeI64 | JEqI64 | JNeI64 | JLtIImm | JLeIImm | JGtIImm
            | JGeIImm | JEqIImm | JNeIImm => {
                let a = get!(s0, IrType::I64);
                let imm_form = matches!(
                    i.op,
                    JLtIImm | JLeIImm | JGtIImm | JGeIImm | JEqIImm | JNeIImm
                );
                let b = if imm_form {
                    self.b.kint(imm(i, 1))
                } else {
                    get!(s1, IrType::I64)
                };
                // The guard holds when the jump is not taken.
                let Some((_, op, _)) = branch_of(i.op) else {
                    return Ok(Step::Unsupported);
                };
                self.branch(op, a, b, target, next)?;
                return Ok(Step::End);
            }
            AddF64 | SubF64 | MulF64 | DivF64 => {
                let (a, b) = (get!(s1, IrType::F64), get!(s2, IrType::F64));
                let Some((op, _)) = arith_of(i.op) else {
                    return Ok(Step::Unsupported);
                };
                let r = self.b.arith(op, a, b)?;
                self.set(s0, r);
            }
            AddKF64 | SubKF64 | MulKF64 | DivKF64 | RSubKF64 | RDivKF64 => {
                let a = get!(s1, IrType::F64);
                let k = self.b.kf64(f64::from_bits(imm(i, 2) as u64));
                let r = match i.op {
                    AddKF64 => self.b.arith(IrOp::AddF, a, k)?,
                    SubKF64 => self.b.arith(IrOp::SubF, a, k)?,
                    MulKF64 => self.b.arith(IrOp::MulF, a, k)?,
                    DivKF64 => self.b.arith(IrOp::DivF, a, k)?,
                    RSubKF64 => self.b.arith(IrOp::SubF, k, a)?,
                    _ => self.b.arith(IrOp::DivF, k, a)?,
                };
                self.set(s0, r);
            }
            NegF64 | Sqrt => {
                let a = get!(s1, IrType::F64);
                let op = if i.op == NegF64 {
                    IrOp::NegF
                } else {
                    IrOp::SqrtF
                };
                let r = self.b.pure(op, a, NONE, 0);
                self.set(s0, r);
            }
            EqF64 | NeF64 | LtF64 | LeF64 => {
                let (a, b) = (get!(s1, IrType::F64), get!(s2, IrType::F64));
                let op = match i.op {
                    EqF64 => IrOp::CmpEqF,
                    NeF64 => IrOp::CmpNeF,
                    LtF64 => IrOp::CmpLtF,
                    _ => IrOp::CmpLeF,
                };
                let r = self.b.pure(op, a, b, 0);
                self.set(s0, r);
            }
            JLtF64 | JLeF64 | JNLtF64 | JNLeF64 => {
                let (a, b) = (get!(s0, IrType::F64), get!(s1, IrType::F64));
                let Some((_, op, _)) = branch_of(i.op) else {
                    return Ok(Step::Unsupported);
                };
                self.branch(op, a, b, target, next)?;
                return Ok(Step::End);
            }
            Jt | Jf => {
                let a = get!(s0, IrType::Bool);
                let op = if i.op == Jt {
                    IrOp::IsFalse
                } else {
                    IrOp::IsTrue
                };
                self.branch(op, a, NONE, target, next)?;
                return Ok(Step::End);
            }
            Not => {
                let a = get!(s1, IrType::Bool);
                let r = self.b.unary(IrOp::NotB, a)?;
                self.set(s0, r);
            }
            I64ToF64 => {
                let a = get!(s1, IrType::I64);
                let r = self.b.unary(IrOp::ItoF, a)?;
                self.set(s0, r);
            }
            Jmp => {
                self.flush(&[ip]);
                self.jump(target);
                return Ok(Step::End);
            }
            Panic | MatchFail => {
                // The interpreter raises the error.
                self.exit(ip);
                return Ok(Step::End);
            }
            Loop => {
                self.flush(&[ip]);
                let s = self.b.snapshot(ip, Vec::new());
                self.b.emit_raw(IrOp::Poll, NONE, NONE, 0, s);
                self.jump(target);
                return Ok(Step::End);
            }
            Ret | RetU | RetI => {
                let k = match i.op {
                    Ret => {
                        // A number or bool computed here, loaded here already (fib's
                        // `n`, compared before its base case) or of a proven kind
                        // (tak's `z`) is returned from its register, its slot (dead
                        // past the `ret`) not written.
                        if let Some(r) = self.typed_value(s0, ip) {
                            let s = self.b.snapshot(ip, Vec::new());
                            self.b.emit_raw(IrOp::RetVal, r, NONE, s0 as u64, s);
                            return Ok(Step::End);
                        }
                        // So is an object whose address is in a register, its tag word
                        // known: a `con`'s result (`con.ret`, binarytrees'
                        // `bottom_up_tree`) or a constant global's (`loadg.ret`). No
                        // collection can run between the allocation or load and the
                        // return, and the caller stores it or the trampoline writes it
                        // into the slot of the `ret` it leaves at.
                        if let Some(r) = self.returned_object(s0) {
                            let s = self.b.snapshot(ip, Vec::new());
                            self.b.emit_raw(IrOp::RetVal, r, NONE, s0 as u64, s);
                            return Ok(Step::End);
                        }
                        // (pmap's `create`, `con.ret`: the new node, returned so with
                        // the store and the reload saved; branches mpmap and mbt both
                        // built this, merged into `returned_object`.)
                        if let Some((r, true)) = self.map[s0] {
                            self.b.sstore(s0 as u32, r);
                        }
                        s0 as u64
                    }
                    // The constant returned from its register, no slot written
                    // (nothing reads slot 0 after the return; an exit here runs the
                    // `reti` again): binarytrees' `item_check` of a leaf. Bit 32 says
                    // it is a `reti`, which names no slot for the returns table.
                    RetI => {
                        let r = self.b.kint(imm(i, 0));
                        let s = self.b.snapshot(ip, Vec::new());
                        self.b.emit_raw(IrOp::RetVal, r, NONE, RET_VAL_RETI, s);
                        return Ok(Step::End);
                    }
                    _ => 1 << 32,
                };
                let s = self.b.snapshot(ip, Vec::new());
                self.b.emit_raw(IrOp::RetSlot, NONE, NONE, k, s);
                return Ok(Step::End);
            }
            CallK | CallSelf => {
                let op = if i.op == CallK {
                    IrOp::CallAotK
                } else {
                    IrOp::CallAotSelf
                };
                return self.direct_call(ip, i, next, shapes, op);
            }
            Call => {
                // A function value known here is called as `callk` would call it
                // (inlined when it is a leaf), when it takes this many arguments and
                // is compiled whole.
                let n = slot(i, 3);
                if let Some(f) = (self.known)(ip).filter(|&f| {
                    shapes.get(f as usize).is_some_and(|s| s.0 as usize == n) && (self.full)(f)
                }) {
                    let ck = Insn {
                        op: CallK,
                        args: [
                            Operand::Slot(s0 as u16),
                            Operand::Func(f),
                            Operand::Slot(slot(i, 2) as u16),
                            Operand::U16(n as u16),
                        ]
                        .into_iter()
                        .collect(),
                    };
                    return self.direct_call(ip, &ck, next, shapes, IrOp::CallAotKv);
                }
                // `call d, f, base, n`: the callee is found at run time from the
                // function value (`call.aot.ind`); everything is in its slot first, as
                // for a direct call, and reloaded after it.
                let (a0, n) = (slot(i, 2), slot(i, 3));
                self.flush(&[ip]);
                let s = self.b.snapshot(ip, Vec::new());
                let k = s1 as u64 | (a0 as u64) << 16 | (n as u64) << 32 | (s0 as u64) << 48;
                self.b.emit_raw(IrOp::CallAotInd, NONE, NONE, k, s);
                self.b.barrier();
                self.map.iter_mut().for_each(|e| *e = None);
                self.jump(next);
                return Ok(Step::End);
            }
            TCall => {
                // `tcall f, base, n`: as `call`, the frame reused (`tcall.aot.ind`).
                self.flush(&[ip]);
                let s = self.b.snapshot(ip, Vec::new());
                let k = s0 as u64 | (s1 as u64) << 16 | (s2 as u64) << 32;
                self.b.emit_raw(IrOp::TCallAotInd, NONE, NONE, k, s);
                return Ok(Step::End);
            }
            GetEnv => {
                // Copied whole from the closure in the frame's record (the verifier
                // checked the index against the function's captures, and only its
                // closures run it).
                let k = s1 as u64 | (s0 as u64) << 32;
                self.b.emit_raw(IrOp::EnvSlot, NONE, NONE, k, 0);
                self.written(s0);
            }
            TCallK => {
                let (f, a0, n) = (imm(i, 0) as u32, slot(i, 1), slot(i, 2));
                self.flush(&[ip]);
                let s = self.b.snapshot(ip, Vec::new());
                let k = f as u64 | (a0 as u64) << 32 | (n as u64) << 48;
                self.b.emit_raw(IrOp::TCallAot, NONE, NONE, k, s);
                return Ok(Step::End);
            }
            ANew => {
                // Allocated inline (`new.array.slot`), laid out by the fill value's
                // tag at run time; a length out of the inline range, or a full
                // nursery, leaves to the interpreter at the instruction.
                let n = get!(s1, IrType::I64);
                self.flush_slots(&[s2]);
                let snap = self.snap(ip);
                let r = self.b.new_array_slot(n, s2 as u32, snap)?;
                self.set(s0, r);
            }
            op if helper(op) => {
                // Run by the VM (`call.insn`, the interpreter's own handler): every
                // live value in its slot first; after it, every value is reloaded from
                // its slot (a collection may have moved objects). A helper that does
                // not answer OK leaves to the interpreter at the instruction, which
                // runs it or raises the fault it ended in.
                self.flush(&[ip]);
                let s = self.b.snapshot(ip, Vec::new());
                let h = crate::ir::HelperCall {
                    func: self.func,
                    ip,
                    base: 0,
                    live: self.map.len() as u32,
                };
                self.b.call_insn(h, s);
                self.map.iter_mut().for_each(|e| *e = None);
            }
            TCallSelf => {
                let (a0, n) = (s0, s1);
                // Arguments moved down from registers: each one's value pending in a
                // register or of a proven number or bool kind is read (unguarded) and
                // stored once into its new slot, not written to its own slot first and
                // copied whole through memory; the pending values stay the poll's exit's.
                let regs: Option<Vec<Ref>> = (a0 != 0)
                    .then(|| (a0..a0 + n).map(|x| self.typed_value(x, ip)).collect())
                    .flatten();
                // Where the new arguments' values are in the slot map (for their
                // `arg.set`s): at `a0` (each read into the map above, or pending) when
                // moved through registers, in place when `a0` is 0; an `smove` of
                // slots not in registers sets none.
                let from = (regs.is_some() || a0 == 0).then_some(a0);
                if let Some(vals) = regs {
                    let s = self.snap(ip);
                    self.b.emit_raw(IrOp::Poll, NONE, NONE, 0, s);
                    for (p, v) in vals.into_iter().enumerate() {
                        self.store(p, v);
                    }
                } else {
                    self.flush(&[ip]);
                    let s = self.b.snapshot(ip, Vec::new());
                    self.b.emit_raw(IrOp::Poll, NONE, NONE, 0, s);
                    if a0 != 0 && n != 0 {
                        self.b
                            .emit_raw(IrOp::SMove, NONE, NONE, (a0 | n << 16) as u64, 0);
                    }
                }
                // The typed entry when the arguments have the kinds it takes, past the
                // loads of the register arguments when they are set here.
                let k = if self.typed.binary_search(&ip).is_ok() {
                    if from.is_some_and(|a0| self.set_args(self.func, a0, ip, false)) {
                        ARGS_SET
                    } else {
                        0
                    }
                } else {
                    CHECKED_ENTRY
                };
                self.b.emit_raw(IrOp::Jump, NONE, NONE, k, 0);
                return Ok(Step::End);
            }
            _ => return Ok(Step::Unsupported),
        }
        transfer(&mut self.kinds, i, &[], self.func, &self.objs.heap);
        Ok(Step::Next)
    }
}

/// The instruction after byte offset `ip` of `fun` that next mentions slot `s`, in the
/// same basic block, if it reads it first.
fn next_use(fun: &Fun, ip: u32, s: usize) -> Option<&Insn> {
    let n = *fun.at.get(ip as usize)?;
    for (jip, j, _) in fun.insns.iter().skip(n + 1) {
        if fun.leaders.binary_search(jip).is_ok() {
            return None;
        }
        let mut src = false;
        let mut other = false;
        for (kind, a) in j.op.operands().iter().zip(j.args.iter()) {
            match (kind, a) {
                (OperandKind::Src, Operand::Slot(x)) if *x as usize == s => src = true,
                (OperandKind::Base, Operand::Slot(x)) if *x as usize <= s => other = true,
                (_, Operand::Slot(x)) if *x as usize == s => other = true,
                _ => {}
            }
        }
        if src {
            return Some(j);
        }
        if other {
            return None;
        }
    }
    None
}

/// The IR type of a field's value that the closed program proves (`known`, a tag of
/// [`ObjFacts::field_tag`]) an i64, f64 or bool: the read loads it with no tag compare
/// into a register of that type, and the slot's kind in the inference is the same
/// ([`Heap::field`] reads the same facts back).
fn proven_number(known: Option<u32>) -> Option<IrType> {
    match known? {
        Tag::I64 => Some(IrType::I64),
        Tag::F64 => Some(IrType::F64),
        Tag::BOOL => Some(IrType::Bool),
        _ => None,
    }
}

/// The type the instruction of `fun` (function `func`) that next reads slot `s` after
/// byte offset `ip`, in the same basic block, reads it as (i64, f64, bool, or a pointer
/// for an array operand).
fn next_read(fun: &Fun, func: u32, ip: u32, s: usize) -> Option<IrType> {
    let j = next_use(fun, ip, s)?;
    // Read as an array (the object operand of `aget`, `aset`, `alen`).
    let array = match j.op {
        Op::AGet | Op::ALen => slot(j, 1) == s,
        Op::ASet => slot(j, 0) == s,
        _ => false,
    };
    if array {
        return Some(IrType::Ptr);
    }
    let mut st = vec![Kind::Any; s + 1];
    transfer(&mut st, j, &[], func, &Heap::NONE);
    match st[s] {
        Kind::F64 => Some(IrType::F64),
        Kind::I64 => Some(IrType::I64),
        Kind::Bool => Some(IrType::Bool),
        _ => None,
    }
}

/// Whether the instruction of `fun` that next reads slot `s` after byte offset `ip`,
/// in the same basic block, reads it as the object of a `field` or `setfield`.
fn next_object(fun: &Fun, ip: u32, s: usize) -> bool {
    next_use(fun, ip, s).is_some_and(|j| match j.op {
        Op::Field | Op::Field2 => slot(j, 1) == s,
        Op::SetField => slot(j, 0) == s,
        _ => false,
    })
}

/// Whether the instruction of `fun` that next reads slot `s` after byte offset `ip`,
/// in the same basic block, is `ret s` (the second half of a `loadg.ret` or
/// `con.ret`).
fn next_returns(fun: &Fun, ip: u32, s: usize) -> bool {
    next_use(fun, ip, s).is_some_and(|j| j.op == Op::Ret && slot(j, 0) == s)
}

/// Translates function `func` of `m` to IR blocks; `full` says which functions are
/// fully compiled (direct calls go natively only to those). `None`: not compiled at all
/// (no block could be formed).
#[allow(clippy::too_many_arguments)]
fn translate(
    m: &Module,
    func: u32,
    fun: &Fun,
    full: &dyn Fn(u32) -> bool,
    shapes: &[(u16, u16)],
    merge: bool,
    loops: Vec<HomeLoop>,
    lazy: bool,
    leaves: &[Option<Leaf>],
    liveness: &Liveness,
    funs: &[Option<Fun>],
    bodies: &[Option<Vec<inline::Walk>>],
    consts: &[Option<u32>],
    numbers: &[Option<(IrType, u64)>],
    early: &[bool],
    typed: &[u32],
    fixed: &[Option<IrType>],
    returned: &[Vec<Option<IrType>>],
    carried: &[(u16, u8, u8)],
    args: &[Vec<(u16, u8)>],
    objs: &ObjFacts,
) -> Result<FuncIr, BuildError> {
    let f = &m.functions[func as usize];
    let nz_object = nonzero_ctors_have_fields(m);
    // Inside a loop with home registers, its home slots are of their kind throughout.
    let kinds_at = |n: usize, home: Option<&HomeLoop>| {
        let mut k = fun.before[n].clone();
        if let Some(h) = home {
            for &(s, ty, _) in &h.homes {
                k[s as usize] = match ty {
                    IrType::F64 => Kind::F64,
                    IrType::Bool => Kind::Bool,
                    IrType::I64 => Kind::I64,
                    // An array: no value kind.
                    _ => continue,
                };
            }
        }
        k
    };
    let mut blocks = Vec::new();
    let mut fallbacks: Vec<String> = Vec::new();
    let mut inlined = 0;
    let mut merged = vec![false; fun.leaders.len()];
    let leader = |ip: u32| fun.leaders.binary_search(&ip).ok();
    let next_read = |ip: u32, s: usize| next_read(fun, func, ip, s);
    let next_object = |ip: u32, s: usize| next_object(fun, ip, s);
    let next_ret = |ip: u32, s: usize| next_returns(fun, ip, s);
    let live = |ip: u32, s: usize| match fun.at.get(ip as usize) {
        Some(&n) if n != usize::MAX => liveness.live(n, s),
        _ => true,
    };
    let known = |ip: u32| match fun.at.get(ip as usize) {
        Some(&n) if n != usize::MAX => known_callee(fun, n, consts),
        _ => None,
    };
    let mergeable = |ip: u32| {
        merge
            && leader(ip).is_some()
            && fun
                .at
                .get(ip as usize)
                .is_some_and(|&n| fun.preds.get(n) == Some(&1))
    };
    let next_op = |ip: u32| match fun.at.get(ip as usize) {
        Some(&n) if n != usize::MAX => Some(fun.insns[n].1.op),
        _ => None,
    };
    let kind_at = |ip: u32, s: usize| match fun.at.get(ip as usize) {
        Some(&n) if n != usize::MAX => fun.before[n].get(s).copied().unwrap_or(Kind::Any),
        _ => Kind::Any,
    };
    // Per block: its register arguments; none inside a loop with home registers or
    // in a function with carried parameters (their registers are the loop's).
    let block_args: Vec<(u32, Vec<(u16, u8)>)> = fun
        .leaders
        .iter()
        .map(|&start| {
            let none = !carried.is_empty() || loops.iter().any(|l| l.contains(start));
            let v = if none {
                Vec::new()
            } else {
                block_args(fun, start, f.nslots, merge, &args[func as usize])
            };
            (start, v)
        })
        .collect();
    let passed = std::cell::RefCell::new(Vec::new());
    for (bi, &start) in fun.leaders.iter().enumerate() {
        if merged[bi] {
            continue;
        }
        // Its register arguments, when the branch to it (translated before it) sets
        // them.
        let my_args: &[(u16, u8)] = if passed.borrow().contains(&start) {
            &block_args[bi].1
        } else {
            &[]
        };
        let mut end = fun.leaders.get(bi + 1).copied().unwrap_or(u32::MAX);
        let first = fun.at[start as usize];
        let home = loops.iter().find(|l| l.contains(start));
        let mut tx = Tx {
            b: TraceBuilder::new(start),
            map: vec![None; f.nslots as usize],
            kinds: kinds_at(first, home),
            full,
            func,
            mergeable: &mergeable,
            kind_at: &kind_at,
            next_op: &next_op,
            copy: false,
            fixed,
            returned,
            next_read: &next_read,
            fall: None,
            home,
            leaves,
            live: &live,
            inlined: 0,
            lazy,
            next_object: &next_object,
            next_ret: &next_ret,
            data: Vec::new(),
            funs,
            bodies,
            inl: None,
            known: &known,
            typed,
            nz_object,
            numbers,
            // An initialiser may read a global before its own store: its reads keep
            // their guards.
            early: if m.inits.contains(&func) { &[] } else { early },
            carried,
            args,
            block_args: &block_args,
            passed: &passed,
            start,
            objs,
            tags: TagMem::default(),
        };
        // The first fragment of a function with register arguments takes them from
        // their registers (every way in leaves them there: the loads at its start, or
        // a caller's `arg.set`s), not from their slots; not inside a loop with home
        // registers, whose preheader the first block would be.
        // Another block's fragment takes its own register arguments likewise (the
        // loads at its start, or a branch's `arg.set`s).
        let regs: &[(u16, u8)] = if start == 0 && home.is_none() && carried.is_empty() {
            &args[func as usize]
        } else {
            my_args
        };
        for &(p, r) in regs {
            if tx.kinds.get(p as usize) == Some(&Kind::I64) {
                let v =
                    tx.b.emit_raw(IrOp::ArgGet, NONE, NONE, p as u64 | (r as u64) << 16, 0);
                tx.map[p as usize] = Some((v, false));
            }
        }
        let reachable = fun.reached[first];
        let mut n = first;
        while let Some((ip, i, len)) = fun.insns.get(n) {
            if *ip >= end {
                tx.flush(&[*ip]);
                tx.jump(*ip);
                break;
            }
            match tx.step(*ip, i, *len, shapes)? {
                Step::Next => n += 1,
                Step::End => match tx.fall.take().and_then(|nx| Some((nx, leader(nx)?))) {
                    Some((nx, li)) => {
                        // Continue with the fall-through block in this fragment.
                        merged[li] |= !std::mem::take(&mut tx.copy);
                        end = fun.leaders.get(li + 1).copied().unwrap_or(u32::MAX);
                        n = fun.at[nx as usize];
                        tx.kinds = kinds_at(n, home);
                    }
                    None => break,
                },
                Step::Unsupported => {
                    if reachable {
                        let name = i.op.mnemonic().to_string();
                        let name = match i.op {
                            Op::CallK | Op::TCallK => format!(
                                "{name} {}",
                                m.functions
                                    .get(imm(i, if i.op == Op::CallK { 1 } else { 0 }) as usize)
                                    .map_or("?", |g| g.name.as_str())
                            ),
                            _ => name,
                        };
                        if !fallbacks.contains(&name) {
                            fallbacks.push(name);
                        }
                    }
                    tx.exit(*ip);
                    break;
                }
            }
        }
        inlined += tx.inlined;
        blocks.push(Block {
            ip: start,
            trace: tx.b.finish(Vec::new()),
            args: my_args.to_vec(),
        });
    }
    Ok(FuncIr {
        blocks,
        loops,
        fallbacks,
        inlined,
        clears: clears::Clears::default(),
        checked: Vec::new(),
        typed: typed.to_vec(),
        entry_checks: Vec::new(),
        carried: carried.to_vec(),
        args: args[func as usize].clone(),
    })
}

/// Per global, whether some `storeg` of the module writes it; `None` when some
/// function's code could not be decoded. The loader and `storeg` are the only writers
/// of globals and a native executable's module is the whole program, so a global no
/// `storeg` writes always holds what the loader put there ([`constant_functions`],
/// [`fields::constant_globals`]).
pub(crate) fn stored_globals(m: &Module) -> Option<Vec<bool>> {
    let mut out = vec![false; m.globals.len()];
    for f in &m.functions {
        for (_, i) in hashvm_format::insn::decode_all(&f.code).ok()? {
            if i.op.unfused() == Op::StoreG {
                if let Some(g) = out.get_mut(imm(&i, 0) as usize) {
                    *g = true;
                }
            }
        }
    }
    Some(out)
}

/// Per global, the function it always holds: initialised to a function constant and
/// written by no `storeg` ([`stored_globals`]). All `None` when some function's code
/// could not be decoded.
fn constant_functions(m: &Module) -> Vec<Option<u32>> {
    let Some(stored) = stored_globals(m) else {
        return vec![None; m.globals.len()];
    };
    m.globals
        .iter()
        .zip(stored)
        .map(|(g, stored)| match g.init {
            hashvm_format::GlobalInit::Const(hashvm_format::Const::Func(f))
                if (f as usize) < m.functions.len() && !stored =>
            {
                Some(f)
            }
            _ => None,
        })
        .collect()
}

/// Per global, the number or bool it holds whenever it is initialised: every write
/// of it (its initialiser, if it has one, and each `storeg` of it) writes the same
/// constant; a `storeg`'s is loaded into the stored slot by the instruction just
/// before it, in the same basic block (`loadi r0, 139968; storeg IM, r0`). Only the loader and
/// `storeg` write globals and a native executable's module is the whole program, so
/// such a global holds that constant or nothing: a read of it guarded by its tag
/// (`gload`, which fails on an uninitialised global and leaves to the interpreter,
/// which faults) may take the constant rather than the payload. fasta's `random`
/// then divides by a constant `IM`. All `None` when some function's code could not be
/// decoded.
fn constant_numbers(m: &Module, funs: &[Option<Fun>]) -> Vec<Option<(IrType, u64)>> {
    use hashvm_format::{Const, GlobalInit};
    // Some(Some(k)): the constant; Some(None): uninitialised, no store seen yet.
    let mut out: Vec<Option<Option<(IrType, u64)>>> = m
        .globals
        .iter()
        .map(|g| match &g.init {
            GlobalInit::Const(Const::I64(v)) => Some(Some((IrType::I64, *v as u64))),
            GlobalInit::Const(Const::F64(b)) => Some(Some((IrType::F64, *b))),
            GlobalInit::Const(Const::Bool(b)) => Some(Some((IrType::Bool, *b as u64))),
            // A constructor with fields: the data object the loader builds before the
            // program runs (SPEC.md §2), its address unknown here.
            GlobalInit::Const(Const::Data { fields, .. }) if !fields.is_empty() => {
                Some(Some((IrType::Ptr, 0)))
            }
            GlobalInit::Uninit => Some(None),
            _ => None,
        })
        .collect();
    for fun in funs {
        let Some(fun) = fun else {
            return vec![None; m.globals.len()];
        };
        for (n, (ip, i, _)) in fun.insns.iter().enumerate() {
            if i.op != Op::StoreG {
                continue;
            }
            let g = imm(i, 0) as usize;
            let Some(entry) = out.get_mut(g) else {
                continue;
            };
            let stored = n
                .checked_sub(1)
                .filter(|_| fun.leaders.binary_search(ip).is_err())
                .and_then(|p| {
                    let (_, j, _) = &fun.insns[p];
                    if use_def(j).writes.as_slice() != [slot(i, 1) as u16] {
                        return None;
                    }
                    match j.op {
                        Op::LoadI | Op::LoadI64 => Some((IrType::I64, imm(j, 1) as u64)),
                        Op::LoadF => Some((IrType::F64, imm(j, 1) as u64)),
                        Op::LoadTrue | Op::LoadFalse => {
                            Some((IrType::Bool, (j.op == Op::LoadTrue) as u64))
                        }
                        _ => None,
                    }
                });
            *entry = match (*entry, stored) {
                (Some(None), Some(k)) => Some(Some(k)),
                (Some(Some(k0)), Some(k)) if k0 == k => Some(Some(k)),
                _ => None,
            };
        }
    }
    out.into_iter().map(Option::flatten).collect()
}

/// Per global, whether it holds a value before any function but the initialisers can
/// run: the loader initialised it (a constant), or a `storeg` of it lies in the straight run of constant loads and
/// `storeg`s the initialisers begin with. The initialisers run in order before the
/// entry point and nothing runs before them; each earlier one must be wholly such a
/// run, ended by `retu`. None of those instructions calls, jumps or faults, so every
/// one of those stores has run before the first call of the program: any function
/// other than an initialiser reads such a global initialised, and with
/// [`constant_numbers`], as its constant (`IM := 139968` at the top of fasta). An
/// initialiser's own reads may precede its store: the translator keeps their guards.
pub(crate) fn initialised_early(m: &Module) -> Vec<bool> {
    use hashvm_format::GlobalInit;
    let mut out: Vec<bool> = m
        .globals
        .iter()
        .map(|g| matches!(g.init, GlobalInit::Const(_)))
        .collect();
    'inits: for &f in &m.inits {
        let Some(Ok(insns)) = m
            .functions
            .get(f as usize)
            .map(|func| hashvm_format::insn::decode_all(&func.code))
        else {
            break;
        };
        for (_, i) in insns {
            match i.op {
                Op::LoadI | Op::LoadI64 | Op::LoadF | Op::LoadTrue | Op::LoadFalse => {}
                Op::StoreG => {
                    if let Some(e) = out.get_mut(imm(&i, 0) as usize) {
                        *e = true;
                    }
                }
                Op::RetU => continue 'inits,
                _ => break 'inits,
            }
        }
        break;
    }
    out
}

/// The function the `call` at instruction index `n` of `fun` certainly calls: its
/// function slot last written before it, in the same basic block, by `loadfn F` or by
/// a `loadg` of a global that always holds `F` ([`constant_functions`]), with no call
/// in between whose callee's frame could cover the slot.
fn known_callee(fun: &Fun, n: usize, consts: &[Option<u32>]) -> Option<u32> {
    known_callee_in(&fun.insns, &fun.leaders, n, consts)
}

/// [`known_callee`] over a function's decoded instructions and block starts.
fn known_callee_in(
    insns: &[Decoded],
    leaders: &[u32],
    n: usize,
    consts: &[Option<u32>],
) -> Option<u32> {
    let (ip, i, _) = insns.get(n)?;
    if i.op != Op::Call {
        return None;
    }
    let fs = slot(i, 1);
    let start = leaders[leaders.partition_point(|&l| l <= *ip).checked_sub(1)?];
    for (jip, j, _) in insns[..n].iter().rev() {
        if *jip < start {
            return None;
        }
        if use_def(j).writes.contains(&(fs as u16)) {
            return match j.op {
                Op::LoadFn => Some(imm(j, 1) as u32),
                Op::LoadG => consts.get(imm(j, 1) as usize).copied().flatten(),
                _ => None,
            };
        }
        // A call's callee may write every slot from its argument base up; windows
        // that are only read (constructors, closures) write nothing.
        let window = j.op.operands().iter().zip(j.args.iter()).any(
            |(k, a)| matches!((k, a), (OperandKind::Base, Operand::Slot(b)) if *b as usize <= fs),
        );
        if window && !matches!(j.op, Op::Con | Op::Tuple | Op::Closure) {
            return None;
        }
    }
    None
}

/// The direct calls `t` makes as native calls: (byte offset, callee).
fn native_calls(t: &FuncIr) -> Vec<(u32, u32)> {
    t.blocks
        .iter()
        .flat_map(|b| {
            b.trace
                .ins
                .iter()
                .filter(|i| matches!(i.op, IrOp::CallAotK | IrOp::CallAotKv | IrOp::CallAotSelf))
                .map(|i| (b.trace.snaps[i.snap as usize].resume_ip, i.k as u32))
        })
        .collect()
}

/// The kind a function returns: the join over its reachable returns (a tail call
/// returns what its callee returns; `Any` for `retu` and unknown tail calls).
fn returns(fun: &Fun, rets: &[Kind], me: u32) -> Kind {
    let mut r = Kind::Bot;
    for (n, (_, i, _)) in fun.insns.iter().enumerate() {
        if !fun.reached[n] {
            continue;
        }
        let k = match i.op {
            Op::Ret => fun.before[n].get(slot(i, 0)).copied().unwrap_or(Kind::Any),
            Op::RetI => Kind::I64,
            Op::TCallK => rets.get(imm(i, 0) as usize).copied().unwrap_or(Kind::Any),
            Op::TCallSelf => rets.get(me as usize).copied().unwrap_or(Kind::Any),
            Op::RetU | Op::TCall => Kind::Any,
            _ => continue,
        };
        r = r.join(k);
    }
    r
}

/// Infers every function, with the kinds functions return (the least fixed point from
/// "returns nothing", over direct calls; each kind only rises, so it ends).
#[cfg(test)]
fn infer_program(m: &Module) -> (Vec<Option<Fun>>, Vec<Kind>) {
    infer_program_seeded(m, &[], &Heap::NONE)
}

/// The functions whose return kinds `f`'s inference and [`returns`] read: the known
/// callees of its `callk` and `tcallk`, itself for `callself` and `tcallself`, and,
/// when it has a `call`, every function it loads by `loadfn` and every function a
/// global always holds (`consts`): the callee a [`known_callee`] finds is one of them.
/// A function whose code does not decode reads none.
fn ret_deps(f: &hashvm_format::Function, me: u32, consts: &[Option<u32>]) -> Vec<u32> {
    let mut deps: Vec<u32> = hashvm_format::insn::decode_all(&f.code)
        .map(|insns| {
            let calls = insns.iter().any(|(_, i)| i.op == Op::Call);
            insns
                .iter()
                .filter_map(|(_, i)| match i.op {
                    Op::CallK => Some(imm(i, 1) as u32),
                    Op::TCallK => Some(imm(i, 0) as u32),
                    Op::CallSelf | Op::TCallSelf => Some(me),
                    Op::LoadFn if calls => Some(imm(i, 1) as u32),
                    _ => None,
                })
                .chain(consts.iter().flatten().copied().filter(|_| calls))
                .collect()
        })
        .unwrap_or_default();
    deps.sort_unstable();
    deps.dedup();
    deps
}

/// [`infer_program`] with each function's parameters at its entry of the kinds
/// `seeds` gives (none when empty) and the field kinds `heap`, and the kinds it
/// returns.
///
/// Each round re-infers only the functions that read a return kind the last round
/// changed ([`ret_deps`]); the others' inference and kind would come out as before, so
/// the rounds are those of re-inferring everything, at a fraction of the compile time.
fn infer_program_seeded(
    m: &Module,
    seeds: &[Vec<Kind>],
    heap: &Heap,
) -> (Vec<Option<Fun>>, Vec<Kind>) {
    let seed = |fi: usize| seeds.get(fi).map_or(&[][..], |s| &s[..]);
    let n = m.functions.len();
    let consts = constant_functions(m);
    // readers[h]: the functions whose inference reads h's return kind.
    let mut readers: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (fi, f) in m.functions.iter().enumerate() {
        for h in ret_deps(f, fi as u32, &consts) {
            if let Some(r) = readers.get_mut(h as usize) {
                r.push(fi as u32);
            }
        }
    }
    let mut rets = vec![Kind::Bot; n];
    let mut funs: Vec<Option<Fun>> = (0..n).map(|_| None).collect();
    let mut dirty = vec![true; n];
    // Each function's kind rises at most twice (Bot, a kind, Any): a bound that can
    // only be reached by a bug, and then every call result is unknown.
    for _ in 0..2 * n + 2 {
        let mut next = rets.clone();
        for (fi, f) in m.functions.iter().enumerate() {
            if !dirty[fi] {
                continue;
            }
            funs[fi] = infer_seeded(&f.code, f.nslots, &rets, fi as u32, seed(fi), heap, &consts);
            next[fi] = match &funs[fi] {
                Some(fun) => returns(fun, &rets, fi as u32),
                None => Kind::Any,
            };
        }
        if next == rets {
            return (funs, rets);
        }
        dirty = vec![false; n];
        for h in (0..n).filter(|&h| next[h] != rets[h]) {
            for &g in &readers[h] {
                dirty[g as usize] = true;
            }
        }
        rets = next;
    }
    let any = vec![Kind::Any; m.functions.len()];
    let funs = m
        .functions
        .iter()
        .enumerate()
        .map(|(fi, f)| infer_seeded(&f.code, f.nslots, &any, fi as u32, seed(fi), heap, &consts))
        .collect();
    (funs, any)
}

/// Which functions are fully compiled: those whose every reachable instruction is
/// supported, direct calls only to fully compiled functions (a greatest fixed point).
fn fully_compiled(funs: &[Option<Fun>]) -> Vec<bool> {
    let mut full: Vec<bool> = funs.iter().map(|f| f.is_some()).collect();
    loop {
        let mut changed = false;
        for (fi, fun) in funs.iter().enumerate() {
            let Some(fun) = fun else { continue };
            if !full[fi] {
                continue;
            }
            let snapshot = full.clone();
            let ok = |g: u32| snapshot.get(g as usize).copied().unwrap_or(false);
            let all = fun
                .insns
                .iter()
                .enumerate()
                .all(|(n, (_, i, _))| !fun.reached[n] || supported(i, &fun.before[n], &ok));
            if !all {
                full[fi] = false;
                changed = true;
            }
        }
        if !changed {
            return full;
        }
    }
}

/// The registers a block of `t` may not allocate: its loop's home registers and the
/// function's carried registers.
pub(crate) fn reserved(t: &FuncIr, ip: u32) -> Vec<crate::x64::Loc> {
    let mut r: Vec<crate::x64::Loc> = t
        .loops
        .iter()
        .find(|l| l.contains(ip))
        .map(|l| l.homes.iter().map(|h| h.2).collect())
        .unwrap_or_default();
    for c in &t.carried {
        r.extend([crate::x64::Loc::Gpr(c.1), crate::x64::Loc::Gpr(c.2)]);
    }
    r
}

/// What a slot's tag word in memory is at a point of a fragment ([`TagMem`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InMem {
    /// Not proven by the fragment's code (another block's state is not known here).
    Unknown,
    /// This tag word: the last write was an `sstore` of a number or bool, or a direct
    /// native call whose callee has the slot as a parameter of fixed tag
    /// ([`returned_tags`]): it ran to its native return, so the tag word is the one its
    /// entry found and it never rewrote.
    Tag(u64),
    /// Not written since the direct native call `first` (operation index, bytecode
    /// offset), and below the frames of it and of every direct call since, the last
    /// being `last` (and none's result stored whole): nothing a callee runs writes
    /// below its base. If the slot is dead at one of these calls, the call may write
    /// any tag word of a number there before its push (`call.aot`'s `tw`), a value the
    /// collector accepts and no one reads.
    Below { first: (u32, u32), last: (u32, u32) },
}

/// The tag words a fragment's own code proves in memory, per slot, kept forward over
/// the fragment's operations ([`Tx::tag_in_memory`]): each operation is applied once,
/// when a store first asks after it, so a fragment of many stores costs linear time.
/// A direct call's effect on its result slot depends on the operation after it (a
/// `call.res` takes the result from `rax`, otherwise the call stores it whole), so a
/// call that is the fragment's last operation so far is not applied yet.
#[derive(Clone, Default)]
struct TagMem {
    /// How many of the fragment's operations are applied.
    upto: usize,
    /// Per slot (grown on demand; absent = [`InMem::Unknown`]).
    slots: Vec<InMem>,
}

impl TagMem {
    /// Applies the operations emitted since the last call, but a trailing direct call.
    fn catch_up(&mut self, b: &TraceBuilder, returned: &[Vec<Option<IrType>>]) {
        let ops = b.ops();
        while self.upto < ops.len() {
            let x = self.upto;
            if is_direct_call(ops[x].op) && x + 1 == ops.len() {
                return;
            }
            self.apply(b, x, returned);
            self.upto += 1;
        }
    }

    /// Slot `s`'s state after every operation of `ops` (a trailing direct call stores
    /// its result whole, as far as it is known now).
    fn at(&self, b: &TraceBuilder, returned: &[Vec<Option<IrType>>], s: usize) -> InMem {
        if self.upto < b.ops().len() {
            return call_effect(b, self.upto, returned, s);
        }
        self.slots.get(s).copied().unwrap_or(InMem::Unknown)
    }

    fn set(&mut self, s: usize, v: InMem) {
        if s >= self.slots.len() {
            if v == InMem::Unknown {
                return;
            }
            self.slots.resize(s + 1, InMem::Unknown);
        }
        self.slots[s] = v;
    }

    /// Applies operation `x`.
    fn apply(&mut self, b: &TraceBuilder, x: usize, returned: &[Vec<Option<IrType>>]) {
        let i = &b.ops()[x];
        match i.op {
            IrOp::SStore => {
                let ty = b.ty(i.a);
                let v = match ty {
                    IrType::I64 | IrType::F64 | IrType::Bool => InMem::Tag(emit::tag_word(ty)),
                    _ => InMem::Unknown,
                };
                self.set(i.k as usize, v);
            }
            // The payload only, the tag word unchanged.
            IrOp::SStoreP => {}
            IrOp::SClear | IrOp::SUnit => self.set(i.k as usize, InMem::Unknown),
            op if is_direct_call(op) => {
                // Every slot below the callee's frame becomes the call's to tag.
                let (_, a0, _) = call_fields(i.k);
                if self.slots.len() < a0 {
                    self.slots.resize(a0, InMem::Unknown);
                }
                let n = self.slots.len();
                for s in 0..n {
                    self.slots[s] = match (self.slots[s], call_effect(b, x, returned, s)) {
                        // Still below every call's frame since the first.
                        (InMem::Below { first, .. }, InMem::Below { last, .. }) => {
                            InMem::Below { first, last }
                        }
                        (_, v) => v,
                    };
                }
                // The callee's parameters past the slots known so far.
                let (f, _, _) = call_fields(i.k);
                if let Some(params) = returned.get(f) {
                    for (p, ty) in params.iter().enumerate() {
                        if let Some(ty) = ty {
                            self.set(a0 + p, InMem::Tag(emit::tag_word(*ty)));
                        }
                    }
                }
            }
            op if op.flags() & crate::ir::flag::STORE != 0 => self.slots.clear(),
            _ => {}
        }
    }
}

/// `call.aot`, `call.aot.v` and `callself.aot`: the direct native calls.
fn is_direct_call(op: IrOp) -> bool {
    matches!(op, IrOp::CallAotK | IrOp::CallAotKv | IrOp::CallAotSelf)
}

/// A direct call's callee, first argument's slot and result slot (its `k`).
fn call_fields(k: u64) -> (usize, usize, usize) {
    (
        (k & 0xffff_ffff) as usize,
        ((k >> 32) & 0xffff) as usize,
        (k >> 48) as usize,
    )
}

/// Slot `s`'s state after the direct call `ops[x]` ([`InMem`]): its result slot is
/// unknown when the call stores the result whole (no `call.res` next), a parameter of
/// fixed tag holds it, a slot below the callee's frame is the call's to tag, and the
/// callee's other slots are unknown.
fn call_effect(b: &TraceBuilder, x: usize, returned: &[Vec<Option<IrType>>], s: usize) -> InMem {
    let ops = b.ops();
    let (f, a0, dst) = call_fields(ops[x].k);
    let stored = ops.get(x + 1).is_none_or(|n| n.op != IrOp::CallRes);
    if s == dst && stored {
        return InMem::Unknown;
    }
    // (A call inside an inlined callee's code, whose offsets are the callee's, is
    // not one to tag the caller's slots.)
    if s < a0 && !b.in_inlined(ops[x].snap) {
        let c = (x as u32, b.resume_ip(ops[x].snap));
        return InMem::Below { first: c, last: c };
    }
    match returned
        .get(f)
        .and_then(|p| p.get(s - a0))
        .copied()
        .flatten()
    {
        Some(ty) => InMem::Tag(emit::tag_word(ty)),
        None => InMem::Unknown,
    }
}

/// Per function, per parameter: the type whose tag word the parameter's slot holds
/// whenever a native call of the function returns: its fixed tag
/// ([`typed::fixed_tags`]: every way into the code finds that tag there, and the code
/// writes only payloads of that kind there and pushes no frame over it), for a
/// function that makes no tail call but `tcallself`s (a `tcallk` or `tcall` would
/// hand the frame, and the slot, to another function, whose return the caller's
/// native call receives all the same). Empty for a function not decoded.
fn returned_tags(funs: &[Option<Fun>], fixed: &[Vec<Option<IrType>>]) -> Vec<Vec<Option<IrType>>> {
    funs.iter()
        .zip(fixed)
        .map(|(fun, fixed)| match fun {
            Some(fun)
                if !fun
                    .insns
                    .iter()
                    .any(|(_, i, _)| matches!(i.op, Op::TCallK | Op::TCall)) =>
            {
                fixed.clone()
            }
            _ => Vec::new(),
        })
        .collect()
}

/// Whether every block of `t` gets registers.
fn fits(t: &FuncIr) -> bool {
    t.blocks
        .iter()
        .all(|b| crate::x64::allocate_avoiding(&b.trace, &reserved(t, b.ip)).is_ok())
}

/// Compiles every function of a verified program. Deterministic: the same program
/// gives the same bytes.
#[cfg(target_arch = "x86_64")]
pub fn compile(v: Verified<'_>) -> Result<Image, String> {
    let m: &Module = v.module();
    // The inference with every parameter unknown (sound for every run of a function,
    // whoever calls it), then with the kinds its direct callers pass (its typed entry's,
    // [`typed`]): the code is compiled with the latter.
    //
    // Both start from what the closed program proves for every run: the data objects
    // of a known type and the `Option` values of one its closed functions' parameters
    // always hold, and the kinds of its fields ([`fields::closed_facts`], one fixed
    // point with every function's results).
    let (closed, heap) = fields::closed_facts(m);
    let (plain, rets) = infer_program_seeded(m, &closed, &heap);
    let consts = constant_functions(m);
    let numbers = constant_numbers(m, &plain);
    let early = initialised_early(m);
    let mut seeds = typed::seeds(m, &rets, &consts, &heap);
    for (s, c) in seeds.iter_mut().zip(&closed) {
        for (k, o) in s.iter_mut().zip(c) {
            if *k == Kind::Any {
                *k = *o;
            }
        }
    }
    let (funs, srets) = infer_program_seeded(m, &seeds, &heap);
    let field_kinds = fields::field_kinds(m, &rets, &heap);
    let objs = ObjFacts::new(m, field_kinds, heap);
    let typed_at = typed::typed_sites(&funs, &seeds, &consts);
    let full = fully_compiled(&funs);
    let shapes: Vec<(u16, u16)> = m.functions.iter().map(|f| (f.arity, f.nslots)).collect();
    let is_full = |g: u32| full.get(g as usize).copied().unwrap_or(false);
    let leaves: Vec<Option<Leaf>> = funs
        .iter()
        .zip(&m.functions)
        .enumerate()
        .map(|(fi, (fun, f))| {
            fun.as_ref()
                .filter(|_| is_full(fi as u32))
                .and_then(|fun| leaf(fun, f.arity, f.nslots))
        })
        .collect();
    let bodies: Vec<Option<Vec<inline::Walk>>> = funs
        .iter()
        .zip(&m.functions)
        .map(|(fun, f)| {
            fun.as_ref()
                .and_then(|fun| inline::path(fun, f.arity, f.nslots))
        })
        .collect();
    let fixed: Vec<Vec<Option<IrType>>> = funs
        .iter()
        .enumerate()
        .map(|(fi, fun)| {
            fun.as_ref().map_or_else(Vec::new, |fun| {
                typed::fixed_tags(fun, &seeds[fi], &srets, fi as u32, &objs.heap)
            })
        })
        .collect();
    let returned = returned_tags(&funs, &fixed);
    let args: Vec<Vec<(u16, u8)>> = funs
        .iter()
        .enumerate()
        .map(|(fi, fun)| match fun {
            Some(fun) if is_full(fi as u32) => {
                let f = &m.functions[fi];
                register_args(fi as u32, fun, &f.code, f.arity, &seeds[fi])
            }
            _ => Vec::new(),
        })
        .collect();
    let mut irs = Vec::new();
    for (fi, fun) in funs.iter().enumerate() {
        irs.push(match fun {
            Some(fun) => Some({
                let name = &m.functions[fi].name;
                // Longer fragments, home registers and pending values kept for the
                // exits (`lazy`) need more registers: if a block does not fit, the
                // function is translated with pending values written before each guard,
                // then without home registers, then block by block.
                let liveness = Liveness::new(fun, m.functions[fi].nslots as usize);
                let loops = home_loops(fun, &is_full, &leaves, &liveness);
                let mut tries = vec![(true, Vec::new()), (false, Vec::new())];
                if !loops.is_empty() {
                    // Before giving up home registers: without the loop-invariant
                    // arrays' and objects' (the fourth general register is the one
                    // most often missed).
                    let values: Vec<HomeLoop> = loops
                        .iter()
                        .cloned()
                        .filter_map(|l| {
                            let l = l.without_objects();
                            (!l.homes.is_empty()).then_some(l)
                        })
                        .collect();
                    if values != loops && !values.is_empty() {
                        tries.insert(0, (true, values));
                    }
                    tries.insert(0, (true, loops));
                }
                let tries: Vec<_> = tries
                    .into_iter()
                    .flat_map(|(merge, loops)| {
                        [(merge, loops.clone(), true), (merge, loops, false)]
                    })
                    .collect();
                // With the carried registers first, if any; then every try without.
                let carried = carried_slots(fun, m.functions[fi].arity);
                let tries: Vec<_> = if carried.is_empty() {
                    tries.into_iter().map(|t| (t, Vec::new())).collect()
                } else {
                    let with = tries.iter().cloned().map(|t| (t, carried.clone()));
                    let without = tries.iter().cloned().map(|t| (t, Vec::new()));
                    with.chain(without).collect()
                };
                let last = tries.len() - 1;
                let mut chosen = None;
                for (k, ((merge, loops, lazy), carried)) in tries.into_iter().enumerate() {
                    let t = translate(
                        m,
                        fi as u32,
                        fun,
                        &is_full,
                        &shapes,
                        merge,
                        loops,
                        lazy,
                        &leaves,
                        &liveness,
                        &funs,
                        &bodies,
                        &consts,
                        &numbers,
                        &early,
                        &typed_at[fi],
                        &fixed[fi],
                        &returned,
                        &carried,
                        &args,
                        &objs,
                    )
                    .map_err(|e| format!("{name}: {e}"))?;
                    if k == last || fits(&t) {
                        chosen = Some(t);
                        break;
                    }
                }
                chosen.ok_or_else(|| format!("{name}: no translation"))?
            }),
            None => None,
        });
    }
    // The slots the pushes of direct calls leave to their callees: for every function
    // some compiled code calls or tail-calls natively (the others' exits need not
    // clear). A direct tail call (`tcall.aot`) leaves its callee's kept slots as a
    // call's push does (`emit::clear_range`): pmap's `bal`, only ever tail-called,
    // then keeps its 18 slots past its arguments (18 stores fewer at each tail call).
    let mut called = vec![false; m.functions.len()];
    for t in irs.iter().flatten() {
        let tails = t.blocks.iter().flat_map(|b| {
            b.trace
                .ins
                .iter()
                .filter(|i| i.op == IrOp::TCallAot)
                .map(|i| (i.k & 0xffff_ffff) as u32)
        });
        for f in native_calls(t).into_iter().map(|c| c.1).chain(tails) {
            if let Some(c) = called.get_mut(f as usize) {
                *c = true;
            }
        }
    }
    for (fi, t) in irs.iter_mut().enumerate() {
        let (Some(t), Some(fun)) = (t, &funs[fi]) else {
            continue;
        };
        if called[fi] && is_full(fi as u32) {
            let f = &m.functions[fi];
            let mut calls = native_calls(t);
            calls.sort_unstable();
            calls.dedup();
            let live = Liveness::new(fun, f.nslots as usize);
            t.clears = clears::clears(fun, fi as u32, f.arity, f.nslots, &shapes, &calls, &live);
        }
    }
    // What a native call's push may leave besides the slots its callee keeps: the
    // callee's slots no path from its entry reads before writing, where the caller's
    // memory already holds a valid value (`clears::valid_at_calls`).
    let callees: Vec<clears::Shape> = (0..m.functions.len())
        .map(|fi| {
            let (Some(fun), f) = (&funs[fi], &m.functions[fi]) else {
                return clears::Shape::default();
            };
            let live = Liveness::new(fun, f.nslots as usize);
            let fresh = (f.arity as usize..(f.nslots as usize).min(64))
                .filter(|&s| !live.live(0, s))
                .fold(0u64, |m, s| m | 1 << s);
            clears::Shape {
                keep: irs[fi].as_ref().map_or(0, |t| t.clears.keep),
                stays: !fun
                    .insns
                    .iter()
                    .any(|(_, i, _)| matches!(i.op, Op::TCallK | Op::TCall)),
                calm: leaf(fun, f.arity, f.nslots).is_some()
                    || inline::path(fun, f.arity, f.nslots).is_some(),
                fresh,
            }
        })
        .collect();
    for (fi, t) in irs.iter_mut().enumerate() {
        let (Some(t), Some(fun)) = (t, &funs[fi]) else {
            continue;
        };
        let f = &m.functions[fi];
        t.clears.fresh = callees[fi].fresh;
        if is_full(fi as u32) {
            let mut calls = native_calls(t);
            calls.sort_unstable();
            calls.dedup();
            t.clears.valid =
                clears::valid_at_calls(fun, f.nslots, t.clears.keep, &shapes, &callees, &calls);
        }
    }
    // Back-edges whose loop body (from the jump target to the back-edge, in code
    // order) the compiler handles entirely are entered from the interpreter.
    let mut loop_entries: Vec<Vec<u32>> = vec![Vec::new(); m.functions.len()];
    // The interpreter enters a fully compiled function at its call only if it loops or
    // calls: entering costs a round trip through the VM's cold path, more than a few
    // straight-line instructions cost to interpret (compiled callers call it natively).
    let mut worth: Vec<bool> = vec![false; m.functions.len()];
    for (fi, fun) in funs.iter().enumerate() {
        let Some(fun) = fun else { continue };
        worth[fi] = fun
            .insns
            .iter()
            .any(|(_, i, _)| i.op == Op::Loop || is_call(i.op));
        for (ip, i, _) in &fun.insns {
            let from = match i.op {
                Op::Loop => targets(*ip, i)[0],
                Op::TCallSelf => 0,
                _ => continue,
            };
            let body_ok = fun
                .insns
                .iter()
                .enumerate()
                .filter(|(_, (x, _, _))| *x >= from && x <= ip)
                .all(|(n, (_, j, _))| supported(j, &fun.before[n], &is_full));
            // The frame checked first for what only the seeded kinds know there (the
            // interpreter may run the function with other kinds after an exit); a kind
            // no tag compare proves keeps the interpreter out.
            let checks = plain[fi]
                .as_ref()
                .and_then(|p| typed::entry_checks(p, fun, *ip));
            if let (true, Some(checks)) = (body_ok, checks) {
                loop_entries[fi].push(*ip);
                if let Some(t) = &mut irs[fi] {
                    if !checks.is_empty() {
                        t.entry_checks.push((*ip, checks));
                    }
                }
            }
        }
        if let Some(t) = &mut irs[fi] {
            t.checked = typed::checked(&seeds[fi]);
        }
    }
    let entry_counted: Vec<bool> = funs
        .iter()
        .enumerate()
        .map(|(fi, fun)| {
            fun.as_ref().is_some_and(|fun| {
                worth[fi] && tiers_up_at_entry(fi as u32, fun, &m.functions[fi].code)
            })
        })
        .collect();
    let mut image = emit::program(
        m,
        &irs,
        &full,
        &worth,
        &loop_entries,
        &entry_counted,
        &shapes,
    )?;
    image.fields = objs.fields;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashvm_format::{FunctionBuilder, ModuleBuilder};

    /// The inference of `f` (of `nslots` slots) alone, as the entry of an executable.
    fn infer_alone(f: FunctionBuilder, nslots: u16) -> Fun {
        let mut mb = ModuleBuilder::new();
        let fi = mb.add_function(f).unwrap();
        mb.set_entry(fi);
        mb.set_executable(true);
        let m = mb.finish().unwrap();
        infer(&m.functions[0].code, nslots, &[], 0).unwrap()
    }

    /// Which globals are initialised before any function but the initialisers can run
    /// ([`initialised_early`]): the loader's constants; `a` and `f`, stored by the first
    /// initialiser's straight run ended by `retu`; `t`, stored by the second's before
    /// its call. Not `b`, `r` (stored after that call, which could read them) nor
    /// `late`, stored by the third initialiser, after the second's call.
    #[test]
    fn globals_stored_before_the_first_call_are_initialised_early() {
        let src = "
.module executable
.global nl = \"\\n\"
.global a uninit
.global f uninit
.global t uninit
.global k = 7
.global b uninit
.global r uninit
.global late uninit
.func read/0 slots=1
    loadg r0, late
    ret r0
.end
.func init1/0 slots=1
    loadi r0, 139968
    storeg a, r0
    loadf r0, 0.25
    storeg f, r0
    retu
.end
.func init2/0 slots=1
    loadtrue r0
    storeg t, r0
    callk r0, read, r0, 0
    storeg r, r0
    loadi r0, 5
    storeg b, r0
    retu
.end
.func init3/0 slots=1
    loadi r0, 21
    storeg late, r0
    retu
.end
.func main/0 slots=1
    retu
.end
.init init1
.init init2
.init init3
.entry main
";
        let m = hashvm_format::hasm::assemble(src, "t.hasm").expect("assembles");
        let early = initialised_early(&m);
        let names: Vec<&str> = m.globals.iter().map(|g| g.name.as_str()).collect();
        let got: Vec<&str> = names
            .iter()
            .zip(&early)
            .filter(|(_, &e)| e)
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(got, ["nl", "a", "f", "t", "k"]);
    }

    /// Return kinds: `one` returns an i64 (a typed result), `two` returns what `one`
    /// returns, so after `callk two` the result slot is a proven i64 and the slots
    /// from the argument base up are unknown again.
    #[test]
    fn call_results_take_the_callees_return_kind() {
        let mut one = FunctionBuilder::new("one", 1, 1);
        one.op(
            Op::AddIImm,
            [Operand::Slot(0), Operand::Slot(0), Operand::Imm32(1)],
        );
        one.op(Op::Ret, [Operand::Slot(0)]);
        let mut two = FunctionBuilder::new("two", 1, 2);
        two.op(
            Op::TCallK,
            [Operand::Func(0), Operand::Slot(0), Operand::U16(1)],
        );
        let mut main = FunctionBuilder::new("main", 0, 3);
        main.op(
            Op::LoadF,
            [Operand::Slot(0), Operand::F64(2.5f64.to_bits())],
        );
        main.op(Op::LoadI, [Operand::Slot(2), Operand::Imm32(4)]);
        main.op(
            Op::CallK,
            [
                Operand::Slot(1),
                Operand::Func(1),
                Operand::Slot(2),
                Operand::U16(1),
            ],
        );
        main.op(Op::RetU, []);
        let mut mb = ModuleBuilder::new();
        mb.add_function(one).unwrap();
        mb.add_function(two).unwrap();
        let mi = mb.add_function(main).unwrap();
        mb.set_entry(mi);
        mb.set_executable(true);
        let m = mb.finish().unwrap();
        let funs = infer_program(&m).0;
        let main = funs[2].as_ref().unwrap();
        let after = &main.before[3];
        assert_eq!(after[0], Kind::F64, "below the argument base: kept");
        assert_eq!(
            after[1],
            Kind::I64,
            "the result: what `one` returns, through `two`"
        );
        assert_eq!(after[2], Kind::Any, "the callee's frame: clobbered");
    }

    #[test]
    fn kinds_flow_through_typed_instructions_and_join_at_merges() {
        // r0 = param; jlt.i64 r0, 2 proves r0 an i64 on both edges; r1 is an f64 on
        // one path and an i64 on the other: unknown after the merge.
        use hashvm_format::Arg;
        let mut f = FunctionBuilder::new("f", 1, 3);
        let other = f.new_label();
        let join = f.new_label();
        f.emit(
            Op::JLtIImm,
            [
                Arg::Op(Operand::Slot(0)),
                Arg::Op(Operand::Imm32(2)),
                Arg::Label(other),
            ],
        );
        f.op(
            Op::LoadF,
            [Operand::Slot(1), Operand::F64(1.5f64.to_bits())],
        );
        f.emit(Op::Jmp, [Arg::Label(join)]);
        f.bind(other);
        f.op(Op::LoadI, [Operand::Slot(1), Operand::Imm32(7)]);
        f.bind(join);
        f.op(Op::Ret, [Operand::Slot(0)]);
        let fun = infer_alone(f, 3);
        let last = fun.insns.len() - 1;
        assert_eq!(fun.before[0][0], Kind::Any, "parameters are unknown");
        assert_eq!(fun.before[last][0], Kind::I64);
        assert_eq!(fun.before[last][1], Kind::Any);
        assert_eq!(fun.before[1][1], Kind::Any);
        assert_eq!(fun.leaders.len(), 4);
    }

    #[test]
    fn constructed_values_are_known_past_their_tests_and_lost_at_a_join_with_others() {
        // jntag r0 makes r0 constructed on both edges; r1 := r0 keeps it; r0 := r2
        // (a parameter) on one way only: unknown where the ways join; `field` of r0
        // makes it constructed again, and its result is unknown.
        use hashvm_format::Arg;
        let mut f = FunctionBuilder::new("f", 3, 5);
        let test = f.new_label();
        let read = f.new_label();
        let s = |k| Arg::Op(Operand::Slot(k));
        f.emit(
            Op::JNTag,
            [s(0), Arg::Op(Operand::U16(1)), Arg::Label(test)],
        );
        f.bind(test);
        f.op(Op::Mov, [Operand::Slot(1), Operand::Slot(0)]);
        f.emit(
            Op::JEqIImm,
            [s(2), Arg::Op(Operand::Imm32(0)), Arg::Label(read)],
        );
        f.op(Op::Mov, [Operand::Slot(0), Operand::Slot(2)]);
        f.bind(read);
        f.op(
            Op::Field,
            [Operand::Slot(3), Operand::Slot(0), Operand::U16(0)],
        );
        f.op(Op::Ret, [Operand::Slot(3)]);
        let fun = infer_alone(f, 5);
        assert_eq!(fun.before[0][0], Kind::Any, "parameters are unknown");
        assert_eq!(fun.before[1][0], Kind::Ctor, "past the jntag");
        assert_eq!(fun.before[2][1], Kind::Ctor, "moved");
        let (field, ret) = (fun.insns.len() - 2, fun.insns.len() - 1);
        assert_eq!(fun.before[field][0], Kind::Any, "joined with a parameter");
        assert_eq!(fun.before[field][1], Kind::Ctor, "constructed on both ways");
        assert_eq!(fun.before[ret][0], Kind::Ctor, "past the field");
        assert_eq!(fun.before[ret][3], Kind::Any, "a field's value");
        assert_eq!(Kind::Ctor.join(Kind::I64), Kind::Any);
        assert!(Kind::Ctor.ir().is_none());
    }

    #[test]
    fn a_jntag_proves_a_nonzero_constructor_only_on_its_way() {
        // jntag r0, 0, some: the target (not constructor 0) has r0 CtorNz, kept past a
        // field of it; the fall-through (constructor 0) has it Ctor. jntag r1, 2, other:
        // its fall-through (constructor 2) has r1 CtorNz, its target Ctor. Where the
        // ways of r0 join, Ctor.
        use hashvm_format::Arg;
        let mut f = FunctionBuilder::new("f", 2, 4);
        let (some, join, other) = (f.new_label(), f.new_label(), f.new_label());
        let s = |k| Arg::Op(Operand::Slot(k));
        f.emit(
            Op::JNTag,
            [s(0), Arg::Op(Operand::U16(0)), Arg::Label(some)],
        );
        f.op(Op::LoadUnit, [Operand::Slot(2)]);
        f.emit(Op::Jmp, [Arg::Label(join)]);
        f.bind(some);
        f.op(
            Op::Field,
            [Operand::Slot(2), Operand::Slot(0), Operand::U16(0)],
        );
        f.op(Op::LoadUnit, [Operand::Slot(3)]);
        f.bind(join);
        f.emit(
            Op::JNTag,
            [s(1), Arg::Op(Operand::U16(2)), Arg::Label(other)],
        );
        f.op(Op::Ret, [Operand::Slot(1)]);
        f.bind(other);
        f.op(Op::Ret, [Operand::Slot(0)]);
        let fun = infer_alone(f, 4);
        let at = |k: usize| &fun.before[k];
        assert_eq!(at(1)[0], Kind::Ctor, "the fall-through of a test for 0");
        assert_eq!(at(3)[0], Kind::CtorNz, "the target of a test for 0");
        assert_eq!(at(4)[0], Kind::CtorNz, "past a field of it");
        assert_eq!(at(5)[0], Kind::Ctor, "the ways joined");
        assert_eq!(at(6)[1], Kind::CtorNz, "the fall-through of a test for 2");
        assert_eq!(at(7)[1], Kind::Ctor, "the target of a test for 2");
        assert_eq!(Kind::CtorNz.join(Kind::Ctor), Kind::Ctor);
        assert_eq!(Kind::CtorNz.join(Kind::I64), Kind::Any);
        // Objects of one type stay so; of two types, or with another constructed
        // value, only constructed; `Bot` stays `Bot` past a test (monotone).
        assert_eq!(Kind::Obj(16).join(Kind::Obj(16)), Kind::Obj(16));
        assert_eq!(Kind::Obj(16).join(Kind::Obj(17)), Kind::Ctor);
        assert_eq!(Kind::Obj(16).join(Kind::CtorNz), Kind::Ctor);
        assert_eq!(Kind::Obj(16).join(Kind::I64), Kind::Any);
        assert_eq!(Kind::Obj(16).constructed_past(), Kind::Obj(16));
        assert_eq!(Kind::Bot.constructed_past(), Kind::Bot);
        // `None` and `Some`s of one type join to an `Option` value of it; of two
        // types, or with another constructed value, only constructed.
        let (none, some, opt) = (Kind::NoneOpt, Kind::SomeOf(16), Kind::Opt(16));
        assert_eq!(none.join(some), opt);
        assert_eq!(some.join(none), opt);
        assert_eq!(opt.join(none), opt);
        assert_eq!(some.join(opt), opt);
        assert_eq!(none.join(none), none);
        assert_eq!(some.join(Kind::SomeOf(17)), Kind::Ctor);
        assert_eq!(opt.join(Kind::SomeOf(17)), Kind::Ctor);
        assert_eq!(opt.join(Kind::Obj(16)), Kind::Ctor);
        assert_eq!(some.join(Kind::CtorNz), Kind::CtorNz);
        assert_eq!(none.join(Kind::CtorNz), Kind::Ctor);
        assert_eq!(opt.join(Kind::I64), Kind::Any);
        // A test proving "not constructor 0" finds an `Option` value's `Some`.
        assert_eq!(opt.nonzero(0), some);
        assert_eq!(opt.nonzero(1), some);
        assert_eq!(opt.nonzero(2), Kind::CtorNz);
        assert_eq!(Kind::Ctor.nonzero(0), Kind::CtorNz);
        assert_eq!(Kind::Bot.nonzero(0), Kind::Bot);
        assert_eq!(opt.constructed_past(), opt);
        assert!(opt.constructed() && opt.untyped() && opt.ir().is_none());
        // An array is only ever an array: joined with anything else, unknown; to the
        // translation a slot of no number kind.
        assert_eq!(Kind::Arr.join(Kind::Arr), Kind::Arr);
        assert_eq!(Kind::Arr.join(Kind::Bot), Kind::Arr);
        for k in [
            Kind::I64,
            Kind::Ctor,
            Kind::CtorNz,
            Kind::Obj(16),
            Kind::NoneOpt,
            Kind::SomeOf(16),
            Kind::Opt(16),
            Kind::Any,
        ] {
            assert_eq!(Kind::Arr.join(k), Kind::Any);
            assert_eq!(k.join(Kind::Arr), Kind::Any);
            assert_eq!(Kind::ArrOf(Tag::I64).join(k), Kind::Any);
            assert_eq!(k.join(Kind::ArrOf(Tag::BOOL)), Kind::Any);
        }
        assert!(Kind::Arr.untyped() && !Kind::Arr.constructed());
        assert_eq!(Kind::Arr.ir(), None);
        // An `anew`'s array of one fill tag stays so; of two, or with any array, an
        // array of no known elements kind.
        let (ai, ab) = (Kind::ArrOf(Tag::I64), Kind::ArrOf(Tag::BOOL));
        assert_eq!(ai.join(ai), ai);
        assert_eq!(ai.join(Kind::Bot), ai);
        assert_eq!(ai.join(ab), Kind::Arr);
        assert_eq!(Kind::Arr.join(ab), Kind::Arr);
        assert!(ai.untyped() && !ai.constructed() && ai.ir().is_none());
        let mut st = vec![Kind::Any; 3];
        let anew = Insn {
            op: Op::ANew,
            args: [Operand::Slot(0), Operand::Slot(1), Operand::Slot(2)]
                .into_iter()
                .collect(),
        };
        transfer(&mut st, &anew, &[], 0, &Heap::NONE);
        assert_eq!(st[0], Kind::Arr, "an anew's result");
        st[2] = Kind::Bool;
        transfer(&mut st, &anew, &[], 0, &Heap::NONE);
        assert_eq!(st[0], Kind::ArrOf(Tag::BOOL), "an anew of a bool");
        // A `loadchar`'s char fills an array of chars: an array of no number's.
        let loadchar = Insn {
            op: Op::LoadChar,
            args: [Operand::Slot(2), Operand::Imm32('a' as i32)]
                .into_iter()
                .collect(),
        };
        let mut sc = st.clone();
        transfer(&mut sc, &loadchar, &[], 0, &Heap::NONE);
        assert_eq!(sc[2], Kind::Char);
        assert!(Kind::Char.untyped() && Kind::Char.ir().is_none());
        transfer(&mut sc, &anew, &[], 0, &Heap::NONE);
        assert_eq!(sc[0], Kind::ArrOf(Tag::CHAR), "an anew of a char");
        assert_eq!(sc[0].join(st[0]), Kind::Arr);
        // Its elements are bools only where the program keeps the kind.
        let aget = Insn {
            op: Op::AGet,
            args: [Operand::Slot(1), Operand::Slot(0), Operand::Slot(2)]
                .into_iter()
                .collect(),
        };
        st[2] = Kind::I64;
        let mut st2 = st.clone();
        transfer(&mut st2, &aget, &[], 0, &Heap::NONE);
        assert_eq!(st2[1], Kind::Any);
        let kept = Heap {
            elems_kept: [false, false, true],
            ..Heap::NONE
        };
        transfer(&mut st, &aget, &[], 0, &kept);
        assert_eq!(st[1], Kind::Bool);
    }

    /// A loop tried without its `Ptr` homes keeps the exits' write-backs of its number
    /// homes: the bits of `stores` and `written` follow the homes to their new indices.
    #[test]
    fn a_loop_without_its_object_homes_still_writes_its_numbers_back() {
        use crate::x64::Loc;
        let l = HomeLoop {
            head: 0,
            back: 40,
            homes: vec![
                (3, IrType::I64, Loc::Gpr(15)),
                (0, IrType::Ptr, Loc::Gpr(14)),
                (1, IrType::Ptr, Loc::Gpr(13)),
                (2, IrType::I64, Loc::Gpr(10)),
            ],
            objects: vec![(1, 2)],
            checked: Vec::new(),
            room: 0,
            stores: vec![(8, 0b1001), (20, 0b1000), (44, 0b0001)],
            written: 0b1001,
        };
        let v = l.without_objects();
        assert_eq!(
            v.homes,
            vec![
                (3, IrType::I64, Loc::Gpr(15)),
                (2, IrType::I64, Loc::Gpr(10))
            ]
        );
        assert!(v.objects.is_empty());
        assert_eq!(v.stores, vec![(8, 0b11), (20, 0b10), (44, 0b01)]);
        assert_eq!(v.written, 0b11);
        assert_eq!(v.stored_at(Some(20)), 0b10, "slot 2's home, now the second");
        assert_eq!(v.stored_at(None), 0b11);
    }

    /// The field table read back by the inference: an `Option` value's `Some` holds an
    /// object of its type only where no `setfield` may write into a `Some`; an object's
    /// field as the table says, numbers included.
    #[test]
    fn heap_field_reads() {
        let heap = Heap {
            fields: vec![vec![
                Kind::I64,
                Kind::Opt(16),
                Kind::Bot,
                Kind::ArrOf(Tag::I64),
                Kind::Arr,
            ]],
            some_kept: true,
            elems_kept: [true, false, false],
            globals: vec![Kind::Obj(16)],
            nz_types: vec![true],
        };
        // An `anew`'s array is read back as one; its elements kind known as kept.
        assert_eq!(heap.field(Kind::Obj(16), 3), Kind::ArrOf(Tag::I64));
        assert_eq!(heap.elems(Kind::ArrOf(Tag::I64)), Some(Tag::I64));
        assert_eq!(heap.elems(Kind::ArrOf(Tag::F64)), None);
        assert_eq!(heap.elems(Kind::Arr), None);
        assert_eq!(heap.field(Kind::Obj(16), 4), Kind::Any);
        assert_eq!(heap.field_less(16), Kind::Of(16));
        assert_eq!(heap.field_less(17), Kind::Ctor, "no such type");
        assert_eq!(heap.field(Kind::Of(16), 1), Kind::Opt(16));
        assert_eq!(heap.global(0), Kind::Obj(16));
        assert_eq!(heap.global(1), Kind::Any, "no such global");
        assert_eq!(heap.field(Kind::Obj(16), 1), Kind::Opt(16));
        assert_eq!(heap.field(Kind::Obj(16), 0), Kind::I64, "a number");
        assert_eq!(heap.field(Kind::Of(16), 0), Kind::I64, "a number");
        assert_eq!(heap.field(Kind::Obj(16), 2), Kind::Bot);
        assert_eq!(heap.field(Kind::Obj(16), 5), Kind::Any, "no such field");
        assert_eq!(heap.field(Kind::Obj(17), 0), Kind::Any, "no such type");
        assert_eq!(heap.field(Kind::SomeOf(16), 0), Kind::Obj(16));
        assert_eq!(heap.field(Kind::Opt(16), 0), Kind::Obj(16));
        assert_eq!(heap.field(Kind::SomeOf(16), 1), Kind::Any);
        assert_eq!(heap.field(Kind::Ctor, 0), Kind::Any);
        assert_eq!(heap.field(Kind::Bot, 0), Kind::Bot);
        let written = Heap {
            some_kept: false,
            ..heap
        };
        assert_eq!(written.field(Kind::SomeOf(16), 0), Kind::Any);
        assert_eq!(Heap::NONE.field(Kind::Obj(16), 1), Kind::Any);
    }
}
