//! Property tests of inclusion and consistency proofs, with the `ct-merkle` crate as an independent
//! oracle: our proofs must be byte-identical to its proofs, and our verifier must agree with its
//! verifier on every tampered input tried.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::LazyLock;

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{
    ConsistencyProof as CtConsistencyProof, InclusionProof as CtInclusionProof,
    RootHash as CtRootHash,
};
use ledger::tree::{
    ConsistencyProof, InclusionError, InclusionProof, MemoryTree, prove_consistency,
    prove_inclusion,
};
use ledger::{Hash, LeafIndex, RootHash, TreeSize, leaf_hash};
use proptest::prelude::*;
use sha2::Sha256;

/// Trees of every size from 1 to this are checked exhaustively for inclusion.
const INCLUSION_SIZES: u64 = 300;
/// Every pair of sizes `1 <= m <= n <= CONSISTENCY_SIZES` is checked for consistency.
const CONSISTENCY_SIZES: u64 = 160;

fn record(i: u64) -> Vec<u8> {
    format!("tagtrail test record {i}").into_bytes()
}

fn size(n: u64) -> TreeSize {
    TreeSize::new(n).unwrap()
}

fn index(i: u64) -> LeafIndex {
    LeafIndex::new(i).unwrap()
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut bytes = *hash.as_bytes();
    bytes[(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash::from_bytes(bytes)
}

fn flip_root(root: &RootHash, bit: usize) -> RootHash {
    RootHash::from_hash(flip(root.hash(), bit))
}

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes
        .iter()
        .flat_map(|h| h.as_bytes().iter().copied())
        .collect()
}

fn ct_root(root: &RootHash, n: u64) -> CtRootHash<Sha256> {
    CtRootHash::new((*root.as_bytes()).into(), n)
}

/// Our verdict and the oracle's on the same inclusion claim.
fn both_verify_inclusion(
    proof: &[Hash],
    i: u64,
    n: u64,
    leaf: u64,
    root: &RootHash,
) -> (bool, bool) {
    let ours = InclusionProof::new(index(i), size(n), proof.to_vec())
        .verify(&leaf_hash(&record(leaf)), root)
        .is_ok();
    let theirs = ct_root(root, n)
        .verify_inclusion(
            &record(leaf),
            i,
            &CtInclusionProof::from_bytes(concat(proof)),
        )
        .is_ok();
    (ours, theirs)
}

struct Trees {
    ours: MemoryTree,
    oracle: MemoryBackedTree<Sha256, Vec<u8>>,
}

static TREE: LazyLock<Trees> = LazyLock::new(|| {
    let mut ours = MemoryTree::new();
    let mut oracle = MemoryBackedTree::new();
    for i in 0..INCLUSION_SIZES {
        ours.push_record(&record(i)).unwrap();
        oracle.push(record(i));
    }
    Trees { ours, oracle }
});

#[test]
fn every_inclusion_proof_of_trees_up_to_300_leaves_verifies_and_matches_ct_merkle() {
    let mut ours = MemoryTree::new();
    let mut oracle: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
    for n in 1..=INCLUSION_SIZES {
        ours.push_record(&record(n - 1)).unwrap();
        oracle.push(record(n - 1));
        let root = ours.root();
        assert_eq!(
            root.as_bytes().as_slice(),
            oracle.root().as_bytes().as_slice(),
            "root {n}"
        );
        for i in 0..n {
            let proof = prove_inclusion(&ours, index(i), size(n)).unwrap();
            assert_eq!(
                proof.verify(&leaf_hash(&record(i)), &root),
                Ok(()),
                "{i} in {n}"
            );
            let theirs = oracle.prove_inclusion(usize::try_from(i).unwrap());
            assert_eq!(
                concat(proof.hashes()),
                theirs.as_bytes(),
                "proof of {i} in {n}"
            );
        }
    }
}

#[test]
fn any_tampering_with_an_inclusion_claim_fails() {
    let tree = &TREE.ours;
    for n in 1..=INCLUSION_SIZES {
        let root = tree.root_at(size(n)).unwrap();
        for i in 0..n {
            let proof = prove_inclusion(tree, index(i), size(n)).unwrap();
            let leaf = leaf_hash(&record(i));
            let hashes = proof.hashes();
            for k in 0..hashes.len() {
                let mut tampered = hashes.to_vec();
                tampered[k] = flip(&tampered[k], k * 37 + usize::try_from(i).unwrap());
                let bad = InclusionProof::new(index(i), size(n), tampered);
                assert_eq!(bad.verify(&leaf, &root), Err(InclusionError::RootMismatch));
            }
            assert!(
                proof
                    .verify(&flip(&leaf, usize::try_from(n).unwrap()), &root)
                    .is_err()
            );
            assert!(
                proof
                    .verify(&leaf, &flip_root(&root, usize::try_from(i).unwrap()))
                    .is_err()
            );
            if !hashes.is_empty() {
                let shorter = InclusionProof::new(index(i), size(n), hashes[1..].to_vec());
                assert!(shorter.verify(&leaf, &root).is_err(), "a dropped hash");
            }
            let mut longer = hashes.to_vec();
            longer.push(*root.hash());
            let longer = InclusionProof::new(index(i), size(n), longer);
            assert!(longer.verify(&leaf, &root).is_err(), "an extra hash");
            // The leaves are distinct, so the leaf is at no other index.
            for j in [i.wrapping_sub(1), i + 1, i ^ 1, i ^ 2, n - 1 - i] {
                if j != i && j < n {
                    let moved = InclusionProof::new(index(j), size(n), hashes.to_vec());
                    assert!(
                        moved.verify(&leaf, &root).is_err(),
                        "{i} claimed at {j} in {n}"
                    );
                }
            }
            // A tree twice as large always puts the leaf one level deeper.
            let doubled = InclusionProof::new(index(i), size(2 * n), hashes.to_vec());
            assert!(doubled.verify(&leaf, &root).is_err());
        }
    }
}

#[test]
fn inclusion_verification_agrees_with_ct_merkle_for_every_claimed_size_and_index() {
    let tree = &TREE.ours;
    for n in 1..=40 {
        let root = tree.root_at(size(n)).unwrap();
        for i in 0..n {
            let proof = prove_inclusion(tree, index(i), size(n)).unwrap();
            for claimed_n in 1..=n + 8 {
                for claimed_i in 0..claimed_n.min(n + 2) {
                    let (ours, theirs) =
                        both_verify_inclusion(proof.hashes(), claimed_i, claimed_n, i, &root);
                    assert_eq!(
                        ours, theirs,
                        "proof of {i} in {n} claimed as {claimed_i} in {claimed_n}"
                    );
                    if claimed_i == i && claimed_n == n {
                        assert!(ours);
                    }
                }
            }
        }
    }
}

#[test]
fn every_consistency_proof_between_sizes_up_to_160_verifies_and_matches_ct_merkle() {
    let mut ours = MemoryTree::new();
    let mut oracle: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
    let mut roots = vec![RootHash::empty()];
    for n in 1..=CONSISTENCY_SIZES {
        ours.push_record(&record(n - 1)).unwrap();
        oracle.push(record(n - 1));
        roots.push(ours.root());
        let new_root = ours.root();
        for m in 1..=n {
            let old_root = roots[usize::try_from(m).unwrap()];
            let proof = prove_consistency(&ours, size(m), size(n)).unwrap();
            assert_eq!(proof.verify(&old_root, &new_root), Ok(()), "{m} -> {n}");
            let theirs = oracle.prove_consistency(usize::try_from(n - m).unwrap());
            assert_eq!(
                concat(proof.hashes()),
                theirs.as_bytes(),
                "proof {m} -> {n}"
            );
        }
    }
}

#[test]
fn any_tampering_with_a_consistency_claim_fails() {
    let tree = &TREE.ours;
    let roots: Vec<RootHash> = (0..=CONSISTENCY_SIZES)
        .map(|n| tree.root_at(size(n)).unwrap())
        .collect();
    let root = |n: u64| roots[usize::try_from(n).unwrap()];
    for n in 1..=CONSISTENCY_SIZES {
        for m in 1..=n {
            let proof = prove_consistency(tree, size(m), size(n)).unwrap();
            let hashes = proof.hashes();
            for k in 0..hashes.len() {
                let mut tampered = hashes.to_vec();
                tampered[k] = flip(&tampered[k], k * 53 + usize::try_from(m).unwrap());
                let bad = ConsistencyProof::new(size(m), size(n), tampered);
                assert!(
                    bad.verify(&root(m), &root(n)).is_err(),
                    "element {k} of {m} -> {n}"
                );
            }
            let bit = usize::try_from(m + n).unwrap();
            assert!(proof.verify(&flip_root(&root(m), bit), &root(n)).is_err());
            assert!(proof.verify(&root(m), &flip_root(&root(n), bit)).is_err());
            if m != n {
                assert!(proof.verify(&root(n), &root(m)).is_err(), "swapped roots");
                let truncated = ConsistencyProof::new(size(m), size(n), hashes[1..].to_vec());
                assert!(truncated.verify(&root(m), &root(n)).is_err());
            }
            let mut longer = hashes.to_vec();
            longer.push(*root(n).hash());
            let longer = ConsistencyProof::new(size(m), size(n), longer);
            assert!(longer.verify(&root(m), &root(n)).is_err(), "an extra hash");
            // Claims about other sizes: whatever we decide, the oracle decides the same.
            for (claimed_m, claimed_n) in
                [(m - 1, n), (m + 1, n), (m, n + 1), (m, n - 1), (m, 2 * n)]
            {
                if claimed_m == 0 || claimed_m > claimed_n || claimed_n == 0 {
                    continue;
                }
                let claim =
                    ConsistencyProof::new(size(claimed_m), size(claimed_n), hashes.to_vec());
                let ours = claim.verify(&root(m), &root(n)).is_ok();
                let theirs = ct_root(&root(n), claimed_n)
                    .verify_consistency(
                        &ct_root(&root(m), claimed_m),
                        &CtConsistencyProof::try_from_bytes(concat(hashes)).unwrap(),
                    )
                    .is_ok();
                assert_eq!(
                    ours, theirs,
                    "{m} -> {n} claimed as {claimed_m} -> {claimed_n}"
                );
            }
        }
    }
}

#[test]
fn consistency_from_the_empty_tree_needs_the_empty_root_and_no_hashes() {
    let tree = &TREE.ours;
    let root5 = tree.root_at(size(5)).unwrap();
    let proof = prove_consistency(tree, TreeSize::ZERO, size(5)).unwrap();
    assert!(proof.hashes().is_empty());
    assert_eq!(proof.verify(&RootHash::empty(), &root5), Ok(()));
    assert!(proof.verify(&root5, &root5).is_err());
    let padded = ConsistencyProof::new(TreeSize::ZERO, size(5), vec![*root5.hash()]);
    assert!(padded.verify(&RootHash::empty(), &root5).is_err());
}

#[test]
fn proofs_for_impossible_positions_are_refused() {
    let tree = &TREE.ours;
    assert!(prove_inclusion(tree, index(5), size(5)).is_err());
    assert!(prove_consistency(tree, size(6), size(5)).is_err());
    let empty = InclusionProof::new(index(0), TreeSize::ZERO, Vec::new());
    assert!(empty.verify(&leaf_hash(b""), &RootHash::empty()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_flipped_bit_anywhere_in_an_inclusion_proof_fails(
        n in 2u64..=INCLUSION_SIZES,
        i_seed in any::<u64>(),
        element_seed in any::<usize>(),
        bit in 0usize..256,
    ) {
        let i = i_seed % n;
        let tree = &TREE.ours;
        let root = tree.root_at(size(n)).unwrap();
        let proof = prove_inclusion(tree, index(i), size(n)).unwrap();
        let mut hashes = proof.hashes().to_vec();
        let k = element_seed % hashes.len();
        hashes[k] = flip(&hashes[k], bit);
        let (ours, theirs) = both_verify_inclusion(&hashes, i, n, i, &root);
        prop_assert!(!ours);
        prop_assert!(!theirs);
    }

    #[test]
    fn a_flipped_bit_anywhere_in_a_consistency_proof_fails(
        n in 2u64..=INCLUSION_SIZES,
        m_seed in any::<u64>(),
        element_seed in any::<usize>(),
        bit in 0usize..256,
    ) {
        let m = 1 + m_seed % (n - 1);
        let tree = &TREE.ours;
        let proof = prove_consistency(tree, size(m), size(n)).unwrap();
        let mut hashes = proof.hashes().to_vec();
        let k = element_seed % hashes.len();
        hashes[k] = flip(&hashes[k], bit);
        let tampered = ConsistencyProof::new(size(m), size(n), hashes);
        let old_root = tree.root_at(size(m)).unwrap();
        let new_root = tree.root_at(size(n)).unwrap();
        prop_assert!(tampered.verify(&old_root, &new_root).is_err());
    }

    #[test]
    fn proofs_in_json_round_trip(n in 1u64..=INCLUSION_SIZES, i_seed in any::<u64>()) {
        let i = i_seed % n;
        let proof = prove_inclusion(&TREE.ours, index(i), size(n)).unwrap();
        let json = serde_json::to_string(&proof).unwrap();
        prop_assert_eq!(serde_json::from_str::<InclusionProof>(&json).unwrap(), proof);
    }
}

#[test]
fn the_oracle_tree_is_the_same_tree() {
    assert_eq!(
        TREE.ours.root().as_bytes().as_slice(),
        TREE.oracle.root().as_bytes().as_slice()
    );
}
