//! The standard library's integer-taking functions at the edges of `i64` (MIN, MIN+1,
//! -1, 0, 1, MAX-1, MAX, huge counts), against a reference computed in Rust.
//!
//! One Hash program dispatches on its arguments (`OP A B`) and prints one line; it is
//! compiled once and each case runs it on a fresh VM with a 16 MiB heap limit, so that
//! a huge count must end with "out of memory" quickly instead of building for ever.
//! Each reference says what the answer is: a printed line, a runtime error (a piece of
//! its message), or, for counts between "small enough to build" and "certainly past
//! the limit", either a line or "out of memory".

mod common;
use common::Buf;
use hashvm_compiler::driver::{compile_source, Options};
use hashvm_format::Module;
use hashvm_vm::{run_program, Config, Outcome, Vm};
use proptest::prelude::*;
use rug::ops::Pow;
use rug::Integer;
use std::sync::OnceLock;

const SRC: &str = r#"
arg := (i: i64) -> i64 => match list.nth(io.args(), i) {
    Some(s) => match i64.parse(s) {
        Some(n) => n,
        None => panic("bad argument " + s),
    },
    None => panic("missing argument"),
};

ends := <T> => (xs: List<T>) -> str =>
    to_str(list.len(xs)) + " " + to_str(list.head(xs)) + " " + to_str(list.last(xs));

main := () => {
    op := match list.head(io.args()) { Some(s) => s, None => "" };
    a := arg(1);
    b := arg(2);
    xs := [10, 20, 30, 40, 50];
    out := match op {
        "range" => ends(list.range(a, b)),
        "take" => to_str(list.take(xs, a)),
        "drop" => to_str(list.drop(xs, a)),
        "nth" => to_str(list.nth(xs, a)),
        "make" => {
            arr := array.make(a, 7);
            to_str(array.len(arr))
        }
        "init" => ends(array.to_list(array.init(a, (i) => 2 * i))),
        "repeat" => to_str(str.len(str.repeat("ab", a))),
        "slice" => str.slice("h\u{e9}llo", a, b),
        "char_at" => to_str(str.char_at("h\u{e9}llo", a)),
        "from_code" => to_str(char.from_code(a)),
        "to_char" => to_str(i64.to_char(a)),
        "pow" => to_str(i64.pow(a, b)),
        "ibig_pow" => to_str(ibig.pow(ibig.from_i64(a), b)),
        "abs" => to_str(i64.abs(a)),
        "min" => to_str(i64.min(a, b)),
        "max" => to_str(i64.max(a, b)),
        "to_u64" => to_str(i64.to_u64(a)),
        "fmt" => f64.fmt(1.5, a),
        _ => panic("unknown op " + op),
    };
    println(out);
};
"#;

fn module() -> &'static Module {
    static M: OnceLock<Module> = OnceLock::new();
    M.get_or_init(|| {
        compile_source("edges.hash", SRC, &Options::default())
            .unwrap_or_else(|f| panic!("{}", f.rendered))
            .module
    })
}

/// What the program printed (without the newline), or the runtime error's message.
fn run(op: &str, a: i64, b: i64) -> Result<String, String> {
    let config = Config {
        heap_limit: 16 << 20,
        ..Config::default()
    };
    let mut vm = Vm::new(config);
    let buf = Buf::default();
    vm.set_output(Box::new(buf.clone()));
    vm.set_args(vec![op.to_string(), a.to_string(), b.to_string()]);
    let verified = hashvm_format::verify(module()).expect("the test program verifies");
    let outcome = run_program(&mut vm, verified);
    drop(vm);
    let text = String::from_utf8_lossy(&buf.0.borrow()).into_owned();
    match outcome {
        Outcome::Exit(0) => Ok(text.strip_suffix('\n').unwrap_or(&text).to_string()),
        Outcome::Exit(c) => Err(format!("exit {c}")),
        Outcome::Error(e) => Err(e.message),
    }
}

