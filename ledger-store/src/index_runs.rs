//! The verifiable index in the database (`ledger::index`, format in `ledger/README.md`): runs of
//! (key, leaf) pairs written by the indexer beside the lookup runs, one per indexing step,
//! merged in the background the same way; their pages; the upper nodes of their trees; and key
//! proofs read from them.
//!
//! A page holds pairs `256 n .. 256 n + 256` of its run: 32 chunks, so a full page is a complete
//! level-5 node of the run's tree. `index_nodes` keeps every complete node of level 5 and above, so
//! a proof reads, per run, the pages around the key's pairs and at most two nodes per level.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use deadpool_postgres::Transaction;
use ledger::Hash;
use ledger::checkpoint::Checkpoint;
use ledger::index::IndexCommitment;
use ledger::index::{
    CHUNK_PAIRS, EmptyRange, IndexHead, IndexKey, KeyProof, KeyRange, PAIR_LEN, Pair, ProveError,
    RunHead, RunSource, RunTreeBuilder, chunk_count, range_proof_spans, span_hash,
};
use ledger::note::Note;
use ledger::size::TreeSize;

use super::locks;
use super::log::ReadError;
use super::runs::{self, RunInfo};

/// The pairs of a full page of a verifiable index run.
pub const PAGE_PAIRS: usize = 256;

/// The lowest level of the nodes kept: a full page's (256 pairs, 32 chunks).
const KEEP_FROM: u32 = 5;

/// How many pages or nodes go into one `INSERT`.
const INSERT_ROWS: usize = 256;

/// How many pages a merge reads from each input run at a time.
const MERGE_FETCH_PAGES: i32 = 16;

const NEXT_RUN_ID: &str = "SELECT nextval(pg_get_serial_sequence('index_runs', 'run_id'))";
const INSERT_RUN: &str = "INSERT INTO index_runs (run_id, first_leaf, end_leaf, level, pairs, root)
     VALUES ($1, $2, $3, $4, $5, $6)";
const INSERT_PAGES: &str = "INSERT INTO index_pages (run_id, page, first_pair, pairs)
     SELECT $1, * FROM unnest($2::integer[], $3::bytea[], $4::bytea[])";
const INSERT_NODES: &str = "INSERT INTO index_nodes (run_id, level, idx, hash)
     SELECT $1, * FROM unnest($2::smallint[], $3::bigint[], $4::bytea[])";
const LIST_RUNS: &str = "SELECT run_id, first_leaf, end_leaf, level, pairs, root FROM index_runs
     WHERE NOT retired ORDER BY first_leaf";
const RETIRE_RUNS: &str = "UPDATE index_runs SET retired = true WHERE run_id = ANY($1)";
const RETIRED_RUNS: &str =
    "SELECT run_id, first_leaf, end_leaf, root FROM index_runs WHERE retired";
const INSERT_HEAD: &str = "INSERT INTO index_heads (root, size, head) VALUES ($1, $2, $3)
     ON CONFLICT (root) DO NOTHING";
const NEWEST_NOTE: &str =
    "SELECT note FROM checkpoints ORDER BY tree_size DESC, index_size DESC LIMIT 1";
const HEAD_BY_ROOT: &str = "SELECT head FROM index_heads WHERE root = $1";
const DROP_OLDER_HEADS: &str = "DELETE FROM index_heads WHERE size < $1";
/// The newest checkpoints signed before the retention (seconds): the newest of them was still
/// the newest checkpoint then, so every later one was newest within the retention.
const NEWEST_BEFORE_RETENTION: &str = "SELECT note FROM checkpoints
     WHERE signed_at <= now() - make_interval(secs => $1)
     ORDER BY tree_size DESC, index_size DESC LIMIT 16";

/// How long the head a checkpoint commits to stays readable after a newer checkpoint replaced it:
/// a reader that took a view of the ledger a moment ago (trace-api reuses a view for a fraction
/// of a second, and a bundle's proofs are read after its history) still finds the head of that
/// view's checkpoint. The runs merged away meanwhile stay as long.
pub const HEAD_RETENTION: std::time::Duration = std::time::Duration::from_secs(600);
const ALL_HEADS: &str = "SELECT head FROM index_heads";
/// The runs, retired or not, with the given (first, end) entries.
const RUNS_COVERING: &str = "SELECT run_id, first_leaf, end_leaf, root FROM index_runs
     WHERE (first_leaf, end_leaf) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))";
const RUN_PAGES: &str = "SELECT pairs FROM index_pages WHERE run_id = $1 ORDER BY page";
const DELETE_RUNS: &str = "WITH gone AS (DELETE FROM index_runs WHERE run_id = ANY($1))
     , pages AS (DELETE FROM index_pages WHERE run_id = ANY($1))
     DELETE FROM index_nodes WHERE run_id = ANY($1)";

/// The most pages of one run a key proof reads (16,384 pairs): a proof of more is refused, to be
/// asked for in narrower ranges of entries. A history's keys stay far below it (a history refuses
/// an identifier named by more than a few thousand events).
pub const MAX_PROOF_PAGES: usize = 64;
/// In each of the runs `$1`, in one query, the pages from the one holding the last pair below
/// `$2` to the one holding the first pair not below `$3` (from the first page, or to the last,
/// when there is none), at most `$4` of a run: each page with its run and its number.
const PAGES_AROUND_IN_RUNS: &str = "SELECT r.id, p.page, p.pairs
     FROM unnest($1::bigint[]) AS r(id)
     CROSS JOIN LATERAL (
       SELECT page, pairs FROM index_pages
       WHERE run_id = r.id
         AND page >= coalesce((SELECT page FROM index_pages WHERE run_id = r.id AND first_pair < $2
                               ORDER BY first_pair DESC LIMIT 1), 0)
         AND page <= coalesce((SELECT page FROM index_pages WHERE run_id = r.id AND first_pair >= $3
                               ORDER BY first_pair LIMIT 1),
                              (SELECT page FROM index_pages WHERE run_id = r.id
                               ORDER BY page DESC LIMIT 1))
       ORDER BY page LIMIT $4) p";
/// The pages `($1[i], $2[i])` (run, page number), each with its run and number.
const PAGES_OF_RUNS: &str = "SELECT run_id, page, pairs FROM index_pages
     WHERE (run_id, page) IN (SELECT * FROM unnest($1::bigint[], $2::int[]))";
/// The nodes `($1[i], $2[i], $3[i])` (run, level, index), each with its run.
const NODES_OF_RUNS: &str = "SELECT run_id, level, idx, hash FROM index_nodes
     WHERE (run_id, level, idx) IN (SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[]))";

/// The most queries [`Reader::list_keys_within`](super::Reader::list_keys_within) makes, after its
/// first range: a page of a query by many places over many scattered ranges reads on in the
/// next page instead.
pub const MAX_LISTING_QUERIES: usize = 512;

