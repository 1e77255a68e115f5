//! Reading entries back from a real PostgreSQL: by leaf, by event hash (indexed or not yet), by
//! EPC, location and time through the lookup tables the indexer builds.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use epcis::document::Timestamp;
use ledger::LeafIndex;
use ledger::record::{Attestation, EventBinding};
use ledger_store::testing::{EventFactory, TestDatabase, change_event_sql, delete_event_sql};
use ledger_store::{Indexer, Lookup, ReadError, Reader, Sequencer, Writer, lookup_key};

#[tokio::test]
async fn the_sql_lookup_key_is_the_rust_one() {
    let db = TestDatabase::create().await.unwrap();
    let client = db.connect().await.unwrap();
    for id in ["urn:epc:id:sgtin:4012345.011111.1", "abc", "é ünïcode", ""] {
        let sql: i64 = client
            .query_one("SELECT tagtrail_lookup_key($1)", &[&id])
            .await
            .unwrap()
            .get(0);
        assert_eq!(sql, lookup_key(id), "{id:?}");
    }
}

#[tokio::test]
async fn entries_are_found_by_leaf_hash_epc_location_and_time() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(30)).await.unwrap();
    Indexer::new(&store).catch_up().await.unwrap();
    // Ten more, not indexed yet.
    sequencer.append(device.next_batch(10)).await.unwrap();
    sequencer.shutdown().await;

    // By leaf, with its batch.
    let entry = reader.entry(LeafIndex::from(12)).await.unwrap().unwrap();
    let (json, hash) = device.hashed_event(12);
    assert_eq!(&*entry.event, json.as_str());
    assert_eq!(entry.record.event_hash(), &hash);
    let Attestation::Device {
        statement, index, ..
    } = entry.record.attestation()
    else {
        panic!("a device-attested entry");
    };
    let batch = reader.device_batch(statement).await.unwrap().unwrap();
    assert_eq!(batch.statement.hash(), *statement);
    let path = ledger::batch::EventBatch::new(&batch.event_hashes)
        .unwrap()
        .path(*index)
        .unwrap();
    path.verify(&hash, &batch.statement).unwrap();
    assert_eq!(reader.entry(LeafIndex::from(40)).await.unwrap(), None);

    // By event hash: indexed, and in the tail the lookup tables do not cover yet.
    assert_eq!(
        reader.find_event(&hash).await.unwrap(),
        Some(LeafIndex::from(12))
    );
    let (_, newest) = device.hashed_event(35);
    assert_eq!(
        reader.find_event(&newest).await.unwrap(),
        Some(LeafIndex::from(35))
    );
    let (_, unknown) = EventFactory::new("elsewhere", 2).hashed_event(0);
    assert_eq!(reader.find_event(&unknown).await.unwrap(), None);

    // By a scan of the tail the lookups do not cover: the entries whose text names an EPC of
    // event 35, with their text (what tells a history what each one does); none outside the
    // range, none for an empty range.
    let tail = device.event(35);
    let epc = tail["epcList"][0].as_str().unwrap();
    assert_eq!(
        reader.scan_for(&[epc], 30..40).await.unwrap(),
        [LeafIndex::from(35)]
    );
    let scanned = reader.scan_texts_for(&[epc], 30..40).await.unwrap();
    assert_eq!(scanned, [(LeafIndex::from(35), device.hashed_event(35).0)]);
    assert!(
        reader
            .scan_texts_for(&[epc], 0..35)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        reader
            .scan_texts_for(&[epc], 35..35)
            .await
            .unwrap()
            .is_empty()
    );

    // By EPC: every EPC of event 7 leads to entry 7 (and only indexed entries are found).
    let event = device.event(7);
    for epc in event["epcList"].as_array().unwrap() {
        let found = reader
            .lookup(Lookup::Epc(epc.as_str().unwrap()))
            .await
            .unwrap();
        assert_eq!(found, [LeafIndex::from(7)]);
    }
    let event = device.event(33);
    let epc = event["epcList"][0].as_str().unwrap();
    assert!(
        reader.lookup(Lookup::Epc(epc)).await.unwrap().is_empty(),
        "not indexed yet"
    );

    // By location: the business location of every event, and one read point of every 20th.
    let everywhere = reader
        .lookup(Lookup::Location("urn:epc:id:sgln:4012345.00001.0"))
        .await
        .unwrap();
    assert_eq!(everywhere.len(), 30);
    let door_3 = reader
        .lookup(Lookup::Location("urn:epc:id:sgln:4012345.00001.3"))
        .await
        .unwrap();
    assert_eq!(door_3, [LeafIndex::from(3), LeafIndex::from(23)]);
    assert!(
        reader
            .lookup(Lookup::Parent("urn:epc:id:sscc:4012345.0000000001"))
            .await
            .unwrap()
            .is_empty()
    );

    // By time: the factory's events are 20 ms apart from 2023-11-14T22:13:20Z.
    let ranges = reader
        .leaf_ranges_by_time(
            Timestamp::parse("2023-11-14T22:13:20.100Z").unwrap(),
            Timestamp::parse("2023-11-14T22:13:20.200Z").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ranges, vec![0..30]);
    let later = reader
        .leaf_ranges_by_time(
            Timestamp::parse("2024-01-01T00:00:00Z").unwrap(),
            Timestamp::parse("2024-01-02T00:00:00Z").unwrap(),
        )
        .await
        .unwrap();
    assert!(later.is_empty());
}

