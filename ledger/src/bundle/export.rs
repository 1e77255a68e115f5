//! The verifiable export, version 1: the answer to an EPCIS query in one JSON file that a
//! regulator checks offline, and its verifier.
//!
//! An export carries the query (its canonical parameters), one signed checkpoint, the events
//! (each as a provenance bundle carries it: its leaf record, device attestation and inclusion
//! proof to that checkpoint), the anchored checkpoint with its consistency proof, the index
//! proofs that show no matching event was left out, and the FDA FSMA 204 sortable spreadsheet of
//! the matching events. The verifier re-runs the query on every event, so the export's matching
//! events are the query's answer as far as the events carried go; the index proofs of the keys
//! every answer has ([`export_keys`]) show that the events carried are all there are: every entry
//! the index lists under those keys is carried (an entry that does not match is carried to show
//! that it does not), and every carried event that matches is listed. The spreadsheet is
//! recomputed from the matching events, byte for byte.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use epcis::document::Event;
use sha2::Digest as _;

use crate::note::Note;
use epcis::query::{Cover, EventQuery};

use crate::history::{Parties, SourceEvent};
use crate::index::{IndexCommitment, IndexKey, day_of};
use crate::size::LeafIndex;
use crate::trace::{
    Direction, InMemory, Noted, Span, Subject, TraceRequest, index_keys_of, trace_csv,
};

use super::format::AnchoredCheckpoint;
use super::fsma::fsma204_csv;
use super::provenance::{EventReport, IndexEvidence, ProvenanceEvent, check_one_checkpoint};
use super::verify::{CheckName, Outcome, Report, TrustedKeys, Verdict, verify_bundle};

/// What an export's `format` member says: how a verifier tells it from the bundles.
pub const EXPORT_FORMAT: &str = "tagtrail-export";

/// The most days of a place's event-time range an export's completeness covers (one index key
/// per place and day).
pub const MAX_COVER_DAYS: i64 = 92;

/// The most index keys one export's completeness rests on.
pub const MAX_COVER_KEYS: usize = 256;

/// Why the index cannot show an export of a query complete: said in the export's report.
pub const EXPORT_UNCOVERED: &str = "the query names no identity, class, or place with both ends \
    of an event-time range (of at most 92 days) that the index lists: nothing shows that no \
    matching event was left out";

/// An EPCIS query's answer with everything needed to check it offline (ledger README,
/// "Verifiable export, version 1").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportBundle {
    /// Always [`EXPORT_FORMAT`].
    pub format: ExportFormat,
    /// The format version: 1.
    pub version: ExportVersion,
    /// The query's parameters, canonical (`EventQuery::canonical`: sorted by name, no paging),
    /// each as `[name, value]`. Absent in an export of a trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Vec<(String, String)>>,
    /// The trace, in an export of a trace: what was traced and the trace the writer made.
    /// Exactly one of `query` and `trace` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TracedExport>,
    /// The signed checkpoint whose tree every event's inclusion proof leads to.
    pub checkpoint: String,
    /// The events, in log order: those that match the query (that the trace read), and the
    /// entries the index lists under its keys that do not (carried to show that they do not).
    pub events: Vec<ProvenanceEvent>,
    /// A checkpoint that was anchored, the consistency proof to it, and where it was anchored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchored: Option<AnchoredCheckpoint>,
    /// The index head the checkpoint commits to and a key proof of every entry of each key of
    /// [`export_keys`]. Absent when the checkpoint commits to no index or the query has no keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexEvidence>,
    /// The matching events as the FDA FSMA 204 electronic sortable spreadsheet (CSV,
    /// [`fsma204_csv`]).
    pub fsma204: String,
    /// The writer's signed statement of what it exported and when: a C2SP signed note of
    /// [`manifest_text`], signed by the service's export key. Absent when the writer has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
}

