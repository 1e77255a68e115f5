//! `tagtrail verify`, run as a consumer or an auditor would run it: bundles of a log built in
//! memory with fixed keys, written to files, checked by the binary with no database and no network.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use epcis::EventHash;
use ledger::batch::{BatchStatement, DeviceSigningKey, EventBatch};
use ledger::bundle::{
    AnchorRef, AnchoredCheckpoint, ChainId, ContractAddress, DeviceAttestation, ProofBundle,
    ProvenanceBundle, ProvenanceEvent, ProvenanceVersion, TlogProof, TxHash, Why,
    recompute_event_hash,
};
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::history::Authority;
use ledger::key_file::public_key_file_text;
use ledger::note::{KeyName, Note, NoteSignerKey};
use ledger::record::{Attestation, LeafRecord};
use ledger::tree::{InclusionProof, MemoryTree, prove_consistency, prove_inclusion};
use ledger::{DeviceId, Hash, LeafIndex, OrganisationId, SiteId, TreeSize, UnixMillis};
use serde_json::{Map, Value, json};

const LOG: &str = "tagtrail.test/log";
const ITEM: &str = "urn:epc:id:sgtin:0614141.107346.2018";
const CASE: &str = "urn:epc:id:sscc:0614141.1234567890";
/// The organisation that owns company prefix 0614141.
const BRAND: &str = "brand";

/// A log of a few events of one item among other entries, with a fixed log key and device key.
struct Log {
    log_key: NoteSignerKey,
    device_key: DeviceSigningKey,
    /// One single-event proof bundle per event of the item.
    bundles: Vec<ProofBundle>,
    provenance: ProvenanceBundle,
    tree: MemoryTree,
}

impl Log {
    /// `attested`: the events came in one device-signed batch (else with a site token);
    /// `anchored`: the bundles carry a later, anchored checkpoint.
    fn new(attested: bool, anchored: bool) -> Self {
        let events = [
            (
                json!({"type": "ObjectEvent", "eventTime": "2024-03-01T08:00:00.000Z",
                       "eventTimeZoneOffset": "+01:00", "epcList": [ITEM], "action": "ADD",
                       "bizStep": "commissioning", "disposition": "active"}),
                vec![Why::Direct],
            ),
            (
                json!({"type": "AggregationEvent", "eventTime": "2024-03-01T09:00:00.000Z",
                       "eventTimeZoneOffset": "+01:00", "parentID": CASE, "childEPCs": [ITEM],
                       "action": "ADD", "bizStep": "packing"}),
                vec![
                    Why::Direct,
                    Why::Container {
                        container: CASE.to_owned(),
                    },
                ],
            ),
            (
                json!({"type": "ObjectEvent", "eventTime": "2024-03-02T10:00:00.000Z",
                       "eventTimeZoneOffset": "+01:00", "epcList": [CASE], "action": "OBSERVE",
                       "bizStep": "shipping", "disposition": "in_transit"}),
                vec![Why::Container {
                    container: CASE.to_owned(),
                }],
            ),
        ];
        let texts: Vec<String> = events
            .iter()
            .map(|(event, _)| serde_json::to_string(event).unwrap())
            .collect();
        let hashes: Vec<EventHash> = texts
            .iter()
            .map(|text| {
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

        let mut tree = MemoryTree::new();
        let other_entry = |i: u8| {
            LeafRecord::new(
                EventHash::from_bytes([i; 32]),
                &[i],
                UnixMillis::from_millis(u64::from(i)),
                Attestation::Unattested {
                    site: SiteId::parse("other-site").unwrap(),
                },
            )
            .unwrap()
            .encode()
        };
        tree.push_record(&other_entry(0)).unwrap();
        tree.push_record(&other_entry(1)).unwrap();
        let mut logged = Vec::new();
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
                UnixMillis::from_millis(1_709_280_000_500),
                attestation,
            )
            .unwrap()
            .encode();
            let leaf = LeafIndex::new(tree.size().get()).unwrap();
            tree.push_record(&record).unwrap();
            logged.push((record, leaf));
        }
        tree.push_record(&other_entry(2)).unwrap();
        let size = tree.size();
        for i in 3..9 {
            tree.push_record(&other_entry(i)).unwrap();
        }
        let anchored_size = tree.size();

        let log_key = NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[9; 32]);
        let origin = Origin::parse(LOG).unwrap();
        let sign = |n: TreeSize| {
            Checkpoint::new(origin.clone(), n, tree.root_at(n).unwrap())
                .sign(&[&log_key])
                .unwrap()
                .to_message()
        };
        let checkpoint = sign(size);
        let anchored = anchored.then(|| AnchoredCheckpoint {
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
        });

