//! The verifiable index in a real PostgreSQL: the indexer writes and merges its runs, the reader
//! proves keys complete, the runs are what a monitor recomputes from the entries, a log indexed
//! before the index existed gets its runs built, and a changed page fails the proof.

use std::collections::BTreeMap;

use ledger::index::{IndexKey, KeyKind, KeyProofError, KeyRange, MemoryRun, keys_of_json};
use ledger_store::testing::{EventFactory, TestDatabase};
use ledger_store::{Indexer, ProveKeyError, ReadError, Reader, Sequencer, Writer};

/// Appends `count` events of one device, indexed in steps of 7 entries with runs merged two at a
/// time and small lookup pages; gives the events' texts.
async fn indexed_log(db: &TestDatabase, count: u64) -> Vec<String> {
    let store = Writer::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    let indexer = Indexer::new(&store).with_batch(7).with_runs(16, 2);
    let mut appended = 0;
    while appended < count {
        let batch = (count - appended).min(20);
        sequencer
            .append(device.next_batch(usize::try_from(batch).unwrap()))
            .await
            .unwrap();
        appended += batch;
        indexer.catch_up().await.unwrap();
    }
    sequencer.shutdown().await;
    (0..count).map(|n| device.hashed_event(n).0).collect()
}

/// Every key of the events and the entries that have it.
fn keys_by_entry(events: &[String]) -> (Vec<Vec<IndexKey>>, BTreeMap<IndexKey, Vec<u64>>) {
    let keys: Vec<Vec<IndexKey>> = events
        .iter()
        .map(|event| keys_of_json(event).unwrap())
        .collect();
    let mut leaves: BTreeMap<IndexKey, Vec<u64>> = BTreeMap::new();
    for (leaf, keys) in keys.iter().enumerate() {
        for key in keys {
            leaves.entry(*key).or_default().push(leaf as u64);
        }
    }
    (keys, leaves)
}

#[tokio::test]
async fn every_key_is_proven_complete_and_every_run_is_what_its_entries_give() {
    let db = TestDatabase::create().await.unwrap();
    let events = indexed_log(&db, 100).await;
    let (keys, leaves) = keys_by_entry(&events);
    let reader = Reader::connect(db.url()).unwrap();

    let absent = IndexKey::epc("urn:epc:id:sgtin:4012345.011111.999999999999999");
    let (head, proof) = reader.prove_key_live(KeyRange::all(absent)).await.unwrap();
    assert_eq!(head.size().get(), 100);
    assert!(
        head.runs().len() > 1,
        "merged runs of several levels: {head:?}"
    );
    assert!(
        head.runs().len() < 100 / 7,
        "runs were merged: {}",
        head.runs().len()
    );
    assert_eq!(proof.verify(&head).unwrap(), Vec::<u64>::new());

    // What a monitor does: recompute each run from its entries' events.
    for run in head.runs() {
        let entries = &keys[run.first as usize..run.end as usize];
        assert_eq!(MemoryRun::of_entries(run.first, entries).head(), *run);
    }

    // Every EPC of a few events, their places on their days, their class: complete lists.
    let mut asked = 0;
    for (key, expected) in &leaves {
        let sampled = match key.kind() {
            KeyKind::Epc => expected.iter().any(|leaf| leaf % 9 == 0),
            _ => true,
        };
        if !sampled {
            continue;
        }
        let (head, proof) = reader.prove_key_live(KeyRange::all(*key)).await.unwrap();
        assert_eq!(proof.verify(&head).unwrap(), *expected, "{key}");
        assert_eq!(
            ledger::index::KeyProof::decode(&proof.encode()).unwrap(),
            proof
        );
        asked += 1;
    }
    assert!(asked > 30, "{asked} keys asked");
    let place_days: Vec<&IndexKey> = leaves
        .keys()
        .filter(|key| key.kind() == KeyKind::LocationDay)
        .collect();
    assert!(!place_days.is_empty());

    // A range of leaf indices of the busiest key.
    let (busiest, all) = leaves
        .iter()
        .max_by_key(|(_, leaves)| leaves.len())
        .unwrap();
    assert!(all.len() > 50, "{} entries of {busiest}", all.len());
    let range = KeyRange {
        key: *busiest,
        from: 30,
        to: 61,
    };
    let (head, proof) = reader.prove_key_live(range).await.unwrap();
    let within: Vec<u64> = all
        .iter()
        .copied()
        .filter(|leaf| (30..61).contains(leaf))
        .collect();
    assert_eq!(proof.verify(&head).unwrap(), within);
}

