//! Provenance bundles and tlog-proofs: a fixed custody history (an item commissioned, packed into a
//! case, shipped in the case, transformed into another item, sold as that item) logged among other
//! entries, signed and anchored with fixed keys; its JSON and tlog-proof text checked byte for byte
//! against `tests/golden/`, then every kind of tampering.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use epcis::EventHash;
use ledger::batch::{DeviceSigningKey, EventBatch};
use ledger::bundle::{
    AUTHORITY_UNCHECKED, AnchorRef, AnchoredCheckpoint, ChainId, CheckName, ContractAddress,
    DeviceAttestation, DeviceEntry, IndexEvidence, OrganisationEntry, Outcome, Participants,
    ProvenanceBundle, ProvenanceEvent, ProvenanceReport, ProvenanceVersion, Report, SiteEntry,
    TlogProof, TrustedKeys, TxHash, Verdict, Why, recompute_event_hash, verify_provenance,
    verify_tlog_proof,
};
use ledger::checkpoint::{Checkpoint, Origin, TrustedLog};
use ledger::history::Authority;
use ledger::index::{IndexCommitment, IndexHead, IndexKey, KeyRange, MemoryIndex, keys_of_json};
use ledger::note::{KeyName, Note, NoteSignerKey, NoteVerifiers};
use ledger::record::{Attestation, LeafRecord};
use ledger::tree::{MemoryTree, prove_consistency, prove_inclusion};
use ledger::{DeviceId, LeafIndex, OrganisationId, SiteId, TreeSize, UnixMillis};
use serde_json::{Map, Value, json};

const LOG: &str = "tagtrail.test/log";
pub(crate) const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2018";
pub(crate) const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
pub(crate) const NEW_ITEM: &str = "urn:epc:id:sgtin:0614141.107346.9001";
const TRANSFORMATION: &str = "urn:uuid:6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

const GOLDEN_PROVENANCE: &str = include_str!("../golden/provenance-v1.json");
const GOLDEN_TLOG_PROOF: &str = include_str!("../golden/entry.tlog-proof");
const GOLDEN_PARTICIPANTS: &str = include_str!("../golden/participants.json");
const GOLDEN_LOG_KEY: &str = include_str!("../golden/log-key.pub");
const GOLDEN_DEVICE_KEY: &str = include_str!("../golden/dock-door-1.key.pub");
/// The organisation that owns the golden history's company prefix.
const BRAND: &str = "brand";

/// The item's history: each event's exact text, why it belongs to the history and its reporter's
/// authority (every event is the brand's: it owns the company prefix of the item, the case and the
/// new item, so it may commission, pack, ship, transform and sell them).
fn history() -> Vec<(String, Vec<Why>, Authority)> {
    let events = [
        (
            json!({"type": "ObjectEvent", "eventTime": "2024-03-01T08:00:00.000Z",
                   "eventTimeZoneOffset": "+01:00", "epcList": [ITEM], "action": "ADD",
                   "bizStep": "commissioning", "disposition": "active",
                   "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"}}),
            vec![Why::Direct],
            Authority::Authorised,
        ),
        (
            json!({"type": "AggregationEvent", "eventTime": "2024-03-01T09:00:00.000Z",
                   "eventTimeZoneOffset": "+01:00", "parentID": CASE, "childEPCs": [ITEM],
                   "action": "ADD", "bizStep": "packing", "disposition": "in_progress",
                   "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"}}),
            // It names the item, and the case it is in from then on.
            vec![
                Why::Direct,
                Why::Container {
                    container: CASE.to_owned(),
                },
            ],
            Authority::Authorised,
        ),
        (
            json!({"type": "ObjectEvent", "eventTime": "2024-03-02T10:00:00.000Z",
                   "eventTimeZoneOffset": "+01:00", "epcList": [CASE], "action": "OBSERVE",
                   "bizStep": "shipping", "disposition": "in_transit",
                   "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.1"}}),
            vec![Why::Container {
                container: CASE.to_owned(),
            }],
            Authority::Authorised,
        ),
        (
            json!({"type": "TransformationEvent", "eventTime": "2024-03-03T11:00:00.000Z",
                   "eventTimeZoneOffset": "+01:00", "inputEPCList": [ITEM],
                   "outputEPCList": [NEW_ITEM], "transformationID": TRANSFORMATION,
                   "bizStep": "repackaging",
                   "readPoint": {"id": "urn:epc:id:sgln:0614141.00888.0"}}),
            // It names the item, and the new item whose history starts with it.
            vec![
                Why::Direct,
                Why::Transformation {
                    via: NEW_ITEM.to_owned(),
                    transformation: Some(TRANSFORMATION.to_owned()),
                },
            ],
            Authority::Authorised,
        ),
        (
            json!({"type": "ObjectEvent", "eventTime": "2024-03-04T12:00:00.000Z",
                   "eventTimeZoneOffset": "+01:00", "epcList": [NEW_ITEM], "action": "OBSERVE",
                   "bizStep": "retail_selling", "disposition": "retail_sold",
                   "readPoint": {"id": "urn:epc:id:sgln:0614141.00999.0"}}),
            vec![Why::Transformation {
                via: NEW_ITEM.to_owned(),
                transformation: Some(TRANSFORMATION.to_owned()),
            }],
            Authority::Authorised,
        ),
    ];
    events
        .into_iter()
        .map(|(event, why, authority)| (serde_json::to_string(&event).unwrap(), why, authority))
        .collect()
}

pub(crate) struct Scenario {
    pub(crate) bundle: ProvenanceBundle,
    pub(crate) trusted: TrustedKeys,
    pub(crate) tree: MemoryTree,
    pub(crate) origin: Origin,
    pub(crate) log_key: NoteSignerKey,
}

