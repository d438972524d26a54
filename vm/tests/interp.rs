//! Interpreter tests built with the Rust builder API.

mod common;
use common::*;
use hashvm_format::*;

fn fib_module(n: i32) -> Module {
    let mut mb = ModuleBuilder::new();
    let nl = mb.add_global("nl", GlobalInit::Const(Const::Str("\n".into())));
    let fib = mb.declare_function("fib");
    let mut f = FunctionBuilder::new("fib", 1, 0);
    let big = f.new_label();
    f.emit(Op::JGeIImm, [a(s(0)), a(imm(2)), l(big)]);
    f.op(Op::Ret, [s(0)]);
    f.bind(big);
    f.op(Op::SubIImm, [s(1), s(0), imm(1)]);
    f.op(Op::CallSelf, [s(1), s(1), cnt(1)]);
    f.op(Op::SubIImm, [s(2), s(0), imm(2)]);
    f.op(Op::CallSelf, [s(2), s(2), cnt(1)]);
    f.op(Op::AddI64, [s(1), s(1), s(2)]);
    f.op(Op::Ret, [s(1)]);
    mb.define_function(fib, f).unwrap();
    let mut m = FunctionBuilder::new("main", 0, 0);
    m.op(Op::LoadI, [s(0), imm(n)]);
    m.op(Op::CallK, [s(0), Operand::Func(fib), s(0), cnt(1)]);
    m.op(Op::ToStr, [s(0), s(0)]);
    m.op(Op::Print, [s(0)]);
    m.op(Op::LoadG, [s(0), Operand::Global(nl)]);
    m.op(Op::Print, [s(0)]);
    m.op(Op::RetU, []);
    executable(mb, m)
}

#[test]
fn fib_runs() {
    let (out, r) = run(&fib_module(20));
    assert_eq!(r, Ok(0));
    assert_eq!(out, "6765\n");
}

#[test]
fn fib_under_gc_stress() {
    let (out, r) = run_with(&fib_module(10), stress());
    assert_eq!(r, Ok(0));
    assert_eq!(out, "55\n");
}

/// Builds a list 0..n with cons in a loop, prints it, reverses it, prints the length.
fn list_module(n: i32) -> Module {
    let mb = ModuleBuilder::new();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    let done = m.new_label();
    m.op(Op::LoadNil, [s(0)]);
    m.op(Op::LoadI, [s(1), imm(n)]);
    m.bind(top);
    m.emit(Op::JLeIImm, [a(s(1)), a(imm(0)), l(done)]);
    m.op(Op::SubIImm, [s(1), s(1), imm(1)]);
    m.op(Op::Cons, [s(0), s(1), s(0)]);
    m.emit(Op::Loop, [l(top)]);
    m.bind(done);
    m.op(Op::ToStr, [s(2), s(0)]);
    m.op(Op::Print, [s(2)]);
    m.op(Op::ListRev, [s(0), s(0)]);
    m.op(Op::ListLen, [s(2), s(0)]);
    m.op(Op::Ret, [s(2)]);
    executable(mb, m)
}

#[test]
fn lists_and_exit_status() {
    let (out, r) = run(&list_module(5));
    assert_eq!(out, "[0, 1, 2, 3, 4]");
    assert_eq!(r, Ok(5));
    let (out, r) = run_with(&list_module(50), stress());
    assert!(out.starts_with("[0, 1, 2"));
    assert_eq!(r, Ok(50));
}

#[test]
fn division_by_zero_faults_with_trace() {
    let mut mb = ModuleBuilder::new();
    let file = mb.file("t.hash");
    let mut m = FunctionBuilder::new("main", 0, 0);
    m.set_location(file, 3, 1);
    m.op(Op::LoadI, [s(0), imm(1)]);
    m.op(Op::LoadI, [s(1), imm(0)]);
    m.set_location(file, 4, 5);
    m.op(Op::DivI64, [s(0), s(0), s(1)]);
    m.op(Op::Ret, [s(0)]);
    let (_, r) = run(&executable(mb, m));
    let e = r.unwrap_err();
    assert!(e.contains("error: t.hash:4:5: division by zero"), "{e}");
    assert!(e.contains("at main (t.hash:4:5)"), "{e}");
}

