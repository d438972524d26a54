//! Patterns: or-patterns, literals and ranges, tuples, constructors and lists, and
//! integer literals (shared with expressions).

use super::*;
use crate::lexer::NumSuffix;

impl Parser {
    pub(super) fn pattern(&mut self) -> PResult<Pat> {
        self.enter()?;
        let r = self.or_pattern();
        self.leave();
        r
    }

    pub(super) fn or_pattern(&mut self) -> PResult<Pat> {
        let first = self.pat_atom()?;
        if !self.is(P::Pipe) {
            return Ok(first);
        }
        let mut alts = vec![first];
        while self.eat(P::Pipe) {
            alts.push(self.pat_atom()?);
        }
        let span = alts[0].span.to(alts[alts.len() - 1].span);
        Ok(Pat {
            kind: PatKind::Or(alts),
            span,
        })
    }

    pub(super) fn pat_lit(&mut self) -> PResult<Option<(Lit, Span)>> {
        let start = self.span();
        let neg = if self.is(P::Minus)
            && matches!(self.peek_at(1), Tok::Int { .. } | Tok::Float { .. })
        {
            self.bump();
            true
        } else {
            false
        };
        let t = self.peek().clone();
        let l = match t {
            Tok::Int {
                digits,
                radix,
                suffix,
            } => {
                let sp = start.to(self.span());
                if neg && suffix == NumSuffix::U64 {
                    self.push_diag(Diagnostic::error(sp, "a `u64` pattern cannot be negative"));
                }
                self.int_lit(&digits, radix, suffix, neg, sp)
            }
            Tok::Float { value, .. } => Lit::F64(if neg { -value } else { value }),
            Tok::Char(c) => Lit::Char(c),
            Tok::Str(s) => Lit::Str(s),
            Tok::Kw(Kw::True) => Lit::Bool(true),
            Tok::Kw(Kw::False) => Lit::Bool(false),
            _ => {
                if neg {
                    return self.fail("expected a number after `-` in a pattern");
                }
                return Ok(None);
            }
        };
        let sp = self.bump().span;
        Ok(Some((l, start.to(sp))))
    }

