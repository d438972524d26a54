//! Field kinds of a closed program (SPEC.md §11.6, "Field kinds"): for each field of
//! each of the program's own types, the one kind (i64, f64, bool or array) every value
//! ever stored there has, when there is one, and for an array field the elements kind
//! of every array that can reach it, when the program proves one.
//!
//! The fact holds only when the whole program is known: a native executable's module,
//! which nothing links to later (`hashvm run` has a REPL, and a later load could add a
//! store of another kind). The native compiler computes it (`aot::field_kinds`), the
//! executable carries it in its `AOTM` section, and the runtime hands it to the tracing
//! JIT, whose recorder then loads such a field with no tag guard once the object's type
//! is guarded (`fload.known` after one `guard.meta`): one compare of the header for
//! every field of the object, where each field load compared its tag. An array field's
//! value is known to be an object of the array kind too (no `guard.kind`). Its
//! elements kind is known only where the program can never convert such an array (a
//! store of another kind converts one, SPEC.md §1.1): every array stored there was
//! made by an `anew` of an i64, f64 or bool, and no `aset` or `array.fill` of the
//! program can store a value of another kind into one (`aot::fields`, "Elements
//! kinds"); then no `guard.meta` of the elements kind follows either. Such an array
//! is flat of that kind, or empty (an empty array is general, and every access of
//! one fails its index check first).

use hashvm_format::module::TypeDef;
use hashvm_format::{Module, FIRST_USER_TYPE};
use hashvm_vm::Tag;

/// Per type of `m` (from `FIRST_USER_TYPE`): the fewest fields of its constructors
/// with fields, 0 for an imported type or one with none. Every data object of a type
/// has at least that many: an object is always built with its constructor's arity
/// (the verifier checks every `con` and every constant against the type table, and
/// the runtime builds objects of builtin types only), and a field-less constructor
/// is an immediate, never an object.
pub fn min_fields(m: &Module) -> Vec<usize> {
    m.types
        .iter()
        .map(|t| match t {
            TypeDef::Defined { ctors, .. } => ctors
                .iter()
                .map(|c| c.arity as usize)
                .filter(|&a| a > 0)
                .min()
                .unwrap_or(0),
            TypeDef::Import { .. } => 0,
        })
        .collect()
}

/// A kind the table can prove of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Every value has this tag (`Tag::I64`, `Tag::F64` or `Tag::BOOL`; any other is
    /// no kind of the table).
    Tag(u32),
    /// Every value is an array (tag `Tag::OBJ`, header kind `layout::KIND_ARRAY`): of
    /// any elements kind (`None`), or (`Some(t)`, `t` one of `Tag::I64`, `Tag::F64`,
    /// `Tag::BOOL`) flat with elements of tag `t` or empty, on every run.
    Array(Option<u32>),
}

/// The kind of a field: a tag (`Tag::I64`, `Tag::F64`, `Tag::BOOL`), an array, or
/// unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldKinds {
    /// Per type id `FIRST_USER_TYPE + i`, per field index: the byte code of
    /// [`FieldKinds::encode`] (0 unknown, 1 i64, 2 f64, 3 bool, 4 array, 5 array of
    /// i64s, 6 array of f64s, 7 array of bools).
    types: Vec<Vec<u8>>,
    /// Per type id `FIRST_USER_TYPE + i`: [`min_fields`] of the program. Not in the
    /// `AOTM` bytes: the runtime derives it from the module it loaded and verified
    /// ([`FieldKinds::with_min_fields`]); empty, no field is known to be there.
    min_fields: Vec<usize>,
}

const CODES: [u32; 3] = [Tag::I64, Tag::F64, Tag::BOOL];

/// The code of [`FieldKind::Array`] of any elements kind (after the tags'); an array
/// whose elements have the tag `CODES[i]` is `ARRAY + 1 + i`.
const ARRAY: u8 = CODES.len() as u8 + 1;

