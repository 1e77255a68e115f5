//! `tagtrail anchors`, `tagtrail anchors find` and `tagtrail audit --rpc` against a real log in
//! PostgreSQL whose newest checkpoint the anchor worker anchored on a real local chain (anvil) of
//! the test's own: the worker's records, the log's anchors read from the chain alone, a stranger's
//! events told apart by their signature, and a log whose tail was deleted back to an earlier
//! checkpoint, which the audit of the rows alone cannot see.

use crate::run::{stdout_of, tagtrail, text};
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use anchor::format::Payload;
use anchor::metrics::Metrics;
use anchor::store::AnchorStore;
use anchor::tx::{Eip1559, Signer};
use anchor::worker::{ChainWorker, Progress};
use ledger::checkpoint::{Checkpoint, Origin};
use ledger::note::{KeyName, NoteSignerKey};
use ledger::{RootHash, TreeSize};
use ledger_store::testing::{EventFactory, TestDatabase};
use ledger_store::{Checkpointer, Sequencer, Writer};
use tokio_util::sync::CancellationToken;

use anchor::testing::{Anvil, free_port};

/// The log every test anchors.
const ORIGIN: &str = "tagtrail.test/anchored-log";
/// The login roles the worker and the commands run as: members of `tagtrail_anchor` and of
/// `tagtrail_reader` only.
const ANCHOR_ROLE: &str = "tagtrail_anchor_cli_test";
const READER_ROLE: &str = "tagtrail_reader_cli_test";

fn origin() -> Origin {
    Origin::parse(ORIGIN).unwrap()
}

/// The log's checkpoint key.
fn log_key() -> NoteSignerKey {
    NoteSignerKey::from_seed(KeyName::parse(ORIGIN).unwrap(), &[3; 32])
}

/// A key with the log's name that is not the log's.
fn stranger_key() -> NoteSignerKey {
    NoteSignerKey::from_seed(KeyName::parse(ORIGIN).unwrap(), &[9; 32])
}

/// `tagtrail audit --database-url DATABASE --rpc RPC` with `extra` arguments.
fn run_audit_rpc(database: &str, rpc: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["audit", "--database-url", database, "--rpc", rpc];
    args.extend_from_slice(extra);
    tagtrail(&args)
}

/// A signed checkpoint of the log's origin.
fn signed_checkpoint(size: u64, root: RootHash, key: &NoteSignerKey) -> String {
    Checkpoint::new(origin(), TreeSize::new(size).unwrap(), root)
        .sign(&[key])
        .unwrap()
        .to_message()
}

/// A log of 360 entries with signed checkpoints at 120, 240 and 360, the newest anchored and
/// confirmed by the anchor worker on a chain of the test's own.
struct AnchoredLog {
    anvil: Anvil,
    db: TestDatabase,
    /// The database as a member of tagtrail_reader.
    reader_url: String,
    contract: Address,
    tx: B256,
    block: u64,
}

impl AnchoredLog {
    async fn create() -> Self {
        let anvil = Anvil::start();
        let db = TestDatabase::create().await.unwrap();
        let store = Writer::connect(db.url()).unwrap();
        let checkpointer = Checkpointer::new(&store, origin(), Arc::new(log_key()));
        let sequencer = Sequencer::start(&store);
        let mut device = EventFactory::new("dock-door-1", 1);
        for _ in 0..3 {
            sequencer.append(device.next_batch(120)).await.unwrap();
            checkpointer.sign_latest().await.unwrap();
        }
        sequencer.shutdown().await;
        let reader_url = db.login_role(READER_ROLE, "tagtrail_reader").await.unwrap();

        // The worker, as its binary builds it, with its own role and a new funded key.
        let anchor_url = db.login_role(ANCHOR_ROLE, "tagtrail_anchor").await.unwrap();
        let anchor_store = AnchorStore::connect(&anchor_url, 8).unwrap();
        let settings = anchor::testing::chain_settings(&anvil, "local");
        let worker = ChainWorker::start(
            settings,
            anchor_store.clone(),
            Arc::new(Metrics::new()),
            &CancellationToken::new(),
        )
        .await
        .unwrap()
        .unwrap();
        let contract = worker.key().contract;
        let tx = match worker.tick().await.unwrap() {
            Progress::Sent {
                tree_size: 360,
                tx_hash,
            } => tx_hash,
            other => panic!("expected the checkpoint of 360 sent, got {other:?}"),
        };
        anvil.mined(&tx);
        assert_eq!(worker.tick().await.unwrap(), Progress::Waiting);
        anvil.mine(1);
        assert_eq!(
            worker.tick().await.unwrap(),
            Progress::Confirmed { tree_size: 360 }
        );
        let block = anchor_store.list(1).await.unwrap()[0].block_number.unwrap();
        Self {
            anvil,
            db,
            reader_url,
            contract,
            tx,
            block,
        }
    }

