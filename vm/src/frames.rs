//! The frame stack, and the one way to push a frame.
//!
//! The collector scans, for every frame, the stack slots the frame owns from its base
//! (its *extent*: the function's frame size for a NORMAL frame, [`SCRATCH_SLOTS`] for
//! a continuation frame). A slot above every frame is dead and is not forwarded by a
//! collection, so it may hold a pointer into a space that no longer exists; if a frame
//! is then pushed over it without clearing it, the next collection reads that dangling
//! pointer as a root. (Issue 11: `force`, over-application and host calls made that
//! mistake.) [`Frames::push`] is therefore the only way to push a frame: it computes
//! the extent with the same function the collector uses ([`extent`]) and clears every
//! slot of it that the caller did not fill. The vector of frames is private to this
//! module, so no other code can push one.

use crate::value::{Tag, Value};
use crate::vm::{Frame, FrameKind, FuncInfo, SCRATCH_SLOTS};

/// The activation records, innermost last. Read through [`Frames::as_slice`] and the
/// other accessors; pushed only by [`Frames::push`].
#[derive(Default)]
pub struct Frames {
    v: Vec<Frame>,
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

/// Why [`Frames::push`] did not push.
pub(crate) enum PushFailed {
    /// The value stack must first grow to at least this many slots.
    Stack(usize),
    /// The configured frame limit is reached.
    Depth,
}

impl Frames {
    /// Room for `n` frames before reallocating.
    pub(crate) fn with_capacity(n: usize) -> Frames {
        Frames {
            v: Vec::with_capacity(n),
        }
    }

    /// Pushes `fr`, whose first `filled` slots (from its base) the caller has already
    /// written, and sets every other slot of its extent to unit, so that every slot the
    /// collector scans for it holds a live value. Pushes nothing when the value stack is
    /// too short or `max` frames are already live.
    #[inline(always)]
    pub(crate) fn push(
        &mut self,
        stack: &mut [Value],
        funcs: &[FuncInfo],
        max: usize,
        fr: Frame,
        filled: usize,
    ) -> Result<(), PushFailed> {
        let base = fr.base as usize;
        let end = base + extent(funcs, &fr);
        if end > stack.len() {
            return Err(PushFailed::Stack(end));
        }
        if self.v.len() >= max {
            return Err(PushFailed::Depth);
        }
        // Only the tag matters to the collector (and no slot is read before written).
        for v in &mut stack[(base + filled).min(end)..end] {
            v.tag = Tag::UNIT;
        }
        self.v.push(fr);
        Ok(())
    }

    /// Removes and returns the innermost frame.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<Frame> {
        self.v.pop()
    }

    /// Pops frames until `n` are left.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.v.truncate(n);
    }

    /// Records where the innermost frame resumes (or which instruction faulted).
    #[inline(always)]
    pub(crate) fn set_ip(&mut self, ip: u32) {
        if let Some(f) = self.v.last_mut() {
            f.ip = ip;
        }
    }

    /// The closures of every frame, for the collector to forward.
    pub(crate) fn closures_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.v.iter_mut().map(|f| &mut f.closure)
    }

    /// The innermost frame.
    #[inline(always)]
    pub fn last(&self) -> Option<&Frame> {
        self.v.last()
    }

    /// The number of live frames.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.v.len()
    }

    /// Whether no frame is live (no code is running).
    pub fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// All frames, outermost first.
    pub fn as_slice(&self) -> &[Frame] {
        &self.v
    }
}
