//! The verifier rejects a hand-made bad module for every check it makes, with a message
//! that says where and what; and accepts the boundary cases that are legal.

mod common;

use common::asm;
use hashvm_format::*;

/// The verifier's message for the module `src` assembles to.
fn rejects(src: &str) -> String {
    match verify(&asm(src)) {
        Ok(_) => panic!("the verifier accepted:\n{src}"),
        Err(e) => e.to_string(),
    }
}

fn accepts(src: &str) {
    if let Err(e) = verify(&asm(src)) {
        panic!("the verifier rejected: {e}\n{src}");
    }
}

/// Wraps `body` as function 0 `f` (arity 1, 4 slots) after a type `T` with constructors
/// `A` (no fields) and `B(x, y)`, a global `g`, a function `k/2` and a closure body
/// `c/1 captures=2`.
fn in_fn(body: &str) -> String {
    format!(
        ".type T | A | B(x, y)\n.global g = 0\n.func f/1 slots=4\n{body}\n.end\n.func k/2\n    retu\n.end\n.func c/1 captures=2\n    retu\n.end\n"
    )
}

#[test]
fn a_good_module_passes() {
    accepts(common::SAMPLE);
    accepts(&in_fn("    con r1, T, B, r2, 2\n    con r1, Tuple, 0, r0, 4\n    closure r1, c, r2, 2\n    callk r1, k, r2, 2\n    callself r0, r0, 1\n    tcallself r0, 1"));
}

// ---------------------------------------------------------------- constants

#[test]
fn const_data_with_a_reserved_type_id() {
    assert_eq!(
        rejects(".global x = 4:0"),
        "GLOB global 0 'x': type id 4 is a reserved builtin type id"
    );
}

#[test]
fn const_data_with_an_unknown_type() {
    assert_eq!(
        rejects(".global x = 16:0"),
        "GLOB global 0 'x': type id 16 is not in the type table"
    );
}

#[test]
fn const_data_with_a_bad_tag() {
    assert_eq!(
        rejects(".global x = Option:2"),
        "GLOB global 0 'x': constructor 2 of type 1 does not exist (the type has 2 constructors)"
    );
}

#[test]
fn const_data_with_the_wrong_arity() {
    assert_eq!(
        rejects(".type T | B(x, y)\n.global x = [T:B(1)]"),
        "GLOB global 0 'x': constructor 0 of type 16 takes 2 fields, not 1"
    );
}

#[test]
fn const_tuple_type_takes_any_arity_but_one_tag() {
    accepts(".global x = Tuple:0(1, 2, 3, 4, 5)\n.global y = Tuple:0");
    assert_eq!(
        rejects(".global x = Tuple:1(1)"),
        "GLOB global 0 'x': constructor 1 of type 3 does not exist (the type has 1 constructors)"
    );
}

#[test]
fn const_closure_of_a_missing_function() {
    assert_eq!(
        rejects(".global x = closure 3()"),
        "GLOB global 0 'x': closure of function 3, but there are 0"
    );
}

#[test]
fn const_closure_with_the_wrong_capture_count() {
    assert_eq!(
        rejects(".func c/0 captures=2\n    retu\n.end\n.global x = closure c(1)"),
        "GLOB global 0 'x': closure of function 0 'c' has 1 captures, the function takes 2"
    );
}

#[test]
fn const_func_out_of_range() {
    assert_eq!(
        rejects(".global x = ref fn 0"),
        "GLOB global 0 'x': function 0 does not exist (there are 0)"
    );
}

#[test]
fn const_func_that_captures() {
    assert_eq!(
        rejects(".func c/0 captures=1\n    retu\n.end\n.global x = fn c"),
        "GLOB global 0 'x': function 0 'c' captures 1 values and cannot be a plain function value"
    );
}

#[test]
fn const_global_out_of_range() {
    assert_eq!(
        rejects(".global x = (global 0, global 1)"),
        "GLOB global 0 'x': global 1 does not exist (there are 1)"
    );
}

#[test]
fn const_char_not_a_scalar() {
    // The reader and assembler refuse such a char, so build the module by hand.
    let mut m = asm(".global x = 'a'");
    m.globals[0].init = GlobalInit::Const(Const::List(vec![Const::Char(0xD800)]));
    assert_eq!(
        verify(&m).unwrap_err().to_string(),
        "GLOB global 0 'x': char constant 0xd800 is not a Unicode scalar value"
    );
}

