//! The uploader: takes the oldest events from the spool, signs a device batch statement over them,
//! sends them to ingest's capture API and removes them from the spool only when ingest's receipts
//! for every one of them have come back.
//!
//! One capture request is one EPCIS document of up to `batch_size` events, in spool order, with
//!
//! ```text
//! Content-Type: application/ld+json
//! TagTrail-Batch-Statement: <standard padded base64 of the encoded batch statement>
//! TagTrail-Batch-Signature: ed25519:<standard padded base64 of the signature>
//! ```
//!
//! The statement (ledger's device batch statement, version 1) commits to the CBV 2.0 hashes of the
//! document's events; its sequence number comes from a durable counter in the spool, so no two
//! statements are alike. Ingest answers `202 Accepted` with one receipt per event
//! (`eventIndex`, `eventHash`, `leafIndex`); the uploader checks each receipt's hash against its
//! own before deleting.
//!
//! Failures: a network error, `408`, `429` or a `5xx` keeps the events and is retried after a
//! jittered exponential backoff ([`Backoff`]); since ingest is idempotent by event hash, sending a
//! batch again after a lost answer appends nothing twice. Any other `4xx` means ingest will never
//! take these events as they are: they are moved to the spool's quarantine with the answer, kept
//! for an operator, so they cannot block the queue.
//!
//! All of this blocks (disk and network): run it on a blocking thread.

use std::io::Read as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use epcis::EventHash;
use ledger::batch::{BatchStatement, DeviceSignature, DeviceSigningKey, EventBatch};
use ledger::{DeviceId, UnixMillis};
use serde_json::{Map, Value};

use crate::spool::{Spool, SpoolError, SpoolSeq, SpooledEvent};

/// The header carrying the encoded batch statement.
pub const BATCH_STATEMENT_HEADER: &str = "TagTrail-Batch-Statement";
/// The header carrying the device signature.
pub const BATCH_SIGNATURE_HEADER: &str = "TagTrail-Batch-Signature";
/// The spool counter that numbers batch statements.
const SEQUENCE_COUNTER: &str = "batch-sequence";

/// A device key file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// Neither of the two accepted formats.
    #[error(
        "device key file: expected the file `tagtrail device keygen` writes ({{\"algorithm\": \"ed25519\", \"seed\": \"<base64 of 32 bytes>\"}}) or 64 hex digits (the Ed25519 seed)"
    )]
    Malformed,
    /// A key of another algorithm.
    #[error("device key file: only ed25519 keys are supported, not {0}")]
    Algorithm(String),
}

/// The JSON key file of `tagtrail device keygen`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    algorithm: String,
    seed: String,
}

/// Reads a device signing key from the text of its key file: the JSON file `tagtrail device keygen`
/// writes (`{"algorithm": "ed25519", "seed": "<standard base64 of the 32-byte seed>"}`), or the bare
/// seed as 64 hex digits. The seed never appears in an error.
pub fn parse_device_key(text: &str) -> Result<DeviceSigningKey, KeyFileError> {
    let text = text.trim();
    let seed = if text.starts_with('{') {
        let json: KeyFileJson = serde_json::from_str(text).map_err(|_| KeyFileError::Malformed)?;
        let encoded = zeroize::Zeroizing::new(json.seed);
        if json.algorithm != "ed25519" {
            return Err(KeyFileError::Algorithm(json.algorithm));
        }
        zeroize::Zeroizing::new(
            STANDARD
                .decode(encoded.as_bytes())
                .map_err(|_| KeyFileError::Malformed)?,
        )
    } else {
        zeroize::Zeroizing::new(
            crate::read::parse_hex("key", text)
                .map_err(|_| KeyFileError::Malformed)?
                .to_vec(),
        )
    };
    let seed: [u8; 32] = seed[..].try_into().map_err(|_| KeyFileError::Malformed)?;
    Ok(DeviceSigningKey::from_seed(&seed))
}

/// Exponential backoff with jitter: the `n`-th delay is drawn from
/// `[d/2, d]` with `d = min(max, min · 2^n)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff between `min` and `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    /// The delay before the next attempt, given a jitter value in `[0, 1)`.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(30));
        let ceiling = self.min.saturating_mul(factor).min(self.max);
        self.failures = self.failures.saturating_add(1);
        let jitter = jitter.clamp(0.0, 1.0);
        ceiling.mul_f64(0.5 + jitter / 2.0)
    }

    /// Back to the shortest delay (after a success).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A batch ready to send.
