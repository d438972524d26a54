//! Shared helpers: build modules with the builder API and run them capturing output.
#![allow(dead_code)]

use hashvm_format::*;
use hashvm_vm::{run_program, Config, Outcome, Vm};
use std::sync::{Arc, Mutex};

/// A `Write` that appends to a shared buffer.
#[derive(Clone, Default)]
pub struct Sink(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs an executable module; returns (stdout, exit code or error message).
pub fn run_with(m: &Module, config: Config) -> (String, Result<i32, String>) {
    let sink = Sink::default();
    let mut vm = Vm::new(config);
    vm.set_output(Box::new(sink.clone()));
    let r = match run_program(&mut vm, verify(m).expect("test modules verify")) {
        Outcome::Exit(c) => Ok(c),
        Outcome::Error(e) => Err(e.to_string()),
    };
    let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    (out, r)
}

pub fn run(m: &Module) -> (String, Result<i32, String>) {
    run_with(m, Config::default())
}

pub fn stress() -> Config {
    Config {
        gc_stress: true,
        heap_initial: 4096,
        ..Config::default()
    }
}

pub fn s(i: u16) -> Operand {
    Operand::Slot(i)
}
pub fn imm(i: i32) -> Operand {
    Operand::Imm32(i)
}
pub fn cnt(i: u16) -> Operand {
    Operand::U16(i)
}
pub fn l(x: Label) -> Arg {
    Arg::Label(x)
}
pub fn a(o: Operand) -> Arg {
    Arg::Op(o)
}

/// Finishes a test module whose entry point is `main`.
pub fn executable(mut mb: ModuleBuilder, main: FunctionBuilder) -> Module {
    let main = mb.add_function(main).unwrap();
    mb.set_entry(main);
    mb.set_executable(true);
    mb.finish().unwrap()
}
