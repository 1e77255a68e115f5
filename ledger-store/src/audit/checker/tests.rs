//! The checker on logs built in memory, row by row as the store writes them: no PostgreSQL.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use epcis::EventHash;
use ledger::DeviceId;
use ledger::batch::{DeviceKeyring, StatementHash};
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::hash::{RootHash, leaf_hash};
use ledger::note::{KeyName, NoteSignerKey};
use ledger::record::{Attestation, LeafRecord};
use ledger::size::TreeSize;
use ledger::tiles::{TileFrontier, TileId};
use ledger::tree::MemoryTree;

use super::{Inputs, Source, check};
use crate::audit::batches::PreparedBatch;
use crate::audit::declarations::Declarations;
use crate::audit::decode::decode_bundle_row;
use crate::audit::problem::{
    AuditProblem, BatchReason, CheckpointReason, EntryReason, SigningKeyReason, TileReason,
};
use crate::audit::report::{AuditOptions, AuditReport, NoProgress};
use crate::bundles::BundleRows;
use crate::copy::CopyRow;
use crate::entry::NewBatch;
use crate::testing::EventFactory;

const ORIGIN: &str = "tagtrail.test/log";

/// Rows read from vectors.
struct Memory;

impl Source for Memory {
    type Entries = std::vec::IntoIter<Vec<crate::audit::decode::DecodedEntry>>;
    type Events = std::vec::IntoIter<CopyRow>;
    type Tiles = std::vec::IntoIter<CopyRow>;
    type Batches = std::vec::IntoIter<PreparedBatch>;
    type Checkpoints = std::vec::IntoIter<CopyRow>;
}

fn signer(seed: u8) -> NoteSignerKey {
    NoteSignerKey::from_seed(KeyName::parse(ORIGIN).unwrap(), &[seed; 32])
}

/// A checkpoint row `(tree_size, root_hash, note)` signed by `signer`.
fn checkpoint_row(size: u64, root: RootHash, signer: &NoteSignerKey) -> CopyRow {
    let note = Checkpoint::new(
        Origin::parse(ORIGIN).unwrap(),
        TreeSize::new(size).unwrap(),
        root,
    )
    .sign(&[signer])
    .unwrap()
    .to_message();
    CopyRow::of(&[
        &(size as i64).to_be_bytes(),
        root.as_bytes(),
        note.as_bytes(),
    ])
}

/// The rows of a log as the sequencer and the checkpoint signer store them.
struct Log {
    device: EventFactory,
    signer: NoteSignerKey,
    frontier: TileFrontier,
    size: u64,
    bundles: Vec<CopyRow>,
    events: Vec<CopyRow>,
    /// Tile rows with the tree size their last hash came into being at.
    tiles: Vec<(u64, u8, CopyRow)>,
    batches: Vec<CopyRow>,
    checkpoints: Vec<CopyRow>,
    keys: Vec<String>,
    devices: DeviceKeyring,
}

impl Log {
    fn new() -> Self {
        let device = EventFactory::new("dock-door-1", 1);
        let signer = signer(5);
        let mut devices = DeviceKeyring::new();
        devices.add("dock-door-1", Some(device.public_key()));
        Self {
            keys: vec![signer.verifier_key().to_string()],
            device,
            signer,
            frontier: TileFrontier::new(),
            size: 0,
            bundles: Vec::new(),
            events: Vec::new(),
            tiles: Vec::new(),
            batches: Vec::new(),
            checkpoints: Vec::new(),
            devices,
        }
    }

    /// A log of 600 entries appended 250, 250 and 100 at a time, with a checkpoint after each.
    fn written() -> Self {
        let mut log = Self::new();
        for count in [250, 250, 100] {
            log.append(count);
            log.sign();
        }
        log
    }