#[test]
fn const_array_of_chars_with_one_not_a_scalar() {
    // An array of chars would be loaded flat (8-byte payloads): the verifier still
    // checks every element, as for any other array.
    let mut m = asm(".global x = 'a'");
    m.globals[0].init = GlobalInit::Const(Const::Array(vec![
        Const::Char('a' as u32),
        Const::Char(0x11_0000),
    ]));
    assert_eq!(
        verify(&m).unwrap_err().to_string(),
        "GLOB global 0 'x': char constant 0x110000 is not a Unicode scalar value"
    );
    m.globals[0].init = GlobalInit::Const(Const::Array(vec![Const::I64(1), Const::Func(9)]));
    assert_eq!(
        verify(&m).unwrap_err().to_string(),
        "GLOB global 0 'x': function 9 does not exist (there are 0)"
    );
}

#[test]
fn const_nested_too_deep() {
    let mut c = Const::Unit;
    for _ in 0..1001 {
        c = Const::Ref(Box::new(c));
    }
    let m = Module {
        globals: vec![Global {
            name: "deep".into(),
            init: GlobalInit::Const(c),
        }],
        ..Module::default()
    };
    assert_eq!(
        verify(&m).unwrap_err().to_string(),
        "GLOB global 0 'deep': constant nested deeper than 1000"
    );
}

// ---------------------------------------------------------------- module level

#[test]
fn reserved_flag_bits() {
    assert_eq!(
        rejects(".flags 0x4"),
        "header: reserved flag bits set: 0x00000004"
    );
}

#[test]
fn field_names_must_match_arity() {
    let mut m = asm(".type T | B(x, y)");
    if let TypeDef::Defined { ctors, .. } = &mut m.types[0] {
        ctors[0].arity = 3;
    }
    assert_eq!(
        verify(&m).unwrap_err().to_string(),
        "TYPE type 16 'T': constructor 'B' has 2 field names but arity 3"
    );
}

#[test]
fn export_of_a_missing_global() {
    assert_eq!(
        rejects(".export main global 0"),
        "SYMB export 'main': global 0 does not exist (there are 0)"
    );
}

#[test]
fn export_of_a_missing_type() {
    assert_eq!(
        rejects(".type T\n.export T type_index 1"),
        "SYMB export 'T': type table index 1 does not exist (there are 1 types)"
    );
}

#[test]
fn export_names_are_unique() {
    assert_eq!(
        rejects(".global x = 1\n.export x global x\n.export x global x"),
        "SYMB export 'x': exported twice"
    );
}

#[test]
fn init_out_of_range() {
    assert_eq!(
        rejects(".init 0"),
        "SYMB init 0: function 0 does not exist (there are 0)"
    );
}

#[test]
fn init_with_arguments() {
    assert_eq!(
        rejects(".func a/0\n    retu\n.end\n.func i/1\n    retu\n.end\n.init a\n.init i"),
        "SYMB init 1: function 1 'i' must take no arguments and capture nothing (it has arity 1 and 0 captures)"
    );
}

#[test]
fn init_that_captures() {
    assert_eq!(
        rejects(".func i/0 captures=1\n    retu\n.end\n.init i"),
        "SYMB init 0: function 0 'i' must take no arguments and capture nothing (it has arity 0 and 1 captures)"
    );
}

#[test]
fn entry_out_of_range() {
    assert_eq!(
        rejects(".entry 2"),
        "SYMB entry: function 2 does not exist (there are 0)"
    );
}

#[test]
fn entry_with_arguments() {
    assert_eq!(
        rejects(".func main/2\n    retu\n.end\n.entry main"),
        "SYMB entry: function 0 'main' must take no arguments and capture nothing (it has arity 2 and 0 captures)"
    );
}

#[test]
fn executable_needs_an_entry() {
    assert_eq!(
        rejects(".module executable"),
        "module: an executable must have an entry point"
    );
}

#[test]
fn executable_imports_no_global() {
    assert_eq!(
        rejects(
            ".module executable\n.global pi import math.pi\n.func m/0\n    retu\n.end\n.entry m"
        ),
        "GLOB global 0 'pi': an executable may not import (this global imports `math.pi`)"
    );
}

#[test]
fn executable_imports_no_type() {
    assert_eq!(
        rejects(".module executable\n.type import shapes.Shape\n.func m/0\n    retu\n.end\n.entry m"),
        "TYPE type 16 'shapes.Shape': an executable may not import (this type imports `shapes.Shape`)"
    );
}

// ---------------------------------------------------------------- functions

