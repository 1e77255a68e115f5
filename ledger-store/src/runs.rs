//! Lookup runs: the EPC, parent and location lookups as a log-structured merge of sorted runs.
//!
//! A B-tree row per (identifier, entry) pair costs PostgreSQL a random index insertion and a
//! heap tuple for every EPC of every event; at tens of thousands of events a second that was the
//! whole cost of indexing. Instead, each indexing step writes one *run*: the step's pairs sorted
//! by (kind, key, leaf) and cut into *pages* of a few hundred pairs, one row each (a page is a
//! `bytea` of 24-byte pairs, its key range in indexed columns). A lookup reads, in every live run,
//! the one or few pages whose key range holds the key, and searches them. Runs are merged in the
//! background (`fan_in` runs of one level into one run of the next level, like a counter), so a
//! log of n steps has at most `(fan_in - 1) * log_fan_in(n)` live runs and each pair is rewritten
//! about `log_fan_in(n)` times, always sequentially.
//!
//! Runs cover consecutive entries `first_leaf..end_leaf`; together they cover `0..end` of the last.
//! A merge replaces its input runs by one in a single transaction, so a reader (one statement,
//! one snapshot) sees either the inputs or the merged run, never both or neither.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::LazyLock;

use deadpool_postgres::Transaction;

/// The most pairs on one page: 298 × 24 bytes, just under 7 KiB, kept inline in its row (the
/// table's `toast_tuple_target` is 8160 bytes), so that reading a page is one heap fetch.
pub(crate) const DEFAULT_PAGE_PAIRS: usize = 298;

/// How many runs of one level are merged into one run of the next.
pub(crate) const DEFAULT_FAN_IN: usize = 8;

/// The size of one stored pair: the key, the leaf index and the entry's tag
/// ([`ledger::history::Tag`]: who reported it, whether it changes state, whether it is a
/// receipt, whether it claims the identifier the key is of), each a big-endian `i64`.
const PAIR_BYTES: usize = 24;

/// How many pages a merge reads from each input run at a time.
const MERGE_FETCH_PAGES: i32 = 32;

/// How many pages go into one `INSERT`.
const INSERT_PAGES: usize = 64;

/// The format of the keys and tags this build derives for a run's pairs, stored with each run
/// (`lookup_runs.key_format`, V38). Bump it whenever what a pair holds changes (a new kind of key,
/// a key derived otherwise, a tag meaning something else), with a migration adding
/// `CHECK (key_format >= <new format> OR key_format = 0) NOT VALID` so that older binaries can no
/// longer write runs (format 0 is how an owner marks runs to rebuild): the indexer then rebuilds
/// the runs of an older format in place ([`stale_run`]), each in the transaction that deletes it,
/// so the runs never stop covering their entries. Format 2 (V40): tags tell receipts. Format 3
/// (V41): tags tell claims. Format 4 (V42): a pair's tag tells whether its entry claims the
/// identifier the pair is under, not whether it claims anything.
pub(crate) const KEY_FORMAT: i16 = 4;

/// What a pair's key identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i16)]
pub(crate) enum Kind {
    /// An EPC of `epcList`, `childEPCs`, `inputEPCList` or `outputEPCList`.
    Epc = 1,
    /// A `parentID`.
    Parent = 2,
    /// A `readPoint` or `bizLocation` id.
    Location = 3,
    /// The event hash itself (its first 8 bytes as the key): finds an entry by hash, and backs
    /// the sequencer's duplicate check.
    Hash = 4,
}

impl Kind {
    pub(crate) fn code(self) -> i16 {
        self as i16
    }

    fn from_code(code: i16) -> Option<Self> {
        match code {
            1 => Some(Self::Epc),
            2 => Some(Self::Parent),
            3 => Some(Self::Location),
            4 => Some(Self::Hash),
            _ => None,
        }
    }
}

/// One (kind, lookup key, leaf index, tag) pair; the derived order is the order of a run (a
/// leaf has one tag).
pub(crate) type Pair = (Kind, i64, i64, i64);

/// A leaf index a lookup found, with its entry's tag as stored.
pub(crate) type Tagged = (i64, i64);

/// One page of a run: consecutive pairs of one kind, in (key, leaf) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) kind: Kind,
    pub(crate) first_key: i64,
    pub(crate) last_key: i64,
    /// `(key, leaf, tag)` pairs, 24 bytes each.
    pub(crate) pairs: Vec<u8>,
}

impl Page {
    fn new(kind: Kind, key: i64) -> Self {
        Self {
            kind,
            first_key: key,
            last_key: key,
            pairs: Vec::with_capacity(DEFAULT_PAGE_PAIRS * PAIR_BYTES),
        }
    }

    fn len(&self) -> usize {
        self.pairs.len() / PAIR_BYTES
    }

    fn push(&mut self, key: i64, leaf: i64, tag: i64) {
        self.pairs.extend_from_slice(&key.to_be_bytes());
        self.pairs.extend_from_slice(&leaf.to_be_bytes());
        self.pairs.extend_from_slice(&tag.to_be_bytes());
        self.last_key = key;
    }
}

/// Cuts pairs, given in run order, into pages of at most `page_pairs` pairs of one kind each.
/// A key may continue from one page to the next; lookups read every page whose range holds it.
#[derive(Debug)]
pub(crate) struct PageBuilder {
    page_pairs: usize,
    current: Option<Page>,
    done: Vec<Page>,
    pairs: u64,
}

impl PageBuilder {
    pub(crate) fn new(page_pairs: usize) -> Self {
        Self {
            page_pairs: page_pairs.max(1),
            current: None,
            done: Vec::new(),
            pairs: 0,
        }
    }

    /// Adds the next pair; pairs must come in run order.
    pub(crate) fn push(&mut self, (kind, key, leaf, tag): Pair) {
        let full = self
            .current
            .as_ref()
            .is_some_and(|page| page.kind != kind || page.len() >= self.page_pairs);
        if full {
            self.done.extend(self.current.take());
        }
        self.current
            .get_or_insert_with(|| Page::new(kind, key))
            .push(key, leaf, tag);
        self.pairs += 1;
    }

    /// The pages completed so far, taken out of the builder.
    pub(crate) fn take_done(&mut self) -> Vec<Page> {
        std::mem::take(&mut self.done)
    }

    /// Every remaining page, and the number of pairs pushed in all.
    pub(crate) fn finish(mut self) -> (Vec<Page>, u64) {
        self.done.extend(self.current.take());
        (self.done, self.pairs)
    }
}

