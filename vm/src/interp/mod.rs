//! The interpreter: one loop dispatching on the opcode byte (a `match`, which compiles
//! to a jump table), frames pushed on the VM's own stacks, never the Rust stack.
//!
//! The hot state — code pointer, instruction pointer, frame base — lives in locals. It is
//! reloaded from the top [`Frame`] after anything that pushes or pops frames, and `base`
//! is recomputed after anything that can grow the value stack. Every operand index was
//! checked by the verifier at load time, which is what makes the unchecked slot accesses
//! below sound.
//!
//! This file owns the dispatch loop (`run`, one instance for normal execution and one
//! for recording) with the handlers of the hot instructions inline in its `match`,
//! grouped by concern (moves and constants, branches, calls, data, then typed `i64`,
//! `u64` and `f64` arithmetic and the extension prefixes). Larger or colder handlers
//! are `Vm` methods in files of their own, as wasmi's `executor/instrs/` or Lua's
//! `lvm.c`/`ldo.c` split them: `call` (frame pushes, function application, tail calls,
//! forcing thunks, delivery to continuation frames, the host's entry), `lists` (the
//! native list instructions and their continuations), `data` (`anew`, structural
//! comparisons, value-shape tests), `strings` (`tostr`, `scat`, `print`) and `fault`
//! (fault messages). The extension instructions themselves are in `crate::ops`.

use crate::frames::PushFailed;
use crate::heap::{self, Elems, Kind, THUNK_DONE, THUNK_PENDING, THUNK_RUNNING};
use crate::jit::{Go, BACKEDGE_MIN_LEN};
use crate::value::{Tag, Value};
use crate::vm::{Code, Frame, FrameKind, Trap, Vm, SCRATCH_SLOTS};
use hashvm_format::builtin;

/// Copies a value as its two 8-byte halves rather than one 16-byte move: a value just
/// written field by field (`Value::obj` and most results are: the payload, then the
/// tag and aux) cannot be forwarded from those stores to a 16-byte load, which then
/// waits for them to reach the cache (a store-forwarding stall measured at 10% of
/// binary-trees' time at `ret`); 8-byte loads forward from either kind of store.
///
/// # Safety
/// `dst` and `src` must be valid, aligned value slots.
#[inline(always)]
unsafe fn copy_value(dst: *mut Value, src: *const Value) {
    // SAFETY: per the caller's contract; a value is two aligned u64s (`#[repr(C)]`).
    // The volatile reads keep the compiler from merging them back into one load.
    unsafe {
        let s = src as *const u64;
        let d = dst as *mut u64;
        let (a, b) = (s.read_volatile(), s.add(1).read_volatile());
        d.write(a);
        d.add(1).write(b);
    }
}

/// Copies the `n` values at `src` to `dst` (a new object's fields) value by value as
/// [`copy_value`] does, inline: `copy_nonoverlapping` of a window whose length is an
/// operand became a `memcpy` call per `con`, whose 16- and 32-byte loads of slots just
/// written by 8-byte stores stall on store forwarding (session 13's `gc` branch found
/// that `memmove` at 6% of binary-trees' profile). Windows are short (a constructor's
/// fields, a closure's captures): the loop costs about the instructions of the call
/// (cachegrind), without the call and the stall (binary-trees 16, 9 alternated runs:
/// 0.72 -> 0.70 s).
///
/// # Safety
/// `src` and `dst` are valid, aligned and non-overlapping runs of `n` value slots.
///
/// Two values (a cons cell, a pair, binary-trees' `Node`) are copied without the loop:
/// its entry tests and its unrolled body were about 20 instructions for them.
#[inline(always)]
unsafe fn copy_window(dst: *mut Value, src: *const Value, n: usize) {
    if n == 2 {
        // SAFETY: `n == 2`, per the caller's contract.
        unsafe {
            copy_value(dst, src);
            copy_value(dst.add(1), src.add(1));
        }
        return;
    }
    for i in 0..n {
        // SAFETY: `i < n`, per the caller's contract.
        unsafe { copy_value(dst.add(i), src.add(i)) };
    }
}

mod call;
mod data;
mod fault;
mod lists;
pub(crate) use lists::CycleCheck;
mod strings;

pub(crate) use data::is_str;
use data::{is_list, kind_code};
pub(crate) use fault::tyname;

use hashvm_format::opcode::{ext_num, ext_sys, jump_table, prim, Op, Prim, EXT_NUM, EXT_SYS};

/// The result of setting up a call.
pub(crate) enum Called {
    /// A frame was pushed: continue in it.
    Pushed,
    /// The result is already known (a partial application was built).
    Value(Value),
}

