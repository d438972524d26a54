//! Unit tests of the front end through its public API: inference (polymorphism,
//! defaulting, errors), name resolution and modules, the shape of the typed program,
//! and match checking.

use hashvm_compiler::tast::*;
use hashvm_compiler::{check_program_with_paths, render_diagnostics, show_type, MemLoader};
use std::path::Path;

/// Checks `src` as `main.hash` (with extra in-memory files); Ok(program, rendered
/// warnings) or Err(rendered errors).
fn check_files(src: &str, extra: &[(&str, &str)]) -> Result<(TypedProgram, String), String> {
    let mut l = MemLoader::new();
    l.add("main.hash", src);
    for (p, t) in extra {
        l.add(p, *t);
    }
    match check_program_with_paths(Path::new("main.hash"), &l, &[]) {
        Ok((p, w)) => {
            let ws = render_diagnostics(Some(&p.sources), &w);
            Ok((p, ws))
        }
        Err(r) => Err(r.render()),
    }
}

fn ok(src: &str) -> TypedProgram {
    match check_files(src, &[]) {
        Ok((p, w)) => {
            // Test programs bind names only to check their types: the unused-variable
            // lints (tested in diagnostics.rs) are expected; any other warning is not.
            let other = w
                .split("\n\n")
                .filter(|d| {
                    !d.is_empty() && !d.contains(", but never read") && !d.contains("is never used")
                })
                .collect::<Vec<_>>();
            assert!(other.is_empty(), "unexpected warnings:\n{w}");
            p
        }
        Err(e) => panic!("expected success, got:\n{e}"),
    }
}

fn err(src: &str) -> String {
    match check_files(src, &[]) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e,
    }
}

fn item<'a>(p: &'a TypedProgram, name: &str) -> &'a TItem {
    p.module(p.root)
        .items
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no item {name}"))
}

fn type_of(p: &TypedProgram, name: &str) -> String {
    match &item(p, name).kind {
        TItemKind::Function { scheme, .. } | TItemKind::Value { scheme, .. } => {
            show_type(p, &scheme.ty)
        }
        _ => panic!("not a value"),
    }
}

// ----- inference --------------------------------------------------------------------

