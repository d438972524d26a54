//! Bytecode liveness: which frame slots of a function are *live* before each of its
//! instructions, i.e. read by some instruction on a path from there before any
//! instruction on that path writes them.
//!
//! Derived from the opcode table's operand roles ([`OperandKind`]), never from a list
//! of instructions: a `Src` operand reads its slot, a `Base` operand with the `Count`
//! that follows it reads that run of slots (call, tail-call and constructor windows,
//! captures), a `Dst` operand writes its slot; `Jump` and `Table` operands are the
//! successors, and every instruction but a terminator ([`Op::is_terminator`]) also
//! continues with the next one. `ret`, `panic` and `io.exit` read their operand and
//! nothing else; a fault reads nothing (the error and its stack trace are made of
//! functions and offsets, never of slot values, and no instruction catches one).
//!
//! What a consumer may rely on (SPEC.md §8, "Slot liveness"): a slot dead before an
//! instruction is never read again by the frame before it is written, so a JIT or
//! compiler may leave an older value in it. That older value must still be a *valid*
//! value of the frame: the collector scans dead slots too (SPEC.md §1.4, "Dead slots
//! are roots too"), so a dead slot is never left holding garbage.
//!
//! The result is conservative: a slot whose liveness is not known (an offset that
//! is not an instruction's start, a slot past the frame, a function too large for the
//! table below) is reported live. The analysis is a backward data-flow over basic
//! blocks (a worklist of blocks whose live-in set changed), then one backward walk per
//! block for the per-instruction sets, so it never iterates over instructions more
//! than the block sets need.

use crate::insn::{Insn, Operand};
use crate::opcode::OperandKind;

/// Words (64 slots each) the per-instruction table may hold at most: a function with
/// more instructions times slots than this gets no table (every slot reported live)
/// rather than a huge allocation (32 MiB of bits at most, for bad or freak input).
pub const MAX_WORDS: usize = 1 << 22;

/// The slots one instruction reads and writes (`reads` are live before it whatever
/// follows; `writes` are dead before it unless it also reads them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UseDef {
    /// Slots read.
    pub reads: Vec<u16>,
    /// Slots written.
    pub writes: Vec<u16>,
}

/// The slots instruction `i` reads and writes, from its operand roles.
pub fn use_def(i: &Insn) -> UseDef {
    let mut u = UseDef::default();
    let ops = i.op.operands();
    for (j, (kind, a)) in ops.iter().zip(i.args.iter()).enumerate() {
        match (kind, a) {
            (OperandKind::Src, Operand::Slot(s)) => u.reads.push(*s),
            (OperandKind::Dst, Operand::Slot(s)) => u.writes.push(*s),
            (OperandKind::Base, Operand::Slot(b)) => {
                // The run's length is the next `Count` operand.
                let n = ops
                    .iter()
                    .zip(i.args.iter())
                    .skip(j + 1)
                    .find_map(|(k, a)| match (k, a) {
                        (OperandKind::Count, Operand::U16(c)) => Some(*c as u32),
                        _ => None,
                    })
                    .unwrap_or(0);
                let end = (*b as u32 + n).min(u16::MAX as u32 + 1);
                u.reads.extend((*b as u32..end).map(|s| s as u16));
            }
            _ => {}
        }
    }
    u
}

/// The byte offsets control may go to after instruction `i` at `ip` (of a function
/// whose code is `code_len` bytes long): its jump targets, then the next instruction
/// unless `i` is a terminator. Offsets outside the code are left out.
pub fn successors(ip: u32, len: u32, i: &Insn, code_len: u32) -> Vec<u32> {
    let mut v = Vec::new();
    let mut push = |off: i64| {
        let t = ip as i64 + off;
        if (0..code_len as i64).contains(&t) {
            v.push(t as u32);
        }
    };
    for a in &i.args {
        match a {
            Operand::Jump(j) => push(*j as i64),
            Operand::Table(d, cases) => {
                push(*d as i64);
                for c in cases {
                    push(*c as i64);
                }
            }
            _ => {}
        }
    }
    if !i.op.is_terminator() {
        push(len as i64);
    }
    v
}

/// Per-instruction live slot sets of one function.
#[derive(Clone, Debug)]
pub struct Liveness {
    nslots: usize,
    words: usize,
    /// Instruction index of each byte offset (`u32::MAX` inside an instruction).
    at: Vec<u32>,
    /// `words` words per instruction, in instruction order; empty when the function is
    /// too large (everything live).
    bits: Vec<u64>,
}