        let provenance_events: Vec<ProvenanceEvent> = events
            .into_iter()
            .zip(texts)
            .zip(logged)
            .enumerate()
            .map(
                |(i, (((_, why), event), (leaf_record, leaf)))| ProvenanceEvent {
                    event,
                    document_context: None,
                    event_hash: hashes[i],
                    leaf_record,
                    device_attestation: attested.then(|| DeviceAttestation {
                        statement: statement.encode(),
                        public_key: device_key.public_key(),
                        signature: signature.clone(),
                        batch_path: batch.path(u32::try_from(i).unwrap()).unwrap(),
                    }),
                    inclusion: prove_inclusion(&tree, leaf, size).unwrap(),
                    why,
                    // The brand owns the item's and the case's company prefix: it may
                    // commission, pack and ship them.
                    reported_by: Some(OrganisationId::parse(BRAND).unwrap()),
                    authority: Some(Authority::Authorised),
                    withdrawn_by: None,
                },
            )
            .collect();
        let provenance = ProvenanceBundle {
            version: ProvenanceVersion::V1,
            item: ITEM.to_owned(),
            checkpoint,
            events: provenance_events,
            anchored,
            omitted: Vec::new(),
            index: None,
        };
        let bundles = (0..provenance.events.len())
            .map(|i| provenance.proof_bundle(i).unwrap())
            .collect();
        Self {
            log_key,
            device_key,
            bundles,
            provenance,
            tree,
        }
    }

    fn verifier_key(&self) -> String {
        self.log_key.verifier_key().to_string()
    }

    /// The registry: the brand owns prefix 0614141 and its plant's device reported every event.
    fn participants_file(&self) -> String {
        serde_json::to_string_pretty(&json!({
            "version": 1,
            "organisations": [{"id": BRAND, "companyPrefixes": ["0614141"]},
                              {"id": "rival", "companyPrefixes": ["0712345"]}],
            "sites": [{"id": "brand-plant-1", "organisation": BRAND},
                      {"id": "rival-depot", "organisation": "rival"}],
            "devices": [{"id": "dock-door-1", "site": "brand-plant-1",
                         "publicKeys": [self.device_key.public_key()]}],
        }))
        .unwrap()
    }

    fn device_keys_file(&self) -> String {
        format!(
            "# devices of brand-plant-1\n\ndock-door-1 {}",
            public_key_file_text(&self.device_key.public_key())
        )
    }

    fn tlog_proof(&self, position: usize) -> TlogProof {
        let bundle = &self.bundles[position];
        TlogProof::of_leaf_record(
            bundle.leaf_record.clone(),
            &bundle.inclusion,
            bundle.checkpoint.clone(),
        )
    }
}

/// A directory of its own under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tagtrail-verify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn write_json(&self, name: &str, value: &impl Json) -> String {
        self.write(name, value.json())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the tests write as JSON files, as a service would serve it.
trait Json {
    fn json(&self) -> String;
}

macro_rules! json_files {
    ($($type:ty),*) => {
        $(impl Json for $type {
            fn json(&self) -> String {
                serde_json::to_string_pretty(self).unwrap()
            }
        })*
    };
}

json_files!(ProofBundle, ProvenanceBundle, Value);

fn tagtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagtrail"))
        .args(args)
        .output()
        .expect("the tagtrail binary runs")
}

/// Runs `tagtrail verify --verbose --log-key KEY [--device-keys FILE] FILE...`.
fn verify(log: &Log, dir: &TempDir, device_keys: bool, files: &[&str]) -> Output {
    let keys_file = dir.write("device-keys.txt", log.device_keys_file());
    let mut args = vec!["--verbose"];
    if device_keys {
        args.extend(["--device-keys", keys_file.as_str()]);
    }
    verify_with(log, &args, files)
}

