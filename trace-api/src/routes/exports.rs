//! `POST /exports`: the answer to an EPCIS query as one verifiable export (`ledger::bundle::
//! ExportBundle`): the events with their proofs to one checkpoint, the anchored checkpoint, the
//! index proofs that show no matching event was left out, and the FSMA 204 spreadsheet. A
//! regulator's request; `tagtrail verify` checks the file offline.

use std::collections::BTreeSet;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use epcis::document::Event;
use epcis::query::EventQuery;
use ledger::bundle::{
    ExportBundle, ExportFormat, ExportVersion, IndexEvidence, ProvenanceEvent, export_keys,
    fsma204_csv, manifest_text,
};
use ledger::index::{KeyProof, KeyRange};
use ledger::size::LeafIndex;
use ledger_store::StoredEntry;
use registry::{Permission, Role};

use crate::problem::{EpcisException, Problem};
use crate::reader::View;
use crate::startup::AppState;

/// The most bytes of a request body: the query's parameters.
pub const MAX_EXPORT_REQUEST: usize = 16 * 1024;

/// The parameters an export refuses: it holds the whole answer, in log order, and shows which
/// events match by what the events say.
const REFUSED: [(&str, &str); 6] = [
    (
        "perPage",
        "an export holds the whole answer: give no perPage",
    ),
    (
        "nextPageToken",
        "an export holds the whole answer: give no nextPageToken",
    ),
    (
        "orderBy",
        "an export lists events in log order: give no orderBy",
    ),
    (
        "orderDirection",
        "an export lists events in log order: give no orderDirection",
    ),
    (
        "eventCountLimit",
        "an export holds the whole answer: give no eventCountLimit",
    ),
    (
        "maxEventCount",
        "an export holds the whole answer: give no maxEventCount",
    ),
];

