//! Machine code for whole-function IR ([`super::FuncIr`]), into one
//! [`VecAssembler`]: position independent (every jump and call between functions is
//! `rel32` inside the buffer; the VM is reached through the register block), so the
//! bytes can be written to a file and mapped anywhere.
//!
//! The register conventions are the trace backend's ([`crate::x64`]): `rdi` is the
//! running frame's slot 0, `rsi` the interrupt flag, `r12` the VM's register block,
//! `rbx` the native stack pointer to unwind to on an exit (the native stack budget's
//! floor at `[rbx + 16]`), `rbp` the frame top (so that a call's push does not wait on
//! the previous call's store of it, [`CallConv::Aot`]), `r11` scratch, and values in
//! the registers the trace allocator
//! ([`crate::x64::allocate`]) hands out within a block. Every operation is emitted by
//! the trace backend's emitter ([`crate::x64::emit_ops`]); this file adds only what
//! whole-function code has of its own ([`BlockTarget`]: branches between blocks,
//! direct calls and tail calls, native returns, slot copies, exits).

// dynasm!'s expansion converts dynamic register numbers with `.into()`.
#![allow(clippy::useless_conversion)]

use super::clears::Clears;
use super::{
    reserved, FuncIr, FuncReport, HomeLoop, Image, Status, ARGS_SET, CHECKED_ENTRY, CTOR_OPTION,
    JUMP_BIT,
};
use crate::ir::{flag, ClosureSrc, IrOp, IrType, Ref, Trace, TraceBuilder};
use crate::x64::{
    allocate, allocate_avoiding, disp, element_addr, emit_ops, field_disp, flat_store,
    frame_record, fused_ctor_test, pop_native_frame, push_native_frame, return_to_caller, store,
    store_tw, value_store, CallConv, CompileError, HelperFn, Loc, NativeCall, RecordBase, Target,
    BASE, INTR, SCRATCH, STATE,
};
use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use hashvm_format::builtin;
use hashvm_format::opcode::Op;
use hashvm_format::Module;
use hashvm_vm::jit::layout;
use hashvm_vm::{Tag, Value, VmState};

type Asm = VecAssembler<X64Relocation>;

/// What the trampoline returns when the function it entered returned natively (its
/// result is in the caller's slot, its frame popped). Any other value is the bytecode
/// offset, in the innermost frame, where the interpreter resumes.
pub const RETURNED: u32 = u32::MAX;

/// Bytes of native stack one entry's direct calls may use (8 a call): deeper
/// recursion leaves to the interpreter at the call, which enters the callee's code
/// again with a fresh budget.
const NATIVE_BUDGET: i32 = 256 * 1024;

/// Bytes of native stack a direct call takes: the return address (the caller keeps
/// `BASE` and `INTR` in their registers, [`CallConv::Aot`]).
const CALL_BYTES: i32 = 8;

/// `log2` of the frame record's size (the trampoline divides the free frame stack by
/// it).
const FRAME_SHIFT: i8 = layout::FRAME_SIZE.trailing_zeros() as i8;
const _: () = assert!(layout::FRAME_SIZE.is_power_of_two());

/// The signature of the trampoline at offset 0 of the code: `slots` is the innermost
/// frame's slot 0, `interrupt` the VM's interrupt flag, `state` its register block,
/// `target` the address of the entry to run, `vm` the running VM and `helpers` the
/// runtime's helper table ([`super::hook::AotHelpers`]), both for the code's calls into
/// the runtime (kept at `[rbx + TRAMP_VM]` and `[rbx + TRAMP_HELPERS]`).
pub type Trampoline = unsafe extern "sysv64" fn(
    *mut Value,
    *const u8,
    *mut VmState,
    *const u8,
    *mut hashvm_vm::Vm,
    *const super::hook::AotHelpers,
) -> u32;

/// Where the trampoline keeps the VM (`rbx`, the native stack pointer to unwind to,
/// plus this): offset 0, where the trace backend's helper calls read it too.
const TRAMP_VM: i32 = 0;
/// Where the trampoline keeps the helper table's address.
const TRAMP_HELPERS: i32 = 8;
/// Where the trampoline keeps the native stack's floor, which every direct call checks
/// (`rbp` holds the frame top, [`CallConv::Aot`]): below it, the native stack budget,
/// the frame stack or the value stack might be short.
const TRAMP_FLOOR: i32 = 16;
/// Where the trampoline keeps the floor of the native stack budget and the frame stack
/// alone: a call below [`TRAMP_FLOOR`] checks the value stack exactly and compares
/// with this one ([`SlowCall`]) before it leaves to the interpreter.
const TRAMP_FRAMES: i32 = 24;
/// Where the trampoline keeps the address of the tier-up counters
/// ([`super::hook::AotHelpers::counters`]), which each counted back-edge and counted
/// function entry ([`count_call`]) decrements.
const TRAMP_COUNTERS: i32 = 32;
/// Where the trampoline keeps the frame top it was entered with (`rbp`): the entered
/// frame's record is the one below it, and the records of the code's native calls
/// follow, one per return address on the native stack ([`fill_records`]).
const TRAMP_TOP0: i32 = 40;
/// Bytes the trampoline reserves below its saved registers (the six words above and
/// one of padding: the entered code's stack stays 16-byte aligned as the caller's
/// was).
const TRAMP_RESERVE: i32 = 56;

/// A human-readable name for [`Trampoline`]'s contract (documentation anchor).
pub fn trampoline_signature() -> &'static str {
    "extern \"sysv64\" fn(slots: *mut Value, interrupt: *const u8, state: *mut VmState, target: *const u8, vm: *mut Vm, helpers: *const AotHelpers) -> u32"
}

/// Copies the whole 16-byte value of slot `from` to slot `to` through `r11`.
fn copy_slot(a: &mut Asm, to: u64, from: u64) -> Result<(), CompileError> {
    let (t, f) = (disp(to)?, disp(from)?);
    dynasm!(a ; .arch x64
        ; mov r11, QWORD [Rq(BASE) + f]
        ; mov QWORD [Rq(BASE) + t], r11
        ; mov r11, QWORD [Rq(BASE) + f + 8]
        ; mov QWORD [Rq(BASE) + t + 8], r11);
    Ok(())
}

/// Copies the whole 16-byte value at `[from + src]` (an object's field, a global) into
/// the slot at byte offset `dst`. With the address in a value's register (a field of
/// an object held in one), through `r11`, the scratch register, touching nothing
/// else; with it in `r11`, through `free`, a register that holds no live value there
/// ([`BlockTarget::free_gpr`]), or, with none, through `rax`, saved and restored
/// around the copy (it may hold a live value).
fn copy_into_slot(a: &mut Asm, from: u8, src: i32, dst: i32, free: Option<u8>) {
    // The register the two words pass through, and whether it must be saved.
    let (via, save) = match free {
        _ if from != SCRATCH => (SCRATCH, false),
        Some(r) => (r, false),
        None => (0, true),
    };
    if save {
        dynasm!(a ; .arch x64 ; push rax);
    }
    dynasm!(a ; .arch x64
        ; mov Rq(via), QWORD [Rq(from) + src]
        ; mov QWORD [Rq(BASE) + dst], Rq(via)
        ; mov Rq(via), QWORD [Rq(from) + src + 8]
        ; mov QWORD [Rq(BASE) + dst + 8], Rq(via));
    if save {
        dynasm!(a ; .arch x64 ; pop rax);
    }
}

/// The caller-saved registers a whole copy may borrow ([`copy_into_slot`]), in the
/// order tried: all are registers the allocator hands out ([`crate::x64::allocate`]).
const COPY_REGS: [u8; 6] = [
    1, /* rcx */
    2, /* rdx */
    0, /* rax */
    8, 9, 10,
];

/// Per operation of block `t` (values in `loc`, the loop's home registers and the
/// function's carried registers in `reserved`), the registers of [`COPY_REGS`] (bit
/// `r`) that may hold a value there: a value's register from after its definition
/// to its last read (an operand, or a snapshot's entry: [`crate::x64::reads`], the
/// allocator's own liveness, so it hands the register to no other value in that
/// range), and the reserved registers everywhere. Any other register of the set is
/// free for the operation to write: nothing reads it before the allocator's next
/// definition in it.
fn busy_gprs(t: &Trace, loc: &[Loc], reserved: &[Loc]) -> Vec<u16> {
    let n = t.ins.len();
    let last = crate::x64::last_reads(t);
    let bit = |l: &Loc| match *l {
        Loc::Gpr(r) if COPY_REGS.contains(&r) => 1u16 << r,
        _ => 0,
    };
    let all = reserved.iter().map(bit).fold(0, |x, y| x | y);
    let mut busy = vec![all; n + 1];
    for (v, l) in loc.iter().enumerate().take(n) {
        let b = bit(l);
        if b == 0 {
            continue;
        }
        for x in &mut busy[v + 1..=last[v].clamp(v, n)] {
            *x |= b;
        }
    }
    busy
}

/// Where the program's blocks are.
struct Labels {
    /// Per function: (block offset, label), ascending.
    blocks: Vec<Vec<(u32, DynamicLabel)>>,
    /// The shared exit: unwind to the trampoline and return `eax`.
    out: DynamicLabel,
    /// Every function's arity and frame size (what a direct call pushes).
    shapes: Vec<(u16, u16)>,
    /// Per function: its loops with home registers, each with its preheader (entered
    /// from outside the loop) and its back-edge entry (from the interpreter), which
    /// load the homes.
    loops: Vec<Vec<(HomeLoop, DynamicLabel, DynamicLabel)>>,
    /// The write barrier's slow path ([`remember_routine`]).
    remember: DynamicLabel,
    /// The exits' shared clearing routine ([`clear_routine`]).
    clear: DynamicLabel,
    /// Per function: its back-edge blocks ([`back_edge`]), each with its loop's
    /// header, ascending.
    back_edges: Vec<Vec<(u32, u32)>>,
    /// The table of indirect calls' callees ([`callee_table`]), after the code.
    table: DynamicLabel,
    /// Per function: the slots a direct call's push leaves and its exits clear.
    clears: Vec<Clears>,
    /// Per function: the back-edge blocks that count their passes, each with its
    /// tier-up counter's index ([`counted_loops`]), ascending.
    counters: Vec<Vec<(u32, u32)>>,
    /// Per function with a typed entry (block 0, [`super::typed`]): its checked entry,
    /// which compares the seeded parameters' tags first ([`checked_entry`]).
    checked: Vec<Option<DynamicLabel>>,
    /// Per function: the offsets of its calls that enter their callee at its typed
    /// entry ([`FuncIr::typed`]), ascending.
    typed: Vec<Vec<u32>>,
    /// Per function: its back-edge blocks whose jump to offset 0 (a self tail call's)
    /// goes through the checked entry ([`CHECKED_ENTRY`]), ascending.
    checked_back: Vec<Vec<u32>>,
    /// Per function whose entry counts its calls (tier-up at the function's entry):
    /// its prologue ([`count_call`]), which every call enters.
    prologues: Vec<Option<DynamicLabel>>,
    /// The loops' counters (every loop entry's, counted or not): function `f`'s
    /// entry counter follows them, at index `nloops + f`.
    nloops: u32,
    /// Per function: no helper call can run while it or anything it calls natively
    /// runs ([`helper_free`]), so its direct calls push lazy records.
    lazy: Vec<bool>,
    /// Per function: lazy ([`Labels::lazy`]) and making no tail call but to itself, so
    /// that nothing it runs until its native return writes its own frame record (a
    /// tail call to another function rewrites the function, a helper call's ip save
    /// the ip): a direct call of it leaves the record as its push wrote it
    /// ([`record_kept`]).
    keeps_record: Vec<bool>,
    /// Per function: lazy ([`Labels::lazy`]) and reading no closure of its own
    /// ([`reads_closure`]), so that a direct call of it whose closure is the callee's
    /// FUNC value (`callk`, `call.aot.v`) leaves the closure to [`fill_records`] too.
    lazy_closure: Vec<bool>,
    /// Per function: a `ret` of a slot that returns a value from its register
    /// ([`ret_row`]); its returns then set no `rcx` ([`returns_table`]).
    ret_rows: Vec<Option<(u32, u16)>>,
    /// Per function: the tag word of what its native returns return, when every
    /// return of it is a `ret.val` of one kind and it has a returns-table row: its
    /// returns then set no `rdx` ([`own_ret_tags`]).
    ret_tags: Vec<Option<u16>>,
    /// Per function: where a direct call of it finds its result's tag word
    /// ([`call_tags`]).
    call_tags: Vec<CallTag>,
    /// The returns table ([`returns_table`]), after the code.
    rets: DynamicLabel,
    /// The table of native call sites ([`sites_table`]), after the code.
    sites: DynamicLabel,
    /// Every native call's site: the label at its return address, the caller's
    /// resume offset, the first argument's slot and the result slot.
    calls: std::cell::RefCell<Vec<CallSite>>,
    /// Per function: its carried parameters ([`FuncIr::carried`]), (slot, payload
    /// register, tag word register).
    carried: Vec<Vec<(u16, u8, u8)>>,
    /// Per function with carried parameters: the loop's head, just past the loads of
    /// the carried registers at the start of block 0, where its self tail calls jump.
    heads: Vec<Option<DynamicLabel>>,
    /// Per function with carried parameters: a stub that writes them back and goes to
    /// the checked entry, where its self tail calls go that do not go to the loop's
    /// head ([`Labels::self_checked`]): the checked entry's compares and the prologue's
    /// exit read the slots.
    carried_back: Vec<Option<DynamicLabel>>,
    /// Per function: its register arguments ([`FuncIr::args`]), (slot, register).
    args: Vec<Vec<(u16, u8)>>,
    /// Per function with register arguments: the label just past the loads of them at
    /// the start of block 0, where the calls and self tail calls that set them
    /// (`arg.set`) go.
    arg_heads: Vec<Option<DynamicLabel>>,
    /// Per function: its blocks other than block 0 with register arguments, by
    /// offset ([`BlockHead`]).
    block_heads: Vec<Vec<BlockHead>>,
}

/// A block with register arguments ([`super::Block::args`]): its offset, the label
/// just past the loads of them at its start, where the branches that set them go
/// ([`branch_args`]), and the arguments, (slot, register).
type BlockHead = (u32, DynamicLabel, Vec<(u16, u8)>);

/// A native call's site ([`Labels::calls`]): what [`fill_records`] writes into the
/// records of a call made there.
#[derive(Clone, Copy)]
struct CallSite {
    ret: DynamicLabel,
    resume: u32,
    a0: u16,
    dst: u16,
    /// The push left the closure unwritten ([`NativeCall::lazy_closure`]).
    lazy_closure: bool,
}

/// Bit of a call site's resume offset in [`sites_table`]: the call's push wrote no
/// closure, which [`fill_records`] writes as the FUNC value of the record's function.
/// (Bytecode offsets stay below 2^31.)
const SITE_LAZY_CLOSURE: u32 = 1 << 31;

/// The returns table's row of a function whose native returns set no `rcx`
/// ([`returns_table`]).
const NO_RET_ROW: u32 = u32::MAX;

/// Where the code after a native call finds the returned value's tag word: a
/// function whose every return is a `ret.val` of one kind leaves `rdx` unset
/// ([`own_ret_tags`]), and a tail call makes another function's return its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallTag {
    /// Every function the call can return from (the callee and the functions it
    /// reaches through direct tail calls; no tail call through a function value)
    /// returns this tag word and leaves `rdx` unset.
    Known(u16),
    /// Every one of them sets `rdx`.
    Rdx,
    /// Some do, some do not: the returns table's row of the function that returned
    /// (its record's `func`) says ([`tag_from_returns`]).
    Lookup,
}

/// Per function: the tag word of its returns when it leaves `rdx` unset: it has a
/// returns-table row ([`ret_row`], which the trampoline needs), and its every return
/// is a `ret.val` of that one kind (a number, a bool or an object, `OBJ`; `ret.slot`
/// reads its tag word from the slot). Whoever receives such a return without knowing
/// the callee reads the tag word from the returns table ([`tag_from_returns`]).
fn own_ret_tags(irs: &[Option<FuncIr>], rows: &[Option<(u32, u16)>]) -> Vec<Option<u16>> {
    irs.iter()
        .zip(rows)
        .map(|(f, row)| {
            let f = f.as_ref().filter(|_| row.is_some())?;
            let mut tag = None;
            for t in f.blocks.iter().map(|b| &b.trace) {
                for i in &t.ins {
                    match i.op {
                        IrOp::RetSlot => return None,
                        IrOp::RetVal => {
                            let tw = u16::try_from(t.tagword(i.a)).ok().filter(|&w| w != 0)?;
                            if tag.is_some_and(|w| w != tw) {
                                return None;
                            }
                            tag = Some(tw);
                        }
                        _ => {}
                    }
                }
            }
            tag
        })
        .collect()
}

/// Per function: where a direct call of it finds the returned tag word ([`CallTag`]):
/// the functions it can return from are it and those its direct tail calls
/// (`tcall.aot`) reach, transitively; a tail call through a function value
/// (`tcall.aot.ind`) can reach any, so it asks for the lookup unless every function
/// sets `rdx`.
fn call_tags(irs: &[Option<FuncIr>], own: &[Option<u16>]) -> Vec<CallTag> {
    let tails: Vec<(Vec<usize>, bool)> = irs
        .iter()
        .map(|f| {
            let mut direct = Vec::new();
            let mut indirect = false;
            for i in f.iter().flat_map(|f| &f.blocks).flat_map(|b| &b.trace.ins) {
                match i.op {
                    IrOp::TCallAot => direct.push((i.k & 0xffff_ffff) as usize),
                    IrOp::TCallAotInd => indirect = true,
                    _ => {}
                }
            }
            (direct, indirect)
        })
        .collect();
    // Whether a function returns natively itself (`ret.slot`, `ret.val`): one that
    // only tail-calls (pmap's `bal`) or leaves to the interpreter, whose exit
    // abandons every native caller, sets no `rdx` for anyone.
    let returns: Vec<bool> = irs
        .iter()
        .map(|f| {
            f.iter()
                .flat_map(|f| &f.blocks)
                .flat_map(|b| &b.trace.ins)
                .any(|i| matches!(i.op, IrOp::RetSlot | IrOp::RetVal))
        })
        .collect();
    let any_tagless = own.iter().any(Option::is_some);
    (0..irs.len())
        .map(|f| {
            let mut seen = vec![false; irs.len()];
            let mut todo = vec![f];
            seen[f] = true;
            let (mut tags, mut rdx, mut ind) = (None, false, false);
            while let Some(g) = todo.pop() {
                match own[g] {
                    Some(w) if tags.is_some_and(|t| t != w) => return CallTag::Lookup,
                    Some(w) => tags = Some(w),
                    None if returns[g] => rdx = true,
                    None => {}
                }
                ind |= tails[g].1;
                for &h in &tails[g].0 {
                    if h < irs.len() && !seen[h] {
                        seen[h] = true;
                        todo.push(h);
                    }
                }
            }
            match (tags, rdx, ind && any_tagless) {
                (Some(w), false, false) => CallTag::Known(w),
                (None, _, false) => CallTag::Rdx,
                _ => CallTag::Lookup,
            }
        })
        .collect()
}

/// After a native return, with the returning frame's record at `[rbp + rec]` (popped
/// or not): `rdx` becomes the tag word the returns table's row of the record's
/// function gives, when it gives one (the function's returns left `rdx` unset,
/// [`own_ret_tags`]). After a tail call the record's `func` is the function that
/// returned. Clobbers `s1` and `s2`.
fn tag_from_returns(a: &mut Asm, rets: DynamicLabel, rec: i32, s1: u8, s2: u8) {
    dynasm!(a ; .arch x64
        ; mov Rd(s1), DWORD [rbp + rec + layout::FRAME_FUNC as i32]
        ; lea Rq(s2), [=>rets]
        ; movzx Rd(s1), WORD [Rq(s2) + Rq(s1) * 8 + 6]
        ; test Rd(s1), Rd(s1)
        ; cmovnz rdx, Rq(s1));
}

/// After a native call's record is popped (it stays at `[rbp + rec]`: `rec` is 0, or
/// `-FRAME_SIZE` when the pop left the frame top one record up for the next call,
/// [`NativeCall::top_kept`]): the result into slot `dst`, its tag word where `tag`
/// says.
fn store_result(
    a: &mut Asm,
    labels: &Labels,
    tag: CallTag,
    dst: i16,
    rec: i32,
) -> Result<(), CompileError> {
    let d = disp(dst as u16 as u64)?;
    match tag {
        CallTag::Known(w) => dynasm!(a ; .arch x64
            ; mov QWORD [Rq(BASE) + d], rax
            ; mov QWORD [Rq(BASE) + d + 8], w as i32),
        CallTag::Rdx | CallTag::Lookup => {
            if tag == CallTag::Lookup {
                tag_from_returns(a, labels.rets, rec, 1 /* rcx */, 11);
            }
            dynasm!(a ; .arch x64
                ; mov QWORD [Rq(BASE) + d], rax
                ; mov QWORD [Rq(BASE) + d + 8], rdx);
        }
    }
    Ok(())
}

/// A function's `ret` for the trampoline to leave at, when a native return of the
/// function meets a frame below that is not a bytecode frame ([`returns_table`]): the
/// offset and slot of its first `ret` of a slot whose value it returns from a register
/// (`ret.val`, made only for the `ret` instruction, never `retu` or `reti`). Any
/// `ret` of a slot returns whatever that slot holds, so the trampoline writes the
/// returned value (of whichever `ret`, `retu` and `reti` included) there and resumes
/// at it: the interpreter's return of it is the one the function made. `None` for a
/// function without one: its returns say in `rcx` which `ret` they are.
fn ret_row(f: &FuncIr) -> Option<(u32, u16)> {
    f.blocks.iter().find_map(|b| {
        b.trace.ins.iter().find_map(|i| {
            (i.op == IrOp::RetVal && i.k & super::RET_VAL_RETI == 0).then(|| {
                let at = b.trace.snaps[i.snap as usize].resume_ip;
                (at, (i.k & 0xffff) as u16)
            })
        })
    })
}

/// Writes the returns table, one 8-byte row per function of the module, indexed by
/// function: the offset of the `ret` [`ret_row`] chose (`u32`, [`NO_RET_ROW`] for a
/// function without one), its slot (`u16`) and the tag word its returns leave out of
/// `rdx` (`u16`, [`own_ret_tags`]; 0 when they set it). The trampoline reads the row
/// of the function whose native return meets a frame below that is not a bytecode
/// frame, and every receiver of a return that does not know the callee the tag word
/// ([`tag_from_returns`]).
fn returns_table(a: &mut Asm, labels: &Labels) {
    dynasm!(a ; .arch x64 ; .align 8 ; =>labels.rets);
    for (row, tag) in labels.ret_rows.iter().zip(&labels.ret_tags) {
        let (at, slot) = row.map_or((NO_RET_ROW, 0), |(at, s)| (at, s));
        dynasm!(a ; .arch x64 ; .u32 at ; .u16 slot ; .u16 tag.unwrap_or(0));
    }
}

