//! Normalisation of GS1 identifiers in pre-hash values (CBV 2.0 event hash rules 17 and 18).
//!
//! * An EPC URI (`urn:epc:id:…`), EPC class URI (`urn:epc:class:…`) or EPC pattern URI
//!   (`urn:epc:idpat:…`) becomes its canonical GS1 Digital Link URI on `https://id.gs1.org`
//!   (conversion by [`crate::digital_link::write_digital_link`]).
//! * A GS1 Digital Link URI becomes a *constrained* canonical one: the domain is replaced by
//!   `https://id.gs1.org`, the query string is dropped, short key names (`/gtin/`) become
//!   numeric AIs (`/01/`), GTINs are padded to 14 digits, a CPV (`/22/`) is dropped, and a lot
//!   is dropped when a serial is present. The result must then have one of the constrained
//!   forms the reference implementation accepts (for example `01/<14 digits>/21/<serial>`);
//!   otherwise the value is kept as written, as the reference does.

use std::borrow::Cow;

use crate::digital_link::write_digital_link;

/// The canonical Digital Link host, with scheme.
const CANONICAL_HOST: &str = "https://id.gs1.org";

/// The form of an identifier the event hash compares: the canonical (constrained) Digital Link
/// of an EPC URI, EPC class or pattern URI or a GS1 Digital Link, and any other text as written.
/// Two spellings of one GS1 identifier (an EPC URI and its Digital Link, a Digital Link on another
/// domain or with short key names) give the same text.
pub fn canonical_identifier(text: &str) -> String {
    let mut out = String::new();
    if write_normalised_identifier(&mut out, text) {
        out
    } else {
        text.to_owned()
    }
}

/// Appends the normalised form of `text` and returns `true` if `text` is a convertible EPC URI
/// or a GS1 Digital Link URI; returns `false` (and appends nothing) otherwise.
pub(crate) fn write_normalised_identifier(out: &mut String, text: &str) -> bool {
    if text.starts_with("urn:epc:") {
        return write_digital_link(out, text).is_ok();
    }
    if (text.starts_with("http:") || text.starts_with("https:"))
        && let Some(link) = constrain_digital_link(text)
    {
        out.push_str(&link);
        return true;
    }
    false
}

/// Whether a path segment is a primary key (numeric AI or short name) whose presence marks a
/// URI as a GS1 Digital Link.
fn is_detected_key(segment: &str) -> bool {
    matches!(
        segment,
        "01" | "gtin"
            | "8006"
            | "itip"
            | "8010"
            | "cpid"
            | "414"
            | "gln"
            | "417"
            | "party"
            | "8017"
            | "gsrnp"
            | "8018"
            | "gsrn"
            | "255"
            | "gcn"
            | "00"
            | "sscc"
            | "253"
            | "gdti"
            | "401"
            | "ginc"
            | "402"
            | "gsin"
            | "8003"
            | "grai"
            | "8004"
            | "giai"
    )
}

/// Short names and their numeric AIs, in the order the reference replaces them.
const SHORT_NAMES: [(&str, &str); 17] = [
    ("/gtin/", "/01/"),
    ("/itip/", "/8006/"),
    ("/cpid/", "/8010/"),
    ("/gln/", "/414/"),
    ("/party/", "/417/"),
    ("/gsrnp/", "/8017/"),
    ("/gsrn/", "/8018/"),
    ("/gcn/", "/255/"),
    ("/sscc/", "/00/"),
    ("/gdti/", "/253/"),
    ("/ginc/", "/401/"),
    ("/gsin/", "/402/"),
    ("/grai/", "/8003/"),
    ("/giai/", "/8004/"),
    ("/cpv/", "/22/"),
    ("/lot/", "/10/"),
    ("/ser/", "/21/"),
];

/// Primary-key AIs, in the order the reference searches for them when re-rooting a URI on the
/// canonical host.
const PRIMARY_KEYS: [&str; 14] = [
    "/00/", "/01/", "/253/", "/255/", "/401/", "/402/", "/414/", "/417/", "/8003/", "/8004/",
    "/8006/", "/8010/", "/8017/", "/8018/",
];

