//! Decoded instructions: the form the verifier, the disassembler, the assembler and the
//! linker work on. The interpreter never builds these; it reads the bytes directly.

use crate::opcode::{jump_table, Op, OperandKind};
use smallvec::SmallVec;

/// One decoded operand. The variant follows the [`OperandKind`] of its position.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A frame slot (`Dst`, `Src` or `Base`).
    Slot(u16),
    /// A 32-bit immediate.
    Imm32(i32),
    /// A 64-bit immediate.
    Imm64(i64),
    /// An `f64` immediate, kept as bits so that NaN payloads round-trip exactly.
    F64(u64),
    /// A global index.
    Global(u32),
    /// A function index.
    Func(u32),
    /// A type id.
    Type(u32),
    /// A foreign-function index.
    Foreign(u32),
    /// A `u16` count, tag or index.
    U16(u16),
    /// A jump offset relative to the instruction's first byte.
    Jump(i32),
    /// A jump table: default offset, then one offset per case.
    Table(i32, Vec<i32>),
}

/// A decoded instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct Insn {
    /// The operation.
    pub op: Op,
    /// Its operands, one per entry of `op.operands()`.
    pub args: SmallVec<[Operand; 5]>,
}

/// Why a byte sequence is not an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The opcode byte (or extended pair) names no instruction.
    BadOpcode(u8, Option<u8>),
    /// The code ends inside the instruction.
    Truncated,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::BadOpcode(a, None) => write!(f, "unknown opcode 0x{a:02x}"),
            DecodeError::BadOpcode(a, Some(b)) => {
                write!(f, "unknown extended opcode 0x{a:02x} 0x{b:02x}")
            }
            DecodeError::Truncated => write!(f, "instruction truncated by the end of the code"),
        }
    }
}

fn rd<const N: usize>(code: &[u8], at: usize) -> Result<[u8; N], DecodeError> {
    code.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError::Truncated)
}

impl Insn {
    /// Builds an instruction from its parts; the caller keeps `args` in step with
    /// `op.operands()` (the encoder checks it).
    pub fn new(op: Op, args: impl IntoIterator<Item = Operand>) -> Insn {
        Insn {
            op,
            args: args.into_iter().collect(),
        }
    }

    /// Decodes the instruction at `code[at..]`, returning it and its encoded length.
    pub fn decode(code: &[u8], at: usize) -> Result<(Insn, usize), DecodeError> {
        let rest = code.get(at..).ok_or(DecodeError::Truncated)?;
        let (op, oplen) = match Op::decode(rest) {
            Some(x) => x,
            None => {
                let a = *rest.first().ok_or(DecodeError::Truncated)?;
                if a == crate::opcode::EXT_NUM || a == crate::opcode::EXT_SYS {
                    let b = *rest.get(1).ok_or(DecodeError::Truncated)?;
                    return Err(DecodeError::BadOpcode(a, Some(b)));
                }
                return Err(DecodeError::BadOpcode(a, None));
            }
        };
        let mut p = at + oplen;
        let mut args = SmallVec::new();
        for &k in op.operands() {
            let a = match k {
                OperandKind::Dst | OperandKind::Src | OperandKind::Base => {
                    Operand::Slot(u16::from_le_bytes(rd(code, p)?))
                }
                OperandKind::Tag | OperandKind::Count | OperandKind::Index => {
                    Operand::U16(u16::from_le_bytes(rd(code, p)?))
                }
                OperandKind::Imm32 | OperandKind::Char => {
                    Operand::Imm32(i32::from_le_bytes(rd(code, p)?))
                }
                OperandKind::Imm64 => Operand::Imm64(i64::from_le_bytes(rd(code, p)?)),
                OperandKind::F64 => Operand::F64(u64::from_le_bytes(rd(code, p)?)),
                OperandKind::Global => Operand::Global(u32::from_le_bytes(rd(code, p)?)),
                OperandKind::Func => Operand::Func(u32::from_le_bytes(rd(code, p)?)),
                OperandKind::Type => Operand::Type(u32::from_le_bytes(rd(code, p)?)),
                OperandKind::Foreign => Operand::Foreign(u32::from_le_bytes(rd(code, p)?)),
                OperandKind::Jump => Operand::Jump(i32::from_le_bytes(rd(code, p)?)),
                OperandKind::Table => {
                    let n = u16::from_le_bytes(rd(code, p + jump_table::COUNT)?) as usize;
                    let def = i32::from_le_bytes(rd(code, p + jump_table::DEFAULT)?);
                    let mut v = Vec::with_capacity(n);
                    for i in 0..n {
                        v.push(i32::from_le_bytes(rd(code, p + jump_table::case(i))?));
                    }
                    p += jump_table::len(n);
                    args.push(Operand::Table(def, v));
                    continue;
                }
            };
            p += k.width().unwrap_or(0);
            args.push(a);
        }
        Ok((Insn { op, args }, p - at))
    }

