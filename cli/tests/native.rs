//! Native executables (`hashc --native`, `hashld --native`, the runtime `hashvm-rt`,
//! SPEC.md §11) behave exactly as `hashvm run` on the same program: the same standard
//! output, standard error (messages, stack traces) and exit status, for every
//! conformance example, every example of docs/LANGUAGE.md, every benchmark program at
//! its small size (built with `hashc --native`), every `.hasm` program of the VM's
//! suite that needs no input or special setting (assembled, then made native with
//! `hashld --native`) and every program of the JIT's own corpus (cli/tests/jit, also
//! under GC stress); the conformance and docs examples also under GC stress with the
//! JIT recording at hotness 1 (`HASHVM_JIT_HOT=1`) against the interpreter under
//! stress. Examples that do not compile must fail the same way with `--native`. Then:
//! an executable moved to an empty directory with an empty environment still runs; a
//! damaged or edited payload gives a clean `error:`; builds are reproducible; the
//! runtime's settings come from the environment; a missing runtime is reported.
//! One named test per program.

mod common;
use common::corpus::*;
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(300);

type Outcome = (i32, String, String);

fn outcome(r: Run) -> Outcome {
    (r.code, r.stdout, r.stderr)
}

fn differ(what: &str, want: &Outcome, got: &Outcome) -> Failed {
    format!(
        "{what}:\n--- exit {} (reference) vs {} (native)\n--- stdout (reference)\n{}\n--- stdout (native)\n{}\n--- stderr (reference)\n{}\n--- stderr (native)\n{}",
        want.0, got.0, want.1, got.1, want.2, got.2
    )
    .into()
}

/// Builds `p` as a `.hbc` and natively, compares the builds, then runs both (with the
/// JIT as `hashvm run` has it by default, and under GC stress where asked) and compares
/// the runs.
fn compare(p: &Program) -> Result<(), Failed> {
    let d = Scratch::new("native");
    let exe = d.0.join("p");
    let allow: &[&str] = if p.allow_ffi { &["--allow-ffi"] } else { &[] };
    let hbc = if p.is_hbc() {
        let r = outcome(run(
            Command::new(bin("hashld"))
                .arg("--native")
                .args(allow)
                .arg(&p.file)
                .arg("-o")
                .arg(&exe),
            T,
        ));
        if r.0 != 0 && r.2.contains("must be built with --allow-ffi") {
            // A program `hashvm run` refuses to load without --allow-ffi is refused
            // at build time instead, naming the same function.
            let want = outcome(run(Command::new(bin("hashvm")).arg("run").arg(&p.file), T));
            let named = |e: &str| {
                e.lines()
                    .next()
                    .and_then(|l| l.split(": foreign calls").next())
                    .map(str::to_owned)
            };
            return if want.0 == 1
                && want.2.contains("must be allowed with --allow-ffi")
                && named(&want.2) == named(&r.2)
                && !exe.exists()
            {
                Ok(())
            } else {
                Err(differ(
                    "hashld --native refused a program hashvm run",
                    &want,
                    &r,
                ))
            };
        }
        if r.0 != 0 {
            return Err(format!("hashld --native failed: {r:?}").into());
        }
        p.file.clone()
    } else {
        let hbc = d.0.join("p.hbc");
        let build = |extra: &[&str], out: &Path| {
            outcome(run(
                Command::new(bin("hashc"))
                    .args(extra)
                    .args(allow)
                    .arg(&p.file)
                    .arg("-o")
                    .arg(out)
                    .current_dir(&p.dir),
                T,
            ))
        };
        let want = build(&[], &hbc);
        let got = build(&["--native"], &exe);
        if want != got {
            return Err(differ("hashc and hashc --native differ", &want, &got));
        }
        if want.0 != 0 {
            return if exe.exists() {
                Err("a failed native build left an output file".into())
            } else {
                Ok(())
            };
        }
        hbc
    };
    // One run of `cmd` with the program's arguments, in a fresh scratch directory when
    // they name one.
    let go = |cmd: &mut Command| -> Outcome {
        if !p.args.iter().any(|a| a.contains("@TMP@")) {
            return outcome(run(cmd.args(&p.args).current_dir(&p.dir), T));
        }
        let work = Scratch::new("native-work");
        let w = work.0.to_string_lossy().into_owned();
        let args = p.args.iter().map(|a| a.replace("@TMP@", &w));
        let (code, out, err) = outcome(run(cmd.args(args).current_dir(&work.0), T));
        (code, out.replace(&w, "@TMP@"), err.replace(&w, "@TMP@"))
    };
    let reference = |jit: &str, stress: &str| {
        go(Command::new(bin("hashvm"))
            .arg("run")
            .args(allow)
            .arg(jit)
            .arg(&hbc)
            .env("HASHVM_GC_STRESS", stress))
    };
    let native = |hot: &str, stress: &str, aot: &str| {
        go(Command::new(&exe)
            .env("HASHVM_JIT_HOT", hot)
            .env("HASHVM_GC_STRESS", stress)
            .env("HASHVM_AOT", aot))
    };
    let (want, got) = (reference("--jit=on", "0"), native("1000", "0", "on"));
    if want != got {
        return Err(differ(
            "hashvm run and the native executable differ",
            &want,
            &got,
        ));
    }
    // The same executable with its machine code ignored (the interpreter and the
    // tracing JIT only).
    let off = native("1000", "0", "off");
    if off != got {
        return Err(differ(
            "the native executable with HASHVM_AOT=off (reference) and on differ",
            &off,
            &got,
        ));
    }
    if !p.stress_too {
        // The tracing JIT at hotness 1 beside the compiled code (its traces link into
        // loops whose anchors hold compiled code: awfy_sieve, awfy_towers).
        let hot = native("1", "0", "on");
        if hot != want {
            return Err(differ(
                "hashvm run and the native executable at JIT hotness 1 differ",
                &want,
                &hot,
            ));
        }
    }
    if p.stress_too {
        let (want, got) = (reference("--jit=off", "1"), native("1", "1", "on"));
        if want != got {
            return Err(differ(
                "under GC stress, hashvm run --jit=off and the native executable at JIT hotness 1 differ",
                &want,
                &got,
            ));
        }
    }
    Ok(())
}

/// Compiles `src` natively into `dir/name`; panics with hashc's message on failure.
fn build_native(dir: &Path, name: &str, src: &str) -> PathBuf {
    let source = dir.join(format!("{name}.hash"));
    std::fs::write(&source, src).expect("write source");
    let exe = dir.join(name);
    let r = run(
        Command::new(bin("hashc"))
            .arg("--native")
            .arg(&source)
            .arg("-o")
            .arg(&exe),
        T,
    );
    assert_eq!(r.code, 0, "hashc --native failed: {}", r.stderr);
    exe
}

const ECHO: &str = "main := () => {\n    println(to_str(io.args()));\n    match io.read_line() {\n        Some(l) => println(\"read \" + l),\n        None => println(\"no input\"),\n    };\n    println(io.read_all());\n    3\n};\n";

