//! The values of the `MATCH_` parameters: EPCs and EPC classes, exact or as Tag Data Standard
//! pattern URIs (`urn:epc:idpat:sgtin:0614141.107346.*`), matched against identifiers written as
//! EPC URIs or as GS1 Digital Links.

use crate::digital_link::DigitalLink;
use crate::epc::{Epc, EpcUri, ID_PREFIX, PATTERN_PREFIX};

use super::canonical_id;

/// The company prefix lengths a Digital Link may be split with.
const COMPANY_PREFIX_LENGTHS: std::ops::RangeInclusive<usize> = 6..=12;

/// The pure identity schemes and how many components their URIs have.
const SCHEMES: &[(&str, usize)] = &[
    ("sgtin", 3),
    ("sscc", 2),
    ("sgln", 3),
    ("grai", 3),
    ("giai", 2),
    ("gsrn", 2),
    ("gsrnp", 2),
    ("gdti", 3),
    ("cpi", 3),
    ("sgcn", 3),
    ("ginc", 2),
    ("gsin", 2),
    ("itip", 5),
    ("upui", 3),
    ("pgln", 2),
    ("gid", 3),
];

/// A value of `MATCH_epc`, `MATCH_parentID`, `MATCH_inputEPC`, `MATCH_outputEPC` or
/// `MATCH_anyEPC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpcPattern {
    /// One identity, in the form compared (a GS1 identity's canonical Digital Link; any other
    /// URI as written).
    Exact(String),
    /// A pattern: the scheme and each component, `None` for `*` (only trailing ones are).
    Pattern {
        scheme: String,
        components: Vec<Option<String>>,
    },
}

impl EpcPattern {
    /// Reads one value: an EPC URI, a GS1 Digital Link, an EPC pattern URI or another URI.
    pub fn parse(value: &str) -> Result<Self, String> {
        if let Some(body) = value.strip_prefix(PATTERN_PREFIX) {
            let (scheme, components) = pattern_components(value, body)?;
            return Ok(Self::Pattern { scheme, components });
        }
        if value.starts_with(ID_PREFIX) {
            Epc::parse(value).map_err(|error| format!("{value:?} is not an EPC URI ({error})"))?;
        } else if value.starts_with("https://") || value.starts_with("http://") {
            if is_digital_link(value) {
                DigitalLink::parse(value)
                    .map_err(|error| format!("{value:?} is not a GS1 Digital Link ({error})"))?;
            }
        } else if !is_uri(value) {
            return Err(format!(
                "{value:?} is not a URI: give an EPC URI, a GS1 Digital Link or an EPC pattern (urn:epc:idpat:sgtin:0614141.107346.*)"
            ));
        }
        Ok(Self::Exact(canonical_id(value)))
    }

    /// Whether an identifier written in an event matches.
    pub fn matches(&self, written: &str) -> bool {
        match self {
            Self::Exact(wanted) => canonical_id(written) == *wanted,
            Self::Pattern { scheme, components } => {
                let length = components.first().and_then(Option::as_ref).map(String::len);
                match urn_of(written, scheme, length) {
                    Some(urn) => components_match(&urn, scheme, components),
                    None => false,
                }
            }
        }
    }

    /// For one identity: every form events may write it in (its EPC URIs, for each company
    /// prefix length a Digital Link could be split with, and its canonical Digital Link).
    /// `None` for a pattern.
    pub fn identity_names(&self) -> Option<Vec<String>> {
        match self {
            Self::Exact(canonical) => Some(written_forms(canonical)),
            Self::Pattern { .. } => None,
        }
    }
}

/// A value of `MATCH_epcClass`, `MATCH_inputEPCClass`, `MATCH_outputEPCClass` or
/// `MATCH_anyEPCClass`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassPattern {
    /// One class, in the form compared: an LGTIN's canonical Digital Link
    /// (`https://id.gs1.org/01/<GTIN>/10/<lot>`), a class without lot's
    /// (`https://id.gs1.org/01/<GTIN>`), or another URI as written.
    Exact(String),
    /// `urn:epc:idpat:sgtin:` with `*` components: every class (with or without a lot) of the
    /// GTINs it covers; the company prefix and item reference, `None` for `*`.
    Gtins {
        company_prefix: Option<String>,
        item_reference: Option<String>,
    },
}

