//! Arbitrary-precision integer and rational *constants*, as a file stores them: sign and
//! magnitude bytes. The format crate only reads, writes, parses and prints them, so it
//! needs no GMP: a compiler writer who uses the builder, the assembler or the verifier
//! builds without a C toolchain. The VM turns them into GMP numbers when it loads a
//! module; the arithmetic here (schoolbook, on 32-bit limbs) is only what parsing,
//! printing and keeping ratios in lowest terms need, on constants of modest size.

use std::cmp::Ordering;
use std::fmt;

/// An integer constant: canonical sign and magnitude (no trailing zero byte, and zero
/// is never negative), so equal values are equal structs and encode to equal bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct BigInt {
    negative: bool,
    /// Little-endian bytes of the absolute value.
    magnitude: Vec<u8>,
}

/// A rational constant in lowest terms with a positive denominator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BigRatio {
    num: BigInt,
    den: BigInt,
}

// ----- magnitudes as little-endian u32 limbs, without leading (high) zero limbs -------

type Limbs = Vec<u32>;

fn trim(mut v: Limbs) -> Limbs {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn limbs_of(bytes: &[u8]) -> Limbs {
    trim(
        bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect(),
    )
}

fn bytes_of(limbs: &[u32]) -> Vec<u8> {
    let mut b: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    while b.last() == Some(&0) {
        b.pop();
    }
    b
}

fn cmp(a: &[u32], b: &[u32]) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

/// `a - b` for `a >= b`.
fn sub(a: &[u32], b: &[u32]) -> Limbs {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i64;
    for (i, &x) in a.iter().enumerate() {
        let mut d = x as i64 - borrow - *b.get(i).unwrap_or(&0) as i64;
        borrow = 0;
        if d < 0 {
            d += 1 << 32;
            borrow = 1;
        }
        out.push(d as u32);
    }
    trim(out)
}

fn bit_len(a: &[u32]) -> usize {
    match a.last() {
        None => 0,
        Some(&top) => (a.len() - 1) * 32 + (32 - top.leading_zeros() as usize),
    }
}

fn bit(a: &[u32], i: usize) -> bool {
    a.get(i / 32).is_some_and(|l| l >> (i % 32) & 1 == 1)
}

fn shl1_or(a: &mut Limbs, low: bool) {
    let mut carry = low as u32;
    for l in a.iter_mut() {
        let next = *l >> 31;
        *l = *l << 1 | carry;
        carry = next;
    }
    if carry != 0 {
        a.push(carry);
    }
}

/// Quotient and remainder (`b` non-zero), by binary long division: quadratic in the
/// bit length, which is fine for constants.
fn divmod(a: &[u32], b: &[u32]) -> (Limbs, Limbs) {
    let mut q = vec![0u32; a.len()];
    let mut r: Limbs = Vec::new();
    for i in (0..bit_len(a)).rev() {
        shl1_or(&mut r, bit(a, i));
        if cmp(&r, b) != Ordering::Less {
            r = sub(&r, b);
            q[i / 32] |= 1 << (i % 32);
        }
    }
    (trim(q), r)
}

fn gcd(a: &[u32], b: &[u32]) -> Limbs {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    while !b.is_empty() {
        let r = divmod(&a, &b).1;
        a = b;
        b = r;
    }
    a
}

/// `a * m + add` for small `m` and `add`.
fn mul_small_add(a: &mut Limbs, m: u32, add: u32) {
    let mut carry = add as u64;
    for l in a.iter_mut() {
        let v = *l as u64 * m as u64 + carry;
        *l = v as u32;
        carry = v >> 32;
    }
    if carry != 0 {
        a.push(carry as u32);
    }
}

/// Divides in place by a small `d`, returning the remainder.
fn div_small(a: &mut Limbs, d: u32) -> u32 {
    let mut rem = 0u64;
    for l in a.iter_mut().rev() {
        let v = rem << 32 | *l as u64;
        *l = (v / d as u64) as u32;
        rem = v % d as u64;
    }
    *a = trim(std::mem::take(a));
    rem as u32
}

impl BigInt {
    /// The value with this sign and little-endian magnitude (made canonical).
    pub fn from_sign_magnitude(negative: bool, mut magnitude: Vec<u8>) -> BigInt {
        while magnitude.last() == Some(&0) {
            magnitude.pop();
        }
        let negative = negative && !magnitude.is_empty();
        BigInt {
            negative,
            magnitude,
        }
    }

    fn from_limbs(negative: bool, limbs: &[u32]) -> BigInt {
        BigInt::from_sign_magnitude(negative, bytes_of(limbs))
    }

    fn limbs(&self) -> Limbs {
        limbs_of(&self.magnitude)
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.magnitude.is_empty()
    }

    /// The absolute value's bytes, least significant first, without trailing zeros.
    pub fn magnitude(&self) -> &[u8] {
        &self.magnitude
    }

    /// Parses unsigned digits in `radix` (2 to 36; `_` separators are the caller's
    /// business). `None` for an empty string or a digit out of range.
    pub fn parse_digits(digits: &str, radix: u32, negative: bool) -> Option<BigInt> {
        if digits.is_empty() || !(2..=36).contains(&radix) {
            return None;
        }
        let mut limbs: Limbs = Vec::new();
        for c in digits.chars() {
            mul_small_add(&mut limbs, radix, c.to_digit(radix)?);
        }
        Some(BigInt::from_limbs(negative, &limbs))
    }
}

impl From<i128> for BigInt {
    fn from(v: i128) -> BigInt {
        BigInt::from_sign_magnitude(v < 0, v.unsigned_abs().to_le_bytes().to_vec())
    }
}

impl From<i64> for BigInt {
    fn from(v: i64) -> BigInt {
        BigInt::from(v as i128)
    }
}

impl fmt::Display for BigInt {
    /// Decimal, with a leading `-` when negative.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut limbs = self.limbs();
        if limbs.is_empty() {
            return f.write_str("0");
        }
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            chunks.push(div_small(&mut limbs, 1_000_000_000));
        }
        let mut s = String::new();
        if self.negative {
            s.push('-');
        }
        let mut it = chunks.iter().rev();
        if let Some(first) = it.next() {
            s.push_str(&first.to_string());
        }
        for c in it {
            s.push_str(&format!("{c:09}"));
        }
        f.write_str(&s)
    }
}

