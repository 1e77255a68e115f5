//! `GET /metrics`: the Prometheus text exposition; the ledger and pool gauges are read first.

use std::time::Duration;

use actix_web::{HttpResponse, web};

use crate::startup::AppState;

/// How long reading the ledger gauges may take before the scrape goes on without them.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // The ledger store's pool, which answers take their connections from (`[database]
    // pool_size`), and the registry's small one, mostly spared by its caches.
    state.metrics.pool(state.store.pool_status());
    state.metrics.registry_pool(state.registry.status());
    let store = &state.store;
    for (cache, counts) in [
        ("tiles", store.tile_cache_counts()),
        ("lookups", store.lookup_cache_counts()),
        ("lookup_filters", store.lookup_filter_counts()),
        ("entries", store.entry_cache_counts()),
        ("batches", state.batches.counts()),
        ("checkpoint", state.views.counts()),
    ] {
        state.metrics.cache(cache, counts);
    }
    state.metrics.cache_size("tiles", store.tile_cache_size());
    state
        .metrics
        .cache_size("entries", store.entry_cache_size());
    state.metrics.lookup_filters(store.lookup_filter_status());
    state.metrics.answer_bytes(state.budget.in_flight_bytes());
    let refused = &state.views.refused;
    state
        .metrics
        .evidence_refused("anchor", refused.anchors().len());
    state
        .metrics
        .evidence_refused("declaration", refused.declarations().len());
    match tokio::time::timeout(LEDGER_TIMEOUT, state.store.status()).await {
        Ok(Ok(status)) => state.metrics.ledger(
            status.checkpoint.map_or(0, |size| size.get()),
            status.checkpoint_age,
            status.indexed,
        ),
        Ok(Err(error)) => tracing::warn!(error = %error, "failed to read the ledger gauges"),
        Err(_) => tracing::warn!("reading the ledger gauges timed out"),
    }
    service_kit::http::metrics_answer(state.metrics.encode())
}
