//! Shared plumbing of the command-line tools: loading programs from `.hbc` or `.hash`,
//! finding libraries on the search path, and the error-reporting conventions (`error:`
//! lines, exit status 1 for failures and 2 for bad usage).

use hashvm_format::Module;
use std::path::{Path, PathBuf};

/// Exit status for compile, link, load and runtime errors.
pub const EXIT_ERROR: i32 = 1;
/// Exit status for bad command-line usage.
pub const EXIT_USAGE: i32 = 2;

/// The library search path: `-L` directories, then each directory of `HASH_PATH`.
/// (The bundled standard library comes last and is handled by the resolver.)
pub fn search_path(dash_l: &[PathBuf]) -> Vec<PathBuf> {
    let mut v = dash_l.to_vec();
    if let Some(p) = std::env::var_os("HASH_PATH") {
        v.extend(std::env::split_paths(&p).filter(|p| !p.as_os_str().is_empty()));
    }
    v
}

/// Reads and decodes a `.hbc` file; errors are `FILE: what is wrong`.
pub fn read_hbc(path: &Path) -> Result<Module, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    hashvm_format::read(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Verifies a module; errors are `FILE: location: what is wrong`.
pub fn verify(path: &str, m: &Module) -> Result<(), String> {
    hashvm_format::verify::verify(m)
        .map(|_| ())
        .map_err(|e| format!("{path}: {e}"))
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

/// Prints `error: MESSAGE` to standard error.
pub fn report(msg: &str) {
    eprintln!("error: {msg}");
}

/// Finds a library by name for load-time and `hashld` linking: `NAME.hbc` in each
/// search directory (`-L`, then `HASH_PATH`), then the bundled standard library.
pub fn resolve_library(name: &str, search: &[PathBuf]) -> Result<Option<(String, Module)>, String> {
    for dir in search {
        let p = dir.join(format!("{name}.hbc"));
        if p.is_file() {
            let m = read_hbc(&p)?;
            verify(&p.display().to_string(), &m)?;
            return Ok(Some((p.display().to_string(), m)));
        }
    }
    Ok(hashvm_compiler::driver::stdlib_object(name).map(|m| (format!("<stdlib>/{name}"), m)))
}
