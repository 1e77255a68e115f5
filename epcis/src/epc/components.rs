//! Reading the components of an EPC URI body; shared by every scheme.

use super::charset::{escape_epc_uri, is_cs39, is_cs82};
use super::check_digit::with_check_digit;
use super::error::EpcUriError;
use super::keys::CompanyPrefix;

/// Splits `body` into exactly `N` dot-separated components, without allocating. The last
/// component keeps any further dots (dots are legal in serials of character set 82).
pub(crate) fn split<'a, const N: usize>(
    scheme: &'static str,
    body: &'a str,
) -> Result<[&'a str; N], EpcUriError> {
    let mut parts = [""; N];
    let mut rest = body;
    let mut found = 0;
    // A byte scan: components are short, and this runs for every identifier of every event.
    while found + 1 < N {
        let Some(dot) = rest.bytes().position(|b| b == b'.') else {
            break;
        };
        parts[found] = &rest[..dot];
        rest = &rest[dot + 1..];
        found += 1;
    }
    found += 1;
    if found != N {
        return Err(EpcUriError::ComponentCount {
            scheme,
            expected: N,
            found,
        });
    }
    parts[N - 1] = rest;
    Ok(parts)
}

/// Checks that `value` is exactly `expected` ASCII digits.
pub(crate) fn fixed_digits(
    component: &'static str,
    value: &str,
    expected: usize,
) -> Result<String, EpcUriError> {
    check_fixed_digits(component, value, expected)?;
    Ok(value.to_owned())
}

/// [`fixed_digits`] without keeping the digits.
pub(crate) fn check_fixed_digits(
    component: &'static str,
    value: &str,
    expected: usize,
) -> Result<(), EpcUriError> {
    if let Some(c) = value.chars().find(|c| !c.is_ascii_digit()) {
        return Err(EpcUriError::NonNumeric {
            component,
            character: c,
        });
    }
    if value.len() != expected {
        return Err(EpcUriError::DigitCount {
            component,
            expected,
            found: value.len(),
        });
    }
    Ok(())
}

/// Checks that `value` is 1 to `max` ASCII digits (leading zeros are significant).
pub(crate) fn padded_digits(
    component: &'static str,
    value: &str,
    max: usize,
) -> Result<String, EpcUriError> {
    if value.is_empty() {
        return Err(EpcUriError::Empty { component });
    }
    if let Some(c) = value.chars().find(|c| !c.is_ascii_digit()) {
        return Err(EpcUriError::NonNumeric {
            component,
            character: c,
        });
    }
    if value.len() > max {
        return Err(EpcUriError::TooLong {
            component,
            max,
            found: value.len(),
        });
    }
    Ok(value.to_owned())
}

/// Reads a decimal number written without leading zeros, at most `max`.
pub(crate) fn decimal(component: &'static str, value: &str, max: u64) -> Result<u64, EpcUriError> {
    if value.is_empty() {
        return Err(EpcUriError::Empty { component });
    }
    if let Some(c) = value.chars().find(|c| !c.is_ascii_digit()) {
        return Err(EpcUriError::NonNumeric {
            component,
            character: c,
        });
    }
    if value.len() > 1 && value.starts_with('0') {
        return Err(EpcUriError::LeadingZero { component });
    }
    // At most 20 digits fit a u64; anything longer is out of range anyway.
    match value.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(EpcUriError::OutOfRange { component, max }),
    }
}

/// The character set of a `%`-escapable component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    /// GS1 AI encodable character set 82.
    Cs82,
    /// GS1 AI encodable character set 39.
    Cs39,
}

impl Charset {
    fn allows(self, c: u8) -> bool {
        match self {
            Self::Cs82 => is_cs82(c),
            Self::Cs39 => is_cs39(c),
        }
    }
}

