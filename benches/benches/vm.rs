//! Criterion micro benchmarks of the VM's hot paths (`cargo bench -p hashvm-benches`).

use criterion::{criterion_group, criterion_main, Criterion};
use hashvm_benches::*;
use hashvm_vm::{run_program, Config, Outcome, Vm};

fn run(m: hashvm_format::Verified<'_>) -> i32 {
    let mut vm = Vm::new(Config::default());
    match run_program(&mut vm, m) {
        Outcome::Exit(c) => c,
        Outcome::Error(e) => panic!("{e}"),
    }
}

fn benches(c: &mut Criterion) {
    let m = arith_loop(1_000_000);
    let m = hashvm_format::verify(&m).expect("verifies");
    c.bench_function("dispatch/arith_loop_1M", |b| b.iter(|| run(m)));
    let m = fib(25);
    let m = hashvm_format::verify(&m).expect("verifies");
    c.bench_function("calls/fib_25", |b| b.iter(|| run(m)));
    let m = alloc_lists(100, 10_000);
    let m = hashvm_format::verify(&m).expect("verifies");
    c.bench_function("alloc/lists_100x10k", |b| b.iter(|| run(m)));
    let m = big_mul(2_000);
    let m = hashvm_format::verify(&m).expect("verifies");
    c.bench_function("bigint/mul3_2000", |b| b.iter(|| run(m)));
}

criterion_group! {
    name = vm;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(vm);
