//! [`MemoryIndex`]: the index held in memory, built from entries' keys: what a monitor
//! recomputes from the log, what tests and benchmarks prove against.

use std::convert::Infallible;

use crate::hash::{Hash, node_hash};
use crate::size::TreeSize;

use super::head::{HeadError, IndexHead, RunHead};
use super::keys::IndexKey;
use super::proof::{EmptyRange, KeyProof, KeyRange, ProveError, RunSource, prove};
use super::run::{CHUNK_PAIRS, Pair, chunk_hash};

/// One run: its entries, its sorted pairs, and every complete node of its tree (level 0: the
/// chunks' hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRun {
    first: u64,
    end: u64,
    pairs: Vec<Pair>,
    levels: Vec<Vec<Hash>>,
}

impl MemoryRun {
    /// The run of entries `first..end`, from their pairs in any order (duplicates are dropped).
    pub fn new(first: u64, end: u64, mut pairs: Vec<Pair>) -> Self {
        pairs.sort_unstable();
        pairs.dedup();
        let mut levels = vec![
            pairs
                .chunks(CHUNK_PAIRS)
                .map(chunk_hash)
                .collect::<Vec<_>>(),
        ];
        while let Some(below) = levels.last()
            && below.len() > 1
        {
            let above = below
                .chunks_exact(2)
                .map(|two| node_hash(&two[0], &two[1]))
                .collect();
            levels.push(above);
        }
        Self {
            first,
            end,
            pairs,
            levels,
        }
    }

    /// The run of entries `first..` given with their keys, in order of leaf index.
    pub fn of_entries(first: u64, entries: &[Vec<IndexKey>]) -> Self {
        let pairs = entries
            .iter()
            .zip(first..)
            .flat_map(|(keys, leaf)| keys.iter().map(move |&key| Pair::new(key, leaf)))
            .collect();
        Self::new(first, first + entries.len() as u64, pairs)
    }

    /// The run's sorted pairs.
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    /// The run as an index head lists it.
    pub fn head(&self) -> RunHead {
        let chunks = self.levels[0].len() as u64;
        let root = if chunks == 0 {
            *crate::RootHash::empty().hash()
        } else {
            super::run::span_hash(0, chunks, &mut |level, index| {
                self.node(level, index).ok_or(())
            })
            .unwrap_or(Hash::from_bytes([0; 32]))
        };
        RunHead {
            first: self.first,
            end: self.end,
            pairs: self.pairs.len() as u64,
            root,
        }
    }

    /// The complete node of the run's tree at `level` (0: chunks) and `index`, if there is one.
    pub fn node(&self, level: u32, index: u64) -> Option<Hash> {
        let nodes = self.levels.get(usize::try_from(level).ok()?)?;
        nodes.get(usize::try_from(index).ok()?).copied()
    }
}

/// Runs covering the log's first entries, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryIndex {
    runs: Vec<MemoryRun>,
}

impl MemoryIndex {
    /// No runs: the index of the empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries the runs cover.
    pub fn size(&self) -> u64 {
        self.runs.last().map_or(0, |run| run.end)
    }

    /// Adds a run of the next entries, given with their keys in order; no run for none.
    pub fn push_entries(&mut self, entries: &[Vec<IndexKey>]) {
        if !entries.is_empty() {
            self.runs.push(MemoryRun::of_entries(self.size(), entries));
        }
    }

    /// Replaces runs `start..end` by one run of their pairs.
    pub fn merge(&mut self, start: usize, end: usize) {
        if end <= start + 1 || end > self.runs.len() {
            return;
        }
        let merged: Vec<MemoryRun> = self.runs.drain(start..end).collect();
        let first = merged[0].first;
        let last = merged[merged.len() - 1].end;
        let pairs = merged.into_iter().flat_map(|run| run.pairs).collect();
        self.runs.insert(start, MemoryRun::new(first, last, pairs));
    }

    /// The runs.
    pub fn runs(&self) -> &[MemoryRun] {
        &self.runs
    }

    /// The head of the runs.
    pub fn head(&self) -> Result<IndexHead, HeadError> {
        let size = TreeSize::new(self.size()).map_err(|_| HeadError::BadSize(self.size()))?;
        IndexHead::new(size, self.runs.iter().map(MemoryRun::head).collect())
    }

    /// The proof of a key range against this index's head.
    pub fn prove(&self, head: &IndexHead, range: KeyRange) -> Result<KeyProof, EmptyRange> {
        prove(head, range, &mut MemorySource(self)).map_err(|error| match error {
            ProveError::EmptyRange(empty) => empty,
            ProveError::Source(never) => match never {},
        })
    }

    /// Every entry listing `key`, in order.
    pub fn leaves(&self, key: IndexKey) -> Vec<u64> {
        self.runs
            .iter()
            .flat_map(|run| {
                let start = run.pairs.partition_point(|pair| pair.key < key);
                run.pairs[start..]
                    .iter()
                    .take_while(move |pair| pair.key == key)
                    .map(|pair| pair.leaf)
            })
            .collect()
    }
}

struct MemorySource<'a>(&'a MemoryIndex);

impl RunSource for MemorySource<'_> {
    type Error = Infallible;

    fn lower_bound(&mut self, run: usize, pair: &Pair) -> Result<u64, Infallible> {
        Ok(self.0.runs[run].pairs.partition_point(|held| held < pair) as u64)
    }

    fn pairs(&mut self, run: usize, start: u64, end: u64) -> Result<Vec<Pair>, Infallible> {
        let pairs = &self.0.runs[run].pairs;
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(pairs.len());
        let end = usize::try_from(end)
            .unwrap_or(usize::MAX)
            .clamp(start, pairs.len());
        Ok(pairs[start..end].to_vec())
    }

    fn node(&mut self, run: usize, level: u32, index: u64) -> Result<Hash, Infallible> {
        // A prover asks only for complete nodes of the run's tree; a missing one would make a
        // proof that fails, not a panic.
        Ok(self.0.runs[run]
            .node(level, index)
            .unwrap_or(Hash::from_bytes([0; 32])))
    }
}
