//! The linker core: symbol resolution and its errors, library loading order, and that a
//! program linked from separately built objects is the program built whole.

mod common;

use common::{asm, assert_dis_roundtrip};
use hashvm_format::link::{link, link_mapped, LinkError, Resolved};
use hashvm_format::*;
use std::collections::HashMap;

fn obj(name: &str, src: &str) -> (String, Module) {
    let m = asm(src);
    verify(&m).unwrap_or_else(|e| panic!("{name}: {e}"));
    (name.to_string(), m)
}

fn no_libs(name: &str) -> Result<Resolved, String> {
    panic!("unexpected library lookup for {name}")
}

fn link_errors(objects: &[(String, Module)]) -> Vec<String> {
    match link(objects, &mut no_libs) {
        Ok(_) => panic!("link succeeded"),
        Err(es) => es.iter().map(|e| e.to_string()).collect(),
    }
}

/// An in-memory set of libraries, by name, for resolvers to look in.
fn libs(set: Vec<(String, Module)>) -> HashMap<String, Module> {
    set.into_iter().collect()
}

#[test]
fn duplicate_symbol() {
    let a = obj("a.hbc", ".global x = 1\n.export foo global x");
    let b = obj("b.hbc", ".global y = 2\n.export foo global y");
    assert_eq!(
        link_errors(&[a, b]),
        vec!["duplicate symbol `foo`: defined in a.hbc and b.hbc"]
    );
}

#[test]
fn undefined_symbol() {
    let c = obj(
        "c.hbc",
        ".global b import bar\n.func main/0\n    loadg r0, b\n    ret r0\n.end\n.entry main",
    );
    assert_eq!(
        link_errors(&[c]),
        vec!["undefined symbol `bar` wanted by c.hbc"]
    );
}

#[test]
fn kind_mismatch() {
    let a = obj("a.hbc", ".type T | A\n.export T type T");
    let b = obj(
        "b.hbc",
        ".global t import T\n.func m/0\n    retu\n.end\n.entry m",
    );
    assert_eq!(
        link_errors(&[a.clone(), b]),
        vec!["symbol `T` is a type in a.hbc but b.hbc imports it as a global"]
    );
    let c = obj("c.hbc", ".global g = 1\n.export G global g");
    let d = obj(
        "d.hbc",
        ".type import G\n.func m/0\n    retu\n.end\n.entry m",
    );
    assert_eq!(
        link_errors(&[c, d]),
        vec!["symbol `G` is a global in c.hbc but d.hbc imports it as a type"]
    );
}

#[test]
fn two_entries() {
    let a = obj("a.hbc", ".func m/0\n    retu\n.end\n.entry m");
    let b = obj("b.hbc", ".func m/0\n    retu\n.end\n.entry m");
    assert_eq!(
        link_errors(&[a, b]),
        vec!["two entry points: one in a.hbc and one in b.hbc"]
    );
}

#[test]
fn import_cycle_through_reexports() {
    let a = obj("a.hbc", ".global x import y\n.export x global x");
    let b = obj(
        "b.hbc",
        ".global y import x\n.export y global y\n.func m/0\n    loadg r0, y\n    ret r0\n.end\n.entry m",
    );
    let e = link_errors(&[a, b]);
    assert!(e[0].contains("its imports form a cycle"), "{e:?}");
}

/// The program built whole...
const WHOLE: &str = r#"
.module executable
.file "util.hash"
.file "main.hash"
.type Pair | MkPair(a, b)
.global scale = 10
.global origin = Pair:MkPair(0, 0)
.func mul/1
    .loc "util.hash" 1 1
    loadg r1, scale
    mul.i64 r0, r0, r1
    ret r0
.end
.func mkpair/2
    .loc "util.hash" 5 1
    con r2, Pair, MkPair, r0, 2
    ret r2
.end
.global mul_fn = fn mul
.global mkpair_fn = fn mkpair
.global table = [global mul_fn, global scale, Pair:MkPair(1, 2)]
.func main/0
    .loc "main.hash" 1 1
    loadi r0, 4
    loadg r1, mul_fn
    call r0, r1, r0, 1
    loadg r1, origin
    field r1, r1, 0
    con r0, Pair, MkPair, r0, 2
    loadg r1, table
    ret r0
.end
.entry main
"#;

/// ... and split in two objects that refer to each other only through symbols. The
/// imports come first in main.hbc, to show that they are dropped and every reference
/// renumbered.
const UTIL: &str = r#"
.file "util.hash"
.type Pair | MkPair(a, b)
.global scale = 10
.global origin = Pair:MkPair(0, 0)
.func mul/1
    .loc "util.hash" 1 1
    loadg r1, scale
    mul.i64 r0, r0, r1
    ret r0
