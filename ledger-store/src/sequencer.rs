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
//! flush. The task keeps the tree's right edge ([`TileFrontier`]), the hashes of the latest entries
//! (at least those the lookup runs do not cover yet) and a filter of every event hash in the log
//! ([`HashFilter`]) in memory, and reads what another process appended before it appends.
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
//! `pg_locks` with each group's last statements). A group goes on top of a committing one only when the backlog is
//! large ([`CHAIN_FROM`]): smaller groups would cost more CPU per entry than the overlap saves.
//! While no group is committing, a large backlog is split in two, so that the second half can go
//! on top of the first.
//!
//! Duplicate detection: an event in the in-memory tail is known at once; an event the filter rules
//! out (nearly every new event) is new without asking the database; the few others are looked up
//! in the lookup runs by hash (which cover every entry below the tail) in one query, and their whole
//! hashes compared with the stored events'. The filter is loaded from the runs' hash pages when the
//! task (re)connects. If the indexer falls too far behind, the sequencer runs indexing steps itself
//! before appending (back-pressure), so the tail stays bounded.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use deadpool_postgres::{GenericClient, Object};
use futures_util::{SinkExt, pin_mut};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle};
use tokio_postgres::{Client, Statement};

use ledger::hash::Hash;
use ledger::size::{LeafIndex, TreeSize};
use ledger::tiles::{Tile, TileFrontier, TileId, tiles_of_tree};

use super::bundles::BundleRows;
use super::entry::{AppendResult, NewBatch};
use super::filter::HashFilter;
use super::indexer::{Indexer, LockWait};
use super::keys::{HandedKeys, KeyHandoff};
use super::locks;
use super::log::{ReadError, Store, index_to_db, read_tiles, tree_size_from_db, width_to_db};
use super::lookup::find_hashes;
use super::packs::{self, PackEncoder};
use super::runs::{self, Kind};

/// The most entries committed in one transaction (a group of queued batches).
pub const DEFAULT_MAX_GROUP: usize = 20_000;

/// How many entries the lookup tables may trail the log by before appends wait for indexing.
pub const DEFAULT_MAX_INDEX_LAG: u64 = 1_000_000;

/// How many append requests may wait in the queue.
const QUEUE_DEPTH: usize = 1024;

/// The connections the appending task uses at most: one for the group it writes, two for groups
/// committing meanwhile.
pub(crate) const CONNECTIONS: usize = 3;

/// A group is written on top of a committing one only when the backlog holds at least this many
/// entries; a smaller one waits for the commit, so that groups stay large (each costs a WAL flush
/// and a few statements, which matters when the machine is busy). With no group committing, a
/// backlog of twice this is split into two groups, the second written on top of the first.
const CHAIN_FROM: usize = 1024;

const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
/// The turn lock is held for the session, so that it outlives the transactions of a chain.
const LOCK_TURN: &str = "SELECT pg_advisory_lock($1)";
const UNLOCK_TURN: &str = "SELECT pg_advisory_unlock($1)";
/// Whether some session of this database waits for the advisory lock `$1` (a `bigint` key shows
/// in `pg_locks` as its high and low 32 bits, with `objsubid` 1).
const WAITING_FOR: &str = "
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
          AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))";
/// Where the lookup runs end (every entry below is in them) and the tree size.
static SELECT_STATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT (SELECT coalesce(max(end_leaf), 0) FROM lookup_runs), ({})",
        packs::TREE_SIZE
    )
});
/// The least number of latest entries whose hashes stay in memory by default (a client retrying
/// a batch it sent moments ago is answered without a lookup).
pub const DEFAULT_RECENT_KEEP: u64 = 100_000;
const COPY_EVENTS: &str = "COPY event_packs (first_leaf, event_hashes, events) FROM STDIN BINARY";
/// The packs of the entries from leaf `$1` on, whose event hashes are `$2` (concatenated) and
/// events `$3`: pack `k` holds positions `$4[k]..$5[k]`.
const INSERT_EVENTS: &str = "
    INSERT INTO event_packs (first_leaf, event_hashes, events)
    SELECT $1::bigint + p.lo, substring($2::bytea FROM 32 * p.lo + 1 FOR 32 * (p.hi - p.lo)),
           ($3::text[])[p.lo + 1:p.hi]
    FROM unnest($4::integer[], $5::integer[]) AS p(lo, hi)";
const INSERT_BUNDLES: &str = "
    INSERT INTO entry_bundles (bundle_index, first, width, entries)
    SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::smallint[], $4::bytea[])";

/// Groups of more new entries than this are written with `COPY`, smaller ones with one `INSERT`.
const COPY_ABOVE: usize = 256;
const INSERT_TILES: &str = "
    INSERT INTO tiles (level, tile_index, width, hashes)
    SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])";
const INSERT_BATCHES: &str = "
    INSERT INTO device_batches
        (statement_hash, statement, signature_algorithm, signature, event_hashes, first_leaf_index)
    SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::bytea[], $5::bytea[], $6::bigint[])
    ON CONFLICT (statement_hash) DO NOTHING";

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
    Index(#[source] Arc<super::indexer::IndexError>),
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
    requests: mpsc::Sender<Request>,
    task: Arc<JoinHandle<()>>,
    counters: Arc<Counters>,
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
}

