//! The trace IR: a typed SSA instruction list in recording order, with guards that
//! name a snapshot of the interpreter state to restore when they fail.
//!
//! Every IR fact (mnemonic, operand count, result type, flags, semantics) is declared
//! once, in `define_ir!`'s table, and everything else (the builder's folding, the
//! backend, the dumper) reads it from there, as the opcode table does for bytecode.
//!
//! A trace is built by a [`TraceBuilder`], which folds constants, applies algebraic
//! identities and eliminates common subexpressions *as instructions are emitted*
//! (LuaJIT's FOLD/CSE pipeline): the backend only ever sees the simplified trace.
//!
//! The trace shape is one loop: the whole instruction list is the loop body,
//! re-executed from the top; slots are read with `sload` on first use in an iteration
//! and written with `sstore` where the interpreter writes them ([`Trace::tail`], the
//! back-edge's write-back, is for traces whose stores have been sunk). Loop peeling
//! (`jit/src/opt.rs`) then turns a root loop into a pre-roll and a loop body whose
//! loop-carried slots live in registers (`phi`s, [`Trace::phis`]).

use crate::fxhash::{FxHashMap, FxHashSet};
use hashvm_vm::jit::layout;
use hashvm_vm::{Tag, Value};
use std::fmt;

/// The result type of an IR instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IrType {
    /// A 64-bit integer (the payload of an `i64` value), in a general register.
    I64,
    /// An IEEE double, in an XMM register.
    F64,
    /// A bool (0 or 1), in a general register.
    Bool,
    /// The address of a heap object (a value with tag OBJ), in a general register; its
    /// kind is known only where a `guard.kind` on it says so. No collection runs
    /// while a trace runs (only exits leave it), so no object moves under it.
    Ptr,
    /// Any other value (unit, char, u64, a field-less constructor, a FUNC value, a C
    /// pointer): its payload in a general register, its tag word (`tag | aux << 32`)
    /// fixed by the guard or constant that made it ([`Ins::tw`]).
    Val,
    /// No value (guards).
    None,
}

/// Instruction flags.
pub mod flag {
    /// Exits the trace (through its snapshot) when its condition is false.
    pub const GUARD: u8 = 1;
    /// `a op b == b op a`: the builder orders operands for CSE.
    pub const COMM: u8 = 2;
    /// Reads VM memory (a frame slot or a heap object).
    pub const LOAD: u8 = 4;
    /// Writes a heap object: later loads of the heap are not shared across it.
    pub const STORE: u8 = 8;
    /// Its code reads and writes only what stays exact between sync points of the
    /// VM's register block (the value stack, the globals; not the frame count or the
    /// heap pointer) and calls nothing that needs them ([`IrOp::needs_sync`]): a trace
    /// of such operations is entered without a sync.
    pub const NOSYNC: u8 = 16;
}

macro_rules! define_ir {
    ( $( $name:ident $mnem:literal $nargs:literal $ty:ident [$($flag:ident)|*] $doc:literal; )* ) => {
        /// An IR operation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum IrOp {
            $( #[doc = $doc] $name, )*
        }

        impl IrOp {
            /// Every operation, in table order.
            pub const ALL: &'static [IrOp] = &[ $(IrOp::$name,)* ];

            /// The name used in dumps.
            pub const fn mnemonic(self) -> &'static str {
                match self { $(IrOp::$name => $mnem,)* }
            }

            /// How many of `a`, `b` are operands.
            pub const fn nargs(self) -> usize {
                match self { $(IrOp::$name => $nargs,)* }
            }

            /// The result type.
            pub const fn result(self) -> IrType {
                match self { $(IrOp::$name => IrType::$ty,)* }
            }

            /// The [`flag`]s.
            pub const fn flags(self) -> u8 {
                match self { $(IrOp::$name => 0 $(| flag::$flag)*,)* }
            }

            /// The one-line semantics.
            pub const fn doc(self) -> &'static str {
                match self { $(IrOp::$name => $doc,)* }
            }
        }
    };
}