/// What [`Reader::list_keys_within`](super::Reader::list_keys_within) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysListed {
    /// The size of the log the head covers: its lists hold no entry from here on.
    pub covered: u64,
    /// The leaves listed, in order.
    pub leaves: Vec<u64>,
    /// Where listing stopped (every leaf listed below it is in `leaves`; from it on, nothing
    /// was read); `None` when every range was read to its end.
    pub until: Option<u64>,
}

/// Why the verifiable index could not be written or merged.
#[derive(Debug, thiserror::Error)]
pub enum IndexRunError {
    #[error("database query failed while writing the verifiable index")]
    Query(#[from] tokio_postgres::Error),
    #[error("verifiable index run {run} holds a page that is not a list of pairs")]
    BadPage { run: i64 },
    #[error("verifiable index run {run} is not sorted: {error}")]
    Unsorted {
        run: i64,
        error: ledger::index::Unsorted,
    },
}

/// A run being written: its pages and kept nodes go out as they fill, its row last.
struct RunOutput {
    run: i64,
    builder: RunTreeBuilder,
    page: Vec<u8>,
    pages: Vec<Vec<u8>>,
    next_page: i32,
    nodes: Vec<(u32, u64, Hash)>,
}

impl RunOutput {
    async fn new(transaction: &Transaction<'_>) -> Result<Self, IndexRunError> {
        let run: i64 = transaction.query_one(NEXT_RUN_ID, &[]).await?.get(0);
        Ok(Self {
            run,
            builder: RunTreeBuilder::new(KEEP_FROM),
            page: Vec::with_capacity(PAGE_PAIRS * PAIR_LEN),
            pages: Vec::new(),
            next_page: 0,
            nodes: Vec::new(),
        })
    }

    async fn push(
        &mut self,
        transaction: &Transaction<'_>,
        pair: Pair,
    ) -> Result<(), IndexRunError> {
        self.builder
            .push(pair)
            .map_err(|error| IndexRunError::Unsorted {
                run: self.run,
                error,
            })?;
        self.page.extend_from_slice(&pair.to_bytes());
        if self.page.len() == PAGE_PAIRS * PAIR_LEN {
            self.pages.push(std::mem::replace(
                &mut self.page,
                Vec::with_capacity(PAGE_PAIRS * PAIR_LEN),
            ));
            self.nodes.extend(self.builder.take_kept());
            if self.pages.len() >= INSERT_ROWS {
                self.flush(transaction).await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self, transaction: &Transaction<'_>) -> Result<(), IndexRunError> {
        if !self.pages.is_empty() {
            let numbers: Vec<i32> = (self.next_page..).take(self.pages.len()).collect();
            let firsts: Vec<&[u8]> = self.pages.iter().map(|page| &page[..PAIR_LEN]).collect();
            let bytes: Vec<&[u8]> = self.pages.iter().map(Vec::as_slice).collect();
            transaction
                .execute(INSERT_PAGES, &[&self.run, &numbers, &firsts, &bytes])
                .await?;
            self.next_page += i32::try_from(self.pages.len()).unwrap_or(i32::MAX);
            self.pages.clear();
        }
        for nodes in self.nodes.chunks(INSERT_ROWS * 2) {
            let levels: Vec<i16> = nodes
                .iter()
                .map(|&(level, _, _)| i16::try_from(level).unwrap_or(i16::MAX))
                .collect();
            let indexes: Vec<i64> = nodes
                .iter()
                .map(|&(_, index, _)| i64::try_from(index).unwrap_or(i64::MAX))
                .collect();
            let hashes: Vec<&[u8]> = nodes
                .iter()
                .map(|(_, _, hash)| hash.as_bytes().as_slice())
                .collect();
            transaction
                .execute(INSERT_NODES, &[&self.run, &levels, &indexes, &hashes])
                .await?;
        }
        self.nodes.clear();
        Ok(())
    }

    /// Writes what is left and the run's row (entries `first..end`, at `level`).
    async fn finish(
        mut self,
        transaction: &Transaction<'_>,
        first: i64,
        end: i64,
        level: i16,
    ) -> Result<(), IndexRunError> {
        if !self.page.is_empty() {
            self.pages.push(std::mem::take(&mut self.page));
        }
        let (pairs, root, nodes) =
            std::mem::replace(&mut self.builder, RunTreeBuilder::new(KEEP_FROM)).finish();
        self.nodes.extend(nodes);
        self.flush(transaction).await?;
        let pairs = i64::try_from(pairs).unwrap_or(i64::MAX);
        transaction
            .execute(
                INSERT_RUN,
                &[
                    &self.run,
                    &first,
                    &end,
                    &level,
                    &pairs,
                    &root.as_bytes().as_slice(),
                ],
            )
            .await?;
        Ok(())
    }
}

/// Where the verifiable index's runs end: they cover entries `0..index_end`.
pub(crate) async fn index_end(transaction: &Transaction<'_>) -> Result<i64, tokio_postgres::Error> {
    Ok(transaction
        .query_one("SELECT coalesce(max(end_leaf), 0) FROM index_runs", &[])
        .await?
        .get(0))
}

/// Stores the run of entries `first..end` from their pairs, in any order.
pub(crate) async fn write_run(
    transaction: &Transaction<'_>,
    first: i64,
    end: i64,
    mut pairs: Vec<Pair>,
) -> Result<(), IndexRunError> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut output = RunOutput::new(transaction).await?;
    for pair in pairs {
        output.push(transaction, pair).await?;
    }
    output.finish(transaction, first, end, 0).await
}

async fn list_runs(
    transaction: &Transaction<'_>,
) -> Result<Vec<(RunInfo, Hash)>, tokio_postgres::Error> {
    Ok(transaction
        .query(LIST_RUNS, &[])
        .await?
        .iter()
        .map(|row| {
            let root: &[u8] = row.get(5);
            (
                RunInfo {
                    id: row.get(0),
                    first_leaf: row.get(1),
                    end_leaf: row.get(2),
                    level: row.get(3),
                    pairs: row.get(4),
                    // The index's runs record no key format: every one merges.
                    key_format: runs::KEY_FORMAT,
                },
                Hash::from_slice(root).unwrap_or(Hash::from_bytes([0; 32])),
            )
        })
        .collect())
}

/// One input run of a merge: its pages, a few at a time through a portal.
struct RunCursor {
    run: i64,
    portal: tokio_postgres::Portal,
    pages: std::vec::IntoIter<Vec<u8>>,
    page: Vec<u8>,
    at: usize,
    exhausted: bool,
}

impl RunCursor {
    async fn next(&mut self, transaction: &Transaction<'_>) -> Result<Option<Pair>, IndexRunError> {
        loop {
            if self.at < self.page.len() {
                let mut bytes = [0; PAIR_LEN];
                bytes.copy_from_slice(&self.page[self.at..self.at + PAIR_LEN]);
                self.at += PAIR_LEN;
                return Pair::from_bytes(&bytes)
                    .map(Some)
                    .map_err(|_| IndexRunError::BadPage { run: self.run });
            }
            self.at = 0;
            if let Some(page) = self.pages.next() {
                if page.is_empty() || !page.len().is_multiple_of(PAIR_LEN) {
                    return Err(IndexRunError::BadPage { run: self.run });
                }
                self.page = page;
                continue;
            }
            self.page.clear();
            if self.exhausted {
                return Ok(None);
            }
            let rows = transaction
                .query_portal(&self.portal, MERGE_FETCH_PAGES)
                .await?;
            self.exhausted = rows.len() < usize::try_from(MERGE_FETCH_PAGES).unwrap_or(0);
            self.pages = rows
                .iter()
                .map(|row| row.get::<_, Vec<u8>>(0))
                .collect::<Vec<_>>()
                .into_iter();
        }
    }
}

/// Merges the runs due (as the lookup runs: the first `fan_in` consecutive runs of the lowest
/// level that has that many) into one run of the next level; returns how many were merged.
pub(crate) async fn merge_runs(
    transaction: &Transaction<'_>,
    fan_in: usize,
) -> Result<usize, IndexRunError> {
    let runs: Vec<RunInfo> = list_runs(transaction)
        .await?
        .into_iter()
        .map(|(info, _)| info)
        .collect();
    let Some(range) = runs::plan_merge(&runs, fan_in) else {
        return Ok(0);
    };
    let inputs = &runs[range];
    let (Some(first), Some(last)) = (inputs.first(), inputs.last()) else {
        return Ok(0);
    };
    let select = transaction.prepare_cached(RUN_PAGES).await?;
    let mut cursors = Vec::with_capacity(inputs.len());
    for run in inputs {
        cursors.push(RunCursor {
            run: run.id,
            portal: transaction.bind(&select, &[&run.id]).await?,
            pages: Vec::new().into_iter(),
            page: Vec::new(),
            at: 0,
            exhausted: false,
        });
    }
    let mut heap = BinaryHeap::with_capacity(cursors.len());
    for (index, cursor) in cursors.iter_mut().enumerate() {
        if let Some(pair) = cursor.next(transaction).await? {
            heap.push(Reverse((pair, index)));
        }
    }
    let mut output = RunOutput::new(transaction).await?;
    while let Some(Reverse((pair, index))) = heap.pop() {
        output.push(transaction, pair).await?;
        if let Some(next) = cursors[index].next(transaction).await? {
            heap.push(Reverse((next, index)));
        }
    }
    output
        .finish(
            transaction,
            first.first_leaf,
            last.end_leaf,
            first.level + 1,
        )
        .await?;
    let ids: Vec<i64> = inputs.iter().map(|run| run.id).collect();
    // Taken just before the inputs are retired, held to the commit: a head stored by the
    // checkpointer either before (and seen by `drop_retired`) or after (without these runs).
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&locks::INDEX_HEADS])
        .await?;
    transaction.execute(RETIRE_RUNS, &[&ids]).await?;
    Ok(inputs.len())
}

