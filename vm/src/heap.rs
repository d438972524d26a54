//! The garbage-collected heap: object layouts and a Cheney copying collector.
//!
//! Every object starts with a 16-byte [`Header`] and is 16-byte aligned; its payload
//! follows (values, bytes, or an inline GMP number). Allocation bumps a pointer through
//! the current semispace. A collection copies everything reachable from the roots the VM
//! hands to [`Heap::forward`] into a fresh space and scans it breadth first (Cheney), so
//! its cost is proportional to live data. Semispaces grow by policy: after a collection,
//! when live data plus the pending request exceed half the space, the next space is
//! twice as big (up to the heap limit).
//!
//! GMP numbers keep their limbs outside the heap (GMP allocates them); their objects sit
//! on a finalisation list, and after each collection those that were not copied are
//! dropped, which frees their limbs, so dead big integers never leak.

use crate::value::{Tag, Value};
use rug::{Integer, Rational};

/// Object kinds, stored in [`Header::kind`].
pub struct Kind;

impl Kind {
    /// A constructor value, tuple or cons cell: `tag` = constructor index, `meta` = type
    /// id, `len` values follow.
    pub const DATA: u8 = 1;
    /// A mutable array: `len` values follow.
    pub const ARRAY: u8 = 2;
    /// A closure: `meta` = function index, `len` captured values follow.
    pub const CLOSURE: u8 = 3;
    /// A partial application: `len` values follow, the function first, then the
    /// arguments supplied so far. The function is never itself a partial application.
    pub const PAP: u8 = 4;
    /// A mutable cell: one value follows.
    pub const REF: u8 = 5;
    /// A memoising thunk: one value follows; `tag` is its state (see `THUNK_*`).
    pub const THUNK: u8 = 6;
    /// An immutable UTF-8 string: `len` bytes follow.
    pub const STR: u8 = 7;
    /// A mutable byte array: `len` bytes follow.
    pub const BYTES: u8 = 8;
    /// An arbitrary-precision integer: a `rug::Integer` follows.
    pub const BIG: u8 = 9;
    /// An exact rational: a `rug::Rational` follows.
    pub const RAT: u8 = 10;
    /// A copied object during collection: `len` holds the new address.
    pub const FWD: u8 = 255;
}

/// Thunk state: the value is the 0-argument function to call.
pub const THUNK_PENDING: u16 = 0;
/// Thunk state: being computed (forcing it again is an infinite loop: a fault).
pub const THUNK_RUNNING: u16 = 1;
/// Thunk state: the value is the memoised result.
pub const THUNK_DONE: u16 = 2;

/// The header of every heap object. `#[repr(C)]`, 16 bytes: kind at offset 0, tag at 2,
/// meta at 4, len at 8.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// What the object is (see [`Kind`]).
    pub kind: u8,
    /// Reserved for the collector and the JIT; zero.
    pub flags: u8,
    /// Constructor index (DATA) or state (THUNK).
    pub tag: u16,
    /// Type id (DATA) or function index (CLOSURE).
    pub meta: u32,
    /// Number of values or bytes in the payload; the new address once forwarded.
    pub len: u64,
}

const _: () = assert!(std::mem::size_of::<Header>() == 16);
const BIG_BYTES: usize = round16(std::mem::size_of::<Integer>());
const RAT_BYTES: usize = round16(std::mem::size_of::<Rational>());

const fn round16(n: usize) -> usize {
    (n + 15) & !15
}

/// The payload size in bytes of an object with this header.
#[inline]
pub fn payload_bytes(h: &Header) -> usize {
    match h.kind {
        Kind::DATA | Kind::ARRAY | Kind::CLOSURE | Kind::PAP => h.len as usize * 16,
        Kind::REF | Kind::THUNK => 16,
        Kind::STR | Kind::BYTES => round16(h.len as usize),
        Kind::BIG => BIG_BYTES,
        Kind::RAT => RAT_BYTES,
        _ => 0,
    }
}

/// Whether the payload of this kind is made of values the collector must trace.
#[inline]
fn has_values(kind: u8) -> bool {
    matches!(
        kind,
        Kind::DATA | Kind::ARRAY | Kind::CLOSURE | Kind::PAP | Kind::REF | Kind::THUNK
    )
}

