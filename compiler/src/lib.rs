//! hashc's front end: the Hash language compiler from source text to a typed, resolved
//! program ([`tast::TypedProgram`]) that the code generator lowers to bytecode.
//!
//! The pipeline:
//!
//! 1. [`modgraph::load`] reads the root file through a [`SourceLoader`], lexes
//!    ([`lexer`]) and parses ([`parser`]) it, then everything it imports and the
//!    standard-library modules it names (from the `hashvm-stdlib` crate), reporting
//!    import cycles.
//! 2. [`check`] resolves names and infers types (Hindley–Milner with
//!    let-polymorphism), module by module in dependency order.
//! 3. [`exhaust`] checks matches for exhaustiveness and unreachable arms.
//!
//! Entry point: [`check_program`]. Diagnostics render with [`render_diagnostics`] or
//! [`diag::Diagnostic::render`].
//!
//! # Choices where the language contract is silent
//!
//! - **Generic function annotations** (extension): `id := <T> => (x: T) -> T => x;`
//!   names type variables for the annotations of one lambda. They are ordinary
//!   inference variables (as `'a` in OCaml annotations), not rigid ones; `_` in an
//!   annotation is a fresh variable too. The standard library uses both to type
//!   `#op(...)` results.
//! - **Let-polymorphism uses the value restriction**: a binding is generalised only if
//!   it is immutable and its value is a syntactic value (a literal, a name, a lambda, a
//!   tuple/list/enum constructor of values). `cell := array.make(1, [])` stays
//!   monomorphic, as in OCaml. Numeric operators on a variable that is still open
//!   when its binding is generalised make it `i64`.
//! - **Recursion**: every top-level name is visible in the whole file; a local is
//!   visible in its own value only when that value is a lambda (`fact := (n) => ...
//!   fact(n - 1)`), otherwise `x := x + 1` refers to the previous `x`.
//! - **Initialisation order**: a top-level value may not use (outside a lambda) a
//!   value declared later in the file, or itself; functions may be used anywhere.
//! - **Name lookup** in expressions: locals, then the file's top-level names, then the
//!   prelude, then the standard modules by name, then constructors. A constructor may
//!   be written unqualified when exactly one type of the file has it (the file's types
//!   win over `Option`/`Result`/`List`); otherwise it must be qualified.
//! - **Field access** `p.x` needs the type of `p` to be known by then, or only one
//!   struct to have a field `x`; tuple fields `t.0` need the tuple type known. Struct
//!   (and tuple) fields can be assigned; enum fields cannot.
//! - **`if` without `else`** has type `()`, so its block must too; a `loop` that no
//!   `break` leaves has any type (it never produces a value), like `return`, `break`,
//!   `continue`, `panic(...)` and `io.exit(...)`.
//! - **Statements**: an expression statement that ends with a block (`if`, `match`,
//!   `while`, `for`, `loop`, `{}`) needs no `;`, as in Rust. `(x,)` is a one-element
//!   tuple. Compound assignment also exists for `&= |= ^= <<= >>=`.
//! - **`#run e`** binds like a prefix operator (`#run f(x) + 1` is `(#run f(x)) + 1`)
//!   and may not use locals bound outside it.
//! - **Nesting** is limited ([`parser::MAX_DEPTH`] levels, [`parser::MAX_CHAIN`]
//!   links in an operator chain); deeper input is an error, not a crash.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod ast;
pub mod check;
pub mod codegen;
pub mod diag;
pub mod driver;
pub mod exhaust;
pub mod lexer;
pub mod loader;
pub mod modgraph;
pub mod parser;
pub mod span;
pub mod tast;
pub mod types;

pub use diag::{Diagnostic, Severity};
pub use loader::{FsLoader, MemLoader, SourceLoader};
pub use span::{SourceMap, Span};
pub use tast::TypedProgram;

use std::path::{Path, PathBuf};

/// Why a program was rejected: every diagnostic (errors and warnings, in the order
/// found) and the sources to render them against.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// The diagnostics; at least one is an error.
    pub diagnostics: Vec<Diagnostic>,
    /// The files that were read (possibly none).
    pub sources: SourceMap,
}