/// What an export of a trace holds besides its events: the trace asked for, and the trace its
/// writer made of the log ([`crate::trace`]), as a graph and as a flat list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracedExport {
    /// The identifier the trace starts from, as asked: an item or container, a lot, a place.
    pub start: String,
    /// `forward`, `backward` or `both`.
    pub direction: String,
    /// The start's span (RFC 3339 date-times, both included); absent: open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The trace as JSON ([`Trace`](crate::trace::Trace)): what `GET /trace/{id}` answers,
    /// without the members it adds (`checkpoint`, `events`, `omitted`).
    pub graph: Value,
    /// The trace as a flat list ([`trace_csv`]).
    pub csv: String,
}

impl TracedExport {
    /// What was traced, as a request with no limits (a verifier reads only what the export
    /// carries); or why it does not read.
    pub fn request(&self) -> Result<TraceRequest, String> {
        let start = Subject::parse(&self.start).map_err(|error| format!("its start: {error}"))?;
        let direction = Direction::parse(&self.direction).ok_or_else(|| {
            format!(
                "its direction {:?} is not forward, backward or both",
                self.direction
            )
        })?;
        let time = |name: &str, text: &Option<String>, open: i128| match text {
            None => Ok(open),
            Some(text) => epcis::document::Timestamp::parse(text)
                .map(epcis::document::Timestamp::unix_nanos)
                .map_err(|error| format!("its {name} {text:?}: {error}")),
        };
        let span = Span {
            from: time("from", &self.from, i128::MIN)?,
            until: time("until", &self.until, i128::MAX)?,
        };
        if span.from > span.until {
            return Err("its from is after its until".to_owned());
        }
        Ok(TraceRequest {
            start,
            direction,
            span,
            max_events: usize::MAX,
            max_subjects: usize::MAX,
        })
    }
}

/// The first line of an export's manifest.
pub const MANIFEST_ORIGIN: &str = "tagtrail.dev/export-manifest/v1";

/// The text an export's manifest signs, made at `created` (RFC 3339): what the export holds, by
/// SHA-256 digests in standard base64 (ledger README, "Verifiable export, version 1"):
///
/// ```text
/// tagtrail.dev/export-manifest/v1
/// checkpoint <digest of the checkpoint's text>
/// query <digest of the query's JSON text, as the export writes it>
///   (an export of a trace: trace <digest of its trace member's JSON text, as written>)
/// events <count> <digest of each event's leaf index (u64, big-endian) and event hash>
/// index <digest of the head and each proof, each after its length (u32, big-endian)> | none
/// fsma204 <digest of the spreadsheet's bytes>
/// created <created>
/// ```
pub fn manifest_text(export: &ExportBundle, created: &str) -> String {
    let digest = |bytes: &[u8]| {
        crate::hash::Hash::from_bytes(sha2::Sha256::digest(bytes).into()).to_base64()
    };
    // An export holds a query or a trace: its line names which.
    let (asked, what) = match (&export.query, &export.trace) {
        (_, Some(trace)) => (serde_json::to_vec(trace).unwrap_or_default(), "trace"),
        (query, None) => (serde_json::to_vec(query).unwrap_or_default(), "query"),
    };
    let mut events = Vec::with_capacity(export.events.len() * 40);
    for event in &export.events {
        events.extend_from_slice(&event.inclusion.leaf_index().get().to_be_bytes());
        events.extend_from_slice(event.event_hash.as_bytes());
    }
    let index = match &export.index {
        Some(evidence) => {
            let mut bytes = Vec::new();
            for part in std::iter::once(&evidence.head).chain(&evidence.proofs) {
                let length = u32::try_from(part.len()).unwrap_or(u32::MAX);
                bytes.extend_from_slice(&length.to_be_bytes());
                bytes.extend_from_slice(part);
            }
            digest(&bytes)
        }
        None => "none".to_owned(),
    };
    format!(
        "{MANIFEST_ORIGIN}\ncheckpoint {}\n{what} {}\nevents {} {}\nindex {index}\nfsma204 {}\n\
         created {created}\n",
        digest(export.checkpoint.as_bytes()),
        digest(&asked),
        export.events.len(),
        digest(&events),
        digest(export.fsma204.as_bytes()),
    )
}