#[test]
fn frame_smaller_than_arity() {
    assert_eq!(
        rejects(".func f/3 slots=2\n    retu\n.end"),
        "CODE function 0 'f': frame of 2 slots is smaller than max(arity 3, 1)"
    );
}

#[test]
fn frame_of_zero_slots() {
    assert_eq!(
        rejects(".func f/0 slots=0\n    retu\n.end"),
        "CODE function 0 'f': frame of 0 slots is smaller than max(arity 0, 1)"
    );
}

#[test]
fn empty_code() {
    assert_eq!(
        rejects(".func f/0\n.end"),
        "CODE function 0 'f': code is empty"
    );
}

#[test]
fn unknown_opcode() {
    assert_eq!(
        rejects(".func f/0\n    nop\n    .bytes 0xfe 0xee\n.end"),
        "CODE function 0 'f' offset 1: unknown extended opcode 0xfe 0xee"
    );
}

#[test]
fn truncated_instruction() {
    assert_eq!(
        rejects(".func f/0\n    retu\n    .bytes 0x01 0x00\n.end"),
        "CODE function 0 'f' offset 1: instruction truncated by the end of the code"
    );
}

#[test]
fn dst_slot_outside_the_frame() {
    assert_eq!(
        rejects(&in_fn("    loadi r4, 1\n    retu")),
        "CODE function 0 'f' offset 0: slot r4 is outside the frame of 4 slots"
    );
}

#[test]
fn src_slot_outside_the_frame() {
    assert_eq!(
        rejects(&in_fn("    nop\n    ret r9")),
        "CODE function 0 'f' offset 1: slot r9 is outside the frame of 4 slots"
    );
}

/// `kindof` checks both slots like any other instruction.
#[test]
fn kindof_slots_are_checked() {
    accepts(&in_fn("    kindof r3, r0\n    ret r3"));
    assert_eq!(
        rejects(&in_fn("    kindof r4, r0\n    retu")),
        "CODE function 0 'f' offset 0: slot r4 is outside the frame of 4 slots"
    );
    assert_eq!(
        rejects(&in_fn("    kindof r0, r7\n    retu")),
        "CODE function 0 'f' offset 0: slot r7 is outside the frame of 4 slots"
    );
}

/// `field2` checks both slots; its indices are checked at run time, as `field`'s; an
/// instruction cut before its second index is truncated.
#[test]
fn field2_operands_are_checked() {
    accepts(&in_fn("    field2 r3, r0, 1, 65535\n    ret r3"));
    assert_eq!(
        rejects(&in_fn("    field2 r4, r0, 0, 1\n    retu")),
        "CODE function 0 'f' offset 0: slot r4 is outside the frame of 4 slots"
    );
    assert_eq!(
        rejects(&in_fn("    field2 r0, r5, 0, 1\n    retu")),
        "CODE function 0 'f' offset 0: slot r5 is outside the frame of 4 slots"
    );
    assert_eq!(
        rejects(
            ".func f/1 slots=2\n    retu\n    .bytes 0x4e 0x00 0x00 0x01 0x00 0x00 0x00 0x01\n.end"
        ),
        "CODE function 0 'f' offset 1: instruction truncated by the end of the code"
    );
}

/// `reti` ends a function as `ret` does (no fall-through past it); cut before the end
/// of its immediate, it is truncated.
#[test]
fn reti_ends_a_function_and_is_checked_whole() {
    accepts(".func f/0 slots=1\n    reti -2147483648\n.end");
    assert_eq!(
        rejects(".func f/0 slots=1\n    retu\n    .bytes 0x1f 0x00 0x00 0x00\n.end"),
        "CODE function 0 'f' offset 1: instruction truncated by the end of the code"
    );
    assert!(rejects(".func f/0 slots=1\n    reti 1\n    nop\n.end").contains("offset 5"));
}

