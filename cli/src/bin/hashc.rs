//! `hashc`: the Hash compiler.

use hashvm_cli::*;
use hashvm_compiler::driver::{self, Options};
use std::path::PathBuf;

const USAGE: &str = "\
usage: hashc FILE.hash [-o OUT.hbc] [-L DIR]...      compile and link an executable
                                                    (default output: FILE.hbc)
       hashc --native FILE.hash [-o OUT] [-L DIR]... compile into a native executable
                                                    (default output: FILE)
       hashc -c FILE.hash -o OBJ.hbc [-L DIR]...     compile one linkable object
       hashc --help | --version

options:
  -c             compile FILE alone into a linkable object (-o is then required)
  --native       write an x86-64 Linux executable: the runtime hashvm-rt (found beside
                 hashc, or at $HASHVM_RT) with the program attached (SPEC.md §11)
  --native-stats with --native: say how many functions were compiled ahead of time
                 and how many the interpreter runs (on standard error)
  -o FILE        where to write the output
  -L DIR         add DIR to the import search path (repeatable; also -LDIR)
  --allow-ffi    let #run code load foreign (C) functions, and with --native let the
                 executable call them (refused otherwise)
  -h, --help     print this help
  -V, --version  print the version

Imports are looked up relative to the importing file, then in each -L directory, then in
each directory of HASH_PATH, then in the bundled standard library. Diagnostics are
coloured on a terminal unless NO_COLOR is set.";

/// The parsed command line.
#[derive(Debug)]
struct Args {
    object: bool,
    native: bool,
    native_stats: bool,
    input: PathBuf,
    out: PathBuf,
    dash_l: Vec<PathBuf>,
    allow_ffi: bool,
}

fn parse_args(p: &mut lexopt::Parser) -> Result<Parsed<Args>, lexopt::Error> {
    use lexopt::Arg::*;
    let mut object = false;
    let (mut native, mut native_stats) = (false, false);
    let mut out = None;
    let mut input: Option<PathBuf> = None;
    let mut dash_l = Vec::new();
    let mut allow_ffi = false;
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Short('c') => object = true,
            Long("native") => native = true,
            Long("native-stats") => native_stats = true,
            Short('o') => output_value(p, &mut out)?,
            Short('L') => dash_l.push(path_value(p)?),
            Long("allow-ffi") => allow_ffi = true,
            Value(v) if input.is_none() => input = Some(PathBuf::from(v)),
            Value(_) => return Err("more than one input file".into()),
            _ => return Err(arg.unexpected()),
        }
    }
    let input = input.ok_or("no input file")?;
    if native && object {
        return Err("--native makes an executable; -c makes a linkable object".into());
    }
    if native_stats && !native {
        return Err("--native-stats needs --native".into());
    }
    let out = match out {
        Some(o) => o,
        None if object => return Err("-c needs an output file (-o OBJ.hbc)".into()),
        None if native => input.with_extension(""),
        None => input.with_extension("hbc"),
    };
    if out == input {
        return Err(format!("the output file {} is the input file", out.display()).into());
    }
    Ok(Parsed::Go(Args {
        object,
        native,
        native_stats,
        input,
        out,
        dash_l,
        allow_ffi,
    }))
}

fn compile(args: Args) -> i32 {
    let opts = Options {
        search: search_path(&args.dash_l),
        jit: jit_factory(),
        allow_ffi: args.allow_ffi,
        ..Default::default()
    };
    let result = if args.object {
        driver::compile_object(&args.input, &opts)
    } else {
        driver::compile_program(&args.input, &opts)
    };
    match result {
        Ok(c) => {
            if !c.warnings.is_empty() {
                ewrite(&driver::render(&c.program, &c.warnings));
            }
            if args.native_stats {
                match hashvm_format::verify::verify(&c.module) {
                    Ok(v) => ewrite(&hashvm_cli::native::stats(v)),
                    Err(e) => ewrite(&format!("native: the program fails verification: {e}\n")),
                }
            }
            let written = if args.native {
                // `compile_program` verified the program; the proof is taken again here
                // (a fraction of a millisecond) rather than trusted across the API.
                hashvm_format::verify::verify(&c.module)
                    .map_err(|e| format!("{}: {e}", args.input.display()))
                    .and_then(|v| {
                        hashvm_cli::native::write_executable(v, &args.out, args.allow_ffi)
                    })
            } else {
                write_file(&args.out, &hashvm_format::write(&c.module))
            };
            match written {
                Ok(()) => 0,
                Err(e) => {
                    report(&e);
                    EXIT_ERROR
                }
            }
        }
        Err(f) => {
            ewrite(&f.rendered);
            EXIT_ERROR
        }
    }
}

fn main() {
    std::process::exit(main_with("hashc", USAGE, parse_args, compile));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, String> {
        match parse_args(&mut lexopt::Parser::from_args(v.iter().copied())) {
            Ok(Parsed::Go(a)) => Ok(a),
            Ok(_) => Err("help or version".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn output_rules() {
        let a = args(&["x.hash"]).unwrap();
        assert_eq!((a.object, a.out), (false, PathBuf::from("x.hbc")));
        let a = args(&["-c", "x.hash", "-o", "x.o", "-L", "d", "-Le"]).unwrap();
        assert_eq!((a.object, a.out), (true, PathBuf::from("x.o")));
        assert_eq!(a.dash_l, [PathBuf::from("d"), PathBuf::from("e")]);
        assert_eq!(
            args(&["-c", "x.hash"]).unwrap_err(),
            "-c needs an output file (-o OBJ.hbc)"
        );
        assert_eq!(args(&[]).unwrap_err(), "no input file");
        assert_eq!(
            args(&["a.hash", "b.hash"]).unwrap_err(),
            "more than one input file"
        );
        assert_eq!(
            args(&["x.hbc"]).unwrap_err(),
            "the output file x.hbc is the input file"
        );
        assert_eq!(args(&["--bogus"]).unwrap_err(), "invalid option '--bogus'");
        let a = args(&["--native", "d/x.hash"]).unwrap();
        assert_eq!((a.native, a.out), (true, PathBuf::from("d/x")));
        assert_eq!(
            args(&["--native", "x"]).unwrap_err(),
            "the output file x is the input file"
        );
        assert_eq!(
            args(&["--native", "-c", "x.hash", "-o", "x"]).unwrap_err(),
            "--native makes an executable; -c makes a linkable object"
        );
        assert_eq!(
            args(&["--native-stats", "x.hash"]).unwrap_err(),
            "--native-stats needs --native"
        );
        assert_eq!(
            args(&["x.hash", "-o", "a", "-o", "b"]).unwrap_err(),
            "-o given twice"
        );
    }
}