impl Scenario {
    fn signed_checkpoint(&self, size: TreeSize) -> String {
        Checkpoint::new(self.origin.clone(), size, self.tree.root_at(size).unwrap())
            .sign(&[&self.log_key])
            .unwrap()
            .to_message()
    }
}

/// The history logged by one device batch, interleaved with other entries: leaves 2, 4, 5, 7
/// and 8 of a checkpoint of 10 leaves; a later checkpoint of 16 leaves is anchored.
pub(crate) fn scenario() -> Scenario {
    let history = history();
    let hashes: Vec<EventHash> = history
        .iter()
        .map(|(text, _, _)| {
            let event: Map<String, Value> = serde_json::from_str(text).unwrap();
            recompute_event_hash(&event, None).unwrap()
        })
        .collect();
    let device_key = DeviceSigningKey::from_seed(&[7; 32]);
    let device = DeviceId::parse("dock-door-1").unwrap();
    let batch = EventBatch::new(&hashes).unwrap();
    let statement = batch.statement(
        device.clone(),
        UnixMillis::from_millis(1_709_280_000_000),
        1,
    );
    let signature = statement.sign(&device_key);
    let other_entry = |i: u8| {
        LeafRecord::new(
            EventHash::from_bytes([i; 32]),
            &[i],
            UnixMillis::from_millis(1_709_280_000_000 + u64::from(i)),
            Attestation::Unattested {
                site: SiteId::parse("other-site").unwrap(),
            },
        )
        .unwrap()
        .encode()
    };

    let mut tree = MemoryTree::new();
    let mut logged = Vec::new();
    let mut others = 0u8;
    for (i, ((text, why, authority), hash)) in history.into_iter().zip(&hashes).enumerate() {
        while [2, 4, 5, 7, 8][i] > tree.size().get() {
            tree.push_record(&other_entry(others)).unwrap();
            others += 1;
        }
        let index = u32::try_from(i).unwrap();
        let record = LeafRecord::new(
            *hash,
            text.as_bytes(),
            UnixMillis::from_millis(1_709_280_000_500),
            Attestation::Device {
                device: device.clone(),
                statement: statement.hash(),
                index,
            },
        )
        .unwrap()
        .encode();
        let leaf = LeafIndex::new(tree.size().get()).unwrap();
        tree.push_record(&record).unwrap();
        logged.push((text, why, authority, *hash, record, leaf, index));
    }
    while tree.size().get() < 16 {
        tree.push_record(&other_entry(others)).unwrap();
        others += 1;
    }
    let (size, anchored_size) = (TreeSize::from(10), TreeSize::from(16));

    let origin = Origin::parse(LOG).unwrap();
    let log_key = NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[9; 32]);
    let sign = |n: TreeSize| {
        Checkpoint::new(origin.clone(), n, tree.root_at(n).unwrap())
            .sign(&[&log_key])
            .unwrap()
            .to_message()
    };
    let events = logged
        .into_iter()
        .map(
            |(event, why, authority, event_hash, leaf_record, leaf, index)| ProvenanceEvent {
                event,
                document_context: None,
                event_hash,
                leaf_record,
                device_attestation: Some(DeviceAttestation {
                    statement: statement.encode(),
                    public_key: device_key.public_key(),
                    signature: signature.clone(),
                    batch_path: batch.path(index).unwrap(),
                }),
                inclusion: prove_inclusion(&tree, leaf, size).unwrap(),
                why,
                reported_by: Some(OrganisationId::parse(BRAND).unwrap()),
                authority: Some(authority),
                withdrawn_by: None,
            },
        )
        .collect();
    let bundle = ProvenanceBundle {
        version: ProvenanceVersion::V1,
        item: ITEM.to_owned(),
        checkpoint: sign(size),
        events,
        anchored: Some(AnchoredCheckpoint {
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
        }),
        omitted: Vec::new(),
        index: None,
    };

    let participants = participants(&device_key);
    let log = TrustedLog::new(
        origin.clone(),
        NoteVerifiers::new(vec![log_key.verifier_key()]).unwrap(),
    );
    Scenario {
        bundle,
        trusted: TrustedKeys::new(log)
            .with_devices(participants.device_keys())
            .with_parties(participants.parties().unwrap()),
        tree,
        origin,
        log_key,
    }
}

/// The registry of the golden files: the brand owns company prefix 0614141, its plant's device
/// reported every event; a carrier is listed too (`tests/golden/participants.json`).
fn participants(device_key: &DeviceSigningKey) -> Participants {
    Participants {
        version: 1,
        organisations: vec![
            OrganisationEntry {
                id: OrganisationId::parse(BRAND).unwrap(),
                company_prefixes: vec!["0614141".to_owned()],
                delegates: Vec::new(),
                regulator: false,
                recipient_keys: Vec::new(),
            },
            OrganisationEntry {
                id: OrganisationId::parse("carrier").unwrap(),
                company_prefixes: vec!["0712345".to_owned()],
                delegates: Vec::new(),
                regulator: false,
                recipient_keys: Vec::new(),
            },
        ],
        sites: vec![SiteEntry {
            id: SiteId::parse("brand-plant-1").unwrap(),
            organisation: OrganisationId::parse(BRAND).unwrap(),
            locations: Vec::new(),
        }],
        devices: vec![DeviceEntry {
            id: DeviceId::parse("dock-door-1").unwrap(),
            site: SiteId::parse("brand-plant-1").unwrap(),
            public_keys: vec![device_key.public_key()],
        }],
    }
}

/// Asserts that every check passed but completeness, which nothing can prove yet.
fn assert_valid_but_unproven_complete(report: &ProvenanceReport) {
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:#?}");
    let skipped: Vec<CheckName> = std::iter::once(report.bundle_checks())
        .chain(report.events().iter().map(|e| &e.report))
        .flat_map(|r| r.checks().iter())
        .filter(|c| matches!(c.outcome, Outcome::Skipped(_)))
        .map(|c| c.name)
        .collect();
    assert_eq!(skipped, [CheckName::Complete], "{report:#?}");
}

