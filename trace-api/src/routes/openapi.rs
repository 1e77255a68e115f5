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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    /// The document's reason codes are the verdict's rules, in their order: a rule added to
    /// `ledger::verdict::RULES` is one the document names.
    #[test]
    fn the_documented_reason_codes_are_the_rules() {
        let document: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let codes = &document["components"]["schemas"]["Verdict"]["properties"]["reasons"]["items"]
            ["properties"]["code"]["enum"];
        let rules: Vec<&str> = ledger::verdict::RULES
            .iter()
            .map(|rule| rule.code)
            .collect();
        assert_eq!(codes, &serde_json::json!(rules));
    }
}
