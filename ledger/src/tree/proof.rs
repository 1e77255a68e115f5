//! Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4), computed from stored node hashes
//! and verified with the RFC's algorithms.
//!
//! Computing a proof is two pure steps around one read: a [`ProofPlan`] lists every complete
//! subtree the proof needs, the caller fetches those hashes in one batch (from memory, tiles or a
//! database), and [`ProofPlan::assemble`] folds them into the proof's hashes. [`prove_inclusion`],
//! [`prove_consistency`] and [`root_hash`] do all three with a synchronous [`HashReader`].

use serde::{Deserialize, Serialize};

use crate::hash::{Hash, RootHash, node_hash};
use crate::size::{LeafIndex, TreeSize};

use super::node::{NodeId, fold_right, push_range, split_point};
use super::reader::HashReader;

/// The complete subtrees a proof (or a root) is made of, in the order they must be read.
///
/// Each element of the finished proof is the RFC 6962 hash of a range of leaves; a range whose size
/// is a power of two is one stored node, any other range (on the right edge of the tree) is the
/// right fold of a few stored nodes. The plan keeps the flat list of nodes to fetch and where each
/// element's nodes end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofPlan {
    nodes: Vec<NodeId>,
    ends: Vec<usize>,
}

impl ProofPlan {
    /// The plan of the inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162
    /// §2.1.3.1, `PATH(m, D[n])`), elements ordered from the leaf up.
    pub fn inclusion(index: LeafIndex, size: TreeSize) -> Result<Self, ProofPlanError> {
        if !size.contains(index) {
            return Err(ProofPlanError::IndexOutOfRange { index, size });
        }
        let mut ranges = Vec::with_capacity(64);
        inclusion_ranges(index.get(), size.get(), |range| ranges.push(range));
        ranges.reverse();
        Ok(Self::from_ranges(&ranges))
    }

    /// The plan of the consistency proof from the tree of `old` leaves to the tree of `new` leaves
    /// (RFC 9162 §2.1.4.1, `PROOF(m, D[n])`). Empty when `old` is 0 or equals `new`.
    pub fn consistency(old: TreeSize, new: TreeSize) -> Result<Self, ProofPlanError> {
        if old > new {
            return Err(ProofPlanError::OldTreeLarger { old, new });
        }
        let mut ranges = Vec::with_capacity(64);
        consistency_ranges(old.get(), new.get(), |range| ranges.push(range));
        ranges.reverse();
        Ok(Self::from_ranges(&ranges))
    }

    /// The plan of the root hash of a tree of `size` leaves: one element, or none for the empty
    /// tree (whose root is [`RootHash::empty`]).
    pub fn root(size: TreeSize) -> Self {
        if size == TreeSize::ZERO {
            return Self::from_ranges(&[]);
        }
        Self::from_ranges(&[(0, size.get())])
    }

    fn from_ranges(ranges: &[(u64, u64)]) -> Self {
        let mut nodes = Vec::with_capacity(ranges.len() * 2);
        let mut ends = Vec::with_capacity(ranges.len());
        for &(start, end) in ranges {
            push_range(start, end, &mut nodes);
            ends.push(nodes.len());
        }
        Self { nodes, ends }
    }

    /// Every node whose hash the proof needs, in the order [`assemble`](Self::assemble) expects them.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The number of hashes in the finished proof.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the finished proof has no hashes.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Folds the hashes of [`nodes`](Self::nodes) (same order) into the proof's hashes.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, WrongHashCount> {
        if hashes.len() != self.nodes.len() {
            return Err(WrongHashCount {
                expected: self.nodes.len(),
                found: hashes.len(),
            });
        }
        let mut out = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            // Every element covers at least one node, so the fold of a non-empty slice is `Some`.
            if let Some(hash) = fold_right(&hashes[start..end]) {
                out.push(hash);
            }
            start = end;
        }
        Ok(out)
    }
}

/// Calls `visit` with the ranges of the inclusion path of leaf `m` in a tree of `n` leaves, from the
/// root down (the reverse of the proof's order). Requires `m < n`.
fn inclusion_ranges(m: u64, n: u64, mut visit: impl FnMut((u64, u64))) {
    let (mut start, mut end) = (0, n);
    while end - start > 1 {
        let k = split_point(end - start);
        if m < start + k {
            visit((start + k, end));
            end = start + k;
        } else {
            visit((start, start + k));
            start += k;
        }
    }
}

/// Calls `visit` with the ranges of the consistency proof from `m` to `n` leaves, from the root down
/// (the reverse of the proof's order). Requires `m <= n`.
fn consistency_ranges(m: u64, n: u64, mut visit: impl FnMut((u64, u64))) {
    if m == 0 || m == n {
        return;
    }
    // SUBPROOF(m, D[start:end], whole), with `m` relative to `start`.
    let (mut start, mut end, mut old, mut whole) = (0, n, m, true);
    loop {
        if old == end - start {
            if !whole {
                visit((start, end));
            }
            return;
        }
        let k = split_point(end - start);
        if old <= k {
            visit((start + k, end));
            end = start + k;
        } else {
            visit((start, start + k));
            start += k;
            old -= k;
            whole = false;
        }
    }
}

