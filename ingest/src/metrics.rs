//! The service's Prometheus metrics (`GET /metrics`, text exposition format).
//!
//! | metric | type | labels | what |
//! | --- | --- | --- | --- |
//! | `ingest_captures_total` | counter | `outcome` | capture requests answered, by outcome |
//! | `ingest_events_total` | counter | `outcome` | events of answered captures: `appended`, `duplicate`, `rejected` |
//! | `ingest_capture_duration_seconds` | histogram | | time from request to answer of `POST /capture` |
//! | `ingest_ledger_entries` | gauge | | entries in the log (its tree size) |
//! | `ingest_checkpoint_entries` | gauge | | tree size of the latest signed checkpoint |
//! | `ingest_checkpoint_age_seconds` | gauge | | time since the latest checkpoint was signed |
//! | `ingest_checkpoint_signing_refused` | gauge | | 1 while the checkpoint signer refuses to sign (and captures are refused) because the database does not hold the tree of the newest checkpoint published, else 0 |
//! | `ingest_published_checkpoint_entries` | gauge | | tree size of the newest checkpoint published, as kept in the published-checkpoint file (0: none yet) |
//! | `ingest_lookup_indexed_entries` | gauge | | entries the lookup runs cover (the indexer's lag is `ingest_ledger_entries` minus this) |
//! | `ingest_lookup_runs` | gauge | | live lookup runs (each lookup reads every one; merging keeps them few) |
//! | `ingest_db_pool_connections` | gauge | `state` (`in_use`, `idle`) | connections of the request path's pool (registry reads, capture jobs) |
//! | `ingest_db_pool_max_connections` | gauge | | the pool's size limit |
//! | `ingest_db_pool_waiting_requests` | gauge | | tasks waiting for a connection |
//! | `ingest_store_db_pool_connections` | gauge | `state` (`in_use`, `idle`) | the ledger store's own pool (the sequencer, checkpointer and indexer take theirs from it), the same three gauges |
//! | `ingest_store_db_pool_max_connections` | gauge | | |
//! | `ingest_store_db_pool_waiting_requests` | gauge | | |
//!
//! Capture outcomes: `accepted`, `partial` (proceed with rejected events), `invalid`,
//! `unauthenticated`, `forbidden`, `too_large`, `unsupported_media_type`, `unavailable` (a `503`:
//! the database unavailable, or the log refusing captures while its database is behind what it
//! published), `failed`. The ledger gauges are read from the database when scraped, the signer's
//! from its state.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use service_kit::metrics::PoolGauges;

/// How a capture request ended (a bounded label set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureOutcome {
    /// Every event accepted.
    Accepted,
    /// Proceed mode: some events accepted, some rejected.
    Partial,
    /// `400`.
    Invalid,
    /// `401`.
    Unauthenticated,
    /// `403`.
    Forbidden,
    /// `413`.
    TooLarge,
    /// `415`.
    UnsupportedMediaType,
    /// `503`: the database was unavailable.
    Unavailable,
    /// `500`.
    Failed,
}