/// Per function: whether its native code reads the closure in its own frame record:
/// `getenv` (`env.slot`) and `callself` (its callee's record gets a copy). Nothing
/// else compiled reads it (`tcallk` and indirect tail calls rewrite it; an inlined
/// callee's exit stub writes its own FUNC closure).
fn reads_closure(f: &FuncIr) -> bool {
    f.blocks
        .iter()
        .flat_map(|b| &b.trace.ins)
        .any(|i| matches!(i.op, IrOp::EnvSlot | IrOp::CallAotSelf))
}

/// Per function: whether no helper call (`call.insn`, whose runtime function reads
/// the frame records) can run while it runs natively: it makes none, no indirect call
/// or tail call (whose callee is unknown), and every function it calls or tail-calls
/// directly is helper-free too (a greatest fixed point: recursion keeps it). The
/// direct calls such a function makes push lazy records ([`NativeCall::lazy`]): while
/// one of them is on the native stack, only an exit (through the trampoline's shared
/// exit, which completes them) lets anything read the records.
fn helper_free(irs: &[Option<FuncIr>]) -> Vec<bool> {
    // Per function: the functions it calls or tail-calls directly, or `None` when it
    // makes a helper call or an indirect one (found once; the fixed point reads these).
    let callees: Vec<Option<Vec<usize>>> = irs
        .iter()
        .map(|f| {
            let mut out = Vec::new();
            for i in f.as_ref()?.blocks.iter().flat_map(|b| &b.trace.ins) {
                match i.op {
                    IrOp::CallInsn | IrOp::CallAotInd | IrOp::TCallAotInd => return None,
                    IrOp::CallAotK | IrOp::CallAotKv | IrOp::CallAotSelf | IrOp::TCallAot => {
                        out.push((i.k & 0xffff_ffff) as usize)
                    }
                    _ => {}
                }
            }
            Some(out)
        })
        .collect();
    let mut free: Vec<bool> = callees.iter().map(Option::is_some).collect();
    loop {
        let mut changed = false;
        for (fi, calls) in callees.iter().enumerate() {
            let Some(calls) = calls else { continue };
            if free[fi]
                && calls
                    .iter()
                    .any(|&g| !free.get(g).copied().unwrap_or(false))
            {
                free[fi] = false;
                changed = true;
            }
        }
        if !changed {
            return free;
        }
    }
}

impl Labels {
    /// Notes a native call's site for [`sites_table`].
    fn site(
        &self,
        ret: DynamicLabel,
        resume: i32,
        a0: u64,
        dst: i16,
        lazy_closure: bool,
    ) -> Result<(), CompileError> {
        let a0 =
            u16::try_from(a0).map_err(|_| CompileError::NotInTraces("argument slot past 65535"))?;
        if resume as u32 & SITE_LAZY_CLOSURE != 0 {
            return Err(CompileError::NotInTraces("resume offset past 2^31"));
        }
        self.calls.borrow_mut().push(CallSite {
            ret,
            resume: resume as u32,
            a0,
            dst: dst as u16,
            lazy_closure,
        });
        Ok(())
    }
    /// The label past the loads of the register arguments of the block at `ip` of
    /// `func`, and those arguments, if it has any ([`Labels::block_heads`]).
    fn block_head(&self, func: u32, ip: u32) -> Option<(DynamicLabel, &[(u16, u8)])> {
        let v = self.block_heads.get(func as usize)?;
        let k = v.binary_search_by_key(&ip, |b| b.0).ok()?;
        Some((v[k].1, &v[k].2[..]))
    }
    fn block(&self, func: u32, ip: u32) -> Result<DynamicLabel, CompileError> {
        let v = &self.blocks[func as usize];
        v.binary_search_by_key(&ip, |(i, _)| *i)
            .map(|k| v[k].1)
            .map_err(|_| CompileError::NotInTraces("jump to an offset that starts no block"))
    }
    /// Where a call of `func` goes when it proves the seeded parameters' kinds (its
    /// typed entry): its prologue if its entry counts its calls, else its first block
    /// (the one entry of a function without seeded parameters).
    fn entry(&self, func: u32) -> Result<DynamicLabel, CompileError> {
        match self.prologues.get(func as usize).copied().flatten() {
            Some(p) => Ok(p),
            None => self.block(func, 0),
        }
    }
    /// The checked entry of `func`: every way in that does not prove the seeded
    /// parameters' kinds.
    fn checked_entry(&self, func: u32) -> Result<DynamicLabel, CompileError> {
        match self.checked.get(func as usize).copied().flatten() {
            Some(l) => Ok(l),
            None => self.entry(func),
        }
    }
    /// Where a self tail call of `func` goes whose arguments its typed entry does not
    /// take: its checked entry, which is its loop's head (past the loads of its
    /// carried registers, which the self tail call holds already) when it has neither
    /// tag compares nor a prologue; else, with carried registers, the stub that writes
    /// them back first ([`Labels::carried_back`]).
    fn self_checked(&self, func: u32) -> Result<DynamicLabel, CompileError> {
        let plain =
            self.checked[func as usize].is_none() && self.prologues[func as usize].is_none();
        match (self.heads[func as usize], self.carried_back[func as usize]) {
            (Some(h), _) if plain => Ok(h),
            (Some(_), Some(b)) => Ok(b),
            _ => self.checked_entry(func),
        }
    }
    /// Where the call (or tail call) at offset `at` of `caller` enters `callee`.
    fn call_entry(&self, callee: u32, caller: u32, at: u32) -> Result<DynamicLabel, CompileError> {
        if self.typed[caller as usize].binary_search(&at).is_ok() {
            self.entry(callee)
        } else {
            self.checked_entry(callee)
        }
    }
    /// Where a jump from the block at `from` to the block at `ip` goes: a loop's
    /// header is entered from outside the loop through its preheader.
    fn target(&self, func: u32, from: u32, ip: u32) -> Result<DynamicLabel, CompileError> {
        // Only a self tail call jumps to offset 0 in a function with carried
        // registers ([`super::carried_slots`]), and it holds them already.
        if let (0, Some(h)) = (ip, self.heads[func as usize]) {
            return Ok(h);
        }
        for (l, pre, _) in &self.loops[func as usize] {
            if l.head == ip && !l.contains(from) {
                return Ok(*pre);
            }
        }
        self.block(func, ip)
    }
    /// The header of the loop whose back-edge block ([`back_edge`]) starts at `ip`.
    fn back_edge(&self, func: u32, ip: u32) -> Option<u32> {
        let v = &self.back_edges[func as usize];
        v.binary_search_by_key(&ip, |(i, _)| *i)
            .ok()
            .map(|k| v[k].1)
    }
    /// The tier-up counter of the back-edge block at `ip`, if it counts.
    fn counter(&self, func: u32, ip: u32) -> Option<u32> {
        let v = &self.counters[func as usize];
        v.binary_search_by_key(&ip, |(i, _)| *i)
            .ok()
            .map(|k| v[k].1)
    }
    /// The loop with home registers the block at `ip` is in.
    fn home(&self, func: u32, ip: u32) -> Option<&HomeLoop> {
        self.loops[func as usize]
            .iter()
            .map(|l| &l.0)
            .find(|l| l.contains(ip))
    }
}

/// Writes the home registers of `h` to their slots, leaving the loop for `ip` (the
/// offset where the way out resumes in the loop's function; `None` inside an inlined
/// callee): those [`HomeLoop::stored_at`] names, the ones the loop writes and that are
/// live there, and any whose slot the way out has just cleared (`clears`, bit `s`:
/// slot `s`, [`Clears::at_exit`]), which must hold the home's value again. The others'
/// slots hold the home's value already (never written in the loop) or are dead there;
/// the loop-invariant objects' slots hold them still.
fn store_homes(
    a: &mut Asm,
    h: Option<&HomeLoop>,
    ip: Option<u32>,
    clears: u64,
) -> Result<(), CompileError> {
    let Some(h) = h else { return Ok(()) };
    let keep = h.stored_at(ip);
    for (k, &(s, ty, l)) in h.homes.iter().enumerate() {
        let cleared = s < 64 && clears & 1 << s != 0;
        if ty != IrType::Ptr && (keep & 1 << k != 0 || cleared) {
            store(a, s as u32, l, tag_word(ty))?;
        }
    }
    Ok(())
}

/// Whether leaving `h` for `ip` writes no home back ([`store_homes`] with no clears).
fn stores_nothing(h: &HomeLoop, ip: u32) -> bool {
    h.stored_at(Some(ip)) == 0
}

/// Stores the whole value of the slot at `voff` to `[r11 + off]`, a value field of the
/// object at `obj` (`r11` itself, or the object whose element `r11` addresses less
/// `FIELDS`), with the generational write barrier of `x64::heap_store`: when the value
/// is a young object and the target an old one not yet remembered, the `remember`
/// routine ([`remember_routine`]) puts the target in the remembered set first.
fn store_whole(a: &mut Asm, obj: u8, off: i32, voff: i32, remember: DynamicLabel) {
    // A temporary besides the scratch register, saved around (it may hold a value).
    let tmp: u8 = if obj == 0 { 1 } else { 0 };
    let store = a.new_dynamic_label();
    dynasm!(a ; .arch x64
        ; push Rq(tmp)
        ; cmp DWORD [Rq(BASE) + voff + 8], Tag::OBJ as i32
        ; jne =>store
        ; mov Rq(tmp), QWORD [Rq(BASE) + voff]
        ; sub Rq(tmp), QWORD [Rq(STATE) + layout::ST_NURSERY as i32]
        ; cmp Rq(tmp), QWORD [Rq(STATE) + layout::ST_NURSERY_SIZE as i32]
        ; jae =>store
        ; mov Rq(tmp), Rq(obj)
        ; sub Rq(tmp), QWORD [Rq(STATE) + layout::ST_NURSERY as i32]
        ; cmp Rq(tmp), QWORD [Rq(STATE) + layout::ST_NURSERY_SIZE as i32]
        ; jb =>store
        ; test BYTE [Rq(obj) + layout::FLAGS as i32], layout::FLAG_REMEMBERED as i8
        ; jnz =>store
        ; push Rq(obj)
        ; call =>remember
        ; =>store
        ; mov Rq(tmp), QWORD [Rq(BASE) + voff]
        ; mov QWORD [Rq(SCRATCH) + off], Rq(tmp)
        ; mov Rq(tmp), QWORD [Rq(BASE) + voff + 8]
        ; mov QWORD [Rq(SCRATCH) + off + 8], Rq(tmp)
        ; pop Rq(tmp));
}

/// The general-purpose registers the SysV ABI lets a callee clobber (what
/// [`remember_routine`] saves besides every xmm register).
const CALLER_SAVED: [u8; 9] = [0, 1, 2, 6, 7, 8, 9, 10, 11];

/// The write barrier's slow path, one routine for the whole program: called with the
/// old object's address pushed, it calls `hashvm_vm::jit::jit_remember` (through the
/// trampoline's helper table, [`super::hook::AotHelpers`]; the code is position
/// independent) and returns with every register as it was, popping the address. It
/// saves every caller-saved register, general and xmm, since any may hold a value of
/// the block (or a home register). Taken once per old object per minor collection,
/// instead of an exit to the interpreter, which would run the rest of the function and
/// of every native caller interpreted.
fn remember_routine(a: &mut Asm) {
    let pushed = 8 * CALLER_SAVED.len() as i32;
    for &r in &CALLER_SAVED {
        dynasm!(a ; .arch x64 ; push Rq(r));
    }
    dynasm!(a ; .arch x64
        // The object: above the saved registers and the return address.
        ; mov rsi, QWORD [rsp + pushed + 8]
        ; mov rax, rsp
        ; and rsp, -16
        ; sub rsp, 256);
    for x in 0..16u8 {
        dynasm!(a ; .arch x64 ; movdqu [rsp + 16 * x as i32], Rx(x));
    }
    dynasm!(a ; .arch x64
        ; push rax
        ; sub rsp, 8
        ; mov rdi, QWORD [rbx + TRAMP_VM]
        ; mov rax, QWORD [rbx + TRAMP_HELPERS]
        ; call QWORD [rax + super::hook::HELPER_REMEMBER as i32]
        ; add rsp, 8
        ; pop rax);
    for x in 0..16u8 {
        dynasm!(a ; .arch x64 ; movdqu Rx(x), [rsp + 16 * x as i32]);
    }
    dynasm!(a ; .arch x64 ; mov rsp, rax);
    for &r in CALLER_SAVED.iter().rev() {
        dynasm!(a ; .arch x64 ; pop Rq(r));
    }
    dynasm!(a ; .arch x64 ; ret 8);
}

/// The tag word of a value of type `ty` (i64, f64 or bool).
pub(super) fn tag_word(ty: IrType) -> u64 {
    (match ty {
        IrType::F64 => Tag::F64,
        IrType::Bool => Tag::BOOL,
        _ => Tag::I64,
    }) as u64
}

/// Loads every home register of `h` from its slot, guarding its tag where no kind is
/// proven ([`HomeLoop::checked`]; an array's: an object of the array kind; a data
/// object's: of the data kind with the fields the loop uses; a failure leaves to the
/// interpreter at `ip`, the slots untouched but `clears`), then jumps to `to`.
///
/// `clears` are the kept slots an exit at `ip` clears ([`Clears::at_exit`]): the
/// preheader is reached from compiled code of the function, whose frame a direct
/// call may have pushed without clearing them, so its failure is an exit like a
/// stub's and leaves the frame a push would have left. The back-edge entry passes 0:
/// the interpreter enters it, and its frame is whole (its push or an exit's stub
/// cleared those slots). `routine` is the exits' clearing routine ([`clear_exit`]).
fn load_homes(
    a: &mut Asm,
    h: &HomeLoop,
    ip: u32,
    clears: u64,
    to: DynamicLabel,
    out: DynamicLabel,
    routine: DynamicLabel,
) -> Result<(), CompileError> {
    let fail = a.new_dynamic_label();
    if h.room != 0 {
        room_check(a, h.room as u64, fail)?;
    }
    for &(s, ty, l) in &h.homes {
        let off = disp(s as u64)?;
        let tag = if ty == IrType::Ptr {
            Tag::OBJ as i32
        } else {
            tag_word(ty) as i32
        };
        // A number or bool of a kind proven at the header is that kind in its slot
        // ([`HomeLoop::checked`]).
        if ty == IrType::Ptr || h.checked.contains(&s) {
            dynasm!(a ; .arch x64 ; cmp DWORD [Rq(BASE) + off + 8], tag ; jne =>fail);
        }
        match l {
            Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(BASE) + off]),
            Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd Rx(r), QWORD [Rq(BASE) + off]),
            Loc::None => {}
        }
        if let (IrType::Ptr, Loc::Gpr(r)) = (ty, l) {
            match h.object(s as usize) {
                Some(n) => dynasm!(a ; .arch x64
                    ; cmp BYTE [Rq(r) + layout::KIND as i32], layout::KIND_DATA as i8
                    ; jne =>fail
                    ; cmp QWORD [Rq(r) + layout::LEN as i32], n as i32
                    ; jb =>fail),
                None => dynasm!(a ; .arch x64
                    ; cmp BYTE [Rq(r) + layout::KIND as i32], layout::KIND_ARRAY as i8
                    ; jne =>fail),
            }
        }
    }
    dynasm!(a ; .arch x64 ; jmp =>to ; =>fail);
    clear_exit(a, clears, routine)?;
    dynasm!(a ; .arch x64 ; mov eax, ip as i32 ; jmp =>out);
    Ok(())
}

/// Loads the carried registers of each carried parameter from its slot's payload and
/// tag word ([`FuncIr::carried`]), with no check: the tag is compared where the
/// payload is read as an address.
fn load_carried(a: &mut Asm, carried: &[(u16, u8, u8)]) -> Result<(), CompileError> {
    for &(s, r, t) in carried {
        let off = disp(s as u64)?;
        dynasm!(a ; .arch x64
            ; mov Rq(r), QWORD [Rq(BASE) + off]
            ; mov Rq(t), QWORD [Rq(BASE) + off + 8]);
    }
    Ok(())
}

/// Writes the carried registers back to their slots ([`FuncIr::carried`]): what every
/// way out of the function's blocks to a reader of the slots does first (an exit to
/// the interpreter, a self tail call to the checked entry).
fn store_carried(a: &mut Asm, carried: &[(u16, u8, u8)]) -> Result<(), CompileError> {
    for &(s, r, t) in carried {
        let off = disp(s as u64)?;
        dynasm!(a ; .arch x64
            ; mov QWORD [Rq(BASE) + off], Rq(r)
            ; mov QWORD [Rq(BASE) + off + 8], Rq(t));
    }
    Ok(())
}

/// Gives each `home.get.obj` whose value can stay in its carried register that
/// register as its location, so that no `mov` copies the address out of it (and its
/// readers, a `field`'s load, address the register in place). It can stay when no
/// instruction from the `home.get.obj` to its value's last reader writes the register:
/// the only writer inside a block is a `field2` into a carried slot
/// ([`IrOp::FieldPtr`], which loads both registers and may read its object from the
/// register it overwrites), and the assignment gives no other value a carried register
/// ([`reserved`]). A value the block's end reads (its `tail` or a phi) keeps the
/// allocator's register: the back-edge reloads the carried registers. Exits read a
/// snapshot's value from its location after writing the carried registers back to
/// their slots, which leaves the registers as they were.
fn carried_in_place(t: &Trace, loc: &mut [Loc], carried: &[(u16, u8, u8)]) {
    if carried.is_empty() || !t.ins.iter().any(|x| x.op == IrOp::HGetC) {
        return;
    }
    let n = t.ins.len();
    let last = crate::x64::last_reads(t);
    let writes = |x: &crate::ir::Ins, r: u8| {
        x.op == IrOp::FieldPtr
            && carried
                .iter()
                .any(|c| c.0 as u64 == x.k >> 32 && (c.1 == r || c.2 == r))
    };
    for (i, ins) in t.ins.iter().enumerate() {
        if ins.op != IrOp::HGetC || !matches!(loc[i], Loc::Gpr(_)) {
            continue;
        }
        let Some(&(_, r, _)) = carried.iter().find(|c| c.0 as u64 == ins.k & 0xffff) else {
            continue;
        };
        let end = last[i];
        if end < n && !t.ins[i + 1..=end].iter().any(|x| writes(x, r)) {
            loc[i] = Loc::Gpr(r);
        }
    }
}

/// The carried registers (payload, tag word) of slot `s` of `func`, if it has them.
fn carried_regs(labels: &Labels, func: u32, s: u64) -> Option<(u8, u8)> {
    labels.carried[func as usize]
        .iter()
        .find(|c| c.0 as u64 == s)
        .map(|c| (c.1, c.2))
}

/// Clears the slots of `mask` (bit `s`: slot `s`) to unit, as a push would have: what
/// an exit of a function whose push kept them writes first ([`Clears::at_exit`]).
fn clear_slots(a: &mut Asm, mask: u64) -> Result<(), CompileError> {
    for s in (0..64).filter(|s| mask & 1 << s != 0) {
        let off = disp(s)?;
        dynasm!(a ; .arch x64 ; mov DWORD [Rq(BASE) + off + 8], Tag::UNIT as i32);
    }
    Ok(())
}

/// The fewest slots an exit clears through [`clear_routine`] rather than with a store
/// each: a store is 12 bytes of code, the routine's call 11 to 15 (the mask into
/// `r11`, the `call`).
const CLEAR_ROUTINE_MIN: u32 = 3;

/// Clears the kept slots of `mask` (bit `s`: slot `s`) on an exit's way to the
/// interpreter ([`Clears::at_exit`]): one store each when they are few, else one call
/// of the shared [`clear_routine`] (`routine`) with the mask in `r11`, so that the code
/// an exit stub spends on clears is bounded whatever the function keeps (the analysis
/// bounds no exit's clears, `aot::clears`). Only on the cold way out: the routine
/// clobbers `r11` and the flags (an exit's stub reads neither: it stores its pending
/// values from their own registers, then sets `eax` and jumps to the shared exit).
fn clear_exit(a: &mut Asm, mask: u64, routine: DynamicLabel) -> Result<(), CompileError> {
    if mask.count_ones() < CLEAR_ROUTINE_MIN {
        return clear_slots(a, mask);
    }
    // Every slot of the mask is addressable (as `clear_slots` would check).
    disp(63 - mask.leading_zeros() as u64)?;
    dynasm!(a ; .arch x64
        ; mov r11, QWORD mask as i64
        ; call =>routine);
    Ok(())
}

/// The exits' shared clearing routine ([`clear_exit`]), one for the whole program:
/// called with a mask of slots in `r11` (bit `s`: slot `s` of the frame at `BASE`), it
/// writes the unit tag word into each, as [`clear_slots`] does inline, lowest first,
/// and returns with every register but `r11` (zero) and the flags as they were.
fn clear_routine(a: &mut Asm) {
    const _: () = assert!(std::mem::size_of::<Value>() == 16, "slot s is at 16 * s");
    let (next, done) = (a.new_dynamic_label(), a.new_dynamic_label());
    dynasm!(a ; .arch x64
        ; push rax
        ; =>next
        ; bsf rax, r11
        ; jz =>done
        ; btr r11, rax
        ; shl rax, 4
        ; mov DWORD [Rq(BASE) + rax + 8], Tag::UNIT as i32
        ; jmp =>next
        ; =>done
        ; pop rax
        ; ret);
}

/// Whether operation `op` of a fragment may stand between two direct calls that share
/// one limit check ([`covered`]) and a frame record ([`record_kept`]): it runs no other
/// code and writes nothing but frame slots (no frame record, no limit, no `BASE`).
fn between_calls(op: IrOp) -> bool {
    match op {
        IrOp::SStore
        | IrOp::SStoreP
        | IrOp::SClear
        | IrOp::SUnit
        | IrOp::SCopy
        | IrOp::GCopy
        | IrOp::FieldSlot
        | IrOp::FieldPtr
        | IrOp::AGetSlot
        | IrOp::HeadSlot => true,
        op => !op.is_call() && op.flags() & crate::ir::flag::STORE == 0,
    }
}

/// The direct call of the fragment before the direct call `ins[i]` with only
/// operations [`between_calls`] between them, if any: both run with the same stack
/// pointer, `BASE`, frame top and limits (a callee that exits never comes back here).
fn chained(ins: &[crate::ir::Ins], i: usize) -> Option<&crate::ir::Ins> {
    for p in ins[..i].iter().rev() {
        match p.op {
            IrOp::CallAotK | IrOp::CallAotKv | IrOp::CallAotSelf => return Some(p),
            op if !between_calls(op) => return None,
            _ => {}
        }
    }
    None
}

/// Whether `op` checks the limits of a frame: a direct call (its callee's) or an
/// inlined call's `call.room` (the frame an exit inside the callee pushes).
fn checks_room(op: IrOp) -> bool {
    matches!(
        op,
        IrOp::CallAotK | IrOp::CallAotKv | IrOp::CallAotSelf | IrOp::Room
    )
}

/// The end of the frame, in slots from `BASE`, whose limits the direct call or
/// `call.room` `c` checks.
fn room_end(c: &crate::ir::Ins, labels: &Labels) -> u64 {
    if c.op == IrOp::Room {
        return c.k;
    }
    let f = (c.k & 0xffff_ffff) as usize;
    ((c.k >> 32) & 0xffff) + labels.shapes.get(f).map_or(0, |s| s.1 as u64)
}