/// Runs `tagtrail verify --log-key KEY ARGS... FILE...`.
fn verify_with(log: &Log, args: &[&str], files: &[&str]) -> Output {
    let key = log.verifier_key();
    let mut all = vec!["verify", "--log-key", key.as_str()];
    all.extend(args);
    all.extend(files);
    tagtrail(&all)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn last_line(output: &Output) -> String {
    stdout(output).lines().last().unwrap_or_default().to_owned()
}

/// Asserts the exit status, showing what the command printed when it differs.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

const BUNDLE_CHECKS: [&str; 12] = [
    "event hash",
    "leaf record",
    "event bytes",
    "batch statement",
    "device signature",
    "device key registered",
    "batch inclusion",
    "checkpoint",
    "inclusion",
    "anchored checkpoint",
    "consistency",
    "anchor covers event",
];

#[test]
fn a_valid_proof_bundle_prints_every_check_and_is_valid_only_once_its_anchors_are_allowed_unchecked()
 {
    let log = Log::new(true, true);
    let dir = TempDir::new("valid-bundle");
    let file = dir.write_json("bundle.json", &log.bundles[1]);
    let output = verify(&log, &dir, true, &[&file]);
    // Offline, the anchors are not looked up on chain (`verify_rpc.rs` does): said, and not 0.
    assert_exit(&output, 6);
    let printed = stdout(&output);
    for check in BUNDLE_CHECKS {
        assert!(
            printed.contains(&format!("\n  {check}: ok\n")),
            "{check}:\n{printed}"
        );
    }
    assert!(
        printed.starts_with(&format!(
            "{file}: proof bundle of event {}, leaf 3 in a tree of 6\n",
            log.bundles[1].event_hash
        )),
        "{printed}"
    );
    assert!(printed.contains(
        "\n  anchor on chain: skipped: no --rpc given: the anchors were not looked up on chain\n"
    ));
    assert!(printed.contains(
        "\n  chain agrees: skipped: no --rpc given: the chain was not searched for the log's anchors\n"
    ));
    assert!(printed.contains(&format!(
        "{file}: incomplete: anchors not looked up on chain (give --rpc); every other check passed\n"
    )));
    assert_eq!(
        last_line(&output),
        "incomplete: anchors not looked up on chain (give --rpc); nothing failed in 1 file"
    );

    let keys = dir.write("device-keys.txt", log.device_keys_file());
    let allowed = verify_with(
        &log,
        &["--device-keys", &keys, "--allow", "unchecked-anchors"],
        &[&file],
    );
    assert_exit(&allowed, 0);
    assert_eq!(
        stdout(&allowed),
        format!(
            "{file}: valid as allowed: 12 checks passed, 2 left undone as --allow accepts\n\
             valid as allowed: nothing failed in 1 file; checks left undone only for the reasons \
             --allow names\n"
        )
    );
}

#[test]
fn without_verbose_a_summary_line_per_file_is_printed() {
    let log = Log::new(true, true);
    let dir = TempDir::new("summary");
    let first = dir.write_json("first.json", &log.bundles[0]);
    let second = dir.write_json("second.json", &log.bundles[2]);
    let keys = dir.write("device-keys.txt", log.device_keys_file());
    let output = verify_with(&log, &["--device-keys", &keys], &[&first, &second]);
    assert_exit(&output, 6);
    let summary =
        "incomplete: anchors not looked up on chain (give --rpc); every other check passed";
    assert_eq!(
        stdout(&output),
        format!(
            "{first}: {summary}\n{second}: {summary}\nincomplete: anchors not looked up on chain \
             (give --rpc); nothing failed in 2 files\n"
        )
    );
}

#[test]
fn a_valid_provenance_bundle_prints_each_event_s_checks_and_says_what_it_cannot_prove() {
    let log = Log::new(true, true);
    let dir = TempDir::new("valid-provenance");
    let file = dir.write_json("history.json", &log.provenance);
    let output = verify(&log, &dir, true, &[&file]);
    assert_exit(&output, 6);
    let printed = stdout(&output);
    assert!(printed.contains("\n  event list: ok\n  one checkpoint: ok\n  story: ok\n"));
    assert!(printed.contains(
        "\n  authority: skipped: no registry of the parties was given: each event's reporter and \
         authority were taken as the bundle claims them\n"
    ));
    assert!(printed.contains("\n  complete: skipped: the bundle carries no index proofs"));
    for (position, leaf) in [(0, 2), (1, 3), (2, 4)] {
        assert!(
            printed.contains(&format!("\n  event {position} (leaf {leaf}): ")),
            "{printed}"
        );
    }
    assert!(printed.contains(&format!("why: names its container {CASE}\n")));
    for check in BUNDLE_CHECKS {
        assert_eq!(
            printed.matches(&format!("\n    {check}: ok\n")).count(),
            3,
            "{check}:\n{printed}"
        );
    }
    assert_eq!(
        last_line(&output),
        "incomplete: anchors not looked up on chain (give --rpc); the history or the export is not proven \
         complete; who had authority for each event not checked (give --participants); nothing \
         failed in 1 file"
    );

    // With the registry the marks are judged; what no evidence can show yet must be allowed.
    let participants = dir.write("participants.json", log.participants_file());
    let judged = verify_with(
        &log,
        &[
            "--verbose",
            "--participants",
            &participants,
            "--allow",
            "unchecked-anchors,incomplete-history",
        ],
        &[&file],
    );
    assert_exit(&judged, 0);
    assert!(stdout(&judged).contains("\n  authority: ok\n"));
}

#[test]
fn a_valid_tlog_proof_says_which_event_only_when_given_it() {
    let log = Log::new(true, true);
    let dir = TempDir::new("valid-tlog");
    let proof = dir.write("entry.tlog-proof", log.tlog_proof(2).encode());
    let output = verify(&log, &dir, true, &[&proof]);
    assert_exit(&output, 9);
    assert!(
        stdout(&output).contains(&format!(
            "{proof}: tlog-proof of the entry of event {}, leaf 4\n  event hash: skipped: no event \
             was given: the proof shows that an entry is in the log, not which event it is\n  leaf \
             record: ok\n  checkpoint: ok\n  inclusion: ok\n",
            log.bundles[2].event_hash
        )),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        last_line(&output),
        "incomplete: the event of a tlog-proof was not shown (give --event); nothing failed in 1 file"
    );

    let event = dir.write("event.json", &log.bundles[2].event);
    let shown = verify_with(&log, &["--verbose", "--event", &event], &[&proof]);
    assert_exit(&shown, 0);
    assert!(stdout(&shown).contains("\n  leaf record: ok\n"));
    assert!(stdout(&shown).contains("\n  event bytes: ok\n"));
    assert_eq!(last_line(&shown), "valid: every check of 1 file passed");

    let other = dir.write("other.json", &log.bundles[0].event);
    let wrong = verify_with(&log, &["--event", &other], &[&proof]);
    assert_exit(&wrong, 1);
    assert!(
        last_line(&wrong).starts_with(&format!(
            "FAILED: {proof}: leaf record: the leaf record binds"
        )),
        "{}",
        last_line(&wrong)
    );
}

#[test]
fn a_log_key_may_be_given_as_a_file() {
    let log = Log::new(true, true);
    let dir = TempDir::new("key-file");
    let key = dir.write("log.pub", format!("{}\n", log.verifier_key()));
    let file = dir.write_json("bundle.json", &log.bundles[0]);
    let output = tagtrail(&[
        "verify",
        "--log-key",
        &key,
        "--allow",
        "unchecked-anchors,unregistered-devices",
        &file,
    ]);
    assert_exit(&output, 0);
}

#[test]
fn without_an_anchor_or_device_keys_the_run_is_incomplete_with_the_lowest_status() {
    let log = Log::new(true, false);
    let dir = TempDir::new("incomplete");
    let file = dir.write_json("history.json", &log.provenance);
    let output = verify(&log, &dir, false, &[&file]);
    assert_exit(&output, 4);
    let printed = stdout(&output);
    assert!(
        printed.contains(
            "\n    anchored checkpoint: skipped: the bundle carries no anchored checkpoint\n"
        ),
        "{printed}"
    );
    assert!(
        printed
            .contains("\n    device key registered: skipped: no device key registry was given\n")
    );
    assert_eq!(
        last_line(&output),
        "incomplete: not anchored yet; anchors not looked up on chain (give --rpc); device keys \
         not checked (give --device-keys); the history or the export is not proven complete; who had authority \
         for each event not checked (give --participants); nothing failed in 1 file"
    );
    // Each reason has its own status, and --allow takes them away one by one.
    for (allowed, code) in [
        ("unanchored", 6),
        ("unanchored,unchecked-anchors", 8),
        ("unanchored,unchecked-anchors,unregistered-devices", 10),
        (
            "unanchored,unchecked-anchors,unregistered-devices,incomplete-history",
            11,
        ),
        (
            "unanchored,unchecked-anchors,unregistered-devices,incomplete-history,unchecked-authority",
            0,
        ),
    ] {
        let output = verify_with(&log, &["--allow", allowed], &[&file]);
        assert_exit(&output, code);
    }
}

#[test]
fn an_unknown_allow_reason_is_a_usage_error() {
    let log = Log::new(true, true);
    let dir = TempDir::new("allow-unknown");
    let file = dir.write_json("bundle.json", &log.bundles[0]);
    let output = verify_with(&log, &["--allow", "everything"], &[&file]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("everything"),
        "{}",
        stderr(&output)
    );
    // The evidence's own gaps cannot be allowed away.
    let output = verify_with(&log, &["--allow", "evidence"], &[&file]);
    assert_exit(&output, 2);
}

#[test]
fn an_event_no_device_signed_exits_3_saying_so() {
    let log = Log::new(false, true);
    let dir = TempDir::new("unattested");
    let file = dir.write_json("bundle.json", &log.bundles[0]);
    let output = verify(&log, &dir, true, &[&file]);
    assert_exit(&output, 3);
    assert_eq!(
        last_line(&output),
        format!(
            "incomplete: {file}: batch statement not checked: unattested: accepted with the API \
             token of site brand-plant-1; no device signed it; anchors not looked up on chain \
             (give --rpc); nothing failed in 1 file"
        )
    );
}

/// Forged provenance bundles, as a participant who controls what a consumer is handed would make
/// them: each must fail, naming the check it breaks, or at least never read as valid.
#[test]
fn forged_provenance_bundles_fail_the_story_or_are_never_valid() {
    let log = Log::new(true, true);
    let dir = TempDir::new("forged");
    let participants = dir.write("participants.json", log.participants_file());
    let allow = "unchecked-anchors,incomplete-history";
    let run = |bundle: &ProvenanceBundle, name: &str| {
        let file = dir.write_json(name, bundle);
        let output = verify_with(
            &log,
            &["--participants", &participants, "--allow", allow],
            &[&file],
        );
        (file, output)
    };
    let (_, honest) = run(&log.provenance, "honest.json");
    assert_exit(&honest, 0);

    let mut relabelled = log.provenance.clone();
    relabelled.item = "urn:epc:id:sgtin:0614141.107346.9999".to_owned();
    let mut mixed = log.provenance.clone();
    mixed.events[2].why = vec![Why::Direct];
    let mut reordered = log.provenance.clone();
    reordered.events.swap(0, 1);
    let mut marked = log.provenance.clone();
    marked.events[1].authority = Some(Authority::Observation);
    for (what, bundle, check) in [
        ("relabelled item", relabelled, "story"),
        ("rewritten why", mixed, "story"),
        ("reordered events", reordered, "story"),
        ("changed authority mark", marked, "authority"),
    ] {
        let (file, output) = run(&bundle, "forged.json");
        assert_exit(&output, 1);
        assert!(
            last_line(&output).starts_with(&format!("FAILED: {file}: {check}: ")),
            "{what}: {}",
            last_line(&output)
        );
    }

    // The last event cut off: nothing shows it (until the log commits to an index), so the run
    // says the history is not proven complete, and only an explicit --allow makes it 0.
    let mut trimmed = log.provenance.clone();
    trimmed.events.pop();
    let file = dir.write_json("trimmed.json", &trimmed);
    let output = verify_with(
        &log,
        &[
            "--participants",
            &participants,
            "--allow",
            "unchecked-anchors",
        ],
        &[&file],
    );
    assert_exit(&output, 10);
    assert!(last_line(&output).contains("the history or the export is not proven complete"));

    // Stripped of its anchors: not anchored, never valid.
    let mut stripped = log.provenance.clone();
    stripped.anchored = None;
    let (_, output) = run(&stripped, "stripped.json");
    assert_exit(&output, 4);
}

#[test]
fn a_statement_re_signed_with_another_key_is_never_valid() {
    let log = Log::new(true, true);
    let dir = TempDir::new("re-signed");
    let mut bundle = log.bundles[0].clone();
    let forger = DeviceSigningKey::from_seed(&[8; 32]);
    let attestation = bundle.device_attestation.as_mut().unwrap();
    let statement = BatchStatement::decode(&attestation.statement).unwrap();
    attestation.signature = statement.sign(&forger);
    attestation.public_key = forger.public_key();
    let file = dir.write_json("re-signed.json", &bundle);
    // The key the bundle carries is not evidence: without the registry, device keys not checked.
    let output = verify_with(&log, &["--allow", "unchecked-anchors"], &[&file]);
    assert_exit(&output, 8);
    assert!(last_line(&output).contains("device keys not checked (give --device-keys)"));
    let keys = dir.write("device-keys.txt", log.device_keys_file());
    let output = verify_with(&log, &["--device-keys", &keys], &[&file]);
    assert_exit(&output, 1);
    assert!(
        last_line(&output).contains("device key registered: the key is not registered"),
        "{}",
        last_line(&output)
    );
}

/// Every alteration, with the check the last line must name.
#[test]
fn every_alteration_exits_1_naming_the_check_that_fails() {
    let log = Log::new(true, true);
    let dir = TempDir::new("altered");
    let original = &log.bundles[1];

    let mut changed_event = original.clone();
    changed_event.event = changed_event.event.replace("packing", "unpacking");

    let mut changed_record = original.clone();
    // Byte 1 starts the event hash the record binds.
    changed_record.leaf_record[1] ^= 0x01;

    let mut changed_proof = original.clone();
    let mut hashes = original.inclusion.hashes().to_vec();
    hashes[0] = flipped(&hashes[0]);
    changed_proof.inclusion = InclusionProof::new(
        original.inclusion.leaf_index(),
        original.inclusion.tree_size(),
        hashes,
    );

    // The log's own signature of another checkpoint under this checkpoint's text.
    let mut changed_checkpoint = original.clone();
    let text = Note::parse(&original.checkpoint).unwrap().text().to_owned();
    let other = original.anchored.as_ref().unwrap().checkpoint.as_str();
    let signature = &other[other.rfind("\n\n").unwrap() + 2..];
    changed_checkpoint.checkpoint = format!("{text}\n{signature}");

    let mut changed_device_signature = original.clone();
    let attestation = changed_device_signature
        .device_attestation
        .as_mut()
        .unwrap();
    let statement = BatchStatement::decode(&attestation.statement).unwrap();
    attestation.signature = statement.sign(&DeviceSigningKey::from_seed(&[8; 32]));

    let mut duplicated = log.provenance.clone();
    duplicated.events.push(duplicated.events[0].clone());

    let mut two_sizes = log.provenance.clone();
    let event = &mut two_sizes.events[2];
    event.inclusion =
        prove_inclusion(&log.tree, event.inclusion.leaf_index(), TreeSize::from(7)).unwrap();

    let proof = log.tlog_proof(1);
    let mut proof_hashes = proof.hashes().to_vec();
    proof_hashes[1] = flipped(&proof_hashes[1]);
    let changed_tlog_proof =
        TlogProof::new(proof.index(), proof_hashes, proof.checkpoint().to_owned())
            .with_extra(proof.extra().unwrap().to_vec());

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "event field",
            dir.write_json("event.json", &changed_event),
            "event hash",
        ),
        (
            "leaf record",
            dir.write_json("record.json", &changed_record),
            "leaf record",
        ),
        (
            "proof hash",
            dir.write_json("proof.json", &changed_proof),
            "inclusion",
        ),
        (
            "checkpoint signature",
            dir.write_json("checkpoint.json", &changed_checkpoint),
            "checkpoint",
        ),
        (
            "device signature",
            dir.write_json("device.json", &changed_device_signature),
            "device signature",
        ),
        (
            "duplicated event",
            dir.write_json("duplicated.json", &duplicated),
            "event list",
        ),
        (
            "proofs for two tree sizes",
            dir.write_json("two-sizes.json", &two_sizes),
            "one checkpoint",
        ),
        (
            "tlog-proof hash",
            dir.write("changed.tlog-proof", changed_tlog_proof.encode()),
            "inclusion",
        ),
    ];
    for (what, file, check) in cases {
        let output = verify(&log, &dir, true, &[&file]);
        assert_exit(&output, 1);
        let last = last_line(&output);
        assert!(
            last.starts_with(&format!("FAILED: {file}: {check}: ")),
            "{what}: {last}"
        );
        assert!(
            stdout(&output).contains(&format!("{check}: FAILED: ")),
            "{what}: {}",
            stdout(&output)
        );
    }

    // Among several files, the first failure is named.
    let good = dir.write_json("good.json", &log.bundles[0]);
    let changed = dir.write_json("proof.json", &changed_proof);
    let output = verify(&log, &dir, true, &[&good, &changed]);
    assert_exit(&output, 1);
    assert!(
        last_line(&output).starts_with(&format!("FAILED: {changed}: inclusion: ")),
        "{}",
        last_line(&output)
    );
}

