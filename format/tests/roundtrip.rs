//! Property tests of the two round trips every tool relies on: bytes
//! (`read(write(m)) == m`, `write(read(b)) == b`) and text
//! (`write(assemble(disassemble(m))) == write(m)`), over generated modules that decode
//! but mostly would not verify (random code, indices and tables).

mod common;

use common::*;
use hashvm_format::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn read_inverts_write(m in arb_module()) {
        let bytes = write(&m);
        let back = read(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(write(&back), bytes);
    }

    #[test]
    fn disassembly_reassembles_to_the_same_bytes(m in arb_module()) {
        assert_dis_roundtrip(&m);
    }

    #[test]
    fn accepted_mutants_reencode_identically(m in arb_module(), seed in any::<u64>()) {
        let seeds = vec![write(&m)];
        let mut rng = Rng(seed | 1);
        for _ in 0..8 {
            check_bytes(&mutate(&mut rng, &seeds));
        }
    }
}

#[test]
fn sample_program_roundtrips() {
    let m = asm(SAMPLE);
    verify(&m).unwrap();
    assert_eq!(read(&write(&m)).unwrap(), m);
    assert_dis_roundtrip(&m);
}