impl Rejected {
    /// All diagnostics rendered for a terminal (`file:line:col: error: ...`).
    pub fn render(&self) -> String {
        render_diagnostics(Some(&self.sources), &self.diagnostics)
    }
}

/// Renders diagnostics against the source files they point into (without sources,
/// only the `error: message` lines can be shown).
pub fn render_diagnostics(sources: Option<&SourceMap>, diags: &[Diagnostic]) -> String {
    match sources {
        Some(s) => diag::render_all(diags, s),
        None => diag::render_all(diags, &SourceMap::new()),
    }
}

/// Prints a type in Hash syntax (`List<i64>`, `(i64, str) -> bool`), naming type
/// variables `a`, `b`, ...
pub fn show_type(prog: &TypedProgram, ty: &types::Type) -> String {
    types::TypePrinter::new().print(ty, &prog.adts)
}

/// A failed check in the shape the driver uses: a program value that carries only the
/// sources (no modules), so that the diagnostics can be rendered, and the diagnostics.
pub type CheckFailure = (Option<TypedProgram>, Vec<Diagnostic>);

fn to_failure(r: Rejected) -> CheckFailure {
    (Some(TypedProgram::sources_only(r.sources)), r.diagnostics)
}

/// [`check_program`] through the file system ([`FsLoader`]), with `search` as the `-L`
/// directories (then `HASH_PATH`). On failure the returned program, if any, only
/// carries the sources for rendering (see [`TypedProgram::sources_only`]).
#[allow(clippy::result_large_err)]
pub fn check_path(
    root: &Path,
    search: &[PathBuf],
) -> Result<(TypedProgram, Vec<Diagnostic>), CheckFailure> {
    check_program(root, &FsLoader, search).map_err(to_failure)
}

/// Checks the in-memory text `text` as the file `name`, imports resolving relative to
/// `name` on the file system, then in `search`, `HASH_PATH` and the standard library.
#[allow(clippy::result_large_err)]
pub fn check_source_with(
    name: &str,
    text: &str,
    search: &[PathBuf],
) -> Result<(TypedProgram, Vec<Diagnostic>), CheckFailure> {
    let ov = Overlay {
        name: loader::normalize(Path::new(name)),
        text,
    };
    check_program(Path::new(name), &ov, search).map_err(to_failure)
}

/// A loader that serves one in-memory file and reads the others from disk.
struct Overlay<'a> {
    name: PathBuf,
    text: &'a str,
}

impl SourceLoader for Overlay<'_> {
    fn load(&self, path: &Path) -> Result<Option<String>, String> {
        if loader::normalize(path) == self.name {
            return Ok(Some(self.text.to_string()));
        }
        FsLoader.load(path)
    }
}

/// Stack size of the thread the front end runs on: deeply nested programs recurse
/// deeply (nesting is bounded by [`parser::MAX_DEPTH`], so this is ample).
const STACK_SIZE: usize = 256 << 20;

/// Runs `f` on a scoped thread with a [`STACK_SIZE`] stack: `None` when the thread
/// cannot be started (the caller then runs `f` itself), `Some(Err(_))` when `f`
/// panicked.
pub(crate) fn on_big_stack<R: Send>(
    f: impl FnOnce() -> R + Send,
) -> Option<std::thread::Result<R>> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("hashc-big-stack".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(s, f)
            .ok()
            .map(|h| h.join())
    })
}

/// Checks the program whose main file is `root`.
///
/// Imports are resolved relative to the importing file, then in each directory of
/// `search` (the `-L` directories), then in each directory of the `HASH_PATH`
/// environment variable, then in the bundled standard library (LANGUAGE.md §5). Use
/// [`check_program_with_paths`] to leave `HASH_PATH` out.
///
/// On success returns the typed program and the warnings (render them with
/// [`render_diagnostics`] against `program.sources`); on failure every diagnostic,
/// with the sources to render them.
pub fn check_program(
    root: &Path,
    loader: &dyn SourceLoader,
    search: &[PathBuf],
) -> Result<(TypedProgram, Vec<Diagnostic>), Rejected> {
    let mut dirs = search.to_vec();
    dirs.extend(loader::hash_path_from_env());
    check_program_with_paths(root, loader, &dirs)
}

