//! Writes a hand-built naive fib(N) program as .hbc (for quick interpreter timing).
use hashvm_format::*;

fn main() {
    let n: i32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(35);
    let out = std::env::args().nth(2).unwrap_or_else(|| "fib.hbc".into());
    let s = Operand::Slot;
    let mut mb = ModuleBuilder::new();
    let nl = mb.add_global("nl", GlobalInit::Const(Const::Str("\n".into())));
    let fib = mb.declare_function("fib");
    let mut f = FunctionBuilder::new("fib", 1, 0);
    let big = f.new_label();
    f.emit(
        Op::JGeIImm,
        [Arg::Op(s(0)), Arg::Op(Operand::Imm32(2)), Arg::Label(big)],
    );
    f.op(Op::Ret, [s(0)]);
    f.bind(big);
    f.op(Op::SubIImm, [s(1), s(0), Operand::Imm32(1)]);
    f.op(Op::CallSelf, [s(1), s(1), Operand::U16(1)]);
    f.op(Op::SubIImm, [s(2), s(0), Operand::Imm32(2)]);
    f.op(Op::CallSelf, [s(2), s(2), Operand::U16(1)]);
    f.op(Op::AddI64, [s(1), s(1), s(2)]);
    f.op(Op::Ret, [s(1)]);
    mb.define_function(fib, f).expect("fib");
    let mut m = FunctionBuilder::new("main", 0, 0);
    m.op(Op::LoadI, [s(0), Operand::Imm32(n)]);
    m.op(Op::CallK, [s(0), Operand::Func(fib), s(0), Operand::U16(1)]);
    m.op(Op::ToStr, [s(0), s(0)]);
    m.op(Op::Print, [s(0)]);
    m.op(Op::LoadG, [s(0), Operand::Global(nl)]);
    m.op(Op::Print, [s(0)]);
    m.op(Op::RetU, []);
    let main = mb.add_function(m).expect("main");
    mb.set_entry(main);
    mb.set_executable(true);
    std::fs::write(out, write(&mb.finish().expect("module"))).expect("write");
}
