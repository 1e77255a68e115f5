//! The uploader: takes the oldest events from the spool, signs a device batch statement over them,
//! sends them to ingest's capture API and removes them from the spool only when ingest's receipts
//! for every one of them have come back.
//!
//! One capture request is one EPCIS document of up to `batch_size` events, in spool order, with
//!
//! `Content-Type: application/ld+json` and the device's signed batch statement in the headers
//! `ledger::headers` defines (`TagTrail-Batch-Statement`, `TagTrail-Batch-Signature`).
//!
//! The statement (ledger's device batch statement, version 1) commits to the CBV 2.0 hashes of the
//! document's events; its sequence number comes from a durable counter in the spool, so no two
//! statements are alike. Ingest answers `202 Accepted` with one receipt per event
//! (`eventIndex`, `eventHash`, `leafIndex`); the uploader checks each receipt's hash against its
//! own before deleting. Sealed values (`[sealing]`) were sealed when their events were spooled,
//! and each event's key set was spooled with it: the document carries those key sets
//! (`sealed:keys`, at most `ledger::sealed::MAX_KEY_SETS`, so a document may hold fewer events
//! than `batch_size`), and a retry sends the same events and key sets.
//!
//! Failures: a network error, `408`, `429` or a `5xx` keeps the events and is retried after a
//! jittered exponential backoff (`service_kit::backoff::Backoff`); since ingest is idempotent by event hash, sending a
//! batch again after a lost answer appends nothing twice. Any other `4xx` means ingest will never
//! take these events as they are: they are moved to the spool's quarantine with the answer, kept
//! for an operator, so they cannot block the queue. So is a spooled row the uploader cannot read
//! (not a JSON object, or a key set that does not decode: [`UploadOutcome::Unreadable`]), alone,
//! before anything is sent.
//!
//! Transport: `https://` URLs use TLS with verified certificates (Mozilla's roots, plus the CAs of
//! an optional `[upload] ca_file`, see [`Uploader::from_config`]); verification cannot be turned
//! off. `http://` URLs are sent in the clear, for loopback and development; the bridge warns at
//! start-up when such a URL points elsewhere. A failed handshake or certificate check is an
//! [`UploadError::Tls`]: the events stay in the spool.
//!
//! All of this blocks (disk and network): run it on a blocking thread.

use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use epcis::EventHash;
use ledger::batch::{BatchStatement, DeviceSignature, DeviceSigningKey, EventBatch};
use ledger::sealed::{KEYS_MEMBER, KeySet, MAX_FIELD_KEYS, MAX_KEY_SETS};
use ledger::{DeviceId, UnixMillis};
use serde_json::{Map, Value, json};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

use crate::config::UploadConfig;
use crate::spool::{Spool, SpoolError, SpoolSeq, SpooledEvent};

pub use ledger::headers::{BATCH_SIGNATURE_HEADER, BATCH_STATEMENT_HEADER};

/// The spool counter that numbers batch statements.
const SEQUENCE_COUNTER: &str = "batch-sequence";

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
        ledger::headers::statement_header_value(&self.statement)
    }

    /// The `TagTrail-Batch-Signature` header value.
    pub fn signature_header(&self) -> String {
        ledger::headers::signature_header_value(&self.signature)
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
    /// A spooled event's key set cannot be read (the spool was written by something else).
    #[error("spooled event {seq}: its key set cannot be read: {reason}")]
    BadSpooledKeys {
        /// The spool position.
        seq: i64,
        /// What is wrong.
        reason: String,
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
    /// The TLS handshake with ingest failed, most often because its certificate is not trusted
    /// (unknown CA: see `[upload] ca_file`), has expired or is for another host name.
    #[error("TLS with ingest failed: {0}")]
    Tls(String),
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
            UploadError::Network(_)
                | UploadError::Tls(_)
                | UploadError::Unavailable { .. }
                | UploadError::Receipts(_)
        )
    }
}

