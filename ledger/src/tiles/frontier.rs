//! [`TileFrontier`]: the right edge of a tiled tree, enough to append leaves, emit the tiles that
//! change and compute the new root.

use crate::hash::{Hash, RootHash};
use crate::size::{MAX_TREE_SIZE, TreeSize};
use crate::tree::fold_right;

use super::id::{TILE_HEIGHT, TILE_WIDTH, TileId, tiles_of_tree};
use super::tile::{Tile, perfect_root};

/// The partial tiles of a tree: one per level whose hash count is not a multiple of 256.
///
/// This is all a sequencer needs to extend the tree: appending leaf hashes fills the level 0
/// partial tile; each tile that fills up is emitted as a full tile and its root is appended to the
/// level above. The root of the tree is computed from the partial tiles alone, because every
/// complete subtree on the right edge lies in them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TileFrontier {
    size: TreeSize,
    /// `partial[L]` holds the hashes of the partial tile at level `L` (fewer than 256).
    partial: Vec<Vec<Hash>>,
}

impl TileFrontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of the tree of `size` leaves, from exactly that tree's partial tiles (as
    /// listed by [`tiles_of_tree`], in any order).
    pub fn from_partial_tiles(size: TreeSize, tiles: Vec<Tile>) -> Result<Self, FrontierError> {
        let expected: Vec<TileId> = tiles_of_tree(size).filter(|id| !id.is_full()).collect();
        let mut tiles = tiles;
        tiles.sort_by_key(Tile::id);
        let given: Vec<TileId> = tiles.iter().map(Tile::id).collect();
        if given != expected {
            return Err(FrontierError::WrongPartialTiles {
                size,
                expected,
                given,
            });
        }
        let mut partial = Vec::new();
        for tile in tiles {
            let level = usize::from(tile.id().level());
            partial.resize_with(partial.len().max(level + 1), Vec::new);
            partial[level] = tile.hashes().to_vec();
        }
        Ok(Self { size, partial })
    }

    /// The number of leaves.
    pub fn size(&self) -> TreeSize {
        self.size
    }

    /// The current partial tiles, level 0 first.
    pub fn partial_tiles(&self) -> Vec<Tile> {
        (0..self.partial.len())
            .filter_map(|level| self.partial_tile(level))
            .collect()
    }

    fn partial_tile(&self, level: usize) -> Option<Tile> {
        let hashes = self.partial.get(level).filter(|h| !h.is_empty())?;
        let level_u8 = u8::try_from(level).ok()?;
        let width = u16::try_from(hashes.len()).ok()?;
        let in_level = self.size.get() >> (u32::from(level_u8) * u32::from(TILE_HEIGHT));
        let id = TileId::new_unchecked(level_u8, in_level / u64::from(TILE_WIDTH), width);
        Tile::new(id, hashes.clone()).ok()
    }

    /// The root hash of the tree.
    pub fn root(&self) -> RootHash {
        let mut subtrees = Vec::with_capacity(64);
        for hashes in self.partial.iter().rev() {
            let mut start = 0;
            for bit in (0..TILE_HEIGHT).rev() {
                let len = 1usize << bit;
                if hashes.len() & len != 0 {
                    subtrees.push(perfect_root(&hashes[start..start + len]));
                    start += len;
                }
            }
        }
        fold_right(&subtrees).map_or_else(RootHash::empty, RootHash::from_hash)
    }

    /// Appends leaf hashes and returns the tiles that changed: every tile filled up, in the order
    /// they filled, then the new partial tile of each level that grew.
    pub fn append(&mut self, leaves: &[Hash]) -> Result<Vec<Tile>, FrontierError> {
        let room = MAX_TREE_SIZE - self.size.get();
        if leaves.len() as u64 > room {
            return Err(FrontierError::TreeFull);
        }
        let mut changed = Vec::new();
        let mut grew = vec![false; self.partial.len()];
        for leaf in leaves {
            // Checked above: the new size is at most 2^63.
            self.size = TreeSize::new(self.size.get() + 1).map_err(|_| FrontierError::TreeFull)?;
            let mut hash = *leaf;
            let mut level = 0usize;
            loop {
                if self.partial.len() == level {
                    self.partial
                        .push(Vec::with_capacity(usize::from(TILE_WIDTH)));
                }
                if grew.len() == level {
                    grew.push(false);
                }
                self.partial[level].push(hash);
                grew[level] = true;
                if self.partial[level].len() < usize::from(TILE_WIDTH) {
                    break;
                }
                let hashes = std::mem::replace(
                    &mut self.partial[level],
                    Vec::with_capacity(usize::from(TILE_WIDTH)),
                );
                hash = perfect_root(&hashes);
                let level_u8 = u8::try_from(level).map_err(|_| FrontierError::TreeFull)?;
                let in_level = self.size.get() >> (level * usize::from(TILE_HEIGHT));
                let id = TileId::new_unchecked(
                    level_u8,
                    in_level / u64::from(TILE_WIDTH) - 1,
                    TILE_WIDTH,
                );
                changed.push(Tile::new(id, hashes).map_err(|_| FrontierError::TreeFull)?);
                level += 1;
            }
        }
        for (level, grew) in grew.into_iter().enumerate() {
            if grew {
                changed.extend(self.partial_tile(level));
            }
        }
        Ok(changed)
    }
}

