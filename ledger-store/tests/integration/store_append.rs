//! The sequencer against a real PostgreSQL: appends, duplicates, concurrent appenders, proofs read
//! from the stored tiles at many sizes, and signed, consistent checkpoints.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ledger::checkpoint::{Origin, TrustedLog};
use ledger::note::{KeyName, NoteSignerKey, NoteVerifiers};
use ledger::tree::MemoryTree;
use ledger::{LeafIndex, TreeSize};
use ledger_store::testing::{EventFactory, TestDatabase, stored_leaf_records};
use ledger_store::{
    AppendResult, Checkpointer, Declares, Indexer, NewBatch, Sequencer, SequencerConfig, Writer,
};

fn leaf_hashes(batch: &NewBatch) -> Vec<ledger::Hash> {
    batch
        .entries()
        .iter()
        .map(|e| e.record().leaf_hash())
        .collect()
}

/// Where each event of an append went: (leaf index, whether it was already in the log).
fn placed(results: &[AppendResult]) -> Vec<(u64, bool)> {
    results
        .iter()
        .map(|r| (r.leaf_index.get(), r.existing))
        .collect()
}

async fn count(store: &Writer, sql: &str) -> i64 {
    let client = store.test_client().await.unwrap();
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn appended_events_get_consecutive_leaves_and_a_duplicate_gets_the_existing_leaf() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);

    let first = sequencer.append(device.next_batch(10)).await.unwrap();
    let leaves: Vec<u64> = first.iter().map(|r| r.leaf_index.get()).collect();
    assert_eq!(leaves, (0..10).collect::<Vec<_>>());
    assert!(first.iter().all(|r| !r.existing));
    assert_eq!(store.tree_size().await.unwrap(), TreeSize::from(10));

    // Events 3 and 7 again, in a new batch with two new events and event 12 twice.
    let mixed = device.batch_of([3, 10, 7, 11, 10]);
    let results = sequencer.append(mixed).await.unwrap();
    let got = placed(&results);
    assert_eq!(
        got,
        [(3, true), (10, false), (7, true), (11, false), (10, true)]
    );
    assert_eq!(store.tree_size().await.unwrap(), TreeSize::from(12));

    // The very same batch again appends nothing.
    let again = sequencer.append(device.batch_of(0..10)).await.unwrap();
    assert!(again.iter().all(|r| r.existing));
    assert_eq!(store.tree_size().await.unwrap(), TreeSize::from(12));
    assert_eq!(count(&store, "SELECT count(*) FROM events").await, 12);
    assert_eq!(
        count(&store, "SELECT count(*) FROM device_batches").await,
        2
    );
    sequencer.shutdown().await;
}

#[tokio::test]
async fn small_and_large_groups_are_stored_byte_for_byte() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    // 10 entries go in with one INSERT; 3,000 (about 2 MB) with COPY, in several messages.
    let batches = [device.next_batch(10), device.next_batch(3_000)];
    let mut expected = Vec::new();
    for batch in &batches {
        for entry in batch.entries() {
            expected.push((
                entry.event_hash().as_bytes().to_vec(),
                entry.record().encode(),
                entry.event().to_owned(),
            ));
        }
    }
    for batch in batches {
        sequencer.append(batch).await.unwrap();
    }
    let client = store.test_client().await.unwrap();
    let rows = client
        .query(
            "SELECT leaf_index, event_hash, event FROM events ORDER BY leaf_index",
            &[],
        )
        .await
        .unwrap();
    let records = stored_leaf_records(&client).await;
    assert_eq!(rows.len(), expected.len());
    assert_eq!(records.len(), expected.len());
    for (leaf, (row, (hash, record, event))) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row.get::<_, i64>(0), i64::try_from(leaf).unwrap());
        assert_eq!(&row.get::<_, Vec<u8>>(1), hash, "event hash of leaf {leaf}");
        assert_eq!(&records[leaf], record, "leaf record of leaf {leaf}");
        assert_eq!(&row.get::<_, String>(2), event, "event of leaf {leaf}");
    }
    sequencer.shutdown().await;
}

/// The `n`-th event of `device` with a note of `pad` bytes, as stored, and its CBV 2.0 hash.
fn padded_event(device: &EventFactory, n: u64, pad: usize) -> (String, epcis::EventHash) {
    let mut event = device.event(n);
    event.insert(
        "example:note".to_owned(),
        serde_json::Value::String("n".repeat(pad)),
    );
    let hash = epcis::hash::event_hash(&event, &epcis::hash::HashContext::new()).unwrap();
    (serde_json::Value::Object(event).to_string(), hash)
}

