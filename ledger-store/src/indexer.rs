//! [`Indexer`]: the lookups (event hash, EPC, parent, location, time → leaf index) that trail the
//! append.
//!
//! The sequencer keeps the hot `events` table narrow: only its sequential primary key is indexed
//! while appending. The indexer takes the lookup keys of the entries past a watermark — from the
//! store's [`KeyHandoff`] when the sequencer of this process handed them over, otherwise by reading
//! the entries back and parsing their JSON — and writes, in one transaction with the watermark,
//! the event times of each block of [`TIME_BLOCK`] entries and one sorted run of event hash, EPC,
//! parent and location pairs (see [`runs`](super::runs)). Runs are merged in the background ([`Indexer::merge_step`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::Pool;
use futures_util::TryStreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::binary_copy::{BinaryCopyOutRow, BinaryCopyOutStream};
use tokio_postgres::types::{IsNull, ToSql, Type, accepts, to_sql_checked};

use ledger::record::{Attestation, LeafRecord};

use super::bundles::{BUNDLE, row_records};
use super::index_runs::{self, IndexAudit, IndexProblem, IndexReason, IndexRunError};
use super::keys::{HandedKeys, KeyHandoff, LookupKeys};
use super::locks;
use super::log::Writer;
use super::packs;
use super::runs::{self, DEFAULT_FAN_IN, DEFAULT_PAGE_PAIRS, Kind, MergeError, Pair, hash_key};

/// The most entries one indexing step takes.
pub const DEFAULT_INDEX_BATCH: u64 = 10_000;

/// How long the background indexer sleeps when it has caught up.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// How often the background merger looks for runs to merge when none were due.
const MERGE_POLL: Duration = Duration::from_millis(500);

/// How long the background indexer waits after a failed step before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

const SELECT_WATERMARK: &str = "SELECT indexed_size FROM index_watermark FOR UPDATE";
const UPDATE_WATERMARK: &str = "UPDATE index_watermark SET indexed_size = $1";
const INSERT_TIME_RANGES: &str =
    "INSERT INTO event_time_ranges (first_leaf, end_leaf, min_time, max_time)
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[])";

/// The entries of one row of `event_time_ranges` at most: a step's entries are described block by
/// block of this many (aligned on the leaf index, as entry bundles are), so that a few entries far
/// from their neighbours in time (events reported late, or a block of another day's events)
/// widen the ranges of their own block only, and a time range query reads the blocks it needs
/// rather than whole steps.
pub(crate) const TIME_BLOCK: i64 = 256;

/// Extends the lookups from the entries appended since the watermark, and merges lookup runs.
#[derive(Debug, Clone)]
pub struct Indexer {
    pool: Pool,
    handoff: Arc<KeyHandoff>,
    batch: u64,
    page_pairs: usize,
    fan_in: usize,
    /// How long the index heads of replaced checkpoints stay readable.
    head_retention: std::time::Duration,
}

/// Why an indexing step failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("failed to get a database connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    #[error("database query failed while indexing")]
    Query(#[source] tokio_postgres::Error),
    #[error("entry {expected} is missing from the events table (found {found} instead)")]
    Gap { expected: u64, found: i64 },
    #[error("the entries from {from} on, below the watermark, are missing from the events table")]
    Missing { from: u64 },
    #[error("the stored event hash of entry {leaf} is not 32 bytes")]
    BadHash { leaf: i64 },
    #[error("entry {leaf} has no readable leaf record in the entry bundles")]
    NoRecord { leaf: i64 },
    #[error("the lookup runs end at entry {runs_end}, past the watermark {watermark}")]
    RunsPastWatermark { runs_end: i64, watermark: i64 },
    #[error("failed to merge lookup runs")]
    Merge(#[source] MergeError),
    #[error("failed to write or merge the verifiable index")]
    IndexRuns(#[source] IndexRunError),
    #[error("the verifiable index ends at entry {index_end}, past the watermark {watermark}")]
    IndexPastWatermark { index_end: i64, watermark: i64 },
    #[error("the indexing thread failed")]
    Thread,
}

impl From<tokio_postgres::Error> for IndexError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Query(error)
    }
}

/// Whether a step waits for another indexer holding the lock, or gives up at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Wait for the lock (used to apply back-pressure).
    Wait,
    /// Return 0 at once if another indexer holds it.
    Skip,
}

impl Indexer {
    /// An indexer over the store's database, taking up to [`DEFAULT_INDEX_BATCH`] entries a step.
    pub fn new(store: &Writer) -> Self {
        Self {
            pool: store.pool().clone(),
            handoff: store.handoff().clone(),
            batch: DEFAULT_INDEX_BATCH,
            page_pairs: DEFAULT_PAGE_PAIRS,
            fan_in: DEFAULT_FAN_IN,
            head_retention: index_runs::HEAD_RETENTION,
        }
    }

    /// The same indexer keeping the verifiable index's head of a checkpoint (and the runs it
    /// lists) for `retention` after a newer checkpoint replaced it, so that readers with a view a
    /// moment old still prove against it (default [`index_runs::HEAD_RETENTION`], ten minutes).
    pub fn with_head_retention(mut self, retention: std::time::Duration) -> Self {
        self.head_retention = retention;
        self
    }

    /// The same indexer writing lookup pages of at most `pairs` pairs and merging `fan_in` runs
    /// of a level at a time (small values exercise paging and merging in tests).
    pub fn with_runs(mut self, pairs: usize, fan_in: usize) -> Self {
        self.page_pairs = pairs.max(1);
        self.fan_in = fan_in.max(2);
        self
    }

    /// The same indexer taking up to `batch` entries a step.
    pub fn with_batch(mut self, batch: u64) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The number of entries the lookup tables cover (entries `0..watermark`).
    pub async fn watermark(&self) -> Result<u64, IndexError> {
        let client = self.pool.get().await.map_err(IndexError::Pool)?;
        let size: i64 = client
            .query_one("SELECT indexed_size FROM index_watermark", &[])
            .await?
            .get(0);
        Ok(u64::try_from(size).unwrap_or(0))
    }

