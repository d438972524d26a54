//! Standard library behaviour that the conformance examples do not pin down, through
//! the real `hashvm run`.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

fn run_hash(tag: &str, src: &str) -> String {
    let dir = Scratch::new(tag);
    std::fs::write(dir.0.join("p.hash"), src).unwrap();
    let r = run(
        Command::new(bin("hashvm"))
            .args(["run", "p.hash"])
            .current_dir(&dir.0),
        T,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
}

/// `list.sort` and `array.sort` order `f64`s with NaN by a total order, NaN last
/// (../shared/LANGUAGE.md, `list`), on runs both shorter and longer than the merge
/// sort's insertion runs; other types keep sorting by `<`, stably.
#[test]
fn sort_puts_nan_last() {
    let out = run_hash(
        "sort-nan",
        r#"
show := (xs: List<f64>) -> str => str.join(list.map(xs, f64.to_str), " ");
main := () => {
    n := f64.NAN;
    println(show(list.sort([3.0, n, 1.0, n, -2.0, 0.5])));
    a := array.from_list([n, 2.0, n, 1.0]);
    array.sort(a);
    println(show(array.to_list(a)));
    // 40 elements: several insertion runs and merges, NaN every third.
    big := list.map(list.range(0, 40), (i: i64) => if i % 3 == 0 { n } else { i64.to_f64(40 - i) });
    s := list.sort(big);
    println(show(list.take(s, 3)) + " | " + show(list.drop(s, 25)));
    println(str.join(list.map(list.sort([5, 3, 9, 1, 3]), i64.to_str), " "));
    println(str.join(list.sort(["b", "a", "c"]), " "));
};
"#,
    );
    let nans = vec!["NaN"; 14].join(" ");
    assert_eq!(
        out,
        format!("-2.0 0.5 1.0 3.0 NaN NaN\n1.0 2.0 NaN NaN\n2.0 3.0 5.0 | 39.0 {nans}\n1 3 3 5 9\na b c\n")
    );
}

/// `str.from_chars` of lists on both sides of its short path's limit (256 ASCII chars,
/// copied in one pass through a buffer on the stack) and of lists with a character of
/// two, three or four UTF-8 bytes (the general path, from the list's head again): at
/// the first and last place of a 60-char list, and before, at and past the limit of a
/// 258-char one; against the strings built in Rust.
#[test]
fn from_chars_short_and_general_paths() {
    let out = run_hash(
        "from-chars",
        r#"
code := (i: i64) -> char => match i64.to_char(i) { Some(c) => c, None => ' ' };
letters := (n: i64, at: i64, wide: i64) -> List<char> =>
    list.map(list.range(0, n), (i: i64) => if i == at { code(wide) } else { code(97 + i % 26) });
main := () => {
    ns := array.from_list([0, 1, 60, 255, 256, 257, 600]);
    for k in 0..array.len(ns) {
        s := str.from_chars(letters(ns[k], -1, 0));
        println(to_str(str.len(s)) + " " + s);
    }
    ats := array.from_list([0, 59, 255, 256]);
    wides := array.from_list([233, 8364, 128512]);
    for k in 0..array.len(ats) {
        for w in 0..array.len(wides) {
            s := str.from_chars(letters(60 + 198 * (k / 2), ats[k], wides[w]));
            println(to_str(str.len(s)) + " " + s);
        }
    }
    t := "h\u{e9}llo \u{20ac} \u{1F600}!";
    println(str.from_chars(str.chars(t)) + " " + to_str(str.from_chars(str.chars(t)) == t));
};
"#,
    );
    let letters = |n: usize, at: Option<usize>, wide: char| -> String {
        (0..n)
            .map(|i| {
                if Some(i) == at {
                    wide
                } else {
                    (b'a' + (i % 26) as u8) as char
                }
            })
            .collect()
    };
    let mut want = String::new();
    for n in [0, 1, 60, 255, 256, 257, 600] {
        let s = letters(n, None, ' ');
        want += &format!("{} {s}\n", s.len());
    }
    for (k, at) in [0, 59, 255, 256].into_iter().enumerate() {
        for w in ['\u{e9}', '\u{20ac}', '\u{1F600}'] {
            let s = letters(60 + 198 * (k / 2), Some(at), w);
            want += &format!("{} {s}\n", s.len());
        }
    }
    want += "h\u{e9}llo \u{20ac} \u{1F600}! true\n";
    assert_eq!(out, want);
}
