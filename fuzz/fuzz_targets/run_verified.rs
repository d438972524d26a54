//! Runs every input that decodes and verifies, with small heap and stack limits and an
//! interrupt after a short time: whatever a verified program does, the VM must end with
//! a value, an exit status or a runtime error — never a crash.
#![no_main]

use hashvm_vm::{run_program, Config, Vm};
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = hashvm_format::read(data) else { return };
    let Ok(verified) = hashvm_format::verify::verify(&m) else { return };
    if !m.is_executable() {
        return;
    }
    let mut vm = Vm::new(Config {
        heap_limit: 64 << 20,
        heap_initial: 1 << 16,
        max_frames: 10_000,
        gc_stress: data.len() % 2 == 0,
        jit_hot: 1,
        // Random modules must never reach C code: their foreign declarations are
        // refused at load time.
        allow_ffi: false,
        ..Config::default()
    });
    vm.set_output(Box::new(std::io::sink()));
    let flag = Arc::new(AtomicBool::new(false));
    vm.set_interrupt(Some(flag.clone()));
    let timer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        flag.store(true, Ordering::SeqCst);
    });
    let _ = run_program(&mut vm, verified);
    let _ = timer.join();
});