/// Whether the direct call or `call.room` `ins[i]` makes no check of its own: an
/// earlier one of the fragment ([`checks_room`]) with only operations
/// [`between_calls`] between them checked for it too ([`chain_end`]). Both run with the
/// same stack pointer, `BASE`, frame top and limits, so the first one's compare with
/// the floor has the outcome the second one's would (a callee that exits never comes
/// back here). `call.room` is itself an operation [`between_calls`] (it reads the
/// limits, writes nothing), so an inlined call's check and the direct calls around it
/// share one compare: awfy_list's `tail`, whose inlined `next_of`s each precede a call.
fn covered(ins: &[crate::ir::Ins], i: usize) -> bool {
    for p in ins[..i].iter().rev() {
        if checks_room(p.op) {
            return true;
        }
        if !between_calls(p.op) {
            return false;
        }
    }
    false
}

/// The end of the largest frame, in bytes from `BASE`, of the direct calls and
/// `call.room`s covered by the check of `ins[i]` ([`covered`]), its own included: the
/// limit check of `ins[i]` covers theirs ([`SlowCall`]).
fn chain_end(ins: &[crate::ir::Ins], i: usize, labels: &Labels) -> u64 {
    let mut e = room_end(&ins[i], labels);
    for c in &ins[i + 1..] {
        match c.op {
            op if checks_room(op) => e = e.max(room_end(c, labels)),
            op if !between_calls(op) => break,
            _ => {}
        }
    }
    e
}

/// Whether the direct call `ins[i]` finds its callee's function and ip 0 already in
/// the record at the frame top ([`NativeCall::record_kept`]): the call chained before
/// it ([`chained`]) is of the same callee, whose lazy push wrote them, and which
/// rewrites nothing in its own record ([`Labels::keeps_record`]). The callee returned
/// natively (an exit leaves to the interpreter, which never comes back to this code),
/// the frame top (`rbp`) is the same at both calls, and a frame slot is not the record.
/// fib's and tak's second calls, tak's third.
fn record_kept(ins: &[crate::ir::Ins], i: usize, labels: &Labels) -> bool {
    let f = (ins[i].k & 0xffff_ffff) as usize;
    labels.keeps_record.get(f).copied().unwrap_or(false)
        && chained(ins, i).is_some_and(|p| (p.k & 0xffff_ffff) as usize == f)
}

/// Whether the direct calls `ins[i]` and `ins[j]` (`i < j`) of a fragment share the
/// frame top: only operations [`between_calls`] stand between them and none of them
/// is a guard. Then `rbp` is read by nothing between the two (an exit stub reads it to
/// push frames and the shared exit to fill the records; a helper call is no operation
/// [`between_calls`]), so the first call's pop leaves it one record up
/// ([`NativeCall::top_kept`]) and the second call's push writes its record there
/// without moving it ([`NativeCall::top_pushed`]): two instructions a pair (fib's two
/// calls, tak's three). The second call is [`chained`] to the first, so it makes no
/// limit check either, whose slow path would exit.
fn top_shared(ins: &[crate::ir::Ins], i: usize, j: usize) -> bool {
    i < j
        && top_call(ins[i].op)
        && ins.get(j).is_some_and(|c| top_call(c.op))
        && ins[i + 1..j].iter().all(|x| !ends_shared_top(x))
}

/// The direct calls that may share a frame top ([`top_shared`]).
fn top_call(op: IrOp) -> bool {
    matches!(op, IrOp::CallAotK | IrOp::CallAotKv | IrOp::CallAotSelf)
}

/// Whether `x` ends a run of operations across which two direct calls share their
/// frame top ([`top_shared`]): a direct call, an operation not [`between_calls`], a
/// guard.
fn ends_shared_top(x: &crate::ir::Ins) -> bool {
    top_call(x.op) || !between_calls(x.op) || x.op.flags() & flag::GUARD != 0
}

/// Whether the direct call `ins[i]` shares its frame top with the next direct call of
/// the fragment ([`top_shared`]): its pop leaves `rbp` one record up.
fn top_shared_next(ins: &[crate::ir::Ins], i: usize) -> bool {
    (i + 1..ins.len())
        .find(|&j| ends_shared_top(&ins[j]))
        .is_some_and(|j| top_shared(ins, i, j))
}

/// Whether the direct call `ins[j]` shares its frame top with the direct call before
/// it in the fragment ([`top_shared`]): its push finds `rbp` one record up.
fn top_shared_prev(ins: &[crate::ir::Ins], j: usize) -> bool {
    (0..j)
        .rev()
        .find(|&i| ends_shared_top(&ins[i]))
        .is_some_and(|i| top_shared(ins, i, j))
}

/// The `arg.set`s right before operation `i` (a direct call or a self tail call's
/// jump), in order: (value, register).
fn arg_sets(t: &Trace, i: usize) -> Vec<(Ref, u8)> {
    let mut v: Vec<(Ref, u8)> = t.ins[..i]
        .iter()
        .rev()
        // (A branch's `arg.set`s name its snapshot, never 0: [`branch_args`].)
        .take_while(|x| x.op == IrOp::ArgSet && x.snap == 0)
        .map(|x| (x.a, x.k as u8))
        .collect();
    v.reverse();
    v
}

/// The moves into the register arguments `want` of the block a branch's snapshot `k`
/// jumps to: the `arg.set`s right after each guard of `t` that exits through `k`, which
/// name `k` (`Tx::set_block_args`). `None` (the branch enters at the block's loads)
/// when no guard has them, when two guards of the snapshot set different values, or
/// when they do not set exactly `want` from general registers or constants. The
/// values are in their registers at the guard: the `arg.set`s after it read them, and
/// nothing is defined between.
fn branch_args(t: &Trace, loc: &[Loc], k: usize, want: &[(u16, u8)]) -> Option<Vec<(Src, u8)>> {
    let mut sets: Option<Vec<(Ref, u8)>> = None;
    for (g, ins) in t.ins.iter().enumerate() {
        if ins.op.flags() & flag::GUARD == 0 || ins.snap as usize != k {
            continue;
        }
        let these: Vec<(Ref, u8)> = t.ins[g + 1..]
            .iter()
            .take_while(|x| x.op == IrOp::ArgSet && x.snap as usize == k)
            .map(|x| (x.a, x.k as u8))
            .collect();
        match &sets {
            None => sets = Some(these),
            Some(v) if *v == these => {}
            Some(_) => return None,
        }
    }
    let sets = sets.filter(|v| !v.is_empty())?;
    arg_moves(t, loc, &sets, want).ok()
}

/// Moves the values of `sets` (each in its register, or a constant) into their
/// argument registers at once (a parallel move: a register another move still reads
/// is written after that move, a cycle broken through `r11`), and checks that they are
/// exactly the register arguments `want` of the function entered (else the entry past
/// the loads would read a register no one set).
fn move_args_to_regs(
    a: &mut Asm,
    t: &Trace,
    loc: &[Loc],
    sets: &[(Ref, u8)],
    want: &[(u16, u8)],
) -> Result<(), CompileError> {
    let todo = arg_moves(t, loc, sets, want)?;
    emit_arg_moves(a, todo);
    Ok(())
}

/// A source of an argument register's move ([`arg_moves`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Reg(u8),
    Imm(u64),
}

/// The moves that put the values of `sets` into their argument registers, (source,
/// destination), those already in place left out; an error unless `sets` names
/// exactly the registers of `want`, each value in a general register or a constant.
fn arg_moves(
    t: &Trace,
    loc: &[Loc],
    sets: &[(Ref, u8)],
    want: &[(u16, u8)],
) -> Result<Vec<(Src, u8)>, CompileError> {
    if sets.len() != want.len() || sets.iter().zip(want).any(|(s, w)| s.1 != w.1) {
        return Err(CompileError::NotInTraces("arg.set of other registers"));
    }
    let mut todo: Vec<(Src, u8)> = Vec::with_capacity(sets.len());
    for &(v, r) in sets {
        let src = match (loc.get(v.0 as usize).copied(), t.konst(v)) {
            (_, Some(bits)) => Src::Imm(bits),
            (Some(Loc::Gpr(x)), None) => Src::Reg(x),
            _ => return Err(CompileError::NotInTraces("arg.set of no general register")),
        };
        if !matches!(src, Src::Reg(x) if x == r) {
            todo.push((src, r));
        }
    }
    Ok(todo)
}

/// Emits the moves of [`arg_moves`] at once (a parallel move: a register another
/// move still reads is written after that move, a cycle broken through `r11`).
fn emit_arg_moves(a: &mut Asm, mut todo: Vec<(Src, u8)>) {
    while !todo.is_empty() {
        // A move whose destination no other pending move reads.
        let free = (0..todo.len()).find(|&k| {
            let d = todo[k].1;
            !todo
                .iter()
                .enumerate()
                .any(|(j, m)| j != k && matches!(m.0, Src::Reg(x) if x == d))
        });
        match free {
            Some(k) => {
                let (src, d) = todo.remove(k);
                match src {
                    Src::Reg(x) => dynasm!(a ; .arch x64 ; mov Rq(d), Rq(x)),
                    Src::Imm(bits) => dynasm!(a ; .arch x64 ; mov Rq(d), QWORD bits as i64),
                }
            }
            None => {
                // Every destination is read by another move: a cycle of registers.
                // Park the first destination's value in `r11` and read it from there.
                let d = todo[0].1;
                dynasm!(a ; .arch x64 ; mov r11, Rq(d));
                for m in todo.iter_mut() {
                    if matches!(m.0, Src::Reg(x) if x == d) {
                        m.0 = Src::Reg(SCRATCH);
                    }
                }
            }
        }
    }
}

/// Writes the i64 tag word (whole: aux 0) into the slots of `mask`: dead slots below a
/// direct call's frame whose next store writes the payload only
/// (`Tx::tag_in_memory`).
fn tag_i64_slots(a: &mut Asm, mask: u64) -> Result<(), CompileError> {
    for s in (0..64).filter(|s| mask & 1 << s != 0) {
        let off = disp(s)?;
        dynasm!(a ; .arch x64 ; mov QWORD [Rq(BASE) + off + 8], Tag::I64 as i32);
    }
    Ok(())
}

/// Clears slots `from..to` to unit, as a push clears a callee's slots past its
/// arguments (a tail call's, an indirect entry's), but those in `keep` (bit `s`: slot
/// `s`; a direct tail call's callee covers them first, `Clears::keep`, as after a
/// direct call's push: the frame a tail call leaves holds the same kind of leftovers).
fn clear_range(a: &mut Asm, from: u64, to: u64, keep: u64) -> Result<(), CompileError> {
    for s in from..to {
        if s < 64 && keep & 1 << s != 0 {
            continue;
        }
        let off = disp(s)?;
        dynasm!(a ; .arch x64 ; mov DWORD [Rq(BASE) + off + 8], Tag::UNIT as i32);
    }
    Ok(())
}

/// A tail call's `n` arguments (a self tail call's too, `smove`) moved from slot `a0`
/// down to slot 0, in ascending order (the window may overlap where it goes; `a0` 0
/// moves nothing).
fn move_args(a: &mut Asm, a0: u64, n: u64) -> Result<(), CompileError> {
    if a0 != 0 {
        for s in 0..n {
            copy_slot(a, s, a0 + s)?;
        }
    }
    Ok(())
}

/// Jumps to `fail` unless a frame ending `end` slots above slot 0 fits the value stack
/// and one more frame record the frame stack (an inlined call's limits, `call.room`).
fn room_check(a: &mut Asm, end: u64, fail: DynamicLabel) -> Result<(), CompileError> {
    let e = disp(end)?;
    dynasm!(a ; .arch x64
        ; lea r11, [Rq(BASE) + e]
        ; cmp r11, QWORD [Rq(STATE) + layout::ST_STACK_LIMIT as i32]
        ; ja =>fail
        ; lea r11, [rbp + layout::FRAME_SIZE as i32]
        ; cmp r11, QWORD [Rq(STATE) + layout::ST_FRAME_LIMIT as i32]
        ; ja =>fail);
    Ok(())
}

/// What the trampoline needs to keep direct calls inside the value stack with the one
/// native-stack compare each makes: `log2` of the largest argument offset of any
/// direct call in bytes (rounded up to a power of two: how far one call moves the
/// base at most) and the largest extent of a callee's frame, or of an inlined call's
/// (`call.room`, checked with the same floor), from the caller's base in bytes (what
/// the call itself needs free). `None` when the program makes no direct call and has
/// no `call.room`.
fn value_floor(irs: &[Option<FuncIr>], shapes: &[(u16, u16)]) -> Option<(i8, i32)> {
    let (mut step, mut end) = (0u64, 0u64);
    for b in irs.iter().flatten().flat_map(|f| &f.blocks) {
        for ins in &b.trace.ins {
            if matches!(ins.op, IrOp::CallAotK | IrOp::CallAotKv | IrOp::CallAotSelf) {
                let f = (ins.k & 0xffff_ffff) as usize;
                let a0 = (ins.k >> 32) & 0xffff;
                let nslots = shapes.get(f).map_or(u16::MAX, |s| s.1) as u64;
                step = step.max(a0.max(1));
                end = end.max(a0 + nslots);
            } else if ins.op == IrOp::Room {
                // An inlined call's limits, checked with the same floor
                // (`call.room`): its frame starts at the caller's slot 0 and moves no
                // base.
                step = step.max(1);
                end = end.max(ins.k);
            } else if ins.op == IrOp::CallAotInd {
                // Its own frame is checked exactly (the callee is known only at run
                // time), but the calls below it count on bases at most `step` apart.
                step = step.max(((ins.k >> 16) & 0xffff).max(1));
            }
        }
    }
    // Both at most 2^17 slots: 2^21 bytes.
    let step = (step * std::mem::size_of::<Value>() as u64).checked_next_power_of_two()?;
    let end = end * std::mem::size_of::<Value>() as u64;
    (end > 0).then(|| (step.trailing_zeros() as i8, end as i32))
}

