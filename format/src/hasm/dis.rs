//! The disassembler: [`disassemble`] writes any decodable module as `.hasm` that
//! assembles back to the same bytes, falling back to numbers, `$+N` offsets and
//! `.bytes` where a label or name cannot say something.

use super::*;

/// Whether `s` can be written without quotes wherever a name stands.
pub(super) fn is_bare(s: &str) -> bool {
    let mut cs = s.chars();
    let Some(first) = cs.next() else {
        return false;
    };
    is_ident_start(first)
        && cs.all(is_ident_cont)
        && !KEYWORDS.contains(&s)
        && !(s.len() > 1 && s.starts_with('r') && s[1..].chars().all(|c| c.is_ascii_digit()))
}

pub(super) fn escape_char(out: &mut String, c: char, quote: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\0' => out.push_str("\\0"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c)
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape_char(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// A name as it must be written: bare when possible, else quoted.
pub(super) fn name(s: &str) -> String {
    if is_bare(s) {
        s.to_string()
    } else {
        quote(s)
    }
}

pub(super) fn char_lit(c: u32) -> Option<String> {
    let ch = char::from_u32(c)?;
    let mut out = String::from("'");
    escape_char(&mut out, ch, '\'');
    out.push('\'');
    Some(out)
}

pub(super) fn bytes_lit(b: &[u8]) -> String {
    let mut out = String::from("b\"");
    for &x in b {
        match x {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(x as char),
            _ => {
                let _ = write!(out, "\\x{x:02x}");
            }
        }
    }
    out.push('"');
    out
}

pub(super) enum Item {
    Insn(Insn),
    Raw(Vec<u8>),
}

/// One function split into printable items, with the offsets a label or `.loc` may
/// stand at (item starts and the end of the code).
pub(super) struct Split {
    pub(super) items: Vec<(usize, Item)>,
    pub(super) boundary: Vec<bool>,
}

pub(super) fn split(code: &[u8]) -> Split {
    let mut items: Vec<(usize, Item)> = Vec::new();
    let mut boundary = vec![false; code.len() + 1];
    let mut p = 0;
    let mut raw_at = 0;
    let mut raw: Vec<u8> = Vec::new();
    let flush = |items: &mut Vec<(usize, Item)>, raw: &mut Vec<u8>, raw_at: usize| {
        if !raw.is_empty() {
            items.push((raw_at, Item::Raw(std::mem::take(raw))));
        }
    };
    while p < code.len() {
        match Insn::decode(code, p) {
            Ok((insn, n)) => {
                flush(&mut items, &mut raw, raw_at);
                items.push((p, Item::Insn(insn)));
                p += n;
            }
            Err(e) => {
                let n = match e {
                    DecodeError::BadOpcode(..) => 1,
                    DecodeError::Truncated => code.len() - p,
                };
                for &b in code.get(p..p + n).unwrap_or_default() {
                    if raw.len() == 16 {
                        flush(&mut items, &mut raw, raw_at);
                    }
                    if raw.is_empty() {
                        raw_at = p;
                    }
                    raw.push(b);
                    p += 1;
                }
            }
        }
    }
    flush(&mut items, &mut raw, raw_at);
    for (off, _) in &items {
        if let Some(b) = boundary.get_mut(*off) {
            *b = true;
        }
    }
    if let Some(b) = boundary.last_mut() {
        *b = true;
    }
    Split { items, boundary }
}

pub(super) struct Dis<'a> {
    pub(super) m: &'a Module,
    pub(super) out: String,
    pub(super) funcs: HashMap<&'a str, u32>,
    pub(super) globals: HashMap<&'a str, u32>,
    pub(super) types: HashMap<&'a str, u32>,
    pub(super) files: HashMap<&'a str, u32>,
    pub(super) foreigns: HashMap<&'a str, u32>,
}

pub(super) fn count<'a>(it: impl Iterator<Item = &'a str>) -> HashMap<&'a str, u32> {
    let mut h = HashMap::new();
    for s in it {
        *h.entry(s).or_insert(0) += 1;
    }
    h
}

