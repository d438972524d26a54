//! The REPL's state and evaluation: one live VM per session, and the pieces of source
//! compiled into it so far.
//!
//! Each input is compiled on its own, as a module of the session
//! ([`hashvm_compiler::modgraph::SessionFile`], key `repl-N`), against the earlier
//! ones: it sees their top-level names (the newest of a name first), types and
//! globals, and refers to them by symbol. Its object (and those of standard or user
//! modules it needs that are not loaded yet) is linked into the running VM
//! ([`Vm::link_in`], which verifies it) and its initialiser run once. So a top-level
//! value is computed once and lives on: later inputs see its value, mutations of it,
//! open files, the random state.
//!
//! - Consecutive declarations of one input form one module (they may refer to each
//!   other: mutual recursion); `:load FILE` makes the file one module, so that its
//!   errors point at its own lines.
//! - A declaration of a name already declared is a new binding that shadows the old
//!   one for later inputs; earlier definitions keep referring to the old one (as in
//!   ghci).
//! - An expression `e` is compiled as a module `it := e;`, run, and `it`'s global read
//!   and shown; the module is not kept in scope.
//! - An input with an error (at compile time, or a runtime error in its initialiser)
//!   is not kept: its names never come into scope. (Code it loaded stays in the VM,
//!   unreachable; a standard module it loaded stays loaded.)

use crate::command::Command;
use crate::scan::{self, Piece};
use hashvm_compiler::driver::{self, Options, SessionInput};
use hashvm_compiler::modgraph::SessionFile;
use hashvm_compiler::tast::{ModuleKind, TItemKind, TypedProgram};
use hashvm_compiler::Severity;
use hashvm_format::ExportTarget;
use hashvm_vm::{Config, Trap, Value, Vm};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The file name messages give an input (`repl.hash:1:5: error: ...`); its module key
/// is `repl-N`, unique in the session.
pub const FILE: &str = "repl.hash";

/// One name in scope: the newest declaration of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Def {
    /// The declared name.
    pub name: String,
    /// What it is, as `:defs` shows it: a type (`(i64) -> i64`), `type` or `module`.
    pub ty: String,
    /// The module key of the session piece that declared it (`repl-3`).
    pub key: String,
}

/// Something for the user to read, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A result (`42 : i64`, `f : (i64) -> i64`): standard output.
    Out(String),
    /// An error or a warning, already rendered: standard error.
    Err(String),
}

/// What the REPL should do after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Read the next input.
    Continue,
    /// Leave with this exit status (`:quit`, or the program called `io.exit`).
    Exit(i32),
}

/// A `Write` into a shared buffer: lets tests capture what programs print.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Takes what was written so far.
    pub fn take(&self) -> String {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&std::mem::take(&mut *g)).into_owned()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process's stdout, noting whether what was written last ends a line.
struct LineEnd {
    inner: std::io::Stdout,
    open: Arc<AtomicBool>,
}

impl Write for LineEnd {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(&last) = buf[..n].last() {
            self.open.store(last != b'\n', Ordering::SeqCst);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The REPL session: the live VM, the pieces compiled into it, the names in scope.
pub struct Session {
    vm: Vm,
    /// The pieces kept so far (declarations and loaded files), oldest first.
    files: Vec<SessionFile>,
    /// The names in scope, in the order they were (last) declared.
    defs: Vec<Def>,
    /// Inputs compiled so far (numbers module keys).
    count: usize,
    /// Texts of the user files (imports) loaded into the VM, by module key.
    user_modules: HashMap<String, String>,
    /// The file of the last `:load`, for `:reload`.
    last_load: Option<String>,
    /// Directories of `:load`ed files (their imports resolve there), then `HASH_PATH`.
    search: Vec<PathBuf>,
    base_search: Vec<PathBuf>,
    /// Set by the Ctrl-C handler while a program runs.
    pub interrupt: Arc<AtomicBool>,
    /// Where programs' standard output goes; `None` is the process's stdout.
    pub output: Option<SharedBuf>,
    /// Whether the program's output on stdout so far ends in the middle of a line.
    open_line: Arc<AtomicBool>,
    /// Makes the JIT the session's VM and `#run` run with (attached by the binary).
    jit: Option<hashvm_compiler::driver::JitFactory>,
    /// Whether inputs may declare foreign (C) functions (`hashvm repl --allow-ffi`).
    allow_ffi: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

enum Failed {
    /// Messages already rendered.
    Msgs(Vec<Msg>),
    /// The program called `io.exit(code)`.
    Exit(i32),
}

/// A piece compiled, linked and run: its checked program (for types).
struct Ran {
    program: TypedProgram,
    key: String,
}

impl Session {
    /// An empty session; imports resolve relative to the current directory, then in
    /// `HASH_PATH`, then in the bundled standard library.
    pub fn new() -> Session {
        Session::with_jit(None)
    }

