//! `GET /trace/{id}`: recall tracing. Everything connected to an item, a container, a lot or a
//! place through packing, transformations and shared lots ([`ledger::trace`]), as a graph (JSON)
//! or a flat list (CSV), as of one signed checkpoint. A regulator traces every event; a partner
//! only the events reported from its sites (the trace is made of those alone; authority is
//! judged on every event, as for everyone).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use epcis::document::Timestamp;
use ledger::history::{Candidate, Omitted, Parties, SHARE_CEILING, SourceEvent, share};
use ledger::index::{IndexKey, day_of};
use ledger::size::LeafIndex;
use ledger::trace::{
    Direction, Noting, Span, Subject, TraceError, TraceRequest, TraceSource, trace_csv,
};
use registry::{Access, Permission, Role};

use crate::budget::AnswerBudget;
use crate::lane::Lane;
use crate::problem::{EpcisException, Problem};
use crate::reader::View;
use crate::startup::AppState;

/// The most subjects (items, containers, lots, places) one trace reaches.
pub const MAX_TRACE_SUBJECTS: usize = 4096;
/// The most days of events a trace that starts at a place reads.
pub const MAX_PLACE_DAYS: i64 = 92;
/// The most index keys listed at once (a round reaching many lots or a place's many days lists
/// them a batch at a time).
const KEYS_PER_LISTING: usize = 64;
/// The largest log read whole for a lot or a place when the newest checkpoint commits to no
/// verifiable index.
const MAX_UNINDEXED_SCAN: u64 = 100_000;
/// The parameters a trace reads.
const PARAMETERS: [&str; 4] = ["direction", "from", "until", "format"];

/// `GET /trace/{id}?direction=forward|backward|both&from=&until=&format=json|csv`.
pub(super) async fn trace(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Problem> {
    let access = super::query::authenticate(&request, &state, Some(Permission::Query)).await?;
    super::query::access_log(&state)?;
    let asked = Asked::read(&request, &path)?;
    let view = state.views.latest(&state.store).await?;
    let parties = state
        .parties
        .get(&state.registry)
        .await
        .map_err(super::items::registry_problem)?;
    let budget = state.budget.answer_for(super::items::client(&request));
    let traced = run(
        &state,
        &view,
        &parties,
        Some(&access),
        &budget,
        TraceRequest {
            start: asked.start.clone(),
            direction: asked.direction,
            span: asked.span,
            max_events: state.limits.max_history_events,
            max_subjects: MAX_TRACE_SUBJECTS,
        },
    )
    .await;
    let Traced {
        trace: mut traced,
        omitted,
        hashes,
        ..
    } = match traced {
        Ok(traced) => traced,
        Err(problem) => {
            let refused = super::query::recorded_refusal(
                &state,
                &access,
                &request,
                None,
                view.size(),
                problem,
            );
            return Err(refused.await);
        }
    };
    if access.role != Role::Regulator {
        // Why another party's event did not count rests on events a partner may not read.
        for unfollowed in &mut traced.unfollowed {
            unfollowed.reason = "its reporter had no authority for what it relates".to_owned();
        }
    }
    let omitted: Vec<Omitted> = omitted
        .into_iter()
        .map(|(reporter, events)| Omitted {
            // A partner learns how many were left out, not whose.
            reporter: reporter.filter(|_| access.role == Role::Regulator),
            events,
        })
        .collect();
    let size = view.size().get();
    // Recorded before anything of the answer leaves; the answer names its entry.
    let entry =
        super::query::record_access(&state, &access, &request, None, hashes.len(), view.size())
            .await?;
    let entry_header = (super::query::ACCESS_ENTRY_HEADER, HeaderValue::from(entry));
    if asked.csv {
        let mut answer = HttpResponse::Ok();
        answer
            .insert_header(entry_header)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::VARY, "Accept, Authorization"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"trace.csv\""),
            ))
            .insert_header(("Tagtrail-Tree-Size", size.to_string()))
            .content_type("text/csv; charset=utf-8");
        return Ok(answer.body(trace_csv(&traced)));
    }
    // The events the edges rest on, by leaf, with their hashes: `GET /events/{hash}/proof`.
    let evidence: BTreeSet<u64> = traced
        .edges
        .iter()
        .flat_map(|edge| edge.evidence.iter().copied())
        .collect();
    let events: Vec<Value> = evidence
        .into_iter()
        .filter_map(|leaf| {
            let hash = hashes.get(&leaf)?;
            Some(json!({"leafIndex": leaf, "eventHash": hash}))
        })
        .collect();
    let mut answer = serde_json::to_value(&traced).map_err(|error| Problem::internal(&error))?;
    answer["checkpoint"] = json!({"treeSize": size});
    answer["events"] = Value::Array(events);
    answer["omitted"] =
        serde_json::to_value(merge_omitted(omitted)).map_err(|error| Problem::internal(&error))?;
    let body = serde_json::to_vec(&answer).map_err(|error| Problem::internal(&error))?;
    let mut answer = super::items::json_answer(body);
    let headers = answer.headers_mut();
    headers.insert(
        header::HeaderName::from_static("tagtrail-access-entry"),
        entry_header.1,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Authorization"),
    );
    Ok(answer)
}

