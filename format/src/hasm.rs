//! The `.hasm` text form of a module: an assembler ([`assemble`]) and a disassembler
//! ([`disassemble`]).
//!
//! It exists so that people can read what a compiler produced, write test programs and
//! runtime pieces by hand, and so that tests can state bytecode legibly. The text
//! expresses *everything* a `.hbc` file can hold, including files the verifier would
//! reject, so that `write(assemble(disassemble(m))) == write(m)` for every module that
//! decodes: where a label or a name cannot say something (a jump into the middle of an
//! instruction, an undecodable byte, a name shared by two functions), the disassembler
//! falls back to numbers, `$+N` offsets and `.bytes` escapes.
//!
//! SPEC.md ("Assembly language (.hasm)") is the reference for the syntax; in brief:
//!
//! ```
//! use hashvm_format::hasm::{assemble, disassemble};
//! let src = r#"
//! ; comments run from `;` to the end of the line
//! .module executable
//! .type Shape
//!   | Circle(radius)
//!   | Rect/2
//! .global origin = (0.0, 0.0)
//! .func area/1 slots=3
//!     jntag r0, 0, rect          ; not a Circle?
//!     field r1, r0, 0
//!     mul.f64 r1, r1, r1
//!     ret r1
//! rect:
//!     field r1, r0, 0
//!     field r2, r0, 1
//!     mul.f64 r1, r1, r2
//!     ret r1
//! .end
//! .func main/0
//!     loadf r0, 2.0
//!     con r1, Shape, Circle, r0, 1
//!     callk r2, area, r1, 1
//!     f64.to_i64 r2, r2
//!     ret r2
//! .end
//! .entry main
//! "#;
//! let m = assemble(src, "area.hasm").expect("assembles");
//! hashvm_format::verify(&m).expect("verifies");
//! let again = assemble(&disassemble(&m), "dis.hasm").expect("reassembles");
//! assert_eq!(hashvm_format::write(&again), hashvm_format::write(&m));
//! ```

use crate::bignum::{BigInt, BigRatio};
use crate::binary::MAX_CONST_DEPTH;
use crate::insn::{DecodeError, Insn, Operand};
use crate::module::*;
use crate::opcode::{jump_table, Op, OperandKind};
use std::collections::HashMap;
use std::fmt::{self, Write as _};

/// One assembly error, with the position it was found at. `assemble` returns all the
/// errors it could find in one run (up to a limit), sorted by position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// The file name given to [`assemble`], for display.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for AsmError {}

/// At most this many errors are reported by one run.
const MAX_ERRORS: usize = 100;

/// The bits of the canonical NaN, written `nan` (other NaNs are written `bits 0x...`).
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Words that have a meaning of their own where a name may stand; the disassembler
/// quotes names equal to one of them.
const KEYWORDS: &[&str] = &[
    "import",
    "uninit",
    "true",
    "false",
    "i64",
    "u64",
    "f64",
    "big",
    "ratio",
    "bits",
    "inf",
    "nan",
    "NaN",
    "infinity",
    "closure",
    "fn",
    "ref",
    "global",
    "type",
    "type_index",
    "else",
    "executable",
    "linkable",
];

// ------------------------------------------------------------------------ lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Bytes(Vec<u8>),
    Char(u32),
    /// A word starting with a digit or a sign: an integer or a float, read in context.
    Num(String),
    /// `.name`, without the dot.
    Dir(String),
    P(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    col: usize,
}

struct Line {
    no: usize,
    toks: Vec<Token>,
    /// The column just past the last character, for "expected ... at end of line".
    end: usize,
    /// The lexer already reported an error here: further errors are noise.
    bad: bool,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_cont(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '\'' | '?' | '!')
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "the end of the line".into(),
        Some(Tok::Ident(s)) => format!("`{s}`"),
        Some(Tok::Str(_)) => "a string".into(),
        Some(Tok::Bytes(_)) => "a byte string".into(),
        Some(Tok::Char(_)) => "a char literal".into(),
        Some(Tok::Num(s)) => format!("`{s}`"),
        Some(Tok::Dir(s)) => format!("`.{s}`"),
        Some(Tok::P(c)) => format!("`{c}`"),
    }
}