.end
.func mkpair/2
    .loc "util.hash" 5 1
    con r2, Pair, MkPair, r0, 2
    ret r2
.end
.global mul_fn = fn mul
.global mkpair_fn = fn mkpair
.export util.Pair type Pair
.export util.origin global origin
.export util.scale global scale
.export util.mul global mul_fn
"#;

const MAIN: &str = r#"
.file "main.hash"
.global origin import util.origin
.type import util.Pair
.global scale import util.scale
.global mul import util.mul
.global table = [global mul, global scale, util.Pair:0(1, 2)]
.func main/0
    .loc "main.hash" 1 1
    loadi r0, 4
    loadg r1, mul
    call r0, r1, r0, 1
    loadg r1, origin
    field r1, r1, 0
    con r0, util.Pair, 0, r0, 2
    loadg r1, table
    ret r0
.end
.entry main
"#;

#[test]
fn separately_built_objects_link_to_the_whole_program() {
    let util = obj("util.hbc", UTIL);
    let main = obj("main.hbc", MAIN);
    let mut linked = link(&[util, main], &mut no_libs).unwrap();
    verify(&linked).unwrap();
    assert!(linked.is_executable());
    // Exports are kept (renumbered) so the output can still be inspected...
    let exports: Vec<(&str, ExportTarget)> = linked
        .exports
        .iter()
        .map(|e| (e.name.as_str(), e.target))
        .collect();
    assert_eq!(
        exports,
        [
            ("util.Pair", ExportTarget::Type(0)),
            ("util.origin", ExportTarget::Global(1)),
            ("util.scale", ExportTarget::Global(0)),
            ("util.mul", ExportTarget::Global(2)),
        ]
    );
    assert_dis_roundtrip(&linked);
    // ... and apart from them the output is the whole program, byte for byte: same
    // types, globals, code, line tables and file table.
    linked.exports.clear();
    let whole = asm(WHOLE);
    assert_eq!(linked, whole);
    assert_eq!(write(&linked), write(&whole));
}

#[test]
fn objects_without_imports_concatenate_to_the_whole_program() {
    // When the split needs no cross-object indices the output is the whole program,
    // bytes for bytes, once the exports that made the split are removed.
    let a = obj(
        "a.hbc",
        ".global k = 2\n.func dbl/1\n    loadg r1, k\n    mul.i64 r0, r0, r1\n    ret r0\n.end\n.global dbl_fn = fn dbl\n.export dbl global dbl_fn",
    );
    let b = obj(
        "b.hbc",
        ".global dbl import dbl\n.func main/0\n    loadg r0, dbl\n    loadi r1, 21\n    call r0, r0, r1, 1\n    ret r0\n.end\n.entry main",
    );
    let whole = asm(".module executable\n.global k = 2\n.func dbl/1\n    loadg r1, k\n    mul.i64 r0, r0, r1\n    ret r0\n.end\n.global dbl_fn = fn dbl\n.func main/0\n    loadg r0, dbl_fn\n    loadi r1, 21\n    call r0, r0, r1, 1\n    ret r0\n.end\n.entry main");
    let mut linked = link(&[a, b], &mut no_libs).unwrap();
    verify(&linked).unwrap();
    linked.exports.clear();
    assert_eq!(write(&linked), write(&whole));
}

#[test]
fn libraries_are_loaded_once_and_placed_before_their_users() {
    let set = libs(vec![
        obj(
            "base",
            ".func init_base/0\n    retu\n.end\n.init init_base\n.global one = 1\n.export base.one global one",
        ),
        obj(
            "mid",
            ".library base\n.global one import base.one\n.func init_mid/0\n    loadg r0, one\n    retu\n.end\n.init init_mid\n.global two = 2\n.export mid.two global two",
        ),
    ]);
    let mut lookups = Vec::new();
    let mut resolve = |name: &str| -> Result<Resolved, String> {
        lookups.push(name.to_string());
        Ok(set.get(name).map(|m| (format!("{name}.hbc"), m.clone())))
    };
    let a = obj(
        "a.hbc",
        ".library mid\n.library base\n.global two import mid.two\n.func init_a/0\n    loadg r0, two\n    retu\n.end\n.init init_a",
    );
    let b = obj(
        "b.hbc",
        ".library base\n.func main/0\n    retu\n.end\n.init main\n.entry main",
    );
    let out = link(&[a, b], &mut resolve).unwrap();
    verify(&out).unwrap();
    assert_eq!(lookups, ["mid", "base"]);
    let init_names: Vec<&str> = out
        .inits
        .iter()
        .map(|&f| out.functions[f as usize].name.as_str())
        .collect();
    assert_eq!(init_names, ["init_base", "init_mid", "init_a", "main"]);
    assert!(out.libraries.is_empty());
    assert!(out.is_executable());
}

