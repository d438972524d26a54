//! Every benchmark program of benches/programs runs at its small size and computes the
//! right thing: the Benchmarks Game programs match ../shared/oracles, the Are We Fast
//! Yet? programs verify themselves (exit status 1 on a wrong result), and the classic
//! ones print values computed here independently.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}
fn tak(x: i64, y: i64, z: i64) -> i64 {
    if y < x {
        tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y))
    } else {
        z
    }
}
fn ack(m: u64, n: u64) -> u64 {
    match (m, n) {
        (0, n) => n + 1,
        (m, 0) => ack(m - 1, 1),
        (m, n) => ack(m - 1, ack(m, n - 1)),
    }
}
fn queens(n: usize, row: usize, cols: &mut Vec<usize>) -> u64 {
    if row == n {
        return 1;
    }
    let mut total = 0;
    for c in 0..n {
        if cols
            .iter()
            .enumerate()
            .all(|(r, &q)| q != c && q.abs_diff(c) != row - r)
        {
            cols.push(c);
            total += queens(n, row + 1, cols);
            cols.pop();
        }
    }
    total
}
fn primes_below(n: usize) -> usize {
    let mut sieve = vec![true; n];
    let mut count = 0;
    for i in 2..n {
        if sieve[i] {
            count += 1;
            let mut j = i * i;
            while j < n {
                sieve[j] = false;
                j += i;
            }
        }
    }
    count
}

/// The PBM oracle of mandelbrot as the Hash program prints it: the header, then each
/// row's bytes in hex on a line (Hash strings cannot hold raw bytes).
fn pbm_as_hex(bytes: &[u8], n: usize) -> String {
    let header = format!("P4\n{n} {n}\n");
    assert!(bytes.starts_with(header.as_bytes()));
    let row = n.div_ceil(8);
    let mut out = header;
    for r in bytes[out.len()..].chunks(row) {
        for b in r {
            out.push_str(&format!("{b:02x}"));
        }
        out.push('\n');
    }
    out
}

#[test]
fn benchmark_programs_at_small_sizes() {
    let progs = root().join("benches/programs");
    let oracle =
        |p: &str| std::fs::read(shared().join("oracles/benchmarksgame").join(p)).expect("oracle");
    let text = |p: &str| String::from_utf8(oracle(p)).expect("utf-8 oracle");
    let cases: Vec<(&str, Vec<&str>, Option<String>)> = vec![
        ("fib", vec!["25"], Some(format!("fib(25) = {}\n", fib(25)))),
        (
            "tak",
            vec!["6"],
            Some(format!("tak(18, 12, 6) = {}\n", tak(18, 12, 6))),
        ),
        (
            "ackermann",
            vec!["5"],
            Some(format!("ack(3, 5) = {}\n", ack(3, 5))),
        ),
        (
            "nqueens",
            vec!["8"],
            Some(format!("N-queens(8) = {}\n", queens(8, 0, &mut Vec::new()))),
        ),
        (
            "sieve",
            vec!["10000"],
            Some(format!("primes below 10000: {}\n", primes_below(10000))),
        ),
        (
            "pmap",
            vec!["1000"],
            Some("size 1000 sum 999000 after removal 500 sum 500000\n".to_string()),
        ),
        ("binarytrees", vec!["10"], Some(text("binarytrees/10_out"))),
        ("nbody", vec!["1000"], Some(text("nbody/1000_out"))),
        (
            "spectralnorm",
            vec!["100"],
            Some(text("spectralnorm/100_out")),
        ),
        (
            "fannkuchredux",
            vec!["7"],
            Some(text("fannkuchredux/7_out")),
        ),
        (
            "mandelbrot",
            vec!["200"],
            Some(pbm_as_hex(&oracle("mandelbrot/200_out"), 200)),
        ),
        ("fasta", vec!["1000"], Some(text("fasta/1000_out"))),
        ("pidigits", vec!["27"], Some(text("pidigits/27_out"))),
        ("awfy_bounce", vec!["10", "1"], None),
        ("awfy_list", vec!["10", "1"], None),
        ("awfy_mandelbrot", vec!["1", "1"], None),
        ("awfy_nbody", vec!["1", "1"], None),
        ("awfy_permute", vec!["10", "1"], None),
        ("awfy_queens", vec!["10", "1"], None),
        ("awfy_sieve", vec!["10", "1"], None),
        ("awfy_storage", vec!["10", "1"], None),
        ("awfy_towers", vec!["10", "1"], None),
    ];
    let mut failures = Vec::new();
    for (name, args, expected) in cases {
        let src = progs.join(format!("{name}.hash"));
        let r = run(
            Command::new(bin("hashvm")).arg("run").arg(&src).args(&args),
            Duration::from_secs(120),
        );
        let ok = r.code == 0 && expected.as_ref().is_none_or(|e| &r.stdout == e);
        if !ok {
            failures.push(format!(
                "{name} {args:?}: exit {}\n--- expected\n{}\n--- got\n{}\n--- stderr\n{}",
                r.code,
                expected.unwrap_or_default(),
                r.stdout,
                r.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
