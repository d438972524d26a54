//! Robustness: random, truncated, bit-flipped and spliced byte strings fed to the
//! reader, the verifier, the disassembler (and back through the assembler) and the
//! linker must never panic, and every accepted file must round-trip exactly.
//!
//! `mutated_inputs_never_panic` is bounded to run in about a second. The same loop runs
//! for as long as wanted with `cargo test -p hashvm-format --release --test fuzz --
//! --ignored fuzz_for_a_while` (seconds in `HASHVM_FUZZ_SECS`, default 60; the seed in
//! `HASHVM_FUZZ_SEED`), for machines without cargo-fuzz; `fuzz/` holds the cargo-fuzz
//! target.

mod common;

use common::*;
use hashvm_format::link::link;
use hashvm_format::*;
use proptest::strategy::{Strategy, ValueTree};
use std::time::{Duration, Instant};

/// Seed files: the sample program, hand-made edge cases and generated modules.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = vec![
        write(&asm(SAMPLE)),
        write(&Module::default()),
        write(&asm(
            ".module executable\n.func m/0\n    loadi r0, 0\n    ret r0\n.end\n.entry m",
        )),
    ];
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = arb_module();
    for _ in 0..24 {
        if let Ok(tree) = strategy.new_tree(&mut runner) {
            out.push(write(&tree.current()));
        }
    }
    out
}

/// One input through every consumer; returns whether the reader accepted it.
fn exercise(b: &[u8]) -> bool {
    check_bytes(b);
    let Ok(m) = read(b) else { return false };
    {
        if verify(&m).is_ok() && m.libraries.is_empty() {
            let mut none = |_: &str| Ok(None);
            if let Ok(out) = link(&[("fuzz.hbc".to_string(), m)], &mut none) {
                if let Err(e) = verify(&out) {
                    panic!("linking a verified module produced an invalid one: {e}");
                }
            }
        }
    }
    true
}

/// Runs the loop; returns (inputs tried, inputs the reader accepted).
fn run(seed: u64, budget: Duration, max_iters: u64) -> (u64, u64) {
    let seeds = seeds();
    for s in &seeds {
        exercise(s);
    }
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let (mut n, mut accepted) = (0, 0);
    while n < max_iters && start.elapsed() < budget {
        let input = mutate(&mut rng, &seeds);
        accepted += exercise(&input) as u64;
        n += 1;
    }
    (n, accepted)
}

#[test]
fn mutated_inputs_never_panic() {
    let (n, accepted) = run(0x5eed_1234_abcd_ef01, Duration::from_secs(3), 100_000);
    assert!(n > 1000, "only {n} inputs tried");
    assert!(
        accepted > n / 50,
        "only {accepted} of {n} inputs got past the reader"
    );
}

#[test]
#[ignore = "long-running fuzz loop; run explicitly"]
fn fuzz_for_a_while() {
    let secs = std::env::var("HASHVM_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed = std::env::var("HASHVM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("fuzzing for {secs}s with HASHVM_FUZZ_SEED={seed}");
    let (n, accepted) = run(seed, Duration::from_secs(secs), u64::MAX);
    eprintln!("{n} inputs ({accepted} accepted by the reader), no failure");
}

/// Writes the seed files into `$HASHVM_FUZZ_CORPUS` (e.g. `fuzz/corpus/read_verify`),
/// to start cargo-fuzz from good inputs.
#[test]
#[ignore = "writes files; run explicitly to seed a cargo-fuzz corpus"]
fn write_fuzz_corpus() {
    let Some(dir) = std::env::var_os("HASHVM_FUZZ_CORPUS") else {
        panic!("set HASHVM_FUZZ_CORPUS to the corpus directory");
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (i, s) in seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("seed{i:03}.hbc")), s).unwrap();
    }
}
