//! The garbage-collected heap: object layouts and a generational collector (a copying
//! young generation with aging, a mark-compact old generation, a large-object space).
//!
//! Every object starts with a 16-byte [`Header`] and is 16-byte aligned; its payload
//! follows (values, bytes, or an inline GMP number). Objects are born in the young
//! generation's eden by bumping a pointer. Every collection starts with a minor part,
//! which copies the young survivors (reachable from the roots the VM hands to
//! [`Heap::forward`] and from the remembered set) into a survivor space while they are
//! younger than the tenure age, into the old space once they are not, and scans them
//! breadth first (Cheney), so its cost is proportional to what survives. A major collection then marks the old
//! generation from the roots ([`Heap::mark`]), computes where each live object slides
//! to ([`Heap::plan`]), has the VM relocate its roots ([`Heap::relocate`]) and compacts
//! the old space in place ([`Heap::compact`]); large objects (each in a mapping of its
//! own) are marked and unmapped when dead, never moved. The remembered set lists the
//! old objects that may point into the young generation: every store into an existing object
//! goes through [`Heap::store`] or [`Heap::barrier`]. SPEC.md §1.4 gives the policies
//! (when a collection is major, how the old generation grows).
//!
//! GMP numbers keep their limbs outside the heap (GMP allocates them); their objects sit
//! on a finalisation list per generation, and after each collection those that died are
//! dropped, which frees their limbs, so dead big integers never leak.

use crate::value::{Tag, Value};
use rug::{Integer, Rational};

/// Object kinds, stored in [`Header::kind`].
pub struct Kind;

impl Kind {
    /// A constructor value, tuple or cons cell: `tag` = constructor index, `meta` = type
    /// id, `len` values follow.
    pub const DATA: u8 = 1;
    /// A mutable array of `len` elements; `meta` is its elements kind ([`Elems`]):
    /// `len` values follow, or `len` 8-byte payloads of one tag, or (once converted)
    /// one value pointing at the general array that now holds the elements.
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

/// The elements kinds of an array (its header's `meta`), V8's "elements kinds": an
/// array whose elements all have one immediate tag (bool, i64, u64, f64, char) stores
/// their 8-byte payloads only, half the memory of 16-byte values, and the collector
/// never scans it. A store of a value of another tag converts the array: a general
/// array of the same elements is allocated and the flat one becomes [`Elems::MOVED`],
/// its first 16 bytes a value pointing at the general one (an array of at least one
/// element has room for it; an empty array is never stored into). Every consumer of
/// an array resolves a moved one first ([`array_target`]).
pub struct Elems;

impl Elems {
    /// 16-byte values of any tags. Not 0 (nor any tag): a store's fast path tests
    /// for a flat array and a value of its kind with one compare (kind = tag).
    pub const GENERAL: u32 = 0x100;
    /// A flat kind is the [`Tag`] of every element (`Tag::BOOL` to `Tag::CHAR`).
    pub const FLAT_FIRST: u32 = Tag::BOOL;
    /// The last flat kind.
    pub const FLAT_LAST: u32 = Tag::CHAR;
    /// Converted: one value follows, the general array holding the elements now.
    pub const MOVED: u32 = 0xff;

    /// The flat elements kind for values of tag `tag`, or `GENERAL`.
    #[inline(always)]
    pub const fn of_tag(tag: u32) -> u32 {
        if tag >= Self::FLAT_FIRST && tag <= Self::FLAT_LAST {
            tag
        } else {
            Self::GENERAL
        }
    }

    /// The elements kind for an array of `vals`: flat when all share a flat tag
    /// (and there is at least one), general otherwise.
    pub fn of_values(vals: &[Value]) -> u32 {
        match vals.first() {
            Some(v) if vals.iter().all(|w| w.tag == v.tag) => Self::of_tag(v.tag),
            _ => Self::GENERAL,
        }
    }

    /// Whether `meta` is a flat elements kind.
    #[inline(always)]
    pub const fn is_flat(meta: u32) -> bool {
        meta >= Self::FLAT_FIRST && meta <= Self::FLAT_LAST
    }

    /// Whether `meta` is an elements kind an array of `len` elements can have (a
    /// converted array has at least one element).
    pub const fn valid(meta: u32, len: u64) -> bool {
        meta == Self::GENERAL || Self::is_flat(meta) || (meta == Self::MOVED && len > 0)
    }

    /// The payload size of an array of `len` elements of kind `meta`.
    #[inline(always)]
    pub const fn payload(meta: u32, len: usize) -> usize {
        if meta == Self::GENERAL {
            len * 16
        } else {
            round16(len * 8)
        }
    }
}

/// The array holding the elements of the array `h`: `h`, or for a converted one the
/// general array it moved them to.
///
/// # Safety
/// `h` must point at a live ARRAY object.
#[inline(always)]
pub unsafe fn array_target(h: *mut Header) -> *mut Header {
    // SAFETY: per the caller's contract; a MOVED array's first value is an OBJ.
    unsafe {
        if (*h).meta == Elems::MOVED {
            (*fields(h)).bits as *mut Header
        } else {
            h
        }
    }
}

/// Element `i` of the array `h` (not MOVED: see [`array_target`]).
///
/// # Safety
/// `h` must point at a live, resolved ARRAY object with more than `i` elements.
#[inline(always)]
pub unsafe fn array_get(h: *mut Header, i: usize) -> Value {
    // SAFETY: per the caller's contract: `meta` says how the payload is laid out.
    unsafe {
        let m = (*h).meta;
        if m == Elems::GENERAL {
            *fields(h).add(i)
        } else {
            Value {
                bits: *((h as *mut u8).add(16) as *const u64).add(i),
                tag: m,
                aux: 0,
            }
        }
    }
}

/// The elements of the array `h` (resolved if MOVED), as values.
///
/// # Safety
/// `h` must point at a live ARRAY object.
pub unsafe fn array_values(h: *mut Header) -> Vec<Value> {
    let mut out = Vec::new();
    // SAFETY: per the caller's contract.
    unsafe { array_push_values(h, &mut out) };
    out
}

/// Appends the elements of the array `h` (resolved if MOVED) to `out`, as values: a
/// copy of the payload for a general array, one loop of one kind for a flat one.
///
/// # Safety
/// `h` must point at a live ARRAY object.
pub unsafe fn array_push_values(h: *mut Header, out: &mut Vec<Value>) {
    // SAFETY: per the caller's contract: a resolved array of `len` elements, laid out
    // as its `meta` says.
    unsafe {
        let h = array_target(h);
        let (n, m) = ((*h).len as usize, (*h).meta);
        if m == Elems::GENERAL {
            out.extend_from_slice(std::slice::from_raw_parts(fields(h), n));
        } else {
            let p = (h as *mut u8).add(16) as *const u64;
            out.extend((0..n).map(|i| Value {
                bits: *p.add(i),
                tag: m,
                aux: 0,
            }));
        }
    }
}

/// Writes `vals` (all of the array's elements kind) into the fresh array `h`.
///
/// # Safety
/// `h` must be a just allocated ARRAY of `vals.len()` elements whose kind
/// ([`Elems::of_values`]) is that of `vals`.
pub unsafe fn array_fill_new(h: *mut Header, vals: &[Value]) {
    // SAFETY: per the caller's contract.
    unsafe {
        if (*h).meta == Elems::GENERAL {
            std::ptr::copy_nonoverlapping(vals.as_ptr(), fields(h), vals.len());
        } else {
            let p = (h as *mut u8).add(16) as *mut u64;
            for (i, v) in vals.iter().enumerate() {
                *p.add(i) = v.bits;
            }
        }
    }
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
// `Heap::init` writes the header as two words in this layout.
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(Header, kind) == 0 && offset_of!(Header, flags) == 1);
    assert!(offset_of!(Header, tag) == 2 && offset_of!(Header, meta) == 4);
    assert!(offset_of!(Header, len) == 8);
};

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
    // Constructor values are most of what the collector copies and walks: tested
    // first, a predicted branch instead of the jump table's indirect one.
    if h.kind == Kind::DATA {
        return h.len as usize * 16;
    }
    match h.kind {
        Kind::ARRAY => Elems::payload(h.meta, h.len as usize),
        Kind::DATA | Kind::CLOSURE | Kind::PAP => h.len as usize * 16,
        Kind::REF | Kind::THUNK => 16,
        Kind::STR | Kind::BYTES => round16(h.len as usize),
        Kind::BIG => BIG_BYTES,
        Kind::RAT => RAT_BYTES,
        _ => 0,
    }
}

/// Whether the payload of this object holds values the collector must trace (not a
/// flat array's payloads: a big numeric array is never scanned).
#[inline]
fn has_values(h: &Header) -> bool {
    if h.kind == Kind::DATA {
        return true;
    }
    match h.kind {
        Kind::DATA | Kind::CLOSURE | Kind::PAP | Kind::REF | Kind::THUNK => true,
        Kind::ARRAY => h.meta == Elems::GENERAL || h.meta == Elems::MOVED,
        _ => false,
    }
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

/// One space (the nursery, or the old generation's): a 16-byte aligned buffer and a
/// bump pointer.
///
/// The nursery's buffer comes from the global allocator directly (zeroed, so that it is
/// mapped lazily by the C library), never through `Vec`: when the system refuses the
/// memory, [`Space::new`] returns `None` and the VM reports "out of memory" instead of
/// Rust's abort on allocation failure. The old space is a reservation of address space
/// ([`Space::reserve`]) whose pages the kernel provides on first touch, in huge pages
/// where it can (see [`HUGE_PAGE`]).
struct Space {
    ptr: std::ptr::NonNull<u8>,
    cap: usize,
    top: usize,
    /// Whether the buffer is a mapping of `reserve` (unmapped on drop) rather than
    /// the allocator's.
    mapped: bool,
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
        Some(Space {
            ptr,
            cap,
            top: 0,
            mapped: false,
        })
    }
    /// A reservation of `bytes` bytes of address space (rounded to pages), backed by
    /// pages only where it is touched (`MAP_NORESERVE`): the old generation grows and
    /// is compacted inside it without ever moving to another space. When the system
    /// refuses that much (an `RLIMIT_AS`, strict overcommit), halves the request down
    /// to `min` bytes.
    ///
    /// The reservation starts at a multiple of [`HUGE_PAGE`] and its whole huge pages
    /// but the first are advised for transparent huge pages (`MADV_HUGEPAGE`), so that
    /// the kernel backs them with 2 MiB pages as they are first touched: one page fault
    /// per 2 MiB instead of 512, and one TLB entry. The old space's pages are touched
    /// in order from its start (promotion bumps a pointer, compaction slides down), so
    /// a huge page is touched only once the space reaches it; the first 2 MiB keep
    /// small pages, so that a program that promotes a few objects does not hold 2 MiB
    /// for them.
    fn reserve(bytes: usize, min: usize) -> Option<Space> {
        let mut want = bytes.checked_add(4095)? & !4095;
        loop {
            // The mapping starts somewhere in its first huge page: map one more huge
            // page (but a small one) to find an aligned start inside it.
            let extra = HUGE_PAGE - 4096;
            // (An impossible length fails as a refused one: halved below.)
            let len = want.saturating_add(extra);
            // SAFETY: a fresh anonymous private mapping at an address of the kernel's
            // choice touches no existing memory.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                let at = p as usize;
                let start = (at + extra) & !(HUGE_PAGE - 1);
                let end = at + want + extra;
                // SAFETY: `at..start` and `start + want..end` are whole pages of the
                // mapping just made (both ends are multiples of 4096: `mmap` returns a
                // page, `want` and `extra` are whole pages), which nothing refers to;
                // what stays mapped is `start..start + want`, unmapped by `drop`. The
                // advice changes no byte (advice only: a kernel without transparent
                // huge pages refuses it, and the space keeps small pages).
                unsafe {
                    if start > at {
                        libc::munmap(p, start - at);
                    }
                    if end > start + want {
                        libc::munmap((start + want) as *mut libc::c_void, end - start - want);
                    }
                    let huge = want & !(HUGE_PAGE - 1);
                    if huge > HUGE_PAGE {
                        libc::madvise(
                            (start + HUGE_PAGE) as *mut libc::c_void,
                            huge - HUGE_PAGE,
                            libc::MADV_HUGEPAGE,
                        );
                    }
                }
                return Some(Space {
                    ptr: std::ptr::NonNull::new(start as *mut u8)?,
                    cap: want,
                    top: 0,
                    mapped: true,
                });
            }
            if want / 2 < min {
                return None;
            }
            want = (want / 2 + 4095) & !4095;
        }
    }
    /// Gives the whole pages between offsets `from` and `to` back to the system (a
    /// mapped space only); they read as zeros when touched again.
    fn release(&mut self, from: usize, to: usize) {
        let from = (from.min(self.cap) + 4095) & !4095;
        let to = to.min(self.cap) & !4095;
        if self.mapped && from < to {
            // SAFETY: `from..to` are whole pages inside the mapping, beyond every
            // object in the space (the caller's contract): nothing refers to them.
            unsafe {
                libc::madvise(
                    self.ptr.as_ptr().add(from) as *mut libc::c_void,
                    to - from,
                    libc::MADV_DONTNEED,
                )
            };
        }
    }
    /// A space of no bytes, owning no memory (every allocation in it fails).
    fn empty() -> Space {
        Space {
            ptr: std::ptr::NonNull::dangling(),
            cap: 0,
            top: 0,
            mapped: false,
        }
    }
    fn cap(&self) -> usize {
        self.cap
    }
    fn free(&self) -> usize {
        self.cap - self.top
    }
    /// Overwrites the bytes between offsets `from` and `to` (at most `cap`) with 0xFF,
    /// so that a stale pointer into them (a GC bug) reads an impossible header
    /// instead of plausible old data.
    fn poison(&mut self, from: usize, to: usize) {
        let to = to.min(self.cap);
        if from < to {
            // SAFETY: the space owns `cap` writable bytes from `ptr`.
            unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(from), 0xFF, to - from) }
        }
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
        self.bump_to(size, self.cap)
    }
    /// Bump-allocates `size` bytes, if they fit below offset `end` (at most `cap`):
    /// the young generation's buffer allocates in its eden only. `end` may be below
    /// `top` (the heap's `alloc_end` of 0 while an allocation must collect): nothing
    /// fits then, so the new top is compared, never `end - top` computed.
    #[inline(always)]
    fn bump_to(&mut self, size: usize, end: usize) -> Option<*mut Header> {
        let new_top = self.top.checked_add(size)?;
        if new_top > end {
            return None;
        }
        // SAFETY: `top + size <= end <= cap`, so the block is inside the buffer, and it
        // is 16-byte aligned because `top` and `size` are multiples of 16.
        let p = unsafe { self.ptr.as_ptr().add(self.top) } as *mut Header;
        self.top = new_top;
        Some(p)
    }
}

