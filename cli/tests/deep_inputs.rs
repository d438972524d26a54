//! No input overflows the Rust stack of the compiler, the verifier or the VM: deeply
//! nested or very long source, huge constants, and deep structures printed and compared
//! at run time. Everything runs on a 2 MiB thread (the stack size of a `cargo test`
//! thread, and a realistic one for an embedding), through the whole pipeline: front
//! end, code generation, `#run`, verification and the VM. A case either works or ends
//! with a clean error; a stack overflow would abort the whole test process.

mod common;
use common::Buf;
use hashvm_compiler::driver::{compile_source, Options};
use hashvm_vm::{run_program, Config, Outcome, Vm};

/// Compiles and runs `src` on a thread with a 2 MiB stack: the program's output, or
/// the compile or runtime error text.
fn pipeline(src: String) -> Result<String, String> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let c =
                compile_source("deep.hash", &src, &Options::default()).map_err(|f| f.rendered)?;
            let verified = hashvm_format::verify(&c.module).map_err(|e| format!("verify: {e}"))?;
            let mut vm = Vm::new(Config::default());
            let buf = Buf::default();
            vm.set_output(Box::new(buf.clone()));
            let outcome = run_program(&mut vm, verified);
            drop(vm);
            let out = String::from_utf8_lossy(&buf.0.borrow()).into_owned();
            match outcome {
                Outcome::Exit(0) => Ok(out),
                Outcome::Exit(c) => Err(format!("exit {c}")),
                Outcome::Error(e) => Err(e.to_string()),
            }
        })
        .expect("spawn")
        .join()
        .expect("the pipeline panicked")
}

fn ok(src: String, want: &str) {
    let short: String = src.chars().take(80).collect();
    assert_eq!(pipeline(src).as_deref(), Ok(want), "on {short}...");
}

fn err(src: String, want: &str) {
    let short: String = src.chars().take(80).collect();
    match pipeline(src) {
        Err(e) => assert!(e.contains(want), "on {short}...: {e}"),
        Ok(o) => panic!("on {short}...: expected an error containing {want:?}, got {o:?}"),
    }
}

#[test]
fn deep_nesting_in_source_is_a_clean_error() {
    let deep = 100_000;
    err(
        format!(
            "main := () => {{ x := {}1{}; println(to_str(x)); }};",
            "(".repeat(deep),
            ")".repeat(deep)
        ),
        "nesting too deep",
    );
    err(
        format!(
            "main := () => {{ x := {}1{}; }};",
            "[".repeat(deep),
            "]".repeat(deep)
        ),
        "nesting too deep",
    );
    err(
        format!("main := () => {{ x := 1{}; }};", " + 1".repeat(deep)),
        "nesting too deep",
    );
}

#[test]
fn nesting_just_inside_the_limits_compiles_and_runs() {
    // Depth and chain lengths just below the parser's limits go through type checking,
    // code generation and the VM on a small stack.
    let n = hashvm_compiler::parser::MAX_DEPTH as usize - 8;
    ok(
        format!(
            "main := () => {{ x := {}1{}; println(to_str(x)); }};",
            "(".repeat(n),
            ")".repeat(n)
        ),
        "1\n",
    );
    ok(
        format!(
            "main := () => {{ x := {}1{}; println(to_str(x)); }};",
            "[".repeat(n),
            "]".repeat(n)
        ),
        &format!("{}1{}\n", "[".repeat(n), "]".repeat(n)),
    );
    ok(
        format!(
            "main := () => {{ x := {}1{}; println(to_str(x)); }};",
            "Some(".repeat(n),
            ")".repeat(n)
        ),
        &format!("{}1{}\n", "Some(".repeat(n), ")".repeat(n)),
    );
    let links = hashvm_compiler::parser::MAX_CHAIN as usize - 8;
    ok(
        format!(
            "f := (y: i64) -> i64 => y{};\nmain := () => {{ println(to_str(f(1))); }};",
            " + y".repeat(links)
        ),
        &format!("{}\n", links + 1),
    );
    ok(
        format!(
            "main := () => {{ x := 1{}; println(to_str(x)); }};",
            " + 1".repeat(links)
        ),
        &format!("{}\n", links + 1),
    );
    ok(
        format!(
            "main := () => {{ s := \"a\"{}; println(to_str(str.len(s))); }};",
            " + \"a\"".repeat(links)
        ),
        &format!("{}\n", links + 1),
    );
    ok(
        format!(
            "main := () => {{ x := 3; y := if x == 0 {{ 0 }}{} else {{ 1 }}; println(to_str(y)); }};",
            " else if x == 1 { 1 }".repeat(n)
        ),
        "1\n",
    );
}

