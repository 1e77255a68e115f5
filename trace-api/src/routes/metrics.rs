//! `GET /metrics`: the Prometheus text exposition; the ledger and pool gauges are read first.

use std::time::Duration;

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::startup::AppState;

/// How long reading the ledger gauges may take before the scrape goes on without them.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.pool(state.store.pool().status());
    state
        .metrics
        .cache("tiles", state.store.tile_cache_counts());
    state
        .metrics
        .cache("lookups", state.store.lookup_cache_counts());
    state
        .metrics
        .cache("lookup_filters", state.store.lookup_filter_counts());
    state
        .metrics
        .cache("entries", state.store.entry_cache_counts());
    state
        .metrics
        .lookup_filters(state.store.lookup_filter_status());
    state.metrics.cache("batches", state.batches.counts());
    state.metrics.cache("checkpoint", state.views.counts());
    match tokio::time::timeout(LEDGER_TIMEOUT, state.store.status()).await {
        Ok(Ok(status)) => state.metrics.ledger(
            status.checkpoint.map_or(0, |size| size.get()),
            status.checkpoint_age,
            status.indexed,
        ),
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
