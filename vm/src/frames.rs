//! The frame stack, and the one way to push a frame.
//!
//! The collector scans, for every frame, the stack slots the frame owns from its base
//! (its *extent*: the function's frame size for a NORMAL frame, [`SCRATCH_SLOTS`] for
//! a continuation frame). A slot above every frame is dead and is not forwarded by a
//! collection, so it may hold a pointer into a space that no longer exists; if a frame
//! is then pushed over it without clearing it, the next collection reads that dangling
//! pointer as a root. (Issue 11: `force`, over-application and host calls made that
//! mistake.) `Frames::push` is therefore the only way to push a frame (and
//! `Frames::replace_top`, a tail call's, the only way to rewrite one): both compute
//! the extent with the same function the collector uses (`extent`) and clear every
//! slot of it that the caller did not fill. The buffer of frames is private to this
//! module, so no other code can push one.

use crate::value::{Tag, Value};
use crate::vm::{Frame, FrameKind, FuncInfo, SCRATCH_SLOTS};

/// The activation records, innermost last, in one buffer addressed by pointers: the
/// innermost record is `top - 1`, so a push, a pop and every read of the innermost
/// frame (each call's saved ip, `ret`'s caller, `getenv`'s closure) use the one word
/// `top` instead of a `Vec`'s base and length (a load, a shift and an add fewer each,
/// and the length's load-modify-store at push and pop becomes the pointer's). A push
/// compares `top` with `limit` once. Read through [`Frames::as_slice`] and the other
/// accessors; pushed only by `Frames::push`.
pub struct Frames {
    /// The buffer's owner: its length stays 0, its capacity is the room for records
    /// (records live in its spare capacity, `base..top`, managed here).
    buf: Vec<Frame>,
    /// The buffer's first record (`buf.as_mut_ptr()`, kept so that every record
    /// pointer derives from a mutable one).
    base: *mut Frame,
    /// One past the innermost live record (`base` when none is live).
    top: *mut Frame,
    /// `base + min(max, capacity)`: the one bound a push compares `top` with (depth and
    /// room as one compare; which of the two was reached is asked only when it is, out
    /// of line).
    limit: *mut Frame,
    /// The configured frame limit (`Config::max_frames`, fixed for the machine's life).
    max: usize,
}

/// The stack slots frame `f` owns from its base: what the collector scans and what
/// [`Frames::push`] initialises.
#[inline(always)]
pub(crate) fn extent(funcs: &[FuncInfo], f: &Frame) -> usize {
    if f.kind == FrameKind::NORMAL {
        // SAFETY: a NORMAL frame's function index was checked before the frame was
        // pushed (verified code, or a closure built from a verified index).
        unsafe { funcs.get_unchecked(f.func as usize) }.nslots as usize
    } else {
        SCRATCH_SLOTS
    }
}

/// Sets the tag of every slot in `start..end` to unit: only the tag matters to the
/// collector, and no slot is read before it is written. Without a loop up to 16 slots
/// (a function's locals beyond its arguments: binary-trees' 3 and 5, spectralnorm's 9,
/// pmap's up to 13), by two groups of stores from both ends that overlap when the range
/// is shorter than both, as small `memset`s are done; longer ranges four at a time.
/// The loop these replace cost 12 instructions per call on binary-trees (its trip
/// count changing with each callee). Nothing outside the range is written: a slot
/// above it may be a continuation frame's scratch slot.
///
/// # Safety
/// `start <= end`, and slots `start..end` from `s` exist.
#[inline(always)]
unsafe fn clear_tags(s: *mut Value, start: usize, end: usize) {
    // SAFETY: this closure is called only below, with indices in `start..end` (for
    // the `k` each branch admits), whose slots exist by the caller's contract.
    let clear = |i: usize| unsafe { (*s.add(i)).tag = Tag::UNIT };
    // Slots `i..i + 4`.
    let clear4 = |i: usize| {
        clear(i);
        clear(i + 1);
        clear(i + 2);
        clear(i + 3);
    };
    let k = end - start;
    if k <= 2 {
        if k > 0 {
            clear(start);
            clear(end - 1);
        }
    } else if k <= 4 {
        clear(start);
        clear(start + 1);
        clear(end - 2);
        clear(end - 1);
    } else if k <= 6 {
        // Not the k <= 8 pair of fours: for 5 slots (binary-trees' item_check, a
        // callee of every other call) that wrote 8 tags, here 6.
        clear(start);
        clear(start + 1);
        clear(start + 2);
        clear(end - 3);
        clear(end - 2);
        clear(end - 1);
    } else if k <= 8 {
        clear4(start);
        clear4(end - 4);
    } else if k <= 16 {
        clear4(start);
        clear4(start + 4);
        clear4(end - 8);
        clear4(end - 4);
    } else {
        let mut i = start;
        while i + 4 <= end {
            clear4(i);
            i += 4;
        }
        clear4(end - 4);
    }
}