#[test]
fn long_flat_source_compiles_and_runs() {
    let n = 100_000;
    // A list literal (more elements than a frame has slots), a block of statements, a
    // match with many arms.
    ok(
        format!(
            "main := () => {{ xs := [{}]; println(to_str(list.len(xs))); }};",
            "1, ".repeat(n)
        ),
        &format!("{n}\n"),
    );
    ok(
        format!(
            "main := () => {{ mut x := 0; {} println(to_str(x)); }};",
            "x += 1; ".repeat(20_000)
        ),
        "20000\n",
    );
    let arms: String = (0..2_000).map(|i| format!("{i} => {i}, ")).collect();
    ok(
        format!("main := () => {{ x := 1999; println(to_str(match x {{ {arms} _ => 0 }})); }};"),
        "1999\n",
    );
    // A tuple needs a slot per element: past a frame's 65 535 slots it is a clean
    // compile error (slot numbers used to overflow in code generation).
    err(
        format!(
            "main := () => {{ t := ({}1); println(to_str(t)); }};",
            "1, ".repeat(70_000)
        ),
        "too large",
    );
    // A string literal of a megabyte.
    ok(
        format!(
            "main := () => {{ println(to_str(str.len(\"{}\"))); }};",
            "x".repeat(1 << 20)
        ),
        &format!("{}\n", 1 << 20),
    );
}

#[test]
fn huge_and_deep_constants() {
    // A million-element list computed at compile time, stored and loaded back.
    ok(
        "XS := #run list.range(0, 1000000);\nmain := () => { println(to_str(list.len(XS)) + \" \" + to_str(list.last(XS))); };".into(),
        "1000000 Some(999999)\n",
    );
    // A structure nested a hundred thousand levels deep at compile time cannot be
    // stored (constants nest at most 1000 levels): a clean compile error.
    err(
        "Tree := enum(Leaf, Node(Tree, i64));\n\
         build := (n: i64) -> Tree => { mut t := Tree.Leaf; for i in 0..n { t = Tree.Node(t, i); } t };\n\
         D := #run build(100000);\n\
         main := () => { println(to_str(D == D)); };\n"
            .into(),
        "nested deeper than 1000 levels",
    );
}