/// Reads the escape after a backslash at `chars[*i]`; `bytes` allows `\xNN`. Returns
/// the code point (or byte value).
fn lex_escape(chars: &[char], i: &mut usize, bytes: bool) -> Result<u32, String> {
    let Some(&c) = chars.get(*i) else {
        return Err("unfinished escape".into());
    };
    *i += 1;
    Ok(match c {
        'n' => 10,
        't' => 9,
        'r' => 13,
        '0' => 0,
        '\\' | '"' | '\'' => c as u32,
        'x' if bytes => {
            let h: String = chars.iter().skip(*i).take(2).collect();
            *i += 2;
            if h.len() != 2 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err("`\\x` needs two hex digits".into());
            }
            u32::from_str_radix(&h, 16).map_err(|e| e.to_string())?
        }
        'x' => return Err("`\\xNN` is only for byte strings; write `\\u{NN}`".into()),
        'u' => {
            if chars.get(*i) != Some(&'{') {
                return Err("`\\u` needs `{hex digits}`".into());
            }
            *i += 1;
            let mut h = String::new();
            while let Some(&d) = chars.get(*i) {
                *i += 1;
                if d == '}' {
                    break;
                }
                h.push(d);
                if h.len() > 6 {
                    return Err("too many digits in `\\u{...}`".into());
                }
            }
            let v = u32::from_str_radix(&h, 16).map_err(|_| format!("bad `\\u{{{h}}}` escape"))?;
            if char::from_u32(v).is_none() {
                return Err(format!("`\\u{{{h}}}` is not a Unicode scalar value"));
            }
            v
        }
        c => return Err(format!("unknown escape `\\{c}`")),
    })
}

