//! A byte-driven generator of `.hasm` programs for differential testing of the JIT
//! against the interpreter, shared by the cargo-fuzz target `jit_diff` (which includes
//! this file by path) and the deterministic suite `cli/tests/jit_generated.rs`.
//!
//! Raw bytes almost never decode into a verified module that loops, so the bytes drive
//! choices in a grammar of programs the JIT cares about: counted hot loops (nested at
//! most two deep), typed i64/f64/bool arithmetic with edge values (division and
//! remainder by zero, `MIN / -1`, shifts past 63), comparisons and compare-and-jumps,
//! arrays (out-of-bounds reads and writes, elements whose type changes), globals whose
//! type changes, `callk`/`call` of function values and closures (callees that fault,
//! return another type, or loop; a looping callee reached by a tail call, or called
//! from a function that goes on after it returns), self, mutual and tail recursion,
//! data values taken
//! apart by `switch`, lists built with `cons` (sometimes onto a non-list) and walked
//! with `jnil`/`head`/`tail` in a short inner loop, records and tuples allocated in
//! loops, read with `field` (whose type changes) and written with `setfield` (objects
//! too: the write barrier, with collections from a small nursery), constructor tests
//! (`jntag`, `gettag`), arrays holding objects, stores through one reference and
//! loads through another that may be the same record or array, and prints of
//! intermediate values.
//!
//! Every program terminates by construction: loop counters are written only by their
//! own increment, every other jump goes forward, recursion depths are masked to small
//! numbers, and the iteration counts are bounded, so a run's work is bounded
//! (well under a million instructions) without any timer that would make the
//! comparison nondeterministic.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

/// The fuzzer's bytes, read as a stream of choices; zeros once exhausted (so every
/// input, even the empty one, gives a complete program).
pub struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data, pos: 0 }
    }
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    /// True with probability about `k`/256.
    fn chance(&mut self, k: u8) -> bool {
        self.byte() < k
    }
}

/// How a generated program is run on the JIT side.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    /// The JIT's hotness threshold (`--jit-hot`).
    pub hot: u16,
    /// Both runs collect at every allocation.
    pub gc_stress: bool,
}

/// A generated program and the mode to compare it in.
pub struct Generated {
    pub source: String,
    pub mode: Mode,
}

// Slot layout of `main` (every loop body works on these):
// r0, r1: loop counters (outer, inner), written only by their loop's increment.
// r2..=r5: i64 variables; r6, r7: f64 variables; r8: a bool; r9: an array;
// r10: a data value; r11: a callable (function value or closure of arity 2);
// r12..=r15: temporaries; r16: a list; r17: a record R(a, b);
// r18, r19: a list walk's cursor and counter, and temporaries;
// r20, r21: call windows (the top of the frame: a call clobbers its window and every
// slot above it, SPEC.md §4.2, and the verifier rejects a read of a clobbered slot).
const I64S: [u16; 4] = [2, 3, 4, 5];
const F64S: [u16; 2] = [6, 7];
const INTS: [u16; 6] = [0, 1, 2, 3, 4, 5]; // readable i64s (counters included)

const EDGE_I64: [i64; 12] = [
    0,
    1,
    -1,
    2,
    63,
    64,
    65,
    -64,
    i64::MIN,
    i64::MAX,
    i32::MIN as i64,
    1 << 40,
];
const EDGE_IMM: [i32; 9] = [0, 1, -1, 7, 63, 64, 100, i32::MIN, i32::MAX];
const EDGE_F64: [&str; 9] = [
    "0.0", "-0.0", "1.5", "-2.25", "1e300", "inf", "nan", "3.0", "1e-300",
];

const I64_BINOPS: [&str; 10] = [
    "add.i64", "sub.i64", "mul.i64", "div.i64", "rem.i64", "and.i64", "or.i64", "xor.i64",
    "shl.i64", "shr.i64",
];
const I64_IMMOPS: [&str; 3] = ["addi.i64", "subi.i64", "muli.i64"];
const F64_BINOPS: [&str; 5] = ["add.f64", "sub.f64", "mul.f64", "div.f64", "rem.f64"];
const F64_KOPS: [&str; 6] = [
    "addk.f64",
    "subk.f64",
    "mulk.f64",
    "divk.f64",
    "rsubk.f64",
    "rdivk.f64",
];
const I64_CMPS: [&str; 4] = ["eq.i64", "ne.i64", "lt.i64", "le.i64"];
const F64_CMPS: [&str; 4] = ["eq.f64", "ne.f64", "lt.f64", "le.f64"];
const I64_JUMPS: [&str; 6] = [
    "jlt.i64", "jle.i64", "jgt.i64", "jge.i64", "jeq.i64", "jne.i64",
];
const I64_IMM_JUMPS: [&str; 6] = [
    "jlti.i64", "jlei.i64", "jgti.i64", "jgei.i64", "jeqi.i64", "jnei.i64",
];
const F64_JUMPS: [&str; 6] = [
    "jlt.f64", "jle.f64", "jnlt.f64", "jnle.f64", "jeq.f64", "jne.f64",
];
/// Functions of arity 2 that a callable slot may hold or `callk` may name.
const LEAVES: [&str; 3] = ["leaf0", "leaf1", "leaf2"];