    /// Appends the device's next `count` events as one signed batch.
    fn append(&mut self, count: usize) -> NewBatch {
        let batch = self.device.next_batch(count);
        let first = self.size;
        let records: Vec<Vec<u8>> = batch
            .entries()
            .iter()
            .map(|entry| entry.record().encode())
            .collect();
        let rows = BundleRows::new(first, &records).unwrap();
        for i in 0..rows.bundle_indexes.len() {
            self.bundles.push(CopyRow::of(&[
                &rows.bundle_indexes[i].to_be_bytes(),
                &rows.firsts[i].to_be_bytes(),
                &rows.widths[i].to_be_bytes(),
                &rows.entries[i],
            ]));
        }
        for (leaf, entry) in (first..).zip(batch.entries()) {
            self.events.push(CopyRow::of(&[
                &(leaf as i64).to_be_bytes(),
                entry.event_hash().as_bytes(),
                entry.event().as_bytes(),
            ]));
        }
        let signed = batch.signed().unwrap();
        let hashes: Vec<u8> = signed
            .event_hashes()
            .iter()
            .flat_map(|hash| *hash.as_bytes())
            .collect();
        self.batches.push(CopyRow::of(&[
            signed.statement().hash().as_bytes(),
            &signed.statement().encode(),
            signed.signature().algorithm().as_bytes(),
            &signed.signature().to_bytes(),
            &hashes,
            &(first as i64).to_be_bytes(),
        ]));
        let leaves: Vec<_> = records.iter().map(|record| leaf_hash(record)).collect();
        for tile in self.frontier.append(&leaves).unwrap() {
            let id = tile.id();
            let ready = (id.index() * 256 + u64::from(id.width())) << (8 * u32::from(id.level()));
            let row = CopyRow::of(&[
                &i16::from(id.level()).to_be_bytes(),
                &(id.index() as i64).to_be_bytes(),
                &(id.width() as i16).to_be_bytes(),
                &tile.to_bytes(),
            ]);
            self.tiles.push((ready, id.level(), row));
        }
        self.size += count as u64;
        batch
    }

    /// Signs a checkpoint of the log as it is.
    fn sign(&mut self) {
        let row = checkpoint_row(self.size, self.frontier.root(), &self.signer);
        self.checkpoints.push(row);
    }

    /// The index of the bundle row holding entry `leaf`, and the entry's position in it.
    fn bundle_row_of(&self, leaf: u64) -> (usize, usize) {
        let at = self
            .bundles
            .iter()
            .position(|row| {
                let start = row.int8(0) as u64 * 256;
                (start + row.int2(1) as u64..start + row.int2(2) as u64).contains(&leaf)
            })
            .unwrap();
        let first = self.bundles[at].int8(0) as u64 * 256 + self.bundles[at].int2(1) as u64;
        (at, (leaf - first) as usize)
    }

    /// Replaces the stored leaf record of entry `leaf` with `change` of it.
    fn change_record(&mut self, leaf: u64, change: impl FnOnce(&LeafRecord) -> LeafRecord) {
        let (at, position) = self.bundle_row_of(leaf);
        let row = &self.bundles[at];
        let mut records: Vec<Vec<u8>> = ledger::tiles::decode_entry_bundle(row.bytes(3))
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let record = LeafRecord::decode(&records[position]).unwrap();
        records[position] = change(&record).encode();
        let entries =
            ledger::tiles::encode_entry_bundle(records.iter().map(Vec::as_slice)).unwrap();
        self.bundles[at] = CopyRow::of(&[row.bytes(0), row.bytes(1), row.bytes(2), &entries]);
    }

    /// Runs the checker on the rows.
    fn audit(&self, options: AuditOptions) -> AuditReport {
        let mut decoded = Vec::new();
        for row in &self.bundles {
            decode_bundle_row(row, &mut decoded);
        }
        // The database orders tile rows by the tree size at which they are ready, lower levels
        // first.
        let mut tiles = self.tiles.clone();
        tiles.sort_by_key(|(ready, level, _)| (*ready, *level));
        let batches: Vec<PreparedBatch> = self
            .batches
            .iter()
            .map(|row| PreparedBatch::new(row.clone(), &self.devices))
            .collect();
        let inputs = Inputs::<Memory>::new(
            vec![decoded].into_iter(),
            options
                .recompute_event_hashes
                .then(|| self.events.clone().into_iter()),
            tiles
                .into_iter()
                .map(|(_, _, row)| row)
                .collect::<Vec<_>>()
                .into_iter(),
            batches.into_iter(),
            self.checkpoints.clone().into_iter(),
            Declarations::default(),
        );
        check(self.size, self.keys.clone(), options, inputs, &NoProgress).report
    }

