//! An independent monitor of the verifiable index: from what a log serves to anyone (its signed
//! checkpoint, its entries' leaf records and events, its index head and key proofs), recompute
//! the index and compare it with what the checkpoint commits to. Nothing is trusted but the log's
//! key: the entries must give the checkpoint's root, each event must be the bytes its leaf record
//! commits to, and each run of the head must be the sorted pairs of its entries. The first run
//! that is not is narrowed down to the first key whose proof lists other entries than the events
//! give (or does not verify), by asking the log for that key's proof.
//!
//! Memory is one run's pairs at a time; time is one pass over the log.

use std::collections::BTreeMap;

use crate::checkpoint::TrustedLog;
use crate::hash::{Hash, leaf_hash};
use crate::record::{EventBinding, LeafRecord};
use crate::tiles::{EntryBundleId, TILE_WIDTH, decode_entry_bundle};

use super::head::{IndexCommitment, IndexHead};
use super::keys::{IndexKey, keys_of_json};
use super::memory::MemoryRun;
use super::proof::{KeyProof, KeyRange};
use super::run::{Frontier, Pair};

/// What a monitor reads of a log, as the log serves it.
pub trait LogReader {
    /// Why something could not be read (the log unreachable, an answer refused).
    type Error: std::fmt::Display;
    /// The newest signed checkpoint, as published.
    fn checkpoint(&mut self) -> Result<String, Self::Error>;
    /// The entry bundle `id` (C2SP tlog-tiles): the leaf records of its entries.
    fn entry_bundle(&mut self, id: EntryBundleId) -> Result<Vec<u8>, Self::Error>;
    /// The event texts of the entries of bundle `id`, in leaf order.
    fn events(&mut self, id: EntryBundleId) -> Result<Vec<String>, Self::Error>;
    /// The encoded index head of `root`.
    fn index_head(&mut self, root: &Hash) -> Result<Vec<u8>, Self::Error>;
    /// The encoded key proof of `range` against the head of `root`.
    fn key_proof(&mut self, root: &Hash, range: &KeyRange) -> Result<Vec<u8>, Self::Error>;
}

/// What the monitor checked, and the first thing that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorReport {
    /// The checkpoint's tree size: every entry was read and checked against its root.
    pub size: u64,
    /// The entries the committed index covers (0: the checkpoint commits to none).
    pub indexed: u64,
    /// The runs of the head recomputed.
    pub runs: usize,
    /// The pairs recomputed.
    pub pairs: u64,
    /// Entries with a version 1 leaf record, which binds the event's CBV 2.0 hash, not its bytes:
    /// their events were checked by that hash (every member the index reads is part of it).
    pub unbound: u64,
    /// The first problem found, if any.
    pub problem: Option<MonitorProblem>,
}

/// Something the log serves that is not what its checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorProblem {
    #[error("the checkpoint commits to no verifiable index")]
    NoIndex,
    #[error("the checkpoint's index line: {0}")]
    Commitment(String),
    #[error("the index head: {0}")]
    Head(String),
    #[error("entry {leaf}: {reason}")]
    Entry { leaf: u64, reason: String },
    #[error("the entries served give root {computed}, the checkpoint's is {committed}")]
    Root { computed: String, committed: String },
    #[error("run {first}..{end} of the index: {reason}")]
    Run {
        first: u64,
        end: u64,
        /// The first key found to differ, if one was.
        key: Option<IndexKey>,
        reason: String,
    },
}

/// Why the monitor could not finish.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError<E: std::fmt::Display> {
    #[error("reading the log failed: {0}")]
    Read(E),
    #[error("the log's checkpoint does not verify with the trusted key: {0}")]
    Checkpoint(String),
}

/// How many keys of a differing run the monitor asks about before it gives up naming one.
pub const MAX_KEYS_ASKED: usize = 10_000;