/// What the committing tasks learn with their last statements, for the appending task.
#[derive(Debug, Default)]
struct Signals {
    /// Another appender waited for the turn lock.
    turn_wanted: std::sync::atomic::AtomicBool,
    /// Where the lookup runs ended.
    runs_end: AtomicU64,
}

#[derive(Debug, Default)]
struct Counters {
    committed: AtomicU64,
    on_top: AtomicU64,
    requeued: AtomicU64,
}

struct Request {
    batch: NewBatch,
    reply: oneshot::Sender<Result<Vec<AppendResult>, AppendError>>,
}

impl Sequencer {
    /// Starts the appending task on the store's database with the default tuning.
    pub fn start(store: &Store) -> Self {
        Self::start_with(store, SequencerConfig::default())
    }

    /// Starts the appending task with the given tuning.
    pub fn start_with(store: &Store, config: SequencerConfig) -> Self {
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

/// The hashes of the latest entries, `start..end` of the log: at least every entry the lookup runs
/// do not cover yet (`start` never passes where the runs end).
#[derive(Default)]
struct Recent {
    start: u64,
    end: u64,
    leaves: HashMap<[u8; 32], u64>,
}

impl Recent {
    fn reset(&mut self, at: u64) {
        self.start = at;
        self.end = at;
        self.leaves.clear();
    }

    /// Forgets entries the runs cover (below `runs_end`) except the latest `keep`, once those are
    /// a good share of the map.
    fn trim(&mut self, runs_end: u64, keep: u64) {
        let keep_from = runs_end.min(self.end.saturating_sub(keep));
        if keep_from > self.start && (keep_from - self.start) as usize > self.leaves.len() / 2 {
            self.leaves.retain(|_, leaf| *leaf >= keep_from);
            self.start = keep_from;
        }
    }
}

/// What the appending task owns.
struct Worker {
    store: Store,
    indexer: Indexer,
    config: SequencerConfig,
    counters: Arc<Counters>,
    signals: Arc<Signals>,
    /// Requests taken from the queue and not in a group yet, and how many entries they hold.
    backlog: VecDeque<Request>,
    backlog_entries: usize,
    /// Groups handed back because the group they were written on did not commit: appended again
    /// before the backlog.
    retry: VecDeque<Vec<Request>>,
    /// Open connections not in use, and how many are open in all (idle, writing or committing).
    idle: Vec<Connection>,
    open: usize,
    /// Groups whose last round trips run in a task of their own, oldest first.
    committing: VecDeque<Committing>,
    /// A committing group did not commit: what this task knows of the log may be wrong until every
    /// committing group has finished.
    stale: bool,
    /// The backend of the connection holding the turn lock, while a chain lasts.
    turn: Option<i32>,
    /// The right edge of the tree as the newest group leaves it; `None` when unknown.
    frontier: Option<TileFrontier>,
    recent: Recent,
    /// Every event hash of entries `0..recent.end` (and maybe more); `None` when not loaded.
    filter: Option<HashFilter>,
    /// Where the lookup runs ended at the last look.
    runs_end: u64,
}

/// A pool connection that never goes back to the pool: dropping it closes it, so that a session
/// inside a transaction or holding the turn lock (after a failure, or when the appending task is
/// dropped) is never handed to another user.
struct Owned(Option<Object>);

impl std::ops::Deref for Owned {
    type Target = Object;

    fn deref(&self) -> &Object {
        match &self.0 {
            Some(client) => client,
            None => unreachable!("emptied only when dropped"),
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Object::take(client));
        }
    }
}

/// The sequencer's connection and the statements it runs, prepared once so that the statements
/// of one round trip can be sent together (pipelined) in order.
struct Connection {
    client: Owned,
    /// The process id of its backend, as `pg_locks` shows it.
    backend: i32,
    lock: Statement,
    lock_turn: Statement,
    unlock_turn: Statement,
    waiting: Statement,
    state: Statement,
    copy_events: Statement,
    insert_events: Statement,
    bundles: Statement,
    tiles: Statement,
    batches: Statement,
}

impl Connection {
    async fn open(store: &Store) -> Result<Self, AppendError> {
        let client = store
            .pool()
            .get()
            .await
            .map_err(|e| AppendError::Pool(Arc::new(e)))?;
        // Plans for array parameters depend on their length and on table sizes that change fast:
        // plan each execution (a cached generic plan may scan a table it took for empty).
        client
            .batch_execute("SET plan_cache_mode = force_custom_plan")
            .await?;
        let backend: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        Ok(Self {
            backend,
            lock: client.prepare_cached(LOCK).await?,
            lock_turn: client.prepare_cached(LOCK_TURN).await?,
            unlock_turn: client.prepare_cached(UNLOCK_TURN).await?,
            waiting: client.prepare_cached(WAITING_FOR).await?,
            state: client.prepare_cached(&SELECT_STATE).await?,
            copy_events: client.prepare_cached(COPY_EVENTS).await?,
            insert_events: client.prepare_cached(INSERT_EVENTS).await?,
            bundles: client.prepare_cached(INSERT_BUNDLES).await?,
            tiles: client.prepare_cached(INSERT_TILES).await?,
            batches: client.prepare_cached(INSERT_BATCHES).await?,
            client: Owned(Some(client)),
        })
    }
}

/// A group whose last round trips run in a task of their own.
struct Committing {
    task: JoinHandle<Finished>,
    /// Whether the group committed; taken by the group written on top of it.
    outcome: Option<oneshot::Receiver<bool>>,
}

/// What a committing task gives back.
struct Finished {
    /// `None` when it was closed after a failure.
    connection: Option<Connection>,
    /// The backend of the connection.
    backend: i32,
    outcome: Outcome,
}

enum Outcome {
    Committed,
    /// The callers were told why.
    Failed,
    /// The group was written on top of one that did not commit, and rolled back: to be appended
    /// again.
    Requeued(Vec<Request>),
}

/// The rows one transaction writes.
struct Planned {
    results: Vec<Vec<AppendResult>>,
    /// Indexes (batch, entry) of the entries to append, in leaf order.
    new: Vec<(usize, usize)>,
    first_leaf: u64,
}

/// A group written (or, when small, ready to be written) by the appending task, for its committing
/// task to finish.
struct Written {
    /// Whether the transaction has begun (or `BEGIN` is to be sent with the inserts).
    begun: bool,
    planned: Planned,
    /// Whether the new events went in with `COPY` already.
    copied: bool,
    bundles: BundleRows,
    tiles: Vec<Tile>,
    /// When written on top of a committing group: that group's outcome.
    on_top: Option<oneshot::Receiver<bool>>,
}

/// What wakes the appending task while it has nothing to append.
enum Wake {
    Request(Option<Request>),
    Finished(Result<Finished, JoinError>),
}

impl Worker {
    async fn run(mut self, mut queue: mpsc::Receiver<Request>) {
        let mut accepting = true;
        loop {
            if accepting {
                while self.backlog_entries < self.config.max_group {
                    match queue.try_recv() {
                        Ok(request) => self.push(request),
                        Err(_) => break,
                    }
                }
            }
            if let Some(group) = self.next_group() {
                self.append_group(group).await;
                continue;
            }
            if self.committing.is_empty() {
                // The chain has ended.
                let _ = self.release_turn(None).await;
            }
            // Nothing to append: wait for a request, or for the oldest committing group (which may
            // hand its group back).
            let wake = match self.committing.front_mut() {
                Some(oldest) => tokio::select! {
                    request = queue.recv(), if accepting => Wake::Request(request),
                    finished = &mut oldest.task => Wake::Finished(finished),
                },
                None if accepting => Wake::Request(queue.recv().await),
                None => break,
            };
            match wake {
                Wake::Request(Some(request)) => self.push(request),
                Wake::Request(None) => accepting = false,
                Wake::Finished(finished) => {
                    self.committing.pop_front();
                    self.settle(finished);
                }
            }
        }
    }