impl Vm {
    /// The dispatch loop. `RECORD` selects the recording instance, which calls the
    /// recorder before every instruction; the normal instance (`RECORD == false`)
    /// contains no trace of it, by monomorphisation. `COUNT` adds one to
    /// [`Vm::interpreted`] per instruction (`--jit-stats`: the counting instance runs
    /// only when asked for, so the normal one pays nothing). Returns `Ok(None)` to switch
    /// instance, with the innermost frame's ip at the exact instruction to resume at.
    #[allow(unused_assignments)]
    // `!(a < b)` is not `a >= b` when either is NaN: the f64 jumps rely on that.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub(super) fn run<const RECORD: bool, const COUNT: bool>(
        &mut self,
    ) -> Result<Option<Value>, Trap> {
        let funcs = self.funcs.as_ptr();
        // The loop slots: the table is not resized while code runs (only `load`
        // replaces it, and `load` refuses to run from inside the hook).
        let hot = self.hot_loops.as_mut_ptr();
        // The running function is not a local: the back-edges read its edge table
        // through `code` (`crate::vm::Code`), and the cold paths that need its index
        // read the innermost record. Loop-carried locals beyond the ones below were
        // kept in the loop's stack frame, a store at every call and return.
        let mut cur_base: usize;
        let mut base: *mut Value;
        let mut code: *const u8;
        let mut ip: *const u8;

        macro_rules! reload_plain {
            () => {{
                let fr = *self.frames.top();
                cur_base = fr.base as usize;
                base = (self.stack.as_mut_ptr().add(cur_base));
                code = ((*funcs.add(fr.func as usize)).code.code_ptr());
                ip = (code.add(fr.ip as usize));
            }};
        }
        // Acts on a function-entry request `push_frame` may have queued for the JIT
        // (cold: one test of an `Option` otherwise).
        macro_rules! jit_request {
            () => {{
                if self.jit_request.is_some() {
                    // The hook may have run code (`Vm::call`) that grew the stack:
                    // reload in every case.
                    match self.take_jit_request() {
                        Ok(Go::On | Go::Reload) => reload_plain!(),
                        Ok(Go::Switch) => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
            }};
        }
        // Reloads the locals from the innermost frame, then acts on a JIT request.
        macro_rules! reload {
            () => {{
                reload_plain!();
                jit_request!();
            }};
        }
        // SAFETY: there is a NORMAL frame on top (the caller pushed one) whose function
        // index and base are valid.
        unsafe { reload!() };
        // Continues in the frame `push_frame` has just pushed for function `f` at
        // absolute stack index `b`: the locals are set from what the call already
        // knows (its ip is 0) instead of reading the new record back as `reload!` does
        // (cachegrind: 3.9% fewer instructions on binary-trees, 6.8% on fib). Nothing
        // here tests for a JIT request: `callenter!` does when the push says its
        // counter fired, and no other push that continues here can queue one.
        macro_rules! enter_pushed {
            ($f:expr, $b:expr) => {{
                let f: u32 = $f;
                cur_base = $b;
                base = self.stack.as_mut_ptr().add(cur_base);
                code = (*funcs.add(f as usize)).code.code_ptr();
                ip = code;
            }};
        }

        macro_rules! u16at {
            ($o:expr) => {
                u16::from_le_bytes(*(ip.add($o) as *const [u8; 2])) as usize
            };
        }
        macro_rules! u32at {
            ($o:expr) => {
                u32::from_le_bytes(*(ip.add($o) as *const [u8; 4]))
            };
        }
        macro_rules! i32at {
            ($o:expr) => {
                i32::from_le_bytes(*(ip.add($o) as *const [u8; 4]))
            };
        }
        macro_rules! i64at {
            ($o:expr) => {
                i64::from_le_bytes(*(ip.add($o) as *const [u8; 8]))
            };
        }
        // Operand `i` of the running instruction, whose opcode is the `Op` constant `op`:
        // the offset comes from the opcode table at compile time, and reading an operand
        // with the wrong width is a compile error (`Op::operand_at`). No handler writes
        // an offset or a length by hand.
        macro_rules! a16 {
            ($op:expr, $i:expr) => {
                u16at!((const { $op.operand_at($i, 2) }))
            };
        }
        macro_rules! a32 {
            ($op:expr, $i:expr) => {
                u32at!((const { $op.operand_at($i, 4) }))
            };
        }
        macro_rules! ai32 {
            ($op:expr, $i:expr) => {
                i32at!((const { $op.operand_at($i, 4) }))
            };
        }
        macro_rules! ai64 {
            ($op:expr, $i:expr) => {
                i64at!((const { $op.operand_at($i, 8) }))
            };
        }
        // One handler for several opcodes decodes them alike: checked at compile time.
        macro_rules! same_layout {
            ($op:expr, $($other:expr),+) => {
                const { $(assert!($op.same_layout($other));)+ }
            };
        }
        // SAFETY (for every use): the verifier checked that each slot operand is below
        // the frame size, and the frame's slots exist in the stack from `base`.
        macro_rules! slot {
            ($i:expr) => {
                (*base.add($i))
            };
        }
        macro_rules! set {
            ($i:expr, $v:expr) => {{
                let v = $v;
                (*base.add($i) = v)
            }};
        }
        // Records the running instruction for a stack trace: the frame's ip is set one
        // byte into it (traces look up `ip - 1`, which for a return address is inside
        // the call instruction, and here inside the faulting one).
        macro_rules! save_ip {
            () => {{
                let off = (ip.offset_from(code)) as u32 + 1;
                self.frames.set_top_ip(off);
            }};
        }
        // Records the exact point where execution resumes when a callee returns.
        macro_rules! save_resume {
            () => {{
                let off = (ip.offset_from(code)) as u32;
                self.frames.set_top_ip(off);
            }};
        }
        macro_rules! fault {
            ($($msg:tt)*) => {{
                save_ip!();
                return Err(self.error_plain(format!($($msg)*)));
            }};
        }
        macro_rules! tri {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return Err(e),
                }
            };
        }
        // Runs a fallible VM operation with the ip saved (for traces) and the frame
        // base refreshed afterwards (the stack may have grown).
        macro_rules! vmop {
            ($e:expr) => {{
                save_ip!();
                let r = $e;
                base = (self.stack.as_mut_ptr().add(cur_base));
                tri!(r)
            }};
        }
        // A call: the caller's saved ip is the resume point, just after the call
        // instruction (a trace looks up the byte before it: the call itself).
        macro_rules! callop {
            ($op:expr, $e:expr) => {{
                next!($op);
                save_resume!();
                let r = $e;
                base = (self.stack.as_mut_ptr().add(cur_base));
                tri!(r)
            }};
        }
        // A call that enters the frame `$e` pushes (`push_frame_entering`) for
        // function `$f` at absolute index `$b`: `callop!`'s
        // resume point, then `enter_pushed!`; a JIT request is looked for only when
        // the push reports that the callee's entry counter fired (`PushStop::Fired`).
        macro_rules! callenter {
            ($op:expr, $e:expr, $f:expr, $b:expr) => {{
                next!($op);
                save_resume!();
                match $e {
                    Ok(()) => enter_pushed!($f, $b),
                    Err(call::PushStop::Fired) => {
                        enter_pushed!($f, $b);
                        jit_request!();
                    }
                    Err(call::PushStop::Trap(e)) => return Err(e),
                }
            }};
        }
        macro_rules! jump {
            ($off:expr) => {
                ip = (ip.offset($off as isize))
            };
        }
        // Steps over the running instruction `op` (an `Op` constant; its length comes
        // from the opcode table).
        macro_rules! next {
            ($op:expr) => {
                ip = ip.add(const { $op.encoded_len() })
            };
        }
        // Operands are read field by field from their slots (never copied whole to a
        // temporary), and results written as two 8-byte stores.
        macro_rules! tag_of {
            ($i:expr) => {
                (*base.add($i)).tag
            };
        }
        macro_rules! bits_of {
            ($i:expr) => {
                (*base.add($i)).bits
            };
        }
        // The constructor index of the value in slot `i` (`None`: not a constructor value,
        // a fault), read in place:
        // the tag and the payload with two loads of their own, never the 16-byte value
        // as a whole (a slot written by two 8-byte stores, as `put!` and the JIT's
        // exits do, read with one 16-byte load stalls on store forwarding; passing the
        // value by copy made LLVM move it through the stack).
        macro_rules! ctor_index_at {
            ($i:expr) => {{
                let i = $i;
                let tag = tag_of!(i);
                let bits = bits_of!(i);
                if tag == Tag::CTOR0 {
                    Some(bits as usize)
                } else if tag == Tag::OBJ && (*(bits as *const heap::Header)).kind == Kind::DATA {
                    Some((*(bits as *const heap::Header)).tag as usize)
                } else {
                    None
                }
            }};
        }
        // `jntag`'s test, shared by `jntag` and `jntag.reti` (same operands): whether the
        // constructor of operand 0 differs from operand 1 (the jump is taken); faults on
        // a value that is not constructed.
        macro_rules! ctor_differs {
            ($op:expr) => {{
                let i = a16!($op, 0);
                match ctor_index_at!(i) {
                    Some(t) => t != a16!($op, 1),
                    None => fault!("constructor test on a {}", self.type_name(slot!(i))),
                }
            }};
        }
        // Writes the value `$v` into slot `i` as two 8-byte stores, the payload and then
        // the tag and aux put together in a register, where `set!` let the compiler
        // store the tag and the aux as two 4-byte words when they come from registers
        // (`con`'s two paths share their store): the 8-byte read of the tag word that
        // follows soon (`ret`'s `copy_value`, `copy_window` into the next node) spans
        // both stores and cannot be forwarded from them, a store-forwarding stall per
        // constructed value (`perf annotate` on binary-trees: 5% of its samples on the
        // store after that read in `ret`).
        macro_rules! put_value {
            ($i:expr, $v:expr) => {{
                put_value_at!(base.add($i), $v)
            }};
        }
        // `put_value!` into the slot at `$dst` (a pointer: the caller's result slot
        // for `con.ret`).
        macro_rules! put_value_at {
            ($dst:expr, $v:expr) => {{
                let v: Value = $v;
                let mut w = [0u8; 8];
                w[..4].copy_from_slice(&v.tag.to_ne_bytes());
                w[4..].copy_from_slice(&v.aux.to_ne_bytes());
                let p = $dst as *mut u64;
                *p = v.bits;
                *p.add(1) = u64::from_ne_bytes(w);
            }};
        }
        macro_rules! put {
            ($i:expr, $bits:expr, $tag:expr) => {{
                let bits = $bits;
                let p = base.add($i) as *mut u64;
                *p = bits;
                // tag in the low half of the second word, aux (0) in the high half.
                *p.add(1) = $tag as u64;
            }};
        }
        // A loop back-edge (`loop`, `tcallself`), before it has any effect: its loop
        // slot comes from the function's edge table (one division by a constant, two
        // loads) and its counter is decremented; at zero (at every pass when a trace is
        // installed), the cold path enters the trace or asks the JIT hook, and polls
        // interrupts. While recording, only the polling happens: the recorder sees the
        // back-edge.
        macro_rules! count_back_edge {
            () => {{
                let off = ip.offset_from(code) as usize;
                // SAFETY: `code` is the running function's `Code::code_ptr`; the loader
                // gave every back-edge of the function an entry in its edge table, and
                // sized the loop-slot table to the edges it numbered.
                let idx = Code::edge_at(code, off / BACKEDGE_MIN_LEN);
                let c = &mut *hot.add(idx as usize);
                // An anchor with a trace keeps its counter at 1: one test covers both.
                c.count -= 1;
                if c.count == 0 {
                    save_ip!();
                    let func = self.frames.top().func;
                    match tri!(self.fire_hot_loop(func, off as u32, idx)) {
                        // The hook may have grown the stack (`Vm::call`).
                        Go::On => base = self.stack.as_mut_ptr().add(cur_base),
                        Go::Reload => {
                            reload!();
                            continue;
                        }
                        Go::Switch => return Ok(None),
                    }
                }
            }};
        }
        // A new object of `n` values copied from the slots `a0..a0+n`, into slot `d`.
        // The bump is inline and the ip is saved (for an "out of memory" trace) and the
        // frame base refreshed only when it fails and `alloc_slow` collects: nothing
        // reads the ip or moves the stack on the fast path (binary-trees' `con`: a
        // store and five instructions per node fewer).
        macro_rules! alloc_window {
            ($d:expr, $kind:expr, $tag:expr, $meta:expr, $a0:expr, $n:expr) => {{
                put_value!($d, new_window!($kind, $tag, $meta, $a0, $n));
            }};
        }
        // `alloc_window!`'s new object, as a value, for the caller to store.
        macro_rules! new_window {
            ($kind:expr, $tag:expr, $meta:expr, $a0:expr, $n:expr) => {{
                let (a0, n) = ($a0, $n);
                let size = heap::Heap::object_size(n * 16);
                let p = match self.heap.try_alloc(size, $kind, $tag, $meta, n as u64) {
                    Some(p) => p,
                    None => vmop!(self.alloc_slow(size, $kind, $tag, $meta, n as u64)),
                };
                copy_window(heap::fields(p), base.add(a0), n);
                Value::obj(p)
            }};
        }
        // The address of field `i` of the data value (a constructor value, tuple or cons
        // cell) with tag `tag` and payload `bits`, faulting on a value that is not one
        // or has no field `i` (`v`, the value itself, is read only for the message,
        // formatted out of the loop by `field_fault`).
        macro_rules! field_of {
            ($tag:expr, $bits:expr, $i:expr, $v:expr) => {{
                let (tag, h, i) = ($tag, $bits as *mut heap::Header, $i);
                if !(tag == Tag::OBJ && (*h).kind == Kind::DATA && i < (*h).len as usize) {
                    save_ip!();
                    return Err(self.field_fault($v, i));
                }
                heap::fields(h).add(i)
            }};
        }
        // The address of field `i` of the value in slot `iv`.
        macro_rules! checked_field {
            ($iv:expr, $i:expr) => {{
                let iv = $iv;
                field_of!(tag_of!(iv), bits_of!(iv), $i, slot!(iv))
            }};
        }
        // The array and element index of `aget`/`aset`, faulting on a non-array, a
        // non-i64 index or an index out of range.
        macro_rules! checked_index {
            ($ia:expr, $ii:expr) => {{
                let (ia, ii) = ($ia, $ii);
                let arr = bits_of!(ia) as *mut heap::Header;
                if !(tag_of!(ia) == Tag::OBJ && (*arr).kind == Kind::ARRAY)
                    || tag_of!(ii) != Tag::I64
                {
                    fault!(
                        "array indexing needs an array and an i64, got {} and {}",
                        self.type_name(slot!(ia)),
                        self.type_name(slot!(ii))
                    );
                }
                let i = bits_of!(ii);
                let len = (*arr).len;
                if i >= len {
                    fault!(
                        "index out of range: the index is {} but the length is {len}",
                        i as i64
                    );
                }
                (arr, i)
            }};
        }
        // The payload of the slot at index `$ia`, which must hold a `$tag` value
        // (`typed2!` for one operand).
        macro_rules! typed1 {
            ($tag:expr, $name:literal, $ia:expr) => {{
                let ia = $ia;
                if tag_of!(ia) != $tag {
                    save_ip!();
                    return Err(self.operand_fault($name, $tag, slot!(ia), None));
                }
                bits_of!(ia)
            }};
        }
        macro_rules! typed2 {
            ($tag:expr, $name:literal, $ia:expr, $ib:expr) => {{
                let (ia, ib) = ($ia, $ib);
                if tag_of!(ia) != $tag || tag_of!(ib) != $tag {
                    save_ip!();
                    return Err(self.operand_fault($name, $tag, slot!(ia), Some(slot!(ib))));
                }
                (bits_of!(ia), bits_of!(ib))
            }};
        }
        // `d := a op b` on two operands of one immediate type.
        macro_rules! arith {
            ($op:expr, $tag:expr, $name:literal, |$a:ident, $b:ident| $e:expr) => {{
                let ($a, $b) = typed2!($tag, $name, a16!($op, 1), a16!($op, 2));
                put!(a16!($op, 0), $e, $tag);
                next!($op);
            }};
        }
        macro_rules! cmpop {
            ($op:expr, $tag:expr, $name:literal, |$a:ident, $b:ident| $e:expr) => {{
                let ($a, $b) = typed2!($tag, $name, a16!($op, 1), a16!($op, 2));
                put!(a16!($op, 0), ($e) as u64, Tag::BOOL);
                next!($op);
            }};
        }
        macro_rules! unop {
            ($op:expr, $tag:expr, $name:literal, |$a:ident| $e:expr) => {{
                let $a = typed1!($tag, $name, a16!($op, 1));
                put!(a16!($op, 0), $e, $tag);
                next!($op);
            }};
        }
        macro_rules! jcmp {
            ($op:expr, $tag:expr, $name:literal, |$a:ident, $b:ident| $e:expr) => {{
                let ($a, $b) = typed2!($tag, $name, a16!($op, 0), a16!($op, 1));
                if $e {
                    jump!(ai32!($op, 2));
                } else {
                    next!($op);
                }
            }};
        }
        // The f64 form of `arith!`, `cmpop!` or `jcmp!` (`$m`): the operands are bound
        // as f64 values.
        macro_rules! f64op {
            ($m:ident, $op:expr, $name:literal, |$a:ident, $b:ident| $e:expr) => {
                $m!($op, Tag::F64, $name, |x, y| {
                    let ($a, $b) = (f64::from_bits(x), f64::from_bits(y));
                    $e
                })
            };
        }
        macro_rules! jcmpi {
            ($op:expr, |$a:ident, $b:ident| $e:expr) => {{
                let $a = typed1!(Tag::I64, "integer comparison", a16!($op, 0)) as i64;
                let $b = ai32!($op, 1) as i64;
                if $e {
                    jump!(ai32!($op, 2));
                } else {
                    next!($op);
                }
            }};
        }
        // Pops the returning frame and, when the caller is a NORMAL frame, runs
        // `$write` with `$dst` bound to the caller's result slot, then continues in the
        // caller; any other frame below gets `$val` through `deliver`.
        macro_rules! ret_with {
            (|$dst:ident| $write:expr, $val:expr) => {{
                // There is always a frame below a NORMAL frame (at least the host's).
                let ret = self.frames.pop_ret();
                let top = self.frames.top();
                if top.kind == FrameKind::NORMAL {
                    cur_base = top.base as usize;
                    base = self.stack.as_mut_ptr().add(cur_base);
                    let $dst = base.add(ret as usize);
                    $write;
                    code = (*funcs.add(top.func as usize)).code.code_ptr();
                    ip = code.add(top.ip as usize);
                } else {
                    match tri!(self.deliver(ret, $val)) {
                        Some(v) => return Ok(Some(v)),
                        None => reload!(),
                    }
                }
            }};
        }
        // Operand 1 of `addi.i64`, `subi.i64`, `muli.i64` or `subi.i64.callk` (`$op`)
        // as an i64, faulting on anything else.
        macro_rules! imm_arith_operand {
            ($op:expr) => {
                typed1!(Tag::I64, "integer arithmetic", a16!($op, 1)) as i64
            };
        }
        // `callk` at `ip`: its frame pushed and entered. Also the second half of
        // `field.callk` and `subi.i64.callk`, which step `ip` onto their `callk` first.
        //
        // `callk!(leading)` (`field.callk`'s): a callee whose code begins with
        // `jntag.reti r, t, L` on a parameter (a match whose first case returns a
        // constant: binary-trees' `item_check` of `Empty`, a list's length of `Nil`)
        // has that test run here, on the argument in the window
        // (`callk_leading_test!`). Only after a `field`: an argument read from a
        // constructed value is what such a test takes, and the byte compare that
        // looks for it cost every other call about six instructions with the
        // registers it took (fib +5%, which has no `field.callk`).
        macro_rules! callk {
            () => {{
                let d = a16!(Op::CallK, 0) as u16;
                let f = a32!(Op::CallK, 1);
                let a0 = a16!(Op::CallK, 2);
                let n = a16!(Op::CallK, 3);
                let b = cur_base + a0;
                callenter!(Op::CallK, self.push_known_frame(f, b, n, d), f, b);
            }};
            (leading) => {{
                let d = a16!(Op::CallK, 0) as u16;
                let f = a32!(Op::CallK, 1);
                let a0 = a16!(Op::CallK, 2);
                let n = a16!(Op::CallK, 3);
                let b = cur_base + a0;
                // SAFETY: the verifier checked the function index.
                let callee_code = (*funcs.add(f as usize)).code.code_ptr();
                if *callee_code == prim::JNTAG_RETI {
                    callk_leading_test!(d, f, a0, n, b, callee_code);
                } else {
                    callenter!(Op::CallK, self.push_known_frame(f, b, n, d), f, b);
                }
            }};
        }
        // `callk!` of a callee whose first instruction is `jntag.reti r, t, L`. When
        // the test would return (`r` a parameter holding a constructor value of index
        // `t`), the `reti`'s constant goes to slot `d` and no frame is pushed (a call,
        // a dispatch and a return saved), but only when the push would have fitted: a
        // call at the frame limit, or one the value stack must grow for, is pushed as
        // usual and overflows or grows as before. When it would jump, the callee is
        // entered at the jump's target, its test not run twice. A value that is no
        // constructor (the test's fault) is left to the callee. Never while recording
        // (`field.callk` runs only its `field` then: the recorder sees the `callk`
        // and the callee's instructions one by one). An answered call does not count
        // the callee's entry: no frame, no function entry.
        macro_rules! callk_leading_test {
            ($d:expr, $f:expr, $a0:expr, $n:expr, $b:expr, $code:expr) => {{
                let (d, f, a0, n, b, callee_code) = ($d, $f, $a0, $n, $b, $code);
                const R: usize = Op::JNTagRetI.operand_at(0, 2);
                const T: usize = Op::JNTagRetI.operand_at(1, 2);
                const L: usize = Op::JNTagRetI.operand_at(2, 4);
                const K: usize = Op::JNTagRetI.encoded_len() + Op::RetI.operand_at(0, 4);
                let at16 = |o: usize| u16::from_le_bytes(*(callee_code.add(o) as *const [u8; 2]));
                let at32 = |o: usize| i32::from_le_bytes(*(callee_code.add(o) as *const [u8; 4]));
                let r = at16(R) as usize;
                let mut entry = callee_code;
                if r < n {
                    if let Some(c) = ctor_index_at!(a0 + r) {
                        if c != at16(T) as usize {
                            entry = callee_code.offset(at32(L) as isize);
                        } else if b + (*funcs.add(f as usize)).nslots as usize <= self.stack.len()
                            && self.frames.has_room()
                        {
                            put!(d as usize, at32(K) as i64 as u64, Tag::I64);
                            next!(Op::CallK);
                            continue;
                        }
                    }
                }
                next!(Op::CallK);
                save_resume!();
                match self.push_known_frame(f, b, n, d) {
                    Ok(()) => {
                        enter_pushed!(f, b);
                        ip = entry;
                    }
                    Err(call::PushStop::Fired) => {
                        enter_pushed!(f, b);
                        jit_request!();
                    }
                    Err(call::PushStop::Trap(e)) => return Err(e),
                }
            }};
        }
        // Returns the value at `*$src` (a slot of the returning frame, which stays in
        // place while the frame is popped) to the caller's result slot.
        macro_rules! ret_value {
            ($src:expr) => {{
                let src: *const Value = $src;
                ret_with!(|dst| copy_value(dst, src), *src)
            }};
        }
        // Returns the immediate value of payload `$bits` and tag `$tag` (aux 0): written
        // into the caller's slot as two 8-byte stores from registers, as `put!` writes,
        // rather than built in the loop's stack frame and copied from there (two stores
        // and two loads more per `reti`).
        macro_rules! ret_imm {
            ($bits:expr, $tag:expr) => {{
                let (bits, tag): (u64, u32) = ($bits, $tag);
                ret_with!(
                    |dst| {
                        let p = dst as *mut u64;
                        *p = bits;
                        *p.add(1) = tag as u64;
                    },
                    Value { bits, tag, aux: 0 }
                )
            }};
        }

        // SAFETY: the whole dispatch loop works on raw pointers whose validity rests on
        // three invariants: (1) the verifier checked every operand of the loaded code
        // (slots below the frame size, indices in range, jumps on instruction starts,
        // no fall-through off a function's end), so `ip` stays inside `code` and
        // `base.add(slot)` inside the frame; (2) `push_frame` makes the value stack hold
        // every slot of a frame before it runs, and `base` is recomputed after anything
        // that can grow the stack; (3) OBJ values always point at live heap objects
        // (the collector updates every root), and no heap pointer is held in a local
        // across an allocation: operands are re-read from slots afterwards. And (4) the
        // running function's frame is live while the loop runs (a return that pops
        // the last NORMAL frame above the host's leaves the loop), which is what makes
        // `Frames::top` and `Frames::set_top_ip` sound here.
        unsafe {
            loop {
                if COUNT {
                    self.interpreted += 1;
                }
                // Not inside the callee of a real call the trace makes
                // (`Recording::Skip`): the recorder would only say go on.
                if RECORD && self.frames.len() <= self.record_skip {
                    let off = ip.offset_from(code) as u32;
                    if self.record_step(self.frames.top().func, off, cur_base) {
                        self.frames.set_ip(off);
                        return Ok(None);
                    }
                }
                let op = *ip;
                if COUNT {
                    if let Some(h) = self.op_counts.as_mut() {
                        let i = match op {
                            0xFE => 256 + *ip.add(1) as usize,
                            0xFF => 512 + *ip.add(1) as usize,
                            _ => op as usize,
                        };
                        h[i] += 1;
                    }
                }
                // SAFETY: `ip` is at an instruction start of verified code (invariant
                // (1); `Vm::load` takes only a `Verified` module), and the verifier
                // accepts there only the bytes `Prim` names (`Op::decode`: a primary
                // opcode or an extension prefix; test `prim_names_exactly_the_bytes_
                // that_start_an_instruction`), so `op` is a discriminant of the
                // `#[repr(u8)]` enum `Prim`. Matching on it needs no default arm (rustc
                // checks that every instruction has a handler), which left the dispatch
                // block four instructions: the byte load and the jump-table jump (a
                // default arm cost a flag test and, with `op` formatted in place, a
                // store of `op` per dispatch).
                match std::mem::transmute::<u8, Prim>(op) {
                    Prim::Nop => next!(Op::Nop),
                    Prim::Mov => {
                        set!(a16!(Op::Mov, 0), slot!(a16!(Op::Mov, 1)));
                        next!(Op::Mov);
                    }
                    Prim::LoadI => {
                        set!(a16!(Op::LoadI, 0), Value::i64(ai32!(Op::LoadI, 1) as i64));
                        next!(Op::LoadI);
                    }
                    Prim::LoadI64 => {
                        set!(a16!(Op::LoadI64, 0), Value::i64(ai64!(Op::LoadI64, 1)));
                        next!(Op::LoadI64);
                    }
                    Prim::LoadU64 => {
                        set!(
                            a16!(Op::LoadU64, 0),
                            Value::u64(ai64!(Op::LoadU64, 1) as u64)
                        );
                        next!(Op::LoadU64);
                    }
                    Prim::LoadF => {
                        set!(
                            a16!(Op::LoadF, 0),
                            Value {
                                bits: ai64!(Op::LoadF, 1) as u64,
                                tag: Tag::F64,
                                aux: 0
                            }
                        );
                        next!(Op::LoadF);
                    }
                    Prim::LoadUnit => {
                        set!(a16!(Op::LoadUnit, 0), Value::UNIT);
                        next!(Op::LoadUnit);
                    }
                    Prim::LoadTrue => {
                        set!(a16!(Op::LoadTrue, 0), Value::bool(true));
                        next!(Op::LoadTrue);
                    }
                    Prim::LoadFalse => {
                        set!(a16!(Op::LoadFalse, 0), Value::bool(false));
                        next!(Op::LoadFalse);
                    }
                    Prim::LoadChar => {
                        set!(
                            a16!(Op::LoadChar, 0),
                            Value {
                                bits: ai32!(Op::LoadChar, 1) as u32 as u64,
                                tag: Tag::CHAR,
                                aux: 0
                            }
                        );
                        next!(Op::LoadChar);
                    }
                    Prim::LoadG => {
                        // SAFETY: the verifier checked the global index.
                        let g = *self.globals.get_unchecked(a32!(Op::LoadG, 1) as usize);
                        set!(a16!(Op::LoadG, 0), g);
                        next!(Op::LoadG);
                    }
                    Prim::LoadGRet => {
                        // `loadg` and the `ret d` the verifier checked follows it, in one
                        // dispatch (binary-trees' shared leaf); the global goes straight
                        // to the caller's slot, d being dead once the frame is popped.
                        // While recording, `loadg` alone (the recorder sees the `ret` as
                        // its own step, as for `con.ret`).
                        // SAFETY: the verifier checked the global index; nothing the
                        // return runs before its copy (the frame pop) touches globals.
                        let g: *const Value =
                            self.globals.as_ptr().add(a32!(Op::LoadGRet, 1) as usize);
                        if RECORD {
                            set!(a16!(Op::LoadGRet, 0), *g);
                            next!(Op::LoadGRet);
                        } else {
                            ret_with!(|dst| copy_value(dst, g), *g);
                        }
                    }
                    Prim::StoreG => {
                        let v = slot!(a16!(Op::StoreG, 1));
                        // SAFETY: the verifier checked the global index.
                        *self.globals.get_unchecked_mut(a32!(Op::StoreG, 0) as usize) = v;
                        next!(Op::StoreG);
                    }
                    Prim::LoadFn => {
                        set!(a16!(Op::LoadFn, 0), Value::func(a32!(Op::LoadFn, 1)));
                        next!(Op::LoadFn);
                    }
                    Prim::LoadNil => {
                        set!(a16!(Op::LoadNil, 0), Value::NIL);
                        next!(Op::LoadNil);
                    }
                    Prim::Jmp => jump!(ai32!(Op::Jmp, 0)),
                    Prim::Jt | Prim::Jf => {
                        same_layout!(Op::Jt, Op::Jf);
                        let iv = a16!(Op::Jt, 0);
                        if tag_of!(iv) != Tag::BOOL {
                            fault!("condition is not a bool but {}", self.type_name(slot!(iv)));
                        }
                        if (bits_of!(iv) != 0) == (op == prim::JT) {
                            jump!(ai32!(Op::Jt, 1));
                        } else {
                            next!(Op::Jt);
                        }
                    }
                    Prim::Loop => {
                        count_back_edge!();
                        jump!(ai32!(Op::Loop, 0));
                    }
                    Prim::Switch => {
                        let i = a16!(Op::Switch, 0);
                        let t = match ctor_index_at!(i) {
                            Some(t) => t,
                            None => fault!(
                                "switch on a value that is not a constructor: {}",
                                self.type_name(slot!(i))
                            ),
                        };
                        let tbl: usize = const { Op::Switch.operand_offset(1) };
                        let n = u16at!(tbl + jump_table::COUNT);
                        if t < n {
                            jump!(i32at!(tbl + jump_table::case(t)));
                        } else {
                            jump!(i32at!(tbl + jump_table::DEFAULT));
                        }
                    }
                    Prim::SwitchI => {
                        let v = slot!(a16!(Op::SwitchI, 0));
                        if v.tag != Tag::I64 {
                            fault!("integer switch on a {}", self.type_name(v));
                        }
                        let lo = ai32!(Op::SwitchI, 1) as i64;
                        let tbl: usize = const { Op::SwitchI.operand_offset(2) };
                        let n = u16at!(tbl + jump_table::COUNT) as i64;
                        let i = (v.bits as i64).wrapping_sub(lo);
                        if i >= 0 && i < n {
                            jump!(i32at!(tbl + jump_table::case(i as usize)));
                        } else {
                            jump!(i32at!(tbl + jump_table::DEFAULT));
                        }
                    }
                    Prim::JNTag => {
                        if ctor_differs!(Op::JNTag) {
                            jump!(ai32!(Op::JNTag, 2));
                        } else {
                            next!(Op::JNTag);
                        }
                    }
                    Prim::JNTagRetI => {
                        // `jntag`, and on its fall-through the `reti` the verifier
                        // checked follows it, in one dispatch (a match's constant case
                        // first: binary-trees' `item_check` of `Empty`, pmap's heights).
                        // While recording, `jntag` alone (the recorder sees the `reti`
                        // as its own step, as for `con.ret`).
                        if ctor_differs!(Op::JNTagRetI) {
                            jump!(ai32!(Op::JNTagRetI, 2));
                        } else if RECORD {
                            next!(Op::JNTagRetI);
                        } else {
                            // The `reti`'s constant, read from the code after the test.
                            const K: usize =
                                Op::JNTagRetI.encoded_len() + Op::RetI.operand_offset(0);
                            let k = i32at!(K);
                            ret_imm!(k as i64 as u64, Tag::I64);
                        }
                    }
                    Prim::JNil | Prim::JCons => {
                        same_layout!(Op::JNil, Op::JCons);
                        let v = slot!(a16!(Op::JNil, 0));
                        let is_nil = if v.tag == Tag::CTOR0 && v.aux == builtin::LIST {
                            true
                        } else if v.tag == Tag::OBJ
                            && ((*v.ptr()).kind == Kind::DATA && (*v.ptr()).meta == builtin::LIST)
                        {
                            false
                        } else {
                            fault!("list test on a {}", self.type_name(v))
                        };
                        if is_nil == (op == prim::JNIL) {
                            jump!(ai32!(Op::JNil, 1));
                        } else {
                            next!(Op::JNil);
                        }
                    }
                    Prim::Ret => ret_value!(base.add(a16!(Op::Ret, 0))),
                    Prim::RetU => ret_imm!(Value::UNIT.bits, Value::UNIT.tag),
                    Prim::RetI => ret_imm!(ai32!(Op::RetI, 0) as i64 as u64, Tag::I64),
                    Prim::Panic => {
                        let v = slot!(a16!(Op::Panic, 0));
                        let msg = self.display(v);
                        fault!("panic: {msg}");
                    }
                    Prim::MatchFail => fault!("no pattern matched the value"),
                    Prim::JEq | Prim::JNe => {
                        same_layout!(Op::JEq, Op::JNe);
                        let a = slot!(a16!(Op::JEq, 0));
                        let b = slot!(a16!(Op::JEq, 1));
                        save_ip!();
                        let eq = tri!(self.equal(a, b));
                        if eq == (op == prim::JEQ) {
                            jump!(ai32!(Op::JEq, 2));
                        } else {
                            next!(Op::JEq);
                        }
                    }

                    // ---------------------------------------------------- calls
                    Prim::CallK => callk!(),
                    Prim::FieldCallK => {
                        // `field`, then the `callk` the verifier checked follows it, in
                        // one dispatch (binary-trees' `item_check(left)`: the argument
                        // read from the node). `field`'s fault is at its own offset, and
                        // the call's resume point and stack-trace line are the `callk`'s,
                        // as when the two run apart. While recording, `field` alone (the
                        // recorder sees the `callk` as its own step, as for `con.ret`).
                        same_layout!(Op::Field, Op::FieldCallK);
                        let f = checked_field!(a16!(Op::Field, 1), a16!(Op::Field, 2));
                        set!(a16!(Op::Field, 0), *f);
                        next!(Op::FieldCallK);
                        if !RECORD {
                            callk!(leading);
                        }
                    }
                    Prim::SubIImmCallK => {
                        // `subi.i64`, then the `callk` the verifier checked follows it,
                        // in one dispatch (binary-trees' `bottom_up_tree(depth - 1)`);
                        // as `field.callk` otherwise.
                        same_layout!(Op::SubIImm, Op::SubIImmCallK);
                        let a = imm_arith_operand!(Op::SubIImm);
                        let r = a.wrapping_sub(ai32!(Op::SubIImm, 2) as i64);
                        put!(a16!(Op::SubIImm, 0), r as u64, Tag::I64);
                        next!(Op::SubIImmCallK);
                        if !RECORD {
                            callk!();
                        }
                    }
                    Prim::FfiCall => {
                        let d = a16!(Op::FfiCall, 0);
                        let (f, a0) = (a32!(Op::FfiCall, 1), a16!(Op::FfiCall, 2));
                        save_ip!();
                        let r = self.ffi_call(cur_base + d, f, cur_base + a0, a16!(Op::FfiCall, 3));
                        base = self.stack.as_mut_ptr().add(cur_base);
                        tri!(r);
                        next!(Op::FfiCall);
                    }
                    Prim::CallSelf => {
                        let d = a16!(Op::CallSelf, 0) as u16;
                        let a0 = a16!(Op::CallSelf, 1);
                        let n = a16!(Op::CallSelf, 2);
                        let fr = *self.frames.top();
                        let b = cur_base + a0;
                        callenter!(
                            Op::CallSelf,
                            self.push_frame_entering(fr.func, b, n, d, fr.closure),
                            fr.func,
                            b
                        );
                    }
                    Prim::Call => {
                        let d = a16!(Op::Call, 0) as u16;
                        let fi = a16!(Op::Call, 1);
                        let a0 = a16!(Op::Call, 2);
                        let n = a16!(Op::Call, 3);
                        // A closure or function value called with exactly its arity (every
                        // call of `array.init`'s or `list.map`'s function argument) is
                        // entered as `callk` enters its callee; `apply`, out of line, cost
                        // 114 instructions per call on awfy_storage. Anything else (a
                        // partial or over-application, a PAP, a value that is no
                        // function) goes through `apply` as before. The function index is
                        // checked as `apply` checks it: a FUNC value made outside the
                        // machine may name no function.
                        let func =
                            call::callee_function(tag_of!(fi), bits_of!(fi)).unwrap_or(u32::MAX);
                        if (func as usize) < self.funcs.len()
                            && (*funcs.add(func as usize)).arity as usize == n
                        {
                            let b = cur_base + a0;
                            let f = slot!(fi);
                            callenter!(
                                Op::Call,
                                self.push_frame_entering(func, b, n, d, f),
                                func,
                                b
                            );
                            continue;
                        }
                        let f = slot!(fi);
                        match callop!(Op::Call, self.apply(f, cur_base + a0, n, d)) {
                            Called::Pushed => reload!(),
                            Called::Value(v) => set!(d as usize, v),
                        }
                    }
                    Prim::TCallK => {
                        let f = a32!(Op::TCallK, 0);
                        let (a0, n) = (a16!(Op::TCallK, 1), a16!(Op::TCallK, 2));
                        // In place when the callee's frame fits and its counter does
                        // not expire; otherwise (and for a fault) `tail_call`.
                        // SAFETY: `f` and the window were verified (invariant (1)), and
                        // the running frame at `cur_base` is the innermost (4).
                        if self.replace_frame(f, cur_base, a0, n) {
                            enter_pushed!(f, cur_base);
                            continue;
                        }
                        save_ip!();
                        let r = self.tail_call(true, Value::func(f), cur_base, a0, n);
                        match tri!(r) {
                            Some(v) => return Ok(Some(v)),
                            None => reload!(),
                        }
                    }
                    Prim::TCall | Prim::TCallSelf => {
                        let (target, a0, n) = match op {
                            prim::TCALL => (
                                slot!(a16!(Op::TCall, 0)),
                                a16!(Op::TCall, 1),
                                a16!(Op::TCall, 2),
                            ),
                            _ => {
                                let fr = self.frames.top();
                                (fr.closure, a16!(Op::TCallSelf, 0), a16!(Op::TCallSelf, 1))
                            }
                        };
                        if op == prim::TCALLSELF {
                            // Self tail call: move the arguments down and restart in place
                            // (counted first, so that the JIT sees it before any effect).
                            count_back_edge!();
                            // hashc evaluates the arguments straight into the parameter
                            // slots when it can (window at 0): nothing to move then.
                            if a0 != 0 {
                                std::ptr::copy(base.add(a0), base, n);
                            }
                            ip = code;
                            continue;
                        }
                        save_ip!();
                        let r = self.tail_call(false, target, cur_base, a0, n);
                        match tri!(r) {
                            Some(v) => return Ok(Some(v)),
                            None => reload!(),
                        }
                    }
                    Prim::Closure => {
                        let d = a16!(Op::Closure, 0);
                        let f = a32!(Op::Closure, 1);
                        let a0 = a16!(Op::Closure, 2);
                        let n = a16!(Op::Closure, 3);
                        alloc_window!(d, Kind::CLOSURE, 0, f, a0, n);
                        next!(Op::Closure);
                    }
                    Prim::GetEnv => {
                        let c = self.frames.top().closure;
                        // SAFETY: the verifier checked the index against the function's
                        // capture count, and only closures of that function run it.
                        let v = *heap::fields(c.ptr()).add(a16!(Op::GetEnv, 1));
                        set!(a16!(Op::GetEnv, 0), v);
                        next!(Op::GetEnv);
                    }
                    Prim::LoadSelf => {
                        let c = self.frames.top().closure;
                        set!(a16!(Op::LoadSelf, 0), c);
                        next!(Op::LoadSelf);
                    }
                    Prim::SetEnv => {
                        let c = self.frames.top().closure;
                        let v = slot!(a16!(Op::SetEnv, 1));
                        // SAFETY: as for GETENV.
                        self.heap.store(c.ptr(), a16!(Op::SetEnv, 0), v);
                        next!(Op::SetEnv);
                    }

                    // ---------------------------------------------------- data
                    Prim::Con | Prim::ConRet => {
                        same_layout!(Op::Con, Op::ConRet);
                        let d = a16!(Op::Con, 0);
                        let ty = a32!(Op::Con, 1);
                        let tag = a16!(Op::Con, 2) as u16;
                        let a0 = a16!(Op::Con, 3);
                        let n = a16!(Op::Con, 4);
                        // `con.ret`: the verifier checked that `ret d` follows, run here
                        // in the same dispatch. Not while recording: the recorder reads
                        // the code one instruction at a time (`con.ret` is `con` to it,
                        // `Op::unfused`) and sees that `ret` as its own step.
                        let fused = op == prim::CONRET && !RECORD;
                        if n == 0 && ty != builtin::TUPLE {
                            put_value!(d, Value::ctor0(ty, tag));
                            if fused {
                                ret_value!(base.add(d));
                            } else {
                                next!(Op::Con);
                            }
                        } else {
                            let v = new_window!(Kind::DATA, tag, ty, a0, n);
                            if fused {
                                // Straight into the caller's slot, as `ret_imm!` writes
                                // (`d` is dead once the frame is popped; written and
                                // copied from there, two stores and two loads more per
                                // binary-trees node).
                                ret_imm!(v.bits, Tag::OBJ);
                            } else {
                                put_value!(d, v);
                                next!(Op::Con);
                            }
                        }
                    }
                    Prim::Tuple | Prim::ALit => {
                        same_layout!(Op::Tuple, Op::ALit);
                        let d = a16!(Op::Tuple, 0);
                        let a0 = a16!(Op::Tuple, 1);
                        let n = a16!(Op::Tuple, 2);
                        if op == prim::TUPLE {
                            alloc_window!(d, Kind::DATA, 0, builtin::TUPLE, a0, n);
                        } else {
                            // The array's elements kind is the one its values share.
                            let e = Elems::of_values(std::slice::from_raw_parts(base.add(a0), n));
                            if e == Elems::GENERAL {
                                alloc_window!(d, Kind::ARRAY, 0, Elems::GENERAL, a0, n);
                            } else {
                                // Flat: the window holds no pointers, so it is read
                                // after the allocation as it is.
                                let p = vmop!(self.alloc(
                                    Elems::payload(e, n),
                                    Kind::ARRAY,
                                    0,
                                    e,
                                    n as u64
                                ));
                                heap::array_fill_new(
                                    p,
                                    std::slice::from_raw_parts(base.add(a0), n),
                                );
                                set!(d, Value::obj(p));
                            }
                        }
                        next!(Op::Tuple);
                    }
                    Prim::Field => {
                        let f = checked_field!(a16!(Op::Field, 1), a16!(Op::Field, 2));
                        set!(a16!(Op::Field, 0), *f);
                        next!(Op::Field);
                    }
                    Prim::Field2 => {
                        // The intermediate object is read in place from its field and
                        // never stored: only `d` is written, after both checks.
                        let m = checked_field!(a16!(Op::Field2, 1), a16!(Op::Field2, 2));
                        let f = field_of!((*m).tag, (*m).bits, a16!(Op::Field2, 3), *m);
                        set!(a16!(Op::Field2, 0), *f);
                        next!(Op::Field2);
                    }
                    Prim::SetField => {
                        let (o, i) = (a16!(Op::SetField, 0), a16!(Op::SetField, 1));
                        let f = checked_field!(o, i);
                        let v = slot!(a16!(Op::SetField, 2));
                        *f = v;
                        self.heap.barrier(bits_of!(o) as *mut heap::Header, v);
                        next!(Op::SetField);
                    }
                    Prim::GetTag => {
                        let i = a16!(Op::GetTag, 1);
                        match ctor_index_at!(i) {
                            Some(t) => set!(a16!(Op::GetTag, 0), Value::i64(t as i64)),
                            None => fault!("constructor index of a {}", self.type_name(slot!(i))),
                        }
                        next!(Op::GetTag);
                    }
                    Prim::KindOf => {
                        set!(
                            a16!(Op::KindOf, 0),
                            Value::i64(kind_code(slot!(a16!(Op::KindOf, 1))))
                        );
                        next!(Op::KindOf);
                    }
                    Prim::Cons => {
                        let t = slot!(a16!(Op::Cons, 2));
                        if !is_list(t) {
                            fault!("cons onto a {}, not a list", self.type_name(t));
                        }
                        let p = vmop!(self.alloc(32, Kind::DATA, 1, builtin::LIST, 2));
                        {
                            *heap::fields(p) = slot!(a16!(Op::Cons, 1));
                            *heap::fields(p).add(1) = slot!(a16!(Op::Cons, 2));
                        }
                        set!(a16!(Op::Cons, 0), Value::obj(p));
                        next!(Op::Cons);
                    }
                    Prim::Head | Prim::Tail => {
                        same_layout!(Op::Head, Op::Tail);
                        let v = slot!(a16!(Op::Head, 1));
                        if !(v.tag == Tag::OBJ
                            && ((*v.ptr()).kind == Kind::DATA && (*v.ptr()).meta == builtin::LIST))
                        {
                            if is_list(v) {
                                fault!(
                                    "{} of an empty list",
                                    if op == prim::HEAD { "head" } else { "tail" }
                                );
                            }
                            fault!("head/tail of a {}", self.type_name(v));
                        }
                        let i = (op == prim::TAIL) as usize;
                        set!(a16!(Op::Head, 0), *heap::fields(v.ptr()).add(i));
                        next!(Op::Head);
                    }
                    Prim::ANew => {
                        let n = slot!(a16!(Op::ANew, 1));
                        let a = vmop!(self.new_array(n, cur_base, a16!(Op::ANew, 2)));
                        set!(a16!(Op::ANew, 0), a);
                        next!(Op::ANew);
                    }
                    Prim::AGet => {
                        let (ia, ii) = (a16!(Op::AGet, 1), a16!(Op::AGet, 2));
                        let (arr, i) = checked_index!(ia, ii);
                        let m = (*arr).meta;
                        if Elems::is_flat(m) {
                            // The payload, and the kind as the tag (aux 0).
                            let b = *((arr as *mut u8).add(16) as *const u64).add(i as usize);
                            put!(a16!(Op::AGet, 0), b, m);
                        } else {
                            // General, or converted: the general array it points at.
                            let h = if m == Elems::GENERAL {
                                arr
                            } else {
                                heap::array_target(arr)
                            };
                            set!(a16!(Op::AGet, 0), *heap::fields(h).add(i as usize));
                        }
                        next!(Op::AGet);
                    }
                    Prim::ASet => {
                        let (ia, ii) = (a16!(Op::ASet, 0), a16!(Op::ASet, 1));
                        let (arr, i) = checked_index!(ia, ii);
                        let iv = a16!(Op::ASet, 2);
                        let m = (*arr).meta;
                        // Only a flat kind equals a tag (general is none). The tag and
                        // payload are read apart: a 16-byte load of a slot written by
                        // two 8-byte stores stalls (store forwarding fails).
                        if m == tag_of!(iv) {
                            *((arr as *mut u8).add(16) as *mut u64).add(i as usize) = bits_of!(iv);
                        } else if m == Elems::GENERAL {
                            self.heap.store(arr, i as usize, slot!(iv));
                        } else {
                            vmop!(self.array_store_slow(arr, i as usize, slot!(iv)));
                        }
                        next!(Op::ASet);
                    }
                    Prim::ALen => {
                        let a = slot!(a16!(Op::ALen, 1));
                        if !(a.tag == Tag::OBJ && ((*a.ptr()).kind == Kind::ARRAY)) {
                            fault!("length of a {}, not an array", self.type_name(a));
                        }
                        set!(a16!(Op::ALen, 0), Value::i64(((*a.ptr()).len) as i64));
                        next!(Op::ALen);
                    }
                    Prim::RefNew | Prim::Delay => {
                        same_layout!(Op::RefNew, Op::Delay);
                        let (kind, tag) = if op == prim::REFNEW {
                            (Kind::REF, 0)
                        } else {
                            (Kind::THUNK, THUNK_PENDING)
                        };
                        let p = vmop!(self.alloc(16, kind, tag, 0, 1));
                        *heap::fields(p) = slot!(a16!(Op::RefNew, 1));
                        set!(a16!(Op::RefNew, 0), Value::obj(p));
                        next!(Op::RefNew);
                    }
                    Prim::RefGet => {
                        let r = slot!(a16!(Op::RefGet, 1));
                        if !(r.tag == Tag::OBJ && ((*r.ptr()).kind == Kind::REF)) {
                            fault!("refget of a {}", self.type_name(r));
                        }
                        set!(a16!(Op::RefGet, 0), *heap::fields(r.ptr()));
                        next!(Op::RefGet);
                    }
                    Prim::RefSet => {
                        let r = slot!(a16!(Op::RefSet, 0));
                        if !(r.tag == Tag::OBJ && ((*r.ptr()).kind == Kind::REF)) {
                            fault!("refset of a {}", self.type_name(r));
                        }
                        self.heap.store(r.ptr(), 0, slot!(a16!(Op::RefSet, 1)));
                        next!(Op::RefSet);
                    }
                    Prim::Force => {
                        let d = a16!(Op::Force, 0);
                        let v = slot!(a16!(Op::Force, 1));
                        if !(v.tag == Tag::OBJ && ((*v.ptr()).kind == Kind::THUNK)) {
                            set!(d, v);
                            next!(Op::Force);
                            continue;
                        }
                        let h = v.ptr();
                        match (*h).tag {
                            THUNK_DONE => {
                                set!(d, *heap::fields(h));
                                next!(Op::Force);
                            }
                            THUNK_RUNNING => {
                                fault!("thunk forced while it is being computed (infinite loop)")
                            }
                            _ => {
                                next!(Op::Force);
                                save_resume!();
                                match tri!(self.force_thunk(v, d, cur_base)) {
                                    Some(v) => return Ok(Some(v)),
                                    None => reload!(),
                                }
                            }
                        }
                    }
                    Prim::Eq | Prim::Ne | Prim::Lt | Prim::Le | Prim::Cmp => {
                        same_layout!(Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Cmp);
                        let a = slot!(a16!(Op::Eq, 1));
                        let b = slot!(a16!(Op::Eq, 2));
                        save_ip!();
                        let r = tri!(self.compare_op(op, a, b));
                        set!(a16!(Op::Eq, 0), r);
                        next!(Op::Eq);
                    }
                    Prim::Not => {
                        let v = slot!(a16!(Op::Not, 1));
                        if v.tag != Tag::BOOL {
                            fault!("not of a {}", self.type_name(v));
                        }
                        set!(a16!(Op::Not, 0), Value::bool(v.bits == 0));
                        next!(Op::Not);
                    }
                    Prim::ToStr => {
                        let v = slot!(a16!(Op::ToStr, 1));
                        let r = vmop!(self.display_str(v));
                        set!(a16!(Op::ToStr, 0), r);
                        next!(Op::ToStr);
                    }
                    Prim::SCat => {
                        let (ia, ib) = (a16!(Op::SCat, 1), a16!(Op::SCat, 2));
                        let r = vmop!(self.concat(cur_base, ia, ib));
                        set!(a16!(Op::SCat, 0), r);
                        next!(Op::SCat);
                    }
                    Prim::Print => {
                        vmop!(self.print_str(slot!(a16!(Op::Print, 0))));
                        next!(Op::Print);
                    }
                    Prim::JEqChar | Prim::JNeChar => {
                        same_layout!(Op::JEqChar, Op::JNeChar);
                        let v = slot!(a16!(Op::JEqChar, 0));
                        if v.tag != Tag::CHAR {
                            fault!("char comparison on a {}", self.type_name(v));
                        }
                        if (v.bits == ai32!(Op::JEqChar, 1) as u32 as u64) == (op == prim::JEQCHAR)
                        {
                            jump!(ai32!(Op::JEqChar, 2));
                        } else {
                            next!(Op::JEqChar);
                        }
                    }

                    // ---------------------------------------------------- i64
                    Prim::AddI64 => {
                        arith!(Op::AddI64, Tag::I64, "add.i64", |a, b| a.wrapping_add(b))
                    }
                    Prim::AddI64Ret => {
                        // `add.i64` and the `ret d` the verifier checked follows it, in
                        // one dispatch; while recording, `add.i64` alone (the recorder
                        // sees the `ret` as its own step, as for `con.ret`).
                        let (a, b) = typed2!(
                            Tag::I64,
                            "add.i64",
                            a16!(Op::AddI64Ret, 1),
                            a16!(Op::AddI64Ret, 2)
                        );
                        let r = a.wrapping_add(b);
                        if RECORD {
                            put!(a16!(Op::AddI64Ret, 0), r, Tag::I64);
                            next!(Op::AddI64Ret);
                        } else {
                            ret_imm!(r, Tag::I64);
                        }
                    }
                    Prim::SubI64 => {
                        arith!(Op::SubI64, Tag::I64, "sub.i64", |a, b| a.wrapping_sub(b))
                    }
                    Prim::MulI64 => arith!(Op::MulI64, Tag::I64, "mul.i64", |a, b| (a as i64)
                        .wrapping_mul(b as i64)
                        as u64),
                    Prim::DivI64 | Prim::RemI64 => {
                        same_layout!(Op::DivI64, Op::RemI64);
                        let (a, b) = typed2!(
                            Tag::I64,
                            "div.i64",
                            a16!(Op::DivI64, 1),
                            a16!(Op::DivI64, 2)
                        );
                        if b == 0 {
                            fault!("division by zero");
                        }
                        let r = if op == prim::DIV_I64 {
                            (a as i64).wrapping_div(b as i64)
                        } else {
                            (a as i64).wrapping_rem(b as i64)
                        };
                        set!(a16!(Op::DivI64, 0), Value::i64(r));
                        next!(Op::DivI64);
                    }
                    Prim::NegI64 => {
                        unop!(
                            Op::NegI64,
                            Tag::I64,
                            "neg.i64",
                            |a| (a as i64).wrapping_neg() as u64
                        )
                    }
                    Prim::AndI64 => arith!(Op::AndI64, Tag::I64, "and.i64", |a, b| a & b),
                    Prim::OrI64 => arith!(Op::OrI64, Tag::I64, "or.i64", |a, b| a | b),
                    Prim::XorI64 => arith!(Op::XorI64, Tag::I64, "xor.i64", |a, b| a ^ b),
                    Prim::ShlI64 => arith!(Op::ShlI64, Tag::I64, "shl.i64", |a, b| a << (b & 63)),
                    Prim::ShrI64 => {
                        arith!(
                            Op::ShrI64,
                            Tag::I64,
                            "shr.i64",
                            |a, b| ((a as i64) >> (b & 63)) as u64
                        )
                    }
                    Prim::BNotI64 => unop!(Op::BNotI64, Tag::I64, "bnot.i64", |a| !a),
                    Prim::AddIImm | Prim::SubIImm | Prim::MulIImm => {
                        same_layout!(Op::AddIImm, Op::SubIImm, Op::MulIImm);
                        let a = imm_arith_operand!(Op::AddIImm);
                        let k = ai32!(Op::AddIImm, 2) as i64;
                        let r = match op {
                            prim::ADDI_I64 => a.wrapping_add(k),
                            prim::SUBI_I64 => a.wrapping_sub(k),
                            _ => a.wrapping_mul(k),
                        };
                        put!(a16!(Op::AddIImm, 0), r as u64, Tag::I64);
                        next!(Op::AddIImm);
                    }
                    Prim::EqI64 => cmpop!(Op::EqI64, Tag::I64, "eq.i64", |a, b| a == b),
                    Prim::NeI64 => cmpop!(Op::NeI64, Tag::I64, "ne.i64", |a, b| a != b),
                    Prim::LtI64 => cmpop!(Op::LtI64, Tag::I64, "lt.i64", |a, b| (a as i64)
                        < (b as i64)),
                    Prim::LeI64 => cmpop!(Op::LeI64, Tag::I64, "le.i64", |a, b| (a as i64)
                        <= (b as i64)),
                    Prim::JLtI64 => jcmp!(Op::JLtI64, Tag::I64, "jlt.i64", |a, b| (a as i64)
                        < (b as i64)),
                    Prim::JLeI64 => jcmp!(Op::JLeI64, Tag::I64, "jle.i64", |a, b| (a as i64)
                        <= (b as i64)),
                    Prim::JGtI64 => jcmp!(Op::JGtI64, Tag::I64, "jgt.i64", |a, b| (a as i64)
                        > (b as i64)),
                    Prim::JGeI64 => jcmp!(Op::JGeI64, Tag::I64, "jge.i64", |a, b| (a as i64)
                        >= (b as i64)),
                    Prim::JEqI64 => jcmp!(Op::JEqI64, Tag::I64, "jeq.i64", |a, b| a == b),
                    Prim::JNeI64 => jcmp!(Op::JNeI64, Tag::I64, "jne.i64", |a, b| a != b),
                    Prim::JLtIImm => jcmpi!(Op::JLtIImm, |a, b| a < b),
                    Prim::JLeIImm => jcmpi!(Op::JLeIImm, |a, b| a <= b),
                    Prim::JGtIImm => jcmpi!(Op::JGtIImm, |a, b| a > b),
                    Prim::JGeIImm => jcmpi!(Op::JGeIImm, |a, b| a >= b),
                    Prim::JEqIImm => jcmpi!(Op::JEqIImm, |a, b| a == b),
                    Prim::JNeIImm => jcmpi!(Op::JNeIImm, |a, b| a != b),

                    // ---------------------------------------------------- u64
                    Prim::AddU64 => {
                        arith!(Op::AddU64, Tag::U64, "add.u64", |a, b| a.wrapping_add(b))
                    }
                    Prim::SubU64 => {
                        arith!(Op::SubU64, Tag::U64, "sub.u64", |a, b| a.wrapping_sub(b))
                    }
                    Prim::MulU64 => {
                        arith!(Op::MulU64, Tag::U64, "mul.u64", |a, b| a.wrapping_mul(b))
                    }
                    Prim::DivU64 | Prim::RemU64 => {
                        same_layout!(Op::DivU64, Op::RemU64);
                        let (a, b) = typed2!(
                            Tag::U64,
                            "div.u64",
                            a16!(Op::DivU64, 1),
                            a16!(Op::DivU64, 2)
                        );
                        if b == 0 {
                            fault!("division by zero");
                        }
                        set!(
                            a16!(Op::DivU64, 0),
                            Value::u64(if op == prim::DIV_U64 { a / b } else { a % b })
                        );
                        next!(Op::DivU64);
                    }
                    Prim::NegU64 => unop!(Op::NegU64, Tag::U64, "neg.u64", |a| a.wrapping_neg()),
                    Prim::AndU64 => arith!(Op::AndU64, Tag::U64, "and.u64", |a, b| a & b),
                    Prim::OrU64 => arith!(Op::OrU64, Tag::U64, "or.u64", |a, b| a | b),
                    Prim::XorU64 => arith!(Op::XorU64, Tag::U64, "xor.u64", |a, b| a ^ b),
                    Prim::ShlU64 => arith!(Op::ShlU64, Tag::U64, "shl.u64", |a, b| a << (b & 63)),
                    Prim::ShrU64 => arith!(Op::ShrU64, Tag::U64, "shr.u64", |a, b| a >> (b & 63)),
                    Prim::BNotU64 => unop!(Op::BNotU64, Tag::U64, "bnot.u64", |a| !a),
                    Prim::EqU64 => cmpop!(Op::EqU64, Tag::U64, "eq.u64", |a, b| a == b),
                    Prim::NeU64 => cmpop!(Op::NeU64, Tag::U64, "ne.u64", |a, b| a != b),
                    Prim::LtU64 => cmpop!(Op::LtU64, Tag::U64, "lt.u64", |a, b| a < b),
                    Prim::LeU64 => cmpop!(Op::LeU64, Tag::U64, "le.u64", |a, b| a <= b),
                    Prim::JLtU64 => jcmp!(Op::JLtU64, Tag::U64, "jlt.u64", |a, b| a < b),
                    Prim::JLeU64 => jcmp!(Op::JLeU64, Tag::U64, "jle.u64", |a, b| a <= b),
                    Prim::JGtU64 => jcmp!(Op::JGtU64, Tag::U64, "jgt.u64", |a, b| a > b),
                    Prim::JGeU64 => jcmp!(Op::JGeU64, Tag::U64, "jge.u64", |a, b| a >= b),

                    // ---------------------------------------------------- f64
                    Prim::AddF64 => f64op!(arith, Op::AddF64, "add.f64", |a, b| (a + b).to_bits()),
                    Prim::SubF64 => f64op!(arith, Op::SubF64, "sub.f64", |a, b| (a - b).to_bits()),
                    Prim::MulF64 => f64op!(arith, Op::MulF64, "mul.f64", |a, b| (a * b).to_bits()),
                    Prim::DivF64 => f64op!(arith, Op::DivF64, "div.f64", |a, b| (a / b).to_bits()),
                    Prim::RemF64 => f64op!(arith, Op::RemF64, "rem.f64", |a, b| (a % b).to_bits()),
                    Prim::NegF64 => {
                        unop!(Op::NegF64, Tag::F64, "neg.f64", |a| (-f64::from_bits(a))
                            .to_bits())
                    }
                    Prim::EqF64 => f64op!(cmpop, Op::EqF64, "eq.f64", |a, b| a == b),
                    Prim::NeF64 => f64op!(cmpop, Op::NeF64, "ne.f64", |a, b| a != b),
                    Prim::LtF64 => f64op!(cmpop, Op::LtF64, "lt.f64", |a, b| a < b),
                    Prim::LeF64 => f64op!(cmpop, Op::LeF64, "le.f64", |a, b| a <= b),
                    Prim::JLtF64 => f64op!(jcmp, Op::JLtF64, "jlt.f64", |a, b| a < b),
                    Prim::JLeF64 => f64op!(jcmp, Op::JLeF64, "jle.f64", |a, b| a <= b),
                    Prim::JNLtF64 => f64op!(jcmp, Op::JNLtF64, "jnlt.f64", |a, b| !(a < b)),
                    Prim::JNLeF64 => f64op!(jcmp, Op::JNLeF64, "jnle.f64", |a, b| !(a <= b)),
                    Prim::JEqF64 => f64op!(jcmp, Op::JEqF64, "jeq.f64", |a, b| a == b),
                    Prim::JNeF64 => f64op!(jcmp, Op::JNeF64, "jne.f64", |a, b| a != b),

                    Prim::AddKF64
                    | Prim::SubKF64
                    | Prim::MulKF64
                    | Prim::DivKF64
                    | Prim::RSubKF64
                    | Prim::RDivKF64 => {
                        same_layout!(
                            Op::AddKF64,
                            Op::SubKF64,
                            Op::MulKF64,
                            Op::DivKF64,
                            Op::RSubKF64,
                            Op::RDivKF64
                        );
                        let x = f64::from_bits(typed1!(
                            Tag::F64,
                            "float arithmetic",
                            a16!(Op::AddKF64, 1)
                        ));
                        let k = f64::from_bits(ai64!(Op::AddKF64, 2) as u64);
                        let r = match op {
                            prim::ADDK_F64 => x + k,
                            prim::SUBK_F64 => x - k,
                            prim::MULK_F64 => x * k,
                            prim::DIVK_F64 => x / k,
                            prim::RSUBK_F64 => k - x,
                            _ => k / x,
                        };
                        put!(a16!(Op::AddKF64, 0), r.to_bits(), Tag::F64);
                        next!(Op::AddKF64);
                    }

                    // ---------------------------------------------------- extensions
                    Prim::ExtNum | Prim::ExtSys => {
                        let sub = *ip.add(1);
                        // Inline fast paths for the conversions and the square root that
                        // numeric loops use; everything else goes through `ops`.
                        if op == EXT_NUM {
                            same_layout!(Op::I64ToF64, Op::F64ToI64, Op::Sqrt);
                            let (id, is) = (a16!(Op::I64ToF64, 0), a16!(Op::I64ToF64, 1));
                            match sub {
                                ext_num::I64_TO_F64 if tag_of!(is) == Tag::I64 => {
                                    put!(id, (bits_of!(is) as i64 as f64).to_bits(), Tag::F64);
                                    next!(Op::I64ToF64);
                                    continue;
                                }
                                ext_num::F64_TO_I64 if tag_of!(is) == Tag::F64 => {
                                    put!(id, f64::from_bits(bits_of!(is)) as i64 as u64, Tag::I64);
                                    next!(Op::F64ToI64);
                                    continue;
                                }
                                ext_num::F64_SQRT if tag_of!(is) == Tag::F64 => {
                                    put!(
                                        id,
                                        f64::from_bits(bits_of!(is)).sqrt().to_bits(),
                                        Tag::F64
                                    );
                                    next!(Op::Sqrt);
                                    continue;
                                }
                                _ => {}
                            }
                        }
                        let nops = crate::ops::ext_arity(op, sub);
                        let mut o = [0usize; 4];
                        for (i, slot) in o.iter_mut().enumerate().take(nops) {
                            *slot = u16at!(crate::ops::ext_slot_offset(i));
                        }
                        if op == EXT_SYS
                            && matches!(
                                sub,
                                ext_sys::LIST_MAP | ext_sys::LIST_FILTER | ext_sys::LIST_FOLDR
                            )
                        {
                            ip = ip.add(crate::ops::ext_slot_offset(nops));
                            save_resume!();
                            let r = self.list_op(sub, cur_base, &o);
                            base = self.stack.as_mut_ptr().add(cur_base);
                            match tri!(r) {
                                Called::Pushed => reload!(),
                                Called::Value(v) => set!(o[0], v),
                            }
                            continue;
                        }
                        save_ip!();
                        let r = if op == EXT_NUM {
                            self.ext_num(sub, cur_base, &o)
                        } else {
                            self.ext_sys(sub, cur_base, &o)
                        };
                        base = self.stack.as_mut_ptr().add(cur_base);
                        tri!(r);
                        ip = ip.add(crate::ops::ext_slot_offset(nops));
                    }
                }
            }
        }
    }
}
