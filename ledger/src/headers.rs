//! The HTTP headers that carry a device's signed batch statement with a capture, written by the
//! bridge and `tagtrail capture`, read by ingest (one encoder and one decoder for all three):
//!
//! ```text
//! TagTrail-Batch-Statement: <standard padded base64 of the encoded batch statement>
//! TagTrail-Batch-Signature: ed25519:<standard padded base64 of the 64-byte signature>
//! ```
//!
//! Surrounding white space is ignored, as HTTP allows; anything else that is not exactly one of
//! these forms is refused.

use crate::batch::{BatchStatement, DeviceSignature, StatementError};
use crate::encoding::{base64_decode, base64_decode_array, base64_encode};

/// The header carrying the device's encoded batch statement (base64).
pub const BATCH_STATEMENT_HEADER: &str = "TagTrail-Batch-Statement";
/// The header carrying the device's signature over the statement (`ed25519:<base64>`).
pub const BATCH_SIGNATURE_HEADER: &str = "TagTrail-Batch-Signature";

/// The `TagTrail-Batch-Statement` value of `statement`.
pub fn statement_header_value(statement: &BatchStatement) -> String {
    base64_encode(&statement.encode())
}

/// The `TagTrail-Batch-Signature` value of `signature`.
pub fn signature_header_value(signature: &DeviceSignature) -> String {
    format!(
        "{}:{}",
        signature.algorithm(),
        base64_encode(&signature.to_bytes())
    )
}

/// Reads a `TagTrail-Batch-Statement` value.
pub fn parse_statement_header(value: &str) -> Result<BatchStatement, HeaderError> {
    let bytes = base64_decode(value.trim()).map_err(|_| HeaderError::StatementEncoding)?;
    BatchStatement::decode(&bytes).map_err(HeaderError::Statement)
}

/// Reads a `TagTrail-Batch-Signature` value.
pub fn parse_signature_header(value: &str) -> Result<DeviceSignature, HeaderError> {
    let (algorithm, encoded) = value
        .trim()
        .split_once(':')
        .ok_or(HeaderError::SignatureForm)?;
    match algorithm {
        "ed25519" => base64_decode_array::<64>(encoded)
            .map(DeviceSignature::Ed25519)
            .map_err(|_| HeaderError::SignatureEncoding),
        _ => Err(HeaderError::SignatureAlgorithm),
    }
}

/// Why a header value is not a batch statement or a device signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the batch statement must be standard padded base64")]
    StatementEncoding,
    #[error("not a device batch statement: {0}")]
    Statement(StatementError),
    #[error("write the signature as ed25519:<base64>")]
    SignatureForm,
    #[error("an Ed25519 signature is standard padded base64 of 64 bytes")]
    SignatureEncoding,
    #[error("unknown signature algorithm: only ed25519 is supported")]
    SignatureAlgorithm,
}

impl HeaderError {
    /// The header the problem is in.
    pub fn header(&self) -> &'static str {
        match self {
            Self::StatementEncoding | Self::Statement(_) => BATCH_STATEMENT_HEADER,
            Self::SignatureForm | Self::SignatureEncoding | Self::SignatureAlgorithm => {
                BATCH_SIGNATURE_HEADER
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::batch::{DeviceSigningKey, EventBatch};
    use crate::{DeviceId, UnixMillis};

    fn statement() -> BatchStatement {
        EventBatch::new(&[epcis::EventHash::from_bytes([1; 32])])
            .unwrap()
            .statement(
                DeviceId::parse("d1").unwrap(),
                UnixMillis::from_millis(5),
                1,
            )
    }

    #[test]
    fn header_values_have_their_golden_form_and_round_trip() {
        let statement = statement();
        let signature = statement.sign(&DeviceSigningKey::from_seed(&[7; 32]));
        let statement_value = statement_header_value(&statement);
        assert_eq!(statement_value, base64_encode(&statement.encode()));
        let signature_value = signature_header_value(&signature);
        assert!(signature_value.starts_with("ed25519:"));
        assert_eq!(signature_value.len(), "ed25519:".len() + 88);
        assert_eq!(parse_statement_header(&statement_value).unwrap(), statement);
        assert_eq!(
            parse_statement_header(&format!(" {statement_value}\t")).unwrap(),
            statement
        );
        assert_eq!(parse_signature_header(&signature_value).unwrap(), signature);
        assert_eq!(
            parse_signature_header(&format!("ed25519:{}", base64_encode(&[9; 64]))).unwrap(),
            DeviceSignature::Ed25519([9; 64])
        );
    }

    #[test]
    fn each_malformed_value_is_refused_with_its_own_reason() {
        assert_eq!(
            parse_statement_header("not base64!"),
            Err(HeaderError::StatementEncoding)
        );
        assert!(matches!(
            parse_statement_header("AAAA"),
            Err(HeaderError::Statement(_))
        ));
        assert_eq!(
            parse_signature_header(&base64_encode(&[9; 64])),
            Err(HeaderError::SignatureForm)
        );
        assert_eq!(
            parse_signature_header("ed25519:AAAA"),
            Err(HeaderError::SignatureEncoding)
        );
        assert_eq!(
            parse_signature_header(&format!("rsa:{}", base64_encode(&[9; 64]))),
            Err(HeaderError::SignatureAlgorithm)
        );
        assert_eq!(
            HeaderError::SignatureAlgorithm.header(),
            BATCH_SIGNATURE_HEADER
        );
        assert_eq!(
            HeaderError::StatementEncoding.header(),
            BATCH_STATEMENT_HEADER
        );
    }
}
