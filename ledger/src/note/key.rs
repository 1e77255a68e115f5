//! Signed-note keys (<https://c2sp.org/signed-note>): key names, key ids, and the text encodings of
//! Ed25519 verifier keys (`<name>+<hex id>+<base64(0x01 || public key)>`) and signer keys
//! (`PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`).

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::encoding::{base64_decode, base64_encode, hex_decode_array};

/// The signature type byte of Ed25519 note signatures.
pub const SIGNATURE_TYPE_ED25519: u8 = 0x01;

/// The length of an Ed25519 signature in a note (after the 4-byte key id).
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// The name of a note key: non-empty UTF-8 with no Unicode whitespace, no `+` and no control
/// characters. Conventionally a schema-less URL such as `tagtrail.example/log`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyName(String);

impl KeyName {
    /// Checks the syntax of a key name.
    pub fn parse(name: &str) -> Result<Self, KeyNameError> {
        if name.is_empty() {
            return Err(KeyNameError::Empty);
        }
        if let Some(found) = name
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == '+')
        {
            return Err(KeyNameError::ForbiddenChar(found));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyName({:?})", self.0)
    }
}

/// Why text is not a key name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    #[error("a key name must not be empty")]
    Empty,
    #[error("a key name must not contain whitespace, control characters or `+`, found {0:?}")]
    ForbiddenChar(char),
}

/// The 32-bit id of a note key, written as 8 hex digits and stored big-endian at the start of each
/// signature. For Ed25519 it is the first 4 bytes of
/// `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(u32);

impl KeyId {
    /// Wraps a key id as stored (the big-endian reading of its 4 bytes).
    pub const fn from_u32(id: u32) -> Self {
        Self(id)
    }

    /// The id as a number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The 4 bytes that start a signature by this key.
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// The id of an Ed25519 key with this name.
    pub fn for_ed25519(name: &KeyName, public_key: &[u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(name.as_str().as_bytes());
        hasher.update([b'\n', SIGNATURE_TYPE_ED25519]);
        hasher.update(public_key);
        let digest: [u8; 32] = hasher.finalize().into();
        Self(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]))
    }

    /// Parses exactly 8 hex digits.
    pub fn parse_hex(text: &str) -> Option<Self> {
        hex_decode_array::<4>(text).map(|bytes| Self(u32::from_be_bytes(bytes)))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:08x})", self.0)
    }
}

/// A public key that verifies note signatures: an Ed25519 key with its name and id.
///
/// Text form: `<name>+<8 hex digit id>+<base64(0x01 || 32-byte public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifierKey {
    name: KeyName,
    id: KeyId,
    key: VerifyingKey,
}

impl NoteVerifierKey {
    /// Builds the verifier key of an Ed25519 public key under `name`.
    pub fn from_ed25519(name: KeyName, public_key: &[u8; 32]) -> Result<Self, KeyParseError> {
        let key =
            VerifyingKey::from_bytes(public_key).map_err(|_| KeyParseError::InvalidPublicKey)?;
        let id = KeyId::for_ed25519(&name, public_key);
        Ok(Self { name, id, key })
    }

    /// Parses `<name>+<hex id>+<base64 key>`, checking that the id matches the name and key.
    pub fn parse(text: &str) -> Result<Self, KeyParseError> {
        let (name, rest) = text.split_once('+').ok_or(KeyParseError::Malformed)?;
        let (id, key) = rest.split_once('+').ok_or(KeyParseError::Malformed)?;
        let name = KeyName::parse(name)?;
        let id = KeyId::parse_hex(id).ok_or(KeyParseError::BadKeyId)?;
        let key = base64_decode(key).map_err(|_| KeyParseError::NotBase64)?;
        let public_key = ed25519_key_bytes(&key)?;
        let parsed = Self::from_ed25519(name, &public_key)?;
        if parsed.id != id {
            return Err(KeyParseError::KeyIdMismatch {
                stated: id,
                computed: parsed.id,
            });
        }
        Ok(parsed)
    }

    /// The key's name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `signature` (the bytes after the key id) is this key's Ed25519 signature of
    /// `message`. Uses strict verification: non-canonical and small-order encodings are refused.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; ED25519_SIGNATURE_LEN]>::try_from(signature) else {
            return false;
        };
        self.key
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

impl fmt::Display for NoteVerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(SIGNATURE_TYPE_ED25519);
        key.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.id, base64_encode(&key))
    }
}

impl fmt::Debug for NoteVerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifierKey({self})")
    }
}