/// `con.ret` and `add.i64.ret` run the `ret` of their result that follows them: the
/// verifier accepts them only there (the interpreter skips that `ret`, every other
/// reader runs it), checks their operands as `con`'s and `add.i64`'s, and, since they
/// are not terminators themselves, rejects one that ends the code.
#[test]
fn fused_returns_are_followed_by_their_ret() {
    accepts(&in_fn("    con.ret r1, T, B, r2, 2\n    ret r1"));
    accepts(&in_fn("    con.ret r1, T, A, r0, 0\n    ret r1"));
    accepts(&in_fn("    add.i64.ret r3, r0, r1\n    ret r3"));
    // A jump may enter the `ret`: it stays an instruction of its own.
    accepts(&in_fn(
        "    jmp L0\n    add.i64.ret r3, r0, r1\nL0:\n    ret r3",
    ));
    assert_eq!(
        rejects(&in_fn("    con.ret r1, T, B, r2, 2\n    ret r2")),
        "CODE function 0 'f' offset 13: `con.ret` must be followed by `ret r1`"
    );
    assert_eq!(
        rejects(&in_fn("    add.i64.ret r3, r0, r1\n    retu")),
        "CODE function 0 'f' offset 7: `add.i64.ret` must be followed by `ret r3`"
    );
    assert_eq!(
        rejects(&in_fn(
            "    add.i64.ret r3, r0, r1\n    mov r3, r0\n    ret r3"
        )),
        "CODE function 0 'f' offset 7: `add.i64.ret` must be followed by `ret r3`"
    );
    assert_eq!(
        rejects(&in_fn("    con.ret r1, T, B, r2, 1\n    ret r1")),
        "CODE function 0 'f' offset 0: constructor 1 of type 16 takes 2 fields, not 1"
    );
    assert_eq!(
        rejects(&in_fn("    add.i64.ret r4, r0, r1\n    ret r4")),
        "CODE function 0 'f' offset 0: slot r4 is outside the frame of 4 slots"
    );
    assert!(rejects(&in_fn("    retu\n    add.i64.ret r3, r0, r1"))
        .contains("the last instruction `add.i64.ret` is not a terminator"));
}

/// `loadg.ret` runs the `ret` of the global it loads, `jntag.reti` the `reti` it falls
/// through to (any constant): the verifier accepts each only before that return, checks
/// their operands as `loadg`'s and `jntag`'s, lets a jump enter the return, and, since
/// they are not terminators, rejects one that ends the code.
#[test]
fn loadg_ret_and_jntag_reti_are_followed_by_their_return() {
    accepts(&in_fn(
        "    loadg.ret r2, g
    ret r2",
    ));
    accepts(&in_fn(
        "    jntag.reti r0, 1, L0
    reti -7
L0:
    retu",
    ));
    accepts(&in_fn(
        "    jntag r0, 0, L1
    jmp L0
L1:
    jntag.reti r0, 1, L2
L0:
    reti 0
L2:
    retu",
    ));
    assert_eq!(
        rejects(&in_fn(
            "    loadg.ret r2, g
    ret r1"
        )),
        "CODE function 0 'f' offset 7: `loadg.ret` must be followed by `ret r2`"
    );
    assert_eq!(
        rejects(&in_fn(
            "    jntag.reti r0, 1, L0
    ret r0
L0:
    retu"
        )),
        "CODE function 0 'f' offset 9: `jntag.reti` must be followed by `reti`"
    );
    assert_eq!(
        rejects(&in_fn(
            "    jntag.reti r0, 1, L0
L0:
    retu"
        )),
        "CODE function 0 'f' offset 9: `jntag.reti` must be followed by `reti`"
    );
    assert_eq!(
        rejects(&in_fn(
            "    jntag.reti r0, 1, L0
    loadi r1, 2
    reti 2
L0:
    retu"
        )),
        "CODE function 0 'f' offset 9: `jntag.reti` must be followed by `reti`"
    );
    assert!(rejects(&in_fn(
        "    loadg.ret r2, 9
    ret r2"
    ))
    .contains("global"));
    assert!(rejects(&in_fn(
        "    jntag.reti r5, 1, L0
    reti 1
L0:
    retu"
    ))
    .contains("slot r5 is outside the frame"));
    assert!(rejects(&in_fn(
        "    retu
L0:
    jntag.reti r0, 1, L0"
    ))
    .contains("the last instruction `jntag.reti` is not a terminator"));
}