/// The leaf indexes paired with `key` on a page (pairs in key order), with their tags, in leaf
/// order.
pub(crate) fn leaves_on_page(pairs: &[u8], key: i64) -> impl Iterator<Item = Tagged> + '_ {
    let count = pairs.len() / PAIR_BYTES;
    let key_at = |i: usize| read_i64(&pairs[i * PAIR_BYTES..]);
    // The first pair whose key is not below `key`.
    let (mut low, mut high) = (0, count);
    while low < high {
        let middle = low + (high - low) / 2;
        if key_at(middle) < key {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    (low..count)
        .take_while(move |&i| key_at(i) == key)
        .map(move |i| tagged(&pairs[i * PAIR_BYTES..]))
}

/// The leaf index and tag of the pair that `pair` starts with.
fn tagged(pair: &[u8]) -> Tagged {
    (read_i64(&pair[8..]), read_i64(&pair[16..]))
}

fn read_i64(bytes: &[u8]) -> i64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(word)
}

/// A live run, as listed in `lookup_runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunInfo {
    pub(crate) id: i64,
    pub(crate) first_leaf: i64,
    pub(crate) end_leaf: i64,
    pub(crate) level: i16,
    pub(crate) pairs: i64,
    /// The [`KEY_FORMAT`] it was built with.
    pub(crate) key_format: i16,
}

/// The runs to merge next, as a range of `runs` (ordered by first leaf): the first `fan_in`
/// consecutive runs of the lowest level that has that many in a row, all of this build's
/// [`KEY_FORMAT`] (runs of an older one are rebuilt, not merged).
pub(crate) fn plan_merge(runs: &[RunInfo], fan_in: usize) -> Option<std::ops::Range<usize>> {
    let fan_in = fan_in.max(2);
    let mut best: Option<(i16, std::ops::Range<usize>)> = None;
    let mut start = 0;
    let current = |run: &RunInfo| run.key_format == KEY_FORMAT;
    for end in 1..=runs.len() {
        if end < runs.len()
            && runs[end].level == runs[start].level
            && current(&runs[end]) == current(&runs[start])
        {
            continue;
        }
        // runs[start..end] share a level and whether their keys are current.
        if end - start >= fan_in
            && current(&runs[start])
            && best
                .as_ref()
                .is_none_or(|(level, _)| runs[start].level < *level)
        {
            best = Some((runs[start].level, start..start + fan_in));
        }
        start = end;
    }
    best.map(|(_, range)| range)
}

const LIST_RUNS: &str = "SELECT run_id, first_leaf, end_leaf, level, pairs, key_format
    FROM lookup_runs ORDER BY first_leaf";
const INSERT_RUN: &str = "INSERT INTO lookup_runs (first_leaf, end_leaf, level, pairs, key_format)
    VALUES ($1, $2, $3, $4, $5) RETURNING run_id";
/// The first run whose keys are of an older format than `$1`.
const STALE_RUN: &str = "SELECT run_id, first_leaf, end_leaf, level, pairs, key_format
    FROM lookup_runs WHERE key_format < $1 ORDER BY first_leaf LIMIT 1";
const INSERT_PAGES_SQL: &str = "INSERT INTO lookup_pages (run_id, kind, last_key, page, first_key, pairs)
    SELECT $1, * FROM unnest($2::smallint[], $3::bigint[], $4::integer[], $5::bigint[], $6::bytea[])";
const RUN_PAGES: &str =
    "SELECT kind, pairs FROM lookup_pages WHERE run_id = $1 ORDER BY kind, last_key, page";
const PAGES_OF_KIND: &str = "SELECT pairs FROM lookup_pages WHERE kind = $1";
/// The next 256 pages of run `$1` after (kind, last key, page) `($2, $3, $4)`.
const PAGES_OF_RUN: &str = "SELECT kind, last_key, page, pairs FROM lookup_pages
    WHERE run_id = $1 AND (kind, last_key, page) > ($2, $3, $4)
    ORDER BY kind, last_key, page LIMIT 256";
const DELETE_PAGES: &str = "DELETE FROM lookup_pages WHERE run_id = ANY($1)";
const DELETE_RUNS: &str = "DELETE FROM lookup_runs WHERE run_id = ANY($1)";
/// For each key, in every live run: the run, the key, and what [`pages_of`] sends of each page
/// that may hold it.
static LOOKUP_PAGES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT r.run_id, asked.key, p.start, p.total, p.pairs
         FROM unnest($2::bigint[]) AS asked (key) CROSS JOIN lookup_runs r, LATERAL ({}) p",
        pages_of("$1", "ALL")
    )
});

/// The pages of run `r.run_id` that may hold pairs of `asked.key` of kind `kind` (an SQL
/// expression), whole: those ending at the key (the first `most` of them, an SQL expression:
/// `ALL`, or a parameter, NULL for all), and the first one ending after it if it starts at or
/// before it (pages hold consecutive pairs, so these are every page holding it).
fn whole_pages_of(kind: &str, most: &str) -> String {
    format!(
        "(SELECT last_key, pairs FROM lookup_pages
          WHERE run_id = r.run_id AND kind = {kind} AND last_key = asked.key
          ORDER BY page LIMIT {most})
         UNION ALL
         (SELECT last_key, pairs FROM (SELECT first_key, last_key, pairs FROM lookup_pages
                                       WHERE run_id = r.run_id AND kind = {kind}
                                         AND last_key > asked.key
                                       ORDER BY last_key, page LIMIT 1) next
          WHERE next.first_key <= asked.key)"
    )
}

/// The most bytes of a page sent for a key whose pairs do not run to the page's end: 64 pairs.
const SLICE_BYTES: i32 = 64 * PAIR_BYTES as i32;

/// Of each page [`whole_pages_of`] selects, only the part that can hold the key's pairs: `start`,
/// where the key's 8 bytes first occur in the page (1-based; 0 when they do not), the page's
/// length `total`, and `pairs`, the bytes from `start` on, to the page's end when the page ends
/// with the key and at most [`SLICE_BYTES`] otherwise ([`sliced_leaves`] reads them).
///
/// A page is 7 KiB; a key has a few pairs on it. Sending every live run's whole page for every key
/// asked made a lookup of an item never asked before send about 100 KiB at 10,000,000 entries.
/// `position` finds the first occurrence in C, in a page already in memory.
fn pages_of(kind: &str, most: &str) -> String {
    format!(
        "SELECT x.start, octet_length(w.pairs) AS total,
                CASE WHEN x.start = 0 THEN ''::bytea
                     WHEN w.last_key = asked.key THEN substring(w.pairs FROM x.start)
                     ELSE substring(w.pairs FROM x.start FOR {SLICE_BYTES}) END AS pairs
         FROM ({}) w, LATERAL (SELECT position(int8send(asked.key) IN w.pairs) AS start) x",
        whole_pages_of(kind, most)
    )
}