#[test]
fn a_provenance_failure_names_the_event() {
    let log = Log::new(true, true);
    let dir = TempDir::new("provenance-event");
    let mut history = log.provenance.clone();
    history.events[2].event = history.events[2].event.replace("in_transit", "in_progress");
    let file = dir.write_json("history.json", &history);
    let output = verify(&log, &dir, true, &[&file]);
    assert_exit(&output, 1);
    assert!(
        last_line(&output).starts_with(&format!("FAILED: {file}: event 2 (leaf 4): event hash: ")),
        "{}",
        last_line(&output)
    );
}

#[test]
fn a_wrong_log_key_or_origin_fails_the_checkpoint_check() {
    let log = Log::new(true, true);
    let dir = TempDir::new("wrong-key");
    let file = dir.write_json("bundle.json", &log.bundles[0]);
    let other = NoteSignerKey::from_seed(KeyName::parse(LOG).unwrap(), &[10; 32])
        .verifier_key()
        .to_string();
    let output = tagtrail(&["verify", "--log-key", &other, &file]);
    assert_exit(&output, 1);
    assert!(
        last_line(&output).starts_with(&format!(
            "FAILED: {file}: checkpoint: the checkpoint does not verify: "
        )),
        "{}",
        last_line(&output)
    );

    let key = log.verifier_key();
    let output = tagtrail(&[
        "verify",
        "--log-key",
        &key,
        "--origin",
        "tagtrail.test/other-log",
        &file,
    ]);
    assert_exit(&output, 1);
    assert!(
        last_line(&output).contains("checkpoint: the checkpoint does not verify: the checkpoint is for log tagtrail.test/log, expected tagtrail.test/other-log"),
        "{}",
        last_line(&output)
    );
}