    /// The root of a stored checkpoint.
    async fn checkpoint_root(&self, size: i64) -> RootHash {
        let client = self.db.connect().await.unwrap();
        let root: Vec<u8> = client
            .query_one(
                "SELECT root_hash FROM checkpoints WHERE tree_size = $1 LIMIT 1",
                &[&size],
            )
            .await
            .unwrap()
            .get(0);
        RootHash::from_bytes(root.try_into().unwrap())
    }

    /// Sends an anchor event of `message` (a signed checkpoint) to the anchor contract from a new,
    /// funded key: what anyone can do. The transaction's hash and block.
    fn emit(&self, message: &str) -> (B256, u64) {
        let (origin, payload) = Payload::of_checkpoint(message).unwrap();
        let sender = Signer::generate();
        self.anvil.fund(&sender.address());
        let signed = sender
            .sign(&Eip1559 {
                chain_id: self.anvil.chain_id,
                nonce: 0,
                max_priority_fee_per_gas: 1_000_000_000,
                max_fee_per_gas: 10_000_000_000,
                gas_limit: 60_000,
                to: Some(self.contract),
                data: payload.calldata(&origin),
            })
            .unwrap();
        let hash = self.anvil.rpc().send_raw_transaction(&signed.raw).unwrap();
        let receipt = self.anvil.mined(&hash);
        assert_eq!(receipt["status"], "0x1", "{receipt}");
        let block = receipt["blockNumber"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x");
        (hash, u64::from_str_radix(block, 16).unwrap())
    }

    /// Deletes the log's tail back to `size` entries, consistently, as a superuser with the
    /// append-only triggers disabled: every row of the entries past `size` (events, leaf records,
    /// device batches), the tile rows the tree grew past `size` with, and the checkpoints beyond.
    async fn delete_tail_back_to(&self, size: u64) {
        let client = self.db.connect().await.unwrap();
        // The rows of one append end where it ends: none holds entries on both sides of `size`.
        let straddling: i64 = client
            .query_one(
                &format!(
                    "SELECT (SELECT count(*) FROM event_packs
                             WHERE first_leaf < {size} AND first_leaf + cardinality(events) > {size})
                          + (SELECT count(*) FROM entry_bundles
                             WHERE bundle_index * 256 + first < {size}
                               AND bundle_index * 256 + width > {size})"
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(straddling, 0, "{size} is not where an append ended");
        client
            .batch_execute(&format!(
                "SET session_replication_role = replica;
                 DELETE FROM checkpoints WHERE tree_size > {size};
                 DELETE FROM device_batches WHERE first_leaf_index >= {size};
                 DELETE FROM event_packs WHERE first_leaf >= {size};
                 DELETE FROM entry_bundles WHERE bundle_index * 256 + first >= {size};
                 DELETE FROM tiles
                 WHERE (tile_index * 256 + width)::numeric * power(256::numeric, level) > {size};"
            ))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_lists_the_workers_anchor_as_confirmed_with_its_chain_and_transaction() {
    let log = AnchoredLog::create().await;
    let table = stdout_of(
        &tagtrail(&["anchors", "--database-url", &log.reader_url]),
        0,
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header: Vec<&str> = lines[0].split("  ").filter(|c| !c.is_empty()).collect();
    assert_eq!(
        header,
        ["STATE", "CHAIN", "TX", "BLOCK", "TREE SIZE", "AGE"],
        "{table}"
    );
    let row: Vec<&str> = lines[1].split("  ").filter(|c| !c.is_empty()).collect();
    let tx = log.tx.to_string();
    let block = log.block.to_string();
    assert_eq!(
        &row[..5],
        [
            "confirmed",
            "local (31337)",
            tx.as_str(),
            block.as_str(),
            "360"
        ],
        "{table}"
    );
    assert!(row[5].ends_with('s'), "{table}");

    let json = stdout_of(
        &tagtrail(&["anchors", "--database-url", &log.reader_url, "--json"]),
        0,
    );
    let anchors: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(anchors.len(), 1, "{json}");
    let anchor = &anchors[0];
    assert_eq!(anchor["state"], "confirmed");
    assert_eq!(anchor["chain"], "local");
    assert_eq!(anchor["chainId"], 31337);
    assert_eq!(anchor["contract"], log.contract.to_string());
    assert_eq!(anchor["txHash"], tx);
    assert_eq!(anchor["blockNumber"], log.block);
    assert_eq!(anchor["treeSize"], 360);
    assert!(anchor["gasUsed"].as_u64().unwrap() <= 30_000, "{json}");

    // A log nothing was anchored for says so.
    let empty = TestDatabase::create().await.unwrap();
    let none = stdout_of(&tagtrail(&["anchors", "--database-url", empty.url()]), 0);
    assert_eq!(none.trim(), "no anchors recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchors_find_lists_the_logs_anchors_from_the_chain_alone_and_tells_whose_they_are() {
    let log = AnchoredLog::create().await;
    let root = log.checkpoint_root(360).await.to_base64();
    let key = log_key().verifier_key().to_string();
    let newest = log.anvil.rpc().block_number().unwrap();
    let find = |extra: &[&str]| {
        let mut args = vec!["anchors", "find", "--rpc", &log.anvil.url];
        args.extend_from_slice(extra);
        tagtrail(&args)
    };

    let found = stdout_of(&find(&["--origin", ORIGIN, "--log-key", &key]), 0);
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(lines.len(), 2, "{found}");
    assert_eq!(
        lines[0],
        format!(
            "block {}  tx {}  contract {}  tree size 360  root {root}  key {}  signed by the log",
            log.block,
            log.tx,
            log.contract,
            log_key().id()
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "1 anchor of {ORIGIN} found between blocks 0 and {newest} on chain 31337: 1 signed by the log, 0 not"
        )
    );
    // The same from the worker's contract only, and as JSON.
    let contract = log.contract.to_string();
    let json = stdout_of(
        &find(&[
            "--origin",
            ORIGIN,
            "--log-key",
            &key,
            "--contract",
            &contract,
            "--json",
        ]),
        0,
    );
    let anchor: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(anchor["txHash"], log.tx.to_string());
    assert_eq!(anchor["treeSize"], 360);
    assert_eq!(anchor["root"], root);
    assert_eq!(anchor["signedByLog"], true);
    // Another log has none, and the search still ran.
    let other = stdout_of(&find(&["--origin", "other.test/log"]), 0);
    assert_eq!(
        other.trim(),
        format!("no anchors of other.test/log found between blocks 0 and {newest}")
    );
    // Nor does the range after the anchor's block.
    let after = (log.block + 1).to_string();
    let later = stdout_of(&find(&["--origin", ORIGIN, "--from-block", &after]), 0);
    assert!(later.starts_with("no anchors of"), "{later}");

    // A stranger emits an anchor of the log's origin for another root, signed by a key of the
    // log's name that is not the log's: found, and marked as not the log's.
    let forged = signed_checkpoint(360, RootHash::from_bytes([0x66; 32]), &stranger_key());
    let (stranger_tx, stranger_block) = log.emit(&forged);
    let found = stdout_of(&find(&["--origin", ORIGIN, "--log-key", &key]), 0);
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(lines.len(), 3, "{found}");
    assert!(lines[0].ends_with("  signed by the log"), "{found}");
    assert!(
        lines[1].starts_with(&format!("block {stranger_block}  tx {stranger_tx}")),
        "{found}"
    );
    assert!(
        lines[1].ends_with(&format!(
            "key {}  NOT signed by the log: ignore it, anyone can emit events",
            stranger_key().id()
        )),
        "{found}"
    );
    assert!(
        lines[2].ends_with(": 1 signed by the log, 1 not"),
        "{found}"
    );
    // Without the log's key nothing is vouched for.
    let unchecked = stdout_of(&find(&["--origin", ORIGIN]), 0);
    assert_eq!(
        unchecked
            .matches("signature not checked (give --log-key)")
            .count(),
        2,
        "{unchecked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rpc_fails_naming_the_anchored_size_once_the_logs_tail_is_deleted_back_before_it() {
    let log = AnchoredLog::create().await;
    let audit_rpc = || run_audit_rpc(&log.reader_url, &log.anvil.url, &[]);
    let intact = stdout_of(&audit_rpc(), 0);
    assert!(intact.starts_with("ok: 360 entries"), "{intact}");
    let root = log.checkpoint_root(360).await.to_base64();
    assert!(
        intact.contains(&format!(
            "  block {}, tx {}, tree size 360: ok: the stored tree has the anchored root {root}\n",
            log.block, log.tx
        )),
        "{intact}"
    );
    assert_eq!(
        intact.lines().last(),
        Some("ok: the log holds every checkpoint of it anchored on chain 31337 (1 anchor checked)")
    );

    log.delete_tail_back_to(240).await;
    // The rows alone hold together: a log of 240 entries with its two checkpoints.
    let rows = stdout_of(&tagtrail(&["audit", "--database-url", &log.reader_url]), 0);
    assert!(rows.starts_with("ok: 240 entries"), "{rows}");
    assert!(rows.contains("2 checkpoints verified"), "{rows}");
    // The chain remembers the checkpoint of 360.
    let truncated = stdout_of(&audit_rpc(), 1);
    assert!(truncated.starts_with("ok: 240 entries"), "{truncated}");
    let failure = format!(
        "the log no longer reaches anchored size 360 (anchored in tx {}, block {}, chain 31337): it was truncated after that checkpoint was published",
        log.tx, log.block
    );
    assert!(
        truncated.contains(&format!("tree size 360: FAILED: {failure}\n")),
        "{truncated}"
    );
    assert_eq!(
        truncated.lines().last(),
        Some(format!("FAILED: {failure}").as_str())
    );
    // The same with the contract, the log's origin and its published key given by the auditor.
    let contract = log.contract.to_string();
    let key = log_key().verifier_key().to_string();
    let given = stdout_of(
        &tagtrail(&[
            "audit",
            "--database-url",
            &log.reader_url,
            "--skip-event-hashes",
            "--rpc",
            &log.anvil.url,
            "--contract",
            &contract,
            "--origin",
            ORIGIN,
            "--log-key",
            &key,
        ]),
        1,
    );
    assert_eq!(
        given.lines().last(),
        Some(format!("FAILED: {failure}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rpc_weighs_a_strangers_anchor_and_fails_on_an_anchored_root_the_log_does_not_have() {
    let log = AnchoredLog::create().await;
    let audit_rpc = || run_audit_rpc(&log.reader_url, &log.anvil.url, &[]);
    // A stranger's anchor of what the log really has at 360: harmless.
    let real = signed_checkpoint(360, log.checkpoint_root(360).await, &stranger_key());
    let (consistent_tx, consistent_block) = log.emit(&real);
    let forged = signed_checkpoint(360, RootHash::from_bytes([0x66; 32]), &stranger_key());
    let (stranger_tx, stranger_block) = log.emit(&forged);
    // With the keys the database lists, an anchor of the origin by another key that contradicts
    // the stored log fails the audit: it may be a stranger's, or the log's own under a key that
    // was dropped from the database after the log was rewritten.
    let unknown = stdout_of(&audit_rpc(), 1);
    assert!(
        unknown.contains(&format!(
            "  block {consistent_block}, tx {consistent_tx}, tree size 360: ignored: signed by key {}, which the database does not list, and consistent with the stored log (the stored tree has the anchored root",
            stranger_key().id()
        )),
        "{unknown}"
    );
    let failure = format!(
        "an anchor of the log's origin (block {stranger_block}, tx {stranger_tx}, tree size 360) is signed by key {}, which the database does not list, and contradicts the stored log (the stored tree at size 360 has root {}, the anchor says {} (anchored in tx {stranger_tx}, block {stranger_block}, chain 31337): the log was rewritten after that checkpoint was published): anyone may have emitted it, or the log's keys were replaced and the old ones dropped; name the log's keys with --log-key to ignore anchors of other keys",
        stranger_key().id(),
        log.checkpoint_root(360).await.to_base64(),
        RootHash::from_bytes([0x66; 32]).to_base64(),
    );
    assert_eq!(
        unknown.lines().last(),
        Some(format!("FAILED: {failure}").as_str()),
        "{unknown}"
    );
    assert!(
        unknown.contains("tree size 360: ok: the stored tree has the anchored root"),
        "{unknown}"
    );
    // The stranger's key has the log's name: from the chain alone, it is what a log restarted
    // under a new key after its old checkpoints and keys were deleted would show. The auditor who
    // knows the log's key names it: the stranger's anchor is ignored.
    let key = log_key().verifier_key().to_string();
    let named = stdout_of(
        &run_audit_rpc(&log.reader_url, &log.anvil.url, &["--log-key", &key]),
        0,
    );
    assert!(
        named.contains(&format!(
            "  block {stranger_block}, tx {stranger_tx}, tree size 360: ignored: not signed by the keys given (key {}): anyone can emit events\n",
            stranger_key().id()
        )),
        "{named}"
    );
    assert_eq!(
        named.lines().last(),
        Some(
            "ok: the log holds every checkpoint of it anchored on chain 31337 (1 anchor checked, 2 ignored)"
        )
    );

    // The log's own key signed a checkpoint of 120 entries with another root than the stored
    // tree's (a history published, then rewritten): the anchor of it fails the audit.
    let stored = log.checkpoint_root(120).await;
    let other_root = RootHash::from_bytes([0x77; 32]);
    let (rewritten_tx, rewritten_block) = log.emit(&signed_checkpoint(120, other_root, &log_key()));
    let rewritten = stdout_of(
        &run_audit_rpc(&log.reader_url, &log.anvil.url, &["--log-key", &key]),
        1,
    );
    let failure = format!(
        "the stored tree at size 120 has root {}, the anchor says {} (anchored in tx {rewritten_tx}, block {rewritten_block}, chain 31337): the log was rewritten after that checkpoint was published",
        stored.to_base64(),
        other_root.to_base64(),
    );
    assert_eq!(
        rewritten.lines().last(),
        Some(format!("FAILED: {failure}").as_str()),
        "{rewritten}"
    );
    // The worker's anchor still holds, and is said to.
    assert!(
        rewritten.contains("tree size 360: ok: the stored tree has the anchored root"),
        "{rewritten}"
    );
}

#[test]
fn anchors_find_with_an_unreachable_node_exits_2_and_a_malformed_contract_is_refused() {
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let unreachable = tagtrail(&["anchors", "find", "--rpc", &nowhere, "--origin", ORIGIN]);
    assert_eq!(unreachable.status.code(), Some(2));
    assert!(text(&unreachable.stdout).is_empty());
    let stderr = text(&unreachable.stderr);
    assert!(
        stderr.starts_with(
            "error: Failed to ask the node for its chain id: the node at http://127.0.0.1:"
        ) && stderr.contains("could not be reached"),
        "{stderr}"
    );

    let malformed = tagtrail(&[
        "anchors",
        "find",
        "--rpc",
        &nowhere,
        "--origin",
        ORIGIN,
        "--contract",
        "0x1234",
    ]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(
        text(&malformed.stderr).contains("invalid value '0x1234' for '--contract <ADDR>'"),
        "{}",
        text(&malformed.stderr)
    );

    let not_http = tagtrail(&["anchors", "find", "--rpc", "ftp://x", "--origin", ORIGIN]);
    assert_eq!(not_http.status.code(), Some(2));
    assert!(
        text(&not_http.stderr).contains("Invalid --rpc"),
        "{}",
        text(&not_http.stderr)
    );

    // The audit asks the node first: a wrong URL is known before the rows are read.
    let audit = tagtrail(&[
        "audit",
        "--database-url",
        "postgres://nobody:x@127.0.0.1:1/none",
        "--rpc",
        &nowhere,
    ]);
    assert_eq!(audit.status.code(), Some(2));
    assert!(text(&audit.stdout).is_empty());
    assert!(
        text(&audit.stderr).contains("could not be reached"),
        "{}",
        text(&audit.stderr)
    );
    // Options of --rpc without it are a usage error.
    let without = tagtrail(&[
        "audit",
        "--database-url",
        "postgres://nobody:x@127.0.0.1:1/none",
        "--contract",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    ]);
    assert_eq!(without.status.code(), Some(2));
    assert!(
        text(&without.stderr).contains("--rpc"),
        "{}",
        text(&without.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rpc_of_a_log_with_no_key_fails_until_the_auditor_gives_its_origin_and_key() {
    let anvil = Anvil::start();
    let db = TestDatabase::create().await.unwrap();
    // Nothing tells whose anchors to look for: not a pass.
    let unknown = stdout_of(
        &tagtrail(&["audit", "--database-url", db.url(), "--rpc", &anvil.url]),
        1,
    );
    assert!(unknown.starts_with("ok: 0 entries"), "{unknown}");
    assert_eq!(
        unknown.lines().last(),
        Some(
            "FAILED: the database holds no signing key to tell the log's anchors from anyone else's: give --log-key"
        )
    );
    // With the log's published key (whose name is its origin), the chain is searched.
    let key = log_key().verifier_key().to_string();
    let given = stdout_of(
        &run_audit_rpc(db.url(), &anvil.url, &["--log-key", &key]),
        0,
    );
    assert!(
        given.contains(&format!(
            "anchors of {ORIGIN} on chain 31337, blocks 0 to 0, any contract: 0 found\n"
        )),
        "{given}"
    );
    assert_eq!(
        given.lines().last(),
        Some("ok: no anchor of the log on chain 31337 to check it against")
    );
}
