//! The PostgreSQL advisory locks of the store. Advisory locks are per database: one log per
//! database. The values are arbitrary but fixed (ASCII "tagtra" and a number).

/// Held (for the transaction) by whoever appends: the single sequencer of the log.
pub(crate) const SEQUENCER: i64 = 0x7461_6774_7261_0001;
/// Held (for the transaction) by whoever extends the lookup tables.
pub(crate) const INDEXER: i64 = 0x7461_6774_7261_0002;
/// Held (for the transaction) by whoever signs a checkpoint, so that signers take turns.
pub(crate) const CHECKPOINTER: i64 = 0x7461_6774_7261_0004;
/// Held (for the transaction) by whoever merges lookup runs.
pub(crate) const MERGER: i64 = 0x7461_6774_7261_0005;
/// Held for the session by an appender while it has groups in flight (a chain, see the sequencer's
/// pipelining); taken before [`SEQUENCER`].
pub(crate) const TURN: i64 = 0x7461_6774_7261_0006;
/// Held (for the transaction) while the verifiable index's heads and the runs they list change:
/// by the checkpointer storing the head it commits to, and by the merger retiring and deleting
/// runs, so that no head is stored listing a run that is being deleted.
pub(crate) const INDEX_HEADS: i64 = 0x7461_6774_7261_0007;
