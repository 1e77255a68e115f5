//! Reading entries back: one entry, its device batch, an event by hash, and entries by EPC, parent,
//! location (through the lookup runs) or time.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::sync::LazyLock;

use epcis::EventHash;
use epcis::document::Timestamp;

use ledger::batch::{BatchStatement, DeviceSignature, StatementHash};
use ledger::history::Tag;
use ledger::record::{Attestation, EventBinding, LeafRecord};
use ledger::size::LeafIndex;

use super::bundles::{BUNDLE, row_records};
use super::entry::Declares;
use super::indexer::PgTimestamp;
use super::keys::lookup_key;
use super::log::{ReadError, Reader};
use super::packs;
use super::runs::{self, Kind, Tagged};

/// The entries at the leaves `$1`, in leaf order: each one's event and its leaf record, from the
/// entry bundle row holding it (NULLs if that row is missing); if it is an error declaration, the
/// entry it declares erroneous (NULL when the log did not hold it) and its event hash; and the
/// error declarations of its event, found by its event hash (a declaration is stored under its
/// declaration key, so never finds itself).
///
/// A bundle row is up to 256 length-prefixed records (about 30 KB); sending all of it for one record
/// made this query 7.5 times slower (pgbench, 10 entries of a 1,000,000-entry ledger). When every
/// record of the row has the first one's length (the row's size says so: the usual case, one
/// device's batch), only the entry's own record is sent (`uniform`, column 4: its length prefix and
/// bytes, which PostgreSQL slices out of the uncompressed row without reading the rest); otherwise
/// the whole row. The reader checks a sliced record against its entry and asks for the whole row
/// if it does not fit ([`SELECT_BUNDLE_ROW`]): equal sizes could in principle come from unequal
/// records.
static SELECT_ENTRIES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT e.leaf, e.event_hash, {RECORD_COLUMNS},
                e.event,
                (SELECT d.declared_leaf FROM error_declarations d WHERE d.declaration_leaf = e.leaf),
                (SELECT d.event_hash FROM error_declarations d WHERE d.declaration_leaf = e.leaf),
                ARRAY(SELECT d.declaration_leaf FROM error_declarations d
                      WHERE d.event_hash = e.event_hash ORDER BY d.declaration_leaf)
         FROM ({}) e (leaf, event_hash, event) {BUNDLE_ROW_JOIN}
         ORDER BY e.leaf",
        packs::EVENTS_AT
    )
});

/// For each stored key `$1` (an event hash, or a declaration's key, which no declaration names):
/// the error declarations of that event; and, in a row with a NULL key, the newest declaration's
/// leaf in the same snapshot (-1 when there is none).
const SELECT_DECLARED_BY: &str = "SELECT NULL::bytea, coalesce(max(declaration_leaf), -1)
        FROM error_declarations
    UNION ALL
    SELECT d.event_hash, d.declaration_leaf FROM error_declarations d WHERE d.event_hash = ANY($1)";

/// How far the error declarations went in one snapshot: the leaf of the newest (-1 when there is
/// none). Declarations are entries, committed in log order, so a snapshot that holds this one
/// holds every earlier one, and a later declaration has a larger leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Declarations(pub(crate) i64);

/// What never changes of an entry once stored: all of it but `declared_by` (kept empty here), and
/// the key it is stored under (its event hash, or a declaration's key); and its declarations as
/// last read, with how far the declarations went then.
#[derive(Debug)]
pub(crate) struct FixedEntry {
    entry: StoredEntry,
    key: [u8; 32],
    declared: std::sync::Mutex<Option<(Declarations, Vec<LeafIndex>)>>,
}

impl FixedEntry {
    /// What it is counted as in the entry cache: its event text and a record's worth more.
    pub(crate) fn cached_bytes(&self) -> usize {
        self.entry.event.len() + 256
    }

    /// The entry with its declarations, if they were read in a snapshot at least as new as
    /// `wanted`'s (no declaration can have come between).
    fn declared_as_of(&self, wanted: Declarations) -> Option<StoredEntry> {
        let declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        let (_, leaves) = declared
            .as_ref()
            .filter(|(through, _)| *through >= wanted)?;
        Some(StoredEntry {
            declared_by: leaves.clone(),
            ..self.entry.clone()
        })
    }

    fn remember(&self, through: Declarations, leaves: &[LeafIndex]) {
        let mut declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
        if declared.as_ref().is_none_or(|(known, _)| *known < through) {
            *declared = Some((through, leaves.to_vec()));
        }
    }
}

/// The whole entry bundle row holding leaf `$1` (`first`, `width`, `entries`).
const SELECT_BUNDLE_ROW: &str = "SELECT first, width, entries FROM entry_bundles
    WHERE bundle_index = $1::bigint / 256 AND first <= $1::bigint % 256
        AND width > $1::bigint % 256
    ORDER BY first DESC LIMIT 1";

/// The leaf records of the leaves `$1`, in leaf order, as [`SELECT_ENTRIES`] reads them (its
/// columns 2 to 5: `first`, `width`, `uniform`, the sliced record), without their events, and
/// without the whole row where the records' lengths differ (NULL): those rows are read once
/// each ([`SELECT_ROWS`]).
static SELECT_RECORDS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT leaf, first, width, uniform, CASE WHEN uniform THEN record END
         FROM (SELECT e.leaf, {RECORD_COLUMNS} FROM unnest($1::bigint[]) AS e(leaf)
               {BUNDLE_ROW_JOIN}) r (leaf, first, width, uniform, record)
         ORDER BY leaf"
    )
});

