//! Loading a program's modules: the root file, what it imports (transitively), the
//! prelude and the standard-library modules named in any of them; detecting import
//! cycles; ordering modules so that each comes after those it uses.
//!
//! Import resolution (LANGUAGE.md §5): `import("p")` in file `F` looks for `p.hash`
//! relative to `F`'s directory, then in each search directory (`-L`, then `HASH_PATH`),
//! then for a bundled standard-library module named `p`.
//!
//! A standard-library module is also loaded, without an import, when some file writes
//! its name followed by `.` (`list.map`), and the `map` module when some file mentions
//! the type `Map`. The prelude is always loaded.

use crate::ast;
use crate::diag::Diagnostic;
use crate::lexer::{self, Tok, P};
use crate::loader::{normalize, SourceLoader};
use crate::parser;
use crate::span::{FileId, SourceMap, Span};
use crate::tast::{ModuleId, ModuleKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Names of the standard-library modules usable by name without an import.
pub fn implicit_module_names() -> impl Iterator<Item = &'static str> {
    hashvm_stdlib::MODULES
        .iter()
        .copied()
        .filter(|m| *m != hashvm_stdlib::PRELUDE)
}

/// How an import item resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportTarget {
    /// The module.
    Module(ModuleId),
    /// Not found or part of a cycle (already reported): members are errors that need no
    /// further report.
    Broken,
}

/// One parsed source file.
#[derive(Debug)]
pub struct ParsedModule {
    /// Its id (index in [`Graph::modules`]).
    pub id: ModuleId,
    /// Display name.
    pub name: String,
    /// Path it was loaded from (or `<stdlib>/NAME.hash`).
    pub path: PathBuf,
    /// Its file in the source map.
    pub file: FileId,
    /// User file, stdlib module or prelude.
    pub kind: ModuleKind,
    /// The syntax tree.
    pub ast: ast::File,
    /// For each item that is an import, its resolution (by item index).
    pub imports: HashMap<usize, ImportTarget>,
    /// Standard-library modules named in the file (`list` in `list.map`), by name.
    pub implicit: Vec<(String, ModuleId)>,
    /// Every module this one depends on (imports, implicit modules, prelude, opened
    /// session modules).
    pub deps: Vec<ModuleId>,
    /// The lexer or the parser reported an error in this file: the checker then leaves
    /// out errors that are only echoes of one (a field of a value whose type is unknown
    /// because its expression did not parse).
    pub syntax_errors: bool,
    /// The earlier session modules whose top-level names this one sees unqualified,
    /// oldest first (a name is looked up newest first). Empty outside a session.
    pub opens: Vec<ModuleId>,
}

/// One piece of a live session (the REPL), given to [`load_session`] in order: the
/// earlier inputs and `:load`ed files, then the input being compiled (the root). Each
/// is a module of kind [`ModuleKind::Session`] that sees the top-level names of the
/// pieces before it, the later shadowing the earlier.
#[derive(Clone, Debug)]
pub struct SessionFile {
    /// Its path: imports in it resolve relative to its directory; messages name it.
    pub path: PathBuf,
    /// Its module key, unique in the session (symbols are `KEY::name`).
    pub key: String,
    /// Its text (as it was when given; a `:load`ed file may have changed since).
    pub text: String,
    /// How many bytes at the start of `text` are a wrapper the user did not type
    /// (`it :=\n` around an expression): [`crate::driver::render_session`] shows
    /// messages about the root piece against the rest, with lines and columns as typed.
    pub prefix: usize,
}

/// All modules of a program.
#[derive(Debug)]
pub struct Graph {
    /// The modules, indexed by [`ModuleId`].
    pub modules: Vec<ParsedModule>,
    /// Initialisation order: each module after those it depends on; the root last.
    pub order: Vec<ModuleId>,
    /// The root module.
    pub root: ModuleId,
    /// The prelude.
    pub prelude: ModuleId,
    /// The bundled modules loaded, by name (the prelude included).
    pub stdlib: HashMap<String, ModuleId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    File(PathBuf),
    Stdlib(String),
}

struct Loader<'a> {
    loader: &'a dyn SourceLoader,
    search: &'a [PathBuf],
    sources: &'a mut SourceMap,
    diags: &'a mut Vec<Diagnostic>,
    modules: Vec<ParsedModule>,
    by_key: HashMap<Key, ModuleId>,
    stdlib: HashMap<String, ModuleId>,
    /// Explicit import edges: (from, item index, span of the path, to).
    edges: Vec<(ModuleId, usize, Span, ModuleId)>,
    /// Modules whose imports and implicit names still have to be resolved.
    pending: Vec<(ModuleId, Vec<String>)>,
}