/// A trace as the ledger gave it.
pub(super) struct Traced {
    pub(super) trace: ledger::trace::Trace,
    /// The candidates left out by reporter (a flood's share).
    pub(super) omitted: BTreeMap<Option<ledger::OrganisationId>, usize>,
    /// The event hash of every entry read that the credential may see, by leaf.
    pub(super) hashes: BTreeMap<u64, String>,
    /// Each subject the trace asked about, with the span it was asked over.
    pub(super) asked: Vec<(Subject, Span)>,
    /// The leaves of every event the trace read.
    pub(super) read: BTreeSet<LeafIndex>,
}

/// Traces `request` on the ledger as of `view`, reading what `access` may read (`None`: every
/// event, for the service's own use: a recall's scope). Too much to read is `413`.
pub(super) async fn run(
    state: &AppState,
    view: &View,
    parties: &Parties,
    access: Option<&Access>,
    budget: &AnswerBudget,
    request: TraceRequest,
) -> Result<Traced, Problem> {
    let source = LedgerSource {
        view,
        parties,
        access,
        budget,
        lane: &state.lane,
        most: state.limits.max_history_events,
        read: Cell::new(0),
        omitted: RefCell::new(BTreeMap::new()),
        hashes: RefCell::new(BTreeMap::new()),
    };
    let noting = Noting::new(&source);
    let trace = ledger::trace::trace(&noting, &request, parties)
        .await
        .map_err(|error| match error {
            TraceError::Source(problem) => problem,
            too_much => Problem::Epcis(EpcisException::QueryTooLarge, too_much.to_string()),
        })?;
    let (asked, read) = (noting.asked(), noting.given());
    Ok(Traced {
        trace,
        omitted: source.omitted.into_inner(),
        hashes: source.hashes.into_inner(),
        asked,
        read,
    })
}

/// The omitted counts with one line per reporter (a partner's all in one, unnamed).
fn merge_omitted(omitted: Vec<Omitted>) -> Vec<Omitted> {
    let mut merged: BTreeMap<Option<ledger::OrganisationId>, usize> = BTreeMap::new();
    for line in omitted {
        *merged.entry(line.reporter).or_default() += line.events;
    }
    merged
        .into_iter()
        .map(|(reporter, events)| Omitted { reporter, events })
        .collect()
}

/// What a trace request asks.
#[derive(Debug)]
pub(super) struct Asked {
    pub(super) start: Subject,
    pub(super) direction: Direction,
    pub(super) span: Span,
    csv: bool,
}

impl Asked {
    fn read(request: &HttpRequest, id: &str) -> Result<Self, Problem> {
        let invalid = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
        let pairs = super::query::parameters(request)?;
        let mut given: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in &pairs {
            if !PARAMETERS.contains(&name.as_str()) {
                return Err(invalid(format!(
                    "{name:?} is not a parameter of a trace: direction, from, until and format are"
                )));
            }
            if given.insert(name, value).is_some() {
                return Err(invalid(format!("{name} is given twice")));
            }
        }
        let mut asked = Self::of(id, &given)?;
        asked.csv = match given.get("format") {
            None => request
                .headers()
                .get(header::ACCEPT)
                .and_then(|accept| accept.to_str().ok())
                .is_some_and(|accept| accept.contains("text/csv")),
            Some(&"json") => false,
            Some(&"csv") => true,
            Some(other) => {
                return Err(invalid(format!("format {other:?} is not json or csv")));
            }
        };
        Ok(asked)
    }