/// A reference answer.
enum Want {
    Line(String),
    /// A runtime error whose message contains this.
    Error(&'static str),
    /// The line, or "out of memory" (a count near the heap limit).
    LineOrOom(String),
}

const OOM: &str = "out of memory";
/// Elements (or bytes) certainly built within a 16 MiB heap.
const SMALL: i128 = 100_000;
/// Elements certainly not: a cons cell or an array slot takes at least 16 bytes.
const HUGE: i128 = 1 << 21;

fn check(op: &str, a: i64, b: i64, want: Want) -> Result<(), TestCaseError> {
    let got = run(op, a, b);
    let ok = match (&want, &got) {
        (Want::Line(w), Ok(g)) => w == g,
        (Want::Error(w), Err(g)) => g.contains(w),
        (Want::LineOrOom(w), Ok(g)) => w == g,
        (Want::LineOrOom(_), Err(g)) => g.contains(OOM),
        _ => false,
    };
    let shown = match &want {
        Want::Line(w) => format!("line {w:?}"),
        Want::Error(w) => format!("error containing {w:?}"),
        Want::LineOrOom(w) => format!("line {w:?} or out of memory"),
    };
    prop_assert!(ok, "{op}({a}, {b}): want {shown}, got {got:?}");
    Ok(())
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    match v {
        Some(x) => format!("Some({x})"),
        None => "None".into(),
    }
}

/// `len Some(first) Some(last)` as the program prints a list's ends.
fn ends(len: i128, first: Option<i128>, last: Option<i128>) -> String {
    format!("{len} {} {}", opt(first), opt(last))
}

/// A count-sized answer: exact when small, "out of memory" when huge, either between.
fn sized(count: i128, line: impl FnOnce() -> String) -> Want {
    if count > HUGE {
        Want::Error(OOM)
    } else if count > SMALL {
        Want::LineOrOom(line())
    } else {
        Want::Line(line())
    }
}

const XS: [i64; 5] = [10, 20, 30, 40, 50];
const TEXT: &str = "h\u{e9}llo";

fn show_list(v: &[i64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

fn reference(op: &str, a: i64, b: i64) -> Want {
    let (a1, b1) = (a as i128, b as i128);
    match op {
        "range" => {
            let n = (b1 - a1).max(0);
            sized(n, || {
                let (f, l) = if n > 0 {
                    (Some(a1), Some(b1 - 1))
                } else {
                    (None, None)
                };
                ends(n, f, l)
            })
        }
        "take" => Want::Line(show_list(&XS[..a1.clamp(0, 5) as usize])),
        "drop" => Want::Line(show_list(&XS[a1.clamp(0, 5) as usize..])),
        "nth" => Want::Line(opt(usize::try_from(a).ok().and_then(|i| XS.get(i)))),
        "make" if a < 0 => Want::Error("negative array length"),
        "make" => sized(a1, || a.to_string()),
        "init" if a < 0 => Want::Error("negative length"),
        "init" => sized(a1, || {
            let (f, l) = if a > 0 {
                (Some(0), Some(2 * (a1 - 1)))
            } else {
                (None, None)
            };
            ends(a1, f, l)
        }),
        "repeat" if a < 0 => Want::Error("negative count"),
        "repeat" => sized(a1, || (2 * a1).to_string()),
        "slice" => {
            if a < 0 || b < a || b1 > TEXT.len() as i128 {
                Want::Error("out of bounds")
            } else {
                match TEXT.get(a as usize..b as usize) {
                    Some(s) => Want::Line(s.to_string()),
                    None => Want::Error("char boundaries"),
                }
            }
        }
        "char_at" => Want::Line(
            match usize::try_from(a)
                .ok()
                .and_then(|i| TEXT.get(i..))
                .and_then(|r| r.chars().next())
            {
                Some(c) => format!("Some({c:?})"),
                None => "None".into(),
            },
        ),
        "from_code" | "to_char" => {
            Want::Line(match u32::try_from(a).ok().and_then(char::from_u32) {
                Some(c) => format!("Some({c:?})"),
                None => "None".into(),
            })
        }
        "pow" if b < 0 => Want::Error("negative exponent"),
        "pow" => {
            // a^b mod 2^64, read back as two's complement: what wrapping arithmetic gives.
            let m = Integer::from(1) << 64;
            let r = Integer::from(a)
                .pow_mod(&Integer::from(b), &m)
                .expect("non-negative exponent");
            Want::Line((r.to_u64_wrapping() as i64).to_string())
        }
        "ibig_pow" if b < 0 || b > u32::MAX as i64 => Want::Error("out of range"),
        "ibig_pow" => {
            let exact = || Integer::from(a).pow(b as u32).to_string();
            if (-1..=1).contains(&a) {
                Want::Line(exact())
            } else {
                // Result bits: about bits(a) * b; 16 MiB is 2^27 bits.
                let bits = (64 - a.unsigned_abs().leading_zeros()) as i128 * b1;
                if bits > 1 << 28 {
                    Want::Error(OOM)
                } else if bits > 1 << 16 {
                    Want::LineOrOom(String::new())
                } else {
                    Want::Line(exact())
                }
            }
        }
        "abs" => Want::Line(a.wrapping_abs().to_string()),
        "min" => Want::Line(a.min(b).to_string()),
        "max" => Want::Line(a.max(b).to_string()),
        "to_u64" => Want::Line((a as u64).to_string()),
        "fmt" if !(0..=1000).contains(&a) => Want::Error("out of range"),
        "fmt" => Want::Line(format!("{:.*}", a as usize, 1.5)),
        _ => unreachable!("{op}"),
    }
}

/// The edges, and values near them and near the small counts that matter.
fn edge() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => prop::sample::select(vec![
            i64::MIN,
            i64::MIN + 1,
            i64::MIN + 2,
            -(1 << 40),
            -2,
            -1,
            0,
            1,
            2,
            3,
            5,
            6,
            1 << 20,
            1 << 32,
            (1 << 32) + 1,
            1 << 40,
            i64::MAX - 2,
            i64::MAX - 1,
            i64::MAX,
        ]),
        1 => -8i64..8,
        1 => any::<i64>(),
    ]
}

const OPS: &[&str] = &[
    "range",
    "take",
    "drop",
    "nth",
    "make",
    "init",
    "repeat",
    "slice",
    "char_at",
    "from_code",
    "to_char",
    "pow",
    "ibig_pow",
    "abs",
    "min",
    "max",
    "to_u64",
    "fmt",
];

/// `b` for a range is most interesting near `a`: the same, one either side, or an edge.
fn pair() -> impl Strategy<Value = (i64, i64)> {
    (edge(), edge(), -3i64..4, any::<bool>()).prop_map(|(a, b, d, near)| {
        if near {
            (a, a.saturating_add(d))
        } else {
            (a, b)
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn integer_functions_match_the_reference(op in prop::sample::select(OPS), (a, b) in pair()) {
        // ibig.pow of a large base at a large exponent is computed exactly only when
        // small; keep the base small so that most cases are exact.
        let a = if op == "ibig_pow" { a.clamp(-3, 3) } else { a };
        let b = if op == "ibig_pow" && b > 0 && b < 1 << 20 { b % 300 } else { b };
        let want = reference(op, a, b);
        // Between "exact" and "certainly too big", ibig.pow's line is not compared.
        if let (Want::LineOrOom(w), "ibig_pow") = (&want, op) {
            prop_assert!(w.is_empty());
            let got = run(op, a, b);
            prop_assert!(got.is_ok() || got.as_ref().is_err_and(|e| e.contains(OOM)), "{got:?}");
        } else {
            check(op, a, b, want)?;
        }
    }
}

/// The cases the issue was filed for, and every edge pair of `list.range`, always.
#[test]
fn range_at_every_edge() {
    let edges = [
        i64::MIN,
        i64::MIN + 1,
        i64::MIN + 2,
        -1,
        0,
        1,
        i64::MAX - 2,
        i64::MAX - 1,
        i64::MAX,
    ];
    assert_eq!(run("range", 1, i64::MIN), Ok("0 None None".into()));
    assert_eq!(
        run("range", i64::MIN, i64::MIN + 2),
        Ok(format!("2 Some({}) Some({})", i64::MIN, i64::MIN + 1))
    );
    for a in edges {
        for b in edges {
            check("range", a, b, reference("range", a, b)).unwrap();
        }
    }
}
