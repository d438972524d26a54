//! Shared test helpers: module generators for property tests, a small deterministic
//! mutator for the fuzz loops, and assembly shorthands.
#![allow(dead_code)]

use hashvm_format::hasm::{assemble, disassemble};
use hashvm_format::*;
use hashvm_format::{BigInt, BigRatio};
use proptest::collection::vec;
use proptest::prelude::*;

/// A proptest configuration with `cases` cases that writes no regression files.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Assembles `src` or panics with every error, formatted as the tools print them.
pub fn asm(src: &str) -> Module {
    match assemble(src, "test.hasm") {
        Ok(m) => m,
        Err(es) => panic!(
            "assembly failed:\n{}\n--- source ---\n{src}",
            es.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// The assembly errors of `src`, as the tools print them.
pub fn asm_errors(src: &str) -> Vec<String> {
    match assemble(src, "t.hasm") {
        Ok(_) => panic!("expected assembly errors for:\n{src}"),
        Err(es) => es.iter().map(|e| e.to_string()).collect(),
    }
}

/// Checks `write(assemble(disassemble(m))) == write(m)`, with a readable failure.
pub fn assert_dis_roundtrip(m: &Module) {
    let text = disassemble(m);
    let back = match assemble(&text, "dis.hasm") {
        Ok(b) => b,
        Err(es) => panic!(
            "disassembly does not reassemble:\n{}\n--- text ---\n{text}",
            es.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    assert!(
        write(&back) == write(m),
        "reassembled bytes differ\n--- text ---\n{text}\n--- original ---\n{m:#?}\n--- back ---\n{back:#?}"
    );
}

/// Names drawn from a small pool, so that collisions (which force numeric references)
/// and names needing quotes both occur often.
pub fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("f".to_string()),
        Just("g".to_string()),
        Just("main".to_string()),
        Just("List".to_string()),
        Just(String::new()),
        Just("a b".to_string()),
        Just("import".to_string()),
        Just("r1".to_string()),
        Just("nan".to_string()),
        Just("x'".to_string()),
        Just("q\"\\;\n".to_string()),
        Just("é\u{1F600}".to_string()),
        "[a-z]{1,6}",
        ".{0,5}",
    ]
}

fn arb_big() -> impl Strategy<Value = BigInt> {
    prop_oneof![
        any::<i64>().prop_map(BigInt::from),
        (any::<bool>(), "[1-9][0-9]{0,60}")
            .prop_map(|(neg, s)| BigInt::parse_digits(&s, 10, neg).unwrap_or_default()),
        Just(BigInt::default()),
    ]
}

fn arb_f64_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        any::<f64>().prop_map(f64::to_bits),
        Just(f64::NAN.to_bits()),
        Just(0x7ff8_0000_0000_0001u64),
        Just(0xfff8_0000_0000_0000u64),
        Just(f64::INFINITY.to_bits()),
        Just(f64::NEG_INFINITY.to_bits()),
        Just((-0.0f64).to_bits()),
        Just(1e100f64.to_bits()),
        Just(5e-324f64.to_bits()),
    ]
}

/// Small indices, usually in range of the generated tables, sometimes far out.
fn arb_index() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..5, 1 => any::<u32>()]
}

/// Any constant the reader accepts, nested a few levels.
pub fn arb_const() -> impl Strategy<Value = Const> {
    let leaf = prop_oneof![
        Just(Const::Unit),
        any::<bool>().prop_map(Const::Bool),
        any::<i64>().prop_map(Const::I64),
        any::<u64>().prop_map(Const::U64),
        arb_f64_bits().prop_map(Const::F64),
        any::<char>().prop_map(|c| Const::Char(c as u32)),
        ".{0,6}".prop_map(Const::Str),
        vec(any::<u8>(), 0..6).prop_map(Const::Bytes),
        arb_big().prop_map(Const::Big),
        (arb_big(), arb_big())
            .prop_filter_map("non-zero denominator", |(n, d)| BigRatio::new(n, d))
            .prop_map(Const::Ratio),
        arb_index().prop_map(Const::Func),
        arb_index().prop_map(Const::Global),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (
                prop_oneof![0u32..4, 16u32..20, any::<u32>()],
                prop_oneof![0u16..3, any::<u16>()],
                vec(inner.clone(), 0..3)
            )
                .prop_map(|(ty, tag, fields)| Const::Data { ty, tag, fields }),
            vec(inner.clone(), 0..4).prop_map(Const::Tuple),
            vec(inner.clone(), 0..4).prop_map(Const::List),
            vec(inner.clone(), 0..4).prop_map(Const::Array),
            (arb_index(), vec(inner.clone(), 0..3))
                .prop_map(|(func, captures)| Const::Closure { func, captures }),
            inner.prop_map(|c| Const::Ref(Box::new(c))),
        ]
    })
}