/// The largest code.
const LAST: u8 = ARRAY + CODES.len() as u8;

/// The code of a tag of [`CODES`] (`None` for any other), from 1.
fn tag_code(t: u32) -> Option<u8> {
    CODES.iter().position(|&c| c == t).map(|p| p as u8 + 1)
}

impl FieldKinds {
    /// The table from per type (from `FIRST_USER_TYPE`), per field, the kind every
    /// value stored there has (`None`: unknown).
    pub fn new(types: Vec<Vec<Option<FieldKind>>>) -> FieldKinds {
        let code = |k: Option<FieldKind>| match k {
            Some(FieldKind::Tag(t)) => tag_code(t).unwrap_or(0),
            Some(FieldKind::Array(e)) => ARRAY + e.and_then(tag_code).unwrap_or(0),
            None => 0,
        };
        FieldKinds {
            types: types
                .into_iter()
                .map(|fs| fs.into_iter().map(code).collect())
                .collect(),
            min_fields: Vec::new(),
        }
    }

    /// The table with the field counts of `m`'s types ([`min_fields`]), `m` being the
    /// program the table was computed for.
    pub fn with_min_fields(self, m: &Module) -> FieldKinds {
        FieldKinds {
            min_fields: min_fields(m),
            ..self
        }
    }

    /// Whether every data object of type id `ty` has field `fi` ([`min_fields`]): a
    /// trace that guards an object's type (`guard.meta`) needs no `guard.len` for it.
    pub fn has_field(&self, ty: u32, fi: usize) -> bool {
        ty.checked_sub(FIRST_USER_TYPE)
            .and_then(|i| self.min_fields.get(i as usize))
            .is_some_and(|&n| fi < n)
    }

    /// The tag every value in field `fi` of a data object of type id `ty` has, if the
    /// program's analysis proved one: `Tag::OBJ` for an array field
    /// ([`FieldKinds::array`]).
    pub fn tag(&self, ty: u32, fi: usize) -> Option<u32> {
        let c = self.code(ty, fi)?;
        if c >= ARRAY {
            return Some(Tag::OBJ);
        }
        CODES.get((c as usize).checked_sub(1)?).copied()
    }

    /// Whether every value in field `fi` of a data object of type id `ty` is an array
    /// (an object of the array kind; its elements kind in [`FieldKinds::elems`]).
    pub fn array(&self, ty: u32, fi: usize) -> bool {
        self.code(ty, fi).is_some_and(|c| c >= ARRAY)
    }

    /// The elements kind (`Tag::I64`, `Tag::F64` or `Tag::BOOL`, the meta word of a
    /// flat array of them, `Elems::of_tag`) of every array in field `fi` of a data
    /// object of type id `ty`, when the program proves one: each is flat of that kind
    /// or empty, on every run.
    pub fn elems(&self, ty: u32, fi: usize) -> Option<u32> {
        let c = self.code(ty, fi)?.checked_sub(ARRAY + 1)?;
        CODES.get(c as usize).copied()
    }

    fn code(&self, ty: u32, fi: usize) -> Option<u8> {
        let i = ty.checked_sub(FIRST_USER_TYPE)? as usize;
        self.types.get(i)?.get(fi).copied()
    }

    /// Whether no field has a known kind.
    pub fn is_empty(&self) -> bool {
        self.known() == 0
    }

    /// How many fields have a known kind (`--native-stats`).
    pub fn known(&self) -> usize {
        self.types.iter().flatten().filter(|&&c| c != 0).count()
    }

    /// How many of them are arrays of a known elements kind (`--native-stats`).
    pub fn known_elems(&self) -> usize {
        self.types.iter().flatten().filter(|&&c| c > ARRAY).count()
    }