#[tokio::test]
async fn many_entries_are_read_in_one_query_each_with_its_own_record() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    // Two devices whose ids differ in length: their records differ in length too.
    let mut short = EventFactory::new("dock-1", 1);
    let mut long = EventFactory::new("dock-door-number-2", 2);
    for _ in 0..3 {
        sequencer.append(short.next_batch(100)).await.unwrap();
        sequencer.append(long.next_batch(90)).await.unwrap();
    }
    sequencer.shutdown().await;
    let leaves: Vec<LeafIndex> = [0u32, 99, 100, 189, 190, 255, 256, 300, 569]
        .into_iter()
        .map(LeafIndex::from)
        .collect();
    let entries = reader.entries(&leaves).await.unwrap();
    assert_eq!(entries.len(), leaves.len());
    for (entry, leaf) in entries.iter().zip(&leaves) {
        assert_eq!(entry.leaf_index, *leaf);
        assert_eq!(entry.binding(), EventBinding::Exact, "entry {leaf}");
        assert_eq!(reader.entry(*leaf).await.unwrap().as_ref(), Some(entry));
    }
    // An event changed behind the log's back: its sliced record no longer binds it, so the
    // record is read from its whole row, and a reader that did not keep the entry sees the
    // difference (one that kept it answers what it read: finding changed rows is the audit's).
    let client = db.connect().await.unwrap();
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica; {}",
            change_event_sql(300, |event| format!(
                "replace({event}, 'in_transit', 'in_progress')"
            ))
        ))
        .await
        .unwrap();
    let kept = reader.entry(LeafIndex::from(300)).await.unwrap().unwrap();
    assert_eq!(kept, entries[7]);
    let changed = Reader::connect(db.url())
        .unwrap()
        .entry(LeafIndex::from(300))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(changed.binding(), EventBinding::Differs { .. }),
        "{:?}",
        changed.binding()
    );
    assert_eq!(changed.record, entries[7].record);
}

#[tokio::test]
async fn lookups_remembered_per_run_stay_right_when_runs_are_merged() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    // Small pages and a fan-in of 2: every step writes a run, and merges follow quickly.
    let indexer = Indexer::new(&store).with_runs(4, 2).with_batch(20);
    let epc_of = |n: u64| device.event(n)["epcList"][0].as_str().unwrap().to_owned();
    let (first, second) = (epc_of(5), epc_of(65));
    sequencer.append(device.next_batch(60)).await.unwrap();
    indexer.step(ledger_store::LockWait::Wait).await.unwrap();
    indexer.step(ledger_store::LockWait::Wait).await.unwrap();
    let asked = [Lookup::Epc(&first), Lookup::Epc(&second)];
    let before = reader.lookup_any(&asked).await.unwrap();
    assert!(before.contains(&LeafIndex::from(5u32)), "{before:?}");
    let counts = reader.lookup_cache_counts();
    // Asked again, nothing changed: every run's answer comes from memory.
    assert_eq!(reader.lookup_any(&asked).await.unwrap(), before);
    let again = reader.lookup_cache_counts();
    assert_eq!(again.misses, counts.misses);
    assert!(again.hits > counts.hits);
    // More entries, indexed and merged: the remembered runs are gone, their pairs moved.
    sequencer.append(device.next_batch(60)).await.unwrap();
    sequencer.shutdown().await;
    let client = db.connect().await.unwrap();
    let run_ids = || async {
        let rows = client
            .query("SELECT run_id FROM lookup_runs ORDER BY run_id", &[])
            .await
            .unwrap();
        rows.iter()
            .map(|row| row.get::<_, i64>(0))
            .collect::<Vec<_>>()
    };
    let remembered = run_ids().await;
    indexer.catch_up().await.unwrap();
    while indexer.merge_step().await.unwrap() > 0 {}
    let live = run_ids().await;
    assert!(
        remembered.iter().any(|run| !live.contains(run)),
        "runs {remembered:?} were not merged away (live: {live:?})"
    );
    let after = reader.lookup_any(&asked).await.unwrap();
    assert!(after.contains(&LeafIndex::from(5u32)), "{after:?}");
    assert!(after.contains(&LeafIndex::from(65u32)), "{after:?}");
    // The same answer as a reader that never remembered anything and has no filters.
    let fresh = Reader::connect(db.url())
        .unwrap()
        .with_lookup_filter_bytes(0);
    assert_eq!(fresh.lookup_any(&asked).await.unwrap(), after);
}