define_ir! {
    KInt "kint" 0 I64 [NOSYNC] "An i64 constant: `k`.";
    KF64 "kf64" 0 F64 [NOSYNC] "An f64 constant: the bits `k`.";
    SLoadI "sload.i64" 0 I64 [GUARD | LOAD | NOSYNC] "The payload of frame slot `k`, guarded to be an i64.";
    SLoadF "sload.f64" 0 F64 [GUARD | LOAD | NOSYNC] "The payload of frame slot `k`, guarded to be an f64.";
    KBool "kbool" 0 Bool [NOSYNC] "A bool constant: `k` (0 or 1).";
    SLoadB "sload.bool" 0 Bool [GUARD | LOAD | NOSYNC] "The payload of frame slot `k`, guarded to be a bool.";
    CmpEqI "cmpeq.i64" 2 Bool [COMM | NOSYNC] "a == b, as a bool.";
    CmpNeI "cmpne.i64" 2 Bool [COMM | NOSYNC] "a != b, as a bool.";
    CmpLtI "cmplt.i64" 2 Bool [NOSYNC] "a < b, as a bool.";
    CmpLeI "cmple.i64" 2 Bool [NOSYNC] "a <= b, as a bool.";
    NotB "not" 1 Bool [NOSYNC] "The negation of the bool a.";
    IsTrue "istrue" 1 None [GUARD | NOSYNC] "Guard the bool a is true.";
    IsFalse "isfalse" 1 None [GUARD | NOSYNC] "Guard the bool a is false.";
    ItoF "i64.to_f64" 1 F64 [NOSYNC] "The i64 a as the nearest f64.";
    ALen "alen" 1 I64 [LOAD | NOSYNC] "The length of the array a.";
    AGetI "aget.i64" 2 I64 [GUARD | LOAD | NOSYNC] "Element b of the array a, guarded to be in range and an i64.";
    AGetF "aget.f64" 2 F64 [GUARD | LOAD | NOSYNC] "Element b of the array a, guarded to be in range and an f64.";
    AGetB "aget.bool" 2 Bool [GUARD | LOAD | NOSYNC] "Element b of the array a, guarded to be in range and a bool.";
    SStore "sstore" 1 None [STORE | NOSYNC] "Frame slot `k` := a (its payload, and the tag of a's type).";
    SStoreP "sstore.payload" 1 None [STORE | NOSYNC] "Frame slot `k`'s payload := a (an i64, f64 or bool), its tag word not written: whole-function code's store to a parameter slot that always holds a's kind (`aot::typed::fixed_tags`).";
    AddI "add.i64" 2 I64 [COMM | NOSYNC] "a + b, wrapping.";
    SubI "sub.i64" 2 I64 [NOSYNC] "a - b, wrapping.";
    MulI "mul.i64" 2 I64 [COMM | NOSYNC] "a * b, wrapping.";
    AndI "and.i64" 2 I64 [COMM | NOSYNC] "a & b.";
    OrI "or.i64" 2 I64 [COMM | NOSYNC] "a | b.";
    XorI "xor.i64" 2 I64 [COMM | NOSYNC] "a ^ b.";
    AddF "add.f64" 2 F64 [COMM | NOSYNC] "a + b.";
    SubF "sub.f64" 2 F64 [NOSYNC] "a - b.";
    MulF "mul.f64" 2 F64 [COMM | NOSYNC] "a * b.";
    DivF "div.f64" 2 F64 [NOSYNC] "a / b (IEEE).";
    LtI "lt.i64" 2 None [GUARD | NOSYNC] "Guard a < b.";
    LeI "le.i64" 2 None [GUARD | NOSYNC] "Guard a <= b.";
    GtI "gt.i64" 2 None [GUARD | NOSYNC] "Guard a > b.";
    GeI "ge.i64" 2 None [GUARD | NOSYNC] "Guard a >= b.";
    EqI "eq.i64" 2 None [GUARD | COMM | NOSYNC] "Guard a == b.";
    NeI "ne.i64" 2 None [GUARD | COMM | NOSYNC] "Guard a != b (two i64s, or two objects: that they are different objects, for alias analysis).";
    LtF "lt.f64" 2 None [GUARD | NOSYNC] "Guard a < b (false when either is NaN).";
    LeF "le.f64" 2 None [GUARD | NOSYNC] "Guard a <= b (false when either is NaN).";
    NLtF "nlt.f64" 2 None [GUARD | NOSYNC] "Guard !(a < b) (true when either is NaN).";
    NLeF "nle.f64" 2 None [GUARD | NOSYNC] "Guard !(a <= b) (true when either is NaN).";
    SClear "sclear" 0 None [STORE | NOSYNC] "Frame slot `k`'s tag := unit: a slot of an inlined callee's frame its arguments do not fill, cleared as the interpreter's frame push clears it. `tw` bit 0: the slot lies above every frame the trace runs in outside the callee, and the callee writes it before reading it on every path from its entry, so only the collector can tell whether it was cleared: the clear is left out where the slot already holds a value valid for the collector (`x64::needless_clears`).";
    SUnit "sunit" 0 None [STORE | NOSYNC] "Frame slot `k` := unit (the result of a `retu`).";
    GFunc "guard.func" 0 None [GUARD | LOAD | NOSYNC] "Guard frame slot `k & 0xffffffff` holds the FUNC value of function `k >> 32` (a `call` inlined).";
    CallRecK "call.rec" 0 None [GUARD | STORE] "Call the trace's own function (a function-entry trace) for real: push its frame (closure: its FUNC value) with the arguments from slot `k & 0xffff`, result to slot `(k >> 16) & 0xffff`, the caller resuming at `k >> 32`, and run the trace's code for it natively; exits (before the push) when the value or frame stack is full. Every value is reloaded after it. `tw` bit 0: the result slot is dead at the resume point, the result is not stored; bit `j + 1`: the callee writes its slot `j` before reading it on every path from its entry, so its bytecode cannot tell whether the push cleared it, which the push then leaves when it holds a value valid for the collector (`x64::call_rec_keep`).";
    CallRecSelf "callself.rec" 0 None [GUARD | STORE] "As `call.rec`, the frame's closure copied from the caller's (`callself`).";
    RetRec "ret.rec" 1 None [GUARD | STORE] "Return a from the function of a function-entry trace: return natively with a in rax/rdx and the frame still pushed (the `call.rec` or `call.tree` that called it, or the tree's prologue at the outermost level, pops it and stores a into the caller's result slot); exits when the caller is not a bytecode frame.";
    DivI "div.i64" 2 I64 [GUARD | NOSYNC] "a / b truncated, guarded: b != 0 and b != -1 (the interpreter takes those, faulting on 0, wrapping on -1).";
    RemI "rem.i64" 2 I64 [GUARD | NOSYNC] "a % b (the sign of a), guarded as `div.i64`.";
    ShlI "shl.i64" 2 I64 [NOSYNC] "a << (b & 63).";
    ShrI "shr.i64" 2 I64 [NOSYNC] "a >> (b & 63), arithmetic.";
    GLoadI "gload.i64" 0 I64 [GUARD | LOAD | NOSYNC] "The payload of global `k`, guarded to be an i64.";
    GLoadF "gload.f64" 0 F64 [GUARD | LOAD | NOSYNC] "The payload of global `k`, guarded to be an f64.";
    GLoadB "gload.bool" 0 Bool [GUARD | LOAD | NOSYNC] "The payload of global `k`, guarded to be a bool.";
    GClosure "guard.closure" 0 None [GUARD | LOAD | NOSYNC] "Guard frame slot `k & 0xffffffff` holds a closure of function `k >> 32` (guarded on the function index, never the closure's address).";
    SLoad "sload" 0 Val [GUARD | LOAD | NOSYNC] "Frame slot `k`, guarded to have the tag word `tw` (its tag, and its aux for a constructor): its payload, typed by the tag.";
    GLoad "gload" 0 Val [GUARD | LOAD | NOSYNC] "Global `k`, guarded to have the tag word `tw`.";
    FLoad "fload" 1 Val [GUARD | LOAD | NOSYNC] "Value field `k` of the object a (its kind and length guarded before), guarded to have the tag word `tw`.";
    ALoad "aload" 2 Val [GUARD | LOAD | NOSYNC] "Element b of the array a, guarded to be in range and to have the tag word `tw`.";
    FrameClo "frame.closure" 0 Val [GUARD | LOAD] "The closure of the trace's own frame (its frame record, the innermost), guarded to have the tag word `tw`.";
    KVal "kval" 0 Val [NOSYNC] "A constant immediate: payload `k`, tag word `tw`.";
    FLoadK "fload.known" 1 Val [LOAD | NOSYNC] "Value field `k` of the object a, whose tag word `tw` a closed program's field kinds prove (`crate::kinds`: every value ever stored in that field of a's type has that tag; a native executable's tracing JIT only) given a `guard.meta` of a before it: its payload, no tag compare.";
    GKind "guard.kind" 1 None [GUARD | NOSYNC] "Guard the object a has kind `k`.";
    GMeta "guard.meta" 1 None [GUARD | NOSYNC] "Guard the object a's meta word (a DATA object's type id) is `k`.";
    GLen "guard.len" 1 None [GUARD | NOSYNC] "Guard the object a has more than `k` values (a field index in range).";
    GIndex "guard.index" 2 None [GUARD | NOSYNC] "Guard the i64 b is an index of the array a (unsigned b < length).";
    HTag "hdr.tag" 1 I64 [NOSYNC] "The constructor index of the DATA object a (headers never change while it lives).";
    Payload "payload" 1 I64 [NOSYNC] "The payload of a (a constructor's index, a char's code) as an i64.";
    New "new" 0 Ptr [GUARD | STORE] "A new object of `16 + 16 * tw` bytes bumped from the nursery through the register block, its header words `k` and `tw` (kind, tag, meta; length); exits (before the allocating instruction, which the interpreter then runs, collecting) when the nursery has no room. Its fields are written next, by `hstore`s with no barrier (the object is young).";
    NewArr "new.array" 2 Ptr [GUARD | STORE] "A new array (`anew`) of a elements (an i64), each the value b, its header word `k` (kind, elements kind: the flat kind of b's tag, or general), bumped from the nursery as `new` and filled at once; exits (before the `anew`, which the interpreter then runs) unless 1 <= a <= `max_inline_array(elements kind)` (an object the collector would place in eden at any nursery size) and the nursery has room.";
    NewArrSlot "new.array.slot" 1 Ptr [GUARD | LOAD | STORE] "`new.array` of a (an i64) copies of the value in frame slot `k`, whose kind is known only at run time (whole-function code): flat of its tag when that is a flat kind, general otherwise, as the interpreter's `anew` decides; the same exits.";
    SqrtF "sqrt.f64" 1 F64 [NOSYNC] "The square root of a (IEEE, correctly rounded, as Rust's `f64::sqrt`).";
    HStore "hstore" 2 None [GUARD | STORE] "Value field `Ref(k)` (an i64) of the object a := b (in range: guarded before), through the write barrier: exits before the store when a is old and not remembered and b a young object (the interpreter then stores, and remembers a). With `tw` = `HSTORE_FLAT`, element `Ref(k)` of a flat array (its elements kind guarded to be b's tag) := b's 8-byte payload, no tag, no barrier; with `tw` = `HSTORE_ELEM`, either, by the array's elements kind at run time (exits on any other kind); with `tw` = `HSTORE_PAYLOAD`, a field that holds a value of b's tag already: b's payload alone. The one heap store.";
    NewSunk "new.sink" 0 Ptr [NOSYNC] "A `new` whose object does not escape the trace (allocation sinking, `jit/src/opt.rs` `sink_allocations`): no code; an exit whose snapshot names it allocates it then, filled as the `hstore.sink`s before the exit left it ([`Snapshot::sunk`]). Header words `k` and `tw` as `new`'s.";
    HStoreSunk "hstore.sink" 2 None [NOSYNC] "A store into a sunk object (`new.sink` a, field `Ref(k)`, a constant, := b): no code; the exits after it materialise the object with b in that field.";
    // Whole-function (ahead-of-time) code, `jit/src/aot`: a function is a list of basic
    // blocks, each an IR fragment; exits whose snapshot resume offset has `aot::JUMP_BIT`
    // set continue at that block instead of leaving.
    SLoadKI "sload.i64.known" 0 I64 [LOAD] "The payload of frame slot `k`, proven an i64 by static inference: no guard.";
    SLoadKF "sload.f64.known" 0 F64 [LOAD] "The payload of frame slot `k`, proven an f64 by static inference: no guard.";
    SLoadKB "sload.bool.known" 0 Bool [LOAD] "The payload of frame slot `k`, proven a bool by static inference: no guard.";
    SLoadKP "sload.ptr.known" 0 Ptr [LOAD] "The address in frame slot `k`, proven a data object by static inference (whole-function code: a constructor other than 0 in a program whose field-less constructors are all constructor 0): no guard.";
    SCopy "scopy" 0 None [LOAD | STORE] "Frame slot `k & 0xffff` := the whole value in slot `k >> 16` (a move of a value of unknown kind).";
    NegF "neg.f64" 1 F64 [] "-a (the sign bit flipped).";
    CmpLtF "cmplt.f64" 2 Bool [] "a < b, as a bool (false when either is NaN).";
    CmpLeF "cmple.f64" 2 Bool [] "a <= b, as a bool (false when either is NaN).";
    CmpEqF "cmpeq.f64" 2 Bool [COMM] "a == b, as a bool (IEEE).";
    CmpNeF "cmpne.f64" 2 Bool [COMM] "a != b, as a bool (IEEE).";
    Jump "jump" 0 None [] "Continue at the block starting at byte offset `k` of the function.";
    Exit "exit" 0 None [GUARD] "Leave through the snapshot unconditionally (an instruction the compiler does not handle: the interpreter runs it).";
    Poll "poll" 0 None [GUARD | LOAD] "Leave through the snapshot when the interrupt flag is set.";
    CallAotK "call.aot" 0 None [GUARD | STORE] "Call compiled function `k & 0xffffffff` natively (frame closure: its FUNC value) with the arguments from slot `(k >> 32) & 0xffff`, result to slot `k >> 48`, the caller resuming after the call instruction the snapshot names; exits there (before the push) when the value, frame or native stack is full. `tw` bit `s`: slot `s`, below the callee's frame and dead at the call, gets the i64 tag word before the push (its next store writes the payload only, `aot::Tx::tag_in_memory`).";
    CallAotSelf "callself.aot" 0 None [GUARD | STORE] "As `call.aot`, the frame's closure copied from the caller's (`callself`).";
    CallRes "call.res" 0 Val [] "The result of the direct call (`call.aot`, `callself.aot`, `call.aot.v`) just before it, a number or bool of the kind its callee returns or a data object (tag word `tw`), taken from `rax` (a native return's payload) rather than stored to and reloaded from its slot `k`, which is written only when a later write-back needs it.";
    ArgGet "arg.get" 0 I64 [] "The i64 parameter in frame slot `k & 0xffff` of a function with register arguments (`aot::FuncIr::args`) from general register `k >> 16`, where every way to its typed entry past the loads leaves it (a direct call's or self tail call's `arg.set`s; the loads at its first block for every other way in): no load of the slot. Likewise a block's register argument (`aot::Block::args`: a branch's `arg.set`s, or the loads at the block's start). Only at the start of a fragment.";
    ArgSet "arg.set" 1 None [] "General register `k` := a, the i64 argument of the direct call (`call.aot`, `callself.aot`, `call.aot.v`) or self tail call (`jump` with `aot::ARGS_SET`) right after, which enters its callee's typed entry past the loads of its register arguments (`aot::FuncIr::args`); the argument is in its slot too. Emitted by that call or jump, all of them at once (a parallel move). With `snap` not 0: right after a guard that exits through that snapshot to a block with register arguments (`aot::Block::args`), which the guard's exit sets from these values (no code where it stands).";
    TCallAot "tcall.aot" 0 None [GUARD | STORE] "Tail-call compiled function `k & 0xffffffff` with the `k >> 48` slots from `(k >> 32) & 0xffff`, reusing the frame (as `tcallk`); exits first when the value stack is short or the interrupt flag is set.";
    CallAotKv "call.aot.v" 0 None [GUARD | STORE] "As `call.aot`, for a `call` whose function value is known at compile time to be function `k & 0xffffffff` (its slot loaded in the same block by `loadfn` or from a global that always holds it): the caller resumes after the `call`.";
    CallAotInd "call.aot.ind" 0 None [GUARD | STORE] "Call the function value in slot `k & 0xffff` (a FUNC value or a closure object) natively with the `(k >> 32) & 0xffff` arguments from slot `(k >> 16) & 0xffff`, result to slot `k >> 48`, when its function is compiled whole and takes exactly that many arguments (frame closure: the value itself); exits at the call instruction the snapshot names (before the push) for any other value or function, or when the value, frame or native stack is short.";
    TCallAotInd "tcall.aot.ind" 0 None [GUARD | STORE] "Tail-call the function value in slot `k & 0xffff` with the `k >> 32` slots from `(k >> 16) & 0xffff`, reusing the frame (as `tcall`), under the conditions of `call.aot.ind`; exits first when they fail, the value stack is short or the interrupt flag is set.";
    EnvSlot "env.slot" 0 None [LOAD | STORE] "Frame slot `k >> 32` := capture `k & 0xffffffff` of the running closure (the closure object of the frame's record), the whole value.";
    SMove "smove" 0 None [STORE] "Move the `k >> 16` slots from slot `k & 0xffff` down to slot 0 (a self tail call's arguments).";
    RetSlot "ret.slot" 0 None [GUARD | STORE] "Return the value in slot `k & 0xffff` (unit when bit 32 is set) natively in `rax`/`rdx` (and the `ret`'s offset in `ecx` when the function has no returns-table row), the frame left for the caller (or the trampoline) to pop.";
    RetVal "ret.val" 1 None [GUARD | STORE] "As `ret.slot`, returning a (an i64, f64 or bool, or an object's address) from its register, its slot `k & 0xffff` not written (a `reti`'s constant when bit 32 is set: no slot); a function whose every return is a `ret.val` of one kind returns no tag word in `rdx` (the returns table gives it); its function's returns-table row, when it has one, names a `ret` of a slot, where the trampoline writes the value before it leaves to the interpreter at that `ret`.";
    AGetSlot "aget.slot" 2 None [GUARD | LOAD | STORE] "Frame slot `k` := element b of the array a, the whole value (its kind unknown); b was guarded to be in range (`guard.index`).";
    GCopy "gcopy" 0 None [LOAD | STORE] "Frame slot `k & 0xffff` := the whole value of global `k >> 16`.";
    FieldSlot "field.slot" 0 None [GUARD | LOAD | STORE] "Frame slot `(k >> 32) & 0xffff` := field `(k >> 16) & 0xffff` of the data value in slot `k & 0xffff`, the whole value; guarded: a data object with that field (bits 48, 49, 50 of `k`, set where the slot's kind proves it: its kind, its field count, its tag not checked).";
    FieldPtr "field.ptr" 1 None [LOAD | STORE] "Frame slot `k >> 32` := field `k & 0xffffffff` of the data object a (its kind and field count guarded before), the whole value: `field.slot` with the object in a register.";
    ASetSlot "aset.slot" 2 None [GUARD | LOAD | STORE] "Element b of the array a (b in range: guarded before) := the whole value in slot `k`, through the write barrier (when the value is a young object and a an old one not remembered, a joins the remembered set through the runtime, `jit_remember`, first). `tw` bit 0 ([`ASET_SLOT_DEAD`]): slot `k` is dead after the store (no instruction reads it before one writes it on every path from there), so code that holds the value elsewhere need not have written it (`aot::emit::Deferred`).";
    SetFieldSlot "setfield.slot" 0 None [GUARD | LOAD | STORE] "Field `(k >> 16) & 0xffff` of the data value in slot `k & 0xffff` := the whole value in slot `(k >> 32) & 0xffff`, through the write barrier as `aset.slot`; guarded as `field.slot` (with its flags).";
    InitSlot "init.slot" 1 None [LOAD | STORE] "Field `k >> 16` of the object a, just allocated (`new`: young, so no barrier) := the whole value in slot `k & 0xffff`.";
    CtorIdx "ctor.index" 0 I64 [GUARD | LOAD] "The constructor index of the value in slot `k & 0xffff_ffff` (a field-less constructor's payload, a DATA object's header tag); exits when it is neither. Bit 32 of `k`: the slot is known to hold one of the two (an object there is a DATA object). Bit 33: the slot holds an `Option` value of a program type (`None`'s immediate or a `Some` object), so a fused test of index 0 or 1 compares the tag word alone.";
    IsNil "list.isnil" 0 Bool [GUARD | LOAD] "Whether the list in slot `k & 0xffff_ffff` is empty (the field-less constructor of List) rather than a cons cell; exits when it is no list. Bit 32 of `k` as `ctor.index`'s.";
    HeadSlot "head.slot" 0 None [GUARD | LOAD | STORE] "Frame slot `k >> 32` := field `(k >> 16) & 1` (head, tail) of the cons cell in slot `k & 0xffff`, the whole value; exits when it is no cons cell.";
    HGetI "home.get.i64" 0 I64 [LOAD] "The i64 of frame slot `k` from its home register (a slot kept in a register across the blocks of a loop, `aot::HomeLoop`).";
    HGetF "home.get.f64" 0 F64 [LOAD] "The f64 of frame slot `k` from its home register.";
    HGetB "home.get.bool" 0 Bool [LOAD] "The bool of frame slot `k` from its home register.";
    HGetP "home.get.ptr" 0 Ptr [LOAD] "The address of the array in frame slot `k` from its home register: a slot the loop never writes, loaded and checked to hold an array once where the loop is entered (a loop-invariant array; nothing collects inside such a loop, so the address holds).";
    HGetC "home.get.obj" 0 Ptr [GUARD | LOAD] "The address in frame slot `k & 0xffff` from its carried register (a parameter of a self-tail-call loop kept in a register across the back-edge as well as in its slot, `aot::FuncIr::carried`), the slot's tag guarded to be OBJ (in memory, which holds the same value) unless bit 32 of `k` is set (proven a data object).";
    HSet "home.set" 1 None [STORE] "Frame slot `k`'s home register := a (the slot in memory is written when the loop is left).";
    Room "call.room" 0 None [GUARD | LOAD] "Leave through the snapshot unless a frame of `k` slots from slot 0 and one more frame record fit the value and frame stacks: the limit check of an inlined call (`aot::Leaf`), made where the interpreter's call would find them full.";
    CallC "call.c" 0 None [STORE | NOSYNC] "Call the C function `Trace::ccalls[k]` directly: its arguments read from their slots (the trace guarded their tags before), the result stored to its slot with its tag. Every value is reloaded after it.";
    Phi "phi" 1 Val [NOSYNC] "The loop-carried value of a slot (a peeled trace, `jit/src/opt.rs`): `a` (its value after the pre-roll) copied, before the loop, into a register of its own, which the back-edge overwrites with the value of the iteration that ends ([`Trace::phis`]); its tag word `tw` is `a`'s.";
    CallInsn "call.insn" 0 None [GUARD | STORE] "Run the bytecode instruction `Trace::helpers[k]` with the VM's helper (`hashvm_vm::jit::jit_call_insn`): every value is in its slot before, and reloaded after (a collection may move objects); exits through the snapshot when the helper does not answer OK, without side traces.";
    // Coverage across frames (returns below the trace's frame, linking, tail calls).
    RetDown "ret.down" 0 None [GUARD | STORE] "A return from the frame the trace runs in to its caller, which the trace goes on in: guard the caller's record (under the innermost) is a NORMAL frame of function `k & 0xffffffff` resuming at `k >> 32`, and the innermost record's result slot is `tw & 0xffff` and its base the caller's plus `tw >> 16`; pop the innermost record and move the trace's slot 0 down to the caller's (every later slot number is the caller's). The recorder stores the result next.";
    Link "link" 0 None [GUARD | NOSYNC] "Leave through the snapshot unconditionally: it is the anchor of a loop with a compiled trace (`Trace::link`), which the hook enters at once, the snapshot's inlined frames pushed first.";
    TailBase "tcall.base" 0 None [STORE] "A tail call of function `k` from the frame the trace runs in (`tcallk` at the trace's level): its frame record becomes function `k`'s (ip 0, closure its FUNC value); the recorder moves the arguments and clears the other slots.";
    // Arrays of a flat elements kind (`hashvm_vm::heap::Elems`): 8-byte payloads.
    AGetFlat "aget.flat" 2 Val [GUARD | LOAD | NOSYNC] "Element b of the flat array a (its elements kind guarded before, `guard.meta`): its 8-byte payload, typed by the tag word `tw`; b guarded to be in range.";
    AGetAny "aget.any" 2 Val [GUARD | LOAD] "Element b of the array a whose elements kind is known only at run time (whole-function code), typed by the tag word `tw` (i64, f64, bool): from a general array when the element has that tag, from a flat array when that tag is its kind; exits otherwise (another tag or kind, a converted array); b was guarded to be in range (`guard.index`).";
    // Calls into other functions' trees.
    CallTree "call.tree" 0 None [GUARD | LOAD | STORE] "Call the function-entry tree `Trace::tree_calls[k]` of another function natively: write the frame records of the inlined frames live at the call (as an exit would push them), push the callee's (as `call.rec`), call the tree's code, and when it returns pop the callee's record, store its result (in rax/rdx from its `ret.rec`) into the caller's slot and pop the inlined frames' records; exits (before anything is written) when the value stack, the frame records or the native stack budget is short. Every value is reloaded after it.";
}

impl IrOp {
    /// Whether the code for this operation reads what only a sync of the VM's
    /// register block makes exact (`frame_top`, `frame_limit`, `heap_ptr`,
    /// `heap_limit`), or calls the VM: a trace without such an operation is
    /// entered without syncing the block. The table's `NOSYNC` flag says which do
    /// not (an operation added without it needs the sync).
    pub const fn needs_sync(self) -> bool {
        self.flags() & flag::NOSYNC == 0
    }

    /// Whether the operation runs other code that may collect or use the machine
    /// registers: a callee (`call.rec`, a tree, a native call of the ahead-of-time
    /// compiler) or the VM's helper (`call.insn`, `call.c`). No register survives
    /// one, and a collection may have moved what the slots point to. (The `call.aot`
    /// operations occur only in the ahead-of-time compiler's functions, never in a
    /// recorded trace.)
    pub const fn is_call(self) -> bool {
        matches!(
            self,
            IrOp::CallRecK
                | IrOp::CallRecSelf
                | IrOp::CallTree
                | IrOp::CallInsn
                | IrOp::CallC
                | IrOp::CallAotK
                | IrOp::CallAotSelf
                | IrOp::CallAotKv
                | IrOp::CallAotInd
        )
    }
}

