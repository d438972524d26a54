//! The assembler: a token cursor, the name tables, and [`assemble`], which turns
//! `.hasm` text into a [`Module`], reporting every error it can find in one run. Labels
//! and jumps to them go through the builder's [`Labels`], as the compiler's do.

use super::*;

// ------------------------------------------------------------------------ cursor

pub(super) type PErr = (usize, String);
pub(super) type P<T> = Result<T, PErr>;

pub(super) struct Cur<'a> {
    pub(super) t: &'a [Token],
    pub(super) p: usize,
    pub(super) end: usize,
}

impl<'a> Cur<'a> {
    pub(super) fn new(line: &'a Line) -> Cur<'a> {
        Cur {
            t: &line.toks,
            p: 0,
            end: line.end,
        }
    }
    pub(super) fn peek(&self) -> Option<&'a Tok> {
        self.t.get(self.p).map(|t| &t.tok)
    }
    pub(super) fn peek_at(&self, k: usize) -> Option<&'a Tok> {
        self.t.get(self.p + k).map(|t| &t.tok)
    }
    pub(super) fn col(&self) -> usize {
        self.t.get(self.p).map_or(self.end, |t| t.col)
    }
    pub(super) fn next(&mut self) -> Option<&'a Tok> {
        let t = self.t.get(self.p).map(|t| &t.tok);
        if t.is_some() {
            self.p += 1;
        }
        t
    }
    pub(super) fn err<T>(&self, msg: impl Into<String>) -> P<T> {
        Err((self.col(), msg.into()))
    }
    /// An error about the token just consumed.
    pub(super) fn err_prev<T>(&self, msg: impl Into<String>) -> P<T> {
        let col = self
            .p
            .checked_sub(1)
            .and_then(|p| self.t.get(p))
            .map_or(self.end, |t| t.col);
        Err((col, msg.into()))
    }
    pub(super) fn is_p(&self, c: char) -> bool {
        matches!(self.peek(), Some(Tok::P(x)) if *x == c)
    }
    pub(super) fn eat(&mut self, c: char) -> bool {
        let yes = self.is_p(c);
        if yes {
            self.p += 1;
        }
        yes
    }
    pub(super) fn expect(&mut self, c: char) -> P<()> {
        if self.eat(c) {
            Ok(())
        } else {
            self.err(format!("expected `{c}`, found {}", describe(self.peek())))
        }
    }
    pub(super) fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }
    pub(super) fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.p += 1;
        }
        yes
    }
    pub(super) fn done(&self) -> P<()> {
        if self.p < self.t.len() {
            self.err(format!(
                "unexpected {} at the end of the line",
                describe(self.peek())
            ))
        } else {
            Ok(())
        }
    }
    pub(super) fn name(&mut self, what: &str) -> P<String> {
        match self.peek() {
            Some(Tok::Ident(s)) | Some(Tok::Str(s)) => {
                self.p += 1;
                Ok(s.clone())
            }
            t => self.err(format!("expected {what}, found {}", describe(t))),
        }
    }
    pub(super) fn int(&mut self, what: &str) -> P<i128> {
        match self.peek() {
            Some(Tok::Num(s)) => {
                self.p += 1;
                parse_int(s).map_or_else(|| self.err_prev(format!("`{s}` is not an integer")), Ok)
            }
            t => self.err(format!("expected {what}, found {}", describe(t))),
        }
    }
    pub(super) fn uint<T: TryFrom<i128>>(&mut self, what: &str, max: u128) -> P<T> {
        let v = self.int(what)?;
        T::try_from(v).or_else(|_| self.err_prev(format!("{what} must be in 0..={max}, not {v}")))
    }
}

// ------------------------------------------------------------------------ names

/// A namespace: each name maps to its first index and, if it has one, a second.
#[derive(Default)]
pub(super) struct Names(HashMap<String, (u32, Option<u32>)>);

impl Names {
    pub(super) fn add(&mut self, name: &str, i: u32) {
        self.0
            .entry(name.to_string())
            .and_modify(|e| {
                e.1.get_or_insert(i);
            })
            .or_insert((i, None));
    }
}

#[derive(Clone, Copy)]
pub(super) enum Ns {
    Func,
    Global,
    Type,
    File,
    Foreign,
}

impl Ns {
    pub(super) fn what(self) -> &'static str {
        match self {
            Ns::Func => "function",
            Ns::Global => "global",
            Ns::Type => "type",
            Ns::File => "file",
            Ns::Foreign => "foreign function",
        }
    }
}

// ------------------------------------------------------------------------ assembler

