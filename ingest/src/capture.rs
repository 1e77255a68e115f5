//! The capture pipeline, from the request body to the entries handed to the sequencer: parse,
//! check limits, validate, hash, check the device's batch, check locations, build leaf records.
//! Every step before the append is free of side effects, so a refused capture stores nothing.

use std::collections::BTreeMap;

use epcis::EventHash;
use epcis::document::{Document, Event};
use epcis::hash::{HashContext, event_hash, parsed_document_hashes};
use ledger::UnixMillis;
use ledger::record::Attestation;
use ledger_store::{LookupKeys, NewBatch, NewEntry, SignedBatch, self_contained_event};
use serde_json::{Map, Value};

use crate::auth::{BATCH_STATEMENT_HEADER, Caller};
use crate::config::Limits;
use crate::error::{AuthFailure, CaptureError, ProblemViolation};
use registry::LocationKey;

pub use epcis::rest::ErrorBehaviour;

/// A parsed document with what was found about each event.
#[derive(Debug)]
pub struct Analysed {
    document: Document,
    /// Each event's CBV 2.0 hash, `None` for an event that cannot be hashed.
    hashes: Vec<Option<EventHash>>,
    /// Violations by event index; document-level ones under `None`.
    violations: BTreeMap<Option<usize>, Vec<ProblemViolation>>,
    /// The keys of the document's sealed values.
    sealed: crate::sealed::SealedKeys,
}

/// Parses, checks the limits, validates and hashes a capture document. Refuses at once what no
/// error behaviour can store (not JSON, not an EPCIS document, over a limit, no events,
/// `ignoreFields`); everything else is recorded per event for [`Analysed::decide`].
pub fn analyse(body: &[u8], limits: &Limits) -> Result<Analysed, CaptureError> {
    let document = Document::parse(body).map_err(|error| match error.violation() {
        Some(violation) => {
            CaptureError::Invalid(vec![ProblemViolation::from_validation(violation)])
        }
        None => CaptureError::Invalid(vec![ProblemViolation::new(
            None,
            "",
            "json",
            format!("the body is not JSON: {error}"),
        )]),
    })?;
    let events = document.events();
    if events.len() > limits.max_events_per_document {
        return Err(CaptureError::TooLarge {
            limits: Box::new(*limits),
            violation: ProblemViolation::new(
                None,
                event_list_pointer(&document),
                "maxEvents",
                format!(
                    "the document has {} events; at most {} are accepted per capture",
                    events.len(),
                    limits.max_events_per_document
                ),
            ),
        });
    }
    for event in events {
        let size = json_size(event.raw());
        if size > limits.max_event_bytes {
            return Err(CaptureError::TooLarge {
                limits: Box::new(*limits),
                violation: ProblemViolation::new(
                    Some(event.index()),
                    event.pointer(),
                    "maxEventBytes",
                    format!(
                        "event {} is {size} bytes of JSON; at most {} are accepted per event",
                        event.index(),
                        limits.max_event_bytes
                    ),
                ),
            });
        }
        let count = event.epcs().count();
        if count > limits.max_epcs_per_event {
            return Err(CaptureError::TooLarge {
                limits: Box::new(*limits),
                violation: ProblemViolation::new(
                    Some(event.index()),
                    event.pointer(),
                    "maxEpcs",
                    format!(
                        "event {} lists {count} EPCs; at most {} are accepted per event",
                        event.index(),
                        limits.max_epcs_per_event
                    ),
                ),
            });
        }
    }
    if let Some(pointer) = ignore_fields(&document) {
        return Err(CaptureError::Invalid(vec![ProblemViolation::new(
            None,
            pointer,
            "ignoreFields",
            "documents with an ignoreFields list are not accepted: the ledger stores each event on its own, and the list cannot travel with it",
        )]));
    }

    let mut violations: BTreeMap<Option<usize>, Vec<ProblemViolation>> = BTreeMap::new();
    if let Err(found) = epcis::validate::validate(&document) {
        for violation in &found {
            violations
                .entry(violation.event_index())
                .or_default()
                .push(ProblemViolation::from_validation(violation));
        }
    }
    let hashes = hash_events(&document, &mut violations);
    reserved_members(&document, &mut violations);
    let sealed = crate::sealed::check(&document, &mut violations);
    Ok(Analysed {
        document,
        hashes,
        violations,
        sealed,
    })
}

