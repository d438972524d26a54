//! Which top-level names each declaration uses, and the strongly connected components
//! of the resulting graph: top-level bindings are inferred in dependency order, a
//! group of mutually recursive functions together (LANGUAGE.md §3).

use crate::ast::*;
use crate::span::Span;

/// A free name used by an expression.
#[derive(Clone, Debug)]
pub struct NameUse {
    /// The name (the head of a path like `m.f`).
    pub name: String,
    /// Whether the use is evaluated when the expression is (not inside a lambda).
    pub direct: bool,
    /// Where.
    pub span: Span,
}

/// Collects the free names of `e` (names not bound by an enclosing pattern, parameter
/// or `let` of `e` itself).
pub fn free_names(e: &Expr) -> Vec<NameUse> {
    let mut w = Walker {
        bound: Vec::new(),
        out: Vec::new(),
        lambda_depth: 0,
    };
    w.expr(e);
    w.out
}

struct Walker {
    bound: Vec<String>,
    out: Vec<NameUse>,
    lambda_depth: u32,
}

impl Walker {
    fn use_name(&mut self, n: &str, span: Span) {
        if !self.bound.iter().any(|b| b == n) {
            self.out.push(NameUse {
                name: n.to_string(),
                direct: self.lambda_depth == 0,
                span,
            });
        }
    }

    fn bind_pat(&mut self, p: &Pat) {
        match &p.kind {
            PatKind::Name(n) => self.bound.push(n.clone()),
            PatKind::Tuple(ps) | PatKind::Or(ps) => ps.iter().for_each(|p| self.bind_pat(p)),
            PatKind::Ctor(path, args) => {
                if let Some(first) = path.first() {
                    if path.len() > 1 {
                        self.use_name(&first.name, first.span);
                    }
                }
                if let Some(a) = args {
                    a.iter().for_each(|p| self.bind_pat(p));
                }
            }
            PatKind::List(ps, rest) => {
                ps.iter().for_each(|p| self.bind_pat(p));
                if let Some(Some(r)) = rest {
                    self.bind_pat(r);
                }
            }
            PatKind::Wild | PatKind::Lit(_) | PatKind::Range(..) | PatKind::Error => {}
        }
    }

    fn block(&mut self, b: &Block) {
        let mark = self.bound.len();
        for s in &b.stmts {
            match s {
                Stmt::Let { pat, value, .. } => {
                    // A lambda bound to a name may call itself.
                    let rec = matches!(
                        (&pat.kind, &value.kind),
                        (PatKind::Name(_), ExprKind::Lambda(_))
                    );
                    if rec {
                        self.bind_pat(pat);
                        self.expr(value);
                    } else {
                        self.expr(value);
                        self.bind_pat(pat);
                    }
                }
                Stmt::Expr(e) => self.expr(e),
            }
        }
        if let Some(t) = &b.tail {
            self.expr(t);
        }
        self.bound.truncate(mark);
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Lit(_)
            | ExprKind::Break
            | ExprKind::Continue
            | ExprKind::Wildcard
            | ExprKind::Error => {}
            ExprKind::Var(n) => self.use_name(n, e.span),
            ExprKind::Block(b) => self.block(b),
            ExprKind::Foreign(fc) => {
                for a in &fc.args {
                    self.expr(a);
                }
            }
            ExprKind::Tuple(es) | ExprKind::List(es) | ExprKind::Op(_, es) => {
                es.iter().for_each(|e| self.expr(e))
            }
            ExprKind::Lambda(l) => {
                let mark = self.bound.len();
                for p in &l.params {
                    self.bound.push(p.name.name.clone());
                }
                self.lambda_depth += 1;
                self.expr(&l.body);
                self.lambda_depth -= 1;
                self.bound.truncate(mark);
            }
            ExprKind::Call(f, args) => {
                self.expr(f);
                args.iter().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Field(b, _) => self.expr(b),
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Unary(_, a) | ExprKind::Run(a) => self.expr(a),
            ExprKind::Assign { target, value, .. } => {
                self.expr(target);
                self.expr(value);
            }
            ExprKind::If(c, t, e) => {
                self.expr(c);
                self.block(t);
                if let Some(e) = e {
                    self.expr(e);
                }
            }
            ExprKind::While(c, b) => {
                self.expr(c);
                self.block(b);
            }
            ExprKind::For(p, it, b) => {
                match it {
                    ForIter::Range { start, end, .. } => {
                        self.expr(start);
                        self.expr(end);
                    }
                    ForIter::Expr(x) => self.expr(x),
                }
                let mark = self.bound.len();
                self.bind_pat(p);
                self.block(b);
                self.bound.truncate(mark);
            }
            ExprKind::Loop(b) => self.block(b),
            ExprKind::Return(v) => {
                if let Some(v) = v {
                    self.expr(v);
                }
            }
            ExprKind::Match(s, arms) => {
                self.expr(s);
                for a in arms {
                    let mark = self.bound.len();
                    self.bind_pat(&a.pat);
                    if let Some(g) = &a.guard {
                        self.expr(g);
                    }
                    self.expr(&a.body);
                    self.bound.truncate(mark);
                }
            }
        }
    }
}

/// Strongly connected components of the graph with `n` nodes and successor lists
/// `succ`, in reverse topological order of the condensation: every component comes
/// after the components it has edges to (dependencies first). Within a component,
/// nodes are in ascending order.
pub fn sccs(n: usize, succ: &[Vec<usize>]) -> Vec<Vec<usize>> {
    // Iterative Tarjan.
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = call.last_mut() {
            if *i < succ[v].len() {
                let w = succ[v][*i];
                *i += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comp.sort_unstable();
                    out.push(comp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sccs_dependencies_first() {
        // 0 -> 1 -> 2 -> 1, 3 alone, 4 -> 0
        let succ = vec![vec![1], vec![2], vec![1], vec![], vec![0]];
        let s = sccs(5, &succ);
        let pos = |x: usize| s.iter().position(|c| c.contains(&x)).unwrap();
        assert_eq!(s[pos(1)], vec![1, 2]);
        assert!(pos(1) < pos(0));
        assert!(pos(0) < pos(4));
    }
}