/// Every failed check: `None` for the bundle's own checks, else the event's position.
fn failures(report: &ProvenanceReport) -> Vec<(Option<usize>, CheckName)> {
    let failed = |report: &Report| -> Vec<CheckName> {
        report
            .checks()
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .map(|c| c.name)
            .collect()
    };
    let mut all: Vec<(Option<usize>, CheckName)> = failed(report.bundle_checks())
        .into_iter()
        .map(|name| (None, name))
        .collect();
    for event in report.events() {
        all.extend(
            failed(&event.report)
                .into_iter()
                .map(|name| (Some(event.position), name)),
        );
    }
    all
}

/// Edits a bundle through its JSON form, as an attacker would.
fn edit(bundle: &ProvenanceBundle, change: impl FnOnce(&mut Value)) -> ProvenanceBundle {
    let mut json = serde_json::to_value(bundle).unwrap();
    change(&mut json);
    serde_json::from_value(json).unwrap()
}

fn flip_base64_byte(field: &mut Value, at: usize) {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine.decode(field.as_str().unwrap()).unwrap();
    bytes[at] ^= 0x01;
    *field = json!(engine.encode(bytes));
}

#[test]
fn the_provenance_bundle_has_its_golden_json_text() {
    let scenario = scenario();
    let text = serde_json::to_string_pretty(&scenario.bundle).unwrap() + "\n";
    assert_eq!(text, GOLDEN_PROVENANCE);
}

#[test]
fn the_golden_provenance_bundle_decodes_to_the_same_bundle_and_verifies() {
    let scenario = scenario();
    let decoded: ProvenanceBundle = serde_json::from_str(GOLDEN_PROVENANCE).unwrap();
    assert_eq!(decoded, scenario.bundle);
    let compact = serde_json::to_string(&decoded).unwrap();
    assert_eq!(
        serde_json::from_str::<ProvenanceBundle>(&compact).unwrap(),
        decoded
    );

    let report = verify_provenance(&decoded, &scenario.trusted);
    assert_valid_but_unproven_complete(&report);
    let bundle_checks: Vec<CheckName> = report
        .bundle_checks()
        .checks()
        .iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        bundle_checks,
        [
            CheckName::EventList,
            CheckName::OneCheckpoint,
            CheckName::Story,
            CheckName::Authority,
            CheckName::Complete
        ]
    );
    let leaves: Vec<(usize, u64)> = report
        .events()
        .iter()
        .map(|e| (e.position, e.leaf_index.get()))
        .collect();
    assert_eq!(leaves, [(0, 2), (1, 4), (2, 5), (3, 7), (4, 8)]);
    for event in report.events() {
        assert_eq!(event.report.checks().len(), 12, "{event:#?}");
    }
}

#[test]
fn the_json_has_the_documented_shape() {
    let json: Value = serde_json::from_str(GOLDEN_PROVENANCE).unwrap();
    let keys =
        |value: &Value| -> Vec<String> { value.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&json),
        ["version", "item", "checkpoint", "events", "anchored"]
    );
    assert_eq!(json["version"], json!(1));
    assert_eq!(json["item"], json!(ITEM));
    assert_eq!(
        keys(&json["events"][0]),
        [
            "event",
            "eventHash",
            "leafRecord",
            "deviceAttestation",
            "inclusion",
            "why",
            "reportedBy",
            "authority"
        ]
    );
    assert_eq!(
        json["events"][0]["authority"],
        json!({"kind": "authorised"})
    );
    assert_eq!(
        json["events"][4]["authority"],
        json!({"kind": "authorised"})
    );
    assert_eq!(json["events"][0]["reportedBy"], json!(BRAND));
    assert_eq!(json["events"][0]["why"], json!([{"kind": "direct"}]));
    assert_eq!(
        json["events"][2]["why"],
        json!([{"kind": "container", "container": CASE}])
    );
    assert_eq!(
        json["events"][1]["why"],
        json!([{"kind": "direct"}, {"kind": "container", "container": CASE}])
    );
    assert_eq!(
        json["events"][4]["why"],
        json!([{"kind": "transformation", "via": NEW_ITEM, "transformation": TRANSFORMATION}])
    );
}

#[test]
fn the_why_annotations_refuse_unknown_kinds_and_members() {
    for why in [
        json!({"kind": "sibling"}),
        json!({"kind": "container"}),
        json!({"kind": "direct", "extra": 1}),
        json!({"kind": "container", "container": CASE, "via": ITEM}),
        json!({"container": CASE}),
        json!({"kind": "transformation", "via": NEW_ITEM, "transformation": null}),
    ] {
        assert!(
            serde_json::from_value::<Why>(why.clone()).is_err(),
            "{why} must be refused"
        );
    }
    assert_eq!(
        serde_json::from_value::<Why>(json!({"kind": "transformation", "via": NEW_ITEM})).unwrap(),
        Why::Transformation {
            via: NEW_ITEM.to_owned(),
            transformation: None
        }
    );
}

#[test]
fn a_changed_event_field_fails_that_event_s_hash_and_bytes_checks_only() {
    let scenario = scenario();
    let bundle = edit(&scenario.bundle, |json| {
        let field = &mut json["events"][2]["event"];
        let text = field.as_str().unwrap().replace("in_transit", "in_progress");
        *field = json!(text);
    });
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(
        failures(&report),
        [
            (Some(2), CheckName::EventHash),
            (Some(2), CheckName::EventBytes)
        ]
    );
}

