//! End-to-end tests of proof bundles: real EPCIS documents with their GS1 reference event hashes
//! (testdata/event-hash), a device-signed batch, a log, signed checkpoints and an anchored
//! checkpoint; then every kind of tampering, checked through the JSON form.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use epcis::EventHash;
use ledger::batch::{DeviceSigningKey, EventBatch};
use ledger::bundle::{
    AnchorRef, AnchoredCheckpoint, BundleVersion, ChainId, CheckName, ContractAddress,
    DeviceAttestation, DeviceRegistry, Outcome, ProofBundle, TrustedKeys, TxHash, Verdict,
    document_context, verify_bundle,
};
use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::note::{KeyName, NoteSignerKey, NoteVerifiers};
use ledger::record::{Attestation, LeafRecord};
use ledger::tree::{MemoryTree, prove_consistency, prove_inclusion};
use ledger::{DeviceId, LeafIndex, SiteId, TreeSize, UnixMillis};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const LOG: &str = "tagtrail.test/log";
/// A GS1 reference document with 13 events of every type.
const MANY: &str = "epcisDocWithVariousEventTypes";

fn example(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "testdata",
        "event-hash",
        "examples",
        name,
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn events_of(document: &Value) -> Vec<Map<String, Value>> {
    let body = &document["epcisBody"];
    let list = body
        .get("eventList")
        .unwrap_or(&body["queryResults"]["resultsBody"]["eventList"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|event| event.as_object().unwrap().clone())
        .collect()
}

struct Scenario {
    bundles: Vec<ProofBundle>,
    trusted: TrustedKeys,
    tree: MemoryTree,
    origin: Origin,
    log_key: NoteSignerKey,
}

impl Scenario {
    fn signed_checkpoint(&self, size: TreeSize) -> String {
        Checkpoint::new(self.origin.clone(), size, self.tree.root_at(size).unwrap())
            .sign(&[&self.log_key])
            .unwrap()
            .to_message()
    }
}

/// A log holding filler entries, then the document's events, then more filler; a checkpoint after
/// the events and a later anchored checkpoint.
fn scenario(document_name: &str, attested: bool) -> Scenario {
    let document: Value =
        serde_json::from_str(&example(&format!("{document_name}.jsonld"))).unwrap();
    let context = document_context(document.as_object().unwrap());
    let events = events_of(&document);
    let hashes: Vec<EventHash> = example(&format!("{document_name}.hashes"))
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| EventHash::parse_ni(line).unwrap())
        .collect();
    assert_eq!(events.len(), hashes.len());

    let device_key = DeviceSigningKey::from_seed(&[7; 32]);
    let device = DeviceId::parse("dock-door-1").unwrap();
    let batch = EventBatch::new(&hashes).unwrap();
    let statement = batch.statement(
        device.clone(),
        UnixMillis::from_millis(1_700_000_000_000),
        1,
    );
    let signature = statement.sign(&device_key);

    // Filler entries of an older log: version 1 records.
    let filler = |i: u8| {
        LeafRecord::version_1(
            EventHash::from_bytes([i; 32]),
            UnixMillis::from_millis(u64::from(i)),
            Attestation::Unattested {
                site: SiteId::parse("filler-site").unwrap(),
            },
        )
        .unwrap()
        .encode()
    };
    let mut tree = MemoryTree::new();
    for i in 0..5 {
        tree.push_record(&filler(i)).unwrap();
    }
    let first = tree.size().get();
    // Each event's exact text, as a store would keep and serve it.
    let texts: Vec<String> = events
        .iter()
        .map(|event| serde_json::to_string(event).unwrap())
        .collect();
    let mut records = Vec::new();
    for (i, hash) in hashes.iter().enumerate() {
        let attestation = if attested {
            Attestation::Device {
                device: device.clone(),
                statement: statement.hash(),
                index: u32::try_from(i).unwrap(),
            }
        } else {
            Attestation::Unattested {
                site: SiteId::parse("brand-plant-1").unwrap(),
            }
        };
        let record = LeafRecord::new(
            *hash,
            texts[i].as_bytes(),
            UnixMillis::from_millis(1_700_000_000_500),
            attestation,
        )
        .unwrap()
        .encode();
        tree.push_record(&record).unwrap();
        records.push(record);
    }
    for i in 5..8 {
        tree.push_record(&filler(i)).unwrap();
    }
    let size = tree.size();
    for i in 8..20 {
        tree.push_record(&filler(i)).unwrap();
    }
    let anchored_size = tree.size();

    let origin = Origin::parse(LOG).unwrap();
    let log_key = NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[9; 32]);
    let sign = |n: TreeSize| {
        Checkpoint::new(origin.clone(), n, tree.root_at(n).unwrap())
            .sign(&[&log_key])
            .unwrap()
            .to_message()
    };
    let checkpoint = sign(size);
    let anchored = AnchoredCheckpoint {
        checkpoint: sign(anchored_size),
        consistency: prove_consistency(&tree, size, anchored_size).unwrap(),
        anchors: vec![AnchorRef {
            chain_id: ChainId::new(31_337),
            tx_hash: TxHash::from_bytes([0xaa; 32]),
            block_number: 12,
            contract: ContractAddress::from_bytes([0x5f; 20]),
            block_hash: None,
            receipt: None,
        }],
    };

    let bundles = texts
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let index = LeafIndex::new(first + i as u64).unwrap();
            ProofBundle {
                version: BundleVersion::V2,
                event,
                document_context: context.clone(),
                event_hash: hashes[i],
                leaf_record: records[i].clone(),
                device_attestation: attested.then(|| DeviceAttestation {
                    statement: statement.encode(),
                    public_key: device_key.public_key(),
                    signature: signature.clone(),
                    batch_path: batch.path(u32::try_from(i).unwrap()).unwrap(),
                }),
                inclusion: prove_inclusion(&tree, index, size).unwrap(),
                checkpoint: checkpoint.clone(),
                anchored: Some(anchored.clone()),
            }
        })
        .collect();

    let mut devices = DeviceRegistry::new();
    devices.add(device, device_key.public_key());
    let log = TrustedLog::new(
        origin.clone(),
        NoteVerifiers::new(vec![log_key.verifier_key()]).unwrap(),
    );
    Scenario {
        bundles,
        trusted: TrustedKeys::new(log).with_devices(devices),
        tree,
        origin,
        log_key,
    }
}

