//! The service's Prometheus metrics (`GET /metrics`, OpenMetrics text).
//!
//! | metric | type | labels | what |
//! | --- | --- | --- | --- |
//! | `trace_requests_total` | counter | `route`, `status` | requests answered, by route template and status code |
//! | `trace_request_duration_seconds` | histogram | `route` | time from request to answer |
//! | `trace_rate_limited_total` | counter | | requests refused with `429` |
//! | `trace_readiness_checks_total` | counter | | readiness checks that asked the database (at most about one a second, however many probes come) |
//! | `trace_checkpoint_entries` | gauge | | tree size of the newest checkpoint this database holds |
//! | `trace_checkpoint_age_seconds` | gauge | | time since that checkpoint was signed (on a replica: includes the replica's lag) |
//! | `trace_lookup_indexed_entries` | gauge | | entries the lookups cover (the rest of a checkpoint is scanned) |
//! | `trace_db_pool_connections` | gauge | `state` | database connections (`in_use`, `idle`) |
//! | `trace_db_pool_max_connections` | gauge | | the pool's size limit (`[database] pool_size`) |
//! | `trace_db_pool_waiting_requests` | gauge | | requests waiting for a connection of the pool |
//! | `trace_registry_db_pool_connections` | gauge | `state` | the registry's pool (participants, devices' keys; 4 connections at most), the same three gauges |
//! | `trace_registry_db_pool_max_connections` | gauge | | |
//! | `trace_registry_db_pool_waiting_requests` | gauge | | |
//! | `trace_cache_hits_total` | counter | `cache` | answers from memory: `tiles` (hash tiles, for proofs and `/log/tile`), `lookups` (a lookup run's answer for an identifier), `lookup_filters` (a (run, identifier) probe a Bloom filter spared, or made), `entries` (an entry's record and event), `batches` (built device batch trees), `checkpoint` (the reused newest checkpoint) |
//! | `trace_cache_misses_total` | counter | `cache` | the same caches' reads from the database |
//! | `trace_cache_entries` | gauge | `cache` (`tiles`, `entries`) | what the cache holds now: tiles (one per tile position, the widest read), entries |
//! | `trace_cache_bytes` | gauge | `cache` (`tiles`, `entries`) | the bytes the cache counts for what it holds (entries: their event text and 256 bytes each; bounded at 64 MiB) |
//! | `trace_audit_last_run_timestamp_seconds` | gauge | | when the last periodic audit (`[audit] interval`) ended, whatever its outcome (0: none yet) |
//! | `trace_audit_last_success_timestamp_seconds` | gauge | | when the last audit that found the whole log sound ended (0: none yet) |
//! | `trace_audit_entries` | gauge | | entries verified by the last successful audit |
//! | `trace_audit_failures_total` | counter | | audits that found a bad row (entry, tile, batch or checkpoint; logged at error level) |
//! | `trace_audit_errors_total` | counter | | audits that could not run (database unreachable; logged at warn level), not failures |
//! | `trace_answer_bytes_in_flight` | gauge | | bytes of event text the answers in flight hold against `limits.max_inflight_bytes` |
//! | `trace_evidence_refused` | gauge | `kind` | rows of evidence the service would not serve because they do not verify (`anchor`: a confirmed anchor row whose proof or checkpoint does not check out; `declaration`: an error declaration row its declaring entry in the log does not bear out; logged at error level, named in readiness) |
//! | `trace_nfc_taps_total` | counter | `outcome` | NFC taps scans carried, by what their check came to: `accepted`, `replayed`, `refused` (not a valid tap of the item's tag), `malformed`, `unchecked` (no NFC keys), `unconfirmed` (the message verified but the database failed: logged at warn level; the verdict is then unknown) |
//! | `trace_scans_recorded_total` | counter | | consumers' scans kept (`[scans]`: item, rounded time, kind, coarse region and cell) |
//! | `trace_scans_dropped_total` | counter | | scans not kept: the queue was full, or the database failed (logged at warn level) |
//! | `trace_access_recorded_total` | counter | | credentialed answers recorded in the access log (`[access_log]`) |
//! | `trace_subscription_deliveries_total` | counter | | subscriptions' deliveries a receiver took (`2xx`) |
//! | `trace_streams_open` | gauge | | WebSocket subscriptions open (`GET /queries/{name}/events?stream=true`) |
//! | `trace_subscription_failures_total` | counter | | subscriptions' turns that delivered nothing: the receiver failed or was not reached, the events could not be read, or the token cannot read now (each retried later) |
//! | `trace_access_log_unsigned_total` | counter | | access-log signing rounds that failed (the database failed, or its rows no longer hash to a stored checkpoint: logged at error level) |
//! | `trace_changed_events_served` | gauge | | entries `/log/entries` served stored other than their leaf records commit to (changed behind the ledger's back) and not served as logged since: each is logged once at error level when first served so; at most 4,096 are kept (further ones are neither counted nor logged; `tagtrail audit` names every one) |
//!
//! Routes are labelled by their template (`/items/{id}/history`), never by the path asked, so
//! the label set stays bounded.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ledger::LeafIndex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use service_kit::metrics::PoolGauges;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

