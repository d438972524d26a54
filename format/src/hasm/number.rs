//! Number syntax shared by the assembler and the disassembler: integers in any radix
//! (with `_` separators), big integers, and floats with their exact bit patterns
//! (`nan`, `inf`, `bits 0x…`).

use super::*;

pub(super) fn split_int(s: &str) -> Option<(bool, u32, String)> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.replace('_', "");
    let (radix, digits) = if let Some(d) = rest.strip_prefix("0x").or(rest.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = rest.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = rest.strip_prefix("0o") {
        (8, d)
    } else {
        (10, rest.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some((neg, radix, digits.to_string()))
}

pub(super) fn parse_int(s: &str) -> Option<i128> {
    let (neg, radix, digits) = split_int(s)?;
    let v = i128::try_from(u128::from_str_radix(&digits, radix).ok()?).ok()?;
    Some(if neg { -v } else { v })
}

pub(super) fn parse_big(s: &str) -> Option<BigInt> {
    let (neg, radix, digits) = split_int(s)?;
    BigInt::parse_digits(&digits, radix, neg)
}

pub(super) fn is_float_text(s: &str) -> bool {
    let u = s.trim_start_matches(['+', '-']);
    if u.starts_with("0x") || u.starts_with("0X") || u.starts_with("0b") || u.starts_with("0o") {
        return false;
    }
    u.contains(['.', 'e', 'E']) || matches!(u, "inf" | "infinity" | "nan" | "NaN")
}

pub(super) fn parse_float(s: &str) -> Option<u64> {
    if s.contains('_') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    Some(if v.is_nan() {
        CANONICAL_NAN
    } else {
        v.to_bits()
    })
}

/// Prints an `f64` so that it reads back to the same bits.
pub(super) fn fmt_f64(bits: u64) -> String {
    let v = f64::from_bits(bits);
    if v.is_nan() {
        if bits == CANONICAL_NAN {
            "nan".into()
        } else {
            format!("bits 0x{bits:016x}")
        }
    } else {
        format!("{v:?}")
    }
}
