//! `POST /exports`: the answer to an EPCIS query, or a recall trace, as one verifiable export
//! (`ledger::bundle::ExportBundle`): the events with their proofs to one checkpoint, the anchored
//! checkpoint, the index proofs that show no event of the answer was left out, the trace's graph
//! and flat list, and the FSMA 204 spreadsheet. A regulator's request; `tagtrail verify` checks
//! the file offline.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use epcis::document::Event;
use epcis::query::EventQuery;
use ledger::bundle::{
    ExportBundle, ExportFormat, ExportVersion, IndexEvidence, ProvenanceEvent, TracedExport,
    export_keys, fsma204_csv, manifest_text,
};
use ledger::index::{IndexKey, KeyProof, KeyRange};
use ledger::size::LeafIndex;
use ledger::trace::{Direction, TraceRequest, index_keys_of, trace_csv};
use ledger_store::StoredEntry;
use registry::{Permission, Role};

use crate::problem::{EpcisException, Problem};
use crate::reader::View;
use crate::startup::AppState;

/// The most bytes of a request body: the query's parameters.
pub const MAX_EXPORT_REQUEST: usize = 16 * 1024;

/// The most index keys a trace's export proves: each costs a key proof.
pub const MAX_TRACE_EXPORT_KEYS: usize = 1024;