struct Gen<'a, 'b> {
    c: &'b mut Choices<'a>,
    out: String,
    labels: usize,
    /// Statements left: bounds the program's size whatever the bytes say.
    budget: usize,
}

impl Gen<'_, '_> {
    fn label(&mut self) -> String {
        self.labels += 1;
        format!("L{}", self.labels)
    }
    fn line(&mut self, s: &str) {
        self.out.push_str("    ");
        self.out.push_str(s);
        self.out.push('\n');
    }
    fn lab(&mut self, l: &str) {
        let _ = writeln!(self.out, "{l}:");
    }
    fn i64v(&mut self) -> u16 {
        self.c.pick(&I64S)
    }
    fn int(&mut self) -> u16 {
        self.c.pick(&INTS)
    }
    fn f64v(&mut self) -> u16 {
        self.c.pick(&F64S)
    }

    /// A slot holding an array index: usually an i64 masked into 0..64 (in r15).
    fn index(&mut self) -> u16 {
        let i = self.int();
        if self.c.chance(220) {
            self.line("loadi r15, 63");
            self.line(&format!("and.i64 r15, r{i}, r15"));
            15
        } else {
            i
        }
    }

    /// A block of up to `n` statements at loop depth `depth`.
    fn block(&mut self, n: usize, depth: u8) {
        let k = 1 + self.c.below(n.max(1));
        for _ in 0..k {
            if self.budget == 0 || self.c.done() {
                return;
            }
            self.budget -= 1;
            self.stmt(depth);
        }
    }