    /// An empty session whose VM (and `#run` evaluation) runs with the JIT `jit` makes.
    pub fn with_jit(jit: Option<hashvm_compiler::driver::JitFactory>) -> Session {
        let mut base = Vec::new();
        if let Some(p) = std::env::var_os("HASH_PATH") {
            base.extend(std::env::split_paths(&p).filter(|p| !p.as_os_str().is_empty()));
        }
        let interrupt = Arc::new(AtomicBool::new(false));
        let open_line = Arc::new(AtomicBool::new(false));
        let mut vm = Self::new_vm(&interrupt, &open_line);
        if let Some(make) = jit {
            vm.set_jit(Some(make()));
        }
        Session {
            vm,
            jit,
            files: Vec::new(),
            defs: Vec::new(),
            count: 0,
            user_modules: HashMap::new(),
            last_load: None,
            search: base.clone(),
            base_search: base,
            interrupt,
            output: None,
            open_line,
            allow_ffi: false,
        }
    }

    /// Lets the session's inputs (and their `#run` code) declare and call foreign (C)
    /// functions, which are refused otherwise (`hashvm repl --allow-ffi`).
    pub fn set_allow_ffi(&mut self, yes: bool) {
        self.allow_ffi = yes;
        self.vm.set_allow_ffi(yes);
    }

    /// A VM for the session, its output on the process's stdout (until
    /// [`Session::output`] redirects it) and reading the process's stdin.
    fn new_vm(interrupt: &Arc<AtomicBool>, open_line: &Arc<AtomicBool>) -> Vm {
        // `HASHVM_GC_STRESS=1` applies here too (through `Config::default`).
        let mut vm = Vm::new(Config::default());
        vm.set_output(Box::new(LineEnd {
            inner: std::io::stdout(),
            open: open_line.clone(),
        }));
        // Programs read standard input through the process-wide buffer of `Stdin`
        // (one byte at a time into the VM's own reader) so that they take only what
        // they ask for: the rest stays for the REPL's next inputs (piped input).
        vm.set_stdin(std::io::BufReader::with_capacity(1, std::io::stdin()));
        vm.set_interrupt(Some(interrupt.clone()));
        vm
    }

    /// Whether the last program left its output in the middle of a line (`print("a")`),
    /// and forgets it: the REPL then ends that line, or the prompt's redraw (which
    /// starts by clearing the line) would erase it.
    pub fn take_open_line(&self) -> bool {
        self.open_line.swap(false, Ordering::SeqCst)
    }

    /// The names in scope, in the order they were declared.
    pub fn defs(&self) -> &[Def] {
        &self.defs
    }

    /// The names in scope (for completion).
    pub fn names(&self) -> Vec<String> {
        self.defs.iter().map(|d| d.name.clone()).collect()
    }

    /// Runs one complete input (a `:` command or Hash source).
    pub fn run(&mut self, input: &str) -> (Vec<Msg>, Next) {
        // The compiler and the VM are not ours to vouch for: a panic in either must not
        // end the session. The VM may be left mid-call by one: it is replaced (the
        // session's values are lost then; the message says so).
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_inner(input)));
        match r {
            Ok(x) => x,
            Err(p) => {
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                self.reset();
                (
                    vec![Msg::Err(format!(
                        "error: internal error (a panic: {what}); the session was reset\n"
                    ))],
                    Next::Continue,
                )
            }
        }
    }

