//! Identifiers and timestamps bound into leaf records and batch statements: [`DeviceId`],
//! [`SiteId`], [`OrganisationId`] and [`UnixMillis`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest device or site identifier, in UTF-8 bytes (its length is one byte on the wire).
pub const MAX_ID_LEN: usize = 128;

/// The identifier of a reporting device (an RFID reader, a sensor gateway) as registered with ingest.
///
/// 1 to [`MAX_ID_LEN`] bytes of UTF-8 with no whitespace and no control characters, so that it can
/// be written as one token on a line and is length-prefixed by a single byte in binary formats.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(String);

/// The identifier of a site (a brand's plant, a warehouse, a shop) that holds an API token.
///
/// Same syntax as [`DeviceId`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SiteId(String);

/// The identifier of an organisation (a brand, a carrier, a retailer): the party sites belong to
/// and custody is held by.
///
/// Same syntax as [`DeviceId`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrganisationId(String);

macro_rules! identifier {
    ($type:ident, $what:literal) => {
        impl $type {
            /// Checks the syntax: 1 to 128 bytes of UTF-8, no whitespace, no control characters.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                check_identifier($what, text)?;
                Ok(Self(text.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($type), self.0)
            }
        }

        impl TryFrom<&str> for $type {
            type Error = IdError;

            fn try_from(text: &str) -> Result<Self, Self::Error> {
                Self::parse(text)
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(DeviceId, "device id");
identifier!(SiteId, "site id");
identifier!(OrganisationId, "organisation id");

fn check_identifier(what: &'static str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { what });
    }
    if text.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            what,
            len: text.len(),
        });
    }
    // Printable ASCII (the usual id) is neither whitespace nor control: no need to decode chars.
    if text.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(());
    }
    if let Some(found) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(IdError::ForbiddenChar { what, found });
    }
    Ok(())
}

/// Why text is not a device or site identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a {what} must not be empty")]
    Empty { what: &'static str },
    #[error("a {what} is at most 128 bytes of UTF-8, found {len}")]
    TooLong { what: &'static str, len: usize },
    #[error("a {what} must not contain whitespace or control characters, found {found:?}")]
    ForbiddenChar { what: &'static str, found: char },
}

/// A point in time as milliseconds since the Unix epoch (UTC), as carried on the wire (u64
/// big-endian in binary formats, a JSON number otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(u64);

impl UnixMillis {
    /// Wraps a count of milliseconds since 1970-01-01T00:00:00Z.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The time as an RFC 3339 UTC timestamp with milliseconds (`2026-11-22T03:04:05.678Z`), as
    /// EPCIS documents, capture jobs and the bridge's events write it.
    pub fn to_rfc3339(self) -> String {
        let seconds = self.0 / 1000;
        let of_day = seconds % 86_400;
        // The civil date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
        let z = seconds / 86_400 + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            of_day / 3_600,
            of_day / 60 % 60,
            of_day % 60,
            self.0 % 1000
        )
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms since the Unix epoch", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_rfc_3339_utc() {
        let at = |millis| UnixMillis::from_millis(millis).to_rfc3339();
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_700_000_000_020), "2023-11-14T22:13:20.020Z");
        // 951782400 s is 2000-02-29T00:00:00Z (a leap day of a century leap year).
        assert_eq!(at(951_782_400_999), "2000-02-29T00:00:00.999Z");
        assert_eq!(at(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_plain_device_id_is_accepted() {
        let id = DeviceId::parse("urn:tagtrail:device:dock-door-3").unwrap();
        assert_eq!(id.as_str(), "urn:tagtrail:device:dock-door-3");
    }

    #[test]
    fn identifiers_with_spaces_newlines_or_nothing_are_refused() {
        assert_eq!(
            DeviceId::parse("dock door"),
            Err(IdError::ForbiddenChar {
                what: "device id",
                found: ' '
            })
        );
        assert_eq!(
            SiteId::parse("plant\n7"),
            Err(IdError::ForbiddenChar {
                what: "site id",
                found: '\n'
            })
        );
        assert_eq!(SiteId::parse(""), Err(IdError::Empty { what: "site id" }));
        // Beyond ASCII: letters are fine, Unicode spaces and controls are not; so is DEL.
        assert!(SiteId::parse("lager-münchen").is_ok());
        for (text, found) in [
            ("dock\u{2003}door", '\u{2003}'),
            ("dock\u{85}", '\u{85}'),
            ("dock\u{7f}", '\u{7f}'),
        ] {
            assert_eq!(
                DeviceId::parse(text),
                Err(IdError::ForbiddenChar {
                    what: "device id",
                    found
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn identifiers_are_bounded_in_bytes_not_characters() {
        assert!(
            DeviceId::parse(&"é".repeat(64)).is_ok(),
            "64 two-byte characters are 128 bytes"
        );
        assert_eq!(
            DeviceId::parse(&"é".repeat(65)),
            Err(IdError::TooLong {
                what: "device id",
                len: 130
            })
        );
    }

    #[test]
    fn json_identifiers_are_checked_when_read() {
        assert!(serde_json::from_str::<DeviceId>("\"reader-1\"").is_ok());
        assert!(serde_json::from_str::<DeviceId>("\"reader 1\"").is_err());
    }
}