/// Whether the export's manifest is signed by a trusted export key and states what the export
/// holds; the signer and the time it says, when it is.
fn check_manifest(export: &ExportBundle, trusted: &TrustedKeys) -> (Outcome, Option<String>) {
    let Some(message) = &export.manifest else {
        return (
            Outcome::Skipped(
                "the export carries no signed manifest: who made it, and when, is not said"
                    .to_owned(),
            ),
            None,
        );
    };
    let Some(exporters) = trusted.exporters() else {
        return (
            Outcome::Skipped(
                "no export key was given: the manifest's signature is not checked".to_owned(),
            ),
            None,
        );
    };
    let failed = |why: String| (Outcome::Failed(why), None);
    let note = match Note::parse(message) {
        Ok(note) => note,
        Err(error) => return failed(format!("the manifest is not a signed note: {error}")),
    };
    let signer = match exporters.verify(&note) {
        Ok(keys) => match keys.first() {
            Some(key) => format!("{}+{}", key.name(), key.id()),
            None => return failed("no trusted export key signed the manifest".to_owned()),
        },
        Err(error) => {
            return failed(format!(
                "no trusted export key signed the manifest: {error}"
            ));
        }
    };
    let text = note.text();
    let created = text
        .lines()
        .find_map(|line| line.strip_prefix("created "))
        .filter(|created| epcis::document::Timestamp::parse(created).is_ok());
    let Some(created) = created else {
        return failed("the manifest says no valid time it was made (created)".to_owned());
    };
    let expected = manifest_text(export, created);
    if let Some((want, _)) = expected
        .lines()
        .zip(text.lines().chain(std::iter::repeat("")))
        .find(|(want, got)| want != got)
    {
        let what = want.split(' ').next().unwrap_or(want);
        return failed(format!(
            "the manifest's {what} line is not what the export holds"
        ));
    }
    if text != expected {
        return failed("the manifest has lines after its last".to_owned());
    }
    (Outcome::Passed, Some(format!("{signer} at {created}")))
}

/// The `format` member of an export: [`EXPORT_FORMAT`], nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ExportFormat;

impl Serialize for ExportFormat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(EXPORT_FORMAT)
    }
}

impl<'de> Deserialize<'de> for ExportFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)? {
            format if format == EXPORT_FORMAT => Ok(Self),
            other => Err(serde::de::Error::custom(format!(
                "format {other:?} is not {EXPORT_FORMAT:?}"
            ))),
        }
    }
}

/// The version of the export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExportVersion {
    /// Version 1.
    #[default]
    V1,
}

impl Serialize for ExportVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for ExportVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u64::deserialize(deserializer)? {
            1 => Ok(Self::V1),
            other => Err(serde::de::Error::custom(format!(
                "unknown export version {other}: this software reads version 1"
            ))),
        }
    }
}

/// The index keys whose entries hold every answer to `query`, each with what it names: the
/// first of the query's [`Cover`]s that gives at most [`MAX_COVER_KEYS`] keys (an identity's
/// [`IndexKey::epc`], a class's [`IndexKey::class_or_lot`], a place's
/// [`IndexKey::location_day`] for each UTC day of the range). `None` when no cover does; the
/// writer and the verifier choose alike.
pub fn export_keys(query: &EventQuery) -> Option<Vec<(IndexKey, String)>> {
    query.covers().into_iter().find_map(cover_keys)
}

