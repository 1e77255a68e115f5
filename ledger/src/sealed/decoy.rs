//! Decoys: what a keys service answers for a recipient a sealed value is not sealed to, so that
//! asking with a public key learns nothing of whether that key is one of the value's recipients.
//!
//! A real answer is the value's wrapped field key and an envelope: HPKE's encapsulated key (an
//! X25519 public key of a fresh key pair) and the batch key sealed under it. A decoy has the
//! value's own field key (every recipient of a value gets the same one) and an envelope that
//! looks the same to anyone without the recipient's private key: its encapsulated key is the
//! public key of a key pair derived like HPKE's (so it lies on the curve, as a fresh one does,
//! and not on the twist, as half of all random strings would), its sealed part bytes no key
//! opens. Both come from HKDF-SHA256 of a secret the service keeps, with the commitment and the
//! recipient in the info: the same question always gets the same answer (asking twice, or of
//! another replica, tells nothing), and without the secret a decoy cannot be told from a real
//! envelope. For a value the service holds no keys for, the field key is a decoy too. The
//! recipient's private key does not open a decoy ([`super::OpenError::Envelope`]): to its holder
//! it reads as "not sealed to this key".

use std::fmt;

use hpke::Kem as _;
use hpke::Serializable as _;
use hpke::kem::X25519HkdfSha256;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Commitment, Envelope, FieldKey, KEY_LEN, PUBLIC_KEY_LEN, RecipientKey, TAG_LEN};

/// Bytes of the secret decoys are derived from.
pub const DECOY_SECRET_LEN: usize = 32;

const ENVELOPE_INFO: &[u8] = b"tagtrail sealed field v1 decoy envelope\0";
const FIELD_KEY_INFO: &[u8] = b"tagtrail sealed field v1 decoy field key\0";

/// The decoys of one secret (zeroed on drop, never shown).
pub struct Decoys {
    secret: Zeroizing<[u8; DECOY_SECRET_LEN]>,
}

impl fmt::Debug for Decoys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Decoys(..)")
    }
}

impl Decoys {
    /// The decoys of `secret` (uniformly random, kept by the service, the same for every
    /// instance that answers for one log).
    pub fn new(secret: &[u8; DECOY_SECRET_LEN]) -> Self {
        Self {
            secret: Zeroizing::new(*secret),
        }
    }

    /// HKDF-SHA256 of the secret, expanded with `parts` as the info into `out`.
    fn expand(&self, parts: &[&[u8]], out: &mut [u8]) {
        hkdf::Hkdf::<Sha256>::new(None, self.secret.as_slice())
            .expand_multi_info(parts, out)
            .unwrap_or_else(|_| unreachable!("at most 80 bytes is a valid HKDF-SHA256 length"));
    }

    /// The decoy envelope of the value `commitment` names for `recipient`: 80 bytes like a real
    /// one's, which no key opens.
    pub fn envelope(&self, commitment: &Commitment, recipient: RecipientKey) -> Envelope {
        let mut derived = Zeroizing::new([0u8; KEY_LEN + KEY_LEN + TAG_LEN]);
        self.expand(
            &[ENVELOPE_INFO, commitment.as_bytes(), recipient.as_bytes()],
            derived.as_mut(),
        );
        let (seed, sealed) = derived.split_at(KEY_LEN);
        let (_, public) = X25519HkdfSha256::derive_keypair(seed);
        let mut bytes = [0u8; PUBLIC_KEY_LEN + KEY_LEN + TAG_LEN];
        bytes[..PUBLIC_KEY_LEN].copy_from_slice(&public.to_bytes());
        bytes[PUBLIC_KEY_LEN..].copy_from_slice(sealed);
        Envelope { recipient, bytes }
    }

    /// The decoy field key of a value the service holds no keys for: 48 bytes like a real one's.
    pub fn field_key(&self, commitment: &Commitment) -> FieldKey {
        let mut wrapped = [0u8; KEY_LEN + TAG_LEN];
        self.expand(&[FIELD_KEY_INFO, commitment.as_bytes()], &mut wrapped);
        FieldKey {
            commitment: *commitment,
            wrapped,
        }
    }
}
