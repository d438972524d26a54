//! The `.hasm` lexer: one source line at a time into tokens (names, numbers,
//! strings, chars, punctuation), with escapes and positions for error messages.

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) col: usize,
}

pub(super) struct Line {
    pub(super) no: usize,
    pub(super) toks: Vec<Token>,
    /// The column just past the last character, for "expected ... at end of line".
    pub(super) end: usize,
    /// The lexer already reported an error here: further errors are noise.
    pub(super) bad: bool,
}

pub(super) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(super) fn is_ident_cont(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '\'' | '?' | '!')
}

pub(super) fn describe(t: Option<&Tok>) -> String {
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
pub(super) fn lex_escape(chars: &[char], i: &mut usize, bytes: bool) -> Result<u32, String> {
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

pub(super) fn lex_line(no: usize, text: &str, errors: &mut Vec<(usize, usize, String)>) -> Line {
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
