//! `hashld OBJ.hbc... -o OUT.hbc [-L DIR]...`: links linkable objects, and the libraries
//! they need, into one executable `.hbc` file.
//!
//! It exists so that separately compiled objects can become a program without the
//! compiler: it is a thin shell over `hashvm_format::link`, adding the library search
//! path (each `-L` directory in order, then each directory of `HASH_PATH`, then the
//! standard library bundled into the tools) and verification of every input and of the
//! output. Exit status: 0 on success, 1 on a link error (messages on stderr, each
//! containing `error:`), 2 on bad usage.

use hashvm_format::link::{link, Resolved};
use hashvm_format::{read, verify, write, Module};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: hashld OBJ.hbc... -o OUT.hbc [-L DIR]...

Links linkable objects, and the libraries they need, into an executable.
A library NAME is looked for as NAME.hbc in each -L directory (in order),
then in each directory of $HASH_PATH (colon-separated), then in the bundled
standard library.

options:
  -o FILE     write the executable to FILE (required)
  -L DIR      add DIR to the library search path (repeatable; also -LDIR)
  -h, --help  print this help
";

/// The standard library compiled into the tools, looked up last on the search path:
/// the bundled Hash sources (`std.list`, `std.prelude`, ...) compiled on first use, so
/// programs link from any directory with no install step.
fn bundled_library(name: &str) -> Option<Vec<u8>> {
    hashvm_compiler::driver::stdlib_object(name).map(|m| hashvm_format::write(&m))
}

/// The parsed command line.
struct Args {
    objects: Vec<String>,
    output: String,
    lib_dirs: Vec<PathBuf>,
}

/// What the command line asks for: to link, or to print the help.
enum Command {
    Link(Args),
    Help,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut objects = Vec::new();
    let mut output = None;
    let mut lib_dirs = Vec::new();
    let mut args = args.peekable();
    let mut only_files = false;
    while let Some(a) = args.next() {
        if only_files || !a.starts_with('-') || a == "-" {
            objects.push(a);
            continue;
        }
        match a.as_str() {
            "--" => only_files = true,
            "-h" | "--help" => return Ok(Command::Help),
            "-o" => {
                let v = args.next().ok_or("-o needs a file name")?;
                if output.replace(v).is_some() {
                    return Err("-o given twice".into());
                }
            }
            "-L" => lib_dirs.push(PathBuf::from(args.next().ok_or("-L needs a directory")?)),
            _ if a.starts_with("-L") => lib_dirs.push(PathBuf::from(&a[2..])),
            _ if a.starts_with("-o") => {
                if output.replace(a[2..].to_string()).is_some() {
                    return Err("-o given twice".into());
                }
            }
            _ => return Err(format!("unknown option {a}")),
        }
    }
    let output = output.ok_or("no output file (-o OUT.hbc)")?;
    if objects.is_empty() {
        return Err("no input objects".into());
    }
    Ok(Command::Link(Args {
        objects,
        output,
        lib_dirs,
    }))
}

/// Decodes and verifies one file's bytes; the error names the file.
fn load(display: &str, bytes: &[u8]) -> Result<Module, String> {
    let m = read(bytes).map_err(|e| format!("{display}: {e}"))?;
    verify(&m).map_err(|e| format!("{display}: {e}"))?;
    Ok(m)
}

/// The directories searched for libraries, in order: the `-L` directories, then those
/// of `HASH_PATH` (the platform's path-list syntax: colon-separated on Unix; empty
/// entries skipped).
fn search_dirs(lib_dirs: &[PathBuf], hash_path: Option<&std::ffi::OsStr>) -> Vec<PathBuf> {
    let mut dirs = lib_dirs.to_vec();
    if let Some(p) = hash_path {
        dirs.extend(std::env::split_paths(p).filter(|d| !d.as_os_str().is_empty()));
    }
    dirs
}

/// Finds library `name` on the search path: the `-L` directories, then `HASH_PATH`,
/// then the bundled standard library.
fn find_library(name: &str, dirs: &[PathBuf]) -> Result<Resolved, String> {
    let rel = Path::new(name);
    if name.is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!("`{name}` is not a valid library name"));
    }
    for dir in dirs {
        let path = dir.join(format!("{name}.hbc"));
        if path.is_file() {
            let display = path.display().to_string();
            let bytes = std::fs::read(&path).map_err(|e| format!("{display}: {e}"))?;
            return load(&display, &bytes).map(|m| Some((display, m)));
        }
    }
    match bundled_library(name) {
        Some(bytes) => {
            let display = format!("<bundled {name}>");
            load(&display, &bytes).map(|m| Some((display, m)))
        }
        None => Ok(None),
    }
}

