//! [`EventHash`]: the identity of an event, as a 32-byte SHA-256 digest.

use std::fmt;

use subtle::ConstantTimeEq;

/// The prefix of a CBV 2.0 event hash ID before the hexadecimal digest.
const NI_PREFIX: &str = "ni:///sha-256;";
/// The suffix of a CBV 2.0 event hash ID after the hexadecimal digest.
const NI_SUFFIX: &str = "?ver=CBV2.0";

/// The SHA-256 digest of an event's CBV 2.0 pre-hash string.
///
/// Rendered as the named-information URI `ni:///sha-256;<lowercase hex>?ver=CBV2.0`. Equality is
/// constant-time: hashes are compared in verification paths.
#[derive(Clone, Copy)]
pub struct EventHash([u8; 32]);

impl EventHash {
    /// Wraps a raw SHA-256 digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses `ni:///sha-256;<64 hex digits>?ver=CBV2.0` (hex digits in either case).
    pub fn parse_ni(uri: &str) -> Result<Self, EventHashParseError> {
        let hex = uri
            .strip_prefix(NI_PREFIX)
            .and_then(|rest| rest.strip_suffix(NI_SUFFIX))
            .ok_or(EventHashParseError::NotAnEventHashUri)?;
        Self::parse_hex(hex)
    }

    /// Parses exactly 64 hexadecimal digits (either case).
    pub fn parse_hex(hex: &str) -> Result<Self, EventHashParseError> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return Err(EventHashParseError::WrongLength(bytes.len()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = crate::hex::digit_value(pair[0]).ok_or(EventHashParseError::NotHex)?;
            let lo = crate::hex::digit_value(pair[1]).ok_or(EventHashParseError::NotHex)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }

    /// The lowercase hexadecimal digest (64 characters).
    pub fn to_hex(&self) -> String {
        crate::hex::encode_lower(&self.0)
    }

    /// The CBV 2.0 event hash ID, `ni:///sha-256;<hex>?ver=CBV2.0`.
    pub fn to_ni_uri(&self) -> String {
        let mut s = String::with_capacity(NI_PREFIX.len() + 64 + NI_SUFFIX.len());
        s.push_str(NI_PREFIX);
        crate::hex::push_lower(&mut s, &self.0);
        s.push_str(NI_SUFFIX);
        s
    }
}

impl PartialEq for EventHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for EventHash {}

impl std::hash::Hash for EventHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with `PartialEq`: equal hashes have equal bytes.
        self.0.hash(state);
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ni_uri())
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({})", self.to_hex())
    }
}

/// Why a string is not an event hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventHashParseError {
    #[error("not a CBV 2.0 event hash ID: expected `ni:///sha-256;<64 hex digits>?ver=CBV2.0`")]
    NotAnEventHashUri,
    #[error("a SHA-256 digest is 64 hex digits, found {0}")]
    WrongLength(usize),
    #[error("the digest contains a character that is not a hex digit")]
    NotHex,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const URI: &str =
        "ni:///sha-256;df7bb3c352fef055578554f09f5e2aa41782150ced7bd0b8af24dd3ccb30ba69?ver=CBV2.0";

    #[test]
    fn an_ni_uri_round_trips() {
        let hash = EventHash::parse_ni(URI).unwrap();
        assert_eq!(hash.to_ni_uri(), URI);
        assert_eq!(hash.as_bytes()[0], 0xdf);
        assert_eq!(hash.as_bytes()[31], 0x69);
    }

    #[test]
    fn uppercase_hex_is_accepted_and_rendered_lowercase() {
        let upper = URI.replace("df7bb3c3", "DF7BB3C3");
        assert_eq!(EventHash::parse_ni(&upper).unwrap().to_ni_uri(), URI);
    }

    #[test]
    fn malformed_uris_are_rejected_with_the_reason() {
        assert_eq!(
            EventHash::parse_ni("ni:///sha-256;abcd?ver=CBV2.0"),
            Err(EventHashParseError::WrongLength(4))
        );
        assert_eq!(
            EventHash::parse_ni(&URI.replace("?ver=CBV2.0", "")),
            Err(EventHashParseError::NotAnEventHashUri)
        );
        assert_eq!(
            EventHash::parse_ni(&URI.replace("df", "zz")),
            Err(EventHashParseError::NotHex)
        );
    }

    #[test]
    fn equal_digests_compare_equal_and_different_ones_do_not() {
        let a = EventHash::from_bytes([7; 32]);
        let mut other = [7; 32];
        other[31] = 8;
        assert_eq!(a, EventHash::from_bytes([7; 32]));
        assert_ne!(a, EventHash::from_bytes(other));
    }
}