fn lex_line(no: usize, text: &str, errors: &mut Vec<(usize, usize, String)>) -> Line {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut bad = false;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == ';' {
            break;
        }
        let next = chars.get(i + 1).copied();
        let tok = if c == '"' || (c == 'b' && next == Some('"')) {
            let is_bytes = c == 'b';
            i += if is_bytes { 2 } else { 1 };
            let mut s = String::new();
            let mut b = Vec::new();
            let mut closed = false;
            while let Some(&d) = chars.get(i) {
                i += 1;
                let escape_col = i;
                match d {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match lex_escape(&chars, &mut i, is_bytes) {
                        Ok(v) => {
                            if is_bytes {
                                if v < 0x100 {
                                    b.push(v as u8)
                                } else if let Some(ch) = char::from_u32(v) {
                                    b.extend(ch.to_string().as_bytes())
                                }
                            } else if let Some(ch) = char::from_u32(v) {
                                s.push(ch)
                            }
                        }
                        Err(e) => {
                            errors.push((no, escape_col, e));
                            bad = true;
                            break;
                        }
                    },
                    d => {
                        if is_bytes {
                            let mut buf = [0; 4];
                            b.extend(d.encode_utf8(&mut buf).as_bytes())
                        } else {
                            s.push(d)
                        }
                    }
                }
            }
            if bad {
                break;
            }
            if !closed {
                errors.push((no, col, "string is not closed on this line".into()));
                bad = true;
                break;
            }
            if is_bytes {
                Tok::Bytes(b)
            } else {
                Tok::Str(s)
            }
        } else if c == '\'' {
            i += 1;
            let mut err_col = col;
            let v = match chars.get(i) {
                Some('\\') => {
                    i += 1;
                    err_col = i;
                    lex_escape(&chars, &mut i, false)
                }
                Some('\'') | None => Err("empty char literal".into()),
                Some(&d) => {
                    i += 1;
                    Ok(d as u32)
                }
            };
            match v {
                Ok(v) if chars.get(i) == Some(&'\'') => {
                    i += 1;
                    Tok::Char(v)
                }
                Ok(_) => {
                    errors.push((no, col, "char literal is not closed".into()));
                    bad = true;
                    break;
                }
                Err(e) => {
                    errors.push((no, err_col, e));
                    bad = true;
                    break;
                }
            }
        } else if c == '.' && next.is_some_and(is_ident_start) {
            i += 1;
            let start = i;
            while chars.get(i).is_some_and(|&d| is_ident_cont(d) && d != '.') {
                i += 1;
            }
            Tok::Dir(chars[start..i].iter().collect())
        } else if c.is_ascii_digit()
            || ((c == '-' || c == '+') && next.is_some_and(|d| d.is_ascii_alphanumeric()))
        {
            let start = i;
            i += 1;
            let unsigned_start = if c.is_ascii_digit() { start } else { start + 1 };
            let hex = matches!(
                (chars.get(unsigned_start), chars.get(unsigned_start + 1)),
                (Some('0'), Some('x' | 'X'))
            );
            while let Some(&d) = chars.get(i) {
                let prev = chars[i - 1];
                if d.is_ascii_alphanumeric()
                    || d == '_'
                    || d == '.'
                    || ((d == '+' || d == '-') && !hex && matches!(prev, 'e' | 'E'))
                {
                    i += 1;
                } else {
                    break;
                }
            }
            Tok::Num(chars[start..i].iter().collect())
        } else if is_ident_start(c) {
            let start = i;
            while chars.get(i).is_some_and(|&d| is_ident_cont(d)) {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if matches!(
            c,
            ',' | ':' | '(' | ')' | '[' | ']' | '|' | '/' | '=' | '#' | '$'
        ) {
            i += 1;
            Tok::P(c)
        } else {
            errors.push((no, col, format!("unexpected character {c:?}")));
            bad = true;
            break;
        };
        toks.push(Token { tok, col });
    }
    Line {
        no,
        toks,
        end: chars.len() + 1,
        bad,
    }
}

// ------------------------------------------------------------------------ numbers

fn split_int(s: &str) -> Option<(bool, u32, String)> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.replace('_', "");
    let (radix, digits) = if let Some(d) = rest.strip_prefix("0x").or(rest.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = rest.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = rest.strip_prefix("0o") {
        (8, d)
    } else {
        (10, rest.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some((neg, radix, digits.to_string()))
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, radix, digits) = split_int(s)?;
    let v = i128::try_from(u128::from_str_radix(&digits, radix).ok()?).ok()?;
    Some(if neg { -v } else { v })
}

fn parse_big(s: &str) -> Option<BigInt> {
    let (neg, radix, digits) = split_int(s)?;
    BigInt::parse_digits(&digits, radix, neg)
}

fn is_float_text(s: &str) -> bool {
    let u = s.trim_start_matches(['+', '-']);
    if u.starts_with("0x") || u.starts_with("0X") || u.starts_with("0b") || u.starts_with("0o") {
        return false;
    }
    u.contains(['.', 'e', 'E']) || matches!(u, "inf" | "infinity" | "nan" | "NaN")
}

fn parse_float(s: &str) -> Option<u64> {
    if s.contains('_') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    Some(if v.is_nan() {
        CANONICAL_NAN
    } else {
        v.to_bits()
    })
}

/// Prints an `f64` so that it reads back to the same bits.
fn fmt_f64(bits: u64) -> String {
    let v = f64::from_bits(bits);
    if v.is_nan() {
        if bits == CANONICAL_NAN {
            "nan".into()
        } else {
            format!("bits 0x{bits:016x}")
        }
    } else {
        format!("{v:?}")
    }
}

// ------------------------------------------------------------------------ cursor

type PErr = (usize, String);
type P<T> = Result<T, PErr>;

struct Cur<'a> {
    t: &'a [Token],
    p: usize,
    end: usize,
}

impl<'a> Cur<'a> {
    fn new(line: &'a Line) -> Cur<'a> {
        Cur {
            t: &line.toks,
            p: 0,
            end: line.end,
        }
    }
    fn peek(&self) -> Option<&'a Tok> {
        self.t.get(self.p).map(|t| &t.tok)
    }
    fn peek_at(&self, k: usize) -> Option<&'a Tok> {
        self.t.get(self.p + k).map(|t| &t.tok)
    }
    fn col(&self) -> usize {
        self.t.get(self.p).map_or(self.end, |t| t.col)
    }
    fn next(&mut self) -> Option<&'a Tok> {
        let t = self.t.get(self.p).map(|t| &t.tok);
        if t.is_some() {
            self.p += 1;
        }
        t
    }
    fn err<T>(&self, msg: impl Into<String>) -> P<T> {
        Err((self.col(), msg.into()))
    }
    /// An error about the token just consumed.
    fn err_prev<T>(&self, msg: impl Into<String>) -> P<T> {
        let col = self
            .p
            .checked_sub(1)
            .and_then(|p| self.t.get(p))
            .map_or(self.end, |t| t.col);
        Err((col, msg.into()))
    }
    fn is_p(&self, c: char) -> bool {
        matches!(self.peek(), Some(Tok::P(x)) if *x == c)
    }
    fn eat(&mut self, c: char) -> bool {
        let yes = self.is_p(c);
        if yes {
            self.p += 1;
        }
        yes
    }
    fn expect(&mut self, c: char) -> P<()> {
        if self.eat(c) {
            Ok(())
        } else {
            self.err(format!("expected `{c}`, found {}", describe(self.peek())))
        }
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.p += 1;
        }
        yes
    }
    fn done(&self) -> P<()> {
        if self.p < self.t.len() {
            self.err(format!(
                "unexpected {} at the end of the line",
                describe(self.peek())
            ))
        } else {
            Ok(())
        }
    }
    fn name(&mut self, what: &str) -> P<String> {
        match self.peek() {
            Some(Tok::Ident(s)) | Some(Tok::Str(s)) => {
                self.p += 1;
                Ok(s.clone())
            }
            t => self.err(format!("expected {what}, found {}", describe(t))),
        }
    }
    fn int(&mut self, what: &str) -> P<i128> {
        match self.peek() {
            Some(Tok::Num(s)) => {
                self.p += 1;
                parse_int(s).map_or_else(|| self.err_prev(format!("`{s}` is not an integer")), Ok)
            }
            t => self.err(format!("expected {what}, found {}", describe(t))),
        }
    }
    fn uint<T: TryFrom<i128>>(&mut self, what: &str, max: u128) -> P<T> {
        let v = self.int(what)?;
        T::try_from(v).or_else(|_| self.err_prev(format!("{what} must be in 0..={max}, not {v}")))
    }
}

