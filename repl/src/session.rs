//! The REPL's state and evaluation: the declarations kept so far, and how an input is
//! compiled and run against them.
//!
//! The session is a Hash file that grows: its text is the declarations the user has
//! made, in order (a declaration of a name already declared replaces the earlier one in
//! place). An expression `e` is evaluated by compiling `<declarations> it := e;` as
//! `repl.hash` (so `it` is exported as `repl::it`), loading the linked program into a
//! fresh VM, running its initialisers (which compute every top-level value, `it` last)
//! and reading `it`'s global. So every top-level value is recomputed on each input,
//! and a top-level value's side effects (a `println` in its initialiser) happen again
//! each time; functions cost nothing. A new declaration is checked the same way (the
//! session compiled with it, its initialisers run) before it is kept, so an input with
//! an error leaves the session unchanged.

use crate::command::Command;
use crate::scan::{self, Piece};
use hashvm_compiler::driver::{self, Compiled, Options};
use hashvm_compiler::tast::TItemKind;
use hashvm_compiler::Severity;
use hashvm_format::{ExportTarget, Module};
use hashvm_vm::{Config, Trap, Value, Vm};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The file name the session compiles under: its module key `repl` is the prefix of
/// its exports (`repl::it`), and messages point into `repl.hash`.
pub const FILE: &str = "repl.hash";

/// One kept declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Def {
    /// The declared name.
    pub name: String,
    /// Its source text, without the final `;`.
    pub text: String,
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

/// The REPL session: declarations, search path and the interrupt flag.
pub struct Session {
    defs: Vec<Def>,
    /// Directories of `:load`ed files (their imports resolve there), then `HASH_PATH`.
    search: Vec<PathBuf>,
    base_search: Vec<PathBuf>,
    /// Set by the Ctrl-C handler while a program runs.
    pub interrupt: Arc<AtomicBool>,
    /// Where programs' standard output goes; `None` is the process's stdout.
    pub output: Option<SharedBuf>,
    /// Whether the program's output on stdout so far ends in the middle of a line.
    open_line: Arc<AtomicBool>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

/// The outcome of compiling and running the session with some extra text.
struct Run {
    compiled: Compiled,
    vm: Vm,
}

enum Failed {
    /// Messages already rendered.
    Msgs(Vec<Msg>),
    /// The program called `io.exit(code)`.
    Exit(i32),
}

impl Session {
    /// An empty session; imports resolve relative to the current directory, then in
    /// `HASH_PATH`, then in the bundled standard library.
    pub fn new() -> Session {
        let mut base = Vec::new();
        if let Some(p) = std::env::var_os("HASH_PATH") {
            base.extend(std::env::split_paths(&p).filter(|p| !p.as_os_str().is_empty()));
        }
        Session {
            defs: Vec::new(),
            search: base.clone(),
            base_search: base,
            interrupt: Arc::new(AtomicBool::new(false)),
            output: None,
            open_line: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the last program left its output in the middle of a line (`print("a")`),
    /// and forgets it: the REPL then ends that line, or the prompt's redraw (which
    /// starts by clearing the line) would erase it.
    pub fn take_open_line(&self) -> bool {
        self.open_line.swap(false, Ordering::SeqCst)
    }

    /// The declarations kept so far, in order.
    pub fn defs(&self) -> &[Def] {
        &self.defs
    }

    /// The names the session declares (for completion).
    pub fn names(&self) -> Vec<String> {
        self.defs.iter().map(|d| d.name.clone()).collect()
    }

    /// Runs one complete input (a `:` command or Hash source).
    pub fn run(&mut self, input: &str) -> (Vec<Msg>, Next) {
        // The compiler and the VM are not ours to vouch for: a panic in either must not
        // end the session (each evaluation uses a fresh VM, so nothing is left broken).
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_inner(input)));
        match r {
            Ok(x) => x,
            Err(p) => {
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                (
                    vec![Msg::Err(format!(
                        "error: internal error (a panic: {what}); the session goes on\n"
                    ))],
                    Next::Continue,
                )
            }
        }
    }

