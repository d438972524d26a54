//! The lexer (LANGUAGE.md §1): turns a file's text into tokens with spans.
//!
//! It never stops at the first problem: a bad character, an unterminated literal or a
//! bad escape is reported and lexing goes on, so that the parser can report more.
//! Integer literals are kept as digit strings with their radix and suffix; the parser
//! converts them (it knows whether a `-` precedes, which `i64::MIN` needs).

use crate::diag::Diagnostic;
use crate::span::{FileId, Span};

/// The type a numeric literal's suffix asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumSuffix {
    /// No suffix: `i64` for integers, `f64` for floats.
    None,
    /// `i64`.
    I64,
    /// `u64`.
    U64,
    /// `f64` (also allowed on integer digits: `3f64`).
    F64,
    /// `ibig`.
    IBig,
}

/// The kinds of tokens.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier (not a keyword).
    Ident(String),
    /// An integer literal: digits without `_` or radix prefix.
    Int {
        /// The digits.
        digits: String,
        /// 2, 10 or 16.
        radix: u32,
        /// The suffix.
        suffix: NumSuffix,
    },
    /// A float literal, already converted.
    Float {
        /// The value.
        value: f64,
        /// The literal's text without `_` and suffix (the parser uses it to split
        /// `t.0.1` into two tuple indices).
        text: String,
    },
    /// A char literal.
    Char(char),
    /// A string literal, escapes processed.
    Str(String),
    /// `#name` (`#run`, `#op`).
    Directive(String),
    /// A keyword.
    Kw(Kw),
    /// Punctuation or an operator.
    P(P),
    /// End of file.
    Eof,
}

/// Keywords (LANGUAGE.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kw {
    /// The keyword `mut`.
    Mut,
    /// The keyword `if`.
    If,
    /// The keyword `else`.
    Else,
    /// The keyword `match`.
    Match,
    /// The keyword `loop`.
    Loop,
    /// The keyword `while`.
    While,
    /// The keyword `for`.
    For,
    /// The keyword `in`.
    In,
    /// The keyword `break`.
    Break,
    /// The keyword `continue`.
    Continue,
    /// The keyword `return`.
    Return,
    /// The keyword `import`.
    Import,
    /// The keyword `enum`.
    Enum,
    /// The keyword `struct`.
    Struct,
    /// The keyword `true`.
    True,
    /// The keyword `false`.
    False,
}

impl Kw {
    fn from_str(s: &str) -> Option<Kw> {
        Some(match s {
            "mut" => Kw::Mut,
            "if" => Kw::If,
            "else" => Kw::Else,
            "match" => Kw::Match,
            "loop" => Kw::Loop,
            "while" => Kw::While,
            "for" => Kw::For,
            "in" => Kw::In,
            "break" => Kw::Break,
            "continue" => Kw::Continue,
            "return" => Kw::Return,
            "import" => Kw::Import,
            "enum" => Kw::Enum,
            "struct" => Kw::Struct,
            "true" => Kw::True,
            "false" => Kw::False,
            _ => return None,
        })
    }

    /// The keyword's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kw::Mut => "mut",
            Kw::If => "if",
            Kw::Else => "else",
            Kw::Match => "match",
            Kw::Loop => "loop",
            Kw::While => "while",
            Kw::For => "for",
            Kw::In => "in",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Return => "return",
            Kw::Import => "import",
            Kw::Enum => "enum",
            Kw::Struct => "struct",
            Kw::True => "true",
            Kw::False => "false",
        }
    }
}

/// Punctuation and operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P {
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `,`.
    Comma,
    /// `;`.
    Semi,
    /// `:`.
    Colon,
    /// `:=`.
    ColonEq,
    /// `=`.
    Eq,
    /// `==`.
    EqEq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `+`.
    Plus,
    /// `-`.
    Minus,
    /// `*`.
    Star,
    /// `/`.
    Slash,
    /// `%`.
    Percent,
    /// `+=`.
    PlusEq,
    /// `-=`.
    MinusEq,
    /// `*=`.
    StarEq,
    /// `/=`.
    SlashEq,
    /// `%=`.
    PercentEq,
    /// `&=`.
    AmpEq,
    /// `|=`.
    PipeEq,
    /// `^=`.
    CaretEq,
    /// `<<=`.
    ShlEq,
    /// `>>=`.
    ShrEq,
    /// `&`.
    Amp,
    /// `|`.
    Pipe,
    /// `^`.
    Caret,
    /// `~`.
    Tilde,
    /// `!`.
    Bang,
    /// `&&`.
    AndAnd,
    /// `||`.
    OrOr,
    /// `<<`.
    Shl,
    /// `>>`.
    Shr,
    /// `->`.
    Arrow,
    /// `=>`.
    FatArrow,
    /// `.`.
    Dot,
    /// `..`.
    DotDot,
    /// `..=`.
    DotDotEq,
    /// `_`.
    Underscore,
}

