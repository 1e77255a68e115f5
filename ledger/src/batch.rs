//! Device batch statements: how a reporting device attests to a batch of events.
//!
//! The device builds an RFC 6962 tree whose leaves are the batch's 32-byte CBV 2.0 event hashes (leaf
//! hash `SHA-256(0x00 || event hash)`), and signs a short binary statement committing to that tree's
//! root and size, its own id, the time and a per-device sequence number. One event's attestation is
//! then checkable on its own, from the event hash, its [`BatchPath`], the statement and the
//! signature.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use epcis::EventHash;

use crate::encoding::{ByteReader, Truncated, base64_decode, base64_encode};
use crate::hash::{Hash, RootHash, leaf_hash};
use crate::ids::{DeviceId, IdError, UnixMillis};
use crate::size::{LeafIndex, TreeSize};
use crate::tree::{InclusionError, InclusionProof, MemoryTree, prove_inclusion};

/// The first bytes of every encoded statement: the format, its version, and a domain separator so
/// that a device signature over a statement cannot be taken for a signature over anything else.
pub const STATEMENT_CONTEXT: &[u8] = b"tagtrail/device-batch/v1\n";

/// The most events one batch may hold.
pub const MAX_BATCH_SIZE: u32 = 1 << 20;

/// The SHA-256 of an encoded [`BatchStatement`]: how a leaf record names the batch it came in.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatementHash(Hash);

impl StatementHash {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Hash::from_bytes(bytes))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for StatementHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatementHash({})", self.0.to_hex())
    }
}

/// What a device signs about one batch of events.
///
/// Encoded as (all integers big-endian):
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 25 | `tagtrail/device-batch/v1\n` |
/// | 25 | 32 | batch root: RFC 6962 root over the event hashes |
/// | 57 | 4 | batch size (1 to 2^20 events) |
/// | 61 | 8 | signed at, Unix milliseconds |
/// | 69 | 8 | sequence number, unique per device |
/// | 77 | 1 | device id length `n` (1 to 128) |
/// | 78 | `n` | device id, UTF-8 |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchStatement {
    root: RootHash,
    size: u32,
    signed_at: UnixMillis,
    sequence: u64,
    device: DeviceId,
}

impl BatchStatement {
    /// A statement about a batch of `size` events whose tree has root `root`.
    pub fn new(
        device: DeviceId,
        root: RootHash,
        size: u32,
        signed_at: UnixMillis,
        sequence: u64,
    ) -> Result<Self, StatementError> {
        if size == 0 || size > MAX_BATCH_SIZE {
            return Err(StatementError::BadBatchSize(size));
        }
        Ok(Self {
            root,
            size,
            signed_at,
            sequence,
            device,
        })
    }

    /// The reporting device.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The root of the batch's event tree.
    pub fn root(&self) -> &RootHash {
        &self.root
    }

    /// The number of events in the batch.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// When the device signed.
    pub fn signed_at(&self) -> UnixMillis {
        self.signed_at
    }

