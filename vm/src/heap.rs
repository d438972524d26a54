//! The garbage-collected heap: object layouts and a generational copying collector.
//!
//! Every object starts with a 16-byte [`Header`] and is 16-byte aligned; its payload
//! follows (values, bytes, or an inline GMP number). Objects are born in the nursery by
//! bumping a pointer. A minor collection copies the nursery's survivors (reachable from
//! the roots the VM hands to [`Heap::forward`] and from the remembered set) into the old
//! generation and scans them breadth first (Cheney), so its cost is proportional to
//! what survives; a major collection copies both generations into a new old space. The
//! remembered set lists the old objects that may point into the nursery: every store
//! into an existing object goes through [`Heap::store`] or [`Heap::barrier`]. SPEC.md
//! §1.4 gives the policies (when a collection is major, how the old space grows).
//!
//! GMP numbers keep their limbs outside the heap (GMP allocates them); their objects sit
//! on a finalisation list per generation, and after each collection those that were not
//! copied are dropped, which frees their limbs, so dead big integers never leak.

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

impl Header {
    /// The header of a newly allocated object: the one initialiser, shared by the
    /// collector's allocation and the JIT's inline allocation (`jit::layout::header_words`).
    #[inline(always)]
    pub const fn new(kind: u8, tag: u16, meta: u32, len: u64) -> Header {
        Header {
            kind,
            flags: 0,
            tag,
            meta,
            len,
        }
    }
}
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

/// One space (the nursery, or an old-generation space): a 16-byte aligned buffer and a
/// bump pointer.
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
    fn free(&self) -> usize {
        self.cap - self.top
    }
    /// Overwrites the used part of the space with 0xFF bytes, so that a stale pointer
    /// into it (a GC bug) reads an impossible header instead of plausible old data.
    fn poison(&mut self) {
        // SAFETY: the space owns `cap >= top` writable bytes from `ptr`.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr(), 0xFF, self.top) }
    }
    fn base(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    fn contains(&self, p: *const u8) -> bool {
        (p as usize).wrapping_sub(self.ptr.as_ptr() as usize) < self.top
    }
    /// Bump-allocates `size` bytes, if they fit.
    #[inline(always)]
    fn bump(&mut self, size: usize) -> Option<*mut Header> {
        if size > self.cap - self.top {
            return None;
        }
        // SAFETY: `top + size <= cap`, so the block is inside the buffer, and it is
        // 16-byte aligned because `top` and `size` are multiples of 16.
        let p = unsafe { self.ptr.as_ptr().add(self.top) } as *mut Header;
        self.top += size;
        Some(p)
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

/// [`Header::flags`] bit: the (old) object is in the remembered set, so the next minor
/// collection scans its fields as roots. Set by the write barrier, cleared when the
/// object is scanned or copied.
pub const FLAG_REMEMBERED: u8 = 1;

/// Buckets of the pause histogram: bucket `i` holds pauses of `PAUSE_BASE^i` to
/// `PAUSE_BASE^(i+1)` nanoseconds, so the p99 is exact to 5% in a fixed 5 KiB, however
/// many collections run (stress runs make millions).
const PAUSE_BUCKETS: usize = 640;
const PAUSE_BASE: f64 = 1.05;

/// Counters reported by `--gc-stats`.
#[derive(Clone, Debug, Default)]
pub struct GcStats {
    /// Collections run (minor and major).
    pub collections: u64,
    /// Minor collections (the nursery only).
    pub minor: u64,
    /// Major collections (both generations).
    pub major: u64,
    /// Bytes allocated in total.
    pub allocated: u64,
    /// Bytes minor collections copied from the nursery into the old generation.
    pub promoted: u64,
    /// Bytes major collections copied.
    pub copied: u64,
    /// The largest old-generation space.
    pub max_space: usize,
    /// The most bytes the heap's spaces (nursery and old spaces, two of them during a
    /// major collection) held at once.
    pub peak_heap: usize,
    /// Old-generation bytes after the last collection (live data after a major one).
    pub live: usize,
    /// Time spent collecting.
    pub time: std::time::Duration,
    /// The longest collection.
    pub pause_max: std::time::Duration,
    /// Pause histogram (see `PAUSE_BUCKETS`).
    pauses: PauseHistogram,
}

/// Collection counts by pause length (see `PAUSE_BUCKETS`); empty until the first
/// collection. Its `Debug` prints the count only.
#[derive(Clone, Default)]
struct PauseHistogram(Vec<u64>);

impl std::fmt::Debug for PauseHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} pauses", self.0.iter().sum::<u64>())
    }
}