fn failed(report: &ledger::bundle::Report, name: CheckName) -> bool {
    matches!(report.outcome(name), Some(Outcome::Failed(_)))
}

/// Edits a bundle through its JSON form, as an attacker would.
fn edit(bundle: &ProofBundle, change: impl FnOnce(&mut Value)) -> ProofBundle {
    let mut json = serde_json::to_value(bundle).unwrap();
    change(&mut json);
    serde_json::from_value(json).unwrap()
}

#[test]
fn every_event_of_the_gs1_reference_documents_verifies_with_every_check_passed() {
    for name in [
        MANY,
        "ReferenceEventHashAlgorithm",
        "epcisDocWithCustomSchemaInContext",
        "epcisQueryDocHavingEventWithIgnoreFields",
    ] {
        let scenario = scenario(name, true);
        for bundle in &scenario.bundles {
            let json = serde_json::to_string(bundle).unwrap();
            let parsed: ProofBundle = serde_json::from_str(&json).unwrap();
            assert_eq!(&parsed, bundle);
            let report = verify_bundle(&parsed, &scenario.trusted);
            assert_eq!(report.verdict(), Verdict::Valid, "{name}: {report:#?}");
            assert_eq!(report.checks().len(), 12);
        }
    }
}

#[test]
fn the_bundle_json_has_the_documented_shape() {
    let scenario = scenario(MANY, true);
    let json = serde_json::to_value(&scenario.bundles[0]).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "version",
            "event",
            "documentContext",
            "eventHash",
            "leafRecord",
            "deviceAttestation",
            "inclusion",
            "checkpoint",
            "anchored"
        ]
    );
    assert_eq!(json["version"], json!(2));
    let event: Value = serde_json::from_str(json["event"].as_str().unwrap()).unwrap();
    assert!(event.is_object());
    assert!(
        json["eventHash"]
            .as_str()
            .unwrap()
            .starts_with("ni:///sha-256;")
    );
    assert_eq!(json["inclusion"]["leafIndex"], json!(5));
    assert_eq!(
        json["deviceAttestation"]["publicKey"]["algorithm"],
        json!("ed25519")
    );
    assert_eq!(json["deviceAttestation"]["batchPath"]["index"], json!(0));
    assert_eq!(json["anchored"]["anchors"][0]["chainId"], json!(31_337));
    assert_eq!(
        json["anchored"]["anchors"][0]["contract"],
        json!("0x5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f")
    );
    assert!(
        json["checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("tagtrail.test/log\n")
    );
}