    /// The device's sequence number for this batch.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The canonical encoding (the bytes that are signed and hashed).
    pub fn encode(&self) -> Vec<u8> {
        let device = self.device.as_str().as_bytes();
        let mut out = Vec::with_capacity(STATEMENT_CONTEXT.len() + 53 + device.len());
        out.extend_from_slice(STATEMENT_CONTEXT);
        out.extend_from_slice(self.root.as_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.signed_at.as_millis().to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        // A device id is at most 128 bytes (checked when it was parsed).
        out.push(u8::try_from(device.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(device);
        out
    }

    /// Decodes a statement, refusing other contexts or versions, bad fields and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatementError> {
        let mut reader = ByteReader::new(bytes);
        let context = reader.take(STATEMENT_CONTEXT.len(), "context")?;
        if context != STATEMENT_CONTEXT {
            return Err(StatementError::UnknownContext);
        }
        let root = RootHash::from_bytes(reader.array("batch root")?);
        let size = reader.u32("batch size")?;
        let signed_at = UnixMillis::from_millis(reader.u64("signed at")?);
        let sequence = reader.u64("sequence")?;
        let device = reader
            .short_str("device id")?
            .map_err(|_| StatementError::DeviceIdNotUtf8)?;
        let device = DeviceId::parse(device)?;
        if reader.remaining() != 0 {
            return Err(StatementError::TrailingBytes(reader.remaining()));
        }
        Self::new(device, root, size, signed_at, sequence)
    }

    /// The SHA-256 of the encoding, as bound into leaf records.
    pub fn hash(&self) -> StatementHash {
        StatementHash(Hash::from_bytes(Sha256::digest(self.encode()).into()))
    }

    /// The device's signature over the encoding.
    pub fn sign(&self, key: &DeviceSigningKey) -> DeviceSignature {
        DeviceSignature::Ed25519(key.0.sign(&self.encode()).to_bytes())
    }

    /// Checks the device's signature over the encoding.
    pub fn verify(
        &self,
        key: &DevicePublicKey,
        signature: &DeviceSignature,
    ) -> Result<(), SignatureError> {
        match (key, signature) {
            (DevicePublicKey::Ed25519(key), DeviceSignature::Ed25519(signature)) => key
                .verify_strict(&self.encode(), &Signature::from_bytes(signature))
                .map_err(|_| SignatureError::Invalid),
        }
    }
}

/// Why bytes are not a batch statement, or a statement cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("a batch statement starts with `tagtrail/device-batch/v1\\n`")]
    UnknownContext,
    #[error("the batch statement ends inside its {0} field")]
    Truncated(&'static str),
    #[error("a batch holds 1 to 1048576 events, found {0}")]
    BadBatchSize(u32),
    #[error("the device id of a batch statement must be UTF-8")]
    DeviceIdNotUtf8,
    #[error("invalid device id in a batch statement: {0}")]
    BadDeviceId(#[from] IdError),
    #[error("{0} unexpected bytes follow the batch statement")]
    TrailingBytes(usize),
}

impl From<Truncated> for StatementError {
    fn from(Truncated(field): Truncated) -> Self {
        Self::Truncated(field)
    }
}

/// A device signature that does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the device signature does not verify under the device key")]
    Invalid,
}

/// A batch of event hashes as the device holds it: the tree over them, to sign its root and hand
/// out each event's [`BatchPath`].
#[derive(Clone, Debug)]
pub struct EventBatch {
    tree: MemoryTree,
    size: u32,
}

impl EventBatch {
    /// Builds the tree of a batch of 1 to 2^20 event hashes (leaves in the given order).
    pub fn new(events: &[EventHash]) -> Result<Self, StatementError> {
        let size = u32::try_from(events.len())
            .ok()
            .filter(|&n| n > 0 && n <= MAX_BATCH_SIZE)
            .ok_or(StatementError::BadBatchSize(
                u32::try_from(events.len()).unwrap_or(u32::MAX),
            ))?;
        let tree = MemoryTree::from_leaf_hashes(events.iter().map(batch_leaf_hash))
            .map_err(|_| StatementError::BadBatchSize(size))?;
        Ok(Self { tree, size })
    }

    /// The root of the batch tree.
    pub fn root(&self) -> RootHash {
        self.tree.root()
    }

    /// The number of events.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The statement to sign for this batch.
    pub fn statement(
        &self,
        device: DeviceId,
        signed_at: UnixMillis,
        sequence: u64,
    ) -> BatchStatement {
        BatchStatement {
            root: self.root(),
            size: self.size,
            signed_at,
            sequence,
            device,
        }
    }

    /// The path of the event at `index` to the batch root.
    pub fn path(&self, index: u32) -> Option<BatchPath> {
        let proof = prove_inclusion(
            &self.tree,
            LeafIndex::from(index),
            TreeSize::from(self.size),
        )
        .ok()?;
        Some(BatchPath {
            index,
            hashes: proof.hashes().to_vec(),
        })
    }
}

/// The leaf hash of an event in a batch tree: `SHA-256(0x00 || 32-byte event hash)`.
pub fn batch_leaf_hash(event: &EventHash) -> Hash {
    leaf_hash(event.as_bytes())
}

/// An event's inclusion path in its batch tree: its index and the sibling hashes from the leaf up.
///
/// In JSON: `{"index": 3, "hashes": ["<base64>", ...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchPath {
    index: u32,
    hashes: Vec<Hash>,
}

impl BatchPath {
    /// Assembles a path from its parts; nothing is checked until [`verify`](Self::verify).
    pub fn new(index: u32, hashes: Vec<Hash>) -> Self {
        Self { index, hashes }
    }

    /// The event's position in the batch.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The sibling hashes, from the leaf up.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Checks that `event` is at this path's index in the batch the statement commits to.
    pub fn verify(
        &self,
        event: &EventHash,
        statement: &BatchStatement,
    ) -> Result<(), InclusionError> {
        InclusionProof::new(
            LeafIndex::from(self.index),
            TreeSize::from(statement.size),
            self.hashes.clone(),
        )
        .verify(&batch_leaf_hash(event), &statement.root)
    }
}

/// A device's private signing key (Ed25519), built from its 32-byte seed. Secret: `Debug` does not
/// show it and it is zeroed when dropped.
pub struct DeviceSigningKey(SigningKey);

impl DeviceSigningKey {
    /// The key of a 32-byte Ed25519 seed (the private key of RFC 8032).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The matching public key, to register with ingest.
    pub fn public_key(&self) -> DevicePublicKey {
        DevicePublicKey::Ed25519(self.0.verifying_key())
    }
}

impl fmt::Debug for DeviceSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSigningKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// A device's public key. Ed25519 today; RSA verification may be added for devices that can only
/// sign with RSA.
///
/// In JSON: `{"algorithm": "ed25519", "key": "<base64 of the 32-byte key>"}`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DevicePublicKey {
    /// An Ed25519 public key (RFC 8032).
    Ed25519(VerifyingKey),
}

