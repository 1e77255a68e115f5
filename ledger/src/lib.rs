#![doc = include_str!("../README.md")]

pub mod access_log;
pub mod batch;
pub mod bundle;
pub mod checkpoint;
pub mod draw;
mod encoding;
pub mod grant;
pub mod hash;
pub mod headers;
pub mod history;
pub mod ids;
pub mod index;
pub mod key_file;
pub mod location;
pub mod nfc;
pub mod note;
pub mod record;
pub mod sealed;
pub mod size;
pub mod tiles;
pub mod trace;
pub mod tree;
pub mod verdict;

pub use hash::{HASH_LEN, Hash, HashParseError, RootHash, leaf_hash, node_hash};

/// The namespace of the members the service adds to events it answers with (never captured).
pub const LEDGER_NAMESPACE: &str = "https://tagtrail.dev/ns/ledger#";

/// The member each event of an EPCIS query answer carries to say where the ledger holds it (its
/// leaf index, event hash, the checkpoint's size and its reporter). An event is captured without
/// it (ingest refuses one that carries it, or binds a prefix to [`LEDGER_NAMESPACE`]): a reader
/// removes it to get the event as captured, whose hash the member names.
pub const LEDGER_ENTRY_MEMBER: &str = "https://tagtrail.dev/ns/ledger#entry";
pub use ids::{DeviceId, IdError, OrganisationId, SiteId, UnixMillis};
pub use size::{LeafIndex, MAX_TREE_SIZE, PositionError, TreeSize};