/// The index commitment of the newest checkpoint, if it has one (and its note reads).
async fn newest_commitment(
    transaction: &Transaction<'_>,
) -> Result<Option<(String, IndexCommitment)>, tokio_postgres::Error> {
    let Some(row) = transaction.query_opt(NEWEST_NOTE, &[]).await? else {
        return Ok(None);
    };
    let note: String = row.get(0);
    Ok(commitment_of_note(&note).map(|commitment| (note, commitment)))
}

/// The index commitment a signed checkpoint note makes, if it reads and makes one.
pub fn commitment_of_note(note: &str) -> Option<IndexCommitment> {
    let note = Note::parse(note).ok()?;
    let checkpoint = Checkpoint::from_text(note.text()).ok()?;
    IndexCommitment::of_checkpoint(&checkpoint).ok().flatten()
}

/// The head the newest checkpoint commits to, as stored, if any.
async fn committed_head(
    transaction: &Transaction<'_>,
) -> Result<Option<(String, IndexHead)>, ReadError> {
    let Some((note, commitment)) = newest_commitment(transaction).await? else {
        return Ok(None);
    };
    let root = commitment.root.as_bytes().as_slice();
    let Some(row) = transaction.query_opt(HEAD_BY_ROOT, &[&root]).await? else {
        return Err(ReadError::Corrupt {
            what: "verifiable index head",
            reason: format!(
                "the newest checkpoint commits to head {}, which is not stored",
                commitment.root.to_hex()
            ),
        });
    };
    let bytes: &[u8] = row.get(0);
    let head = IndexHead::decode(bytes).map_err(|error| ReadError::Corrupt {
        what: "verifiable index head",
        reason: error.to_string(),
    })?;
    if head.root() != commitment.root {
        return Err(ReadError::Corrupt {
            what: "verifiable index head",
            reason: format!(
                "the head stored under root {} has another root",
                commitment.root.to_hex()
            ),
        });
    }
    Ok(Some((note, head)))
}

/// Deletes the heads smaller than that of the newest checkpoint signed more than `retention` ago
/// (every checkpoint since was the newest within `retention`; no checkpoint will commit to a
/// smaller head: the checkpointer commits only to a head at least as large as the newest
/// checkpoint's) and gives the retired runs that no head left lists, to delete with
/// [`delete_runs`] after this transaction: retired runs never come back, and a head stored later
/// lists live runs only. Under the lock the checkpointer stores heads with, held briefly.
pub(crate) async fn drop_retired(
    transaction: &Transaction<'_>,
    retention: std::time::Duration,
) -> Result<Vec<i64>, IndexRunError> {
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&locks::INDEX_HEADS])
        .await?;
    // The newest of them with a commitment (one signed while the heads were locked has none);
    // none at all keeps every head, as in a log younger than the retention.
    let kept_from = transaction
        .query(NEWEST_BEFORE_RETENTION, &[&retention.as_secs_f64()])
        .await?
        .iter()
        .find_map(|row| commitment_of_note(row.get(0)))
        .map_or(0, |commitment| commitment.size.get());
    let kept_from = i64::try_from(kept_from).unwrap_or(i64::MAX);
    transaction.execute(DROP_OLDER_HEADS, &[&kept_from]).await?;
    let mut kept: std::collections::HashSet<(u64, u64, Hash)> = std::collections::HashSet::new();
    for row in transaction.query(ALL_HEADS, &[]).await? {
        // A head that does not decode protects nothing: no proof could be read against it.
        if let Ok(head) = IndexHead::decode(row.get(0)) {
            kept.extend(head.runs().iter().map(|run| (run.first, run.end, run.root)));
        }
    }
    let mut gone = Vec::new();
    for row in transaction.query(RETIRED_RUNS, &[]).await? {
        let id: i64 = row.get(0);
        let first = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
        let end = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
        let root = Hash::from_slice(row.get(3)).unwrap_or(Hash::from_bytes([0; 32]));
        if !kept.contains(&(first, end, root)) {
            gone.push(id);
        }
    }
    Ok(gone)
}

