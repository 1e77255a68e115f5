//! [`RunFilters`]: a Bloom filter of each lookup run's (kind, key) pairs, so that a reader asks
//! the database only about the runs that may hold a key.
//!
//! A lookup of an item nobody asked about before reads, in every live run, the page that may hold
//! each of its keys: at 10,000,000 entries, 13 runs and 4 keys (two names, each as an EPC and as a
//! parent) made 52 index probes and page reads, about a millisecond of the database's time, for an
//! item named by one event of one run. A filter answers "not in this run" from memory for all but
//! about one in a hundred of the runs that do not hold the key, the way log-structured merge
//! trees skip their runs.
//!
//! A run never changes once written, so its filter is built once, by a background task that
//! streams the run's pages, and is dropped when the run is merged away. A run without a filter yet
//! (new, or beyond the memory budget) is asked as before: a filter only ever spares a probe whose
//! answer it knows is empty, so lookups are exact with or without filters.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use deadpool_postgres::Pool;

use super::log::ReadError;
use super::runs::{self, Kind};
use super::tile_cache::{CacheCounter, CacheCounts};

/// Bits per pair of a run: with [`HASHES`] bit positions per key, about 1 % of the keys a run does
/// not hold pass its filter (fewer, as a key often has several pairs in a run).
const BITS_PER_PAIR: u64 = 10;

/// Bit positions per key.
const HASHES: u64 = 7;

/// How much memory a reader's filters may take by default: at 1.25 bytes per pair, the runs of a
/// log of some 50,000,000 entries of 8 pairs each.
pub(crate) const DEFAULT_FILTER_BYTES: usize = 512 << 20;

/// How long the filters are not built again after building failed.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// The Bloom filter of one run.
#[derive(Debug)]
pub(crate) struct RunFilter {
    words: Box<[u64]>,
}

impl RunFilter {
    /// How many 64-bit words the filter of a run of `pairs` pairs takes.
    fn words_for(pairs: u64) -> usize {
        usize::try_from((pairs.max(1) * BITS_PER_PAIR).div_ceil(64)).unwrap_or(usize::MAX)
    }

    /// An empty filter sized for `pairs` pairs.
    fn new(pairs: u64) -> Self {
        Self {
            words: vec![0; Self::words_for(pairs)].into_boxed_slice(),
        }
    }

    fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The bit positions of (kind, key) in a filter of `bits` bits: double hashing of the key
    /// (already a hash of the identifier, or an event hash's first bytes), mixed with its kind,
    /// reduced to the filter's size without a division (multiply and shift).
    fn positions(bits: u64, kind: Kind, key: i64) -> impl Iterator<Item = usize> {
        let seed =
            (key as u64) ^ (u64::from(kind.code() as u16)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let first = mix(seed);
        let step = mix(first) | 1;
        (0..HASHES).map(move |i| {
            let hash = first.wrapping_add(i.wrapping_mul(step));
            ((u128::from(hash) * u128::from(bits)) >> 64) as usize
        })
    }

    fn bits(&self) -> u64 {
        self.words.len() as u64 * 64
    }

    fn insert(&mut self, kind: Kind, key: i64) {
        for bit in Self::positions(self.bits(), kind, key) {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether the run may hold pairs of (kind, key); `false` is certain.
    pub(crate) fn may_hold(&self, kind: Kind, key: i64) -> bool {
        Self::positions(self.bits(), kind, key)
            .all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// SplitMix64's finalizer: spreads every bit of the input over the output.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The filters of a reader's live runs, and the task that builds the missing ones.
#[derive(Debug)]
pub(crate) struct RunFilters {
    filters: RwLock<HashMap<i64, Arc<RunFilter>>>,
    budget: usize,
    used: AtomicUsize,
    building: AtomicBool,
    /// Runs not filtered because the budget would not hold their filter (not tried again).
    over_budget: RwLock<HashSet<i64>>,
    /// Probes spared (hits) and made (misses).
    probes: CacheCounter,
    /// Live runs without a filter, as of the last lookup or build.
    unfiltered: AtomicU64,
}

/// How far a reader's run filters are built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupFilterStatus {
    /// Memory the filters take.
    pub bytes: u64,
    /// Live runs without a filter (new, not built yet, or beyond the memory budget), as of the
    /// last lookup: lookups ask the database about each of them.
    pub unfiltered_runs: u64,
}

impl RunFilters {
    /// Filters taking at most about `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            filters: RwLock::default(),
            budget,
            used: AtomicUsize::new(0),
            building: AtomicBool::new(false),
            over_budget: RwLock::default(),
            probes: CacheCounter::default(),
            unfiltered: AtomicU64::new(0),
        }
    }

    /// The runs with a filter that certainly hold no pair of (kind, key).
    pub(crate) fn runs_without(&self, kind: Kind, key: i64) -> Vec<i64> {
        let filters = self.filters.read().unwrap_or_else(|e| e.into_inner());
        filters
            .iter()
            .filter(|(_, filter)| !filter.may_hold(kind, key))
            .map(|(run, _)| *run)
            .collect()
    }

    /// Counts, for one lookup, the (run, key) probes the filters spared and those made.
    pub(crate) fn count(&self, skipped: u64, probed: u64) {
        self.probes.add(skipped, probed);
    }

    /// Probes spared (hits) and made (misses) so far.
    pub(crate) fn counts(&self) -> CacheCounts {
        self.probes.counts()
    }

    /// How far the filters are built.
    pub(crate) fn status(&self) -> LookupFilterStatus {
        LookupFilterStatus {
            bytes: self.used.load(Ordering::Relaxed) as u64,
            unfiltered_runs: self.unfiltered.load(Ordering::Relaxed),
        }
    }

    /// Given the live runs a lookup just saw: forgets the runs merged away (their filters, or
    /// that the budget left them without one), and starts
    /// building the missing ones in the background (one task at a time, each run once).
    pub(crate) fn keep_live(self: &Arc<Self>, live: &HashSet<i64>, pool: &Pool) {
        // Under the read lock: most lookups change nothing.
        let (any_gone, missing) = {
            let filters = self.filters.read().unwrap_or_else(|e| e.into_inner());
            let over_budget = self.over_budget.read().unwrap_or_else(|e| e.into_inner());
            let any_gone = filters
                .keys()
                .chain(over_budget.iter())
                .any(|run| !live.contains(run));
            let unfiltered = live.iter().filter(|run| !filters.contains_key(run)).count();
            self.unfiltered.store(unfiltered as u64, Ordering::Relaxed);
            let missing = live
                .iter()
                .any(|run| !filters.contains_key(run) && !over_budget.contains(run));
            (any_gone, missing)
        };
        if any_gone {
            self.over_budget
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|run| live.contains(run));
            let mut filters = self.filters.write().unwrap_or_else(|e| e.into_inner());
            filters.retain(|run, filter| {
                let keep = live.contains(run);
                if !keep {
                    self.used.fetch_sub(filter.bytes(), Ordering::Relaxed);
                }
                keep
            });
        }
        if missing && !self.building.swap(true, Ordering::AcqRel) {
            let filters = self.clone();
            let pool = pool.clone();
            tokio::spawn(async move {
                if let Err(error) = filters.build_missing(&pool).await {
                    let cause = std::error::Error::source(&error)
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    tracing::warn!(error = %error, cause, "building lookup run filters failed; lookups ask every run until the next try");
                    // Not at once again: a failing database is not to be read over and over.
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                filters.building.store(false, Ordering::Release);
            });
        }
    }

    /// Builds the filter of every live run that has none and fits the budget, smallest first.
    pub(crate) async fn build_missing(&self, pool: &Pool) -> Result<(), ReadError> {
        let client = pool.get().await?;
        let rows = client
            .query("SELECT run_id, pairs FROM lookup_runs ORDER BY pairs", &[])
            .await?;
        for row in rows {
            let (run, pairs): (i64, i64) = (row.get(0), row.get(1));
            let known = {
                let filters = self.filters.read().unwrap_or_else(|e| e.into_inner());
                let over_budget = self.over_budget.read().unwrap_or_else(|e| e.into_inner());
                filters.contains_key(&run) || over_budget.contains(&run)
            };
            if known {
                continue;
            }
            let pairs = u64::try_from(pairs).unwrap_or(0);
            let bytes = RunFilter::words_for(pairs).saturating_mul(8);
            if self.used.load(Ordering::Relaxed).saturating_add(bytes) > self.budget {
                self.over_budget
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(run);
                continue;
            }
            let mut filter = RunFilter::new(pairs);
            let read = runs::for_each_pair_of_run(&client, run, |kind, key| {
                filter.insert(kind, key);
            })
            .await?;
            // A run merged away meanwhile reads as no pairs: it is not live any more.
            if read != pairs {
                continue;
            }
            self.used.fetch_add(filter.bytes(), Ordering::Relaxed);
            self.filters
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(run, Arc::new(filter));
            let _ = self
                .unfiltered
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_holds_every_key_inserted_and_few_others() {
        let keys = 10_000_i64;
        let mut filter = RunFilter::new(keys as u64);
        for key in 0..keys {
            filter.insert(Kind::Epc, mix(key as u64) as i64);
        }
        assert!((0..keys).all(|key| filter.may_hold(Kind::Epc, mix(key as u64) as i64)));
        let others = 100_000_i64;
        let passed = (keys..keys + others)
            .filter(|&key| filter.may_hold(Kind::Epc, mix(key as u64) as i64))
            .count();
        // About 0.8 % at 10 bits and 7 positions per key; 2 % is far outside chance.
        assert!(
            passed < 2_000,
            "{passed} of {others} keys not inserted passed"
        );
        // The same key of another kind is another pair.
        let parents = (0..keys)
            .filter(|&key| filter.may_hold(Kind::Parent, mix(key as u64) as i64))
            .count();
        assert!(parents < 200, "{parents} of {keys} keys passed as parents");
    }
}
