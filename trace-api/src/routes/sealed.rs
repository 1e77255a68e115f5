//! `GET /sealed/{commitment}/{recipient}`: what one recipient needs to open a sealed event value
//! (`ledger::sealed`): the value's wrapped field key and the batch key's envelope sealed to that
//! recipient's X25519 key. Both are ciphertext only that recipient's private key opens; the
//! service never holds a key that opens them.
//!
//! The recipient is part of the question, so that the answer never lists who else may read the
//! value: a value the recipient cannot open and a value the service holds no keys for answer the
//! same `404`. Whoever already knows a public key can still ask whether it is one of a value's
//! recipients (`200` or `404`): a consumer's key should serve one purchase only. A value whose keys were erased answers `410` with the time of the erasure (the
//! erasure record holds no personal data). Answers are never cached (`no-store`): an erasure
//! takes effect at once, for every client.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use ledger::UnixMillis;
use ledger::sealed::{Commitment, RecipientKey};
use ledger_store::FieldKeys;

use crate::problem::Problem;
use crate::startup::AppState;

/// `GET /sealed/{commitment}/{recipient}`.
pub(super) async fn keys(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (commitment, recipient) = path.into_inner();
    let commitment = Commitment::parse_hex(&commitment).ok_or_else(|| {
        Problem::BadRequest(format!(
            "{commitment:?} is not a sealed value's commitment: give its 64 hex digits"
        ))
    })?;
    let recipient = RecipientKey::parse_hex(&recipient).ok_or_else(|| {
        Problem::BadRequest(format!(
            "{recipient:?} is not a recipient key: give the X25519 public key's 64 hex digits"
        ))
    })?;
    let none = || {
        Problem::NotFound(format!(
            "no keys of sealed value {} for recipient {}",
            commitment.to_hex(),
            recipient.to_hex()
        ))
    };
    match state.store.field_keys(&commitment).await? {
        FieldKeys::Kept {
            field_key,
            envelopes,
        } => {
            let envelope = envelopes
                .iter()
                .find(|envelope| envelope.recipient() == recipient)
                .ok_or_else(none)?;
            Ok(HttpResponse::Ok()
                .insert_header((CACHE_CONTROL, "no-store"))
                .json(json!({
                    "commitment": commitment.to_hex(),
                    "recipient": recipient.to_hex(),
                    "fieldKey": STANDARD.encode(field_key.wrapped()),
                    "envelope": STANDARD.encode(envelope.sealed_key()),
                })))
        }
        FieldKeys::Erased { at_unix_ms } => Err(Problem::Gone(format!(
            "the keys of sealed value {} were erased at {}: nobody can open it any more",
            commitment.to_hex(),
            UnixMillis::from_millis(at_unix_ms).to_rfc3339()
        ))),
        FieldKeys::Unknown => Err(none()),
    }
}