/// A private key that signs notes (checkpoints): an Ed25519 signing key with its name and id.
///
/// Text form: `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || 32-byte seed)>`. The seed is secret:
/// `Debug` does not show it and the key is zeroed when dropped.
pub struct NoteSignerKey {
    name: KeyName,
    id: KeyId,
    key: SigningKey,
}

impl NoteSignerKey {
    /// The signer key of an Ed25519 seed (the 32-byte private key of RFC 8032) under `name`.
    pub fn from_seed(name: KeyName, seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let id = KeyId::for_ed25519(&name, key.verifying_key().as_bytes());
        Self { name, id, key }
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64 seed>`, checking that the id matches the
    /// derived public key.
    pub fn parse(text: &str) -> Result<Self, KeyParseError> {
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyParseError::NotAPrivateKey)?;
        let (name, rest) = rest.split_once('+').ok_or(KeyParseError::Malformed)?;
        let (id, key) = rest.split_once('+').ok_or(KeyParseError::Malformed)?;
        let name = KeyName::parse(name)?;
        let id = KeyId::parse_hex(id).ok_or(KeyParseError::BadKeyId)?;
        let key = Zeroizing::new(base64_decode(key).map_err(|_| KeyParseError::NotBase64)?);
        let seed = Zeroizing::new(ed25519_key_bytes(&key)?);
        let parsed = Self::from_seed(name, &seed);
        if parsed.id != id {
            return Err(KeyParseError::KeyIdMismatch {
                stated: id,
                computed: parsed.id,
            });
        }
        Ok(parsed)
    }

    /// The key's name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The matching public key, to publish.
    pub fn verifier_key(&self) -> NoteVerifierKey {
        NoteVerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
        self.key.sign(message).to_bytes()
    }

    /// A 32-byte secret for `purpose`, another use than signing notes (a MAC key), derived from
    /// this key: HMAC-SHA-256 keyed with the seed over `tagtrail derived secret v1`, a zero byte
    /// and the purpose. It tells nothing of the key, and secrets of two purposes tell nothing of
    /// each other. Zeroed when dropped.
    pub fn derive_secret(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        use hmac::{KeyInit as _, Mac as _};
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"tagtrail derived secret v1\0");
        mac.update(purpose.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// The secret text form of the key, to store in a secrets file. Zeroed when dropped.
    pub fn to_private_text(&self) -> Zeroizing<String> {
        let mut key = Zeroizing::new(Vec::with_capacity(33));
        key.push(SIGNATURE_TYPE_ED25519);
        key.extend_from_slice(self.key.as_bytes());
        let encoded = Zeroizing::new(base64_encode(&key));
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            self.id,
            encoded.as_str()
        ))
    }
}

impl fmt::Debug for NoteSignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSignerKey")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Checks the algorithm byte and length of `0x01 || 32 bytes` and returns the 32 bytes.
fn ed25519_key_bytes(key: &[u8]) -> Result<[u8; 32], KeyParseError> {
    let (&algorithm, bytes) = key.split_first().ok_or(KeyParseError::WrongKeyLength(0))?;
    if algorithm != SIGNATURE_TYPE_ED25519 {
        return Err(KeyParseError::UnknownAlgorithm(algorithm));
    }
    bytes
        .try_into()
        .map_err(|_| KeyParseError::WrongKeyLength(bytes.len()))
}

/// Why text is not a note key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("a note key is `<name>+<hex id>+<base64 key>`")]
    Malformed,
    #[error("a signer key starts with `PRIVATE+KEY+`")]
    NotAPrivateKey,
    #[error("invalid key name: {0}")]
    BadName(#[from] KeyNameError),
    #[error("a key id is exactly 8 hex digits")]
    BadKeyId,
    #[error("the key material must be standard padded base64")]
    NotBase64,
    #[error("unknown signature type 0x{0:02x}: only Ed25519 (0x01) is supported")]
    UnknownAlgorithm(u8),
    #[error("an Ed25519 key is 32 bytes after the type byte, found {0}")]
    WrongKeyLength(usize),
    #[error("the key id {stated} does not match the key, whose id is {computed}")]
    KeyIdMismatch { stated: KeyId, computed: KeyId },
    #[error("the bytes are not a valid Ed25519 public key")]
    InvalidPublicKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    // From golang.org/x/mod/sumdb/note (package documentation and note_test.go).
    const PETER_SIGNER: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VERIFIER: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    // The Go checksum database's public key, whose base64 contains `+`.
    const SUMDB_VERIFIER: &str =
        "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

    #[test]
    fn a_derived_secret_is_hmac_sha256_of_the_seed_and_differs_by_purpose_and_key() {
        let name = KeyName::parse("example.com/log").unwrap();
        let key = NoteSignerKey::from_seed(name.clone(), &[7; 32]);
        // HMAC-SHA-256(key = 32 bytes of 7, "tagtrail derived secret v1\0capture-job seal v1"),
        // computed with Python's hmac module.
        let expected = "7e53e3f080c6f0e050aad50daf0fac86a2da7668ff7487165c413ea22d403dd1";
        let secret = key.derive_secret("capture-job seal v1");
        let hex: String = secret.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, expected);
        assert_ne!(*key.derive_secret("another purpose"), *secret);
        let other = NoteSignerKey::from_seed(name, &[8; 32]);
        assert_ne!(*other.derive_secret("capture-job seal v1"), *secret);
    }

    #[test]
    fn the_go_reference_verifier_key_parses_and_prints_back() {
        let key = NoteVerifierKey::parse(PETER_VERIFIER).unwrap();
        assert_eq!(key.name().as_str(), "PeterNeumann");
        assert_eq!(key.id(), KeyId::from_u32(0xc74f_20a3));
        assert_eq!(key.to_string(), PETER_VERIFIER);
    }

    #[test]
    fn the_go_reference_signer_key_derives_the_reference_verifier_key() {
        let signer = NoteSignerKey::parse(PETER_SIGNER).unwrap();
        assert_eq!(signer.verifier_key().to_string(), PETER_VERIFIER);
        assert_eq!(signer.to_private_text().as_str(), PETER_SIGNER);
    }

    #[test]
    fn a_key_whose_base64_contains_plus_parses() {
        let key = NoteVerifierKey::parse(SUMDB_VERIFIER).unwrap();
        assert_eq!(key.id(), KeyId::from_u32(0x033d_e0ae));
        assert_eq!(key.to_string(), SUMDB_VERIFIER);
    }

    #[test]
    fn the_signer_key_is_not_shown_by_debug() {
        let signer = NoteSignerKey::parse(PETER_SIGNER).unwrap();
        let shown = format!("{signer:?}");
        assert!(shown.contains("PeterNeumann"));
        assert!(!shown.contains("AYEKFALV"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn every_mangling_of_the_reference_keys_is_refused() {
        // As in Go's TestNewVerifier/TestNewSigner: every proper substring and every one-byte
        // increment must fail to parse.
        for (key, parse) in [
            (
                PETER_VERIFIER,
                (|t: &str| NoteVerifierKey::parse(t).is_ok()) as fn(&str) -> bool,
            ),
            (PETER_SIGNER, |t: &str| NoteSignerKey::parse(t).is_ok()),
        ] {
            let bytes = key.as_bytes();
            for i in 0..=bytes.len() {
                for j in i + 1..=bytes.len() {
                    if (i, j) != (0, bytes.len())
                        && let Ok(sub) = std::str::from_utf8(&bytes[i..j])
                    {
                        assert!(!parse(sub), "{sub:?} must be refused");
                    }
                }
            }
            for i in 0..bytes.len() {
                let mut changed = bytes.to_vec();
                changed[i] = changed[i].wrapping_add(1);
                if let Ok(text) = std::str::from_utf8(&changed) {
                    assert!(!parse(text), "{text:?} must be refused");
                }
            }
        }
    }

    #[test]
    fn keys_of_other_algorithms_or_lengths_are_refused_with_the_reason() {
        // From Go's note_test.go: a wrong length key and an unknown algorithm, with adjusted ids.
        // The first is also non-canonical base64 (non-zero trailing bits), refused as such here.
        assert_eq!(
            NoteVerifierKey::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(KeyParseError::NotBase64)
        );
        let short = base64_encode(&[SIGNATURE_TYPE_ED25519; 32]);
        assert_eq!(
            NoteVerifierKey::parse(&format!("PeterNeumann+c74f20a3+{short}")),
            Err(KeyParseError::WrongKeyLength(31))
        );
        assert_eq!(
            NoteVerifierKey::parse(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(KeyParseError::UnknownAlgorithm(0x65))
        );
        assert!(matches!(
            NoteVerifierKey::parse(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(KeyParseError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn key_names_with_spaces_or_plus_are_refused() {
        assert_eq!(KeyName::parse("a b"), Err(KeyNameError::ForbiddenChar(' ')));
        assert_eq!(KeyName::parse("a+b"), Err(KeyNameError::ForbiddenChar('+')));
        assert_eq!(
            KeyName::parse("a\u{a0}b"),
            Err(KeyNameError::ForbiddenChar('\u{a0}'))
        );
        assert_eq!(KeyName::parse(""), Err(KeyNameError::Empty));
    }
}
