//! `GET /items/{id}/history` (custody history, paged) and `GET /items/{id}/bundle` (the
//! provenance bundle that proves it). `{id}` is an EPC URI, a GS1 Digital Link or the tag's EPC
//! bank in hex (percent-encoded in the path).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use ledger::bundle::{
    IndexEvidence, ProvenanceBundle, ProvenanceEvent, ProvenanceVersion, followed,
};
use ledger::history::{
    History, HistoryError, HistoryEvent, Item, Judge, Omitted, Parties, Why, bundle_whys,
    event_ids, history as custody, names_of,
};
use ledger::index::{KeyProof, KeyRange};

use ledger::record::Attestation;
use ledger::size::{LeafIndex, TreeSize};
use ledger_store::{Declares, StoredEntry};

use crate::problem::Problem;
use crate::proofs::{Attestations, ProofsError};
use crate::reader::{View, ViewSource};
use crate::startup::AppState;

/// The query of `GET /items/{id}/history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    /// Events per page (1 to the configured maximum).
    limit: Option<usize>,
    /// Where the previous page ended (its `next`).
    cursor: Option<String>,
}

/// A position in a history: the checkpoint it is read at and how many events came before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    size: u64,
    offset: usize,
}

impl Cursor {
    fn encode(self) -> String {
        format!("{}.{}", self.size, self.offset)
    }

    fn parse(text: &str) -> Result<Self, Problem> {
        let bad = || {
            Problem::BadRequest(format!(
                "cursor {text:?} is not one this service gave: pass the `next` of the previous page as it is"
            ))
        };
        let (size, offset) = text.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            size: size.parse().map_err(|_| bad())?,
            offset: offset.parse().map_err(|_| bad())?,
        })
    }
}

/// The client a request's answer is charged to (its address; the budget takes its /64).
pub(super) fn client(request: &HttpRequest) -> Option<std::net::IpAddr> {
    request.peer_addr().map(|peer| peer.ip())
}

/// Reads the item of a route.
fn item(id: &str) -> Result<Item, Problem> {
    Item::parse(id).map_err(|error| Problem::BadRequest(error.to_string()))
}

/// The problem of a registry that could not be read.
pub(super) fn registry_problem(error: registry::PartiesError) -> Problem {
    match error {
        registry::PartiesError::Pool(error) => Problem::unavailable(&error),
        registry::PartiesError::Read(registry::ReadError::Query(error)) => {
            Problem::unavailable(&error)
        }
        registry::PartiesError::Read(corrupt) => Problem::internal(&corrupt),
    }
}

/// Which company-prefix splits of a Digital Link's GTIN a history looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Splits {
    /// Only its registered owner's, when there is one (`Item::narrowed`): two lookups, not eight.
    Registered,
    /// Every one, as a verifier reading the item's identifier does: what a provenance bundle
    /// follows, so that its story is the one the verifier puts together (an event naming the
    /// item under another split shares its index key, and a complete bundle carries it).
    Every,
}

/// The history of an item in a view, each event judged with the registry's parties, and the
/// context events its marks rest on.
pub(super) async fn events_of(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    view: &View,
    item: &Item,
    limit: usize,
    splits: Splits,
) -> Result<History<Arc<StoredEntry>>, Problem> {
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(registry_problem)?;
    // A link of a registered brand's item: only its owner's split of the GTIN is looked up.
    let item = &match splits {
        Splits::Registered => item.clone().narrowed(&parties),
        Splits::Every => item.clone(),
    };
    let size = view.size().get();
    if let Some(why) = state.refused_answers.get(&item.names, limit, size) {
        return Err(Problem::TooMuch(why));
    }
    // The same question being answered already: wait for it, then ask whether it was refused
    // (once it was answered, copies do not wait).
    let gate = state.answer_gates.gate(&item.names, limit);
    let _turn = gate.turn(size).await;
    if let Some(why) = state.refused_answers.get(&item.names, limit, size) {
        return Err(Problem::TooMuch(why));
    }
    let budget = state.budget.answer_for(client);
    let source = ViewSource {
        view,
        parties: &parties,
        budget: &budget,
        lane: &state.lane,
    };
    let judged = custody(
        &source,
        item.names.clone(),
        names_of,
        Judge::Parties(&parties),
        limit,
    )
    .await;
    if judged.is_ok() {
        gate.answered(size);
    }
    judged.map_err(|error| {
        let problem = history_problem(error, item);
        if let Problem::TooMuch(why) = &problem {
            state.refused_answers.insert(&item.names, limit, size, why);
        }
        problem
    })
}

