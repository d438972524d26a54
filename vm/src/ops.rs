//! The extended instructions (`0xFE` numeric, `0xFF` system): conversions, float maths,
//! big integers and rationals, strings, chars, lists and IO. They are out of the
//! interpreter's hot loop; each reads its operand slots, computes a result without
//! allocating, then allocates it (so no heap pointer is held across a collection).

use crate::heap::{self, Elems, Kind};
use crate::value::{Tag, Value};
use crate::vm::{Trap, Vm};
use hashvm_format::builtin;
use hashvm_format::opcode::{ext_num as n, ext_sys as s, Op, OperandKind, EXT_NUM};
use rug::ops::Pow;
use rug::{Integer, Rational};
use std::io::{BufRead, Read, Write};

/// Offset of slot operand `i` of an extended instruction (and, for `i` = its operand
/// count, the instruction's length): every extended instruction is two opcode bytes
/// followed only by `u16` slots, which [`EXT_LAYOUT_CHECKED`] proves from the opcode
/// table at compile time.
pub(crate) const fn ext_slot_offset(i: usize) -> usize {
    EXT_FIRST + SLOT_WIDTH * i
}

const EXT_FIRST: usize = Op::I64ToF64.operand_offset(0);
const SLOT_WIDTH: usize = match OperandKind::Src.width() {
    Some(w) => w,
    None => panic!("slots have a fixed width"),
};

/// Compile-time proof that [`ext_slot_offset`] matches every extended instruction.
const EXT_LAYOUT_CHECKED: () = {
    let mut k = 0;
    while k < Op::ALL.len() {
        let op = Op::ALL[k];
        if op.opcode_len() == 2 {
            let ks = op.operands();
            let mut i = 0;
            while i < ks.len() {
                assert!(matches!(ks[i], OperandKind::Dst | OperandKind::Src));
                assert!(op.operand_offset(i) == ext_slot_offset(i));
                i += 1;
            }
            assert!(op.encoded_len() == ext_slot_offset(ks.len()));
        }
        k += 1;
    }
};
#[allow(clippy::let_unit_value)]
const _: () = EXT_LAYOUT_CHECKED;

/// Number of slot operands of an extended instruction (all its operands are slots).
pub(crate) fn ext_arity(prefix: u8, sub: u8) -> usize {
    static T: std::sync::OnceLock<[[u8; 256]; 2]> = std::sync::OnceLock::new();
    let t = T.get_or_init(|| {
        let mut t = [[0u8; 256]; 2];
        for &op in Op::ALL {
            let v = op as u16;
            let p = (v >> 8) as u8;
            if p != 0 {
                t[(p != EXT_NUM) as usize][(v & 0xff) as usize] = op.operands().len() as u8;
            }
        }
        t
    });
    t[(prefix != EXT_NUM) as usize][sub as usize] as usize
}

/// The longest list of chars [`Vm::str_from_chars`] copies in one pass through a
/// buffer on the stack (fasta's lines are 60).
const SHORT_CHARS: usize = 256;

impl Vm {
    #[inline]
    fn arg(&self, b: usize, o: usize) -> Value {
        self.stack[b + o]
    }

    #[inline]
    fn want(&self, v: Value, tag: u32, what: &str) -> Result<u64, Trap> {
        if v.tag != tag {
            return Err(self.wanted(v, tag, what));
        }
        Ok(v.bits)
    }

    /// The fault of [`Vm::want`], out of line: the check is inlined in every
    /// builtin's loop, the message's formatting is not.
    #[cold]
    #[inline(never)]
    fn wanted(&self, v: Value, tag: u32, what: &str) -> Trap {
        self.error_plain(format!(
            "{what} expects {}, got {}",
            crate::interp::tyname(tag),
            self.type_name(v)
        ))
    }

    /// `str.from_chars`: the string of a list of chars. A list of at most
    /// [`SHORT_CHARS`] ASCII chars (fasta builds one of 60 per line) is copied in one
    /// pass into a buffer on the stack, then into the string allocated at its size.
    /// Anything else (longer, other chars, not a list of chars) takes the general
    /// path, which starts again from the list's head: one pass over the list
    /// measures it, then the string is allocated at its size and a second pass writes
    /// the characters' UTF-8 into it: no vector of the values, no `String` grown a
    /// character at a time. The faults are the same as reading the list whole, then
    /// each element: a malformed spine before a non-char element.
    fn str_from_chars(&mut self, list: Value) -> Result<Value, Trap> {
        let mut buf = [0u8; SHORT_CHARS];
        let mut len = 0;
        let mut v = list;
        // The short path reads nothing a fault would need: it gives up, and the
        // general path below finds the fault from the head. It cannot loop: at most
        // `SHORT_CHARS` cells.
        loop {
            if v.tag != Tag::OBJ {
                if v.tag == Tag::CTOR0 && v.aux == builtin::LIST {
                    let p = self.alloc(len, Kind::STR, 0, 0, len as u64)?;
                    // SAFETY: the new string has `len` bytes of payload after its
                    // 16-byte header; `buf` holds `len` bytes.
                    unsafe {
                        std::ptr::copy_nonoverlapping(buf.as_ptr(), (p as *mut u8).add(16), len)
                    };
                    return Ok(Value::obj(p));
                }
                break;
            }
            // SAFETY: OBJ values point at live objects; a cons cell (checked first)
            // has two value fields.
            let (c, next) = unsafe {
                let h = v.ptr();
                if (*h).kind != Kind::DATA || (*h).meta != builtin::LIST {
                    break;
                }
                (*heap::fields(h), *heap::fields(h).add(1))
            };
            if c.tag != Tag::CHAR || c.bits >= 0x80 || len == SHORT_CHARS {
                break;
            }
            buf[len] = c.bits as u8;
            len += 1;
            v = next;
        }
        self.str_from_chars_general(list)
    }

