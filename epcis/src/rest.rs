//! Values of the EPCIS 2.0 REST binding's HTTP headers that clients and services both write and
//! read (one home for each): the capture error behaviour, and the version headers every service
//! negotiates the same way ([`check_versions`]).

use std::fmt;

/// What the `GS1-Capture-Error-Behaviour` header asks of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorBehaviour {
    /// All or nothing (the default).
    #[default]
    Rollback,
    /// Store the valid events, report the others.
    Proceed,
}

impl ErrorBehaviour {
    /// The header's name.
    pub const HEADER: &'static str = "GS1-Capture-Error-Behaviour";

    /// Parses the header value (`rollback` or `proceed`; surrounding white space is ignored).
    ///
    /// The official OpenAPI document gives the request header the same enumeration as the
    /// `OPTIONS` answer, `rollback`, `proceed` or `all`, without saying what `all` asks of a
    /// capture; it is read as `rollback`, the default, which the binding calls "all or nothing".
    pub fn parse(value: &str) -> Result<Self, UnknownErrorBehaviour> {
        match value.trim() {
            "rollback" | "all" => Ok(Self::Rollback),
            "proceed" => Ok(Self::Proceed),
            other => Err(UnknownErrorBehaviour(other.to_owned())),
        }
    }

    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rollback => "rollback",
            Self::Proceed => "proceed",
        }
    }
}

impl fmt::Display for ErrorBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `GS1-Capture-Error-Behaviour` value that is not `rollback`, `proceed` or `all`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither rollback nor proceed (nor all, read as rollback)")]
pub struct UnknownErrorBehaviour(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_behaviours_round_trip_and_others_are_named() {
        for behaviour in [ErrorBehaviour::Rollback, ErrorBehaviour::Proceed] {
            assert_eq!(ErrorBehaviour::parse(behaviour.as_str()), Ok(behaviour));
        }
        assert_eq!(
            ErrorBehaviour::parse(" proceed\t"),
            Ok(ErrorBehaviour::Proceed)
        );
        let error = ErrorBehaviour::parse("Proceed").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"Proceed\" is neither rollback nor proceed (nor all, read as rollback)"
        );
        // The official document's enumeration: `all` is read as the default.
        assert_eq!(ErrorBehaviour::parse("all"), Ok(ErrorBehaviour::Rollback));
    }
}

/// The EPCIS version tagtrail's services speak (`GS1-EPCIS-Version` of their answers).
pub const EPCIS_VERSION: &str = "2.0.0";
/// The CBV version tagtrail's services speak (`GS1-CBV-Version` of their answers).
pub const CBV_VERSION: &str = "2.0.0";

/// The version headers of a discovery answer (`OPTIONS`, `204`): the versions served, which are
/// also the only ones (`-Min` and `-Max`).
pub const DISCOVERY_VERSIONS: [(&str, &str); 6] = [
    ("GS1-EPCIS-Version", EPCIS_VERSION),
    ("GS1-EPCIS-Min", EPCIS_VERSION),
    ("GS1-EPCIS-Max", EPCIS_VERSION),
    ("GS1-CBV-Version", CBV_VERSION),
    ("GS1-CBV-Min", CBV_VERSION),
    ("GS1-CBV-Max", CBV_VERSION),
];

/// A standard's version as the REST binding writes it: decimal numbers separated by dots (`2`,
/// `2.0`, `2.0.0`); missing trailing numbers are zeroes, so `2` and `2.0.0` are equal.
#[derive(Debug, Clone)]
pub struct Version(Vec<u32>);

impl Version {
    /// Parses `\d+(\.\d+)*` (at most 8 numbers, each below 2^32).
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<u32> = text
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    part.parse().ok()
                }
            })
            .collect::<Option<_>>()?;
        (parts.len() <= 8).then_some(Self(parts))
    }

    /// The major version.
    pub fn major(&self) -> u32 {
        self.0.first().copied().unwrap_or(0)
    }

    fn normalised(&self) -> &[u32] {
        let end = self.0.iter().rposition(|&n| n != 0).map_or(0, |i| i + 1);
        &self.0[..end]
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.normalised() == other.normalised()
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.normalised().cmp(other.normalised())
    }
}

/// Why a request's version headers cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionProblem {
    /// A version header that is not a version (answered with 400).
    #[error("{header}: {value:?} is not a version (digits separated by dots, such as 2.0.0)")]
    Malformed { header: &'static str, value: String },
    /// The request's content is of a version this service does not read (406).
    #[error("{header}: {value} is not served here; this service speaks {served} (any {major}.x)")]
    Unsupported {
        header: &'static str,
        value: String,
        served: &'static str,
        major: u32,
    },
    /// The client accepts no version this service answers in (406).
    #[error("{header}: {value} excludes {served}, the only version this service answers in")]
    OutOfRange {
        header: &'static str,
        value: String,
        served: &'static str,
    },
}

impl VersionProblem {
    /// Whether the request is malformed (400) rather than not acceptable (406).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::Malformed { .. })
    }
}

