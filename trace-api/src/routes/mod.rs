//! The HTTP interface. Every route answers JSON (or the C2SP tlog-tiles resources), errors as
//! RFC 7807 problems; every request passes the rate limiter and is counted by route template.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};

use crate::problem::Problem;
use crate::startup::AppState;

mod events;
mod health;
mod items;
mod log;
mod metrics;
mod openapi;

/// Registers every route.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/items/{id}/history", web::get().to(items::history))
        .route("/items/{id}/bundle", web::get().to(items::bundle))
        .route("/events/{hash}/bundle", web::get().to(events::bundle))
        .route("/events/{hash}/proof", web::get().to(events::proof))
        .route("/log/checkpoint", web::get().to(log::checkpoint))
        .route("/log/tile/{path:.+}", web::get().to(log::tile))
        .route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/openapi.json", web::get().to(openapi::document))
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, Problem> {
    Err(Problem::NotFound(
        "no such resource: see /openapi.json for this service's routes".to_owned(),
    ))
}

/// The rate limiter, the request timeout and the request metrics, around every route.
pub async fn around(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    // Probes and scrapes are never limited: they come from the operator.
    let limited = !(route.starts_with("/health") || route == "/metrics");
    if limited
        && let Some(peer) = request.peer_addr()
        && let Err(retry_after) = state.limiter.check(peer.ip(), started)
    {
        state.metrics.rate_limited();
        let response = Problem::RateLimited { retry_after }.error_response();
        state
            .metrics
            .request(&route, response.status().as_u16(), started.elapsed());
        return Ok(request.into_response(response));
    }
    let timeout = state.request_timeout;
    let response = match tokio::time::timeout(timeout, next.call(request)).await {
        Ok(response) => response?.map_into_boxed_body(),
        Err(_) => {
            // The handler is dropped; the framework answers the error (no request is kept for
            // it: a request shared with a dropped handler cannot be reused).
            let problem = Problem::Unavailable(format!("the request took longer than {timeout:?}"));
            state
                .metrics
                .request(&route, problem.status_code().as_u16(), started.elapsed());
            return Err(problem.into());
        }
    };
    state
        .metrics
        .request(&route, response.status().as_u16(), started.elapsed());
    Ok(response)
}
