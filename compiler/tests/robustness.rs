//! A bounded property test: random and mutated programs (conformance files and the
//! standard library with tokens or characters deleted, duplicated, swapped or
//! inserted) go through the whole front end, which must never panic and must always
//! finish. Kept to a few seconds.

mod common;
use common::conformance_dir;
use hashvm_compiler::lexer::{lex, Tok};
use hashvm_compiler::span::FileId;
use hashvm_compiler::{check_program_with_paths, MemLoader};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// The seed programs: the conformance files, the standard library, and a few
/// hand-written ones that exercise every construct.
fn seeds() -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let dir = conformance_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.retain(|p| p.extension().is_some_and(|e| e == "hash"));
    paths.sort();
    assert!(
        paths.len() >= 30,
        "only {} conformance programs in {}",
        paths.len(),
        dir.display()
    );
    for p in paths {
        v.push(std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
    }
    for m in hashvm_stdlib::MODULES {
        if let Some(s) = hashvm_stdlib::source(m) {
            v.push(s.to_string());
        }
    }
    v.push(
        r#"
        P := <T> => struct(a: T, b: List<T>);
        E := enum(A, B(i64, str), C((i64, char)));
        u := import("util");
        f := <T> => (x: T, g: (T) -> T) -> T => g(x);
        main := () -> i64 => {
            mut i := 0;
            p := P(a = 1, b = [2, 3]);
            p.a += 1;
            arr := array.make(3, 0);
            arr[1] *= 2;
            (x, y) := (1, 'c');
            r := match E.B(1, "s") { E.A => 0, E.B(n, _) if n > 0 => n, E.B(..) => 1, E.C((k, _)) => k };
            for k in 0..=3 { if k == 2 { continue; } i += k; }
            while i < 10 { i += 1; }
            loop { break; }
            s := #run to_str(1 << 3);
            t := #op("str.len", s);
            fact := (n: i64) -> i64 => if n < 2 { 1 } else { n * fact(n - 1) };
            z := match [1, 2] { [] => 0, [a, ..rest] => a, };
            return fact(3) + r + z + t + u.v;
        };
    "#
        .to_string(),
    );
    v
}

const UTIL: &str = "v := 1;\n_w := 2;\nVec2 := struct(x: i64, y: i64);\n";

/// Runs the front end on `src` as `main.hash` on a helper thread, failing if it
/// panics or takes more than a generous time.
fn run(src: String) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let s2 = src.clone();
    std::thread::spawn(move || {
        let loader = MemLoader::new()
            .with("main.hash", s2)
            .with("util.hash", UTIL)
            .with("cyc.hash", "c := import(\"main\");\nq := 1;");
        let r = check_program_with_paths(Path::new("main.hash"), &loader, &[]);
        let ice = match &r {
            Err(rej) => rej
                .diagnostics
                .iter()
                .any(|d| d.message.contains("internal compiler error")),
            Ok(_) => false,
        };
        let _ = tx.send(ice);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(false) => Ok(()),
        Ok(true) => Err(format!("the front end panicked on:\n{src}")),
        Err(_) => Err(format!("the front end did not finish (or died) on:\n{src}")),
    }
}

