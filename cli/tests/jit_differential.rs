//! The JIT is invisible except in speed: every program gives the same standard
//! output, standard error (messages and stack traces) and exit status with the JIT
//! off, on, and on at hotness 1 (every loop recorded at its first back-edge), and on
//! at hotness 1 under GC stress against the interpreter under GC stress. The corpus:
//! every conformance example that runs, every example of docs/LANGUAGE.md, every
//! benchmark program at its small size, and every `.hasm` program of the VM's suite that needs no input, environment or
//! special configuration (assembled once, run as `.hbc`). One named test per program
//! and mode.

mod common;
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);

/// Examples whose GC-stress runs take from seconds to minutes (a collection at every
/// allocation of a million-element list): compared without stress only, to keep the
/// suite within its time budget. The interpreter's own stress suite covers them.
const HEAVY_UNDER_STRESS: &[&str] = &["s7_list_big", "s4_tail_calls_deep", "s7_map_module"];

struct Program {
    name: String,
    file: PathBuf,
    dir: PathBuf,
    args: Vec<String>,
    /// Run with `--allow-ffi` (programs that declare foreign functions).
    allow_ffi: bool,
}

fn conformance() -> Vec<Program> {
    let dir = shared().join("conformance");
    let mut v = Vec::new();
    let entries = std::fs::read_dir(&dir).expect("../shared/conformance exists");
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "hash") || !p.with_extension("out").is_file() {
            continue;
        }
        let args: Vec<String> = std::fs::read_to_string(p.with_extension("args"))
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        // Arguments naming a scratch directory would differ between the two runs.
        if args.iter().any(|a| a.contains("@TMP@")) {
            continue;
        }
        let name = p
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        v.push(Program {
            name: format!("conformance::{name}"),
            file: p,
            dir: dir.clone(),
            args,
            allow_ffi: false,
        });
    }
    v.push(Program {
        name: "conformance::s5_modules".into(),
        file: dir.join("s5_modules/main.hash"),
        dir: dir.join("s5_modules"),
        args: Vec::new(),
        allow_ffi: false,
    });
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The `.hasm` programs of vm/tests/hasm, assembled into `dir`, with the arguments
/// their `; args:` line gives. Programs that read standard input, set environment
/// variables, change the VM's configuration, name a scratch directory or document a
/// known bug are left out (their harness is the hasm suite's).
fn hasm_programs(dir: &std::path::Path) -> Vec<Program> {
    assembled(&root().join("vm/tests/hasm"), "hasm", dir)
}

/// The `.hasm` programs of `src_dir`, assembled into `dir`, named `prefix::stem`.
fn assembled(src_dir: &std::path::Path, prefix: &str, dir: &std::path::Path) -> Vec<Program> {
    let mut v = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(src_dir)
        .expect("the .hasm folder exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hasm"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        // The one configuration these runs can give is the permission of foreign calls.
        let allow_ffi = text.contains("; config: allow_ffi=1");
        let text = text.replace("; config: allow_ffi=1", "");
        let special = ["; stdin", "; env:", "; config:", "; bug:", "{tmp}"];
        if special.iter().any(|d| text.contains(d)) {
            continue;
        }
        let args: Vec<String> = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("; args:"))
            .map(|a| a.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let stem = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let hbc = dir.join(format!("{prefix}_{stem}.hbc"));
        let r = run(
            Command::new(bin("hashvm"))
                .arg("asm")
                .arg(&f)
                .arg("-o")
                .arg(&hbc),
            T,
        );
        assert_eq!(r.code, 0, "{stem}.hasm does not assemble: {}", r.stderr);
        v.push(Program {
            name: format!("{prefix}::{stem}"),
            file: hbc,
            dir: dir.to_path_buf(),
            args,
            allow_ffi,
        });
    }
    v
}

