//! Recall tracing: everything connected to an item, a lot or a place, through packing,
//! transformations and shared lots, as a graph.
//!
//! A trace starts at one [`Subject`] and goes [`Direction::Forward`] (where it went: what it was
//! packed into, what it was made into, the items of a lot), [`Direction::Backward`] (where it came
//! from: what it was packed into, what it was made from, its lot) or both (the two walks from the
//! start, not a walk that turns around: a lot reached backward is not expanded into its other
//! items; trace the lot for that).
//!
//! Each subject is reached with a [`Span`] of event times: when what is traced could be in or at
//! it. The start's span is the request's (all time by default). Walking from a subject:
//! - to each container it was in (an `ADD` or `OBSERVE` AggregationEvent put it in, a `DELETE`
//!   or its joining another container took it out), for the part of that time inside its span:
//!   so a case unpacked from a pallet before the pallet was shipped does not reach the shipment;
//! - from the start (and from what that reaches by the same step) to what it contained: a
//!   recalled pallet's cases and their items, each from the time it was inside onward (forward)
//!   or up to it (backward). A container reached from its contents does not reach the other
//!   things packed with them;
//! - to the places of its events inside its span: where they happened (`readPoint`,
//!   `bizLocation`) and where they sent it (a `location` destination); a place is where a trace
//!   ends, unless it starts there;
//! - forward, from the inputs of a transformation inside its span to its outputs, from the
//!   output's time on; backward, from the outputs to the inputs, up to the input's time. The
//!   events one party wrote under one `transformationID` are one transformation, each side at its
//!   own event's time (another party's events under the same identifier are another
//!   transformation: nobody joins or moves someone else's);
//! - forward, from a lot to the items commissioned in it (an `ADD` ObjectEvent with the ILMD
//!   `lotNumber`); backward, from an item to its lot, which is shown and not read (its other
//!   items are no source of this one);
//! - from a place that starts the trace, to everything the events that happened there inside the
//!   span name (and what they contained), from each event's time on (forward) or up to it
//!   (backward).
//!
//! Only events whose reporter had authority for what they do shape a trace
//! ([`crate::history::authority`]): a packing, an unpacking, a transformation or a
//! commissioning into a lot without authority is listed as [`Unfollowed`] and leads nowhere.
//! Custody of quantities is not tracked, so a class's quantities are related only by the owner
//! of the class's company prefix (or a party acting for it), and quantities alone go only into
//! the reporter's own container; the rest is listed as unfollowed too. At a place that starts a
//! trace, an event reported there leads to everything it names when its reporter owns the place
//! (its company prefix, or as a delegate; at a place whose prefix nobody registered, any
//! registered party), and to its items and containers alone when the reporter had authority for
//! a change it made there; others' reports are listed as unfollowed. Observations elsewhere are
//! shown as they were reported: a place reached is where some party said the subject was (each
//! edge names who said so), and leads nowhere. An event names at most
//! [`MAX_PLACES_PER_EVENT`] places.
//!
//! The events are gathered in rounds from a [`TraceSource`], the events of every subject reached
//! read once, and authority judged over all of them after each round as a history judges it, so
//! the trace runs the same on the ledger (trace-api) and on events held in memory
//! ([`InMemory`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use epcis::document::Timestamp;
use epcis::hash::canonical_identifier;

use crate::history::authority::Authority;
use crate::history::{Item, Parties, SourceEvent, assess_relations, text_list};
use crate::ids::OrganisationId;
use crate::index::{
    EPC_MEMBERS as EPC_LISTS, IndexKey, LOT_NUMBER_NAMES, QUANTITY_MEMBERS as QUANTITY_LISTS,
    day_of, gtin_and_lot,
};
use crate::size::LeafIndex;

/// Rounds of gathering a trace makes at most: each reads the events of what the last reached.
pub const MAX_ROUNDS: usize = 64;

/// The spellings of the CBV source/destination type `location`.
const LOCATION_TYPES: [&str; 3] = [
    "location",
    "urn:epcglobal:cbv:sdt:location",
    "https://ref.gs1.org/cbv/SDT-location",
];

/// What a trace follows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// An item or a container, by the canonical form of its EPC (the event hash's).
    Epc(String),
    /// One lot of a GTIN (14 digits).
    Lot { gtin: String, lot: String },
    /// A class without a lot (a GTIN, or a class that is not a GS1 identifier), canonical: shown
    /// where a transformation or a packing names it, never expanded (it connects every item of
    /// a product).
    Class(String),
    /// A place, canonical.
    Location(String),
}

/// Why text is not something a trace can start from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("the identifier is longer than {} bytes", crate::history::MAX_ITEM_LEN)]
    TooLong,
    #[error(
        "{0:?} names a whole product (a GTIN without a lot): trace one of its lots \
         (urn:epc:class:lgtin:..., or a Digital Link with /10/<lot>) or an item"
    )]
    WholeClass(String),
    #[error(
        "{0:?} is not an identifier a trace starts from: give an item or container (an EPC URI, \
         a GS1 Digital Link, the EPC bank in hex), a lot (urn:epc:class:lgtin:..., or a Digital \
         Link with /01/<GTIN>/10/<lot>) or a place (urn:epc:id:sgln:..., or a Digital Link with \
         /414/<GLN>)"
    )]
    Unknown(String),
}

impl Subject {
    /// What `text` names, for the start of a trace: a place (an SGLN or a GLN Digital Link), a
    /// lot (an LGTIN or a Digital Link of a GTIN and lot without a serial), or an item or
    /// container (any identifier [`Item::parse`] reads).
    pub fn parse(text: &str) -> Result<Self, SubjectError> {
        if text.len() > crate::history::MAX_ITEM_LEN {
            return Err(SubjectError::TooLong);
        }
        let canonical = canonical_identifier(text);
        if let Some(subject) = Self::place_or_lot(canonical, text)? {
            return Ok(subject);
        }
        match Item::parse(text) {
            // What the identifier names, read as its canonical form would be: a text that is
            // not itself a GLN's link can still name one.
            Ok(item) => {
                let first = item.epcs.first().map_or(text, String::as_str);
                let first = canonical_identifier(first);
                Ok(Self::place_or_lot(first.clone(), text)?.unwrap_or(Self::Epc(first)))
            }
            Err(_) => Err(SubjectError::Unknown(text.chars().take(200).collect())),
        }
    }

    /// The place or lot `canonical` (the canonical form of `text`) names, if it names one.
    fn place_or_lot(canonical: String, text: &str) -> Result<Option<Self>, SubjectError> {
        if canonical.starts_with("https://id.gs1.org/414/") {
            return Ok(Some(Self::Location(canonical)));
        }
        match gtin_and_lot(&canonical).filter(|_| !canonical.contains("/21/")) {
            Some((gtin, Some(lot))) => Ok(Some(Self::Lot { gtin, lot })),
            Some((_, None)) => Err(SubjectError::WholeClass(text.to_owned())),
            None => Ok(None),
        }
    }

    /// The subject of a class as an event's quantity names it.
    fn of_class(class: &str) -> Self {
        match gtin_and_lot(class) {
            Some((gtin, Some(lot))) => Self::Lot { gtin, lot },
            _ => Self::Class(canonical_identifier(class)),
        }
    }