#[derive(Debug)]
pub struct PreparedBatch {
    /// The spool positions of its events.
    pub seqs: Vec<SpoolSeq>,
    /// The capture document.
    pub document: Vec<u8>,
    /// The events' CBV 2.0 hashes, in order.
    pub hashes: Vec<EventHash>,
    /// The signed statement.
    pub statement: BatchStatement,
    /// The device's signature over it.
    pub signature: DeviceSignature,
}

impl PreparedBatch {
    /// The `TagTrail-Batch-Statement` header value.
    pub fn statement_header(&self) -> String {
        STANDARD.encode(self.statement.encode())
    }

    /// The `TagTrail-Batch-Signature` header value.
    pub fn signature_header(&self) -> String {
        format!(
            "{}:{}",
            self.signature.algorithm(),
            STANDARD.encode(self.signature.to_bytes())
        )
    }
}

/// Why a batch could not be prepared or its answer not accepted.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A spooled event is not a JSON object (the spool was written by something else).
    #[error("spooled event {seq}: not a JSON object")]
    BadSpooledEvent {
        /// The spool position.
        seq: i64,
    },
    /// An event cannot be hashed.
    #[error("event hash: {0}")]
    Hash(String),
    /// The batch is too large for a statement.
    #[error("batch statement: {0}")]
    Statement(String),
    /// Ingest could not be reached or did not answer.
    #[error("ingest unreachable: {0}")]
    Network(String),
    /// Ingest answered with a status worth retrying.
    #[error("ingest answered {status}: {body}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Ingest answered 202 but its receipts do not cover the batch.
    #[error("receipts: {0}")]
    Receipts(String),
}

impl UploadError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            UploadError::Network(_) | UploadError::Unavailable { .. } | UploadError::Receipts(_)
        )
    }
}

/// Builds the capture document, hashes it and signs the statement.
pub fn prepare_batch(
    events: &[SpooledEvent],
    device: &DeviceId,
    key: &DeviceSigningKey,
    signed_at: UnixMillis,
    sequence: u64,
) -> Result<PreparedBatch, UploadError> {
    let mut parsed: Vec<Map<String, Value>> = Vec::with_capacity(events.len());
    for event in events {
        match serde_json::from_str::<Value>(&event.event) {
            Ok(Value::Object(object)) => parsed.push(object),
            _ => {
                return Err(UploadError::BadSpooledEvent {
                    seq: event.seq.get(),
                });
            }
        }
    }
    let document = crate::event::capture_document(&parsed, signed_at);
    let hashes: Vec<EventHash> = epcis::hash::document_hashes(&document)
        .map_err(|error| UploadError::Hash(error.to_string()))?
        .into_iter()
        .map(|(_, hash)| hash)
        .collect();
    let batch =
        EventBatch::new(&hashes).map_err(|error| UploadError::Statement(error.to_string()))?;
    let statement = batch.statement(device.clone(), signed_at, sequence);
    let signature = statement.sign(key);
    let document =
        serde_json::to_vec(&document).map_err(|error| UploadError::Hash(error.to_string()))?;
    Ok(PreparedBatch {
        seqs: events.iter().map(|event| event.seq).collect(),
        document,
        hashes,
        statement,
        signature,
    })
}

/// Checks that a 202 answer holds a receipt for every event of the batch, with our hash.
pub fn check_receipts(body: &[u8], hashes: &[EventHash]) -> Result<Vec<u64>, UploadError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| UploadError::Receipts(error.to_string()))?;
    let receipts = value
        .get("receipts")
        .and_then(Value::as_array)
        .ok_or_else(|| UploadError::Receipts("the answer has no receipts array".into()))?;
    let mut leaves: Vec<Option<u64>> = vec![None; hashes.len()];
    for receipt in receipts {
        let index = receipt
            .get("eventIndex")
            .and_then(Value::as_u64)
            .and_then(|index| usize::try_from(index).ok())
            .filter(|index| *index < hashes.len())
            .ok_or_else(|| {
                UploadError::Receipts("a receipt's eventIndex is missing or out of range".into())
            })?;
        let hash = receipt
            .get("eventHash")
            .and_then(Value::as_str)
            .and_then(|uri| EventHash::parse_ni(uri).ok())
            .ok_or_else(|| {
                UploadError::Receipts(format!(
                    "receipt {index}: eventHash is missing or malformed"
                ))
            })?;
        if hash != hashes[index] {
            return Err(UploadError::Receipts(format!(
                "receipt {index}: ingest hashed the event differently"
            )));
        }
        let leaf = receipt
            .get("leafIndex")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                UploadError::Receipts(format!("receipt {index}: leafIndex is missing"))
            })?;
        leaves[index] = Some(leaf);
    }
    leaves
        .into_iter()
        .enumerate()
        .map(|(index, leaf)| {
            leaf.ok_or_else(|| UploadError::Receipts(format!("no receipt for event {index}")))
        })
        .collect()
}

