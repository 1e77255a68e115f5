//! Sealed event fields: private values on the public log.
//!
//! A capturer replaces the value of an extension field of an event with a *sealed value* before
//! the event is signed and hashed, so the CBV event hash, the leaf and every proof cover the sealed
//! form and stay valid whatever later happens to the private value. A sealed value is a salted
//! commitment to the value and, when the value is meant for named recipients, its ciphertext:
//!
//! ```json
//! "example:deliveryAddress": {"sealed:field": "<standard padded base64 of the sealed value>"}
//! ```
//!
//! (prefix `sealed` = [`NAMESPACE`], declared in the document's `@context`). The keys that open a
//! ciphertext never enter the log: the capture document carries them beside its events (the
//! document-level member [`KEYS_MEMBER`], a list of [`KeySet`]s), and ingest keeps them apart, so
//! that destroying them (erasure) leaves only a commitment nobody can open or confirm by guessing,
//! and the event still verifies. The byte formats are in the crate README ("Sealed fields").
//!
//! Keys: each value gets a random *field key* (ChaCha20-Poly1305, nonce zero: the key is used once);
//! each capture document a random *batch key*, sent to each recipient with HPKE (RFC 9180, base
//! mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305); each field key is wrapped with
//! a key derived from the batch key and the field's commitment. One HPKE encapsulation per
//! recipient per document, and symmetric work only per field, keeps sealing cheap; erasing one
//! field destroys its wrapped field key and leaves the batch's other fields readable.
//!
//! This module draws no randomness of its own: callers hand a source ([`Random`]), so that tests
//! and golden files are reproducible.

mod decoy;
mod document;

use std::fmt;

use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit as _, Nonce};
use hpke::aead::ChaCha20Poly1305 as HpkeChaCha;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::encoding::{ByteReader, Truncated, base64_decode, base64_encode, hex_encode};

pub use decoy::{DECOY_SECRET_LEN, Decoys};
pub use document::{FieldPathError, SealedAt, declare_namespace, seal_event_fields, sealed_fields};

/// The JSON-LD namespace of the sealed-field vocabulary.
pub const NAMESPACE: &str = "https://tagtrail.dev/ns/sealed#";
/// The prefix the vocabulary is declared under.
pub const PREFIX: &str = "sealed";
/// The one member of the object that stands in for a sealed value.
pub const FIELD_MEMBER: &str = "sealed:field";
/// The document-level member of a capture document that carries its [`KeySet`]s (a list of
/// base64 strings). It is not part of any event, so not part of any event hash.
pub const KEYS_MEMBER: &str = "sealed:keys";

/// The version byte of every format in this module.
pub const VERSION: u8 = 1;
/// Bytes of a commitment's salt.
pub const SALT_LEN: usize = 32;
/// Bytes of a commitment.
pub const COMMITMENT_LEN: usize = 32;
/// Bytes of a symmetric key (batch key, field key).
pub const KEY_LEN: usize = 32;
/// Bytes of an AEAD tag.
pub const TAG_LEN: usize = 16;
/// Bytes of an X25519 public key, and of an HPKE encapsulated key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// The longest value that may be sealed, in bytes of its JSON text.
pub const MAX_VALUE_LEN: usize = 16 * 1024;
/// The most recipients of one batch key.
pub const MAX_RECIPIENTS: usize = 16;
/// The most field keys in one key set.
pub const MAX_FIELD_KEYS: usize = 65_535;
/// The most key sets one capture document may carry ([`KEYS_MEMBER`]): ingest refuses more, and
/// a capturer that spools events sealed in many batches sends them in several documents.
pub const MAX_KEY_SETS: usize = 64;

/// Bytes of a sealed value before its ciphertext: version, form, commitment.
const HEADER_LEN: usize = 2 + COMMITMENT_LEN;
/// Bytes of one recipient's entry in a key set: key, encapsulated key, wrapped batch key.
const ENVELOPE_LEN: usize = PUBLIC_KEY_LEN + PUBLIC_KEY_LEN + KEY_LEN + TAG_LEN;
/// Bytes of one field key in a key set: commitment, wrapped field key.
const FIELD_KEY_LEN: usize = COMMITMENT_LEN + KEY_LEN + TAG_LEN;

const COMMITMENT_DOMAIN: &[u8] = b"tagtrail sealed field v1 commitment\0";
const GRANT_DOMAIN: &[u8] = b"tagtrail sealed field v1 grant\0";
const WRAP_INFO: &[u8] = b"tagtrail sealed field v1 field key wrap\0";
const HPKE_INFO: &[u8] = b"tagtrail sealed field v1 batch key";

/// A source of random bytes (the operating system's, or a fixed sequence in tests).
pub type Random<'a> = &'a mut dyn FnMut(&mut [u8]);

