//! Criterion micro benchmarks of the VM's hot paths (`cargo bench -p hashvm-benches`).
//! Each measures the program's run only: creating the VM, loading the module and
//! running its initialisers happen in the untimed setup of every iteration.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hashvm_benches::*;
use hashvm_format::{Module, Verified};
use hashvm_vm::{Config, Value, Vm};

/// A VM with `m` loaded and initialised, and its entry point.
fn ready(m: Verified<'_>) -> (Vm, Value) {
    let mut vm = Vm::new(Config {
        // Only `ffi/labs_loop_1M` declares a foreign function (C's `labs`).
        allow_ffi: true,
        ..Config::default()
    });
    vm.load(m).expect("loads");
    for &f in &m.inits {
        vm.call(Value::func(f), &[]).expect("initialiser");
    }
    (vm, Value::func(m.entry.expect("an entry point")))
}

fn bench_run(c: &mut Criterion, name: &str, m: &Module) {
    let m = hashvm_format::verify(m).expect("verifies");
    c.bench_function(name, |b| {
        b.iter_batched(
            || ready(m),
            |(mut vm, entry)| vm.call(entry, &[]).expect("runs"),
            BatchSize::PerIteration,
        )
    });
}

fn benches(c: &mut Criterion) {
    bench_run(c, "dispatch/arith_loop_1M", &arith_loop(1_000_000));
    bench_run(c, "calls/fib_25", &fib(25));
    bench_run(c, "alloc/lists_100x10k", &alloc_lists(100, 10_000));
    bench_run(c, "bigint/mul3_2000", &big_mul(2_000));
    bench_run(c, "ffi/labs_loop_1M", &ffi_loop(1_000_000));
    // Loading alone: verification, function tables, constants.
    let m = fib(25);
    c.bench_function("load/verify_and_load_fib", |b| {
        b.iter(|| {
            let v = hashvm_format::verify(&m).expect("verifies");
            let mut vm = Vm::new(Config::default());
            vm.load(v).expect("loads");
            vm
        })
    });
}

criterion_group! {
    name = vm;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(vm);
