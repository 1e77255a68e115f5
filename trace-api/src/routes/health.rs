//! `GET /health/live` (the process answers) and `GET /health/ready` (the database answers, has
//! this build's migrations, and holds a signed checkpoint to answer from).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::problem::ErrorChain;
use crate::startup::AppState;

/// How long the readiness check waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

pub(super) async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match tokio::time::timeout(READY_TIMEOUT, check(&state)).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(Err(NotReady::NoCheckpoint)) => not_ready("the ledger has no signed checkpoint yet"),
        // The database's own words go to the log, never to whoever asks.
        Ok(Err(NotReady::Database(cause))) => {
            tracing::warn!(error = %cause, "not ready: the database cannot be read");
            not_ready("the database cannot be read (the cause is in the service's log)")
        }
        Err(_) => not_ready("the database did not answer within 2 s"),
    }
}

/// Why the service is not ready.
enum NotReady {
    NoCheckpoint,
    /// The database failed (the cause, for the log).
    Database(String),
}

fn not_ready(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((actix_web::http::header::RETRY_AFTER, "1"))
        .json(json!({"status": "not ready", "reason": reason}))
}

async fn check(state: &AppState) -> Result<(), NotReady> {
    state
        .store
        .migration_status()
        .await
        .map_err(|error| NotReady::Database(ErrorChain(&error).to_string()))?;
    match state.store.latest_checkpoint().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(NotReady::NoCheckpoint),
        Err(error) => Err(NotReady::Database(ErrorChain(&error).to_string())),
    }
}
