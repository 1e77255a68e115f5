//! [`audit`]: re-verifies a whole stored log from its rows.
//!
//! The leaf records are read in leaf order from the entry bundle rows (one `COPY ... TO STDOUT
//! BINARY` stream of one row per 256 entries), together with the tiles, device batches and
//! checkpoints (three more streams) and, when event hashes are recomputed, the events (two more
//! streams, alternating blocks of entries), all in one exported snapshot, so an audit of a log being
//! appended to sees one consistent state. The audit checks that the bundle rows hold every entry
//! exactly once and up to where the events end, decodes each leaf record and checks that it names
//! a stored device batch holding its event (and checks each batch's Ed25519 signature under the keys
//! its caller gives for its device, read from the registry: any key the device has had; batches of
//! devices it holds no key for, as in logs written without ingest, are counted and not checked),
//! rebuilds the tree's tiles from the leaf hashes and
//! compares every stored tile row with them, recomputes the root at every checkpoint's size and
//! checks the checkpoint's signature, and checks an RFC 9162 consistency proof between consecutive
//! checkpoints. With event hashes, it also checks that every entry's event is stored under the
//! hash its leaf record names, recomputes that CBV 2.0 hash from the stored JSON (on worker
//! threads) and, for a version 2 record, checks the SHA-256 of the stored event's exact bytes
//! against the record's event digest (so any change to any stored byte is caught, not only to what
//! the CBV hash covers). Without them, the events are not read (only where they end): the log's
//! structure and signatures are checked at the speed of reading bundles.
//!
//! Error declarations: every row of `error_declarations` must name an entry whose leaf record is
//! version 2 and names the row's event hash, and an earlier entry, not itself a declaration, with
//! the same event hash. With event hashes, every stored event carrying `errorDeclaration` (under
//! a version 2 record) must have its row, every row's entry must carry one, and a declaration must
//! be stored under its declaration key. The report counts the declarations and the entries whose
//! records are version 1 (they bind the CBV hash only).
//!
//! The work is pipelined: the database streams are split into fields in place (no allocation per
//! row, [`crate::copy`]), decoding threads split the bundle rows and decode and hash each leaf
//! record, the checking thread checks attestations, tiles and checkpoints, and hashing threads
//! recompute event hashes.
//!
//! The first problem (in log order) is reported as data ([`AuditProblem`]), with the entry, tile,
//! batch or checkpoint it is about and a typed reason. When a stored tile disagrees with the
//! leaves, the next signed checkpoint decides which of the two was changed: a root that matches the
//! leaves clears them and blames the tile.
//!
//! | module | owns |
//! | --- | --- |
//! | `run` | [`audit`]: the snapshot's transactions, the channels and threads that wire the rest |
//! | `streams` | the `COPY` queries, read in chunks, and their receiving ends as iterators |
//! | `decode` | the decoding threads: bundle rows split into decoded, hashed leaf records |
//! | `batches` | the batch-checking thread: each device batch checked on its own |
//! | `checker` | the checking thread, pure: entries, tiles, batches and checkpoints in log order |
//! | `declarations` | the rows of `error_declarations`, held in memory, which the entries are checked against |
//! | `hashers` | the threads that recompute event hashes and check each event's bytes against its record's digest |
//! | `consistency` | the consistency proofs between checkpoints, read from the tiles |
//! | `problem` | [`AuditProblem`] and its reasons |
//! | `report` | [`AuditOptions`], [`AuditProgress`], [`AuditReport`] |

mod batches;
mod checker;
mod consistency;
mod declarations;
mod decode;
mod hashers;
mod problem;
mod report;
mod run;
mod streams;

pub use problem::{
    AuditProblem, BatchReason, BundleRowProblem, CheckpointReason, ConsistencyFailure, EntryReason,
    SigningKeyReason, TileReason,
};
pub use report::{AuditOptions, AuditProgress, AuditReport, NoProgress};
pub use run::{AUDIT_CONNECTIONS, AuditError, audit, given_keys};