    fn reset(&mut self) {
        self.vm = Self::new_vm(&self.interrupt, &self.open_line);
        self.vm.set_allow_ffi(self.allow_ffi);
        if let Some(make) = self.jit {
            self.vm.set_jit(Some(make()));
        }
        if let Some(out) = &self.output {
            self.vm.set_output(Box::new(out.clone()));
        }
        self.files.clear();
        self.defs.clear();
        self.user_modules.clear();
        self.last_load = None;
        self.search = self.base_search.clone();
    }

    fn run_inner(&mut self, input: &str) -> (Vec<Msg>, Next) {
        if let Some(out) = self.output.take() {
            // Tests redirect output after creating the session.
            self.vm.set_output(Box::new(out.clone()));
            self.output = Some(out);
        }
        let mut msgs = Vec::new();
        let next = match crate::command::parse(input) {
            Command::Empty => Next::Continue,
            Command::Quit => Next::Exit(0),
            Command::Help => {
                msgs.push(Msg::Out(format!("{}\n", crate::command::HELP)));
                Next::Continue
            }
            Command::Bad(m) => {
                msgs.push(Msg::Err(format!("error: {m}\n")));
                Next::Continue
            }
            Command::Reset => {
                self.reset();
                msgs.push(Msg::Out("session cleared\n".into()));
                Next::Continue
            }
            Command::Defs => {
                let mut s = String::new();
                for d in &self.defs {
                    s.push_str(&format!("{} : {}\n", d.name, d.ty));
                }
                msgs.push(Msg::Out(s));
                Next::Continue
            }
            Command::Type(e) => {
                self.type_of(&e, &mut msgs);
                Next::Continue
            }
            Command::Info(name) => {
                self.info(&name, &mut msgs);
                Next::Continue
            }
            Command::Time(e) => {
                let t0 = crate::cputime::now();
                let w0 = std::time::Instant::now();
                let r = self.eval(&e, &mut msgs);
                let wall = w0.elapsed().as_secs_f64();
                let line = match (t0, crate::cputime::now()) {
                    (Some(a), Some(b)) => format!(
                        "time: {:.3} s CPU, {wall:.3} s elapsed\n",
                        b.saturating_sub(a).as_secs_f64()
                    ),
                    _ => format!("time: {wall:.3} s elapsed (CPU time unknown here)\n"),
                };
                msgs.push(Msg::Out(line));
                match r {
                    Err(Some(code)) => Next::Exit(code),
                    _ => Next::Continue,
                }
            }
            Command::Dis(name) => {
                self.dis(&name, &mut msgs);
                Next::Continue
            }
            Command::Load(file) => self.load(&file, &mut msgs),
            Command::Reload => match self.last_load.clone() {
                Some(f) => self.load(&f, &mut msgs),
                None => {
                    msgs.push(Msg::Err(
                        "error: nothing to reload (use :load FILE first)\n".into(),
                    ));
                    Next::Continue
                }
            },
            Command::Source(src) => self.source(&src, &mut msgs),
        };
        (msgs, next)
    }

    /// A name for an expression's item that no name in scope uses.
    fn it_name(&self) -> String {
        let mut n = "it".to_string();
        while self.defs.iter().any(|d| d.name == n) {
            n.push('_');
        }
        n
    }

    /// The next module key for a piece named after `stem`.
    fn next_key(&mut self, stem: &str) -> String {
        self.count += 1;
        format!("{stem}-{}", self.count)
    }

    fn options(&self) -> Options {
        Options {
            search: self.search.clone(),
            interrupt: Some(self.interrupt.clone()),
            jit: self.jit,
            allow_ffi: self.allow_ffi,
        }
    }

    /// Compiles `piece` against the session's pieces (without keeping it).
    fn compile(&mut self, piece: SessionFile) -> Result<SessionInput, Vec<Msg>> {
        // Ctrl-C during compilation stops `#run` evaluation too.
        self.interrupt.store(false, Ordering::SeqCst);
        let mut files = self.files.clone();
        files.push(piece);
        let opts = self.options();
        let r = driver::compile_session_input(&files, &mut self.vm, &opts);
        self.vm.flush();
        let r = r.map_err(|f| vec![Msg::Err(f.rendered)])?;
        // A user module loaded before must not have changed since: the loaded code
        // is what later code links against.
        let prog = &r.program;
        for &m in &prog.modules {
            let tm = prog.module(m);
            if tm.kind != ModuleKind::User {
                continue;
            }
            let key = driver_key(prog, m);
            if let Some(old) = self.user_modules.get(&key) {
                if *old != prog.sources.file(tm.file).text {
                    return Err(vec![Msg::Err(format!(
                        "error: `{}` has changed since it was loaded into the session; :reset to load the new version\n",
                        tm.name
                    ))]);
                }
            }
        }
        Ok(r)
    }

