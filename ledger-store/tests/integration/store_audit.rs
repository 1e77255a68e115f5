//! `audit` against a real PostgreSQL: a log written by the sequencer audits clean, and every kind
//! of change made behind the service's back (as a superuser with triggers disabled) is caught and
//! named.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use epcis::EventHash;
use ledger::DeviceId;
use ledger::batch::{DeviceKeyring, StatementHash};
use ledger::checkpoint::Origin;
use ledger::note::{KeyName, NoteSignerKey};
use ledger::record::RecordError;
use ledger::tiles::{TileId, decode_entry_bundle, encode_entry_bundle};
use ledger_store::testing::{
    EventFactory, TestDatabase, change_event_hash_sql, change_event_sql, delete_event_sql,
};
use ledger_store::{
    AUDIT_CONNECTIONS, AuditError, AuditOptions, AuditProblem, AuditReport, BatchReason,
    BundleRowProblem, CheckpointReason, Checkpointer, EntryReason, NoProgress, Sequencer,
    TileReason, Writer, audit, given_keys,
};
use sha2::{Digest, Sha256};

/// A log of 700 entries in batches of 250, 250, 100 and 100, with a checkpoint after each.
async fn written_log() -> (TestDatabase, Writer) {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let signer = NoteSignerKey::from_seed(KeyName::parse("tagtrail.test/log").unwrap(), &[5; 32]);
    let checkpointer = Checkpointer::new(
        &store,
        Origin::parse("tagtrail.test/log").unwrap(),
        Arc::new(signer),
    );
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    for size in [250, 250, 100, 100] {
        sequencer.append(device.next_batch(size)).await.unwrap();
        checkpointer.sign_latest().await.unwrap().unwrap();
    }
    sequencer.shutdown().await;
    (db, store)
}

async fn run_audit(store: &Writer) -> AuditReport {
    audit_with(store, AuditOptions::default()).await
}

/// An audit with `options`, the device keys read from the registry in its snapshot.
async fn audit_with(store: &Writer, options: AuditOptions) -> AuditReport {
    audit(
        store,
        options,
        registry::device_keys_in,
        Arc::new(NoProgress),
    )
    .await
    .unwrap()
}

/// Runs SQL as the superuser with triggers disabled for the session.
async fn tamper(db: &TestDatabase, sql: &str) {
    let client = db.connect().await.unwrap();
    client
        .batch_execute(&format!("SET session_replication_role = replica; {sql}"))
        .await
        .unwrap();
}

/// Zeroes byte `at` (counting from 1) of `column` of the device batch whose first entry is
/// `first_leaf`, as the superuser with triggers disabled.
async fn zero_batch_byte(db: &TestDatabase, column: &str, at: u32, first_leaf: i64) {
    tamper(
        db,
        &format!(
            "UPDATE device_batches SET {column} = overlay({column} PLACING '\\x00'::bytea FROM {at} FOR 1)
             WHERE first_leaf_index = {first_leaf}"
        ),
    )
    .await;
}