/// The JIT's own programs (cli/tests/jit): loops whose guards fail mid-run, one kind
/// of guard or exit after another, in Hash and in assembly.
fn jit_programs(dir: &std::path::Path) -> Vec<Program> {
    let src = root().join("cli/tests/jit");
    let mut v = assembled(&src, "jit", dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("cli/tests/jit exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "hash"))
        .collect();
    files.sort();
    for f in files {
        let stem = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        v.push(Program {
            name: format!("jit::{stem}_hash"),
            file: f,
            dir: src.clone(),
            args: Vec::new(),
            allow_ffi: false,
        });
    }
    v
}

/// Every example of docs/LANGUAGE.md that has an expected output, written to `dir`.
fn doc_examples(dir: &std::path::Path) -> Vec<Program> {
    let text = std::fs::read_to_string(root().join("docs/LANGUAGE.md")).expect("docs/LANGUAGE.md");
    let lines: Vec<&str> = text.lines().collect();
    let mut v = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```hash" {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        while j < lines.len() && lines[j].trim_end() != "```" {
            j += 1;
        }
        let body = lines[start..j.min(lines.len())].join("\n") + "\n";
        let mut k = j + 1;
        while k < lines.len() && lines[k].trim().is_empty() {
            k += 1;
        }
        if k < lines.len() && lines[k].trim_end() == "```output" {
            let file = dir.join(format!("doc_line{}.hash", start));
            let allow_ffi = body.contains("#foreign");
            std::fs::write(&file, body).expect("write a docs example");
            v.push(Program {
                name: format!("docs::line{start}"),
                file,
                dir: dir.to_path_buf(),
                args: Vec::new(),
                allow_ffi,
            });
        }
        i = j + 1;
    }
    v
}

fn benchmarks() -> Vec<Program> {
    let dir = root().join("benches/programs");
    let cases: &[(&str, &[&str])] = &[
        ("fib", &["25"]),
        ("tak", &["6"]),
        ("ackermann", &["5"]),
        ("nqueens", &["8"]),
        ("sieve", &["10000"]),
        ("pmap", &["300"]),
        ("binarytrees", &["10"]),
        ("nbody", &["1000"]),
        ("spectralnorm", &["100"]),
        ("fannkuchredux", &["7"]),
        ("mandelbrot", &["200"]),
        ("fasta", &["1000"]),
        ("pidigits", &["27"]),
        ("awfy_bounce", &["10", "1"]),
        ("awfy_list", &["10", "1"]),
        ("awfy_mandelbrot", &["1", "1"]),
        ("awfy_nbody", &["1", "1"]),
        ("awfy_permute", &["10", "1"]),
        ("awfy_queens", &["10", "1"]),
        ("awfy_sieve", &["10", "1"]),
        ("awfy_storage", &["10", "1"]),
        ("awfy_towers", &["10", "1"]),
    ];
    cases
        .iter()
        .map(|(n, a)| Program {
            name: format!("bench::{n}"),
            file: dir.join(format!("{n}.hash")),
            dir: dir.clone(),
            args: a.iter().map(|s| s.to_string()).collect(),
            allow_ffi: false,
        })
        .collect()
}

/// One run: (exit status, stdout, stderr).
fn run_with(p: &Program, jit: &[&str], stress: bool) -> (i32, String, String) {
    let mut c = Command::new(bin("hashvm"));
    c.arg("run");
    if p.allow_ffi {
        c.arg("--allow-ffi");
    }
    c.args(jit)
        .arg(&p.file)
        .args(&p.args)
        .current_dir(&p.dir)
        .env("HASHVM_GC_STRESS", if stress { "1" } else { "0" });
    let r = run(&mut c, T);
    (r.code, r.stdout, r.stderr)
}