    fn push(&mut self, request: Request) {
        self.backlog_entries += request.batch.len();
        self.backlog.push_back(request);
    }

    /// The next group: one handed back, or requests of the backlog up to the group limit (see
    /// [`CHAIN_FROM`]). With no group committing, a large backlog in one group would leave its
    /// commit nothing to overlap with: then about half of it is taken, and the rest goes on top.
    fn next_group(&mut self) -> Option<Vec<Request>> {
        if let Some(group) = self.retry.pop_front() {
            return Some(group);
        }
        if self.backlog.is_empty()
            || (!self.committing.is_empty() && self.backlog_entries < CHAIN_FROM)
        {
            return None;
        }
        let limit = if self.committing.is_empty() && self.backlog_entries >= 2 * CHAIN_FROM {
            self.backlog_entries.div_ceil(2)
        } else {
            self.config.max_group
        };
        let mut group = Vec::new();
        let mut count = 0;
        while let Some(request) = self.backlog.front() {
            let len = request.batch.len();
            if !group.is_empty() && count + len > limit {
                break;
            }
            count += len;
            group.extend(self.backlog.pop_front());
        }
        self.backlog_entries -= count;
        Some(group)
    }

    /// Writes the group and hands it to a committing task; on failure, tells its callers why.
    async fn append_group(&mut self, group: Vec<Request>) {
        if self.stale {
            self.drain().await;
        }
        let connection = match self.connection().await {
            Ok(connection) => connection,
            Err(error) => return fail(group, &error),
        };
        let written = {
            let batches: Vec<&NewBatch> = group.iter().map(|request| &request.batch).collect();
            self.write(&connection, &batches).await
        };
        match written {
            Ok(written) => self.commit(connection, group, written),
            Err(error) => {
                // Whatever we knew may be stale or the connection broken (possibly inside a
                // transaction): start afresh next time.
                self.close(connection);
                self.reset();
                fail(group, &error);
            }
        }
    }

    /// An idle connection, a new one, or the oldest committing group's once it has finished.
    async fn connection(&mut self) -> Result<Connection, AppendError> {
        loop {
            if let Some(connection) = self.idle.pop() {
                return Ok(connection);
            }
            if self.open < CONNECTIONS {
                let connection = Connection::open(&self.store).await?;
                self.open += 1;
                return Ok(connection);
            }
            let Some(oldest) = self.committing.pop_front() else {
                return Err(AppendError::Stopped);
            };
            let finished = oldest.task.await;
            self.settle(finished);
            if self.stale {
                self.drain().await;
            }
        }
    }