/// [`check_program`] with exactly the search directories given (no `HASH_PATH`).
pub fn check_program_with_paths(
    root: &Path,
    loader: &dyn SourceLoader,
    search: &[PathBuf],
) -> Result<(TypedProgram, Vec<Diagnostic>), Rejected> {
    on_front_end_stack(|| check_inline(root, loader, search))
}

/// Runs a front-end pass on a thread with a large stack (falling back to this thread
/// if one cannot be made); a panic in it, a compiler bug, becomes an internal error
/// instead of crashing the caller.
fn on_front_end_stack<F>(run: F) -> Result<(TypedProgram, Vec<Diagnostic>), Rejected>
where
    F: Fn() -> Result<(TypedProgram, Vec<Diagnostic>), Rejected> + Send + Sync,
{
    let result = std::thread::scope(|s| {
        match std::thread::Builder::new()
            .name("hashc-front".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(s, &run)
        {
            Ok(h) => Some(h.join()),
            Err(_) => None,
        }
    });
    match result {
        Some(Ok(r)) => r,
        Some(Err(_)) => Err(Rejected {
            diagnostics: vec![Diagnostic::error_nowhere(
                "internal compiler error in the front end (please report it)",
            )],
            sources: SourceMap::new(),
        }),
        None => run(),
    }
}

/// Checks one source text given in memory as the file `name` (imports are looked up
/// next to `name` through the file system, then in the standard library; `HASH_PATH`
/// is not used). Returns the program; warnings are dropped (use
/// [`check_source_with`] to get them).
pub fn check_source(name: &str, text: &str) -> Result<TypedProgram, Rejected> {
    let ov = Overlay {
        name: loader::normalize(Path::new(name)),
        text,
    };
    check_program_with_paths(Path::new(name), &ov, &[]).map(|(p, _)| p)
}

/// Checks a live session's pieces (see [`modgraph::SessionFile`]): the last is the
/// input being compiled, the others earlier inputs whose names it sees. Imports resolve
/// on the file system, then in `search`, `HASH_PATH` and the standard library.
pub fn check_session(
    files: &[modgraph::SessionFile],
    search: &[PathBuf],
) -> Result<(TypedProgram, Vec<Diagnostic>), Rejected> {
    let mut dirs = search.to_vec();
    dirs.extend(loader::hash_path_from_env());
    on_front_end_stack(|| {
        check_graph(|sources, diags| {
            modgraph::load_session(files, &FsLoader, &dirs, sources, diags)
        })
    })
}

fn check_inline(
    root: &Path,
    loader: &dyn SourceLoader,
    search: &[PathBuf],
) -> Result<(TypedProgram, Vec<Diagnostic>), Rejected> {
    check_graph(|sources, diags| modgraph::load(root, loader, search, sources, diags))
}

/// Loads the modules with `load`, then checks them.
fn check_graph(
    load: impl FnOnce(&mut SourceMap, &mut Vec<Diagnostic>) -> Option<modgraph::Graph>,
) -> Result<(TypedProgram, Vec<Diagnostic>), Rejected> {
    let mut sources = SourceMap::new();
    let mut diags = Vec::new();
    let graph = load(&mut sources, &mut diags);
    let Some(graph) = graph else {
        return Err(Rejected {
            diagnostics: diags,
            sources,
        });
    };
    let (prog, cdiags) = check::check(&graph, &sources);
    diags.extend(cdiags);
    // Report in source order (files in load order), whatever order the passes found
    // things in; a stable sort keeps related messages at one place together.
    diags.sort_by_key(|d| d.span.map(|s| (s.file.0, s.lo)).unwrap_or((u32::MAX, 0)));
    match prog {
        Some(p) if !diags.iter().any(|d| d.is_error()) => Ok((p, diags)),
        _ => {
            if !diags.iter().any(|d| d.is_error()) {
                diags.push(Diagnostic::error_nowhere(
                    "the program could not be checked",
                ));
            }
            Err(Rejected {
                diagnostics: diags,
                sources,
            })
        }
    }
}