impl GcStats {
    /// Records one collection's pause.
    pub fn record_pause(&mut self, d: std::time::Duration) {
        self.time += d;
        self.pause_max = self.pause_max.max(d);
        if self.pauses.0.is_empty() {
            self.pauses.0 = vec![0; PAUSE_BUCKETS];
        }
        let ns = d.as_nanos().max(1) as f64;
        let b = ((ns.ln() / PAUSE_BASE.ln()) as usize).min(PAUSE_BUCKETS - 1);
        self.pauses.0[b] += 1;
    }

    /// The 99th percentile of the pauses (the upper bound of its histogram bucket,
    /// never above the longest pause); zero before any collection.
    pub fn pause_p99(&self) -> std::time::Duration {
        let total: u64 = self.pauses.0.iter().sum();
        if total == 0 {
            return std::time::Duration::ZERO;
        }
        let want = total - total / 100;
        let mut seen = 0;
        for (i, &n) in self.pauses.0.iter().enumerate() {
            seen += n;
            if seen >= want {
                let ns = PAUSE_BASE.powi(i as i32 + 1);
                return std::time::Duration::from_nanos(ns as u64).min(self.pause_max);
            }
        }
        self.pause_max
    }
}

/// The heap: a nursery and an old generation.
pub struct Heap {
    /// Where objects are born (bump allocation, also from generated code).
    nursery: Space,
    /// The old generation: survivors of a minor collection, and large objects.
    old: Space,
    /// The new old space while a major collection runs.
    to: Option<Space>,
    /// The previous old space, kept for the next major collection to reuse.
    spare: Option<Space>,
    /// Under stress, the last few old spaces, poisoned and kept out of reuse so that a
    /// dangling root points outside every live space and is caught by `copy`.
    retired: std::collections::VecDeque<Space>,
    /// Under stress, the last few nurseries, likewise (reused round robin).
    retired_nurseries: std::collections::VecDeque<Space>,
    /// Whether the collection under way is major.
    major: bool,
    /// Cheney scan offset in the space being copied into.
    scan: usize,
    /// Target of the next old space's usable size (its buffer has one nursery more:
    /// see `Heap::old_free`).
    old_cap: usize,
    /// The nursery's size.
    nursery_cap: usize,
    /// The most bytes the live data may occupy; past it allocation fails.
    pub limit: usize,
    /// Collect the nursery at every allocation and both generations every
    /// `STRESS_MAJOR_EVERY` collections (the stress mode the GC tests run under).
    pub stress: bool,
    /// Old objects that may point into the nursery (each has `FLAG_REMEMBERED`).
    remembered: Vec<*mut Header>,
    /// The remembered set could not grow (the system refused memory): the next
    /// collection is major, which needs no remembered set.
    remembered_lost: bool,
    /// GMP numbers in the nursery, and in the old generation: finalised when they die.
    young_finalize: Vec<*mut Header>,
    old_finalize: Vec<*mut Header>,
    /// Bytes GMP allocated for numbers since the last collection (outside the heap,
    /// but freed only when their objects die).
    external: usize,
    /// Bytes of GMP numbers promoted since the last major collection.
    old_external: usize,
    /// Collect at the next allocation (set when `external` outgrows the nursery).
    force: bool,
    /// Make the next collection major.
    force_major: bool,
    /// Collections run under stress (every `STRESS_MAJOR_EVERY`th is major).
    stress_count: u64,
    /// Statistics.
    pub stats: GcStats,
}

/// How many poisoned spaces of each generation stress mode keeps (see `Heap::retired`).
const RETIRED_SPACES: usize = 8;
/// The most bytes the retired old spaces may take together (beyond the newest one).
const RETIRED_BYTES: usize = 64 << 20;
/// Under stress, the verifier runs at every collection while the heap is this small,
/// and every `VERIFY_EVERY`th collection otherwise (see `Heap::verify_now`).
const VERIFY_ALL_BYTES: usize = 1 << 20;
const VERIFY_EVERY: u64 = 16;
/// Under stress, every this many collections is major.
const STRESS_MAJOR_EVERY: u64 = 8;

/// Default nursery size (`Config::heap_initial`): measured on binary-trees,
/// awfy_storage and the map benchmark (benches/NOTES.md), 1 MiB fits the L2 cache of
/// the machines we measured and is past the point where a bigger nursery stops
/// cutting promotion.
pub const DEFAULT_INITIAL: usize = 1 << 20;

