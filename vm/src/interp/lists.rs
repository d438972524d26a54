//! The native list instructions (`list.map`, `list.filter`, `list.foldr`) and their
//! continuation frames, which call the function argument through the interpreter in
//! constant frame depth, and reading a list's elements.

use super::*;

impl Vm {
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
        self.enter(
            Frame {
                func: 0,
                ip: 0,
                base: p as u32,
                ret: o[0] as u16,
                kind,
                pad: 0,
                closure: Value::UNIT,
            },
            SCRATCH_SLOTS,
        )?;
        Ok(match self.list_cont(None)? {
            None => Called::Pushed,
            Some(v) => Called::Value(v),
        })
    }

    /// Advances the list continuation frame on top: absorbs the last call's result (if
    /// any), then calls the function on the next element (`None`: a frame was pushed),
    /// or finishes, pops the frame and returns the final result.
    pub(super) fn list_cont(&mut self, mut result: Option<Value>) -> Result<Option<Value>, Trap> {
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

    /// `list.len`: the number of cells, counted without copying the elements (the
    /// faults of [`Vm::list_values`], in the same order).
    pub(crate) fn list_len(&self, mut v: Value) -> Result<usize, Trap> {
        let mut cycle = CycleCheck::default();
        let mut n = 0usize;
        loop {
            if v.tag == Tag::CTOR0 && v.aux == builtin::LIST {
                return Ok(n);
            }
            // SAFETY: OBJ values point at live objects; cons cells have two fields.
            unsafe {
                if v.tag == Tag::OBJ
                    && (*v.ptr()).kind == Kind::DATA
                    && (*v.ptr()).meta == builtin::LIST
                {
                    if cycle.seen(v.bits) {
                        return Err(self.error_plain("list.len expects a list, got a cyclic one"));
                    }
                    n += 1;
                    v = *heap::fields(v.ptr()).add(1);
                    continue;
                }
            }
            return Err(self.error_plain(format!(
                "list.len expects a list, got {}",
                self.type_name(v)
            )));
        }
    }

    /// The elements of a list value.
    pub(crate) fn list_values(&self, mut v: Value, what: &str) -> Result<Vec<Value>, Trap> {
        let mut out = Vec::new();
        let mut cycle = CycleCheck::default();
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
                    if cycle.seen(v.bits) {
                        return Err(
                            self.error_plain(format!("{what} expects a list, got a cyclic one"))
                        );
                    }
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
}

/// Finds a cycle in a walk of cons cells (Brent's algorithm): constants (SPEC.md §2.6,
/// "Constants": a `global` operand) and `setfield` can make a list its own tail. The
/// walk remembers one cell and compares each cell it reaches with it, remembering the
/// cell it reaches at steps 1, 2, 4, 8, ...: a cyclic walk meets the remembered cell
/// within about twice the length of its tail and cycle, in constant memory, where a
/// bound on the number of cells would walk (and, copying the elements, hold) as many
/// cells as the heap could ever contain before it gave up. The walk must not allocate
/// on the VM's heap (a collection would move the cells).
///
/// The first [`CycleCheck::FREE`] cells are only counted: a list that short is
/// walked with one decrement and branch a cell (the comparison and the step count
/// cost fasta's `str.from_chars` of each 60-character line 8 instructions a cell,
/// 2.8% of its native instructions), and a cycle is found that many cells later.
#[derive(Clone, Copy)]
pub(crate) struct CycleCheck {
    /// Cells still to walk before the check starts.
    free: u32,
    /// The remembered cell's address (0: none yet).
    saved: u64,
    /// Steps since it was remembered.
    steps: u64,
    /// Steps after which the next cell is remembered instead (0 stands for 1).
    power: u64,
}

impl Default for CycleCheck {
    fn default() -> CycleCheck {
        CycleCheck {
            free: CycleCheck::FREE,
            saved: 0,
            steps: 0,
            power: 0,
        }
    }
}

impl CycleCheck {
    /// Cells a walk takes before it looks for a cycle: a one-cell cycle costs that
    /// many steps more (well under a millisecond).
    pub(crate) const FREE: u32 = 1 << 16;

    /// Whether the cell at `addr`, the next in the walk, was reached before.
    #[inline]
    pub(crate) fn seen(&mut self, addr: u64) -> bool {
        if let Some(free) = self.free.checked_sub(1) {
            self.free = free;
            return false;
        }
        let (hit, next) = self.brent(addr);
        *self = next;
        hit
    }

    /// [`CycleCheck::seen`] past the free cells: the state taken and returned by
    /// value, so that no pointer to it leaves the walk and its count of free cells
    /// stays in a register.
    #[inline(never)]
    fn brent(mut self, addr: u64) -> (bool, CycleCheck) {
        if addr == self.saved {
            return (true, self);
        }
        self.steps += 1;
        if self.steps >= self.power {
            self.saved = addr;
            self.power = (self.power * 2).max(2);
            self.steps = 0;
        }
        (false, self)
    }
}

#[cfg(test)]
mod tests {
    use super::CycleCheck;

    /// A walk of `tail` distinct cells, then round a cycle of `len`: found, and
    /// within about twice their sum; a walk without a cycle never is.
    #[test]
    fn cycles_are_found_and_straight_lists_are_not() {
        for tail in 0..40u64 {
            for len in 1..40u64 {
                let mut c = CycleCheck::default();
                let addr = |i: u64| 16 * (1 + if i < tail { i } else { tail + (i - tail) % len });
                let free = CycleCheck::FREE as u64;
                let at = (0..free + 10_000).find(|&i| c.seen(addr(i)));
                let at = at.unwrap_or_else(|| panic!("tail {tail} len {len}: no cycle found"));
                assert!(
                    at <= free + 4 * (tail + len) + 4,
                    "tail {tail} len {len}: step {at}"
                );
            }
        }
        let mut c = CycleCheck::default();
        assert!((0..100_000u64).all(|i| !c.seen(16 * (i + 1))));
        // The free cells are only counted: a cycle within them is found after them.
        let mut c = CycleCheck::default();
        let free = CycleCheck::FREE as u64;
        assert!((0..free).all(|_| !c.seen(16)));
        assert!(c.seen(16) || c.seen(16));
    }
}
