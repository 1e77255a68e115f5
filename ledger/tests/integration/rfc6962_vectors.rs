//! Known-answer tests from the Certificate Transparency reference test vectors: the 8-leaf tree of
//! the CT reference implementations, as published in github.com/transparency-dev/merkle
//! (`proof/verify_test.go`: `leaves`, `roots`, `inclusionProofs`, `consistencyProofs`; the same
//! vectors as the C++ `merkle_tree_test.cc` of google/certificate-transparency).

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use ledger::tree::{MemoryTree, prove_consistency, prove_inclusion};
use ledger::{Hash, LeafIndex, RootHash, TreeSize, leaf_hash};

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn hash(hex: &str) -> Hash {
    Hash::from_slice(&unhex(hex)).unwrap()
}

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `roots[i]` is the root of the tree of the first `i + 1` leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf number counted from 1, tree size, proof).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        3,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        2,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (1, 1, &[]),
];

/// (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn reference_tree() -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in LEAVES {
        tree.push_record(&unhex(leaf)).unwrap();
    }
    tree
}

fn size(n: u64) -> TreeSize {
    TreeSize::new(n).unwrap()
}

fn root(n: u64) -> RootHash {
    RootHash::from_hash(hash(ROOTS[usize::try_from(n).unwrap() - 1]))
}

#[test]
fn the_roots_of_the_reference_tree_match_at_every_size() {
    let tree = reference_tree();
    assert_eq!(tree.root_at(TreeSize::ZERO).unwrap(), RootHash::empty());
    for n in 1..=8 {
        assert_eq!(tree.root_at(size(n)).unwrap(), root(n), "size {n}");
    }
}

#[test]
fn the_reference_inclusion_proofs_are_computed_and_verify() {
    let tree = reference_tree();
    for (leaf, n, expected) in INCLUSION {
        let index = LeafIndex::new(leaf - 1).unwrap();
        // The vectors prove against prefixes of the 8-leaf tree.
        let prefix = MemoryTree::from_leaf_hashes(
            LEAVES[..usize::try_from(n).unwrap()]
                .iter()
                .map(|l| leaf_hash(&unhex(l))),
        )
        .unwrap();
        let proof = prove_inclusion(&prefix, index, size(n)).unwrap();
        let expected: Vec<Hash> = expected.iter().map(|h| hash(h)).collect();
        assert_eq!(proof.hashes(), expected.as_slice(), "leaf {leaf} of {n}");
        let leaf_hash = leaf_hash(&unhex(LEAVES[usize::try_from(leaf - 1).unwrap()]));
        assert_eq!(proof.verify(&leaf_hash, &root(n)), Ok(()));
        assert_eq!(tree.root_at(size(n)).unwrap(), root(n));
    }
}

#[test]
fn the_reference_consistency_proofs_are_computed_and_verify() {
    let tree = reference_tree();
    for (old, new, expected) in CONSISTENCY {
        let prefix = MemoryTree::from_leaf_hashes(
            LEAVES[..usize::try_from(new).unwrap()]
                .iter()
                .map(|l| leaf_hash(&unhex(l))),
        )
        .unwrap();
        let proof = prove_consistency(&prefix, size(old), size(new)).unwrap();
        let expected: Vec<Hash> = expected.iter().map(|h| hash(h)).collect();
        assert_eq!(proof.hashes(), expected.as_slice(), "{old} -> {new}");
        assert_eq!(
            proof.verify(&root(old), &root(new)),
            Ok(()),
            "{old} -> {new}"
        );
        // The same nodes are in the full tree: proving between sizes of a larger tree agrees.
        assert_eq!(
            prove_consistency(&tree, size(old), size(new)).unwrap(),
            proof
        );
    }
}