#[test]
fn the_document_context_carries_custom_prefixes_that_the_hash_needs() {
    let scenario = scenario("epcisDocWithCustomSchemaInContext", true);
    let bundle = edit(&scenario.bundles[0], |json| {
        json.as_object_mut().unwrap().remove("documentContext");
    });
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert!(failed(&report, CheckName::EventHash), "{report:#?}");
}

/// Edits the event's text through its parsed form.
fn edit_event(bundle: &ProofBundle, change: impl FnOnce(&mut Map<String, Value>)) -> ProofBundle {
    let mut event = bundle.event_object().unwrap();
    change(&mut event);
    let mut edited = bundle.clone();
    edited.event = serde_json::to_string(&event).unwrap();
    edited
}

fn failures(report: &ledger::bundle::Report) -> Vec<CheckName> {
    report
        .checks()
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
        .map(|c| c.name)
        .collect()
}

#[test]
fn a_changed_event_fails_the_event_hash_and_bytes_checks_only() {
    let scenario = scenario(MANY, true);
    let bundle = edit_event(&scenario.bundles[0], |event| {
        event.insert("eventTime".into(), json!("2001-01-01T00:00:00.000Z"));
    });
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(
        failures(&report),
        [CheckName::EventHash, CheckName::EventBytes]
    );
}

// What the CBV 2.0 hash leaves out is still bound by the record's event digest.
#[test]
fn edits_the_event_hash_does_not_see_fail_the_event_bytes_check() {
    let scenario = scenario(MANY, true);
    let original = &scenario.bundles[0];
    let event = original.event_object().unwrap();
    let time = event["eventTime"].as_str().unwrap().to_owned();
    assert!(time.ends_with('Z') || time.contains('+'), "{time}");
    let edits: Vec<(&str, ProofBundle)> = vec![
        (
            "eventID",
            edit_event(original, |event| {
                event.insert(
                    "eventID".into(),
                    json!("urn:uuid:00000000-0000-4000-8000-000000000000"),
                );
            }),
        ),
        (
            "errorDeclaration",
            edit_event(original, |event| {
                event.insert(
                    "errorDeclaration".into(),
                    json!({"declarationTime": "2020-01-01T00:00:00Z", "reason": "incorrect_data"}),
                );
            }),
        ),
        ("one space", {
            let mut spaced = original.clone();
            spaced.event = spaced.event.replacen(':', ": ", 1);
            spaced
        }),
    ];
    for (what, bundle) in edits {
        let report = verify_bundle(&bundle, &scenario.trusted);
        assert_eq!(
            report.outcome(CheckName::EventHash),
            Some(&Outcome::Passed),
            "{what}: the CBV hash leaves it out"
        );
        assert_eq!(failures(&report), [CheckName::EventBytes], "{what}");
    }
}

#[test]
fn a_version_1_record_leaves_the_event_bytes_unchecked_and_says_why() {
    let scenario = scenario(MANY, false);
    let mut bundle = scenario.bundles[0].clone();
    let record = LeafRecord::decode(&bundle.leaf_record).unwrap();
    let old = LeafRecord::version_1(
        *record.event_hash(),
        record.captured_at(),
        record.attestation().clone(),
    )
    .unwrap();
    bundle.leaf_record = old.encode();
    let report = verify_bundle(&bundle, &scenario.trusted);
    match report.outcome(CheckName::EventBytes) {
        Some(Outcome::Skipped(reason)) => assert!(reason.contains("version 1"), "{reason}"),
        other => panic!("expected a skipped event bytes check, got {other:?}"),
    }
    // The record changed, so the inclusion proof no longer holds: a v1 record cannot be swapped in.
    assert!(failed(&report, CheckName::Inclusion));
}

#[test]
fn an_event_that_is_not_a_json_object_fails_the_event_hash_check() {
    let scenario = scenario(MANY, true);
    let mut bundle = scenario.bundles[0].clone();
    bundle.event = "[1, 2]".to_owned();
    let report = verify_bundle(&bundle, &scenario.trusted);
    match report.outcome(CheckName::EventHash) {
        Some(Outcome::Failed(reason)) => assert!(reason.contains("not a JSON object"), "{reason}"),
        other => panic!("expected a failed event hash check, got {other:?}"),
    }
}