impl Drop for Space {
    fn drop(&mut self) {
        if self.cap == 0 {
            return;
        }
        if self.mapped {
            // SAFETY: `ptr` and `cap` are exactly the mapping `reserve` made, unmapped
            // once.
            unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.cap) };
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

/// The transparent huge page size of x86-64 (and of arm64 with 4 KiB pages): the old
/// space starts at a multiple of it and is advised for huge pages from its second one
/// on ([`Space::reserve`]). binary-trees 16's native executable took 5,200 page faults,
/// 4,000 of them the old space's, and 11% of its time in the kernel, where ocamlopt's
/// took 2,900 (benches/NOTES.md, session 27). The nursery keeps small pages: its pages
/// are faulted in once and reused by every cycle. Neither the nursery nor the old
/// space's first 2 MiB are advised because a huge page is resident as a whole from its
/// first touch: with them, a program that allocates or promotes a few objects held 2
/// MiB more (nqueens 6.0 → 8.0 MiB, measured). The kernel decides: with transparent
/// huge pages off (`never`) or missing, the old space gets small pages as before.
pub const HUGE_PAGE: usize = 2 << 20;

/// Objects of at least this many bytes live in the large-object space: each in a
/// mapping of its own, never copied (a 16 MB array copied by every major collection
/// would double the heap's peak), marked by major collections and unmapped when dead,
/// which returns its memory to the system at once.
/// The smallest eden a heap has (`--nursery` at least 1K): generated code that
/// bump-allocates an object inline relies on it to know the object is not one the
/// collector would allocate in the old generation ([`Heap::is_large`]).
pub const MIN_NURSERY: usize = 1024;

pub const LARGE_MIN: usize = 64 << 10;

/// The large-object space: objects of [`LARGE_MIN`] bytes or more, each in its own
/// anonymous mapping (zeroed pages, mapped lazily by the kernel). They belong to the
/// old generation: the write barrier treats them as old (they are outside the
/// nursery), they are born remembered, and major collections mark them
/// ([`FLAG_MARKED`]) and unmap the unmarked ones.
struct LargeSpace {
    /// Object address -> mapped bytes.
    objs: std::collections::HashMap<usize, usize>,
    /// Mapped bytes in all.
    bytes: usize,
    /// Mappings of dead objects kept for reuse (address, bytes), at most as many
    /// bytes as the space may still grow before the next major collection: a program
    /// that drops a big array and makes another (the sieve, run after run) reuses the
    /// pages instead of faulting in fresh ones, without raising the peak.
    cache: Vec<(usize, usize)>,
    /// Bytes in `cache`.
    cached: usize,
}

impl LargeSpace {
    /// Maps a fresh object of `size` bytes; `None` when the system refuses.
    fn alloc(&mut self, size: usize) -> Option<*mut Header> {
        let mapped = size.checked_add(4095)? & !4095;
        self.objs.try_reserve(1).ok()?;
        // A cached mapping that fits without wasting more than a quarter of it.
        let fit = self
            .cache
            .iter()
            .enumerate()
            .filter(|(_, &(_, m))| m >= mapped && m - mapped <= m / 4)
            .min_by_key(|(_, &(_, m))| m)
            .map(|(i, _)| i);
        if let Some(i) = fit {
            let (a, m) = self.cache.swap_remove(i);
            self.cached -= m;
            self.objs.insert(a, m);
            self.bytes += m;
            return Some(a as *mut Header);
        }
        // SAFETY: an anonymous private mapping of `mapped` bytes at an address of the
        // kernel's choice touches no existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        self.objs.insert(p as usize, mapped);
        self.bytes += mapped;
        Some(p as *mut Header)
    }

    fn contains(&self, p: *const Header) -> bool {
        self.objs.contains_key(&(p as usize))
    }

