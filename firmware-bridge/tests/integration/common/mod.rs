//! Shared by the upload tests: a stand-in for ingest's capture API that checks what the real one
//! checks about a device batch (the statement's root over the CBV 2.0 hashes of the document's
//! events, and the Ed25519 signature) and answers with receipts, and spools to upload.

// Each test crate that declares `mod common;` uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use firmware_bridge::spool::Spool;
use ledger::UnixMillis;
use ledger::batch::{BatchStatement, DeviceSignature, DeviceSigningKey, EventBatch};
use serde_json::json;

/// What the stand-in does with the next request.
#[derive(Clone, Copy)]
pub enum Behaviour {
    Accept,
    /// Record the events, then drop the connection without answering (a lost answer).
    AcceptThenHangUp,
    Unavailable,
    BadRequest,
}

/// A running stand-in for ingest's capture API (plain HTTP).
pub struct Ingest {
    /// Its capture URL (`http://127.0.0.1:<port>/capture`).
    pub url: String,
    /// Its address, for a TLS terminator in front of it.
    pub addr: SocketAddr,
    /// Stored events: CBV 2.0 hash (ni URI) → leaf index.
    pub ledger: Arc<Mutex<HashMap<String, u64>>>,
    /// Behaviours still to play, one per request (then `Accept`).
    pub script: Arc<Mutex<Vec<Behaviour>>>,
    /// Complete requests received.
    pub requests: Arc<AtomicUsize>,
}

/// Starts a stand-in that checks requests signed with `key` and follows `script`.
pub fn start_ingest(key: &DeviceSigningKey, script: Vec<Behaviour>) -> Ingest {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}/capture");
    let ledger = Arc::new(Mutex::new(HashMap::new()));
    let script = Arc::new(Mutex::new(script));
    let requests = Arc::new(AtomicUsize::new(0));
    let public = key.public_key();
    let (ledger_in, script_in, requests_in) = (ledger.clone(), script.clone(), requests.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = HashMap::new();
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            if request_line.is_empty() {
                // Connected and closed without a request (a TLS terminator whose client gave up).
                continue;
            }
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
            let length: usize = headers["content-length"].parse().unwrap();
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            requests_in.fetch_add(1, Ordering::SeqCst);
            let behaviour = {
                let mut script = script_in.lock().unwrap();
                if script.is_empty() {
                    Behaviour::Accept
                } else {
                    script.remove(0)
                }
            };
            let (status, answer) = match behaviour {
                Behaviour::Unavailable => ("503 Service Unavailable", json!({"title": "down"})),
                Behaviour::BadRequest => ("400 Bad Request", json!({"title": "invalid"})),
                Behaviour::Accept | Behaviour::AcceptThenHangUp => {
                    let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let hashes: Vec<_> = epcis::hash::document_hashes(&document)
                        .unwrap()
                        .into_iter()
                        .map(|(_, hash)| hash)
                        .collect();
                    let statement = BatchStatement::decode(
                        &STANDARD
                            .decode(&headers["tagtrail-batch-statement"])
                            .unwrap(),
                    )
                    .unwrap();
                    let (algorithm, signature) =
                        headers["tagtrail-batch-signature"].split_once(':').unwrap();
                    assert_eq!(algorithm, "ed25519");
                    let signature: [u8; 64] =
                        STANDARD.decode(signature).unwrap().try_into().unwrap();
                    let signature = DeviceSignature::Ed25519(signature);
                    statement
                        .verify(&public, &signature)
                        .expect("the device signature verifies");
                    assert_eq!(
                        statement.root(),
                        &EventBatch::new(&hashes).unwrap().root(),
                        "batch root"
                    );
                    let mut ledger = ledger_in.lock().unwrap();
                    let receipts: Vec<_> = hashes
                        .iter()
                        .enumerate()
                        .map(|(index, hash)| {
                            let next = ledger.len() as u64;
                            let duplicate = ledger.contains_key(&hash.to_ni_uri());
                            let leaf = *ledger.entry(hash.to_ni_uri()).or_insert(next);
                            json!({"eventIndex": index, "eventHash": hash.to_ni_uri(), "leafIndex": leaf, "duplicate": duplicate})
                        })
                        .collect();
                    if matches!(behaviour, Behaviour::AcceptThenHangUp) {
                        continue;
                    }
                    ("202 Accepted", json!({"receipts": receipts}))
                }
            };
            let answer = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    Ingest {
        url,
        addr,
        ledger,
        script,
        requests,
    }
}

/// A valid ObjectEvent as the spool holds it.
pub fn event(serial: u32) -> String {
    json!({
        "type": "ObjectEvent",
        "eventTime": "2026-11-22T03:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [format!("urn:epc:id:sgtin:0614141.812345.{serial}")],
        "action": "OBSERVE",
        "bizStep": "receiving",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
    })
    .to_string()
}

/// A spool of `events` events in a fresh directory of the system's temporary directory, and the
/// device key.
pub fn setup(name: &str, events: u32) -> (Spool, DeviceSigningKey) {
    let dir = std::env::temp_dir().join(format!("tagtrail-upload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (spool_in(&dir, events), DeviceSigningKey::from_seed(&SEED))
}

/// A spool of `events` events in `dir`.
pub fn spool_in(dir: &Path, events: u32) -> Spool {
    let mut spool = Spool::open(&dir.join("spool.sqlite"), 10_000).unwrap();
    let batch: Vec<String> = (0..events).map(event).collect();
    spool.append(&batch, UnixMillis::from_millis(1)).unwrap();
    spool
}

/// The device key's seed.
pub const SEED: [u8; 32] = [7; 32];
