//! Identifiers and timestamps bound into leaf records and batch statements: [`DeviceId`],
//! [`SiteId`] and [`UnixMillis`].

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

fn check_identifier(what: &'static str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { what });
    }
    if text.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { what, len: text.len() });
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
    fn a_plain_device_id_is_accepted() {
        let id = DeviceId::parse("urn:tagtrail:device:dock-door-3").unwrap();
        assert_eq!(id.as_str(), "urn:tagtrail:device:dock-door-3");
    }

    #[test]
    fn identifiers_with_spaces_newlines_or_nothing_are_refused() {
        assert_eq!(
            DeviceId::parse("dock door"),
            Err(IdError::ForbiddenChar { what: "device id", found: ' ' })
        );
        assert_eq!(
            SiteId::parse("plant\n7"),
            Err(IdError::ForbiddenChar { what: "site id", found: '\n' })
        );
        assert_eq!(SiteId::parse(""), Err(IdError::Empty { what: "site id" }));
    }

    #[test]
    fn identifiers_are_bounded_in_bytes_not_characters() {
        assert!(DeviceId::parse(&"é".repeat(64)).is_ok(), "64 two-byte characters are 128 bytes");
        assert_eq!(
            DeviceId::parse(&"é".repeat(65)),
            Err(IdError::TooLong { what: "device id", len: 130 })
        );
    }

    #[test]
    fn json_identifiers_are_checked_when_read() {
        assert!(serde_json::from_str::<DeviceId>("\"reader-1\"").is_ok());
        assert!(serde_json::from_str::<DeviceId>("\"reader 1\"").is_err());
    }
}
