//! A rotation of the log's checkpoint key end to end (docs/OPERATIONS.md, "Checkpoint key
//! rotation"): ingest, started in-process, signs with the old key, then with the old and the new
//! key, then with the new key first, then with the new key alone. `tagtrail verify` checks each
//! period's bundles with the keys a verifier of that period trusts, `tagtrail audit` checks the
//! whole log (it trusts the keys of `signing_keys`), and `tagtrail log-keys` shows every step.

use crate::run::{stdout_of, tagtrail, text};
use service_kit::http::HttpService as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ingest::{Application, Config};
use ledger::bundle::TlogProof;
use ledger::note::{KeyName, NoteSignerKey};
use ledger::{LeafIndex, TreeSize};
use ledger_store::testing::{EventFactory, TestDatabase};
use ledger_store::{Reader, Sequencer, Writer};
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::verify_rpc::proof_bundle;

/// The log's origin, and the name of both its keys.
const ORIGIN: &str = "cli.test/rotated-log";
const SERVICE_ROLE: &str = "tagtrail_ingest_test";

/// A log, its two keys (written as `tagtrail keygen` writes them) and a device appending to it.
struct Log {
    // Dropped before the database: its connections go first.
    store: Writer,
    reader: Reader,
    db: TestDatabase,
    service_url: String,
    device: EventFactory,
    dir: PathBuf,
    old: PathBuf,
    new: PathBuf,
    old_key: NoteSignerKey,
    new_key: NoteSignerKey,
}

/// An ingest process, stopped with [`Running::stop`].
struct Running {
    cancel: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        self.server.await.unwrap().unwrap();
    }
}