    /// Indexes up to one batch of entries past the watermark in one transaction; returns how many.
    pub async fn step(&self, wait: LockWait) -> Result<u64, IndexError> {
        let mut client = self.pool.get().await.map_err(IndexError::Pool)?;
        let transaction = client.transaction().await?;
        // The lookup tables and the watermark are derived and commit together: a step lost in a
        // crash is lost whole and redone from the entries, so its commit need not wait for the
        // WAL flush (the appends it would wait behind).
        transaction
            .batch_execute("SET LOCAL synchronous_commit = off")
            .await?;
        match wait {
            LockWait::Wait => {
                transaction
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&locks::INDEXER])
                    .await?;
            }
            LockWait::Skip => {
                let locked: bool = transaction
                    .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&locks::INDEXER])
                    .await?
                    .get(0);
                if !locked {
                    // Another process indexes: keys handed over here that it has covered are
                    // no longer needed.
                    let covered: i64 = transaction
                        .query_one("SELECT indexed_size FROM index_watermark", &[])
                        .await?
                        .get(0);
                    self.handoff
                        .forget_below(u64::try_from(covered).unwrap_or(0));
                    return Ok(0);
                }
            }
        }
        let from: i64 = transaction.query_one(SELECT_WATERMARK, &[]).await?.get(0);
        let runs_end = runs::runs_end(&transaction).await?;
        if runs_end > from {
            return Err(IndexError::RunsPastWatermark {
                runs_end,
                watermark: from,
            });
        }
        if runs_end < from {
            // The runs were dropped (the V3 migration, or an administrator rebuilding them):
            // rebuild them from the stored entries, up to the watermark, before going on.
            let (keys, count) = self.rebuild_keys(&transaction, runs_end, from).await?;
            runs::write_run(
                &transaction,
                runs_end,
                runs_end + count,
                &keys.pairs,
                self.page_pairs,
            )
            .await?;
            transaction.commit().await?;
            return Ok(u64::try_from(count).unwrap_or(0));
        }
        if let Some(stale) = runs::stale_run(&transaction).await? {
            // A run of keys derived otherwise (an older `runs::KEY_FORMAT`, V38): rebuilt from
            // its stored entries in this transaction, which deletes it too.
            let count = self.rebuild_run(&transaction, &stale).await?;
            transaction.commit().await?;
            return Ok(count);
        }
        let index_end = index_runs::index_end(&transaction).await?;
        if index_end > from {
            return Err(IndexError::IndexPastWatermark {
                index_end,
                watermark: from,
            });
        }
        if index_end < from {
            // The verifiable index is newer than the entries already indexed (the V20
            // migration): build its runs from the stored entries, up to the watermark, first.
            let (keys, count) = self.rebuild_keys(&transaction, index_end, from).await?;
            index_runs::write_run(&transaction, index_end, index_end + count, keys.index_pairs)
                .await
                .map_err(IndexError::IndexRuns)?;
            transaction.commit().await?;
            return Ok(u64::try_from(count).unwrap_or(0));
        }
        let handed = self.handoff.take(
            u64::try_from(from).unwrap_or(0),
            usize::try_from(self.batch).unwrap_or(usize::MAX),
        );
        let (keys, count) = if handed.is_empty() {
            let until = from.saturating_add(i64::try_from(self.batch).unwrap_or(i64::MAX));
            self.read_back(&transaction, from, until).await?
        } else {
            let count = i64::try_from(handed.len()).unwrap_or(i64::MAX);
            (Keys::of_handed(from, &handed), count)
        };
        if count == 0 {
            return Ok(0);
        }
        let end = from + count;

        runs::write_run(&transaction, from, end, &keys.pairs, self.page_pairs).await?;
        index_runs::write_run(&transaction, from, end, keys.index_pairs)
            .await
            .map_err(IndexError::IndexRuns)?;
        if !keys.blocks.is_empty() {
            let mut firsts = Vec::with_capacity(keys.blocks.len());
            let mut ends = Vec::with_capacity(keys.blocks.len());
            let mut earliest = Vec::with_capacity(keys.blocks.len());
            let mut latest = Vec::with_capacity(keys.blocks.len());
            for (block, (min, max)) in &keys.blocks {
                firsts.push((block * TIME_BLOCK).max(from));
                ends.push(((block + 1) * TIME_BLOCK).min(end));
                earliest.push(*min);
                latest.push(*max);
            }
            transaction
                .execute(INSERT_TIME_RANGES, &[&firsts, &ends, &earliest, &latest])
                .await?;
        }
        transaction.execute(UPDATE_WATERMARK, &[&end]).await?;
        transaction.commit().await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The keys of one step's worth of stored entries from `end`, where a derived table stops
    /// short of the watermark `watermark`, read back to rebuild it; refuses when none are stored
    /// (entries below the watermark missing from `events`: nothing to rebuild from).
    async fn rebuild_keys(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        end: i64,
        watermark: i64,
    ) -> Result<(Keys, i64), IndexError> {
        let until =
            watermark.min(end.saturating_add(i64::try_from(self.batch).unwrap_or(i64::MAX)));
        let (keys, count) = self.read_back(transaction, end, until).await?;
        if count == 0 {
            return Err(IndexError::Missing {
                from: u64::try_from(end).unwrap_or(0),
            });
        }
        Ok((keys, count))
    }

    /// Replaces the lookup run `stale` by runs of this build's keys over the same entries, one
    /// per step's worth of them (merged again later), and deletes it; returns how many entries it
    /// covers. Readers see the old run or the new ones, never neither.
    async fn rebuild_run(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        stale: &runs::RunInfo,
    ) -> Result<u64, IndexError> {
        runs::delete_run(transaction, stale.id).await?;
        let step = i64::try_from(self.batch).unwrap_or(i64::MAX);
        let mut at = stale.first_leaf;
        while at < stale.end_leaf {
            let until = stale.end_leaf.min(at.saturating_add(step));
            let (keys, count) = self.read_back(transaction, at, until).await?;
            if count < until - at {
                return Err(IndexError::Missing {
                    from: u64::try_from(at + count).unwrap_or(0),
                });
            }
            runs::write_run(transaction, at, until, &keys.pairs, self.page_pairs).await?;
            at = until;
        }
        tracing::info!(
            first_leaf = stale.first_leaf,
            end_leaf = stale.end_leaf,
            key_format = stale.key_format,
            "rebuilt a lookup run of an older key format"
        );
        Ok(u64::try_from(stale.end_leaf - stale.first_leaf).unwrap_or(0))
    }

    /// The sorted keys of the stored entries `from..until` (fewer if the log is shorter), read
    /// back and parsed, and how many entries that was.
    async fn read_back(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
        from: i64,
        until: i64,
    ) -> Result<(Keys, i64), IndexError> {
        // COPY takes no parameters; both bounds are integers formatted here.
        let pending = transaction
            .copy_out(&format!(
                "COPY ({}) TO STDOUT (FORMAT binary)",
                packs::in_range(&from.to_string(), &until.to_string())
            ))
            .await?;
        let rows: Vec<BinaryCopyOutRow> =
            BinaryCopyOutStream::new(pending, &[Type::INT8, Type::BYTEA, Type::TEXT])
                .try_collect()
                .await?;
        let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        if rows.is_empty() {
            return Ok((Keys::default(), 0));
        }
        let attestations = attestations(transaction, from, from + count).await?;
        // Parsing thousands of events is CPU work: off the async runtime.
        let keys = tokio::task::spawn_blocking(move || Keys::of_rows(from, &rows, &attestations))
            .await
            .map_err(|_| IndexError::Thread)??;
        Ok((keys, count))
    }

    /// Merges one group of lookup runs if one is due (see `ledger-store/src/runs.rs`), in its own
    /// transaction; returns how many runs were merged (0: none due, or another process merges).
    pub async fn merge_step(&self) -> Result<usize, IndexError> {
        let mut client = self.pool.get().await.map_err(IndexError::Pool)?;
        let transaction = client.transaction().await?;
        // Derived data, like the indexing steps: a merge lost in a crash leaves its inputs.
        transaction
            .batch_execute("SET LOCAL synchronous_commit = off")
            .await?;
        let locked: bool = transaction
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&locks::MERGER])
            .await?
            .get(0);
        if !locked {
            return Ok(0);
        }
        let mut merged = runs::merge_runs(&transaction, self.fan_in, self.page_pairs)
            .await
            .map_err(IndexError::Merge)?;
        merged += index_runs::merge_runs(&transaction, self.fan_in)
            .await
            .map_err(IndexError::IndexRuns)?;
        // Runs merged away that no head a checkpoint may still commit to lists: chosen under the
        // heads' lock, deleted after it is released (a top-level merge's are many rows).
        let gone = index_runs::drop_retired(&transaction, self.head_retention)
            .await
            .map_err(IndexError::IndexRuns)?;
        transaction.commit().await?;
        if !gone.is_empty() {
            let transaction = client.transaction().await?;
            transaction
                .batch_execute("SET LOCAL synchronous_commit = off")
                .await?;
            index_runs::delete_runs(&transaction, &gone).await?;
            transaction.commit().await?;
        }
        Ok(merged)
    }

    /// Recomputes every live run of the verifiable index from the stored events of its entries,
    /// and compares it with what is stored (the run's pair count and root, its pages, its nodes):
    /// what a monitor checks, from the database. One snapshot; each run is recomputed in memory
    /// (about 400 bytes an entry of the largest run).
    pub async fn audit_index(&self) -> Result<IndexAudit, IndexError> {
        let mut client = self.pool.get().await.map_err(IndexError::Pool)?;
        let transaction = index_runs::snapshot(&mut client).await?;
        let runs = index_runs::live_runs(&transaction).await?;
        let mut audit = IndexAudit {
            runs: runs.len(),
            entries: 0,
            pairs: 0,
            problem: None,
        };
        let step = i64::try_from(self.batch.max(1_000)).unwrap_or(i64::MAX);
        for (id, first, end, stored_pairs, root) in runs {
            let problem = |reason| Some(IndexProblem { first, end, reason });
            if first != audit.entries {
                audit.problem = problem(IndexReason::Cover {
                    expected: audit.entries,
                });
                break;
            }
            let mut pairs = Vec::new();
            let (first_leaf, end_leaf) = (
                i64::try_from(first).unwrap_or(i64::MAX),
                i64::try_from(end).unwrap_or(i64::MAX),
            );
            let mut at = first_leaf;
            while at < end_leaf {
                let until = end_leaf.min(at.saturating_add(step));
                let (keys, count) = self.read_back(&transaction, at, until).await?;
                if count < until - at {
                    audit.problem = problem(IndexReason::EntriesMissing {
                        from: u64::try_from(at + count).unwrap_or(0),
                    });
                    break;
                }
                pairs.extend(keys.index_pairs);
                at = until;
            }
            if audit.problem.is_some() {
                break;
            }
            let recomputed = ledger::index::MemoryRun::new(first, end, pairs);
            if let Some(reason) =
                index_runs::compare_run(&transaction, id, stored_pairs, &root, &recomputed).await?
            {
                audit.problem = problem(reason);
                break;
            }
            audit.entries = end;
            audit.pairs += stored_pairs;
        }
        transaction.commit().await?;
        Ok(audit)
    }

    /// Runs steps until the lookups cover every committed entry, then merges every run due.
    pub async fn catch_up(&self) -> Result<(), IndexError> {
        while self.step(LockWait::Wait).await? > 0 {}
        while self.merge_step().await? > 0 {}
        Ok(())
    }

    /// Runs steps in the background until [`IndexerHandle::shutdown`]: at once while entries are
    /// pending, every 100 ms when caught up, and again a second after a failure (logged).
    pub fn spawn(self) -> IndexerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let merger = self.clone();
        let mut merge_stopped = stop.subscribe();
        let merges = tokio::spawn(async move {
            loop {
                // A merge stopped half-way rolls back: its inputs stay, nothing is lost.
                let pause = tokio::select! {
                    result = merger.merge_step() => match result {
                        Ok(0) => MERGE_POLL,
                        Ok(_) => Duration::ZERO,
                        Err(error) => {
                            tracing::warn!(error = %error_chain(&error), "merging lookup runs failed");
                            RETRY_AFTER
                        }
                    },
                    _ = merge_stopped.changed() => return,
                };
                if !pause.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = merge_stopped.changed() => return,
                    }
                }
            }
        });
        let task = tokio::spawn(async move {
            loop {
                let pause = match self.step(LockWait::Skip).await {
                    Ok(count) if count >= self.batch => Duration::ZERO,
                    Ok(_) => IDLE_POLL,
                    Err(error) => {
                        tracing::warn!(error = %error_chain(&error), "lookup indexing failed");
                        RETRY_AFTER
                    }
                };
                if *stopped.borrow() {
                    return;
                }
                if !pause.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stopped.changed() => return,
                    }
                }
            }
        });
        IndexerHandle { stop, task, merges }
    }
}