pub(super) fn type_label(t: &TypeDef) -> &str {
    match t {
        TypeDef::Defined { name, .. } => name,
        TypeDef::Import { symbol } => symbol,
    }
}

/// Prints a module as `.hasm` text that [`assemble`] turns back into the same bytes.
/// Names are used where they are unique, numbers elsewhere; comments give each item's
/// index and each instruction's offset.
pub fn disassemble(m: &Module) -> String {
    let mut d = Dis::new(m);
    d.module();
    d.out
}

/// The `.func … .end` text of function `index` of `m`, as [`disassemble`] writes it
/// (names of other functions, globals and types as in the whole listing, `.loc` lines
/// for its line table), for tools that show one function: the REPL's `:dis`, tests.
/// `None` when there is no such function.
pub fn disassemble_function(m: &Module, index: u32) -> Option<String> {
    let f = m.functions.get(index as usize)?;
    let mut d = Dis::new(m);
    let sp = split(&f.code);
    let lines = m
        .debug
        .lines
        .iter()
        .find(|t| t.func == index)
        .map(|t| t.entries.as_slice())
        .unwrap_or(&[]);
    // Line entries that do not fall on instruction boundaries cannot be `.loc` lines.
    let inline = lines
        .iter()
        .all(|e| sp.boundary.get(e.offset as usize).copied().unwrap_or(false));
    d.function(index as usize, f, &sp, if inline { lines } else { &[] });
    Some(d.out)
}

/// The index of the function called `name` in `m` (the first, if several share it).
pub fn function_index(m: &Module, name: &str) -> Option<u32> {
    m.functions
        .iter()
        .position(|f| f.name == name)
        .map(|i| i as u32)
}

impl<'a> Dis<'a> {
    fn new(m: &'a Module) -> Dis<'a> {
        Dis {
            m,
            out: String::new(),
            funcs: count(m.functions.iter().map(|f| f.name.as_str())),
            globals: count(m.globals.iter().map(|g| g.name.as_str())),
            types: count(
                builtin::TYPES
                    .iter()
                    .map(|t| t.0)
                    .chain(m.types.iter().map(type_label)),
            ),
            files: count(m.debug.files.iter().map(|f| f.as_str())),
            foreigns: count(m.foreigns.iter().map(|f| f.symbol.as_str())),
        }
    }
}

impl Dis<'_> {
    pub(super) fn fref(&self, i: u32) -> String {
        match self.m.functions.get(i as usize) {
            Some(f) if self.funcs.get(f.name.as_str()) == Some(&1) => name(&f.name),
            _ => i.to_string(),
        }
    }
    pub(super) fn foreign_ref(&self, i: u32) -> String {
        match self.m.foreigns.get(i as usize) {
            Some(f) if self.foreigns.get(f.symbol.as_str()) == Some(&1) => name(&f.symbol),
            _ => i.to_string(),
        }
    }
    pub(super) fn gref(&self, i: u32) -> String {
        match self.m.globals.get(i as usize) {
            Some(g) if self.globals.get(g.name.as_str()) == Some(&1) => name(&g.name),
            _ => i.to_string(),
        }
    }
    pub(super) fn tref(&self, id: u32) -> String {
        let label = if id < FIRST_USER_TYPE {
            builtin::TYPES.get(id as usize).map(|t| t.0)
        } else {
            self.m
                .types
                .get((id - FIRST_USER_TYPE) as usize)
                .map(type_label)
        };
        match label {
            Some(l) if self.types.get(l) == Some(&1) => name(l),
            _ => id.to_string(),
        }
    }
    pub(super) fn file_ref(&self, i: u32) -> String {
        match self.m.debug.files.get(i as usize) {
            Some(f) if self.files.get(f.as_str()) == Some(&1) => quote(f),
            _ => i.to_string(),
        }
    }
    pub(super) fn ctor_ref(&self, ty: u32, tag: u16) -> String {
        let names = ctor_names(self.m, ty);
        match names.get(tag as usize) {
            Some(n) if !n.is_empty() && names.iter().filter(|x| *x == n).count() == 1 => name(n),
            _ => tag.to_string(),
        }
    }

