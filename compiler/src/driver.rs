//! The compiler driver: check a program, evaluate its `#run` expressions on the
//! embedded VM, generate one object per module, and link them.
//!
//! `#run` works in two phases. First every module is compiled with each `#run`
//! expression lifted into a function; those objects are linked into an evaluation
//! program, its initialisers run (top-level `#run` values are computed there, in source
//! order), then every other `#run` function is called. Each value is reified into an
//! encoded constant. Then the modules are compiled again, with each `#run` site loading
//! its constant; function numbering is identical in both phases (the lifted functions
//! stay, unused), so reified closures name the right functions. The linker's map
//! ([`link::link_mapped`], [`Vm::link_in`] in a session) says where each module's
//! functions, globals and types went in the evaluation program.

use crate::codegen::{self, module_key, RunSite, RunValues};
use crate::diag::Diagnostic;
use crate::span::Span;
use crate::tast::{ModuleId, TypedProgram};
use hashvm_format::{link, Module};
use hashvm_vm::reify::ReifyMap;
use hashvm_vm::{Config, Trap, Value, Vm};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Options of one compilation.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-L` directories (searched before `HASH_PATH` and the bundled library).
    pub search: Vec<PathBuf>,
    /// Raised from another thread (the REPL's Ctrl-C handler) to stop `#run` evaluation
    /// with "interrupted".
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Makes the JIT that `#run` evaluation runs with (the binaries attach the tracing
    /// JIT, as `hashvm run` does; the compiler itself does not depend on it).
    pub jit: Option<JitFactory>,
    /// Let `#run` evaluation load code that declares foreign (C) functions
    /// (`--allow-ffi`); refused otherwise, as `hashvm run` refuses it.
    pub allow_ffi: bool,
}

/// Makes a JIT for a new VM.
pub type JitFactory = fn() -> Box<dyn hashvm_vm::jit::JitHook>;

/// A successful compilation.
pub struct Compiled {
    /// The output: an executable (whole program) or a linkable object (`-c`).
    pub module: Module,
    /// Warnings to show.
    pub warnings: Vec<Diagnostic>,
    /// The checked program (for the REPL and tools).
    pub program: TypedProgram,
}

/// A failed compilation: diagnostics, and the source map to render them with.
pub struct Failure {
    /// The errors (and any warnings found before them).
    pub diagnostics: Vec<Diagnostic>,
    /// Rendered text, ready for standard error.
    pub rendered: String,
}

fn fail(prog: Option<&TypedProgram>, diagnostics: Vec<Diagnostic>) -> Failure {
    let rendered = crate::render_diagnostics(prog.map(|p| &p.sources), &diagnostics);
    Failure {
        diagnostics,
        rendered,
    }
}

fn error_at(span: Span, msg: String) -> Diagnostic {
    Diagnostic::error(span, msg)
}

/// The objects of every module of `prog`, keyed by [`module_key`], with `#run` values
/// computed.
pub fn compile_objects(
    prog: &TypedProgram,
) -> Result<HashMap<String, (ModuleId, Module)>, Vec<Diagnostic>> {
    compile_objects_with(prog, &Options::default())
}

/// [`compile_objects`] with options (the interrupt flag for `#run`).
pub fn compile_objects_with(
    prog: &TypedProgram,
    opts: &Options,
) -> Result<HashMap<String, (ModuleId, Module)>, Vec<Diagnostic>> {
    // Code generation recurses over expressions as the type checker does (nesting is
    // bounded by the parser's limits), so it runs on a thread with the front end's
    // large stack too, whatever the caller's stack (a 2 MiB test thread, an embedder).
    match crate::on_big_stack(|| compile_objects_inline(prog, opts)) {
        Some(Ok(r)) => r,
        Some(Err(_)) => Err(vec![Diagnostic::error_nowhere(
            "internal compiler error in code generation (please report it)",
        )]),
        None => compile_objects_inline(prog, opts),
    }
}