/// Deletes runs (their rows, pages and nodes) that [`drop_retired`] gave.
pub(crate) async fn delete_runs(
    transaction: &Transaction<'_>,
    runs: &[i64],
) -> Result<(), tokio_postgres::Error> {
    if !runs.is_empty() {
        transaction.execute(DELETE_RUNS, &[&runs]).await?;
    }
    Ok(())
}

/// The size of the index the newest checkpoint commits to (0: none), and whether a head of that
/// root is stored: what a checkpoint about to be signed must not go below.
pub(crate) async fn newest_committed_size(
    transaction: &Transaction<'_>,
) -> Result<u64, tokio_postgres::Error> {
    Ok(newest_commitment(transaction)
        .await?
        .map_or(0, |(_, commitment)| commitment.size.get()))
}

/// Whether the head a commitment names is stored (and so are the runs it lists).
pub(crate) async fn head_is_stored(
    transaction: &Transaction<'_>,
    commitment: &IndexCommitment,
) -> Result<bool, tokio_postgres::Error> {
    Ok(transaction
        .query_opt(HEAD_BY_ROOT, &[&commitment.root.as_bytes().as_slice()])
        .await?
        .is_some())
}

/// The commitment to the head of the live runs, stored for readers (the caller holds the
/// `INDEX_HEADS` lock), for a checkpoint of the tree as it is now or later: `None` while the index is empty or, for a moment, covers more entries than
/// the checkpoint (an entry appended and indexed since the checkpoint's size was read), or when
/// its runs do not make a head (the audit names that; checkpoints go on without the line).
pub(crate) async fn commit_head(
    transaction: &Transaction<'_>,
) -> Result<Option<IndexCommitment>, tokio_postgres::Error> {
    // The runs first, then the tree: the tree read after can only be larger than the one the
    // runs were indexed from.
    let head = match head_of(transaction).await {
        Ok((head, _)) => head,
        Err(ReadError::Query(error)) => return Err(error),
        Err(error) => {
            tracing::warn!(error = %error, "the verifiable index's runs make no head: checkpoint signed without it");
            return Ok(None);
        }
    };
    let tree: i64 = transaction
        .query_one(super::packs::TREE_SIZE, &[])
        .await?
        .get(0);
    if head.size() == TreeSize::ZERO || head.size().get() > u64::try_from(tree).unwrap_or(0) {
        return Ok(None);
    }
    let commitment = IndexCommitment::of_head(&head);
    let size = i64::try_from(head.size().get()).unwrap_or(i64::MAX);
    transaction
        .execute(
            INSERT_HEAD,
            &[
                &commitment.root.as_bytes().as_slice(),
                &size,
                &head.encode(),
            ],
        )
        .await?;
    Ok(Some(commitment))
}

/// The head of the runs a transaction sees.
async fn head_of(transaction: &Transaction<'_>) -> Result<(IndexHead, Vec<i64>), ReadError> {
    let runs = list_runs(transaction).await?;
    let size = runs.last().map_or(0, |(run, _)| run.end_leaf);
    let corrupt = |reason: String| ReadError::Corrupt {
        what: "verifiable index run",
        reason,
    };
    let size = TreeSize::new(u64::try_from(size).unwrap_or(0))
        .map_err(|error| corrupt(error.to_string()))?;
    let ids = runs.iter().map(|(run, _)| run.id).collect();
    let heads = runs
        .iter()
        .map(|(run, root)| RunHead {
            first: u64::try_from(run.first_leaf).unwrap_or(0),
            end: u64::try_from(run.end_leaf).unwrap_or(0),
            pairs: u64::try_from(run.pairs).unwrap_or(0),
            root: *root,
        })
        .collect();
    let head = IndexHead::new(size, heads).map_err(|error| corrupt(error.to_string()))?;
    Ok((head, ids))
}

/// What a run's part of a proof needs, read before proving: the pages around the range, the last
/// page, and the kept nodes the range proof's spans are made of.
struct LoadedRun {
    pairs: u64,
    pages: BTreeMap<u64, Vec<Pair>>,
    nodes: BTreeMap<(u32, u64), Hash>,
    /// More than [`MAX_PROOF_PAGES`] pages hold the range: not all were read.
    too_large: bool,
}

impl LoadedRun {
    fn pair_at(&self, position: u64) -> Option<Pair> {
        let page = self.pages.get(&(position / PAGE_PAIRS as u64))?;
        page.get((position % PAGE_PAIRS as u64) as usize).copied()
    }

    /// The first position of a pair not below `pair`, among the loaded pages (which hold the
    /// pairs around the range).
    fn lower_bound(&self, pair: &Pair) -> u64 {
        for (&page, pairs) in &self.pages {
            let at = pairs.partition_point(|held| held < pair);
            if at < pairs.len() {
                return page * PAGE_PAIRS as u64 + at as u64;
            }
        }
        self.pairs
    }

    /// A complete node: kept (level 5 and above) or computed from a loaded page.
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        if level >= KEEP_FROM {
            return self.nodes.get(&(level, index)).copied();
        }
        let chunk = CHUNK_PAIRS as u64;
        let start = (index << level) * chunk;
        let end = ((index + 1) << level) * chunk;
        let pairs: Option<Vec<Pair>> = (start..end.min(self.pairs))
            .map(|at| self.pair_at(at))
            .collect();
        let pairs = pairs?;
        let chunks: Vec<Hash> = pairs
            .chunks(CHUNK_PAIRS)
            .map(ledger::index::chunk_hash)
            .collect();
        let mut frontier = ledger::index::Frontier::new();
        for hash in chunks {
            frontier.push(hash);
        }
        Some(*frontier.root().hash())
    }
}

struct Loaded<'a>(&'a [LoadedRun]);

/// A node or pair the loader did not read: a bug in what [`load_runs`] reads, reported as a
/// corrupt index rather than a panic.
#[derive(Debug)]
struct NotLoaded;

impl RunSource for Loaded<'_> {
    type Error = NotLoaded;

    fn lower_bound(&mut self, run: usize, pair: &Pair) -> Result<u64, NotLoaded> {
        Ok(self.0[run].lower_bound(pair))
    }

    fn pairs(&mut self, run: usize, start: u64, end: u64) -> Result<Vec<Pair>, NotLoaded> {
        (start..end)
            .map(|at| self.0[run].pair_at(at).ok_or(NotLoaded))
            .collect()
    }

    fn node(&mut self, run: usize, level: u32, index: u64) -> Result<Hash, NotLoaded> {
        self.0[run].node(level, index).ok_or(NotLoaded)
    }
}

