//! The corpus of programs the differential tests run (the JIT against the interpreter,
//! native executables against `hashvm run`): the conformance examples, the examples of
//! docs/LANGUAGE.md, the benchmark programs at their small sizes and the `.hasm`
//! programs of the VM's suite. One list, so that a program added to any of them is
//! compared by every differential test.

use super::{bin, root, run, shared};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Conformance examples whose GC-stress runs take from seconds to minutes (a collection
/// at every allocation of a million-element list): compared without stress only, to
/// keep the suite within its time budget. The interpreter's own stress suite covers
/// them.
pub const HEAVY_UNDER_STRESS: &[&str] = &["s7_list_big", "s4_tail_calls_deep", "s7_map_module"];

/// One program of the corpus.
pub struct Program {
    pub name: String,
    /// A `.hash` source, or an assembled executable `.hbc`.
    pub file: PathBuf,
    /// The directory it runs in.
    pub dir: PathBuf,
    /// Its arguments; `@TMP@` stands for a fresh scratch directory (only in the
    /// conformance examples with `all`).
    pub args: Vec<String>,
    /// Cheap enough to be compared under GC stress too.
    pub stress_too: bool,
    /// It declares foreign functions and runs with `--allow-ffi`.
    pub allow_ffi: bool,
}

impl Program {
    /// An assembled `.hbc` rather than a source.
    pub fn is_hbc(&self) -> bool {
        self.file.extension().is_some_and(|e| e == "hbc")
    }
}

/// The conformance examples of ../shared/conformance: with `all`, every one (those
/// that fail to compile and those whose arguments name a scratch directory too);
/// otherwise those with an expected output and no scratch directory.
pub fn conformance(all: bool) -> Vec<Program> {
    let dir = shared().join("conformance");
    let mut v = Vec::new();
    let entries = std::fs::read_dir(&dir).expect("../shared/conformance exists");
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "hash") {
            continue;
        }
        if !all && !p.with_extension("out").is_file() {
            continue;
        }
        let args: Vec<String> = std::fs::read_to_string(p.with_extension("args"))
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        if !all && args.iter().any(|a| a.contains("@TMP@")) {
            continue;
        }
        let name = p
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        v.push(Program {
            stress_too: !HEAVY_UNDER_STRESS.contains(&name.as_str()),
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
        stress_too: true,
        allow_ffi: false,
    });
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Every example of docs/LANGUAGE.md that has an expected output, written to `dir`.
pub fn doc_examples(dir: &Path) -> Vec<Program> {
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
            let file = dir.join(format!("doc_line{start}.hash"));
            let allow_ffi = body.contains("#foreign");
            std::fs::write(&file, body).expect("write a docs example");
            v.push(Program {
                name: format!("docs::line{start}"),
                file,
                dir: dir.to_path_buf(),
                args: Vec::new(),
                stress_too: true,
                allow_ffi,
            });
        }
        i = j + 1;
    }
    v
}

/// The `.hasm` programs of vm/tests/hasm, assembled into `dir`.
pub fn hasm_programs(dir: &Path) -> Vec<Program> {
    assembled(&root().join("vm/tests/hasm"), "hasm", dir)
}

/// The `.hasm` programs of `src_dir`, assembled into `dir`, named `prefix::stem`, with
/// the arguments their `; args:` line gives. Programs that read standard input, set
/// environment variables, change the VM's configuration (except to allow foreign
/// calls), name a scratch directory or document a known bug are left out (their
/// harness is the hasm suite's).
pub fn assembled(src_dir: &Path, prefix: &str, dir: &Path) -> Vec<Program> {
    const T: Duration = Duration::from_secs(300);
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
            stress_too: false,
            allow_ffi,
        });
    }
    v
}

/// The benchmark programs at their small sizes (the oracle sizes of benches/run.py).
pub fn benchmarks() -> Vec<Program> {
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
            stress_too: false,
            allow_ffi: false,
        })
        .collect()
}

/// The JIT's own programs (cli/tests/jit): loops whose guards fail mid-run, one kind
/// of guard or exit after another, native calls and exits of compiled code, in Hash and
/// in assembly.
pub fn jit_programs(dir: &Path) -> Vec<Program> {
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
        let allow_ffi = std::fs::read_to_string(&f).is_ok_and(|t| t.contains("#foreign"));
        v.push(Program {
            name: format!("jit::{stem}_hash"),
            file: f,
            dir: src.clone(),
            args: Vec::new(),
            stress_too: true,
            allow_ffi,
        });
    }
    v
}