/// A fast source of random bytes for sealing many values: the ChaCha20 keystream under a key
/// drawn once from another source (the operating system's generator), so that a document's values
/// cost one read of that generator instead of one per value. Its key is zeroed on drop and never
/// shown. One stream gives at most 256 GiB (ChaCha20's block counter); a sealer draws 64 bytes a
/// value, at most 65,535 values.
pub struct KeyStream {
    cipher: chacha20::ChaCha20,
}

impl KeyStream {
    /// A stream keyed with 32 bytes from `seed`.
    pub fn new(seed: Random<'_>) -> Self {
        use chacha20::cipher::KeyIvInit as _;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        seed(key.as_mut());
        Self {
            cipher: chacha20::ChaCha20::new(&(*key).into(), &[0u8; 12].into()),
        }
    }

    /// Fills `bytes` with the stream's next bytes.
    pub fn fill(&mut self, bytes: &mut [u8]) {
        use chacha20::cipher::StreamCipher as _;
        bytes.fill(0);
        self.cipher.apply_keystream(bytes);
    }
}

impl fmt::Debug for KeyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyStream(..)")
    }
}

/// A salted commitment to a sealed value: SHA-256 of a domain string, the salt and the value's
/// JSON text. Compared in constant time.
#[derive(Clone, Copy, Eq)]
pub struct Commitment([u8; COMMITMENT_LEN]);

impl Commitment {
    /// The commitment to `value` under `salt`.
    pub fn of(salt: &[u8; SALT_LEN], value: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(COMMITMENT_DOMAIN);
        hasher.update(salt);
        hasher.update(value);
        Self(hasher.finalize().into())
    }

    /// The commitment with these bytes.
    pub fn from_bytes(bytes: [u8; COMMITMENT_LEN]) -> Self {
        Self(bytes)
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8; COMMITMENT_LEN] {
        &self.0
    }

    /// Lowercase hex, as URLs and records name it.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn parse_hex(text: &str) -> Option<Self> {
        crate::encoding::hex_decode_array(text).map(Self)
    }
}

impl PartialEq for Commitment {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for Commitment {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Commitment({})", self.to_hex())
    }
}

/// A sealed value, as the log holds it: a commitment, and the ciphertext of the salt and value
/// when the value was sealed for recipients.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedField {
    commitment: Commitment,
    ciphertext: Option<Vec<u8>>,
    /// Whether the plaintext is padded (form 2; form 1 was not).
    padded: bool,
}

impl fmt::Debug for SealedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedField")
            .field("commitment", &self.commitment)
            .field("ciphertext_len", &self.ciphertext.as_ref().map(Vec::len))
            .finish()
    }
}

/// A sealed value's bytes before its ciphertext: version, form, commitment.
fn header(commitment: &Commitment, form: u8) -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[0] = VERSION;
    header[1] = form;
    header[2..].copy_from_slice(commitment.as_bytes());
    header
}

/// The form byte of a sealed value: a commitment only; encrypted, salt and value (written before
/// padding, still read and opened); encrypted, salt, value and padding (what sealers write).
const FORM_COMMITTED: u8 = 0;
const FORM_ENCRYPTED: u8 = 1;
const FORM_PADDED: u8 = 2;

/// The byte that ends a padded value, before the zero bytes that fill its length class.
const PAD_MARKER: u8 = 0x80;

/// The length a padded plaintext (salt, value, marker) is filled to: the next power of two from
/// 64 bytes up to 1,024, the next multiple of 1,024 beyond. A ciphertext then tells only its
/// value's length class (every phone number or name of up to 31 bytes looks alike, every
/// address of up to 95), not its length, for at most twice the bytes.
fn padded_len(unpadded: usize) -> usize {
    if unpadded <= 1024 {
        unpadded.next_power_of_two().max(64)
    } else {
        unpadded.div_ceil(1024) * 1024
    }
}

impl SealedField {
    /// The commitment.
    pub fn commitment(&self) -> &Commitment {
        &self.commitment
    }

    /// Whether the value was sealed for recipients (a ciphertext follows the commitment).
    pub fn is_encrypted(&self) -> bool {
        self.ciphertext.is_some()
    }

    /// The binary form: version, form, commitment, then the ciphertext if any.
    pub fn encode(&self) -> Vec<u8> {
        let ciphertext = self.ciphertext.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.extend_from_slice(&self.header());
        out.extend_from_slice(ciphertext);
        out
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let form = match (&self.ciphertext, self.padded) {
            (None, _) => FORM_COMMITTED,
            (Some(_), false) => FORM_ENCRYPTED,
            (Some(_), true) => FORM_PADDED,
        };
        header(&self.commitment, form)
    }