#[test]
fn unreadable_or_unknown_files_exit_2_naming_the_file() {
    let log = Log::new(true, true);
    let dir = TempDir::new("unreadable");
    let missing = dir.0.join("missing.json").to_str().unwrap().to_owned();
    let not_json = dir.write("notes.txt", "these are not the droids\n");
    let mut json = serde_json::to_value(&log.bundles[0]).unwrap();
    json["version"] = json!(3);
    let bundle_v3 = dir.write_json("bundle-v3.json", &json);
    let mut json = serde_json::to_value(&log.provenance).unwrap();
    json["version"] = json!(3);
    let provenance_v3 = dir.write_json("history-v3.json", &json);
    let tlog_v2 = dir.write(
        "entry.tlog-proof",
        log.tlog_proof(0)
            .encode()
            .replacen("tlog-proof@v1", "tlog-proof@v2", 1),
    );
    let other_json = dir.write("other.json", "{\"hello\": \"world\"}");
    for (file, message) in [
        (missing.as_str(), "Failed to read"),
        (not_json.as_str(), "neither JSON"),
        (
            bundle_v3.as_str(),
            "unknown proof bundle version 3: this software reads version 2",
        ),
        (
            provenance_v3.as_str(),
            "unknown provenance bundle version 3: this software reads versions 1 and 2",
        ),
        (tlog_v2.as_str(), "unknown tlog-proof version `v2`"),
        (
            other_json.as_str(),
            "neither a proof bundle (with `event` and `eventHash`), a provenance bundle (with \
             `events`) nor an export (with `format`: `tagtrail-export`)",
        ),
    ] {
        let output = verify(&log, &dir, false, &[file]);
        assert_exit(&output, 2);
        let error = stderr(&output);
        assert!(error.starts_with("error: "), "{error}");
        assert!(error.contains(file), "{file}: {error}");
        assert!(error.contains(message), "{file}: {error}");
        assert!(stdout(&output).is_empty(), "nothing is checked");
    }
}