    /// Takes back what a committing task gives back.
    fn settle(&mut self, finished: Result<Finished, JoinError>) {
        let Ok(finished) = finished else {
            // The task panicked: its callers' replies were dropped (they hear that the sequencer
            // stopped) and its connection with them, closed (not back in the pool: the task
            // owned the connection object, and the client inside it is dropped by the unwinding).
            self.open -= 1;
            self.turn = None;
            self.stale = true;
            return;
        };
        match finished.connection {
            Some(connection) => self.idle.push(connection),
            None => {
                self.open -= 1;
                if self.turn == Some(finished.backend) {
                    self.turn = None;
                }
            }
        }
        match finished.outcome {
            Outcome::Committed => {}
            Outcome::Failed => self.stale = true,
            Outcome::Requeued(group) => {
                self.counters.requeued.fetch_add(1, Ordering::Relaxed);
                self.retry.push_back(group);
                self.stale = true;
            }
        }
    }

    /// Waits for every committing group; if one did not commit, forgets what was known of the log.
    async fn drain(&mut self) {
        while let Some(committing) = self.committing.pop_front() {
            let finished = committing.task.await;
            self.settle(finished);
        }
        if self.stale {
            self.reset();
        }
    }

    /// Lets the turn lock go: the chain has ended (no group is committing). The lock is held by
    /// `current` or by an idle connection; if by neither, its connection was closed, which let it go.
    async fn release_turn(&mut self, current: Option<&Connection>) -> Result<(), AppendError> {
        let Some(backend) = self.turn.take() else {
            return Ok(());
        };
        if let Some(current) = current.filter(|current| current.backend == backend) {
            // On failure the caller closes `current`, which lets the lock go.
            current
                .client
                .execute(&current.unlock_turn, &[&locks::TURN])
                .await?;
            return Ok(());
        }
        let Some(at) = self.idle.iter().position(|idle| idle.backend == backend) else {
            return Ok(());
        };
        let holder = &self.idle[at];
        if holder
            .client
            .execute(&holder.unlock_turn, &[&locks::TURN])
            .await
            .is_err()
        {
            // Closing it lets the lock go.
            drop(self.idle.swap_remove(at));
            self.open -= 1;
        }
        Ok(())
    }

    /// Closes a connection that failed (which lets the turn lock go, if it held it).
    fn close(&mut self, connection: Connection) {
        if self.turn == Some(connection.backend) {
            self.turn = None;
        }
        drop(connection);
        self.open -= 1;
    }

    fn reset(&mut self) {
        self.frontier = None;
        self.recent = Recent::default();
        self.filter = None;
        self.stale = false;
    }