    /// Reads the binary form; refuses anything [`SealedField::encode`] would not write.
    pub fn decode(bytes: &[u8]) -> Result<Self, SealedFormatError> {
        let mut reader = ByteReader::new(bytes);
        let version = reader.u8("version")?;
        if version != VERSION {
            return Err(SealedFormatError::Version(version));
        }
        let form = reader.u8("form")?;
        let commitment = Commitment(reader.array("commitment")?);
        let rest = reader.take(reader.remaining(), "ciphertext")?;
        let ciphertext = match form {
            FORM_COMMITTED if rest.is_empty() => None,
            FORM_COMMITTED => return Err(SealedFormatError::TrailingBytes(rest.len())),
            FORM_ENCRYPTED if rest.len() < SALT_LEN + TAG_LEN => {
                return Err(SealedFormatError::CiphertextTooShort(rest.len()));
            }
            FORM_ENCRYPTED if rest.len() > SALT_LEN + MAX_VALUE_LEN + TAG_LEN => {
                return Err(SealedFormatError::CiphertextTooLong(rest.len()));
            }
            FORM_ENCRYPTED => Some(rest.to_vec()),
            FORM_PADDED
                if rest.len() < TAG_LEN + 64
                    || (rest.len() - TAG_LEN) != padded_len(rest.len() - TAG_LEN) =>
            {
                return Err(SealedFormatError::PaddedLength(rest.len()));
            }
            FORM_PADDED if rest.len() > padded_len(SALT_LEN + MAX_VALUE_LEN + 1) + TAG_LEN => {
                return Err(SealedFormatError::CiphertextTooLong(rest.len()));
            }
            FORM_PADDED => Some(rest.to_vec()),
            other => return Err(SealedFormatError::Form(other)),
        };
        Ok(Self {
            commitment,
            ciphertext,
            padded: form == FORM_PADDED,
        })
    }

    /// The JSON that stands in for the value: `{"sealed:field": "<base64>"}`.
    pub fn to_json(&self) -> Value {
        let mut object = Map::with_capacity(1);
        object.insert(
            FIELD_MEMBER.to_owned(),
            Value::String(base64_encode(&self.encode())),
        );
        Value::Object(object)
    }

    /// Reads a JSON value that stands in for a sealed value: `None` if `value` is not one (not an
    /// object with the member [`FIELD_MEMBER`]), an error if it is one but malformed.
    pub fn from_json(value: &Value) -> Option<Result<Self, SealedFormatError>> {
        let object = value.as_object()?;
        let member = object.get(FIELD_MEMBER)?;
        Some(if object.len() != 1 {
            Err(SealedFormatError::OtherMembers)
        } else {
            match member {
                Value::String(text) => base64_decode(text)
                    .map_err(|_| SealedFormatError::Base64)
                    .and_then(|bytes| Self::decode(&bytes)),
                _ => Err(SealedFormatError::NotText),
            }
        })
    }
}

/// A sealed value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedFormatError {
    #[error("the sealed value ends in the middle of its {0}")]
    Truncated(&'static str),
    #[error("the sealed value has version {0}; this reader knows version 1")]
    Version(u8),
    #[error(
        "the sealed value has form {0}; known forms are 0 (commitment), 1 (encrypted) and 2 \
         (encrypted, padded)"
    )]
    Form(u8),
    #[error(
        "the sealed value's padded ciphertext has {0} bytes, which is no length class's (a tag \
         and a power of two from 64 bytes up to 1,024, a multiple of 1,024 beyond)"
    )]
    PaddedLength(usize),
    #[error("the sealed value has {0} bytes after its commitment, and its form has no ciphertext")]
    TrailingBytes(usize),
    #[error("the sealed value's ciphertext has {0} bytes, fewer than a salt and a tag")]
    CiphertextTooShort(usize),
    #[error("the sealed value's ciphertext has {0} bytes, more than the longest value sealed")]
    CiphertextTooLong(usize),
    #[error("`sealed:field` is not a string")]
    NotText,
    #[error("`sealed:field` is not canonical standard base64")]
    Base64,
    #[error("an object with `sealed:field` has other members")]
    OtherMembers,
}

impl From<Truncated> for SealedFormatError {
    fn from(Truncated(field): Truncated) -> Self {
        Self::Truncated(field)
    }
}

/// What opens a sealed value: its salt and the value's JSON text. Secret: zeroed when dropped,
/// never shown by `Debug`.
pub struct Opening {
    salt: Zeroizing<[u8; SALT_LEN]>,
    value: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Opening(..)")
    }
}

impl Opening {
    /// An opening from its parts.
    pub fn new(salt: [u8; SALT_LEN], value: Vec<u8>) -> Self {
        Self {
            salt: Zeroizing::new(salt),
            value: Zeroizing::new(value),
        }
    }

    /// The salt.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The value's JSON text, as sealed.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The commitment this opening makes.
    pub fn commitment(&self) -> Commitment {
        Commitment::of(&self.salt, &self.value)
    }

    /// Whether this opens `field` (the commitments match; compared in constant time).
    pub fn opens(&self, field: &SealedField) -> bool {
        self.commitment() == field.commitment
    }
}

/// An X25519 public key of a recipient of sealed values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecipientKey([u8; PUBLIC_KEY_LEN]);

