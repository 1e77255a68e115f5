//! Errors of the HTTP handlers, answered as RFC 7807 problem details (`application/problem+json`)
//! with the EPCIS 2.0 exception types of the REST binding as their `type`.
//!
//! Client mistakes name what is wrong: each entry of `violations` gives the event's index in the
//! document (when the problem is inside an event), an RFC 6901 JSON pointer into the request body
//! (or the name of the header), a stable rule code and a message. Anything else is an opaque `500`
//! (or `503` when the database is unreachable: retry) whose cause chain goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::config::Limits;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The EPCIS 2.0 exception types used by the capture interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionType {
    /// The document (or a header) is not acceptable.
    Validation,
    /// The capture exceeds a limit.
    CaptureLimitExceeded,
    /// Missing, unknown or invalid credentials, or a forbidden location.
    Security,
    /// Neither `application/json` nor `application/ld+json`.
    UnsupportedMediaType,
    /// No such resource (a capture job), as the official OpenAPI document's schema names it.
    NoSuchName,
    /// The request asks for a version of the standards this service does not serve.
    NotAcceptable,
    /// Something went wrong on the server.
    Implementation,
}

impl ExceptionType {
    /// The problem `type` member.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Validation => "epcisException:ValidationException",
            Self::CaptureLimitExceeded => "epcisException:CaptureLimitExceededException",
            Self::Security => "epcisException:SecurityException",
            Self::UnsupportedMediaType => "epcisException:UnsupportedMediaTypeException",
            Self::NoSuchName => "epcisException:NoSuchNameException",
            Self::NotAcceptable => "epcisException:NotAcceptableException",
            Self::Implementation => "epcisException:ImplementationException",
        }
    }
}

/// The detail of a `403` capture: what the caller may not say, by the rules its violations break
/// (`location`, `commissioning`, `recall`), and that nothing was stored.
fn forbidden_detail(violations: &[ProblemViolation]) -> String {
    let mut said = Vec::new();
    for violation in violations {
        let what = match violation.rule.as_str() {
            "location" => "names locations the caller's site does not own",
            "commissioning" => "commissions EPCs of another organisation's company prefix",
            "recall" => "recalls what is not the caller's brand's",
            _ => "says what the caller may not say",
        };
        if !said.contains(&what) {
            said.push(what);
        }
    }
    format!("the document {}; nothing was stored", said.join(", and "))
}

/// One thing wrong with a request, located in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemViolation {
    /// The event's index in the document's event list, when the problem is inside an event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_index: Option<usize>,
    /// An RFC 6901 JSON pointer into the body, or the header's name for a header.
    pub pointer: String,
    /// A stable rule code (the validation rule codes of `epcis::validate::Rule`, and those of
    /// this service: see the crate README).
    pub rule: String,
    /// What is wrong, for people.
    pub message: String,
}

impl ProblemViolation {
    /// A violation of a rule of this service.
    pub fn new(
        event_index: Option<usize>,
        pointer: impl Into<String>,
        rule: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            event_index,
            pointer: pointer.into(),
            rule: rule.to_owned(),
            message: message.into(),
        }
    }

    /// A violation reported by the EPCIS validator.
    pub fn from_validation(violation: &epcis::validate::Violation) -> Self {
        Self {
            event_index: violation.event_index(),
            pointer: violation.pointer().to_owned(),
            rule: violation.rule().code().to_owned(),
            message: violation.message().to_owned(),
        }
    }
}

/// An RFC 7807 problem details body.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The EPCIS exception type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// The located problems, if any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ProblemViolation>,
}

impl Problem {
    /// A problem of `kind` with status `status`.
    pub fn new(
        kind: ExceptionType,
        title: &'static str,
        status: StatusCode,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.uri(),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            violations: Vec::new(),
        }
    }

    /// The same problem listing `violations`.
    pub fn with_violations(mut self, violations: Vec<ProblemViolation>) -> Self {
        self.violations = violations;
        self
    }

    /// The response carrying this problem; a `503` also says when to retry (`Retry-After`).
    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER)));
        }
        response.json(self)
    }
}

/// Why a credential was refused: the `401` cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// The header (or the JSON pointer, for a batch mismatch) at fault.
    pub pointer: String,
    /// The rule code: `credentials`, `token`, `deviceUnknown`, `deviceDisabled`, `signature`,
    /// `statement`, `batchSize`, `batchRoot`.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
}

impl AuthFailure {
    /// A refused credential.
    pub fn new(pointer: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            rule,
            message: message.into(),
        }
    }
}