    fn stmt(&mut self, depth: u8) {
        match self.c.below(34) {
            0..=2 => {
                let op = self.c.pick(&I64_BINOPS);
                let (d, a, b) = (self.i64v(), self.int(), self.int());
                if (op.starts_with("div") || op.starts_with("rem")) && self.c.chance(200) {
                    // Mostly an odd divisor (never zero; -1 gives MIN / -1).
                    self.line("loadi r14, 1");
                    self.line(&format!("or.i64 r14, r{b}, r14"));
                    self.line(&format!("{op} r{d}, r{a}, r14"));
                } else {
                    self.line(&format!("{op} r{d}, r{a}, r{b}"));
                }
            }
            3 => {
                let op = self.c.pick(&I64_IMMOPS);
                let (d, a, k) = (self.i64v(), self.int(), self.c.pick(&EDGE_IMM));
                self.line(&format!("{op} r{d}, r{a}, {k}"));
            }
            4 => {
                let (d, k) = (self.i64v(), self.c.pick(&EDGE_I64));
                self.line(&format!("loadi64 r{d}, {k}"));
            }
            5 => {
                let op = ["neg.i64", "bnot.i64"][self.c.below(2)];
                let (d, a) = (self.i64v(), self.int());
                self.line(&format!("{op} r{d}, r{a}"));
            }
            6 => {
                let op = self.c.pick(&F64_BINOPS);
                let (d, a, b) = (self.f64v(), self.f64v(), self.f64v());
                self.line(&format!("{op} r{d}, r{a}, r{b}"));
            }
            7 => {
                let op = self.c.pick(&F64_KOPS);
                let (d, a, k) = (self.f64v(), self.f64v(), self.c.pick(&EDGE_F64));
                self.line(&format!("{op} r{d}, r{a}, {k}"));
            }
            8 => {
                if self.c.chance(128) {
                    let (d, a) = (self.f64v(), self.int());
                    self.line(&format!("i64.to_f64 r{d}, r{a}"));
                } else {
                    let (d, a) = (self.i64v(), self.f64v());
                    self.line(&format!("f64.to_i64 r{d}, r{a}"));
                }
            }
            9 => {
                if self.c.chance(128) {
                    let op = self.c.pick(&I64_CMPS);
                    let (a, b) = (self.int(), self.int());
                    self.line(&format!("{op} r8, r{a}, r{b}"));
                } else {
                    let op = self.c.pick(&F64_CMPS);
                    let (a, b) = (self.f64v(), self.f64v());
                    self.line(&format!("{op} r8, r{a}, r{b}"));
                }
                if self.c.chance(40) {
                    self.line("not r8, r8");
                }
            }
            10 | 11 => {
                // A forward conditional jump over a block.
                let l = self.label();
                match self.c.below(4) {
                    0 => {
                        let op = self.c.pick(&I64_JUMPS);
                        let (a, b) = (self.int(), self.int());
                        self.line(&format!("{op} r{a}, r{b}, {l}"));
                    }
                    1 => {
                        let op = self.c.pick(&I64_IMM_JUMPS);
                        let (a, k) = (self.int(), self.c.pick(&[0, 1, 7, 50, 100, 200, -1]));
                        self.line(&format!("{op} r{a}, {k}, {l}"));
                    }
                    2 => {
                        let op = self.c.pick(&F64_JUMPS);
                        let (a, b) = (self.f64v(), self.f64v());
                        self.line(&format!("{op} r{a}, r{b}, {l}"));
                    }
                    _ => {
                        let op = ["jt", "jf"][self.c.below(2)];
                        self.line(&format!("{op} r8, {l}"));
                    }
                }
                self.block(4, depth);
                self.lab(&l);
            }
            12 => {
                // Array read: mostly with an index masked below 64 (in bounds unless
                // the array is short), else any index.
                let (d, i) = (self.i64v(), self.index());
                self.line(&format!("aget r{d}, r9, r{i}"));
            }
            13 => {
                let i = self.index();
                let v = if self.c.chance(30) {
                    self.f64v() // the elements' type changes
                } else {
                    self.int()
                };
                self.line(&format!("aset r9, r{i}, r{v}"));
                if self.c.chance(60) {
                    let d = self.i64v();
                    self.line(&format!("alen r{d}, r9"));
                }
            }
            14 => {
                let d = self.i64v();
                self.line(&format!("loadg r{d}, gi"));
                if self.c.chance(30) {
                    let v = self.f64v(); // the global's type changes
                    self.line(&format!("storeg gi, r{v}"));
                } else {
                    let v = self.int();
                    self.line(&format!("storeg gi, r{v}"));
                }
            }
            15 | 16 => self.call(),
            17 => {
                // A data value, built and taken apart by `switch`.
                let v = self.int();
                self.line(&format!("mov r12, r{v}"));
                let w = self.int();
                self.line(&format!("mov r13, r{w}"));
                match self.c.below(3) {
                    0 => self.line("con r10, T, A, r12, 0"),
                    1 => self.line("con r10, T, B, r12, 1"),
                    _ => self.line("con r10, T, C, r12, 2"),
                }
                let (la, lb, lc, join) = (self.label(), self.label(), self.label(), self.label());
                self.line(&format!("switch r10, [{la}, {lb}] else {lc}"));
                let d = self.i64v();
                self.lab(&la);
                self.line(&format!("addi.i64 r{d}, r{d}, 3"));
                self.line(&format!("jmp {join}"));
                self.lab(&lb);
                self.line(&format!("field r{d}, r10, 0"));
                self.line(&format!("jmp {join}"));
                self.lab(&lc);
                self.line("field r12, r10, 1");
                self.line(&format!("add.i64 r{d}, r{d}, r12"));
                self.lab(&join);
            }
            18 => {
                let v = if self.c.chance(200) {
                    self.int()
                } else {
                    self.c.pick(&[6, 7, 8, 9, 10, 16, 17])
                };
                self.line(&format!("mov r20, r{v}"));
                self.line("callk r12, show, r20, 1");
            }
            19 => {
                // A callable slot changes what it holds.
                match self.c.below(3) {
                    0 => {
                        let f = self.c.pick(&LEAVES);
                        self.line(&format!("loadfn r11, {f}"));
                    }
                    _ => {
                        let v = self.int();
                        self.line(&format!("mov r12, r{v}"));
                        self.line("closure r11, adder, r12, 1");
                    }
                }
            }
            20 => {
                // A variable changes type (an i64 slot gets an f64, or the reverse).
                if self.c.chance(128) {
                    let (d, s) = (self.i64v(), self.f64v());
                    self.line(&format!("mov r{d}, r{s}"));
                } else {
                    let (d, s) = (self.f64v(), self.i64v());
                    self.line(&format!("mov r{d}, r{s}"));
                }
            }
            21 if depth < 2 => self.hot_loop(depth + 1),
            22 => {
                // Cons onto the list: an i64, an f64 or an object; sometimes the list
                // restarts, rarely the tail is not a list (a fault).
                let v = self.c.pick(&[2, 3, 4, 6, 10, 17]);
                // The list restarts whenever the outer counter is a multiple of 8, so
                // it stays short (collections under GC stress copy and check it).
                let keep = self.label();
                self.line("loadi r18, 7");
                self.line("and.i64 r18, r0, r18");
                self.line(&format!("jnei.i64 r18, 0, {keep}"));
                self.line("loadnil r16");
                self.lab(&keep);
                let t = if self.c.chance(6) { 10 } else { 16 };
                self.line(&format!("cons r16, r{v}, r{t}"));
            }
            23 => {
                // Walk at most 8 cells of the list (an inner loop, bounded by its own
                // counter), moving each element into a variable.
                let (top, done) = (self.label(), self.label());
                let d = self.c.pick(&[2, 3, 6, 12]);
                self.line("mov r18, r16");
                self.line("loadi r19, 0");
                self.lab(&top);
                self.line(&format!("jgei.i64 r19, 8, {done}"));
                self.line(&format!("jnil r18, {done}"));
                self.line("head r12, r18");
                self.line("tail r18, r18");
                self.line(&format!("mov r{d}, r12"));
                self.line("addi.i64 r19, r19, 1");
                self.line(&format!("loop {top}"));
                self.lab(&done);
            }
            24 => {
                // A new record or tuple of two values (scalars or the data value: no
                // structure ever contains itself or grows with each round).
                let (a, b) = (self.c.pick(&[2, 3, 6, 8]), self.c.pick(&[4, 5, 7, 10]));
                self.line(&format!("mov r18, r{a}"));
                self.line(&format!("mov r19, r{b}"));
                if self.c.chance(160) {
                    self.line("con r17, R, R, r18, 2");
                } else {
                    self.line("tuple r12, r18, 2");
                    let d = self.i64v();
                    self.line(&format!("field r{d}, r12, 0"));
                }
            }
            25 => {
                // A field read (its type is whatever was stored).
                let (d, k) = (self.c.pick(&[2, 3, 6, 12]), self.c.below(2));
                self.line(&format!("field r{d}, r17, {k}"));
            }
            26 => {
                // A field write: a scalar, the data value, or a new tuple stored into a
                // record that may be old (the write barrier).
                let k = self.c.below(2);
                match self.c.below(3) {
                    0 => {
                        let v = self.c.pick(&[2, 5, 7, 8, 10]);
                        self.line(&format!("setfield r17, {k}, r{v}"));
                    }
                    _ => {
                        let (a, b) = (self.int(), self.f64v());
                        self.line(&format!("mov r18, r{a}"));
                        self.line(&format!("mov r19, r{b}"));
                        self.line("tuple r12, r18, 2");
                        self.line(&format!("setfield r17, {k}, r12"));
                    }
                }
            }
            27 => {
                // Constructor tests on the data value.
                if self.c.chance(128) {
                    let l = self.label();
                    let t = self.c.below(3);
                    self.line(&format!("jntag r10, {t}, {l}"));
                    self.block(3, depth);
                    self.lab(&l);
                } else {
                    let d = self.i64v();
                    self.line(&format!("gettag r{d}, r10"));
                }
            }
            28 => {
                // An object into the array (its elements' type changes), read back.
                let i = self.index();
                let v = self.c.pick(&[10, 17]);
                self.line(&format!("aset r9, r{i}, r{v}"));
                let i = self.index();
                self.line(&format!("aget r18, r9, r{i}"));
            }
            29 => {
                // Structural equality on mixed kinds: i64s, f64s, the bool, the array,
                // the data value, the callable (comparing a function faults), the
                // list, the record, a char or unit.
                let pick = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 14];
                let a = self.c.pick(&pick);
                let b = self.c.pick(&pick);
                if a == 14 || b == 14 {
                    if self.c.chance(128) {
                        let ch = self.c.pick(&[97u32, 98, 0x1F600]);
                        self.line(&format!("loadchar r14, {ch}"));
                    } else {
                        self.line("loadunit r14");
                    }
                }
                let op = self.c.pick(&["jeq", "jne"]);
                let l = self.label();
                self.line(&format!("{op} r{a}, r{b}, {l}"));
                self.block(3, depth);
                self.lab(&l);
            }
            30 => {
                // An array allocation: a masked length, 0..15 (sometimes the
                // remainder by 65, -64..64: a negative length faults), filled with any
                // value, then its length read. Never longer than 64: a loop that
                // allocates arrays of unbounded lengths makes a unit that runs for
                // seconds (under ASan, minutes) and finds nothing more.
                let n = self.int();
                if self.c.chance(200) {
                    self.line("loadi r14, 15");
                    self.line(&format!("and.i64 r14, r{n}, r14"));
                } else {
                    self.line("loadi r14, 65");
                    self.line(&format!("rem.i64 r14, r{n}, r14"));
                }
                let fill = self.c.pick(&[2, 6, 8, 10, 17]);
                self.line(&format!("anew r18, r14, r{fill}"));
                let d = self.i64v();
                self.line(&format!("alen r{d}, r18"));
            }
            31 => {
                // Aliasing through two references: the record read, written through
                // a second reference that is the same record (or a fresh one), and
                // read again (the JIT's load forwarding must see the store).
                let k = self.c.below(2);
                if self.c.chance(160) {
                    self.line("mov r12, r17");
                } else {
                    let (a, b) = (self.int(), self.f64v());
                    self.line(&format!("mov r18, r{a}"));
                    self.line(&format!("mov r19, r{b}"));
                    self.line("con r12, R, R, r18, 2");
                }
                let d = self.c.pick(&[2, 3, 6]);
                self.line(&format!("field r{d}, r17, {k}"));
                let v = self.c.pick(&[2, 5, 7, 8, 10]);
                self.line(&format!("setfield r12, {k}, r{v}"));
                let d = self.c.pick(&[2, 3, 6]);
                self.line(&format!("field r{d}, r17, {k}"));
            }
            32 => {
                // The same for the array: an element read, written through a second
                // slot holding the same array (or a fresh one), read again.
                if self.c.chance(160) {
                    self.line("mov r18, r9");
                } else {
                    self.line("loadi r14, 8");
                    self.line("anew r18, r14, r2");
                }
                let i = self.index();
                let d = self.i64v();
                self.line(&format!("aget r{d}, r9, r{i}"));
                let v = self.int();
                self.line(&format!("aset r18, r{i}, r{v}"));
                let d = self.i64v();
                self.line(&format!("aget r{d}, r9, r{i}"));
            }
            _ => {
                let (d, a) = (self.i64v(), self.int());
                self.line(&format!("addi.i64 r{d}, r{a}, 1"));
            }
        }
    }

    /// A call with the result in an i64 variable: of a leaf, of the callable slot, of
    /// a recursive function (argument masked so the depth stays small), or of a
    /// function that loops.
    fn call(&mut self) {
        let (a, b, d) = (self.int(), self.int(), self.i64v());
        self.line(&format!("mov r20, r{a}"));
        self.line(&format!("mov r21, r{b}"));
        match self.c.below(9) {
            0 | 1 => {
                let f = self.c.pick(&LEAVES);
                self.line(&format!("callk r{d}, {f}, r20, 2"));
            }
            2 => self.line(&format!("call r{d}, r11, r20, 2")),
            3 => {
                self.line("loadi r14, 7");
                self.line("and.i64 r20, r20, r14");
                self.line(&format!("callk r{d}, fib, r20, 1"));
            }
            4 => {
                self.line("loadi r14, 31");
                self.line("and.i64 r20, r20, r14");
                self.line(&format!("callk r{d}, even, r20, 1"));
                // even returns a bool: keep it in the bool slot.
                self.line(&format!("mov r8, r{d}"));
                self.line(&format!("loadi r{d}, 0"));
            }
            5 => {
                self.line("loadi r14, 63");
                self.line("and.i64 r20, r20, r14");
                self.line(&format!("callk r{d}, tsum, r20, 2"));
            }
            7 => {
                // A tail call into the looping callee (after a division that faults
                // when the masked argument is 0).
                self.line("loadi r14, 15");
                self.line("and.i64 r20, r20, r14");
                self.line(&format!("callk r{d}, hop, r20, 2"));
            }
            8 => {
                // The looping callee called from another function, which goes on
                // after it returns (a return below a side trace's frame into a caller
                // that is not main).
                self.line("loadi r14, 15");
                self.line("and.i64 r20, r20, r14");
                self.line(&format!("callk r{d}, around, r20, 2"));
            }
            _ => {
                self.line("loadi r14, 15");
                self.line("and.i64 r20, r20, r14");
                self.line(&format!("callk r{d}, loopy, r20, 2"));
            }
        }
    }

    /// A counted loop on r0 (depth 1) or r1 (depth 2): its counter is written only by
    /// its own increment, so it runs exactly `n` times unless something faults.
    fn hot_loop(&mut self, depth: u8) {
        let ctr = depth - 1;
        let n = if depth == 1 {
            [1, 2, 5, 40, 100, 300][self.c.below(6)]
        } else {
            [1, 3, 10, 30][self.c.below(4)]
        };
        let (top, done) = (self.label(), self.label());
        self.line(&format!("loadi r{ctr}, 0"));
        self.lab(&top);
        self.line(&format!("jgei.i64 r{ctr}, {n}, {done}"));
        self.block(10, depth);
        self.line(&format!("addi.i64 r{ctr}, r{ctr}, 1"));
        self.line(&format!("loop {top}"));
        self.lab(&done);
    }

    /// A leaf of arity 2 (r0, r1 arguments): arithmetic that may fault, a branch, and
    /// sometimes a result of another type.
    fn leaf(&mut self, name: &str) {
        let _ = writeln!(self.out, ".func {name}/2 slots=4");
        self.line("loadi r2, 1");
        for _ in 0..1 + self.c.below(4) {
            let op = self.c.pick(&I64_BINOPS);
            let (d, a, b) = (self.c.below(3), self.c.below(3), self.c.below(2));
            self.line(&format!("{op} r{d}, r{a}, r{b}"));
        }
        if self.c.chance(100) {
            let l = self.label();
            let k = self.c.pick(&[0, 5, 50, 150]);
            self.line(&format!("jlti.i64 r0, {k}, {l}"));
            if self.c.chance(80) {
                self.line("i64.to_f64 r0, r0"); // returns an f64 on this path
            } else {
                let op = self.c.pick(&I64_BINOPS);
                self.line(&format!("{op} r0, r1, r2"));
            }
            self.lab(&l);
        }
        self.line("ret r0");
        self.out.push_str(".end\n\n");
    }
}

