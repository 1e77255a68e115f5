//! For the tests of this crate and of the crates that use anchors (feature `testing`): a local
//! chain of the test's own, a real anvil (from the npm package scripts/services installs) on a free
//! port, killed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support: a failure is a failed test

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::rpc::Rpc;

/// The anvil binary itself: `TAGTRAIL_ANVIL_BIN` (set by scripts/services) names npm's wrapper
/// script, which does not pass SIGKILL and SIGSTOP on to the node; the platform package beside it
/// holds the binary.
pub fn anvil_binary() -> PathBuf {
    let configured = std::env::var("TAGTRAIL_ANVIL_BIN").expect(
        "TAGTRAIL_ANVIL_BIN is not set: run scripts/services (it installs anvil) and load ~/.cache/tagtrail/env",
    );
    let configured = PathBuf::from(configured);
    let packages = configured
        .parent()
        .and_then(Path::parent)
        .map(|modules| modules.join("@foundry-rs"));
    if let Some(packages) = packages
        && let Ok(entries) = std::fs::read_dir(&packages)
    {
        for entry in entries.flatten() {
            let binary = entry.path().join("bin").join("anvil");
            if entry.file_name().to_string_lossy().starts_with("anvil-") && binary.is_file() {
                return binary;
            }
        }
    }
    configured
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A local chain of the test's own, killed on drop.
#[derive(Debug)]
pub struct Anvil {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    pub chain_id: u64,
    args: Vec<String>,
    http: ureq::Agent,
}

impl Anvil {
    /// A chain with id 31337, mining a block for each transaction.
    pub fn start() -> Self {
        Self::start_with(31337, &[])
    }

    /// A chain with `chain_id` and extra arguments.
    pub fn start_with(chain_id: u64, extra: &[&str]) -> Self {
        let port = free_port();
        let mut args = vec![
            "--port".to_owned(),
            port.to_string(),
            "--chain-id".to_owned(),
            chain_id.to_string(),
            "--silent".to_owned(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut anvil = Self {
            child: None,
            port,
            url: format!("http://127.0.0.1:{port}"),
            chain_id,
            args,
            http,
        };
        anvil.spawn();
        anvil
    }

    fn spawn(&mut self) {
        let child = Command::new(anvil_binary())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start anvil");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.try_call("eth_chainId", json!([])).is_err() {
            assert!(
                Instant::now() < deadline,
                "anvil did not answer within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the node (SIGTERM, so that a `--state` file is written) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Starts the node again on the same port with the same arguments.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// A client as the worker uses it.
    pub fn rpc(&self) -> Rpc {
        Rpc::new(
            &SecretString::from(self.url.clone()),
            Duration::from_secs(5),
        )
    }

    /// A JSON-RPC call: its result, or the node's error message.
    pub fn try_call(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut response = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .map_err(|error| error.to_string())?;
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| error.to_string())?;
        let answer: Value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
        match answer.get("error") {
            Some(error) => Err(error["message"].as_str().unwrap_or_default().to_owned()),
            None => Ok(answer["result"].clone()),
        }
    }

    /// A JSON-RPC call that must succeed.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.try_call(method, params.clone())
            .unwrap_or_else(|error| panic!("{method} {params}: {error}"))
    }

    /// Gives an address 100 ether.
    pub fn fund(&self, address: &Address) {
        self.call(
            "anvil_setBalance",
            json!([address.to_string(), "0x56bc75e2d63100000"]),
        );
    }

    /// Mines `blocks` blocks.
    pub fn mine(&self, blocks: u64) {
        self.call("anvil_mine", json!([format!("{blocks:#x}")]));
    }

    /// Turns mining a block per transaction on or off.
    pub fn automine(&self, on: bool) {
        self.call("evm_setAutomine", json!([on]));
    }

    /// The newest block number.
    pub fn block_number(&self) -> u64 {
        let text = self.call("eth_blockNumber", json!([]));
        u64::from_str_radix(text.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    /// Transactions mined from an address (its `latest` nonce).
    pub fn nonce(&self, address: &Address) -> u64 {
        let text = self.call(
            "eth_getTransactionCount",
            json!([address.to_string(), "latest"]),
        );
        u64::from_str_radix(text.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    /// A transaction's receipt, if it is in a block.
    pub fn receipt(&self, hash: &B256) -> Option<Value> {
        let receipt = self.call("eth_getTransactionReceipt", json!([hash.to_string()]));
        (!receipt.is_null()).then_some(receipt)
    }

    /// Waits (up to 10 s) until a transaction is in a block (with automine on, anvil mines it
    /// soon after `eth_sendRawTransaction` answers, not always before) and returns its receipt.
    pub fn mined(&self, hash: &B256) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(receipt) = self.receipt(hash) {
                return receipt;
            }
            assert!(
                Instant::now() < deadline,
                "{hash} was not mined within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The balance of an address, in wei.
    pub fn balance(&self, address: &Address) -> u128 {
        let text = self.call("eth_getBalance", json!([address.to_string(), "latest"]));
        u128::from_str_radix(text.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The settings of a worker on `anvil` with a new key it funds: anchoring at every tick, polling
/// every 100 ms, confirmed at 2 blocks, the contract deployed at the key's default address.
pub fn chain_settings(anvil: &Anvil, name: &str) -> crate::worker::ChainSettings {
    let signer = crate::tx::Signer::generate();
    anvil.fund(&signer.address());
    crate::worker::ChainSettings {
        name: name.to_owned(),
        rpc: anvil.rpc(),
        chain_id: anvil.chain_id,
        signer: std::sync::Arc::new(signer),
        contract: None,
        interval: Duration::ZERO,
        poll: Duration::from_millis(100),
        finality: crate::worker::Finality::Confirmations(2),
        fee_cap: 100_000_000_000,
        bump_after: Duration::from_secs(3600),
        gas_limit: 40_000,
    }
}
