//! `GET /metrics`: the Prometheus text exposition. The ledger and pool gauges are refreshed first.

use std::sync::LazyLock;
use std::time::Duration;

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpResponse, web};
use deadpool_postgres::GenericClient as _;

use crate::error::ErrorChain;
use crate::startup::AppState;

/// How long reading the ledger gauges may take before the scrape goes on without them.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(2);

static SELECT_LEDGER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT ({}),
                c.tree_size,
                extract(epoch FROM now() - c.signed_at)::float8,
                (SELECT coalesce(max(end_leaf), 0) FROM lookup_runs),
                (SELECT count(*) FROM lookup_runs)
         FROM (SELECT 1) AS one
         LEFT JOIN (SELECT tree_size, signed_at FROM checkpoints ORDER BY tree_size DESC LIMIT 1) c
             ON true",
        ledger::store::TREE_SIZE
    )
});

/// `GET /metrics`.
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.pool(state.pool.status());
    match tokio::time::timeout(LEDGER_TIMEOUT, read_ledger(&state)).await {
        Ok(Ok(gauges)) => {
            state
                .metrics
                .ledger(gauges.entries, gauges.checkpoint, gauges.checkpoint_age);
            state
                .metrics
                .lookups(gauges.lookup_indexed, gauges.lookup_runs);
        }
        Ok(Err(error)) => tracing::warn!(error = %error, "failed to read the ledger gauges"),
        Err(_) => tracing::warn!("reading the ledger gauges timed out"),
    }
    match state.metrics.encode() {
        Ok(text) => HttpResponse::Ok()
            .insert_header((
                CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            ))
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// The ledger's gauges as read from the database.
struct LedgerGauges {
    entries: u64,
    checkpoint: u64,
    checkpoint_age: Option<Duration>,
    lookup_indexed: u64,
    lookup_runs: u64,
}

async fn read_ledger(state: &AppState) -> Result<LedgerGauges, String> {
    let client = state
        .pool
        .get()
        .await
        .map_err(|e| ErrorChain(&e).to_string())?;
    let statement = client
        .prepare_cached(&SELECT_LEDGER)
        .await
        .map_err(|e| ErrorChain(&e).to_string())?;
    let row = client
        .query_one(&statement, &[])
        .await
        .map_err(|e| ErrorChain(&e).to_string())?;
    let entries: i64 = row.get(0);
    let checkpoint: Option<i64> = row.get(1);
    let age: Option<f64> = row.get(2);
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    Ok(LedgerGauges {
        entries: count(entries),
        checkpoint: checkpoint.map_or(0, count),
        checkpoint_age: age
            .filter(|age| age.is_finite() && *age >= 0.0)
            .map(Duration::from_secs_f64),
        lookup_indexed: count(row.get(3)),
        lookup_runs: count(row.get(4)),
    })
}