    /// Decides where each entry of the group goes and writes what can be written before the
    /// commit: within a chain, on top of the newest committing group (no round trip of its own),
    /// otherwise under the append lock from the log as it is (one round trip for the locks and the
    /// state). Large groups' events go in with `COPY` here (two round trips).
    async fn write(
        &mut self,
        connection: &Connection,
        batches: &[&NewBatch],
    ) -> Result<Written, AppendError> {
        self.apply_back_pressure().await?;
        let client: &Object = &connection.client;
        if self.filter.is_none() {
            // Loading reads every hash page of the runs (about 160 MB at 10M entries): done before
            // the append lock is taken, so that appenders in other processes are not held up
            // meanwhile. The runs only grow, and `refresh_recent` reads under the lock every entry
            // from where they ended when the load began.
            self.filter = Some(load_filter(client, &mut self.recent).await?);
        }

        // Within a chain (this task holds the turn lock), on top of the newest committing group.
        let chained = match (self.turn, self.committing.back(), &self.frontier) {
            (Some(_), Some(newest), Some(_)) => newest.outcome.is_some(),
            _ => false,
        };
        let mut begun = false;
        let mut on_top = None;
        if chained {
            // What the committing tasks saw with their last statements: no round trip here.
            if self.signals.turn_wanted.swap(false, Ordering::Relaxed) {
                // Another appender waits for its turn: end the chain, and let it go first.
                self.drain().await;
                self.release_turn(Some(connection)).await?;
            } else {
                on_top = self
                    .committing
                    .back_mut()
                    .and_then(|newest| newest.outcome.take());
                // The runs only grow: where a committing task saw them end bounds the tail kept.
                let runs_end = self.signals.runs_end.load(Ordering::Relaxed);
                if runs_end > self.runs_end {
                    self.recent.trim(runs_end, self.config.recent_keep);
                    self.runs_end = runs_end;
                }
            }
        }

        let (size, frontier) = match (on_top.is_some(), self.frontier.take()) {
            (true, Some(frontier)) => (frontier.size(), frontier),
            (_, known) => {
                // The log as it is, under the append lock; the first group of a chain takes the
                // turn lock first.
                let take_turn = self.turn.is_none();
                let (began, turned, locked, state) = tokio::join!(
                    client.batch_execute("BEGIN"),
                    async {
                        if take_turn {
                            client
                                .execute(&connection.lock_turn, &[&locks::TURN])
                                .await
                                .map(|_| ())
                        } else {
                            Ok(())
                        }
                    },
                    client.execute(&connection.lock, &[&locks::SEQUENCER]),
                    client.query_one(&connection.state, &[]),
                );
                began?;
                begun = true;
                turned?;
                if take_turn {
                    self.turn = Some(connection.backend);
                }
                locked?;
                let state = state?;
                let runs_end = tree_size_from_db(state.get(0))?.get();
                let size = tree_size_from_db(state.get(1))?;
                let frontier = match known {
                    Some(frontier) if frontier.size() == size => frontier,
                    _ => load_frontier(client, size).await?,
                };
                let filter = match self.filter.as_mut() {
                    Some(filter) if self.recent.end <= size.get() => filter,
                    _ => self
                        .filter
                        .insert(load_filter(client, &mut self.recent).await?),
                };
                refresh_recent(client, &mut self.recent, filter, size.get()).await?;
                self.recent.trim(runs_end, self.config.recent_keep);
                self.runs_end = runs_end;
                (size, frontier)
            }
        };
        let Some(filter) = self.filter.as_mut() else {
            return Err(AppendError::Stopped);
        };
        // Normally empty: entries neither in the runs nor in memory, when the runs were deleted to
        // be rebuilt after this task forgot those entries.
        let uncovered = self.runs_end..self.recent.start.max(self.runs_end);

        // Known at once: in the tail. New at once: ruled out by the filter. The rest are looked up
        // in the runs, which cover every entry below the tail.
        let mut known: HashMap<[u8; 32], u64> = HashMap::new();
        let mut maybe: Vec<[u8; 32]> = Vec::new();
        let mut seen: HashSet<[u8; 32]> = HashSet::new();
        for batch in batches {
            for entry in batch.entries() {
                let hash = entry.event_hash().as_bytes();
                if let Some(&leaf) = self.recent.leaves.get(hash) {
                    known.insert(*hash, leaf);
                } else if filter.may_contain(runs::hash_key(hash)) && seen.insert(*hash) {
                    maybe.push(*hash);
                }
            }
        }
        if !maybe.is_empty() {
            known.extend(find_hashes(client, &maybe, uncovered).await?);
        }

        let planned = plan(&self.recent, known, batches, size.get())?;
        let (bundles, leaf_hashes) = encode_records(batches, &planned)?;
        let mut frontier = frontier;
        let tiles = frontier
            .append(&leaf_hashes)
            .map_err(|_| AppendError::TreeFull)?;
        // Large groups go in with COPY now; small ones with one INSERT sent together with the
        // rest of the transaction by the committing task.
        let copied = planned.new.len() > COPY_ABOVE;
        if copied {
            let (hashes, events) = event_columns(batches, &planned);
            let (began, copy) = tokio::join!(
                begin(client, begun),
                copy_entries(
                    client,
                    &connection.copy_events,
                    planned.first_leaf,
                    &hashes,
                    &events,
                ),
            );
            began?;
            copy?;
            begun = true;
        }

        // From here on, what this task knows is the log as it will be once the group commits;
        // if it does not, the committing task says so and everything is read again.
        for (offset, &(batch, entry)) in planned.new.iter().enumerate() {
            let hash = *batches[batch].entries()[entry].event_hash().as_bytes();
            self.recent
                .leaves
                .insert(hash, planned.first_leaf + offset as u64);
            filter.insert(runs::hash_key(&hash));
        }
        self.recent.end = frontier.size().get();
        self.frontier = Some(frontier);
        Ok(Written {
            begun,
            planned,
            copied,
            bundles,
            tiles,
            on_top,
        })
    }

    /// Hands the written group to a task that finishes its transaction and answers its callers.
    fn commit(&mut self, connection: Connection, group: Vec<Request>, written: Written) {
        let (told, outcome) = oneshot::channel();
        let task = tokio::spawn(finish(
            connection,
            group,
            written,
            told,
            Arc::clone(self.store.handoff()),
            Arc::clone(&self.counters),
            Arc::clone(&self.signals),
        ));
        self.committing.push_back(Committing {
            task,
            outcome: Some(outcome),
        });
    }

    /// Runs indexing steps until the lookup tables trail by at most half the allowed lag, if they
    /// trail by more than it.
    async fn apply_back_pressure(&mut self) -> Result<(), AppendError> {
        let lag = self.recent.end.saturating_sub(self.runs_end);
        if lag <= self.config.max_index_lag {
            return Ok(());
        }
        let index_error = |e| AppendError::Index(Arc::new(e));
        let mut watermark = self.indexer.watermark().await.map_err(index_error)?;
        while self.recent.end.saturating_sub(watermark) > self.config.max_index_lag / 2 {
            if self
                .indexer
                .step(LockWait::Wait)
                .await
                .map_err(index_error)?
                == 0
            {
                break;
            }
            watermark = self.indexer.watermark().await.map_err(index_error)?;
        }
        // `recent` is trimmed by the append, against where the runs end (which a rebuild of the
        // runs may leave below the watermark).
        Ok(())
    }
}

/// Tells every caller of the group why it failed.
fn fail(group: Vec<Request>, error: &AppendError) {
    tracing::warn!(error = %super::indexer::error_chain(error), "append failed");
    for request in group {
        let _ = request.reply.send(Err(error.clone()));
    }
}

/// Why a committing task did not commit.
enum NotCommitted {
    /// The group below did not commit, or the log does not end where this one begins.
    Below,
    Failed(AppendError),
}

impl From<tokio_postgres::Error> for NotCommitted {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Failed(error.into())
    }
}

