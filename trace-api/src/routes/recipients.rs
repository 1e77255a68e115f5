//! `GET /organisations/{organisation}/recipient-keys`: the X25519 keys an organisation registered
//! for the values sealed to it (`tagtrail recipient add`; `ledger::sealed`), so that a capturer
//! (a reader bridge, a site's own system, `tagtrail seal`) seals to the keys in use without asking
//! the organisation first. Each key comes in the form of the `.pub` file `tagtrail recipient
//! keygen` writes, ready for `tagtrail seal --recipient` and the bridge's `[sealing]` settings.
//!
//! The current keys and the retired ones are listed apart: ingest refuses a document that sends
//! a batch key to a retired key (`retiredRecipient`), and whoever holds data sealed before the
//! rotation learns which key opens it. Only public keys are listed, and only registered ones: a
//! consumer's own key (one per purchase) is never registered, so never shown. Answers are
//! revalidated on every use (`no-cache`): a retirement holds at ingest at once, and a capturer
//! should learn of it as soon. Bounded: each list holds at most [`MAX_LISTED`] keys (the oldest
//! current ones, the most recently retired ones), and `"truncated": true` says when one was cut.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use ledger::OrganisationId;
use registry::{RecipientKeyInfo, RegistryError};

/// The most keys each list of an answer holds: the current keys (the oldest first) and the most
/// recently retired ones. An organisation seals to a handful; `truncated` says when one was cut.
pub const MAX_LISTED: usize = 64;

use crate::problem::Problem;
use crate::startup::AppState;

/// `GET /organisations/{organisation}/recipient-keys`.
pub(super) async fn keys(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let asked = path.into_inner();
    let organisation = OrganisationId::parse(&asked).map_err(|error| {
        Problem::BadRequest(format!(
            "{:?} is not an organisation id: {error}",
            asked.chars().take(140).collect::<String>()
        ))
    })?;
    let client = state
        .registry
        .get()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    let client: &tokio_postgres::Client = &client;
    let keys = registry::published_recipient_keys(client, &organisation, MAX_LISTED)
        .await
        .map_err(|error| match error {
            RegistryError::NoSuchOrganisation(_) => Problem::NotFound(format!(
                "there is no organisation {}",
                organisation.as_str()
            )),
            RegistryError::Query(error) => Problem::unavailable(&error),
            other => Problem::internal(&other),
        })?;
    let mut answer = json!({
        "organisation": organisation.as_str(),
        "current": keys.current.iter().map(shown).collect::<Vec<Value>>(),
        "retired": keys.retired.iter().map(shown).collect::<Vec<Value>>(),
    });
    if keys.truncated {
        answer["truncated"] = json!(true);
    }
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-cache"))
        .json(answer))
}

/// One key as its `.pub` file has it, with when it was added (and retired).
fn shown(key: &RecipientKeyInfo) -> Value {
    let mut shown = json!({
        "algorithm": "x25519",
        "key": key.key.to_base64(),
        "addedAt": key.added_at.to_rfc3339(),
    });
    if let Some(retired_at) = key.retired_at {
        shown["retiredAt"] = json!(retired_at.to_rfc3339());
    }
    shown
}
