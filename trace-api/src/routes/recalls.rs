//! `POST /recalls`: a brand recalls (or lifts the recall of) lots, containers or items, and the
//! recall is written into the ledger as the brand's own events, one per item it reaches, so that
//! every item's history, bundle and scan page say it first (`ledger::verdict`, `recalled`).
//!
//! The caller authenticates with its site's capture token (`tagtrail token create --site`): a
//! recall is its organisation's word, attested as any capture is, and only the brand of what it
//! names (the owner of the company prefix, or a delegate) may make it (`ledger::history`'s custody
//! authority; ingest refuses anyone else's). The service traces each named lot, container or item
//! forward through the whole ledger (`ledger::trace`: a lot's items, a container's contents, what
//! transformations made of them) and writes, through ingest with the caller's own token, EPCIS
//! ObjectEvents with the CBV disposition `recalled` (a lifting: `persistentDisposition` unsetting
//! it) naming every item and container reached that is the caller's brand's, the lots named in
//! the first event's `quantityList`. Items of other brands reached (a product another brand made
//! from a recalled lot) are counted, never named: their brands, or a regulator, recall them.
//!
//! The events' time is the request's `recalledAt`, so a retry of the same request captures the
//! same events, which ingest acknowledges as duplicates: nothing is recorded twice. A recall that
//! reaches more than a trace reads (`413`) writes nothing: recall its containers or items instead.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use epcis::document::Timestamp;
use ledger::OrganisationId;
use ledger::history::{Item, Parties};
use ledger::trace::{Direction, NodeKind, Span, Subject, TraceRequest};
use ledger::verdict::{MAX_RECALL_REASON, RECALL_NAMESPACE};
use registry::SiteToken;

use crate::problem::{EpcisException, Problem};
use crate::startup::AppState;

/// The most bytes of a request body.
pub const MAX_RECALL_REQUEST: usize = 16 * 1024;
/// The most lots, containers and items one request names.
pub const MAX_SCOPE: usize = 16;
/// The most EPCs one recall event names (a recall reaching more is several events).
pub const EPCS_PER_EVENT: usize = 500;
/// The longest location identifier a request gives.
const MAX_LOCATION_LEN: usize = 256;

/// What a recall request says.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RecallRequest {
    /// Lots (`urn:epc:class:lgtin:...`, or a Digital Link with `/10/<lot>`), containers and
    /// items (any identifier a history reads).
    scope: Vec<String>,
    /// Where the recall is made from: one of the caller's site's locations (its `readPoint` and
    /// `bizLocation`).
    location: String,
    /// When it takes effect: the events' `eventTime` (RFC 3339 with its offset).
    recalled_at: String,
    /// Why, in words a consumer reads on the scan page.
    #[serde(default)]
    reason: Option<String>,
    /// Lift the recall instead of making it.
    #[serde(default)]
    lift: bool,
}

