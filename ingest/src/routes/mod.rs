//! The HTTP routes.

mod capture;
pub(crate) mod health;
mod metrics;
mod versions;

pub use capture::{
    CAPTURE_FILE_SIZE_LIMIT_HEADER, CAPTURE_LIMIT_HEADER, CBV_VERSION, EPCIS_VERSION,
};

use actix_web::middleware::from_fn;
use actix_web::web;

/// Registers every route of the service.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/capture")
                .wrap(from_fn(versions::negotiate))
                .route(web::post().to(capture::capture))
                .route(web::get().to(capture::list_jobs))
                .route(web::head().to(capture::list_jobs))
                .route(web::method(actix_web::http::Method::OPTIONS).to(capture::options)),
        )
        .service(
            web::resource("/capture/{capture_id}")
                .wrap(from_fn(versions::negotiate))
                .route(web::get().to(capture::get_job))
                .route(web::head().to(capture::get_job))
                .route(web::method(actix_web::http::Method::OPTIONS).to(capture::job_options)),
        )
        .service(readable("/health/live", service_kit::http::live))
        .service(readable("/health/ready", health::ready))
        .service(readable("/metrics", metrics::metrics));
}

/// A resource answered for `GET` and `HEAD` (the same answer without its body, RFC 9110).
fn readable<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
}

/// Before anything else is done with a request: refuses the requests of a connection beyond its
/// client's cap of open connections (`[http] max_connections_per_client`; a client is an IPv4
/// address or an IPv6 /64) with `429` and closes it, whatever it asks (probes and scrapes on it
/// too, or opening connections to send probes would get around the cap); answers `404` for what
/// this listener does not serve (`service_kit::listeners`); and refuses requests over their
/// client's rate (`[limits] requests_per_second`, `burst`) with `429` and `Retry-After`, except
/// the operator routes on the operator's own listener.
pub async fn admit(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::http::StatusCode;
    use service_kit::listeners::Admission;

    use crate::error::{ExceptionType, Problem};

    let Some(state) = request
        .app_data::<web::Data<crate::startup::AppState>>()
        .cloned()
    else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    let too_many = |detail: String, retry_after: u64| {
        state.metrics.rate_limited();
        let mut response = Problem::new(
            ExceptionType::CaptureLimitExceeded,
            "Too many requests",
            StatusCode::TOO_MANY_REQUESTS,
            detail,
        )
        .response();
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(retry_after),
        );
        response
    };
    let over = request
        .conn_data::<service_kit::clients::ConnectionSlot>()
        .filter(|slot| slot.over())
        .map(service_kit::clients::ConnectionSlot::cap);
    if let Some(cap) = over {
        let mut response = too_many(
            format!(
                "this address already holds {cap} open connections: reuse one of them (this one is closed)"
            ),
            1,
        );
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(request.into_response(response));
    }
    let admission = state
        .routing
        .admit(request.app_config().local_addr(), request.path());
    if admission == Admission::NotHere {
        let response = Problem::new(
            ExceptionType::NoSuchName,
            "Not found",
            StatusCode::NOT_FOUND,
            service_kit::listeners::not_here(request.path()).to_owned(),
        )
        .response();
        return Ok(request.into_response(response));
    }
    if admission == Admission::Limited
        && let Some(peer) = request.peer_addr()
        && let Err(retry_after) = state.limiter.check(peer.ip(), std::time::Instant::now())
    {
        state.limiter.answer_late(retry_after).await;
        let mut response = too_many(
            format!(
                "this address sent more than {} requests a second: wait {retry_after} s",
                state.limits.requests_per_second
            ),
            retry_after,
        );
        // Closed too: a client over its rate must reconnect (accepted at a bounded rate) before
        // it can ask again.
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(request.into_response(response));
    }
    Ok(next.call(request).await?.map_into_boxed_body())
}
