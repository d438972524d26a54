//! Parentheses never change a program (issue 17): random well-typed programs are
//! printed twice, once plainly and once with extra parentheses around random
//! subexpressions (guards, lambda bodies, call arguments, conditions, operands), and
//! both must compile and print exactly what a reference evaluator computes. The
//! generator covers the places where `(…) =>` could be read as a lambda: guards ending
//! in a parenthesised operand, lambdas in arm bodies and guards, calls of
//! parenthesised lambdas.
//!
//! The test runs a few hundred programs; `HASH_PARENS_CASES=N` runs more (outside CI).

mod common;
use common::Sink;
use hashvm_compiler::driver::{compile_source, Options};
use hashvm_vm::{run_program, Config, Outcome, Vm};

// ----- a tiny typed expression language ----------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Ty {
    /// i64
    I,
    /// bool
    B,
    /// (i64) -> i64
    F,
    /// (i64, i64)
    T,
}

#[derive(Clone, Debug)]
enum E {
    Int(i64),
    Bool(bool),
    Var(String),
    /// Binary operator with its Hash spelling.
    Bin(&'static str, Box<E>, Box<E>),
    Not(Box<E>),
    Neg(Box<E>),
    If(Box<E>, Box<E>, Box<E>),
    /// `match s { x if g => a, _ => b }` (x bound to the i64 scrutinee in g and a).
    Match(Box<E>, String, Option<Box<E>>, Box<E>, Box<E>),
    /// `match t { (a, b) if g => x, _ => y }`.
    MatchTuple(Box<E>, String, String, Option<Box<E>>, Box<E>, Box<E>),
    /// `(x) => body` with an optional annotation style 0..3.
    Lam(String, u8, Box<E>),
    Call(Box<E>, Box<E>),
    Tuple(Box<E>, Box<E>),
    Proj(Box<E>, u8),
    /// `{ x := v; body }`.
    Block(String, Box<E>, Box<E>),
}

/// A small deterministic generator (xorshift), so a failing seed reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Gen {
    rng: Rng,
    /// Variables in scope with their types.
    scope: Vec<(String, Ty)>,
    fresh: usize,
}

impl Gen {
    fn name(&mut self) -> String {
        self.fresh += 1;
        format!("v{}", self.fresh)
    }

    fn var_of(&mut self, ty: Ty) -> Option<E> {
        let vs: Vec<&String> = self
            .scope
            .iter()
            .filter(|(_, t)| *t == ty)
            .map(|(n, _)| n)
            .collect();
        if vs.is_empty() {
            return None;
        }
        let i = self.rng.below(vs.len() as u64) as usize;
        Some(E::Var(vs[i].clone()))
    }

    fn with_var<T>(&mut self, name: &str, ty: Ty, f: impl FnOnce(&mut Gen) -> T) -> T {
        self.scope.push((name.to_string(), ty));
        let r = f(self);
        self.scope.pop();
        r
    }