/// A function body being assembled. Its labels are the builder's ([`Labels`]), each
/// pending jump noted with where the reference is (line, column) and the label's name.
#[derive(Default)]
pub(super) struct Body {
    pub(super) code: Vec<u8>,
    pub(super) labels: Labels<(usize, usize, String)>,
    pub(super) names: HashMap<String, Label>,
    pub(super) lines: Vec<LineEntry>,
    pub(super) used_slots: u32,
}

impl Body {
    /// The label named `name`, created unbound on first use.
    fn label(&mut self, name: &str) -> Label {
        match self.names.get(name) {
            Some(&l) => l,
            None => {
                let l = self.labels.new_label();
                self.names.insert(name.to_string(), l);
                l
            }
        }
    }
}

pub(super) struct Asm<'a> {
    pub(super) file: &'a str,
    pub(super) errors: Vec<(usize, usize, String)>,
    pub(super) m: Module,
    pub(super) funcs: Names,
    pub(super) globals: Names,
    pub(super) types: Names,
    pub(super) files: Names,
    pub(super) foreigns: Names,
    pub(super) entry_seen: bool,
}

/// Assembles `.hasm` text into a module. `file_name` is used in error messages only.
/// Returns every error found (up to a limit), sorted by position; never panics.
pub fn assemble(src: &str, file_name: &str) -> Result<Module, Vec<AsmError>> {
    let mut a = Asm {
        file: file_name,
        errors: Vec::new(),
        m: Module::default(),
        funcs: Names::default(),
        globals: Names::default(),
        types: Names::default(),
        files: Names::default(),
        foreigns: Names::default(),
        entry_seen: false,
    };
    let mut lex_errors = Vec::new();
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let lines: Vec<Line> = src
        .split('\n')
        .enumerate()
        .map(|(i, l)| lex_line(i + 1, l.strip_suffix('\r').unwrap_or(l), &mut lex_errors))
        .collect();
    a.errors = lex_errors;
    a.declare(&lines);
    a.define(&lines);
    if a.errors.is_empty() {
        return Ok(a.m);
    }
    a.errors.sort_by_key(|e| (e.0, e.1));
    a.errors.dedup();
    let total = a.errors.len();
    let file = a.file.to_string();
    let mut out: Vec<AsmError> = a
        .errors
        .into_iter()
        .take(MAX_ERRORS)
        .map(|(line, col, message)| AsmError {
            file: file.clone(),
            line,
            col,
            message,
        })
        .collect();
    if total > MAX_ERRORS {
        if let Some(last) = out.last().cloned() {
            out.push(AsmError {
                message: format!("{} more errors not shown", total - MAX_ERRORS),
                ..last
            });
        }
    }
    Err(out)
}

