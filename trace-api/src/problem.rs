//! Errors of the HTTP handlers, answered as RFC 7807 problem details (`application/problem+json`).
//! A client mistake says what is wrong; anything else is an opaque `500` (or `503`: retry) whose
//! cause chain goes to the log, never to the client.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What a request could not be answered with.
#[derive(Debug)]
pub enum Problem {
    /// `400`: the request is malformed; the text says how.
    BadRequest(String),
    /// `404`: nothing by that name; the text says what was looked for.
    NotFound(String),
    /// `404` with `Retry-After`: it exists but no checkpoint covers it yet.
    NotYetProvable(String),
    /// `405` with `Allow: GET`: the resource exists, and the service only reads.
    MethodNotAllowed { allow: &'static str },
    /// `410`: it existed and was destroyed for good (a sealed value's keys, erased).
    Gone(String),
    /// `422`: the request is well-formed but asks for too much.
    TooMuch(String),
    /// `429`: the client's rate is exhausted; retry after so many seconds.
    RateLimited { retry_after: u64 },
    /// `429`: this client already holds `cap` open connections; this one is closed.
    TooManyConnections { cap: usize },
    /// `429`: this client already has `cap` answers loading events; retry when one is done.
    TooManyAnswers { cap: usize },
    /// `429`: this client's answers loaded more event text than its byte rate has paid back
    /// (`limits.answer_bytes_per_second`); retry after `retry_after` seconds.
    AnswerBytesSpent { retry_after: u64 },
    /// `503`: the database is unreachable or too slow; retry.
    Unavailable(String),
    /// `503`: the answer could not be recorded in the access log (`Some`: the cause, logged; a
    /// retry may succeed), or the service keeps none (`None`): nothing across items is answered
    /// unrecorded.
    Unrecorded(Option<String>),
    /// `503`: answers in flight hold the memory budget (`limits.max_inflight_bytes`); retry.
    Busy,
    /// `503`: another request of the same credential is changing what it keeps (named queries,
    /// subscriptions) and did not finish within a second; retry.
    Contended,
    /// `500`: a bug or corrupt data; the detail is logged, not shown.
    Internal(String),
    /// An exception of the EPCIS 2.0 REST binding (the query interface's errors), typed
    /// `epcisException:<name>` as the binding's OpenAPI document writes them.
    Epcis(EpcisException, String),
}

/// The EPCIS 2.0 REST binding's exceptions that the query interface answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpcisException {
    /// `400`: a parameter is unknown, repeated or malformed, or a page token is not valid.
    QueryParameter,
    /// `401`: no credential, or one that is unknown, expired or revoked.
    Unauthenticated,
    /// `403`: the credential does not reach what was asked.
    Forbidden,
    /// `404`: no such named query, subscription or event.
    NoSuchName,
    /// `409`: a named query of that name exists.
    ResourceAlreadyExists,
    /// `413`: the result would hold more events than `maxEventCount` or this service allows.
    QueryTooLarge,
    /// `413`: the query needs more work than this service does for one request.
    QueryTooComplex,
    /// `414`: the query string is longer than this service reads.
    UriTooLong,
    /// `406`: the client accepts no version this service answers in.
    NotAcceptable,
    /// `400`: a subscription's controls (`stream`, `schedule`) are missing, both given or
    /// malformed.
    SubscriptionControls,
}

impl EpcisException {
    /// The exception's name in `epcisException:<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Self::QueryParameter => "QueryParameterException",
            Self::Unauthenticated | Self::Forbidden => "SecurityException",
            Self::NoSuchName => "NoSuchNameException",
            Self::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            Self::QueryTooLarge => "QueryTooLargeException",
            Self::QueryTooComplex => "QueryTooComplexException",
            Self::UriTooLong => "URITooLongException",
            Self::NotAcceptable => "NotAcceptableException",
            Self::SubscriptionControls => "SubscriptionControlsException",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::QueryParameter => "Invalid query parameter",
            Self::Unauthenticated => "Unauthorised request",
            Self::Forbidden => "Access to resource forbidden",
            Self::NoSuchName => "Resource not found",
            Self::ResourceAlreadyExists => "A resource with the provided identifier already exists",
            Self::QueryTooLarge => "Query result too large",
            Self::QueryTooComplex => "Query too complex",
            Self::UriTooLong => "URI Too Long",
            Self::NotAcceptable => "Not acceptable",
            Self::SubscriptionControls => "Subscription error",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::QueryParameter | Self::SubscriptionControls => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NoSuchName => StatusCode::NOT_FOUND,
            Self::ResourceAlreadyExists => StatusCode::CONFLICT,
            Self::QueryTooLarge | Self::QueryTooComplex => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        }
    }
}