#[test]
fn field_callk_and_subi_callk_are_followed_by_a_callk() {
    accepts(&in_fn(
        "    field.callk r2, r0, 1
    callk r1, k, r2, 2
    loadunit r3
    subi.i64.callk r2, r0, 1
    callk r3, k, r2, 2
    retu",
    ));
    // A jump may enter the `callk` (it stays an instruction of its own).
    accepts(&in_fn(
        "    jntag r0, 0, L0
    subi.i64.callk r2, r0, 1
L0:
    callk r1, k, r2, 2
    retu",
    ));
    assert_eq!(
        rejects(&in_fn(
            "    field.callk r2, r0, 1
    call r1, r0, r2, 2
    retu"
        )),
        "CODE function 0 'f' offset 7: `field.callk` must be followed by `callk`"
    );
    assert_eq!(
        rejects(&in_fn(
            "    subi.i64.callk r2, r0, 1
    tcallk k, r2, 2"
        )),
        "CODE function 0 'f' offset 9: `subi.i64.callk` must be followed by `callk`"
    );
    assert_eq!(
        rejects(&in_fn(
            "    subi.i64.callk r2, r0, 1
    field r1, r0, 0
    callk r1, k, r2, 2
    retu"
        )),
        "CODE function 0 'f' offset 9: `subi.i64.callk` must be followed by `callk`"
    );
    assert!(rejects(&in_fn(
        "    field.callk r4, r0, 1
    callk r1, k, r2, 2
    retu"
    ))
    .contains("slot r4 is outside the frame"));
    assert!(rejects(&in_fn(
        "    retu
L0:
    field.callk r1, r0, 0"
    ))
    .contains("the last instruction `field.callk` is not a terminator"));
}

#[test]
fn slot_run_outside_the_frame() {
    assert_eq!(
        rejects(&in_fn("    alit r0, r2, 3\n    retu")),
        "CODE function 0 'f' offset 0: slots r2..r5 run past the frame of 4 slots"
    );
    accepts(&in_fn("    alit r0, r2, 2\n    alit r0, r4, 0\n    retu"));
}

#[test]
fn global_operand_out_of_range() {
    assert_eq!(
        rejects(&in_fn("    loadg r0, 1\n    retu")),
        "CODE function 0 'f' offset 0: global 1 does not exist (there are 1)"
    );
}

#[test]
fn func_operand_out_of_range() {
    assert_eq!(
        rejects(&in_fn("    loadfn r0, 3\n    retu")),
        "CODE function 0 'f' offset 0: function 3 does not exist (there are 3)"
    );
}

#[test]
fn type_operand_reserved() {
    assert_eq!(
        rejects(&in_fn("    con r0, 15, 0, r0, 0\n    retu")),
        "CODE function 0 'f' offset 0: type id 15 is a reserved builtin type id"
    );
}

#[test]
fn type_operand_out_of_table() {
    assert_eq!(
        rejects(&in_fn("    con r0, 17, 0, r0, 0\n    retu")),
        "CODE function 0 'f' offset 0: type id 17 is not in the type table"
    );
}

#[test]
fn con_tag_out_of_range() {
    assert_eq!(
        rejects(&in_fn("    con r0, T, 2, r0, 0\n    retu")),
        "CODE function 0 'f' offset 0: constructor 2 of type 16 does not exist (the type has 2 constructors)"
    );
}

#[test]
fn con_count_differs_from_arity() {
    assert_eq!(
        rejects(&in_fn("    con r0, T, B, r0, 1\n    retu")),
        "CODE function 0 'f' offset 0: constructor 1 of type 16 takes 2 fields, not 1"
    );
}

#[test]
fn con_of_an_imported_type_is_checked_after_linking() {
    accepts(".type import other.T\n.func f/1\n    con r0, other.T, 7, r0, 1\n    retu\n.end");
}

#[test]
fn callk_arity_mismatch() {
    assert_eq!(
        rejects(&in_fn("    callk r0, k, r1, 1\n    retu")),
        "CODE function 0 'f' offset 0: function 1 'k' takes 2 arguments, not 1"
    );
}

#[test]
fn callk_of_a_closure_body() {
    assert_eq!(
        rejects(&in_fn("    callk r0, c, r1, 1\n    retu")),
        "CODE function 0 'f' offset 0: function 2 'c' captures 2 values and cannot be called as a known function"
    );
}

#[test]
fn tcallk_arity_mismatch() {
    assert_eq!(
        rejects(&in_fn("    tcallk k, r1, 3")),
        "CODE function 0 'f' offset 0: function 1 'k' takes 2 arguments, not 3"
    );
}

#[test]
fn closure_capture_count_mismatch() {
    assert_eq!(
        rejects(&in_fn("    closure r0, c, r1, 1\n    retu")),
        "CODE function 0 'f' offset 0: function 2 'c' captures 2 values, not 1"
    );
}

#[test]
fn loadfn_of_a_closure_body() {
    assert_eq!(
        rejects(&in_fn("    loadfn r0, c\n    retu")),
        "CODE function 0 'f' offset 0: function 2 'c' captures 2 values and cannot be loaded as a plain function"
    );
}

#[test]
fn getenv_beyond_the_captures() {
    assert_eq!(
        rejects(".func c/0 captures=2\n    getenv r0, 2\n    retu\n.end"),
        "CODE function 0 'c' offset 0: capture 2 does not exist (this function captures 2)"
    );
}