impl CaptureOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Partial => "partial",
            Self::Invalid => "invalid",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::TooLarge => "too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unavailable => "unavailable",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The metrics of one ingest process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    captures: Family<OutcomeLabels, Counter>,
    events: Family<OutcomeLabels, Counter>,
    capture_duration: Histogram,
    ledger_entries: Gauge,
    checkpoint_entries: Gauge,
    checkpoint_age: Gauge<f64, AtomicU64>,
    signing_refused: Gauge,
    published_entries: Gauge,
    lookup_indexed: Gauge,
    lookup_runs: Gauge,
    pool: PoolGauges,
    store_pool: PoolGauges,
    rate_limited: Counter,
    jobs_refused: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric (at zero).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ingest");
        let captures = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "captures",
            "Capture requests answered, by outcome",
            captures.clone(),
        );
        let events = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "events",
            "Events of answered captures: appended, duplicate (already in the ledger) or rejected",
            events.clone(),
        );
        // 1 ms to ~16 s.
        let capture_duration = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register_with_unit(
            "capture_duration",
            "Time from receiving a capture request to answering it",
            Unit::Seconds,
            capture_duration.clone(),
        );
        let ledger_entries = Gauge::default();
        registry.register(
            "ledger_entries",
            "Entries in the log (its tree size)",
            ledger_entries.clone(),
        );
        let checkpoint_entries = Gauge::default();
        registry.register(
            "checkpoint_entries",
            "Tree size of the latest signed checkpoint",
            checkpoint_entries.clone(),
        );
        let checkpoint_age = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "checkpoint_age",
            "Time since the latest checkpoint was signed",
            Unit::Seconds,
            checkpoint_age.clone(),
        );
        let signing_refused = Gauge::default();
        registry.register(
            "checkpoint_signing_refused",
            "1 while the checkpoint signer refuses to sign because the database does not hold the tree of the newest checkpoint published (captures are refused too), else 0",
            signing_refused.clone(),
        );
        let published_entries = Gauge::default();
        registry.register(
            "published_checkpoint_entries",
            "Tree size of the newest checkpoint published, as kept in the published-checkpoint file",
            published_entries.clone(),
        );
        let lookup_indexed = Gauge::default();
        registry.register(
            "lookup_indexed_entries",
            "Entries the lookup runs cover",
            lookup_indexed.clone(),
        );
        let lookup_runs = Gauge::default();
        registry.register("lookup_runs", "Live lookup runs", lookup_runs.clone());
        let pool = PoolGauges::register(&mut registry);
        let store_pool = PoolGauges::register(registry.sub_registry_with_prefix("store"));
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429: over their client's rate or its connections",
            rate_limited.clone(),
        );
        let jobs_refused = Counter::default();
        registry.register(
            "capture_jobs_refused",
            "Capture jobs left out of an answer because their records do not verify",
            jobs_refused.clone(),
        );
        for outcome in [
            CaptureOutcome::Accepted,
            CaptureOutcome::Partial,
            CaptureOutcome::Invalid,
            CaptureOutcome::Unauthenticated,
            CaptureOutcome::Forbidden,
            CaptureOutcome::TooLarge,
            CaptureOutcome::UnsupportedMediaType,
            CaptureOutcome::Unavailable,
            CaptureOutcome::Failed,
        ] {
            // Creating the series makes it appear (at 0) before the first capture.
            let _ = captures.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        for outcome in ["appended", "duplicate", "rejected"] {
            let _ = events.get_or_create(&OutcomeLabels { outcome });
        }
        Self {
            registry,
            captures,
            events,
            capture_duration,
            ledger_entries,
            checkpoint_entries,
            checkpoint_age,
            signing_refused,
            published_entries,
            lookup_indexed,
            lookup_runs,
            pool,
            store_pool,
            rate_limited,
            jobs_refused,
        }
    }

    /// Records a capture job left out of an answer (its record does not verify).
    pub fn capture_job_refused(&self) {
        self.jobs_refused.inc();
    }

    /// Records a request refused with `429` (over its client's rate or connections).
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Records an answered capture.
    pub fn capture(&self, outcome: CaptureOutcome, elapsed: Duration) {
        self.captures
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
        self.capture_duration.observe(elapsed.as_secs_f64());
    }

    /// Records the events of an answered capture.
    pub fn events(&self, appended: u64, duplicate: u64, rejected: u64) {
        for (outcome, count) in [
            ("appended", appended),
            ("duplicate", duplicate),
            ("rejected", rejected),
        ] {
            if count > 0 {
                self.events
                    .get_or_create(&OutcomeLabels { outcome })
                    .inc_by(count);
            }
        }
    }

    /// Sets the ledger gauges.
    pub fn ledger(&self, entries: u64, checkpoint_entries: u64, checkpoint_age: Option<Duration>) {
        self.ledger_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.checkpoint_entries
            .set(i64::try_from(checkpoint_entries).unwrap_or(i64::MAX));
        self.checkpoint_age
            .set(checkpoint_age.map_or(f64::NAN, |age| age.as_secs_f64()));
    }

    /// Sets the signer's gauges: whether it refuses to sign, and the tree size of the newest
    /// checkpoint published (0 when none is known).
    pub fn signing(&self, refused: bool, published_entries: u64) {
        self.signing_refused.set(i64::from(refused));
        self.published_entries
            .set(i64::try_from(published_entries).unwrap_or(i64::MAX));
    }

    /// Sets the lookup gauges: entries the runs cover, and live runs.
    pub fn lookups(&self, indexed: u64, runs: u64) {
        self.lookup_indexed
            .set(i64::try_from(indexed).unwrap_or(i64::MAX));
        self.lookup_runs
            .set(i64::try_from(runs).unwrap_or(i64::MAX));
    }

    /// Sets the pool gauges from the pool's status.
    pub fn pool(&self, status: deadpool_postgres::Status) {
        self.pool.set(status);
    }

    /// Sets the ledger store's pool gauges from its status.
    pub fn store_pool(&self, status: deadpool_postgres::Status) {
        self.store_pool.set(status);
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        service_kit::metrics::text(&self.registry)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn every_documented_metric_is_exposed() {
        let metrics = Metrics::new();
        metrics.capture(CaptureOutcome::Accepted, Duration::from_millis(3));
        metrics.events(5, 1, 0);
        metrics.ledger(10, 8, Some(Duration::from_millis(1500)));
        metrics.lookups(9, 2);
        metrics.signing(true, 12);
        let status = |size, available| deadpool_postgres::Status {
            max_size: 8,
            size,
            available,
            waiting: 0,
        };
        metrics.pool(status(3, 1));
        metrics.store_pool(status(5, 0));
        let text = metrics.encode().unwrap();
        for needle in [
            "ingest_captures_total{outcome=\"accepted\"} 1",
            "ingest_captures_total{outcome=\"forbidden\"} 0",
            "ingest_events_total{outcome=\"appended\"} 5",
            "ingest_events_total{outcome=\"duplicate\"} 1",
            "ingest_capture_duration_seconds_bucket{le=\"0.005\"} 1",
            "ingest_ledger_entries 10",
            "ingest_checkpoint_entries 8",
            "ingest_checkpoint_age_seconds 1.5",
            "ingest_lookup_indexed_entries 9",
            "ingest_lookup_runs 2",
            "ingest_checkpoint_signing_refused 1",
            "ingest_published_checkpoint_entries 12",
            "# TYPE ingest_db_pool_max_connections gauge",
            "# TYPE ingest_db_pool_waiting_requests gauge",
            "ingest_db_pool_connections{state=\"in_use\"} 2",
            "ingest_store_db_pool_connections{state=\"in_use\"} 5",
            "ingest_store_db_pool_connections{state=\"idle\"} 0",
            "ingest_store_db_pool_max_connections 8",
            "ingest_store_db_pool_waiting_requests 0",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}
