//! `hashvm`: run, disassemble and assemble programs, and the REPL.

use hashvm_cli::*;
use hashvm_format::VerifiedModule;
use hashvm_vm::{run_program, Config, Outcome, Vm};
use std::path::{Path, PathBuf};

const USAGE: &str = "\
usage: hashvm run [OPTIONS] FILE [ARGS...]   run a .hbc (executable or linkable) or .hash program
       hashvm dis FILE                        print a .hbc file (or a compiled .hash) as .hasm
       hashvm asm [--no-verify] FILE.hasm [-o FILE.hbc]
                                              assemble (default output: FILE.hbc;
                                              --no-verify: write even what the verifier
                                              rejects, e.g. to test loaders)
       hashvm repl [--allow-ffi]              the interactive REPL (also: hashvm with no arguments)
       hashvm --help | --version

run options (before FILE; everything after FILE goes to the program):
  --heap-limit SIZE    most live heap data (e.g. 512M, 4G; default a third of the memory the process may use); past it: out of memory
  --stack-limit N      most nested calls (default 10000000); past it: stack overflow
  --nursery SIZE       the collector's nursery (eden: e.g. 256K, 4M; default 2M, at least 1K)
  --gc-age N           minor collections an object survives in a survivor space before
                       promotion (0 to 15; default 1; 0: promoted at its first)
  --survivor SIZE      each of the two survivor spaces (default 512K, at most the nursery)
  --gc-stats           print collector statistics (collections, bytes, pauses, time
                       collecting and its major part) to standard error at exit
  --jit=on|off         the tracing JIT (default: on on x86-64; it compiles hot numeric
                       loops and is otherwise invisible)
  --jit-hot N          loop iterations before a loop is recorded (default 1000)
  --jit-log            trace events (recorded, aborted with the reason, compiled,
                       exited) on standard error
  --jit-dump           each compiled trace's IR with its snapshots and its machine code
                       disassembled, on standard error
  --jit-stats          JIT statistics on standard error at exit
  --allow-ffi          run a program that declares foreign (C) functions (refused
                       otherwise: C code can break every guarantee the VM gives), and
                       let its #run code call them (the REPL: hashvm repl --allow-ffi)
  -L DIR               look for libraries in DIR (before the directory of FILE, HASH_PATH
                       and the bundled library)

environment: HASH_PATH (library directories, colon-separated), HASHVM_GC_STRESS=1
(collect at every allocation, for testing), NO_COLOR (no colour in diagnostics).";

/// What the command line asks for.
enum Cmd {
    /// The REPL; `true` with `--allow-ffi`.
    Repl(bool),
    Run(RunArgs),
    Dis(PathBuf),
    Asm(AsmArgs),
}

struct RunArgs {
    config: Config,
    gc_stats: bool,
    jit: JitArgs,
    dash_l: Vec<PathBuf>,
    file: PathBuf,
    args: Vec<String>,
}

struct AsmArgs {
    input: PathBuf,
    out: PathBuf,
    /// Write the file even if the verifier rejects it: `.hasm` expresses every decodable
    /// module (SPEC.md §6.7), and loaders need such files for their tests. Nothing runs
    /// it unverified: `hashvm run` verifies what it loads.
    no_verify: bool,
}

