//! `GET /events/{hash}/bundle`: one event's proof bundle (`ledger::bundle::ProofBundle`, version
//! 2), proved to the newest checkpoint. The hash is the CBV 2.0 event hash as 64 hex digits or as
//! its `ni:///sha-256;...?ver=CBV2.0` URI.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};

use epcis::EventHash;

use ledger::bundle::TlogProof;
use ledger_store::StoredEntry;

use crate::problem::Problem;
use crate::proofs::{Attestations, event_bundle, inclusion};
use crate::reader::View;
use crate::startup::AppState;

/// Reads an event hash from a path segment.
pub(super) fn parse_hash(text: &str) -> Result<EventHash, Problem> {
    let parsed = if text.starts_with("ni:") {
        EventHash::parse_ni(text)
    } else {
        EventHash::parse_hex(text)
    };
    parsed.map_err(|error| {
        Problem::BadRequest(format!(
            "{text:?} is not an event hash ({error}): give 64 hex digits or ni:///sha-256;<hex>?ver=CBV2.0"
        ))
    })
}

/// The entry of an event hash and the view that proves it.
async fn provable_entry(state: &AppState, hash: &str) -> Result<(View, StoredEntry), Problem> {
    let hash = parse_hash(hash)?;
    let view = state.views.latest(&state.store).await?;
    let leaf = state.store.find_event(&hash).await?.ok_or_else(|| {
        Problem::NotFound(format!("the ledger holds no event {}", hash.to_ni_uri()))
    })?;
    if !view.holds(leaf) {
        return Err(Problem::NotYetProvable(format!(
            "event {} is entry {leaf}, which no checkpoint covers yet: retry in a second",
            hash.to_ni_uri()
        )));
    }
    let entry = state.store.entry(leaf).await?.ok_or_else(|| {
        Problem::Internal(format!("entry {leaf} was found by hash but cannot be read"))
    })?;
    Ok((view, entry))
}

/// `GET /events/{hash}/bundle`.
pub(super) async fn bundle(
    hash: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (view, entry) = provable_entry(&state, &hash).await?;
    let bundle = event_bundle(
        &view,
        &entry,
        &mut Attestations::new(&state.batches, &state.registry),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-cache"))
        .json(bundle))
}

/// `GET /events/{hash}/proof`: the entry's proof in the C2SP tlog-proof format, its leaf record
/// as the `extra` data (`text/plain`).
pub(super) async fn proof(
    hash: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (view, entry) = provable_entry(&state, &hash).await?;
    let inclusion = inclusion(&view, &entry).await?;
    let proof = TlogProof::of_leaf_record(
        entry.record.encode(),
        &inclusion,
        view.checkpoint.note.clone(),
    );
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header((
            actix_web::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        ))
        .body(proof.encode()))
}