/// A reference to an instruction's result (its index in [`Trace::ins`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref(pub u32);

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// One instruction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ins {
    /// The operation.
    pub op: IrOp,
    /// First operand (if `op.nargs() >= 1`).
    pub a: Ref,
    /// Second operand (if `op.nargs() == 2`).
    pub b: Ref,
    /// A constant's bits or a slot number.
    pub k: u64,
    /// For a guard: the snapshot its exit restores.
    pub snap: u32,
    /// For a [`IrType::Val`]-result operation: the tag word (`tag | aux << 32`) its
    /// value has (its guard checks it); for `new`, the object's second header word
    /// (its length); 0 otherwise.
    pub tw: u64,
}

/// Where the closure of an inlined frame comes from when an exit materialises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosureSrc {
    /// The FUNC value of this function (`callk`, or `call` of a FUNC value).
    Func(u32),
    /// The value in this slot (relative to the trace's frame) when the exit is taken:
    /// the closure a `call` named, in a caller's slot the callee cannot write.
    Slot(u32),
    /// The closure of the frame the trace runs in (`callself` there).
    Base,
}

/// One frame a trace inlined, as a snapshot describes it: an exit pushes it on the
/// VM's frame stack exactly as the interpreter's call would have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapFrame {
    /// The callee.
    pub func: u32,
    /// Its slot 0, relative to the slot 0 of the trace's frame.
    pub base: u32,
    /// The caller's slot that receives the result.
    pub ret: u16,
    /// Where the caller resumes when the callee returns (just after the call).
    pub resume: u32,
    /// The frame's closure.
    pub closure: ClosureSrc,
}

/// The interpreter state a guard's exit restores: the frames the trace inlined at
/// that point (outermost first), the instruction to resume at in the innermost, and
/// the frame slots whose values live in the trace (every other slot is already in
/// memory).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Byte offset, in the innermost frame's function (the trace's function when
    /// `frames` is empty), of the instruction the interpreter resumes at (it
    /// re-executes the instruction whose guard failed).
    pub resume_ip: u32,
    /// `(slot, value)` pairs written back before resuming.
    pub entries: Vec<(u16, Ref)>,
    /// The inlined frames live at the guard, outermost first.
    pub frames: Vec<SnapFrame>,
    /// Set when the frame the trace runs in is no longer the one it was entered in
    /// (it returned below it, `ret.down`, or tail-called there, `tcall.base`): the
    /// function that frame runs now. A state that never goes back to the root's loop
    /// header: a side trace from here ends in a link or an exit.
    pub displaced: Option<u32>,
    /// The sunk objects (`new.sink`) this exit materialises, in allocation order,
    /// each with its field values as the trace had them at the exit: what entries
    /// naming a `new.sink` (and fields naming another) stand for. Empty unless
    /// allocation sinking (`jit/src/opt.rs`, `sink_allocations`) ran.
    pub sunk: Vec<SunkObject>,
}

/// An object allocation sinking removed from the code, as one exit rebuilds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SunkObject {
    /// Its `new.sink` (header words in `k` and `tw`).
    pub obj: Ref,
    /// Each field's value at the exit: a constant, another sunk object of the same
    /// snapshot, or a value the exit writes to a slot (an entry of the snapshot).
    pub fields: Vec<Ref>,
}

/// One bytecode instruction a trace runs through the VM's helper (`call.insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperCall {
    /// The function holding the instruction (the innermost frame's).
    pub func: u32,
    /// The instruction's byte offset.
    pub ip: u32,
    /// Slot 0 of the frame it runs in, counted from the trace frame's slot 0.
    pub base: u32,
    /// One past the last live slot of the frames the trace runs in there (its own and
    /// the inlined ones), from the trace frame's slot 0: a collection in the helper
    /// roots them.
    pub live: u32,
}

/// The result of a direct C call (`call.c`), as the interpreter converts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CRet {
    /// An `int64_t` in `rax`: an i64.
    I64,
    /// An `int` in `eax`, sign-extended: an i64.
    I32,
    /// A `double` in `xmm0`: an f64.
    F64,
    /// Nothing: unit.
    Unit,
}

/// A foreign function a trace calls directly (`call.c`): the fixed calling scheme of
/// `ffi.call` (SPEC.md §2.7), integer-class arguments in order in `rdi, rsi, rdx, rcx,
/// r8, r9`, `f64`s in `xmm0`-`xmm7`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CCall {
    /// The function's address (`dlsym`'s).
    pub addr: u64,
    /// The slots (from the trace frame's slot 0) of the i64 arguments, in order.
    pub ints: Vec<u32>,
    /// The slots of the f64 arguments, in order.
    pub floats: Vec<u32>,
    /// The result's conversion.
    pub ret: CRet,
    /// The slot the result goes to.
    pub dst: u32,
}

/// A recorded, simplified loop trace.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The loop body, in execution order.
    pub ins: Vec<Ins>,
    /// The snapshots guards refer to. Snapshot 0 is the loop header's state (the
    /// anchor), where an interrupt exit resumes.
    pub snaps: Vec<Snapshot>,
    /// Slots the back-edge writes before the next iteration: `(slot, value)`.
    pub tail: Vec<(u16, Ref)>,
    /// Slots, from the trace frame's slot 0, that the trace may touch (its inlined
    /// frames included): the value stack must hold them before the trace is entered.
    pub extent: u32,
    /// The most frames the trace inlines at once (an exit may push that many).
    pub depth: u32,
    /// For a function-entry trace (and its side traces): the function, its arity and
    /// frame size (what `call.rec` pushes).
    pub entry: Option<(u32, u16, u16)>,
    /// The trace ends in `ret.rec` (a native return), not at the loop's back-edge.
    pub returns: bool,
    /// The trace allocates (`new`): the heap's bump pointer moves while it runs.
    pub allocates: bool,
    /// The instructions its `call.insn`s run (indexed by their `k`).
    pub helpers: Vec<HelperCall>,
    /// The C functions its `call.c`s call (indexed by their `k`).
    pub ccalls: Vec<CCall>,
    /// For a peeled loop trace (`jit/src/opt.rs`): the first instruction of the loop
    /// body, where the back-edge jumps; the instructions before it (the pre-roll, one
    /// iteration as recorded, and the `phi`s) run once per entry. `None`: the whole
    /// list is the loop body.
    pub loop_start: Option<u32>,
    /// For a peeled trace: `(phi, value)`: the back-edge moves each value (computed by
    /// the iteration that ends) into its `phi`'s register, in parallel.
    pub phis: Vec<(Ref, Ref)>,
    /// For a peeled trace: the snapshot the back-edge's interrupt poll exits through
    /// (the loop header, with the loop-carried slots in their `phi`s).
    pub loop_snap: u32,
    /// The trace frame's size (its function's slot count; 0: unknown): where no
    /// inlined frame is live, the slots from there up belong to no frame (the
    /// interpreter's next call clears them before anything reads them).
    pub frame_slots: u32,
    /// Bytecode instructions the recorder followed for one pass over the trace (one
    /// iteration of a loop, one activation of a function-entry trace, a side trace's
    /// path): `--jit-stats` counts them per completed pass.
    pub insns: u32,
    /// The trace ends in a `link` (its snapshot) to the loop trace at this anchor,
    /// not at its own loop's back-edge.
    pub link: Option<(u32, hashvm_vm::jit::Anchor)>,
    /// The trace pops frame records (`ret.down`): its entries commit the frame count.
    pub pops: bool,
    /// The other functions' trees its `call.tree`s call (indexed by their `k`).
    pub tree_calls: Vec<TreeCall>,
    /// For a side trace of a function-entry tree: the slots above the trace frame
    /// that hold values valid for the collector where it starts, as its parent's
    /// exit left them (`x64::valid_at_exit`): the start of `x64::Valid`.
    pub valid_in: Vec<u64>,
    /// For a side trace: what its parent's guards proved of the frame's slots (from
    /// the trace frame's slot 0) where its exit leaves, memory as the exit's stub
    /// leaves it when it jumps here (`x64::known_at_exit`): its own loads and header
    /// guards of those slots need no check before anything writes them.
    pub known_in: Vec<(u64, SlotProof)>,
}

/// What guards proved of one frame slot's value, as memory holds it at a point of a
/// trace: the guards before a function-entry root's fast entry, of each argument
/// (`x64::FastEntry`: a `call.rec` calls that entry only when its own trace proves
/// the same of the value it stored there), and a side trace's parent's guards, of the
/// slots where its exit leaves ([`Trace::known_in`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotProof {
    /// An i64, f64 or bool: the guarded load (`sload.i64`, `sload.f64`, `sload.bool`).
    Typed(IrOp),
    /// An object (`sload` with the tag word OBJ); of header kind `kind` when given
    /// (`guard.kind`), and of type id `meta` when given (`guard.meta` of a data
    /// object: a header word nothing changes, unlike an array's elements kind, which
    /// a conversion does, so no other kind's meta is part of a proof).
    Obj {
        /// The header's kind.
        kind: Option<u8>,
        /// A data object's type id.
        meta: Option<u32>,
    },
}

/// A call of another function's function-entry tree from a trace (`call.tree`): the
/// callee runs natively, as a `call.rec` runs the trace's own function, and returns to
/// the calling trace; exits inside it leave from there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeCall {
    /// The called function.
    pub func: u32,
    /// The JIT's index of the called tree's root trace (the hook's numbering, from 0).
    pub tree: u32,
    /// The callee's arity and slot count (its slots past the arguments are cleared).
    pub arity: u16,
    pub nslots: u16,
    /// The first argument's slot (the callee's slot 0), from the trace frame's slot 0.
    pub a0: u32,
    /// The slot of the calling frame (the innermost inlined frame, or the trace's)
    /// that receives the result.
    pub dst: u16,
    /// Where the calling frame resumes (just after the call).
    pub resume: u32,
    /// The callee's frame closure is its FUNC value (`callk`, `call` of a FUNC value)
    /// rather than a copy of the caller's closure (`callself`).
    pub closure_is_func: bool,
    /// The address the code calls: the called tree's entry (set by the hook when it
    /// compiles the trace; the recorder leaves 0).
    pub addr: usize,
}

impl Trace {
    /// Whether the trace must be entered with the VM's register block synced (see
    /// [`IrOp::needs_sync`]; function-entry traces push frame records).
    pub fn needs_sync(&self) -> bool {
        // A heap store reads the nursery's bounds only for its write barrier, which
        // only the store of an object needs.
        self.entry.is_some()
            || self.ins.iter().any(|i| {
                i.op.needs_sync() && !(i.op == IrOp::HStore && self.ty(i.b) != IrType::Ptr)
            })
    }

    /// The bits of `r` when it is a number or bool constant (`kint`, `kf64`, `kbool`):
    /// what the builder folds with, and what the backend rematerialises instead of
    /// spilling.
    pub fn konst(&self, r: Ref) -> Option<u64> {
        let i = self.ins.get(r.0 as usize)?;
        matches!(i.op, IrOp::KInt | IrOp::KF64 | IrOp::KBool).then_some(i.k)
    }

    /// The type of a reference's value: an operation of result `Val` (a load guarded
    /// on a tag, a constant) is typed by its tag word.
    pub fn ty(&self, r: Ref) -> IrType {
        let i = &self.ins[r.0 as usize];
        match i.op.result() {
            IrType::Val => type_of_tw(i.tw),
            t => t,
        }
    }

    /// The tag word (`tag | aux << 32`) of a reference's value, as stored in a slot or
    /// a field.
    pub fn tagword(&self, r: Ref) -> u64 {
        let i = &self.ins[r.0 as usize];
        match i.op.result() {
            IrType::I64 => Tag::I64 as u64,
            IrType::F64 => Tag::F64 as u64,
            IrType::Bool => Tag::BOOL as u64,
            IrType::Ptr => Tag::OBJ as u64,
            IrType::Val => i.tw,
            IrType::None => Tag::UNIT as u64,
        }
    }
}

/// The most elements an array of elements kind `elems` may have for `new.array` to
/// allocate it inline: its object must be one the collector places in eden at any
/// nursery size (`layout::young_at_any_nursery`), as the interpreter's `anew` would.
pub fn max_inline_array(elems: u32) -> u64 {
    let per = if elems == layout::ELEMS_GENERAL {
        16
    } else {
        8
    };
    let size = |n: usize| layout::FIELDS + (n * per).div_ceil(16) * 16;
    let mut n = 0;
    while layout::young_at_any_nursery(size(n + 1)) {
        n += 1;
    }
    n as u64
}

/// The tag word of a value: its tag, and its aux (a field-less constructor's type id)
/// in the high half.
pub fn tagword_of(v: Value) -> u64 {
    v.tag() as u64 | (v.aux() as u64) << 32
}

/// The IR type of a value with tag word `tw`.
pub fn type_of_tw(tw: u64) -> IrType {
    match tw as u32 {
        Tag::I64 => IrType::I64,
        Tag::F64 => IrType::F64,
        Tag::BOOL => IrType::Bool,
        Tag::OBJ => IrType::Ptr,
        _ => IrType::Val,
    }
}

