//! `GET /openapi.json`: the OpenAPI 3 description of this service (`trace-api/openapi.json`).

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};

/// The document, as kept in the repository.
pub const OPENAPI: &str = include_str!("../../openapi.json");

pub(super) async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "public, max-age=3600"))
        .body(OPENAPI)
}
