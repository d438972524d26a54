//! `hashc`: the Hash compiler.

use hashvm_cli::*;
use hashvm_compiler::driver::{self, Options};
use std::path::PathBuf;

const USAGE: &str = "\
usage: hashc FILE.hash [-o OUT.hbc] [-L DIR]...      compile and link an executable
       hashc -c FILE.hash -o OBJ.hbc [-L DIR]...     compile one linkable object
       hashc --help | --version

Imports are looked up relative to the importing file, then in each -L directory, then in
each directory of HASH_PATH, then in the bundled standard library.";

fn main() {
    std::process::exit(real_main());
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("error: {msg}\n\n{USAGE}");
    EXIT_USAGE
}

fn real_main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut object = false;
    let mut out: Option<PathBuf> = None;
    let mut input: Option<PathBuf> = None;
    let mut dash_l = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                return 0;
            }
            "--version" | "-V" => {
                println!("hashc {}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            "-c" => object = true,
            "-o" => {
                let Some(o) = args.get(i + 1) else {
                    return usage_error("-o needs a file name");
                };
                out = Some(PathBuf::from(o));
                i += 1;
            }
            "-L" => {
                let Some(d) = args.get(i + 1) else {
                    return usage_error("-L needs a directory");
                };
                dash_l.push(PathBuf::from(d));
                i += 1;
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return usage_error(&format!("unknown option `{s}`"))
            }
            s => {
                if input.is_some() {
                    return usage_error("more than one input file");
                }
                input = Some(PathBuf::from(s));
            }
        }
        i += 1;
    }
    let Some(input) = input else {
        return usage_error("no input file");
    };
    let out = out.unwrap_or_else(|| input.with_extension("hbc"));
    let opts = Options {
        search: search_path(&dash_l),
        ..Default::default()
    };
    let result = if object {
        driver::compile_object(&input, &opts)
    } else {
        driver::compile_program(&input, &opts)
    };
    match result {
        Ok(c) => {
            if !c.warnings.is_empty() {
                eprint!("{}", driver::render(&c.program, &c.warnings));
            }
            let bytes = hashvm_format::write(&c.module);
            if let Err(e) = std::fs::write(&out, bytes) {
                report(&format!("{}: {e}", out.display()));
                return EXIT_ERROR;
            }
            0
        }
        Err(f) => {
            eprint!("{}", f.rendered);
            EXIT_ERROR
        }
    }
}
