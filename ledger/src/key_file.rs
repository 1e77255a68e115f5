//! Device key files, as `tagtrail device keygen` writes them and the bridge, `tagtrail capture` and
//! the registry commands read them (one writer and one reader for all):
//!
//! ```text
//! private key: {"algorithm": "ed25519", "seed": "<standard padded base64 of the 32-byte seed>"}
//! public key:  {"algorithm": "ed25519", "key": "<standard padded base64 of the 32-byte key>"}
//! ```
//!
//! Recipient key files (X25519, for sealed values: `ledger::sealed`), as `tagtrail recipient
//! keygen` writes them and `tagtrail seal` and `tagtrail open` read them:
//!
//! ```text
//! private key: {"algorithm": "x25519", "secret": "<standard padded base64 of the 32-byte key>"}
//! public key:  {"algorithm": "x25519", "key": "<standard padded base64 of the 32-byte key>"}
//! ```
//!
//! A public recipient key may also be given bare, as its base64 or 64 hex digits.
//!
//! A private device key may also be given as its bare seed, 64 hex digits (how gateways provisioned
//! before `tagtrail device keygen` hold it). Surrounding white space is ignored. The text is given
//! by the caller (this crate reads no files); the seed never appears in an error or in `Debug`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::batch::{DevicePublicKey, DeviceSigningKey};
use crate::encoding::{base64_decode, base64_encode};
use crate::sealed::{RecipientKey, RecipientSecret};

/// The text of a private device key file for `seed` (secret: zeroed when dropped).
pub fn private_key_file_text(seed: &[u8; 32]) -> Zeroizing<String> {
    let seed = Zeroizing::new(base64_encode(seed));
    let json = PrivateKeyOut {
        algorithm: ED25519,
        seed: &seed,
    };
    // Serialising two strings cannot fail.
    Zeroizing::new(serde_json::to_string(&json).unwrap_or_default() + "\n")
}

/// The text of a public device key file.
pub fn public_key_file_text(key: &DevicePublicKey) -> String {
    // Serialising two strings cannot fail.
    serde_json::to_string(key).unwrap_or_default() + "\n"
}

/// Reads a device signing key from the text of its key file (the JSON form or 64 hex digits).
pub fn parse_private_key_file(text: &str) -> Result<DeviceSigningKey, KeyFileError> {
    let text = text.trim();
    let seed: Zeroizing<Vec<u8>> = if text.starts_with('{') {
        let json: PrivateKeyIn = serde_json::from_str(text).map_err(|_| KeyFileError::Malformed)?;
        let encoded = Zeroizing::new(json.seed);
        if json.algorithm != ED25519 {
            return Err(KeyFileError::Algorithm(json.algorithm));
        }
        Zeroizing::new(base64_decode(&encoded).map_err(|_| KeyFileError::Malformed)?)
    } else {
        Zeroizing::new(epcis::hex::decode(text).ok_or(KeyFileError::Malformed)?)
    };
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        seed.as_slice()
            .try_into()
            .map_err(|_| KeyFileError::Malformed)?,
    );
    Ok(DeviceSigningKey::from_seed(&seed))
}

/// Reads a device public key from the text of its key file.
pub fn parse_public_key_file(text: &str) -> Result<DevicePublicKey, KeyFileError> {
    serde_json::from_str(text.trim()).map_err(|error| KeyFileError::PublicKey(error.to_string()))
}

const ED25519: &str = "ed25519";
const X25519: &str = "x25519";

/// The text of a private recipient key file (secret: zeroed when dropped).
pub fn recipient_secret_file_text(secret: &RecipientSecret) -> Zeroizing<String> {
    let encoded = Zeroizing::new(base64_encode(secret.as_bytes()));
    let json = RecipientSecretOut {
        algorithm: X25519,
        secret: &encoded,
    };
    // Serialising two strings cannot fail.
    Zeroizing::new(serde_json::to_string(&json).unwrap_or_default() + "\n")
}

/// The text of a public recipient key file.
pub fn recipient_key_file_text(key: &RecipientKey) -> String {
    let json = RecipientKeyFile {
        algorithm: X25519.to_owned(),
        key: key.to_base64(),
    };
    // Serialising two strings cannot fail.
    serde_json::to_string(&json).unwrap_or_default() + "\n"
}