impl fmt::Display for Trace {
    /// The dump `--jit-dump` prints: one instruction per line, guards with their
    /// snapshot, then the snapshots and the loop's write-back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, ins) in self.ins.iter().enumerate() {
            if self.loop_start == Some(i as u32) {
                writeln!(f, "---- loop")?;
            }
            write!(f, "{:>4} {:<10}", Ref(i as u32), ins.op.mnemonic())?;
            match ins.op {
                IrOp::KInt => write!(f, " {}", ins.k as i64)?,
                IrOp::KF64 => write!(f, " {}", f64::from_bits(ins.k))?,
                IrOp::KBool => write!(f, " {}", ins.k != 0)?,
                IrOp::SLoadI | IrOp::SLoadF | IrOp::SLoadB => write!(f, " r{}", ins.k)?,
                IrOp::SLoad => write!(f, " r{} tw {:#x}", ins.k, ins.tw)?,
                IrOp::GLoad => write!(f, " g{} tw {:#x}", ins.k, ins.tw)?,
                IrOp::FrameClo => write!(f, " tw {:#x}", ins.tw)?,
                IrOp::KVal => write!(f, " {:#x} tw {:#x}", ins.k, ins.tw)?,
                IrOp::FLoad | IrOp::FLoadK => write!(f, " {}.{} tw {:#x}", ins.a, ins.k, ins.tw)?,
                IrOp::ALoad | IrOp::AGetFlat => {
                    write!(f, " {}[{}] tw {:#x}", ins.a, ins.b, ins.tw)?
                }
                IrOp::GKind | IrOp::GMeta | IrOp::GLen => write!(f, " {}, {}", ins.a, ins.k)?,
                IrOp::HStore if ins.tw == HSTORE_FLAT || ins.tw == HSTORE_ELEM => {
                    write!(f, " {}.flat[{}] := {}", ins.a, Ref(ins.k as u32), ins.b)?
                }
                IrOp::HStore if ins.tw == HSTORE_PAYLOAD => {
                    write!(f, " {}.[{}] := {} payload", ins.a, Ref(ins.k as u32), ins.b)?
                }
                IrOp::HStore => write!(f, " {}.[{}] := {}", ins.a, Ref(ins.k as u32), ins.b)?,
                IrOp::New | IrOp::NewSunk => write!(f, " {:#x} len {}", ins.k, ins.tw)?,
                IrOp::NewArr => write!(f, " {:#x} len {} fill {}", ins.k, ins.a, ins.b)?,
                IrOp::NewArrSlot => write!(f, " len {} fill r{}", ins.a, ins.k)?,
                IrOp::HStoreSunk => write!(f, " {}.[{}] := {}", ins.a, Ref(ins.k as u32), ins.b)?,
                IrOp::SStore => write!(f, " r{} := {}", ins.k, ins.a)?,
                IrOp::SClear | IrOp::SUnit => {
                    write!(f, " r{}", ins.k)?;
                    if ins.op == IrOp::SClear && ins.tw & 1 != 0 {
                        write!(f, " unread")?;
                    }
                }
                IrOp::GLoadI | IrOp::GLoadF | IrOp::GLoadB => write!(f, " g{}", ins.k)?,
                IrOp::CallRecK | IrOp::CallRecSelf => write!(
                    f,
                    " r{} := f(r{}..) resume @{}",
                    (ins.k >> 16) & 0xffff,
                    ins.k & 0xffff,
                    ins.k >> 32
                )?,
                IrOp::GFunc | IrOp::GClosure => {
                    write!(f, " r{} is f{}", ins.k & 0xffff_ffff, ins.k >> 32)?
                }
                IrOp::SCopy => write!(f, " r{} := r{}", ins.k & 0xffff, ins.k >> 16)?,
                IrOp::RetDown => write!(
                    f,
                    " to f{} @{} (result r{}, base -{})",
                    ins.k & 0xffff_ffff,
                    ins.k >> 32,
                    ins.tw & 0xffff,
                    ins.tw >> 16
                )?,
                IrOp::TailBase => write!(f, " f{}", ins.k)?,
                IrOp::GCopy => write!(f, " r{} := g{}", ins.k & 0xffff, ins.k >> 16)?,
                IrOp::CallC => {
                    if let Some(c) = self.ccalls.get(ins.k as usize) {
                        write!(
                            f,
                            " r{} := 0x{:x}(i64 r{:?}, f64 r{:?}) {:?}",
                            c.dst, c.addr, c.ints, c.floats, c.ret
                        )?
                    }
                }
                IrOp::CallTree => {
                    if let Some(c) = self.tree_calls.get(ins.k as usize) {
                        write!(
                            f,
                            " r{} := f{}(r{}..) tree {} resume @{}",
                            c.dst,
                            c.func,
                            c.a0,
                            c.tree + 1,
                            c.resume
                        )?
                    }
                }
                IrOp::CallInsn => {
                    if let Some(h) = self.helpers.get(ins.k as usize) {
                        write!(
                            f,
                            " f{} @{} (frame r{}, live to r{})",
                            h.func, h.ip, h.base, h.live
                        )?
                    }
                }
                _ => {
                    if ins.op.nargs() >= 1 {
                        write!(f, " {}", ins.a)?;
                    }
                    if ins.op.nargs() == 2 {
                        write!(f, ", {}", ins.b)?;
                    }
                }
            }
            if ins.op.flags() & flag::GUARD != 0 {
                write!(f, "  -> snap {}", ins.snap)?;
            }
            writeln!(f)?;
        }
        for (i, s) in self.snaps.iter().enumerate() {
            write!(f, "snap {i}")?;
            if let Some(func) = s.displaced {
                write!(f, " (in f{func})")?;
            }
            for fr in &s.frames {
                write!(f, " [@{} f{} base {}]", fr.resume, fr.func, fr.base)?;
            }
            write!(f, " @{}:", s.resume_ip)?;
            for (slot, r) in &s.entries {
                write!(f, " r{slot}={r}")?;
            }
            // A sunk object, as LuaJIT's dumps mark them: `{fields}` after its ref.
            for o in &s.sunk {
                write!(f, " {}{{", o.obj)?;
                for (i, v) in o.fields.iter().enumerate() {
                    write!(f, "{}{v}", if i == 0 { "" } else { " " })?;
                }
                write!(f, "}}")?;
            }
            writeln!(f)?;
        }
        if let Some((k, at)) = self.link {
            writeln!(f, "link: snap {k} -> {at:?}")?;
        }
        write!(f, "loop:")?;
        for (slot, r) in &self.tail {
            write!(f, " r{slot}={r}")?;
        }
        for (p, v) in &self.phis {
            write!(f, " {p}<-{v}")?;
        }
        writeln!(f)
    }
}

/// Why a trace cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// A guard folded to false: the trace would always exit there.
    AlwaysExits(u32),
    /// An operand of the wrong type (a recorder bug, reported instead of miscompiled).
    TypeMismatch(IrOp),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::AlwaysExits(s) => write!(f, "a guard always fails (snapshot {s})"),
            BuildError::TypeMismatch(op) => {
                write!(f, "operand types do not fit `{}`", op.mnemonic())
            }
        }
    }
}

/// Whether the builder shares equal instances of `op` (CSE).
fn shared(op: IrOp) -> bool {
    // Loads of one slot return one value (nothing in a trace stores to a slot
    // before the back-edge); pure operations are shared likewise. Guards are
    // deduplicated too: a second identical guard can never fail.
    // Element loads can see stores, and stores must all happen: neither is shared.
    !matches!(
        op,
        IrOp::AGetI
            | IrOp::CallRes
            | IrOp::ArgSet
            | IrOp::CallRecK
            | IrOp::CallRecSelf
            | IrOp::CallTree
            | IrOp::RetRec
            | IrOp::AGetF
            | IrOp::AGetB
            | IrOp::FLoad
            | IrOp::FLoadK
            | IrOp::ALoad
            | IrOp::AGetFlat
            | IrOp::AGetAny
            | IrOp::HStore
            | IrOp::New
            | IrOp::NewArr
            | IrOp::NewArrSlot
            | IrOp::SStore
            | IrOp::SStoreP
            | IrOp::SClear
            | IrOp::SUnit
            | IrOp::GFunc
            | IrOp::GClosure
            | IrOp::CallInsn
            | IrOp::CallC
            | IrOp::SCopy
            | IrOp::GCopy
            | IrOp::Phi
            | IrOp::RetDown
            | IrOp::Link
            | IrOp::TailBase
    )
}

/// Emits a trace, folding and deduplicating as it goes.
#[derive(Clone, Default)]
pub struct TraceBuilder {
    trace: Trace,
    /// (op, a, b, k, tw) → the instruction that already computes it.
    cse: FxHashMap<(IrOp, Ref, Ref, u64, u64), Ref>,
    /// The function of the frame the trace runs in, once it is not the entry frame
    /// (see [`Snapshot::displaced`]).
    displaced: Option<u32>,
    /// Slots the trace's slot 0 moved down by (`ret.down`) since its entry: extents
    /// are counted from the entry frame's slot 0, which the VM reserves room above.
    shift: u32,
    /// Load forwarding ([`TraceBuilder::set_forwarding`]): a heap load's key (as in
    /// `cse`) → the value the heap holds there, from an earlier load or store that no
    /// store since may have overwritten.
    mem: FxHashMap<(IrOp, Ref, Ref, u64, u64), Ref>,
    forward: bool,
    /// The largest `k` a `guard.len` of each object has guarded.
    lens: FxHashMap<Ref, u64>,
    /// What the guards say of the objects' identities, for alias analysis.
    ids: Identities,
}

/// The heap loads load forwarding shares: field and element loads.
pub(crate) fn heap_load(op: IrOp) -> bool {
    matches!(
        op,
        IrOp::FLoad
            | IrOp::FLoadK
            | IrOp::ALoad
            | IrOp::AGetI
            | IrOp::AGetF
            | IrOp::AGetB
            | IrOp::AGetFlat
    )
}

/// The operation a heap load is remembered under in the load table: `fload.known` is
/// `fload` (one field's value, whichever load read it: the two differ only in the
/// tag compare the known kind makes unnecessary), every other itself.
fn mem_op(op: IrOp) -> IrOp {
    if op == IrOp::FLoadK {
        IrOp::FLoad
    } else {
        op
    }
}

/// What the trace's guards say of which objects are which, for [`differ`].
#[derive(Clone, Default)]
struct Identities {
    /// The kind (`guard.kind`) and the meta word (`guard.meta`) guarded of each
    /// object: two objects of different kinds, or of one kind and different meta
    /// words, are different objects. Forgotten at a real call (an array's elements
    /// kind, its meta word, changes when the VM converts it).
    kinds: FxHashMap<Ref, u64>,
    metas: FxHashMap<Ref, u64>,
    /// Pairs of objects (the lower `Ref` first) a `ne.i64` guard proved different
    /// ([`TraceBuilder::guard_distinct`]). Never forgotten: two values the trace
    /// holds stay two objects, whatever a call or a collection does.
    distinct: FxHashSet<(Ref, Ref)>,
}

/// Whether the objects `x` and `y` are provably different: one allocated by the
/// trace (`new`) after the other's value existed, or guarded different (`ne.i64` on
/// the two), or guarded to different kinds, or to one kind and different meta words
/// (a DATA object's type id, an array's elements kind).
fn differ(t: &Trace, ids: &Identities, x: Ref, y: Ref) -> bool {
    let fresh = |r: Ref| t.ins.get(r.0 as usize).is_some_and(|i| i.op == IrOp::New);
    if (fresh(x) && y < x) || (fresh(y) && x < y) {
        return true;
    }
    if ids.distinct.contains(&(x.min(y), x.max(y))) {
        return true;
    }
    let (kinds, metas) = (&ids.kinds, &ids.metas);
    match (kinds.get(&x), kinds.get(&y)) {
        (Some(a), Some(b)) if a != b => return true,
        (Some(_), Some(_)) => {}
        _ => return false,
    }
    matches!((metas.get(&x), metas.get(&y)), (Some(a), Some(b)) if a != b)
}

/// An i64 index as a base value plus a constant (`NONE` and the value for a
/// constant; `x + c` and `x - c` split; anything else itself plus 0): two indexes
/// with the same base and different constants are different.
fn index_parts(t: &Trace, r: Ref) -> (Ref, i64) {
    let Some(ins) = t.ins.get(r.0 as usize) else {
        return (r, 0);
    };
    let konst = |x: Ref| {
        t.ins
            .get(x.0 as usize)
            .filter(|i| i.op == IrOp::KInt)
            .map(|i| i.k as i64)
    };
    match ins.op {
        IrOp::KInt => (NONE, ins.k as i64),
        IrOp::AddI => match (konst(ins.a), konst(ins.b)) {
            (_, Some(c)) => (ins.a, c),
            (Some(c), _) => (ins.b, c),
            _ => (r, 0),
        },
        IrOp::SubI => match konst(ins.b) {
            Some(c) => (ins.a, c.wrapping_neg()),
            None => (r, 0),
        },
        _ => (r, 0),
    }
}

/// The `tw` of an `hstore` into a flat array (8-byte payloads, no barrier).
pub const HSTORE_FLAT: u64 = 1;
/// The `tw` bit of an `aset.slot` whose value slot is dead after the store: the
/// bytecode reads it again on no path before writing it.
pub const ASET_SLOT_DEAD: u64 = 1;
/// The `tw` of an `hstore` into an array whose elements kind is known only at run
/// time (the AOT compiler's `aset`): general or the value's flat kind, else exit.
pub const HSTORE_ELEM: u64 = 2;

/// The `tw` of an `hstore` of a record's field that holds a value of the stored
/// value's tag already (an i64, f64 or bool a load of the trace guarded there, or a
/// store wrote, with no store since that may have written another): the payload
/// alone. n-body writes each velocity once a pair: the tag's store, one instruction
/// of six, wrote the word that was there.
pub const HSTORE_PAYLOAD: u64 = 3;

/// The operand of an operation that has fewer than two.
pub(crate) const NONE: Ref = Ref(u32::MAX);

impl TraceBuilder {
    /// An empty trace whose snapshot 0 resumes at the loop header `anchor_ip`.
    pub fn new(anchor_ip: u32) -> TraceBuilder {
        let mut b = TraceBuilder::default();
        b.trace.snaps.push(Snapshot {
            resume_ip: anchor_ip,
            entries: Vec::new(),
            frames: Vec::new(),
            displaced: None,
            sunk: Vec::new(),
        });
        b
    }

    /// A builder that goes on emitting after the instructions of `t`, sharing with
    /// them (its CSE table rebuilt from them): what loop peeling re-emits the body
    /// through, so that whatever the body computes as the pre-roll did is the
    /// pre-roll's value (`jit/src/opt.rs`). `t` must contain no real call (after one,
    /// nothing before is shared).
    pub(crate) fn resume(t: Trace) -> TraceBuilder {
        let mut cse = FxHashMap::default();
        for (i, ins) in t.ins.iter().enumerate() {
            if shared(ins.op) {
                cse.entry((ins.op, ins.a, ins.b, ins.k, ins.tw))
                    .or_insert(Ref(i as u32));
            }
        }
        let mut b = TraceBuilder {
            trace: TraceBuilder::default().trace,
            cse,
            mem: FxHashMap::default(),
            forward: true,
            lens: FxHashMap::default(),
            ids: Identities::default(),
            // Only loop traces that stay in their frame are resumed (`opt::peel`).
            displaced: None,
            shift: 0,
        };
        // The loads and stores replayed, so that the table holds what it held when the
        // trace was recorded.
        // (`header_fact` reads the types of the trace being replayed.)
        b.trace = t;
        for i in 0..b.trace.ins.len() {
            let ins = b.trace.ins[i];
            if ins.op == IrOp::GLen {
                let max = b.lens.entry(ins.a).or_insert(ins.k);
                *max = (*max).max(ins.k);
            }
            b.header_fact(ins.op, ins.a, ins.b, ins.k);
            if heap_load(ins.op) {
                b.mem
                    .entry((mem_op(ins.op), ins.a, ins.b, ins.k, ins.tw))
                    .or_insert(Ref(i as u32));
            } else if ins.op == IrOp::HStore {
                let t = std::mem::take(&mut b.trace);
                b.store_effect(&t, ins.a, Ref(ins.k as u32), ins.b);
                b.trace = t;
            }
        }
        b
    }

    /// Turns on load forwarding (the recorder's; whole-function code, whose fragments
    /// are blocks of a control-flow graph, does without): a field or element load
    /// of an object and index an earlier load or store reached, with no store between
    /// that may write there, is that earlier value. A store of field `c` (a constant
    /// index) may write field `c` of any object it is not provably different from (an
    /// object allocated in the trace is different from every value older than it); a
    /// store at a variable index, any field or element. A real call forgets all.
    pub fn set_forwarding(&mut self) {
        self.forward = true;
    }