impl ClassPattern {
    /// Reads one value: an LGTIN class URI, an EPC class pattern, a Digital Link of a GTIN (with
    /// or without a lot) or another URI.
    ///
    /// `urn:epc:idpat:sgtin:0614141.107346.*` names a product (GTIN) and matches every class
    /// of it: the class of the GTIN itself and each of its lots (`urn:epc:class:lgtin:...`), so
    /// that one value asks for a product whatever lots its quantities were written with. A lot
    /// is asked for with its LGTIN URI (or Digital Link).
    pub fn parse(value: &str) -> Result<Self, String> {
        if let Some(body) = value.strip_prefix(PATTERN_PREFIX) {
            let (scheme, components) = pattern_components(value, body)?;
            if scheme == "sgtin" {
                return Ok(Self::Gtins {
                    company_prefix: components[0].clone(),
                    item_reference: components[1].clone(),
                });
            }
            // A class pattern of another scheme (`urn:epc:idpat:grai:0614141.12345.*`) is one
            // class, as its key names it.
            if components[..components.len() - 1]
                .iter()
                .all(Option::is_some)
            {
                EpcUri::parse(value)
                    .map_err(|error| format!("{value:?} is not an EPC class pattern ({error})"))?;
                return Ok(Self::Exact(canonical_id(value)));
            }
            return Err(format!(
                "{value:?}: only urn:epc:idpat:sgtin: patterns may leave more than the serial out"
            ));
        }
        if value.starts_with("urn:epc:") {
            EpcUri::parse(value)
                .map_err(|error| format!("{value:?} is not an EPC class URI ({error})"))?;
        } else if !is_uri(value) {
            return Err(format!(
                "{value:?} is not a URI: give an EPC class URI (urn:epc:class:lgtin:0614141.107346.LOT1), a pattern (urn:epc:idpat:sgtin:0614141.107346.*) or a GS1 Digital Link"
            ));
        }
        Ok(Self::Exact(canonical_id(value)))
    }

    /// Whether an `epcClass` written in an event matches.
    pub fn matches(&self, written: &str) -> bool {
        let canonical = canonical_id(written);
        match self {
            Self::Exact(wanted) => canonical == *wanted,
            Self::Gtins {
                company_prefix,
                item_reference,
            } => {
                let Some(rest) = canonical.strip_prefix("https://id.gs1.org/01/") else {
                    return false;
                };
                let (gtin, lot) = match rest.split_once('/') {
                    Some((gtin, lot)) => (gtin, Some(lot)),
                    None => (rest, None),
                };
                if gtin.len() != 14 || lot.is_some_and(|lot| !lot.starts_with("10/")) {
                    return false;
                }
                let Some(prefix) = company_prefix else {
                    return true;
                };
                // GTIN-14: indicator, company prefix, the rest of the item reference, check.
                let Some(after) = gtin[1..].strip_prefix(prefix.as_str()) else {
                    return false;
                };
                match item_reference {
                    None => true,
                    Some(reference) => {
                        let (indicator, item) = reference.split_at(1.min(reference.len()));
                        gtin.starts_with(indicator) && after.get(..after.len() - 1) == Some(item)
                    }
                }
            }
        }
    }
}

/// Whether an `http(s)` URI's path names a GS1 key, so that it must read as a Digital Link.
fn is_digital_link(value: &str) -> bool {
    let mut forms = String::new();
    crate::hash::identifier::write_normalised_identifier(&mut forms, value)
}

/// Whether `value` is an absolute URI (RFC 3986): a scheme, a colon and more, of the characters
/// a URI may hold, every `%` starting an escape of two hex digits.
pub(crate) fn is_uri(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let bytes = rest.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte == b'%' {
            let escape = bytes.get(at + 1..at + 3);
            if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            at += 3;
            continue;
        }
        let allowed = byte.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&byte);
        if !allowed {
            return false;
        }
        at += 1;
    }
    scheme_ok && !rest.is_empty()
}

