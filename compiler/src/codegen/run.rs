//! `#run` sites: the zero-argument functions the driver evaluates at compile time.

use super::asm::Asm;
use super::func::*;
use crate::span::Span;
use crate::tast::*;
use hashvm_format::{Op, Operand};
use std::collections::HashMap;

/// A `#run` expression to evaluate at compile time: the zero-argument function that
/// computes it, and whether it is the whole initialiser of a top-level value (then the
/// value can be read from that item's global after the initialisers ran).
#[derive(Clone, Debug)]
pub struct RunSite {
    /// The `#run` expression's span (the key of its constant).
    pub span: Span,
    /// The function computing it.
    pub func: u32,
    /// The top-level value item it initialises, if it is one's whole initialiser.
    pub item: Option<u32>,
}

impl<'a, 'p> FnCx<'a, 'p> {
    /// A `#run` site. With known values it loads its constant; otherwise the expression
    /// is lifted into a function the driver evaluates at compile time.
    pub(crate) fn run_site(
        &mut self,
        inner: &'p TExpr,
        span: Span,
        dst: u16,
        item: Option<u32>,
    ) -> R<()> {
        // The lifted function exists in both phases (so that function numbering does
        // not change between them); with a known value it is simply never called.
        let f = self.og.mb.declare_function("#run");
        let mut cx = FnCx {
            og: &mut *self.og,
            fb: Asm::new("#run", 0, 0),
            locs: HashMap::new(),
            next: 0,
            loops: Vec::new(),
            error: None,
            self_func: None,
        };
        cx.loc(span);
        let r = cx.tail(inner).and_then(|_| cx.finish());
        self.og.define(f, r);
        if let Some(rv) = self.og.run_values {
            if let Some(c) = rv.values.get(&span) {
                let g = self
                    .og
                    .mb
                    .add_global("#run", hashvm_format::GlobalInit::Const(c.clone()));
                self.fb.op(Op::LoadG, [s(dst), Operand::Global(g)]);
                return Ok(());
            }
        }
        self.og.runs.push(RunSite {
            span,
            func: f,
            item,
        });
        let base = self.next;
        self.fb
            .op(Op::CallK, [s(dst), Operand::Func(f), s(base), cnt(0)]);
        Ok(())
    }
}