/// The page in a row's columns `first` (its number) and `first + 1` (its pairs), into `pages`.
fn page_of_row(
    row: &tokio_postgres::Row,
    first: usize,
    pages: &mut BTreeMap<u64, Vec<Pair>>,
) -> Result<(), ReadError> {
    let page: i32 = row.get(first);
    let bytes: &[u8] = row.get(first + 1);
    if bytes.is_empty() || !bytes.len().is_multiple_of(PAIR_LEN) {
        return Err(ReadError::Corrupt {
            what: "verifiable index page",
            reason: format!("page {page} is {} bytes, not a list of pairs", bytes.len()),
        });
    }
    let pairs = bytes
        .chunks_exact(PAIR_LEN)
        .map(|bytes| {
            let mut array = [0; PAIR_LEN];
            array.copy_from_slice(bytes);
            Pair::from_bytes(&array)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ReadError::Corrupt {
            what: "verifiable index page",
            reason: format!("page {page}: {error}"),
        })?;
    pages.insert(u64::try_from(page).unwrap_or(0), pairs);
    Ok(())
}

/// Reads what each of `runs` (a run's id and its number of pairs, in the head's order) needs for
/// a proof of `range`, in three queries however many runs there are: the pages around the range
/// in every run, the short last pages the range proofs' spans need, and the nodes above the
/// chunks that the spans need.
async fn load_runs(
    transaction: &Transaction<'_>,
    runs: &[(i64, u64)],
    range: &KeyRange,
) -> Result<Vec<LoadedRun>, ReadError> {
    let mut loaded: Vec<LoadedRun> = runs
        .iter()
        .map(|&(_, pairs)| LoadedRun {
            pairs,
            pages: BTreeMap::new(),
            nodes: BTreeMap::new(),
            too_large: false,
        })
        .collect();
    // Where each run with pairs is in `loaded`.
    let position: HashMap<i64, usize> = runs
        .iter()
        .enumerate()
        .filter(|(_, (_, pairs))| *pairs > 0)
        .map(|(at, (id, _))| (*id, at))
        .collect();
    if position.is_empty() {
        return Ok(loaded);
    }
    let ids: Vec<i64> = position.keys().copied().collect();
    let below = Pair::new(range.key, range.from).to_bytes();
    let above = Pair::new(range.key, range.to).to_bytes();
    let most = i64::try_from(MAX_PROOF_PAGES + 1).unwrap_or(i64::MAX);
    let rows = transaction
        .query(
            PAGES_AROUND_IN_RUNS,
            &[&ids, &below.as_slice(), &above.as_slice(), &most],
        )
        .await?;
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for row in &rows {
        *counts.entry(row.get::<_, i64>(0)).or_default() += 1;
    }
    for (id, count) in &counts {
        if *count > MAX_PROOF_PAGES
            && let Some(&at) = position.get(id)
        {
            loaded[at].too_large = true;
        }
    }
    for row in &rows {
        if let Some(&at) = position.get(&row.get::<_, i64>(0))
            && !loaded[at].too_large
        {
            page_of_row(row, 1, &mut loaded[at].pages)?;
        }
    }
    // Each run's last page, when it is short, is in the spans of the range proof.
    let mut last_ids = Vec::new();
    let mut last_pages = Vec::new();
    for (&(id, pairs), run) in runs.iter().zip(&loaded) {
        if pairs == 0 || run.too_large {
            continue;
        }
        let last_page = (pairs - 1) / PAGE_PAIRS as u64;
        if !run.pages.contains_key(&last_page) && !pairs.is_multiple_of(PAGE_PAIRS as u64) {
            last_ids.push(id);
            last_pages.push(i32::try_from(last_page).unwrap_or(i32::MAX));
        }
    }
    if !last_ids.is_empty() {
        for row in transaction
            .query(PAGES_OF_RUNS, &[&last_ids, &last_pages])
            .await?
        {
            if let Some(&at) = position.get(&row.get::<_, i64>(0)) {
                page_of_row(&row, 1, &mut loaded[at].pages)?;
            }
        }
    }
    // The nodes the range proofs' spans need, from the positions the loaded pages give.
    let mut node_runs = Vec::new();
    let mut levels: Vec<i16> = Vec::new();
    let mut indexes: Vec<i64> = Vec::new();
    for (&(id, pairs), run) in runs.iter().zip(&loaded) {
        if pairs == 0 || run.too_large {
            continue;
        }
        let chunks = chunk_count(pairs);
        let chunk = CHUNK_PAIRS as u64;
        let first_in = run.lower_bound(&Pair::new(range.key, range.from));
        let first_above = run.lower_bound(&Pair::new(range.key, range.to));
        let lo = first_in.saturating_sub(1) / chunk;
        let hi = if first_above < pairs {
            first_above / chunk + 1
        } else {
            chunks
        };
        for (start, end) in range_proof_spans(chunks, lo, hi) {
            let _ = span_hash(start, end, &mut |level, index| {
                if level >= KEEP_FROM {
                    node_runs.push(id);
                    levels.push(i16::try_from(level).unwrap_or(i16::MAX));
                    indexes.push(i64::try_from(index).unwrap_or(i64::MAX));
                }
                Ok::<_, ()>(Hash::from_bytes([0; 32]))
            });
        }
    }
    if !node_runs.is_empty() {
        for row in transaction
            .query(NODES_OF_RUNS, &[&node_runs, &levels, &indexes])
            .await?
        {
            let Some(&at) = position.get(&row.get::<_, i64>(0)) else {
                continue;
            };
            let level: i16 = row.get(1);
            let index: i64 = row.get(2);
            let hash: &[u8] = row.get(3);
            let hash = Hash::from_slice(hash).map_err(|error| ReadError::Corrupt {
                what: "verifiable index node",
                reason: error.to_string(),
            })?;
            loaded[at].nodes.insert(
                (
                    u32::try_from(level).unwrap_or(0),
                    u64::try_from(index).unwrap_or(0),
                ),
                hash,
            );
        }
    }
    Ok(loaded)
}

/// Why a key proof could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProveKeyError {
    #[error(transparent)]
    EmptyRange(#[from] EmptyRange),
    #[error("the newest checkpoint commits to no verifiable index yet")]
    Uncommitted,
    #[error(
        "the index head of {size} entries that the checkpoint commits to is no longer stored: \
         a newer checkpoint replaced it"
    )]
    Gone { size: u64 },
    #[error(
        "more than {pages} pages of one run of the index hold the range: ask for a narrower \
         range of entries"
    )]
    TooLarge { pages: usize },
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// A key proof against the head the newest checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedProof {
    /// The checkpoint's signed note, as published: its extension line commits to `head`.
    pub checkpoint: String,
    pub head: IndexHead,
    pub proof: KeyProof,
}

