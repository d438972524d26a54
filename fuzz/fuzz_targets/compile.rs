//! Feeds arbitrary text to the whole compiler (lexer, parser, checker, code generator,
//! linker): it must never panic, and every module it produces must pass the verifier.
//! Inputs with `#run` are skipped, since compile-time evaluation may legitimately loop.
#![no_main]

use hashvm_compiler::driver::{compile_source, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if src.contains("#run") {
        return;
    }
    if let Ok(c) = compile_source("fuzz.hash", src, &Options::default()) {
        hashvm_format::verify::verify(&c.module).expect("generated code must verify");
    }
});
