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
        witnesses: Vec::new(),
        quorum: 1,
        stall_after: Duration::from_secs(3600),
    }
}

/// A started worker (its contract deployed) on `anvil` with a new funded key ([`chain_settings`]),
/// confirming at one block, for the database at `database_url` (a login role in
/// `tagtrail_anchor`, or the owner).
pub async fn started_worker(anvil: &Anvil, database_url: &str) -> crate::worker::ChainWorker {
    crate::worker::ChainWorker::start(
        crate::worker::ChainSettings {
            finality: crate::worker::Finality::Confirmations(1),
            ..chain_settings(anvil, "local")
        },
        crate::store::AnchorStore::connect(database_url, 8).unwrap(),
        std::sync::Arc::new(crate::metrics::Metrics::new()),
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap()
    .unwrap()
}

/// What a lying node does to one answer: given the method, its parameters and the honest result,
/// the result it gives instead.
pub type Lie = dyn Fn(&str, &Value, Value) -> Value + Send + Sync;

/// A JSON-RPC node in front of a real one (anvil) that passes every call on, and changes the
/// answers it is told to: the faulty or lying node of the worker's tests. A plain HTTP/1.1 server
/// on a free port (one thread per connection), stopped on drop.
pub struct FaultyNode {
    pub url: String,
    port: u16,
    lie: std::sync::Arc<std::sync::Mutex<Option<Box<Lie>>>>,
    lies_told: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultyNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyNode")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl FaultyNode {
    /// A node passing every call on to `upstream`, honest until told to lie.
    pub fn start(upstream: &str) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lie: Arc<Mutex<Option<Box<Lie>>>> = Arc::new(Mutex::new(None));
        let lies_told = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let thread = {
            let (lie, lies_told, stop) = (lie.clone(), lies_told.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (lie, lies_told, upstream) =
                        (lie.clone(), lies_told.clone(), upstream.clone());
                    std::thread::spawn(move || serve(stream, &upstream, &lie, &lies_told));
                }
            })
        };
        Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            lie,
            lies_told,
            stop,
            thread: Some(thread),
        }
    }

    /// From now on, every answer goes through `lie` (which returns the honest result for the
    /// calls it leaves alone).
    pub fn lie(&self, lie: impl Fn(&str, &Value, Value) -> Value + Send + Sync + 'static) {
        *self.lie.lock().unwrap() = Some(Box::new(lie));
    }

    /// From now on, every answer is the real node's.
    pub fn honest(&self) {
        *self.lie.lock().unwrap() = None;
    }

    /// How many answers a lie changed so far.
    pub fn lies_told(&self) -> u64 {
        self.lies_told.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A client of this node as the worker uses it.
    pub fn rpc(&self) -> Rpc {
        Rpc::new(
            &SecretString::from(self.url.clone()),
            Duration::from_secs(5),
        )
    }
}

impl Drop for FaultyNode {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves one connection's requests (keep-alive) until the client closes it.
fn serve(
    stream: std::net::TcpStream,
    upstream: &str,
    lie: &std::sync::Mutex<Option<Box<Lie>>>,
    lies_told: &std::sync::atomic::AtomicU64,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let http: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if !first
                && let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            first = false;
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let Ok(mut response) = http
            .post(upstream)
            .header("Content-Type", "application/json")
            .send(&body[..])
        else {
            return;
        };
        let Ok(text) = response.body_mut().read_to_string() else {
            return;
        };
        let answer = match (
            serde_json::from_slice::<Value>(&body),
            serde_json::from_str::<Value>(&text),
        ) {
            (Ok(request), Ok(mut answer)) => {
                if let (Some(method), Some(result)) = (
                    request.get("method").and_then(Value::as_str),
                    answer.get_mut("result"),
                ) && let Some(lie) = lie.lock().unwrap().as_ref()
                {
                    let params = request.get("params").cloned().unwrap_or(Value::Null);
                    let told = lie(method, &params, result.clone());
                    if told != *result {
                        lies_told.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        *result = told;
                    }
                }
                answer.to_string()
            }
            _ => text,
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(answer.as_bytes()).is_err()
        {
            return;
        }
    }
}
