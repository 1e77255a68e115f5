//! The version headers of the EPCIS 2.0 REST binding (`GS1-EPCIS-Version`, `-Min`, `-Max` and the
//! CBV's), negotiated for every route that speaks the binding by `epcis::rest::check_versions`:
//! `406` (`NotAcceptableException`) for a version this service does not serve, `400` for a header
//! that is not a version. Nothing else of the request is looked at first.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use epcis::rest::{VersionProblem, check_versions};

use crate::error::{ExceptionType, Problem, ProblemViolation};

/// Refuses a request whose version headers cannot be served, before its handler runs.
pub(super) async fn negotiate(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let headers = request.headers();
    check_versions(|name| headers.get(name).and_then(|value| value.to_str().ok()))
        .map_err(VersionError)?;
    next.call(request).await
}

/// A refused version header.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct VersionError(VersionProblem);

impl VersionError {
    fn problem(&self) -> Problem {
        let (header, rule) = match &self.0 {
            VersionProblem::Malformed { header, .. } => (*header, "versionMalformed"),
            VersionProblem::Unsupported { header, .. } => (*header, "versionUnsupported"),
            VersionProblem::OutOfRange { header, .. } => (*header, "versionOutOfRange"),
        };
        // A version that does not parse cannot be served either: 406, which the REST binding
        // documents for every operation (400 it does not, for the reads).
        let title = if self.0.is_malformed() {
            "Malformed version header"
        } else {
            "Conflicting request and response headers"
        };
        let problem = Problem::new(
            ExceptionType::NotAcceptable,
            title,
            StatusCode::NOT_ACCEPTABLE,
            self.0.to_string(),
        );
        problem.with_violations(vec![ProblemViolation::new(
            None,
            header,
            rule,
            self.0.to_string(),
        )])
    }
}

impl ResponseError for VersionError {
    fn status_code(&self) -> StatusCode {
        StatusCode::NOT_ACCEPTABLE
    }

    fn error_response(&self) -> HttpResponse {
        self.problem().response()
    }
}