impl Heap {
    /// A heap whose nursery (and first old space) is `initial` bytes and whose live
    /// data may not exceed `limit` bytes.
    ///
    /// The old generation starts empty: the first collection is major and makes it.
    /// When the system refuses even the nursery, the heap starts empty and the first
    /// allocation reports "out of memory".
    pub fn new(initial: usize, limit: usize) -> Heap {
        let initial = round16(initial.min(limit).max(1024));
        let nursery = Space::new(initial).unwrap_or_else(Space::empty);
        Heap {
            nursery_cap: nursery.cap(),
            nursery,
            old: Space::empty(),
            to: None,
            spare: None,
            retired: std::collections::VecDeque::new(),
            retired_nurseries: std::collections::VecDeque::new(),
            major: false,
            scan: 0,
            old_cap: initial,
            limit,
            stress: false,
            remembered: Vec::new(),
            remembered_lost: false,
            young_finalize: Vec::new(),
            old_finalize: Vec::new(),
            external: 0,
            old_external: 0,
            force: false,
            force_major: false,
            stress_count: 0,
            stats: GcStats {
                peak_heap: initial,
                ..GcStats::default()
            },
        }
    }

    /// The object size for a payload of `payload` bytes.
    #[inline(always)]
    pub fn object_size(payload: usize) -> usize {
        16 + round16(payload)
    }

    /// Bump-allocates `size` bytes (a multiple of 16) in the nursery and writes the
    /// header; `None` when the nursery is full (or in stress mode), and the VM must
    /// collect and retry (or allocate a large object in the old generation).
    #[inline(always)]
    pub fn try_alloc(
        &mut self,
        size: usize,
        kind: u8,
        tag: u16,
        meta: u32,
        len: u64,
    ) -> Option<*mut Header> {
        if self.stress || self.force {
            return None;
        }
        let p = self.nursery.bump(size)?;
        self.init(p, size, kind, tag, meta, len);
        if kind == Kind::BIG || kind == Kind::RAT {
            self.young_finalize.push(p);
        }
        Some(p)
    }

    /// Writes the header of a just-bumped object of `size` bytes at `p` (either
    /// generation) and counts the allocation.
    #[inline(always)]
    fn init(&mut self, p: *mut Header, size: usize, kind: u8, tag: u16, meta: u32, len: u64) {
        self.stats.allocated += size as u64;
        // SAFETY: `p` was just bumped from a space: it points at `size >= 16` writable
        // bytes of that space.
        unsafe { p.write(Header::new(kind, tag, meta, len)) };
    }

    /// Whether an object of `size` bytes is allocated in the old generation directly:
    /// more than a quarter of the nursery, which copying it out again and again would
    /// cost (and it may not fit the nursery at all).
    #[inline]
    pub fn is_large(&self, size: usize) -> bool {
        size > self.nursery_cap / 4
    }

    /// Allocates `size` bytes in the old generation; `None` when they do not fit. An
    /// object with values is born remembered, since whatever young values its creator
    /// stores into it next are not seen by the write barrier.
    pub fn try_alloc_old(
        &mut self,
        size: usize,
        kind: u8,
        tag: u16,
        meta: u32,
        len: u64,
    ) -> Option<*mut Header> {
        if size > self.old_free() {
            return None;
        }
        let p = self.old.bump(size)?;
        self.init(p, size, kind, tag, meta, len);
        if has_values(kind) {
            self.remember(p);
        }
        if kind == Kind::BIG || kind == Kind::RAT {
            self.old_finalize.push(p);
        }
        Some(p)
    }

    /// Whether `a` is an address in the nursery.
    #[inline(always)]
    fn is_young(&self, a: usize) -> bool {
        a.wrapping_sub(self.nursery.ptr.as_ptr() as usize) < self.nursery.cap
    }

    /// The write barrier: call it after storing `v` into a field of the object `obj`
    /// (any kind, any generation). When the store made an old object point into the
    /// nursery, the object joins the remembered set. One compare for an immediate.
    #[inline(always)]
    pub fn barrier(&mut self, obj: *mut Header, v: Value) {
        if v.tag == Tag::OBJ && self.is_young(v.bits as usize) && !self.is_young(obj as usize) {
            self.remember(obj);
        }
    }

    /// Stores `v` into value field `i` of `obj`, with the write barrier: every store
    /// into an existing heap object goes through here (or [`Heap::barrier`]).
    ///
    /// # Safety
    /// `obj` must be a live object with at least `i + 1` value fields.
    #[inline(always)]
    pub unsafe fn store(&mut self, obj: *mut Header, i: usize, v: Value) {
        // SAFETY: per the caller's contract.
        unsafe { *fields(obj).add(i) = v };
        self.barrier(obj, v);
    }