#[test]
fn top_level_polymorphism_and_defaulting() {
    let p = ok(r#"
        id := (x) => x;
        compose := (f, g) => (x) => f(g(x));
        sq := (n) => n * n;
        cat := (a: str, b) => a + b;
        len := (xs) => match xs { [] => 0, [_, ..rest] => 1 + len(rest) };
        pair := (a, b) => (b, a);
        main := () => {
            println(to_str(id(1)) + id("a"));
        };
    "#);
    assert_eq!(type_of(&p, "id"), "(a) -> a");
    assert_eq!(type_of(&p, "compose"), "((a) -> b, (c) -> a) -> (c) -> b");
    assert_eq!(type_of(&p, "sq"), "(i64) -> i64");
    assert_eq!(type_of(&p, "cat"), "(str, str) -> str");
    assert_eq!(type_of(&p, "len"), "(List<a>) -> i64");
    assert_eq!(type_of(&p, "pair"), "(a, b) -> (b, a)");
    assert_eq!(type_of(&p, "main"), "() -> ()");
    assert!(!p.main_returns_i64);
}

#[test]
fn mutual_recursion_in_dependency_order() {
    let p = ok(r#"
        main := () -> i64 => if is_even(10) { 0 } else { 1 };
        is_even := (n) => if n == 0 { true } else { is_odd(n - 1) };
        is_odd := (n) => if n == 0 { false } else { is_even(n - 1) };
        twice := (f, x) => f(f(x));
        use_twice := () => (twice((x) => x + 1, 1), twice((s) => s + "!", "a"));
    "#);
    assert_eq!(type_of(&p, "is_even"), "(i64) -> bool");
    assert_eq!(type_of(&p, "use_twice"), "() -> (i64, str)");
    assert!(p.main_returns_i64);
}

#[test]
fn local_let_polymorphism_and_value_restriction() {
    ok(r#"
        main := () => {
            id := (x) => x;
            pair_up := (x) => (x, x);
            a := id(1) + 2;
            b := id("s") + "t";
            c := pair_up('c');
            empty := [];
            xs := Cons(1, empty);
            ys := Cons("a", empty);
        };
    "#);
    // A mutable local is never generalised.
    let e = err(r#"
        main := () => {
            mut f := (x) => x;
            a := f(1);
            b := f("a");
        };
    "#);
    assert!(
        e.contains("main.hash:5:") && e.contains("expected `i64`, found `str`"),
        "{e}"
    );
    // Expansive values are not generalised either.
    let e = err(r#"
        main := () => {
            cell := array.make(1, []);
            cell[0] = [1];
            cell[0] = ["a"];
        };
    "#);
    assert!(e.contains("main.hash:5:"), "{e}");
}

#[test]
fn local_recursive_closure_captures_itself() {
    let p = ok(r#"
        main := () => {
            fact := (n: i64) -> i64 => if n < 2 { 1 } else { n * fact(n - 1) };
            println(to_str(fact(5)));
        };
    "#);
    let TItemKind::Function { lambda, .. } = &item(&p, "main").kind else {
        panic!()
    };
    let TExprKind::Block(b) = &lambda.body.kind else {
        panic!()
    };
    let TStmt::Let { pat, value } = &b.stmts[0] else {
        panic!()
    };
    let TPatKind::Bind(id) = pat.kind else {
        panic!()
    };
    let TExprKind::Lambda(l) = &value.kind else {
        panic!()
    };
    assert_eq!(l.self_local, Some(id));
    assert_eq!(l.captures, vec![id]);
    assert_eq!(l.name.as_deref(), Some("fact"));
    assert!(p.local(id).captured);
    assert!(!p.local(id).mutable);
}

#[test]
fn captured_mut_locals_are_marked() {
    let p = ok(r#"
        counter := () => {
            mut n := 0;
            k := 10;
            () => {
                n += k;
                n
            }
        };
        main := () => { };
    "#);
    let TItemKind::Function { lambda, .. } = &item(&p, "counter").kind else {
        panic!()
    };
    assert!(
        lambda.captures.is_empty(),
        "top-level functions capture nothing"
    );
    let TExprKind::Block(b) = &lambda.body.kind else {
        panic!()
    };
    let Some(tail) = &b.tail else { panic!() };
    let TExprKind::Lambda(inner) = &tail.kind else {
        panic!()
    };
    let names: Vec<(&str, bool, bool)> = inner
        .captures
        .iter()
        .map(|id| {
            (
                p.local(*id).name.as_str(),
                p.local(*id).mutable,
                p.local(*id).captured,
            )
        })
        .collect();
    assert_eq!(names, vec![("n", true, true), ("k", false, true)]);
    assert_eq!(show_type(&p, &tail.ty), "() -> i64");
}

#[test]
fn numeric_operators_and_errors() {
    ok(r#"
        main := () => {
            a := 1u64 << 3u64;
            b := 1.5 % 2.0;
            c := 2ibig * 3ibig;
            d := ratio.new(1ibig, 2ibig) + ratio.new(1ibig, 3ibig);
            e := ~5 & 3 ^ 1 | 8 >> 1;
            f := "a" + "b";
            g := -(1.0);
            h := 1 < 2 && "a" < "b" && [1] < [2] && (1, 'c') == (1, 'c');
        };
    "#);
    let e = err("main := () => { x := 1; y := 2.5; z := x + y; };");
    assert!(
        e.contains("main.hash:1:40: error: mismatched types")
            && e.contains("no implicit numeric conversions"),
        "{e}"
    );
    let e = err("main := () => { b := true + false; };");
    assert!(
        e.contains("`+` cannot be applied to values of type `bool`"),
        "{e}"
    );
    let e = err("main := () => { b := 1.5 & 2.0; };");
    assert!(e.contains("`&` cannot be applied"), "{e}");
    let e = err("sq := (n) => n * n;\nmain := () => { x := sq(2.5); };");
    assert!(
        e.contains("main.hash:2:25:") && e.contains("expected `i64`, found `f64`"),
        "{e}"
    );
}

#[test]
fn type_errors_point_at_the_right_place() {
    let e = err("main := () => {\n    r := if true { 1 } else { \"one\" };\n};");
    assert!(e.contains("main.hash:2:29: error: `if` and `else` have incompatible types: expected `i64`, found `str`"), "{e}");
    let e = err("add := (a: i64, b: i64) -> i64 => a + b;\nmain := () => { inc := add(1); };");
    assert!(
        e.contains("main.hash:2:24: error: `add` takes 2 arguments but 1 was supplied"),
        "{e}"
    );
    assert!(!e.contains("not a function"), "no cascade: {e}");
    let e = err("main := () => {\n    limit := 10;\n    limit = 20;\n};");
    assert!(
        e.contains("main.hash:3:5: error: cannot assign to `limit`, which is not mutable"),
        "{e}"
    );
    assert!(e.contains("mut limit"), "{e}");
    // Only a struct's fields are mutable: not a tuple's, not an enum payload's.
    let e = err("main := () => {\n    t := (1, 2);\n    t.0 = 5;\n};");
    assert!(
        e.contains("main.hash:3:5: error: only struct fields can be assigned"),
        "{e}"
    );
    let e = err("main := () => {\n    mut t := (1, 2);\n    t.1 += 5;\n};");
    assert!(
        e.contains("main.hash:3:5: error: only struct fields can be assigned"),
        "{e}"
    );
    let e = err("helper := (x: i64) -> i64 => x;\nmain := () => { a := helpr(1); };");
    assert!(
        e.contains("main.hash:2:22: error: cannot find `helpr`") && e.contains("`helper`"),
        "{e}"
    );
    let e = err("f := (xs: List<i64>) -> List<str> => xs;\nmain := () => {};");
    assert!(e.contains("expected `List<str>`, found `List<i64>`"), "{e}");
    let e = err("main := (x: i64) => {};");
    assert!(e.contains("`main` must take no arguments"), "{e}");
    let e = err("main := () => \"s\";");
    assert!(e.contains("`main` must return `()` or `i64`"), "{e}");
    let e = err("f := (x) => x(x);\nmain := () => {};");
    assert!(e.contains("infinite type"), "{e}");
}

#[test]
fn several_errors_in_one_run() {
    let e = err("main := () => {\n    a := 1 + \"x\";\n    b := nope;\n    c := 1 < 2 < 3;\n    d := (1, 2).5;\n};");
    for line in [
        "main.hash:2:",
        "main.hash:3:",
        "main.hash:4:",
        "main.hash:5:",
    ] {
        assert!(e.contains(line), "missing {line} in:\n{e}");
    }
}

// ----- data types, fields, patterns ---------------------------------------------------

#[test]
fn structs_enums_fields_and_named_construction() {
    let p = ok(r#"
        Point := struct(x: f64, y: f64);
        Pair := <A, B> => struct(fst: A, snd: B);
        Tree := <T> => enum(Leaf, Node(Tree<T>, T, Tree<T>));
        norm := (p) => p.x * p.x + p.y * p.y;
        swap := (p) => match p { Pair(a, b) => Pair(b, a) };
        q := () => Point(y = 2.0, x = 1.0);
        depth := (t) => match t { Tree.Leaf => 0, Tree.Node(l, _, r) => 1 + i64.max(depth(l), depth(r)) };
        second := (t: (i64, str)) => t.1;
        main := () => {
            p := q();
            p.x = 3.0;
            p.y += 1.0;
        };
    "#);
    assert_eq!(type_of(&p, "norm"), "(Point) -> f64");
    assert_eq!(type_of(&p, "swap"), "(Pair<a, b>) -> Pair<b, a>");
    assert_eq!(type_of(&p, "depth"), "(Tree<a>) -> i64");
    assert_eq!(type_of(&p, "second"), "((i64, str)) -> str");
    // Named construction is reordered, with the written order kept for evaluation.
    let TItemKind::Function { lambda, .. } = &item(&p, "q").kind else {
        panic!()
    };
    let TExprKind::Ctor {
        ctor,
        args,
        eval_order,
    } = &lambda.body.kind
    else {
        panic!()
    };
    assert_eq!(p.ctor(*ctor).name, "Point");
    assert!(matches!(args[0].kind, TExprKind::Lit(Lit::F64(v)) if v == 1.0));
    assert_eq!(eval_order, &vec![1, 0]);
    // Field accesses resolve to indices.
    let TItemKind::Function { lambda, .. } = &item(&p, "second").kind else {
        panic!()
    };
    assert!(matches!(
        lambda.body.kind,
        TExprKind::Field { index: 1, .. }
    ));
}

#[test]
fn field_access_needs_a_known_type_when_ambiguous() {
    let e = err("A := struct(v: i64);\nB := struct(v: str);\nf := (p) => p.v;\nmain := () => {};");
    assert!(
        e.contains("main.hash:3:15:") && e.contains("cannot infer the type"),
        "{e}"
    );
    let e = err("f := (t) => t.0;\nmain := () => {};");
    assert!(e.contains("cannot infer the type"), "{e}");
    ok("A := struct(v: i64);\nB := struct(v: str);\nf := (p: A) => p.v;\ng := (t: (i64, bool)) => t.1;\nmain := () => {};");
}

#[test]
fn constructors_resolve_qualified_and_unqualified() {
    ok(r#"
        Shape := enum(Circle(f64), Rect(f64, f64), Empty);
        area := (s: Shape) -> f64 => match s { Circle(r) => r * r, Shape.Rect(w, h) => w * h, Empty => 0.0 };
        wrap := () => list.map([1.0, 2.0], Shape.Circle);
        opt := () => (Option.Some(1), Result.Err("e"), None, Nil);
        main := () => {};
    "#);
    let e = err("A := enum(X, Y);\nB := enum(X, Z);\nmain := () => { v := X; };");
    assert!(
        e.contains("ambiguous") && e.contains("main.hash:3:22:"),
        "{e}"
    );
    let e = err("Shape := enum(Circle(f64));\nmain := () => { v := Shape.Square(1.0); };");
    assert!(e.contains("`Shape` has no constructor `Square`"), "{e}");
    let e = err("Shape := enum(Circle(f64));\nmain := () => { v := Shape.Circle(1.0, 2.0); };");
    assert!(e.contains("has 1 field(s), but 2 were given"), "{e}");
}

#[test]
fn patterns_desugar_to_constructors() {
    let p = ok("f := (xs: List<i64>) -> i64 => match xs { [a, b, ..rest] => a + b, [x] => x, [] => 0 };\nmain := () => {};");
    let TItemKind::Function { lambda, .. } = &item(&p, "f").kind else {
        panic!()
    };
    let TExprKind::Match { arms, .. } = &lambda.body.kind else {
        panic!()
    };
    let TPatKind::Ctor { ctor, args } = &arms[0].pat.kind else {
        panic!()
    };
    assert_eq!((ctor.adt, ctor.tag), (AdtId::LIST, 1));
    let TPatKind::Ctor { ctor: c2, args: a2 } = &args[1].kind else {
        panic!()
    };
    assert_eq!(c2.tag, 1);
    assert!(matches!(a2[1].kind, TPatKind::Bind(_)));
    let TPatKind::Ctor { args: a1, .. } = &arms[1].pat.kind else {
        panic!()
    };
    assert!(
        matches!(&a1[1].kind, TPatKind::Ctor { ctor, args } if ctor.tag == 0 && args.is_empty())
    );
}

#[test]
fn or_patterns_share_locals() {
    let p = ok("S := enum(A(i64), B(i64), C);\nf := (s: S) -> i64 => match s { S.A(n) | S.B(n) => n, S.C => 0 };\nmain := () => {};");
    let TItemKind::Function { lambda, .. } = &item(&p, "f").kind else {
        panic!()
    };
    let TExprKind::Match { arms, .. } = &lambda.body.kind else {
        panic!()
    };
    let TPatKind::Or(alts) = &arms[0].pat.kind else {
        panic!()
    };
    let mut b0 = Vec::new();
    let mut b1 = Vec::new();
    alts[0].bindings(&mut b0);
    alts[1].bindings(&mut b1);
    assert_eq!(b0, b1);
    let e = err("S := enum(A(i64), B(i64));\nf := (s: S) -> i64 => match s { S.A(n) | S.B(m) => 0 };\nmain := () => {};");
    assert!(e.contains("not bound in"), "{e}");
}

#[test]
fn for_loops_know_what_they_iterate() {
    let p = ok(r#"
        main := () => {
            mut t := 0;
            for i in 0..=3 { t += i; }
            for x in [1, 2] { t += x; }
            for y in array.make(2, 5) { t += y; }
            for (a, b) in [(1, 2)] { t += a * b; }
        };
    "#);
    let TItemKind::Function { lambda, .. } = &item(&p, "main").kind else {
        panic!()
    };
    let TExprKind::Block(b) = &lambda.body.kind else {
        panic!()
    };
    let exprs = b.stmts.iter().filter_map(|s| match s {
        TStmt::Expr(e) => Some(e),
        _ => None,
    });
    let kinds: Vec<&str> = exprs
        .chain(b.tail.as_deref())
        .filter_map(|e| match e {
            TExpr {
                kind: TExprKind::For { iter, .. },
                ..
            } => Some(match iter {
                TForIter::Range {
                    inclusive: true, ..
                } => "range=",
                TForIter::Range { .. } => "range",
                TForIter::List(_) => "list",
                TForIter::Array(_) => "array",
            }),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec!["range=", "list", "array", "list"]);
    let e = err("main := () => { for c in \"abc\" { } };");
    assert!(
        e.contains("cannot iterate over a value of type `str`"),
        "{e}"
    );
}

#[test]
fn loops_breaks_and_returns() {
    ok(r#"
        f := () -> i64 => loop { return 5; };
        g := (xs: List<i64>) -> i64 => { for x in xs { if x < 0 { return x; } } 0 };
        main := () => { loop { break; } while true { continue; } };
    "#);
    let e = err("main := () => { break; };");
    assert!(e.contains("`break` outside of a loop"), "{e}");
    let e = err("X := return 1;\nmain := () => {};");
    assert!(e.contains("`return` outside of a function"), "{e}");
    let e = err("main := () => { loop { f := () => { break; }; } };");
    assert!(e.contains("`break` outside of a loop"), "{e}");
}

// ----- #op and #run -----------------------------------------------------------------------

#[test]
fn op_and_run() {
    let p = ok(r#"
        strlen := (s: str) -> i64 => #op("str.len", s);
        N := #run strlen("abcd");
        main := () => { x := #run (1 + 2); };
    "#);
    let TItemKind::Function { lambda, .. } = &item(&p, "strlen").kind else {
        panic!()
    };
    assert!(
        matches!(&lambda.body.kind, TExprKind::Op { op, args } if op.mnemonic() == "str.len" && args.len() == 1)
    );
    assert!(matches!(
        &item(&p, "N").kind,
        TItemKind::Value {
            expr: TExpr {
                kind: TExprKind::Run(_),
                ..
            },
            ..
        }
    ));
    let e = err("f := (s: str) -> i64 => #op(\"str.lenn\", s);\nmain := () => {};");
    assert!(
        e.contains("unknown instruction `str.lenn`") && e.contains("str.len"),
        "{e}"
    );
    let e = err("f := (s: str) -> i64 => #op(\"str.len\", s, s);\nmain := () => {};");
    assert!(e.contains("takes 1 operand(s), but 2 were given"), "{e}");
    let e = err("f := (s: str) -> i64 => #op(\"jmp\");\nmain := () => {};");
    assert!(e.contains("cannot supply"), "{e}");
}

// ----- modules ------------------------------------------------------------------------------

#[test]
fn modules_members_privacy_and_cycles() {
    let util = "Vec2 := struct(x: i64, y: i64);\nColor := enum(Red, Custom(str));\nscale := (v: Vec2, k: i64) -> Vec2 => Vec2(v.x * k, v.y * k);\n_secret := 1;\n";
    let (p, _) = check_files(
        "u := import(\"lib/util\");\nmain := () => { v: u.Vec2 := u.scale(u.Vec2(1, 2), 3); c := u.Color.Custom(\"x\"); m := match c { u.Color.Red => 0, u.Color.Custom(_) => 1 }; };",
        &[("lib/util.hash", util)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let root = p.module(p.root);
    assert!(root.deps.len() >= 2);
    // The root comes last, after its dependencies.
    assert_eq!(p.modules.last(), Some(&p.root));
    let e = check_files(
        "u := import(\"lib/util\");\nmain := () => { x := u._secret; };",
        &[("lib/util.hash", util)],
    )
    .err()
    .unwrap_or_default();
    assert!(
        e.contains("main.hash:2:") && e.contains("`_secret` is private"),
        "{e}"
    );
    let e = check_files("u := import(\"nowhere\");\nmain := () => {};", &[])
        .err()
        .unwrap_or_default();
    assert!(
        e.contains("main.hash:1:13: error: cannot find the module `nowhere`"),
        "{e}"
    );
    let e = check_files(
        "a := import(\"a\");\nmain := () => {};",
        &[
            ("a.hash", "b := import(\"b\");\nx := 1;"),
            ("b.hash", "a := import(\"a\");\ny := 2;"),
        ],
    )
    .err()
    .unwrap_or_default();
    assert!(
        e.contains("cyclic import") && e.contains("a.hash -> b.hash -> a.hash"),
        "{e}"
    );
    let e = check_files(
        "u := import(\"u\");\nmain := () => { u.nope; };",
        &[("u.hash", "yes := 1;")],
    )
    .err()
    .unwrap_or_default();
    assert!(e.contains("has no member `nope`"), "{e}");
}

#[test]
fn top_level_names_and_initialisation_order() {
    let e = err("a := 1;\na := 2;\nmain := () => {};");
    assert!(
        e.contains("main.hash:2:1: error: `a` is declared twice"),
        "{e}"
    );
    let e = err("A := B + 1;\nB := 2;\nmain := () => {};");
    assert!(
        e.contains("main.hash:1:6: error: `B` is used before it is initialised"),
        "{e}"
    );
    // Functions may be used by values declared before them.
    ok("A := f(1);\nf := (x: i64) -> i64 => x + B;\nB := 2;\nmain := () => {};");
}

#[test]
fn prelude_and_stdlib_names() {
    let p = ok(r#"
        m: Map<str, i64> := map.insert(map.empty(), "a", 1);
        main := () => {
            xs := list.sort([3, 1, 2]);
            s := str.join(list.map(xs, i64.to_str), ",");
            o := map.get(m, "a");
            assert(list.len(xs) == 3, "three");
            v: i64 := panic("never");
        };
    "#);
    assert_eq!(type_of(&p, "m"), "Map<str, i64>");
}

// ----- match checking ---------------------------------------------------------------------

#[test]
fn exhaustiveness_reports_one_missing_pattern() {
    let cases = [
        ("Shape := enum(Circle(f64), Rect(f64, f64), Empty);\nf := (s: Shape) => match s { Shape.Circle(r) => r, Shape.Rect(w, h) => w };", "Shape.Empty"),
        ("f := (xs: List<i64>) => match xs { [] => 0, [x] => x };", "[_, _, ..]"),
        ("f := (b: (bool, bool)) => match b { (true, _) => 0, (false, true) => 1 };", "(false, false)"),
        ("f := (o: Option<Option<i64>>) => match o { None => 0, Some(None) => 1 };", "Some(Some(_))"),
        ("f := (n: i64) => match n { 0..10 => 0, 10..=20 => 1, 21 => 2 };", "-9223372036854775808..=-1"),
        ("f := (n: i64) => match n { -9223372036854775808..=0 => 0 };", "1..=9223372036854775807"),
        ("f := (c: char) => match c { 'a'..='z' => 0 };", "'\\0'..='`'"),
        ("f := (n: u64) => match n { 0u64 => 0 };", "1u64..=18446744073709551615u64"),
        ("f := (s: str) => match s { \"a\" => 0 };", "_"),
        ("f := (x: i64) => match x { y if y > 0 => 0 };", "_"),
        ("P := struct(x: i64, y: bool);\nf := (p: P) => match p { P(_, true) => 0 };", "P(_, false)"),
        ("f := (r: Result<i64, str>) => match r { Ok(_) => 0 };", "Err(_)"),
    ];
    for (src, missing) in cases {
        let full = format!("{src}\nmain := () => {{}};");
        match check_files(&full, &[]) {
            Ok(_) => panic!("accepted:\n{full}"),
            Err(e) => assert!(
                e.contains(&format!("the pattern `{missing}` is not covered")),
                "want `{missing}` in:\n{e}"
            ),
        }
    }
}

#[test]
fn exhaustive_matches_are_accepted() {
    ok(r#"
        S := enum(A, B(bool), C(i64));
        f := (s: S, o: Option<i64>, xs: List<i64>) -> i64 => {
            a := match s { S.A => 0, S.B(true) => 1, S.B(false) => 2, S.C(_) => 3 };
            b := match (o, xs) { (None, _) => 0, (Some(_), []) => 1, (Some(n), [x, ..rest]) => n + x };
            c := match 5 { -9223372036854775808..=-1 => 0, 0 => 1, 1..=9223372036854775807 => 2 };
            d := match 'x' { '\0'..='\u{10FFFF}' => 0 };
            e := match true { true => 0, false => 1 };
            g := match () { () => 0 };
            a + b + c + d + e + g
        };
        main := () => {};
    "#);
}

#[test]
fn unreachable_arms_are_warnings() {
    let (_, w) = check_files(
        "f := (n: i64) => match n { 0..=20 => 0, 5..10 => 1, 15 => 2, x if x > 0 => 3, _ => 4, 7 => 5 };\nmain := () => {};",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for col in ["1:41:", "1:53:", "1:87:"] {
        assert!(
            w.contains(&format!("main.hash:{col} warning: unreachable pattern")),
            "want {col} in:\n{w}"
        );
    }
    assert_eq!(w.matches("warning:").count(), 3, "{w}");
    let (_, w) = check_files(
        "f := (o: Option<bool>) => match o { Some(true) | None => 0, Some(_) => 1, Some(false) => 2 };\nmain := () => {};",
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.matches("warning:").count(), 1, "{w}");
}

#[test]
fn refutable_bindings_are_errors() {
    let e = err("main := () => { Some(x) := Some(1); };");
    assert!(
        e.contains("refutable pattern") && e.contains("`None` is not covered"),
        "{e}"
    );
    ok("P := struct(a: i64, b: str);\nmain := () => { P(a, b) := P(1, \"x\"); ((c, d), e) := ((1, 2), 3); };");
}

#[test]
fn long_chains_are_fine() {
    let sum = format!(
        "main := () => {{ x := 1{}; s := \"a\"{}; }};",
        " + 1".repeat(3000),
        " + \"b\"".repeat(3000)
    );
    ok(&sum);
    let nested = format!(
        "main := () => {{ x := {}1{}; }};",
        "(".repeat(200),
        ")".repeat(200)
    );
    ok(&nested);
}

#[test]
fn every_stdlib_module_checks_cleanly() {
    let mut src = String::new();
    for m in hashvm_stdlib::MODULES {
        src.push_str(&format!("_m_{m} := import(\"{m}\");\n"));
    }
    src.push_str("main := () => {};\n");
    let p = ok(&src);
    // Every bundled module was loaded, and each has a documented item per function.
    for m in hashvm_stdlib::MODULES {
        let text = hashvm_stdlib::source(m).unwrap_or_default();
        let module = p
            .modules_by_id
            .iter()
            .find(|md| md.name == format!("<stdlib>/{m}.hash"))
            .unwrap_or_else(|| panic!("module {m} not loaded"));
        for it in &module.items {
            if it.exported {
                let decl = format!("\n{} :=", it.name);
                let pos = text
                    .find(&decl)
                    .unwrap_or_else(|| panic!("{m}.{} not found", it.name));
                let before = &text[..pos];
                let last_line = before.lines().last().unwrap_or("");
                assert!(
                    last_line.trim_start().starts_with("///"),
                    "{m}.{} has no doc comment",
                    it.name
                );
            }
        }
    }
}

#[test]
fn stdlib_covers_the_contract() {
    let want: &[(&str, &str)] = &[
        ("prelude", "print println eprintln to_str panic assert"),
        ("i64", "to_f64 to_u64 to_ibig to_str parse abs min max pow MAX MIN"),
        ("u64", "to_i64 to_f64 to_str parse MAX"),
        ("f64", "to_i64 sqrt floor ceil round abs exp log sin cos tan asin acos atan atan2 pow is_nan parse PI INFINITY NAN fmt"),
        ("ibig", "from_i64 to_i64 pow gcd abs divmod isqrt to_str parse"),
        ("ratio", "new num den to_f64 to_str"),
        ("char", "code from_code is_digit is_alpha is_space is_upper is_lower to_upper to_lower"),
        ("str", "len char_count chars from_chars from_char slice concat join split lines trim contains starts_with ends_with find replace repeat to_upper to_lower reverse"),
        ("list", "len map filter foldl foldr iter reverse append concat range nth head tail take drop zip any all find sum sort sort_by to_array"),
        ("array", "make init len copy fill map fold to_list from_list sort swap"),
        ("map", "empty insert get remove contains len to_list fold keys values"),
        ("io", "read_line read_all read_file write_file append_file file_exists remove_file list_dir args env exit clock time flush"),
    ];
    for (m, names) in want {
        let text = hashvm_stdlib::source(m).unwrap_or_default();
        for n in names.split_whitespace() {
            assert!(text.contains(&format!("\n{n} :=")), "{m}.{n} is missing");
        }
    }
}

#[test]
fn run_cannot_use_locals() {
    ok("f := (n: i64) -> i64 => n * 2;\nN := #run f(3);\nmain := () => { x := #run { y := 2; f(y) }; };");
    let e = err("main := () => {\n    x := 5;\n    y := #run (x + 1);\n};");
    assert!(
        e.contains("main.hash:3:16: error: `#run` cannot use the local variable `x`"),
        "{e}"
    );
}

#[test]
fn helpful_messages_for_common_slips() {
    let e = err("main := () => {\n    total = 5;\n};");
    assert!(
        e.contains("main.hash:2:5: error: cannot find `total`") && e.contains("total := ..."),
        "{e}"
    );
    let e = err("main := () => {\n    let x = 5;\n    y := 1;\n    y = 2;\n};");
    assert!(e.contains("main.hash:2:5: error: Hash has no `let`"), "{e}");
    assert!(e.contains("main.hash:4:5:"), "recovery continues: {e}");
}

#[test]
fn big_matches_are_checked() {
    let arms: String = (0..600).map(|i| format!("\"w{i}\" => {i}, ")).collect();
    let e = err(&format!(
        "f := (s: str) -> i64 => match s {{ {arms} }};\nmain := () => {{}};"
    ));
    assert!(e.contains("the pattern `_` is not covered"), "{e}");
    let (_, w) = check_files(&format!("f := (s: str) -> i64 => match s {{ {arms} \"w7\" => 0, _ => -1 }};\nmain := () => {{}};"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.matches("warning: unreachable pattern").count(), 1, "{w}");
    let ints: String = (0..600).map(|i| format!("{i} => {i}, ")).collect();
    let e = err(&format!(
        "f := (n: i64) -> i64 => match n {{ {ints} }};\nmain := () => {{}};"
    ));
    assert!(e.contains("-9223372036854775808..=-1"), "{e}");
}

#[test]
fn syntax_errors_do_not_cascade_into_unbound_names() {
    let e = err("A := (1 + ;\nmain := () => {\n    x := [1, 2;\n    y := x;\n    z := A;\n};");
    assert!(!e.contains("cannot find"), "{e}");
    assert_eq!(e.matches("error:").count(), 2, "{e}");
}

#[test]
fn foreign_declarations_are_typed() {
    let p = ok("cos := #foreign(\"libm.so.6\", \"cos\") (x: f64) -> f64;\n\
        pid := #foreign(\"libc.so.6\", \"getpid\") () -> i32;\n\
        env := #foreign(\"libc.so.6\", \"getenv\") (name: str) -> ptr;\n\
        srand := #foreign(\"libc.so.6\", \"srand\") (seed: i32) -> ();\n\
        main := () => { srand(pid()); println(to_str(cos(1.0)) + to_str(env(\"X\"))); };");
    assert_eq!(type_of(&p, "cos"), "(f64) -> f64");
    assert_eq!(type_of(&p, "pid"), "() -> i64");
    assert_eq!(type_of(&p, "env"), "(str) -> ptr");
    assert_eq!(type_of(&p, "srand"), "(i64) -> ()");
    let e = err("f := #foreign(\"l\", \"f\") (x: List<i64>) -> f64;\nmain := () => {};");
    assert!(
        e.contains("main.hash:1:29: error: a foreign parameter cannot have this type"),
        "{e}"
    );
    let e = err("f := #foreign(\"l\", \"f\") (x: i64) -> (i64, i64);\nmain := () => {};");
    assert!(
        e.contains("error: a foreign result cannot have this type"),
        "{e}"
    );
    let e = err("f := #foreign(\"l\", \"f\") (x: f64) -> f64;\nmain := () => { f(1); };");
    assert!(e.contains("main.hash:2:19:"), "{e}");
    let e = err(&format!(
        "f := #foreign(\"l\", \"f\") ({}) -> ();\nmain := () => {{}};",
        (0..7)
            .map(|i| format!("a{i}: i64"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    assert!(
        e.contains("a foreign function takes at most 6 integer-class and 8 f64 parameters"),
        "{e}"
    );
}