impl From<AppendError> for NotCommitted {
    fn from(error: AppendError) -> Self {
        Self::Failed(error)
    }
}

/// The committing task: writes the rest of the group, commits, tells the group on top whether it
/// committed, hands the lookup keys to the indexer and answers the callers.
async fn finish(
    connection: Connection,
    group: Vec<Request>,
    written: Written,
    told: oneshot::Sender<bool>,
    handoff: Arc<KeyHandoff>,
    counters: Arc<Counters>,
    signals: Arc<Signals>,
) -> Finished {
    let mut written = written;
    let below = written.on_top.take();
    let on_top = below.is_some();
    let backend = connection.backend;
    let batches: Vec<&NewBatch> = group.iter().map(|request| &request.batch).collect();
    let outcome = write_and_commit(&connection, &batches, &written, below, &signals).await;
    let planned = written.planned;
    let _ = told.send(outcome.is_ok());
    match outcome {
        Ok(()) => {
            counters.committed.fetch_add(1, Ordering::Relaxed);
            if on_top {
                counters.on_top.fetch_add(1, Ordering::Relaxed);
            }
            hand_off(&handoff, &batches, &planned);
            for (request, result) in group.into_iter().zip(planned.results) {
                let _ = request.reply.send(Ok(result));
            }
            Finished {
                connection: Some(connection),
                backend,
                outcome: Outcome::Committed,
            }
        }
        Err(NotCommitted::Below) => Finished {
            connection: Some(connection),
            backend,
            outcome: Outcome::Requeued(group),
        },
        Err(NotCommitted::Failed(error)) => {
            drop(connection);
            fail(group, &error);
            Finished {
                connection: None,
                backend,
                outcome: Outcome::Failed,
            }
        }
    }
}

/// The group's last round trips: the small inserts and `COMMIT` pipelined. On top of another
/// group, the transaction commits only once that group has committed (after the inserts, unless
/// it has committed already), and rolls back if it did not. With the inserts, in the same round
/// trip: whether another appender waits for its turn, and where the lookup runs end.
async fn write_and_commit(
    connection: &Connection,
    batches: &[&NewBatch],
    written: &Written,
    below: Option<oneshot::Receiver<bool>>,
    signals: &Signals,
) -> Result<(), NotCommitted> {
    let client: &Object = &connection.client;
    let planned = &written.planned;
    let (hashes, events) = if written.copied {
        (Vec::new(), Vec::new())
    } else {
        event_columns(batches, planned)
    };
    let first = i64::try_from(planned.first_leaf).unwrap_or(i64::MAX);
    let inserts = async {
        let (began, inserted, bundled, tiled, signed, waiting, state) = tokio::join!(
            begin(client, written.begun),
            insert_entries(client, &connection.insert_events, first, &hashes, &events),
            write_bundles(client, &connection.bundles, &written.bundles),
            write_tiles(client, &connection.tiles, &written.tiles),
            write_batches(client, &connection.batches, batches, planned),
            client.query_one(&connection.waiting, &[&locks::TURN]),
            client.query_one(&connection.state, &[]),
        );
        // Hints for the appending task, read in the same round trip: whether another appender
        // waits for its turn, and where the lookup runs end.
        if waiting.is_ok_and(|waiting| waiting.get::<_, bool>(0)) {
            signals.turn_wanted.store(true, Ordering::Relaxed);
        }
        if let Some(runs_end) = state
            .ok()
            .and_then(|row| u64::try_from(row.get::<_, i64>(0)).ok())
        {
            signals.runs_end.fetch_max(runs_end, Ordering::Relaxed);
        }
        began?;
        inserted.and(bundled).and(tiled).and(signed)
    };
    // Whether the group below committed, if known yet.
    let below = match below {
        None => Ok(true),
        Some(mut below) => match below.try_recv() {
            Ok(committed) => Ok(committed),
            Err(oneshot::error::TryRecvError::Closed) => Ok(false),
            Err(oneshot::error::TryRecvError::Empty) => Err(below),
        },
    };
    let commit = match below {
        Ok(true) => {
            let (inserted, committed) = tokio::join!(inserts, client.batch_execute("COMMIT"));
            // A failed statement turns the COMMIT into a rollback: check the statements first.
            inserted?;
            committed?;
            return Ok(());
        }
        Ok(false) => false,
        Err(below) => {
            inserts.await?;
            below.await.unwrap_or(false)
        }
    };
    if !commit {
        client.batch_execute("ROLLBACK").await?;
        return Err(NotCommitted::Below);
    }
    client.batch_execute("COMMIT").await?;
    Ok(())
}

/// Sends `BEGIN` on the first poll, unless the transaction has begun.
async fn begin(client: &Client, begun: bool) -> Result<(), tokio_postgres::Error> {
    if begun {
        Ok(())
    } else {
        client.batch_execute("BEGIN").await
    }
}

/// Hands the lookup keys of the committed entries to the indexer, when every new entry has them
/// (a run with a gap would be read back from the database anyway).
fn hand_off(handoff: &KeyHandoff, batches: &[&NewBatch], planned: &Planned) {
    let handed: Option<Vec<HandedKeys>> = planned
        .new
        .iter()
        .map(|&(batch, entry)| {
            let entry = &batches[batch].entries()[entry];
            entry.lookup_keys().map(|keys| HandedKeys {
                event_hash: *entry.event_hash().as_bytes(),
                keys: keys.clone(),
            })
        })
        .collect();
    if let Some(handed) = handed {
        handoff.publish(planned.first_leaf, handed);
    }
}