    /// What the store `obj[idx] := v` does to the load table: kills what it may
    /// overwrite, then records `v` as the value there.
    ///
    /// A remembered load of object `o` at index `i` survives the store when `o` and
    /// `obj` are provably different objects ([`TraceBuilder::differ`]: one allocated
    /// by the trace after the other existed, or guarded to different kinds or meta
    /// words: a struct is no array, a flat f64 array no flat i64 array), or when the
    /// indexes provably differ: two constant field indexes, or the same value plus
    /// different constants (`i + 1` is not `i`), as LuaJIT's `aa_ahref` and
    /// `aa_fref` tell them apart.
    fn store_effect(&mut self, t: &Trace, obj: Ref, idx: Ref, v: Ref) {
        let konst = |r: Ref| {
            t.ins
                .get(r.0 as usize)
                .filter(|i| i.op == IrOp::KInt)
                .map(|i| i.k)
        };
        let ids = &self.ids;
        let c = konst(idx);
        let at = index_parts(t, idx);
        self.mem.retain(|&(op, o, i, k, _), _| {
            if o != obj && differ(t, ids, o, obj) {
                return true;
            }
            match (op, c) {
                (IrOp::FLoad, Some(c)) => k != c,
                (IrOp::FLoad, None) => false,
                _ => {
                    let (ib, io) = index_parts(t, i);
                    ib == at.0 && io != at.1
                }
            }
        });
        let tw = t.tagword(v);
        if let Some(c) = c {
            self.mem.insert((IrOp::FLoad, obj, NONE, c, tw), v);
        }
        self.mem.insert((IrOp::ALoad, obj, idx, 0, tw), v);
        // (An object is guarded to one elements kind: only its own kind's loads
        // ever look this up.)
        self.mem.insert((IrOp::AGetFlat, obj, idx, 0, tw), v);
        let typed = match t.ty(v) {
            IrType::I64 => Some(IrOp::AGetI),
            IrType::F64 => Some(IrOp::AGetF),
            IrType::Bool => Some(IrOp::AGetB),
            _ => None,
        };
        if let Some(op) = typed {
            self.mem.insert((op, obj, idx, 0, 0), v);
        }
    }

    /// Emits `op` as recorded (no folding), shared with an equal instruction when the
    /// operation is shared ([`shared`]).
    pub(crate) fn reemit(&mut self, op: IrOp, a: Ref, b: Ref, k: u64, tw: u64, snap: u32) -> Ref {
        self.emit_tw(op, a, b, k, tw, snap)
    }

    /// Emits `op` as it is, never shared (with its tag word).
    pub(crate) fn emit_raw_tw(
        &mut self,
        op: IrOp,
        a: Ref,
        b: Ref,
        k: u64,
        tw: u64,
        snap: u32,
    ) -> Ref {
        let r = Ref(self.trace.ins.len() as u32);
        self.trace.ins.push(Ins {
            op,
            a,
            b,
            k,
            snap,
            tw,
        });
        r
    }

    /// The number of instructions emitted so far.
    pub(crate) fn len(&self) -> usize {
        self.trace.ins.len()
    }

    /// The operations emitted so far, in order.
    pub(crate) fn ops(&self) -> &[Ins] {
        &self.trace.ins
    }

    /// The tag word of a value already emitted.
    pub(crate) fn tagword(&self, r: Ref) -> u64 {
        self.trace.tagword(r)
    }

    /// The bytecode offset snapshot `snap` resumes at.
    pub(crate) fn resume_ip(&self, snap: u32) -> u32 {
        self.trace.snaps[snap as usize].resume_ip
    }

    /// Whether snapshot `snap` resumes inside an inlined frame.
    pub(crate) fn in_inlined(&self, snap: u32) -> bool {
        !self.trace.snaps[snap as usize].frames.is_empty()
    }

    /// Sets bits `m` of the `tw` of the operation already emitted at `r` (a direct
    /// call's slots that it tags before its push, `aot::Tx::tag_in_memory`).
    pub(crate) fn or_tw(&mut self, r: Ref, m: u64) {
        self.trace.ins[r.0 as usize].tw |= m;
    }

    /// The trace built so far, as it is (for passes that set its loop fields).
    pub(crate) fn into_trace(self) -> Trace {
        self.trace
    }

    fn emit(&mut self, op: IrOp, a: Ref, b: Ref, k: u64, snap: u32) -> Ref {
        self.emit_tw(op, a, b, k, 0, snap)
    }

    fn emit_tw(&mut self, op: IrOp, a: Ref, b: Ref, k: u64, tw: u64, snap: u32) -> Ref {
        let shared = shared(op);
        let key = (op, a, b, k, tw);
        if shared {
            if let Some(&r) = self.cse.get(&key) {
                return r;
            }
        }
        self.header_fact(op, a, b, k);
        if op == IrOp::GLen {
            // An object's length never changes: a guard that it has more than k values
            // implies every such guard with a smaller k.
            let max = self.lens.entry(a).or_insert(k);
            if *max > k {
                return NONE;
            }
            *max = k;
        }
        let load = self.forward && heap_load(op);
        let mkey = (mem_op(op), a, b, k, tw);
        if load {
            if let Some(&r) = self.mem.get(&mkey) {
                return r;
            }
        }
        let r = Ref(self.trace.ins.len() as u32);
        self.trace.ins.push(Ins {
            op,
            a,
            b,
            k,
            snap,
            tw,
        });
        if shared {
            self.cse.insert(key, r);
        }
        if load {
            self.mem.insert(mkey, r);
        }
        if self.forward && op == IrOp::HStore {
            let t = std::mem::take(&mut self.trace);
            self.store_effect(&t, a, Ref(k as u32), b);
            self.trace = t;
        }
        r
    }

    fn konst(&self, r: Ref) -> Option<u64> {
        self.trace.konst(r)
    }

    /// The type of a value already emitted.
    pub fn ty(&self, r: Ref) -> IrType {
        self.trace.ty(r)
    }

    /// An i64 constant.
    pub fn kint(&mut self, v: i64) -> Ref {
        self.emit(IrOp::KInt, NONE, NONE, v as u64, 0)
    }

    /// An f64 constant.
    pub fn kf64(&mut self, v: f64) -> Ref {
        self.emit(IrOp::KF64, NONE, NONE, v.to_bits(), 0)
    }

    /// Records a snapshot and returns its number, for the guards that follow.
    pub fn snapshot(&mut self, resume_ip: u32, entries: Vec<(u16, Ref)>) -> u32 {
        self.snapshot_in(resume_ip, entries, &[])
    }

    /// Records a snapshot inside the inlined `frames` (outermost first).
    pub fn snapshot_in(
        &mut self,
        resume_ip: u32,
        entries: Vec<(u16, Ref)>,
        frames: &[SnapFrame],
    ) -> u32 {
        // Snapshot 0 (the anchor, where interrupts exit) is never shared with a
        // guard: a guard's exit may grow a side trace, the interrupt exit may not.
        if let Some(last) = self
            .trace
            .snaps
            .last()
            .filter(|_| self.trace.snaps.len() > 1)
        {
            if last.resume_ip == resume_ip
                && last.entries == entries
                && last.frames == frames
                && last.displaced == self.displaced
            {
                return self.trace.snaps.len() as u32 - 1;
            }
        }
        self.trace.snaps.push(Snapshot {
            resume_ip,
            entries,
            frames: frames.to_vec(),
            displaced: self.displaced,
            sunk: Vec::new(),
        });
        self.trace.snaps.len() as u32 - 1
    }

    /// Slot `slot`'s tag := unit (an inlined frame's unfilled slot); `unread`: no
    /// reader but the collector can tell whether it was cleared (`sclear`'s `tw`
    /// bit 0).
    pub fn sclear(&mut self, slot: u32, unread: bool) {
        self.emit_tw(IrOp::SClear, NONE, NONE, slot as u64, unread as u64, 0);
    }

    /// Slot `slot` := unit.
    pub fn sunit(&mut self, slot: u32) {
        self.emit(IrOp::SUnit, NONE, NONE, slot as u64, 0);
    }

    /// Guards (through `snap`) that slot `slot` holds function `func`: its FUNC value
    /// (`closure == false`) or a closure of it.
    pub fn guard_callee(&mut self, slot: u32, func: u32, closure: bool, snap: u32) {
        let op = if closure { IrOp::GClosure } else { IrOp::GFunc };
        self.emit(op, NONE, NONE, slot as u64 | (func as u64) << 32, snap);
    }

    /// After a real call: no value computed before it is reused after it (registers
    /// do not survive the call; values are reloaded from the slots).
    pub fn barrier(&mut self) {
        self.cse.clear();
        self.forget_memory();
    }

    /// Sends the trace's last operation, when it is a `field.ptr` into slot `from`, to
    /// slot `to` instead; whether it was one. An inlined callee whose last operation
    /// copies a field into the slot it returns writes it straight into the call's
    /// destination (`aot::inline`), where its `ret` would copy it.
    pub(crate) fn redirect_field_ptr(&mut self, from: usize, to: usize) -> bool {
        match self.trace.ins.last_mut() {
            Some(x) if x.op == IrOp::FieldPtr && x.k >> 32 == from as u64 => {
                x.k = (x.k & 0xffff_ffff) | (to as u64) << 32;
                true
            }
            _ => false,
        }
    }

    /// After a frame slot is written in memory (whole-function code's slot copies):
    /// as [`Self::barrier`], so that no later load of a slot reuses an earlier one,
    /// but the index guards stay shared: a guard names registers, not slots, and an
    /// array's length never changes while it lives (a converted array keeps it), so
    /// `a[i] = a[j]; a[j] = t` checks each index once.
    pub fn slot_barrier(&mut self) {
        self.cse.retain(|key, _| key.0 == IrOp::GIndex);
        self.forget_memory();
    }

    /// What both barriers forget: loads from memory and the facts known of objects.
    fn forget_memory(&mut self) {
        self.mem.clear();
        self.ids.kinds.clear();
        self.ids.metas.clear();
    }

    /// Notes what the guard `op` on object `a` (and `b`) with constant `k` says of
    /// `a`'s identity (its kind, its meta word, that it is not `b`), for [`differ`].
    fn header_fact(&mut self, op: IrOp, a: Ref, b: Ref, k: u64) {
        match op {
            IrOp::GKind => {
                self.ids.kinds.insert(a, k);
            }
            IrOp::GMeta => {
                self.ids.metas.insert(a, k);
            }
            IrOp::NeI if self.trace.ty(a) == IrType::Ptr && self.trace.ty(b) == IrType::Ptr => {
                self.ids.distinct.insert((a.min(b), a.max(b)));
            }
            _ => {}
        }
    }

    /// A real call of the trace's own function (see `call.rec`): `self_closure` copies
    /// the caller's closure (`callself`) instead of the FUNC value.
    ///
    /// `dead`: the result slot is dead at `resume` (the bytecode writes it before any
    /// read on every path from there), so the code need not store the result into it
    /// (`tw` bit 0). The record still names the slot: a callee that returns through
    /// the interpreter stores it there, as a `ret` does. `unread`: bit `j`, the
    /// callee's slot `j` is written before it is read on every path from the
    /// function's entry (`tw` bit `j + 1`; `x64::call_rec_keep` may then leave it
    /// uncleared).
    #[allow(clippy::too_many_arguments)]
    pub fn call_rec(
        &mut self,
        a0: u16,
        d: u16,
        resume: u32,
        self_closure: bool,
        dead: bool,
        unread: u64,
        snap: u32,
    ) {
        let op = if self_closure {
            IrOp::CallRecSelf
        } else {
            IrOp::CallRecK
        };
        let k = a0 as u64 | (d as u64) << 16 | (resume as u64) << 32;
        self.emit_tw(op, NONE, NONE, k, dead as u64 | unread << 1, snap);
        self.barrier();
    }

    /// Runs one bytecode instruction through the VM's helper (`call.insn`), exiting
    /// through `snap` when it does not complete. No value computed before it is reused
    /// after it.
    pub fn call_insn(&mut self, h: HelperCall, snap: u32) {
        let k = self.trace.helpers.len() as u64;
        self.trace.helpers.push(h);
        self.emit(IrOp::CallInsn, NONE, NONE, k, snap);
        self.barrier();
    }

    /// Calls another function's function-entry tree (`call.tree`) through `snap` (the
    /// call instruction, with the inlined frames live there). No value computed before
    /// it is reused after it.
    pub fn call_tree(&mut self, c: TreeCall, snap: u32) {
        let k = self.trace.tree_calls.len() as u64;
        self.trace.tree_calls.push(c);
        self.emit(IrOp::CallTree, NONE, NONE, k, snap);
        self.barrier();
    }

    /// Calls a C function directly (`call.c`). No value computed before it is reused
    /// after it.
    pub fn call_c(&mut self, c: CCall) {
        let k = self.trace.ccalls.len() as u64;
        self.trace.ccalls.push(c);
        self.emit(IrOp::CallC, NONE, NONE, k, 0);
        self.barrier();
    }

    /// Whether the trace so far calls the VM's helper (`call.insn`).
    pub fn has_helper(&self) -> bool {
        !self.trace.helpers.is_empty()
    }

    /// Whether the trace so far calls C directly (`call.c`).
    pub fn has_ccall(&self) -> bool {
        !self.trace.ccalls.is_empty()
    }

    /// Sets the number of bytecode instructions one pass over the trace runs (for
    /// `--jit-stats`).
    pub fn set_insns(&mut self, n: u32) {
        self.trace.insns = n;
    }

    /// The frame the trace runs in now runs `func` (a side trace starting in a
    /// displaced state, see [`Snapshot::displaced`]).
    pub fn set_displaced(&mut self, func: u32) {
        self.displaced = Some(func);
    }

    /// A return below the trace's frame (`ret.down`, guarded through `snap`): the
    /// caller runs `func`, resumes at `ip`, receives the result in slot `ret`, and its
    /// slot 0 is `delta` slots below the returning frame's. Every later slot number
    /// and snapshot is the caller's.
    pub fn ret_down(&mut self, func: u32, ip: u32, ret: u16, delta: u32, snap: u32) {
        let k = func as u64 | (ip as u64) << 32;
        let tw = ret as u64 | (delta as u64) << 16;
        self.emit_tw(IrOp::RetDown, NONE, NONE, k, tw, snap);
        self.trace.pops = true;
        self.displaced = Some(func);
        self.shift += delta;
        // Values are keyed by slot number: none carries over to the caller's numbering.
        self.barrier();
    }

    /// A tail call of `func` in the frame the trace runs in (`tcall.base`).
    pub fn tail_base(&mut self, func: u32) {
        self.emit(IrOp::TailBase, NONE, NONE, func as u64, 0);
        self.displaced = Some(func);
        self.barrier();
    }

    /// Ends the trace with a link to the loop trace at `anchor`, reached at the
    /// back-edge `resume_ip` inside the inlined `frames`: a snapshot of its own (never
    /// shared with a guard's, whose exit returns to the interpreter).
    pub fn link(&mut self, resume_ip: u32, frames: &[SnapFrame], anchor: hashvm_vm::jit::Anchor) {
        self.trace.snaps.push(Snapshot {
            resume_ip,
            entries: Vec::new(),
            frames: frames.to_vec(),
            displaced: self.displaced,
            sunk: Vec::new(),
        });
        let snap = self.trace.snaps.len() as u32 - 1;
        self.emit(IrOp::Link, NONE, NONE, 0, snap);
        self.trace.link = Some((snap, anchor));
    }

