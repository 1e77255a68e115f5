//! The verifiable index for monitors (`ledger::index`, the format in `ledger/README.md`):
//! `GET /log/index/{root}`, the index head of that root (64 hex digits: the root a checkpoint's
//! `tagtrail-index` line commits to, in base64 there), and `GET /log/index/{root}/{key}`, the key
//! proof of a key's entries against it (`?from=&to=` narrow the range of leaf indices). With the
//! entries' events (`GET /log/entries/...`), anyone who follows the log recomputes the index and
//! checks it (`tagtrail index-monitor`).
//!
//! A head is content-addressed, so both answers never change (`immutable`). A head stays stored
//! for a while after newer checkpoints replace it (`ledger_store::HEAD_RETENTION`); after
//! that it is a `404`. A proof whose range more than `ledger_store::MAX_PROOF_PAGES` pages of a
//! run hold is a `422` asking for a narrower range.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use ledger::Hash;
use ledger::index::{IndexCommitment, IndexKey, KeyRange};

use crate::problem::Problem;
use crate::startup::AppState;

const IMMUTABLE: &str = "public, max-age=604800, immutable";

/// The query of `GET /log/index/{root}/{key}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProofQuery {
    /// The first leaf index of the range (default 0).
    from: Option<u64>,
    /// The leaf index the range ends before (default: every entry).
    to: Option<u64>,
}

/// Reads a root from a path: 64 lower-case hex digits.
fn root(text: &str) -> Result<Hash, Problem> {
    let refuse = || {
        Problem::BadRequest(format!(
            "{:?} is not an index root: expected 64 lower-case hex digits",
            text.chars().take(80).collect::<String>()
        ))
    };
    let lower_hex = |byte: u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
    if text.len() != 64 || !text.bytes().all(lower_hex) {
        return Err(refuse());
    }
    let mut bytes = [0; 32];
    for (at, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * at..2 * at + 2], 16).map_err(|_| refuse())?;
    }
    Ok(Hash::from_bytes(bytes))
}

/// The stored head of `root`, or a `404`.
async fn stored_head(state: &AppState, root: &Hash) -> Result<ledger::index::IndexHead, Problem> {
    state.store.index_head(root).await?.ok_or_else(|| {
        Problem::NotFound(format!(
            "no index head of root {} is stored: no checkpoint committed to it, or newer ones \
             replaced it long ago",
            root.to_hex()
        ))
    })
}

/// `GET /log/index/{root}`: the encoded index head of that root.
pub(super) async fn head(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let root = root(&path)?;
    let head = stored_head(&state, &root).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((CACHE_CONTROL, IMMUTABLE))
        .body(head.encode()))
}

/// `GET /log/index/{root}/{key}`: the encoded key proof of the key's entries in `from..to`
/// against the head of that root. What it holds (its pages and nodes, read from every run) is
/// charged to the client's byte rate, as the events of an answer are: a client varying `from`
/// to miss every cache pays for what each read.
pub(super) async fn proof(
    request: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ProofQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (root_text, key_text) = path.into_inner();
    let root = root(&root_text)?;
    let key: IndexKey = key_text
        .parse()
        .map_err(|error: ledger::index::KeyParseError| Problem::BadRequest(error.to_string()))?;
    let range = KeyRange {
        key,
        from: query.from.unwrap_or(0),
        to: query.to.unwrap_or(u64::MAX),
    };
    range
        .check()
        .map_err(|error| Problem::BadRequest(error.to_string()))?;
    let head = stored_head(&state, &root).await?;
    let (_, proofs) = state
        .store
        .prove_keys_at(&IndexCommitment::of_head(&head), &[range])
        .await?;
    let proof = proofs
        .into_iter()
        .next()
        .ok_or_else(|| Problem::Internal("no proof was read".to_owned()))?;
    let body = proof.encode();
    let budget = state.budget.answer_for(super::items::client(&request));
    budget
        .take(body.len())
        .await
        .map_err(crate::reader::ViewError::Budget)?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((CACHE_CONTROL, IMMUTABLE))
        .body(body))
}
