//! The [`Sequencer`] handle: its tuning, its errors, and the queue to the appending task.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::entry::{AppendResult, NewBatch};
use crate::indexer::Indexer;
use crate::log::{ReadError, Writer};

use super::dedup::{DEFAULT_RECENT_KEEP, Recent};
use super::turn::Worker;

/// The most entries committed in one transaction (a group of queued batches).
pub const DEFAULT_MAX_GROUP: usize = 20_000;

/// How many entries the lookup tables may trail the log by before appends wait for indexing.
pub const DEFAULT_MAX_INDEX_LAG: u64 = 1_000_000;

/// How many append requests may wait in the queue.
pub(super) const QUEUE_DEPTH: usize = 1024;

/// The connections the appending task uses at most: one for the group it writes, two for groups
/// committing meanwhile.
pub(crate) const CONNECTIONS: usize = 3;

/// Tuning of a [`Sequencer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencerConfig {
    /// The most entries committed in one transaction.
    pub max_group: usize,
    /// How far the lookup tables may trail before appends wait for indexing.
    pub max_index_lag: u64,
    /// The least number of latest entries whose hashes stay in memory.
    pub recent_keep: u64,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            max_group: DEFAULT_MAX_GROUP,
            max_index_lag: DEFAULT_MAX_INDEX_LAG,
            recent_keep: DEFAULT_RECENT_KEEP,
        }
    }
}

/// Why an append failed. Nothing of a failed append was committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    #[error("failed to get a database connection")]
    Pool(#[source] Arc<deadpool_postgres::PoolError>),
    #[error("database query failed while appending")]
    Query(#[source] Arc<tokio_postgres::Error>),
    #[error(transparent)]
    Read(#[from] Arc<ReadError>),
    #[error("failed to bring the lookup tables up to date before appending")]
    Index(#[source] Arc<crate::indexer::IndexError>),
    #[error("the stored right edge of the tree does not match its size: {0}")]
    CorruptFrontier(String),
    #[error("the log is full")]
    TreeFull,
    #[error("a leaf record does not fit an entry bundle")]
    Bundle(#[from] ledger::tiles::EntryBundleError),
    #[error("the sequencer has stopped")]
    Stopped,
}

impl From<tokio_postgres::Error> for AppendError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Query(Arc::new(error))
    }
}

impl From<ReadError> for AppendError {
    fn from(error: ReadError) -> Self {
        Self::Read(Arc::new(error))
    }
}

/// Appends to the log. Cheap to share: clones queue to the same task.
#[derive(Debug, Clone)]
pub struct Sequencer {
    pub(super) requests: mpsc::Sender<Request>,
    pub(super) task: Arc<JoinHandle<()>>,
    pub(super) counters: Arc<Counters>,
}

/// What a [`Sequencer`] has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SequencerStats {
    /// Groups committed.
    pub committed: u64,
    /// Of those, groups written on top of a group that was still committing.
    pub on_top: u64,
    /// Groups written on top of one that then did not commit, rolled back and appended again.
    pub requeued: u64,
    /// Chains ended before their next group because another process waited for the turn.
    pub handed_over: u64,
}

/// What the committing tasks learn with their last statements, for the appending task.
#[derive(Debug, Default)]
pub(super) struct Signals {
    /// Another appender waited for the turn lock.
    pub(super) turn_wanted: std::sync::atomic::AtomicBool,
    /// Where the lookup runs ended.
    pub(super) runs_end: AtomicU64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) committed: AtomicU64,
    pub(super) on_top: AtomicU64,
    pub(super) requeued: AtomicU64,
    pub(super) handed_over: AtomicU64,
}

pub(super) struct Request {
    pub(super) batch: NewBatch,
    pub(super) reply: oneshot::Sender<Result<Vec<AppendResult>, AppendError>>,
}

impl Sequencer {
    /// Starts the appending task on the store's database with the default tuning.
    pub fn start(store: &Writer) -> Self {
        Self::start_with(store, SequencerConfig::default())
    }

    /// Starts the appending task with the given tuning.
    pub fn start_with(store: &Writer, config: SequencerConfig) -> Self {
        let (requests, queue) = mpsc::channel(QUEUE_DEPTH);
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            store: store.clone(),
            indexer: Indexer::new(store),
            config,
            counters: Arc::clone(&counters),
            signals: Arc::default(),
            backlog: VecDeque::new(),
            backlog_entries: 0,
            retry: VecDeque::new(),
            idle: Vec::new(),
            open: 0,
            committing: VecDeque::new(),
            stale: false,
            turn: None,
            frontier: None,
            recent: Recent::default(),
            filter: None,
            runs_end: 0,
        };
        let task = tokio::spawn(worker.run(queue));
        Self {
            requests,
            task: Arc::new(task),
            counters,
        }
    }

    /// Appends the batch's entries in order and returns where each one is, after the transaction
    /// holding them has committed durably. An event whose hash is already in the log (or earlier
    /// in the batch) is not appended again: its result is the existing leaf index.
    pub async fn append(&self, batch: NewBatch) -> Result<Vec<AppendResult>, AppendError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, result) = oneshot::channel();
        self.requests
            .send(Request { batch, reply })
            .await
            .map_err(|_| AppendError::Stopped)?;
        result.await.map_err(|_| AppendError::Stopped)?
    }

    /// What this sequencer has done so far.
    pub fn stats(&self) -> SequencerStats {
        SequencerStats {
            committed: self.counters.committed.load(Ordering::Relaxed),
            on_top: self.counters.on_top.load(Ordering::Relaxed),
            requeued: self.counters.requeued.load(Ordering::Relaxed),
            handed_over: self.counters.handed_over.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting appends, lets the queued ones finish, and waits for the task (if this is
    /// the last handle).
    pub async fn shutdown(self) {
        drop(self.requests);
        if let Ok(task) = Arc::try_unwrap(self.task) {
            let _ = task.await;
        }
    }
}
