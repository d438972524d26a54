//! Hand-built bytecode programs for the criterion micro benchmarks: each isolates one
//! hot path of the VM (dispatch, calls, allocation and collection, big integers), so a
//! change to the interpreter shows up in the one number it affects.

use hashvm_format::*;

fn s(i: u16) -> Operand {
    Operand::Slot(i)
}
fn imm(i: i32) -> Operand {
    Operand::Imm32(i)
}
fn cnt(i: u16) -> Operand {
    Operand::U16(i)
}

fn finish(mut mb: ModuleBuilder, main: FunctionBuilder) -> Module {
    let main = mb.add_function(main).expect("main");
    mb.set_entry(main);
    mb.set_executable(true);
    mb.finish().expect("module")
}

/// `sum = 0; for i in 0..n { sum += i * 3 }`: pure dispatch of typed arithmetic and a
/// fused compare-and-branch; returns `sum & 0xff` as the exit status.
pub fn arith_loop(n: i32) -> Module {
    let mb = ModuleBuilder::new();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    let done = m.new_label();
    m.op(Op::LoadI, [s(0), imm(0)]);
    m.op(Op::LoadI, [s(1), imm(0)]);
    m.bind(top);
    m.emit(
        Op::JGeIImm,
        [Arg::Op(s(1)), Arg::Op(imm(n)), Arg::Label(done)],
    );
    m.op(Op::MulIImm, [s(2), s(1), imm(3)]);
    m.op(Op::AddI64, [s(0), s(0), s(2)]);
    m.op(Op::AddIImm, [s(1), s(1), imm(1)]);
    m.emit(Op::Loop, [Arg::Label(top)]);
    m.bind(done);
    m.op(Op::LoadI, [s(2), imm(0xff)]);
    m.op(Op::AndI64, [s(0), s(0), s(2)]);
    m.op(Op::Ret, [s(0)]);
    finish(mb, m)
}

/// Naive recursive fib(n): calls and returns.
pub fn fib(n: i32) -> Module {
    let mut mb = ModuleBuilder::new();
    let mut f = FunctionBuilder::new("fib", 1, 0);
    let big = f.new_label();
    f.emit(
        Op::JGeIImm,
        [Arg::Op(s(0)), Arg::Op(imm(2)), Arg::Label(big)],
    );
    f.op(Op::Ret, [s(0)]);
    f.bind(big);
    f.op(Op::SubIImm, [s(1), s(0), imm(1)]);
    f.op(Op::CallSelf, [s(1), s(1), cnt(1)]);
    f.op(Op::SubIImm, [s(2), s(0), imm(2)]);
    f.op(Op::CallSelf, [s(2), s(2), cnt(1)]);
    f.op(Op::AddI64, [s(1), s(1), s(2)]);
    f.op(Op::Ret, [s(1)]);
    let fib = mb.add_function(f).expect("fib");
    let mut m = FunctionBuilder::new("main", 0, 0);
    m.op(Op::LoadI, [s(0), imm(n)]);
    m.op(Op::CallK, [s(0), Operand::Func(fib), s(0), cnt(1)]);
    m.op(Op::LoadI, [s(1), imm(0xff)]);
    m.op(Op::AndI64, [s(0), s(0), s(1)]);
    m.op(Op::Ret, [s(0)]);
    finish(mb, m)
}

