//! The `.hasm` assembler and disassembler on hand-written programs: every construct of
//! the syntax, what it assembles to, error reporting, and robustness on bad input.

mod common;

use common::*;
use hashvm_format::hasm::{assemble, disassemble};
use hashvm_format::*;
use hashvm_format::{BigInt, BigRatio};
use proptest::prelude::*;

#[test]
fn sample_covers_every_module_part() {
    let m = asm(SAMPLE);
    assert!(m.is_executable());
    assert_eq!(m.libraries, vec!["core"]);
    assert_eq!(m.debug.files, vec!["main.hash", "lib/extra.hash"]);
    assert_eq!(m.types.len(), 2);
    let TypeDef::Defined { name, ctors } = &m.types[0] else {
        panic!()
    };
    assert_eq!(name, "Shape");
    assert_eq!(
        ctors,
        &vec![
            Ctor {
                name: "Circle".into(),
                arity: 1,
                fields: vec!["radius".into()]
            },
            Ctor {
                name: "Rect".into(),
                arity: 2,
                fields: vec![]
            },
            Ctor {
                name: "Empty".into(),
                arity: 0,
                fields: vec![]
            },
        ]
    );
    assert_eq!(m.functions.len(), 4);
    let area = &m.functions[1];
    assert_eq!((area.arity, area.ncaptures, area.nslots), (1, 0, 3));
    assert_eq!(m.functions[0].ncaptures, 1);
    assert_eq!(m.globals[2].init, GlobalInit::Uninit);
    assert_eq!(
        m.exports,
        vec![
            Export {
                name: "area".into(),
                target: ExportTarget::Global(0)
            },
            Export {
                name: "Shape".into(),
                target: ExportTarget::Type(0)
            },
        ]
    );
    assert_eq!(m.inits, vec![2]);
    assert_eq!(m.entry, Some(3));
    // Inline `.loc` lines become one table per function, in function order.
    assert_eq!(m.debug.lines.len(), 2);
    assert_eq!(m.debug.lines[1].func, 1);
    assert_eq!(m.debug.lines[1].entries[1].file, 1);
    assert_eq!(m.debug.lines[1].entries[1].line, 2);
    assert_eq!(m.debug.lines[1].entries[1].col, 7);
    verify(&m).unwrap();
    assert_dis_roundtrip(&m);
}