/// Rebuilds the right edge of the tree of `size` leaves from its stored partial tiles.
async fn load_frontier<C: GenericClient>(
    client: &C,
    size: TreeSize,
) -> Result<TileFrontier, AppendError> {
    let ids: Vec<TileId> = tiles_of_tree(size).filter(|id| !id.is_full()).collect();
    let tiles = read_tiles(client, &ids).await?;
    TileFrontier::from_partial_tiles(size, tiles)
        .map_err(|error| AppendError::CorruptFrontier(error.to_string()))
}

/// Loads the filter with every event hash the lookup runs hold, and starts `recent` where the
/// runs ended before they were read (the entries from there on are read by [`refresh_recent`]).
async fn load_filter(client: &Object, recent: &mut Recent) -> Result<HashFilter, AppendError> {
    // Read first: the runs only grow (a merge replaces runs by one covering the same entries), so
    // the pages read next cover at least this much.
    let runs_end: i64 = client
        .query_one("SELECT coalesce(max(end_leaf), 0) FROM lookup_runs", &[])
        .await?
        .get(0);
    let mut filter = HashFilter::new();
    runs::for_each_key(client, Kind::Hash, |key| filter.insert(key)).await?;
    recent.reset(u64::try_from(runs_end).unwrap_or(0));
    tracing::info!(
        hashes = filter.len(),
        bytes = filter.bytes(),
        "sequencer loaded the event hash filter from the lookup runs"
    );
    Ok(filter)
}

/// Brings `recent` and the filter up to `size`, reading what other processes appended since this
/// task last looked.
async fn refresh_recent(
    client: &Object,
    recent: &mut Recent,
    filter: &mut HashFilter,
    size: u64,
) -> Result<(), AppendError> {
    if recent.end >= size {
        return Ok(());
    }
    let from = i64::try_from(recent.end).unwrap_or(i64::MAX);
    let until = i64::try_from(size).unwrap_or(i64::MAX);
    let statement = client
        .prepare_cached(&packs::hashes_in_range("$1", "$2"))
        .await?;
    for row in client.query(&statement, &[&from, &until]).await? {
        let leaf: i64 = row.get(0);
        let hash: &[u8] = row.get(1);
        if let (Ok(hash), Ok(leaf)) = (<[u8; 32]>::try_from(hash), u64::try_from(leaf)) {
            recent.leaves.insert(hash, leaf);
            filter.insert(runs::hash_key(&hash));
        }
    }
    recent.end = size;
    Ok(())
}

/// Decides, for every entry of the group, whether it is new (and its leaf index) or already in
/// the log (in the tail, or `known` from the lookup table).
fn plan(
    recent: &Recent,
    mut known: HashMap<[u8; 32], u64>,
    batches: &[&NewBatch],
    size: u64,
) -> Result<Planned, AppendError> {
    let mut results = Vec::with_capacity(batches.len());
    let mut new = Vec::new();
    let mut next = size;
    for (b, batch) in batches.iter().enumerate() {
        let mut batch_results = Vec::with_capacity(batch.len());
        for (e, entry) in batch.entries().iter().enumerate() {
            let hash = entry.event_hash().as_bytes();
            let existing = recent.leaves.get(hash).or_else(|| known.get(hash)).copied();
            let (leaf, existing) = match existing {
                Some(leaf) => (leaf, true),
                None => {
                    let leaf = next;
                    next += 1;
                    known.insert(*hash, leaf);
                    new.push((b, e));
                    (leaf, false)
                }
            };
            let leaf_index = LeafIndex::new(leaf).map_err(|_| AppendError::TreeFull)?;
            batch_results.push(AppendResult {
                leaf_index,
                existing,
            });
        }
        results.push(batch_results);
    }
    Ok(Planned {
        results,
        new,
        first_leaf: size,
    })
}

/// The leaf records of the planned new entries, cut into entry bundle rows, and their leaf hashes,
/// in leaf order.
fn encode_records(
    batches: &[&NewBatch],
    planned: &Planned,
) -> Result<(BundleRows, Vec<Hash>), AppendError> {
    let mut records = Vec::with_capacity(planned.new.len());
    let mut leaf_hashes = Vec::with_capacity(planned.new.len());
    for &(batch, entry) in &planned.new {
        let record = batches[batch].entries()[entry].record().encode();
        leaf_hashes.push(ledger::hash::leaf_hash(&record));
        records.push(record);
    }
    Ok((BundleRows::new(planned.first_leaf, &records)?, leaf_hashes))
}

/// The `event_hash` and `event` columns of the planned new entries, in leaf order.
fn event_columns<'a>(batches: &[&'a NewBatch], planned: &Planned) -> (Vec<&'a [u8]>, Vec<&'a str>) {
    planned
        .new
        .iter()
        .map(|&(batch, entry)| {
            let entry = &batches[batch].entries()[entry];
            (entry.event_hash().as_bytes().as_slice(), entry.event())
        })
        .unzip()
}