#[test]
fn a_bundle_claiming_another_event_hash_fails() {
    let scenario = scenario(MANY, true);
    let other = scenario.bundles[1].event_hash;
    let bundle = edit(&scenario.bundles[0], |json| {
        json["eventHash"] = json!(other.to_ni_uri());
    });
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert!(failed(&report, CheckName::EventHash));
    assert!(failed(&report, CheckName::LeafRecord));
}

#[test]
fn a_statement_signed_by_an_unregistered_key_fails_the_registry_check() {
    let scenario = scenario(MANY, true);
    let intruder = DeviceSigningKey::from_seed(&[8; 32]);
    let mut bundle = scenario.bundles[0].clone();
    let attestation = bundle.device_attestation.as_mut().unwrap();
    let statement = ledger::batch::BatchStatement::decode(&attestation.statement).unwrap();
    attestation.signature = statement.sign(&intruder);
    attestation.public_key = intruder.public_key();
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert_eq!(
        report.outcome(CheckName::DeviceSignature),
        Some(&Outcome::Passed)
    );
    assert!(failed(&report, CheckName::DeviceKeyRegistered));
}

#[test]
fn a_signature_by_another_key_fails_the_device_signature_check() {
    let scenario = scenario(MANY, true);
    let other = scenario.bundles[1].device_attestation.clone().unwrap();
    let mut bundle = scenario.bundles[0].clone();
    let attestation = bundle.device_attestation.as_mut().unwrap();
    attestation.public_key = DeviceSigningKey::from_seed(&[8; 32]).public_key();
    assert_eq!(
        attestation.signature, other.signature,
        "one batch, one signature"
    );
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert!(failed(&report, CheckName::DeviceSignature));
}

#[test]
fn another_event_s_batch_path_fails_batch_inclusion() {
    let scenario = scenario(MANY, true);
    let other_path = scenario.bundles[1]
        .device_attestation
        .clone()
        .unwrap()
        .batch_path;
    let mut bundle = scenario.bundles[0].clone();
    bundle.device_attestation.as_mut().unwrap().batch_path = other_path;
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert!(failed(&report, CheckName::BatchInclusion));
}

#[test]
fn a_checkpoint_signed_by_an_untrusted_key_fails_and_inclusion_is_not_checked() {
    let scenario = scenario(MANY, true);
    let mut bundle = scenario.bundles[0].clone();
    let forger = NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[10; 32]);
    let note = ledger::note::Note::parse(&bundle.checkpoint).unwrap();
    bundle.checkpoint = ledger::note::Note::sign(note.text(), &[&forger])
        .unwrap()
        .to_message();
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert!(failed(&report, CheckName::Checkpoint));
    assert!(matches!(
        report.outcome(CheckName::Inclusion),
        Some(Outcome::Skipped(_))
    ));
    assert_eq!(report.verdict(), Verdict::Invalid);
}

#[test]
fn an_inclusion_proof_for_another_tree_size_fails() {
    let scenario = scenario(MANY, true);
    let bundle = edit(&scenario.bundles[0], |json| {
        let size = json["inclusion"]["treeSize"].as_u64().unwrap();
        json["inclusion"]["treeSize"] = json!(size + 1);
    });
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert!(failed(&report, CheckName::Inclusion));
}

#[test]
fn an_anchor_older_than_the_event_leaves_the_event_not_yet_anchored() {
    let scenario = scenario(MANY, true);
    let mut bundle = scenario.bundles[0].clone();
    let size = bundle.inclusion.tree_size();
    let older = TreeSize::from(3);
    assert!(!older.contains(bundle.inclusion.leaf_index()));
    let anchored = bundle.anchored.as_mut().unwrap();
    anchored.checkpoint = scenario.signed_checkpoint(older);
    anchored.consistency = prove_consistency(&scenario.tree, older, size).unwrap();
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert_eq!(
        report.outcome(CheckName::Consistency),
        Some(&Outcome::Passed)
    );
    assert!(matches!(
        report.outcome(CheckName::AnchorCoversEvent),
        Some(Outcome::Skipped(_))
    ));
    assert_eq!(report.verdict(), Verdict::Incomplete);
}

