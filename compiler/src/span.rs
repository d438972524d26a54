//! Source files and positions.
//!
//! Every token, AST node, typed-AST node and diagnostic carries a [`Span`]: the file it
//! came from and a byte range in that file's text. The [`SourceMap`] owns the texts and
//! turns byte offsets into the 1-based `line:col` pairs that diagnostics and the code
//! generator's line tables need.

use std::path::{Path, PathBuf};

/// Identifies one source file of a compilation: an index into [`SourceMap::files`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range `lo..hi` in one source file. Spans are small and `Copy` so that every
/// node can carry one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file the range is in.
    pub file: FileId,
    /// First byte of the range.
    pub lo: u32,
    /// One past the last byte of the range (`hi == lo` for an empty range, e.g. at the
    /// end of a file).
    pub hi: u32,
}

impl Span {
    /// A span from `lo` to `hi` in `file`.
    pub fn new(file: FileId, lo: u32, hi: u32) -> Span {
        Span { file, lo, hi }
    }

    /// The smallest span covering both `self` and `other` (which must be in the same
    /// file; if they are not, `self` is returned).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span {
            file: self.file,
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }

    /// An empty span at the start of `self`.
    pub fn start(self) -> Span {
        Span {
            file: self.file,
            lo: self.lo,
            hi: self.lo,
        }
    }
}

/// One source file: its name as shown to users, the path it was read from, and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name printed in diagnostics (the path as the user or the import spelled it,
    /// or `<stdlib>/NAME.hash` for the bundled standard library).
    pub name: String,
    /// The path the file was loaded from (for the bundled standard library, a path
    /// under the pseudo directory `<stdlib>`).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// Byte offset of the start of each line (the first is 0).
    line_starts: Vec<u32>,
}

impl SourceFile {
    /// Makes a file record, indexing its line starts.
    pub fn new(name: String, path: PathBuf, text: String) -> SourceFile {
        let mut line_starts = vec![0u32];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i as u32 + 1);
            }
        }
        SourceFile {
            name,
            path,
            text,
            line_starts,
        }
    }

    /// The 1-based line and 1-based column (counted in chars) of byte `offset`.
    /// Offsets past the end are clamped to the end.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let offset = offset.min(self.text.len() as u32);
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let mut end = offset as usize;
        while end > start && !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col = self.text[start..end].chars().count() as u32 + 1;
        (line as u32 + 1, col)
    }

    /// The text of 1-based line `line`, without its line terminator.
    pub fn line_text(&self, line: u32) -> &str {
        let idx = (line.max(1) - 1) as usize;
        let Some(&start) = self.line_starts.get(idx) else {
            return "";
        };
        let end = self
            .line_starts
            .get(idx + 1)
            .map(|&e| e as usize)
            .unwrap_or(self.text.len());
        self.text[start as usize..end].trim_end_matches(['\n', '\r'])
    }

    /// Number of lines (a file with no newline has one line).
    pub fn line_count(&self) -> u32 {
        self.line_starts.len() as u32
    }
}

/// All source files of one compilation, indexed by [`FileId`]. Diagnostics are rendered
/// against it, and the code generator uses it to turn spans into line numbers.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    /// The files, in the order they were added.
    pub files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: String, path: PathBuf, text: String) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile::new(name, path, text));
        id
    }

    /// The file with id `id`. Panics only if `id` did not come from this map.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The file with id `id`, if it exists.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// Finds a file by the path it was loaded from.
    pub fn find_path(&self, path: &Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .map(|i| FileId(i as u32))
    }

    /// The 1-based `(line, col)` of the start of `span`; `(0, 0)` for an unknown file.
    pub fn line_col(&self, span: Span) -> (u32, u32) {
        match self.get(span.file) {
            Some(f) => f.line_col(span.lo),
            None => (0, 0),
        }
    }

    /// The display name of `span`'s file.
    pub fn name(&self, span: Span) -> &str {
        self.get(span.file)
            .map(|f| f.name.as_str())
            .unwrap_or("<unknown>")
    }

    /// The source text covered by `span` (empty if out of range).
    pub fn snippet(&self, span: Span) -> &str {
        let Some(f) = self.get(span.file) else {
            return "";
        };
        f.text.get(span.lo as usize..span.hi as usize).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let f = SourceFile::new("a".into(), "a".into(), "ab\né x\n\nlast".into());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(1), (1, 2));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(6), (2, 3)); // after 'é' (2 bytes) and ' '
        assert_eq!(f.line_col(9), (4, 1));
        assert_eq!(f.line_col(1000), (4, 5));
        assert_eq!(f.line_text(2), "é x");
        assert_eq!(f.line_text(3), "");
        assert_eq!(f.line_text(9), "");
    }
}