    /// [`Vm::str_from_chars`]' general path: any list, any chars, and its faults.
    fn str_from_chars_general(&mut self, list: Value) -> Result<Value, Trap> {
        const WHAT: &str = "str.from_chars";
        let mut cycle = crate::interp::CycleCheck::default();
        let (mut len, mut bad) = (0usize, None);
        let mut v = list;
        while !(v.tag == Tag::CTOR0 && v.aux == builtin::LIST) {
            // SAFETY: OBJ values point at live objects.
            let cons = v.tag == Tag::OBJ
                && unsafe { (*v.ptr()).kind == Kind::DATA && (*v.ptr()).meta == builtin::LIST };
            if !cons {
                return Err(
                    self.error_plain(format!("{WHAT} expects a list, got {}", self.type_name(v)))
                );
            }
            if cycle.seen(v.bits) {
                return Err(self.error_plain(format!("{WHAT} expects a list, got a cyclic one")));
            }
            // SAFETY: a cons cell (checked above) has two value fields.
            let (c, next) = unsafe { (*heap::fields(v.ptr()), *heap::fields(v.ptr()).add(1)) };
            if c.tag == Tag::CHAR {
                len += if c.bits < 0x80 {
                    1
                } else {
                    char_of(c.bits).len_utf8()
                };
            } else if bad.is_none() {
                bad = Some(c);
            }
            v = next;
        }
        if let Some(c) = bad {
            return Err(self.wanted(c, Tag::CHAR, WHAT));
        }
        if self.roots.try_reserve(1).is_err() {
            return Err(self.error_plain("out of memory"));
        }
        self.roots.push(list);
        let p = self.alloc(len, Kind::STR, 0, 0, len as u64);
        let mut v = self.roots.pop().unwrap_or(Value::NIL);
        let p = p?;
        // SAFETY: the new string has `len` bytes of payload after its header; the
        // list (rooted across the allocation, so `v` is its current address) is the
        // one measured above, of chars whose UTF-8 forms take exactly `len` bytes.
        unsafe {
            let out = std::slice::from_raw_parts_mut((p as *mut u8).add(16), len);
            let mut at = 0;
            while v.tag == Tag::OBJ {
                let bits = (*heap::fields(v.ptr())).bits;
                if bits < 0x80 {
                    out[at] = bits as u8;
                    at += 1;
                } else {
                    at += char_of(bits).encode_utf8(&mut out[at..]).len();
                }
                v = *heap::fields(v.ptr()).add(1);
            }
        }
        Ok(Value::obj(p))
    }

    fn want_kind(&self, v: Value, kind: u8, what: &str) -> Result<*mut heap::Header, Trap> {
        // SAFETY: OBJ values point at live objects.
        if v.tag == Tag::OBJ && unsafe { (*v.ptr()).kind } == kind {
            return Ok(v.ptr());
        }
        let k = match kind {
            Kind::STR => "str",
            Kind::BIG => "ibig",
            Kind::RAT => "ratio",
            Kind::ARRAY => "array",
            _ => "object",
        };
        Err(self.error_plain(format!("{what} expects {k}, got {}", self.type_name(v))))
    }

    fn want_str(&self, v: Value, what: &str) -> Result<String, Trap> {
        let p = self.want_kind(v, Kind::STR, what)?;
        // SAFETY: p is a live STR object; the copy is taken before any allocation.
        let src = unsafe { heap::str(p) };
        // Copied fallibly: the string may be a large part of the heap.
        let mut out = String::new();
        if out.try_reserve_exact(src.len()).is_err() {
            return Err(self.error_plain("out of memory"));
        }
        out.push_str(src);
        Ok(out)
    }

    fn want_big(&self, v: Value, what: &str) -> Result<Integer, Trap> {
        let p = self.want_kind(v, Kind::BIG, what)?;
        // SAFETY: p is a live BIG object.
        Ok(unsafe { heap::big(p) }.clone())
    }

    fn want_rat(&self, v: Value, what: &str) -> Result<Rational, Trap> {
        let p = self.want_kind(v, Kind::RAT, what)?;
        // SAFETY: p is a live RAT object.
        Ok(unsafe { heap::rat(p) }.clone())
    }

    fn set(&mut self, b: usize, o: usize, v: Value) {
        self.stack[b + o] = v;
    }

