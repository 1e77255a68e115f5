//! Tile contents, node hashes computed from tiles, and entry bundles.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::hash::{HASH_LEN, Hash, node_hash};
use crate::size::TreeSize;
use crate::tree::{HashReader, NodeId};

use super::id::{TILE_HEIGHT, TILE_WIDTH, TileId, tile_width_in};

/// A tile's contents: `width` consecutive hashes of tree level `8 * level`.
///
/// Cloning is cheap (the hashes are shared), and the hashes of the complete subtrees inside the
/// tile are computed once, when a node hash first needs them, and shared by every clone: a proof
/// needs a subtree of up to 128 hashes per tile level, which cost 127 SHA-256 each time.
#[derive(Clone, Debug)]
pub struct Tile {
    id: TileId,
    hashes: Arc<[Hash]>,
    /// Row `h - 1` holds the roots of the complete subtrees of height `h` (1 to 8) in the tile.
    subtrees: Arc<OnceLock<Vec<Vec<Hash>>>>,
}

impl PartialEq for Tile {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.hashes == other.hashes
    }
}

impl Eq for Tile {}

impl Tile {
    /// Pairs an id with its hashes; their number must equal the id's width.
    pub fn new(id: TileId, hashes: Vec<Hash>) -> Result<Self, TileError> {
        if hashes.len() != usize::from(id.width()) {
            return Err(TileError::WrongWidth {
                width: id.width(),
                found: hashes.len(),
            });
        }
        Ok(Self::from_parts(id, hashes))
    }

    fn from_parts(id: TileId, hashes: Vec<Hash>) -> Self {
        Self {
            id,
            hashes: hashes.into(),
            subtrees: Arc::new(OnceLock::new()),
        }
    }

    /// The root of the `1 << height` hashes from `first` (aligned to that count), if the tile holds
    /// them all.
    fn subtree_root(&self, first: usize, height: u8) -> Option<Hash> {
        let count = 1usize << height;
        if first.checked_add(count)? > self.hashes.len() {
            return None;
        }
        if height == 0 {
            return self.hashes.get(first).copied();
        }
        let rows = self.subtrees.get_or_init(|| {
            let mut rows: Vec<Vec<Hash>> = Vec::with_capacity(usize::from(TILE_HEIGHT));
            let mut below: &[Hash] = &self.hashes;
            for _ in 0..TILE_HEIGHT {
                let row: Vec<Hash> = below
                    .chunks_exact(2)
                    .map(|pair| node_hash(&pair[0], &pair[1]))
                    .collect();
                rows.push(row);
                below = rows.last().map_or(&[], Vec::as_slice);
            }
            rows
        });
        rows.get(usize::from(height) - 1)?
            .get(first >> height)
            .copied()
    }

    /// Reads a tile as served: the concatenated 32-byte hashes, `32 * width` bytes.
    pub fn from_bytes(id: TileId, bytes: &[u8]) -> Result<Self, TileError> {
        if bytes.len() != usize::from(id.width()) * HASH_LEN {
            return Err(TileError::WrongByteLength {
                expected: usize::from(id.width()) * HASH_LEN,
                found: bytes.len(),
            });
        }
        let hashes = bytes
            .chunks_exact(HASH_LEN)
            .map(|chunk| {
                let mut hash = [0u8; HASH_LEN];
                hash.copy_from_slice(chunk);
                Hash::from_bytes(hash)
            })
            .collect();
        Ok(Self::from_parts(id, hashes))
    }

    /// The tile as served: the concatenated hashes (`32 * width` bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.hashes.len() * HASH_LEN);
        for hash in self.hashes.iter() {
            out.extend_from_slice(hash.as_bytes());
        }
        out
    }

    /// The tile's coordinates.
    pub fn id(&self) -> TileId {
        self.id
    }

    /// The tile's hashes, left to right.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// For a full tile, the root of its 256 hashes: the hash the tile contributes to the level above.
    pub fn root(&self) -> Option<Hash> {
        self.id.is_full().then(|| perfect_root(&self.hashes))
    }
}

/// Why bytes or hashes are not a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("a tile of width {width} has {width} hashes, found {found}")]
    WrongWidth { width: u16, found: usize },
    #[error("a tile of this width is {expected} bytes, found {found}")]
    WrongByteLength { expected: usize, found: usize },
}

