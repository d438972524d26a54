//! A cheap, deterministic version of the cargo-fuzz target `jit_diff`: programs from
//! the generator of cli/tests/progen (hot loops, typed arithmetic with faults, arrays,
//! globals, calls, recursion, data values) built from fixed pseudo-random bytes, each
//! run by the interpreter and with the JIT at hotness 1 to 3 (some under GC stress),
//! in process; output, exit status, error and stack trace must be identical.
#![cfg(target_arch = "x86_64")]

mod progen;

/// xorshift64*: the same bytes on every machine and run.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn generated_programs_run_the_same_with_and_without_the_jit() {
    let mut failures = Vec::new();
    for seed in 0..200u64 {
        let data = bytes(seed, 64 + (seed as usize * 7) % 400);
        if let Err(e) = progen::check(&data) {
            failures.push(format!("seed {seed}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 200 differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The same programs compiled ahead of time and run as their native executables run
/// them (`progen::run_native`: the machine code of `hashvm_jit::aot` in this process,
/// the tracing JIT with the program's field kinds under it): output, exit status, error
/// and stack trace must be the interpreter's. The cargo-fuzz target `native_diff` runs
/// the same check on the fuzzer's bytes.
#[test]
fn generated_programs_run_the_same_natively() {
    let (mut failures, mut native) = (Vec::new(), 0);
    for seed in 0..200u64 {
        let data = bytes(seed, 64 + (seed as usize * 7) % 400);
        match progen::check_native(&data) {
            Ok(ran) => native += ran as usize,
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    assert!(
        native >= 100,
        "compiled code entered in only {native} of 200"
    );
    assert!(
        failures.is_empty(),
        "{} of 200 differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The generator's programs are what the comparison needs: they assemble and verify,
/// they loop (so the JIT records traces), and their runs end in all three ways
/// (exit status, runtime error, with output before), and the JIT compiles traces of
/// them and enters them.
#[test]
fn the_generator_makes_verified_looping_programs_that_end_both_ways() {
    let (mut verified, mut exits, mut errors, mut printed) = (0, 0, 0, 0);
    let (mut traces, mut entries) = (0, 0);
    for seed in 0..200u64 {
        let g = progen::generate(&bytes(seed, 64 + (seed as usize * 7) % 400));
        assert!(g.source.contains("loop "), "no loop in\n{}", g.source);
        let m = hashvm_format::hasm::assemble(&g.source, "gen.hasm").expect("assembles");
        let Ok(v) = hashvm_format::verify::verify(&m) else {
            continue;
        };
        verified += 1;
        let r = progen::run(v, None, false);
        let (_, t, e) = progen::run_with_stats(v, Some(1), false);
        traces += t;
        entries += e;
        if r.end.starts_with("exit ") {
            exits += 1;
        } else {
            errors += 1;
        }
        if !r.stdout.is_empty() {
            printed += 1;
        }
    }
    assert_eq!(verified, 200, "every generated program verifies");
    assert!(
        traces >= 100 && entries >= 1000,
        "{traces} traces, {entries} entries"
    );
    eprintln!("{traces} traces compiled, {entries} trace entries, {exits} exits, {errors} errors");
    assert!(
        exits >= 40 && errors >= 20 && printed >= 100,
        "exits {exits}, errors {errors}, printed {printed}"
    );
}