    /// Warnings about the root module of a compiled piece, rendered.
    fn warnings(c: &SessionInput, files: &[SessionFile]) -> Vec<Msg> {
        let root_file = c.program.module(c.program.root).file;
        let ws: Vec<_> = c
            .warnings
            .iter()
            .filter(|w| w.severity == Severity::Warning)
            .filter(|w| w.span.is_some_and(|s| s.file == root_file))
            .cloned()
            .collect();
        if ws.is_empty() {
            Vec::new()
        } else {
            vec![Msg::Err(driver::render_session(
                &c.program.sources,
                files,
                &ws,
            ))]
        }
    }

    /// Compiles `piece`, links it into the VM and runs its initialisers. On success
    /// the piece may be kept (by the caller); its warnings are in `msgs`.
    fn execute(&mut self, piece: SessionFile, msgs: &mut Vec<Msg>) -> Result<Ran, Failed> {
        let key = piece.key.clone();
        let mut files = self.files.clone();
        files.push(piece.clone());
        let compiled = self.compile(piece).map_err(Failed::Msgs)?;
        msgs.extend(Self::warnings(&compiled, &files));
        let SessionInput {
            objects, program, ..
        } = compiled;
        let (root, libs) = objects.split_first().ok_or_else(|| {
            Failed::Msgs(vec![Msg::Err(
                "error: internal error: nothing compiled\n".into(),
            )])
        })?;
        let libs: HashMap<String, hashvm_format::Module> = libs.iter().cloned().collect();
        let mut resolve = |name: &str| -> Result<Option<(String, hashvm_format::Module)>, String> {
            Ok(libs.get(name).map(|m| (name.to_string(), m.clone())))
        };
        let linked = self
            .vm
            .link_in(std::slice::from_ref(root), &mut resolve)
            .map_err(|e| {
                Failed::Msgs(vec![Msg::Err(format!("error: loading the input: {e}\n"))])
            })?;
        // Remember the user modules now loaded, to notice if they change.
        for &m in &program.modules {
            let tm = program.module(m);
            if tm.kind == ModuleKind::User {
                let k = driver_key(&program, m);
                if self.vm.has_library(&k) {
                    self.user_modules
                        .entry(k)
                        .or_insert_with(|| program.sources.file(tm.file).text.clone());
                }
            }
        }
        self.interrupt.store(false, Ordering::SeqCst);
        let mut r = Ok(());
        for &f in &linked.inits {
            r = self.vm.call(Value::func(f), &[]).map(|_| ());
            if r.is_err() {
                break;
            }
        }
        self.vm.flush();
        self.interrupt.store(false, Ordering::SeqCst);
        match r {
            Ok(()) => Ok(Ran { program, key }),
            Err(Trap::Exit(code)) => Err(Failed::Exit(code as i32)),
            Err(Trap::Error(e)) => Err(Failed::Msgs(vec![Msg::Err(e.to_string())])),
        }
    }

    /// The value of global `KEY::NAME` in the VM.
    fn global(&self, key: &str, name: &str) -> Option<Value> {
        match self.vm.symbol(&format!("{key}::{name}"))? {
            ExportTarget::Global(g) => self.vm.global(g),
            ExportTarget::Type(_) => None,
        }
    }