/// The root of a perfect subtree given its bottom row (a power-of-two number of hashes), hashed in
/// a stack buffer without allocating.
pub(crate) fn perfect_root(hashes: &[Hash]) -> Hash {
    const SCRATCH: usize = TILE_WIDTH as usize / 2;
    match hashes.len() {
        0 => Hash::from_bytes([0; HASH_LEN]),
        1 => hashes[0],
        2 => node_hash(&hashes[0], &hashes[1]),
        n if n <= 2 * SCRATCH => {
            let mut scratch = [Hash::from_bytes([0; HASH_LEN]); SCRATCH];
            let mut width = n / 2;
            for (i, slot) in scratch.iter_mut().take(width).enumerate() {
                *slot = node_hash(&hashes[2 * i], &hashes[2 * i + 1]);
            }
            while width > 1 {
                width /= 2;
                for i in 0..width {
                    scratch[i] = node_hash(&scratch[2 * i], &scratch[2 * i + 1]);
                }
            }
            scratch[0]
        }
        n => {
            let (left, right) = hashes.split_at(n / 2);
            node_hash(&perfect_root(left), &perfect_root(right))
        }
    }
}

/// Where a complete subtree's hash is found in tiles: the root of `count` hashes of `tile`
/// starting at `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLocation {
    /// The tile, with its width in the tree the node was located for.
    pub tile: TileId,
    /// The offset of the node's first hash within the tile.
    pub first: u16,
    /// How many tile hashes the node covers (a power of two, at most 128).
    pub count: u16,
}

/// Locates a complete subtree of the tree of `size` leaves in that tree's tiles, or `None` if the
/// node is not a complete subtree of that tree.
///
/// A node at tree level `h` is read from the tile level `h / 8`: it is one hash of that tile when
/// `h` is a multiple of 8, otherwise the root of `2^(h mod 8)` consecutive hashes of it.
pub fn locate_node(node: NodeId, size: TreeSize) -> Option<NodeLocation> {
    if !node.is_complete_in(size) {
        return None;
    }
    let tile_level = node.level() / TILE_HEIGHT;
    let height = node.level() % TILE_HEIGHT;
    let start = node.index() << height;
    let tile_index = start / u64::from(TILE_WIDTH);
    let width = tile_width_in(tile_level, tile_index, size)?;
    // `start % 256` is below 256 and `height` below 8, so both fit a u16.
    let first = u16::try_from(start % u64::from(TILE_WIDTH)).ok()?;
    let count = 1u16 << height;
    Some(NodeLocation {
        tile: TileId::new_unchecked(tile_level, tile_index, width),
        first,
        count,
    })
}

/// The distinct tiles (of the tree of `size` leaves) holding the given nodes, to fetch in one batch.
pub fn tiles_for_nodes(nodes: &[NodeId], size: TreeSize) -> Result<Vec<TileId>, NodeNotInTree> {
    let mut tiles = nodes
        .iter()
        .map(|&node| {
            locate_node(node, size)
                .map(|location| location.tile)
                .ok_or(NodeNotInTree { node, size })
        })
        .collect::<Result<Vec<_>, _>>()?;
    tiles.sort_unstable();
    tiles.dedup();
    Ok(tiles)
}

/// A node asked for is not a complete subtree of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{node:?} is not a complete subtree of the tree of {size} leaves")]
pub struct NodeNotInTree {
    pub node: NodeId,
    pub size: TreeSize,
}

/// Tiles held in memory, keyed by level and index (the widest version of each is kept). Computes
/// the hash of any complete subtree they cover.
#[derive(Clone, Debug, Default)]
pub struct TileSet {
    tiles: HashMap<(u8, u64), Tile>,
}

