//! Runs every example of ../shared/conformance exactly as its README prescribes:
//! compile with `hashc`, compare diagnostics or run with `hashvm run` from a scratch
//! directory, and compare standard output, exit status and error fragments.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

struct Case {
    name: String,
    source: PathBuf,
    dir: PathBuf,
}

fn cases() -> Vec<Case> {
    let dir = shared().join("conformance");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).expect("../shared/conformance exists") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "hash") {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            v.push(Case {
                name,
                source: p,
                dir: dir.clone(),
            });
        }
    }
    v.push(Case {
        name: "s5_modules/main".into(),
        source: dir.join("s5_modules/main.hash"),
        dir: dir.join("s5_modules"),
    });
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// Checks one case; returns a description of the first mismatch.
fn check(c: &Case) -> Result<(), String> {
    let stem = c.name.rsplit('/').next().unwrap();
    let file = |ext: &str| c.dir.join(format!("{stem}.{ext}"));
    let out_expected = read(&file("out"));
    let code_expected: i32 = read(&file("code"))
        .map(|s| s.trim().parse().unwrap_or(1))
        .unwrap_or(0);
    let err_lines: Vec<String> = read(&file("err"))
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let scratch = Scratch::new("conf");
    let hbc = scratch.0.join("out.hbc");
    let compile = run(
        Command::new(bin("hashc"))
            .arg(&c.source)
            .arg("-o")
            .arg(&hbc),
        Duration::from_secs(60),
    );
    if compile.code != 0 {
        if out_expected.is_some() || code_expected == 0 {
            return Err(format!(
                "hashc failed ({}):\n{}",
                compile.code, compile.stderr
            ));
        }
        if compile.code != code_expected {
            return Err(format!(
                "hashc exit {} != {code_expected}:\n{}",
                compile.code, compile.stderr
            ));
        }
        for l in &err_lines {
            if !compile.stderr.contains(l.as_str()) {
                return Err(format!("hashc stderr lacks {l:?}:\n{}", compile.stderr));
            }
        }
        return Ok(());
    }
    if let Some(co) = read(&file("compile_out")) {
        if compile.stdout != co {
            return Err(format!("hashc stdout {:?} != {co:?}", compile.stdout));
        }
    }
    let work = Scratch::new("work");
    let args: Vec<String> = read(&file("args"))
        .map(|s| {
            s.split_whitespace()
                .map(|a| a.replace("@TMP@", &work.0.to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    let r = run(
        Command::new(bin("hashvm"))
            .arg("run")
            .arg(&hbc)
            .args(&args)
            .current_dir(&work.0),
        Duration::from_secs(120),
    );
    let out_expected = out_expected.unwrap_or_default();
    if r.stdout != out_expected {
        return Err(format!(
            "stdout differs\n--- expected\n{out_expected}\n--- got\n{}\n--- stderr\n{}",
            r.stdout, r.stderr
        ));
    }
    if r.code != code_expected {
        return Err(format!(
            "exit {} != {code_expected}; stderr:\n{}",
            r.code, r.stderr
        ));
    }
    for l in &err_lines {
        if !r.stderr.contains(l.as_str()) {
            return Err(format!("stderr lacks {l:?}:\n{}", r.stderr));
        }
    }
    Ok(())
}

/// Every example is its own test, named after it (`conformance::s3_closures`), so a
/// failure names the case and `cargo test --test conformance NAME` runs one. The
/// folder must hold the examples: a missing or nearly empty folder fails the run.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let cases = cases();
    let mut trials: Vec<libtest_mimic::Trial> = cases
        .into_iter()
        .map(|c| {
            let name = c.name.clone();
            libtest_mimic::Trial::test(name, move || check(&c).map_err(Into::into))
        })
        .collect();
    let found = trials.len();
    trials.push(libtest_mimic::Trial::test(
        "examples_are_present",
        move || {
            if found > 50 {
                Ok(())
            } else {
                Err(format!("only {found} conformance examples in ../shared/conformance").into())
            }
        },
    ));
    libtest_mimic::run(&args, trials).exit();
}
