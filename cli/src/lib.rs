//! Shared plumbing of the command-line tools: the argument conventions (one parser,
//! `lexopt`, for all three binaries), output that survives a closed pipe or a full disk,
//! reading objects, the one library lookup used by `hashld` and `hashvm run`, and the
//! error-reporting conventions (`error:` lines, exit status 1 for failures and 2 for bad
//! usage).

pub mod native;

use hashvm_format::link::Resolved;
use hashvm_format::{Module, VerifiedModule};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use hashvm_compiler::diag::{colour_stderr, colour_wanted, paint};
pub use lexopt;
use lexopt::prelude::*;

/// Exit status for compile, link, load and runtime errors.
pub const EXIT_ERROR: i32 = 1;
/// Exit status for bad command-line usage.
pub const EXIT_USAGE: i32 = 2;

/// What a binary's command line asks for, once parsed: to do its work, or to print
/// its help or version (which exit 0 whatever else the line says).
pub enum Parsed<T> {
    /// Do the work.
    Go(T),
    /// Print the usage text on standard output.
    Help,
    /// Print `NAME VERSION` on standard output.
    Version,
}

/// Runs a binary: parses the command line with `parse`, handles `--help`,
/// `--version` and usage errors (`error: MESSAGE`, a blank line, the usage, status 2),
/// then calls `work`. Returns the exit status.
pub fn main_with<T>(
    name: &str,
    usage: &str,
    parse: impl FnOnce(&mut lexopt::Parser) -> Result<Parsed<T>, lexopt::Error>,
    work: impl FnOnce(T) -> i32,
) -> i32 {
    let mut parser = lexopt::Parser::from_env();
    match parse(&mut parser) {
        Ok(Parsed::Go(t)) => work(t),
        Ok(Parsed::Help) => out(usage.trim_end()),
        Ok(Parsed::Version) => out(&format!("{name} {}", env!("CARGO_PKG_VERSION"))),
        Err(e) => {
            report(&format!("{e}\n\n{}", usage.trim_end()));
            EXIT_USAGE
        }
    }
}

/// The value of option `flag` as a path (any bytes: paths need not be UTF-8).
pub fn path_value(p: &mut lexopt::Parser) -> Result<PathBuf, lexopt::Error> {
    Ok(PathBuf::from(p.value()?))
}

/// Sets `slot` to the `-o` value, refusing a second `-o`.
pub fn output_value(
    p: &mut lexopt::Parser,
    slot: &mut Option<PathBuf>,
) -> Result<(), lexopt::Error> {
    let v = path_value(p)?;
    if slot.replace(v).is_some() {
        return Err("-o given twice".into());
    }
    Ok(())
}

/// An argument a program receives (`hashvm run FILE ARGS...`): the program sees
/// `str`s, so bytes that are not UTF-8 become U+FFFD.
pub fn program_arg(a: OsString) -> String {
    a.to_string_lossy().into_owned()
}

/// A positional argument that must be text, e.g. a subcommand.
pub fn text(a: OsString) -> Result<String, lexopt::Error> {
    a.string()
}

/// Writes `text` and a newline to standard output. A reader that has gone away (a
/// closed pipe, as in `hashvm dis x.hbc | head -1`) ends the output quietly with
/// status 0, as for `cat`; any other failure (a full disk) is an error, status 1.
/// Returns the exit status.
pub fn out(text: &str) -> i32 {
    let mut o = std::io::stdout().lock();
    match o
        .write_all(text.as_bytes())
        .and_then(|()| o.write_all(b"\n"))
        .and_then(|()| o.flush())
    {
        Ok(()) => 0,
        Err(e) => output_error(&e),
    }
}

/// Like [`out`], without the newline.
pub fn out_raw(text: &[u8]) -> i32 {
    let mut o = std::io::stdout().lock();
    match o.write_all(text).and_then(|()| o.flush()) {
        Ok(()) => 0,
        Err(e) => output_error(&e),
    }
}

/// The exit status for a failed write to standard output: 0 for a closed pipe, else
/// 1 with `error: standard output: ...`.
pub fn output_error(e: &std::io::Error) -> i32 {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        0
    } else {
        report(&format!("standard output: {e}"));
        EXIT_ERROR
    }
}