/// `POST /recalls` with `{"scope": [...], "location": "...", "recalledAt": "...", "reason":
/// "...", "lift": false}` and `Authorization: Bearer <the site's capture token>`: `202` with what
/// was recalled and ingest's receipts.
pub(super) async fn create(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let (token, site) = authenticate(&request, &state).await?;
    let Some(capture_url) = state.recall_capture_url.clone() else {
        return Err(Problem::Unavailable(
            "this service writes no recalls: it has no ingest to capture them through \
             (recalls.capture_url)"
                .to_owned(),
        ));
    };
    // The body is read only for a caller with a valid token, and no further than a request
    // may be long.
    let body = match body.to_bytes_limited(MAX_RECALL_REQUEST).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            return Err(Problem::BadRequest(format!(
                "the request body could not be read: {error}"
            )));
        }
        Err(_) => {
            return Err(Problem::BadRequest(format!(
                "the request body is longer than {MAX_RECALL_REQUEST} bytes"
            )));
        }
    };
    let asked: RecallRequest = serde_json::from_slice(&body)
        .map_err(|error| Problem::BadRequest(format!("the request is not a recall: {error}")))?;
    let recall = Recall::read(asked)?;
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(super::items::registry_problem)?;
    let forbidden = |why: String| Problem::Epcis(EpcisException::Forbidden, why);
    let reporter = parties.organisation_of(&site).cloned().ok_or_else(|| {
        forbidden(format!(
            "site {site} belongs to no organisation: a recall is a brand's word"
        ))
    })?;
    for subject in &recall.scope {
        recall
            .check_brand(&parties, &reporter, subject)
            .map_err(forbidden)?;
    }

    // Every item and container of the brand's the recall reaches, as of the newest checkpoint.
    let view = state.views.latest(&state.store).await?;
    let budget = state.budget.answer_for(super::items::client(&request));
    let mut epcs: BTreeSet<String> = BTreeSet::new();
    let mut lots: Vec<String> = Vec::new();
    // Other brands' items and containers reached, each once however many traces reach it.
    let mut others: BTreeSet<String> = BTreeSet::new();
    let mut omitted = 0;
    for subject in &recall.scope {
        match subject {
            Subject::Lot { .. } => lots.push(subject.id()),
            Subject::Epc(id) => {
                epcs.insert(epc_uri(id, &parties));
            }
            Subject::Class(_) | Subject::Location(_) => {}
        }
        let traced = super::trace::run(
            &state,
            &view,
            &parties,
            None,
            &budget,
            TraceRequest {
                start: subject.clone(),
                direction: Direction::Forward,
                span: Span::ALL,
                max_events: state.limits.max_history_events,
                max_subjects: super::trace::MAX_TRACE_SUBJECTS,
            },
        )
        .await?;
        omitted += traced.omitted.values().sum::<usize>();
        for node in &traced.trace.nodes {
            if !matches!(node.kind, NodeKind::Item | NodeKind::Container) {
                continue;
            }
            let uri = epc_uri(&node.id, &parties);
            match parties.owner_of(&uri) {
                // A regulator recalls whatever the recall reaches.
                _ if parties.is_regulator(&reporter) => {
                    epcs.insert(uri);
                }
                Some(owner) if parties.acts_for(&reporter, owner) => {
                    epcs.insert(uri);
                }
                // Another brand's, or nobody's: what it is made of is not the caller's to say.
                _ => {
                    others.insert(uri);
                }
            }
        }
    }

    let document = recall.document(&epcs, &lots);
    let bytes = serde_json::to_vec(&document).map_err(|error| Problem::internal(&error))?;
    // The caller's own token captures: the events are its site's, as ingest attests them (the
    // client zeroes its copy when dropped).
    let client = Arc::new(capture_client::CaptureClient::new(
        &capture_url,
        capture_client::Credential::Token(token.expose()),
    ));
    drop(token);
    let reply = tokio::task::spawn_blocking(move || client.capture(&bytes, None))
        .await
        .map_err(|error| Problem::internal(&error))?
        .map_err(|error| {
            tracing::warn!(error = %error, "a recall's capture reached no ingest");
            Problem::Unavailable("ingest could not be reached to capture the recall: retry".into())
        })?;
    if reply.status != 202 {
        // Ingest's own problem (a location not the site's, a refused recall, ...), as it said it.
        let status = actix_web::http::StatusCode::from_u16(reply.status)
            .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
        return Ok(HttpResponse::build(status)
            .content_type("application/problem+json")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(reply.body.to_string()));
    }
    let answer = json!({
        "recall": if recall.lift { "lifted" } else { "recalled" },
        "reportedBy": reporter.as_str(),
        "scope": recall.scope.iter().map(Subject::id).collect::<Vec<_>>(),
        "recalledAt": recall.time,
        "epcs": epcs.len(),
        "lots": lots,
        "othersReached": others.difference(&epcs).count(),
        "omitted": omitted,
        "treeSize": view.size().get(),
        "captureID": reply.body["captureID"],
        "receipts": reply.body["receipts"],
    });
    Ok(HttpResponse::Accepted()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(answer.to_string()))
}