    #[cold]
    #[inline(never)]
    fn remember(&mut self, obj: *mut Header) {
        // SAFETY: `obj` is a live object (the barrier's and `try_alloc_old`'s callers).
        unsafe {
            if (*obj).flags & FLAG_REMEMBERED != 0 {
                return;
            }
            (*obj).flags |= FLAG_REMEMBERED;
        }
        if self.remembered.try_reserve(1).is_ok() {
            self.remembered.push(obj);
        } else {
            self.remembered_lost = true;
            self.force = true;
        }
    }

    /// Records memory GMP allocated outside the heap for a new number. When it
    /// outgrows the nursery, the next allocation collects, so that loops making big
    /// numbers free their limbs as promptly as they free heap memory.
    pub fn note_external(&mut self, bytes: usize) {
        self.external += bytes;
        if self.external > self.nursery.cap() {
            self.force = true;
        }
    }

    /// Whether the next collection should be major: forced (lost remembered set,
    /// promoted GMP memory), the stress schedule, or an old generation without room
    /// for a full nursery's survivors plus `needed_old` bytes.
    pub fn wants_major(&mut self, needed_old: usize) -> bool {
        if self.stress {
            self.stress_count += 1;
            if self.stress_count.is_multiple_of(STRESS_MAJOR_EVERY) {
                return true;
            }
        }
        self.force_major
            || self.remembered_lost
            || self.old_free() < self.nursery.top.saturating_add(needed_old)
    }

    /// Old-generation bytes in use (live data and garbage not yet collected).
    pub fn old_used(&self) -> usize {
        self.old.top
    }

    /// Whether `needed` more bytes fit in the old generation.
    pub fn old_fits(&self, needed: usize) -> bool {
        needed <= self.old_free()
    }

    /// The old space's free bytes, short of its last nursery's worth. Promotion and
    /// large objects stay within that, so that at a major collection everything there
    /// is (old data plus a full nursery) fits a space as big as the current one: the
    /// spare is reused instead of a bigger fresh space each time (whose pages fault
    /// in one by one as the collector first writes them).
    fn old_free(&self) -> usize {
        self.old
            .cap()
            .saturating_sub(self.nursery_cap)
            .saturating_sub(self.old.top)
    }

    /// Starts a collection, major or minor. A minor one copies the nursery's
    /// survivors into the old generation, which must have room for all of the
    /// nursery (else it becomes major). A major one copies both generations into a
    /// new old space that holds at least everything there is now plus `needed_old`.
    ///
    /// Returns `false`, with nothing changed, when the system refuses the memory for
    /// a major collection's new space even at the smallest size that can hold the
    /// old contents: the VM then reports "out of memory".
    #[must_use]
    pub fn begin(&mut self, major: bool, needed_old: usize) -> bool {
        let major = major || self.old.free() < self.nursery.top;
        self.major = major;
        if !major {
            self.scan = self.old.top;
            return true;
        }
        let min = self
            .old
            .top
            .saturating_add(self.nursery.top)
            .saturating_add(needed_old)
            .max(1024);
        // Whole mebibytes past the first one, so that sizes repeat and the spare is
        // reused; never more than the limit allows (plus the nursery's slack).
        let want = self.old_cap.saturating_add(self.nursery_cap);
        let want = if want > 1 << 20 {
            want.saturating_add((1 << 20) - 1) & !((1 << 20) - 1)
        } else {
            want
        };
        let want = want
            .min(self.limit.saturating_add(self.nursery_cap))
            .max(min);
        let to = match self.spare.take() {
            Some(mut s) if s.cap() >= want && s.cap() <= want.saturating_mul(2) => {
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
                let held = self.nursery.cap() + self.old.cap() + to.cap();
                self.stats.peak_heap = self.stats.peak_heap.max(held);
                self.to = Some(to);
                self.scan = 0;
                true
            }
            None => false,
        }
    }

    /// Copies the object a root points to (if it moves in this collection and was not
    /// yet copied) and updates the root. Immediates are left alone.
    #[inline]
    pub fn forward(&mut self, v: &mut Value) {
        if v.tag == Tag::OBJ {
            v.bits = self.copy(v.bits as *mut Header) as u64;
        }
    }

