//! Runs: the sorted pairs of a range of entries, committed by an RFC 6962 tree over chunks of
//! [`CHUNK_PAIRS`] pairs, and proofs that given chunks are consecutive leaves of that tree.

use crate::hash::{Hash, RootHash, leaf_hash, node_hash};

use super::keys::{IndexKey, KEY_HASH_LEN, KeyKind};

/// The bytes of one pair: the kind, the key hash, the leaf index (big-endian `u64`).
pub const PAIR_LEN: usize = 1 + KEY_HASH_LEN + 8;

/// The pairs of one leaf of a run's tree (the last chunk of a run may hold fewer).
pub const CHUNK_PAIRS: usize = 8;

/// Leaf indices are below this (`2^63`, as in [`crate::LeafIndex`]).
const LEAF_LIMIT: u64 = 1 << 63;

/// One entry of the index: a key and the leaf index of an entry whose event has it. The derived
/// order (key, then leaf) is the order of a run; it is the order of the pairs' bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pair {
    pub key: IndexKey,
    pub leaf: u64,
}

/// Why bytes are not a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    #[error("key kind {0} is not known to this version of tagtrail (it knows kinds 1 to 5)")]
    UnknownKind(u8),
    #[error("leaf index {0} is beyond any tree (leaf indices are below 2^63)")]
    BadLeaf(u64),
}

impl Pair {
    /// A pair of a key and a leaf index.
    pub const fn new(key: IndexKey, leaf: u64) -> Self {
        Self { key, leaf }
    }

    /// The pair's [`PAIR_LEN`] bytes.
    pub fn to_bytes(&self) -> [u8; PAIR_LEN] {
        let mut bytes = [0; PAIR_LEN];
        bytes[0] = self.key.kind().code();
        bytes[1..=KEY_HASH_LEN].copy_from_slice(self.key.hash());
        bytes[1 + KEY_HASH_LEN..].copy_from_slice(&self.leaf.to_be_bytes());
        bytes
    }

    /// Reads a pair's bytes.
    pub fn from_bytes(bytes: &[u8; PAIR_LEN]) -> Result<Self, PairError> {
        let kind = KeyKind::from_code(bytes[0]).ok_or(PairError::UnknownKind(bytes[0]))?;
        let mut hash = [0; KEY_HASH_LEN];
        hash.copy_from_slice(&bytes[1..=KEY_HASH_LEN]);
        let mut leaf = [0; 8];
        leaf.copy_from_slice(&bytes[1 + KEY_HASH_LEN..]);
        let leaf = u64::from_be_bytes(leaf);
        if leaf >= LEAF_LIMIT {
            return Err(PairError::BadLeaf(leaf));
        }
        Ok(Self::new(IndexKey::from_parts(kind, hash), leaf))
    }
}

/// How many chunks (leaves of the run's tree) a run of `pairs` pairs has.
pub const fn chunk_count(pairs: u64) -> u64 {
    pairs.div_ceil(CHUNK_PAIRS as u64)
}

/// How many pairs chunk `chunk` of a run of `pairs` pairs holds.
pub fn chunk_len(pairs: u64, chunk: u64) -> usize {
    let start = chunk * CHUNK_PAIRS as u64;
    // At most CHUNK_PAIRS, so the conversion cannot truncate.
    pairs.saturating_sub(start).min(CHUNK_PAIRS as u64) as usize
}

/// The leaf hash of a chunk: `SHA-256(0x00 || its pairs' bytes)`.
pub fn chunk_hash(pairs: &[Pair]) -> Hash {
    let mut bytes = Vec::with_capacity(pairs.len() * PAIR_LEN);
    for pair in pairs {
        bytes.extend_from_slice(&pair.to_bytes());
    }
    leaf_hash(&bytes)
}

