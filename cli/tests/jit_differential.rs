//! The JIT is invisible except in speed: every program gives the same standard
//! output, standard error (messages and stack traces) and exit status with the JIT
//! off, on, and on at hotness 1 (every loop recorded at its first back-edge), and on
//! at hotness 1 under GC stress against the interpreter under GC stress. The corpus:
//! every conformance example that runs, every example of docs/LANGUAGE.md, every
//! benchmark program at its small size, and every `.hasm` program of the VM's suite that needs no input, environment or
//! special configuration (assembled once, run as `.hbc`). One named test per program
//! and mode.

mod common;
use common::corpus::*;
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);

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
    let conf = conformance(false);
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
    // The networking example: its loops hold net instructions (helper calls in a
    // trace) next to what still ends a recording (field access).
    let examples = vec![Program {
        name: "examples::net_loopback".into(),
        file: root().join("examples/net_loopback.hash"),
        dir: root().join("examples"),
        args: Vec::new(),
        stress_too: true,
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
    trials.push(Trial::test(
        "jit_records_fused_instructions",
        the_jit_records_fused_instructions,
    ));
    trials.push(Trial::test("jit_inlines_calls", the_jit_inlines_calls));
    trials.push(Trial::test(
        "jit_calls_other_trees",
        the_jit_calls_other_trees,
    ));
    trials.push(Trial::test(
        "jit_compiles_inner_code_first",
        the_jit_compiles_inner_code_first,
    ));
    trials.push(Trial::test(
        "jit_side_traces_unroll_short_loops",
        side_traces_unroll_short_loops,
    ));
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
        stress_too: true,
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

/// The recorder reads each superinstruction as its first half (`Op::unfused`): were
/// it not to, a recording would stop at it, which is slower but gives the same output,
/// so the comparisons above cannot see it. fused_returns.hash holds all six fused pairs
/// (checked in its disassembly); at hotness 1 every one is recorded, and none may
/// stop a recording.
fn the_jit_records_fused_instructions() -> Result<(), Failed> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    let p = jit_hash_program("fused_returns");
    let dis = run(Command::new(bin("hashvm")).arg("dis").arg(&p.file), T);
    let fused = [
        "con.ret",
        "add.i64.ret",
        "loadg.ret",
        "jntag.reti",
        "field.callk",
        "subi.i64.callk",
    ];
    for m in fused {
        if !dis.stdout.contains(&format!(" {m} ")) {
            return Err(format!("hashc no longer emits `{m}` here:\n{}", dis.stdout).into());
        }
    }
    let off = run_with(&p, &["--jit=off"], false);
    let on = run_with(&p, &["--jit=on", "--jit-hot", "1", "--jit-log"], false);
    if off.0 != 0 || off.1 != on.1 || off.0 != on.0 {
        return Err(format!("outputs differ: {off:?} vs {on:?}").into());
    }
    for m in fused {
        if on.2.contains(&format!("`{m}`")) {
            return Err(format!("a recording stopped at `{m}`:\n{}", on.2).into());
        }
    }
    if !on.2.contains("compiled trace") {
        return Err(format!("nothing compiled:\n{}", on.2).into());
    }
    Ok(())
}

/// Runs `p` with the JIT off and on with `--jit-log`; both must exit with status 0
/// and print the same: the log, for the caller's checks of what the JIT did.
fn logged_run(p: &Program) -> Result<String, Failed> {
    let off = run_with(p, &["--jit=off"], false);
    let on = run_with(p, &["--jit=on", "--jit-log"], false);
    if off.0 != 0 || off.1 != on.1 || off.0 != on.0 {
        return Err(format!("outputs differ: {off:?} vs {on:?}").into());
    }
    Ok(on.2)
}

/// The events of a `--jit-log` other than side exits taken.
fn events_of(log: &str) -> Vec<&str> {
    log.lines().filter(|l| !l.contains("] exit ")).collect()
}

/// cli/tests/jit/NAME.hash, run as the differential suite runs it.
fn jit_hash_program(name: &str) -> Program {
    let src = root().join("cli/tests/jit");
    Program {
        name: name.into(),
        file: src.join(format!("{name}.hash")),
        dir: src,
        args: Vec::new(),
        stress_too: true,
        allow_ffi: false,
    }
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
    let log = logged_run(&p)?;
    let events = events_of(&log);
    let loops = events.iter().filter(|l| l.contains("record loop")).count();
    let compiled = events
        .windows(2)
        .filter(|w| w[0].contains("record loop") && w[1].contains("compiled trace"))
        .count();
    if loops != 4 || compiled != 4 {
        return Err(format!("expected 4 loops recorded and compiled: {log}").into());
    }
    for (name, arg) in [("fib", "20"), ("tak", "5"), ("ackermann", "4")] {
        let p = Program {
            name: name.into(),
            file: root().join(format!("benches/programs/{name}.hash")),
            dir: root().join("benches/programs"),
            args: vec![arg.into()],
            stress_too: true,
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

/// Calls of recursive functions from traces call those functions' trees
/// (`call.tree`) rather than inlining them: cli/tests/jit/tree_calls.hash's loops
/// compile such calls, from inlined frames and between mutually recursive trees,
/// with the interpreter's output and stack trace.
fn the_jit_calls_other_trees() -> Result<(), Failed> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    let p = jit_hash_program("tree_calls");
    let off = run_with(&p, &["--jit=off"], false);
    let on = run_with(&p, &["--jit=on", "--jit-dump"], false);
    if off.0 != 1 || !off.2.contains("division by zero") || off.1 != on.1 || off.0 != on.0 {
        return Err(format!("outputs differ: {off:?} vs {on:?}").into());
    }
    let calls = on.2.lines().filter(|l| l.contains(" call.tree ")).count();
    if calls < 4 {
        return Err(format!("expected at least 4 calls of other trees: {}", on.2).into());
    }
    Ok(())
}

/// Inner code first: in cli/tests/jit/inner_first.hash a side trace meets an inner
/// loop without a trace, and a recursion without a function-entry tree; each time the
/// recording waits, the awaited code is recorded at its very next pass (the next event
/// of `--jit-log`), and the side trace is recorded again and compiled, all with the
/// interpreter's output.
fn the_jit_compiles_inner_code_first() -> Result<(), Failed> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    let log = logged_run(&jit_hash_program("inner_first"))?;
    let events = events_of(&log);
    let mut waited = (0, 0);
    for w in events.windows(2) {
        if let Some((_, at)) = w[0].split_once("abort at offset ") {
            let off = at.split(':').next().unwrap_or("");
            if at.contains("an inner loop (no trace")
                && w[1].contains("record loop at function")
                && w[1].ends_with(&format!("offset {off}"))
            {
                waited.0 += 1;
            }
            if at.contains("a recursion unrolled") && w[1].contains("record entry of function") {
                waited.1 += 1;
            }
        }
    }
    let aborts = events.iter().filter(|l| l.contains("abort")).count();
    let sides = events
        .iter()
        .filter(|l| l.contains("compiled side trace"))
        .count();
    if waited.0 < 1 || waited.1 < 1 || aborts > 4 || sides < 3 {
        return Err(format!("expected the inner code compiled first: {log}").into());
    }
    Ok(())
}

/// Side traces that unroll their root's short loop: in cli/tests/jit/unroll.hash the
/// side trace from the pair loop's exit runs the next passes of the loop itself
/// (`--jit-log`: "its root's loop unrolled N times"), side traces grow from the
/// unrolled passes' guards (bounds, distinctness), and `tail_heavy`'s unrolled side
/// trace, too long, ends where it first reached its root and is compiled so; all with
/// the interpreter's output.
fn side_traces_unroll_short_loops() -> Result<(), Failed> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    let log = logged_run(&jit_hash_program("unroll"))?;
    let events = events_of(&log);
    let unrolled = events
        .iter()
        .filter(|l| l.contains("compiled side trace") && l.contains("loop unrolled"))
        .count();
    // The unrolled side trace that stopped (too long) and was compiled as it was
    // where it first reached the root.
    let fell_back = events.windows(2).any(|w| {
        w[0].contains("it ends where it first reached the root")
            && w[1].contains("compiled side trace")
            && !w[1].contains("loop unrolled")
    });
    if unrolled < 1 || !fell_back {
        return Err(format!("expected unrolled side traces and one ended early: {log}").into());
    }
    Ok(())
}

/// A recursion that the trace runs natively reaches the frame limit: the same
/// "stack overflow" error and stack trace as the interpreter's, at every hotness.
/// The second program's calls enter the trace after its argument guards (three
/// kinds proven by the caller), and its stack trace is written from the frame
/// records `call.rec` pushed; the third's trace inlines a helper whose slot stores
/// are sunk into the helper's exits; the fourth's recursion is a side trace that
/// calls its root natively.
fn native_recursion_overflows() -> Result<(), Failed> {
    for (i, src) in [
        "sum := (n: i64) -> i64 => if n == 0 { 0 } else { n + sum(n - 1) };\n\
         main := () => { println(to_str(sum(10))); println(to_str(sum(100000))); };\n",
        "sum3 := (n: i64, x: f64, b: bool) -> i64 =>\n\
         if n == 0 { 0 } else { n + sum3(n - 1, x + 0.5, !b) };\n\
         main := () => { println(to_str(sum3(10, 1.0, true))); \
         println(to_str(sum3(100000, 0.0, false))); };\n",
        // An inlined helper whose slot stores are sunk into its exits at every level.
        "B := struct(v: Array<i64>);\n\
         sw := (b: B, i: i64, j: i64) => { t := b.v[i]; b.v[i] = b.v[j]; b.v[j] = t; };\n\
         dive := (b: B, n: i64) -> i64 => { sw(b, n % 2, 1 - n % 2); \
         if n == 0 { b.v[0] } else { dive(b, n - 1) + 1 } };\n\
         main := () => { b := B(array.make(2, 3)); println(to_str(dive(b, 10))); \
         println(to_str(dive(b, 100000))); };\n",
        // tak's shape: the root is the base case, the recursive case a side trace
        // whose `call.rec`s enter the root after its argument guards.
        "g := (n: i64, k: i64) -> i64 => if n < k { n } else { g(n - 1, k) + g(n - 2, k) };\n\
         main := () => { mut s := 0; for i in 0..3000 { s += g(i % 2, 2); }\n\
         println(to_str(s)); println(to_str(g(20, 2))); println(to_str(g(100000, 99990))); \
         println(to_str(g(100000, 0))); };\n",
        // A loop whose trace inlines `via` and calls `down`'s tree from there
        // (`call.tree`), until one call recurses past the frame limit.
        "down := (n: i64) -> i64 => if n == 0 { 0 } else { 1 + down(n - 1) };\n\
         via := (n: i64) -> i64 => down(n) + 1;\n\
         main := () => { println(to_str(via(10))); mut s := 0;\n\
         for i in 0..3000 { s += via(if i < 2990 { i % 40 } else { 100000 }); }\n\
         println(to_str(s)); };\n",
    ]
    .into_iter()
    .enumerate()
    {
        overflows(&format!("jit-overflow-{i}"), src)?;
    }
    Ok(())
}

/// [`native_recursion_overflows`] for one program.
fn overflows(name: &str, src: &str) -> Result<(), Failed> {
    let dir = Scratch::new(name);
    std::fs::write(dir.0.join("p.hash"), src).map_err(|e| e.to_string())?;
    let p = Program {
        name: "p".into(),
        file: dir.0.join("p.hash"),
        dir: dir.0.clone(),
        args: Vec::new(),
        stress_too: true,
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