/// The index keys whose entries hold every event `cover` describes, each with what it names, as
/// [`export_keys`] takes them; `None` when they would be more than [`MAX_COVER_KEYS`] (or span
/// more than [`MAX_COVER_DAYS`] days).
pub fn cover_keys(cover: Cover) -> Option<Vec<(IndexKey, String)>> {
    let keys: Vec<(IndexKey, String)> = match cover {
        Cover::Identities(ids) => ids.into_iter().map(|id| (IndexKey::epc(&id), id)).collect(),
        Cover::Classes(classes) => classes
            .into_iter()
            .map(|class| (IndexKey::class_or_lot(&class), class))
            .collect(),
        Cover::PlacesBetween { places, from, to } => {
            if to <= from {
                // Nothing matches: no key needed to show it.
                return Some(Vec::new());
            }
            let (first, last) = (day_of(from), day_of(to - 1));
            if last - first >= MAX_COVER_DAYS {
                return None;
            }
            (first..=last)
                .flat_map(|day| {
                    places
                        .iter()
                        .map(move |place| (IndexKey::location_day(place, day), place.clone()))
                })
                .collect()
        }
    };
    let mut seen = BTreeSet::new();
    let keys: Vec<(IndexKey, String)> = keys
        .into_iter()
        .filter(|(key, _)| seen.insert(*key))
        .collect();
    (keys.len() <= MAX_COVER_KEYS).then_some(keys)
}

/// Every check made on an export: those of the export as a whole, then each event's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    #[serde(flatten)]
    export: Report,
    events: Vec<EventReport>,
    /// How many of the events match the query.
    matching: usize,
    /// The index size up to which the answer was shown complete, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    complete_through: Option<u64>,
    /// Who signed the manifest and when it says the export was made, when it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    made_by: Option<String>,
}

impl ExportReport {
    /// The checks of the export as a whole ([`CheckName::Checkpoint`], [`CheckName::EventList`],
    /// [`CheckName::OneCheckpoint`], [`CheckName::Query`], [`CheckName::Complete`],
    /// [`CheckName::Spreadsheet`]).
    pub fn export_checks(&self) -> &Report {
        &self.export
    }

    /// Each event's checks, in the export's order.
    pub fn events(&self) -> &[EventReport] {
        &self.events
    }

    /// How many events match the query.
    pub fn matching(&self) -> usize {
        self.matching
    }

    /// When [`CheckName::Complete`] passed: the index size `n` it rests on. The export carries
    /// every event matching the query among the log's first `n` entries.
    pub fn complete_through(&self) -> Option<u64> {
        self.complete_through
    }

    /// When [`CheckName::Manifest`] passed: the export key that signed the manifest and the time
    /// it says the export was made (`name+id at time`).
    pub fn made_by(&self) -> Option<&str> {
        self.made_by.as_deref()
    }

    /// Invalid if any check failed, incomplete if any was skipped, valid otherwise.
    pub fn verdict(&self) -> Verdict {
        super::provenance::combined_verdict(&self.export, &self.events)
    }
}

impl ExportBundle {
    /// The export's events as a provenance bundle's (for each event's single-event bundle).
    fn as_provenance(&self) -> super::ProvenanceBundle {
        super::ProvenanceBundle {
            version: super::ProvenanceVersion::V2,
            item: String::new(),
            checkpoint: self.checkpoint.clone(),
            events: self.events.clone(),
            anchored: self.anchored.clone(),
            omitted: Vec::new(),
            index: None,
        }
    }
}