    fn run_inner(&mut self, input: &str) -> (Vec<Msg>, Next) {
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
                self.defs.clear();
                self.search = self.base_search.clone();
                msgs.push(Msg::Out("session cleared\n".into()));
                Next::Continue
            }
            Command::Defs => {
                let mut s = String::new();
                for d in &self.defs {
                    s.push_str(&d.text);
                    s.push_str(";\n");
                }
                msgs.push(Msg::Out(s));
                Next::Continue
            }
            Command::Type(e) => {
                self.type_of(&e, &mut msgs);
                Next::Continue
            }
            Command::Dis(name) => {
                self.dis(&name, &mut msgs);
                Next::Continue
            }
            Command::Load(file) => self.load(&file, &mut msgs),
            Command::Source(src) => self.source(&src, &mut msgs),
        };
        (msgs, next)
    }

    /// A name for the expression's item that no declaration uses.
    fn it_name(&self, avoid: &[Def]) -> String {
        let mut n = "it".to_string();
        while self.defs.iter().chain(avoid).any(|d| d.name == n) {
            n.push('_');
        }
        n
    }

    /// The session's text with `new` declarations merged in (replacing same-named
    /// ones in place, appending the others), then `extra` lines, then a `main` if none
    /// is declared. Returns the text, the merged declarations, and the byte offset
    /// where the new material (the first new declaration, or `extra`) starts.
    fn text_with(&self, new: &[Def], extra: &str) -> (String, Vec<Def>, usize) {
        self.text_placed(new, extra, true)
    }

    /// [`Session::text_with`], with a redeclared name either kept at its old place
    /// (`in_place`) or with every declaration put after those it names (see
    /// [`dependency_order`]).
    fn text_placed(&self, new: &[Def], extra: &str, in_place: bool) -> (String, Vec<Def>, usize) {
        let mut defs = self.defs.clone();
        let mut is_new = vec![false; defs.len()];
        for d in new {
            match defs.iter().position(|x| x.name == d.name) {
                Some(k) => {
                    defs[k] = d.clone();
                    is_new[k] = true;
                }
                None => {
                    defs.push(d.clone());
                    is_new.push(true);
                }
            }
        }
        if !in_place {
            let order = dependency_order(&defs);
            defs = order.iter().map(|&k| defs[k].clone()).collect();
            is_new = order.iter().map(|&k| is_new[k]).collect();
        }
        let mut text = String::new();
        let mut from = None;
        for (d, fresh) in defs.iter().zip(&is_new) {
            if *fresh && from.is_none() {
                from = Some(text.len());
            }
            text.push_str(&terminated(&d.text));
        }
        let from = from.unwrap_or(text.len());
        text.push_str(extra);
        if !defs.iter().any(|d| d.name == "main") {
            text.push_str("main := () => {};\n");
        }
        (text, defs, from)
    }

    fn compile(&self, text: &str) -> Result<Compiled, Vec<Msg>> {
        // Ctrl-C during compilation stops `#run` evaluation too.
        self.interrupt.store(false, Ordering::SeqCst);
        let opts = Options {
            search: self.search.clone(),
            interrupt: Some(self.interrupt.clone()),
        };
        driver::compile_source(FILE, text, &opts).map_err(|f| vec![Msg::Err(f.rendered)])
    }

    /// Warnings about the text from byte `from` on (the new input), rendered.
    fn warnings(&self, c: &Compiled, from: usize) -> Vec<Msg> {
        let root_file = c.program.module(c.program.root).file;
        let ws: Vec<_> = c
            .warnings
            .iter()
            .filter(|w| w.severity == Severity::Warning)
            .filter(|w| {
                w.span
                    .is_some_and(|s| s.file == root_file && s.lo as usize >= from)
            })
            .cloned()
            .collect();
        if ws.is_empty() {
            Vec::new()
        } else {
            vec![Msg::Err(driver::render(&c.program, &ws))]
        }
    }

    /// Loads the compiled program into a fresh VM and runs its initialisers.
    fn execute(&self, compiled: Compiled) -> Result<Run, Failed> {
        let mut vm = Vm::new(Config::default());
        match &self.output {
            Some(out) => vm.set_output(Box::new(out.clone())),
            None => vm.set_output(Box::new(LineEnd {
                inner: std::io::stdout(),
                open: self.open_line.clone(),
            })),
        }
        // Programs read standard input through the process-wide buffer of `Stdin`
        // (one byte at a time into the VM's own reader) so that they take only what
        // they ask for: the rest stays for the REPL's next inputs (piped input).
        vm.stdin = Some(std::io::BufReader::with_capacity(1, std::io::stdin()));
        self.interrupt.store(false, Ordering::SeqCst);
        vm.interrupt = Some(self.interrupt.clone());
        let m: &Module = &compiled.module;
        let r = (|| -> Result<(), Trap> {
            vm.load(m)?;
            for &f in &m.inits {
                vm.call(Value::func(f), &[])?;
            }
            Ok(())
        })();
        vm.flush();
        self.interrupt.store(false, Ordering::SeqCst);
        match r {
            Ok(()) => Ok(Run { compiled, vm }),
            Err(Trap::Exit(code)) => Err(Failed::Exit(code as i32)),
            Err(Trap::Error(e)) => Err(Failed::Msgs(vec![Msg::Err(e.to_string())])),
        }
    }

    /// The value of the exported global `repl::NAME` after a run.
    fn global(run: &Run, name: &str) -> Option<Value> {
        let key = format!("repl::{name}");
        let e = run.compiled.module.exports.iter().find(|e| e.name == key)?;
        match e.target {
            ExportTarget::Global(g) => run.vm.globals.get(g as usize).copied(),
            ExportTarget::Type(_) => None,
        }
    }

    /// Hash source: each piece in turn, declarations kept, expressions evaluated. The
    /// first error stops the input (later pieces are not run).
    fn source(&mut self, src: &str, msgs: &mut Vec<Msg>) -> Next {
        for piece in scan::split(src) {
            let step = match piece {
                Piece::Def(name, text) => self.define(vec![Def { name, text }], msgs),
                Piece::Expr(e) => self.eval(&e, msgs),
            };
            match step {
                Ok(()) => {}
                Err(None) => break,
                Err(Some(code)) => return Next::Exit(code),
            }
        }
        Next::Continue
    }

    /// Checks and keeps declarations; prints `name : type` for each value or function.
    /// `Err(None)`: an error (reported); `Err(Some(c))`: the program exited.
    ///
    /// A redeclaration keeps the old one's place, so that the values declared after it
    /// that use it still come after it; if that does not compile (the new text uses a
    /// value declared later: "used before it is initialised"), the declarations are
    /// reordered so that each comes after the ones it names.
    fn define(&mut self, new: Vec<Def>, msgs: &mut Vec<Msg>) -> Result<(), Option<i32>> {
        let (text, defs, from) = self.text_with(&new, "");
        let compiled = match self.compile(&text) {
            Ok(c) => Ok((c, defs, from)),
            Err(m)
                if new
                    .iter()
                    .any(|d| self.defs.iter().any(|x| x.name == d.name)) =>
            {
                let (text, defs, from) = self.text_placed(&new, "", false);
                self.compile(&text).map(|c| (c, defs, from)).map_err(|_| m)
            }
            Err(m) => Err(m),
        };
        let (compiled, defs, from) = match compiled {
            Ok(x) => x,
            Err(m) => {
                msgs.extend(m);
                return Err(None);
            }
        };
        msgs.extend(self.warnings(&compiled, from));
        let run = match self.execute(compiled) {
            Ok(r) => r,
            Err(Failed::Msgs(m)) => {
                msgs.extend(m);
                return Err(None);
            }
            Err(Failed::Exit(c)) => return Err(Some(c)),
        };
        self.defs = defs;
        let prog = &run.compiled.program;
        let root = prog.module(prog.root);
        for d in &new {
            let Some(item) = root.items.iter().find(|i| i.name == d.name) else {
                continue;
            };
            let line = match &item.kind {
                TItemKind::Type(_) => format!("{} : type", d.name),
                TItemKind::Import(_) => format!("{} : module", d.name),
                TItemKind::Function { .. } => {
                    let t = driver::item_type(prog, &d.name).unwrap_or_else(|| "?".into());
                    format!("{} : {t}", d.name)
                }
                TItemKind::Value { .. } => {
                    let t = driver::item_type(prog, &d.name).unwrap_or_else(|| "?".into());
                    match Self::global(&run, &d.name) {
                        Some(v) => format!("{} : {t} = {}", d.name, shown(&run.vm, v, &t)),
                        None => format!("{} : {t}", d.name),
                    }
                }
            };
            msgs.push(Msg::Out(format!("{line}\n")));
        }
        Ok(())
    }

    /// Evaluates an expression and prints `value : type` (nothing for `()`).
    fn eval(&mut self, expr: &str, msgs: &mut Vec<Msg>) -> Result<(), Option<i32>> {
        let it = self.it_name(&[]);
        let (text, _, from) = self.text_with(&[], &terminated(&format!("{it} :=\n{expr}")));
        let compiled = match self.compile(&text) {
            Ok(c) => c,
            Err(m) => {
                msgs.extend(m);
                return Err(None);
            }
        };
        msgs.extend(self.warnings(&compiled, from));
        let ty = driver::item_type(&compiled.program, &it);
        let run = match self.execute(compiled) {
            Ok(r) => r,
            Err(Failed::Msgs(m)) => {
                msgs.extend(m);
                return Err(None);
            }
            Err(Failed::Exit(c)) => return Err(Some(c)),
        };
        let ty = ty.unwrap_or_else(|| "?".into());
        if ty == "()" {
            return Ok(());
        }
        let shown = match Self::global(&run, &it) {
            Some(v) => shown(&run.vm, v, &ty),
            None => "<no value>".into(),
        };
        msgs.push(Msg::Out(format!("{shown} : {ty}\n")));
        Ok(())
    }

    /// `:t EXPR`.
    fn type_of(&self, expr: &str, msgs: &mut Vec<Msg>) {
        let it = self.it_name(&[]);
        let (text, _, _) = self.text_with(&[], &terminated(&format!("{it} :=\n{expr}")));
        match self.compile(&text) {
            Ok(c) => {
                let ty = driver::item_type(&c.program, &it).unwrap_or_else(|| "?".into());
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

    /// `:dis NAME`: the bytecode of the functions named `NAME` (and of the closures
    /// inside them), from the disassembly of the linked session.
    fn dis(&self, name: &str, msgs: &mut Vec<Msg>) {
        let it = self.it_name(&[]);
        // Mention the name so that a standard-library function is linked in too.
        let (text, _, _) = self.text_with(&[], &terminated(&format!("{it} :=\n{name}")));
        let compiled = match self.compile(&text) {
            Ok(c) => c,
            Err(m) => {
                msgs.extend(m);
                return;
            }
        };
        let listing = hashvm_format::hasm::disassemble(&compiled.module);
        let short = name.rsplit('.').next().unwrap_or(name);
        let blocks = function_blocks(&listing, name, short);
        if blocks.is_empty() {
            msgs.push(Msg::Err(format!(
                "error: no function named `{name}` in the compiled session\n"
            )));
        } else {
            msgs.push(Msg::Out(blocks.join("\n")));
        }
    }

    /// `:load FILE`: adds the file's declarations (replacing same-named ones).
    fn load(&mut self, file: &str, msgs: &mut Vec<Msg>) -> Next {
        let path = Path::new(file);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                msgs.push(Msg::Err(format!("error: {file}: {e}\n")));
                return Next::Continue;
            }
        };
        let mut new = Vec::new();
        for p in scan::split(&text) {
            match p {
                Piece::Def(name, text) => {
                    new.retain(|d: &Def| d.name != name);
                    new.push(Def { name, text });
                }
                Piece::Expr(e) => {
                    let first = e.lines().next().unwrap_or("");
                    msgs.push(Msg::Err(format!(
                        "error: {file}: not a declaration: `{first}` (a file holds only `NAME := ...;` declarations)\n"
                    )));
                    return Next::Continue;
                }
            }
        }
        // Imports in the file resolve relative to it.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let old_search = self.search.clone();
        if !self.search.contains(&dir) {
            self.search.insert(0, dir);
        }
        let n = new.len();
        match self.define_quiet(new, msgs) {
            Ok(()) => {
                msgs.push(Msg::Out(format!(
                    "loaded {n} declaration{} from {file}\n",
                    if n == 1 { "" } else { "s" }
                )));
                Next::Continue
            }
            Err(code) => {
                self.search = old_search;
                match code {
                    Some(c) => Next::Exit(c),
                    None => Next::Continue,
                }
            }
        }
    }

    /// [`Session::define`] without the `name : type` lines (for `:load`).
    fn define_quiet(&mut self, new: Vec<Def>, msgs: &mut Vec<Msg>) -> Result<(), Option<i32>> {
        let mut m = Vec::new();
        let r = self.define(new, &mut m);
        msgs.extend(m.into_iter().filter(|x| matches!(x, Msg::Err(_))));
        r
    }
}