/// The scheme and components of an EPC pattern URI's `body` (after `urn:epc:idpat:`).
fn pattern_components(value: &str, body: &str) -> Result<(String, Vec<Option<String>>), String> {
    let (scheme, rest) = body
        .split_once(':')
        .ok_or_else(|| format!("{value:?} names no scheme: urn:epc:idpat:<scheme>:<components>"))?;
    let Some((_, count)) = SCHEMES.iter().find(|(name, _)| *name == scheme) else {
        return Err(format!("{value:?}: {scheme:?} is not an EPC scheme"));
    };
    let parts: Vec<&str> = rest.splitn(*count, '.').collect();
    if parts.len() != *count {
        return Err(format!(
            "{value:?}: an {scheme} pattern has {count} components separated by dots"
        ));
    }
    let mut components = Vec::with_capacity(*count);
    let mut starred = false;
    for part in parts {
        if part == "*" {
            starred = true;
            components.push(None);
        } else if starred || part.contains('*') || part.is_empty() {
            return Err(format!(
                "{value:?}: a component is a value or *, and only the last ones may be *"
            ));
        } else {
            components.push(Some(part.to_owned()));
        }
    }
    Ok((scheme.to_owned(), components))
}

/// The EPC URI of `scheme` an event's identifier is, when it is of that scheme: as written, or
/// its Digital Link split with a company prefix of `length` digits (any length when `None`:
/// the pattern then names no company prefix, and only the scheme counts).
fn urn_of(written: &str, scheme: &str, length: Option<usize>) -> Option<String> {
    if written.starts_with(ID_PREFIX) {
        return Some(written.to_owned());
    }
    if !(written.starts_with("https://") || written.starts_with("http://")) {
        return None;
    }
    let link = DigitalLink::parse(written).ok()?;
    let lengths: Vec<usize> = match length {
        Some(length) => vec![length],
        None => COMPANY_PREFIX_LENGTHS.collect(),
    };
    lengths
        .into_iter()
        .find_map(|length| match link.to_epc_uri(length) {
            Ok(EpcUri::Id(epc)) => {
                let urn = epc.to_string();
                urn.strip_prefix(ID_PREFIX)
                    .is_some_and(|rest| {
                        rest.starts_with(scheme) && rest[scheme.len()..].starts_with(':')
                    })
                    .then_some(urn)
            }
            _ => None,
        })
}

/// Whether an EPC URI is of `scheme` with these components (`None` matches any).
fn components_match(urn: &str, scheme: &str, components: &[Option<String>]) -> bool {
    let Some(rest) = urn
        .strip_prefix(ID_PREFIX)
        .and_then(|rest| rest.strip_prefix(scheme))
        .and_then(|rest| rest.strip_prefix(':'))
    else {
        return false;
    };
    let parts: Vec<&str> = rest.splitn(components.len(), '.').collect();
    parts.len() == components.len()
        && parts
            .iter()
            .zip(components)
            .all(|(part, component)| component.as_deref().is_none_or(|wanted| wanted == *part))
}

/// Every form events may write an identifier in, from its compared form: a GS1 identity's
/// canonical Digital Link and its EPC URIs (one per company prefix length that gives one);
/// anything else as it is.
pub(crate) fn written_forms(canonical: &str) -> Vec<String> {
    let mut forms = vec![canonical.to_owned()];
    if let Ok(link) = DigitalLink::parse(canonical) {
        for length in COMPANY_PREFIX_LENGTHS {
            if let Ok(EpcUri::Id(epc)) = link.to_epc_uri(length) {
                let urn = epc.to_string();
                if !forms.contains(&urn) {
                    forms.push(urn);
                }
            }
        }
    }
    forms
}

/// Whether a place (its compared form) is a descendant of `ancestor` in the GS1 location
/// hierarchy: a GLN with an extension descends from the GLN itself.
pub(crate) fn descends_from(place: &str, ancestor: &str) -> bool {
    ancestor.starts_with("https://id.gs1.org/414/")
        && !ancestor.contains("/254/")
        && place
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with("/254/"))
}