fn parse_args(p: &mut lexopt::Parser) -> Result<Parsed<Cmd>, lexopt::Error> {
    use lexopt::Arg::*;
    let cmd = match p.next()? {
        None => return Ok(Parsed::Go(Cmd::Repl(false))),
        Some(Short('h') | Long("help")) => return Ok(Parsed::Help),
        Some(Short('V') | Long("version")) => return Ok(Parsed::Version),
        Some(Value(v)) => text(v)?,
        Some(arg) => return Err(arg.unexpected()),
    };
    match cmd.as_str() {
        "help" => Ok(Parsed::Help),
        "repl" => {
            let mut allow_ffi = false;
            while let Some(arg) = p.next()? {
                match arg {
                    Short('h') | Long("help") => return Ok(Parsed::Help),
                    Long("allow-ffi") => allow_ffi = true,
                    _ => return Err(arg.unexpected()),
                }
            }
            Ok(Parsed::Go(Cmd::Repl(allow_ffi)))
        }
        "run" => parse_run(p),
        "dis" => {
            let mut file = None;
            while let Some(arg) = p.next()? {
                match arg {
                    Short('h') | Long("help") => return Ok(Parsed::Help),
                    Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
                    Value(_) => return Err("dis takes one file".into()),
                    _ => return Err(arg.unexpected()),
                }
            }
            Ok(Parsed::Go(Cmd::Dis(file.ok_or("dis needs a file")?)))
        }
        "asm" => {
            let (mut input, mut out, mut no_verify) = (None, None, false);
            while let Some(arg) = p.next()? {
                match arg {
                    Short('h') | Long("help") => return Ok(Parsed::Help),
                    Short('o') => output_value(p, &mut out)?,
                    Long("no-verify") => no_verify = true,
                    Value(v) if input.is_none() => input = Some(PathBuf::from(v)),
                    Value(_) => return Err("asm takes one .hasm file".into()),
                    _ => return Err(arg.unexpected()),
                }
            }
            let input: PathBuf = input.ok_or("asm needs a .hasm file")?;
            let out = out.unwrap_or_else(|| input.with_extension("hbc"));
            if out == input {
                return Err(format!("the output file {} is the input file", out.display()).into());
            }
            Ok(Parsed::Go(Cmd::Asm(AsmArgs {
                input,
                out,
                no_verify,
            })))
        }
        other => Err(format!("unknown command `{other}`").into()),
    }
}

/// The JIT options of `hashvm run`.
#[derive(Default)]
struct JitArgs {
    off: bool,
    log: bool,
    dump: bool,
    stats: bool,
}

fn parse_run(p: &mut lexopt::Parser) -> Result<Parsed<Cmd>, lexopt::Error> {
    use lexopt::Arg::*;
    let mut config = Config::default();
    let mut gc_stats = false;
    let mut jit = JitArgs::default();
    let mut dash_l = Vec::new();
    let file = loop {
        match p.next()? {
            None => return Err("run needs a program file".into()),
            Some(Short('h') | Long("help")) => return Ok(Parsed::Help),
            Some(Long("heap-limit")) => {
                config.heap_limit = p
                    .value()?
                    .to_str()
                    .and_then(parse_size)
                    .ok_or("--heap-limit needs a size such as 512M")?;
            }
            Some(Long("stack-limit")) => {
                config.max_frames = p
                    .value()?
                    .to_str()
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|&v| v > 0)
                    .ok_or("--stack-limit needs a positive number of frames")?;
            }
            Some(Long("nursery")) => {
                config.heap_initial = p
                    .value()?
                    .to_str()
                    .and_then(parse_size)
                    .filter(|&v| v >= 1024)
                    .ok_or("--nursery needs a size of at least 1K, such as 256K")?;
            }
            Some(Long("gc-age")) => {
                config.gc_age = p
                    .value()?
                    .to_str()
                    .and_then(|s| s.parse::<u8>().ok())
                    .filter(|&v| v <= hashvm_vm::MAX_TENURE_AGE)
                    .ok_or("--gc-age needs a number from 0 to 15")?;
            }
            Some(Long("survivor")) => {
                config.gc_survivor = p
                    .value()?
                    .to_str()
                    .and_then(parse_size)
                    .ok_or("--survivor needs a size such as 256K")?;
            }
            Some(Long("gc-stats")) => gc_stats = true,
            Some(Long("allow-ffi")) => config.allow_ffi = true,
            Some(Long("jit")) => {
                jit.off = match p.value()?.to_str() {
                    Some("on") => false,
                    Some("off") => true,
                    _ => return Err("--jit takes on or off".into()),
                }
            }
            Some(Long("jit-hot")) => {
                config.jit_hot = p
                    .value()?
                    .to_str()
                    .and_then(|s| s.parse::<u16>().ok())
                    .filter(|&v| v > 0)
                    .ok_or("--jit-hot needs a number from 1 to 65535")?;
            }
            Some(Long("jit-log")) => jit.log = true,
            Some(Long("jit-dump")) => jit.dump = true,
            Some(Long("jit-stats")) => jit.stats = true,
            Some(Short('L')) => dash_l.push(path_value(p)?),
            Some(Value(v)) => break PathBuf::from(v),
            Some(arg) => return Err(arg.unexpected()),
        }
    };
    let args = p.raw_args()?.map(program_arg).collect();
    Ok(Parsed::Go(Cmd::Run(RunArgs {
        config,
        gc_stats,
        jit,
        dash_l,
        file,
        args,
    })))
}

