//! The `anchor` binary as an operator runs it: killed with SIGKILL between sending and
//! confirmation and restarted without a second payment, stopped with SIGTERM, its metrics and
//! health endpoints, and its errors for bad settings and an unreachable node.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use alloy_primitives::Address;
use alloy_primitives::B256;
use anchor::format::create_address;
use anchor::store::{AnchorStore, State};
use anchor::tx::Signer;
use anchor::worker::deploy_contract;
use serde_json::json;

use crate::common::{Anvil, Ledger, free_port, wait_for};

/// A directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("anchor-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `anchor` process, killed on drop; its output goes to a file.
struct Worker {
    child: Option<Child>,
    log: PathBuf,
}

impl Worker {
    fn start(config: &Path, log: PathBuf) -> Self {
        // The log goes to stdout, start-up errors to stderr: both into one file.
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_anchor"))
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write_config(
    dir: &Path,
    ledger: &Ledger,
    anvil_url: &str,
    chain_id: u64,
    key: &Path,
    metrics: u16,
) -> PathBuf {
    let path = dir.join("anchor.toml");
    std::fs::write(
        &path,
        format!(
            r#"[database]
url = "{url}"
[metrics]
listen = "127.0.0.1:{metrics}"
[chains.local]
rpc_url = "{anvil_url}"
chain_id = {chain_id}
key_file = "{key}"
interval = "0ms"
confirmations = 1
poll = "100ms"
rpc_timeout = "2s"
"#,
            url = ledger.anchor_url,
            key = key.display(),
        ),
    )
    .unwrap();
    path
}

/// A funded key in a file, with the contract already deployed at its default address.
fn deployed_key(anvil: &Anvil, dir: &Path) -> (PathBuf, Address, Address) {
    let signer = Signer::generate();
    anvil.fund(&signer.address());
    let contract = deploy_contract(
        &anvil.rpc(),
        &signer,
        100_000_000_000,
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(contract, create_address(&signer.address(), 0));
    let path = dir.join("chain.key");
    std::fs::write(&path, signer.to_hex().as_str()).unwrap();
    (path, signer.address(), contract)
}

/// Waits (up to 20 s) until the worker has recorded an anchor and the node knows its transaction.
async fn sent_anchor(store: &AnchorStore, anvil: &Anvil) -> B256 {
    for _ in 0..400 {
        if let Some(anchor) = store.list(10).await.unwrap().first() {
            let hash = store.attempts(anchor.id).await.unwrap()[0].tx_hash;
            if !anvil
                .call("eth_getTransactionByHash", json!([hash.to_string()]))
                .is_null()
            {
                return hash;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the worker sent no anchor in 20 s");
}

/// Waits (up to 20 s) until the newest anchor is confirmed; whether it was.
async fn confirmed_anchor(store: &AnchorStore) -> bool {
    for _ in 0..400 {
        if store.list(10).await.unwrap()[0].state == State::Confirmed {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    match agent.get(url).call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            (
                status,
                response.body_mut().read_to_string().unwrap_or_default(),
            )
        }
        Err(_) => (0, String::new()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_sending_and_confirmation_it_resumes_without_paying_twice() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let dir = TempDir::new("kill");
    let (key, sender, _) = deployed_key(&anvil, &dir.0);
    anvil.automine(false);
    ledger.add_checkpoint(15).await;
    let metrics_port = free_port();
    let config = write_config(
        &dir.0,
        &ledger,
        &anvil.url,
        anvil.chain_id,
        &key,
        metrics_port,
    );

    // First run: the anchor is signed, recorded and sent; nothing mines it.
    let mut worker = Worker::start(&config, dir.0.join("first.log"));
    let store = ledger.store();
    let sent = sent_anchor(&store, &anvil).await;
    let status = worker.signal("-KILL");
    assert!(!status.success());

    // While it was down the transaction was mined; the restarted worker finds it and confirms it.
    anvil.mine(1);
    let _worker = Worker::start(&config, dir.0.join("second.log"));
    let confirmed = confirmed_anchor(&store).await;
    assert!(confirmed, "the restarted worker confirmed the anchor");
    let anchors = store.list(10).await.unwrap();
    assert_eq!(anchors.len(), 1);
    assert_eq!(anchors[0].tx_hash, Some(sent));
    assert_eq!(store.attempts(anchors[0].id).await.unwrap().len(), 1);
    // The deployment and one anchor: one payment.
    assert_eq!(anvil.nonce(&sender), 2);
    // The gauges by state are read from the store after each step of the worker's loop, a
    // moment after the confirmation it counts: wait for them.
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let confirmed_gauge = "tagtrail_anchor_anchors{chain=\"local\",state=\"confirmed\"} 1";
    wait_for(
        Duration::from_secs(10),
        "the gauges to count the anchor",
        || get(&url).1.contains(confirmed_gauge),
    )
    .await;
    let (status, text) = get(&url);
    assert_eq!(status, 200);
    assert!(
        text.contains("tagtrail_anchor_confirmed_total{chain=\"local\"} 1"),
        "{text}"
    );
    assert!(text.contains(confirmed_gauge), "{text}");
    assert!(
        text.contains("tagtrail_anchor_anchors{chain=\"local\",state=\"pending\"} 0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_lost_with_the_killed_worker_is_sent_again_on_restart() {
    let anvil = Anvil::start();
    let ledger = Ledger::create().await;
    let dir = TempDir::new("lost");
    let (key, sender, _) = deployed_key(&anvil, &dir.0);
    anvil.automine(false);
    ledger.add_checkpoint(16).await;
    let config = write_config(
        &dir.0,
        &ledger,
        &anvil.url,
        anvil.chain_id,
        &key,
        free_port(),
    );
    let mut worker = Worker::start(&config, dir.0.join("first.log"));
    let store = ledger.store();
    let sent = sent_anchor(&store, &anvil).await;
    worker.signal("-KILL");
    // As if the node never got it (or lost it): it is recorded, but nowhere on the chain.
    anvil.call("anvil_dropTransaction", json!([sent.to_string()]));
    anvil.automine(true);
    let restarted = Worker::start(&config, dir.0.join("second.log"));
    let confirmed = confirmed_anchor(&store).await;
    assert!(confirmed, "log:\n{}", restarted.log());
    assert_eq!(store.list(10).await.unwrap()[0].tx_hash, Some(sent));
    assert!(
        restarted.log().contains("sending it again"),
        "{}",
        restarted.log()
    );
    assert_eq!(anvil.nonce(&sender), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_it_and_health_says_why_it_is_not_ready() {
    let ledger = Ledger::create().await;
    let dir = TempDir::new("health");
    let signer = Signer::generate();
    let key = dir.0.join("chain.key");
    std::fs::write(&key, signer.to_hex().as_str()).unwrap();
    let metrics_port = free_port();
    // Nothing listens on this port: the node cannot be reached.
    let unreachable = format!("http://127.0.0.1:{}", free_port());
    let config = write_config(&dir.0, &ledger, &unreachable, 31337, &key, metrics_port);
    let mut worker = Worker::start(&config, dir.0.join("worker.log"));
    let health = format!("http://127.0.0.1:{metrics_port}/health/ready");
    wait_for(Duration::from_secs(20), "the health endpoint", || {
        get(&health).0 == 503
    })
    .await;
    let (_, body) = get(&health);
    assert!(body.contains("0 of 1 chains reached"), "{body}");
    assert_eq!(
        get(&format!("http://127.0.0.1:{metrics_port}/health/live")).0,
        200
    );
    wait_for(Duration::from_secs(20), "the retry log line", || {
        worker.log().contains("could not be reached")
    })
    .await;
    let log = worker.log();
    assert!(log.contains("cannot reach the chain yet"), "{log}");
    assert!(
        !log.contains(signer.to_hex().as_str()),
        "the key was logged"
    );
    let status = worker.signal("-TERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_settings_stop_it_with_the_reason() {
    let dir = TempDir::new("bad");
    let key = dir.0.join("chain.key");
    std::fs::write(&key, "not a key").unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_anchor"))
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let key_arg = key.display().to_string();
    let (code, stderr) = run(&[
        "--database-url",
        "postgres://u:p@127.0.0.1:1/d",
        "--rpc-url",
        "http://127.0.0.1:1",
        "--chain-id",
        "31337",
        "--key-file",
        &key_arg,
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("chains.default.key_file"), "{stderr}");
    assert!(stderr.contains("64 hex digits"), "{stderr}");
    let (code, stderr) = run(&["--database-url", "postgres://u:p@127.0.0.1:1/d"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no chain to anchor on"), "{stderr}");
    let (code, stderr) = run(&["--rpc-url", "http://x"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--chain-id"), "{stderr}");
    let (code, stdout) = {
        let output = Command::new(env!("CARGO_BIN_EXE_anchor"))
            .arg("--help")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    assert_eq!(code, Some(0));
    assert!(stdout.contains("--confirmations"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_serving_another_chain_stops_it_with_the_reason() {
    let anvil = Anvil::start_with(31338, &[]);
    let ledger = Ledger::create().await;
    let dir = TempDir::new("chain");
    let signer = Signer::generate();
    let key = dir.0.join("chain.key");
    std::fs::write(&key, signer.to_hex().as_str()).unwrap();
    let config = write_config(&dir.0, &ledger, &anvil.url, 31337, &key, free_port());
    let output = Command::new(env!("CARGO_BIN_EXE_anchor"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let mut stderr = String::new();
    output
        .stderr
        .as_slice()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("serves chain id 31338, the settings say 31337"),
        "{stderr}"
    );
}