/// The whole pages of run `$1` that may hold pairs of kind `$2` and key `$3`, after one row with
/// NULL pairs if the run is still live (no such row: it was merged away).
static RUN_PAGES_OF_KEY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT NULL::bytea FROM lookup_runs WHERE run_id = $1
         UNION ALL
         SELECT w.pairs FROM (SELECT $1::bigint AS run_id) r,
             (SELECT $2::smallint AS kind, $3::bigint AS key) asked,
             LATERAL ({}) w",
        whole_pages_of("asked.kind", "ALL")
    )
});

/// The leaves of `key` on a page, from what [`pages_of`] sent of it; `None` when that is not
/// enough to tell (read the run's whole pages with [`run_leaves`]): the key's bytes first occur
/// inside another pair (never for keys that are hashes, but possible), or every pair sent is the
/// key's and the page goes on.
pub(crate) fn sliced_leaves(start: i32, total: i32, pairs: &[u8], key: i64) -> Option<Vec<Tagged>> {
    if start == 0 {
        return Some(Vec::new());
    }
    let offset = usize::try_from(start - 1).ok()?;
    if !offset.is_multiple_of(PAIR_BYTES) || !pairs.len().is_multiple_of(PAIR_BYTES) {
        return None;
    }
    let mut leaves = Vec::new();
    for pair in pairs.chunks_exact(PAIR_BYTES) {
        if read_i64(pair) != key {
            return Some(leaves);
        }
        leaves.push(tagged(pair));
    }
    (offset + pairs.len() == usize::try_from(total).ok()?).then_some(leaves)
}

/// Every leaf of (kind, key) in run `run`, from its whole pages; `None` when the run is no longer
/// live (merged away since the caller's query: ask again).
async fn run_leaves(
    client: &deadpool_postgres::Client,
    run: i64,
    kind: i16,
    key: i64,
) -> Result<Option<Vec<Tagged>>, tokio_postgres::Error> {
    let statement = client.prepare_cached(&RUN_PAGES_OF_KEY).await?;
    let rows = client.query(&statement, &[&run, &kind, &key]).await?;
    let mut live = false;
    let mut leaves = Vec::new();
    for row in &rows {
        match row.get::<_, Option<&[u8]>>(0) {
            None => live = true,
            Some(pairs) => leaves.extend(leaves_on_page(pairs, key)),
        }
    }
    leaves.sort_unstable();
    leaves.dedup();
    Ok(live.then_some(leaves))
}

/// The leaves each (run, kind, key) row of a lookup query gives (`columns`: the indexes of its
/// `start`, `total` and `pairs`), with the runs whose answer needs their whole pages read.
#[derive(Debug, Default)]
struct PageRows {
    leaves: HashMap<(i64, i16, i64), Vec<Tagged>>,
    whole: HashSet<(i64, i16, i64)>,
    /// How many pages each (run, kind, key) was sent.
    pages: HashMap<(i64, i16, i64), usize>,
}

impl PageRows {
    /// Adds one row's page; a row with NULL columns (no page) says the run holds nothing.
    fn add(&mut self, run: i64, kind: i16, key: i64, row: &tokio_postgres::Row, columns: usize) {
        let leaves = self.leaves.entry((run, kind, key)).or_default();
        let (Some(start), Some(total), Some(pairs)) = (
            row.get::<_, Option<i32>>(columns),
            row.get::<_, Option<i32>>(columns + 1),
            row.get::<_, Option<&[u8]>>(columns + 2),
        ) else {
            return;
        };
        *self.pages.entry((run, kind, key)).or_default() += 1;
        match sliced_leaves(start, total, pairs, key) {
            Some(found) => leaves.extend(found),
            None => {
                self.whole.insert((run, kind, key));
            }
        }
    }