// `write_record`'s words follow the record's layout (`#[repr(C)]`): func and ip in
// the first, base, ret, kind and pad in the second, the closure's payload in the
// third, its tag and aux in the fourth.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(Frame, func) == 0 && offset_of!(Frame, ip) == 4);
    assert!(offset_of!(Frame, base) == 8 && offset_of!(Frame, ret) == 12);
    assert!(offset_of!(Frame, kind) == 14 && offset_of!(Frame, pad) == 15);
    assert!(offset_of!(Frame, closure) == 16 && size_of::<Frame>() == 32);
    assert!(offset_of!(Value, bits) == 0 && offset_of!(Value, tag) == 8);
    assert!(offset_of!(Value, aux) == 12 && size_of::<Value>() == 16);
};

/// Writes `fr` at `p` as four 8-byte words, each assembled from its fields in the
/// byte order of the machine (so the bytes in memory are those of the `#[repr(C)]`
/// record on any target): one store per word instead of one per field. Reads of single
/// fields (`ret`, `kind`, `base`, by the interpreter, the JIT and native code) lie
/// inside one of the words, so they are forwarded from these stores.
///
/// # Safety
/// `p` is valid for writing a `Frame` and aligned.
#[inline(always)]
unsafe fn write_record(p: *mut Frame, fr: &Frame) {
    let mut w0 = [0u8; 8];
    w0[..4].copy_from_slice(&fr.func.to_ne_bytes());
    w0[4..].copy_from_slice(&fr.ip.to_ne_bytes());
    let mut w1 = [0u8; 8];
    w1[..4].copy_from_slice(&fr.base.to_ne_bytes());
    w1[4..6].copy_from_slice(&fr.ret.to_ne_bytes());
    w1[6] = fr.kind;
    w1[7] = fr.pad;
    let mut w3 = [0u8; 8];
    w3[..4].copy_from_slice(&fr.closure.tag.to_ne_bytes());
    w3[4..].copy_from_slice(&fr.closure.aux.to_ne_bytes());
    let w = p as *mut u64;
    // SAFETY: the caller's contract; a `Frame` is 32 bytes of four aligned u64s (the
    // asserts above).
    unsafe {
        w.write(u64::from_ne_bytes(w0));
        w.add(1).write(u64::from_ne_bytes(w1));
        w.add(2).write(fr.closure.bits);
        w.add(3).write(u64::from_ne_bytes(w3));
    }
}

/// Clears the slots of `fr`'s extent (ending at `end`) above its first `filled` and
/// writes its record at `at`: what every push and [`Frames::replace_top`] do once the
/// frame is known to fit.
///
/// # Safety
/// `fr.base <= end <= stack.len()`, and `at` is valid for writing a `Frame`, aligned.
#[inline(always)]
unsafe fn settle(stack: &mut [Value], fr: &Frame, filled: usize, end: usize, at: *mut Frame) {
    let start = (fr.base as usize + filled).min(end);
    // SAFETY: the caller's contract: `start <= end <= stack.len()`, `at` writable.
    unsafe {
        clear_tags(stack.as_mut_ptr(), start, end);
        // Written in place: the compiler built a record in its stack frame with narrow
        // stores and copied it with wide loads spanning them, which cannot be forwarded
        // (a store-forwarding stall measured at 10% of a call-heavy program's time,
        // binary-trees). Four 8-byte stores of words put together in registers
        // (`write_record`), not one per field (nine).
        write_record(at, fr);
    }
}