#[test]
fn usage_errors_exit_2() {
    let log = Log::new(true, true);
    let dir = TempDir::new("usage");
    let file = dir.write_json("bundle.json", &log.bundles[0]);
    let key = log.verifier_key();

    let without_key = tagtrail(&["verify", &file]);
    assert_exit(&without_key, 2);
    assert!(stderr(&without_key).contains("--log-key"));

    let bad_key = tagtrail(&["verify", "--log-key", "not+a+key", &file]);
    assert_exit(&bad_key, 2);
    assert!(stderr(&bad_key).contains("Invalid --log-key not+a+key"));

    let other_name =
        NoteSignerKey::from_seed(KeyName::parse("other.example/log").unwrap(), &[1; 32])
            .verifier_key()
            .to_string();
    let two_names = tagtrail(&["verify", "--log-key", &key, "--log-key", &other_name, &file]);
    assert_exit(&two_names, 2);
    assert!(
        stderr(&two_names).contains("--origin"),
        "{}",
        stderr(&two_names)
    );

    let bad_devices = dir.write("devices.txt", "dock-door-1 not-a-key\n");
    let output = tagtrail(&[
        "verify",
        "--log-key",
        &key,
        "--device-keys",
        &bad_devices,
        &file,
    ]);
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains(&format!("{bad_devices} line 1")),
        "{}",
        stderr(&output)
    );
}