const FIXED: &str = r#"
.func show/1
    tostr r0, r0
    print r0
    loadg r1, nl
    print r1
    retu
.end

; a closure of arity 2 capturing one value
.func adder/2 captures=1 slots=3
    getenv r2, 0
    add.i64 r0, r0, r2
    sub.i64 r0, r0, r1
    ret r0
.end

.func fib/1 slots=3
    jgti.i64 r0, 1, rec
    ret r0
rec:
    subi.i64 r1, r0, 1
    callself r1, r1, 1
    subi.i64 r2, r0, 2
    callself r2, r2, 1
    add.i64 r0, r1, r2
    ret r0
.end

.func even/1 slots=2
    jeqi.i64 r0, 0, yes
    subi.i64 r1, r0, 1
    tcallk odd, r1, 1
yes:
    loadtrue r0
    ret r0
.end

.func odd/1 slots=2
    jeqi.i64 r0, 0, no
    subi.i64 r1, r0, 1
    callk r1, even, r1, 1
    ret r1
no:
    loadfalse r0
    ret r0
.end

; tsum(n, acc) = n <= 0 ? acc : tsum(n - 1, acc + n)
.func tsum/2 slots=3
    jlei.i64 r0, 0, done
    add.i64 r1, r1, r0
    subi.i64 r0, r0, 1
    tcallself r0, 2
