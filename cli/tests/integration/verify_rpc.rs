//! `tagtrail verify --rpc`: bundles of a real log in PostgreSQL whose checkpoints the anchor worker
//! anchored on a real local chain (anvil) of the test's own, assembled from the store as trace-api
//! assembles them, checked by the binary against the chain: each anchor's transaction, block,
//! commitment, signature and depth, and the bundle's stored block hash and receipt proof; altered
//! anchors fail naming the check, a node of another chain skips them, a dead node exits 2.

use crate::run::{stdout_of, text};
use std::process::{Command, Output};
use std::sync::Arc;

use anchor::testing::Anvil;
use anchor::worker::Progress;
use ledger::batch::EventBatch;
use ledger::bundle::{
    AnchorRef, AnchoredCheckpoint, BundleVersion, DeviceAttestation, ProofBundle, ProvenanceBundle,
    ProvenanceEvent, ProvenanceVersion, TxHash, Why,
};
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::key_file::public_key_file_text;
use ledger::note::{KeyName, Note, NoteSignerKey};
use ledger::record::Attestation;
use ledger::tree::{MemoryTree, prove_inclusion};
use ledger::{LeafIndex, RootHash, TreeSize};
use ledger_store::testing::{EventFactory, TestDatabase};
use ledger_store::{Checkpointer, Reader, Sequencer, Writer};

/// The log every test anchors.
const ORIGIN: &str = "tagtrail.test/verified-on-chain";
/// The device that reported every event.
const DEVICE: &str = "dock-door-1";
/// The event the bundles prove: in the first batch, so both anchors cover it.
const LEAF: u64 = 5;

/// The log's checkpoint key.
fn log_key() -> NoteSignerKey {
    NoteSignerKey::from_seed(KeyName::parse(ORIGIN).unwrap(), &[4; 32])
}

/// A log of 360 entries in three device batches, with signed checkpoints at 120, 240 and 360;
/// the anchor worker anchored the checkpoint of 240 (when it was the newest), then that of 360,
/// each confirmed at one block on a chain of the test's own.
struct AnchoredLog {
    anvil: Anvil,
    // Dropped after the store's connections: the database goes with it.
    reader: Reader,
    device: EventFactory,
    _db: TestDatabase,
    dir: TempDir,
}

impl AnchoredLog {
    async fn create(name: &str) -> Self {
        let anvil = Anvil::start();
        let db = TestDatabase::create().await.unwrap();
        let store = Writer::connect(db.url()).unwrap();
        let checkpointer =
            Checkpointer::new(&store, Origin::parse(ORIGIN).unwrap(), Arc::new(log_key()));
        let sequencer = Sequencer::start(&store);
        let mut device = EventFactory::new(DEVICE, 1);
        for _ in 0..2 {
            sequencer.append(device.next_batch(120)).await.unwrap();
            checkpointer.sign_latest().await.unwrap();
        }

        let worker = anchor::testing::started_worker(&anvil, db.url()).await;
        let anchor_newest = |size: u64| {
            let worker = &worker;
            let anvil = &anvil;
            async move {
                match worker.tick().await.unwrap() {
                    // Mined soon after it was sent, not always before: wait for it.
                    Progress::Sent { tree_size, tx_hash } if tree_size == size => {
                        anvil.mined(&tx_hash);
                    }
                    other => panic!("the checkpoint of {size} is sent, not {other:?}"),
                }
                assert_eq!(
                    worker.tick().await.unwrap(),
                    Progress::Confirmed { tree_size: size }
                );
            }
        };
        anchor_newest(240).await;
        sequencer.append(device.next_batch(120)).await.unwrap();
        checkpointer.sign_latest().await.unwrap();
        sequencer.shutdown().await;
        anchor_newest(360).await;
        Self {
            anvil,
            reader: Reader::connect(db.url()).unwrap(),
            device,
            _db: db,
            dir: TempDir::new(name),
        }
    }

