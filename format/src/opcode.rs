//! The instruction set: one declarative table from which the opcode enum, the byte
//! constants the interpreter dispatches on, the decoder, the encoder, the assembler's
//! mnemonic table and SPEC.md's opcode list are all derived.
//!
//! # Encoding
//!
//! An instruction is a one-byte opcode followed by its operands, little endian, with no
//! padding. Rare operations live behind one of two prefix bytes, `0xFE` (numeric
//! extension: conversions, float maths, big integers, rationals) and `0xFF` (system
//! extension: strings, characters, IO, lists), followed by a second opcode byte: the
//! "extended-opcode byte tree".
//!
//! ```text
//!   primary:   [op] [operand] [operand] ...
//!   extended:  [0xFE|0xFF] [op2] [operand] [operand] ...
//! ```
//!
//! Operand widths are fixed per kind (see [`OperandKind::width`]): frame slots are `u16`,
//! global, function and type indices `u32`, jumps `i32` relative to the first byte of the
//! instruction that holds them.

/// What one operand of an instruction denotes, which fixes its width and how the
/// verifier checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperandKind {
    /// A frame slot the instruction writes (`u16`).
    Dst,
    /// A frame slot the instruction reads (`u16`).
    Src,
    /// The first slot of a run of consecutive slots (`u16`); the run's length is the
    /// next `Count` operand.
    Base,
    /// A signed 32-bit immediate.
    Imm32,
    /// A character immediate: a 32-bit Unicode scalar value (verified), written as a
    /// char literal by the disassembler.
    Char,
    /// A signed 64-bit immediate.
    Imm64,
    /// An `f64` immediate, stored as its IEEE-754 bits.
    F64,
    /// An index into the global table (`u32`).
    Global,
    /// An index into the function table (`u32`).
    Func,
    /// A type id (`u32`): builtin ids below [`crate::FIRST_USER_TYPE`], else a type of
    /// the module's type table.
    Type,
    /// A constructor index within the preceding `Type` (`u16`).
    Tag,
    /// A count of slots or arguments (`u16`).
    Count,
    /// A field or capture index (`u16`).
    Index,
    /// A jump offset (`i32`), relative to the instruction's first byte.
    Jump,
    /// A jump table: `u16` count `n`, an `i32` default offset, then `n` `i32` offsets.
    Table,
    /// An index into the module's foreign-function table (`u32`, SYMB section).
    Foreign,
}

impl OperandKind {
    /// Encoded width in bytes; `None` for the variable-length jump table.
    pub const fn width(self) -> Option<usize> {
        match self {
            OperandKind::Dst
            | OperandKind::Src
            | OperandKind::Base
            | OperandKind::Tag
            | OperandKind::Count
            | OperandKind::Index => Some(2),
            OperandKind::Imm32
            | OperandKind::Char
            | OperandKind::Global
            | OperandKind::Func
            | OperandKind::Type
            | OperandKind::Foreign
            | OperandKind::Jump => Some(4),
            OperandKind::Imm64 | OperandKind::F64 => Some(8),
            OperandKind::Table => None,
        }
    }

    /// The name used for this kind in SPEC.md and error messages.
    pub const fn name(self) -> &'static str {
        match self {
            OperandKind::Dst => "dst",
            OperandKind::Src => "src",
            OperandKind::Base => "base",
            OperandKind::Imm32 => "i32",
            OperandKind::Char => "char",
            OperandKind::Imm64 => "i64",
            OperandKind::F64 => "f64",
            OperandKind::Global => "global",
            OperandKind::Func => "func",
            OperandKind::Type => "type",
            OperandKind::Tag => "tag",
            OperandKind::Count => "count",
            OperandKind::Index => "index",
            OperandKind::Jump => "jump",
            OperandKind::Table => "table",
            OperandKind::Foreign => "foreign",
        }
    }
}

/// Prefix byte of the numeric extension table.
pub const EXT_NUM: u8 = 0xFE;
/// Prefix byte of the system extension table.
pub const EXT_SYS: u8 = 0xFF;