/// Compiles the translated program into an [`Image`].
pub fn program(
    m: &Module,
    irs: &[Option<FuncIr>],
    full: &[bool],
    worth: &[bool],
    loop_entries: &[Vec<u32>],
    entry_counted: &[bool],
    shapes: &[(u16, u16)],
) -> Result<Image, String> {
    let mut a = Asm::new(0);
    let out = a.new_dynamic_label();
    let sites = a.new_dynamic_label();
    // The trampoline (offset 0) and the shared exit.
    // It saves every callee-saved register the code uses (`r13`-`r15` hold values:
    // the allocator's last general registers and the loops' home registers), keeping
    // the native stack's alignment for the entered code as it was.
    //
    // Compiled code returns natively with the result in `rax` (payload) and `rdx` (tag
    // word), the bytecode offset of its `ret` in `ecx`, and its frame still pushed
    // (`ret.slot`): a direct caller pops the record and stores the result into its own
    // slot. Here, returning to the interpreter's frame below, the trampoline does what
    // the interpreter's return does (the result into the caller's slot named by the
    // record, the record popped); when that frame is not a bytecode frame (a host
    // boundary, a continuation of `list.map`...) it leaves to the interpreter at the
    // `ret` instead, whose value is still in its slot.
    let fsz = layout::FRAME_SIZE as i32;
    let not_normal = a.new_dynamic_label();
    let restore = a.new_dynamic_label();
    let rets = a.new_dynamic_label();
    dynasm!(a ; .arch x64
        ; push rbx
        ; push rbp
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, TRAMP_RESERVE
        ; mov r12, rdx
        ; mov rbx, rsp
        ; mov QWORD [rbx + TRAMP_VM], r8
        ; mov QWORD [rbx + TRAMP_HELPERS], r9
        ; mov rax, QWORD [r9 + super::hook::HELPER_COUNTERS as i32]
        ; mov QWORD [rbx + TRAMP_COUNTERS], rax
        // The floor of the native stack (`[rbx + TRAMP_FLOOR]`, checked at every
        // direct call): the budget, raised so that the frame stack cannot fill first.
        // A direct call takes 8 bytes of native stack (the return address) and one
        // frame record, so with `room` records free the calls at depths 0 to
        // `room - 1` may go (the entered code starts at `rbx - 8`); `room` 0 puts the
        // floor above the stack pointer, so that every call leaves to the interpreter.
        // The frame top goes in `rbp` for the code (`CallConv::Aot`).
        ; mov rbp, QWORD [r12 + layout::ST_FRAME_TOP as i32]
        ; mov QWORD [rbx + TRAMP_TOP0], rbp
        ; mov rax, QWORD [r12 + layout::ST_FRAME_LIMIT as i32]
        ; sub rax, rbp
        ; sar rax, FRAME_SHIFT
        ; dec rax
        ; imul rax, rax, CALL_BYTES
        ; lea r11, [rbx - 8]
        ; sub r11, rax
        ; lea rax, [rbx - NATIVE_BUDGET]
        ; cmp r11, rax
        ; cmovb r11, rax
        ; mov QWORD [rbx + TRAMP_FRAMES], r11
    );
    if let Some((shift, end)) = value_floor(irs, shapes) {
        // Raised again so that the value stack cannot fill first: the call at depth
        // `i` has its base at most `i` times the largest argument offset of any direct
        // call (`1 << shift` bytes, rounded up to a power of two) above the entered
        // frame's slot 0 (`rdi`), and needs at most `end` bytes from its base; so the
        // calls at depths 0 to `(limit - rdi - end) >> shift` may go (a negative count
        // puts the floor above the stack pointer). A bound for the whole program, so
        // a call below it checks exactly before it leaves ([`SlowCall`]).
        dynasm!(a ; .arch x64
            ; mov rax, QWORD [r12 + layout::ST_STACK_LIMIT as i32]
            ; sub rax, rdi
            ; sub rax, end
            ; sar rax, shift
            ; imul rax, rax, CALL_BYTES
            ; lea rdx, [rbx - 8]
            ; sub rdx, rax
            ; cmp r11, rdx
            ; cmovb r11, rdx);
    }
    // The code writes the frame top (`rbp`) to the register block only where the
    // runtime reads it (`CallConv::Aot`): here, before the return below reads the
    // records, and at the shared exit.
    dynasm!(a ; .arch x64
        ; mov QWORD [rbx + TRAMP_FLOOR], r11
        ; call rcx
        ; mov QWORD [r12 + layout::ST_FRAME_TOP as i32], rbp
    );
    // The returned tag word, when the function that returned left `rdx` unset. `rcx`
    // stays: it names the `ret` of a function without a returns-table row.
    tag_from_returns(&mut a, rets, -fsz, 8, 9);
    dynasm!(a ; .arch x64
        ; mov r11, rbp
        ; cmp BYTE [r11 - 2 * fsz + layout::FRAME_KIND as i32], layout::FRAME_NORMAL as i8
        ; jne =>not_normal
    );
    return_to_caller(&mut a, 8 /* r8 */, 9 /* r9 */);
    // Leaving at a `ret`, whose value the interpreter reads from its slot. A function
    // with a row in the returns table ([`returns_table`]) set no `rcx`: the value goes
    // into the slot of the `ret` its row names (`rdi` is the returning frame's slot 0),
    // and the interpreter resumes at that `ret`, which returns it.
    let own = a.new_dynamic_label();
    dynasm!(a ; .arch x64
        ; jmp =>restore
        ; =>not_normal
        ; mov r8d, DWORD [r11 - fsz + layout::FRAME_FUNC as i32]
        ; lea r9, [=>rets]
        ; mov r10, QWORD [r9 + r8 * 8]
        ; cmp r10d, NO_RET_ROW as i32
        ; je =>own
        ; mov r8, r10
        ; shr r8, 32
        ; movzx r8d, r8w
        ; shl r8, 4
        ; mov QWORD [rdi + r8], rax
        ; mov QWORD [rdi + r8 + 8], rdx
        ; mov eax, r10d
        ; jmp =>restore
        // A return of a function without a row: its `ret` (`ecx`) reads the slot.
        ; =>own
        ; mov eax, ecx
        ; =>restore
        ; add rsp, TRAMP_RESERVE
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
        ; ret
        ; =>out
        ; mov QWORD [r12 + layout::ST_FRAME_TOP as i32], rbp
    );
    // Leaving with native calls on the native stack (below the entered code's return
    // address, at `rbx - 8`): their records get the fields a lazy push left out
    // (`fill_records`, through the helper table), before the runtime reads them.
    // `r15` keeps the offset: it is restored below.
    let filled = a.new_dynamic_label();
    dynasm!(a ; .arch x64
        ; lea r11, [rbx - 8]
        ; cmp rsp, r11
        ; je =>filled
        ; mov r15d, eax
        ; mov rdi, rbx
        ; mov rsi, rsp
        ; lea rdx, [=>sites]
        ; mov rcx, QWORD [rbx + TRAMP_TOP0]
        ; and rsp, -16
        ; mov rax, QWORD [rbx + TRAMP_HELPERS]
        ; call QWORD [rax + super::hook::HELPER_FILL as i32]
        ; mov eax, r15d
        ; =>filled
        ; lea rsp, [rbx + TRAMP_RESERVE]
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
        ; ret);
    let blocks: Vec<Vec<(u32, DynamicLabel)>> = per_function(irs, |f| {
        f.blocks
            .iter()
            .map(|b| (b.ip, a.new_dynamic_label()))
            .collect()
    });
    let loops = per_function(irs, |f| {
        f.loops
            .iter()
            .map(|l| (l.clone(), a.new_dynamic_label(), a.new_dynamic_label()))
            .collect()
    });
    let remember = a.new_dynamic_label();
    dynasm!(a ; .arch x64 ; =>remember);
    remember_routine(&mut a);
    let clear = a.new_dynamic_label();
    dynasm!(a ; .arch x64 ; =>clear);
    clear_routine(&mut a);
    let back_edges: Vec<Vec<(u32, u32)>> = per_function(irs, |f| {
        f.blocks
            .iter()
            .filter_map(|b| back_edge(&b.trace).map(|h| (b.ip, h)))
            .collect()
    });
    let clears = irs
        .iter()
        .map(|f| f.as_ref().map(|f| f.clears.clone()).unwrap_or_default())
        .collect();
    let (counters, nloops) = counted_loops(m, irs, loop_entries, &back_edges);
    let checked = irs
        .iter()
        .map(|f| match f {
            Some(f) if !f.checked.is_empty() => Some(a.new_dynamic_label()),
            _ => None,
        })
        .collect();
    let typed = per_function(irs, |f| f.typed.clone());
    let checked_back = per_function(irs, |f| {
        f.blocks
            .iter()
            .filter(|b| {
                back_edge(&b.trace).is_some()
                    && b.trace.ins.last().is_some_and(|j| j.k & CHECKED_ENTRY != 0)
            })
            .map(|b| b.ip)
            .collect()
    });
    // A function whose entry counts its calls is entered (called, natively or by the
    // interpreter) at a prologue before its first block, which `tcallself` jumps back
    // to only through the checked entry (arguments the typed entry does not take).
    let prologues = (0..irs.len())
        .map(|fi| {
            (irs[fi].is_some() && entry_counted.get(fi).copied().unwrap_or(false))
                .then(|| a.new_dynamic_label())
        })
        .collect();
    // The fixed point over the call graph, computed once for both fields.
    let lazy = helper_free(irs);
    let ret_rows: Vec<_> = irs.iter().map(|f| f.as_ref().and_then(ret_row)).collect();
    let ret_tags = own_ret_tags(irs, &ret_rows);
    let call_tags = call_tags(irs, &ret_tags);
    let labels = Labels {
        blocks,
        out,
        shapes: shapes.to_vec(),
        loops,
        remember,
        clear,
        back_edges,
        table: a.new_dynamic_label(),
        clears,
        counters,
        checked,
        typed,
        checked_back,
        prologues,
        nloops,
        lazy_closure: lazy
            .iter()
            .zip(irs)
            .map(|(&l, f)| l && f.as_ref().is_some_and(|f| !reads_closure(f)))
            .collect(),
        keeps_record: lazy
            .iter()
            .zip(irs)
            .map(|(&l, f)| {
                l && f.as_ref().is_some_and(|f| {
                    f.blocks
                        .iter()
                        .flat_map(|b| &b.trace.ins)
                        .all(|i| !matches!(i.op, IrOp::TCallAot | IrOp::TCallAotInd))
                })
            })
            .collect(),
        lazy,
        ret_rows,
        ret_tags,
        call_tags,
        rets,
        sites,
        calls: std::cell::RefCell::new(Vec::new()),
        carried: per_function(irs, |f| f.carried.clone()),
        heads: carried_labels(&mut a, irs),
        carried_back: carried_labels(&mut a, irs),
        args: per_function(irs, |f| f.args.clone()),
        arg_heads: irs
            .iter()
            .map(|f| match f {
                Some(f) if !f.args.is_empty() => Some(a.new_dynamic_label()),
                _ => None,
            })
            .collect(),
        block_heads: irs
            .iter()
            .map(|f| {
                f.iter()
                    .flat_map(|f| &f.blocks)
                    .filter(|b| b.ip != 0 && !b.args.is_empty())
                    .map(|b| (b.ip, a.new_dynamic_label(), b.args.clone()))
                    .collect()
            })
            .collect(),
    };
    let mut report = Vec::new();
    let mut late = Vec::new();
    // Per function: the interpreter's loop entries that check the frame first.
    let mut entry_stubs: Vec<Vec<(u32, DynamicLabel)>> = Vec::with_capacity(irs.len());
    for (fi, ir) in irs.iter().enumerate() {
        let name = m.functions[fi].name.clone();
        let Some(ir) = ir else {
            entry_stubs.push(Vec::new());
            report.push(FuncReport {
                name,
                status: Status::Partial(vec!["its code could not be analysed".into()]),
            });
            continue;
        };
        let mut why = ir.fallbacks.clone();
        // Each function starts 32-byte aligned, so that code added to another
        // function (or the trampoline) does not move this one's branches across the
        // decoders' 32-byte windows: an 8-byte longer trampoline alone cost ackermann
        // and awfy_list 13% of their time with the same instructions.
        dynasm!(a ; .arch x64 ; .align 32);
        // The checked entry falls through to the prologue (if the entry counts), which
        // falls through to the first block: every way in is counted.
        let checked_fail =
            checked_entry(&mut a, fi as u32, ir, &labels).map_err(|e| format!("{name}: {e}"))?;
        if let Some(p) = labels.prologues[fi] {
            count_call(&mut a, p, labels.nloops + fi as u32, &labels, fi, &mut late);
        }
        for (bi, b) in ir.blocks.iter().enumerate() {
            let next = ir.blocks.get(bi + 1).map(|n| n.ip);
            let (trace, loc) = match allocate_avoiding(&b.trace, &reserved(ir, b.ip)) {
                Ok(mut loc) => {
                    carried_in_place(&b.trace, &mut loc, &ir.carried);
                    (None, loc)
                }
                Err(e) => {
                    // Leave this block to the interpreter.
                    let reason = e.to_string();
                    if !why.contains(&reason) {
                        why.push(reason);
                    }
                    let mut tb = TraceBuilder::new(b.ip);
                    let s = tb.snapshot(b.ip, Vec::new());
                    let none = Ref(u32::MAX);
                    tb.emit_raw(IrOp::Exit, none, none, 0, s);
                    let t = tb.finish(Vec::new());
                    let loc = allocate(&t).map_err(|e| e.to_string())?;
                    (Some(t), loc)
                }
            };
            let t = trace.as_ref().unwrap_or(&b.trace);
            let l = labels.block(fi as u32, b.ip).map_err(|e| e.to_string())?;
            dynasm!(a ; .arch x64 ; =>l);
            if let Some((past, args)) = labels.block_head(fi as u32, b.ip) {
                // Every way into the block but the branches that set its register
                // arguments loads them; those branches jump past the loads.
                for &(p, r) in args {
                    let off = disp(p as u64).map_err(|e| format!("{name}: {e}"))?;
                    dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(BASE) + off]);
                }
                dynasm!(a ; .arch x64 ; =>past);
            }
            if let (0, Some(h)) = (b.ip, labels.heads[fi]) {
                // Every way into the function loads its carried registers; its self
                // tail calls jump past the loads.
                load_carried(&mut a, &ir.carried).map_err(|e| format!("{name}: {e}"))?;
                dynasm!(a ; .arch x64 ; =>h);
            }
            if let (0, Some(h)) = (b.ip, labels.arg_heads[fi]) {
                // Every way into the function but the calls that set its register
                // arguments loads them; those calls jump past the loads.
                for &(p, r) in &ir.args {
                    let off = disp(p as u64).map_err(|e| format!("{name}: {e}"))?;
                    dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(BASE) + off]);
                }
                dynasm!(a ; .arch x64 ; =>h);
            }
            block(&mut a, fi as u32, b.ip, t, &loc, &labels, next, &mut late)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        // The function's exit stubs and slow paths, out of the way of its blocks.
        for l in late.drain(..) {
            l.emit(&mut a, &labels)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        // Its self tail calls' way to the checked entry, the carried registers written
        // back first.
        if let Some(b) = labels.carried_back[fi] {
            let to = labels.checked_entry(fi as u32).map_err(|e| e.to_string())?;
            dynasm!(a ; .arch x64 ; =>b);
            store_carried(&mut a, &ir.carried).map_err(|e| e.to_string())?;
            dynasm!(a ; .arch x64 ; jmp =>to);
        }
        // Its checked entry's way out, and the checks of the interpreter's entries at
        // its loops.
        if let Some(fail) = checked_fail {
            dynasm!(a ; .arch x64 ; =>fail);
            clear_exit(&mut a, labels.clears[fi].at_exit(0), labels.clear)
                .map_err(|e| e.to_string())?;
            dynasm!(a ; .arch x64 ; mov eax, 0 ; jmp =>out);
        }
        let mut stubs = Vec::new();
        for (ip, checks) in &ir.entry_checks {
            let to = match labels.loops[fi].iter().find(|l| l.0.back == *ip) {
                Some(l) => l.2,
                None => labels.block(fi as u32, *ip).map_err(|e| e.to_string())?,
            };
            let stub = a.new_dynamic_label();
            dynasm!(a ; .arch x64 ; =>stub);
            compare_tags(&mut a, checks, *ip, 0, to, out).map_err(|e| e.to_string())?;
            stubs.push((*ip, stub));
        }
        // The interpreter's entries at the back-edges of a function with carried
        // registers load them first.
        let mut carried_stubs = Vec::new();
        if !ir.carried.is_empty() {
            for &ip in loop_entries[fi].iter().filter(|&&ip| ip != 0) {
                let to = match stubs.iter().find(|s: &&(u32, DynamicLabel)| s.0 == ip) {
                    Some(s) => s.1,
                    None => labels.block(fi as u32, ip).map_err(|e| e.to_string())?,
                };
                let stub = a.new_dynamic_label();
                dynasm!(a ; .arch x64 ; =>stub);
                load_carried(&mut a, &ir.carried).map_err(|e| e.to_string())?;
                dynasm!(a ; .arch x64 ; jmp =>to);
                carried_stubs.push((ip, stub));
            }
        }
        stubs.retain(|s| !carried_stubs.iter().any(|c| c.0 == s.0));
        stubs.extend(carried_stubs);
        entry_stubs.push(stubs);
        // Its loops' preheaders and back-edge entries.
        for (h, pre, entry) in &labels.loops[fi] {
            let to = labels.block(fi as u32, h.head).map_err(|e| e.to_string())?;
            let clears = labels.clears[fi].at_exit(h.head);
            dynasm!(a ; .arch x64 ; =>*pre);
            load_homes(&mut a, h, h.head, clears, to, out, labels.clear)
                .map_err(|e| e.to_string())?;
            let to = labels.block(fi as u32, h.back).map_err(|e| e.to_string())?;
            dynasm!(a ; .arch x64 ; =>*entry);
            load_homes(&mut a, h, h.back, 0, to, out, labels.clear).map_err(|e| e.to_string())?;
        }
        let status = if full[fi] && why.is_empty() {
            Status::Full
        } else {
            Status::Partial(why)
        };
        report.push(FuncReport { name, status });
    }
    let off = |a: &Asm, l: DynamicLabel| -> Result<u32, String> {
        a.labels()
            .resolve_dynamic(l)
            .map(|o| o.0 as u32)
            .map_err(|e| e.to_string())
    };
    callee_table(&mut a, &labels, &report, &off)?;
    sites_table(&mut a, &labels, &off)?;
    returns_table(&mut a, &labels);
    let mut entries = Vec::new();
    for fi in 0..irs.len() {
        if irs[fi].is_none() {
            continue;
        }
        let mut ips: Vec<u32> = Vec::new();
        if report[fi].status == Status::Full && worth[fi] {
            ips.push(0);
        }
        ips.extend(loop_entries[fi].iter().copied());
        for ip in ips {
            let homed = labels.loops[fi].iter().find(|l| l.0.back == ip && ip != 0);
            let stub = entry_stubs[fi].iter().find(|s| s.0 == ip && ip != 0);
            let l = match (stub, homed) {
                _ if ip == 0 => labels.checked_entry(fi as u32).map_err(|e| e.to_string())?,
                (Some(s), _) => s.1,
                (None, Some(l)) => l.2,
                (None, None) => labels.block(fi as u32, ip).map_err(|e| e.to_string())?,
            };
            entries.push(super::Entry {
                func: fi as u32,
                ip,
                offset: off(&a, l)?,
            });
        }
    }
    let text = a.finalize().map_err(|e| e.to_string())?;
    let home_loops = labels.loops.iter().map(Vec::len).sum();
    let inlined = irs.iter().flatten().map(|f| f.inlined).sum();
    Ok(Image {
        text,
        entries,
        report,
        home_loops,
        inlined,
        fields: Default::default(),
    })
}

/// The checked entry of function `func` when it has a typed one ([`super::typed`]):
/// each seeded parameter's tag compared, falling through to the typed entry (block 0,
/// emitted next), so that the function's code lies where it lay with the compares
/// made by the loads of those parameters (the placement of a recursion's branches
/// decides much of its time: ackermann took 10% longer with the compares out of line
/// and the typed entry aligned). Returns the label a mismatch jumps to, whose code
/// (placed after the function's blocks) clears the kept slots and leaves to the
/// interpreter at offset 0, as an exit there would ([`Clears::at_exit`]): the
/// interpreter runs the function, and faults where it always does.
fn checked_entry(
    a: &mut Asm,
    func: u32,
    ir: &FuncIr,
    labels: &Labels,
) -> Result<Option<DynamicLabel>, CompileError> {
    let Some(c) = labels.checked[func as usize] else {
        return Ok(None);
    };
    let fail = a.new_dynamic_label();
    dynasm!(a ; .arch x64 ; =>c);
    tags_or(a, &ir.checked, fail)?;
    Ok(Some(fail))
}

/// Compares the tag of each of `slots` (slot, type) with its type's, jumping to `fail`
/// at the first that differs.
fn tags_or(a: &mut Asm, slots: &[(u16, IrType)], fail: DynamicLabel) -> Result<(), CompileError> {
    for &(s, ty) in slots {
        let off = disp(s as u64)?;
        dynasm!(a ; .arch x64 ; cmp DWORD [Rq(BASE) + off + 8], tag_word(ty) as i32 ; jne =>fail);
    }
    Ok(())
}

/// Compares the tags of `slots` (slot, type) and jumps to `to` when all match; else
/// clears the slots of `clears` ([`clear_slots`]) and leaves to the interpreter at
/// `ip`, the frame otherwise untouched.
fn compare_tags(
    a: &mut Asm,
    slots: &[(u16, IrType)],
    ip: u32,
    clears: u64,
    to: DynamicLabel,
    out: DynamicLabel,
) -> Result<(), CompileError> {
    let fail = a.new_dynamic_label();
    tags_or(a, slots, fail)?;
    dynasm!(a ; .arch x64 ; jmp =>to ; =>fail);
    clear_slots(a, clears)?;
    dynasm!(a ; .arch x64 ; mov eax, ip as i32 ; jmp =>out);
    Ok(())
}

/// A new label for each function with carried parameters ([`FuncIr::carried`]),
/// `None` for the others: their loop heads and their storing self-tail-call stubs.
fn carried_labels(a: &mut Asm, irs: &[Option<FuncIr>]) -> Vec<Option<DynamicLabel>> {
    irs.iter()
        .map(|f| {
            f.as_ref()
                .filter(|f| !f.carried.is_empty())
                .map(|_| a.new_dynamic_label())
        })
        .collect()
}

/// `f` of every function the translator analysed, in function order, and nothing for
/// the others (those are interpreted: no labels, loops or entries of theirs).
fn per_function<T>(irs: &[Option<FuncIr>], mut f: impl FnMut(&FuncIr) -> Vec<T>) -> Vec<Vec<T>> {
    irs.iter()
        .map(|ir| ir.as_ref().map(&mut f).unwrap_or_default())
        .collect()
}

/// The back-edge blocks that count their passes for tier-up (SPEC.md §11.6, "Tier-up"):
/// each one the interpreter can enter (a loop entry, so that the interpreter's
/// back-edge has an anchor to record a trace at), with its counter's index: only
/// loops that call (a loop without calls keeps its values in home registers, native
/// code at its best: traces of such loops lost on sieve, 4.6% more instructions, and
/// awfy_sieve, 19% more time, and won on fannkuchredux and fasta, and nothing told them
/// apart), only innermost loops (no back-edge between header and back-edge), as the tracing JIT
/// roots its trees at the innermost loop and grows the enclosing ones as side traces
/// (a root trace recorded at an outer loop exits at every pass of the inner one: fasta
/// 14.6% more instructions), and not in functions that call themselves: a trace
/// recorded there goes through the recursion, which the tracing JIT compiles worse
/// than native code does (nqueens' `queens`: 6% more instructions). Counters are numbered as
/// [`super::hook::AotHook`] numbers its loop entries, in (function, offset) order of
/// every loop entry, so the image needs no table of them; their number is returned
/// too (function `f`'s entry counter follows them at that index plus `f`).
fn counted_loops(
    m: &Module,
    irs: &[Option<FuncIr>],
    loop_entries: &[Vec<u32>],
    back_edges: &[Vec<(u32, u32)>],
) -> (Vec<Vec<(u32, u32)>>, u32) {
    let mut n = 0;
    let mut out = Vec::with_capacity(irs.len());
    for (fi, ir) in irs.iter().enumerate() {
        let mut v = Vec::new();
        if let Some(ir) = ir {
            let mut ips: Vec<u32> = loop_entries[fi]
                .iter()
                .copied()
                .filter(|&ip| ip != 0)
                .collect();
            ips.sort_unstable();
            ips.dedup();
            let recursive = crate::record::is_self_recursive(fi as u32, &m.functions[fi].code);
            let be = &back_edges[fi];
            for ip in ips {
                let innermost = match be.binary_search_by_key(&ip, |(i, _)| *i) {
                    Ok(k) => !be.iter().any(|&(b, _)| b >= be[k].1 && b < ip),
                    Err(_) => false,
                };
                let homed = ir.loops.iter().any(|h| h.back == ip);
                if !recursive && innermost && !homed {
                    v.push((ip, n));
                }
                n += 1;
            }
        }
        out.push(v);
    }
    (out, n)
}

/// The prologue `p` of a function `fi` whose entry counts its calls (SPEC.md §11.6,
/// "Tier-up"): one call off counter `c`, and at zero an exit to the interpreter at
/// offset 0 with the frame the call pushed (its kept slots cleared, as the
/// interpreter's push would have), where the hook reads the function as hot.
fn count_call<'l>(
    a: &mut Asm,
    p: DynamicLabel,
    c: u32,
    labels: &'l Labels,
    fi: usize,
    late: &mut Vec<Late<'l>>,
) {
    let exit = a.new_dynamic_label();
    dynasm!(a ; .arch x64 ; =>p);
    count_pass(a, c, exit);
    late.push(Late::Exit {
        at: exit,
        clears: labels.clears[fi].at_exit(0),
        stores: Vec::new(),
        homes: None,
        resume: None,
        carried: &[],
        frames: Vec::new(),
        to: Resume::Interpreter(0),
    });
}

/// A counted back-edge's count: one pass off the loop's tier-up counter, leaving
/// through `exit` (the back-edge block's, at the `loop` instruction, homes written
/// back) when it reaches zero, which the hook reads as the loop being hot.
fn count_pass(a: &mut Asm, c: u32, exit: DynamicLabel) {
    decrement_counter(a, c);
    dynasm!(a ; .arch x64 ; je =>exit);
}

/// Takes one pass off tier-up counter `c` (flags set by the result, the counters'
/// address left in `r11`).
fn decrement_counter(a: &mut Asm, c: u32) {
    dynasm!(a ; .arch x64
        ; mov r11, QWORD [rbx + TRAMP_COUNTERS]
        ; sub DWORD [r11 + 4 * c as i32], 1);
}

/// An exit inside a callee inlined with exits (`aot::inline`): pushes the frame record
/// the call would have pushed (the caller resuming after the call), so that the
/// interpreter goes on in the callee at the snapshot's offset and a fault's stack
/// trace is the interpreter's. The snapshot's entries wrote the callee's slots (every
/// value it holds in registers; the slots past the caller's frame were cleared when
/// the inlined code began); the call's limit check (`call.room`, before the inlined
/// code) made sure the frame fits.
fn push_inlined_frames(a: &mut Asm, frames: &[crate::ir::SnapFrame]) -> Result<(), CompileError> {
    let fsz = layout::FRAME_SIZE as i32;
    match frames {
        [] => Ok(()),
        [fr] => {
            let closure_is_func = match fr.closure {
                ClosureSrc::Func(g) if g == fr.func => true,
                _ => return Err(CompileError::NotInTraces("an inlined frame's closure")),
            };
            dynasm!(a ; .arch x64
                ; mov DWORD [rbp - fsz + layout::FRAME_IP as i32], fr.resume as i32);
            // The base from `BASE`: the running frame's record may be lazy, its base
            // not written yet (the shared exit completes it after this).
            frame_record(
                a,
                5, /* rbp */
                fr.func,
                fr.base as u64,
                fr.ret as i16,
                closure_is_func,
                RecordBase::Slots,
                false,
                0,
            );
            dynasm!(a ; .arch x64 ; add rbp, fsz);
            Ok(())
        }
        _ => Err(CompileError::NotInTraces("nested inlined frames")),
    }
}

/// One block (starting at byte offset `ip`). Its exit stubs and slow paths go to
/// `late`, emitted after the function's blocks, so that the block's code runs
/// straight into the next block's.
#[allow(clippy::too_many_arguments)]
fn block<'l>(
    a: &mut Asm,
    func: u32,
    ip: u32,
    t: &Trace,
    loc: &[Loc],
    labels: &'l Labels,
    next: Option<u32>,
    late: &mut Vec<Late<'l>>,
) -> Result<(), CompileError> {
    // A branch (an exit that jumps to a block, with no values to write) goes straight
    // to the block's label; other exits get a stub. Inside a loop with home registers,
    // every way out of the loop writes the homes back first (a stub).
    let home = labels.home(func, ip);
    let stays = |to: u32| home.is_none_or(|h| h.contains(to));
    let direct = |k: usize| -> Option<u32> {
        let s = &t.snaps[k];
        let to = s.resume_ip & !JUMP_BIT;
        let leaves_nothing = |to: u32| stays(to) || home.is_some_and(|h| stores_nothing(h, to));
        (s.resume_ip & JUMP_BIT != 0 && s.entries.is_empty() && leaves_nothing(to)).then_some(to)
    };
    let mut exits: Vec<DynamicLabel> = Vec::with_capacity(t.snaps.len());
    for k in 0..t.snaps.len() {
        exits.push(match direct(k) {
            // A branch that sets its target's register arguments enters past their
            // loads: straight there when every value is in its register already, else
            // through the moves out of line.
            Some(to) => match labels
                .block_head(func, to)
                .and_then(|(past, want)| Some((past, branch_args(t, loc, k, want)?)))
            {
                Some((past, moves)) if moves.is_empty() => past,
                // Fewer moves than the loads they save (with the stub's jump).
                Some((past, moves))
                    if moves.len() < labels.block_head(func, to).map_or(0, |h| h.1.len()) =>
                {
                    let at = a.new_dynamic_label();
                    late.push(Late::Args {
                        at,
                        moves,
                        to: past,
                    });
                    at
                }
                _ => labels.target(func, ip, to)?,
            },
            None => a.new_dynamic_label(),
        });
    }
    let mut used = vec![false; t.snaps.len()];
    for ins in &t.ins {
        if ins.op.flags() & flag::GUARD != 0 {
            used[ins.snap as usize] = true;
        }
    }
    let loc = &alias_homes(t, loc, home)[..];
    let mut reserved: Vec<Loc> =
        home.map_or_else(Vec::new, |h| h.homes.iter().map(|x| x.2).collect());
    reserved.extend(
        labels.carried[func as usize]
            .iter()
            .flat_map(|&(_, r, tw)| [Loc::Gpr(r), Loc::Gpr(tw)]),
    );
    let busy = busy_gprs(t, loc, &reserved);
    if let Some(mut v) = home.and_then(|h| flat_version(a, t, h)) {
        // The flat version first, entered when its arrays' tests pass; else the
        // general one (the block as it would be without a flat version).
        let general = a.new_dynamic_label();
        v.test(a, general);
        dynasm!(a ; .arch x64 ; =>v.start);
        let mut flat_busy = busy.clone();
        v.deferred = deferred_copies(t, loc, &mut flat_busy, &v);
        let mut cx = BlockTarget {
            func,
            ip,
            labels,
            next: None,
            home,
            exits: exits.clone(),
            slow: Vec::new(),
            calls: Vec::new(),
            flat: Some(v),
            busy: flat_busy,
            stubs: Vec::new(),
        };
        emit_ops(a, &mut cx, t, loc, &exits)?;
        late.extend(
            cx.slow
                .into_iter()
                .map(|(at, s, done)| Late::Slow { at, slow: s, done }),
        );
        late.extend(
            cx.stubs
                .into_iter()
                .map(|(at, writes, exit)| Late::Deferred { at, writes, exit }),
        );
        late.extend(cx.calls.into_iter().map(Late::Call));
        dynasm!(a ; .arch x64 ; =>general);
    }
    let mut cx = BlockTarget {
        func,
        ip,
        labels,
        next,
        home,
        exits: exits.clone(),
        slow: Vec::new(),
        calls: Vec::new(),
        flat: None,
        busy,
        stubs: Vec::new(),
    };
    emit_ops(a, &mut cx, t, loc, &exits)?;
    late.extend(
        cx.slow
            .into_iter()
            .map(|(at, s, done)| Late::Slow { at, slow: s, done }),
    );
    late.extend(cx.calls.into_iter().map(Late::Call));
    for (k, s) in t.snaps.iter().enumerate() {
        if !used[k] || direct(k).is_some() {
            continue;
        }
        let to = s.resume_ip & !JUMP_BIT;
        let jump = s.resume_ip & JUMP_BIT != 0;
        // An exit to the interpreter in this function's own frame clears the slots
        // its callers' pushes left that may hold stale values there.
        let clears = if jump || !s.frames.is_empty() {
            0
        } else {
            labels.clears[func as usize].at_exit(to)
        };
        late.push(Late::Exit {
            at: exits[k],
            clears,
            stores: s
                .entries
                .iter()
                .map(|&(slot, r)| (slot as u32, loc[r.0 as usize], t.tagword(r)))
                .collect(),
            homes: if !jump || !stays(to) { home } else { None },
            resume: s.frames.is_empty().then_some(to),
            carried: &labels.carried[func as usize],
            frames: s.frames.clone(),
            to: if jump {
                Resume::Block(labels.target(func, ip, to)?)
            } else {
                Resume::Interpreter(s.resume_ip)
            },
        });
    }
    Ok(())
}