    /// Unmaps one object.
    fn unmap(addr: usize, mapped: usize) {
        // SAFETY: `addr` and `mapped` are exactly a mapping `alloc` made, unmapped once
        // (its entry is removed by the caller); nothing points at a dead object.
        unsafe { libc::munmap(addr as *mut libc::c_void, mapped) };
    }
}

impl Drop for LargeSpace {
    fn drop(&mut self) {
        for (&a, &m) in self
            .objs
            .iter()
            .chain(self.cache.iter().map(|(a, m)| (a, m)))
        {
            LargeSpace::unmap(a, m);
        }
    }
}

/// [`Header::flags`] bit: the (old) object is in the remembered set, so the next minor
/// collection scans its fields as roots. Set by the write barrier, cleared when the
/// object is scanned or copied.
pub const FLAG_REMEMBERED: u8 = 1;

/// [`Header::flags`] bit: a large object reached by the major collection under way
/// (set while tracing, cleared by the sweep of the large-object space that ends it).
pub const FLAG_MARKED: u8 = 2;

/// [`Header::flags`] of a young object hold its *age* from this bit up: the minor
/// collections it has survived (0 in eden, 1 to the tenure age in a survivor space).
/// Only young objects have an age, only old ones the two bits above, so they share the
/// byte; a promoted object's flags start at 0.
pub const AGE_SHIFT: u32 = 2;

/// The highest tenure age (`Config::gc_age`) the age bits can count to with room to
/// spare; beyond a few survivals an object is long-lived anyway.
pub const MAX_TENURE_AGE: u8 = 15;

/// Default tenure age (`Config::gc_age`): the minor collections an object survives in
/// a survivor space before it is promoted. Measured in benches/NOTES.md ("Aging in
/// the generational collector"): aging once, as V8's and HotSpot's scavengers can,
/// lets objects that were merely under construction at a minor collection die young.
pub const DEFAULT_TENURE_AGE: u8 = 1;

/// Default size of each of the two survivor spaces (`Config::gc_survivor`), measured
/// with the tenure age above and the nursery below: a quarter of the nursery, as the
/// 256 KiB of the 1 MiB nursery were (benches/NOTES.md, session 19).
pub const DEFAULT_SURVIVOR: usize = 512 << 10;

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
    /// The major collections that kept the settled bottom of the old space (see
    /// `Heap::settled`) instead of marking it.
    pub kept_bottom: u64,
    /// Bytes allocated in total.
    pub allocated: u64,
    /// Bytes minor collections copied from the young generation into the old one.
    pub promoted: u64,
    /// Bytes minor collections copied within the young generation (into a survivor
    /// space: the price of aging).
    pub survived: u64,
    /// Bytes major collections moved (sliding the old space's live objects down).
    pub copied: u64,
    /// The most of the old space ever in use (its touched pages).
    pub max_space: usize,
    /// The most bytes the heap held at once: the nursery, the old space's touched
    /// pages, the large objects' mappings and a major collection's mark tables.
    pub peak_heap: usize,
    /// Old-generation bytes (old space and large objects) after the last collection
    /// (live data after a major one).
    pub live: usize,
    /// Time spent collecting.
    pub time: std::time::Duration,
    /// The part of `time` spent in the major parts of collections (marking, planning,
    /// relocating and compacting the old generation; their minor parts count as minor).
    pub major_time: std::time::Duration,
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

/// The heap: a nursery and an old generation (the old space and the large objects).
pub struct Heap {
    /// The young generation, one buffer: *eden* (its first `nursery_cap` bytes, where
    /// objects are born by bumping `nursery.top`, also from generated code), then two
    /// survivor spaces of `surv_cap` bytes, one holding the objects that survived a
    /// minor collection and are not yet old enough to be promoted. One buffer keeps
    /// the write barrier's "young" test one range check (`nursery_bounds`).
    nursery: Space,
    /// Each survivor space's size (0 with a tenure age of 0).
    surv_cap: usize,
    /// The offset in `nursery` of the survivor space that holds the survivors, and
    /// how many bytes it holds.
    surv_at: usize,
    surv_top: usize,
    /// The minor collections an object survives in a survivor space before the next
    /// one promotes it (0: promoted at its first, no survivor spaces).
    tenure_age: u8,
    /// During a minor collection: the from-space's eden and survivors (address,
    /// bytes), the to-space survivor space (address), how far it is filled and
    /// scanned, and whether this collection promotes every survivor (before a major
    /// collection, which needs an empty young generation).
    from_eden: (usize, usize),
    from_surv: (usize, usize),
    to_base: usize,
    to_top: usize,
    to_scan: usize,
    /// The age below which this minor collection copies a survivor into the
    /// survivor space: the tenure age, or 0 when it promotes everything.
    tenure_now: u8,
    /// The old space's top when this minor collection started (what it promoted is
    /// above).
    promote_from: usize,
    /// Under stress, the buffer a minor collection evacuates (a fresh one takes its
    /// place at `begin`, so that survivors move to new addresses every time); it is
    /// poisoned and retired when the collection ends.
    evacuated: Option<Space>,
    /// The remembered set's spare allocation (the set is rebuilt at every minor
    /// collection from the objects that still point at survivors).
    remembered_spare: Vec<*mut Header>,
    /// The old space: survivors of minor collections and objects too big for the
    /// nursery but below [`LARGE_MIN`], bump-allocated in one reservation and compacted
    /// in place by major collections.
    old: Space,
    /// How far into the old space pages have been touched since they were last given
    /// back (its resident part).
    old_high: usize,
    /// Under stress, the last few nurseries, poisoned and kept out of reuse so that a
    /// dangling root points outside every live space and is caught by `copy` (reused
    /// round robin).
    retired_nurseries: std::collections::VecDeque<Space>,
    /// Large objects (see [`LARGE_MIN`]).
    large: LargeSpace,
    /// A major collection runs once the old generation (old space and large objects)
    /// would pass this many bytes: the live data after the last major collection plus
    /// half of it (at least `MAJOR_MIN_ROOM`).
    major_at: usize,
    /// Mark bits of the old space during a major collection: one per 16-byte granule,
    /// set for every granule of a reached object.
    marks: Vec<u64>,
    /// Start bits of the old space during a major collection: one per granule, set
    /// where a reached object starts, so that compaction visits the live objects
    /// without reading a dead object's header.
    starts: Vec<u64>,
    /// For each word of `marks`, the old-space offset that its first marked granule
    /// moves to (the marked bytes before it).
    moves: Vec<usize>,
    /// The dense prefix of a major collection (set by `plan`): the old-space offset
    /// below which every granule is marked. Nothing there moves, so relocating a
    /// pointer into it is one compare (no bit count) and the slide starts above it:
    /// the long-lived data a program builds first stays at the bottom of the old
    /// space, collection after collection.
    prefix: usize,
    /// The dense prefixes the last three full major collections found (the newest
    /// last; 0 before there were three).
    full_prefixes: [usize; 3],
    /// The *settled bottom* of the old space: the bytes from its start that each of
    /// the last three full major collections found live (the least of their dense
    /// prefixes, cut down to an object boundary), which the next major collections
    /// (`settled_left` of them) assume still live. Nothing moves it (every major
    /// collection's dense prefix covers it), so it is the old space's long-lived
    /// data (binary-trees' long-lived tree, a program's tables): marking it again at
    /// every major collection was most of binary-trees' marking (benches/NOTES.md,
    /// session 14). The write barrier records only pointers into the young
    /// generation, so a store may have made a settled object point at any old one:
    /// the settled objects' fields are scanned as roots (one linear pass, no mark
    /// stack) rather than trusted. What died in it since stays until the next full
    /// major collection.
    settled: usize,
    /// Major collections that may still keep the settled bottom before a full one,
    /// and how many the next full one allows when it finds the settled bottom live
    /// again (doubled each time, to `SETTLED_RUN_MAX`; back to 1 when it was not).
    settled_left: u32,
    settled_run: u32,
    /// This major collection's kept bottom: the settled bottom when it keeps it, 0
    /// when it marks the whole old space.
    kept: usize,
    /// The kept objects pointing into the old space above the kept bottom (where
    /// objects move): only their fields are relocated. `kept_out_lost`: the list
    /// could not grow, and every kept object is relocated.
    kept_out: Vec<*mut Header>,
    kept_out_lost: bool,
    /// Objects marked and not yet scanned (a major collection's mark stack).
    gray: Vec<*mut Header>,
    /// `gray` could not grow: some marked objects were not pushed, and the old
    /// generation is rescanned for them.
    gray_lost: bool,
    /// Cheney scan offset in the old space while a minor collection promotes.
    scan: usize,
    /// Eden's size.
    nursery_cap: usize,
    /// The offset in eden below which [`Heap::try_alloc`] may bump: `nursery_cap`, or 0
    /// while the next allocation must collect (`stress` or `force`), so that the bump's
    /// one bound compare also sends every allocation under GC stress or a forced
    /// collection to the slow path; two flag tests per allocation fewer (binary-trees'
    /// `con`). Every write of `stress` or `force` goes through [`Heap::set_stress`] or
    /// [`Heap::set_force`], which recompute it (`nursery_cap` is fixed at `new`).
    alloc_end: usize,
    /// The most bytes the live data may occupy; past it allocation fails.
    pub limit: usize,
    /// Collect the nursery at every allocation and both generations every
    /// `STRESS_MAJOR_EVERY` collections (the stress mode the GC tests run under).
    /// Private: [`Heap::set_stress`] keeps `alloc_end` in step.
    stress: bool,
    /// Old objects that may point into the young generation (each has
    /// `FLAG_REMEMBERED`).
    remembered: Vec<*mut Header>,
    /// The remembered set could not grow (the system refused memory): the next
    /// collection scans the whole old generation instead.
    remembered_lost: bool,
    /// GMP numbers in the young generation, and in the old one: finalised when they
    /// die.
    young_finalize: Vec<*mut Header>,
    old_finalize: Vec<*mut Header>,
    /// The young list's spare allocation (rebuilt at every minor collection).
    young_finalize_spare: Vec<*mut Header>,
    /// Bytes GMP allocated for young numbers (since the last collection, plus those
    /// of the numbers in the survivor space): outside the heap, freed only when their
    /// objects die.
    external: usize,
    /// Bytes of GMP numbers promoted since the last major collection.
    old_external: usize,
    /// Collect at the next allocation (set when `external` outgrows the nursery, or
    /// the remembered set could not grow); written only by [`Heap::set_force`].
    force: bool,
    /// Make the next collection major.
    force_major: bool,
    /// Collections run under stress (every `STRESS_MAJOR_EVERY`th is major).
    stress_count: u64,
    /// `stats.allocated` at the last major collection, and at the last verification
    /// (stress mode's schedules).
    allocated_at_major: u64,
    allocated_at_verify: std::cell::Cell<u64>,
    /// Statistics.
    pub stats: GcStats,
}

/// How many poisoned nurseries stress mode keeps (see `Heap::retired_nurseries`).
const RETIRED_SPACES: usize = 8;
/// Under stress, the verifier runs at every collection while the heap is this small;
/// beyond, once at least a `VERIFY_EVERY`th of the heap has been allocated since it
/// last ran (see `Heap::verify_now`).
const VERIFY_ALL_BYTES: usize = 1 << 20;
const VERIFY_EVERY: usize = 16;
/// Under stress, every this many collections is major while the old generation is at
/// most `VERIFY_ALL_BYTES`; beyond, the next one after an eighth of it has been
/// allocated since the last major collection. Either way a major collection's cost
/// (proportional to the old generation) is paid for by as many bytes allocated: a
/// stress run stays linear in what the program allocates.
const STRESS_MAJOR_EVERY: u64 = 8;
/// The least room, in nurseries, that the old generation gets to grow between major
/// collections (so that a small heap is not marked after every few minor ones).
const MAJOR_MIN_ROOM: usize = 4;
/// The most major collections in a row that keep the settled bottom (see
/// `Heap::settled`) without a full one: what died in it stays at most this many major
/// collections.
const SETTLED_RUN_MAX: u32 = 8;

/// Default nursery size (`Config::heap_initial`): measured on binary-trees,
/// awfy_storage and the map benchmark (benches/NOTES.md, session 19). 2 MiB with
/// 512 KiB survivor spaces halves the minor collections of 1 MiB and cuts what the
/// map benchmark promotes (pmap −7.8% instructions, awfy_storage −3.7%,
/// binary-trees −3.3%; binary-trees 20's longest pause 32 ms against 39) while
/// binary-trees 16's peak memory stays under twice ocamlrun's. Pages are touched as
/// the nursery fills, so a small program's resident memory does not grow.
pub const DEFAULT_INITIAL: usize = 2 << 20;

impl Heap {
    /// A heap whose eden is `initial` bytes, whose objects are promoted after
    /// surviving `tenure_age` minor collections in a survivor space of `survivor`
    /// bytes (two of them; none with a tenure age of 0), and whose live data may not
    /// exceed `limit` bytes.
    ///
    /// The old space reserves the limit plus two young generations of address space
    /// (pages come as it fills); when the system refuses that much, the limit shrinks
    /// to what it granted. When the system refuses even the young generation, the
    /// heap starts empty and the first allocation reports "out of memory".
    pub fn new(initial: usize, limit: usize, tenure_age: u8, survivor: usize) -> Heap {
        let initial = round16(initial.min(limit).max(MIN_NURSERY));
        let tenure_age = tenure_age.min(MAX_TENURE_AGE);
        let surv_cap = if tenure_age == 0 {
            0
        } else {
            round16(survivor.min(initial))
        };
        let young = initial + 2 * surv_cap;
        let nursery = Space::new(young).unwrap_or_else(Space::empty);
        let initial = nursery.cap().min(initial);
        let surv_cap = (nursery.cap().saturating_sub(initial) / 2) & !15;
        // What one minor collection may promote: eden and a survivor space.
        let promote = initial + surv_cap;
        let old = Space::reserve(limit.saturating_add(2 * promote), 4 * promote)
            .unwrap_or_else(Space::empty);
        // A minor collection may promote a full young generation past the limit
        // before the major one that follows it checks the limit: keep that much room.
        let limit = limit.min(old.cap().saturating_sub(2 * promote));
        Heap {
            nursery_cap: initial,
            alloc_end: initial,
            surv_cap,
            surv_at: initial,
            surv_top: 0,
            tenure_age,
            from_eden: (0, 0),
            from_surv: (0, 0),
            to_base: 0,
            to_top: 0,
            to_scan: 0,
            tenure_now: 0,
            promote_from: 0,
            evacuated: None,
            remembered_spare: Vec::new(),
            nursery,
            old,
            old_high: 0,
            retired_nurseries: std::collections::VecDeque::new(),
            large: LargeSpace {
                objs: std::collections::HashMap::new(),
                bytes: 0,
                cache: Vec::new(),
                cached: 0,
            },
            major_at: MAJOR_MIN_ROOM * initial,
            marks: Vec::new(),
            starts: Vec::new(),
            moves: Vec::new(),
            prefix: 0,
            full_prefixes: [0; 3],
            settled: 0,
            settled_left: 0,
            settled_run: 1,
            kept: 0,
            kept_out: Vec::new(),
            kept_out_lost: false,
            gray: Vec::new(),
            gray_lost: false,
            scan: 0,
            limit,
            stress: false,
            remembered: Vec::new(),
            remembered_lost: false,
            young_finalize: Vec::new(),
            old_finalize: Vec::new(),
            young_finalize_spare: Vec::new(),
            external: 0,
            old_external: 0,
            force: false,
            force_major: false,
            stress_count: 0,
            allocated_at_major: 0,
            allocated_at_verify: std::cell::Cell::new(0),
            stats: GcStats {
                peak_heap: young,
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
        // `alloc_end` is 0 under stress or a forced collection: the bound fails.
        self.bump_young(self.alloc_end, size, kind, tag, meta, len)
    }

    /// [`Heap::try_alloc`] whatever stress or a forced collection asks: the VM's
    /// allocation right after the collection they asked for.
    pub(crate) fn try_alloc_collected(
        &mut self,
        size: usize,
        kind: u8,
        tag: u16,
        meta: u32,
        len: u64,
    ) -> Option<*mut Header> {
        // Stress is what the collection just done was for; `force` still set (GMP
        // memory of the survivors) fails as `try_alloc` always did here.
        if self.force {
            return None;
        }
        self.bump_young(self.nursery_cap, size, kind, tag, meta, len)
    }

    /// The nursery allocation of [`Heap::try_alloc`] and [`Heap::try_alloc_collected`]
    /// below eden offset `end`: the bump, the header, and a GMP number's place in the
    /// young finalisation list.
    #[inline(always)]
    fn bump_young(
        &mut self,
        end: usize,
        size: usize,
        kind: u8,
        tag: u16,
        meta: u32,
        len: u64,
    ) -> Option<*mut Header> {
        let p = self.nursery.bump_to(size, end)?;
        self.init(p, kind, tag, meta, len);
        if kind == Kind::BIG || kind == Kind::RAT {
            self.young_finalize.push(p);
        }
        Some(p)
    }

    /// Turns GC stress on or off (collect at every allocation).
    pub fn set_stress(&mut self, on: bool) {
        self.stress = on;
        self.sync_alloc_end();
    }

    /// Whether GC stress is on.
    pub fn stress(&self) -> bool {
        self.stress
    }

    /// Sets whether the next allocation must collect.
    fn set_force(&mut self, on: bool) {
        self.force = on;
        self.sync_alloc_end();
    }

    /// Recomputes `alloc_end` from `stress` and `force` (see the field).
    fn sync_alloc_end(&mut self) {
        self.alloc_end = if self.stress || self.force {
            0
        } else {
            self.nursery_cap
        };
    }

    /// Writes the header of a just-bumped object at `p` (either generation). Not
    /// counted here: eden's bytes are counted when a minor collection empties it
    /// (`Heap::finish_minor`, and [`Heap::allocated`] between collections), the old
    /// generation's by [`Heap::try_alloc_old`]; a
    /// read-modify-write of `stats.allocated` per allocation was a memory access of
    /// its own in every `con` (binary-trees: one per node).
    ///
    /// The header goes out as two 8-byte stores, the first put together in a register
    /// (kind, flags 0, tag, meta in the `#[repr(C)]` order of the bytes): writing the
    /// `Header` value made four narrow stores, one per field (binary-trees' `con`).
    #[inline(always)]
    fn init(&mut self, p: *mut Header, kind: u8, tag: u16, meta: u32, len: u64) {
        let mut w0 = [0u8; 8];
        w0[0] = kind;
        w0[2..4].copy_from_slice(&tag.to_ne_bytes());
        w0[4..].copy_from_slice(&meta.to_ne_bytes());
        let w = p as *mut u64;
        // SAFETY: `p` was just bumped from a space: it points at `size >= 16` writable
        // bytes of that space, 16-byte aligned; a `Header` is those two words (the
        // asserts below).
        unsafe {
            w.write(u64::from_ne_bytes(w0));
            w.add(1).write(len);
        }
    }

    /// Bytes allocated in total so far: `stats.allocated` (both generations' bytes
    /// up to the last minor collection, the old generation's since) and eden's
    /// bytes since that collection, which `stats.allocated` counts only when the
    /// next one empties eden (`finish_minor`; between its `begin` and its end under
    /// stress, eden's bytes are missing here: the nursery was replaced).
    pub fn allocated(&self) -> u64 {
        self.stats.allocated + self.nursery.top as u64
    }

    /// Eden's size in bytes (where objects are born).
    pub fn nursery_size(&self) -> usize {
        self.nursery_cap
    }

    /// The most one minor collection may promote: a full eden and survivor space.
    fn promote_max(&self) -> usize {
        self.nursery_cap + self.surv_cap
    }

    /// Whether `a` is the address of a live young object's byte: in eden's used part
    /// or the survivor space's.
    fn young_contains(&self, a: usize) -> bool {
        let base = self.nursery.ptr.as_ptr() as usize;
        a.wrapping_sub(base) < self.nursery.top
            || a.wrapping_sub(base + self.surv_at) < self.surv_top
    }

    /// Whether an object of `size` bytes is allocated in the old generation directly:
    /// more than a quarter of the nursery, which copying it out again and again would
    /// cost (and it may not fit the nursery at all), or a large object
    /// ([`LARGE_MIN`]), which gets a mapping of its own.
    #[inline]
    pub fn is_large(&self, size: usize) -> bool {
        size > self.nursery_cap / 4 || size >= LARGE_MIN
    }

    /// The old space's share of an old-generation request of `size` bytes: none for a
    /// large object, which gets its own mapping.
    fn space_share(size: usize) -> usize {
        if size >= LARGE_MIN {
            0
        } else {
            size
        }
    }

    /// Whether an old-generation object of `size` bytes may be allocated without
    /// collecting first: within the heap limit, the room left before the next major
    /// collection, and (below [`LARGE_MIN`]) the old space.
    pub fn old_may_alloc(&self, size: usize) -> bool {
        let after = self.old_used().saturating_add(size);
        after <= self.limit && after <= self.major_at && self.old_fits(size)
    }

    /// Allocates `size` bytes in the old generation (the old space, or a mapping of
    /// its own for a large object); `None` when they do not fit. An object with values
    /// is born remembered, since whatever young values its creator stores into it next
    /// are not seen by the write barrier.
    pub fn try_alloc_old(
        &mut self,
        size: usize,
        kind: u8,
        tag: u16,
        meta: u32,
        len: u64,
    ) -> Option<*mut Header> {
        let p = if size >= LARGE_MIN {
            self.large.alloc(size)?
        } else {
            if size > self.old_free() {
                return None;
            }
            self.old.bump(size)?
        };
        self.old_high = self.old_high.max(self.old.top);
        self.note_peak();
        self.stats.allocated += size as u64;
        self.init(p, kind, tag, meta, len);
        // SAFETY: `init` just wrote the header.
        if has_values(unsafe { &*p }) {
            self.remember(p);
        }
        if kind == Kind::BIG || kind == Kind::RAT {
            self.old_finalize.push(p);
        }
        Some(p)
    }

    /// Whether `a` is an address in the young generation's buffer (eden or either
    /// survivor space).
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
    pub(crate) fn remember(&mut self, obj: *mut Header) {
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
            self.set_force(true);
        }
    }

    /// Records memory GMP allocated outside the heap for a new number. When it
    /// outgrows the nursery, the next allocation collects, so that loops making big
    /// numbers free their limbs as promptly as they free heap memory.
    pub fn note_external(&mut self, bytes: usize) {
        self.external += bytes;
        if self.external > self.nursery.cap() {
            self.set_force(true);
        }
    }

    /// Whether the next collection should be major before it starts: forced (promoted
    /// GMP memory), the stress schedule, or an old-generation request of `needed_old`
    /// bytes that would pass the major-collection threshold. (After its minor part, a
    /// collection also becomes major when [`Heap::needs_major`] says so.)
    pub fn wants_major(&mut self, needed_old: usize) -> bool {
        if self.stress {
            self.stress_count += 1;
            let old = self.old_used();
            let since = (self.allocated() - self.allocated_at_major) as usize;
            if (old <= VERIFY_ALL_BYTES && self.stress_count.is_multiple_of(STRESS_MAJOR_EVERY))
                || (old > VERIFY_ALL_BYTES && since >= old / STRESS_MAJOR_EVERY as usize)
            {
                return true;
            }
        }
        self.force_major || self.old_used().saturating_add(needed_old) > self.major_at
    }

    /// After a minor collection, whether the old generation must be collected too
    /// before `needed_old` more bytes go into it: past the major-collection threshold,
    /// past the heap limit, or without room in the old space.
    pub fn needs_major(&self, needed_old: usize) -> bool {
        let after = self.old_used().saturating_add(needed_old);
        self.force_major
            || after > self.major_at
            || after > self.limit
            || !self.old_fits(needed_old)
    }

    /// Old-generation bytes in use (live data and garbage not yet collected): the old
    /// space and the large objects' mappings.
    pub fn old_used(&self) -> usize {
        self.old.top + self.large.bytes
    }

    /// Whether `needed` more bytes fit in the old generation.
    pub fn old_fits(&self, needed: usize) -> bool {
        Heap::space_share(needed) <= self.old_free()
    }

    /// The old space's free bytes, short of what one minor collection may promote
    /// (`promote_max`), which it may always promote into.
    fn old_free(&self) -> usize {
        self.old
            .cap()
            .saturating_sub(self.promote_max())
            .saturating_sub(self.old.top)
    }

    // ---------------------------------------------------------------- minor

    /// Starts a collection with its minor part, which copies the young generation's
    /// survivors into the other survivor space (those younger than the tenure age, as
    /// long as it has room) or into the old space (the others, and all of them when
    /// `tenure_all`: a major collection starts with an empty young generation);
    /// `false`, with nothing changed, when the old space has no room for all of the
    /// young generation (only when the system granted less address space than the
    /// limit asks for): the VM then reports "out of memory".
    #[must_use]
    pub fn begin(&mut self, tenure_all: bool) -> bool {
        if self.old.free() < self.nursery.top + self.surv_top {
            return false;
        }
        self.scan = self.old.top;
        self.promote_from = self.old.top;
        let base = self.nursery.base() as usize;
        self.from_eden = (base, self.nursery.top);
        self.from_surv = (base + self.surv_at, self.surv_top);
        self.surv_at = if self.surv_at == self.nursery_cap {
            self.nursery_cap + self.surv_cap
        } else {
            self.nursery_cap
        };
        if self.stress {
            // Survivors move to a fresh buffer, so that a pointer the collector failed
            // to update leads into a poisoned, retired one (caught by the verifier or
            // the next collection) instead of into a reused address.
            let fresh = if self.retired_nurseries.len() >= RETIRED_SPACES {
                self.retired_nurseries.pop_front()
            } else {
                Space::new(self.nursery.cap())
            };
            if let Some(fresh) = fresh {
                self.evacuated = Some(std::mem::replace(&mut self.nursery, fresh));
            }
        }
        self.to_base = self.nursery.base() as usize + self.surv_at;
        self.to_top = 0;
        self.to_scan = 0;
        self.tenure_now = if tenure_all { 0 } else { self.tenure_age };
        true
    }

    /// Copies the young object a root points to (if it was not yet copied) into a
    /// survivor space or the old space and updates the root. Immediates and old
    /// objects are left alone.
    #[inline]
    pub fn forward(&mut self, v: &mut Value) {
        if v.tag == Tag::OBJ {
            v.bits = self.copy(v.bits as *mut Header) as u64;
        }
    }

    /// Out of line: inlined into the scan loops it made them slower (cachegrind on
    /// pmap, benches/NOTES.md, session 12).
    #[inline(never)]
    fn copy(&mut self, p: *mut Header) -> *mut Header {
        let a = p as usize;
        if a.wrapping_sub(self.from_eden.0) >= self.from_eden.1
            && a.wrapping_sub(self.from_surv.0) >= self.from_surv.1
        {
            if cfg!(debug_assertions) || self.stress {
                self.check_not_dangling(p);
            }
            return p;
        }
        // SAFETY: roots and traced fields only ever hold addresses of objects in the
        // live spaces (the VM's invariant), which are readable headers.
        unsafe {
            if (*p).kind == Kind::FWD {
                return (*p).len as *mut Header;
            }
            let size = 16 + payload_bytes(&*p);
            let age = (*p).flags >> AGE_SHIFT;
            // (The bytes copied are counted by `finish_minor`, from the tops.)
            let (dst, flags) = if age < self.tenure_now && size <= self.surv_cap - self.to_top {
                let dst = (self.to_base + self.to_top) as *mut Header;
                self.to_top += size;
                (dst, (age + 1) << AGE_SHIFT)
            } else {
                // `begin` made sure the whole young generation fits.
                let dst = self
                    .old
                    .bump(size)
                    .expect("the old space overflowed during a minor collection");
                (dst, 0)
            };
            copy_down(p as *const u64, dst as *mut u64, size);
            (*dst).flags = flags;
            (*p).kind = Kind::FWD;
            (*p).len = dst as u64;
            dst
        }
    }

    /// A pointer outside every live space is a VM bug (a slot the collector skipped
    /// once and scans later): `copy` stops at it in tests and under stress, instead
    /// of tracing garbage (release builds rely on the invariant). Out of line, so
    /// that the copy loop keeps its registers.
    #[cold]
    #[inline(never)]
    fn check_not_dangling(&self, p: *mut Header) {
        if !self.old.contains(p as *const u8)
            && !self.large.contains(p)
            && (p as usize).wrapping_sub(self.to_base) >= self.to_top
        {
            panic!("the collector met a dangling root: {p:p} is outside the live spaces");
        }
    }

    /// Forwards the value fields of the object `h`; with `OLD` (an old object), whether
    /// one of them points into the young generation afterwards (it then stays
    /// remembered). A survivor's scan skips that test.
    ///
    /// # Safety
    /// `h` must be a fully copied (or old, remembered) object with a valid header.
    #[inline(always)]
    unsafe fn scan_object<const OLD: bool>(&mut self, h: *mut Header) -> bool {
        let mut young = false;
        // SAFETY: per the caller's contract.
        unsafe {
            if has_values(&*h) {
                let f = fields(h);
                for i in 0..value_count(h) {
                    let v = &mut *f.add(i);
                    if v.tag == Tag::OBJ {
                        v.bits = self.copy(v.bits as *mut Header) as u64;
                        if OLD {
                            young |= self.is_young(v.bits as usize);
                        }
                    }
                }
            }
        }
        young
    }

    /// Scans the old object `h` as a root of the minor collection: forwards its
    /// fields, and keeps it in the (rebuilt) remembered set while it points at a
    /// survivor.
    ///
    /// # Safety
    /// `h` must be a live old object with a valid header.
    unsafe fn scan_old(&mut self, h: *mut Header) {
        // SAFETY: per the caller's contract.
        unsafe {
            (*h).flags &= !FLAG_REMEMBERED;
            if self.scan_object::<true>(h) {
                self.remember(h);
            }
        }
    }

    /// Ends the minor part of a collection: scans the remembered set (or, when it
    /// was lost, the whole old generation), then the copied objects (Cheney, in the
    /// survivor space and the old space) until none is left unscanned; rebuilds the
    /// remembered set from the old objects that still point at survivors; frees the
    /// young GMP numbers that died and empties eden and the evacuated survivor space.
    pub fn finish_minor(&mut self) {
        if self.remembered_lost {
            self.remembered_lost = false;
            self.remembered.clear();
            // Every old object that existed before this collection is a root.
            let base = self.old.base();
            let mut at = 0;
            while at < self.scan {
                // SAFETY: objects lie back to back in the old space up to `scan`.
                unsafe {
                    let h = base.add(at) as *mut Header;
                    at += 16 + payload_bytes(&*h);
                    self.scan_old(h);
                }
            }
            let large: Vec<usize> = self.large.objs.keys().copied().collect();
            for a in large {
                // SAFETY: a mapped large object.
                unsafe { self.scan_old(a as *mut Header) };
            }
        } else {
            let spare = std::mem::take(&mut self.remembered_spare);
            let mut set = std::mem::replace(&mut self.remembered, spare);
            for &h in &set {
                // SAFETY: remembered objects are live old objects (the set is rebuilt
                // by every minor collection, and empty when the old space moves).
                unsafe { self.scan_old(h) };
            }
            // Keep the allocation for the next cycle.
            set.clear();
            self.remembered_spare = set;
        }
        let base = self.old.base();
        loop {
            while self.to_scan < self.to_top {
                // SAFETY: `to_scan` walks the survivors copied so far, each fully
                // copied by `copy` with a valid header.
                unsafe {
                    let h = (self.to_base + self.to_scan) as *mut Header;
                    self.to_scan += 16 + payload_bytes(&*h);
                    self.scan_object::<false>(h);
                }
            }
            if self.scan == self.old.top {
                break;
            }
            while self.scan < self.old.top {
                // SAFETY: as above, for the promoted objects.
                unsafe {
                    let h = base.add(self.scan) as *mut Header;
                    self.scan += 16 + payload_bytes(&*h);
                    if self.scan_object::<true>(h) {
                        self.remember(h);
                    }
                }
            }
        }
        self.old_high = self.old_high.max(self.old.top);
        self.stats.promoted += (self.old.top - self.promote_from) as u64;
        self.stats.survived += self.to_top as u64;
        self.finalize_young();
        if let Some(mut n) = self.evacuated.take() {
            let (eden, (surv, surv_top)) = (self.from_eden.1, self.from_surv);
            let at = surv - n.base() as usize;
            n.poison(0, eden);
            n.poison(at, at + surv_top);
            n.top = 0;
            self.retired_nurseries.push_back(n);
        }
        // Eden's bytes, counted once here rather than at each bump (`Heap::init`):
        // `from_eden` is the emptied eden's extent, also when stress replaced the
        // nursery (`begin`).
        self.stats.allocated += self.from_eden.1 as u64;
        self.from_eden = (0, 0);
        self.from_surv = (0, 0);
        self.nursery.top = 0;
        self.surv_top = self.to_top;
        self.set_force(self.external > self.nursery_cap);
        // Promoted GMP numbers keep their limbs until a major collection: when they
        // outgrow the old generation, make the next collection major.
        if self.old_external > self.old_used().max(self.nursery_cap) {
            self.force_major = true;
        }
    }

    /// Whether the young generation holds no object (true after a minor collection
    /// that promoted everything).
    pub fn young_is_empty(&self) -> bool {
        self.nursery.top == 0 && self.surv_top == 0
    }

    /// Drops the young GMP numbers that died; keeps the survivors' entries on the
    /// young list (counting their limbs as young external memory) or moves them to
    /// the old generation's.
    fn finalize_young(&mut self) {
        let mut young = std::mem::take(&mut self.young_finalize);
        let mut kept = std::mem::take(&mut self.young_finalize_spare);
        self.external = 0;
        for &p in &young {
            // SAFETY: entries are BIG/RAT objects of the young generation just
            // collected, forwarded or dead; a survivor's copy is a valid BIG/RAT object.
            unsafe {
                if (*p).kind == Kind::FWD {
                    let q = (*p).len as *mut Header;
                    if self.is_young(q as usize) {
                        kept.push(q);
                        self.external += external_bytes(q);
                    } else {
                        self.old_finalize.push(q);
                        self.old_external += external_bytes(q);
                    }
                } else {
                    drop_number(p);
                }
            }
        }
        young.clear();
        self.young_finalize_spare = young;
        self.young_finalize = kept;
    }

    // ---------------------------------------------------------------- major

    /// Starts the major part of a collection (after its minor part: the nursery is
    /// empty): makes room for the mark bits and, when this collection keeps the
    /// settled bottom (see `Heap::settled`), marks it and what its fields point to
    /// above it. `false`, with nothing changed, when the system refuses that memory.
    ///
    /// A collection keeps the settled bottom unless it is due for a full one, GMP
    /// memory forced it (dead numbers in the bottom would not be freed), or the heap
    /// limit is near (with `needed_old` more bytes): then every byte counts, and
    /// what died in the bottom must be found.
    #[must_use]
    pub fn begin_major(&mut self, needed_old: usize) -> bool {
        let words = self.old.top / 16 / 64 + 1;
        self.marks.clear();
        self.starts.clear();
        self.moves.clear();
        if self.marks.try_reserve(words).is_err()
            || self.starts.try_reserve(words).is_err()
            || self.moves.try_reserve(words).is_err()
        {
            return false;
        }
        self.marks.resize(words, 0);
        self.starts.resize(words, 0);
        self.moves.resize(words, 0);
        self.prefix = 0;
        // Room for the large objects (a failure here only costs a rescan).
        let _ = self.gray.try_reserve(self.large.objs.len().max(256));
        self.gray_lost = false;
        let roomy = self
            .old_used()
            .saturating_add(self.settled)
            .saturating_add(needed_old)
            <= self.limit;
        self.kept = if self.settled_left > 0 && self.settled > 0 && !self.force_major && roomy {
            self.settled_left -= 1;
            self.settled
        } else {
            0
        };
        if self.kept > 0 {
            // SAFETY: the settled bottom is a run of whole objects of the old space.
            unsafe { self.mark_kept() };
        }
        true
    }

    /// Marks the kept bottom as live and scans its objects' fields as roots: what
    /// they point to above it is marked; the objects pointing into the old space
    /// above it are listed for relocation.
    ///
    /// # Safety
    /// `self.kept` must be the end of a run of whole objects from the old space's
    /// start.
    unsafe fn mark_kept(&mut self) {
        let base = self.old.base();
        let kept = self.kept;
        let top = self.old.top;
        set_bits(&mut self.marks, 0, kept / 16);
        self.kept_out.clear();
        self.kept_out_lost = false;
        let mut at = 0;
        while at < kept {
            // SAFETY: per the contract, objects lie back to back up to `kept`; their
            // fields are values.
            unsafe {
                let h = base.add(at) as *mut Header;
                if has_values(&*h) {
                    let f = fields(h);
                    let mut out = false;
                    for i in 0..value_count(h) {
                        let v = *f.add(i);
                        if v.tag == Tag::OBJ {
                            let off = (v.bits as usize).wrapping_sub(base as usize);
                            if off >= kept {
                                out |= off < top;
                                self.mark_object(v.bits as *mut Header);
                            }
                        }
                    }
                    if out {
                        if self.kept_out.try_reserve(1).is_ok() {
                            self.kept_out.push(h);
                        } else {
                            self.kept_out_lost = true;
                        }
                    }
                }
                at += 16 + payload_bytes(&*h);
            }
        }
    }

    /// Relocates the fields of the kept objects that point above the kept bottom
    /// (all of them when the list was lost): the slide visits only the objects above.
    fn relocate_kept(&mut self) {
        if self.kept_out_lost {
            let base = self.old.base();
            let mut at = 0;
            while at < self.kept {
                // SAFETY: the kept bottom is a run of whole objects, not moved.
                unsafe {
                    let h = base.add(at) as *mut Header;
                    if has_values(&*h) {
                        self.relocate_fields(h);
                    }
                    at += 16 + payload_bytes(&*h);
                }
            }
        } else {
            let list = std::mem::take(&mut self.kept_out);
            for &h in &list {
                // SAFETY: listed kept objects are live objects with values.
                unsafe { self.relocate_fields(h) };
            }
            self.kept_out = list;
        }
    }

    /// After a full major collection's planning: its dense prefix joins the last
    /// three, and the settled bottom becomes the least of them, cut down to the last
    /// object boundary (a start bit, or the prefix's end) at or below it. The next
    /// major collections may keep it, twice as many as before when the old settled
    /// bottom was found live again (its objects all still in the prefix), one when
    /// not.
    fn settle(&mut self) {
        let confirmed = self.settled > 0 && self.prefix >= self.settled;
        self.full_prefixes = [self.full_prefixes[1], self.full_prefixes[2], self.prefix];
        let least = *self.full_prefixes.iter().min().unwrap_or(&0);
        // Every granule below the prefix is marked, so each object there has its
        // start bit: the settled bottom ends at the prefix's end or at a start.
        let g = least / 16;
        self.settled = if least == self.prefix {
            least
        } else {
            let (w, b) = (g / 64, g % 64);
            let mut found = None;
            let below = self.starts[w] & (!0u64 >> (63 - b));
            if below != 0 {
                found = Some(w * 64 + 63 - below.leading_zeros() as usize);
            } else {
                for i in (0..w).rev() {
                    if self.starts[i] != 0 {
                        found = Some(i * 64 + 63 - self.starts[i].leading_zeros() as usize);
                        break;
                    }
                }
            }
            found.map_or(0, |s| s * 16)
        };
        self.settled_run = if confirmed {
            (self.settled_run * 2).min(SETTLED_RUN_MAX)
        } else {
            1
        };
        self.settled_left = self.settled_run;
    }

    /// Whether the old-space object at offset `at` is marked.
    #[inline(always)]
    fn marked(&self, at: usize) -> bool {
        let g = at / 16;
        self.marks[g / 64] & (1 << (g % 64)) != 0
    }

    /// Marks the object a root points to (major collection).
    #[inline]
    pub fn mark(&mut self, v: Value) {
        if v.tag == Tag::OBJ {
            self.mark_object(v.bits as *mut Header);
        }
    }

    fn mark_object(&mut self, p: *mut Header) {
        let base = self.old.base() as usize;
        let at = (p as usize).wrapping_sub(base);
        // SAFETY: traced values point at objects of the old space or large objects
        // (the nursery is empty during the major part); headers are readable.
        unsafe {
            if at < self.old.top {
                if self.marked(at) {
                    return;
                }
                let size = 16 + payload_bytes(&*p);
                let g = at / 16;
                self.starts[g / 64] |= 1 << (g % 64);
                set_bits(&mut self.marks, g, size / 16);
            } else {
                if (cfg!(debug_assertions) || self.stress) && !self.large.contains(p) {
                    panic!(
                        "the collector met a dangling pointer: {p:p} is outside the live spaces"
                    );
                }
                if (*p).flags & FLAG_MARKED != 0 {
                    return;
                }
                (*p).flags |= FLAG_MARKED;
            }
            if has_values(&*p) {
                if self.gray.len() < self.gray.capacity() || self.gray.try_reserve(1).is_ok() {
                    self.gray.push(p);
                } else {
                    self.gray_lost = true;
                }
            }
        }
    }

    /// Calls `f` with the offset and header of every marked old-space object, in
    /// address order, found from the start bits: a dead object's header is never
    /// read. (The compaction's pass, `slide_body`, walks the bits the same way.)
    #[inline(always)]
    fn each_marked_old(&mut self, mut f: impl FnMut(&mut Self, usize, *mut Header)) {
        let base = self.old.base();
        for w in 0..self.starts.len() {
            let mut bits = self.starts[w];
            while bits != 0 {
                let at = (w * 64 + bits.trailing_zeros() as usize) * 16;
                bits &= bits - 1;
                // SAFETY: `at` is the offset of a marked object, inside the space.
                f(self, at, unsafe { base.add(at) } as *mut Header);
            }
        }
    }

    /// Calls `f` on every marked large object that holds values.
    fn each_marked_large_with_values(&mut self, mut f: impl FnMut(&mut Self, *mut Header)) {
        let large: Vec<usize> = self.large.objs.keys().copied().collect();
        for a in large {
            let h = a as *mut Header;
            // SAFETY: a mapped large object.
            if unsafe { (*h).flags & FLAG_MARKED != 0 && has_values(&*h) } {
                f(self, h);
            }
        }
    }

    /// Marks the fields of the marked object `h`.
    ///
    /// # Safety
    /// `h` must be a live object with values.
    unsafe fn mark_fields(&mut self, h: *mut Header) {
        // SAFETY: per the caller's contract.
        unsafe {
            let f = fields(h);
            for i in 0..value_count(h) {
                let v = *f.add(i);
                if v.tag == Tag::OBJ {
                    self.mark_object(v.bits as *mut Header);
                }
            }
        }
    }

    /// Marks everything reachable from the roots marked so far. When the mark stack
    /// could not grow, rescans the marked objects for unmarked children until a pass
    /// loses nothing.
    pub fn trace(&mut self) {
        loop {
            while let Some(h) = self.gray.pop() {
                // SAFETY: only marked objects with values are pushed.
                unsafe { self.mark_fields(h) };
            }
            if !self.gray_lost {
                break;
            }
            self.gray_lost = false;
            // SAFETY: marking reads only live objects' fields.
            self.each_marked_old(|heap, _, h| unsafe {
                if has_values(&*h) {
                    heap.mark_fields(h)
                }
            });
            // SAFETY: as above.
            self.each_marked_large_with_values(|heap, h| unsafe { heap.mark_fields(h) });
        }
    }

    /// Computes where each marked old-space object moves: it slides down over the
    /// dead ones before it, keeping the order (Lisp 2 with the forwarding addresses
    /// in a side table: a word's marked bytes before it, plus the marked granules
    /// before the object within its word). First finds the dense prefix (the marked
    /// granules from offset 0 up to the first unmarked one, an object boundary since
    /// an object's granules are all marked or none): the words below the one it ends
    /// in are full, so their entries are never read, and planning starts there with
    /// the offset they end at.
    pub fn plan(&mut self) {
        let full = self.marks.iter().take_while(|&&w| w == !0).count();
        // `marks` has a word past the last granule of the old space, never full.
        let g = full * 64 + self.marks[full].trailing_ones() as usize;
        self.prefix = g * 16;
        let mut off = full * 64 * 16;
        for (w, m) in self.marks[full..].iter().zip(self.moves[full..].iter_mut()) {
            *m = off;
            off += w.count_ones() as usize * 16;
        }
    }

    /// Where the old-space object at offset `at` moves.
    #[inline(always)]
    fn new_offset(&self, at: usize) -> usize {
        let g = at / 16;
        let below = self.marks[g / 64] & ((1u64 << (g % 64)) - 1);
        self.moves[g / 64] + below.count_ones() as usize * 16
    }

    /// Updates a root to where its object moves (major collection, after `plan`).
    #[inline]
    pub fn relocate(&mut self, v: &mut Value) {
        if v.tag == Tag::OBJ {
            v.bits = self.relocated(v.bits as *mut Header) as u64;
        }
    }

    #[inline(always)]
    fn relocated(&self, p: *mut Header) -> *mut Header {
        let base = self.old.ptr.as_ptr() as usize;
        let at = (p as usize).wrapping_sub(base);
        // One compare for the dense prefix and for addresses outside the old space.
        if at.wrapping_sub(self.prefix) < self.old.top - self.prefix {
            (base + self.new_offset(at)) as *mut Header
        } else {
            p
        }
    }

    /// Relocates the fields of the live object `h`.
    ///
    /// # Safety
    /// `h` must be a live object with values, not yet moved.
    #[inline(always)]
    unsafe fn relocate_fields(&mut self, h: *mut Header) {
        // SAFETY: per the caller's contract.
        unsafe {
            let f = fields(h);
            for i in 0..value_count(h) {
                let v = &mut *f.add(i);
                if v.tag == Tag::OBJ {
                    v.bits = self.relocated(v.bits as *mut Header) as u64;
                }
            }
        }
    }

    /// Ends the major part of a collection (after the roots were relocated): finalises
    /// the dead GMP numbers, relocates the fields of every live object and slides the
    /// old space's live objects above the dense prefix down (one pass, in address
    /// order, over the start bits: a dead object is never read), unmaps the dead large
    /// objects, and sets the next threshold from the live data (with the pending
    /// request of `needed_old` bytes).
    pub fn compact(&mut self, needed_old: usize) {
        // Finalise before sliding overwrites the dead numbers.
        let list = std::mem::take(&mut self.old_finalize);
        let mut kept = list;
        kept.retain_mut(|p| {
            let at = (*p as usize).wrapping_sub(self.old.ptr.as_ptr() as usize);
            if self.marked(at) {
                *p = self.relocated(*p);
                true
            } else {
                // SAFETY: a dead BIG/RAT object, finalised once (it leaves the list).
                unsafe { drop_number(*p) };
                false
            }
        });
        self.old_finalize = kept;
        // SAFETY: relocation rewrites only the fields of live objects.
        self.each_marked_large_with_values(|heap, h| unsafe { heap.relocate_fields(h) });
        if self.kept > 0 {
            self.relocate_kept();
            self.stats.kept_bottom += 1;
        } else {
            self.settle();
        }
        let top = self.old.top;
        let moved = self.slide();
        let live = self.plan_top();
        self.old.top = live;
        self.stats.copied += moved as u64;
        if self.stress {
            self.old.poison(live, top);
        }
        self.sweep_large();
        self.allocated_at_major = self.allocated();
        self.force_major = false;
        self.old_external = 0;
        // The next threshold: the live data and half of it again (at least
        // MAJOR_MIN_ROOM nurseries), so that major collections come after the old
        // generation grew by half its live data: their cost (proportional to the old
        // space) stays proportional to promotion, and the old space holds at most
        // 1.5 times the live data (plus a nursery promoted past the threshold).
        let live_all = self.old_used().saturating_add(needed_old);
        let room = (live_all / 2).max(MAJOR_MIN_ROOM * self.nursery_cap);
        self.major_at = live_all.saturating_add(room);
        // Pages the old space will not reach before the next major collection go back
        // to the system.
        let keep = self
            .major_at
            .saturating_sub(self.large.bytes)
            .saturating_add(self.promote_max());
        if self.old_high > keep {
            self.old.release(keep, self.old_high);
            self.old_high = keep.max(self.old.top);
        }
        self.trim_large_cache();
    }

    /// Relocates the fields of every live old-space object and slides the objects
    /// above the dense prefix down; returns the bytes moved. With `popcnt` where the
    /// CPU has it: relocating a pointer above the prefix counts the marked granules
    /// below it in its word, and the build targets baseline x86-64, whose bit count
    /// is a dozen instructions (benches/NOTES.md, session 13).
    fn slide(&mut self) -> usize {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has `popcnt` (checked just above).
            return unsafe { self.slide_popcnt() };
        }
        self.slide_body()
    }