/// add3(a, b, c) = a + b + c applied partially, then over-applied through a function
/// returning a function.
#[test]
fn partial_and_over_application() {
    let mut mb = ModuleBuilder::new();
    let mut add3 = FunctionBuilder::new("add3", 3, 0);
    add3.op(Op::AddI64, [s(0), s(0), s(1)]);
    add3.op(Op::AddI64, [s(0), s(0), s(2)]);
    add3.op(Op::Ret, [s(0)]);
    let add3 = mb.add_function(add3).unwrap();
    // mk(x) returns the partial application add3(x)
    let mut mk = FunctionBuilder::new("mk", 1, 0);
    mk.op(Op::LoadFn, [s(1), Operand::Func(add3)]);
    mk.op(Op::Mov, [s(2), s(0)]);
    mk.op(Op::Call, [s(0), s(1), s(2), cnt(1)]);
    mk.op(Op::Ret, [s(0)]);
    let mk = mb.add_function(mk).unwrap();
    let mut m = FunctionBuilder::new("main", 0, 0);
    // p = add3(1) ; q = p(2) ; r = q(3) -> 6
    m.op(Op::LoadFn, [s(0), Operand::Func(add3)]);
    m.op(Op::LoadI, [s(1), imm(1)]);
    m.op(Op::Call, [s(2), s(0), s(1), cnt(1)]);
    m.op(Op::LoadI, [s(3), imm(2)]);
    m.op(Op::Call, [s(3), s(2), s(3), cnt(1)]);
    m.op(Op::LoadI, [s(4), imm(3)]);
    m.op(Op::Call, [s(4), s(3), s(4), cnt(1)]);
    // over-application: mk(10, 20, 30) -> add3(10)(20, 30) = 60
    m.op(Op::LoadFn, [s(5), Operand::Func(mk)]);
    m.op(Op::LoadI, [s(6), imm(10)]);
    m.op(Op::LoadI, [s(7), imm(20)]);
    m.op(Op::LoadI, [s(8), imm(30)]);
    m.op(Op::Call, [s(6), s(5), s(6), cnt(3)]);
    m.op(Op::AddI64, [s(0), s(4), s(6)]);
    m.op(Op::Ret, [s(0)]);
    let md = executable(mb, m);
    assert_eq!(run(&md).1, Ok(66));
    assert_eq!(run_with(&md, stress()).1, Ok(66));
}

/// A million nested non-tail calls: depth(n) = if n == 0 { 0 } else { 1 + depth(n-1) }.
#[test]
fn deep_recursion() {
    let mut mb = ModuleBuilder::new();
    let mut f = FunctionBuilder::new("depth", 1, 0);
    let rec = f.new_label();
    f.emit(Op::JNeIImm, [a(s(0)), a(imm(0)), l(rec)]);
    f.op(Op::Ret, [s(0)]);
    f.bind(rec);
    f.op(Op::SubIImm, [s(1), s(0), imm(1)]);
    f.op(Op::CallSelf, [s(1), s(1), cnt(1)]);
    f.op(Op::AddIImm, [s(1), s(1), imm(1)]);
    f.op(Op::Ret, [s(1)]);
    let d = mb.add_function(f).unwrap();
    let mut m = FunctionBuilder::new("main", 0, 0);
    m.op(Op::LoadI, [s(0), imm(1_000_000)]);
    m.op(Op::CallK, [s(0), Operand::Func(d), s(0), cnt(1)]);
    m.op(Op::SubIImm, [s(0), s(0), imm(1_000_000 - 7)]);
    m.op(Op::Ret, [s(0)]);
    assert_eq!(run(&executable(mb, m)).1, Ok(7));
}