/// Refuses the members trace-api adds to the events it answers (`ledger::LEDGER_NAMESPACE`): an
/// event carrying one, or a context binding a prefix to that namespace. Captured, such a member
/// would be stored and hashed with the event, and an answer's own member (which replaces it)
/// would name a hash that the event without it does not have.
fn reserved_members(
    document: &Document,
    violations: &mut BTreeMap<Option<usize>, Vec<ProblemViolation>>,
) {
    let binds_namespace = |context: Option<&serde_json::Value>| {
        let objects: Vec<&serde_json::Map<String, serde_json::Value>> = match context {
            Some(serde_json::Value::Object(object)) => vec![object],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(serde_json::Value::as_object)
                .collect(),
            _ => Vec::new(),
        };
        objects.into_iter().flatten().find_map(|(prefix, value)| {
            let bound = value
                .as_str()
                .or_else(|| value.get("@id").and_then(serde_json::Value::as_str));
            bound
                .is_some_and(|bound| {
                    bound.starts_with(ledger::LEDGER_NAMESPACE.trim_end_matches('#'))
                })
                .then(|| prefix.clone())
        })
    };
    if let Some(prefix) = binds_namespace(document.context()) {
        violations.entry(None).or_default().push(ProblemViolation::new(
            None,
            "/@context",
            "reserved",
            format!(
                "the context binds {prefix:?} to {}, the namespace of what this service adds to the events it answers: a captured event cannot use it",
                ledger::LEDGER_NAMESPACE
            ),
        ));
    }
    for event in document.events() {
        let reserved = event
            .raw()
            .keys()
            .find(|member| member.starts_with(ledger::LEDGER_NAMESPACE))
            .cloned()
            .or_else(|| binds_namespace(event.raw().get("@context")));
        if let Some(member) = reserved {
            violations
                .entry(Some(event.index()))
                .or_default()
                .push(ProblemViolation::new(
                    Some(event.index()),
                    event.pointer(),
                    "reserved",
                    format!(
                        "{member:?} is of {}, the namespace of what this service adds to the events it answers (where the ledger holds them): a captured event cannot carry it",
                        ledger::LEDGER_NAMESPACE
                    ),
                ));
        }
    }
}

/// The length of a value's compact JSON, counted as it is written (nothing is kept).
fn json_size(value: &serde_json::Map<String, serde_json::Value>) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail; a map of JSON values always serializes.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The event hashes, all at once when every event hashes; otherwise event by event, recording a
/// violation for each that cannot be hashed.
fn hash_events(
    document: &Document,
    violations: &mut BTreeMap<Option<usize>, Vec<ProblemViolation>>,
) -> Vec<Option<EventHash>> {
    if let Ok(hashes) = parsed_document_hashes(document) {
        return hashes.into_iter().map(Some).collect();
    }
    let context = match HashContext::from_document_root(document.root()) {
        Ok(context) => context,
        Err(error) => {
            violations
                .entry(None)
                .or_default()
                .push(ProblemViolation::new(
                    None,
                    "/@context",
                    "hash",
                    format!("the event hashes cannot be computed: {error}"),
                ));
            return vec![None; document.events().len()];
        }
    };
    document
        .events()
        .iter()
        .map(|event| match event_hash(event.raw(), &context) {
            Ok(hash) => Some(hash),
            Err(error) => {
                violations
                    .entry(Some(event.index()))
                    .or_default()
                    .push(ProblemViolation::new(
                        Some(event.index()),
                        event.pointer(),
                        "hash",
                        format!("the CBV 2.0 event hash cannot be computed: {error}"),
                    ));
                None
            }
        })
        .collect()
}

fn event_list_pointer(document: &Document) -> &'static str {
    match document.kind() {
        epcis::document::DocumentKind::Document => "/epcisBody/eventList",
        epcis::document::DocumentKind::QueryDocument => {
            "/epcisBody/queryResults/resultsBody/eventList"
        }
    }
}

/// The pointer of an `ignoreFields` list (any prefix) at the root or in `epcisBody.queryResults`.
fn ignore_fields(document: &Document) -> Option<String> {
    let is_ignore = |key: &String| key.rsplit(':').next() == Some("ignoreFields");
    if let Some(key) = document.root().keys().find(|key| is_ignore(key)) {
        return Some(format!("/{key}"));
    }
    document
        .root()
        .get("epcisBody")
        .and_then(|body| body.get("queryResults"))
        .and_then(Value::as_object)
        .and_then(|results| results.keys().find(|key| is_ignore(key)).cloned())
        .map(|key| format!("/epcisBody/queryResults/{key}"))
}