/// Looks up `asked` through `reader` until every live run has a filter (they are built in the
/// background), returning the last answer; the answer must not change while they are built.
async fn lookup_until_filtered(reader: &Reader, asked: &[Lookup<'_>]) -> Vec<LeafIndex> {
    let first = reader.lookup_any(asked).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let answer = reader.lookup_any(asked).await.unwrap();
        assert_eq!(answer, first, "a filter changed a lookup's answer");
        if reader.lookup_filter_status().unfiltered_runs == 0 {
            return answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run filters were not built: {:?}",
            reader.lookup_filter_status()
        );
        tokio::task::yield_now().await;
    }
}

/// What the filters of the live runs take: 10 bits per pair, in 64-bit words.
async fn filter_bytes_of_live_runs(client: &tokio_postgres::Client) -> u64 {
    let rows = client
        .query("SELECT pairs FROM lookup_runs", &[])
        .await
        .unwrap();
    rows.iter()
        .map(|row| (row.get::<_, i64>(0) as u64 * 10).div_ceil(64) * 8)
        .sum()
}

#[tokio::test]
async fn a_readers_run_filters_spare_probes_and_follow_merges() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    let indexer = Indexer::new(&store).with_runs(4, 2).with_batch(20);
    let epc_of = |n: u64| device.event(n)["epcList"][0].as_str().unwrap().to_owned();
    let (first, second, third) = (epc_of(5), epc_of(65), epc_of(25));
    sequencer.append(device.next_batch(60)).await.unwrap();
    indexer.step(ledger_store::LockWait::Wait).await.unwrap();
    indexer.step(ledger_store::LockWait::Wait).await.unwrap();
    let reader = reader_of(&db);
    let client = db.connect().await.unwrap();
    let asked = [Lookup::Epc(&first), Lookup::Epc(&second)];

    let before = lookup_until_filtered(&reader, &asked).await;
    assert!(before.contains(&LeafIndex::from(5u32)), "{before:?}");
    assert_eq!(
        reader.lookup_filter_status().bytes,
        filter_bytes_of_live_runs(&client).await
    );
    // A new item's lookup (the run cache knows nothing of it) asks only the runs that may hold
    // it: entry 25's EPC is in the second run alone.
    let spared = reader.lookup_filter_counts();
    let found = reader.lookup_any(&[Lookup::Epc(&third)]).await.unwrap();
    assert!(found.contains(&LeafIndex::from(25u32)), "{found:?}");
    let now = reader.lookup_filter_counts();
    assert!(now.hits > spared.hits, "{spared:?} then {now:?}");

    // More entries, indexed and merged: the filters of runs merged away are dropped, the new
    // runs get theirs, and the answers stay those of a store without filters.
    sequencer.append(device.next_batch(60)).await.unwrap();
    sequencer.shutdown().await;
    indexer.catch_up().await.unwrap();
    while indexer.merge_step().await.unwrap() > 0 {}
    let after = lookup_until_filtered(&reader, &asked).await;
    assert_eq!(after, reader.lookup_any(&asked).await.unwrap());
    assert!(after.contains(&LeafIndex::from(65u32)), "{after:?}");
    assert_eq!(
        reader.lookup_filter_status().bytes,
        filter_bytes_of_live_runs(&client).await
    );
    // Without filters, the same answers.
    let unfiltered = reader_of(&db).with_lookup_filter_bytes(0);
    assert_eq!(unfiltered.lookup_any(&asked).await.unwrap(), after);
    assert_eq!(unfiltered.lookup_filter_status().bytes, 0);
}

