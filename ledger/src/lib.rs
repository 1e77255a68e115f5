#![doc = include_str!("../README.md")]

pub mod batch;
pub mod bundle;
pub mod checkpoint;
mod encoding;
pub mod hash;
pub mod headers;
pub mod history;
pub mod ids;
pub mod key_file;
pub mod nfc;
pub mod note;
pub mod record;
pub mod sealed;
pub mod size;
pub mod tiles;
pub mod tree;
pub mod verdict;

pub use hash::{HASH_LEN, Hash, HashParseError, RootHash, leaf_hash, node_hash};
pub use ids::{DeviceId, IdError, OrganisationId, SiteId, UnixMillis};
pub use size::{LeafIndex, MAX_TREE_SIZE, PositionError, TreeSize};