#[test]
fn a_changed_leaf_record_byte_fails_the_leaf_record_check() {
    let scenario = scenario();
    // Byte 1 is the first byte of the event hash the record binds.
    let bundle = edit(&scenario.bundle, |json| {
        flip_base64_byte(&mut json["events"][1]["leafRecord"], 1);
    });
    let report = verify_provenance(&bundle, &scenario.trusted);
    let failed = failures(&report);
    assert_eq!(failed[0], (Some(1), CheckName::LeafRecord), "{failed:?}");
    assert!(failed.contains(&(Some(1), CheckName::Inclusion)));
    assert!(failed.iter().all(|(event, _)| *event == Some(1)));
}

#[test]
fn a_changed_proof_hash_fails_that_event_s_inclusion() {
    let scenario = scenario();
    let bundle = edit(&scenario.bundle, |json| {
        flip_base64_byte(&mut json["events"][3]["inclusion"]["hashes"][0], 31);
    });
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(failures(&report), [(Some(3), CheckName::Inclusion)]);
}

#[test]
fn a_changed_checkpoint_signature_fails_every_event_s_checkpoint_check() {
    let scenario = scenario();
    let note = Note::parse(&scenario.bundle.checkpoint).unwrap();
    let forger = NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[10; 32]);
    // The log's key name with another key's id and signature: no trusted signature.
    let forged = Note::sign(note.text(), &[&forger]).unwrap().to_message();
    // The log's own key id with a corrupted signature: a trusted signature that fails.
    let corrupted = edit(&scenario.bundle, |json| {
        let note = json["checkpoint"].as_str().unwrap().to_owned();
        let (head, line) = note.trim_end().rsplit_once(' ').unwrap();
        let mut signature = json!(line);
        flip_base64_byte(&mut signature, 20);
        json["checkpoint"] = json!(format!("{head} {}\n", signature.as_str().unwrap()));
    });
    for bundle in [
        ProvenanceBundle {
            checkpoint: forged,
            ..scenario.bundle.clone()
        },
        corrupted,
    ] {
        let report = verify_provenance(&bundle, &scenario.trusted);
        assert_eq!(report.verdict(), Verdict::Invalid);
        assert!(matches!(
            report.bundle_checks().outcome(CheckName::OneCheckpoint),
            Some(Outcome::Skipped(_))
        ));
        let expected: Vec<(Option<usize>, CheckName)> =
            (0..5).map(|i| (Some(i), CheckName::Checkpoint)).collect();
        assert_eq!(failures(&report), expected);
    }
}

#[test]
fn a_changed_device_signature_fails_the_device_signature_check() {
    let scenario = scenario();
    let bundle = edit(&scenario.bundle, |json| {
        flip_base64_byte(
            &mut json["events"][0]["deviceAttestation"]["signature"]["signature"],
            10,
        );
    });
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(failures(&report), [(Some(0), CheckName::DeviceSignature)]);
}

#[test]
fn events_proved_against_different_checkpoint_sizes_fail_the_one_checkpoint_check() {
    let scenario = scenario();
    let mut bundle = scenario.bundle.clone();
    let event = &mut bundle.events[1];
    event.inclusion = prove_inclusion(
        &scenario.tree,
        event.inclusion.leaf_index(),
        TreeSize::from(12),
    )
    .unwrap();
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(
        failures(&report),
        [
            (None, CheckName::OneCheckpoint),
            (Some(1), CheckName::Inclusion)
        ]
    );
    match report.bundle_checks().outcome(CheckName::OneCheckpoint) {
        Some(Outcome::Failed(reason)) => {
            assert!(reason.contains("event 1 (leaf 4)"), "{reason}");
            assert!(reason.contains("12 leaves"), "{reason}");
        }
        other => panic!("expected a failed one checkpoint check, got {other:?}"),
    }
}