/// Checks an export offline against trusted keys. Never fails: every check is in the report.
pub fn verify_export(export: &ExportBundle, trusted: &TrustedKeys) -> ExportReport {
    let mut checks = Report::default();
    let tree = match trusted.log().open_checkpoint(&export.checkpoint) {
        Ok(verified) => {
            checks.push(CheckName::Checkpoint, Outcome::Passed);
            Some(verified)
        }
        Err(error) => {
            checks.push(
                CheckName::Checkpoint,
                Outcome::Failed(format!("the export's checkpoint: {error}")),
            );
            None
        }
    };
    check_event_list(&mut checks, &export.events);
    check_one_checkpoint(&mut checks, &export.checkpoint, &export.events, trusted);
    let answer = match (&export.query, &export.trace) {
        (Some(query), None) => check_query(&mut checks, export, query),
        (None, Some(traced)) => check_trace(&mut checks, export, traced, trusted),
        (query, _) => {
            let why = match query {
                Some(_) => "the export holds both a query and a trace: it answers one of them",
                None => {
                    "the export holds neither a query nor a trace: nothing says what it answers"
                }
            };
            checks.push(CheckName::Query, Outcome::Failed(why.to_owned()));
            Err(Unread("what the export answers does not read"))
        }
    };
    let mut complete_through = None;
    match (&tree, &answer) {
        (Some(verified), Ok(answer)) => {
            let outcome = completeness(export, verified.checkpoint(), answer);
            if let Completeness::Through(n) = &outcome {
                complete_through = Some(*n);
            }
            checks.push(CheckName::Complete, outcome.into_outcome());
        }
        (None, _) => checks.push(
            CheckName::Complete,
            Outcome::Skipped("the checkpoint does not verify".to_owned()),
        ),
        (_, Err(Unread(why))) => {
            checks.push(CheckName::Complete, Outcome::Skipped((*why).to_owned()));
        }
    }
    match &answer {
        Ok(answer) => checks.push(
            CheckName::Spreadsheet,
            spreadsheet(export, &answer.matching),
        ),
        Err(Unread(why)) => {
            checks.push(CheckName::Spreadsheet, Outcome::Skipped((*why).to_owned()))
        }
    }
    let (manifest, made_by) = check_manifest(export, trusted);
    checks.push(CheckName::Manifest, manifest);
    let provenance = export.as_provenance();
    let events = (0..export.events.len())
        .filter_map(|position| {
            let single = provenance.proof_bundle(position)?;
            Some(EventReport {
                position,
                leaf_index: single.inclusion.leaf_index(),
                report: verify_bundle(&single, trusted),
            })
        })
        .collect();
    ExportReport {
        export: checks,
        events,
        matching: answer.map_or(0, |answer| answer.matching.len()),
        complete_through,
        made_by,
    }
}

/// No entry twice, in log order (an export may carry no event: nothing matched).
fn check_event_list(report: &mut Report, events: &[ProvenanceEvent]) {
    for (position, pair) in events.windows(2).enumerate() {
        let (before, after) = (
            pair[0].inclusion.leaf_index(),
            pair[1].inclusion.leaf_index(),
        );
        if after <= before {
            report.push(
                CheckName::EventList,
                Outcome::Failed(format!(
                    "event {} (leaf {after}) does not follow event {position} (leaf {before}): \
                     an export lists each entry once, in log order",
                    position + 1
                )),
            );
            return;
        }
    }
    report.push(CheckName::EventList, Outcome::Passed);
}

/// What an export answers, as the verifier recomputed it: the positions of the events that match
/// (that the trace read), and the index keys whose entries hold them all, or why none do.
struct Answer {
    matching: Vec<usize>,
    keys: Result<Vec<(IndexKey, String)>, String>,
}