#[tokio::test]
async fn a_reader_keeps_entries_but_sees_declarations_made_later() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1).with_event_ids();
    sequencer.append(device.next_batch(20)).await.unwrap();
    let reader = reader_of(&db);
    let leaves: Vec<LeafIndex> = [3u32, 7, 11].into_iter().map(LeafIndex::from).collect();
    let first = reader.entries(&leaves).await.unwrap();
    assert!(first.iter().all(|entry| entry.declared_by.is_empty()));
    // Entry 7's event is declared erroneous after the reader read it.
    let declaring = declare(&sequencer, &mut device, 7).await;
    sequencer.shutdown().await;
    let second = reader.entries(&leaves).await.unwrap();
    assert_eq!(reader.entry_cache_counts().hits, 3);
    for (before, after) in first.iter().zip(&second) {
        assert_eq!(
            (&before.record, &before.event),
            (&after.record, &after.event)
        );
    }
    assert_eq!(second[1].declared_by, [declaring]);
    assert!(second[0].declared_by.is_empty() && second[2].declared_by.is_empty());
    // What it reads is what a reader that kept nothing reads.
    let fresh = reader_of(&db);
    assert_eq!(second, fresh.entries(&leaves).await.unwrap());
    assert_eq!(fresh.entry_cache_counts().hits, 0);
}

/// A reader's store on the test's database.
fn reader_of(db: &TestDatabase) -> Reader {
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    Reader::build(config, ledger_store::PoolSettings::default()).unwrap()
}

/// Appends an error declaration of `device`'s event `n`; returns the declaration's leaf.
async fn declare(sequencer: &Sequencer, device: &mut EventFactory, n: u64) -> LeafIndex {
    let declaration = device.declaration(
        n,
        serde_json::json!({
            "declarationTime": "2026-01-01T00:00:00Z",
            "reason": "urn:epcglobal:cbv:er:incorrect_data"
        }),
    );
    sequencer
        .append(device.batch_from(vec![declaration]))
        .await
        .unwrap()[0]
        .leaf_index
}

/// Runs `read` while another session holds `tables` locked against every reader: it must answer
/// without a query (a query would wait for the lock until the test's deadline).
async fn without_the_database<T>(
    db: &TestDatabase,
    tables: &str,
    read: impl std::future::Future<Output = T>,
) -> T {
    let mut locker = db.connect().await.unwrap();
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute(&format!("LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"))
        .await
        .unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("the read queried {tables}, held locked"));
    lock.rollback().await.unwrap();
    answer
}

#[tokio::test]
async fn a_reader_answers_what_it_knows_as_of_its_view_from_memory() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1).with_event_ids();
    let indexer = Indexer::new(&store).with_runs(4, 2).with_batch(20);
    let epc_of = |n: u64| device.event(n)["epcList"][0].as_str().unwrap().to_owned();
    let (first, second) = (epc_of(5), epc_of(65));
    sequencer.append(device.next_batch(60)).await.unwrap();
    indexer.step(ledger_store::LockWait::Wait).await.unwrap();
    indexer.step(ledger_store::LockWait::Wait).await.unwrap();
    let reader = reader_of(&db);
    let asked = [Lookup::Epc(&first), Lookup::Epc(&second)];

    let old = reader.reader_view().await.unwrap();
    assert_eq!(old.runs.end(), 40);
    let found = reader
        .lookup_any_within(&asked, Some(&old.runs))
        .await
        .unwrap();
    assert_eq!(found, [LeafIndex::from(5u32)]);
    let entries = reader
        .entries_as_of(&found, Some(old.declarations))
        .await
        .unwrap();
    assert!(entries[0].declared_by.is_empty());
    let entries = reader
        .entries_as_of(&found, Some(old.declarations))
        .await
        .unwrap();
    // Asked again as of the same view: the runs' answers and the entry with its declarations are
    // known, so neither needs the database.
    let (again, kept) = without_the_database(&db, "lookup_runs, error_declarations", async {
        let again = reader
            .lookup_any_within(&asked, Some(&old.runs))
            .await
            .unwrap();
        let kept = reader
            .entries_as_of(&again, Some(old.declarations))
            .await
            .unwrap();
        (again, kept)
    })
    .await;
    assert_eq!((again, &kept), (found.clone(), &entries));

    // Entry 5 is declared erroneous, more entries name the second EPC, and the runs are merged.
    let declaring = declare(&sequencer, &mut device, 5).await;
    sequencer.append(device.next_batch(20)).await.unwrap();
    sequencer.shutdown().await;
    indexer.catch_up().await.unwrap();
    while indexer.merge_step().await.unwrap() > 0 {}

    // The old view still answers for what its runs covered, from memory, though they are gone.
    let stale = without_the_database(
        &db,
        "lookup_runs",
        reader.lookup_any_within(&asked, Some(&old.runs)),
    )
    .await
    .unwrap();
    assert_eq!(stale, found);
    // A newer view sees the new entries and the declaration, as a store without caches does.
    let new = reader.reader_view().await.unwrap();
    assert!(new.declarations > old.declarations);
    assert_eq!(new.runs.end(), 81);
    let found = reader
        .lookup_any_within(&asked, Some(&new.runs))
        .await
        .unwrap();
    assert_eq!(found, reader.lookup_any(&asked).await.unwrap());
    // The declaration (leaf 60) names entry 5's EPC too; event 65 came after it, at leaf 66.
    assert_eq!(found, [5u32, 60, 66].map(LeafIndex::from));
    let entries = reader
        .entries_as_of(&found, Some(new.declarations))
        .await
        .unwrap();
    assert_eq!(entries[0].declared_by, [declaring]);
    assert_eq!(entries, reader.entries(&found).await.unwrap());
}