    /// Returns `v` from the trace's function (see `ret.rec`), ending the trace.
    pub fn ret_rec(&mut self, v: Ref, snap: u32) {
        self.emit(IrOp::RetRec, v, NONE, 0, snap);
        self.trace.returns = true;
    }

    /// Emits `op` as it is: no folding, no sharing (the block-level operations of
    /// whole-function code, `aot`, which the CSE table must never merge).
    /// The result of the direct call just emitted, of tag word `tw` (an i64, f64 or
    /// bool): `call.res` of slot `slot`. Never shared (each call has its own).
    pub fn call_result(&mut self, slot: u16, tw: u64) -> Ref {
        let r = Ref(self.trace.ins.len() as u32);
        self.trace.ins.push(Ins {
            op: IrOp::CallRes,
            a: NONE,
            b: NONE,
            k: slot as u64,
            snap: 0,
            tw,
        });
        r
    }

    pub fn emit_raw(&mut self, op: IrOp, a: Ref, b: Ref, k: u64, snap: u32) -> Ref {
        let r = Ref(self.trace.ins.len() as u32);
        self.trace.ins.push(Ins {
            op,
            a,
            b,
            k,
            snap,
            tw: 0,
        });
        r
    }

    /// Emits a pure operation of whole-function code (`neg.f64`, `sqrt.f64`, the float
    /// comparisons as values, the unguarded loads), shared like every pure operation.
    pub fn pure(&mut self, op: IrOp, a: Ref, b: Ref, k: u64) -> Ref {
        self.emit(op, a, b, k, 0)
    }

    /// The constant bits of `r`, if it is a constant.
    pub fn constant(&self, r: Ref) -> Option<u64> {
        self.konst(r)
    }

    /// Records the trace frame's size ([`Trace::frame_slots`]).
    pub fn set_frame_slots(&mut self, n: u32) {
        self.trace.frame_slots = n;
    }

    /// Marks a function-entry trace of `func` (arity, frame size).
    pub fn set_entry(&mut self, func: u32, arity: u16, nslots: u16) {
        self.trace.entry = Some((func, arity, nslots));
    }

    /// The function-entry trace's function, arity and frame size ([`Self::set_entry`]).
    pub fn entry(&self) -> Option<(u32, u16, u16)> {
        self.trace.entry
    }

    /// Records what the trace's frames need: `extent` slots from the trace frame's
    /// slot 0, and up to `depth` inlined frames.
    pub fn set_shape(&mut self, extent: u32, depth: u32) {
        let extent = extent.saturating_sub(self.shift);
        self.trace.extent = self.trace.extent.max(extent);
        self.trace.depth = self.trace.depth.max(depth);
    }

    /// A bool constant.
    pub fn kbool(&mut self, v: bool) -> Ref {
        self.emit(IrOp::KBool, NONE, NONE, v as u64, 0)
    }

    /// Slot `slot`'s payload, guarded (through `snap`) to have type `ty`.
    pub fn sload(&mut self, slot: u32, ty: IrType, snap: u32) -> Ref {
        let op = match ty {
            IrType::F64 => IrOp::SLoadF,
            IrType::Bool => IrOp::SLoadB,
            IrType::Ptr => return self.sload_tw(slot, Tag::OBJ as u64, snap),
            _ => IrOp::SLoadI,
        };
        self.emit(op, NONE, NONE, slot as u64, snap)
    }

    /// Slot `slot`, guarded (through `snap`) to have the tag word `tw`.
    pub fn sload_tw(&mut self, slot: u32, tw: u64, snap: u32) -> Ref {
        self.emit_tw(IrOp::SLoad, NONE, NONE, slot as u64, tw, snap)
    }

    /// Global `g`, guarded (through `snap`) to have the tag word `tw`.
    pub fn gload_tw(&mut self, g: u32, tw: u64, snap: u32) -> Ref {
        self.emit_tw(IrOp::GLoad, NONE, NONE, g as u64, tw, snap)
    }

    /// The closure of the trace's own frame, guarded (through `snap`) to have the tag
    /// word `tw`.
    pub fn frame_closure(&mut self, tw: u64, snap: u32) -> Ref {
        self.emit_tw(IrOp::FrameClo, NONE, NONE, 0, tw, snap)
    }

    /// A constant immediate value (`v` must not be an object: no heap address goes
    /// into code).
    pub fn kval(&mut self, v: Value) -> Result<Ref, BuildError> {
        match v.tag() {
            Tag::OBJ => Err(BuildError::TypeMismatch(IrOp::KVal)),
            Tag::I64 => Ok(self.kint(v.as_i64())),
            Tag::F64 => Ok(self.kf64(v.as_f64())),
            Tag::BOOL => Ok(self.kbool(v.bits() != 0)),
            _ => Ok(self.emit_tw(IrOp::KVal, NONE, NONE, v.bits(), tagword_of(v), 0)),
        }
    }

    fn want(&self, r: Ref, ty: IrType, op: IrOp) -> Result<(), BuildError> {
        if self.trace.ty(r) == ty {
            Ok(())
        } else {
            Err(BuildError::TypeMismatch(op))
        }
    }

    /// Value field `i` of the object `obj`, guarded (through `snap`) to have the tag
    /// word `tw`. The caller guarded the object's kind and length.
    pub fn fload(&mut self, obj: Ref, i: u32, tw: u64, snap: u32) -> Result<Ref, BuildError> {
        self.want(obj, IrType::Ptr, IrOp::FLoad)?;
        Ok(self.emit_tw(IrOp::FLoad, obj, NONE, i as u64, tw, snap))
    }

    /// Value field `i` of the object `obj` with no tag compare: the caller guarded
    /// `obj`'s kind, length and type (`guard.meta`), and every value stored in that
    /// field of that type has the tag word `tw` (a closed program's field kinds,
    /// [`crate::kinds`]).
    pub fn fload_known(&mut self, obj: Ref, i: u32, tw: u64) -> Result<Ref, BuildError> {
        self.want(obj, IrType::Ptr, IrOp::FLoadK)?;
        Ok(self.emit_tw(IrOp::FLoadK, obj, NONE, i as u64, tw, 0))
    }

    /// Element `i` of the array `a` (its kind guarded), guarded (through `snap`) to be
    /// in range and to have the tag word `tw`.
    pub fn aload(&mut self, a: Ref, i: Ref, tw: u64, snap: u32) -> Result<Ref, BuildError> {
        self.want(a, IrType::Ptr, IrOp::ALoad)?;
        self.want(i, IrType::I64, IrOp::ALoad)?;
        Ok(self.emit_tw(IrOp::ALoad, a, i, 0, tw, snap))
    }

    /// Guards (through `snap`) a header fact of the object `obj`: `op` is `GKind`
    /// (kind `k`), `GMeta` (meta word `k`) or `GLen` (more than `k` values).
    pub fn guard_header(
        &mut self,
        op: IrOp,
        obj: Ref,
        k: u64,
        snap: u32,
    ) -> Result<(), BuildError> {
        if !matches!(op, IrOp::GKind | IrOp::GMeta | IrOp::GLen) {
            return Err(BuildError::TypeMismatch(op));
        }
        self.want(obj, IrType::Ptr, op)?;
        // An object the trace allocated has the header it was given: a guard that
        // holds on it is dropped now (so a sunk allocation keeps no use in code). One
        // that does not stays and exits when run (the recorder's `alit` makes a
        // general array where the interpreter made a flat one, whose kind it
        // guards: the exit's side trace goes on).
        if let Some((kind, _, meta, len)) = self.allocated(obj) {
            let holds = match op {
                IrOp::GKind => kind as u64 == k,
                IrOp::GMeta => meta as u64 == k,
                _ => len > k,
            };
            if holds {
                self.header_fact(op, obj, NONE, k);
                return Ok(());
            }
        }
        self.emit(op, obj, NONE, k, snap);
        Ok(())
    }

    /// Notes, with no guard, a header fact of the object `obj` that holds on every run
    /// of the trace (the caller's proof: a closed program's field kinds, or a guard
    /// of the same object before a call that cannot change it): `op` and `k` as for
    /// [`TraceBuilder::guard_header`], whose guards the fact implies are then dropped.
    pub fn known_header(&mut self, op: IrOp, obj: Ref, k: u64) -> Result<(), BuildError> {
        if !matches!(op, IrOp::GKind | IrOp::GMeta | IrOp::GLen) {
            return Err(BuildError::TypeMismatch(op));
        }
        self.want(obj, IrType::Ptr, op)?;
        if op == IrOp::GLen {
            let max = self.lens.entry(obj).or_insert(k);
            *max = (*max).max(k);
        } else {
            self.header_fact(op, obj, NONE, k);
        }
        self.cse.insert((op, obj, NONE, k, 0), NONE);
        Ok(())
    }

    /// What the trace's guards since the last barrier (and [`Self::known_header`])
    /// established of the object `obj`'s header: its kind, its meta word, and the
    /// largest `k` its field count was found to exceed.
    pub fn header_facts(&self, obj: Ref) -> (Option<u64>, Option<u64>, Option<u64>) {
        (
            self.ids.kinds.get(&obj).copied(),
            self.ids.metas.get(&obj).copied(),
            self.lens.get(&obj).copied(),
        )
    }

