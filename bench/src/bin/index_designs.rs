//! The verifiable index (`ledger::index`: sorted runs, merged eight at a time) against a sparse
//! Merkle tree of per-key hash chains, on one synthetic log, printed as the Markdown BENCHMARKS.md
//! keeps ("Verifiable index").
//!
//! ```text
//! index_designs [--entries N] [--step S] [--trie-entries M]
//! ```
//!
//! Entry `i` names four items (each item is named by four entries spread over the log), a
//! pallet every fourth entry, the items' GTINs (of 1,000) and lots (of 20,000), and two places on
//! the entry's day (300 places, 50,000 entries a day): about 11 keys. One *probe* item is named by
//! ten entries spread evenly. Entries are indexed `--step` at a time (the indexer's batch).
//!
//! - **runs**: one run per step, eight runs of a level merged into one of the next; measured:
//!   wall time on one core, pairs written (with merges), SHA-256 blocks hashed, runs in the head,
//!   the probe's key proof (bytes, verification time).
//! - **trie**: a compressed binary Merkle trie over the keys, each leaf the hash chain of its
//!   entries; counted on the first `--trie-entries` entries: the trie nodes each step rewrites
//!   (each a hash and a random write) and the probe's proof path. The nodes are counted, not
//!   hashed.

#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line driver: its report is its output.

use std::collections::{BTreeSet, HashSet};
use std::ops::Bound::{Excluded, Unbounded};
use std::time::{Duration, Instant};

use anyhow::Context;
use ledger::index::{IndexKey, KeyKind, KeyRange, MemoryIndex, PAIR_LEN};

/// Entries a day.
const DAY_ENTRIES: u64 = 50_000;
/// How many runs of one level are merged (as the lookup runs).
const FAN_IN: usize = 8;
/// SHA-256 blocks of a chunk hash (1 + 8 × 17 bytes) and of a node hash (1 + 64 bytes).
const CHUNK_BLOCKS: u64 = 3;
const NODE_BLOCKS: u64 = 2;

fn key(kind: KeyKind, n: u64) -> IndexKey {
    IndexKey::of_name(kind, &n.to_be_bytes())
}