/// Changes the leaf record of entry `leaf` inside its entry bundle row, as the superuser with
/// triggers disabled: the row is split into its records, `change` is applied to the one, and the
/// row is written back.
async fn tamper_leaf_record(db: &TestDatabase, leaf: i64, change: impl FnOnce(&mut [u8])) {
    let client = db.connect().await.unwrap();
    let row = client
        .query_one(
            "SELECT bundle_index, first, entries FROM entry_bundles
             WHERE bundle_index = $1::bigint / 256 AND first <= $1::bigint % 256 AND width > $1::bigint % 256",
            &[&leaf],
        )
        .await
        .unwrap();
    let (bundle, first): (i64, i16) = (row.get(0), row.get(1));
    let mut records: Vec<Vec<u8>> = decode_entry_bundle(row.get(2))
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    change(records[(leaf % 256 - i64::from(first)) as usize].as_mut_slice());
    let entries = encode_entry_bundle(records.iter().map(Vec::as_slice)).unwrap();
    client
        .batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let changed = client
        .execute(
            "UPDATE entry_bundles SET entries = $3 WHERE bundle_index = $1 AND first = $2",
            &[&bundle, &first, &entries],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
}

/// Sets a (version 2) leaf record's capture time (bytes 65..73) to 1 ms: the record still
/// decodes.
fn change_capture_time(record: &mut [u8]) {
    record[65..73].copy_from_slice(&1u64.to_be_bytes());
}

/// Checks that the audit found a problem, first with entry `leaf`, for `reason`.
fn assert_entry_problem(problem: Option<AuditProblem>, leaf: u64, reason: EntryReason) {
    assert_eq!(
        problem,
        Some(AuditProblem::Entry {
            leaf_index: leaf,
            reason
        })
    );
}

/// The reason of the problem with entry `leaf` the audit found first (failing if it found none,
/// or one with anything else).
fn entry_reason(problem: Option<AuditProblem>, leaf: u64) -> EntryReason {
    match problem {
        Some(AuditProblem::Entry { leaf_index, reason }) if leaf_index == leaf => reason,
        other => panic!("expected a problem with entry {leaf}, got {other:?}"),
    }
}

/// The statement hash of the device batch whose first entry is `first_leaf`.
async fn batch_hash(db: &TestDatabase, first_leaf: i64) -> StatementHash {
    let client = db.connect().await.unwrap();
    let hash: Vec<u8> = client
        .query_one(
            "SELECT statement_hash FROM device_batches WHERE first_leaf_index = $1",
            &[&first_leaf],
        )
        .await
        .unwrap()
        .get(0);
    StatementHash::from_bytes(hash.try_into().unwrap())
}

/// Checks that the audit found a problem, first with the device batch whose first entry is
/// `first_leaf`, for `reason`.
async fn assert_batch_problem(
    db: &TestDatabase,
    problem: Option<AuditProblem>,
    first_leaf: i64,
    reason: BatchReason,
) {
    assert_eq!(
        problem,
        Some(AuditProblem::DeviceBatch {
            statement_hash: batch_hash(db, first_leaf).await,
            reason
        })
    );
}

#[tokio::test]
async fn a_pool_too_small_for_the_audit_is_refused_at_once_not_waited_on() {
    let (db, _store) = written_log().await;
    let small = Writer::connect_with_pool_size(db.url(), AUDIT_CONNECTIONS - 1).unwrap();
    // A pool one connection short used to make the audit wait for ever for its last connection.
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        audit(
            &small,
            AuditOptions::default(),
            given_keys(DeviceKeyring::new()),
            Arc::new(NoProgress),
        ),
    )
    .await
    .expect("the audit answers instead of waiting for a connection");
    assert!(
        matches!(
            outcome,
            Err(AuditError::PoolTooSmall { needed: AUDIT_CONNECTIONS, max_size }) if max_size == AUDIT_CONNECTIONS - 1
        ),
        "{outcome:?}"
    );
    let exact = Writer::connect_with_pool_size(db.url(), AUDIT_CONNECTIONS).unwrap();
    let report = audit(
        &exact,
        AuditOptions::default(),
        given_keys(DeviceKeyring::new()),
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(report.problem, None);
}

#[tokio::test]
async fn a_log_written_by_the_sequencer_audits_clean() {
    let (_db, store) = written_log().await;
    let report = run_audit(&store).await;
    assert_eq!(report.problem, None);
    assert_eq!(report.entries, 700);
    assert_eq!(report.checkpoints, 4);
    assert_eq!(report.device_batches, 4);
    assert!(
        report.tiles >= 2 + 4,
        "two full level 0 tiles and partial rows: {}",
        report.tiles
    );
    assert!(report.event_hashes_recomputed);
}

#[tokio::test]
async fn a_changed_event_field_is_caught_by_its_event_hash() {
    let (db, store) = written_log().await;
    for leaf in [300, 500] {
        let sql = change_event_sql(leaf, |event| {
            format!("replace({event}, '\"action\":\"OBSERVE\"', '\"action\":\"DELETE\"')")
        });
        tamper(&db, &sql).await;
    }
    let reason = entry_reason(run_audit(&store).await.problem, 300);
    assert!(
        matches!(reason, EntryReason::EventHashDiffers { computed, stored } if computed != stored),
        "{reason}"
    );
    assert!(
        reason.to_string().starts_with("the stored event hashes to"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_changed_stored_event_hash_is_caught() {
    let (db, store) = written_log().await;
    tamper(&db, &change_event_hash_sql(42, "sha256('x')")).await;
    let reason = entry_reason(run_audit(&store).await.problem, 42);
    let changed = EventHash::from_bytes(Sha256::digest(b"x").into());
    assert!(
        matches!(reason, EntryReason::EventHashNotNamed { named, stored } if stored == changed && named != changed),
        "{reason}"
    );
}

#[tokio::test]
async fn a_changed_leaf_record_is_caught_and_blamed_on_the_entry() {
    let (db, store) = written_log().await;
    tamper_leaf_record(&db, 123, change_capture_time).await;
    // The first tile row over it (the first append's, 250 wide) and the first checkpoint (at 250)
    // both disagree with its leaf record.
    assert_entry_problem(
        run_audit(&store).await.problem,
        123,
        EntryReason::LeafChanged {
            tile: TileId::new(0, 0, 250).unwrap(),
            checkpoint: 250,
        },
    );
}

#[tokio::test]
async fn an_undecodable_leaf_record_is_caught() {
    let (db, store) = written_log().await;
    tamper_leaf_record(&db, 7, |record| record[0] = 0x03).await;
    assert_entry_problem(
        run_audit(&store).await.problem,
        7,
        EntryReason::MalformedRecord(RecordError::UnknownVersion(3)),
    );
}

#[tokio::test]
async fn a_changed_tile_hash_is_caught_and_blamed_on_the_tile() {
    let (db, store) = written_log().await;
    tamper(
        &db,
        // Every bit of the byte flipped: writing a fixed byte changed nothing in the runs whose
        // leaf hash (it covers the capture time) already had it, one in 256.
        "UPDATE tiles SET hashes = set_byte(hashes, 32, get_byte(hashes, 32) # 255)
         WHERE level = 0 AND tile_index = 1 AND width = 256",
    )
    .await;
    // Hash 1 of tile 1 (over leaf 257) differs; the next checkpoint (at 600) matches the leaves.
    assert_eq!(
        run_audit(&store).await.problem,
        Some(AuditProblem::Tile {
            level: 0,
            index: 1,
            width: 256,
            reason: TileReason::Changed {
                hash: 1,
                first_leaf: 257,
                checkpoint: 600
            },
        })
    );
}

#[tokio::test]
async fn a_deleted_tile_row_is_caught() {
    let (db, store) = written_log().await;
    tamper(
        &db,
        "DELETE FROM tiles WHERE level = 0 AND tile_index = 0 AND width = 256",
    )
    .await;
    assert_eq!(
        run_audit(&store).await.problem,
        Some(AuditProblem::Tile {
            level: 0,
            index: 0,
            width: 256,
            reason: TileReason::MissingFull,
        })
    );
}

#[tokio::test]
async fn a_deleted_entry_is_caught_as_missing() {
    let (db, store) = written_log().await;
    tamper(&db, &delete_event_sql(650)).await;
    assert_entry_problem(
        run_audit(&store).await.problem,
        650,
        EntryReason::EventMissing {
            next_stored: Some(651),
        },
    );
}

#[tokio::test]
async fn a_changed_checkpoint_root_column_is_caught() {
    let (db, store) = written_log().await;
    tamper(
        &db,
        "UPDATE checkpoints SET root_hash = sha256('y') WHERE tree_size = 500",
    )
    .await;
    let problem = run_audit(&store).await.problem.expect("a problem");
    assert!(
        matches!(
            &problem,
            AuditProblem::Checkpoint {
                tree_size: 500,
                reason: CheckpointReason::ColumnsDiffer { signed_size, signed_root },
            } if signed_size.get() == 500 && signed_root.as_bytes() != &<[u8; 32]>::from(Sha256::digest(b"y"))
        ),
        "{problem}"
    );
}

#[tokio::test]
async fn a_changed_checkpoint_note_fails_its_signature() {
    let (db, store) = written_log().await;
    tamper(
        &db,
        "UPDATE checkpoints SET note = replace(note, E'\\n600\\n', E'\\n601\\n') WHERE tree_size = 600",
    )
    .await;
    let problem = run_audit(&store).await.problem.expect("a problem");
    assert!(
        matches!(
            problem,
            AuditProblem::Checkpoint {
                tree_size: 600,
                reason: CheckpointReason::SignatureFails(_),
            }
        ),
        "{problem}"
    );
}

#[tokio::test]
async fn a_changed_device_batch_is_caught() {
    let (db, store) = written_log().await;
    zero_batch_byte(&db, "event_hashes", 1, 500).await;
    assert_batch_problem(
        &db,
        run_audit(&store).await.problem,
        500,
        BatchReason::EventsNotCommitted,
    )
    .await;
}

#[tokio::test]
async fn without_event_hashes_the_audit_still_checks_leaves_tiles_and_checkpoints() {
    let (db, store) = written_log().await;
    let options = AuditOptions {
        recompute_event_hashes: false,
        hashing_threads: 0,
    };
    let clean = audit_with(&store, options).await;
    assert_eq!(clean.problem, None);
    assert!(!clean.event_hashes_recomputed);
    tamper_leaf_record(&db, 600, change_capture_time).await;
    let report = audit_with(&store, options).await;
    // The last append's tile row (entries 512..700) and checkpoint (at 700) disagree with it.
    assert_entry_problem(
        report.problem,
        600,
        EntryReason::LeafChanged {
            tile: TileId::new(0, 2, 188).unwrap(),
            checkpoint: 700,
        },
    );
}

#[tokio::test]
async fn without_event_hashes_the_audit_still_checks_where_the_events_end() {
    let (db, store) = written_log().await;
    let options = AuditOptions {
        recompute_event_hashes: false,
        hashing_threads: 0,
    };
    // The last event goes: its leaf record is then past the log's events.
    tamper(&db, &delete_event_sql(699)).await;
    for options in [options, AuditOptions::default()] {
        assert_entry_problem(
            audit_with(&store, options).await.problem,
            699,
            EntryReason::RecordPastEvents { events_end: 699 },
        );
    }
}

#[tokio::test]
async fn a_deleted_entry_bundle_row_is_caught_as_missing() {
    let (db, store) = written_log().await;
    // Entries 500..512: the third append's records in the second bundle.
    tamper(
        &db,
        "DELETE FROM entry_bundles WHERE bundle_index = 1 AND first = 244",
    )
    .await;
    for recompute_event_hashes in [false, true] {
        let options = AuditOptions {
            recompute_event_hashes,
            hashing_threads: 1,
        };
        assert_entry_problem(
            audit_with(&store, options).await.problem,
            500,
            EntryReason::Missing { next_stored: 512 },
        );
    }
}

#[tokio::test]
async fn an_entry_bundle_row_that_does_not_hold_its_width_is_caught() {
    let (db, store) = written_log().await;
    // The row holding entries 256..500 claims to hold 256..506: blamed on its first entry.
    tamper(
        &db,
        "UPDATE entry_bundles SET width = 250 WHERE bundle_index = 1 AND first = 0",
    )
    .await;
    assert_entry_problem(
        run_audit(&store).await.problem,
        256,
        EntryReason::BundleRow {
            bundle: 1,
            first: 0,
            width: 250,
            problem: BundleRowProblem::Count {
                expected: 250,
                found: 244,
            },
        },
    );
}

#[tokio::test]
async fn an_entry_bundle_row_repeating_entries_is_caught() {
    let (db, store) = written_log().await;
    // A second row for entries 356..500 (copies of the stored records), between the two real rows
    // of the second bundle.
    let client = db.connect().await.unwrap();
    let stored: Vec<u8> = client
        .query_one(
            "SELECT entries FROM entry_bundles WHERE bundle_index = 1 AND first = 0",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let records = decode_entry_bundle(&stored).unwrap();
    let repeated = encode_entry_bundle(records[100..244].iter().copied()).unwrap();
    client
        .execute(
            "INSERT INTO entry_bundles VALUES (1, 100, 244, $1)",
            &[&repeated],
        )
        .await
        .unwrap();
    assert_entry_problem(
        run_audit(&store).await.problem,
        500,
        EntryReason::StoredTwice { from: 356 },
    );
}

/// Registers `device` at a site of its own with these public keys, oldest first (as the owner,
/// the way `tagtrail device add` and `rekey` do).
async fn register_device(db: &TestDatabase, device: &str, keys: &[Vec<u8>]) {
    let client = db.connect().await.unwrap();
    client
        .execute(
            "INSERT INTO sites (site_id) VALUES ('site-of-' || $1::text)",
            &[&device],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO devices (device_id, site_id) VALUES ($1, 'site-of-' || $1::text)",
            &[&device],
        )
        .await
        .unwrap();
    for key in keys {
        client
            .execute(
                "INSERT INTO device_keys (device_id, algorithm, public_key) VALUES ($1, 'ed25519', $2)",
                &[&device, key],
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn device_signatures_are_checked_against_every_key_the_registry_holds() {
    let (db, store) = written_log().await;
    // Written without ingest: the device is not registered, its batches are counted, not checked.
    let report = run_audit(&store).await;
    assert_eq!(report.problem, None);
    assert_eq!(
        (
            report.device_signatures_verified,
            report.unregistered_device_batches
        ),
        (0, 4)
    );

    // Registered with its key, then re-keyed: its batches verify under the older key.
    let key = EventFactory::new("dock-door-1", 1).public_key().to_bytes();
    let later = EventFactory::new("dock-door-1", 9).public_key().to_bytes();
    register_device(&db, "dock-door-1", &[key, later]).await;
    let report = run_audit(&store).await;
    assert_eq!(report.problem, None);
    assert_eq!(
        (
            report.device_signatures_verified,
            report.unregistered_device_batches
        ),
        (4, 0)
    );

    // One signature changed behind the service's back.
    zero_batch_byte(&db, "signature", 5, 250).await;
    let problem = run_audit(&store).await.problem;
    assert_eq!(
        problem
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        format!(
            "device batch {}: its signature does not verify under any of the 2 keys the registry holds for device dock-door-1",
            epcis::hex::encode_lower(batch_hash(&db, 250).await.as_bytes())
        )
    );
    assert_batch_problem(
        &db,
        problem,
        250,
        BatchReason::SignatureFails {
            device: DeviceId::parse("dock-door-1").unwrap(),
            keys: 2,
            unparsable: 0,
        },
    )
    .await;
}

#[tokio::test]
async fn a_member_of_the_reader_role_can_audit_everything() {
    let (db, _store) = written_log().await;
    let key = EventFactory::new("dock-door-1", 1).public_key().to_bytes();
    register_device(&db, "dock-door-1", &[key]).await;
    let url = db
        .login_role("tagtrail_test_auditor", "tagtrail_reader")
        .await
        .unwrap();
    let reader = Writer::connect(&url).unwrap();
    let report = run_audit(&reader).await;
    assert_eq!(report.problem, None);
    assert_eq!(
        (report.entries, report.device_signatures_verified),
        (700, 4)
    );
}

#[tokio::test]
async fn batches_of_a_device_registered_with_another_key_fail_the_audit() {
    let (db, store) = written_log().await;
    let stranger = EventFactory::new("dock-door-1", 7).public_key().to_bytes();
    register_device(&db, "dock-door-1", &[stranger]).await;
    // The first batch (at entry 0) is the first that fails.
    assert_batch_problem(
        &db,
        run_audit(&store).await.problem,
        0,
        BatchReason::SignatureFails {
            device: DeviceId::parse("dock-door-1").unwrap(),
            keys: 1,
            unparsable: 0,
        },
    )
    .await;
}

#[tokio::test]
async fn an_empty_log_audits_clean() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let report = run_audit(&store).await;
    assert_eq!(report.problem, None);
    assert_eq!(report.entries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_during_appends_sees_one_consistent_snapshot() {
    let (_db, store) = written_log().await;
    let appending = {
        let store = store.clone();
        tokio::spawn(async move {
            let sequencer = Sequencer::start(&store);
            let mut device = EventFactory::new("dock-door-2", 2);
            for _ in 0..20 {
                sequencer.append(device.next_batch(50)).await.unwrap();
            }
            sequencer.shutdown().await;
        })
    };
    for _ in 0..3 {
        let report = run_audit(&store).await;
        assert_eq!(report.problem, None);
        assert!(report.entries >= 700);
    }
    appending.await.unwrap();
    assert_eq!(run_audit(&store).await.entries, 1700);
}

/// Rewrites entry `leaf`'s stored event text with `change`, as the superuser with triggers
/// disabled.
async fn rewrite_event(db: &TestDatabase, leaf: i64, change: impl FnOnce(&str) -> String) {
    let client = db.connect().await.unwrap();
    let text: String = client
        .query_one("SELECT event FROM events WHERE leaf_index = $1", &[&leaf])
        .await
        .unwrap()
        .get(0);
    let changed = change(&text);
    assert_ne!(changed, text, "the tampering changes the stored bytes");
    client
        .batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let updated = client
        .execute(
            "UPDATE event_packs SET events[$1 - first_leaf + 1] = $2
             WHERE first_leaf = (SELECT max(first_leaf) FROM event_packs WHERE first_leaf <= $1)",
            &[&leaf, &changed],
        )
        .await
        .unwrap();
    assert_eq!(updated, 1);
}

/// A log of 300 events with eventIDs, then two error declarations of event 7 (entries 300, 301),
/// a declaration of event 400, not held (entry 302), and event 400 itself (entry 303).
async fn log_with_declarations() -> (TestDatabase, Writer) {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1).with_event_ids();
    sequencer.append(device.next_batch(300)).await.unwrap();
    for reason in ["incorrect_data", "did_not_occur"] {
        let declaration = device.declaration(
            7,
            serde_json::json!({"declarationTime": "2024-02-01T10:00:00Z", "reason": reason}),
        );
        let placed = sequencer
            .append(device.batch_from(vec![declaration]))
            .await
            .unwrap();
        assert_eq!(
            placed[0].declares.and_then(ledger_store::Declares::entry),
            ledger::LeafIndex::new(7).ok()
        );
    }
    let unheld = device.declaration(
        400,
        serde_json::json!({"declarationTime": "2024-02-01T10:00:00Z", "reason": "incorrect_data"}),
    );
    let placed = sequencer
        .append(device.batch_from(vec![unheld]))
        .await
        .unwrap();
    assert_eq!(placed[0].declares, Some(ledger_store::Declares::Unheld));
    let placed = sequencer.append(device.batch_of([400])).await.unwrap();
    assert_eq!(placed[0].leaf_index.get(), 303);
    sequencer.shutdown().await;
    (db, store)
}

#[tokio::test]
async fn a_log_with_error_declarations_audits_clean_and_counts_them() {
    let (_db, store) = log_with_declarations().await;
    let report = run_audit(&store).await;
    assert_eq!(report.problem, None);
    assert_eq!(report.entries, 304);
    assert_eq!(report.error_declarations, 3);
    assert_eq!(report.version_1_entries, 0);
}

/// The CBV 2.0 hash of entry `leaf`'s stored event, recomputed.
async fn stored_event_hash(db: &TestDatabase, leaf: i64) -> EventHash {
    let client = db.connect().await.unwrap();
    let text: String = client
        .query_one("SELECT event FROM events WHERE leaf_index = $1", &[&leaf])
        .await
        .unwrap()
        .get(0);
    let event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    epcis::hash::event_hash(&event, &epcis::hash::HashContext::new()).unwrap()
}

/// Each edit leaves the event's CBV 2.0 hash as it was (what the version 1 record bound, so the
/// audit did not notice), and is caught by the version 2 record's digest, naming the entry.
#[tokio::test]
async fn edits_the_event_hash_leaves_out_are_caught_by_the_event_digest() {
    type Edit = fn(&str) -> String;
    let edits: [(&str, Edit); 5] = [
        ("one byte of the eventID", |event| {
            let at = event.find("urn:uuid:").unwrap() + "urn:uuid:".len();
            let old = event.as_bytes()[at];
            let new = if old == b'0' { "1" } else { "0" };
            format!("{}{new}{}", &event[..at], &event[at + 1..])
        }),
        ("an inserted errorDeclaration", |event| {
            event.replacen(
                '{',
                r#"{"errorDeclaration":{"declarationTime":"2024-02-01T10:00:00Z","reason":"incorrect_data"},"#,
                1,
            )
        }),
        ("eventTime as the same instant in another zone", |event| {
            // "2023-11-14T22:13:20.120Z" becomes "2023-11-14T23:13:20.120+01:00".
            let at = event.find("\"eventTime\":\"").unwrap() + "\"eventTime\":\"".len();
            let time = &event[at..at + 24];
            assert!(time.ends_with('Z') && &time[11..13] == "22", "{time}");
            let shifted = format!("{}23{}+01:00", &time[..11], &time[13..23]);
            format!("{}{shifted}{}", &event[..at], &event[at + 24..])
        }),
        ("a space between two members", |event| {
            event.replacen(',', ", ", 1)
        }),
        ("two members swapped", |event| {
            // The first member is `"type":"ObjectEvent"`: move it to the end.
            let first = "\"type\":\"ObjectEvent\",";
            assert!(event.starts_with(&format!("{{{first}")), "{event}");
            format!(
                "{{{},{}}}",
                &event[1 + first.len()..event.len() - 1],
                first.trim_end_matches(',')
            )
        }),
    ];
    for (what, edit) in edits {
        let (db, store) = log_with_declarations().await;
        let before = stored_event_hash(&db, 123).await;
        rewrite_event(&db, 123, edit).await;
        assert_eq!(
            stored_event_hash(&db, 123).await,
            before,
            "{what}: the CBV hash leaves it out"
        );
        let reason = entry_reason(run_audit(&store).await.problem, 123);
        assert!(
            matches!(reason, EntryReason::EventBytesDiffer { committed, found } if committed != found),
            "{what}: {reason}"
        );
        assert!(
            reason.to_string().contains("the stored event was changed"),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn an_edited_error_declaration_is_caught() {
    let (db, store) = log_with_declarations().await;
    rewrite_event(&db, 300, |event| {
        event.replace("incorrect_data", "did_not_occur")
    })
    .await;
    let reason = entry_reason(run_audit(&store).await.problem, 300);
    assert!(
        matches!(reason, EntryReason::EventBytesDiffer { .. }),
        "{reason}"
    );
}

#[tokio::test]
async fn a_removed_declaration_row_is_caught_at_the_declaration() {
    let (db, store) = log_with_declarations().await;
    tamper(
        &db,
        "DELETE FROM error_declarations WHERE declaration_leaf = 301",
    )
    .await;
    assert_entry_problem(
        run_audit(&store).await.problem,
        301,
        EntryReason::DeclarationNotRecorded,
    );
}

#[tokio::test]
async fn a_declaration_row_moved_to_another_event_is_caught_at_that_event() {
    let (db, store) = log_with_declarations().await;
    tamper(
        &db,
        "UPDATE error_declarations SET declared_leaf = 8 WHERE declaration_leaf = 300",
    )
    .await;
    assert_entry_problem(
        run_audit(&store).await.problem,
        8,
        EntryReason::DeclaredByAnotherEvent { declaration: 300 },
    );
}

#[tokio::test]
async fn a_declaration_row_for_a_plain_event_is_caught() {
    let (db, store) = log_with_declarations().await;
    // Entry 200 holds a plain event; a row claims it declares entry 7 (whose hash it is not).
    tamper(
        &db,
        "INSERT INTO error_declarations (declaration_leaf, declared_leaf, event_hash)
         SELECT 200, 7, event_hash FROM events WHERE leaf_index = 7",
    )
    .await;
    let reason = entry_reason(run_audit(&store).await.problem, 200);
    assert!(
        matches!(reason, EntryReason::DeclarationRowDiffers { .. }),
        "{reason}"
    );
    // A row naming an entry past the log's end.
    let (db, store) = log_with_declarations().await;
    tamper(
        &db,
        "INSERT INTO error_declarations (declaration_leaf, declared_leaf, event_hash)
         SELECT 999, 7, event_hash FROM events WHERE leaf_index = 7",
    )
    .await;
    assert_entry_problem(
        run_audit(&store).await.problem,
        304,
        EntryReason::DeclarationPastEnd {
            declaration_leaf: 999,
        },
    );
}

#[tokio::test]
async fn a_declaration_row_hiding_the_event_it_declares_is_caught() {
    let (db, store) = log_with_declarations().await;
    // Entry 300 declares entry 7; a row rewritten to say the log did not hold the event.
    tamper(
        &db,
        "UPDATE error_declarations SET declared_leaf = NULL WHERE declaration_leaf = 300",
    )
    .await;
    assert_entry_problem(
        run_audit(&store).await.problem,
        300,
        EntryReason::DeclaredEventWasHeld { held: 7 },
    );
}

/// Entries with version 1 records (as written before the event digest) still audit clean, are
/// counted, and show the weakness that made version 2 necessary.
#[tokio::test]
async fn version_1_entries_are_counted_and_bind_only_the_event_hash() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let device = EventFactory::new("dock-door-1", 1).with_event_ids();
    let entries = (0..20)
        .map(|n| {
            let (text, hash) = device.hashed_event(n);
            let record = ledger::record::LeafRecord::version_1(
                hash,
                ledger::UnixMillis::from_millis(1_700_000_000_000),
                ledger::record::Attestation::Unattested {
                    site: ledger::SiteId::parse("plant-1").unwrap(),
                },
            )
            .unwrap();
            ledger_store::NewEntry::new(record, text).unwrap()
        })
        .collect();
    sequencer
        .append(ledger_store::NewBatch::unattested(entries).unwrap())
        .await
        .unwrap();
    sequencer
        .append(EventFactory::new("dock-door-2", 2).next_batch(5))
        .await
        .unwrap();
    sequencer.shutdown().await;
    let report = run_audit(&store).await;
    assert_eq!(report.problem, None);
    assert_eq!(report.version_1_entries, 20);
    rewrite_event(&db, 4, |event| event.replacen("urn:uuid:", "urn:uuid:0", 1)).await;
    assert_eq!(
        run_audit(&store).await.problem,
        None,
        "a version 1 record does not bind the eventID: the reason version 2 exists"
    );
}
