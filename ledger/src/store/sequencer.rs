//! [`Sequencer`]: appends entries to the log, durably, one transaction per group of batches.
//!
//! Every append runs under the log's advisory lock, so that any number of processes may append to
//! one database: the lock holder reads the tree size, skips events whose hash the log already has,
//! writes the new events with `COPY ... BINARY`, the tiles that changed and the device batches, and
//! commits (with `synchronous_commit` on) before any caller hears back. After the commit, the
//! lookup keys the new entries carry are handed to the store's indexer (see `keys`).
//!
//! Within a process, appends are queued to one task that takes every batch waiting and commits them
//! together (group commit): concurrent callers share one transaction, one lock round and one WAL
//! flush. The task keeps the tree's right edge ([`TileFrontier`]), the hashes of the latest entries
//! (at least those the lookup runs do not cover yet) and a filter of every event hash in the log
//! ([`HashFilter`]) in memory, and reads what another process appended before it appends.
//!
//! Duplicate detection: an event in the in-memory tail is known at once; an event the filter rules
//! out (nearly every new event) is new without asking the database; the few others are looked up
//! in the lookup runs by hash (which cover every entry below the tail) in one query, and their whole
//! hashes compared with the stored events'. The filter is loaded from the runs' hash pages when the
//! task (re)connects. If the indexer falls too far behind, the sequencer runs indexing steps itself
//! before appending (back-pressure), so the tail stays bounded.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use deadpool_postgres::{GenericClient, Object};
use futures_util::{SinkExt, pin_mut};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Statement};

use crate::hash::Hash;
use crate::size::{LeafIndex, TreeSize};
use crate::tiles::{Tile, TileFrontier, TileId, tiles_of_tree};

use super::bundles::BundleRows;
use super::entry::{AppendResult, NewBatch};
use super::filter::HashFilter;
use super::indexer::{Indexer, LockWait};
use super::keys::HandedKeys;
use super::locks;
use super::log::{ReadError, Store, index_to_db, read_tiles, tree_size_from_db, width_to_db};
use super::lookup::find_hashes;
use super::runs::{self, Kind};

/// The most entries committed in one transaction (a group of queued batches).
pub const DEFAULT_MAX_GROUP: usize = 20_000;

/// How many entries the lookup tables may trail the log by before appends wait for indexing.
pub const DEFAULT_MAX_INDEX_LAG: u64 = 1_000_000;

/// How many append requests may wait in the queue.
const QUEUE_DEPTH: usize = 1024;

const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
/// Where the lookup runs end (every entry below is in them) and the tree size.
const SELECT_STATE: &str = "
    SELECT (SELECT coalesce(max(end_leaf), 0) FROM lookup_runs),
           (SELECT coalesce(max(leaf_index) + 1, 0) FROM events)";
const SELECT_RECENT: &str = "
    SELECT leaf_index, event_hash FROM events WHERE leaf_index >= $1 AND leaf_index < $2";
/// The least number of latest entries whose hashes stay in memory by default (a client retrying
/// a batch it sent moments ago is answered without a lookup).
pub const DEFAULT_RECENT_KEEP: u64 = 100_000;
const COPY_EVENTS: &str = "COPY events (leaf_index, event_hash, event) FROM STDIN BINARY";
const INSERT_EVENTS: &str = "
    INSERT INTO events (leaf_index, event_hash, event)
    SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[])";
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
    Bundle(#[from] crate::tiles::EntryBundleError),
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
        let worker = Worker {
            store: store.clone(),
            indexer: Indexer::new(store),
            config,
            connection: None,
            frontier: None,
            recent: Recent::default(),
            filter: None,
            runs_end: 0,
        };
        let task = tokio::spawn(worker.run(queue));
        Self {
            requests,
            task: Arc::new(task),
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
    /// A connection kept for appends, with its prepared statements; dropped after an error.
    connection: Option<Connection>,
    /// The right edge of the tree as of the last append by this task; `None` when unknown.
    frontier: Option<TileFrontier>,
    recent: Recent,
    /// Every event hash of entries `0..recent.end` (and maybe more); `None` when not loaded.
    filter: Option<HashFilter>,
    /// Where the lookup runs ended at the last append.
    runs_end: u64,
}

/// The sequencer's connection and the statements it runs, prepared once so that the statements
/// of one round trip can be sent together (pipelined) in order.
struct Connection {
    client: Object,
    lock: Statement,
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
        Ok(Self {
            lock: client.prepare_cached(LOCK).await?,
            state: client.prepare_cached(SELECT_STATE).await?,
            copy_events: client.prepare_cached(COPY_EVENTS).await?,
            insert_events: client.prepare_cached(INSERT_EVENTS).await?,
            bundles: client.prepare_cached(INSERT_BUNDLES).await?,
            tiles: client.prepare_cached(INSERT_TILES).await?,
            batches: client.prepare_cached(INSERT_BATCHES).await?,
            client,
        })
    }
}