#[tokio::test]
async fn a_log_indexed_before_the_index_existed_gets_its_runs() {
    let db = TestDatabase::create().await.unwrap();
    let events = indexed_log(&db, 40).await;
    let (_, leaves) = keys_by_entry(&events);
    let client = db.connect().await.unwrap();
    client
        .batch_execute("DELETE FROM index_runs; DELETE FROM index_pages; DELETE FROM index_nodes;")
        .await
        .unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = Reader::connect(db.url()).unwrap();
    let (head, _) = reader
        .prove_key_live(KeyRange::all(IndexKey::epc("urn:epc:id:sgtin:1.1.1")))
        .await
        .unwrap();
    assert_eq!(head.size().get(), 0, "no runs: an empty index");
    Indexer::new(&store).with_batch(7).catch_up().await.unwrap();
    for (key, expected) in leaves.iter().take(40) {
        let (head, proof) = reader.prove_key_live(KeyRange::all(*key)).await.unwrap();
        assert_eq!(head.size().get(), 40);
        assert_eq!(proof.verify(&head).unwrap(), *expected, "{key}");
    }
}

#[tokio::test]
async fn a_page_with_a_pair_taken_out_fails_the_proof_of_its_key() {
    let db = TestDatabase::create().await.unwrap();
    let events = indexed_log(&db, 30).await;
    let (_, leaves) = keys_by_entry(&events);
    let (key, expected) = leaves
        .iter()
        .find(|(key, leaves)| key.kind() == KeyKind::Epc && leaves.len() == 1)
        .unwrap();
    let pair = ledger::index::Pair::new(*key, expected[0]).to_bytes();
    // Cut the key's pair out of the page that holds it, behind the service's back.
    let client = db.connect().await.unwrap();
    let changed = client
        .execute(
            "UPDATE index_pages SET pairs = overlay(pairs PLACING ''::bytea
                 FROM position($1::bytea IN pairs) FOR 17)
             WHERE position($1::bytea IN pairs) > 0",
            &[&pair.as_slice()],
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let reader = Reader::connect(db.url()).unwrap();
    // The store either finds its page short of the pairs its run counts, or proves from it a part
    // whose chunks no longer give the run's root: never a complete list without the entry.
    match reader.prove_key_live(KeyRange::all(*key)).await {
        Err(ProveKeyError::Read(ReadError::Corrupt { .. })) => {}
        Ok((head, proof)) => assert!(
            matches!(proof.verify(&head), Err(KeyProofError::Run { .. })),
            "{:?}",
            proof.verify(&head)
        ),
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn the_index_audit_recomputes_every_run_and_names_the_first_row_that_does_not_hold() {
    let db = TestDatabase::create().await.unwrap();
    let events = indexed_log(&db, 60).await;
    let (keys, _) = keys_by_entry(&events);
    let store = Writer::connect(db.url()).unwrap();
    let indexer = Indexer::new(&store);
    let audit = indexer.audit_index().await.unwrap();
    assert_eq!(audit.problem, None);
    assert_eq!(audit.entries, 60);
    assert!(audit.runs > 1);
    assert_eq!(
        audit.pairs,
        keys.iter().map(|keys| keys.len() as u64).sum::<u64>()
    );

    let client = db.connect().await.unwrap();
    let (first_run, first, end): (i64, i64, i64) = {
        let row = client
            .query_one(
                "SELECT run_id, first_leaf, end_leaf FROM index_runs ORDER BY first_leaf LIMIT 1",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    let expect = |audit: ledger_store::IndexAudit, what: &str| {
        let problem = audit
            .problem
            .unwrap_or_else(|| panic!("{what}: no problem found"));
        assert_eq!(
            (problem.first, problem.end),
            (first as u64, end as u64),
            "{what}"
        );
        problem.reason
    };

    // A node changed behind the service's back.
    client
        .execute(
            "UPDATE index_nodes SET hash = sha256(hash) WHERE run_id = $1 AND level = 5 AND idx = 0",
            &[&first_run],
        )
        .await
        .unwrap();
    assert!(matches!(
        expect(indexer.audit_index().await.unwrap(), "node"),
        ledger_store::IndexReason::Node { level: 5, index: 0 }
    ));
    client
        .execute("DELETE FROM index_nodes WHERE run_id = $1", &[&first_run])
        .await
        .unwrap();
    assert!(matches!(
        expect(indexer.audit_index().await.unwrap(), "nodes gone"),
        ledger_store::IndexReason::NodeCount { stored: 0, .. }
    ));

    // A page with a pair taken out, and a run's root replaced.
    client
        .execute(
            "UPDATE index_pages SET pairs = substring(pairs FROM 18) WHERE run_id = $1 AND page = 0",
            &[&first_run],
        )
        .await
        .unwrap();
    assert!(matches!(
        expect(indexer.audit_index().await.unwrap(), "page"),
        ledger_store::IndexReason::Page {
            page: 0,
            first_pair: 0
        }
    ));
    client
        .execute(
            "UPDATE index_runs SET root = sha256(root) WHERE run_id = $1",
            &[&first_run],
        )
        .await
        .unwrap();
    assert!(matches!(
        expect(indexer.audit_index().await.unwrap(), "root"),
        ledger_store::IndexReason::Root { .. }
    ));
    client
        .execute(
            "UPDATE index_runs SET pairs = pairs - 1 WHERE run_id = $1",
            &[&first_run],
        )
        .await
        .unwrap();
    assert!(matches!(
        expect(indexer.audit_index().await.unwrap(), "pair count"),
        ledger_store::IndexReason::PairCount { .. }
    ));
}

#[tokio::test]
async fn checkpoints_commit_to_the_index_and_proofs_are_read_against_the_committed_head() {
    use ledger::checkpoint::{Checkpoint, Origin};
    use ledger::index::IndexCommitment;
    use ledger::note::{KeyName, Note, NoteSignerKey};

    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    // Heads of replaced checkpoints go at once; checkpoints cover the whole tree whatever the
    // index's progress (both defaults are tested below).
    let indexer = Indexer::new(&store)
        .with_batch(5)
        .with_runs(16, 2)
        .with_head_retention(std::time::Duration::ZERO);
    let signer = NoteSignerKey::from_seed(KeyName::parse("tagtrail.test/log").unwrap(), &[3; 32]);
    let checkpointer = ledger_store::Checkpointer::new(
        &store,
        Origin::parse("tagtrail.test/log").unwrap(),
        std::sync::Arc::new(signer),
    )
    .with_index_wait(std::time::Duration::ZERO);
    let commitment_of = |note: &str| {
        let checkpoint = Checkpoint::from_text(Note::parse(note).unwrap().text()).unwrap();
        IndexCommitment::of_checkpoint(&checkpoint).unwrap()
    };

    sequencer.append(device.next_batch(20)).await.unwrap();
    let first = checkpointer.sign_latest().await.unwrap().unwrap();
    assert_eq!(
        commitment_of(&first.note),
        None,
        "nothing indexed yet: no line"
    );
    let item = IndexKey::epc(device.event(3)["epcList"][0].as_str().unwrap());
    assert!(matches!(
        reader.prove_key(KeyRange::all(item)).await,
        Err(ProveKeyError::Uncommitted)
    ));

    indexer.catch_up().await.unwrap();
    sequencer.append(device.next_batch(20)).await.unwrap();
    let second = checkpointer.sign_latest().await.unwrap().unwrap();
    let committed = commitment_of(&second.note).unwrap();
    assert_eq!(
        committed.size.get(),
        20,
        "the index trails the log: {}",
        second.note
    );
    let proof = reader.prove_key(KeyRange::all(item)).await.unwrap();
    assert_eq!(proof.checkpoint, second.note);
    assert_eq!(proof.head.root(), committed.root);
    assert_eq!(proof.proof.verify(&proof.head).unwrap(), vec![3]);

    // The indexer goes on and merges runs of the committed head: they are retired, not gone,
    // while the newest checkpoint lists them.
    indexer.catch_up().await.unwrap();
    let client = db.connect().await.unwrap();
    let retired: i64 = client
        .query_one("SELECT count(*) FROM index_runs WHERE retired", &[])
        .await
        .unwrap()
        .get(0);
    assert!(retired > 0, "runs of the committed head were merged");
    let again = reader.prove_key(KeyRange::all(item)).await.unwrap();
    assert_eq!(again.head, proof.head);
    assert_eq!(again.proof.verify(&again.head).unwrap(), vec![3]);

    // The tree did not grow, and the index now covers all of it: the checkpoint of its size is
    // signed again (same size, same root) with the index of the whole tree, once. Before, an
    // idle log's entries past its checkpoint's index stayed unproven until the next append.
    let refreshed = checkpointer.sign_latest().await.unwrap().unwrap();
    assert_eq!((refreshed.size, refreshed.root), (second.size, second.root));
    assert_eq!(commitment_of(&refreshed.note).unwrap().size.get(), 40);
    assert!(
        checkpointer.sign_latest().await.unwrap().is_none(),
        "signed again once only"
    );
    let latest = reader.latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(latest.note, refreshed.note, "the newest of its size");
    let whole = reader.prove_key(KeyRange::all(item)).await.unwrap();
    assert_eq!(whole.checkpoint, refreshed.note);
    assert_eq!(whole.head.size().get(), 40);
    // Two checkpoints of one size are of one tree: a row with another root is refused.
    let forged = client
        .execute(
            "INSERT INTO checkpoints (tree_size, root_hash, note) VALUES (40, $1, 'x')",
            &[&[7u8; 32].as_slice()],
        )
        .await
        .unwrap_err();
    assert!(
        format!("{forged:?}").contains("with another root hash is stored already"),
        "{forged:?}"
    );

    // A newer checkpoint commits to the merged runs; the merger then drops the retired ones.
    sequencer.append(device.next_batch(1)).await.unwrap();
    let third = checkpointer.sign_latest().await.unwrap().unwrap();
    assert_eq!(commitment_of(&third.note).unwrap().size.get(), 40);
    indexer.merge_step().await.unwrap();
    let retired: i64 = client
        .query_one("SELECT count(*) FROM index_runs WHERE retired", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(retired, 0);
    let smallest: i64 = client
        .query_one("SELECT min(size) FROM index_heads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        smallest, 40,
        "no head smaller than the newest checkpoint's is kept"
    );
    let newest = reader.prove_key(KeyRange::all(item)).await.unwrap();
    assert_eq!(newest.checkpoint, third.note);
    assert_eq!(newest.head.size().get(), 40);
    assert_eq!(newest.proof.verify(&newest.head).unwrap(), vec![3]);

    // A database that lost what the newest checkpoint commits to: a run of its head, then the
    // head itself. The reader says so; it never proves against another head.
    client
        .execute(
            "DELETE FROM index_runs WHERE first_leaf = 0 AND NOT retired",
            &[],
        )
        .await
        .unwrap();
    match reader.prove_key(KeyRange::all(item)).await {
        Err(ProveKeyError::Read(ReadError::Corrupt { reason, .. })) => {
            assert!(
                reason.contains("of the committed head is not stored"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    client
        .execute("DELETE FROM index_heads", &[])
        .await
        .unwrap();
    match reader.prove_key(KeyRange::all(item)).await {
        Err(ProveKeyError::Read(ReadError::Corrupt { reason, .. })) => {
            assert!(reason.contains("which is not stored"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    sequencer.shutdown().await;
}

/// By default a checkpoint follows the index: signed at the index's size when the index has passed
/// the newest checkpoint, so that its index covers its whole tree; put off a moment when it has
/// not, then signed over the whole tree all the same; signed over the whole tree at once by a
/// stopping process. The head a replaced checkpoint committed to stays readable meanwhile.
#[tokio::test]
async fn checkpoints_follow_the_index_and_replaced_heads_stay_readable() {
    use ledger::checkpoint::{Checkpoint, Origin};
    use ledger::index::IndexCommitment;
    use ledger::note::{KeyName, Note, NoteSignerKey};

    let db = TestDatabase::create().await.unwrap();
    let store = Writer::connect(db.url()).unwrap();
    let reader = Reader::connect(db.url()).unwrap();
    let sequencer = Sequencer::start(&store);
    let mut device = EventFactory::new("dock-door-1", 1);
    let indexer = Indexer::new(&store).with_batch(5).with_runs(16, 2);
    let signer = NoteSignerKey::from_seed(KeyName::parse("tagtrail.test/log").unwrap(), &[3; 32]);
    let checkpointer = ledger_store::Checkpointer::new(
        &store,
        Origin::parse("tagtrail.test/log").unwrap(),
        std::sync::Arc::new(signer),
    )
    .with_index_wait(std::time::Duration::from_millis(200));
    let indexed = |note: &str| {
        let checkpoint = Checkpoint::from_text(Note::parse(note).unwrap().text()).unwrap();
        (
            checkpoint.size().get(),
            IndexCommitment::of_checkpoint(&checkpoint)
                .unwrap()
                .map(|commitment| commitment.size.get()),
        )
    };

    sequencer.append(device.next_batch(20)).await.unwrap();
    indexer.catch_up().await.unwrap();
    let first = checkpointer.sign_latest().await.unwrap().unwrap();
    assert_eq!(indexed(&first.note), (20, Some(20)));

    // Indexed past it, then more appended: signed at the index's size, not the tree's.
    sequencer.append(device.next_batch(20)).await.unwrap();
    indexer.catch_up().await.unwrap();
    sequencer.append(device.next_batch(10)).await.unwrap();
    let second = checkpointer.sign_latest().await.unwrap().unwrap();
    assert_eq!(indexed(&second.note), (40, Some(40)));

    // Appended, and the index not past the newest checkpoint: the checkpoint waits, then covers
    // the whole tree with the index it has.
    sequencer.append(device.next_batch(10)).await.unwrap();
    assert!(
        checkpointer.sign_latest().await.unwrap().is_none(),
        "it waits"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let third = loop {
        if let Some(signed) = checkpointer.sign_latest().await.unwrap() {
            break signed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "it never stopped waiting"
        );
        tokio::task::yield_now().await;
    };
    assert_eq!(indexed(&third.note), (60, Some(40)));
    // A stopping process signs the whole tree at once.
    sequencer.append(device.next_batch(5)).await.unwrap();
    let last = checkpointer.sign_all_now().await.unwrap().unwrap();
    assert_eq!(indexed(&last.note), (65, Some(40)));

    // The heads of the replaced checkpoints are still readable, and proofs against them verify.
    indexer.catch_up().await.unwrap();
    indexer.merge_step().await.unwrap();
    let item = IndexKey::epc(device.event(3)["epcList"][0].as_str().unwrap());
    for note in [&first.note, &second.note, &third.note] {
        let checkpoint = Checkpoint::from_text(Note::parse(note).unwrap().text()).unwrap();
        let commitment = IndexCommitment::of_checkpoint(&checkpoint)
            .unwrap()
            .unwrap();
        let head = reader.index_head(&commitment.root).await.unwrap().unwrap();
        assert_eq!(IndexCommitment::of_head(&head), commitment);
        let (_, proofs) = reader
            .prove_keys_at(&commitment, &[KeyRange::all(item)])
            .await
            .unwrap();
        assert_eq!(proofs[0].verify(&head).unwrap(), vec![3]);
        // Listed without a proof: the entries the proofs list, up to the head's size; keys of one
        // event each, and keys every event has (their pairs across pages and runs, their leaves
        // shared).
        let mut keys: Vec<IndexKey> = (0..8)
            .map(|n| IndexKey::epc(device.event(n)["epcList"][0].as_str().unwrap()))
            .collect();
        let shared = ledger::index::keys_of_event(&device.event(0));
        keys.extend(shared.iter().filter(|key| {
            matches!(
                key.kind(),
                ledger::index::KeyKind::Class | ledger::index::KeyKind::LocationDay
            )
        }));
        let ranges: Vec<KeyRange> = keys.iter().map(|key| KeyRange::all(*key)).collect();
        let (_, proofs) = reader.prove_keys_at(&commitment, &ranges).await.unwrap();
        let mut proven: Vec<u64> = proofs
            .iter()
            .flat_map(|proof| proof.verify(&head).unwrap())
            .collect();
        proven.sort_unstable();
        proven.dedup();
        assert!(proven.len() > 8, "{proven:?}");
        assert_eq!(
            reader.list_keys_at(&commitment, &keys).await.unwrap(),
            (head.size().get(), proven)
        );
    }
    // A head never stored is not one.
    assert!(
        reader
            .index_head(&ledger::Hash::from_bytes([7; 32]))
            .await
            .unwrap()
            .is_none()
    );
}

/// Keys of many pages of pairs listed a few pages at a time within leaf ranges, part after part as
/// a query's pages read them: the same leaves as listing them whole, each once, in order.
#[tokio::test]
async fn keys_of_many_pages_are_listed_a_part_at_a_time_within_ranges() {
    use ledger::checkpoint::{Checkpoint, Origin};
    use ledger::index::IndexCommitment;
    use ledger::note::{KeyName, Note, NoteSignerKey};
    use ledger_store::INDEX_PAGE_PAIRS;

    let db = TestDatabase::create().await.unwrap();
    let events = indexed_log(&db, 1_300).await;
    let (_, leaves) = keys_by_entry(&events);
    let reader = Reader::connect(db.url()).unwrap();
    // The keys most events have (the place on its day, the class), and one item's.
    let mut keys: Vec<IndexKey> = leaves
        .iter()
        .filter(|(_, of)| of.len() > 2 * INDEX_PAGE_PAIRS)
        .map(|(key, _)| *key)
        .collect();
    assert!(!keys.is_empty(), "no key of more than two pages");
    let item = leaves.iter().find(|(_, of)| of.len() == 1).unwrap();
    keys.push(*item.0);
    // The head a checkpoint commits to.
    let store = Writer::connect(db.url()).unwrap();
    let signer = NoteSignerKey::from_seed(KeyName::parse("tagtrail.test/log").unwrap(), &[3; 32]);
    let signed = ledger_store::Checkpointer::new(
        &store,
        Origin::parse("tagtrail.test/log").unwrap(),
        std::sync::Arc::new(signer),
    )
    .sign_latest()
    .await
    .unwrap()
    .unwrap();
    let checkpoint = Checkpoint::from_text(Note::parse(&signed.note).unwrap().text()).unwrap();
    let commitment = IndexCommitment::of_checkpoint(&checkpoint)
        .unwrap()
        .unwrap();
    let head = reader.index_head(&commitment.root).await.unwrap().unwrap();
    let size = head.size().get();
    assert_eq!(size, 1_300);
    let ranges = [3..40, 41..42, 300..900, 1_000..size + 50];
    let mut expected: Vec<u64> = keys
        .iter()
        .flat_map(|key| leaves[key].iter().copied())
        .filter(|leaf| ranges.iter().any(|range| range.contains(leaf)))
        .collect();
    expected.sort_unstable();
    expected.dedup();
    for (pages, enough) in [(2, usize::MAX), (3, 10), (8, 500), (1, 1)] {
        let mut read: Vec<u64> = Vec::new();
        let mut from = 0;
        let mut parts = 0;
        loop {
            let left: Vec<_> = ranges
                .iter()
                .map(|range| range.start.max(from)..range.end)
                .filter(|range| !range.is_empty())
                .collect();
            let listed = reader
                .list_keys_within(&commitment, &keys, &left, pages, enough)
                .await
                .unwrap();
            assert_eq!(listed.covered, size);
            parts += 1;
            assert!(listed.leaves.iter().all(|leaf| *leaf >= from));
            read.extend(&listed.leaves);
            let Some(until) = listed.until else {
                break;
            };
            assert!(until > from, "no progress from {from}");
            assert!(listed.leaves.iter().all(|leaf| *leaf < until));
            from = until;
        }
        assert_eq!(read, expected, "{pages} pages, {enough} enough");
        if pages == 2 {
            assert!(parts > 1, "a key of many pages read in one part");
        }
    }
    // Many scattered ranges (a query over many places and short spans): one call makes at most
    // MAX_LISTING_QUERIES queries, one a key and range, and says where the next is to start.
    let scattered: Vec<_> = (0..size).step_by(2).map(|leaf| leaf..leaf + 1).collect();
    let per_call = ledger_store::MAX_LISTING_QUERIES / keys.len();
    assert!(per_call < scattered.len());
    let listed = reader
        .list_keys_within(&commitment, &keys, &scattered, 2, usize::MAX)
        .await
        .unwrap();
    assert_eq!(listed.until, Some(scattered[per_call].start));
    let within: Vec<u64> = keys
        .iter()
        .flat_map(|key| leaves[key].iter().copied())
        .filter(|leaf| {
            scattered[..per_call]
                .iter()
                .any(|range| range.contains(leaf))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(!within.is_empty());
    assert_eq!(listed.leaves, within);
    // A head no longer stored is refused, as a proof against it would be.
    let gone = IndexCommitment {
        root: ledger::Hash::from_bytes([9; 32]),
        ..commitment
    };
    assert!(matches!(
        reader.list_keys_within(&gone, &keys, &ranges, 2, 10).await,
        Err(ProveKeyError::Gone { .. })
    ));
}