    fn copy(&mut self, p: *mut Header) -> *mut Header {
        let young = self.nursery.contains(p as *const u8);
        if !young {
            let old = self.old.contains(p as *const u8);
            // A pointer outside every live space is a VM bug (a slot the collector
            // skipped once and scans later): stop at it in tests and under stress,
            // instead of copying garbage. Release builds rely on the invariant.
            if (cfg!(debug_assertions) || self.stress) && !old {
                panic!("the collector met a dangling root: {p:p} is outside the live spaces");
            }
            if !self.major {
                return p;
            }
        }
        // SAFETY: roots and traced fields only ever hold addresses of objects in the
        // live spaces (the VM's invariant), which are readable headers.
        unsafe {
            if (*p).kind == Kind::FWD {
                return (*p).len as *mut Header;
            }
            let size = 16 + payload_bytes(&*p);
            let dst_space = if self.major {
                self.to.as_mut().expect("copy outside a collection")
            } else {
                &mut self.old
            };
            // `begin` made room for everything that can be copied.
            let dst = dst_space
                .bump(size)
                .expect("the collector's to-space overflowed");
            std::ptr::copy_nonoverlapping(p as *const u8, dst as *mut u8, size);
            (*dst).flags = 0;
            if self.major {
                self.stats.copied += size as u64;
            } else {
                self.stats.promoted += size as u64;
            }
            (*p).kind = Kind::FWD;
            (*p).len = dst as u64;
            dst
        }
    }

    /// Forwards the value fields of the object `h`.
    ///
    /// # Safety
    /// `h` must be a fully copied (or old, remembered) object with a valid header.
    unsafe fn scan_object(&mut self, h: *mut Header) {
        // SAFETY: per the caller's contract.
        unsafe {
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
        }
    }

    /// Finishes a collection: scans the remembered set (minor) and the copied objects
    /// (Cheney), frees the GMP numbers that died, empties the nursery and, after a
    /// major collection, swaps old spaces and applies the growth policy. Returns the
    /// old generation's bytes (the live data after a major collection).
    pub fn finish(&mut self, needed_old: usize) -> usize {
        if !self.major {
            let set = std::mem::take(&mut self.remembered);
            for &h in &set {
                // SAFETY: remembered objects are live old objects (they are only
                // dropped from the set by a major collection, which empties it).
                unsafe {
                    (*h).flags &= !FLAG_REMEMBERED;
                    self.scan_object(h);
                }
            }
            // Keep the allocation for the next cycle.
            self.remembered = set;
            self.remembered.clear();
        }
        loop {
            let (base, top) = {
                let dst = if self.major {
                    self.to.as_mut().expect("finish outside a collection")
                } else {
                    &mut self.old
                };
                (dst.base(), dst.top)
            };
            if self.scan >= top {
                break;
            }
            // SAFETY: `scan` walks the copied objects one by one; every object there
            // was fully copied by `copy` and has a valid header.
            unsafe {
                let h = base.add(self.scan) as *mut Header;
                self.scan += 16 + payload_bytes(&*h);
                self.scan_object(h);
            }
        }
        self.finalize();
        // The nursery is empty now.
        if self.stress {
            let mut n = std::mem::replace(&mut self.nursery, Space::empty());
            n.poison();
            self.retired_nurseries.push_back(n);
            self.nursery = if self.retired_nurseries.len() > RETIRED_SPACES {
                self.retired_nurseries.pop_front().expect("non-empty")
            } else {
                Space::new(self.nursery_cap).unwrap_or_else(Space::empty)
            };
        }
        self.nursery.top = 0;
        self.external = 0;
        self.force = false;
        self.stats.collections += 1;
        if self.major {
            self.stats.major += 1;
            self.remembered.clear();
            self.remembered_lost = false;
            self.force_major = false;
            self.old_external = 0;
            let to = self.to.take().expect("finish outside a collection");
            let old = std::mem::replace(&mut self.old, to);
            if self.stress {
                let mut old = old;
                old.poison();
                self.retired.push_back(old);
                // At most RETIRED_SPACES of them, and (past the newest) RETIRED_BYTES
                // in all, so that a big heap under stress does not hold many copies.
                while self.retired.len() > RETIRED_SPACES
                    || (self.retired.len() > 1
                        && self.retired.iter().map(Space::cap).sum::<usize>() > RETIRED_BYTES)
                {
                    self.retired.pop_front();
                }
            } else if old.cap() > 0 {
                self.spare = Some(old);
            }
            // Sizing: the next old space should hold the live data (with the pending
            // request) twice over plus a full nursery's survivors, so that major
            // collections come at most every time the live data could have doubled
            // (amortised cost proportional to allocation), but never past what the
            // limit lets live data reach. It follows the live data both ways (no
            // doubling past it: a major collection holds two old spaces at once, and
            // that is the heap's peak).
            let live = self.old.top.saturating_add(needed_old);
            let want = live.saturating_mul(2).saturating_add(self.nursery_cap);
            self.old_cap = want.min(self.limit.max(live));
        } else {
            self.stats.minor += 1;
            // Promoted GMP numbers keep their limbs until a major collection: when
            // they outgrow the old space, make the next collection major.
            if self.old_external > self.old.cap().max(self.nursery_cap) {
                self.force_major = true;
            }
        }
        let held = self.nursery.cap() + self.old.cap() + self.spare.as_ref().map_or(0, Space::cap);
        self.stats.peak_heap = self.stats.peak_heap.max(held);
        self.stats.live = self.old.top;
        self.stats.max_space = self.stats.max_space.max(self.old.cap());
        self.old.top
    }

