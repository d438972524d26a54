//! The micro-benchmark programs compute what they should (so the benchmarks measure
//! real work), also under the GC stress mode.

use hashvm_benches::*;
use hashvm_vm::{run_program, Config, Outcome, Vm};
use rug::Complete;

fn run(m: &hashvm_format::Module, stress: bool) -> i32 {
    let mut vm = Vm::new(Config {
        gc_stress: stress,
        heap_initial: 4096,
        allow_ffi: true,
        ..Config::default()
    });
    match run_program(&mut vm, hashvm_format::verify(m).expect("verifies")) {
        Outcome::Exit(c) => c,
        Outcome::Error(e) => panic!("{e}"),
    }
}

#[test]
fn programs_compute_expected_results() {
    let sum: i64 = (0..1000i64).map(|i| i * 3).sum();
    assert_eq!(run(&arith_loop(1000), false) as i64, sum & 0xff);
    assert_eq!(run(&fib(15), false), 610 & 0xff);
    assert_eq!(run(&alloc_lists(3, 100), true), 100);
    assert_eq!(run(&alloc_lists(20, 5000), false), 5000);
    let digits = rug::Integer::u_pow_u(3, 200).complete().to_string().len() as i32;
    assert_eq!(run(&big_mul(200), true), digits & 0xff);
    #[cfg(all(unix, target_arch = "x86_64"))]
    assert_eq!(
        run(&ffi_loop(1000), true) as i64,
        (0..1000i64).sum::<i64>() & 0xff
    );
}