    /// Hash source: each run of declarations as one piece, each expression on its
    /// own, in order. The first error stops the input (later pieces are not run).
    /// Each piece is compiled with the input before it blanked out, so that messages
    /// give lines and columns as typed.
    fn source(&mut self, src: &str, msgs: &mut Vec<Msg>) -> Next {
        let mut pending: Vec<String> = Vec::new();
        let mut run_start = None;
        let mut pieces = scan::split_spans(src).into_iter().peekable();
        while let Some((piece, range)) = pieces.next() {
            let step = match piece {
                Piece::Def(name, _) => {
                    pending.push(name);
                    let from = *run_start.get_or_insert(range.start);
                    if matches!(pieces.peek(), Some((Piece::Def(..), _))) {
                        continue;
                    }
                    run_start = None;
                    let text = format!("{}{}", scan::blanked(&src[..from]), &src[from..range.end]);
                    self.define(std::mem::take(&mut pending), terminated(&text), msgs)
                }
                Piece::Expr(_) => {
                    let text = format!("{}{}", scan::blanked(&src[..range.start]), &src[range]);
                    self.eval(&text, msgs)
                }
            };
            match step {
                Ok(()) => {}
                Err(None) => break,
                Err(Some(code)) => return Next::Exit(code),
            }
        }
        Next::Continue
    }

    /// Compiles, links and runs declarations (`text`, declaring `names`) as one new
    /// piece of the session and keeps it; prints `name : type` (and `= value` for
    /// values) for each. `Err(None)`: an error (reported); `Err(Some(c))`: the program
    /// exited.
    fn define(
        &mut self,
        names: Vec<String>,
        text: String,
        msgs: &mut Vec<Msg>,
    ) -> Result<(), Option<i32>> {
        let key = self.next_key("repl");
        let piece = SessionFile {
            path: PathBuf::from(FILE),
            key,
            text,
            prefix: 0,
        };
        let lines = self.keep(piece, msgs)?;
        for name in &names {
            if let Some(l) = lines.iter().find(|(n, _)| n == name) {
                msgs.push(Msg::Out(format!("{}\n", l.1)));
            }
        }
        Ok(())
    }

    /// Runs `piece` and, if it succeeds, keeps it: its names come into scope. Returns
    /// a line `name : type [= value]` for each of its items.
    fn keep(
        &mut self,
        piece: SessionFile,
        msgs: &mut Vec<Msg>,
    ) -> Result<Vec<(String, String)>, Option<i32>> {
        let kept = piece.clone();
        let ran = match self.execute(piece, msgs) {
            Ok(r) => r,
            Err(Failed::Msgs(m)) => {
                msgs.extend(m);
                return Err(None);
            }
            Err(Failed::Exit(c)) => return Err(Some(c)),
        };
        self.files.push(kept);
        let prog = &ran.program;
        let root = prog.module(prog.root);
        let mut lines = Vec::new();
        for item in &root.items {
            let name = item.name.clone();
            let (ty, value) = match &item.kind {
                TItemKind::Type(_) => ("type".to_string(), None),
                TItemKind::Import(_) => ("module".to_string(), None),
                TItemKind::Function { .. } => (
                    driver::item_type(prog, &name).unwrap_or_else(|| "?".into()),
                    None,
                ),
                TItemKind::Value { .. } => {
                    let t = driver::item_type(prog, &name).unwrap_or_else(|| "?".into());
                    let v = self.global(&ran.key, &name).map(|v| shown(&self.vm, v, &t));
                    (t, v)
                }
            };
            let line = match value {
                Some(v) => format!("{name} : {ty} = {v}"),
                None => format!("{name} : {ty}"),
            };
            lines.push((name.clone(), line));
            self.defs.retain(|d| d.name != name);
            self.defs.push(Def {
                name,
                ty,
                key: ran.key.clone(),
            });
        }
        Ok(lines)
    }

    /// Evaluates an expression and prints `value : type` (nothing for `()`).
    fn eval(&mut self, expr: &str, msgs: &mut Vec<Msg>) -> Result<(), Option<i32>> {
        let it = self.it_name();
        let key = self.next_key("repl");
        let piece = SessionFile {
            path: PathBuf::from(FILE),
            key,
            text: wrapped(&it, expr),
            prefix: prefix_len(&it),
        };
        let ran = match self.execute(piece, msgs) {
            Ok(r) => r,
            Err(Failed::Msgs(m)) => {
                msgs.extend(m);
                return Err(None);
            }
            Err(Failed::Exit(c)) => return Err(Some(c)),
        };
        let ty = driver::item_type(&ran.program, &it).unwrap_or_else(|| "?".into());
        if ty == "()" {
            return Ok(());
        }
        let shown = match self.global(&ran.key, &it) {
            Some(v) => shown(&self.vm, v, &ty),
            None => "<no value>".into(),
        };
        msgs.push(Msg::Out(format!("{shown} : {ty}\n")));
        Ok(())
    }