/// The values of an object (DATA, ARRAY, CLOSURE, PAP, REF, THUNK).
///
/// # Safety
/// `h` must point at a live object of one of those kinds.
#[inline(always)]
pub unsafe fn fields(h: *mut Header) -> *mut Value {
    // SAFETY: the payload starts right after the 16-byte header, per the caller's contract.
    unsafe { (h as *mut u8).add(16) as *mut Value }
}

/// The bytes of a STR or BYTES object.
///
/// # Safety
/// `h` must point at a live STR or BYTES object, and the slice must not outlive the
/// next allocation (which may move it).
#[inline(always)]
pub unsafe fn bytes<'a>(h: *mut Header) -> &'a [u8] {
    // SAFETY: `len` bytes follow the header of a STR/BYTES object.
    unsafe { std::slice::from_raw_parts((h as *mut u8).add(16), (*h).len as usize) }
}

/// The string of a STR object (always valid UTF-8: every constructor of STR objects
/// writes UTF-8).
///
/// # Safety
/// As for [`bytes`].
#[inline(always)]
pub unsafe fn str<'a>(h: *mut Header) -> &'a str {
    // SAFETY: STR objects only ever receive bytes copied from a `&str`.
    unsafe { std::str::from_utf8_unchecked(bytes(h)) }
}

/// The integer of a BIG object.
///
/// # Safety
/// `h` must point at a live BIG object; the reference dies at the next allocation.
#[inline(always)]
pub unsafe fn big<'a>(h: *mut Header) -> &'a Integer {
    // SAFETY: BIG objects hold an initialised `Integer` right after the header.
    unsafe { &*((h as *mut u8).add(16) as *const Integer) }
}

/// The rational of a RAT object.
///
/// # Safety
/// As for [`big`], for RAT objects.
#[inline(always)]
pub unsafe fn rat<'a>(h: *mut Header) -> &'a Rational {
    // SAFETY: RAT objects hold an initialised `Rational` right after the header.
    unsafe { &*((h as *mut u8).add(16) as *const Rational) }
}

/// One semispace: a 16-byte aligned buffer and a bump pointer.
///
/// The buffer comes from the global allocator directly (zeroed, so that a large one is
/// mapped lazily by the C library), never through `Vec`: when the system refuses the
/// memory, [`Space::new`] returns `None` and the VM reports "out of memory" instead of
/// Rust's abort on allocation failure.
struct Space {
    ptr: std::ptr::NonNull<u8>,
    cap: usize,
    top: usize,
}

impl Space {
    /// A space of at least `bytes` bytes (a multiple of 16), or `None` if the system
    /// has no memory for it.
    fn new(bytes: usize) -> Option<Space> {
        let cap = bytes.checked_add(15)? & !15;
        let cap = cap.max(16);
        let layout = std::alloc::Layout::from_size_align(cap, 16).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = std::ptr::NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(Space { ptr, cap, top: 0 })
    }
    /// A space of no bytes, owning no memory (every allocation in it fails).
    fn empty() -> Space {
        Space {
            ptr: std::ptr::NonNull::dangling(),
            cap: 0,
            top: 0,
        }
    }
    fn cap(&self) -> usize {
        self.cap
    }
    /// Overwrites the whole space with 0xFF bytes, so that a stale pointer into it
    /// (a GC bug) reads an impossible header instead of plausible old data.
    fn poison(&mut self) {
        // SAFETY: the space owns `cap` writable bytes from `ptr` (none when `cap` is 0).
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr(), 0xFF, self.cap) }
    }
    fn base(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    fn contains(&self, p: *const u8) -> bool {
        let b = self.ptr.as_ptr() as usize;
        let p = p as usize;
        p >= b && p < b + self.top
    }
}

impl Drop for Space {
    fn drop(&mut self) {
        if self.cap == 0 {
            return;
        }
        // SAFETY: a space with a non-zero `cap` got `ptr` from `new`, allocated with
        // exactly this layout (which was valid then), and frees it once.
        unsafe {
            std::alloc::dealloc(
                self.ptr.as_ptr(),
                std::alloc::Layout::from_size_align_unchecked(self.cap, 16),
            )
        }
    }
}

