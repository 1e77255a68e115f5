#![doc = include_str!("../README.md")]
//! The PostgreSQL store of the log: migrations, the sequencer that appends entries, proofs and
//! tiles read from the database, the checkpoint signer, the trailing lookup indexes and the audit.
//!
//! The schema and roles are in `sql/` (see its README). The pieces:
//!
//! - [`migrate`] applies the embedded `sql/V*.sql` (refinery), under an advisory lock.
//! - The store has two faces, each built on its own with its own pool and session settings:
//!   a [`Writer`] (what the sequencer, checkpointer and indexer are made from, and the audit and
//!   export run on) and a [`Reader`] (trace-api, the anchor worker's view of the checkpoints, the
//!   CLI's reading commands), which keeps what never changes of what it read. Both read the
//!   [`Log`]: tree size, tiles (C2SP tlog-tiles, any width), roots, inclusion and consistency
//!   proofs (one query each, from the tiles; tiles read for proofs are kept in memory, as stored
//!   tiles never change), checkpoints, signing keys and the ledger's status. Only the reader
//!   reads entries, device batches, lookups by event hash, EPC, parent, location and time, entry
//!   bundles and the confirmed anchors a bundle refers to (the anchor worker's table). The pool
//!   is this crate's alone: no other crate runs SQL on the ledger's tables.
//! - [`Sequencer`] appends [`NewBatch`]es: under the log's advisory lock, in one transaction with
//!   the events, the changed tiles and the device batches, acknowledged after the durable commit;
//!   an event already in the log is not appended again (an in-memory filter of every event hash
//!   rules out new events without a query). Any number of processes may append.
//! - [`Checkpointer`] signs a C2SP checkpoint whenever the tree grew (every 500 ms by default),
//!   with one key or, during a key rotation, several (the primary key's signature first),
//!   after checking a consistency proof from the previous one; with a [`PublishedFile`] it
//!   records each checkpoint outside the database before storing it, and refuses to sign while
//!   the database does not hold the newest published tree (a restored old backup), saying why
//!   ([`Refusal`], [`SigningGate`]).
//! - [`Indexer`] writes the lookups of the entries past its watermark as sorted runs of pages
//!   (event hash, EPC, parent, location; `runs`) and a time range per step, off the append path,
//!   and merges runs in the background: with the [`LookupKeys`] the appender attached to each
//!   entry (handed over in memory by the sequencer of the same store), or else parsed from the
//!   stored JSON. In the same transaction it writes the step's run of the verifiable index
//!   (`ledger::index`; `index_runs`), which the same merger merges; [`Reader::prove_key`] proves a
//!   key's complete list of entries against the index's head.
//! - [`audit`] recomputes everything from the rows and names the first one that does not hold.
//! - `testing` (feature `testing`): a migrated database per test, private PostgreSQL clusters
//!   (restarts, streaming replicas), and realistic signed events.

mod anchors;
mod audit;
mod bundles;
mod checkpointer;
mod copy;
mod entry;
mod export;
mod filter;
mod generations;
pub use anchors::{AnchorRecord, OtherCheckpoint, StoredAnchor, StoredAnchored};
pub use generations::Generations;
mod index_runs;
mod indexer;
mod keys;
mod locks;
mod log;
mod lookup;
mod migrate;
mod packs;
mod published;
mod run_cache;
mod run_filters;
mod sealed_keys;
pub use sealed_keys::{EraseError, Erasure, FieldKeys};
mod runs;
mod sequencer;
mod status;
#[cfg(feature = "testing")]
pub mod testing;
mod tile_cache;
pub use run_filters::LookupFilterStatus;
pub use tile_cache::{CacheCounter, CacheCounts, CacheSize, TILE_CACHE_BYTES_PER_TILE};
mod transient;

pub use audit::{
    AUDIT_CONNECTIONS, AuditError, AuditOptions, AuditProblem, AuditProgress, AuditReport,
    BatchReason, BundleRowProblem, CheckpointReason, ConsistencyFailure, EntryReason, NoProgress,
    SigningKeyReason, TileReason, audit, given_keys,
};
pub use checkpointer::{
    CheckpointKeysError, CheckpointStoreError, Checkpointer, CheckpointerHandle,
    DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_INDEX_WAIT, ReaderView, SigningKey, SigningKeysError,
    StoredCheckpoint,
};
pub use entry::{
    AppendResult, BatchError, Declares, EntryError, EntryKeys, NewBatch, NewEntry,
    SelfContainedError, SignedBatch, declaration_key, self_contained_event,
};
pub use export::{ExportError, ExportReport};
pub use index_runs::{
    CommittedProof, HEAD_RETENTION, IndexAudit, IndexProblem, IndexReason, IndexRunError,
    KeysListed, MAX_LISTING_QUERIES, MAX_PROOF_PAGES, PAGE_PAIRS as INDEX_PAGE_PAIRS,
    ProveKeyError, commitment_of_note,
};
pub use indexer::{DEFAULT_INDEX_BATCH, IndexError, Indexer, IndexerHandle, LockWait};
pub use keys::{LookupKeys, event_id_lookup_name, lookup_key};
pub use log::{
    ConnectError, Log, PoolSettings, ProofError, ReadError, Reader, Writer,
    reader_session_settings, session_settings,
};
pub use lookup::{Declarations, LiveRuns, Lookup, StoredBatch, StoredEntry};
#[cfg(feature = "testing")]
pub use migrate::migrate_to_version;
pub use migrate::{MigrateError, MigrationReport, migrate, migrations_fingerprint};
pub use packs::{EVENTS_AT, TREE_SIZE};
pub use published::{
    PublishedFile, PublishedFileError, REFUSAL_RUNBOOK, Refusal, SigningGate, SigningState,
};
pub use runs::MergeError;
pub use transient::{is_transient_postgres, is_transient_sqlstate};
/// Connections a process running the ledger's background tasks holds at most at once: the
/// sequencer's appending task (one for the group it writes and two for groups committing beneath
/// it), the checkpoint signer, the indexer and the indexer's merger, one each. A pool shared with
/// requests needs at least one more.
pub const BACKGROUND_CONNECTIONS: usize = sequencer::CONNECTIONS + 3;

/// The pool size a service running the background tasks gives its store: what they hold, and two
/// more for the reads of requests (proofs, status, entries, migration status).
pub const STORE_CONNECTIONS: usize = BACKGROUND_CONNECTIONS + 2;

pub use sequencer::{
    AppendError, DEFAULT_MAX_GROUP, DEFAULT_MAX_INDEX_LAG, DEFAULT_RECENT_KEEP, Sequencer,
    SequencerConfig, SequencerStats,
};
pub use status::{EntrySummary, LedgerStatus, MigrationStatusError};