/// The background indexer started by [`Indexer::spawn`].
#[derive(Debug)]
pub struct IndexerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    merges: JoinHandle<()>,
}

impl IndexerHandle {
    /// Stops after the current step and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.merges.await;
    }
}

/// An error and its sources, `: `-separated, for one log field.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The rows of the entry bundles `$1..=$2`.
const SELECT_BUNDLE_ROWS: &str = "SELECT bundle_index, first, width, entries FROM entry_bundles
    WHERE bundle_index BETWEEN $1 AND $2 ORDER BY bundle_index, first";

/// Who attested each of the entries `from..until` that the entry bundles hold (their leaf
/// records), for their lookup pairs' tags: one query, a row per 256 entries.
async fn attestations(
    transaction: &deadpool_postgres::Transaction<'_>,
    from: i64,
    until: i64,
) -> Result<HashMap<i64, Attestation>, IndexError> {
    let width = i64::try_from(BUNDLE).unwrap_or(i64::MAX);
    let rows = transaction
        .query(
            SELECT_BUNDLE_ROWS,
            &[&from.div_euclid(width), &(until - 1).div_euclid(width)],
        )
        .await?;
    let mut attested = HashMap::new();
    for row in &rows {
        let (bundle, first, width_of_row): (i64, i16, i16) = (row.get(0), row.get(1), row.get(2));
        let (Ok(first), Ok(row_width)) = (u16::try_from(first), u16::try_from(width_of_row)) else {
            continue;
        };
        // A malformed row leaves its entries without a record: the step fails on them, and
        // the audit names the row.
        let Ok(records) = row_records(first, row_width, row.get(3)) else {
            continue;
        };
        for (offset, record) in records.into_iter().enumerate() {
            let leaf = bundle * width + i64::from(first) + i64::try_from(offset).unwrap_or(0);
            if (from..until).contains(&leaf)
                && let Ok(record) = LeafRecord::decode(record)
            {
                attested.insert(leaf, record.attestation().clone());
            }
        }
    }
    Ok(attested)
}