/// Counters reported by `--gc-stats`.
#[derive(Clone, Debug, Default)]
pub struct GcStats {
    /// Collections run.
    pub collections: u64,
    /// Bytes allocated in total.
    pub allocated: u64,
    /// Bytes copied by all collections.
    pub copied: u64,
    /// The largest semispace used.
    pub max_space: usize,
    /// Live bytes after the last collection.
    pub live: usize,
    /// Time spent collecting.
    pub time: std::time::Duration,
}

/// The heap.
pub struct Heap {
    from: Space,
    to: Option<Space>,
    spare: Option<Space>,
    /// Under stress, the last few from-spaces, poisoned and kept out of reuse so that a
    /// dangling root (a slot the collector skipped once and scans later) points
    /// outside the current space and is caught by the check in `copy`.
    retired: std::collections::VecDeque<Space>,
    scan: usize,
    /// Target size of the next semispace.
    cap: usize,
    /// The most bytes the live data may occupy; past it allocation fails.
    pub limit: usize,
    /// Collect at every allocation (the stress mode the GC tests run under).
    pub stress: bool,
    finalize: Vec<*mut Header>,
    finalize_next: Vec<*mut Header>,
    /// Bytes GMP allocated for numbers since the last collection (outside the heap,
    /// but freed only when their objects die).
    external: usize,
    /// Collect at the next allocation (set when `external` outgrows the space).
    force: bool,
    /// Statistics.
    pub stats: GcStats,
}

/// How many poisoned old spaces stress mode keeps (see `Heap::retired`).
const RETIRED_SPACES: usize = 8;
/// The most bytes they may take together (beyond the newest one).
const RETIRED_BYTES: usize = 64 << 20;

/// Default initial semispace size.
pub const DEFAULT_INITIAL: usize = 1 << 20;

impl Heap {
    /// A heap whose first semispace is `initial` bytes and whose live data may not
    /// exceed `limit` bytes.
    ///
    /// When the system refuses even the first semispace, the heap starts empty and the
    /// first allocation reports "out of memory" (a collection asks for a space again).
    pub fn new(initial: usize, limit: usize) -> Heap {
        let initial = initial.min(limit).max(1024);
        Heap {
            from: Space::new(initial).unwrap_or_else(Space::empty),
            to: None,
            spare: None,
            retired: std::collections::VecDeque::new(),
            scan: 0,
            cap: initial,
            limit,
            stress: false,
            finalize: Vec::new(),
            finalize_next: Vec::new(),
            external: 0,
            force: false,
            stats: GcStats {
                max_space: initial,
                ..GcStats::default()
            },
        }
    }

    /// The object size for a payload of `payload` bytes.
    #[inline(always)]
    pub fn object_size(payload: usize) -> usize {
        16 + round16(payload)
    }

    /// Bump-allocates `size` bytes (a multiple of 16) and writes the header; `None` when
    /// the space is full (or in stress mode), and the VM must collect and retry.
    #[inline(always)]
    pub fn try_alloc(
        &mut self,
        size: usize,
        kind: u8,
        tag: u16,
        meta: u32,
        len: u64,
    ) -> Option<*mut Header> {
        if self.stress || self.force || size > self.from.cap() - self.from.top {
            return None;
        }
        // SAFETY: `top + size <= cap`, so the block is inside the buffer, and it is
        // 16-byte aligned because `top` and `size` are multiples of 16.
        let p = unsafe { self.from.base().add(self.from.top) } as *mut Header;
        self.from.top += size;
        self.stats.allocated += size as u64;
        // SAFETY: `p` points at `size >= 16` writable bytes.
        unsafe {
            p.write(Header {
                kind,
                flags: 0,
                tag,
                meta,
                len,
            })
        };
        if kind == Kind::BIG || kind == Kind::RAT {
            self.finalize.push(p);
        }
        Some(p)
    }

    /// Records memory GMP allocated outside the heap for a new number. When it
    /// outgrows the semispace, the next allocation collects, so that loops making big
    /// numbers free their limbs as promptly as they free heap memory.
    pub fn note_external(&mut self, bytes: usize) {
        self.external += bytes;
        if self.external > self.from.cap() {
            self.force = true;
        }
    }

