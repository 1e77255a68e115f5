//! The PostgreSQL store of the log: migrations, the sequencer that appends entries, proofs and
//! tiles read from the database, the checkpoint signer, the trailing lookup indexes and the audit.

mod audit;
mod checkpointer;
mod entry;
mod indexer;
mod locks;
mod log;
mod lookup;
mod migrate;
mod sequencer;
#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{
    AuditError, AuditOptions, AuditProblem, AuditProgress, AuditReport, NoProgress, audit,
};
pub use checkpointer::{
    CheckpointStoreError, Checkpointer, CheckpointerHandle, DEFAULT_CHECKPOINT_INTERVAL,
    StoredCheckpoint,
};
pub use entry::{
    AppendResult, BatchError, EPCIS_CONTEXT_URL, NewBatch, NewEntry, SelfContainedError,
    SignedBatch, self_contained_event,
};
pub use indexer::{
    DEFAULT_INDEX_BATCH, IndexError, Indexer, IndexerHandle, LockWait, lookup_key,
};
pub use log::{ConnectError, ProofError, ReadError, Store};
pub use lookup::{Lookup, StoredBatch, StoredEntry};
pub use migrate::{MigrateError, MigrationReport, migrate, migrations_fingerprint};
pub use sequencer::{
    AppendError, DEFAULT_MAX_GROUP, DEFAULT_MAX_INDEX_LAG, Sequencer, SequencerConfig,
};
