//! [`Sequencer`]: appends entries to the log, durably, one transaction per group of batches.
//!
//! Every append runs under the log's advisory lock, so that any number of processes may append to
//! one database: the lock holder reads the tree size, skips events whose hash the log already has,
//! writes the new events with `COPY ... BINARY` (a few entries to a row: see `packs`), the tiles
//! that changed and the device batches, and commits (with `synchronous_commit` on) before any
//! caller hears back. After the commit, the lookup keys the new entries carry are handed to the
//! store's indexer (see `keys`).
//!
//! Within a process, appends are queued to one task that takes the batches waiting and commits them
//! together (group commit): concurrent callers share one transaction, one lock round and one WAL
//! flush. The task keeps the tree's right edge ([`TileFrontier`](ledger::tiles::TileFrontier)), the
//! hashes of the latest entries (at least those the lookup runs do not cover yet) and a filter of
//! every event hash in the log ([`HashFilter`](crate::filter::HashFilter)) in memory, and reads
//! what another process appended before it appends.
//!
//! Pipelining: a group's commit (a WAL flush) and its last statements run in a task of their own,
//! and meanwhile the next groups are written on other connections, on top of it: at the leaf
//! indexes where it ends, before it has committed. That is safe because of a second advisory
//! lock, the turn lock, held for the session: an appender takes it before the append lock, and
//! keeps it while it has groups in flight (a chain), so that no other appender, in any process, can
//! read or write the log until every group of the chain has committed or rolled back. The first
//! group of a chain reads the log under the append lock; each later one is written on top of the
//! one before, and commits only once that one has committed (otherwise it rolls back and is
//! appended again from what the log holds). A chain ends, and the turn lock is let go, when the
//! task has nothing more to append, or when another appender waits for the turn lock (checked in
//! `pg_locks` with each group's last statements). A group goes on top of a committing one only
//! when the backlog is large ([`CHAIN_FROM`](turn::CHAIN_FROM)): smaller groups would cost more
//! CPU per entry than the overlap saves.
//! While no group is committing, a large backlog is split in two, so that the second half can go
//! on top of the first.
//!
//! Duplicate detection: an event in the in-memory tail is known at once; an event the filter rules
//! out (nearly every new event) is new without asking the database; the few others are looked up
//! in the lookup runs by hash (which cover every entry below the tail) in one query, and their whole
//! hashes compared with the stored events'. The filter is loaded from the runs' hash pages when the
//! task (re)connects. If the indexer falls too far behind, the sequencer runs indexing steps itself
//! before appending (back-pressure), so the tail stays bounded.

//!
//! | module | owns |
//! | --- | --- |
//! | `handle` | [`Sequencer`], [`SequencerConfig`], [`AppendError`]: the queue to the appending task |
//! | `turn` | the appending task: groups, the chain and its turn lock, hand-over to committing tasks, back-pressure |
//! | `write` | a group's write: where it goes, the tree's right edge and tiles, the early `COPY` |
//! | `dedup` | the in-memory tail and filter of event hashes, the lookup of possible duplicates, the plan |
//! | `statements` | the rows a group writes and the statements that write them |
//! | `commit` | the committing task: last statements, `COMMIT`, key hand-over, answers |
//! | `connection` | the connections and their prepared statements |

mod commit;
mod connection;
mod dedup;
mod handle;
mod statements;
mod turn;
mod write;

pub use dedup::DEFAULT_RECENT_KEEP;
pub(crate) use handle::CONNECTIONS;
pub use handle::{
    AppendError, DEFAULT_MAX_GROUP, DEFAULT_MAX_INDEX_LAG, Sequencer, SequencerConfig,
    SequencerStats,
};