#[test]
fn a_duplicated_event_fails_the_event_list_check() {
    let scenario = scenario();
    let mut bundle = scenario.bundle.clone();
    bundle.events.push(bundle.events[1].clone());
    let report = verify_provenance(&bundle, &scenario.trusted);
    // The story has the entry once: the copy is no part of it.
    assert_eq!(
        failures(&report),
        [(None, CheckName::EventList), (None, CheckName::Story)]
    );
    match report.bundle_checks().outcome(CheckName::EventList) {
        Some(Outcome::Failed(reason)) => {
            assert!(reason.contains("events 1 and 5"), "{reason}");
        }
        other => panic!("expected a failed event list check, got {other:?}"),
    }
    // Each event is still reported, in the bundle's order.
    let positions: Vec<usize> = report.events().iter().map(|e| e.position).collect();
    assert_eq!(positions, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_bundle_without_events_is_invalid() {
    let scenario = scenario();
    let bundle = ProvenanceBundle {
        events: Vec::new(),
        ..scenario.bundle.clone()
    };
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(failures(&report), [(None, CheckName::EventList)]);
}

#[test]
fn events_are_reported_in_the_order_given_and_a_reordered_story_fails() {
    let scenario = scenario();
    let mut bundle = scenario.bundle.clone();
    bundle.events.reverse();
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(failures(&report), [(None, CheckName::Story)]);
    let reason = story_failure(&report);
    assert!(
        reason.contains("out of order") && reason.contains("event 4 (leaf 2) at position 0"),
        "{reason}"
    );
    let leaves: Vec<u64> = report.events().iter().map(|e| e.leaf_index.get()).collect();
    assert_eq!(leaves, [8, 7, 5, 4, 2]);
}

fn story_failure(report: &ProvenanceReport) -> String {
    match report.bundle_checks().outcome(CheckName::Story) {
        Some(Outcome::Failed(reason)) => reason.clone(),
        other => panic!("expected a failed story check, got {other:?}"),
    }
}

#[test]
fn a_relabelled_item_fails_the_story_naming_the_first_event_that_is_not_its() {
    let scenario = scenario();
    for item in ["urn:epc:id:sgtin:0614141.107346.9999", NEW_ITEM] {
        let bundle = ProvenanceBundle {
            item: item.to_owned(),
            ..scenario.bundle.clone()
        };
        let report = verify_provenance(&bundle, &scenario.trusted);
        assert_eq!(failures(&report), [(None, CheckName::Story)], "{item}");
        let reason = story_failure(&report);
        assert!(reason.contains(&format!("history of {item}")), "{reason}");
    }
    let bundle = ProvenanceBundle {
        item: "not an item".to_owned(),
        ..scenario.bundle.clone()
    };
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert!(story_failure(&report).starts_with("the bundle's item: "));
}

#[test]
fn another_item_s_event_mixed_in_fails_the_story() {
    let scenario = scenario();
    // A real logged entry of the tree (its proofs verify), but about another item.
    let other = json!({"type": "ObjectEvent", "eventTime": "2024-03-02T00:00:00.000Z",
        "eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sgtin:0614141.107346.7"],
        "action": "OBSERVE", "bizStep": "inspecting"});
    let mut bundle = scenario.bundle.clone();
    let mut stranger = bundle.events[2].clone();
    stranger.event = serde_json::to_string(&other).unwrap();
    bundle.events.insert(2, stranger);
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert!(failures(&report).contains(&(None, CheckName::Story)));
    let reason = story_failure(&report);
    assert!(
        reason.contains("event 2 (leaf 5) is not part of the history of"),
        "{reason}"
    );
}

#[test]
fn a_rewritten_reason_fails_the_story() {
    let scenario = scenario();
    let bundle = edit(&scenario.bundle, |json| {
        json["events"][2]["why"] = json!([{"kind": "direct"}]);
    });
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(failures(&report), [(None, CheckName::Story)]);
    let reason = story_failure(&report);
    assert!(
        reason.contains("event 2 (leaf 5): the bundle says it names the item; its events say it names its container"),
        "{reason}"
    );
}

#[test]
fn a_removed_event_leaves_completeness_unproven_never_valid() {
    let scenario = scenario();
    let mut bundle = scenario.bundle.clone();
    // The sale: nothing else depended on it, so what is left still tells a coherent story.
    bundle.events.pop();
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_valid_but_unproven_complete(&report);
}

#[test]
fn a_changed_authority_mark_or_reporter_fails_the_authority_check() {
    let scenario = scenario();
    let flipped = edit(&scenario.bundle, |json| {
        json["events"][4]["authority"] = json!({"kind": "observation"});
    });
    let report = verify_provenance(&flipped, &scenario.trusted);
    assert_eq!(failures(&report), [(None, CheckName::Authority)]);
    let relabelled = edit(&scenario.bundle, |json| {
        json["events"][0]["reportedBy"] = json!("carrier");
    });
    let report = verify_provenance(&relabelled, &scenario.trusted);
    assert_eq!(failures(&report), [(None, CheckName::Authority)]);
    match report.bundle_checks().outcome(CheckName::Authority) {
        Some(Outcome::Failed(reason)) => assert!(
            reason.contains("reported by carrier; the registry says brand"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_a_registry_the_authority_marks_are_taken_as_claimed_and_the_check_skipped() {
    let scenario = scenario();
    let trusted = TrustedKeys::new(scenario.trusted.log().clone());
    let report = verify_provenance(&scenario.bundle, &trusted);
    assert_eq!(failures(&report), []);
    assert!(matches!(
        report.bundle_checks().outcome(CheckName::Authority),
        Some(Outcome::Skipped(reason)) if reason == AUTHORITY_UNCHECKED
    ));
    // A packing claimed unauthorised shapes nothing: the case's shipping is then no part of the
    // history, and a bundle that still lists it fails the story.
    let unauthorised = edit(&scenario.bundle, |json| {
        json["events"][1]["authority"] = json!({"kind": "unauthorised", "reason": "forged"});
    });
    let report = verify_provenance(&unauthorised, &trusted);
    assert!(story_failure(&report).contains("event 2 (leaf 5) is not part of the history"));
}

#[test]
fn the_golden_registry_and_keys_are_published_beside_the_golden_files() {
    let scenario = scenario();
    let device_key = DeviceSigningKey::from_seed(&[7; 32]);
    let participants: Participants = serde_json::from_str(GOLDEN_PARTICIPANTS).unwrap();
    assert_eq!(participants, self::participants(&device_key));
    assert_eq!(
        serde_json::to_string_pretty(&participants).unwrap() + "\n",
        GOLDEN_PARTICIPANTS
    );
    assert_eq!(
        GOLDEN_LOG_KEY.trim(),
        scenario.log_key.verifier_key().to_string()
    );
    assert_eq!(
        GOLDEN_DEVICE_KEY,
        ledger::key_file::public_key_file_text(&device_key.public_key())
    );
}

#[test]
fn an_anchor_older_than_some_events_leaves_those_not_yet_anchored() {
    let scenario = scenario();
    let mut bundle = scenario.bundle.clone();
    let older = TreeSize::from(5);
    let anchored = bundle.anchored.as_mut().unwrap();
    anchored.checkpoint = scenario.signed_checkpoint(older);
    anchored.consistency = prove_consistency(&scenario.tree, older, TreeSize::from(10)).unwrap();
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete);
    let covered: Vec<bool> = report
        .events()
        .iter()
        .map(|e| e.report.outcome(CheckName::AnchorCoversEvent) == Some(&Outcome::Passed))
        .collect();
    assert_eq!(covered, [true, true, false, false, false]);
}

#[test]
fn provenance_bundles_of_other_versions_or_with_unknown_fields_are_refused() {
    let mut json: Value = serde_json::from_str(GOLDEN_PROVENANCE).unwrap();
    for version in [0, 3] {
        json["version"] = json!(version);
        let error = serde_json::from_value::<ProvenanceBundle>(json.clone())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!(
                "unknown provenance bundle version {version}: this software reads versions 1 and 2"
            )),
            "{error}"
        );
    }
    let mut json: Value = serde_json::from_str(GOLDEN_PROVENANCE).unwrap();
    json["events"][0]["extra"] = json!(true);
    assert!(serde_json::from_value::<ProvenanceBundle>(json).is_err());
}

#[test]
fn each_event_s_single_event_bundle_verifies_on_its_own() {
    let scenario = scenario();
    for position in 0..scenario.bundle.events.len() {
        let single = scenario.bundle.proof_bundle(position).unwrap();
        assert_eq!(single.checkpoint, scenario.bundle.checkpoint);
        let report = ledger::bundle::verify_bundle(&single, &scenario.trusted);
        assert_eq!(report.verdict(), Verdict::Valid, "{report:#?}");
    }
    assert!(scenario.bundle.proof_bundle(5).is_none());
}

fn tlog_proof_of(scenario: &Scenario, position: usize) -> TlogProof {
    let event = &scenario.bundle.events[position];
    TlogProof::of_leaf_record(
        event.leaf_record.clone(),
        &event.inclusion,
        scenario.bundle.checkpoint.clone(),
    )
}

#[test]
fn the_tlog_proof_of_an_entry_has_its_golden_text_and_verifies() {
    let scenario = scenario();
    let proof = tlog_proof_of(&scenario, 1);
    assert_eq!(proof.encode(), GOLDEN_TLOG_PROOF);
    let decoded = TlogProof::decode(GOLDEN_TLOG_PROOF).unwrap();
    assert_eq!(decoded, proof);
    let event_hash = scenario.bundle.events[1].event_hash;
    let report = verify_tlog_proof(&decoded, scenario.trusted.log(), Some(&event_hash));
    assert_eq!(report.verdict(), Verdict::Valid, "{report:#?}");
    let names: Vec<CheckName> = report.checks().iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            CheckName::LeafRecord,
            CheckName::Checkpoint,
            CheckName::Inclusion
        ]
    );
}