impl P {
    /// The operator's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            P::LParen => "(",
            P::RParen => ")",
            P::LBrace => "{",
            P::RBrace => "}",
            P::LBracket => "[",
            P::RBracket => "]",
            P::Comma => ",",
            P::Semi => ";",
            P::Colon => ":",
            P::ColonEq => ":=",
            P::Eq => "=",
            P::EqEq => "==",
            P::Ne => "!=",
            P::Lt => "<",
            P::Le => "<=",
            P::Gt => ">",
            P::Ge => ">=",
            P::Plus => "+",
            P::Minus => "-",
            P::Star => "*",
            P::Slash => "/",
            P::Percent => "%",
            P::PlusEq => "+=",
            P::MinusEq => "-=",
            P::StarEq => "*=",
            P::SlashEq => "/=",
            P::PercentEq => "%=",
            P::AmpEq => "&=",
            P::PipeEq => "|=",
            P::CaretEq => "^=",
            P::ShlEq => "<<=",
            P::ShrEq => ">>=",
            P::Amp => "&",
            P::Pipe => "|",
            P::Caret => "^",
            P::Tilde => "~",
            P::Bang => "!",
            P::AndAnd => "&&",
            P::OrOr => "||",
            P::Shl => "<<",
            P::Shr => ">>",
            P::Arrow => "->",
            P::FatArrow => "=>",
            P::Dot => ".",
            P::DotDot => "..",
            P::DotDotEq => "..=",
            P::Underscore => "_",
        }
    }
}

impl Tok {
    /// A short description for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Int { .. } => "integer literal".into(),
            Tok::Float { .. } => "float literal".into(),
            Tok::Char(_) => "char literal".into(),
            Tok::Str(_) => "string literal".into(),
            Tok::Directive(d) => format!("`#{d}`"),
            Tok::Kw(k) => format!("keyword `{}`", k.as_str()),
            Tok::P(p) => format!("`{}`", p.as_str()),
            Tok::Eof => "end of file".into(),
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// Where it is.
    pub span: Span,
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    file: FileId,
    toks: Vec<Token>,
    diags: Vec<Diagnostic>,
}

/// The error for a string literal that runs to the end of the file.
pub const UNTERMINATED_STRING: &str = "unterminated string literal";
/// The error for a block comment that runs to the end of the file.
pub const UNTERMINATED_COMMENT: &str = "unterminated block comment";

/// Whether `d` is a lexer error that swallowed the rest of the file (an unterminated
/// string or block comment): the parser's complaints after its start are only echoes of
/// it ("expected `}`, found end of file") and are not shown.
pub fn swallows_rest_of_file(d: &Diagnostic) -> bool {
    d.message == UNTERMINATED_STRING || d.message == UNTERMINATED_COMMENT
}