/// The lookup keys of a batch of entries: event hash, EPC, parent and location pairs in run order,
/// the range of their event times, and that of each block of [`TIME_BLOCK`] entries.
#[derive(Default)]
struct Keys {
    pairs: Vec<Pair>,
    /// The verifiable index's pairs, in any order.
    index_pairs: Vec<ledger::index::Pair>,
    times: Option<(PgTimestamp, PgTimestamp)>,
    blocks: std::collections::BTreeMap<i64, (PgTimestamp, PgTimestamp)>,
}

impl Keys {
    /// The sorted keys of consecutive entries starting at leaf `from`, attested as
    /// `attestations` says (by leaf).
    fn of_rows(
        from: i64,
        rows: &[BinaryCopyOutRow],
        attestations: &HashMap<i64, Attestation>,
    ) -> Result<Self, IndexError> {
        let mut keys = Self::default();
        for (offset, row) in rows.iter().enumerate() {
            let leaf: i64 = row.get(0);
            let expected = from + i64::try_from(offset).unwrap_or(i64::MAX);
            if leaf != expected {
                return Err(IndexError::Gap {
                    expected: u64::try_from(expected).unwrap_or(0),
                    found: leaf,
                });
            }
            let hash: &[u8] = row.get(1);
            let event: &str = row.get(2);
            let hash = <[u8; 32]>::try_from(hash).map_err(|_| IndexError::BadHash { leaf })?;
            let attestation = attestations
                .get(&leaf)
                .ok_or(IndexError::NoRecord { leaf })?;
            keys.add(leaf, &hash, event, attestation);
        }
        keys.sort();
        Ok(keys)
    }

    /// The sorted keys of consecutive entries starting at leaf `from`, as handed over.
    fn of_handed(from: i64, handed: &[HandedKeys]) -> Self {
        let mut keys = Self::default();
        for (offset, entry) in handed.iter().enumerate() {
            let leaf = from + i64::try_from(offset).unwrap_or(i64::MAX);
            keys.add_keys(leaf, &entry.event_hash, &entry.keys, entry.tag);
        }
        keys.sort();
        keys
    }

    /// Adds an entry read back from the database, parsing its event's JSON.
    fn add(&mut self, leaf: i64, hash: &[u8; 32], event: &str, attestation: &Attestation) {
        match LookupKeys::of_json(event) {
            Ok(keys) => self.add_keys(leaf, hash, &keys, keys.tag(attestation)),
            Err(error) => {
                // Only the lookups of this entry are lost; the entry itself is in the log and the
                // audit checks it. Ingest validates events, so this is not expected.
                tracing::warn!(leaf_index = leaf, error = %error, "event JSON has no usable lookup keys");
                let tag = ledger::history::Tag::new(attestation, true).to_bits();
                self.pairs.push((Kind::Hash, hash_key(hash), leaf, tag));
            }
        }
    }

    fn add_keys(&mut self, leaf: i64, hash: &[u8; 32], keys: &LookupKeys, tag: i64) {
        let index_leaf = u64::try_from(leaf).unwrap_or(0);
        self.index_pairs.extend(
            keys.index()
                .iter()
                .map(|&key| ledger::index::Pair::new(key, index_leaf)),
        );
        // A pair under an identifier says whether the event claims it or another; a pair under
        // its hash or a place, that it claims others, when it claims anything.
        self.pairs.push((Kind::Hash, hash_key(hash), leaf, tag));
        self.pairs.extend(
            (keys.epcs().iter()).map(|&key| (Kind::Epc, key, leaf, keys.tag_under(tag, key))),
        );
        if let Some(parent) = keys.parent() {
            let under = keys.tag_under(tag, parent);
            self.pairs.push((Kind::Parent, parent, leaf, under));
        }
        self.pairs.extend(
            keys.locations()
                .iter()
                .map(|&key| (Kind::Location, key, leaf, tag)),
        );
        if let Some(time) = keys.event_time() {
            self.times = Some(match self.times {
                Some((earliest, latest)) => (earliest.min(time), latest.max(time)),
                None => (time, time),
            });
            self.blocks
                .entry(leaf.div_euclid(TIME_BLOCK))
                .and_modify(|(earliest, latest)| {
                    *earliest = (*earliest).min(time);
                    *latest = (*latest).max(time);
                })
                .or_insert((time, time));
        }
    }

    fn sort(&mut self) {
        self.pairs.sort_unstable();
    }
}

/// A `timestamptz` in PostgreSQL's binary form: microseconds since 2000-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PgTimestamp(i64);

impl PgTimestamp {
    /// Seconds from the Unix epoch to PostgreSQL's epoch (2000-01-01).
    const POSTGRES_EPOCH_UNIX_SECONDS: i128 = 946_684_800;