fn flipped(hash: &Hash) -> Hash {
    let mut bytes = *hash.as_bytes();
    bytes[0] ^= 0x01;
    Hash::from_bytes(bytes)
}

/// The golden version 2 provenance bundle of the ledger crate (`ledger/tests/golden/`): its index
/// proofs show the history complete, and a copy with any event removed fails naming the entry the
/// index lists and the bundle no longer carries.
#[test]
fn a_bundle_with_index_proofs_is_complete_and_a_trimmed_copy_fails_naming_the_missing_entry() {
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../ledger/tests/golden/");
    let key = format!("{golden}log-key.pub");
    let participants = format!("{golden}participants.json");
    let bundle = format!("{golden}provenance-v2.json");
    let run = |file: &str| {
        tagtrail(&[
            "verify",
            "--log-key",
            &key,
            "--participants",
            &participants,
            "--allow",
            "unchecked-anchors",
            "--verbose",
            file,
        ])
    };
    let complete = run(&bundle);
    assert_exit(&complete, 0);
    let printed = stdout(&complete);
    assert!(printed.contains("\n  complete: ok\n"), "{printed}");
    assert!(
        printed.contains(
            "the index proofs show every event of the history among the log's first 10 entries \
             in the bundle"
        ),
        "{printed}"
    );
    assert!(
        printed.contains("; the history is complete up to entry 10 of the log\n"),
        "{printed}"
    );

    // The sale removed: what is left tells a coherent story; the index says what is missing.
    let dir = TempDir::new("trimmed-provenance");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    json["events"].as_array_mut().unwrap().pop();
    let trimmed = dir.write("trimmed.json", serde_json::to_string(&json).unwrap());
    let output = run(&trimmed);
    assert_exit(&output, 1);
    assert_eq!(
        last_line(&output),
        format!(
            "FAILED: {trimmed}: complete: the index lists entry 8 under \
             urn:epc:id:sgtin:0614141.107346.9001, and the bundle does not carry it: an event of \
             the history was left out (1 missing in all: leaves 8)"
        )
    );
}

