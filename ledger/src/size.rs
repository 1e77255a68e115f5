//! [`TreeSize`] and [`LeafIndex`]: positions in the log, kept apart by type.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest tree the log can describe: 2^63 leaves, so that every index and subtree boundary
/// fits a `u64` without overflow.
pub const MAX_TREE_SIZE: u64 = 1 << 63;

/// The number of leaves in a tree (0 for the empty tree, at most [`MAX_TREE_SIZE`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreeSize(u64);

impl TreeSize {
    /// The empty tree.
    pub const ZERO: Self = Self(0);

    /// Checks that `leaves` is at most [`MAX_TREE_SIZE`].
    pub const fn new(leaves: u64) -> Result<Self, PositionError> {
        if leaves > MAX_TREE_SIZE {
            return Err(PositionError::TreeTooLarge(leaves));
        }
        Ok(Self(leaves))
    }

    /// The number of leaves.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whether the tree has a leaf at `index`.
    pub const fn contains(self, index: LeafIndex) -> bool {
        index.0 < self.0
    }

    /// The index the next appended leaf will get, if the tree is not full.
    pub fn next_index(self) -> Option<LeafIndex> {
        (self.0 < MAX_TREE_SIZE).then_some(LeafIndex(self.0))
    }
}

impl From<u32> for TreeSize {
    fn from(leaves: u32) -> Self {
        Self(u64::from(leaves))
    }
}

impl TryFrom<u64> for TreeSize {
    type Error = PositionError;

    fn try_from(leaves: u64) -> Result<Self, Self::Error> {
        Self::new(leaves)
    }
}

impl fmt::Display for TreeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The zero-based position of a leaf in the log (less than [`MAX_TREE_SIZE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafIndex(u64);

impl LeafIndex {
    /// The last position a log can hold.
    pub(crate) const LAST: Self = Self(MAX_TREE_SIZE - 1);

    /// Checks that `index` is below [`MAX_TREE_SIZE`].
    pub const fn new(index: u64) -> Result<Self, PositionError> {
        if index >= MAX_TREE_SIZE {
            return Err(PositionError::IndexTooLarge(index));
        }
        Ok(Self(index))
    }

    /// The position.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The size of the smallest tree that contains this leaf.
    pub const fn min_tree_size(self) -> TreeSize {
        TreeSize(self.0 + 1)
    }
}

impl From<u32> for LeafIndex {
    fn from(index: u32) -> Self {
        Self(u64::from(index))
    }
}

impl TryFrom<u64> for LeafIndex {
    type Error = PositionError;

    fn try_from(index: u64) -> Result<Self, Self::Error> {
        Self::new(index)
    }
}

impl fmt::Display for LeafIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A number that is not a valid tree size or leaf index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    #[error("tree size {0} exceeds the maximum of 2^63 leaves")]
    TreeTooLarge(u64),
    #[error("leaf index {0} is not below the maximum tree size of 2^63")]
    IndexTooLarge(u64),
}

macro_rules! serde_as_u64 {
    ($type:ty) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u64(self.0)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = u64::deserialize(deserializer)?;
                Self::try_from(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_u64!(TreeSize);
serde_as_u64!(LeafIndex);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_indexes_beyond_two_to_the_63_are_refused() {
        assert_eq!(
            TreeSize::new(MAX_TREE_SIZE).map(TreeSize::get),
            Ok(MAX_TREE_SIZE)
        );
        assert_eq!(
            TreeSize::new(MAX_TREE_SIZE + 1),
            Err(PositionError::TreeTooLarge(MAX_TREE_SIZE + 1))
        );
        assert_eq!(
            LeafIndex::new(MAX_TREE_SIZE),
            Err(PositionError::IndexTooLarge(MAX_TREE_SIZE))
        );
    }

    #[test]
    fn a_tree_contains_exactly_the_indexes_below_its_size() {
        let size = TreeSize::from(3);
        assert!(size.contains(LeafIndex::from(2)));
        assert!(!size.contains(LeafIndex::from(3)));
        assert_eq!(size.next_index(), Some(LeafIndex::from(3)));
        assert_eq!(TreeSize::new(MAX_TREE_SIZE).unwrap().next_index(), None);
    }

    #[test]
    fn json_numbers_out_of_range_are_refused() {
        assert_eq!(
            serde_json::from_str::<TreeSize>("7").unwrap(),
            TreeSize::from(7)
        );
        assert!(serde_json::from_str::<LeafIndex>("9223372036854775808").is_err());
        assert!(serde_json::from_str::<TreeSize>("-1").is_err());
    }
}