/// Builds the capture document, hashes it and signs the statement. The document carries the key
/// sets of its events' sealed values beside them (`sealed:keys`), the parts of one sealing batch
/// joined again; the events of a sealing batch past the [`MAX_KEY_SETS`]th are left for the
/// next document (the batch is the longest run of `events` from the first that fits).
pub fn prepare_batch(
    events: &[SpooledEvent],
    device: &DeviceId,
    key: &DeviceSigningKey,
    signed_at: UnixMillis,
    sequence: u64,
) -> Result<PreparedBatch, UploadError> {
    let mut parsed: Vec<Map<String, Value>> = Vec::with_capacity(events.len());
    let mut parts: Vec<KeySet> = Vec::new();
    // Field keys per batch key so far: a batch key takes a key set per MAX_FIELD_KEYS of them.
    let mut per_batch_key: std::collections::HashMap<[u8; 32], usize> =
        std::collections::HashMap::new();
    let mut sets = 0;
    let mut taken = 0;
    for event in events {
        if let Some(text) = &event.keys {
            let part = KeySet::parse_base64(text).map_err(|error| UploadError::BadSpooledKeys {
                seq: event.seq.get(),
                reason: error.to_string(),
            })?;
            let held = per_batch_key.entry(part.grant_id()).or_default();
            let needed = (*held + part.field_keys().len()).div_ceil(MAX_FIELD_KEYS);
            let more = needed - held.div_ceil(MAX_FIELD_KEYS);
            if sets + more > MAX_KEY_SETS {
                break;
            }
            sets += more;
            *held += part.field_keys().len();
            parts.push(part);
        }
        match serde_json::from_str::<Value>(&event.event) {
            Ok(Value::Object(object)) => parsed.push(object),
            _ => {
                return Err(UploadError::BadSpooledEvent {
                    seq: event.seq.get(),
                });
            }
        }
        taken += 1;
    }
    let events = &events[..taken];
    let mut document = crate::event::capture_document(&parsed, signed_at);
    if !parts.is_empty() {
        document[KEYS_MEMBER] = KeySet::join(parts)
            .iter()
            .map(|set| json!(set.to_base64()))
            .collect();
    }
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
    /// The oldest event's row could not be read (not a JSON object, or a key set that does not
    /// decode: the spool was written by something else or damaged); it was quarantined with the
    /// reason, so that it cannot hold up the events behind it.
    Unreadable {
        /// Its spool position.
        seq: i64,
        /// What was wrong.
        reason: String,
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
    /// An uploader to the capture URL `url`, sending at most `batch_size` events per request;
    /// `https://` servers must have a certificate from one of Mozilla's roots. A bridge built from
    /// its configuration uses [`Uploader::from_config`], which adds the site's `ca_file`.
    pub fn new(
        url: String,
        device: DeviceId,
        key: DeviceSigningKey,
        batch_size: usize,
        timeout: Duration,
    ) -> Self {
        Self::with_extra_roots(url, device, key, batch_size, timeout, Vec::new())
    }

    /// The uploader `[upload]` describes: reads and checks its `ca_file` (an error names the file)
    /// and logs a warning when the URL sends events in the clear to another machine. Call it at
    /// start-up, so that a bad CA file stops the bridge before anything is read.
    pub fn from_config(
        config: &UploadConfig,
        device: DeviceId,
        key: DeviceSigningKey,
        timeout: Duration,
    ) -> Result<Self, CaFileError> {
        let extra_roots = match &config.ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        if let Some(host) = plain_http_host(&config.url) {
            if !is_loopback_host(host) {
                tracing::warn!(
                    url = %config.url,
                    "upload.url is http:// to another machine: events and signatures travel unencrypted and ingest is not authenticated; use https://"
                );
            }
            if let Some(path) = &config.ca_file {
                tracing::warn!(
                    ca_file = %path.display(),
                    "upload.ca_file is set but upload.url is http://, so it is not used"
                );
            }
        }
        Ok(Self::with_extra_roots(
            config.url.clone(),
            device,
            key,
            config.batch_size,
            timeout,
            extra_roots,
        ))
    }

    /// An uploader that trusts `extra_roots` (from [`read_ca_file`]) as well as Mozilla's roots.
    pub fn with_extra_roots(
        url: String,
        device: DeviceId,
        key: DeviceSigningKey,
        batch_size: usize,
        timeout: Duration,
        extra_roots: Vec<Certificate<'static>>,
    ) -> Self {
        // TLS stack: ureq's `rustls` feature, that is rustls (pure Rust, no OpenSSL to install or
        // keep patched on gateways) with the `ring` crypto provider and Mozilla's root
        // certificates compiled in (webpki-roots), so verification does not depend on the
        // gateway's CA store being present or current. Verification is never disabled.
        let root_certs = if extra_roots.is_empty() {
            RootCerts::WebPki
        } else {
            // ureq takes either its built-in roots or one list of certificates: the list is
            // Mozilla's roots (as certificates, from webpki-root-certs) followed by the site's.
            let mozilla = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()));
            RootCerts::from(mozilla.chain(extra_roots))
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(root_certs)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // An https:// target is never followed to a plain-text redirect.
            .https_only(url.starts_with("https://"))
            .tls_config(tls)
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
        let batch = match prepare_batch(&events, &self.device, &self.key, now, sequence) {
            Ok(batch) => batch,
            Err(
                error @ (UploadError::BadSpooledEvent { seq }
                | UploadError::BadSpooledKeys { seq, .. }),
            ) => {
                let reason = error.to_string();
                let row: Vec<SpoolSeq> = events
                    .iter()
                    .map(|event| event.seq)
                    .filter(|row| row.get() == seq)
                    .collect();
                spool.quarantine(&row, &reason)?;
                return Ok(UploadOutcome::Unreadable { seq, reason });
            }
            Err(error) => return Err(error),
        };
        let response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/ld+json")
            .header(BATCH_STATEMENT_HEADER, &batch.statement_header())
            .header(BATCH_SIGNATURE_HEADER, &batch.signature_header())
            .send(&batch.document[..])
            .map_err(send_error)?;
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

/// Sorts a failed request into a TLS failure (a certificate or handshake problem, which an
/// operator has to fix) or a network one.
fn send_error(error: ureq::Error) -> UploadError {
    let tls = match &error {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
        // rustls reports handshake failures, a refused certificate among them, through the I/O
        // error of the handshake.
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    };
    if tls {
        UploadError::Tls(error.to_string())
    } else {
        UploadError::Network(error.to_string())
    }
}

/// The host of an `http://` URL (none for `https://` or a URL without a host).
fn plain_http_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed
            .split_once(']')
            .map_or(bracketed, |(host, _)| host)
    } else {
        host_port
            .split_once(':')
            .map_or(host_port, |(host, _)| host)
    };
    Some(host)
}

