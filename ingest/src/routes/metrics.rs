//! `GET /metrics`: the Prometheus text exposition. The ledger, signer and pool gauges are refreshed
//! first.

use std::time::Duration;

use actix_web::{HttpResponse, web};

use crate::error::ErrorChain;
use crate::startup::AppState;

/// How long reading the ledger gauges may take before the scrape goes on without them.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /metrics`.
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.pool(state.pool.status());
    state.metrics.store_pool(state.store.pool_status());
    state.metrics.signing(
        state.signing.refusal().is_some(),
        state.signing.published_size().map_or(0, |size| size.get()),
    );
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
    service_kit::http::metrics_answer(state.metrics.encode())
}

async fn read_ledger(state: &AppState) -> Result<LedgerGauges, String> {
    let status = state
        .store
        .status()
        .await
        .map_err(|e| ErrorChain(&e).to_string())?;
    Ok(LedgerGauges {
        entries: status.entries.get(),
        checkpoint: status.checkpoint.map_or(0, |size| size.get()),
        checkpoint_age: status.checkpoint_age,
        lookup_indexed: status.indexed,
        lookup_runs: status.lookup_runs,
    })
}

/// The ledger's gauges as read from the store.
struct LedgerGauges {
    entries: u64,
    checkpoint: u64,
    checkpoint_age: Option<Duration>,
    lookup_indexed: u64,
    lookup_runs: u64,
}
