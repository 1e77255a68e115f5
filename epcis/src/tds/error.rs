//! Errors of the Tag Data Standard codecs.

use thiserror::Error;

use crate::epc::EpcUriError;

/// Why an EPC memory bank could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// A character that is not a hexadecimal digit.
    #[error("hex input has {character:?} at position {position}, expected 0-9, a-f or A-F")]
    Hex {
        /// Character offset.
        position: usize,
        /// The offending character.
        character: char,
    },
    /// A 96-bit decoder was given other than 24 hex digits.
    #[error("a 96-bit EPC is 24 hex digits, found {found}")]
    HexLength {
        /// Digits found.
        found: usize,
    },
    /// No input.
    #[error("no EPC data: the input is empty")]
    Empty,
    /// The header byte names no scheme this crate decodes.
    #[error("unknown or unsupported EPC header 0x{header:02X}")]
    UnknownHeader {
        /// The first byte.
        header: u8,
    },
    /// The input is shorter than the scheme, or longer than the scheme padded to a 16-bit word.
    #[error("{scheme} needs {expected_bits} bits (padded to 16-bit words), found {found_bits}")]
    Length {
        /// The scheme named by the header, e.g. `sgtin-96`.
        scheme: &'static str,
        /// Bits the scheme uses.
        expected_bits: usize,
        /// Bits given.
        found_bits: usize,
    },
    /// The partition value is 7, which no partition table defines.
    #[error("{scheme} partition value {value} is not defined (0 to 6)")]
    Partition {
        /// The scheme.
        scheme: &'static str,
        /// The partition value read.
        value: u8,
    },
    /// A numeric field holds a value with more decimal digits than the partition allows.
    #[error(
        "{scheme} {field} value {value} has more than the {digits} digits its partition allows"
    )]
    FieldRange {
        /// The scheme.
        scheme: &'static str,
        /// The field, e.g. `company prefix`.
        field: &'static str,
        /// The value read.
        value: u128,
        /// Digits allowed.
        digits: u8,
    },
    /// A 7-bit character that is not in GS1 AI encodable character set 82.
    #[error("{scheme} {field} has 7-bit character 0x{code:02X}, which is not in character set 82")]
    Character {
        /// The scheme.
        scheme: &'static str,
        /// The field.
        field: &'static str,
        /// The 7-bit code.
        code: u8,
    },
    /// Non-zero bits after the last character of a 7-bit string (after its terminating zero
    /// character, or in the bits too few for another character).
    #[error("{scheme} {field} has non-zero bits after its last character")]
    AfterTerminator {
        /// The scheme.
        scheme: &'static str,
        /// The field.
        field: &'static str,
    },
    /// Reserved bits (SSCC-96, GSRN-96, GSRNP-96) that are not zero.
    #[error("{scheme} has non-zero reserved bits")]
    Reserved {
        /// The scheme.
        scheme: &'static str,
    },
    /// A numeric-string field (SGCN-96 serial) whose value does not start with the digit 1.
    #[error(
        "{scheme} {field} value {value} does not start with the digit 1 of numeric-string encoding"
    )]
    NumericString {
        /// The scheme.
        scheme: &'static str,
        /// The field.
        field: &'static str,
        /// The value read.
        value: u128,
    },
    /// The decoded values do not form a valid pure identity (e.g. an empty serial).
    #[error("decoded identity is invalid: {0}")]
    Identity(#[from] EpcUriError),
}

/// Why an EPC could not be encoded in a binary scheme.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The filter value is not 0 to 7.
    #[error("filter value must be 0 to 7, found {value}")]
    Filter {
        /// The value given.
        value: u32,
    },
    /// The binary scheme encodes another kind of EPC.
    #[error("scheme {scheme} cannot encode a {epc_scheme} EPC")]
    SchemeMismatch {
        /// The binary scheme.
        scheme: &'static str,
        /// The EPC scheme given.
        epc_scheme: &'static str,
    },
    /// A field that the binary scheme stores as an integer holds a non-digit.
    #[error(
        "{scheme} stores the {field} as an integer: {value:?} is not all digits (use the alphanumeric scheme)"
    )]
    NotNumeric {
        /// The binary scheme.
        scheme: &'static str,
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A numeric field with leading zeros, which an integer field cannot keep.
    #[error(
        "{scheme} cannot encode the {field} {value:?}: leading zeros are lost in an integer field (use the alphanumeric scheme)"
    )]
    LeadingZero {
        /// The binary scheme.
        scheme: &'static str,
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A number too large for its bit field.
    #[error("{scheme} {field} {value} does not fit in {bits} bits")]
    TooLarge {
        /// The binary scheme.
        scheme: &'static str,
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// Bits available.
        bits: u8,
    },
    /// A string longer than its 7-bit field holds.
    #[error("{scheme} {field} holds at most {max} characters, found {found}")]
    TooLong {
        /// The binary scheme.
        scheme: &'static str,
        /// The field.
        field: &'static str,
        /// Characters allowed.
        max: usize,
        /// Characters given.
        found: usize,
    },
}

/// Why a string is not a valid EPC tag URI (`urn:epc:tag:...`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TagUriError {
    /// Not starting with `urn:epc:tag:`.
    #[error("not an EPC tag URI: expected it to start with urn:epc:tag:")]
    NotATagUri,
    /// A binary scheme this crate does not know.
    #[error("unknown or unsupported EPC binary scheme {scheme:?}")]
    UnknownScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// The filter component is not a single digit 0 to 7.
    #[error("filter must be a single digit 0 to 7, found {found:?}")]
    Filter {
        /// The component as written.
        found: String,
    },
    /// A scheme or filter given besides a tag URI that names another.
    #[error("the {what} given ({given}) differs from the tag URI's ({in_uri})")]
    Conflict {
        /// `scheme` or `filter`.
        what: &'static str,
        /// The value given.
        given: String,
        /// The value in the URI.
        in_uri: String,
    },
    /// The identity part breaks a pure identity rule.
    #[error("invalid identity in tag URI: {0}")]
    Identity(#[from] EpcUriError),
    /// The identity cannot be encoded in the named scheme.
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
}