    /// The first problem, with event hashes recomputed on the checking thread.
    fn problem(&self) -> Option<AuditProblem> {
        self.audit(recomputing(0)).problem
    }
}

/// The record of the same version, event hash and event digest, with another capture time and
/// attestation.
fn remade(
    record: &LeafRecord,
    captured_at: ledger::UnixMillis,
    attestation: Attestation,
) -> LeafRecord {
    let v1 = LeafRecord::version_1(*record.event_hash(), captured_at, attestation)
        .unwrap()
        .encode();
    let Some(digest) = record.event_digest() else {
        return LeafRecord::decode(&v1).unwrap();
    };
    let mut v2 = vec![2];
    v2.extend_from_slice(&v1[1..33]);
    v2.extend_from_slice(digest.as_bytes());
    v2.extend_from_slice(&v1[33..]);
    LeafRecord::decode(&v2).unwrap()
}

fn recomputing(hashing_threads: usize) -> AuditOptions {
    AuditOptions {
        recompute_event_hashes: true,
        hashing_threads,
    }
}

const STRUCTURE_ONLY: AuditOptions = AuditOptions {
    recompute_event_hashes: false,
    hashing_threads: 0,
};

fn entry(leaf_index: u64, reason: EntryReason) -> Option<AuditProblem> {
    Some(AuditProblem::Entry { leaf_index, reason })
}

fn statement_of(log: &Log, batch: usize) -> StatementHash {
    StatementHash::from_bytes(log.batches[batch].bytes(0).try_into().unwrap())
}

#[test]
fn a_clean_log_passes_every_check() {
    let log = Log::written();
    for options in [recomputing(0), recomputing(2), STRUCTURE_ONLY] {
        let report = log.audit(options);
        assert_eq!(report.problem, None, "{options:?}");
        assert_eq!(
            (
                report.entries,
                report.checkpoints,
                report.device_batches,
                report.device_signatures_verified
            ),
            (600, 3, 3, 3)
        );
        // 0.p/250, then 0 and 1.p/244, then 1 and 2.p/88, and level 1's partial tile twice.
        assert_eq!(report.tiles, 7, "{options:?}");
        assert_eq!(
            report.event_hashes_recomputed,
            options.recompute_event_hashes
        );
    }
}

#[test]
fn a_checkpoint_over_the_memory_tree_s_root_of_the_stored_records_verifies() {
    let mut log = Log::written();
    let mut tree = MemoryTree::new();
    for row in &log.bundles {
        for record in ledger::tiles::decode_entry_bundle(row.bytes(3)).unwrap() {
            tree.push_record(record).unwrap();
        }
    }
    log.checkpoints.pop();
    let root = tree.root_at(TreeSize::new(600).unwrap()).unwrap();
    log.checkpoints.push(checkpoint_row(600, root, &log.signer));
    assert_eq!(log.problem(), None);
    // And one over the root of the first 599 entries, claiming 600, does not.
    log.checkpoints.pop();
    let short = tree.root_at(TreeSize::new(599).unwrap()).unwrap();
    log.checkpoints
        .push(checkpoint_row(600, short, &log.signer));
    assert_eq!(
        log.problem(),
        Some(AuditProblem::Checkpoint {
            tree_size: 600,
            reason: CheckpointReason::RootDiffers { rebuilt: root },
        })
    );
}

#[test]
fn a_changed_leaf_record_is_blamed_on_its_entry_by_the_next_checkpoint() {
    let mut log = Log::written();
    log.change_record(123, |record| {
        remade(
            record,
            ledger::UnixMillis::from_millis(1),
            record.attestation().clone(),
        )
    });
    for options in [recomputing(1), STRUCTURE_ONLY] {
        assert_eq!(
            log.audit(options).problem,
            entry(
                123,
                EntryReason::LeafChanged {
                    tile: TileId::new(0, 0, 250).unwrap(),
                    checkpoint: 250,
                }
            )
        );
    }
}