impl Asm<'_> {
    pub(super) fn report(&mut self, line: &Line, e: PErr) {
        if !line.bad {
            self.errors.push((line.no, e.0, e.1));
        }
    }

    pub(super) fn lookup(&self, ns: Ns, name: &str) -> Result<u32, String> {
        let table = match ns {
            Ns::Func => &self.funcs,
            Ns::Global => &self.globals,
            Ns::Type => &self.types,
            Ns::File => &self.files,
            Ns::Foreign => &self.foreigns,
        };
        match table.0.get(name) {
            Some((i, None)) => Ok(*i),
            Some((i, Some(j))) => Err(format!(
                "`{name}` names {w} {i} and {w} {j}: refer to it by number",
                w = ns.what()
            )),
            None => Err(format!("no {} is named `{name}`", ns.what())),
        }
    }

    /// A reference: a number (any `u32`, not range-checked: that is the verifier's job)
    /// or a unique name.
    pub(super) fn reference(&self, c: &mut Cur, ns: Ns) -> P<u32> {
        match c.peek() {
            Some(Tok::Num(_)) => c.uint(&format!("a {} index", ns.what()), u32::MAX as u128),
            Some(Tok::Ident(s)) | Some(Tok::Str(s)) => {
                let col = c.col();
                c.p += 1;
                self.lookup(ns, s).map_err(|e| (col, e))
            }
            t => c.err(format!(
                "expected a {} name or number, found {}",
                ns.what(),
                describe(t)
            )),
        }
    }

    /// The constructor index named `name` in type `ty`.
    pub(super) fn ctor_by_name(&self, ty: u32, name: &str) -> Result<u16, String> {
        let names = ctor_names(&self.m, ty);
        let mut hits = names.iter().enumerate().filter(|(_, n)| **n == name);
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => u16::try_from(i).map_err(|_| "too many constructors".into()),
            (Some(_), Some(_)) => Err(format!(
                "type {ty} has two constructors named `{name}`: use the number"
            )),
            (None, _) => Err(format!("type {ty} has no constructor named `{name}`")),
        }
    }

    // ---------------------------------------------------------------- pass 1

    /// Pass 1: numbers every function, global and type and reads the type and file
    /// declarations, so that pass 2 can resolve forward references.
    pub(super) fn declare(&mut self, lines: &[Line]) {
        for (i, b) in builtin::TYPES.iter().enumerate() {
            self.types.add(b.0, i as u32);
        }
        let (mut nf, mut ng) = (0u32, 0u32);
        let mut in_type = false;
        for line in lines {
            let mut c = Cur::new(line);
            let Some(first) = c.next() else { continue };
            let was_in_type = std::mem::replace(&mut in_type, false);
            let r = match first {
                Tok::Dir(d) if d == "func" => {
                    if let Some(Tok::Ident(n) | Tok::Str(n)) = c.peek() {
                        self.funcs.add(n, nf);
                    }
                    nf += 1;
                    Ok(())
                }
                Tok::Dir(d) if d == "global" => {
                    if let Some(Tok::Ident(n) | Tok::Str(n)) = c.peek() {
                        self.globals.add(n, ng);
                    }
                    ng += 1;
                    Ok(())
                }
                Tok::Dir(d) if d == "file" => c.name("a file name").and_then(|n| {
                    c.done()?;
                    self.files.add(&n, self.m.debug.files.len() as u32);
                    self.m.debug.files.push(n);
                    Ok(())
                }),
                Tok::Dir(d) if d == "type" => {
                    in_type = true;
                    self.type_decl(&mut c)
                }
                Tok::Dir(d) if d == "foreign" => self.foreign_decl(&mut c),
                Tok::P('|') => {
                    if was_in_type {
                        in_type = true;
                        c.p = 0;
                        self.ctors(&mut c)
                    } else {
                        Err((
                            first_col(line),
                            "a `|` constructor line must follow `.type` or another `|` line".into(),
                        ))
                    }
                }
                _ => Ok(()),
            };
            if let Err(e) = r {
                self.report(line, e);
            }
        }
    }

    /// `.foreign "LIBRARY" SYMBOL (TYPE, ...) : TYPE`, numbered in order.
    pub(super) fn foreign_decl(&mut self, c: &mut Cur) -> P<()> {
        let library = c.name("the library name")?;
        let symbol = c.name("the C symbol")?;
        let ty = |c: &mut Cur| -> P<FfiType> {
            let n = c.name("a foreign type")?;
            FfiType::from_name(&n).map_or_else(
                || {
                    c.err_prev(format!(
                        "`{n}` is not a foreign type (unit, bool, i64, i32, u64, f64, char, str, bytes, ptr)"
                    ))
                },
                Ok,
            )
        };
        c.expect('(')?;
        let mut params = Vec::new();
        while !c.eat(')') {
            params.push(ty(c)?);
            if !c.eat(',') {
                c.expect(')')?;
                break;
            }
        }
        c.expect(':')?;
        let ret = ty(c)?;
        c.done()?;
        let i = u32::try_from(self.m.foreigns.len())
            .or_else(|_| c.err("too many foreign functions"))?;
        self.foreigns.add(&symbol, i);
        self.m.foreigns.push(Foreign {
            library,
            symbol,
            params,
            ret,
        });
        Ok(())
    }

    pub(super) fn type_decl(&mut self, c: &mut Cur) -> P<()> {
        let id = FIRST_USER_TYPE as u64 + self.m.types.len() as u64;
        let id = u32::try_from(id).or_else(|_| c.err("too many types"))?;
        if c.eat_kw("import") {
            let symbol = c.name("the imported symbol")?;
            c.done()?;
            self.types.add(&symbol, id);
            self.m.types.push(TypeDef::Import { symbol });
            return Ok(());
        }
        let name = c.name("a type name")?;
        self.types.add(&name, id);
        self.m.types.push(TypeDef::Defined {
            name,
            ctors: Vec::new(),
        });
        self.ctors(c)
    }

    /// Reads `| Ctor | Ctor(field, ...) | Ctor/arity` into the last type.
    pub(super) fn ctors(&mut self, c: &mut Cur) -> P<()> {
        if c.is_p('|') && !matches!(self.m.types.last(), Some(TypeDef::Defined { .. })) {
            return c.err("an imported type has no constructors here");
        }
        while c.eat('|') {
            let name = c.name("a constructor name")?;
            let (arity, fields) = if c.eat('/') {
                (c.uint("an arity", u16::MAX as u128)?, Vec::new())
            } else if c.eat('(') {
                let mut fields = Vec::new();
                while !c.eat(')') {
                    fields.push(c.name("a field name")?);
                    if !c.eat(',') {
                        c.expect(')')?;
                        break;
                    }
                }
                let n = u16::try_from(fields.len()).or_else(|_| c.err("too many fields"))?;
                (n, fields)
            } else {
                (0, Vec::new())
            };
            if let Some(TypeDef::Defined { ctors, .. }) = self.m.types.last_mut() {
                ctors.push(Ctor {
                    name,
                    arity,
                    fields,
                });
            }
        }
        c.done()
    }

    // ---------------------------------------------------------------- pass 2

    pub(super) fn define(&mut self, lines: &[Line]) {
        let mut i = 0;
        while i < lines.len() {
            let line = &lines[i];
            i += 1;
            let mut c = Cur::new(line);
            let Some(first) = c.next() else { continue };
            let r = match first {
                Tok::Dir(d) => match d.as_str() {
                    "type" | "file" | "foreign" => Ok(()),
                    "func" => {
                        i = self.function(lines, i - 1);
                        Ok(())
                    }
                    "lines" => {
                        i = self.lines_block(lines, i - 1);
                        Ok(())
                    }
                    "module" => self.module_kind(&mut c),
                    "flags" => c.uint("the flags", u32::MAX as u128).and_then(|f| {
                        self.m.flags = f;
                        c.done()
                    }),
                    "library" => c.name("a library name").and_then(|n| {
                        self.m.libraries.push(n);
                        c.done()
                    }),
                    "global" => self.global(&mut c),
                    "export" => self.export(&mut c),
                    "init" => self.reference(&mut c, Ns::Func).and_then(|f| {
                        self.m.inits.push(f);
                        c.done()
                    }),
                    "entry" => self.entry(&mut c),
                    "end" => Err((
                        first_col(line),
                        "`.end` without an open `.func` or `.lines`".into(),
                    )),
                    "loc" | "bytes" => Err((
                        first_col(line),
                        format!("`.{d}` belongs inside a `.func` body"),
                    )),
                    _ => Err((first_col(line), format!("unknown directive `.{d}`"))),
                },
                Tok::P('|') => Ok(()),
                Tok::Ident(_) => Err((
                    first_col(line),
                    "instruction or label outside a `.func` body".into(),
                )),
                t => Err((
                    first_col(line),
                    format!("expected a directive, found {}", describe(Some(t))),
                )),
            };
            if let Err(e) = r {
                self.report(line, e);
            }
        }
    }

    pub(super) fn module_kind(&mut self, c: &mut Cur) -> P<()> {
        if c.eat_kw("executable") {
            self.m.flags |= FLAG_EXECUTABLE;
        } else if c.eat_kw("linkable") {
            self.m.flags &= !FLAG_EXECUTABLE;
        } else {
            return c.err("expected `executable` or `linkable`");
        }
        c.done()
    }

    pub(super) fn entry(&mut self, c: &mut Cur) -> P<()> {
        let f = self.reference(c, Ns::Func)?;
        if std::mem::replace(&mut self.entry_seen, true) {
            return c.err_prev("the entry point is already set");
        }
        self.m.entry = Some(f);
        c.done()
    }

    pub(super) fn global(&mut self, c: &mut Cur) -> P<()> {
        let name = c.name("a global name")?;
        let init = if c.eat('=') {
            GlobalInit::Const(self.konst(c, 0)?)
        } else if c.eat_kw("import") {
            GlobalInit::Import(c.name("the imported symbol")?)
        } else {
            c.eat_kw("uninit");
            GlobalInit::Uninit
        };
        c.done()?;
        self.m.globals.push(Global { name, init });
        Ok(())
    }

    pub(super) fn export(&mut self, c: &mut Cur) -> P<()> {
        let name = c.name("the exported symbol")?;
        let target = if c.eat_kw("global") {
            ExportTarget::Global(self.reference(c, Ns::Global)?)
        } else if c.eat_kw("type") {
            let id = self.reference(c, Ns::Type)?;
            match id.checked_sub(FIRST_USER_TYPE) {
                Some(i) => ExportTarget::Type(i),
                None => return c.err_prev("only types of the module's type table can be exported"),
            }
        } else if c.eat_kw("type_index") {
            ExportTarget::Type(c.uint("a type table index", u32::MAX as u128)?)
        } else {
            return c.err("expected `global`, `type` or `type_index`");
        };
        c.done()?;
        self.m.exports.push(Export { name, target });
        Ok(())
    }

    /// `.lines FUNC` then rows `OFFSET FILE LINE COL` up to `.end`: a line table given
    /// verbatim. Returns the index of the first line after the block.
    pub(super) fn lines_block(&mut self, lines: &[Line], at: usize) -> usize {
        let Some(head) = lines.get(at) else {
            return at + 1;
        };
        let mut c = Cur::new(head);
        c.next();
        let func = match self
            .reference(&mut c, Ns::Func)
            .and_then(|f| c.done().map(|_| f))
        {
            Ok(f) => f,
            Err(e) => {
                self.report(head, e);
                0
            }
        };
        let mut entries = Vec::new();
        let mut i = at + 1;
        while let Some(line) = lines.get(i) {
            let mut c = Cur::new(line);
            match c.peek() {
                None => {
                    i += 1;
                    continue;
                }
                Some(Tok::Dir(d)) if d == "end" => {
                    c.next();
                    if let Err(e) = c.done() {
                        self.report(line, e);
                    }
                    self.m.debug.lines.push(FuncLines { func, entries });
                    return i + 1;
                }
                Some(Tok::Dir(_)) => break,
                _ => {}
            }
            let row = (|| -> P<LineEntry> {
                let offset = c.uint("a code offset", u32::MAX as u128)?;
                let file = self.reference(&mut c, Ns::File)?;
                let line = c.uint("a line number", u32::MAX as u128)?;
                let col = c.uint("a column number", u32::MAX as u128)?;
                c.done()?;
                Ok(LineEntry {
                    offset,
                    file,
                    line,
                    col,
                })
            })();
            match row {
                Ok(e) => entries.push(e),
                Err(e) => self.report(line, e),
            }
            i += 1;
        }
        self.report(head, (1, "`.lines` block has no `.end`".into()));
        self.m.debug.lines.push(FuncLines { func, entries });
        i
    }

    /// Reads a `.func` header and body up to `.end`. Returns the index of the first line
    /// after it.
    pub(super) fn function(&mut self, lines: &[Line], at: usize) -> usize {
        let Some(head) = lines.get(at) else {
            return at + 1;
        };
        let index = self.m.functions.len() as u32;
        let mut c = Cur::new(head);
        c.next();
        let header = (|| -> P<(String, u16, u16, Option<u16>)> {
            let name = c.name("a function name")?;
            c.expect('/')?;
            let arity = c.uint("the arity", u16::MAX as u128)?;
            let (mut caps, mut slots) = (None, None);
            while let Some(Tok::Ident(k)) = c.peek() {
                let which = match k.as_str() {
                    "captures" => &mut caps,
                    "slots" => &mut slots,
                    _ => return c.err(format!("unknown function attribute `{k}`")),
                };
                c.next();
                c.expect('=')?;
                if which.is_some() {
                    return c.err_prev(format!("`{k}` given twice"));
                }
                *which = Some(c.uint(k, u16::MAX as u128)?);
            }
            c.done()?;
            Ok((name, arity, caps.unwrap_or(0), slots))
        })();
        let (name, arity, ncaptures, slots) = match header {
            Ok(h) => h,
            Err(e) => {
                self.report(head, e);
                (String::new(), 0, 0, None)
            }
        };
        let mut body = Body::default();
        let mut i = at + 1;
        let mut closed = false;
        while let Some(line) = lines.get(i) {
            let mut c = Cur::new(line);
            match c.peek() {
                Some(Tok::Dir(d)) if d == "end" => {
                    c.next();
                    if let Err(e) = c.done() {
                        self.report(line, e);
                    }
                    closed = true;
                    i += 1;
                    break;
                }
                Some(Tok::Dir(d)) if d != "loc" && d != "bytes" => {
                    self.report(
                        line,
                        (
                            first_col(line),
                            format!("`.{d}` inside a function body: missing `.end`?"),
                        ),
                    );
                    break;
                }
                _ => {}
            }
            if let Err(e) = self.body_line(&mut c, &mut body, line.no) {
                self.report(line, e);
            }
            i += 1;
        }
        if !closed && lines.get(i).is_none() {
            self.report(head, (1, format!("`.func {name}` has no `.end`")));
        }
        let labels = std::mem::take(&mut body.labels);
        for ((line, col, name), e) in labels.resolve(&mut body.code) {
            let msg = match e {
                LabelError::Unbound => format!("no label `{name}` in this function"),
                LabelError::TooFar => "jump too far for an i32 offset".to_string(),
            };
            self.errors.push((line, col, msg));
        }
        let nslots = match slots {
            Some(n) => n,
            None => {
                let need = body.used_slots.max(arity as u32).max(1);
                u16::try_from(need).unwrap_or_else(|_| {
                    self.report(
                        head,
                        (1, format!("the function needs {need} slots; at most 65535")),
                    );
                    u16::MAX
                })
            }
        };
        if !body.lines.is_empty() {
            self.m.debug.lines.push(FuncLines {
                func: index,
                entries: std::mem::take(&mut body.lines),
            });
        }
        self.m.functions.push(Function {
            name,
            arity,
            ncaptures,
            nslots,
            code: body.code,
        });
        i
    }

    pub(super) fn body_line(&mut self, c: &mut Cur, body: &mut Body, line: usize) -> P<()> {
        while let (Some(Tok::Ident(l)), Some(Tok::P(':'))) = (c.peek(), c.peek_at(1)) {
            let label = body.label(l);
            if !body.labels.bind(label, body.code.len()) {
                return c.err(format!("label `{l}` is defined twice"));
            }
            c.p += 2;
        }
        match c.next() {
            None => Ok(()),
            Some(Tok::P('|')) => Ok(()), // reported by pass 1
            Some(Tok::Dir(d)) if d == "loc" => {
                let file = self.reference(c, Ns::File)?;
                let ln = c.uint("a line number", u32::MAX as u128)?;
                let col = if c.peek().is_some() {
                    c.uint("a column number", u32::MAX as u128)?
                } else {
                    0
                };
                c.done()?;
                let offset = u32::try_from(body.code.len()).or_else(|_| c.err("code too long"))?;
                let e = LineEntry {
                    offset,
                    file,
                    line: ln,
                    col,
                };
                match body.lines.last_mut() {
                    Some(last) if last.offset == offset => *last = e,
                    _ => body.lines.push(e),
                }
                Ok(())
            }
            Some(Tok::Dir(d)) if d == "bytes" => {
                while c.peek().is_some() {
                    let b: u8 = c.uint("a byte", 255)?;
                    body.code.push(b);
                    c.eat(',');
                }
                Ok(())
            }
            Some(Tok::Dir(d)) => c.err_prev(format!("`.{d}` cannot follow a label")),
            Some(Tok::Ident(m)) => {
                let Some(op) = Op::from_mnemonic(m) else {
                    return c.err_prev(format!("unknown instruction `{m}`"));
                };
                self.instruction(c, op, body, line)
            }
            Some(t) => c.err_prev(format!(
                "expected an instruction, found {}",
                describe(Some(t))
            )),
        }
    }

    pub(super) fn target(
        &self,
        c: &mut Cur,
        fix: &mut Vec<(usize, String, usize)>,
        at: usize,
    ) -> P<i32> {
        if c.eat('$') {
            let v = c.int("an offset like `+8`")?;
            return i32::try_from(v).or_else(|_| c.err_prev("offset out of the i32 range"));
        }
        match c.peek() {
            Some(Tok::Ident(l)) => {
                fix.push((at, l.clone(), c.col()));
                c.p += 1;
                Ok(0)
            }
            t => c.err(format!(
                "expected a label or `$+offset`, found {}",
                describe(t)
            )),
        }
    }

    pub(super) fn instruction(
        &mut self,
        c: &mut Cur,
        op: Op,
        body: &mut Body,
        line: usize,
    ) -> P<()> {
        let start = body.code.len();
        let mut pos = start + op.opcode_len();
        let mut args = Vec::with_capacity(op.operands().len());
        let mut fix: Vec<(usize, String, usize)> = Vec::new();
        let mut last_type = None;
        for (n, &k) in op.operands().iter().enumerate() {
            if n > 0 {
                c.eat(',');
            }
            let a = match k {
                OperandKind::Dst | OperandKind::Src | OperandKind::Base => {
                    let s = match c.peek() {
                        Some(Tok::Ident(s)) => s
                            .strip_prefix('r')
                            .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
                            .and_then(|d| d.parse::<u16>().ok()),
                        _ => None,
                    };
                    let Some(s) = s else {
                        return c.err(format!(
                            "expected a slot like `r0` ({} operand of `{}`), found {}",
                            k.name(),
                            op.mnemonic(),
                            describe(c.peek())
                        ));
                    };
                    c.p += 1;
                    Operand::Slot(s)
                }
                OperandKind::Imm32 | OperandKind::Char => match c.peek() {
                    Some(Tok::Char(ch)) => {
                        c.p += 1;
                        Operand::Imm32(*ch as i32)
                    }
                    _ => {
                        let v = c.int("an i32 immediate")?;
                        Operand::Imm32(
                            i32::try_from(v).or_else(|_| c.err_prev("out of the i32 range"))?,
                        )
                    }
                },
                OperandKind::Imm64 => {
                    let v = c.int("an i64 immediate")?;
                    if v < i64::MIN as i128 || v > u64::MAX as i128 {
                        return c.err_prev("out of the 64-bit range");
                    }
                    Operand::Imm64(v as i64)
                }
                OperandKind::F64 => Operand::F64(self.float(c)?),
                OperandKind::Global => Operand::Global(self.reference(c, Ns::Global)?),
                OperandKind::Func => Operand::Func(self.reference(c, Ns::Func)?),
                OperandKind::Foreign => Operand::Foreign(self.reference(c, Ns::Foreign)?),
                OperandKind::Type => {
                    let t = self.reference(c, Ns::Type)?;
                    last_type = Some(t);
                    Operand::Type(t)
                }
                OperandKind::Tag => match (c.peek(), last_type) {
                    (Some(Tok::Ident(s) | Tok::Str(s)), Some(ty)) => {
                        let col = c.col();
                        c.p += 1;
                        Operand::U16(self.ctor_by_name(ty, s).map_err(|e| (col, e))?)
                    }
                    _ => Operand::U16(c.uint("a constructor index", u16::MAX as u128)?),
                },
                OperandKind::Count => Operand::U16(c.uint("a count", u16::MAX as u128)?),
                OperandKind::Index => Operand::U16(c.uint("an index", u16::MAX as u128)?),
                OperandKind::Jump => Operand::Jump(self.target(c, &mut fix, pos)?),
                OperandKind::Table => {
                    c.expect('[')?;
                    let mut cases = Vec::new();
                    let mut case_fix = Vec::new();
                    while !c.eat(']') {
                        let at = pos + jump_table::case(cases.len());
                        cases.push(self.target(c, &mut case_fix, at)?);
                        if !c.eat(',') {
                            c.expect(']')?;
                            break;
                        }
                    }
                    if cases.len() > u16::MAX as usize {
                        return c.err_prev("a jump table has at most 65535 cases");
                    }
                    if !c.eat_kw("else") {
                        return c.err("expected `else DEFAULT` after the jump table");
                    }
                    let def = self.target(c, &mut fix, pos + jump_table::DEFAULT)?;
                    fix.extend(case_fix);
                    Operand::Table(def, cases)
                }
            };
            pos += match (k.width(), &a) {
                (Some(w), _) => w,
                (None, Operand::Table(_, v)) => jump_table::len(v.len()),
                (None, _) => 0,
            };
            args.push(a);
        }
        c.done()?;
        let insn = Insn::new(op, args);
        let used = insn.slot_runs().iter().map(|r| r.end()).max().unwrap_or(0);
        insn.encode(&mut body.code);
        body.used_slots = body.used_slots.max(used);
        for (at, name, col) in fix {
            let l = body.label(&name);
            body.labels.jump(at, start, l, (line, col, name));
        }
        Ok(())
    }

    /// A float: a decimal literal, `inf`, `nan`, or `bits 0xHEX` for exact bits.
    pub(super) fn float(&self, c: &mut Cur) -> P<u64> {
        if c.eat_kw("bits") {
            let v = c.int("the f64 bits")?;
            return u64::try_from(v).or_else(|_| c.err_prev("bits must fit 64 bits"));
        }
        match c.peek() {
            Some(Tok::Num(s) | Tok::Ident(s)) => {
                c.p += 1;
                parse_float(s).map_or_else(|| c.err_prev(format!("`{s}` is not a float")), Ok)
            }
            t => c.err(format!("expected a float, found {}", describe(t))),
        }
    }

    pub(super) fn const_list(&self, c: &mut Cur, close: char, depth: usize) -> P<Vec<Const>> {
        let mut v = Vec::new();
        while !c.eat(close) {
            v.push(self.konst(c, depth + 1)?);
            if !c.eat(',') {
                c.expect(close)?;
                break;
            }
        }
        Ok(v)
    }

    pub(super) fn data(&self, c: &mut Cur, ty: u32, depth: usize) -> P<Const> {
        c.expect(':')?;
        let tag = match c.peek() {
            Some(Tok::Ident(s) | Tok::Str(s)) => {
                let col = c.col();
                c.p += 1;
                self.ctor_by_name(ty, s).map_err(|e| (col, e))?
            }
            _ => c.uint("a constructor index", u16::MAX as u128)?,
        };
        let fields = if c.eat('(') {
            self.const_list(c, ')', depth)?
        } else {
            Vec::new()
        };
        Ok(Const::Data { ty, tag, fields })
    }

    pub(super) fn konst(&self, c: &mut Cur, depth: usize) -> P<Const> {
        if depth > MAX_CONST_DEPTH {
            return c.err(format!("constant nested deeper than {MAX_CONST_DEPTH}"));
        }
        let col = c.col();
        let data_next = c.peek_at(1) == Some(&Tok::P(':'));
        let Some(t) = c.next() else {
            return c.err("expected a constant");
        };
        let int_of = |c: &mut Cur, what: &str, lo: i128, hi: i128| -> P<i128> {
            let v = c.int(what)?;
            if v < lo || v > hi {
                return c.err_prev(format!("{v} is out of range for {what}"));
            }
            Ok(v)
        };
        Ok(match t {
            Tok::P('(') => {
                if c.eat(')') {
                    Const::Unit
                } else if c.eat(',') {
                    c.expect(')')?;
                    Const::Tuple(Vec::new())
                } else {
                    let first = self.konst(c, depth + 1)?;
                    if c.is_p(')') {
                        return c.err("a one-element tuple is written `(x,)`");
                    }
                    c.expect(',')?;
                    let mut v = vec![first];
                    v.extend(self.const_list(c, ')', depth)?);
                    Const::Tuple(v)
                }
            }
            Tok::P('[') => Const::List(self.const_list(c, ']', depth)?),
            Tok::P('#') => {
                c.expect('[')?;
                Const::Array(self.const_list(c, ']', depth)?)
            }
            Tok::Str(s) | Tok::Ident(s) if data_next => {
                let ty = self.lookup(Ns::Type, s).map_err(|e| (col, e))?;
                self.data(c, ty, depth)?
            }
            Tok::Num(s) if data_next => {
                let ty = parse_int(s)
                    .and_then(|v| u32::try_from(v).ok())
                    .map_or_else(|| Err((col, format!("`{s}` is not a type id"))), Ok)?;
                self.data(c, ty, depth)?
            }
            Tok::Str(s) => Const::Str(s.clone()),
            Tok::Bytes(b) => Const::Bytes(b.clone()),
            Tok::Char(ch) => Const::Char(*ch),
            Tok::Num(s) if is_float_text(s) => Const::F64(
                parse_float(s).map_or_else(|| Err((col, format!("`{s}` is not a float"))), Ok)?,
            ),
            Tok::Num(s) => {
                let v = parse_int(s)
                    .map_or_else(|| Err((col, format!("`{s}` is not a number"))), Ok)?;
                Const::I64(i64::try_from(v).map_err(|_| {
                    (
                        col,
                        format!("{v} does not fit an i64: write `u64 {v}` or `big {v}`"),
                    )
                })?)
            }
            Tok::Ident(k) => match k.as_str() {
                "true" => Const::Bool(true),
                "false" => Const::Bool(false),
                "inf" | "infinity" | "nan" | "NaN" => {
                    c.p -= 1;
                    Const::F64(self.float(c)?)
                }
                "f64" | "bits" => {
                    if k == "bits" {
                        c.p -= 1;
                    }
                    Const::F64(self.float(c)?)
                }
                "i64" => {
                    Const::I64(int_of(c, "an i64", i64::MIN as i128, i64::MAX as i128)? as i64)
                }
                "u64" => Const::U64(int_of(c, "a u64", 0, u64::MAX as i128)? as u64),
                "big" => match c.next() {
                    Some(Tok::Num(s)) => Const::Big(
                        parse_big(s)
                            .map_or_else(|| c.err_prev(format!("`{s}` is not an integer")), Ok)?,
                    ),
                    t => return c.err_prev(format!("expected an integer, found {}", describe(t))),
                },
                "ratio" => {
                    let n = match c.next() {
                        Some(Tok::Num(s)) => parse_big(s),
                        _ => None,
                    };
                    let Some(n) = n else {
                        return c.err_prev("expected a numerator");
                    };
                    c.expect('/')?;
                    let d = match c.next() {
                        Some(Tok::Num(s)) => parse_big(s),
                        _ => None,
                    };
                    let Some(d) = d else {
                        return c.err_prev("expected a denominator");
                    };
                    match BigRatio::new(n, d) {
                        Some(r) => Const::Ratio(r),
                        None => return c.err_prev("a ratio's denominator must not be zero"),
                    }
                }
                "closure" => {
                    let func = self.reference(c, Ns::Func)?;
                    c.expect('(')?;
                    Const::Closure {
                        func,
                        captures: self.const_list(c, ')', depth)?,
                    }
                }
                "fn" => Const::Func(self.reference(c, Ns::Func)?),
                "ref" => Const::Ref(Box::new(self.konst(c, depth + 1)?)),
                "global" => Const::Global(self.reference(c, Ns::Global)?),
                _ => {
                    return Err((
                        col,
                        format!("unknown constant `{k}` (data values are written TYPE:CTOR(...))"),
                    ))
                }
            },
            t => {
                return Err((
                    col,
                    format!("expected a constant, found {}", describe(Some(t))),
                ))
            }
        })
    }
}

/// The constructor names of type `ty` (builtin or defined; none for anything else), by
/// tag: what constructor names in `con` operands and data constants refer to.
pub(super) fn ctor_names(m: &Module, ty: u32) -> Vec<&str> {
    if ty < FIRST_USER_TYPE {
        builtin::TYPES
            .get(ty as usize)
            .map(|(_, cs)| cs.iter().map(|c| c.0).collect())
            .unwrap_or_default()
    } else {
        match m.types.get((ty - FIRST_USER_TYPE) as usize) {
            Some(TypeDef::Defined { ctors, .. }) => ctors.iter().map(|c| c.name.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

pub(super) fn first_col(line: &Line) -> usize {
    line.toks.first().map_or(1, |t| t.col)
}
