//! The independent index monitor (`ledger::index::monitor`) against a log held in memory that
//! serves what trace-api serves, honestly or with one lie at a time: an event that is not the one
//! its record commits to, records that do not give the checkpoint's root, an index that leaves an
//! entry out of a key, a proof that does not verify, a head that is not the committed one.

use epcis::EventHash;
use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::index::monitor::{LogReader, MonitorProblem, check};
use ledger::index::{IndexCommitment, IndexHead, IndexKey, KeyRange, MemoryIndex, keys_of_json};
use ledger::note::{KeyName, NoteSignerKey, NoteVerifiers};
use ledger::record::{Attestation, LeafRecord};
use ledger::tiles::{EntryBundleId, TILE_WIDTH, encode_entry_bundle};
use ledger::tree::MemoryTree;
use ledger::{Hash, SiteId, TreeSize, UnixMillis};

const LOG: &str = "tagtrail.test/monitor";

/// A log of `n` events (an item each, a pallet every tenth), its index cut into runs of 100.
struct Log {
    events: Vec<String>,
    records: Vec<Vec<u8>>,
    index: MemoryIndex,
    head: IndexHead,
    note: String,
    key: NoteSignerKey,
    /// The lie to tell, if any.
    lie: Lie,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lie {
    None,
    /// Serves another text for event 150 than its record commits to.
    Event,
    /// Serves a proof with a flipped byte for every key.
    Proof,
}

fn item(i: usize) -> String {
    format!("urn:epc:id:sgtin:0614141.107346.{i}")
}

impl Log {
    /// The log, its index computed from `keys_of` each event's keys.
    fn new(n: usize, keys_of: impl Fn(usize, &str) -> Vec<IndexKey>) -> Self {
        Self::with_v1(n, keys_of, &[])
    }

    /// The same, the entries at `v1` with version 1 leaf records (the CBV 2.0 hash only).
    fn with_v1(n: usize, keys_of: impl Fn(usize, &str) -> Vec<IndexKey>, v1: &[usize]) -> Self {
        let events: Vec<String> = (0..n)
            .map(|i| {
                let mut epcs = vec![item(i)];
                if i % 10 == 0 {
                    epcs.push("urn:epc:id:sscc:0614141.1234567890".to_owned());
                }
                serde_json::json!({"type": "ObjectEvent", "eventTime": "2026-03-01T08:00:00Z",
                    "epcList": epcs, "action": "OBSERVE", "bizStep": "shipping"})
                .to_string()
            })
            .collect();
        let records: Vec<Vec<u8>> = events
            .iter()
            .enumerate()
            .map(|(i, text)| {
                if v1.contains(&i) {
                    return version_1_record(text);
                }
                LeafRecord::new(
                    EventHash::from_bytes([i as u8; 32]),
                    text.as_bytes(),
                    UnixMillis::from_millis(1_700_000_000_000),
                    Attestation::Unattested {
                        site: SiteId::parse("dock").unwrap(),
                    },
                )
                .unwrap()
                .encode()
            })
            .collect();
        let mut tree = MemoryTree::new();
        for record in &records {
            tree.push_record(record).unwrap();
        }
        let keys: Vec<Vec<IndexKey>> = events
            .iter()
            .enumerate()
            .map(|(i, text)| keys_of(i, text))
            .collect();
        let mut index = MemoryIndex::new();
        for run in keys.chunks(100) {
            index.push_entries(run);
        }
        let head = index.head().unwrap();
        let key = NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[5; 32]);
        let size = TreeSize::from(u32::try_from(n).unwrap());
        let note = Checkpoint::new(
            Origin::parse(LOG).unwrap(),
            size,
            tree.root_at(size).unwrap(),
        )
        .with_extensions(vec![IndexCommitment::of_head(&head).to_line()])
        .unwrap()
        .sign(&[&key])
        .unwrap()
        .to_message();
        Self {
            events,
            records,
            index,
            head,
            note,
            key,
            lie: Lie::None,
        }
    }

    fn honest(n: usize) -> Self {
        Self::new(n, |_, text| keys_of_json(text).unwrap())
    }