/// The constrained canonical form of a GS1 Digital Link URI, or `None` if `uri` is not one (or
/// does not reduce to an accepted form).
fn constrain_digital_link(uri: &str) -> Option<Cow<'_, str>> {
    // Fast path: a link already in constrained canonical form, with no query or fragment, is
    // its own normal form (every step below would leave it unchanged).
    if uri.starts_with("https://id.gs1.org/")
        && !uri.contains(['?', '#'])
        && is_constrained_canonical(uri)
    {
        return Some(Cow::Borrowed(uri));
    }
    if !looks_like_digital_link(uri) {
        return None;
    }
    let mut link: Cow<'_, str> = Cow::Borrowed(uri.split('?').next().unwrap_or(uri));

    if may_contain_short_name(&link) {
        let mut replaced = link.into_owned();
        for (short, ai) in SHORT_NAMES {
            if replaced.contains(short) {
                replaced = replaced.replace(short, ai);
            }
        }
        link = Cow::Owned(replaced);
    }

    if !is_rooted_on_canonical_host(&link)
        && let Some(at) = PRIMARY_KEYS.iter().find_map(|key| link.find(key))
    {
        link = Cow::Owned(format!("{CANONICAL_HOST}{}", &link[at..]));
    }

    if let Some(after) = link.strip_prefix("https://id.gs1.org/01/") {
        let padding = match leading_digits(after) {
            13 => Some("/01/0"),
            12 => Some("/01/00"),
            8..=11 => Some("/01/000000"),
            _ => None,
        };
        if let Some(padding) = padding {
            link = Cow::Owned(link.replace("/01/", padding));
        }
    }

    if let Some(without_cpv) = drop_cpv(&link) {
        link = Cow::Owned(without_cpv);
    }
    if let Some(without_lot) = drop_lot_when_serialised(&link) {
        link = Cow::Owned(without_lot);
    }

    is_constrained_canonical(&link).then_some(link)
}

/// Whether `uri` is an `http(s):` URI with a primary key path segment followed by at least four
/// digits and one more character, before any query or fragment.
fn looks_like_digital_link(uri: &str) -> bool {
    let Some(rest) = uri
        .strip_prefix("https:")
        .or_else(|| uri.strip_prefix("http:"))
    else {
        return false;
    };
    let limit = rest.find(['?', '#']).unwrap_or(rest.len());
    let head = &rest[..limit];
    // Every `/<key>/` segment lies within `head` (it must end before any query or fragment).
    head.match_indices('/').any(|(at, _)| {
        let segment = &head[at + 1..];
        let Some(end) = segment.find('/') else {
            return false;
        };
        let value = &rest[at + 1 + end + 1..];
        is_detected_key(&segment[..end])
            && value.len() > 4
            && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && value.as_bytes()[4] != b'/'
    })
}

/// Whether a path segment may start with a lowercase short name (a `/` followed by a lowercase
/// letter that is not the second `/` of `//`); a quick filter before the replacements.
fn may_contain_short_name(uri: &str) -> bool {
    let b = uri.as_bytes();
    (1..b.len())
        .any(|i| b[i - 1] == b'/' && b[i].is_ascii_lowercase() && !(i >= 2 && b[i - 2] == b'/'))
}

/// Whether `uri` already starts `https://id.gs1.org/<primary key AI>/dddd<more>`.
fn is_rooted_on_canonical_host(uri: &str) -> bool {
    let Some(path) = uri.strip_prefix(CANONICAL_HOST) else {
        return false;
    };
    PRIMARY_KEYS.iter().any(|key| {
        path.strip_prefix(key).is_some_and(|value| {
            value.len() > 4
                && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && value.as_bytes()[4] != b'/'
        })
    })
}

fn leading_digits(text: &str) -> usize {
    text.bytes().take_while(u8::is_ascii_digit).count()
}

/// The key path (`01/<14>` or `8006/<18>`) that may carry a CPV, lot or serial, and the rest.
fn split_item_key(uri: &str) -> Option<&str> {
    let path = uri.strip_prefix("https://id.gs1.org/")?;
    let rest = if let Some(v) = path.strip_prefix("01/") {
        v.strip_prefix(v.get(..14)?)
            .filter(|_| v.as_bytes()[..14].iter().all(u8::is_ascii_digit))?
    } else if let Some(v) = path.strip_prefix("8006/") {
        v.strip_prefix(v.get(..18)?)
            .filter(|_| v.as_bytes()[..18].iter().all(u8::is_ascii_digit))?
    } else {
        return None;
    };
    Some(rest)
}

/// Drops `/22/<cpv>` after a GTIN or ITIP when the rest is short enough for the reference's
/// pattern (at most 20 characters after `/22/`).
fn drop_cpv(uri: &str) -> Option<String> {
    let rest = split_item_key(uri)?;
    let after = rest.strip_prefix("/22/")?;
    let key_end = uri.len() - rest.len();
    if after.len() > 20 {
        return None;
    }
    match after.find('/') {
        None if after.bytes().all(is_ai_char) => Some(uri[..key_end].to_owned()),
        Some(slash) if after.bytes().all(|b| b == b'/' || is_ai_char(b)) => {
            Some(format!("{}{}", &uri[..key_end], &after[slash..]))
        }
        _ => None,
    }
}