/// Lexes `src` (the text of `file`). Always ends the token list with [`Tok::Eof`].
pub fn lex(file: FileId, src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        file,
        toks: Vec::new(),
        diags: Vec::new(),
    };
    // A leading byte-order mark is not part of the program.
    if src.starts_with('\u{FEFF}') {
        lx.pos = '\u{FEFF}'.len_utf8();
    }
    lx.run();
    let end = src.len() as u32;
    lx.toks.push(Token {
        tok: Tok::Eof,
        span: Span::new(file, end, end),
    });
    (lx.toks, lx.diags)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Lexer<'a> {
    fn span(&self, lo: usize, hi: usize) -> Span {
        Span::new(self.file, lo as u32, hi as u32)
    }

    fn peek(&self, off: usize) -> u8 {
        self.bytes.get(self.pos + off).copied().unwrap_or(0)
    }

    fn push(&mut self, tok: Tok, lo: usize) {
        let sp = self.span(lo, self.pos);
        self.toks.push(Token { tok, span: sp });
    }

    fn error(&mut self, lo: usize, hi: usize, msg: impl Into<String>) {
        let sp = self.span(lo, hi);
        self.diags.push(Diagnostic::error(sp, msg));
    }

    fn run(&mut self) {
        while self.pos < self.bytes.len() {
            let c = self.bytes[self.pos];
            let lo = self.pos;
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'/' if self.peek(1) == b'/' => {
                    while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'/' if self.peek(1) == b'*' => self.block_comment(),
                b'0'..=b'9' => self.number(),
                b'\'' => self.char_lit(),
                b'"' => self.string_lit(),
                b'#' => {
                    self.pos += 1;
                    let start = self.pos;
                    while self.pos < self.bytes.len() && is_ident_char(self.bytes[self.pos]) {
                        self.pos += 1;
                    }
                    if start == self.pos {
                        self.error(
                            lo,
                            self.pos,
                            "expected a directive name after `#` (`#run` or `#op`)",
                        );
                    } else {
                        let name = self.src[start..self.pos].to_string();
                        self.push(Tok::Directive(name), lo);
                    }
                }
                c if is_ident_start(c) => {
                    while self.pos < self.bytes.len() && is_ident_char(self.bytes[self.pos]) {
                        self.pos += 1;
                    }
                    let word = &self.src[lo..self.pos];
                    let tok = if word == "_" {
                        Tok::P(P::Underscore)
                    } else if let Some(k) = Kw::from_str(word) {
                        Tok::Kw(k)
                    } else {
                        Tok::Ident(word.to_string())
                    };
                    self.push(tok, lo);
                }
                _ => self.punct(),
            }
        }
    }

    fn block_comment(&mut self) {
        let lo = self.pos;
        self.pos += 2;
        let mut depth = 1u32;
        while self.pos < self.bytes.len() {
            if self.bytes[self.pos] == b'/' && self.peek(1) == b'*' {
                depth += 1;
                self.pos += 2;
            } else if self.bytes[self.pos] == b'*' && self.peek(1) == b'/' {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.pos += 1;
            }
        }
        self.error(lo, lo + 2, UNTERMINATED_COMMENT);
    }

    fn punct(&mut self) {
        let lo = self.pos;
        let c = self.bytes[self.pos];
        let n1 = self.peek(1);
        let n2 = self.peek(2);
        let (p, len) = match (c, n1, n2) {
            (b'<', b'<', b'=') => (P::ShlEq, 3),
            (b'>', b'>', b'=') => (P::ShrEq, 3),
            (b'.', b'.', b'=') => (P::DotDotEq, 3),
            (b':', b'=', _) => (P::ColonEq, 2),
            (b'=', b'=', _) => (P::EqEq, 2),
            (b'=', b'>', _) => (P::FatArrow, 2),
            (b'!', b'=', _) => (P::Ne, 2),
            (b'<', b'=', _) => (P::Le, 2),
            (b'>', b'=', _) => (P::Ge, 2),
            (b'<', b'<', _) => (P::Shl, 2),
            (b'>', b'>', _) => (P::Shr, 2),
            (b'+', b'=', _) => (P::PlusEq, 2),
            (b'-', b'=', _) => (P::MinusEq, 2),
            (b'*', b'=', _) => (P::StarEq, 2),
            (b'/', b'=', _) => (P::SlashEq, 2),
            (b'%', b'=', _) => (P::PercentEq, 2),
            (b'&', b'=', _) => (P::AmpEq, 2),
            (b'|', b'=', _) => (P::PipeEq, 2),
            (b'^', b'=', _) => (P::CaretEq, 2),
            (b'&', b'&', _) => (P::AndAnd, 2),
            (b'|', b'|', _) => (P::OrOr, 2),
            (b'-', b'>', _) => (P::Arrow, 2),
            (b'.', b'.', _) => (P::DotDot, 2),
            (b'(', _, _) => (P::LParen, 1),
            (b')', _, _) => (P::RParen, 1),
            (b'{', _, _) => (P::LBrace, 1),
            (b'}', _, _) => (P::RBrace, 1),
            (b'[', _, _) => (P::LBracket, 1),
            (b']', _, _) => (P::RBracket, 1),
            (b',', _, _) => (P::Comma, 1),
            (b';', _, _) => (P::Semi, 1),
            (b':', _, _) => (P::Colon, 1),
            (b'=', _, _) => (P::Eq, 1),
            (b'<', _, _) => (P::Lt, 1),
            (b'>', _, _) => (P::Gt, 1),
            (b'+', _, _) => (P::Plus, 1),
            (b'-', _, _) => (P::Minus, 1),
            (b'*', _, _) => (P::Star, 1),
            (b'/', _, _) => (P::Slash, 1),
            (b'%', _, _) => (P::Percent, 1),
            (b'&', _, _) => (P::Amp, 1),
            (b'|', _, _) => (P::Pipe, 1),
            (b'^', _, _) => (P::Caret, 1),
            (b'~', _, _) => (P::Tilde, 1),
            (b'!', _, _) => (P::Bang, 1),
            (b'.', _, _) => (P::Dot, 1),
            _ => {
                // Skip one whole UTF-8 character.
                let ch = self.src[lo..].chars().next().unwrap_or('\u{FFFD}');
                self.pos += ch.len_utf8().max(1);
                self.error(
                    lo,
                    self.pos,
                    format!("unexpected character `{}`", ch.escape_debug()),
                );
                return;
            }
        };
        self.pos += len;
        self.push(Tok::P(p), lo);
    }

    fn number(&mut self) {
        let lo = self.pos;
        let (radix, digits_start) = match (self.bytes[self.pos], self.peek(1)) {
            (b'0', b'x') | (b'0', b'X') => (16, self.pos + 2),
            (b'0', b'b') | (b'0', b'B') => (2, self.pos + 2),
            _ => (10, self.pos),
        };
        self.pos = digits_start;
        let mut digits = String::new();
        let is_digit = |c: u8| match radix {
            16 => c.is_ascii_hexdigit(),
            _ => c.is_ascii_digit(),
        };
        while self.pos < self.bytes.len()
            && (is_digit(self.bytes[self.pos]) || self.bytes[self.pos] == b'_')
        {
            if self.bytes[self.pos] != b'_' {
                digits.push(self.bytes[self.pos] as char);
            }
            self.pos += 1;
        }
        let mut is_float = false;
        let mut text = digits.clone();
        if radix == 10 {
            // Fraction: a dot followed by a digit (so `1..2` and `t.0` stay apart).
            if self.peek(0) == b'.' && self.peek(1).is_ascii_digit() {
                is_float = true;
                text.push('.');
                self.pos += 1;
                while self.pos < self.bytes.len()
                    && (self.bytes[self.pos].is_ascii_digit() || self.bytes[self.pos] == b'_')
                {
                    if self.bytes[self.pos] != b'_' {
                        text.push(self.bytes[self.pos] as char);
                    }
                    self.pos += 1;
                }
            }
            // Exponent: e, optional sign, digits.
            if matches!(self.peek(0), b'e' | b'E') {
                let sign = matches!(self.peek(1), b'+' | b'-');
                let first_digit = if sign { self.peek(2) } else { self.peek(1) };
                if first_digit.is_ascii_digit() {
                    is_float = true;
                    text.push('e');
                    self.pos += 1;
                    if sign {
                        text.push(self.bytes[self.pos] as char);
                        self.pos += 1;
                    }
                    while self.pos < self.bytes.len()
                        && (self.bytes[self.pos].is_ascii_digit() || self.bytes[self.pos] == b'_')
                    {
                        if self.bytes[self.pos] != b'_' {
                            text.push(self.bytes[self.pos] as char);
                        }
                        self.pos += 1;
                    }
                }
            }
        }
        // Suffix: an identifier directly after the literal, with an optional `_` before it
        // (the `_` was consumed with the digits).
        let suf_start = self.pos;
        while self.pos < self.bytes.len() && is_ident_char(self.bytes[self.pos]) {
            self.pos += 1;
        }
        let suffix_text = &self.src[suf_start..self.pos];
        let suffix = match suffix_text {
            "" => NumSuffix::None,
            "i64" => NumSuffix::I64,
            "u64" => NumSuffix::U64,
            "f64" => NumSuffix::F64,
            "ibig" => NumSuffix::IBig,
            other => {
                self.error(
                    suf_start,
                    self.pos,
                    format!("invalid suffix `{other}` on a number (expected `u64`, `i64`, `f64` or `ibig`)"),
                );
                NumSuffix::None
            }
        };
        if digits.is_empty() {
            let what = if radix == 16 { "hexadecimal" } else { "binary" };
            self.error(lo, self.pos, format!("{what} literal has no digits"));
            self.push(
                Tok::Int {
                    digits: "0".into(),
                    radix: 10,
                    suffix: NumSuffix::None,
                },
                lo,
            );
            return;
        }
        if is_float || suffix == NumSuffix::F64 {
            if radix != 10 {
                self.error(
                    lo,
                    self.pos,
                    "a hexadecimal or binary literal cannot be a float",
                );
            }
            if !is_float && matches!(suffix, NumSuffix::F64) {
                // `3f64`
            } else if matches!(suffix, NumSuffix::U64 | NumSuffix::I64 | NumSuffix::IBig) {
                self.error(
                    suf_start,
                    self.pos,
                    "a float literal can only have the suffix `f64`",
                );
            }
            let value = text.parse::<f64>().unwrap_or(0.0);
            self.push(Tok::Float { value, text }, lo);
        } else {
            self.push(
                Tok::Int {
                    digits,
                    radix,
                    suffix,
                },
                lo,
            );
        }
    }

    /// Reads one escape sequence after a backslash at `self.pos - 1`.
    fn escape(&mut self, quote: u8) -> Option<char> {
        let lo = self.pos - 1;
        let c = self.peek(0);
        self.pos += 1;
        Some(match c {
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'0' => '\0',
            b'\\' => '\\',
            b'\'' => '\'',
            b'"' => '"',
            b'u' => {
                if self.peek(0) != b'{' {
                    self.error(
                        lo,
                        self.pos,
                        "expected `{` after `\\u` (write `\\u{1F600}`)",
                    );
                    return None;
                }
                self.pos += 1;
                let start = self.pos;
                while self.pos < self.bytes.len()
                    && (self.bytes[self.pos].is_ascii_hexdigit() || self.bytes[self.pos] == b'_')
                {
                    self.pos += 1;
                }
                let hex: String = self.src[start..self.pos]
                    .chars()
                    .filter(|&c| c != '_')
                    .collect();
                if self.peek(0) != b'}' {
                    self.error(lo, self.pos, "unterminated unicode escape (expected `}`)");
                    return None;
                }
                self.pos += 1;
                if hex.is_empty() || hex.len() > 6 {
                    self.error(lo, self.pos, "a unicode escape needs 1 to 6 hex digits");
                    return None;
                }
                let v = u32::from_str_radix(&hex, 16).unwrap_or(u32::MAX);
                match char::from_u32(v) {
                    Some(ch) => ch,
                    None => {
                        self.error(
                            lo,
                            self.pos,
                            format!("`\\u{{{hex}}}` is not a Unicode scalar value"),
                        );
                        return None;
                    }
                }
            }
            0 if self.pos > self.bytes.len() => {
                self.pos = self.bytes.len();
                return None;
            }
            _ => {
                let _ = quote;
                // Step back to skip the whole (possibly multi-byte) character.
                self.pos -= 1;
                let ch = self.src[self.pos..].chars().next().unwrap_or('?');
                self.pos += ch.len_utf8();
                self.error(
                    lo,
                    self.pos,
                    format!("unknown escape `\\{}`", ch.escape_debug()),
                );
                return None;
            }
        })
    }

    fn char_lit(&mut self) {
        let lo = self.pos;
        self.pos += 1;
        let mut chars = Vec::new();
        let mut bad = false;
        loop {
            if self.pos >= self.bytes.len() || self.bytes[self.pos] == b'\n' {
                self.error(lo, self.pos, "unterminated char literal");
                self.push(Tok::Char('\0'), lo);
                return;
            }
            let c = self.bytes[self.pos];
            if c == b'\'' {
                self.pos += 1;
                break;
            }
            if c == b'\\' {
                self.pos += 1;
                match self.escape(b'\'') {
                    Some(ch) => chars.push(ch),
                    None => bad = true,
                }
            } else {
                let ch = self.src[self.pos..].chars().next().unwrap_or('\0');
                self.pos += ch.len_utf8().max(1);
                chars.push(ch);
            }
        }
        if !bad && chars.len() != 1 {
            if chars.is_empty() {
                self.error(lo, self.pos, "empty char literal");
            } else {
                self.error(
                    lo,
                    self.pos,
                    "a char literal holds exactly one char (use \"...\" for a string)",
                );
            }
        }
        self.push(Tok::Char(chars.first().copied().unwrap_or('\0')), lo);
    }

    fn string_lit(&mut self) {
        let lo = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            if self.pos >= self.bytes.len() {
                self.error(lo, lo + 1, UNTERMINATED_STRING);
                self.push(Tok::Str(s), lo);
                return;
            }
            let c = self.bytes[self.pos];
            if c == b'"' {
                self.pos += 1;
                break;
            }
            if c == b'\\' {
                self.pos += 1;
                if let Some(ch) = self.escape(b'"') {
                    s.push(ch);
                }
            } else {
                let ch = self.src[self.pos..].chars().next().unwrap_or('\0');
                self.pos += ch.len_utf8().max(1);
                s.push(ch);
            }
        }
        self.push(Tok::Str(s), lo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let (t, d) = lex(FileId(0), src);
        assert!(d.is_empty(), "unexpected diagnostics: {d:?}");
        t.into_iter().map(|t| t.tok).collect()
    }

    fn errs(src: &str) -> Vec<String> {
        lex(FileId(0), src)
            .1
            .into_iter()
            .map(|d| d.message)
            .collect()
    }

    #[test]
    fn nested_comments_and_idents() {
        let t = toks("/* a /* b */ c */ iffy if _x _ // tail\n x");
        assert_eq!(
            t,
            vec![
                Tok::Ident("iffy".into()),
                Tok::Kw(Kw::If),
                Tok::Ident("_x".into()),
                Tok::P(P::Underscore),
                Tok::Ident("x".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers() {
        let t = toks("42 0xff 0b1010 1_000 255u64 255_u64 7_ibig 3f64 1.5 1e9 2.5e-3 4.8e+00 0xf0u64 1..2 t.0");
        let int = |d: &str, r: u32, s: NumSuffix| Tok::Int {
            digits: d.into(),
            radix: r,
            suffix: s,
        };
        assert_eq!(t[0], int("42", 10, NumSuffix::None));
        assert_eq!(t[1], int("ff", 16, NumSuffix::None));
        assert_eq!(t[2], int("1010", 2, NumSuffix::None));
        assert_eq!(t[3], int("1000", 10, NumSuffix::None));
        assert_eq!(t[4], int("255", 10, NumSuffix::U64));
        assert_eq!(t[5], int("255", 10, NumSuffix::U64));
        assert_eq!(t[6], int("7", 10, NumSuffix::IBig));
        assert!(matches!(t[7], Tok::Float { value, .. } if value == 3.0));
        assert!(matches!(t[8], Tok::Float { value, .. } if value == 1.5));
        assert!(matches!(t[9], Tok::Float { value, .. } if value == 1e9));
        assert!(matches!(t[10], Tok::Float { value, .. } if value == 2.5e-3));
        assert!(matches!(t[11], Tok::Float { value, .. } if value == 4.8));
        assert_eq!(t[12], int("f0", 16, NumSuffix::U64));
        assert_eq!(t[13], int("1", 10, NumSuffix::None));
        assert_eq!(t[14], Tok::P(P::DotDot));
        assert_eq!(t[16], Tok::Ident("t".into()));
        assert_eq!(t[17], Tok::P(P::Dot));
    }

    #[test]
    fn chars_and_strings() {
        let t = toks(r#"'a' '\n' '\'' '\\' '\u{1F600}' '"' "a\tb\"\\\u{e9}\0""#);
        assert_eq!(t[0], Tok::Char('a'));
        assert_eq!(t[1], Tok::Char('\n'));
        assert_eq!(t[2], Tok::Char('\''));
        assert_eq!(t[3], Tok::Char('\\'));
        assert_eq!(t[4], Tok::Char('😀'));
        assert_eq!(t[5], Tok::Char('"'));
        assert_eq!(t[6], Tok::Str("a\tb\"\\é\0".into()));
    }

    #[test]
    fn operators() {
        let t = toks(":= == => -> ..= .. <<= >>= && || != <= >=");
        let ps: Vec<P> = t
            .iter()
            .filter_map(|t| if let Tok::P(p) = t { Some(*p) } else { None })
            .collect();
        assert_eq!(
            ps,
            vec![
                P::ColonEq,
                P::EqEq,
                P::FatArrow,
                P::Arrow,
                P::DotDotEq,
                P::DotDot,
                P::ShlEq,
                P::ShrEq,
                P::AndAnd,
                P::OrOr,
                P::Ne,
                P::Le,
                P::Ge
            ]
        );
        assert_eq!(toks("#run x")[0], Tok::Directive("run".into()));
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        assert_eq!(toks("\u{FEFF}x"), vec![Tok::Ident("x".into()), Tok::Eof]);
    }

    #[test]
    fn errors_are_collected() {
        let e = errs("'ab' \"open\\q\" 12xyz @ /* never closed");
        assert!(e.iter().any(|m| m.contains("exactly one char")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("unknown escape")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("invalid suffix")), "{e:?}");
        assert!(
            e.iter().any(|m| m.contains("unexpected character")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.contains("unterminated block comment")),
            "{e:?}"
        );
        assert!(!errs("\"unterminated").is_empty());
        assert!(!errs("'\\u{D800}'").is_empty());
    }
}