impl Problem {
    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "Bad request",
            Self::NotFound(_) => "Not found",
            Self::NotYetProvable(_) => "Not in a checkpoint yet",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::Gone(_) => "Gone",
            Self::TooMuch(_) => "Too much asked",
            Self::RateLimited { .. } => "Too many requests",
            Self::TooManyConnections { .. } => "Too many connections",
            Self::TooManyAnswers { .. } => "Too many answers in flight",
            Self::AnswerBytesSpent { .. } => "Too much loaded for this client",
            Self::Unavailable(_) | Self::Busy | Self::Unrecorded(_) => "Service unavailable",
            Self::Contended => "Another change under way",
            Self::Internal(_) => "Internal error",
            Self::Epcis(exception, _) => exception.title(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::NotFound(_) => "not-found",
            Self::NotYetProvable(_) => "not-yet-provable",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::Gone(_) => "gone",
            Self::TooMuch(_) => "too-much",
            Self::RateLimited { .. } => "rate-limited",
            Self::TooManyConnections { .. } => "too-many-connections",
            Self::TooManyAnswers { .. } => "too-many-answers",
            Self::AnswerBytesSpent { .. } => "answer-bytes-spent",
            Self::Unavailable(_) => "unavailable",
            Self::Busy => "busy",
            Self::Contended => "contended",
            Self::Unrecorded(_) => "unrecorded",
            Self::Internal(_) => "internal",
            Self::Epcis(exception, _) => exception.name(),
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest(text)
            | Self::NotFound(text)
            | Self::NotYetProvable(text)
            | Self::Gone(text)
            | Self::TooMuch(text)
            | Self::Epcis(_, text) => text.clone(),
            Self::MethodNotAllowed { allow } => format!("this resource answers {allow} only"),
            Self::RateLimited { retry_after } => {
                format!("this address sent too many requests: retry in {retry_after} s")
            }
            Self::TooManyConnections { cap } => format!(
                "this address already holds {cap} open connections: reuse one of them (this one is closed)"
            ),
            Self::TooManyAnswers { cap } => format!(
                "this address already has {cap} histories or bundles being loaded: ask again when one is answered"
            ),
            Self::AnswerBytesSpent { retry_after } => format!(
                "the histories and bundles this address asked for loaded more than its share of the service: retry in {retry_after} s"
            ),
            Self::Unavailable(_) => "the ledger database is unavailable: retry shortly".to_owned(),
            Self::Unrecorded(Some(_)) => {
                "the access log could not record this answer, and nothing \
                 across items is answered unrecorded: retry shortly"
                    .to_owned()
            }
            Self::Unrecorded(None) => "this service keeps no access log (access_log.url), and \
                 answers nothing across items unrecorded"
                .to_owned(),
            Self::Busy => {
                "the service is loading as much as it may for other answers: retry shortly"
                    .to_owned()
            }
            Self::Contended => "another request of this credential is changing its named queries \
                 or subscriptions: retry shortly"
                .to_owned(),
            Self::Internal(_) => "the server failed to answer; the error is logged".to_owned(),
        }
    }

    /// A `503` for a database that failed or was too slow (the cause is logged).
    pub fn unavailable(cause: &dyn std::error::Error) -> Self {
        Self::Unavailable(ErrorChain(cause).to_string())
    }

    /// A `500` (the cause is logged).
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        Self::Internal(ErrorChain(cause).to_string())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.title(), self.detail())
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) | Self::NotYetProvable(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Gone(_) => StatusCode::GONE,
            Self::TooMuch(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. }
            | Self::TooManyConnections { .. }
            | Self::TooManyAnswers { .. }
            | Self::AnswerBytesSpent { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy | Self::Contended | Self::Unrecorded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Epcis(exception, _) => exception.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unavailable(cause) | Self::Unrecorded(Some(cause)) => {
                tracing::warn!(cause = %cause, "answering 503");
            }
            Self::Internal(cause) => tracing::error!(cause = %cause, "answering 500"),
            _ => {}
        }
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        let retry = match self {
            Self::RateLimited { retry_after } | Self::AnswerBytesSpent { retry_after } => {
                Some(*retry_after)
            }
            Self::NotYetProvable(_)
            | Self::Unavailable(_)
            | Self::Unrecorded(Some(_))
            | Self::Busy
            | Self::Contended
            | Self::TooManyConnections { .. }
            | Self::TooManyAnswers { .. } => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let Self::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        if let Self::Epcis(EpcisException::Unauthenticated, _) = self {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tagtrail\""),
            ));
        }
        let kind = match self {
            Self::Epcis(exception, _) => format!("epcisException:{}", exception.name()),
            _ => format!("https://tagtrail.dev/problems/{}", self.kind()),
        };
        response.body(
            json!({
                "type": kind,
                "title": self.title(),
                "status": status.as_u16(),
                "detail": self.detail(),
            })
            .to_string(),
        )
    }
}