fn inclusion_path_len(m: u64, n: u64) -> usize {
    let mut count = 0;
    inclusion_ranges(m, n, |_| count += 1);
    count
}

fn consistency_path_len(m: u64, n: u64) -> usize {
    let mut count = 0;
    consistency_ranges(m, n, |_| count += 1);
    count
}

/// A plan cannot be made for these positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofPlanError {
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: LeafIndex, size: TreeSize },
    #[error("the old tree ({old} leaves) is larger than the new tree ({new} leaves)")]
    OldTreeLarger { old: TreeSize, new: TreeSize },
}

/// A reader returned a different number of hashes than the plan asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the plan needs {expected} node hashes, {found} were read")]
pub struct WrongHashCount {
    pub expected: usize,
    pub found: usize,
}

/// Why a proof or root could not be computed from a [`HashReader`].
#[derive(Debug, thiserror::Error)]
pub enum ProveError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Plan(#[from] ProofPlanError),
    #[error("failed to read node hashes")]
    Read(#[source] E),
    #[error(transparent)]
    WrongHashCount(#[from] WrongHashCount),
}

fn read_plan<R: HashReader>(
    reader: &R,
    plan: &ProofPlan,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    if plan.nodes().is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(plan.nodes()).map_err(ProveError::Read)?;
    Ok(plan.assemble(&hashes)?)
}

/// Computes the inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn prove_inclusion<R: HashReader>(
    reader: &R,
    index: LeafIndex,
    size: TreeSize,
) -> Result<InclusionProof, ProveError<R::Error>> {
    let plan = ProofPlan::inclusion(index, size)?;
    let path = read_plan(reader, &plan)?;
    Ok(InclusionProof::new(index, size, path))
}

/// Computes the consistency proof from the tree of `old` leaves to the tree of `new` leaves.
pub fn prove_consistency<R: HashReader>(
    reader: &R,
    old: TreeSize,
    new: TreeSize,
) -> Result<ConsistencyProof, ProveError<R::Error>> {
    let plan = ProofPlan::consistency(old, new)?;
    let path = read_plan(reader, &plan)?;
    Ok(ConsistencyProof::new(old, new, path))
}

/// Computes the root hash of the tree of `size` leaves.
pub fn root_hash<R: HashReader>(
    reader: &R,
    size: TreeSize,
) -> Result<RootHash, ProveError<R::Error>> {
    let plan = ProofPlan::root(size);
    Ok(read_plan(reader, &plan)?
        .first()
        .map_or_else(RootHash::empty, |hash| RootHash::from_hash(*hash)))
}

/// The proof that a leaf is at `leaf_index` in the tree of `tree_size` leaves: the hashes of the
/// siblings on its path to the root, from the leaf up (RFC 9162 §2.1.3).
///
/// In JSON: `{"leafIndex": 5, "treeSize": 8, "hashes": ["<base64>", ...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InclusionProof {
    leaf_index: LeafIndex,
    tree_size: TreeSize,
    hashes: Vec<Hash>,
}

impl InclusionProof {
    /// Assembles a proof from its parts; nothing is checked until [`verify`](Self::verify).
    pub fn new(leaf_index: LeafIndex, tree_size: TreeSize, hashes: Vec<Hash>) -> Self {
        Self {
            leaf_index,
            tree_size,
            hashes,
        }
    }

    /// The position of the leaf.
    pub fn leaf_index(&self) -> LeafIndex {
        self.leaf_index
    }

    /// The size of the tree the proof is for.
    pub fn tree_size(&self) -> TreeSize {
        self.tree_size
    }

    /// The sibling hashes, from the leaf up.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The root this proof leads to from `leaf` (RFC 9162 §2.1.3.2, steps 1 to 5 without the final
    /// comparison).
    pub fn root_from_leaf(&self, leaf: &Hash) -> Result<RootHash, InclusionError> {
        let (index, size) = (self.leaf_index.get(), self.tree_size.get());
        if index >= size {
            return Err(InclusionError::IndexOutOfRange {
                index: self.leaf_index,
                size: self.tree_size,
            });
        }
        let expected = inclusion_path_len(index, size);
        if self.hashes.len() != expected {
            return Err(InclusionError::WrongPathLength {
                expected,
                found: self.hashes.len(),
            });
        }
        let (mut f_n, mut s_n) = (index, size - 1);
        let mut r = *leaf;
        for p in &self.hashes {
            if s_n == 0 {
                return Err(InclusionError::WrongPathLength {
                    expected,
                    found: self.hashes.len(),
                });
            }
            if f_n & 1 == 1 || f_n == s_n {
                r = node_hash(p, &r);
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            } else {
                r = node_hash(&r, p);
            }
            f_n >>= 1;
            s_n >>= 1;
        }
        if s_n != 0 {
            return Err(InclusionError::WrongPathLength {
                expected,
                found: self.hashes.len(),
            });
        }
        Ok(RootHash::from_hash(r))
    }