impl TileSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tile, keeping whichever of it and a stored version of the same tile is wider.
    pub fn insert(&mut self, tile: Tile) {
        let key = (tile.id.level(), tile.id.index());
        match self.tiles.get(&key) {
            Some(stored) if stored.id.width() >= tile.id.width() => {}
            _ => {
                self.tiles.insert(key, tile);
            }
        }
    }

    /// The stored version of tile (`level`, `index`), if any.
    pub fn get(&self, level: u8, index: u64) -> Option<&Tile> {
        self.tiles.get(&(level, index))
    }

    /// The number of tiles held.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether no tile is held.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// The hash of a complete subtree, computed from the tile holding it.
    pub fn node_hash(&self, node: NodeId) -> Result<Hash, MissingTile> {
        let tile_level = node.level() / TILE_HEIGHT;
        let height = node.level() % TILE_HEIGHT;
        let start = node.index() << height;
        let tile_index = start / u64::from(TILE_WIDTH);
        let first = usize::try_from(start % u64::from(TILE_WIDTH)).unwrap_or(usize::MAX);
        let count = 1usize << height;
        let missing = MissingTile {
            level: tile_level,
            index: tile_index,
            needed_width: first.saturating_add(count),
        };
        let tile = self.get(tile_level, tile_index).ok_or(missing)?;
        tile.subtree_root(first, height).ok_or(missing)
    }
}

impl From<Vec<Tile>> for TileSet {
    fn from(tiles: Vec<Tile>) -> Self {
        let mut set = Self::new();
        for tile in tiles {
            set.insert(tile);
        }
        set
    }
}

impl HashReader for TileSet {
    type Error = MissingTile;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        nodes.iter().map(|&node| self.node_hash(node)).collect()
    }
}

/// No tile (wide enough) is held for a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("tile {index} of level {level} is missing or narrower than {needed_width} hashes")]
pub struct MissingTile {
    pub level: u8,
    pub index: u64,
    pub needed_width: usize,
}

/// A store of tiles that can fetch several at once (a database, a cache, an HTTP client).
pub trait TileReader {
    /// Why tiles could not be read.
    type Error: std::error::Error + 'static;

    /// Returns the tiles asked for, each at least as wide as asked (a full tile may stand in for a
    /// partial one), in any order.
    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Tile>, Self::Error>;
}

/// A [`HashReader`] over the tiles of the tree of a given size: each batch of nodes becomes one
/// batch of tile reads.
#[derive(Debug)]
pub struct TileHashReader<R> {
    tiles: R,
    size: TreeSize,
}

impl<R: TileReader> TileHashReader<R> {
    /// Reads the nodes of the tree of `size` leaves from `tiles`.
    pub fn new(tiles: R, size: TreeSize) -> Self {
        Self { tiles, size }
    }
}

impl<R: TileReader> HashReader for TileHashReader<R> {
    type Error = TileHashError<R::Error>;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        let ids = tiles_for_nodes(nodes, self.size)?;
        let tiles = self.tiles.read_tiles(&ids).map_err(TileHashError::Read)?;
        let set = TileSet::from(tiles);
        Ok(set.read_hashes(nodes)?)
    }
}