    /// Drops the GMP numbers that were not copied; moves the survivors' entries to
    /// the old generation's list.
    fn finalize(&mut self) {
        let young = std::mem::take(&mut self.young_finalize);
        let old = if self.major {
            std::mem::take(&mut self.old_finalize)
        } else {
            Vec::new()
        };
        for &p in young.iter().chain(old.iter()) {
            // SAFETY: entries are BIG/RAT objects of the spaces just collected,
            // forwarded or dead; a survivor's copy is a valid BIG/RAT object.
            unsafe {
                if (*p).kind == Kind::FWD {
                    let q = (*p).len as *mut Header;
                    self.old_finalize.push(q);
                    if !self.major {
                        self.old_external += external_bytes(q);
                    }
                } else if (*p).kind == Kind::BIG {
                    std::ptr::drop_in_place((p as *mut u8).add(16) as *mut Integer);
                } else {
                    std::ptr::drop_in_place((p as *mut u8).add(16) as *mut Rational);
                }
            }
        }
        let mut young = young;
        young.clear();
        self.young_finalize = young;
    }

    /// The bump pointer and the end of what may be bump-allocated without the slow
    /// path (equal to the pointer when the next allocation must collect: stress mode,
    /// or a collection forced by external memory), for the JIT's register block.
    /// Generated code allocates in the nursery only.
    pub fn bump_window(&mut self) -> (*mut u8, *mut u8) {
        let base = self.nursery.base();
        // SAFETY: `top <= cap`: both are offsets inside (or one past) the buffer.
        let ptr = unsafe { base.add(self.nursery.top) };
        if self.stress || self.force {
            return (ptr, ptr);
        }
        // SAFETY: as above.
        (ptr, unsafe { base.add(self.nursery.cap()) })
    }

    /// The nursery's first byte and its capacity: what [`Heap::barrier`] calls young
    /// (an address in `[base, base + capacity)`), for the JIT's inline write barrier.
    pub fn nursery_bounds(&mut self) -> (*mut u8, usize) {
        (self.nursery.base(), self.nursery.cap)
    }

    /// Adopts a bump pointer that generated code advanced; `false` (and nothing
    /// changed) if it is not 16-byte aligned between the current pointer and the end.
    pub fn set_bump(&mut self, ptr: *mut u8) -> bool {
        let base = self.nursery.base() as usize;
        let p = ptr as usize;
        if p < base + self.nursery.top
            || p > base + self.nursery.cap()
            || !(p - base).is_multiple_of(16)
        {
            return false;
        }
        let top = p - base;
        self.stats.allocated += (top - self.nursery.top) as u64;
        self.nursery.top = top;
        true
    }

    /// Whether `p` points into a live space (for debug checks).
    pub fn contains(&self, p: *const Header) -> bool {
        self.nursery.contains(p as *const u8) || self.old.contains(p as *const u8)
    }

    /// Whether stress mode runs the verifier around this collection: always while
    /// the heap holds at most `VERIFY_ALL_BYTES`, and every `VERIFY_EVERY`th
    /// collection beyond, so that stress runs that build big structures stay
    /// linear-ish in time (a verification walks the whole heap, at every allocation).
    /// A missed barrier in between is still caught: the lost object's pointer leads
    /// into a poisoned, retired nursery, which the next verification or collection
    /// reports.
    pub fn verify_now(&self) -> bool {
        self.old.top + self.nursery.top <= VERIFY_ALL_BYTES
            || self.stats.collections.is_multiple_of(VERIFY_EVERY)
    }

