//! Locations a site speaks for, and how an event's `readPoint` / `bizLocation` is matched to them.
//!
//! The same place can be written as an SGLN EPC URI (`urn:epc:id:sgln:0614141.00777.dock-1`) or as
//! a GS1 Digital Link (`https://id.gs1.org/414/0614141007776/254/dock-1`, on any host). Both are
//! matched by one key, the canonical Digital Link. A site may also register every extension of a
//! GLN at once with the Tag Data Standard pattern `urn:epc:idpat:sgln:0614141.00777.*`, whose key is
//! the GLN's canonical Digital Link followed by `/*`. Identifiers that are not GLN-based (a `geo:`
//! URI, a private URL) are matched exactly as written.

use std::fmt;

use epcis::digital_link::{DigitalLink, urn_to_digital_link};

/// The GS1 Application Identifier of a GLN of a physical location.
const GLN_AI: &str = "414";
/// The canonical Digital Link prefix of a GLN.
const GLN_PREFIX: &str = "https://id.gs1.org/414/";
/// The prefix of an SGLN pattern URI.
const SGLN_PATTERN_PREFIX: &str = "urn:epc:idpat:sgln:";
/// The most bytes a location identifier may have.
const MAX_LOCATION_LEN: usize = 1024;

/// A location a site registers: as written, and the key it is matched by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteLocation {
    written: String,
    key: LocationKey,
}

/// The key a location is matched by (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocationKey(String);

/// Why text is not a location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("a location must be a URI of 1 to {MAX_LOCATION_LEN} bytes without spaces")]
    Malformed,
    #[error(
        "{0:?} is not an SGLN pattern: only `urn:epc:idpat:sgln:<company>.<location>.*` is supported"
    )]
    BadPattern(String),
    #[error("{0:?} looks like an EPC URI or a Digital Link but is not a valid one: {1}")]
    BadIdentifier(String, String),
}

impl SiteLocation {
    /// Parses a location to register: an identifier or an SGLN pattern.
    pub fn parse(text: &str) -> Result<Self, LocationError> {
        if text.is_empty()
            || text.len() > MAX_LOCATION_LEN
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(LocationError::Malformed);
        }
        let key = if let Some(pattern) = text.strip_prefix(SGLN_PATTERN_PREFIX) {
            let gln = pattern
                .strip_suffix(".*")
                .filter(|gln| !gln.contains('*'))
                .ok_or_else(|| LocationError::BadPattern(text.to_owned()))?;
            let link =
                urn_to_digital_link(&format!("urn:epc:id:sgln:{gln}.0")).map_err(|error| {
                    LocationError::BadIdentifier(text.to_owned(), error.to_string())
                })?;
            LocationKey(format!("{link}/*"))
        } else {
            strict_key(text)?
        };
        Ok(Self {
            written: text.to_owned(),
            key,
        })
    }

    /// The location as the administrator wrote it.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// The key it is matched by.
    pub fn key(&self) -> &LocationKey {
        &self.key
    }
}

impl fmt::Display for SiteLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

impl LocationKey {
    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The keys under which a location named in an event may be registered: its own key and, for a
    /// GLN-based location, the pattern of its GLN. Never fails: a value that is not a valid GS1
    /// identifier is matched exactly as written (validation reports malformed identifiers).
    pub fn candidates(location: &str) -> Vec<LocationKey> {
        let own = strict_key(location).unwrap_or_else(|_| LocationKey(location.to_owned()));
        let mut keys = Vec::with_capacity(2);
        if let Some(rest) = own.0.strip_prefix(GLN_PREFIX) {
            let gln = rest.split('/').next().unwrap_or(rest);
            keys.push(LocationKey(format!("{GLN_PREFIX}{gln}/*")));
        }
        keys.push(own);
        keys
    }
}

impl fmt::Display for LocationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of one identifier: the canonical Digital Link of an SGLN URI or of a Digital Link
/// with a GLN, otherwise the text itself. GS1 identifiers that do not parse are errors.
fn strict_key(text: &str) -> Result<LocationKey, LocationError> {
    let bad =
        |error: &dyn fmt::Display| LocationError::BadIdentifier(text.to_owned(), error.to_string());
    if text.starts_with("urn:epc:id:sgln:") {
        return urn_to_digital_link(text)
            .map(LocationKey)
            .map_err(|e| bad(&e));
    }
    if (text.starts_with("https://") || text.starts_with("http://"))
        && let Ok(link) = DigitalLink::parse(text)
        && link.primary_key().ai().as_str() == GLN_AI
    {
        return Ok(LocationKey(link.canonical()));
    }
    Ok(LocationKey(text.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn an_sgln_and_its_digital_link_share_a_key() {
        let urn = SiteLocation::parse("urn:epc:id:sgln:0614141.00777.dock-1").unwrap();
        let link = SiteLocation::parse("https://example.com/414/0614141007776/254/dock-1").unwrap();
        assert_eq!(urn.key(), link.key());
        // GLN 0614141007776: the check digit of 061414100777 is 6 (GS1 General Specifications).
        assert_eq!(
            urn.key().as_str(),
            "https://id.gs1.org/414/0614141007776/254/dock-1"
        );
    }

    #[test]
    fn a_pattern_covers_every_extension_of_its_gln_and_no_other_gln() {
        let pattern = SiteLocation::parse("urn:epc:idpat:sgln:0614141.00777.*").unwrap();
        for inside in [
            "urn:epc:id:sgln:0614141.00777.dock-1",
            "urn:epc:id:sgln:0614141.00777.0",
            "https://id.gs1.org/414/0614141007776/254/x",
        ] {
            assert!(
                LocationKey::candidates(inside).contains(pattern.key()),
                "{inside}"
            );
        }
        for outside in [
            "urn:epc:id:sgln:0614141.00888.dock-1",
            "urn:epc:id:sgln:0614142.00777.0",
        ] {
            assert!(
                !LocationKey::candidates(outside).contains(pattern.key()),
                "{outside}"
            );
        }
    }

    #[test]
    fn other_identifiers_match_only_as_written() {
        let geo = SiteLocation::parse("geo:42.698334,23.319941").unwrap();
        assert_eq!(
            LocationKey::candidates("geo:42.698334,23.319941"),
            vec![geo.key().clone()]
        );
        assert!(!LocationKey::candidates("geo:42.698334,23.31994").contains(geo.key()));
    }

    #[test]
    fn malformed_locations_are_refused() {
        assert_eq!(SiteLocation::parse(""), Err(LocationError::Malformed));
        assert_eq!(SiteLocation::parse("a b"), Err(LocationError::Malformed));
        assert!(matches!(
            SiteLocation::parse("urn:epc:idpat:sgln:0614141.*.*"),
            Err(LocationError::BadPattern(_))
        ));
        assert!(matches!(
            SiteLocation::parse("urn:epc:id:sgln:0614141.00777"),
            Err(LocationError::BadIdentifier(..))
        ));
    }
}