fn compile_objects_inline(
    prog: &TypedProgram,
    opts: &Options,
) -> Result<HashMap<String, (ModuleId, Module)>, Vec<Diagnostic>> {
    let cg_err = |es: Vec<codegen::CodegenError>| -> Vec<Diagnostic> {
        es.into_iter()
            .map(|e| error_at(e.span, e.message))
            .collect()
    };
    // Phase 1.
    let mut objects = HashMap::new();
    let mut sites: HashMap<ModuleId, Vec<RunSite>> = HashMap::new();
    for &m in &prog.modules {
        let (obj, runs) = codegen::compile_module(prog, m, None).map_err(cg_err)?;
        if !runs.is_empty() {
            sites.insert(m, runs);
        }
        objects.insert(module_key(prog.module(m)), (m, obj));
    }
    if sites.is_empty() {
        return Ok(objects);
    }
    // Phase 2: evaluate.
    let values = evaluate_runs(prog, &objects, &sites, opts)?;
    // Phase 3: final objects.
    let mut out = HashMap::new();
    for &m in &prog.modules {
        let rv = values.get(&m);
        let (obj, _) = codegen::compile_module(prog, m, rv).map_err(cg_err)?;
        out.insert(module_key(prog.module(m)), (m, obj));
    }
    Ok(out)
}

/// Links the root's object with the objects it needs (found among `objects`).
fn link_objects(
    prog: &TypedProgram,
    objects: &HashMap<String, (ModuleId, Module)>,
) -> Result<Module, Vec<Diagnostic>> {
    link_objects_mapped(prog, objects).map(|(m, _)| m)
}

/// [`link_objects`], also returning where each module's object went (its unit is
/// named by its module key).
fn link_objects_mapped(
    prog: &TypedProgram,
    objects: &HashMap<String, (ModuleId, Module)>,
) -> Result<(Module, link::LinkMap), Vec<Diagnostic>> {
    let root_key = module_key(prog.module(prog.root));
    let root = objects[&root_key].1.clone();
    let mut resolve = |name: &str| -> Result<Option<(String, Module)>, String> {
        Ok(objects
            .get(name)
            .map(|(_, m)| (name.to_string(), m.clone())))
    };
    link::link_mapped(&[(root_key.clone(), root)], &mut resolve).map_err(|errs| {
        errs.into_iter()
            .map(|e| {
                error_at(
                    prog.module(prog.root)
                        .items
                        .first()
                        .map(|i| i.span)
                        .unwrap_or_default(),
                    format!("link: {e}"),
                )
            })
            .collect()
    })
}

/// A copy of an object to evaluate `#run` sites with: its entry is dropped (the
/// evaluation calls initialisers and `#run` functions, not `main`).
fn for_eval(obj: &Module) -> Module {
    Module {
        entry: None,
        ..obj.clone()
    }
}

fn evaluate_runs(
    prog: &TypedProgram,
    objects: &HashMap<String, (ModuleId, Module)>,
    sites: &HashMap<ModuleId, Vec<RunSite>>,
    opts: &Options,
) -> Result<HashMap<ModuleId, RunValues>, Vec<Diagnostic>> {
    let for_eval: HashMap<String, (ModuleId, Module)> = objects
        .iter()
        .map(|(key, (m, obj))| (key.clone(), (*m, for_eval(obj))))
        .collect();
    // The link map says where each module's functions, globals and types went.
    let (linked, map) = link_objects_mapped(prog, &for_eval)?;
    let root_span = prog
        .module(prog.root)
        .items
        .first()
        .map(|i| i.span)
        .unwrap_or_default();
    // `#run` code is verified like any other before it runs.
    let verified = hashvm_format::verify::verify(&linked).map_err(|e| {
        vec![error_at(
            root_span,
            format!("internal error: #run code fails verification: {e}"),
        )]
    })?;
    let mut vm = Vm::new(Config {
        allow_ffi: opts.allow_ffi,
        ..Config::default()
    });
    vm.set_interrupt(opts.interrupt.clone());
    if let Some(make) = opts.jit {
        vm.set_jit(Some(make()));
    }
    vm.load(verified).map_err(|t| {
        vec![trap_diag(
            prog.module(prog.root)
                .items
                .first()
                .map(|i| i.span)
                .unwrap_or_default(),
            t,
        )]
    })?;
    // Initialisers (top-level values, top-level #run included), in link order.
    for &f in &linked.inits {
        if let Err(t) = vm.call(Value::func(f), &[]) {
            // Attribute the failure to the innermost #run site of the trace if we can.
            let span = sites
                .values()
                .flatten()
                .find(|s| s.item.is_some())
                .map(|s| s.span)
                .unwrap_or(root_span);
            vm.flush();
            return Err(vec![trap_diag(span, t)]);
        }
    }
    let mut out: HashMap<ModuleId, RunValues> = HashMap::new();
    let mut errors = Vec::new();
    let mut sorted: Vec<(&ModuleId, &Vec<RunSite>)> = sites.iter().collect();
    sorted.sort_by_key(|(m, _)| prog.modules.iter().position(|x| x == *m));
    for (m, list) in sorted {
        let key = module_key(prog.module(*m));
        let Some(unit) = map.unit(&key) else {
            errors.push(error_at(
                root_span,
                format!("internal error: module {key} is not in the link"),
            ));
            continue;
        };
        let rv = reify_sites(&mut vm, prog, *m, &objects[&key].1, unit, list, &mut errors);
        out.insert(*m, rv);
    }
    vm.flush();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(out)
}