    /// The single-event bundle of entry `leaf` proved to the checkpoint of `size`, with the
    /// newest anchored checkpoint within that tree, as trace-api serves it.
    async fn bundle(&self, leaf: u64, size: u64) -> ProofBundle {
        let anchored = self.anchored(TreeSize::new(size).unwrap()).await;
        proof_bundle(&self.reader, &self.device, leaf, size, Some(anchored)).await
    }

    /// The anchored checkpoint the store gives a bundle proved to `size` (the newest within its
    /// tree, as trace-api does), with the consistency proof to it.
    async fn anchored(&self, size: TreeSize) -> AnchoredCheckpoint {
        let stored = self.reader.newest_anchored(size).await.unwrap().unwrap();
        AnchoredCheckpoint {
            consistency: self
                .reader
                .consistency_proof(stored.size, size)
                .await
                .unwrap(),
            checkpoint: stored.checkpoint,
            anchors: stored
                .anchors
                .into_iter()
                .map(|stored| stored.anchor)
                .collect(),
        }
    }

    /// The anchor of the checkpoint of `size`, with its stored evidence.
    async fn anchor_of(&self, size: u64) -> AnchorRef {
        let within = TreeSize::new(size).unwrap();
        let stored = self.reader.newest_anchored(within).await.unwrap().unwrap();
        assert_eq!(stored.size, within);
        assert_eq!(stored.anchors.len(), 1);
        stored.anchors[0].anchor.clone()
    }

    /// The provenance bundle of the first item of the event at `LEAF` (the only event naming
    /// it), proved to the checkpoint of 360.
    async fn provenance(&self) -> ProvenanceBundle {
        let bundle = self.bundle(LEAF, 360).await;
        let event: serde_json::Value = serde_json::from_str(&bundle.event).unwrap();
        let item = event["epcList"][0].as_str().unwrap().to_owned();
        ProvenanceBundle {
            version: ProvenanceVersion::V1,
            item,
            checkpoint: bundle.checkpoint,
            events: vec![ProvenanceEvent {
                event: bundle.event,
                document_context: None,
                event_hash: bundle.event_hash,
                leaf_record: bundle.leaf_record,
                device_attestation: bundle.device_attestation,
                inclusion: bundle.inclusion,
                why: vec![Why::Direct],
                reported_by: None,
                authority: None,
                withdrawn_by: None,
            }],
            anchored: bundle.anchored,
            omitted: Vec::new(),
            index: None,
        }
    }

    /// Runs `tagtrail verify --log-key KEY --device-keys FILE [ARGS...] FILE`.
    fn verify(&self, file: &str, args: &[&str]) -> Output {
        let key = log_key().verifier_key().to_string();
        let devices = self.dir.write(
            "devices.txt",
            format!(
                "{DEVICE} {}\n",
                public_key_file_text(&self.device.public_key())
            ),
        );
        let mut all = vec![
            "verify",
            "--verbose",
            "--log-key",
            &key,
            "--device-keys",
            &devices,
        ];
        all.extend_from_slice(args);
        all.push(file);
        Command::new(env!("CARGO_BIN_EXE_tagtrail"))
            .args(&all)
            .output()
            .expect("the tagtrail binary runs")
    }

    /// Runs `verify --rpc URL --confirmations 1` against the test's chain.
    fn verify_rpc(&self, file: &str) -> Output {
        self.verify(file, &["--rpc", &self.anvil.url, "--confirmations", "1"])
    }

    fn write(&self, name: &str, bundle: &impl Json) -> String {
        self.dir.write(name, bundle.json())
    }
}

