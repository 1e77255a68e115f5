//! `GET /sealed/{commitment}/{recipient}`: what one recipient needs to open a sealed event value
//! (`ledger::sealed`): the value's wrapped field key and the batch key's envelope sealed to that
//! recipient's X25519 key. Both are ciphertext only that recipient's private key opens; the
//! service never holds a key that opens them.
//!
//! The recipient is part of the question, so that the answer never lists who else may read the
//! value; and every recipient gets an answer of the same shape: one the value is not sealed to
//! (or a value the service holds no keys for) gets a decoy (`ledger::sealed::Decoys`), an
//! envelope its key does not open, derived from a secret the database keeps (V26), the same
//! every time it asks. So whoever knows a public key cannot learn by asking whether the value
//! was sealed to it. A value whose keys were erased answers `410` with the time of the erasure
//! (the erasure record holds no personal data). Answers are never cached (`no-store`): an
//! erasure takes effect at once, for every client.

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
    let decoys = state
        .decoys
        .get_or_try_init(|| state.store.decoys())
        .await?;
    // The decoy is made whether or not it is answered, so that a recipient's answer does not
    // take less time than a stranger's.
    let decoy = decoys.envelope(&commitment, recipient);
    let (field_key, envelope) = match state.store.field_keys(&commitment).await? {
        FieldKeys::Kept {
            field_key,
            envelopes,
        } => {
            let envelope = envelopes
                .into_iter()
                .find(|envelope| envelope.recipient() == recipient)
                .unwrap_or(decoy);
            (field_key, envelope)
        }
        FieldKeys::Unknown => (decoys.field_key(&commitment), decoy),
        FieldKeys::Erased { at_unix_ms } => {
            return Err(Problem::Gone(format!(
                "the keys of sealed value {} were erased at {}: nobody can open it any more",
                commitment.to_hex(),
                UnixMillis::from_millis(at_unix_ms).to_rfc3339()
            )));
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({
            "commitment": commitment.to_hex(),
            "recipient": recipient.to_hex(),
            "fieldKey": STANDARD.encode(field_key.wrapped()),
            "envelope": STANDARD.encode(envelope.sealed_key()),
        })))
}