/// Why [`Frames::push`] did not push.
pub(crate) enum PushFailed {
    /// The value stack must first grow to at least this many slots.
    Stack(usize),
    /// The configured frame limit is reached.
    Depth,
    /// The frame vector is full: it must grow first (`Frames::grow`), which moves it,
    /// so the VM re-syncs the JIT's register block afterwards.
    Frames,
}

impl Frames {
    /// Room for `n` frames before reallocating, and at most `max` live frames.
    pub(crate) fn with_capacity(n: usize, max: usize) -> Frames {
        let mut buf: Vec<Frame> = Vec::with_capacity(n);
        let base = buf.as_mut_ptr();
        // SAFETY: `min(max, capacity)` records from `base` are inside the buffer (or one
        // past it).
        let limit = unsafe { base.add(max.min(buf.capacity())) };
        Frames {
            buf,
            base,
            top: base,
            limit,
            max,
        }
    }

    /// Pushes `fr`, whose first `filled` slots (from its base) the caller has already
    /// written, and sets every other slot of its extent to unit, so that every slot the
    /// collector scans for it holds a live value. Pushes nothing when the value stack is
    /// too short, the frame limit is reached or the buffer is full.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        stack: &mut [Value],
        funcs: &[FuncInfo],
        fr: Frame,
        filled: usize,
    ) -> Result<(), PushFailed> {
        let base = fr.base as usize;
        let end = base + extent(funcs, &fr);
        if end > stack.len() {
            return Err(PushFailed::Stack(end));
        }
        if self.top >= self.limit {
            return Err(self.full());
        }
        // SAFETY: the extent fits the stack (checked above); `top < limit <= base +
        // capacity` (checked above), so the record is inside the buffer, and it is
        // written whole before `top` makes it live.
        unsafe {
            settle(stack, &fr, filled, end, self.top);
            self.top = self.top.add(1);
        }
        Ok(())
    }

    /// Whether a push would find room for one more record without growing the
    /// buffer or reaching the frame limit (the compare [`Frames::push`] makes): the
    /// interpreter answers a call without pushing its frame only when the push would
    /// have fitted, so that a call at the limit still overflows.
    #[inline(always)]
    pub(crate) fn has_room(&self) -> bool {
        self.top < self.limit
    }

    /// Replaces the innermost record by `fr`, the frame of a tail call (the same
    /// depth: no limit to compare), clearing its slots as [`Frames::push`] does.
    ///
    /// # Safety
    /// A frame is live, and `fr`'s extent fits the stack: `fr.base + extent(funcs,
    /// &fr) <= stack.len()`.
    #[inline(always)]
    pub(crate) unsafe fn replace_top(
        &mut self,
        stack: &mut [Value],
        funcs: &[FuncInfo],
        fr: Frame,
        filled: usize,
    ) {
        debug_assert!(self.top > self.base);
        let end = fr.base as usize + extent(funcs, &fr);
        debug_assert!(end <= stack.len());
        // SAFETY: the caller's contract: `top - 1` is a live record, the extent fits.
        unsafe { settle(stack, &fr, filled, end, self.top.sub(1)) };
    }

    /// Which bound a push that found `top` at `limit` reached.
    #[cold]
    #[inline(never)]
    fn full(&self) -> PushFailed {
        if self.len() >= self.max {
            PushFailed::Depth
        } else {
            PushFailed::Frames
        }
    }

    /// Doubles the room for frames (moving them), or adds room for one when doubling is
    /// refused; `false` when the system refuses even that (fallible: `Vec::reserve`
    /// would abort the process instead of letting the VM report "out of memory").
    #[cold]
    pub(crate) fn grow(&mut self) -> bool {
        let n = self.len();
        let cap = self.buf.capacity();
        let mut new: Vec<Frame> = Vec::new();
        let ok = new.try_reserve_exact(cap + cap.max(16)).is_ok()
            || new.try_reserve_exact(cap + 1).is_ok();
        if ok {
            // SAFETY: the `n` live records are inside the old buffer and the new one has
            // room for more than `n`; the buffers are distinct allocations. A `Frame` is
            // `Copy`: the old buffer (length 0) drops nothing but its memory.
            unsafe { std::ptr::copy_nonoverlapping(self.base, new.as_mut_ptr(), n) };
            self.buf = new;
            self.base = self.buf.as_mut_ptr();
        }
        let base = self.base;
        // SAFETY: `n <= min(max, capacity)` records from the (possibly new) buffer's base.
        unsafe {
            self.top = base.add(n);
            self.limit = base.add(self.max.min(self.buf.capacity()));
        }
        ok
    }

    /// The frame records' storage: first record, live count and room, for the JIT's
    /// register block.
    pub(crate) fn raw_parts(&mut self) -> (*mut Frame, usize, usize) {
        (self.base, self.len(), self.buf.capacity())
    }

    /// Adopts a frame count that generated code changed by writing records directly.
    ///
    /// # Safety
    /// `n` is at most the capacity, and every record below `n` was written as a valid
    /// frame (function index in range, base and extent inside the value stack, every
    /// slot of its extent holding a live value).
    pub(crate) unsafe fn set_len(&mut self, n: usize) {
        debug_assert!(n <= self.buf.capacity());
        // SAFETY: the caller's contract: inside the buffer or one past it.
        self.top = unsafe { self.base.add(n) };
    }

    /// Removes and returns the innermost frame.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<Frame> {
        if self.top == self.base {
            return None;
        }
        // SAFETY: a record is live below `top`; `Frame` is `Copy`.
        unsafe {
            self.top = self.top.sub(1);
            Some(*self.top)
        }
    }

    /// Removes the innermost frame and returns its result slot (`ret`), the one field
    /// `ret` needs: popping a whole `Option<Frame>` made the dispatch loop carry parts
    /// of the copied record around the loop as phis (registers or spills at every
    /// dispatch).
    ///
    /// # Safety
    /// At least one frame is live.
    #[inline(always)]
    pub(crate) unsafe fn pop_ret(&mut self) -> u16 {
        debug_assert!(self.top > self.base);
        // SAFETY: the caller's contract: `top - 1` is a live record; popping it is
        // moving `top` (nothing to drop).
        unsafe {
            self.top = self.top.sub(1);
            (*self.top).ret
        }
    }

    /// Pops frames until `n` are left.
    pub(crate) fn truncate(&mut self, n: usize) {
        if n < self.len() {
            // SAFETY: `n` is below the live count.
            self.top = unsafe { self.base.add(n) };
        }
    }

    /// Records where the innermost frame resumes (or which instruction faulted).
    #[inline(always)]
    pub(crate) fn set_ip(&mut self, ip: u32) {
        if self.top > self.base {
            // SAFETY: a record is live below `top`.
            unsafe { (*self.top.sub(1)).ip = ip };
        }
    }

    /// The innermost frame, for the interpreter, which runs only with a frame live:
    /// no test of the count (the `unwrap` of [`Frames::last`] cost a compare and a
    /// branch in every `getenv`, `loadself` and call).
    ///
    /// # Safety
    /// At least one frame is live.
    #[inline(always)]
    pub(crate) unsafe fn top(&self) -> &Frame {
        debug_assert!(self.top > self.base);
        // SAFETY: the caller's contract.
        unsafe { &*self.top.sub(1) }
    }

    /// [`Frames::set_ip`] without the test for an empty stack.
    ///
    /// # Safety
    /// At least one frame is live.
    #[inline(always)]
    pub(crate) unsafe fn set_top_ip(&mut self, ip: u32) {
        debug_assert!(self.top > self.base);
        // SAFETY: the caller's contract.
        unsafe { (*self.top.sub(1)).ip = ip };
    }

    /// The closures of every frame, for the collector to forward.
    pub(crate) fn closures_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.as_mut_slice().iter_mut().map(|f| &mut f.closure)
    }

    /// The innermost frame.
    #[inline(always)]
    pub fn last(&self) -> Option<&Frame> {
        if self.top == self.base {
            None
        } else {
            // SAFETY: a record is live below `top`.
            Some(unsafe { &*self.top.sub(1) })
        }
    }

    /// The number of live frames.
    #[inline(always)]
    pub fn len(&self) -> usize {
        // SAFETY: `top` points into (or one past) the buffer, at or above its base.
        unsafe { self.top.offset_from(self.base) as usize }
    }

    /// Whether no frame is live (no code is running).
    pub fn is_empty(&self) -> bool {
        self.top == self.base
    }

    /// All frames, outermost first.
    pub fn as_slice(&self) -> &[Frame] {
        // SAFETY: the records `base..top` are live and initialised.
        unsafe { std::slice::from_raw_parts(self.base, self.len()) }
    }

    /// All frames, outermost first, for updating in place.
    fn as_mut_slice(&mut self) -> &mut [Frame] {
        // SAFETY: as `as_slice`, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot that looks like a stale object pointer (never dereferenced here).
    const STALE: Value = Value {
        bits: 0xdead_0000,
        tag: Tag::OBJ,
        aux: 0,
    };

    fn frame(kind: u8, func: u32, base: u32) -> Frame {
        Frame {
            func,
            ip: 0,
            base,
            ret: 0,
            kind,
            pad: 0,
            closure: Value::UNIT,
        }
    }

    /// Every kind of frame leaves no slot of its extent holding what was there before,
    /// except the `filled` ones; slots outside the extent are not touched.
    #[test]
    fn push_clears_the_whole_extent_of_every_kind() {
        let funcs = vec![FuncInfo {
            name: "f".into(),
            code: crate::vm::Code::new(&[], &[]),
            arity: 1,
            ncaptures: 0,
            nslots: 6,
        }];
        for kind in [
            FrameKind::NORMAL,
            FrameKind::HOST,
            FrameKind::APPLY_REST,
            FrameKind::FORCE,
            FrameKind::MAP,
            FrameKind::FILTER,
            FrameKind::FOLDR,
        ] {
            let mut stack = vec![STALE; 16];
            let mut frames = Frames::with_capacity(4, 10);
            let fr = frame(kind, 0, 2);
            let end = 2 + extent(&funcs, &fr);
            assert!(frames.push(&mut stack, &funcs, fr, 1).is_ok());
            for (i, v) in stack.iter().enumerate() {
                let cleared = (3..end).contains(&i);
                assert_eq!(v.tag == Tag::UNIT, cleared, "kind {kind}, slot {i}");
            }
            assert_eq!(frames.len(), 1);
        }
    }

    /// Every length through each branch of `clear_tags` (none, pairs, fours from both
    /// ends, the loop) clears exactly its range.
    #[test]
    fn clear_tags_clears_exactly_the_range() {
        for start in [0, 1, 3] {
            for k in 0..=40 {
                let mut stack = vec![STALE; 48];
                // SAFETY: `start + k <= 43 < 48`.
                unsafe { clear_tags(stack.as_mut_ptr(), start, start + k) };
                for (i, v) in stack.iter().enumerate() {
                    let cleared = (start..start + k).contains(&i);
                    assert_eq!(
                        v.tag == Tag::UNIT,
                        cleared,
                        "start {start}, k {k}, slot {i}"
                    );
                    assert_eq!(v.bits, STALE.bits);
                }
            }
        }
    }

    /// A push that does not fit pushes nothing and says why.
    #[test]
    fn push_refuses_without_room() {
        let funcs: Vec<FuncInfo> = Vec::new();
        let mut stack = vec![STALE; 4];
        let mut frames = Frames::with_capacity(4, 10);
        let fr = frame(FrameKind::FORCE, 0, 2);
        assert!(matches!(
            frames.push(&mut stack, &funcs, fr, 0),
            Err(PushFailed::Stack(6))
        ));
        let mut frames = Frames::with_capacity(4, 0);
        let fr = frame(FrameKind::FORCE, 0, 0);
        assert!(matches!(
            frames.push(&mut stack, &funcs, fr, 0),
            Err(PushFailed::Depth)
        ));
        assert!(frames.is_empty());
        assert!(stack.iter().all(|v| v.tag == Tag::OBJ));
    }

    /// The one compare against `min(max, capacity)` tells a full vector (grown, then the
    /// push fits) from the frame limit (reached, whatever the room), the limit counted
    /// exactly: `max` frames fit, not one more.
    #[test]
    fn push_tells_a_full_vector_from_the_limit() {
        let funcs: Vec<FuncInfo> = Vec::new();
        let mut stack = vec![STALE; 64];
        let mut frames = Frames::with_capacity(1, 3);
        let cap = frames.raw_parts().2;
        let mut pushed = 0;
        for _ in 0..3 {
            let fr = frame(FrameKind::FORCE, 0, 4 * pushed as u32);
            match frames.push(&mut stack, &funcs, fr, 0) {
                Ok(()) => pushed += 1,
                Err(PushFailed::Frames) => {
                    assert_eq!(frames.len(), frames.raw_parts().2);
                    assert!(frames.grow());
                    assert!(frames.push(&mut stack, &funcs, fr, 0).is_ok());
                    pushed += 1;
                }
                Err(_) => panic!("refused frame {pushed} of 3"),
            }
        }
        assert!(cap < 3, "the vector had to grow at least once");
        assert_eq!(frames.len(), 3);
        // The growth moved the records: every one is still there, in order.
        let bases: Vec<u32> = frames.as_slice().iter().map(|f| f.base).collect();
        assert_eq!(bases, [0, 4, 8]);
        assert!(frames.raw_parts().2 > 3, "grown past the limit");
        let fr = frame(FrameKind::FORCE, 0, 12);
        assert!(matches!(
            frames.push(&mut stack, &funcs, fr, 0),
            Err(PushFailed::Depth)
        ));
        assert_eq!(frames.len(), 3);
    }

    /// `top`, `pop`, `pop_ret`, `truncate` and `set_len` move the one pointer the
    /// records are addressed by, and `last`, `len` and `as_slice` agree with it.
    #[test]
    fn pops_and_truncation_move_the_top() {
        let funcs: Vec<FuncInfo> = Vec::new();
        let mut stack = vec![STALE; 64];
        let mut frames = Frames::with_capacity(8, 10);
        assert!(frames.last().is_none() && frames.pop().is_none());
        for i in 0..5u32 {
            let mut fr = frame(FrameKind::FORCE, 0, 4 * i);
            fr.ret = i as u16;
            assert!(frames.push(&mut stack, &funcs, fr, 0).is_ok());
        }
        // SAFETY: five frames are live.
        unsafe {
            assert_eq!(frames.top().base, 16);
            frames.set_top_ip(7);
            assert_eq!(frames.pop_ret(), 4);
            assert_eq!(frames.top().base, 12);
        }
        assert_eq!(frames.len(), 4);
        assert_eq!(frames.pop().map(|f| f.base), Some(12));
        frames.truncate(9);
        assert_eq!(frames.len(), 3);
        frames.truncate(1);
        assert_eq!(frames.as_slice().len(), 1);
        assert_eq!(frames.last().map(|f| f.base), Some(0));
        // SAFETY: the records below 4 were written by the pushes above.
        unsafe { frames.set_len(4) };
        assert_eq!(frames.last().map(|f| (f.base, f.ip)), Some((12, 0)));
        let (base, n, cap) = frames.raw_parts();
        assert!(!base.is_null() && n == 4 && cap >= 8);
    }
}
