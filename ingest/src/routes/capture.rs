//! `POST /capture`, `GET /capture/{captureID}`, `GET /capture`, `OPTIONS /capture`: the EPCIS 2.0
//! REST capture interface.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt as _;
use ledger::UnixMillis;
use ledger_store::SigningState;

use crate::auth::{self, AuthError, Caller};
use crate::capture::{self, ErrorBehaviour};
use crate::error::{CaptureError, ExceptionType, JobError, Problem, ProblemViolation};
use crate::jobs::{self, CaptureId, CaptureJob, NewJob, Receipt};
use crate::metrics::CaptureOutcome;
use crate::startup::AppState;
use registry::AllowedError;

/// The EPCIS and CBV versions this service speaks (`GS1-EPCIS-Version`, `GS1-CBV-Version`).
pub use epcis::rest::{CBV_VERSION, EPCIS_VERSION};
/// The header announcing the most events per capture.
pub const CAPTURE_LIMIT_HEADER: &str = "GS1-EPCIS-Capture-Limit";
/// The header announcing the largest capture body.
pub const CAPTURE_FILE_SIZE_LIMIT_HEADER: &str = "GS1-EPCIS-Capture-File-Size-Limit";

/// `POST /capture`.
pub(super) async fn capture(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let started = Instant::now();
    let created_at = now_millis();
    let result = capture_document(&state, &request, payload, created_at).await;
    let outcome = match &result {
        Ok((_, partial)) if *partial => CaptureOutcome::Partial,
        Ok(_) => CaptureOutcome::Accepted,
        Err(error) => outcome_of(error),
    };
    state.metrics.capture(outcome, started.elapsed());
    match result {
        Ok((response, _)) => response,
        Err(error) => {
            if !matches!(
                outcome,
                CaptureOutcome::Failed | CaptureOutcome::Unavailable
            ) {
                tracing::info!(status = error.problem().status, error = %error, "capture refused");
            }
            error.error_response()
        }
    }
}

fn outcome_of(error: &CaptureError) -> CaptureOutcome {
    match error.problem().status {
        400 => CaptureOutcome::Invalid,
        401 => CaptureOutcome::Unauthenticated,
        403 => CaptureOutcome::Forbidden,
        413 => CaptureOutcome::TooLarge,
        415 => CaptureOutcome::UnsupportedMediaType,
        503 => CaptureOutcome::Unavailable,
        _ => CaptureOutcome::Failed,
    }
}