/// How many changed entries [`Metrics::entries_served`] keeps.
const CHANGED_KEPT_AT_MOST: usize = 4096;

/// The metrics of one trace-api process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram>,
    rate_limited: Counter,
    readiness_checks: Counter,
    checkpoint_entries: Gauge,
    checkpoint_age: Gauge<f64, AtomicU64>,
    indexed: Gauge,
    filter_bytes: Gauge,
    unfiltered_runs: Gauge,
    pool: PoolGauges,
    registry_pool: PoolGauges,
    cache_hits: Family<CacheLabels, Counter>,
    cache_misses: Family<CacheLabels, Counter>,
    cache_entries: Family<CacheLabels, Gauge>,
    cache_bytes: Family<CacheLabels, Gauge>,
    audit_last_run: Gauge<f64, AtomicU64>,
    audit_last_success: Gauge<f64, AtomicU64>,
    audit_entries: Gauge,
    audit_failures: Counter,
    audit_errors: Counter,
    evidence_refused: Family<KindLabels, Gauge>,
    nfc_taps: Family<OutcomeLabels, Counter>,
    scans_recorded: Counter,
    scans_dropped: Counter,
    access_recorded: Counter,
    access_log_unsigned: Counter,
    changed_events: Gauge,
    /// The entries [`changed_events`](Self::changed_events) counts (at most
    /// [`CHANGED_KEPT_AT_MOST`]).
    changed_kept: Mutex<BTreeSet<LeafIndex>>,
    subscription_deliveries: Counter,
    subscription_failures: Counter,
    streams_open: Gauge,
    answer_bytes: Gauge,
    /// What the cache counters showed at the last scrape (they are read, not incremented, here).
    cache_seen: Mutex<std::collections::HashMap<&'static str, ledger_store::CacheCounts>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric (at zero).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("trace");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by route template and status code",
            requests.clone(),
        );
        // 100 µs to ~3 s.
        let duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0001, 2.0, 15,
            ))
        });
        registry.register_with_unit(
            "request_duration",
            "Time from request to answer, by route template",
            Unit::Seconds,
            duration.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited",
            "Requests refused because their address exceeded its rate",
            rate_limited.clone(),
        );
        let readiness_checks = Counter::default();
        registry.register(
            "readiness_checks",
            "Readiness checks that asked the database (answers are reused for a second)",
            readiness_checks.clone(),
        );
        let checkpoint_entries = Gauge::default();
        registry.register(
            "checkpoint_entries",
            "Tree size of the newest checkpoint the database holds",
            checkpoint_entries.clone(),
        );
        let checkpoint_age = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "checkpoint_age",
            "Time since the newest checkpoint the database holds was signed",
            Unit::Seconds,
            checkpoint_age.clone(),
        );
        let evidence_refused = Family::<KindLabels, Gauge>::default();
        for kind in ["anchor", "declaration"] {
            evidence_refused.get_or_create(&KindLabels { kind }).set(0);
        }
        registry.register(
            "evidence_refused",
            "Rows of evidence not served because they do not verify",
            evidence_refused.clone(),
        );
        let nfc_taps = Family::<OutcomeLabels, Counter>::default();
        for outcome in [
            "accepted",
            "replayed",
            "refused",
            "malformed",
            "unchecked",
            "unconfirmed",
        ] {
            nfc_taps.get_or_create(&OutcomeLabels { outcome }).inc_by(0);
        }
        registry.register(
            "nfc_taps",
            "NFC taps scans carried, by what their check came to",
            nfc_taps.clone(),
        );
        let scans_recorded = Counter::default();
        registry.register(
            "scans_recorded",
            "Consumers' scans kept",
            scans_recorded.clone(),
        );
        let scans_dropped = Counter::default();
        registry.register(
            "scans_dropped",
            "Consumers' scans not kept (queue full, or the database failed)",
            scans_dropped.clone(),
        );
        let access_recorded = Counter::default();
        registry.register(
            "access_recorded",
            "Credentialed answers recorded in the access log",
            access_recorded.clone(),
        );
        let access_log_unsigned = Counter::default();
        registry.register(
            "access_log_unsigned",
            "Access-log signing rounds that failed",
            access_log_unsigned.clone(),
        );
        let changed_events = Gauge::default();
        registry.register(
            "changed_events_served",
            "Entries served stored other than their leaf records commit to, not served as logged since",
            changed_events.clone(),
        );
        let subscription_deliveries = Counter::default();
        registry.register(
            "subscription_deliveries",
            "Subscriptions' deliveries a receiver took",
            subscription_deliveries.clone(),
        );
        let subscription_failures = Counter::default();
        registry.register(
            "subscription_failures",
            "Subscriptions' turns that delivered nothing (retried later)",
            subscription_failures.clone(),
        );
        let streams_open = Gauge::default();
        registry.register(
            "streams_open",
            "WebSocket subscriptions open",
            streams_open.clone(),
        );
        let answer_bytes = Gauge::default();
        registry.register(
            "answer_bytes_in_flight",
            "Bytes of event text the answers in flight hold",
            answer_bytes.clone(),
        );
        let indexed = Gauge::default();
        registry.register(
            "lookup_indexed_entries",
            "Entries the lookups cover",
            indexed.clone(),
        );
        let filter_bytes = Gauge::default();
        registry.register(
            "lookup_filter_bytes",
            "Memory the Bloom filters of the lookup runs take",
            filter_bytes.clone(),
        );
        let unfiltered_runs = Gauge::default();
        registry.register(
            "lookup_unfiltered_runs",
            "Live lookup runs without a Bloom filter yet (every lookup asks the database about them)",
            unfiltered_runs.clone(),
        );
        let pool = PoolGauges::register(&mut registry);
        let registry_pool = PoolGauges::register(registry.sub_registry_with_prefix("registry"));
        let cache_hits = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_hits",
            "Reads answered from memory, by cache",
            cache_hits.clone(),
        );
        let cache_misses = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_misses",
            "Reads that went to the database, by cache",
            cache_misses.clone(),
        );
        let cache_entries = Family::<CacheLabels, Gauge>::default();
        registry.register(
            "cache_entries",
            "What a cache holds now, by cache",
            cache_entries.clone(),
        );
        let cache_bytes = Family::<CacheLabels, Gauge>::default();
        registry.register(
            "cache_bytes",
            "The bytes a cache counts for what it holds, by cache",
            cache_bytes.clone(),
        );
        let audit_last_run = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "audit_last_run_timestamp",
            "When the last periodic audit ended, whatever its outcome",
            Unit::Seconds,
            audit_last_run.clone(),
        );
        let audit_last_success = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "audit_last_success_timestamp",
            "When the last audit that found the whole log sound ended",
            Unit::Seconds,
            audit_last_success.clone(),
        );
        let audit_entries = Gauge::default();
        registry.register(
            "audit_entries",
            "Entries verified by the last successful audit",
            audit_entries.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "audit_failures",
            "Audits that found a bad row",
            audit_failures.clone(),
        );
        let audit_errors = Counter::default();
        registry.register(
            "audit_errors",
            "Audits that could not run (the database could not be read)",
            audit_errors.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            rate_limited,
            readiness_checks,
            checkpoint_entries,
            checkpoint_age,
            indexed,
            filter_bytes,
            unfiltered_runs,
            pool,
            registry_pool,
            cache_hits,
            cache_misses,
            cache_entries,
            cache_bytes,
            audit_last_run,
            audit_last_success,
            audit_entries,
            audit_failures,
            audit_errors,
            evidence_refused,
            nfc_taps,
            scans_recorded,
            scans_dropped,
            access_recorded,
            access_log_unsigned,
            changed_events,
            changed_kept: Mutex::new(BTreeSet::new()),
            subscription_deliveries,
            subscription_failures,
            streams_open,
            answer_bytes,
            cache_seen: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Counts an answered request.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts an NFC tap by what its check came to.
    pub fn nfc_tap(&self, check: &ledger::nfc::TapCheck) {
        use ledger::nfc::TapCheck;
        let outcome = match check {
            TapCheck::Accepted { .. } => "accepted",
            TapCheck::Replayed { .. } => "replayed",
            TapCheck::Refused(_) => "refused",
            TapCheck::Malformed(_) => "malformed",
            TapCheck::Unchecked(_) => "unchecked",
            TapCheck::Unconfirmed { .. } => "unconfirmed",
        };
        self.nfc_taps
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts scans kept.
    pub fn scans_recorded(&self, count: u64) {
        self.scans_recorded.inc_by(count);
    }

    /// Counts an answer recorded in the access log.
    pub fn access_recorded(&self) {
        self.access_recorded.inc();
    }

    /// Counts a failed access-log signing round.
    pub fn access_log_unsigned(&self) {
        self.access_log_unsigned.inc();
    }

    /// Counts a WebSocket subscription opened.
    pub fn stream_opened(&self) {
        self.streams_open.inc();
    }

    /// Counts a WebSocket subscription closed.
    pub fn stream_closed(&self) {
        self.streams_open.dec();
    }

    /// Counts a subscription's delivery a receiver took.
    pub fn subscription_delivered(&self) {
        self.subscription_deliveries.inc();
    }

    /// Counts a subscription's turn that delivered nothing.
    pub fn subscription_failed(&self) {
        self.subscription_failures.inc();
    }

    /// Counts scans not kept.
    pub fn scans_dropped(&self, count: u64) {
        self.scans_dropped.inc_by(count);
    }

    /// Counts a request refused by the rate limiter.
    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Counts a readiness check that asked the database.
    pub fn readiness_checked(&self) {
        self.readiness_checks.inc();
    }

    /// Sets the ledger gauges.
    pub fn ledger(&self, checkpoint: u64, age: Option<Duration>, indexed: u64) {
        self.checkpoint_entries
            .set(i64::try_from(checkpoint).unwrap_or(i64::MAX));
        self.checkpoint_age
            .set(age.map_or(f64::NAN, |age| age.as_secs_f64()));
        self.indexed.set(i64::try_from(indexed).unwrap_or(i64::MAX));
    }

    /// Sets the gauges of the lookup runs' filters.
    pub fn lookup_filters(&self, status: ledger_store::LookupFilterStatus) {
        self.filter_bytes
            .set(i64::try_from(status.bytes).unwrap_or(i64::MAX));
        self.unfiltered_runs
            .set(i64::try_from(status.unfiltered_runs).unwrap_or(i64::MAX));
    }

    /// The bytes the answers in flight hold.
    pub fn answer_bytes(&self, bytes: usize) {
        self.answer_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Notes what `/log/entries` served: each entry, and whether it was served as logged (an
    /// entry stored other than its leaf record commits to was not). Returns the changed entries
    /// not kept before, to log: each is logged once while it is kept, not once per request for
    /// it, so that asking for its bundle again and again (the answer is `no-store`) cannot flood
    /// the log; one served as logged again (restored) is no longer kept. At most 4,096 are kept;
    /// further ones are neither kept nor logged (`tagtrail audit` names every one).
    pub fn entries_served(
        &self,
        served: impl IntoIterator<Item = (LeafIndex, bool)>,
    ) -> Vec<LeafIndex> {
        let mut kept = self
            .changed_kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut new = Vec::new();
        for (leaf, as_logged) in served {
            if as_logged {
                if !kept.is_empty() {
                    kept.remove(&leaf);
                }
            } else if kept.len() < CHANGED_KEPT_AT_MOST && kept.insert(leaf) {
                new.push(leaf);
            }
        }
        self.changed_events
            .set(i64::try_from(kept.len()).unwrap_or(i64::MAX));
        new
    }

    /// How many rows of evidence of `kind` are refused now.
    pub fn evidence_refused(&self, kind: &'static str, count: usize) {
        self.evidence_refused
            .get_or_create(&KindLabels { kind })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Sets the pool gauges.
    pub fn pool(&self, status: deadpool_postgres::Status) {
        self.pool.set(status);
    }

    /// Sets the registry pool's gauges.
    pub fn registry_pool(&self, status: deadpool_postgres::Status) {
        self.registry_pool.set(status);
    }

    /// Records what a cache holds now.
    pub fn cache_size(&self, cache: &'static str, size: ledger_store::CacheSize) {
        let labels = CacheLabels { cache };
        let clamp = |value: usize| i64::try_from(value).unwrap_or(i64::MAX);
        self.cache_entries
            .get_or_create(&labels)
            .set(clamp(size.entries));
        self.cache_bytes
            .get_or_create(&labels)
            .set(clamp(size.bytes));
    }

    /// Brings a cache's counters up to `counts` (cumulative since the process started).
    pub fn cache(&self, cache: &'static str, counts: ledger_store::CacheCounts) {
        let mut seen = self
            .cache_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = seen.entry(cache).or_default();
        let labels = CacheLabels { cache };
        self.cache_hits
            .get_or_create(&labels)
            .inc_by(counts.hits.saturating_sub(before.hits));
        self.cache_misses
            .get_or_create(&labels)
            .inc_by(counts.misses.saturating_sub(before.misses));
        *before = counts;
    }

    /// Records an audit that found the log sound, ended at `at` (since the Unix epoch).
    pub fn audit_succeeded(&self, at: Duration, entries: u64) {
        self.audit_last_run.set(at.as_secs_f64());
        self.audit_last_success.set(at.as_secs_f64());
        self.audit_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    /// Records an audit that found a bad row, ended at `at`.
    pub fn audit_failed(&self, at: Duration) {
        self.audit_last_run.set(at.as_secs_f64());
        self.audit_failures.inc();
    }

    /// Records an audit that could not run, ended at `at`.
    pub fn audit_errored(&self, at: Duration) {
        self.audit_last_run.set(at.as_secs_f64());
        self.audit_errors.inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        service_kit::metrics::text(&self.registry)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_pool_gauges_follow_the_pool_status() {
        let metrics = Metrics::new();
        metrics.pool(deadpool_postgres::Status {
            max_size: 16,
            size: 16,
            available: 0,
            waiting: 3,
        });
        let text = metrics.encode().unwrap();
        for needle in [
            "trace_db_pool_connections{state=\"in_use\"} 16",
            "trace_db_pool_connections{state=\"idle\"} 0",
            "trace_db_pool_max_connections 16",
            "trace_db_pool_waiting_requests 3",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn the_registry_pool_has_gauges_of_its_own() {
        let metrics = Metrics::new();
        metrics.pool(deadpool_postgres::Status {
            max_size: 16,
            size: 1,
            available: 1,
            waiting: 0,
        });
        metrics.registry_pool(deadpool_postgres::Status {
            max_size: 2,
            size: 2,
            available: 0,
            waiting: 5,
        });
        let text = metrics.encode().unwrap();
        for needle in [
            "trace_registry_db_pool_connections{state=\"in_use\"} 2",
            "trace_registry_db_pool_connections{state=\"idle\"} 0",
            "trace_registry_db_pool_max_connections 2",
            "trace_registry_db_pool_waiting_requests 5",
            "trace_db_pool_max_connections 16",
            "trace_db_pool_waiting_requests 0",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}
