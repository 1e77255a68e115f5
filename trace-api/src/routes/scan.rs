//! `GET /01/{gtin}/21/{serial}` and `GET /00/{sscc}`: what a consumer's scan of a GS1 Digital
//! Link (the QR code on the product, the URL an NFC tag gives) reaches when the link's domain
//! resolves here. The answer is the verdict on the item (`ledger::verdict`: genuine,
//! suspicious, unknown or not anchored yet, with its reasons), its journey, and where its
//! history and the bundle that proves it are. The link's query string (its `linkType`, an NFC
//! tag's tap data) is passed through untouched: nothing of it changes the verdict yet.
//!
//! A link whose syntax or check digit is wrong is a `400` problem, never a page that says
//! "error"; an item no event names is answered, as `unknown`: the verdict is data.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use ledger::history::{Authority, History, HistoryEvent, Item};
use ledger::size::LeafIndex;
use ledger::verdict::{self, Facts};
use ledger_store::StoredEntry;

use super::items::{client, events_of, json_answer};
use crate::problem::Problem;
use crate::startup::AppState;

/// The domain the path is read under: the GS1 resolver's, whose Digital Links any domain may
/// stand in for (GS1 Digital Link 1.x: the path is what identifies).
const LINK_DOMAIN: &str = "https://id.gs1.org";

/// `GET /01/{gtin}/21/{serial}`, `GET /00/{sscc}`: the verdict on the item the link names.
pub(super) async fn verdict(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    // The path as sent (still percent-encoded): the Digital Link's own syntax decides.
    let link = format!("{LINK_DOMAIN}{}", request.uri().path());
    let item = Item::parse(&link).map_err(|error| {
        Problem::BadRequest(format!(
            "{} is not a GS1 Digital Link of one item: {error}",
            request.uri().path()
        ))
    })?;
    let view = state.views.latest(&state.store).await?;
    let history = events_of(
        &state,
        client(&request),
        &view,
        &item,
        state.limits.max_history_events,
    )
    .await?;
    let anchored = view
        .anchored
        .as_ref()
        .map(|anchored| anchored.consistency.old_size().get());
    let places = state
        .parties
        .places(&state.registry)
        .await
        .map_err(super::items::registry_problem)?;
    let judgement = judge(&history, &item, anchored, &places);
    // The link itself names the item for the other routes (an EPC URI would name one split of
    // its company prefix).
    let id = segment(&item.asked);
    let body = json!({
        "item": {
            "asked": item.asked,
            "form": item.form.name(),
            "epcs": item.epcs,
        },
        "verdict": judgement.verdict,
        "reasons": judgement.reasons,
        "checkpoint": {
            "treeSize": view.size().get(),
            "anchoredTreeSize": anchored,
        },
        "journey": history.events.iter().map(step).collect::<Vec<Value>>(),
        "links": {
            "history": format!("/items/{id}/history"),
            "bundle": format!("/items/{id}/bundle"),
        },
    });
    let body = serde_json::to_vec(&body).map_err(|error| Problem::internal(&error))?;
    Ok(json_answer(body))
}

/// The verdict on `item` from its history: an entry counts as withdrawn when an error
/// declaration of it with authority is in the history.
fn judge(
    history: &History<Arc<StoredEntry>>,
    item: &Item,
    anchored: Option<u64>,
    places: &registry::Places,
) -> verdict::Judgement {
    let authorised: HashSet<LeafIndex> = history
        .events
        .iter()
        .filter(|event| event.authority == Authority::Authorised)
        .map(|event| event.event.leaf)
        .collect();
    let declared: HashMap<LeafIndex, &[LeafIndex]> = history
        .events
        .iter()
        .map(|event| (event.event.leaf, event.event.payload.declared_by.as_slice()))
        .collect();
    let withdrawn = |leaf: LeafIndex| {
        declared.get(&leaf).is_some_and(|by| {
            by.iter()
                .any(|declaration| authorised.contains(declaration))
        })
    };
    let place = |location: &str| places.of(location);
    verdict::judge(&Facts {
        history,
        epcs: &item.epcs,
        anchored,
        place: &place,
        withdrawn: &withdrawn,
    })
}

/// One step of the journey as the scan shows it: when, what, where, who said so and whether
/// they had authority for it.
fn step(event: &HistoryEvent<Arc<StoredEntry>>) -> Value {
    let fields = &event.event.event;
    let id_of = |member: &str| {
        fields
            .get(member)
            .and_then(|place| place.get("id"))
            .cloned()
    };
    json!({
        "leafIndex": event.event.leaf.get(),
        "eventHash": event.event.payload.record.event_hash().to_ni_uri(),
        "eventTime": fields.get("eventTime"),
        "type": fields.get("type"),
        "action": fields.get("action"),
        "bizStep": fields.get("bizStep"),
        "disposition": fields.get("disposition"),
        "readPoint": id_of("readPoint"),
        "bizLocation": id_of("bizLocation"),
        "reportedBy": event.event.reporter,
        "authority": event.authority,
    })
}

/// An identifier as one path segment: every byte but the unreserved ones and `:` percent-encoded.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