impl DevicePublicKey {
    /// Parses a 32-byte Ed25519 public key.
    pub fn from_ed25519_bytes(bytes: &[u8; 32]) -> Result<Self, DeviceKeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self::Ed25519)
            .map_err(|_| DeviceKeyError::InvalidKey)
    }

    /// The algorithm name used in JSON.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "ed25519",
        }
    }

    /// The raw key bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Ed25519(key) => key.as_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DevicePublicKey({}:{})",
            self.algorithm(),
            base64_encode(&self.to_bytes())
        )
    }
}

/// A device's signature over a batch statement.
///
/// In JSON: `{"algorithm": "ed25519", "signature": "<base64 of the 64-byte signature>"}`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceSignature {
    /// An Ed25519 signature (RFC 8032).
    Ed25519([u8; 64]),
}

impl DeviceSignature {
    /// The algorithm name used in JSON.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "ed25519",
        }
    }

    /// The raw signature bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Ed25519(bytes) => bytes.to_vec(),
        }
    }
}

impl fmt::Debug for DeviceSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeviceSignature({}:{})",
            self.algorithm(),
            base64_encode(&self.to_bytes())
        )
    }
}

/// Every public key each device has had, oldest first, as a registry holds them: what old batches
/// are checked with (a device's batches stay checkable after it is given a new key). A stored key
/// that does not parse is kept as such (`None`), so that a verifier can say so where it matters.
#[derive(Debug, Clone, Default)]
pub struct DeviceKeyring {
    keys: std::collections::HashMap<String, Vec<Option<DevicePublicKey>>>,
}

impl DeviceKeyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `device`'s next key (after the ones it holds for it).
    pub fn add(&mut self, device: &str, key: Option<DevicePublicKey>) {
        self.keys.entry(device.to_owned()).or_default().push(key);
    }

    /// The keys of `device`, oldest first; `None` if the keyring knows no key of it.
    pub fn keys_of(&self, device: &str) -> Option<&[Option<DevicePublicKey>]> {
        self.keys.get(device).map(Vec::as_slice)
    }

    /// How many devices it holds keys of.
    pub fn devices(&self) -> usize {
        self.keys.len()
    }
}

/// Why bytes are not a device key or signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceKeyError {
    #[error("unknown device key algorithm {0:?}: only \"ed25519\" is supported")]
    UnknownAlgorithm(String),
    #[error("the device key or signature must be standard padded base64 of the right length")]
    BadEncoding,
    #[error("the bytes are not a valid Ed25519 public key")]
    InvalidKey,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyJson<'a> {
    algorithm: std::borrow::Cow<'a, str>,
    key: std::borrow::Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureJson<'a> {
    algorithm: std::borrow::Cow<'a, str>,
    signature: std::borrow::Cow<'a, str>,
}

