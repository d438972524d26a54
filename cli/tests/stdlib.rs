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
