//! Feeds arbitrary text to the assembler: it must never panic, and whatever it accepts
//! must survive the disassembly round trip unchanged.
#![no_main]

use hashvm_format::hasm::{assemble, disassemble};
use hashvm_format::write;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let Ok(m) = assemble(src, "fuzz.hasm") else { return };
    let again = assemble(&disassemble(&m), "dis.hasm").expect("disassembly must reassemble");
    assert_eq!(write(&again), write(&m), "text round trip changed the module");
});