/// Where an exit stub goes after its stores.
enum Resume {
    /// A block of the function (a branch that had values to write or homes to leave).
    Block(DynamicLabel),
    /// The interpreter, at this bytecode offset.
    Interpreter(u32),
}

/// Code placed after a function's blocks, out of their way: a block with guards can
/// then fall through to the next block, and a test's likely outcome is the straight
/// path (the taken jumps of a loop's iteration are its back-edge alone).
enum Late<'l> {
    /// An exit: the snapshot's pending values written to their slots, the home
    /// registers of the loop it leaves written back, then on to `to`.
    Exit {
        at: DynamicLabel,
        /// Slots to clear first (bit `s`: slot `s`, [`Clears::at_exit`]).
        clears: u64,
        /// (slot, register, tag word).
        stores: Vec<(u32, Loc, u64)>,
        homes: Option<&'l HomeLoop>,
        /// Where the exit resumes in the function (a block's or the interpreter's
        /// offset), which says which homes it writes back ([`store_homes`]); `None`
        /// inside an inlined callee.
        resume: Option<u32>,
        /// The function's carried registers, written back to their slots when the
        /// exit leaves to the interpreter ([`store_carried`]); none for the exits
        /// before the loads at the function's start (its prologue's).
        carried: &'l [(u16, u8, u8)],
        /// The frame of a callee inlined with exits (`aot::inline`), pushed last.
        frames: Vec<crate::ir::SnapFrame>,
        to: Resume,
    },
    /// The general layout's half of an element access ([`Slow`]), entered at `at`,
    /// back to `done`.
    Slow {
        at: DynamicLabel,
        slow: Slow,
        done: DynamicLabel,
    },
    /// A direct call's exact limit checks ([`SlowCall`]).
    Call(SlowCall),
    /// An exit between a flat version's element copies kept in registers: their
    /// slots written as their `aget.slot`s would have ([`Deferred`]), then on to the
    /// instruction's own exit.
    Deferred {
        at: DynamicLabel,
        writes: Vec<Deferred>,
        exit: DynamicLabel,
    },
    /// A branch's way to a block past the loads of its register arguments: the
    /// moves into them ([`branch_args`]), then on to `to`.
    Args {
        at: DynamicLabel,
        moves: Vec<(Src, u8)>,
        to: DynamicLabel,
    },
}

impl Late<'_> {
    fn emit(self, a: &mut Asm, labels: &Labels) -> Result<(), CompileError> {
        match self {
            Late::Exit {
                at,
                clears,
                stores,
                homes,
                resume,
                carried,
                frames,
                to,
            } => {
                dynasm!(a ; .arch x64 ; =>at);
                clear_exit(a, clears, labels.clear)?;
                for (slot, l, tw) in stores {
                    store(a, slot, l, tw)?;
                }
                store_homes(a, homes, resume, clears)?;
                push_inlined_frames(a, &frames)?;
                match to {
                    Resume::Block(l) => dynasm!(a ; .arch x64 ; jmp =>l),
                    Resume::Interpreter(ip) => {
                        store_carried(a, carried)?;
                        let out = labels.out;
                        dynasm!(a ; .arch x64 ; mov eax, ip as i32 ; jmp =>out);
                    }
                }
            }
            Late::Slow { at, slow, done } => {
                dynasm!(a ; .arch x64 ; =>at);
                slow.emit(a, labels.remember)?;
                dynasm!(a ; .arch x64 ; jmp =>done);
            }
            Late::Call(c) => c.emit(a),
            Late::Deferred { at, writes, exit } => {
                dynasm!(a ; .arch x64 ; =>at);
                for d in writes {
                    dynasm!(a ; .arch x64
                        ; mov QWORD [Rq(BASE) + d.off], Rq(d.reg)
                        ; mov Rd(SCRATCH), DWORD [Rq(d.arr) + layout::META as i32]
                        ; mov QWORD [Rq(BASE) + d.off + 8], Rq(SCRATCH));
                }
                dynasm!(a ; .arch x64 ; jmp =>exit);
            }
            Late::Args { at, moves, to } => {
                dynasm!(a ; .arch x64 ; =>at);
                emit_arg_moves(a, moves);
                dynasm!(a ; .arch x64 ; jmp =>to);
            }
        }
        Ok(())
    }
}

/// An element access's path for a general array (16-byte values), when the code
/// tests the array for the flat layout the access expects first: a typed front end's
/// arrays of numbers and bools are flat (SPEC.md §1.1), so the general layout is the
/// unlikely one and waits out of line ([`Late::Slow`]). Each path checks that the
/// array is general (any other kind exits); the index was guarded before the access
/// (`guard.index`, which the block's later accesses at that index share: an array's
/// length never changes). `aget.slot`'s is also emitted inline, after the general
/// test, when the general layout is the likely one ([`element_copy`]).
#[derive(Clone, Copy)]
enum Slow {
    /// `aget.any`: the element's tag checked, its payload into `dst`.
    AGetAny {
        p: u8,
        q: u8,
        tag: i32,
        dst: Loc,
        exit: DynamicLabel,
    },
    /// `aget.slot`: the element copied whole into the slot at byte offset `off`.
    AGetSlot {
        p: u8,
        q: u8,
        off: i32,
        exit: DynamicLabel,
    },
    /// `aset.slot`: the slot at byte offset `voff` stored whole through the barrier
    /// (the index was guarded).
    ASetSlot {
        p: u8,
        q: u8,
        voff: i32,
        exit: DynamicLabel,
    },
    /// `hstore` of a number or bool (no barrier) into an element (the index was
    /// guarded): payload `v` and tag word `tw`.
    Store {
        p: u8,
        at: ElemAt,
        v: Loc,
        tw: u64,
        exit: DynamicLabel,
    },
    /// `ctor.index` or `list.isnil` (`list`) of a value that is no object: a
    /// field-less constructor's immediate (the empty list's, for `list`) into `r`,
    /// or, for a `ctor.index` fused with its guard (`test`, [`fused_ctor_test`]),
    /// compared with that constant (the join's jump reads the flags).
    Ctor0 {
        r: u8,
        off: i32,
        list: bool,
        test: Option<i32>,
        exit: DynamicLabel,
        /// The slot's carried registers (payload, tag word), which hold its value
        /// where the slot may be stale ([`FuncIr::carried`]).
        carried: Option<(u8, u8)>,
    },
}

/// Where a general array's element is: at index register `q`, or at a constant
/// byte offset from the array.
#[derive(Clone, Copy)]
enum ElemAt {
    Index(u8),
    Offset(i32),
}

impl Slow {
    fn emit(self, a: &mut Asm, remember: DynamicLabel) -> Result<(), CompileError> {
        let f = layout::FIELDS as i32;
        let general = |a: &mut Asm, p: u8, exit: DynamicLabel| {
            dynasm!(a ; .arch x64
                ; cmp DWORD [Rq(p) + layout::META as i32], layout::ELEMS_GENERAL as i32
                ; jne =>exit);
        };
        match self {
            Slow::AGetAny {
                p,
                q,
                tag,
                dst,
                exit,
            } => {
                general(a, p, exit);
                element_addr(a, p, q, None);
                dynasm!(a ; .arch x64 ; cmp DWORD [Rq(SCRATCH) + f + 8], tag ; jne =>exit);
                match dst {
                    Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(SCRATCH) + f]),
                    Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd Rx(r), QWORD [Rq(SCRATCH) + f]),
                    Loc::None => {}
                }
            }
            Slow::AGetSlot { p, q, off, exit } => {
                general(a, p, exit);
                element_addr(a, p, q, None);
                copy_into_slot(a, SCRATCH, f, off, None);
            }
            Slow::ASetSlot { p, q, voff, exit } => {
                general(a, p, exit);
                set_general(a, p, q, voff, remember);
            }
            Slow::Store { p, at, v, tw, exit } => {
                general(a, p, exit);
                let (reg, off) = match at {
                    ElemAt::Index(q) => {
                        element_addr(a, p, q, None);
                        (SCRATCH, f)
                    }
                    ElemAt::Offset(off) => (p, off),
                };
                match v {
                    Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov QWORD [Rq(reg) + off], Rq(r)),
                    Loc::Xmm(r) => dynasm!(a ; .arch x64 ; movsd QWORD [Rq(reg) + off], Rx(r)),
                    Loc::None => {}
                }
                store_tw(a, reg, off, tw);
            }
            Slow::Ctor0 {
                r,
                off: _,
                list,
                test,
                exit,
                carried: Some((p, tw)),
            } => {
                // The same tests on the carried registers.
                dynasm!(a ; .arch x64 ; cmp Rd(tw), Tag::CTOR0 as i32 ; jne =>exit);
                if let Some(k) = test {
                    dynasm!(a ; .arch x64 ; cmp Rq(p), k);
                } else if list {
                    dynasm!(a ; .arch x64
                        ; mov Rq(r), Rq(tw)
                        ; shr Rq(r), 32
                        ; cmp Rd(r), builtin::LIST as i32
                        ; jne =>exit
                        ; mov Rq(r), 1);
                } else {
                    dynasm!(a ; .arch x64 ; mov Rq(r), Rq(p));
                }
            }
            Slow::Ctor0 {
                r,
                off,
                list,
                test,
                exit,
                carried: None,
            } => {
                dynasm!(a ; .arch x64
                    ; cmp DWORD [Rq(BASE) + off + 8], Tag::CTOR0 as i32
                    ; jne =>exit);
                if let Some(k) = test {
                    // The flags of the fused compare, which the join's jump reads.
                    dynasm!(a ; .arch x64 ; cmp QWORD [Rq(BASE) + off], k);
                } else if list {
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(BASE) + off + 12], builtin::LIST as i32
                        ; jne =>exit
                        ; mov Rq(r), 1);
                } else {
                    dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(BASE) + off]);
                }
            }
        }
        Ok(())
    }
}

// `aget.slot`'s flat path sends every kind from converted up out of line with one
// unsigned compare: the flat kinds must lie below it, general above it.
const _: () = assert!(
    layout::ELEMS_FLAT_LAST < layout::ELEMS_MOVED && layout::ELEMS_MOVED < layout::ELEMS_GENERAL
);

/// Element `q` of the general array `p` := the whole value of the slot at byte offset
/// `voff`, through the write barrier (the index was guarded).
fn set_general(a: &mut Asm, p: u8, q: u8, voff: i32, remember: DynamicLabel) {
    element_addr(a, p, q, None);
    store_whole(a, p, layout::FIELDS as i32, voff, remember);
}

/// Whether the element copied whole at `aget.slot` or `aset.slot` `i` of `t` is half
/// of an element copy (`a[i] = b[j]`: an `aget.slot` into the slot an `aset.slot` of
/// the block stores): then its arrays are most likely flat (a typed front end's
/// arrays of numbers and bools are, SPEC.md §1.1), and the code tests the flat layout
/// first. A value of no proven kind copied anywhere else is most often an object,
/// which only a general array holds: the general layout first.
fn element_copy(t: &Trace, i: usize) -> bool {
    let ins = &t.ins[i];
    match ins.op {
        IrOp::AGetSlot => t.ins[i + 1..]
            .iter()
            .any(|j| j.op == IrOp::ASetSlot && j.k == ins.k),
        IrOp::ASetSlot => t.ins[..i]
            .iter()
            .any(|j| j.op == IrOp::AGetSlot && j.k == ins.k),
        _ => false,
    }
}

/// Whether `aset.slot` `i` of `t` stores back into its own array a value the block
/// copied out of that array (`t := a[i]; a[i] = a[j]; a[j] = t`, `a[i] = a[i + 1]`):
/// an earlier `aget.slot` of the same array reference wrote the slot, and nothing
/// between can write that slot or run code that converts an array (only other
/// element accesses, index guards and integer arithmetic). Native code never converts
/// an array (a store that would leaves to the interpreter, §1.1) and a general array
/// never changes kind, so the array's elements kind is the one the `aget.slot` saw:
/// when it is flat now, the copy took the flat path and the slot's tag is that kind,
/// and the store needs the flat test alone, not the tag's compare.
fn stored_back(t: &Trace, i: usize) -> bool {
    copied_from(t, i) == Some(t.ins[i].a)
}

/// The array an `aset.slot` `i` of `t` stores a value of that the block copied out
/// of it: the array of the `aget.slot` that last wrote the stored slot, when nothing
/// between can write that slot or run code that converts an array (only other element
/// accesses, index guards, integer arithmetic and home registers' values). The slot
/// holds that element as the `aget.slot` read it: from a flat array, its payload with
/// the array's kind as the tag.
fn copied_from(t: &Trace, i: usize) -> Option<Ref> {
    let ins = &t.ins[i];
    for j in t.ins[..i].iter().rev() {
        match j.op {
            IrOp::AGetSlot if j.k == ins.k => return Some(j.a),
            IrOp::AGetSlot
            | IrOp::AGetAny
            | IrOp::ASetSlot
            | IrOp::GIndex
            | IrOp::KInt
            | IrOp::AddI
            | IrOp::SubI => {}
            // A home register's value (no code, or a register move).
            op if gets_op(op) => {}
            _ => return None,
        }
    }
    None
}

/// A block of a loop with home registers emitted twice ([`flat_version`]): first a
/// version in which some loop-invariant arrays (home registers, `home.get.ptr`) are
/// known to be flat, entered at `start` when a test where the block begins finds
/// them so, and some pairs of them to be of one elements kind; then the block as it
/// is without, where the test sends any other array. In the flat version, the
/// element copies of those arrays (`aget.slot`, `aset.slot`) test no elements kind,
/// and the `aset.slot` of a value copied out of an array of the same kind compares
/// no tag. Why the test holds for the whole loop: native code never converts an
/// array (a store that would leaves to the interpreter, SPEC.md §1.1), nothing but
/// native code runs inside such a loop (no calls but inlined leaves, no helper
/// calls: an exit leaves the loop), and a home array's register holds the same array
/// throughout (a slot the loop never writes); so the flat version's jump back to its
/// own block's start (the back-edge of a loop that is one fragment) goes to `start`,
/// past the test, which then runs once where the loop is entered (the preheader, the
/// interpreter's entry at the back-edge and every other jump to the block go to the
/// block's label, before it).
#[derive(Clone, Debug, PartialEq)]
struct FlatVersion {
    /// The arrays known flat: (the `home.get.ptr` value, its home register).
    arrays: Vec<(Ref, u8)>,
    /// Pairs of those (registers) known of the same elements kind.
    same: Vec<(u8, u8)>,
    /// Where the flat version starts, past the test.
    start: DynamicLabel,
    /// The element copies it keeps in registers ([`deferred_copies`]).
    deferred: Vec<Deferred>,
}

impl FlatVersion {
    /// Whether the array `r` is known flat.
    fn flat(&self, r: Ref) -> bool {
        self.arrays.iter().any(|x| x.0 == r)
    }

    /// Whether the arrays `x` and `y` are known of the same elements kind.
    fn same_kind(&self, x: Ref, y: Ref) -> bool {
        let reg = |r: Ref| self.arrays.iter().find(|a| a.0 == r).map(|a| a.1);
        match (reg(x), reg(y)) {
            (Some(p), Some(q)) => p == q || self.same.contains(&(p, q)),
            _ => false,
        }
    }

    /// The test where the block begins: each array flat (its elements kind below
    /// `ELEMS_MOVED`, the flat kinds 1 to 5, as every flat-first access tests), each
    /// pair of one kind; any failure goes to `general`.
    fn test(&self, a: &mut Asm, general: DynamicLabel) {
        for &(_, p) in &self.arrays {
            dynasm!(a ; .arch x64
                ; cmp DWORD [Rq(p) + layout::META as i32], layout::ELEMS_MOVED as i32
                ; jae =>general);
        }
        for &(p, q) in &self.same {
            dynasm!(a ; .arch x64
                ; mov Rd(SCRATCH), DWORD [Rq(p) + layout::META as i32]
                ; cmp Rd(SCRATCH), DWORD [Rq(q) + layout::META as i32]
                ; jne =>general);
        }
    }
}

/// The flat version of block `t` of the loop `h` ([`FlatVersion`]), if it has one:
/// the home arrays whose element accesses in the block are all element copies
/// (`aget.slot`, `aset.slot`: [`element_copy`], which test the flat layout first,
/// their arrays being most likely flat), and the pairs of them an `aset.slot` copies
/// between ([`copied_from`]). None when no array qualifies.
fn flat_version(a: &mut Asm, t: &Trace, h: &HomeLoop) -> Option<FlatVersion> {
    let mut arrays: Vec<(Ref, u8)> = Vec::new();
    for (i, ins) in t.ins.iter().enumerate() {
        if ins.op != IrOp::HGetP || h.object(ins.k as usize).is_some() {
            continue;
        }
        let Some((IrType::Ptr, Loc::Gpr(p))) = h.home(ins.k as usize) else {
            continue;
        };
        let r = Ref(i as u32);
        // Its whole-value accesses; the others (`aget.any`, `hstore`, `alen`, index
        // guards) test what they test in either version.
        let (mut copies, mut others) = (0, 0);
        for (j, x) in t.ins.iter().enumerate() {
            if matches!(x.op, IrOp::AGetSlot | IrOp::ASetSlot) && x.a == r {
                if element_copy(t, j) {
                    copies += 1;
                } else {
                    others += 1;
                }
            }
        }
        if copies > 0 && others == 0 && !arrays.iter().any(|a| a.1 == p) {
            arrays.push((r, p));
        }
    }
    if arrays.is_empty() {
        return None;
    }
    let mut same: Vec<(u8, u8)> = Vec::new();
    for (i, x) in t.ins.iter().enumerate() {
        if x.op != IrOp::ASetSlot {
            continue;
        }
        let reg = |r: Ref| arrays.iter().find(|a| a.0 == r).map(|a| a.1);
        if let (Some(p), Some(q)) = (copied_from(t, i).and_then(reg), reg(x.a)) {
            if p != q && !same.contains(&(p, q)) {
                same.push((p, q));
            }
        }
    }
    Some(FlatVersion {
        arrays,
        same,
        start: a.new_dynamic_label(),
        deferred: Vec::new(),
    })
}

/// An element copy a flat version keeps in a register ([`deferred_copies`]): the
/// `aget.slot` at `from` loads the element's payload into `reg` and writes no slot;
/// the `aset.slot` at `until` stores it from there. The guards between exit through
/// a stub that first writes the slot at byte offset `off` as the `aget.slot` would
/// have: the payload, and the elements kind of the array in register `arr` as the
/// tag ([`Late::Deferred`]).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Deferred {
    from: usize,
    until: usize,
    off: i32,
    reg: u8,
    arr: u8,
}

/// The element copies of a flat version's block `t` that can skip their slot
/// ([`Deferred`]): an `aset.slot` of a value copied out of an array known flat and of
/// its own elements kind ([`FlatVersion::same_kind`], so the store tests nothing)
/// whose slot is dead after it (`ir::ASET_SLOT_DEAD`, from the bytecode's
/// liveness), with no other read of the slot between the `aget.slot` and it
/// ([`copied_from`] allows only element accesses, index guards and integer
/// arithmetic there: no call, no allocation, nothing that collects). Each gets a
/// register of [`COPY_REGS`] that holds no live value and is written by no operation
/// from the `aget.slot` to the `aset.slot` (`busy`, [`busy_gprs`], then marked busy
/// there, so no other copy or borrowed register takes it).
///
/// Why the frame stays exact: on the straight path the slot is read by nothing before
/// it is written again (dead after the store, and no read between), and it holds
/// the value valid for the collector it held before (nothing collects between; an
/// element of a flat array is a number or bool, which the collector does not
/// follow, so leaving the slot as it was changes nothing it sees); an exit between
/// writes it first, with the same two words the `aget.slot` would have written
/// (the array's kind cannot change between: native code converts no array), so the
/// interpreter finds the frame it would have found.
fn deferred_copies(t: &Trace, loc: &[Loc], busy: &mut [u16], v: &FlatVersion) -> Vec<Deferred> {
    let mut out = Vec::new();
    for (j, x) in t.ins.iter().enumerate() {
        if x.op != IrOp::ASetSlot || x.tw & crate::ir::ASET_SLOT_DEAD == 0 || !v.flat(x.a) {
            continue;
        }
        let Some(src) = copied_from(t, j).filter(|&src| v.same_kind(src, x.a)) else {
            continue;
        };
        let Some(i) = (0..j)
            .rev()
            .find(|&i| t.ins[i].op == IrOp::AGetSlot && t.ins[i].k == x.k)
        else {
            continue;
        };
        if t.ins[i + 1..j]
            .iter()
            .any(|y| y.op == IrOp::ASetSlot && y.k == x.k)
        {
            continue;
        }
        let (Ok(off), Some(&(_, arr))) = (disp(x.k), v.arrays.iter().find(|a| a.0 == src)) else {
            continue;
        };
        let mut taken = 0u16;
        for y in i..=j {
            taken |= busy[y];
            if let Loc::Gpr(r) = loc[y] {
                taken |= 1 << r;
            }
        }
        let Some(reg) = COPY_REGS.iter().copied().find(|&r| taken & 1 << r == 0) else {
            continue;
        };
        for b in &mut busy[i..=j] {
            *b |= 1 << reg;
        }
        out.push(Deferred {
            from: i,
            until: j,
            off,
            reg,
            arr,
        });
    }
    out
}

