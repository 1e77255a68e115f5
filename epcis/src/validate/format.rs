//! The string formats the EPCIS JSON schema uses: `uri` (RFC 3986), and the schema's patterns.

/// Character classes of RFC 3986, one bit each, indexed by byte.
const UNRESERVED: u8 = 1;
const SUB_DELIM: u8 = 2;
/// `:` and `@`, which `pchar` adds to the two classes above.
const PCHAR_EXTRA: u8 = 4;
const SCHEME_EXTRA: u8 = 8;
/// `/` and `?`, which a path and query add to `pchar`.
const PATH_EXTRA: u8 = 16;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            table[byte] |= UNRESERVED;
        }
        if matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        ) {
            table[byte] |= SUB_DELIM;
        }
        if matches!(b, b':' | b'@') {
            table[byte] |= PCHAR_EXTRA;
        }
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.') {
            table[byte] |= SCHEME_EXTRA;
        }
        if matches!(b, b'/' | b'?') {
            table[byte] |= PATH_EXTRA;
        }
        byte += 1;
    }
    table
};

fn is_class(b: u8, classes: u8) -> bool {
    CLASSES[usize::from(b)] & classes != 0
}

/// Whether `text` is an absolute URI with optional fragment (RFC 3986 `URI`), which is what the
/// JSON Schema `uri` format means. Only ASCII is allowed: IRIs must be percent-encoded.
pub(crate) fn is_uri(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some((first, _)) = bytes.split_first() else {
        return false;
    };
    if !first.is_ascii_alphabetic() {
        return false;
    }
    let Some(colon) = bytes.iter().position(|&b| !is_class(b, SCHEME_EXTRA)) else {
        return false;
    };
    if bytes[colon] != b':' {
        return false;
    }
    let mut rest = &bytes[colon + 1..];
    if let Some(after) = rest.strip_prefix(b"//") {
        let end = after
            .iter()
            .position(|&b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(after.len());
        if !is_authority(&after[..end]) {
            return false;
        }
        rest = &after[end..];
    }
    is_path_query_fragment(rest)
}

/// `path [ "?" query ] [ "#" fragment ]`, where each part is `pchar`s, `/`, and (after the
/// path) `?`, with well-formed percent escapes.
fn is_path_query_fragment(bytes: &[u8]) -> bool {
    const PCHAR: u8 = UNRESERVED | SUB_DELIM | PCHAR_EXTRA;
    // The common case, without escapes or fragment, in one pass of table lookups.
    if bytes.iter().all(|&b| is_class(b, PCHAR | PATH_EXTRA)) {
        return true;
    }
    let mut in_fragment = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_class(b, PCHAR | PATH_EXTRA) {
            i += 1;
        } else if b == b'%' {
            if !bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else if b == b'#' && !in_fragment {
            in_fragment = true;
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    is_class(b, UNRESERVED)
}

fn is_sub_delim(b: u8) -> bool {
    is_class(b, SUB_DELIM)
}

/// Every `%` is followed by two hex digits.
fn has_valid_percent_escapes(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let escape = bytes.get(i + 1..i + 3);
            if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// `authority = [ userinfo "@" ] host [ ":" port ]`.
fn is_authority(authority: &[u8]) -> bool {
    if !has_valid_percent_escapes(authority) {
        return false;
    }
    let (userinfo, host_port) = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    if let Some(userinfo) = userinfo
        && !userinfo
            .iter()
            .all(|&b| is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'%'))
    {
        return false;
    }
    let (host, port) = if host_port.first() == Some(&b'[') {
        let Some(close) = host_port.iter().position(|&b| b == b']') else {
            return false;
        };
        let (literal, after) = host_port.split_at(close + 1);
        if !is_ip_literal(&literal[1..literal.len() - 1]) {
            return false;
        }
        match after.split_first() {
            None => (literal, None),
            Some((b':', port)) => (literal, Some(port)),
            Some(_) => return false,
        }
    } else {
        match host_port.iter().rposition(|&b| b == b':') {
            Some(colon) => (&host_port[..colon], Some(&host_port[colon + 1..])),
            None => (host_port, None),
        }
    };
    let host_ok = host.first() == Some(&b'[')
        || host
            .iter()
            .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b'%');
    host_ok && port.is_none_or(|port| port.iter().all(u8::is_ascii_digit))
}

/// `IPv6address / IPvFuture` inside the brackets of an IP literal.
fn is_ip_literal(inside: &[u8]) -> bool {
    if let Some(future) = inside
        .strip_prefix(b"v")
        .or_else(|| inside.strip_prefix(b"V"))
    {
        let Some(dot) = future.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, rest) = (&future[..dot], &future[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !rest.is_empty()
            && rest
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
    }
    std::str::from_utf8(inside).is_ok_and(|text| text.parse::<std::net::Ipv6Addr>().is_ok())
}

/// `^[A-Z0-9]{2,3}$`: a UN/CEFACT Recommendation 20 unit code as the schema's `uom` allows it.
pub(crate) fn is_uom(text: &str) -> bool {
    (2..=3).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `^[A-Fa-f0-9]+$`: the schema's `hexBinary`.
pub(crate) fn is_hex_binary(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `^\d+(\.\d+)*$`: the schema's `version`.
pub(crate) fn is_version(text: &str) -> bool {
    text.split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_used_by_epcis_are_uris() {
        for uri in [
            "urn:epc:id:sgtin:0614141.107346.2017",
            "urn:epc:class:lgtin:4012345.012345.998877",
            "urn:epc:idpat:sgtin:4012345.098765.*",
            "https://id.gs1.org/01/09506000134352/21/12345",
            "ni:///sha-256;df7bb3c352fef055578554f09f5e2aa41782150ced7bd0b8af24dd3ccb30ba69?ver=CBV2.0",
            "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8",
            "geo:42.698334,23.319941",
            "example:myField",
            "cbvmda:lotNumber",
            "http://user:pw@[2001:db8::1]:8080/a%20b?q=1#frag",
            "http://[v1.fe80::a+en1]/",
            "http://127.0.0.1:80",
            "mailto:someone@example.org",
            "a:",
        ] {
            assert!(is_uri(uri), "{uri}");
        }
    }

    #[test]
    fn relative_references_and_malformed_text_are_not_uris() {
        for text in [
            "",
            "shipping",
            "myField",
            ":no-scheme",
            "1http://example.org",
            "http://exa mple.org",
            "https://example.org/a b",
            "http://example.org/%zz",
            "http://example.org/%4",
            "http://example.org/#a#b",
            "http://[::1/",
            "http://[not-ipv6]/",
            "http://example.org:80a/",
            "http://example.org/<tag>",
            "urn:epc:id:sgtin:0614141.107346.\"2017\"",
            "https://example.org/ünïcode",
            "ex ample:field",
        ] {
            assert!(!is_uri(text), "{text}");
        }
    }

    #[test]
    fn unit_codes_are_two_or_three_upper_case_letters_or_digits() {
        for good in ["KGM", "CEL", "A93", "H4", "LTR"] {
            assert!(is_uom(good), "{good}");
        }
        for bad in ["kgm", "K", "KGMS", "KG ", "", "Kg"] {
            assert!(!is_uom(bad), "{bad}");
        }
    }

    #[test]
    fn versions_are_dotted_numbers() {
        for good in ["2.0", "2", "1.2.3"] {
            assert!(is_version(good), "{good}");
        }
        for bad in ["", "2.", ".2", "2.0a", "v2", "2..0"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn hex_binary_needs_at_least_one_hex_digit() {
        assert!(is_hex_binary("f0F0a9"));
        assert!(!is_hex_binary(""));
        assert!(!is_hex_binary("0x12"));
    }
}