/// The caller's token and its site: a site's capture token, still valid (its secret's SHA-256
/// compared in constant time, not revoked). Anything else is `401`.
async fn authenticate(
    request: &HttpRequest,
    state: &AppState,
) -> Result<(SiteToken, ledger::SiteId), Problem> {
    let unauthenticated =
        |why: &str| Problem::Epcis(EpcisException::Unauthenticated, why.to_owned());
    let token = super::query::bearer_token(
        request,
        "a recall needs the capture token of a site of the brand: Authorization: Bearer <token> \
         (tagtrail token create --site)",
    )?;
    let client = state
        .registry
        .get()
        .await
        .map_err(|error| Problem::unavailable(&error))?;
    let record = registry::token_for_reader(&client, token.id())
        .await
        .map_err(|error| match error {
            registry::ReadError::Query(error) => Problem::unavailable(&error),
            corrupt => Problem::internal(&corrupt),
        })?;
    match record {
        Some(record) if record.accepts(&token) => Ok((token, record.site)),
        _ => Err(unauthenticated(
            "the token is not a site's capture token, or it was revoked",
        )),
    }
}

/// A recall request, checked.
#[derive(Debug)]
struct Recall {
    scope: Vec<Subject>,
    location: String,
    time: String,
    offset: String,
    reason: Option<String>,
    lift: bool,
}

impl Recall {
    /// Checks what a request says; a `400` names what is wrong.
    fn read(asked: RecallRequest) -> Result<Self, Problem> {
        let bad = |why: String| Problem::BadRequest(why);
        if asked.scope.is_empty() || asked.scope.len() > MAX_SCOPE {
            return Err(bad(format!(
                "scope names {} identifiers: give 1 to {MAX_SCOPE} lots, containers or items",
                asked.scope.len()
            )));
        }
        let mut scope = Vec::with_capacity(asked.scope.len());
        for (position, text) in asked.scope.iter().enumerate() {
            let subject =
                Subject::parse(text).map_err(|error| bad(format!("scope/{position}: {error}")))?;
            if let Subject::Location(_) | Subject::Class(_) = subject {
                return Err(bad(format!(
                    "scope/{position}: {text:?} is a place: a recall names lots, containers or \
                     items"
                )));
            }
            if !scope.contains(&subject) {
                scope.push(subject);
            }
        }
        if asked.location.is_empty()
            || asked.location.len() > MAX_LOCATION_LEN
            || asked.location.chars().any(char::is_control)
        {
            return Err(bad(format!(
                "location must be one of the site's location identifiers (at most \
                 {MAX_LOCATION_LEN} bytes)"
            )));
        }
        let time = Timestamp::parse(&asked.recalled_at).map_err(|error| {
            bad(format!(
                "recalledAt {:?} is not a date-time with its offset: {error}",
                asked.recalled_at.chars().take(64).collect::<String>()
            ))
        })?;
        // A recall reported later than custody authority's late-report window after its time
        // would be recorded and count for nothing: refused here, where the brand is told.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as i128);
        let window = ledger::history::authority::LATE_REPORT_WINDOW_SECONDS * 1_000_000_000;
        if now - time.unix_nanos() > window {
            return Err(bad(format!(
                "recalledAt {} is more than {} days ago: a recall reported that late has no \
                 authority; date it when it is made",
                asked.recalled_at,
                ledger::history::authority::LATE_REPORT_WINDOW_SECONDS / 86_400
            )));
        }
        let offset = offset_of(&asked.recalled_at)
            .ok_or_else(|| bad("recalledAt must end with Z or an offset ±hh:mm".to_owned()))?;
        if let Some(reason) = &asked.reason
            && (reason.trim().is_empty()
                || reason.chars().count() > MAX_RECALL_REASON
                || reason.chars().any(|c| c.is_control() && c != '\n'))
        {
            return Err(bad(format!(
                "reason must be 1 to {MAX_RECALL_REASON} characters of text"
            )));
        }
        Ok(Self {
            scope,
            location: asked.location,
            time: asked.recalled_at,
            offset,
            reason: asked.reason,
            lift: asked.lift,
        })
    }