    /// Checks `it := EXPR` against the session (nothing is compiled or run).
    fn check_expr(&self, expr: &str) -> Result<(TypedProgram, String), Vec<Msg>> {
        let it = self.it_name();
        let mut files = self.files.clone();
        files.push(SessionFile {
            path: PathBuf::from(FILE),
            key: format!("repl-{}", self.count + 1),
            text: wrapped(&it, expr),
            prefix: prefix_len(&it),
        });
        match hashvm_compiler::check_session(&files, &self.search) {
            Ok((p, _)) => Ok((p, it)),
            Err(r) => Err(vec![Msg::Err(driver::render_session(
                &r.sources,
                &files,
                &r.diagnostics,
            ))]),
        }
    }

    /// `:t EXPR`.
    fn type_of(&self, expr: &str, msgs: &mut Vec<Msg>) {
        match self.check_expr(expr) {
            Ok((p, it)) => {
                let ty = driver::item_type(&p, &it).unwrap_or_else(|| "?".into());
                let shown = if expr.contains('\n') {
                    ty
                } else {
                    format!("{} : {ty}", expr.trim())
                };
                msgs.push(Msg::Out(format!("{shown}\n")));
            }
            Err(m) => msgs.extend(m),
        }
    }

    /// `:info NAME` / `:doc NAME`: the type of a session or standard-library name and
    /// the comment written just above its declaration.
    fn info(&self, name: &str, msgs: &mut Vec<Msg>) {
        let (prog, _) = match self.check_expr(name) {
            Ok(x) => x,
            Err(m) => {
                msgs.extend(m);
                return;
            }
        };
        match crate::info::describe(&prog, name, &self.files) {
            Some(text) => msgs.push(Msg::Out(text)),
            None => msgs.push(Msg::Err(format!(
                "error: `{name}` is not a declaration of the session or of a standard module\n"
            ))),
        }
    }

    /// `:dis NAME`: the bytecode of the functions named `NAME` (and of the closures
    /// inside them), from the VM's loaded code (the newest definition of the name).
    fn dis(&mut self, name: &str, msgs: &mut Vec<Msg>) {
        // Evaluate the name, so that a standard-library function is loaded too.
        let it = self.it_name();
        let key = self.next_key("repl");
        let piece = SessionFile {
            path: PathBuf::from(FILE),
            key,
            text: wrapped(&it, name),
            prefix: prefix_len(&it),
        };
        let mut m = Vec::new();
        if let Err(f) = self.execute(piece, &mut m) {
            if let Failed::Msgs(e) = f {
                msgs.extend(e);
            }
            return;
        }
        let module = self.vm.loaded_module();
        let short = name.rsplit('.').next().unwrap_or(name);
        // A session name: its newest definition only.
        let only = self
            .defs
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| self.global(&d.key, name))
            .filter(|v| v.tag() == hashvm_vm::Tag::FUNC)
            .map(|v| v.bits() as usize);
        let blocks: Vec<String> = dis_functions(&module, name, short, only)
            .into_iter()
            .filter_map(|f| hashvm_format::hasm::disassemble_function(&module, f))
            .collect();
        if blocks.is_empty() {
            msgs.push(Msg::Err(format!(
                "error: no function named `{name}` in the session\n"
            )));
        } else {
            msgs.push(Msg::Out(blocks.join("\n")));
        }
    }

