//! Fault reporting for the dispatch loop: the message of a typed instruction given an
//! operand of the wrong type, the names of immediate types in messages, and rebuilding
//! a trace after a tail call put its frame back. Everything here is cold: message
//! formatting stays out of the loop's code.

use super::*;

impl Vm {
    /// The fault of a typed instruction given operands of the wrong type (cold, so the
    /// message formatting stays out of the dispatch loop).
    #[cold]
    #[inline(never)]
    pub(super) fn operand_fault(&self, name: &str, tag: u32, a: Value, b: Option<Value>) -> Trap {
        let t = tyname(tag);
        let msg = match b {
            Some(b) => format!(
                "{name} expects two {t} operands, got {} and {}",
                self.type_name(a),
                self.type_name(b)
            ),
            None if name.contains(' ') => {
                let art = if t.starts_with(['a', 'e', 'f', 'i', 'o']) {
                    "an"
                } else {
                    "a"
                };
                format!("{name} expects {art} {t}, got {}", self.type_name(a))
            }
            None => format!("{name} expects a {t} operand, got {}", self.type_name(a)),
        };
        self.error_plain(msg)
    }

    /// The fault of `field`, `setfield` or `field2` reading field `i` of `v`, which is
    /// not a data object or has fewer fields (cold, as [`Vm::operand_fault`]).
    #[cold]
    #[inline(never)]
    pub(super) fn field_fault(&self, v: Value, i: usize) -> Trap {
        self.error_plain(format!(
            "field {i} of a value that has none: {}",
            self.type_name(v)
        ))
    }

    /// Rebuilds an error's stack trace from the current (corrected) frame ips.
    #[cold]
    pub(super) fn retrace(&self, t: Trap) -> Trap {
        match t {
            Trap::Error(mut e) => {
                e.trace = self.trace();
                Trap::Error(e)
            }
            other => other,
        }
    }
}

/// The name of an immediate tag, for fault messages.
pub(crate) fn tyname(tag: u32) -> &'static str {
    match tag {
        Tag::UNIT => "()",
        Tag::BOOL => "bool",
        Tag::I64 => "i64",
        Tag::U64 => "u64",
        Tag::F64 => "f64",
        Tag::CHAR => "char",
        Tag::CTOR0 => "constructor",
        Tag::FUNC => "function",
        Tag::PTR => "ptr",
        _ => "object",
    }
}