    pub(super) fn konst(&self, out: &mut String, c: &Const) {
        let list = |out: &mut String, v: &[Const], open: &str, close: &str| {
            out.push_str(open);
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                self.konst(out, x);
            }
            out.push_str(close);
        };
        match c {
            Const::Unit => out.push_str("()"),
            Const::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Const::I64(v) => {
                let _ = write!(out, "{v}");
            }
            Const::U64(v) => {
                let _ = write!(out, "u64 {v}");
            }
            Const::F64(b) => out.push_str(&fmt_f64(*b)),
            Const::Char(v) => match char_lit(*v) {
                Some(s) => out.push_str(&s),
                // Not a scalar: the reader rejects it, so no decoded module has one;
                // print something the assembler will point at.
                None => {
                    let _ = write!(out, "'\\u{{{v:x}}}'");
                }
            },
            Const::Str(s) => out.push_str(&quote(s)),
            Const::Bytes(b) => out.push_str(&bytes_lit(b)),
            Const::Big(v) => {
                let _ = write!(out, "big {v}");
            }
            Const::Ratio(r) => {
                let _ = write!(out, "ratio {}/{}", r.numer(), r.denom());
            }
            Const::Data { ty, tag, fields } => {
                let _ = write!(out, "{}:{}", self.tref(*ty), self.ctor_ref(*ty, *tag));
                if !fields.is_empty() {
                    list(out, fields, "(", ")");
                }
            }
            Const::Tuple(v) => match v.len() {
                0 => out.push_str("(,)"),
                1 => list(out, v, "(", ",)"),
                _ => list(out, v, "(", ")"),
            },
            Const::List(v) => list(out, v, "[", "]"),
            Const::Array(v) => list(out, v, "#[", "]"),
            Const::Closure { func, captures } => {
                let _ = write!(out, "closure {}", self.fref(*func));
                list(out, captures, "(", ")");
            }
            Const::Func(f) => {
                let _ = write!(out, "fn {}", self.fref(*f));
            }
            Const::Ref(c) => {
                out.push_str("ref ");
                self.konst(out, c);
            }
            Const::Global(g) => {
                let _ = write!(out, "global {}", self.gref(*g));
            }
        }
    }

    pub(super) fn line(&mut self, text: &str, comment: &str) {
        self.out.push_str(text);
        if !comment.is_empty() {
            let width = text.chars().count();
            let pad = 40usize.saturating_sub(width).max(1);
            self.out.push_str(&" ".repeat(pad));
            self.out.push_str("; ");
            self.out.push_str(comment);
        }
        self.out.push('\n');
    }

    pub(super) fn module(&mut self) {
        let m = self.m;
        self.out
            .push_str("; hashvm assembly, as printed by the disassembler\n");
        if m.flags & !FLAG_EXECUTABLE != 0 {
            self.line(&format!(".flags 0x{:x}", m.flags), "");
        } else if m.is_executable() {
            self.line(".module executable", "");
        } else {
            self.line(".module linkable", "");
        }
        for l in &m.libraries {
            self.line(&format!(".library {}", name(l)), "");
        }
        for (i, f) in m.debug.files.iter().enumerate() {
            self.line(&format!(".file {}", quote(f)), &format!("file {i}"));
        }
        for (i, f) in m.foreigns.iter().enumerate() {
            let ps: Vec<&str> = f.params.iter().map(|p| p.name()).collect();
            self.line(
                &format!(
                    ".foreign {} {} ({}) : {}",
                    quote(&f.library),
                    name(&f.symbol),
                    ps.join(", "),
                    f.ret.name()
                ),
                &format!("foreign {i}"),
            );
        }
        for (i, t) in m.types.iter().enumerate() {
            let id = FIRST_USER_TYPE as u64 + i as u64;
            match t {
                TypeDef::Import { symbol } => self.line(
                    &format!(".type import {}", name(symbol)),
                    &format!("type {id}"),
                ),
                TypeDef::Defined { name: n, ctors } => {
                    self.line(&format!(".type {}", name(n)), &format!("type {id}"));
                    for (k, c) in ctors.iter().enumerate() {
                        let mut s = format!("  | {}", name(&c.name));
                        if !c.fields.is_empty() {
                            let fs: Vec<String> = c.fields.iter().map(|f| name(f)).collect();
                            let _ = write!(s, "({})", fs.join(", "));
                        } else if c.arity != 0 {
                            let _ = write!(s, "/{}", c.arity);
                        }
                        self.line(&s, &format!("tag {k}"));
                    }
                }
            }
        }
        for (i, g) in m.globals.iter().enumerate() {
            let mut s = format!(".global {}", name(&g.name));
            match &g.init {
                GlobalInit::Uninit => s.push_str(" uninit"),
                GlobalInit::Import(sym) => {
                    let _ = write!(s, " import {}", name(sym));
                }
                GlobalInit::Const(c) => {
                    s.push_str(" = ");
                    self.konst(&mut s, c);
                }
            }
            self.line(&s, &format!("global {i}"));
        }
        let splits: Vec<Split> = m.functions.iter().map(|f| split(&f.code)).collect();
        let inline = self.lines_inline(&splits);
        for (i, (f, sp)) in m.functions.iter().zip(&splits).enumerate() {
            let entries = if inline {
                m.debug
                    .lines
                    .iter()
                    .find(|t| t.func as usize == i)
                    .map(|t| t.entries.as_slice())
            } else {
                None
            };
            self.function(i, f, sp, entries.unwrap_or(&[]));
        }
        for e in &m.exports {
            let target = match e.target {
                ExportTarget::Global(g) => format!("global {}", self.gref(g)),
                ExportTarget::Type(t) => match m.types.get(t as usize).map(type_label) {
                    Some(l) if self.types.get(l) == Some(&1) => format!("type {}", name(l)),
                    _ => format!("type_index {t}"),
                },
            };
            self.line(&format!(".export {} {target}", name(&e.name)), "");
        }
        for &f in &m.inits {
            self.line(&format!(".init {}", self.fref(f)), "");
        }
        if let Some(e) = m.entry {
            self.line(&format!(".entry {}", self.fref(e)), "");
        }
        if !inline {
            for t in &m.debug.lines {
                self.line(&format!(".lines {}", self.fref(t.func)), "");
                for e in &t.entries {
                    let s = format!(
                        "    {} {} {} {}",
                        e.offset,
                        self.file_ref(e.file),
                        e.line,
                        e.col
                    );
                    self.line(&s, "");
                }
                self.line(".end", "");
            }
        }
    }

    /// Whether the line tables can be printed as `.loc` lines inside function bodies
    /// and still reassemble to the same bytes: one non-empty table per function, in
    /// function order, with increasing offsets at places a `.loc` can stand.
    pub(super) fn lines_inline(&self, splits: &[Split]) -> bool {
        let mut prev: Option<u32> = None;
        for t in &self.m.debug.lines {
            if prev.is_some_and(|p| t.func <= p) || t.entries.is_empty() {
                return false;
            }
            prev = Some(t.func);
            let Some(sp) = splits.get(t.func as usize) else {
                return false;
            };
            let mut last: Option<u32> = None;
            for e in &t.entries {
                if last.is_some_and(|l| e.offset <= l)
                    || !sp.boundary.get(e.offset as usize).copied().unwrap_or(false)
                {
                    return false;
                }
                last = Some(e.offset);
            }
        }
        true
    }

    pub(super) fn function(&mut self, index: usize, f: &Function, sp: &Split, lines: &[LineEntry]) {
        let mut head = format!(".func {}/{}", name(&f.name), f.arity);
        if f.ncaptures != 0 {
            let _ = write!(head, " captures={}", f.ncaptures);
        }
        let _ = write!(head, " slots={}", f.nslots);
        self.line(&head, &format!("function {index}"));
        let len = f.code.len() as i64;
        let at_boundary = |t: i64| t >= 0 && t <= len && sp.boundary.get(t as usize) == Some(&true);
        let mut targets: Vec<usize> = Vec::new();
        for (off, item) in &sp.items {
            if let Item::Insn(insn) = item {
                for a in &insn.args {
                    let rels: Vec<i32> = match a {
                        Operand::Jump(j) => vec![*j],
                        Operand::Table(d, v) => {
                            std::iter::once(*d).chain(v.iter().copied()).collect()
                        }
                        _ => continue,
                    };
                    for r in rels {
                        let t = *off as i64 + r as i64;
                        if at_boundary(t) {
                            targets.push(t as usize);
                        }
                    }
                }
            }
        }
        targets.sort_unstable();
        targets.dedup();
        let label = |t: usize| targets.binary_search(&t).ok().map(|k| format!("L{k}"));
        let target_text = |off: usize, rel: i32| {
            let t = off as i64 + rel as i64;
            match (at_boundary(t), label(t as usize)) {
                (true, Some(l)) => l,
                _ => format!("${}{rel}", if rel >= 0 { "+" } else { "" }),
            }
        };
        let mut li = 0;
        let mut marks = |d: &mut Self, off: usize| {
            if let Some(l) = label(off) {
                d.line(&format!("{l}:"), "");
            }
            while let Some(e) = lines.get(li).filter(|e| e.offset as usize == off) {
                let s = format!("    .loc {} {} {}", d.file_ref(e.file), e.line, e.col);
                d.line(&s, "");
                li += 1;
            }
        };
        for (off, item) in &sp.items {
            marks(self, *off);
            let text = match item {
                Item::Raw(b) => {
                    let bs: Vec<String> = b.iter().map(|x| format!("0x{x:02x}")).collect();
                    format!("    .bytes {}", bs.join(", "))
                }
                Item::Insn(insn) => self.insn_text(insn, *off, &target_text),
            };
            self.line(&text, &off.to_string());
        }
        marks(self, f.code.len());
        self.line(".end", "");
    }

    pub(super) fn insn_text(
        &self,
        insn: &Insn,
        off: usize,
        target: &dyn Fn(usize, i32) -> String,
    ) -> String {
        let mut ops = Vec::with_capacity(insn.args.len());
        let mut last_type = None;
        for (k, a) in insn.op.operands().iter().zip(insn.args.iter()) {
            ops.push(match (k, a) {
                (_, Operand::Slot(s)) => format!("r{s}"),
                (k, Operand::Imm32(v)) => {
                    let as_char = *k == OperandKind::Char;
                    match char_lit(*v as u32).filter(|_| as_char) {
                        Some(s) => s,
                        None => v.to_string(),
                    }
                }
                (_, Operand::Imm64(v)) => {
                    if insn.op == Op::LoadU64 {
                        (*v as u64).to_string()
                    } else {
                        v.to_string()
                    }
                }
                (_, Operand::F64(b)) => fmt_f64(*b),
                (_, Operand::Global(g)) => self.gref(*g),
                (_, Operand::Func(f)) => self.fref(*f),
                (_, Operand::Foreign(f)) => self.foreign_ref(*f),
                (_, Operand::Type(t)) => {
                    last_type = Some(*t);
                    self.tref(*t)
                }
                (OperandKind::Tag, Operand::U16(t)) => match last_type {
                    Some(ty) => self.ctor_ref(ty, *t),
                    None => t.to_string(),
                },
                (_, Operand::U16(v)) => v.to_string(),
                (_, Operand::Jump(j)) => target(off, *j),
                (_, Operand::Table(d, v)) => {
                    let cs: Vec<String> = v.iter().map(|j| target(off, *j)).collect();
                    format!("[{}] else {}", cs.join(", "), target(off, *d))
                }
            });
        }
        if ops.is_empty() {
            format!("    {}", insn.op.mnemonic())
        } else {
            format!("    {:<10} {}", insn.op.mnemonic(), ops.join(", "))
        }
    }
}
