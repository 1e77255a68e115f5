//! The C2SP tlog-tiles layout (<https://c2sp.org/tlog-tiles>): tile coordinates and paths, tile
//! contents, node hashes computed from tiles, entry bundles, and the right-edge frontier used to
//! append.

mod frontier;
mod id;
mod tile;

pub use frontier::{FrontierError, TileFrontier};
pub use id::{
    EntryBundleId, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, TileId, TileIdError, TilePathError,
    changed_tiles, tile_width_in, tiles_of_tree,
};
pub use tile::{
    EntryBundleError, MissingTile, NodeLocation, NodeNotInTree, Tile, TileError, TileHashError,
    TileHashReader, TileReader, TileSet, decode_entry_bundle, encode_entry_bundle, locate_node,
    tiles_for_nodes,
};