/// Why a capture was refused or failed. Nothing is stored in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("invalid header {header}: {message}")]
    BadHeader {
        header: &'static str,
        message: String,
    },
    #[error("not authenticated: {}", .0.message)]
    Unauthenticated(AuthFailure),
    #[error("the caller may not speak for a location named in the document")]
    Forbidden(Vec<ProblemViolation>),
    #[error("the capture exceeds a limit")]
    TooLarge {
        /// Boxed: the limits are the largest part of the error, which every capture step returns.
        limits: Box<Limits>,
        violation: ProblemViolation,
    },
    #[error("the document is not a valid EPCIS 2.0 capture document")]
    Invalid(Vec<ProblemViolation>),
    #[error("the database is unavailable")]
    Unavailable(#[source] DatabaseError),
    #[error("failed to append the events to the ledger")]
    Append(#[source] ledger_store::AppendError),
    #[error("a database operation of the capture failed")]
    Database(#[source] DatabaseError),
    #[error("the capture failed: {0}")]
    Internal(String),
    /// The ledger database contradicts the newest checkpoint the log published (an older backup
    /// restored): appending to it would fork the log.
    #[error("captures are refused: {}", .0.summary())]
    LogBehindPublished(ledger_store::Refusal),
    /// The ledger database has not been compared with the newest published checkpoint yet (it
    /// did not answer since start-up).
    #[error(
        "captures wait until the ledger database is compared with the newest published checkpoint"
    )]
    NotChecked,
}

/// A failed database operation.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("failed to get a database connection")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database query failed")]
    Query(#[from] tokio_postgres::Error),
    #[error("a stored {what} is malformed: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// A task the request needed has stopped (the service is shutting down).
    #[error("the {0} has stopped")]
    Stopped(&'static str),
    /// One failure answered to several callers (the capture jobs written together).
    #[error(transparent)]
    Shared(std::sync::Arc<DatabaseError>),
}

impl From<ledger_store::ReadError> for DatabaseError {
    fn from(error: ledger_store::ReadError) -> Self {
        match error {
            ledger_store::ReadError::Pool(error) => Self::Pool(error),
            ledger_store::ReadError::Query(error) => Self::Query(error),
            ledger_store::ReadError::Corrupt { what, reason } => Self::Corrupt { what, reason },
            ledger_store::ReadError::Stopped => Self::Stopped("ledger reader"),
        }
    }
}

impl From<registry::ReadError> for DatabaseError {
    fn from(error: registry::ReadError) -> Self {
        match error {
            registry::ReadError::Query(error) => Self::Query(error),
            registry::ReadError::Corrupt { what, reason } => Self::Corrupt { what, reason },
        }
    }
}

impl DatabaseError {
    /// Whether retrying later may succeed (the database could not be reached or went away).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Pool(_) => true,
            Self::Query(error) => ledger_store::is_transient_postgres(error),
            Self::Corrupt { .. } => false,
            // Another replica, or this one restarted, can take the retry.
            Self::Stopped(_) => true,
            Self::Shared(error) => error.is_transient(),
        }
    }
}

impl CaptureError {
    /// The problem details answered.
    pub fn problem(&self) -> Problem {
        use ExceptionType as T;
        match self {
            Self::UnsupportedMediaType(found) => Problem::new(
                T::UnsupportedMediaType,
                "Unsupported media type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("capture documents must be sent as application/json or application/ld+json, not {found:?}"),
            )
            .with_violations(vec![ProblemViolation::new(
                None,
                "Content-Type",
                "mediaType",
                "use application/json or application/ld+json",
            )]),
            Self::BadHeader { header, message } => Problem::new(
                T::Validation,
                "Invalid request header",
                StatusCode::BAD_REQUEST,
                format!("{header}: {message}"),
            )
            .with_violations(vec![ProblemViolation::new(None, *header, "header", message.clone())]),
            Self::Unauthenticated(failure) => Problem::new(
                T::Security,
                "Unauthorised request",
                StatusCode::UNAUTHORIZED,
                failure.message.clone(),
            )
            .with_violations(vec![ProblemViolation::new(
                None,
                failure.pointer.clone(),
                failure.rule,
                failure.message.clone(),
            )]),
            Self::Forbidden(violations) => Problem::new(
                T::Security,
                "Access to resource forbidden",
                StatusCode::FORBIDDEN,
                forbidden_detail(violations),
            )
            .with_violations(violations.clone()),
            Self::TooLarge { violation, .. } => Problem::new(
                T::CaptureLimitExceeded,
                "Capture payload too large",
                StatusCode::PAYLOAD_TOO_LARGE,
                violation.message.clone(),
            )
            .with_violations(vec![violation.clone()]),
            Self::Invalid(violations) => Problem::new(
                T::Validation,
                "Invalid EPCIS document",
                StatusCode::BAD_REQUEST,
                format!(
                    "{} problem(s) found; nothing was stored",
                    violations.len()
                ),
            )
            .with_violations(violations.clone()),
            Self::Unavailable(_) => unavailable(),
            Self::Database(error) if error.is_transient() => unavailable(),
            Self::Append(error) if error.is_transient() => unavailable(),
            Self::Append(_) | Self::Database(_) | Self::Internal(_) => internal(),
            Self::LogBehindPublished(refusal) => Problem::new(
                T::Implementation,
                "Service unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{}: the log cannot take new events until its operator recovers the published tree; nothing was stored, retry later (retries never duplicate events)",
                    refusal.summary()
                ),
            ),
            Self::NotChecked => Problem::new(
                T::Implementation,
                "Service unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "the ledger database has not been checked against the log's newest published checkpoint yet; nothing was stored, retry later",
            ),
        }
    }
}

