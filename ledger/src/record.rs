//! The leaf record: the canonical bytes the log commits to for each accepted event.
//!
//! A leaf of the log is `SHA-256(0x00 || record)`. The record binds the CBV 2.0 event hash, the
//! digest of the exact event bytes the ledger stores and serves (version 2), when the event was
//! captured, and who reported it: a device (by id, with the hash of the batch statement it signed
//! and the event's index in that batch), or, for documents accepted with a site API token, the
//! site, marked unattested.
//!
//! Version 1 records (written before the event digest existed) stay valid and are still read: they
//! bind the CBV 2.0 hash only, which leaves out `eventID`, `errorDeclaration`, the zone an instant
//! is written in and the JSON's spelling, so an edit to those stored bytes goes unnoticed. The
//! audit counts them.

use std::fmt;

use sha2::{Digest, Sha256};

use epcis::EventHash;

use crate::batch::{MAX_BATCH_SIZE, StatementHash};
use crate::encoding::{ByteReader, Truncated};
use crate::hash::{Hash, leaf_hash};
use crate::ids::{DeviceId, IdError, SiteId, UnixMillis};

/// The version byte of the record layout this crate writes.
pub const LEAF_RECORD_VERSION: u8 = 2;
/// The version byte of the first layout, without the event digest (read, never written).
pub const LEAF_RECORD_VERSION_1: u8 = 1;

/// The attestation tag of an event reported by a device in a signed batch.
const TAG_DEVICE: u8 = 0x01;
/// The attestation tag of an event accepted with a site API token, not signed by a device.
const TAG_UNATTESTED: u8 = 0x02;

/// The SHA-256 of the exact bytes of an event as the ledger stores and serves it (its
/// self-contained JSON text, UTF-8). Compared in constant time.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventDigest(crate::hash::Hash);

impl EventDigest {
    /// The digest of stored event bytes.
    pub fn of(event: &[u8]) -> Self {
        Self(crate::hash::Hash::from_bytes(Sha256::digest(event).into()))
    }

    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(crate::hash::Hash::from_bytes(bytes))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for EventDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventDigest({})", self.0.to_hex())
    }
}

impl fmt::Display for EventDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_hex())
    }
}

/// Whether a record binds the bytes of a stored event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventBinding {
    /// A version 2 record whose digest is that of the bytes.
    Exact,
    /// A version 2 record whose digest is not that of the bytes: they were changed.
    Differs {
        /// The digest the record commits to.
        committed: EventDigest,
        /// The digest of the bytes given.
        found: EventDigest,
    },
    /// A version 1 record: it binds the CBV 2.0 hash only, not the bytes.
    HashOnly,
}

/// Who vouches for an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attestation {
    /// Reported by a device that signed the batch the event came in.
    Device {
        /// The reporting device.
        device: DeviceId,
        /// The SHA-256 of the batch statement the device signed.
        statement: StatementHash,
        /// The event's index in that batch (below 2^20).
        index: u32,
    },
    /// Accepted with a site's API token; no device signature covers it.
    Unattested {
        /// The site whose token was used.
        site: SiteId,
    },
}

/// The record committed to the log for one event.
///
/// Version 2 layout (all integers big-endian, ids are UTF-8 after a one-byte length):
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | version, `0x02` |
/// | 1 | 32 | CBV 2.0 event hash |
/// | 33 | 32 | event digest: SHA-256 of the stored event bytes |
/// | 65 | 8 | captured at, Unix milliseconds |
/// | 73 | 1 | attestation tag: `0x01` device, `0x02` unattested |
///
/// then, for a device: device id length `n` (1 byte, 1 to 128), device id (`n` bytes), batch
/// statement hash (32 bytes), index in batch (4 bytes); for unattested: site id length `n` (1 byte),
/// site id (`n` bytes). Nothing may follow. Version 1 is the same without the event digest (the
/// version byte `0x01`, the captured time at offset 33).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafRecord {
    event_hash: EventHash,
    /// `None` for a version 1 record.
    event_digest: Option<EventDigest>,
    captured_at: UnixMillis,
    attestation: Attestation,
}