/// Source slices of the tokens of `src`.
fn token_texts(src: &str) -> Vec<String> {
    let (toks, _) = lex(FileId(0), src);
    toks.iter()
        .filter(|t| t.tok != Tok::Eof)
        .map(|t| {
            src.get(t.span.lo as usize..t.span.hi as usize)
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Applies mutation `(kind, a, b)` to the token list.
fn mutate_tokens(toks: &mut Vec<String>, kind: u8, a: usize, b: usize) {
    if toks.is_empty() {
        toks.push("(".into());
        return;
    }
    let n = toks.len();
    let (i, j) = (a % n, b % n);
    match kind % 5 {
        0 => {
            toks.remove(i);
        }
        1 => {
            let t = toks[i].clone();
            toks.insert(j, t);
        }
        2 => toks.swap(i, j),
        3 => {
            const EXTRA: &[&str] = &[
                "(", ")", "{", "}", "[", "]", ",", ";", ":=", "=>", "->", "<", ">", "|", "..",
                "match", "mut", "_", "#run", "x", "0",
            ];
            toks.insert(i, EXTRA[j % EXTRA.len()].to_string());
        }
        _ => {
            // Duplicate a whole range (makes deep or long constructs).
            let end = (i + 1 + j % 8).min(n);
            let chunk: Vec<String> = toks[i..end].to_vec();
            for (k, t) in chunk.into_iter().enumerate() {
                toks.insert(end + k, t);
            }
        }
    }
}

/// Applies a character-level mutation.
fn mutate_chars(src: &str, kind: u8, a: usize, b: usize) -> String {
    let mut cs: Vec<char> = src.chars().collect();
    if cs.is_empty() {
        return "\"".into();
    }
    let n = cs.len();
    let (i, j) = (a % n, b % n);
    match kind % 4 {
        0 => {
            cs.remove(i);
        }
        1 => {
            let c = cs[i];
            cs.insert(j, c);
        }
        2 => cs.swap(i, j),
        _ => {
            const ODD: &[char] = &[
                '"',
                '\'',
                '\\',
                '/',
                '*',
                '#',
                '\u{0}',
                'é',
                '\u{1F600}',
                '{',
                '(',
                '9',
            ];
            cs.insert(i, ODD[j % ODD.len()]);
        }
    }
    cs.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_programs_never_crash(
        seed in any::<usize>(),
        token_level in any::<bool>(),
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let seeds = seeds();
        let src = &seeds[seed % seeds.len()];
        let mutated = if token_level {
            let mut toks = token_texts(src);
            for (k, a, b) in &ops {
                mutate_tokens(&mut toks, *k, *a, *b);
            }
            toks.join(" ")
        } else {
            let mut s = src.clone();
            for (k, a, b) in &ops {
                s = mutate_chars(&s, *k, *a, *b);
            }
            s
        };
        prop_assert!(run(mutated).is_ok());
    }

    #[test]
    fn random_token_soup_never_crashes(toks in proptest::collection::vec(0usize..40, 0..80)) {
        const T: &[&str] = &[
            "(", ")", "{", "}", "[", "]", ",", ";", ":", ":=", "=", "==", "=>", "->", "<", ">", "|", "||", "&&",
            "..", "..=", "+", "-", "*", "!", ".", "match", "if", "else", "mut", "for", "in", "loop", "return",
            "_", "x", "main", "1", "\"s\"", "Some",
        ];
        let src: Vec<&str> = toks.iter().map(|&i| T[i]).collect();
        prop_assert!(run(src.join(" ")).is_ok());
    }
}

#[test]
fn pathological_nesting_is_reported_not_fatal() {
    let deep = 20_000;
    let cases = [
        format!(
            "main := () => {{ x := {}1{}; }};",
            "(".repeat(deep),
            ")".repeat(deep)
        ),
        format!("main := () => {}{};", "{".repeat(deep), "}".repeat(deep)),
        format!("main := () => {{ x := {}; }};", "[".repeat(deep)),
        format!("main := () => {{ x := 1{}; }};", " + 1".repeat(deep)),
        format!("main := () => {{ x := {}1; }};", "-".repeat(deep)),
        format!("main := () => {{ x := f{}; }};", "(1)".repeat(deep)),
        format!("main := () => {{ x := a{}; }};", ".b".repeat(deep)),
        format!(
            "t: {}i64{} := 1;\nmain := () => {{}};",
            "List<".repeat(deep),
            ">".repeat(deep)
        ),
        format!(
            "main := () => {{ match x {{ {}_{} => 1 }} }};",
            "Some(".repeat(deep),
            ")".repeat(deep)
        ),
        format!(
            "main := () => {{ x := if a {{ 1 }}{} else {{ 2 }}; }};",
            " else if a { 1 }".repeat(deep)
        ),
        "/*".repeat(deep),
        "\"".to_string(),
    ];
    for c in cases {
        let short: String = c.chars().take(60).collect();
        assert!(run(c).is_ok(), "failed on {short}...");
    }
}