    /// Executes a `0xFE` instruction whose slot operands are `o`, in the frame at `b`.
    pub(crate) fn ext_num(&mut self, sub: u8, b: usize, o: &[usize; 4]) -> Result<(), Trap> {
        let a = self.arg(b, o[1]);
        let f64op = |vm: &Vm, g: fn(f64) -> f64| -> Result<Value, Trap> {
            Ok(Value::f64(g(f64::from_bits(vm.want(
                a,
                Tag::F64,
                "float operation",
            )?))))
        };
        let r = match sub {
            n::I64_TO_F64 => Value::f64(self.want(a, Tag::I64, "i64.to_f64")? as i64 as f64),
            n::F64_TO_I64 => {
                Value::i64(f64::from_bits(self.want(a, Tag::F64, "f64.to_i64")?) as i64)
            }
            n::I64_TO_U64 => Value::u64(self.want(a, Tag::I64, "i64.to_u64")?),
            n::U64_TO_I64 => Value::i64(self.want(a, Tag::U64, "u64.to_i64")? as i64),
            n::U64_TO_F64 => Value::f64(self.want(a, Tag::U64, "u64.to_f64")? as f64),
            n::F64_TO_U64 => {
                Value::u64(f64::from_bits(self.want(a, Tag::F64, "f64.to_u64")?) as u64)
            }
            n::I64_TO_BIG => {
                let v = self.want(a, Tag::I64, "i64.to_ibig")? as i64;
                self.new_big(Integer::from(v))?
            }
            n::U64_TO_BIG => {
                let v = self.want(a, Tag::U64, "u64.to_ibig")?;
                self.new_big(Integer::from(v))?
            }
            n::BIG_TO_I64 => match self.want_big(a, "ibig.to_i64")?.to_i64() {
                Some(v) => self.some(Value::i64(v))?,
                None => Value::NONE,
            },
            n::BIG_TO_U64 => match self.want_big(a, "ibig.to_u64")?.to_u64() {
                Some(v) => self.some(Value::u64(v))?,
                None => Value::NONE,
            },
            n::BIG_TO_F64 => Value::f64(self.want_big(a, "ibig.to_f64")?.to_f64()),
            n::CHAR_TO_I64 => Value::i64(self.want(a, Tag::CHAR, "char.code")? as i64),
            n::I64_TO_CHAR => {
                let v = self.want(a, Tag::I64, "char.from_code")? as i64;
                match u32::try_from(v).ok().and_then(char::from_u32) {
                    Some(c) => self.some(Value::char(c))?,
                    None => Value::NONE,
                }
            }
            n::F64_TO_BIG => {
                let x = f64::from_bits(self.want(a, Tag::F64, "f64.to_ibig")?);
                match Integer::from_f64(x.trunc()) {
                    Some(i) => self.new_big(i)?,
                    None => return Err(self.error_plain(format!("cannot convert {x:?} to ibig"))),
                }
            }
            n::F64_SQRT => f64op(self, f64::sqrt)?,
            n::F64_EXP => f64op(self, f64::exp)?,
            n::F64_LOG => f64op(self, f64::ln)?,
            n::F64_SIN => f64op(self, f64::sin)?,
            n::F64_COS => f64op(self, f64::cos)?,
            n::F64_TAN => f64op(self, f64::tan)?,
            n::F64_ASIN => f64op(self, f64::asin)?,
            n::F64_ACOS => f64op(self, f64::acos)?,
            n::F64_ATAN => f64op(self, f64::atan)?,
            n::F64_FLOOR => f64op(self, f64::floor)?,
            n::F64_CEIL => f64op(self, f64::ceil)?,
            n::F64_ROUND => f64op(self, f64::round)?,
            n::F64_TRUNC => f64op(self, f64::trunc)?,
            n::F64_ABS => f64op(self, f64::abs)?,
            n::F64_ISNAN => {
                Value::bool(f64::from_bits(self.want(a, Tag::F64, "f64.is_nan")?).is_nan())
            }
            n::F64_ATAN2 | n::F64_POW => {
                let x = f64::from_bits(self.want(a, Tag::F64, "float operation")?);
                let y =
                    f64::from_bits(self.want(self.arg(b, o[2]), Tag::F64, "float operation")?);
                Value::f64(if sub == n::F64_POW {
                    x.powf(y)
                } else {
                    x.atan2(y)
                })
            }
            n::F64_FMT => {
                let x = f64::from_bits(self.want(a, Tag::F64, "f64.fmt")?);
                let d = self.want(self.arg(b, o[2]), Tag::I64, "f64.fmt")? as i64;
                if !(0..=1000).contains(&d) {
                    return Err(self.error_plain(format!("f64.fmt: {d} digits is out of range")));
                }
                // C's %.Nf spells the special values in lower case.
                let s = if x.is_nan() {
                    "nan".to_string()
                } else if x.is_infinite() {
                    (if x > 0.0 { "inf" } else { "-inf" }).to_string()
                } else {
                    format!("{:.*}", d as usize, x)
                };
                self.new_str(&s)?
            }
            n::I64_POW => {
                let x = self.want(a, Tag::I64, "i64.pow")? as i64;
                let e = self.want(self.arg(b, o[2]), Tag::I64, "i64.pow")? as i64;
                if e < 0 {
                    return Err(self.error_plain(format!("negative exponent {e}")));
                }
                let mut r: i64 = 1;
                let mut base = x;
                let mut e = e as u64;
                while e > 0 {
                    if e & 1 == 1 {
                        r = r.wrapping_mul(base);
                    }
                    base = base.wrapping_mul(base);
                    e >>= 1;
                }
                Value::i64(r)
            }
            n::BIG_ADD..=n::BIG_SHR => return self.big_op(sub, b, o),
            n::RAT_NEW..=n::RAT_NE => return self.rat_op(sub, b, o),
            _ => return Err(self.error_plain(format!("invalid extended opcode 0xfe 0x{sub:02x}"))),
        };
        self.set(b, o[0], r);
        Ok(())
    }