/// Runs `exe` with `args`, `input` on standard input and a cleared environment but for
/// `env`, from `cwd`.
fn run_with_input(
    exe: &Path,
    args: &[&str],
    input: &str,
    env: &[(&str, &str)],
    cwd: &Path,
) -> Outcome {
    use std::io::Write;
    let mut child = spawn(
        Command::new(exe)
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The executable needs neither the tools, nor the source, nor the runtime binary: moved
/// to a fresh directory and run with an empty environment (no PATH, no HASH_PATH) after
/// the build directory is gone, it reads its arguments and standard input and returns
/// its status.
fn runs_alone() -> Result<(), Failed> {
    let exe = {
        let build = Scratch::new("native-build");
        let exe = build_native(&build.0, "echo", ECHO);
        let alone =
            std::env::temp_dir().join(format!("hashvm-native-alone-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&alone);
        std::fs::create_dir_all(&alone).map_err(|e| e.to_string())?;
        let moved = alone.join("echo");
        std::fs::copy(&exe, &moved).map_err(|e| e.to_string())?;
        moved
    };
    let dir = exe.parent().expect("a directory").to_path_buf();
    let got = run_with_input(&exe, &["a b", "c"], "line one\nrest\n", &[], &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let want = (
        3,
        "[\"a b\", \"c\"]\nread line one\nrest\n\n".to_string(),
        String::new(),
    );
    if got != want {
        return Err(format!("got {got:?}, want {want:?}").into());
    }
    Ok(())
}

/// The same source gives the same bytes, whatever the output is called, with `hashc`
/// and with `hashld` (twice each); `hashld --native` over the program's object gives a
/// working executable too.
fn reproducible() -> Result<(), Failed> {
    let d = Scratch::new("native-repro");
    let a = build_native(&d.0, "one", ECHO);
    let b = d.0.join("two");
    let r = run(
        Command::new(bin("hashc"))
            .arg("--native")
            .arg(d.0.join("one.hash"))
            .arg("-o")
            .arg(&b),
        T,
    );
    if r.code != 0 {
        return Err(r.stderr.into());
    }
    let (ab, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    if ab != bb {
        return Err("two builds of the same source differ".into());
    }
    let obj = d.0.join("one.hbc");
    let r = run(
        Command::new(bin("hashc"))
            .arg("-c")
            .arg(d.0.join("one.hash"))
            .arg("-o")
            .arg(&obj),
        T,
    );
    if r.code != 0 {
        return Err(r.stderr.into());
    }
    let linked = d.0.join("linked");
    let mut builds = Vec::new();
    for _ in 0..2 {
        let r = run(
            Command::new(bin("hashld"))
                .arg("--native")
                .arg(&obj)
                .arg("-o")
                .arg(&linked),
            T,
        );
        if r.code != 0 {
            return Err(r.stderr.into());
        }
        builds.push(std::fs::read(&linked).unwrap());
    }
    if builds[0] != builds[1] {
        return Err("two links of the same object differ".into());
    }
    let got = run_with_input(&linked, &["x"], "", &[], &d.0);
    if got != (3, "[\"x\"]\nno input\n\n".into(), String::new()) {
        return Err(format!("hashld --native: {got:?}").into());
    }
    Ok(())
}

/// Damage: a flipped byte anywhere in the payload is caught by the checksum; a payload
/// edited with its checksum recomputed is still decoded and verified before it runs (an
/// undecodable `.hbc`, a `.hbc` the verifier rejects); a runtime with no program and a
/// file cut short say so. Always `error:` and status 1 (2 for no program), never a
/// crash.
fn damaged_payloads() -> Result<(), Failed> {
    use hashvm_cli::native;
    let d = Scratch::new("native-damage");
    let exe = build_native(&d.0, "ok", "main := () => { println(\"fine\"); };\n");
    let bytes = std::fs::read(&exe).unwrap();
    let check = |name: &str, bytes: &[u8], code: i32, needle: &str| -> Result<(), Failed> {
        let p = d.0.join(name);
        std::fs::write(&p, bytes).map_err(|e| e.to_string())?;
        let mut perm = std::fs::metadata(&p).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&p, perm).unwrap();
        let r = run(&mut Command::new(&p), T);
        if r.code != code || !r.stderr.starts_with("error: ") || !r.stderr.contains(needle) {
            return Err(format!(
                "{name}: exit {}, stderr {:?}, want {code} and {needle:?}",
                r.code, r.stderr
            )
            .into());
        }
        Ok(())
    };
    let r = run(&mut Command::new(&exe), T);
    if (r.code, r.stdout.as_str(), r.stderr.as_str()) != (0, "fine\n", "") {
        return Err(format!("the undamaged executable: {r:?}").into());
    }
    let t = &bytes[bytes.len() - native::TRAILER_SIZE..];
    let (off, len, _) = native::locate(bytes.len() as u64, t).unwrap().unwrap();
    let (off, len) = (off as usize, len as usize);
    for at in [off + 3, off + len / 2, off + len - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x21;
        check(
            "flipped",
            &b,
            1,
            "the attached program is damaged: its checksum does not match",
        )?;
    }
    let image = &bytes[..off];
    // Edited with a valid checksum: the bytes are not a .hbc file.
    check(
        "not_hbc",
        &native::build(image, &[(native::SECTION_HBC, 0, b"not a program")]),
        1,
        "the attached program is damaged",
    )?;
    check(
        "no_hbc_section",
        &native::build(image, &[(*b"ELSE", 0, b"")]),
        1,
        "it has no HBC section",
    )?;
    // Edited with a valid checksum: a well-formed .hbc the verifier rejects (a
    // constant of a type the file does not have).
    let bad = hashvm_format::hasm::assemble(
        ".global x = 16:0\n.func main/0\n    retu\n.end\n.entry main",
        "bad.hasm",
    )
    .map_err(|e| format!("{e:?}"))?;
    if hashvm_format::verify::verify(&bad).is_ok() {
        return Err("the unverifiable program verifies".into());
    }
    check(
        "unverified",
        &native::build(
            image,
            &[(native::SECTION_HBC, 0, &hashvm_format::write(&bad))],
        ),
        1,
        "the attached program fails verification",
    )?;
    // Cut short: the trailer no longer matches (or is gone).
    check(
        "cut",
        &bytes[..bytes.len() - 5],
        2,
        "no program is attached",
    )?;
    let mut wrong = bytes.clone();
    let n = wrong.len();
    wrong[n - native::TRAILER_SIZE] ^= 1;
    check(
        "bad_trailer",
        &wrong,
        1,
        "the trailer does not describe this file",
    )?;
    // The machine code is bound to its program: edited code, a damaged entry table,
    // half a code section, or the code of another program, all with valid checksums.
    let secs = native::sections(
        &bytes[off..off + len],
        native::checksum(&bytes[off..off + len]),
    )
    .map_err(|e| e.to_string())?;
    let part = |k: [u8; 4]| {
        secs.iter()
            .find(|s| s.0 == k)
            .map(|s| s.2.to_vec())
            .ok_or_else(|| format!("no {k:?} section"))
    };
    let (hbc, aot, text) = (
        part(native::SECTION_HBC)?,
        part(native::SECTION_AOT)?,
        part(native::SECTION_TEXT)?,
    );
    let with = |hbc: &[u8], aot: &[u8], text: &[u8]| {
        native::build(
            image,
            &[
                (native::SECTION_HBC, 0, hbc),
                (native::SECTION_AOT, 0, aot),
                (native::SECTION_TEXT, 0, text),
            ],
        )
    };
    // Rebuilt from its own parts, it runs.
    let rebuilt = d.0.join("rebuilt");
    std::fs::write(&rebuilt, with(&hbc, &aot, &text)).map_err(|e| e.to_string())?;
    let mut perm = std::fs::metadata(&rebuilt).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&rebuilt, perm).unwrap();
    let r = run(&mut Command::new(&rebuilt), T);
    if (r.code, r.stdout.as_str()) != (0, "fine\n") {
        return Err(format!("rebuilt from its sections: {r:?}").into());
    }
    let mut t2 = text.clone();
    t2[0] ^= 0x90;
    check(
        "edited_code",
        &with(&hbc, &aot, &t2),
        1,
        "its machine code was not compiled from its program",
    )?;
    check(
        "short_entries",
        &with(&hbc, &aot[..aot.len() - 1], &text),
        1,
        "its code section table (AOTM) is damaged",
    )?;
    // A table of the section's first version (field kinds without the elements
    // kinds' codes) is refused, not misread.
    let mut v1 = aot.clone();
    v1[..8].copy_from_slice(b"HVMAOT1\0");
    check(
        "aotm_version_1",
        &with(&hbc, &v1, &text),
        1,
        "its code section table (AOTM) is damaged",
    )?;
    check(
        "half_code",
        &native::build(
            image,
            &[
                (native::SECTION_HBC, 0, &hbc),
                (native::SECTION_TEXT, 0, &text),
            ],
        ),
        1,
        "it has only half of a code section",
    )?;
    let other = build_native(&d.0, "other", "main := () => { println(\"else\"); };\n");
    let ob = std::fs::read(&other).unwrap();
    let ot = &ob[ob.len() - native::TRAILER_SIZE..];
    let (oo, ol, _) = native::locate(ob.len() as u64, ot).unwrap().unwrap();
    let op = &ob[oo as usize..(oo + ol) as usize];
    let osecs = native::sections(op, native::checksum(op)).map_err(|e| e.to_string())?;
    let ohbc = osecs.iter().find(|s| s.0 == native::SECTION_HBC).unwrap().2;
    check(
        "other_program",
        &with(ohbc, &aot, &text),
        1,
        "its machine code was not compiled from its program",
    )?;
    // The runtime alone.
    let r = run(&mut Command::new(bin("hashvm-rt")), T);
    if r.code != 2 || !r.stderr.contains("no program is attached") {
        return Err(format!("hashvm-rt alone: {r:?}").into());
    }
    Ok(())
}

/// The runtime's settings are environment variables, with `hashvm run`'s effect; a bad
/// value is a usage error naming the variable.
fn settings_from_the_environment() -> Result<(), Failed> {
    let d = Scratch::new("native-env");
    let deep = "deep := (n: i64) -> i64 => if n == 0 { 0 } else { 1 + deep(n - 1) };
scale := (n: i64, v: Array<f64>, out: Array<f64>) => {
    for i in 0..n {
        mut sum := 0.0;
        for j in 0..n {
            sum += v[j] * i64.to_f64(i + 1);
        }
        out[i] = sum;
    }
};\n\
                main := () => { println(to_str(deep(100000))); };\n";
    let alloc = "main := () => {\n    println(\"before\");\n    mut xs: List<i64> := [];\n    \
                 loop { xs = Cons(1, xs); }\n};\n";
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("deep", deep, "HASHVM_STACK_LIMIT", "--stack-limit", "1000"),
        ("alloc", alloc, "HASHVM_HEAP_LIMIT", "--heap-limit", "1M"),
    ];
    for (name, src, var, flag, value) in cases {
        let exe = build_native(&d.0, name, src);
        let hbc = d.0.join(format!("{name}.hbc"));
        let r = run(
            Command::new(bin("hashc"))
                .arg(d.0.join(format!("{name}.hash")))
                .arg("-o")
                .arg(&hbc),
            T,
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let want = outcome(run(
            Command::new(bin("hashvm"))
                .arg("run")
                .arg(flag)
                .arg(value)
                .arg(&hbc)
                .current_dir(&d.0),
            T,
        ));
        let got = outcome(run(Command::new(&exe).env(var, value).current_dir(&d.0), T));
        if want != got || want.0 != 1 {
            return Err(differ(
                &format!("{var}={value} vs {flag} {value}"),
                &want,
                &got,
            ));
        }
    }
    let exe = d.0.join("deep");
    let off = outcome(run(Command::new(&exe).env("HASHVM_JIT", "off"), T));
    if off != (0, "100000\n".into(), String::new()) {
        return Err(format!("HASHVM_JIT=off: {off:?}").into());
    }
    for (var, value) in [
        ("HASHVM_STACK_LIMIT", "0"),
        ("HASHVM_HEAP_LIMIT", "lots"),
        ("HASHVM_JIT", "maybe"),
        ("HASHVM_JIT_HOT", "0"),
        ("HASHVM_JIT_DUMP", "yes"),
    ] {
        let r = run(Command::new(&exe).env(var, value), T);
        if r.code != 2 || !r.stderr.starts_with(&format!("error: {var}={value}: ")) {
            return Err(format!("{var}={value}: {r:?}").into());
        }
    }
    Ok(())
}

/// Numeric kernels the ahead-of-time compiler handles whole: recursion (fib, tak,
/// ackermann, a deep one), a float loop (a mandelbrot escape count), a division that
/// faults inside compiled code, loops keeping i64, f64 and bool values in registers
/// (left by a break, by an exit, by a fault: an index out of range in `scale`; one
/// entered from the interpreter at its back-edge, in `main`). `--native-stats` must list each as compiled (so the
/// comparisons below cannot pass with the code unused), the code must be entered
/// (`HASHVM_AOT_STATS`), and every run must match `hashvm run`: output, status, the
/// error and its stack trace, also at the frame limit and under GC stress.
const KERNELS: &str = "\
fib := (n: i64) -> i64 => if n < 2 { n } else { fib(n - 1) + fib(n - 2) };
tak := (x: i64, y: i64, z: i64) -> i64 =>
    if y < x { tak(tak(x - 1, y, z), tak(y - 1, z, x), tak(z - 1, x, y)) } else { z };
ack := (m: i64, n: i64) -> i64 =>
    if m == 0 { n + 1 } else if n == 0 { ack(m - 1, 1) } else { ack(m - 1, ack(m, n - 1)) };
escape := (cr: f64, ci: f64) -> i64 => {
    mut zr := 0.0;
    mut zi := 0.0;
    mut i := 0;
    while i < 200 && zr * zr + zi * zi <= 4.0 {
        t := zr * zr - zi * zi + cr;
        zi = 2.0 * zr * zi + ci;
        zr = t;
        i += 1;
    }
    i
};
deep := (n: i64) -> i64 => if n == 0 { 0 } else { 1 + deep(n - 1) };
scale := (n: i64, v: Array<f64>, out: Array<f64>) => {
    for i in 0..n {
        mut sum := 0.0;
        for j in 0..n {
            sum += v[j] * i64.to_f64(i + 1);
        }
        out[i] = sum;
    }
};
ratio := (a: i64, b: i64) -> i64 => if a > 100 { ratio(a - 100, b) } else { a / b + 1 };
homes := (n: i64, d: i64) -> i64 => {
    mut acc := 0;
    mut flip := false;
    mut x := 0.5;
    mut i := 0;
    while i < n {
        if flip { acc += i / d; } else { acc -= 1; }
        flip = !flip;
        x = x * 1.5;
        if x > 1000000.0 { break; }
        i += 1;
    }
    if x > 2.0 { acc } else { 0 - acc }
};
main := () => {
    mut total := 0;
    mut k := 0.25;
    for i in 0..3000 {
        total += i * 2;
        k = k + 0.5;
    }
    println(to_str(total) + \" \" + to_str(k));
    println(to_str(homes(100, 3)) + \" \" + to_str(homes(10, 3)));
    println(to_str(fib(22)));
    println(to_str(tak(18, 12, 6)));
    println(to_str(ack(2, 9)));
    println(to_str(escape(-0.5, 0.5)) + \" \" + to_str(escape(0.3, 0.6)));
    println(to_str(deep(3000)));
    v := array.make(5, 1.5);
    out := array.make(5, 0.0);
    scale(5, v, out);
    println(to_str(out[4]));
    scale(6, v, out);
    println(to_str(ratio(307, 2)));
    println(to_str(ratio(7, 0)));
};
";

fn aot_compiles_numeric_kernels() -> Result<(), Failed> {
    aot_compiles(
        KERNELS,
        &[
            "fib", "tak", "ack", "escape", "deep", "scale", "ratio", "homes", "main",
        ],
        4,
        // `main` is compiled (its `println`s are direct calls): one entry runs all.
        1,
    )
}

/// Stores of values of unknown kind (pointers among them) into arrays and fields,
/// whole from their slots through the write barrier (`aset.slot`, `setfield.slot`),
/// allocation inline (`con`, `tuple`, `cons`: a tree built recursively, tuples stored
/// in a loop, a list built by a tail call), and matching on constructors and lists (`jntag`, `jnil`/`jcons`,
/// `head`/`tail`), fields read as i64/f64 into registers: the functions compile, and under GC stress (every allocation collects, so
/// the targets are old and the stored arrays and strings young, and every inline
/// allocation leaves to the interpreter) the runs match, ending in an index out of
/// range inside a loop of such stores.
const STORES: &str = "\
Cell := struct(v: i64, next: Array<i64>, name: str);
put := (a: Array<Array<i64>>, i: i64, x: Array<i64>) => { a[i] = x; };
setn := (c: Cell, x: Array<i64>) => { c.next = x; };
setname := (c: Cell, s: str) => { c.name = s; };
fill := (a: Array<str>, n: i64, s: str) => {
    for i in 0..n { a[i] = s; }
};
Tree := enum(Empty, Node(Tree, Tree));
build := (d: i64) -> Tree => if d == 0 { Tree.Node(Tree.Empty, Tree.Empty) } else {
    Tree.Node(build(d - 1), build(d - 1))
};
size := (t: Tree) -> i64 => match t {
    Tree.Empty => 0,
    Tree.Node(l, r) => 1 + size(l) + size(r),
};
pairs := (n: i64, out: Array<(i64, f64)>) => {
    for i in 0..n { out[i] = (i, i64.to_f64(i) * 0.5); }
};
total := (xs: List<i64>) -> i64 => match xs { [] => 0, [h, ..rest] => h + total(rest) };
second := (xs: List<i64>) -> i64 => match xs { [_, b, ..] => b, _ => 0 - 1 };
P := struct(x: f64, n: i64);
norm := (p: P) -> f64 => p.x * 2.0 + i64.to_f64(p.n + 1);
upto := (n: i64, acc: List<i64>) -> List<i64> => if n == 0 { acc } else { upto(n - 1, Cons(n, acc)) };
main := () => {
    println(to_str(norm(P(1.25, 4))));
    println(to_str(total(upto(300, []))));
    println(to_str(size(build(10))));
    println(to_str(total([1, 2, 3, 4])) + \" \" + to_str(second([5, 6])) + \" \" + to_str(second([7])));
    ps := array.make(8, (0, 0.0));
    pairs(8, ps);
    println(to_str(ps[7].0) + \" \" + to_str(ps[7].1));
    outer := array.make(4, array.make(1, 0));
    for i in 0..4 {
        put(outer, i, array.make(i + 1, i));
    }
    c := Cell(1, array.make(2, 7), \"a\");
    for k in 0..200 {
        setn(c, array.make(3, k));
        setname(c, to_str(k));
    }
    names := array.make(5, \"\");
    fill(names, 5, \"x\" + to_str(c.v));
    println(to_str(outer[3][2]) + \" \" + to_str(c.next[1]) + \" \" + c.name + \" \" + names[4]);
    fill(names, 6, \"boom\");
};
";

fn aot_compiles_stores() -> Result<(), Failed> {
    aot_compiles(
        STORES,
        &[
            "put", "setn", "setname", "fill", "build", "size", "pairs", "total", "second", "upto",
            "norm",
        ],
        2,
        1,
    )
}

/// Direct calls between compiled functions (the result comes back in registers, the
/// caller pops the record; the frame stack is covered by the native stack floor the
/// trampoline sets): a chain of calls whose deepest callee faults (a division by zero
/// three calls down: the same message and stack trace), a compiled function entered
/// from `list.map` (its return goes to a continuation frame, not a bytecode frame: the
/// trampoline leaves to the interpreter at the `ret`), one returned to the interpreter
/// from a loop entry, and recursion deep enough to meet the frame limit (1,000 frames
/// in one of the runs: the overflow is reported where the interpreter reports it).
const CALLS: &str = "\
inner := (a: i64, b: i64) -> i64 => a / b + 1;
middle := (a: i64, b: i64) -> i64 => inner(a, b) * 2 + inner(b, 1);
outer := (a: i64, b: i64) -> i64 => middle(a + 1, b) + middle(b, 1);
twice := (x: i64) -> i64 => middle(x, 1) + 1;
half := (x: f64) -> f64 => x * 0.5;
quarter := (x: f64) -> f64 => half(half(x));
count := (n: i64) -> i64 => {
    mut s := 0;
    for i in 0..n { s += inner(i, 3); }
    s
};
depth := (n: i64) -> i64 => if n == 0 { 0 } else { 1 + depth(n - 1) };
main := () => {
    println(to_str(outer(10, 3)) + \" \" + to_str(quarter(10.0)));
    println(to_str(list.map([1, 2, 3], twice)));
    println(to_str(count(1000)));
    println(to_str(depth(500)));
    println(to_str(depth(5000)));
    println(to_str(outer(10, 0)));
};
";

/// `panic` (and `matchfail`) compile as exits to the interpreter, which raises the
/// error: their functions and callers compile whole, and a panic three compiled calls
/// down, inside a loop, gives the interpreter's message and stack trace.
const PANICS: &str = "\
check := (x: i64) -> i64 => if x > 40 { panic(\"too big\") } else { x + 1 };
step := (x: i64) -> i64 => check(x * 2) + 1;
walk := (n: i64) -> i64 => {
    mut s := 0;
    for i in 0..n { s += step(i); }
    s
};
main := () => {
    println(to_str(walk(10)));
    println(to_str(walk(30)));
};
";

fn aot_compiles_calls() -> Result<(), Failed> {
    aot_compiles(
        CALLS,
        &[
            "inner", "middle", "outer", "twice", "quarter", "count", "depth",
        ],
        0,
        4,
    )?;
    aot_compiles(PANICS, &["check", "step", "walk", "prelude.panic"], 0, 1)
}

/// Calls of small leaf functions inlined ([`Leaf`](hashvm_jit::aot)): in loops, which
/// then keep their values in home registers (the limit check made once in the loop's
/// preheader), followed by an index out of range inside such a loop; at the frame
/// limit (1,000 frames in one of the runs) inside a loop reached at depths around it,
/// where the preheader's check sends the loop to the interpreter, which reports the
/// overflow at the call as always.
const INLINE_LOOPS: &str = "\
sq := (x: f64) -> f64 => x * x + 0.5;
mix := (i: i64, j: i64) -> f64 => 1.0 / i64.to_f64((i + j) * (i + j + 1) / 2 + i + 1);
bump := (x: i64) -> i64 => x * 3 + 1;
sums := (n: i64, v: Array<f64>) -> f64 => {
    mut s := 0.0;
    for j in 0..n {
        x := v[j] + 0.25;
        s += mix(3, j) * x + sq(x);
    }
    s
};
steps := (n: i64) -> i64 => {
    mut k := 0;
    for i in 0..n { k = bump(k) % 1000 + i; }
    k
};
dive := (d: i64, v: Array<f64>) -> f64 => if d == 0 { sums(4, v) } else { dive(d - 1, v) + 1.0 };
main := () => {
    v := array.make(8, 1.5);
    println(to_str(sums(8, v)) + \" \" + to_str(steps(100)));
    for d in 993..1000 { println(to_str(dive(d, v))); }
    println(to_str(sums(9, v)));
};
";

/// Inlined calls outside loops (each with its own limit check), in a recursion that
/// meets the frame limit in one of the runs.
const INLINE_CALLS: &str = "\
bump := (x: i64) -> i64 => x * 3 + 1;
half := (x: i64) -> i64 => x / 2 - x % 7;
rec := (n: i64) -> i64 => if n == 0 { 0 } else { bump(n) - half(n) + rec(n - 1) };
main := () => {
    println(to_str(rec(500)));
    println(to_str(rec(5000)));
};
";

fn aot_inlines_leaves() -> Result<(), Failed> {
    aot_compiles(
        INLINE_LOOPS,
        &["sq", "mix", "bump", "sums", "steps", "dive"],
        3,
        1,
    )?;
    aot_compiles(INLINE_CALLS, &["bump", "half", "rec"], 0, 1)
}

/// Calls of short straight-line callees that can exit are inlined (SPEC.md §11.6
/// "Inlining"): in a loop with values pending, in a recursion that meets the frame
/// limit in one of the runs (the inlined call's limit check fails), and at the end with
/// an index out of range inside the inlined callee (the exit pushes its frame: the
/// stack trace names it). `--native-stats` must count the three calls inlined.
const INLINE_EXITS: &str = "\
P := struct(n: i64, v: Array<i64>);
swap := (p: P, i: i64, j: i64) => {
    t := p.v[i];
    p.v[i] = p.v[j];
    p.v[j] = t;
};
spin := (p: P, n: i64) -> i64 => {
    mut s := 0;
    for i in 0..n {
        x := s * 3 + i;
        swap(p, i % 3, 2 - i % 3);
        s = (x + p.v[1]) % 977;
    }
    s
};
rec := (p: P, n: i64) -> i64 => if n == 0 { p.v[0] } else { swap(p, 0, n % 3); rec(p, n - 1) + 1 };
bad := (p: P, j: i64) -> i64 => { k := p.n * 2; swap(p, 1, j); k };
main := () => {
    p := P(7, array.make(3, 1));
    p.v[2] = 5;
    println(to_str(spin(p, 100)));
    println(to_str(rec(p, 2000)));
    println(to_str(bad(p, 3)));
};
";

fn aot_inlines_callees_that_exit() -> Result<(), Failed> {
    let d = Scratch::new("native-inline-exits");
    let src = d.0.join("k.hash");
    std::fs::write(&src, INLINE_EXITS).map_err(|e| e.to_string())?;
    let r = run(
        Command::new(bin("hashc"))
            .args(["--native", "--native-stats"])
            .arg(&src)
            .arg("-o")
            .arg(d.0.join("k")),
        T,
    );
    let inlined = r
        .stderr
        .split(" calls inlined")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse::<u32>().ok());
    if r.code != 0 || inlined != Some(3) {
        return Err(format!("calls inlined: {inlined:?}\n{}", r.stderr).into());
    }
    aot_compiles(INLINE_EXITS, &["swap", "spin", "rec", "bad"], 0, 1)
}

/// Pending values of slots dead where they would be written back are not written
/// (temporaries, values overwritten before any read): exits in the middle of such code
/// (every inline allocation leaves to the interpreter under GC stress, an index out of
/// range at the end) resume the interpreter with every live slot in memory.
const DEAD_STORES: &str = "\
P := struct(x: f64, n: i64);
mk := (n: i64, a: Array<P>) -> f64 => {
    mut s := 0.0;
    for i in 0..n {
        t := i64.to_f64(i) * 2.0;
        u := t + 1.0;
        a[i] = P(u, i * 3);
        w := a[i].x * 0.5;
        s += u + w + i64.to_f64(a[i].n);
    }
    s
};
main := () => {
    a := array.make(6, P(0.0, 0));
    println(to_str(mk(6, a)));
    println(to_str(mk(7, a)));
};
";

fn aot_skips_dead_stores() -> Result<(), Failed> {
    aot_compiles(DEAD_STORES, &["mk"], 0, 1)
}

/// The write barrier's slow path in compiled code: young objects stored into an old
/// array and an old struct (promoted by the collections the allocation loop makes),
/// which compiled code puts in the remembered set through the runtime and goes on,
/// instead of leaving to the interpreter; later collections must keep and update what
/// only the old objects point to. Then an index out of range in the same compiled
/// function (the interpreter's message and stack trace).
const BARRIER: &str = "\
Box := struct(v: i64, next: Option<Box>);
Holder := struct(items: Array<Option<Box>>, last: Option<Box>);
put := (h: Holder, i: i64, v: i64) => {
    b := Box(v, h.last);
    h.items[i] = Some(b);
    h.last = Some(b);
};
churn := (n: i64) -> i64 => {
    mut s := 0;
    for k in 0..n {
        b := Box(k, None);
        s += b.v % 3;
    }
    s
};
total := (h: Holder, n: i64) -> i64 => {
    mut s := 0;
    for i in 0..n {
        match h.items[i] {
            Some(b) => { s += b.v; },
            None => (),
        }
    }
    s
};
depth := (o: Option<Box>) -> i64 => match o {
    Some(b) => 1 + depth(b.next),
    None => 0,
};
main := () => {
    h := Holder(array.make(64, None), None);
    println(to_str(churn(300000)));
    for i in 0..64 {
        put(h, i, i * 7);
        churn(3000);
    }
    println(to_str(total(h, 64)) + \" \" + to_str(depth(h.last)));
    put(h, 64, 1);
};
";

fn aot_calls_the_barrier() -> Result<(), Failed> {
    aot_compiles(BARRIER, &["put", "churn", "total", "depth"], 0, 4)
}

/// Instructions run by the VM through helper calls (`call.insn`: `anew`, `tostr`,
/// `scat`, `print`) inside compiled functions, which compile whole, also called
/// natively 20 and 50 frames deep (the helper adopts the native frames: a collection in
/// it, under GC stress, sees them), then an `anew` of a negative length 20 compiled
/// calls down: the fault inside the helper, raised with the interpreter's message and
/// stack trace.
const HELPERS: &str = "\
mk := (n: i64) -> Array<i64> => array.make(n, 0);
label := (k: i64) -> str => \"k\" + to_str(k);
fill := (n: i64) -> i64 => {
    a := mk(n);
    mut s := 0;
    for i in 0..n {
        a[i] = i * 2;
        s += a[i];
    }
    s
};
names := (n: i64) -> str => {
    mut s := \"\";
    for i in 0..n { s = s + label(i); }
    s
};
deep := (d: i64, n: i64) -> i64 => if d == 0 { fill(n) } else { deep(d - 1, n) + 1 };
main := () => {
    println(to_str(fill(10)) + \" \" + names(5));
    println(to_str(deep(50, 100)) + \" \" + to_str(i64.min(3, 4)));
    print(\"no newline \");
    println(to_str(deep(20, -1)));
};
";

fn aot_calls_helpers() -> Result<(), Failed> {
    aot_compiles(
        HELPERS,
        &[
            "mk",
            "label",
            "fill",
            "names",
            "deep",
            "array.make",
            "prelude.to_str",
        ],
        0,
        3,
    )
}

/// A field read next as an array (`aget`, `aset`, `alen`) is loaded into a register,
/// guarded to be an array, not copied to its slot: reads, stores and lengths through
/// fields in compiled functions, then an index out of range through one.
const FIELD_ARRAYS: &str = "\
Box := struct(n: i64, xs: Array<i64>);
get := (b: Box, i: i64) -> i64 => b.xs[i] + array.len(b.xs);
put := (b: Box, i: i64, v: i64) => { b.xs[i] = v; };
main := () => {
    b := Box(3, array.make(4, 1));
    mut s := 0;
    for i in 0..4 {
        put(b, i, i * i);
        s += get(b, i);
    }
    println(to_str(s));
    println(to_str(get(b, 4)));
};
";

fn aot_loads_arrays_from_fields() -> Result<(), Failed> {
    aot_compiles(FIELD_ARRAYS, &["get", "put"], 0, 1)
}

/// An element read next as an i64, f64 or bool is loaded into a register (`aget.any`:
/// the array's layout decided at run time, general or flat), from flat and general
/// arrays of each kind, then an index out of range in such a load.
const TYPED_ELEMENTS: &str = "\
sum := (a: Array<i64>, n: i64) -> i64 => {
    mut s := 0;
    for i in 0..n { s += a[i]; }
    s
};
fsum := (a: Array<f64>, n: i64) -> f64 => {
    mut s := 0.0;
    for i in 0..n { s += a[i] * 0.5; }
    s
};
count := (a: Array<bool>, n: i64) -> i64 => {
    mut c := 0;
    for i in 0..n {
        if a[i] { c += 1; }
    }
    c
};
main := () => {
    flat := array.make(5, 3);
    general := list.to_array([1, 2, 3, 4, 5]);
    fl := array.make(4, 1.5);
    bs := array.make(6, true);
    bs[2] = false;
    println(to_str(sum(flat, 5)) + \" \" + to_str(sum(general, 5)) + \" \" + to_str(fsum(fl, 4)) + \" \" + to_str(count(bs, 6)));
    println(to_str(sum(general, 6)));
};
";

fn aot_loads_typed_elements() -> Result<(), Failed> {
    aot_compiles(TYPED_ELEMENTS, &["sum", "fsum", "count"], 1, 1)
}

/// Calls through function values (`call`, `tcall`: SPEC.md §11.6): a function passed
/// as a value and called in a compiled loop, the standard library's `println` through
/// its global (a known callee: a direct call), closures made and called natively (their
/// captures read from the frame's record), a tail call through a value 100000 times in
/// constant stack, and recursion through a value 3000 frames deep, which passes the
/// frame limit of the run at limit 1000 (the overflow's message and stack trace as
/// interpreted), also under GC stress.
const VALUES: &str = "\
fold := (f: (i64, i64) -> i64, n: i64, acc: i64) -> i64 => {
    mut a := acc;
    for i in 0..n { a = f(a, i); }
    a
};
mix := (a: i64, i: i64) -> i64 => (a * 31 + i) % 1000003;
adder := (k: i64) -> (i64) -> i64 => (x: i64) -> i64 => x + k;
sum_adders := (n: i64) -> i64 => {
    mut s := 0;
    for i in 0..n { s += adder(i)(i); }
    s
};
spin := (f: (i64, i64) -> i64, n: i64, acc: i64) -> i64 => if n == 0 { acc } else { f(n - 1, acc + n) };
go := (n: i64, acc: i64) -> i64 => spin(go, n, acc);
down := (f: (i64) -> i64, n: i64) -> i64 => if n == 0 { 0 } else { 1 + f(n - 1) };
step := (n: i64) -> i64 => down(step, n);
main := () => {
    println(to_str(fold(mix, 5000, 1)) + \" \" + to_str(sum_adders(2000)));
    println(to_str(go(100000, 0)));
    println(to_str(step(3000)));
};
";

/// Functions ending in `con.ret`, `add.i64.ret` and `loadg.ret` (each followed by its
/// `ret`), and starting with a `jntag.reti` (followed by its `reti`), compile natively:
/// the native compiler reads the fused instruction as `con`/`add.i64`/`loadg`/`jntag`
/// and compiles the return after it (`Op::unfused`); the program is the JIT suite's.
fn aot_compiles_fused_returns() -> Result<(), Failed> {
    aot_compiles(
        include_str!("jit/fused_returns.hash"),
        &[
            "make",
            "total",
            "sum3",
            "boxed",
            "box_total",
            "pair",
            "grow",
            "check",
            "first",
        ],
        0,
        1,
    )
}

fn aot_calls_through_values() -> Result<(), Failed> {
    aot_compiles(
        VALUES,
        &[
            "fold",
            "mix",
            "adder",
            "sum_adders",
            "spin",
            "go",
            "down",
            "step",
            "main",
        ],
        0,
        1,
    )
}

/// Builds `program` natively: `--native-stats` must list the functions `must` as
/// compiled and count at least `homes` loops keeping values in registers; then runs it
/// with and without its compiled code, also at a low frame limit and under GC stress,
/// against `hashvm run --jit=off` (and the compiled code must be entered at least
/// `least` times).
fn aot_compiles(program: &str, must: &[&str], homes: u32, least: u64) -> Result<(), Failed> {
    let d = Scratch::new("native-aot");
    let src = d.0.join("k.hash");
    std::fs::write(&src, program).map_err(|e| e.to_string())?;
    let exe = d.0.join("k");
    let r = run(
        Command::new(bin("hashc"))
            .args(["--native", "--native-stats"])
            .arg(&src)
            .arg("-o")
            .arg(&exe),
        T,
    );
    if r.code != 0 {
        return Err(format!("hashc --native: {r:?}").into());
    }
    for f in must {
        if !r.stderr.lines().any(|l| l == format!("  compiled     {f}")) {
            return Err(format!(
                "--native-stats does not list {f} as compiled:\n{}",
                r.stderr
            )
            .into());
        }
    }
    let homed = r
        .stderr
        .split(" loops keeping values in registers")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse::<u32>().ok());
    if homed.is_none_or(|n| n < homes) {
        return Err(format!("loops with registers: {homed:?}\n{}", r.stderr).into());
    }
    let hbc = d.0.join("k.hbc");
    let b = run(Command::new(bin("hashc")).arg(&src).arg("-o").arg(&hbc), T);
    if b.code != 0 {
        return Err(b.stderr.into());
    }
    same_at_limits(&exe, &hbc, least).map(|_| ())
}

/// The `HASHVM_AOT_STATS` lines of runs, by (stack limit, GC stress).
type Stats = Vec<((&'static str, &'static str), Vec<String>)>;

/// Runs the native executable `exe` at stack limits of 100000 and 1000 calls, with
/// and without GC stress, with its compiled code and without (`HASHVM_AOT`), against
/// `hashvm run --jit=off` of `hbc` with the same limit and stress; the compiled code
/// must be entered at least `least` times. Returns the `HASHVM_AOT_STATS` lines of
/// each run with the compiled code, by (limit, stress).
fn same_at_limits(exe: &Path, hbc: &Path, least: u64) -> Result<Stats, Failed> {
    let mut all = Vec::new();
    for (limit, stress) in [
        ("100000", "0"),
        ("1000", "0"),
        ("100000", "1"),
        ("1000", "1"),
    ] {
        let want = outcome(run(
            Command::new(bin("hashvm"))
                .args(["run", "--jit=off", "--stack-limit", limit])
                .arg(hbc)
                .env("HASHVM_GC_STRESS", stress),
            T,
        ));
        for aot in ["on", "off"] {
            let (code, out, err) = outcome(run(
                Command::new(exe)
                    .env("HASHVM_STACK_LIMIT", limit)
                    .env("HASHVM_GC_STRESS", stress)
                    .env("HASHVM_AOT", aot)
                    .env("HASHVM_AOT_STATS", "1"),
                T,
            ));
            let (stats, err): (Vec<&str>, Vec<&str>) =
                err.lines().partition(|l| l.starts_with("aot: "));
            let mut err = err.join("\n");
            if !err.is_empty() {
                err.push('\n');
            }
            let got = (code, out, err);
            if got != want {
                return Err(differ(
                    &format!("HASHVM_AOT={aot}, stack limit {limit}, GC stress {stress}"),
                    &want,
                    &got,
                ));
            }
            let entered = stats
                .first()
                .and_then(|l| l.strip_prefix("aot: "))
                .and_then(|l| l.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok());
            match (aot, entered) {
                ("on", Some(n)) if n >= least => all.push((
                    (limit, stress),
                    stats.iter().map(|l| l.to_string()).collect(),
                )),
                ("off", None) => {}
                _ => return Err(format!("HASHVM_AOT={aot}: code entered {stats:?}").into()),
            }
        }
    }
    Ok(all)
}

/// Typed entries (SPEC.md §11.6): cli/tests/jit/aot_typed_entry.hash's functions are
/// entered past their tag compares by their compiled callers, at stack limits of
/// 100000 and 1000 calls (`depth(5000, 3)` overflows at the second: the same message
/// and stack trace), with and without GC stress (`fill` collects at the bottom of a
/// recursion of typed calls), against `hashvm run`.
fn aot_enters_typed() -> Result<(), Failed> {
    let src = root().join("cli/tests/jit/aot_typed_entry.hash");
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    aot_compiles(&text, &["tak", "scale", "fill", "depth", "main"], 0, 1)
}

/// Direct calls' results taken from `rax` (SPEC.md §11.6, "Calls"; IR `call.res`):
/// cli/tests/jit/aot_call_result.hash's recursions use their calls' results from a
/// register, at stack limits of 100000 and 1000 calls (`down(5000)` overflows at the
/// second: the same message and stack trace; at the first, `pick` faults 40 calls
/// deep), with and without GC stress (`keep` leaves to the interpreter to collect,
/// `label`'s helpers collect), against `hashvm run`.
fn aot_takes_call_results() -> Result<(), Failed> {
    let src = root().join("cli/tests/jit/aot_call_result.hash");
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    aot_compiles(
        &text,
        &[
            "ack", "fsum", "parity", "twice", "sumto", "labels", "down", "pick", "main",
        ],
        0,
        1,
    )
}

/// Lazy frame records (SPEC.md §11.6, "Calls"; `aot::emit::fill_records`):
/// cli/tests/jit/aot_lazy_records.hash's recursions push records holding only the
/// callee's function and closure, completed at each exit: under GC stress a collection
/// with 150 lazy records below (`deep`), an exit stub of an inlined callee pushing its
/// frame on a lazy record, a fault 30 calls deep whose stack trace names each caller's
/// line (`probe`), a walk past an indirect call's return address to the frame limit of
/// 1000 (`viaclosure`), a call through a global; against `hashvm run` at limits of
/// 100000 and 1000 calls, with and without GC stress.
fn aot_completes_lazy_records() -> Result<(), Failed> {
    let src = root().join("cli/tests/jit/aot_lazy_records.hash");
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    aot_compiles(
        &text,
        &["deep", "warm", "get", "probe", "down", "viaclosure", "main"],
        0,
        1,
    )
}

/// cli/tests/jit/aot_call_return.hash's returns (values returned from `rax` where they
/// were computed, parameters returned from their registers) and lazy closures (a
/// collection under GC stress with records whose closures were left to the shared
/// exit, above records that held closure objects; a fault 40 calls deep; an overflow
/// of the frame limit of 1000), and cli/tests/jit/aot_host_return.hash's `main`
/// returning its exit status from a register to the host's frame (the returns
/// table's `ret`): against `hashvm run` at limits of 100000 and 1000 calls, with and
/// without GC stress.
fn aot_calls_and_returns() -> Result<(), Failed> {
    let src = root().join("cli/tests/jit/aot_call_return.hash");
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    aot_compiles(
        &text,
        &[
            "diff", "sq", "pick", "flip", "spin", "hold", "fall", "down", "twice",
        ],
        0,
        1,
    )?;
    let src = root().join("cli/tests/jit/aot_host_return.hash");
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    aot_compiles(&text, &["sum", "pick", "main"], 0, 1)
}

/// Direct calls and inlined calls' limit checks (`call.room`) chained in a fragment
/// (SPEC.md §11.6, "A frame top shared between calls" and "Inlining"):
/// cli/tests/jit/aot_call_top.hash's chains of different callees with no guard
/// between them (the second push writing its record where the first left the frame
/// top; a fault under such a chain, a non-lazy push reading its caller's record),
/// `hop`'s inlined `nxt` checked with one compare shared with its calls, and deep runs
/// that cross the native stack's floor or overflow the frame limit of 1000 inside a
/// chain; aot_call_top_gap.hash's fault at a guard between two calls and
/// aot_call_top_past.hash's panic inside an inlined body 30 calls deep: against
/// `hashvm run` at limits of 100000 and 1000 calls, with and without GC stress.
fn aot_shares_call_checks() -> Result<(), Failed> {
    for (file, must) in [
        (
            "aot_call_top.hash",
            &[
                "down", "dv", "noisy", "pair", "trio", "mixed", "first", "hop", "gap",
            ][..],
        ),
        ("aot_call_top_gap.hash", &["down", "dv", "gap", "main"][..]),
        ("aot_call_top_past.hash", &["len", "hop", "main"][..]),
    ] {
        let src = root().join("cli/tests/jit").join(file);
        let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
        aot_compiles(&text, must, 0, 1)?;
    }
    Ok(())
}

/// Register arguments (cli/tests/jit/aot_call_args.hash): i64 parameters passed in
/// registers as well as in their slots, rotated by self tail calls and calls (a cycle
/// of registers the parallel move breaks), swapped, a call's result passed on by a
/// self tail call, the checked and indirect entries (which load the registers from the
/// slots), and a fault and a stack overflow deep in a recursion that takes them.
fn aot_passes_register_arguments() -> Result<(), Failed> {
    let src = root().join("cli/tests/jit/aot_call_args.hash");
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    aot_compiles(&text, &["rot", "rotc", "pick", "ack", "down", "main"], 0, 1)
}

/// Block arguments (cli/tests/jit/aot_block_args.hash): blocks entered by a branch
/// take i64 slots from registers: in place (`fib`, `ack`), moved on the branch's way
/// (`spread`), loaded at the block's start where moving them would cost as much
/// (`swap`), none where the branch does not hold them all (`walk`), and a fault deep
/// in a recursion whose blocks take them (stack trace), at both frame limits. A build
/// that skipped the moves fails `spread`, one that skipped the loads fails `swap`.
fn aot_passes_block_arguments() -> Result<(), Failed> {
    let src = root().join("cli/tests/jit/aot_block_args.hash");
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    aot_compiles(
        &text,
        &["fib", "ack", "spread", "walk", "swap", "divs", "main"],
        0,
        1,
    )
}

/// Returns that set no tag word in `rdx` (cli/tests/jit/aot_tagless_return.hash):
/// the result stored whole by a direct call with the tag the callee's kind gives,
/// read from the returns table after calls through function values and by the
/// trampoline, and a `reti` of a function without a returns-table row returning to
/// the host (exit status 3).
fn aot_returns_without_tags() -> Result<(), Failed> {
    let src = root().join("cli/tests/jit/aot_tagless_return.hash");
    let text = std::fs::read_to_string(&src).map_err(|e| e.to_string())?;
    aot_compiles(
        &text,
        &[
            "count", "half", "small", "code", "apply", "applyf", "applyb", "guarded", "main",
        ],
        0,
        1,
    )
}

/// A loop whose preheader check fails in a function pushed by a direct native call
/// that kept slots uncleared (cli/tests/jit/aot_kept_preheader.hasm): the failure
/// must clear them as an exit stub does, or the collection right after it under GC
/// stress meets a dangling root. The stats must show the preheader's exit (at
/// `walk`'s loop header, offset 23) in every run, the stress runs included.
fn aot_clears_kept_slots_at_preheaders() -> Result<(), Failed> {
    let d = Scratch::new("native-kept-preheader");
    let hbc = d.0.join("k.hbc");
    let exe = d.0.join("k");
    let src = root().join("cli/tests/jit/aot_kept_preheader.hasm");
    let a = run(
        Command::new(bin("hashvm"))
            .arg("asm")
            .arg(&src)
            .arg("-o")
            .arg(&hbc),
        T,
    );
    if a.code != 0 {
        return Err(a.stderr.into());
    }
    let l = run(
        Command::new(bin("hashld"))
            .arg("--native")
            .arg(&hbc)
            .arg("-o")
            .arg(&exe),
        T,
    );
    if l.code != 0 {
        return Err(l.stderr.into());
    }
    for (at, stats) in same_at_limits(&exe, &hbc, 1)? {
        if !stats.iter().any(|l| l.ends_with(" at walk +23")) {
            return Err(format!("{at:?}: the preheader's exit was not taken: {stats:?}").into());
        }
    }
    Ok(())
}

/// A self-tail-call loop's parameters carried in registers (SPEC.md §11.6, "Carried
/// parameters"; cli/tests/jit/aot_carried.hasm): the runs match `hashvm run` at both
/// stack limits, with and without GC stress; and without GC stress the loops leave to
/// the interpreter only where the program makes them (`divs`' division by -1 at
/// offset 58, the fault in `shorter` at offset 39). Registers not loaded at an entry
/// hold what the trampoline or the caller left, whose tag compare most often fails:
/// the loop then leaves at its first check (`shorter +0`, `divs +0`), the same output
/// from the interpreter, which these counts tell apart.
fn aot_carries_parameters() -> Result<(), Failed> {
    let d = Scratch::new("native-carried");
    let hbc = d.0.join("k.hbc");
    let exe = d.0.join("k");
    let src = root().join("cli/tests/jit/aot_carried.hasm");
    let a = run(
        Command::new(bin("hashvm"))
            .arg("asm")
            .arg(&src)
            .arg("-o")
            .arg(&hbc),
        T,
    );
    if a.code != 0 {
        return Err(a.stderr.into());
    }
    let l = run(
        Command::new(bin("hashld"))
            .arg("--native")
            .arg(&hbc)
            .arg("-o")
            .arg(&exe),
        T,
    );
    if l.code != 0 {
        return Err(l.stderr.into());
    }
    let loops = ["shorter", "pick", "divs", "gather", "sum"];
    for ((limit, stress), stats) in same_at_limits(&exe, &hbc, 1)? {
        if stress == "1" {
            continue;
        }
        for line in &stats {
            let Some((_, at)) = line.split_once(" at ") else {
                continue;
            };
            let f = at.split(' ').next().unwrap_or("");
            if loops.contains(&f) && at != "divs +58" && at != "shorter +39" {
                return Err(format!("stack limit {limit}: an unexpected exit: {stats:?}").into());
            }
        }
        if !stats.iter().any(|l| l.ends_with(" at divs +58")) {
            return Err(format!("stack limit {limit}: no exit at the division: {stats:?}").into());
        }
    }
    Ok(())
}

/// Carried parameters written back, not through, and walks through single `field`s
/// (cli/tests/jit/aot_carried_fields.hasm, SPEC.md §11.6 "Carried parameters"): the
/// same output, exit status, message and stack trace as `hashvm run --jit=off` at both
/// stack limits, with and without GC stress; without stress the walks leave only where
/// the program makes them, the fault's exit once (a stale slot after an exit makes the
/// interpreter walk again from an earlier element and leave there again).
fn aot_carries_field_walks() -> Result<(), Failed> {
    let d = Scratch::new("native-carried-fields");
    let hbc = d.0.join("k.hbc");
    let exe = d.0.join("k");
    let src = root().join("cli/tests/jit/aot_carried_fields.hasm");
    let a = run(
        Command::new(bin("hashvm"))
            .arg("asm")
            .arg(&src)
            .arg("-o")
            .arg(&hbc),
        T,
    );
    if a.code != 0 {
        return Err(a.stderr.into());
    }
    let l = run(
        Command::new(bin("hashld"))
            .arg("--native")
            .arg(&hbc)
            .arg("-o")
            .arg(&exe),
        T,
    );
    if l.code != 0 {
        return Err(l.stderr.into());
    }
    let loops = ["find", "divl", "grow", "suml"];
    for ((limit, stress), stats) in same_at_limits(&exe, &hbc, 1)? {
        if stress == "1" {
            continue;
        }
        for line in &stats {
            let Some((n, at)) = line.split_once(" at ") else {
                continue;
            };
            let f = at.split(' ').next().unwrap_or("");
            let n = n.trim_start_matches("aot:").trim();
            let expected = match at {
                "divl +44" => true,
                "suml +26" => n == "1",
                _ => false,
            };
            if loops.contains(&f) && !expected {
                return Err(format!("stack limit {limit}: an unexpected exit: {stats:?}").into());
            }
        }
        for at in [" at divl +44", " at suml +26"] {
            if !stats.iter().any(|l| l.ends_with(at)) {
                return Err(format!("stack limit {limit}: no exit{at}: {stats:?}").into());
            }
        }
    }
    Ok(())
}

/// The `aot: tier-up:` line of `HASHVM_AOT_STATS`: hand-overs of loops to the tracing
/// JIT, their recordings that got a trace, loops kept native, and exits of compiled
/// loops to their traces.
/// Runs native executable `exe` with `HASHVM_AOT_STATS=1`, with the JIT off when
/// `jit_off`: the run and the lines of its standard error (where the counts go).
fn aot_stats(exe: &Path, jit_off: bool) -> (Run, Vec<String>) {
    let mut cmd = Command::new(exe);
    cmd.env("HASHVM_AOT_STATS", "1");
    if jit_off {
        cmd.env("HASHVM_JIT", "off");
    }
    let r = run(&mut cmd, T);
    let stats = r.stderr.lines().map(String::from).collect();
    (r, stats)
}

fn tier_counts(stats: &[String]) -> Option<[u64; 4]> {
    let l = stats
        .iter()
        .find_map(|l| l.strip_prefix("aot: tier-up: "))?;
    let n: Vec<u64> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    n.try_into().ok()
}

/// Each run's setting and its `HASHVM_AOT_STATS` lines ([`tier_runs`]).
type TierRuns = Vec<(String, Vec<String>)>;

/// Builds cli/tests/jit/NAME.hash natively (`dir/t`) and as bytecode, and runs the
/// executable at the default hotness and at hotness 1, with and without GC stress: each
/// run must match `hashvm run` (the fault's stack trace included). Returns the
/// executable and each run's setting and `HASHVM_AOT_STATS` lines.
fn tier_runs(dir: &Path, name: &str) -> Result<(PathBuf, TierRuns), Failed> {
    let src = root().join(format!("cli/tests/jit/{name}.hash"));
    let exe = dir.join("t");
    let hbc = dir.join("t.hbc");
    for (out, native) in [(&exe, true), (&hbc, false)] {
        let mut c = Command::new(bin("hashc"));
        if native {
            c.arg("--native");
        }
        let r = run(c.arg(&src).arg("-o").arg(out), T);
        if r.code != 0 {
            return Err(r.stderr.into());
        }
    }
    let want = outcome(run(Command::new(bin("hashvm")).arg("run").arg(&hbc), T));
    let mut runs = Vec::new();
    for (hot, stress) in [("1000", "0"), ("1", "0"), ("1", "1")] {
        let (code, out, err) = outcome(run(
            Command::new(&exe)
                .env("HASHVM_JIT_HOT", hot)
                .env("HASHVM_GC_STRESS", stress)
                .env("HASHVM_AOT_STATS", "1"),
            T,
        ));
        let (stats, err): (Vec<&str>, Vec<&str>) =
            err.lines().partition(|l| l.starts_with("aot: "));
        let got = (code, out, format!("{}\n", err.join("\n")));
        let at = format!("hotness {hot}, GC stress {stress}");
        if got != want {
            return Err(differ(&at, &want, &got));
        }
        runs.push((at, stats.iter().map(|l| l.to_string()).collect()));
    }
    Ok((exe, runs))
}

/// Tier-up (SPEC.md §11.6): the compiled loops of cli/tests/jit/aot_tier_up.hash hand
/// over to the tracing JIT and get traces, and later runs of them leave to those
/// traces, at the default hotness and at hotness 1, with and without GC stress (the
/// runs must match `hashvm run`, the fault's stack trace included). With the tracing
/// JIT off nothing is handed over, and a loop without calls (values in home registers)
/// is never handed over. Then a loop whose recordings always fail (a body
/// longer than a trace may be) is handed over three times and then stays native: of
/// its 200000 passes only those three leave at its back-edge, never more (no exit
/// storm).
fn aot_tiers_up() -> Result<(), Failed> {
    let d = Scratch::new("native-tier-up");
    let (exe, runs) = tier_runs(&d.0, "aot_tier_up")?;
    for (at, stats) in runs {
        match tier_counts(&stats) {
            Some([handed, traced, 0, to_traces])
                if handed >= 4 && traced >= 4 && to_traces >= 1 => {}
            c => return Err(format!("{at}: tier-up {c:?}: {stats:?}").into()),
        }
    }
    let (_, stats) = aot_stats(&exe, true);
    if tier_counts(&stats) != Some([0, 0, 0, 0]) {
        return Err(format!("with the JIT off: {stats:?}").into());
    }
    let exe = build_native(
        &d.0,
        "homed",
        "sum := (n: i64) -> i64 => {\n    mut s := 0;\n    for i in 0..n {\n        s = (s * 31 + i) % 1000003;\n    }\n    s\n};\nmain := () => { println(to_str(sum(100000))); };\n",
    );
    let (r, stats) = aot_stats(&exe, false);
    if r.code != 0 || tier_counts(&stats) != Some([0, 0, 0, 0]) {
        return Err(format!("a loop without calls: {r:?}").into());
    }
    // `long`'s loop body: a call through a function value (a loop without calls keeps
    // its values in registers and does not tier up) and 300 statements, about 900
    // instructions to record.
    let body: String = (0..300)
        .map(|k| format!("        s = (s * 3 + i + {k}) % 1000003;\n"))
        .collect();
    let prog = format!(
        "step := (s: i64) -> i64 => s + 1;\nlong := (n: i64, f: (i64) -> i64) -> i64 => {{\n    mut s := 1;\n    for i in 0..n {{\n        s = f(s);\n{body}    }}\n    s\n}};\nmain := () => {{ println(to_str(long(200000, step))); }};\n"
    );
    refused_three_times(&d.0, &prog, "long +")
}

/// Builds `prog`, whose function `long` is handed over to the tracing JIT (at a loop or
/// its entry) and whose recordings always fail, and checks that it leaves at `place`
/// exactly three times (three hand-overs, one refusal, no trace) and then stays native.
fn refused_three_times(dir: &Path, prog: &str, place: &str) -> Result<(), Failed> {
    let exe = build_native(dir, "long", prog);
    let (r, stats) = aot_stats(&exe, false);
    if r.code != 0 || tier_counts(&stats) != Some([3, 0, 1, 0]) {
        return Err(format!("{place}: {r:?}").into());
    }
    let left = exits_at(&stats, place);
    if left != 3 {
        return Err(format!("{place} left {left} times, not 3: {stats:?}").into());
    }
    Ok(())
}

/// The exits `HASHVM_AOT_STATS` counted at places starting with `place` (a function's
/// name and ` +`, or with its offset).
fn exits_at(stats: &[String], place: &str) -> u64 {
    stats
        .iter()
        .filter(|l| l.contains(&format!(" at {place}")))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Tier-up at a function's entry (SPEC.md §11.6): in cli/tests/jit/aot_tier_entry.hash
/// `spread` and `walk` (they call themselves and return nothing) hand over at their
/// entry to the tracing JIT and get their entry trees (`walk` at the default hotness),
/// and later native calls of `spread` leave at its entry to its tree, at the default
/// hotness and at hotness 1,
/// with and without GC stress (the runs must match `hashvm run`, the fault inside the
/// tree included); with the tracing JIT off no entry leaves. Then a function whose
/// recordings always fail (a body longer than a trace may be) is handed over three
/// times and then stays native: of its 40000 calls only those three leave at its entry.
fn aot_tiers_up_at_entry() -> Result<(), Failed> {
    let d = Scratch::new("native-tier-entry");
    let (exe, runs) = tier_runs(&d.0, "aot_tier_entry")?;
    for (at, stats) in runs {
        // At hotness 1 `walk`'s three recordings may all start where its loop runs,
        // which has no trace to link to: it may stay native.
        let both = if at.starts_with("hotness 1000") { 2 } else { 1 };
        let spread = exits_at(&stats, "spread +0");
        match tier_counts(&stats) {
            Some([handed, traced, _, to_traces])
                if handed >= 2 && traced >= both && to_traces >= 100 && spread >= 100 => {}
            c => return Err(format!("{at}: tier-up {c:?}: {stats:?}").into()),
        }
    }
    let (_, stats) = aot_stats(&exe, true);
    if tier_counts(&stats) != Some([0, 0, 0, 0]) || exits_at(&stats, "spread +0") != 0 {
        return Err(format!("with the JIT off: {stats:?}").into());
    }
    // `long` calls itself and returns nothing, with 300 statements to record before
    // its call; `drive` calls it 10000 times (and, returning a value, does not tier up;
    // its self tail call is a loop that does not count).
    let body: String = (0..300)
        .map(|k| format!("    a.s = (a.s * 3 + n + {k}) % 1000003;\n"))
        .collect();
    let prog = format!(
        "Acc := struct(s: i64);\nlong := (a: Acc, n: i64) => {{\n{body}    if n > 0 {{\n        long(a, n - 1);\n    }}\n}};\ndrive := (a: Acc, n: i64) -> i64 => if n == 0 {{ a.s }} else {{\n    long(a, 3);\n    drive(a, n - 1)\n}};\nmain := () => {{ println(to_str(drive(Acc(1), 10000))); }};\n"
    );
    refused_three_times(&d.0, &prog, "long +0")
}

/// The tools find the runtime beside themselves or at `$HASHVM_RT`, and say what is
/// wrong when it is missing or is not a runtime; `--native-stats` reports the counts.
fn finding_the_runtime() -> Result<(), Failed> {
    let d = Scratch::new("native-rt");
    let src = d.0.join("hello.hash");
    std::fs::write(&src, "main := () => { println(\"hi\"); };\n").unwrap();
    let hashc = |env: Option<&Path>, extra: &[&str]| {
        let mut c = Command::new(bin("hashc"));
        c.arg("--native")
            .args(extra)
            .arg(&src)
            .arg("-o")
            .arg(d.0.join("hello"));
        if let Some(e) = env {
            c.env("HASHVM_RT", e);
        }
        run(&mut c, T)
    };
    let r = hashc(Some(&d.0.join("missing")), &[]);
    if r.code != 1 || !r.stderr.contains("from HASHVM_RT) is not a file") {
        return Err(format!("missing runtime: {r:?}").into());
    }
    let r = hashc(Some(&bin("hashc")), &[]);
    if r.code != 1 || !r.stderr.contains("is not a hashvm-rt runtime") {
        return Err(format!("hashc as the runtime: {r:?}").into());
    }
    let r = hashc(Some(&bin("hashvm-rt")), &["--native-stats"]);
    if r.code != 0
        || !r.stderr.starts_with("native: 7 functions: ")
        || !r.stderr.contains(" compiled ahead of time, ")
    {
        return Err(format!("--native-stats: {r:?}").into());
    }
    let r = run(
        Command::new(bin("hashc"))
            .arg("--native")
            .arg(&src)
            .arg("-o")
            .arg(bin("hashvm-rt")),
        T,
    );
    if r.code != 1
        || !r
            .stderr
            .contains("the output file is the native runtime itself")
    {
        return Err(format!("writing over the runtime: {r:?}").into());
    }
    // A copy of hashc with no runtime beside it.
    let lonely = d.0.join("hashc");
    std::fs::copy(bin("hashc"), &lonely).map_err(|e| e.to_string())?;
    let mut c = Command::new(&lonely);
    c.arg("--native").arg(&src).env_remove("HASHVM_RT");
    let r = run(&mut c, T);
    let want = format!(
        "the native runtime hashvm-rt is not installed: looked for {}",
        d.0.join("hashvm-rt").display()
    );
    if r.code != 1 || !r.stderr.contains(&want) {
        return Err(format!("no runtime beside hashc: {r:?}").into());
    }
    Ok(())
}

/// `hashvm dis` and `hashvm run` read the program a native executable carries, as
/// from the `.hbc` file; a damaged one is an error naming the file.
fn tools_read_native_executables() -> Result<(), Failed> {
    let d = Scratch::new("native-dis");
    let exe = build_native(&d.0, "echo", ECHO);
    let hbc = d.0.join("echo.hbc");
    let r = run(
        Command::new(bin("hashc"))
            .arg(d.0.join("echo.hash"))
            .arg("-o")
            .arg(&hbc),
        T,
    );
    if r.code != 0 {
        return Err(r.stderr.into());
    }
    let dis = |f: &Path| outcome(run(Command::new(bin("hashvm")).arg("dis").arg(f), T));
    let (want, got) = (dis(&hbc), dis(&exe));
    if want != got || want.0 != 0 {
        return Err(differ(
            "hashvm dis of the .hbc and of the executable",
            &want,
            &got,
        ));
    }
    let r = outcome(run(
        Command::new(bin("hashvm")).arg("run").arg(&exe).arg("z"),
        T,
    ));
    if r != (3, "[\"z\"]\nno input\n\n".into(), String::new()) {
        return Err(format!("hashvm run of the executable: {r:?}").into());
    }
    let mut bytes = std::fs::read(&exe).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 1;
    std::fs::write(&exe, bytes).unwrap();
    let r = outcome(run(Command::new(bin("hashvm")).arg("dis").arg(&exe), T));
    let want = format!(
        "error: {}: a native executable whose program is damaged: its checksum does not match",
        exe.display()
    );
    if r.0 != 1 || !r.2.starts_with(&want) {
        return Err(format!("hashvm dis of a damaged executable: {r:?}").into());
    }
    Ok(())
}

/// A program that declares foreign functions becomes a native executable only with
/// `--allow-ffi` (hashc and hashld), and the executable then makes its foreign calls
/// without asking again (the permission travels in the payload, SPEC.md §11.2).
fn foreign_calls_need_the_builders_consent() -> Result<(), Failed> {
    let d = Scratch::new("native-ffi");
    let src = d.0.join("f.hash");
    std::fs::write(
        &src,
        "cos := #foreign(\"libm.so.6\", \"cos\") (x: f64) -> f64;\n\
         main := () => { println(to_str(cos(0.0))); };\n",
    )
    .map_err(|e| e.to_string())?;
    let exe = d.0.join("f");
    let obj = d.0.join("f.hbc");
    let r = run(
        Command::new(bin("hashc"))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj),
        T,
    );
    if r.code != 0 {
        return Err(format!("hashc -c: {}", r.stderr).into());
    }
    let builds: [(&str, Vec<std::ffi::OsString>); 2] = [
        ("hashc", vec!["--native".into(), src.clone().into()]),
        ("hashld", vec!["--native".into(), obj.clone().into()]),
    ];
    for (tool, args) in builds {
        let _ = std::fs::remove_file(&exe);
        let r = run(Command::new(bin(tool)).args(&args).arg("-o").arg(&exe), T);
        if r.code != 1
            || !r.stderr.contains("`cos` from `libm.so.6`")
            || !r.stderr.contains("--allow-ffi")
            || exe.exists()
        {
            return Err(format!("{tool} without --allow-ffi: {r:?}").into());
        }
        let r = run(
            Command::new(bin(tool))
                .args(&args)
                .arg("--allow-ffi")
                .arg("-o")
                .arg(&exe),
            T,
        );
        if r.code != 0 {
            return Err(format!("{tool} --allow-ffi: {}", r.stderr).into());
        }
        let r = run(&mut Command::new(&exe), T);
        if r.code != 0 || r.stdout != "1.0\n" {
            return Err(format!("{tool}'s executable: {r:?}").into());
        }
    }
    // A program without foreign functions carries no permission: the flag is not set
    // by --allow-ffi alone, so the same source builds the same bytes either way.
    let plain = build_native(&d.0, "plain", "main := () => println(\"hi\");\n");
    let again = d.0.join("again");
    let r = run(
        Command::new(bin("hashc"))
            .arg("--native")
            .arg("--allow-ffi")
            .arg(d.0.join("plain.hash"))
            .arg("-o")
            .arg(&again),
        T,
    );
    if r.code != 0 || std::fs::read(&plain).ok() != std::fs::read(&again).ok() {
        return Err(
            format!("--allow-ffi changed a program without foreign functions: {r:?}").into(),
        );
    }
    Ok(())
}

/// A native executable runs its foreign calls from compiled traces: a hot loop calling
/// libm compiles (`HASHVM_JIT_STATS=1`: one trace, nothing aborted, nearly every
/// instruction in it) and prints what it prints with the JIT off.
fn foreign_calls_in_traces() -> Result<(), Failed> {
    let d = Scratch::new("native-ffi-jit");
    let src = d.0.join("f.hash");
    std::fs::write(
        &src,
        "cos := #foreign(\"libm.so.6\", \"cos\") (x: f64) -> f64;\n\
         main := () => {\n    mut s := 0.0;\n    mut i := 0;\n    \
         while i < 100000 { s += cos(i64.to_f64(i) * 0.001); i += 1; }\n    \
         println(to_str(s));\n};\n",
    )
    .map_err(|e| e.to_string())?;
    let exe = d.0.join("f");
    let r = run(
        Command::new(bin("hashc"))
            .args(["--native", "--allow-ffi"])
            .arg(&src)
            .arg("-o")
            .arg(&exe),
        T,
    );
    if r.code != 0 {
        return Err(format!("hashc --native --allow-ffi: {}", r.stderr).into());
    }
    let off = run(Command::new(&exe).env("HASHVM_JIT", "off"), T);
    let on = run(Command::new(&exe).env("HASHVM_JIT_STATS", "1"), T);
    if off.code != 0 || on.code != 0 || off.stdout != on.stdout {
        return Err(format!("JIT off {off:?} vs on {on:?}").into());
    }
    let in_traces = on
        .stderr
        .split(", ")
        .find_map(|p| p.strip_suffix("% of instructions in traces\n"))
        .and_then(|p| p.parse::<f64>().ok());
    if !on.stderr.contains("0 aborted, 1 traces") || !in_traces.is_some_and(|p| p > 95.0) {
        return Err(format!("the loop calling cos was not compiled: {}", on.stderr).into());
    }
    // `HASHVM_JIT_DUMP=1` prints the trace's IR and machine code, as `--jit-dump`.
    let dump = run(Command::new(&exe).env("HASHVM_JIT_DUMP", "1"), T);
    if dump.code != 0
        || dump.stdout != off.stdout
        || !dump.stderr.contains("[jit] trace 1:")
        || !dump.stderr.contains("[jit] trace 1 machine code")
    {
        return Err(format!("HASHVM_JIT_DUMP=1: {dump:?}").into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let scratch = Scratch::new("native-docs");
    let conf = conformance(true);
    assert!(conf.len() > 50, "conformance examples not found");
    let docs = doc_examples(&scratch.0);
    assert!(
        docs.len() > 10,
        "the docs/LANGUAGE.md examples were not found"
    );
    let hasm = hasm_programs(&scratch.0);
    assert!(hasm.len() > 100, "the .hasm programs were not found");
    let own = jit_programs(&scratch.0);
    assert!(
        own.len() > 40,
        "the JIT's programs (cli/tests/jit) were not found"
    );
    let mut trials: Vec<Trial> = conf
        .into_iter()
        .chain(docs)
        .chain(benchmarks())
        .chain(hasm)
        .chain(own)
        .map(|p| Trial::test(p.name.clone(), move || compare(&p)))
        .collect();
    trials.push(Trial::test("runs_alone", runs_alone));
    trials.push(Trial::test(
        "foreign_calls_in_traces",
        foreign_calls_in_traces,
    ));
    trials.push(Trial::test("reproducible", reproducible));
    trials.push(Trial::test("aot_tiers_up", aot_tiers_up));
    trials.push(Trial::test("aot_tiers_up_at_entry", aot_tiers_up_at_entry));
    trials.push(Trial::test(
        "aot_compiles_numeric_kernels",
        aot_compiles_numeric_kernels,
    ));
    trials.push(Trial::test("aot_compiles_stores", aot_compiles_stores));
    trials.push(Trial::test("aot_compiles_calls", aot_compiles_calls));
    trials.push(Trial::test(
        "aot_compiles_fused_returns",
        aot_compiles_fused_returns,
    ));
    trials.push(Trial::test("aot_enters_typed", aot_enters_typed));
    trials.push(Trial::test(
        "aot_carries_parameters",
        aot_carries_parameters,
    ));
    trials.push(Trial::test(
        "aot_carries_field_walks",
        aot_carries_field_walks,
    ));
    trials.push(Trial::test(
        "aot_takes_call_results",
        aot_takes_call_results,
    ));
    trials.push(Trial::test(
        "aot_completes_lazy_records",
        aot_completes_lazy_records,
    ));
    trials.push(Trial::test("aot_calls_and_returns", aot_calls_and_returns));
    trials.push(Trial::test(
        "aot_shares_call_checks",
        aot_shares_call_checks,
    ));
    trials.push(Trial::test(
        "aot_returns_without_tags",
        aot_returns_without_tags,
    ));
    trials.push(Trial::test(
        "aot_passes_register_arguments",
        aot_passes_register_arguments,
    ));
    trials.push(Trial::test(
        "aot_passes_block_arguments",
        aot_passes_block_arguments,
    ));
    trials.push(Trial::test("aot_inlines_leaves", aot_inlines_leaves));
    trials.push(Trial::test(
        "aot_inlines_callees_that_exit",
        aot_inlines_callees_that_exit,
    ));
    trials.push(Trial::test("aot_skips_dead_stores", aot_skips_dead_stores));
    trials.push(Trial::test("aot_calls_the_barrier", aot_calls_the_barrier));
    trials.push(Trial::test(
        "aot_clears_kept_slots_at_preheaders",
        aot_clears_kept_slots_at_preheaders,
    ));
    trials.push(Trial::test("aot_calls_helpers", aot_calls_helpers));
    trials.push(Trial::test(
        "aot_calls_through_values",
        aot_calls_through_values,
    ));
    trials.push(Trial::test(
        "aot_loads_typed_elements",
        aot_loads_typed_elements,
    ));
    trials.push(Trial::test(
        "aot_loads_arrays_from_fields",
        aot_loads_arrays_from_fields,
    ));
    trials.push(Trial::test(
        "tools_read_native_executables",
        tools_read_native_executables,
    ));
    trials.push(Trial::test("damaged_payloads", damaged_payloads));
    trials.push(Trial::test(
        "settings_from_the_environment",
        settings_from_the_environment,
    ));
    trials.push(Trial::test("finding_the_runtime", finding_the_runtime));
    trials.push(Trial::test(
        "foreign_calls_need_the_builders_consent",
        foreign_calls_need_the_builders_consent,
    ));
    let conclusion = libtest_mimic::run(&args, trials);
    drop(scratch);
    conclusion.exit();
}