#[test]
fn setenv_beyond_the_captures() {
    assert_eq!(
        rejects(&in_fn("    setenv 0, r0\n    retu")),
        "CODE function 0 'f' offset 0: capture 0 does not exist (this function captures 0)"
    );
}

#[test]
fn callself_count_differs_from_arity() {
    assert_eq!(
        rejects(&in_fn("    callself r0, r0, 2\n    retu")),
        "CODE function 0 'f' offset 0: calls itself with 2 arguments but takes 1"
    );
}

#[test]
fn tcallself_count_differs_from_arity() {
    assert_eq!(
        rejects(&in_fn("    tcallself r0, 0")),
        "CODE function 0 'f' offset 0: calls itself with 0 arguments but takes 1"
    );
}

#[test]
fn loadchar_not_a_scalar() {
    assert_eq!(
        rejects(&in_fn("    loadchar r0, 0xd800\n    retu")),
        "CODE function 0 'f' offset 0: char immediate 0xd800 is not a Unicode scalar value"
    );
}

#[test]
fn jeqchar_not_a_scalar() {
    assert_eq!(
        rejects(&in_fn("    jeq.char r0, -1, $+0\n    retu")),
        "CODE function 0 'f' offset 0: char immediate 0xffffffff is not a Unicode scalar value"
    );
}

#[test]
fn jnechar_not_a_scalar() {
    assert_eq!(
        rejects(&in_fn("x:  jne.char r0, 0x110000, x\n    retu")),
        "CODE function 0 'f' offset 0: char immediate 0x110000 is not a Unicode scalar value"
    );
}

#[test]
fn jump_out_of_the_function() {
    assert_eq!(
        rejects(&in_fn("    jmp $-1")),
        "CODE function 0 'f' offset 0: jump target -1 is not the start of an instruction of this function"
    );
    // The end of the code is not an instruction either.
    assert_eq!(
        rejects(&in_fn("    jt r0, end\n    retu\nend:")),
        "CODE function 0 'f' offset 0: jump target 8 is not the start of an instruction of this function"
    );
}

#[test]
fn jump_into_the_middle_of_an_instruction() {
    assert_eq!(
        rejects(&in_fn("    nop\n    jf r0, $+2\n    retu")),
        "CODE function 0 'f' offset 1: jump target 3 is not the start of an instruction of this function"
    );
}

#[test]
fn table_default_out_of_the_function() {
    assert_eq!(
        rejects(&in_fn("a:  switch r0, [a] else $+100")),
        "CODE function 0 'f' offset 0: jump target 100 is not the start of an instruction of this function"
    );
}

#[test]
fn table_case_into_an_instruction() {
    assert_eq!(
        rejects(&in_fn("a:  switchi r0, 0, [a, $+1] else a")),
        "CODE function 0 'f' offset 0: jump target 1 is not the start of an instruction of this function"
    );
}

#[test]
fn control_falls_off_the_end() {
    assert_eq!(
        rejects(&in_fn("    retu\n    nop")),
        "CODE function 0 'f' offset 1: the last instruction `nop` is not a terminator: control would run off the end"
    );
    // Every terminator ends a function legally.
    for t in [
        "jmp x",
        "loop x",
        "ret r0",
        "retu",
        "tcall r0, r0, 1",
        "tcallk k, r0, 2",
        "tcallself r0, 1",
        "panic r0",
        "matchfail",
        "switch r0, [] else x",
        "switchi r0, 0, [x] else x",
        "io.exit r0",
    ] {
        accepts(&in_fn(&format!("x:  {t}")));
    }
}

// ---------------------------------------------------------------- debug info

#[test]
fn line_entry_file_out_of_range() {
    assert_eq!(
        rejects(".func f/0\n    .loc 1 1 1\n    retu\n.end"),
        "DBUG line table 0: file 1 does not exist (there are 0)"
    );
}

#[test]
fn line_table_function_out_of_range() {
    assert_eq!(
        rejects(".file \"a\"\n.lines 3\n    0 0 1 1\n.end"),
        "DBUG line table 0: function 3 does not exist (there are 0)"
    );
}

#[test]
fn two_line_tables_for_one_function() {
    assert_eq!(
        rejects(".file \"a\"\n.func f/0\n    .loc 0 1 1\n    retu\n.end\n.lines f\n.end"),
        "DBUG line table 1: second line table for function 0 'f'"
    );
}

