//! The code generator's output always passes the verifier: every conformance program,
//! every benchmark program, and a bounded stream of mutated programs that still type
//! check. (The cargo-fuzz target `compile` runs the same oracle without bounds.)

use hashvm_compiler::driver::{compile_source, Options};
use std::path::Path;

fn programs() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut out = Vec::new();
    for dir in [
        root.parent().unwrap().join("shared/conformance"),
        root.join("benches/programs"),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "hash") {
                let text = std::fs::read_to_string(&p).unwrap();
                // Programs importing siblings are checked by the conformance runner.
                if !text.contains("import(") && !text.contains("#run") {
                    out.push((p.file_name().unwrap().to_string_lossy().into_owned(), text));
                }
            }
        }
    }
    out.sort();
    out
}

fn check(name: &str, src: &str) -> bool {
    match compile_source(name, src, &Options::default()) {
        Ok(c) => {
            if let Err(e) = hashvm_format::verify::verify(&c.module) {
                panic!("{name}: generated code fails verification: {e}\n{src}");
            }
            true
        }
        Err(_) => false,
    }
}

#[test]
fn generated_code_verifies() {
    let progs = programs();
    assert!(progs.len() > 30);
    let mut compiled = 0;
    for (name, src) in &progs {
        compiled += usize::from(check(name, src));
    }
    assert!(compiled > 30, "only {compiled} programs compiled");
    // Mutations: delete or duplicate one line; whatever still compiles must verify.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut tried = 0;
    for (name, src) in progs.iter().cycle().take(150) {
        let lines: Vec<&str> = src.lines().collect();
        if lines.len() < 3 {
            continue;
        }
        let i = (next() % lines.len() as u64) as usize;
        let mut m: Vec<&str> = lines.clone();
        if next() % 2 == 0 {
            m.remove(i);
        } else {
            m.insert(i, lines[i]);
        }
        tried += 1;
        check(name, &m.join("\n"));
    }
    assert!(tried > 100);
}
