#![doc = include_str!("../README.md")]

pub mod log;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use epcis::rest::ErrorBehaviour;
use ledger::batch::{DevicePublicKey, DeviceSigningKey, EventBatch};
use ledger::headers::{
    BATCH_SIGNATURE_HEADER, BATCH_STATEMENT_HEADER, signature_header_value, statement_header_value,
};
use ledger::key_file::{KeyFileError, parse_private_key_file, parse_public_key_file};
use ledger::{DeviceId, UnixMillis};
use serde_json::Value;
use zeroize::Zeroizing;

/// Why a device key file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadKeyError {
    #[error("failed to read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Format {
        path: String,
        #[source]
        source: KeyFileError,
    },
}

/// Reads a private device key file (`ledger::key_file`'s format).
pub fn read_private_key(path: &Path) -> Result<DeviceSigningKey, ReadKeyError> {
    let text = Zeroizing::new(read(path)?);
    parse_private_key_file(&text).map_err(|source| ReadKeyError::Format {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a public device key file (`ledger::key_file`'s format).
pub fn read_public_key(path: &Path) -> Result<DevicePublicKey, ReadKeyError> {
    parse_public_key_file(&read(path)?).map_err(|source| ReadKeyError::Format {
        path: path.display().to_string(),
        source,
    })
}

fn read(path: &Path) -> Result<String, ReadKeyError> {
    std::fs::read_to_string(path).map_err(|source| ReadKeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A device's identity for signing batch statements.
#[derive(Debug)]
pub struct DeviceSigner {
    device: DeviceId,
    key: DeviceSigningKey,
    next_sequence: AtomicU64,
}

/// Why a document could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the document is not JSON")]
    Json(#[source] serde_json::Error),
    #[error("the document's events cannot be hashed")]
    Hash(#[source] epcis::hash::HashError),
    #[error("a signed batch holds 1 to 1,048,576 events")]
    BatchSize,
}

impl DeviceSigner {
    /// A signer for `device` with `key`; sequence numbers start at the current time in
    /// microseconds, so that statements of successive runs differ.
    pub fn new(device: DeviceId, key: DeviceSigningKey) -> Self {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
            });
        Self {
            device,
            key,
            next_sequence: AtomicU64::new(start),
        }
    }

    /// The device.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The two headers of a device capture of `document`: the batch statement over its events'
    /// CBV 2.0 hashes, in order, and the signature.
    pub fn headers(&self, document: &[u8]) -> Result<[(&'static str, String); 2], SignError> {
        let value: Value = serde_json::from_slice(document).map_err(SignError::Json)?;
        let hashes: Vec<epcis::EventHash> = epcis::hash::document_hashes(&value)
            .map_err(SignError::Hash)?
            .into_iter()
            .map(|(_, hash)| hash)
            .collect();
        self.headers_for_hashes(&hashes)
    }

    /// The two headers for a batch of already computed event hashes.
    pub fn headers_for_hashes(
        &self,
        hashes: &[epcis::EventHash],
    ) -> Result<[(&'static str, String); 2], SignError> {
        let batch = EventBatch::new(hashes).map_err(|_| SignError::BatchSize)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            });
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let statement =
            batch.statement(self.device.clone(), UnixMillis::from_millis(now), sequence);
        let signature = statement.sign(&self.key);
        Ok([
            (BATCH_STATEMENT_HEADER, statement_header_value(&statement)),
            (BATCH_SIGNATURE_HEADER, signature_header_value(&signature)),
        ])
    }
}

/// How a client authenticates. A token is a secret: `Debug` does not show it, and it is zeroed
/// when the credential is dropped.
// A client holds one credential for its whole life: the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Credential {
    /// As a device, signing each document's batch statement.
    Device(DeviceSigner),
    /// With a site API token.
    Token(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Device(signer) => f.debug_tuple("Device").field(signer).finish(),
            Self::Token(_) => f.write_str("Token(..)"),
        }
    }
}

impl Drop for Credential {
    fn drop(&mut self) {
        if let Self::Token(token) = self {
            zeroize::Zeroize::zeroize(token);
        }
    }
}

/// The answer to a request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The `Retry-After` header of a `503`, if any (seconds).
    pub retry_after: Option<String>,
    /// The body as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("the request failed")]
    Http(#[source] ureq::Error),
}

/// A blocking client of one ingest service. Cheap to share between threads.
#[derive(Debug)]
pub struct CaptureClient {
    base: String,
    agent: ureq::Agent,
    credential: Credential,
}

impl CaptureClient {
    /// A client of the service at `base` (`http://host:port`).
    pub fn new(base: &str, credential: Credential) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent: agent(),
            credential,
        }
    }

    /// Sends a capture document (`POST /capture`), signed for a device.
    pub fn capture(
        &self,
        document: &[u8],
        behaviour: Option<ErrorBehaviour>,
    ) -> Result<Reply, ClientError> {
        let mut request = self
            .agent
            .post(format!("{}/capture", self.base))
            .header("Content-Type", "application/ld+json");
        match &self.credential {
            Credential::Device(signer) => {
                for (name, value) in signer.headers(document)? {
                    request = request.header(name, value);
                }
            }
            Credential::Token(token) => {
                request = request.header("Authorization", format!("Bearer {token}"))
            }
        }
        if let Some(behaviour) = behaviour {
            request = request.header(ErrorBehaviour::HEADER, behaviour.as_str());
        }
        reply(request.send(document).map_err(ClientError::Http)?)
    }

    /// Sends a capture with exactly the headers given (for tests of malformed requests).
    pub fn post_raw(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<Reply, ClientError> {
        let mut request = self.agent.post(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        reply(request.send(body).map_err(ClientError::Http)?)
    }

    /// `GET` a path with the token (if this client has one).
    pub fn get(&self, path: &str) -> Result<Reply, ClientError> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Credential::Token(token) = &self.credential {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        reply(request.call().map_err(ClientError::Http)?)
    }
}

/// An HTTP agent that hands every status back as an answer, and gives up on a request after two
/// minutes.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn reply(mut response: ureq::http::Response<ureq::Body>) -> Result<Reply, ClientError> {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let location = header("Location");
    let retry_after = header("Retry-After");
    let bytes = response
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_vec()
        .map_err(ClientError::Http)?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        location,
        retry_after,
        body,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    use ledger::key_file::{private_key_file_text, public_key_file_text};

    #[test]
    fn a_private_key_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("capture-client-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("device.key");
        std::fs::write(&path, private_key_file_text(&[9; 32]).as_str()).unwrap();
        let key = read_private_key(&path).unwrap();
        assert_eq!(
            key.public_key(),
            DeviceSigningKey::from_seed(&[9; 32]).public_key()
        );
        let public = dir.join("device.pub");
        std::fs::write(&public, public_key_file_text(&key.public_key())).unwrap();
        assert_eq!(read_public_key(&public).unwrap(), key.public_key());
        std::fs::write(&path, "{\"algorithm\": \"ed25519\", \"seed\": \"AAAA\"}").unwrap();
        assert!(read_private_key(&path).is_err());
    }
}
