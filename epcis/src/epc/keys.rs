//! GS1 keys as element strings (GTIN-14, GLN-13, SSCC-18) and the GS1 company prefix.

use std::fmt;

use thiserror::Error;

use super::check_digit::has_valid_check_digit;
use super::error::EpcUriError;

/// A GS1 company prefix: 6 to 12 digits.
///
/// Its length decides where an EPC URI splits the key into company prefix and reference; GS1
/// element strings and Digital Link URIs do not carry it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompanyPrefix(String);

impl CompanyPrefix {
    /// Parses 6 to 12 digits.
    pub fn parse(digits: &str) -> Result<Self, EpcUriError> {
        Self::check(digits)?;
        Ok(Self(digits.to_owned()))
    }

    /// [`CompanyPrefix::parse`] without keeping the digits.
    pub(crate) fn check(digits: &str) -> Result<(), EpcUriError> {
        if !(6..=12).contains(&digits.len()) {
            return Err(EpcUriError::CompanyPrefixLength {
                found: digits.chars().count(),
            });
        }
        if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return Err(EpcUriError::NonNumeric {
                component: "company prefix",
                character: c,
            });
        }
        Ok(())
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number of digits (6 to 12).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a company prefix has at least six digits.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for CompanyPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a string is not a valid fixed-length GS1 key element string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// Wrong number of digits.
    #[error("{key} must be {expected} digits, found {found} characters")]
    Length {
        /// The key, e.g. `GTIN`.
        key: &'static str,
        /// Digits required.
        expected: &'static str,
        /// Characters found.
        found: usize,
    },
    /// A non-digit character.
    #[error("{key} must be digits only, found {character:?}")]
    NonNumeric {
        /// The key.
        key: &'static str,
        /// The offending character.
        character: char,
    },
    /// The last digit is not the GS1 check digit of the others.
    #[error("{key} {value} has a wrong check digit")]
    CheckDigit {
        /// The key.
        key: &'static str,
        /// The value as given.
        value: String,
    },
}

fn check_digits(
    key: &'static str,
    value: &str,
    lengths: &[usize],
    expected: &'static str,
) -> Result<(), KeyError> {
    if let Some(c) = value.chars().find(|c| !c.is_ascii_digit()) {
        return Err(KeyError::NonNumeric { key, character: c });
    }
    if !lengths.contains(&value.len()) {
        return Err(KeyError::Length {
            key,
            expected,
            found: value.len(),
        });
    }
    if !has_valid_check_digit(value) {
        return Err(KeyError::CheckDigit {
            key,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// A Global Trade Item Number, held as GTIN-14 (shorter GTINs are left-padded with zeros).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin(String);

impl Gtin {
    /// Parses a GTIN-8, -12, -13 or -14 with a valid check digit, padding it to 14 digits.
    pub fn parse(digits: &str) -> Result<Self, KeyError> {
        check_digits("GTIN", digits, &[8, 12, 13, 14], "8, 12, 13 or 14")?;
        Ok(Self(format!("{digits:0>14}")))
    }

    /// Wraps 14 digits already known to end in a valid check digit.
    pub(crate) fn from_valid(digits: String) -> Self {
        Self(digits)
    }

    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The indicator digit (or the leading zero of a padded GTIN-13/12/8).
    pub fn indicator(&self) -> u8 {
        self.0.as_bytes()[0] - b'0'
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Global Location Number: 13 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gln(String);

impl Gln {
    /// Parses 13 digits with a valid check digit.
    pub fn parse(digits: &str) -> Result<Self, KeyError> {
        check_digits("GLN", digits, &[13], "13")?;
        Ok(Self(digits.to_owned()))
    }

    pub(crate) fn from_valid(digits: String) -> Self {
        Self(digits)
    }

    /// The 13 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Gln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Serial Shipping Container Code: 18 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SsccKey(String);

impl SsccKey {
    /// Parses 18 digits with a valid check digit.
    pub fn parse(digits: &str) -> Result<Self, KeyError> {
        check_digits("SSCC", digits, &[18], "18")?;
        Ok(Self(digits.to_owned()))
    }

    pub(crate) fn from_valid(digits: String) -> Self {
        Self(digits)
    }

    /// The 18 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SsccKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gtin_13_is_padded_to_14_digits() {
        // GS1 example GTIN-13 9780345418913 (Digital Link 01/09780345418913 in the hash vectors).
        assert_eq!(
            Gtin::parse("9780345418913")
                .map(|g| g.to_string())
                .as_deref(),
            Ok("09780345418913")
        );
    }

    #[test]
    fn a_gtin_with_a_wrong_check_digit_is_rejected() {
        assert!(matches!(
            Gtin::parse("09780345418914"),
            Err(KeyError::CheckDigit { .. })
        ));
    }

    #[test]
    fn a_gtin_of_ten_digits_is_rejected() {
        assert!(matches!(
            Gtin::parse("0123456789"),
            Err(KeyError::Length { found: 10, .. })
        ));
    }

    #[test]
    fn company_prefix_length_is_six_to_twelve() {
        assert!(CompanyPrefix::parse("12345").is_err());
        assert!(CompanyPrefix::parse("123456").is_ok());
        assert!(CompanyPrefix::parse("123456789012").is_ok());
        assert!(matches!(
            CompanyPrefix::parse("1234567890123"),
            Err(EpcUriError::CompanyPrefixLength { found: 13 })
        ));
        assert!(matches!(
            CompanyPrefix::parse("12345x"),
            Err(EpcUriError::NonNumeric { .. })
        ));
    }
}
