//! Loading more code into a running VM (`Vm::link_in`, SPEC.md "Loading code into a
//! running VM"): new code refers to what is loaded by symbol, earlier globals keep
//! their values, libraries are linked once, and bad code is refused with the VM left
//! as it was.

// Unit tests inside the crate: they compare the VM's private tables before and after.
use crate::{Config, Value, Vm};
use hashvm_format::hasm::assemble;
use hashvm_format::link::Resolved;
use hashvm_format::{ExportTarget, Module};

fn asm(src: &str) -> Module {
    assemble(src, "t.hasm").unwrap_or_else(|e| panic!("{e:?}"))
}

fn no_libs(name: &str) -> Result<Resolved, String> {
    panic!("unexpected library lookup for {name}")
}

fn global(vm: &Vm, sym: &str) -> Value {
    match vm.symbol(sym) {
        Some(ExportTarget::Global(g)) => vm.globals[g as usize],
        other => panic!("{sym}: {other:?}"),
    }
}

fn run_inits(vm: &mut Vm, inits: &[u32]) {
    for &f in inits {
        vm.call(Value::func(f), &[])
            .unwrap_or_else(|e| panic!("{e:?}"));
    }
}

const BASE: &str = "
.module linkable
.type T | A | B(x)
.export \"base::T\" type T
.global count uninit
.export \"base::count\" global count
.global bump = fn bump
.export \"base::bump\" global bump
.func init/0 slots=1
    loadi r0, 40
    storeg count, r0
    retu
.end
.init init
; count += 1; returns it
.func bump/0 slots=1
    loadg r0, count
    addi.i64 r0, r0, 1
    storeg count, r0
    ret r0
.end
";

const USER: &str = "
.module linkable
.type import \"base::T\"
.global count import \"base::count\"
.global bump import \"base::bump\"
.global seen uninit
.export \"user::seen\" global seen
.func init/0 slots=2
    loadg r0, bump
    call r1, r0, r0, 0
    storeg seen, r1
    retu
.end
.init init
";

/// `HASHVM_GC_STRESS=1` collects at every allocation (through `Config::default`).
fn config() -> Config {
    Config::default()
}

#[test]
fn new_code_links_against_loaded_code_and_values_persist() {
    let mut vm = Vm::new(config());
    let l = vm
        .link_in(&[("base".into(), asm(BASE))], &mut no_libs)
        .expect("base links");
    run_inits(&mut vm, &l.inits);
    assert_eq!(global(&vm, "base::count").bits as i64, 40);
    let nfuncs = vm.funcs.len();
    let l = vm
        .link_in(&[("user".into(), asm(USER))], &mut no_libs)
        .expect("user links");
    // Only the new code's initialiser: base's is not run again.
    assert_eq!(l.inits.len(), 1);
    assert_eq!(l.first_function as usize, nfuncs);
    run_inits(&mut vm, &l.inits);
    assert_eq!(global(&vm, "user::seen").bits as i64, 41);
    assert_eq!(global(&vm, "base::count").bits as i64, 41);
    assert!(vm.has_library("base") && vm.has_library("user"));
}

#[test]
fn libraries_are_linked_once() {
    let mut lib = asm(BASE);
    lib.libraries.clear();
    let mut user = asm(USER);
    user.libraries.push("base".into());
    let mut asked = 0;
    let mut resolve = |name: &str| -> Result<Resolved, String> {
        asked += 1;
        assert_eq!(name, "base");
        Ok(Some(("base".into(), lib.clone())))
    };
    let mut vm = Vm::new(config());
    let l = vm
        .link_in(&[("user".into(), user.clone())], &mut resolve)
        .expect("links with its library");
    run_inits(&mut vm, &l.inits);
    assert_eq!(global(&vm, "user::seen").bits as i64, 41);
    // A second object needing the same library: not linked (nor asked for) again.
    let mut again = asm(&USER.replace("user::seen", "user2::seen"));
    again.libraries.push("base".into());
    let l = vm
        .link_in(&[("user2".into(), again)], &mut resolve)
        .expect("links against the loaded library");
    run_inits(&mut vm, &l.inits);
    assert_eq!(global(&vm, "user2::seen").bits as i64, 42);
    assert_eq!(asked, 1);
}

#[test]
fn bad_code_is_refused_and_the_vm_is_unchanged() {
    let mut vm = Vm::new(config());
    let l = vm
        .link_in(&[("base".into(), asm(BASE))], &mut no_libs)
        .expect("base links");
    run_inits(&mut vm, &l.inits);
    let (nf, ng, nt) = (vm.funcs.len(), vm.globals.len(), vm.types.len());
    // An unknown symbol.
    let e = vm
        .link_in(
            &[(
                "u".into(),
                asm(".module linkable\n.global g import \"base::nope\"\n"),
            )],
            &mut no_libs,
        )
        .unwrap_err();
    assert!(e.contains("base::nope"), "{e}");
    // A symbol defined twice (the loaded `base::count` again).
    let e = vm
        .link_in(
            &[(
                "v".into(),
                asm(".module linkable\n.global c = 1\n.export \"base::count\" global c\n"),
            )],
            &mut no_libs,
        )
        .unwrap_err();
    assert!(e.contains("base::count"), "{e}");
    // Code the verifier rejects: a constructor of the loaded type with the wrong
    // number of fields (only checkable against the loaded code).
    let bad = ".module linkable\n.type import \"base::T\"\n.global t uninit\n.func f/0 slots=1\n    con r0, \"base::T\", 1, r0, 0\n    storeg t, r0\n    retu\n.end\n.init f\n";
    let e = vm
        .link_in(&[("w".into(), asm(bad))], &mut no_libs)
        .unwrap_err();
    assert!(e.contains("verif"), "{e}");
    assert_eq!(
        (vm.funcs.len(), vm.globals.len(), vm.types.len()),
        (nf, ng, nt)
    );
    assert!(!vm.has_library("u") && !vm.has_library("w"));
    assert_eq!(global(&vm, "base::count").bits as i64, 40);
}
