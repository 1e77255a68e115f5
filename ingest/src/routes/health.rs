//! `GET /health/live` (the process answers) and `GET /health/ready` (the database answers, has
//! every migration this build knows applied, unchanged (the store answers that), and holds the
//! tree of the newest checkpoint the log published (the checkpoint signer answers that)).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use ledger_store::{MigrationStatusError, SigningState};
use serde_json::json;

use crate::error::ErrorChain;
use crate::startup::AppState;

/// How long the readiness check waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a readiness answer is reused: a flood of probes costs one check a second.
pub const READINESS_REUSE: Duration = Duration::from_secs(1);

/// The newest readiness answer (`Err`: the reason it is not ready).
pub type Readiness = service_kit::reused::Reused<Result<(), String>>;

/// `GET /health/ready`: `200` when ready, else `503` with the reason.
pub(super) async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let answer = state
        .readiness
        .answer(|| async {
            match tokio::time::timeout(READY_TIMEOUT, check(&state)).await {
                Ok(answer) => answer,
                Err(_) => Err("the database did not answer within 2 s".to_owned()),
            }
        })
        .await;
    match answer {
        // Ready: captures are taken. Capture jobs whose records do not verify are not served,
        // and readiness names them (the reasons are in the log).
        Ok(()) => {
            let refused = state.refused_jobs.ids();
            if refused.is_empty() {
                HttpResponse::Ok().json(json!({"status": "ready"}))
            } else {
                HttpResponse::Ok().json(json!({
                    "status": "ready",
                    "refusedEvidence": {"captureJobs": refused},
                    "note": "these capture jobs do not verify and are not served (see the service's log)"
                }))
            }
        }
        Err(reason) => not_ready(&reason),
    }
}

fn not_ready(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((
            actix_web::http::header::RETRY_AFTER,
            crate::error::RETRY_AFTER,
        ))
        .json(json!({"status": "not ready", "reason": reason}))
}

async fn check(state: &AppState) -> Result<(), String> {
    if let Some(refusal) = state.signing.refusal() {
        return Err(refusal.to_string());
    }
    state.store.migration_status().await.map_err(|error| {
        // The database's own words (database, role and host names) go to the log only.
        tracing::warn!(error = %ErrorChain(&error), "not ready: the database cannot be read");
        match error {
            MigrationStatusError::Pool(_) => "the database cannot be reached (the cause is in \
                                                  the service's log)"
                .to_owned(),
            _ => "the database cannot be read, or lacks this build's migrations (the cause \
                      is in the service's log)"
                .to_owned(),
        }
    })?;
    match state.signing.state() {
        SigningState::Unchecked => Err(
            "the database has not been compared with the newest published checkpoint yet"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}