/// The header of the loop whose back-edge block `t` is: a block of the `loop`
/// instruction alone (the interpreter's entry at the back-edge), which polls the
/// interrupt flag and jumps to the header. A jump to it from inside the loop polls
/// and jumps to the header itself (the `Jump` arm of [`BlockTarget::function_op`]).
fn back_edge(t: &Trace) -> Option<u32> {
    match &t.ins[..] {
        [p, j] if p.op == IrOp::Poll && j.op == IrOp::Jump => t.snaps[p.snap as usize]
            .entries
            .is_empty()
            .then_some(j.k as u32),
        _ => None,
    }
}

/// The registers of a block's values with each `home.get` that can be read from its
/// home register itself given that register: one no `home.set` of the same home
/// overwrites before the value's last read (an operand, or an exit's snapshot entry,
/// [`crate::x64::reads`]), but for the `home.set` that is that read. The allocator's
/// register for it then stays idle, and the copy into it is no code. The allocator
/// gives no value a home register, so only `home.set` writes one, and the operation
/// computing a home's new value in place (below), whose `home.set` is then no code.
fn alias_homes(t: &Trace, loc: &[Loc], home: Option<&HomeLoop>) -> Vec<Loc> {
    let mut out = loc.to_vec();
    let Some(h) = home else { return out };
    let last = crate::x64::reads(t, false);
    for (i, ins) in t.ins.iter().enumerate() {
        if !gets_op(ins.op) {
            continue;
        }
        let Some((_, reg)) = h.home(ins.k as usize) else {
            continue;
        };
        let end = last[i];
        let clobbered = t.ins[i + 1..=end.max(i)].iter().enumerate().any(|(d, j)| {
            let at = i + 1 + d;
            j.op == IrOp::HSet
                && h.home(j.k as usize).map(|x| x.1) == Some(reg)
                && !(at == end && j.a == Ref(i as u32))
        });
        if !clobbered {
            out[i] = reg;
        }
    }
    let gets = |x: usize, k: u64| gets_op(t.ins[x].op) && t.ins[x].k == k;
    // A home's new value computed from its old one by an operation that reads its
    // first operand before writing its result (`k += i`) is computed in the home
    // register itself (`add r15, r10`, no copies), when the old value is that first
    // operand read in place and read no more after it, and between it and its
    // `home.set` nothing reads or writes the home and nothing exits (an exit writes
    // the home registers to their slots, and resumes before the instruction that
    // computed it); and while the value is read after its `home.set`, no later
    // `home.set` of the home follows (its value may be computed in the register
    // before the last read).
    for (j, ins) in t.ins.iter().enumerate() {
        if ins.op != IrOp::HSet {
            continue;
        }
        let Some((_, reg)) = h.home(ins.k as usize) else {
            continue;
        };
        let d = ins.a.0 as usize;
        let def = t.ins[d];
        let (p, q) = (def.a.0 as usize, def.b.0 as usize);
        let in_place = d < j
            && crate::x64::reads_first_operand_first(t, &def)
            && gets(p, ins.k)
            && out[p] == reg
            && out[q] != reg
            && matches!(
                (out[d], reg),
                (Loc::Gpr(_), Loc::Gpr(_)) | (Loc::Xmm(_), Loc::Xmm(_))
            );
        if !in_place {
            continue;
        }
        let old_read = (0..d).any(|g| gets(g, ins.k) && out[g] == reg && last[g] > d);
        let between = t.ins[d + 1..j].iter().any(|x| {
            x.op.flags() & flag::GUARD != 0 || (x.op == IrOp::HSet || gets_op(x.op)) && x.k == ins.k
        });
        let later = last[d] > j
            && t.ins[j + 1..]
                .iter()
                .any(|x| x.op == IrOp::HSet && x.k == ins.k);
        if !old_read && !between && !later {
            out[d] = reg;
        }
    }
    out
}

/// Whether `op` reads a home register (`home.get.*`).
fn gets_op(op: IrOp) -> bool {
    matches!(op, IrOp::HGetI | IrOp::HGetF | IrOp::HGetB | IrOp::HGetP)
}

/// A block's [`Target`]: the operations of whole-function code (branches between
/// blocks, direct calls and returns, slot copies, whole-value loads); helper calls
/// through the trampoline's table; traces' own recursive calls are refused.
struct BlockTarget<'l> {
    func: u32,
    /// The block's byte offset.
    ip: u32,
    labels: &'l Labels,
    /// The block emitted next (a jump there falls through).
    next: Option<u32>,
    /// The loop with home registers the block is in.
    home: Option<&'l HomeLoop>,
    /// The label of each snapshot's exit.
    exits: Vec<DynamicLabel>,
    /// The slow paths of its element accesses (entry, path, join), placed after the
    /// function's blocks ([`Late::Slow`]).
    slow: Vec<(DynamicLabel, Slow, DynamicLabel)>,
    /// The exact limit checks of the block's direct calls, placed after the
    /// function's blocks ([`Late::Call`]).
    calls: Vec<SlowCall>,
    /// The flat version of the block ([`FlatVersion`]), when this emission is it.
    flat: Option<FlatVersion>,
    /// Per operation, the registers that may hold a live value there
    /// ([`busy_gprs`]; in a flat version also its [`Deferred`] copies' registers).
    busy: Vec<u16>,
    /// The exits routed through a [`Late::Deferred`] stub: (its label, the copies it
    /// writes, the instruction's exit).
    stubs: Vec<(DynamicLabel, Vec<Deferred>, DynamicLabel)>,
}

impl BlockTarget<'_> {
    /// A register of [`COPY_REGS`] that holds no live value at operation `i` (or
    /// after it, until the allocator defines a value in it): what a whole copy from
    /// an address in `r11` borrows instead of saving `rax` on the stack.
    fn free_gpr(&self, i: usize) -> Option<u8> {
        let busy = self.busy.get(i).copied().unwrap_or(u16::MAX);
        COPY_REGS.iter().copied().find(|&r| busy & 1 << r == 0)
    }

    /// The flat version's [`Deferred`] copy `pick` chooses, if this emission is a flat
    /// version and has one.
    fn deferred(&self, pick: impl Fn(&Deferred) -> bool) -> Option<Deferred> {
        self.flat
            .as_ref()
            .and_then(|v| v.deferred.iter().copied().find(|d| pick(d)))
    }
}

/// A direct call's (or an inlined call's `call.room`) limit checks for when the stack
/// pointer is below the trampoline's floor ([`TRAMP_FLOOR`], a bound for the whole
/// program's calls and inlined frames): the value stack checked for this frame and
/// those of the direct calls and `call.room`s after it in the fragment that make no
/// check of their own (`end` bytes from `BASE`, the largest end, [`chain_end`]), and
/// the native stack against the budget and frame stack's floor ([`TRAMP_FRAMES`]);
/// either short leaves to the interpreter at this instruction (`exit`), which makes
/// the call and the later ones, growing the stack or reporting the overflow where it
/// is short; else the code goes on (`back`).
struct SlowCall {
    slow: DynamicLabel,
    back: DynamicLabel,
    end: i32,
    exit: DynamicLabel,
}

impl SlowCall {
    /// The checks, placed after the function's blocks.
    fn emit(&self, a: &mut Asm) {
        dynasm!(a ; .arch x64
            ; =>self.slow
            ; lea r11, [Rq(BASE) + self.end]
            ; cmp r11, QWORD [Rq(STATE) + layout::ST_STACK_LIMIT as i32]
            ; ja =>self.exit
            ; cmp rsp, QWORD [rbx + TRAMP_FRAMES]
            ; jb =>self.exit
            ; jmp =>self.back);
    }
}

impl BlockTarget<'_> {
    /// A label for a slow path out of line (`slow`), and the label of the join.
    fn slow(&mut self, a: &mut Asm, slow: Slow) -> (DynamicLabel, DynamicLabel) {
        let (at, done) = (a.new_dynamic_label(), a.new_dynamic_label());
        self.slow.push((at, slow, done));
        (at, done)
    }
}