    /// Its identifier as a trace shows it: the canonical form; a lot as the GS1 Digital Link of
    /// its GTIN and lot.
    pub fn id(&self) -> String {
        match self {
            Self::Epc(id) | Self::Class(id) | Self::Location(id) => id.clone(),
            Self::Lot { gtin, lot } => {
                let mut id = format!("https://id.gs1.org/01/{gtin}/10/");
                for byte in lot.bytes() {
                    match byte {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                            id.push(char::from(byte));
                        }
                        _ => id.push_str(&format!("%{byte:02X}")),
                    }
                }
                id
            }
        }
    }

    /// The names events may give it by, for finding them: its EPC URIs and canonical Digital
    /// Link (an item, a container, a place); empty for a lot or a class.
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::Epc(id) | Self::Location(id) => match Item::parse(id) {
                Ok(item) => {
                    let mut names = item.names;
                    if !names.contains(id) {
                        names.push(id.clone());
                    }
                    names
                }
                Err(_) => vec![id.clone()],
            },
            Self::Lot { .. } | Self::Class(_) => Vec::new(),
        }
    }

    /// What kind of node it is in a trace (an EPC's is decided by how the trace saw it).
    fn kind(&self, container: bool) -> NodeKind {
        match self {
            Self::Epc(_) if container => NodeKind::Container,
            Self::Epc(_) => NodeKind::Item,
            Self::Lot { .. } => NodeKind::Lot,
            Self::Class(_) => NodeKind::Class,
            Self::Location(_) => NodeKind::Location,
        }
    }

    /// Whether `event` names it: as an EPC, a quantity's class or a commissioning lot; a place
    /// as where the event happened (its `readPoint` or `bizLocation`: the events a trace from a
    /// place reads, and the ones the index lists under the place's days).
    pub fn named_by(&self, event: &Map<String, Value>) -> bool {
        match self {
            Self::Location(_) => places(event)
                .iter()
                .any(|(place, edge)| *edge == EdgeKind::SeenAt && place == self),
            _ => subjects_of(event).contains(self),
        }
    }

    /// The keys under which the verifiable index lists every event naming it that a trace's
    /// source gives when asked over `span` ([`crate::index`]): an item's or container's `epc`
    /// key, a lot's `lot` key, a place's `location-day` key for each UTC day of the span. `None`
    /// when no keys do: a class (a trace never reads one), a lot of a GTIN that is not 14
    /// digits, a place over an open span or one of more than
    /// [`MAX_COVER_DAYS`](crate::bundle::MAX_COVER_DAYS) days.
    pub fn index_keys(&self, span: Span) -> Option<Vec<IndexKey>> {
        match self {
            Self::Epc(id) => Some(vec![IndexKey::epc(id)]),
            Self::Lot { gtin, lot } => IndexKey::lot(gtin, lot).map(|key| vec![key]),
            Self::Class(_) => None,
            Self::Location(id) => {
                if span.from == i128::MIN || span.until == i128::MAX {
                    return None;
                }
                let (first, last) = (day_of(span.from), day_of(span.until));
                if last.saturating_sub(first) >= crate::bundle::MAX_COVER_DAYS {
                    return None;
                }
                Some(
                    (first..=last)
                        .map(|day| IndexKey::location_day(id, day))
                        .collect(),
                )
            }
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// Which way a trace goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Where it went.
    Forward,
    /// Where it came from.
    Backward,
    /// Both walks from the start.
    Both,
}

impl Direction {
    /// `forward`, `backward` or `both`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "forward" => Some(Self::Forward),
            "backward" => Some(Self::Backward),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    /// The walks it makes.
    fn walks(self) -> &'static [Direction] {
        match self {
            Self::Forward => &[Self::Forward],
            Self::Backward => &[Self::Backward],
            Self::Both => &[Self::Forward, Self::Backward],
        }
    }
}

/// Event times from `from` to `until`, both included, in nanoseconds since the Unix epoch; the
/// extremes stand for open ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub from: i128,
    pub until: i128,
}

impl Span {
    /// All time.
    pub const ALL: Self = Self {
        from: i128::MIN,
        until: i128::MAX,
    };

    /// The times in both, if any.
    fn meet(self, other: Self) -> Option<Self> {
        let span = Self {
            from: self.from.max(other.from),
            until: self.until.min(other.until),
        };
        (span.from <= span.until).then_some(span)
    }

    /// The least span holding both.
    fn hull(self, other: Self) -> Self {
        Self {
            from: self.from.min(other.from),
            until: self.until.max(other.until),
        }
    }

    fn contains(self, time: i128) -> bool {
        self.from <= time && time <= self.until
    }

    fn covers(self, other: Self) -> bool {
        self.from <= other.from && other.until <= self.until
    }

    fn at(time: i128) -> Self {
        Self {
            from: time,
            until: time,
        }
    }

    /// From `time` on (forward) or up to it (backward).
    fn onward(direction: Direction, time: i128) -> Self {
        match direction {
            Direction::Backward => Self {
                from: i128::MIN,
                until: time,
            },
            _ => Self {
                from: time,
                until: i128::MAX,
            },
        }
    }
}

/// What a trace asks for.
#[derive(Debug, Clone)]
pub struct TraceRequest {
    pub start: Subject,
    pub direction: Direction,
    /// The start's span: when what is traced could be in or at it.
    pub span: Span,
    /// The most events read; more is [`TraceError::TooManyEvents`].
    pub max_events: usize,
    /// The most subjects reached; more is [`TraceError::TooManySubjects`].
    pub max_subjects: usize,
}

/// Where a trace reads events.
pub trait TraceSource {
    /// What goes wrong reading them.
    type Error;
    /// The events that name one of `subjects` (as an EPC, a quantity's class, a commissioning
    /// lot; a place's only inside `span`, its days at least), but those `known` says the caller
    /// holds already, in any order, each with whether the trace may show it (its payload). More
    /// is harmless (the trace reads each event for what it says); a source that cannot give them
    /// all (too many) refuses.
    ///
    /// A trace for a credential that may read only some events (a partner's: its own sites')
    /// gets every event all the same, marked: authority is judged over all of them, as it is for
    /// everyone, and the trace is made of the events it may show alone.
    fn events(
        &self,
        subjects: &[Subject],
        span: Span,
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<SourceEvent<bool>>, Self::Error>>;
}

/// Why a trace could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TraceError<E> {
    #[error("reading events failed")]
    Source(#[source] E),
    #[error(
        "the trace reads more than {limit} events: start from a narrower subject or give a \
         shorter time span"
    )]
    TooManyEvents { limit: usize },
    #[error(
        "the trace reaches more than {limit} items, containers, lots and places, or too many \
         connections between them: start from a narrower subject or give a shorter time span"
    )]
    TooManySubjects { limit: usize },
    #[error("the trace is still reaching new subjects after {MAX_ROUNDS} rounds of reading")]
    TooDeep,
}

/// What a node of a trace is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Item,
    Container,
    Lot,
    Class,
    Location,
}

impl NodeKind {
    fn name(self) -> &'static str {
        match self {
            Self::Item => "item",
            Self::Container => "container",
            Self::Lot => "lot",
            Self::Class => "class",
            Self::Location => "location",
        }
    }
}

/// How two nodes are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EdgeKind {
    /// `from` (a container) held `to` (an item, a container or a lot's quantity) from `since`
    /// until `until`.
    Contains,
    /// `from` was an input of a transformation that made `to`.
    TransformedInto,
    /// `from` (a lot) is the lot of `to` (an item commissioned in it).
    LotOf,
    /// `from` was reported at `to` (a place), from `since` to `until` (its first and last such
    /// event).
    SeenAt,
    /// `from` was sent to `to` (a place: a `location` destination).
    ShippedTo,
}