/// The problem of a history that could not be assembled.
fn history_problem(error: HistoryError<crate::reader::ViewError>, item: &Item) -> Problem {
    match error {
        HistoryError::Source(error) => Problem::from(error),
        HistoryError::TooLong { limit } => Problem::TooMuch(format!(
            "the history of {} has more than {limit} events (this service's limit)",
            item.asked
        )),
        HistoryError::CustodianLeftOut { limit } => Problem::TooMuch(format!(
            "more state changes of a party with authority over {} than a history of {limit} \
             may read (this service's limit)",
            item.asked
        )),
        HistoryError::TooManySubjects { limit } => Problem::TooMuch(format!(
            "{} is related to more than {limit} containers and items (this service's limit)",
            item.asked
        )),
        HistoryError::Crowded { limit } => Problem::TooMuch(format!(
            "the state changes naming {}, its containers and the items related to it come \
             from more parties than a history of {limit} events can read one of each (this \
             service's limit)",
            item.asked
        )),
        HistoryError::TooMany { limit } => Problem::TooMuch(format!(
            "more than {limit} events name {}, its containers and the items related to it \
             (this service's limit)",
            item.asked
        )),
    }
}

/// `GET /items/{id}/history`.
pub(super) async fn history(
    request: HttpRequest,
    id: web::Path<String>,
    query: web::Query<HistoryQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let item = item(&id)?;
    let limits = state.limits;
    let page = query.limit.unwrap_or(limits.page_size);
    if page == 0 || page > limits.max_page_size {
        return Err(Problem::BadRequest(format!(
            "limit must be between 1 and {}",
            limits.max_page_size
        )));
    }
    let (view, offset) = match &query.cursor {
        None => (state.views.latest(&state.store).await?, 0),
        Some(text) => {
            let cursor = Cursor::parse(text)?;
            let unknown = || {
                Problem::BadRequest(format!(
                    "cursor {text:?} names a checkpoint this database does not hold"
                ))
            };
            let size = TreeSize::new(cursor.size).map_err(|_| unknown())?;
            let view = View::at(&state.store, size, state.views.refused.clone())
                .await?
                .ok_or_else(unknown)?;
            (view, cursor.offset)
        }
    };
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(registry_problem)?;
    let History {
        events,
        omitted,
        withdrawn,
        ..
    } = events_of(
        &state,
        client(&request),
        &view,
        &item,
        limits.max_history_events,
        Splits::Registered,
    )
    .await?;
    let total = events.len();
    let end = offset.saturating_add(page).min(total);
    let page: Vec<HistoryEvent<Arc<StoredEntry>>> = events
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .collect();
    let next = (end < total).then(|| {
        Cursor {
            size: view.size().get(),
            offset: end,
        }
        .encode()
    });
    let head = json!({
        "item": {
            "asked": item.asked,
            "form": item.form.name(),
            "epcs": item.epcs,
        },
        "checkpoint": {
            "treeSize": view.size().get(),
            "note": view.checkpoint.note,
        },
        "total": total,
        "omitted": omitted,
    });
    // Writing the answer grows with its events' bytes: a large one is written on the slow lane.
    let bytes = page.iter().map(|e| e.event.payload.event.len()).sum();
    let body = state
        .lane
        .run_sized(bytes, move || {
            let mut answer = head;
            answer["events"] = page
                .into_iter()
                .map(|event| {
                    let by = withdrawn.get(&event.event.leaf).copied();
                    history_event(event, by, &parties)
                })
                .collect();
            answer["next"] = json!(next);
            serde_json::to_vec(&answer)
        })
        .await?
        .map_err(|error| Problem::internal(&error))?;
    Ok(json_answer(body))
}