impl Target<Asm> for BlockTarget<'_> {
    /// [`busy_gprs`]' registers at operation `i`: the allocator's values live across
    /// it and the loop's home and carried registers.
    fn live_gprs(&self, i: usize) -> u16 {
        self.busy.get(i).copied().unwrap_or(u16::MAX)
    }

    fn call_rec(&mut self, _: &mut Asm) -> Result<(), CompileError> {
        Err(CompileError::NotInTraces("call.rec"))
    }

    /// A helper that did not answer OK leaves to the interpreter at the instruction
    /// (its snapshot's exit), which runs it or raises the fault it ended in.
    fn helper_exit(&mut self, _: &mut Asm, snap: u32) -> Result<DynamicLabel, CompileError> {
        self.exits
            .get(snap as usize)
            .copied()
            .ok_or(CompileError::NotInTraces("call.insn without its snapshot"))
    }

    fn call_insn_fn(&self) -> HelperFn {
        HelperFn::Table(super::hook::HELPER_CALL_INSN as i32)
    }

    /// Inside a flat version's [`Deferred`] copies (after the `aget.slot`, up to the
    /// `aset.slot`), a stub that writes their slots first.
    fn exit_at(&mut self, a: &mut Asm, i: usize, exit: DynamicLabel) -> DynamicLabel {
        let writes: Vec<Deferred> = self
            .flat
            .iter()
            .flat_map(|v| v.deferred.iter())
            .filter(|d| d.from < i && i <= d.until)
            .copied()
            .collect();
        if writes.is_empty() {
            return exit;
        }
        let at = a.new_dynamic_label();
        self.stubs.push((at, writes, exit));
        at
    }

    fn count_pass(&mut self, _: &mut Asm) -> bool {
        false
    }

    fn remember_stub(&self) -> Option<DynamicLabel> {
        Some(self.labels.remember)
    }

    fn function_op(
        &mut self,
        a: &mut Asm,
        t: &Trace,
        loc: &[Loc],
        i: usize,
        exit: DynamicLabel,
    ) -> Result<(), CompileError> {
        let (func, labels, next) = (self.func, self.labels, self.next);
        let home = |s: u64| {
            self.home
                .and_then(|h| h.home(s as usize))
                .map(|h| h.1)
                .ok_or(CompileError::NotInTraces(
                    "home register of a slot without one",
                ))
        };
        let ins = t.ins[i];
        let g = |r: Ref| match loc[r.0 as usize] {
            Loc::Gpr(x) => x,
            _ => 0,
        };
        let fsz = layout::FRAME_SIZE as i32;
        match ins.op {
            IrOp::SCopy => copy_slot(a, ins.k & 0xffff, ins.k >> 16)?,
            IrOp::SMove => move_args(a, ins.k & 0xffff, ins.k >> 16)?,
            IrOp::Jump if ins.k & ARGS_SET != 0 => {
                // A self tail call that sets the register arguments: past their loads.
                let sets = arg_sets(t, i);
                move_args_to_regs(a, t, loc, &sets, &labels.args[func as usize])?;
                let l = labels.arg_heads[func as usize].ok_or(CompileError::NotInTraces(
                    "arg.set for no register argument",
                ))?;
                dynasm!(a ; .arch x64 ; jmp =>l);
            }
            IrOp::Jump => {
                // Leaving a loop with home registers writes them back first.
                let to = ins.k as u32;
                if self.home.is_some_and(|h| !h.contains(to)) {
                    store_homes(a, self.home, Some(to), 0)?;
                }
                let last = i + 1 == t.ins.len();
                if ins.k & CHECKED_ENTRY != 0 {
                    // A self tail call whose arguments the typed entry does not take.
                    let l = labels.self_checked(func)?;
                    dynasm!(a ; .arch x64 ; jmp =>l);
                    return Ok(());
                }
                let l = labels.target(func, self.ip, to)?;
                // A jump to a back-edge block in the same loop (no preheader, no homes
                // to write on either jump) polls and goes to the header itself: one
                // compare and one taken jump an iteration. A set flag goes through the
                // back-edge block, which polls again and exits there.
                let head = labels.back_edge(func, to).filter(|&h| {
                    let same = match (labels.home(func, to), self.home) {
                        (None, None) => true,
                        (Some(x), Some(y)) => std::ptr::eq(x, y) && x.contains(h),
                        _ => false,
                    };
                    last && same && labels.block(func, to).is_ok_and(|b| b == l)
                });
                if let Some(h) = head {
                    // The back-edge block's own jump's target (a self tail call's may
                    // be the checked entry).
                    let hl = if labels.checked_back[func as usize]
                        .binary_search(&to)
                        .is_ok()
                    {
                        labels.self_checked(func)?
                    } else if let Some(v) = self.flat.as_ref().filter(|_| h == self.ip) {
                        // The flat version's own start, past its test ([`FlatVersion`]).
                        v.start
                    } else {
                        labels.target(func, to, h)?
                    };
                    match labels.counter(func, to) {
                        // A counted loop's pass also counts: at zero, the counter goes
                        // back to one and the back-edge block's own count (zero
                        // again) leaves there.
                        Some(c) => {
                            dynasm!(a ; .arch x64 ; cmp BYTE [Rq(INTR)], 0 ; jne =>l);
                            decrement_counter(a, c);
                            dynasm!(a ; .arch x64
                                ; jne =>hl
                                ; mov DWORD [r11 + 4 * c as i32], 1
                                ; jmp =>l);
                        }
                        None => dynasm!(a ; .arch x64
                            ; cmp BYTE [Rq(INTR)], 0
                            ; je =>hl
                            ; jmp =>l),
                    }
                } else if !(last && next == Some(to) && l == labels.block(func, to)?) {
                    // Falling through to the block emitted next needs no jump (unless
                    // the jump goes through a loop's preheader).
                    dynasm!(a ; .arch x64 ; jmp =>l);
                }
            }
            // Read from the home register itself ([`alias_homes`]): no code.
            IrOp::HGetI | IrOp::HGetF | IrOp::HGetB | IrOp::HGetP
                if Some(loc[i]) == home(ins.k).ok() => {}
            IrOp::HGetI | IrOp::HGetF | IrOp::HGetB | IrOp::HGetP => match (loc[i], home(ins.k)?) {
                (Loc::Gpr(r), Loc::Gpr(h)) => dynasm!(a ; .arch x64 ; mov Rq(r), Rq(h)),
                (Loc::Xmm(r), Loc::Xmm(h)) => dynasm!(a ; .arch x64 ; movapd Rx(r), Rx(h)),
                _ => return Err(CompileError::NotInTraces("home register of another class")),
            },
            IrOp::HSet if Some(loc[ins.a.0 as usize]) == home(ins.k).ok() => {}
            IrOp::HSet => match (loc[ins.a.0 as usize], home(ins.k)?) {
                (Loc::Gpr(r), Loc::Gpr(h)) => dynasm!(a ; .arch x64 ; mov Rq(h), Rq(r)),
                (Loc::Xmm(r), Loc::Xmm(h)) => dynasm!(a ; .arch x64 ; movapd Rx(h), Rx(r)),
                _ => return Err(CompileError::NotInTraces("home register of another class")),
            },
            IrOp::Exit => dynasm!(a ; .arch x64 ; jmp =>exit),
            // An inlined call's limits: checked as a direct call's are (one compare
            // with the floor, which counts its frame, `value_floor`; below it, the
            // exact checks out of line), or not at all where an earlier check of the
            // fragment covers it ([`covered`]).
            IrOp::Room => {
                if !covered(&t.ins, i) {
                    let (slow, back) = (a.new_dynamic_label(), a.new_dynamic_label());
                    dynasm!(a ; .arch x64
                        ; cmp rsp, QWORD [rbx + TRAMP_FLOOR]
                        ; jb =>slow
                        ; =>back);
                    self.calls.push(SlowCall {
                        slow,
                        back,
                        end: disp(chain_end(&t.ins, i, labels))?,
                        exit,
                    });
                }
            }
            IrOp::Poll => {
                dynasm!(a ; .arch x64 ; cmp BYTE [Rq(INTR)], 0 ; jne =>exit);
                // The poll of a counted back-edge block counts the pass too (the
                // block's last operations: the poll, any `arg.set`s, the jump).
                let ends = t.ins[i + 1..]
                    .iter()
                    .all(|x| x.op == IrOp::ArgSet || x.op == IrOp::Jump)
                    && t.ins.last().is_some_and(|x| x.op == IrOp::Jump);
                if let Some(c) = labels.counter(func, self.ip).filter(|_| ends) {
                    count_pass(a, c, exit);
                }
            }
            IrOp::CallAotK | IrOp::CallAotKv | IrOp::CallAotSelf => {
                let f = (ins.k & 0xffff_ffff) as u32;
                let a0 = (ins.k >> 32) & 0xffff;
                let dst = (ins.k >> 48) as i16;
                let (arity, nslots) = labels.shapes[f as usize];
                let len = match ins.op {
                    IrOp::CallAotK => Op::CallK.encoded_len(),
                    IrOp::CallAotKv => Op::Call.encoded_len(),
                    _ => Op::CallSelf.encoded_len(),
                };
                let resume = t.snaps[ins.snap as usize].resume_ip as i32 + len as i32;
                let mut target =
                    labels.call_entry(f, func, t.snaps[ins.snap as usize].resume_ip)?;
                // The register arguments the `arg.set`s before give, moved into their
                // registers first (nothing after writes them: the push clobbers `rax`
                // alone, the limit checks `r11`), and the callee entered past their
                // loads.
                let sets = arg_sets(t, i);
                if !sets.is_empty() {
                    move_args_to_regs(a, t, loc, &sets, &labels.args[f as usize])?;
                    target = labels.arg_heads[f as usize].ok_or(CompileError::NotInTraces(
                        "arg.set for no register argument",
                    ))?;
                }
                // One compare with the floor; below it, the exact checks out of line.
                // A call after another call or `call.room` of the fragment
                // ([`covered`]) makes none: the same compare there had the same
                // outcome, and that one's exact checks covered this call's frame too
                // (`chain_end`).
                let checked = covered(&t.ins, i);
                let (slow, back) = (a.new_dynamic_label(), a.new_dynamic_label());
                if !checked {
                    dynasm!(a ; .arch x64
                        ; cmp rsp, QWORD [rbx + TRAMP_FLOOR]
                        ; jb =>slow);
                }
                dynasm!(a ; .arch x64 ; =>back);
                // This function's kept slots that are dead and not covered here, which
                // the callee could see (`Clears::before_calls`), cleared; and the slots
                // below the callee's frame, dead here, whose next store the translator
                // made payload-only (`tw`, `Tx::tag_in_memory`), given the i64 tag word
                // (the clear of such a kept slot too: any payload is a valid i64).
                let at = t.snaps[ins.snap as usize].resume_ip;
                clear_slots(a, labels.clears[func as usize].before_call(at) & !ins.tw)?;
                tag_i64_slots(a, ins.tw)?;
                if !checked {
                    self.calls.push(SlowCall {
                        slow,
                        back,
                        end: disp(chain_end(&t.ins, i, labels))?,
                        exit,
                    });
                }
                let call = NativeCall {
                    func: f,
                    a0,
                    arity,
                    nslots,
                    dst,
                    resume,
                    // The trampoline's native stack floor covers the frame stack.
                    room: 0,
                    closure_is_func: ins.op != IrOp::CallAotSelf,
                    conv: CallConv::Aot,
                    // What the callee covers first, but what this function reads
                    // after the call (`aot::clears` knows a `call` of a known function
                    // as the native call it is).
                    // And the callee's slots that no path from its entry reads before
                    // writing where this frame's memory holds a valid value already
                    // (`Clears::valid`: what an earlier call's callee left there).
                    keep: (labels.clears[f as usize].keep
                        | labels.clears[func as usize].valid_at(at)
                            & labels.clears[f as usize].fresh)
                        & !labels.clears[func as usize].at_call(at),
                    lazy: labels.lazy.get(f as usize).copied().unwrap_or(false),
                    // The closure the callee's FUNC value: `fill_records` writes it.
                    lazy_closure: ins.op != IrOp::CallAotSelf
                        && labels
                            .lazy_closure
                            .get(f as usize)
                            .copied()
                            .unwrap_or(false),
                    record_kept: record_kept(&t.ins, i, labels),
                    top_pushed: top_shared_prev(&t.ins, i),
                    top_kept: top_shared_next(&t.ins, i),
                };
                push_native_frame(a, &call, exit)?;
                // The callee returns with its result in `rax`/`rdx`, its record still
                // pushed (`ret.slot`) and `BASE` at its slot 0. A `call.res` next takes
                // the result from `rax`: nothing stored here.
                let ret = a.new_dynamic_label();
                dynasm!(a ; .arch x64 ; call =>target ; =>ret);
                labels.site(ret, resume, a0, dst, call.lazy_closure)?;
                let res = t.ins.get(i + 1).is_some_and(|n| n.op == IrOp::CallRes);
                pop_native_frame(a, &call, false)?;
                if !res {
                    let rec = if call.top_kept { -fsz } else { 0 };
                    store_result(a, labels, labels.call_tags[f as usize], dst, rec)?;
                }
            }
            // A register argument where every way past the loads left it, taken in
            // its own register (`x64::assign`): no code.
            IrOp::ArgGet => match loc[i] {
                Loc::Gpr(r) if r as u64 == ins.k >> 16 => {}
                Loc::None => {}
                _ => return Err(CompileError::NotInTraces("arg.get out of its register")),
            },
            // Moved by the call or jump right after ([`move_args_to_regs`]).
            IrOp::ArgSet => {}
            // The result the direct call just before left in `rax` (its payload; the
            // kind is proven, so the tag word in `rdx` is not needed).
            IrOp::CallRes => match loc[i] {
                Loc::Gpr(0) | Loc::None => {}
                Loc::Gpr(r) => dynasm!(a ; .arch x64 ; mov Rq(r), rax),
                Loc::Xmm(x) => dynasm!(a ; .arch x64 ; movq Rx(x), rax),
            },
            IrOp::CallAotInd => {
                let resume =
                    t.snaps[ins.snap as usize].resume_ip as i32 + Op::Call.encoded_len() as i32;
                indirect_call(a, ins.k, resume, labels, exit)?;
            }
            IrOp::TCallAotInd => indirect_tail_call(a, ins.k, labels, exit)?,
            IrOp::TCallAot => {
                let f = (ins.k & 0xffff_ffff) as u32;
                let a0 = (ins.k >> 32) & 0xffff;
                let n = ins.k >> 48;
                let (_, nslots) = labels.shapes[f as usize];
                let end = disp(nslots as u64)?;
                let target = labels.call_entry(f, func, t.snaps[ins.snap as usize].resume_ip)?;
                let clo = layout::FRAME_CLOSURE as i32;
                dynasm!(a ; .arch x64
                    ; cmp BYTE [Rq(INTR)], 0
                    ; jne =>exit
                    ; lea r11, [Rq(BASE) + end]
                    ; cmp r11, QWORD [Rq(STATE) + layout::ST_STACK_LIMIT as i32]
                    ; ja =>exit);
                move_args(a, a0, n)?;
                // The callee's slots past its arguments but those it covers first
                // (`aot::clears`: it keeps them whether a call's push or a tail
                // call's left them).
                clear_range(a, n, nslots as u64, labels.clears[f as usize].keep)?;
                dynasm!(a ; .arch x64
                    ; mov DWORD [rbp - fsz + layout::FRAME_FUNC as i32], f as i32
                    ; mov DWORD [rbp - fsz + layout::FRAME_IP as i32], 0
                    ; mov QWORD [rbp - fsz + clo], f as i32
                    ; mov QWORD [rbp - fsz + clo + 8], Tag::FUNC as i32
                    ; jmp =>target);
            }
            IrOp::RetSlot => {
                // The result in `rax`/`rdx`, the frame left for the caller to pop (a
                // direct call, or the trampoline, which leaves to the interpreter at a
                // `ret` when the frame below is not a bytecode frame: its function's
                // returns-table row's, or this one, whose offset is then in `ecx`).
                let at = t.snaps[ins.snap as usize].resume_ip as i32;
                if ins.k >> 32 != 0 {
                    dynasm!(a ; .arch x64
                        ; xor eax, eax
                        ; mov edx, Tag::UNIT as i32);
                } else {
                    let off = disp(ins.k & 0xffff)?;
                    dynasm!(a ; .arch x64
                        ; mov rax, QWORD [Rq(BASE) + off]
                        ; mov rdx, QWORD [Rq(BASE) + off + 8]);
                }
                // A function with a returns-table row needs no offset ([`ret_row`]).
                if labels.ret_rows[func as usize].is_none() {
                    dynasm!(a ; .arch x64 ; mov ecx, at);
                }
                dynasm!(a ; .arch x64 ; ret);
            }
            IrOp::RetVal => {
                // The value from its register, with its tag word.
                let tw = t.tagword(ins.a) as i32;
                match (loc[ins.a.0 as usize], t.konst(ins.a)) {
                    (Loc::Gpr(0), _) => {}
                    (Loc::Gpr(r), _) => dynasm!(a ; .arch x64 ; mov rax, Rq(r)),
                    (Loc::Xmm(x), _) => dynasm!(a ; .arch x64 ; movq rax, Rx(x)),
                    (Loc::None, Some(bits)) => dynasm!(a ; .arch x64 ; mov rax, QWORD bits as i64),
                    (Loc::None, None) => {
                        return Err(CompileError::NotInTraces("ret.val of no register"))
                    }
                }
                // Its function has a returns-table row ([`ret_row`]), which names a
                // `ret` for the trampoline: no `rcx`. A `reti`'s in a function without
                // one says where it is: the interpreter runs it again.
                if labels.ret_rows[func as usize].is_none() {
                    if ins.k & super::RET_VAL_RETI == 0 {
                        return Err(CompileError::NotInTraces("ret.val without a returns row"));
                    }
                    let at = t.snaps[ins.snap as usize].resume_ip as i32;
                    dynasm!(a ; .arch x64 ; mov ecx, at);
                }
                // The tag word, unless every return of the function is of this kind:
                // its receivers know it or read it from the returns table.
                if labels.ret_tags[func as usize].is_none() {
                    dynasm!(a ; .arch x64 ; mov edx, tw);
                }
                dynasm!(a ; .arch x64 ; ret);
            }
            IrOp::AGetSlot => {
                // The array's elements kind decides the layout at run time: flat (the
                // payload, and the kind as the tag), general (the whole value copied),
                // or converted (an exit). The index was guarded (`guard.index`).
                let (p, q) = (g(ins.a), g(ins.b));
                let f = layout::FIELDS as i32;
                let off = disp(ins.k)?;
                let general = Slow::AGetSlot { p, q, off, exit };
                if let Some(d) = self.deferred(|d| d.from == i) {
                    // Kept in a register to its store ([`Deferred`]).
                    dynasm!(a ; .arch x64 ; mov Rq(d.reg), QWORD [Rq(p) + Rq(q) * 8 + f]);
                    return Ok(());
                }
                let done = if self.flat.as_ref().is_some_and(|v| v.flat(ins.a)) {
                    // Known flat where the block began ([`FlatVersion`]).
                    a.new_dynamic_label()
                } else if element_copy(t, i) {
                    // The flat layout first, the general one out of line: the flat
                    // kinds (1 to 5) are below converted (255) and general (256), so
                    // one unsigned compare sends both out of line, where the general
                    // one is told from the converted one (which exits).
                    let (at, done) = self.slow(a, general);
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(p) + layout::META as i32], layout::ELEMS_MOVED as i32
                        ; jae =>at);
                    done
                } else {
                    // The general layout first (a value of no proven kind is most often
                    // an object, in a general array), then the flat one.
                    let (flat, done) = (a.new_dynamic_label(), a.new_dynamic_label());
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(p) + layout::META as i32], layout::ELEMS_GENERAL as i32
                        ; jne =>flat);
                    element_addr(a, p, q, None);
                    copy_into_slot(a, SCRATCH, f, off, self.free_gpr(i));
                    dynasm!(a ; .arch x64
                        ; jmp =>done
                        ; =>flat
                        ; cmp DWORD [Rq(p) + layout::META as i32], layout::ELEMS_MOVED as i32
                        ; je =>exit);
                    done
                };
                dynasm!(a ; .arch x64
                    ; mov Rq(SCRATCH), QWORD [Rq(p) + Rq(q) * 8 + f]
                    ; mov QWORD [Rq(BASE) + off], Rq(SCRATCH)
                    ; mov Rd(SCRATCH), DWORD [Rq(p) + layout::META as i32]
                    ; mov QWORD [Rq(BASE) + off + 8], Rq(SCRATCH)
                    ; =>done);
            }
            IrOp::AGetAny => {
                // The elements kind decides the layout at run time: flat (the kind
                // checked to be the tag, the payload loaded) here, general (the
                // element's tag checked, its payload loaded) out of line; any other
                // kind exits.
                let (p, q) = (g(ins.a), g(ins.b));
                let f = layout::FIELDS as i32;
                let tag = ins.tw as u32 as i32;
                let slow = Slow::AGetAny {
                    p,
                    q,
                    tag,
                    dst: loc[i],
                    exit,
                };
                let (general, done) = self.slow(a, slow);
                dynasm!(a ; .arch x64
                    ; cmp DWORD [Rq(p) + layout::META as i32], tag
                    ; jne =>general);
                match loc[i] {
                    Loc::Gpr(r) => {
                        dynasm!(a ; .arch x64 ; mov Rq(r), QWORD [Rq(p) + Rq(q) * 8 + f])
                    }
                    Loc::Xmm(r) => {
                        dynasm!(a ; .arch x64 ; movsd Rx(r), QWORD [Rq(p) + Rq(q) * 8 + f])
                    }
                    Loc::None => {}
                }
                dynasm!(a ; .arch x64 ; =>done);
            }
            IrOp::GCopy => {
                let off = disp(ins.k & 0xffff)?;
                let goff = disp(ins.k >> 16)?;
                dynasm!(a ; .arch x64
                    ; mov Rq(SCRATCH), QWORD [Rq(STATE) + layout::ST_GLOBALS as i32]);
                copy_into_slot(a, SCRATCH, goff, off, self.free_gpr(i));
            }
            IrOp::CtorIdx | IrOp::IsNil => {
                // An object first, the common case of a match on data with fields (a
                // list's cells, an `Option`'s `Some`); a field-less constructor's
                // immediate out of line. Bit 32 of `k`: the slot holds a constructed
                // value, so an object there is a data object (no kind check).
                let r = g(Ref(i as u32));
                let off = disp(ins.k & 0xffff_ffff)?;
                let data = ins.k >> 32 & 1 != 0;
                let list = ins.op == IrOp::IsNil;
                let test = fused_ctor_test(t, i);
                let carried = carried_regs(labels, func, ins.k & 0xffff_ffff);
                // An `Option` value whose tag word tells its constructor
                // ([`CTOR_OPTION`]): a test of index 0 (`None`, `CTOR0`) or 1 (`Some`,
                // `OBJ`) is one compare of the tag word (a carried parameter's
                // register), whose flags the guard that follows jumps on; nothing can
                // fail, so nothing exits.
                let option = match test {
                    Some(k @ 0..=1) if !list && ins.k & CTOR_OPTION != 0 => {
                        Some(if k == 1 { Tag::OBJ } else { Tag::CTOR0 } as i32)
                    }
                    _ => None,
                };
                if let Some(tag) = option {
                    match carried {
                        Some((_, tw)) => dynasm!(a ; .arch x64 ; cmp Rd(tw), tag),
                        None => dynasm!(a ; .arch x64 ; cmp DWORD [Rq(BASE) + off + 8], tag),
                    }
                    return Ok(());
                }
                let (imm, done) = self.slow(
                    a,
                    Slow::Ctor0 {
                        r,
                        off,
                        list,
                        test,
                        exit,
                        carried,
                    },
                );
                // The object's address: a carried parameter's from its register, its
                // tag compared in the other (the immediate's path tests the registers
                // too: the slot may be stale); else from the slot into `r`.
                let o = match carried {
                    Some((p, tw)) => {
                        dynasm!(a ; .arch x64 ; cmp Rd(tw), Tag::OBJ as i32 ; jne =>imm);
                        p
                    }
                    None => {
                        dynasm!(a ; .arch x64
                            ; cmp DWORD [Rq(BASE) + off + 8], Tag::OBJ as i32
                            ; jne =>imm
                            ; mov Rq(r), QWORD [Rq(BASE) + off]);
                        r
                    }
                };
                if !data {
                    dynasm!(a ; .arch x64
                        ; cmp BYTE [Rq(o) + layout::KIND as i32], layout::KIND_DATA as i8
                        ; jne =>exit);
                }
                if list {
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(o) + layout::META as i32], builtin::LIST as i32
                        ; jne =>exit
                        ; mov Rq(r), 0);
                } else if let Some(k) = test {
                    // The guard that follows jumps on these flags (`fused_ctor_test`).
                    dynasm!(a ; .arch x64 ; cmp WORD [Rq(o) + layout::TAG as i32], k as i16);
                } else {
                    dynasm!(a ; .arch x64 ; movzx Rd(r), WORD [Rq(o) + layout::TAG as i32]);
                }
                dynasm!(a ; .arch x64 ; =>done);
            }
            IrOp::HeadSlot => {
                let so = disp(ins.k & 0xffff)?;
                let f = layout::FIELDS as i32 + disp((ins.k >> 16) & 1)?;
                let d = disp(ins.k >> 32)?;
                dynasm!(a ; .arch x64
                    ; cmp DWORD [Rq(BASE) + so + 8], Tag::OBJ as i32
                    ; jne =>exit
                    ; mov Rq(SCRATCH), QWORD [Rq(BASE) + so]
                    ; cmp BYTE [Rq(SCRATCH) + layout::KIND as i32], layout::KIND_DATA as i8
                    ; jne =>exit
                    ; cmp DWORD [Rq(SCRATCH) + layout::META as i32], builtin::LIST as i32
                    ; jne =>exit);
                copy_into_slot(a, SCRATCH, f, d, self.free_gpr(i));
            }
            IrOp::InitSlot => {
                let p = g(ins.a);
                let s = disp(ins.k & 0xffff)?;
                let f = layout::FIELDS as i32 + disp(ins.k >> 16)?;
                dynasm!(a ; .arch x64
                    ; mov Rq(SCRATCH), QWORD [Rq(BASE) + s]
                    ; mov QWORD [Rq(p) + f], Rq(SCRATCH)
                    ; mov Rq(SCRATCH), QWORD [Rq(BASE) + s + 8]
                    ; mov QWORD [Rq(p) + f + 8], Rq(SCRATCH));
            }
            IrOp::ASetSlot => {
                // Flat: the payload, when the value's tag is the array's elements kind
                // (256, general, is no tag). General: the whole value through the
                // barrier. Any other (a converted array, or a store that converts)
                // exits. The index was guarded by `guard.index`.
                let (p, q) = (g(ins.a), g(ins.b));
                let voff = disp(ins.k)?;
                let f = layout::FIELDS as i32;
                let flat = self.flat.as_ref().filter(|v| v.flat(ins.a));
                let same = flat
                    .zip(copied_from(t, i))
                    .is_some_and(|(v, from)| v.same_kind(from, ins.a));
                let (mismatch, done) = if flat.is_some() {
                    // Known flat where the block began ([`FlatVersion`]): a value of
                    // another tag would convert the array, which the interpreter does.
                    (exit, a.new_dynamic_label())
                } else if element_copy(t, i) {
                    // The flat layout first, the general one out of line.
                    self.slow(a, Slow::ASetSlot { p, q, voff, exit })
                } else {
                    // The general layout first (a value of no proven kind is most often
                    // an object), then the flat one.
                    let (flat, done) = (a.new_dynamic_label(), a.new_dynamic_label());
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(p) + layout::META as i32], layout::ELEMS_GENERAL as i32
                        ; jne =>flat);
                    set_general(a, p, q, voff, labels.remember);
                    dynasm!(a ; .arch x64 ; jmp =>done ; =>flat);
                    (exit, done)
                };
                if let Some(d) = self.deferred(|d| d.until == i) {
                    // Its value kept in a register since its `aget.slot` ([`Deferred`]:
                    // of this array's kind, both known flat).
                    dynasm!(a ; .arch x64
                        ; mov QWORD [Rq(p) + Rq(q) * 8 + f], Rq(d.reg)
                        ; =>done);
                    return Ok(());
                }
                if same {
                    // A value copied out of this array, or one of its elements kind,
                    // both known flat: the slot's tag is the kind ([`copied_from`]).
                } else if stored_back(t, i) {
                    // A value copied out of this array: flat now means the slot's tag
                    // is the kind ([`stored_back`]); general goes out of line.
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(p) + layout::META as i32], layout::ELEMS_MOVED as i32
                        ; jae =>mismatch);
                } else {
                    dynasm!(a ; .arch x64
                        ; mov Rd(SCRATCH), DWORD [Rq(BASE) + voff + 8]
                        ; cmp Rd(SCRATCH), DWORD [Rq(p) + layout::META as i32]
                        ; jne =>mismatch);
                }
                dynasm!(a ; .arch x64
                    ; mov Rq(SCRATCH), QWORD [Rq(BASE) + voff]
                    ; mov QWORD [Rq(p) + Rq(q) * 8 + f], Rq(SCRATCH)
                    ; =>done);
            }
            IrOp::HStore => {
                // An element of an array of a kind known only at run time
                // (`HSTORE_ELEM`), the index guarded: a number or bool goes flat when
                // the array's elements kind is its tag, and out of line into a general
                // array (no barrier: not a pointer); any other kind exits. Any other
                // value goes into a general array only, through the barrier.
                let p = g(ins.a);
                let tw = t.tagword(ins.b);
                if !(Tag::BOOL as u64..=Tag::CHAR as u64).contains(&tw) {
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(p) + layout::META as i32], layout::ELEMS_GENERAL as i32
                        ; jne =>exit);
                    return value_store(a, t, loc, ins, p, exit, Some(labels.remember));
                }
                let idx = t.ins[ins.k as usize];
                let at = if idx.op == IrOp::KInt {
                    ElemAt::Offset(field_disp(idx.k)?)
                } else {
                    ElemAt::Index(g(Ref(ins.k as u32)))
                };
                let slow = Slow::Store {
                    p,
                    at,
                    v: loc[ins.b.0 as usize],
                    tw,
                    exit,
                };
                let (general, done) = self.slow(a, slow);
                dynasm!(a ; .arch x64
                    ; cmp DWORD [Rq(p) + layout::META as i32], tw as i32
                    ; jne =>general);
                flat_store(a, t, loc, ins, p)?;
                dynasm!(a ; .arch x64 ; =>done);
            }
            IrOp::EnvSlot => {
                // The running closure is the innermost record's (`rbp` the frame top).
                let foff = layout::FIELDS as i32 + disp(ins.k & 0xffff_ffff)?;
                let d = disp(ins.k >> 32)?;
                let clo = layout::FRAME_CLOSURE as i32 - layout::FRAME_SIZE as i32;
                dynasm!(a ; .arch x64 ; mov Rq(SCRATCH), QWORD [rbp + clo]);
                copy_into_slot(a, SCRATCH, foff, d, self.free_gpr(i));
            }
            IrOp::FieldPtr => {
                let foff = layout::FIELDS as i32 + disp(ins.k & 0xffff_ffff)?;
                let d = disp(ins.k >> 32)?;
                match carried_regs(labels, func, ins.k >> 32) {
                    // A carried parameter: into its registers only, which hold it for
                    // the next iteration; the slot is written back by whatever way out
                    // can read it ([`store_carried`]).
                    Some((r, tw)) => dynasm!(a ; .arch x64
                        ; mov Rq(r), QWORD [Rq(g(ins.a)) + foff]
                        ; mov Rq(tw), QWORD [Rq(g(ins.a)) + foff + 8]),
                    None => copy_into_slot(a, g(ins.a), foff, d, None),
                }
            }
            IrOp::HGetC => {
                let s = ins.k & 0xffff;
                let Some((r, tw)) = carried_regs(labels, func, s) else {
                    return Err(CompileError::NotInTraces(
                        "carried register of a slot without one",
                    ));
                };
                if ins.k & 1 << 32 == 0 {
                    dynasm!(a ; .arch x64 ; cmp Rd(tw), Tag::OBJ as i32 ; jne =>exit);
                }
                if let Loc::Gpr(x) = loc[i] {
                    if x != r {
                        dynasm!(a ; .arch x64 ; mov Rq(x), Rq(r));
                    }
                }
            }
            IrOp::FieldSlot | IrOp::SetFieldSlot => {
                // The object is re-read from its slot (written back before the guard):
                // tag, kind and field count checked, as the interpreter checks them,
                // but for what the slot's kind proves (the flags, `Tx::slot_known`).
                let so = disp(ins.k & 0xffff)?;
                let fi = (ins.k >> 16) & 0xffff;
                let foff = layout::FIELDS as i32 + disp(fi)?;
                if ins.k & super::SLOT_OBJECT == 0 {
                    dynasm!(a ; .arch x64
                        ; cmp DWORD [Rq(BASE) + so + 8], Tag::OBJ as i32
                        ; jne =>exit);
                }
                dynasm!(a ; .arch x64 ; mov Rq(SCRATCH), QWORD [Rq(BASE) + so]);
                if ins.k & super::SLOT_CONSTRUCTED == 0 {
                    dynasm!(a ; .arch x64
                        ; cmp BYTE [Rq(SCRATCH) + layout::KIND as i32], layout::KIND_DATA as i8
                        ; jne =>exit);
                }
                if ins.k & super::SLOT_HAS_FIELD == 0 {
                    dynasm!(a ; .arch x64
                        ; cmp QWORD [Rq(SCRATCH) + layout::LEN as i32], fi as i32
                        ; jbe =>exit);
                }
                if ins.op == IrOp::FieldSlot {
                    let d = disp((ins.k >> 32) & 0xffff)?;
                    copy_into_slot(a, SCRATCH, foff, d, self.free_gpr(i));
                } else {
                    // The object's address is the destination's base: its field's
                    // offset from the object is `foff`.
                    let voff = disp((ins.k >> 32) & 0xffff)?;
                    store_whole(a, SCRATCH, foff, voff, labels.remember);
                }
            }
            op => return Err(CompileError::NotInTraces(op.mnemonic())),
        }
        Ok(())
    }
}

/// The table an indirect call (`call.aot.ind`) finds its callee in, 8 bytes
/// per function of the module, indexed by function: the offset of the
/// function's indirect entry from the table (an `i32`, 0 when the function is not
/// compiled whole, so that a call of it leaves to the interpreter), its arity and its
/// frame size (`u16`s). The indirect entry clears the callee's slots past its
/// arguments, as the interpreter's push does (a direct call's caller does it, knowing
/// the callee), and goes on at the function's entry. Read-only data after the code:
/// the offsets are known here, every function being emitted.
fn callee_table(
    a: &mut Asm,
    labels: &Labels,
    report: &[FuncReport],
    off: &dyn Fn(&Asm, DynamicLabel) -> Result<u32, String>,
) -> Result<(), String> {
    let mut stubs: Vec<Option<u32>> = Vec::with_capacity(labels.shapes.len());
    for (fi, &(arity, nslots)) in labels.shapes.iter().enumerate() {
        let full = report.get(fi).is_some_and(|r| r.status == Status::Full);
        if !full {
            stubs.push(None);
            continue;
        }
        let entry = labels.checked_entry(fi as u32).map_err(|e| e.to_string())?;
        let here = a.offset().0 as u32;
        clear_range(a, arity as u64, nslots as u64, 0).map_err(|e| e.to_string())?;
        dynasm!(a ; .arch x64 ; jmp =>entry);
        stubs.push(Some(here));
    }
    dynasm!(a ; .arch x64 ; .align 8 ; =>labels.table);
    let base = off(a, labels.table)?;
    for (fi, stub) in stubs.iter().enumerate() {
        let (arity, nslots) = labels.shapes[fi];
        // A stub lies before the table: its offset from it is negative, never 0.
        let rel = stub.map_or(0, |o| o as i64 - base as i64);
        let rel = i32::try_from(rel).map_err(|_| "code too large".to_string())?;
        dynasm!(a ; .arch x64
            ; .i32 rel
            ; .u16 arity
            ; .u16 nslots);
    }
    Ok(())
}

/// Bytes of one entry of [`sites_table`].
const SITE_BYTES: usize = 12;

/// The table of native call sites, after the code (at [`Labels::sites`]): their
/// count (`u32`, then 4 bytes of padding), then one 12-byte entry per site in
/// ascending order of return address: the return address's offset from the table (an
/// `i32`, negative), the caller's resume offset (`u32`), the first argument's slot and
/// the result slot (`u16`s). [`fill_records`] finds a return address's entry in it.
fn sites_table(
    a: &mut Asm,
    labels: &Labels,
    off: &dyn Fn(&Asm, DynamicLabel) -> Result<u32, String>,
) -> Result<(), String> {
    let mut rows = Vec::new();
    for c in labels.calls.borrow().iter() {
        rows.push((off(a, c.ret)?, *c));
    }
    rows.sort_by_key(|r| r.0);
    let count = u32::try_from(rows.len()).map_err(|_| "too many call sites".to_string())?;
    dynasm!(a ; .arch x64 ; .align 8 ; =>labels.sites ; .u32 count ; .u32 0);
    let base = off(a, labels.sites)?;
    for (o, c) in rows {
        let rel =
            i32::try_from(o as i64 - base as i64).map_err(|_| "code too large".to_string())?;
        dynasm!(a ; .arch x64
            ; .i32 rel
            ; .u32 c.resume | if c.lazy_closure { SITE_LAZY_CLOSURE } else { 0 }
            ; .u16 c.a0
            ; .u16 c.dst);
    }
    Ok(())
}