#[test]
fn a_tlog_proof_with_a_changed_hash_fails_inclusion() {
    let scenario = scenario();
    let proof = tlog_proof_of(&scenario, 1);
    let hash = proof.hashes()[1].to_base64();
    let mut changed = hash.clone().into_bytes();
    changed[0] = if changed[0] == b'A' { b'B' } else { b'A' };
    let text = GOLDEN_TLOG_PROOF.replacen(&hash, std::str::from_utf8(&changed).unwrap(), 1);
    let tampered = TlogProof::decode(&text).unwrap();
    let report = verify_tlog_proof(&tampered, scenario.trusted.log(), None);
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(matches!(
        report.outcome(CheckName::Inclusion),
        Some(Outcome::Failed(_))
    ));
    assert_eq!(
        report.outcome(CheckName::Checkpoint),
        Some(&Outcome::Passed)
    );
}

#[test]
fn a_tlog_proof_of_another_event_or_index_or_log_fails() {
    let scenario = scenario();
    let proof = tlog_proof_of(&scenario, 1);
    let other_event = scenario.bundle.events[0].event_hash;
    let report = verify_tlog_proof(&proof, scenario.trusted.log(), Some(&other_event));
    assert!(matches!(
        report.outcome(CheckName::LeafRecord),
        Some(Outcome::Failed(_))
    ));

    let moved = TlogProof::new(
        LeafIndex::from(5),
        proof.hashes().to_vec(),
        proof.checkpoint().to_owned(),
    )
    .with_extra(proof.extra().unwrap().to_vec());
    let report = verify_tlog_proof(&moved, scenario.trusted.log(), None);
    assert!(matches!(
        report.outcome(CheckName::Inclusion),
        Some(Outcome::Failed(_))
    ));

    let other_log = TrustedLog::new(
        scenario.origin.clone(),
        NoteVerifiers::new(vec![
            NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[10; 32]).verifier_key(),
        ])
        .unwrap(),
    );
    let report = verify_tlog_proof(&proof, &other_log, None);
    assert!(matches!(
        report.outcome(CheckName::Checkpoint),
        Some(Outcome::Failed(_))
    ));
    assert!(matches!(
        report.outcome(CheckName::Inclusion),
        Some(Outcome::Skipped(_))
    ));
}

#[test]
fn a_tlog_proof_without_a_leaf_record_fails_the_leaf_record_check() {
    let scenario = scenario();
    let proof = tlog_proof_of(&scenario, 1);
    let bare = TlogProof::new(
        proof.index(),
        proof.hashes().to_vec(),
        proof.checkpoint().to_owned(),
    );
    let report = verify_tlog_proof(&bare, scenario.trusted.log(), None);
    assert!(matches!(
        report.outcome(CheckName::LeafRecord),
        Some(Outcome::Failed(_))
    ));
    assert!(matches!(
        report.outcome(CheckName::Inclusion),
        Some(Outcome::Skipped(_))
    ));
}

// Version 2: the index proofs that show a bundle complete.

const GOLDEN_PROVENANCE_V2: &str = include_str!("../golden/provenance-v2.json");

/// The index keys of each of the first `size` entries of the scenario's log: the history's events
/// have theirs, the other entries (not JSON events) none.
pub(crate) fn entry_keys(scenario: &Scenario, size: u64) -> Vec<Vec<IndexKey>> {
    (0..size)
        .map(|leaf| {
            scenario
                .bundle
                .events
                .iter()
                .find(|event| event.inclusion.leaf_index().get() == leaf)
                .map(|event| keys_of_json(&event.event).unwrap())
                .unwrap_or_default()
        })
        .collect()
}