/// Checks a request's version headers as the EPCIS 2.0 REST binding defines them, with
/// `header(name)` giving a header's value:
///
/// - `GS1-EPCIS-Version` / `GS1-CBV-Version` (on requests with a body: the version the content is
///   written in) must have the major version served ([`EPCIS_VERSION`], [`CBV_VERSION`]);
/// - `GS1-EPCIS-Min` / `GS1-EPCIS-Max` and `GS1-CBV-Min` / `GS1-CBV-Max` (the versions the client
///   accepts in the answer) must include the version served.
///
/// Absent headers ask for nothing. The first problem found is returned.
pub fn check_versions<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Result<(), VersionProblem> {
    for (served, version, min, max) in [
        (
            EPCIS_VERSION,
            "GS1-EPCIS-Version",
            "GS1-EPCIS-Min",
            "GS1-EPCIS-Max",
        ),
        (CBV_VERSION, "GS1-CBV-Version", "GS1-CBV-Min", "GS1-CBV-Max"),
    ] {
        // The served constants are well-formed (tested).
        let Some(served_version) = Version::parse(served) else {
            continue;
        };
        let read = |name: &'static str| -> Result<Option<(String, Version)>, VersionProblem> {
            match header(name) {
                None => Ok(None),
                Some(value) => {
                    let value = value.trim();
                    Version::parse(value)
                        .map(|parsed| Some((value.to_owned(), parsed)))
                        .ok_or_else(|| VersionProblem::Malformed {
                            header: name,
                            value: value.to_owned(),
                        })
                }
            }
        };
        if let Some((value, declared)) = read(version)?
            && declared.major() != served_version.major()
        {
            return Err(VersionProblem::Unsupported {
                header: version,
                value,
                served,
                major: served_version.major(),
            });
        }
        if let Some((value, lowest)) = read(min)?
            && lowest > served_version
        {
            return Err(VersionProblem::OutOfRange {
                header: min,
                value,
                served,
            });
        }
        if let Some((value, highest)) = read(max)?
            && highest < served_version
        {
            return Err(VersionProblem::OutOfRange {
                header: max,
                value,
                served,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod version_tests {
    use super::*;

    fn check(headers: &[(&str, &'static str)]) -> Result<(), VersionProblem> {
        check_versions(|name| {
            headers
                .iter()
                .find(|(header, _)| header.eq_ignore_ascii_case(name))
                .map(|(_, value)| *value)
        })
    }

    #[test]
    fn versions_compare_with_missing_numbers_as_zeroes() {
        let v = |text| Version::parse(text).unwrap();
        assert_eq!(v("2"), v("2.0.0"));
        assert!(v("2.0.1") > v("2"));
        assert!(v("1.2.0") < v("2.0"));
        assert!(v("10.0") > v("9.9.9"));
        for bad in [
            "",
            "2.",
            ".2",
            "2..0",
            "v2",
            "2.0.0-rc1",
            "+2",
            "1.2.3.4.5.6.7.8.9",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
        assert!(Version::parse(EPCIS_VERSION).is_some() && Version::parse(CBV_VERSION).is_some());
    }

    #[test]
    fn requests_that_ask_for_nothing_or_for_what_is_served_pass() {
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(
            check(&[
                ("GS1-EPCIS-Version", "2.0.0"),
                ("GS1-CBV-Version", "2.0"),
                ("GS1-EPCIS-Min", "1.0.0"),
                ("GS1-EPCIS-Max", "2.0.0"),
                ("GS1-CBV-Min", "1.2.0"),
                ("GS1-CBV-Max", "2.1"),
            ]),
            Ok(())
        );
    }

    #[test]
    fn content_of_another_major_version_is_not_acceptable() {
        assert_eq!(
            check(&[("GS1-EPCIS-Version", "1.2.0")]),
            Err(VersionProblem::Unsupported {
                header: "GS1-EPCIS-Version",
                value: "1.2.0".to_owned(),
                served: EPCIS_VERSION,
                major: 2
            })
        );
        assert!(matches!(
            check(&[("GS1-CBV-Version", "3.0.0")]),
            Err(VersionProblem::Unsupported {
                header: "GS1-CBV-Version",
                ..
            })
        ));
    }

    #[test]
    fn a_range_that_excludes_the_served_version_is_not_acceptable() {
        assert_eq!(
            check(&[("GS1-EPCIS-Min", "3.0.0")]),
            Err(VersionProblem::OutOfRange {
                header: "GS1-EPCIS-Min",
                value: "3.0.0".to_owned(),
                served: EPCIS_VERSION
            })
        );
        assert!(matches!(
            check(&[("GS1-CBV-Max", "1.2.0")]),
            Err(VersionProblem::OutOfRange {
                header: "GS1-CBV-Max",
                ..
            })
        ));
    }

    #[test]
    fn a_malformed_version_is_named() {
        let problem = check(&[("GS1-EPCIS-Max", "two")]).unwrap_err();
        assert!(problem.is_malformed());
        assert_eq!(
            problem.to_string(),
            "GS1-EPCIS-Max: \"two\" is not a version (digits separated by dots, such as 2.0.0)"
        );
    }
}