/// The single-event bundle of entry `leaf` (appended by `device`, an [`EventFactory`]) proved to
/// the stored checkpoint of `size`, with `anchored`, as trace-api serves it.
pub(crate) async fn proof_bundle(
    store: &Reader,
    device: &EventFactory,
    leaf: u64,
    size: u64,
    anchored: Option<AnchoredCheckpoint>,
) -> ProofBundle {
    let index = LeafIndex::new(leaf).unwrap();
    let size = TreeSize::new(size).unwrap();
    let entry = store.entry(index).await.unwrap().unwrap();
    let Attestation::Device {
        statement,
        index: i,
        ..
    } = entry.record.attestation()
    else {
        panic!("the factory's events are device-signed");
    };
    let batch = store.device_batch(statement).await.unwrap().unwrap();
    let tree = EventBatch::new(&batch.event_hashes).unwrap();
    ProofBundle {
        version: BundleVersion::V2,
        event: entry.event.to_string(),
        document_context: None,
        event_hash: *entry.record.event_hash(),
        leaf_record: entry.record.encode(),
        device_attestation: Some(DeviceAttestation {
            statement: batch.statement.encode(),
            public_key: device.public_key(),
            signature: batch.signature.clone(),
            batch_path: tree.path(*i).unwrap(),
        }),
        inclusion: store.inclusion_proof(index, size).await.unwrap(),
        checkpoint: store.checkpoint(size).await.unwrap().unwrap().note,
        anchored,
    }
}

/// What the tests write as JSON files, as trace-api would serve it.
trait Json {
    fn json(&self) -> String;
}

impl Json for ProofBundle {
    fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap()
    }
}

impl Json for ProvenanceBundle {
    fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap()
    }
}

/// A directory of its own under the system temporary directory, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tagtrail-verify-rpc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn last_line(printed: &str) -> &str {
    printed.lines().last().unwrap_or_default()
}

/// The checks of an anchor with its stored evidence, as printed under it, all passed.
const ANCHOR_CHECKS: [&str; 11] = [
    "chain id",
    "receipt",
    "canonical block",
    "commitment",
    "signature",
    "confirmations",
    "stored block hash",
    "stored receipt proof",
    "stored receipt",
    "stored commitment",
    "stored signature",
];