    /// Truncates to microseconds (PostgreSQL's resolution).
    pub(crate) fn from_unix_nanos(nanos: i128) -> Self {
        let micros = nanos.div_euclid(1_000) - Self::POSTGRES_EPOCH_UNIX_SECONDS * 1_000_000;
        Self(i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX }))
    }
}

impl ToSql for PgTimestamp {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }

    accepts!(TIMESTAMPTZ);
    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::lookup_key;

    #[test]
    fn lookup_keys_come_from_the_epc_lists_parent_places_and_time() {
        let mut keys = Keys::default();
        keys.add(
            7,
            &[1; 32],
            r#"{"type":"AggregationEvent","eventTime":"2000-01-01T00:00:01.5Z",
                "parentID":"urn:epc:id:sscc:4012345.0000000001",
                "childEPCs":["urn:epc:id:sgtin:4012345.011111.2","urn:epc:id:sgtin:4012345.011111.1",
                             "urn:epc:id:sgtin:4012345.011111.2"],
                "readPoint":{"id":"urn:epc:id:sgln:4012345.00001.1"},
                "bizLocation":{"id":"urn:epc:id:sgln:4012345.00001.1"}}"#,
            &site("dock"),
        );
        keys.add(
            8,
            &[2; 32],
            r#"{"eventTime":"1999-12-31T23:59:59Z","epcList":[]}"#,
            &site("dock"),
        );
        keys.sort();
        // Neither event changes state (an aggregation without an action packs nothing).
        let tag = ledger::history::Tag::new(&site("dock"), false).to_bits();
        let mut pairs: Vec<Pair> = [
            (Kind::Hash, hash_key(&[1; 32]), 7),
            (Kind::Hash, hash_key(&[2; 32]), 8),
            (
                Kind::Epc,
                lookup_key("urn:epc:id:sgtin:4012345.011111.1"),
                7,
            ),
            (
                Kind::Epc,
                lookup_key("urn:epc:id:sgtin:4012345.011111.2"),
                7,
            ),
            (
                Kind::Parent,
                lookup_key("urn:epc:id:sscc:4012345.0000000001"),
                7,
            ),
            (
                Kind::Location,
                lookup_key("urn:epc:id:sgln:4012345.00001.1"),
                7,
            ),
        ]
        .into_iter()
        .map(|(kind, key, leaf)| (kind, key, leaf, tag))
        .collect();
        pairs.sort_unstable();
        assert_eq!(keys.pairs, pairs);
        assert_eq!(
            keys.times,
            Some((PgTimestamp(-1_000_000), PgTimestamp(1_500_000)))
        );
    }

    #[test]
    fn an_event_with_unusable_fields_still_indexes_its_hash() {
        let mut keys = Keys::default();
        let site = site("dock");
        keys.add(
            3,
            &[2; 32],
            r#"{"epcList": 5, "eventTime": "yesterday"}"#,
            &site,
        );
        keys.add(
            4,
            &[3; 32],
            r#"{"eventTime": "2024-02-30T00:00:00Z"}"#,
            &site,
        );
        // What the first event does cannot be told: it counts as a state change.
        let changes = ledger::history::Tag::new(&site, true).to_bits();
        let observes = ledger::history::Tag::new(&site, false).to_bits();
        assert_eq!(
            keys.pairs,
            [
                (Kind::Hash, hash_key(&[2; 32]), 3, changes),
                (Kind::Hash, hash_key(&[3; 32]), 4, observes)
            ]
        );
        assert!(keys.times.is_none());
    }

    fn site(id: &str) -> Attestation {
        Attestation::Unattested {
            site: ledger::ids::SiteId::parse(id).unwrap(),
        }
    }

    #[test]
    fn handed_keys_give_the_rows_parsing_the_json_gives() {
        let events = [
            r#"{"eventTime":"2000-01-01T00:00:01Z","epcList":["a","b","a"],"parentID":"p",
                "readPoint":{"id":"r"},"bizLocation":{"id":"r"}}"#,
            r#"{"type":"AggregationEvent","action":"ADD","eventTime":"1999-01-01T00:00:00Z",
                "parentID":"q","childEPCs":["c"],"bizLocation":{"id":"s"}}"#,
        ];
        let mut parsed = Keys::default();
        let mut handed = Vec::new();
        for (offset, event) in events.iter().enumerate() {
            let hash = [u8::try_from(offset).unwrap(); 32];
            let attested = site(["dock", "store"][offset]);
            parsed.add(40 + i64::try_from(offset).unwrap(), &hash, event, &attested);
            let keys = LookupKeys::of_json(event).unwrap();
            handed.push(HandedKeys {
                event_hash: hash,
                tag: keys.tag(&attested),
                keys,
            });
        }
        parsed.sort();
        let from_handoff = Keys::of_handed(40, &handed);
        assert_eq!(from_handoff.pairs, parsed.pairs);
        // Every pair of an entry carries its tag: who reported it, whether it changes state, and
        // whether it claims to bring what it is found by, or something else, into being (the
        // packing's pair under `q` claims `q`; its pairs under `c`, its hash and its place claim
        // another).
        for &(kind, key, leaf, tag) in &parsed.pairs {
            let tag = ledger::history::Tag::from_bits(tag);
            let (site_id, changes) = [("dock", false), ("store", true)][(leaf - 40) as usize];
            let claims = kind == Kind::Parent && key == crate::keys::lookup_key("q");
            let expected = ledger::history::Tag::new(&site(site_id), changes)
                .with_claim(claims)
                .with_other_claim(changes && !claims);
            assert_eq!(tag, expected, "{kind:?} {leaf}");
        }
        assert!(
            parsed
                .pairs
                .iter()
                .any(|&(kind, _, leaf, tag)| kind == Kind::Parent
                    && leaf == 41
                    && ledger::history::Tag::from_bits(tag).claim())
        );
        assert_eq!(from_handoff.times, parsed.times);
        let count = |kind| parsed.pairs.iter().filter(|pair| pair.0 == kind).count();
        assert_eq!(
            (
                count(Kind::Hash),
                count(Kind::Epc),
                count(Kind::Parent),
                count(Kind::Location)
            ),
            (2, 3, 2, 2)
        );
    }

    #[test]
    fn timestamps_before_2000_are_negative_microseconds() {
        assert_eq!(PgTimestamp::from_unix_nanos(0).0, -946_684_800_000_000);
        assert_eq!(PgTimestamp::from_unix_nanos(-1).0, -946_684_800_000_001);
    }
}