impl RecipientKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// Standard padded base64, as key files and the registry write it.
    pub fn to_base64(&self) -> String {
        base64_encode(&self.0)
    }

    /// Reads standard padded base64 of 32 bytes.
    pub fn parse_base64(text: &str) -> Option<Self> {
        crate::encoding::base64_decode_array(text).ok().map(Self)
    }

    /// 64 lowercase hex digits, as trace-api's paths write it.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn parse_hex(text: &str) -> Option<Self> {
        crate::encoding::hex_decode_array(text).map(Self)
    }

    fn to_hpke(self) -> Result<<X25519HkdfSha256 as hpke::Kem>::PublicKey, SealError> {
        <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&self.0)
            .map_err(|_| SealError::RecipientKey)
    }
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientKey({})", self.to_base64())
    }
}

/// A recipient's X25519 private key. Secret: zeroed when dropped, never shown by `Debug`.
pub struct RecipientSecret {
    secret: Zeroizing<[u8; KEY_LEN]>,
    public: RecipientKey,
}

impl fmt::Debug for RecipientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientSecret(public: {:?})", self.public)
    }
}

impl RecipientSecret {
    /// A new key pair from 32 bytes of fresh randomness (HPKE's `DeriveKeyPair`).
    pub fn generate(random: Random<'_>) -> Self {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        random(seed.as_mut());
        let (secret, _) = X25519HkdfSha256::derive_keypair(seed.as_ref());
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&secret.to_bytes());
        Self::from_bytes(&bytes).unwrap_or_else(|_| unreachable!("a derived key is a key"))
    }

    /// The key with these bytes (the X25519 scalar, as RFC 7748 writes it).
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Result<Self, SealError> {
        let secret = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map_err(|_| SealError::RecipientKey)?;
        let mut public = [0u8; PUBLIC_KEY_LEN];
        public.copy_from_slice(&X25519HkdfSha256::sk_to_pk(&secret).to_bytes());
        Ok(Self {
            secret: Zeroizing::new(*bytes),
            public: RecipientKey(public),
        })
    }

    /// Its bytes (secret).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }

    /// The public key.
    pub fn public_key(&self) -> RecipientKey {
        self.public
    }
}

/// A batch key sent to one recipient: the recipient's key, HPKE's encapsulated key and the
/// batch key sealed with HPKE.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    recipient: RecipientKey,
    bytes: [u8; PUBLIC_KEY_LEN + KEY_LEN + TAG_LEN],
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Envelope(to: {:?})", self.recipient)
    }
}

impl Envelope {
    /// The recipient.
    pub fn recipient(&self) -> RecipientKey {
        self.recipient
    }

    /// The encapsulated key and sealed batch key, 80 bytes, as stored and served.
    pub fn sealed_key(&self) -> &[u8] {
        &self.bytes
    }

    /// An envelope from its recipient and the 80 bytes of [`Envelope::sealed_key`].
    pub fn from_parts(recipient: RecipientKey, sealed_key: &[u8]) -> Option<Self> {
        Some(Self {
            recipient,
            bytes: sealed_key.try_into().ok()?,
        })
    }
}

/// A field key wrapped under its batch key, named by the commitment of its field.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldKey {
    commitment: Commitment,
    wrapped: [u8; KEY_LEN + TAG_LEN],
}

impl fmt::Debug for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldKey(for: {:?})", self.commitment)
    }
}

impl FieldKey {
    /// The commitment of the field this key opens.
    pub fn commitment(&self) -> &Commitment {
        &self.commitment
    }

    /// The wrapped key, 48 bytes, as stored and served.
    pub fn wrapped(&self) -> &[u8] {
        &self.wrapped
    }

    /// A field key from its commitment and the 48 bytes of [`FieldKey::wrapped`].
    pub fn from_parts(commitment: Commitment, wrapped: &[u8]) -> Option<Self> {
        Some(Self {
            commitment,
            wrapped: wrapped.try_into().ok()?,
        })
    }
}

/// What opens the sealed values of one capture document: the batch key's envelopes, one per
/// recipient, and each field's wrapped key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    envelopes: Vec<Envelope>,
    field_keys: Vec<FieldKey>,
}

impl KeySet {
    /// The envelopes, one per recipient.
    pub fn envelopes(&self) -> &[Envelope] {
        &self.envelopes
    }

    /// The field keys.
    pub fn field_keys(&self) -> &[FieldKey] {
        &self.field_keys
    }

    /// The same envelopes with only the field keys whose commitment `keep` accepts; `None` when
    /// none is left.
    pub fn retain_fields(&self, mut keep: impl FnMut(&Commitment) -> bool) -> Option<Self> {
        let field_keys: Vec<FieldKey> = self
            .field_keys
            .iter()
            .filter(|key| keep(&key.commitment))
            .cloned()
            .collect();
        (!field_keys.is_empty()).then(|| Self {
            envelopes: self.envelopes.clone(),
            field_keys,
        })
    }

