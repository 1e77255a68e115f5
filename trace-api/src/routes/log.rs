//! The C2SP tlog-tiles read API (<https://c2sp.org/tlog-tiles>) for monitors and witnesses:
//! `GET /log/checkpoint`, `GET /log/tile/<L>/<N>[.p/<W>]` and `GET /log/tile/entries/<N>[.p/<W>]`.
//! The log's entries are its leaf records (a leaf hash is `SHA-256(0x00 || record)`).
//!
//! Caching as the large logs do it: the checkpoint changes every second (`no-cache`); a tile or
//! entry bundle at a given width never changes, so both full and partial ones are
//! `public, max-age=604800, immutable` (a partial one is only asked for by clients that saw a
//! checkpoint ending inside it).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};

use ledger::tiles::{EntryBundleId, TileId};

use crate::problem::Problem;
use crate::startup::AppState;

const IMMUTABLE: &str = "public, max-age=604800, immutable";

/// `GET /log/checkpoint`: the newest signed checkpoint, as published.
pub(super) async fn checkpoint(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    let checkpoint = state
        .store
        .latest_checkpoint()
        .await?
        .ok_or_else(|| Problem::NotFound("the log has no signed checkpoint yet".to_owned()))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(checkpoint.note))
}

/// `GET /log/tile/...`: a hash tile or an entry bundle.
pub(super) async fn tile(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let path = format!("tile/{}", path.into_inner());
    let bytes = if path.starts_with("tile/entries/") {
        let id = EntryBundleId::parse_path(&path)
            .map_err(|error| Problem::BadRequest(format!("{path}: {error}")))?;
        state.store.entry_bundle(id).await?
    } else {
        let id = TileId::parse_path(&path)
            .map_err(|error| Problem::BadRequest(format!("{path}: {error}")))?;
        state.store.tile(id).await?.map(|tile| tile.to_bytes())
    };
    let bytes = bytes
        .ok_or_else(|| Problem::NotFound(format!("{path}: the log has not grown that far")))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((CACHE_CONTROL, IMMUTABLE))
        .body(bytes))
}