    /// The trace from `id` that `given` asks for (`direction`, `from`, `until`; the caller has
    /// refused any other), as JSON.
    pub(super) fn of(id: &str, given: &BTreeMap<&str, &str>) -> Result<Self, Problem> {
        let invalid = |why: String| Problem::Epcis(EpcisException::QueryParameter, why);
        let start = Subject::parse(id).map_err(|error| invalid(error.to_string()))?;
        let direction = match given.get("direction") {
            None => Direction::Both,
            Some(text) => Direction::parse(text).ok_or_else(|| {
                invalid(format!(
                    "direction {text:?} is not forward, backward or both"
                ))
            })?,
        };
        let time = |name: &str| -> Result<Option<i128>, Problem> {
            given
                .get(name)
                .map(|text| {
                    Timestamp::parse(text)
                        .map(Timestamp::unix_nanos)
                        .map_err(|error| {
                            invalid(format!(
                                "{name} {text:?} is not a date-time with its offset: {error}"
                            ))
                        })
                })
                .transpose()
        };
        let span = Span {
            from: time("from")?.unwrap_or(i128::MIN),
            until: time("until")?.unwrap_or(i128::MAX),
        };
        if span.from > span.until {
            return Err(invalid("from is after until".to_owned()));
        }
        if let Subject::Location(_) = start {
            let days = day_of(span.until).saturating_sub(day_of(span.from));
            if span.from == i128::MIN || span.until == i128::MAX || days >= MAX_PLACE_DAYS {
                return Err(invalid(format!(
                    "a trace from a place reads the events there between from and until: give \
                     both, spanning at most {MAX_PLACE_DAYS} UTC days"
                )));
            }
        }
        Ok(Self {
            start,
            direction,
            span,
            csv: false,
        })
    }
}

/// The ledger as a trace reads it: an item's or container's events through the lookups; a
/// lot's and a place's through the verifiable index (a place's by day), and a scan of the
/// entries the index does not cover yet. Every event is given, marked with whether the
/// credential may read it. When more are candidates than the trace may still read, each
/// reporter keeps an equal share ([`share`], as histories choose) and the rest are counted as
/// omitted; more than [`SHARE_CEILING`] times that many are refused.
struct LedgerSource<'a> {
    view: &'a View,
    parties: &'a Parties,
    /// What the credential may read; `None`: everything.
    access: Option<&'a Access>,
    budget: &'a AnswerBudget,
    lane: &'a Lane,
    /// The most events the trace reads.
    most: usize,
    /// How many it has read.
    read: Cell<usize>,
    /// The candidates left out, by reporter.
    omitted: RefCell<BTreeMap<Option<ledger::OrganisationId>, usize>>,
    /// The event hash of every entry read, by leaf.
    hashes: RefCell<BTreeMap<u64, String>>,
}

impl LedgerSource<'_> {
    /// The leaves the index lists for `keys`, and, beyond the index's size, those whose event
    /// text holds one of `texts`.
    async fn indexed(
        &self,
        keys: &[IndexKey],
        texts: &[String],
    ) -> Result<Vec<LeafIndex>, Problem> {
        let size = self.view.size().get();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let Some(commitment) = ledger_store::commitment_of_note(&self.view.checkpoint.note) else {
            // A log too young for its first index (or one whose newest checkpoint was signed
            // while the index was busy): a small one is read whole.
            if size > MAX_UNINDEXED_SCAN {
                return Err(Problem::Unavailable(
                    "the newest checkpoint commits to no verifiable index, which a trace of a lot \
                     or a place reads: retry once one does"
                        .to_owned(),
                ));
            }
            return Ok(self.view.store.scan_for(&texts, 0..size).await?);
        };
        // The entries the index lists, without their proofs (the service reads its own
        // database): one query a key.
        let mut leaves = Vec::new();
        let mut indexed = 0;
        for batch in keys.chunks(KEYS_PER_LISTING) {
            let (head_size, listed) = self.view.store.list_keys_at(&commitment, batch).await?;
            indexed = head_size;
            leaves.extend(
                listed
                    .into_iter()
                    .filter_map(|leaf| LeafIndex::new(leaf).ok()),
            );
            if leaves.len() > self.most.saturating_mul(SHARE_CEILING) {
                return Err(too_many(self.most));
            }
        }
        leaves.extend(self.view.store.scan_for(&texts, indexed..size).await?);
        Ok(leaves)
    }

    /// Whether the credential may read an entry attested so.
    fn readable(&self, attestation: &ledger::record::Attestation) -> bool {
        self.access.is_none_or(|access| {
            access.role == Role::Regulator
                || self
                    .parties
                    .site_of(attestation)
                    .is_some_and(|site| access.may_read_site(site))
        })
    }
}