/// The capture itself; the flag is whether some events were rejected (proceed).
async fn capture_document(
    state: &AppState,
    request: &HttpRequest,
    payload: web::Payload,
    created_at: u64,
) -> Result<(HttpResponse, bool), CaptureError> {
    check_published(state).await?;
    let headers = request.headers();
    check_media_type(headers)?;
    let behaviour = match headers.get(ErrorBehaviour::HEADER) {
        Some(value) => {
            ErrorBehaviour::parse(value.to_str().unwrap_or_default()).map_err(|error| {
                CaptureError::BadHeader {
                    header: ErrorBehaviour::HEADER,
                    message: error.to_string(),
                }
            })?
        }
        None => ErrorBehaviour::Rollback,
    };
    let credentials = auth::credentials(headers).map_err(CaptureError::Unauthenticated)?;
    let limits = state.limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if let Some(length) = declared.filter(|length| *length > limits.max_body_bytes) {
        return Err(body_too_large(&limits, length));
    }

    let (caller, generation) = {
        let client = state
            .pool
            .get()
            .await
            .map_err(|e| CaptureError::Unavailable(e.into()))?;
        auth::authenticate(&client, credentials)
            .await
            .map_err(|error| match error {
                AuthError::Refused(failure) => CaptureError::Unauthenticated(failure),
                AuthError::Database(error) => database_error(error),
            })?
    };

    let body = read_body(payload, &limits, declared.unwrap_or(0)).await?;
    let mut analysed = capture::analyse(&body, &limits)?;
    drop(body);
    analysed.check_custody_rules(UnixMillis::from_millis(created_at), limits.clock_skew);
    let signed = analysed.device_batch(&caller)?;
    // Only documents sealing values for recipients ask about retired keys (one statement).
    let recipients = analysed.recipients();
    if !recipients.is_empty() {
        let client = state
            .pool
            .get()
            .await
            .map_err(|e| CaptureError::Unavailable(e.into()))?;
        let retired = registry::retired_among(&**client, &recipients)
            .await
            .map_err(|error| match error {
                registry::RegistryError::Query(error) => {
                    database_error(registry::ReadError::Query(error).into())
                }
                other => database_error(
                    registry::ReadError::Corrupt {
                        what: "recipient key",
                        reason: other.to_string(),
                    }
                    .into(),
                ),
            })?;
        analysed.refuse_retired_recipients(&retired);
    }
    // Validation before location authorisation: a caller sending a document that is both invalid
    // and names another site's locations is told what is wrong with the document first (it is
    // authenticated already, and the validation says nothing about other sites).
    let decision = analysed.decide(behaviour)?;

    let locations = analysed.locations();
    if !locations.is_empty() {
        let keys: Vec<&str> = locations
            .iter()
            .flat_map(|location| location.candidates.iter().map(|key| key.as_str()))
            .collect();
        let device = match &caller {
            Caller::Device {
                device, restricted, ..
            } => Some((device, *restricted)),
            Caller::Site { .. } => None,
        };
        // One statement fewer when this caller named these locations before, in the same
        // registry generation as its authentication.
        let allowed = state
            .allowed
            .allowed(&state.pool, generation, caller.site(), device, &keys)
            .await
            .map_err(|error| match error {
                AllowedError::Pool(error) => CaptureError::Unavailable(error.into()),
                AllowedError::Read(error) => database_error(error.into()),
            })?;
        let forbidden = capture::forbidden(&locations, &allowed, &caller);
        if !forbidden.is_empty() {
            return Err(CaptureError::Forbidden(forbidden));
        }
    }

    if analysed.commissions() || analysed.recalls() {
        let parties = state
            .parties
            .get(&state.pool)
            .await
            .map_err(|error| match error {
                registry::PartiesError::Pool(error) => CaptureError::Unavailable(error.into()),
                registry::PartiesError::Read(error) => database_error(error.into()),
            })?;
        let reporter = parties.organisation_of(caller.site());
        let mut forbidden = analysed.foreign_commissioning(&parties, reporter);
        forbidden.extend(analysed.foreign_recalls(&parties, reporter));
        if !forbidden.is_empty() {
            return Err(CaptureError::Forbidden(forbidden));
        }
    }

    let batch = analysed.batch(
        &caller,
        signed,
        &decision.accepted,
        UnixMillis::from_millis(created_at),
    )?;
    let results = if batch.is_empty() {
        Vec::new()
    } else {
        state
            .sequencer
            .append(batch)
            .await
            .map_err(CaptureError::Append)?
    };

    let mut leaf_indexes: Vec<Option<u64>> = vec![None; analysed.len()];
    let mut receipts = Vec::with_capacity(decision.accepted.len());
    let mut appended = 0;
    for (&index, result) in decision.accepted.iter().zip(&results) {
        let leaf = result.leaf_index.get();
        leaf_indexes[index] = Some(leaf);
        if !result.existing {
            appended += 1;
        }
        let hash = analysed.hashes()[index]
            .map(|hash| hash.to_ni_uri())
            .unwrap_or_default();
        receipts.push(Receipt {
            event_index: index,
            event_id: analysed.document().events()[index]
                .event_id()
                .map(str::to_owned),
            event_hash: hash,
            leaf_index: leaf,
            duplicate: Some(result.existing),
            declares_erroneous: jobs::declares_erroneous(result.declares),
        });
    }
    let errors: Vec<Problem> = decision
        .rejected
        .iter()
        .map(|(index, violations)| {
            Problem::new(
                ExceptionType::Validation,
                "Invalid event",
                StatusCode::BAD_REQUEST,
                format!("event {index} was not stored"),
            )
            .with_violations(violations.clone())
        })
        .collect();
    let id = CaptureId::generate()
        .map_err(|error| CaptureError::Internal(format!("failed to read random bytes: {error}")))?;
    let finished_at = now_millis();
    // Written together with the jobs of other captures finishing now, durably, before the answer.
    state
        .jobs
        .record(&NewJob {
            id: &id,
            caller: &caller,
            behaviour,
            created_at_ms: created_at,
            finished_at_ms: finished_at,
            appended,
            leaf_indexes: &leaf_indexes,
            errors: &errors,
        })
        .await
        .map_err(database_error)?;
    let rejected = errors.len();
    state.metrics.events(
        appended as u64,
        (receipts.len() - appended) as u64,
        rejected as u64,
    );
    let job = CaptureJob {
        capture_id: id.to_string(),
        created_at: UnixMillis::from_millis(created_at).to_rfc3339(),
        finished_at: UnixMillis::from_millis(finished_at).to_rfc3339(),
        running: false,
        success: errors.is_empty(),
        capture_error_behaviour: behaviour.as_str(),
        errors: errors
            .iter()
            .filter_map(|problem| serde_json::to_value(problem).ok())
            .collect(),
        event_count: analysed.len(),
        appended,
        receipts: Some(receipts),
    };
    let response = HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/capture/{id}")))
        .insert_header(("GS1-EPCIS-Version", EPCIS_VERSION))
        .insert_header(("GS1-CBV-Version", CBV_VERSION))
        .json(job);
    Ok((response, rejected > 0))
}