/// Computes and reifies the values of module `m`'s `#run` `sites` on `vm`, where its
/// object `obj` is loaded (`unit` says where its functions, globals and types are in
/// the VM's numbering) and its initialisers have run. Errors go to `errors`.
fn reify_sites(
    vm: &mut Vm,
    prog: &TypedProgram,
    m: ModuleId,
    obj: &Module,
    unit: &link::UnitMap,
    list: &[RunSite],
    errors: &mut Vec<Diagnostic>,
) -> RunValues {
    // A type id of the running program -> the object's own type id for it.
    let local_types: HashMap<u32, u32> = unit
        .types
        .iter()
        .enumerate()
        .rev()
        .map(|(i, &t)| (t, i as u32))
        .collect();
    let mut rv = RunValues::default();
    for site in list {
        // A site that is a whole top-level initialiser was computed with it.
        let item = site
            .item
            .and_then(|item| item_global(obj, prog, m, item))
            .and_then(|g| unit.global(g));
        let value = match item {
            Some(g) => Ok(vm.global(g).unwrap_or(Value::UNIT)),
            None => match unit.function(site.func) {
                Some(f) => vm.call(Value::func(f), &[]),
                None => {
                    errors.push(error_at(
                        site.span,
                        "internal error: lost a #run site".into(),
                    ));
                    continue;
                }
            },
        };
        let value = match value {
            Ok(v) => v,
            Err(t) => {
                vm.flush();
                errors.push(trap_diag(site.span, t));
                continue;
            }
        };
        let func_map = |f: u32| {
            f.checked_sub(unit.first_function)
                .filter(|&l| l < unit.functions)
        };
        let ty_map = |t: u32| {
            let first = hashvm_format::FIRST_USER_TYPE;
            let local = local_types.get(&t.checked_sub(first)?)?;
            Some(first + local)
        };
        let map = ReifyMap {
            func: &func_map,
            ty: &ty_map,
            global_base: rv.shared.len() as u32,
        };
        match vm.reify(value, &map) {
            Ok(r) => {
                rv.shared.extend(r.shared);
                rv.values.insert(site.span, r.root);
            }
            Err(e) => errors.push(error_at(
                site.span,
                format!("the value of this #run cannot be stored: {e}"),
            )),
        }
    }
    rv
}

/// The global of item `item` of module `m` in its object (found by name: the code
/// generator names item globals after their items).
fn item_global(obj: &Module, prog: &TypedProgram, m: ModuleId, item: u32) -> Option<u32> {
    let name = &prog.module(m).items.get(item as usize)?.name;
    obj.globals
        .iter()
        .position(|g| &g.name == name)
        .map(|i| i as u32)
}

fn trap_diag(span: Span, t: Trap) -> Diagnostic {
    match t {
        Trap::Error(e) => error_at(span, format!("#run failed: {}", e.message)),
        Trap::Exit(c) => error_at(span, format!("#run called io.exit({c})")),
    }
}

/// The start of the root file: where a whole-program error points. Not the span of
/// the first item, which an empty file does not have (`Span::default()` is in the
/// prelude, the first file loaded).
fn root_start(prog: &TypedProgram) -> Span {
    let file = prog.module(prog.root).file;
    Span::new(file, 0, 0)
}