/// The keys of entry `leaf` of a log of `entries`.
fn keys_of(leaf: u64, entries: u64) -> Vec<IndexKey> {
    let mut keys = Vec::with_capacity(16);
    for j in 0..4 {
        let item = (leaf * 4 + j) % entries;
        keys.push(key(KeyKind::Epc, item));
        keys.push(key(KeyKind::Class, item % 1_000));
        keys.push(key(KeyKind::Lot, item % 20_000));
    }
    if leaf.is_multiple_of(4) {
        keys.push(key(KeyKind::Epc, u64::MAX - leaf / 4));
        keys.push(key(KeyKind::Parent, leaf / 4));
    }
    let day = leaf / DAY_ENTRIES;
    keys.push(key(KeyKind::LocationDay, (leaf % 300) << 32 | day));
    keys.push(key(KeyKind::LocationDay, ((leaf + 150) % 300) << 32 | day));
    if is_probe_entry(leaf, entries) {
        keys.push(probe());
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn probe() -> IndexKey {
    IndexKey::of_name(KeyKind::Epc, b"probe")
}

fn is_probe_entry(leaf: u64, entries: u64) -> bool {
    let gap = (entries / 10).max(1);
    leaf % gap == 7 && leaf / gap < 10
}

struct Runs {
    index: MemoryIndex,
    levels: Vec<u32>,
    pairs_written: u64,
    blocks: u64,
}

impl Runs {
    fn push(&mut self, entries: &[Vec<IndexKey>]) {
        self.index.push_entries(entries);
        self.levels.push(0);
        self.count_last();
        while self.levels.len() >= FAN_IN {
            let start = self.levels.len() - FAN_IN;
            let level = self.levels[start];
            if self.levels[start..].iter().any(|&l| l != level) {
                break;
            }
            self.index.merge(start, self.levels.len());
            self.levels.truncate(start);
            self.levels.push(level + 1);
            self.count_last();
        }
    }

    fn count_last(&mut self) {
        let pairs = self
            .index
            .runs()
            .last()
            .map_or(0, |run| run.pairs().len() as u64);
        let chunks = pairs.div_ceil(8);
        self.pairs_written += pairs;
        self.blocks += chunks * CHUNK_BLOCKS + chunks.saturating_sub(1) * NODE_BLOCKS;
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let mut entries: u64 = 10_000_000;
    let mut step: u64 = 10_000;
    let mut trie_entries: u64 = 1_000_000;
    let mut arguments = std::env::args().skip(1);
    while let Some(flag) = arguments.next() {
        let value = arguments
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--entries" => entries = value.parse().context("--entries")?,
            "--step" => step = value.parse().context("--step")?,
            "--trie-entries" => trie_entries = value.parse().context("--trie-entries")?,
            other => anyhow::bail!(
                "unknown flag {other}: index_designs [--entries N] [--step S] [--trie-entries M]"
            ),
        }
    }
    anyhow::ensure!(
        step > 0 && entries >= step,
        "--entries must be at least --step (> 0)"
    );

    let started = Instant::now();
    let mut runs = Runs {
        index: MemoryIndex::new(),
        levels: Vec::new(),
        pairs_written: 0,
        blocks: 0,
    };
    let mut pairs: u64 = 0;
    let mut first = 0;
    while first < entries {
        let end = (first + step).min(entries);
        let keys: Vec<Vec<IndexKey>> = (first..end).map(|leaf| keys_of(leaf, entries)).collect();
        pairs += keys.iter().map(|keys| keys.len() as u64).sum::<u64>();
        runs.push(&keys);
        first = end;
    }
    let built = started.elapsed();
    let head = runs.index.head().context("the head")?;
    let proof = runs
        .index
        .prove(&head, KeyRange::all(probe()))
        .context("the probe's proof")?;
    let listed = proof.verify(&head).context("the probe's proof")?;
    anyhow::ensure!(
        listed.len() == 10,
        "the probe has 10 entries, the proof lists {listed:?}"
    );
    let verify_times: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            let listed = proof.verify(&head);
            let elapsed = started.elapsed();
            assert!(listed.is_ok());
            elapsed
        })
        .collect();
    let absent = runs
        .index
        .prove(
            &head,
            KeyRange::all(IndexKey::of_name(KeyKind::Epc, b"absent")),
        )
        .context("the absent key's proof")?;
    anyhow::ensure!(
        absent
            .verify(&head)
            .context("the absent key's proof")?
            .is_empty()
    );

    println!(
        "{entries} entries, {pairs} pairs ({:.2} a entry), steps of {step}\n",
        pairs as f64 / entries as f64
    );
    println!(
        "| design | measured on | per entry | index bytes per entry | runs / trie depth | proof of a 10-entry item | verify |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| sorted runs, fan-in {FAN_IN} | {entries} entries | {:.2} µs on one core; {:.1} pairs written; {:.1} SHA-256 blocks | {:.0} (pairs) | {} runs | {} bytes ({} for an absent key) | {:.2} ms (median of 200) |",
        built.as_secs_f64() * 1e6 / entries as f64,
        runs.pairs_written as f64 / entries as f64,
        runs.blocks as f64 / entries as f64,
        (pairs * PAIR_LEN as u64) as f64 / entries as f64,
        head.runs().len(),
        proof.encode().len(),
        absent.encode().len(),
        median(verify_times).as_secs_f64() * 1e3,
    );
    drop(runs);

    let trie_entries = trie_entries.min(entries);
    let mut all: BTreeSet<u64> = BTreeSet::new();
    let mut node_writes: u64 = 0;
    let mut chain_hashes: u64 = 0;
    let mut first = 0;
    while first < trie_entries {
        let end = (first + step).min(trie_entries);
        let mut touched: Vec<u64> = Vec::new();
        for leaf in first..end {
            for key in keys_of(leaf, entries) {
                let hashed = trie_key(&key);
                all.insert(hashed);
                touched.push(hashed);
                chain_hashes += 1;
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let mut nodes: HashSet<(u32, u64)> = HashSet::new();
        for &hashed in &touched {
            for depth in 0..=depth_of(&all, hashed) {
                nodes.insert((depth, prefix(hashed, depth)));
            }
        }
        node_writes += nodes.len() as u64;
        first = end;
    }
    let probe_depth = depth_of(&all, trie_key(&probe()));
    println!(
        "| trie of per-key hash chains | {trie_entries} entries, {} keys | {:.1} node writes (random); {:.1} SHA-256 blocks | {:.0} (a node per key and per branch, 40 bytes each) | depth {probe_depth} | {} bytes (path and ten leaf indices) | {probe_depth} + 10 hashes |",
        all.len(),
        node_writes as f64 / trie_entries as f64,
        (node_writes * NODE_BLOCKS + chain_hashes) as f64 / trie_entries as f64,
        (all.len() as f64 * 2.0 * 40.0) / trie_entries as f64,
        probe_depth as usize * 32 + 10 * 8,
    );
    Ok(())
}

fn trie_key(key: &IndexKey) -> u64 {
    // The kind in the top byte, then the hash's first seven bytes: one 64-bit trie key.
    let hash = key.hash();
    u64::from_be_bytes([
        key.kind().code(),
        hash[0],
        hash[1],
        hash[2],
        hash[3],
        hash[4],
        hash[5],
        hash[6],
    ])
}

fn prefix(key: u64, depth: u32) -> u64 {
    if depth == 0 { 0 } else { key >> (64 - depth) }
}

/// The depth of a key's leaf in the compressed trie of `all`: one below the longest prefix it
/// shares with a neighbour.
fn depth_of(all: &BTreeSet<u64>, key: u64) -> u32 {
    let before = all.range(..key).next_back();
    let after = all.range((Excluded(key), Unbounded)).next();
    let shared = [before, after]
        .into_iter()
        .flatten()
        .map(|other| (other ^ key).leading_zeros())
        .max()
        .unwrap_or(0);
    (shared + 1).min(64)
}