/// Reads a component written in EPC URI form: characters of `charset`, with `"`, `%`, `&`, `/`,
/// `<`, `>`, `?` and `#` written as `%xx` (either hex case). Returns the raw characters, 1 to `max`
/// of them.
pub(crate) fn escaped_text(
    component: &'static str,
    escaped: &str,
    charset: Charset,
    max: usize,
) -> Result<String, EpcUriError> {
    let raw = unescape_component(component, escaped, charset)?;
    if raw.is_empty() {
        return Err(EpcUriError::Empty { component });
    }
    if raw.len() > max {
        return Err(EpcUriError::TooLong {
            component,
            max,
            found: raw.len(),
        });
    }
    Ok(raw)
}

/// Checks raw characters (not escaped) against `charset` and a length of 1 to `max`.
pub(crate) fn raw_text(
    component: &'static str,
    raw: &str,
    charset: Charset,
    max: usize,
) -> Result<String, EpcUriError> {
    if let Some(c) = raw
        .chars()
        .find(|&c| !c.is_ascii() || !charset.allows(c as u8))
    {
        return Err(EpcUriError::BadCharacter {
            component,
            character: c,
        });
    }
    if raw.is_empty() {
        return Err(EpcUriError::Empty { component });
    }
    if raw.len() > max {
        return Err(EpcUriError::TooLong {
            component,
            max,
            found: raw.len(),
        });
    }
    Ok(raw.to_owned())
}

/// Unescapes and checks a component without a length rule.
pub(crate) fn unescape_component(
    component: &'static str,
    escaped: &str,
    charset: Charset,
) -> Result<String, EpcUriError> {
    let mut raw = String::with_capacity(escaped.len());
    decode_component(component, escaped, charset, |c| raw.push(char::from(c)))?;
    Ok(raw)
}

/// [`escaped_text`] without keeping the raw characters: the check of the validator's fast path.
pub(crate) fn check_escaped_text(
    component: &'static str,
    escaped: &str,
    charset: Charset,
    max: usize,
) -> Result<(), EpcUriError> {
    let mut length = 0;
    decode_component(component, escaped, charset, |_| length += 1)?;
    if length == 0 {
        return Err(EpcUriError::Empty { component });
    }
    if length > max {
        return Err(EpcUriError::TooLong {
            component,
            max,
            found: length,
        });
    }
    Ok(())
}

/// Decodes an escaped component, handing each raw character (always ASCII of `charset`) to
/// `each`, in order.
pub(crate) fn decode_component(
    component: &'static str,
    escaped: &str,
    charset: Charset,
    mut each: impl FnMut(u8),
) -> Result<(), EpcUriError> {
    let bytes = escaped.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let pair = bytes.get(i + 1..i + 3);
            let value = pair.and_then(|p| {
                let text = std::str::from_utf8(p).ok()?;
                u8::from_str_radix(text, 16).ok()
            });
            let Some(decoded) = value else {
                return Err(EpcUriError::BadEscape {
                    component,
                    position: i,
                });
            };
            if !charset.allows(decoded) {
                return Err(EpcUriError::BadCharacter {
                    component,
                    character: char::from(decoded),
                });
            }
            each(decoded);
            i += 3;
        } else {
            let must_escape = matches!(c, b'"' | b'&' | b'/' | b'<' | b'>' | b'?' | b'#');
            if !c.is_ascii() {
                let character = escaped[i..].chars().next().unwrap_or('\u{FFFD}');
                return Err(EpcUriError::BadCharacter {
                    component,
                    character,
                });
            }
            if must_escape || !charset.allows(c) {
                return Err(EpcUriError::BadCharacter {
                    component,
                    character: char::from(c),
                });
            }
            each(c);
            i += 1;
        }
    }
    Ok(())
}

/// A GS1 company prefix followed by the digits or characters that complete a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Prefixed {
    pub(crate) company_prefix: CompanyPrefix,
    /// The reference as raw characters (digits for numeric keys).
    pub(crate) reference: String,
}