    fn trusted(&self) -> TrustedLog {
        TrustedLog::new(
            Origin::parse(LOG).unwrap(),
            NoteVerifiers::new(vec![self.key.verifier_key()]).unwrap(),
        )
    }

    fn span(id: EntryBundleId) -> std::ops::Range<usize> {
        let first = id.index() as usize * usize::from(TILE_WIDTH);
        first..first + usize::from(id.width())
    }
}

impl LogReader for Log {
    type Error = String;

    fn checkpoint(&mut self) -> Result<String, String> {
        Ok(self.note.clone())
    }

    fn entry_bundle(&mut self, id: EntryBundleId) -> Result<Vec<u8>, String> {
        let records = &self.records[Self::span(id)];
        Ok(encode_entry_bundle(records.iter().map(Vec::as_slice)).unwrap())
    }

    fn events(&mut self, id: EntryBundleId) -> Result<Vec<String>, String> {
        let mut events = self.events[Self::span(id)].to_vec();
        if self.lie == Lie::Event && id.index() == 0 {
            events[150] = events[150].replace("shipping", "receiving");
        }
        Ok(events)
    }

    fn index_head(&mut self, root: &Hash) -> Result<Vec<u8>, String> {
        (self.head.root() == *root)
            .then(|| self.head.encode())
            .ok_or_else(|| "no such head".to_owned())
    }

    fn key_proof(&mut self, root: &Hash, range: &KeyRange) -> Result<Vec<u8>, String> {
        if self.head.root() != *root {
            return Err("no such head".to_owned());
        }
        let mut bytes = self.index.prove(&self.head, *range).unwrap().encode();
        if self.lie == Lie::Proof {
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
        }
        Ok(bytes)
    }
}

/// A version 1 leaf record of an event: version byte 1, its CBV 2.0 hash, the capture time, an
/// unattested site (ledger/README.md, "Leaf record").
fn version_1_record(text: &str) -> Vec<u8> {
    let event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
    let hash = ledger::bundle::recompute_event_hash(&event, None).unwrap();
    let mut record = vec![1];
    record.extend_from_slice(hash.as_bytes());
    record.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
    record.extend_from_slice(&[2, 4]);
    record.extend_from_slice(b"dock");
    record
}

/// Version 1 records bind the event's CBV 2.0 hash only: an event served with that hash counts,
/// one with another (the served text rewritten where the index reads it) is named.
#[test]
fn version_1_entries_are_checked_by_their_event_hash() {
    let mut log = Log::with_v1(300, |_, text| keys_of_json(text).unwrap(), &[7, 150]);
    let trusted = log.trusted();
    let report = check(&mut log, &trusted).unwrap();
    assert_eq!((report.problem, report.unbound), (None, 2));
    log.lie = Lie::Event;
    let report = check(&mut log, &trusted).unwrap();
    let Some(MonitorProblem::Entry { leaf: 150, reason }) = report.problem else {
        panic!("{report:?}")
    };
    assert!(
        reason.contains("its version 1 leaf record commits to"),
        "{reason}"
    );
}

#[test]
fn an_honest_log_s_index_is_what_its_entries_give() {
    let mut log = Log::honest(300);
    let trusted = log.trusted();
    let report = check(&mut log, &trusted).unwrap();
    assert_eq!(report.problem, None);
    assert_eq!((report.size, report.indexed, report.runs), (300, 300, 3));
    // Two keys per item (its EPC and its GTIN), one more for the pallet every tenth event.
    assert_eq!(report.pairs, 630);
    assert_eq!(report.unbound, 0);
}

/// The operator's index leaves out one entry of one key (the pallet's at leaf 120): the monitor
/// names that run and that key, with what the index lists and what the events give.
#[test]
fn an_index_that_leaves_an_entry_out_of_a_key_is_named_by_run_and_key() {
    let pallet = IndexKey::epc("urn:epc:id:sscc:0614141.1234567890");
    let mut log = Log::new(300, |i, text| {
        let mut keys = keys_of_json(text).unwrap();
        if i == 120 {
            keys.retain(|key| *key != pallet);
        }
        keys
    });
    let trusted = log.trusted();
    let report = check(&mut log, &trusted).unwrap();
    let Some(MonitorProblem::Run {
        first,
        end,
        key,
        reason,
    }) = report.problem
    else {
        panic!("{report:?}")
    };
    assert_eq!((first, end, key), (100, 200, Some(pallet)));
    assert!(
        reason.contains(&format!(
            "key {pallet} lists entries [100, 110, 130, 140, 150, 160, 170, 180, 190]; the events \
             give [100, 110, 120, 130"
        )),
        "{reason}"
    );
}

