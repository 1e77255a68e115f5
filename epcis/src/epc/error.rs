//! Errors from parsing EPC URIs.

use thiserror::Error;

/// Why a string is not a valid EPC pure identity, class or pattern URI.
///
/// `component` names the part of the URI that broke the rule, in the words of the Tag Data
/// Standard: "company prefix", "item reference", "serial", "extension", ...
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EpcUriError {
    /// The string does not start with `urn:epc:id:`, `urn:epc:class:` or `urn:epc:idpat:`.
    #[error(
        "not an EPC URI: expected it to start with urn:epc:id:, urn:epc:class: or urn:epc:idpat:"
    )]
    NotAnEpcUri,
    /// The scheme after the prefix is not one this crate knows.
    #[error("unknown EPC scheme {scheme:?}")]
    UnknownScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// The URI body has the wrong number of dot-separated components.
    #[error("{scheme} URI must have {expected} dot-separated components, found {found}")]
    ComponentCount {
        /// The EPC scheme, e.g. `sgtin`.
        scheme: &'static str,
        /// How many components the scheme has.
        expected: usize,
        /// How many the input had.
        found: usize,
    },
    /// The GS1 company prefix is not 6 to 12 digits long.
    #[error("company prefix must be 6 to 12 digits, found {found} characters")]
    CompanyPrefixLength {
        /// The length found.
        found: usize,
    },
    /// A numeric component holds something other than digits.
    #[error("{component} must be digits only, found {character:?}")]
    NonNumeric {
        /// The component.
        component: &'static str,
        /// The first offending character.
        character: char,
    },
    /// A fixed-length numeric component has the wrong number of digits for the company prefix.
    #[error("{component} must have {expected} digits with this company prefix, found {found}")]
    DigitCount {
        /// The component.
        component: &'static str,
        /// The number of digits it must have.
        expected: usize,
        /// The number it had.
        found: usize,
    },
    /// A component is empty where the standard requires at least one character.
    #[error("{component} must not be empty")]
    Empty {
        /// The component.
        component: &'static str,
    },
    /// A component is longer than the standard allows.
    #[error("{component} must be at most {max} characters, found {found}")]
    TooLong {
        /// The component.
        component: &'static str,
        /// The maximum length (after unescaping).
        max: usize,
        /// The length found (after unescaping).
        found: usize,
    },
    /// A character outside the allowed character set (GS1 AI encodable character set 82, or set
    /// 39 for a CPI reference), or one that must be `%`-escaped but was not.
    #[error("{component} contains {character:?}, which is not allowed there")]
    BadCharacter {
        /// The component.
        component: &'static str,
        /// The offending character (after unescaping).
        character: char,
    },
    /// A `%` not followed by two hexadecimal digits.
    #[error("{component} has a malformed %-escape at byte {position}")]
    BadEscape {
        /// The component.
        component: &'static str,
        /// Byte offset of the `%` within the component.
        position: usize,
    },
    /// A number written with leading zeros where the standard forbids them.
    #[error("{component} must not have leading zeros")]
    LeadingZero {
        /// The component.
        component: &'static str,
    },
    /// A number larger than its field allows.
    #[error("{component} must be at most {max}")]
    OutOfRange {
        /// The component.
        component: &'static str,
        /// The largest value allowed.
        max: u64,
    },
    /// A pattern URI (`urn:epc:idpat:`) that is not a whole class (the last component must be `*`
    /// and all others given).
    #[error(
        "only class-level {scheme} patterns (all components given, the last one '*') are supported"
    )]
    UnsupportedPattern {
        /// The EPC scheme.
        scheme: &'static str,
    },
}