#[test]
fn a_tile_that_disagrees_with_the_leaves_is_blamed_when_the_next_checkpoint_matches_them() {
    let mut log = Log::written();
    let (_, _, row) = log
        .tiles
        .iter_mut()
        .find(|(_, level, row)| *level == 0 && row.int8(1) == 1 && row.int2(2) == 256)
        .unwrap();
    let mut hashes = row.bytes(3).to_vec();
    hashes[32] ^= 0xff;
    *row = CopyRow::of(&[row.bytes(0), row.bytes(1), row.bytes(2), &hashes]);
    assert_eq!(
        log.problem(),
        Some(AuditProblem::Tile {
            level: 0,
            index: 1,
            width: 256,
            reason: TileReason::Changed {
                hash: 1,
                first_leaf: 257,
                checkpoint: 600,
            },
        })
    );
}

#[test]
fn a_tile_that_disagrees_after_the_last_checkpoint_is_reported_undecided() {
    let mut log = Log::written();
    log.append(10);
    let (_, _, row) = log.tiles.last_mut().unwrap();
    assert_eq!((row.int2(0), row.int8(1), row.int2(2)), (0, 2, 98));
    let mut hashes = row.bytes(3).to_vec();
    hashes[3 * 32] ^= 0xff;
    *row = CopyRow::of(&[row.bytes(0), row.bytes(1), row.bytes(2), &hashes]);
    let problem = log.problem();
    assert_eq!(
        problem,
        Some(AuditProblem::Tile {
            level: 0,
            index: 2,
            width: 98,
            reason: TileReason::Differs {
                hash: 3,
                first_leaf: 515,
            },
        })
    );
    assert_eq!(
        problem.unwrap().to_string(),
        "tile tile/0/002.p/98: stored hash 3 differs from the one rebuilt from the leaf records \
         (leaves from 515) (no later checkpoint tells whether the tile or entry 515 was changed)"
    );
}

#[test]
fn a_missing_tile_row_is_reported() {
    let mut log = Log::written();
    log.tiles
        .retain(|(_, level, row)| !(*level == 0 && row.int8(1) == 0 && row.int2(2) == 256));
    assert_eq!(
        log.problem(),
        Some(AuditProblem::Tile {
            level: 0,
            index: 0,
            width: 256,
            reason: TileReason::MissingFull,
        })
    );
}

#[test]
fn a_checkpoint_signed_by_an_unknown_key_fails_its_signature() {
    let mut log = Log::written();
    let root = log.frontier.root();
    log.checkpoints.pop();
    log.checkpoints.push(checkpoint_row(600, root, &signer(6)));
    assert!(
        matches!(
            log.problem(),
            Some(AuditProblem::Checkpoint {
                tree_size: 600,
                reason: CheckpointReason::SignatureFails(_),
            })
        ),
        "{:?}",
        log.problem()
    );
}

#[test]
fn a_signed_checkpoint_over_another_root_is_reported_with_the_rebuilt_root() {
    let mut log = Log::written();
    let rebuilt = log.frontier.root();
    log.checkpoints.pop();
    let forged = RootHash::from_bytes([7; 32]);
    log.checkpoints
        .push(checkpoint_row(600, forged, &log.signer));
    assert_eq!(
        log.problem(),
        Some(AuditProblem::Checkpoint {
            tree_size: 600,
            reason: CheckpointReason::RootDiffers { rebuilt },
        })
    );
}

#[test]
fn a_checkpoint_beyond_the_log_is_reported() {
    let mut log = Log::written();
    let root = log.frontier.root();
    log.checkpoints.push(checkpoint_row(700, root, &log.signer));
    assert_eq!(
        log.problem(),
        Some(AuditProblem::Checkpoint {
            tree_size: 700,
            reason: CheckpointReason::BeyondLog { log_size: 600 },
        })
    );
}

#[test]
fn a_stored_signing_key_that_does_not_parse_is_reported() {
    let mut log = Log::written();
    log.keys.push("not a key".to_owned());
    assert!(matches!(
        log.problem(),
        Some(AuditProblem::SigningKey { key, reason: SigningKeyReason::NotAVerifierKey(_) })
            if key == "not a key"
    ));
}