/// `POST /exports` with `{"query": {"<parameter>": "<value>", ...}}` (the parameters of
/// `GET /events`, decoded): the export, as an attachment. Regulators only.
pub(super) async fn create(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate(&request, &state, Some(Permission::Export)).await?;
    if access.role != Role::Regulator {
        return Err(Problem::Epcis(
            EpcisException::Forbidden,
            "exports are for regulators: a partner's token reads its own sites' events with GET /events"
                .to_owned(),
        ));
    }
    super::query::access_log(&state)?;
    // The body is read only for a regulator, and no further than a request may be long.
    let body = super::query::read_body(&request, body, MAX_EXPORT_REQUEST).await?;
    let pairs = read_request(&body)?;
    let query = EventQuery::parse(
        pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
    .map_err(|error| Problem::Epcis(EpcisException::QueryParameter, error.to_string()))?;
    if query.uses_record_time() {
        return Err(Problem::Epcis(
            EpcisException::QueryParameter,
            "an export shows which events match by what the events say, and the record time is \
             not in them: use GE_eventTime and LT_eventTime"
                .to_owned(),
        ));
    }
    let view = state.views.latest(&state.store).await?;
    let most = state.limits.max_history_events;
    let size = view.size().get();
    // The index's evidence and the leaves it lists, when the checkpoint commits to an index and
    // the query has keys; the entries after the index's size are searched as a query would.
    let (index, listed, searched_from) = match (
        export_keys(&query),
        ledger_store::commitment_of_note(&view.checkpoint.note),
    ) {
        (Some(keys), Some(commitment)) => {
            let ranges: Vec<KeyRange> = keys.iter().map(|(key, _)| KeyRange::all(*key)).collect();
            let (head, proofs) = view.store.prove_keys_at(&commitment, &ranges).await?;
            let mut listed = BTreeSet::new();
            for proof in &proofs {
                listed.extend(
                    proof
                        .verify(&head)
                        .map_err(|error| Problem::internal(&error))?,
                );
                if listed.len() > most {
                    return Err(too_large(most));
                }
            }
            let evidence = IndexEvidence {
                head: head.encode(),
                proofs: proofs.iter().map(KeyProof::encode).collect(),
            };
            (Some(evidence), listed, head.size().get())
        }
        _ => (None, BTreeSet::new(), 0),
    };
    let searched = match searched_from < size {
        true => {
            super::query::matching_leaves(
                &request,
                &state,
                &view,
                &access,
                &query,
                searched_from,
                most,
            )
            .await?
        }
        false => Vec::new(),
    };
    let mut leaves: BTreeSet<u64> = listed;
    leaves.extend(searched);
    if leaves.len() > most {
        return Err(too_large(most));
    }
    let leaves: Vec<LeafIndex> = leaves
        .into_iter()
        .filter_map(|leaf| LeafIndex::new(leaf).ok())
        .collect();
    let entries = load(&request, &state, &view, &leaves).await?;
    let refs: Vec<&StoredEntry> = entries.iter().collect();
    let events = super::items::provenance_events(&state, &view, &refs).await?;
    let matching: Vec<&ProvenanceEvent> = events
        .iter()
        .filter(|event| {
            Event::parse(event.event.as_bytes()).is_ok_and(|parsed| query.matches(&parsed, None))
        })
        .collect();
    let fsma204 = fsma204_csv(&matching);
    let bytes = events.iter().map(|event| event.event.len()).sum();
    // Recorded before anything of the export leaves; the answer names its entry.
    let entry = super::query::record_access(
        &state,
        &access,
        &request,
        Some(&body),
        matching.len(),
        view.size(),
    )
    .await?;
    let mut export = ExportBundle {
        format: ExportFormat,
        version: ExportVersion::V1,
        query: query.canonical().to_vec(),
        checkpoint: view.checkpoint.note.clone(),
        events,
        anchored: view.anchored.as_deref().cloned(),
        index,
        fsma204,
        manifest: None,
    };
    // The service's signed statement of what it exported, and when.
    if let Some(signer) = &state.export_signer {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let created = ledger::ids::UnixMillis::from_millis(millis).to_rfc3339();
        let text = manifest_text(&export, &created);
        let note = ledger::note::Note::sign(&text, &[signer.as_ref()])
            .map_err(|error| Problem::internal(&error))?;
        export.manifest = Some(note.to_message());
    }
    let body = state
        .lane
        .run_sized(bytes, move || serde_json::to_vec(&export))
        .await
        .map_err(|error| Problem::internal(&error))?
        .map_err(|error| Problem::internal(&error))?;
    let mut answer = super::items::json_answer(body);
    let headers = answer.headers_mut();
    headers.insert(
        header::HeaderName::from_static("tagtrail-access-entry"),
        HeaderValue::from(entry),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"tagtrail-export-{size}.json\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(answer)
}

fn too_large(most: usize) -> Problem {
    Problem::Epcis(
        EpcisException::QueryTooLarge,
        format!(
            "more than {most} events match the query or are listed under its keys: an export \
             carries at most {most}; narrow the query"
        ),
    )
}

/// The query's parameters from the request body: a JSON object whose `query` member maps each
/// parameter to its value (a string), and nothing else.
fn read_request(body: &[u8]) -> Result<Vec<(String, String)>, Problem> {
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    let request: Value = serde_json::from_slice(body)
        .map_err(|error| bad(format!("the request body is not JSON: {error}")))?;
    let Some(object) = request.as_object() else {
        return Err(bad(
            "the request body is not a JSON object: send {\"query\": {\"MATCH_anyEPC\": \"...\"}}"
                .to_owned(),
        ));
    };
    if let Some(other) = object.keys().find(|key| *key != "query") {
        return Err(bad(format!(
            "the request body has member {other:?}; it has only \"query\""
        )));
    }
    let Some(query) = object.get("query").and_then(Value::as_object) else {
        return Err(bad(
            "the request body has no \"query\" object of the query's parameters".to_owned(),
        ));
    };
    for name in query.keys() {
        if let Some((_, why)) = REFUSED.iter().find(|(refused, _)| refused == name) {
            return Err(bad((*why).to_owned()));
        }
    }
    super::query::query_pairs(query)
}

/// The entries of `leaves`, in their order; an entry whose stored event is not the one its
/// record commits to stops the export (it could only fail its proof).
async fn load(
    request: &HttpRequest,
    state: &AppState,
    view: &View,
    leaves: &[LeafIndex],
) -> Result<Vec<StoredEntry>, Problem> {
    if leaves.is_empty() {
        return Ok(Vec::new());
    }
    let budget = state.budget.answer_for(super::items::client(request));
    let loaded = view
        .entries_where(leaves, &budget, &state.lane, |_| true)
        .await?;
    let mut entries = Vec::with_capacity(loaded.len());
    for (entry, _) in loaded {
        // In log order, as an export lists them (checked below).
        if matches!(
            entry.binding(),
            ledger::record::EventBinding::Differs { .. }
        ) {
            return Err(Problem::Internal(format!(
                "entry {}'s stored event is not the one its record commits to",
                entry.leaf_index
            )));
        }
        entries.push(entry);
    }
    entries.sort_by_key(|entry| entry.leaf_index);
    if entries.len() != leaves.len() {
        return Err(Problem::Internal(format!(
            "{} of the export's {} entries could not be read",
            leaves.len() - entries.len(),
            leaves.len()
        )));
    }
    Ok(entries)
}