/// Completes the frame records of the native calls on the native stack when compiled
/// code leaves to the interpreter (called by the trampoline's shared exit, through
/// [`super::hook::AotHelpers::fill`]): a lazy push ([`NativeCall::lazy`]) wrote only
/// the callee's function and closure. Every word from `sp` up to the entered code's
/// return address (at `tramp - 8`, `tramp` being the trampoline's `rbx`) is the return
/// address of one native call, the innermost at `sp`; the `k`-th from the top pushed
/// the `k`-th record past `top0`, the frame top the trampoline was entered with (a
/// tail call rewrites a record in place, keeping its base and result slot). For each,
/// from the outermost, the site's entry in `sites` ([`sites_table`]) gives the
/// caller's resume offset, the callee's base (the caller's plus the first argument's
/// slot) and its result slot; the record is a NORMAL frame. An eager push wrote the
/// same values. The innermost record's resume offset is the exit's own.
///
/// # Safety
///
/// Only the shared exit may call it, with those arguments: the native stack between
/// `sp` and `tramp` and the frame records from `top0 - FRAME_SIZE` on, one past it per
/// return address, are the running code's, and `sites` is the table of its image.
pub unsafe extern "C" fn fill_records(
    tramp: *const usize,
    sp: *const usize,
    sites: *const u8,
    top0: *mut u8,
) {
    let fsz = layout::FRAME_SIZE;
    // SAFETY: the table starts with its count, and that many entries follow (the
    // caller's contract).
    let table = unsafe {
        let count = sites.cast::<u32>().read_unaligned() as usize;
        std::slice::from_raw_parts(sites.add(8), count * SITE_BYTES)
    };
    let n = (tramp as usize - 8).saturating_sub(sp as usize) / 8;
    let entry = |i: usize| &table[i * SITE_BYTES..(i + 1) * SITE_BYTES];
    let rel = |e: &[u8]| i32::from_le_bytes([e[0], e[1], e[2], e[3]]) as i64;
    let mut caller = top0.wrapping_sub(fsz);
    for k in 1..=n {
        // SAFETY: `tramp - 8 - 8k` lies between `sp` and `tramp - 8` (k <= n).
        let ra = unsafe { tramp.sub(1 + k).read() };
        let key = ra as i64 - sites as i64;
        let (mut lo, mut hi) = (0, table.len() / SITE_BYTES);
        let mut found = None;
        while lo < hi {
            let mid = (lo + hi) / 2;
            match rel(entry(mid)).cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    found = Some(entry(mid));
                    break;
                }
            }
        }
        // Every native call's site is in the table; a word that is not a return
        // address of one would be a bug of the emitter, and nothing is written.
        let Some(e) = found else {
            debug_assert!(false, "a return address of no native call site");
            return;
        };
        let word = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        let resume = word & !SITE_LAZY_CLOSURE;
        let a0 = u16::from_le_bytes([e[8], e[9]]) as u32;
        let dst = u16::from_le_bytes([e[10], e[11]]);
        let rec = caller.wrapping_add(fsz);
        // SAFETY: `caller` and `rec` are the records of the entered frame (or of the
        // call before) and of the `k`-th native call, on the frame stack (the
        // caller's contract); the fields are at the VM's own offsets.
        unsafe {
            caller
                .add(layout::FRAME_IP)
                .cast::<u32>()
                .write_unaligned(resume);
            let base = caller
                .add(layout::FRAME_BASE)
                .cast::<u32>()
                .read_unaligned()
                + a0;
            rec.add(layout::FRAME_BASE)
                .cast::<u32>()
                .write_unaligned(base);
            rec.add(layout::FRAME_RET)
                .cast::<u16>()
                .write_unaligned(dst);
            rec.add(layout::FRAME_KIND).write(layout::FRAME_NORMAL);
            rec.add(layout::FRAME_PAD).write(0);
            if word & SITE_LAZY_CLOSURE != 0 {
                // The FUNC value of the record's function, as an eager push (or a
                // `tcallk` since, which rewrote the function) writes it.
                let func = rec.add(layout::FRAME_FUNC).cast::<u32>().read_unaligned();
                let clo = rec.add(layout::FRAME_CLOSURE);
                clo.cast::<u64>().write_unaligned(func as u64);
                clo.add(8).cast::<u64>().write_unaligned(Tag::FUNC as u64);
            }
        }
        caller = rec;
    }
}

/// The callee of an indirect call or tail call of `n` arguments, from the function
/// value in the slot at byte offset `fv`: a FUNC value's function, or a closure
/// object's (its header's meta word), the index truncated to 32 bits as the
/// interpreter's `call` does, looked up in [`callee_table`]. Leaves to the interpreter
/// (`exit`, nothing changed), which runs the instruction, for any other value, a
/// function not compiled whole, a count that is not its arity (a partial or
/// over-application), and when the callee's frame, from the slot at byte offset
/// `from`, would pass the value stack's limit. Leaves the function index in `r11` and
/// the callee's indirect entry in `rcx`; clobbers `rax` and `rdx`.
fn resolve_callee(
    a: &mut Asm,
    fv: i32,
    n: u64,
    from: i32,
    labels: &Labels,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let nfuncs = i32::try_from(labels.shapes.len())
        .map_err(|_| CompileError::NotInTraces("too many functions"))?;
    let n = i16::try_from(n).map_err(|_| CompileError::NotInTraces("too many arguments"))?;
    let func = a.new_dynamic_label();
    dynasm!(a ; .arch x64
        ; mov eax, DWORD [Rq(BASE) + fv + 8]
        ; mov r11d, DWORD [Rq(BASE) + fv]
        ; cmp eax, Tag::FUNC as i32
        ; je =>func
        ; cmp eax, Tag::OBJ as i32
        ; jne =>exit
        ; mov r11, QWORD [Rq(BASE) + fv]
        ; cmp BYTE [r11 + layout::KIND as i32], layout::KIND_CLOSURE as i8
        ; jne =>exit
        ; mov r11d, DWORD [r11 + layout::META as i32]
        ; =>func
        ; cmp r11, nfuncs
        ; jae =>exit
        ; lea rcx, [=>labels.table]
        ; lea rax, [rcx + r11 * 8] // 8 bytes an entry
        ; movsxd rdx, DWORD [rax]
        ; test rdx, rdx
        ; jz =>exit
        ; cmp WORD [rax + 4], n
        ; jne =>exit
        ; add rcx, rdx
        ; movzx eax, WORD [rax + 6]
        ; shl eax, 4
        ; lea rax, [Rq(BASE) + rax + from]
        ; cmp rax, QWORD [Rq(STATE) + layout::ST_STACK_LIMIT as i32]
        ; ja =>exit
    );
    Ok(())
}

/// The operands both calls through a function value pack in `k`: the function
/// value's slot (as a byte offset), the argument base and the argument count.
fn value_call(k: u64) -> Result<(i32, u64, u64), CompileError> {
    Ok((disp(k & 0xffff)?, (k >> 16) & 0xffff, (k >> 32) & 0xffff))
}

/// `call.aot.ind` (`k`: the function value's slot, the argument base and count, the
/// result slot, 16 bits each): the callee found by [`resolve_callee`], which leaves
/// to the interpreter at the call when it cannot go natively, as does a native stack
/// or frame stack too short for one more call. The frame is pushed as a direct call
/// pushes it (the caller resuming at `resume`, the record's closure the function
/// value itself) and the callee entered through its indirect entry, which clears its
/// slots. The stacks are checked exactly here, not through the trampoline's floor,
/// which bounds only direct calls' frames.
fn indirect_call(
    a: &mut Asm,
    k: u64,
    resume: i32,
    labels: &Labels,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let (fv, a0, n) = value_call(k)?;
    let dst = (k >> 48) as i16;
    let argoff = disp(a0)?;
    let fsz = layout::FRAME_SIZE as i32;
    let clo = layout::FRAME_CLOSURE as i32;
    resolve_callee(a, fv, n, argoff, labels, exit)?;
    dynasm!(a ; .arch x64
        ; cmp rsp, QWORD [rbx + TRAMP_FRAMES]
        ; jb =>exit
        // The caller resumes after the call; the callee's record.
        ; mov DWORD [rbp - fsz + layout::FRAME_IP as i32], resume
        ; mov eax, DWORD [rbp - fsz + layout::FRAME_BASE as i32]
        ; add eax, a0 as i32
        ; mov DWORD [rbp + layout::FRAME_FUNC as i32], r11d
        ; mov DWORD [rbp + layout::FRAME_IP as i32], 0
        ; mov DWORD [rbp + layout::FRAME_BASE as i32], eax
        ; mov WORD [rbp + layout::FRAME_RET as i32], dst
        ; mov BYTE [rbp + layout::FRAME_KIND as i32], layout::FRAME_NORMAL as i8
        ; mov BYTE [rbp + layout::FRAME_PAD as i32], 0
        ; mov rax, QWORD [Rq(BASE) + fv]
        ; mov QWORD [rbp + clo], rax
        ; mov rax, QWORD [Rq(BASE) + fv + 8]
        ; mov QWORD [rbp + clo + 8], rax
        ; add rbp, fsz
        ; lea Rq(BASE), [Rq(BASE) + argoff]
        ; call rcx
    );
    // Eager, but the shared exit walks past its return address too.
    let ret = a.new_dynamic_label();
    dynasm!(a ; .arch x64 ; =>ret);
    labels.site(ret, resume, a0, dst, false)?;
    // The callee returns with its result in `rax`/`rdx` and its record pushed.
    let call = NativeCall {
        func: 0,
        a0,
        arity: n as u16,
        nslots: 0,
        dst,
        resume,
        room: 0,
        closure_is_func: false,
        conv: CallConv::Aot,
        // Unused by the pop; the indirect entry clears every slot of the callee.
        keep: 0,
        lazy: false,
        lazy_closure: false,
        record_kept: false,
        top_pushed: false,
        top_kept: false,
    };
    pop_native_frame(a, &call, false)?;
    store_result(a, labels, CallTag::Lookup, dst, 0)
}

/// `tcall.aot.ind` (`k`: the function value's slot, the argument base, the count):
/// the callee found by [`resolve_callee`] (its frame from slot 0), after the
/// interrupt flag (a loop of tail calls stays interruptible), leaving to the
/// interpreter at the tail call when either says so; then the running frame's record
/// becomes the callee's (its function and closure, the value itself; the base and
/// result slot stay), the arguments move down to slot 0, and the callee's indirect
/// entry, which clears its slots, is jumped to: it returns to this frame's caller.
fn indirect_tail_call(
    a: &mut Asm,
    k: u64,
    labels: &Labels,
    exit: DynamicLabel,
) -> Result<(), CompileError> {
    let (fv, a0, n) = value_call(k)?;
    let fsz = layout::FRAME_SIZE as i32;
    let clo = layout::FRAME_CLOSURE as i32;
    dynasm!(a ; .arch x64 ; cmp BYTE [Rq(INTR)], 0 ; jne =>exit);
    resolve_callee(a, fv, n, 0, labels, exit)?;
    // The record first: the move below may overwrite the function value's slot.
    dynasm!(a ; .arch x64
        ; mov DWORD [rbp - fsz + layout::FRAME_FUNC as i32], r11d
        ; mov DWORD [rbp - fsz + layout::FRAME_IP as i32], 0
        ; mov rax, QWORD [Rq(BASE) + fv]
        ; mov QWORD [rbp - fsz + clo], rax
        ; mov rax, QWORD [Rq(BASE) + fv + 8]
        ; mov QWORD [rbp - fsz + clo + 8], rax
    );
    move_args(a, a0, n)?;
    dynasm!(a ; .arch x64 ; jmp rcx);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::IrType;

    /// Two updates of one home in a block, the first value read after the second is
    /// computed (`v = k - x; k := v; w = k - x; u = v + x; k := w`): the second is
    /// computed in the home register, so the first must not be, or `u` would read
    /// `w`. (`sub`: the builder puts a commutative operation's operands in order.)
    #[test]
    fn a_home_value_read_after_a_later_update_is_not_computed_in_place() {
        let none = Ref(u32::MAX);
        let mut b = TraceBuilder::new(0);
        let k = b.emit_raw(IrOp::HGetI, none, none, 3, 0);
        let x = b.emit_raw(IrOp::HGetI, none, none, 4, 0);
        let v = b.arith(IrOp::SubI, k, x).expect("i64s");
        b.emit_raw(IrOp::HSet, v, none, 3, 0);
        let k2 = b.emit_raw(IrOp::HGetI, none, none, 3, 0);
        let w = b.arith(IrOp::SubI, k2, x).expect("i64s");
        let u = b.arith(IrOp::AddI, v, x).expect("i64s");
        b.emit_raw(IrOp::HSet, w, none, 3, 0);
        b.emit_raw(IrOp::HSet, u, none, 4, 0);
        let t = b.finish(Vec::new());
        let (hk, hx) = (Loc::Gpr(15), Loc::Gpr(10));
        let h = HomeLoop {
            head: 0,
            back: 100,
            homes: vec![(3, IrType::I64, hk), (4, IrType::I64, hx)],
            objects: Vec::new(),
            checked: Vec::new(),
            room: 0,
            stores: Vec::new(),
            written: 0b11,
        };
        let loc = allocate_avoiding(&t, &[hk, hx]).expect("fits");
        let out = alias_homes(&t, &loc, Some(&h));
        assert_eq!(out[k.0 as usize], hk, "k read in place");
        assert_eq!(out[w.0 as usize], hk, "w computed in the home register");
        assert_ne!(out[v.0 as usize], hk, "v is read after w is computed");
        assert_eq!(out[u.0 as usize], hx, "u = x + v: x read no more after it");
    }

    /// awfy_list's `is_shorter_than` step (`e = x.0; x := e.1`) and its variants: an
    /// address whose last reader comes before the `field.ptr` that overwrites its
    /// carried register is read from that register in place; one read by that
    /// `field.ptr` (which loads the payload register first, then the tag word through
    /// the address) or after it keeps the allocator's register, as does one the
    /// block's end reads.
    #[test]
    fn a_carried_address_is_read_in_place_until_its_register_is_written() {
        let none = Ref(u32::MAX);
        let mut b = TraceBuilder::new(0);
        let x = b.emit_raw(IrOp::HGetC, none, none, 1 << 32, 0);
        let e = b.fload_known(x, 0, Tag::OBJ as u64).expect("an object");
        b.emit_raw(IrOp::FieldPtr, e, none, 1, 0);
        let y = b.emit_raw(IrOp::HGetC, none, none, 1 | 1 << 32, 0);
        b.emit_raw(IrOp::FieldPtr, y, none, 1 | 1 << 32, 0);
        let z = b.emit_raw(IrOp::HGetC, none, none, 1 << 32, 0);
        let w = b.emit_raw(IrOp::HGetC, none, none, 1 | 1 << 32, 0);
        b.emit_raw(IrOp::FieldPtr, w, none, 1, 0);
        let v = b.fload_known(z, 0, Tag::OBJ as u64).expect("an object");
        b.emit_raw(IrOp::FieldPtr, v, none, 2 << 32, 0);
        let u = b.emit_raw(IrOp::HGetC, none, none, 1 | 1 << 32, 0);
        let t = b.finish(vec![(5, u)]);
        let carried = [(0, 15, 14), (1, 13, 10)];
        let regs: Vec<Loc> = [15, 14, 13, 10].iter().map(|&r| Loc::Gpr(r)).collect();
        let mut loc = allocate_avoiding(&t, &regs).expect("fits");
        carried_in_place(&t, &mut loc, &carried);
        let at = |r: Ref| loc[r.0 as usize];
        assert_eq!(at(x), Loc::Gpr(15), "x read before slot 0's field.ptr");
        assert!(
            !regs.contains(&at(y)),
            "y is the object of slot 1's field.ptr"
        );
        assert!(
            !regs.contains(&at(z)),
            "slot 0 written (from w) before z's last read"
        );
        assert_eq!(
            at(w),
            Loc::Gpr(13),
            "w read by a field.ptr into the other slot"
        );
        assert!(!regs.contains(&at(u)), "u is read by the block's end");
        assert!(
            !regs.contains(&at(e)) && !regs.contains(&at(v)),
            "loads keep theirs"
        );
    }

    /// A home loop of `homes` (slot, register) arrays, for [`flat_version`].
    fn array_loop(homes: &[(u16, u8)]) -> HomeLoop {
        HomeLoop {
            head: 0,
            back: 100,
            homes: homes
                .iter()
                .map(|&(s, r)| (s, IrType::Ptr, Loc::Gpr(r)))
                .collect(),
            objects: Vec::new(),
            checked: Vec::new(),
            room: 0,
            stores: Vec::new(),
            written: 0,
        }
    }

    /// fannkuchredux's flip (`t := a[i]; a[i] = a[j]; a[j] = t`): its array has a flat
    /// version, both stores copy values out of it, and there is no pair to compare.
    #[test]
    fn an_exchange_of_elements_has_a_flat_version_of_its_array() {
        let none = Ref(u32::MAX);
        let mut b = TraceBuilder::new(0);
        let arr = b.emit_raw(IrOp::HGetP, none, none, 2, 0);
        let i = b.emit_raw(IrOp::HGetI, none, none, 3, 0);
        let j = b.emit_raw(IrOp::HGetI, none, none, 4, 0);
        b.emit_raw(IrOp::AGetSlot, arr, i, 10, 0);
        b.emit_raw(IrOp::AGetSlot, arr, j, 11, 0);
        b.emit_raw(IrOp::ASetSlot, arr, i, 11, 0);
        b.emit_raw(IrOp::ASetSlot, arr, j, 10, 0);
        let t = b.finish(Vec::new());
        let mut a = Asm::new(0);
        let v = flat_version(&mut a, &t, &array_loop(&[(2, 15)])).expect("a flat version");
        assert_eq!(v.arrays, vec![(arr, 15)]);
        assert!(v.same.is_empty());
        let sets: Vec<usize> = (0..t.ins.len())
            .filter(|&k| t.ins[k].op == IrOp::ASetSlot)
            .collect();
        assert!(sets.iter().all(|&k| copied_from(&t, k) == Some(arr)));
        assert!(v.same_kind(arr, arr));
    }

    /// A copy between two arrays (`dst[i] = src[i]`) tests both flat and of one kind;
    /// an array also read whole into a slot no store of the block reads (most often
    /// an object, from a general array) has no flat version, nor a block without one.
    #[test]
    fn a_copy_between_arrays_compares_their_kinds_and_other_reads_have_no_flat_version() {
        let none = Ref(u32::MAX);
        let mut b = TraceBuilder::new(0);
        let src = b.emit_raw(IrOp::HGetP, none, none, 2, 0);
        let dst = b.emit_raw(IrOp::HGetP, none, none, 5, 0);
        let i = b.emit_raw(IrOp::HGetI, none, none, 3, 0);
        b.emit_raw(IrOp::AGetSlot, src, i, 10, 0);
        b.emit_raw(IrOp::ASetSlot, dst, i, 10, 0);
        let t = b.finish(Vec::new());
        let h = array_loop(&[(2, 15), (5, 14)]);
        let mut a = Asm::new(0);
        let v = flat_version(&mut a, &t, &h).expect("a flat version");
        assert_eq!(v.arrays, vec![(src, 15), (dst, 14)]);
        assert_eq!(v.same, vec![(15, 14)]);
        assert!(v.same_kind(src, dst));

        let mut b = TraceBuilder::new(0);
        let arr = b.emit_raw(IrOp::HGetP, none, none, 2, 0);
        let i = b.emit_raw(IrOp::HGetI, none, none, 3, 0);
        b.emit_raw(IrOp::AGetSlot, arr, i, 10, 0);
        b.emit_raw(IrOp::ASetSlot, arr, i, 10, 0);
        b.emit_raw(IrOp::AGetSlot, arr, i, 12, 0);
        let t = b.finish(Vec::new());
        assert_eq!(flat_version(&mut a, &t, &array_loop(&[(2, 15)])), None);
    }

    /// `fill_records` completes each native call's record from its site's row, and
    /// writes the closure only of a record whose site left it (`SITE_LAZY_CLOSURE`):
    /// the FUNC value of the record's function (after a `tcallk`, the function it
    /// rewrote); an eager push's closure (a closure object) stays.
    #[test]
    fn fill_records_writes_the_closures_left_to_it() {
        let fsz = layout::FRAME_SIZE;
        let u32_at = |v: &[u8], o: usize| u32::from_le_bytes([v[o], v[o + 1], v[o + 2], v[o + 3]]);
        let u64_at = |v: &[u8], o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v[o..o + 8]);
            u64::from_le_bytes(b)
        };
        // The entered frame's record (base 10), then two native calls' records with
        // stale closures: function 5 (an eager push's), function 6 (a lazy one's).
        let mut frames = vec![0u8; 3 * fsz];
        frames[layout::FRAME_BASE..layout::FRAME_BASE + 4].copy_from_slice(&10u32.to_le_bytes());
        for (k, f) in [(1usize, 5u32), (2, 6)] {
            let r = k * fsz;
            frames[r + layout::FRAME_FUNC..r + layout::FRAME_FUNC + 4]
                .copy_from_slice(&f.to_le_bytes());
            let c = r + layout::FRAME_CLOSURE;
            frames[c..c + 8].copy_from_slice(&0xdead_0000u64.to_le_bytes());
            frames[c + 8..c + 16].copy_from_slice(&(Tag::OBJ as u64).to_le_bytes());
        }
        // The sites table: count, padding, then rows (return address relative to the
        // table, resume offset with the flag, first argument slot, result slot).
        let mut sites: Vec<u8> = Vec::new();
        sites.extend(2u32.to_le_bytes());
        sites.extend(0u32.to_le_bytes());
        for (rel, resume, a0, dst) in [
            (-100i32, 7u32, 3u16, 2u16),
            (-50, 9 | SITE_LAZY_CLOSURE, 4, 1),
        ] {
            sites.extend(rel.to_le_bytes());
            sites.extend(resume.to_le_bytes());
            sites.extend(a0.to_le_bytes());
            sites.extend(dst.to_le_bytes());
        }
        let at = sites.as_ptr() as usize;
        // The native stack: the innermost return address (site -50) at `sp`, the
        // outer one (site -100) above it, the entered code's own at `tramp - 8`.
        let stack = [0usize, at.wrapping_sub(50), at.wrapping_sub(100), 0];
        // SAFETY: `tramp` is one past `stack`'s end, `sp` its second word: the two
        // words between are return addresses of the table's sites; `top0` is one
        // record past the entered frame's, and two records follow it in `frames`.
        unsafe {
            fill_records(
                stack.as_ptr().add(4),
                stack.as_ptr().add(1),
                sites.as_ptr(),
                frames.as_mut_ptr().add(fsz),
            );
        }
        assert_eq!(
            u32_at(&frames, layout::FRAME_IP),
            7,
            "the entered frame resumes at site -100's"
        );
        assert_eq!(
            u32_at(&frames, fsz + layout::FRAME_IP),
            9,
            "no flag in the resume offset"
        );
        assert_eq!(u32_at(&frames, fsz + layout::FRAME_BASE), 13);
        assert_eq!(u32_at(&frames, 2 * fsz + layout::FRAME_BASE), 17);
        let (c1, c2) = (fsz + layout::FRAME_CLOSURE, 2 * fsz + layout::FRAME_CLOSURE);
        assert_eq!(
            (u64_at(&frames, c1), u64_at(&frames, c1 + 8)),
            (0xdead_0000, Tag::OBJ as u64),
            "an eager push's closure stays"
        );
        assert_eq!(
            (u64_at(&frames, c2), u64_at(&frames, c2 + 8)),
            (6, Tag::FUNC as u64),
            "the lazy closure is function 6's FUNC value"
        );
    }
}