/// Nothing is appended to a log whose database contradicts what it published: the entries would
/// take leaf indexes the published tree gave to others (a fork). When no comparison holds (the
/// database was away, and the one that answers now may be a restored backup), one is made now.
async fn check_published(state: &AppState) -> Result<(), CaptureError> {
    let mut signing = state.signing.state();
    if signing == SigningState::Unchecked {
        let _one_at_a_time = state.comparing.lock().await;
        if state.signing.state() == SigningState::Unchecked {
            // Its outcome is the gate's new state; an error leaves it unchecked.
            let _ = state.checkpointer.check().await;
        }
        signing = state.signing.state();
    }
    match signing {
        SigningState::Consistent { .. } => Ok(()),
        SigningState::Refused(refusal) => Err(CaptureError::LogBehindPublished(refusal)),
        SigningState::Unchecked => Err(CaptureError::NotChecked),
    }
}

fn database_error(error: crate::error::DatabaseError) -> CaptureError {
    if error.is_transient() {
        CaptureError::Unavailable(error)
    } else {
        CaptureError::Database(error)
    }
}

fn check_media_type(headers: &header::HeaderMap) -> Result<(), CaptureError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" | "application/ld+json" => Ok(()),
        _ => Err(CaptureError::UnsupportedMediaType(value.to_owned())),
    }
}

fn body_too_large(limits: &crate::config::Limits, length: usize) -> CaptureError {
    CaptureError::TooLarge {
        limits: Box::new(*limits),
        violation: ProblemViolation::new(
            None,
            "",
            "maxBodyBytes",
            format!(
                "the body has {length} bytes or more; at most {} are accepted per capture",
                limits.max_body_bytes
            ),
        ),
    }
}

