//! Bundles with anchors: the anchor worker publishes a checkpoint to a real local chain, and the
//! bundles trace-api serves carry that anchored checkpoint, the consistency proof to it and the
//! anchor's self-contained evidence. Events the anchor covers verify completely offline; later
//! ones say "not yet anchored"; the evidence checks against the block hash with no node, and on
//! chain through one.

use alloy_primitives::B256;
use anchor::proof::ReceiptProof;
use anchor::testing::Anvil;
use anchor::verify::{AnchorLocation, Expected, verify_on_chain, verify_self_contained};
use anchor::worker::{ChainWorker, Progress};
use ledger::bundle::{
    CheckName, Outcome, ProofBundle, ProvenanceBundle, Verdict, verify_bundle, verify_provenance,
};
use ledger::checkpoint::Checkpoint;
use ledger::note::Note;

use crate::common::{Pipeline, object, segment};

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.4242";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_carry_the_anchor_that_covers_their_events() {
    let pipeline = Pipeline::start(|_| {}).await;
    let first = pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            object(1, "OBSERVE", &[ITEM], "shipping"),
        ])
        .await;

    // Nothing anchored yet: no `anchored` member.
    let (status, body) = pipeline
        .get(&format!("/items/{}/bundle", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("anchored").is_none(), "{body}");

    // The anchor worker, as a member of tagtrail_anchor only, anchors the newest checkpoint.
    let (anvil, worker) = anchor_worker(&pipeline, "tagtrail_anchor_trace_test").await;
    let anchored_size = anchor_newest(&worker, &anvil).await;

    // More events for the item, after the anchor.
    pipeline
        .capture(vec![object(2, "OBSERVE", &[ITEM], "receiving")])
        .await;
    let trusted = pipeline.trusted_keys();
    let (status, body) = pipeline
        .get(&format!("/items/{}/bundle", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{body}");
    let bundle: ProvenanceBundle = serde_json::from_value(body).unwrap();
    let anchored = bundle.anchored.clone().expect("an anchored checkpoint");
    let anchored_checkpoint =
        Checkpoint::from_text(Note::parse(&anchored.checkpoint).unwrap().text()).unwrap();
    assert_eq!(anchored_checkpoint.size().get(), anchored_size);
    assert_eq!(anchored.anchors.len(), 1);
    let reference = anchored.anchors[0].clone();
    assert_eq!(reference.chain_id.get(), anvil.chain_id);

    // The first two events are covered: every offline check passes. The third is not yet.
    let report = verify_provenance(&bundle, &trusted);
    assert_eq!(report.events().len(), 3);
    for event in &report.events()[..2] {
        assert_eq!(event.report.verdict(), Verdict::Valid, "{:?}", event.report);
    }
    let last = &report.events()[2].report;
    assert_eq!(last.outcome(CheckName::Consistency), Some(&Outcome::Passed));
    assert!(matches!(
        last.outcome(CheckName::AnchorCoversEvent),
        Some(Outcome::Skipped(why)) if why.contains("not yet anchored")
    ));

    // The single-event bundle of a covered event carries the same anchor.
    let (status, body) = pipeline
        .get(&format!("/events/{}/bundle", segment(&first[0])))
        .await;
    assert_eq!(status, 200, "{body}");
    let single: ProofBundle = serde_json::from_value(body).unwrap();
    assert_eq!(single.anchored.as_ref().unwrap().anchors, anchored.anchors);
    assert_eq!(verify_bundle(&single, &trusted).verdict(), Verdict::Valid);

    // The evidence: against the block hash alone, and on chain.
    let origin = trusted.log().origin().clone();
    let keys = trusted.log().keys().clone();
    let expected = Expected {
        origin: &origin,
        size: anchored_checkpoint.size(),
        root: *anchored_checkpoint.root(),
        // The note anchored may be the first one of its size (signed before the indexer's first
        // run, with no index line) or the one signed again once the index covered its tree.
        index: ledger::index::IndexCommitment::of_checkpoint(&anchored_checkpoint).unwrap(),
        keys: Some(&keys),
    };
    let contract = alloy_primitives::Address::from(*reference.contract.as_bytes());
    let block_hash = B256::from(*reference.block_hash.unwrap().as_bytes());
    let proof: ReceiptProof =
        serde_json::from_value(serde_json::to_value(reference.receipt.clone().unwrap()).unwrap())
            .unwrap();
    let (report, _) = verify_self_contained(&proof, block_hash, &contract, &expected);
    assert!(report.is_valid(), "{report:?}");
    let location = AnchorLocation {
        chain_id: reference.chain_id.get(),
        tx_hash: B256::from(*reference.tx_hash.as_bytes()),
        block_number: reference.block_number,
        contract,
    };
    assert!(verify_on_chain(&anvil.rpc(), &location, &expected, 1).is_valid());

    // An altered anchored checkpoint (another root under the log's signature) fails its check.
    let mut altered = single.clone();
    let checkpoint = &mut altered.anchored.as_mut().unwrap().checkpoint;
    let root = checkpoint.lines().nth(2).unwrap().to_owned();
    let other = ledger::RootHash::from_bytes([0x11; 32]).to_base64();
    assert_ne!(root, other);
    *checkpoint = checkpoint.replacen(&root, &other, 1);
    let report = verify_bundle(&altered, &trusted);
    assert_eq!(report.verdict(), Verdict::Invalid);
    pipeline.stop().await;
}

/// A local chain and an anchor worker on it for the pipeline's database, running as `role`, a
/// member of tagtrail_anchor only, confirming at one block.
pub(crate) async fn anchor_worker(pipeline: &Pipeline, role: &str) -> (Anvil, ChainWorker) {
    let anvil = Anvil::start();
    let url = pipeline
        .db
        .login_role(role, "tagtrail_anchor")
        .await
        .unwrap();
    let worker = anchor::testing::started_worker(&anvil, &url).await;
    (anvil, worker)
}

/// Anchors the newest checkpoint with `worker` and waits for its confirmation: its tree size.
pub(crate) async fn anchor_newest(worker: &ChainWorker, anvil: &Anvil) -> u64 {
    let size = match worker.tick().await.unwrap() {
        Progress::Sent { tree_size, tx_hash } => {
            anvil.mined(&tx_hash);
            tree_size
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        worker.tick().await.unwrap(),
        Progress::Confirmed { tree_size: size }
    );
    size
}

/// The tree size of the anchored checkpoint an item's bundle carries, if any.
async fn bundle_anchored_size(pipeline: &Pipeline) -> Option<u64> {
    let (status, body) = pipeline
        .get(&format!("/items/{}/bundle", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{body}");
    let bundle: ProvenanceBundle = serde_json::from_value(body).unwrap();
    bundle.anchored.map(|anchored| {
        Checkpoint::from_text(Note::parse(&anchored.checkpoint).unwrap().text())
            .unwrap()
            .size()
            .get()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchor_rows_that_do_not_verify_are_not_served_and_the_rest_still_is() {
    let pipeline = Pipeline::start(|_| {}).await;
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    let (anvil, worker) = anchor_worker(&pipeline, "tagtrail_anchor_trace_tamper").await;
    let older = anchor_newest(&worker, &anvil).await;
    pipeline
        .capture(vec![object(1, "OBSERVE", &[ITEM], "shipping")])
        .await;
    let newer = anchor_newest(&worker, &anvil).await;
    assert!(newer > older);
    assert_eq!(bundle_anchored_size(&pipeline).await, Some(newer));

    // Tampering with the newer anchor's row, as a superuser (or the anchor role) could.
    let admin = pipeline.db.connect().await.unwrap();
    let newer_id: i64 = admin
        .query_one(
            "SELECT anchor_id FROM anchors WHERE state = 'confirmed' AND tree_size = $1",
            &[&i64::try_from(newer).unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    let tampering = [
        // A proof that does not even read.
        (
            "UPDATE anchors SET proof = '{\"garbage\": 1}' WHERE anchor_id = $1",
            "UPDATE anchors SET proof = $2::text::jsonb WHERE anchor_id = $1",
        ),
        // Another block hash: the proof does not verify against it.
        (
            "UPDATE anchors SET block_hash = '\\x1111111111111111111111111111111111111111111111111111111111111111' WHERE anchor_id = $1",
            "UPDATE anchors SET block_hash = $2::text::bytea WHERE anchor_id = $1",
        ),
        // Another checkpoint than the log's of that size.
        (
            "UPDATE anchors SET checkpoint = checkpoint || ' ' WHERE anchor_id = $1",
            "UPDATE anchors SET checkpoint = $2 WHERE anchor_id = $1",
        ),
    ];
    for (number, (tamper, restore)) in tampering.iter().enumerate() {
        let column = [
            "proof::text",
            "'\\x' || encode(block_hash, 'hex')",
            "checkpoint",
        ][number];
        let saved: String = admin
            .query_one(
                &format!("SELECT {column} FROM anchors WHERE anchor_id = $1"),
                &[&newer_id],
            )
            .await
            .unwrap()
            .get(0);
        admin.execute(*tamper, &[&newer_id]).await.unwrap();
        // Every answer is still served; bundles carry the older anchor, which verifies.
        assert_eq!(
            bundle_anchored_size(&pipeline).await,
            Some(older),
            "tampering {number}"
        );
        let (status, body) = pipeline
            .get(&format!("/items/{}/history", segment(ITEM)))
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = pipeline.get("/health/ready").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["refusedEvidence"]["anchors"],
            serde_json::json!([newer_id])
        );
        let (_, metrics) = pipeline.get_text("/metrics").await;
        assert!(
            metrics.contains("trace_evidence_refused{kind=\"anchor\"} 1"),
            "{metrics}"
        );
        admin.execute(*restore, &[&newer_id, &saved]).await.unwrap();
        assert_eq!(bundle_anchored_size(&pipeline).await, Some(newer));
    }
    let (_, body) = pipeline.get("/health/ready").await;
    assert!(body.get("refusedEvidence").is_none(), "{body}");
    pipeline.stop().await;
}

/// A tree size can have two checkpoints (the second signed once the verifiable index covered
/// the tree), each anchored by its own contract. When the anchors of the one with the larger
/// index do not verify, bundles carry the other of the same size with its anchors, not an older
/// size's or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_checkpoint_s_anchors_fail_the_other_of_its_size_is_carried() {
    let pipeline = Pipeline::start(|_| {}).await;
    let admin = pipeline.db.connect().await.unwrap();
    // The verifiable index's heads held (ledger-store's `locks::INDEX_HEADS`): the checkpoint is
    // signed without its index line, and the indexer waits.
    let index_heads: i64 = 0x7461_6774_7261_0007;
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&index_heads])
        .await
        .unwrap();
    pipeline
        .capture(vec![object(0, "ADD", &[ITEM], "commissioning")])
        .await;
    pipeline.wait_for_checkpoint(1).await;
    let notes_of_size_one = || async {
        admin
            .query(
                "SELECT note FROM checkpoints WHERE tree_size = 1 ORDER BY index_size",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect::<Vec<String>>()
    };
    let unindexed = notes_of_size_one().await;
    assert_eq!(unindexed.len(), 1);
    assert!(
        !unindexed[0].contains("tagtrail-index 1 "),
        "{}",
        unindexed[0]
    );
    let (anvil, first) = anchor_worker(&pipeline, "tagtrail_anchor_trace_notes_1").await;
    assert_eq!(anchor_newest(&first, &anvil).await, 1);

    // The index catches up and the size is signed again; another contract anchors that note.
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&index_heads])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let notes = loop {
        let notes = notes_of_size_one().await;
        if notes.len() == 2 {
            break notes;
        }
        assert!(std::time::Instant::now() < deadline, "{notes:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(notes[0], unindexed[0]);
    let url = pipeline
        .db
        .login_role("tagtrail_anchor_trace_notes_2", "tagtrail_anchor")
        .await
        .unwrap();
    let second = anchor::testing::started_worker(&anvil, &url).await;
    assert_eq!(anchor_newest(&second, &anvil).await, 1);
    let carried = || async {
        let (status, body) = pipeline
            .get(&format!("/items/{}/bundle", segment(ITEM)))
            .await;
        assert_eq!(status, 200, "{body}");
        let bundle: ProvenanceBundle = serde_json::from_value(body).unwrap();
        bundle.anchored.map(|anchored| anchored.checkpoint)
    };
    assert_eq!(
        carried().await.as_ref(),
        Some(&notes[1]),
        "the larger index first"
    );

    // The indexed note's anchor is tampered with: the other note of the size is carried.
    let tampered: i64 = admin
        .query_one(
            "SELECT anchor_id FROM anchors WHERE state = 'confirmed' AND checkpoint = $1",
            &[&notes[1]],
        )
        .await
        .unwrap()
        .get(0);
    admin
        .execute(
            "UPDATE anchors SET block_hash = '\\x1111111111111111111111111111111111111111111111111111111111111111' WHERE anchor_id = $1",
            &[&tampered],
        )
        .await
        .unwrap();
    assert_eq!(carried().await.as_ref(), Some(&notes[0]));
    assert_eq!(bundle_anchored_size(&pipeline).await, Some(1));
    let (status, body) = pipeline.get("/health/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["refusedEvidence"]["anchors"],
        serde_json::json!([tampered])
    );
    pipeline.stop().await;
}