impl LeafRecord {
    /// A version 2 record for an event stored as `event` bytes; a device attestation's index must
    /// be below 2^20.
    pub fn new(
        event_hash: EventHash,
        event: &[u8],
        captured_at: UnixMillis,
        attestation: Attestation,
    ) -> Result<Self, RecordError> {
        Self::build(
            event_hash,
            Some(EventDigest::of(event)),
            captured_at,
            attestation,
        )
    }

    /// A version 1 record, as written before the event digest existed (for tests of old logs
    /// and of readers that must still accept them).
    pub fn version_1(
        event_hash: EventHash,
        captured_at: UnixMillis,
        attestation: Attestation,
    ) -> Result<Self, RecordError> {
        Self::build(event_hash, None, captured_at, attestation)
    }

    fn build(
        event_hash: EventHash,
        event_digest: Option<EventDigest>,
        captured_at: UnixMillis,
        attestation: Attestation,
    ) -> Result<Self, RecordError> {
        if let Attestation::Device { index, .. } = attestation
            && index >= MAX_BATCH_SIZE
        {
            return Err(RecordError::BatchIndexTooLarge(index));
        }
        Ok(Self {
            event_hash,
            event_digest,
            captured_at,
            attestation,
        })
    }

    /// The layout version: 2, or 1 for records written before the event digest.
    pub fn version(&self) -> u8 {
        match self.event_digest {
            Some(_) => LEAF_RECORD_VERSION,
            None => LEAF_RECORD_VERSION_1,
        }
    }

    /// The CBV 2.0 hash of the event.
    pub fn event_hash(&self) -> &EventHash {
        &self.event_hash
    }

    /// The digest of the stored event bytes (`None` for a version 1 record).
    pub fn event_digest(&self) -> Option<&EventDigest> {
        self.event_digest.as_ref()
    }

    /// Whether the record binds these stored event bytes.
    pub fn binds_event(&self, event: &[u8]) -> EventBinding {
        match self.event_digest {
            None => EventBinding::HashOnly,
            Some(committed) => {
                let found = EventDigest::of(event);
                if found == committed {
                    EventBinding::Exact
                } else {
                    EventBinding::Differs { committed, found }
                }
            }
        }
    }

    /// When ingest captured (accepted) the event.
    pub fn captured_at(&self) -> UnixMillis {
        self.captured_at
    }

    /// Who vouches for the event.
    pub fn attestation(&self) -> &Attestation {
        &self.attestation
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(112 + 128);
        out.push(self.version());
        out.extend_from_slice(self.event_hash.as_bytes());
        if let Some(digest) = &self.event_digest {
            out.extend_from_slice(digest.as_bytes());
        }
        out.extend_from_slice(&self.captured_at.as_millis().to_be_bytes());
        match &self.attestation {
            Attestation::Device {
                device,
                statement,
                index,
            } => {
                out.push(TAG_DEVICE);
                push_short_str(&mut out, device.as_str());
                out.extend_from_slice(statement.as_bytes());
                out.extend_from_slice(&index.to_be_bytes());
            }
            Attestation::Unattested { site } => {
                out.push(TAG_UNATTESTED);
                push_short_str(&mut out, site.as_str());
            }
        }
        out
    }

    /// Decodes a record, refusing unknown versions and tags, bad ids and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut reader = ByteReader::new(bytes);
        let version = reader.u8("version")?;
        if version != LEAF_RECORD_VERSION && version != LEAF_RECORD_VERSION_1 {
            return Err(RecordError::UnknownVersion(version));
        }
        let event_hash = EventHash::from_bytes(reader.array("event hash")?);
        let event_digest = if version == LEAF_RECORD_VERSION {
            Some(EventDigest::from_bytes(reader.array("event digest")?))
        } else {
            None
        };
        let captured_at = UnixMillis::from_millis(reader.u64("captured at")?);
        let attestation = match reader.u8("attestation tag")? {
            TAG_DEVICE => {
                let device = reader
                    .short_str("device id")?
                    .map_err(|_| RecordError::IdNotUtf8)?;
                let device = DeviceId::parse(device)?;
                let statement = StatementHash::from_bytes(reader.array("batch statement hash")?);
                let index = reader.u32("index in batch")?;
                Attestation::Device {
                    device,
                    statement,
                    index,
                }
            }
            TAG_UNATTESTED => {
                let site = reader
                    .short_str("site id")?
                    .map_err(|_| RecordError::IdNotUtf8)?;
                Attestation::Unattested {
                    site: SiteId::parse(site)?,
                }
            }
            tag => return Err(RecordError::UnknownAttestation(tag)),
        };
        if reader.remaining() != 0 {
            return Err(RecordError::TrailingBytes(reader.remaining()));
        }
        Self::build(event_hash, event_digest, captured_at, attestation)
    }

    /// The leaf hash of the encoding: `SHA-256(0x00 || record)`.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

