//! The hasher of the JIT's own tables: the builder's CSE and load-forwarding tables,
//! the alias facts, the optimisations' maps and the liveness cache.
//!
//! Their keys are IR references, opcodes, slot numbers, function indexes and small
//! constants of one trace, and every table is bounded by the trace limits, so the
//! protection `std`'s SipHash gives against keys chosen to collide buys nothing
//! here, while it cost about a tenth of the recorder's instructions on long traces
//! (`store_effect` walks the forwarding table at every heap store, three lookups a
//! pair; benches/NOTES.md). This is the multiply-rotate hash of rustc's `FxHasher`
//! (Firefox's): one rotate, xor and multiply a word.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher that folds each written word in with a rotate, an xor and a multiply.
#[derive(Clone, Copy, Default)]
pub struct FxHasher {
    hash: u64,
}

/// The odd multiplier of rustc's `FxHasher` (from the golden ratio): it spreads a
/// word's low bits into the high bits `hashbrown` takes its control bytes from.
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// A `HashSet` with [`FxHasher`].
pub type FxHashSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn hash_of<T: Hash>(t: &T) -> u64 {
        let mut h = FxHasher::default();
        t.hash(&mut h);
        h.finish()
    }

    #[test]
    fn different_keys_of_a_trace_hash_differently() {
        // Keys as the builder's tables make them: neighbouring references and
        // constants must not collide (a table of colliding keys degrades to a scan).
        let mut seen = HashSet::new();
        for a in 0..64u32 {
            for k in 0..16u64 {
                assert!(seen.insert(hash_of(&(a, a + 1, k))), "{a} {k}");
            }
        }
        // Bytes written in one piece hash every byte, the tail included.
        assert_ne!(hash_of(&"abcdefgh1"), hash_of(&"abcdefgh2"));
        assert_ne!(hash_of(&[1u8, 2, 3]), hash_of(&[1u8, 2, 4]));
    }

    #[test]
    fn a_map_finds_what_it_holds() {
        let mut m: FxHashMap<(u32, u64), u32> = FxHashMap::default();
        for i in 0..1000u32 {
            m.insert((i, u64::from(i) * 3), i);
        }
        assert_eq!(m.len(), 1000);
        assert!((0..1000u32).all(|i| m.get(&(i, u64::from(i) * 3)) == Some(&i)));
        assert_eq!(m.get(&(5, 16)), None);
    }
}