impl Liveness {
    /// The liveness of the function whose code is `code` and frame `nslots` slots.
    /// `None` when the code does not decode (verified code always does).
    pub fn of_code(code: &[u8], nslots: u16) -> Option<Liveness> {
        let insns = crate::insn::decode_all(code).ok()?;
        let v: Vec<(u32, &Insn, u32)> = insns
            .iter()
            .map(|(ip, i)| (*ip as u32, i, i.len() as u32))
            .collect();
        Some(Liveness::new(&v, nslots as usize))
    }

    /// The liveness of a function given as its decoded instructions `(offset,
    /// instruction, length)` in code order, with a frame of `nslots` slots.
    pub fn new(insns: &[(u32, &Insn, u32)], nslots: usize) -> Liveness {
        let n = insns.len();
        let words = nslots.div_ceil(64).max(1);
        let code_len = insns.last().map_or(0, |(ip, _, len)| ip + len);
        let mut at = vec![u32::MAX; code_len as usize + 1];
        for (k, (ip, _, _)) in insns.iter().enumerate() {
            at[*ip as usize] = k as u32;
        }
        if n.saturating_mul(words) > MAX_WORDS {
            return Liveness {
                nslots,
                words,
                at,
                bits: Vec::new(),
            };
        }
        let ud: Vec<UseDef> = insns.iter().map(|(_, i, _)| use_def(i)).collect();
        let succ: Vec<Vec<usize>> = insns
            .iter()
            .map(|(ip, i, len)| {
                successors(*ip, *len, i, code_len)
                    .into_iter()
                    .filter_map(|t| at.get(t as usize).copied())
                    .filter(|&t| t != u32::MAX)
                    .map(|t| t as usize)
                    .collect()
            })
            .collect();
        // Basic blocks: a leader at the entry, at every target, after every branch.
        let mut leader = vec![false; n];
        if n > 0 {
            leader[0] = true;
        }
        for (k, s) in succ.iter().enumerate() {
            let falls = s.len() == 1 && s[0] == k + 1;
            if !falls {
                for &t in s {
                    leader[t] = true;
                }
                if k + 1 < n {
                    leader[k + 1] = true;
                }
            }
        }
        let starts: Vec<usize> = (0..n).filter(|&k| leader[k]).collect();
        let mut block_of = vec![0usize; n];
        for (b, &s) in starts.iter().enumerate() {
            let end = starts.get(b + 1).copied().unwrap_or(n);
            for x in block_of.iter_mut().take(end).skip(s) {
                *x = b;
            }
        }
        let nb = starts.len();
        let end_of = |b: usize| starts.get(b + 1).copied().unwrap_or(n);
        let set = |v: &mut [u64], s: u16| {
            if (s as usize) < nslots {
                v[s as usize / 64] |= 1 << (s % 64);
            }
        };
        let clear = |v: &mut [u64], s: u16| {
            if (s as usize) < nslots {
                v[s as usize / 64] &= !(1 << (s % 64));
            }
        };
        // Per block: the slots read before written (gen) and written (kill).
        let mut gen = vec![0u64; nb * words];
        let mut kill = vec![0u64; nb * words];
        for b in 0..nb {
            let (g, k) = (
                &mut gen[b * words..(b + 1) * words],
                &mut kill[b * words..(b + 1) * words],
            );
            for x in (starts[b]..end_of(b)).rev() {
                for &s in &ud[x].writes {
                    clear(g, s);
                    set(k, s);
                }
                for &s in &ud[x].reads {
                    set(g, s);
                }
            }
        }
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); nb];
        for b in 0..nb {
            for &t in &succ[end_of(b) - 1] {
                preds[block_of[t]].push(b);
            }
        }
        let mut live_in = vec![0u64; nb * words];
        let mut queued = vec![true; nb];
        let mut work: Vec<usize> = (0..nb).collect();
        let mut out = vec![0u64; words];
        while let Some(b) = work.pop() {
            queued[b] = false;
            out.iter_mut().for_each(|w| *w = 0);
            for &t in &succ[end_of(b) - 1] {
                let tb = block_of[t];
                for w in 0..words {
                    out[w] |= live_in[tb * words + w];
                }
            }
            let mut changed = false;
            for w in 0..words {
                let v = (out[w] & !kill[b * words + w]) | gen[b * words + w];
                if v != live_in[b * words + w] {
                    live_in[b * words + w] = v;
                    changed = true;
                }
            }
            if changed {
                for &p in &preds[b] {
                    if !queued[p] {
                        queued[p] = true;
                        work.push(p);
                    }
                }
            }
        }
        // Per instruction: a backward walk of each block from its live-out set.
        let mut bits = vec![0u64; n * words];
        for b in 0..nb {
            let mut cur = vec![0u64; words];
            for &t in &succ[end_of(b) - 1] {
                let tb = block_of[t];
                for w in 0..words {
                    cur[w] |= live_in[tb * words + w];
                }
            }
            for x in (starts[b]..end_of(b)).rev() {
                for &s in &ud[x].writes {
                    clear(&mut cur, s);
                }
                for &s in &ud[x].reads {
                    set(&mut cur, s);
                }
                bits[x * words..(x + 1) * words].copy_from_slice(&cur);
            }
        }
        Liveness {
            nslots,
            words,
            at,
            bits,
        }
    }

    /// Whether slot `s` is live before the `n`th instruction (in code order).
    /// True when unknown.
    pub fn live_index(&self, n: usize, s: usize) -> bool {
        if s >= self.nslots {
            return true;
        }
        self.bits
            .get(n * self.words + s / 64)
            .is_none_or(|w| w & (1 << (s % 64)) != 0)
    }

    /// Whether slot `s` is live before the instruction at byte offset `ip`. True when
    /// unknown (no instruction starts there, a slot past the frame).
    pub fn live(&self, ip: u32, s: usize) -> bool {
        match self.at.get(ip as usize) {
            Some(&n) if n != u32::MAX => self.live_index(n as usize, s),
            _ => true,
        }
    }

    /// The slots live before the instruction at `ip`, one bit per slot (bit `s % 64`
    /// of word `s / 64`); `None` when unknown (everything is then live).
    pub fn live_set(&self, ip: u32) -> Option<&[u64]> {
        let n = *self.at.get(ip as usize).filter(|&&n| n != u32::MAX)? as usize;
        self.bits.get(n * self.words..(n + 1) * self.words)
    }

    /// The frame size the sets were computed for.
    pub fn nslots(&self) -> usize {
        self.nslots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hasm;

    /// The liveness of the function `name` of the `.hasm` module `src`, and its
    /// instruction offsets in order.
    fn of(src: &str, name: &str) -> (Liveness, Vec<u32>) {
        let m = hasm::assemble(src, "t.hasm").expect("assembles");
        let f = m
            .functions
            .iter()
            .find(|f| f.name == name)
            .expect("function");
        let offs = crate::insn::decode_all(&f.code)
            .unwrap()
            .into_iter()
            .map(|(ip, _)| ip as u32)
            .collect();
        (Liveness::of_code(&f.code, f.nslots).unwrap(), offs)
    }

    fn live_slots(l: &Liveness, ip: u32) -> Vec<usize> {
        (0..l.nslots()).filter(|&s| l.live(ip, s)).collect()
    }

    #[test]
    fn straight_line_reads_and_writes() {
        let (l, o) = of(
            ".module executable\n.func main/0 slots=4\n  loadi r0, 1\n  loadi r1, 2\n  add.i64 r2, r0, r1\n  \
             tostr r3, r2\n  print r3\n  retu\n.end\n.entry main\n",
            "main",
        );
        assert_eq!(live_slots(&l, o[0]), Vec::<usize>::new());
        assert_eq!(live_slots(&l, o[1]), vec![0]);
        assert_eq!(live_slots(&l, o[2]), vec![0, 1]);
        assert_eq!(live_slots(&l, o[3]), vec![2]);
        assert_eq!(live_slots(&l, o[4]), vec![3]);
        assert_eq!(live_slots(&l, o[5]), Vec::<usize>::new());
    }

    #[test]
    fn a_loop_keeps_its_counter_live_and_a_temporary_dead_at_the_header() {
        // r0 counter, r1 limit, r2 a temporary written then read in the body, r3 read
        // only after the loop.
        let (l, o) = of(
            ".module executable\n.func main/0 slots=4\n  loadi r0, 0\n  loadi r1, 10\n  loadi r3, 7\n\
             head:\n  jge.i64 r0, r1, done\n  addi.i64 r2, r0, 1\n  mov r0, r2\n  loop head\n\
             done:\n  tostr r3, r3\n  print r3\n  retu\n.end\n.entry main\n",
            "main",
        );
        // At the header (the jge): r0, r1 and r3 (read after the loop), not r2.
        assert_eq!(live_slots(&l, o[3]), vec![0, 1, 3]);
        // After the add: r2 live, r0 dead (overwritten by the mov before any read).
        assert_eq!(live_slots(&l, o[5]), vec![1, 2, 3]);
        // At the back-edge, as at the header.
        assert_eq!(live_slots(&l, o[6]), vec![0, 1, 3]);
    }

    #[test]
    fn windows_of_calls_and_constructors_are_read() {
        let (l, o) = of(
            ".module executable\n.func f/2 slots=2\n  ret r0\n.end\n\
             .func main/0 slots=6\n  loadi r2, 1\n  loadi r3, 2\n  callk r0, f, r2, 2\n\
             tuple r1, r4, 2\n  ret r1\n.end\n.entry main\n",
            "main",
        );
        // The call reads r2 and r3, and the tuple r4 and r5 (unit from the frame's
        // push): all live at the entry but r2, r3 (written first).
        assert_eq!(live_slots(&l, o[0]), vec![4, 5]);
        assert_eq!(live_slots(&l, o[2]), vec![2, 3, 4, 5]);
        assert_eq!(live_slots(&l, o[3]), vec![4, 5]);
        assert_eq!(live_slots(&l, o[4]), vec![1]);
    }

    #[test]
    fn a_slot_live_on_one_branch_only_is_live_before_the_branch() {
        let (l, o) = of(
            ".module executable\n.func main/1 slots=3\n  loadi r1, 5\n  loadi r2, 6\n  jf r0, other\n\
             tostr r1, r1\n  print r1\n  retu\nother:\n  tostr r2, r2\n  print r2\n  retu\n\
             .end\n.entry main\n",
            "main",
        );
        assert_eq!(live_slots(&l, o[2]), vec![0, 1, 2]);
        assert_eq!(live_slots(&l, o[3]), vec![1]);
        assert_eq!(live_slots(&l, o[6]), vec![2]);
    }

    #[test]
    fn switch_tables_and_terminators() {
        let (l, o) = of(
            ".module executable\n.func main/1 slots=3\n  loadi r1, 1\n  loadi r2, 2\n  switchi r0, 0, [a, b] else c\n\
             a:\n  ret r1\nb:\n  ret r2\nc:\n  retu\n.end\n.entry main\n",
            "main",
        );
        assert_eq!(live_slots(&l, o[2]), vec![0, 1, 2]);
        assert_eq!(live_slots(&l, o[3]), vec![1]);
        assert_eq!(live_slots(&l, o[5]), Vec::<usize>::new());
    }

    #[test]
    fn unknown_offsets_and_slots_are_live() {
        let (l, o) = of(
            ".module executable\n.func main/0 slots=1\n  loadi r0, 1\n  ret r0\n.end\n.entry main\n",
            "main",
        );
        assert!(!l.live(o[0], 0));
        assert!(l.live(o[0] + 1, 0), "inside an instruction");
        assert!(l.live(o[0], 5), "past the frame");
        assert!(l.live(1000, 0), "past the code");
        assert!(l.live_set(o[0] + 1).is_none());
    }

    #[test]
    fn every_use_def_comes_from_the_operand_roles() {
        // For every opcode, the reads are its Src operands and Base windows, the
        // writes its Dst operands: nothing else.
        for &op in crate::opcode::Op::ALL {
            let args: Vec<Operand> = op
                .operands()
                .iter()
                .enumerate()
                .map(|(j, k)| match k {
                    OperandKind::Dst | OperandKind::Src | OperandKind::Base => {
                        Operand::Slot(10 * j as u16)
                    }
                    OperandKind::Count => Operand::U16(2),
                    OperandKind::Jump => Operand::Jump(0),
                    OperandKind::Table => Operand::Table(0, vec![]),
                    _ => Operand::U16(0),
                })
                .collect();
            let i = Insn {
                op,
                args: args.into_iter().collect(),
            };
            let u = use_def(&i);
            for (j, k) in op.operands().iter().enumerate() {
                let s = 10 * j as u16;
                match k {
                    OperandKind::Src => assert!(u.reads.contains(&s), "{op:?}"),
                    OperandKind::Dst => assert!(u.writes.contains(&s), "{op:?}"),
                    OperandKind::Base => {
                        assert!(u.reads.contains(&s) && u.reads.contains(&(s + 1)), "{op:?}")
                    }
                    _ => {}
                }
            }
        }
    }
}