/// `localhost` or a loopback address (127.0.0.0/8, `::1`).
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// A CA file (`[upload] ca_file`) that cannot be used; every error names the file.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file cannot be read.
    #[error("failed to read the CA file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM block is malformed.
    #[error("CA file {}: malformed PEM: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// No `CERTIFICATE` block.
    #[error(
        "CA file {}: holds no certificate (expected one or more PEM \"-----BEGIN CERTIFICATE-----\" blocks)",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A private key, which has no place in a list of trusted CAs (and suggests the wrong file).
    #[error(
        "CA file {}: holds a private key; it must hold only the CA certificates to trust",
        path.display()
    )]
    PrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// A `CERTIFICATE` block that is not an X.509 certificate usable as a trust anchor.
    #[error("CA file {}: certificate {number} is not a usable X.509 certificate: {reason}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Its position in the file, from 1.
        number: usize,
        /// What rustls said.
        reason: String,
    },
}

/// Reads a PEM file of CA certificates to trust for `https://` uploads in addition to Mozilla's
/// roots. Every certificate is checked as rustls will use it, so that a bad file fails at start-up
/// rather than being skipped.
pub fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, CaFileError> {
    let pem = std::fs::read(path).map_err(|source| CaFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|error| CaFileError::Pem {
            path: path.to_owned(),
            reason: error.to_string(),
        })? {
            PemItem::Certificate(certificate) => {
                // The same parse rustls applies to a root; ureq would skip a failing one quietly.
                rustls::RootCertStore::empty()
                    .add(rustls::pki_types::CertificateDer::from(certificate.der()))
                    .map_err(|error| CaFileError::BadCertificate {
                        path: path.to_owned(),
                        number: certificates.len() + 1,
                        reason: error.to_string(),
                    })?;
                certificates.push(certificate);
            }
            PemItem::PrivateKey(_) => {
                return Err(CaFileError::PrivateKey {
                    path: path.to_owned(),
                });
            }
            // Other kinds of PEM block that ureq may learn to recognise: not certificates.
            _ => {}
        }
    }
    if certificates.is_empty() {
        return Err(CaFileError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

fn body_start(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_events_travel_with_their_key_sets_and_a_document_holds_at_most_64() {
        use ledger::sealed::{self, RecipientSecret, SealedField};

        // Reproducible test randomness.
        let mut generator = crate::simulator::Xorshift::new(0x5eed);
        let mut random = |bytes: &mut [u8]| generator.fill(bytes);
        let brand = RecipientSecret::generate(&mut random);
        let sealing = crate::config::Sealing {
            fields: vec!["/tagtrail:smoothing".to_owned()],
            recipients: vec![brand.public_key()],
        };
        let dir = std::env::temp_dir().join(format!("bridge-sealed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut spool = Spool::open(&dir.join("spool.sqlite"), 1000).unwrap();
        // 70 ticks, each sealing two events with a batch key of its own, and one event with
        // nothing to seal.
        let event = |serial: usize, reader: Option<String>| {
            let mut event = json!({
                "type": "ObjectEvent",
                "eventTime": "2026-01-01T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "epcList": [format!("urn:epc:id:sgtin:0614141.812345.{serial}")],
                "action": "OBSERVE",
            });
            if let Some(reader) = reader {
                event["tagtrail:smoothing"] = json!({"tagtrail:reader": reader});
            }
            event.as_object().unwrap().clone()
        };
        for tick in 0..70 {
            let mut events = vec![
                event(tick * 3, Some(format!("reader-{tick}-a"))),
                event(tick * 3 + 1, Some(format!("reader-{tick}-b"))),
                event(tick * 3 + 2, None),
            ];
            let sealed = crate::event::seal_events(&mut events, &sealing, &mut random).unwrap();
            assert_eq!(sealed.left_out, 0);
            assert!(
                sealed.keys[0].is_some() && sealed.keys[1].is_some() && sealed.keys[2].is_none()
            );
            let texts: Vec<String> = events
                .into_iter()
                .map(|e| Value::Object(e).to_string())
                .collect();
            spool
                .append_keyed(&texts, &sealed.keys, UnixMillis::from_millis(1))
                .unwrap();
        }
        let device = DeviceId::parse("urn:tagtrail:device:sealing").unwrap();
        let key = DeviceSigningKey::from_seed(&[7; 32]);
        let mut opened = Vec::new();
        for (sequence, (events, key_sets)) in [(192, 64), (18, 6)].into_iter().enumerate() {
            let spooled = spool.peek(1000).unwrap();
            let batch = prepare_batch(
                &spooled,
                &device,
                &key,
                UnixMillis::from_millis(2),
                sequence as u64 + 1,
            )
            .unwrap();
            // The 65th batch key waits for the next document, with every event after it.
            assert_eq!(batch.seqs.len(), events);
            let text = String::from_utf8(batch.document.clone()).unwrap();
            assert!(!text.contains("reader-"), "a sealed value in clear: {text}");
            let document: Value = serde_json::from_str(&text).unwrap();
            let sets: Vec<KeySet> = document[KEYS_MEMBER]
                .as_array()
                .unwrap()
                .iter()
                .map(|set| KeySet::parse_base64(set.as_str().unwrap()).unwrap())
                .collect();
            assert_eq!(sets.len(), key_sets);
            assert!(sets.iter().all(|set| set.field_keys().len() == 2));
            // The hashes signed are those of the events as spooled (sealed once, when spooled).
            for (row, hash) in spooled.iter().zip(&batch.hashes) {
                assert_eq!(crate::event::event_hash(&row.event).unwrap(), *hash);
            }
            // The brand opens every sealed value with the document's key sets.
            for event in document["epcisBody"]["eventList"].as_array().unwrap() {
                let Some(value) = event.get("tagtrail:smoothing") else {
                    continue;
                };
                let field = SealedField::from_json(value).unwrap().unwrap();
                let set = sets
                    .iter()
                    .find(|set| {
                        set.field_keys()
                            .iter()
                            .any(|k| k.commitment() == field.commitment())
                    })
                    .unwrap();
                let field_key = set
                    .field_keys()
                    .iter()
                    .find(|k| k.commitment() == field.commitment())
                    .unwrap();
                let opening = sealed::open(&field, field_key, &set.envelopes()[0], &brand).unwrap();
                let smoothing: Value = serde_json::from_slice(opening.value()).unwrap();
                opened.push(smoothing["tagtrail:reader"].as_str().unwrap().to_owned());
            }
            spool.remove(&batch.seqs).unwrap();
        }
        assert_eq!(opened.len(), 140);
        assert_eq!(opened[0], "reader-0-a");
        assert_eq!(opened[139], "reader-69-b");
        // A key set the spool cannot read stops the batch, naming the event.
        spool
            .append_keyed(
                &[Value::Object(event(1, None)).to_string()],
                &[Some("not base64!".to_owned())],
                UnixMillis::from_millis(3),
            )
            .unwrap();
        let spooled = spool.peek(10).unwrap();
        let refused =
            prepare_batch(&spooled, &device, &key, UnixMillis::from_millis(4), 9).unwrap_err();
        assert!(
            matches!(refused, UploadError::BadSpooledKeys { seq, .. } if seq == spooled[0].seq.get()),
            "{refused}"
        );
        // The uploader quarantines that row, naming why, before it asks ingest anything (nothing
        // listens at the URL), and the events behind it are no longer held up.
        spool
            .append(
                &[Value::Object(event(2, None)).to_string()],
                UnixMillis::from_millis(5),
            )
            .unwrap();
        let uploader = Uploader::new(
            "http://127.0.0.1:9/capture".to_owned(),
            device.clone(),
            DeviceSigningKey::from_seed(&[7; 32]),
            10,
            std::time::Duration::from_secs(1),
        );
        match uploader
            .upload_once(&mut spool, UnixMillis::from_millis(6))
            .unwrap()
        {
            UploadOutcome::Unreadable { seq, reason } => {
                assert_eq!(seq, spooled[0].seq.get());
                assert!(reason.contains("key set cannot be read"), "{reason}");
            }
            other => panic!("not quarantined as unreadable: {other:?}"),
        }
        assert_eq!(spool.quarantined().unwrap(), 1);
        assert_eq!(spool.peek(10).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_plain_http_to_another_machine_counts_as_unencrypted_off_the_gateway() {
        let remote = |url: &str| plain_http_host(url).is_some_and(|host| !is_loopback_host(host));
        for url in [
            "http://127.0.0.1:8081/capture",
            "http://127.9.0.1/capture",
            "http://localhost:8081/capture",
            "http://LOCALHOST/capture",
            "http://[::1]:8081/capture",
            "https://ingest.example/capture",
            "https://10.0.0.5/capture",
        ] {
            assert!(!remote(url), "{url}");
        }
        for url in [
            "http://ingest.example/capture",
            "http://ingest.example:8081",
            "http://10.0.0.5:8081/capture",
            "http://[2001:db8::1]:8081/capture",
            "http://localhost.example/capture",
            "http://user@192.0.2.1/capture",
        ] {
            assert!(remote(url), "{url}");
        }
        assert_eq!(plain_http_host("http://[::1]:80/x"), Some("::1"));
        assert_eq!(plain_http_host("http://host:1?q"), Some("host"));
    }
}
