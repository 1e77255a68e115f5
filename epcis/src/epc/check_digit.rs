//! The GS1 mod-10 check digit (GS1 General Specifications, section 7.9).

use thiserror::Error;

/// Why a check digit could not be computed or verified.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckDigitError {
    /// The input was empty.
    #[error("no digits given: a check digit needs at least one digit")]
    Empty,
    /// The input held something other than the digits 0-9.
    #[error("{character:?} at position {position} is not a digit 0-9")]
    NotADigit {
        /// The offending character.
        character: char,
        /// Its character offset in the input.
        position: usize,
    },
}

/// Computes the GS1 check digit of `digits` (the key without its check digit).
///
/// Digits are weighted 3, 1, 3, 1, ... from the right; the check digit brings the weighted sum up
/// to a multiple of ten. Works for every length (GTIN-8/12/13/14, GLN, SSCC, GSRN, GDTI, ...).
///
/// ```
/// // GTIN-14 04012345111118: body 0401234511111, check digit 8.
/// assert_eq!(epcis::epc::gs1_check_digit("0401234511111"), Ok(8));
/// ```
pub fn gs1_check_digit(digits: &str) -> Result<u8, CheckDigitError> {
    if digits.is_empty() {
        return Err(CheckDigitError::Empty);
    }
    let mut sum: u32 = 0;
    for (from_right, (position, c)) in digits.char_indices().rev().enumerate() {
        let digit = c.to_digit(10).ok_or(CheckDigitError::NotADigit {
            character: c,
            position,
        })?;
        let weight = if from_right % 2 == 0 { 3 } else { 1 };
        sum += digit * weight;
    }
    // `(10 - sum % 10) % 10` is in 0..=9, so it fits a u8.
    Ok(((10 - sum % 10) % 10) as u8)
}

/// Whether the last digit of `key` is the GS1 check digit of the digits before it.
///
/// Returns `false` for anything shorter than two characters or holding a non-digit.
pub fn has_valid_check_digit(key: &str) -> bool {
    let Some(last) = key.chars().last() else {
        return false;
    };
    let body = &key[..key.len() - last.len_utf8()];
    match (gs1_check_digit(body), last.to_digit(10)) {
        (Ok(expected), Some(found)) => u32::from(expected) == found,
        _ => false,
    }
}

/// Appends the check digit to a body already known to be ASCII digits.
pub(crate) fn with_check_digit(body: &str) -> String {
    let mut key = String::with_capacity(body.len() + 1);
    key.push_str(body);
    // The callers pass digits they have checked; an empty body cannot occur (company prefixes
    // have at least six digits), so the fallback is never taken.
    let check = gs1_check_digit(body).unwrap_or(0);
    key.push(char::from(b'0' + check));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gtin_of_the_tds_sgtin_example_has_check_digit_4() {
        // Event-hash vectors: urn:epc:id:sgtin:0614141.107346.2017 is GTIN 10614141073464.
        assert_eq!(gs1_check_digit("1061414107346"), Ok(4));
        assert!(has_valid_check_digit("10614141073464"));
    }

    #[test]
    fn sscc_check_digits_match_the_event_hash_vectors() {
        // urn:epc:id:sscc:4012345.0111111111 -> https://id.gs1.org/00/040123451111111110
        assert_eq!(gs1_check_digit("04012345111111111"), Ok(0));
        assert!(has_valid_check_digit("340123451111111111"));
    }

    #[test]
    fn gln_check_digit_matches_the_gs1_example() {
        // GS1 General Specifications example GLN 0614141000005 (urn:epc:id:pgln:0614141.00000).
        assert!(has_valid_check_digit("0614141000005"));
        assert!(!has_valid_check_digit("0614141000006"));
    }

    #[test]
    fn a_letter_is_reported_with_its_position() {
        assert_eq!(
            gs1_check_digit("12a4"),
            Err(CheckDigitError::NotADigit {
                character: 'a',
                position: 2
            })
        );
    }

    #[test]
    fn an_empty_body_has_no_check_digit() {
        assert_eq!(gs1_check_digit(""), Err(CheckDigitError::Empty));
        assert!(!has_valid_check_digit("7"));
        assert!(!has_valid_check_digit(""));
    }
}