    /// Joins parts of key sets again: those sending the same batch key to the same recipients
    /// (the same envelopes: parts of one sealer's key set, as a spool keeps them per event) become
    /// one key set, each field key kept once, in the order the batch keys first appear; a batch
    /// key with more than [`MAX_FIELD_KEYS`] field keys gets as many key sets as it needs.
    pub fn join(parts: impl IntoIterator<Item = KeySet>) -> Vec<KeySet> {
        let mut joined: Vec<KeySet> = Vec::new();
        // Per batch key: the index of its newest key set, and the commitments it holds.
        let mut open: std::collections::HashMap<
            [u8; 32],
            (usize, std::collections::HashSet<Commitment>),
        > = std::collections::HashMap::new();
        for part in parts {
            let (at, held) = open.entry(part.grant_id()).or_insert_with(|| {
                joined.push(KeySet {
                    envelopes: part.envelopes.clone(),
                    field_keys: Vec::new(),
                });
                (joined.len() - 1, std::collections::HashSet::new())
            });
            for key in part.field_keys {
                if !held.insert(key.commitment) {
                    continue;
                }
                if joined[*at].field_keys.len() == MAX_FIELD_KEYS {
                    joined.push(KeySet {
                        envelopes: part.envelopes.clone(),
                        field_keys: Vec::new(),
                    });
                    *at = joined.len() - 1;
                }
                joined[*at].field_keys.push(key);
            }
        }
        joined
    }

    /// Names the batch key: SHA-256 of a domain string and the envelopes' bytes, so that a
    /// store keeps each batch's envelopes once however many fields they open.
    pub fn grant_id(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(GRANT_DOMAIN);
        for envelope in &self.envelopes {
            hasher.update(envelope.recipient.as_bytes());
            hasher.update(envelope.bytes);
        }
        hasher.finalize().into()
    }

    /// The binary form: version, recipient count (one byte), the envelopes (recipient key,
    /// encapsulated key, sealed batch key), field key count (two bytes, big-endian), the field
    /// keys (commitment, wrapped key).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            4 + self.envelopes.len() * ENVELOPE_LEN + self.field_keys.len() * FIELD_KEY_LEN,
        );
        out.push(VERSION);
        // Both counts are bounded when a key set is built or read.
        out.push(self.envelopes.len() as u8);
        for envelope in &self.envelopes {
            out.extend_from_slice(envelope.recipient.as_bytes());
            out.extend_from_slice(&envelope.bytes);
        }
        out.extend_from_slice(&(self.field_keys.len() as u16).to_be_bytes());
        for key in &self.field_keys {
            out.extend_from_slice(key.commitment.as_bytes());
            out.extend_from_slice(&key.wrapped);
        }
        out
    }

    /// Reads the binary form; refuses anything [`KeySet::encode`] would not write (no
    /// recipients or field keys, a recipient or a commitment twice, bytes left over).
    pub fn decode(bytes: &[u8]) -> Result<Self, KeySetError> {
        let mut reader = ByteReader::new(bytes);
        let version = reader.u8("version")?;
        if version != VERSION {
            return Err(KeySetError::Version(version));
        }
        let recipients = usize::from(reader.u8("recipient count")?);
        if recipients == 0 || recipients > MAX_RECIPIENTS {
            return Err(KeySetError::RecipientCount(recipients));
        }
        let mut envelopes: Vec<Envelope> = Vec::with_capacity(recipients);
        for _ in 0..recipients {
            let recipient = RecipientKey(reader.array("recipient key")?);
            if envelopes.iter().any(|e| e.recipient == recipient) {
                return Err(KeySetError::DuplicateRecipient(recipient.to_base64()));
            }
            let bytes = reader.array("envelope")?;
            envelopes.push(Envelope { recipient, bytes });
        }
        let count = u16::from_be_bytes(reader.array("field key count")?);
        if count == 0 {
            return Err(KeySetError::NoFieldKeys);
        }
        // Room for what the bytes can hold, not for what the count claims: a short key set
        // claiming 65,535 keys must not cost megabytes before it is found short.
        let room = usize::from(count).min(reader.remaining() / FIELD_KEY_LEN);
        let mut field_keys: Vec<FieldKey> = Vec::with_capacity(room);
        let mut seen = std::collections::HashSet::with_capacity(room);
        for _ in 0..count {
            let commitment = Commitment(reader.array("field key commitment")?);
            if !seen.insert(commitment) {
                return Err(KeySetError::DuplicateField(commitment.to_hex()));
            }
            let wrapped = reader.array("wrapped field key")?;
            field_keys.push(FieldKey {
                commitment,
                wrapped,
            });
        }
        if reader.remaining() != 0 {
            return Err(KeySetError::TrailingBytes(reader.remaining()));
        }
        Ok(Self {
            envelopes,
            field_keys,
        })
    }

    /// The text a capture document carries: standard padded base64 of [`KeySet::encode`].
    pub fn to_base64(&self) -> String {
        base64_encode(&self.encode())
    }

    /// Reads the text form.
    pub fn parse_base64(text: &str) -> Result<Self, KeySetError> {
        Self::decode(&base64_decode(text).map_err(|_| KeySetError::Base64)?)
    }
}

