//! The machine-code listing of `--jit-dump`: each compiled trace disassembled (Intel
//! syntax, as dynasm's source is written) with `iced-x86`, a maintained x86-64 decoder,
//! rather than a hex dump nobody can read.
//!
//! Offsets are from the start of the trace's buffer (its code is position-independent,
//! so branch targets print as offsets too and a listing is the same from run to run).

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use std::fmt::Write;

/// One line per instruction: offset, bytes, and the instruction.
pub fn listing(code: &[u8]) -> String {
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut fmt = IntelFormatter::new();
    fmt.options_mut().set_first_operand_char_index(8);
    let mut out = String::new();
    let mut text = String::new();
    let mut ins = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut ins);
        text.clear();
        fmt.format(&ins, &mut text);
        let at = ins.ip() as usize;
        let bytes: String = code[at..at + ins.len()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(out, "  {at:5x}  {bytes:<24} {text}");
    }
    out
}

#[cfg(test)]
mod tests {
    /// Known encodings decode to their mnemonics; a branch target prints as an offset.
    #[test]
    fn lists_instructions_with_offsets() {
        // mov rax, rbx; add rax, 1; jmp back to 0; ret
        let code = [0x48, 0x89, 0xd8, 0x48, 0x83, 0xc0, 0x01, 0xeb, 0xf7, 0xc3];
        let l = super::listing(&code);
        let lines: Vec<&str> = l.lines().collect();
        assert_eq!(lines.len(), 4, "{l}");
        assert!(
            lines[0].contains("mov") && lines[0].contains("rax,rbx"),
            "{l}"
        );
        assert!(
            lines[1].trim_start().starts_with("3 ") && lines[1].contains("add"),
            "{l}"
        );
        assert!(lines[2].contains("jmp") && lines[2].ends_with(" 0"), "{l}");
        assert!(lines[3].contains("ret"), "{l}");
    }
}