/// Reads a recipient's private key from the text of its key file.
pub fn parse_recipient_secret_file(text: &str) -> Result<RecipientSecret, RecipientKeyFileError> {
    let json: RecipientSecretIn =
        serde_json::from_str(text.trim()).map_err(|_| RecipientKeyFileError::MalformedSecret)?;
    let encoded = Zeroizing::new(json.secret);
    if json.algorithm != X25519 {
        return Err(RecipientKeyFileError::Algorithm(json.algorithm));
    }
    let bytes = Zeroizing::new(
        base64_decode(&encoded).map_err(|_| RecipientKeyFileError::MalformedSecret)?,
    );
    let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| RecipientKeyFileError::MalformedSecret)?,
    );
    RecipientSecret::from_bytes(&bytes).map_err(|_| RecipientKeyFileError::MalformedSecret)
}

/// Reads a recipient's public key: its key file's text, or the bare key as base64 or 64 hex
/// digits.
pub fn parse_recipient_key(text: &str) -> Result<RecipientKey, RecipientKeyFileError> {
    let text = text.trim();
    if text.starts_with('{') {
        let json: RecipientKeyFile =
            serde_json::from_str(text).map_err(|_| RecipientKeyFileError::MalformedKey)?;
        if json.algorithm != X25519 {
            return Err(RecipientKeyFileError::Algorithm(json.algorithm));
        }
        return RecipientKey::parse_base64(&json.key).ok_or(RecipientKeyFileError::MalformedKey);
    }
    RecipientKey::parse_hex(text)
        .or_else(|| RecipientKey::parse_base64(text))
        .ok_or(RecipientKeyFileError::MalformedKey)
}

#[derive(Serialize)]
struct RecipientSecretOut<'a> {
    algorithm: &'a str,
    secret: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientSecretIn {
    algorithm: String,
    secret: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientKeyFile {
    algorithm: String,
    key: String,
}

/// Why text is not a recipient key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientKeyFileError {
    #[error(
        "recipient key file: expected the private key file `tagtrail recipient keygen` writes ({{\"algorithm\": \"x25519\", \"secret\": \"<base64 of 32 bytes>\"}})"
    )]
    MalformedSecret,
    #[error(
        "recipient key: expected the public key file `tagtrail recipient keygen` writes ({{\"algorithm\": \"x25519\", \"key\": \"<base64 of 32 bytes>\"}}), or the key as base64 or 64 hex digits"
    )]
    MalformedKey,
    #[error("recipient key file: only x25519 keys are supported, not {0}")]
    Algorithm(String),
}

#[derive(Serialize)]
struct PrivateKeyOut<'a> {
    algorithm: &'a str,
    seed: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateKeyIn {
    algorithm: String,
    seed: String,
}