#[test]
fn a_device_batch_whose_event_hashes_were_changed_is_reported() {
    let mut log = Log::written();
    let row = &log.batches[1];
    let mut hashes = row.bytes(4).to_vec();
    hashes[0] ^= 1;
    log.batches[1] = CopyRow::of(&[
        row.bytes(0),
        row.bytes(1),
        row.bytes(2),
        row.bytes(3),
        &hashes,
        row.bytes(5),
    ]);
    assert_eq!(
        log.problem(),
        Some(AuditProblem::DeviceBatch {
            statement_hash: statement_of(&log, 1),
            reason: BatchReason::EventsNotCommitted,
        })
    );
}

#[test]
fn a_batch_signed_by_a_key_the_registry_does_not_hold_is_reported() {
    let mut log = Log::written();
    let mut devices = DeviceKeyring::new();
    devices.add(
        "dock-door-1",
        Some(EventFactory::new("dock-door-1", 9).public_key()),
    );
    devices.add("dock-door-1", None);
    log.devices = devices;
    assert_eq!(
        log.problem(),
        Some(AuditProblem::DeviceBatch {
            statement_hash: statement_of(&log, 0),
            reason: BatchReason::SignatureFails {
                device: DeviceId::parse("dock-door-1").unwrap(),
                keys: 2,
                unparsable: 1,
            },
        })
    );
}

#[test]
fn a_leaf_record_naming_an_event_its_batch_does_not_hold_is_reported() {
    let mut log = Log::written();
    let statement = statement_of(&log, 0);
    log.change_record(5, |record| {
        let Attestation::Device { device, .. } = record.attestation() else {
            panic!("a device attestation")
        };
        let attestation = Attestation::Device {
            device: device.clone(),
            statement,
            index: 6,
        };
        remade(record, record.captured_at(), attestation)
    });
    assert_eq!(
        log.problem(),
        entry(
            5,
            EntryReason::NotInBatch {
                device: DeviceId::parse("dock-door-1").unwrap(),
                statement,
                index: 6,
            }
        )
    );
}

#[test]
fn a_leaf_record_naming_a_batch_that_is_not_stored_is_reported() {
    let mut log = Log::written();
    let statement = statement_of(&log, 1);
    log.batches.remove(1);
    assert_eq!(
        log.problem(),
        entry(250, EntryReason::BatchNotStored { statement })
    );
}

#[test]
fn a_changed_event_is_caught_by_recomputing_its_hash() {
    let mut log = Log::written();
    let row = &log.events[42];
    let stored = EventHash::from_bytes(row.bytes(1).try_into().unwrap());
    let changed = row
        .text(2)
        .unwrap()
        .replace("\"action\":\"OBSERVE\"", "\"action\":\"DELETE\"");
    log.events[42] = CopyRow::of(&[row.bytes(0), row.bytes(1), changed.as_bytes()]);
    for threads in [0, 2] {
        let problem = log.audit(recomputing(threads)).problem;
        assert!(
            matches!(
                &problem,
                Some(AuditProblem::Entry {
                    leaf_index: 42,
                    reason: EntryReason::EventHashDiffers { computed, stored: s },
                }) if *s == stored && *computed != stored
            ),
            "{problem:?}"
        );
    }
    // Without event hashes the JSON is not read.
    assert_eq!(log.audit(STRUCTURE_ONLY).problem, None);
}

#[test]
fn an_event_stored_under_another_hash_is_reported() {
    let mut log = Log::written();
    let row = &log.events[42];
    let named = EventHash::from_bytes(row.bytes(1).try_into().unwrap());
    let other = EventHash::from_bytes([9; 32]);
    log.events[42] = CopyRow::of(&[row.bytes(0), other.as_bytes(), row.bytes(2)]);
    assert_eq!(
        log.problem(),
        entry(
            42,
            EntryReason::EventHashNotNamed {
                named,
                stored: other
            }
        )
    );
}

#[test]
fn missing_events_and_leaf_records_are_reported_at_their_entry() {
    let mut log = Log::written();
    log.events.remove(10);
    assert_eq!(
        log.problem(),
        entry(
            10,
            EntryReason::EventMissing {
                next_stored: Some(11)
            }
        )
    );

    let mut log = Log::written();
    log.bundles.pop();
    assert_eq!(
        log.problem(),
        entry(512, EntryReason::MissingAtEnd { log_size: 600 })
    );
    assert_eq!(
        log.problem().unwrap().to_string(),
        "entry 512: missing: the log has 600 entries but its leaf record is not stored"
    );
}