/// Builds the root of an RFC 6962 tree from its leaf hashes, given left to right, keeping only
/// the roots of the complete subtrees so far (at most 64).
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    /// (level, hash) of each complete subtree, largest first.
    stack: Vec<(u32, Hash)>,
    leaves: u64,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0, leaf);
        while let Some(&(level, left)) = self.stack.last()
            && level == node.0
        {
            self.stack.pop();
            node = (level + 1, node_hash(&left, &node.1));
        }
        self.stack.push(node);
        self.leaves += 1;
    }

    /// The leaves appended.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// The root of the leaves so far (`SHA-256("")` for none).
    pub fn root(&self) -> RootHash {
        let mut nodes = self.stack.iter().rev();
        let Some(&(_, mut root)) = nodes.next() else {
            return RootHash::empty();
        };
        for (_, left) in nodes {
            root = node_hash(left, &root);
        }
        RootHash::from_hash(root)
    }
}

/// The root of a run: the RFC 6962 tree over its chunks, given its pairs in order.
pub fn run_root(pairs: &[Pair]) -> RootHash {
    let mut frontier = Frontier::new();
    for chunk in pairs.chunks(CHUNK_PAIRS) {
        frontier.push(chunk_hash(chunk));
    }
    frontier.root()
}

/// The largest power of two below `n` (`n` at least 2): RFC 6962's split.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The subtrees whose hashes prove leaves `lo..hi` of a tree of `size` leaves: in the order a
/// verifier uses them, each as `(start, end)`. Each is the largest subtree of RFC 6962's
/// recursion that holds none of the leaves; at most two per level.
pub fn range_proof_spans(size: u64, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let mut spans = Vec::new();
    if lo < hi && hi <= size {
        collect_spans(0, size, lo, hi, &mut spans);
    }
    spans
}

fn collect_spans(start: u64, end: u64, lo: u64, hi: u64, spans: &mut Vec<(u64, u64)>) {
    if end <= lo || start >= hi {
        spans.push((start, end));
    } else if end - start > 1 {
        let middle = start + split(end - start);
        collect_spans(start, middle, lo, hi, spans);
        collect_spans(middle, end, lo, hi, spans);
    }
}

/// The hash of leaves `start..end` of a tree (the RFC 6962 hash of that subtree), from its
/// complete subtrees: `node(level, index)` gives the hash of the `2^level` leaves from
/// `index * 2^level`.
pub fn span_hash<E>(
    start: u64,
    end: u64,
    node: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return node(n.trailing_zeros(), start >> n.trailing_zeros());
    }
    let middle = start + split(n);
    let left = span_hash(start, middle, node)?;
    let right = span_hash(middle, end, node)?;
    Ok(node_hash(&left, &right))
}

/// Why leaves and a range proof do not give a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeProofError {
    #[error("the range {lo}..{hi} is not a non-empty range of a tree of {size} leaves")]
    BadRange { lo: u64, hi: u64, size: u64 },
    #[error("{given} leaf hashes were given for a range of {wanted}")]
    LeafCount { given: usize, wanted: u64 },
    #[error("the proof has {given} hashes; the range needs {wanted}")]
    HashCount { given: usize, wanted: usize },
}

/// The root of a tree of `size` leaves from the hashes of its leaves `lo..hi` and the hashes of
/// [`range_proof_spans`], in that order.
pub fn root_from_range(
    size: u64,
    lo: u64,
    hi: u64,
    leaves: &[Hash],
    proof: &[Hash],
) -> Result<RootHash, RangeProofError> {
    if lo >= hi || hi > size {
        return Err(RangeProofError::BadRange { lo, hi, size });
    }
    if leaves.len() as u64 != hi - lo {
        return Err(RangeProofError::LeafCount {
            given: leaves.len(),
            wanted: hi - lo,
        });
    }
    let wanted = range_proof_spans(size, lo, hi).len();
    if proof.len() != wanted {
        return Err(RangeProofError::HashCount {
            given: proof.len(),
            wanted,
        });
    }
    let mut proof = proof.iter();
    let root = fold_range(0, size, lo, hi, leaves, &mut proof);
    Ok(RootHash::from_hash(root))
}

