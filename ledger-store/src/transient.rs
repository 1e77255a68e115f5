//! Which failures may succeed when retried later: the database went away, is shutting down, is out
//! of resources or chose this transaction as a victim. Everything else (a malformed stored row, an
//! SQL error a retry would repeat, a full log) is permanent, and a service must not answer "retry
//! later" to it.

use super::index_runs::IndexRunError;
use super::indexer::IndexError;
use super::log::ReadError;
use super::runs::MergeError;
use super::sequencer::AppendError;

/// Whether a retry of what failed with `error` may succeed: the connection is closed, the error
/// came from the connection rather than the server (no SQLSTATE), or the SQLSTATE says the server
/// went away or was busy:
///
/// - class 08, connection exception;
/// - class 57, operator intervention (admin or crash shutdown, cannot connect now);
/// - class 53, insufficient resources (disk full, out of memory, too many connections);
/// - 40001 serialization failure and 40P01 deadlock detected (the transaction was the victim);
/// - 55P03 lock not available.
pub fn is_transient_postgres(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        None => true,
        Some(code) => is_transient_sqlstate(code.code()),
    }
}

/// Whether an SQLSTATE is one of those [`is_transient_postgres`] retries.
pub fn is_transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("57")
        || code.starts_with("53")
        || matches!(code, "40001" | "40P01" | "55P03")
}

impl AppendError {
    /// Whether retrying the append later may succeed (see [`is_transient_postgres`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Pool(_) | Self::Stopped => true,
            Self::Query(error) => is_transient_postgres(error),
            Self::Read(error) => error.is_transient(),
            Self::Index(error) => error.is_transient(),
            Self::CorruptFrontier(_) | Self::TreeFull | Self::Bundle(_) => false,
        }
    }
}

impl ReadError {
    /// Whether retrying the read later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            Self::Query(error) => is_transient_postgres(error),
            Self::Corrupt { .. } | Self::Stopped => false,
        }
    }
}

impl IndexError {
    /// Whether retrying the indexing step later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            Self::Query(error)
            | Self::Merge(MergeError::Query(error))
            | Self::IndexRuns(IndexRunError::Query(error)) => is_transient_postgres(error),
            Self::Gap { .. }
            | Self::Missing { .. }
            | Self::BadHash { .. }
            | Self::NoRecord { .. }
            | Self::RunsPastWatermark { .. }
            | Self::Merge(MergeError::BadPage { .. })
            | Self::IndexRuns(IndexRunError::BadPage { .. } | IndexRunError::Unsorted { .. })
            | Self::IndexPastWatermark { .. }
            | Self::Thread => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_shutdown_resource_and_victim_states_are_transient() {
        for code in [
            "08006", "08001", "57P01", "57P03", "53100", "53300", "40001", "40P01", "55P03",
        ] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn errors_a_retry_would_repeat_are_permanent() {
        // syntax error, undefined table, unique violation, check violation, insufficient
        // privilege, raise exception (an append-only trigger), data exception
        for code in [
            "42601", "42P01", "23505", "23514", "42501", "P0001", "22003",
        ] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn a_full_log_or_a_corrupt_frontier_is_never_retried() {
        assert!(!AppendError::TreeFull.is_transient());
        assert!(!AppendError::CorruptFrontier("x".to_owned()).is_transient());
        assert!(AppendError::Stopped.is_transient());
        assert!(
            !ReadError::Corrupt {
                what: "entry",
                reason: String::new()
            }
            .is_transient()
        );
    }
}