fn arb_ctor() -> impl Strategy<Value = Ctor> {
    (arb_name(), 0u16..4, any::<bool>(), vec(arb_name(), 4)).prop_map(
        |(name, arity, named, names)| Ctor {
            name,
            arity,
            fields: if named {
                names.into_iter().take(arity as usize).collect()
            } else {
                Vec::new()
            },
        },
    )
}

fn arb_type() -> impl Strategy<Value = TypeDef> {
    prop_oneof![
        3 => (arb_name(), vec(arb_ctor(), 0..4)).prop_map(|(name, ctors)| TypeDef::Defined { name, ctors }),
        1 => arb_name().prop_map(|symbol| TypeDef::Import { symbol }),
    ]
}

/// One encoded instruction with random operands (small slots and jumps, so that many
/// jumps land on instruction starts), or a few raw bytes.
fn arb_insn_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (0..Op::ALL.len(), vec(any::<u32>(), 6), vec(prop_oneof![Just(0i32), -24i32..24], 4), 0usize..4).prop_map(
            |(i, vals, jumps, ncases)| {
                let op = Op::ALL[i];
                let args = op.operands().iter().enumerate().map(|(k, kind)| {
                    let v = vals[k % vals.len()];
                    match kind {
                        OperandKind::Dst | OperandKind::Src | OperandKind::Base => {
                            Operand::Slot((v % 6) as u16)
                        }
                        OperandKind::Imm32 | OperandKind::Char => Operand::Imm32(if v % 2 == 0 { (v % 0x11_0000) as i32 } else { v as i32 }),
                        OperandKind::Imm64 => Operand::Imm64((v as i64).wrapping_mul(0x1_0001_0001)),
                        OperandKind::F64 => Operand::F64((v as u64) << 32 | v as u64),
                        OperandKind::Global => Operand::Global(v % 5),
                        OperandKind::Func => Operand::Func(v % 5),
                        OperandKind::Foreign => Operand::Foreign(v % 3),
                        OperandKind::Type => Operand::Type(if v % 3 == 0 { v } else { v % 20 }),
                        OperandKind::Tag | OperandKind::Count | OperandKind::Index => {
                            Operand::U16((v % 4) as u16)
                        }
                        OperandKind::Jump => Operand::Jump(jumps[k % 4]),
                        OperandKind::Table => Operand::Table(jumps[0], jumps[1..=ncases.min(3)].to_vec()),
                    }
                });
                let mut out = Vec::new();
                Insn::new(op, args).encode(&mut out);
                out
            }
        ),
        1 => vec(any::<u8>(), 1..4),
    ]
}

fn arb_code() -> impl Strategy<Value = Vec<u8>> {
    vec(arb_insn_bytes(), 0..8).prop_map(|v| v.concat())
}

fn arb_function() -> impl Strategy<Value = Function> {
    (arb_name(), 0u16..4, 0u16..3, 0u16..8, arb_code()).prop_map(
        |(name, arity, ncaptures, nslots, code)| Function {
            name,
            arity,
            ncaptures,
            nslots,
            code,
        },
    )
}

fn arb_global() -> impl Strategy<Value = Global> {
    (
        arb_name(),
        prop_oneof![
            3 => arb_const().prop_map(GlobalInit::Const),
            1 => Just(GlobalInit::Uninit),
            1 => arb_name().prop_map(GlobalInit::Import),
        ],
    )
        .prop_map(|(name, init)| Global { name, init })
}

fn arb_debug() -> impl Strategy<Value = DebugInfo> {
    (
        vec(arb_name(), 0..3),
        vec(
            (
                arb_index(),
                vec((0u32..40, 0u32..4, any::<u32>(), 0u32..90), 0..4),
                any::<bool>(),
            ),
            0..4,
        ),
    )
        .prop_map(|(files, tables)| DebugInfo {
            files,
            lines: tables
                .into_iter()
                .map(|(func, rows, sorted)| {
                    let mut entries: Vec<LineEntry> = rows
                        .into_iter()
                        .map(|(offset, file, line, col)| LineEntry {
                            offset,
                            file,
                            line,
                            col,
                        })
                        .collect();
                    if sorted {
                        entries.sort_by_key(|e| e.offset);
                        entries.dedup_by_key(|e| e.offset);
                    }
                    FuncLines { func, entries }
                })
                .collect(),
        })
}