fn fold_range<'a>(
    start: u64,
    end: u64,
    lo: u64,
    hi: u64,
    leaves: &[Hash],
    proof: &mut impl Iterator<Item = &'a Hash>,
) -> Hash {
    if end <= lo || start >= hi {
        // The count was checked against the same recursion.
        return proof.next().copied().unwrap_or(Hash::from_bytes([0; 32]));
    }
    if end - start == 1 {
        // `start` is in lo..hi here, and leaves holds exactly hi - lo hashes.
        return leaves[(start - lo) as usize];
    }
    let middle = start + split(end - start);
    let left = fold_range(start, middle, lo, hi, leaves, proof);
    let right = fold_range(middle, end, lo, hi, leaves, proof);
    node_hash(&left, &right)
}

/// Builds a run's tree from its pairs, given in order, one chunk at a time: its root, and the
/// complete nodes from level `keep_from` up, which a store keeps so that proofs need not read the
/// whole run (level 0 is a chunk's hash; a node of level `l` covers chunks `i·2^l..(i+1)·2^l`).
#[derive(Debug, Clone)]
pub struct RunTreeBuilder {
    keep_from: u32,
    frontier: Frontier,
    /// The stack of complete subtrees as (level, first chunk, hash), largest first.
    stack: Vec<(u32, u64, Hash)>,
    chunk: Vec<Pair>,
    pairs: u64,
    last: Option<Pair>,
    kept: Vec<(u32, u64, Hash)>,
}

/// Pairs given to a [`RunTreeBuilder`] out of order, or twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "pair {pair:?} is not above the pair before it, {before:?}: a run is sorted, without duplicates"
)]
pub struct Unsorted {
    pub before: Pair,
    pub pair: Pair,
}

impl RunTreeBuilder {
    /// A builder keeping the complete nodes of level `keep_from` and above.
    pub fn new(keep_from: u32) -> Self {
        Self {
            keep_from,
            frontier: Frontier::new(),
            stack: Vec::new(),
            chunk: Vec::with_capacity(CHUNK_PAIRS),
            pairs: 0,
            last: None,
            kept: Vec::new(),
        }
    }

    /// Appends the run's next pair.
    pub fn push(&mut self, pair: Pair) -> Result<(), Unsorted> {
        if let Some(before) = self.last
            && before >= pair
        {
            return Err(Unsorted { before, pair });
        }
        self.last = Some(pair);
        self.chunk.push(pair);
        self.pairs += 1;
        if self.chunk.len() == CHUNK_PAIRS {
            self.close_chunk();
        }
        Ok(())
    }

    fn close_chunk(&mut self) {
        let hash = chunk_hash(&self.chunk);
        self.chunk.clear();
        self.frontier.push(hash);
        let mut node = (0, self.frontier.leaves() - 1, hash);
        self.keep(node);
        while let Some(&(level, first, left)) = self.stack.last()
            && level == node.0
        {
            self.stack.pop();
            node = (level + 1, first, node_hash(&left, &node.2));
            self.keep(node);
        }
        self.stack.push(node);
    }

    fn keep(&mut self, (level, first, hash): (u32, u64, Hash)) {
        if level >= self.keep_from {
            self.kept.push((level, first >> level, hash));
        }
    }

    /// The pairs given so far.
    pub fn pairs(&self) -> u64 {
        self.pairs
    }

    /// The nodes kept since the last call, as (level, index, hash).
    pub fn take_kept(&mut self) -> Vec<(u32, u64, Hash)> {
        std::mem::take(&mut self.kept)
    }

    /// Closes the last chunk; gives the run's pair count, its root, and the nodes kept since the
    /// last [`take_kept`](Self::take_kept).
    pub fn finish(mut self) -> (u64, RootHash, Vec<(u32, u64, Hash)>) {
        if !self.chunk.is_empty() {
            self.close_chunk();
        }
        (self.pairs, self.frontier.root(), self.kept)
    }
}