    /// [`Heap::slide`] compiled with `popcnt`.
    ///
    /// # Safety
    /// The CPU must have `popcnt`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn slide_popcnt(&mut self) -> usize {
        self.slide_body()
    }

    /// [`Heap::slide`]'s one pass: each object's fields are relocated where it was
    /// (reading only the side tables), then it slides down to the next free offset,
    /// unless it is in the dense prefix (every object above the prefix moves: the
    /// prefix ends at a dead granule, and the live objects above keep their order).
    #[inline(always)]
    fn slide_body(&mut self) -> usize {
        let base = self.old.base();
        let mut moved = 0;
        let mut to = self.prefix;
        // The live objects in address order, from the start bits (as
        // `each_marked_old`, spelled out: a closure would not be compiled with
        // `popcnt`).
        for w in 0..self.starts.len() {
            let mut bits = self.starts[w];
            while bits != 0 {
                let at = (w * 64 + bits.trailing_zeros() as usize) * 16;
                bits &= bits - 1;
                // SAFETY: `at` is the offset of a marked object, intact (no object
                // slid past the old start of the next live one); `copy_down` allows
                // the overlap of a short slide.
                unsafe {
                    let h = base.add(at) as *mut Header;
                    if has_values(&*h) {
                        self.relocate_fields(h);
                    }
                    if at >= self.prefix {
                        debug_assert_eq!(to, self.new_offset(at));
                        let size = 16 + payload_bytes(&*h);
                        if to != at {
                            copy_down(h as *const u64, base.add(to) as *mut u64, size);
                            moved += size;
                        }
                        to += size;
                    }
                }
            }
        }
        moved
    }

