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
                .route(web::method(actix_web::http::Method::OPTIONS).to(capture::options)),
        )
        .service(
            web::resource("/capture/{capture_id}")
                .wrap(from_fn(versions::negotiate))
                .route(web::get().to(capture::get_job))
                .route(web::method(actix_web::http::Method::OPTIONS).to(capture::job_options)),
        )
        .service(web::resource("/health/live").route(web::get().to(health::live)))
        .service(web::resource("/health/ready").route(web::get().to(health::ready)))
        .service(web::resource("/metrics").route(web::get().to(metrics::metrics)));
}