    fn gen(&mut self, ty: Ty, depth: u32) -> E {
        let leaf = depth == 0 || self.rng.chance(20);
        if leaf {
            if self.rng.chance(50) {
                if let Some(v) = self.var_of(ty) {
                    return v;
                }
            }
            return match ty {
                Ty::I => E::Int(self.rng.below(40) as i64 - 10),
                Ty::B => E::Bool(self.rng.chance(50)),
                Ty::F => {
                    let x = self.name();
                    let style = self.rng.below(3) as u8;
                    let body = self.with_var(&x, Ty::I, |g| g.gen(Ty::I, 0));
                    E::Lam(x, style, Box::new(body))
                }
                Ty::T => E::Tuple(Box::new(self.gen(Ty::I, 0)), Box::new(self.gen(Ty::I, 0))),
            };
        }
        let d = depth - 1;
        // Forms every type has.
        match self.rng.below(10) {
            0 => {
                let c = self.gen(Ty::B, d);
                return E::If(
                    Box::new(c),
                    Box::new(self.gen(ty, d)),
                    Box::new(self.gen(ty, d)),
                );
            }
            1 => {
                let s = self.gen(Ty::I, d);
                let x = self.name();
                let guard = if self.rng.chance(80) {
                    Some(Box::new(self.with_var(&x, Ty::I, |g| g.gen(Ty::B, d))))
                } else {
                    None
                };
                let a = self.with_var(&x, Ty::I, |g| g.gen(ty, d));
                let b = self.gen(ty, d);
                return E::Match(Box::new(s), x, guard, Box::new(a), Box::new(b));
            }
            2 => {
                let s = self.gen(Ty::T, d);
                let (a, b) = (self.name(), self.name());
                let (a2, b2) = (a.clone(), b.clone());
                let guard = if self.rng.chance(70) {
                    Some(Box::new(self.with_var(&a2, Ty::I, |g| {
                        g.with_var(&b2, Ty::I, |g| g.gen(Ty::B, d))
                    })))
                } else {
                    None
                };
                let x = self.with_var(&a2, Ty::I, |g| g.with_var(&b2, Ty::I, |g| g.gen(ty, d)));
                let y = self.gen(ty, d);
                return E::MatchTuple(Box::new(s), a, b, guard, Box::new(x), Box::new(y));
            }
            3 => {
                let vty = [Ty::I, Ty::B, Ty::F, Ty::T][self.rng.below(4) as usize];
                let v = self.gen(vty, d);
                let x = self.name();
                let body = self.with_var(&x, vty, |g| g.gen(ty, d));
                return E::Block(x, Box::new(v), Box::new(body));
            }
            _ => {}
        }
        match ty {
            Ty::I => match self.rng.below(6) {
                0 | 1 => {
                    let op = ["+", "-", "*", "&", "|", "^"][self.rng.below(6) as usize];
                    E::Bin(
                        op,
                        Box::new(self.gen(Ty::I, d)),
                        Box::new(self.gen(Ty::I, d)),
                    )
                }
                2 => E::Neg(Box::new(self.gen(Ty::I, d))),
                3 => {
                    let f = self.gen(Ty::F, d);
                    E::Call(Box::new(f), Box::new(self.gen(Ty::I, d)))
                }
                4 => E::Proj(Box::new(self.gen(Ty::T, d)), self.rng.below(2) as u8),
                _ => E::Int(self.rng.below(1000) as i64),
            },
            Ty::B => match self.rng.below(4) {
                0 | 1 => {
                    let op = ["<", "<=", ">", ">=", "==", "!="][self.rng.below(6) as usize];
                    E::Bin(
                        op,
                        Box::new(self.gen(Ty::I, d)),
                        Box::new(self.gen(Ty::I, d)),
                    )
                }
                2 => {
                    let op = ["&&", "||"][self.rng.below(2) as usize];
                    E::Bin(
                        op,
                        Box::new(self.gen(Ty::B, d)),
                        Box::new(self.gen(Ty::B, d)),
                    )
                }
                _ => E::Not(Box::new(self.gen(Ty::B, d))),
            },
            Ty::F => {
                let x = self.name();
                let style = self.rng.below(3) as u8;
                let body = self.with_var(&x, Ty::I, |g| g.gen(Ty::I, d));
                E::Lam(x, style, Box::new(body))
            }
            Ty::T => E::Tuple(Box::new(self.gen(Ty::I, d)), Box::new(self.gen(Ty::I, d))),
        }
    }
}

// ----- printing ------------------------------------------------------------------------

/// Prints expressions; `extra` is the percentage of subexpressions wrapped in
/// parentheses beyond what precedence needs (0 for the plain form).
struct Printer {
    rng: Rng,
    extra: u64,
    /// Guards printed so far that end in `)`, right before the arm's `=>`.
    paren_guards: u64,
}

impl Printer {
    /// Prints `e` in a position where any expression may stand (delimited by the
    /// surrounding syntax), maybe wrapped.
    fn any(&mut self, e: &E) -> String {
        let s = self.bare(e);
        self.maybe(s)
    }

    fn maybe(&mut self, s: String) -> String {
        if self.extra > 0 && self.rng.chance(self.extra) {
            format!("({s})")
        } else {
            s
        }
    }

    /// Prints `e` where only an atom may stand (an operand, a callee): parenthesised
    /// unless it is a variable or literal.
    fn atom(&mut self, e: &E) -> String {
        match e {
            E::Var(_) | E::Bool(_) => self.any(e),
            E::Int(v) if *v >= 0 => self.any(e),
            _ => format!("({})", self.bare(e)),
        }
    }

    fn guard(&mut self, g: &E) -> String {
        let g = self.any(g);
        if g.ends_with(')') {
            self.paren_guards += 1;
        }
        format!(" if {g}")
    }

