//! Top-level declarations: values and functions, type declarations (structs and
//! enums with their type parameters) and imports.

use super::*;

impl Parser {
    pub(super) fn file(&mut self) -> File {
        let mut items = Vec::new();
        let mut broken = Vec::new();
        loop {
            while self.eat(P::Semi) {}
            if self.at_eof() {
                break;
            }
            let before = self.pos;
            // `NAME :=` or `NAME :`: the name this item declares, if it fails to parse.
            let name = match (self.peek(), self.peek_at(1)) {
                (Tok::Ident(n), Tok::P(P::ColonEq | P::Colon)) => Some(n.clone()),
                _ => None,
            };
            match self.item() {
                Ok(it) => items.push(it),
                Err(Bail) => {
                    broken.extend(name);
                    self.recover_top();
                    if self.pos == before {
                        self.bump();
                    }
                }
            }
        }
        File { items, broken }
    }

    pub(super) fn item(&mut self) -> PResult<Item> {
        // `mut` is parsed here and judged by the checker (a REPL session allows it).
        let mutable = self.is_kw(Kw::Mut);
        if mutable {
            self.bump();
        }
        let name = match self.peek().clone() {
            Tok::Ident(_) => self.ident("a name")?,
            t => {
                return self.fail(format!(
                    "expected a top-level declaration `name := ...;`, found {}",
                    t.describe()
                ))
            }
        };
        let ty = if self.eat(P::Colon) {
            Some(self.type_expr()?)
        } else {
            None
        };
        self.expect(P::ColonEq, "after the declared name")?;
        let start = name.span;
        // import("path")
        if self.is_kw(Kw::Import) {
            self.bump();
            self.expect(P::LParen, "after `import`")?;
            let (path, path_span) = match self.peek().clone() {
                Tok::Str(s) => (s, self.bump().span),
                t => {
                    return self.fail(format!(
                        "expected the module path as a string, found {}",
                        t.describe()
                    ))
                }
            };
            self.expect(P::RParen, "after the module path")?;
            self.expect_semi_top()?;
            if mutable {
                self.push_diag(Diagnostic::error(start, "an import cannot be `mut`"));
            }
            return Ok(Item {
                name,
                kind: ItemKind::Import { path, path_span },
                span: start.to(self.prev_span()),
            });
        }
        // <T, U> => struct/enum/lambda
        let mut generics = Vec::new();
        let gen_start = self.span();
        if self.is(P::Lt) {
            generics = self.generic_params()?;
        }
        if self.is_kw(Kw::Struct) || self.is_kw(Kw::Enum) {
            let body = self.type_body()?;
            self.expect_semi_top()?;
            if ty.is_some() {
                self.push_diag(Diagnostic::error(
                    start,
                    "a type declaration cannot have a type annotation",
                ));
            }
            if mutable {
                self.push_diag(Diagnostic::error(
                    start,
                    "a type declaration cannot be `mut`",
                ));
            }
            return Ok(Item {
                name,
                kind: ItemKind::Type {
                    params: generics,
                    body,
                },
                span: start.to(self.prev_span()),
            });
        }
        let value_start = self.span();
        let parsed = if !generics.is_empty() {
            self.lambda_after_generics(generics, gen_start)
        } else {
            self.expr()
        };
        // A value that fails to parse still declares the name (see `let_value`).
        let expr = match parsed {
            Ok(e) => {
                if self.expect_semi_top().is_err() {
                    self.recover_top();
                }
                e
            }
            Err(Bail) => {
                self.recover_top();
                Expr {
                    kind: ExprKind::Error,
                    span: value_start,
                }
            }
        };
        Ok(Item {
            name,
            kind: ItemKind::Value { ty, expr, mutable },
            span: start.to(self.prev_span()),
        })
    }

    pub(super) fn expect_semi_top(&mut self) -> PResult<()> {
        if self.eat(P::Semi) {
            return Ok(());
        }
        self.missing(
            "`;` after the declaration",
            "every top-level declaration ends with `;`",
        )
    }

    pub(super) fn generic_params(&mut self) -> PResult<Vec<Ident>> {
        self.expect(P::Lt, "to start type parameters")?;
        let mut ps = Vec::new();
        loop {
            if self.is(P::Gt) {
                break;
            }
            ps.push(self.ident("a type parameter name")?);
            if !self.eat(P::Comma) {
                break;
            }
        }
        self.expect_gt()?;
        self.expect(P::FatArrow, "after the type parameters")?;
        if ps.is_empty() {
            let sp = self.prev_span();
            self.push_diag(Diagnostic::error(
                sp,
                "expected at least one type parameter between `<` and `>`",
            ));
        }
        Ok(ps)
    }

    pub(super) fn type_body(&mut self) -> PResult<TypeBody> {
        if self.eat_kw(Kw::Struct) {
            self.expect(P::LParen, "after `struct`")?;
            let mut fields = Vec::new();
            while !self.is(P::RParen) {
                let f = self.ident("a field name")?;
                self.expect(P::Colon, "after the field name")?;
                let t = self.type_expr()?;
                fields.push((f, t));
                if !self.eat(P::Comma) {
                    break;
                }
            }
            self.expect(P::RParen, "to close the struct fields")?;
            Ok(TypeBody::Struct(fields))
        } else {
            self.bump(); // enum
            self.expect(P::LParen, "after `enum`")?;
            let mut vs = Vec::new();
            while !self.is(P::RParen) {
                let name = self.ident("a constructor name")?;
                let mut fields = Vec::new();
                if self.eat(P::LParen) {
                    while !self.is(P::RParen) {
                        fields.push(self.type_expr()?);
                        if !self.eat(P::Comma) {
                            break;
                        }
                    }
                    self.expect(P::RParen, "to close the constructor's fields")?;
                }
                vs.push(Variant { name, fields });
                if !self.eat(P::Comma) {
                    break;
                }
            }
            self.expect(P::RParen, "to close the enum constructors")?;
            Ok(TypeBody::Enum(vs))
        }
    }
}
