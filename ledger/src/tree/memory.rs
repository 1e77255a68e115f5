//! [`MemoryTree`]: a whole tree held in memory, every complete subtree's hash stored.

use crate::hash::{Hash, RootHash, leaf_hash, node_hash};
use crate::size::{MAX_TREE_SIZE, TreeSize};

use super::node::NodeId;
use super::proof::root_hash;
use super::reader::HashReader;

/// A tree kept in memory with the hash of every complete subtree, for device batches, tests and
/// tools. Appending a leaf costs one leaf hash and on average one node hash.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// `levels[h][i]` is the hash of node (h, i); only complete subtrees are stored.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of the given leaf hashes, in order.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> Result<Self, TreeFull> {
        let mut tree = Self::new();
        for leaf in leaves {
            tree.push_leaf_hash(leaf)?;
        }
        Ok(tree)
    }

    /// The number of leaves.
    pub fn size(&self) -> TreeSize {
        let leaves = self.levels.first().map_or(0, Vec::len);
        // A tree only grows through `push_leaf_hash`, which stops at the maximum size.
        TreeSize::new(leaves as u64).unwrap_or(TreeSize::ZERO)
    }

    /// Appends a record as a new leaf (hashed as `SHA-256(0x00 || record)`).
    pub fn push_record(&mut self, record: &[u8]) -> Result<(), TreeFull> {
        self.push_leaf_hash(leaf_hash(record))
    }

    /// Appends a leaf given its leaf hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> Result<(), TreeFull> {
        if self.size().get() >= MAX_TREE_SIZE {
            return Err(TreeFull);
        }
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            let len = row.len();
            if len % 2 == 1 {
                return Ok(());
            }
            hash = node_hash(&row[len - 2], &row[len - 1]);
            level += 1;
        }
    }

    /// The hash of a complete subtree, if the tree has grown past it.
    pub fn node(&self, node: NodeId) -> Option<Hash> {
        let row = self.levels.get(usize::from(node.level()))?;
        row.get(usize::try_from(node.index()).ok()?).copied()
    }

    /// The root hash of the whole tree.
    pub fn root(&self) -> RootHash {
        self.root_at(self.size())
            .unwrap_or_else(|_| RootHash::empty())
    }

    /// The root hash of the tree as it was when it had `size` leaves.
    pub fn root_at(&self, size: TreeSize) -> Result<RootHash, BeyondTree> {
        let beyond = BeyondTree {
            requested: size,
            size: self.size(),
        };
        if size > self.size() {
            return Err(beyond);
        }
        // Every node of the root of a size within the tree is stored, so the read cannot fail.
        root_hash(self, size).map_err(|_| beyond)
    }
}

impl HashReader for MemoryTree {
    type Error = MissingNode;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        nodes
            .iter()
            .map(|&node| self.node(node).ok_or(MissingNode(node)))
            .collect()
    }
}

/// The tree already has 2^63 leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tree already has the maximum of 2^63 leaves")]
pub struct TreeFull;

/// A node asked for is not (yet) a complete subtree of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a complete subtree of the tree in memory")]
pub struct MissingNode(pub NodeId);

/// A size beyond the tree's was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the tree has {size} leaves, not {requested}")]
pub struct BeyondTree {
    pub requested: TreeSize,
    pub size: TreeSize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_node_is_the_hash_of_its_children() {
        let mut tree = MemoryTree::new();
        for i in 0..37u8 {
            tree.push_record(&[i]).unwrap();
        }
        for level in 1..6u8 {
            for index in 0..(37u64 >> level) {
                let node = NodeId::new(level, index).unwrap();
                let (left, right) = node.children().unwrap();
                assert_eq!(
                    tree.node(node),
                    Some(node_hash(
                        &tree.node(left).unwrap(),
                        &tree.node(right).unwrap()
                    ))
                );
            }
        }
        assert_eq!(
            tree.node(NodeId::new(1, 18).unwrap()),
            None,
            "leaves 36..38 are incomplete"
        );
    }

    #[test]
    fn a_root_of_a_size_beyond_the_tree_is_refused() {
        let tree = MemoryTree::from_leaf_hashes([leaf_hash(b"a")]).unwrap();
        assert!(tree.root_at(TreeSize::from(2)).is_err());
        assert_eq!(tree.root_at(TreeSize::ZERO), Ok(RootHash::empty()));
        assert_eq!(tree.root(), RootHash::from_hash(leaf_hash(b"a")));
    }
}