/// Why node hashes could not be computed from tiles.
#[derive(Debug, thiserror::Error)]
pub enum TileHashError<E: std::error::Error + 'static> {
    #[error(transparent)]
    NotInTree(#[from] NodeNotInTree),
    #[error("failed to read tiles")]
    Read(#[source] E),
    #[error(transparent)]
    Missing(#[from] MissingTile),
}

/// The most entries an entry bundle holds.
const MAX_BUNDLE_ENTRIES: usize = TILE_WIDTH as usize;

/// Encodes an entry bundle: each entry as a big-endian u16 length followed by its bytes.
pub fn encode_entry_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, EntryBundleError> {
    let mut out = Vec::new();
    for (count, entry) in entries.into_iter().enumerate() {
        if count == MAX_BUNDLE_ENTRIES {
            return Err(EntryBundleError::TooManyEntries);
        }
        let len =
            u16::try_from(entry.len()).map_err(|_| EntryBundleError::EntryTooLong(entry.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries, refusing truncation and more than 256 entries.
pub fn decode_entry_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, EntryBundleError> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if entries.len() == MAX_BUNDLE_ENTRIES {
            return Err(EntryBundleError::TooManyEntries);
        }
        let offset = bytes.len() - rest.len();
        let (len, body) = rest
            .split_first_chunk::<2>()
            .ok_or(EntryBundleError::Truncated { offset })?;
        let len = usize::from(u16::from_be_bytes(*len));
        if body.len() < len {
            return Err(EntryBundleError::Truncated { offset });
        }
        let (entry, tail) = body.split_at(len);
        entries.push(entry);
        rest = tail;
    }
    Ok(entries)
}

/// Why entries cannot be bundled or a bundle cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryBundleError {
    #[error("an entry in a bundle is at most 65535 bytes, found {0}")]
    EntryTooLong(usize),
    #[error("an entry bundle holds at most 256 entries")]
    TooManyEntries,
    #[error("the entry starting at byte {offset} of the bundle is truncated")]
    Truncated { offset: usize },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::MemoryTree;

    fn tree_and_tiles(size: u32) -> (MemoryTree, TileSet) {
        let tree =
            MemoryTree::from_leaf_hashes((0..size).map(|i| leaf_hash(&i.to_be_bytes()))).unwrap();
        let mut set = TileSet::new();
        for id in super::super::id::tiles_of_tree(TreeSize::from(size)) {
            let level = u32::from(id.level()) * 8;
            let hashes = (0..u64::from(id.width()))
                .map(|i| {
                    let node = NodeId::new(u8::try_from(level).unwrap(), id.first_hash_index() + i);
                    tree.node(node.unwrap()).unwrap()
                })
                .collect();
            set.insert(Tile::new(id, hashes).unwrap());
        }
        (tree, set)
    }

    #[test]
    fn every_complete_node_of_a_tree_is_computed_from_its_tiles() {
        let size = 70_000u32;
        let (tree, tiles) = tree_and_tiles(size);
        for level in 0..=16u8 {
            let count = u64::from(size) >> level;
            // Every node of the small levels would take long; sample the edges and a stride.
            let indexes = (0..count).filter(|i| *i < 3 || *i + 3 >= count || i % 97 == 0);
            for index in indexes {
                let node = NodeId::new(level, index).unwrap();
                assert_eq!(tiles.node_hash(node).ok(), tree.node(node), "{node:?}");
            }
        }
    }

    #[test]
    fn a_node_beyond_the_tree_has_no_location() {
        let size = TreeSize::from(300);
        assert_eq!(locate_node(NodeId::new(2, 75).unwrap(), size), None);
        let location = locate_node(NodeId::new(5, 8).unwrap(), size).unwrap();
        assert_eq!(location.tile.path(), "tile/0/001.p/44");
        assert_eq!((location.first, location.count), (0, 32));
        let location = locate_node(NodeId::new(8, 0).unwrap(), size).unwrap();
        assert_eq!(location.tile.path(), "tile/1/000.p/1");
    }

    #[test]
    fn a_tile_narrower_than_needed_is_reported_missing() {
        let (_, tiles) = tree_and_tiles(10);
        assert!(tiles.node_hash(NodeId::new(3, 1).unwrap()).is_err());
        assert!(tiles.node_hash(NodeId::new(3, 0).unwrap()).is_ok());
    }

    #[test]
    fn tile_bytes_round_trip_and_wrong_lengths_are_refused() {
        let id = TileId::new(0, 0, 2).unwrap();
        let tile = Tile::new(id, vec![leaf_hash(b"a"), leaf_hash(b"b")]).unwrap();
        assert_eq!(Tile::from_bytes(id, &tile.to_bytes()), Ok(tile.clone()));
        assert_eq!(
            Tile::from_bytes(id, &[0; 63]),
            Err(TileError::WrongByteLength {
                expected: 64,
                found: 63
            })
        );
        assert_eq!(tile.root(), None, "only full tiles have a root above");
    }

    #[test]
    fn entry_bundles_round_trip_and_truncation_is_refused() {
        let entries: [&[u8]; 3] = [b"", b"a", &[7; 300]];
        let bundle = encode_entry_bundle(entries).unwrap();
        assert_eq!(&bundle[..5], &[0, 0, 0, 1, b'a']);
        assert_eq!(decode_entry_bundle(&bundle).unwrap(), entries);
        assert_eq!(
            decode_entry_bundle(&bundle[..bundle.len() - 1]),
            Err(EntryBundleError::Truncated { offset: 5 })
        );
        assert_eq!(
            encode_entry_bundle([&[0u8; 65_536][..]]),
            Err(EntryBundleError::EntryTooLong(65_536))
        );
        let many = vec![&b"x"[..]; 257];
        assert_eq!(
            encode_entry_bundle(many),
            Err(EntryBundleError::TooManyEntries)
        );
    }
}
