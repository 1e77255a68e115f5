//! The leaf record: the canonical bytes the log commits to for each accepted event.
//!
//! A leaf of the log is `SHA-256(0x00 || record)`. The record binds the CBV 2.0 event hash, when the
//! event was captured, and who reported it: a device (by id, with the hash of the batch statement
//! it signed and the event's index in that batch), or, for documents accepted with a site API token,
//! the site, marked unattested.

use epcis::EventHash;

use crate::batch::{MAX_BATCH_SIZE, StatementHash};
use crate::encoding::{ByteReader, Truncated};
use crate::hash::{Hash, leaf_hash};
use crate::ids::{DeviceId, IdError, SiteId, UnixMillis};

/// The version byte of the record layout this crate writes and reads.
pub const LEAF_RECORD_VERSION: u8 = 1;

/// The attestation tag of an event reported by a device in a signed batch.
const TAG_DEVICE: u8 = 0x01;
/// The attestation tag of an event accepted with a site API token, not signed by a device.
const TAG_UNATTESTED: u8 = 0x02;

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
/// Version 1 layout (all integers big-endian, ids are UTF-8 after a one-byte length):
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | version, `0x01` |
/// | 1 | 32 | CBV 2.0 event hash |
/// | 33 | 8 | captured at, Unix milliseconds |
/// | 41 | 1 | attestation tag: `0x01` device, `0x02` unattested |
///
/// then, for a device: device id length `n` (1 byte, 1 to 128), device id (`n` bytes), batch
/// statement hash (32 bytes), index in batch (4 bytes); for unattested: site id length `n` (1 byte),
/// site id (`n` bytes). Nothing may follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafRecord {
    event_hash: EventHash,
    captured_at: UnixMillis,
    attestation: Attestation,
}

impl LeafRecord {
    /// A record for an event; a device attestation's index must be below 2^20.
    pub fn new(
        event_hash: EventHash,
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
            captured_at,
            attestation,
        })
    }

    /// The CBV 2.0 hash of the event.
    pub fn event_hash(&self) -> &EventHash {
        &self.event_hash
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
        let mut out = Vec::with_capacity(80 + 128);
        out.push(LEAF_RECORD_VERSION);
        out.extend_from_slice(self.event_hash.as_bytes());
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
        if version != LEAF_RECORD_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        let event_hash = EventHash::from_bytes(reader.array("event hash")?);
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
        Self::new(event_hash, captured_at, attestation)
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
    #[error("unknown leaf record version {0}: this software reads version 1")]
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

    fn device_record() -> LeafRecord {
        LeafRecord::new(
            EventHash::from_bytes([0x11; 32]),
            UnixMillis::from_millis(0x0102_0304_0506_0708),
            Attestation::Device {
                device: DeviceId::parse("rdr-7").unwrap(),
                statement: StatementHash::from_bytes([0x22; 32]),
                index: 0x0000_0a0b,
            },
        )
        .unwrap()
    }

    fn unattested_record() -> LeafRecord {
        LeafRecord::new(
            EventHash::from_bytes([0x33; 32]),
            UnixMillis::from_millis(1),
            Attestation::Unattested {
                site: SiteId::parse("plant-9").unwrap(),
            },
        )
        .unwrap()
    }

    // Golden bytes: the documented layout, written out by hand.
    #[test]
    fn a_device_record_encodes_to_the_documented_bytes() {
        let mut expected = vec![0x01];
        expected.extend_from_slice(&[0x11; 32]);
        expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        expected.push(0x01);
        expected.extend_from_slice(&[5, b'r', b'd', b'r', b'-', b'7']);
        expected.extend_from_slice(&[0x22; 32]);
        expected.extend_from_slice(&[0, 0, 0x0a, 0x0b]);
        assert_eq!(device_record().encode(), expected);
        assert_eq!(expected.len(), 79 + 5);
        assert_eq!(LeafRecord::decode(&expected), Ok(device_record()));
    }

    #[test]
    fn an_unattested_record_encodes_to_the_documented_bytes() {
        let mut expected = vec![0x01];
        expected.extend_from_slice(&[0x33; 32]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        expected.push(0x02);
        expected.extend_from_slice(&[7, b'p', b'l', b'a', b'n', b't', b'-', b'9']);
        assert_eq!(unattested_record().encode(), expected);
        assert_eq!(LeafRecord::decode(&expected), Ok(unattested_record()));
    }

    #[test]
    fn malformed_records_are_refused_with_the_reason() {
        let bytes = device_record().encode();
        let mut other_version = bytes.clone();
        other_version[0] = 2;
        assert_eq!(
            LeafRecord::decode(&other_version),
            Err(RecordError::UnknownVersion(2))
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
        let mut other_tag = bytes.clone();
        other_tag[41] = 3;
        assert_eq!(
            LeafRecord::decode(&other_tag),
            Err(RecordError::UnknownAttestation(3))
        );
        let mut spaced = bytes;
        spaced[45] = b' ';
        assert!(matches!(
            LeafRecord::decode(&spaced),
            Err(RecordError::BadId(_))
        ));
        assert_eq!(
            LeafRecord::decode(&[]),
            Err(RecordError::Truncated("version"))
        );
    }

    #[test]
    fn a_batch_index_beyond_the_largest_batch_is_refused() {
        let record = LeafRecord::new(
            EventHash::from_bytes([0; 32]),
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
        let expected: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&input).into();
        assert_eq!(record.leaf_hash(), Hash::from_bytes(expected));
    }
}