    /// Starts a collection. The new space holds at least everything the old one does
    /// (all of it may be live); when that leaves no room for the pending request, the
    /// VM collects again into the bigger space the growth policy then asks for.
    ///
    /// Returns `false`, with nothing changed, when the system refuses the memory for
    /// the new space even at the smallest size that can hold the old one's contents:
    /// the VM then reports "out of memory".
    #[must_use]
    pub fn begin(&mut self, _needed: usize) -> bool {
        let min = self.from.top.max(1024);
        let want = self.cap.max(min);
        let to = match self.spare.take() {
            Some(mut s) if s.cap() >= want && s.cap() <= 2 * want => {
                s.top = 0;
                Some(s)
            }
            // Free the unsuitable spare before asking for a new space, so that the
            // two are never held at once; then settle for less than the growth policy
            // wants rather than fail while the old contents would still fit.
            _ => Space::new(want).or_else(|| Space::new(min)),
        };
        match to {
            Some(to) => {
                self.to = Some(to);
                self.scan = 0;
                true
            }
            None => false,
        }
    }

    /// Copies the object a root points to (if not yet copied) and updates the root.
    /// Immediates are left alone.
    #[inline]
    pub fn forward(&mut self, v: &mut Value) {
        if v.tag == Tag::OBJ {
            v.bits = self.copy(v.bits as *mut Header) as u64;
        }
    }

    fn copy(&mut self, p: *mut Header) -> *mut Header {
        // A root outside the current space is a VM bug (a slot the collector skipped
        // once and scans later): stop at it in tests and under stress, instead of
        // copying garbage. Release builds rely on the invariant, as the interpreter does.
        if (cfg!(debug_assertions) || self.stress) && !self.from.contains(p as *const u8) {
            panic!("the collector met a dangling root: {p:p} is outside the current space");
        }
        // SAFETY: roots and traced fields only ever hold addresses of objects in the
        // current from-space (the VM's invariant), which are readable headers.
        unsafe {
            if (*p).kind == Kind::FWD {
                return (*p).len as *mut Header;
            }
            let size = 16 + payload_bytes(&*p);
            let to = self.to.as_mut().expect("copy outside a collection");
            let dst = to.base().add(to.top) as *mut Header;
            std::ptr::copy_nonoverlapping(p as *const u8, dst as *mut u8, size);
            to.top += size;
            (*p).kind = Kind::FWD;
            (*p).len = dst as u64;
            dst
        }
    }

    /// Finishes a collection: scans the copied objects (Cheney), frees the GMP numbers
    /// that died, swaps spaces and applies the growth policy. Returns the live bytes.
    pub fn finish(&mut self, needed: usize) -> usize {
        loop {
            let (base, top) = {
                let to = self.to.as_mut().expect("finish outside a collection");
                (to.base(), to.top)
            };
            if self.scan >= top {
                break;
            }
            // SAFETY: `scan` walks the to-space object by object; every object there
            // was fully copied by `copy` and has a valid header.
            unsafe {
                let h = base.add(self.scan) as *mut Header;
                let size = 16 + payload_bytes(&*h);
                if has_values((*h).kind) {
                    let n = if (*h).kind == Kind::REF || (*h).kind == Kind::THUNK {
                        1
                    } else {
                        (*h).len as usize
                    };
                    let f = fields(h);
                    for i in 0..n {
                        let v = &mut *f.add(i);
                        if v.tag == Tag::OBJ {
                            v.bits = self.copy(v.bits as *mut Header) as u64;
                        }
                    }
                }
                self.scan += size;
            }
        }
        // Finalise the GMP numbers that were not copied.
        let mut list = std::mem::take(&mut self.finalize);
        self.finalize_next.clear();
        for &p in &list {
            // SAFETY: entries are BIG/RAT objects of the from-space, forwarded or dead.
            unsafe {
                if (*p).kind == Kind::FWD {
                    self.finalize_next.push((*p).len as *mut Header);
                } else if (*p).kind == Kind::BIG {
                    std::ptr::drop_in_place((p as *mut u8).add(16) as *mut Integer);
                } else {
                    std::ptr::drop_in_place((p as *mut u8).add(16) as *mut Rational);
                }
            }
        }
        list.clear();
        self.finalize = std::mem::replace(&mut self.finalize_next, list);
        let to = self.to.take().expect("finish outside a collection");
        let old = std::mem::replace(&mut self.from, to);
        if self.stress {
            let mut old = old;
            old.poison();
            self.retired.push_back(old);
            // At most RETIRED_SPACES of them, and (past the newest) RETIRED_BYTES in all,
            // so that a big heap under stress does not hold many copies of itself.
            while self.retired.len() > RETIRED_SPACES
                || (self.retired.len() > 1
                    && self.retired.iter().map(Space::cap).sum::<usize>() > RETIRED_BYTES)
            {
                self.retired.pop_front();
            }
        } else {
            self.spare = Some(old);
        }
        let live = self.from.top;
        self.external = 0;
        self.force = false;
        self.stats.collections += 1;
        self.stats.copied += live as u64;
        self.stats.live = live;
        let want = live.saturating_add(needed);
        if want.saturating_mul(2) > self.cap {
            // Grow, but never past what the limit lets live data reach: a space
            // bigger than the limit (plus the pending request) could never be filled
            // with live data and would only waste memory the machine may not have.
            self.cap = want
                .saturating_mul(2)
                .max(self.cap.saturating_mul(2))
                .min(self.limit.max(want));
        }
        self.stats.max_space = self.stats.max_space.max(self.from.cap());
        live
    }

