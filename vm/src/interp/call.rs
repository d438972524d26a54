//! Calls and returns outside the dispatch loop: growing the value stack, pushing
//! frames (the one place that does), applying a function value to arguments (exact,
//! partial and over-application), tail calls other than self tail calls, forcing a
//! pending thunk, delivering a result to a continuation frame, and [`Vm::call`] with
//! `execute`, the host's way in.

use super::*;

/// The function a callee value runs: a FUNC value's (the low 32 bits of its payload)
/// or a closure object's (its header's meta word); `None` for any other value (a
/// partial application, a value that is no function). One definition for `apply` and
/// the interpreter's fast path of `call`.
///
/// # Safety
/// `tag` and `bits` are a valid value's: an OBJ payload points at a live object.
#[inline(always)]
pub(super) unsafe fn callee_function(tag: u32, bits: u64) -> Option<u32> {
    if tag == Tag::FUNC {
        Some(bits as u32)
    } else if tag == Tag::OBJ {
        let h = bits as *const heap::Header;
        // SAFETY: per the contract, `h` is a live object's header.
        unsafe { ((*h).kind == Kind::CLOSURE).then(|| (*h).meta) }
    } else {
        None
    }
}

/// Why a push for the dispatch loop ([`Vm::push_frame_entering`]) did not simply
/// leave the callee's frame on top to continue in.
pub(crate) enum PushStop {
    /// A fault (stack overflow, an interrupt): the caller returns it.
    Trap(Trap),
    /// The frame is pushed, and the callee's entry counter fired: a JIT request may be
    /// queued for it (`Vm::jit_request`).
    Fired,
}

/// The record of a NORMAL frame for `func` at absolute stack index `base`, returning
/// into slot `ret` of its caller, starting at ip 0.
#[inline(always)]
fn normal_frame(func: u32, base: usize, ret: u16, closure: Value) -> Frame {
    Frame {
        func,
        ip: 0,
        base: base as u32,
        ret,
        kind: FrameKind::NORMAL,
        pad: 0,
        closure,
    }
}