/// Which head a proof is read against.
#[derive(Debug, Clone, Copy)]
enum Against {
    /// The live runs.
    Live,
    /// The head of the newest checkpoint.
    Committed,
}

impl super::Reader {
    /// The verifiable index's head as it stands, and the proof of a key range against it: the
    /// complete list of the range's entries up to the head's size (`KeyProof::verify`). One
    /// snapshot, so that a merge in between cannot mix two heads.
    pub async fn prove_key_live(
        &self,
        range: KeyRange,
    ) -> Result<(IndexHead, KeyProof), ProveKeyError> {
        range.check()?;
        let (_, head, loaded) = self
            .read_for_proof(&range, Against::Live)
            .await?
            .ok_or(ProveKeyError::Uncommitted)?;
        let proof = prove_loaded(&head, range, &loaded)?;
        Ok((head, proof))
    }

    /// The proof of a key range against the index head the newest checkpoint commits to (its
    /// extension line), with that checkpoint: what a bundle carries. One snapshot.
    pub async fn prove_key(&self, range: KeyRange) -> Result<CommittedProof, ProveKeyError> {
        range.check()?;
        let (checkpoint, head, loaded) = self
            .read_for_proof(&range, Against::Committed)
            .await?
            .ok_or(ProveKeyError::Uncommitted)?;
        let proof = prove_loaded(&head, range, &loaded)?;
        Ok(CommittedProof {
            checkpoint: checkpoint.unwrap_or_default(),
            head,
            proof,
        })
    }

    /// The stored index head of `root`, if it is stored: the head a checkpoint commits to stays
    /// for a while after newer checkpoints replace it.
    pub async fn index_head(&self, root: &Hash) -> Result<Option<IndexHead>, ReadError> {
        let client = self.pool().get().await?;
        let Some(row) = client
            .query_opt(HEAD_BY_ROOT, &[&root.as_bytes().as_slice()])
            .await?
        else {
            return Ok(None);
        };
        let head = IndexHead::decode(row.get(0)).map_err(|error| ReadError::Corrupt {
            what: "verifiable index head",
            reason: error.to_string(),
        })?;
        if head.root() != *root {
            return Err(ReadError::Corrupt {
                what: "verifiable index head",
                reason: format!(
                    "the head stored under root {} has another root",
                    root.to_hex()
                ),
            });
        }
        Ok(Some(head))
    }

    /// The proofs of key ranges against the head `commitment` names (a checkpoint's, as a
    /// provenance bundle carries them with that checkpoint), in one snapshot, in the order of
    /// `ranges`. [`ProveKeyError::Gone`] once newer checkpoints have replaced it for a while.
    pub async fn prove_keys_at(
        &self,
        commitment: &IndexCommitment,
        ranges: &[KeyRange],
    ) -> Result<(IndexHead, Vec<KeyProof>), ProveKeyError> {
        for range in ranges {
            range.check()?;
        }
        let mut client = self.pool().get().await.map_err(ReadError::from)?;
        let transaction = snapshot(&mut client).await.map_err(ReadError::from)?;
        let head = head_at(&transaction, commitment).await?;
        let ids = run_ids(&transaction, &head).await?;
        let runs: Vec<(i64, u64)> = ids
            .iter()
            .zip(head.runs())
            .map(|(id, run)| (*id, run.pairs))
            .collect();
        let mut proofs = Vec::with_capacity(ranges.len());
        for range in ranges {
            let loaded = load_runs(&transaction, &runs, range).await?;
            proofs.push(prove_loaded(&head, *range, &loaded)?);
        }
        transaction.commit().await.map_err(ReadError::from)?;
        Ok((head, proofs))
    }

    /// The leaves the head `commitment` names lists for each of `keys` (every entry of each, up
    /// to the head's size), with the head's size: read without their proofs, one query a key
    /// (a proof reads a few a run), for a reader that trusts its own database (a recall trace).
    /// In one snapshot; [`ProveKeyError::TooLarge`] as a proof would be, when a key's pairs span
    /// more than [`MAX_PROOF_PAGES`] pages of a run.
    pub async fn list_keys_at(
        &self,
        commitment: &IndexCommitment,
        keys: &[IndexKey],
    ) -> Result<(u64, Vec<u64>), ProveKeyError> {
        let mut client = self.pool().get().await.map_err(ReadError::from)?;
        let transaction = snapshot(&mut client).await.map_err(ReadError::from)?;
        let head = head_at(&transaction, commitment).await?;
        let ids = run_ids(&transaction, &head).await?;
        let most = i64::try_from(MAX_PROOF_PAGES + 1).unwrap_or(i64::MAX);
        let mut leaves = Vec::new();
        for key in keys {
            let below = Pair::new(*key, 0).to_bytes();
            let above = Pair::new(*key, u64::MAX).to_bytes();
            let rows = transaction
                .query(
                    PAGES_AROUND_IN_RUNS,
                    &[&ids, &below.as_slice(), &above.as_slice(), &most],
                )
                .await
                .map_err(ReadError::from)?;
            let mut per_run: BTreeMap<i64, usize> = BTreeMap::new();
            for row in &rows {
                *per_run.entry(row.get::<_, i64>(0)).or_default() += 1;
            }
            if per_run.values().any(|&pages| pages > MAX_PROOF_PAGES) {
                return Err(ProveKeyError::TooLarge {
                    pages: MAX_PROOF_PAGES,
                });
            }
            for row in &rows {
                let bytes: &[u8] = row.get(2);
                if bytes.is_empty() || !bytes.len().is_multiple_of(PAIR_LEN) {
                    return Err(ReadError::Corrupt {
                        what: "verifiable index page",
                        reason: format!("a page is {} bytes, not a list of pairs", bytes.len()),
                    }
                    .into());
                }
                for chunk in bytes.chunks_exact(PAIR_LEN) {
                    let mut array = [0; PAIR_LEN];
                    array.copy_from_slice(chunk);
                    let pair = Pair::from_bytes(&array).map_err(|error| ReadError::Corrupt {
                        what: "verifiable index page",
                        reason: error.to_string(),
                    })?;
                    if pair.key == *key {
                        leaves.push(pair.leaf);
                    }
                }
            }
        }
        transaction.commit().await.map_err(ReadError::from)?;
        leaves.sort_unstable();
        leaves.dedup();
        Ok((head.size().get(), leaves))
    }

