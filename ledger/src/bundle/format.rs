//! The proof bundle JSON format, version 2.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use epcis::EventHash;

use crate::batch::{BatchPath, DevicePublicKey, DeviceSignature};
use crate::encoding::{base64_decode, base64_encode, hex_decode_array, hex_encode};
use crate::tree::{ConsistencyProof, InclusionProof};

/// Everything needed to check one event offline: the event, its hash, the leaf record, the device's
/// signed batch statement and the event's path in that batch, the inclusion proof, the signed
/// checkpoint, and optionally a consistency proof to an anchored checkpoint with its anchors.
///
/// Serialized as one JSON object with camelCase keys; see the crate README for every field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProofBundle {
    /// The format version; always 2 for this layout.
    pub version: BundleVersion,
    /// The EPCIS 2.0 event's JSON text, byte for byte as the ledger stores and serves it (a JSON
    /// string holding a JSON object): a version 2 leaf record commits to the SHA-256 of exactly
    /// these bytes.
    pub event: String,
    /// The `@context` and `ignoreFields` members of the capture document's root, which the event
    /// hash depends on. Absent: the standard EPCIS 2.0 context and no ignored fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_context: Option<Map<String, Value>>,
    /// The CBV 2.0 event hash, as `ni:///sha-256;<hex>?ver=CBV2.0`.
    #[serde(with = "ni_uri")]
    pub event_hash: EventHash,
    /// The leaf record's bytes (standard base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub leaf_record: Vec<u8>,
    /// The device's attestation; absent for events accepted unattested with a site token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_attestation: Option<DeviceAttestation>,
    /// The inclusion proof of the leaf record in the checkpoint's tree.
    pub inclusion: InclusionProof,
    /// The signed checkpoint (a C2SP signed note, as published).
    pub checkpoint: String,
    /// A later (or earlier) checkpoint that was anchored, the consistency proof between the two,
    /// and where it was anchored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchored: Option<AnchoredCheckpoint>,
}

/// The members of a capture document's root that its events' hashes depend on, for
/// [`ProofBundle::document_context`]: `@context`, any `ignoreFields` list (with or without a prefix),
/// and an `ignoreFields` list in `epcisBody.queryResults`. `None` when the document has none of them.
pub fn document_context(root: &Map<String, Value>) -> Option<Map<String, Value>> {
    let is_context_member =
        |key: &str| key == "@context" || key == "ignoreFields" || key.ends_with(":ignoreFields");
    let mut context: Map<String, Value> = root
        .iter()
        .filter(|(key, _)| is_context_member(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let query_results = root
        .get("epcisBody")
        .and_then(|body| body.get("queryResults"))
        .and_then(Value::as_object);
    if let Some(query_results) = query_results {
        let ignored: Map<String, Value> = query_results
            .iter()
            .filter(|(key, _)| *key != "@context" && is_context_member(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if !ignored.is_empty() {
            let mut body = Map::new();
            body.insert("queryResults".to_owned(), Value::Object(ignored));
            context.insert("epcisBody".to_owned(), Value::Object(body));
        }
    }
    (!context.is_empty()).then_some(context)
}

impl ProofBundle {
    /// The event, parsed from its exact text.
    pub fn event_object(&self) -> Result<Map<String, Value>, serde_json::Error> {
        serde_json::from_str(&self.event)
    }
}

/// The version of the proof bundle format.
///
/// Version 1 carried the event as a JSON object; no service ever served it, and it could not
/// carry the exact bytes a version 2 leaf record commits to, so it is no longer read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleVersion {
    /// Version 2, described by this crate.
    V2,
}

impl Serialize for BundleVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::V2 => serializer.serialize_u8(2),
        }
    }
}

impl<'de> Deserialize<'de> for BundleVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u64::deserialize(deserializer)? {
            2 => Ok(Self::V2),
            other => Err(serde::de::Error::custom(format!(
                "unknown proof bundle version {other}: this software reads version 2"
            ))),
        }
    }
}

/// A device's attestation of the batch an event came in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceAttestation {
    /// The encoded batch statement (standard base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub statement: Vec<u8>,
    /// The device's public key that verifies the signature.
    pub public_key: DevicePublicKey,
    /// The device's signature over the encoded statement.
    pub signature: DeviceSignature,
    /// The event's path in the batch tree.
    pub batch_path: BatchPath,
}

/// A checkpoint that was anchored on a chain, and the consistency proof linking it to the bundle's
/// checkpoint (from the smaller tree to the larger).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnchoredCheckpoint {
    /// The anchored checkpoint (a C2SP signed note).
    pub checkpoint: String,
    /// The consistency proof between the two checkpoints' trees.
    pub consistency: ConsistencyProof,
    /// Where the anchored checkpoint's root and size were written.
    pub anchors: Vec<AnchorRef>,
}

