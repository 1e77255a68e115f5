//! The SHA-256 hashes of the log's Merkle tree (RFC 6962 §2.1, RFC 9162 §2.1).
//!
//! A leaf is `SHA-256(0x00 || record)` and an interior node is `SHA-256(0x01 || left || right)`. Both
//! are computed on the stack: no allocation per node, so recomputing a whole tree runs at the speed
//! of SHA-256 itself.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::encoding::{base64_decode_array, base64_encode, hex_encode};

/// The length of every hash in the tree, in bytes.
pub const HASH_LEN: usize = 32;

/// The domain-separation byte that starts the input of a leaf hash.
const LEAF_PREFIX: u8 = 0x00;
/// The domain-separation byte that starts the input of an interior node hash.
const NODE_PREFIX: u8 = 0x01;

/// A SHA-256 hash of a tree node: a leaf hash, an interior node, or a proof element.
///
/// Equality is constant-time (hashes are compared in verification paths). In JSON and in
/// checkpoints a hash is standard base64 with padding (RFC 4648 §4).
#[derive(Clone, Copy)]
pub struct Hash([u8; HASH_LEN]);

impl Hash {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Parses a hash from a slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashParseError> {
        let array: [u8; HASH_LEN] = bytes
            .try_into()
            .map_err(|_| HashParseError::WrongLength(bytes.len()))?;
        Ok(Self(array))
    }

    /// Parses standard, padded base64 of exactly 32 bytes.
    pub fn parse_base64(text: &str) -> Result<Self, HashParseError> {
        base64_decode_array(text)
            .map(Self)
            .map_err(|_| HashParseError::NotBase64Of32Bytes)
    }

    /// Standard, padded base64 (44 characters).
    pub fn to_base64(&self) -> String {
        base64_encode(&self.0)
    }

    /// Lowercase hexadecimal (64 characters), for logs and test vectors.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Hash {}

// Consistent with `PartialEq`: equal hashes have equal bytes.
impl std::hash::Hash for Hash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// The root hash of a tree of a given size: what a checkpoint signs and an anchor publishes.
///
/// A distinct type from [`Hash`](struct@Hash) so that a proof element cannot be passed where a root is expected.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootHash(Hash);

impl RootHash {
    /// The root of the empty tree: `SHA-256("")` (RFC 6962 §2.1).
    pub fn empty() -> Self {
        Self(Hash(Sha256::digest([]).into()))
    }

    /// Declares a hash to be the root of a tree.
    pub const fn from_hash(hash: Hash) -> Self {
        Self(hash)
    }

    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Self {
        Self(Hash(bytes))
    }

    /// The root as a plain tree hash.
    pub const fn hash(&self) -> &Hash {
        &self.0
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        self.0.as_bytes()
    }

    /// Parses standard, padded base64 of exactly 32 bytes.
    pub fn parse_base64(text: &str) -> Result<Self, HashParseError> {
        Hash::parse_base64(text).map(Self)
    }

    /// Standard, padded base64 (44 characters), as in a checkpoint's third line.
    pub fn to_base64(&self) -> String {
        self.0.to_base64()
    }
}

impl fmt::Debug for RootHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootHash({})", self.0.to_hex())
    }
}

impl fmt::Display for RootHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for RootHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RootHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Hash::deserialize(deserializer).map(Self)
    }
}

/// Why bytes or text are not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("a hash is 32 bytes, found {0}")]
    WrongLength(usize),
    #[error("a hash must be standard padded base64 of exactly 32 bytes")]
    NotBase64Of32Bytes,
}

/// The RFC 6962 leaf hash of a record: `SHA-256(0x00 || record)`.
pub fn leaf_hash(record: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(record);
    Hash(hasher.finalize().into())
}

/// The RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
///
/// The 65-byte input is assembled on the stack and hashed in one call (two SHA-256 blocks).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 1 + 2 * HASH_LEN];
    input[0] = NODE_PREFIX;
    input[1..=HASH_LEN].copy_from_slice(&left.0);
    input[1 + HASH_LEN..].copy_from_slice(&right.0);
    Hash(Sha256::digest(input).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_hex(hex: &str) -> Hash {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        Hash::from_slice(&bytes).unwrap()
    }

    // Known answers from the Certificate Transparency reference test vectors
    // (github.com/transparency-dev/merkle, proof/verify_test.go: `roots`, `leaves`).
    #[test]
    fn the_empty_tree_root_is_the_sha256_of_nothing() {
        assert_eq!(
            RootHash::empty().hash(),
            &from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn the_leaf_hash_of_the_empty_record_matches_the_ct_vector() {
        assert_eq!(
            leaf_hash(b""),
            from_hex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
    }

    #[test]
    fn the_node_hash_of_the_first_two_ct_leaves_is_the_two_leaf_root() {
        let root = node_hash(&leaf_hash(b""), &leaf_hash(&[0x00]));
        assert_eq!(
            root,
            from_hex("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")
        );
    }

    #[test]
    fn base64_round_trips_and_rejects_other_lengths() {
        let hash = leaf_hash(b"tagtrail");
        assert_eq!(Hash::parse_base64(&hash.to_base64()), Ok(hash));
        assert_eq!(
            Hash::parse_base64("AAAA"),
            Err(HashParseError::NotBase64Of32Bytes)
        );
        assert_eq!(
            Hash::from_slice(&[0; 31]),
            Err(HashParseError::WrongLength(31))
        );
    }

    #[test]
    fn hashes_differing_in_one_bit_are_unequal() {
        let mut bytes = [9u8; 32];
        let a = Hash::from_bytes(bytes);
        bytes[17] ^= 0x04;
        assert_ne!(a, Hash::from_bytes(bytes));
        assert_eq!(a, Hash::from_bytes([9u8; 32]));
    }
}