impl Prefixed {
    /// A company prefix and a numeric reference that together have `total` digits.
    pub(crate) fn fixed(
        company_prefix: &str,
        reference: &str,
        reference_name: &'static str,
        total: usize,
    ) -> Result<Self, EpcUriError> {
        let company_prefix = CompanyPrefix::parse(company_prefix)?;
        let expected = total - company_prefix.len();
        let reference = fixed_digits(reference_name, reference, expected)?;
        Ok(Self {
            company_prefix,
            reference,
        })
    }

    /// A company prefix and an escaped text reference of at most `total` characters together.
    pub(crate) fn text(
        company_prefix: &str,
        reference: &str,
        reference_name: &'static str,
        charset: Charset,
        total: usize,
    ) -> Result<Self, EpcUriError> {
        let company_prefix = CompanyPrefix::parse(company_prefix)?;
        let max = total - company_prefix.len();
        let reference = escaped_text(reference_name, reference, charset, max)?;
        Ok(Self {
            company_prefix,
            reference,
        })
    }

    /// The company prefix and reference as one string of raw characters.
    pub(crate) fn joined(&self) -> String {
        let mut s = String::with_capacity(self.company_prefix.len() + self.reference.len());
        s.push_str(self.company_prefix.as_str());
        s.push_str(&self.reference);
        s
    }

    /// A key whose first reference digit (indicator or extension digit) moves in front of the
    /// company prefix, completed by its check digit: GTIN-14 from SGTIN, SSCC-18 from SSCC.
    pub(crate) fn leading_digit_key(&self) -> String {
        let (lead, rest) = self.reference.split_at(1.min(self.reference.len()));
        let mut body = String::with_capacity(self.company_prefix.len() + self.reference.len());
        body.push_str(lead);
        body.push_str(self.company_prefix.as_str());
        body.push_str(rest);
        with_check_digit(&body)
    }

    /// Company prefix and reference, completed by their check digit: GLN, GSRN, GDTI, ...
    pub(crate) fn checked_key(&self) -> String {
        with_check_digit(&self.joined())
    }

    /// `company prefix "." reference` in EPC URI form.
    pub(crate) fn uri_part(&self) -> String {
        format!(
            "{}.{}",
            self.company_prefix,
            escape_epc_uri(&self.reference)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_slash_in_a_serial_is_rejected() {
        assert_eq!(
            escaped_text("serial", "a/b", Charset::Cs82, 20),
            Err(EpcUriError::BadCharacter {
                component: "serial",
                character: '/'
            })
        );
    }

    #[test]
    fn an_escaped_space_is_not_in_character_set_82() {
        assert_eq!(
            escaped_text("serial", "a%20b", Charset::Cs82, 20),
            Err(EpcUriError::BadCharacter {
                component: "serial",
                character: ' '
            })
        );
    }

    #[test]
    fn length_limits_count_unescaped_characters() {
        // 20 characters, 3 of them escaped.
        let serial = "%2F%2F%2F12345678901234567";
        assert_eq!(
            escaped_text("serial", serial, Charset::Cs82, 20).map(|s| s.len()),
            Ok(20)
        );
        assert!(matches!(
            escaped_text("serial", &format!("{serial}8"), Charset::Cs82, 20),
            Err(EpcUriError::TooLong {
                max: 20,
                found: 21,
                ..
            })
        ));
    }

    #[test]
    fn character_set_39_refuses_lower_case() {
        assert!(matches!(
            escaped_text("component/part reference", "ab", Charset::Cs39, 24),
            Err(EpcUriError::BadCharacter { character: 'a', .. })
        ));
    }

    #[test]
    fn decimals_refuse_leading_zeros_and_overflow() {
        assert_eq!(decimal("serial", "0", 9), Ok(0));
        assert_eq!(
            decimal("serial", "01", 9),
            Err(EpcUriError::LeadingZero {
                component: "serial"
            })
        );
        assert_eq!(
            decimal("serial", "10", 9),
            Err(EpcUriError::OutOfRange {
                component: "serial",
                max: 9
            })
        );
        assert!(decimal("serial", "999999999999999999999999", u64::MAX).is_err());
    }
}