/// list.map, list.filter and list.foldr call bytecode closures without Rust recursion.
fn list_ops_module(n: i32, print: bool) -> Module {
    let mut mb = ModuleBuilder::new();
    let mut dbl = FunctionBuilder::new("dbl", 1, 0);
    dbl.op(Op::AddI64, [s(0), s(0), s(0)]);
    dbl.op(Op::Ret, [s(0)]);
    let dbl = mb.add_function(dbl).unwrap();
    let mut big = FunctionBuilder::new("big", 1, 0);
    big.op(Op::LoadI, [s(1), imm(2)]);
    big.op(Op::LtI64, [s(0), s(1), s(0)]);
    big.op(Op::Ret, [s(0)]);
    let big = mb.add_function(big).unwrap();
    let mut sub = FunctionBuilder::new("sub", 2, 0);
    sub.op(Op::SubI64, [s(0), s(0), s(1)]);
    sub.op(Op::Ret, [s(0)]);
    let sub = mb.add_function(sub).unwrap();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    let done = m.new_label();
    m.op(Op::LoadNil, [s(0)]);
    m.op(Op::LoadI, [s(1), imm(n)]);
    m.bind(top);
    m.emit(Op::JLeIImm, [a(s(1)), a(imm(0)), l(done)]);
    m.op(Op::Cons, [s(0), s(1), s(0)]);
    m.op(Op::SubIImm, [s(1), s(1), imm(1)]);
    m.emit(Op::Loop, [l(top)]);
    m.bind(done);
    m.op(Op::LoadFn, [s(2), Operand::Func(dbl)]);
    m.op(Op::ListMap, [s(3), s(0), s(2)]);
    m.op(Op::LoadFn, [s(2), Operand::Func(big)]);
    m.op(Op::ListFilter, [s(4), s(0), s(2)]);
    m.op(Op::LoadFn, [s(2), Operand::Func(sub)]);
    m.op(Op::LoadI, [s(5), imm(0)]);
    m.op(Op::ListFoldr, [s(5), s(0), s(5), s(2)]);
    if print {
        m.op(Op::Tuple, [s(6), s(3), cnt(3)]);
        m.op(Op::ToStr, [s(6), s(6)]);
        m.op(Op::Print, [s(6)]);
    }
    m.op(Op::ListLen, [s(7), s(4)]);
    m.op(Op::Ret, [s(7)]);
    executable(mb, m)
}

#[test]
fn native_list_functions() {
    let (out, r) = run(&list_ops_module(3, true));
    assert_eq!(out, "([2, 4, 6], [3], 2)");
    assert_eq!(r, Ok(1));
    let (out, r) = run_with(&list_ops_module(6, true), stress());
    assert_eq!(out, "([2, 4, 6, 8, 10, 12], [3, 4, 5, 6], -3)");
    assert_eq!(r, Ok(4));
    // A million elements: no stack growth, filter keeps n - 2.
    let (_, r) = run(&list_ops_module(1_000_000, false));
    assert_eq!(r, Ok(1_000_000 - 2));
}

/// An interrupt flag set before running stops an infinite loop with "interrupted".
#[test]
fn interrupt_stops_an_infinite_loop() {
    let mb = ModuleBuilder::new();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    m.bind(top);
    m.emit(Op::Loop, [l(top)]);
    let md = executable(mb, m);
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut vm = hashvm_vm::Vm::new(hashvm_vm::Config::default());
    vm.set_interrupt(Some(flag.clone()));
    let f2 = flag.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        f2.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    match hashvm_vm::run_program(&mut vm, verify(&md).expect("verifies")) {
        hashvm_vm::Outcome::Error(e) => assert!(e.message.contains("interrupted")),
        other => panic!("{other:?}"),
    }
    t.join().unwrap();
}

