//! `GET /health/live` (the process answers) and `GET /health/ready` (the database answers, has
//! this build's migrations, and holds a signed checkpoint to answer from).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::problem::ErrorChain;
use crate::startup::AppState;

/// How long the readiness check waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.readiness.answer(|| checked(&state)).await {
        None => {
            // Ready: the other answers are served. Evidence that did not verify is not, and
            // readiness says so (the reasons are in the log).
            let anchors: Vec<i64> = state
                .views
                .refused
                .anchors()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            let declarations: Vec<u64> = state
                .views
                .refused
                .declarations()
                .into_iter()
                .map(|(leaf, _)| leaf)
                .collect();
            if anchors.is_empty() && declarations.is_empty() {
                HttpResponse::Ok().json(json!({"status": "ready"}))
            } else {
                HttpResponse::Ok().json(json!({
                    "status": "ready",
                    "refusedEvidence": {"anchors": anchors, "declarations": declarations},
                    "note": "these rows do not verify and are not served (see the service's log)"
                }))
            }
        }
        Some(reason) => not_ready(reason),
    }
}

/// The readiness check, with a reason for the client when not ready (`None`: ready).
async fn checked(state: &AppState) -> Option<&'static str> {
    state.metrics.readiness_checked();
    match tokio::time::timeout(READY_TIMEOUT, check(state)).await {
        Ok(Ok(())) => None,
        Ok(Err(NotReady::NoCheckpoint)) => Some("the ledger has no signed checkpoint yet"),
        // The database's own words go to the log, never to whoever asks.
        Ok(Err(NotReady::Database(cause))) => {
            tracing::warn!(error = %cause, "not ready: the database cannot be read");
            Some("the database cannot be read (the cause is in the service's log)")
        }
        Err(_) => Some("the database did not answer within 2 s"),
    }
}

/// The newest readiness answer, reused for [`READINESS_REUSE`]: a flood of probes costs one
/// database check a second, never the pool.
pub type Readiness = service_kit::reused::Reused<Option<&'static str>>;

/// How long a readiness answer is reused.
pub const READINESS_REUSE: Duration = Duration::from_secs(1);

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