/// The events to store and the problems of the others, once the error behaviour is applied.
#[derive(Debug)]
pub struct Decision {
    /// Indexes of the events to store, in document order.
    pub accepted: Vec<usize>,
    /// The violations of each rejected event, by event index.
    pub rejected: BTreeMap<usize, Vec<ProblemViolation>>,
}

impl Analysed {
    /// The parsed document.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.document.events().len()
    }

    /// Whether the document has no events (never true after [`analyse`]).
    pub fn is_empty(&self) -> bool {
        self.document.events().is_empty()
    }

    /// Every recipient key the document's key sets seal to (empty when none was sealed for
    /// recipients).
    pub fn recipients(&self) -> Vec<ledger::sealed::RecipientKey> {
        self.sealed.recipients()
    }

    /// Refuses the document for each key set sealed to one of the `retired` registered keys.
    pub fn refuse_retired_recipients(&mut self, retired: &[registry::RecipientKeyInfo]) {
        self.sealed.refuse_retired(retired, &mut self.violations);
    }

    /// Each event's hash (`None`: cannot be hashed).
    pub fn hashes(&self) -> &[Option<EventHash>] {
        &self.hashes
    }

    /// Checks that the device's statement commits to exactly this document's events, in order:
    /// its size and its batch root. Returns the signed batch to store with the entries.
    pub fn device_batch(&self, caller: &Caller) -> Result<Option<SignedBatch>, CaptureError> {
        let Caller::Device {
            statement,
            signature,
            ..
        } = caller
        else {
            return Ok(None);
        };
        let mut hashes = Vec::with_capacity(self.hashes.len());
        for (index, hash) in self.hashes.iter().enumerate() {
            match hash {
                Some(hash) => hashes.push(*hash),
                None => {
                    // The device's batch root cannot be checked without every event's hash.
                    let pointer = self.document.events()[index].pointer();
                    let mut violations = self
                        .violations
                        .get(&Some(index))
                        .cloned()
                        .unwrap_or_default();
                    violations.push(ProblemViolation::new(
                        Some(index),
                        pointer,
                        "hash",
                        "a device capture needs every event hashable to check the batch statement",
                    ));
                    return Err(CaptureError::Invalid(violations));
                }
            }
        }
        SignedBatch::new(statement.clone(), signature.clone(), hashes)
            .map(Some)
            .map_err(|error| {
                let rule = match error {
                    ledger_store::BatchError::WrongBatchSize { .. } => "batchSize",
                    _ => "batchRoot",
                };
                CaptureError::Unauthenticated(AuthFailure::new(
                    BATCH_STATEMENT_HEADER,
                    rule,
                    format!(
                        "the signed batch statement does not match the document's events: {error}"
                    ),
                ))
            })
    }

    /// Records the custody rules every event must keep whoever captures it (docs/ARCHITECTURE.md,
    /// "Custody authority"): it names a location (`readPoint` or `bizLocation`) that the
    /// location check then requires to be the caller's own, and its `eventTime` is no later than
    /// `now` plus the allowed clock skew. A violation is the event's, decided with the rest.
    pub fn check_custody_rules(&mut self, now: UnixMillis, clock_skew: std::time::Duration) {
        let latest = i128::from(now.as_millis()) * 1_000_000
            + i128::try_from(clock_skew.as_nanos()).unwrap_or(i128::MAX);
        for event in self.document.events() {
            let index = event.index();
            if event.read_point().is_none() && event.biz_location().is_none() {
                self.violations
                    .entry(Some(index))
                    .or_default()
                    .push(ProblemViolation::new(
                        Some(index),
                        event.pointer(),
                        "location",
                        format!(
                            "event {index} names neither a readPoint nor a bizLocation: every \
                             event must name a location of the site that reports it"
                        ),
                    ));
            }
            if let Some(time) = event.event_time()
                && time.unix_nanos() > latest
            {
                self.violations
                    .entry(Some(index))
                    .or_default()
                    .push(ProblemViolation::new(
                        Some(index),
                        format!("{}/eventTime", event.pointer()),
                        "eventTime",
                        format!(
                            "event {index}: eventTime is in the future: more than {} s after \
                             this capture (the clock skew this service allows)",
                            clock_skew.as_secs()
                        ),
                    ));
            }
        }
    }

    /// Whether an event commissions EPCs (an ObjectEvent `ADD`): only then is the registry of
    /// company prefixes read.
    pub fn commissions(&self) -> bool {
        self.document.events().iter().any(is_commissioning)
    }

    /// The violations of commissioning EPCs of another organisation's company prefix: only its
    /// owner (or the owner's delegates) may commission them.
    pub fn foreign_commissioning(
        &self,
        parties: &ledger::history::Parties,
        reporter: Option<&ledger::OrganisationId>,
    ) -> Vec<ProblemViolation> {
        let mut violations = Vec::new();
        for event in self
            .document
            .events()
            .iter()
            .filter(|e| is_commissioning(e))
        {
            for (position, epc) in event.epc_list().enumerate() {
                if let Err(why) = parties.may_commission(reporter, epc) {
                    violations.push(ProblemViolation::new(
                        Some(event.index()),
                        format!("{}/epcList/{position}", event.pointer()),
                        "commissioning",
                        format!(
                            "event {}: {why}: only its owner may commission it",
                            event.index()
                        ),
                    ));
                }
            }
        }
        violations
    }

    /// Whether an event recalls, or lifts a recall of, what it names: only then is the registry
    /// of company prefixes read for it.
    pub fn recalls(&self) -> bool {
        self.document
            .events()
            .iter()
            .any(|event| ledger::history::recall_scope(event.raw()).is_some())
    }

    /// The violations of recalling (or lifting the recall of) EPCs or classes of another
    /// organisation's company prefix: a recall is its brand's word (the owner, or a delegate), or
    /// a regulator's. What no registered prefix covers is judged in the views (the first
    /// commissioner's).
    pub fn foreign_recalls(
        &self,
        parties: &ledger::history::Parties,
        reporter: Option<&ledger::OrganisationId>,
    ) -> Vec<ProblemViolation> {
        let mut violations = Vec::new();
        // A regulator's recall holds for any item.
        if reporter.is_some_and(|reporter| parties.is_regulator(reporter)) {
            return violations;
        }
        for event in self.document.events() {
            let raw = event.raw();
            let Some((_, epcs, classes)) = ledger::history::recall_scope(raw) else {
                continue;
            };
            let mut refuse = |pointer: String, id: &str, owner: &ledger::OrganisationId| {
                if reporter.is_some_and(|reporter| parties.acts_for(reporter, owner)) {
                    return;
                }
                let by = reporter.map_or_else(
                    || "a site of no registered organisation".to_owned(),
                    ToString::to_string,
                );
                violations.push(ProblemViolation::new(
                    Some(event.index()),
                    pointer,
                    "recall",
                    format!(
                        "event {}: {id} is issued under a company prefix of {owner}, not of \
                         {by}: only its brand may recall it or lift its recall",
                        event.index()
                    ),
                ));
            };
            for id in epcs {
                if let Some(owner) = parties.owner_of(id) {
                    refuse(pointer_to(raw, &event.pointer(), id), id, owner);
                }
            }
            for (position, class) in classes.into_iter().enumerate() {
                if let Some(owner) = parties.class_owner(class) {
                    let pointer = format!("{}/quantityList/{position}/epcClass", event.pointer());
                    refuse(pointer, class, owner);
                }
            }
        }
        violations
    }

    /// Every distinct location named by an event (`readPoint.id`, `bizLocation.id`), with the
    /// events and pointers naming it, and the keys it may be registered under.
    pub fn locations(&self) -> Vec<NamedLocation> {
        let mut by_value: BTreeMap<&str, NamedLocation> = BTreeMap::new();
        for event in self.document.events() {
            for (field, value) in [
                ("readPoint", event.read_point()),
                ("bizLocation", event.biz_location()),
            ] {
                let Some(value) = value else { continue };
                let named = by_value.entry(value).or_insert_with(|| NamedLocation {
                    value: value.to_owned(),
                    candidates: LocationKey::candidates(value),
                    named_by: Vec::new(),
                });
                named.named_by.push((
                    event.index(),
                    format!("{}/{field}/id", event.pointer()),
                    field,
                ));
            }
        }
        by_value.into_values().collect()
    }

    /// Applies the error behaviour: with `rollback` any violation refuses the whole document;
    /// with `proceed` the events without violations are stored (if there is at least one) and the
    /// others reported. Document-level violations always refuse the whole document.
    pub fn decide(&self, behaviour: ErrorBehaviour) -> Result<Decision, CaptureError> {
        let all = || {
            self.violations
                .values()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
        };
        if self.violations.contains_key(&None) {
            return Err(CaptureError::Invalid(all()));
        }
        // A document without events is valid (the official schema allows an empty event list):
        // its capture stores nothing and succeeds.
        if self.is_empty() {
            return Ok(Decision {
                accepted: Vec::new(),
                rejected: BTreeMap::new(),
            });
        }
        if behaviour == ErrorBehaviour::Rollback && !self.violations.is_empty() {
            return Err(CaptureError::Invalid(all()));
        }
        let mut rejected = BTreeMap::new();
        let mut accepted = Vec::with_capacity(self.len());
        for index in 0..self.len() {
            match self.violations.get(&Some(index)) {
                Some(violations) => {
                    rejected.insert(index, violations.clone());
                }
                None if self.hashes[index].is_some() => accepted.push(index),
                None => {}
            }
        }
        if accepted.is_empty() {
            return Err(CaptureError::Invalid(all()));
        }
        Ok(Decision { accepted, rejected })
    }

    /// The entries to append for the accepted events, attested by the caller.
    pub fn batch(
        &self,
        caller: &Caller,
        signed: Option<SignedBatch>,
        accepted: &[usize],
        captured_at: UnixMillis,
    ) -> Result<NewBatch, CaptureError> {
        let context = document_context(&self.document);
        // The context every event without an `@context` of its own is stored with: what
        // `self_contained_event` gives such an event (computed once per document).
        let shared = self_contained_event(&Map::new(), &context)
            .map_err(|error| CaptureError::Internal(error.to_string()))?
            .remove("@context");
        let statement_hash = signed.as_ref().map(|signed| signed.statement().hash());
        let mut entries = Vec::with_capacity(accepted.len());
        // The position of each document event's entry, for the keys of its sealed values.
        let mut entry_of: Vec<Option<usize>> = vec![None; self.document.events().len()];
        for &index in accepted {
            let event: &Event = &self.document.events()[index];
            let Some(hash) = self.hashes[index] else {
                continue;
            };
            let json = if event.has_context() {
                // `analyse` refused documents with ignoreFields, the only reason this can fail.
                let alone = self_contained_event(event.raw(), &context)
                    .map_err(|error| CaptureError::Internal(error.to_string()))?;
                Value::Object(alone).to_string()
            } else {
                // The same JSON, written from the parsed event (no JSON object built for it).
                match &shared {
                    Some(context) => event.to_json_with_context(context),
                    None => event.to_json(),
                }
            };
            let attestation = match (caller, statement_hash) {
                (Caller::Device { device, .. }, Some(statement)) => Attestation::Device {
                    device: device.clone(),
                    statement,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                },
                (caller, _) => Attestation::Unattested {
                    site: caller.site().clone(),
                },
            };
            // Indexes are below the event limit, itself at most the largest batch (2^20).
            // An error declaration is appended as an entry of its own (its CBV hash is the
            // declared event's), under its declaration key. Only a declaration (rare) builds the
            // event's JSON object: `raw()` costs a copy of the whole event.
            let declaration = event
                .has_error_declaration()
                .then(|| event.raw().get("errorDeclaration"))
                .flatten();
            // The record hashes the stored bytes once; it binds them by construction.
            let entry = NewEntry::recorded(json, hash, captured_at, attestation, declaration)
                .map_err(|error| CaptureError::Internal(error.to_string()))?;
            // The lookup keys from the parsed event: the indexer need not parse it again.
            entry_of[index] = Some(entries.len());
            entries.push(entry.with_lookup_keys(LookupKeys::of_parsed(event)));
        }
        let batch = match signed {
            Some(signed) => NewBatch::from_device(signed, entries),
            None => NewBatch::unattested(entries),
        }
        .and_then(|batch| {
            // The keys of the appended events' sealed values go with them, into the same
            // transaction: an acknowledged value can always be opened.
            let keys = self
                .sealed
                .for_entries(|event| entry_of.get(event).copied().flatten())?;
            batch.with_field_keys(keys)
        });
        // Entries are built from the same statement just above: a mismatch would be a bug here.
        batch.map_err(|error| CaptureError::Internal(error.to_string()))
    }
}