impl Serialize for DevicePublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        KeyJson {
            algorithm: self.algorithm().into(),
            key: base64_encode(&self.to_bytes()).into(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DevicePublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = KeyJson::deserialize(deserializer)?;
        let parsed = match json.algorithm.as_ref() {
            "ed25519" => base64_decode(&json.key)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or(DeviceKeyError::BadEncoding)
                .and_then(|bytes| Self::from_ed25519_bytes(&bytes)),
            other => Err(DeviceKeyError::UnknownAlgorithm(other.to_owned())),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

impl Serialize for DeviceSignature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SignatureJson {
            algorithm: self.algorithm().into(),
            signature: base64_encode(&self.to_bytes()).into(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DeviceSignature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = SignatureJson::deserialize(deserializer)?;
        let parsed = match json.algorithm.as_ref() {
            "ed25519" => base64_decode(&json.signature)
                .ok()
                .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                .map(Self::Ed25519)
                .ok_or(DeviceKeyError::BadEncoding),
            other => Err(DeviceKeyError::UnknownAlgorithm(other.to_owned())),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u8) -> EventHash {
        EventHash::from_bytes([n; 32])
    }

    fn statement() -> BatchStatement {
        BatchStatement::new(
            DeviceId::parse("dock-3").unwrap(),
            RootHash::from_bytes([0xab; 32]),
            1700,
            UnixMillis::from_millis(1_700_000_000_123),
            42,
        )
        .unwrap()
    }

    // Golden bytes: the layout documented above and in the README, written out by hand.
    #[test]
    fn a_statement_encodes_to_the_documented_bytes() {
        let mut expected = b"tagtrail/device-batch/v1\n".to_vec();
        expected.extend_from_slice(&[0xab; 32]);
        expected.extend_from_slice(&[0x00, 0x00, 0x06, 0xa4]);
        expected.extend_from_slice(&[0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42]);
        expected.extend_from_slice(&[6, b'd', b'o', b'c', b'k', b'-', b'3']);
        assert_eq!(statement().encode(), expected);
        assert_eq!(BatchStatement::decode(&expected), Ok(statement()));
    }

    #[test]
    fn malformed_statements_are_refused_with_the_field_named() {
        let bytes = statement().encode();
        assert_eq!(
            BatchStatement::decode(&bytes[..60]),
            Err(StatementError::Truncated("batch size"))
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            BatchStatement::decode(&longer),
            Err(StatementError::TrailingBytes(1))
        );
        let mut other_version = bytes.clone();
        other_version[23] = b'2';
        assert_eq!(
            BatchStatement::decode(&other_version),
            Err(StatementError::UnknownContext)
        );
        let mut empty_batch = bytes;
        empty_batch[57..61].copy_from_slice(&[0; 4]);
        assert_eq!(
            BatchStatement::decode(&empty_batch),
            Err(StatementError::BadBatchSize(0))
        );
    }

    #[test]
    fn a_signed_statement_verifies_only_under_its_key_and_unchanged() {
        let key = DeviceSigningKey::from_seed(&[3; 32]);
        let signature = statement().sign(&key);
        assert_eq!(statement().verify(&key.public_key(), &signature), Ok(()));
        let other = DeviceSigningKey::from_seed(&[4; 32]);
        assert_eq!(
            statement().verify(&other.public_key(), &signature),
            Err(SignatureError::Invalid)
        );
        let changed = BatchStatement::new(
            statement().device().clone(),
            *statement().root(),
            statement().size(),
            statement().signed_at(),
            43,
        )
        .unwrap();
        assert_eq!(
            changed.verify(&key.public_key(), &signature),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn every_event_of_a_batch_has_a_path_to_the_signed_root() {
        let events: Vec<EventHash> = (0..13).map(event).collect();
        let batch = EventBatch::new(&events).unwrap();
        let statement = batch.statement(
            DeviceId::parse("reader-1").unwrap(),
            UnixMillis::from_millis(1),
            1,
        );
        for (i, hash) in events.iter().enumerate() {
            let path = batch.path(u32::try_from(i).unwrap()).unwrap();
            assert_eq!(path.verify(hash, &statement), Ok(()));
            assert!(path.verify(&event(99), &statement).is_err());
        }
        assert!(batch.path(13).is_none());
        assert!(EventBatch::new(&[]).is_err());
    }

    #[test]
    fn the_batch_root_is_the_rfc_6962_root_of_the_event_hashes() {
        let events = [event(1), event(2), event(3)];
        let batch = EventBatch::new(&events).unwrap();
        let expected = crate::hash::node_hash(
            &crate::hash::node_hash(&leaf_hash(&[1; 32]), &leaf_hash(&[2; 32])),
            &leaf_hash(&[3; 32]),
        );
        assert_eq!(batch.root(), RootHash::from_hash(expected));
    }

    #[test]
    fn device_keys_and_signatures_round_trip_through_json() {
        let key = DeviceSigningKey::from_seed(&[3; 32]);
        let public = key.public_key();
        let json = serde_json::to_string(&public).unwrap();
        assert!(
            json.starts_with(r#"{"algorithm":"ed25519","key":""#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<DevicePublicKey>(&json).unwrap(),
            public
        );
        let signature = statement().sign(&key);
        let json = serde_json::to_string(&signature).unwrap();
        assert_eq!(
            serde_json::from_str::<DeviceSignature>(&json).unwrap(),
            signature
        );
        assert!(
            serde_json::from_str::<DevicePublicKey>(r#"{"algorithm":"rsa","key":"AAAA"}"#).is_err()
        );
    }

    #[test]
    fn the_device_signing_key_is_not_shown_by_debug() {
        let key = DeviceSigningKey::from_seed(&[0x5a; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains("public_key"), "{shown}");
        assert!(!shown.contains("WlpaWlpa"), "{shown}");
    }
}