impl EdgeKind {
    fn name(self) -> &'static str {
        match self {
            Self::Contains => "contains",
            Self::TransformedInto => "transformedInto",
            Self::LotOf => "lotOf",
            Self::SeenAt => "seenAt",
            Self::ShippedTo => "shippedTo",
        }
    }
}

/// One node of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceNode {
    pub id: String,
    pub kind: NodeKind,
    /// Steps from the start (0 for the start).
    pub depth: usize,
    /// The walks that reached it.
    pub directions: Vec<Direction>,
    /// When what is traced could be in or at it (RFC 3339; absent: open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The edge it was first reached by, as `<kind> <other node>`; absent for the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// One edge of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceEdge {
    pub kind: EdgeKind,
    pub from: String,
    pub to: String,
    /// When the relation held (RFC 3339; absent: open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// The leaf indexes of the events it rests on.
    pub evidence: Vec<u64>,
    /// The organisations that reported them (those the registry knows).
    pub reported_by: Vec<String>,
}

/// An event that would have led the trace further, not followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unfollowed {
    pub leaf_index: u64,
    pub reason: String,
}

/// A trace: every node reached, the edges between them, and what was not followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub start: String,
    pub direction: Direction,
    /// Nodes by depth, then kind, then identifier.
    pub nodes: Vec<TraceNode>,
    /// Edges by kind, then their ends.
    pub edges: Vec<TraceEdge>,
    /// In leaf order.
    pub unfollowed: Vec<Unfollowed>,
    /// How many events were read (of those it may show).
    pub events_read: usize,
}

/// Traces `request` over `source`, judging authority with `parties`.
pub async fn trace<S: TraceSource>(
    source: &S,
    request: &TraceRequest,
    parties: &Parties,
) -> Result<Trace, TraceError<S::Error>> {
    let mut pool: BTreeMap<LeafIndex, SourceEvent<bool>> = BTreeMap::new();
    let mut asked: BTreeSet<Subject> = BTreeSet::new();
    let mut ask = vec![request.start.clone()];
    for _ in 0..MAX_ROUNDS {
        let fresh: Vec<Subject> = ask
            .into_iter()
            .filter(|subject| asked.insert(subject.clone()))
            .collect();
        if !fresh.is_empty() {
            let known = |leaf: LeafIndex| pool.contains_key(&leaf);
            let events = source
                .events(&fresh, request.span, &known)
                .await
                .map_err(TraceError::Source)?;
            for event in events {
                pool.entry(event.leaf).or_insert(event);
            }
            if pool.len() > request.max_events {
                return Err(TraceError::TooManyEvents {
                    limit: request.max_events,
                });
            }
        }
        // While gathering, a relating event leads on when its reporter spoke for the side the
        // trace holds (the other side's events may not be read yet); the trace itself follows
        // only what is judged authorised once everything it reaches is read.
        let asked_epcs: HashSet<&str> = asked
            .iter()
            .filter_map(|subject| match subject {
                Subject::Epc(id) => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let judgement = assess_relations(pool.values(), parties, |id| {
            asked_epcs.contains(canonical_identifier(id).as_str())
        });
        let spoken: HashSet<LeafIndex> = judgement.spoken.iter().map(|(leaf, _)| *leaf).collect();
        let (marks, inert) = shaping(&pool, judgement);
        let loose = Walk::run(&pool, (&marks, &inert), Some(&spoken), request, parties)?;
        ask = loose.to_read(&asked, &request.start);
        if ask.is_empty() {
            let walk = Walk::run(&pool, (&marks, &inert), None, request, parties)?;
            ask = walk.to_read(&asked, &request.start);
            if ask.is_empty() {
                let shown = pool.values().filter(|event| event.payload).count();
                return Ok(walk.into_trace(request, shown));
            }
        }
    }
    Err(TraceError::TooDeep)
}

/// The marks a trace follows relations by: the judgement's, but that an event an error
/// declaration withdrew, and an error declaration itself (which repeats the event it declares),
/// relate nothing, with the reason; and those events, which lead nowhere whoever reported them
/// (not even from a place its reporter owns).
fn shaping<T>(
    pool: &BTreeMap<LeafIndex, SourceEvent<T>>,
    judgement: crate::history::Judgement,
) -> (BTreeMap<LeafIndex, Authority>, HashSet<LeafIndex>) {
    let mut marks = judgement.marks;
    let mut inert = HashSet::new();
    for (leaf, by) in judgement.withdrawn {
        marks.insert(
            leaf,
            Authority::Unauthorised {
                reason: format!("declared erroneous by entry {by}"),
            },
        );
        inert.insert(leaf);
    }
    for event in pool.values() {
        if event.event.contains_key("errorDeclaration") {
            marks.insert(
                event.leaf,
                Authority::Unauthorised {
                    reason: "an error declaration relates nothing: it repeats the event it \
                             declares"
                        .to_owned(),
                },
            );
            inert.insert(event.leaf);
        }
    }
    (marks, inert)
}

/// Every subject an event names: its EPCs, its quantities' classes, and the lot of each EPC
/// it commissions with an ILMD `lotNumber`.
fn subjects_of(event: &Map<String, Value>) -> Vec<Subject> {
    let mut subjects: Vec<Subject> = EPC_LISTS
        .into_iter()
        .flat_map(|member| text_list(event, member))
        .chain(event.get("parentID").and_then(Value::as_str))
        .map(|id| Subject::Epc(canonical_identifier(id)))
        .collect();
    subjects.extend(
        QUANTITY_LISTS
            .into_iter()
            .flat_map(|member| quantity_classes(event, member)),
    );
    subjects.extend(commissioned_lots(event).into_iter().map(|(lot, _)| lot));
    subjects.sort_unstable();
    subjects.dedup();
    subjects
}

/// The subjects of the classes of one quantity list.
fn quantity_classes(event: &Map<String, Value>, member: &str) -> Vec<Subject> {
    event
        .get(member)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|quantity| quantity.get("epcClass").and_then(Value::as_str))
        .map(Subject::of_class)
        .collect()
}

/// The EPC subjects of one EPC list.
fn epcs(event: &Map<String, Value>, member: &str) -> Vec<Subject> {
    text_list(event, member)
        .map(|id| Subject::Epc(canonical_identifier(id)))
        .collect()
}

/// The lots an `ADD` ObjectEvent with an ILMD `lotNumber` commissions its trade items into, each
/// with the item.
fn commissioned_lots(event: &Map<String, Value>) -> Vec<(Subject, Subject)> {
    let adds = event.get("type").and_then(Value::as_str) == Some("ObjectEvent")
        && event.get("action").and_then(Value::as_str) == Some("ADD");
    let lot = event
        .get("ilmd")
        .and_then(Value::as_object)
        .and_then(|ilmd| LOT_NUMBER_NAMES.iter().find_map(|name| ilmd.get(*name)))
        .and_then(Value::as_str);
    let (true, Some(lot)) = (adds, lot) else {
        return Vec::new();
    };
    text_list(event, "epcList")
        .filter_map(|id| {
            let canonical = canonical_identifier(id);
            let (gtin, _) = gtin_and_lot(&canonical)?;
            let lot = Subject::Lot {
                gtin,
                lot: lot.to_owned(),
            };
            Some((lot, Subject::Epc(canonical)))
        })
        .collect()
}

/// The most places one event counts: its read point, business location and first destinations,
/// each once (a list of thousands of destinations costs no more than this).
pub const MAX_PLACES_PER_EVENT: usize = 8;

/// The places of an event, each with how it relates to them: where it happened
/// (`readPoint`, `bizLocation`) or where it sent what it names (a `location` destination); each
/// once, at most [`MAX_PLACES_PER_EVENT`].
fn places(event: &Map<String, Value>) -> Vec<(Subject, EdgeKind)> {
    let mut places: Vec<(Subject, EdgeKind)> = Vec::new();
    for member in ["readPoint", "bizLocation"] {
        if let Some(id) = event
            .get(member)
            .and_then(|place| place.get("id"))
            .and_then(Value::as_str)
        {
            places.push((
                Subject::Location(canonical_identifier(id)),
                EdgeKind::SeenAt,
            ));
        }
    }
    for destination in event
        .get("destinationList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if places.len() >= MAX_PLACES_PER_EVENT {
            break;
        }
        let typed = destination
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|kind| LOCATION_TYPES.contains(&kind));
        if let (true, Some(id)) = (
            typed,
            destination.get("destination").and_then(Value::as_str),
        ) {
            let place = (
                Subject::Location(canonical_identifier(id)),
                EdgeKind::ShippedTo,
            );
            if !places.contains(&place) {
                places.push(place);
            }
        }
    }
    places
}