/// The rows one transaction writes.
struct Planned {
    results: Vec<Vec<AppendResult>>,
    /// Indexes (batch, entry) of the entries to append, in leaf order.
    new: Vec<(usize, usize)>,
    first_leaf: u64,
}

impl Worker {
    async fn run(mut self, mut queue: mpsc::Receiver<Request>) {
        while let Some(first) = queue.recv().await {
            let mut group = vec![first];
            let mut count = group[0].batch.len();
            while count < self.config.max_group {
                match queue.try_recv() {
                    Ok(request) => {
                        count += request.batch.len();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            let batches: Vec<&NewBatch> = group.iter().map(|request| &request.batch).collect();
            let outcome = self.append_group(&batches).await;
            if outcome.is_err() {
                // Whatever we knew may be stale or the connection broken (possibly inside a
                // transaction): start afresh next time; closing the connection rolls back.
                self.connection = None;
                self.frontier = None;
                self.recent = Recent::default();
                self.filter = None;
            }
            match outcome {
                Ok(results) => {
                    for (request, result) in group.into_iter().zip(results) {
                        let _ = request.reply.send(Ok(result));
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %super::indexer::error_chain(&error), "append failed");
                    for request in group {
                        let _ = request.reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }

    /// One transaction in two round trips: (BEGIN, lock, state, lookup of the hashes) pipelined,
    /// then (events, tiles, batches, COMMIT) pipelined; a large group's events go first with COPY
    /// (two more). Reloading the right edge or the tail of the log after another process appended
    /// costs one more each.
    async fn append_group(
        &mut self,
        batches: &[&NewBatch],
    ) -> Result<Vec<Vec<AppendResult>>, AppendError> {
        self.apply_back_pressure().await?;
        if self.connection.is_none() {
            self.connection = Some(Connection::open(&self.store).await?);
        }
        let Some(connection) = self.connection.as_ref() else {
            return Err(AppendError::Stopped);
        };
        let client = &connection.client;
        if self.filter.is_none() {
            // Loading reads every hash page of the runs (about 160 MB at 10M entries): done before
            // the append lock is taken, so that appenders in other processes are not held up
            // meanwhile. The runs only grow, and `refresh_recent` reads under the lock every entry
            // from where they ended when the load began.
            self.filter = Some(load_filter(client, &mut self.recent).await?);
        }

        let (begun, locked, state) = tokio::join!(
            client.batch_execute("BEGIN"),
            client.execute(&connection.lock, &[&locks::SEQUENCER]),
            client.query_one(&connection.state, &[]),
        );
        begun?;
        locked?;
        let state = state?;
        let runs_end = tree_size_from_db(state.get(0))?.get();
        let size = tree_size_from_db(state.get(1))?;

        let mut frontier = match self.frontier.take() {
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
        // Normally empty: entries neither in the runs nor in memory, when the runs were deleted to
        // be rebuilt after this task forgot those entries.
        let uncovered = runs_end..self.recent.start.max(runs_end);

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
        let (rows, leaf_hashes) = NewRows::encode(batches, &planned)?;
        let changed = frontier
            .append(&leaf_hashes)
            .map_err(|_| AppendError::TreeFull)?;
        // Large groups go in with COPY; small ones with one INSERT sent together with the rest,
        // so that the whole append takes two round trips.
        let copied = rows.len() > COPY_ABOVE;
        if copied {
            copy_entries(client, &connection.copy_events, &rows).await?;
        }
        let no_rows = NewRows {
            leaves: Vec::new(),
            event_hashes: Vec::new(),
            events: Vec::new(),
            bundles: BundleRows::default(),
        };
        let (inserted, bundled, tiles, signed, committed) = tokio::join!(
            insert_entries(
                client,
                &connection.insert_events,
                if copied { &no_rows } else { &rows }
            ),
            write_bundles(client, &connection.bundles, &rows.bundles),
            write_tiles(client, &connection.tiles, &changed),
            write_batches(client, &connection.batches, batches, &planned),
            client.batch_execute("COMMIT"),
        );
        // A failed statement turns the COMMIT into a rollback: check the statements first.
        inserted?;
        bundled?;
        tiles?;
        signed?;
        committed?;

        for (offset, &(batch, entry)) in planned.new.iter().enumerate() {
            let hash = *batches[batch].entries()[entry].event_hash().as_bytes();
            self.recent
                .leaves
                .insert(hash, planned.first_leaf + offset as u64);
            filter.insert(runs::hash_key(&hash));
        }
        // Committed: hand the lookup keys to the indexer, when every new entry has them (a run
        // with a gap would be read back from the database anyway).
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
            self.store.handoff().publish(planned.first_leaf, handed);
        }
        self.recent.end = frontier.size().get();
        self.frontier = Some(frontier);
        Ok(planned.results)
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
    let statement = client.prepare_cached(SELECT_RECENT).await?;
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

/// The new rows of `events` and `entry_bundles`, encoded.
struct NewRows<'a> {
    leaves: Vec<i64>,
    event_hashes: Vec<&'a [u8]>,
    events: Vec<&'a str>,
    /// The leaf records, cut into entry bundle rows.
    bundles: BundleRows,
}

impl<'a> NewRows<'a> {
    /// Encodes the planned new entries; returns them and their leaf hashes, in leaf order.
    fn encode(
        batches: &[&'a NewBatch],
        planned: &Planned,
    ) -> Result<(Self, Vec<Hash>), AppendError> {
        let count = planned.new.len();
        let mut rows = Self {
            leaves: Vec::with_capacity(count),
            event_hashes: Vec::with_capacity(count),
            events: Vec::with_capacity(count),
            bundles: BundleRows::default(),
        };
        let mut records = Vec::with_capacity(count);
        let mut leaf_hashes = Vec::with_capacity(count);
        for (offset, &(batch, entry)) in planned.new.iter().enumerate() {
            let entry = &batches[batch].entries()[entry];
            let record = entry.record().encode();
            leaf_hashes.push(crate::hash::leaf_hash(&record));
            rows.leaves
                .push(i64::try_from(planned.first_leaf + offset as u64).unwrap_or(i64::MAX));
            rows.event_hashes
                .push(entry.event_hash().as_bytes().as_slice());
            records.push(record);
            rows.events.push(entry.event());
        }
        rows.bundles = BundleRows::new(planned.first_leaf, &records)?;
        Ok((rows, leaf_hashes))
    }

    fn len(&self) -> usize {
        self.leaves.len()
    }
}

/// `COPY`s the rows into `events` (two round trips, not pipelinable). The rows are encoded here in
/// PostgreSQL's binary COPY format straight into large `CopyData` messages (no per-row future or
/// dynamically typed parameter).
async fn copy_entries(
    client: &Client,
    copy: &Statement,
    rows: &NewRows<'_>,
) -> Result<(), AppendError> {
    let sink = client.copy_in::<_, Bytes>(copy).await?;
    pin_mut!(sink);
    let mut encoder = CopyEncoder::new();
    for i in 0..rows.len() {
        encoder.row(rows.leaves[i], rows.event_hashes[i], rows.events[i]);
        if encoder.len() >= COPY_CHUNK_BYTES {
            sink.as_mut().send(encoder.take()).await?;
        }
    }
    sink.as_mut().send(encoder.finish()).await?;
    sink.finish().await?;
    Ok(())
}

/// The size at which an encoded chunk of rows is sent as one `CopyData` message.
const COPY_CHUNK_BYTES: usize = 512 * 1024;

/// Rows of `events` in PostgreSQL's binary COPY format: the signature, flags and header extension
/// length, then per row a field count and each field as a length and its bytes (big-endian), and a
/// trailer of -1.
struct CopyEncoder {
    buffer: BytesMut,
}

impl CopyEncoder {
    const SIGNATURE: &'static [u8; 11] = b"PGCOPY\n\xff\r\n\0";

    fn new() -> Self {
        let mut buffer = BytesMut::with_capacity(COPY_CHUNK_BYTES + 64 * 1024);
        buffer.put_slice(Self::SIGNATURE);
        buffer.put_i32(0); // flags: no OIDs
        buffer.put_i32(0); // no header extension
        Self { buffer }
    }

    /// One row: `(leaf_index bigint, event_hash bytea, event text)`.
    fn row(&mut self, leaf: i64, event_hash: &[u8], event: &str) {
        self.buffer.put_i16(3);
        self.buffer.put_i32(8);
        self.buffer.put_i64(leaf);
        for field in [event_hash, event.as_bytes()] {
            // Fields are far below 1 GiB (the request body limit bounds an event).
            self.buffer
                .put_i32(i32::try_from(field.len()).unwrap_or(i32::MAX));
            self.buffer.put_slice(field);
        }
    }

    fn len(&self) -> usize {
        self.buffer.len()
    }

    /// The rows encoded so far, to be sent.
    fn take(&mut self) -> Bytes {
        self.buffer.split().freeze()
    }

    /// The rest, with the trailer.
    fn finish(mut self) -> Bytes {
        self.buffer.put_i16(-1);
        self.buffer.freeze()
    }
}

/// Inserts the rows into `events` with one statement. Sends it on the first poll, so that it can
/// be pipelined with the rest of the transaction.
async fn insert_entries(
    client: &Client,
    insert: &Statement,
    rows: &NewRows<'_>,
) -> Result<(), AppendError> {
    if rows.len() == 0 {
        return Ok(());
    }
    client
        .execute(insert, &[&rows.leaves, &rows.event_hashes, &rows.events])
        .await?;
    Ok(())
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