    /// Fails with "out of memory" when a GMP result of about `bits` bits could not
    /// be held within the heap limit. GMP allocates its limbs itself and aborts the
    /// process when the system refuses memory, so every operation whose result can be
    /// much larger than its operands is sized here, beforehand, from the operands'
    /// sizes (an upper bound, within a limb).
    fn check_gmp_bits(&self, bits: u64) -> Result<(), Trap> {
        if bits / 8 > self.heap.limit as u64 {
            return Err(self.error_plain("out of memory (ibig result too large)"));
        }
        Ok(())
    }

    /// Fails with "out of memory" when a string result of `bytes` bytes, built in
    /// Rust before it is copied to the heap, could not be held within the heap limit
    /// (so that building it can never reach Rust's abort on allocation failure).
    fn check_text(&self, bytes: u128) -> Result<(), Trap> {
        if bytes > self.heap.limit as u128 {
            return Err(self.error_plain("out of memory (string result too large)"));
        }
        Ok(())
    }

    fn big_op(&mut self, sub: u8, b: usize, o: &[usize; 4]) -> Result<(), Trap> {
        let x = self.want_big(self.arg(b, o[1]), "ibig arithmetic")?;
        let unary = matches!(sub, n::BIG_NEG | n::BIG_ABS | n::BIG_ISQRT);
        let second = self.arg(b, o[2]);
        let bx = u64::from(x.significant_bits());
        let r = if unary {
            match sub {
                n::BIG_NEG => self.new_big(-x)?,
                n::BIG_ABS => self.new_big(x.abs())?,
                _ => {
                    if x < 0 {
                        return Err(self.error_plain("square root of a negative ibig"));
                    }
                    self.new_big(x.sqrt())?
                }
            }
        } else if matches!(sub, n::BIG_POW | n::BIG_SHL | n::BIG_SHR) {
            let e = self.want(second, Tag::I64, "ibig exponent or shift")? as i64;
            if e < 0 || e > u32::MAX as i64 {
                return Err(self.error_plain(format!("exponent or shift {e} out of range")));
            }
            let bits = match sub {
                // 0, 1 and -1 stay that small at any power.
                n::BIG_POW if x.significant_bits() <= 1 => 1,
                n::BIG_POW => bx.saturating_mul(e as u64),
                n::BIG_SHL => bx.saturating_add(e as u64),
                _ => bx,
            };
            self.check_gmp_bits(bits)?;
            let e = e as u32;
            let v = match sub {
                n::BIG_POW => x.pow(e),
                n::BIG_SHL => x << e,
                _ => x >> e,
            };
            self.new_big(v)?
        } else {
            let y = self.want_big(second, "ibig arithmetic")?;
            let by = u64::from(y.significant_bits());
            self.check_gmp_bits(if sub == n::BIG_MUL {
                bx + by
            } else {
                bx.max(by) + 1
            })?;
            match sub {
                n::BIG_ADD => self.new_big(x + y)?,
                n::BIG_SUB => self.new_big(x - y)?,
                n::BIG_MUL => self.new_big(x * y)?,
                n::BIG_DIV | n::BIG_REM | n::BIG_DIVMOD => {
                    if y == 0 {
                        return Err(self.error_plain("division by zero"));
                    }
                    let (q, r) = x.div_rem(y);
                    match sub {
                        n::BIG_DIV => self.new_big(q)?,
                        n::BIG_REM => self.new_big(r)?,
                        _ => {
                            let qv = self.new_big(q)?;
                            self.roots.push(qv);
                            let rv = self.new_big(r);
                            let qv = self.roots.pop().unwrap_or(qv);
                            let rv = rv?;
                            self.new_data(builtin::TUPLE, 0, &[qv, rv])?
                        }
                    }
                }
                n::BIG_EQ => Value::bool(x == y),
                n::BIG_NE => Value::bool(x != y),
                n::BIG_LT => Value::bool(x < y),
                n::BIG_LE => Value::bool(x <= y),
                n::BIG_GCD => self.new_big(x.gcd(&y))?,
                n::BIG_AND => self.new_big(x & y)?,
                n::BIG_OR => self.new_big(x | y)?,
                n::BIG_XOR => self.new_big(x ^ y)?,
                _ => {
                    return Err(
                        self.error_plain(format!("invalid extended opcode 0xfe 0x{sub:02x}"))
                    )
                }
            }
        };
        self.set(b, o[0], r);
        Ok(())
    }

