//! Criterion benchmarks of the JIT's compile time (`cargo bench -p hashvm-benches
//! --bench jit`): building a trace through the folding/CSE builder, and register
//! allocation plus machine-code emission, for loop bodies of growing length.

use criterion::{criterion_group, criterion_main, Criterion};
use hashvm_jit::ir::{IrOp, IrType, Trace, TraceBuilder};

/// A loop body of `n` dependent integer operations on four slots, with a guard.
fn trace(n: usize) -> Trace {
    let mut b = TraceBuilder::new(0);
    let i = b.sload(0, IrType::I64, 0);
    let lim = b.sload(1, IrType::I64, 0);
    b.guard(IrOp::LtI, i, lim, 0).expect("guard");
    let mut x = b.sload(2, IrType::I64, 0);
    let k = b.sload(3, IrType::I64, 0);
    for j in 0..n {
        let op = [IrOp::AddI, IrOp::MulI, IrOp::XorI, IrOp::SubI][j % 4];
        x = b.arith(op, x, k).expect("arith");
    }
    let one = b.kint(1);
    let i2 = b.arith(IrOp::AddI, i, one).expect("arith");
    b.finish(vec![(0, i2), (2, x)])
}

fn benches(c: &mut Criterion) {
    for n in [8, 64, 256] {
        c.bench_function(&format!("jit/build_trace_{n}"), |b| b.iter(|| trace(n)));
        #[cfg(target_arch = "x86_64")]
        {
            let t = trace(n);
            c.bench_function(&format!("jit/compile_x64_{n}"), |b| {
                b.iter(|| {
                    let ctx = hashvm_jit::x64::Ctx::default();
                    hashvm_jit::x64::compile(&t, ctx).expect("compiles")
                })
            });
        }
    }
}

criterion_group! {
    name = jit;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(jit);