done:
    ret r1
.end

; a loop inside a callee: x rounds of acc := (acc + y) ^ i
.func loopy/2 slots=4
    loadi r2, 0
    loadi r3, 0
top:
    jge.i64 r2, r0, done
    add.i64 r3, r3, r1
    xor.i64 r3, r3, r2
    addi.i64 r2, r2, 1
    loop top
done:
    ret r3
.end

; a tail call into the looping callee (its frame replaces this one), after a
; division that faults when x is 0
.func hop/2 slots=3
    addi.i64 r1, r1, 3
    div.i64 r2, r1, r0
    tcallk loopy, r0, 2
.end

; the looping callee called from a function that goes on after it returns
.func around/2 slots=4
    mov r2, r0
    mov r3, r1
    callk r2, loopy, r2, 2
    mul.i64 r2, r2, r1
    subi.i64 r2, r2, 1
    ret r2
.end
"#;

/// Builds a program (and the mode to run it in) from the fuzzer's bytes.
pub fn generate(data: &[u8]) -> Generated {
    let mut c = Choices::new(data);
    let mode = Mode {
        hot: [1, 1, 1, 2, 3][c.below(5)],
        gc_stress: c.chance(40),
    };
    let mut g = Gen {
        c: &mut c,
        out: String::new(),
        labels: 0,
        budget: 120,
    };
    g.out
        .push_str(".module executable\n.global nl = \"\\n\"\n.global gi = 5\n");
    g.out.push_str(".type T | A | B/1 | C/2\n.type R | R/2\n");
    g.out.push_str(FIXED);
    for f in LEAVES {
        g.leaf(f);
    }
    g.out.push_str(".func main/0 slots=22\n");
    let len = g.c.pick(&[64, 100, 1000, 64, 64, 10, 0, 100]);
    let init = g.c.pick(&EDGE_I64);
    g.line(&format!("loadi r12, {len}"));
    g.line(&format!("loadi64 r13, {init}"));
    g.line("anew r9, r12, r13");
    for (i, r) in I64S.iter().enumerate() {
        let k = g.c.pick(&EDGE_I64);
        let k = if i == 0 { 3 } else { k };
        g.line(&format!("loadi64 r{r}, {k}"));
    }
    for r in F64S {
        let k = g.c.pick(&EDGE_F64);
        g.line(&format!("loadf r{r}, {k}"));
    }
    g.line("loadfalse r8");
    g.line("loadi r15, 0");
    g.line("loadi r0, 0");
    g.line("loadi r1, 0");
    g.line("con r10, T, A, r12, 0");
    g.line("loadfn r11, leaf0");
    g.line("loadnil r16");
    g.line("con r17, R, R, r2, 2");
    // One to three top-level loops, each followed by a print of the state.
    for _ in 0..1 + g.c.below(3) {
        g.hot_loop(1);
        let v = g.c.pick(&[2, 3, 4, 5, 6, 7, 8]);
        g.line(&format!("mov r20, r{v}"));
        g.line("callk r12, show, r20, 1");
        if g.c.done() {
            break;
        }
    }
    let r = g.c.pick(&[2, 3, 12]);
    g.line(&format!("ret r{r}"));
    g.out.push_str(".end\n\n.entry main\n");
    Generated {
        source: g.out,
        mode,
    }
}