    fn rat_op(&mut self, sub: u8, b: usize, o: &[usize; 4]) -> Result<(), Trap> {
        let a = self.arg(b, o[1]);
        let r = match sub {
            n::RAT_NEW => {
                let num = self.want_big(a, "ratio.new")?;
                let den = self.want_big(self.arg(b, o[2]), "ratio.new")?;
                if den == 0 {
                    return Err(self.error_plain("ratio with a zero denominator"));
                }
                self.new_rat(Rational::from((num, den)))?
            }
            n::RAT_NEG => {
                let x = self.want_rat(a, "ratio arithmetic")?;
                self.new_rat(-x)?
            }
            n::RAT_NUM => {
                let x = self.want_rat(a, "ratio.num")?;
                self.new_big(x.numer().clone())?
            }
            n::RAT_DEN => {
                let x = self.want_rat(a, "ratio.den")?;
                self.new_big(x.denom().clone())?
            }
            n::RAT_TO_F64 => Value::f64(self.want_rat(a, "ratio.to_f64")?.to_f64()),
            _ => {
                let x = self.want_rat(a, "ratio arithmetic")?;
                let y = self.want_rat(self.arg(b, o[2]), "ratio arithmetic")?;
                // A sum or product of a/b and c/d is formed from ad, bc and bd before
                // it is reduced.
                let bits = |r: &Rational| {
                    u64::from(r.numer().significant_bits())
                        + u64::from(r.denom().significant_bits())
                };
                self.check_gmp_bits(2 * (bits(&x) + bits(&y)))?;
                match sub {
                    n::RAT_ADD => self.new_rat(x + y)?,
                    n::RAT_SUB => self.new_rat(x - y)?,
                    n::RAT_MUL => self.new_rat(x * y)?,
                    n::RAT_DIV | n::RAT_REM => {
                        if y == 0 {
                            return Err(self.error_plain("division by zero"));
                        }
                        if sub == n::RAT_DIV {
                            self.new_rat(x / y)?
                        } else {
                            let q = Rational::from(&x / &y).trunc();
                            self.new_rat(x - y * q)?
                        }
                    }
                    n::RAT_EQ => Value::bool(x == y),
                    n::RAT_NE => Value::bool(x != y),
                    n::RAT_LT => Value::bool(x < y),
                    n::RAT_LE => Value::bool(x <= y),
                    _ => {
                        return Err(
                            self.error_plain(format!("invalid extended opcode 0xfe 0x{sub:02x}"))
                        )
                    }
                }
            }
        };
        self.set(b, o[0], r);
        Ok(())
    }