/// A key set that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("the key set ends in the middle of its {0}")]
    Truncated(&'static str),
    #[error("the key set has version {0}; this reader knows version 1")]
    Version(u8),
    #[error("the key set names {0} recipients; it must name 1 to 16")]
    RecipientCount(usize),
    #[error("the key set names recipient {0} twice")]
    DuplicateRecipient(String),
    #[error("the key set holds no field keys")]
    NoFieldKeys,
    #[error("the key set holds two keys for the field with commitment {0}")]
    DuplicateField(String),
    #[error("the key set has {0} bytes after its last field key")]
    TrailingBytes(usize),
    #[error("the key set is not canonical standard base64")]
    Base64,
}

impl From<Truncated> for KeySetError {
    fn from(Truncated(field): Truncated) -> Self {
        Self::Truncated(field)
    }
}

/// Seals values of one capture document for a set of recipients.
pub struct Sealer {
    /// HKDF's pseudorandom key of the batch key (its extract step, done once per batch).
    wrap_prk: Zeroizing<[u8; KEY_LEN]>,
    envelopes: Vec<Envelope>,
    field_keys: Vec<FieldKey>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("envelopes", &self.envelopes)
            .field("fields", &self.field_keys.len())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A fresh batch key, sent to each recipient with HPKE (one encapsulation each).
    pub fn new(recipients: &[RecipientKey], random: Random<'_>) -> Result<Self, SealError> {
        if recipients.is_empty() {
            return Err(SealError::NoRecipients);
        }
        if recipients.len() > MAX_RECIPIENTS {
            return Err(SealError::TooManyRecipients(recipients.len()));
        }
        let mut batch_key = Zeroizing::new([0u8; KEY_LEN]);
        random(batch_key.as_mut());
        let mut rng = RandomRng(&mut *random);
        let mut envelopes: Vec<Envelope> = Vec::with_capacity(recipients.len());
        for &recipient in recipients {
            if envelopes.iter().any(|e| e.recipient == recipient) {
                return Err(SealError::DuplicateRecipient(recipient.to_base64()));
            }
            let (encapsulated, sealed) =
                hpke::single_shot_seal_with_rng::<HpkeChaCha, HkdfSha256, X25519HkdfSha256>(
                    &OpModeS::Base,
                    &recipient.to_hpke()?,
                    HPKE_INFO,
                    batch_key.as_ref(),
                    &[],
                    &mut rng,
                )
                .map_err(|_| SealError::RecipientKey)?;
            let mut bytes = [0u8; PUBLIC_KEY_LEN + KEY_LEN + TAG_LEN];
            bytes[..PUBLIC_KEY_LEN].copy_from_slice(&encapsulated.to_bytes());
            bytes[PUBLIC_KEY_LEN..].copy_from_slice(&sealed);
            envelopes.push(Envelope { recipient, bytes });
        }
        Ok(Self {
            wrap_prk: wrap_prk(&batch_key),
            envelopes,
            field_keys: Vec::new(),
        })
    }

    /// Seals one value (its JSON text) for the recipients: a fresh salt and field key, the
    /// commitment, the ciphertext of salt and value, and the field key wrapped for the key set.
    pub fn seal(&mut self, value: &[u8], random: Random<'_>) -> Result<SealedField, SealError> {
        check_value(value)?;
        if self.field_keys.len() >= MAX_FIELD_KEYS {
            return Err(SealError::TooManyFields);
        }
        // The salt, then the field key, in one draw.
        let mut drawn = Zeroizing::new([0u8; SALT_LEN + KEY_LEN]);
        random(drawn.as_mut());
        let (salt, field_key) = drawn.split_at(SALT_LEN);
        let salt: &[u8; SALT_LEN] = salt.try_into().unwrap_or_else(|_| unreachable!("split"));
        let field_key: &[u8; KEY_LEN] = field_key
            .try_into()
            .unwrap_or_else(|_| unreachable!("split"));
        let commitment = Commitment::of(salt, value);
        let length = padded_len(SALT_LEN + value.len() + 1);
        let mut plaintext = Zeroizing::new(Vec::with_capacity(length));
        plaintext.extend_from_slice(salt);
        plaintext.extend_from_slice(value);
        plaintext.push(PAD_MARKER);
        plaintext.resize(length, 0);
        let ciphertext = aead_seal(field_key, &header(&commitment, FORM_PADDED), &plaintext);
        let wrap_key = wrap_key(&self.wrap_prk, &commitment);
        let wrapped = aead_seal(&wrap_key, commitment.as_bytes(), field_key);
        self.field_keys.push(FieldKey {
            commitment,
            wrapped: wrapped
                .try_into()
                .unwrap_or_else(|_| unreachable!("a key and a tag")),
        });
        Ok(SealedField {
            commitment,
            ciphertext: Some(ciphertext),
            padded: true,
        })
    }