/// Reads the log's newest checkpoint (it must verify with `log`), every entry up to its size and
/// the index head it commits to, and recomputes the index run by run.
pub fn check<R: LogReader>(
    reader: &mut R,
    log: &TrustedLog,
) -> Result<MonitorReport, MonitorError<R::Error>> {
    let note = reader.checkpoint().map_err(MonitorError::Read)?;
    let verified = log
        .open_checkpoint(&note)
        .map_err(|error| MonitorError::Checkpoint(error.to_string()))?;
    let checkpoint = verified.checkpoint();
    let size = checkpoint.size().get();
    let mut report = MonitorReport {
        size,
        indexed: 0,
        runs: 0,
        pairs: 0,
        unbound: 0,
        problem: None,
    };
    let head = match IndexCommitment::of_checkpoint(checkpoint) {
        Ok(None) => None,
        Err(error) => {
            report.problem = Some(MonitorProblem::Commitment(error.to_string()));
            return Ok(report);
        }
        Ok(Some(commitment)) => {
            let bytes = reader
                .index_head(&commitment.root)
                .map_err(MonitorError::Read)?;
            match IndexHead::decode(&bytes) {
                Ok(head) if IndexCommitment::of_head(&head) == commitment => Some(head),
                Ok(head) => {
                    report.problem = Some(MonitorProblem::Head(format!(
                        "the head served for root {} has root {} and covers {} entries; the \
                         checkpoint commits to {} entries",
                        commitment.root.to_hex(),
                        head.root().to_hex(),
                        head.size(),
                        commitment.size
                    )));
                    return Ok(report);
                }
                Err(error) => {
                    report.problem = Some(MonitorProblem::Head(error.to_string()));
                    return Ok(report);
                }
            }
        }
    };
    report.indexed = head.as_ref().map_or(0, |head| head.size().get());
    let mut tree = Frontier::new();
    let mut runs = Runs::new(head.as_ref());
    let mut first_problem: Option<MonitorProblem> = None;
    let mut differing: Option<Differing> = None;
    let bundles = size.div_ceil(TILE_WIDTH as u64);
    for index in 0..bundles {
        let first = index * TILE_WIDTH as u64;
        // At most 256 entries per bundle.
        let width = (size - first).min(TILE_WIDTH as u64) as u16;
        let Ok(id) = EntryBundleId::new(index, width) else {
            break;
        };
        let bytes = reader.entry_bundle(id).map_err(MonitorError::Read)?;
        let events = reader.events(id).map_err(MonitorError::Read)?;
        let records = match decode_entry_bundle(&bytes) {
            Ok(records) if records.len() == usize::from(width) => records,
            Ok(records) => {
                report.problem = Some(MonitorProblem::Entry {
                    leaf: first,
                    reason: format!(
                        "its entry bundle holds {} records, not {width}",
                        records.len()
                    ),
                });
                return Ok(report);
            }
            Err(error) => {
                report.problem = Some(MonitorProblem::Entry {
                    leaf: first,
                    reason: format!("its entry bundle does not decode: {error}"),
                });
                return Ok(report);
            }
        };
        if events.len() != records.len() {
            report.problem = Some(MonitorProblem::Entry {
                leaf: first,
                reason: format!(
                    "{} events were served for the {} entries of its bundle",
                    events.len(),
                    records.len()
                ),
            });
            return Ok(report);
        }
        for (offset, (record, event)) in records.iter().zip(&events).enumerate() {
            let leaf = first + offset as u64;
            tree.push(leaf_hash(record));
            match bound(record, event) {
                Ok(true) => {}
                Ok(false) => report.unbound += 1,
                Err(reason) => {
                    first_problem.get_or_insert(MonitorProblem::Entry { leaf, reason });
                }
            }
            if first_problem.is_none() && differing.is_none() && leaf < report.indexed {
                let keys = keys_of_json(event).unwrap_or_default();
                differing = runs.push(leaf, &keys);
            }
        }
    }
    report.runs = runs.done;
    report.pairs = runs.pairs;
    // The entries themselves first: a run computed from events the log does not hold proves
    // nothing about its index.
    let computed = tree.root();
    if &computed != checkpoint.root() {
        report.problem = Some(MonitorProblem::Root {
            computed: computed.to_base64(),
            committed: checkpoint.root().to_base64(),
        });
        return Ok(report);
    }
    // Only now that the entries are the log's is a run that differs the index's fault: named by
    // its first key that differs, asked of the log.
    report.problem = match (first_problem, differing, head.as_ref()) {
        (Some(problem), _, _) => Some(problem),
        (None, Some(differing), Some(head)) => Some(differing.blame(reader, head)),
        _ => None,
    };
    Ok(report)
}

/// Whether a leaf record binds an event's bytes (`Ok(false)`: a version 1 record, which binds its
/// CBV 2.0 hash only, and the event has that hash), or why it does not.
fn bound(record: &[u8], event: &str) -> Result<bool, String> {
    let record = LeafRecord::decode(record).map_err(|error| format!("its leaf record: {error}"))?;
    binds(&record, event)
}

/// Whether `record` binds the event text `event` as a monitor checks it: a version 2 record by
/// the SHA-256 of its bytes (`Ok(true)`), a version 1 record by the CBV 2.0 hash of the event
/// parsed (`Ok(false)`: the hash only, under the standard context), or why it does not. What the
/// log serves to monitors is checked the same way before it is called immutable.
pub fn binds(record: &LeafRecord, event: &str) -> Result<bool, String> {
    match record.binds_event(event.as_bytes()) {
        EventBinding::Exact => Ok(true),
        EventBinding::HashOnly => {
            let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(event)
                .map_err(|error| format!("the event served is not a JSON object: {error}"))?;
            let hash = crate::bundle::recompute_event_hash(&parsed, None)
                .map_err(|error| format!("the event served cannot be hashed: {error}"))?;
            match hash == *record.event_hash() {
                true => Ok(false),
                false => Err(format!(
                    "the event served has CBV 2.0 hash {}; its version 1 leaf record commits to \
                     {} (or its capture document had a context of its own)",
                    hash.to_ni_uri(),
                    record.event_hash().to_ni_uri()
                )),
            }
        }
        EventBinding::Differs { committed, found } => Err(format!(
            "the event served has SHA-256 {found}; its leaf record commits to {committed}"
        )),
    }
}