/// An error and its causes on one line (shared by every service).
pub use service_kit::ErrorChain;

impl From<ledger_store::ReadError> for Problem {
    fn from(error: ledger_store::ReadError) -> Self {
        match error {
            ledger_store::ReadError::Corrupt { .. } => Self::internal(&error),
            _ => Self::unavailable(&error),
        }
    }
}

impl From<ledger_store::ProveKeyError> for Problem {
    fn from(error: ledger_store::ProveKeyError) -> Self {
        match error {
            ledger_store::ProveKeyError::Read(error) => error.into(),
            // A head replaced long ago, or none yet: a later request reads a newer one.
            ledger_store::ProveKeyError::Gone { .. } | ledger_store::ProveKeyError::Uncommitted => {
                Self::Unavailable(error.to_string())
            }
            ledger_store::ProveKeyError::TooLarge { .. } => Self::TooMuch(error.to_string()),
            ledger_store::ProveKeyError::EmptyRange(_) => Self::internal(&error),
        }
    }
}

impl From<ledger_store::CheckpointStoreError> for Problem {
    fn from(error: ledger_store::CheckpointStoreError) -> Self {
        match error {
            ledger_store::CheckpointStoreError::Read(error) => error.into(),
            ledger_store::CheckpointStoreError::Pool(_)
            | ledger_store::CheckpointStoreError::Query(_) => Self::unavailable(&error),
            _ => Self::internal(&error),
        }
    }
}

impl From<crate::reader::ViewError> for Problem {
    fn from(error: crate::reader::ViewError) -> Self {
        match error {
            crate::reader::ViewError::Read(error) => error.into(),
            crate::reader::ViewError::Checkpoint(error) => error.into(),
            crate::reader::ViewError::NoCheckpoint => Self::NotYetProvable(
                "the ledger has no signed checkpoint yet: nothing can be proved".to_owned(),
            ),
            crate::reader::ViewError::Proof(ledger_store::ProofError::Read(error)) => error.into(),
            error @ crate::reader::ViewError::Proof(_) => Self::internal(&error),
            crate::reader::ViewError::Budget(exceeded @ crate::budget::Exceeded::Answer { .. }) => {
                Self::TooMuch(exceeded.to_string())
            }
            crate::reader::ViewError::Budget(crate::budget::Exceeded::Busy) => Self::Busy,
            crate::reader::ViewError::Lane(failed) => failed.into(),
        }
    }
}

impl From<crate::lane::LaneFailed> for Problem {
    fn from(failed: crate::lane::LaneFailed) -> Self {
        match failed {
            crate::lane::LaneFailed::Full => Self::Busy,
            failed @ crate::lane::LaneFailed::Failed => Self::internal(&failed),
        }
    }
}

impl From<crate::proofs::ProofsError> for Problem {
    fn from(error: crate::proofs::ProofsError) -> Self {
        match error {
            crate::proofs::ProofsError::Read(error) => error.into(),
            crate::proofs::ProofsError::Proof(ledger_store::ProofError::Read(error)) => {
                error.into()
            }
            crate::proofs::ProofsError::Registry(registry::ReadError::Query(_)) => {
                Self::unavailable(&error)
            }
            _ => Self::internal(&error),
        }
    }
}