    /// The heap verifier (the `lua_checkmemory` idea), run before and after every
    /// collection under stress and by tests after a run. Walks both generations and
    /// checks that every object has a valid kind, every traced value points at an
    /// object start in a live space, and the remembered set is complete: every old
    /// object holding a pointer into the nursery is flagged and listed (unless the set
    /// was lost, which makes the next collection major). Returns the first problem.
    pub fn check(&mut self) -> Result<(), String> {
        let spaces = [
            (
                "nursery",
                self.nursery.ptr.as_ptr() as usize,
                self.nursery.top,
            ),
            ("old", self.old.ptr.as_ptr() as usize, self.old.top),
        ];
        // One bit per 16-byte granule: set where an object starts.
        let mut starts: [Vec<u64>; 2] = [
            vec![0; self.nursery.top / 16 / 64 + 1],
            vec![0; self.old.top / 16 / 64 + 1],
        ];
        for (s, &(name, base, top)) in spaces.iter().enumerate() {
            let mut at = 0;
            while at < top {
                // SAFETY: objects are laid out back to back from the start of a space.
                let h = unsafe { &*((base + at) as *const Header) };
                if h.kind == 0 || h.kind > Kind::RAT {
                    return Err(format!("bad kind {} at offset {at} of the {name}", h.kind));
                }
                starts[s][at / 16 / 64] |= 1 << ((at / 16) % 64);
                at += 16 + payload_bytes(h);
            }
            if at != top {
                return Err(format!("the last object of the {name} overruns its top"));
            }
        }
        let listed: std::collections::HashSet<usize> =
            self.remembered.iter().map(|&p| p as usize).collect();
        for (s, &(name, base, top)) in spaces.iter().enumerate() {
            let mut at = 0;
            while at < top {
                // SAFETY: as above.
                unsafe {
                    let h = (base + at) as *mut Header;
                    let flagged = (*h).flags & FLAG_REMEMBERED != 0;
                    if flagged && !listed.contains(&(h as usize)) && !self.remembered_lost {
                        return Err(format!("object at offset {at} of the {name} is flagged remembered but not listed"));
                    }
                    if has_values((*h).kind) {
                        let n = if (*h).kind == Kind::REF || (*h).kind == Kind::THUNK {
                            1
                        } else {
                            (*h).len as usize
                        };
                        for i in 0..n {
                            let v = *fields(h).add(i);
                            if v.tag != Tag::OBJ {
                                continue;
                            }
                            let a = v.bits as usize;
                            let into = spaces
                                .iter()
                                .enumerate()
                                .find(|(_, &(_, b, t))| a.wrapping_sub(b) < t);
                            let Some((t, &(_, b, _))) = into else {
                                return Err(format!(
                                    "dangling pointer in field {i} of the object at offset {at} of the {name}"
                                ));
                            };
                            let g = (a - b) / 16;
                            if !(a - b).is_multiple_of(16)
                                || starts[t][g / 64] & (1 << (g % 64)) == 0
                            {
                                return Err(format!(
                                    "pointer into the middle of an object in field {i} of the object at offset {at} of the {name}"
                                ));
                            }
                            if s == 1 && t == 0 && !flagged {
                                return Err(format!(
                                    "old object at offset {at} points into the nursery (field {i}) but is not remembered: a missing write barrier"
                                ));
                            }
                        }
                    }
                    at += 16 + payload_bytes(&*h);
                }
            }
        }
        Ok(())
    }
}