fn too_many(most: usize) -> Problem {
    Problem::Epcis(
        EpcisException::QueryTooLarge,
        format!(
            "the trace reads more than {most} events: start from a narrower subject or give a \
             shorter time span"
        ),
    )
}

impl TraceSource for LedgerSource<'_> {
    type Error = Problem;

    async fn events(
        &self,
        subjects: &[Subject],
        span: Span,
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
    ) -> Result<Vec<SourceEvent<bool>>, Problem> {
        let names: Vec<String> = subjects
            .iter()
            .filter(|subject| matches!(subject, Subject::Epc(_)))
            .flat_map(Subject::names)
            .collect();
        let mut leaves = match names.is_empty() {
            true => Vec::new(),
            false => {
                self.view
                    .candidates_naming(&names, known, self.budget)
                    .await?
            }
        };
        let mut keys = Vec::new();
        let mut texts = Vec::new();
        for subject in subjects {
            match subject {
                Subject::Lot { gtin, lot } => {
                    keys.extend(IndexKey::lot(gtin, lot));
                    texts.push(lot.clone());
                }
                Subject::Location(id) => {
                    // The request bounds a place's span (`MAX_PLACE_DAYS`).
                    let (first, last) = (day_of(span.from), day_of(span.until));
                    keys.extend((first..=last).map(|day| IndexKey::location_day(id, day)));
                    texts.extend(subject.names());
                }
                Subject::Epc(_) | Subject::Class(_) => {}
            }
        }
        if !keys.is_empty() {
            leaves.extend(self.indexed(&keys, &texts).await?);
        }
        leaves.retain(|&leaf| self.view.holds(leaf) && !known(leaf));
        leaves.sort_unstable();
        leaves.dedup();
        let room = self.most.saturating_sub(self.read.get());
        if leaves.len() > room {
            // Too many for what is left: each reporter keeps its equal share, decided before
            // any event is loaded; beyond the ceiling, not even who reported each is read.
            if leaves.len() > self.most.saturating_mul(SHARE_CEILING) {
                return Err(too_many(self.most));
            }
            let attested = self.view.attestations(&leaves, self.budget).await?;
            let candidates = attested
                .into_iter()
                .map(|(leaf, attestation)| Candidate {
                    leaf,
                    reporter: self.parties.reporter(&attestation).cloned(),
                    changes: false,
                    receipt: false,
                    claim: false,
                    other_claim: false,
                })
                .collect();
            let (taken, left_out) = share(candidates, room);
            let mut omitted = self.omitted.borrow_mut();
            for candidate in left_out {
                *omitted.entry(candidate.reporter).or_default() += 1;
            }
            leaves = taken;
        }
        // Exactly the events naming what was asked about (a lookup or index key may list a few
        // that share it).
        let asked = subjects.to_vec();
        let entries = self
            .view
            .entries_where(&leaves, self.budget, self.lane, move |event| {
                asked.iter().any(|subject| match subject {
                    Subject::Location(_) => {
                        ledger::history::event_time(event)
                            .is_some_and(|time| span.from <= time && time <= span.until)
                            && subject.named_by(event)
                    }
                    _ => subject.named_by(event),
                })
            })
            .await?;
        self.read.set(self.read.get() + entries.len());
        let mut hashes = self.hashes.borrow_mut();
        Ok(entries
            .into_iter()
            .map(|(entry, event)| {
                let shown = self.readable(entry.record.attestation());
                if shown {
                    hashes.insert(
                        entry.leaf_index.get(),
                        entry.record.event_hash().to_ni_uri(),
                    );
                }
                SourceEvent::of(
                    entry.leaf_index,
                    event,
                    self.parties.reporter(entry.record.attestation()).cloned(),
                    Some(entry.record.captured_at()),
                )
                .bound_by(&entry.record)
                .carrying(shown)
            })
            .collect())
    }
}