#[test]
fn deep_structures_printed_compared_and_collected_at_run_time() {
    let src = "Tree := enum(Leaf, Node(Tree, i64));\n\
        build := (n: i64) -> Tree => { mut t := Tree.Leaf; for i in 0..n { t = Tree.Node(t, i); } t };\n\
        nest := (n: i64) -> List<List<i64>> => { mut t: List<List<i64>> := []; for i in 0..n { t = Cons(list.range(0, 1), t); } t };\n\
        main := () => {\n\
            a := build(1000000);\n\
            b := build(1000000);\n\
            c := build(999999);\n\
            println(to_str(a == b) + \" \" + to_str(a < c) + \" \" + to_str(c < a) + \" \" + to_str(a != c));\n\
            println(to_str(str.len(to_str(a))));\n\
            println(to_str(str.len(to_str(nest(200000)))));\n\
        };\n";
    let out = pipeline(src.to_string()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    // a and b are equal; c is a's left spine one level shorter, so where c reaches
    // its Leaf, a still has a Node: c < a.
    assert_eq!(lines[0], "true false true true");
    assert!(lines[1].parse::<usize>().unwrap() > 1_000_000, "{out}");
    // 200000 * "[0]" and the separators.
    assert_eq!(lines[2], (200_000 * 3 + 199_999 * 2 + 2).to_string());
}

#[test]
fn deepest_storable_constant_loads_prints_and_compares_on_a_small_stack() {
    use hashvm_format::{Const, Global, GlobalInit, Module};
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut c = Const::I64(1);
            for _ in 0..1000 {
                c = Const::List(vec![c]);
            }
            let m = Module {
                globals: vec![Global {
                    name: "deep".into(),
                    init: GlobalInit::Const(c),
                }],
                ..Module::default()
            };
            let m = hashvm_format::read(&hashvm_format::write(&m)).expect("read back");
            let verified = hashvm_format::verify(&m).expect("verifies");
            let mut vm = Vm::new(Config::default());
            vm.load(verified).expect("loads");
            let v = vm.global(0).expect("global 0");
            assert_eq!(
                vm.display(v),
                format!("{}1{}", "[".repeat(1000), "]".repeat(1000))
            );
            assert!(vm.equal(v, v).expect("comparable"));
        })
        .expect("spawn")
        .join()
        .expect("no panic");
}

#[test]
fn exponentially_growing_item_types_are_a_clean_error() {
    // Each line doubles the type; forty lines used to keep the checker busy for hours.
    let mut src: String = "a0 := (0, 0);\n".into();
    for i in 1..40 {
        src += &format!("a{i} := (a{}, a{});\n", i - 1, i - 1);
    }
    src += "main := () => { println(\"ok\"); };\n";
    err(src, "is too large");
    // The same within one expression: nested calls of a generic function.
    err(
        format!(
            "f := <T> => (x: T) -> (T, T) => (x, x);\nmain := () => {{ x := {}1{}; println(\"ok\"); }};\n",
            "f(".repeat(40),
            ")".repeat(40)
        ),
        "is too large",
    );
    ok(
        format!(
            "f := <T> => (x: T) -> (T, T) => (x, x);\nmain := () => {{ x := {}1{}; println(to_str(x)); }};\n",
            "f(".repeat(2),
            ")".repeat(2)
        ),
        "((1, 1), (1, 1))\n",
    );
    // A big but reasonable type is fine.
    ok(
        "a0 := (0, 0);\na1 := (a0, a0);\na2 := (a1, a1);\na3 := (a2, a2);\nmain := () => { println(to_str(a3)); };\n".into(),
        "((((0, 0), (0, 0)), ((0, 0), (0, 0))), (((0, 0), (0, 0)), ((0, 0), (0, 0))))\n",
    );
}

#[test]
fn a_long_chain_of_nested_types_checks_in_reasonable_time() {
    // `x1 := Some(x0); x2 := Some(x1); ...`: the checker copied a type of depth d d
    // times to resolve it (minutes for a thousand lines; now about a second).
    let n = 1000;
    let mut src: String = "main := () => {\n    x0 := 0;\n".into();
    for i in 1..n {
        src += &format!("    x{i} := Some(x{});\n", i - 1);
    }
    src += &format!("    println(to_str(x{} == x{}));\n}};\n", n - 1, n - 1);
    ok(src, "true\n");
}

#[test]
fn a_very_long_chain_of_nested_types_is_a_clean_error() {
    // Five thousand lines of `x2 := Some(x1)`: every node carries its own copy of a
    // type as deep as its line number, which took 24 s and 4 GB to refuse the
    // program's memory; now the checker stops at its budget of type parts.
    let n = 5000;
    let mut src: String = "main := () => {\n    x0 := 0;\n".into();
    for i in 1..n {
        src += &format!("    x{i} := Some(x{});\n", i - 1);
    }
    src += &format!("    println(to_str(x{} == x{}));\n}};\n", n - 1, n - 1);
    err(src, "types are too large");
}
