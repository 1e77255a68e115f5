//! The access log's routes (`crate::access_log`, `ledger::access_log`):
//! - `GET /access-log/checkpoint`: its newest signed checkpoint (public);
//! - `GET /access-log/tile/<L>/<N>[.p/<W>]`: its hash tiles, C2SP tlog-tiles (public: the leaf
//!   hashes are salted by each entry's nonce, so they say nothing of what was asked), so that
//!   anyone can check each checkpoint extends the one before. Its entry bundles are not served:
//!   entries are private;
//! - `GET /access-log/entries?from=<leaf index>`: the caller's own entries (an access token's),
//!   each with its inclusion proof to the newest checkpoint, at most 100 a page (`nextFrom`).
//!   Listing one's own entries is not itself recorded.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};

use ledger::tiles::TileId;

use crate::problem::{EpcisException, Problem};
use crate::startup::AppState;

/// `GET /access-log/checkpoint`.
pub(super) async fn checkpoint(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let log = super::query::access_log(&state)?;
    let newest = log
        .newest()
        .ok_or_else(|| Problem::NotFound("the access log has no signed checkpoint yet".into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(newest.note.clone()))
}

/// `GET /access-log/tile/...`: a hash tile of the newest checkpoint's tree.
pub(super) async fn tile(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let log = super::query::access_log(&state)?;
    let path = format!("tile/{}", path.into_inner());
    if path.starts_with("tile/entries/") {
        return Err(Problem::NotFound(format!(
            "{path}: the access log's entries are private; a grantee lists its own at \
             /access-log/entries"
        )));
    }
    let id = TileId::parse_path(&path)
        .map_err(|error| Problem::BadRequest(format!("{path}: {error}")))?;
    let bytes = log.tile(id).ok_or_else(|| {
        Problem::NotFound(format!(
            "{path}: the access log's newest checkpoint holds no such tile"
        ))
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((CACHE_CONTROL, "public, max-age=604800, immutable"))
        .body(bytes))
}

/// `GET /access-log/entries?from=<leaf index>`.
pub(super) async fn entries(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate(&request, &state, None).await?;
    let log = super::query::access_log(&state)?;
    let mut from = None;
    for (name, value) in super::query::parameters(&request)? {
        match name.as_str() {
            "from" if from.is_some() => {
                return Err(Problem::Epcis(
                    EpcisException::QueryParameter,
                    "from is given twice".to_owned(),
                ));
            }
            "from" => {
                from = Some(value.parse::<u64>().map_err(|_| {
                    Problem::Epcis(
                        EpcisException::QueryParameter,
                        format!("from={value:?} is not a leaf index (a whole number)"),
                    )
                })?);
            }
            other => {
                return Err(Problem::Epcis(
                    EpcisException::QueryParameter,
                    format!("{other:?} is not a parameter of /access-log/entries (only from)"),
                ));
            }
        }
    }
    let listing = log
        .listing(access.token.as_str(), from.unwrap_or(0))
        .await?;
    let body = serde_json::to_vec(&listing).map_err(|error| Problem::internal(&error))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body))
}