    /// `:load FILE`: the file's declarations as one piece (so its errors point at
    /// its lines); they shadow earlier ones of the same names.
    fn load(&mut self, file: &str, msgs: &mut Vec<Msg>) -> Next {
        let path = Path::new(file);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                msgs.push(Msg::Err(format!("error: {file}: {e}\n")));
                return Next::Continue;
            }
        };
        // Imports in later inputs resolve next to the file too.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let old_search = self.search.clone();
        if !self.search.contains(&dir) {
            self.search.insert(0, dir);
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let key = self.next_key(&stem);
        let piece = SessionFile {
            path: path.to_path_buf(),
            key,
            text,
            prefix: 0,
        };
        let mut m = Vec::new();
        let r = self.keep(piece, &mut m);
        msgs.extend(m.into_iter().filter(|x| matches!(x, Msg::Err(_))));
        match r {
            Ok(lines) => {
                self.last_load = Some(file.to_string());
                let n = lines.len();
                msgs.push(Msg::Out(format!(
                    "loaded {n} declaration{} from {file}\n",
                    if n == 1 { "" } else { "s" }
                )));
                Next::Continue
            }
            Err(code) => {
                self.search = old_search;
                self.last_load = Some(file.to_string());
                match code {
                    Some(c) => Next::Exit(c),
                    None => Next::Continue,
                }
            }
        }
    }
}

/// The module key of module `m` (as the code generator names its symbols).
fn driver_key(prog: &TypedProgram, m: hashvm_compiler::tast::ModuleId) -> String {
    hashvm_compiler::codegen::module_key(prog.module(m))
}

/// The most text the REPL prints for one result.
const SHOW_LIMIT: usize = 16 << 20;

/// How a result is shown: as `to_str` shows it, but a `str` or `char` quoted with
/// escapes (as inside a container), so that `"1"` is told from `1`.
fn shown(vm: &Vm, v: Value, ty: &str) -> String {
    // Bounded: a value can print far larger than it is (a list holding one big
    // string many times), and nobody reads more than this at a prompt.
    let Some(s) = vm.display_bounded(v, SHOW_LIMIT) else {
        return format!("<more than {} MiB of text; not shown>", SHOW_LIMIT >> 20);
    };
    match ty {
        "str" => format!("{s:?}"),
        "char" => {
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => format!("{c:?}"),
                _ => s,
            }
        }
        _ => s,
    }
}

/// `text` followed by a `;` on a line of its own: a message quoting the text's lines
/// shows them as typed (no `;` the user did not type), and a `//` comment at its end
/// cannot swallow the `;`.
fn terminated(text: &str) -> String {
    format!("{text}\n;\n")
}

/// The piece that evaluates expression `expr` as item `it`: `it := EXPR` with the
/// expression on the first line, so that runtime errors name the lines as typed
/// (compile-time messages leave the `it := ` out: [`prefix_len`]).
fn wrapped(it: &str, expr: &str) -> String {
    terminated(&format!("{it} := {expr}"))
}

/// The length of the `it := ` wrapper [`wrapped`] puts before an expression.
fn prefix_len(it: &str) -> usize {
    it.len() + 4
}

/// The functions `:dis NAME` shows: those named `name` (qualified names match on
/// their last parts, `list.map` or `map`), or only function `only` when the name is a
/// session binding; then, transitively, the functions their `closure` instructions
/// make. Read from the loaded module's functions and decoded code, not from a listing.
pub fn dis_functions(
    m: &hashvm_format::Module,
    name: &str,
    short: &str,
    only: Option<usize>,
) -> Vec<u32> {
    let matches = |f: &str, n: &str| {
        f == n || f.ends_with(&format!(".{n}")) || f.ends_with(&format!("::{n}"))
    };
    let named = |n: &str| -> Vec<u32> {
        (0..m.functions.len() as u32)
            .filter(|&i| matches(&m.functions[i as usize].name, n))
            .collect()
    };
    let mut chosen = named(name);
    if let Some(ix) = only.filter(|&ix| ix < m.functions.len()) {
        chosen = vec![ix as u32];
    }
    if chosen.is_empty() && short != name {
        chosen = named(short);
    }
    let mut k = 0;
    while k < chosen.len() {
        let code = &m.functions[chosen[k] as usize].code;
        if let Ok(insns) = hashvm_format::insn::decode_all(code) {
            for (_, insn) in insns {
                if insn.op != hashvm_format::Op::Closure {
                    continue;
                }
                for a in &insn.args {
                    if let hashvm_format::Operand::Func(f) = a {
                        if (*f as usize) < m.functions.len() && !chosen.contains(f) {
                            chosen.push(*f);
                        }
                    }
                }
            }
        }
        k += 1;
    }
    chosen
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
