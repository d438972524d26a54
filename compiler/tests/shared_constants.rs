//! Constant constructor applications (`Node(Empty, Empty)`, `Some([1, 2])`) compile to
//! one shared constant loaded with `loadg`, never a `con` (`ObjectGen::shared_ctor`);
//! structs, and applications with an argument that is not constant, still allocate at
//! every evaluation. Each case checks the emitted code and the program's output.

mod common;

use common::Sink;
use hashvm_compiler::driver::{compile_source, Options};
use hashvm_format::hasm::{disassemble_function, function_index};
use hashvm_format::Module;
use hashvm_vm::{run_program, Config, Outcome, Vm};

/// Compiles `src`: the linked program and its standard output when run.
fn compile_and_run(src: &str) -> (Module, String) {
    let c = compile_source("main.hash", src, &Options::default())
        .unwrap_or_else(|f| panic!("{}", f.rendered));
    let verified = hashvm_format::verify(&c.module).expect("the program verifies");
    let mut vm = Vm::new(Config::default());
    let sink = Sink::default();
    vm.set_output(Box::new(sink.clone()));
    match run_program(&mut vm, verified) {
        Outcome::Exit(0) => {}
        other => panic!("the program failed: {other:?}"),
    }
    let out = String::from_utf8_lossy(&sink.0.borrow()).into_owned();
    (c.module, out)
}

/// The disassembly of function `name`.
fn dis(m: &Module, name: &str) -> String {
    let i = function_index(m, name).unwrap_or_else(|| panic!("no function {name}"));
    disassemble_function(m, i).unwrap_or_default()
}

/// The mnemonics of function `name`'s instructions.
fn ops(m: &Module, name: &str) -> Vec<String> {
    dis(m, name)
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('.') && !l.ends_with(':'))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// The global operand of function `name`'s only `loadg`.
fn loaded_global(m: &Module, name: &str) -> String {
    let text = dis(m, name);
    let loads: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("loadg"))
        .collect();
    assert_eq!(loads.len(), 1, "{name} should load one global:\n{text}");
    let operands = loads[0].split(';').next().unwrap_or("");
    operands.rsplit(',').next().unwrap_or("").trim().to_string()
}

#[test]
fn constant_applications_are_loaded_not_built() {
    let src = r#"
Tree := enum(Empty, Node(Tree, Tree));
Shape := enum(Dot(i64), Label(str, f64, bool, char, u64), Wrap(Option<Shape>));

leaf := () -> Tree => Tree.Node(Tree.Empty, Tree.Empty);
leaf_again := () -> Tree => Tree.Node(Tree.Empty, Tree.Empty);
nested := () -> Option<Shape> => Some(Shape.Wrap(Some(Shape.Label("x", 1.5, true, 'c', 7u64))));
in_list := () -> Option<List<i64>> => Some([1, 2, 3]);
consed := () -> List<Shape> => Cons(Shape.Dot(-4), Cons(Shape.Dot(5), Nil));
result := () -> Result<(), str> => Err("no");

count := (t: Tree) -> i64 => match t {
    Tree.Empty => 0,
    Tree.Node(l, r) => 1 + count(l) + count(r),
};

main := () => {
    println(to_str(count(Tree.Node(leaf(), leaf_again()))));
    println(to_str(nested()));
    println(to_str(in_list()));
    println(to_str(consed()));
    println(to_str(result()));
    println(to_str(leaf() == leaf_again()));
};
"#;
    let (m, out) = compile_and_run(src);
    for f in [
        "leaf",
        "leaf_again",
        "nested",
        "in_list",
        "consed",
        "result",
    ] {
        let ops = ops(&m, f);
        assert!(
            ops.iter()
                .all(|o| o != "con" && o != "con.ret" && o != "cons" && o != "loadnil"),
            "{f} builds its constant:\n{}",
            dis(&m, f)
        );
    }
    // Equal constants of a module are one global.
    assert_eq!(loaded_global(&m, "leaf"), loaded_global(&m, "leaf_again"));
    assert_ne!(loaded_global(&m, "leaf"), loaded_global(&m, "nested"));
    assert_eq!(
        out,
        "3\n\
         Some(Wrap(Some(Label(\"x\", 1.5, true, 'c', 7))))\n\
         Some([1, 2, 3])\n\
         [Dot(-4), Dot(5)]\n\
         Err(\"no\")\n\
         true\n"
    );
}

#[test]
fn mutable_or_varying_values_are_built_every_time() {
    let src = r#"
P := struct(x: i64, y: i64);
Holder := enum(Holds(P), Arr(Array<i64>), Num(i64));

point := () -> P => P(1, 2);
held := () -> Holder => Holder.Holds(P(3, 4));
arr := () -> Holder => Holder.Arr(array.make(2, 0));
num := (n: i64) -> Holder => Holder.Num(n);

main := () => {
    a := point();
    b := point();
    a.x = 10;
    println(to_str(a.x) + " " + to_str(b.x));
    h1 := held();
    h2 := held();
    match h1 {
        Holder.Holds(p) => { p.y = 40; },
        _ => {},
    };
    println(to_str(h1) + " " + to_str(h2));
    r1 := arr();
    r2 := arr();
    match r1 {
        Holder.Arr(xs) => array.set(xs, 0, 9),
        _ => {},
    };
    println(to_str(r1) + " " + to_str(r2));
    println(to_str(num(1)) + " " + to_str(num(2)));
};
"#;
    let (m, out) = compile_and_run(src);
    for f in ["point", "held", "arr", "num"] {
        assert!(
            ops(&m, f).iter().any(|o| o == "con" || o == "con.ret"),
            "{f} must build its value:\n{}",
            dis(&m, f)
        );
    }
    assert_eq!(
        out,
        "10 1\n\
         Holds(P(3, 40)) Holds(P(3, 4))\n\
         Arr(#[9, 0]) Arr(#[0, 0])\n\
         Num(1) Num(2)\n"
    );
}
