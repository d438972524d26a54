//! The interpreter: one loop dispatching on the opcode byte (a `match`, which compiles
//! to a jump table), frames pushed on the VM's own stacks, never the Rust stack.
//!
//! The hot state — code pointer, instruction pointer, frame base — lives in locals. It is
//! reloaded from the top [`Frame`] after anything that pushes or pops frames, and `base`
//! is recomputed after anything that can grow the value stack. Every operand index was
//! checked by the verifier at load time, which is what makes the unchecked slot accesses
//! below sound.

use crate::heap::{self, Kind, THUNK_DONE, THUNK_PENDING, THUNK_RUNNING};
use crate::value::{Tag, Value};
use crate::vm::{Frame, FrameKind, Trap, Vm, HOT_LOOP_SLOTS, HOT_THRESHOLD, SCRATCH_SLOTS};
use hashvm_format::builtin;
use hashvm_format::opcode::{ext_num, ext_sys, prim, EXT_NUM, EXT_SYS};

/// The result of setting up a call.
pub(crate) enum Called {
    /// A frame was pushed: continue in it.
    Pushed,
    /// The result is already known (a partial application was built).
    Value(Value),
}

impl Vm {
    /// Makes the value stack at least `n` slots long. Invalidates raw pointers into it.
    #[cold]
    #[inline(never)]
    pub(crate) fn grow_stack(&mut self, n: usize) -> Result<(), Trap> {
        let limit = self.config.max_frames.saturating_mul(8).max(1 << 20);
        if n > limit {
            return Err(self.error_plain("stack overflow"));
        }
        let mut len = self.stack.len().max(1024);
        while len < n {
            len *= 2;
        }
        // Reserve fallibly first: when the system refuses the memory, the program ends
        // with "out of memory" rather than Rust's abort on allocation failure. Settle
        // for exactly `n` slots when doubling is refused.
        let cur = self.stack.len();
        if self.stack.try_reserve_exact(len - cur).is_err() {
            len = n;
            if self.stack.try_reserve_exact(len - cur).is_err() {
                return Err(self.error_plain("out of memory (the value stack)"));
            }
        }
        self.stack.resize(len, Value::UNIT);
        Ok(())
    }

