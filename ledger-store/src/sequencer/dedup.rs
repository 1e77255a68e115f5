//! Duplicate detection: the hashes of the latest entries kept in memory ([`Recent`]), the filter
//! of every event hash in the log ([`HashFilter`], loaded from the lookup runs), the lookup of the
//! few events the filter does not rule out, and the plan of which entries are new.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use deadpool_postgres::Object;

use ledger::size::LeafIndex;

use crate::entry::{AppendResult, Declares, NewBatch};
use crate::filter::HashFilter;
use crate::lookup::find_hashes;
use crate::packs;
use crate::runs::{self, Kind};

use super::handle::AppendError;
use super::write::Planned;

/// The least number of latest entries whose hashes stay in memory by default (a client retrying
/// a batch it sent moments ago is answered without a lookup).
pub const DEFAULT_RECENT_KEEP: u64 = 100_000;
/// The hashes of the latest entries, `start..end` of the log: at least every entry the lookup runs
/// do not cover yet (`start` never passes where the runs end).
#[derive(Default)]
pub(super) struct Recent {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) leaves: HashMap<[u8; 32], u64>,
}

impl Recent {
    pub(super) fn reset(&mut self, at: u64) {
        self.start = at;
        self.end = at;
        self.leaves.clear();
    }

    /// Forgets entries the runs cover (below `runs_end`) except the latest `keep`, once those are
    /// a good share of the map.
    pub(super) fn trim(&mut self, runs_end: u64, keep: u64) {
        let keep_from = runs_end.min(self.end.saturating_sub(keep));
        if keep_from > self.start && (keep_from - self.start) as usize > self.leaves.len() / 2 {
            self.leaves.retain(|_, leaf| *leaf >= keep_from);
            self.start = keep_from;
        }
    }
}

/// The leaves of the group's events the log already holds, as far as it may: those in the tail
/// (known at once), and those the filter does not rule out, looked up in the runs (which cover
/// every entry below the tail, and `uncovered` besides) in one query. An event the filter rules
/// out (nearly every new event) is new without asking the database.
pub(super) async fn known_leaves(
    client: &Object,
    recent: &Recent,
    filter: &HashFilter,
    batches: &[&NewBatch],
    uncovered: Range<u64>,
) -> Result<HashMap<[u8; 32], u64>, AppendError> {
    let mut known: HashMap<[u8; 32], u64> = HashMap::new();
    let mut maybe: Vec<[u8; 32]> = Vec::new();
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    for batch in batches {
        for entry in batch.entries() {
            // A declaration is looked up by its key, and the event it declares by its hash.
            let target = entry
                .is_declaration()
                .then(|| entry.event_hash().as_bytes());
            for key in std::iter::once(entry.key()).chain(target) {
                if let Some(&leaf) = recent.leaves.get(key) {
                    known.insert(*key, leaf);
                } else if filter.may_contain(runs::hash_key(key)) && seen.insert(*key) {
                    maybe.push(*key);
                }
            }
        }
    }
    if !maybe.is_empty() {
        known.extend(find_hashes(client, &maybe, uncovered).await?);
    }
    Ok(known)
}

/// Loads the filter with every event hash the lookup runs hold, and starts `recent` where the
/// runs ended before they were read (the entries from there on are read by [`refresh_recent`]).
pub(super) async fn load_filter(
    client: &Object,
    recent: &mut Recent,
) -> Result<HashFilter, AppendError> {
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
pub(super) async fn refresh_recent(
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
/// the log (in the tail, or `known` from the lookup table), and, for an error declaration, which
/// entry it declares erroneous (the one holding an event of its hash, if the log or the group
/// holds one).
pub(super) fn plan(
    recent: &Recent,
    mut known: HashMap<[u8; 32], u64>,
    batches: &[&NewBatch],
    size: u64,
) -> Result<Planned, AppendError> {
    let mut results = Vec::with_capacity(batches.len());
    let mut new = Vec::new();
    let mut declarations = Vec::new();
    let mut next = size;
    let find = |known: &HashMap<[u8; 32], u64>, key: &[u8; 32]| {
        recent.leaves.get(key).or_else(|| known.get(key)).copied()
    };
    let leaf_index = |leaf: u64| LeafIndex::new(leaf).map_err(|_| AppendError::TreeFull);
    for (b, batch) in batches.iter().enumerate() {
        let mut batch_results = Vec::with_capacity(batch.len());
        for (e, entry) in batch.entries().iter().enumerate() {
            let key = entry.key();
            let declared = entry
                .is_declaration()
                .then(|| find(&known, entry.event_hash().as_bytes()));
            let (leaf, existing) = match find(&known, key) {
                Some(leaf) => (leaf, true),
                None => {
                    let leaf = next;
                    next += 1;
                    known.insert(*key, leaf);
                    new.push((b, e));
                    if let Some(declared) = declared {
                        // A new declaration: `declared`, if any, is below it.
                        declarations.push(PlannedDeclaration {
                            leaf,
                            declared,
                            event_hash: *entry.event_hash().as_bytes(),
                        });
                    }
                    (leaf, false)
                }
            };
            // As its row says: the entry holding the event when the declaration was appended (an
            // event appended after an existing declaration does not change what it declared).
            let declares = match declared {
                None => None,
                Some(Some(declared)) if declared < leaf => {
                    Some(Declares::Entry(leaf_index(declared)?))
                }
                Some(_) => Some(Declares::Unheld),
            };
            batch_results.push(AppendResult {
                leaf_index: leaf_index(leaf)?,
                existing,
                declares,
            });
        }
        results.push(batch_results);
    }
    Ok(Planned {
        results,
        new,
        declarations,
        first_leaf: size,
    })
}

/// A new error declaration and the entry it declares erroneous (if the log holds it), for
/// `error_declarations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PlannedDeclaration {
    pub(super) leaf: u64,
    pub(super) declared: Option<u64>,
    pub(super) event_hash: [u8; 32],
}