    /// Why `reporter` may not recall `subject`, if it may not: only the owner of its company
    /// prefix (or a delegate), or a regulator. An item under no registered prefix is judged in the
    /// views (its first commissioner's); a lot under none has no brand.
    fn check_brand(
        &self,
        parties: &Parties,
        reporter: &OrganisationId,
        subject: &Subject,
    ) -> Result<(), String> {
        if parties.is_regulator(reporter) {
            return Ok(());
        }
        let id = subject.id();
        let owner = match subject {
            Subject::Lot { .. } => parties.class_owner(&id).ok_or_else(|| {
                format!("{id} is not a lot under a registered company prefix: nobody may recall it")
            })?,
            _ => match parties.owner_of(&id) {
                Some(owner) => owner,
                None => return Ok(()),
            },
        };
        match parties.acts_for(reporter, owner) {
            true => Ok(()),
            false => Err(format!(
                "{id} is {owner}'s, not {reporter}'s: only its brand may recall it"
            )),
        }
    }

    /// The EPCIS document that records the recall: events of at most [`EPCS_PER_EVENT`] EPCs,
    /// the lots in the first one's `quantityList`.
    fn document(&self, epcs: &BTreeSet<String>, lots: &[String]) -> Value {
        let epcs: Vec<&String> = epcs.iter().collect();
        let mut chunks: Vec<&[&String]> = epcs.chunks(EPCS_PER_EVENT).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let events: Vec<Value> = chunks
            .iter()
            .enumerate()
            .map(|(position, chunk)| {
                let mut event = json!({
                    "@context": [{"recall": RECALL_NAMESPACE}],
                    "type": "ObjectEvent",
                    "eventTime": self.time,
                    "eventTimeZoneOffset": self.offset,
                    "epcList": chunk,
                    "action": "OBSERVE",
                    "readPoint": {"id": self.location},
                    "bizLocation": {"id": self.location},
                });
                match self.lift {
                    false => event["disposition"] = json!("recalled"),
                    true => event["persistentDisposition"] = json!({"unset": ["recalled"]}),
                }
                if position == 0 && !lots.is_empty() {
                    event["quantityList"] =
                        lots.iter().map(|lot| json!({"epcClass": lot})).collect();
                }
                if let Some(reason) = &self.reason {
                    event["recall:reason"] = json!(reason);
                }
                event
            })
            .collect();
        json!({
            "@context": [
                "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                {"recall": RECALL_NAMESPACE}
            ],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": self.time,
            "epcisBody": {"eventList": events},
        })
    }
}

