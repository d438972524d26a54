//! `hashld OBJ.hbc... -o OUT.hbc [-L DIR]...`: links linkable objects, and the libraries
//! they need, into one executable `.hbc` file.
//!
//! It exists so that separately compiled objects can become a program without the
//! compiler: it is a thin shell over `hashvm_format::link`, adding the library lookup
//! shared with `hashvm run` ([`Libraries`]: objects named on the command line first,
//! then each `-L` directory in order, then each directory of `HASH_PATH`, then the
//! standard library bundled into the tools) and verification of every input and of the
//! output. Exit status: 0 on success, 1 on a link error (messages on stderr, each
//! starting with `error:`), 2 on bad usage.

use hashvm_cli::*;
use std::path::PathBuf;

const USAGE: &str = "\
usage: hashld OBJ.hbc... -o OUT.hbc [-L DIR]...
       hashld --native [--allow-ffi] OBJ.hbc... -o OUT [-L DIR]...
       hashld --help | --version

Links linkable objects, and the libraries they need, into an executable.
An object named here satisfies the library it defines, whatever its file is
called (the same file named twice is read once). Any other library NAME is
looked for as NAME.hbc in each -L directory (in order), then in each directory
of $HASH_PATH (colon-separated), then in the bundled standard library.

options:
  -o FILE        write the executable to FILE (required)
  --native       write an x86-64 Linux executable: the runtime hashvm-rt (found beside
                 hashld, or at $HASHVM_RT) with the linked program attached (SPEC.md §11)
  --native-stats with --native: say how many functions were compiled ahead of time
                 and how many the interpreter runs (on standard error)
  --allow-ffi    with --native: the executable may call the foreign (C) functions the
                 program declares (refused otherwise, as by hashvm run)
  -L DIR         add DIR to the library search path (repeatable; also -LDIR)
  -h, --help     print this help
  -V, --version  print the version
";

/// The parsed command line.
#[derive(Debug)]
struct Args {
    objects: Vec<PathBuf>,
    native: bool,
    native_stats: bool,
    allow_ffi: bool,
    output: PathBuf,
    lib_dirs: Vec<PathBuf>,
}

fn parse_args(p: &mut lexopt::Parser) -> Result<Parsed<Args>, lexopt::Error> {
    use lexopt::Arg::*;
    let mut objects = Vec::new();
    let mut output = None;
    let mut lib_dirs = Vec::new();
    let (mut native, mut native_stats, mut allow_ffi) = (false, false, false);
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Short('o') => output_value(p, &mut output)?,
            Short('L') => lib_dirs.push(path_value(p)?),
            Long("native") => native = true,
            Long("native-stats") => native_stats = true,
            Long("allow-ffi") => allow_ffi = true,
            Value(v) => objects.push(PathBuf::from(v)),
            _ => return Err(arg.unexpected()),
        }
    }
    let output = output.ok_or("no output file (-o OUT.hbc)")?;
    if objects.is_empty() {
        return Err("no input objects".into());
    }
    if native_stats && !native {
        return Err("--native-stats needs --native".into());
    }
    if allow_ffi && !native {
        return Err("--allow-ffi needs --native (a .hbc file is allowed by hashvm run)".into());
    }
    Ok(Parsed::Go(Args {
        objects,
        native,
        native_stats,
        allow_ffi,
        output,
        lib_dirs,
    }))
}

fn run(args: Args) -> Result<(), Vec<String>> {
    let objects = read_objects(&args.objects)?;
    let libs = Libraries::new(
        &args.lib_dirs,
        None,
        std::env::var_os("HASH_PATH").as_deref(),
    );
    let out = libs.link(&objects)?;
    let display = args.output.display().to_string();
    if out.entry.is_none() {
        return Err(vec![
            "no entry point: none of the objects or libraries defines one (an executable needs exactly one object with an entry, as `hashc` makes for a file with `main`)".into(),
        ]);
    }
    let verified = hashvm_format::verify::verify(&out).map_err(|e| {
        vec![format!(
            "{display}: the linked program fails verification (a linker bug): {e}"
        )]
    })?;
    if args.native_stats {
        ewrite(&native::stats(verified));
    }
    if args.native {
        native::write_executable(verified, &args.output, args.allow_ffi).map_err(|e| vec![e])
    } else {
        write_file(&args.output, &hashvm_format::write(&out)).map_err(|e| vec![e])
    }
}

