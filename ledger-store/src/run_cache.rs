//! [`RunCache`]: what the lookups found in each run, kept for the next lookups.
//!
//! A lookup run never changes once written (merging writes a new run and deletes its inputs), so
//! the leaves a run holds for a (kind, key) are that run's answer for good, including "none". A
//! reader that asks about the same items again (a consumer page, a hot product) then sends the
//! database the list of runs it already knows the answer for, and reads pages only from the
//! others; the query still lists the live runs, in the same snapshot as the pages it reads, so a
//! merged-away run is never trusted and a new one is never missed.
//!
//! Bounded by [`Generations`] (approximately least recently used).

use std::sync::Arc;

use super::generations::Generations;
use super::runs::{Kind, Tagged};
use super::tile_cache::{CacheCounter, CacheCounts};

/// (kind code, key) of a lookup.
pub(crate) type Asked = (i16, i64);

/// The answers of every run known for one (kind, key): run id and its leaves, with their tags.
pub(crate) type Answers = Vec<(i64, Arc<[Tagged]>)>;

/// How many (kind, key) answers a store keeps.
pub(crate) const DEFAULT_CACHED_LOOKUPS: usize = 65_536;

/// A bounded cache of per-run lookup answers.
#[derive(Debug)]
pub(crate) struct RunCache {
    answers: Generations<Asked, Answers>,
    counter: CacheCounter,
}

impl RunCache {
    pub(crate) fn new(lookups: usize) -> Self {
        Self {
            answers: Generations::new(lookups),
            counter: CacheCounter::default(),
        }
    }

    /// The runs whose answer is known for `asked`, with the answers.
    pub(crate) fn known(&self, asked: Asked) -> Answers {
        self.answers.peek(&asked).unwrap_or_default()
    }

    /// Adds the answers of more runs for `asked`.
    pub(crate) fn add(
        &self,
        asked: Asked,
        answers: impl IntoIterator<Item = (i64, Arc<[Tagged]>)>,
    ) {
        let mut known = self.answers.peek(&asked).unwrap_or_default();
        for (run, leaves) in answers {
            if !known.iter().any(|(known_run, _)| *known_run == run) {
                known.push((run, leaves));
            }
        }
        self.answers.insert(asked, known);
    }

    /// Counts the runs answered from memory and from the database for one lookup (per run, not
    /// per (kind, key): what the database was spared).
    pub(crate) fn count(&self, from_memory: u64, from_database: u64) {
        self.counter.add(from_memory, from_database);
    }

    pub(crate) fn counts(&self) -> CacheCounts {
        self.counter.counts()
    }
}

/// The code of a kind, as the cache keys it.
pub(crate) fn asked(kind: Kind, key: i64) -> Asked {
    (kind.code(), key)
}