/// The head of `index` and the scenario's checkpoint of its 10 entries that commits to it,
/// signed.
pub(crate) fn committed(scenario: &Scenario, index: &MemoryIndex) -> (IndexHead, String) {
    let head = index.head().unwrap();
    let size = TreeSize::from(10);
    let checkpoint = Checkpoint::new(
        scenario.origin.clone(),
        size,
        scenario.tree.root_at(size).unwrap(),
    )
    .with_extensions(vec![IndexCommitment::of_head(&head).to_line()])
    .unwrap()
    .sign(&[&scenario.log_key])
    .unwrap()
    .to_message();
    (head, checkpoint)
}

/// The scenario's bundle as version 2: its checkpoint commits to an index of the log's 10 entries
/// built in two runs (`keys` gives each entry's keys), and it carries the proofs of the item, its
/// case and the item it was made into.
fn indexed_with(scenario: &Scenario, keys: &[Vec<IndexKey>]) -> ProvenanceBundle {
    let mut index = MemoryIndex::new();
    index.push_entries(&keys[..6]);
    if keys.len() > 6 {
        index.push_entries(&keys[6..]);
    }
    let (head, checkpoint) = committed(scenario, &index);
    let proofs = [ITEM, CASE, NEW_ITEM]
        .iter()
        .map(|id| {
            index
                .prove(&head, KeyRange::all(IndexKey::epc(id)))
                .unwrap()
                .encode()
        })
        .collect();
    ProvenanceBundle {
        version: ProvenanceVersion::V2,
        checkpoint,
        index: Some(IndexEvidence {
            head: head.encode(),
            proofs,
        }),
        ..scenario.bundle.clone()
    }
}

fn indexed(scenario: &Scenario) -> ProvenanceBundle {
    indexed_with(scenario, &entry_keys(scenario, 10))
}

fn complete_outcome(report: &ProvenanceReport) -> Outcome {
    report
        .bundle_checks()
        .outcome(CheckName::Complete)
        .unwrap()
        .clone()
}

#[test]
fn the_version_2_bundle_has_its_golden_json_text_and_documented_shape() {
    let scenario = scenario();
    let bundle = indexed(&scenario);
    let text = serde_json::to_string_pretty(&bundle).unwrap() + "\n";
    assert_eq!(text, GOLDEN_PROVENANCE_V2);
    let decoded: ProvenanceBundle = serde_json::from_str(GOLDEN_PROVENANCE_V2).unwrap();
    assert_eq!(decoded, bundle);
    let json: Value = serde_json::from_str(GOLDEN_PROVENANCE_V2).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "version",
            "item",
            "checkpoint",
            "events",
            "anchored",
            "index"
        ]
    );
    assert_eq!(json["version"], json!(2));
    let index: Vec<&String> = json["index"].as_object().unwrap().keys().collect();
    assert_eq!(index, ["head", "proofs"]);
    assert_eq!(json["index"]["proofs"].as_array().unwrap().len(), 3);
}

#[test]
fn a_bundle_with_its_index_proofs_is_complete_up_to_the_index_size() {
    let scenario = scenario();
    let bundle = indexed(&scenario);
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Valid, "{report:#?}");
    assert_eq!(complete_outcome(&report), Outcome::Passed);
    assert_eq!(report.complete_through(), Some(10));
    // Without index proofs, the same events are never called complete.
    let report = verify_provenance(&scenario.bundle, &scenario.trusted);
    assert_eq!(report.complete_through(), None);
    assert_eq!(
        complete_outcome(&report),
        Outcome::Skipped(ledger::bundle::COMPLETENESS_UNPROVEN.to_owned())
    );
}

#[test]
fn a_bundle_with_any_event_removed_fails_naming_the_missing_entry() {
    let scenario = scenario();
    let bundle = indexed(&scenario);
    for position in 0..bundle.events.len() {
        let mut trimmed = bundle.clone();
        let removed = trimmed.events.remove(position);
        let leaf = removed.inclusion.leaf_index().get();
        let report = verify_provenance(&trimmed, &scenario.trusted);
        assert_eq!(report.verdict(), Verdict::Invalid, "event {position}");
        match complete_outcome(&report) {
            Outcome::Failed(reason) => assert!(
                reason.contains(&format!("lists entry {leaf} under"))
                    && reason.contains("does not carry it"),
                "event {position}: {reason}"
            ),
            other => panic!("event {position}: {other:?}"),
        }
    }
    // The sale, the last event: what is left tells a coherent story, and only completeness fails.
    let mut trimmed = bundle.clone();
    trimmed.events.pop();
    let report = verify_provenance(&trimmed, &scenario.trusted);
    assert_eq!(failures(&report), [(None, CheckName::Complete)]);
    let Outcome::Failed(reason) = complete_outcome(&report) else {
        panic!("{report:#?}")
    };
    assert!(
        reason.starts_with(&format!(
            "the index lists entry 8 under {NEW_ITEM}, and the bundle does not carry it"
        )),
        "{reason}"
    );
}

#[test]
fn events_the_writer_says_it_left_out_leave_the_history_unproven_naming_them() {
    let scenario = scenario();
    let mut bundle = indexed(&scenario);
    bundle.events.pop();
    bundle.omitted = vec![ledger::history::Omitted {
        reporter: Some(OrganisationId::parse(BRAND).unwrap()),
        events: 1,
    }];
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:#?}");
    let Outcome::Skipped(reason) = complete_outcome(&report) else {
        panic!("{report:#?}")
    };
    assert!(
        reason.contains("left out 1 events") && reason.contains("leaves 8"),
        "{reason}"
    );
    // Declaring fewer than are missing does not cover the rest (the case's shipping, leaf 5).
    bundle.events.remove(2);
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert!(matches!(complete_outcome(&report), Outcome::Failed(_)));
}