/// Compiles the program rooted at `root` into an executable.
pub fn compile_program(root: &Path, opts: &Options) -> Result<Compiled, Failure> {
    let (prog, warnings) =
        crate::check_path(root, &opts.search).map_err(|(p, d)| fail(p.as_ref(), d))?;
    let objects = compile_objects_with(&prog, opts).map_err(|d| fail(Some(&prog), d))?;
    if prog.main.is_none() {
        return Err(fail(
            Some(&prog),
            vec![error_at(
                root_start(&prog),
                "the program has no `main` function".into(),
            )
            .with_help(
                "a program starts at `main := () => { ... };` in the file given to the compiler",
            )],
        ));
    }
    let module = link_objects(&prog, &objects).map_err(|d| fail(Some(&prog), d))?;
    if let Err(e) = hashvm_format::verify::verify(&module) {
        return Err(fail(
            Some(&prog),
            vec![error_at(
                root_start(&prog),
                format!("internal error: generated code fails verification: {e}"),
            )],
        ));
    }
    Ok(Compiled {
        module,
        warnings,
        program: prog,
    })
}

/// Compiles only the root module into a linkable object (`hashc -c`).
pub fn compile_object(root: &Path, opts: &Options) -> Result<Compiled, Failure> {
    let (prog, warnings) =
        crate::check_path(root, &opts.search).map_err(|(p, d)| fail(p.as_ref(), d))?;
    let mut objects = compile_objects_with(&prog, opts).map_err(|d| fail(Some(&prog), d))?;
    let key = module_key(prog.module(prog.root));
    let module = objects.remove(&key).map(|(_, m)| m).unwrap_or_default();
    Ok(Compiled {
        module,
        warnings,
        program: prog,
    })
}

/// The object of a bundled standard-library module by its library name
/// (`std.list`, `std.prelude`, ...), compiled from the embedded sources on first use.
pub fn stdlib_object(name: &str) -> Option<Module> {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<Option<HashMap<String, Module>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(None));
    let mut guard = cache.lock().ok()?;
    if guard.is_none() {
        *guard = Some(build_stdlib().unwrap_or_default());
    }
    guard.as_ref()?.get(name).cloned()
}

/// Compiles every bundled module (through a synthetic root that imports them all).
fn build_stdlib() -> Option<HashMap<String, Module>> {
    let mut src = String::new();
    for m in hashvm_stdlib::MODULES {
        if *m != "prelude" {
            src.push_str(&format!("_m_{m} := import(\"{m}\");\n"));
        }
    }
    src.push_str("main := () => {};\n");
    let prog = crate::check_source("<stdlib>.hash", &src).ok()?;
    let objects = compile_objects(&prog).ok()?;
    Some(
        objects
            .into_iter()
            .filter(|(k, _)| k.starts_with("std."))
            .map(|(k, (_, m))| (k, m))
            .collect(),
    )
}

/// Renders diagnostics (warnings, usually) of a checked program for standard error.
pub fn render(prog: &TypedProgram, diags: &[Diagnostic]) -> String {
    crate::render_diagnostics(Some(&prog.sources), diags)
}

/// Compiles an in-memory program (the REPL, tests): `name` is the file name used in
/// messages and the module key (`repl.hash` exports `repl::NAME`); imports resolve
/// relative to the current directory, then the search path.
pub fn compile_source(name: &str, text: &str, opts: &Options) -> Result<Compiled, Failure> {
    let (prog, warnings) =
        crate::check_source_with(name, text, &opts.search).map_err(|(p, d)| fail(p.as_ref(), d))?;
    let objects = compile_objects_with(&prog, opts).map_err(|d| fail(Some(&prog), d))?;
    let module = link_objects(&prog, &objects).map_err(|d| fail(Some(&prog), d))?;
    Ok(Compiled {
        module,
        warnings,
        program: prog,
    })
}