/// Who attested each entry, read from the leaf records alone, is what the entries themselves
/// say: for a row of one device's batch (its records sliced out), and for a row whose records
/// differ in length (sites with ids of different lengths, appended at once: the row is read
/// whole); a leaf the log does not hold has no answer, and leaves the reader keeps need no query.
#[tokio::test]
async fn attestations_are_read_from_the_records_alone() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(5)).await.unwrap();
    // One unattested batch from two sites, alternating: one bundle row, records of two lengths.
    let other = EventFactory::new("unused", 2);
    let mixed = (0..6)
        .map(|n| {
            let (event, hash) = other.hashed_event(n);
            let site = ["s", "a-much-longer-site"][n as usize % 2];
            let attestation = Attestation::Unattested {
                site: ledger::SiteId::parse(site).unwrap(),
            };
            let captured = ledger::UnixMillis::from_millis(1_700_000_000_000);
            ledger_store::NewEntry::recorded(event, hash, captured, attestation, None).unwrap()
        })
        .collect();
    sequencer
        .append(ledger_store::NewBatch::unattested(mixed).unwrap())
        .await
        .unwrap();
    sequencer.shutdown().await;
    // Rows whose records are not all as long as their first: the mixed one.
    let unequal: i64 = store
        .test_client()
        .await
        .unwrap()
        .query_one(
            "SELECT count(*) FROM entry_bundles WHERE octet_length(entries) <>
                 (width - first) * (get_byte(entries, 0) * 256 + get_byte(entries, 1) + 2)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unequal, 1);

    let leaves: Vec<LeafIndex> = (0..11).map(LeafIndex::from).collect();
    let (attested, bytes) = reader.attestations(&leaves).await.unwrap();
    assert!(bytes > 0);
    let expected: Vec<(LeafIndex, Attestation)> = reader
        .entries(&leaves)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| (entry.leaf_index, entry.record.attestation().clone()))
        .collect();
    assert_eq!(attested, expected);
    for (leaf, attestation) in &attested[5..11] {
        let Attestation::Unattested { site } = attestation else {
            panic!("leaf {leaf}: {attestation:?}");
        };
        let expected = ["s", "a-much-longer-site"][(leaf.get() as usize - 5) % 2];
        assert_eq!(site.to_string(), expected);
    }
    // Kept by the reader now (it read those entries): answered with no bytes read.
    let (again, bytes) = reader.attestations(&leaves[..11]).await.unwrap();
    assert_eq!(again, expected[..11]);
    assert_eq!(bytes, 0);

    // A record that does not decode is corruption, not an unknown reporter (a custodian's
    // events would be shared out of a history as anyone's): the first record of the device's
    // row (uniform, so first sliced, then read whole) gets a version byte no record has.
    // (Past the append-only trigger, as only someone with the database's keys could.)
    let client = store.test_client().await.unwrap();
    client
        .batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let changed = client
        .execute(
            "UPDATE entry_bundles SET entries = set_byte(entries, 2, 255)
             WHERE bundle_index = 0 AND first = 0",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let fresh = Reader::connect(db.url()).unwrap();
    let error = fresh.attestations(&leaves[..1]).await.unwrap_err();
    assert!(
        matches!(&error, ledger_store::ReadError::Corrupt { what: "leaf record", reason }
            if reason.starts_with("entry 0: ")),
        "{error:?}"
    );
    // The other rows' records still read.
    let (others, _) = fresh.attestations(&leaves[5..11]).await.unwrap();
    assert_eq!(others, expected[5..11]);
    // A leaf no row holds (past the log here; a lost row alike) is not an unknown reporter.
    let error = fresh
        .attestations(&[LeafIndex::from(11)])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ledger_store::ReadError::Corrupt { what: "leaf record", reason }
            if reason == "entry 11: no entry bundle row holds it"),
        "{error:?}"
    );
}

