//! The JIT must be invisible: programs generated from the fuzzer's bytes (hot loops,
//! typed arithmetic with faults, arrays, globals, calls, recursion, data values; see
//! cli/tests/progen/mod.rs) that verify are run by the interpreter alone and with the
//! tracing JIT at hotness 1 to 3, sometimes both under GC stress; standard output, exit
//! status, error message and stack trace must be identical.
#![no_main]

#[path = "../../cli/tests/progen/mod.rs"]
mod progen;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = progen::check(data) {
        panic!("{e}");
    }
});
