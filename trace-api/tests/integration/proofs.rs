//! Proofs as served: the provenance bundle of an item and the proof bundle of one event verify
//! offline against the log's key and the device's registered key; altered ones fail naming the
//! check; the C2SP tlog-proof of an event verifies too.

use ledger::bundle::{
    CheckName, Outcome, ProofBundle, ProvenanceBundle, TlogProof, Verdict, verify_bundle,
    verify_provenance, verify_tlog_proof,
};
use serde_json::Value;

use crate::common::{Pipeline, aggregation, header, object, segment};

const ITEM: &str = "urn:epc:id:sgtin:0614141.812345.6789";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";

/// Every check passed except those of the anchor, skipped because nothing is anchored (no anchor
/// worker runs in these tests; `anchored.rs` runs one): the verdict is "incomplete", never "valid"
/// without an anchor.
pub(crate) fn passed_but_not_anchored(report: &ledger::bundle::Report) {
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:?}");
    for check in report.checks() {
        let anchor = matches!(
            check.name,
            CheckName::AnchoredCheckpoint
                | CheckName::Consistency
                | CheckName::AnchorCoversEvent
                | CheckName::AnchorOnChain
        );
        match &check.outcome {
            Outcome::Passed => assert!(!anchor, "{check:?}"),
            Outcome::Skipped(why) => {
                assert!(
                    anchor && why.contains("no anchored checkpoint"),
                    "{check:?}"
                );
            }
            Outcome::Failed(_) => panic!("{check:?}"),
        }
    }
}

fn failed(outcome: Option<&Outcome>) -> bool {
    matches!(outcome, Some(Outcome::Failed(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_verify_offline_and_altered_ones_fail() {
    let pipeline = Pipeline::start(|_| {}).await;
    let hashes = pipeline
        .capture(vec![
            object(0, "ADD", &[ITEM], "commissioning"),
            aggregation(1, "ADD", CASE, &[ITEM]),
            object(2, "OBSERVE", &[CASE], "shipping"),
            object(
                3,
                "OBSERVE",
                &["urn:epc:id:sgtin:0614141.812345.1"],
                "storing",
            ),
        ])
        .await;
    let trusted = pipeline.trusted_keys();

    // The item's provenance bundle: three events, one checkpoint, every check passed.
    let (status, body) = pipeline
        .get(&format!("/items/{}/bundle", segment(ITEM)))
        .await;
    assert_eq!(status, 200, "{body}");
    let bundle: ProvenanceBundle = serde_json::from_value(body).unwrap();
    assert_eq!(bundle.events.len(), 3);
    assert_eq!(bundle.item, ITEM);
    let report = verify_provenance(&bundle, &trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:?}");
    // The story and its authority marks are what the registry and the events give; the history
    // is proven complete when the checkpoint commits to an index of its whole tree (a new log's
    // first checkpoints are signed before the indexer's first run, and commit to none).
    let bundle_checks = report.bundle_checks();
    for check in [
        CheckName::EventList,
        CheckName::OneCheckpoint,
        CheckName::Story,
        CheckName::Authority,
    ] {
        assert_eq!(
            bundle_checks.outcome(check),
            Some(&Outcome::Passed),
            "{check}"
        );
    }
    let verified = trusted.log().open_checkpoint(&bundle.checkpoint).unwrap();
    let indexed = ledger::index::IndexCommitment::of_checkpoint(verified.checkpoint())
        .unwrap()
        .is_some_and(|index| index.size == verified.checkpoint().size());
    match bundle_checks.outcome(CheckName::Complete) {
        Some(Outcome::Passed) => assert!(indexed, "complete without an index of the whole tree"),
        Some(Outcome::Skipped(_)) => assert!(!indexed, "an index of the whole tree, not used"),
        other => panic!("complete: {other:?}"),
    }
    assert_eq!(report.events().len(), 3);
    for event in report.events() {
        passed_but_not_anchored(&event.report);
    }

    // One changed byte of an event's stored text.
    let mut altered = bundle.clone();
    altered.events[1].event = altered.events[1].event.replacen("ADD", "DELETE", 1);
    let report = verify_provenance(&altered, &trusted);
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(failed(
        report.events()[1].report.outcome(CheckName::EventHash)
    ));
    // An inclusion proof hash.
    let mut altered = bundle.clone();
    let mut proof = serde_json::to_value(&altered.events[0].inclusion).unwrap();
    let first = proof["hashes"][0].as_str().unwrap().to_owned();
    let flipped = if first.starts_with('A') {
        first.replacen('A', "B", 1)
    } else {
        format!("A{}", &first[1..])
    };
    proof["hashes"][0] = Value::String(flipped);
    altered.events[0].inclusion = serde_json::from_value(proof).unwrap();
    let report = verify_provenance(&altered, &trusted);
    assert!(
        failed(report.events()[0].report.outcome(CheckName::Inclusion)),
        "{report:?}"
    );

    // One event's proof bundle, found by its hash (hex or ni URI).
    let hex = hashes[0]
        .rsplit(';')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    for id in [hex.clone(), hashes[0].clone()] {
        let (status, body) = pipeline
            .get(&format!("/events/{}/bundle", segment(&id)))
            .await;
        assert_eq!(status, 200, "{body}");
        let single: ProofBundle = serde_json::from_value(body).unwrap();
        let report = verify_bundle(&single, &trusted);
        passed_but_not_anchored(&report);
        assert_eq!(
            report.outcome(CheckName::DeviceSignature),
            Some(&Outcome::Passed)
        );
        // Signed by another key than the log's: the checkpoint check fails.
        let mut forged = single.clone();
        forged.checkpoint = forged
            .checkpoint
            .replacen("trace.test/log", "trace.test/other", 1);
        assert!(failed(
            verify_bundle(&forged, &trusted).outcome(CheckName::Checkpoint)
        ));
    }

    // The same proof in the C2SP tlog-proof format.
    let (status, headers, bytes) = pipeline.get_raw(&format!("/events/{hex}/proof")).await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(bytes).unwrap();
    let proof = TlogProof::decode(&text).unwrap();
    let event_hash = epcis::EventHash::parse_hex(&hex).unwrap();
    let report = verify_tlog_proof(&proof, &pipeline.trusted_log(), Some(&event_hash));
    assert_eq!(report.verdict(), Verdict::Valid, "{report:?}");
    let other = epcis::EventHash::parse_ni(&hashes[1]).unwrap();
    let report = verify_tlog_proof(&proof, &pipeline.trusted_log(), Some(&other));
    assert_eq!(report.verdict(), Verdict::Invalid, "{report:?}");

    // The events' batch trees were built once and reused; proofs shared their upper tiles.
    let (_, metrics) = pipeline.get_text("/metrics").await;
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert_eq!(count(r#"trace_cache_misses_total{cache="batches"}"#), 1);
    assert!(count(r#"trace_cache_hits_total{cache="batches"}"#) >= 2);
    assert!(count(r#"trace_cache_hits_total{cache="tiles"}"#) >= 1);

    // What is not there, or not an event hash.
    let (status, body) = pipeline
        .get(&format!("/events/{}/bundle", "ab".repeat(32)))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = pipeline.get("/events/xyz/bundle").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("64 hex digits"));
    let (status, body) = pipeline
        .get(&format!(
            "/items/{}/bundle",
            segment("urn:epc:id:sgtin:0614141.812345.4242")
        ))
        .await;
    assert_eq!(status, 404, "{body}");
    pipeline.stop().await;
}