/// The raw text of the first place an event names that canonicalises to `place`.
fn place_as_written<'a>(event: &'a Map<String, Value>, place: &Subject) -> Option<&'a str> {
    let written = ["readPoint", "bizLocation"]
        .into_iter()
        .filter_map(|member| event.get(member)?.get("id")?.as_str())
        .chain(
            event
                .get("destinationList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|destination| destination.get("destination")?.as_str()),
        );
    written
        .into_iter()
        .find(|id| Subject::Location(canonical_identifier(id)) == *place)
}

fn event_type(event: &Map<String, Value>) -> Option<&str> {
    event.get("type").and_then(Value::as_str)
}

fn action(event: &Map<String, Value>) -> Option<&str> {
    event.get("action").and_then(Value::as_str)
}

/// A containment: `parent` held `child` over `span`.
#[derive(Debug, Clone)]
struct Held {
    parent: Subject,
    child: Subject,
    span: Span,
    leaves: Vec<LeafIndex>,
}

/// One side of a transformation: what one event consumed or produced, at that event's time.
#[derive(Debug, Clone)]
struct Side {
    subject: Subject,
    time: i128,
    leaf: LeafIndex,
}

/// A transformation: the events one reporter wrote under one `transformationID` (or one event
/// without one), each side at its own event's time. Keyed by reporter too, so that nobody can
/// add inputs or outputs to another party's transformation by writing its identifier.
#[derive(Debug, Clone, Default)]
struct Transformation {
    inputs: Vec<Side>,
    outputs: Vec<Side>,
}

/// What the events of a trace say, as the walk reads it.
#[derive(Debug, Default)]
struct Relations {
    /// Containments, by child and by parent (positions in `held`).
    held: Vec<Held>,
    by_child: HashMap<Subject, Vec<usize>>,
    by_parent: HashMap<Subject, Vec<usize>>,
    transformations: Vec<Transformation>,
    by_input: HashMap<Subject, Vec<usize>>,
    by_output: HashMap<Subject, Vec<usize>>,
    /// Lot memberships: (item, leaf, time) by lot, (lot, leaf, time) by item.
    members: HashMap<Subject, Vec<(Subject, LeafIndex, i128)>>,
    lots: HashMap<Subject, Vec<(Subject, LeafIndex, i128)>>,
    /// Each event's time, the places it names ([`places`]) and the subjects it names.
    times: HashMap<LeafIndex, i128>,
    places: HashMap<LeafIndex, Vec<(Subject, EdgeKind)>>,
    named: HashMap<LeafIndex, Vec<Subject>>,
    /// The events naming each subject, and those that happened at each place, in event-time
    /// order.
    naming: HashMap<Subject, Vec<LeafIndex>>,
    at_place: HashMap<Subject, Vec<LeafIndex>>,
    /// Relating events whose quantities were not followed: their reporter does not own the class.
    foreign: BTreeMap<LeafIndex, String>,
}

/// How [`Relations::of`] decides what leads on.
struct Rules<'a> {
    /// Whether a relating event leads on at all (its reporter had authority, or, while
    /// gathering, spoke for one of its identifiers).
    leads: &'a dyn Fn(LeafIndex) -> bool,
    /// With it, only the events a trace may show are read.
    shown_only: bool,
    parties: &'a Parties,
    /// Events that lead nowhere and were nowhere: error declarations, and the events they
    /// withdrew ([`shaping`]).
    inert: &'a HashSet<LeafIndex>,
}