    /// Reads the whole pages of the runs that need them; `false` when one of them is no longer
    /// live (ask again).
    async fn complete(
        &mut self,
        client: &deadpool_postgres::Client,
    ) -> Result<bool, tokio_postgres::Error> {
        for (run, kind, key) in std::mem::take(&mut self.whole) {
            match run_leaves(client, run, kind, key).await? {
                Some(leaves) => {
                    self.leaves.insert((run, kind, key), leaves);
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// The live runs, ordered by first leaf.
pub(crate) async fn list_runs(
    transaction: &Transaction<'_>,
) -> Result<Vec<RunInfo>, tokio_postgres::Error> {
    Ok(transaction
        .query(LIST_RUNS, &[])
        .await?
        .iter()
        .map(run_info)
        .collect())
}

fn run_info(row: &tokio_postgres::Row) -> RunInfo {
    RunInfo {
        id: row.get(0),
        first_leaf: row.get(1),
        end_leaf: row.get(2),
        level: row.get(3),
        pairs: row.get(4),
        key_format: row.get(5),
    }
}

/// The first live run whose keys are of an older [`KEY_FORMAT`] than this build's, if any: built
/// before its format changed, or by an older binary.
pub(crate) async fn stale_run(
    transaction: &Transaction<'_>,
) -> Result<Option<RunInfo>, tokio_postgres::Error> {
    Ok(transaction
        .query_opt(STALE_RUN, &[&KEY_FORMAT])
        .await?
        .as_ref()
        .map(run_info))
}

/// Deletes the run `run` and its pages.
pub(crate) async fn delete_run(
    transaction: &Transaction<'_>,
    run: i64,
) -> Result<(), tokio_postgres::Error> {
    let ids = [run];
    transaction
        .execute(DELETE_PAGES, &[&ids.as_slice()])
        .await?;
    transaction.execute(DELETE_RUNS, &[&ids.as_slice()]).await?;
    Ok(())
}

/// Where the runs end: they cover entries `0..runs_end`.
pub(crate) async fn runs_end(transaction: &Transaction<'_>) -> Result<i64, tokio_postgres::Error> {
    Ok(transaction
        .query_one("SELECT coalesce(max(end_leaf), 0) FROM lookup_runs", &[])
        .await?
        .get(0))
}

/// Stores a new run over entries `first_leaf..end_leaf` from pairs in run order.
pub(crate) async fn write_run(
    transaction: &Transaction<'_>,
    first_leaf: i64,
    end_leaf: i64,
    pairs: &[Pair],
    page_pairs: usize,
) -> Result<(), tokio_postgres::Error> {
    let mut builder = PageBuilder::new(page_pairs);
    for &pair in pairs {
        builder.push(pair);
    }
    let (pages, count) = builder.finish();
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let run: i64 = transaction
        .query_one(
            INSERT_RUN,
            &[&first_leaf, &end_leaf, &0_i16, &count, &KEY_FORMAT],
        )
        .await?
        .get(0);
    insert_pages(transaction, run, 0, &pages).await
}

/// Inserts pages numbered from `first_page` onwards into run `run`.
async fn insert_pages(
    transaction: &Transaction<'_>,
    run: i64,
    first_page: i32,
    pages: &[Page],
) -> Result<(), tokio_postgres::Error> {
    let statement = transaction.prepare_cached(INSERT_PAGES_SQL).await?;
    let mut number = first_page;
    for chunk in pages.chunks(INSERT_PAGES) {
        let kinds: Vec<i16> = chunk.iter().map(|page| page.kind.code()).collect();
        let last_keys: Vec<i64> = chunk.iter().map(|page| page.last_key).collect();
        let numbers: Vec<i32> = (number..).take(chunk.len()).collect();
        let first_keys: Vec<i64> = chunk.iter().map(|page| page.first_key).collect();
        let bytes: Vec<&[u8]> = chunk.iter().map(|page| page.pairs.as_slice()).collect();
        transaction
            .execute(
                &statement,
                &[&run, &kinds, &last_keys, &numbers, &first_keys, &bytes],
            )
            .await?;
        number += i32::try_from(chunk.len()).unwrap_or(i32::MAX);
    }
    Ok(())
}

/// Why a merge failed.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("database query failed while merging lookup runs")]
    Query(#[from] tokio_postgres::Error),
    #[error("lookup run {run} holds a page that is not a list of pairs of a known kind")]
    BadPage { run: i64 },
}

/// One input run of a merge: its pages, fetched a few at a time through a portal.
struct RunCursor {
    run: i64,
    portal: tokio_postgres::Portal,
    pages: std::vec::IntoIter<(Kind, Vec<u8>)>,
    page: Option<(Kind, Vec<u8>)>,
    at: usize,
    exhausted: bool,
}

impl RunCursor {
    /// The cursor's next pair, fetching more pages when it has read those it holds.
    async fn next(&mut self, transaction: &Transaction<'_>) -> Result<Option<Pair>, MergeError> {
        loop {
            if let Some((kind, bytes)) = &self.page
                && self.at < bytes.len()
            {
                let pair = (
                    *kind,
                    read_i64(&bytes[self.at..]),
                    read_i64(&bytes[self.at + 8..]),
                    read_i64(&bytes[self.at + 16..]),
                );
                self.at += PAIR_BYTES;
                return Ok(Some(pair));
            }
            self.at = 0;
            self.page = self.pages.next();
            if self.page.is_some() {
                continue;
            }
            if self.exhausted {
                return Ok(None);
            }
            let rows = transaction
                .query_portal(&self.portal, MERGE_FETCH_PAGES)
                .await?;
            self.exhausted = rows.len() < usize::try_from(MERGE_FETCH_PAGES).unwrap_or(0);
            let mut pages = Vec::with_capacity(rows.len());
            for row in rows {
                let kind = Kind::from_code(row.get(0));
                let bytes: Vec<u8> = row.get(1);
                match kind {
                    Some(kind) if !bytes.is_empty() && bytes.len().is_multiple_of(PAIR_BYTES) => {
                        pages.push((kind, bytes));
                    }
                    _ => return Err(MergeError::BadPage { run: self.run }),
                }
            }
            self.pages = pages.into_iter();
        }
    }
}

/// Merges the runs `plan_merge` picks, if any, into one run of the next level in this
/// transaction; returns the number of runs merged (0 when none needed merging). Reads the inputs
/// page by page and writes the output as it goes: memory stays at a few pages per input run.
pub(crate) async fn merge_runs(
    transaction: &Transaction<'_>,
    fan_in: usize,
    page_pairs: usize,
) -> Result<usize, MergeError> {
    let runs = list_runs(transaction).await?;
    let Some(range) = plan_merge(&runs, fan_in) else {
        return Ok(0);
    };
    let inputs = &runs[range];
    let (Some(first), Some(last)) = (inputs.first(), inputs.last()) else {
        return Ok(0);
    };
    let pairs: i64 = inputs.iter().map(|run| run.pairs).sum();
    let merged: i64 = transaction
        .query_one(
            INSERT_RUN,
            &[
                &first.first_leaf,
                &last.end_leaf,
                &(first.level + 1),
                &pairs,
                &KEY_FORMAT,
            ],
        )
        .await?
        .get(0);

    let select = transaction.prepare_cached(RUN_PAGES).await?;
    let mut cursors = Vec::with_capacity(inputs.len());
    for run in inputs {
        cursors.push(RunCursor {
            run: run.id,
            portal: transaction.bind(&select, &[&run.id]).await?,
            pages: Vec::new().into_iter(),
            page: None,
            at: 0,
            exhausted: false,
        });
    }
    // A k-way merge: the heap holds each cursor's next pair.
    let mut heap = BinaryHeap::with_capacity(cursors.len());
    for (index, cursor) in cursors.iter_mut().enumerate() {
        if let Some(pair) = cursor.next(transaction).await? {
            heap.push(Reverse((pair, index)));
        }
    }
    let mut builder = PageBuilder::new(page_pairs);
    let mut written = 0_i32;
    let mut count = 0_i64;
    while let Some(Reverse((pair, index))) = heap.pop() {
        builder.push(pair);
        count += 1;
        if let Some(next) = cursors[index].next(transaction).await? {
            heap.push(Reverse((next, index)));
        }
        if builder.done.len() >= INSERT_PAGES {
            let done = builder.take_done();
            insert_pages(transaction, merged, written, &done).await?;
            written += i32::try_from(done.len()).unwrap_or(i32::MAX);
        }
    }
    let (rest, _) = builder.finish();
    insert_pages(transaction, merged, written, &rest).await?;
    if count != pairs {
        // The runs' pair counts disagree with their pages: keep the inputs (roll back).
        return Err(MergeError::BadPage { run: first.id });
    }
    let ids: Vec<i64> = inputs.iter().map(|run| run.id).collect();
    transaction.execute(DELETE_PAGES, &[&ids]).await?;
    transaction.execute(DELETE_RUNS, &[&ids]).await?;
    Ok(inputs.len())
}

/// Every (key, leaf index) pair of `kind` whose key is one of `keys`, in every live run, in one
/// query (in no particular order).
pub(crate) async fn lookup_many(
    client: &deadpool_postgres::Client,
    kind: Kind,
    keys: &[i64],
) -> Result<Vec<(i64, i64)>, tokio_postgres::Error> {
    let statement = client.prepare_cached(&LOOKUP_PAGES).await?;
    loop {
        let rows = client.query(&statement, &[&kind.code(), &keys]).await?;
        let mut pages = PageRows::default();
        for row in &rows {
            pages.add(row.get(0), kind.code(), row.get(1), row, 2);
        }
        // A run merged away between the two queries: its pairs are in a live run; ask again.
        if !pages.complete(client).await? {
            continue;
        }
        return Ok(pages
            .leaves
            .into_iter()
            .flat_map(|((_, _, key), leaves)| leaves.into_iter().map(move |(leaf, _)| (key, leaf)))
            .collect());
    }
}

/// For each asked (kind, key) and each live run, that run's pages for it (at most `$6` of those
/// ending at the key, NULL for all of them); runs listed in `$3, $4, $5` (run id, kind, key) are
/// skipped for that (kind, key) (their answer is known). A row with NULL pairs says the run holds
/// nothing for it; a row with NULL kind lists a live run.
static LOOKUP_UNKNOWN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH asked AS (SELECT * FROM unnest($1::smallint[], $2::bigint[]) AS a (kind, key)),
              known AS (SELECT * FROM unnest($3::bigint[], $4::smallint[], $5::bigint[])
                        AS k (run_id, kind, key))
         SELECT r.run_id, asked.kind, asked.key, p.start, p.total, p.pairs
         FROM asked CROSS JOIN lookup_runs r
         LEFT JOIN LATERAL ({}) p ON true
         WHERE NOT EXISTS (SELECT 1 FROM known
                           WHERE known.run_id = r.run_id AND known.kind = asked.kind
                             AND known.key = asked.key)
         UNION ALL
         SELECT run_id, NULL, NULL, NULL, NULL, NULL FROM lookup_runs",
        pages_of("asked.kind", "$6::bigint")
    )
});

/// Every leaf paired with each asked (kind, key) in the runs `live` (the runs live in some earlier
/// snapshot), from memory alone: `Some` when, for every (kind, key), each of those runs has its
/// answer in `cache` or a filter that rules the key out; `None` when the database must be asked.
///
/// Runs never change, so the answer is exact for that snapshot: the runs cover every entry below
/// the end they had in it. A run merged away since is still answered for from memory; its pairs
/// are in a newer run that the snapshot did not have.
pub(crate) fn lookup_known(
    asked: &[(Kind, i64)],
    live: &[i64],
    cache: &super::run_cache::RunCache,
    filters: Option<&super::run_filters::RunFilters>,
) -> Option<Vec<Tagged>> {
    let mut found = Vec::new();
    let (mut from_memory, mut filtered) = (0, 0);
    for &(kind, key) in asked {
        let known = cache.known(super::run_cache::asked(kind, key));
        let mut ruled_out = None;
        for run in live {
            if let Some((_, leaves)) = known.iter().find(|(known_run, _)| known_run == run) {
                found.extend(leaves.iter().copied());
                from_memory += 1;
                continue;
            }
            let without = ruled_out.get_or_insert_with(|| {
                filters
                    .map(|f| f.runs_without(kind, key))
                    .unwrap_or_default()
            });
            if !without.contains(run) {
                return None;
            }
            filtered += 1;
        }
    }
    cache.count(from_memory, 0);
    if let Some(filters) = filters {
        filters.count(filtered, 0);
    }
    Some(found)
}

/// How many pages of one run a lookup of at most `most` pairs reads for a key before it knows
/// the key has more (pages of [`DEFAULT_PAGE_PAIRS`]: of the pages ending at the key, all but
/// the first and the last hold nothing else and are full).
fn pages_for(most: usize) -> i64 {
    i64::try_from(most / DEFAULT_PAGE_PAIRS + 3).unwrap_or(i64::MAX)
}

/// Every leaf paired with each asked (kind, key) in every live run, in one query, reading pages
/// only from the runs whose answer `cache` does not hold (and adding theirs to it).
///
/// With `filters`, the runs whose filter says they hold nothing for a (kind, key) are not asked
/// about it either (as if their answer were known to be empty). Returns the leaves and the runs
/// live in the query's snapshot.
///
/// With `most`, `None` when the pairs read from the database are more than that, reading at most a few pages beyond it from each run (`pages_for`), however
/// many pairs a key has: a flood of events naming one identifier costs each lookup of it a
/// bounded read, not one in proportion to the flood. (Pages smaller than the default, as tests
/// write, read a run's every page of the key when the first few do not show it has too many.)
pub(crate) async fn lookup_cached(
    client: &deadpool_postgres::Client,
    asked: &[(Kind, i64)],
    cache: &super::run_cache::RunCache,
    filters: Option<&super::run_filters::RunFilters>,
    most: Option<usize>,
) -> Result<Option<(Vec<Tagged>, HashSet<i64>)>, tokio_postgres::Error> {
    use super::run_cache::{Answers, Asked, asked as cache_key};

    let mut keys: Vec<(i16, i64)> = asked
        .iter()
        .map(|&(kind, key)| cache_key(kind, key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let known: HashMap<Asked, Answers> = keys.iter().map(|&key| (key, cache.known(key))).collect();
    let (mut known_runs, mut known_kinds, mut known_keys) = (Vec::new(), Vec::new(), Vec::new());
    for (&(kind, key), answers) in &known {
        for (run, _) in answers {
            known_runs.push(*run);
            known_kinds.push(kind);
            known_keys.push(key);
        }
    }
    let mut filtered = 0;
    if let Some(filters) = filters {
        for &(code, key) in &keys {
            let Some(kind) = Kind::from_code(code) else {
                continue;
            };
            for run in filters.runs_without(kind, key) {
                known_runs.push(run);
                known_kinds.push(code);
                known_keys.push(key);
                filtered += 1;
            }
        }
    }
    let kinds: Vec<i16> = keys.iter().map(|(kind, _)| *kind).collect();
    let key_values: Vec<i64> = keys.iter().map(|(_, key)| *key).collect();
    let statement = client.prepare_cached(&LOOKUP_UNKNOWN).await?;
    let most_pages = most.map(pages_for);
    let (live, pages) = loop {
        let rows = client
            .query(
                &statement,
                &[
                    &kinds,
                    &key_values,
                    &known_runs,
                    &known_kinds,
                    &known_keys,
                    &most_pages,
                ],
            )
            .await?;
        let mut live = HashSet::new();
        let mut pages = PageRows::default();
        for row in &rows {
            let run: i64 = row.get(0);
            match (row.get::<_, Option<i16>>(1), row.get::<_, Option<i64>>(2)) {
                (Some(kind), Some(key)) => pages.add(run, kind, key, row, 3),
                _ => {
                    live.insert(run);
                }
            }
        }
        if let (Some(most), Some(most_pages)) = (most, most_pages) {
            let sent: usize = pages.leaves.values().map(Vec::len).sum();
            if sent > most {
                return Ok(None);
            }
            // A run that may have sent fewer pages than hold the key without showing more pairs
            // than `most` (its pages are smaller than the default) is read whole.
            let cut = usize::try_from(most_pages).unwrap_or(usize::MAX);
            let short: Vec<(i64, i16, i64)> = pages
                .pages
                .iter()
                .filter(|&(_, &sent)| sent >= cut)
                .map(|(&asked, _)| asked)
                .collect();
            pages.whole.extend(short);
        }
        // A run merged away between the two queries: its pairs are in a live run; ask again.
        if pages.complete(client).await? {
            break (live, pages);
        }
    };
    if let Some(most) = most
        && pages.leaves.values().map(Vec::len).sum::<usize>() > most
    {
        return Ok(None);
    }
    let mut read: HashMap<(i16, i64), HashMap<i64, Vec<Tagged>>> = HashMap::new();
    for ((run, kind, key), leaves) in pages.leaves {
        read.entry((kind, key)).or_default().insert(run, leaves);
    }
    let mut found = Vec::new();
    let (mut from_memory, mut from_database) = (0, 0);
    for key in &keys {
        for (run, leaves) in known.get(key).into_iter().flatten() {
            // A run merged away since it was cached is not live: its leaves are in a live run.
            if live.contains(run) {
                found.extend(leaves.iter().copied());
                from_memory += 1;
            }
        }
        if let Some(runs) = read.remove(key) {
            from_database += runs.len() as u64;
            let answers: Vec<(i64, std::sync::Arc<[Tagged]>)> = runs
                .into_iter()
                .map(|(run, leaves)| {
                    found.extend(leaves.iter().copied());
                    (run, leaves.into())
                })
                .collect();
            cache.add(*key, answers);
        }
    }
    cache.count(from_memory, from_database);
    if let Some(filters) = filters {
        filters.count(filtered, from_database);
    }
    Ok(Some((found, live)))
}

/// Calls `each` with the key of every pair of `kind` in every live run (in no particular order),
/// reading the pages as a stream: memory stays at one page.
pub(crate) async fn for_each_key(
    client: &deadpool_postgres::Client,
    kind: Kind,
    mut each: impl FnMut(i64),
) -> Result<(), tokio_postgres::Error> {
    let statement = client.prepare_cached(PAGES_OF_KIND).await?;
    let rows = client.query_raw(&statement, [kind.code()]).await?;
    futures_util::pin_mut!(rows);
    while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
        let pairs: &[u8] = row.get(0);
        for pair in pairs.chunks_exact(PAIR_BYTES) {
            each(read_i64(pair));
        }
    }
    Ok(())
}

/// Calls `each` with the kind and key of every pair of run `run`, reading its pages in key order
/// a few hundred at a time (short statements, within any statement timeout; memory stays at those
/// pages); returns how many pairs it read (fewer than the run's when it was merged away meanwhile).
pub(crate) async fn for_each_pair_of_run(
    client: &deadpool_postgres::Client,
    run: i64,
    mut each: impl FnMut(Kind, i64),
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(PAGES_OF_RUN).await?;
    let mut after: (i16, i64, i32) = (i16::MIN, i64::MIN, i32::MIN);
    let mut read = 0;
    loop {
        let rows = client
            .query(&statement, &[&run, &after.0, &after.1, &after.2])
            .await?;
        let Some(last) = rows.last() else {
            return Ok(read);
        };
        after = (last.get(0), last.get(1), last.get(2));
        for row in &rows {
            let Some(kind) = Kind::from_code(row.get(0)) else {
                continue;
            };
            let pairs: &[u8] = row.get(3);
            for pair in pairs.chunks_exact(PAIR_BYTES) {
                each(kind, read_i64(pair));
                read += 1;
            }
        }
    }
}

/// The key of an event hash in the runs: its first 8 bytes as a big-endian `i64`.
pub(crate) fn hash_key(hash: &[u8; 32]) -> i64 {
    read_i64(hash)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pages_of(pairs: &[Pair], page_pairs: usize) -> Vec<Page> {
        let mut builder = PageBuilder::new(page_pairs);
        for &pair in pairs {
            builder.push(pair);
        }
        builder.finish().0
    }

    /// What the lookup query selects, over pages numbered in run order.
    fn pages_holding(pages: &[Page], kind: Kind, key: i64) -> Vec<usize> {
        let mut ordered: Vec<usize> = (0..pages.len())
            .filter(|&i| pages[i].kind == kind)
            .collect();
        ordered.sort_by_key(|&i| (pages[i].last_key, i));
        let mut chosen: Vec<usize> = ordered
            .iter()
            .copied()
            .filter(|&i| pages[i].last_key == key)
            .collect();
        if let Some(&next) = ordered.iter().find(|&&i| pages[i].last_key > key)
            && pages[next].first_key <= key
        {
            chosen.push(next);
        }
        chosen
    }

    #[test]
    fn pages_hold_pairs_of_one_kind_in_order_up_to_the_page_size() {
        let pairs = [
            (Kind::Epc, -5, 1, 10),
            (Kind::Epc, 3, 0, 11),
            (Kind::Epc, 3, 2, -12),
            (Kind::Epc, 9, 1, 13),
            (Kind::Location, 3, 0, 14),
        ];
        let pages = pages_of(&pairs, 2);
        let summary: Vec<(Kind, i64, i64, usize)> = pages
            .iter()
            .map(|p| (p.kind, p.first_key, p.last_key, p.len()))
            .collect();
        assert_eq!(
            summary,
            [
                (Kind::Epc, -5, 3, 2),
                (Kind::Epc, 3, 9, 2),
                (Kind::Location, 3, 3, 1)
            ]
        );
        assert_eq!(
            leaves_on_page(&pages[0].pairs, 3).collect::<Vec<_>>(),
            [(0, 11)]
        );
        assert_eq!(
            leaves_on_page(&pages[1].pairs, 3).collect::<Vec<_>>(),
            [(2, -12)]
        );
        assert_eq!(leaves_on_page(&pages[1].pairs, 4).count(), 0);
    }

    fn run(level: i16) -> RunInfo {
        RunInfo {
            id: 0,
            first_leaf: 0,
            end_leaf: 1,
            level,
            pairs: 0,
            key_format: KEY_FORMAT,
        }
    }

    #[test]
    fn merges_take_fan_in_runs_of_the_lowest_full_level() {
        let levels = |levels: &[i16]| levels.iter().copied().map(run).collect::<Vec<_>>();
        assert_eq!(plan_merge(&levels(&[0, 0]), 3), None);
        assert_eq!(plan_merge(&levels(&[0, 0, 0]), 3), Some(0..3));
        assert_eq!(
            plan_merge(&levels(&[2, 1, 1, 1, 1, 0, 0, 0]), 3),
            Some(5..8)
        );
        assert_eq!(plan_merge(&levels(&[2, 1, 1, 1, 1, 0]), 3), Some(1..4));
        assert_eq!(plan_merge(&levels(&[1, 0, 1, 0, 1]), 3), None);
        assert_eq!(plan_merge(&[], 3), None);
    }

    #[test]
    fn runs_of_an_older_key_format_are_not_merged() {
        let stale = |level| RunInfo {
            key_format: KEY_FORMAT - 1,
            ..run(level)
        };
        let runs = [stale(0), run(0), run(0), run(0)];
        assert_eq!(plan_merge(&runs, 3), Some(1..4));
        let runs = [run(0), stale(0), run(0), run(0)];
        assert_eq!(plan_merge(&runs, 3), None);
        let runs = [stale(0), stale(0), stale(0)];
        assert_eq!(plan_merge(&runs, 3), None);
    }

    proptest! {
        /// Whatever the page size, the pages the lookup query picks hold exactly the key's
        /// leaves, for keys that are there and keys that are not.
        #[test]
        fn the_selected_pages_hold_every_leaf_of_a_key(
            mut raw in proptest::collection::vec((1_i16..=3, -6_i64..6, 0_i64..50), 0..120),
            page_pairs in 1_usize..9,
        ) {
            let mut pairs: Vec<Pair> = raw
                .drain(..)
                .map(|(kind, key, leaf)| {
                    (Kind::from_code(kind).unwrap_or(Kind::Epc), key, leaf, leaf ^ 0x55)
                })
                .collect();
            pairs.sort_unstable();
            pairs.dedup();
            let pages = pages_of(&pairs, page_pairs);
            prop_assert!(pages.iter().all(|page| (1..=page_pairs).contains(&page.len())));
            for kind in [Kind::Epc, Kind::Parent, Kind::Location] {
                for key in -7..7 {
                    let expected: Vec<Tagged> = pairs
                        .iter()
                        .filter(|&&(k, candidate, _, _)| k == kind && candidate == key)
                        .map(|&(_, _, leaf, tag)| (leaf, tag))
                        .collect();
                    let mut found: Vec<Tagged> = pages_holding(&pages, kind, key)
                        .into_iter()
                        .flat_map(|i| leaves_on_page(&pages[i].pairs, key).collect::<Vec<_>>())
                        .collect();
                    found.sort_unstable();
                    prop_assert_eq!(found, expected);
                }
            }
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod database_tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::log::Writer;
    use crate::run_cache::RunCache;
    use crate::run_filters::RunFilters;
    use crate::testing::TestDatabase;

    /// Pairs whose keys are small numbers, so that a key's bytes also occur inside other pairs
    /// (in a leaf index or a tag), and keys with more pairs than a slice holds, ending inside a
    /// page and spanning pages. Each tag is its leaf plus 10^6, but one.
    fn crafted_pairs() -> Vec<Pair> {
        let mut pairs: Vec<(Kind, i64, i64)> = Vec::new();
        // Key 1's pair with leaf 0: "00..01 00..00" holds key 256's bytes one byte in.
        pairs.push((Kind::Epc, 1, 0));
        pairs.push((Kind::Epc, 1, 5));
        // 100 pairs of key 7 (more than a slice), then others on the same pages.
        pairs.extend((0..100).map(|leaf| (Kind::Epc, 7, 1_000 + leaf)));
        pairs.push((Kind::Epc, 9, 3));
        pairs.push((Kind::Epc, 256, 42));
        pairs.push((Kind::Epc, 256, 43));
        // A key whose bytes are also a leaf's: 2,000 is the leaf of key 10's pair.
        pairs.push((Kind::Epc, 10, 2_000));
        pairs.push((Kind::Epc, 2_000, 7));
        // Large random-looking keys, and the same key in another kind.
        pairs.extend((0..300).map(|i| (Kind::Epc, 0x1234_5678_9abc_0000 + i * 3, i)));
        pairs.push((Kind::Location, 7, 99));
        let mut pairs: Vec<Pair> = pairs
            .into_iter()
            .map(|(kind, key, leaf)| (kind, key, leaf, leaf + 1_000_000))
            .collect();
        // A key whose bytes are a tag's: 2,000 is the tag of key 9's second pair.
        pairs.push((Kind::Epc, 9, 4, 2_000));
        pairs.sort_unstable();
        pairs
    }

    fn expected(pairs: &[Pair], kind: Kind, key: i64) -> Vec<Tagged> {
        pairs
            .iter()
            .filter(|pair| pair.0 == kind && pair.1 == key)
            .map(|pair| (pair.2, pair.3))
            .collect()
    }

    /// A new database holding one run of `pairs` (in run order) over entries `0..end`, in pages
    /// of `page_pairs`: the database, its store and a client.
    async fn one_run(
        pairs: &[Pair],
        end: i64,
        page_pairs: usize,
    ) -> (TestDatabase, Writer, deadpool_postgres::Client) {
        let db = TestDatabase::create().await.unwrap();
        let store = Writer::connect(db.url()).unwrap();
        let mut client = store.pool().get().await.unwrap();
        let transaction = client.transaction().await.unwrap();
        write_run(&transaction, 0, end, pairs, page_pairs)
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        (db, store, client)
    }

    /// A key of 5,000 pairs (one identifier flooded) among others: a lookup that takes at most
    /// `most` pairs is refused having read a few pages of it, not all of them, whatever the pages'
    /// size; one that takes more answers in full, and so do the other keys.
    #[tokio::test]
    async fn a_lookup_of_at_most_some_pairs_stops_reading_a_flooded_key() {
        const FLOODED: i64 = 1_000;
        let mut pairs: Vec<Pair> = (0..5_000)
            .map(|leaf| (Kind::Epc, FLOODED, leaf, leaf + 7))
            .collect();
        pairs.extend((0..100).map(|leaf| (Kind::Epc, 5, 10_000 + leaf, 0)));
        pairs.extend((0..100).map(|leaf| (Kind::Epc, 2_000, 20_000 + leaf, 0)));
        pairs.sort_unstable();
        for page_pairs in [DEFAULT_PAGE_PAIRS, 40] {
            let (_db, _store, client) = one_run(&pairs, 30_000, page_pairs).await;
            let cache = RunCache::new(1_000);
            let flooded = [(Kind::Epc, FLOODED)];
            for most in [0, 1_000, 4_999] {
                let refused = lookup_cached(&client, &flooded, &cache, None, Some(most)).await;
                assert!(
                    matches!(refused, Ok(None)),
                    "pages of {page_pairs}, at most {most}: {refused:?}"
                );
            }
            // Refused answers are not cached: the lookup below reads the database again.
            assert!(
                cache
                    .known(crate::run_cache::asked(Kind::Epc, FLOODED))
                    .is_empty()
            );
            if page_pairs == DEFAULT_PAGE_PAIRS {
                // The pages read (as PostgreSQL counts the rows its index scans fetched in this
                // transaction): 7 for a lookup of at most 1,000 pairs (6 ending at the key and
                // the one after them), all 17 otherwise.
                let fetched = async |most: Option<usize>| {
                    // What earlier statements counted is flushed once the session is idle.
                    client
                        .batch_execute("SELECT pg_stat_force_next_flush()")
                        .await
                        .unwrap();
                    client.batch_execute("BEGIN").await.unwrap();
                    let answer = lookup_cached(&client, &flooded, &RunCache::new(10), None, most)
                        .await
                        .unwrap();
                    let fetched: i64 = client
                        .query_one(
                            "SELECT idx_tup_fetch FROM pg_stat_xact_user_tables
                             WHERE relname = 'lookup_pages'",
                            &[],
                        )
                        .await
                        .unwrap()
                        .get(0);
                    client.batch_execute("COMMIT").await.unwrap();
                    (answer.is_some(), fetched)
                };
                let (answered, bounded) = fetched(Some(1_000)).await;
                assert!(!answered);
                assert!(bounded <= pages_for(1_000) + 1, "{bounded} pages read");
                let (answered, whole) = fetched(None).await;
                assert!(answered);
                assert!(whole >= 17, "{whole} pages read");
            }
            for most in [5_000, 100_000] {
                let (mut found, _) = lookup_cached(&client, &flooded, &cache, None, Some(most))
                    .await
                    .unwrap()
                    .unwrap();
                found.sort_unstable();
                assert_eq!(
                    found,
                    expected(&pairs, Kind::Epc, FLOODED),
                    "at most {most}"
                );
            }
            let (mut found, _) = lookup_cached(
                &client,
                &[(Kind::Epc, 5), (Kind::Epc, 2_000)],
                &cache,
                None,
                Some(200),
            )
            .await
            .unwrap()
            .unwrap();
            found.sort_unstable();
            let mut want = expected(&pairs, Kind::Epc, 5);
            want.extend(expected(&pairs, Kind::Epc, 2_000));
            assert_eq!(found, want, "pages of {page_pairs}");
        }
    }

    /// The pages a lookup of at most `most` pairs reads from one run: with pages of the default
    /// size, always more than `most` pairs' worth of the key's full pages before it stops.
    #[test]
    fn a_capped_lookup_reads_past_its_limit_before_it_stops() {
        for most in [0, 1, 297, 298, 299, 1_000, 2_796_202] {
            let pages = usize::try_from(pages_for(most)).unwrap();
            // Of the pages ending at the key, all but the first and the last are the key's alone.
            assert!((pages - 2) * DEFAULT_PAGE_PAIRS > most, "{most}: {pages}");
            assert!(pages * DEFAULT_PAGE_PAIRS <= most + 3 * DEFAULT_PAGE_PAIRS);
        }
    }

    #[tokio::test]
    async fn a_lookup_reads_only_the_keys_pairs_and_falls_back_to_whole_pages() {
        let pairs = crafted_pairs();
        // Keys that are on pages, keys between them, and keys past every page.
        let mut keys: Vec<(Kind, i64)> = pairs.iter().map(|pair| (pair.0, pair.1)).collect();
        keys.extend([0, 2, 8, 255, 257, 1_999, 2_001, i64::MAX].map(|key| (Kind::Epc, key)));
        keys.extend([(Kind::Location, 6), (Kind::Location, 8), (Kind::Parent, 7)]);
        keys.sort_unstable();
        keys.dedup();
        // Pages of 298 pairs (one page of key 7's run ends inside it) and of 40 (key 7 spans
        // pages, and the slice of its first page is cut short).
        for page_pairs in [DEFAULT_PAGE_PAIRS, 40] {
            let (_db, store, client) = one_run(&pairs, 10_000, page_pairs).await;
            let cache = RunCache::new(1_000);
            for &(kind, key) in &keys {
                let want = expected(&pairs, kind, key);
                let (mut found, _) = lookup_cached(&client, &[(kind, key)], &cache, None, None)
                    .await
                    .unwrap()
                    .unwrap();
                found.sort_unstable();
                assert_eq!(found, want, "{kind:?} {key}, pages of {page_pairs}");
                let leaves: Vec<i64> = want.iter().map(|&(leaf, _)| leaf).collect();
                let mut many: Vec<i64> = lookup_many(&client, kind, &[key])
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(found_key, leaf)| {
                        assert_eq!(found_key, key);
                        leaf
                    })
                    .collect();
                many.sort_unstable();
                assert_eq!(many, leaves, "{kind:?} {key}, pages of {page_pairs}");
            }
            // All keys in one query, and again from the cache.
            let mut want: Vec<Tagged> = keys
                .iter()
                .flat_map(|&(kind, key)| expected(&pairs, kind, key))
                .collect();
            want.sort_unstable();
            for _ in 0..2 {
                let (mut found, _) = lookup_cached(&client, &keys, &cache, None, None)
                    .await
                    .unwrap()
                    .unwrap();
                found.sort_unstable();
                assert_eq!(found, want, "pages of {page_pairs}");
            }
            // With the run's filter (and no cache): the same answers, most absent keys spared.
            let filters = RunFilters::new(1 << 20);
            filters.build_missing(store.pool()).await.unwrap();
            for &(kind, key) in &keys {
                let (mut found, live) = lookup_cached(
                    &client,
                    &[(kind, key)],
                    &RunCache::new(10),
                    Some(&filters),
                    None,
                )
                .await
                .unwrap()
                .unwrap();
                found.sort_unstable();
                assert_eq!(
                    found,
                    expected(&pairs, kind, key),
                    "{kind:?} {key} filtered"
                );
                assert_eq!(live.len(), 1);
            }
            let counts = filters.counts();
            let absent = keys
                .iter()
                .filter(|&&(kind, key)| expected(&pairs, kind, key).is_empty())
                .count() as u64;
            assert!(
                counts.hits + 1 >= absent && counts.hits <= absent,
                "{counts:?} for {absent} absent keys"
            );
        }
    }

    #[test]
    fn a_slice_is_trusted_only_when_it_shows_where_the_keys_pairs_end() {
        let pair = |key: i64, leaf: i64| {
            [key.to_be_bytes(), leaf.to_be_bytes(), (-leaf).to_be_bytes()].concat()
        };
        let page: Vec<u8> = [pair(3, 1), pair(3, 2), pair(5, 9)].concat();
        // Not on the page.
        assert_eq!(sliced_leaves(0, 72, b"", 4), Some(vec![]));
        // Found at the first pair; the slice shows the next key.
        assert_eq!(sliced_leaves(1, 72, &page, 3), Some(vec![(1, -1), (2, -2)]));
        // The slice ends at the page's end.
        assert_eq!(sliced_leaves(49, 72, &page[48..], 5), Some(vec![(9, -9)]));
        // The slice ends before the page does, with the key's pairs only: cut short.
        assert_eq!(sliced_leaves(1, 72, &page[..48], 3), None);
        // The bytes first occur inside a pair (a leaf index, a tag).
        assert_eq!(sliced_leaves(9, 72, &page[8..], 1), None);
        assert_eq!(sliced_leaves(17, 72, &page[16..], -1), None);
    }
}