/// Why text is not a device key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// Neither of the two accepted private key forms.
    #[error(
        "device key file: expected the file `tagtrail device keygen` writes ({{\"algorithm\": \"ed25519\", \"seed\": \"<base64 of 32 bytes>\"}}) or 64 hex digits (the Ed25519 seed)"
    )]
    Malformed,
    /// A private key of another algorithm.
    #[error("device key file: only ed25519 keys are supported, not {0}")]
    Algorithm(String),
    /// Not a public key file.
    #[error(
        "public device key file: expected {{\"algorithm\": \"ed25519\", \"key\": \"<base64 of 32 bytes>\"}}: {0}"
    )]
    PublicKey(String),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const SEED: [u8; 32] = [0x11; 32];

    #[test]
    fn the_private_key_file_has_its_golden_text_and_reads_back() {
        let text = private_key_file_text(&SEED);
        assert_eq!(
            text.as_str(),
            "{\"algorithm\":\"ed25519\",\"seed\":\"ERERERERERERERERERERERERERERERERERERERERERE=\"}\n"
        );
        let key = parse_private_key_file(&text).unwrap();
        assert_eq!(
            key.public_key(),
            DeviceSigningKey::from_seed(&SEED).public_key()
        );
    }

    #[test]
    fn a_bare_hex_seed_is_the_same_key() {
        let from_hex = parse_private_key_file(&format!("{}\n", "11".repeat(32))).unwrap();
        let from_json = parse_private_key_file(&private_key_file_text(&SEED)).unwrap();
        assert_eq!(from_hex.public_key(), from_json.public_key());
    }

    #[test]
    fn a_private_key_file_must_hold_a_32_byte_ed25519_seed() {
        assert_eq!(
            parse_private_key_file("1122").unwrap_err(),
            KeyFileError::Malformed
        );
        assert_eq!(
            parse_private_key_file(&"zz".repeat(32)).unwrap_err(),
            KeyFileError::Malformed
        );
        let short = format!(
            "{{\"algorithm\":\"ed25519\",\"seed\":\"{}\"}}",
            base64_encode(&[1u8; 31])
        );
        assert_eq!(
            parse_private_key_file(&short).unwrap_err(),
            KeyFileError::Malformed
        );
        let json = private_key_file_text(&SEED);
        let other = json.replace("ed25519", "rsa");
        assert_eq!(
            parse_private_key_file(&other).unwrap_err(),
            KeyFileError::Algorithm("rsa".to_owned())
        );
        let error = parse_private_key_file(&json.replace("seed", "sead")).unwrap_err();
        assert!(!error.to_string().contains(&base64_encode(&SEED)));
    }

    #[test]
    fn recipient_key_files_have_their_golden_text_and_read_back() {
        let secret = RecipientSecret::from_bytes(&[0x22; 32]).unwrap();
        let text = recipient_secret_file_text(&secret);
        assert_eq!(
            text.as_str(),
            "{\"algorithm\":\"x25519\",\"secret\":\"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\"}\n"
        );
        let read = parse_recipient_secret_file(&text).unwrap();
        assert_eq!(read.public_key(), secret.public_key());
        let public = recipient_key_file_text(&secret.public_key());
        assert_eq!(
            public,
            format!(
                "{{\"algorithm\":\"x25519\",\"key\":\"{}\"}}\n",
                secret.public_key().to_base64()
            )
        );
        for spelling in [
            public.clone(),
            secret.public_key().to_base64(),
            secret.public_key().to_hex(),
        ] {
            assert_eq!(parse_recipient_key(&spelling).unwrap(), secret.public_key());
        }
    }

    #[test]
    fn a_recipient_key_file_must_hold_a_32_byte_x25519_key() {
        let secret = RecipientSecret::from_bytes(&[0x22; 32]).unwrap();
        let text = recipient_secret_file_text(&secret);
        assert_eq!(
            parse_recipient_secret_file(&text.replace("x25519", "p256")).unwrap_err(),
            RecipientKeyFileError::Algorithm("p256".to_owned())
        );
        let short = format!(
            "{{\"algorithm\":\"x25519\",\"secret\":\"{}\"}}",
            base64_encode(&[1u8; 31])
        );
        assert_eq!(
            parse_recipient_secret_file(&short).unwrap_err(),
            RecipientKeyFileError::MalformedSecret
        );
        // A public key file is not a private one, nor the reverse; errors never show the secret.
        let public = recipient_key_file_text(&secret.public_key());
        assert_eq!(
            parse_recipient_secret_file(&public).unwrap_err(),
            RecipientKeyFileError::MalformedSecret
        );
        let error = parse_recipient_key(&text).unwrap_err();
        assert_eq!(error, RecipientKeyFileError::MalformedKey);
        assert!(!error.to_string().contains(&base64_encode(&[0x22; 32])));
        assert_eq!(
            parse_recipient_key(&"ab".repeat(31)).unwrap_err(),
            RecipientKeyFileError::MalformedKey
        );
    }

    #[test]
    fn the_public_key_file_has_its_golden_text_and_reads_back() {
        let public = DeviceSigningKey::from_seed(&SEED).public_key();
        let text = public_key_file_text(&public);
        assert!(text.starts_with("{\"algorithm\":\"ed25519\",\"key\":\""));
        assert!(text.ends_with("\"}\n"));
        assert_eq!(parse_public_key_file(&text).unwrap(), public);
        assert!(matches!(
            parse_public_key_file("{\"algorithm\":\"ed25519\",\"key\":\"AAAA\"}"),
            Err(KeyFileError::PublicKey(_))
        ));
        assert!(matches!(
            parse_public_key_file(&private_key_file_text(&SEED)),
            Err(KeyFileError::PublicKey(_))
        ));
    }
}