impl Relations {
    /// Reads `pool` in event-time order, then log order.
    fn of(pool: &BTreeMap<LeafIndex, SourceEvent<bool>>, rules: &Rules<'_>) -> Self {
        let mut order: Vec<&SourceEvent<bool>> = pool
            .values()
            .filter(|event| event.payload || !rules.shown_only)
            .collect();
        order.sort_by_key(|event| (event.time, event.leaf));
        let mut relations = Self::default();
        let mut inside = Inside::default();
        let mut by_id: HashMap<(String, Option<OrganisationId>), usize> = HashMap::new();
        for event in order {
            let json = &event.event;
            let named = subjects_of(json);
            let places = match rules.inert.contains(&event.leaf) {
                true => Vec::new(),
                false => places(json),
            };
            for subject in &named {
                relations
                    .naming
                    .entry(subject.clone())
                    .or_default()
                    .push(event.leaf);
            }
            for (place, how) in &places {
                if *how == EdgeKind::SeenAt {
                    relations
                        .at_place
                        .entry(place.clone())
                        .or_default()
                        .push(event.leaf);
                }
            }
            relations.times.insert(event.leaf, event.time);
            relations.places.insert(event.leaf, places);
            relations.named.insert(event.leaf, named);
            if !relates(json) || !(rules.leads)(event.leaf) {
                continue;
            }
            // Custody of quantities is not tracked: a class's quantities are related only by
            // the party that owns the class's company prefix.
            let mut foreign = Vec::new();
            let mut own = |subject: Subject| match subject {
                Subject::Epc(_) => Some(subject),
                _ if owns(rules.parties, event.reporter.as_ref(), &subject) => Some(subject),
                _ => {
                    foreign.push(subject.id());
                    None
                }
            };
            match (event_type(json), action(json)) {
                (Some("AggregationEvent"), Some(action)) => {
                    let Some(parent) = json.get("parentID").and_then(Value::as_str) else {
                        continue;
                    };
                    let parent = Subject::Epc(canonical_identifier(parent));
                    let mut children = epcs(json, "childEPCs");
                    let whole = children.is_empty();
                    let quantities = quantity_classes(json, "childQuantityList");
                    // Quantities alone (no custody judged) go only into the reporter's own
                    // container.
                    if whole
                        && !quantities.is_empty()
                        && !owns(rules.parties, event.reporter.as_ref(), &parent)
                    {
                        relations.foreign.insert(
                            event.leaf,
                            format!(
                                "it relates quantities alone, into {parent}, a container its \
                                 reporter does not own"
                            ),
                        );
                        continue;
                    }
                    children.extend(quantities.into_iter().filter_map(&mut own));
                    if action == "DELETE" {
                        // No EPCs named: the whole container is unpacked (as custody reads it).
                        let leaving = match whole {
                            true => inside.contents_of(&parent),
                            false => children,
                        };
                        for child in leaving {
                            if let Some((since, mut leaves)) = inside.take(&child, &parent) {
                                leaves.push(event.leaf);
                                relations.add_held(
                                    parent.clone(),
                                    child,
                                    since,
                                    event.time,
                                    leaves,
                                );
                            }
                        }
                    } else {
                        for child in children {
                            // An item joining a container leaves the one it was in; a lot's
                            // quantities may be in many containers at once.
                            if let Subject::Epc(_) = child
                                && let Some(holder) = inside.holder(&child).cloned()
                                && holder != parent
                                && let Some((since, leaves)) = inside.take(&child, &holder)
                            {
                                relations.add_held(
                                    holder,
                                    child.clone(),
                                    since,
                                    event.time,
                                    leaves,
                                );
                            }
                            inside.put(child, &parent, event.time, event.leaf);
                        }
                    }
                }
                (Some("TransformationEvent"), _) => {
                    let key = json
                        .get("transformationID")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("#{}", event.leaf.get()), str::to_owned);
                    let position =
                        *by_id
                            .entry((key, event.reporter.clone()))
                            .or_insert_with(|| {
                                relations.transformations.push(Transformation::default());
                                relations.transformations.len() - 1
                            });
                    let side = |subject| Side {
                        subject,
                        time: event.time,
                        leaf: event.leaf,
                    };
                    let mut inputs = epcs(json, "inputEPCList");
                    inputs.extend(
                        quantity_classes(json, "inputQuantityList")
                            .into_iter()
                            .filter_map(&mut own),
                    );
                    let mut outputs = epcs(json, "outputEPCList");
                    outputs.extend(
                        quantity_classes(json, "outputQuantityList")
                            .into_iter()
                            .filter_map(&mut own),
                    );
                    let transformation = &mut relations.transformations[position];
                    transformation.inputs.extend(inputs.into_iter().map(side));
                    transformation.outputs.extend(outputs.into_iter().map(side));
                }
                _ => {
                    for (lot, item) in commissioned_lots(json) {
                        relations.members.entry(lot.clone()).or_default().push((
                            item.clone(),
                            event.leaf,
                            event.time,
                        ));
                        relations
                            .lots
                            .entry(item)
                            .or_default()
                            .push((lot, event.leaf, event.time));
                    }
                }
            }
            if !foreign.is_empty() {
                relations.foreign.insert(
                    event.leaf,
                    format!(
                        "its reporter does not own {}, whose quantities it relates: custody of \
                         quantities is not tracked, so only a class's owner relates them",
                        foreign.join(", ")
                    ),
                );
            }
        }
        for ((child, parent), (since, leaves)) in inside.of {
            relations.add_held(parent, child, since, i128::MAX, leaves);
        }
        for (position, transformation) in relations.transformations.iter().enumerate() {
            for input in &transformation.inputs {
                relations
                    .by_input
                    .entry(input.subject.clone())
                    .or_default()
                    .push(position);
            }
            for output in &transformation.outputs {
                relations
                    .by_output
                    .entry(output.subject.clone())
                    .or_default()
                    .push(position);
            }
        }
        for positions in relations
            .by_input
            .values_mut()
            .chain(relations.by_output.values_mut())
        {
            positions.dedup();
        }
        relations
    }

    fn add_held(
        &mut self,
        parent: Subject,
        child: Subject,
        from: i128,
        until: i128,
        leaves: Vec<LeafIndex>,
    ) {
        let position = self.held.len();
        self.by_child
            .entry(child.clone())
            .or_default()
            .push(position);
        self.by_parent
            .entry(parent.clone())
            .or_default()
            .push(position);
        self.held.push(Held {
            parent,
            child,
            span: Span { from, until },
            leaves,
        });
    }
}

/// Whether `reporter` acts for the owner of `subject`'s company prefix (an EPC's, or a class's
/// GTIN's); never for a class that is not a GS1 trade item, or a prefix nobody registered.
fn owns(parties: &Parties, reporter: Option<&OrganisationId>, subject: &Subject) -> bool {
    let gtin_owner = |gtin: &str| parties.owner_of(&format!("https://id.gs1.org/01/{gtin}/21/0"));
    let owner = match subject {
        Subject::Epc(id) => parties.owner_of(id),
        Subject::Lot { gtin, .. } => gtin_owner(gtin),
        Subject::Class(id) => gtin_and_lot(id).and_then(|(gtin, _)| gtin_owner(&gtin)),
        Subject::Location(_) => None,
    };
    match (owner, reporter) {
        (Some(owner), Some(reporter)) => parties.acts_for(reporter, owner),
        _ => false,
    }
}

/// Who is in what as the events so far say: each (child, container) pair with since when and
/// the events that say so, each item's one container, and each container's children, so that
/// unpacking one costs what it held.
#[derive(Debug, Default)]
struct Inside {
    of: BTreeMap<(Subject, Subject), (i128, Vec<LeafIndex>)>,
    holders: HashMap<Subject, Subject>,
    contents: HashMap<Subject, BTreeSet<Subject>>,
}

impl Inside {
    /// The container an item (an EPC) is in.
    fn holder(&self, child: &Subject) -> Option<&Subject> {
        self.holders.get(child)
    }