#[test]
fn line_offsets_must_increase() {
    assert_eq!(
        rejects(".file \"a\"\n.func f/0\n    nop\n    retu\n.end\n.lines f\n    1 0 1 1\n    1 0 2 1\n.end"),
        "DBUG line table 0: offset 1 does not follow offset 1 (offsets must strictly increase)"
    );
}

#[test]
fn line_offset_past_the_code() {
    assert_eq!(
        rejects(".file \"a\"\n.func f/0\n    retu\n    .loc 0 9 9\n.end"),
        "DBUG line table 0: offset 1 is past the end of function 0 'f' (1 bytes)"
    );
}

#[test]
fn verifier_is_linear_on_a_large_function() {
    // 200k instructions with a jump table per 1000: must be quick even in debug builds.
    let mut body = String::from(".func big/1 slots=4\n");
    for i in 0..200_000 {
        if i % 1000 == 0 {
            body.push_str(&format!("l{i}: switch r0, [l0, l{i}] else l0\n"));
        } else {
            body.push_str("    add.i64 r1, r2, r3\n");
        }
    }
    body.push_str("    retu\n.end\n");
    let m = asm(&body);
    let t = std::time::Instant::now();
    verify(&m).unwrap();
    assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
}

// ---------------------------------------------------------------- foreign functions

#[test]
fn foreign_calls_are_checked_against_their_declarations() {
    let decl = ".foreign \"libm.so.6\" pow (f64, f64) : f64\n";
    accepts(&format!(
        "{decl}{}",
        in_fn("    ffi.call r0, pow, r1, 2\n    retu")
    ));
    assert_eq!(
        rejects(&format!(
            "{decl}{}",
            in_fn("    ffi.call r0, pow, r1, 1\n    retu")
        )),
        "CODE function 0 'f' offset 0: foreign function 0 'pow' takes 2 arguments, not 1"
    );
    assert_eq!(
        rejects(&in_fn("    ffi.call r0, 3, r1, 0\n    retu")),
        "CODE function 0 'f' offset 0: foreign function 3 does not exist (there are 0)"
    );
    assert_eq!(
        rejects(&format!(
            "{decl}{}",
            in_fn("    ffi.call r0, pow, r3, 2\n    retu")
        )),
        "CODE function 0 'f' offset 0: slots r3..r5 run past the frame of 4 slots"
    );
}

#[test]
fn foreign_declarations_are_checked() {
    assert_eq!(
        rejects(".foreign \"libc.so.6\" f (unit) : unit"),
        "SYMB foreign function 0 'f': a parameter of type unit (C has no void parameter)"
    );
    assert_eq!(
        rejects(".foreign \"libc.so.6\" f () : bytes"),
        "SYMB foreign function 0 'f': a bytes result (C returns no length: return a ptr)"
    );
    assert_eq!(
        rejects(".foreign \"\" f () : unit"),
        "SYMB foreign function 0 'f': the library name is empty"
    );
    assert_eq!(
        rejects(".foreign \"libc.so.6\" \"a\\0b\" () : unit"),
        "SYMB foreign function 0 'a\0b': the symbol name contains a NUL byte"
    );
}

/// Every byte that names no instruction is rejected where an instruction starts: the
/// interpreter dispatches on the byte as a `Prim` without a default arm, so no such
/// byte may reach it.
#[test]
fn every_byte_that_starts_no_instruction_is_rejected() {
    let src = in_fn("    nop\n    retu");
    let mut holes = 0;
    for b in 0..=255u8 {
        if opcode::Prim::from_byte(b).is_some() {
            continue;
        }
        holes += 1;
        let mut m = common::asm(&src);
        // Replace the `nop` (the function's first byte) by `b`.
        m.functions[0].code[0] = b;
        match verify(&m) {
            Ok(_) => panic!("the verifier accepted opcode byte 0x{b:02x}"),
            Err(e) => assert!(
                e.to_string().contains(&format!("unknown opcode 0x{b:02x}")),
                "0x{b:02x}: {e}"
            ),
        }
    }
    assert!(holes > 0, "the table names every byte: nothing to check");
}

// ---------------------------------------------------------------- clobbered slots

/// A function `g/1` of `slots` slots with body `body`, after `k/2` and a type `T`.
fn in_g(slots: u32, body: &str) -> String {
    format!(
        ".type T | A | B(x, y)\n.func k/2\n    retu\n.end\n.func g/1 slots={slots}\n{body}\n.end\n"
    )
}