/// Builds `rounds` lists of `len` cons cells each, keeping only the last: allocation
/// and collection of short-lived data.
pub fn alloc_lists(rounds: i32, len: i32) -> Module {
    let mb = ModuleBuilder::new();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let outer = m.new_label();
    let inner = m.new_label();
    let inner_done = m.new_label();
    let done = m.new_label();
    m.op(Op::LoadI, [s(0), imm(0)]); // round
    m.bind(outer);
    m.emit(
        Op::JGeIImm,
        [Arg::Op(s(0)), Arg::Op(imm(rounds)), Arg::Label(done)],
    );
    m.op(Op::LoadNil, [s(1)]);
    m.op(Op::LoadI, [s(2), imm(0)]);
    m.bind(inner);
    m.emit(
        Op::JGeIImm,
        [Arg::Op(s(2)), Arg::Op(imm(len)), Arg::Label(inner_done)],
    );
    m.op(Op::Cons, [s(1), s(2), s(1)]);
    m.op(Op::AddIImm, [s(2), s(2), imm(1)]);
    m.emit(Op::Loop, [Arg::Label(inner)]);
    m.bind(inner_done);
    m.op(Op::AddIImm, [s(0), s(0), imm(1)]);
    m.emit(Op::Loop, [Arg::Label(outer)]);
    m.bind(done);
    m.op(Op::ListLen, [s(0), s(1)]);
    m.op(Op::Ret, [s(0)]);
    finish(mb, m)
}

/// Multiplies an `ibig` accumulator by 3 `n` times, then returns its bit length mod 256:
/// big-integer arithmetic, allocation and finalisation of dead numbers.
pub fn big_mul(n: i32) -> Module {
    let mb = ModuleBuilder::new();
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    let done = m.new_label();
    m.op(Op::LoadI, [s(0), imm(1)]);
    m.op(Op::I64ToBig, [s(0), s(0)]);
    m.op(Op::LoadI, [s(1), imm(3)]);
    m.op(Op::I64ToBig, [s(1), s(1)]);
    m.op(Op::LoadI, [s(2), imm(0)]);
    m.bind(top);
    m.emit(
        Op::JGeIImm,
        [Arg::Op(s(2)), Arg::Op(imm(n)), Arg::Label(done)],
    );
    m.op(Op::MulBig, [s(0), s(0), s(1)]);
    m.op(Op::AddIImm, [s(2), s(2), imm(1)]);
    m.emit(Op::Loop, [Arg::Label(top)]);
    m.bind(done);
    m.op(Op::ToStr, [s(0), s(0)]);
    m.op(Op::StrLen, [s(0), s(0)]);
    m.op(Op::LoadI, [s(1), imm(0xff)]);
    m.op(Op::AndI64, [s(0), s(0), s(1)]);
    m.op(Op::Ret, [s(0)]);
    finish(mb, m)
}

/// `sum = 0; for i in 0..n { sum += labs(-i) }` with C's `labs` through `ffi.call`:
/// the loop of [`arith_loop`] plus one foreign call, so the difference is the cost of
/// `ffi.call` (argument checks, the fixed-scheme call, the result). Needs
/// `Config::allow_ffi`; returns `sum & 0xff`.
pub fn ffi_loop(n: i32) -> Module {
    let mut mb = ModuleBuilder::new();
    let labs = mb.add_foreign(Foreign {
        library: "libc.so.6".into(),
        symbol: "labs".into(),
        params: vec![FfiType::I64],
        ret: FfiType::I64,
    });
    let mut m = FunctionBuilder::new("main", 0, 0);
    let top = m.new_label();
    let done = m.new_label();
    m.op(Op::LoadI, [s(0), imm(0)]);
    m.op(Op::LoadI, [s(1), imm(0)]);
    m.bind(top);
    m.emit(
        Op::JGeIImm,
        [Arg::Op(s(1)), Arg::Op(imm(n)), Arg::Label(done)],
    );
    m.op(Op::NegI64, [s(3), s(1)]);
    m.op(Op::FfiCall, [s(2), Operand::Foreign(labs), s(3), cnt(1)]);
    m.op(Op::AddI64, [s(0), s(0), s(2)]);
    m.op(Op::AddIImm, [s(1), s(1), imm(1)]);
    m.emit(Op::Loop, [Arg::Label(top)]);
    m.bind(done);
    m.op(Op::LoadI, [s(2), imm(0xff)]);
    m.op(Op::AndI64, [s(0), s(0), s(2)]);
    m.op(Op::Ret, [s(0)]);
    finish(mb, m)
}