    /// Executes a `0xFF` instruction whose slot operands are `o`, in the frame at `b`.
    pub(crate) fn ext_sys(&mut self, sub: u8, b: usize, o: &[usize; 4]) -> Result<(), Trap> {
        if crate::net::is_net(sub) {
            return self.net_op(sub, b, o);
        }
        // Instructions with no destination first.
        match sub {
            s::EPRINT => {
                let t = self.want_str(self.arg(b, o[0]), "eprint")?;
                self.flush();
                let mut e = std::io::stderr();
                let _ = e.write_all(t.as_bytes());
                let _ = e.flush();
                return Ok(());
            }
            s::EXIT => {
                let code = self.want(self.arg(b, o[0]), Tag::I64, "io.exit")? as i64;
                return Err(Trap::Exit(code));
            }
            s::FLUSH => {
                self.flush();
                return Ok(());
            }
            s::ARRAY_FILL => {
                let mut p = self.want_kind(self.arg(b, o[0]), Kind::ARRAY, "array.fill")?;
                // SAFETY: p is a live array of `len` elements of its kind; after the
                // conversion (which may collect) the value is read again.
                unsafe {
                    let n = (*p).len as usize;
                    let m = (*p).meta;
                    if n > 0 && Elems::is_flat(m) && m != self.arg(b, o[1]).tag {
                        p = self.array_convert(p)?;
                    }
                    let v = self.arg(b, o[1]);
                    let p = heap::array_target(p);
                    if (*p).meta == Elems::GENERAL {
                        for i in 0..n {
                            *heap::fields(p).add(i) = v;
                        }
                        self.heap.barrier(p, v);
                    } else {
                        let f = (p as *mut u8).add(16) as *mut u64;
                        std::slice::from_raw_parts_mut(f, n).fill(v.bits);
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        let a = self.arg(b, o[1]);
        let r = match sub {
            s::STR_LEN => {
                let p = self.want_kind(a, Kind::STR, "str.len")?;
                // SAFETY: live STR object.
                Value::i64(unsafe { (*p).len } as i64)
            }
            s::STR_CHAR_COUNT => {
                Value::i64(self.want_str(a, "str.char_count")?.chars().count() as i64)
            }
            s::STR_BYTE => {
                let t = self.want_str(a, "str.byte")?;
                let i = self.want(self.arg(b, o[2]), Tag::I64, "str.byte")? as i64;
                match usize::try_from(i).ok().and_then(|i| t.as_bytes().get(i)) {
                    Some(&c) => Value::i64(c as i64),
                    None => {
                        return Err(self.error_plain(format!(
                            "byte index {i} out of range for a str of length {}",
                            t.len()
                        )))
                    }
                }
            }
            s::STR_SLICE => {
                let t = self.want_str(a, "str.slice")?;
                let i = self.want(self.arg(b, o[2]), Tag::I64, "str.slice")? as i64;
                let j = self.want(self.arg(b, o[3]), Tag::I64, "str.slice")? as i64;
                if i < 0 || j < i || j as usize > t.len() {
                    return Err(self.error_plain(format!(
                        "str.slice: range {i}..{j} out of bounds for a str of length {}",
                        t.len()
                    )));
                }
                match t.get(i as usize..j as usize) {
                    Some(piece) => self.new_str(piece)?,
                    None => {
                        return Err(self.error_plain(format!(
                            "str.slice: {i}..{j} does not fall on char boundaries"
                        )))
                    }
                }
            }
            s::STR_CHARS => {
                let t = self.want_str(a, "str.chars")?;
                let cs: Vec<Value> = t.chars().map(Value::char).collect();
                self.new_list(&cs)?
            }
            s::STR_FROM_CHARS => self.str_from_chars(a)?,
            s::STR_FROM_CHAR => {
                let c = char_of(self.want(a, Tag::CHAR, "str.from_char")?);
                self.new_str(c.encode_utf8(&mut [0; 4]))?
            }
            s::STR_FIND
            | s::STR_CONTAINS
            | s::STR_STARTS_WITH
            | s::STR_ENDS_WITH
            | s::STR_SPLIT
            | s::STR_JOIN
            | s::STR_CMP
            | s::STR_EQ => {
                if sub == s::STR_JOIN {
                    let items = self.list_values(a, "str.join")?;
                    let sep = self.want_str(self.arg(b, o[2]), "str.join")?;
                    let mut parts = Vec::with_capacity(items.len());
                    let mut total = sep.len() as u128 * items.len().saturating_sub(1) as u128;
                    for it in items {
                        let p = self.want_kind(it, Kind::STR, "str.join")?;
                        // SAFETY: p is a live STR object.
                        total += unsafe { (*p).len } as u128;
                        self.check_text(total)?;
                        parts.push(self.want_str(it, "str.join")?);
                    }
                    let j = parts.join(&sep);
                    self.new_str(&j)?
                } else {
                    let t = self.want_str(a, "string operation")?;
                    let p = self.want_str(self.arg(b, o[2]), "string operation")?;
                    match sub {
                        s::STR_FIND => match t.find(&p) {
                            Some(i) => self.some(Value::i64(i as i64))?,
                            None => Value::NONE,
                        },
                        s::STR_CONTAINS => Value::bool(t.contains(&p)),
                        s::STR_STARTS_WITH => Value::bool(t.starts_with(&p)),
                        s::STR_ENDS_WITH => Value::bool(t.ends_with(&p)),
                        s::STR_CMP => Value::i64(t.cmp(&p) as i64),
                        s::STR_EQ => Value::bool(t == p),
                        _ => {
                            let parts: Vec<&str> = t.split(p.as_str()).collect();
                            self.new_str_list(&parts)?
                        }
                    }
                }
            }
            s::STR_REPLACE => {
                let t = self.want_str(a, "str.replace")?;
                let from = self.want_str(self.arg(b, o[2]), "str.replace")?;
                let to = self.want_str(self.arg(b, o[3]), "str.replace")?;
                let r = if from.is_empty() {
                    t.clone()
                } else {
                    let k = t.matches(from.as_str()).count() as u128;
                    self.check_text(
                        t.len() as u128 - k * from.len() as u128 + k * to.len() as u128,
                    )?;
                    t.replace(&from, &to)
                };
                self.new_str(&r)?
            }
            s::STR_LINES => {
                let t = self.want_str(a, "str.lines")?;
                let parts: Vec<&str> = t.lines().collect();
                self.new_str_list(&parts)?
            }
            s::STR_TRIM
            | s::STR_TRIM_START
            | s::STR_TRIM_END
            | s::STR_UPPER
            | s::STR_LOWER
            | s::STR_REVERSE
            | s::STR_TAIL => {
                let t = self.want_str(a, "string operation")?;
                // Case mapping can make a string up to three times longer.
                self.check_text(3 * t.len() as u128)?;
                let r = match sub {
                    s::STR_TRIM => t.trim().to_string(),
                    s::STR_TRIM_START => t.trim_start().to_string(),
                    s::STR_TRIM_END => t.trim_end().to_string(),
                    s::STR_UPPER => t.to_uppercase(),
                    s::STR_LOWER => t.to_lowercase(),
                    s::STR_REVERSE => t.chars().rev().collect(),
                    _ => {
                        let mut cs = t.chars();
                        cs.next();
                        cs.as_str().to_string()
                    }
                };
                self.new_str(&r)?
            }
            s::STR_REPEAT => {
                let t = self.want_str(a, "str.repeat")?;
                let k = self.want(self.arg(b, o[2]), Tag::I64, "str.repeat")? as i64;
                if k < 0 {
                    return Err(self.error_plain(format!("str.repeat: negative count {k}")));
                }
                let total = (t.len() as u128) * (k as u128);
                if total > self.heap.limit as u128 {
                    return Err(self.error_plain("out of memory"));
                }
                // Built in place in the heap: no Rust-side copy of the result.
                let n = total as usize;
                let p = self.alloc(n, Kind::STR, 0, 0, n as u64)?;
                // SAFETY: the new object has room for `n` = `k * t.len()` bytes after
                // its header, and `t` is a Rust copy (the allocation cannot move it).
                // (An empty `t` copies nothing: no loop of up to `i64.MAX` rounds.)
                unsafe {
                    let dst = (p as *mut u8).add(16);
                    for i in 0..if t.is_empty() { 0 } else { k as usize } {
                        std::ptr::copy_nonoverlapping(t.as_ptr(), dst.add(i * t.len()), t.len());
                    }
                }
                Value::obj(p)
            }
            s::STR_HEAD => {
                let t = self.want_str(a, "str.head")?;
                match t.chars().next() {
                    Some(c) => self.some(Value::char(c))?,
                    None => Value::NONE,
                }
            }
            s::STR_CONS => {
                let c = self.want(a, Tag::CHAR, "str.cons")?;
                let t = self.want_str(self.arg(b, o[2]), "str.cons")?;
                let mut r = String::new();
                r.push(char::from_u32(c as u32).unwrap_or('\u{fffd}'));
                r.push_str(&t);
                self.new_str(&r)?
            }
            s::STR_CHAR_AT => {
                let t = self.want_str(a, "str.char_at")?;
                let i = self.want(self.arg(b, o[2]), Tag::I64, "str.char_at")? as i64;
                match usize::try_from(i)
                    .ok()
                    .and_then(|i| t.get(i..))
                    .and_then(|r| r.chars().next())
                {
                    Some(c) => self.some(Value::char(c))?,
                    None => Value::NONE,
                }
            }
            s::PARSE_I64 => match self.want_str(a, "i64.parse")?.parse::<i64>() {
                Ok(v) => self.some(Value::i64(v))?,
                Err(_) => Value::NONE,
            },
            s::PARSE_U64 => match self.want_str(a, "u64.parse")?.parse::<u64>() {
                Ok(v) => self.some(Value::u64(v))?,
                Err(_) => Value::NONE,
            },
            s::PARSE_F64 => match self.want_str(a, "f64.parse")?.parse::<f64>() {
                Ok(v) => self.some(Value::f64(v))?,
                Err(_) => Value::NONE,
            },
            s::PARSE_BIG => {
                let t = self.want_str(a, "ibig.parse")?;
                let ok = !t.is_empty()
                    && t.strip_prefix(['-', '+'])
                        .unwrap_or(&t)
                        .bytes()
                        .all(|c| c.is_ascii_digit())
                    && t.len() > usize::from(t.starts_with(['-', '+']));
                match ok.then(|| Integer::from_str_radix(&t, 10).ok()).flatten() {
                    Some(v) => {
                        let bv = self.new_big(v)?;
                        self.some(bv)?
                    }
                    None => Value::NONE,
                }
            }
            s::CHAR_IS_DIGIT..=s::CHAR_TO_LOWER => {
                let c = self.want(a, Tag::CHAR, "char operation")?;
                let c = char::from_u32(c as u32).unwrap_or('\u{fffd}');
                match sub {
                    s::CHAR_IS_DIGIT => Value::bool(c.is_ascii_digit()),
                    s::CHAR_IS_ALPHA => Value::bool(c.is_alphabetic()),
                    s::CHAR_IS_SPACE => Value::bool(c.is_whitespace()),
                    s::CHAR_IS_UPPER => Value::bool(c.is_uppercase()),
                    s::CHAR_IS_LOWER => Value::bool(c.is_lowercase()),
                    s::CHAR_TO_UPPER => {
                        let mut u = c.to_uppercase();
                        Value::char(if u.len() == 1 {
                            u.next().unwrap_or(c)
                        } else {
                            c
                        })
                    }
                    _ => {
                        let mut l = c.to_lowercase();
                        Value::char(if l.len() == 1 {
                            l.next().unwrap_or(c)
                        } else {
                            c
                        })
                    }
                }
            }
            s::READ_LINE => {
                self.flush();
                let stdin = self
                    .stdin
                    .get_or_insert_with(|| std::io::BufReader::new(std::io::stdin()));
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => Value::NONE,
                    Ok(_) => {
                        if line.ends_with('\n') {
                            line.pop();
                            if line.ends_with('\r') {
                                line.pop();
                            }
                        }
                        let v = self.new_str(&line)?;
                        self.some(v)?
                    }
                }
            }
            s::READ_ALL => {
                self.flush();
                let stdin = self
                    .stdin
                    .get_or_insert_with(|| std::io::BufReader::new(std::io::stdin()));
                let mut buf = Vec::new();
                let _ = stdin.read_to_end(&mut buf);
                let t = String::from_utf8_lossy(&buf).into_owned();
                self.new_str(&t)?
            }
            s::READ_FILE => {
                let path = self.want_str(a, "io.read_file")?;
                match std::fs::read(&path) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(t) => {
                            let v = self.new_str(&t)?;
                            self.result(true, v)?
                        }
                        Err(_) => {
                            let v = self.new_str(&format!("{path}: not valid UTF-8"))?;
                            self.result(false, v)?
                        }
                    },
                    Err(e) => {
                        let v = self.new_str(&format!("{path}: {e}"))?;
                        self.result(false, v)?
                    }
                }
            }
            s::WRITE_FILE | s::APPEND_FILE => {
                let path = self.want_str(a, "io.write_file")?;
                let text = self.want_str(self.arg(b, o[2]), "io.write_file")?;
                let res = if sub == s::WRITE_FILE {
                    std::fs::write(&path, text.as_bytes())
                } else {
                    std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&path)
                        .and_then(|mut f| f.write_all(text.as_bytes()))
                };
                match res {
                    Ok(()) => self.result(true, Value::UNIT)?,
                    Err(e) => {
                        let v = self.new_str(&format!("{path}: {e}"))?;
                        self.result(false, v)?
                    }
                }
            }
            s::FILE_EXISTS => {
                Value::bool(std::path::Path::new(&self.want_str(a, "io.file_exists")?).exists())
            }
            s::REMOVE_FILE => {
                let path = self.want_str(a, "io.remove_file")?;
                match std::fs::remove_file(&path) {
                    Ok(()) => self.result(true, Value::UNIT)?,
                    Err(e) => {
                        let v = self.new_str(&format!("{path}: {e}"))?;
                        self.result(false, v)?
                    }
                }
            }
            s::LIST_DIR => {
                let path = self.want_str(a, "io.list_dir")?;
                match std::fs::read_dir(&path) {
                    Ok(rd) => {
                        let mut names: Vec<String> = rd
                            .filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect();
                        names.sort();
                        let l = self.new_str_list(&names)?;
                        self.result(true, l)?
                    }
                    Err(e) => {
                        let v = self.new_str(&format!("{path}: {e}"))?;
                        self.result(false, v)?
                    }
                }
            }
            s::ARGS => {
                let args = self.args.clone();
                self.new_str_list(&args)?
            }
            s::ENV => {
                let name = self.want_str(a, "io.env")?;
                match std::env::var(&name) {
                    Ok(v) => {
                        let sv = self.new_str(&v)?;
                        self.some(sv)?
                    }
                    Err(_) => Value::NONE,
                }
            }
            s::CLOCK => Value::f64(self.clock0.elapsed().as_secs_f64()),
            s::TIME => Value::i64(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0),
            ),
            s::LIST_LEN => Value::i64(self.list_len(a)? as i64),
            s::LIST_REV => {
                let mut items = self.list_values(a, "list.reverse")?;
                items.reverse();
                self.new_list(&items)?
            }
            s::LIST_APPEND => {
                let items = self.list_values(a, "list.append")?;
                let tail = self.arg(b, o[2]);
                self.list_values(tail, "list.append")?;
                self.new_list_onto(&items, tail)?
            }
            s::LIST_TO_ARRAY => {
                let items = self.list_values(a, "list.to_array")?;
                self.new_array_of(&items)?
            }
            s::ARRAY_TO_LIST => {
                let p = self.want_kind(a, Kind::ARRAY, "array operation")?;
                // SAFETY: a live array.
                unsafe { self.new_list_of_array(p)? }
            }
            s::ARRAY_COPY => {
                let p = self.want_kind(a, Kind::ARRAY, "array operation")?;
                // SAFETY: a live array; copied out before allocating.
                let items = unsafe { heap::array_values(p) };
                self.new_array_of(&items)?
            }
            s::LIST_NTH => {
                let i = self.want(self.arg(b, o[2]), Tag::I64, "list.nth")? as i64;
                let mut v = a;
                let mut k = i;
                loop {
                    if k < 0 {
                        break Value::NONE;
                    }
                    if v.tag == Tag::OBJ
                        // SAFETY: the tag is OBJ, and OBJ values point at live objects.
                        && unsafe {
                            (*v.ptr()).kind == Kind::DATA && (*v.ptr()).meta == builtin::LIST
                        }
                    {
                        if k == 0 {
                            // SAFETY: a cons cell (checked above) has two value fields.
                            let h = unsafe { *heap::fields(v.ptr()) };
                            break self.some(h)?;
                        }
                        // SAFETY: as above: field 1 of a cons cell is its tail.
                        v = unsafe { *heap::fields(v.ptr()).add(1) };
                        k -= 1;
                    } else if v.tag == Tag::CTOR0 && v.aux == builtin::LIST {
                        break Value::NONE;
                    } else {
                        return Err(self.error_plain(format!(
                            "list.nth expects a list, got {}",
                            self.type_name(v)
                        )));
                    }
                }
            }
            s::TYPE_NAME => {
                let t = self.type_name(a);
                self.new_str(&t)?
            }
            _ => return Err(self.error_plain(format!("invalid extended opcode 0xff 0x{sub:02x}"))),
        };
        self.set(b, o[0], r);
        Ok(())
    }

    /// The name of a value's type, for messages and `typename`.
    pub fn type_name(&self, v: Value) -> String {
        match v.tag {
            Tag::OBJ => {
                let h = v.ptr();
                // SAFETY: OBJ values point at live objects.
                let (kind, meta) = unsafe { ((*h).kind, (*h).meta) };
                match kind {
                    Kind::DATA => self
                        .types
                        .get(meta as usize)
                        .map(|t| t.name.clone())
                        .unwrap_or_else(|| "data".into()),
                    Kind::ARRAY => "Array".into(),
                    Kind::CLOSURE | Kind::PAP => "function".into(),
                    Kind::REF => "ref".into(),
                    Kind::THUNK => "thunk".into(),
                    Kind::STR => "str".into(),
                    Kind::BYTES => "bytes".into(),
                    Kind::BIG => "ibig".into(),
                    Kind::RAT => "ratio".into(),
                    _ => "object".into(),
                }
            }
            Tag::CTOR0 => self
                .types
                .get(v.aux as usize)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| "data".into()),
            t => crate::interp::tyname(t).into(),
        }
    }
}

/// The `char` a CHAR value's bits stand for: U+FFFD for bits that are no scalar
/// value (a `.hasm` program may make any).
#[inline]
fn char_of(bits: u64) -> char {
    char::from_u32(bits as u32).unwrap_or('\u{fffd}')
}