    /// Appends the encoding to `out`, writing each operand as its variant says. The
    /// caller keeps the variants in step with `op.operands()` ([`Insn::is_well_formed`];
    /// the builder and assembler check it before encoding): nothing is checked here.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.op.encode_opcode(out);
        for (k, a) in self.op.operands().iter().zip(self.args.iter()) {
            match (k, a) {
                (_, Operand::Slot(v)) | (_, Operand::U16(v)) => out.extend(v.to_le_bytes()),
                (_, Operand::Imm32(v)) | (_, Operand::Jump(v)) => out.extend(v.to_le_bytes()),
                (_, Operand::Imm64(v)) => out.extend(v.to_le_bytes()),
                (_, Operand::F64(v)) => out.extend(v.to_le_bytes()),
                (_, Operand::Global(v))
                | (_, Operand::Func(v))
                | (_, Operand::Type(v))
                | (_, Operand::Foreign(v)) => out.extend(v.to_le_bytes()),
                (_, Operand::Table(def, v)) => {
                    out.extend((v.len() as u16).to_le_bytes());
                    out.extend(def.to_le_bytes());
                    for j in v {
                        out.extend(j.to_le_bytes());
                    }
                }
            }
        }
    }

    /// The encoded length in bytes.
    pub fn len(&self) -> usize {
        let mut n = self.op.opcode_len();
        for (k, a) in self.op.operands().iter().zip(self.args.iter()) {
            n += match (k.width(), a) {
                (Some(w), _) => w,
                (None, Operand::Table(_, v)) => jump_table::len(v.len()),
                (None, _) => 0,
            };
        }
        n
    }

    /// Always false: an instruction has at least its opcode byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether the operands match the kinds `op` expects, in number and variant.
    pub fn is_well_formed(&self) -> bool {
        let ks = self.op.operands();
        ks.len() == self.args.len()
            && ks.iter().zip(self.args.iter()).all(|(k, a)| {
                matches!(
                    (k, a),
                    (
                        OperandKind::Dst | OperandKind::Src | OperandKind::Base,
                        Operand::Slot(_)
                    ) | (
                        OperandKind::Tag | OperandKind::Count | OperandKind::Index,
                        Operand::U16(_)
                    ) | (OperandKind::Imm32 | OperandKind::Char, Operand::Imm32(_))
                        | (OperandKind::Imm64, Operand::Imm64(_))
                        | (OperandKind::F64, Operand::F64(_))
                        | (OperandKind::Global, Operand::Global(_))
                        | (OperandKind::Func, Operand::Func(_))
                        | (OperandKind::Type, Operand::Type(_))
                        | (OperandKind::Foreign, Operand::Foreign(_))
                        | (OperandKind::Jump, Operand::Jump(_))
                        | (OperandKind::Table, Operand::Table(..))
                )
            })
    }
}

/// A run of consecutive frame slots that an instruction names: one slot for a `Dst`
/// or `Src` operand, or a `Base` operand with the following `Count` (a call's argument
/// window, a constructor's fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRun {
    /// The first slot.
    pub first: u32,
    /// How many slots (0 for an empty window).
    pub len: u32,
    /// Whether this is a `Base`/`Count` window rather than a single slot.
    pub window: bool,
}

impl SlotRun {
    /// One past the last slot: the frame must have at least this many slots.
    pub fn end(&self) -> u32 {
        self.first + self.len
    }
}

impl Insn {
    /// The slot runs this instruction names. This is the one frame-size rule: a frame
    /// must hold every run of every instruction of its function (the builder sizes
    /// frames by it, the verifier checks it). A call's callee frame starts at its
    /// window's base and may extend past the caller's frame; the VM grows the stack
    /// for that at the call, so it is not part of this rule.
    pub fn slot_runs(&self) -> SmallVec<[SlotRun; 4]> {
        let mut runs = SmallVec::new();
        let mut base = None;
        for (k, a) in self.op.operands().iter().zip(self.args.iter()) {
            match (k, a) {
                (OperandKind::Dst | OperandKind::Src, Operand::Slot(s)) => runs.push(SlotRun {
                    first: *s as u32,
                    len: 1,
                    window: false,
                }),
                (OperandKind::Base, Operand::Slot(s)) => base = Some(*s as u32),
                (OperandKind::Count, Operand::U16(n)) => {
                    if let Some(b) = base.take() {
                        runs.push(SlotRun {
                            first: b,
                            len: *n as u32,
                            window: true,
                        });
                    }
                }
                _ => {}
            }
        }
        runs
    }
}

