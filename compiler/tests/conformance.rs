//! The conformance examples of `shared/conformance` run through the front end:
//! programs with an expected output must check with no error; programs expected to
//! fail at compile time must produce diagnostics containing every line of their
//! `.err` file.

mod common;
use common::conformance_dir;
use hashvm_compiler::{check_program_with_paths, render_diagnostics, FsLoader, Severity};
use std::path::{Path, PathBuf};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Programs that must type-check: every `NAME.hash` with a `NAME.out`, and the module
/// program `s5_modules/main.hash`.
fn passing_programs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "hash") && p.with_extension("out").is_file());
    v.push(dir.join("s5_modules/main.hash"));
    v.sort();
    v
}

/// Programs that must fail to compile in the front end: a `.code`, no `.out`, and an
/// `.err` naming a compile location `NAME.hash:LINE:` (except `#run` failures, which
/// need the VM), plus the cyclic import.
fn failing_programs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        if p.extension().is_none_or(|e| e != "hash") {
            return false;
        }
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("s6_")
            || p.with_extension("out").is_file()
            || !p.with_extension("code").is_file()
        {
            return false;
        }
        let err = read(&p.with_extension("err"));
        let loc = format!("{name}:");
        name == "s5_cyclic_import.hash"
            || err.lines().any(|l| {
                l.starts_with(&loc)
                    && l.ends_with(':')
                    && l[loc.len()..l.len() - 1].parse::<u32>().is_ok()
            })
    });
    v.sort();
    v
}

#[test]
fn programs_with_output_type_check() {
    let dir = conformance_dir();
    let progs = passing_programs(&dir);
    assert!(progs.len() >= 30, "found only {} programs", progs.len());
    let mut failures = Vec::new();
    for p in &progs {
        match check_program_with_paths(p, &FsLoader, &[]) {
            Ok((prog, warnings)) => {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name != "s4_unreachable_arm_warning.hash" && !warnings.is_empty() {
                    failures.push(format!(
                        "{}: unexpected warnings:\n{}",
                        p.display(),
                        render_diagnostics(Some(&prog.sources), &warnings)
                    ));
                }
                if name != "main.hash" && prog.main.is_none() {
                    failures.push(format!("{}: no main", p.display()));
                }
            }
            Err(rej) => failures.push(format!("{}:\n{}", p.display(), rej.render())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        progs.len(),
        failures.join("\n")
    );
}

#[test]
fn compile_errors_are_reported_where_expected() {
    let dir = conformance_dir();
    let progs = failing_programs(&dir);
    assert!(
        progs.len() >= 12,
        "found only {} failing programs: {progs:?}",
        progs.len()
    );
    let mut failures = Vec::new();
    for p in &progs {
        let err = read(&p.with_extension("err"));
        match check_program_with_paths(p, &FsLoader, &[]) {
            Ok(_) => failures.push(format!("{}: accepted, but should fail", p.display())),
            Err(rej) => {
                let text = rej.render();
                for line in err.lines().filter(|l| !l.trim().is_empty()) {
                    if !text.contains(line) {
                        failures.push(format!("{}: missing `{line}` in:\n{text}", p.display()));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unreachable_arm_is_a_warning() {
    let dir = conformance_dir();
    let p = dir.join("s4_unreachable_arm_warning.hash");
    let (prog, warnings) = match check_program_with_paths(&p, &FsLoader, &[]) {
        Ok(x) => x,
        Err(rej) => panic!("rejected:\n{}", rej.render()),
    };
    assert_eq!(
        warnings.len(),
        2,
        "{}",
        render_diagnostics(Some(&prog.sources), &warnings)
    );
    assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
    let text = render_diagnostics(Some(&prog.sources), &warnings);
    assert!(
        text.contains("s4_unreachable_arm_warning.hash:6:") && text.contains("warning:"),
        "{text}"
    );
    assert!(
        text.contains("s4_unreachable_arm_warning.hash:12:"),
        "{text}"
    );
}