    /// The objects other than `obj` whose field `field` the load table remembers and
    /// that a store to `obj`'s field `field` would make it forget (nothing proves
    /// them different from `obj`), lowest first: the candidates of
    /// [`TraceBuilder::guard_distinct`].
    pub fn field_aliases(&self, obj: Ref, field: u64) -> Vec<Ref> {
        let mut v: Vec<Ref> = self
            .mem
            .keys()
            .filter(|&&(op, o, _, k, _)| {
                op == IrOp::FLoad
                    && k == field
                    && o != obj
                    && !differ(&self.trace, &self.ids, o, obj)
            })
            .map(|&(_, o, ..)| o)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Guards (through `snap`) that the objects `a` and `b` are different objects
    /// (`ne.i64` on their addresses), so that a store to one leaves what the trace
    /// knows of the other's fields (speculative disambiguation: n-body's pair loop
    /// writes body j's velocity between its reads of body i's, both elements of one
    /// array, which may hold one object twice). The recorder guards only objects it
    /// sees different: the guard fails when the program later names one object twice.
    pub fn guard_distinct(&mut self, a: Ref, b: Ref, snap: u32) -> Result<(), BuildError> {
        self.want(a, IrType::Ptr, IrOp::NeI)?;
        self.want(b, IrType::Ptr, IrOp::NeI)?;
        if a == b {
            return Err(BuildError::AlwaysExits(snap));
        }
        self.emit(IrOp::NeI, a.min(b), a.max(b), 0, snap);
        Ok(())
    }

    /// Guards (through `snap`) that `i` is an index of the array `a`.
    pub fn guard_index(&mut self, a: Ref, i: Ref, snap: u32) -> Result<(), BuildError> {
        self.want(a, IrType::Ptr, IrOp::GIndex)?;
        self.want(i, IrType::I64, IrOp::GIndex)?;
        // A constant index in range of an array the trace allocated holds.
        if let (Some((_, _, _, len)), Some(k)) = (self.allocated(a), self.konst(i)) {
            if k < len {
                return Ok(());
            }
        }
        self.emit(IrOp::GIndex, a, i, 0, snap);
        Ok(())
    }

    /// The constructor index of the DATA object `obj` (its kind guarded).
    pub fn htag(&mut self, obj: Ref) -> Result<Ref, BuildError> {
        self.want(obj, IrType::Ptr, IrOp::HTag)?;
        if let Some((_, tag, _, _)) = self.allocated(obj) {
            return Ok(self.kint(tag as i64));
        }
        Ok(self.emit(IrOp::HTag, obj, NONE, 0, 0))
    }

    /// The payload of an immediate `v` as an i64 (folded on a constant).
    pub fn payload(&mut self, v: Ref) -> Result<Ref, BuildError> {
        self.want(v, IrType::Val, IrOp::Payload)?;
        let i = self.trace.ins[v.0 as usize];
        if i.op == IrOp::KVal {
            return Ok(self.kint(i.k as i64));
        }
        Ok(self.emit(IrOp::Payload, v, NONE, 0, 0))
    }

    /// The header (kind, tag, meta word, length) of `obj` when the trace allocated it
    /// (`new`): known, and never changed while it lives.
    fn allocated(&self, obj: Ref) -> Option<(u8, u16, u32, u64)> {
        let i = self.trace.ins.get(obj.0 as usize)?;
        (i.op == IrOp::New).then(|| layout::header_fields([i.k, i.tw]))
    }

    /// A new object with the header words `hw` (see `layout::header_words`) and `len`
    /// value fields, allocated inline; exits through `snap` when the nursery is full.
    /// Its fields must be written next ([`TraceBuilder::hstore`]), before any guard.
    pub fn new_object(&mut self, hw: u64, len: u64, snap: u32) -> Ref {
        self.trace.allocates = true;
        self.emit_tw(IrOp::New, NONE, NONE, hw, len, snap)
    }

    /// A new array of `len` (an i64) copies of `fill`, of elements kind `elems` (the
    /// flat kind of `fill`'s tag, or general), allocated and filled inline; exits
    /// through `snap` unless `len` is in `1..=max_inline_array(elems)` and the nursery
    /// has room.
    pub fn new_array(
        &mut self,
        len: Ref,
        fill: Ref,
        elems: u32,
        snap: u32,
    ) -> Result<Ref, BuildError> {
        self.want(len, IrType::I64, IrOp::NewArr)?;
        if self.trace.ty(fill) == IrType::None && elems != layout::ELEMS_GENERAL {
            return Err(BuildError::TypeMismatch(IrOp::NewArr));
        }
        self.trace.allocates = true;
        let [w0, _] = layout::header_words(layout::KIND_ARRAY, 0, elems, 0);
        Ok(self.emit_tw(IrOp::NewArr, len, fill, w0, 0, snap))
    }

    /// `new.array.slot`: [`TraceBuilder::new_array`] of the value in frame slot
    /// `slot` (in memory), its layout decided by its tag at run time.
    pub fn new_array_slot(&mut self, len: Ref, slot: u32, snap: u32) -> Result<Ref, BuildError> {
        self.want(len, IrType::I64, IrOp::NewArrSlot)?;
        self.trace.allocates = true;
        Ok(self.emit_raw(IrOp::NewArrSlot, len, NONE, slot as u64, snap))
    }

    /// Value field `i` (an i64, in range: guarded before) of the object `obj` := `v`,
    /// through the write barrier (exits through `snap`, before the store, when the
    /// barrier's slow path is due).
    pub fn hstore(&mut self, obj: Ref, i: Ref, v: Ref, snap: u32) -> Result<(), BuildError> {
        self.want(obj, IrType::Ptr, IrOp::HStore)?;
        self.want(i, IrType::I64, IrOp::HStore)?;
        if self.trace.ty(v) == IrType::None {
            return Err(BuildError::TypeMismatch(IrOp::HStore));
        }
        let tw = if self.holds_tag(obj, i, v) {
            HSTORE_PAYLOAD
        } else {
            0
        };
        self.emit_tw(IrOp::HStore, obj, v, i.0 as u64, tw, snap);
        Ok(())
    }

    /// Whether field `i` (a constant) of `obj` holds a value of `v`'s tag now, by
    /// the load table (load forwarding on): a load of the field guarded that tag, or
    /// a store wrote it, and no store since may have written there. Only for i64,
    /// f64 and bool values (no barrier), and not in an object the trace allocated
    /// (its stores may be sunk: `opt::sink_allocations`).
    fn holds_tag(&self, obj: Ref, i: Ref, v: Ref) -> bool {
        let scalar = matches!(self.trace.ty(v), IrType::I64 | IrType::F64 | IrType::Bool);
        let fresh = self
            .trace
            .ins
            .get(obj.0 as usize)
            .is_some_and(|x| x.op == IrOp::New);
        match self.konst(i) {
            Some(c) if self.forward && scalar && !fresh => {
                self.mem
                    .contains_key(&(IrOp::FLoad, obj, NONE, c, self.trace.tagword(v)))
            }
            _ => false,
        }
    }

    /// Element `i` of the flat array `a` (its elements kind guarded to be the tag of
    /// `tw`): its payload, typed by `tw`; `i` guarded (through `snap`) in range.
    pub fn aget_flat(&mut self, a: Ref, i: Ref, tw: u64, snap: u32) -> Result<Ref, BuildError> {
        self.want(a, IrType::Ptr, IrOp::AGetFlat)?;
        self.want(i, IrType::I64, IrOp::AGetFlat)?;
        let r = self.emit_tw(IrOp::AGetFlat, a, i, 0, tw, snap);
        self.checked_index(r, a, i);
        Ok(r)
    }

    /// After an element load `r` of `a[i]` that checks its index itself (`aget.flat`,
    /// `aget.i64`/`f64`/`bool`: their code compares `i` with the length and exits):
    /// a later `guard.index` of `a` and `i` can never fail, as a second identical
    /// guard cannot (an array's length never changes while it lives), so it is the
    /// load's ([`Self::slot_barrier`] keeps it). `swap`'s `a[i] = a[j]; a[j] = t` after
    /// its loads of `a[i]` and `a[j]` checks no index again. Only when the load was
    /// emitted here: a load forwarded from a store (or shared) checked nothing.
    fn checked_index(&mut self, r: Ref, a: Ref, i: Ref) {
        let emitted = self.trace.ins.get(r.0 as usize).is_some_and(|ins| {
            r.0 as usize + 1 == self.trace.ins.len()
                && matches!(
                    ins.op,
                    IrOp::AGetFlat | IrOp::AGetI | IrOp::AGetF | IrOp::AGetB
                )
                && ins.a == a
                && ins.b == i
        });
        if emitted {
            self.cse.entry((IrOp::GIndex, a, i, 0, 0)).or_insert(NONE);
        }
    }

    /// Element `i` (in range: guarded before) of the flat array `obj`, whose elements
    /// kind is guarded to be `v`'s tag := `v`'s payload (no barrier: no pointer).
    pub fn hstore_flat(&mut self, obj: Ref, i: Ref, v: Ref, snap: u32) -> Result<(), BuildError> {
        self.want(obj, IrType::Ptr, IrOp::HStore)?;
        self.want(i, IrType::I64, IrOp::HStore)?;
        if matches!(self.trace.ty(v), IrType::None | IrType::Ptr) {
            return Err(BuildError::TypeMismatch(IrOp::HStore));
        }
        self.emit_tw(IrOp::HStore, obj, v, i.0 as u64, HSTORE_FLAT, snap);
        Ok(())
    }

    /// Element `i` (in range: guarded before) of the array `obj` of an elements kind
    /// not known when compiling := `v`: stored as the general or the flat layout asks
    /// at run time; exits through `snap` on another kind (and as `hstore` does).
    pub fn hstore_elem(&mut self, obj: Ref, i: Ref, v: Ref, snap: u32) -> Result<(), BuildError> {
        self.want(obj, IrType::Ptr, IrOp::HStore)?;
        self.want(i, IrType::I64, IrOp::HStore)?;
        if self.trace.ty(v) == IrType::None {
            return Err(BuildError::TypeMismatch(IrOp::HStore));
        }
        self.emit_tw(IrOp::HStore, obj, v, i.0 as u64, HSTORE_ELEM, snap);
        Ok(())
    }

    /// An f64 equality (`cmpeq.f64`, `cmpne.f64`, IEEE) as a bool value, folded on
    /// constants.
    pub fn compare_f(&mut self, op: IrOp, a: Ref, b: Ref) -> Result<Ref, BuildError> {
        if !matches!(op, IrOp::CmpEqF | IrOp::CmpNeF)
            || self.trace.ty(a) != IrType::F64
            || self.trace.ty(b) != IrType::F64
        {
            return Err(BuildError::TypeMismatch(op));
        }
        let (a, b) = if b < a { (b, a) } else { (a, b) };
        if let (Some(x), Some(y)) = (self.konst(a), self.konst(b)) {
            let eq = f64::from_bits(x) == f64::from_bits(y);
            return Ok(self.kbool(eq == (op == IrOp::CmpEqF)));
        }
        Ok(self.emit(op, a, b, 0, 0))
    }

    /// An integer comparison as a bool value (`cmplt.i64` …), folded on constants.
    pub fn compare(&mut self, op: IrOp, a: Ref, b: Ref) -> Result<Ref, BuildError> {
        let ok = matches!(
            op,
            IrOp::CmpEqI | IrOp::CmpNeI | IrOp::CmpLtI | IrOp::CmpLeI
        );
        if !ok || self.trace.ty(a) != IrType::I64 || self.trace.ty(b) != IrType::I64 {
            return Err(BuildError::TypeMismatch(op));
        }
        let (a, b) = if op.flags() & flag::COMM != 0 && b < a {
            (b, a)
        } else {
            (a, b)
        };
        if let (Some(x), Some(y)) = (self.konst(a), self.konst(b)) {
            let (x, y) = (x as i64, y as i64);
            let v = match op {
                IrOp::CmpEqI => x == y,
                IrOp::CmpNeI => x != y,
                IrOp::CmpLtI => x < y,
                _ => x <= y,
            };
            return Ok(self.kbool(v));
        }
        if a == b {
            return Ok(self.kbool(matches!(op, IrOp::CmpEqI | IrOp::CmpLeI)));
        }
        Ok(self.emit(op, a, b, 0, 0))
    }

    /// A one-operand operation (`not`, `i64.to_f64`), folded on a constant.
    pub fn unary(&mut self, op: IrOp, a: Ref) -> Result<Ref, BuildError> {
        let want = match op {
            IrOp::NotB => IrType::Bool,
            IrOp::ItoF => IrType::I64,
            IrOp::SqrtF => IrType::F64,
            _ => return Err(BuildError::TypeMismatch(op)),
        };
        if self.trace.ty(a) != want {
            return Err(BuildError::TypeMismatch(op));
        }
        if let Some(x) = self.konst(a) {
            return Ok(match op {
                IrOp::NotB => self.kbool(x == 0),
                IrOp::SqrtF => self.kf64(f64::from_bits(x).sqrt()),
                _ => self.kf64(x as i64 as f64),
            });
        }
        // not(not(x)) is x.
        if op == IrOp::NotB {
            let i = self.trace.ins[a.0 as usize];
            if i.op == IrOp::NotB {
                return Ok(i.a);
            }
        }
        Ok(self.emit(op, a, NONE, 0, 0))
    }

    /// `a / b` or `a % b` (`op` is `DivI` or `RemI`) on i64s, guarded through `snap`
    /// to a divisor other than 0 and -1; folded on constants.
    pub fn divrem(&mut self, op: IrOp, a: Ref, b: Ref, snap: u32) -> Result<Ref, BuildError> {
        if !matches!(op, IrOp::DivI | IrOp::RemI)
            || self.trace.ty(a) != IrType::I64
            || self.trace.ty(b) != IrType::I64
        {
            return Err(BuildError::TypeMismatch(op));
        }
        if let Some(y) = self.konst(b) {
            let y = y as i64;
            if y == 0 || y == -1 {
                return Err(BuildError::AlwaysExits(snap));
            }
            if let Some(x) = self.konst(a) {
                let x = x as i64;
                let v = if op == IrOp::DivI { x / y } else { x % y };
                return Ok(self.kint(v));
            }
            if y == 1 && op == IrOp::DivI {
                return Ok(a);
            }
        }
        Ok(self.emit(op, a, b, 0, snap))
    }

    /// Global `g`'s payload, guarded (through `snap`) to have type `ty` (i64, f64,
    /// bool). Nothing a trace runs writes a global, so one load serves the trace.
    pub fn gload(&mut self, g: u32, ty: IrType, snap: u32) -> Ref {
        let op = match ty {
            IrType::F64 => IrOp::GLoadF,
            IrType::Bool => IrOp::GLoadB,
            _ => IrOp::GLoadI,
        };
        self.emit(op, NONE, NONE, g as u64, snap)
    }

    /// Frame slot `slot` := `v`, as the interpreter would write it.
    pub fn sstore(&mut self, slot: u32, v: Ref) {
        self.emit(IrOp::SStore, v, NONE, slot as u64, 0);
    }

    /// As [`Self::sstore`], the payload only: the slot holds a tag of `v`'s type
    /// already (`sstore.payload`).
    pub fn sstore_payload(&mut self, slot: u32, v: Ref) {
        self.emit(IrOp::SStoreP, v, NONE, slot as u64, 0);
    }

    /// The length of the array `a`.
    pub fn alen(&mut self, a: Ref) -> Result<Ref, BuildError> {
        if self.trace.ty(a) != IrType::Ptr {
            return Err(BuildError::TypeMismatch(IrOp::ALen));
        }
        if let Some((_, _, _, len)) = self.allocated(a) {
            return Ok(self.kint(len as i64));
        }
        Ok(self.emit(IrOp::ALen, a, NONE, 0, 0))
    }

    /// Element `i` of the array `a`, guarded (through `snap`) to be in range and of
    /// type `ty`.
    pub fn aget(&mut self, a: Ref, i: Ref, ty: IrType, snap: u32) -> Result<Ref, BuildError> {
        let op = match ty {
            IrType::I64 => IrOp::AGetI,
            IrType::F64 => IrOp::AGetF,
            IrType::Bool => IrOp::AGetB,
            _ => return Err(BuildError::TypeMismatch(IrOp::AGetI)),
        };
        if self.trace.ty(a) != IrType::Ptr || self.trace.ty(i) != IrType::I64 {
            return Err(BuildError::TypeMismatch(op));
        }
        let r = self.emit(op, a, i, 0, snap);
        self.checked_index(r, a, i);
        Ok(r)
    }

    /// Element `i` of the array `a` of an elements kind known only at run time, of the
    /// type of tag word `tw` (`aget.any`), guarded through `snap`.
    pub fn aget_any(&mut self, a: Ref, i: Ref, tw: u64, snap: u32) -> Result<Ref, BuildError> {
        self.want(a, IrType::Ptr, IrOp::AGetAny)?;
        self.want(i, IrType::I64, IrOp::AGetAny)?;
        if !matches!(type_of_tw(tw), IrType::I64 | IrType::F64 | IrType::Bool) {
            return Err(BuildError::TypeMismatch(IrOp::AGetAny));
        }
        Ok(self.emit_tw(IrOp::AGetAny, a, i, 0, tw, snap))
    }

    /// Guards that the bool `a` is true (`IsTrue`) or false (`IsFalse`) through `snap`;
    /// decided now on a constant.
    pub fn guard_bool(&mut self, op: IrOp, a: Ref, snap: u32) -> Result<(), BuildError> {
        if !matches!(op, IrOp::IsTrue | IrOp::IsFalse) || self.trace.ty(a) != IrType::Bool {
            return Err(BuildError::TypeMismatch(op));
        }
        if let Some(x) = self.konst(a) {
            return if (x != 0) == (op == IrOp::IsTrue) {
                Ok(())
            } else {
                Err(BuildError::AlwaysExits(snap))
            };
        }
        self.emit(op, a, NONE, 0, snap);
        Ok(())
    }

    /// `a op b` for an arithmetic `op`, folded when both are constants and simplified
    /// by the identities that hold exactly (`x + 0`, `x * 1`, `x * 0` on integers;
    /// nothing on floats, where `x + 0.0` is not `x` for `x = -0.0`).
    pub fn arith(&mut self, op: IrOp, a: Ref, b: Ref) -> Result<Ref, BuildError> {
        let ty = op.result();
        if op.flags() & flag::GUARD != 0
            || op.nargs() != 2
            || self.trace.ty(a) != ty
            || self.trace.ty(b) != ty
        {
            return Err(BuildError::TypeMismatch(op));
        }
        // Commutative operands in one order, so that CSE finds `b op a` as `a op b`: an
        // integer constant second when only one is (the emitter takes a second operand as an
        // immediate, `lea r, [a + k]`, and the register assignment gives it no
        // register, `takes_imm`; a constant created earlier in a block than the value
        // it is added to, `i + 1` after `n - 1`, would otherwise cost a register and a
        // `mov`), else the lower ref first.
        let swap = match (self.konst(a).is_some(), self.konst(b).is_some()) {
            (true, false) if ty == IrType::I64 => true,
            (false, true) if ty == IrType::I64 => false,
            _ => b < a,
        };
        let (a, b) = if op.flags() & flag::COMM != 0 && swap {
            (b, a)
        } else {
            (a, b)
        };
        match (self.konst(a), self.konst(b)) {
            (Some(x), Some(y)) => {
                return Ok(match ty {
                    IrType::I64 => {
                        let v = fold_i64(op, x as i64, y as i64);
                        self.kint(v)
                    }
                    _ => {
                        let v = fold_f64(op, f64::from_bits(x), f64::from_bits(y));
                        self.kf64(v)
                    }
                })
            }
            (ka, kb) if ty == IrType::I64 => {
                // (A commutative operation's constant is second; a non-commutative
                // one's may be either.)
                let (kv, other) = match (ka, kb) {
                    (Some(k), _) => (Some(k as i64), b),
                    (_, Some(k)) => (Some(k as i64), a),
                    _ => (None, a),
                };
                match (op, kv, kb.is_some()) {
                    (IrOp::AddI | IrOp::OrI | IrOp::XorI, Some(0), _) => return Ok(other),
                    (IrOp::SubI, Some(0), true) => return Ok(a),
                    (IrOp::MulI, Some(1), _) => return Ok(other),
                    (IrOp::MulI | IrOp::AndI, Some(0), _) => return Ok(self.kint(0)),
                    (IrOp::AndI, Some(-1), _) => return Ok(other),
                    _ => {}
                }
            }
            _ => {}
        }
        if op == IrOp::SubI && a == b {
            return Ok(self.kint(0));
        }
        Ok(self.emit(op, a, b, 0, 0))
    }

    /// Guards `a op b` through `snap`. A guard on two constants is decided now: one
    /// that always holds emits nothing, one that never holds is an error.
    pub fn guard(&mut self, op: IrOp, a: Ref, b: Ref, snap: u32) -> Result<(), BuildError> {
        if op.flags() & flag::GUARD == 0 || op.nargs() != 2 {
            return Err(BuildError::TypeMismatch(op));
        }
        let float = matches!(op, IrOp::LtF | IrOp::LeF | IrOp::NLtF | IrOp::NLeF);
        let want = if float { IrType::F64 } else { IrType::I64 };
        if self.trace.ty(a) != want || self.trace.ty(b) != want {
            return Err(BuildError::TypeMismatch(op));
        }
        if let (Some(x), Some(y)) = (self.konst(a), self.konst(b)) {
            return if guard_holds(op, x, y) {
                Ok(())
            } else {
                Err(BuildError::AlwaysExits(snap))
            };
        }
        self.emit(op, a, b, 0, snap);
        Ok(())
    }

    /// Ends the loop body: `tail` gives the slots the back-edge writes.
    pub fn finish(mut self, tail: Vec<(u16, Ref)>) -> Trace {
        self.trace.tail = tail;
        self.trace
    }
}

/// The value of an integer operation on constants (the same wrapping semantics as the
/// interpreter's instructions).
pub fn fold_i64(op: IrOp, a: i64, b: i64) -> i64 {
    match op {
        IrOp::AddI => a.wrapping_add(b),
        IrOp::SubI => a.wrapping_sub(b),
        IrOp::MulI => a.wrapping_mul(b),
        IrOp::AndI => a & b,
        IrOp::OrI => a | b,
        IrOp::XorI => a ^ b,
        IrOp::ShlI => a.wrapping_shl((b & 63) as u32),
        IrOp::ShrI => a.wrapping_shr((b & 63) as u32),
        _ => 0,
    }
}

/// The value of a float operation on constants.
pub fn fold_f64(op: IrOp, a: f64, b: f64) -> f64 {
    match op {
        IrOp::AddF => a + b,
        IrOp::SubF => a - b,
        IrOp::MulF => a * b,
        IrOp::DivF => a / b,
        _ => 0.0,
    }
}

/// Whether guard `op` holds for the constants with bits `x`, `y`.
// `!(a < b)` is not `a >= b` when either is NaN: the negated float guards rely on that.
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn guard_holds(op: IrOp, x: u64, y: u64) -> bool {
    let (a, b) = (x as i64, y as i64);
    let (f, g) = (f64::from_bits(x), f64::from_bits(y));
    match op {
        IrOp::LtI => a < b,
        IrOp::LeI => a <= b,
        IrOp::GtI => a > b,
        IrOp::GeI => a >= b,
        IrOp::EqI => a == b,
        IrOp::NeI => a != b,
        IrOp::LtF => f < g,
        IrOp::LeF => f <= g,
        IrOp::NLtF => !(f < g),
        IrOp::NLeF => !(f <= g),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_fold_and_identities_simplify() {
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::I64, s);
        let two = b.kint(2);
        let three = b.kint(3);
        let five = b.arith(IrOp::AddI, two, three).unwrap();
        assert_eq!(b.konst(five), Some(5));
        let zero = b.kint(0);
        assert_eq!(b.arith(IrOp::AddI, x, zero).unwrap(), x);
        assert_eq!(b.arith(IrOp::AddI, zero, x).unwrap(), x);
        assert_eq!(b.arith(IrOp::SubI, x, zero).unwrap(), x);
        assert_ne!(b.arith(IrOp::SubI, zero, x).unwrap(), x);
        let one = b.kint(1);
        assert_eq!(b.arith(IrOp::MulI, one, x).unwrap(), x);
        let d = b.arith(IrOp::SubI, x, x).unwrap();
        assert_eq!(b.konst(d), Some(0));
        let max = b.kint(i64::MAX);
        let w = b.arith(IrOp::AddI, max, one).unwrap();
        assert_eq!(b.konst(w), Some(i64::MIN as u64));
    }

    #[test]
    fn common_subexpressions_are_shared() {
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::I64, s);
        let y = b.sload(1, IrType::I64, s);
        assert_eq!(b.sload(0, IrType::I64, s), x);
        let p = b.arith(IrOp::AddI, x, y).unwrap();
        let q = b.arith(IrOp::AddI, y, x).unwrap();
        assert_eq!(p, q, "commutative operands are ordered");
        let d1 = b.arith(IrOp::SubI, x, y).unwrap();
        let d2 = b.arith(IrOp::SubI, y, x).unwrap();
        assert_ne!(d1, d2);
        let n = b.finish(vec![]).ins.len();
        assert_eq!(n, 5);
    }

