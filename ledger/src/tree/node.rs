//! [`NodeId`]: the coordinates of a complete subtree, and how any range of leaves that RFC 6962
//! hashes as one subtree splits into complete subtrees.

use std::fmt;

use crate::hash::{Hash, node_hash};
use crate::size::{LeafIndex, MAX_TREE_SIZE, TreeSize};

/// A complete (perfect) subtree of the log: the `2^level` leaves starting at leaf
/// `index * 2^level`. Level 0 nodes are leaf hashes.
///
/// These are the hashes a log stores (C2SP tlog-tiles keeps the ones at levels 0, 8, 16, ...; the
/// others are recomputed from them). A node's hash never changes once the tree has grown past it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    level: u8,
    index: u64,
}

impl NodeId {
    /// Checks that the subtree lies within the largest possible tree (2^63 leaves).
    pub fn new(level: u8, index: u64) -> Result<Self, NodeIdError> {
        let fits = u32::from(level) <= 63
            && index
                .checked_add(1)
                .and_then(|end| end.checked_mul(1u64 << level))
                .is_some_and(|end| end <= MAX_TREE_SIZE);
        if !fits {
            return Err(NodeIdError { level, index });
        }
        Ok(Self { level, index })
    }

    /// The leaf hash at `index`.
    pub const fn leaf(index: LeafIndex) -> Self {
        Self {
            level: 0,
            index: index.get(),
        }
    }

    /// Builds a node known to be in range (callers derive it from a valid tree size).
    pub(crate) const fn new_unchecked(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The height of the subtree: it has `2^level` leaves.
    pub const fn level(self) -> u8 {
        self.level
    }

    /// The position of the subtree among those of its level, left to right from 0.
    pub const fn index(self) -> u64 {
        self.index
    }

    /// The index of the subtree's first leaf.
    pub const fn first_leaf(self) -> u64 {
        self.index << self.level
    }

    /// One past the index of the subtree's last leaf.
    pub const fn end_leaf(self) -> u64 {
        (self.index + 1) << self.level
    }

    /// Whether every leaf of this subtree is in a tree of `size` leaves.
    pub const fn is_complete_in(self, size: TreeSize) -> bool {
        self.end_leaf() <= size.get()
    }

    /// The two halves of this subtree, unless it is a leaf.
    pub fn children(self) -> Option<(NodeId, NodeId)> {
        let level = self.level.checked_sub(1)?;
        Some((
            Self::new_unchecked(level, self.index * 2),
            Self::new_unchecked(level, self.index * 2 + 1),
        ))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId(level {}, index {})", self.level, self.index)
    }
}

/// A node coordinate outside the largest possible tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("node (level {level}, index {index}) lies beyond the largest tree of 2^63 leaves")]
pub struct NodeIdError {
    level: u8,
    index: u64,
}

/// The largest power of two strictly below `n` (RFC 6962's `k`), for `n >= 2`.
pub(crate) const fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Appends the complete subtrees that make up the leaf range `[start, end)`, largest first.
///
/// For every range RFC 6962 hashes as one subtree (`start` aligned to the range's rounded-up power
/// of two), the range's hash is the right fold of these subtrees' hashes: see [`fold_right`].
pub(crate) fn push_range(start: u64, end: u64, out: &mut Vec<NodeId>) {
    let mut at = start;
    while at < end {
        let align = if at == 0 { 63 } else { at.trailing_zeros() };
        let fit = 63 - (end - at).leading_zeros();
        let level = align.min(fit);
        // `level` is at most 63 and the node ends at or before `end`, itself at most 2^63.
        let level_u8 = u8::try_from(level).unwrap_or(63);
        out.push(NodeId::new_unchecked(level_u8, at >> level));
        at += 1u64 << level;
    }
}

/// The RFC 6962 hash of a range from the hashes of its complete subtrees (largest first):
/// `H(s1, H(s2, ... H(s_{k-1}, s_k)))`. `None` for no subtrees.
pub(crate) fn fold_right(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(
        rest.iter()
            .rev()
            .fold(*last, |right, left| node_hash(left, &right)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coords(nodes: &[NodeId]) -> Vec<(u8, u64)> {
        nodes.iter().map(|n| (n.level(), n.index())).collect()
    }

    #[test]
    fn a_seven_leaf_tree_is_a_four_a_two_and_a_one() {
        let mut nodes = Vec::new();
        push_range(0, 7, &mut nodes);
        assert_eq!(coords(&nodes), [(2, 0), (1, 2), (0, 6)]);
    }

    #[test]
    fn an_aligned_power_of_two_range_is_one_node() {
        let mut nodes = Vec::new();
        push_range(256, 512, &mut nodes);
        assert_eq!(coords(&nodes), [(8, 1)]);
    }

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
        assert_eq!(split_point(MAX_TREE_SIZE), 1 << 62);
    }

    #[test]
    fn nodes_beyond_two_to_the_63_leaves_are_refused() {
        assert!(NodeId::new(63, 0).is_ok());
        assert!(NodeId::new(63, 1).is_err());
        assert!(NodeId::new(64, 0).is_err());
        assert!(NodeId::new(0, u64::MAX).is_err());
    }

    #[test]
    fn children_split_the_leaves_in_half() {
        let node = NodeId::new(3, 5).unwrap();
        let (left, right) = node.children().unwrap();
        assert_eq!((left.first_leaf(), left.end_leaf()), (40, 44));
        assert_eq!((right.first_leaf(), right.end_leaf()), (44, 48));
        assert_eq!(NodeId::new(0, 9).unwrap().children(), None);
    }
}