    fn contents_of(&self, parent: &Subject) -> Vec<Subject> {
        self.contents
            .get(parent)
            .map(|children| children.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// `child` in `parent` from `since` (another event saying so when it already is).
    fn put(&mut self, child: Subject, parent: &Subject, since: i128, leaf: LeafIndex) {
        if let Subject::Epc(_) = child {
            self.holders.insert(child.clone(), parent.clone());
        }
        self.contents
            .entry(parent.clone())
            .or_default()
            .insert(child.clone());
        self.of
            .entry((child, parent.clone()))
            .or_insert_with(|| (since, Vec::new()))
            .1
            .push(leaf);
    }

    fn take(&mut self, child: &Subject, parent: &Subject) -> Option<(i128, Vec<LeafIndex>)> {
        let taken = self.of.remove(&(child.clone(), parent.clone()))?;
        if self.holders.get(child) == Some(parent) {
            self.holders.remove(child);
        }
        if let Some(children) = self.contents.get_mut(parent) {
            children.remove(child);
        }
        Some(taken)
    }
}

/// Whether an event relates identifiers to others, so that a trace follows it only with its
/// reporter's authority: a packing or unpacking, a transformation, a commissioning into a lot.
fn relates(event: &Map<String, Value>) -> bool {
    match event_type(event) {
        Some("AggregationEvent" | "TransformationEvent") => true,
        _ => !commissioned_lots(event).is_empty(),
    }
}

/// How a subject was reached by one walk: over which times, and over which times what it
/// contained is reached too (none, for a container reached from its contents).
#[derive(Debug, Clone)]
struct Reach {
    span: Span,
    contents: Option<Span>,
    /// Whether the trace reads its events and walks on from it: not a place (unless it starts
    /// there), a class, or a lot reached backward (its other items are no source of this one;
    /// trace the lot to follow it).
    expands: bool,
    depth: usize,
    via: Option<String>,
}

/// An edge as the walks gather it.
#[derive(Debug, Default)]
struct EdgeFacts {
    span: Option<Span>,
    leaves: BTreeSet<LeafIndex>,
}

/// The walks of a trace over what its events say.
struct Walk {
    /// Per subject: the directions that reached it and how (the first walk's depth and via).
    reached: BTreeMap<Subject, (BTreeSet<Direction>, Reach)>,
    edges: BTreeMap<(EdgeKind, Subject, Subject), EdgeFacts>,
    unfollowed: BTreeMap<LeafIndex, String>,
    reporters: HashMap<LeafIndex, Option<OrganisationId>>,
    /// Events that lead nowhere whoever reported them: error declarations, and the events they
    /// withdrew ([`shaping`]).
    inert: HashSet<LeafIndex>,
}

/// The most edges a trace gathers per subject it may reach.
const EDGES_PER_SUBJECT: usize = 16;

impl Walk {
    /// Walks `request` over `pool`. With `spoken` (while gathering), over every event, a
    /// relating event leading on when its reporter spoke for one of its identifiers or had
    /// authority: what authority is judged on is read whoever may see it. Without (the trace
    /// itself), over the events it may show, only those with authority leading on.
    fn run<E>(
        pool: &BTreeMap<LeafIndex, SourceEvent<bool>>,
        (marks, inert): (&BTreeMap<LeafIndex, Authority>, &HashSet<LeafIndex>),
        spoken: Option<&HashSet<LeafIndex>>,
        request: &TraceRequest,
        parties: &Parties,
    ) -> Result<Self, TraceError<E>> {
        // A relating event leads on unless its reporter lacked authority for it; what it relates
        // of quantities alone (marked an observation) only its classes' owner relates
        // (`Relations::of`).
        let counts = |leaf: LeafIndex| marks.get(&leaf).is_none_or(Authority::counts);
        let leads = |leaf: LeafIndex| counts(leaf) || spoken.is_some_and(|s| s.contains(&leaf));
        let relations = Relations::of(
            pool,
            &Rules {
                leads: &leads,
                shown_only: spoken.is_none(),
                parties,
                inert,
            },
        );
        let mut walk = Walk {
            reached: BTreeMap::new(),
            edges: BTreeMap::new(),
            unfollowed: BTreeMap::new(),
            reporters: pool
                .iter()
                .map(|(leaf, event)| (*leaf, event.reporter.clone()))
                .collect(),
            inert: inert.clone(),
        };
        for &direction in request.direction.walks() {
            let reached = walk.one(&relations, pool, marks, request, direction, parties)?;
            for (subject, reach) in reached {
                walk.reached
                    .entry(subject)
                    .and_modify(|(directions, first)| {
                        directions.insert(direction);
                        if reach.depth < first.depth {
                            first.depth = reach.depth;
                            first.via.clone_from(&reach.via);
                        }
                        first.span = first.span.hull(reach.span);
                        first.expands |= reach.expands;
                    })
                    .or_insert_with(|| (BTreeSet::from([direction]), reach));
            }
        }
        if walk.reached.len() > request.max_subjects {
            return Err(TraceError::TooManySubjects {
                limit: request.max_subjects,
            });
        }
        // The relating events without authority, or with quantities of another's class, that
        // name something reached.
        for (leaf, event) in pool {
            if !event.payload || !relates(&event.event) {
                continue;
            }
            let reason = match marks.get(leaf) {
                Some(Authority::Unauthorised { reason }) => Some(reason.clone()),
                _ => relations.foreign.get(leaf).cloned(),
            };
            let Some(reason) = reason else {
                continue;
            };
            let named = relations.named.get(leaf).map_or(&[][..], Vec::as_slice);
            if named
                .iter()
                .any(|subject| walk.reached.contains_key(subject))
            {
                walk.unfollowed.entry(*leaf).or_insert(reason);
            }
        }
        Ok(walk)
    }

    /// One walk from the start, in one direction.
    fn one<E>(
        &mut self,
        relations: &Relations,
        pool: &BTreeMap<LeafIndex, SourceEvent<bool>>,
        marks: &BTreeMap<LeafIndex, Authority>,
        request: &TraceRequest,
        direction: Direction,
        parties: &Parties,
    ) -> Result<BTreeMap<Subject, Reach>, TraceError<E>> {
        let too_many = || TraceError::TooManySubjects {
            limit: request.max_subjects,
        };
        let mut reached: BTreeMap<Subject, Reach> = BTreeMap::new();
        let mut queue = VecDeque::new();
        reached.insert(
            request.start.clone(),
            Reach {
                span: request.span,
                contents: Some(request.span),
                expands: true,
                depth: 0,
                via: None,
            },
        );
        queue.push_back(request.start.clone());
        // A subject is expanded again only when reached over more time or with more of its
        // contents: a bounded number of times, since spans come from the events' times.
        let mut expansions = 0usize;
        let most_expansions = request.max_subjects.saturating_mul(8).max(64);
        let most_edges = request.max_subjects.saturating_mul(EDGES_PER_SUBJECT);
        while let Some(subject) = queue.pop_front() {
            expansions += 1;
            if expansions > most_expansions {
                return Err(too_many());
            }
            let Some(reach) = reached.get(&subject).cloned() else {
                continue;
            };
            let mut steps: Vec<Step> = Vec::new();
            if let Subject::Location(_) = subject {
                if reach.depth == 0 {
                    self.steps_from_place(
                        relations, pool, marks, parties, &subject, &reach, direction, &mut steps,
                    );
                }
            } else {
                relations_of(relations, &subject, &reach, direction, &mut steps);
            }
            for step in steps {
                let facts = self
                    .edges
                    .entry((step.edge, step.from.clone(), step.to.clone()))
                    .or_default();
                facts.span = Some(facts.span.map_or(step.when, |span| span.hull(step.when)));
                facts.leaves.extend(step.leaves.iter().copied());
                if self.edges.len() > most_edges {
                    return Err(too_many());
                }
                let next = step.next;
                // A lot reached backward is shown, not read.
                let terminal = matches!(next, Subject::Location(_) | Subject::Class(_))
                    || (direction == Direction::Backward && step.edge == EdgeKind::LotOf);
                let expands = !terminal;
                match reached.get_mut(&next) {
                    None => {
                        reached.insert(
                            next.clone(),
                            Reach {
                                span: step.span,
                                contents: step.contents.then_some(step.span),
                                expands,
                                depth: reach.depth + 1,
                                via: Some(format!("{} {}", step.edge.name(), subject.id())),
                            },
                        );
                        if reached.len() > request.max_subjects {
                            return Err(too_many());
                        }
                        if expands {
                            queue.push_back(next);
                        }
                    }
                    Some(known) => {
                        let contents = match (known.contents, step.contents) {
                            (Some(had), true) => Some(had.hull(step.span)),
                            (None, true) => Some(step.span),
                            (had, false) => had,
                        };
                        let grows = !known.span.covers(step.span)
                            || contents != known.contents
                            || (expands && !known.expands);
                        if grows {
                            known.span = known.span.hull(step.span);
                            known.contents = contents;
                            known.expands |= expands;
                            if known.expands {
                                queue.push_back(next);
                            }
                        }
                    }
                }
            }
        }
        Ok(reached)
    }

    /// The steps from a place that starts the trace, to what the events that happened there
    /// inside the span name: all of it when the event's reporter owns the place (acts for the
    /// owner of its company prefix; for a place whose prefix nobody registered, any registered
    /// party), the items and containers alone when it had authority for a change it made there.
    #[allow(clippy::too_many_arguments)]
    fn steps_from_place(
        &mut self,
        relations: &Relations,
        pool: &BTreeMap<LeafIndex, SourceEvent<bool>>,
        marks: &BTreeMap<LeafIndex, Authority>,
        parties: &Parties,
        place: &Subject,
        reach: &Reach,
        direction: Direction,
        steps: &mut Vec<Step>,
    ) {
        for leaf in relations.at_place.get(place).into_iter().flatten() {
            let (Some(event), Some(&time)) = (pool.get(leaf), relations.times.get(leaf)) else {
                continue;
            };
            if self.inert.contains(leaf) {
                continue;
            }
            if !reach.span.contains(time) {
                continue;
            }
            // The owner of the place's company prefix, under whichever split it was written.
            let owner = place_as_written(&event.event, place)
                .and_then(|id| parties.owner_of(id))
                .or_else(|| parties.owner_of(&place.id()));
            let reporter = event.reporter.as_ref();
            let owns_place = match (owner, reporter) {
                (Some(owner), Some(reporter)) => parties.acts_for(reporter, owner),
                (None, Some(_)) => true,
                (_, None) => false,
            };
            let authorised = matches!(marks.get(leaf), Some(Authority::Authorised));
            if !owns_place && !authorised {
                if event.payload {
                    self.unfollowed.entry(*leaf).or_insert_with(|| {
                        format!(
                            "reported at {place} by a party that neither owns the place nor had \
                             authority for what the event did"
                        )
                    });
                }
                continue;
            }
            for subject in relations.named.get(leaf).into_iter().flatten() {
                if !owns_place && !matches!(subject, Subject::Epc(_)) {
                    continue;
                }
                steps.push(Step {
                    next: subject.clone(),
                    span: Span::onward(direction, time),
                    contents: true,
                    edge: EdgeKind::SeenAt,
                    from: subject.clone(),
                    to: place.clone(),
                    when: Span::at(time),
                    leaves: vec![*leaf],
                });
            }
        }
    }

    /// The subjects of the walk that nobody has read yet and that a trace expands.
    fn to_read(&self, asked: &BTreeSet<Subject>, start: &Subject) -> Vec<Subject> {
        self.reached
            .iter()
            .filter(|(subject, (_, reach))| {
                reach.expands
                    && !asked.contains(subject)
                    && (*subject == start || !matches!(subject, Subject::Location(_)))
            })
            .map(|(subject, _)| subject.clone())
            .collect()
    }

    fn into_trace(self, request: &TraceRequest, events_read: usize) -> Trace {
        let containers: HashSet<&Subject> = self
            .edges
            .keys()
            .filter(|(kind, _, _)| *kind == EdgeKind::Contains)
            .map(|(_, from, _)| from)
            .collect();
        let mut nodes: Vec<TraceNode> = self
            .reached
            .iter()
            .map(|(subject, (directions, reach))| TraceNode {
                id: subject.id(),
                kind: subject.kind(containers.contains(subject)),
                depth: reach.depth,
                directions: directions.iter().copied().collect(),
                from: time_text(reach.span.from),
                until: time_text(reach.span.until),
                via: reach.via.clone(),
            })
            .collect();
        nodes.sort_by(|a, b| (a.depth, a.kind, &a.id).cmp(&(b.depth, b.kind, &b.id)));
        let edges = self
            .edges
            .iter()
            .map(|((kind, from, to), facts)| {
                let span = facts.span.unwrap_or(Span::ALL);
                let mut reported_by: Vec<String> = facts
                    .leaves
                    .iter()
                    .filter_map(|leaf| self.reporters.get(leaf).cloned().flatten())
                    .map(|organisation| organisation.to_string())
                    .collect();
                reported_by.sort_unstable();
                reported_by.dedup();
                TraceEdge {
                    kind: *kind,
                    from: from.id(),
                    to: to.id(),
                    since: time_text(span.from),
                    until: time_text(span.until),
                    evidence: facts.leaves.iter().map(|leaf| leaf.get()).collect(),
                    reported_by,
                }
            })
            .collect();
        Trace {
            start: request.start.id(),
            direction: request.direction,
            nodes,
            edges,
            unfollowed: self
                .unfollowed
                .into_iter()
                .map(|(leaf, reason)| Unfollowed {
                    leaf_index: leaf.get(),
                    reason,
                })
                .collect(),
            events_read,
        }
    }
}

/// One step of a walk: the subject it reaches (over `span`, with its contents or not), and the
/// edge it goes by (`from` -> `to`, holding over `when`, resting on `leaves`).
#[derive(Debug)]
struct Step {
    next: Subject,
    span: Span,
    contents: bool,
    edge: EdgeKind,
    from: Subject,
    to: Subject,
    when: Span,
    leaves: Vec<LeafIndex>,
}

/// The steps from an item, a container or a lot.
fn relations_of(
    relations: &Relations,
    subject: &Subject,
    reach: &Reach,
    direction: Direction,
    steps: &mut Vec<Step>,
) {
    let step = |next: &Subject,
                span: Span,
                contents: bool,
                edge,
                ends: (&Subject, &Subject),
                when,
                leaves: Vec<LeafIndex>| Step {
        next: next.clone(),
        span,
        contents,
        edge,
        from: ends.0.clone(),
        to: ends.1.clone(),
        when,
        leaves,
    };
    // The containers it was in, while what is traced was in it.
    for &at in relations.by_child.get(subject).into_iter().flatten() {
        let held = &relations.held[at];
        if let Some(span) = reach.span.meet(held.span) {
            steps.push(step(
                &held.parent,
                span,
                false,
                EdgeKind::Contains,
                (&held.parent, subject),
                held.span,
                held.leaves.clone(),
            ));
        }
    }
    // What it held, over the times the walk takes its contents: each from then on (forward) or
    // up to then (backward).
    if let Some(contents) = reach.contents {
        for &at in relations.by_parent.get(subject).into_iter().flatten() {
            let held = &relations.held[at];
            if let Some(span) = contents.meet(held.span) {
                let onward = match direction {
                    Direction::Backward => Span::onward(direction, span.until),
                    _ => Span::onward(direction, span.from),
                };
                steps.push(step(
                    &held.child,
                    onward,
                    true,
                    EdgeKind::Contains,
                    (subject, &held.child),
                    held.span,
                    held.leaves.clone(),
                ));
            }
        }
    }
    // Where it was reported, and where it was sent.
    for leaf in relations.naming.get(subject).into_iter().flatten() {
        let Some(&time) = relations.times.get(leaf) else {
            continue;
        };
        if !reach.span.contains(time) {
            continue;
        }
        for (place, how) in relations.places.get(leaf).into_iter().flatten() {
            steps.push(step(
                place,
                Span::at(time),
                false,
                *how,
                (subject, place),
                Span::at(time),
                vec![*leaf],
            ));
        }
    }
    // Transformations: forward from an input to the outputs, backward from an output to the
    // inputs, each side at its own event's time.
    let mine = match direction {
        Direction::Backward => &relations.by_output,
        _ => &relations.by_input,
    };
    for &at in mine.get(subject).into_iter().flatten() {
        let transformation = &relations.transformations[at];
        let (near, far) = match direction {
            Direction::Backward => (&transformation.outputs, &transformation.inputs),
            _ => (&transformation.inputs, &transformation.outputs),
        };
        for this in near.iter().filter(|side| side.subject == *subject) {
            if !reach.span.contains(this.time) {
                continue;
            }
            for other in far {
                let ends = match direction {
                    Direction::Backward => (&other.subject, subject),
                    _ => (subject, &other.subject),
                };
                let when = Span::at(this.time).hull(Span::at(other.time));
                steps.push(step(
                    &other.subject,
                    Span::onward(direction, other.time),
                    true,
                    EdgeKind::TransformedInto,
                    ends,
                    when,
                    vec![this.leaf, other.leaf],
                ));
            }
        }
    }
    // Lots: forward to the lot's items, backward to the item's lot (up to what is traced).
    match direction {
        Direction::Backward => {
            for (lot, leaf, time) in relations.lots.get(subject).into_iter().flatten() {
                let span = Span::onward(direction, reach.span.until);
                steps.push(step(
                    lot,
                    span,
                    false,
                    EdgeKind::LotOf,
                    (lot, subject),
                    Span::at(*time),
                    vec![*leaf],
                ));
            }
        }
        _ => {
            for (item, leaf, time) in relations.members.get(subject).into_iter().flatten() {
                steps.push(step(
                    item,
                    reach.span,
                    true,
                    EdgeKind::LotOf,
                    (subject, item),
                    Span::at(*time),
                    vec![*leaf],
                ));
            }
        }
    }
}

/// An instant as RFC 3339; `None` for the extremes (open ends).
fn time_text(nanos: i128) -> Option<String> {
    if nanos == i128::MIN || nanos == i128::MAX {
        return None;
    }
    Timestamp::from_unix_nanos(nanos).map(|time| time.to_string())
}

/// A trace as a flat list (CSV, RFC 4180, CRLF): one line per node, with the edge that first
/// reached it and the leaf indexes of the events of every edge that touches it.
pub fn trace_csv(trace: &Trace) -> String {
    let mut evidence: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    for edge in &trace.edges {
        for end in [&edge.from, &edge.to] {
            evidence
                .entry(end.as_str())
                .or_default()
                .extend(edge.evidence.iter().copied());
        }
    }
    let mut out = String::new();
    crate::bundle::csv_line(
        &mut out,
        [
            "kind",
            "id",
            "depth",
            "directions",
            "from",
            "until",
            "via",
            "evidence",
        ]
        .map(|header| crate::bundle::csv_cell(header, false)),
    );
    for node in &trace.nodes {
        let directions: Vec<&str> = node
            .directions
            .iter()
            .map(|direction| match direction {
                Direction::Forward => "forward",
                Direction::Backward => "backward",
                Direction::Both => "both",
            })
            .collect();
        let leaves: Vec<String> = evidence
            .get(node.id.as_str())
            .into_iter()
            .flatten()
            .map(u64::to_string)
            .collect();
        crate::bundle::csv_line(
            &mut out,
            [
                crate::bundle::csv_cell(node.kind.name(), false),
                crate::bundle::csv_cell(&node.id, true),
                node.depth.to_string(),
                directions.join(" "),
                node.from.clone().unwrap_or_default(),
                node.until.clone().unwrap_or_default(),
                crate::bundle::csv_cell(node.via.as_deref().unwrap_or(""), true),
                leaves.join(" "),
            ],
        );
    }
    out
}

/// Events held in memory, as a trace reads them.
#[derive(Debug, Clone, Default)]
pub struct InMemory {
    events: Vec<SourceEvent<bool>>,
}

impl InMemory {
    /// Events a trace may all show.
    pub fn new(events: impl IntoIterator<Item = SourceEvent<()>>) -> Self {
        Self {
            events: events
                .into_iter()
                .map(|event| event.carrying(true))
                .collect(),
        }
    }

    /// The same events, a trace showing only those at the leaves `shown` accepts.
    pub fn showing(mut self, shown: impl Fn(LeafIndex) -> bool) -> Self {
        for event in &mut self.events {
            event.payload = shown(event.leaf);
        }
        self
    }

    /// [`trace`] over these events, with no runtime (the answers are always ready).
    pub fn trace(
        &self,
        request: &TraceRequest,
        parties: &Parties,
    ) -> Result<Trace, TraceError<std::convert::Infallible>> {
        ready(trace(self, request, parties))
    }

    /// [`trace`] over these events, with what it asked about and the events it read
    /// ([`Noting`]).
    pub fn trace_noting(&self, request: &TraceRequest, parties: &Parties) -> Noted {
        let noting = Noting::new(self);
        let trace = ready(trace(&noting, request, parties));
        Noted {
            trace,
            asked: noting.asked(),
            read: noting.given(),
        }
    }
}

/// A trace over events in memory, with what it asked about and read.
#[derive(Debug)]
pub struct Noted {
    pub trace: Result<Trace, TraceError<std::convert::Infallible>>,
    /// Each subject asked about, with the span it was asked over.
    pub asked: Vec<(Subject, Span)>,
    /// The leaves of the events read.
    pub read: BTreeSet<LeafIndex>,
}

/// The output of a future over the memory source, which never waits.
fn ready<F: Future>(future: F) -> F::Output {
    let future = std::pin::pin!(future);
    match future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => unreachable!("the memory source answers at once"),
    }
}

impl TraceSource for InMemory {
    type Error = std::convert::Infallible;