/// Writes `text` to standard error, ignoring failure: there is nowhere left to report
/// it, and a diagnostic must never turn into a panic. Diagnostics are coloured when
/// standard error is a terminal ([`colour_stderr`]).
pub fn ewrite(text: &str) {
    let painted;
    let text = if colour_stderr() {
        painted = paint(text);
        &painted
    } else {
        text
    };
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Prints `error: MESSAGE` to standard error.
pub fn report(msg: &str) {
    ewrite(&format!("error: {msg}\n"));
}

/// Writes `bytes` to the file `path`; the error names the file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The library search path for compiling sources: `-L` directories, then each
/// directory of `HASH_PATH`. (The bundled standard library comes last and is handled
/// by the compiler's resolver.)
pub fn search_path(dash_l: &[PathBuf]) -> Vec<PathBuf> {
    let mut v = dash_l.to_vec();
    v.extend(hash_path(std::env::var_os("HASH_PATH").as_deref()));
    v
}

/// The directories of a `HASH_PATH` value (the platform's path-list syntax:
/// colon-separated on Unix), empty entries skipped.
pub fn hash_path(value: Option<&std::ffi::OsStr>) -> Vec<PathBuf> {
    value
        .map(|p| {
            std::env::split_paths(p)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads and decodes a `.hbc` file, or the program a native executable carries
/// (SPEC.md §11); errors are `FILE: what is wrong`.
pub fn read_hbc(path: &Path) -> Result<Module, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let hbc = if bytes.starts_with(&hashvm_format::binary::MAGIC) {
        &bytes[..]
    } else {
        match native::program_of(&bytes) {
            Ok(Some(hbc)) => hbc,
            Ok(None) => &bytes[..],
            Err(e) => {
                return Err(format!(
                    "{}: a native executable whose program is damaged: {e}",
                    path.display()
                ))
            }
        }
    };
    hashvm_format::read(hbc).map_err(|e| format!("{}: {e}", path.display()))
}

/// Verifies a module; errors are `FILE: location: what is wrong`.
pub fn verify(path: &str, m: &Module) -> Result<(), String> {
    hashvm_format::verify::verify(m)
        .map(|_| ())
        .map_err(|e| format!("{path}: {e}"))
}

/// Verifies a module that is to run, kept as the proof; errors are `FILE: location:
/// what is wrong`.
pub fn verify_owned(path: &str, m: Module) -> Result<VerifiedModule, String> {
    hashvm_format::verify::verify_owned(m).map_err(|e| format!("{path}: {e}"))
}

/// Reads and verifies the objects named on a command line. The same file named twice
/// (by any path: `util.hbc`, `./util.hbc`) is read once. Every error is reported.
pub fn read_objects(paths: &[PathBuf]) -> Result<Vec<(String, Module)>, Vec<String>> {
    let mut seen = Vec::new();
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let display = path.display().to_string();
        match read_hbc(path).and_then(|m| verify(&display, &m).map(|()| m)) {
            Ok(m) => objects.push((display, m)),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(objects)
    } else {
        Err(errors)
    }
}

/// One place to look for libraries, and why it is on the path (for "looked in").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The directory.
    pub dir: PathBuf,
    /// How it got on the path: `-L`, `beside FILE`, `HASH_PATH`.
    pub why: String,
}

/// The one library lookup of the tools (`hashld`, and `hashvm run` linking an object at
/// load time): library `NAME` is the file `NAME.hbc` in the first place that has it, in
/// order: each `-L` directory; the directory of the file being run (`hashvm run` only);
/// each directory of `HASH_PATH`; then the standard library bundled into the tools.
/// (Objects named on the command line come before all of these: the linker takes the
/// library an object defines from the object; see `format::link::defined_library`.)
#[derive(Clone, Debug, Default)]
pub struct Libraries {
    /// The directories, in search order.
    pub places: Vec<Place>,
}

impl Libraries {
    /// The search path for `-L` directories `dash_l`, the directory of `beside` if
    /// given, and `HASH_PATH` (`hash_path`, the variable's value).
    pub fn new(
        dash_l: &[PathBuf],
        beside: Option<&Path>,
        hash_path_var: Option<&std::ffi::OsStr>,
    ) -> Self {
        let mut places: Vec<Place> = dash_l
            .iter()
            .map(|d| Place {
                dir: d.clone(),
                why: "-L".into(),
            })
            .collect();
        if let Some(file) = beside {
            let dir = match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            places.push(Place {
                dir,
                why: format!("beside {}", file.display()),
            });
        }
        places.extend(hash_path(hash_path_var).into_iter().map(|dir| Place {
            dir,
            why: "HASH_PATH".into(),
        }));
        Libraries { places }
    }

    /// Finds library `name`: `Ok(Some((display, module)))`, verified; `Ok(None)` when
    /// no place has it; `Err` when a file exists but cannot be used (that is not "not
    /// found": the message names the file).
    pub fn find(&self, name: &str) -> Result<Resolved, String> {
        self.find_except(name, &[])
    }

    /// [`Libraries::find`], refusing a file that is one of `given` (canonical paths
    /// of the objects being linked): such a file is already a unit, and loading it
    /// again would define its symbols twice. (It reaches here only when it does not
    /// define library `name`, or the linker would have used it.)
    fn find_except(&self, name: &str, given: &[PathBuf]) -> Result<Resolved, String> {
        let rel = Path::new(name);
        if name.is_empty()
            || rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!("`{name}` is not a valid library name"));
        }
        for place in &self.places {
            let path = place.dir.join(format!("{name}.hbc"));
            if path.is_file() {
                let display = path.display().to_string();
                if std::fs::canonicalize(&path).is_ok_and(|c| given.contains(&c)) {
                    return Err(format!(
                        "{display} is named on the command line, but it does not define library `{name}` (its exports are not `{name}::...`)"
                    ));
                }
                let m = read_hbc(&path)?;
                verify(&display, &m)?;
                return Ok(Some((display, m)));
            }
        }
        match hashvm_compiler::driver::stdlib_object(name) {
            Some(m) => {
                let display = format!("<stdlib>/{name}");
                verify(&display, &m)?;
                Ok(Some((display, m)))
            }
            None => Ok(None),
        }
    }

    /// Where [`Libraries::find`] looks, for an error saying so:
    /// `looked for NAME.hbc in: . (-L), /x (beside /x/app.hbc), the bundled standard library`.
    pub fn looked_in(&self, name: &str) -> String {
        let mut s = format!("looked for {name}.hbc in: ");
        for p in &self.places {
            s += &format!("{} ({}), ", p.dir.display(), p.why);
        }
        s += "the bundled standard library";
        s
    }

    /// Links `objects` with the libraries they need. Errors are the link errors, each
    /// "not found" followed by where the library was looked for.
    pub fn link(&self, objects: &[(String, Module)]) -> Result<Module, Vec<String>> {
        let given: Vec<PathBuf> = objects
            .iter()
            .filter_map(|(display, _)| std::fs::canonicalize(display).ok())
            .collect();
        let mut resolve = |name: &str| self.find_except(name, &given);
        hashvm_format::link::link(objects, &mut resolve).map_err(|errs| {
            errs.iter()
                .map(|e| match e {
                    hashvm_format::link::LinkError::LibraryNotFound { library, .. } => {
                        format!("{e}\n  {}", self.looked_in(library))
                    }
                    _ => e.to_string(),
                })
                .collect()
        })
    }
}