/// What a run produced: standard output, then the exit status or the error's full
/// text (message, location and stack trace).
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub end: String,
}

#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a verified module in a fresh VM, with the tracing JIT at hotness `jit` or the
/// interpreter alone (`None`).
pub fn run(v: hashvm_format::Verified<'_>, jit: Option<u16>, gc_stress: bool) -> Run {
    run_with_stats(v, jit, gc_stress).0
}

/// A fresh VM with the generated programs' limits (the tracing JIT's hotness `hot`),
/// its output going to the returned sink.
fn fresh_vm(hot: u16, gc_stress: bool) -> (hashvm_vm::Vm, Sink) {
    let mut vm = hashvm_vm::Vm::new(hashvm_vm::Config {
        heap_limit: 256 << 20,
        heap_initial: 1 << 16,
        max_frames: 10_000,
        gc_stress,
        jit_hot: hot,
        allow_ffi: false,
        ..hashvm_vm::Config::default()
    });
    let sink = Sink::default();
    vm.set_output(Box::new(sink.clone()));
    (vm, sink)
}

/// Runs `v` in `vm` to its end: what it printed to `sink` and how it ended.
fn finish(mut vm: hashvm_vm::Vm, v: hashvm_format::Verified<'_>, sink: Sink) -> Run {
    let end = match hashvm_vm::run_program(&mut vm, v) {
        hashvm_vm::Outcome::Exit(c) => format!("exit {c}"),
        hashvm_vm::Outcome::Error(e) => e.to_string(),
    };
    drop(vm);
    let stdout = String::from_utf8_lossy(&sink.0.borrow()).into_owned();
    Run { stdout, end }
}