fn arb_foreign() -> impl Strategy<Value = Foreign> {
    let ty = (0..FfiType::ALL.len()).prop_map(|i| FfiType::ALL[i]);
    (arb_name(), arb_name(), vec(ty.clone(), 0..4), ty).prop_map(
        |(library, symbol, params, ret)| Foreign {
            library,
            symbol,
            params,
            ret,
        },
    )
}

/// Any module the writer can encode and the reader accepts back unchanged (most fail
/// verification: indices, code and tables are random).
pub fn arb_module() -> impl Strategy<Value = Module> {
    (
        vec(arb_foreign(), 0..3),
        (0u32..2, vec(arb_type(), 0..4), vec(arb_function(), 0..4)),
        (
            vec(arb_global(), 0..5),
            vec((arb_name(), any::<bool>(), arb_index()), 0..4),
            vec(arb_name(), 0..3),
        ),
        (
            vec(arb_index(), 0..3),
            proptest::option::of(arb_index()),
            arb_debug(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                foreigns,
                (flags, types, functions),
                (globals, exports, libraries),
                (inits, entry, mut debug, inline_lines),
            )| {
                if inline_lines {
                    // Tables a disassembler can print as `.loc` lines: one per function,
                    // in order, at the start and the end of the code.
                    debug.lines = functions
                        .iter()
                        .enumerate()
                        .map(|(i, f)| FuncLines {
                            func: i as u32,
                            entries: [0, f.code.len() as u32]
                                .iter()
                                .enumerate()
                                .filter(|(k, _)| *k == 0 || !f.code.is_empty())
                                .map(|(k, &offset)| LineEntry {
                                    offset,
                                    file: k as u32,
                                    line: 1 + i as u32,
                                    col: k as u32,
                                })
                                .collect(),
                        })
                        .collect();
                }
                Module {
                    flags,
                    types,
                    functions,
                    globals,
                    exports: exports
                        .into_iter()
                        .map(|(name, g, i)| Export {
                            name,
                            target: if g {
                                ExportTarget::Global(i)
                            } else {
                                ExportTarget::Type(i)
                            },
                        })
                        .collect(),
                    libraries,
                    inits,
                    entry,
                    foreigns,
                    debug,
                }
            },
        )
}

/// A tiny deterministic PRNG (xorshift64*), so fuzz loops need no extra crates and a
/// failure can be replayed from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Splits a well-framed file into its flags and section bodies.
pub fn sections(b: &[u8]) -> Option<(u32, Vec<Vec<u8>>)> {
    use hashvm_format::binary::{HEADER_SIZE, SECTIONS, SECTION_ENTRY_SIZE};
    let flags = u32::from_le_bytes(b.get(12..16)?.try_into().ok()?);
    let mut out = Vec::new();
    for i in 0..SECTIONS.len() {
        let e = HEADER_SIZE + SECTION_ENTRY_SIZE * i;
        let off = u32::from_le_bytes(b.get(e + 4..e + 8)?.try_into().ok()?) as usize;
        let size = u32::from_le_bytes(b.get(e + 8..e + 12)?.try_into().ok()?) as usize;
        out.push(b.get(off..off.checked_add(size)?)?.to_vec());
    }
    Some((flags, out))
}

/// Frames section bodies as a file, with a correct header and section table.
pub fn frame(flags: u32, bodies: &[Vec<u8>]) -> Vec<u8> {
    use hashvm_format::binary::*;
    let mut b = MAGIC.to_vec();
    b.extend(VERSION_MAJOR.to_le_bytes());
    b.extend(VERSION_MINOR.to_le_bytes());
    b.extend(flags.to_le_bytes());
    b.extend((SECTIONS.len() as u32).to_le_bytes());
    b.extend([0; 12]);
    let mut off = HEADER_SIZE + SECTION_ENTRY_SIZE * SECTIONS.len();
    for (id, body) in SECTIONS.iter().zip(bodies) {
        b.extend(id);
        b.extend((off as u32).to_le_bytes());
        b.extend((body.len() as u32).to_le_bytes());
        b.extend([0; 4]);
        off += body.len();
    }
    for body in bodies {
        b.extend(body);
    }
    b
}

/// Derives a new input from `seeds`. Half the time one section's body is mutated and the
/// file re-framed, so that the input gets past the header into the section readers;
/// otherwise the whole file is mutated.
pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let seed = &seeds[rng.below(seeds.len())];
    if rng.below(2) == 0 {
        if let Some((flags, mut bodies)) = sections(seed) {
            let k = rng.below(bodies.len());
            let donors: Vec<Vec<u8>> = seeds
                .iter()
                .filter_map(|s| sections(s).and_then(|(_, b)| b.get(k).cloned()))
                .collect();
            let mut pool = vec![bodies[k].clone()];
            pool.extend(donors);
            bodies[k] = mutate_bytes(rng, &pool);
            return frame(flags & 1, &bodies);
        }
    }
    mutate_bytes(rng, seeds)
}