/// The link map says where each unit's functions, globals and types went, imports
/// resolved to the definitions they are bound to, in link order (libraries first).
#[test]
fn the_link_map_names_every_unit_and_index() {
    let set = libs(vec![obj(
        "base",
        ".type B | X | Y\n.export base.B type B\n.func f/0\n    retu\n.end\n.func g/0\n    retu\n.end\n.global one = 1\n.global two = 2\n.export base.two global two",
    )]);
    let mut resolve = |name: &str| -> Result<Resolved, String> {
        Ok(set.get(name).map(|m| (format!("{name}.hbc"), m.clone())))
    };
    let a = obj(
        "a.hbc",
        ".library base\n.type import base.B\n.type A | Z\n.global two import base.two\n.global mine = 3\n.func h/0\n    loadg r0, two\n    ret r0\n.end\n.func main/0\n    retu\n.end\n.entry main",
    );
    let (out, map) = link_mapped(&[a], &mut resolve).unwrap();
    verify(&out).unwrap();
    let names: Vec<&str> = map.units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["base.hbc", "a.hbc"]);
    let base = map.unit("base.hbc").unwrap();
    let a = map.unit("a.hbc").unwrap();
    assert_eq!((base.first_function, base.functions), (0, 2));
    assert_eq!((a.first_function, a.functions), (2, 2));
    assert_eq!(a.function(1), Some(3));
    assert_eq!(a.function(2), None);
    assert_eq!(out.functions[a.function(0).unwrap() as usize].name, "h");
    // a's global 0 imports base's global 1; its own global comes after base's.
    assert_eq!(base.globals, [0, 1]);
    assert_eq!(a.globals, [1, 2]);
    assert_eq!(a.global(1), Some(2));
    assert_eq!(out.globals[2].name, "mine");
    // a's type 0 imports base's B (output type 0); its own A is output type 1.
    assert_eq!(base.types, [0]);
    assert_eq!(a.types, [0, 1]);
    assert!(map.unit("nothing").is_none());
}

#[test]
fn library_errors() {
    let a = obj("a.hbc", ".library missing\n.library broken");
    let mut resolve = |name: &str| -> Result<Resolved, String> {
        match name {
            "broken" => Err("broken.hbc: bad magic".into()),
            _ => Ok(None),
        }
    };
    let e: Vec<String> = link(&[a], &mut resolve)
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        e,
        [
            "library `missing` not found (needed by a.hbc)",
            "library `broken`: broken.hbc: bad magic"
        ]
    );
}

#[test]
fn library_cycles_are_named() {
    let set = libs(vec![
        obj("x", ".library y"),
        obj("y", ".library z"),
        obj("z", ".library x"),
    ]);
    let mut resolve = |name: &str| -> Result<Resolved, String> {
        Ok(set.get(name).map(|m| (name.into(), m.clone())))
    };
    let a = obj("a.hbc", ".library x");
    let e = link(&[a], &mut resolve).unwrap_err();
    assert_eq!(
        e,
        vec![LinkError::LibraryCycle(vec![
            "x".into(),
            "y".into(),
            "z".into(),
            "x".into()
        ])]
    );
    assert_eq!(
        e[0].to_string(),
        "libraries need each other: x -> y -> z -> x"
    );
}

#[test]
fn partial_link_keeps_unresolved_imports() {
    let a = obj(
        "a.hbc",
        ".global p import ext.p\n.global q import ext.p\n.type import ext.T\n.global own = 1\n.func f/0\n    loadg r0, q\n    con r0, ext.T, 0, r0, 0\n    ret r0\n.end",
    );
    let b = obj(
        "b.hbc",
        ".global p import ext.p\n.type T | A\n.export b.T type T",
    );
    let out = link(&[a, b], &mut no_libs).unwrap();
    verify(&out).unwrap();
    assert!(!out.is_executable());
    // One import per symbol, after the definitions.
    assert_eq!(
        out.globals,
        vec![
            Global {
                name: "own".into(),
                init: GlobalInit::Const(Const::I64(1))
            },
            Global {
                name: "p".into(),
                init: GlobalInit::Import("ext.p".into())
            },
        ]
    );
    assert_eq!(
        out.types[1],
        TypeDef::Import {
            symbol: "ext.T".into()
        }
    );
    let insns = insn::decode_all(&out.functions[0].code).unwrap();
    assert_eq!(insns[0].1.args[1], Operand::Global(1));
    assert_eq!(insns[1].1.args[1], Operand::Type(17));
}