    pub(super) fn pat_atom(&mut self) -> PResult<Pat> {
        let start = self.span();
        if let Some((l, sp)) = self.pat_lit()? {
            if self.is(P::DotDot) || self.is(P::DotDotEq) {
                let inclusive = self.bump().tok == Tok::P(P::DotDotEq);
                let Some((hi, hsp)) = self.pat_lit()? else {
                    return self.fail("expected the end of the range pattern (a literal)");
                };
                return Ok(Pat {
                    kind: PatKind::Range(l, hi, inclusive),
                    span: sp.to(hsp),
                });
            }
            return Ok(Pat {
                kind: PatKind::Lit(l),
                span: sp,
            });
        }
        match self.peek().clone() {
            Tok::P(P::Underscore) => {
                self.bump();
                Ok(Pat {
                    kind: PatKind::Wild,
                    span: start,
                })
            }
            Tok::Ident(_) => {
                let mut path = vec![self.ident("a name")?];
                while self.is(P::Dot) {
                    self.bump();
                    path.push(self.ident("a constructor name after `.`")?);
                }
                let args = if self.eat(P::LParen) {
                    let mut ps = Vec::new();
                    while !self.is(P::RParen) {
                        if matches!(self.peek(), Tok::Ident(_))
                            && matches!(self.peek_at(1), Tok::P(P::Eq))
                        {
                            return self.fail("named fields are not allowed in patterns; list the fields positionally");
                        }
                        ps.push(self.pattern()?);
                        if !self.eat(P::Comma) {
                            break;
                        }
                    }
                    self.expect(P::RParen, "to close the constructor pattern")?;
                    Some(ps)
                } else {
                    None
                };
                let span = start.to(self.prev_span());
                if path.len() == 1 && args.is_none() {
                    let name = path.pop().map(|i| i.name).unwrap_or_default();
                    return Ok(Pat {
                        kind: PatKind::Name(name),
                        span,
                    });
                }
                Ok(Pat {
                    kind: PatKind::Ctor(path, args),
                    span,
                })
            }
            Tok::P(P::LParen) => {
                self.bump();
                let mut elems = Vec::new();
                let mut trailing = false;
                while !self.is(P::RParen) {
                    elems.push(self.pattern()?);
                    trailing = false;
                    if !self.eat(P::Comma) {
                        break;
                    }
                    trailing = true;
                }
                self.expect(P::RParen, "to close the tuple pattern")?;
                let span = start.to(self.prev_span());
                if elems.len() == 1 && !trailing {
                    let mut p = elems.pop().ok_or(Bail)?;
                    p.span = span;
                    return Ok(p);
                }
                Ok(Pat {
                    kind: PatKind::Tuple(elems),
                    span,
                })
            }
            Tok::P(P::LBracket) => {
                self.bump();
                let mut elems = Vec::new();
                let mut rest = None;
                while !self.is(P::RBracket) {
                    if self.is(P::DotDot) {
                        let dd = self.bump().span;
                        let r = match self.peek().clone() {
                            Tok::Ident(n) => {
                                let sp = self.bump().span;
                                Some(Box::new(Pat {
                                    kind: PatKind::Name(n),
                                    span: dd.to(sp),
                                }))
                            }
                            Tok::P(P::Underscore) => {
                                let sp = self.bump().span;
                                Some(Box::new(Pat {
                                    kind: PatKind::Wild,
                                    span: dd.to(sp),
                                }))
                            }
                            _ => None,
                        };
                        rest = Some(r);
                        self.eat(P::Comma);
                        if !self.is(P::RBracket) {
                            return self
                                .fail("`..rest` must be the last element of a list pattern");
                        }
                        break;
                    }
                    elems.push(self.pattern()?);
                    if !self.eat(P::Comma) {
                        break;
                    }
                }
                self.expect(P::RBracket, "to close the list pattern")?;
                Ok(Pat {
                    kind: PatKind::List(elems, rest),
                    span: start.to(self.prev_span()),
                })
            }
            t => self.fail(format!("expected a pattern, found {}", t.describe())),
        }
    }

    /// Converts an integer literal, reporting out-of-range values (and returning 0).
    pub(super) fn int_lit(
        &mut self,
        digits: &str,
        radix: u32,
        suffix: NumSuffix,
        negative: bool,
        span: Span,
    ) -> Lit {
        match suffix {
            NumSuffix::IBig => {
                let v = rug::Integer::from_str_radix(digits, radix as i32).unwrap_or_default();
                let v = if negative { -v } else { v };
                Lit::IBig(v.to_string())
            }
            NumSuffix::F64 => {
                let v = rug::Integer::from_str_radix(digits, radix as i32)
                    .unwrap_or_default()
                    .to_f64();
                Lit::F64(if negative { -v } else { v })
            }
            NumSuffix::U64 => match u64::from_str_radix(digits, radix) {
                Ok(v) => Lit::U64(v),
                Err(_) => {
                    self.push_diag(
                        Diagnostic::error(span, "integer literal is out of range for `u64`")
                            .with_label("does not fit in 64 bits")
                            .with_help("the largest u64 is 18446744073709551615; use the suffix `ibig` for bigger integers"),
                    );
                    Lit::U64(0)
                }
            },
            NumSuffix::None | NumSuffix::I64 => {
                let v = u128::from_str_radix(digits, radix).ok();
                let limit: u128 = if negative {
                    1u128 << 63
                } else {
                    (1u128 << 63) - 1
                };
                match v {
                    Some(v) if v <= limit => {
                        let v = if negative {
                            (v as i128).wrapping_neg() as i64
                        } else {
                            v as i64
                        };
                        Lit::I64(v)
                    }
                    _ => {
                        self.push_diag(
                            Diagnostic::error(span, "integer literal is out of range for `i64`")
                                .with_label("does not fit in an i64")
                                .with_help(
                                    "the largest i64 is 9223372036854775807; use the suffix `ibig` for bigger integers, or `u64`",
                                ),
                        );
                        Lit::I64(0)
                    }
                }
            }
        }
    }
}