    async fn events(
        &self,
        subjects: &[Subject],
        span: Span,
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
    ) -> Result<Vec<SourceEvent<bool>>, Self::Error> {
        // Each event's subjects once, looked up among those asked: a round costs the events'
        // size, whatever the number of subjects ([`Subject::named_by`], in one pass).
        let asked: HashSet<&Subject> = subjects.iter().collect();
        Ok(self
            .events
            .iter()
            .filter(|event| !known(event.leaf))
            .filter(|event| {
                subjects_of(&event.event)
                    .iter()
                    .any(|subject| asked.contains(subject))
                    || (span.contains(event.time)
                        && places(&event.event).iter().any(|(place, edge)| {
                            *edge == EdgeKind::SeenAt && asked.contains(place)
                        }))
            })
            .cloned()
            .collect())
    }
}

/// A source that notes what a trace asks of another: each subject, with the span it was asked
/// over, and the leaf of every event given. What a trace export rests on: the index keys of what
/// was asked ([`Subject::index_keys`]) and the events read.
#[derive(Debug)]
pub struct Noting<'a, S> {
    source: &'a S,
    asked: std::cell::RefCell<Vec<(Subject, Span)>>,
    given: std::cell::RefCell<BTreeSet<LeafIndex>>,
}

impl<'a, S> Noting<'a, S> {
    /// Notes what is asked of `source`.
    pub fn new(source: &'a S) -> Self {
        Self {
            source,
            asked: std::cell::RefCell::new(Vec::new()),
            given: std::cell::RefCell::new(BTreeSet::new()),
        }
    }

