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
    let (head, proof) = reader.prove_key(KeyRange::all(absent)).await.unwrap();
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
        let (head, proof) = reader.prove_key(KeyRange::all(*key)).await.unwrap();
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
    let (head, proof) = reader.prove_key(range).await.unwrap();
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
        .prove_key(KeyRange::all(IndexKey::epc("urn:epc:id:sgtin:1.1.1")))
        .await
        .unwrap();
    assert_eq!(head.size().get(), 0, "no runs: an empty index");
    Indexer::new(&store).with_batch(7).catch_up().await.unwrap();
    for (key, expected) in leaves.iter().take(40) {
        let (head, proof) = reader.prove_key(KeyRange::all(*key)).await.unwrap();
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
    match reader.prove_key(KeyRange::all(*key)).await {
        Err(ProveKeyError::Read(ReadError::Corrupt { .. })) => {}
        Ok((head, proof)) => assert!(
            matches!(proof.verify(&head), Err(KeyProofError::Run { .. })),
            "{:?}",
            proof.verify(&head)
        ),
        Err(other) => panic!("{other}"),
    }
}
