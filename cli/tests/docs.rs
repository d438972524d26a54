//! Every example of docs/LANGUAGE.md runs and prints exactly the output block that
//! follows it, so the language tour cannot drift from the implementation.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

/// (line number, program, expected output) for each ```hash block followed by an
/// ```output block.
fn examples(text: &str) -> Vec<(usize, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let block = |start: usize| -> (String, usize) {
        let mut j = start;
        let mut body = String::new();
        while j < lines.len() && lines[j].trim_end() != "```" {
            body.push_str(lines[j]);
            body.push('\n');
            j += 1;
        }
        (body, j + 1)
    };
    while i < lines.len() {
        if lines[i].trim_end() == "```hash" {
            let line = i + 1;
            let (prog, next) = block(i + 1);
            let mut k = next;
            while k < lines.len() && lines[k].trim().is_empty() {
                k += 1;
            }
            if k < lines.len() && lines[k].trim_end() == "```output" {
                let (expected, after) = block(k + 1);
                out.push((line, prog, expected));
                i = after;
                continue;
            }
            i = next;
            continue;
        }
        i += 1;
    }
    out
}

#[test]
fn language_tour_examples_run() {
    let text = std::fs::read_to_string(root().join("docs/LANGUAGE.md")).expect("docs/LANGUAGE.md");
    let ex = examples(&text);
    assert!(
        ex.len() >= 10,
        "expected the tour's examples, found {}",
        ex.len()
    );
    let mut failures = Vec::new();
    for (line, prog, expected) in ex {
        let dir = Scratch::new("doc");
        let src = dir.0.join("example.hash");
        std::fs::write(&src, &prog).expect("write example");
        let mut cmd = Command::new(bin("hashvm"));
        cmd.arg("run");
        // The foreign-function examples need the permission they document.
        if prog.contains("#foreign") {
            cmd.arg("--allow-ffi");
        }
        let r = run(cmd.arg(&src), Duration::from_secs(60));
        if r.code != 0 || r.stdout != expected {
            failures.push(format!(
                "docs/LANGUAGE.md:{line}: exit {}\n--- expected\n{expected}--- got\n{}--- stderr\n{}",
                r.code, r.stdout, r.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