/// The type of the root module's top-level item `name`, written in Hash syntax
/// (`i64`, `(i64) -> List<str>`), for the REPL's `:t` and `42 : i64` echo.
pub fn item_type(prog: &TypedProgram, name: &str) -> Option<String> {
    let m = prog.module(prog.root);
    let item = m.items.iter().find(|i| i.name == name)?;
    match &item.kind {
        crate::tast::TItemKind::Function { scheme, .. }
        | crate::tast::TItemKind::Value { scheme, .. } => Some(crate::show_type(prog, &scheme.ty)),
        _ => None,
    }
}

/// One input of a live session compiled against the earlier ones
/// ([`compile_session_input`]).
pub struct SessionInput {
    /// The input's object, named by its module key, then the objects of the modules
    /// it needs that the session has not loaded yet (in any order: they are libraries
    /// to the linker), each named by its module key.
    pub objects: Vec<(String, Module)>,
    /// Warnings about the input (and any module loaded for it).
    pub warnings: Vec<Diagnostic>,
    /// The checked session, the input its root module.
    pub program: TypedProgram,
}

/// Compiles the last of `files` (the new input of a live session) against the others:
/// earlier inputs, already loaded into the session's VM `vm`, whose names, types and
/// globals the input refers to by symbol (`KEY::name`). Only modules `vm` has not
/// loaded are generated, so nothing it holds is compiled again; link the result into
/// it with [`Vm::link_in`].
///
/// A `#run` in the input is evaluated in `vm` itself, against the live session: the
/// input's first-phase object is linked in under the key `#eval::KEY` (its symbols
/// renamed so), its initialisers run (as `hashc` runs a program's at compile time) and
/// each `#run` function called; the values are reified into the final object. (When
/// another new module, a user file the input imports, has `#run`s too, the whole
/// session is evaluated on a separate VM instead, as `hashc` would.)
pub fn compile_session_input(
    files: &[crate::modgraph::SessionFile],
    vm: &mut Vm,
    opts: &Options,
) -> Result<SessionInput, Failure> {
    let session_fail = |sources: &crate::SourceMap, diagnostics: Vec<Diagnostic>| Failure {
        rendered: render_session(sources, files, &diagnostics),
        diagnostics,
    };
    let (prog, warnings) = crate::check_session(files, &opts.search)
        .map_err(|r| session_fail(&r.sources, r.diagnostics))?;
    let cg_err = |es: Vec<codegen::CodegenError>| -> Vec<Diagnostic> {
        es.into_iter()
            .map(|e| error_at(e.span, e.message))
            .collect()
    };
    let root_key = module_key(prog.module(prog.root));
    let wanted: Vec<ModuleId> = prog
        .modules
        .iter()
        .copied()
        .filter(|&m| {
            let k = module_key(prog.module(m));
            k == root_key || !vm.has_library(&k)
        })
        .collect();
    let mut objects: Vec<(String, Module)> = Vec::new();
    let mut sites: Vec<(ModuleId, Vec<RunSite>)> = Vec::new();
    for &m in &wanted {
        let (obj, runs) = codegen::compile_module(&prog, m, None)
            .map_err(|e| session_fail(&prog.sources, cg_err(e)))?;
        if !runs.is_empty() {
            sites.push((m, runs));
        }
        objects.push((module_key(prog.module(m)), obj));
    }
    match sites.as_slice() {
        [] => {}
        [(m, runs)] if *m == prog.root => {
            let rv = evaluate_runs_live(&prog, &root_key, &objects, runs, vm)
                .map_err(|d| session_fail(&prog.sources, d))?;
            let (obj, _) = codegen::compile_module(&prog, prog.root, Some(&rv))
                .map_err(|e| session_fail(&prog.sources, cg_err(e)))?;
            if let Some(o) = objects.iter_mut().find(|(k, _)| *k == root_key) {
                o.1 = obj;
            }
        }
        _ => {
            let mut all =
                compile_objects_with(&prog, opts).map_err(|d| session_fail(&prog.sources, d))?;
            for (k, obj) in objects.iter_mut() {
                if let Some((_, m)) = all.remove(k.as_str()) {
                    *obj = m;
                }
            }
        }
    }
    // The root first.
    if let Some(k) = objects.iter().position(|(k, _)| *k == root_key) {
        let root = objects.remove(k);
        objects.insert(0, root);
    }
    Ok(SessionInput {
        objects,
        warnings,
        program: prog,
    })
}