/// The bytes GMP holds outside the heap for the BIG or RAT object `p`.
///
/// # Safety
/// `p` must be a live BIG or RAT object.
unsafe fn external_bytes(p: *mut Header) -> usize {
    // SAFETY: per the caller's contract.
    unsafe {
        if (*p).kind == Kind::BIG {
            big(p).significant_bits() as usize / 8
        } else {
            let r = rat(p);
            (r.numer().significant_bits() + r.denom().significant_bits()) as usize / 8
        }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        for &p in self.young_finalize.iter().chain(self.old_finalize.iter()) {
            // SAFETY: the lists hold exactly the live BIG/RAT objects of the live
            // spaces, each dropped once here.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::{Config, Vm};

    /// A machine with a small nursery and no stress, so that the tests decide when
    /// collections happen.
    fn vm() -> Vm {
        Vm::new(Config {
            gc_stress: false,
            heap_initial: 4096,
            ..Config::default()
        })
    }

    /// An array of `n` units, old (a collection has promoted it), kept in global 0.
    fn old_array(vm: &mut Vm, n: usize) -> *mut Header {
        let a = vm
            .new_values(Kind::ARRAY, 0, 0, &vec![Value::UNIT; n])
            .unwrap();
        vm.globals.push(a);
        vm.collect(0).unwrap();
        let p = vm.globals[0].ptr();
        assert!(vm.heap.old.contains(p as *const u8), "promoted");
        p
    }

    /// A young object stored through `Heap::store` into an old one survives a minor
    /// collection that nothing else roots it for, and the heap checks clean.
    #[test]
    fn a_young_object_stored_into_an_old_one_survives_a_minor_collection() {
        let mut vm = vm();
        let arr = old_array(&mut vm, 2);
        let s = vm.new_str("young").unwrap();
        assert!(vm.heap.is_young(s.bits as usize));
        // SAFETY: `arr` is a live array of 2 values (no allocation since it was read).
        unsafe { vm.heap.store(arr, 1, s) };
        assert_eq!(vm.heap.check(), Ok(()));
        let majors = vm.heap.stats.major;
        vm.collect(0).unwrap();
        assert_eq!(vm.heap.stats.major, majors, "the collection was minor");
        assert_eq!(vm.heap.check(), Ok(()));
        assert_eq!(vm.display(vm.globals[0]), "#[(), \"young\"]");
        assert!(vm.heap.stats.promoted > 0);
    }

    /// The verifier finds an old-to-young pointer stored without the barrier (what a
    /// missing barrier in an instruction would leave), before the collection that
    /// would lose the object.
    #[test]
    fn the_verifier_reports_a_missing_write_barrier() {
        let mut vm = vm();
        let arr = old_array(&mut vm, 1);
        let s = vm.new_str("young").unwrap();
        // SAFETY: `arr` is a live array of 1 value.
        unsafe { *fields(arr) = s };
        let e = vm.heap.check().unwrap_err();
        assert!(e.contains("missing write barrier"), "{e}");
    }

    /// Stores that cannot make an old-to-young pointer leave the remembered set
    /// alone: immediates, old values, stores into young objects.
    #[test]
    fn the_barrier_remembers_only_old_to_young_stores() {
        let mut vm = vm();
        let arr = old_array(&mut vm, 2);
        // SAFETY: `arr` is a live array of 2 values; `s` a live young object of 1.
        unsafe {
            vm.heap.store(arr, 0, Value::i64(5));
            vm.heap.store(arr, 1, Value::obj(arr));
            assert!(vm.heap.remembered.is_empty());
            let s = vm.new_values(Kind::REF, 0, 0, &[Value::UNIT]).unwrap();
            vm.heap.store(s.ptr(), 0, Value::obj(arr));
            assert!(vm.heap.remembered.is_empty());
            vm.heap.store(arr, 1, s);
            vm.heap.store(arr, 0, s);
            assert_eq!(vm.heap.remembered.len(), 1, "remembered once");
        }
    }

    /// A large array is born in the old generation, remembered, so the young values
    /// its creator fills it with survive a minor collection.
    #[test]
    fn large_objects_are_born_old_and_remembered() {
        let mut vm = vm();
        let s = vm.new_str("fill").unwrap();
        vm.globals.push(s);
        let n = 1000; // 16 KB: more than a quarter of the 4 KiB nursery
        let a = vm
            .new_values(Kind::ARRAY, 0, 0, &vec![vm.globals[0]; n])
            .unwrap();
        assert!(vm.heap.old.contains(a.ptr() as *const u8));
        vm.globals[0] = a;
        vm.collect(0).unwrap();
        assert_eq!(vm.heap.check(), Ok(()));
        let shown = vm.display(vm.globals[0]);
        assert_eq!(shown.matches("\"fill\"").count(), n);
    }

    /// Dead GMP numbers are finalised in both generations; live ones survive both
    /// kinds of collection.
    #[test]
    fn big_integers_survive_and_die_in_both_generations() {
        let mut vm = vm();
        let keep = vm.new_big(Integer::from(1) << 200).unwrap();
        vm.globals.push(keep);
        vm.new_big(Integer::from(3) << 300).unwrap(); // dies young
        vm.collect(0).unwrap();
        assert_eq!(vm.heap.old_finalize.len(), 1);
        assert!(vm.heap.young_finalize.is_empty());
        vm.globals[0] = Value::UNIT; // the promoted one dies old
        vm.collect_once(true, 0).unwrap();
        assert!(vm.heap.old_finalize.is_empty());
        assert_eq!(vm.heap.check(), Ok(()));
    }

    /// Pause percentiles come from the histogram, within its 5% resolution.
    #[test]
    fn pause_p99() {
        let mut s = GcStats::default();
        assert_eq!(s.pause_p99(), std::time::Duration::ZERO);
        for _ in 0..99 {
            s.record_pause(std::time::Duration::from_micros(100));
        }
        s.record_pause(std::time::Duration::from_millis(50));
        let p = s.pause_p99().as_secs_f64();
        assert!((100e-6..=106e-6).contains(&p), "{p}");
        assert_eq!(s.pause_max, std::time::Duration::from_millis(50));
        s.record_pause(std::time::Duration::from_millis(50));
        s.record_pause(std::time::Duration::from_millis(50));
        assert!(s.pause_p99() >= std::time::Duration::from_millis(47));
    }
}