    fn bare(&mut self, e: &E) -> String {
        match e {
            E::Int(v) => v.to_string(),
            E::Bool(b) => b.to_string(),
            E::Var(v) => v.clone(),
            E::Bin(op, a, b) => format!("{} {op} {}", self.atom(a), self.atom(b)),
            E::Not(a) => format!("!{}", self.atom(a)),
            E::Neg(a) => format!("-{}", self.atom(a)),
            E::If(c, a, b) => format!(
                "if {} {{ {} }} else {{ {} }}",
                self.any(c),
                self.any(a),
                self.any(b)
            ),
            E::Match(s, x, g, a, b) => {
                let s = self.any(s);
                let g = match g {
                    Some(g) => self.guard(g),
                    None => String::new(),
                };
                format!(
                    "match {s} {{ {x}{g} => {}, _ => {} }}",
                    self.any(a),
                    self.any(b)
                )
            }
            E::MatchTuple(s, a, b, g, x, y) => {
                let s = self.any(s);
                let g = match g {
                    Some(g) => self.guard(g),
                    None => String::new(),
                };
                format!(
                    "match {s} {{ ({a}, {b}){g} => {}, _ => {} }}",
                    self.any(x),
                    self.any(y)
                )
            }
            E::Lam(x, style, body) => {
                let params = match style {
                    0 => format!("({x})"),
                    1 => format!("({x}: i64)"),
                    _ => format!("({x}: i64) -> i64"),
                };
                format!("{params} => {}", self.any(body))
            }
            E::Call(f, a) => format!("{}({})", self.atom(f), self.any(a)),
            E::Tuple(a, b) => format!("({}, {})", self.any(a), self.any(b)),
            E::Proj(t, i) => format!("{}.{i}", self.atom(t)),
            E::Block(x, v, body) => format!("{{ {x} := {}; {} }}", self.any(v), self.any(body)),
        }
    }
}

// ----- the reference evaluator -------------------------------------------------------------

#[derive(Clone)]
enum V {
    I(i64),
    B(bool),
    F(String, E, Vec<(String, V)>),
    T(i64, i64),
}

fn eval(e: &E, env: &mut Vec<(String, V)>) -> V {
    let int = |v: V| match v {
        V::I(i) => i,
        _ => unreachable!("generator produced an ill-typed program"),
    };
    let boolean = |v: V| match v {
        V::B(b) => b,
        _ => unreachable!("generator produced an ill-typed program"),
    };
    match e {
        E::Int(v) => V::I(*v),
        E::Bool(b) => V::B(*b),
        E::Var(x) => env
            .iter()
            .rev()
            .find(|(n, _)| n == x)
            .map(|(_, v)| v.clone())
            .expect("bound"),
        E::Bin(op, a, b) => match *op {
            "&&" => V::B(boolean(eval(a, env)) && boolean(eval(b, env))),
            "||" => V::B(boolean(eval(a, env)) || boolean(eval(b, env))),
            _ => {
                let (x, y) = (int(eval(a, env)), int(eval(b, env)));
                match *op {
                    "+" => V::I(x.wrapping_add(y)),
                    "-" => V::I(x.wrapping_sub(y)),
                    "*" => V::I(x.wrapping_mul(y)),
                    "&" => V::I(x & y),
                    "|" => V::I(x | y),
                    "^" => V::I(x ^ y),
                    "<" => V::B(x < y),
                    "<=" => V::B(x <= y),
                    ">" => V::B(x > y),
                    ">=" => V::B(x >= y),
                    "==" => V::B(x == y),
                    "!=" => V::B(x != y),
                    _ => unreachable!(),
                }
            }
        },
        E::Not(a) => V::B(!boolean(eval(a, env))),
        E::Neg(a) => V::I(int(eval(a, env)).wrapping_neg()),
        E::If(c, a, b) => {
            if boolean(eval(c, env)) {
                eval(a, env)
            } else {
                eval(b, env)
            }
        }
        E::Match(s, x, g, a, b) => {
            let v = eval(s, env);
            env.push((x.clone(), v));
            let taken = g.as_ref().is_none_or(|g| boolean(eval(g, env)));
            let r = if taken { Some(eval(a, env)) } else { None };
            env.pop();
            r.unwrap_or_else(|| eval(b, env))
        }
        E::MatchTuple(s, a, b, g, x, y) => {
            let V::T(p, q) = eval(s, env) else {
                unreachable!()
            };
            env.push((a.clone(), V::I(p)));
            env.push((b.clone(), V::I(q)));
            let taken = g.as_ref().is_none_or(|g| boolean(eval(g, env)));
            let r = if taken { Some(eval(x, env)) } else { None };
            env.pop();
            env.pop();
            r.unwrap_or_else(|| eval(y, env))
        }
        E::Lam(x, _, body) => V::F(x.clone(), (**body).clone(), env.clone()),
        E::Call(f, a) => {
            let V::F(x, body, mut cenv) = eval(f, env) else {
                unreachable!()
            };
            let arg = eval(a, env);
            cenv.push((x, arg));
            eval(&body, &mut cenv)
        }
        E::Tuple(a, b) => V::T(int(eval(a, env)), int(eval(b, env))),
        E::Proj(t, i) => match eval(t, env) {
            V::T(p, q) => V::I(if *i == 0 { p } else { q }),
            _ => unreachable!(),
        },
        E::Block(x, v, body) => {
            let v = eval(v, env);
            env.push((x.clone(), v));
            let r = eval(body, env);
            env.pop();
            r
        }
    }
}