/// Why a frontier cannot be built or extended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontierError {
    #[error("the tree of {size} leaves has partial tiles {expected:?}, given {given:?}")]
    WrongPartialTiles {
        size: TreeSize,
        expected: Vec<TileId>,
        given: Vec<TileId>,
    },
    #[error("the tree would exceed the maximum of 2^63 leaves")]
    TreeFull,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tiles::TileSet;
    use crate::tree::{MemoryTree, NodeId};

    fn leaves(range: std::ops::Range<u32>) -> Vec<Hash> {
        range.map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn the_frontier_root_matches_the_tree_root_at_every_size() {
        let all = leaves(0..1100);
        let tree = MemoryTree::from_leaf_hashes(all.iter().copied()).unwrap();
        let mut frontier = TileFrontier::new();
        assert_eq!(frontier.root(), RootHash::empty());
        for (i, leaf) in all.iter().enumerate() {
            frontier.append(std::slice::from_ref(leaf)).unwrap();
            let size = TreeSize::from(u32::try_from(i + 1).unwrap());
            assert_eq!(frontier.root(), tree.root_at(size).unwrap(), "size {size}");
        }
    }

    #[test]
    fn appended_tiles_hold_the_tree_s_stored_hashes() {
        let all = leaves(0..70_000);
        let tree = MemoryTree::from_leaf_hashes(all.iter().copied()).unwrap();
        let mut frontier = TileFrontier::new();
        let mut set = TileSet::new();
        for chunk in all.chunks(999) {
            for tile in frontier.append(chunk).unwrap() {
                set.insert(tile);
            }
        }
        let listed: Vec<TileId> = tiles_of_tree(TreeSize::from(70_000)).collect();
        assert_eq!(set.len(), listed.len());
        for id in listed {
            let tile = set.get(id.level(), id.index()).unwrap();
            assert_eq!(tile.id(), id);
            for (offset, hash) in tile.hashes().iter().enumerate() {
                let node = NodeId::new(id.level() * 8, id.first_hash_index() + offset as u64);
                assert_eq!(tree.node(node.unwrap()).as_ref(), Some(hash));
            }
        }
    }

    #[test]
    fn a_frontier_rebuilt_from_partial_tiles_continues_the_same_tree() {
        let mut frontier = TileFrontier::new();
        frontier.append(&leaves(0..70_000)).unwrap();
        let mut rebuilt =
            TileFrontier::from_partial_tiles(frontier.size(), frontier.partial_tiles()).unwrap();
        assert_eq!(rebuilt, frontier);
        let changed = rebuilt.append(&leaves(70_000..70_300)).unwrap();
        let paths: Vec<String> = changed.iter().map(|t| t.id().path()).collect();
        assert_eq!(paths, ["tile/0/273", "tile/0/274.p/156", "tile/1/001.p/18"]);
        let all = MemoryTree::from_leaf_hashes(leaves(0..70_300)).unwrap();
        assert_eq!(rebuilt.root(), all.root());
    }

    #[test]
    fn wrong_partial_tiles_are_refused() {
        let mut frontier = TileFrontier::new();
        frontier.append(&leaves(0..300)).unwrap();
        let mut tiles = frontier.partial_tiles();
        tiles.pop();
        assert!(matches!(
            TileFrontier::from_partial_tiles(TreeSize::from(300), tiles),
            Err(FrontierError::WrongPartialTiles { .. })
        ));
    }
}
