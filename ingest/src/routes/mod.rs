//! The HTTP routes.

mod capture;
mod health;
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
        .service(readable("/health/live", health::live))
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