/// An order of `defs` (indices) in which each declaration comes after the
/// declarations whose names it mentions (outside strings and comments, not after a
/// `.`), moving as little as it can. A parameter or local that shadows a declared name
/// counts as a mention too, which may move a function needlessly; functions may stand
/// anywhere, so that is harmless.
pub fn dependency_order(defs: &[Def]) -> Vec<usize> {
    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    let deps: Vec<Vec<usize>> = defs
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let mut v: Vec<usize> = mentioned(&d.text)
                .iter()
                .filter_map(|w| names.iter().position(|n| n == w))
                .filter(|&j| j != k)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    // Depth first in the given order: each declaration after the ones it names (a
    // name met again while it is being placed, in a cycle, is not waited for).
    let mut state = vec![0u8; defs.len()]; // 0 new, 1 in progress, 2 placed
    let mut out = Vec::with_capacity(defs.len());
    for first in 0..defs.len() {
        if state[first] != 0 {
            continue;
        }
        state[first] = 1;
        let mut stack: Vec<(usize, usize)> = vec![(first, 0)];
        while let Some(top) = stack.last_mut() {
            let (k, next) = *top;
            if let Some(&j) = deps[k].get(next) {
                top.1 += 1;
                if state[j] == 0 {
                    state[j] = 1;
                    stack.push((j, 0));
                }
            } else {
                state[k] = 2;
                out.push(k);
                stack.pop();
            }
        }
    }
    out
}