/// Reads the whole body, refusing more than the limit. `declared` (the Content-Length, already
/// checked against the limit) sizes the buffer once instead of growing it chunk by chunk.
async fn read_body(
    mut payload: web::Payload,
    limits: &crate::config::Limits,
    declared: usize,
) -> Result<Vec<u8>, CaptureError> {
    let mut body = Vec::with_capacity(declared.min(limits.max_body_bytes));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            CaptureError::Invalid(vec![ProblemViolation::new(
                None,
                "",
                "body",
                format!("failed to read the request body: {error}"),
            )])
        })?;
        if body.len() + chunk.len() > limits.max_body_bytes {
            return Err(body_too_large(limits, body.len() + chunk.len()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `GET /capture/{captureID}`: a capture job of the caller's site, with its receipts.
pub(super) async fn get_job(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, JobError> {
    let site = job_reader_site(&state, &request).await?;
    let id = path.into_inner();
    let Some(capture_id) = CaptureId::parse(&id) else {
        return Err(JobError::NotFound(id));
    };
    let client = state
        .pool
        .get()
        .await
        .map_err(|e| JobError::Database(e.into()))?;
    match jobs::find(&state.store, &client, &state.sealer, &site, &capture_id)
        .await
        .map_err(JobError::Database)?
    {
        Some(Ok(job)) => Ok(HttpResponse::Ok()
            .insert_header(("GS1-EPCIS-Version", EPCIS_VERSION))
            .json(job)),
        Some(Err(reason)) => {
            state.refused_job(&id, &reason);
            Err(JobError::Unverified { id, reason })
        }
        None => Err(JobError::NotFound(id)),
    }
}

/// `GET /capture?perPage=N`: the caller's site's most recent capture jobs (default 30), newest
/// first, without receipts. `perPage` is brought into 1 to 1000 (the binding lets a server return
/// fewer than asked, and documents no `400` for this operation); one that is not an integer is a
/// `400`.
pub(super) async fn list_jobs(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, JobError> {
    let site = job_reader_site(&state, &request).await?;
    let per_page = match query.get("perPage") {
        Some(text) => text
            .trim()
            .parse::<i64>()
            .map(|n| n.clamp(1, 1000))
            .map_err(|_| JobError::BadParameter {
                name: "perPage",
                message: "a whole number (brought into 1 to 1000)".to_owned(),
            })?,
        None => 30,
    };
    let client = state
        .pool
        .get()
        .await
        .map_err(|e| JobError::Database(e.into()))?;
    // A job whose record does not verify is left out (and logged, counted, named by readiness).
    let list: Vec<jobs::CaptureJob> = jobs::recent(&client, &state.sealer, &site, per_page)
        .await
        .map_err(JobError::Database)?
        .into_iter()
        .filter_map(|job| {
            job.map_err(|(id, reason)| state.refused_job(&id, &reason))
                .ok()
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("GS1-EPCIS-Version", EPCIS_VERSION))
        .json(list))
}

async fn job_reader_site(
    state: &AppState,
    request: &HttpRequest,
) -> Result<ledger::SiteId, JobError> {
    let token = auth::bearer_token(request.headers()).map_err(JobError::Unauthenticated)?;
    let client = state
        .pool
        .get()
        .await
        .map_err(|e| JobError::Database(e.into()))?;
    auth::site_of_token(&client, &token)
        .await
        .map_err(|error| match error {
            AuthError::Refused(failure) => JobError::Unauthenticated(failure),
            AuthError::Database(error) => JobError::Database(error),
        })
}

/// `OPTIONS /capture`: the capture interface's settings.
pub(super) async fn options(state: web::Data<AppState>) -> HttpResponse {
    discovery(&[
        (
            "gs1-epcis-capture-limit",
            state.limits.max_events_per_document.to_string(),
        ),
        (
            "gs1-epcis-capture-file-size-limit",
            state.limits.max_body_bytes.to_string(),
        ),
        (
            "gs1-capture-error-behaviour",
            // The binding's value for a service that offers both behaviours.
            "all".to_owned(),
        ),
        ("allow", "OPTIONS, GET, POST".to_owned()),
    ])
}

/// `OPTIONS /capture/{captureID}`: the versions served and the methods allowed on a capture job.
pub(super) async fn job_options() -> HttpResponse {
    discovery(&[("allow", "OPTIONS, GET".to_owned())])
}

/// A `204` discovery answer: the version headers, then `extra`.
fn discovery(extra: &[(&'static str, String)]) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    for (name, value) in epcis::rest::DISCOVERY_VERSIONS {
        response.insert_header((name, value));
    }
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.insert_header((HeaderName::from_static(name), value));
        }
    }
    response.finish()
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