    /// The old space's top after the slide: all the marked bytes.
    fn plan_top(&self) -> usize {
        match (self.marks.last(), self.moves.last()) {
            (Some(w), Some(m)) => m + w.count_ones() as usize * 16,
            _ => 0,
        }
    }

    /// Ends a collection: counts it and the heap's size.
    pub fn end(&mut self, major: bool) {
        self.stats.collections += 1;
        if major {
            self.stats.major += 1;
        } else {
            self.stats.minor += 1;
        }
        self.note_peak();
        self.stats.live = self.old_used();
        self.stats.max_space = self.stats.max_space.max(self.old_high);
    }

    /// Counts what the heap holds now towards its peak: the nursery, the old space's
    /// touched pages, the large objects' mappings (cached ones too) and the mark
    /// tables.
    fn note_peak(&mut self) {
        let held = self.nursery.cap()
            + self.old_high
            + self.large.bytes
            + self.large.cached
            + (self.marks.capacity() + self.starts.capacity() + self.moves.capacity()) * 8;
        self.stats.peak_heap = self.stats.peak_heap.max(held);
    }

    /// Ends a major collection in the large-object space: unmaps the objects it did not
    /// mark, and clears the survivors' flags (marked, and remembered: the nursery is
    /// empty after a major collection and the remembered set with it).
    fn sweep_large(&mut self) {
        let mut dead = std::mem::take(&mut self.large.cache);
        self.large.objs.retain(|&a, &mut m| {
            let h = a as *mut Header;
            // SAFETY: every entry is a mapped object with a header.
            unsafe {
                if (*h).flags & FLAG_MARKED != 0 {
                    (*h).flags = 0;
                    true
                } else {
                    dead.push((a, m));
                    false
                }
            }
        });
        let freed: usize = dead.iter().map(|&(_, m)| m).sum::<usize>() - self.large.cached;
        self.large.bytes -= freed;
        self.large.cached = 0;
        self.large.cache = dead;
    }

    /// Keeps as many of the dead large objects' mappings for reuse as the space may
    /// still grow before the next major collection (the biggest first), and unmaps
    /// the rest; never under stress, where every dead object is unmapped so that a
    /// stale pointer to one faults.
    fn trim_large_cache(&mut self) {
        let room = if self.stress {
            0
        } else {
            self.major_at.saturating_sub(self.old_used())
        };
        let mut cache = std::mem::take(&mut self.large.cache);
        cache.sort_unstable_by_key(|&(_, m)| std::cmp::Reverse(m));
        let mut kept = 0;
        cache.retain(|&(a, m)| {
            if kept + m <= room {
                kept += m;
                true
            } else {
                LargeSpace::unmap(a, m);
                false
            }
        });
        self.large.cached = kept;
        self.large.cache = cache;
    }