#[cfg(all(test, feature = "testing"))]
mod database_tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    use super::*;
    use crate::testing::{EventFactory, TestDatabase};
    use crate::{Lookup, Sequencer};
    use ledger::size::LeafIndex;

    async fn rows(store: &crate::Log, sql: &str) -> BTreeSet<(i64, i64)> {
        let client = store.pool().get().await.unwrap();
        client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// Every (kind, identifier) of the stored events and the entries that name it, from the JSON.
    async fn named_in_events(store: &crate::Log) -> BTreeMap<(u8, String), BTreeSet<u64>> {
        let client = store.pool().get().await.unwrap();
        let mut named: BTreeMap<(u8, String), BTreeSet<u64>> = BTreeMap::new();
        for row in client
            .query("SELECT leaf_index, event FROM events", &[])
            .await
            .unwrap()
        {
            let leaf = u64::try_from(row.get::<_, i64>(0)).unwrap();
            let event: Value = serde_json::from_str(row.get(1)).unwrap();
            let mut add = |kind: u8, id: Option<&str>| {
                if let Some(id) = id {
                    named.entry((kind, id.to_owned())).or_default().insert(leaf);
                }
            };
            for list in ["epcList", "childEPCs", "inputEPCList", "outputEPCList"] {
                for epc in event[list].as_array().into_iter().flatten() {
                    add(0, epc.as_str());
                }
            }
            add(1, event["parentID"].as_str());
            add(2, event["readPoint"]["id"].as_str());
            add(2, event["bizLocation"]["id"].as_str());
        }
        named
    }

    /// Asserts that every identifier's lookup gives exactly the entries naming it; returns how
    /// many (identifier, entry) pairs that was.
    async fn assert_lookups_match_events(store: &crate::Reader) -> usize {
        let named = named_in_events(store).await;
        let mut pairs = 0;
        for ((kind, id), leaves) in &named {
            let lookup = match kind {
                0 => Lookup::Epc(id),
                1 => Lookup::Parent(id),
                _ => Lookup::Location(id),
            };
            let found: BTreeSet<u64> = store
                .lookup(lookup)
                .await
                .unwrap()
                .into_iter()
                .map(LeafIndex::get)
                .collect();
            assert_eq!(&found, leaves, "{lookup:?}");
            // Each pair's tag says who reported its entry, whether it changes state, whether it
            // is a receipt and whether it claims what it is found by, as the entry's record and
            // event say, whether the keys were handed over or read back.
            for (leaf, tag) in store
                .lookup_tagged_within(&[lookup], None, None)
                .await
                .unwrap()
                .unwrap()
            {
                let entry = store.entry(leaf).await.unwrap().unwrap();
                let event: serde_json::Map<String, Value> =
                    serde_json::from_str(&entry.event).unwrap();
                let expected = match lookup {
                    // A place is no claim.
                    Lookup::Location(_) => {
                        ledger::history::Tag::of(entry.record.attestation(), &event)
                    }
                    Lookup::Epc(id) | Lookup::Parent(id) => {
                        ledger::history::Tag::naming(entry.record.attestation(), &event, id)
                    }
                };
                assert_eq!(tag, expected, "{lookup:?} {leaf}");
            }
            pairs += leaves.len();
        }
        assert!(
            store
                .lookup(Lookup::Epc("urn:epc:id:sgtin:0.0.0"))
                .await
                .unwrap()
                .is_empty()
        );
        pairs
    }

    /// The live runs as (first leaf, end leaf, level, pairs), and the pairs on their pages.
    async fn live_runs(store: &crate::Log) -> (Vec<(i64, i64, i16, i64)>, i64) {
        let client = store.pool().get().await.unwrap();
        let runs = client
            .query(
                "SELECT first_leaf, end_leaf, level, pairs FROM lookup_runs ORDER BY first_leaf",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
            .collect();
        let on_pages: i64 = client
            .query_one(
                "SELECT coalesce(sum(octet_length(pairs) / 24), 0)::bigint FROM lookup_pages",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (runs, on_pages)
    }

    #[tokio::test]
    async fn handed_over_keys_and_keys_parsed_from_stored_events_index_alike() {
        let db = TestDatabase::create().await.unwrap();
        let store = crate::Writer::connect(db.url()).unwrap();
        let reader = crate::Reader::connect(db.url()).unwrap();
        let sequencer = Sequencer::start(&store);
        let mut keyed = EventFactory::new("dock-door-1", 1);
        let mut bare = EventFactory::new("elsewhere", 2).without_lookup_keys();
        sequencer.append(keyed.next_batch(20)).await.unwrap();
        sequencer.append(bare.next_batch(10)).await.unwrap();
        sequencer.append(keyed.next_batch(10)).await.unwrap();
        sequencer.shutdown().await;
        // Steps of 10: entries 0..20 and 30..40 from the hand-off, 20..30 read back.
        let indexer = Indexer::new(&store).with_batch(10);
        indexer.catch_up().await.unwrap();
        assert_eq!(indexer.watermark().await.unwrap(), 40);

        let pairs = assert_lookups_match_events(&reader).await;
        let (runs, on_pages) = live_runs(&store).await;
        let expected_runs: Vec<(i64, i64)> = vec![(0, 10), (10, 20), (20, 30), (30, 40)];
        assert_eq!(
            runs.iter().map(|run| (run.0, run.1)).collect::<Vec<_>>(),
            expected_runs
        );
        // One event hash pair per entry besides the identifiers.
        assert_eq!(on_pages, i64::try_from(pairs).unwrap() + 40);
        assert_eq!(runs.iter().map(|run| run.3).sum::<i64>(), on_pages);
        // Every entry is found by its event hash through the runs (the runs cover the whole log).
        let client = store.pool().get().await.unwrap();
        for row in client
            .query("SELECT leaf_index, event_hash FROM events", &[])
            .await
            .unwrap()
        {
            let hash = epcis::EventHash::from_bytes(row.get::<_, &[u8]>(1).try_into().unwrap());
            let found = reader.find_event(&hash).await.unwrap().map(LeafIndex::get);
            assert_eq!(found, Some(u64::try_from(row.get::<_, i64>(0)).unwrap()));
        }
        let ranges = rows(&store, "SELECT first_leaf, end_leaf FROM event_time_ranges").await;
        assert_eq!(ranges, expected_runs.into_iter().collect());
    }

    /// One step of 600 entries is described block by block: the 88 entries of another day, at
    /// its end, widen their own block's range only, and a query of either day reads only the
    /// blocks that hold it.
    #[tokio::test]
    async fn a_step_s_event_times_are_kept_block_by_block() {
        use epcis::document::Timestamp;
        let db = TestDatabase::create().await.unwrap();
        let store = crate::Writer::connect(db.url()).unwrap();
        let reader = crate::Reader::connect(db.url()).unwrap();
        let sequencer = Sequencer::start(&store);
        let mut factory = EventFactory::new("dock-door-9", 9);
        // The factory's events are 50 a second from 1,700,000,000 s; the last 88 are ten days on.
        let events: Vec<(String, epcis::EventHash)> = (0..600u64)
            .map(|n| {
                let mut event = factory.event(n);
                if n >= 512 {
                    event.insert(
                        "eventTime".to_owned(),
                        Value::String(format!("2023-11-24T22:13:{:02}.000Z", n - 512)),
                    );
                }
                let hash =
                    epcis::hash::event_hash(&event, &epcis::hash::HashContext::new()).unwrap();
                (Value::Object(event).to_string(), hash)
            })
            .collect();
        for chunk in events.chunks(200) {
            sequencer
                .append(factory.batch_from(chunk.to_vec()))
                .await
                .unwrap();
        }
        sequencer.shutdown().await;
        Indexer::new(&store)
            .with_batch(600)
            .catch_up()
            .await
            .unwrap();
        let ranges = rows(&store, "SELECT first_leaf, end_leaf FROM event_time_ranges").await;
        assert_eq!(
            ranges,
            [(0, 256), (256, 512), (512, 600)].into_iter().collect()
        );
        let at = |text: &str| Timestamp::parse(text).unwrap();
        // 1,700,000,000 s is 2023-11-14T22:13:20Z; the first 600 entries' times are within 12 s.
        let first_day = reader
            .leaf_ranges_by_time(at("2023-11-14T00:00:00Z"), at("2023-11-15T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(first_day, [0..256, 256..512]);
        let later = reader
            .leaf_ranges_by_time(at("2023-11-24T00:00:00Z"), at("2023-11-25T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0], 512..600);
        // A page's ranges: from a leaf on, so many at most.
        let day = (at("2023-11-14T00:00:00Z"), at("2023-11-15T00:00:00Z"));
        let page =
            |after: u64, limit: usize| reader.leaf_ranges_by_time_from(day.0, day.1, after, limit);
        assert_eq!(page(0, 1).await.unwrap().first(), Some(&(0..256)));
        assert_eq!(page(0, 1).await.unwrap().len(), 1);
        assert_eq!(page(100, 5).await.unwrap(), [0..256, 256..512]);
        assert_eq!(page(256, 5).await.unwrap().first(), Some(&(256..512)));
        assert_eq!(page(256, 5).await.unwrap().len(), 1);
        assert!(page(512, 5).await.unwrap().is_empty());
    }

    /// A log of 150 entries indexed in 30 steps of 5, pages of 3 pairs (keys span pages),
    /// merges of 3 runs: the database, the writer, a reader and the indexer.
    async fn indexed_in_thirty_steps(
        door: &str,
        seed: u8,
    ) -> (TestDatabase, crate::Writer, crate::Reader, Indexer) {
        let db = TestDatabase::create().await.unwrap();
        let store = crate::Writer::connect(db.url()).unwrap();
        let reader = crate::Reader::connect(db.url()).unwrap();
        let sequencer = Sequencer::start(&store);
        let mut factory = EventFactory::new(door, seed);
        for _ in 0..6 {
            sequencer.append(factory.next_batch(25)).await.unwrap();
        }
        sequencer.shutdown().await;
        let indexer = Indexer::new(&store).with_batch(5).with_runs(3, 3);
        indexer.catch_up().await.unwrap();
        (db, store, reader, indexer)
    }

    #[tokio::test]
    async fn merged_runs_answer_every_lookup_and_dropped_runs_are_rebuilt() {
        let (db, store, reader, indexer) = indexed_in_thirty_steps("dock-door-2", 3).await;
        let pairs = i64::try_from(assert_lookups_match_events(&reader).await).unwrap() + 150;
        let (runs, on_pages) = live_runs(&store).await;
        // 30 level-0 runs merge like a base-3 counter: 30 = 1·27 + 1·3 → one level-3 run and
        // one level-1 run.
        assert_eq!(runs, [(0, 135, 3, runs[0].3), (135, 150, 1, runs[1].3)]);
        assert_eq!((runs[0].3 + runs[1].3, on_pages), (pairs, pairs));

        // An administrator drops the runs (as the V3 migration dropped the old tables): the
        // indexer rebuilds them from the stored events, then merges them again.
        let admin = db.connect().await.unwrap();
        admin
            .batch_execute("DELETE FROM lookup_pages; DELETE FROM lookup_runs")
            .await
            .unwrap();
        assert!(
            reader
                .lookup(Lookup::Location("urn:epc:id:sgln:4012345.00001.0"))
                .await
                .unwrap()
                .is_empty()
        );
        indexer.catch_up().await.unwrap();
        assert_eq!(
            i64::try_from(assert_lookups_match_events(&reader).await).unwrap() + 150,
            pairs
        );
        let (rebuilt, on_pages) = live_runs(&store).await;
        assert_eq!(
            rebuilt
                .iter()
                .map(|run| (run.0, run.1, run.2))
                .collect::<Vec<_>>(),
            [(0, 135, 3), (135, 150, 1)]
        );
        assert_eq!(on_pages, pairs);
    }

    /// Runs an older binary wrote (here: without the EPC pairs of its keys, as a binary older
    /// than V36 wrote runs without eventID keys) carry an older key format; the indexer rebuilds
    /// each in place, in one transaction, so the runs never stop covering the log.
    #[tokio::test]
    async fn runs_of_an_older_key_format_are_rebuilt_in_place() {
        let (db, store, reader, indexer) = indexed_in_thirty_steps("dock-door-3", 4).await;
        let (built, pairs) = live_runs(&store).await;
        assert_eq!(
            built
                .iter()
                .map(|run| (run.0, run.1, run.2))
                .collect::<Vec<_>>(),
            [(0, 135, 3), (135, 150, 1)]
        );

        let admin = db.connect().await.unwrap();
        admin
            .batch_execute(
                "DELETE FROM lookup_pages WHERE kind = 1 AND run_id =
                     (SELECT run_id FROM lookup_runs WHERE first_leaf = 0);
                 UPDATE lookup_runs SET key_format = 0 WHERE first_leaf = 0",
            )
            .await
            .unwrap();
        let first_epc = {
            let first = LeafIndex::new(0).unwrap();
            let entry = reader.entry(first).await.unwrap().unwrap();
            let event: Value = serde_json::from_str(&entry.event).unwrap();
            event["epcList"][0].as_str().unwrap().to_owned()
        };
        assert!(
            reader
                .lookup(Lookup::Epc(&first_epc))
                .await
                .unwrap()
                .is_empty(),
            "the stale run lacks the EPC keys"
        );

        // The database fails in the middle of the rebuild (ten of its runs written): nothing of
        // it stays, the stale run still covers its entries, and the next step starts over.
        let stale = live_runs(&store).await;
        admin
            .batch_execute(
                "CREATE FUNCTION failing_disk() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     IF NEW.first_leaf >= 50 THEN RAISE EXCEPTION 'the disk failed'; END IF;
                     RETURN NEW;
                 END $$;
                 CREATE TRIGGER failing_disk BEFORE INSERT ON lookup_runs
                     FOR EACH ROW EXECUTE FUNCTION failing_disk();",
            )
            .await
            .unwrap();
        let failed = indexer.step(LockWait::Wait).await.unwrap_err();
        let mut chain = failed.to_string();
        let mut source = std::error::Error::source(&failed);
        while let Some(cause) = source {
            chain = format!("{chain}: {cause}");
            source = cause.source();
        }
        assert!(chain.contains("the disk failed"), "{chain}");
        assert_eq!(live_runs(&store).await, stale);
        let still_stale: i64 = admin
            .query_one("SELECT count(*) FROM lookup_runs WHERE key_format = 0", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(still_stale, 1);
        admin
            .batch_execute("DROP TRIGGER failing_disk ON lookup_runs; DROP FUNCTION failing_disk()")
            .await
            .unwrap();

        // One step rebuilds the stale run as level-0 runs of one step each: the runs still end
        // where they did, and every lookup is answered again.
        assert_eq!(indexer.step(LockWait::Wait).await.unwrap(), 135);
        let (rebuilt, _) = live_runs(&store).await;
        assert_eq!(rebuilt.len(), 28);
        assert_eq!(rebuilt.last().map(|run| run.1), Some(150));
        let formats: Vec<i16> = admin
            .query("SELECT DISTINCT key_format FROM lookup_runs", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(formats, [runs::KEY_FORMAT]);
        assert!(
            !reader
                .lookup(Lookup::Epc(&first_epc))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            i64::try_from(assert_lookups_match_events(&reader).await).unwrap() + 150,
            pairs
        );
        // Merged as before.
        indexer.catch_up().await.unwrap();
        assert_eq!(live_runs(&store).await, (built, pairs));

        // A binary older than V38 names no key format: its runs are refused.
        let refused = admin
            .batch_execute(
                "INSERT INTO lookup_runs (first_leaf, end_leaf, level, pairs) VALUES (150, 151, 0, 0)",
            )
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::NOT_NULL_VIOLATION)
        );
        // Nor one older than V40, whose tags tell no receipt (format 1), than V41, whose tags
        // tell no claim (format 2), or than V42, whose claims are the entry's and not the pair's
        // (format 3); an owner may still mark runs to rebuild (format 0).
        for format in [1, 2, 3] {
            let refused = admin
                .batch_execute(&format!(
                    "INSERT INTO lookup_runs (first_leaf, end_leaf, level, pairs, key_format)
                     VALUES (150, 151, 0, 0, {format})"
                ))
                .await
                .unwrap_err();
            assert_eq!(
                refused.code(),
                Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION),
                "format {format}"
            );
        }
        admin
            .batch_execute("UPDATE lookup_runs SET key_format = 0 WHERE first_leaf = 0")
            .await
            .unwrap();
    }

    /// A run of format 3 as a database upgraded through V42 holds it: written before V42 added
    /// its CHECK, which is NOT VALID and so does not judge it. The indexer rebuilds it in place
    /// all the same (the stale run is deleted, never updated, so the CHECK is never in its way),
    /// its lookups are answered as before and after, and the runs merge back to what they were.
    #[tokio::test]
    async fn a_run_of_format_3_stored_before_v42_is_rebuilt_in_place() {
        let (db, store, reader, indexer) = indexed_in_thirty_steps("dock-door-3", 4).await;
        let (built, pairs) = live_runs(&store).await;
        let admin = &db.connect().await.unwrap();
        admin
            .batch_execute(
                "ALTER TABLE lookup_runs DROP CONSTRAINT lookup_runs_key_format_claim_pairs;
                 UPDATE lookup_runs SET key_format = 3 WHERE first_leaf = 0;
                 ALTER TABLE lookup_runs ADD CONSTRAINT lookup_runs_key_format_claim_pairs
                     CHECK (key_format >= 4 OR key_format = 0) NOT VALID;",
            )
            .await
            .unwrap();
        let formats = || async move {
            admin
                .query(
                    "SELECT key_format FROM lookup_runs ORDER BY first_leaf, level",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect::<Vec<i16>>()
        };
        assert_eq!(formats().await, [3, runs::KEY_FORMAT]);
        let looked_up = assert_lookups_match_events(&reader).await;

        assert_eq!(indexer.step(LockWait::Wait).await.unwrap(), 135);
        let rebuilt = formats().await;
        assert_eq!(rebuilt.len(), 28);
        assert!(
            rebuilt.iter().all(|format| *format == runs::KEY_FORMAT),
            "{rebuilt:?}"
        );
        assert_eq!(assert_lookups_match_events(&reader).await, looked_up);
        indexer.catch_up().await.unwrap();
        assert_eq!(live_runs(&store).await, (built, pairs));
    }

    #[tokio::test]
    async fn runs_past_the_watermark_are_refused() {
        let db = TestDatabase::create().await.unwrap();
        let store = crate::Writer::connect(db.url()).unwrap();
        let admin = db.connect().await.unwrap();
        admin
            .batch_execute(
                "INSERT INTO lookup_runs (first_leaf, end_leaf, level, pairs, key_format)
                 VALUES (0, 5, 0, 0, 4)",
            )
            .await
            .unwrap();
        let error = Indexer::new(&store).step(LockWait::Wait).await.unwrap_err();
        assert!(
            matches!(
                error,
                IndexError::RunsPastWatermark {
                    runs_end: 5,
                    watermark: 0
                }
            ),
            "{error}"
        );
    }
}