#[test]
fn a_proof_that_does_not_verify_is_named() {
    let mut log = Log::new(300, |i, text| {
        // Another key's entry in run 2: its root differs; then every proof served is forged.
        let mut keys = keys_of_json(text).unwrap();
        if i == 250 {
            keys.push(IndexKey::epc("urn:epc:id:sgtin:0614141.107346.999999"));
            keys.sort_unstable();
        }
        keys
    });
    log.lie = Lie::Proof;
    let trusted = log.trusted();
    let report = check(&mut log, &trusted).unwrap();
    let Some(MonitorProblem::Run {
        first: 200,
        key: Some(_),
        reason,
        ..
    }) = report.problem
    else {
        panic!("{report:?}")
    };
    assert!(reason.contains("does not verify"), "{reason}");
}

#[test]
fn an_event_that_is_not_the_one_its_record_commits_to_is_named() {
    let mut log = Log::honest(300);
    log.lie = Lie::Event;
    let trusted = log.trusted();
    let report = check(&mut log, &trusted).unwrap();
    let Some(MonitorProblem::Entry { leaf: 150, reason }) = report.problem else {
        panic!("{report:?}")
    };
    assert!(reason.contains("its leaf record commits to"), "{reason}");
}

#[test]
fn records_that_do_not_give_the_checkpoint_s_root_fail_before_any_run() {
    let mut log = Log::honest(300);
    // Two records swapped: each still binds its event, the tree is another.
    log.records.swap(3, 4);
    log.events.swap(3, 4);
    let trusted = log.trusted();
    let report = check(&mut log, &trusted).unwrap();
    assert!(
        matches!(report.problem, Some(MonitorProblem::Root { .. })),
        "{report:?}"
    );
}

#[test]
fn a_head_that_is_not_the_committed_one_or_a_foreign_checkpoint_fails() {
    let mut log = Log::honest(300);
    let other = Log::honest(200);
    log.head = other.head.clone();
    // Served under the committed root, but it is another head.
    let committed = {
        let note = ledger::note::Note::parse(&log.note).unwrap();
        let checkpoint = Checkpoint::from_text(note.text()).unwrap();
        IndexCommitment::of_checkpoint(&checkpoint)
            .unwrap()
            .unwrap()
    };
    struct Substituted(Log, Hash);
    impl LogReader for Substituted {
        type Error = String;
        fn checkpoint(&mut self) -> Result<String, String> {
            self.0.checkpoint()
        }
        fn entry_bundle(&mut self, id: EntryBundleId) -> Result<Vec<u8>, String> {
            self.0.entry_bundle(id)
        }
        fn events(&mut self, id: EntryBundleId) -> Result<Vec<String>, String> {
            self.0.events(id)
        }
        fn index_head(&mut self, _: &Hash) -> Result<Vec<u8>, String> {
            Ok(self.0.head.encode())
        }
        fn key_proof(&mut self, _: &Hash, range: &KeyRange) -> Result<Vec<u8>, String> {
            let root = self.1;
            self.0.key_proof(&root, range)
        }
    }
    let trusted = log.trusted();
    let root = log.head.root();
    let mut substituted = Substituted(log, root);
    let report = check(&mut substituted, &trusted).unwrap();
    assert!(
        matches!(&report.problem, Some(MonitorProblem::Head(reason)) if reason.contains(&committed.root.to_hex())),
        "{report:?}"
    );
    // A checkpoint signed by another key is not the log's.
    let mut log = Log::honest(10);
    log.key = NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[6; 32]);
    let trusted = log.trusted();
    assert!(matches!(
        check(&mut log, &trusted),
        Err(ledger::index::monitor::MonitorError::Checkpoint(_))
    ));
}