/// What one upload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// The spool was empty.
    Idle,
    /// Ingest took the events and they left the spool.
    Uploaded {
        /// How many.
        events: usize,
    },
    /// Ingest refused the events for good; they were quarantined.
    Quarantined {
        /// How many.
        events: usize,
        /// Ingest's status.
        status: u16,
    },
}

/// Sends spooled events to ingest.
#[derive(Debug)]
pub struct Uploader {
    agent: ureq::Agent,
    url: String,
    device: DeviceId,
    key: DeviceSigningKey,
    batch_size: usize,
}

impl Uploader {
    /// An uploader to the capture URL `url`, sending at most `batch_size` events per request.
    pub fn new(
        url: String,
        device: DeviceId,
        key: DeviceSigningKey,
        batch_size: usize,
        timeout: Duration,
    ) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Uploader {
            agent,
            url,
            device,
            key,
            batch_size: batch_size.max(1),
        }
    }

    /// Uploads the oldest batch of the spool, if any.
    pub fn upload_once(
        &self,
        spool: &mut Spool,
        now: UnixMillis,
    ) -> Result<UploadOutcome, UploadError> {
        let events = spool.peek(self.batch_size)?;
        if events.is_empty() {
            return Ok(UploadOutcome::Idle);
        }
        let sequence = spool.next_counter(SEQUENCE_COUNTER)?;
        let batch = prepare_batch(&events, &self.device, &self.key, now, sequence)?;
        let response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/ld+json")
            .header(BATCH_STATEMENT_HEADER, &batch.statement_header())
            .header(BATCH_SIGNATURE_HEADER, &batch.signature_header())
            .send(&batch.document[..])
            .map_err(|error| UploadError::Network(error.to_string()))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(16 * 1024 * 1024)
            .read_to_end(&mut body)
            .map_err(|error| UploadError::Network(error.to_string()))?;
        match status {
            200..=299 => {
                check_receipts(&body, &batch.hashes)?;
                spool.remove(&batch.seqs)?;
                Ok(UploadOutcome::Uploaded {
                    events: batch.seqs.len(),
                })
            }
            408 | 429 | 500..=599 => Err(UploadError::Unavailable {
                status,
                body: body_start(&body),
            }),
            _ => {
                let reason = format!("ingest answered {status}: {}", body_start(&body));
                spool.quarantine(&batch.seqs, &reason)?;
                Ok(UploadOutcome::Quarantined {
                    events: batch.seqs.len(),
                    status,
                })
            }
        }
    }
}

fn body_start(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_stays_within_its_jitter() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        assert_eq!(backoff.next_delay(0.999_999).as_millis(), 99);
        assert_eq!(backoff.next_delay(0.0), Duration::from_millis(100));
        assert_eq!(backoff.next_delay(0.0), Duration::from_millis(200));
        for _ in 0..40 {
            let delay = backoff.next_delay(0.5);
            assert!(
                delay <= Duration::from_millis(1000) && delay >= Duration::from_millis(500),
                "{delay:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay(1.0) <= Duration::from_millis(100));
    }

    #[test]
    fn a_key_file_must_hold_a_32_byte_seed_in_hex() {
        assert!(parse_device_key(&format!("{}\n", "11".repeat(32))).is_ok());
        assert_eq!(
            parse_device_key("1122").unwrap_err(),
            KeyFileError::Malformed
        );
        assert_eq!(
            parse_device_key(&"zz".repeat(32)).unwrap_err(),
            KeyFileError::Malformed
        );
    }

    #[test]
    fn the_key_file_of_tagtrail_device_keygen_is_read() {
        let seed = [0x11u8; 32];
        let json = format!(
            "{{\"algorithm\":\"ed25519\",\"seed\":\"{}\"}}\n",
            STANDARD.encode(seed)
        );
        let from_json = parse_device_key(&json).unwrap();
        let from_hex = parse_device_key(&"11".repeat(32)).unwrap();
        assert_eq!(from_json.public_key(), from_hex.public_key());
        let short = format!(
            "{{\"algorithm\":\"ed25519\",\"seed\":\"{}\"}}",
            STANDARD.encode([1u8; 31])
        );
        assert_eq!(
            parse_device_key(&short).unwrap_err(),
            KeyFileError::Malformed
        );
        let other = json.replace("ed25519", "rsa");
        assert_eq!(
            parse_device_key(&other).unwrap_err(),
            KeyFileError::Algorithm("rsa".to_owned())
        );
        let error = parse_device_key(&json.replace("seed", "sead")).unwrap_err();
        assert!(
            !error.to_string().contains(&STANDARD.encode(seed)),
            "{error}"
        );
    }
}