/// [`run`], also giving the JIT's statistics (traces compiled, trace entries): the
/// deterministic suite checks that the generated programs do exercise the JIT.
pub fn run_with_stats(
    v: hashvm_format::Verified<'_>,
    jit: Option<u16>,
    gc_stress: bool,
) -> (Run, u64, u64) {
    let (mut vm, sink) = fresh_vm(jit.unwrap_or(hashvm_vm::vm::HOT_THRESHOLD), gc_stress);
    let mut stats = None;
    if jit.is_some() {
        let j = hashvm_jit::Jit::new();
        stats = Some(j.stats.clone());
        vm.set_jit(Some(Box::new(j)));
    }
    let run = finish(vm, v, sink);
    let (traces, entries) = stats.map_or((0, 0), |s| {
        let s = s.borrow();
        (s.traces, s.entries)
    });
    (run, traces, entries)
}

/// Runs `v` as its native executable would: every function `hashvm_jit::aot`
/// compiles ahead of time, its machine code mapped executable in this process, the
/// tracing JIT (at hotness `hot`, with the program's field kinds and field counts)
/// under it for the rest, and how often compiled code was entered. `None` when the
/// code cannot be compiled or mapped.
#[cfg(target_arch = "x86_64")]
pub fn run_native(v: hashvm_format::Verified<'_>, hot: u16, gc_stress: bool) -> Option<(Run, u64)> {
    let image = hashvm_jit::aot::compile(v).ok()?;
    let mut map = memmap2::MmapMut::map_anon(image.text.len().max(1)).ok()?;
    map[..image.text.len()].copy_from_slice(&image.text);
    let text = map.make_exec().ok()?;
    let (mut vm, sink) = fresh_vm(hot, gc_stress);
    let mut jit = hashvm_jit::Jit::new();
    let fields = image.fields.clone().with_min_fields(v.module());
    jit.fields = (!fields.is_empty()).then(|| std::rc::Rc::new(fields));
    // SAFETY: `text` is mapped executable and holds exactly what `aot::compile` made
    // for this verified program, with these entries; the VM runs that program.
    let hook = unsafe {
        hashvm_jit::aot::hook::AotHook::new(
            Box::new(text),
            image.entries.clone(),
            v.module().functions.len(),
            Some(Box::new(jit)),
        )
    }
    .ok()?;
    let stats = hook.stats.clone();
    vm.set_jit(Some(Box::new(hook)));
    let run = finish(vm, v, sink);
    let entries = stats.borrow().entries;
    Some((run, entries))
}