fn compare(p: &Program, mode: &[&str], stress: bool) -> Result<(), Failed> {
    let want = run_with(p, &["--jit=off"], stress);
    let got = run_with(p, mode, stress);
    if want == got {
        return Ok(());
    }
    Err(format!(
        "{} with {mode:?} (GC stress {stress}) differs from --jit=off:\n--- exit {} vs {}\n--- stdout (off)\n{}\n--- stdout (on)\n{}\n--- stderr (off)\n{}\n--- stderr (on)\n{}",
        p.name, want.0, got.0, want.1, got.1, want.2, got.2
    )
    .into())
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    let conf = conformance();
    assert!(conf.len() > 40, "conformance examples not found");
    // The assembled programs live in a scratch folder removed after the run.
    let scratch = Scratch::new("jit-hasm");
    let hasm = hasm_programs(&scratch.0);
    assert!(hasm.len() > 100, "the .hasm programs were not found");
    let docs = doc_examples(&scratch.0);
    assert!(
        docs.len() > 10,
        "the docs/LANGUAGE.md examples were not found"
    );
    // The networking example: the net instructions end a recording (never compiled)
    // inside a hot loop.
    let examples = vec![Program {
        name: "examples::net_loopback".into(),
        file: root().join("examples/net_loopback.hash"),
        dir: root().join("examples"),
        args: Vec::new(),
        allow_ffi: false,
    }];
    let own = jit_programs(&scratch.0);
    assert!(own.len() >= 3, "the JIT's own programs were not found");
    for (programs, stress_too) in [
        (own, true),
        (examples, true),
        (conf, true),
        (benchmarks(), false),
        (hasm, false),
        (docs, true),
    ] {
        for p in programs {
            let p = std::sync::Arc::new(p);
            let modes: Vec<(&str, Vec<&'static str>, bool)> = {
                let mut m = vec![
                    ("jit_on", vec!["--jit=on"], false),
                    ("jit_hot_1", vec!["--jit=on", "--jit-hot", "1"], false),
                ];
                let heavy = HEAVY_UNDER_STRESS
                    .iter()
                    .any(|h| p.name == format!("conformance::{h}"));
                if stress_too && !heavy {
                    m.push((
                        "jit_hot_1_gc_stress",
                        vec!["--jit=on", "--jit-hot", "1"],
                        true,
                    ));
                }
                m
            };
            for (label, mode, stress) in modes {
                let p = p.clone();
                trials.push(Trial::test(format!("{}::{label}", p.name), move || {
                    compare(&p, &mode, stress)
                }));
            }
        }
    }
    trials.push(Trial::test(
        "jit_compiles_loops_and_self_tail_calls",
        the_jit_compiles_what_it_should,
    ));
    trials.push(Trial::test("jit_inlines_calls", the_jit_inlines_calls));
    trials.push(Trial::test(
        "jit_native_recursion_overflows_like_the_interpreter",
        native_recursion_overflows,
    ));
    let conclusion = libtest_mimic::run(&args, trials);
    drop(scratch);
    conclusion.exit();
}

/// The comparisons above would pass vacuously if the JIT compiled nothing: a program
/// with a numeric loop, a self tail call and an array loop must give three traces
/// (`--jit-stats`) and the interpreter's output.
fn the_jit_compiles_what_it_should() -> Result<(), Failed> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    let dir = Scratch::new("jit");
    std::fs::write(
        dir.0.join("p.hash"),
        "count := (n: i64, acc: i64) -> i64 => if n <= 0 { acc } else { count(n - 1, acc + 2) };\n\
         main := () => {\n    mut s := 0.0;\n    mut i := 0;\n    while i < 5000 { s += i64.to_f64(i) * 0.5; i += 1; }\n    \
         println(to_str(s));\n    println(to_str(count(5000, 0)));\n    \
         xs := array.make(5000, 1);\n    mut k := 1;\n    while k < 5000 { xs[k] = xs[k - 1] * 3 + k; k += 1; }\n    \
         println(to_str(xs[4999]));\n};\n",
    )
    .map_err(|e| e.to_string())?;
    let p = Program {
        name: "p".into(),
        file: dir.0.join("p.hash"),
        dir: dir.0.clone(),
        args: Vec::new(),
        allow_ffi: false,
    };
    let off = run_with(&p, &["--jit=off"], false);
    let on = run_with(&p, &["--jit=on", "--jit-stats"], false);
    if off.0 != 0 || off.1 != on.1 || off.0 != on.0 {
        return Err(format!("outputs differ: {off:?} vs {on:?}").into());
    }
    if !on.2.contains("3 traces, 0 side traces") {
        return Err(format!("expected 3 compiled traces: {}", on.2).into());
    }
    // --jit-dump lists each trace's IR and its machine code, disassembled: three
    // listings, each ending the trace's code with a `ret` of its exit path.
    let dump = run_with(&p, &["--jit=on", "--jit-dump"], false);
    let listings = dump.2.matches("machine code (").count();
    if dump.1 != off.1 || listings != 3 || !dump.2.contains(" ret") || !dump.2.contains("mov ") {
        return Err(format!("expected 3 disassembled traces: {}", dump.2).into());
    }
    Ok(())
}