#[test]
fn an_export_verifies_complete_and_one_with_an_event_removed_or_a_cell_altered_fails() {
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../ledger/tests/golden/");
    let key = format!("{golden}log-key.pub");
    let participants = format!("{golden}participants.json");
    let export = format!("{golden}export-v1.json");
    let export_key = format!("{golden}export-key.pub");
    let run = |file: &str| {
        tagtrail(&[
            "verify",
            "--log-key",
            &key,
            "--export-key",
            &export_key,
            "--participants",
            &participants,
            "--allow",
            "unchecked-anchors",
            "--verbose",
            file,
        ])
    };
    // Without the export service's key, who made it is not checked: exit 12.
    let unsigned = tagtrail(&[
        "verify",
        "--log-key",
        &key,
        "--participants",
        &participants,
        "--allow",
        "unchecked-anchors",
        &export,
    ]);
    assert_exit(&unsigned, 12);
    assert!(
        last_line(&unsigned).contains("who made the export not checked (give --export-key"),
        "{}",
        last_line(&unsigned)
    );
    let complete = run(&export);
    assert_exit(&complete, 0);
    let printed = stdout(&complete);
    assert!(printed.contains("\n  manifest: ok\n"), "{printed}");
    assert!(
        printed.contains(
            "  made by the export key trace.test/exports+85be9cb1 at 2026-11-25T12:00:00Z\n"
        ),
        "{printed}"
    );
    assert!(
        printed.contains(
            "export of the query MATCH_anyEPC=urn:epc:id:sgtin:0614141.107346.2018, 3 events \
             (3 matching)"
        ),
        "{printed}"
    );
    for check in ["query", "complete", "spreadsheet"] {
        assert!(printed.contains(&format!("\n  {check}: ok\n")), "{printed}");
    }
    assert!(
        printed.contains("; the export is complete up to entry 10 of the log\n"),
        "{printed}"
    );

    let dir = TempDir::new("altered-export");
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    // The transformation left out (and the spreadsheet made without it): the index says so.
    let mut json = original.clone();
    json["events"].as_array_mut().unwrap().pop();
    let trimmed = dir.write("trimmed.json", serde_json::to_string(&json).unwrap());
    let output = run(&trimmed);
    assert_exit(&output, 1);
    assert_eq!(
        last_line(&output),
        format!(
            "FAILED: {trimmed}: complete: the index lists entry 7 under \
             https://id.gs1.org/01/10614141073464/21/2018, and the export does not carry it: an \
             event the query may match was left out"
        )
    );
    // A quantity changed in the spreadsheet.
    let mut json = original.clone();
    let sheet = json["fsma204"]
        .as_str()
        .unwrap()
        .replacen(",1,EA,", ",9,EA,", 1);
    json["fsma204"] = Value::String(sheet);
    let altered = dir.write("altered.json", serde_json::to_string(&json).unwrap());
    let output = run(&altered);
    assert_exit(&output, 1);
    assert_eq!(
        last_line(&output),
        format!(
            "FAILED: {altered}: spreadsheet: the FSMA 204 spreadsheet is not the one the matching \
             events give: line 2 differs"
        )
    );
    // Not an export of this format.
    let mut json = original;
    json["format"] = Value::String("tagtrail-export-2".to_owned());
    let other = dir.write("other.json", serde_json::to_string(&json).unwrap());
    let output = run(&other);
    assert_exit(&output, 2);
}

#[test]
fn a_trace_export_is_recomputed_with_the_participants_and_not_called_valid_without() {
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/../ledger/tests/golden/");
    let key = format!("{golden}log-key.pub");
    let participants = format!("{golden}participants.json");
    let export = format!("{golden}export-trace-v1.json");
    let export_key = format!("{golden}export-key.pub");
    let mut args = vec![
        "verify",
        "--log-key",
        &key,
        "--export-key",
        &export_key,
        "--allow",
        "unchecked-anchors",
    ];
    // Without the participants the trace is not recomputed: exit 3, the reason said.
    let mut unjudged = args.clone();
    unjudged.push(&export);
    let unjudged = tagtrail(&unjudged);
    assert_exit(&unjudged, 3);
    assert!(
        last_line(&unjudged).contains("trace not checked: no registry of the parties was given"),
        "{}",
        last_line(&unjudged)
    );
    args.extend(["--participants", &participants, "--verbose", &export]);
    let complete = tagtrail(&args);
    assert_exit(&complete, 0);
    let printed = stdout(&complete);
    assert!(
        printed.contains(
            "export of the forward trace of urn:epc:id:sgtin:0614141.107346.2018, 5 events (5 \
             read by the trace)"
        ),
        "{printed}"
    );
    for check in ["trace", "complete", "spreadsheet", "manifest"] {
        assert!(printed.contains(&format!("\n  {check}: ok\n")), "{printed}");
    }
    assert!(
        printed.contains(
            "the index proofs show every event the trace reads among the log's first 10 entries"
        ),
        "{printed}"
    );

    // The shipping event left out: the trace no longer follows from the events.
    let dir = TempDir::new("altered-trace-export");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    json["events"].as_array_mut().unwrap().remove(2);
    let trimmed = dir.write("trimmed.json", serde_json::to_string(&json).unwrap());
    let mut failing = args.clone();
    *failing.last_mut().unwrap() = &trimmed;
    let output = tagtrail(&failing);
    assert_exit(&output, 1);
    assert!(
        last_line(&output).contains("trace: the export's trace is not the one its events give"),
        "{}",
        last_line(&output)
    );
}