impl BigRatio {
    /// `num / den` in lowest terms with a positive denominator; `None` when `den` is 0.
    pub fn new(num: BigInt, den: BigInt) -> Option<BigRatio> {
        if den.is_zero() {
            return None;
        }
        let (n, d) = (num.limbs(), den.limbs());
        let g = gcd(&n, &d);
        let negative = num.negative != den.negative;
        Some(BigRatio {
            num: BigInt::from_limbs(negative, &divmod(&n, &g).0),
            den: BigInt::from_limbs(false, &divmod(&d, &g).0),
        })
    }

    /// The integer `n` as the ratio `n/1`.
    pub fn from_integer(n: BigInt) -> BigRatio {
        BigRatio {
            num: n,
            den: BigInt::from(1i64),
        }
    }

    /// Whether `num / den` is already canonical (positive denominator, lowest terms):
    /// the reader accepts only canonical ratios, so a file round-trips byte for byte.
    pub fn is_canonical(num: &BigInt, den: &BigInt) -> bool {
        !den.negative && !den.is_zero() && gcd(&num.limbs(), &den.limbs()) == [1]
    }

    /// The numerator (carries the sign).
    pub fn numer(&self) -> &BigInt {
        &self.num
    }

    /// The denominator (positive).
    pub fn denom(&self) -> &BigInt {
        &self.den
    }
}

impl fmt::Display for BigRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(s: &str) -> BigInt {
        match s.strip_prefix('-') {
            Some(d) => BigInt::parse_digits(d, 10, true).unwrap(),
            None => BigInt::parse_digits(s, 10, false).unwrap(),
        }
    }

    #[test]
    fn decimal_round_trip() {
        for s in [
            "0",
            "1",
            "-1",
            "999999999",
            "1000000000",
            "-4294967296",
            "18446744073709551616",
            "123456789012345678901234567890123456789012345678901234567890",
            "-340282366920938463463374607431768211456",
        ] {
            assert_eq!(big(s).to_string(), s);
        }
        assert_eq!(big("-0"), BigInt::default());
        assert!(!big("-0").is_negative());
        assert_eq!(
            BigInt::parse_digits("ff", 16, false),
            Some(BigInt::from(255i64))
        );
        assert_eq!(BigInt::parse_digits("", 10, false), None);
        assert_eq!(BigInt::parse_digits("12a", 10, false), None);
    }

    #[test]
    fn i128_matches_parsing() {
        for v in [
            0i128,
            1,
            -1,
            i64::MIN as i128,
            i64::MAX as i128,
            i128::MIN + 1,
            i128::MAX,
        ] {
            assert_eq!(BigInt::from(v).to_string(), v.to_string());
            assert_eq!(big(&v.to_string()), BigInt::from(v));
        }
    }

    #[test]
    fn ratios_in_lowest_terms() {
        let r = BigRatio::new(big("6"), big("-4")).unwrap();
        assert_eq!(r.to_string(), "-3/2");
        let r = BigRatio::new(big("0"), big("-7")).unwrap();
        assert_eq!(r.to_string(), "0/1");
        let huge = "1267650600228229401496703205376"; // 2^100
        let r = BigRatio::new(big(huge), big("1099511627776")).unwrap(); // / 2^40
        assert_eq!(r.to_string(), "1152921504606846976/1"); // 2^60
        assert!(BigRatio::new(big("1"), big("0")).is_none());
        assert!(BigRatio::is_canonical(&big("-3"), &big("2")));
        assert!(!BigRatio::is_canonical(&big("6"), &big("4")));
        assert!(!BigRatio::is_canonical(&big("1"), &big("-2")));
        // gcd across limb boundaries: (2^64 * 3) / (2^64 * 5).
        let a = big("55340232221128654848");
        let b = big("92233720368547758080");
        assert_eq!(BigRatio::new(a, b).unwrap().to_string(), "3/5");
    }
}