#[tokio::test]
async fn events_of_every_size_are_packed_per_append_and_read_back_by_leaf() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = ledger_store::Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    // Events of about 0.6, 3, 7.6 and 40 KB: a pack takes several small ones, and an event too
    // large for any pack is a pack of its own (compressed or moved out of line by PostgreSQL).
    let pads = [0, 2_500, 7_000, 40_000];
    let mut events = Vec::new();
    // 100 entries go in with one INSERT, 400 with COPY.
    for (first, count) in [(0u64, 100u64), (100, 400)] {
        let batch: Vec<(String, epcis::EventHash)> = (first..first + count)
            .map(|n| {
                let pad = match n % 25 {
                    3 => pads[3],
                    11 => pads[2],
                    17 => pads[1],
                    _ => pads[0],
                };
                padded_event(&device, n, pad)
            })
            .collect();
        events.extend(batch.iter().map(|(event, _)| event.clone()));
        sequencer.append(device.batch_from(batch)).await.unwrap();
    }
    sequencer.shutdown().await;

    for (leaf, event) in events.iter().enumerate() {
        let entry = reader
            .entry(LeafIndex::new(leaf as u64).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&*entry.event, event.as_str(), "entry {leaf}");
    }
    assert!(
        reader
            .entry(LeafIndex::new(500).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let client = store.test_client().await.unwrap();
    let packs: Vec<(i64, i32, i32)> = client
        .query(
            "SELECT first_leaf, cardinality(events),
                    (SELECT sum(octet_length(e))::integer FROM unnest(events) e)
             FROM event_packs ORDER BY first_leaf",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    // Consecutive, and the second append starts a pack of its own.
    let mut next = 0;
    for &(first, count, bytes) in &packs {
        assert_eq!(first, next, "{packs:?}");
        next += i64::from(count);
        assert!(
            count == 1 || bytes + 36 * count <= 7_600,
            "pack at {first}: {count} events, {bytes} bytes"
        );
    }
    assert_eq!(next, 500);
    assert!(packs.iter().any(|&(first, ..)| first == 100), "{packs:?}");
    assert!(packs.iter().any(|&(_, count, _)| count > 5), "{packs:?}");
    assert_one_consistent_log(&store, 500).await;
}

#[tokio::test]
async fn a_duplicate_of_an_indexed_event_is_found_through_the_lookup_table() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let mut device = EventFactory::new("dock-door-1", 1);
    let sequencer = Sequencer::start(&store);
    sequencer.append(device.next_batch(50)).await.unwrap();
    sequencer.shutdown().await;
    Indexer::new(&store).catch_up().await.unwrap();
    assert_eq!(
        count(&store, "SELECT indexed_size FROM index_watermark").await,
        50
    );
    assert_eq!(
        count(
            &store,
            "SELECT sum(octet_length(pairs) / 24)::bigint FROM lookup_pages WHERE kind = 4"
        )
        .await,
        50
    );
    assert_eq!(
        count(
            &store,
            "SELECT sum(octet_length(pairs) / 24)::bigint FROM lookup_pages WHERE kind = 1"
        )
        .await,
        250
    );

    // A fresh sequencer knows only its filter, loaded from the runs: the duplicate's leaf must come
    // from the runs' event hash pages.
    let sequencer = Sequencer::start(&store);
    let results = sequencer.append(device.batch_of([42, 50])).await.unwrap();
    let got = placed(&results);
    assert_eq!(got, [(42, true), (50, false)]);
    sequencer.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_is_found_by_the_same_sequencer_after_the_indexer_overtakes_its_memory() {
    // Regression: the sequencer remembers its recent entries and asks the lookup table only about
    // the others; when the indexer caught up in between, the refresh dropped the remembered ones
    // and the duplicate was appended again.
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let mut device = EventFactory::new("dock-door-1", 1);
    let sequencer = Sequencer::start(&store);
    sequencer.append(device.next_batch(30)).await.unwrap();
    Indexer::new(&store).catch_up().await.unwrap();
    assert_eq!(
        count(&store, "SELECT indexed_size FROM index_watermark").await,
        30
    );

    let results = sequencer
        .append(device.batch_of([5, 29, 30]))
        .await
        .unwrap();
    let got = placed(&results);
    assert_eq!(got, [(5, true), (29, true), (30, false)]);
    let again = sequencer.append(device.batch_of(0..31)).await.unwrap();
    assert!(again.iter().all(|r| r.existing));
    assert_eq!(store.tree_size().await.unwrap(), TreeSize::from(31));
    assert_eq!(count(&store, "SELECT count(*) FROM events").await, 31);
    sequencer.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_of_what_another_process_appended_and_indexed_is_found() {
    let db = TestDatabase::create().await.unwrap();
    let store_a = Writer::connect(db.url()).unwrap();
    let store_b = Writer::connect(db.url()).unwrap();
    let a = Sequencer::start(&store_a);
    let mut device = EventFactory::new("dock-door-1", 1);
    a.append(device.batch_of(0..30)).await.unwrap();
    // Another process appends 30..40, and the runs cover everything before `a` appends again.
    let b = Sequencer::start(&store_b);
    b.append(device.batch_of(30..40)).await.unwrap();
    b.shutdown().await;
    Indexer::new(&store_b).catch_up().await.unwrap();
    let results = a.append(device.batch_of([35, 3, 40])).await.unwrap();
    let got = placed(&results);
    assert_eq!(got, [(35, true), (3, true), (40, false)]);

    // The runs are dropped to be rebuilt (they now end below the watermark): a fresh sequencer
    // still finds every duplicate, from the entries the runs do not cover.
    db.connect()
        .await
        .unwrap()
        .batch_execute("DELETE FROM lookup_pages; DELETE FROM lookup_runs")
        .await
        .unwrap();
    let c = Sequencer::start(&store_b);
    let results = c.append(device.batch_of([0, 39, 41])).await.unwrap();
    let got = placed(&results);
    assert_eq!(got, [(0, true), (39, true), (41, false)]);
    c.shutdown().await;
    a.shutdown().await;
    assert_eq!(count(&store_a, "SELECT count(*) FROM events").await, 42);
}

#[tokio::test]
async fn a_running_sequencer_finds_duplicates_it_forgot_while_the_runs_are_rebuilt() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    // Keep only the latest 5 entries in memory: older ones are found through the runs.
    let config = SequencerConfig {
        recent_keep: 5,
        ..SequencerConfig::default()
    };
    let sequencer = Sequencer::start_with(&store, config);
    let mut device = EventFactory::new("dock-door-1", 1);
    for first in (0..20).step_by(5) {
        sequencer
            .append(device.batch_of(first..first + 5))
            .await
            .unwrap();
        Indexer::new(&store).catch_up().await.unwrap();
    }
    let results = sequencer.append(device.batch_of([2])).await.unwrap();
    assert!(results[0].existing, "found through the runs");

    // The runs are deleted to be rebuilt: entry 2 is neither in them nor in memory any more.
    db.connect()
        .await
        .unwrap()
        .batch_execute("DELETE FROM lookup_pages; DELETE FROM lookup_runs")
        .await
        .unwrap();
    let results = sequencer.append(device.batch_of([2, 20])).await.unwrap();
    let got = placed(&results);
    assert_eq!(got, [(2, true), (20, false)]);
    sequencer.shutdown().await;
    assert_eq!(count(&store, "SELECT count(*) FROM events").await, 21);
}

/// A test database with two stores on it, each with its own sequencer: two appending processes.
async fn two_processes() -> (TestDatabase, (Writer, Sequencer), (Writer, Sequencer)) {
    let db = TestDatabase::create().await.unwrap();
    let store_a = Writer::connect(db.url()).unwrap();
    let store_b = Writer::connect(db.url()).unwrap();
    let (a, b) = (Sequencer::start(&store_a), Sequencer::start(&store_b));
    (db, (store_a, a), (store_b, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_appenders_on_separate_connections_keep_one_consistent_log() {
    let (_db, (store_a, a), (_store_b, b)) = two_processes().await;
    // Both report the same physical events 0..6000 (two readers at one door) and some of their
    // own; each sends two batches at a time, so that each also writes groups on top of its own
    // committing ones while the other waits its turn.
    let task_a = tokio::spawn(async move {
        let mut shared = EventFactory::new("door", 1);
        let mut own = EventFactory::new("reader-a", 2);
        for round in 0..20u64 {
            let (door, mine) = tokio::join!(
                a.append(shared.batch_of(round * 300..round * 300 + 300)),
                a.append(own.next_batch(7)),
            );
            door.unwrap();
            mine.unwrap();
        }
        a.shutdown().await;
    });
    let task_b = tokio::spawn(async move {
        let mut shared = EventFactory::new("door", 1);
        let mut own = EventFactory::new("reader-b", 3);
        for round in (0..20u64).rev() {
            let (door, mine) = tokio::join!(
                b.append(shared.batch_of(round * 300..round * 300 + 300)),
                b.append(own.next_batch(5)),
            );
            door.unwrap();
            mine.unwrap();
        }
        b.shutdown().await;
    });
    task_a.await.unwrap();
    task_b.await.unwrap();

    assert_one_consistent_log(&store_a, 6000 + 20 * 7 + 20 * 5).await;
}

/// Checks that the log holds exactly `distinct` entries at leaves `0..distinct`, one per event hash,
/// that its stored tiles give the root of its stored leaf records, and that it audits clean.
async fn assert_one_consistent_log(store: &Writer, distinct: u64) {
    assert_eq!(
        store.tree_size().await.unwrap(),
        TreeSize::new(distinct).unwrap()
    );
    assert_eq!(
        count(store, "SELECT count(DISTINCT event_hash) FROM events").await,
        i64::try_from(distinct).unwrap()
    );
    let client = store.test_client().await.unwrap();
    let records = stored_leaf_records(&client).await;
    let tree = MemoryTree::from_leaf_hashes(records.iter().map(|record| ledger::leaf_hash(record)))
        .unwrap();
    assert_eq!(store.root_hash(tree.size()).await.unwrap(), tree.root());
    let report = ledger_store::audit(
        store,
        ledger_store::AuditOptions::default(),
        registry::device_keys_in,
        Arc::new(ledger_store::NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(report.entries, distinct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_groups_written_on_top_of_committing_ones_and_one_consistent_log() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    // Eight callers, each sending five batches of 300 events of one door (overlapping the next
    // caller's by 100, so that duplicates meet in groups in flight together) and one small batch
    // of its own reader.
    let callers: Vec<_> = (0..8u64)
        .map(|caller| {
            let sequencer = sequencer.clone();
            tokio::spawn(async move {
                let mut door = EventFactory::new("door", 1);
                let mut own = EventFactory::new(&format!("reader-{caller}"), 2);
                let mut answers = Vec::new();
                for round in 0..5u64 {
                    let first = (round * 8 + caller) * 200;
                    let numbers: Vec<u64> = (first..first + 300).collect();
                    let results = sequencer
                        .append(door.batch_of(numbers.clone()))
                        .await
                        .unwrap();
                    answers.extend(numbers.into_iter().zip(placed(&results)));
                    let small = own.next_batch(20);
                    let results = sequencer.append(small).await.unwrap();
                    assert!(results.iter().all(|r| !r.existing));
                }
                answers
            })
        })
        .collect();
    let mut door_leaves = std::collections::HashMap::new();
    let mut new_answers = 0;
    for caller in callers {
        for (number, (leaf, existing)) in caller.await.unwrap() {
            // Every answer for one event names the same leaf; exactly one of them appended it.
            assert_eq!(
                *door_leaves.entry(number).or_insert(leaf),
                leaf,
                "event {number}"
            );
            new_answers += u64::from(!existing);
        }
    }
    let door_events = 8 * 5 * 200 + 100;
    assert_eq!(door_leaves.len() as u64, door_events);
    assert_eq!(new_answers, door_events);

    let stats = sequencer.stats();
    sequencer.shutdown().await;
    assert_one_consistent_log(&store, door_events + 8 * 5 * 20).await;
    assert!(
        stats.on_top > 0,
        "no group was written on top of a committing one: {stats:?}"
    );
    assert_eq!(stats.requeued, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_busy_chaining_groups_does_not_starve_another_process() {
    let (_db, (store_a, a), (_store_b, b)) = two_processes().await;
    // Process A: sixteen callers that keep 9,600 entries in flight until told to stop, so that its
    // chain of groups seldom runs dry on its own.
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..16)
        .map(|caller| {
            let (a, stop) = (a.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut reader = EventFactory::new(&format!("reader-a{caller}"), 2);
                let mut appended = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    a.append(reader.next_batch(600)).await.unwrap();
                    appended += 600;
                }
                appended
            })
        })
        .collect();
    for _ in 0..2000 {
        if a.stats().on_top > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(a.stats().on_top > 0, "process A never chained groups");

    // Process B gets its turn while A is still busy. This is a liveness check only: B gets in
    // when A sees it waiting for the turn lock, or else when A's backlog runs dry between two
    // groups (with the hand-over disabled that took B 6 to 22 s here instead of about 1 s, and
    // the test still passes). The hand-over itself is checked deterministically by
    // `a_chain_hands_the_turn_to_a_waiting_process_before_its_next_group`.
    let mut door = EventFactory::new("door-b", 3);
    let results = tokio::time::timeout(Duration::from_secs(60), b.append(door.next_batch(50)))
        .await
        .expect("process B never got its turn")
        .unwrap();
    assert!(results.iter().all(|r| !r.existing));
    stop.store(true, Ordering::Relaxed);
    let mut appended = 0;
    for caller in callers {
        appended += caller.await.unwrap();
    }
    a.shutdown().await;
    b.shutdown().await;
    assert_one_consistent_log(&store_a, appended + 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_hands_the_turn_to_a_waiting_process_before_its_next_group() {
    let (db, (store_a, a), (_store_b, b)) = two_processes().await;
    let admin = db.connect().await.unwrap();
    let watcher = db.connect().await.unwrap();
    let mut door = EventFactory::new("door", 1);
    let first = door.batch_of(0..300);

    // Hold up the commit of A's first group (see the test below), so that A's chain stays open.
    admin.batch_execute("BEGIN").await.unwrap();
    admin
        .execute(
            "INSERT INTO device_batches VALUES ($1, '\\x00', 'ed25519', '\\x00', '', 0)",
            &[&first
                .signed()
                .unwrap()
                .statement()
                .hash()
                .as_bytes()
                .as_slice()],
        )
        .await
        .unwrap();
    let spawn_append = |sequencer: &Sequencer, batch: NewBatch| {
        let sequencer = sequencer.clone();
        tokio::spawn(async move { sequencer.append(batch).await.unwrap() })
    };
    let a1 = spawn_append(&a, first);
    wait_for_append_lock_holder(&admin).await;
    // Process B asks for its turn while A's chain holds it.
    let b1 = spawn_append(&b, EventFactory::new("door-b", 3).next_batch(50));
    wait_for_turn_waiter(&watcher).await;
    // A's second group goes on top of its first, and sees B waiting.
    let a2 = spawn_append(&a, door.batch_of(300..1400));
    wait_for_idle_writer(&watcher).await;
    // A's third group would go on top too; instead A lets its chain finish and B go first. Wait
    // until A has decided so (with the hand-over gone, this never happens and the test fails).
    let a3 = spawn_append(&a, door.batch_of(1400..2500));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while a.stats().handed_over == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "A never handed the turn over"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    admin.batch_execute("ROLLBACK").await.unwrap();

    let leaves = |results: Vec<AppendResult>| -> Vec<u64> {
        results.iter().map(|r| r.leaf_index.get()).collect()
    };
    assert_eq!(leaves(a1.await.unwrap()), (0..300).collect::<Vec<_>>());
    assert_eq!(leaves(a2.await.unwrap()), (300..1400).collect::<Vec<_>>());
    assert_eq!(leaves(b1.await.unwrap()), (1400..1450).collect::<Vec<_>>());
    assert_eq!(leaves(a3.await.unwrap()), (1450..2550).collect::<Vec<_>>());
    a.shutdown().await;
    b.shutdown().await;
    assert_one_consistent_log(&store_a, 2550).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_written_on_top_of_one_that_fails_is_rolled_back_and_appended_again() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let admin = db.connect().await.unwrap();
    let mut door = EventFactory::new("door", 1);
    // `b` is large enough to go on top of a committing group on its own.
    let a = door.batch_of(0..300);
    let b = door.batch_of(300..1400);

    // Hold up the commit of `a`'s group: an uncommitted row with its batch statement's key makes
    // its `INSERT ... ON CONFLICT` wait for this transaction.
    let a_statement = a.signed().unwrap().statement().hash();
    admin.batch_execute("BEGIN").await.unwrap();
    admin
        .execute(
            "INSERT INTO device_batches VALUES ($1, '\\x00', 'ed25519', '\\x00', '', 0)",
            &[&a_statement.as_bytes().as_slice()],
        )
        .await
        .unwrap();
    let first = tokio::spawn({
        let sequencer = sequencer.clone();
        async move { sequencer.append(a).await }
    });
    let holder = wait_for_append_lock_holder(&admin).await;
    let second = tokio::spawn({
        let sequencer = sequencer.clone();
        async move { sequencer.append(b).await }
    });
    // `b`'s group is written on top of `a`'s, and waits for it to commit before it commits.
    // (Watched from another connection: a transaction sees `pg_stat_activity` as it first read it.)
    wait_for_idle_writer(&db.connect().await.unwrap()).await;

    // `a`'s group dies before it commits.
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&holder])
        .await
        .unwrap();
    admin.batch_execute("ROLLBACK").await.unwrap();
    assert!(first.await.unwrap().is_err());

    // `b`'s group rolled back and was appended again, where the log really ends.
    let results = second.await.unwrap().unwrap();
    assert_eq!(
        placed(&results),
        (0..1100).map(|leaf| (leaf, false)).collect::<Vec<_>>()
    );
    // The caller of `a` retries.
    let retried = sequencer.append(door.batch_of(0..300)).await.unwrap();
    assert_eq!(
        placed(&retried),
        (1100..1400).map(|leaf| (leaf, false)).collect::<Vec<_>>()
    );
    let stats = sequencer.stats();
    sequencer.shutdown().await;
    assert_eq!(stats.requeued, 1);
    assert_one_consistent_log(&store, 1400).await;
}

/// Waits until a backend of this database sits in a transaction after its last statements (which
/// end with a look at where the lookup runs end): a group written on top of another, waiting for
/// that one's outcome.
async fn wait_for_idle_writer(admin: &tokio_postgres::Client) {
    for _ in 0..1000 {
        let waiting: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND state = 'idle in transaction'
                   AND query LIKE '%FROM lookup_runs%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no group was written on top of the one held up");
}

/// Waits until some backend of this database waits for the sequencers' turn lock.
async fn wait_for_turn_waiter(watcher: &tokio_postgres::Client) {
    for _ in 0..1000 {
        let waiting: bool = watcher
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks
                 WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
                   AND classid = (x'74616774'::bigint)::oid AND objid = (x'72610006'::bigint)::oid
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nobody came to wait for the turn lock");
}

/// Waits until some backend of this database holds the sequencer's append lock, and returns its
/// process id.
async fn wait_for_append_lock_holder(admin: &tokio_postgres::Client) -> i32 {
    for _ in 0..1000 {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_locks
                 WHERE locktype = 'advisory' AND granted AND objsubid = 1
                   AND classid = (x'74616774'::bigint)::oid AND objid = (x'72610001'::bigint)::oid
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nobody took the append lock");
}

#[tokio::test]
async fn proofs_read_from_the_stored_tiles_verify_at_sizes_around_tile_edges() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    let mut tree = MemoryTree::new();
    let mut sizes_seen: Vec<TreeSize> = Vec::new();

    // Grow to exactly these sizes, checking proofs at each.
    for target in [1u64, 255, 256, 257, 511, 1000, 65_536, 65_537] {
        while tree.size().get() < target {
            let step = (target - tree.size().get()).min(5_000);
            let batch = device.next_batch(usize::try_from(step).unwrap());
            for hash in leaf_hashes(&batch) {
                tree.push_leaf_hash(hash).unwrap();
            }
            sequencer.append(batch).await.unwrap();
        }
        let size = tree.size();
        assert_eq!(store.tree_size().await.unwrap(), size);
        assert_eq!(
            store.root_hash(size).await.unwrap(),
            tree.root(),
            "root at {size}"
        );
        let root = tree.root();
        for leaf in [
            0,
            size.get() / 2,
            size.get() - 1,
            size.get().saturating_sub(256),
        ] {
            let index = LeafIndex::new(leaf).unwrap();
            let proof = store.inclusion_proof(index, size).await.unwrap();
            let leaf_hash = tree.node(ledger::tree::NodeId::leaf(index)).unwrap();
            proof
                .verify(&leaf_hash, &root)
                .unwrap_or_else(|e| panic!("inclusion of {leaf} at {size}: {e}"));
        }
        for &old in &sizes_seen {
            let proof = store.consistency_proof(old, size).await.unwrap();
            proof
                .verify(&tree.root_at(old).unwrap(), &root)
                .unwrap_or_else(|e| panic!("consistency {old} -> {size}: {e}"));
        }
        sizes_seen.push(size);
    }
    // Proofs at a size between two appends (a partial tile never stored at that width).
    let size = TreeSize::from(300);
    let proof = store
        .inclusion_proof(LeafIndex::from(299), size)
        .await
        .unwrap();
    let leaf = tree
        .node(ledger::tree::NodeId::leaf(LeafIndex::from(299)))
        .unwrap();
    proof.verify(&leaf, &tree.root_at(size).unwrap()).unwrap();
    // Nothing beyond the tree.
    assert!(
        store
            .inclusion_proof(LeafIndex::from(0), TreeSize::from(65_538))
            .await
            .is_err()
    );
    sequencer.shutdown().await;
}

#[tokio::test]
async fn checkpoints_are_signed_verifiable_and_consistent_with_the_previous_one() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let origin = Origin::parse("tagtrail.test/log").unwrap();
    let signer = NoteSignerKey::from_seed(KeyName::parse("tagtrail.test/log").unwrap(), &[9; 32]);
    let trusted = TrustedLog::new(
        origin.clone(),
        NoteVerifiers::new(vec![signer.verifier_key()]).unwrap(),
    );
    let checkpointer = Checkpointer::new(&store, origin, Arc::new(signer));
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);

    assert_eq!(
        checkpointer.sign_latest().await.unwrap(),
        None,
        "nothing to sign yet"
    );
    let mut previous = None;
    for batch in [3usize, 300, 1] {
        sequencer.append(device.next_batch(batch)).await.unwrap();
        let stored = checkpointer
            .sign_latest()
            .await
            .unwrap()
            .expect("a new checkpoint");
        let verified = trusted.open_checkpoint(&stored.note).unwrap();
        assert_eq!(verified.checkpoint().size(), stored.size);
        assert_eq!(verified.checkpoint().root(), &stored.root);
        assert_eq!(store.root_hash(stored.size).await.unwrap(), stored.root);
        if let Some(old) = previous.replace(stored.clone()) {
            let old: ledger_store::StoredCheckpoint = old;
            store
                .consistency_proof(old.size, stored.size)
                .await
                .unwrap()
                .verify(&old.root, &stored.root)
                .unwrap();
        }
        assert_eq!(
            checkpointer.sign_latest().await.unwrap(),
            None,
            "no growth, no checkpoint"
        );
    }
    let latest = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(latest.size, TreeSize::from(304));
    assert_eq!(count(&store, "SELECT count(*) FROM checkpoints").await, 3);
    assert_eq!(count(&store, "SELECT count(*) FROM signing_keys").await, 1);
    sequencer.shutdown().await;
}

#[tokio::test]
async fn the_background_signer_covers_new_entries_and_signs_on_shutdown() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let origin = Origin::parse("tagtrail.test/log").unwrap();
    let signer = NoteSignerKey::from_seed(KeyName::parse("tagtrail.test/log").unwrap(), &[9; 32]);
    let background = Checkpointer::new(&store, origin, Arc::new(signer))
        .with_interval(Duration::from_millis(50))
        .spawn();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(20)).await.unwrap();
    background.shutdown().await;
    let latest = store.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(latest.size, TreeSize::from(20));
    sequencer.shutdown().await;
}

fn reason(text: &str) -> serde_json::Value {
    serde_json::json!({"declarationTime": "2024-02-01T10:00:00Z", "reason": text})
}

#[tokio::test]
async fn an_error_declaration_is_its_own_entry_linked_to_the_event_it_declares() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = ledger_store::Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(10)).await.unwrap();

    // Event 3 declared erroneous: the CBV hash is event 3's, yet it is appended, not a duplicate.
    let (declaration, hash) = device.declaration(3, reason("incorrect_data"));
    assert_eq!(
        hash,
        device.hashed_event(3).1,
        "the hash leaves the declaration out"
    );
    let first = sequencer
        .append(device.batch_from(vec![(declaration.clone(), hash)]))
        .await
        .unwrap();
    assert_eq!(placed(&first), [(10, false)]);
    assert_eq!(
        first[0].declares,
        Some(Declares::Entry(LeafIndex::new(3).unwrap()))
    );

    // The same declaration again (a retry) is a duplicate of entry 10, still declaring entry 3;
    // so is the same declaration with its members in another order.
    let again = sequencer
        .append(device.batch_from(vec![(declaration, hash)]))
        .await
        .unwrap();
    assert_eq!(placed(&again), [(10, true)]);
    assert_eq!(
        again[0].declares,
        Some(Declares::Entry(LeafIndex::new(3).unwrap()))
    );
    let reordered =
        serde_json::json!({"reason": "incorrect_data", "declarationTime": "2024-02-01T10:00:00Z"});
    let reordered = sequencer
        .append(device.batch_from(vec![device.declaration(3, reordered)]))
        .await
        .unwrap();
    assert_eq!(placed(&reordered), [(10, true)]);

    // Another declaration of the same event (another reason) is another entry.
    let other = sequencer
        .append(device.batch_from(vec![device.declaration(3, reason("did_not_occur"))]))
        .await
        .unwrap();
    assert_eq!(placed(&other), [(11, false)]);
    assert_eq!(
        other[0].declares,
        Some(Declares::Entry(LeafIndex::new(3).unwrap()))
    );

    // Resending the original event is still a duplicate of entry 3, never of a declaration.
    let original = sequencer.append(device.batch_of([3])).await.unwrap();
    assert_eq!(placed(&original), [(3, true)]);
    assert_eq!(original[0].declares, None);

    // Reading shows the links both ways; the lookup by hash finds the event itself.
    let declared = reader
        .entry(LeafIndex::new(3).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        declared.declared_by,
        [LeafIndex::new(10).unwrap(), LeafIndex::new(11).unwrap()]
    );
    assert_eq!(declared.declares, None);
    let declaring = reader
        .entry(LeafIndex::new(10).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        declaring.declares,
        Some(Declares::Entry(LeafIndex::new(3).unwrap()))
    );
    assert!(declaring.event.contains("\"errorDeclaration\""));
    assert_eq!(declaring.binding(), ledger::record::EventBinding::Exact);
    assert_eq!(
        reader.find_event(&hash).await.unwrap(),
        LeafIndex::new(3).ok()
    );
    let summaries = store
        .entry_summaries(&[LeafIndex::new(10).unwrap()])
        .await
        .unwrap();
    let summary = &summaries[&LeafIndex::new(10).unwrap()];
    assert_eq!(summary.event_hash, hash);
    assert_eq!(
        summary.declares,
        Some(Declares::Entry(LeafIndex::new(3).unwrap()))
    );
    sequencer.shutdown().await;
}

#[tokio::test]
async fn a_declaration_of_an_event_the_log_does_not_hold_is_kept_and_found_once_the_event_comes() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = ledger_store::Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(5)).await.unwrap();
    // Event 40 was never captured: its declaration is appended, declaring an unheld event.
    let early = sequencer
        .append(device.batch_from(vec![device.declaration(40, reason("incorrect_data"))]))
        .await
        .unwrap();
    assert_eq!(placed(&early), [(5, false)]);
    assert_eq!(early[0].declares, Some(Declares::Unheld));
    let again = sequencer
        .append(device.batch_from(vec![device.declaration(40, reason("incorrect_data"))]))
        .await
        .unwrap();
    assert_eq!(placed(&again), [(5, true)]);
    assert_eq!(again[0].declares, Some(Declares::Unheld));
    // The event itself comes later: a new entry (not a duplicate of its declaration), and reading
    // it shows the declaration that came first.
    let event = sequencer.append(device.batch_of([40])).await.unwrap();
    assert_eq!(placed(&event), [(6, false)]);
    // A retry of the declaration still answers what it declared when it was appended.
    let retry = sequencer
        .append(device.batch_from(vec![device.declaration(40, reason("incorrect_data"))]))
        .await
        .unwrap();
    assert_eq!(placed(&retry), [(5, true)]);
    assert_eq!(retry[0].declares, Some(Declares::Unheld));
    let stored = reader
        .entry(LeafIndex::new(6).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.declared_by, [LeafIndex::new(5).unwrap()]);
    let declaration = reader
        .entry(LeafIndex::new(5).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(declaration.declares, Some(Declares::Unheld));
    assert!(declaration.declared_by.is_empty());
    // An event and its declaration in one batch: the event first, then the declaration of it.
    let both = device.batch_from(vec![
        device.hashed_event(41),
        device.declaration(41, reason("incorrect_data")),
    ]);
    let placed_both = sequencer.append(both).await.unwrap();
    assert_eq!(placed(&placed_both), [(7, false), (8, false)]);
    assert_eq!(
        placed_both[1].declares,
        Some(Declares::Entry(LeafIndex::new(7).unwrap()))
    );
    sequencer.shutdown().await;
}