/// The identifiers in `text` outside literals and comments, except those right after
/// a `.` (members of modules and fields).
fn mentioned(text: &str) -> Vec<String> {
    let m = scan::scan(text).masked;
    let mut out = Vec::new();
    let mut i = 0;
    while i < m.len() {
        if m[i].is_ascii_alphabetic() || m[i] == b'_' {
            let start = i;
            while i < m.len() && (m[i].is_ascii_alphanumeric() || m[i] == b'_') {
                i += 1;
            }
            let after_dot = start > 0 && m[start - 1] == b'.';
            if !after_dot {
                out.push(String::from_utf8_lossy(&m[start..i]).into_owned());
            }
        } else if m[i].is_ascii_digit() {
            // A number (with any suffix, `1u64`): not a name.
            while i < m.len() && (m[i].is_ascii_alphanumeric() || m[i] == b'_') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
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

/// `text` followed by `;` and a newline (on a line of its own if the last line has a
/// `//`, which could be a comment that would swallow the `;`).
fn terminated(text: &str) -> String {
    if text.lines().last().is_some_and(|l| l.contains("//")) {
        format!("{text}\n;\n")
    } else {
        format!("{text};\n")
    }
}

/// One `.func` ... `.end` block of a disassembly.
struct Block {
    name: String,
    /// From the `; function N` comment of its `.func` line.
    index: Option<usize>,
    text: String,
}

fn blocks_of(listing: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut cur: Option<Block> = None;
    for line in listing.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix(".func ") {
            let name = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .rsplit_once('/')
                .map(|(n, _)| n)
                .unwrap_or("")
                .trim_matches('"')
                .to_string();
            let index = rest
                .rsplit_once("; function ")
                .and_then(|(_, n)| n.trim().parse().ok());
            cur = Some(Block {
                name,
                index,
                text: String::new(),
            });
        }
        if let Some(b) = cur.as_mut() {
            b.text.push_str(line);
            b.text.push('\n');
            if t == ".end" || t.starts_with(".end ") || t.starts_with(".end;") {
                if let Some(b) = cur.take() {
                    blocks.push(b);
                }
            }
        }
    }
    blocks
}

/// The functions a block makes closures of: the second operand of each `closure`
/// instruction (a function name, or its index where names are not unique).
fn closure_targets(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("closure "))
        .filter_map(|rest| {
            let code = rest.split(';').next().unwrap_or("");
            code.split(',')
                .nth(1)
                .map(|s| s.trim().trim_matches('"').to_string())
        })
        .collect()
}

/// The `.func` ... `.end` blocks of a disassembly for function `name`: those named
/// `name` or ending in `.name` / `::name` (else the same for `short`, the part after
/// the last `.`), followed by the blocks of the closures they create (transitively).
pub fn function_blocks(listing: &str, name: &str, short: &str) -> Vec<String> {
    let blocks = blocks_of(listing);
    let matches = |f: &str, n: &str| {
        f == n || f.ends_with(&format!(".{n}")) || f.ends_with(&format!("::{n}"))
    };
    let mut chosen: Vec<usize> = (0..blocks.len())
        .filter(|&k| matches(&blocks[k].name, name))
        .collect();
    if chosen.is_empty() && short != name {
        chosen = (0..blocks.len())
            .filter(|&k| matches(&blocks[k].name, short))
            .collect();
    }
    let mut k = 0;
    while k < chosen.len() {
        for target in closure_targets(&blocks[chosen[k]].text) {
            let found = match target.parse::<usize>() {
                Ok(ix) => blocks.iter().position(|b| b.index == Some(ix)),
                Err(_) => blocks.iter().position(|b| b.name == target),
            };
            if let Some(f) = found {
                if !chosen.contains(&f) {
                    chosen.push(f);
                }
            }
        }
        k += 1;
    }
    chosen.into_iter().map(|k| blocks[k].text.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session whose programs print into a buffer.
    fn session() -> (Session, SharedBuf) {
        let mut s = Session::new();
        let buf = SharedBuf::default();
        s.output = Some(buf.clone());
        (s, buf)
    }

    fn out(msgs: &[Msg]) -> String {
        msgs.iter()
            .filter_map(|m| match m {
                Msg::Out(s) => Some(s.as_str()),
                Msg::Err(_) => None,
            })
            .collect()
    }

    fn err(msgs: &[Msg]) -> String {
        msgs.iter()
            .filter_map(|m| match m {
                Msg::Err(s) => Some(s.as_str()),
                Msg::Out(_) => None,
            })
            .collect()
    }

    /// Runs `input`; returns (results, errors, program output).
    fn run(s: &mut Session, buf: &SharedBuf, input: &str) -> (String, String, String) {
        let (m, next) = s.run(input);
        assert_eq!(next, Next::Continue, "{input}");
        (out(&m), err(&m), buf.take())
    }

    #[test]
    fn expressions_print_value_and_type() {
        let (mut s, b) = session();
        assert_eq!(run(&mut s, &b, "42").0, "42 : i64\n");
        assert_eq!(run(&mut s, &b, "[1, 2]").0, "[1, 2] : List<i64>\n");
        assert_eq!(run(&mut s, &b, "\"hi\\n\"").0, "\"hi\\n\" : str\n");
        assert_eq!(run(&mut s, &b, "'c'").0, "'c' : char\n");
        assert_eq!(run(&mut s, &b, "[\"a\"]").0, "[\"a\"] : List<str>\n");
        assert_eq!(
            run(&mut s, &b, "(1, 2.5, true)").0,
            "(1, 2.5, true) : (i64, f64, bool)\n"
        );
        assert_eq!(run(&mut s, &b, "Some(3u64)").0, "Some(3) : Option<u64>\n");
        assert_eq!(run(&mut s, &b, "1 + 2; // sum").0, "3 : i64\n");
        // Unit results print nothing; program output goes to the program's stdout.
        assert_eq!(
            run(&mut s, &b, "println(\"x\")"),
            ("".into(), "".into(), "x\n".into())
        );
        assert_eq!(run(&mut s, &b, "()"), ("".into(), "".into(), "".into()));
    }

    #[test]
    fn declarations_persist_and_are_replaced() {
        let (mut s, b) = session();
        let (o, e, _) = run(&mut s, &b, "f := (x: i64) -> i64 => {\n  x * 2\n};");
        assert_eq!((o.as_str(), e.as_str()), ("f : (i64) -> i64\n", ""));
        assert_eq!(run(&mut s, &b, "f(21)").0, "42 : i64\n");
        assert_eq!(
            run(&mut s, &b, "x := 1; y := x + 1; y").0,
            "x : i64 = 1\ny : i64 = 2\n2 : i64\n"
        );
        // Replaced in place: `y` sees the new `x`.
        assert_eq!(run(&mut s, &b, "x := 5").0, "x : i64 = 5\n");
        assert_eq!(run(&mut s, &b, "y").0, "6 : i64\n");
        // A redeclaration using a later value is reordered after it.
        run(&mut s, &b, "z := 10;");
        assert_eq!(run(&mut s, &b, "x := z + 1;").0, "x : i64 = 11\n");
        assert_eq!(run(&mut s, &b, "y").0, "12 : i64\n");
        let names = s.names();
        let at = |n: &str| names.iter().position(|x| x == n);
        assert!(at("z") < at("x") && at("x") < at("y"), "{names:?}");
        // Types and imports.
        assert_eq!(
            run(&mut s, &b, "Point := struct(x: f64, y: f64);").0,
            "Point : type\n"
        );
        assert_eq!(
            run(&mut s, &b, "Point(1.0, 2.0)").0,
            "Point(1.0, 2.0) : Point\n"
        );
        assert_eq!(run(&mut s, &b, "l := import(\"list\")").0, "l : module\n");
        assert_eq!(run(&mut s, &b, "l.len([1, 2])").0, "2 : i64\n");
        // Generic functions stay generic.
        assert_eq!(
            run(&mut s, &b, "id := (v) => v; id(1); id(\"a\")").0,
            "id : (a) -> a\n1 : i64\n\"a\" : str\n"
        );
        // A line comment at the end of a declaration does not swallow its `;`.
        assert_eq!(run(&mut s, &b, "c := 3 // three").0, "c : i64 = 3\n");
        assert_eq!(run(&mut s, &b, "c").0, "3 : i64\n");
    }

    #[test]
    fn errors_leave_the_session_unchanged() {
        let (mut s, b) = session();
        run(&mut s, &b, "x := 1;");
        let (o, e, _) = run(&mut s, &b, "1 + \"a\"");
        assert_eq!(o, "");
        assert!(e.contains("error") && e.contains("mismatched types"), "{e}");
        // A bad declaration is not kept, nor is the rest of its input run.
        let (o, e, _) = run(&mut s, &b, "x := \"one\" + 1; x");
        assert_eq!(o, "");
        assert!(e.contains("error"), "{e}");
        assert_eq!(run(&mut s, &b, "x").0, "1 : i64\n");
        // A declaration whose initialiser fails at run time is not kept either.
        let (o, e, _) = run(&mut s, &b, "bad := 1 / 0;");
        assert_eq!(o, "");
        assert!(e.contains("division by zero"), "{e}");
        assert_eq!(s.names(), vec!["x"]);
        // Runtime errors in expressions.
        let (_, e, _) = run(&mut s, &b, "[1, 2, 3].nope");
        assert!(e.contains("error"), "{e}");
        let (_, e, _) = run(&mut s, &b, "panic(\"boom\")");
        assert!(e.contains("boom"), "{e}");
        assert_eq!(run(&mut s, &b, "x + 1").0, "2 : i64\n");
    }

    #[test]
    fn a_result_too_large_to_print_is_not_built() {
        let (mut s, b) = session();
        // A hundred thousand references to one megabyte: 100 GB of text.
        let (o, e, _) = run(
            &mut s,
            &b,
            "{ s := str.repeat(\"x\", 1000000); list.map(list.range(0, 100000), (i) => s) }",
        );
        assert_eq!(
            o, "<more than 16 MiB of text; not shown> : List<str>\n",
            "{e}"
        );
    }

    #[test]
    fn output_before_an_error_is_shown() {
        let (mut s, b) = session();
        let (_, e, printed) = run(&mut s, &b, "{ println(\"before\"); 1 / 0 }");
        assert_eq!(printed, "before\n");
        assert!(e.contains("division by zero"), "{e}");
    }

    #[test]
    fn warnings_are_shown_once() {
        let (mut s, b) = session();
        let (o, e, _) = run(
            &mut s,
            &b,
            "w := (n: i64) -> i64 => match n { _ => 1, 2 => 3 };",
        );
        assert_eq!(o, "w : (i64) -> i64\n");
        assert!(e.contains("warning") && e.contains("unreachable"), "{e}");
        // Not again for later inputs.
        let (o, e, _) = run(&mut s, &b, "w(2)");
        assert_eq!((o.as_str(), e.as_str()), ("1 : i64\n", ""));
        let (_, e, _) = run(&mut s, &b, "match 1 { _ => 1, 2 => 3 }");
        assert!(e.contains("unreachable"), "{e}");
    }

    #[test]
    fn it_is_an_ordinary_name() {
        let (mut s, b) = session();
        assert_eq!(run(&mut s, &b, "it := 3").0, "it : i64 = 3\n");
        assert_eq!(run(&mut s, &b, "it + 1").0, "4 : i64\n");
        assert_eq!(run(&mut s, &b, ":t it").0, "it : i64\n");
    }

    #[test]
    fn type_command() {
        let (mut s, b) = session();
        let (o, _, printed) = run(&mut s, &b, ":t println(\"no\")");
        assert_eq!(
            (o.as_str(), printed.as_str()),
            ("println(\"no\") : ()\n", "")
        );
        assert_eq!(
            run(&mut s, &b, ":t list.map").0,
            "list.map : (List<a>, (a) -> b) -> List<b>\n"
        );
        let (o, e, _) = run(&mut s, &b, ":t nope");
        assert!(o.is_empty() && e.contains("error"), "{e}");
    }

    #[test]
    fn dis_command() {
        let (mut s, b) = session();
        run(&mut s, &b, "double := (x: i64) -> i64 => x * 2;");
        let (o, e, _) = run(&mut s, &b, ":dis double");
        assert!(
            o.starts_with(".func double/1") && o.contains(".end"),
            "{o}{e}"
        );
        assert_eq!(o.matches(".func").count(), 1, "{o}");
        let (o, _, _) = run(&mut s, &b, ":dis list.map");
        assert!(o.contains(".func list.map/2"), "{o}");
        let (o, e, _) = run(&mut s, &b, ":dis nothing_here");
        assert!(o.is_empty() && e.contains("error"), "{e}");
    }

    #[test]
    fn load_reset_defs() {
        let dir = std::env::temp_dir().join(format!("hashvm-repl-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        std::fs::write(
            dir.join("dep.hash"),
            "triple := (x: i64) -> i64 => 3 * x;\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("top.hash"),
            "d := import(\"dep\");\n// nine times\nnine := (x: i64) -> i64 => d.triple(d.triple(x));\nmain := () => { println(\"main\"); };\n",
        )
        .unwrap();
        std::fs::write(dir.join("bad.hash"), "1 + 2;\n").unwrap();
        let (mut s, b) = session();
        let top = dir.join("top.hash").display().to_string();
        let (o, e, _) = run(&mut s, &b, &format!(":load {top}"));
        assert_eq!(o, format!("loaded 3 declarations from {top}\n"), "{e}");
        assert_eq!(run(&mut s, &b, "nine(2)").0, "18 : i64\n");
        // `main` is kept but not run by evaluations.
        assert_eq!(run(&mut s, &b, "1").2, "");
        let (o, _, _) = run(&mut s, &b, ":defs");
        assert!(o.contains("nine :=") && o.contains("d := import"), "{o}");
        let (o, e, _) = run(
            &mut s,
            &b,
            &format!(":load {}", dir.join("bad.hash").display()),
        );
        assert!(o.is_empty() && e.contains("not a declaration"), "{e}");
        let (_, e, _) = run(&mut s, &b, ":load /no/such/file.hash");
        assert!(e.contains("error"), "{e}");
        assert_eq!(run(&mut s, &b, ":reset").0, "session cleared\n");
        assert!(s.defs().is_empty());
        assert!(run(&mut s, &b, "nine(2)").1.contains("error"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn exit_and_quit() {
        let (mut s, _) = session();
        assert_eq!(s.run("io.exit(3)").1, Next::Exit(3));
        assert_eq!(s.run(":quit").1, Next::Exit(0));
        assert_eq!(s.run(":q").1, Next::Exit(0));
        assert_eq!(s.run("").1, Next::Continue);
    }

    /// Raises the session's interrupt flag after `ms` milliseconds, as Ctrl-C would.
    fn interrupt_after(s: &Session, ms: u64) -> std::thread::JoinHandle<()> {
        let flag = s.interrupt.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            flag.store(true, Ordering::SeqCst);
        })
    }

    #[test]
    fn interrupt_stops_a_running_program() {
        let (mut s, b) = session();
        run(&mut s, &b, "spin := () => { while true {} };");
        let t = interrupt_after(&s, 200);
        let (_, e, _) = run(&mut s, &b, "spin()");
        t.join().unwrap();
        assert!(e.contains("interrupted"), "{e}");
        // A stale flag does not stop the next evaluation.
        s.interrupt.store(true, Ordering::SeqCst);
        assert_eq!(run(&mut s, &b, "1 + 1").0, "2 : i64\n");
    }

    #[test]
    fn interrupt_stops_compile_time_evaluation() {
        let (mut s, b) = session();
        run(&mut s, &b, "spin := () -> i64 => { while true {} 0 };");
        let t = interrupt_after(&s, 300);
        let (_, e, _) = run(&mut s, &b, "#run spin()");
        t.join().unwrap();
        assert!(e.contains("interrupted"), "{e}");
        assert_eq!(run(&mut s, &b, "2 + 2").0, "4 : i64\n");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let (mut s, _) = session();
        for input in [
            ")",
            "(",
            "\"",
            "'",
            "/*",
            ":",
            ":t )",
            ":dis )",
            ":dis",
            ";",
            ";;",
            "x :=",
            ":= 1",
            "main := 5",
            "main",
            "it := it",
            "#run 1",
            "é",
            "\u{0}",
            "x := 1; )",
            "{",
            "}",
            "import(\"nowhere\")",
            "q := import(\"nowhere\")",
        ] {
            let _ = s.run(input);
        }
    }

    #[test]
    fn order_follows_dependencies() {
        let d = |n: &str, t: &str| Def {
            name: n.into(),
            text: t.into(),
        };
        let defs = [d("x", "x := z + 1"), d("y", "y := x + 1"), d("z", "z := 3")];
        assert_eq!(dependency_order(&defs), vec![2, 0, 1]);
        let defs = [d("a", "a := 1"), d("b", "b := a"), d("c", "c := 2")];
        assert_eq!(dependency_order(&defs), vec![0, 1, 2]);
        // Cycles (mutual recursion) are broken; strings and members don't count.
        let defs = [
            d(
                "even",
                "even := (n) => if n == 0 { true } else { odd(n - 1) }",
            ),
            d(
                "odd",
                "odd := (n) => if n == 0 { false } else { even(n - 1) }",
            ),
            d("s", "s := \"even odd\""),
            d("m", "m := list.s"),
        ];
        assert_eq!(dependency_order(&defs), vec![1, 0, 2, 3]);
        assert_eq!(mentioned("a.b + c1 + 1u64 /* d */ \"e\""), vec!["a", "c1"]);
    }

    #[test]
    fn function_blocks_match_names() {
        let listing = ".module executable\n.func f/1 slots=2 ; function 0\n    closure r1, 3, r0, 1 ; 0\n    ret r1\n.end\n.func ff/0 slots=1 ; function 1\n    closure r1, \"<lambda>\", r0, 1 ; 0\n    ret r0\n.end\n.func list.map/2 slots=5 ; function 2\n    ret r0\n.end\n.func <lambda>/1 slots=1 ; function 3\n    ret r0\n.end\n";
        let f = function_blocks(listing, "f", "f");
        assert_eq!(f.len(), 2);
        assert!(
            f[0].starts_with(".func f/1") && f[1].starts_with(".func <lambda>/1"),
            "{f:?}"
        );
        assert_eq!(function_blocks(listing, "ff", "ff").len(), 2);
        assert_eq!(function_blocks(listing, "list.map", "map").len(), 1);
        assert_eq!(function_blocks(listing, "map", "map").len(), 1);
        assert!(function_blocks(listing, "g", "g").is_empty());
    }
}