/// Generates a program from `data`, and if it assembles, verifies and compiles ahead
/// of time, runs it with the interpreter alone and natively ([`run_native`], at the
/// generated hotness and GC stress): `Err` describes a difference; `Ok(true)` when
/// compiled code was entered.
#[cfg(target_arch = "x86_64")]
pub fn check_native(data: &[u8]) -> Result<bool, String> {
    let g = generate(data);
    let m = hashvm_format::hasm::assemble(&g.source, "gen.hasm")
        .map_err(|e| format!("generated program does not assemble: {e:?}\n{}", g.source))?;
    let Ok(v) = hashvm_format::verify::verify(&m) else {
        return Ok(false);
    };
    let off = run(v, None, g.mode.gc_stress);
    let Some((on, entries)) = run_native(v, g.mode.hot, g.mode.gc_stress) else {
        return Ok(false);
    };
    if off != on {
        return Err(format!(
            "native code (hot {}, GC stress {}) differs from the interpreter\n--- program\n{}\n--- off\n{}{}\n--- native\n{}{}",
            g.mode.hot, g.mode.gc_stress, g.source, off.stdout, off.end, on.stdout, on.end
        ));
    }
    Ok(entries > 0)
}

/// Generates a program from `data`, and if it assembles and verifies, runs it with
/// the JIT off and on (at the generated hotness): `Err` describes a difference.
pub fn check(data: &[u8]) -> Result<(), String> {
    let g = generate(data);
    let m = match hashvm_format::hasm::assemble(&g.source, "gen.hasm") {
        Ok(m) => m,
        Err(e) => {
            return Err(format!(
                "generated program does not assemble: {e:?}\n{}",
                g.source
            ))
        }
    };
    let Ok(v) = hashvm_format::verify::verify(&m) else {
        return Ok(());
    };
    let off = run(v, None, g.mode.gc_stress);
    let on = run(v, Some(g.mode.hot), g.mode.gc_stress);
    if off != on {
        return Err(format!(
            "JIT (hot {}, GC stress {}) differs from the interpreter\n--- program\n{}\n--- off\n{}{}\n--- on\n{}{}",
            g.mode.hot, g.mode.gc_stress, g.source, off.stdout, off.end, on.stdout, on.end
        ));
    }
    Ok(())
}