/// `anchor in tx T (chain 31337, block B): ` for an anchor.
fn anchor_place(anchor: &AnchorRef) -> String {
    format!(
        "anchor in tx {} (chain {}, block {})",
        anchor.tx_hash,
        anchor.chain_id.get(),
        anchor.block_number
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_rpc_finds_the_anchor_on_chain_with_its_stored_evidence_and_exits_0() {
    let log = AnchoredLog::create("valid").await;
    let bundle = log.bundle(LEAF, 360).await;
    let anchor = log.anchor_of(360).await;
    assert_eq!(
        bundle.anchored.as_ref().unwrap().anchors,
        std::slice::from_ref(&anchor)
    );
    assert!(anchor.block_hash.is_some() && anchor.receipt.is_some());
    let file = log.write("bundle.json", &bundle);

    let printed = stdout_of(&log.verify_rpc(&file), 0);
    let mut expected = format!(
        "  anchor covers event: ok\n  anchor on chain: ok\n    {}: verified\n",
        anchor_place(&anchor)
    );
    for check in ANCHOR_CHECKS {
        expected.push_str(&format!("      {check}: ok\n"));
    }
    expected.push_str(&format!(
        "  chain agrees: ok\n{file}: valid: 14 checks passed\n"
    ));
    assert!(
        printed.ends_with(&format!("{expected}valid: every check of 1 file passed\n")),
        "{printed}"
    );

    // A provenance bundle looks its anchors up with the checks of the bundle as a whole; what
    // no evidence shows yet (completeness) and what no registry was given for (authority) must
    // be allowed for the run to be 0.
    let history = log.write("history.json", &log.provenance().await);
    let printed = stdout_of(
        &log.verify(
            &history,
            &[
                "--rpc",
                &log.anvil.url,
                "--confirmations",
                "1",
                "--allow",
                "incomplete-history,unchecked-authority",
            ],
        ),
        0,
    );
    assert!(
        printed.contains(
            "\n  event list: ok\n  one checkpoint: ok\n  story: ok\n  authority: skipped: no registry of the parties was given: each event's reporter and authority were taken as the bundle claims them\n  complete: skipped: "
        ),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "\n  anchor on chain: ok\n    {}: verified\n      chain id: ok\n",
            anchor_place(&anchor)
        )),
        "{printed}"
    );
    assert_eq!(printed.matches("anchor on chain").count(), 1, "{printed}");
    assert_eq!(printed.matches("    anchor covers event: ok\n").count(), 1);
    assert!(last_line(&printed).starts_with("valid as allowed: nothing failed in 1 file"));
    let unallowed = stdout_of(&log.verify_rpc(&history), 10);
    assert!(last_line(&unallowed).contains("the history or the export is not proven complete"));

    // The default depth is the anchor worker's, 12 blocks: not reached yet on this chain. The
    // anchor is there: the run waits for depth (exit 5), nothing failed.
    let newest = log.anvil.block_number();
    let shallow = stdout_of(&log.verify(&file, &["--rpc", &log.anvil.url]), 5);
    let depth = newest + 1 - anchor.block_number;
    assert!(
        shallow.contains(&format!(
            "\n    {}: skipped: not confirmed deeply enough yet\n",
            anchor_place(&anchor)
        )),
        "{shallow}"
    );
    assert!(
        shallow.contains(&format!(
            "      confirmations: skipped: not confirmed yet: {depth} confirmations, 12 required\n"
        )),
        "{shallow}"
    );
    assert_eq!(
        last_line(&shallow),
        "incomplete: anchors not confirmed deeply enough yet; nothing failed in 1 file"
    );
    log.anvil.mine(12);
    let deep = stdout_of(&log.verify(&file, &["--rpc", &log.anvil.url]), 0);
    assert_eq!(last_line(&deep), "valid: every check of 1 file passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_rpc_or_with_a_node_of_another_chain_the_anchors_are_skipped_and_the_run_incomplete()
 {
    let log = AnchoredLog::create("skipped").await;
    let bundle = log.bundle(LEAF, 360).await;
    let anchor = bundle.anchored.as_ref().unwrap().anchors[0].clone();
    let file = log.write("bundle.json", &bundle);

    let printed = stdout_of(&log.verify(&file, &[]), 6);
    assert!(
        printed.contains(
            "\n  anchor covers event: ok\n  anchor on chain: skipped: no --rpc given: the anchors were not looked up on chain\n"
        ),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "{file}: incomplete: anchors not looked up on chain (give --rpc); every other check passed\n"
        )),
        "{printed}"
    );
    assert_eq!(
        last_line(&printed),
        "incomplete: anchors not looked up on chain (give --rpc); nothing failed in 1 file"
    );

    // A node of another chain: the anchor is not looked up there, and nothing failed.
    let other = Anvil::start_with(1337, &[]);
    let printed = stdout_of(&log.verify(&file, &["--rpc", &other.url]), 7);
    assert!(
        printed.contains(&format!(
            "\n  anchor on chain: skipped: the node serves chain 1337; the anchors are on chain 31337\n    {}: skipped: the node serves chain 1337; this anchor is on chain 31337\n  chain agrees: ok\n{file}: ",
            anchor_place(&anchor)
        )),
        "{printed}"
    );
    assert_eq!(
        last_line(&printed),
        "incomplete: anchors not looked up on chain (the node serves another chain); nothing failed in 1 file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_rpc_with_a_node_that_cannot_be_reached_exits_2_and_checks_nothing() {
    let mut log = AnchoredLog::create("unreachable").await;
    let file = log.write("bundle.json", &log.bundle(LEAF, 360).await);
    log.anvil.stop();
    let output = log.verify_rpc(&file);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stdout));
    assert!(text(&output.stdout).is_empty(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: Failed to ask the node for its chain id: the node at http://127.0.0.1:{} could not be reached",
            log.anvil.port
        )),
        "{stderr}"
    );

    // --confirmations means nothing without --rpc.
    let output = log.verify(&file, &["--confirmations", "3"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--rpc"),
        "{}",
        text(&output.stderr)
    );
}