#[test]
fn every_constant_kind() {
    let m = asm(r#"
.type T | A | B(x, y)
.func f/0
    retu
.end
.func c/0 captures=2
    retu
.end
.global all = [(), true, false, -7, i64 9223372036854775807, u64 18446744073709551615, 1.5, -0.0, 1e300, inf, -inf, nan, bits 0x7ff0000000000001, f64 3, 'a', '\u{10ffff}', "s\"\\", b"\x01\x02", big 0, big -340282366920938463463374607431768211457, ratio 2/4, ratio -1/3, T:B(1, 2), 16:0, List:Cons(1, List:Nil), Tuple:0(1, 2, 3), (1, 2), (1,), (,), [], #[1], closure c(1, 2), fn f, ref ref 1, global all]
"#);
    let GlobalInit::Const(Const::List(v)) = &m.globals[0].init else {
        panic!()
    };
    let expect = vec![
        Const::Unit,
        Const::Bool(true),
        Const::Bool(false),
        Const::I64(-7),
        Const::I64(i64::MAX),
        Const::U64(u64::MAX),
        Const::F64(1.5f64.to_bits()),
        Const::F64((-0.0f64).to_bits()),
        Const::F64(1e300f64.to_bits()),
        Const::F64(f64::INFINITY.to_bits()),
        Const::F64(f64::NEG_INFINITY.to_bits()),
        Const::F64(0x7ff8_0000_0000_0000),
        Const::F64(0x7ff0_0000_0000_0001),
        Const::F64(3f64.to_bits()),
        Const::Char('a' as u32),
        Const::Char(0x10ffff),
        Const::Str("s\"\\".into()),
        Const::Bytes(vec![1, 2]),
        Const::Big(BigInt::default()),
        // -(2^128) - 1
        Const::Big(
            BigInt::parse_digits("340282366920938463463374607431768211457", 10, true).unwrap(),
        ),
        Const::Ratio(BigRatio::new(BigInt::from(1i64), BigInt::from(2i64)).unwrap()),
        Const::Ratio(BigRatio::new(BigInt::from(-1i64), BigInt::from(3i64)).unwrap()),
        Const::Data {
            ty: 16,
            tag: 1,
            fields: vec![Const::I64(1), Const::I64(2)],
        },
        Const::Data {
            ty: 16,
            tag: 0,
            fields: vec![],
        },
        Const::Data {
            ty: 0,
            tag: 1,
            fields: vec![
                Const::I64(1),
                Const::Data {
                    ty: 0,
                    tag: 0,
                    fields: vec![],
                },
            ],
        },
        Const::Data {
            ty: 3,
            tag: 0,
            fields: vec![Const::I64(1), Const::I64(2), Const::I64(3)],
        },
        Const::Tuple(vec![Const::I64(1), Const::I64(2)]),
        Const::Tuple(vec![Const::I64(1)]),
        Const::Tuple(vec![]),
        Const::List(vec![]),
        Const::Array(vec![Const::I64(1)]),
        Const::Closure {
            func: 1,
            captures: vec![Const::I64(1), Const::I64(2)],
        },
        Const::Func(0),
        Const::Ref(Box::new(Const::Ref(Box::new(Const::I64(1))))),
        Const::Global(0),
    ];
    assert_eq!(v, &expect);
    verify(&m).unwrap();
    assert_dis_roundtrip(&m);
}

#[test]
fn imports_exports_and_numeric_references() {
    let m = asm(r#"
.module linkable
.library std.list
.library "other lib"
.type import shapes.Shape
.type Local | L
.global ext import math.pi
.global "two words" = 1
.global dup = 1
.global dup = 2
.func "odd name"/0
    loadg r0, ext
    loadg r0, "two words"
    loadg r0, 2             ; numeric: `dup` is ambiguous
    con r0, shapes.Shape, 0, r0, 0
    con r0, 17, L, r0, 0
    ret r0
.end
.export "odd name" global "two words"
.export Local type Local
.export raw type_index 1
.export far global 4000000000
.init 0
.init "odd name"
"#);
    assert_eq!(
        m.types[0],
        TypeDef::Import {
            symbol: "shapes.Shape".into()
        }
    );
    assert_eq!(m.globals[0].init, GlobalInit::Import("math.pi".into()));
    assert_eq!(m.libraries, vec!["std.list", "other lib"]);
    assert_eq!(m.exports[1].target, ExportTarget::Type(1));
    assert_eq!(m.exports[2].target, ExportTarget::Type(1));
    assert_eq!(m.exports[3].target, ExportTarget::Global(4_000_000_000));
    assert_eq!(m.inits, vec![0, 0]);
    let insns = insn::decode_all(&m.functions[0].code).unwrap();
    assert_eq!(insns[2].1.args[1], Operand::Global(2));
    assert_eq!(insns[3].1.args[1], Operand::Type(16));
    assert_eq!(insns[4].1.args[1], Operand::Type(17));
    assert!(!m.is_executable());
    assert_dis_roundtrip(&m);
    // The disassembler falls back to numbers for the ambiguous name.
    let text = disassemble(&m);
    assert!(text.contains("loadg      r0, 2"), "{text}");
    assert!(text.contains(".global dup = 1"), "{text}");
}

#[test]
fn labels_offsets_tables_and_raw_bytes() {
    let m = asm(r#"
.func f/1 slots=2
top:
    jmp $+5                 ; to the next instruction: jmp is 5 bytes long
    switchi r0, -1, [a, b, $+0] else top
a:  b:                      ; two labels on one line
    loop top
    .bytes 0xfe, 0xee 0x00  ; raw bytes (an unknown extended opcode)
end:
.end
"#);
    let f = &m.functions[0];
    let insns = insn::decode_all(&f.code[..f.code.len() - 3]).unwrap();
    assert_eq!(insns[0].1.args[0], Operand::Jump(5));
    let sw_at = insns[1].0 as i32;
    let loop_at = insns[2].0 as i32;
    assert_eq!(
        insns[1].1.args[2],
        Operand::Table(-sw_at, vec![loop_at - sw_at, loop_at - sw_at, 0])
    );
    assert_eq!(&f.code[f.code.len() - 3..], &[0xfe, 0xee, 0x00]);
    assert_dis_roundtrip(&m);
}

#[test]
fn jumps_into_the_middle_of_instructions_survive_disassembly() {
    // `jmp $+1` lands inside itself; the disassembler must print an offset, not a label.
    let m = asm(".func f/0\n    jmp $+1\n    jmp $-3\n    .bytes 0x1a\n.end\n");
    let text = disassemble(&m);
    assert!(text.contains("jmp        $+1"), "{text}");
    assert!(text.contains("jmp        $-3"), "{text}");
    assert_dis_roundtrip(&m);
    // A truncated last instruction is printed as bytes.
    let mut m2 = m.clone();
    m2.functions[0].code.extend([0x02, 0x01]);
    assert!(disassemble(&m2).contains(".bytes 0x02, 0x01"));
    assert_dis_roundtrip(&m2);
}

#[test]
fn line_tables_that_cannot_be_inline_use_lines_blocks() {
    let mut m = asm(".file \"a\"\n.func f/0\n    .loc \"a\" 1 2\n    retu\n.end\n");
    assert_eq!(m.debug.lines.len(), 1);
    // Unsorted, duplicated and out-of-range tables are printed verbatim.
    m.debug.lines.push(FuncLines {
        func: 7,
        entries: vec![
            LineEntry {
                offset: 9,
                file: 3,
                line: 1,
                col: 1,
            },
            LineEntry {
                offset: 2,
                file: 0,
                line: 5,
                col: 0,
            },
        ],
    });
    m.debug.lines.push(FuncLines {
        func: 0,
        entries: vec![],
    });
    let text = disassemble(&m);
    assert!(
        text.contains(".lines 7\n    9 3 1 1\n    2 \"a\" 5 0\n.end"),
        "{text}"
    );
    assert_dis_roundtrip(&m);
}

#[test]
fn names_that_need_quotes() {
    let m = asm(r#"
.type "my type" | "a ctor"(x, "field two") | import
.func "has space"/0
    retu
.end
.func import/0
    retu
.end
.global "" = "my type":"a ctor"(1, 2)
.global "\u{1f600}" = "my type":import
"#);
    let TypeDef::Defined { ctors, .. } = &m.types[0] else {
        panic!()
    };
    assert_eq!(ctors[1].name, "import");
    assert_eq!(m.functions[1].name, "import");
    let text = disassemble(&m);
    assert!(text.contains(".func \"import\"/0"), "{text}");
    assert_dis_roundtrip(&m);
}

#[test]
fn slots_are_computed_when_not_given() {
    let m = asm(".func f/2\n    call r1, r0, r5, 3\n    ret r1\n.end\n.func g/3\n    retu\n.end\n.func h/0\n    retu\n.end\n");
    assert_eq!(m.functions[0].nslots, 8);
    assert_eq!(m.functions[1].nslots, 3);
    assert_eq!(m.functions[2].nslots, 1);
}

#[test]
fn immediates() {
    let m = asm(r#"
.func f/0 slots=1
    loadi r0, -2147483648
    loadi64 r0, -9223372036854775808
    loadu64 r0, 18446744073709551615
    loadf r0, bits 0xfff8000000000000
    loadf r0, 2
    loadchar r0, '\''
    loadchar r0, 0x41
    jne.char r0, '\u{7f}', $+0
    retu
.end
"#);
    let insns = insn::decode_all(&m.functions[0].code).unwrap();
    assert_eq!(insns[0].1.args[1], Operand::Imm32(i32::MIN));
    assert_eq!(insns[1].1.args[1], Operand::Imm64(i64::MIN));
    assert_eq!(insns[2].1.args[1], Operand::Imm64(-1));
    assert_eq!(insns[3].1.args[1], Operand::F64(0xfff8_0000_0000_0000));
    assert_eq!(insns[4].1.args[1], Operand::F64(2f64.to_bits()));
    assert_eq!(insns[5].1.args[1], Operand::Imm32('\'' as i32));
    assert_eq!(insns[6].1.args[1], Operand::Imm32(0x41));
    let text = disassemble(&m);
    assert!(
        text.contains("loadu64    r0, 18446744073709551615"),
        "{text}"
    );
    assert!(text.contains("loadchar   r0, 'A'"), "{text}");
    assert!(text.contains("'\\u{7f}'"), "{text}");
    assert_dis_roundtrip(&m);
}

#[test]
fn errors_have_positions_and_several_are_reported() {
    let errs = asm_errors(
        ".func f/0\n    frobnicate r0\n    mov r0, 5\n    jmp nowhere\n    retu\n.end\n.entry missing\n",
    );
    assert_eq!(
        errs,
        vec![
            "t.hasm:2:5: error: unknown instruction `frobnicate`",
            "t.hasm:3:13: error: expected a slot like `r0` (src operand of `mov`), found `5`",
            "t.hasm:4:9: error: no label `nowhere` in this function",
            "t.hasm:7:8: error: no function is named `missing`",
        ]
    );
}

#[test]
fn error_messages() {
    let one = |src: &str| asm_errors(src).join("\n");
    assert_eq!(
        one(".func f/0\n    retu\n"),
        "t.hasm:1:1: error: `.func f` has no `.end`"
    );
    assert_eq!(
        one(".func f/0\n.global x\n.end\n"),
        "t.hasm:2:1: error: `.global` inside a function body: missing `.end`?\nt.hasm:3:1: error: `.end` without an open `.func` or `.lines`"
    );
    assert_eq!(
        one(".func f/0\n    retu\n.end\n.func f/0\n    retu\n.end\n.entry f\n"),
        "t.hasm:7:8: error: `f` names function 0 and function 1: refer to it by number"
    );
    assert_eq!(
        one(".global x = (1)\n"),
        "t.hasm:1:15: error: a one-element tuple is written `(x,)`"
    );
    assert_eq!(
        one(".global x = 99999999999999999999\n"),
        "t.hasm:1:13: error: 99999999999999999999 does not fit an i64: write `u64 99999999999999999999` or `big 99999999999999999999`"
    );
    assert_eq!(
        one(".global x = \"a\\qb\"\n"),
        "t.hasm:1:15: error: unknown escape `\\q`"
    );
    assert_eq!(
        one(".global x = \"open\n"),
        "t.hasm:1:13: error: string is not closed on this line"
    );
    assert_eq!(
        one(".global x = '\\u{d800}'\n"),
        "t.hasm:1:14: error: `\\u{d800}` is not a Unicode scalar value"
    );
    assert_eq!(
        one(".func f/0\n    mov r0, r70000\n.end\n"),
        "t.hasm:2:13: error: expected a slot like `r0` (src operand of `mov`), found `r70000`"
    );
    assert_eq!(
        one("| Stray\n"),
        "t.hasm:1:1: error: a `|` constructor line must follow `.type` or another `|` line"
    );
    assert_eq!(
        one(".func f/0\nx:\nx:\n    retu\n.end\n"),
        "t.hasm:3:1: error: label `x` is defined twice"
    );
    assert_eq!(
        one(".global x = T:A\n"),
        "t.hasm:1:13: error: no type is named `T`"
    );
    assert_eq!(
        one(".global x = Option:Maybe\n"),
        "t.hasm:1:20: error: type 1 has no constructor named `Maybe`"
    );
    assert_eq!(
        one(".bogus\n"),
        "t.hasm:1:1: error: unknown directive `.bogus`"
    );
    assert_eq!(
        one("mov r0, r1\n"),
        "t.hasm:1:1: error: instruction or label outside a `.func` body"
    );
    assert_eq!(
        one(".entry 0\n.entry 0\n"),
        "t.hasm:2:8: error: the entry point is already set"
    );
    assert_eq!(
        one(".global x = ratio 1/0\n"),
        "t.hasm:1:21: error: a ratio's denominator must not be zero"
    );
}

#[test]
fn error_display_format() {
    let e = assemble("\n  @", "prog.hasm").unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "prog.hasm:2:3: error: unexpected character '@'"
    );
    assert_eq!((e[0].line, e[0].col), (2, 3));
}

#[test]
fn crlf_line_ends_and_a_byte_order_mark_are_accepted() {
    let m = asm("\u{feff}.func f/0\r\n    retu\r\n.end\r\n");
    assert_eq!(m.functions[0].code, [0x1a]);
}

#[test]
fn error_count_is_capped() {
    let src = "nop\n".repeat(500);
    let errs = assemble(&src, "t").unwrap_err();
    assert_eq!(errs.len(), 101);
    assert!(errs[100].message.contains("400 more errors"));
}

#[test]
fn deep_constants_are_capped_like_the_reader() {
    // The reader allows nesting up to depth 1000 (1001 levels); so does the assembler.
    let ok = format!(".global x = {}1{}\n", "[".repeat(1000), "]".repeat(1000));
    let m = asm(&ok);
    assert_eq!(read(&write(&m)).unwrap(), m);
    let too_deep = format!(".global x = {}1{}\n", "[".repeat(1001), "]".repeat(1001));
    let e = asm_errors(&too_deep);
    assert!(e[0].contains("nested deeper than 1000"), "{e:?}");
    // Far deeper input is an error too, not a stack overflow.
    let huge = format!(".global x = {}\n", "ref [".repeat(200_000));
    assert!(assemble(&huge, "t").is_err());
}

/// Lines of the sample program, to build mutated sources from.
fn sample_lines() -> Vec<String> {
    SAMPLE.lines().map(String::from).collect()
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn assembler_never_panics_on_random_text(s in "(\\PC|[\\n\\\\\"'.;:,()\\[\\]|#$])*") {
        let _ = assemble(&s, "fuzz.hasm");
    }

    #[test]
    fn assembler_never_panics_on_mutated_programs(
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), "\\PC{0,3}|\n"), 1..6)
    ) {
        let lines = sample_lines();
        let mut text: Vec<char> = lines.join("\n").chars().collect();
        for (at, len, ins) in edits {
            let at = at % (text.len() + 1);
            let end = (at + len % 8).min(text.len());
            text.splice(at..end, ins.chars());
        }
        let src: String = text.into_iter().collect();
        if let Ok(m) = assemble(&src, "m.hasm") {
            let _ = verify(&m);
            assert_dis_roundtrip(&m);
        }
    }

    #[test]
    fn assembler_never_panics_on_shuffled_lines(order in proptest::collection::vec(any::<usize>(), 1..40)) {
        let lines = sample_lines();
        let src: Vec<&str> = order.iter().map(|i| lines[i % lines.len()].as_str()).collect();
        if let Ok(m) = assemble(&src.join("\n"), "s.hasm") {
            assert_dis_roundtrip(&m);
        }
    }
}