fn main() {
    let code = main_with("hashvm", USAGE, parse_args, |cmd| match cmd {
        Cmd::Repl(allow_ffi) => hashvm_repl::main_with(jit_factory(), allow_ffi),
        Cmd::Run(r) => run(r),
        Cmd::Dis(f) => dis(&f),
        Cmd::Asm(a) => asm(a),
    });
    std::process::exit(code);
}

fn run(r: RunArgs) -> i32 {
    // Everything that runs goes through the verifier (`run_program` takes its proof),
    // once: `load_program` returns the module it verified.
    let module = match load_program(&r.file, &r.dash_l, r.config.allow_ffi) {
        Ok(m) => m,
        Err(e) => {
            report(&e);
            return EXIT_ERROR;
        }
    };
    let mut vm = Vm::new(r.config);
    vm.set_args(r.args);
    let jit_stats = attach_jit(&mut vm, &r.jit);
    // The dynamic instruction mix, for tuning code generation (SPEC.md §10.4).
    let op_counts = std::env::var_os("HASHVM_OPCODE_COUNTS").is_some_and(|v| v == "1");
    if op_counts {
        vm.set_count_instructions(true);
        vm.set_count_opcodes(true);
    }
    let outcome = run_program(&mut vm, module.verified());
    if r.jit.stats {
        ewrite(&hashvm_cli::jit_stats_line(&jit_stats, &vm));
    }
    if op_counts {
        let counts = vm.opcode_counts();
        let total: u64 = counts.iter().map(|c| c.1).sum();
        let mut text = format!("opcodes: {total} instructions interpreted\n");
        for (op, n) in counts {
            text.push_str(&format!(
                "{:>14} {:>12} {:5.1}%\n",
                op.mnemonic(),
                n,
                100.0 * n as f64 / total.max(1) as f64
            ));
        }
        ewrite(&text);
    }
    if r.gc_stats {
        let s = vm.gc_stats();
        ewrite(&format!(
            "gc: {} collections ({} minor, {} major, {} of them keeping the settled bottom), {} bytes allocated, {} bytes promoted, {} bytes copied within the young generation, {} bytes copied by major collections, {} live, largest old space {} bytes, peak heap {} bytes, pause max {:.3} ms, p99 {:.3} ms, {:.3} ms collecting ({:.3} ms in major parts)\n",
            s.collections,
            s.minor,
            s.major,
            s.kept_bottom,
            s.allocated,
            s.promoted,
            s.survived,
            s.copied,
            s.live,
            s.max_space,
            s.peak_heap,
            s.pause_max.as_secs_f64() * 1e3,
            s.pause_p99().as_secs_f64() * 1e3,
            s.time.as_secs_f64() * 1e3,
            s.major_time.as_secs_f64() * 1e3
        ));
    }
    match outcome {
        Outcome::Exit(c) => c,
        Outcome::Error(e) => {
            ewrite(&e.to_string());
            EXIT_ERROR
        }
    }
}

/// Attaches the tracing JIT unless `--jit=off`; with `--jit-stats` it and the
/// interpreter count instructions.
fn attach_jit(vm: &mut Vm, a: &JitArgs) -> hashvm_cli::JitStatsCell {
    if a.off {
        return None;
    }
    hashvm_cli::attach_jit(vm, a.log, a.dump, a.stats)
}

