//! Type expressions: names with arguments, tuples, function types and `_`.

use super::*;

impl Parser {
    pub(super) fn type_expr(&mut self) -> PResult<TypeExpr> {
        self.enter()?;
        let r = self.type_expr_inner();
        self.leave();
        r
    }

    pub(super) fn type_expr_inner(&mut self) -> PResult<TypeExpr> {
        let start = self.span();
        match self.peek().clone() {
            Tok::P(P::Underscore) => {
                self.bump();
                Ok(TypeExpr {
                    kind: TypeExprKind::Infer,
                    span: start,
                })
            }
            Tok::Ident(_) => {
                let mut path = vec![self.ident("a type name")?];
                while self.is(P::Dot) && matches!(self.peek_at(1), Tok::Ident(_)) {
                    self.bump();
                    path.push(self.ident("a type name")?);
                }
                let mut args = Vec::new();
                if self.eat(P::Lt) {
                    loop {
                        if matches!(
                            self.peek(),
                            Tok::P(P::Gt) | Tok::P(P::Shr) | Tok::P(P::Ge) | Tok::P(P::ShrEq)
                        ) {
                            break;
                        }
                        args.push(self.type_expr()?);
                        if !self.eat(P::Comma) {
                            break;
                        }
                    }
                    self.expect_gt()?;
                }
                Ok(TypeExpr {
                    kind: TypeExprKind::Named(path, args),
                    span: start.to(self.prev_span()),
                })
            }
            Tok::P(P::LParen) => {
                self.bump();
                let mut elems = Vec::new();
                let mut trailing_comma = false;
                while !self.is(P::RParen) {
                    elems.push(self.type_expr()?);
                    trailing_comma = false;
                    if !self.eat(P::Comma) {
                        break;
                    }
                    trailing_comma = true;
                }
                self.expect(P::RParen, "to close the type")?;
                if self.eat(P::Arrow) {
                    let ret = self.type_expr()?;
                    return Ok(TypeExpr {
                        kind: TypeExprKind::Fn(elems, Box::new(ret)),
                        span: start.to(self.prev_span()),
                    });
                }
                if elems.len() == 1 && !trailing_comma {
                    let mut t = elems.pop().ok_or(Bail)?;
                    t.span = start.to(self.prev_span());
                    return Ok(t);
                }
                Ok(TypeExpr {
                    kind: TypeExprKind::Tuple(elems),
                    span: start.to(self.prev_span()),
                })
            }
            t => self.fail(format!("expected a type, found {}", t.describe())),
        }
    }
}