#[test]
fn a_consistency_proof_between_other_sizes_fails() {
    let scenario = scenario(MANY, true);
    let mut bundle = scenario.bundles[0].clone();
    let anchored = bundle.anchored.as_mut().unwrap();
    let new_size = anchored.consistency.new_size();
    anchored.consistency = prove_consistency(&scenario.tree, TreeSize::from(4), new_size).unwrap();
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert!(failed(&report, CheckName::Consistency));
}

#[test]
fn an_anchored_checkpoint_of_a_forked_log_fails_consistency() {
    let scenario = scenario(MANY, true);
    let mut bundle = scenario.bundles[0].clone();
    let anchored = bundle.anchored.as_mut().unwrap();
    let size = anchored.consistency.new_size();
    // The same size, but a root the log never had, signed by the log's own key.
    let forked = Checkpoint::new(
        scenario.origin.clone(),
        size,
        ledger::RootHash::from_bytes([1; 32]),
    );
    anchored.checkpoint = forked.sign(&[&scenario.log_key]).unwrap().to_message();
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert_eq!(
        report.outcome(CheckName::AnchoredCheckpoint),
        Some(&Outcome::Passed)
    );
    assert!(failed(&report, CheckName::Consistency));
}

#[test]
fn an_unattested_event_verifies_as_incomplete_with_the_site_named() {
    let scenario = scenario(MANY, false);
    let report = verify_bundle(&scenario.bundles[0], &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:#?}");
    match report.outcome(CheckName::DeviceSignature) {
        Some(Outcome::Skipped(reason)) => assert!(reason.contains("brand-plant-1"), "{reason}"),
        other => panic!("expected a skipped device signature, got {other:?}"),
    }
    assert_eq!(report.outcome(CheckName::Inclusion), Some(&Outcome::Passed));
}

#[test]
fn a_device_record_without_its_attestation_fails() {
    let scenario = scenario(MANY, true);
    let mut bundle = scenario.bundles[0].clone();
    bundle.device_attestation = None;
    let report = verify_bundle(&bundle, &scenario.trusted);
    assert!(failed(&report, CheckName::BatchStatement));
}

#[test]
fn without_a_device_registry_the_key_check_is_skipped() {
    let scenario = scenario(MANY, true);
    let trusted = TrustedKeys::new(scenario.trusted.log().clone());
    let report = verify_bundle(&scenario.bundles[0], &trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete);
    assert!(matches!(
        report.outcome(CheckName::DeviceKeyRegistered),
        Some(Outcome::Skipped(_))
    ));
}

#[test]
fn bundles_of_other_versions_or_with_unknown_fields_are_refused() {
    let scenario = scenario(MANY, true);
    let mut json = serde_json::to_value(&scenario.bundles[0]).unwrap();
    // Version 1 carried the event as an object, without the exact bytes a record commits to.
    for version in [1, 3] {
        json["version"] = json!(version);
        let error = serde_json::from_value::<ProofBundle>(json.clone())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("unknown proof bundle version {version}")),
            "{error}"
        );
    }
    let mut json = serde_json::to_value(&scenario.bundles[0]).unwrap();
    json["extra"] = json!(true);
    assert!(serde_json::from_value::<ProofBundle>(json).is_err());
}

fn flip_base64_field(json: &mut Value, pointer: &str, byte: usize, bit: u8) {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let field = json.pointer_mut(pointer).unwrap();
    let mut bytes = engine.decode(field.as_str().unwrap()).unwrap();
    let at = byte % bytes.len();
    bytes[at] ^= 1 << (bit % 8);
    *field = json!(engine.encode(bytes));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_flipped_bit_in_the_signed_material_makes_the_bundle_invalid(
        field in prop::sample::select(vec![
            "/leafRecord",
            "/deviceAttestation/statement",
            "/deviceAttestation/signature/signature",
            "/deviceAttestation/batchPath/hashes/0",
            "/inclusion/hashes/0",
            "/inclusion/hashes/2",
            "/anchored/consistency/hashes/0",
        ]),
        byte in any::<usize>(),
        bit in any::<u8>(),
    ) {
        let scenario = scenario(MANY, true);
        let bundle = edit(&scenario.bundles[0], |json| flip_base64_field(json, field, byte, bit));
        let report = verify_bundle(&bundle, &scenario.trusted);
        prop_assert_eq!(report.verdict(), Verdict::Invalid, "{} {:#?}", field, report);
    }
}