/// Compiles a `.hash` source in memory, printing its warnings; the error has been
/// printed when it fails.
fn compile_source(
    path: &Path,
    dash_l: &[PathBuf],
    allow_ffi: bool,
) -> Result<hashvm_format::Module, String> {
    let opts = hashvm_compiler::driver::Options {
        search: search_path(dash_l),
        jit: jit_factory(),
        allow_ffi,
        ..Default::default()
    };
    match hashvm_compiler::driver::compile_program(path, &opts) {
        Ok(c) => {
            if !c.warnings.is_empty() {
                ewrite(&hashvm_compiler::driver::render(&c.program, &c.warnings));
            }
            Ok(c.module)
        }
        Err(f) => {
            ewrite(&f.rendered);
            Err(format!("{}: compilation failed", path.display()))
        }
    }
}

fn is_source(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "hash")
}

/// Loads `file` as an executable module: compile a `.hash` source in memory, or
/// decode a `.hbc` file, link what a linkable object needs (libraries from `-L`, then
/// beside the file, then `HASH_PATH`, then the bundled library), and verify what will
/// run, once.
fn load_program(
    path: &Path,
    dash_l: &[PathBuf],
    allow_ffi: bool,
) -> Result<VerifiedModule, String> {
    let file = path.display().to_string();
    if is_source(path) {
        // The driver verified it too, but hands over a plain module.
        return verify_owned(&file, compile_source(path, dash_l, allow_ffi)?);
    }
    let m = read_hbc(path)?;
    if m.is_executable() {
        return verify_owned(&file, m);
    }
    // A linkable object is verified before it is linked (an error names it, not the
    // linked program), and the linked program again.
    verify(&file, &m)?;
    // A linkable object: link it with the libraries it needs now.
    let libs = Libraries::new(dash_l, Some(path), std::env::var_os("HASH_PATH").as_deref());
    let objects = [(file.clone(), m)];
    let linked = libs.link(&objects).map_err(|errs| errs.join("\nerror: "))?;
    if linked.entry.is_none() {
        // The entry is the SYMB section's, never a function found by name: say so when
        // a `main` exists, since that is what a user expects to run.
        let hint = if linked.functions.iter().any(|f| f.name == "main") {
            "; it has a function `main`, but a program starts at its entry point (`.entry \
             main` in .hasm), not at a function found by name (SPEC.md §4.5)"
        } else {
            " (`hashc` gives the object of a file that defines `main` an entry; `hashvm dis` \
             shows a file's `.entry`)"
        };
        return Err(format!(
            "{file}: nothing to run: it is a linkable object without an entry point, and none \
             of the libraries it needs has one{hint}"
        ));
    }
    verify_owned(&file, linked)
}

fn dis(path: &Path) -> i32 {
    let m = if is_source(path) {
        compile_source(path, &[], false)
    } else {
        read_hbc(path)
    };
    match m {
        Ok(m) => out_raw(hashvm_format::hasm::disassemble(&m).as_bytes()),
        Err(e) => {
            report(&e);
            EXIT_ERROR
        }
    }
}

fn asm(a: AsmArgs) -> i32 {
    let input = a.input.display().to_string();
    let src = match std::fs::read(&a.input) {
        Ok(b) => match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => {
                report(&format!("{input}: not UTF-8 text: {e}"));
                return EXIT_ERROR;
            }
        },
        Err(e) => {
            report(&format!("{input}: {e}"));
            return EXIT_ERROR;
        }
    };
    match hashvm_format::hasm::assemble(&src, &input) {
        Ok(m) => {
            let checked = if a.no_verify {
                Ok(())
            } else {
                verify(&input, &m)
            };
            if let Err(e) = checked.and_then(|()| write_file(&a.out, &hashvm_format::write(&m))) {
                report(&e);
                return EXIT_ERROR;
            }
            0
        }
        Err(errs) => {
            for e in errs {
                ewrite(&format!("{e}\n"));
            }
            EXIT_ERROR
        }
    }
}