    /// How many values were sealed.
    pub fn len(&self) -> usize {
        self.field_keys.len()
    }

    /// Whether no value was sealed yet.
    pub fn is_empty(&self) -> bool {
        self.field_keys.is_empty()
    }

    /// The key set of everything sealed so far.
    pub fn key_set(&self) -> KeySet {
        KeySet {
            envelopes: self.envelopes.clone(),
            field_keys: self.field_keys.clone(),
        }
    }

    /// The key set of the values sealed after the first `sealed` ones (a part of [`key_set`]
    /// that opens only those: what one event of a batch needs); `None` when there are none.
    ///
    /// [`key_set`]: Sealer::key_set
    pub fn key_set_since(&self, sealed: usize) -> Option<KeySet> {
        let field_keys = self.field_keys.get(sealed..).unwrap_or_default();
        (!field_keys.is_empty()).then(|| KeySet {
            envelopes: self.envelopes.clone(),
            field_keys: field_keys.to_vec(),
        })
    }
}

/// Seals one value for nobody: a commitment only. The opening goes back to the caller, who keeps
/// it (the log never sees it) and may show it to whom it chooses.
pub fn commit(value: &[u8], random: Random<'_>) -> Result<(SealedField, Opening), SealError> {
    check_value(value)?;
    let mut salt = [0u8; SALT_LEN];
    random(&mut salt);
    let opening = Opening::new(salt, value.to_vec());
    salt.zeroize();
    let field = SealedField {
        commitment: opening.commitment(),
        ciphertext: None,
        padded: false,
    };
    Ok((field, opening))
}

fn check_value(value: &[u8]) -> Result<(), SealError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(SealError::ValueTooLong(value.len()));
    }
    Ok(())
}

/// Opens a sealed value with a recipient's key, its batch key's envelope for that recipient and
/// its field key; checks that the value opened matches the commitment.
pub fn open(
    field: &SealedField,
    field_key: &FieldKey,
    envelope: &Envelope,
    secret: &RecipientSecret,
) -> Result<Opening, OpenError> {
    open_with_key(field, field_key, envelope, secret).map(|(opening, _)| opening)
}

/// Grants sealed values a recipient can open to further recipients (`to`): a key set of a fresh
/// batch key sent to each of them, with each value's field key wrapped anew under it. Each value
/// is opened first (`open`), so that nothing is granted that its commitment does not hold. The
/// values, their salts and their ciphertexts are unchanged (they are in the log); the grant is
/// handed to its recipients apart from the log (`tagtrail grant sealed`), and, like a copy of the value
/// a recipient keeps, it is beyond the reach of a later erasure of the value's keys.
pub fn grant(
    values: &[(&SealedField, &FieldKey, &Envelope)],
    secret: &RecipientSecret,
    to: &[RecipientKey],
    random: Random<'_>,
) -> Result<KeySet, GrantError> {
    if values.is_empty() {
        return Err(GrantError::Nothing);
    }
    let mut sealer = Sealer::new(to, random).map_err(GrantError::Seal)?;
    for (index, (field, field_key, envelope)) in values.iter().enumerate() {
        let (_, key) = open_with_key(field, field_key, envelope, secret)
            .map_err(|error| GrantError::Open(index, error))?;
        if sealer
            .field_keys
            .iter()
            .any(|kept| kept.commitment == field.commitment)
        {
            continue;
        }
        if sealer.field_keys.len() >= MAX_FIELD_KEYS {
            return Err(GrantError::Seal(SealError::TooManyFields));
        }
        let wrapped = aead_seal(
            &wrap_key(&sealer.wrap_prk, &field.commitment),
            field.commitment.as_bytes(),
            key.as_slice(),
        );
        sealer.field_keys.push(FieldKey {
            commitment: field.commitment,
            wrapped: wrapped
                .try_into()
                .unwrap_or_else(|_| unreachable!("a key and a tag")),
        });
    }
    Ok(sealer.key_set())
}

/// Why a grant could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("there is no value to grant")]
    Nothing,
    #[error("value {0} cannot be opened with this key: {1}")]
    Open(usize, OpenError),
    #[error(transparent)]
    Seal(SealError),
}

