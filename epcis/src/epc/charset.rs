//! Character sets of the GS1 General Specifications and the escaping rules of the EPC URI (GS1 Tag
//! Data Standard, section "EPC URI syntax") and of GS1 Digital Link.

/// Whether `c` belongs to the GS1 AI encodable character set 82 (GS1 General Specifications,
/// figure 7.11-1): `! " % & ' ( ) * + , - . / 0-9 : ; < = > ? A-Z _ a-z`.
pub(crate) fn is_cs82(c: u8) -> bool {
    matches!(c,
        b'!' | b'"' | b'%' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'-' | b'.' | b'/'
        | b'0'..=b'9' | b':' | b';' | b'<' | b'=' | b'>' | b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

/// Whether `c` belongs to the GS1 AI encodable character set 39 (`# - / 0-9 A-Z`), used by the
/// component/part reference of a CPI.
pub(crate) fn is_cs39(c: u8) -> bool {
    matches!(c, b'#' | b'-' | b'/' | b'0'..=b'9' | b'A'..=b'Z')
}

/// Characters that an EPC URI must write as `%xx` (TDS: `"`, `%`, `&`, `/`, `<`, `>`, `?`, and `#`
/// which only occurs in CPI references).
fn epc_uri_must_escape(c: u8) -> bool {
    matches!(c, b'"' | b'%' | b'&' | b'/' | b'<' | b'>' | b'?' | b'#')
}

/// Whether `c` is a character of set 82 that an EPC URI writes as itself (not as `%xx`).
pub(crate) fn is_plain_cs82(c: u8) -> bool {
    is_cs82(c) && !epc_uri_must_escape(c)
}

/// Whether `c` is written as itself both in an EPC URI and in a canonical GS1 Digital Link
/// URI, so that a component made only of such characters is copied from one to the other as is.
pub(crate) fn is_plain_in_both(c: u8) -> bool {
    is_plain_cs82(c) && !digital_link_must_escape(c)
}

/// Characters that a canonical GS1 Digital Link URI writes as `%xx`: the reserved characters of
/// GS1 Digital Link table 7-1 that occur in character set 82 or 39. The apostrophe, `;` and `=` stay
/// literal, as in the CBV 2.0 event-hash reference vectors.
fn digital_link_must_escape(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'"'
            | b'#'
            | b'%'
            | b'&'
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b'<'
            | b'>'
            | b'?'
    )
}

fn push_escaped(out: &mut String, c: u8) {
    out.push('%');
    out.push_str(&crate::hex::encode_upper(&[c]));
}

/// Writes raw characters (already checked to be ASCII) in EPC URI form.
pub(crate) fn escape_epc_uri(raw: &str) -> String {
    escape_with(raw, epc_uri_must_escape)
}

/// Writes raw characters (already checked to be ASCII) in canonical GS1 Digital Link form.
pub(crate) fn escape_digital_link(raw: &str) -> String {
    escape_with(raw, digital_link_must_escape)
}

/// Appends one raw character in GS1 Digital Link form (escaped when the Digital Link syntax
/// requires it), as [`escape_digital_link`] writes it.
pub(crate) fn push_digital_link_char(out: &mut String, c: u8) {
    if digital_link_must_escape(c) {
        push_escaped(out, c);
    } else {
        out.push(char::from(c));
    }
}

fn escape_with(raw: &str, must_escape: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for &c in raw.as_bytes() {
        if must_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(char::from(c));
        }
    }
    out
}

/// Why a `%xx`-escaped component could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnescapeError {
    /// `%` not followed by two hexadecimal digits, at this byte offset.
    BadEscape { position: usize },
    /// A byte outside printable ASCII (after unescaping), at this byte offset.
    NotAscii { position: usize },
}

/// Replaces every `%xx` by the byte it stands for. The result is printable ASCII; which characters
/// are allowed is for the caller to check.
pub(crate) fn unescape(escaped: &str) -> Result<String, UnescapeError> {
    let bytes = escaped.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let decoded = if c == b'%' {
            let high = bytes.get(i + 1).copied().and_then(crate::hex::digit_value);
            let low = bytes.get(i + 2).copied().and_then(crate::hex::digit_value);
            match (high, low) {
                (Some(h), Some(l)) => {
                    i += 3;
                    (h << 4) | l
                }
                _ => return Err(UnescapeError::BadEscape { position: i }),
            }
        } else {
            i += 1;
            c
        };
        if !(0x20..0x7F).contains(&decoded) {
            return Err(UnescapeError::NotAscii {
                position: i.saturating_sub(1),
            });
        }
        out.push(char::from(decoded));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_set_82_has_82_members() {
        assert_eq!((0u8..=0x7F).filter(|&c| is_cs82(c)).count(), 82);
    }

    #[test]
    fn character_set_39_has_39_members() {
        assert_eq!((0u8..=0x7F).filter(|&c| is_cs39(c)).count(), 39);
    }

    #[test]
    fn plain_characters_are_those_neither_syntax_escapes() {
        let plain: String = (0u8..=0x7F)
            .filter(|&c| is_plain_in_both(c))
            .map(char::from)
            .collect();
        assert_eq!(
            plain,
            "'-.0123456789;=ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
        );
        for c in 0u8..=0x7F {
            let raw = char::from(c).to_string();
            if is_plain_cs82(c) {
                assert_eq!(escape_epc_uri(&raw), raw, "{c}");
            }
            if is_plain_in_both(c) {
                assert_eq!(escape_digital_link(&raw), raw, "{c}");
            }
        }
    }

    #[test]
    fn epc_uri_escapes_only_the_tds_reserved_characters() {
        // TDS example: serial 6789/&%"!?() in urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()
        assert_eq!(escape_epc_uri("6789/&%\"!?()"), "6789%2F%26%25%22!%3F()");
    }

    #[test]
    fn digital_link_escapes_sub_delimiters_too() {
        // CBV 2.0 event-hash vector: .../21/6789%2F%26%25%22%21%3F%28%29
        assert_eq!(
            escape_digital_link("6789/&%\"!?()"),
            "6789%2F%26%25%22%21%3F%28%29"
        );
    }

    #[test]
    fn unescape_reads_either_hex_case() {
        assert_eq!(unescape("a%2fb%2Fc").as_deref(), Ok("a/b/c"));
    }

    #[test]
    fn a_truncated_escape_is_rejected() {
        assert_eq!(
            unescape("ab%2"),
            Err(UnescapeError::BadEscape { position: 2 })
        );
        assert_eq!(
            unescape("%zz"),
            Err(UnescapeError::BadEscape { position: 0 })
        );
    }

    #[test]
    fn an_escaped_control_character_is_rejected() {
        assert!(matches!(
            unescape("a%0Ab"),
            Err(UnescapeError::NotAscii { .. })
        ));
    }
}