/// `COPY`s the entries, from leaf `first` on, into `event_packs` (two round trips, not
/// pipelinable). The packs are encoded here in PostgreSQL's binary COPY format straight into large
/// `CopyData` messages (no per-row future or dynamically typed parameter).
async fn copy_entries(
    client: &Client,
    copy: &Statement,
    first: u64,
    hashes: &[&[u8]],
    events: &[&str],
) -> Result<(), AppendError> {
    let sink = client.copy_in::<_, Bytes>(copy).await?;
    pin_mut!(sink);
    let mut encoder = PackEncoder::new(COPY_CHUNK_BYTES + 64 * 1024);
    for pack in packs::split(events.iter().copied()) {
        let leaf = i64::try_from(first + pack.start as u64).unwrap_or(i64::MAX);
        encoder.pack(leaf, &hashes[pack.clone()], &events[pack]);
        if encoder.len() >= COPY_CHUNK_BYTES {
            sink.as_mut().send(encoder.take()).await?;
        }
    }
    sink.as_mut().send(encoder.finish()).await?;
    sink.finish().await?;
    Ok(())
}

/// The size at which encoded packs are sent as one `CopyData` message.
const COPY_CHUNK_BYTES: usize = 512 * 1024;

/// Inserts the entries, from leaf `first` on, into `event_packs` with one statement. Sends it on the first
/// poll, so that it can be pipelined with the rest of the transaction.
async fn insert_entries(
    client: &Client,
    insert: &Statement,
    first: i64,
    hashes: &[&[u8]],
    events: &[&str],
) -> Result<(), AppendError> {
    if hashes.is_empty() {
        return Ok(());
    }
    let mut all = Vec::with_capacity(32 * hashes.len());
    for hash in hashes {
        all.extend_from_slice(hash);
    }
    let (starts, ends): (Vec<i32>, Vec<i32>) = packs::split(events.iter().copied())
        .into_iter()
        .map(|pack| (position(pack.start), position(pack.end)))
        .unzip();
    client
        .execute(insert, &[&first, &all, &events, &starts, &ends])
        .await?;
    Ok(())
}

/// A position within a group (at most `max_group` entries).
fn position(offset: usize) -> i32 {
    i32::try_from(offset).unwrap_or(i32::MAX)
}

/// Inserts the entry bundle rows holding the new leaf records. Sends its statement on the first
/// poll, so that it can be pipelined.
async fn write_bundles(
    client: &Client,
    insert: &Statement,
    rows: &BundleRows,
) -> Result<(), AppendError> {
    if rows.is_empty() {
        return Ok(());
    }
    client
        .execute(
            insert,
            &[
                &rows.bundle_indexes,
                &rows.firsts,
                &rows.widths,
                &rows.entries,
            ],
        )
        .await?;
    Ok(())
}

/// Sends its statement on the first poll (no await before it), so that it can be pipelined.
async fn write_tiles(
    client: &Client,
    insert: &Statement,
    tiles: &[Tile],
) -> Result<(), AppendError> {
    if tiles.is_empty() {
        return Ok(());
    }
    let levels: Vec<i16> = tiles.iter().map(|t| i16::from(t.id().level())).collect();
    let indexes: Vec<i64> = tiles.iter().map(|t| index_to_db(t.id().index())).collect();
    let widths: Vec<i16> = tiles.iter().map(|t| width_to_db(t.id().width())).collect();
    let hashes: Vec<Vec<u8>> = tiles.iter().map(Tile::to_bytes).collect();
    client
        .execute(insert, &[&levels, &indexes, &widths, &hashes])
        .await?;
    Ok(())
}

/// Inserts the signed batches that contributed at least one new entry (once per statement). Sends
/// its statement on the first poll, so that it can be pipelined.
async fn write_batches(
    client: &Client,
    insert: &Statement,
    batches: &[&NewBatch],
    planned: &Planned,
) -> Result<(), AppendError> {
    let mut first_leaf: HashMap<usize, i64> = HashMap::new();
    for (offset, &(batch, _)) in planned.new.iter().enumerate() {
        first_leaf.entry(batch).or_insert_with(|| {
            i64::try_from(planned.first_leaf + offset as u64).unwrap_or(i64::MAX)
        });
    }
    let mut hashes = Vec::new();
    let mut statements = Vec::new();
    let mut algorithms = Vec::new();
    let mut signatures = Vec::new();
    let mut event_hashes = Vec::new();
    let mut firsts = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let (Some(signed), Some(first)) = (batch.signed(), first_leaf.get(&b)) else {
            continue;
        };
        hashes.push(signed.statement().hash().as_bytes().to_vec());
        statements.push(signed.statement().encode());
        algorithms.push(signed.signature().algorithm());
        signatures.push(signed.signature().to_bytes());
        let mut all = Vec::with_capacity(32 * signed.event_hashes().len());
        for hash in signed.event_hashes() {
            all.extend_from_slice(hash.as_bytes());
        }
        event_hashes.push(all);
        firsts.push(*first);
    }
    if hashes.is_empty() {
        return Ok(());
    }
    client
        .execute(
            insert,
            &[
                &hashes,
                &statements,
                &algorithms,
                &signatures,
                &event_hashes,
                &firsts,
            ],
        )
        .await?;
    Ok(())
}