impl Vm {
    /// Runs from the top frame until a value reaches a HOST frame, switching between
    /// the normal and the recording instance of the interpreter as the JIT asks.
    pub(super) fn execute(&mut self) -> Result<Value, Trap> {
        loop {
            let r = if self.recording.is_some() {
                // Recording is rare and slow: its instance always counts.
                self.run::<true, true>()
            } else if self.count_insns {
                self.run::<false, true>()
            } else {
                self.run::<false, false>()
            };
            match r {
                Ok(Some(v)) => {
                    self.cancel_recording();
                    return Ok(v);
                }
                Ok(None) => {}
                Err(e) => {
                    self.cancel_recording();
                    return Err(e);
                }
            }
        }
    }

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
        self.sync_jit_state();
        Ok(())
    }

    /// Pushes any frame, `filled` of whose slots the caller has already written (see
    /// [`crate::frames`]: every other slot the collector will scan is cleared); grows
    /// the value stack if needed, fails with "stack overflow" past the frame limit.
    #[inline(always)]
    pub(crate) fn enter(&mut self, fr: Frame, filled: usize) -> Result<(), Trap> {
        match self.try_push(fr, filled) {
            Ok(()) => Ok(()),
            Err(why) => self.enter_slow(fr, filled, why),
        }
    }

    /// One attempt at the push, without growing anything.
    #[inline(always)]
    fn try_push(&mut self, fr: Frame, filled: usize) -> Result<(), PushFailed> {
        self.frames.push(&mut self.stack, &self.funcs, fr, filled)
    }

    #[cold]
    #[inline(never)]
    pub(super) fn enter_slow(
        &mut self,
        fr: Frame,
        filled: usize,
        mut why: PushFailed,
    ) -> Result<(), Trap> {
        // At most one growth of each kind, then the push fits or the limit is reached.
        for _ in 0..3 {
            match why {
                PushFailed::Frames => {
                    if !self.frames.grow() {
                        return Err(self.error_plain("out of memory (the frame stack)"));
                    }
                    self.sync_jit_state();
                }
                PushFailed::Stack(n) => self.grow_stack(n)?,
                PushFailed::Depth => break,
            }
            match self.try_push(fr, filled) {
                Ok(()) => return Ok(()),
                Err(w) => why = w,
            }
        }
        Err(self.error_plain(format!(
            "stack overflow: more than {} nested calls",
            self.config.max_frames
        )))
    }

    /// Pushes a NORMAL frame for `func` at absolute stack index `base`, with `n`
    /// arguments already in place, and counts the call for the JIT hook. A request
    /// the count queues stays queued for the caller's next `reload!`.
    #[inline(always)]
    pub(crate) fn push_frame(
        &mut self,
        func: u32,
        base: usize,
        n: usize,
        ret: u16,
        closure: Value,
    ) -> Result<(), Trap> {
        match self.push_frame_entering(func, base, n, ret, closure) {
            Ok(()) | Err(PushStop::Fired) => Ok(()),
            Err(PushStop::Trap(e)) => Err(e),
        }
    }

    /// [`Vm::push_frame`] for the dispatch loop, which enters the callee without
    /// reading the new record back: `Err(PushStop::Fired)` when the callee's entry
    /// counter fired, the one case in which a JIT request can have been queued. The
    /// loop tests for a request only then, on the failure path of the test it makes
    /// anyway, rather than testing `jit_request` after every push (two instructions
    /// per call).
    #[inline(always)]
    pub(crate) fn push_frame_entering(
        &mut self,
        func: u32,
        base: usize,
        n: usize,
        ret: u16,
        closure: Value,
    ) -> Result<(), PushStop> {
        let fr = normal_frame(func, base, ret, closure);
        // Not `enter`: its cold path takes the record by value, which made every call
        // build a copy of it in the dispatch loop's stack frame (seven stores) besides
        // the record itself; the cold path here rebuilds it from the scalars.
        if let Err(why) = self.try_push(fr, n) {
            self.push_frame_slow(func, base, n, ret, closure, why)
                .map_err(PushStop::Trap)?;
        }
        self.count_call(func)
    }

    /// Counts a call of `func` whose frame was just pushed, for the JIT hook: fires it
    /// when the function's counter expires.
    #[inline(always)]
    fn count_call(&mut self, func: u32) -> Result<(), PushStop> {
        // SAFETY: `hot_calls` has one slot per function, and the push (`try_push` or its
        // slow path) has just read `func`'s frame size (the index is valid).
        // An anchor with a trace keeps its counter at 1, so this one test covers both.
        let c = unsafe { self.hot_calls.get_unchecked_mut(func as usize) };
        c.count -= 1;
        if c.count == 0 {
            return Err(self.fire_hot_call_entering(func));
        }
        Ok(())
    }

    /// [`Vm::fire_hot_call`] as [`Vm::count_call`]'s cold path: its interrupt poll's
    /// trap, or `Fired`.
    #[cold]
    #[inline(never)]
    fn fire_hot_call_entering(&mut self, func: u32) -> PushStop {
        match self.fire_hot_call(func) {
            Ok(()) => PushStop::Fired,
            Err(e) => PushStop::Trap(e),
        }
    }

    /// [`Vm::push_frame_entering`] for a `callk` of the known function `func`, whose
    /// closure is `Value::func(func)`. Not `push_frame` with that value: its cold path
    /// takes the closure as an argument, so every call spilled the 16-byte value to the
    /// dispatch loop's stack frame (two stores) for a path that almost never runs; here
    /// the cold path rebuilds the closure from `func` itself.
    #[inline(always)]
    pub(crate) fn push_known_frame(
        &mut self,
        func: u32,
        base: usize,
        n: usize,
        ret: u16,
    ) -> Result<(), PushStop> {
        let fr = normal_frame(func, base, ret, Value::func(func));
        if let Err(why) = self.try_push(fr, n) {
            self.push_known_frame_slow(func, base, n, ret, why)
                .map_err(PushStop::Trap)?;
        }
        self.count_call(func)
    }

    /// [`Vm::push_known_frame`]'s push when the first attempt did not fit (`why`).
    #[cold]
    #[inline(never)]
    fn push_known_frame_slow(
        &mut self,
        func: u32,
        base: usize,
        n: usize,
        ret: u16,
        why: PushFailed,
    ) -> Result<(), Trap> {
        self.push_frame_slow(func, base, n, ret, Value::func(func), why)
    }

    /// [`Vm::push_frame`]'s push when the first attempt did not fit (`why`), with the
    /// record rebuilt here from what the call knows.
    #[cold]
    #[inline(never)]
    fn push_frame_slow(
        &mut self,
        func: u32,
        base: usize,
        n: usize,
        ret: u16,
        closure: Value,
        why: PushFailed,
    ) -> Result<(), Trap> {
        let fr = normal_frame(func, base, ret, closure);
        self.enter_slow(fr, n, why)
    }

    /// A tail call of the known function `func` from the frame at `b` (the running one),
    /// with its `n` arguments at slots `a0..a0 + n`, done in place when it can be: the
    /// arguments move down, the running frame's record becomes the callee's (same base,
    /// same result slot, same depth) and the callee's other slots are cleared, as
    /// [`Vm::tail_call`]'s pop and push would leave them. `false`, having changed
    /// nothing, when the callee's frame needs more stack or its entry counter would
    /// expire (the firing, and growth, stay on `tail_call`'s path). Out of line, the pop
    /// and push cost about 60 instructions per `tcallk` (awfy_storage's closures,
    /// pmap's helpers: 3-5% of their dispatches).
    ///
    /// # Safety
    /// `func` is a function index of the program (verified code's), the frame at `b` is
    /// the live innermost NORMAL frame, and `a0..a0 + n` lies inside it (verified).
    #[inline(always)]
    pub(super) unsafe fn replace_frame(
        &mut self,
        func: u32,
        b: usize,
        a0: usize,
        n: usize,
    ) -> bool {
        // SAFETY: the caller's contract: `func` indexes both tables.
        let (nslots, c) = unsafe {
            (
                self.funcs.get_unchecked(func as usize).nslots as usize,
                self.hot_calls.get_unchecked_mut(func as usize),
            )
        };
        if c.count <= 1 || b + nslots > self.stack.len() {
            return false;
        }
        c.count -= 1;
        // SAFETY: the caller's contract: a live frame at `b` whose slots (and the window
        // in them) exist; the callee's extent fits the stack (checked above). The
        // result slot is the replaced frame's.
        unsafe {
            if a0 != 0 {
                let base = self.stack.as_mut_ptr().add(b);
                std::ptr::copy(base.add(a0), base, n);
            }
            let ret = self.frames.top().ret;
            let fr = normal_frame(func, b, ret, Value::func(func));
            self.frames.replace_top(&mut self.stack, &self.funcs, fr, n);
        }
        true
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
            // SAFETY: `f` is a valid value (its OBJ payload points at a live object).
            let known = unsafe { callee_function(f.tag, f.bits) };
            // SAFETY: as above; read only for an OBJ value.
            let pap = f.tag == Tag::OBJ && unsafe { (*f.ptr()).kind } == Kind::PAP;
            let func = if let Some(func) = known {
                func
            } else if pap {
                let h = f.ptr();
                // Prepend the stored arguments.
                // SAFETY: a PAP holds its function and at least one argument, so len >= 1.
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
            } else {
                return Err(
                    self.error_plain(format!("cannot call a value of type {}", self.type_name(f)))
                );
            };
            let closure = f;
            // A FUNC value made outside the machine may name no function (`Vm::call`
            // checks its own arguments, not values inside objects).
            let Some(info) = self.funcs.get(func as usize) else {
                return Err(
                    self.error_plain(format!("call of a function {func} that does not exist"))
                );
            };
            let arity = info.arity as usize;
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
            // The arguments fill the window from `p`: the call's own `arity` and the
            // `n - arity` extra (now also in `rest`).
            self.enter(
                Frame {
                    func: 0,
                    ip: 0,
                    base: p as u32,
                    ret,
                    kind: FrameKind::APPLY_REST,
                    pad: 0,
                    closure: rest,
                },
                n,
            )?;
            self.push_frame(func, p, arity, 0, closure)?;
            self.scratch_top = 0;
            return Ok(Called::Pushed);
        }
    }

    /// `tcallk` (`known`: `target` is a function constant) or `tcall`: the `n`
    /// arguments at slot `a0` of the frame at `b` move down to its base, the frame is
    /// popped and the callee runs in its place, returning to its caller. `Ok(None)`:
    /// continue in the new top frame; `Ok(Some(v))`: `v` reached the host. On a fault
    /// the popped frame is put back (cleared) so that the trace names the caller.
    #[inline(always)]
    pub(super) fn tail_call(
        &mut self,
        known: bool,
        target: Value,
        b: usize,
        a0: usize,
        n: usize,
    ) -> Result<Option<Value>, Trap> {
        // A window at 0 (hashc's usual tail call) is already in place.
        if a0 != 0 {
            // SAFETY: the verifier checked that the argument window `a0..a0 + n` lies
            // in the frame at `b`, whose slots exist in the stack.
            unsafe {
                let base = self.stack.as_mut_ptr().add(b);
                std::ptr::copy(base.add(a0), base, n);
            }
        }
        // There is always a frame below a NORMAL frame (at least the host's).
        let fr = self.frames.pop().unwrap();
        self.scratch_top = b + n;
        let r = if known {
            self.push_frame(target.bits as u32, b, n, fr.ret, target)
                .map(|_| Called::Pushed)
        } else {
            self.apply(target, b, n, fr.ret)
        };
        self.scratch_top = 0;
        match r {
            Ok(Called::Pushed) => Ok(None),
            Ok(Called::Value(v)) => self.deliver(fr.ret, v),
            Err(e) => {
                // Its slots are dead (and may have gone stale while it was off the
                // stack): it is pushed cleared.
                let _ = self.enter(fr, 0);
                Err(self.retrace(e))
            }
        }
    }

    /// `force` of the pending thunk `v` from the frame at `b` (whose saved ip is the
    /// resume point): marks it running and calls its function under a FORCE frame,
    /// which stores the result in the thunk and in slot `d`. `Ok(None)`: continue in
    /// the new top frame; `Ok(Some(v))`: `v` reached the host.
    pub(super) fn force_thunk(
        &mut self,
        v: Value,
        d: usize,
        b: usize,
    ) -> Result<Option<Value>, Trap> {
        let h = v.ptr();
        // SAFETY: `v` is a THUNK object (the caller checked), live, with one field.
        let f = unsafe {
            (*h).tag = THUNK_RUNNING;
            *heap::fields(h)
        };
        let fr = *self.frames.last().unwrap();
        let p = b + self.funcs[fr.func as usize].nslots as usize;
        let r = self.enter(
            Frame {
                func: 0,
                ip: 0,
                base: p as u32,
                ret: d as u16,
                kind: FrameKind::FORCE,
                pad: 0,
                closure: v,
            },
            0,
        );
        if let Err(e) = r {
            // SAFETY: as above (pushing a frame allocates no object: `h` is unmoved).
            unsafe { (*h).tag = THUNK_PENDING };
            return Err(e);
        }
        match self.apply(f, p, 0, 0) {
            Ok(Called::Pushed) => Ok(None),
            Ok(Called::Value(r)) => self.deliver(0, r),
            Err(e) => {
                self.frames.pop();
                Err(e)
            }
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
                        self.heap.store(h, 0, v);
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

    /// Whether a value handed in by Rust code can belong to this machine: a function
    /// index in range, an object in the current heap space. (A defence at the API's
    /// edge, not a proof: see [`Vm::call`].)
    /// Element `i` of the array `a` (for a recorder deciding the type of what `aget`
    /// reads); `None` when `a` is not a live array of this machine or `i` is out of
    /// range.
    pub fn array_element(&self, a: Value, i: i64) -> Option<Value> {
        if a.tag != Tag::OBJ || !self.is_valid(a) {
            return None;
        }
        let h = a.ptr();
        // SAFETY: `is_valid` checked that `h` is inside the current heap space, where
        // every object starts with a header; the kind and length are checked before
        // the element is read.
        unsafe {
            if (*h).kind != Kind::ARRAY || i < 0 || i as u64 >= (*h).len {
                return None;
            }
            Some(heap::array_get(heap::array_target(h), i as usize))
        }
    }

    pub(crate) fn is_valid(&self, v: Value) -> bool {
        match v.tag {
            Tag::FUNC => v.bits < self.funcs.len() as u64,
            Tag::OBJ => self.heap.contains(v.ptr()),
            t => t < Tag::OBJ || t == Tag::PTR,
        }
    }

    /// Calls the function value `f` with `args` and runs it to completion: the entry
    /// point for Rust callers (program start, `#run`, the REPL).
    ///
    /// `f` and `args` come from this machine: values it returned, its globals, or
    /// values built by its constructors. A function index out of range is an error;
    /// so is an object outside the current heap space, which catches most values held
    /// in Rust across an allocation (a collection moves objects: re-read such values,
    /// e.g. from a global, after any call that can allocate).
    pub fn call(&mut self, f: Value, args: &[Value]) -> Result<Value, Trap> {
        for &v in std::iter::once(&f).chain(args) {
            if !self.is_valid(v) {
                return Err(self.error_plain(format!(
                    "a value passed to Vm::call is not valid in this machine: {v:?}"
                )));
            }
        }
        let p = self.live_top();
        let need = p + args.len().max(SCRATCH_SLOTS) + 1;
        if need > self.stack.len() {
            self.grow_stack(need)?;
        }
        // The host frame's scratch slots count as live for the collector
        // (`live_top`): clear those the arguments do not fill, as `push_frame` does for
        // a frame's slots. Left over from an earlier call, they may point at objects
        // that died in a collection run while no frame covered them (the REPL builds
        // new constants between calls, `Vm::link_in`), and the collector would follow
        // them.
        for v in &mut self.stack[p + args.len()..p + SCRATCH_SLOTS.max(args.len())] {
            *v = Value::UNIT;
        }
        self.enter(
            Frame {
                func: 0,
                ip: 0,
                base: p as u32,
                ret: 0,
                kind: FrameKind::HOST,
                pad: 0,
                closure: Value::UNIT,
            },
            0,
        )?;
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
}