/// One on-chain anchor of a checkpoint: the transaction that wrote its size and root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnchorRef {
    /// The EIP-155 chain id.
    pub chain_id: ChainId,
    /// The transaction hash.
    pub tx_hash: TxHash,
    /// The block that includes the transaction.
    pub block_number: u64,
    /// The anchor contract's address.
    pub contract: ContractAddress,
    /// The hash of that block, when the anchor was confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<BlockHash>,
    /// The block header and the receipt's trie proof, to check the anchor from the block hash
    /// alone (the `anchor` crate's `proof::verify`), after nodes drop old blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptEvidence>,
}

/// What a self-contained anchor keeps: the block header, RLP-encoded as hashed, and the
/// Merkle-Patricia proof of the anchor transaction's receipt in the block's receipts trie, root
/// first (the `anchor` crate's `ReceiptProof`, the same JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptEvidence {
    pub header: HexBytes,
    pub receipt_index: u64,
    pub receipt_proof: Vec<HexBytes>,
}

/// Bytes written as `0x` and lowercase hex digits (read in either case).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexBytes(0x{})", hex_encode(&self.0))
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("0x{}", hex_encode(&self.0)))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let digits = text
            .strip_prefix("0x")
            .filter(|digits| digits.len() % 2 == 0)
            .ok_or_else(|| {
                serde::de::Error::custom("expected `0x` and an even number of hex digits")
            })?;
        // Digits only: no sign, no slicing inside a multi-byte character.
        let bytes = epcis::hex::decode(digits)
            .ok_or_else(|| serde::de::Error::custom("expected hex digits"))?;
        Ok(Self(bytes))
    }
}

/// An EIP-155 chain id (1 for Ethereum mainnet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(u64);

impl ChainId {
    /// Wraps a chain id.
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// The chain id as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A 32-byte transaction hash; `0x` and 64 hex digits in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxHash([u8; 32]);

/// A 32-byte block hash; `0x` and 64 hex digits in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockHash([u8; 32]);

/// A 20-byte contract address; `0x` and 40 hex digits in JSON (written lowercase, read in any case).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContractAddress([u8; 20]);

macro_rules! hex_value {
    ($type:ident, $len:literal, $what:literal) => {
        impl $type {
            /// Wraps the raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Parses `0x` followed by the hex digits (either case).
            pub fn parse(text: &str) -> Result<Self, HexValueError> {
                text.strip_prefix("0x")
                    .and_then(hex_decode_array::<$len>)
                    .map(Self)
                    .ok_or(HexValueError {
                        what: $what,
                        digits: 2 * $len,
                    })
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "0x{}", hex_encode(&self.0))
            }
        }

        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($type))
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_value!(TxHash, 32, "transaction hash");
hex_value!(BlockHash, 32, "block hash");
hex_value!(ContractAddress, 20, "contract address");

/// Text that is not `0x` followed by the expected number of hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {what} is `0x` followed by {digits} hex digits")]
pub struct HexValueError {
    what: &'static str,
    digits: usize,
}

/// The `ni:///sha-256;...?ver=CBV2.0` form of an event hash (shared with the provenance bundle).
pub(super) mod ni_uri {
    use epcis::EventHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(in crate::bundle) fn serialize<S: Serializer>(
        hash: &EventHash,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hash.to_ni_uri())
    }

    pub(in crate::bundle) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<EventHash, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        EventHash::parse_ni(&text).map_err(serde::de::Error::custom)
    }
}

/// Bytes as standard padded base64 (shared with the provenance bundle).
pub(super) mod base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(in crate::bundle) fn serialize<S: Serializer>(
        bytes: &[u8],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::base64_encode(bytes))
    }

    pub(in crate::bundle) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::base64_decode(&text)
            .map_err(|_| serde::de::Error::custom("expected standard padded base64"))
    }
}

/// A list of byte strings as a JSON array of standard padded base64 strings.
pub(super) mod base64_list {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(in crate::bundle) fn serialize<S: Serializer>(
        list: &[Vec<u8>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&super::base64_encode(bytes))?;
        }
        seq.end()
    }

    pub(in crate::bundle) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = <Vec<std::borrow::Cow<'de, str>>>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| {
                super::base64_decode(text)
                    .map_err(|_| serde::de::Error::custom("expected standard padded base64"))
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn hex_bytes_read_digits_only_and_never_panic() {
        let read = |text: &str| serde_json::from_value::<HexBytes>(serde_json::json!(text));
        assert_eq!(read("0x0aff").unwrap().0, [0x0a, 0xff]);
        assert_eq!(read("0x").unwrap().0, Vec::<u8>::new());
        // A sign, a multi-byte character split at an even byte count, odd lengths, no prefix.
        for bad in ["0x+f", "0xaé1", "0xabc", "abcd", "0x 0"] {
            assert!(read(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