    /// Whether `needed` more bytes fit in the current space.
    pub fn fits(&self, needed: usize) -> bool {
        needed <= self.from.cap() - self.from.top
    }

    /// The bump pointer and the end of what may be bump-allocated without the slow
    /// path (equal to the pointer when the next allocation must collect: stress mode,
    /// or a collection forced by external memory), for the JIT's register block.
    pub fn bump_window(&mut self) -> (*mut u8, *mut u8) {
        let base = self.from.base();
        // SAFETY: `top <= cap`: both are offsets inside (or one past) the buffer.
        let ptr = unsafe { base.add(self.from.top) };
        if self.stress || self.force {
            return (ptr, ptr);
        }
        // SAFETY: as above.
        (ptr, unsafe { base.add(self.from.cap()) })
    }

    /// Adopts a bump pointer that generated code advanced; `false` (and nothing
    /// changed) if it is not 16-byte aligned between the current pointer and the end.
    pub fn set_bump(&mut self, ptr: *mut u8) -> bool {
        let base = self.from.base() as usize;
        let p = ptr as usize;
        if p < base + self.from.top || p > base + self.from.cap() || !(p - base).is_multiple_of(16)
        {
            return false;
        }
        let top = p - base;
        self.stats.allocated += (top - self.from.top) as u64;
        self.from.top = top;
        true
    }

    /// Whether `p` points into the current space (for debug checks).
    pub fn contains(&self, p: *const Header) -> bool {
        self.from.contains(p as *const u8)
    }

    /// Walks every object of the current space and checks that each traced value
    /// points at an object start inside it. Used by tests after collections (the
    /// `lua_checkmemory` idea). Returns a description of the first problem.
    pub fn check(&mut self) -> Result<(), String> {
        let base = self.from.base();
        let top = self.from.top;
        let mut starts = std::collections::HashSet::new();
        let mut at = 0;
        while at < top {
            // SAFETY: objects are laid out back to back from the start of the space.
            let h = unsafe { &*(base.add(at) as *const Header) };
            if h.kind == 0 || (h.kind > Kind::RAT) {
                return Err(format!("bad kind {} at offset {at}", h.kind));
            }
            starts.insert(base as usize + at);
            at += 16 + payload_bytes(h);
        }
        let mut at = 0;
        while at < top {
            // SAFETY: as above.
            unsafe {
                let h = base.add(at) as *mut Header;
                if has_values((*h).kind) {
                    let n = if (*h).kind == Kind::REF || (*h).kind == Kind::THUNK {
                        1
                    } else {
                        (*h).len as usize
                    };
                    for i in 0..n {
                        let v = *fields(h).add(i);
                        if v.tag == Tag::OBJ && !starts.contains(&(v.bits as usize)) {
                            return Err(format!("dangling pointer in object at offset {at}"));
                        }
                    }
                }
                at += 16 + payload_bytes(&*h);
            }
        }
        Ok(())
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        for &p in &self.finalize {
            // SAFETY: the list holds exactly the live BIG/RAT objects of the current
            // space, each dropped once here.
            unsafe {
                if (*p).kind == Kind::BIG {
                    std::ptr::drop_in_place((p as *mut u8).add(16) as *mut Integer);
                } else if (*p).kind == Kind::RAT {
                    std::ptr::drop_in_place((p as *mut u8).add(16) as *mut Rational);
                }
            }
        }
    }
}