/// Every alteration of the anchor, with the anchor's check that must fail (and how its reason
/// starts) and the check the last line must name first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_altered_anchor_exits_1_naming_the_check_that_fails() {
    fn anchors(bundle: &mut ProofBundle) -> &mut Vec<AnchorRef> {
        &mut bundle.anchored.as_mut().unwrap().anchors
    }
    let log = AnchoredLog::create("altered").await;
    let original = log.bundle(LEAF, 360).await;
    let anchor = original.anchored.as_ref().unwrap().anchors[0].clone();

    // Another transaction hash: the chain has no such transaction.
    let mut other_tx = original.clone();
    let mut hash = *anchor.tx_hash.as_bytes();
    hash[31] ^= 0x01;
    let tx = TxHash::from_bytes(hash);
    anchors(&mut other_tx)[0].tx_hash = tx;

    // The anchored checkpoint with another root under the log's signature.
    let mut other_root = original.clone();
    let anchored = other_root.anchored.as_mut().unwrap();
    let note = Note::parse(&anchored.checkpoint).unwrap();
    let mut lines: Vec<String> = note.text().lines().map(str::to_owned).collect();
    lines[2] = RootHash::from_bytes([0x11; 32]).to_base64();
    let signatures = &anchored.checkpoint[note.text().len()..];
    anchored.checkpoint = format!("{}\n{signatures}", lines.join("\n"));

    // A real anchor of the log, of another checkpoint (240) than the bundle's anchored one (360).
    let mut other_checkpoint = original.clone();
    let later = log.anchor_of(240).await;
    anchors(&mut other_checkpoint)[0] = later.clone();

    // A node of the stored receipt proof changed: its parent no longer refers to it.
    let mut other_proof = original.clone();
    let receipt = anchors(&mut other_proof)[0].receipt.as_mut().unwrap();
    let node = receipt.receipt_proof.last_mut().unwrap();
    let middle = node.0.len() / 2;
    node.0[middle] ^= 0x01;

    let on_chain = "anchor on chain: the anchor in tx ";
    let cases: Vec<(&str, ProofBundle, AnchorRef, &str, String, &str)> = vec![
        (
            "transaction hash",
            other_tx.clone(),
            anchors(&mut other_tx)[0].clone(),
            "receipt",
            format!("the chain has no transaction {tx} in a block"),
            on_chain,
        ),
        (
            "anchored root",
            other_root,
            anchor.clone(),
            "commitment",
            "the anchored root is ".to_owned(),
            "anchored checkpoint: the anchored checkpoint does not verify: ",
        ),
        (
            "another checkpoint's anchor",
            other_checkpoint,
            later,
            "commitment",
            "the anchor is of tree size 240, the checkpoint's is 360".to_owned(),
            on_chain,
        ),
        (
            "receipt proof node",
            other_proof,
            anchor.clone(),
            "stored receipt proof",
            String::new(),
            on_chain,
        ),
    ];
    for (what, bundle, reference, check, reason, first_failure) in cases {
        let file = log.write("altered.json", &bundle);
        let printed = stdout_of(&log.verify_rpc(&file), 1);
        let place = anchor_place(&reference);
        assert!(
            printed.contains(&format!("\n    {place}: FAILED: {check}\n")),
            "{what}: {printed}"
        );
        assert!(
            printed.contains(&format!("\n      {check}: FAILED: {reason}")),
            "{what}: {printed}"
        );
        let last = last_line(&printed);
        assert!(
            last.starts_with(&format!("FAILED: {file}: {first_failure}")),
            "{what}: {last}"
        );
        if first_failure == on_chain {
            assert!(
                last.contains(&format!(
                    " (chain 31337, block {}): {check}: {reason}",
                    reference.block_number
                )),
                "{what}: {last}"
            );
        }
    }

    // In full: the transaction is not on chain, its stored evidence (not bound to a transaction
    // hash) still holds; and a changed proof node fails that evidence alone.
    let file = log.write("other-tx.json", &other_tx);
    let printed = stdout_of(&log.verify_rpc(&file), 1);
    let block = anchor.block_number;
    let reason = format!("the chain has no transaction {tx} in a block");
    assert!(
        printed.contains(&format!(
            "\n  anchor on chain: FAILED: the anchor in tx {tx} (chain 31337, block {block}): receipt: {reason}\n    anchor in tx {tx} (chain 31337, block {block}): FAILED: receipt\n      chain id: ok\n      receipt: FAILED: {reason}\n      stored block hash: ok\n      stored receipt proof: ok\n      stored receipt: ok\n      stored commitment: ok\n      stored signature: ok\n  chain agrees: ok\n{file}: FAILED: "
        )),
        "{printed}"
    );
    assert_eq!(
        last_line(&printed),
        format!(
            "FAILED: {file}: anchor on chain: the anchor in tx {tx} (chain 31337, block {block}): receipt: {reason}"
        )
    );
    let file = log.write("other-proof.json", &{
        let mut bundle = original.clone();
        let receipt = anchors(&mut bundle)[0].receipt.as_mut().unwrap();
        receipt.receipt_proof.last_mut().unwrap().0[middle] ^= 0x01;
        bundle
    });
    let printed = stdout_of(&log.verify_rpc(&file), 1);
    for check in &ANCHOR_CHECKS[..7] {
        assert!(
            printed.contains(&format!("\n      {check}: ok\n")),
            "{check}: {printed}"
        );
    }
}

