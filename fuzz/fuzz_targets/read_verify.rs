//! Feeds arbitrary bytes to the reader, the verifier, the disassembler and the
//! assembler: none may panic, and any file the reader accepts must re-encode to the
//! same bytes and survive the text round trip unchanged.
#![no_main]

use hashvm_format::hasm::{assemble, disassemble};
use hashvm_format::{read, verify, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = read(data) else { return };
    let _ = verify(&m);
    assert_eq!(write(&m), data, "accepted file does not re-encode identically");
    let text = disassemble(&m);
    let back = assemble(&text, "fuzz.hasm").expect("disassembly must reassemble");
    assert_eq!(write(&back), data, "text round trip changed the file");
});
