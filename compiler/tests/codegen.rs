//! Code-generation golden tests: the exact code the compiler emits for small programs
//! (constant folding, fused branches, immediates, tail calls, pattern matching,
//! closures, loops), as snapshots of the function's disassembly. A change to code
//! generation shows up here as a readable diff; after checking it, refresh the
//! snapshots with `UPDATE_EXPECT=1 cargo test -p hashvm-compiler --test codegen`.

mod common;

use expect_test::{expect, Expect};
use hashvm_compiler::driver::{compile_source, Options};
use hashvm_format::hasm::{disassemble_function, function_index};

/// Compiles `src` and checks the disassembly of its function `name` against `want`.
fn check(src: &str, name: &str, want: Expect) {
    let c = compile_source("golden.hash", src, &Options::default())
        .unwrap_or_else(|f| panic!("{}", f.rendered));
    let i = function_index(&c.module, name).unwrap_or_else(|| panic!("no function {name}"));
    let text = disassemble_function(&c.module, i).unwrap_or_default();
    want.assert_eq(&text);
}

#[test]
fn constants_are_folded() {
    check(
        "f := () -> i64 => 2 + 3 * 4 - (10 / 2);\nmain := () => { println(to_str(f())); };",
        "f",
        expect![[r#"
            .func f/0 slots=1                       ; function 6
                .loc "golden.hash" 1 19
                reti       9                        ; 0
            .end
        "#]],
    );
}

#[test]
fn division_by_zero_is_left_to_run_time() {
    // It faults at its line when it runs, not at compile time.
    check(
        "g := () -> i64 => 1 / 0;\nmain := () => { println(to_str(g())); };",
        "g",
        expect![[r#"
            .func g/0 slots=3                       ; function 6
                .loc "golden.hash" 1 19
                loadi      r1, 1                    ; 0
                .loc "golden.hash" 1 23
                loadi      r2, 0                    ; 7
                .loc "golden.hash" 1 19
                div.i64    r0, r1, r2               ; 14
                ret        r0                       ; 21
            .end
        "#]],
    );
}

#[test]
fn comparisons_branch_and_recursion_loops() {
    check(
        "count := (n: i64, acc: i64) -> i64 => if n <= 0 { acc } else { count(n - 1, acc + 2) };\n\
         main := () => { println(to_str(count(10, 0))); };",
        "count",
        expect![[r#"
            .func count/2 slots=2                   ; function 6
                .loc "golden.hash" 1 39
                jgti.i64   r0, 0, L0                ; 0
                ret        r1                       ; 11
            L0:
                .loc "golden.hash" 1 70
                subi.i64   r0, r0, 1                ; 14
                .loc "golden.hash" 1 77
                addi.i64   r1, r1, 2                ; 23
                .loc "golden.hash" 1 64
                tcallself  r0, 2                    ; 32
            .end
        "#]],
    );
}

#[test]
fn float_literals_become_immediates() {
    check(
        "h := (x: f64) -> f64 => 2.0 * x + 1.0 / x;\nmain := () => { println(to_str(h(2.0))); };",
        "h",
        expect![[r#"
            .func h/1 slots=4                       ; function 6
                .loc "golden.hash" 1 25
                mulk.f64   r2, r0, 2.0              ; 0
                .loc "golden.hash" 1 35
                rdivk.f64  r3, r0, 1.0              ; 13
                .loc "golden.hash" 1 25
                add.f64    r1, r2, r3               ; 26
                ret        r1                       ; 33
            .end
        "#]],
    );
}

#[test]
fn list_patterns_switch_on_the_constructor() {
    check(
        "len := (xs: List<i64>, acc: i64) -> i64 => match xs { [] => acc, [_, ..t] => len(t, acc + 1) };\n\
         main := () => { println(to_str(len([1, 2, 3], 0))); };",
        "len",
        expect![[r#"
            .func len/2 slots=2                     ; function 6
                .loc "golden.hash" 1 44
                jntag      r0, 0, L0                ; 0
                ret        r1                       ; 9
            L0:
                field      r0, r0, 1                ; 12
                .loc "golden.hash" 1 85
                addi.i64   r1, r1, 1                ; 19
                .loc "golden.hash" 1 78
                tcallself  r0, 2                    ; 28
            .end
        "#]],
    );
}

#[test]
fn closures_capture_their_free_variables() {
    check(
        "adder := (k: i64) -> (i64) -> i64 => (x: i64) => x + k;\n\
         main := () => { println(to_str(adder(2)(3))); };",
        "adder",
        expect![[r#"
            .func adder/1 slots=2                   ; function 6
                .loc "golden.hash" 1 38
                closure    r1, "<lambda>", r0, 1    ; 0
                ret        r1                       ; 11
            .end
        "#]],
    );
}

#[test]
fn range_loops_count_in_place() {
    check(
        "sum := (n: i64) -> i64 => { mut s := 0; for i in 0..n { s += i; } s };\n\
         main := () => { println(to_str(sum(10))); };",
        "sum",
        expect![[r#"
            .func sum/1 slots=3                     ; function 6
                .loc "golden.hash" 1 38
                loadi      r1, 0                    ; 0
                .loc "golden.hash" 1 50
                loadi      r2, 0                    ; 7
            L0:
                jge.i64    r2, r0, L1               ; 14
                .loc "golden.hash" 1 57
                add.i64    r1, r1, r2               ; 23
                addi.i64   r2, r2, 1                ; 30
                loop       L0                       ; 39
            L1:
                ret        r1                       ; 44
            .end
        "#]],
    );
}

#[test]
fn char_comparisons_use_char_immediates() {
    check(
        "vowel := (c: char) -> bool => c == 'a' || c == 'e';\n\
         main := () => { println(to_str(vowel('e'))); };",
        "vowel",
        expect![[r#"
            .func vowel/1 slots=3                   ; function 6
                .loc "golden.hash" 1 10
                jeq.char   r0, 'a', L0              ; 0
                .loc "golden.hash" 1 48
                loadchar   r2, 'e'                  ; 11
                .loc "golden.hash" 1 43
                eq         r1, r0, r2               ; 18
                ret        r1                       ; 25
            L0:
                loadtrue   r1                       ; 28
                ret        r1                       ; 31
            .end
        "#]],
    );
}

#[test]
fn a_call_into_a_dead_top_slot_puts_its_window_there() {
    // `t`'s slot (r2) holds the previous iteration's tree when `build` is called; the
    // call's window starts at r2, so the argument overwrites that dead pointer before
    // `build` runs (the collector scans every slot: with the window at r3, r2 kept the
    // old tree alive while the new one was built). A function value is computed into
    // the destination itself (`call r5, r5, r6, 1`), for the same reason.
    check(
        "Tree := enum(Leaf, Node(Tree, Tree));\n\
         build := (d: i64) -> Tree => if d == 0 { Tree.Leaf } else { Tree.Node(build(d - 1), build(d - 1)) };\n\
         size := (t: Tree) -> i64 => match t { Tree.Leaf => 1, Tree.Node(l, r) => size(l) + size(r) };\n\
         run := (k: (i64) -> i64) -> i64 => {\n\
             mut n := 0;\n\
             while n < 10 { t := build(12); n += size(t) + k(n); }\n\
             n\n\
         };\n\
         main := () => { println(to_str(run((x: i64) => x))); };",
        "run",
        expect![[r#"
            .func run/1 slots=7                     ; function 8
                .loc "golden.hash" 5 10
                loadi      r1, 0                    ; 0
            L0:
                .loc "golden.hash" 6 1
                jgei.i64   r1, 10, L1               ; 7
                .loc "golden.hash" 6 27
                loadi      r2, 12                   ; 18
                .loc "golden.hash" 6 21
                callk      r2, build, r2, 1         ; 25
                .loc "golden.hash" 6 42
                mov        r4, r2                   ; 36
                .loc "golden.hash" 6 37
                callk      r4, size, r4, 1          ; 41
                .loc "golden.hash" 6 47
                mov        r5, r0                   ; 52
                .loc "golden.hash" 6 49
                mov        r6, r1                   ; 57
                .loc "golden.hash" 6 47
                call       r5, r5, r6, 1            ; 62
                .loc "golden.hash" 6 37
                add.i64    r3, r4, r5               ; 71
                add.i64    r1, r1, r3               ; 78
                loop       L0                       ; 85
            L1:
                ret        r1                       ; 90
            .end
        "#]],
    );
}

#[test]
fn a_two_armed_match_tests_once_and_falls_into_its_first_arm() {
    // binary-trees' walk: no `jmp` after the `jntag`, no `jmp` over an unreachable
    // `matchfail`, `1 + f(l)` is an `addi` after the call (no `loadi`), and `r` is read
    // into the second call's window after the first call (no `mov`).
    check(
        "T := enum(E, N(T, T));\n\
         count := (t: T) -> i64 => match t { T.E => 0, T.N(l, r) => 1 + count(l) + count(r) };\n\
         main := () => { println(to_str(count(T.N(T.E, T.E)))); };",
        "count",
        expect![[r#"
            .func count/1 slots=4                   ; function 6
                .loc "golden.hash" 2 27
                jntag.reti r0, 0, L0                ; 0
                .loc "golden.hash" 2 44
                reti       0                        ; 9
            L0:
                .loc "golden.hash" 2 27
                field.callk r3, r0, 0               ; 14
                .loc "golden.hash" 2 64
                callk      r3, count, r3, 1         ; 21
                addi.i64   r2, r3, 1                ; 32
                .loc "golden.hash" 2 27
                field.callk r3, r0, 1               ; 41
                .loc "golden.hash" 2 75
                callk      r3, count, r3, 1         ; 48
                .loc "golden.hash" 2 60
                add.i64.ret r1, r2, r3              ; 59
                ret        r1                       ; 66
            .end
        "#]],
    );
}

#[test]
fn a_match_in_a_value_position_joins_without_jumps_to_jumps() {
    check(
        "f := (o: Option<i64>) -> i64 => { x := match o { Some(v) => v * 2, None => 0 }; x + 1 };\n\
         main := () => { println(to_str(f(Some(3)))); };",
        "f",
        expect![[r#"
            .func f/1 slots=3                       ; function 6
                .loc "golden.hash" 1 40
                jntag      r0, 0, L1                ; 0
                .loc "golden.hash" 1 76
                loadi      r1, 0                    ; 9
            L0:
                .loc "golden.hash" 1 81
                addi.i64   r2, r1, 1                ; 16
                ret        r2                       ; 25
            L1:
                .loc "golden.hash" 1 40
                field      r2, r0, 0                ; 28
                .loc "golden.hash" 1 61
                muli.i64   r1, r2, 2                ; 35
                jmp        L0                       ; 44
            .end
        "#]],
    );
}

/// Every function of the compiled programs in `dir` (each `.hash` that compiles).
fn compiled_functions(dir: &std::path::Path) -> Vec<(String, hashvm_format::Function)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hash"))
        .collect();
    files.sort();
    for p in files {
        if let Ok(c) = hashvm_compiler::driver::compile_program(
            &p,
            &hashvm_compiler::driver::Options::default(),
        ) {
            for f in c.module.functions {
                out.push((format!("{}: {}", p.display(), f.name), f));
            }
        }
    }
    out
}

/// The control-flow clean-up (`codegen/asm.rs`) leaves no `jmp` to a `jmp`, no `jmp`
/// to the next instruction, no conditional jump over a `jmp`, and no unreachable
/// instruction right after one that never falls through, in the benchmark programs
/// and the conformance examples (and the standard library they link).
#[test]
fn no_jumps_to_jumps_and_no_dead_code_after_jumps() {
    use hashvm_format::insn::{decode_all, Operand};
    use hashvm_format::Op;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut funcs = compiled_functions(&root.join("benches/programs"));
    funcs.extend(compiled_functions(&common::conformance_dir()));
    assert!(
        funcs.len() > 1000,
        "only {} functions compiled",
        funcs.len()
    );
    let mut problems = Vec::new();
    for (name, f) in &funcs {
        let code = decode_all(&f.code).unwrap_or_else(|(at, e)| panic!("{name}: {at}: {e:?}"));
        let index: std::collections::HashMap<usize, usize> = code
            .iter()
            .enumerate()
            .map(|(k, (at, _))| (*at, k))
            .collect();
        let mut targets = std::collections::HashSet::new();
        for (at, insn) in &code {
            for a in &insn.args {
                match a {
                    Operand::Jump(d) => {
                        targets.insert((*at as i64 + *d as i64) as usize);
                    }
                    Operand::Table(d, cs) => {
                        targets.insert((*at as i64 + *d as i64) as usize);
                        for c in cs {
                            targets.insert((*at as i64 + *c as i64) as usize);
                        }
                    }
                    _ => {}
                }
            }
        }
        for (k, (at, insn)) in code.iter().enumerate() {
            let jump = insn.args.iter().find_map(|a| match a {
                Operand::Jump(d) => Some((*at as i64 + *d as i64) as usize),
                _ => None,
            });
            if let Some(t) = jump {
                let target = &code[index[&t]].1;
                if target.op == Op::Jmp && insn.op != Op::Loop {
                    problems.push(format!("{name}: {at}: {} to a jmp", insn.op.mnemonic()));
                }
                if insn.op == Op::Jmp && code.get(k + 1).is_some_and(|n| n.0 == t) {
                    problems.push(format!("{name}: {at}: jmp to the next instruction"));
                }
                if insn.op != Op::Jmp
                    && !insn.op.is_terminator()
                    && code.get(k + 1).is_some_and(|n| n.1.op == Op::Jmp)
                    && code.get(k + 2).is_some_and(|n| n.0 == t)
                    && !targets.contains(&code[k + 1].0)
                    && !matches!(insn.op, Op::JNTag)
                {
                    problems.push(format!("{name}: {at}: conditional jump over a jmp"));
                }
            }
            if insn.op.is_terminator() {
                if let Some((next, _)) = code.get(k + 1) {
                    if !targets.contains(next) {
                        problems.push(format!("{name}: {next}: unreachable after a terminator"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn constructor_fields_already_in_consecutive_slots_are_the_window() {
    // binary-trees' build: the two call results are the fields where they are (no
    // `mov` into a window), and `s.count += 1` is `field`, `addi`, `setfield`.
    check(
        "T := enum(E, N(T, T));\nS := struct(count: i64);\n\
         build := (s: S, d: i64) -> T => {\n\
             s.count += 1;\n\
             if d > 0 { l := build(s, d - 1); r := build(s, d - 1); T.N(l, r) } else { T.E }\n\
         };\n\
         main := () => { build(S(0), 3); };",
        "build",
        expect![[r#"
            .func build/2 slots=5                   ; function 6
                .loc "golden.hash" 4 1
                field      r2, r0, 0                ; 0
                addi.i64   r2, r2, 1                ; 7
                setfield   r0, 0, r2                ; 16
                .loc "golden.hash" 5 1
                jlei.i64   r1, 0, L0                ; 23
                .loc "golden.hash" 5 23
                mov        r2, r0                   ; 34
                .loc "golden.hash" 5 26
                subi.i64.callk r3, r1, 1            ; 39
                .loc "golden.hash" 5 17
                callk      r2, build, r2, 2         ; 48
                .loc "golden.hash" 5 45
                mov        r3, r0                   ; 59
                .loc "golden.hash" 5 48
                subi.i64.callk r4, r1, 1            ; 64
                .loc "golden.hash" 5 39
                callk      r3, build, r3, 2         ; 73
                .loc "golden.hash" 5 56
                con.ret    r4, T, N, r2, 2          ; 84
                ret        r4                       ; 97
            L0:
                .loc "golden.hash" 5 75
                con.ret    r2, T, E, r3, 0          ; 100
                ret        r2                       ; 113
            .end
        "#]],
    );
}

#[test]
fn a_self_tail_call_evaluates_its_arguments_into_the_parameter_slots() {
    // `k` is passed on in its own slot (no `mov`), the subtree goes straight to r0:
    // `tcallself r0, 2` moves nothing.
    check(
        "T := enum(E, N(T, i64, T));\n\
         find := (t: T, k: i64) -> i64 => match t { T.E => 0, T.N(l, v, r) => if k < v { find(l, k) } else { find(r, k) } };\n\
         main := () => { println(to_str(find(T.E, 1))); };",
        "find",
        expect![[r#"
            .func find/2 slots=3                    ; function 6
                .loc "golden.hash" 2 34
                jntag.reti r0, 0, L0                ; 0
                .loc "golden.hash" 2 51
                reti       0                        ; 9
            L0:
                .loc "golden.hash" 2 34
                field      r2, r0, 1                ; 14
                .loc "golden.hash" 2 70
                jge.i64    r1, r2, L1               ; 21
                .loc "golden.hash" 2 34
                field      r0, r0, 0                ; 30
                .loc "golden.hash" 2 81
                tcallself  r0, 2                    ; 37
            L1:
                .loc "golden.hash" 2 34
                field      r0, r0, 2                ; 42
                .loc "golden.hash" 2 101
                tcallself  r0, 2                    ; 49
            .end
        "#]],
    );
}

#[test]
fn a_tail_call_whose_arguments_have_no_order_keeps_its_window() {
    // A swap of two parameters needs a spare slot: the window stays above them.
    check(
        "swap := (a: i64, b: i64, n: i64) -> i64 => if n == 0 { a } else { swap(b, a, n - 1) };\n\
         main := () => { println(to_str(swap(1, 2, 3))); };",
        "swap",
        expect![[r#"
            .func swap/3 slots=6                    ; function 6
                .loc "golden.hash" 1 44
                jnei.i64   r2, 0, L0                ; 0
                ret        r0                       ; 11
            L0:
                .loc "golden.hash" 1 72
                mov        r3, r1                   ; 14
                .loc "golden.hash" 1 75
                mov        r4, r0                   ; 19
                .loc "golden.hash" 1 78
                subi.i64   r5, r2, 1                ; 24
                .loc "golden.hash" 1 67
                tcallself  r3, 3                    ; 33
            .end
        "#]],
    );
}

#[test]
fn a_tail_call_through_a_scratch_slot_moves_each_value_once() {
    // `tor(b, a, c, n - 1)`: `c` stays in place, `n - 1` is computed into r3, and the
    // swap of `a` and `b` goes through one scratch slot (the old window's r4): three
    // `mov`s as before, and `tcallk` moves nothing. (A function with a self tail call
    // keeps its window: `tcallself` does not clear the frame, so the old window's
    // slots, no longer written, would keep the previous pass's values.)
    check(
        "rot := (a: i64, b: i64, c: i64, n: i64) -> i64 => if n == 0 { a + b + c } else { tor(b, a, c, n - 1) };\n\
         tor := (a: i64, b: i64, c: i64, n: i64) -> i64 => if n == 0 { a - b } else { rot(b, a, c, n - 1) };\n\
         main := () => { println(to_str(rot(1, 2, 3, 4))); };",
        "rot",
        expect![[r#"
            .func rot/4 slots=6                     ; function 6
                .loc "golden.hash" 1 51
                jnei.i64   r3, 0, L0                ; 0
                .loc "golden.hash" 1 63
                add.i64    r5, r0, r1               ; 11
                add.i64.ret r4, r5, r2              ; 18
                ret        r4                       ; 25
            L0:
                .loc "golden.hash" 1 95
                subi.i64   r3, r3, 1                ; 28
                .loc "golden.hash" 1 86
                mov        r4, r1                   ; 37
                .loc "golden.hash" 1 89
                mov        r1, r0                   ; 42
                .loc "golden.hash" 1 86
                mov        r0, r4                   ; 47
                .loc "golden.hash" 1 82
                tcallk     tor, r0, 4               ; 52
            .end
        "#]],
    );
}

#[test]
fn copied_tail_call_arguments_go_before_an_inner_call() {
    // pmap's `bal(l, mk, mv, add(r, k, v))`: the inner call's window reads `k` and `v`
    // first, then `l`, `mk`, `mv` are copied into r0..r2 before the call's result goes
    // to r3 (where `l` was): each value is moved once and `tcallk` moves nothing.
    check(
        "M := enum(L, N(M, i64, i64, M));\n\
         bal := (l: M, k: i64, v: i64, r: M) -> M => M.N(l, k, v, r);\n\
         add := (m: M, k: i64, v: i64) -> M => match m { M.L => M.N(M.L, k, v, M.L), M.N(l, mk, mv, r) => if k < mk { bal(add(l, k, v), mk, mv, r) } else if k > mk { bal(l, mk, mv, add(r, k, v)) } else { m } };\n\
         main := () => { add(M.L, 1, 2); };",
        "add",
        expect![[r#"
            .func add/3 slots=14                    ; function 7
                .loc "golden.hash" 3 39
                jntag      r0, 0, L0                ; 0
                .loc "golden.hash" 3 60
                con        r8, M, L, r12, 0         ; 9
                .loc "golden.hash" 3 65
                mov        r9, r1                   ; 22
                .loc "golden.hash" 3 68
                mov        r10, r2                  ; 27
                .loc "golden.hash" 3 71
                con        r11, M, L, r12, 0        ; 32
                con.ret    r7, M, N, r8, 4          ; 45
                ret        r7                       ; 58
            L0:
                .loc "golden.hash" 3 39
                field      r3, r0, 0                ; 61
                field      r5, r0, 2                ; 68
                field      r6, r0, 3                ; 75
                field      r4, r0, 1                ; 82
                .loc "golden.hash" 3 98
                jge.i64    r1, r4, L1               ; 89
                .loc "golden.hash" 3 118
                mov        r11, r3                  ; 98
                .loc "golden.hash" 3 121
                mov        r12, r1                  ; 103
                .loc "golden.hash" 3 124
                mov        r13, r2                  ; 108
                .loc "golden.hash" 3 114
                callk      r0, add, r11, 3          ; 113
                .loc "golden.hash" 3 128
                mov        r1, r4                   ; 124
                .loc "golden.hash" 3 132
                mov        r2, r5                   ; 129
                .loc "golden.hash" 3 136
                mov        r3, r6                   ; 134
                .loc "golden.hash" 3 110
                tcallk     bal, r0, 4               ; 139
            L1:
                .loc "golden.hash" 3 146
                jle.i64    r1, r4, L2               ; 148
                .loc "golden.hash" 3 177
                mov        r10, r6                  ; 157
                .loc "golden.hash" 3 180
                mov        r11, r1                  ; 162
                .loc "golden.hash" 3 183
                mov        r12, r2                  ; 167
                .loc "golden.hash" 3 162
                mov        r0, r3                   ; 172
                .loc "golden.hash" 3 165
                mov        r1, r4                   ; 177
                .loc "golden.hash" 3 169
                mov        r2, r5                   ; 182
                .loc "golden.hash" 3 173
                callk      r3, add, r10, 3          ; 187
                .loc "golden.hash" 3 158
                tcallk     bal, r0, 4               ; 198
            L2:
                ret        r0                       ; 207
            .end
        "#]],
    );
}

#[test]
fn a_constructor_is_built_in_the_slots_of_its_fields() {
    // pmap's `create`: the parameters are the first four fields, and the height is
    // computed into r4 on both paths, so `con` reads r0..r4 (no `mov` into a window).
    // `height` is inlined: it cannot fail.
    check(
        "M := enum(L, N(M, i64, i64, M, i64));\n\
         height := (m: M) -> i64 => match m { M.L => 0, M.N(_, _, _, _, h) => h };\n\
         create := (l: M, k: i64, v: i64, r: M) -> M => { hl := height(l); hr := height(r); M.N(l, k, v, r, if hl >= hr { hl + 1 } else { hr + 1 }) };\n\
         main := () => { create(M.L, 1, 2, M.L); };",
        "create",
        expect![[r#"
            .func create/4 slots=7                  ; function 7
                .loc "golden.hash" 2 28
                jntag      r0, 0, L0                ; 0
                .loc "golden.hash" 2 45
                loadi      r4, 0                    ; 9
                jmp        L1                       ; 16
            L0:
                .loc "golden.hash" 2 28
                field      r4, r0, 4                ; 21
            L1:
                jntag      r3, 0, L2                ; 28
                .loc "golden.hash" 2 45
                loadi      r5, 0                    ; 37
                jmp        L3                       ; 44
            L2:
                .loc "golden.hash" 2 28
                field      r5, r3, 4                ; 49
            L3:
                .loc "golden.hash" 3 100
                jlt.i64    r4, r5, L4               ; 56
                .loc "golden.hash" 3 114
                addi.i64   r4, r4, 1                ; 65
                jmp        L5                       ; 74
            L4:
                .loc "golden.hash" 3 130
                addi.i64   r4, r5, 1                ; 79
            L5:
                con.ret    r6, M, N, r0, 5          ; 88
                ret        r6                       ; 101
            .end
        "#]],
    );
}

#[test]
fn a_small_function_that_cannot_fail_is_inlined() {
    // `sq` and `pick` are inlined (`pick` in tail position, returning from its arms);
    // `half` is not (division by zero faults: its frame belongs in the stack trace),
    // nor `pair` (it allocates), `twice` (it calls), `same` (a structural comparison on
    // a type variable) or `far` (too many nodes).
    check(
        "sq := (x: i64) -> i64 => x * x + 1;\n\
         pick := (o: Option<i64>, d: i64) -> i64 => match o { Some(v) if v > 0 => v, _ => d };\n\
         half := (x: i64) -> i64 => x / 2;\n\
         pair := (x: i64) -> (i64, i64) => (x, x);\n\
         twice := (x: i64) -> i64 => sq(sq(x));\n\
         same := <T> => (a: T, b: T) -> bool => a == b;\n\
         far := (x: i64) -> i64 => x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x;\n\
         f := (a: i64, o: Option<i64>) -> i64 => { p := pair(a); if same(a, 3) { half(sq(a)) + twice(p.0) + far(a) } else { pick(o, a) } };\n\
         main := () => { println(to_str(f(3, None))); };",
        "f",
        expect![[r#"
            .func f/2 slots=7                       ; function 13
                .loc "golden.hash" 8 53
                mov        r2, r0                   ; 0
                .loc "golden.hash" 8 48
                callk      r2, pair, r2, 1          ; 5
                .loc "golden.hash" 8 65
                mov        r3, r0                   ; 16
                .loc "golden.hash" 8 68
                loadi      r4, 3                    ; 21
                .loc "golden.hash" 8 60
                callk      r3, same, r3, 2          ; 28
                jf         r3, L0                   ; 39
                .loc "golden.hash" 1 26
                mul.i64    r6, r0, r0               ; 46
                addi.i64   r5, r6, 1                ; 53
                .loc "golden.hash" 8 73
                callk      r5, half, r5, 1          ; 62
                .loc "golden.hash" 8 93
                field.callk r6, r2, 0               ; 73
                .loc "golden.hash" 8 87
                callk      r6, twice, r6, 1         ; 80
                .loc "golden.hash" 8 73
                add.i64    r4, r5, r6               ; 91
                .loc "golden.hash" 8 104
                mov        r5, r0                   ; 98
                .loc "golden.hash" 8 100
                callk      r5, far, r5, 1           ; 103
                .loc "golden.hash" 8 73
                add.i64.ret r3, r4, r5              ; 114
                ret        r3                       ; 121
            L0:
                .loc "golden.hash" 2 44
                jntag      r1, 0, L1                ; 124
                ret        r0                       ; 133
            L1:
                field      r3, r1, 0                ; 136
                jlei.i64   r3, 0, L2                ; 143
                ret        r3                       ; 154
            L2:
                ret        r0                       ; 157
            .end
        "#]],
    );
}

#[test]
fn a_small_function_that_stores_into_a_field_is_inlined() {
    // `next` (awfy_storage's random-number generator) and `bump` (compound stores) are
    // inlined: each read of the field just stored takes the stored value (no `field`
    // after the `setfield`), and `next`'s result is computed straight into the slot the
    // caller reads it from (no `mov`). `cut` is not inlined (`/=` faults on zero: its
    // frame belongs in the stack trace).
    check(
        "Rng := struct(seed: i64);\n\
         Acc := struct(n: i64, total: i64);\n\
         next := (r: Rng) -> i64 => { r.seed = ((r.seed * 1309) + 13849) & 65535; r.seed };\n\
         bump := (a: Acc, k: i64) -> i64 => { a.n += 1; a.total *= k; a.total };\n\
         cut := (a: Acc, k: i64) -> i64 => { a.total /= k; a.n };\n\
         f := (r: Rng, a: Acc) -> i64 => next(r) % 10 + bump(a, next(r)) + cut(a, 3);\n\
         main := () => { println(to_str(f(Rng(74755), Acc(0, 1)))); };",
        "f",
        expect![[r#"
            .func f/2 slots=11                      ; function 9
                .loc "golden.hash" 3 41
                field      r9, r0, 0                ; 0
                muli.i64   r8, r9, 1309             ; 7
                addi.i64   r7, r8, 13849            ; 16
                .loc "golden.hash" 3 67
                loadi      r8, 65535                ; 25
                .loc "golden.hash" 3 39
                and.i64    r5, r7, r8               ; 32
                setfield   r0, 0, r5                ; 39
                .loc "golden.hash" 6 43
                loadi      r6, 10                   ; 46
                .loc "golden.hash" 6 33
                rem.i64    r4, r5, r6               ; 53
                .loc "golden.hash" 3 41
                field      r10, r0, 0               ; 60
                muli.i64   r9, r10, 1309            ; 67
                addi.i64   r8, r9, 13849            ; 76
                .loc "golden.hash" 3 67
                loadi      r9, 65535                ; 85
                .loc "golden.hash" 3 39
                and.i64    r6, r8, r9               ; 92
                setfield   r0, 0, r6                ; 99
                .loc "golden.hash" 4 38
                field      r7, r1, 0                ; 106
                addi.i64   r7, r7, 1                ; 113
                setfield   r1, 0, r7                ; 122
                .loc "golden.hash" 4 48
                field      r7, r1, 1                ; 129
                mul.i64    r5, r7, r6               ; 136
                setfield   r1, 1, r5                ; 143
                .loc "golden.hash" 6 33
                add.i64    r3, r4, r5               ; 150
                .loc "golden.hash" 6 71
                mov        r4, r1                   ; 157
                .loc "golden.hash" 6 74
                loadi      r5, 3                    ; 162
                .loc "golden.hash" 6 67
                callk      r4, cut, r4, 2           ; 169
                .loc "golden.hash" 6 33
                add.i64.ret r2, r3, r4              ; 180
                ret        r2                       ; 187
            .end
        "#]],
    );
}

#[test]
fn a_known_tail_call_evaluates_its_arguments_into_the_parameter_slots() {
    check(
        "hop := (x: i64, y: i64, n: i64) -> i64 => if n <= 0 { x + y } else { down(x, y, n) };\n\
         down := (x: i64, y: i64, n: i64) -> i64 => hop(x, y * 2 % 1009, n - 1);\n\
         main := () => { println(to_str(hop(1, 2, 3))); };",
        "down",
        expect![[r#"
            .func down/3 slots=5                    ; function 7
                .loc "golden.hash" 2 51
                muli.i64   r3, r1, 2                ; 0
                .loc "golden.hash" 2 59
                loadi      r4, 1009                 ; 9
                .loc "golden.hash" 2 51
                rem.i64    r1, r3, r4               ; 16
                .loc "golden.hash" 2 65
                subi.i64   r2, r2, 1                ; 23
                .loc "golden.hash" 2 44
                tcallk     hop, r0, 3               ; 32
            .end
        "#]],
    );
}

#[test]
fn a_field_is_extracted_only_on_the_path_that_uses_it() {
    // `v` is read in the last arm only, `l` and `r` each in their own; `sz` nowhere.
    // In `weigh` the second subtree is read after the first call, straight into the
    // second call's window: an enum's payload is immutable (a struct's field would be
    // read before the call, which may store into it).
    check(
        "T := enum(E, N(T, i64, i64, T, i64));\n\
         get := (t: T, k: i64) -> i64 => match t { T.E => 0, T.N(l, key, v, r, sz) => if k < key { get(l, k) } else if k > key { get(r, k) } else { v } };\n\
         main := () => { println(to_str(get(T.E, 1))); };",
        "get",
        expect![[r#"
            .func get/2 slots=4                     ; function 6
                .loc "golden.hash" 2 33
                jntag.reti r0, 0, L0                ; 0
                .loc "golden.hash" 2 50
                reti       0                        ; 9
            L0:
                .loc "golden.hash" 2 33
                field      r2, r0, 1                ; 14
                .loc "golden.hash" 2 78
                jge.i64    r1, r2, L1               ; 21
                .loc "golden.hash" 2 33
                field      r0, r0, 0                ; 30
                .loc "golden.hash" 2 91
                tcallself  r0, 2                    ; 37
            L1:
                .loc "golden.hash" 2 108
                jle.i64    r1, r2, L2               ; 42
                .loc "golden.hash" 2 33
                field      r0, r0, 3                ; 51
                .loc "golden.hash" 2 121
                tcallself  r0, 2                    ; 58
            L2:
                .loc "golden.hash" 2 33
                field      r3, r0, 2                ; 63
                .loc "golden.hash" 2 121
                ret        r3                       ; 70
            .end
        "#]],
    );
    check(
        "T := enum(E, N(T, T));\n\
         weigh := (t: T) -> i64 => match t { T.E => 0, T.N(l, r) => weigh(l) + 1 + weigh(r) };\n\
         main := () => { println(to_str(weigh(T.E))); };",
        "weigh",
        expect![[r#"
            .func weigh/1 slots=4                   ; function 6
                .loc "golden.hash" 2 27
                jntag.reti r0, 0, L0                ; 0
                .loc "golden.hash" 2 44
                reti       0                        ; 9
            L0:
                .loc "golden.hash" 2 27
                field.callk r3, r0, 0               ; 14
                .loc "golden.hash" 2 60
                callk      r3, weigh, r3, 1         ; 21
                addi.i64   r2, r3, 1                ; 32
                .loc "golden.hash" 2 27
                field.callk r3, r0, 1               ; 41
                .loc "golden.hash" 2 75
                callk      r3, weigh, r3, 1         ; 48
                .loc "golden.hash" 2 60
                add.i64.ret r1, r2, r3              ; 59
                ret        r1                       ; 66
            .end
        "#]],
    );
}

/// A field of a field is one `field2`: the enum payload read by a pattern and then its
/// struct's field, in a self tail call's arguments (awfy_list's `is_shorter_than`) and
/// as a returned value. A field whose object is still needed stays a `field`.
#[test]
fn a_field_of_a_field_is_one_instruction() {
    let src = "E := struct(val: i64, next: Option<E>);\n\
               len := (o: Option<E>, n: i64) -> i64 => match o { None => n, Some(e) => len(e.next, n + 1) };\n\
               next_of := (o: Option<E>) -> Option<E> => match o { None => None, Some(e) => e.next };\n\
               both := (o: Option<E>) -> i64 => match o { None => 0, Some(e) => e.val + len(e.next, 0) };\n\
               main := () => { e := E(1, None); println(to_str(len(Some(e), 0) + both(next_of(Some(e))))); };";
    check(
        src,
        "len",
        expect![[r#"
        .func len/2 slots=2                     ; function 6
            .loc "golden.hash" 2 41
            jntag      r0, 0, L0                ; 0
            ret        r1                       ; 9
        L0:
            field2     r0, r0, 0, 1             ; 12
            .loc "golden.hash" 2 85
            addi.i64   r1, r1, 1                ; 21
            .loc "golden.hash" 2 73
            tcallself  r0, 2                    ; 30
        .end
    "#]],
    );
    check(
        src,
        "next_of",
        expect![[r#"
            .func next_of/1 slots=2                 ; function 7
                .loc "golden.hash" 3 43
                jntag      r0, 0, L0                ; 0
                .loc "golden.hash" 3 61
                con.ret    r1, Option, None, r2, 0  ; 9
                ret        r1                       ; 22
            L0:
                .loc "golden.hash" 3 43
                field2     r1, r0, 0, 1             ; 25
                .loc "golden.hash" 3 78
                ret        r1                       ; 34
            .end
        "#]],
    );
    check(
        src,
        "both",
        expect![[r#"
            .func both/1 slots=6                    ; function 8
                .loc "golden.hash" 4 34
                jntag.reti r0, 0, L0                ; 0
                .loc "golden.hash" 4 52
                reti       0                        ; 9
            L0:
                .loc "golden.hash" 4 34
                field      r1, r0, 0                ; 14
                .loc "golden.hash" 4 66
                field      r3, r1, 0                ; 21
                .loc "golden.hash" 4 78
                field      r4, r1, 1                ; 28
                .loc "golden.hash" 4 86
                loadi      r5, 0                    ; 35
                .loc "golden.hash" 4 74
                callk      r4, len, r4, 2           ; 42
                .loc "golden.hash" 4 66
                add.i64.ret r2, r3, r4              ; 53
                ret        r2                       ; 60
            .end
        "#]],
    );
}