/// A log forked under the log's own key: a tree of the same size as an anchored checkpoint, with
/// the bundle's entry at the same place but other entries around it, so that every offline check
/// of the bundle passes. Only the chain can tell; with --rpc the `chain agrees` check fails,
/// naming both roots. The honest bundle stripped of its anchors is not anchored (exit 4), and
/// says that the chain holds an anchor it should have proved consistency with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_contradicts_an_anchor_on_chain_fails_as_a_split_view() {
    let log = AnchoredLog::create("split-view").await;
    let honest = log.bundle(LEAF, 360).await;
    let mut tree = MemoryTree::new();
    for leaf in 0..360u64 {
        if leaf == LEAF {
            tree.push_record(&honest.leaf_record).unwrap();
        } else {
            tree.push_record(&leaf.to_be_bytes()).unwrap();
        }
    }
    let size = TreeSize::from(360);
    let forked_root = tree.root_at(size).unwrap();
    let mut forked = honest.clone();
    forked.checkpoint = Checkpoint::new(Origin::parse(ORIGIN).unwrap(), size, forked_root)
        .sign(&[&log_key()])
        .unwrap()
        .to_message();
    forked.inclusion = prove_inclusion(&tree, LeafIndex::new(LEAF).unwrap(), size).unwrap();
    forked.anchored = None;
    let file = log.write("forked.json", &forked);

    // Offline it reads as merely not anchored: nothing there contradicts it.
    let offline = stdout_of(&log.verify(&file, &[]), 4);
    assert!(offline.contains("\n  inclusion: ok\n"), "{offline}");

    let printed = stdout_of(&log.verify_rpc(&file), 1);
    let anchor = log.anchor_of(360).await;
    let last = last_line(&printed);
    assert!(
        last.starts_with(&format!(
            "FAILED: {file}: chain agrees: split view: the bundle's checkpoint of {ORIGIN} has root {forked_root} at tree size 360; the log's anchor in tx {} (chain 31337, block {}) has root ",
            anchor.tx_hash, anchor.block_number
        )),
        "{last}"
    );

    let mut stripped = honest.clone();
    stripped.anchored = None;
    let file = log.write("stripped.json", &stripped);
    // Not a matter of time: the anchor exists, the bundle leaves it out (exit 3, no --allow).
    let printed = stdout_of(&log.verify_rpc(&file), 3);
    assert!(
        printed.contains(&format!(
            "anchor on chain: skipped: the bundle carries no anchored checkpoint, though the chain holds an anchor of this log at tree size 360 (tx {}, block {})",
            anchor.tx_hash, anchor.block_number
        )),
        "{printed}"
    );
    assert!(printed.contains("\n  chain agrees: ok\n"), "{printed}");
}
