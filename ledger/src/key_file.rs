//! Device key files, as `tagtrail device keygen` writes them and the bridge, `tagtrail capture` and
//! the registry commands read them (one writer and one reader for all):
//!
//! ```text
//! private key: {"algorithm": "ed25519", "seed": "<standard padded base64 of the 32-byte seed>"}
//! public key:  {"algorithm": "ed25519", "key": "<standard padded base64 of the 32-byte key>"}
//! ```
//!
//! A private key may also be given as its bare seed, 64 hex digits (how gateways provisioned
//! before `tagtrail device keygen` hold it). Surrounding white space is ignored. The text is given
//! by the caller (this crate reads no files); the seed never appears in an error or in `Debug`.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::batch::{DevicePublicKey, DeviceSigningKey};
use crate::encoding::{base64_decode, base64_encode};

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