/// The entry bundle rows `(bundle_index, first)` of `$1` and `$2`, whole.
const SELECT_ROWS: &str = "SELECT bundle_index, first, entries FROM entry_bundles
    WHERE (bundle_index, first) IN (SELECT * FROM unnest($1::bigint[], $2::smallint[]))";

/// The leaf record columns of the entry at `e.leaf` from its bundle row `b` ([`BUNDLE_ROW_JOIN`]):
/// `first`, `width`, whether every record of the row has the first one's length, and then only
/// the entry's record (its length prefix and bytes) or else the whole row.
const RECORD_COLUMNS: &str = "b.first, b.width,
    b.total = (b.width - b.first) * (b.len + 2),
    CASE WHEN b.total = (b.width - b.first) * (b.len + 2)
         THEN substring(b.entries FROM ((e.leaf % 256 - b.first) * (b.len + 2) + 1)::integer
                        FOR b.len + 2)
         ELSE b.entries END";

/// The entry bundle row `b` holding the entry at `e.leaf` (NULLs if none does), with its size
/// and its first record's length.
const BUNDLE_ROW_JOIN: &str = "LEFT JOIN LATERAL (
        SELECT first, width, entries, octet_length(entries) AS total,
               get_byte(substring(entries FROM 1 FOR 2), 0) * 256
                   + get_byte(substring(entries FROM 1 FOR 2), 1) AS len
        FROM entry_bundles
        WHERE bundle_index = e.leaf / 256 AND first <= e.leaf % 256 AND width > e.leaf % 256
        ORDER BY first DESC LIMIT 1) b ON true";

/// The entries `$1..$2` whose event text contains one of the strings `$3` ([`scan_sql`]).
static SCAN_FOR: LazyLock<String> = LazyLock::new(|| scan_sql("e.leaf_index"));
/// As [`SCAN_FOR`], with each entry's event text.
static SCAN_TEXTS_FOR: LazyLock<String> = LazyLock::new(|| scan_sql("e.leaf_index, e.event"));

/// How many of the entries `$1..$2` the log holds and the first of them it does not hold once
/// (NULL when it holds each once), then `columns` of those whose event text contains one of the
/// strings `$3`, in leaf order: one row with NULL columns when none does. The packs are read
/// without decompressing them: each one's entries are counted from its hash column's length (32
/// bytes an entry, which V6's CHECK ties to the events it holds), and the log holds each entry
/// once exactly when the first pack starts by `$1`, each next one starts where the one before it
/// ends, and the last ends by `$2`. A count alone is not enough: a pack copied over a lost entry's
/// neighbours makes up the number.
fn scan_sql(columns: &str) -> String {
    format!(
        "SELECT c.held, c.broken_at, {columns}
         FROM (SELECT coalesce(sum(least(q.end_leaf, $2::bigint)
                                   - greatest(q.first_leaf, $1::bigint)), 0)::bigint,
                      CASE WHEN coalesce(min(q.first_leaf) > $1::bigint, true) THEN $1::bigint
                           ELSE least(min(greatest(least(q.first_leaf, q.previous_end),
                                                   $1::bigint))
                                          FILTER (WHERE q.first_leaf <> q.previous_end),
                                      CASE WHEN max(q.end_leaf) < $2::bigint
                                           THEN max(q.end_leaf) END) END
               FROM (SELECT p.first_leaf, p.first_leaf + octet_length(p.event_hashes) / 32,
                            lag(p.first_leaf + octet_length(p.event_hashes) / 32)
                                OVER (ORDER BY p.first_leaf)
                     FROM event_packs p
                     WHERE {} AND p.first_leaf + octet_length(p.event_hashes) / 32 > $1::bigint)
                   q (first_leaf, end_leaf, previous_end)) c (held, broken_at)
         LEFT JOIN (SELECT * FROM ({}) e
                    WHERE EXISTS (SELECT 1 FROM unnest($3::text[]) id WHERE strpos(e.event, id) > 0)) e
             ON true
         ORDER BY e.leaf_index",
        packs::packs_holding("$1", "$2"),
        packs::in_range("$1", "$2")
    )
}
const SELECT_BATCHES: &str = "SELECT statement, signature_algorithm, signature, event_hashes,
        statement_hash
    FROM device_batches WHERE statement_hash = ANY($1)";
const RUNS_END: &str = "SELECT coalesce(max(end_leaf), 0) FROM lookup_runs";
/// The `event_time_ranges` rows whose times overlap `$1..=$2`, from leaf `$3` on, at most `$4`,
/// in leaf order. Ranges do not overlap, so the one holding leaf `$3` is the last starting at or
/// before it: the scan starts there, along the primary key.
const BY_TIME_FROM: &str = "SELECT first_leaf, end_leaf FROM event_time_ranges
    WHERE first_leaf >= coalesce(
              (SELECT max(first_leaf) FROM event_time_ranges WHERE first_leaf <= $3), 0)
        AND end_leaf > $3 AND min_time <= $2 AND max_time >= $1
    ORDER BY first_leaf LIMIT $4";

/// The lookup runs live in one snapshot of the database, and how far they reach together (every
/// entry below [`end`](Self::end) is in one of them). Runs never change and are only merged into
/// larger ones, so what they answer stays the answer for the entries they cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveRuns {
    ids: Arc<[i64]>,
    end: u64,
}

impl LiveRuns {
    pub(crate) fn new(ids: Vec<i64>, end: u64) -> Self {
        Self {
            ids: ids.into(),
            end,
        }
    }

    /// The entries below this leaf are indexed.
    pub fn end(&self) -> u64 {
        self.end
    }
}