macro_rules! define_ops {
    (
        primary { $( $pv:ident $pc:ident $pm:literal $pb:literal [$($pk:ident),*] $pd:literal; )* }
        ext_num { $( $nv:ident $nc:ident $nm:literal $nb:literal [$($nk:ident),*] $nd:literal; )* }
        ext_sys { $( $sv:ident $sc:ident $sm:literal $sb:literal [$($sk:ident),*] $sd:literal; )* }
    ) => {
        /// Every instruction of the machine. The discriminant is the encoding: the opcode
        /// byte for primary instructions, `prefix << 8 | byte` for extended ones.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Op {
            $( #[doc = $pd] $pv = $pb, )*
            $( #[doc = $nd] $nv = ((EXT_NUM as u16) << 8) | $nb, )*
            $( #[doc = $sd] $sv = ((EXT_SYS as u16) << 8) | $sb, )*
        }

        /// Primary opcode bytes, for comparisons against an opcode byte.
        pub mod prim {
            $( #[doc = $pd] pub const $pc: u8 = $pb; )*
        }

        /// The bytes that can start an instruction: every primary opcode, and the two
        /// extension prefixes. The interpreter dispatches on this enum rather than on
        /// the raw byte, so that its `match` has no default arm (the compiler checks it
        /// names every primary instruction, and LLVM needs no range check or fault
        /// path in the dispatch block).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Prim {
            $( #[doc = $pd] $pv = $pb, )*
            /// Prefix of the numeric extension table.
            ExtNum = EXT_NUM,
            /// Prefix of the system extension table.
            ExtSys = EXT_SYS,
        }

        impl Prim {
            /// The instruction-start byte `b` as a [`Prim`]; `None` for a byte that
            /// starts no instruction (the verifier rejects code holding one).
            pub const fn from_byte(b: u8) -> Option<Prim> {
                match b {
                    $( $pb => Some(Prim::$pv), )*
                    EXT_NUM => Some(Prim::ExtNum),
                    EXT_SYS => Some(Prim::ExtSys),
                    _ => None,
                }
            }
        }
        /// Second bytes of the numeric extension (`0xFE`) table.
        pub mod ext_num {
            $( #[doc = $nd] pub const $nc: u8 = $nb; )*
        }
        /// Second bytes of the system extension (`0xFF`) table.
        pub mod ext_sys {
            $( #[doc = $sd] pub const $sc: u8 = $sb; )*
        }

        impl Op {
            /// Every opcode, in table order (primary, then numeric, then system).
            pub const ALL: &'static [Op] = &[ $(Op::$pv,)* $(Op::$nv,)* $(Op::$sv,)* ];

            /// The assembler mnemonic.
            pub const fn mnemonic(self) -> &'static str {
                match self { $(Op::$pv => $pm,)* $(Op::$nv => $nm,)* $(Op::$sv => $sm,)* }
            }

            /// The operand kinds, in encoding order.
            pub const fn operands(self) -> &'static [OperandKind] {
                match self {
                    $(Op::$pv => &[$(OperandKind::$pk),*],)*
                    $(Op::$nv => &[$(OperandKind::$nk),*],)*
                    $(Op::$sv => &[$(OperandKind::$sk),*],)*
                }
            }

            /// The one-line semantics, as printed in SPEC.md.
            pub const fn doc(self) -> &'static str {
                match self { $(Op::$pv => $pd,)* $(Op::$nv => $nd,)* $(Op::$sv => $sd,)* }
            }
        }
    };
}

impl Op {
    /// Appends the opcode bytes (one, or a prefix and a second byte) to `out`.
    pub fn encode_opcode(self, out: &mut Vec<u8>) {
        let v = self as u16;
        if v >> PREFIX_SHIFT != 0 {
            out.push((v >> PREFIX_SHIFT) as u8);
        }
        out.push(v as u8);
    }

    /// Number of opcode bytes: 1 for primary instructions, 2 for extended ones.
    pub const fn opcode_len(self) -> usize {
        if (self as u16) >> PREFIX_SHIFT != 0 {
            2
        } else {
            1
        }
    }

    /// Byte offset of operand `i` from the instruction's first byte. Every operand
    /// before `i` has a fixed width (the jump table, when there is one, comes last).
    /// The interpreter evaluates this at compile time for each operand it reads, so
    /// offsets are never written by hand.
    pub const fn operand_offset(self, i: usize) -> usize {
        let ops = self.operands();
        let mut off = self.opcode_len();
        let mut j = 0;
        while j < i {
            off += match ops[j].width() {
                Some(w) => w,
                None => panic!("an operand follows the jump table"),
            };
            j += 1;
        }
        off
    }

    /// [`Op::operand_offset`] of operand `i`, checked to be `width` bytes wide: a
    /// reader that uses the wrong width fails to compile when this is evaluated in a
    /// `const` block.
    pub const fn operand_at(self, i: usize, width: usize) -> usize {
        let ops = self.operands();
        assert!(i < ops.len(), "no such operand");
        match ops[i].width() {
            Some(w) if w == width => self.operand_offset(i),
            _ => panic!("operand read with the wrong width"),
        }
    }

    /// The encoded length of an instruction without a jump table; `None` for the
    /// table instructions, whose length depends on their case count.
    pub const fn fixed_len(self) -> Option<usize> {
        let ops = self.operands();
        let mut n = self.opcode_len();
        let mut j = 0;
        while j < ops.len() {
            match ops[j].width() {
                Some(w) => n += w,
                None => return None,
            }
            j += 1;
        }
        Some(n)
    }

    /// The encoded length of an instruction without a jump table (a compile-time error
    /// in `const` context for a table instruction).
    pub const fn encoded_len(self) -> usize {
        match self.fixed_len() {
            Some(n) => n,
            None => panic!("a jump-table instruction has no fixed length"),
        }
    }

    /// Whether `self` and `other` have the same operand layout, so that one handler can
    /// decode both.
    pub const fn same_layout(self, other: Op) -> bool {
        let (a, b) = (self.operands(), other.operands());
        if a.len() != b.len() || self.opcode_len() != other.opcode_len() {
            return false;
        }
        let mut j = 0;
        while j < a.len() {
            if a[j] as u8 != b[j] as u8 {
                return false;
            }
            j += 1;
        }
        true
    }

    /// Looks an opcode up by mnemonic (the assembler's entry point).
    pub fn from_mnemonic(m: &str) -> Option<Op> {
        static MAP: std::sync::OnceLock<std::collections::HashMap<&'static str, Op>> =
            std::sync::OnceLock::new();
        MAP.get_or_init(|| Op::ALL.iter().map(|o| (o.mnemonic(), *o)).collect())
            .get(m)
            .copied()
    }

    /// Decodes the opcode at the start of `code`, returning it and the number of opcode
    /// bytes (1 or 2). `None` when the bytes name no instruction.
    pub fn decode(code: &[u8]) -> Option<(Op, usize)> {
        static TABLES: std::sync::OnceLock<[[Option<Op>; 256]; 3]> = std::sync::OnceLock::new();
        let t = TABLES.get_or_init(|| {
            let mut t = [[None; 256]; 3];
            for &o in Op::ALL {
                let v = o as u16;
                let (which, b) = match (v >> 8) as u8 {
                    0 => (0, v as u8),
                    EXT_NUM => (1, v as u8),
                    _ => (2, v as u8),
                };
                t[which][b as usize] = Some(o);
            }
            t
        });
        let first = *code.first()?;
        match first {
            EXT_NUM => Some((t[1][*code.get(1)? as usize]?, 2)),
            EXT_SYS => Some((t[2][*code.get(1)? as usize]?, 2)),
            b => Some((t[0][b as usize]?, 1)),
        }
    }

    /// The instruction a fused one is when read on its own, for readers that run it
    /// together with the instruction after it (the tracing recorder, the native
    /// compiler): `con.ret` is `con`, `add.i64.ret` is `add.i64`, `loadg.ret` is
    /// `loadg` (the `ret` of their result follows them in the code), `jntag.reti` is
    /// `jntag` (the `reti` it falls through to follows it), `field.callk` is `field`
    /// and `subi.i64.callk` is `subi.i64` (a `callk` follows them). Any other
    /// instruction is itself. Such a superinstruction keeps the pair's second half in
    /// the code, so it needs no other handling outside the interpreter and the
    /// verifier.
    pub const fn unfused(self) -> Op {
        let mut k = 0;
        while k < FUSED.len() {
            if FUSED[k].0 as u16 == self as u16 {
                return FUSED[k].1;
            }
            k += 1;
        }
        self
    }

    /// The superinstruction that runs `self` and the instruction after it, if there
    /// is one (the inverse of [`Op::unfused`]), with the instruction it needs after
    /// it ([`Op::fused_next`]).
    pub fn with_next(self) -> Option<(Op, Op)> {
        FUSED.iter().find(|p| p.1 == self).map(|p| (p.0, p.2))
    }

    /// The instruction a fused one must be followed by (verified): `ret` of its
    /// operand 0 (`con.ret`, `add.i64.ret`, `loadg.ret`), a `reti` (`jntag.reti`)
    /// or a `callk` (`field.callk`, `subi.i64.callk`). `None` for an instruction that
    /// is not fused.
    pub fn fused_next(self) -> Option<Op> {
        FUSED.iter().find(|p| p.0 == self).map(|p| p.2)
    }

    /// Whether the instruction clobbers every slot from its window's `base` up (except
    /// its destination): the non-tail calls `call`, `callk` and `callself`, whose
    /// callee's frame starts at the window (SPEC.md §4.2), so those slots hold whatever
    /// the callee, or a JIT's or native code's version of it, left there. The other
    /// instructions with a `base` window copy it and clobber nothing (`closure`, `con`,
    /// `con.ret`, `tuple`, `alit`, `ffi.call`), and the tail calls replace the frame.
    /// The verifier rejects a read of a clobbered slot before it is written (SPEC.md §8).
    pub fn clobbers_window(self) -> bool {
        matches!(self, Op::Call | Op::CallK | Op::CallSelf)
    }

    /// Whether control never continues to the next instruction.
    pub fn is_terminator(self) -> bool {
        matches!(
            self,
            Op::Jmp
                | Op::Loop
                | Op::Ret
                | Op::RetU
                | Op::RetI
                | Op::TCall
                | Op::TCallK
                | Op::TCallSelf
                | Op::Panic
                | Op::MatchFail
                | Op::Switch
                | Op::SwitchI
                | Op::Exit
        )
    }
}

/// The superinstructions for "an instruction, then a return" or "an instruction,
/// then a known call": (fused, the first half, the instruction that must follow it).
/// The fused one has the first half's operands and must be followed by that
/// instruction (the verifier checks): `ret` of its operand 0 (the instruction's
/// result), for `jntag.reti` the `reti` its fall-through runs (any constant), for
/// `field.callk` and `subi.i64.callk` a `callk` (any operands: the pair runs as the
/// two instructions would, one after the other). The interpreter runs both in one
/// dispatch (for `jntag.reti`, when the test does not jump), and every other reader
/// runs the pair as it stands ([`Op::unfused`]). hashc marks each such pair it emits
/// ([`Op::with_next`]).
const FUSED: [(Op, Op, Op); 6] = [
    (Op::ConRet, Op::Con, Op::Ret),
    (Op::AddI64Ret, Op::AddI64, Op::Ret),
    (Op::LoadGRet, Op::LoadG, Op::Ret),
    (Op::JNTagRetI, Op::JNTag, Op::RetI),
    (Op::FieldCallK, Op::Field, Op::CallK),
    (Op::SubIImmCallK, Op::SubIImm, Op::CallK),
];

define_ops! {
primary {
    Nop NOP "nop" 0x00 [] "Does nothing.";
    Mov MOV "mov" 0x01 [Dst, Src] "d := s.";
    LoadI LOADI "loadi" 0x02 [Dst, Imm32] "d := the i64 sign-extended from imm.";
    LoadI64 LOADI64 "loadi64" 0x03 [Dst, Imm64] "d := the i64 imm.";
    LoadU64 LOADU64 "loadu64" 0x04 [Dst, Imm64] "d := the u64 with imm's bits.";
    LoadF LOADF "loadf" 0x05 [Dst, F64] "d := the f64 imm.";
    LoadUnit LOADUNIT "loadunit" 0x06 [Dst] "d := ().";
    LoadTrue LOADTRUE "loadtrue" 0x07 [Dst] "d := true.";
    LoadFalse LOADFALSE "loadfalse" 0x08 [Dst] "d := false.";
    LoadChar LOADCHAR "loadchar" 0x09 [Dst, Char] "d := the char with code point imm (verified to be a Unicode scalar).";
    LoadG LOADG "loadg" 0x0A [Dst, Global] "d := global g.";
    StoreG STOREG "storeg" 0x0B [Global, Src] "global g := s.";
    LoadFn LOADFN "loadfn" 0x0C [Dst, Func] "d := function f as a value (f must capture nothing).";
    LoadNil LOADNIL "loadnil" 0x0D [Dst] "d := the empty list.";
    LoadGRet LOADG_RET "loadg.ret" 0x0E [Dst, Global] "`loadg` (same operands), then return d: the next instruction must be `ret d` (verified), which the interpreter does in the same dispatch; any other reader may run the pair as `loadg; ret d` (`Op::unfused`).";
    JNTagRetI JNTAG_RETI "jntag.reti" 0x0F [Src, Tag, Jump] "`jntag` (same operands); the next instruction must be a `reti` (verified), which the interpreter runs in the same dispatch when the test does not jump; any other reader may run the pair as `jntag; reti` (`Op::unfused`).";

    Jmp JMP "jmp" 0x10 [Jump] "Jump forward or backward (not counted as a loop back-edge).";
    Jt JT "jt" 0x11 [Src, Jump] "Jump if the bool s is true. Faults on a non-bool.";
    Jf JF "jf" 0x12 [Src, Jump] "Jump if the bool s is false. Faults on a non-bool.";
    Loop LOOP "loop" 0x13 [Jump] "Loop back-edge: counts toward hotness, then jumps.";
    Switch SWITCH "switch" 0x14 [Src, Table] "Jump by the constructor index of s (a sum value, list or tuple); an index past the table takes the default.";
    SwitchI SWITCHI "switchi" 0x15 [Src, Imm32, Table] "Jump by the i64 s minus imm; out of range takes the default.";
    JNTag JNTAG "jntag" 0x16 [Src, Tag, Jump] "Jump if the constructor index of s differs from tag.";
    JNil JNIL "jnil" 0x17 [Src, Jump] "Jump if the list s is empty. Faults on a non-list.";
    JCons JCONS "jcons" 0x18 [Src, Jump] "Jump if the list s is non-empty. Faults on a non-list.";
    Ret RET "ret" 0x19 [Src] "Return s to the caller.";
    RetU RETU "retu" 0x1A [] "Return () to the caller.";
    Panic PANIC "panic" 0x1B [Src] "Runtime error with the str s as message.";
    MatchFail MATCHFAIL "matchfail" 0x1C [] "Runtime error: no pattern matched.";
    JEq JEQ "jeq" 0x1D [Src, Src, Jump] "Jump if a and b are structurally equal.";
    JNe JNE "jne" 0x1E [Src, Src, Jump] "Jump if a and b are not structurally equal.";
    RetI RETI "reti" 0x1F [Imm32] "Return the i64 sign-extended from imm to the caller (`loadi r, imm; ret r` without writing r).";

    Call CALL "call" 0x20 [Dst, Src, Base, Count] "d := apply the function value f to the n slots from base (exact, partial or over-application). Slots from base up are clobbered.";
    CallK CALLK "callk" 0x21 [Dst, Func, Base, Count] "d := call the known function F, whose arity must be n, with the n slots from base.";
    CallSelf CALLSELF "callself" 0x22 [Dst, Base, Count] "d := call the running closure again with the n slots from base (n = its arity).";
    TCall TCALL "tcall" 0x23 [Src, Base, Count] "Tail-apply f to the n slots from base: the caller's frame is reused.";
    TCallK TCALLK "tcallk" 0x24 [Func, Base, Count] "Tail-call the known function F (arity n).";
    TCallSelf TCALLSELF "tcallself" 0x25 [Base, Count] "Tail-call the running closure (arity n): move the arguments down and restart.";
    Closure CLOSURE "closure" 0x26 [Dst, Func, Base, Count] "d := a closure of F capturing the n slots from base (n = F's capture count).";
    GetEnv GETENV "getenv" 0x27 [Dst, Index] "d := capture i of the running closure.";
    SetEnv SETENV "setenv" 0x28 [Index, Src] "Capture i of the running closure := s (for recursive closures that capture themselves).";
    LoadSelf LOADSELF "loadself" 0x29 [Dst] "d := the running closure itself (a local recursive function referring to itself as a value).";
    FfiCall FFI_CALL "ffi.call" 0x2A [Dst, Foreign, Base, Count] "d := the result of calling the C function F (SYMB section, resolved at load time) with the n slots from base converted to its parameter types (n = its parameter count); a value of the wrong kind, a str holding NUL or a NULL str result faults.";
    FieldCallK FIELD_CALLK "field.callk" 0x2B [Dst, Src, Index] "`field` (same operands); the next instruction must be a `callk` (verified), which the interpreter runs in the same dispatch; any other reader may run the pair as `field; callk` (`Op::unfused`).";
    SubIImmCallK SUBI_I64_CALLK "subi.i64.callk" 0x2C [Dst, Src, Imm32] "`subi.i64` (same operands); the next instruction must be a `callk` (verified), which the interpreter runs in the same dispatch; any other reader may run the pair as `subi.i64; callk` (`Op::unfused`).";

    Con CON "con" 0x30 [Dst, Type, Tag, Base, Count] "d := constructor tag of type T with the n slots from base as fields (n = its arity).";
    Tuple TUPLE "tuple" 0x31 [Dst, Base, Count] "d := a tuple of the n slots from base.";
    Field FIELD "field" 0x32 [Dst, Src, Index] "d := field i of the tuple, struct, sum value or cons cell s.";
    SetField SETFIELD "setfield" 0x33 [Src, Index, Src] "Field i of s := v.";
    GetTag GETTAG "gettag" 0x34 [Dst, Src] "d := the constructor index of s as an i64.";
    Cons CONS "cons" 0x35 [Dst, Src, Src] "d := a cons cell with head h and tail t (t must be a list).";
    Head HEAD "head" 0x36 [Dst, Src] "d := the head of the non-empty list s.";
    Tail TAIL "tail" 0x37 [Dst, Src] "d := the tail of the non-empty list s.";
    ANew ANEW "anew" 0x38 [Dst, Src, Src] "d := a new array of n (i64) copies of v. Negative n faults.";
    AGet AGET "aget" 0x39 [Dst, Src, Src] "d := element i of the array a; i out of range faults.";
    ASet ASET "aset" 0x3A [Src, Src, Src] "Element i of the array a := v; i out of range faults.";
    ALen ALEN "alen" 0x3B [Dst, Src] "d := the length of the array a, as i64.";
    ALit ALIT "alit" 0x3C [Dst, Base, Count] "d := a new array of the n slots from base.";
    RefNew REFNEW "refnew" 0x3D [Dst, Src] "d := a new mutable cell holding s.";
    RefGet REFGET "refget" 0x3E [Dst, Src] "d := the contents of the cell r.";
    RefSet REFSET "refset" 0x3F [Src, Src] "The cell r := v.";
    Delay DELAY "delay" 0x40 [Dst, Src] "d := a thunk that will call the 0-argument function s once, when first forced.";
    Force FORCE "force" 0x41 [Dst, Src] "d := the value of thunk s, computing and memoising it on first use; a non-thunk is returned as is.";
    Eq EQ "eq" 0x42 [Dst, Src, Src] "d := a == b, structurally (functions fault).";
    Ne NE "ne" 0x43 [Dst, Src, Src] "d := a != b, structurally.";
    Lt LT "lt" 0x44 [Dst, Src, Src] "d := a < b in the structural order.";
    Le LE "le" 0x45 [Dst, Src, Src] "d := a <= b in the structural order.";
    Cmp CMP "cmp" 0x46 [Dst, Src, Src] "d := -1, 0 or 1 (i64) comparing a and b structurally.";
    Not NOT "not" 0x47 [Dst, Src] "d := the negation of the bool s.";
    ToStr TOSTR "tostr" 0x48 [Dst, Src] "d := the printed form of any value (strings and chars unquoted at top level).";
    SCat SCAT "scat" 0x49 [Dst, Src, Src] "d := the concatenation of the strs a and b.";
    Print PRINT "print" 0x4A [Src] "Write the str s to standard output (buffered).";
    JEqChar JEQCHAR "jeq.char" 0x4B [Src, Char, Jump] "Jump if the char s has code point imm (s must be a char: anything else faults).";
    JNeChar JNECHAR "jne.char" 0x4C [Src, Char, Jump] "Jump if the char s does not have code point imm (s must be a char: anything else faults).";
    KindOf KINDOF "kindof" 0x4D [Dst, Src] "d := the kind code of s as an i64 (§3.2: 0 unit, 1 bool, 2 i64, 3 u64, 4 f64, 5 char, 6 str, 7 bytes, 8 ibig, 9 ratio, 10 array, 11 ref, 12 thunk, 13 function, 14 ptr; a constructor value of type T gives 16 + T). Never faults.";
    Field2 FIELD2 "field2" 0x4E [Dst, Src, Index, Index] "d := field j of field i of s (s.i.j: `field t, s, i; field d, t, j` without writing any t); faults as the first of those two would.";
    ConRet CONRET "con.ret" 0x4F [Dst, Type, Tag, Base, Count] "`con` (same operands), then return d: the next instruction must be `ret d` (verified), which the interpreter does in the same dispatch; any other reader may run the pair as `con; ret d` (`Op::unfused`).";

    AddI64 ADD_I64 "add.i64" 0x50 [Dst, Src, Src] "d := a + b, wrapping.";
    SubI64 SUB_I64 "sub.i64" 0x51 [Dst, Src, Src] "d := a - b, wrapping.";
    MulI64 MUL_I64 "mul.i64" 0x52 [Dst, Src, Src] "d := a * b, wrapping.";
    DivI64 DIV_I64 "div.i64" 0x53 [Dst, Src, Src] "d := a / b truncated toward zero; b = 0 faults; MIN / -1 wraps.";
    RemI64 REM_I64 "rem.i64" 0x54 [Dst, Src, Src] "d := a % b with the sign of a; b = 0 faults.";
    NegI64 NEG_I64 "neg.i64" 0x55 [Dst, Src] "d := -s, wrapping.";
    AndI64 AND_I64 "and.i64" 0x56 [Dst, Src, Src] "d := a & b.";
    OrI64 OR_I64 "or.i64" 0x57 [Dst, Src, Src] "d := a | b.";
    XorI64 XOR_I64 "xor.i64" 0x58 [Dst, Src, Src] "d := a ^ b.";
    ShlI64 SHL_I64 "shl.i64" 0x59 [Dst, Src, Src] "d := a << (b mod 64).";
    ShrI64 SHR_I64 "shr.i64" 0x5A [Dst, Src, Src] "d := a >> (b mod 64), arithmetic.";
    BNotI64 BNOT_I64 "bnot.i64" 0x5B [Dst, Src] "d := !s (bitwise).";
    AddIImm ADDI_I64 "addi.i64" 0x5C [Dst, Src, Imm32] "d := a + imm, wrapping.";
    EqI64 EQ_I64 "eq.i64" 0x5D [Dst, Src, Src] "d := a == b.";
    NeI64 NE_I64 "ne.i64" 0x5E [Dst, Src, Src] "d := a != b.";
    LtI64 LT_I64 "lt.i64" 0x5F [Dst, Src, Src] "d := a < b.";
    LeI64 LE_I64 "le.i64" 0x60 [Dst, Src, Src] "d := a <= b.";
    JLtI64 JLT_I64 "jlt.i64" 0x61 [Src, Src, Jump] "Jump if a < b.";
    JLeI64 JLE_I64 "jle.i64" 0x62 [Src, Src, Jump] "Jump if a <= b.";
    JGtI64 JGT_I64 "jgt.i64" 0x63 [Src, Src, Jump] "Jump if a > b.";
    JGeI64 JGE_I64 "jge.i64" 0x64 [Src, Src, Jump] "Jump if a >= b.";
    JEqI64 JEQ_I64 "jeq.i64" 0x65 [Src, Src, Jump] "Jump if a == b.";
    JNeI64 JNE_I64 "jne.i64" 0x66 [Src, Src, Jump] "Jump if a != b.";
    JLtIImm JLTI_I64 "jlti.i64" 0x67 [Src, Imm32, Jump] "Jump if a < imm.";
    JLeIImm JLEI_I64 "jlei.i64" 0x68 [Src, Imm32, Jump] "Jump if a <= imm.";
    JGtIImm JGTI_I64 "jgti.i64" 0x69 [Src, Imm32, Jump] "Jump if a > imm.";
    JGeIImm JGEI_I64 "jgei.i64" 0x6A [Src, Imm32, Jump] "Jump if a >= imm.";
    JEqIImm JEQI_I64 "jeqi.i64" 0x6B [Src, Imm32, Jump] "Jump if a == imm.";
    JNeIImm JNEI_I64 "jnei.i64" 0x6C [Src, Imm32, Jump] "Jump if a != imm.";
    SubIImm SUBI_I64 "subi.i64" 0x6D [Dst, Src, Imm32] "d := a - imm, wrapping.";
    MulIImm MULI_I64 "muli.i64" 0x6E [Dst, Src, Imm32] "d := a * imm, wrapping.";
    AddI64Ret ADD_I64_RET "add.i64.ret" 0x6F [Dst, Src, Src] "`add.i64` (same operands), then return d: the next instruction must be `ret d` (verified), which the interpreter does in the same dispatch; any other reader may run the pair as `add.i64; ret d` (`Op::unfused`).";

    AddU64 ADD_U64 "add.u64" 0x70 [Dst, Src, Src] "d := a + b, wrapping.";
    SubU64 SUB_U64 "sub.u64" 0x71 [Dst, Src, Src] "d := a - b, wrapping.";
    MulU64 MUL_U64 "mul.u64" 0x72 [Dst, Src, Src] "d := a * b, wrapping.";
    DivU64 DIV_U64 "div.u64" 0x73 [Dst, Src, Src] "d := a / b; b = 0 faults.";
    RemU64 REM_U64 "rem.u64" 0x74 [Dst, Src, Src] "d := a % b; b = 0 faults.";
    NegU64 NEG_U64 "neg.u64" 0x75 [Dst, Src] "d := 0 - s, wrapping.";
    AndU64 AND_U64 "and.u64" 0x76 [Dst, Src, Src] "d := a & b.";
    OrU64 OR_U64 "or.u64" 0x77 [Dst, Src, Src] "d := a | b.";
    XorU64 XOR_U64 "xor.u64" 0x78 [Dst, Src, Src] "d := a ^ b.";
    ShlU64 SHL_U64 "shl.u64" 0x79 [Dst, Src, Src] "d := a << (b mod 64).";
    ShrU64 SHR_U64 "shr.u64" 0x7A [Dst, Src, Src] "d := a >> (b mod 64), logical.";
    BNotU64 BNOT_U64 "bnot.u64" 0x7B [Dst, Src] "d := !s (bitwise).";
    EqU64 EQ_U64 "eq.u64" 0x7C [Dst, Src, Src] "d := a == b.";
    NeU64 NE_U64 "ne.u64" 0x7D [Dst, Src, Src] "d := a != b.";
    LtU64 LT_U64 "lt.u64" 0x7E [Dst, Src, Src] "d := a < b.";
    LeU64 LE_U64 "le.u64" 0x7F [Dst, Src, Src] "d := a <= b.";
    JLtU64 JLT_U64 "jlt.u64" 0x80 [Src, Src, Jump] "Jump if a < b.";
    JLeU64 JLE_U64 "jle.u64" 0x81 [Src, Src, Jump] "Jump if a <= b.";
    JGtU64 JGT_U64 "jgt.u64" 0x82 [Src, Src, Jump] "Jump if a > b.";
    JGeU64 JGE_U64 "jge.u64" 0x83 [Src, Src, Jump] "Jump if a >= b.";

    AddF64 ADD_F64 "add.f64" 0x88 [Dst, Src, Src] "d := a + b.";
    SubF64 SUB_F64 "sub.f64" 0x89 [Dst, Src, Src] "d := a - b.";
    MulF64 MUL_F64 "mul.f64" 0x8A [Dst, Src, Src] "d := a * b.";
    DivF64 DIV_F64 "div.f64" 0x8B [Dst, Src, Src] "d := a / b (IEEE: no fault).";
    RemF64 REM_F64 "rem.f64" 0x8C [Dst, Src, Src] "d := the remainder of truncated division (as Rust's %).";
    NegF64 NEG_F64 "neg.f64" 0x8D [Dst, Src] "d := -s.";
    EqF64 EQ_F64 "eq.f64" 0x8E [Dst, Src, Src] "d := a == b (IEEE).";
    NeF64 NE_F64 "ne.f64" 0x8F [Dst, Src, Src] "d := a != b (IEEE).";
    LtF64 LT_F64 "lt.f64" 0x90 [Dst, Src, Src] "d := a < b (IEEE).";
    LeF64 LE_F64 "le.f64" 0x91 [Dst, Src, Src] "d := a <= b (IEEE).";
    JLtF64 JLT_F64 "jlt.f64" 0x92 [Src, Src, Jump] "Jump if a < b.";
    JLeF64 JLE_F64 "jle.f64" 0x93 [Src, Src, Jump] "Jump if a <= b.";
    JNLtF64 JNLT_F64 "jnlt.f64" 0x94 [Src, Src, Jump] "Jump unless a < b (taken when either is NaN).";
    JNLeF64 JNLE_F64 "jnle.f64" 0x95 [Src, Src, Jump] "Jump unless a <= b (taken when either is NaN).";
    JEqF64 JEQ_F64 "jeq.f64" 0x96 [Src, Src, Jump] "Jump if a == b (IEEE).";
    JNeF64 JNE_F64 "jne.f64" 0x97 [Src, Src, Jump] "Jump if a != b (IEEE).";
    AddKF64 ADDK_F64 "addk.f64" 0x98 [Dst, Src, F64] "d := a + k for the f64 immediate k.";
    SubKF64 SUBK_F64 "subk.f64" 0x99 [Dst, Src, F64] "d := a - k.";
    MulKF64 MULK_F64 "mulk.f64" 0x9A [Dst, Src, F64] "d := a * k.";
    DivKF64 DIVK_F64 "divk.f64" 0x9B [Dst, Src, F64] "d := a / k.";
    RSubKF64 RSUBK_F64 "rsubk.f64" 0x9C [Dst, Src, F64] "d := k - a.";
    RDivKF64 RDIVK_F64 "rdivk.f64" 0x9D [Dst, Src, F64] "d := k / a.";
}
ext_num {
    I64ToF64 I64_TO_F64 "i64.to_f64" 0x01 [Dst, Src] "d := s as the nearest f64.";
    F64ToI64 F64_TO_I64 "f64.to_i64" 0x02 [Dst, Src] "d := s truncated toward zero, saturating; NaN gives 0.";
    I64ToU64 I64_TO_U64 "i64.to_u64" 0x03 [Dst, Src] "d := the u64 with the same bits.";
    U64ToI64 U64_TO_I64 "u64.to_i64" 0x04 [Dst, Src] "d := the i64 with the same bits.";
    U64ToF64 U64_TO_F64 "u64.to_f64" 0x05 [Dst, Src] "d := s as the nearest f64.";
    F64ToU64 F64_TO_U64 "f64.to_u64" 0x06 [Dst, Src] "d := s truncated, saturating; NaN gives 0.";
    I64ToBig I64_TO_BIG "i64.to_ibig" 0x07 [Dst, Src] "d := s as an ibig.";
    U64ToBig U64_TO_BIG "u64.to_ibig" 0x08 [Dst, Src] "d := s as an ibig.";
    BigToI64 BIG_TO_I64 "ibig.to_i64" 0x09 [Dst, Src] "d := Some(s as i64) if it fits, else None.";
    BigToF64 BIG_TO_F64 "ibig.to_f64" 0x0A [Dst, Src] "d := s as the nearest f64.";
    CharToI64 CHAR_TO_I64 "char.to_i64" 0x0B [Dst, Src] "d := the code point of s.";
    I64ToChar I64_TO_CHAR "i64.to_char" 0x0C [Dst, Src] "d := Some(char) if s is a Unicode scalar value, else None.";
    F64ToBig F64_TO_BIG "f64.to_ibig" 0x0D [Dst, Src] "d := s truncated to an ibig; NaN or infinite faults.";
    BigToU64 BIG_TO_U64 "ibig.to_u64" 0x0E [Dst, Src] "d := Some(s as u64) if it fits, else None.";

    Sqrt F64_SQRT "f64.sqrt" 0x10 [Dst, Src] "d := sqrt(s).";
    Exp F64_EXP "f64.exp" 0x11 [Dst, Src] "d := e^s.";
    Log F64_LOG "f64.log" 0x12 [Dst, Src] "d := ln(s).";
    Sin F64_SIN "f64.sin" 0x13 [Dst, Src] "d := sin(s).";
    Cos F64_COS "f64.cos" 0x14 [Dst, Src] "d := cos(s).";
    Tan F64_TAN "f64.tan" 0x15 [Dst, Src] "d := tan(s).";
    Asin F64_ASIN "f64.asin" 0x16 [Dst, Src] "d := asin(s).";
    Acos F64_ACOS "f64.acos" 0x17 [Dst, Src] "d := acos(s).";
    Atan F64_ATAN "f64.atan" 0x18 [Dst, Src] "d := atan(s).";
    Atan2 F64_ATAN2 "f64.atan2" 0x19 [Dst, Src, Src] "d := atan2(a, b).";
    PowF64 F64_POW "f64.pow" 0x1A [Dst, Src, Src] "d := a^b.";
    Floor F64_FLOOR "f64.floor" 0x1B [Dst, Src] "d := floor(s).";
    Ceil F64_CEIL "f64.ceil" 0x1C [Dst, Src] "d := ceil(s).";
    Round F64_ROUND "f64.round" 0x1D [Dst, Src] "d := s rounded half away from zero.";
    AbsF64 F64_ABS "f64.abs" 0x1E [Dst, Src] "d := |s|.";
    IsNan F64_ISNAN "f64.is_nan" 0x1F [Dst, Src] "d := whether s is NaN.";
    FmtF64 F64_FMT "f64.fmt" 0x20 [Dst, Src, Src] "d := x in fixed point with n (i64, 0..=1000) digits after the point, like C's %.Nf (`nan`, `inf`, `-inf` for the special values).";
    PowI64 I64_POW "i64.pow" 0x21 [Dst, Src, Src] "d := a^b wrapping; a negative exponent faults.";
    Trunc F64_TRUNC "f64.trunc" 0x22 [Dst, Src] "d := s truncated toward zero, as an f64.";

    AddBig BIG_ADD "add.ibig" 0x30 [Dst, Src, Src] "d := a + b.";
    SubBig BIG_SUB "sub.ibig" 0x31 [Dst, Src, Src] "d := a - b.";
    MulBig BIG_MUL "mul.ibig" 0x32 [Dst, Src, Src] "d := a * b.";
    DivBig BIG_DIV "div.ibig" 0x33 [Dst, Src, Src] "d := a / b truncated; b = 0 faults.";
    RemBig BIG_REM "rem.ibig" 0x34 [Dst, Src, Src] "d := a % b with the sign of a; b = 0 faults.";
    NegBig BIG_NEG "neg.ibig" 0x35 [Dst, Src] "d := -s.";
    EqBig BIG_EQ "eq.ibig" 0x36 [Dst, Src, Src] "d := a == b.";
    LtBig BIG_LT "lt.ibig" 0x37 [Dst, Src, Src] "d := a < b.";
    LeBig BIG_LE "le.ibig" 0x38 [Dst, Src, Src] "d := a <= b.";
    PowBig BIG_POW "pow.ibig" 0x39 [Dst, Src, Src] "d := a^e for the i64 e >= 0 (a negative e faults).";
    GcdBig BIG_GCD "gcd.ibig" 0x3A [Dst, Src, Src] "d := gcd(a, b), non-negative.";
    AbsBig BIG_ABS "abs.ibig" 0x3B [Dst, Src] "d := |s|.";
    IsqrtBig BIG_ISQRT "isqrt.ibig" 0x3C [Dst, Src] "d := floor(sqrt(s)); negative s faults.";
    DivModBig BIG_DIVMOD "divmod.ibig" 0x3D [Dst, Src, Src] "d := the tuple (a / b, a % b), truncating; b = 0 faults.";
    NeBig BIG_NE "ne.ibig" 0x3E [Dst, Src, Src] "d := a != b.";
    AndBig BIG_AND "and.ibig" 0x3F [Dst, Src, Src] "d := a & b (two's complement).";
    OrBig BIG_OR "or.ibig" 0x40 [Dst, Src, Src] "d := a | b.";
    XorBig BIG_XOR "xor.ibig" 0x41 [Dst, Src, Src] "d := a ^ b.";
    ShlBig BIG_SHL "shl.ibig" 0x42 [Dst, Src, Src] "d := a << n for the i64 n >= 0.";
    ShrBig BIG_SHR "shr.ibig" 0x43 [Dst, Src, Src] "d := a >> n (floor) for the i64 n >= 0.";

    NewRat RAT_NEW "ratio.new" 0x50 [Dst, Src, Src] "d := n/d in lowest terms from two ibigs; d = 0 faults.";
    AddRat RAT_ADD "add.ratio" 0x51 [Dst, Src, Src] "d := a + b.";
    SubRat RAT_SUB "sub.ratio" 0x52 [Dst, Src, Src] "d := a - b.";
    MulRat RAT_MUL "mul.ratio" 0x53 [Dst, Src, Src] "d := a * b.";
    DivRat RAT_DIV "div.ratio" 0x54 [Dst, Src, Src] "d := a / b; b = 0 faults.";
    NegRat RAT_NEG "neg.ratio" 0x55 [Dst, Src] "d := -s.";
    EqRat RAT_EQ "eq.ratio" 0x56 [Dst, Src, Src] "d := a == b.";
    LtRat RAT_LT "lt.ratio" 0x57 [Dst, Src, Src] "d := a < b.";
    LeRat RAT_LE "le.ratio" 0x58 [Dst, Src, Src] "d := a <= b.";
    NumRat RAT_NUM "ratio.num" 0x59 [Dst, Src] "d := the numerator (ibig).";
    DenRat RAT_DEN "ratio.den" 0x5A [Dst, Src] "d := the denominator (ibig, positive).";
    RatToF64 RAT_TO_F64 "ratio.to_f64" 0x5B [Dst, Src] "d := s as the nearest f64.";
    RemRat RAT_REM "rem.ratio" 0x5C [Dst, Src, Src] "d := a - b * trunc(a / b); b = 0 faults.";
    NeRat RAT_NE "ne.ratio" 0x5D [Dst, Src, Src] "d := a != b.";
}
ext_sys {
    StrLen STR_LEN "str.len" 0x01 [Dst, Src] "d := the length of s in bytes.";
    StrCharCount STR_CHAR_COUNT "str.char_count" 0x02 [Dst, Src] "d := the number of chars of s.";
    StrByte STR_BYTE "str.byte" 0x03 [Dst, Src, Src] "d := byte i of s as an i64; out of range faults.";
    StrSlice STR_SLICE "str.slice" 0x04 [Dst, Src, Src, Src] "d := bytes start..end of s; bad bounds or a split char fault.";
    StrChars STR_CHARS "str.chars" 0x05 [Dst, Src] "d := the list of the chars of s.";
    StrFromChars STR_FROM_CHARS "str.from_chars" 0x06 [Dst, Src] "d := the str of the list of chars s.";
    StrFromChar STR_FROM_CHAR "str.from_char" 0x07 [Dst, Src] "d := the one-char str of s.";
    StrFind STR_FIND "str.find" 0x08 [Dst, Src, Src] "d := Some(byte offset) of the first p in s, or None.";
    StrContains STR_CONTAINS "str.contains" 0x09 [Dst, Src, Src] "d := whether p occurs in s.";
    StrStartsWith STR_STARTS_WITH "str.starts_with" 0x0A [Dst, Src, Src] "d := whether s starts with p.";
    StrEndsWith STR_ENDS_WITH "str.ends_with" 0x0B [Dst, Src, Src] "d := whether s ends with p.";
    StrReplace STR_REPLACE "str.replace" 0x0C [Dst, Src, Src, Src] "d := s with every from replaced by to.";
    StrSplit STR_SPLIT "str.split" 0x0D [Dst, Src, Src] "d := the list of pieces of s between seps (as Rust's split).";
    StrLines STR_LINES "str.lines" 0x0E [Dst, Src] "d := the list of lines of s (as Rust's lines).";
    StrTrim STR_TRIM "str.trim" 0x0F [Dst, Src] "d := s without leading and trailing white space.";
    StrUpper STR_UPPER "str.to_upper" 0x10 [Dst, Src] "d := s in upper case (Unicode).";
    StrLower STR_LOWER "str.to_lower" 0x11 [Dst, Src] "d := s in lower case (Unicode).";
    StrReverse STR_REVERSE "str.reverse" 0x12 [Dst, Src] "d := the chars of s in reverse order.";
    StrRepeat STR_REPEAT "str.repeat" 0x13 [Dst, Src, Src] "d := s repeated n (i64) times; negative n faults.";
    StrJoin STR_JOIN "str.join" 0x14 [Dst, Src, Src] "d := the list of strs joined with sep.";
    StrHead STR_HEAD "str.head" 0x15 [Dst, Src] "d := Some(first char) or None for the empty str.";
    StrTail STR_TAIL "str.tail" 0x16 [Dst, Src] "d := s without its first char (the empty str stays empty).";
    StrConsChar STR_CONS "str.cons" 0x17 [Dst, Src, Src] "d := the char c followed by s.";
    StrCharAt STR_CHAR_AT "str.char_at" 0x18 [Dst, Src, Src] "d := Some(the char starting at byte i) or None.";
    ParseI64 PARSE_I64 "i64.parse" 0x19 [Dst, Src] "d := Some(i64) if s is a decimal integer, else None.";
    ParseU64 PARSE_U64 "u64.parse" 0x1A [Dst, Src] "d := Some(u64) or None.";
    ParseF64 PARSE_F64 "f64.parse" 0x1B [Dst, Src] "d := Some(f64) or None.";
    ParseBig PARSE_BIG "ibig.parse" 0x1C [Dst, Src] "d := Some(ibig) or None.";
    StrCmp STR_CMP "str.cmp" 0x1D [Dst, Src, Src] "d := -1, 0 or 1 comparing a and b by code points.";
    StrEq STR_EQ "str.eq" 0x1E [Dst, Src, Src] "d := whether the strs a and b are equal.";
    StrTrimStart STR_TRIM_START "str.trim_start" 0x1F [Dst, Src] "d := s without leading white space.";
    StrTrimEnd STR_TRIM_END "str.trim_end" 0x20 [Dst, Src] "d := s without trailing white space.";

    CharIsDigit CHAR_IS_DIGIT "char.is_digit" 0x30 [Dst, Src] "d := whether s is an ASCII digit.";
    CharIsAlpha CHAR_IS_ALPHA "char.is_alpha" 0x31 [Dst, Src] "d := whether s is alphabetic (Unicode).";
    CharIsSpace CHAR_IS_SPACE "char.is_space" 0x32 [Dst, Src] "d := whether s is white space (Unicode).";
    CharIsUpper CHAR_IS_UPPER "char.is_upper" 0x33 [Dst, Src] "d := whether s is upper case.";
    CharIsLower CHAR_IS_LOWER "char.is_lower" 0x34 [Dst, Src] "d := whether s is lower case.";
    CharToUpper CHAR_TO_UPPER "char.to_upper" 0x35 [Dst, Src] "d := the upper-case char, or s when that is not one char.";
    CharToLower CHAR_TO_LOWER "char.to_lower" 0x36 [Dst, Src] "d := the lower-case char, or s when that is not one char.";

    EPrint EPRINT "eprint" 0x40 [Src] "Write the str s to standard error.";
    ReadLine READ_LINE "io.read_line" 0x41 [Dst] "d := Some(next line of stdin without its newline) or None at end of input.";
    ReadAll READ_ALL "io.read_all" 0x42 [Dst] "d := the rest of standard input as a str.";
    ReadFile READ_FILE "io.read_file" 0x43 [Dst, Src] "d := Ok(contents) or Err(message).";
    WriteFile WRITE_FILE "io.write_file" 0x44 [Dst, Src, Src] "d := Ok(()) or Err(message) after writing s to path.";
    AppendFile APPEND_FILE "io.append_file" 0x45 [Dst, Src, Src] "d := Ok(()) or Err(message) after appending s to path.";
    FileExists FILE_EXISTS "io.file_exists" 0x46 [Dst, Src] "d := whether path exists.";
    RemoveFile REMOVE_FILE "io.remove_file" 0x47 [Dst, Src] "d := Ok(()) or Err(message).";
    ListDir LIST_DIR "io.list_dir" 0x48 [Dst, Src] "d := Ok(sorted list of entry names) or Err(message).";
    Args ARGS "io.args" 0x49 [Dst] "d := the program's arguments as a list of strs.";
    Env ENV "io.env" 0x4A [Dst, Src] "d := Some(value of the environment variable) or None.";
    Exit EXIT "io.exit" 0x4B [Src] "Flush output and end the program with the i64 status s.";
    Clock CLOCK "io.clock" 0x4C [Dst] "d := monotonic seconds (f64) since an arbitrary start.";
    Time TIME "io.time" 0x4D [Dst] "d := Unix time in whole seconds (i64).";
    Flush FLUSH "io.flush" 0x4E [] "Flush standard output.";

    ListLen LIST_LEN "list.len" 0x60 [Dst, Src] "d := the length of the list s (i64).";
    ListRev LIST_REV "list.reverse" 0x61 [Dst, Src] "d := s reversed.";
    ListAppend LIST_APPEND "list.append" 0x62 [Dst, Src, Src] "d := a followed by b (a is copied, b shared).";
    ListToArray LIST_TO_ARRAY "list.to_array" 0x63 [Dst, Src] "d := a new array of the elements of s.";
    ArrayToList ARRAY_TO_LIST "array.to_list" 0x64 [Dst, Src] "d := the list of the elements of a.";
    ArrayCopy ARRAY_COPY "array.copy" 0x65 [Dst, Src] "d := a shallow copy of a.";
    ArrayFill ARRAY_FILL "array.fill" 0x66 [Src, Src] "Every element of a := v.";
    ListMap LIST_MAP "list.map" 0x67 [Dst, Src, Src] "d := the list of f(x) for each x of the list s, in order; f is called through the interpreter (no Rust recursion).";
    ListFilter LIST_FILTER "list.filter" 0x68 [Dst, Src, Src] "d := the elements x of s for which f(x) is true, in order.";
    ListFoldr LIST_FOLDR "list.foldr" 0x69 [Dst, Src, Src, Src] "d := f(x1, f(x2, ... f(xn, init))) for the list s, init and f, in constant frame depth.";
    ListNth LIST_NTH "list.nth" 0x6A [Dst, Src, Src] "d := Some(element i) or None.";
    TypeName TYPE_NAME "typename" 0x6B [Dst, Src] "d := the name of the value's type as a str (for diagnostics and printing).";

    NetTcpListen NET_TCP_LISTEN "net.tcp_listen" 0x80 [Dst, Src] "d := Ok(listener handle, an i64) or Err(message) after binding and listening on the TCP address s (`host:port`; port 0 picks a free port).";
    NetTcpAccept NET_TCP_ACCEPT "net.tcp_accept" 0x81 [Dst, Src, Src] "d := Ok(stream handle) for the next connection to listener h, or Err(message) (`timed out` after t milliseconds; t <= 0 waits without limit).";
    NetTcpConnect NET_TCP_CONNECT "net.tcp_connect" 0x82 [Dst, Src, Src] "d := Ok(stream handle) connected to the TCP address s, or Err(message) (`connection refused`, `timed out` after t milliseconds; t <= 0: the system's limit).";
    NetRead NET_READ "net.read" 0x83 [Dst, Src, Src, Src] "d := Ok(str of at most n (i64 >= 1) bytes read from stream h, after the up to 3 bytes of a char the last read split; empty at the end of the stream) or Err(message) (`timed out` after t ms, t <= 0: no limit). A UTF-8 sequence split by the read is kept for the next one; invalid UTF-8 is an error.";
    NetWrite NET_WRITE "net.write" 0x84 [Dst, Src, Src, Src] "d := Ok(()) once all of the str s is written to stream h, or Err(message) (`timed out` after t ms without progress, t <= 0: no limit; `connection reset`, `broken pipe`).";
    NetClose NET_CLOSE "net.close" 0x85 [Dst, Src] "d := Ok(()) after closing the handle h (listener, stream or UDP socket), or Err(message) for a handle that is not open.";
    NetLocalAddr NET_LOCAL_ADDR "net.local_addr" 0x86 [Dst, Src] "d := Ok(the local address of handle h as `host:port`) or Err(message).";
    NetUdpBind NET_UDP_BIND "net.udp_bind" 0x87 [Dst, Src] "d := Ok(UDP socket handle) bound to the address s, or Err(message).";
    NetUdpSend NET_UDP_SEND "net.udp_send" 0x88 [Dst, Src, Src, Src] "d := Ok(()) after sending the str s as one datagram from socket h to the address a, or Err(message).";
    NetUdpRecv NET_UDP_RECV "net.udp_recv" 0x89 [Dst, Src, Src, Src] "d := Ok((str, sender address)) for the next datagram (at most n bytes, the rest discarded) on socket h, or Err(message) (`timed out` after t ms, t <= 0: no limit; a datagram that is not UTF-8).";
}
}

/// Shift that brings an extended [`Op`] discriminant's prefix byte down to the low
/// byte (`op as u16 >> PREFIX_SHIFT` is 0 for primary instructions).
pub const PREFIX_SHIFT: u16 = 8;

/// The layout of a jump table operand ([`OperandKind::Table`]), relative to the
/// operand's first byte: a `u16` case count `n`, the `i32` default offset, then `n`
/// `i32` case offsets. Every reader and writer of tables uses these.
pub mod jump_table {
    /// Offset of the `u16` case count.
    pub const COUNT: usize = 0;
    /// Offset of the `i32` default jump.
    pub const DEFAULT: usize = 2;
    /// Offset of the first case's `i32` jump.
    pub const CASES: usize = 6;
    /// Width of one case entry.
    pub const ENTRY: usize = 4;

    /// Encoded size of a table with `n` cases.
    pub const fn len(n: usize) -> usize {
        CASES + ENTRY * n
    }

    /// Offset of case `i`'s jump.
    pub const fn case(i: usize) -> usize {
        CASES + ENTRY * i
    }
}

/// The codes `kindof` gives: what an untyped front end tests before an instruction that
/// would fault on the wrong kind (SPEC.md §3, "Testing a value's kind").
pub mod kind {
    /// `()`.
    pub const UNIT: i64 = 0;
    /// A bool.
    pub const BOOL: i64 = 1;
    /// An i64.
    pub const I64: i64 = 2;
    /// A u64.
    pub const U64: i64 = 3;
    /// An f64.
    pub const F64: i64 = 4;
    /// A char.
    pub const CHAR: i64 = 5;
    /// A str.
    pub const STR: i64 = 6;
    /// A byte array.
    pub const BYTES: i64 = 7;
    /// A big integer.
    pub const IBIG: i64 = 8;
    /// A rational.
    pub const RATIO: i64 = 9;
    /// An array.
    pub const ARRAY: i64 = 10;
    /// A mutable cell.
    pub const REF: i64 = 11;
    /// A thunk, forced or not.
    pub const THUNK: i64 = 12;
    /// A function value: a function, a closure or a partial application.
    pub const FUNCTION: i64 = 13;
    /// An opaque C pointer (`ptr`, from `ffi.call`).
    pub const PTR: i64 = 14;
    /// A constructor value (sum value, tuple, list, option, result; with or without
    /// fields) of type id `T` has the code `DATA + T`.
    pub const DATA: i64 = 16;
}