/// A JSON answer of `body`, which the client checks again before using it (`no-cache`). A large
/// one goes to the connection a slice at a time ([`Slices`]).
pub(super) fn json_answer(body: Vec<u8>) -> HttpResponse {
    let mut answer = HttpResponse::Ok();
    answer
        .insert_header((CACHE_CONTROL, "no-cache"))
        .content_type("application/json");
    if body.len() <= SLICE_BYTES {
        answer.body(body)
    } else {
        answer.body(Slices::new(web::Bytes::from(body)))
    }
}

/// How much of a large answer is handed to the connection at once.
const SLICE_BYTES: usize = 64 * 1024;

/// How much of a large answer is handed to the connection before its task lets the worker's
/// other tasks run.
const BYTES_BETWEEN_TURNS: usize = 1024 * 1024;

/// A large answer's bytes, handed to the connection [`SLICE_BYTES`] at a time (slices of one
/// buffer, not copies), the worker's other tasks taking a turn after every
/// [`BYTES_BETWEEN_TURNS`]. Handed whole, 50 MB would be copied into the connection's write
/// buffer at once; handed in slices to a client that reads as fast as they come, they would all
/// be written in one turn of the task. Either way every other request of the worker would wait.
struct Slices {
    rest: web::Bytes,
    since_turn: usize,
}

impl Slices {
    fn new(bytes: web::Bytes) -> Self {
        Self {
            rest: bytes,
            since_turn: 0,
        }
    }
}

impl actix_web::body::MessageBody for Slices {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.rest.len() as u64)
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<web::Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return std::task::Poll::Ready(None);
        }
        if this.since_turn >= BYTES_BETWEEN_TURNS {
            // Ready again at once, after the tasks already waiting.
            this.since_turn = 0;
            context.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let slice = this.rest.split_to(SLICE_BYTES.min(this.rest.len()));
        this.since_turn += slice.len();
        std::task::Poll::Ready(Some(Ok(slice)))
    }
}

/// One event of a history as answered, with the declaration that withdrew it, if one did, and
/// its sources and destinations marked with whose they are.
fn history_event(
    event: HistoryEvent<Arc<StoredEntry>>,
    withdrawn_by: Option<LeafIndex>,
    parties: &Parties,
) -> Value {
    let entry = &event.event.payload;
    let record = &entry.record;
    let mut reported_by = match record.attestation() {
        Attestation::Device { device, .. } => json!({"device": device.as_str()}),
        Attestation::Unattested { site } => json!({"site": site.as_str()}),
    };
    reported_by["organisation"] = json!(event.event.reporter);
    let declares = match entry.declares {
        None => Value::Null,
        Some(Declares::Entry(leaf)) => json!(leaf.get()),
        Some(Declares::Unheld) => json!("unheld"),
    };
    let why: Vec<Value> = event.why.iter().map(why_json).collect();
    json!({
        "leafIndex": entry.leaf_index.get(),
        "eventHash": record.event_hash().to_ni_uri(),
        "eventTime": event.event.event.get("eventTime"),
        "capturedAt": record.captured_at().to_rfc3339(),
        "reportedBy": reported_by,
        "why": why,
        "authority": event.authority,
        "declares": declares,
        "declaredErroneousBy": entry.declared_by.iter().map(|leaf| leaf.get()).collect::<Vec<_>>(),
        "withdrawnBy": withdrawn_by.map(LeafIndex::get),
        "sourcesAndDestinations": ledger::history::listed(
            &event.event.event,
            event.event.reporter.as_ref(),
            parties,
        ),
        "event": Value::Object(event.event.event),
    })
}