fn show(v: &V) -> String {
    match v {
        V::I(i) => i.to_string(),
        V::B(b) => b.to_string(),
        V::T(p, q) => format!("({p}, {q})"),
        V::F(..) => "<function>".into(),
    }
}

// ----- compiling and running ----------------------------------------------------------

/// Compiles and runs `src`: its standard output, or the compile/runtime error.
fn run(src: &str) -> Result<String, String> {
    let c = compile_source("main.hash", src, &Options::default()).map_err(|f| f.rendered)?;
    let verified = hashvm_format::verify(&c.module).map_err(|e| format!("verify: {e:?}"))?;
    let mut vm = Vm::new(Config::default());
    let sink = Sink::default();
    vm.set_output(Box::new(sink.clone()));
    match run_program(&mut vm, verified) {
        Outcome::Exit(0) => Ok(String::from_utf8_lossy(&sink.0.borrow()).into_owned()),
        Outcome::Exit(n) => Err(format!("exit status {n}")),
        Outcome::Error(e) => Err(format!("runtime error: {e}")),
    }
}

/// One generated program: (plain text, parenthesised text, expected output, guards
/// ending in `)` in the parenthesised text).
fn program(seed: u64) -> (String, String, String, u64) {
    let mut g = Gen {
        rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
        scope: Vec::new(),
        fresh: 0,
    };
    let mut exprs = Vec::new();
    for _ in 0..4 {
        let ty = [Ty::I, Ty::B, Ty::T][g.rng.below(3) as usize];
        exprs.push(g.gen(ty, 4));
    }
    let mut plain = Printer {
        rng: Rng(1),
        extra: 0,
        paren_guards: 0,
    };
    let mut parens = Printer {
        rng: Rng(seed | 1),
        extra: 35,
        paren_guards: 0,
    };
    let mut expected = String::new();
    let (mut a, mut b) = (
        String::from("main := () => {\n"),
        String::from("main := () => {\n"),
    );
    for e in &exprs {
        expected.push_str(&show(&eval(e, &mut Vec::new())));
        expected.push('\n');
        a.push_str(&format!("    println(to_str({}));\n", plain.any(e)));
        b.push_str(&format!("    println(to_str({}));\n", parens.any(e)));
    }
    a.push_str("};\n");
    b.push_str("};\n");
    (a, b, expected, parens.paren_guards)
}