/// A scan reads the tail the lookups do not cover, and the tail must be whole: an entry the
/// store lost (its row deleted behind the ledger's back, which also stops the indexer there, so
/// that every later entry is found by scans alone) makes a scan over it an error, never an
/// answer that finds less, whether or not the lost entry named what was looked for; so is an
/// entry held twice, which could make up the count of a range with a lost one. A range past the
/// log's end is an error too. A loss outside the range scanned is not the scan's concern.
#[tokio::test]
async fn a_scan_over_a_lost_entry_is_an_error_not_a_shorter_answer() {
    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    sequencer.append(device.next_batch(10)).await.unwrap();
    sequencer.shutdown().await;
    let event = device.event(7);
    let epc = event["epcList"][0].as_str().unwrap();
    assert_eq!(
        reader.scan_for(&[epc], 0..10).await.unwrap(),
        [LeafIndex::from(7)]
    );
    let corrupt = |error: ReadError, wanted: &str| match error {
        ReadError::Corrupt { reason, .. } => assert!(reason.contains(wanted), "{reason}"),
        other => panic!("not corrupt: {other}"),
    };
    corrupt(
        reader.scan_for(&[epc], 0..11).await.unwrap_err(),
        "entries 0..11 are in the log's tree; the store holds 10 entries there, and not entry 10 \
         once",
    );

    let client = db.connect().await.unwrap();
    let tamper = |sql: &str| {
        let client = &client;
        let sql = format!("SET session_replication_role = replica; {sql}");
        async move { client.batch_execute(&sql).await.unwrap() }
    };
    tamper(&delete_event_sql(3)).await;
    corrupt(
        reader.scan_for(&[epc], 0..10).await.unwrap_err(),
        "the store holds 9 entries there, and not entry 3 once",
    );
    corrupt(
        reader.scan_texts_for(&[epc], 2..8).await.unwrap_err(),
        "entries 2..8 are in the log's tree; the store holds 5 entries there, and not entry 3 once",
    );
    assert_eq!(
        reader.scan_for(&[epc], 4..10).await.unwrap(),
        [LeafIndex::from(7)]
    );

    // A copy of entry 5 in a pack of its own makes the count whole again: the packs that hold a
    // range must meet end to end, neither leaving out an entry nor holding one twice.
    let copy_from_5 = |entries: u64| {
        format!(
            "INSERT INTO event_packs (first_leaf, event_hashes, events)
             SELECT 5, substring(event_hashes FROM 33 FOR 32 * {entries}), events[2:{}]
             FROM event_packs WHERE first_leaf = 4",
            entries + 1
        )
    };
    tamper(&copy_from_5(1)).await;
    corrupt(
        reader.scan_for(&[epc], 0..10).await.unwrap_err(),
        "the store holds 10 entries there, and not entry 3 once",
    );
    corrupt(
        reader.scan_for(&[epc], 4..10).await.unwrap_err(),
        "the store holds 7 entries there, and not entry 5 once",
    );
    // A copy reaching into the range from before it: the entry named is the range's own.
    tamper("DELETE FROM event_packs WHERE first_leaf = 5").await;
    tamper(&copy_from_5(2)).await;
    corrupt(
        reader.scan_for(&[epc], 6..10).await.unwrap_err(),
        "entries 6..10 are in the log's tree; the store holds 5 entries there, and not entry 6 once",
    );
    tamper("DELETE FROM event_packs WHERE first_leaf = 5").await;
    assert_eq!(
        reader.scan_for(&[epc], 4..10).await.unwrap(),
        [LeafIndex::from(7)]
    );

    tamper(&delete_event_sql(7)).await;
    corrupt(
        reader.scan_for(&[epc], 4..10).await.unwrap_err(),
        "the store holds 5 entries there, and not entry 7 once",
    );
    assert!(reader.scan_for(&[epc], 8..10).await.unwrap().is_empty());
}