    /// Each subject asked about, with the span it was asked over, in the order asked.
    pub fn asked(&self) -> Vec<(Subject, Span)> {
        self.asked.borrow().clone()
    }

    /// The leaf of every event given.
    pub fn given(&self) -> BTreeSet<LeafIndex> {
        self.given.borrow().clone()
    }
}

impl<S: TraceSource> TraceSource for Noting<'_, S> {
    type Error = S::Error;

    async fn events(
        &self,
        subjects: &[Subject],
        span: Span,
        known: &(dyn Fn(LeafIndex) -> bool + Sync),
    ) -> Result<Vec<SourceEvent<bool>>, Self::Error> {
        let events = self.source.events(subjects, span, known).await?;
        self.asked
            .borrow_mut()
            .extend(subjects.iter().map(|subject| (subject.clone(), span)));
        self.given
            .borrow_mut()
            .extend(events.iter().map(|event| event.leaf));
        Ok(events)
    }
}

/// The index keys of everything a trace asked about ([`Noting::asked`]), each once, with the
/// subject it is of, in the order asked; or the first subject no keys cover.
pub fn index_keys_of(asked: &[(Subject, Span)]) -> Result<Vec<(IndexKey, String)>, Subject> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for (subject, span) in asked {
        let Some(of) = subject.index_keys(*span) else {
            return Err(subject.clone());
        };
        keys.extend(
            of.into_iter()
                .filter(|key| seen.insert(*key))
                .map(|key| (key, subject.id())),
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests;