fn cases() -> u64 {
    std::env::var("HASH_PARENS_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150)
}

#[test]
fn extra_parentheses_change_nothing() {
    let n = cases();
    let mut guards_with_paren_end = 0;
    for seed in 1..=n {
        let (plain, parens, expected, paren_guards) = program(seed);
        guards_with_paren_end += paren_guards;
        for (what, src) in [("plain", &plain), ("parenthesised", &parens)] {
            match run(src) {
                Ok(out) => assert_eq!(
                    out, expected,
                    "seed {seed}: the {what} program printed the wrong output:\n{src}"
                ),
                Err(e) => panic!("seed {seed}: the {what} program failed:\n{src}\n{e}"),
            }
        }
    }
    // The generator must reach the construct the test is about.
    assert!(
        guards_with_paren_end >= n / 2,
        "only {guards_with_paren_end} guards ending in `)` in {n} programs"
    );
    eprintln!(
        "{n} generated programs ({guards_with_paren_end} guards ending in `)`), each plain and \
         parenthesised, agree with the reference evaluator"
    );
}

// ----- the cases of issue 17, each named -----------------------------------------------

fn main_prints(body: &str) -> String {
    let src = format!("main := () => {{\n{body}\n}};\n");
    run(&src).unwrap_or_else(|e| panic!("{src}\n{e}"))
}

#[test]
fn guard_ending_in_parenthesised_literal() {
    let out = main_prints(r#"r := match 7 { n if n > (5) => "big", _ => "small" }; println(r);"#);
    assert_eq!(out, "big\n");
}

#[test]
fn guard_ending_in_tuple() {
    let out = main_prints(
        r#"r := match (1, 2) { (a, b) if (a, b) == (1, 2) => "yes", _ => "no" }; println(r);"#,
    );
    assert_eq!(out, "yes\n");
}

#[test]
fn guard_ending_in_parenthesised_variable() {
    let out =
        main_prints(r#"m := 3; r := match 7 { n if n > (m) => "big", _ => "small" }; println(r);"#);
    assert_eq!(out, "big\n");
}

#[test]
fn guard_ending_in_call() {
    let out = main_prints(
        r#"f := (x: i64) => x * 2; r := match 7 { n if n < f(n) => "less", _ => "more" }; println(r);"#,
    );
    assert_eq!(out, "less\n");
}

#[test]
fn guard_calling_parenthesised_function() {
    let out = main_prints(
        r#"f := (x: i64) => x > 5; r := match 7 { n if (f)(n) => "big", _ => "small" }; println(r);"#,
    );
    assert_eq!(out, "big\n");
}

#[test]
fn guard_containing_a_lambda() {
    let out = main_prints(
        r#"r := match 7 { n if ((x: i64) => x > 5)(n) => "big", _ => "small" };
           s := match 2 { n if list.any([1, 2, 3], (x) => x == n) => "in", _ => "out" };
           println(r + " " + s);"#,
    );
    assert_eq!(out, "big in\n");
}

#[test]
fn lambda_in_arm_body_after_parenthesised_guard() {
    let out = main_prints(
        r#"g := match 7 { n if n > (5) => (x: i64) => x + n, _ => (x: i64) => x };
           println(to_str(g(1)));"#,
    );
    assert_eq!(out, "8\n");
}

#[test]
fn match_inside_a_guard_keeps_its_lambdas() {
    let out = main_prints(
        r#"r := match 4 {
               n if match n { k if k > (1) => ((x: i64) => x > 3)(k), _ => false } => "yes",
               _ => "no",
           };
           println(r);"#,
    );
    assert_eq!(out, "yes\n");
}

/// Runs `main`'s body with `P := struct(a: i64, b: i64);` declared.
fn with_struct(body: &str) -> String {
    let src = format!("P := struct(a: i64, b: i64);\nmain := () => {{\n{body}\n}};\n");
    run(&src).unwrap_or_else(|e| panic!("{src}\n{e}"))
}

#[test]
fn if_and_while_conditions_ending_in_parentheses() {
    let out = main_prints(
        "mut t := 0; if t < (1) { t += 1; } while t < (3) { t += (1); } \
         u := if (t) == (3) { (t) } else { 0 }; println(to_str(u));",
    );
    assert_eq!(out, "3\n");
}

#[test]
fn for_headers_with_parentheses() {
    let out = main_prints(
        "mut t := 0; for i in (0)..(3) { t += (i); } for (a, b) in [(1, 2)] { t += (a) * (b); } \
         for x in ([10]) { t += x; } println(to_str(t));",
    );
    assert_eq!(out, "15\n");
}

#[test]
fn struct_fields_and_call_arguments_ending_in_parentheses() {
    let out = with_struct(
        "t := 4; p := P(a = (t), b = (2)); f := (x: i64, y: i64) => (x) - (y); \
         println(to_str(f((p.a), (p).b)));",
    );
    assert_eq!(out, "2\n");
}

#[test]
fn arm_bodies_and_lambda_bodies_in_parentheses() {
    let out = main_prints(
        "f := (x: i64) => (x); g := (x: i64) -> i64 => ((y: i64) => (y))(x); \
         r := match (f(1), g(2)) { (a, b) => (a + b), }; println(to_str((r)));",
    );
    assert_eq!(out, "3\n");
}