    /// Whether the next allocation must collect (GC stress, or a forced collection).
    pub(crate) fn must_collect(&self) -> bool {
        self.stress || self.force
    }

    /// The bump pointer and the end of what may be bump-allocated without the slow
    /// path (eden's end; equal to the pointer when the next allocation must collect:
    /// stress mode, or a collection forced by external memory), for the JIT's register
    /// block. Generated code allocates in eden only.
    pub fn bump_window(&mut self) -> (*mut u8, *mut u8) {
        let base = self.nursery.base();
        // SAFETY: `top <= cap`: both are offsets inside (or one past) the buffer.
        let ptr = unsafe { base.add(self.nursery.top) };
        if self.stress || self.force {
            return (ptr, ptr);
        }
        // SAFETY: as above (`nursery_cap` is at most the buffer's capacity).
        (ptr, unsafe { base.add(self.nursery_cap) })
    }

    /// The young generation's first byte and its capacity (eden and both survivor
    /// spaces): what [`Heap::barrier`] calls young (an address in `[base, base +
    /// capacity)`), for the JIT's inline write barrier.
    pub fn nursery_bounds(&mut self) -> (*mut u8, usize) {
        (self.nursery.base(), self.nursery.cap)
    }

    /// Adopts a bump pointer that generated code advanced; `false` (and nothing
    /// changed) if it is not 16-byte aligned between the current pointer and the end.
    pub fn set_bump(&mut self, ptr: *mut u8) -> bool {
        let base = self.nursery.base() as usize;
        let p = ptr as usize;
        if p < base + self.nursery.top
            || p > base + self.nursery_cap
            || !(p - base).is_multiple_of(16)
        {
            return false;
        }
        let top = p - base;
        self.nursery.top = top;
        true
    }

    /// Whether `p` points into a live space (for debug checks).
    pub fn contains(&self, p: *const Header) -> bool {
        self.young_contains(p as usize)
            || self.old.contains(p as *const u8)
            || self.large.contains(p)
    }

    /// Whether stress mode runs the verifier before and after this collection (asked
    /// once per collection): always while the heap holds at most `VERIFY_ALL_BYTES`,
    /// and beyond once a `VERIFY_EVERY`th of the heap has been allocated since the
    /// last verification, so that stress runs that build big structures stay linear
    /// in what they allocate (a verification walks the whole heap). A missed barrier
    /// in between is still caught: the lost object's pointer leads into a poisoned,
    /// retired nursery, which the next verification or collection reports.
    pub fn verify_now(&self) -> bool {
        let heap = self.old_used() + self.nursery.top + self.surv_top;
        let since = (self.allocated() - self.allocated_at_verify.get()) as usize;
        if heap <= VERIFY_ALL_BYTES || since >= heap / VERIFY_EVERY {
            self.allocated_at_verify.set(self.allocated());
            return true;
        }
        false
    }