/// [`open`], and the field key that opened the value.
fn open_with_key(
    field: &SealedField,
    field_key: &FieldKey,
    envelope: &Envelope,
    secret: &RecipientSecret,
) -> Result<(Opening, Zeroizing<[u8; KEY_LEN]>), OpenError> {
    let ciphertext = field.ciphertext.as_deref().ok_or(OpenError::NotEncrypted)?;
    if envelope.recipient != secret.public_key() {
        return Err(OpenError::OtherRecipient);
    }
    if field_key.commitment != field.commitment {
        return Err(OpenError::OtherField);
    }
    let encapsulated =
        <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&envelope.bytes[..PUBLIC_KEY_LEN])
            .map_err(|_| OpenError::Envelope)?;
    let private = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(secret.as_bytes())
        .map_err(|_| OpenError::Envelope)?;
    let batch_key = Zeroizing::new(
        hpke::single_shot_open::<HpkeChaCha, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &private,
            &encapsulated,
            HPKE_INFO,
            &envelope.bytes[PUBLIC_KEY_LEN..],
            &[],
        )
        .map_err(|_| OpenError::Envelope)?,
    );
    let batch_key: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(
        batch_key
            .as_slice()
            .try_into()
            .map_err(|_| OpenError::Envelope)?,
    );
    let wrap_key = wrap_key(&wrap_prk(&batch_key), &field.commitment);
    let key = aead_open(&wrap_key, field.commitment.as_bytes(), &field_key.wrapped)
        .ok_or(OpenError::FieldKey)?;
    let key: Zeroizing<[u8; KEY_LEN]> =
        Zeroizing::new(key.as_slice().try_into().map_err(|_| OpenError::FieldKey)?);
    let plaintext = aead_open(&key, &field.header(), ciphertext).ok_or(OpenError::Ciphertext)?;
    let end = if field.padded {
        // The value ends at the marker before the trailing zero bytes.
        plaintext
            .iter()
            .rposition(|byte| *byte != 0)
            .filter(|at| plaintext[*at] == PAD_MARKER && *at >= SALT_LEN)
            .ok_or(OpenError::Padding)?
    } else {
        plaintext.len()
    };
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&plaintext[..SALT_LEN]);
    let opening = Opening::new(salt, plaintext[SALT_LEN..end].to_vec());
    salt.zeroize();
    if !opening.opens(field) {
        return Err(OpenError::Commitment);
    }
    Ok((opening, key))
}

/// The key that wraps a field key: HKDF-SHA256 of the batch key, with the field's commitment in
/// the info.
/// HKDF-SHA256's extract step over a batch key (no salt): the pseudorandom key every field's wrap
/// key is expanded from ([`wrap_key`]).
fn wrap_prk(batch_key: &[u8; KEY_LEN]) -> Zeroizing<[u8; KEY_LEN]> {
    let (prk, _) = hkdf::Hkdf::<Sha256>::extract(None, batch_key);
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    bytes.copy_from_slice(&prk);
    bytes
}

/// The key a field's key is wrapped under: HKDF-SHA256 of the batch key with the field's
/// commitment in its info, expanded from the batch key's [`wrap_prk`].
fn wrap_key(prk: &[u8; KEY_LEN], commitment: &Commitment) -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    hkdf::Hkdf::<Sha256>::from_prk(prk)
        .unwrap_or_else(|_| unreachable!("32 bytes is SHA-256's PRK length"))
        .expand_multi_info(&[WRAP_INFO, commitment.as_bytes()], key.as_mut())
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
    key
}

/// ChaCha20-Poly1305 under a key used once (nonce zero).
fn aead_seal(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_else(|_| unreachable!("values are bounded far below the AEAD's limit"))
}

fn aead_open(key: &[u8; KEY_LEN], aad: &[u8], ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    ChaCha20Poly1305::new(key.into())
        .decrypt(
            &Nonce::default(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// Sealing refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a value sealed for recipients needs at least one recipient")]
    NoRecipients,
    #[error("{0} recipients; at most 16 may receive one batch")]
    TooManyRecipients(usize),
    #[error("recipient {0} is named twice")]
    DuplicateRecipient(String),
    #[error("the recipient's key is not an X25519 key")]
    RecipientKey,
    #[error("the value's JSON text has {0} bytes; at most 16384 may be sealed")]
    ValueTooLong(usize),
    #[error("one batch seals at most 65535 values")]
    TooManyFields,
}

/// A sealed value that could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the value was sealed as a commitment only; its opening is held by whoever sealed it")]
    NotEncrypted,
    #[error("the envelope is for another recipient")]
    OtherRecipient,
    #[error("the field key is for another field")]
    OtherField,
    #[error("the envelope does not open with this key")]
    Envelope,
    #[error("the field key does not unwrap with this batch key")]
    FieldKey,
    #[error("the ciphertext does not open with its field key")]
    Ciphertext,
    #[error("the value opened has no well-formed padding: whoever sealed it did not pad it")]
    Padding,
    #[error("the value opened does not match its commitment: whoever sealed it did not seal this")]
    Commitment,
}

/// Adapts a [`Random`] source to the RNG interface HPKE asks for.
struct RandomRng<'a>(&'a mut dyn FnMut(&mut [u8]));

impl hpke::rand_core::TryRng for RandomRng<'_> {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        (self.0)(&mut bytes);
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        (self.0)(&mut bytes);
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        (self.0)(dst);
        Ok(())
    }
}

impl hpke::rand_core::TryCryptoRng for RandomRng<'_> {}

#[cfg(test)]
mod tests;