/// Leaf indexes from a lookup's leaves, sorted, each once.
fn leaf_indexes(leaves: Vec<Tagged>) -> Result<Vec<LeafIndex>, ReadError> {
    Ok(tagged_leaves(leaves)?
        .into_iter()
        .map(|(leaf, _)| leaf)
        .collect())
}

/// Leaf indexes with their tags from a lookup's leaves, sorted, each leaf once. An entry found
/// under several keys claims what was asked about when any of its pairs says so
/// ([`Tag::claim`]): its tags are joined.
fn tagged_leaves(mut leaves: Vec<Tagged>) -> Result<Vec<(LeafIndex, Tag)>, ReadError> {
    leaves.sort_unstable();
    leaves.dedup_by(|(leaf, tag), (kept, kept_tag)| {
        let same = leaf == kept;
        if same {
            *kept_tag |= *tag;
        }
        same
    });
    leaves
        .into_iter()
        .map(|(leaf, tag)| Ok((leaf_index(leaf, "lookup run")?, Tag::from_bits(tag))))
        .collect()
}

/// A leaf index read from the database, where `what` holds it.
fn leaf_index(leaf: i64, what: &'static str) -> Result<LeafIndex, ReadError> {
    u64::try_from(leaf)
        .ok()
        .and_then(|leaf| LeafIndex::new(leaf).ok())
        .ok_or_else(|| ReadError::Corrupt {
            what,
            reason: format!("{leaf} is not a leaf index"),
        })
}

/// An entry as stored: its leaf record, its event's JSON, and the error declarations that link it
/// to other entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Where it is in the log.
    pub leaf_index: LeafIndex,
    /// The leaf record the log committed to.
    pub record: LeafRecord,
    /// The event's self-contained JSON, as hashed, byte for byte as stored (a version 2 record
    /// commits to these bytes). Shared: a reader's cache hands out entries without copying
    /// their text.
    pub event: std::sync::Arc<str>,
    /// For an error declaration: what it declares erroneous.
    pub declares: Option<Declares>,
    /// The error declarations of this entry's event, in log order (empty when none declared it
    /// erroneous), including any appended before the event itself.
    pub declared_by: Vec<LeafIndex>,
}

impl StoredEntry {
    /// Whether the stored event is still the one the record commits to (version 2; a version 1
    /// record binds the event hash only: `HashOnly`).
    pub fn binding(&self) -> ledger::record::EventBinding {
        self.record.binds_event(self.event.as_bytes())
    }
}

/// A device batch as stored: the signed statement and every event hash of the batch, from which
/// any of its events' [`BatchPath`](ledger::batch::BatchPath) is recomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// What the device signed.
    pub statement: BatchStatement,
    /// The device's signature over it.
    pub signature: DeviceSignature,
    /// The batch's event hashes, in batch order.
    pub event_hashes: Vec<EventHash>,
}