impl<'a> Loader<'a> {
    /// A loader with nothing loaded yet.
    fn new(
        loader: &'a dyn SourceLoader,
        search: &'a [PathBuf],
        sources: &'a mut SourceMap,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Loader<'a> {
        Loader {
            loader,
            search,
            sources,
            diags,
            modules: Vec::new(),
            by_key: HashMap::new(),
            stdlib: HashMap::new(),
            edges: Vec::new(),
            pending: Vec::new(),
        }
    }
}

/// Loads the program rooted at `root`. Errors (unreadable files, unknown imports,
/// cycles, syntax errors) go to `diags`; the graph is returned whenever the root
/// could be read.
pub fn load(
    root: &Path,
    loader: &dyn SourceLoader,
    search: &[PathBuf],
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Option<Graph> {
    let mut l = Loader::new(loader, search, sources, diags);
    let prelude = l.load_stdlib(hashvm_stdlib::PRELUDE)?;
    let root_id = l.load_root(root)?;
    Some(l.finish(root_id, prelude))
}

/// Loads a session: every piece of `files` as a module (see [`SessionFile`]), the last
/// one the root, with what they import. `None` when `files` is empty.
pub fn load_session(
    files: &[SessionFile],
    loader: &dyn SourceLoader,
    search: &[PathBuf],
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Option<Graph> {
    let mut l = Loader::new(loader, search, sources, diags);
    let prelude = l.load_stdlib(hashvm_stdlib::PRELUDE)?;
    let mut ids: Vec<ModuleId> = Vec::new();
    for f in files {
        let path = normalize(&f.path);
        let id = l.add(
            Key::File(path.clone()),
            f.path.display().to_string(),
            path,
            f.text.clone(),
            ModuleKind::Session(f.key.clone()),
        );
        l.modules[id.0 as usize].opens = ids.clone();
        ids.push(id);
    }
    let root_id = *ids.last()?;
    Some(l.finish(root_id, prelude))
}

impl<'a> Loader<'a> {
    /// Reads and adds the root file.
    fn load_root(&mut self, root: &Path) -> Option<ModuleId> {
        let l = self;
        let loader = l.loader;
        let root_path = normalize(root);
        let text = match loader.load(&root_path) {
            Ok(Some(t)) => t,
            Ok(None) => {
                l.diags.push(Diagnostic::error_nowhere(format!(
                    "cannot find the file `{}`",
                    root.display()
                )));
                return None;
            }
            Err(e) => {
                l.diags.push(Diagnostic::error_nowhere(format!(
                    "cannot read `{}`: {e}",
                    root.display()
                )));
                return None;
            }
        };
        Some(l.add(
            Key::File(root_path.clone()),
            root.display().to_string(),
            root_path,
            text,
            ModuleKind::User,
        ))
    }

    /// Resolves what the modules added so far import, and orders them.
    fn finish(mut self, root_id: ModuleId, prelude: ModuleId) -> Graph {
        let l = &mut self;
        while let Some((id, names)) = l.pending.pop() {
            l.resolve(id, names, prelude);
        }
        l.break_cycles();
        let order = l.order(root_id);
        let stdlib = l.stdlib.clone();
        Graph {
            modules: self.modules,
            order,
            root: root_id,
            prelude,
            stdlib,
        }
    }

    fn load_stdlib(&mut self, name: &str) -> Option<ModuleId> {
        if let Some(id) = self.stdlib.get(name) {
            return Some(*id);
        }
        let text = hashvm_stdlib::source(name)?;
        let display = format!("<stdlib>/{name}.hash");
        let kind = if name == hashvm_stdlib::PRELUDE {
            ModuleKind::Prelude
        } else {
            ModuleKind::Stdlib(name.to_string())
        };
        let id = self.add(
            Key::Stdlib(name.to_string()),
            display.clone(),
            PathBuf::from(display),
            text.to_string(),
            kind,
        );
        self.stdlib.insert(name.to_string(), id);
        Some(id)
    }

    fn add(
        &mut self,
        key: Key,
        name: String,
        path: PathBuf,
        text: String,
        kind: ModuleKind,
    ) -> ModuleId {
        let id = ModuleId(self.modules.len() as u32);
        self.by_key.insert(key, id);
        let file = self.sources.add(name.clone(), path.clone(), text);
        let src = self.sources.file(file).text.clone();
        let (toks, lex_diags) = lexer::lex(file, &src);
        // Standard-library modules named in the file: `name.` and the type `Map`.
        let mut names: Vec<String> = Vec::new();
        for w in toks.windows(2) {
            let Tok::Ident(n) = &w[0].tok else { continue };
            let wanted = if n == "Map" {
                Some("map")
            } else if matches!(w[1].tok, Tok::P(P::Dot)) {
                implicit_module_names().find(|m| m == n)
            } else {
                None
            };
            if let Some(m) = wanted {
                if !names.iter().any(|x| x == m) {
                    names.push(m.to_string());
                }
            }
        }
        let (ast, mut parse_diags) = parser::parse_file(file, toks);
        if let Some(cut) = lex_diags
            .iter()
            .filter(|d| crate::lexer::swallows_rest_of_file(d))
            .filter_map(|d| d.span.map(|s| s.lo))
            .min()
        {
            parse_diags.retain(|d| d.span.is_none_or(|s| s.lo < cut));
        }
        let syntax_errors = lex_diags.iter().chain(&parse_diags).any(|d| d.is_error());
        self.diags.extend(lex_diags);
        self.diags.extend(parse_diags);
        self.modules.push(ParsedModule {
            id,
            name,
            path,
            file,
            kind,
            ast,
            imports: HashMap::new(),
            implicit: Vec::new(),
            deps: Vec::new(),
            syntax_errors,
            opens: Vec::new(),
        });
        self.pending.push((id, names));
        id
    }

    /// Resolves the imports and implicit module names of module `id`, loading what they
    /// name.
    fn resolve(&mut self, id: ModuleId, names: Vec<String>, prelude: ModuleId) {
        let m = &self.modules[id.0 as usize];
        let kind = m.kind.clone();
        let dir = m.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let is_stdlib = !matches!(kind, ModuleKind::User | ModuleKind::Session(_));
        let imports: Vec<(usize, String, Span)> = m
            .ast
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| match &it.kind {
                ast::ItemKind::Import { path, path_span } => Some((i, path.clone(), *path_span)),
                _ => None,
            })
            .collect();
        let mut deps = Vec::new();
        if kind != ModuleKind::Prelude {
            deps.push(prelude);
        }
        for (idx, path, span) in imports {
            let target = self.find_import(&dir, &path, span, is_stdlib);
            if let ImportTarget::Module(t) = target {
                self.edges.push((id, idx, span, t));
                if !deps.contains(&t) {
                    deps.push(t);
                }
            }
            self.modules[id.0 as usize].imports.insert(idx, target);
        }
        let mut implicit = Vec::new();
        if kind != ModuleKind::Prelude {
            let own_name = match &kind {
                ModuleKind::Stdlib(n) => Some(n.clone()),
                _ => None,
            };
            for n in names {
                if own_name.as_deref() == Some(n.as_str()) {
                    continue;
                }
                if let Some(t) = self.load_stdlib(&n) {
                    implicit.push((n, t));
                    if !deps.contains(&t) {
                        deps.push(t);
                    }
                }
            }
        }
        let m = &mut self.modules[id.0 as usize];
        // The previous session piece only: it depends on the one before, and so on, so
        // the order is the same as with every opened module as a dependency, with
        // linearly many edges instead of quadratically many.
        if let Some(&o) = m.opens.last() {
            if !deps.contains(&o) {
                deps.push(o);
            }
        }
        m.implicit = implicit;
        m.deps = deps;
    }

    fn find_import(
        &mut self,
        dir: &Path,
        path: &str,
        span: Span,
        from_stdlib: bool,
    ) -> ImportTarget {
        if path.is_empty() {
            self.diags
                .push(Diagnostic::error(span, "the module path is empty"));
            return ImportTarget::Broken;
        }
        let file_name = format!("{path}.hash");
        let mut candidates: Vec<PathBuf> = Vec::new();
        if !from_stdlib {
            candidates.push(normalize(&dir.join(&file_name)));
        }
        for d in self.search {
            candidates.push(normalize(&d.join(&file_name)));
        }
        for c in &candidates {
            if let Some(id) = self.by_key.get(&Key::File(c.clone())) {
                return ImportTarget::Module(*id);
            }
            match self.loader.load(c) {
                Ok(Some(text)) => {
                    let id = self.add(
                        Key::File(c.clone()),
                        c.display().to_string(),
                        c.clone(),
                        text,
                        ModuleKind::User,
                    );
                    return ImportTarget::Module(id);
                }
                Ok(None) => {}
                Err(e) => {
                    self.diags.push(Diagnostic::error(
                        span,
                        format!("cannot read `{}`: {e}", c.display()),
                    ));
                    return ImportTarget::Broken;
                }
            }
        }
        if let Some(id) = self.load_stdlib(path) {
            return ImportTarget::Module(id);
        }
        let tried: Vec<String> = candidates
            .iter()
            .map(|c| format!("`{}`", c.display()))
            .collect();
        let mut d = Diagnostic::error(span, format!("cannot find the module `{path}`"))
            .with_label("no such module");
        d = d.with_help(if tried.is_empty() {
            "it is not a standard-library module either".to_string()
        } else {
            format!(
                "looked for {} and in the standard library",
                tried.join(", ")
            )
        });
        self.diags.push(d);
        ImportTarget::Broken
    }

    /// Finds cycles among explicit imports, reports each, and breaks it at the import
    /// that closes it.
    fn break_cycles(&mut self) {
        let n = self.modules.len();
        let mut adj: Vec<Vec<(usize, usize, Span, ModuleId)>> = vec![Vec::new(); n];
        for (ei, (from, _, span, to)) in self.edges.iter().enumerate() {
            adj[from.0 as usize].push((ei, 0, *span, *to));
        }
        // Iterative DFS with colours: 0 white, 1 on the stack, 2 done.
        let mut colour = vec![0u8; n];
        let mut broken: Vec<usize> = Vec::new();
        for start in 0..n {
            if colour[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            let mut path: Vec<(usize, Option<usize>)> = vec![(start, None)];
            colour[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if *next < adj[node].len() {
                    let (ei, _, _, to) = adj[node][*next];
                    *next += 1;
                    let to = to.0 as usize;
                    match colour[to] {
                        0 => {
                            colour[to] = 1;
                            stack.push((to, 0));
                            path.push((to, Some(ei)));
                        }
                        1 => {
                            // A cycle: from `to` along the path back to `node`, then `ei`.
                            broken.push(ei);
                            let pos = path.iter().position(|(m, _)| *m == to).unwrap_or(0);
                            let mut names: Vec<String> = path[pos..]
                                .iter()
                                .map(|(m, _)| self.modules[*m].name.clone())
                                .collect();
                            names.push(self.modules[to].name.clone());
                            let span = self.edges[ei].2;
                            self.diags.push(
                                Diagnostic::error(span, format!("cyclic import: {}", names.join(" -> ")))
                                    .with_label("this import closes the cycle")
                                    .with_help("modules may not import each other, directly or indirectly; move what both need into a third module"),
                            );
                        }
                        _ => {}
                    }
                } else {
                    colour[node] = 2;
                    stack.pop();
                    path.pop();
                }
            }
        }
        for ei in broken {
            let (from, idx, _, to) = self.edges[ei];
            let m = &mut self.modules[from.0 as usize];
            m.imports.insert(idx, ImportTarget::Broken);
            if !m.imports.values().any(|t| *t == ImportTarget::Module(to))
                && !m.implicit.iter().any(|(_, t)| *t == to)
            {
                m.deps.retain(|d| *d != to);
            }
        }
    }

    /// Post-order over dependencies from the prelude, then the root (so that every
    /// module comes after its dependencies). Ignores edges that would close a cycle.
    fn order(&self, root: ModuleId) -> Vec<ModuleId> {
        let n = self.modules.len();
        let mut state = vec![0u8; n];
        let mut out = Vec::new();
        let mut starts: Vec<ModuleId> = self
            .stdlib
            .get(hashvm_stdlib::PRELUDE)
            .copied()
            .into_iter()
            .collect();
        starts.push(root);
        for s in starts {
            if state[s.0 as usize] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(s.0 as usize, 0)];
            state[s.0 as usize] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let deps = &self.modules[node].deps;
                if *next < deps.len() {
                    let d = deps[*next].0 as usize;
                    *next += 1;
                    if state[d] == 0 {
                        state[d] = 1;
                        stack.push((d, 0));
                    }
                } else {
                    state[node] = 2;
                    out.push(ModuleId(node as u32));
                    stack.pop();
                }
            }
        }
        out
    }
}