/// Evaluates the `#run` sites `runs` of a session input (module key `key`, first-phase
/// objects `objects`: the input's and those of the new modules it needs) in the
/// session's VM. See [`compile_session_input`].
fn evaluate_runs_live(
    prog: &TypedProgram,
    key: &str,
    objects: &[(String, Module)],
    runs: &[RunSite],
    vm: &mut Vm,
) -> Result<RunValues, Vec<Diagnostic>> {
    const PREFIX: &str = "#eval::";
    let root_span = prog
        .module(prog.root)
        .items
        .first()
        .map(|i| i.span)
        .unwrap_or_default();
    let Some((_, obj)) = objects.iter().find(|(k, _)| k == key) else {
        return Err(vec![error_at(
            root_span,
            "internal error: lost the input's object".into(),
        )]);
    };
    // Renamed, its symbols do not clash with the final object's.
    let mut eval_obj = for_eval(obj);
    for e in &mut eval_obj.exports {
        e.name = format!("{PREFIX}{}", e.name);
    }
    let unit_name = format!("{PREFIX}{key}");
    let libs: HashMap<&str, &Module> = objects
        .iter()
        .filter(|(k, _)| k != key)
        .map(|(k, m)| (k.as_str(), m))
        .collect();
    let mut resolve = |name: &str| -> Result<Option<(String, Module)>, String> {
        Ok(libs.get(name).map(|m| (name.to_string(), (*m).clone())))
    };
    let linked = vm
        .link_in(&[(unit_name.clone(), eval_obj)], &mut resolve)
        .map_err(|e| {
            vec![error_at(
                root_span,
                format!("internal error: loading the code of #run: {e}"),
            )]
        })?;
    for &f in &linked.inits {
        if let Err(t) = vm.call(Value::func(f), &[]) {
            vm.flush();
            let span = runs
                .iter()
                .find(|s| s.item.is_some())
                .map(|s| s.span)
                .unwrap_or(root_span);
            return Err(vec![trap_diag(span, t)]);
        }
    }
    let Some(unit) = linked.map.unit(&unit_name) else {
        return Err(vec![error_at(
            root_span,
            "internal error: the input's object is not in the link".into(),
        )]);
    };
    let mut errors = Vec::new();
    let rv = reify_sites(vm, prog, prog.root, obj, unit, runs, &mut errors);
    vm.flush();
    if errors.is_empty() {
        Ok(rv)
    } else {
        Err(errors)
    }
}

/// Renders diagnostics of a session compilation ([`compile_session_input`],
/// [`crate::check_session`]): those about the root piece (the last of `files`) are
/// shown against its text without its [`SessionFile::prefix`], so that lines,
/// columns and the quoted source are as the user typed them. The root's file is the
/// last one read from its path (pieces are read in order, before any import).
///
/// [`SessionFile::prefix`]: crate::modgraph::SessionFile::prefix
pub fn render_session(
    sources: &crate::SourceMap,
    files: &[crate::modgraph::SessionFile],
    diags: &[Diagnostic],
) -> String {
    let Some(root) = files
        .last()
        .filter(|f| f.prefix > 0 && f.prefix <= f.text.len())
    else {
        return crate::render_diagnostics(Some(sources), diags);
    };
    let path = crate::loader::normalize(&root.path);
    let Some(k) = sources.files.iter().rposition(|f| f.path == path) else {
        return crate::render_diagnostics(Some(sources), diags);
    };
    let mut map = sources.clone();
    let f = &sources.files[k];
    map.files[k] = crate::span::SourceFile::new(
        f.name.clone(),
        f.path.clone(),
        root.text[root.prefix..].to_string(),
    );
    let id = crate::span::FileId(k as u32);
    let cut = root.prefix as u32;
    let shift = |s: &mut Option<Span>| {
        if let Some(sp) = s.as_mut() {
            if sp.file == id {
                sp.lo = sp.lo.saturating_sub(cut);
                sp.hi = sp.hi.saturating_sub(cut);
            }
        }
    };
    let mut diags = diags.to_vec();
    for d in &mut diags {
        shift(&mut d.span);
        for n in &mut d.notes {
            shift(&mut n.span);
        }
    }
    crate::render_diagnostics(Some(&map), &diags)
}