// ------------------------------------------------------------------------ names

/// A namespace: each name maps to its first index and, if it has one, a second.
#[derive(Default)]
struct Names(HashMap<String, (u32, Option<u32>)>);

impl Names {
    fn add(&mut self, name: &str, i: u32) {
        self.0
            .entry(name.to_string())
            .and_modify(|e| {
                e.1.get_or_insert(i);
            })
            .or_insert((i, None));
    }
}

#[derive(Clone, Copy)]
enum Ns {
    Func,
    Global,
    Type,
    File,
}

impl Ns {
    fn what(self) -> &'static str {
        match self {
            Ns::Func => "function",
            Ns::Global => "global",
            Ns::Type => "type",
            Ns::File => "file",
        }
    }
}

// ------------------------------------------------------------------------ assembler

struct Fixup {
    at: usize,
    insn: usize,
    label: String,
    line: usize,
    col: usize,
}

#[derive(Default)]
struct Body {
    code: Vec<u8>,
    labels: HashMap<String, usize>,
    fixups: Vec<Fixup>,
    lines: Vec<LineEntry>,
    used_slots: u32,
}

struct Asm<'a> {
    file: &'a str,
    errors: Vec<(usize, usize, String)>,
    m: Module,
    funcs: Names,
    globals: Names,
    types: Names,
    files: Names,
    entry_seen: bool,
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
    fn report(&mut self, line: &Line, e: PErr) {
        if !line.bad {
            self.errors.push((line.no, e.0, e.1));
        }
    }

    fn lookup(&self, ns: Ns, name: &str) -> Result<u32, String> {
        let table = match ns {
            Ns::Func => &self.funcs,
            Ns::Global => &self.globals,
            Ns::Type => &self.types,
            Ns::File => &self.files,
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
    fn reference(&self, c: &mut Cur, ns: Ns) -> P<u32> {
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
    fn ctor_by_name(&self, ty: u32, name: &str) -> Result<u16, String> {
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
    fn declare(&mut self, lines: &[Line]) {
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

    fn type_decl(&mut self, c: &mut Cur) -> P<()> {
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
    fn ctors(&mut self, c: &mut Cur) -> P<()> {
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

    fn define(&mut self, lines: &[Line]) {
        let mut i = 0;
        while i < lines.len() {
            let line = &lines[i];
            i += 1;
            let mut c = Cur::new(line);
            let Some(first) = c.next() else { continue };
            let r = match first {
                Tok::Dir(d) => match d.as_str() {
                    "type" | "file" => Ok(()),
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

    fn module_kind(&mut self, c: &mut Cur) -> P<()> {
        if c.eat_kw("executable") {
            self.m.flags |= FLAG_EXECUTABLE;
        } else if c.eat_kw("linkable") {
            self.m.flags &= !FLAG_EXECUTABLE;
        } else {
            return c.err("expected `executable` or `linkable`");
        }
        c.done()
    }

    fn entry(&mut self, c: &mut Cur) -> P<()> {
        let f = self.reference(c, Ns::Func)?;
        if std::mem::replace(&mut self.entry_seen, true) {
            return c.err_prev("the entry point is already set");
        }
        self.m.entry = Some(f);
        c.done()
    }

    fn global(&mut self, c: &mut Cur) -> P<()> {
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

    fn export(&mut self, c: &mut Cur) -> P<()> {
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
    fn lines_block(&mut self, lines: &[Line], at: usize) -> usize {
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
    fn function(&mut self, lines: &[Line], at: usize) -> usize {
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
        for f in std::mem::take(&mut body.fixups) {
            let r = match body.labels.get(&f.label) {
                None => Err(format!("no label `{}` in this function", f.label)),
                Some(&t) => i32::try_from(t as i64 - f.insn as i64)
                    .map_err(|_| "jump too far for an i32 offset".to_string()),
            };
            match r {
                Ok(d) => {
                    if let Some(dst) = body.code.get_mut(f.at..f.at + 4) {
                        dst.copy_from_slice(&d.to_le_bytes());
                    }
                }
                Err(e) => self.errors.push((f.line, f.col, e)),
            }
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

    fn body_line(&mut self, c: &mut Cur, body: &mut Body, line: usize) -> P<()> {
        while let (Some(Tok::Ident(l)), Some(Tok::P(':'))) = (c.peek(), c.peek_at(1)) {
            if body.labels.insert(l.clone(), body.code.len()).is_some() {
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

    fn target(&self, c: &mut Cur, fix: &mut Vec<(usize, String, usize)>, at: usize) -> P<i32> {
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

    fn instruction(&mut self, c: &mut Cur, op: Op, body: &mut Body, line: usize) -> P<()> {
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
        body.fixups
            .extend(fix.into_iter().map(|(at, label, col)| Fixup {
                at,
                insn: start,
                label,
                line,
                col,
            }));
        Ok(())
    }

    /// A float: a decimal literal, `inf`, `nan`, or `bits 0xHEX` for exact bits.
    fn float(&self, c: &mut Cur) -> P<u64> {
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

    fn const_list(&self, c: &mut Cur, close: char, depth: usize) -> P<Vec<Const>> {
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

    fn data(&self, c: &mut Cur, ty: u32, depth: usize) -> P<Const> {
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

    fn konst(&self, c: &mut Cur, depth: usize) -> P<Const> {
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
fn ctor_names(m: &Module, ty: u32) -> Vec<&str> {
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

fn first_col(line: &Line) -> usize {
    line.toks.first().map_or(1, |t| t.col)
}

// ------------------------------------------------------------------------ disassembler

/// Whether `s` can be written without quotes wherever a name stands.
fn is_bare(s: &str) -> bool {
    let mut cs = s.chars();
    let Some(first) = cs.next() else {
        return false;
    };
    is_ident_start(first)
        && cs.all(is_ident_cont)
        && !KEYWORDS.contains(&s)
        && !(s.len() > 1 && s.starts_with('r') && s[1..].chars().all(|c| c.is_ascii_digit()))
}

fn escape_char(out: &mut String, c: char, quote: char) {
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

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape_char(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// A name as it must be written: bare when possible, else quoted.
fn name(s: &str) -> String {
    if is_bare(s) {
        s.to_string()
    } else {
        quote(s)
    }
}

fn char_lit(c: u32) -> Option<String> {
    let ch = char::from_u32(c)?;
    let mut out = String::from("'");
    escape_char(&mut out, ch, '\'');
    out.push('\'');
    Some(out)
}

fn bytes_lit(b: &[u8]) -> String {
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

enum Item {
    Insn(Insn),
    Raw(Vec<u8>),
}

/// One function split into printable items, with the offsets a label or `.loc` may
/// stand at (item starts and the end of the code).
struct Split {
    items: Vec<(usize, Item)>,
    boundary: Vec<bool>,
}

fn split(code: &[u8]) -> Split {
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

struct Dis<'a> {
    m: &'a Module,
    out: String,
    funcs: HashMap<&'a str, u32>,
    globals: HashMap<&'a str, u32>,
    types: HashMap<&'a str, u32>,
    files: HashMap<&'a str, u32>,
}

fn count<'a>(it: impl Iterator<Item = &'a str>) -> HashMap<&'a str, u32> {
    let mut h = HashMap::new();
    for s in it {
        *h.entry(s).or_insert(0) += 1;
    }
    h
}

fn type_label(t: &TypeDef) -> &str {
    match t {
        TypeDef::Defined { name, .. } => name,
        TypeDef::Import { symbol } => symbol,
    }
}

/// Prints a module as `.hasm` text that [`assemble`] turns back into the same bytes.
/// Names are used where they are unique, numbers elsewhere; comments give each item's
/// index and each instruction's offset.
pub fn disassemble(m: &Module) -> String {
    let mut d = Dis {
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
    };
    d.module();
    d.out
}

impl Dis<'_> {
    fn fref(&self, i: u32) -> String {
        match self.m.functions.get(i as usize) {
            Some(f) if self.funcs.get(f.name.as_str()) == Some(&1) => name(&f.name),
            _ => i.to_string(),
        }
    }
    fn gref(&self, i: u32) -> String {
        match self.m.globals.get(i as usize) {
            Some(g) if self.globals.get(g.name.as_str()) == Some(&1) => name(&g.name),
            _ => i.to_string(),
        }
    }
    fn tref(&self, id: u32) -> String {
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
    fn file_ref(&self, i: u32) -> String {
        match self.m.debug.files.get(i as usize) {
            Some(f) if self.files.get(f.as_str()) == Some(&1) => quote(f),
            _ => i.to_string(),
        }
    }
    fn ctor_ref(&self, ty: u32, tag: u16) -> String {
        let names = ctor_names(self.m, ty);
        match names.get(tag as usize) {
            Some(n) if !n.is_empty() && names.iter().filter(|x| *x == n).count() == 1 => name(n),
            _ => tag.to_string(),
        }
    }

    fn konst(&self, out: &mut String, c: &Const) {
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

    fn line(&mut self, text: &str, comment: &str) {
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

    fn module(&mut self) {
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
    fn lines_inline(&self, splits: &[Split]) -> bool {
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

    fn function(&mut self, index: usize, f: &Function, sp: &Split, lines: &[LineEntry]) {
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

    fn insn_text(&self, insn: &Insn, off: usize, target: &dyn Fn(usize, i32) -> String) -> String {
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
