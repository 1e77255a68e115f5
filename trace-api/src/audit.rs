//! The periodic audit: every `[audit] interval`, the full audit `tagtrail audit` runs (without
//! `--rpc`) over the log this service serves, as the service's own read-only role, its results
//! exported as the `trace_audit_*` metrics ([`crate::metrics`]).
//!
//! It reads on a pool of its own ([`ledger_store::AUDIT_CONNECTIONS`] connections, no statement
//! timeout: the audit streams whole tables), so it never takes a request's connection, and it
//! recomputes event hashes on one thread besides the checking one, so it leaves the CPUs to the
//! requests.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use ledger_store::{AuditOptions, NoProgress, PoolSettings, Reader};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::DatabaseConfig;
use crate::metrics::Metrics;

/// Event-hashing threads of one audit, besides the checking thread.
const HASHING_THREADS: usize = 1;

/// Starts the audit loop: one audit at once, then one every `interval` after the previous ended,
/// until `cancel` fires (an audit under way is abandoned). `interval` must not be zero.
pub(crate) fn spawn(
    store: Reader,
    interval: Duration,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = run_once(&store, &metrics) => {}
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    });
}

/// Runs one audit and records its outcome.
async fn run_once(store: &Reader, metrics: &Metrics) {
    let options = AuditOptions {
        recompute_event_hashes: true,
        hashing_threads: HASHING_THREADS,
    };
    let started = std::time::Instant::now();
    let outcome = ledger_store::audit(
        store,
        options,
        registry::device_keys_in,
        Arc::new(NoProgress),
    )
    .await;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    match outcome {
        Ok(report) => match &report.problem {
            None => {
                tracing::info!(
                    entries = report.entries,
                    checkpoints = report.checkpoints,
                    seconds = started.elapsed().as_secs_f64(),
                    "audit passed"
                );
                metrics.audit_succeeded(now, report.entries);
            }
            Some(problem) => {
                tracing::error!(
                    entries = report.entries,
                    "audit FAILED: {problem} (a row changed behind the ledger's back, or a bug: see the AuditFailed runbook)"
                );
                metrics.audit_failed(now);
            }
        },
        Err(error) => {
            tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(error)),
                "the audit could not run; retrying after the interval"
            );
            metrics.audit_errored(now);
        }
    }
}

/// The audit's own pool on the configured database: a reader's read-only sessions, no statement
/// timeout.
pub(crate) fn build_store(database: &DatabaseConfig) -> anyhow::Result<Reader> {
    let mut pg_config = tokio_postgres::Config::from_str(database.url.expose_secret())
        .context("database.url is not a PostgreSQL connection URL")?;
    pg_config.application_name("tagtrail-trace-api-audit");
    Reader::build(
        pg_config,
        PoolSettings {
            max_size: ledger_store::AUDIT_CONNECTIONS,
            timeout: Some(database.connect_timeout),
            connect: None,
        },
    )
    .map(|store| store.with_lookup_filter_bytes(0))
    .context("Failed to set up the audit's database pool")
}