#[test]
fn a_read_of_a_slot_a_call_clobbered_is_rejected() {
    // k's frame starts at r2: r2 and r3 hold whatever it left there.
    assert_eq!(
        rejects(&in_g(
            5,
            "    mov r2, r0\n    mov r3, r0\n    callk r1, k, r2, 2\n    ret r3"
        )),
        "CODE function 1 'g' offset 21: reads r3, which the call at offset 10 clobbered \
         (slots from a call's window up hold garbage until written)"
    );
    // Above the window too, and for `call` and `callself`, and by a window read.
    assert!(rejects(&in_g(5, "    callk r1, k, r2, 2\n    ret r4")).contains("reads r4"));
    assert!(rejects(&in_g(5, "    call r1, r0, r2, 1\n    ret r2")).contains("reads r2"));
    assert!(rejects(&in_g(
        5,
        "    callself r1, r3, 1\n    tuple r0, r3, 2\n    ret r0"
    ))
    .contains("reads r3"));
}

#[test]
fn a_clobbered_slot_written_again_the_destination_and_slots_below_are_readable() {
    accepts(&in_g(
        5,
        "    callk r1, k, r2, 2\n    loadi r3, 1\n    add.i64 r3, r3, r1\n    add.i64 r3, r3, r0\n    ret r3",
    ));
    // The destination inside the window, and above it.
    accepts(&in_g(5, "    callk r2, k, r2, 2\n    ret r2"));
    accepts(&in_g(5, "    callk r4, k, r2, 2\n    ret r4"));
    // A slot below this call's window, above another call's, is left alone.
    accepts(&in_g(
        5,
        "    callk r1, k, r1, 2\n    loadi r2, 5\n    loadi r3, 6\n    loadi r4, 7\n    callk r0, k, r3, 2\n    ret r2",
    ));
    // A window at the very top clobbers nothing.
    accepts(&in_g(
        5,
        "    callk r0, k, r3, 2\n    call r1, r0, r5, 0\n    ret r0",
    ));
}

#[test]
fn a_clobber_on_one_branch_only_is_rejected_at_the_join() {
    let src = in_g(
        5,
        "    loadi r3, 7\n    jf r0, join\n    callk r1, k, r2, 2\njoin:\n    ret r3",
    );
    assert!(rejects(&src).contains("offset 25: reads r3, which the call at offset 14 clobbered"));
    // Written on the clobbering branch after the call: fine.
    accepts(&in_g(
        5,
        "    loadi r3, 7\n    jf r0, join\n    callk r1, k, r2, 2\n    loadi r3, 8\njoin:\n    ret r3",
    ));
}

#[test]
fn loops_carry_clobbers_round_and_writes_before_reads_are_fine() {
    // r3 is written at the top of every iteration before it is read.
    accepts(&in_g(
        5,
        "top:\n    loadi r3, 1\n    mov r2, r3\n    callk r1, k, r2, 2\n    jt r0, top\n    ret r1",
    ));
    // Read at the top, clobbered at the bottom: the back edge carries it round.
    assert!(rejects(&in_g(
        5,
        "    loadi r3, 1\ntop:\n    mov r2, r3\n    callk r1, k, r2, 2\n    jt r0, top\n    ret r1",
    ))
    .contains("reads r3, which the call at offset"));
}

#[test]
fn copying_windows_and_tail_calls_clobber_nothing() {
    accepts(&in_g(
        5,
        "    con r1, T, B, r2, 2\n    tuple r1, r2, 3\n    alit r1, r2, 2\n    ret r2",
    ));
    // A tail call replaces the frame; its window is read like any other.
    accepts(&in_g(5, "    tcallk k, r2, 2"));
    assert!(rejects(&in_g(5, "    callk r1, k, r2, 2\n    tcallk k, r2, 2")).contains("reads r2"));
}

#[test]
fn a_function_too_large_to_check_is_rejected() {
    // 1025 words of clobbered slots (the window at r0 of a 65,535-slot frame)
    // times 1025 instructions is past the budget.
    let body = format!(
        "{}    callk r0, k, r0, 2\n    ret r0",
        "    loadunit r1\n".repeat(1023)
    );
    let e = rejects(&in_g(65535, &body));
    assert!(
        e.starts_with("CODE function 1 'g': too large to check for reads of clobbered slots"),
        "{e}"
    );
    // The same frame with the window at the top tracks one word: fine.
    let body = format!(
        "{}    callk r0, k, r65530, 2\n    ret r0",
        "    loadunit r1\n".repeat(1023)
    );
    accepts(&in_g(65535, &body));
}