/// Why the answer was not recomputed (the checks that rest on it are skipped with this).
struct Unread(&'static str);

/// Reads the query and runs it on every event: the positions of those that match and the
/// query's keys, or a failed check when the query or an event does not read.
fn check_query(
    report: &mut Report,
    export: &ExportBundle,
    pairs: &[(String, String)],
) -> Result<Answer, Unread> {
    let unread = Unread("the query does not read");
    let pairs = pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()));
    let query = match EventQuery::parse(pairs) {
        Ok(query) => query,
        Err(error) => {
            report.push(
                CheckName::Query,
                Outcome::Failed(format!("the export's query does not read: {error}")),
            );
            return Err(unread);
        }
    };
    let mut matching = Vec::new();
    for (position, event) in export.events.iter().enumerate() {
        let parsed = match Event::parse(event.event.as_bytes()) {
            Ok(parsed) => parsed,
            Err(error) => {
                report.push(
                    CheckName::Query,
                    Outcome::Failed(format!("event {position} is not an EPCIS event: {error}")),
                );
                return Err(unread);
            }
        };
        if query.matches(&parsed, None) {
            matching.push(position);
        }
    }
    if query.uses_record_time() {
        report.push(
            CheckName::Query,
            Outcome::Skipped(
                "the query asks about record times, which the log's proofs do not cover: which \
                 events match is not shown"
                    .to_owned(),
            ),
        );
    } else {
        report.push(CheckName::Query, Outcome::Passed);
    }
    Ok(Answer {
        matching,
        keys: export_keys(&query).ok_or_else(|| EXPORT_UNCOVERED.to_owned()),
    })
}

/// Why [`CheckName::Trace`] is skipped without a registry of the parties.
pub const TRACE_UNJUDGED: &str = "no registry of the parties was given: a trace follows only \
    what parties with authority did, so it was not recomputed (give the participants file)";

/// Recomputes the trace from the export's events with the registry of the parties
/// ([`CheckName::Trace`]): the same graph and flat list, or the first difference. Gives the
/// events the trace read and the index keys of everything it asked about.
fn check_trace(
    report: &mut Report,
    export: &ExportBundle,
    traced: &TracedExport,
    trusted: &TrustedKeys,
) -> Result<Answer, Unread> {
    let mut fail = |why: String| {
        report.push(CheckName::Trace, Outcome::Failed(why));
        Err(Unread("the trace was not recomputed"))
    };
    let request = match traced.request() {
        Ok(request) => request,
        Err(why) => return fail(format!("the export's trace does not read: {why}")),
    };
    let Some(parties) = trusted.parties() else {
        report.push(
            CheckName::Trace,
            Outcome::Skipped(TRACE_UNJUDGED.to_owned()),
        );
        return Err(Unread("the trace was not recomputed"));
    };
    let noted = match trace_events(&export.events, &request, parties) {
        Ok(noted) => noted,
        Err(why) => return fail(why),
    };
    let positions: BTreeMap<LeafIndex, usize> = export
        .events
        .iter()
        .enumerate()
        .map(|(position, event)| (event.inclusion.leaf_index(), position))
        .collect();
    let trace = match noted.trace {
        Ok(trace) => trace,
        Err(error) => {
            return fail(format!(
                "the trace could not be made from the events: {error}"
            ));
        }
    };
    let graph = match serde_json::to_value(&trace) {
        Ok(graph) => graph,
        Err(error) => return fail(format!("the trace does not serialise: {error}")),
    };
    if let Some(difference) = first_graph_difference(&traced.graph, &graph) {
        return fail(format!(
            "the export's trace is not the one its events give: {difference}"
        ));
    }
    let csv = trace_csv(&trace);
    if csv != traced.csv {
        let line = csv
            .lines()
            .zip(traced.csv.lines())
            .position(|(want, got)| want != got)
            .unwrap_or_else(|| csv.lines().count().min(traced.csv.lines().count()));
        return fail(format!(
            "the trace's flat list is not the one its graph gives: line {} differs",
            line + 1
        ));
    }
    report.push(CheckName::Trace, Outcome::Passed);
    Ok(Answer {
        matching: noted
            .read
            .iter()
            .filter_map(|leaf| positions.get(leaf).copied())
            .collect(),
        keys: index_keys_of(&noted.asked).map_err(|subject| {
            format!(
                "the trace reads {subject}, whose events the index does not list under keys \
                 (a class, or a place over more than {MAX_COVER_DAYS} days): nothing shows that \
                 none of them was left out"
            )
        }),
    })
}