    /// The leaves the head `commitment` names lists under any of `keys` within `ranges` (leaf
    /// ranges in ascending order, not overlapping), in order, read a few pages at a time: what a
    /// page of a query by keys with many entries reads (a day at a busy place lists millions).
    ///
    /// Reads at most `pages` pages (at least two) of each key in each run a range overlaps, and
    /// stops after the first range that brings the leaves found to `enough` (if another range
    /// follows) or before one that would take it past [`MAX_LISTING_QUERIES`] queries (one a key
    /// and range; the first range is always read). Ranges or parts of
    /// ranges beyond the head's size are not read (the caller reads the entries the head does
    /// not cover). In one snapshot.
    pub async fn list_keys_within(
        &self,
        commitment: &IndexCommitment,
        keys: &[IndexKey],
        ranges: &[std::ops::Range<u64>],
        pages: usize,
        enough: usize,
    ) -> Result<KeysListed, ProveKeyError> {
        let mut client = self.pool().get().await.map_err(ReadError::from)?;
        let transaction = snapshot(&mut client).await.map_err(ReadError::from)?;
        let head = head_at(&transaction, commitment).await?;
        let ids = run_ids(&transaction, &head).await?;
        let size = head.size().get();
        let pages = pages.max(2);
        let limit = i64::try_from(pages).unwrap_or(i64::MAX);
        let mut listed = KeysListed {
            covered: size,
            leaves: Vec::new(),
            until: None,
        };
        let mut queries = 0;
        for (at, range) in ranges.iter().enumerate() {
            let range = range.start..range.end.min(size);
            if range.is_empty() {
                continue;
            }
            if queries > 0 && queries + keys.len() > MAX_LISTING_QUERIES {
                listed.until = Some(range.start);
                break;
            }
            queries += keys.len();
            let overlapping: Vec<i64> = ids
                .iter()
                .zip(head.runs())
                .filter(|(_, run)| run.first < range.end && range.start < run.end)
                .map(|(id, _)| *id)
                .collect();
            // Where what was read stops being the whole list: a run that gave every page it
            // was asked for may list more of a key after the last pair read.
            let mut stop = range.end;
            let mut found = Vec::new();
            for key in keys {
                let below = Pair::new(*key, range.start).to_bytes();
                let above = Pair::new(*key, range.end);
                let rows = transaction
                    .query(
                        PAGES_AROUND_IN_RUNS,
                        &[
                            &overlapping,
                            &below.as_slice(),
                            &above.to_bytes().as_slice(),
                            &limit,
                        ],
                    )
                    .await
                    .map_err(ReadError::from)?;
                let mut per_run: BTreeMap<i64, BTreeMap<u64, Vec<Pair>>> = BTreeMap::new();
                for row in &rows {
                    page_of_row(row, 1, per_run.entry(row.get(0)).or_default())?;
                }
                for read in per_run.values() {
                    let pairs = read.values().flatten();
                    found.extend(
                        pairs
                            .filter(|pair| pair.key == *key && range.contains(&pair.leaf))
                            .map(|pair| pair.leaf),
                    );
                    let last = read.values().next_back().and_then(|page| page.last());
                    if let Some(last) = last.filter(|last| read.len() == pages && **last < above) {
                        let certain = if last.key == *key {
                            last.leaf.saturating_add(1)
                        } else {
                            range.start
                        };
                        stop = stop.min(certain.max(range.start));
                    }
                }
            }
            found.retain(|leaf| *leaf < stop);
            found.sort_unstable();
            found.dedup();
            listed.leaves.extend(found);
            let more = ranges[at + 1..].iter().any(|range| range.start < size);
            if stop < range.end || (more && listed.leaves.len() >= enough) {
                listed.until = Some(stop);
                break;
            }
        }
        transaction.commit().await.map_err(ReadError::from)?;
        Ok(listed)
    }

    /// The head (and the checkpoint committing to it), and what each of its runs needs for a
    /// proof of `range`, in one snapshot; `None` when no checkpoint commits to a head.
    async fn read_for_proof(
        &self,
        range: &KeyRange,
        against: Against,
    ) -> Result<Option<(Option<String>, IndexHead, Vec<LoadedRun>)>, ReadError> {
        let mut client = self.pool().get().await?;
        let transaction = snapshot(&mut client).await?;
        let (checkpoint, head, ids) = match against {
            Against::Live => {
                let (head, ids) = head_of(&transaction).await?;
                (None, head, ids)
            }
            Against::Committed => {
                let Some((note, head)) = committed_head(&transaction).await? else {
                    return Ok(None);
                };
                let ids = run_ids(&transaction, &head).await?;
                (Some(note), head, ids)
            }
        };
        let runs: Vec<(i64, u64)> = ids
            .iter()
            .zip(head.runs())
            .map(|(id, run)| (*id, run.pairs))
            .collect();
        let loaded = load_runs(&transaction, &runs, range).await?;
        transaction.commit().await?;
        Ok(Some((checkpoint, head, loaded)))
    }
}

/// The proof of a range from what was loaded for it.
fn prove_loaded(
    head: &IndexHead,
    range: KeyRange,
    loaded: &[LoadedRun],
) -> Result<KeyProof, ProveKeyError> {
    if loaded.iter().any(|run| run.too_large) {
        return Err(ProveKeyError::TooLarge {
            pages: MAX_PROOF_PAGES,
        });
    }
    ledger::index::prove(head, range, &mut Loaded(loaded)).map_err(|error| match error {
        ProveError::EmptyRange(empty) => ProveKeyError::EmptyRange(empty),
        ProveError::Source(NotLoaded) => ProveKeyError::Read(ReadError::Corrupt {
            what: "verifiable index",
            reason: "a page or node a proof needs is missing".to_owned(),
        }),
    })
}

/// The stored head `commitment` names, checked against it; [`ProveKeyError::Gone`] once newer
/// checkpoints have replaced it for a while.
async fn head_at(
    transaction: &Transaction<'_>,
    commitment: &IndexCommitment,
) -> Result<IndexHead, ProveKeyError> {
    let root = commitment.root.as_bytes().as_slice();
    let Some(row) = transaction
        .query_opt(HEAD_BY_ROOT, &[&root])
        .await
        .map_err(ReadError::from)?
    else {
        return Err(ProveKeyError::Gone {
            size: commitment.size.get(),
        });
    };
    let head = IndexHead::decode(row.get(0)).map_err(|error| ReadError::Corrupt {
        what: "verifiable index head",
        reason: error.to_string(),
    })?;
    if IndexCommitment::of_head(&head) != *commitment {
        return Err(ReadError::Corrupt {
            what: "verifiable index head",
            reason: format!(
                "the head stored under root {} is not the one committed to",
                commitment.root.to_hex()
            ),
        }
        .into());
    }
    Ok(head)
}