fn run(args: Args) -> Result<(), Vec<String>> {
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for path in &args.objects {
        match std::fs::read(path) {
            Err(e) => errors.push(format!("{path}: {e}")),
            Ok(bytes) => match load(path, &bytes) {
                Ok(m) => objects.push((path.clone(), m)),
                Err(e) => errors.push(e),
            },
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let dirs = search_dirs(&args.lib_dirs, std::env::var_os("HASH_PATH").as_deref());
    let mut resolve = |name: &str| find_library(name, &dirs);
    let out = link(&objects, &mut resolve)
        .map_err(|es| es.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    if out.entry.is_none() {
        return Err(vec![
            "no entry point: none of the objects or libraries defines one".into(),
        ]);
    }
    verify(&out).map_err(|e| {
        vec![format!(
            "{}: the linked program fails verification (a linker bug): {e}",
            args.output
        )]
    })?;
    std::fs::write(&args.output, write(&out)).map_err(|e| vec![format!("{}: {e}", args.output)])
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(Command::Link(args)) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(errors) => {
                for e in errors {
                    eprintln!("error: {e}");
                }
                ExitCode::from(1)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashvm_format::hasm::assemble;

    fn args(v: &[&str]) -> Result<Command, String> {
        parse_args(v.iter().map(|s| s.to_string()))
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
        let Ok(Command::Link(a)) = args(&["a.hbc", "-o", "out.hbc", "-L", "x", "-Ly", "b.hbc"])
        else {
            panic!()
        };
        assert_eq!(a.objects, ["a.hbc", "b.hbc"]);
        assert_eq!(a.output, "out.hbc");
        assert_eq!(a.lib_dirs, [PathBuf::from("x"), PathBuf::from("y")]);
        assert!(matches!(args(&["--help"]), Ok(Command::Help)));
        assert!(matches!(args(&["a.hbc", "-h"]), Ok(Command::Help)));
        assert_eq!(
            args(&["a.hbc"]).err().unwrap(),
            "no output file (-o OUT.hbc)"
        );
        assert_eq!(args(&["-o", "x"]).err().unwrap(), "no input objects");
        assert_eq!(args(&["a", "-o"]).err().unwrap(), "-o needs a file name");
        assert_eq!(args(&["a", "-q"]).err().unwrap(), "unknown option -q");
        assert_eq!(
            args(&["a", "-o", "x", "-ox"]).err().unwrap(),
            "-o given twice"
        );
        let Ok(Command::Link(a)) = args(&["-o", "o", "--", "-weird.hbc"]) else {
            panic!()
        };
        assert_eq!(a.objects, ["-weird.hbc"]);
    }

    #[test]
    fn search_order_is_l_dirs_then_hash_path() {
        let dirs = search_dirs(
            &[PathBuf::from("l1"), PathBuf::from("l2")],
            Some(std::ffi::OsStr::new("h1::h2")),
        );
        assert_eq!(dirs, ["l1", "l2", "h1", "h2"].map(PathBuf::from));
        assert_eq!(search_dirs(&[], None), Vec::<PathBuf>::new());
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
        let abc = [a.clone(), b.clone(), c.clone()];
        let found = find_library("m", &abc).unwrap().unwrap();
        assert_eq!(found.0, b.join("m.hbc").display().to_string());
        let found = find_library("m", &[c.clone(), b]).unwrap().unwrap();
        assert_eq!(found.0, c.join("m.hbc").display().to_string());
        let only_a = std::slice::from_ref(&a);
        assert!(find_library("m", only_a).unwrap().is_none());
        assert!(find_library("../m", only_a).is_err());
        assert!(find_library("/m", only_a).is_err());
        // An unreadable library is an error naming the file, not "not found".
        std::fs::write(a.join("bad.hbc"), b"junk").unwrap();
        let e = find_library("bad", only_a).unwrap_err();
        assert!(
            e.starts_with(&a.join("bad.hbc").display().to_string()),
            "{e}"
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
            objects: vec![root.join("main.hbc").display().to_string()],
            output: out.display().to_string(),
            lib_dirs: vec![lib],
        })
        .unwrap();
        let m = read(&std::fs::read(&out).unwrap()).unwrap();
        verify(&m).unwrap();
        assert!(m.is_executable());
        assert_eq!(m.globals.len(), 1);

        // Errors name the files.
        let e = run(Args {
            objects: vec![root.join("main.hbc").display().to_string()],
            output: out.display().to_string(),
            lib_dirs: vec![],
        })
        .unwrap_err();
        assert_eq!(
            e,
            [format!(
                "library `answer` not found (needed by {})",
                root.join("main.hbc").display()
            )]
        );
        let missing = root.join("nope.hbc").display().to_string();
        let e = run(Args {
            objects: vec![missing.clone()],
            output: out.display().to_string(),
            lib_dirs: vec![],
        })
        .unwrap_err();
        assert!(e[0].starts_with(&format!("{missing}: ")), "{e:?}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