/// Ids are at most 128 bytes (checked when parsed), so their length fits the one-byte prefix.
fn push_short_str(out: &mut Vec<u8>, text: &str) {
    out.push(u8::try_from(text.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(text.as_bytes());
}

/// Why bytes are not a leaf record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("unknown leaf record version {0}: this software reads versions 1 and 2")]
    UnknownVersion(u8),
    #[error("the leaf record ends inside its {0} field")]
    Truncated(&'static str),
    #[error("unknown attestation tag 0x{0:02x}: expected 0x01 (device) or 0x02 (unattested)")]
    UnknownAttestation(u8),
    #[error("a device or site id in a leaf record must be UTF-8")]
    IdNotUtf8,
    #[error("invalid id in a leaf record: {0}")]
    BadId(#[from] IdError),
    #[error("the index in batch must be below 2^20, found {0}")]
    BatchIndexTooLarge(u32),
    #[error("{0} unexpected bytes follow the leaf record")]
    TrailingBytes(usize),
}

impl From<Truncated> for RecordError {
    fn from(Truncated(field): Truncated) -> Self {
        Self::Truncated(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &[u8] = br#"{"type":"ObjectEvent"}"#;

    fn device_attestation() -> Attestation {
        Attestation::Device {
            device: DeviceId::parse("rdr-7").unwrap(),
            statement: StatementHash::from_bytes([0x22; 32]),
            index: 0x0000_0a0b,
        }
    }

    fn device_record() -> LeafRecord {
        LeafRecord::new(
            EventHash::from_bytes([0x11; 32]),
            EVENT,
            UnixMillis::from_millis(0x0102_0304_0506_0708),
            device_attestation(),
        )
        .unwrap()
    }

    fn unattested_record() -> LeafRecord {
        LeafRecord::new(
            EventHash::from_bytes([0x33; 32]),
            EVENT,
            UnixMillis::from_millis(1),
            Attestation::Unattested {
                site: SiteId::parse("plant-9").unwrap(),
            },
        )
        .unwrap()
    }

    fn digest_of_event() -> [u8; 32] {
        Sha256::digest(EVENT).into()
    }

    // Golden bytes: the documented layout, written out by hand.
    #[test]
    fn a_device_record_encodes_to_the_documented_bytes() {
        let mut expected = vec![0x02];
        expected.extend_from_slice(&[0x11; 32]);
        expected.extend_from_slice(&digest_of_event());
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        expected.push(0x01);
        expected.extend_from_slice(&[5, b'r', b'd', b'r', b'-', b'7']);
        expected.extend_from_slice(&[0x22; 32]);
        expected.extend_from_slice(&[0, 0, 0x0a, 0x0b]);
        assert_eq!(device_record().encode(), expected);
        assert_eq!(expected.len(), 111 + 5);
        assert_eq!(LeafRecord::decode(&expected), Ok(device_record()));
    }

    #[test]
    fn an_unattested_record_encodes_to_the_documented_bytes() {
        let mut expected = vec![0x02];
        expected.extend_from_slice(&[0x33; 32]);
        expected.extend_from_slice(&digest_of_event());
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        expected.push(0x02);
        expected.extend_from_slice(&[7, b'p', b'l', b'a', b'n', b't', b'-', b'9']);
        assert_eq!(unattested_record().encode(), expected);
        assert_eq!(expected.len(), 75 + 7);
        assert_eq!(LeafRecord::decode(&expected), Ok(unattested_record()));
    }

    // The digest of the golden event, computed elsewhere (`printf '%s' '{"type":"ObjectEvent"}' |
    // sha256sum`), so the golden bytes above do not only agree with this crate's own SHA-256 call.
    #[test]
    fn the_event_digest_is_the_sha_256_of_the_stored_bytes() {
        assert_eq!(
            EventDigest::of(EVENT).to_string(),
            "c554c39e9e30ef9d26f14b52047c3517e81f819aa446c655ac62ee6d6140b1e5"
        );
    }

    #[test]
    fn version_1_records_are_still_read_and_written_as_before() {
        let mut expected = vec![0x01];
        expected.extend_from_slice(&[0x11; 32]);
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        expected.push(0x01);
        expected.extend_from_slice(&[5, b'r', b'd', b'r', b'-', b'7']);
        expected.extend_from_slice(&[0x22; 32]);
        expected.extend_from_slice(&[0, 0, 0x0a, 0x0b]);
        let record = LeafRecord::decode(&expected).unwrap();
        assert_eq!(record.version(), 1);
        assert_eq!(record.event_digest(), None);
        assert_eq!(record.binds_event(b"anything"), EventBinding::HashOnly);
        let again = LeafRecord::version_1(
            EventHash::from_bytes([0x11; 32]),
            UnixMillis::from_millis(0x0102_0304_0506_0708),
            device_attestation(),
        )
        .unwrap();
        assert_eq!(again, record);
        assert_eq!(again.encode(), expected);
    }

    #[test]
    fn a_version_2_record_binds_every_byte_of_the_event() {
        let record = device_record();
        assert_eq!(record.version(), 2);
        assert_eq!(record.binds_event(EVENT), EventBinding::Exact);
        // One byte, one space, the same value in another spelling: each is caught.
        for changed in [
            &br#"{"type":"ObjectEvenT"}"#[..],
            br#"{"type": "ObjectEvent"}"#,
            br#"{"type":"Object\u0045vent"}"#,
        ] {
            assert_eq!(
                record.binds_event(changed),
                EventBinding::Differs {
                    committed: EventDigest::of(EVENT),
                    found: EventDigest::of(changed),
                }
            );
        }
    }

    #[test]
    fn malformed_records_are_refused_with_the_reason() {
        let bytes = device_record().encode();
        let mut other_version = bytes.clone();
        other_version[0] = 3;
        assert_eq!(
            LeafRecord::decode(&other_version),
            Err(RecordError::UnknownVersion(3))
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            LeafRecord::decode(&longer),
            Err(RecordError::TrailingBytes(1))
        );
        assert_eq!(
            LeafRecord::decode(&bytes[..bytes.len() - 1]),
            Err(RecordError::Truncated("index in batch"))
        );
        assert_eq!(
            LeafRecord::decode(&bytes[..50]),
            Err(RecordError::Truncated("event digest"))
        );
        let mut other_tag = bytes.clone();
        other_tag[73] = 3;
        assert_eq!(
            LeafRecord::decode(&other_tag),
            Err(RecordError::UnknownAttestation(3))
        );
        let mut spaced = bytes.clone();
        spaced[77] = b' ';
        assert!(matches!(
            LeafRecord::decode(&spaced),
            Err(RecordError::BadId(_))
        ));
        // A version 2 record relabelled version 1 is refused, never read as another record.
        let mut relabelled = bytes;
        relabelled[0] = 1;
        assert!(LeafRecord::decode(&relabelled).is_err());
        assert_eq!(
            LeafRecord::decode(&[]),
            Err(RecordError::Truncated("version"))
        );
    }

    #[test]
    fn a_batch_index_beyond_the_largest_batch_is_refused() {
        let record = LeafRecord::new(
            EventHash::from_bytes([0; 32]),
            EVENT,
            UnixMillis::from_millis(0),
            Attestation::Device {
                device: DeviceId::parse("d").unwrap(),
                statement: StatementHash::from_bytes([0; 32]),
                index: MAX_BATCH_SIZE,
            },
        );
        assert_eq!(record, Err(RecordError::BatchIndexTooLarge(MAX_BATCH_SIZE)));
    }

    #[test]
    fn the_leaf_hash_is_the_rfc_6962_hash_of_the_encoding() {
        let record = unattested_record();
        let mut input = vec![0x00];
        input.extend_from_slice(&record.encode());
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(record.leaf_hash(), Hash::from_bytes(expected));
    }
}