/// Parses a size such as `512M`, `2G`, `65536` or `64k`.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1usize << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mul)
}

/// The tracing JIT for VMs the binaries make (`#run`, the REPL), or `None` where there
/// is none (not x86-64). `hashvm run` attaches its own, with its options.
pub fn jit_factory() -> Option<hashvm_compiler::driver::JitFactory> {
    #[cfg(target_arch = "x86_64")]
    {
        fn make() -> Box<dyn hashvm_vm::jit::JitHook> {
            Box::new(hashvm_jit::Jit::new())
        }
        Some(make)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The statistics of the JIT attached to a run, if one is.
#[cfg(target_arch = "x86_64")]
pub type JitStatsCell = Option<std::rc::Rc<std::cell::RefCell<hashvm_jit::JitStats>>>;
/// No JIT on this architecture.
#[cfg(not(target_arch = "x86_64"))]
pub type JitStatsCell = Option<()>;

/// A tracing JIT for `vm` (x86-64 only; elsewhere the interpreter runs alone), not
/// yet attached (a native executable's ahead-of-time hook wraps it): `log` and `dump`
/// as `--jit-log` and `--jit-dump`; with `stats`, the traces count their passes and
/// the interpreter its instructions (`--jit-stats`). `fields`: a closed program's
/// field kinds (a native executable's, `hashvm_jit::kinds`; `None` for `hashvm run`,
/// whose program a later load could extend).
#[cfg(target_arch = "x86_64")]
pub fn new_jit(
    vm: &mut hashvm_vm::Vm,
    log: bool,
    dump: bool,
    stats: bool,
    fields: Option<hashvm_jit::kinds::FieldKinds>,
) -> (Option<Box<dyn hashvm_vm::jit::JitHook>>, JitStatsCell) {
    let mut jit = hashvm_jit::Jit::new();
    jit.log = log;
    jit.dump = dump;
    jit.count = stats;
    jit.fields = fields.filter(|f| !f.is_empty()).map(std::rc::Rc::new);
    vm.set_count_instructions(stats);
    let cell = jit.stats.clone();
    (Some(Box::new(jit)), Some(cell))
}

/// No JIT on this architecture.
#[cfg(not(target_arch = "x86_64"))]
pub fn new_jit(
    _vm: &mut hashvm_vm::Vm,
    _: bool,
    _: bool,
    _: bool,
    _: Option<hashvm_jit::kinds::FieldKinds>,
) -> (Option<Box<dyn hashvm_vm::jit::JitHook>>, JitStatsCell) {
    (None, None)
}

/// Attaches the tracing JIT to `vm` (see [`new_jit`]).
pub fn attach_jit(vm: &mut hashvm_vm::Vm, log: bool, dump: bool, stats: bool) -> JitStatsCell {
    let (jit, cell) = new_jit(vm, log, dump, stats, None);
    vm.set_jit(jit);
    cell
}

/// The `--jit-stats` line (SPEC.md §10.3) for a run of `vm` with the JIT `s`.
pub fn jit_stats_line(s: &JitStatsCell, vm: &hashvm_vm::Vm) -> String {
    #[cfg(target_arch = "x86_64")]
    let line = match s {
        Some(s) => {
            let s = s.borrow();
            let traced = s.traced_insns();
            let total = traced.saturating_add(vm.instructions_interpreted());
            let share = if total == 0 {
                0.0
            } else {
                100.0 * traced as f64 / total as f64
            };
            format!(
                "jit: {} recordings, {} aborted, {} traces, {} side traces, {} trace entries, {} exits to the interpreter ({} from helper calls), {} links between traces, {} allocations sunk ({} rebuilt at exits), {:.3} ms recording and compiling, {} instructions, {:.1}% of instructions in traces\n",
                s.recordings,
                s.aborts,
                s.traces,
                s.side_traces,
                s.entries,
                s.exits,
                s.helper_exits,
                s.links + s.direct_links.load(std::sync::atomic::Ordering::Relaxed),
                s.sunk_allocs,
                s.unsink_exits,
                s.compile_seconds * 1e3,
                total,
                share
            )
        }
        None => "jit: off\n".to_string(),
    };
    #[cfg(not(target_arch = "x86_64"))]
    let line = {
        let _ = (s, vm);
        "jit: not available on this architecture\n".to_string()
    };
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order_is_dash_l_then_beside_then_hash_path() {
        let libs = Libraries::new(
            &[PathBuf::from("l1"), PathBuf::from("l2")],
            Some(Path::new("dir/app.hbc")),
            Some(std::ffi::OsStr::new("h1::h2")),
        );
        let dirs: Vec<_> = libs.places.iter().map(|p| p.dir.clone()).collect();
        assert_eq!(dirs, ["l1", "l2", "dir", "h1", "h2"].map(PathBuf::from));
        let libs = Libraries::new(&[], Some(Path::new("app.hbc")), None);
        assert_eq!(libs.places[0].dir, PathBuf::from("."));
        assert_eq!(
            libs.looked_in("util"),
            "looked for util.hbc in: . (beside app.hbc), the bundled standard library"
        );
        assert!(Libraries::new(&[], None, None).places.is_empty());
    }

    #[test]
    fn library_names_are_relative_paths() {
        let libs = Libraries::default();
        assert!(libs.find("../m").is_err());
        assert!(libs.find("/m").is_err());
        assert!(libs.find("").is_err());
        assert!(libs.find("no_such_library").unwrap().is_none());
        assert!(libs.find("std.prelude").unwrap().is_some());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64k"), Some(65536));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }
}