/// What to look entries up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// An EPC in `epcList`, `childEPCs`, `inputEPCList` or `outputEPCList`.
    Epc(&'a str),
    /// A `parentID`.
    Parent(&'a str),
    /// A `readPoint` or `bizLocation` id.
    Location(&'a str),
}

impl Reader {
    /// The entry at `index`, if the log has it.
    pub async fn entry(&self, index: LeafIndex) -> Result<Option<StoredEntry>, ReadError> {
        Ok(self.entries(&[index]).await?.pop())
    }

    /// The entries at `indexes` that the log has, in leaf order (one query; an index asked for
    /// twice is answered once).
    pub async fn entries(&self, indexes: &[LeafIndex]) -> Result<Vec<StoredEntry>, ReadError> {
        self.entries_as_of(indexes, None).await
    }

    /// As [`entries`](Self::entries), for a reader answering as of a snapshot in which the
    /// declarations went as far as `declarations` ([`reader_view`](Self::reader_view)): an
    /// entry the store keeps, whose declarations it read in a snapshot at least that new, needs
    /// no query.
    pub async fn entries_as_of(
        &self,
        indexes: &[LeafIndex],
        declarations: Option<Declarations>,
    ) -> Result<Vec<StoredEntry>, ReadError> {
        let mut leaves: Vec<u64> = indexes.iter().map(|index| index.get()).collect();
        leaves.sort_unstable();
        leaves.dedup();
        // A reader keeps what never changes of the entries it read (their records, events
        // and what they declare); only who declares them erroneous can grow, and is asked for.
        let mut entries = Vec::with_capacity(leaves.len());
        let mut cached = Vec::new();
        let mut missing = Vec::new();
        for leaf in leaves {
            match self.entry_cache().get(&leaf) {
                Some(fixed) => match declarations.and_then(|wanted| fixed.declared_as_of(wanted)) {
                    Some(entry) => entries.push(entry),
                    None => cached.push(fixed),
                },
                None => missing.push(i64::try_from(leaf).unwrap_or(i64::MAX)),
            }
        }
        if cached.is_empty() && missing.is_empty() {
            return Ok(entries);
        }
        let client = self.pool().get().await?;
        if !cached.is_empty() {
            let statement = client.prepare_cached(SELECT_DECLARED_BY).await?;
            let keys: Vec<&[u8]> = cached.iter().map(|fixed| fixed.key.as_slice()).collect();
            let rows = client.query(&statement, &[&keys]).await?;
            let mut declared_by: HashMap<Vec<u8>, Vec<LeafIndex>> = HashMap::new();
            let mut through = None;
            for row in &rows {
                let leaf: i64 = row.get(1);
                let Some(key) = row.get::<_, Option<&[u8]>>(0) else {
                    through = Some(Declarations(leaf));
                    continue;
                };
                let leaf = leaf_index(leaf, "error declaration")?;
                declared_by.entry(key.to_vec()).or_default().push(leaf);
            }
            for fixed in cached {
                let mut entry = fixed.entry.clone();
                entry.declared_by = declared_by.remove(fixed.key.as_slice()).unwrap_or_default();
                entry.declared_by.sort_unstable();
                if let Some(through) = through {
                    fixed.remember(through, &entry.declared_by);
                }
                entries.push(entry);
            }
        }
        if !missing.is_empty() {
            let statement = client.prepare_cached(&SELECT_ENTRIES).await?;
            let rows = client.query(&statement, &[&missing]).await?;
            for (row, sliced) in sliced_entries(rows).await? {
                let row = &row;
                let entry = match sliced {
                    Some(entry) => entry,
                    // The slice was not the entry's record: read its whole row.
                    None => {
                        let leaf: i64 = row.get(0);
                        let statement = client.prepare_cached(SELECT_BUNDLE_ROW).await?;
                        let bundle = client.query_opt(&statement, &[&leaf]).await?;
                        entry_from_row(row, RecordSource::Row(bundle.as_ref()))?.ok_or_else(
                            || ReadError::Corrupt {
                                what: "entry",
                                reason: format!("entry {leaf}: its record does not bind its event"),
                            },
                        )?
                    }
                };
                let key: &[u8] = row.get(1);
                // An event stored other than its record commits to is read anew each time: kept,
                // it would still be served after the row is restored.
                let as_logged = !matches!(entry.binding(), EventBinding::Differs { .. });
                if let (Ok(key), true) = (<[u8; 32]>::try_from(key), as_logged) {
                    let fixed = FixedEntry {
                        entry: StoredEntry {
                            declared_by: Vec::new(),
                            ..entry.clone()
                        },
                        key,
                        declared: std::sync::Mutex::new(None),
                    };
                    self.entry_cache()
                        .insert(entry.leaf_index.get(), Arc::new(fixed));
                }
                entries.push(entry);
            }
        }
        entries.sort_by_key(|entry| entry.leaf_index);
        Ok(entries)
    }

    /// Who attested each of `leaves`, from its leaf record alone: what a reader needs to choose
    /// among many entries before loading their events, which cost far more. Each leaf with its
    /// record's attestation, in leaf order: this is for choosing, never evidence, and an entry that
    /// is loaded is checked in full. A leaf no entry bundle row holds (its row is written with
    /// it and never deleted: a leaf past the log, or a row lost), and a row or record that does
    /// not decode, are [`ReadError::Corrupt`]: left as an unknown reporter, a custodian's events
    /// could be shared out of a history as anyone's. Entries the reader keeps need no query. With the
    /// bytes read.
    pub async fn attestations(
        &self,
        leaves: &[LeafIndex],
    ) -> Result<(Vec<(LeafIndex, Attestation)>, usize), ReadError> {
        let mut bytes = 0;
        let mut attested = Vec::with_capacity(leaves.len());
        let mut missing = Vec::new();
        for &leaf in leaves {
            match self.entry_cache().get(&leaf.get()) {
                Some(fixed) => attested.push((leaf, fixed.entry.record.attestation().clone())),
                None => missing.push(i64::try_from(leaf.get()).unwrap_or(i64::MAX)),
            }
        }
        if !missing.is_empty() {
            missing.sort_unstable();
            missing.dedup();
            let client = self.pool().get().await?;
            let statement = client.prepare_cached(&SELECT_RECORDS).await?;
            // Leaves whose row's records differ in length, by row: (bundle index, first).
            let mut unsliced: HashMap<(i64, i16), Vec<(LeafIndex, i16)>> = HashMap::new();
            for row in client.query(&statement, &[&missing]).await? {
                let leaf = leaf_index(row.get(0), "leaf record")?;
                let (first, width, uniform): (Option<i16>, Option<i16>, Option<bool>) =
                    (row.get(1), row.get(2), row.get(3));
                let sliced = match (uniform, row.get::<_, Option<&[u8]>>(4)) {
                    (Some(true), Some(sliced)) => {
                        bytes += sliced.len();
                        sliced_attestation(sliced)
                    }
                    _ => None,
                };
                match (first, width, sliced) {
                    (Some(_), Some(_), Some(attestation)) => {
                        attested.push((leaf, attestation));
                    }
                    // Records of unequal lengths (or equal lengths by coincidence only, so that
                    // the slice was not the record): the whole row is read.
                    (Some(first), Some(width), None) => {
                        let bundle = i64::try_from(leaf.get() / BUNDLE).unwrap_or(i64::MAX);
                        unsliced
                            .entry((bundle, first))
                            .or_default()
                            .push((leaf, width));
                    }
                    _ => return Err(no_row(leaf)),
                }
            }
            if !unsliced.is_empty() {
                let (bundles, firsts): (Vec<i64>, Vec<i16>) = unsliced.keys().copied().unzip();
                let statement = client.prepare_cached(SELECT_ROWS).await?;
                for row in client.query(&statement, &[&bundles, &firsts]).await? {
                    let key: (i64, i16) = (row.get(0), row.get(1));
                    let entries: &[u8] = row.get(2);
                    bytes += entries.len();
                    for (leaf, width) in unsliced.remove(&key).unwrap_or_default() {
                        let attestation = row_attestation(key.1, width, entries, leaf)?;
                        attested.push((leaf, attestation));
                    }
                }
                // Rows are never deleted: one the first query found and the second did not is
                // corruption too.
                if let Some((leaf, _)) = unsliced.into_values().flatten().next() {
                    return Err(no_row(leaf));
                }
            }
        }
        attested.sort_by_key(|(leaf, _)| *leaf);
        attested.dedup_by_key(|(leaf, _)| *leaf);
        Ok((attested, bytes))
    }

    /// The device batch with this statement hash, if stored.
    pub async fn device_batch(
        &self,
        hash: &StatementHash,
    ) -> Result<Option<StoredBatch>, ReadError> {
        Ok(self.device_batches(&[*hash]).await?.remove(hash))
    }

    /// The stored device batches of these statement hashes (one query; those not stored are
    /// left out).
    pub async fn device_batches(
        &self,
        hashes: &[StatementHash],
    ) -> Result<HashMap<StatementHash, StoredBatch>, ReadError> {
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(SELECT_BATCHES).await?;
        let asked: Vec<&[u8]> = hashes
            .iter()
            .map(|hash| hash.as_bytes().as_slice())
            .collect();
        let rows = client.query(&statement, &[&asked]).await?;
        let corrupt = |reason: String| ReadError::Corrupt {
            what: "device batch",
            reason,
        };
        let mut batches = HashMap::with_capacity(rows.len());
        for row in rows {
            let batch_statement =
                BatchStatement::decode(row.get(0)).map_err(|e| corrupt(e.to_string()))?;
            let algorithm: &str = row.get(1);
            let signature: &[u8] = row.get(2);
            let signature = match (algorithm, <[u8; 64]>::try_from(signature)) {
                ("ed25519", Ok(bytes)) => DeviceSignature::Ed25519(bytes),
                _ => {
                    return Err(corrupt(format!(
                        "unknown signature {algorithm} of {} bytes",
                        signature.len()
                    )));
                }
            };
            let hashes: &[u8] = row.get(3);
            let event_hashes = hashes
                .chunks_exact(32)
                .filter_map(|chunk| <[u8; 32]>::try_from(chunk).ok().map(EventHash::from_bytes))
                .collect();
            let stored_hash: &[u8] = row.get(4);
            let key = <[u8; 32]>::try_from(stored_hash)
                .map(StatementHash::from_bytes)
                .map_err(|_| corrupt("a statement hash of other than 32 bytes".to_owned()))?;
            batches.insert(
                key,
                StoredBatch {
                    statement: batch_statement,
                    signature,
                    event_hashes,
                },
            );
        }
        Ok(batches)
    }

    /// The leaf index of the event with this hash, if the log has it (from the lookup runs, or
    /// from the entries they do not cover yet).
    pub async fn find_event(&self, hash: &EventHash) -> Result<Option<LeafIndex>, ReadError> {
        let client = self.pool().get().await?;
        // Where the runs end is read first: the runs only grow, so the lookup in them that follows
        // covers at least that much, and the scan covers the rest.
        let runs_end: i64 = client.query_one(RUNS_END, &[]).await?.get(0);
        let unindexed = u64::try_from(runs_end).unwrap_or(0)..u64::MAX;
        let found = find_hashes(&client, &[*hash.as_bytes()], unindexed).await?;
        found
            .into_values()
            .next()
            .map(|leaf| {
                LeafIndex::new(leaf).map_err(|_| ReadError::Corrupt {
                    what: "leaf index",
                    reason: format!("{leaf} is not a leaf index"),
                })
            })
            .transpose()
    }

    /// The indexed entries that mention an identifier, in leaf order. These are candidates: two
    /// identifiers may (with probability 2^-64) share a lookup key, so check the events. Entries
    /// appended in the last moments (above the indexer's watermark) are not included.
    pub async fn lookup(&self, lookup: Lookup<'_>) -> Result<Vec<LeafIndex>, ReadError> {
        self.lookup_any(&[lookup]).await
    }

    /// The indexed entries that match any of `lookups`, in leaf order, each once (one query,
    /// which reads pages only from runs whose answer the store does not hold yet: runs never
    /// change); candidates, as for [`lookup`](Self::lookup).
    pub async fn lookup_any(&self, lookups: &[Lookup<'_>]) -> Result<Vec<LeafIndex>, ReadError> {
        self.lookup_any_within(lookups, None).await
    }

    /// As [`lookup_any`](Self::lookup_any), answered from memory without a query when the store
    /// knows the answer of every run of `runs` (a reader's snapshot of the live runs, from
    /// [`reader_view`](Self::reader_view)) for every lookup, from its cache or its filters. The
    /// answer then covers the entries below [`LiveRuns::end`]; a query, when one is needed,
    /// covers at least as many (the runs only grow).
    pub async fn lookup_any_within(
        &self,
        lookups: &[Lookup<'_>],
        runs: Option<&LiveRuns>,
    ) -> Result<Vec<LeafIndex>, ReadError> {
        // Without a most, never refused.
        leaf_indexes(
            self.lookup_within(lookups, runs, None)
                .await?
                .unwrap_or_default(),
        )
    }

    /// As [`lookup_any_within`](Self::lookup_any_within), each leaf with its entry's tag: who
    /// reported it and whether its event changes state ([`Tag`]), so that a history can choose
    /// among candidates without reading them. With `most`, `None` when the database gives more
    /// than that (a cached answer is memory already, and is returned whatever its length),
    /// having read at most a few pages beyond it from each run, however many events name what
    /// was asked.
    pub async fn lookup_tagged_within(
        &self,
        lookups: &[Lookup<'_>],
        runs: Option<&LiveRuns>,
        most: Option<usize>,
    ) -> Result<Option<Vec<(LeafIndex, Tag)>>, ReadError> {
        self.lookup_within(lookups, runs, most)
            .await?
            .map(tagged_leaves)
            .transpose()
    }

    /// The leaves `lookups` find, with their tags, in no order; with `most`, `None` when more
    /// are read from the database, having read at most a few pages more than that from each
    /// run.
    async fn lookup_within(
        &self,
        lookups: &[Lookup<'_>],
        runs: Option<&LiveRuns>,
        most: Option<usize>,
    ) -> Result<Option<Vec<Tagged>>, ReadError> {
        let asked: Vec<(Kind, i64)> = lookups
            .iter()
            .map(|lookup| match lookup {
                Lookup::Epc(id) => (Kind::Epc, lookup_key(id)),
                Lookup::Parent(id) => (Kind::Parent, lookup_key(id)),
                Lookup::Location(id) => (Kind::Location, lookup_key(id)),
            })
            .collect();
        let filters = self.run_filters();
        if let Some(runs) = runs
            && let Some(leaves) =
                runs::lookup_known(&asked, &runs.ids, self.run_cache(), filters.map(|f| &**f))
        {
            return Ok(Some(leaves));
        }
        let client = self.pool().get().await?;
        let Some((leaves, live)) = runs::lookup_cached(
            &client,
            &asked,
            self.run_cache(),
            filters.map(|f| &**f),
            most,
        )
        .await?
        else {
            return Ok(None);
        };
        if let Some(filters) = filters {
            filters.keep_live(&live, self.pool());
        }
        Ok(Some(leaves))
    }

    /// How far the lookups reach: entries below this leaf are indexed (the runs only grow).
    pub async fn indexed_through(&self) -> Result<u64, ReadError> {
        let client = self.pool().get().await?;
        let runs_end: i64 = client.query_one(RUNS_END, &[]).await?.get(0);
        Ok(u64::try_from(runs_end).unwrap_or(0))
    }

    /// The entries of `range` whose event text contains one of `ids`: how a reader finds the
    /// entries the lookups do not cover yet (those from [`indexed_through`](Self::indexed_through)
    /// on), by a scan of that range. These are candidates, like [`lookup`](Self::lookup)'s: an
    /// identifier may appear as part of another, so check the events.
    ///
    /// Every entry of `range` must be in the log (a range within a checkpoint's tree): one the
    /// store does not hold (a lost or withheld row), or holds twice, is [`ReadError::Corrupt`],
    /// never a scan that finds less. The indexer stops at such a gap, so every later entry would
    /// be found by this scan alone, and it must not tell a shorter story for them.
    pub async fn scan_for(
        &self,
        ids: &[&str],
        range: Range<u64>,
    ) -> Result<Vec<LeafIndex>, ReadError> {
        self.scan(&SCAN_FOR, ids, range)
            .await?
            .iter()
            .map(|row| leaf_index(row.get(2), "leaf index"))
            .collect()
    }

    /// As [`scan_for`](Self::scan_for), with each entry's event text (to tell what it does
    /// without its lookup tag).
    pub async fn scan_texts_for(
        &self,
        ids: &[&str],
        range: Range<u64>,
    ) -> Result<Vec<(LeafIndex, String)>, ReadError> {
        self.scan(&SCAN_TEXTS_FOR, ids, range)
            .await?
            .iter()
            .map(|row| Ok((leaf_index(row.get(2), "leaf index")?, row.get(3))))
            .collect()
    }

    /// The rows `scan` ([`SCAN_FOR`] or [`SCAN_TEXTS_FOR`]) gives for `ids` over `range` that
    /// found an entry, once the log is found to hold every entry of `range`.
    async fn scan(
        &self,
        scan: &str,
        ids: &[&str],
        range: Range<u64>,
    ) -> Result<Vec<tokio_postgres::Row>, ReadError> {
        if range.is_empty() || ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(scan).await?;
        let from = i64::try_from(range.start).unwrap_or(i64::MAX);
        let until = i64::try_from(range.end).unwrap_or(i64::MAX);
        let mut rows = client.query(&statement, &[&from, &until, &ids]).await?;
        // The count row is always there (an aggregate over no packs is one row too).
        let (held, broken_at): (i64, Option<i64>) = rows
            .first()
            .map_or((0, Some(from)), |row| (row.get(0), row.get(1)));
        if let Some(leaf) = broken_at {
            return Err(ReadError::Corrupt {
                what: "entries",
                reason: format!(
                    "entries {from}..{until} are in the log's tree; the store holds {held} \
                     entries there, and not entry {leaf} once"
                ),
            });
        }
        rows.retain(|row| row.get::<_, Option<i64>>(2).is_some());
        Ok(rows)
    }

    /// The ranges of indexed entries that may hold events whose `eventTime` lies in
    /// `from..=to` (each range's earliest and latest event time overlap it), in leaf order. Read
    /// the entries of these ranges and check their times.
    pub async fn leaf_ranges_by_time(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Range<u64>>, ReadError> {
        self.leaf_ranges_by_time_from(from, to, 0, usize::MAX).await
    }

    /// As [`leaf_ranges_by_time`](Self::leaf_ranges_by_time), only the ranges that end after
    /// leaf `after` and at most `limit` of them: a reader that pages through a window of millions
    /// of entries reads the ranges of its page, not the window's.
    pub async fn leaf_ranges_by_time_from(
        &self,
        from: Timestamp,
        to: Timestamp,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Range<u64>>, ReadError> {
        let client = self.pool().get().await?;
        let statement = client.prepare_cached(BY_TIME_FROM).await?;
        let from = PgTimestamp::from_unix_nanos(from.unix_nanos());
        let to = PgTimestamp::from_unix_nanos(to.unix_nanos());
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(&statement, &[&from, &to, &after, &limit])
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let first: i64 = row.get(0);
                let end: i64 = row.get(1);
                u64::try_from(first).unwrap_or(0)..u64::try_from(end).unwrap_or(0)
            })
            .collect())
    }
}

/// A bundle row's `first` and `width`, whether its bytes are one sliced record, and the bytes.
type RecordColumns<'a> = (Option<i16>, Option<i16>, Option<bool>, Option<&'a [u8]>);

/// Where [`entry_from_row`] takes the leaf record from.
enum RecordSource<'a> {
    /// The row's own columns: a sliced record or the whole bundle row.
    Sliced,
    /// The whole bundle row, read again ([`SELECT_BUNDLE_ROW`]; `None`: no row holds the entry).
    Row(Option<&'a tokio_postgres::Row>),
}

/// A leaf whose record no entry bundle row holds.
fn no_row(leaf: LeafIndex) -> ReadError {
    ReadError::Corrupt {
        what: "leaf record",
        reason: format!("entry {leaf}: no entry bundle row holds it"),
    }
}

/// The attestation of a record sliced by [`SELECT_RECORDS`] (its length prefix and bytes), if it
/// decodes.
fn sliced_attestation(sliced: &[u8]) -> Option<Attestation> {
    let (len, record) = sliced.split_first_chunk::<2>()?;
    let record = (usize::from(u16::from_be_bytes(*len)) == record.len()).then_some(record)?;
    attestation(record)
}

/// The attestation of `leaf`'s record in the whole bundle row holding entries `first..width`.
/// A row that does not decode, or whose record does not, is corrupt: left as an unknown
/// reporter, a custodian's events could be shared out of a history as if anyone's.
fn row_attestation(
    first: i16,
    width: i16,
    entries: &[u8],
    leaf: LeafIndex,
) -> Result<Attestation, ReadError> {
    let corrupt = |reason: String| ReadError::Corrupt {
        what: "leaf record",
        reason: format!("entry {leaf}: {reason}"),
    };
    // The row's CHECK constraints keep both within 0..=256.
    let (first, width) = (first as u16, width as u16);
    let position = (leaf.get() % BUNDLE) as u16;
    let records = row_records(first, width, entries).map_err(|error| {
        corrupt(format!(
            "its entry bundle row (entries {first} to {width}) {error}"
        ))
    })?;
    let record = position
        .checked_sub(first)
        .and_then(|at| records.get(usize::from(at)))
        .ok_or_else(|| corrupt("its entry bundle row does not hold it".to_owned()))?;
    attestation(record).ok_or_else(|| corrupt("its leaf record does not decode".to_owned()))
}

fn attestation(record: &[u8]) -> Option<Attestation> {
    LeafRecord::decode(record)
        .ok()
        .map(|record| record.attestation().clone())
}

/// Rows of [`SELECT_ENTRIES`] holding more event text than this are read into entries off the
/// async workers: reading one checks its record against its event, a SHA-256 of all its bytes,
/// and tens of megabytes of that would hold up every other task of the worker.
const BLOCKING_BYTES: usize = 256 * 1024;

/// The entries of rows of [`SELECT_ENTRIES`] as their sliced records give them (`None` for one
/// whose slice was not its record), each with its row.
async fn sliced_entries(
    rows: Vec<tokio_postgres::Row>,
) -> Result<Vec<(tokio_postgres::Row, Option<StoredEntry>)>, ReadError> {
    let bytes: usize = rows.iter().map(|row| row.get::<_, &str>(6).len()).sum();
    let read = move || {
        rows.into_iter()
            .map(|row| {
                let entry = entry_from_row(&row, RecordSource::Sliced)?;
                Ok((row, entry))
            })
            .collect()
    };
    if bytes < BLOCKING_BYTES {
        return read();
    }
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|_| ReadError::Stopped)?
}

/// An entry from a row of [`SELECT_ENTRIES`]; `None` when its sliced record is not the entry's
/// (read the whole row and ask again with [`RecordSource::Row`]).
fn entry_from_row(
    row: &tokio_postgres::Row,
    source: RecordSource<'_>,
) -> Result<Option<StoredEntry>, ReadError> {
    let corrupt = |reason: String| ReadError::Corrupt {
        what: "entry",
        reason,
    };
    let leaf = |leaf: i64| {
        u64::try_from(leaf)
            .ok()
            .and_then(|leaf| LeafIndex::new(leaf).ok())
            .ok_or_else(|| corrupt(format!("{leaf} is not a leaf index")))
    };
    let index = leaf(row.get(0))?;
    let stored_hash: &[u8] = row.get(1);
    let event: &str = row.get(6);
    let (first, width, sliced, entries): RecordColumns<'_> = match source {
        RecordSource::Sliced => (row.get(2), row.get(3), row.get(4), row.get(5)),
        RecordSource::Row(Some(bundle)) => {
            (bundle.get(0), bundle.get(1), Some(false), bundle.get(2))
        }
        RecordSource::Row(None) => (None, None, None, None),
    };
    let (Some(first), Some(width), Some(sliced), Some(entries)) = (first, width, sliced, entries)
    else {
        return Err(corrupt(format!(
            "entry {index}: no entry bundle row holds its leaf record"
        )));
    };
    // The row's CHECK constraints keep both within 0..=256.
    let (first, width) = (first as u16, width as u16);
    let record = if sliced {
        // One length-prefixed record, sliced at the position equal lengths give it.
        match entries.split_first_chunk::<2>() {
            Some((len, record)) if usize::from(u16::from_be_bytes(*len)) == record.len() => record,
            _ => return Ok(None),
        }
    } else {
        let records = row_records(first, width, entries).map_err(|error| {
            corrupt(format!(
                "entry {index}: its entry bundle row (entries {first} to {width}) {error}"
            ))
        })?;
        let position = (index.get() % BUNDLE) as u16;
        records
            .get(usize::from(position.saturating_sub(first)))
            .copied()
            .ok_or_else(|| {
                corrupt(format!(
                    "entry {index}: its entry bundle row does not hold it"
                ))
            })?
    };
    let record = match LeafRecord::decode(record) {
        Ok(record) => record,
        Err(_) if sliced => return Ok(None),
        Err(error) => return Err(corrupt(error.to_string())),
    };
    let declared: Option<i64> = row.get(7);
    let declared_hash: Option<&[u8]> = row.get(8);
    let is_declaration = declared_hash.is_some();
    let declared_by: Vec<i64> = row.get(9);
    // A declaration is stored under its declaration key; the hash it names is in its row.
    let named = declared_hash.unwrap_or(stored_hash);
    let names_its_event = record.event_hash().as_bytes().as_slice() == named;
    // A sliced record must also bind the event's bytes (a version 1 record, 84 bytes, binds its
    // event hash only: the hash check is all there is, and no other entry has that event).
    let fits = names_its_event
        && (!sliced
            || !matches!(
                record.binds_event(event.as_bytes()),
                EventBinding::Differs { .. }
            ));
    if !fits {
        if sliced {
            return Ok(None);
        }
        return Err(corrupt(format!(
            "entry {index}: its record names another event"
        )));
    }
    Ok(Some(StoredEntry {
        leaf_index: index,
        record,
        event: Arc::from(event),
        declares: Declares::of_row(is_declaration, declared.map(leaf).transpose()?),
        declared_by: declared_by
            .into_iter()
            .map(leaf)
            .collect::<Result<_, _>>()?,
    }))
}

/// Finds the entries holding some event hashes: looks them up in the lookup runs (by their first 8
/// bytes) and checks each candidate's whole hash against the stored event; hashes not found there
/// are looked for among the entries of `unindexed` (a scan of that range, which the caller knows
/// the runs may not cover). Hashes in neither are left out.
pub(crate) async fn find_hashes(
    client: &deadpool_postgres::Client,
    hashes: &[[u8; 32]],
    unindexed: Range<u64>,
) -> Result<HashMap<[u8; 32], u64>, tokio_postgres::Error> {
    let keys: Vec<i64> = hashes.iter().map(runs::hash_key).collect();
    let candidates: Vec<i64> = runs::lookup_many(client, Kind::Hash, &keys)
        .await?
        .into_iter()
        .map(|(_, leaf)| leaf)
        .collect();
    let asked: HashSet<&[u8; 32]> = hashes.iter().collect();
    let mut found = HashMap::new();
    let keep = |found: &mut HashMap<[u8; 32], u64>, rows: Vec<tokio_postgres::Row>| {
        for row in rows {
            let leaf: i64 = row.get(0);
            let hash: &[u8] = row.get(1);
            if let (Ok(hash), Ok(leaf)) = (<[u8; 32]>::try_from(hash), u64::try_from(leaf))
                && asked.contains(&hash)
            {
                found.insert(hash, leaf);
            }
        }
    };
    if !candidates.is_empty() {
        // The stored event hashes of the candidates.
        let statement = client.prepare_cached(packs::EVENTS_AT).await?;
        keep(&mut found, client.query(&statement, &[&candidates]).await?);
    }
    let missing: Vec<&[u8]> = hashes
        .iter()
        .filter(|hash| !found.contains_key(*hash))
        .map(|hash| hash.as_slice())
        .collect();
    if !unindexed.is_empty() && !missing.is_empty() {
        let from = i64::try_from(unindexed.start).unwrap_or(i64::MAX);
        let until = i64::try_from(unindexed.end).unwrap_or(i64::MAX);
        // The entries of the range whose hash is one of those asked about (a scan of the range).
        let sql = format!(
            "SELECT leaf_index, event_hash FROM ({}) e WHERE event_hash = ANY($3)",
            packs::hashes_in_range("$1", "$2")
        );
        let statement = client.prepare_cached(&sql).await?;
        let rows = client.query(&statement, &[&from, &until, &missing]).await?;
        keep(&mut found, rows);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leaf found under several keys (a packing, under the item and under the case it claims)
    /// is one candidate whose tag claims what any of its pairs claims; leaves come sorted, each
    /// once.
    #[test]
    fn a_leaf_found_under_several_keys_claims_what_any_pair_claims() {
        let site = ledger::record::Attestation::Unattested {
            site: ledger::ids::SiteId::parse("dock").unwrap(),
        };
        let base = Tag::new(&site, true);
        let under_item = base.with_other_claim(true).to_bits();
        let under_case = base.with_claim(true).to_bits();
        let observed = Tag::new(&site, false).to_bits();
        for pairs in [
            vec![(7, under_item), (3, observed), (7, under_case)],
            vec![
                (7, under_case),
                (7, under_item),
                (3, observed),
                (3, observed),
            ],
        ] {
            let leaves = tagged_leaves(pairs).unwrap();
            let leaf = |n| LeafIndex::new(n).unwrap();
            let joined = base.with_claim(true).with_other_claim(true);
            assert_eq!(
                leaves,
                [(leaf(3), Tag::from_bits(observed)), (leaf(7), joined)]
            );
            assert!(leaves[1].1.claim() && leaves[1].1.other_claim());
        }
    }
}
