//! The uploader against a stand-in for ingest's capture API that checks what the real one checks
//! about a device batch (the statement's root over the CBV 2.0 hashes of the document's events, and
//! the Ed25519 signature) and answers with receipts. The real ingest needs PostgreSQL and lives in
//! another crate; the end-to-end tests run the bridge against it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on the first surprise.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use firmware_bridge::spool::Spool;
use firmware_bridge::uploader::{UploadError, UploadOutcome, Uploader};
use ledger::batch::{BatchStatement, DeviceSignature, DeviceSigningKey, EventBatch};
use ledger::{DeviceId, UnixMillis};
use serde_json::json;

#[derive(Clone, Copy)]
enum Behaviour {
    Accept,
    /// Record the events, then drop the connection without answering (a lost answer).
    AcceptThenHangUp,
    Unavailable,
    BadRequest,
}

struct Ingest {
    url: String,
    ledger: Arc<Mutex<HashMap<String, u64>>>,
    script: Arc<Mutex<Vec<Behaviour>>>,
}

fn start_ingest(key: &DeviceSigningKey, script: Vec<Behaviour>) -> Ingest {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/capture", listener.local_addr().unwrap());
    let ledger = Arc::new(Mutex::new(HashMap::new()));
    let script = Arc::new(Mutex::new(script));
    let public = key.public_key();
    let (ledger_in, script_in) = (ledger.clone(), script.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = HashMap::new();
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
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
        ledger,
        script,
    }
}

fn event(serial: u32) -> String {
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

fn setup(name: &str, events: u32) -> (Spool, DeviceSigningKey) {
    let dir = std::env::temp_dir().join(format!("tagtrail-upload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut spool = Spool::open(&dir.join("spool.sqlite"), 10_000).unwrap();
    let batch: Vec<String> = (0..events).map(event).collect();
    spool.append(&batch, UnixMillis::from_millis(1)).unwrap();
    (spool, DeviceSigningKey::from_seed(&SEED))
}

const SEED: [u8; 32] = [7; 32];

fn uploader(ingest: &Ingest, _key: &DeviceSigningKey, batch_size: usize) -> Uploader {
    let key = DeviceSigningKey::from_seed(&SEED);
    Uploader::new(
        ingest.url.clone(),
        DeviceId::parse("urn:tagtrail:device:test").unwrap(),
        key,
        batch_size,
        Duration::from_secs(5),
    )
}

#[test]
fn events_leave_the_spool_only_with_receipts_and_in_order() {
    let (mut spool, key) = setup("order", 25);
    let ingest = start_ingest(&key, vec![]);
    let uploader = uploader(&ingest, &key, 10);
    let mut sizes = Vec::new();
    loop {
        match uploader
            .upload_once(&mut spool, UnixMillis::from_millis(1_000))
            .unwrap()
        {
            UploadOutcome::Uploaded { events } => sizes.push(events),
            UploadOutcome::Idle => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(spool.depth(), 0);
    assert_eq!(ingest.ledger.lock().unwrap().len(), 25);
}

#[test]
fn an_unavailable_ingest_keeps_the_events_for_a_retry() {
    let (mut spool, key) = setup("retry", 3);
    let ingest = start_ingest(&key, vec![Behaviour::Unavailable]);
    let uploader = uploader(&ingest, &key, 10);
    let error = uploader
        .upload_once(&mut spool, UnixMillis::from_millis(1_000))
        .unwrap_err();
    assert!(
        matches!(error, UploadError::Unavailable { status: 503, .. }) && error.is_retryable(),
        "{error}"
    );
    assert_eq!(spool.depth(), 3);
    assert_eq!(
        uploader
            .upload_once(&mut spool, UnixMillis::from_millis(2_000))
            .unwrap(),
        UploadOutcome::Uploaded { events: 3 }
    );
    assert_eq!(spool.depth(), 0);
}

#[test]
fn a_lost_answer_and_a_retry_store_each_event_exactly_once() {
    let (mut spool, key) = setup("lost", 4);
    let ingest = start_ingest(&key, vec![Behaviour::AcceptThenHangUp]);
    let uploader = uploader(&ingest, &key, 10);
    let error = uploader
        .upload_once(&mut spool, UnixMillis::from_millis(1_000))
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(spool.depth(), 4, "events left the spool without receipts");
    assert_eq!(
        uploader
            .upload_once(&mut spool, UnixMillis::from_millis(2_000))
            .unwrap(),
        UploadOutcome::Uploaded { events: 4 }
    );
    assert_eq!(ingest.ledger.lock().unwrap().len(), 4);
    assert!(ingest.script.lock().unwrap().is_empty());
}

#[test]
fn events_ingest_refuses_for_good_are_quarantined_not_lost() {
    let (mut spool, key) = setup("refused", 2);
    let ingest = start_ingest(&key, vec![Behaviour::BadRequest]);
    let uploader = uploader(&ingest, &key, 10);
    assert_eq!(
        uploader
            .upload_once(&mut spool, UnixMillis::from_millis(1_000))
            .unwrap(),
        UploadOutcome::Quarantined {
            events: 2,
            status: 400
        }
    );
    assert_eq!(spool.depth(), 0);
    assert_eq!(spool.quarantined().unwrap(), 2);
}
