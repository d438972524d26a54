//! `hashvm`: run, disassemble and assemble programs, and the REPL.

use hashvm_cli::*;
use hashvm_vm::{run_program, Config, Outcome, Vm};
use std::path::PathBuf;

const USAGE: &str = "\
usage: hashvm run [OPTIONS] FILE [ARGS...]   run a .hbc (executable or linkable) or .hash program
       hashvm dis FILE.hbc                    print a .hbc file as .hasm
       hashvm asm FILE.hasm -o FILE.hbc       assemble
       hashvm repl                            the interactive REPL (also: hashvm with no arguments)
       hashvm --help | --version

run options:
  --heap-limit SIZE    most live heap data (e.g. 512M, 4G; default a third of the memory the process may use); past it: out of memory
  --stack-limit N      most nested calls (default 10000000); past it: stack overflow
  --gc-stats           print collector statistics to standard error at exit
  -L DIR               look for libraries in DIR (before HASH_PATH and the bundled library)

environment: HASH_PATH (library directories, colon-separated), HASHVM_GC_STRESS=1
(collect at every allocation, for testing).";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        None | Some("repl") => repl(),
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            0
        }
        Some("--version" | "-V") => {
            println!("hashvm {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("run") => run(&args[1..]),
        Some("dis") => dis(&args[1..]),
        Some("asm") => asm(&args[1..]),
        Some(other) => {
            eprintln!("error: unknown command `{other}`\n\n{USAGE}");
            EXIT_USAGE
        }
    };
    std::process::exit(code);
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("error: {msg}\n\n{USAGE}");
    EXIT_USAGE
}

fn run(args: &[String]) -> i32 {
    let mut config = Config::default();
    let mut gc_stats = false;
    let mut dash_l = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--heap-limit" => {
                let Some(v) = args.get(i + 1).and_then(|s| parse_size(s)) else {
                    return usage_error("--heap-limit needs a size such as 512M");
                };
                config.heap_limit = v;
                i += 2;
            }
            "--stack-limit" => {
                let Some(v) = args
                    .get(i + 1)
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|&v| v > 0)
                else {
                    return usage_error("--stack-limit needs a positive number of frames");
                };
                config.max_frames = v;
                i += 2;
            }
            "--gc-stats" => {
                gc_stats = true;
                i += 1;
            }
            "-L" => {
                let Some(d) = args.get(i + 1) else {
                    return usage_error("-L needs a directory");
                };
                dash_l.push(PathBuf::from(d));
                i += 2;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return 0;
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return usage_error(&format!("unknown option `{s}`"))
            }
            _ => break,
        }
    }
    let Some(file) = args.get(i) else {
        return usage_error("run needs a program file");
    };
    let prog_args = args[i + 1..].to_vec();
    let module = match load_program(file, &dash_l) {
        Ok(m) => m,
        Err(e) => {
            report(&e);
            return EXIT_ERROR;
        }
    };
    let mut vm = Vm::new(config);
    vm.args = prog_args;
    let outcome = run_program(&mut vm, &module);
    if gc_stats {
        let s = &vm.heap.stats;
        eprintln!(
            "gc: {} collections, {} bytes allocated, {} bytes copied, {} live, largest semispace {} bytes, {:.3} ms collecting",
            s.collections,
            s.allocated,
            s.copied,
            s.live,
            s.max_space,
            s.time.as_secs_f64() * 1e3
        );
    }
    match outcome {
        Outcome::Exit(c) => c,
        Outcome::Error(e) => {
            eprint!("{e}");
            EXIT_ERROR
        }
    }
}

/// Loads `file` as an executable module: compile a `.hash` source in memory, or
/// decode a `.hbc` file, link what a linkable object needs, and verify.
fn load_program(file: &str, dash_l: &[PathBuf]) -> Result<hashvm_format::Module, String> {
    let path = PathBuf::from(file);
    let search = search_path(dash_l);
    if path.extension().is_some_and(|e| e == "hash") {
        let opts = hashvm_compiler::driver::Options {
            search,
            ..Default::default()
        };
        return match hashvm_compiler::driver::compile_program(&path, &opts) {
            Ok(c) => {
                if !c.warnings.is_empty() {
                    eprint!(
                        "{}",
                        hashvm_compiler::driver::render(&c.program, &c.warnings)
                    );
                }
                Ok(c.module)
            }
            Err(f) => {
                eprint!("{}", f.rendered);
                Err(format!("{file}: compilation failed"))
            }
        };
    }
    let m = read_hbc(&path)?;
    verify(file, &m)?;
    if m.is_executable() {
        return Ok(m);
    }
    // A linkable object: link it with the libraries it needs now.
    let mut resolve = |name: &str| resolve_library(name, &search);
    let linked =
        hashvm_format::link::link(&[(file.to_string(), m)], &mut resolve).map_err(|errs| {
            errs.iter()
                .map(|e| format!("{file}: {e}"))
                .collect::<Vec<_>>()
                .join("\nerror: ")
        })?;
    verify(file, &linked)?;
    if linked.entry.is_none() {
        return Err(format!("{file}: has no entry point (no `main`)"));
    }
    Ok(linked)
}

fn dis(args: &[String]) -> i32 {
    let [file] = args else {
        return usage_error("dis needs exactly one .hbc file");
    };
    match read_hbc(std::path::Path::new(file)) {
        Ok(m) => {
            print!("{}", hashvm_format::hasm::disassemble(&m));
            0
        }
        Err(e) => {
            report(&e);
            EXIT_ERROR
        }
    }
}

fn asm(args: &[String]) -> i32 {
    let (input, out) = match args {
        [i, o, out] if o == "-o" => (i, out.clone()),
        [i] => (
            i,
            std::path::Path::new(i)
                .with_extension("hbc")
                .to_string_lossy()
                .into_owned(),
        ),
        _ => return usage_error("usage: hashvm asm FILE.hasm -o FILE.hbc"),
    };
    let src = match std::fs::read_to_string(input) {
        Ok(s) => s,
        Err(e) => {
            report(&format!("{input}: {e}"));
            return EXIT_ERROR;
        }
    };
    match hashvm_format::hasm::assemble(&src, input) {
        Ok(m) => {
            if let Err(e) = verify(input, &m) {
                report(&e);
                return EXIT_ERROR;
            }
            if let Err(e) = std::fs::write(&out, hashvm_format::write(&m)) {
                report(&format!("{out}: {e}"));
                return EXIT_ERROR;
            }
            0
        }
        Err(errs) => {
            for e in errs {
                eprintln!("{e}");
            }
            EXIT_ERROR
        }
    }
}

fn repl() -> i32 {
    hashvm_repl::main()
}
