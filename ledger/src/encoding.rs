//! Small text encodings shared by the wire formats: standard base64 (RFC 4648 §4, padded, canonical)
//! and lowercase hexadecimal.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Standard, padded base64.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded base64; rejects missing padding, other alphabets and non-zero trailing
/// bits, so that every byte string has exactly one accepted encoding.
pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    STANDARD.decode(text).map_err(|_| Base64Error)
}

/// Decodes standard, padded base64 of exactly `N` bytes.
pub(crate) fn base64_decode_array<const N: usize>(text: &str) -> Result<[u8; N], Base64Error> {
    base64_decode(text)?.try_into().map_err(|_| Base64Error)
}

/// The text is not canonical standard base64 (of the expected length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Base64Error;

/// Lowercase hexadecimal (the one encoder: `epcis::hex`).
pub(crate) use epcis::hex::{decode_array as hex_decode_array, encode_lower as hex_encode};

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4648 §10 test vectors.
    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn non_canonical_base64_is_rejected() {
        assert!(base64_decode("Zg").is_err(), "missing padding");
        assert!(base64_decode("Zh==").is_err(), "non-zero trailing bits");
        assert!(base64_decode("Zm9v_w==").is_err(), "URL-safe alphabet");
        assert!(base64_decode("Zm9v\n").is_err(), "whitespace");
    }

    #[test]
    fn hex_round_trips_in_either_case() {
        assert_eq!(hex_encode(&[0xc7, 0x4f, 0x20, 0xa3]), "c74f20a3");
        assert_eq!(
            hex_decode_array::<4>("C74F20a3"),
            Some([0xc7, 0x4f, 0x20, 0xa3])
        );
        assert_eq!(hex_decode_array::<4>("c74f20a"), None);
        assert_eq!(hex_decode_array::<4>("c74f20ag"), None);
    }
}

/// Reads the fields of a binary record front to back, naming the field that is cut short.
pub(crate) struct ByteReader<'a> {
    rest: &'a [u8],
}

/// A binary record ends in the middle of the named field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated(pub(crate) &'static str);

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], Truncated> {
        if self.rest.len() < len {
            return Err(Truncated(field));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], Truncated> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, Truncated> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, Truncated> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A one-byte length followed by that many bytes of UTF-8.
    pub(crate) fn short_str(
        &mut self,
        field: &'static str,
    ) -> Result<Result<&'a str, std::str::Utf8Error>, Truncated> {
        let len = self.u8(field)?;
        let bytes = self.take(usize::from(len), field)?;
        Ok(std::str::from_utf8(bytes))
    }

    /// How many bytes are left unread.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }
}
