//! The answers every actix-web service gives alike: `GET /health/live` and the `GET /metrics`
//! response.

use actix_web::HttpResponse;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use serde_json::json;

/// `GET /health/live`: the process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// The `GET /metrics` answer of a registry's text ([`crate::metrics::text`]): `500` when it
/// could not be written.
pub fn metrics_answer(text: Result<String, std::fmt::Error>) -> HttpResponse {
    match text {
        Ok(text) => HttpResponse::Ok()
            .insert_header((
                CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            ))
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