/// The members of a trace export's request.
const TRACE_MEMBERS: [&str; 4] = ["id", "direction", "from", "until"];

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
/// `GET /events`, decoded) or `{"trace": {"id": "<start>", "direction": ..., "from": ...,
/// "until": ...}}` (those of `GET /trace/{id}`): the export, as an attachment. Regulators only.
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
    let wanted = read_request(&body)?;
    let view = state.views.latest(&state.store).await?;
    let most = state.limits.max_history_events;
    let gathered = match wanted {
        Wanted::Query(query) => for_query(&request, &state, &view, &access, query, most).await,
        Wanted::Trace { id, given } => {
            for_trace(&request, &state, &view, &access, (&id, &given), most).await
        }
    }
    .and_then(|gathered| match gathered.leaves.len() > most {
        true => Err(too_large(most)),
        false => Ok(gathered),
    });
    let Gathered {
        answer,
        index,
        leaves,
    } = match gathered {
        Ok(gathered) => gathered,
        Err(problem) => {
            let (body, size) = (Some(&body[..]), view.size());
            let refused =
                super::query::recorded_refusal(&state, &access, &request, body, size, problem);
            return Err(refused.await);
        }
    };
    let leaves: Vec<LeafIndex> = leaves
        .into_iter()
        .filter_map(|leaf| LeafIndex::new(leaf).ok())
        .collect();
    let entries = load(&request, &state, &view, &leaves).await?;
    let refs: Vec<&StoredEntry> = entries.iter().collect();
    let events = super::items::provenance_events(&state, &view, &refs).await?;
    let matching: Vec<&ProvenanceEvent> = events
        .iter()
        .filter(|event| match &answer {
            Answer::Query(query) => Event::parse(event.event.as_bytes())
                .is_ok_and(|parsed| query.matches(&parsed, None)),
            Answer::Trace { read, .. } => read.contains(&event.inclusion.leaf_index().get()),
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
    let (query, trace) = match answer {
        Answer::Query(query) => (Some(query.canonical().to_vec()), None),
        Answer::Trace { exported, .. } => (None, Some(*exported)),
    };
    let mut export = ExportBundle {
        format: ExportFormat,
        version: ExportVersion::V1,
        query,
        trace,
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
        .await?
        .map_err(|error| Problem::internal(&error))?;
    let mut answer = super::items::json_answer(body);
    let headers = answer.headers_mut();
    headers.insert(
        header::HeaderName::from_static("tagtrail-access-entry"),
        HeaderValue::from(entry),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let size = view.size().get();
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"tagtrail-export-{size}.json\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(answer)
}

/// What an export is asked for.
enum Wanted {
    Query(EventQuery),
    /// A trace from `id`, with its parameters.
    Trace {
        id: String,
        given: BTreeMap<String, String>,
    },
}

/// What an export answers, as its writer made it.
enum Answer {
    Query(EventQuery),
    Trace {
        exported: Box<TracedExport>,
        /// The leaves of the events the trace read: the export's matching events.
        read: BTreeSet<u64>,
    },
}

/// What an export carries, before its events are loaded.
struct Gathered {
    answer: Answer,
    /// The index evidence of the answer's keys, when the checkpoint commits to an index and the
    /// answer has keys.
    index: Option<IndexEvidence>,
    /// Every entry to carry: those the index lists under the keys, and those the answer found.
    leaves: BTreeSet<u64>,
}

/// A query's export: every entry the index lists under its keys, and the matching entries the
/// index does not cover yet, found as a query would.
async fn for_query(
    request: &HttpRequest,
    state: &AppState,
    view: &View,
    access: &registry::Access,
    query: EventQuery,
    most: usize,
) -> Result<Gathered, Problem> {
    if query.uses_record_time() {
        return Err(Problem::Epcis(
            EpcisException::QueryParameter,
            "an export shows which events match by what the events say, and the record time is \
             not in them: use GE_eventTime and LT_eventTime"
                .to_owned(),
        ));
    }
    let size = view.size().get();
    // The index's evidence and the leaves it lists, when the checkpoint commits to an index and
    // the query has keys; the entries after the index's size are searched as a query would.
    let (index, listed, searched_from) = match (
        export_keys(&query),
        ledger_store::commitment_of_note(&view.checkpoint.note),
    ) {
        (Some(keys), Some(commitment)) => {
            let keys: Vec<IndexKey> = keys.into_iter().map(|(key, _)| key).collect();
            let (evidence, listed, indexed) = prove(view, &commitment, &keys, most).await?;
            (Some(evidence), listed, indexed)
        }
        _ => (None, BTreeSet::new(), 0),
    };
    let searched = match searched_from < size {
        true => {
            super::query::matching_leaves(request, state, view, access, &query, searched_from, most)
                .await?
        }
        false => Vec::new(),
    };
    let mut leaves = listed;
    leaves.extend(searched);
    Ok(Gathered {
        answer: Answer::Query(query),
        index,
        leaves,
    })
}

/// A trace's export: the trace as `GET /trace/{id}` makes it for a regulator, every event it
/// read, and every entry the index lists under the keys of what it asked about (an item's or
/// container's, a lot's, the start place's days). A trace that had to leave events out (more
/// named what it reached than it may read) is refused: an export carries them all.
async fn for_trace(
    request: &HttpRequest,
    state: &AppState,
    view: &View,
    access: &registry::Access,
    (id, given): (&str, &BTreeMap<String, String>),
    most: usize,
) -> Result<Gathered, Problem> {
    let borrowed: BTreeMap<&str, &str> = given
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let asked = super::trace::Asked::of(id, &borrowed)?;
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(super::items::registry_problem)?;
    let budget = state.budget.answer_for(super::items::client(request));
    let traced = super::trace::run(
        state,
        view,
        &parties,
        Some(access),
        &budget,
        TraceRequest {
            start: asked.start.clone(),
            direction: asked.direction,
            span: asked.span,
            max_events: most,
            max_subjects: super::trace::MAX_TRACE_SUBJECTS,
        },
    )
    .await?;
    let left_out: usize = traced.omitted.values().sum();
    if left_out > 0 {
        return Err(Problem::Epcis(
            EpcisException::QueryTooLarge,
            format!(
                "the trace left out {left_out} events (more named what it reached than it reads, \
                 at most {most}): an export carries every event a trace reads; start from a \
                 narrower subject or give a shorter time span"
            ),
        ));
    }
    let mut leaves: BTreeSet<u64> = traced.read.iter().map(|leaf| leaf.get()).collect();
    let read = leaves.clone();
    let index = match (
        index_keys_of(&traced.asked),
        ledger_store::commitment_of_note(&view.checkpoint.note),
    ) {
        (Ok(keys), Some(commitment)) => {
            if keys.len() > MAX_TRACE_EXPORT_KEYS {
                return Err(Problem::Epcis(
                    EpcisException::QueryTooLarge,
                    format!(
                        "the trace reaches {} index keys, more than an export proves \
                         ({MAX_TRACE_EXPORT_KEYS}): start from a narrower subject or give a \
                         shorter time span",
                        keys.len()
                    ),
                ));
            }
            let keys: Vec<IndexKey> = keys.into_iter().map(|(key, _)| key).collect();
            let (evidence, listed, _) = prove(view, &commitment, &keys, most).await?;
            leaves.extend(listed);
            Some(evidence)
        }
        // A subject no keys cover, or no index: the verifier says what is not proven.
        _ => None,
    };
    let graph = serde_json::to_value(&traced.trace).map_err(|error| Problem::internal(&error))?;
    let exported = TracedExport {
        start: id.to_owned(),
        direction: match asked.direction {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
            Direction::Both => "both",
        }
        .to_owned(),
        from: given.get("from").cloned(),
        until: given.get("until").cloned(),
        csv: trace_csv(&traced.trace),
        graph,
    };
    Ok(Gathered {
        answer: Answer::Trace {
            exported: Box::new(exported),
            read,
        },
        index,
        leaves,
    })
}

/// The key proofs of `keys` against the index the checkpoint commits to: the evidence, every
/// leaf they list, and the index's size. More than `most` leaves listed is refused.
async fn prove(
    view: &View,
    commitment: &ledger::index::IndexCommitment,
    keys: &[IndexKey],
    most: usize,
) -> Result<(IndexEvidence, BTreeSet<u64>, u64), Problem> {
    let ranges: Vec<KeyRange> = keys.iter().map(|key| KeyRange::all(*key)).collect();
    let (head, proofs) = view.store.prove_keys_at(commitment, &ranges).await?;
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
    Ok((evidence, listed, head.size().get()))
}

fn too_large(most: usize) -> Problem {
    Problem::Epcis(
        EpcisException::QueryTooLarge,
        format!(
            "more than {most} events match the query (or the trace reads) or are listed under \
             its keys: an export carries at most {most}; narrow the query or the trace"
        ),
    )
}

/// What the request body asks for: a JSON object with one member, `query` (each parameter of
/// `GET /events` mapped to its value, a string) or `trace` (`id`, and any of `direction`,
/// `from`, `until`, each a string).
fn read_request(body: &[u8]) -> Result<Wanted, Problem> {
    let bad = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
    let request: Value = serde_json::from_slice(body)
        .map_err(|error| bad(format!("the request body is not JSON: {error}")))?;
    let Some(object) = request.as_object() else {
        return Err(bad(
            "the request body is not a JSON object: send {\"query\": {\"MATCH_anyEPC\": \"...\"}} \
             or {\"trace\": {\"id\": \"...\"}}"
                .to_owned(),
        ));
    };
    if let Some(other) = object.keys().find(|key| *key != "query" && *key != "trace") {
        return Err(bad(format!(
            "the request body has member {other:?}; it has \"query\" or \"trace\""
        )));
    }
    match (object.get("query"), object.get("trace")) {
        (Some(_), Some(_)) => Err(bad(
            "the request body has both \"query\" and \"trace\": an export answers one".to_owned(),
        )),
        (Some(query), None) => {
            let Some(query) = query.as_object() else {
                return Err(bad(
                    "the request body's \"query\" is not an object of the query's parameters"
                        .to_owned(),
                ));
            };
            for name in query.keys() {
                if let Some((_, why)) = REFUSED.iter().find(|(refused, _)| refused == name) {
                    return Err(bad((*why).to_owned()));
                }
            }
            let pairs = super::query::query_pairs(query)?;
            let query = EventQuery::parse(
                pairs
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            )
            .map_err(|error| bad(error.to_string()))?;
            Ok(Wanted::Query(query))
        }
        (None, Some(trace)) => {
            let Some(trace) = trace.as_object() else {
                return Err(bad(
                    "the request body's \"trace\" is not an object: send {\"trace\": {\"id\": \
                     \"...\", \"direction\": \"both\"}}"
                        .to_owned(),
                ));
            };
            let mut given = BTreeMap::new();
            for (name, value) in trace {
                if !TRACE_MEMBERS.contains(&name.as_str()) {
                    return Err(bad(format!(
                        "the trace has member {name:?}; a trace export takes id, direction, \
                         from and until"
                    )));
                }
                let Some(value) = value.as_str() else {
                    return Err(bad(format!("the trace's {name} is not a string")));
                };
                given.insert(name.clone(), value.to_owned());
            }
            let Some(id) = given.remove("id") else {
                return Err(bad(
                    "the trace has no id: the item, container, lot or place it starts from"
                        .to_owned(),
                ));
            };
            Ok(Wanted::Trace { id, given })
        }
        (None, None) => Err(bad(
            "the request body has neither \"query\" (the query's parameters) nor \"trace\" \
             (what to trace)"
                .to_owned(),
        )),
    }
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