/// Loops that call (`callk`, `call` of a function value and of a closure, `callself`
/// recursion, `retu`) compile: each of cli/tests/jit/calls.hasm's four loops is
/// recorded and compiled (`--jit-log`), with the interpreter's output; and the
/// recursive benchmarks get function-entry traces with side traces.
fn the_jit_inlines_calls() -> Result<(), Failed> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    let dir = Scratch::new("jit-calls");
    let p = assembled(&root().join("cli/tests/jit"), "jit", &dir.0)
        .into_iter()
        .find(|p| p.name == "jit::calls")
        .ok_or("cli/tests/jit/calls.hasm is missing")?;
    let off = run_with(&p, &["--jit=off"], false);
    let on = run_with(&p, &["--jit=on", "--jit-log"], false);
    if off.0 != 0 || off.1 != on.1 || off.0 != on.0 {
        return Err(format!("outputs differ: {off:?} vs {on:?}").into());
    }
    let events: Vec<&str> = on.2.lines().filter(|l| !l.contains("] exit ")).collect();
    let loops = events.iter().filter(|l| l.contains("record loop")).count();
    let compiled = events
        .windows(2)
        .filter(|w| w[0].contains("record loop") && w[1].contains("compiled trace"))
        .count();
    if loops != 4 || compiled != 4 {
        return Err(format!("expected 4 loops recorded and compiled: {}", on.2).into());
    }
    for (name, arg) in [("fib", "20"), ("tak", "5"), ("ackermann", "4")] {
        let p = Program {
            name: name.into(),
            file: root().join(format!("benches/programs/{name}.hash")),
            dir: root().join("benches/programs"),
            args: vec![arg.into()],
            allow_ffi: false,
        };
        let off = run_with(&p, &["--jit=off"], false);
        let on = run_with(&p, &["--jit=on", "--jit-log"], false);
        if off.1 != on.1 || off.0 != on.0 {
            return Err(format!("{name}: outputs differ: {off:?} vs {on:?}").into());
        }
        if !on.2.contains("record entry of function") || !on.2.contains("compiled side trace") {
            return Err(format!(
                "{name}: no function-entry trace with a side trace: {}",
                on.2
            )
            .into());
        }
    }
    Ok(())
}

/// A recursion that the trace runs natively reaches the frame limit: the same
/// "stack overflow" error and stack trace as the interpreter's, at every hotness.
fn native_recursion_overflows() -> Result<(), Failed> {
    let dir = Scratch::new("jit-overflow");
    std::fs::write(
        dir.0.join("p.hash"),
        "sum := (n: i64) -> i64 => if n == 0 { 0 } else { n + sum(n - 1) };\n\
         main := () => { println(to_str(sum(10))); println(to_str(sum(100000))); };\n",
    )
    .map_err(|e| e.to_string())?;
    let p = Program {
        name: "p".into(),
        file: dir.0.join("p.hash"),
        dir: dir.0.clone(),
        args: Vec::new(),
        allow_ffi: false,
    };
    let limit = ["--stack-limit", "5000"];
    let off = run_with(&p, &[&["--jit=off"][..], &limit].concat(), false);
    if off.0 != 1 || !off.2.contains("stack overflow") {
        return Err(format!("expected a stack overflow: {off:?}").into());
    }
    for mode in [&["--jit=on"][..], &["--jit=on", "--jit-hot", "1"]] {
        let on = run_with(&p, &[mode, &limit].concat(), false);
        if on != off {
            return Err(format!("{mode:?} differs: {off:?} vs {on:?}").into());
        }
    }
    Ok(())
}