    /// The bytes the `AOTM` section carries: type count u32, then per type its field
    /// count u32 and one byte per field (0 unknown, 1 i64, 2 f64, 3 bool, 4 array,
    /// 5 to 7 an array of i64s, f64s, bools).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = (self.types.len() as u32).to_le_bytes().to_vec();
        for fs in &self.types {
            out.extend_from_slice(&(fs.len() as u32).to_le_bytes());
            out.extend_from_slice(fs);
        }
        out
    }

    /// Reads [`FieldKinds::encode`]'s bytes, which must be exactly `b` (`None`: damaged).
    pub fn decode(b: &[u8]) -> Option<FieldKinds> {
        let u32_at = |at: usize| -> Option<usize> {
            Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize)
        };
        let n = u32_at(0)?;
        let mut at = 4;
        let mut types = Vec::new();
        for _ in 0..n {
            let k = u32_at(at)?;
            at += 4;
            let fs = b.get(at..at.checked_add(k)?)?;
            if fs.iter().any(|&c| c > LAST) {
                return None;
            }
            types.push(fs.to_vec());
            at += k;
        }
        (at == b.len()).then_some(FieldKinds {
            types,
            min_fields: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_tags() {
        let t = |t| Some(FieldKind::Tag(t));
        let k = FieldKinds::new(vec![
            vec![t(Tag::F64), None, t(Tag::I64)],
            vec![],
            vec![
                t(Tag::BOOL),
                t(Tag::OBJ),
                Some(FieldKind::Array(None)),
                Some(FieldKind::Array(Some(Tag::I64))),
                Some(FieldKind::Array(Some(Tag::BOOL))),
                Some(FieldKind::Array(Some(Tag::F64))),
                // Not a kind of elements the table has: an array of any.
                Some(FieldKind::Array(Some(Tag::OBJ))),
            ],
        ]);
        let f = FIRST_USER_TYPE;
        assert_eq!(k.tag(f, 0), Some(Tag::F64));
        assert_eq!(k.tag(f, 1), None);
        assert_eq!(k.tag(f, 2), Some(Tag::I64));
        assert_eq!(k.tag(f, 3), None);
        assert_eq!(k.tag(f + 2, 0), Some(Tag::BOOL));
        // Only numbers and bools are kinds of this table.
        assert_eq!(k.tag(f + 2, 1), None);
        assert!(!k.array(f + 2, 1));
        // An array field: objects, of the array kind.
        assert_eq!(k.tag(f + 2, 2), Some(Tag::OBJ));
        assert!(k.array(f + 2, 2));
        assert!(!k.array(f, 0));
        assert_eq!(k.elems(f + 2, 2), None, "an array of any elements kind");
        // Arrays of a known elements kind: arrays, objects, and their kind.
        for (fi, e) in [(3, Tag::I64), (4, Tag::BOOL), (5, Tag::F64)] {
            assert!(k.array(f + 2, fi));
            assert_eq!(k.tag(f + 2, fi), Some(Tag::OBJ));
            assert_eq!(k.elems(f + 2, fi), Some(e));
        }
        assert!(k.array(f + 2, 6));
        assert_eq!(k.elems(f + 2, 6), None);
        assert_eq!(k.elems(f, 0), None, "an f64 field holds no array");
        assert!(!k.array(f + 2, 7));
        assert_eq!(k.known(), 8);
        assert_eq!(k.known_elems(), 3);
        assert_eq!(k.tag(f - 1, 0), None);
        assert_eq!(k.tag(f + 3, 0), None);
        let b = k.encode();
        assert_eq!(FieldKinds::decode(&b), Some(k));
        assert_eq!(FieldKinds::decode(&b[..b.len() - 1]), None);
        let mut bad = b.clone();
        *bad.last_mut().unwrap() = 9;
        assert_eq!(FieldKinds::decode(&bad), None);
        *bad.last_mut().unwrap() = LAST + 1;
        assert_eq!(FieldKinds::decode(&bad), None);
        *bad.last_mut().unwrap() = LAST;
        assert_eq!(
            FieldKinds::decode(&bad).map(|k| k.elems(f + 2, 6)),
            Some(Some(Tag::BOOL))
        );
    }
}