#[test]
fn an_identifier_without_its_proof_is_reported_unproven() {
    let scenario = scenario();
    let mut bundle = indexed(&scenario);
    // The case's proof (the second) is dropped.
    bundle.index.as_mut().unwrap().proofs.remove(1);
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete);
    let Outcome::Skipped(reason) = complete_outcome(&report) else {
        panic!("{report:#?}")
    };
    assert!(
        reason.contains(&format!("every entry of {CASE}")),
        "{reason}"
    );
    // A proof of part of the entries covers nothing.
    let mut index = MemoryIndex::new();
    let keys = entry_keys(&scenario, 10);
    index.push_entries(&keys[..6]);
    index.push_entries(&keys[6..]);
    let head = index.head().unwrap();
    let partial = KeyRange {
        key: IndexKey::epc(CASE),
        from: 0,
        to: 5,
    };
    bundle
        .index
        .as_mut()
        .unwrap()
        .proofs
        .push(index.prove(&head, partial).unwrap().encode());
    let report = verify_provenance(&bundle, &scenario.trusted);
    let Outcome::Skipped(reason) = complete_outcome(&report) else {
        panic!("{report:#?}")
    };
    assert!(
        reason.contains(&format!("every entry of {CASE}")),
        "{reason}"
    );
}

#[test]
fn forged_index_evidence_fails() {
    let scenario = scenario();
    let bundle = indexed(&scenario);
    let failed = |bundle: &ProvenanceBundle| match complete_outcome(&verify_provenance(
        bundle,
        &scenario.trusted,
    )) {
        Outcome::Failed(reason) => reason,
        other => panic!("{other:?}"),
    };
    // A changed byte of a proof (its last: a hash of its last run's range proof); of the head.
    let mut forged = bundle.clone();
    let proof = &mut forged.index.as_mut().unwrap().proofs[0];
    let last = proof.len() - 1;
    proof[last] ^= 1;
    assert!(failed(&forged).starts_with("index proof 0"));
    // A byte of the first run's root (after the 13-byte header and the run's three counts).
    let mut forged = bundle.clone();
    forged.index.as_mut().unwrap().head[40] ^= 1;
    assert!(failed(&forged).contains("the checkpoint commits to"));
    let mut forged = bundle.clone();
    forged.index.as_mut().unwrap().head.pop();
    assert!(failed(&forged).starts_with("the index head: "));
    // The same proof twice.
    let mut forged = bundle.clone();
    let first = forged.index.as_ref().unwrap().proofs[0].clone();
    forged.index.as_mut().unwrap().proofs.push(first);
    assert!(failed(&forged).contains("a second proof"));
    // Proofs against a checkpoint that commits to no index.
    let forged = ProvenanceBundle {
        checkpoint: scenario.bundle.checkpoint.clone(),
        ..bundle.clone()
    };
    assert!(failed(&forged).contains("commits to no index"));
}

/// An operator that signs an index leaving out an entry (here the sale's keys) is caught by the
/// bundle that carries the entry, and by nothing less than recomputing the index from the log
/// when it serves a bundle without it.
#[test]
fn an_index_that_leaves_out_a_carried_event_fails() {
    let scenario = scenario();
    let mut keys = entry_keys(&scenario, 10);
    keys[8].clear();
    let bundle = indexed_with(&scenario, &keys);
    let report = verify_provenance(&bundle, &scenario.trusted);
    let Outcome::Failed(reason) = complete_outcome(&report) else {
        panic!("{report:#?}")
    };
    assert!(
        reason.contains("event 4 (leaf 8) names") && reason.contains("the index leaves out"),
        "{reason}"
    );
}

/// Whoever strips the index proofs from a bundle (or calls it version 1) cannot strip the index
/// line from the signed checkpoint: such a bundle fails, never reads as one written before the
/// index.
#[test]
fn a_bundle_stripped_of_its_index_proofs_fails() {
    let scenario = scenario();
    let bundle = indexed(&scenario);
    for version in [ProvenanceVersion::V2, ProvenanceVersion::V1] {
        let mut stripped = bundle.clone();
        stripped.version = version;
        stripped.index = None;
        stripped.events.pop();
        let report = verify_provenance(&stripped, &scenario.trusted);
        let Outcome::Failed(reason) = complete_outcome(&report) else {
            panic!("{report:#?}")
        };
        assert!(
            reason.starts_with(
                "the checkpoint commits to an index of 10 entries, and the bundle carries none"
            ),
            "{reason}"
        );
    }
}

/// An index that does not cover the checkpoint's whole tree proves the history complete only up
/// to its size: the verdict is never valid, and the entries it leaves unproven are counted.
#[test]
fn an_index_behind_its_checkpoint_leaves_the_last_entries_unproven() {
    let scenario = scenario();
    // The index covers 8 of the checkpoint's 10 entries: the sale (leaf 8) is after it.
    let keys = entry_keys(&scenario, 8);
    let bundle = indexed_with(&scenario, &keys);
    let report = verify_provenance(&bundle, &scenario.trusted);
    assert_eq!(report.verdict(), Verdict::Incomplete, "{report:#?}");
    assert_eq!(report.complete_through(), None);
    assert_eq!(
        complete_outcome(&report),
        Outcome::Skipped(
            "complete up to entry 8 only: the index does not cover the checkpoint's last 2 \
             entries, so nothing shows that none of them was left out"
                .to_owned()
        )
    );
    // Removing an event it covers still fails.
    let mut trimmed = bundle.clone();
    trimmed.events.remove(1);
    assert!(matches!(
        complete_outcome(&verify_provenance(&trimmed, &scenario.trusted)),
        Outcome::Failed(_)
    ));
}
