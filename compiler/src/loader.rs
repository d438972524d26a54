//! Finding and reading source files (LANGUAGE.md §5).
//!
//! File access goes through the small [`SourceLoader`] trait so that the command-line
//! compiler reads the file system ([`FsLoader`]) while tests and the REPL supply
//! sources from memory ([`MemLoader`]). The bundled standard library never goes through
//! the loader: it is compiled into the `hashvm-stdlib` crate.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Reads source files for the compiler. `Sync` because the front end runs on a helper
/// thread with a large stack (deeply nested programs must not overflow it).
pub trait SourceLoader: Sync {
    /// The text of the file at `path`: `Ok(None)` when there is no such file, `Err`
    /// with a reason when it exists but cannot be read (e.g. not UTF-8).
    fn load(&self, path: &Path) -> Result<Option<String>, String>;
}

/// Reads files from the file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn load(&self, path: &Path) -> Result<Option<String>, String> {
        match std::fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "the file is not valid UTF-8".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if path.is_dir() => Err(format!("it is a directory ({e})")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Serves sources from memory, keyed by (lexically normalised) path; for tests, the
/// REPL and tools that compile generated code.
#[derive(Clone, Debug, Default)]
pub struct MemLoader {
    files: HashMap<PathBuf, String>,
}

impl MemLoader {
    /// An empty loader.
    pub fn new() -> MemLoader {
        MemLoader::default()
    }

    /// Adds (or replaces) the file at `path`.
    pub fn add(&mut self, path: impl AsRef<Path>, text: impl Into<String>) -> &mut MemLoader {
        self.files.insert(normalize(path.as_ref()), text.into());
        self
    }

    /// Builder form of [`MemLoader::add`].
    pub fn with(mut self, path: impl AsRef<Path>, text: impl Into<String>) -> MemLoader {
        self.add(path, text);
        self
    }
}

impl SourceLoader for MemLoader {
    fn load(&self, path: &Path) -> Result<Option<String>, String> {
        Ok(self.files.get(&normalize(path)).cloned())
    }
}

/// Removes `.` components and resolves `..` against the preceding component, without
/// touching the file system (so that `a/../b.hash` and `b.hash` name one module).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) | Some(Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    let p: PathBuf = out.iter().map(|c| c.as_os_str()).collect();
    if p.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        p
    }
}

/// The directories listed in the `HASH_PATH` environment variable (separated as `PATH`
/// is on this platform), in order.
pub fn hash_path_from_env() -> Vec<PathBuf> {
    match std::env::var_os("HASH_PATH") {
        Some(v) => std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("a/./b/../c.hash")),
            PathBuf::from("a/c.hash")
        );
        assert_eq!(normalize(Path::new("../x/../y")), PathBuf::from("../y"));
        assert_eq!(normalize(Path::new("./m.hash")), PathBuf::from("m.hash"));
        assert_eq!(normalize(Path::new("/r/../s")), PathBuf::from("/s"));
    }

    #[test]
    fn mem_loader() {
        let l = MemLoader::new().with("dir/a.hash", "x := 1;");
        assert_eq!(
            l.load(Path::new("./dir/a.hash")).unwrap().as_deref(),
            Some("x := 1;")
        );
        assert_eq!(l.load(Path::new("dir/b.hash")).unwrap(), None);
    }
}