    /// Makes room for one more frame without the infallible growth of `Vec::push`
    /// (which aborts the process when the system refuses memory): called before every
    /// push that does not go through [`Vm::push_frame`]'s checked fast path.
    #[inline(always)]
    pub(crate) fn reserve_frame(&mut self) -> Result<(), Trap> {
        if self.frames.len() == self.frames.capacity() {
            return self.grow_frames();
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn grow_frames(&mut self) -> Result<(), Trap> {
        let n = self.frames.len().max(64);
        if self.frames.try_reserve(n).is_err() && self.frames.try_reserve(1).is_err() {
            return Err(self.error_plain("out of memory (the frame stack)"));
        }
        Ok(())
    }

    /// Pushes a NORMAL frame for `func` at absolute stack index `base`, with `n`
    /// arguments already in place.
    #[inline(always)]
    pub(crate) fn push_frame(
        &mut self,
        func: u32,
        base: usize,
        n: usize,
        ret: u16,
        closure: Value,
    ) -> Result<(), Trap> {
        // SAFETY: function indices reaching here were checked by the verifier (or come
        // from closure objects built from checked indices).
        let nslots = unsafe { self.funcs.get_unchecked(func as usize) }.nslots as usize;
        if base + nslots > self.stack.len()
            || self.frames.len() >= self.config.max_frames
            || self.frames.len() == self.frames.capacity()
        {
            return self.push_frame_slow(func, base, n, ret, closure);
        }
        // SAFETY: `base + nslots <= stack.len()` was just checked.
        unsafe {
            let p = self.stack.as_mut_ptr().add(base);
            for i in n..nslots {
                (*p.add(i)).tag = Tag::UNIT;
            }
        }
        self.frames.push(Frame {
            func,
            ip: 0,
            base: base as u32,
            ret,
            kind: FrameKind::NORMAL,
            pad: 0,
            closure,
        });
        // SAFETY: `hot_calls` has one counter per function.
        let c = unsafe { self.hot_calls.get_unchecked_mut(func as usize) };
        *c -= 1;
        if *c == 0 {
            return self.fire_hot_call(func);
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn fire_hot_call(&mut self, func: u32) -> Result<(), Trap> {
        self.hot_calls[func as usize] = HOT_THRESHOLD;
        if let Some(h) = self.hook.as_mut() {
            h.hot_call(func);
        }
        self.check_interrupt()
    }

    /// A loop back-edge counter reached zero: call the JIT hook, check for interrupts.
    #[cold]
    #[inline(never)]
    pub(crate) fn fire_hot_loop(&mut self, slot: usize, off: u32) -> Result<(), Trap> {
        self.hot_loops[slot] = HOT_THRESHOLD;
        let func = self.frames.last().map(|f| f.func).unwrap_or(0);
        if let Some(h) = self.hook.as_mut() {
            h.hot_loop(func, off);
        }
        self.check_interrupt()
    }

    #[cold]
    #[inline(never)]
    fn push_frame_slow(
        &mut self,
        func: u32,
        base: usize,
        n: usize,
        ret: u16,
        closure: Value,
    ) -> Result<(), Trap> {
        if self.frames.len() >= self.config.max_frames {
            return Err(self.error_plain(format!(
                "stack overflow: more than {} nested calls",
                self.config.max_frames
            )));
        }
        let nslots = self.funcs[func as usize].nslots as usize;
        if base + nslots > self.stack.len() {
            self.grow_stack(base + nslots)?;
        }
        self.reserve_frame()?;
        self.push_frame(func, base, n, ret, closure)
    }

    /// Applies the function value `f` to the `n` arguments at absolute stack index `p`
    /// (exact, partial or over-application); the result goes to slot `ret` of the frame
    /// below (the current top frame).
    pub(crate) fn apply(
        &mut self,
        mut f: Value,
        p: usize,
        mut n: usize,
        ret: u16,
    ) -> Result<Called, Trap> {
        loop {
            let (func, closure) = match f.tag {
                Tag::FUNC => (f.bits as u32, f),
                Tag::OBJ => {
                    let h = f.ptr();
                    // SAFETY: OBJ values always point at live objects.
                    let kind = unsafe { (*h).kind };
                    match kind {
                        Kind::CLOSURE => (unsafe { (*h).meta }, f),
                        Kind::PAP => {
                            // Prepend the stored arguments.
                            let k = unsafe { (*h).len } as usize - 1;
                            if p + k + n > self.stack.len() {
                                self.grow_stack(p + k + n)?;
                            }
                            self.stack.copy_within(p..p + n, p + k);
                            // SAFETY: a PAP has 1 + k values.
                            unsafe {
                                let fs = heap::fields(h);
                                for i in 0..k {
                                    self.stack[p + i] = *fs.add(1 + i);
                                }
                                f = *fs;
                            }
                            n += k;
                            self.scratch_top = self.scratch_top.max(p + n);
                            continue;
                        }
                        _ => {
                            return Err(self.error_plain(format!(
                                "cannot call a value of type {}",
                                self.type_name(f)
                            )))
                        }
                    }
                }
                _ => {
                    return Err(self
                        .error_plain(format!("cannot call a value of type {}", self.type_name(f))))
                }
            };
            let arity = self.funcs[func as usize].arity as usize;
            if n == arity {
                self.push_frame(func, p, n, ret, closure)?;
                self.scratch_top = 0;
                return Ok(Called::Pushed);
            }
            self.scratch_top = self.scratch_top.max(p + n);
            if n < arity {
                let mut vals = Vec::with_capacity(n + 1);
                vals.push(closure);
                vals.extend_from_slice(&self.stack[p..p + n]);
                let v = self.new_values(Kind::PAP, 0, 0, &vals)?;
                self.scratch_top = 0;
                return Ok(Called::Value(v));
            }
            // Over-application: call with `arity` arguments, keep the rest for later.
            self.roots.push(closure);
            let extra: Vec<Value> = self.stack[p + arity..p + n].to_vec();
            let rest = self.new_values(Kind::DATA, 0, builtin::TUPLE, &extra);
            let closure = self.roots.pop().unwrap_or(closure);
            let rest = rest?;
            self.reserve_frame()?;
            self.frames.push(Frame {
                func: 0,
                ip: 0,
                base: p as u32,
                ret,
                kind: FrameKind::APPLY_REST,
                pad: 0,
                closure: rest,
            });
            self.push_frame(func, p, arity, 0, closure)?;
            self.scratch_top = 0;
            return Ok(Called::Pushed);
        }
    }

    /// Delivers `v` to the frame on top (the caller). Returns `Some(v)` when that is the
    /// host boundary, i.e. the interpreter must return `v` to Rust.
    pub(crate) fn deliver(&mut self, mut ret: u16, mut v: Value) -> Result<Option<Value>, Trap> {
        loop {
            let Some(top) = self.frames.last().copied() else {
                return Ok(Some(v));
            };
            match top.kind {
                FrameKind::NORMAL => {
                    self.stack[top.base as usize + ret as usize] = v;
                    return Ok(None);
                }
                FrameKind::HOST => {
                    self.frames.pop();
                    return Ok(Some(v));
                }
                FrameKind::APPLY_REST => {
                    self.frames.pop();
                    let p = top.base as usize;
                    let h = top.closure.ptr();
                    // SAFETY: APPLY_REST frames hold a tuple object.
                    let m = unsafe { (*h).len } as usize;
                    if p + m > self.stack.len() {
                        self.grow_stack(p + m)?;
                    }
                    for i in 0..m {
                        // SAFETY: i < len of the tuple.
                        self.stack[p + i] = unsafe { *heap::fields(h).add(i) };
                    }
                    self.scratch_top = p + m;
                    match self.apply(v, p, m, top.ret)? {
                        Called::Pushed => return Ok(None),
                        Called::Value(r) => {
                            v = r;
                            ret = top.ret;
                        }
                    }
                }
                FrameKind::FORCE => {
                    self.frames.pop();
                    let h = top.closure.ptr();
                    // SAFETY: FORCE frames hold a thunk object.
                    unsafe {
                        (*h).tag = THUNK_DONE;
                        *heap::fields(h) = v;
                    }
                    ret = top.ret;
                }
                FrameKind::MAP | FrameKind::FILTER | FrameKind::FOLDR => {
                    match self.list_cont(Some(v))? {
                        None => return Ok(None),
                        Some(r) => {
                            v = r;
                            ret = top.ret;
                        }
                    }
                }
                _ => return Err(self.error_plain("corrupt frame stack")),
            }
        }
    }

    /// Starts `list.map`, `list.filter` or `list.foldr` (operand slots `o` of the frame
    /// at `b`): pushes a continuation frame whose scratch slots hold the loop state, and
    /// calls the function for the first element. The interpreter stays flat: each call
    /// returns into the continuation frame, which starts the next.
    pub(crate) fn list_op(&mut self, sub: u8, b: usize, o: &[usize; 4]) -> Result<Called, Trap> {
        let fr = *self
            .frames
            .last()
            .ok_or_else(|| self.error_plain("no frame"))?;
        let p = b + self.funcs[fr.func as usize].nslots as usize;
        if p + SCRATCH_SLOTS + 2 > self.stack.len() {
            self.grow_stack(p + SCRATCH_SLOTS + 2)?;
        }
        let xs = self.stack[b + o[1]];
        let items = self.list_values(xs, "list function")?;
        let kind = match sub {
            ext_sys::LIST_MAP => FrameKind::MAP,
            ext_sys::LIST_FILTER => FrameKind::FILTER,
            _ => FrameKind::FOLDR,
        };
        if kind == FrameKind::FOLDR {
            // Walk a reversed copy, so that the last element is combined first.
            let mut rev = items;
            rev.reverse();
            let l = self.new_list(&rev)?;
            self.stack[p + 1] = l;
            self.stack[p] = self.stack[b + o[3]];
            self.stack[p + 2] = self.stack[b + o[2]];
        } else {
            self.stack[p + 1] = xs;
            self.stack[p] = self.stack[b + o[2]];
            self.stack[p + 2] = Value::NIL;
        }
        self.stack[p + 3] = Value::UNIT;
        self.reserve_frame()?;
        self.frames.push(Frame {
            func: 0,
            ip: 0,
            base: p as u32,
            ret: o[0] as u16,
            kind,
            pad: 0,
            closure: Value::UNIT,
        });
        Ok(match self.list_cont(None)? {
            None => Called::Pushed,
            Some(v) => Called::Value(v),
        })
    }

    /// Advances the list continuation frame on top: absorbs the last call's result (if
    /// any), then calls the function on the next element (`None`: a frame was pushed),
    /// or finishes, pops the frame and returns the final result.
    fn list_cont(&mut self, mut result: Option<Value>) -> Result<Option<Value>, Trap> {
        let top = *self
            .frames
            .last()
            .ok_or_else(|| self.error_plain("no frame"))?;
        let p = top.base as usize;
        loop {
            if let Some(v) = result.take() {
                match top.kind {
                    FrameKind::FOLDR => self.stack[p + 2] = v,
                    FrameKind::FILTER if v.tag != Tag::BOOL => {
                        return Err(self.error_plain(format!(
                            "list.filter: the predicate returned {}, not a bool",
                            self.type_name(v)
                        )))
                    }
                    FrameKind::FILTER if v.bits == 0 => {}
                    _ => {
                        let x = if top.kind == FrameKind::MAP {
                            v
                        } else {
                            self.stack[p + 3]
                        };
                        let acc = self.stack[p + 2];
                        self.stack[p + 2] = self.new_list_onto(&[x], acc)?;
                    }
                }
            }
            let rest = self.stack[p + 1];
            // SAFETY: OBJ values point at live objects.
            if !(rest.tag == Tag::OBJ && unsafe { (*rest.ptr()).kind == Kind::DATA }) {
                let acc = self.stack[p + 2];
                let r = if top.kind == FrameKind::FOLDR {
                    acc
                } else {
                    let mut items = self.list_values(acc, "list function")?;
                    items.reverse();
                    self.new_list(&items)?
                };
                self.frames.pop();
                return Ok(Some(r));
            }
            // SAFETY: `rest` is a cons cell (checked above).
            let (x, tail) =
                unsafe { (*heap::fields(rest.ptr()), *heap::fields(rest.ptr()).add(1)) };
            self.stack[p + 1] = tail;
            self.stack[p + 3] = x;
            self.stack[p + 4] = x;
            let n = if top.kind == FrameKind::FOLDR {
                self.stack[p + 5] = self.stack[p + 2];
                2
            } else {
                1
            };
            self.scratch_top = p + 4 + n;
            let f = self.stack[p];
            match self.apply(f, p + 4, n, 0)? {
                Called::Pushed => return Ok(None),
                Called::Value(v) => result = Some(v),
            }
        }
    }

    /// The elements of a list value.
    pub(crate) fn list_values(&self, mut v: Value, what: &str) -> Result<Vec<Value>, Trap> {
        let mut out = Vec::new();
        loop {
            if v.tag == Tag::CTOR0 && v.aux == builtin::LIST {
                return Ok(out);
            }
            // SAFETY: OBJ values point at live objects; cons cells have two fields.
            unsafe {
                if v.tag == Tag::OBJ
                    && (*v.ptr()).kind == Kind::DATA
                    && (*v.ptr()).meta == builtin::LIST
                {
                    // Grown fallibly: a list may be a large part of the heap, and this
                    // copy must not end the process when the system refuses memory.
                    if out.len() == out.capacity() && out.try_reserve(out.len().max(16)).is_err() {
                        return Err(self.error_plain("out of memory"));
                    }
                    out.push(*heap::fields(v.ptr()));
                    v = *heap::fields(v.ptr()).add(1);
                    continue;
                }
            }
            return Err(
                self.error_plain(format!("{what} expects a list, got {}", self.type_name(v)))
            );
        }
    }

    /// Calls the function value `f` with `args` and runs it to completion: the entry
    /// point for Rust callers (program start, `#run`, the REPL).
    pub fn call(&mut self, f: Value, args: &[Value]) -> Result<Value, Trap> {
        let p = self.live_top();
        if p + args.len() + 1 > self.stack.len() {
            self.grow_stack(p + args.len() + 1)?;
        }
        self.reserve_frame()?;
        self.frames.push(Frame {
            func: 0,
            ip: 0,
            base: p as u32,
            ret: 0,
            kind: FrameKind::HOST,
            pad: 0,
            closure: Value::UNIT,
        });
        let depth = self.frames.len();
        self.stack[p..p + args.len()].copy_from_slice(args);
        self.scratch_top = p + args.len();
        let r = match self.apply(f, p, args.len(), 0) {
            Ok(Called::Value(v)) => {
                self.frames.pop();
                Ok(v)
            }
            Ok(Called::Pushed) => self.execute(),
            Err(e) => Err(e),
        };
        if r.is_err() {
            // Unwind everything above (and including) our host frame.
            self.frames.truncate(depth - 1);
        }
        self.scratch_top = 0;
        r
    }

    /// Runs from the top frame until a value reaches a HOST frame.
    #[allow(unused_assignments)]
    // `!(a < b)` is not `a >= b` when either is NaN: the f64 jumps rely on that.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn execute(&mut self) -> Result<Value, Trap> {
        let funcs = self.funcs.as_ptr();
        let mut cur_base: usize;
        let mut base: *mut Value;
        let mut code: *const u8;
        let mut ip: *const u8;

        macro_rules! reload {
            () => {{
                let fr = *self.frames.last().unwrap();
                cur_base = fr.base as usize;
                base = (self.stack.as_mut_ptr().add(cur_base));
                code = ((*funcs.add(fr.func as usize)).code.as_ptr());
                ip = (code.add(fr.ip as usize));
            }};
        }
        // SAFETY: there is a NORMAL frame on top (the caller pushed one) whose function
        // index and base are valid.
        unsafe { reload!() };

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
                if let Some(f) = self.frames.last_mut() {
                    f.ip = off;
                }
            }};
        }
        // Records the exact point where execution resumes when a callee returns.
        macro_rules! save_resume {
            () => {{
                let off = (ip.offset_from(code)) as u32;
                if let Some(f) = self.frames.last_mut() {
                    f.ip = off;
                }
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
            ($len:expr, $e:expr) => {{
                next!($len);
                save_resume!();
                let r = $e;
                base = (self.stack.as_mut_ptr().add(cur_base));
                tri!(r)
            }};
        }
        macro_rules! jump {
            ($off:expr) => {
                ip = (ip.offset($off as isize))
            };
        }
        macro_rules! next {
            ($n:expr) => {
                ip = (ip.add($n))
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
        macro_rules! put {
            ($i:expr, $bits:expr, $tag:expr) => {{
                let bits = $bits;
                let p = base.add($i) as *mut u64;
                *p = bits;
                // tag in the low half of the second word, aux (0) in the high half.
                *p.add(1) = $tag as u64;
            }};
        }
        // A loop back-edge (`loop`, `tcallself`): count it in the PC-hashed table; when
        // the counter expires, call the JIT hook and check for an interrupt.
        macro_rules! count_back_edge {
            () => {{
                let off = ip.offset_from(code) as usize;
                let slot = (off >> 1) & (HOT_LOOP_SLOTS - 1);
                let c = self.hot_loops.get_unchecked_mut(slot);
                *c -= 1;
                if *c == 0 {
                    save_ip!();
                    tri!(self.fire_hot_loop(slot, off as u32));
                }
            }};
        }
        // A new object of `n` values copied from the slots `a0..a0+n`, into slot `d`.
        macro_rules! alloc_window {
            ($d:expr, $kind:expr, $tag:expr, $meta:expr, $a0:expr, $n:expr) => {{
                let (a0, n) = ($a0, $n);
                let p = vmop!(self.alloc(n * 16, $kind, $tag, $meta, n as u64));
                std::ptr::copy_nonoverlapping(base.add(a0), heap::fields(p), n);
                set!($d, Value::obj(p));
            }};
        }
        // The address of field `i` of the data value in slot `iv` (a constructor value,
        // tuple or cons cell), faulting if it has no such field.
        macro_rules! checked_field {
            ($iv:expr, $i:expr) => {{
                let (iv, i) = ($iv, $i);
                let h = bits_of!(iv) as *mut heap::Header;
                if !(tag_of!(iv) == Tag::OBJ && (*h).kind == Kind::DATA && i < (*h).len as usize) {
                    fault!(
                        "field {i} of a value that has none: {}",
                        self.type_name(slot!(iv))
                    );
                }
                heap::fields(h).add(i)
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
        macro_rules! arith {
            ($tag:expr, $name:literal, |$a:ident, $b:ident| $e:expr) => {{
                let ($a, $b) = typed2!($tag, $name, u16at!(3), u16at!(5));
                put!(u16at!(1), $e, $tag);
                next!(7);
            }};
        }
        macro_rules! cmpop {
            ($tag:expr, $name:literal, |$a:ident, $b:ident| $e:expr) => {{
                let ($a, $b) = typed2!($tag, $name, u16at!(3), u16at!(5));
                put!(u16at!(1), ($e) as u64, Tag::BOOL);
                next!(7);
            }};
        }
        macro_rules! unop {
            ($tag:expr, $name:literal, |$a:ident| $e:expr) => {{
                let ia = u16at!(3);
                if tag_of!(ia) != $tag {
                    save_ip!();
                    return Err(self.operand_fault($name, $tag, slot!(ia), None));
                }
                let $a = bits_of!(ia);
                put!(u16at!(1), $e, $tag);
                next!(5);
            }};
        }
        macro_rules! jcmp {
            ($tag:expr, $name:literal, |$a:ident, $b:ident| $e:expr) => {{
                let ($a, $b) = typed2!($tag, $name, u16at!(1), u16at!(3));
                if $e {
                    jump!(i32at!(5));
                } else {
                    next!(9);
                }
            }};
        }
        macro_rules! jcmpi {
            (|$a:ident, $b:ident| $e:expr) => {{
                let ia = u16at!(1);
                if tag_of!(ia) != Tag::I64 {
                    save_ip!();
                    return Err(self.operand_fault(
                        "integer comparison",
                        Tag::I64,
                        slot!(ia),
                        None,
                    ));
                }
                let $a = bits_of!(ia) as i64;
                let $b = i32at!(3) as i64;
                if $e {
                    jump!(i32at!(7));
                } else {
                    next!(11);
                }
            }};
        }
        // Returns the value at `*$src` (a slot of the returning frame, which stays in
        // place while the frame is popped) to the caller's result slot.
        macro_rules! ret_value {
            ($src:expr) => {{
                let src: *const Value = $src;
                // There is always a frame below a NORMAL frame (at least the host's).
                let fr = self.frames.pop().unwrap_unchecked();
                let top = self.frames.last().unwrap_unchecked();
                if top.kind == FrameKind::NORMAL {
                    cur_base = top.base as usize;
                    base = self.stack.as_mut_ptr().add(cur_base);
                    *base.add(fr.ret as usize) = *src;
                    code = (*funcs.add(top.func as usize)).code.as_ptr();
                    ip = code.add(top.ip as usize);
                } else {
                    match tri!(self.deliver(fr.ret, *src)) {
                        Some(v) => return Ok(v),
                        None => reload!(),
                    }
                }
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
        // across an allocation: operands are re-read from slots afterwards.
        unsafe {
            loop {
                let op = *ip;
                match op {
                    prim::NOP => next!(1),
                    prim::MOV => {
                        set!(u16at!(1), slot!(u16at!(3)));
                        next!(5);
                    }
                    prim::LOADI => {
                        set!(u16at!(1), Value::i64(i32at!(3) as i64));
                        next!(7);
                    }
                    prim::LOADI64 => {
                        set!(u16at!(1), Value::i64(i64at!(3)));
                        next!(11);
                    }
                    prim::LOADU64 => {
                        set!(u16at!(1), Value::u64(i64at!(3) as u64));
                        next!(11);
                    }
                    prim::LOADF => {
                        set!(
                            u16at!(1),
                            Value {
                                bits: i64at!(3) as u64,
                                tag: Tag::F64,
                                aux: 0
                            }
                        );
                        next!(11);
                    }
                    prim::LOADUNIT => {
                        set!(u16at!(1), Value::UNIT);
                        next!(3);
                    }
                    prim::LOADTRUE => {
                        set!(u16at!(1), Value::bool(true));
                        next!(3);
                    }
                    prim::LOADFALSE => {
                        set!(u16at!(1), Value::bool(false));
                        next!(3);
                    }
                    prim::LOADCHAR => {
                        set!(
                            u16at!(1),
                            Value {
                                bits: i32at!(3) as u32 as u64,
                                tag: Tag::CHAR,
                                aux: 0
                            }
                        );
                        next!(7);
                    }
                    prim::LOADG => {
                        // SAFETY: the verifier checked the global index.
                        let g = *self.globals.get_unchecked(u32at!(3) as usize);
                        set!(u16at!(1), g);
                        next!(7);
                    }
                    prim::STOREG => {
                        let v = slot!(u16at!(5));
                        // SAFETY: the verifier checked the global index.
                        *self.globals.get_unchecked_mut(u32at!(1) as usize) = v;
                        next!(7);
                    }
                    prim::LOADFN => {
                        set!(u16at!(1), Value::func(u32at!(3)));
                        next!(7);
                    }
                    prim::LOADNIL => {
                        set!(u16at!(1), Value::NIL);
                        next!(3);
                    }
                    prim::JMP => jump!(i32at!(1)),
                    prim::JT | prim::JF => {
                        let iv = u16at!(1);
                        if tag_of!(iv) != Tag::BOOL {
                            fault!("condition is not a bool but {}", self.type_name(slot!(iv)));
                        }
                        if (bits_of!(iv) != 0) == (op == prim::JT) {
                            jump!(i32at!(3));
                        } else {
                            next!(7);
                        }
                    }
                    prim::LOOP => {
                        count_back_edge!();
                        jump!(i32at!(1));
                    }
                    prim::SWITCH => {
                        let v = slot!(u16at!(1));
                        let t = match ctor_index(v) {
                            Some(t) => t,
                            None => fault!(
                                "switch on a value that is not a constructor: {}",
                                self.type_name(v)
                            ),
                        };
                        let n = u16at!(3);
                        if t < n {
                            jump!(i32at!(9 + 4 * t));
                        } else {
                            jump!(i32at!(5));
                        }
                    }
                    prim::SWITCHI => {
                        let v = slot!(u16at!(1));
                        if v.tag != Tag::I64 {
                            fault!("integer switch on a {}", self.type_name(v));
                        }
                        let lo = i32at!(3) as i64;
                        let n = u16at!(7) as i64;
                        let i = (v.bits as i64).wrapping_sub(lo);
                        if i >= 0 && i < n {
                            jump!(i32at!(13 + 4 * i as usize));
                        } else {
                            jump!(i32at!(9));
                        }
                    }
                    prim::JNTAG => {
                        let v = slot!(u16at!(1));
                        let t = match ctor_index(v) {
                            Some(t) => t,
                            None => fault!("constructor test on a {}", self.type_name(v)),
                        };
                        if t != u16at!(3) {
                            jump!(i32at!(5));
                        } else {
                            next!(9);
                        }
                    }
                    prim::JNIL | prim::JCONS => {
                        let v = slot!(u16at!(1));
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
                            jump!(i32at!(3));
                        } else {
                            next!(7);
                        }
                    }
                    prim::RET => ret_value!(base.add(u16at!(1))),
                    prim::RETU => ret_value!(&Value::UNIT),
                    prim::PANIC => {
                        let v = slot!(u16at!(1));
                        let msg = self.display(v);
                        fault!("panic: {msg}");
                    }
                    prim::MATCHFAIL => fault!("no pattern matched the value"),
                    prim::JEQ | prim::JNE => {
                        let a = slot!(u16at!(1));
                        let b = slot!(u16at!(3));
                        save_ip!();
                        let eq = tri!(self.equal(a, b));
                        if eq == (op == prim::JEQ) {
                            jump!(i32at!(5));
                        } else {
                            next!(9);
                        }
                    }

                    // ---------------------------------------------------- calls
                    prim::CALLK => {
                        let d = u16at!(1) as u16;
                        let f = u32at!(3);
                        let a0 = u16at!(7);
                        let n = u16at!(9);
                        callop!(11, self.push_frame(f, cur_base + a0, n, d, Value::func(f)));
                        reload!();
                    }
                    prim::CALLSELF => {
                        let d = u16at!(1) as u16;
                        let a0 = u16at!(3);
                        let n = u16at!(5);
                        let fr = *self.frames.last().unwrap();
                        callop!(7, self.push_frame(fr.func, cur_base + a0, n, d, fr.closure));
                        reload!();
                    }
                    prim::CALL => {
                        let d = u16at!(1) as u16;
                        let f = slot!(u16at!(3));
                        let a0 = u16at!(5);
                        let n = u16at!(7);
                        match callop!(9, self.apply(f, cur_base + a0, n, d)) {
                            Called::Pushed => reload!(),
                            Called::Value(v) => set!(d as usize, v),
                        }
                    }
                    prim::TCALLK | prim::TCALL | prim::TCALLSELF => {
                        let (target, a0, n) = match op {
                            prim::TCALLK => (Value::func(u32at!(1)), u16at!(5), u16at!(7)),
                            prim::TCALL => (slot!(u16at!(1)), u16at!(3), u16at!(5)),
                            _ => {
                                let fr = self.frames.last().unwrap();
                                (fr.closure, u16at!(1), u16at!(3))
                            }
                        };
                        if op == prim::TCALLSELF {
                            // Self tail call: move the arguments down and restart in place.
                            std::ptr::copy(base.add(a0), base, n);
                            count_back_edge!();
                            ip = code;
                            continue;
                        }
                        save_ip!();
                        std::ptr::copy(base.add(a0), base, n);
                        let fr = self.frames.pop().unwrap();
                        self.scratch_top = cur_base + n;
                        let r = match op {
                            prim::TCALLK => {
                                let f = target.bits as u32;
                                self.push_frame(f, cur_base, n, fr.ret, target)
                                    .map(|_| Called::Pushed)
                            }
                            _ => self.apply(target, cur_base, n, fr.ret),
                        };
                        self.scratch_top = 0;
                        match r {
                            Ok(Called::Pushed) => reload!(),
                            Ok(Called::Value(v)) => match tri!(self.deliver(fr.ret, v)) {
                                Some(v) => return Ok(v),
                                None => reload!(),
                            },
                            Err(e) => {
                                // Put the frame back so the trace names the caller.
                                self.frames.push(fr);
                                return Err(self.retrace(e));
                            }
                        }
                    }
                    prim::CLOSURE => {
                        let d = u16at!(1);
                        let f = u32at!(3);
                        let a0 = u16at!(7);
                        let n = u16at!(9);
                        alloc_window!(d, Kind::CLOSURE, 0, f, a0, n);
                        next!(11);
                    }
                    prim::GETENV => {
                        let c = self.frames.last().unwrap().closure;
                        // SAFETY: the verifier checked the index against the function's
                        // capture count, and only closures of that function run it.
                        let v = *heap::fields(c.ptr()).add(u16at!(3));
                        set!(u16at!(1), v);
                        next!(5);
                    }
                    prim::LOADSELF => {
                        let c = self.frames.last().unwrap().closure;
                        set!(u16at!(1), c);
                        next!(3);
                    }
                    prim::SETENV => {
                        let c = self.frames.last().unwrap().closure;
                        let v = slot!(u16at!(3));
                        // SAFETY: as for GETENV.
                        *heap::fields(c.ptr()).add(u16at!(1)) = v;
                        next!(5);
                    }

                    // ---------------------------------------------------- data
                    prim::CON => {
                        let d = u16at!(1);
                        let ty = u32at!(3);
                        let tag = u16at!(7) as u16;
                        let a0 = u16at!(9);
                        let n = u16at!(11);
                        if n == 0 && ty != builtin::TUPLE {
                            set!(d, Value::ctor0(ty, tag));
                        } else {
                            alloc_window!(d, Kind::DATA, tag, ty, a0, n);
                        }
                        next!(13);
                    }
                    prim::TUPLE | prim::ALIT => {
                        let d = u16at!(1);
                        let a0 = u16at!(3);
                        let n = u16at!(5);
                        let (kind, meta) = if op == prim::TUPLE {
                            (Kind::DATA, builtin::TUPLE)
                        } else {
                            (Kind::ARRAY, 0)
                        };
                        alloc_window!(d, kind, 0, meta, a0, n);
                        next!(7);
                    }
                    prim::FIELD => {
                        let f = checked_field!(u16at!(3), u16at!(5));
                        set!(u16at!(1), *f);
                        next!(7);
                    }
                    prim::SETFIELD => {
                        let f = checked_field!(u16at!(1), u16at!(3));
                        *f = slot!(u16at!(5));
                        next!(7);
                    }
                    prim::GETTAG => {
                        let v = slot!(u16at!(3));
                        match ctor_index(v) {
                            Some(t) => set!(u16at!(1), Value::i64(t as i64)),
                            None => fault!("constructor index of a {}", self.type_name(v)),
                        }
                        next!(5);
                    }
                    prim::CONS => {
                        let t = slot!(u16at!(5));
                        if !is_list(t) {
                            fault!("cons onto a {}, not a list", self.type_name(t));
                        }
                        let p = vmop!(self.alloc(32, Kind::DATA, 1, builtin::LIST, 2));
                        {
                            *heap::fields(p) = slot!(u16at!(3));
                            *heap::fields(p).add(1) = slot!(u16at!(5));
                        }
                        set!(u16at!(1), Value::obj(p));
                        next!(7);
                    }
                    prim::HEAD | prim::TAIL => {
                        let v = slot!(u16at!(3));
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
                        set!(u16at!(1), *heap::fields(v.ptr()).add(i));
                        next!(5);
                    }
                    prim::ANEW => {
                        let d = u16at!(1);
                        let n = slot!(u16at!(3));
                        if n.tag != Tag::I64 {
                            fault!("array length must be an i64, not {}", self.type_name(n));
                        }
                        let n = n.bits as i64;
                        if n < 0 {
                            fault!("negative array length {n}");
                        }
                        if n as u64 > (1 << 40) {
                            fault!("out of memory: array of {n} elements");
                        }
                        let n = n as usize;
                        let p = vmop!(self.alloc(n * 16, Kind::ARRAY, 0, 0, n as u64));
                        let v = slot!(u16at!(5));
                        let f = heap::fields(p);
                        for i in 0..n {
                            *f.add(i) = v;
                        }
                        set!(d, Value::obj(p));
                        next!(7);
                    }
                    prim::AGET => {
                        let (ia, ii) = (u16at!(3), u16at!(5));
                        let (arr, i) = checked_index!(ia, ii);
                        set!(u16at!(1), *heap::fields(arr).add(i as usize));
                        next!(7);
                    }
                    prim::ASET => {
                        let (ia, ii) = (u16at!(1), u16at!(3));
                        let (arr, i) = checked_index!(ia, ii);
                        *heap::fields(arr).add(i as usize) = slot!(u16at!(5));
                        next!(7);
                    }
                    prim::ALEN => {
                        let a = slot!(u16at!(3));
                        if !(a.tag == Tag::OBJ && ((*a.ptr()).kind == Kind::ARRAY)) {
                            fault!("length of a {}, not an array", self.type_name(a));
                        }
                        set!(u16at!(1), Value::i64(((*a.ptr()).len) as i64));
                        next!(5);
                    }
                    prim::REFNEW | prim::DELAY => {
                        let (kind, tag) = if op == prim::REFNEW {
                            (Kind::REF, 0)
                        } else {
                            (Kind::THUNK, THUNK_PENDING)
                        };
                        let p = vmop!(self.alloc(16, kind, tag, 0, 1));
                        *heap::fields(p) = slot!(u16at!(3));
                        set!(u16at!(1), Value::obj(p));
                        next!(5);
                    }
                    prim::REFGET => {
                        let r = slot!(u16at!(3));
                        if !(r.tag == Tag::OBJ && ((*r.ptr()).kind == Kind::REF)) {
                            fault!("refget of a {}", self.type_name(r));
                        }
                        set!(u16at!(1), *heap::fields(r.ptr()));
                        next!(5);
                    }
                    prim::REFSET => {
                        let r = slot!(u16at!(1));
                        if !(r.tag == Tag::OBJ && ((*r.ptr()).kind == Kind::REF)) {
                            fault!("refset of a {}", self.type_name(r));
                        }
                        *heap::fields(r.ptr()) = slot!(u16at!(3));
                        next!(5);
                    }
                    prim::FORCE => {
                        let d = u16at!(1);
                        let v = slot!(u16at!(3));
                        if !(v.tag == Tag::OBJ && ((*v.ptr()).kind == Kind::THUNK)) {
                            set!(d, v);
                            next!(5);
                            continue;
                        }
                        let h = v.ptr();
                        match (*h).tag {
                            THUNK_DONE => {
                                set!(d, *heap::fields(h));
                                next!(5);
                            }
                            THUNK_RUNNING => {
                                fault!("thunk forced while it is being computed (infinite loop)")
                            }
                            _ => {
                                next!(5);
                                save_resume!();
                                (*h).tag = THUNK_RUNNING;
                                let f = *heap::fields(h);
                                let fr = *self.frames.last().unwrap();
                                let p = cur_base + ((*funcs.add(fr.func as usize)).nslots) as usize;
                                tri!(self.reserve_frame());
                                self.frames.push(Frame {
                                    func: 0,
                                    ip: 0,
                                    base: p as u32,
                                    ret: d as u16,
                                    kind: FrameKind::FORCE,
                                    pad: 0,
                                    closure: v,
                                });
                                match self.apply(f, p, 0, 0) {
                                    Ok(Called::Pushed) => reload!(),
                                    Ok(Called::Value(r)) => {
                                        if let Some(v) = tri!(self.deliver(0, r)) {
                                            return Ok(v);
                                        }
                                        reload!();
                                    }
                                    Err(e) => {
                                        self.frames.pop();
                                        return Err(e);
                                    }
                                }
                            }
                        }
                    }
                    prim::EQ | prim::NE | prim::LT | prim::LE | prim::CMP => {
                        let a = slot!(u16at!(3));
                        let b = slot!(u16at!(5));
                        save_ip!();
                        let r = match op {
                            prim::EQ => Value::bool(tri!(self.equal(a, b))),
                            prim::NE => Value::bool(!tri!(self.equal(a, b))),
                            _ => {
                                let c = tri!(self.compare(a, b));
                                match op {
                                    prim::LT => Value::bool(c == Some(std::cmp::Ordering::Less)),
                                    prim::LE => Value::bool(matches!(
                                        c,
                                        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                                    )),
                                    _ => Value::i64(match c {
                                        Some(std::cmp::Ordering::Less) => -1,
                                        Some(std::cmp::Ordering::Equal) => 0,
                                        Some(std::cmp::Ordering::Greater) => 1,
                                        None => fault!("cannot order NaN"),
                                    }),
                                }
                            }
                        };
                        set!(u16at!(1), r);
                        next!(7);
                    }
                    prim::NOT => {
                        let v = slot!(u16at!(3));
                        if v.tag != Tag::BOOL {
                            fault!("not of a {}", self.type_name(v));
                        }
                        set!(u16at!(1), Value::bool(v.bits == 0));
                        next!(5);
                    }
                    prim::TOSTR => {
                        let v = slot!(u16at!(3));
                        let s = vmop!(self.display_checked(v));
                        let r = vmop!(self.new_str(&s));
                        set!(u16at!(1), r);
                        next!(5);
                    }
                    prim::SCAT => {
                        let a = slot!(u16at!(3));
                        let b = slot!(u16at!(5));
                        if !(is_str(a) && is_str(b)) {
                            fault!(
                                "string concatenation of {} and {}",
                                self.type_name(a),
                                self.type_name(b)
                            );
                        }
                        let (la, lb) = ((*a.ptr()).len as usize, (*b.ptr()).len as usize);
                        let p = vmop!(self.alloc(la + lb, Kind::STR, 0, 0, (la + lb) as u64));
                        // Re-read the operands: the allocation may have moved them.
                        let a = slot!(u16at!(3));
                        let b = slot!(u16at!(5));
                        {
                            let dst = (p as *mut u8).add(16);
                            std::ptr::copy_nonoverlapping((a.ptr() as *const u8).add(16), dst, la);
                            std::ptr::copy_nonoverlapping(
                                (b.ptr() as *const u8).add(16),
                                dst.add(la),
                                lb,
                            );
                        }
                        set!(u16at!(1), Value::obj(p));
                        next!(7);
                    }
                    prim::PRINT => {
                        let v = slot!(u16at!(1));
                        if !is_str(v) {
                            fault!("print of a {}, not a str", self.type_name(v));
                        }
                        use std::io::Write;
                        let _ = self.out.write_all(heap::bytes(v.ptr()));
                        next!(3);
                    }
                    prim::JEQCHAR | prim::JNECHAR => {
                        let v = slot!(u16at!(1));
                        if v.tag != Tag::CHAR {
                            fault!("char comparison on a {}", self.type_name(v));
                        }
                        if (v.bits == i32at!(3) as u32 as u64) == (op == prim::JEQCHAR) {
                            jump!(i32at!(7));
                        } else {
                            next!(11);
                        }
                    }

                    // ---------------------------------------------------- i64
                    prim::ADD_I64 => arith!(Tag::I64, "add.i64", |a, b| a.wrapping_add(b)),
                    prim::SUB_I64 => arith!(Tag::I64, "sub.i64", |a, b| a.wrapping_sub(b)),
                    prim::MUL_I64 => arith!(Tag::I64, "mul.i64", |a, b| (a as i64)
                        .wrapping_mul(b as i64)
                        as u64),
                    prim::DIV_I64 | prim::REM_I64 => {
                        let (a, b) = typed2!(Tag::I64, "div.i64", u16at!(3), u16at!(5));
                        if b == 0 {
                            fault!("division by zero");
                        }
                        let r = if op == prim::DIV_I64 {
                            (a as i64).wrapping_div(b as i64)
                        } else {
                            (a as i64).wrapping_rem(b as i64)
                        };
                        set!(u16at!(1), Value::i64(r));
                        next!(7);
                    }
                    prim::NEG_I64 => {
                        unop!(Tag::I64, "neg.i64", |a| (a as i64).wrapping_neg() as u64)
                    }
                    prim::AND_I64 => arith!(Tag::I64, "and.i64", |a, b| a & b),
                    prim::OR_I64 => arith!(Tag::I64, "or.i64", |a, b| a | b),
                    prim::XOR_I64 => arith!(Tag::I64, "xor.i64", |a, b| a ^ b),
                    prim::SHL_I64 => arith!(Tag::I64, "shl.i64", |a, b| a << (b & 63)),
                    prim::SHR_I64 => {
                        arith!(Tag::I64, "shr.i64", |a, b| ((a as i64) >> (b & 63)) as u64)
                    }
                    prim::BNOT_I64 => unop!(Tag::I64, "bnot.i64", |a| !a),
                    prim::ADDI_I64 | prim::SUBI_I64 | prim::MULI_I64 => {
                        let ia = u16at!(3);
                        if tag_of!(ia) != Tag::I64 {
                            save_ip!();
                            return Err(self.operand_fault(
                                "integer arithmetic",
                                Tag::I64,
                                slot!(ia),
                                None,
                            ));
                        }
                        let k = i32at!(5) as i64;
                        let a = bits_of!(ia) as i64;
                        let r = match op {
                            prim::ADDI_I64 => a.wrapping_add(k),
                            prim::SUBI_I64 => a.wrapping_sub(k),
                            _ => a.wrapping_mul(k),
                        };
                        put!(u16at!(1), r as u64, Tag::I64);
                        next!(9);
                    }
                    prim::EQ_I64 => cmpop!(Tag::I64, "eq.i64", |a, b| a == b),
                    prim::NE_I64 => cmpop!(Tag::I64, "ne.i64", |a, b| a != b),
                    prim::LT_I64 => cmpop!(Tag::I64, "lt.i64", |a, b| (a as i64) < (b as i64)),
                    prim::LE_I64 => cmpop!(Tag::I64, "le.i64", |a, b| (a as i64) <= (b as i64)),
                    prim::JLT_I64 => jcmp!(Tag::I64, "jlt.i64", |a, b| (a as i64) < (b as i64)),
                    prim::JLE_I64 => jcmp!(Tag::I64, "jle.i64", |a, b| (a as i64) <= (b as i64)),
                    prim::JGT_I64 => jcmp!(Tag::I64, "jgt.i64", |a, b| (a as i64) > (b as i64)),
                    prim::JGE_I64 => jcmp!(Tag::I64, "jge.i64", |a, b| (a as i64) >= (b as i64)),
                    prim::JEQ_I64 => jcmp!(Tag::I64, "jeq.i64", |a, b| a == b),
                    prim::JNE_I64 => jcmp!(Tag::I64, "jne.i64", |a, b| a != b),
                    prim::JLTI_I64 => jcmpi!(|a, b| a < b),
                    prim::JLEI_I64 => jcmpi!(|a, b| a <= b),
                    prim::JGTI_I64 => jcmpi!(|a, b| a > b),
                    prim::JGEI_I64 => jcmpi!(|a, b| a >= b),
                    prim::JEQI_I64 => jcmpi!(|a, b| a == b),
                    prim::JNEI_I64 => jcmpi!(|a, b| a != b),

                    // ---------------------------------------------------- u64
                    prim::ADD_U64 => arith!(Tag::U64, "add.u64", |a, b| a.wrapping_add(b)),
                    prim::SUB_U64 => arith!(Tag::U64, "sub.u64", |a, b| a.wrapping_sub(b)),
                    prim::MUL_U64 => arith!(Tag::U64, "mul.u64", |a, b| a.wrapping_mul(b)),
                    prim::DIV_U64 | prim::REM_U64 => {
                        let (a, b) = typed2!(Tag::U64, "div.u64", u16at!(3), u16at!(5));
                        if b == 0 {
                            fault!("division by zero");
                        }
                        set!(
                            u16at!(1),
                            Value::u64(if op == prim::DIV_U64 { a / b } else { a % b })
                        );
                        next!(7);
                    }
                    prim::NEG_U64 => unop!(Tag::U64, "neg.u64", |a| a.wrapping_neg()),
                    prim::AND_U64 => arith!(Tag::U64, "and.u64", |a, b| a & b),
                    prim::OR_U64 => arith!(Tag::U64, "or.u64", |a, b| a | b),
                    prim::XOR_U64 => arith!(Tag::U64, "xor.u64", |a, b| a ^ b),
                    prim::SHL_U64 => arith!(Tag::U64, "shl.u64", |a, b| a << (b & 63)),
                    prim::SHR_U64 => arith!(Tag::U64, "shr.u64", |a, b| a >> (b & 63)),
                    prim::BNOT_U64 => unop!(Tag::U64, "bnot.u64", |a| !a),
                    prim::EQ_U64 => cmpop!(Tag::U64, "eq.u64", |a, b| a == b),
                    prim::NE_U64 => cmpop!(Tag::U64, "ne.u64", |a, b| a != b),
                    prim::LT_U64 => cmpop!(Tag::U64, "lt.u64", |a, b| a < b),
                    prim::LE_U64 => cmpop!(Tag::U64, "le.u64", |a, b| a <= b),
                    prim::JLT_U64 => jcmp!(Tag::U64, "jlt.u64", |a, b| a < b),
                    prim::JLE_U64 => jcmp!(Tag::U64, "jle.u64", |a, b| a <= b),
                    prim::JGT_U64 => jcmp!(Tag::U64, "jgt.u64", |a, b| a > b),
                    prim::JGE_U64 => jcmp!(Tag::U64, "jge.u64", |a, b| a >= b),

                    // ---------------------------------------------------- f64
                    prim::ADD_F64 => arith!(Tag::F64, "add.f64", |a, b| (f64::from_bits(a)
                        + f64::from_bits(b))
                    .to_bits()),
                    prim::SUB_F64 => arith!(Tag::F64, "sub.f64", |a, b| (f64::from_bits(a)
                        - f64::from_bits(b))
                    .to_bits()),
                    prim::MUL_F64 => arith!(Tag::F64, "mul.f64", |a, b| (f64::from_bits(a)
                        * f64::from_bits(b))
                    .to_bits()),
                    prim::DIV_F64 => arith!(Tag::F64, "div.f64", |a, b| (f64::from_bits(a)
                        / f64::from_bits(b))
                    .to_bits()),
                    prim::REM_F64 => arith!(Tag::F64, "rem.f64", |a, b| (f64::from_bits(a)
                        % f64::from_bits(b))
                    .to_bits()),
                    prim::NEG_F64 => unop!(Tag::F64, "neg.f64", |a| (-f64::from_bits(a)).to_bits()),
                    prim::EQ_F64 => cmpop!(Tag::F64, "eq.f64", |a, b| f64::from_bits(a)
                        == f64::from_bits(b)),
                    prim::NE_F64 => cmpop!(Tag::F64, "ne.f64", |a, b| f64::from_bits(a)
                        != f64::from_bits(b)),
                    prim::LT_F64 => cmpop!(Tag::F64, "lt.f64", |a, b| f64::from_bits(a)
                        < f64::from_bits(b)),
                    prim::LE_F64 => cmpop!(Tag::F64, "le.f64", |a, b| f64::from_bits(a)
                        <= f64::from_bits(b)),
                    prim::JLT_F64 => jcmp!(Tag::F64, "jlt.f64", |a, b| f64::from_bits(a)
                        < f64::from_bits(b)),
                    prim::JLE_F64 => jcmp!(Tag::F64, "jle.f64", |a, b| f64::from_bits(a)
                        <= f64::from_bits(b)),
                    prim::JNLT_F64 => jcmp!(Tag::F64, "jnlt.f64", |a, b| !(f64::from_bits(a)
                        < f64::from_bits(b))),
                    prim::JNLE_F64 => jcmp!(Tag::F64, "jnle.f64", |a, b| !(f64::from_bits(a)
                        <= f64::from_bits(b))),
                    prim::JEQ_F64 => jcmp!(Tag::F64, "jeq.f64", |a, b| f64::from_bits(a)
                        == f64::from_bits(b)),
                    prim::JNE_F64 => jcmp!(Tag::F64, "jne.f64", |a, b| f64::from_bits(a)
                        != f64::from_bits(b)),

                    prim::ADDK_F64
                    | prim::SUBK_F64
                    | prim::MULK_F64
                    | prim::DIVK_F64
                    | prim::RSUBK_F64
                    | prim::RDIVK_F64 => {
                        let ia = u16at!(3);
                        if tag_of!(ia) != Tag::F64 {
                            save_ip!();
                            return Err(self.operand_fault(
                                "float arithmetic",
                                Tag::F64,
                                slot!(ia),
                                None,
                            ));
                        }
                        let x = f64::from_bits(bits_of!(ia));
                        let k = f64::from_bits(i64at!(5) as u64);
                        let r = match op {
                            prim::ADDK_F64 => x + k,
                            prim::SUBK_F64 => x - k,
                            prim::MULK_F64 => x * k,
                            prim::DIVK_F64 => x / k,
                            prim::RSUBK_F64 => k - x,
                            _ => k / x,
                        };
                        put!(u16at!(1), r.to_bits(), Tag::F64);
                        next!(13);
                    }

                    // ---------------------------------------------------- extensions
                    EXT_NUM | EXT_SYS => {
                        let sub = *ip.add(1);
                        // Inline fast paths for the conversions and the square root that
                        // numeric loops use; everything else goes through `ops`.
                        if op == EXT_NUM {
                            let (id, is) = (u16at!(2), u16at!(4));
                            match sub {
                                ext_num::I64_TO_F64 if tag_of!(is) == Tag::I64 => {
                                    put!(id, (bits_of!(is) as i64 as f64).to_bits(), Tag::F64);
                                    next!(6);
                                    continue;
                                }
                                ext_num::F64_TO_I64 if tag_of!(is) == Tag::F64 => {
                                    put!(id, f64::from_bits(bits_of!(is)) as i64 as u64, Tag::I64);
                                    next!(6);
                                    continue;
                                }
                                ext_num::F64_SQRT if tag_of!(is) == Tag::F64 => {
                                    put!(
                                        id,
                                        f64::from_bits(bits_of!(is)).sqrt().to_bits(),
                                        Tag::F64
                                    );
                                    next!(6);
                                    continue;
                                }
                                _ => {}
                            }
                        }
                        let nops = crate::ops::ext_arity(op, sub);
                        let mut o = [0usize; 4];
                        for (i, slot) in o.iter_mut().enumerate().take(nops) {
                            *slot = u16at!(2 + 2 * i);
                        }
                        if op == EXT_SYS
                            && matches!(
                                sub,
                                ext_sys::LIST_MAP | ext_sys::LIST_FILTER | ext_sys::LIST_FOLDR
                            )
                        {
                            match callop!(2 + 2 * nops, self.list_op(sub, cur_base, &o)) {
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
                        next!(2 + 2 * nops);
                    }
                    _ => fault!("invalid opcode 0x{op:02x}"),
                }
            }
        }
    }
}

impl Vm {
    /// The fault of a typed instruction given operands of the wrong type (cold, so the
    /// message formatting stays out of the dispatch loop).
    #[cold]
    #[inline(never)]
    fn operand_fault(&self, name: &str, tag: u32, a: Value, b: Option<Value>) -> Trap {
        let t = tyname(tag);
        let msg = match b {
            Some(b) => format!(
                "{name} expects two {t} operands, got {} and {}",
                self.type_name(a),
                self.type_name(b)
            ),
            None if name.contains(' ') => {
                let art = if t.starts_with(['a', 'e', 'f', 'i', 'o']) {
                    "an"
                } else {
                    "a"
                };
                format!("{name} expects {art} {t}, got {}", self.type_name(a))
            }
            None => format!("{name} expects a {t} operand, got {}", self.type_name(a)),
        };
        self.error_plain(msg)
    }

    /// Rebuilds an error's stack trace from the current (corrected) frame ips.
    #[cold]
    fn retrace(&self, t: Trap) -> Trap {
        match t {
            Trap::Error(mut e) => {
                e.trace = self.trace();
                Trap::Error(e)
            }
            other => other,
        }
    }
}

/// The constructor index of a sum, tuple or list value.
#[inline(always)]
fn ctor_index(v: Value) -> Option<usize> {
    if v.tag == Tag::CTOR0 {
        Some(v.bits as usize)
    } else if v.tag == Tag::OBJ && unsafe { (*v.ptr()).kind == Kind::DATA } {
        Some(unsafe { (*v.ptr()).tag } as usize)
    } else {
        None
    }
}

#[inline(always)]
fn is_list(v: Value) -> bool {
    (v.tag == Tag::CTOR0 && v.aux == builtin::LIST)
        || (v.tag == Tag::OBJ
            && unsafe { (*v.ptr()).kind == Kind::DATA && (*v.ptr()).meta == builtin::LIST })
}

#[inline(always)]
pub(crate) fn is_str(v: Value) -> bool {
    v.tag == Tag::OBJ && unsafe { (*v.ptr()).kind == Kind::STR }
}

/// The name of an immediate tag, for fault messages.
pub(crate) fn tyname(tag: u32) -> &'static str {
    match tag {
        Tag::UNIT => "()",
        Tag::BOOL => "bool",
        Tag::I64 => "i64",
        Tag::U64 => "u64",
        Tag::F64 => "f64",
        Tag::CHAR => "char",
        Tag::CTOR0 => "constructor",
        Tag::FUNC => "function",
        _ => "object",
    }
}

#[allow(unused_imports)]
use {ext_num as _, ext_sys as _};