/// Decodes a whole function body into `(offset, instruction)` pairs, stopping at the
/// first error (reported with its offset).
pub fn decode_all(code: &[u8]) -> Result<Vec<(usize, Insn)>, (usize, DecodeError)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < code.len() {
        let (i, n) = Insn::decode(code, at).map_err(|e| (at, e))?;
        out.push((at, i));
        at += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opcode::jump_table;

    /// An operand of kind `k` whose encoding is distinct per position `i`.
    fn sample(k: OperandKind, i: usize) -> Operand {
        let v = 0x1111 * (i as u32 + 1);
        match k {
            OperandKind::Dst | OperandKind::Src | OperandKind::Base => Operand::Slot(v as u16),
            OperandKind::Tag | OperandKind::Count | OperandKind::Index => Operand::U16(v as u16),
            OperandKind::Imm32 | OperandKind::Char => Operand::Imm32(v as i32),
            OperandKind::Imm64 => Operand::Imm64(v as i64),
            OperandKind::F64 => Operand::F64(v as u64),
            OperandKind::Global => Operand::Global(v),
            OperandKind::Func => Operand::Func(v),
            OperandKind::Type => Operand::Type(v),
            OperandKind::Foreign => Operand::Foreign(v),
            OperandKind::Jump => Operand::Jump(v as i32),
            OperandKind::Table => Operand::Table(-7, vec![3, 5, 9]),
        }
    }

    /// The offsets and lengths the interpreter reads at (`Op::operand_offset`,
    /// `Op::encoded_len`, `jump_table`) are where the encoder writes, for every opcode.
    #[test]
    fn table_offsets_match_the_encoding() {
        for &op in Op::ALL {
            let kinds = op.operands();
            let insn = Insn::new(op, kinds.iter().enumerate().map(|(i, k)| sample(*k, i)));
            assert!(insn.is_well_formed(), "{op:?}");
            let mut bytes = Vec::new();
            insn.encode(&mut bytes);
            assert_eq!(bytes.len(), insn.len(), "{op:?}");
            match op.fixed_len() {
                Some(n) => assert_eq!(n, bytes.len(), "{op:?}"),
                None => assert_eq!(*kinds.last().unwrap(), OperandKind::Table, "{op:?}"),
            }
            for (i, (k, a)) in kinds.iter().zip(insn.args.iter()).enumerate() {
                let at = op.operand_offset(i);
                match (k.width(), a) {
                    (Some(w), _) => {
                        let mut want = Vec::new();
                        match a {
                            Operand::Slot(v) | Operand::U16(v) => want.extend(v.to_le_bytes()),
                            Operand::Imm32(v) | Operand::Jump(v) => want.extend(v.to_le_bytes()),
                            Operand::Imm64(v) => want.extend(v.to_le_bytes()),
                            Operand::F64(v) => want.extend(v.to_le_bytes()),
                            Operand::Global(v)
                            | Operand::Func(v)
                            | Operand::Type(v)
                            | Operand::Foreign(v) => want.extend(v.to_le_bytes()),
                            Operand::Table(..) => unreachable!(),
                        }
                        assert_eq!(want.len(), w, "{op:?} operand {i}");
                        assert_eq!(&bytes[at..at + w], &want[..], "{op:?} operand {i}");
                    }
                    (None, Operand::Table(def, cases)) => {
                        let rd16 = |p: usize| u16::from_le_bytes([bytes[p], bytes[p + 1]]);
                        let rd32 =
                            |p: usize| i32::from_le_bytes(bytes[p..p + 4].try_into().unwrap());
                        assert_eq!(rd16(at + jump_table::COUNT) as usize, cases.len());
                        assert_eq!(rd32(at + jump_table::DEFAULT), *def);
                        for (c, j) in cases.iter().enumerate() {
                            assert_eq!(rd32(at + jump_table::case(c)), *j, "{op:?} case {c}");
                        }
                        assert_eq!(bytes.len(), at + jump_table::len(cases.len()));
                    }
                    _ => unreachable!(),
                }
            }
        }
    }
}