fn main() {
    let code = main_with("hashld", USAGE, parse_args, |args| match run(args) {
        Ok(()) => 0,
        Err(errors) => {
            for e in errors {
                report(&e);
            }
            EXIT_ERROR
        }
    });
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashvm_format::hasm::assemble;
    use hashvm_format::{read, write};
    use std::path::Path;

    fn args(v: &[&str]) -> Result<Parsed<Args>, String> {
        let mut p = lexopt::Parser::from_args(v.iter().copied());
        parse_args(&mut p).map_err(|e| e.to_string())
    }

    /// A fresh scratch directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hashld-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn put(path: &Path, src: &str) {
        let m = assemble(src, "test.hasm").unwrap();
        std::fs::write(path, write(&m)).unwrap();
    }

    #[test]
    fn command_line() {
        let Ok(Parsed::Go(a)) = args(&["a.hbc", "-o", "out.hbc", "-L", "x", "-Ly", "b.hbc"]) else {
            panic!()
        };
        assert_eq!(a.objects, ["a.hbc", "b.hbc"].map(PathBuf::from));
        assert_eq!(a.output, PathBuf::from("out.hbc"));
        assert_eq!(a.lib_dirs, [PathBuf::from("x"), PathBuf::from("y")]);
        assert!(matches!(args(&["--help"]), Ok(Parsed::Help)));
        assert!(matches!(args(&["a.hbc", "-h"]), Ok(Parsed::Help)));
        assert!(matches!(args(&["--version"]), Ok(Parsed::Version)));
        assert_eq!(
            args(&["a.hbc"]).err().unwrap(),
            "no output file (-o OUT.hbc)"
        );
        assert_eq!(args(&["-o", "x"]).err().unwrap(), "no input objects");
        assert_eq!(
            args(&["a", "-o"]).err().unwrap(),
            "missing argument for option '-o'"
        );
        assert_eq!(args(&["a", "-q"]).err().unwrap(), "invalid option '-q'");
        assert_eq!(
            args(&["a", "-o", "x", "-ox"]).err().unwrap(),
            "-o given twice"
        );
        let Ok(Parsed::Go(a)) = args(&["-o", "o", "--", "-weird.hbc"]) else {
            panic!()
        };
        assert_eq!(a.objects, [PathBuf::from("-weird.hbc")]);
    }

    #[cfg(unix)]
    #[test]
    fn file_names_need_not_be_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"caf\xe9.hbc");
        let mut p = lexopt::Parser::from_args([bad, "-o".as_ref(), bad]);
        let Ok(Parsed::Go(a)) = parse_args(&mut p) else {
            panic!()
        };
        assert_eq!(a.objects, [PathBuf::from(bad)]);
        assert_eq!(a.output, PathBuf::from(bad));
    }

    #[test]
    fn first_directory_holding_the_library_wins() {
        let root = scratch("order");
        let (a, b, c) = (root.join("a"), root.join("b"), root.join("c"));
        for d in [&a, &b, &c] {
            std::fs::create_dir_all(d).unwrap();
        }
        put(
            &b.join("m.hbc"),
            ".global which = 2\n.export which global which",
        );
        put(
            &c.join("m.hbc"),
            ".global which = 3\n.export which global which",
        );
        let libs = |dirs: &[PathBuf]| Libraries::new(dirs, None, None);
        let found = libs(&[a.clone(), b.clone(), c.clone()])
            .find("m")
            .unwrap()
            .unwrap();
        assert_eq!(found.0, b.join("m.hbc").display().to_string());
        let found = libs(&[c.clone(), b]).find("m").unwrap().unwrap();
        assert_eq!(found.0, c.join("m.hbc").display().to_string());
        let only_a = libs(std::slice::from_ref(&a));
        assert!(only_a.find("m").unwrap().is_none());
        // An unreadable library is an error naming the file, not "not found".
        std::fs::write(a.join("bad.hbc"), b"junk").unwrap();
        let e = only_a.find("bad").unwrap_err();
        assert!(
            e.starts_with(&a.join("bad.hbc").display().to_string()),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A file named on the command line and found again by the search for a library
    /// it does not define is an error, not a second copy (duplicate symbols).
    #[test]
    fn a_given_object_is_never_loaded_twice() {
        let root = scratch("twice");
        put(
            &root.join("app.hbc"),
            ".library util\n.global k import \"other::k\"\n.func main/0\n    loadg r0, k\n    ret r0\n.end\n.entry main",
        );
        put(
            &root.join("util.hbc"),
            ".global k = 7\n.export \"other::k\" global k",
        );
        let e = run(Args {
            native: false,
            native_stats: false,
            allow_ffi: false,
            objects: vec![root.join("app.hbc"), root.join("util.hbc")],
            output: root.join("out.hbc"),
            lib_dirs: vec![root.clone()],
        })
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("is named on the command line, but it does not define library `util`"),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn links_objects_and_libraries_into_an_executable() {
        let root = scratch("link");
        let lib = root.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        put(
            &lib.join("answer.hbc"),
            ".global v = 42\n.export answer global v",
        );
        put(
            &root.join("main.hbc"),
            ".library answer\n.global a import answer\n.func main/0\n    loadg r0, a\n    ret r0\n.end\n.entry main",
        );
        let out = root.join("out.hbc");
        run(Args {
            native: false,
            native_stats: false,
            allow_ffi: false,
            objects: vec![root.join("main.hbc")],
            output: out.clone(),
            lib_dirs: vec![lib.clone()],
        })
        .unwrap();
        let m = read(&std::fs::read(&out).unwrap()).unwrap();
        hashvm_format::verify(&m).unwrap();
        assert!(m.is_executable());
        assert_eq!(m.globals.len(), 1);

        // Named on the command line, by two paths, the library is one file.
        run(Args {
            native: false,
            native_stats: false,
            allow_ffi: false,
            objects: vec![
                root.join("main.hbc"),
                lib.join("answer.hbc"),
                lib.join("../lib/answer.hbc"),
            ],
            output: out.clone(),
            lib_dirs: vec![lib.clone()],
        })
        .unwrap();
        assert_eq!(read(&std::fs::read(&out).unwrap()).unwrap(), m);

        // Errors name the files, and say where libraries were looked for.
        let e = run(Args {
            native: false,
            native_stats: false,
            allow_ffi: false,
            objects: vec![root.join("main.hbc")],
            output: out.clone(),
            lib_dirs: vec![],
        })
        .unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(&format!(
                "library `answer` not found (needed by {})\n  looked for answer.hbc in: ",
                root.join("main.hbc").display()
            )),
            "{e:?}"
        );
        let missing = root.join("nope.hbc");
        let e = run(Args {
            native: false,
            native_stats: false,
            allow_ffi: false,
            objects: vec![missing.clone()],
            output: out,
            lib_dirs: vec![],
        })
        .unwrap_err();
        assert!(
            e[0].starts_with(&format!("{}: ", missing.display())),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