/// Regression (issue 11): a host call pushed its HOST frame without initialising the
/// frame's scratch slots, which the collector scans. The first call leaves tuples in
/// slots 1..3 above the host frame's base; a collection while no code runs (here
/// `new_str`) leaves them dangling; the second call's host frame covered them, and
/// its 1-slot function's allocation made the collector read them (a panic on a
/// dangling root in stress mode, garbage otherwise).
#[test]
fn regress_gc_host_frame_scratch() {
    let src = "
.module executable
.func dirty/0 slots=4
    loadi r0, 1
    tuple r1, r0, 1
    tuple r2, r0, 1
    tuple r3, r0, 1
    retu
.end
.func fresh/0 slots=1
    loadi r0, 5
    tuple r0, r0, 1
    ret r0
.end
.entry dirty
";
    let m = hashvm_format::hasm::assemble(src, "host.hasm").expect("assembles");
    let m = verify(&m).expect("verifies");
    for config in [hashvm_vm::Config::default(), stress()] {
        let mut vm = hashvm_vm::Vm::new(config);
        vm.load(m).expect("loads");
        vm.call(hashvm_vm::Value::func(0), &[]).expect("dirty runs");
        vm.new_str("a collection with no frame live")
            .expect("allocates");
        let v = vm.call(hashvm_vm::Value::func(1), &[]).expect("fresh runs");
        assert_eq!(vm.display(v), "(5,)");
    }
}

/// Regression (issue 11): a builder module reading global 100000 used to load and
/// reach an unchecked slice access. Loading now takes a `Verified` module (the
/// compile_fail doc tests of `Vm::load` and `Verified` show that nothing else
/// loads), and the verifier rejects this one.
#[test]
fn unverified_module_cannot_be_loaded() {
    let mut m = FunctionBuilder::new("main", 0, 0);
    m.op(Op::LoadG, [s(0), Operand::Global(100_000)]);
    m.op(Op::Ret, [s(0)]);
    let md = executable(ModuleBuilder::new(), m);
    let e = verify(&md).expect_err("an out-of-range global must not verify");
    assert!(e.to_string().contains("global"), "{e}");
}

/// A verified object that still imports something does not load: the verifier skips
/// checks on imported types (their constructors are unknown until linked).
#[test]
fn unlinked_object_does_not_load() {
    let src = r#"
.module linkable
.type import "lib::T"
.global g import "lib::g"
.func f/0 slots=1
    retu
.end
"#;
    let m = hashvm_format::hasm::assemble(src, "obj.hasm").expect("assembles");
    let mut vm = hashvm_vm::Vm::new(hashvm_vm::Config::default());
    match vm.load(verify(&m).expect("verifies")) {
        Err(hashvm_vm::Trap::Error(e)) => assert!(e.message.contains("unresolved imports")),
        other => panic!("{other:?}"),
    }
}

/// `Vm::call` refuses values that cannot belong to the machine: a function index out
/// of range, an object not in the current heap space.
#[test]
fn call_refuses_foreign_values() {
    let src = "
.module executable
.func main/0 slots=1
    retu
.end
.entry main
";
    let m = hashvm_format::hasm::assemble(src, "main.hasm").expect("assembles");
    let m = verify(&m).expect("verifies");
    let mut other = hashvm_vm::Vm::new(hashvm_vm::Config::default());
    let foreign = other.new_str("from another machine").unwrap();
    let mut vm = hashvm_vm::Vm::new(hashvm_vm::Config::default());
    vm.load(m).expect("loads");
    for (f, args) in [
        (hashvm_vm::Value::func(7), vec![]),
        (hashvm_vm::Value::func(0), vec![foreign]),
        (foreign, vec![]),
    ] {
        match vm.call(f, &args) {
            Err(hashvm_vm::Trap::Error(e)) => assert!(e.message.contains("not valid"), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(vm.display(foreign), "<invalid value>");
    assert_eq!(
        vm.call(hashvm_vm::Value::func(0), &[]).ok(),
        Some(hashvm_vm::Value::UNIT)
    );
}