    #[test]
    fn an_integer_constant_is_the_second_operand_of_a_commutative_operation() {
        // The constant made before the value (`n - 1` then `j + 1` in one block): the
        // emitter takes a second operand as an immediate, a first one in a register.
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let three = b.kint(3);
        let j = b.sload(0, IrType::I64, s);
        for op in [IrOp::AddI, IrOp::MulI, IrOp::AndI, IrOp::OrI, IrOp::XorI] {
            let r = b.arith(op, three, j).unwrap();
            let t = &b.trace.ins[r.0 as usize];
            assert_eq!((t.a, t.b), (j, three), "{op:?}");
            assert_eq!(b.arith(op, j, three).unwrap(), r, "{op:?} shared");
        }
        let k = b.arith(IrOp::SubI, three, j).unwrap();
        let t = &b.trace.ins[k.0 as usize];
        assert_eq!((t.a, t.b), (three, j), "`3 - j` keeps its order");
    }

    #[test]
    fn constant_guards_are_decided_at_build_time() {
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(4, vec![]);
        let (one, two) = (b.kint(1), b.kint(2));
        assert_eq!(b.guard(IrOp::LtI, one, two, s), Ok(()));
        assert_eq!(
            b.guard(IrOp::GtI, one, two, s),
            Err(BuildError::AlwaysExits(s))
        );
        let nan = b.kf64(f64::NAN);
        let z = b.kf64(0.0);
        assert_eq!(b.guard(IrOp::NLtF, nan, z, s), Ok(()));
        assert!(b.guard(IrOp::LtF, nan, z, s).is_err());
        assert_eq!(
            b.guard(IrOp::LtI, one, z, s),
            Err(BuildError::TypeMismatch(IrOp::LtI))
        );
        let t = b.finish(vec![]);
        assert!(t.ins.iter().all(|i| i.op.flags() & flag::GUARD == 0));
    }

    #[test]
    fn loads_are_forwarded_until_a_store_that_may_alias() {
        let mut b = TraceBuilder::new(0);
        b.set_forwarding();
        let s = b.snapshot(0, vec![]);
        let f = Tag::F64 as u64;
        let p = b.sload_tw(0, Tag::OBJ as u64, s);
        let q = b.sload_tw(1, Tag::OBJ as u64, s);
        let x = b.fload(p, 0, f, s).unwrap();
        assert_eq!(b.fload(p, 0, f, s).unwrap(), x, "a load of a load");
        let y = b.fload(q, 0, f, s).unwrap();
        let one = b.kf64(1.0);
        let x1 = b.arith(IrOp::AddF, x, one).unwrap();
        let k0 = b.kint(0);
        let k1 = b.kint(1);
        b.hstore(p, k0, x1, s).unwrap();
        assert_eq!(b.fload(p, 0, f, s).unwrap(), x1, "a load of the store");
        // q may be p: its field 0 is loaded again; its field 1 was not stored.
        let y2 = b.fload(q, 0, f, s).unwrap();
        assert_ne!(y2, y);
        let z = b.fload(q, 1, f, s).unwrap();
        // A fresh object is not p: storing into it leaves p's field 0 known.
        let n = b.new_object(0, 2, s);
        b.hstore(n, k0, one, s).unwrap();
        assert_eq!(b.fload(p, 0, f, s).unwrap(), x1);
        assert_eq!(b.fload(n, 0, f, s).unwrap(), one);
        // A store at a variable index may write anything (but the fresh object).
        let i = b.sload(2, IrType::I64, s);
        b.hstore(q, i, one, s).unwrap();
        assert_ne!(b.fload(p, 0, f, s).unwrap(), x1);
        assert_ne!(b.fload(q, 1, f, s).unwrap(), z);
        assert_eq!(b.fload(n, 0, f, s).unwrap(), one);
        let _ = k1;
        // A real call forgets everything.
        let p0 = b.fload(p, 0, f, s).unwrap();
        b.barrier();
        assert_ne!(b.fload(p, 0, f, s).unwrap(), p0);
    }

    #[test]
    fn objects_guarded_distinct_keep_each_others_fields() {
        let mut b = TraceBuilder::new(0);
        b.set_forwarding();
        let s = b.snapshot(0, vec![]);
        let f = Tag::F64 as u64;
        let obj = Tag::OBJ as u64;
        let (p, q, r) = (
            b.sload_tw(0, obj, s),
            b.sload_tw(1, obj, s),
            b.sload_tw(2, obj, s),
        );
        let k3 = b.kint(3);
        let one = b.kf64(1.0);
        let x = b.fload(p, 3, f, s).unwrap();
        // q may be p: a store to its field 3 would forget p's.
        assert_eq!(b.field_aliases(q, 3), vec![p]);
        assert!(b.field_aliases(q, 2).is_empty(), "no other field is known");
        assert!(
            b.guard_distinct(q, q, s).is_err(),
            "one object is never two"
        );
        b.guard_distinct(q, p, s).unwrap();
        assert!(b.field_aliases(q, 3).is_empty());
        let guards = |b: &TraceBuilder| b.trace.ins.iter().filter(|i| i.op == IrOp::NeI).count();
        b.guard_distinct(p, q, s).unwrap();
        assert_eq!(guards(&b), 1, "one guard for the pair, either way round");
        b.hstore(q, k3, one, s).unwrap();
        assert_eq!(
            b.fload(p, 3, f, s).unwrap(),
            x,
            "p's field survives q's store"
        );
        assert_eq!(b.fload(q, 3, f, s).unwrap(), one);
        // r is guarded different from neither: its store forgets both.
        b.hstore(r, k3, x, s).unwrap();
        assert_ne!(b.fload(p, 3, f, s).unwrap(), x);
        // The guard is replayed when a peeled body resumes the trace.
        let t = b.into_trace();
        let b2 = TraceBuilder::resume(t);
        assert!(b2.ids.distinct.contains(&(p.min(q), p.max(q))));
    }

    #[test]
    fn kinds_metas_and_index_offsets_tell_stores_from_loads() {
        let mut b = TraceBuilder::new(0);
        b.set_forwarding();
        let s = b.snapshot(0, vec![]);
        let f = Tag::F64 as u64;
        let obj = Tag::OBJ as u64;
        // A struct (kind 1) and an array (kind 2): a store of the struct's field 0
        // is no store of the array's element 0, and the reverse.
        let st = b.sload_tw(0, obj, s);
        let ar = b.sload_tw(1, obj, s);
        b.guard_header(IrOp::GKind, st, 1, s).unwrap();
        b.guard_header(IrOp::GKind, ar, 2, s).unwrap();
        let k0 = b.kint(0);
        let e0 = b.aload(ar, k0, f, s).unwrap();
        let one = b.kf64(1.0);
        b.hstore(st, k0, one, s).unwrap();
        assert_eq!(b.aload(ar, k0, f, s).unwrap(), e0, "another kind of object");
        // Two arrays of different elements kinds (meta words) are different.
        let ar2 = b.sload_tw(2, obj, s);
        b.guard_header(IrOp::GKind, ar2, 2, s).unwrap();
        b.guard_header(IrOp::GMeta, ar, 5, s).unwrap();
        b.guard_header(IrOp::GMeta, ar2, 6, s).unwrap();
        let i = b.sload(3, IrType::I64, s);
        let x = b.aload(ar, i, f, s).unwrap();
        b.hstore(ar2, i, one, s).unwrap();
        assert_eq!(b.aload(ar, i, f, s).unwrap(), x, "another elements kind");
        // Same array: a store at i + 1 is not one at i; a store at i - 1 + 2 may be.
        let k1 = b.kint(1);
        let i1 = b.arith(IrOp::AddI, i, k1).unwrap();
        let two = b.kf64(2.0);
        b.hstore(ar, i1, two, s).unwrap();
        assert_eq!(b.aload(ar, i, f, s).unwrap(), x, "i + 1 is not i");
        assert_eq!(b.aload(ar, i1, f, s).unwrap(), two, "the store itself");
        let im = b.arith(IrOp::SubI, i, k1).unwrap();
        b.hstore(ar, im, two, s).unwrap();
        assert_eq!(b.aload(ar, i1, f, s).unwrap(), two, "i - 1 is not i + 1");
        let j = b.sload(4, IrType::I64, s);
        b.hstore(ar, j, one, s).unwrap();
        assert_ne!(b.aload(ar, i, f, s).unwrap(), x, "j may be i");
        // Same kind, no meta guarded on one: may be the same object.
        let st2 = b.sload_tw(5, obj, s);
        b.guard_header(IrOp::GKind, st2, 1, s).unwrap();
        let y = b.fload(st, 0, f, s).unwrap();
        b.hstore(st2, k0, two, s).unwrap();
        assert_ne!(b.fload(st, 0, f, s).unwrap(), y, "st2 may be st");
        // After a real call, nothing is known of any object.
        let z = b.fload(st, 1, f, s).unwrap();
        b.barrier();
        assert!(b.ids.kinds.is_empty() && b.ids.metas.is_empty());
        assert_ne!(b.fload(st, 1, f, s).unwrap(), z);
    }

    #[test]
    fn float_identities_are_not_applied() {
        let mut b = TraceBuilder::new(0);
        let s = b.snapshot(0, vec![]);
        let x = b.sload(0, IrType::F64, s);
        let z = b.kf64(0.0);
        // -0.0 + 0.0 is 0.0: x + 0.0 is not x.
        assert_ne!(b.arith(IrOp::AddF, x, z).unwrap(), x);
    }

    #[test]
    fn the_table_is_consistent() {
        for &op in IrOp::ALL {
            // Division (guarded on its divisor) and allocation (on the nursery's room)
            // are the guarded computations.
            let division = matches!(
                op,
                IrOp::DivI | IrOp::RemI | IrOp::New | IrOp::NewArr | IrOp::NewArrSlot
            );
            // `exit` and `link` leave unconditionally: neither operands nor effects.
            let unconditional = matches!(op, IrOp::Exit | IrOp::Link);
            if op.flags() & flag::GUARD != 0
                && op.flags() & flag::LOAD == 0
                && !division
                && !unconditional
            {
                // A guard tests its operands, or (a real call) exits before its effect.
                assert_eq!(op.result(), IrType::None, "{op:?}");
                assert!(op.nargs() >= 1 || op.flags() & flag::STORE != 0, "{op:?}");
            }
            assert!(!op.mnemonic().is_empty() && !op.doc().is_empty());
        }
        // What pushes or pops frame records, allocates, stores objects through the
        // barrier or calls the VM reads the block's frame and heap fields: never
        // `NOSYNC`; plain arithmetic and slot access are.
        for op in [
            IrOp::New,
            IrOp::NewArr,
            IrOp::HStore,
            IrOp::CallInsn,
            IrOp::CallRecK,
            IrOp::CallRecSelf,
            IrOp::RetRec,
            IrOp::RetDown,
            IrOp::TailBase,
            IrOp::FrameClo,
        ] {
            assert!(op.needs_sync(), "{op:?}");
        }
        for op in [
            IrOp::AddI,
            IrOp::SLoadI,
            IrOp::SStore,
            IrOp::LtF,
            IrOp::AGetFlat,
        ] {
            assert!(!op.needs_sync(), "{op:?}");
        }
    }
}