/// The first run that is not what its entries give: what the head says of it, and what its
/// entries give.
struct Differing {
    committed: super::head::RunHead,
    expected: MemoryRun,
}

impl Differing {
    /// The problem, naming the first key whose proof differs if the log's proofs show one.
    fn blame<R: LogReader>(self, reader: &mut R, head: &IndexHead) -> MonitorProblem {
        let run = self.committed;
        let computed = self.expected.head();
        let (key, reason) = first_differing_key(reader, head, run.first, run.end, &self.expected);
        MonitorProblem::Run {
            first: run.first,
            end: run.end,
            key,
            reason: format!(
                "it commits to {} pairs with root {}; its entries give {} pairs with root {}: {}",
                run.pairs,
                run.root.to_hex(),
                computed.pairs,
                computed.root.to_hex(),
                reason
            ),
        }
    }
}

/// The runs of the head, recomputed one at a time as the entries stream by.
struct Runs<'a> {
    runs: &'a [super::head::RunHead],
    /// The run being recomputed, and its pairs so far.
    at: usize,
    pairs_so_far: Vec<Pair>,
    done: usize,
    pairs: u64,
}

impl<'a> Runs<'a> {
    fn new(head: Option<&'a IndexHead>) -> Self {
        Self {
            runs: head.map_or(&[], IndexHead::runs),
            at: 0,
            pairs_so_far: Vec::new(),
            done: 0,
            pairs: 0,
        }
    }

    /// Adds an entry's keys; when it ends a run, compares the run with the head's, and gives it
    /// when it differs.
    fn push(&mut self, leaf: u64, keys: &[IndexKey]) -> Option<Differing> {
        let run = *self.runs.get(self.at)?;
        self.pairs_so_far
            .extend(keys.iter().map(|key| Pair::new(*key, leaf)));
        if leaf + 1 < run.end {
            return None;
        }
        let pairs = std::mem::take(&mut self.pairs_so_far);
        let expected = MemoryRun::new(run.first, run.end, pairs);
        self.at += 1;
        self.done += 1;
        self.pairs += expected.pairs().len() as u64;
        let computed = expected.head();
        if computed.pairs == run.pairs && computed.root == run.root {
            return None;
        }
        Some(Differing {
            committed: run,
            expected,
        })
    }
}

/// The first key of a run whose proof lists other entries than `expected` gives (or does not
/// verify), asked about in key order; a proof the log does not give ends the search, saying so.
fn first_differing_key<R: LogReader>(
    reader: &mut R,
    head: &IndexHead,
    first: u64,
    end: u64,
    expected: &MemoryRun,
) -> (Option<IndexKey>, String) {
    let mut by_key: BTreeMap<IndexKey, Vec<u64>> = BTreeMap::new();
    for pair in expected.pairs() {
        by_key.entry(pair.key).or_default().push(pair.leaf);
    }
    let root = head.root();
    for (asked, (key, leaves)) in by_key.iter().enumerate() {
        if asked == MAX_KEYS_ASKED {
            return (
                None,
                format!("the first {MAX_KEYS_ASKED} keys of its entries list as they give"),
            );
        }
        let range = KeyRange {
            key: *key,
            from: first,
            to: end,
        };
        let bytes = match reader.key_proof(&root, &range) {
            Ok(bytes) => bytes,
            Err(error) => {
                return (
                    None,
                    format!(
                        "the log gave no proof of key {key} to name the key that differs: {error}"
                    ),
                );
            }
        };
        let listed = match KeyProof::decode(&bytes) {
            Ok(proof) if proof.range == range => proof.verify(head),
            Ok(_) => {
                return (
                    Some(*key),
                    format!("the proof served for key {key} is of another range"),
                );
            }
            Err(error) => {
                return (
                    Some(*key),
                    format!("the proof of key {key} does not decode: {error}"),
                );
            }
        };
        match listed {
            Ok(listed) if listed == *leaves => {}
            Ok(listed) => {
                return (
                    Some(*key),
                    format!("key {key} lists entries {listed:?}; the events give {leaves:?}"),
                );
            }
            Err(error) => {
                return (
                    Some(*key),
                    format!("the proof of key {key} does not verify: {error}"),
                );
            }
        }
    }
    (
        None,
        "every key its entries name lists as they give: the index holds pairs of keys no entry \
         names"
            .to_owned(),
    )
}