/// Drops `/10/<lot>` when `/21/<serial>` follows (only the finest level of identification).
fn drop_lot_when_serialised(uri: &str) -> Option<String> {
    let rest = split_item_key(uri)?;
    let after = rest.strip_prefix("/10/")?;
    let (lot, serial) = after.split_once("/21/")?;
    let short_and_plain = |s: &str| s.len() <= 20 && s.bytes().all(is_ai_char);
    if !(short_and_plain(lot) && short_and_plain(serial)) {
        return None;
    }
    let key_end = uri.len() - rest.len();
    Some(format!("{}/21/{serial}", &uri[..key_end]))
}

/// The characters the reference accepts in alphanumeric key components:
/// `"` `'` `-` `.` `0-9` `;` `<` `=` `>` `?` `A-Z` `_` `a-z`.
fn is_ai_char(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'-' | b'.' | b'0'..=b'9' | b';'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

fn is_cpid_char(b: u8) -> bool {
    matches!(b, b'#' | b'-' | b'/' | b'0'..=b'9' | b'A'..=b'Z')
}

fn all_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

fn ai_chars(s: &str, max: usize) -> bool {
    s.len() <= max && s.bytes().all(is_ai_char)
}

/// `digits` fixed-length digits followed by up to `max` characters accepted by `tail`.
fn digits_then(s: &str, digits: usize, max: usize, tail: fn(u8) -> bool) -> bool {
    s.len() >= digits
        && s.len() <= digits + max
        && s.as_bytes()[..digits].iter().all(u8::is_ascii_digit)
        && s.as_bytes()[digits..].iter().all(|&b| tail(b))
}

/// Whether `uri` has one of the constrained canonical forms of CBV 2.0 rule 18.
fn is_constrained_canonical(uri: &str) -> bool {
    let Some(path) = uri.strip_prefix("https://id.gs1.org/") else {
        return false;
    };
    let Some((ai, value)) = path.split_once('/') else {
        return false;
    };
    // A key with an optional single qualifier `/<q>/<text>` whose text must match `ok`.
    let key_with_qualifier = |len: usize, qualifiers: &[(&str, usize)]| -> bool {
        // A key of `len` digits is `len` bytes: a value that is not split there on a character
        // boundary (a multi-byte character within the key's length) has no such key.
        let Some((key, rest)) = value.split_at_checked(value.len().min(len)) else {
            return false;
        };
        if !all_digits(key, len) {
            return false;
        }
        rest.is_empty()
            || qualifiers.iter().any(|(q, max)| {
                rest.strip_prefix('/')
                    .and_then(|r| r.strip_prefix(q))
                    .and_then(|r| r.strip_prefix('/'))
                    .is_some_and(|text| ai_chars(text, *max))
            })
    };
    match ai {
        "00" => all_digits(value, 18),
        "01" => key_with_qualifier(14, &[("21", 20), ("10", 20), ("235", 28)]),
        "253" => digits_then(value, 13, 17, is_ai_char),
        "255" => digits_then(value, 13, 12, |b| b.is_ascii_digit()),
        "401" | "8004" => ai_chars(value, 30),
        "402" => all_digits(value, 17),
        "414" => key_with_qualifier(13, &[("254", 20)]),
        "417" => all_digits(value, 13),
        "8003" => digits_then(value, 14, 16, is_ai_char),
        "8006" => key_with_qualifier(18, &[("21", 20), ("10", 20)]),
        "8010" => {
            let cpid_ok = |s: &str| s.len() <= 30 && s.bytes().all(is_cpid_char);
            cpid_ok(value)
                || value.match_indices("/8011/").any(|(at, _)| {
                    let serial = &value[at + 6..];
                    cpid_ok(&value[..at])
                        && serial.len() <= 12
                        && serial.bytes().all(|b| b.is_ascii_digit())
                })
        }
        "8017" | "8018" => all_digits(value, 18),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn normalised(text: &str) -> Option<String> {
        let mut out = String::new();
        write_normalised_identifier(&mut out, text).then_some(out)
    }

    /// Found by libFuzzer (`trace_inputs`): a multi-byte character across the end of a key's
    /// length panicked when the key was split there. Such a value has no key: not constrained.
    #[test]
    fn a_multi_byte_character_where_a_key_ends_is_no_key() {
        // 12 digits, then a two-byte character over bytes 12 and 13 of the 13-digit GLN.
        let split = "https://id.gs1.org/414/123456789012\u{e9}";
        assert_eq!(normalised(split), None);
        assert_eq!(canonical_identifier(split), split);
        for key in ["01", "414", "8006"] {
            let text =
                format!("https://id.gs1.org/{key}/\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}");
            assert_eq!(normalised(&text), None, "{text}");
        }
        // The input libFuzzer found, as it found it.
        let found = b"https://id.gs1.org/414/%\n%&%\n\0\0\0e%;\xda\xbe&\0\0;\xda\xbe&\0\0\0i";
        let found = std::str::from_utf8(found).unwrap();
        assert_eq!(canonical_identifier(found), found);
    }

    #[test]
    fn a_custom_domain_is_replaced_by_the_canonical_host() {
        // Vectors TimeStampRoundOff, epcisDocWithSensorComponent, CertificationInfo...
        assert_eq!(
            normalised("https://id.gs1.de/00/040123451111111110").as_deref(),
            Some("https://id.gs1.org/00/040123451111111110")
        );
        assert_eq!(
            normalised("https://id.example.com/253/4012345000054987").as_deref(),
            Some("https://id.gs1.org/253/4012345000054987")
        );
        assert_eq!(
            normalised("https://id.example.org/8004/401234599999").as_deref(),
            Some("https://id.gs1.org/8004/401234599999")
        );
    }

    #[test]
    fn short_names_and_query_strings_are_normalised_away() {
        // Vector epclist_normalisation.
        assert_eq!(
            normalised("https://id.gs1.org/gtin/09780345418913").as_deref(),
            Some("https://id.gs1.org/01/09780345418913")
        );
        assert_eq!(
            normalised("https://example.com/gtin/09780345418913/21/765tz?abc=211121").as_deref(),
            Some("https://id.gs1.org/01/09780345418913/21/765tz")
        );
    }

    #[test]
    fn only_the_finest_level_of_identification_is_kept() {
        assert_eq!(
            normalised("https://id.gs1.org/01/09506000134352/10/LOT1/21/SER1").as_deref(),
            Some("https://id.gs1.org/01/09506000134352/21/SER1")
        );
        assert_eq!(
            normalised("https://id.gs1.org/01/09506000134352/22/2A/21/SER1").as_deref(),
            Some("https://id.gs1.org/01/09506000134352/21/SER1")
        );
        assert_eq!(
            normalised("https://id.gs1.org/01/09506000134352/22/2A").as_deref(),
            Some("https://id.gs1.org/01/09506000134352")
        );
    }

    #[test]
    fn short_gtins_are_padded_to_fourteen_digits() {
        assert_eq!(
            normalised("https://example.org/01/9506000134352").as_deref(),
            Some("https://id.gs1.org/01/09506000134352")
        );
        assert_eq!(
            normalised("https://example.org/01/12345670").as_deref(),
            Some("https://id.gs1.org/01/00000012345670")
        );
    }

    #[test]
    fn uris_that_are_not_digital_links_are_left_alone() {
        for text in [
            "http://www.opengis.net/def/crs/EPSG/0/27700",
            "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
            "https://accreditation-council.example.org/certificate/ABC12345",
            "http://transaction.acme.com/po/12345678",
            "https://ref.gs1.org/cbv/BizStep-shipping",
            "https://id.gs1.org/01/09506000134352#fragment",
            "https://id.gs1.org/01/09506000134352/21/A%2FB",
            "geo:47.506694,11.104301",
            "urn:epcglobal:cbv:bt:4012345000009:ASN1099",
            "urn:epc:id:sgtin:not-an-epc",
        ] {
            assert_eq!(normalised(text), None, "{text}");
        }
    }

    #[test]
    fn plain_items_pallets_and_locations_convert() {
        // Vectors epcisDocWithSingleEvent, epcisDocWithVariousEventTypes, ralfsChaosExample.
        for (urn, link) in [
            (
                "urn:epc:id:sgtin:0614141.107346.2017",
                "https://id.gs1.org/01/10614141073464/21/2017",
            ),
            (
                "urn:epc:id:sscc:5200001.0111111146",
                "https://id.gs1.org/00/052000011111111461",
            ),
            (
                "urn:epc:id:sgln:0012345.11111.400",
                "https://id.gs1.org/414/0012345111112/254/400",
            ),
            (
                "urn:epc:id:sgln:0012345.11111.0",
                "https://id.gs1.org/414/0012345111112",
            ),
        ] {
            assert_eq!(normalised(urn).as_deref(), Some(link), "{urn}");
        }
    }

    #[test]
    fn epc_uris_convert_to_canonical_digital_links() {
        // Vector epclist_normalisation.
        assert_eq!(
            normalised("urn:epc:id:sscc:4012345.3111111111").as_deref(),
            Some("https://id.gs1.org/00/340123451111111111")
        );
        assert_eq!(
            normalised("urn:epc:class:lgtin:4012345.012345.Lot987").as_deref(),
            Some("https://id.gs1.org/01/04012345123456/10/Lot987")
        );
    }
}