#[test]
fn reexports_are_followed() {
    let a = obj("a.hbc", ".global v = 42\n.export a.v global v");
    let b = obj("b.hbc", ".global v import a.v\n.export b.v global v");
    let c = obj(
        "c.hbc",
        ".global v import b.v\n.func m/0\n    loadg r0, v\n    ret r0\n.end\n.entry m",
    );
    let out = link(&[c, b, a], &mut no_libs).unwrap();
    verify(&out).unwrap();
    assert_eq!(out.globals.len(), 1);
    assert_eq!(out.exports[0].target, ExportTarget::Global(0));
    assert_eq!(out.exports[0].name, "b.v");
}

#[test]
fn unverified_input_is_an_error_not_a_panic() {
    let mut a = obj(
        "a.hbc",
        ".func m/0\n    loadg r0, 0\n    ret r0\n.end\n.global g = 1",
    );
    a.1.functions[0].code.truncate(3);
    let e = link(&[a], &mut no_libs).unwrap_err();
    assert!(
        matches!(&e[0], LinkError::BadObject { file, .. } if file == "a.hbc"),
        "{e:?}"
    );
}

/// An object named on the command line satisfies the library it defines, whatever its
/// file is called, and is placed before its first user as a library found by search
/// would be: `resolve` is never asked for it.
#[test]
fn objects_satisfy_the_libraries_they_define() {
    let app = obj(
        "app.hbc",
        ".library util\n.global k import \"util::k\"\n.func main/0\n    loadg r0, k\n    ret r0\n.end\n.entry main",
    );
    let util = obj(
        "build/util.o.hbc",
        ".func init_util/0\n    retu\n.end\n.init init_util\n.global k = 7\n.export \"util::k\" global k",
    );
    assert_eq!(
        link::defined_library("build/util.o.hbc", &util.1).as_deref(),
        Some("util")
    );
    let out = link(&[app.clone(), util.clone()], &mut no_libs).unwrap();
    verify(&out).unwrap();
    // The same bytes as when the library is found by search.
    let mut resolve = |name: &str| -> Result<Resolved, String> {
        assert_eq!(name, "util");
        Ok(Some(util.clone()))
    };
    let searched = link(std::slice::from_ref(&app), &mut resolve).unwrap();
    assert_eq!(write(&out), write(&searched));
    assert_eq!(out.inits.len(), 1);

    // Without `::` exports, the file name says which library an object is.
    let answer = obj("lib/answer.hbc", ".global v = 42\n.export answer global v");
    assert_eq!(
        link::defined_library("lib/answer.hbc", &answer.1).as_deref(),
        Some("answer")
    );
    assert_eq!(link::defined_library("answer.o", &answer.1), None);
    let user = obj(
        "main.o",
        ".library answer\n.global a import answer\n.func main/0\n    loadg r0, a\n    ret r0\n.end\n.entry main",
    );
    assert!(link(&[user, answer], &mut no_libs).is_ok());

    // An object that needs the library it defines is a cycle, not a hang.
    let selfish = obj(
        "s.hbc",
        ".library s\n.global v = 1\n.export \"s::v\" global v",
    );
    let e = link(&[selfish], &mut no_libs).unwrap_err();
    assert_eq!(
        e,
        vec![LinkError::LibraryCycle(vec!["s".into(), "s".into()])]
    );
}

#[test]
fn foreign_tables_are_concatenated_and_calls_renumbered() {
    let a = obj(
        "a.hbc",
        ".foreign \"libm.so.6\" cos (f64) : f64\n.func fa/1\n    ffi.call r0, cos, r0, 1\n    ret r0\n.end\n.global fa = fn fa\n.export a_fa global fa",
    );
    let b = obj(
        "b.hbc",
        ".module executable\n.foreign \"libm.so.6\" sin (f64) : f64\n.foreign \"libc.so.6\" labs (i64) : i64\n.func main/0 slots=2\n    loadi r0, 1\n    ffi.call r1, labs, r0, 1\n    loadf r0, 0.0\n    ffi.call r1, sin, r0, 1\n    retu\n.end\n.entry main",
    );
    let m = link(&[a, b], &mut no_libs).unwrap();
    verify(&m).unwrap();
    let syms: Vec<&str> = m.foreigns.iter().map(|f| f.symbol.as_str()).collect();
    assert_eq!(syms, ["cos", "sin", "labs"]);
    let calls: Vec<u32> = m
        .functions
        .iter()
        .flat_map(|f| insn::decode_all(&f.code).unwrap())
        .filter_map(|(_, i)| match i.args.get(1) {
            Some(Operand::Foreign(x)) if i.op == Op::FfiCall => Some(*x),
            _ => None,
        })
        .collect();
    assert_eq!(calls, [0, 2, 1]);
    assert_dis_roundtrip(&m);
}