fn why_json(why: &Why) -> Value {
    match why {
        Why::Direct => json!({"kind": "direct"}),
        Why::Container { container } => json!({"kind": "container", "container": container}),
        Why::Transformation {
            via,
            transformation,
        } => json!({"kind": "transformation", "via": via, "transformation": transformation.get()}),
    }
}

/// `GET /items/{id}/bundle`: the provenance bundle of the item's whole history (version 2,
/// `ledger::bundle::ProvenanceBundle`): every event with its leaf record, device attestation and
/// inclusion proof to one checkpoint, in history order; then, with no reason, the context events
/// the history's authority marks rest on, the other events gathered with it and those the index
/// lists under what it follows by another name; and the index proofs that show it complete.
pub(super) async fn bundle(
    request: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let item = item(&id)?;
    let view = state.views.latest(&state.store).await?;
    let limit = state.limits.max_bundle_events;
    let history = events_of(&state, client(&request), &view, &item, limit, Splits::Every).await?;
    if history.events.is_empty() {
        return Err(Problem::NotFound(format!(
            "no event of the ledger (as of its checkpoint of {} entries) names {}",
            view.size(),
            item.asked
        )));
    }
    let (index, extra, left_out) =
        match index_evidence(&state, client(&request), &view, &history).await? {
            Some((index, extra, left_out)) => (Some(index), extra, left_out),
            None => (None, Vec::new(), None),
        };
    let History {
        events,
        context,
        outside,
        mut omitted,
        withdrawn,
        ..
    } = history;
    if let Some(left_out) = left_out {
        match omitted
            .iter_mut()
            .find(|counted| counted.reporter.is_none())
        {
            Some(counted) => counted.events += left_out.events,
            None => omitted.insert(0, left_out),
        }
    }
    let listed: Vec<&HistoryEvent<Arc<StoredEntry>>> =
        events.iter().chain(&context).chain(&outside).collect();
    let entries: Vec<&StoredEntry> = listed
        .iter()
        .map(|e| e.event.payload.as_ref())
        .chain(&extra)
        .collect();
    let mut bundled = provenance_events(&state, &view, &entries).await?;
    // The history's events and those gathered with it carry their reasons and marks; the
    // entries only the index lists (another spelling of a followed identifier) carry none.
    for (event, listed) in bundled.iter_mut().zip(&listed) {
        event.why = bundle_whys(listed, &events);
        event.reported_by = listed.event.reporter.clone();
        event.authority = Some(listed.authority.clone());
        event.withdrawn_by = withdrawn.get(&listed.event.leaf).copied();
    }
    let bytes = bundled.iter().map(|event| event.event.len()).sum();
    let bundle = ProvenanceBundle {
        version: ProvenanceVersion::V2,
        item: item.asked.clone(),
        checkpoint: view.checkpoint.note.clone(),
        events: bundled,
        anchored: view.anchored.as_deref().cloned(),
        omitted,
        index,
    };
    let body = state
        .lane
        .run_sized(bytes, move || serde_json::to_vec(&bundle))
        .await?
        .map_err(|error| Problem::internal(&error))?;
    Ok(json_answer(body))
}

