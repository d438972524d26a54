//! Native code must behave as the interpreter does: programs generated from the
//! fuzzer's bytes (cli/tests/progen, as for `jit_diff`) that verify are compiled ahead
//! of time by `hashvm_jit::aot` and run as their native executables run them (the
//! machine code mapped in this process, the tracing JIT with the program's field kinds
//! under it, at hotness 1 to 3, sometimes under GC stress), and by the interpreter
//! alone; standard output, exit status, error message and stack trace must be
//! identical.
#![no_main]

#[path = "../../cli/tests/progen/mod.rs"]
mod progen;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = progen::check_native(data).map(|_| ()) {
        panic!("{e}");
    }
});