/// Byte-level mutations of one of `seeds`: truncation, bit flips, byte overwrites,
/// splices of two seeds, duplicated or deleted ranges, and random bytes.
pub fn mutate_bytes(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seeds[rng.below(seeds.len())].clone();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(7) {
            0 => {
                let n = rng.below(b.len() + 1);
                b.truncate(n);
            }
            1 => {
                for _ in 0..1 + rng.below(4) {
                    if !b.is_empty() {
                        let i = rng.below(b.len());
                        b[i] ^= 1 << rng.below(8);
                    }
                }
            }
            2 => {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] = [0, 1, 0xff, 0x7f, 0x80, 0xfe, 16, 3][rng.below(8)];
                }
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(b.len() + 1);
                let from = rng.below(other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            4 => {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    let j = (i + 1 + rng.below(16)).min(b.len());
                    let chunk = b[i..j].to_vec();
                    let at = rng.below(b.len() + 1);
                    b.splice(at..at, chunk);
                }
            }
            5 => {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    let j = (i + 1 + rng.below(16)).min(b.len());
                    b.drain(i..j);
                }
            }
            _ => {
                let n = rng.below(64);
                let at = rng.below(b.len() + 1);
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, junk);
            }
        }
    }
    b
}

/// What every input must survive: decode, verify, print, and when it decodes, the
/// byte-level and text-level round trips.
pub fn check_bytes(b: &[u8]) {
    if let Ok(m) = read(b) {
        let _ = verify(&m);
        assert_eq!(write(&m), b, "an accepted file must re-encode identically");
        assert_dis_roundtrip(&m);
    }
}

/// Hand-written programs covering most constructs, used as fuzz seeds and in tests.
pub const SAMPLE: &str = r#"
; a sample covering most of the syntax
.module executable
.library "core"
.file "main.hash"
.file "lib/extra.hash"
.type Shape
  | Circle(radius)
  | Rect/2
  | Empty
.type Pair | MkPair(fst, snd)
.global origin = (0.0, -0.0)
.global table = [1, u64 18446744073709551615, big -123456789012345678901234567890, ratio 6/-4, inf, nan, bits 0x7ff8000000000001, 'λ', '\n', "tab\there", b"\x00\xffok", #[true, false], (1,), (,), Option:Some(()), Shape:Circle(1.5), Shape:Empty, 16:1(1, 2), Pair:MkPair(1, 2), ref [], global origin, fn main, closure adder(5)]
.global counter uninit
.func adder/1 captures=1 slots=3
    .loc "main.hash" 3 5
    getenv r1, 0
    add.i64 r2, r0, r1
    ret r2
.end
.func area/1                 ; slots are computed when not given
    .loc "main.hash" 10 1
    switch r0, [circle, rect] else empty
circle:
    field r1, r0, 0
    mul.f64 r1, r1, r1
    ret r1
rect:
    .loc "lib/extra.hash" 2 7
    field r1, r0, 0
    field r2, r0, 1
    mul.f64 r1, r1, r2
    ret r1
empty:
    loadf r1, 0.0
    ret r1
.end
.func init/0
    loadi r0, 0
    storeg counter, r0
    retu
.end
.func main/0 slots=8
    loadf r0, 2.5
    con r1, Shape, Circle, r0, 1
    callk r2, area, r1, 1
    loadi r3, 7
    closure r4, adder, r3, 1
    loadi r5, 1
    call r6, r4, r5, 1
    loadchar r7, 'a'
    jeq.char r7, 'b', done
    loadg r3, counter
    addi.i64 r3, r3, 1
    storeg counter, r3
done:
    loadi r0, 0
    ret r0
.end
.export area global origin
.export Shape type Shape
.init init
.entry main
"#;