/// The JSON pointer of the member of `raw` (an event at `base`) that names `id`: its place in
/// `epcList`, `childEPCs`, `inputEPCList` or `outputEPCList`, or `parentID`.
fn pointer_to(raw: &serde_json::Map<String, serde_json::Value>, base: &str, id: &str) -> String {
    for member in ["epcList", "childEPCs", "inputEPCList", "outputEPCList"] {
        if let Some(position) = raw
            .get(member)
            .and_then(serde_json::Value::as_array)
            .and_then(|list| list.iter().position(|value| value.as_str() == Some(id)))
        {
            return format!("{base}/{member}/{position}");
        }
    }
    match raw.get("parentID").and_then(serde_json::Value::as_str) == Some(id) {
        true => format!("{base}/parentID"),
        false => base.to_owned(),
    }
}

fn is_commissioning(event: &Event) -> bool {
    event.type_name() == "ObjectEvent" && event.action().map(|a| a.as_str()) == Some("ADD")
}

/// A location named in the document.
#[derive(Debug, Clone)]
pub struct NamedLocation {
    /// The identifier as written.
    pub value: String,
    /// The keys it may be registered under.
    pub candidates: Vec<LocationKey>,
    /// (event index, JSON pointer, field) of each mention.
    pub named_by: Vec<(usize, String, &'static str)>,
}

/// The violations of the locations the caller may not speak for (`allowed` holds the registered
/// keys the caller may use).
pub fn forbidden(
    locations: &[NamedLocation],
    allowed: &std::collections::HashSet<String>,
    caller: &Caller,
) -> Vec<ProblemViolation> {
    let mut violations = Vec::new();
    for location in locations {
        if location
            .candidates
            .iter()
            .any(|key| allowed.contains(key.as_str()))
        {
            continue;
        }
        let who = match caller {
            Caller::Device { device, site, .. } => {
                format!("device {} of site {}", device.as_str(), site.as_str())
            }
            Caller::Site { site, .. } => format!("site {}", site.as_str()),
        };
        for (event, pointer, field) in &location.named_by {
            violations.push(ProblemViolation::new(
                Some(*event),
                pointer.clone(),
                "siteLocation",
                format!(
                    "event {event}: {field} {} is not a location {who} may speak for",
                    location.value
                ),
            ));
        }
    }
    violations.sort_by(|a, b| {
        a.event_index
            .cmp(&b.event_index)
            .then(a.pointer.cmp(&b.pointer))
    });
    violations
}

/// The parts of the document root the events' hashes depend on (its `@context`), as a document
/// for [`self_contained_event`].
fn document_context(document: &Document) -> Value {
    let mut root = Map::new();
    if let Some(context) = document.context() {
        root.insert("@context".to_owned(), context.clone());
    }
    Value::Object(root)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn document(events: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2024-01-01T00:00:00Z",
            "epcisBody": {"eventList": events}
        }))
        .unwrap()
    }

    fn event(serial: u32) -> Value {
        serde_json::json!({
            "type": "ObjectEvent",
            "eventTime": "2024-01-01T00:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [format!("urn:epc:id:sgtin:0614141.107346.{serial}")],
            "action": "OBSERVE",
            "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"}
        })
    }

    #[test]
    fn rollback_refuses_a_document_with_one_bad_event_and_proceed_keeps_the_others() {
        let mut bad = event(2);
        bad["action"] = Value::from("LOOK");
        let analysed = analyse(&document(&[event(1), bad, event(3)]), &Limits::default()).unwrap();
        match analysed.decide(ErrorBehaviour::Rollback) {
            Err(CaptureError::Invalid(violations)) => {
                assert_eq!(violations[0].event_index, Some(1));
                assert_eq!(violations[0].pointer, "/epcisBody/eventList/1/action");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let decision = analysed.decide(ErrorBehaviour::Proceed).unwrap();
        assert_eq!(decision.accepted, vec![0, 2]);
        assert_eq!(
            decision.rejected.keys().copied().collect::<Vec<_>>(),
            vec![1]
        );
    }

    #[test]
    fn limits_are_enforced_with_the_offending_pointer() {
        let limits = Limits {
            max_events_per_document: 2,
            ..Limits::default()
        };
        match analyse(&document(&[event(1), event(2), event(3)]), &limits) {
            Err(CaptureError::TooLarge { violation, .. }) => {
                assert_eq!(violation.rule, "maxEvents")
            }
            other => panic!("expected too large, got {other:?}"),
        }
        let limits = Limits {
            max_event_bytes: 100,
            ..Limits::default()
        };
        match analyse(&document(&[event(1)]), &limits) {
            Err(CaptureError::TooLarge { violation, .. }) => {
                assert_eq!(violation.rule, "maxEventBytes");
                assert_eq!(violation.event_index, Some(0));
                let size = serde_json::to_string(&event(1)).unwrap().len();
                assert!(
                    violation.message.contains(&format!("{size} bytes")),
                    "{violation:?}"
                );
            }
            other => panic!("expected too large, got {other:?}"),
        }
        let limits = Limits {
            max_epcs_per_event: 0,
            ..Limits::default()
        };
        match analyse(&document(&[event(1)]), &limits) {
            Err(CaptureError::TooLarge { violation, .. }) => {
                assert_eq!(violation.pointer, "/epcisBody/eventList/0");
                assert_eq!(violation.event_index, Some(0));
            }
            other => panic!("expected too large, got {other:?}"),
        }
    }

    #[test]
    fn a_document_without_events_is_accepted_and_stores_nothing() {
        let analysed = analyse(&document(&[]), &Limits::default()).unwrap();
        assert!(analysed.is_empty());
        for behaviour in [ErrorBehaviour::Rollback, ErrorBehaviour::Proceed] {
            let decision = analysed.decide(behaviour).unwrap();
            assert!(decision.accepted.is_empty() && decision.rejected.is_empty());
        }
    }

    #[test]
    fn a_non_json_document_is_refused() {
        assert!(matches!(
            analyse(b"{not json", &Limits::default()),
            Err(CaptureError::Invalid(_))
        ));
    }

    #[test]
    fn stored_events_are_what_self_contained_event_makes_and_hash_alone_as_in_the_document() {
        let mut value: Value = serde_json::from_slice(&document(&[event(1), event(2)])).unwrap();
        value["@context"] = serde_json::json!([
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "https://ns.example.com/epcis/"}
        ]);
        value["epcisBody"]["eventList"][0]["example:field"] = Value::from("x");
        value["epcisBody"]["eventList"][1]["@context"] =
            serde_json::json!({"other": "https://o.example/"});
        value["epcisBody"]["eventList"][1]["other:field"] = Value::from("y");
        // Only the EPCIS context: events are stored without an `@context` of their own.
        let mut plain = event(3);
        plain["eventID"] = Value::from("ni:///sha-256;x\"y\u{e9}\n?ver=CBV2.0");
        let caller = Caller::Site {
            site: ledger::SiteId::parse("s").unwrap(),
            token: registry::TokenId::parse("0123456789abcdef").unwrap(),
        };
        for body in [
            serde_json::to_vec(&value).unwrap(),
            document(&[plain, event(4)]),
        ] {
            let analysed = analyse(&body, &Limits::default()).unwrap();
            let batch = analysed
                .batch(&caller, None, &[0, 1], UnixMillis::from_millis(0))
                .unwrap();
            let context = document_context(analysed.document());
            for (index, entry) in batch.entries().iter().enumerate() {
                let event = &analysed.document().events()[index];
                let expected = self_contained_event(event.raw(), &context).unwrap();
                assert_eq!(entry.event(), Value::Object(expected.clone()).to_string());
                let hash = event_hash(&expected, &HashContext::new()).unwrap();
                assert_eq!(Some(hash), analysed.hashes()[index]);
                // The keys handed to the indexer are those it would read from the stored text.
                assert_eq!(
                    entry.lookup_keys(),
                    Some(&LookupKeys::of_json(entry.event()).unwrap())
                );
            }
        }
    }

    #[test]
    fn locations_are_collected_once_with_every_mention() {
        let analysed = analyse(&document(&[event(1), event(2)]), &Limits::default()).unwrap();
        let locations = analysed.locations();
        assert_eq!(locations.len(), 1);
        assert_eq!(locations[0].named_by.len(), 2);
        assert_eq!(
            locations[0].named_by[1].1,
            "/epcisBody/eventList/1/readPoint/id"
        );
    }
}