impl Log {
    async fn create() -> Self {
        let db = TestDatabase::create().await.unwrap();
        let service_url = db
            .login_role(SERVICE_ROLE, "tagtrail_ingest")
            .await
            .unwrap();
        let dir =
            std::env::temp_dir().join(format!("tagtrail-key-rotation-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let write = |file: &str, seed: u8| {
            let key = NoteSignerKey::from_seed(KeyName::parse(ORIGIN).unwrap(), &[seed; 32]);
            let path = dir.join(file);
            std::fs::write(&path, key.to_private_text().as_str()).unwrap();
            (path, key)
        };
        let (old, old_key) = write("old.key", 21);
        let (new, new_key) = write("new.key", 22);
        Self {
            store: Writer::connect(db.url()).unwrap(),
            reader: Reader::connect(db.url()).unwrap(),
            db,
            service_url,
            device: EventFactory::new("dock-door-1", 1),
            dir,
            old,
            new,
            old_key,
            new_key,
        }
    }

    fn old_pub(&self) -> String {
        self.old_key.verifier_key().to_string()
    }

    fn new_pub(&self) -> String {
        self.new_key.verifier_key().to_string()
    }

    /// Starts ingest signing with `primary`, then `additional`; it is ready when it returns.
    async fn ingest(&self, primary: &Path, additional: &[&Path]) -> Running {
        let mut config = Config::new(
            SecretString::from(self.service_url.clone()),
            primary.to_owned(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        config.http.workers = Some(1);
        config.ledger.checkpoint_interval = Duration::from_millis(100);
        config.ledger.additional_checkpoint_key_files =
            additional.iter().map(|path| path.to_path_buf()).collect();
        let app = Application::build(config).await.unwrap();
        let cancel = CancellationToken::new();
        app.stop_on(cancel.clone());
        Running {
            cancel,
            server: tokio::spawn(app.run_until_stopped()),
        }
    }

    /// Appends `count` events of the device (beside ingest, which signs whatever the log holds)
    /// and waits for ingest's checkpoint of the whole log; returns its size.
    async fn append_and_sign(&mut self, count: usize) -> u64 {
        let sequencer = Sequencer::start(&self.store);
        sequencer
            .append(self.device.next_batch(count))
            .await
            .unwrap();
        sequencer.shutdown().await;
        let size = self.store.tree_size().await.unwrap().get();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let signed = self.store.latest_checkpoint().await.unwrap();
            if signed.is_some_and(|checkpoint| checkpoint.size.get() == size) {
                return size;
            }
            assert!(Instant::now() < deadline, "no checkpoint of {size} entries");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The proof bundle and the tlog-proof of entry `leaf` at the checkpoint of `size`, written to
    /// `<name>.json` and `<name>.tlog-proof`, as trace-api serves them.
    async fn evidence(&self, name: &str, leaf: u64, size: u64) -> [String; 2] {
        let bundle = proof_bundle(&self.reader, &self.device, leaf, size, None).await;
        let entry = self
            .reader
            .entry(LeafIndex::new(leaf).unwrap())
            .await
            .unwrap()
            .unwrap();
        let inclusion = self
            .store
            .inclusion_proof(LeafIndex::new(leaf).unwrap(), TreeSize::new(size).unwrap())
            .await
            .unwrap();
        let proof =
            TlogProof::of_leaf_record(entry.record.encode(), &inclusion, bundle.checkpoint.clone());
        let write = |file: String, content: String| {
            let path = self.dir.join(file);
            std::fs::write(&path, content).unwrap();
            path.to_str().unwrap().to_owned()
        };
        [
            write(
                format!("{name}.json"),
                serde_json::to_string_pretty(&bundle).unwrap(),
            ),
            write(format!("{name}.tlog-proof"), proof.encode()),
        ]
    }

    /// `tagtrail log-keys` on the database: its standard output (exit 0).
    fn log_keys(&self, json: bool) -> String {
        let mut args = vec!["log-keys", "--database-url", self.db.url()];
        if json {
            args.push("--json");
        }
        stdout_of(&tagtrail(&args), 0)
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `tagtrail verify` of `files` trusting `keys`: its exit status and last line.
fn verify(keys: &[&str], files: &[String]) -> (i32, String) {
    let mut args = vec![
        "verify",
        "--allow",
        "unanchored,unchecked-anchors,unregistered-devices,event-not-shown",
    ];
    for key in keys {
        args.extend(["--log-key", key]);
    }
    args.extend(files.iter().map(String::as_str));
    let output = tagtrail(&args);
    let printed = text(&output.stdout);
    let last = printed.lines().last().unwrap_or_default().to_owned();
    (output.status.code().unwrap_or(-1), last)
}

/// Asserts that `tagtrail verify` accepts `files` with `keys`: exit 0 once what these files
/// cannot show is allowed (they carry no anchor, no device keys are given, a tlog-proof is checked
/// without its event): nothing failed.
fn accepted(keys: &[&str], files: &[String]) {
    let (code, last) = verify(keys, files);
    assert_eq!(code, 0, "{files:?} with {keys:?}: {last}");
    assert!(!last.contains("FAILED"), "{last}");
}

/// Asserts that `tagtrail verify` rejects each of `files` with `keys`, naming the checkpoint check.
fn rejected(keys: &[&str], files: &[String]) {
    for file in files {
        let (code, last) = verify(keys, std::slice::from_ref(file));
        assert_eq!(code, 1, "{file} with {keys:?}: {last}");
        assert_eq!(
            last,
            format!(
                "FAILED: {file}: checkpoint: the checkpoint does not verify: the note has no signature by a trusted key"
            )
        );
    }
}

/// The key name and id as a signature line names a key (`<name>+<id>`).
fn named(key: &NoteSignerKey) -> String {
    format!("{}+{}", key.name(), key.id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_key_rotation_each_periods_bundles_verify_with_its_keys_and_the_log_audits() {
    let mut log = Log::create().await;
    let (old, new) = (log.old.clone(), log.new.clone());
    let (old_pub, new_pub) = (log.old_pub(), log.new_pub());
    let (old_name, new_name) = (named(&log.old_key), named(&log.new_key));
    let first = "(the first: anchors carry this one)";

    // 1. The old key alone.
    let ingest = log.ingest(&old, &[]).await;
    let size = log.append_and_sign(3).await;
    let before = log.evidence("before", 1, size).await;
    let shown = log.log_keys(false);
    assert!(
        shown.starts_with(&format!(
            "newest checkpoint: 3 entries, 1 signature(s):\n  1. {old_name}  verified {first}\nkeys the log signed with (signing_keys), oldest first:\n  {old_pub}  added "
        )),
        "{shown}"
    );
    assert!(
        shown.ends_with("  signature 1 of the newest checkpoint\n"),
        "{shown}"
    );
    ingest.stop().await;

    // 2. The new key added: both sign, the old (primary) key first.
    let ingest = log.ingest(&old, &[&new]).await;
    let size = log.append_and_sign(2).await;
    let overlap = log.evidence("overlap", 4, size).await;
    let shown = log.log_keys(false);
    assert!(
        shown.starts_with(&format!(
            "newest checkpoint: 5 entries, 2 signature(s):\n  1. {old_name}  verified {first}\n  2. {new_name}  verified\n"
        )),
        "{shown}"
    );
    let keys: Vec<&str> = shown.lines().skip(4).collect();
    assert_eq!(keys.len(), 2, "{shown}");
    assert!(
        keys[0].starts_with(&format!("  {old_pub}  added "))
            && keys[0].ends_with("signature 1 of the newest checkpoint"),
        "{shown}"
    );
    assert!(
        keys[1].starts_with(&format!("  {new_pub}  added "))
            && keys[1].ends_with("signature 2 of the newest checkpoint"),
        "{shown}"
    );
    ingest.stop().await;

    // 3. Swapped: the new key is the primary, whose signature anchors now carry.
    let ingest = log.ingest(&new, &[&old]).await;
    let size = log.append_and_sign(2).await;
    let swapped = log.evidence("swapped", 6, size).await;
    let shown = log.log_keys(false);
    assert!(
        shown.starts_with(&format!(
            "newest checkpoint: 7 entries, 2 signature(s):\n  1. {new_name}  verified {first}\n  2. {old_name}  verified\n"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("signature 2 of the newest checkpoint\n")
            && shown.ends_with("signature 1 of the newest checkpoint\n"),
        "the old key (listed first) signed second, the new one first: {shown}"
    );
    ingest.stop().await;

    // 4. The old key retired.
    let ingest = log.ingest(&new, &[]).await;
    let size = log.append_and_sign(2).await;
    let after = log.evidence("after", 8, size).await;
    let shown = log.log_keys(false);
    assert!(
        shown.starts_with(&format!(
            "newest checkpoint: 9 entries, 1 signature(s):\n  1. {new_name}  verified {first}\n"
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("  {old_pub}  added "))
            && shown.contains("  not on the newest checkpoint\n"),
        "{shown}"
    );
    let json: serde_json::Value = serde_json::from_str(&log.log_keys(true)).unwrap();
    assert_eq!(json["newestCheckpoint"]["treeSize"], 9);
    assert_eq!(
        json["newestCheckpoint"]["signatures"],
        serde_json::json!([{"key": new_name, "verifierKey": new_pub, "verified": true}])
    );
    let listed: Vec<(&str, &serde_json::Value)> = json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            (
                key["verifierKey"].as_str().unwrap(),
                &key["newestCheckpointSignature"],
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (old_pub.as_str(), &serde_json::Value::Null),
            (new_pub.as_str(), &serde_json::json!(1))
        ]
    );
    ingest.stop().await;

    // What each period's verifiers accept: the old key's, until the new key signs alone; the new
    // key's, from the overlap on; both keys, everything.
    accepted(&[&old_pub], &before);
    accepted(&[&old_pub, &new_pub], &before);
    rejected(&[&new_pub], &before);
    for period in [&overlap, &swapped] {
        accepted(&[&old_pub], period);
        accepted(&[&new_pub], period);
    }
    accepted(&[&new_pub], &after);
    rejected(&[&old_pub], &after);
    let everything: Vec<String> = [before, overlap, swapped, after].concat();
    accepted(&[&old_pub, &new_pub], &everything);

    // The audit verifies every checkpoint against the keys in signing_keys.
    let audit = stdout_of(&tagtrail(&["audit", "--database-url", log.db.url()]), 0);
    assert!(audit.starts_with("ok: 9 entries"), "{audit}");
    // Four sizes signed; an idle log's newest may have been signed again with the index
    // caught up: every one stored is verified.
    let counts = log
        .db
        .connect()
        .await
        .unwrap()
        .query_one(
            "SELECT count(*), count(DISTINCT tree_size) FROM checkpoints",
            &[],
        )
        .await
        .unwrap();
    let (stored, sizes): (i64, i64) = (counts.get(0), counts.get(1));
    assert_eq!(sizes, 4);
    assert!(
        audit.contains(&format!("{stored} checkpoints verified")),
        "{stored}: {audit}"
    );
}