/// The seconds a `503` asks the client to wait before retrying.
pub const RETRY_AFTER: &str = "1";

fn unavailable() -> Problem {
    Problem::new(
        ExceptionType::Implementation,
        "Service unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "the ledger database is unavailable; nothing was acknowledged, retry later (retries never duplicate events)",
    )
}

/// A read (of capture jobs) that the database could not answer now.
fn read_unavailable() -> Problem {
    Problem::new(
        ExceptionType::Implementation,
        "Service unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "the ledger database is unavailable; retry later",
    )
}

fn internal() -> Problem {
    Problem::new(
        ExceptionType::Implementation,
        "A server-side error occurred",
        StatusCode::INTERNAL_SERVER_ERROR,
        "the capture failed; nothing was acknowledged",
    )
}

impl ResponseError for CaptureError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.problem();
        // The signer logs a refusal (once a minute while it lasts), not every capture it stops.
        let logged_elsewhere = matches!(self, Self::LogBehindPublished(_) | Self::NotChecked);
        if problem.status >= 500 && !logged_elsewhere {
            tracing::error!(error = %ErrorChain(self), "capture failed");
        }
        let mut response = problem.response();
        match self {
            Self::TooLarge { limits, .. } => {
                let headers = response.headers_mut();
                headers.insert(
                    header::HeaderName::from_static("gs1-epcis-capture-limit"),
                    HeaderValue::from(limits.max_events_per_document),
                );
                headers.insert(
                    header::HeaderName::from_static("gs1-epcis-capture-file-size-limit"),
                    HeaderValue::from(limits.max_body_bytes),
                );
            }
            Self::Unauthenticated(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"tagtrail\", TagTrail-Device realm=\"tagtrail\"",
                    ),
                );
            }
            _ => {}
        }
        response
    }
}

/// Why a capture job could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("not authenticated: {}", .0.message)]
    Unauthenticated(AuthFailure),
    #[error("no capture job {0:?} for this site")]
    NotFound(String),
    #[error("invalid query parameter {name}: {message}")]
    BadParameter { name: &'static str, message: String },
    #[error("failed to read capture jobs")]
    Database(#[source] DatabaseError),
    /// The job's record does not verify ([`crate::jobs::JobSealer`]): nothing of it is served.
    #[error("capture job {id:?} cannot be tied to the log: {reason}")]
    Unverified {
        id: String,
        reason: crate::jobs::SealError,
    },
}

impl ResponseError for JobError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadParameter { .. } => StatusCode::BAD_REQUEST,
            Self::Database(error) if error.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Unverified { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let problem = match self {
            Self::Unauthenticated(failure) => {
                return CaptureError::Unauthenticated(failure.clone()).error_response();
            }
            Self::NotFound(id) => Problem::new(
                ExceptionType::NoSuchName,
                "No such capture job",
                StatusCode::NOT_FOUND,
                format!("there is no capture job {id:?} of the caller's site"),
            ),
            Self::BadParameter { name, message } => Problem::new(
                ExceptionType::Validation,
                "Invalid query parameter",
                StatusCode::BAD_REQUEST,
                format!("{name}: {message}"),
            )
            .with_violations(vec![ProblemViolation::new(
                None,
                *name,
                "parameter",
                message.clone(),
            )]),
            Self::Unverified { id, reason } => Problem::new(
                ExceptionType::Implementation,
                "Capture job not verifiable",
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "the record of capture job {id:?} does not verify ({reason}): its receipts cannot be tied to the log, and are not served"
                ),
            ),
            Self::Database(error) => {
                tracing::error!(error = %ErrorChain(self), "reading capture jobs failed");
                if error.is_transient() {
                    read_unavailable()
                } else {
                    Problem::new(
                        ExceptionType::Implementation,
                        "A server-side error occurred",
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the capture jobs could not be read",
                    )
                }
            }
        };
        problem.response()
    }
}

/// An error and its causes on one line (shared by every service).
pub use service_kit::ErrorChain;