/// Each entry as a provenance bundle (or an export) carries it, in the order given: its event's
/// text, leaf record, device attestation and inclusion proof to the view's checkpoint; no
/// reason, reporter or authority (the caller adds what it knows).
pub(super) async fn provenance_events(
    state: &AppState,
    view: &View,
    entries: &[&StoredEntry],
) -> Result<Vec<ProvenanceEvent>, Problem> {
    let mut attestations = Attestations::new(&state.batches, &state.registry);
    attestations.prepare(view, entries).await?;
    let leaves: Vec<LeafIndex> = entries.iter().map(|entry| entry.leaf_index).collect();
    let proofs = view
        .store
        .inclusion_proofs(&leaves, view.size())
        .await
        .map_err(ProofsError::from)?;
    if proofs.len() != entries.len() {
        return Err(Problem::Internal(
            "an inclusion proof is missing".to_owned(),
        ));
    }
    let mut events = Vec::with_capacity(entries.len());
    for (entry, inclusion) in entries.iter().zip(proofs) {
        events.push(ProvenanceEvent {
            event: entry.event.to_string(),
            document_context: None,
            event_hash: *entry.record.event_hash(),
            leaf_record: entry.record.encode(),
            device_attestation: attestations.of(view, entry).await?,
            inclusion,
            why: Vec::new(),
            reported_by: None,
            authority: None,
            withdrawn_by: None,
        });
    }
    Ok(events)
}

/// The index proofs of every identifier `history` follows, against the head the view's checkpoint
/// commits to, and the entries they list that the history did not gather and a complete bundle
/// must carry: events naming a followed identifier by a name the history did not ask under (its
/// other spellings share its key). The candidates the history left out name it by one of its
/// names and stay out: the bundle declares them in `omitted`. `None` when the checkpoint commits
/// to no index. More such entries than a bundle carries events are left out, counted (their
/// reporters unknown: they were not read).
async fn index_evidence(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    view: &View,
    history: &History<Arc<StoredEntry>>,
) -> Result<Option<(IndexEvidence, Vec<StoredEntry>, Option<Omitted>)>, Problem> {
    let Some(commitment) = ledger_store::commitment_of_note(&view.checkpoint.note) else {
        return Ok(None);
    };
    let ranges: Vec<KeyRange> = followed(history)
        .iter()
        .map(|subject| KeyRange::all(subject.key))
        .collect();
    let (head, proofs) = view.store.prove_keys_at(&commitment, &ranges).await?;
    let gathered: HashSet<LeafIndex> = history
        .events
        .iter()
        .chain(&history.context)
        .chain(&history.outside)
        .map(|event| event.event.leaf)
        .collect();
    let mut extra = BTreeSet::new();
    for proof in &proofs {
        let leaves = proof
            .verify(&head)
            .map_err(|error| Problem::internal(&error))?;
        extra.extend(
            leaves
                .into_iter()
                .filter_map(|leaf| LeafIndex::new(leaf).ok())
                .filter(|leaf| !gathered.contains(leaf)),
        );
    }
    // Among them the candidates the history left out (counted in `omitted` already): what is
    // loaded is bounded by those and as many more as a bundle carries events; the rest, and the
    // entries beyond that many, are declared left out.
    let most = state.limits.max_bundle_events;
    let left_out: usize = history.omitted.iter().map(|counted| counted.events).sum();
    let loadable = most.saturating_add(left_out);
    let unread = extra.len().saturating_sub(loadable);
    let extra: Vec<LeafIndex> = extra.into_iter().take(loadable).collect();
    let mut entries: Vec<StoredEntry> = match extra.is_empty() {
        true => Vec::new(),
        false => {
            let names: HashSet<String> = history.followed.iter().flatten().cloned().collect();
            let budget = state.budget.answer_for(client);
            view.entries_where(&extra, &budget, &state.lane, move |event| {
                !event_ids(event).any(|id| names.contains(id))
            })
            .await?
            .into_iter()
            .map(|(entry, _)| entry)
            .collect()
        }
    };
    let beyond = unread + entries.len().saturating_sub(most);
    entries.truncate(most);
    let evidence = IndexEvidence {
        head: head.encode(),
        proofs: proofs.iter().map(KeyProof::encode).collect(),
    };
    let left_out = (beyond > 0).then_some(Omitted {
        reporter: None,
        events: beyond,
    });
    Ok(Some((evidence, entries, left_out)))
}