    /// The heap verifier (the `lua_checkmemory` idea), run before and after every
    /// collection under stress and by tests after a run. Walks both generations and
    /// checks that every object has a valid kind, every traced value points at an
    /// object start in a live space, young objects' ages are sane (0 in eden, 1 to the
    /// tenure age in the survivor space) and the remembered set is complete: every
    /// old object holding a pointer into the young generation is flagged and listed
    /// (unless the set was lost, which makes the next minor collection scan the whole
    /// old generation), and every listed object is old and flagged. Returns the first
    /// problem.
    pub fn check(&mut self) -> Result<(), String> {
        let base = self.nursery.ptr.as_ptr() as usize;
        let spaces = [
            ("eden", base, self.nursery.top),
            ("survivor space", base + self.surv_at, self.surv_top),
            ("old space", self.old.ptr.as_ptr() as usize, self.old.top),
        ];
        // One bit per 16-byte granule: set where an object starts.
        let mut starts: [Vec<u64>; 3] = spaces.map(|(_, _, top)| vec![0; top / 16 / 64 + 1]);
        for (s, &(name, base, top)) in spaces.iter().enumerate() {
            let mut at = 0;
            while at < top {
                // SAFETY: objects are laid out back to back from the start of a space.
                let h = unsafe { &*((base + at) as *const Header) };
                if h.kind == 0 || h.kind > Kind::RAT {
                    return Err(format!("bad kind {} at offset {at} of the {name}", h.kind));
                }
                if h.kind == Kind::ARRAY && !Elems::valid(h.meta, h.len) {
                    return Err(format!(
                        "bad elements kind {} of the array at offset {at} of the {name}",
                        h.meta
                    ));
                }
                let age = h.flags >> AGE_SHIFT;
                let sane = match s {
                    0 => h.flags == 0,
                    1 => {
                        h.flags & (FLAG_REMEMBERED | FLAG_MARKED) == 0
                            && (1..=self.tenure_age).contains(&age)
                    }
                    _ => age == 0,
                };
                if !sane {
                    return Err(format!(
                        "bad flags {:#x} at offset {at} of the {name}",
                        h.flags
                    ));
                }
                starts[s][at / 16 / 64] |= 1 << ((at / 16) % 64);
                at += 16 + payload_bytes(h);
            }
            if at != top {
                return Err(format!("the last object of the {name} overruns its top"));
            }
        }
        for (&a, &m) in &self.large.objs {
            // SAFETY: a large object's mapping starts with its header.
            let h = unsafe { &*(a as *const Header) };
            if h.kind == 0 || h.kind > Kind::RAT || 16 + payload_bytes(h) > m {
                return Err(format!("bad large object at {a:#x}"));
            }
            if h.flags & FLAG_MARKED != 0 {
                return Err(format!("large object at {a:#x} left marked"));
            }
        }
        let listed: std::collections::HashSet<usize> =
            self.remembered.iter().map(|&p| p as usize).collect();
        for &p in &self.remembered {
            let old = self.old.contains(p as *const u8) || self.large.contains(p);
            // SAFETY: checked to be in the old generation first (walked above).
            if !old || unsafe { (*p).flags } & FLAG_REMEMBERED == 0 {
                return Err(format!(
                    "remembered object at {p:p} is not a flagged old object"
                ));
            }
        }
        // Every object: (where, address), the old generation's flagged as old.
        let objects = spaces
            .iter()
            .enumerate()
            .flat_map(|(s, &(name, base, top))| {
                let mut at = 0;
                std::iter::from_fn(move || {
                    if at >= top {
                        return None;
                    }
                    let h = (base + at) as *mut Header;
                    let here = (name, at, s == 2, h);
                    // SAFETY: checked above: objects lie back to back up to `top`.
                    at += 16 + payload_bytes(unsafe { &*h });
                    Some(here)
                })
            })
            .chain(self.large.objs.keys().map(|&a| {
                (
                    "large object at offset 0 of a mapping",
                    0,
                    true,
                    a as *mut Header,
                )
            }));
        for (name, at, old, h) in objects {
            // SAFETY: `h` is an object checked above.
            unsafe {
                let flagged = (*h).flags & FLAG_REMEMBERED != 0;
                if flagged && !listed.contains(&(h as usize)) && !self.remembered_lost {
                    return Err(format!(
                        "object at offset {at} of the {name} is flagged remembered but not listed"
                    ));
                }
                if !has_values(&*h) {
                    continue;
                }
                let n = value_count(h);
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
                    let young = match into {
                        Some((t, &(_, b, _))) => {
                            let g = (a - b) / 16;
                            if !(a - b).is_multiple_of(16)
                                || starts[t][g / 64] & (1 << (g % 64)) == 0
                            {
                                return Err(format!(
                                    "pointer into the middle of an object in field {i} of the object at offset {at} of the {name}"
                                ));
                            }
                            t < 2
                        }
                        None if self.large.contains(a as *const Header) => false,
                        None => {
                            return Err(format!(
                                "dangling pointer in field {i} of the object at offset {at} of the {name}"
                            ))
                        }
                    };
                    if old && young && !flagged {
                        return Err(format!(
                            "old object at offset {at} of the {name} points into the young generation (field {i}) but is not remembered: a missing write barrier"
                        ));
                    }
                    // The target was found to be an object start above.
                    let t = a as *const Header;
                    if (*h).kind == Kind::ARRAY
                        && (*h).meta == Elems::MOVED
                        && ((*t).kind != Kind::ARRAY
                            || (*t).meta != Elems::GENERAL
                            || (*t).len != (*h).len)
                    {
                        return Err(format!(
                            "converted array at offset {at} of the {name} does not point at a general array of its length"
                        ));
                    }
                }
                if (*h).kind == Kind::ARRAY
                    && (*h).meta == Elems::MOVED
                    && (*fields(h)).tag != Tag::OBJ
                {
                    return Err(format!(
                        "converted array at offset {at} of the {name} holds no array"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How many values an object with values holds.
///
/// # Safety
/// `h` must point at a live object of a kind with values.
#[inline(always)]
unsafe fn value_count(h: *mut Header) -> usize {
    // SAFETY: per the caller's contract.
    unsafe {
        if (*h).kind == Kind::DATA {
            (*h).len as usize
        } else if (*h).kind == Kind::REF
            || (*h).kind == Kind::THUNK
            || ((*h).kind == Kind::ARRAY && (*h).meta == Elems::MOVED)
        {
            1
        } else {
            (*h).len as usize
        }
    }
}

/// Copies an object of `size` bytes (a multiple of 16) from `src` to `dst`, which is
/// in another space or lower in the same one (a slide: the ranges may overlap).
/// Objects of up to 128 bytes (most: a cons cell is 48) are copied inline rather than
/// through `memmove`, whose call and size dispatch cost more than the copy: as
/// `memmove` does for small sizes, two to eight 16-byte chunks from both ends,
/// overlapping in the middle, all loaded before any is stored (so an overlapping
/// slide is right too), with one predicted branch on the size instead of a loop
/// (cachegrind: the loop was 20 instructions a 48-byte object; benches/NOTES.md,
/// session 13).
///
/// # Safety
/// Both ranges must be valid for `size` bytes, `size` at least 16.
#[inline(always)]
unsafe fn copy_down(src: *const u64, dst: *mut u64, size: usize) {
    // SAFETY: per the caller's contract; every chunk index below is inside
    // `0..size / 16` (`size >= 16`, a multiple of 16).
    unsafe {
        if size > 128 {
            std::ptr::copy(src as *const u8, dst as *mut u8, size);
            return;
        }
        let (s, d) = (src as *const Chunk, dst as *mut Chunk);
        let last = size / 16 - 1;
        if size <= 32 {
            let (a, b) = (load(s), load(s.add(last)));
            store(d, a);
            store(d.add(last), b);
        } else if size <= 64 {
            let (a, b) = (load(s), load(s.add(1)));
            let (y, z) = (load(s.add(last - 1)), load(s.add(last)));
            store(d, a);
            store(d.add(1), b);
            store(d.add(last - 1), y);
            store(d.add(last), z);
        } else {
            let (a, b, c, e) = (load(s), load(s.add(1)), load(s.add(2)), load(s.add(3)));
            let (w, x) = (load(s.add(last - 3)), load(s.add(last - 2)));
            let (y, z) = (load(s.add(last - 1)), load(s.add(last)));
            store(d, a);
            store(d.add(1), b);
            store(d.add(2), c);
            store(d.add(3), e);
            store(d.add(last - 3), w);
            store(d.add(last - 2), x);
            store(d.add(last - 1), y);
            store(d.add(last), z);
        }
    }
}

/// A 16-byte chunk of an object, held in a vector register: as a `[u64; 2]` LLVM
/// moved each chunk through a stack temporary.
#[cfg(target_arch = "x86_64")]
type Chunk = std::arch::x86_64::__m128i;
#[cfg(not(target_arch = "x86_64"))]
type Chunk = u128;

/// Loads the chunk at `p` (16-byte aligned, readable).
#[inline(always)]
unsafe fn load(p: *const Chunk) -> Chunk {
    // SAFETY: per the caller's contract (SSE2 is baseline x86-64).
    unsafe {
        #[cfg(target_arch = "x86_64")]
        return std::arch::x86_64::_mm_loadu_si128(p);
        #[cfg(not(target_arch = "x86_64"))]
        return p.read_unaligned();
    }
}

/// Stores the chunk `c` at `p` (16-byte aligned, writable).
#[inline(always)]
unsafe fn store(p: *mut Chunk, c: Chunk) {
    // SAFETY: per the caller's contract (SSE2 is baseline x86-64).
    unsafe {
        #[cfg(target_arch = "x86_64")]
        std::arch::x86_64::_mm_storeu_si128(p, c);
        #[cfg(not(target_arch = "x86_64"))]
        p.write_unaligned(c);
    }
}

/// Sets `n` (at least 1) bits of `words` from bit `from`. An object of up to 64
/// granules within one word (most) takes one mask.
#[inline(always)]
fn set_bits(words: &mut [u64], from: usize, n: usize) {
    let b = from % 64;
    if b + n <= 64 {
        words[from / 64] |= (!0u64 >> (64 - n)) << b;
        return;
    }
    let (mut i, end) = (from, from + n);
    while i < end {
        let b = i % 64;
        let k = (64 - b).min(end - i);
        let mask = if k == 64 { !0 } else { ((1u64 << k) - 1) << b };
        words[i / 64] |= mask;
        i += k;
    }
}

/// Drops the GMP number of a dead BIG or RAT object (frees its limbs).
///
/// # Safety
/// `p` must be a BIG or RAT object whose number was not dropped yet, and is never
/// read again.
unsafe fn drop_number(p: *mut Header) {
    // SAFETY: per the caller's contract.
    unsafe {
        if (*p).kind == Kind::BIG {
            std::ptr::drop_in_place((p as *mut u8).add(16) as *mut Integer);
        } else {
            std::ptr::drop_in_place((p as *mut u8).add(16) as *mut Rational);
        }
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

    /// A machine as `vm()` whose objects are promoted after surviving `age` minor
    /// collections in a survivor space.
    fn vm_aged(age: u8) -> Vm {
        Vm::new(Config {
            gc_stress: false,
            heap_initial: 4096,
            gc_age: age,
            gc_survivor: 2048,
            ..Config::default()
        })
    }

    /// An array of `n` units, old (a major collection, which promotes every
    /// survivor, has promoted it), kept in global 0.
    fn old_array(vm: &mut Vm, n: usize) -> *mut Header {
        let a = vm
            .new_values(Kind::ARRAY, 0, Elems::GENERAL, &vec![Value::UNIT; n])
            .unwrap();
        vm.globals.push(a);
        vm.collect_once(true, 0).unwrap();
        let p = vm.globals[0].ptr();
        assert!(vm.heap.old.contains(p as *const u8), "promoted");
        p
    }

    /// The `VmFlags` of the mapping holding `addr`, from `/proc/self/smaps`.
    #[cfg(target_os = "linux")]
    fn vm_flags(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split(' ').next().and_then(|r| r.split_once('-'));
            if let Some((a, b)) = range {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = a <= addr && addr < b;
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return flags.to_string();
                }
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    /// The old space starts on a huge page and is advised for transparent huge pages
    /// from its second one on (`hg` in the mapping's flags) wherever the kernel has
    /// them, also with a small nursery; its first huge page is not advised, nor the
    /// nursery, nor an old space of less than two huge pages (a 1 MiB heap limit).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_old_space_is_advised_for_huge_pages() {
        let mut big = Heap::new(
            DEFAULT_INITIAL,
            1 << 30,
            DEFAULT_TENURE_AGE,
            DEFAULT_SURVIVOR,
        );
        let mut small = Heap::new(4096, 64 << 20, DEFAULT_TENURE_AGE, 2048);
        let mut tiny = Heap::new(4096, 1 << 20, DEFAULT_TENURE_AGE, 2048);
        let thp = std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists();
        for (heap, name) in [
            (&mut big, "big"),
            (&mut small, "small"),
            (&mut tiny, "tiny"),
        ] {
            let old = heap.old.base() as usize;
            assert_eq!(old % HUGE_PAGE, 0, "{name}: the old space at {old:#x}");
            if thp {
                let advised = heap.old.cap() >= 2 * HUGE_PAGE;
                assert_eq!(advised, name != "tiny", "{name}: {} bytes", heap.old.cap());
                assert!(
                    !vm_flags(old).contains(" hg"),
                    "{name}: the first huge page"
                );
                if advised {
                    let second = vm_flags(old + HUGE_PAGE);
                    assert!(second.contains(" hg"), "{name}: the second huge page");
                }
                let nursery = heap.nursery.base() as usize;
                assert!(!vm_flags(nursery).contains(" hg"), "{name}: the nursery");
            }
        }
        // Both still allocate, collect and promote.
        for heap in [&mut big, &mut small, &mut tiny] {
            assert!(heap.try_alloc(32, Kind::STR, 0, 0, 16).is_some());
            assert!(heap.begin(true));
            heap.finish_minor();
            heap.end(false);
            assert!(heap.try_alloc_old(32, Kind::STR, 0, 0, 16).is_some());
        }
    }

    /// Under GC stress every allocation collects, and a collection forced by GMP
    /// memory past the young generation makes the next allocation collect, once:
    /// `try_alloc`'s one bound compare (`alloc_end`, 0 under either) must send both to
    /// the slow path and let every other allocation bump.
    #[test]
    fn stress_and_forced_collections_collect_at_the_next_allocation() {
        let mut vm = vm();
        let c0 = vm.heap.stats.collections;
        for _ in 0..10 {
            vm.new_str("x").unwrap();
        }
        assert_eq!(
            vm.heap.stats.collections, c0,
            "no stress: every allocation bumps"
        );
        vm.set_gc_stress(true);
        for i in 1..=10 {
            vm.new_str("x").unwrap();
            assert_eq!(vm.heap.stats.collections, c0 + i, "stress: allocation {i}");
        }
        vm.set_gc_stress(false);
        let c1 = vm.heap.stats.collections;
        vm.new_str("x").unwrap();
        assert_eq!(vm.heap.stats.collections, c1, "stress off: bumps again");
        vm.heap.note_external(vm.heap.nursery.cap() + 1);
        vm.new_str("x").unwrap();
        assert_eq!(vm.heap.stats.collections, c1 + 1, "forced");
        vm.new_str("x").unwrap();
        assert_eq!(
            vm.heap.stats.collections,
            c1 + 1,
            "the collection ended the force"
        );
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

    /// A flat array (8-byte payloads) is half the size of a general one and holds no
    /// values to trace; an old one converted by a store of another kind points at
    /// its young general array through the write barrier, and the young string
    /// stored into that survives a minor collection.
    #[test]
    fn an_old_flat_array_converted_keeps_what_is_stored_into_it() {
        let mut vm = vm();
        let a = vm
            .new_array_of(&[Value::i64(1), Value::i64(2), Value::i64(3)])
            .unwrap();
        // SAFETY: a live array just made.
        unsafe {
            assert_eq!((*a.ptr()).meta, Tag::I64);
            assert_eq!(payload_bytes(&*a.ptr()), 32);
            assert!(!has_values(&*a.ptr()));
        }
        vm.globals.push(a);
        vm.collect_once(true, 0).unwrap();
        let arr = vm.globals[0].ptr();
        assert!(!vm.heap.is_young(arr as usize));
        let s = vm.new_str("young").unwrap();
        vm.globals.push(s);
        // SAFETY: `arr` is a live flat array of 3 elements (re-read after allocating).
        unsafe {
            let arr = vm.globals[0].ptr();
            vm.array_store_slow(arr, 1, vm.globals[1]).unwrap();
            let arr = vm.globals[0].ptr();
            assert_eq!((*arr).meta, Elems::MOVED);
            assert!(
                (*arr).flags & FLAG_REMEMBERED != 0,
                "the conversion's barrier"
            );
        }
        vm.globals.pop();
        assert_eq!(vm.heap.check(), Ok(()));
        vm.collect(0).unwrap();
        assert_eq!(vm.heap.check(), Ok(()));
        // SAFETY: a live converted array of 3 elements.
        let vals = unsafe { array_values(vm.globals[0].ptr()) };
        assert_eq!(vals[0], Value::i64(1));
        assert_eq!(vals[2], Value::i64(3));
        // SAFETY: element 1 is the string stored.
        assert_eq!(unsafe { str(vals[1].ptr()) }, "young");
    }

    /// The verifier rejects an array whose meta word is no elements kind, and a
    /// converted array whose value is not an array.
    #[test]
    fn the_verifier_rejects_bad_elements_kinds() {
        let mut vm = vm();
        let a = vm
            .new_array_of(&[Value::f64(1.0), Value::f64(2.0)])
            .unwrap();
        vm.globals.push(a);
        assert_eq!(vm.heap.check(), Ok(()));
        // SAFETY: a live array; its header is restored before the heap is used.
        unsafe {
            (*a.ptr()).meta = 77;
            let e = vm.heap.check().unwrap_err();
            assert!(e.contains("bad elements kind"), "{e}");
            (*a.ptr()).meta = Elems::MOVED;
            *fields(a.ptr()) = Value::i64(5);
            let e = vm.heap.check().unwrap_err();
            assert!(e.contains("holds no array"), "{e}");
            (*a.ptr()).meta = Tag::F64;
        }
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
            .new_values(Kind::ARRAY, 0, Elems::GENERAL, &vec![vm.globals[0]; n])
            .unwrap();
        assert!(vm.heap.old.contains(a.ptr() as *const u8));
        vm.globals[0] = a;
        vm.collect(0).unwrap();
        assert_eq!(vm.heap.check(), Ok(()));
        let shown = vm.display(vm.globals[0]);
        assert_eq!(shown.matches("\"fill\"").count(), n);
    }

    /// A large object gets a mapping of its own, is not moved by collections, and
    /// keeps a young value stored into it (through the barrier) across a minor
    /// collection, and its contents across a major one.
    #[test]
    fn a_young_object_stored_into_a_large_object_survives() {
        let mut vm = vm();
        let n = LARGE_MIN / 16; // one value more than LARGE_MIN with the header
        let a = vm
            .new_values(Kind::ARRAY, 0, Elems::GENERAL, &vec![Value::UNIT; n])
            .unwrap();
        vm.globals.push(a);
        let p = a.ptr();
        assert!(vm.heap.large.contains(p), "a mapping of its own");
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.globals[0].ptr(), p, "not moved");
        let s = vm.new_str("young").unwrap();
        // SAFETY: `p` is a live array of `n` values.
        unsafe { vm.heap.store(p, n - 1, s) };
        assert_eq!(vm.heap.check(), Ok(()));
        let majors = vm.heap.stats.major;
        vm.collect_once(false, 0).unwrap();
        assert_eq!(vm.heap.stats.major, majors, "the collection was minor");
        assert_eq!(vm.heap.check(), Ok(()));
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.check(), Ok(()));
        assert_eq!(vm.globals[0].ptr(), p, "not moved");
        // SAFETY: as above.
        let last = unsafe { *fields(p).add(n - 1) };
        assert_eq!(vm.display(last), "young");
    }

    /// Dead large objects are unmapped: allocating and dropping many of them keeps
    /// the heap within a few of them, and a live one stays.
    #[test]
    fn dead_large_objects_are_unmapped() {
        let mut vm = vm();
        let n = 10_000; // 160 KB each
        let keep = vm
            .new_values(Kind::ARRAY, 0, Elems::GENERAL, &vec![Value::i64(7); n])
            .unwrap();
        vm.globals.push(keep);
        for _ in 0..500 {
            vm.new_values(Kind::ARRAY, 0, Elems::GENERAL, &vec![Value::UNIT; n])
                .unwrap();
        }
        let one = Heap::object_size(n * 16);
        assert!(
            vm.heap.stats.peak_heap < 8 * one,
            "peak {} for objects of {one} bytes",
            vm.heap.stats.peak_heap
        );
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.large.objs.len(), 1, "only the kept one is mapped");
        assert_eq!(vm.heap.check(), Ok(()));
        assert_eq!(vm.display(vm.globals[0]).matches('7').count(), n);
    }

    /// A major collection slides the old space's live objects over the dead ones and
    /// every reference follows: roots, fields of old objects (to moved and unmoved
    /// ones), fields of large objects, GMP numbers (finalised or moved).
    #[test]
    fn compaction_keeps_every_reference() {
        let mut vm = vm();
        // A large array holding the survivors, so large objects' fields are relocated.
        let keep = vm
            .new_values(
                Kind::ARRAY,
                0,
                Elems::GENERAL,
                &vec![Value::UNIT; LARGE_MIN / 16],
            )
            .unwrap();
        vm.globals.push(keep);
        vm.globals.push(Value::UNIT);
        let mut expect = Vec::new();
        for i in 0..300i64 {
            // Garbage between the survivors, so they move: promoted while global 1
            // holds it, dead once the next one replaces it.
            let d = vm.new_str(&"dead".repeat(i as usize % 7 + 1)).unwrap();
            vm.globals[1] = d;
            let s = vm.new_str(&format!("s{i}")).unwrap();
            vm.roots.push(s);
            let b = vm.new_big(Integer::from(i) << 100).unwrap();
            vm.roots.push(b);
            let prev = if i > 0 {
                // SAFETY: a live large array.
                unsafe { *fields(vm.globals[0].ptr()).add(i as usize - 1) }
            } else {
                Value::UNIT
            };
            vm.roots.push(prev);
            // Taken out of the roots: `new_values` roots its arguments itself.
            let vals: Vec<Value> = vm.roots.drain(..).collect();
            let t = vm.new_values(Kind::DATA, 0, 3, &vals).unwrap();
            let arr = vm.globals[0].ptr();
            // SAFETY: a live large array with room for index `i`.
            unsafe { vm.heap.store(arr, i as usize, t) };
            vm.collect_once(i % 50 == 0, 0).unwrap();
            expect.push(format!("s{i}"));
        }
        vm.collect_once(true, 0).unwrap();
        let moved = vm.heap.stats.copied;
        assert!(moved > 0, "nothing moved: {:?}", vm.heap.stats);
        assert_eq!(vm.heap.check(), Ok(()));
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.check(), Ok(()));
        let arr = vm.globals[0].ptr();
        for (i, want) in expect.iter().enumerate().take(300) {
            // SAFETY: a live large array; its elements are live 3-field tuples.
            let (t, s, b, prev) = unsafe {
                let t = *fields(arr).add(i);
                let f = fields(t.ptr());
                (t, *f, *f.add(1), *f.add(2))
            };
            assert_eq!(&vm.display(s), want);
            assert_eq!(vm.display(b), (Integer::from(i) << 100u32).to_string());
            if i > 0 {
                // SAFETY: as above.
                let before = unsafe { *fields(arr).add(i - 1) };
                assert_eq!(prev.bits, before.bits, "the chain follows the moves");
            }
            assert!(vm.heap.old.contains(t.ptr() as *const u8));
        }
        assert_eq!(
            vm.heap.old_finalize.len(),
            300,
            "every live number listed once"
        );
    }

    /// Dead GMP numbers are finalised in eden, in a survivor space and in the old
    /// generation; live ones survive every kind of collection, staying on the young
    /// list while they are in a survivor space.
    #[test]
    fn big_integers_survive_and_die_in_both_generations() {
        let mut vm = vm_aged(2);
        let keep = vm.new_big(Integer::from(1) << 200).unwrap();
        vm.globals.push(keep);
        let short = vm.new_big(Integer::from(5) << 200).unwrap();
        vm.globals.push(short);
        vm.new_big(Integer::from(3) << 300).unwrap(); // dies in eden
        vm.collect(0).unwrap();
        assert_eq!(vm.heap.young_finalize.len(), 2, "both survivors stay young");
        assert!(vm.heap.old_finalize.is_empty());
        assert!(vm.heap.external > 0, "their limbs count as young memory");
        vm.globals.pop(); // `short` dies in the survivor space
        vm.collect(0).unwrap();
        assert_eq!(vm.heap.young_finalize.len(), 1);
        assert!(vm.heap.old_finalize.is_empty());
        assert_eq!(
            vm.display(vm.globals[0]),
            (Integer::from(1) << 200u32).to_string()
        );
        vm.collect(0).unwrap(); // the third survival promotes it
        assert!(vm.heap.young_finalize.is_empty());
        assert_eq!(vm.heap.old_finalize.len(), 1);
        assert_eq!(vm.heap.check(), Ok(()));
        vm.globals[0] = Value::UNIT; // the promoted one dies old
        vm.collect_once(true, 0).unwrap();
        assert!(vm.heap.old_finalize.is_empty());
        assert_eq!(vm.heap.check(), Ok(()));
    }

    /// The age of a young object: an object survives `age` minor collections in a
    /// survivor space, its age counting them, and the next one promotes it; the bytes
    /// copied within the young generation and promoted are counted apart.
    #[test]
    fn an_object_is_promoted_after_surviving_its_tenure_age() {
        for age in 0..=3u8 {
            let mut vm = vm_aged(age);
            let s = vm.new_str("aging").unwrap();
            vm.globals.push(s);
            // SAFETY: a live object just made.
            let size = 16 + payload_bytes(unsafe { &*s.ptr() }) as u64;
            for survived in 1..=age {
                vm.collect(0).unwrap();
                let p = vm.globals[0].ptr();
                assert!(vm.heap.young_contains(p as usize), "age {age}: still young");
                // SAFETY: a live object.
                assert_eq!(unsafe { (*p).flags } >> AGE_SHIFT, survived);
                assert_eq!(vm.heap.check(), Ok(()));
            }
            assert_eq!(vm.heap.stats.survived, age as u64 * size);
            assert_eq!(vm.heap.stats.promoted, 0);
            vm.collect(0).unwrap();
            let p = vm.globals[0].ptr();
            assert!(vm.heap.old.contains(p as *const u8), "age {age}: promoted");
            // SAFETY: a live object.
            assert_eq!(unsafe { (*p).flags }, 0);
            assert_eq!(vm.heap.stats.promoted, size);
            assert_eq!(vm.heap.stats.major, 0);
            assert_eq!(vm.heap.check(), Ok(()));
            assert_eq!(vm.display(vm.globals[0]), "aging");
        }
    }

    /// Survivors that do not fit the survivor space are promoted at once.
    #[test]
    fn a_full_survivor_space_promotes_the_rest() {
        let mut vm = vm_aged(3);
        let big = vm
            .new_values(Kind::ARRAY, 0, Elems::GENERAL, &vec![Value::UNIT; 100])
            .unwrap();
        vm.globals.push(big); // 1616 bytes: fits the 2 KiB survivor space
        let big = vm
            .new_values(Kind::ARRAY, 0, Elems::GENERAL, &vec![Value::UNIT; 100])
            .unwrap();
        vm.globals.push(big); // does not fit beside the first
        vm.collect(0).unwrap();
        assert!(vm.heap.young_contains(vm.globals[0].ptr() as usize));
        assert!(vm.heap.old.contains(vm.globals[1].ptr() as *const u8));
        assert_eq!(vm.heap.check(), Ok(()));
    }

    /// A young object stored into an old object and into a survivor: the old object
    /// stays remembered while it points at a survivor (the minor collection rebuilds
    /// the set), and leaves the set once its target is promoted; a promoted object
    /// that points at a survivor joins it.
    #[test]
    fn old_objects_pointing_at_survivors_stay_remembered() {
        let mut vm = vm_aged(2);
        old_array(&mut vm, 2);
        let r = vm.new_values(Kind::REF, 0, 0, &[Value::UNIT]).unwrap();
        vm.globals.push(r);
        vm.collect(0).unwrap(); // the cell is a survivor now
        let r = vm.globals[1].ptr();
        assert!(vm.heap.young_contains(r as usize));
        let s = vm.new_str("young").unwrap();
        let arr = vm.globals[0].ptr();
        let r = vm.globals[1].ptr();
        // SAFETY: live objects: an array of 2 values and a cell (no allocation since
        // they were read).
        unsafe {
            vm.heap.store(r, 0, s); // young into a survivor: nothing to remember
            assert!(vm.heap.remembered.is_empty());
            vm.heap.store(arr, 1, Value::obj(r));
        }
        assert_eq!(vm.heap.remembered.len(), 1);
        vm.globals.pop();
        assert_eq!(vm.heap.check(), Ok(()));
        vm.collect(0).unwrap(); // the cell ages to 2, the string to 1
        let arr = vm.globals[0].ptr();
        assert_eq!(
            vm.heap.remembered,
            vec![arr],
            "still pointing at a survivor"
        );
        // SAFETY: a live old object.
        assert!(unsafe { (*arr).flags } & FLAG_REMEMBERED != 0);
        assert_eq!(vm.heap.check(), Ok(()));
        vm.collect(0).unwrap(); // the cell is promoted, its string (age 1) is not
        let arr = vm.globals[0].ptr();
        // SAFETY: live objects.
        let r = unsafe { *fields(arr).add(1) }.ptr();
        assert!(vm.heap.old.contains(r as *const u8));
        assert_eq!(
            vm.heap.remembered,
            vec![r],
            "the promoted cell, not the array"
        );
        // SAFETY: a live old object.
        assert_eq!(unsafe { (*arr).flags }, 0);
        assert_eq!(vm.heap.check(), Ok(()));
        vm.collect(0).unwrap(); // the string is promoted too
        assert!(vm.heap.remembered.is_empty());
        assert_eq!(vm.heap.check(), Ok(()));
        assert_eq!(vm.display(vm.globals[0]), "#[(), ref(\"young\")]");
    }

    /// Four old objects in a row, A B C D, where A points at D and D at A: with C dead
    /// a major collection's dense prefix ends at C, so A and B stay where they are
    /// (their fields still relocated: A's now points at D's new place) and D slides
    /// down into C's place, still pointing at A; with nothing dead the prefix is the
    /// whole old space and nothing moves.
    #[test]
    fn the_dense_prefix_stays_and_what_is_above_it_slides_down() {
        let mut vm = vm();
        // Whatever the machine made at start-up is compacted below the four.
        vm.collect_once(true, 0).unwrap();
        let mark = vm.globals.len();
        for i in 0..4i64 {
            let first = if i == 3 {
                vm.globals[mark]
            } else {
                Value::i64(i)
            };
            let o = vm.new_values(Kind::DATA, 0, 1, &[first]).unwrap();
            vm.globals.push(o);
        }
        vm.collect_once(true, 0).unwrap();
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| vm.globals[mark + i].ptr());
        // SAFETY: A and D are live old objects with one field; an old-to-old store
        // needs no barrier, but goes through it as every store does.
        unsafe { vm.heap.store(a, 0, vm.globals[mark + 3]) };
        let base = vm.heap.old.base() as usize;
        let off = |p: *mut Header| p as usize - base;
        assert!(off(a) < off(b) && off(b) < off(c) && off(c) < off(d));
        // Nothing dead: the whole old space is the prefix, nothing moves.
        let copied = vm.heap.stats.copied;
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.prefix, vm.heap.old.top);
        assert_eq!(vm.heap.stats.copied, copied, "nothing moved");
        assert_eq!(vm.globals[mark + 3].ptr(), d);
        // C dies: the prefix ends where it was.
        vm.globals[mark + 2] = Value::UNIT;
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.prefix, off(c), "the prefix ends at the dead object");
        assert_eq!(vm.globals[mark].ptr(), a, "A stays");
        assert_eq!(vm.globals[mark + 1].ptr(), b, "B stays");
        let d2 = vm.globals[mark + 3].ptr();
        assert_eq!(d2, c, "D slides into C's place");
        assert!(vm.heap.stats.copied > copied);
        // SAFETY: A and D are live objects with one field.
        unsafe {
            assert_eq!((*fields(a)).bits, d2 as u64, "A's field relocated");
            assert_eq!((*fields(d2)).bits, a as u64, "D still points at A");
            assert_eq!((*fields(b)).bits, Value::i64(1).bits);
        }
        assert_eq!(vm.heap.check(), Ok(()));
    }

    /// The settled bottom: once three full major collections found a long-lived
    /// table live, the next major collections keep it unmarked. An old object stored
    /// into it afterwards (an old-to-old store, which the barrier does not record) is
    /// found by scanning the kept objects' fields, survives, and is relocated when it
    /// slides; what dies in the bottom stays until the next full major collection,
    /// which frees it and finds no settled bottom.
    #[test]
    fn the_settled_bottom_is_kept_and_its_fields_are_scanned() {
        let mut vm = vm();
        vm.collect_once(true, 0).unwrap();
        let table = vm
            .new_values(Kind::ARRAY, 0, Elems::GENERAL, &[Value::UNIT; 8])
            .unwrap();
        vm.globals.push(table);
        let t = vm.globals.len() - 1;
        // Until the next two major collections keep the bottom (full ones that find
        // it live again double the run).
        for _ in 0..12 {
            if vm.heap.settled > 0 && vm.heap.settled_left >= 2 {
                break;
            }
            vm.collect_once(true, 0).unwrap();
        }
        assert!(vm.heap.settled_left >= 2);
        let kept0 = vm.heap.stats.kept_bottom;
        let settled = vm.heap.settled;
        let table = vm.globals[t].ptr();
        let base = vm.heap.old.base() as usize;
        assert!(settled > table as usize - base, "the table is settled");
        // Above the bottom: a dead object, then one only the table will hold.
        let dead = vm.new_str("dead").unwrap();
        vm.globals.push(dead);
        let o = vm.new_str("held by the settled table").unwrap();
        vm.globals.push(o);
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.stats.kept_bottom, kept0 + 1, "the bottom was kept");
        let g = vm.globals.len();
        let held = vm.globals[g - 1].ptr();
        assert!(held as usize - base >= settled);
        // SAFETY: the table is a live array of 8 values; an old-to-old store.
        unsafe { vm.heap.store(table, 3, vm.globals[g - 1]) };
        vm.globals.truncate(g - 2);
        let majors = vm.heap.stats.kept_bottom;
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.stats.kept_bottom, majors + 1, "the bottom was kept");
        // SAFETY: the table is live and kept in place.
        let moved = unsafe { (*fields(table).add(3)).ptr() };
        assert!(moved < held, "the held string slid over the dead one");
        assert_eq!(vm.display(Value::obj(moved)), "held by the settled table");
        assert_eq!(vm.heap.check(), Ok(()));
        // The table dies: kept majors keep it; the next full one frees it.
        vm.globals.truncate(t);
        let used = vm.heap.old_used();
        let mut full = false;
        for _ in 0..2 * SETTLED_RUN_MAX {
            let kept = vm.heap.stats.kept_bottom;
            vm.collect_once(true, 0).unwrap();
            assert_eq!(vm.heap.check(), Ok(()));
            if vm.heap.stats.kept_bottom == kept {
                full = true;
                break;
            }
            assert!(
                vm.heap.old_used() >= settled,
                "a kept major keeps the dead table"
            );
        }
        assert!(full, "a full major collection came");
        assert!(vm.heap.old_used() < used, "the full one freed the table");
        assert!(
            vm.heap.settled < settled,
            "and the bottom is no longer settled"
        );
    }

    /// Near the heap limit a major collection does not keep the settled bottom: what
    /// died there must count before the VM reports "out of memory".
    #[test]
    fn near_the_limit_a_major_collection_marks_everything() {
        let mut vm = vm();
        let table = vm
            .new_values(Kind::ARRAY, 0, Elems::GENERAL, &[Value::UNIT; 64])
            .unwrap();
        vm.globals.push(table);
        for _ in 0..5 {
            if vm.heap.settled > 0 && vm.heap.settled_left > 0 {
                break;
            }
            vm.collect_once(true, 0).unwrap();
        }
        assert!(vm.heap.settled > 0 && vm.heap.settled_left > 0);
        let kept = vm.heap.stats.kept_bottom;
        let limit = vm.heap.limit;
        vm.heap.limit = vm.heap.old_used() + vm.heap.settled - 16;
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.stats.kept_bottom, kept, "a full major collection");
        vm.heap.limit = limit;
        vm.collect_once(true, 0).unwrap();
        assert_eq!(vm.heap.stats.kept_bottom, kept + 1, "then kept again");
        assert_eq!(vm.heap.check(), Ok(()));
    }

    /// A major collection starts with an empty young generation: asked for directly,
    /// its minor part promotes every survivor; needed only after a minor part that
    /// kept survivors young (the old generation's room), a second minor part
    /// promotes them first.
    #[test]
    fn a_major_collection_promotes_the_survivors() {
        for direct in [true, false] {
            let mut vm = vm_aged(3);
            let s = vm.new_str("survivor").unwrap();
            vm.globals.push(s);
            vm.collect(0).unwrap();
            assert!(vm.heap.young_contains(vm.globals[0].ptr() as usize));
            let t = vm.new_str("eden").unwrap();
            vm.globals.push(t);
            let needed_old = if direct { 0 } else { vm.heap.major_at + 1 };
            let major = vm.collect_once(direct, needed_old).unwrap();
            assert!(major);
            assert!(vm.heap.young_is_empty());
            assert!(vm.heap.old.contains(vm.globals[0].ptr() as *const u8));
            assert!(vm.heap.old.contains(vm.globals[1].ptr() as *const u8));
            assert_eq!(vm.heap.check(), Ok(()));
            assert_eq!(vm.display(vm.globals[0]), "survivor");
            assert_eq!(vm.display(vm.globals[1]), "eden");
        }
    }

    /// `copy_down` copies every size its branches tell apart (16 to 128 bytes inline,
    /// larger through `memmove`), to another buffer and as an overlapping slide down
    /// by one to three chunks, leaving the bytes around the destination alone.
    #[test]
    fn copy_down_copies_every_size_and_overlapping_slides() {
        for size in (16..=192).step_by(16) {
            let words = size / 8;
            // Another buffer: the destination has a guard word on each side.
            let src: Vec<u64> = (1..=words as u64).collect();
            let mut dst = vec![0u64; words + 4];
            // SAFETY: both buffers hold `size` bytes at those offsets.
            unsafe { copy_down(src.as_ptr(), dst.as_mut_ptr().add(2), size) };
            assert_eq!(&dst[2..2 + words], &src[..], "size {size}");
            assert_eq!(
                (dst[..2].to_vec(), dst[2 + words..].to_vec()),
                (vec![0; 2], vec![0; 2])
            );
            for by in [2, 4, 6] {
                let mut buf: Vec<u64> = (0..(words + by + 2) as u64).map(|w| 1000 + w).collect();
                let want: Vec<u64> = buf[by..by + words].to_vec();
                let after = buf[words..].to_vec();
                let p = buf.as_mut_ptr();
                // SAFETY: source and destination are inside `buf`, the destination
                // `by` words below the source.
                unsafe { copy_down(p.add(by), p, size) };
                assert_eq!(&buf[..words], &want[..], "size {size}, slide {by}");
                // What lies above the destination is the source's tail, untouched.
                assert_eq!(&buf[words..], &after[..], "size {size}, slide {by}");
            }
        }
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
