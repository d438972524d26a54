//! Values survive reify → encode → load, sharing and cycles included.

use hashvm_format::*;
use hashvm_vm::reify::ReifyMap;
use hashvm_vm::{Config, Value, Vm};

fn roundtrip(vm: &Vm, v: Value) -> String {
    let id = |x: u32| Some(x);
    let map = ReifyMap {
        func: &id,
        ty: &id,
        global_base: 1,
    };
    let r = vm.reify(v, &map).expect("reify");
    let mut m = Module::default();
    m.globals.push(Global {
        name: "root".into(),
        init: GlobalInit::Const(r.root),
    });
    for c in r.shared {
        m.globals.push(Global {
            name: String::new(),
            init: GlobalInit::Const(c),
        });
    }
    let mut vm2 = Vm::new(Config::default());
    vm2.load(&m).map_err(|e| format!("{e:?}")).expect("load");
    vm2.display(vm2.globals[0])
}

#[test]
fn nested_values_roundtrip() {
    let mut vm = Vm::new(Config::default());
    let s = vm.new_str("hi").unwrap();
    let b = vm
        .new_big(rug::Integer::from(rug::Integer::u_pow_u(10, 30)))
        .unwrap();
    let some = vm.some(s).unwrap();
    let l = vm.new_list(&[Value::i64(1), some, b]).unwrap();
    vm.globals.push(l);
    let t = vm
        .new_data(
            builtin::TUPLE,
            0,
            &[vm.globals[0], Value::f64(2.5), Value::char('x')],
        )
        .unwrap();
    let shown = vm.display(t);
    assert_eq!(
        shown,
        "([1, Some(\"hi\"), 1000000000000000000000000000000], 2.5, 'x')"
    );
    assert_eq!(roundtrip(&vm, t), shown);
}

#[test]
fn shared_and_cyclic_values_roundtrip() {
    let mut vm = Vm::new(Config::default());
    let inner = vm.new_list(&[Value::i64(7)]).unwrap();
    vm.globals.push(inner);
    let t = vm.new_data(builtin::TUPLE, 0, &[inner, inner]).unwrap();
    assert_eq!(roundtrip(&vm, t), "([7], [7])");
    // A ref cell that contains itself.
    let r = vm
        .new_values(hashvm_vm::heap::Kind::REF, 0, 0, &[Value::UNIT])
        .unwrap();
    unsafe { *hashvm_vm::heap::fields(r.ptr()) = r };
    let id = |x: u32| Some(x);
    let map = ReifyMap {
        func: &id,
        ty: &id,
        global_base: 1,
    };
    let out = vm.reify(r, &map).unwrap();
    assert_eq!(out.shared.len(), 1);
    assert_eq!(out.root, Const::Global(1));
}