    /// Checks that `leaf` (a leaf hash) is at this proof's index in the tree whose root is `root`.
    pub fn verify(&self, leaf: &Hash, root: &RootHash) -> Result<(), InclusionError> {
        if self.root_from_leaf(leaf)? != *root {
            return Err(InclusionError::RootMismatch);
        }
        Ok(())
    }
}

/// Why an inclusion proof does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InclusionError {
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: LeafIndex, size: TreeSize },
    #[error("an inclusion proof for this index and tree size has {expected} hashes, found {found}")]
    WrongPathLength { expected: usize, found: usize },
    #[error("the proof leads to a different root: the leaf is not in this tree at this index")]
    RootMismatch,
}

/// The proof that the tree of `old_size` leaves is a prefix of the tree of `new_size` leaves
/// (RFC 9162 §2.1.4).
///
/// In JSON: `{"oldSize": 6, "newSize": 8, "hashes": ["<base64>", ...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsistencyProof {
    old_size: TreeSize,
    new_size: TreeSize,
    hashes: Vec<Hash>,
}

impl ConsistencyProof {
    /// Assembles a proof from its parts; nothing is checked until [`verify`](Self::verify).
    pub fn new(old_size: TreeSize, new_size: TreeSize, hashes: Vec<Hash>) -> Self {
        Self {
            old_size,
            new_size,
            hashes,
        }
    }

    /// The size of the earlier tree.
    pub fn old_size(&self) -> TreeSize {
        self.old_size
    }

    /// The size of the later tree.
    pub fn new_size(&self) -> TreeSize {
        self.new_size
    }

    /// The proof's hashes.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
    /// `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
    ///
    /// Trivial cases are strict: from the empty tree the proof must be empty and `old_root` must be
    /// the empty tree's root; between equal sizes the proof must be empty and the roots equal.
    pub fn verify(&self, old_root: &RootHash, new_root: &RootHash) -> Result<(), ConsistencyError> {
        let (m, n) = (self.old_size.get(), self.new_size.get());
        if m > n {
            return Err(ConsistencyError::OldTreeLarger {
                old: self.old_size,
                new: self.new_size,
            });
        }
        let expected = consistency_path_len(m, n);
        if self.hashes.len() != expected {
            return Err(ConsistencyError::WrongPathLength {
                expected,
                found: self.hashes.len(),
            });
        }
        if m == 0 {
            if *old_root != RootHash::empty() {
                return Err(ConsistencyError::OldRootMismatch);
            }
            return Ok(());
        }
        if m == n {
            if old_root != new_root {
                return Err(ConsistencyError::NewRootMismatch);
            }
            return Ok(());
        }

        // Step 2: a power-of-two old tree is a node of the new one; its root starts the path.
        let seed = m.is_power_of_two().then_some(old_root.hash());
        let mut path = seed.into_iter().chain(&self.hashes);
        let Some(first) = path.next() else {
            return Err(ConsistencyError::WrongPathLength { expected, found: 0 });
        };
        let (mut f_n, mut s_n) = (m - 1, n - 1);
        while f_n & 1 == 1 {
            f_n >>= 1;
            s_n >>= 1;
        }
        let (mut f_r, mut s_r) = (*first, *first);
        for c in path {
            if s_n == 0 {
                return Err(ConsistencyError::WrongPathLength {
                    expected,
                    found: self.hashes.len(),
                });
            }
            if f_n & 1 == 1 || f_n == s_n {
                f_r = node_hash(c, &f_r);
                s_r = node_hash(c, &s_r);
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            } else {
                s_r = node_hash(&s_r, c);
            }
            f_n >>= 1;
            s_n >>= 1;
        }
        if s_n != 0 {
            return Err(ConsistencyError::WrongPathLength {
                expected,
                found: self.hashes.len(),
            });
        }
        if f_r != *old_root.hash() {
            return Err(ConsistencyError::OldRootMismatch);
        }
        if s_r != *new_root.hash() {
            return Err(ConsistencyError::NewRootMismatch);
        }
        Ok(())
    }
}

/// Why a consistency proof does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    #[error("the old tree ({old} leaves) is larger than the new tree ({new} leaves)")]
    OldTreeLarger { old: TreeSize, new: TreeSize },
    #[error("a consistency proof between these tree sizes has {expected} hashes, found {found}")]
    WrongPathLength { expected: usize, found: usize },
    #[error("the proof does not lead to the old root: the old tree is not a prefix of the new one")]
    OldRootMismatch,
    #[error("the proof does not lead to the new root: the old tree is not a prefix of the new one")]
    NewRootMismatch,
}