/// The stored run of each run of `head` (live or retired), by entries and root.
async fn run_ids(transaction: &Transaction<'_>, head: &IndexHead) -> Result<Vec<i64>, ReadError> {
    let firsts: Vec<i64> = head
        .runs()
        .iter()
        .map(|run| i64::try_from(run.first).unwrap_or(i64::MAX))
        .collect();
    let ends: Vec<i64> = head
        .runs()
        .iter()
        .map(|run| i64::try_from(run.end).unwrap_or(i64::MAX))
        .collect();
    let rows = transaction.query(RUNS_COVERING, &[&firsts, &ends]).await?;
    head.runs()
        .iter()
        .map(|run| {
            rows.iter()
                .find(|row| {
                    u64::try_from(row.get::<_, i64>(1)).ok() == Some(run.first)
                        && u64::try_from(row.get::<_, i64>(2)).ok() == Some(run.end)
                        && row.get::<_, &[u8]>(3) == run.root.as_bytes().as_slice()
                })
                .map(|row| row.get::<_, i64>(0))
                .ok_or_else(|| ReadError::Corrupt {
                    what: "verifiable index run",
                    reason: format!(
                        "run {}..{} of the committed head is not stored",
                        run.first, run.end
                    ),
                })
        })
        .collect()
}

/// What [`Indexer::audit_index`](super::Indexer::audit_index) found: how much it recomputed, and
/// the first run that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexAudit {
    pub runs: usize,
    pub entries: u64,
    pub pairs: u64,
    pub problem: Option<IndexProblem>,
}

/// A run of the verifiable index that is not what its entries give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("verifiable index run {first}..{end}: {reason}")]
pub struct IndexProblem {
    pub first: u64,
    pub end: u64,
    pub reason: IndexReason,
}

/// Why a run of the verifiable index does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexReason {
    #[error("the runs should go on from entry {expected}")]
    Cover { expected: u64 },
    #[error("its entries from {from} are not stored")]
    EntriesMissing { from: u64 },
    #[error("it counts {stored} pairs; its entries' events give {recomputed}")]
    PairCount { stored: u64, recomputed: u64 },
    #[error("its root is {stored}; its entries' events give {recomputed}")]
    Root { stored: String, recomputed: String },
    #[error("stored page {page} is not pairs {first_pair}.. of the run its entries give")]
    Page { page: i64, first_pair: u64 },
    #[error("it stores {stored} pages; its pairs fill {recomputed}")]
    PageCount { stored: u64, recomputed: u64 },
    #[error("stored node {level}/{index} is not the node of the tree its entries give")]
    Node { level: i16, index: i64 },
    #[error("it stores {stored} nodes of level 5 and above; its tree has {recomputed}")]
    NodeCount { stored: u64, recomputed: u64 },
}

const AUDIT_PAGES: &str =
    "SELECT page, first_pair, pairs FROM index_pages WHERE run_id = $1 ORDER BY page";
const AUDIT_NODES: &str =
    "SELECT level, idx, hash FROM index_nodes WHERE run_id = $1 ORDER BY level, idx";

/// A read-only transaction that sees one snapshot throughout (REPEATABLE READ): the runs, pages,
/// nodes and heads it reads belong together even while merges commit.
pub(crate) async fn snapshot(
    client: &mut deadpool_postgres::Client,
) -> Result<Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

/// The live runs as (id, first entry, end entry, pair count, root).
pub(crate) async fn live_runs(
    transaction: &Transaction<'_>,
) -> Result<Vec<(i64, u64, u64, u64, Hash)>, tokio_postgres::Error> {
    Ok(list_runs(transaction)
        .await?
        .into_iter()
        .map(|(run, root)| {
            (
                run.id,
                u64::try_from(run.first_leaf).unwrap_or(0),
                u64::try_from(run.end_leaf).unwrap_or(0),
                u64::try_from(run.pairs).unwrap_or(0),
                root,
            )
        })
        .collect())
}

/// Compares what run `id` stores (its row's pair count and root, its pages, its nodes) with the
/// run its entries give; the first difference.
pub(crate) async fn compare_run(
    transaction: &Transaction<'_>,
    id: i64,
    stored_pairs: u64,
    stored_root: &Hash,
    recomputed: &ledger::index::MemoryRun,
) -> Result<Option<IndexReason>, tokio_postgres::Error> {
    let head = recomputed.head();
    if stored_pairs != head.pairs {
        return Ok(Some(IndexReason::PairCount {
            stored: stored_pairs,
            recomputed: head.pairs,
        }));
    }
    if *stored_root != head.root {
        return Ok(Some(IndexReason::Root {
            stored: stored_root.to_hex(),
            recomputed: head.root.to_hex(),
        }));
    }
    let pairs = recomputed.pairs();
    let pages = transaction.query(AUDIT_PAGES, &[&id]).await?;
    let expected_pages = pairs.len().div_ceil(PAGE_PAIRS);
    for (number, row) in pages.iter().enumerate() {
        let page: i32 = row.get(0);
        let first: &[u8] = row.get(1);
        let bytes: &[u8] = row.get(2);
        let start = number * PAGE_PAIRS;
        let expected: Vec<u8> = pairs
            .iter()
            .skip(start)
            .take(PAGE_PAIRS)
            .flat_map(|pair| pair.to_bytes())
            .collect();
        if usize::try_from(page).ok() != Some(number)
            || bytes != expected.as_slice()
            || first != expected.get(..PAIR_LEN).unwrap_or_default()
        {
            return Ok(Some(IndexReason::Page {
                page: i64::from(page),
                first_pair: start as u64,
            }));
        }
    }
    if pages.len() != expected_pages {
        return Ok(Some(IndexReason::PageCount {
            stored: pages.len() as u64,
            recomputed: expected_pages as u64,
        }));
    }
    let nodes = transaction.query(AUDIT_NODES, &[&id]).await?;
    let mut expected_nodes = 0_u64;
    for level in KEEP_FROM.. {
        let mut index = 0;
        while recomputed.node(level, index).is_some() {
            index += 1;
        }
        if index == 0 {
            break;
        }
        expected_nodes += index;
    }
    for row in &nodes {
        let level: i16 = row.get(0);
        let index: i64 = row.get(1);
        let hash: &[u8] = row.get(2);
        let wanted = u32::try_from(level)
            .ok()
            .zip(u64::try_from(index).ok())
            .and_then(|(level, index)| recomputed.node(level, index));
        if wanted.as_ref().map(|hash| hash.as_bytes().as_slice()) != Some(hash) {
            return Ok(Some(IndexReason::Node { level, index }));
        }
    }
    if nodes.len() as u64 != expected_nodes {
        return Ok(Some(IndexReason::NodeCount {
            stored: nodes.len() as u64,
            recomputed: expected_nodes,
        }));
    }
    Ok(None)
}