/// The trace of `request` over `events` (an export's), judged with `parties` (each event's
/// reporter is the one its leaf record's device or site belongs to), with what it asked about
/// and read: what a verifier recomputes. Fails on an event that is not a JSON object.
pub fn trace_events(
    events: &[ProvenanceEvent],
    request: &TraceRequest,
    parties: &Parties,
) -> Result<Noted, String> {
    let mut sources = Vec::with_capacity(events.len());
    for (position, event) in events.iter().enumerate() {
        let leaf = event.inclusion.leaf_index();
        let parsed = serde_json::from_str::<serde_json::Map<String, Value>>(&event.event).map_err(
            |error| format!("event {position} (leaf {leaf}) is not a JSON object: {error}"),
        )?;
        let record = crate::record::LeafRecord::decode(&event.leaf_record).ok();
        let reporter = record
            .as_ref()
            .and_then(|record| parties.reporter(record.attestation()).cloned());
        let captured = record.as_ref().map(crate::record::LeafRecord::captured_at);
        let mut source = SourceEvent::of(leaf, parsed, reporter, captured);
        if let Some(record) = &record {
            source = source.bound_by(record);
        }
        sources.push(source);
    }
    Ok(InMemory::new(sources).trace_noting(request, parties))
}

/// Where a trace's graph as written first differs from the one recomputed: the member, and the
/// node or edge.
fn first_graph_difference(written: &Value, recomputed: &Value) -> Option<String> {
    if written == recomputed {
        return None;
    }
    for member in [
        "start",
        "direction",
        "nodes",
        "edges",
        "unfollowed",
        "eventsRead",
    ] {
        let (got, want) = (written.get(member), recomputed.get(member));
        if got == want {
            continue;
        }
        if let (Some(Value::Array(got)), Some(Value::Array(want))) = (got, want) {
            let at = got
                .iter()
                .zip(want)
                .position(|(got, want)| got != want)
                .unwrap_or_else(|| got.len().min(want.len()));
            let shown = |list: &Vec<Value>| {
                list.get(at)
                    .map_or_else(|| "nothing".to_owned(), Value::to_string)
            };
            return Some(format!(
                "{member} {at} is {} in the export and {} from the events",
                shown(got),
                shown(want)
            ));
        }
        let shown =
            |value: Option<&Value>| value.map_or_else(|| "absent".to_owned(), Value::to_string);
        return Some(format!(
            "its {member} is {} in the export and {} from the events",
            shown(got),
            shown(want)
        ));
    }
    Some("it has members a trace does not have".to_owned())
}

/// How the completeness check came out.
enum Completeness {
    Through(u64),
    Failed(String),
    Skipped(String),
}

impl Completeness {
    fn into_outcome(self) -> Outcome {
        match self {
            Self::Through(_) => Outcome::Passed,
            Self::Failed(why) => Outcome::Failed(why),
            Self::Skipped(why) => Outcome::Skipped(why),
        }
    }
}

