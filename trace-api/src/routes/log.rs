//! The C2SP tlog-tiles read API (<https://c2sp.org/tlog-tiles>) for monitors and witnesses:
//! `GET /log/checkpoint`, `GET /log/tile/<L>/<N>[.p/<W>]` and `GET /log/tile/entries/<N>[.p/<W>]`.
//! The log's entries are its leaf records (a leaf hash is `SHA-256(0x00 || record)`). Beside them,
//! `GET /log/entries/<N>[.p/<W>]` serves the events those records commit to, so that a monitor can
//! recompute what depends on the events (the verifiable index, `routes/index.rs`).
//!
//! Caching as the large logs do it: the checkpoint changes every second (`no-cache`); a tile or
//! entry bundle at a given width never changes, so both full and partial ones are
//! `public, max-age=604800, immutable` (a partial one is only asked for by clients that saw a
//! checkpoint ending inside it). The events of an entry bundle are too, unless one of them is
//! stored other than its leaf record commits to (`no-store`: see `entries`).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};

use ledger::LeafIndex;
use ledger::index::monitor::binds;
use ledger::tiles::{EntryBundleId, TILE_WIDTH, TileId};

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

/// `GET /log/entries/<N>[.p/<W>]`: the events of the entries of entry bundle `N` (the entries
/// `tile/entries/<N>[.p/<W>]` holds the leaf records of), in leaf order, as a JSON array of
/// strings, each the event's text byte for byte as stored, never parsed: its SHA-256 is the event
/// digest its leaf record commits to. Only entries the newest checkpoint covers; as much event
/// text as one answer may load (`limits.max_answer_bytes`, `422` beyond), charged to the client.
///
/// A stored event changed behind the ledger's back is served as it is now stored, for the
/// monitors to name (their check of it against its leaf record fails), and the answer is then
/// `no-store` rather than immutable: the right bytes, once restored, must replace it everywhere.
/// Such an entry is logged once and counted (`trace_changed_events_served`) until it is served
/// as logged again.
/// An entry with no event stored is a `500`: a shorter array would not be the bundle's.
pub(super) async fn entries(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let path = format!("tile/entries/{}", path.into_inner());
    let id = EntryBundleId::parse_path(&path)
        .map_err(|error| Problem::BadRequest(format!("{path}: {error}")))?;
    let view = state.views.latest(&state.store).await?;
    let first = id.index() * TILE_WIDTH as u64;
    let end = first + u64::from(id.width());
    if end > view.size().get() {
        return Err(Problem::NotFound(format!(
            "{path}: the log's newest checkpoint covers {} entries",
            view.size()
        )));
    }
    let leaves: Vec<LeafIndex> = (first..end)
        .map(|leaf| LeafIndex::new(leaf).map_err(|error| Problem::BadRequest(error.to_string())))
        .collect::<Result<_, _>>()?;
    let budget = state.budget.answer_for(super::items::client(&request));
    let mut entries = view
        .stored_then(&leaves, &budget, &state.lane, 1, |entry| {
            let as_logged = binds(&entry.record, &entry.event).is_ok();
            Some((entry.leaf_index, as_logged, entry.event))
        })
        .await?;
    entries.sort_unstable_by_key(|(leaf, ..)| *leaf);
    if entries.len() != leaves.len() {
        return Err(Problem::Internal(format!(
            "{path}: {} of its {} events could be read",
            entries.len(),
            leaves.len()
        )));
    }
    let first_seen = state.metrics.entries_served(
        entries
            .iter()
            .map(|(leaf, as_logged, _)| (*leaf, *as_logged)),
    );
    if !first_seen.is_empty() {
        tracing::error!(
            entries = %first_seen.iter().map(LeafIndex::to_string).collect::<Vec<_>>().join(", "),
            "{path}: served events stored other than their leaf records commit to (run `tagtrail audit`)"
        );
    }
    let caching = if entries.iter().all(|(_, as_logged, _)| *as_logged) {
        IMMUTABLE
    } else {
        "no-store"
    };
    let texts: Vec<&str> = entries.iter().map(|(.., event)| &**event).collect();
    let body = serde_json::to_vec(&texts).map_err(|error| Problem::internal(&error))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, caching))
        .body(body))
}