/// The offset an RFC 3339 time ends with, as EPCIS writes `eventTimeZoneOffset`.
fn offset_of(time: &str) -> Option<String> {
    if time.ends_with('Z') || time.ends_with('z') {
        return Some("+00:00".to_owned());
    }
    let offset = time.get(time.len().checked_sub(6)?..)?;
    let bytes = offset.as_bytes();
    (matches!(bytes[0], b'+' | b'-')
        && bytes[1..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b':'
        && bytes[4..6].iter().all(u8::is_ascii_digit))
    .then(|| offset.to_owned())
}

/// The EPC URI events name an item or container by: its Digital Link's EPC URI under the
/// registered company prefix, when there is exactly one; else the identifier as the trace gave it.
fn epc_uri(id: &str, parties: &Parties) -> String {
    match Item::parse(id).map(|item| item.narrowed(parties)) {
        Ok(item) if item.epcs.len() == 1 => item.epcs[0].clone(),
        _ => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> Result<Recall, Problem> {
        Recall::read(serde_json::from_value(body).unwrap())
    }

    /// An hour ago as a UTC time, written with `offset` (`Z`, or another offset after the same
    /// digits: then hours earlier still, and still in the past).
    fn an_hour_ago(offset: &str) -> String {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let utc = ledger::UnixMillis::from_millis(u64::try_from(millis).unwrap() - 3_600_000)
            .to_rfc3339();
        match offset {
            "Z" => utc,
            _ => format!("{}{offset}", &utc[..utc.len() - 1]),
        }
    }

    #[test]
    fn a_request_is_read_with_its_offset_and_bad_ones_are_refused_naming_why() {
        let recall = request(json!({"scope": ["urn:epc:class:lgtin:0614141.107346.L1"],
            "location": "urn:epc:id:sgln:0614141.00001.0",
            "recalledAt": an_hour_ago("+08:00"), "reason": "possible listeria"}))
        .unwrap();
        assert_eq!(recall.offset, "+08:00");
        assert!(matches!(recall.scope[0], Subject::Lot { .. }));
        let refused = |body: Value, says: &str| match request(body) {
            Err(Problem::BadRequest(why)) => assert!(why.contains(says), "{why}"),
            other => panic!("{other:?}"),
        };
        let with = |member: &str, value: Value| {
            let mut body = json!({"scope": ["urn:epc:id:sgtin:0614141.107346.1"],
                "location": "urn:epc:id:sgln:0614141.00001.0",
                "recalledAt": an_hour_ago("Z")});
            body[member] = value;
            body
        };
        refused(with("scope", json!([])), "give 1 to 16");
        refused(
            with(
                "scope",
                json!(vec!["urn:epc:id:sgtin:0614141.107346.1"; 17]),
            ),
            "give 1 to 16",
        );
        refused(
            with("scope", json!(["urn:epc:id:sgln:0614141.00001.0"])),
            "is a place",
        );
        refused(
            with("scope", json!(["https://id.gs1.org/01/10614141073464"])),
            "whole product",
        );
        refused(with("scope", json!(["nonsense"])), "scope/0");
        refused(
            with("recalledAt", json!("2026-03-01T10:00:00")),
            "recalledAt",
        );
        refused(
            with("recalledAt", json!("2020-01-01T00:00:00Z")),
            "more than 30 days ago",
        );
        refused(with("location", json!("")), "location");
        refused(with("reason", json!(" ")), "reason");
        refused(
            with("reason", json!("x".repeat(MAX_RECALL_REASON + 1))),
            "reason",
        );
        refused(with("reason", json!("a\u{0}b")), "reason");
        // Unknown members are refused when the body is read.
        assert!(serde_json::from_value::<RecallRequest>(with("scopes", json!([]))).is_err());
    }

    #[test]
    fn the_document_names_at_most_so_many_epcs_an_event_and_the_lots_once() {
        let recall = request(json!({"scope": ["urn:epc:class:lgtin:0614141.107346.L1"],
            "location": "urn:epc:id:sgln:0614141.00001.0",
            "recalledAt": an_hour_ago("Z"), "reason": "why"}))
        .unwrap();
        let epcs: BTreeSet<String> = (0..EPCS_PER_EVENT + 1)
            .map(|serial| format!("urn:epc:id:sgtin:0614141.107346.{serial}"))
            .collect();
        let lots = ["https://id.gs1.org/01/10614141073464/10/L1".to_owned()];
        let document = recall.document(&epcs, &lots);
        let events = document["epcisBody"]["eventList"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0]["epcList"].as_array().unwrap().len(),
            EPCS_PER_EVENT
        );
        assert_eq!(events[1]["epcList"].as_array().unwrap().len(), 1);
        assert_eq!(events[0]["quantityList"][0]["epcClass"], lots[0]);
        assert!(events[1].get("quantityList").is_none());
        for event in events {
            assert_eq!(event["disposition"], "recalled");
            assert_eq!(event["recall:reason"], "why");
            assert_eq!(event["eventTimeZoneOffset"], "+00:00");
            // As the authority rules and the verdict read it: a recall.
            let fields = event.as_object().unwrap();
            assert_eq!(
                ledger::history::recall_change(fields),
                Some(ledger::history::RecallChange::Recalled)
            );
        }
        // A lifting, of a lot no item of which is known yet: one event, the lot alone.
        let mut lifting = recall;
        lifting.lift = true;
        let document = lifting.document(&BTreeSet::new(), &lots);
        let events = document["epcisBody"]["eventList"].as_array().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            ledger::history::recall_change(events[0].as_object().unwrap()),
            Some(ledger::history::RecallChange::Lifted)
        );
    }
}