/// Whether the export carries every event matching its query, as the index proofs of
/// [`export_keys`] show.
fn completeness(
    export: &ExportBundle,
    checkpoint: &crate::checkpoint::Checkpoint,
    answer: &Answer,
) -> Completeness {
    let commitment = match IndexCommitment::of_checkpoint(checkpoint) {
        Ok(commitment) => commitment,
        Err(error) => return Completeness::Failed(format!("the checkpoint's index line: {error}")),
    };
    let keys = match &answer.keys {
        Ok(keys) => keys,
        Err(why) => return Completeness::Skipped(why.clone()),
    };
    let matching = &answer.matching;
    // How the answer is said: (the events it may take, taking one, not taking one).
    let (may, takes, leaves) = match export.trace {
        Some(_) => (
            "the trace may read",
            "was read by the trace",
            "was not read by the trace",
        ),
        None => (
            "the query may match",
            "matches the query",
            "does not match the query",
        ),
    };
    let (evidence, commitment) = match (&export.index, commitment) {
        (None, None) => {
            return Completeness::Skipped(
                "the checkpoint commits to no index: nothing shows that no matching event was \
                 left out"
                    .to_owned(),
            );
        }
        (Some(_), None) => {
            return Completeness::Failed(
                "the export carries index proofs, but its checkpoint commits to no index"
                    .to_owned(),
            );
        }
        (None, Some(_)) if keys.is_empty() => {
            return through_or_behind(checkpoint, None);
        }
        (None, Some(commitment)) => {
            return Completeness::Failed(format!(
                "the checkpoint commits to an index of {} entries, and the export carries none \
                 of its proofs: they were removed",
                commitment.size
            ));
        }
        (Some(evidence), Some(commitment)) => (evidence, commitment),
    };
    let (size, proven) = match super::complete::proven_keys(evidence, commitment) {
        Ok(proven) => proven,
        Err(failure) => return Completeness::Failed(failure),
    };
    let carried: BTreeMap<u64, usize> = export
        .events
        .iter()
        .enumerate()
        .map(|(position, event)| (event.inclusion.leaf_index().get(), position))
        .collect();
    let mut listed: BTreeSet<u64> = BTreeSet::new();
    for (key, name) in keys {
        let Some(Some(leaves)) = proven.get(key) else {
            return Completeness::Skipped(format!(
                "the export carries no index proof of every entry of {name} (key {key}): \
                 the events under it are not shown complete"
            ));
        };
        if let Some(leaf) = leaves.iter().find(|leaf| !carried.contains_key(leaf)) {
            return Completeness::Failed(format!(
                "the index lists entry {leaf} under {name}, and the export does not carry it: \
                 an event {may} was left out"
            ));
        }
        listed.extend(leaves);
    }
    // Every event carried among the entries the index covers is listed: a matching one under
    // the query's keys (or the index leaves it out), one that does not match to show that.
    let matches: BTreeSet<usize> = matching.iter().copied().collect();
    for (position, event) in export.events.iter().enumerate() {
        let leaf = event.inclusion.leaf_index().get();
        if leaf >= size || listed.contains(&leaf) {
            continue;
        }
        return Completeness::Failed(match matches.contains(&position) {
            true => format!(
                "event {position} (leaf {leaf}) {takes}, yet no index proof of its keys lists \
                 it: the index leaves out an entry"
            ),
            false => format!(
                "event {position} (leaf {leaf}) {leaves} and no index proof lists it: it does \
                 not belong in the export"
            ),
        });
    }
    through_or_behind(checkpoint, Some(size))
}

/// Passed through the index's size when it covers the checkpoint's tree; skipped with how far
/// otherwise. `None`: no key was needed (the query matches nothing), the whole tree counts.
fn through_or_behind(
    checkpoint: &crate::checkpoint::Checkpoint,
    size: Option<u64>,
) -> Completeness {
    let tree = checkpoint.size().get();
    match size {
        Some(size) if size < tree => Completeness::Skipped(format!(
            "complete up to entry {size} only: the index does not cover the checkpoint's last \
             {} entries, so nothing shows that none of them was left out",
            tree - size
        )),
        Some(size) => Completeness::Through(size),
        None => Completeness::Through(tree),
    }
}

/// The spreadsheet is the one the matching events give, byte for byte.
fn spreadsheet(export: &ExportBundle, matching: &[usize]) -> Outcome {
    let rows: Vec<&ProvenanceEvent> = matching.iter().map(|&at| &export.events[at]).collect();
    let expected = fsma204_csv(&rows);
    if expected == export.fsma204 {
        return Outcome::Passed;
    }
    let line = expected
        .lines()
        .zip(export.fsma204.lines())
        .position(|(want, got)| want != got)
        .unwrap_or_else(|| expected.lines().count().min(export.fsma204.lines().count()));
    Outcome::Failed(format!(
        "the FSMA 204 spreadsheet is not the one the matching events give: line {} differs",
        line + 1
    ))
}
