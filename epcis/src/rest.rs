//! Values of the EPCIS 2.0 REST binding's HTTP headers that clients and services both write and
//! read (one home for each).

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
    pub fn parse(value: &str) -> Result<Self, UnknownErrorBehaviour> {
        match value.trim() {
            "rollback" => Ok(Self::Rollback),
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

/// A `GS1-Capture-Error-Behaviour` value that is neither `rollback` nor `proceed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither rollback nor proceed")]
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
            "\"Proceed\" is neither rollback nor proceed"
        );
    }
}
